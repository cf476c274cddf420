/*
 * test_pg_copy.c - the PostgreSQL COPY codec (store/pg_copy.h) on its own:
 * COPY's escapes as PostgreSQL documents them (COPY, "Text Format"),
 * every class of value decoded into its canonical form, values encoded
 * for parameters and COPY fields, timestamps made canonical, lines split
 * into fields, and values surviving encode, escape, unescape and decode.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/pg_copy.h"
#include "util/util.h"

static void unescaped(const char *in, const char *want, size_t want_len)
{
    dom_buf out = DOM_BUF_INIT;
    dom_pgcopy_unescape(in, strlen(in), &out);
    if (out.len != want_len || memcmp(out.ptr, want, want_len) != 0)
        fail_msg("unescape of \"%s\": %zu bytes, want %zu", in, out.len, want_len);
    dom_buf_free(&out);
}

static void test_unescape(void **state)
{
    (void)state;
    unescaped("plain", "plain", 5);
    unescaped("a\\tb\\nc\\\\d", "a\tb\nc\\d", 7);
    unescaped("\\b\\f\\r\\v", "\b\f\r\v", 4);
    unescaped("\\101\\x42\\x4", "AB\x04", 3); /* octal, hex of two and one digit */
    unescaped("\\7z", "\x07z", 2);
    unescaped("\\xg", "xg", 2);     /* \x without a hex digit is x */
    unescaped("\\q", "q", 1);       /* any other character stands for itself */
    unescaped("end\\", "end\\", 4); /* a lone backslash at the end stays */
    unescaped("", "", 0);
}

static void decoded(pg_class k, const char *text, dom_value *v, dom_buf *store)
{
    size_t off;
    dom_pgcopy_decode(k, text, strlen(text), v, store, &off);
    if (v->type == DOM_V_TEXT || v->type == DOM_V_BLOB)
        v->p = store->ptr + off;
}

static void test_decode(void **state)
{
    (void)state;
    dom_buf store = DOM_BUF_INIT;
    dom_value v;
    decoded(PG_C_INT, "-9223372036854775808", &v, &store);
    assert_int_equal(v.type, DOM_V_INT);
    assert_true(v.i == INT64_MIN);
    decoded(PG_C_BOOL, "t", &v, &store);
    assert_int_equal(v.type, DOM_V_INT);
    assert_int_equal(v.i, 1);
    decoded(PG_C_BOOL, "f", &v, &store);
    assert_int_equal(v.i, 0);
    decoded(PG_C_REAL, "0.1", &v, &store);
    assert_int_equal(v.type, DOM_V_REAL);
    assert_true(v.r == 0.1);
    decoded(PG_C_REAL, "-Infinity", &v, &store);
    assert_true(isinf(v.r) && v.r < 0);
    decoded(PG_C_BYTEA, "\\x00ff0A", &v, &store);
    assert_int_equal(v.type, DOM_V_BLOB);
    assert_int_equal(v.n, 3);
    assert_memory_equal(v.p, "\x00\xff\x0a", 3);
    decoded(PG_C_TEXT, "h\xc3\xa9", &v, &store);
    assert_int_equal(v.type, DOM_V_TEXT);
    assert_int_equal(v.n, 3);
    decoded(PG_C_TIME, "2026-11-30T08:15:00Z", &v, &store);
    assert_int_equal(v.type, DOM_V_TEXT); /* timestamps travel as text */
    dom_buf_free(&store);
}

static const char *enc(const dom_value *v, pg_class k, dom_buf *tmp)
{
    size_t len;
    return dom_pgcopy_encode(v, k, tmp, &len);
}

static void test_encode(void **state)
{
    (void)state;
    dom_buf tmp = DOM_BUF_INIT;
    dom_value null = {DOM_V_NULL, 0, 0, NULL, 0};
    assert_null(enc(&null, PG_C_TEXT, &tmp));
    dom_value one = {DOM_V_INT, 1, 0, NULL, 0};
    assert_string_equal(enc(&one, PG_C_BOOL, &tmp), "t");
    assert_string_equal(enc(&one, PG_C_INT, &tmp), "1");
    dom_value r = {DOM_V_REAL, 0, 3.0, NULL, 0};
    assert_string_equal(enc(&r, PG_C_INT, &tmp), "3"); /* an integral real into an integer */
    assert_string_equal(enc(&r, PG_C_REAL, &tmp), "3");
    r.r = 0.1;
    assert_string_equal(enc(&r, PG_C_REAL, &tmp), "0.10000000000000001");
    r.r = NAN;
    assert_string_equal(enc(&r, PG_C_REAL, &tmp), "NaN");
    r.r = -INFINITY;
    assert_string_equal(enc(&r, PG_C_REAL, &tmp), "-Infinity");
    dom_value b = {DOM_V_BLOB, 0, 0, "\x00\xab", 2};
    assert_string_equal(enc(&b, PG_C_BYTEA, &tmp), "\\x00ab");
    dom_buf_free(&tmp);
}

static void test_canonical_time(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"2024-05-01 10:00:00+00", "2024-05-01T10:00:00Z"},
        {"2024-05-01 10:00:00.5+00", "2024-05-01T10:00:00.5Z"},
        {"infinity", "infinity"},                                   /* left as it is */
        {"2024-05-01 10:00:00+05:30", "2024-05-01 10:00:00+05:30"}, /* not UTC: as it is */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dom_buf f = DOM_BUF_INIT;
        dom_buf_puts(&f, cases[i][0]);
        dom_pgcopy_canonical_time(&f);
        assert_string_equal(dom_buf_cstr(&f), cases[i][1]);
        dom_buf_free(&f);
    }
}

static void test_decode_line(void **state)
{
    (void)state;
    pg_class cls[5] = {PG_C_INT, PG_C_TEXT, PG_C_TEXT, PG_C_BYTEA, PG_C_TIME};
    unsigned char fix[5] = {0, 0, 0, 0, 1};
    dom_value vals[5];
    size_t offs[5];
    dom_buf field = DOM_BUF_INIT, store = DOM_BUF_INIT;
    const char line[] = "42\ta\\tb\\\\\t\\N\t\\\\x00ff\t2026-01-02 03:04:05.25+00\n";
    dom_pgcopy_decode_line(line, sizeof(line) - 1, 5, cls, fix, vals, offs, &field, &store);
    assert_false(field.oom || store.oom);
    for (int i = 0; i < 5; i++)
        if (vals[i].type == DOM_V_TEXT || vals[i].type == DOM_V_BLOB)
            vals[i].p = store.ptr + offs[i];
    assert_int_equal(vals[0].i, 42);
    assert_int_equal(vals[1].n, 4);
    assert_memory_equal(vals[1].p, "a\tb\\", 4);
    assert_int_equal(vals[2].type, DOM_V_NULL);
    assert_int_equal(vals[3].type, DOM_V_BLOB);
    assert_int_equal(vals[3].n, 2);
    assert_memory_equal(vals[3].p, "\x00\xff", 2);
    assert_int_equal(vals[4].n, strlen("2026-01-02T03:04:05.25Z"));
    assert_memory_equal(vals[4].p, "2026-01-02T03:04:05.25Z", vals[4].n);
    dom_buf_free(&field);
    dom_buf_free(&store);
}

/* encode, escape as a COPY field, unescape, decode: the same value */
static void test_round_trip(void **state)
{
    (void)state;
    static const char text[] = "tab\there\nnew\\line\r\x01\x7f\xc3\xa9 \\N";
    dom_value in[4] = {{DOM_V_TEXT, 0, 0, text, sizeof(text) - 1},
                       {DOM_V_BLOB, 0, 0, "\x00\t\n\\", 4},
                       {DOM_V_INT, -77, 0, NULL, 0},
                       {DOM_V_REAL, 0, 1.0 / 3.0, NULL, 0}};
    pg_class k[4] = {PG_C_TEXT, PG_C_BYTEA, PG_C_INT, PG_C_REAL};
    dom_buf tmp = DOM_BUF_INIT, line = DOM_BUF_INIT, field = DOM_BUF_INIT, store = DOM_BUF_INIT;
    for (int i = 0; i < 4; i++) {
        size_t len;
        const char *e = dom_pgcopy_encode(&in[i], k[i], &tmp, &len);
        if (i)
            dom_buf_putc(&line, '\t');
        dom_buf_put_copy(&line, e, len);
    }
    dom_buf_putc(&line, '\n');
    dom_value out[4];
    size_t offs[4];
    dom_pgcopy_decode_line(line.ptr, line.len, 4, k, NULL, out, offs, &field, &store);
    for (int i = 0; i < 4; i++) {
        if (out[i].type == DOM_V_TEXT || out[i].type == DOM_V_BLOB)
            out[i].p = store.ptr + offs[i];
        assert_int_equal(out[i].type, in[i].type);
    }
    assert_int_equal(out[0].n, in[0].n);
    assert_memory_equal(out[0].p, in[0].p, in[0].n);
    assert_int_equal(out[1].n, 4);
    assert_memory_equal(out[1].p, in[1].p, 4);
    assert_int_equal(out[2].i, -77);
    assert_true(out[3].r == in[3].r); /* %.17g reads back exactly */
    dom_buf_free(&tmp);
    dom_buf_free(&line);
    dom_buf_free(&field);
    dom_buf_free(&store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unescape),    cmocka_unit_test(test_decode),
        cmocka_unit_test(test_encode),      cmocka_unit_test(test_canonical_time),
        cmocka_unit_test(test_decode_line), cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
