/*
 * test_buf.c - text for PostgreSQL: COPY fields and array literals, whose
 * escaping decides whether a key with a quote or a backslash reaches the
 * server as itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/util.h"

static void test_text_array(void **state)
{
    (void)state;
    dom_buf b = DOM_BUF_INIT;
    const char *v[] = {"plain", "a\"quote", "back\\slash", "", "{,}", "\\\""};
    dom_buf_put_text_array(&b, v, 6);
    assert_string_equal(dom_buf_cstr(&b),
                        "{\"plain\",\"a\\\"quote\",\"back\\\\slash\",\"\",\"{,}\",\"\\\\\\\"\"}");
    dom_buf_clear(&b);
    dom_buf_put_text_array(&b, v, 0);
    assert_string_equal(dom_buf_cstr(&b), "{}");
    dom_buf_free(&b);
}

static void test_array_elem(void **state)
{
    (void)state;
    dom_buf b = DOM_BUF_INIT;
    dom_buf_put_array_elem(&b, NULL, 0);
    dom_buf_putc(&b, ',');
    /* a length, not a terminator: the bytes after it are not part of it */
    dom_buf_put_array_elem(&b, "ab\"cd", 3);
    assert_string_equal(dom_buf_cstr(&b), "NULL,\"ab\\\"\"");
    dom_buf_free(&b);
}

static void test_int_array(void **state)
{
    (void)state;
    dom_buf b = DOM_BUF_INIT;
    const int64_t v[] = {7, -1, INT64_MAX};
    dom_buf_put_int_array(&b, v, 3);
    assert_string_equal(dom_buf_cstr(&b), "{7,-1,9223372036854775807}");
    dom_buf_clear(&b);
    /* no values: zeros */
    dom_buf_put_int_array(&b, NULL, 2);
    assert_string_equal(dom_buf_cstr(&b), "{0,0}");
    dom_buf_free(&b);
}

static void test_copy_field(void **state)
{
    (void)state;
    dom_buf b = DOM_BUF_INIT;
    dom_buf_put_copy(&b, "a\tb\nc\\d\re", 9);
    assert_string_equal(dom_buf_cstr(&b), "a\\tb\\nc\\\\d\\re");
    dom_buf_clear(&b);
    dom_buf_put_copy(&b, NULL, 0);
    assert_string_equal(dom_buf_cstr(&b), "\\N");
    dom_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_array),
        cmocka_unit_test(test_array_elem),
        cmocka_unit_test(test_int_array),
        cmocka_unit_test(test_copy_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
