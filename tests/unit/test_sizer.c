/*
 * test_sizer.c - bulk writes sized by the time they take: the next size is
 * the measured rate times the budget, moving by at most a factor of two
 * per write, within bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/sizer.h"

static void test_converges_to_budget(void **state)
{
    (void)state;
    dom_sizer z;
    dom_sizer_init(&z, 0.020, 64, 1, 100000);
    assert_int_equal(z.n, 64);
    /* 10,000 units a second: 200 units take the 20 ms budget */
    for (int i = 0; i < 10; i++)
        dom_sizer_done(&z, z.n, (double)z.n / 10000.0);
    assert_int_equal(z.n, 200);
    /* the first steps doubled, no more */
    dom_sizer_init(&z, 0.020, 64, 1, 100000);
    dom_sizer_done(&z, 64, 64 / 10000.0);
    assert_int_equal(z.n, 128);
}

static void test_halves_at_most(void **state)
{
    (void)state;
    dom_sizer z;
    dom_sizer_init(&z, 0.020, 1000, 1, 100000);
    /* one write ran a hundred times over budget: the size halves */
    dom_sizer_done(&z, 1000, 2.0);
    assert_int_equal(z.n, 500);
}

static void test_bounds(void **state)
{
    (void)state;
    dom_sizer z;
    dom_sizer_init(&z, 0.020, 5, 10, 300);
    assert_int_equal(z.n, 10); /* the start is clamped too */
    for (int i = 0; i < 20; i++)
        dom_sizer_done(&z, z.n, 0.0001);
    assert_int_equal(z.n, 300);
    for (int i = 0; i < 20; i++)
        dom_sizer_done(&z, z.n, 10.0);
    assert_int_equal(z.n, 10);
}

static void test_no_budget_or_nothing_done(void **state)
{
    (void)state;
    dom_sizer z;
    dom_sizer_init(&z, 0, 64, 1, 1000);
    dom_sizer_done(&z, 64, 1.0);
    assert_int_equal(z.n, 64);
    dom_sizer_init(&z, 0.020, 64, 1, 1000);
    dom_sizer_done(&z, 0, 1.0);
    assert_int_equal(z.n, 64);
    /* a write measured as taking no time counts as half a millisecond */
    dom_sizer_done(&z, 1, 0.0);
    assert_int_equal(z.n, 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_converges_to_budget),
        cmocka_unit_test(test_halves_at_most),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_no_budget_or_nothing_done),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
