/*
 * test_verify.c - the value rules behind verify and the content hashes
 * (core/verify.h): SQLite's order of values, equality across integer and
 * real, primary keys as JSON and back (blobs, quotes, bytes that are not
 * UTF-8), and the canonical row encoding of docs/verification.md, each
 * expected encoding written out by hand from the table there.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/verify.h"
#include "util/util.h"

static dom_value v_null(void)
{
    dom_value v = {DOM_V_NULL, 0, 0, NULL, 0};
    return v;
}
static dom_value v_int(int64_t i)
{
    dom_value v = {DOM_V_INT, i, 0, NULL, 0};
    return v;
}
static dom_value v_real(double r)
{
    dom_value v = {DOM_V_REAL, 0, r, NULL, 0};
    return v;
}
static dom_value v_bytes(dom_vtype t, const char *p, size_t n)
{
    dom_value v = {t, 0, 0, p, n};
    return v;
}
static dom_value v_text(const char *s)
{
    return v_bytes(DOM_V_TEXT, s, strlen(s));
}

static void test_order(void **state)
{
    (void)state;
    /* NULL < numbers < text < blob; numbers by value across types; text
     * and blobs by bytes, a prefix first */
    dom_value seq[] = {v_null(),
                       v_int(-5),
                       v_real(-4.5),
                       v_int(0),
                       v_real(0.25),
                       v_int(1),
                       v_real(1e300),
                       v_text(""),
                       v_text("A"),
                       v_text("a"),
                       v_text("ab"),
                       v_text("\xc3\xa9"),
                       v_bytes(DOM_V_BLOB, "", 0),
                       v_bytes(DOM_V_BLOB, "\x00", 1),
                       v_bytes(DOM_V_BLOB, "\x01", 1)};
    size_t n = sizeof(seq) / sizeof(seq[0]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int c = dom_value_cmp(&seq[i], &seq[j]);
            if (i < j)
                assert_true(c < 0);
            else if (i > j)
                assert_true(c > 0);
            else
                assert_int_equal(c, 0);
        }
}

static void test_equality(void **state)
{
    (void)state;
    dom_value i3 = v_int(3), r3 = v_real(3.0), r35 = v_real(3.5), t3 = v_text("3");
    dom_value n1 = v_null(), n2 = v_null();
    assert_true(dom_value_eq(&i3, &r3));
    assert_true(dom_value_eq(&r3, &i3));
    assert_false(dom_value_eq(&i3, &r35));
    assert_false(dom_value_eq(&i3, &t3)); /* no affinity games */
    assert_true(dom_value_eq(&n1, &n2));
    assert_false(dom_value_eq(&n1, &i3));
    dom_value ta = v_text("ab"), ba = v_bytes(DOM_V_BLOB, "ab", 2);
    assert_false(dom_value_eq(&ta, &ba)); /* the same bytes as text and blob differ */
}

static void encoded(const dom_value *row, size_t n, const char *want, size_t want_len)
{
    dom_buf b = DOM_BUF_INIT;
    dom_row_encode(&b, row, n);
    assert_int_equal(b.len, want_len);
    assert_memory_equal(b.ptr, want, want_len);
    dom_buf_free(&b);
}

static void test_encoding(void **state)
{
    (void)state;
    dom_value row[] = {v_null(),
                       v_int(-42),
                       v_real(7.0),  /* integral real: as an integer */
                       v_real(0.1),  /* other real: %.17g */
                       v_real(1e16), /* integral but 9e15 or more: a real */
                       v_text("h\xc3\xa9;"),
                       v_bytes(DOM_V_BLOB, "\x00\n", 2)};
    static const char want[] = "N;I-42;I7;R0.10000000000000001;R10000000000000000;"
                               "T4:h\xc3\xa9;B2:\x00\n\n";
    encoded(row, 7, want, sizeof(want) - 1);
    /* an empty row is a newline; an empty text keeps its length */
    encoded(NULL, 0, "\n", 1);
    dom_value e[] = {v_text(""), v_bytes(DOM_V_BLOB, "", 0)};
    encoded(e, 2, "T0:B0:\n", 7);
    /* rows that differ only in where a text ends encode differently */
    dom_value r1[] = {v_text("a"), v_text("bc")}, r2[] = {v_text("ab"), v_text("c")};
    dom_buf b1 = DOM_BUF_INIT, b2 = DOM_BUF_INIT;
    dom_row_encode(&b1, r1, 2);
    dom_row_encode(&b2, r2, 2);
    assert_false(b1.len == b2.len && memcmp(b1.ptr, b2.ptr, b1.len) == 0);
    dom_buf_free(&b1);
    dom_buf_free(&b2);
}

static void test_pk_json(void **state)
{
    (void)state;
    dom_table_info info = {0};
    info.ncols = 4;
    dom_move_table t = {0};
    t.info = &info;
    t.pk[0] = 2;
    t.pk[1] = 0;
    t.pk[2] = 3;
    t.npk = 3;
    dom_value row[] = {v_text("quote\" and \\ and \xe2\x82\xac"), v_int(99), v_int(-7),
                       v_bytes(DOM_V_BLOB, "\x00\xff", 2)};
    char *json = dom_pk_json(&t, row);
    assert_non_null(json);
    /* key order, not column order; blobs as {"$b": HEX} */
    assert_string_equal(json, "[-7,\"quote\\\" and \\\\ and \xe2\x82\xac\",{\"$b\":\"00ff\"}]");
    dom_value back[3];
    dom_buf store = DOM_BUF_INIT;
    assert_int_equal(dom_pk_parse(json, back, 3, &store), 3);
    assert_true(dom_value_eq(&back[0], &row[2]));
    assert_true(dom_value_eq(&back[1], &row[0]));
    assert_true(dom_value_eq(&back[2], &row[3]));
    assert_int_equal(back[2].type, DOM_V_BLOB);
    /* the wrong number of values, or not JSON, is an error */
    assert_true(dom_pk_parse(json, back, 2, &store) < 0);
    assert_true(dom_pk_parse("[1,", back, 1, &store) < 0);
    dom_buf_free(&store);
    dom_free(json);
    /* no primary key: every column */
    t.npk = 0;
    json = dom_pk_json(&t, row);
    assert_non_null(json);
    assert_non_null(strstr(json, "99"));
    dom_free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_equality),
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_pk_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
