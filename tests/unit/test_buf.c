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

#include "core/verify.h"
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

static void test_numbers_and_hex(void **state)
{
    (void)state;
    dom_buf b = DOM_BUF_INIT;
    dom_buf_put_int(&b, 0);
    dom_buf_putc(&b, ' ');
    dom_buf_put_int(&b, -1);
    dom_buf_putc(&b, ' ');
    dom_buf_put_int(&b, INT64_MIN);
    dom_buf_putc(&b, ' ');
    dom_buf_put_int(&b, INT64_MAX);
    assert_string_equal(dom_buf_cstr(&b), "0 -1 -9223372036854775808 9223372036854775807");
    /* one byte at a time across many growths */
    dom_buf_clear(&b);
    for (int i = 0; i < 1000; i++)
        dom_buf_putc(&b, (char)('a' + i % 26));
    assert_int_equal(b.len, 1000);
    assert_int_equal(strlen(dom_buf_cstr(&b)), 1000);
    assert_int_equal(dom_buf_cstr(&b)[999], 'a' + 999 % 26);
    /* hex and back, appended to what is there */
    unsigned char bytes[300];
    for (int i = 0; i < 300; i++)
        bytes[i] = (unsigned char)(i * 7);
    dom_buf hex = DOM_BUF_INIT;
    dom_buf_put_hex(&hex, bytes, 300);
    assert_int_equal(hex.len, 600);
    assert_memory_equal(dom_buf_cstr(&hex), "00070e151c23", 12);
    dom_buf_clear(&b);
    dom_buf_puts(&b, "x");
    dom_buf_put_unhex(&b, dom_buf_cstr(&hex), hex.len);
    assert_int_equal(b.len, 301);
    assert_memory_equal(b.ptr + 1, bytes, 300);
    assert_int_equal(b.ptr[301], '\0');
    /* either case */
    dom_buf_clear(&b);
    dom_buf_put_unhex(&b, "AbCd0F", 6);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.ptr, "\xab\xcd\x0f", 3);
    dom_buf_free(&hex);
    dom_buf_free(&b);
}

/* The row encoding the content hash of the transfer log is taken over
 * (docs/verification.md): its bytes must not change between versions. */
static void test_row_encode(void **state)
{
    (void)state;
    dom_buf b = DOM_BUF_INIT;
    dom_value row[7];
    memset(row, 0, sizeof(row));
    row[0].type = DOM_V_INT;
    row[0].i = -42;
    row[1].type = DOM_V_REAL;
    row[1].r = 3.0;
    row[2].type = DOM_V_REAL;
    row[2].r = 0.1;
    row[3].type = DOM_V_TEXT;
    row[3].p = "h\xc3\xa9;";
    row[3].n = 4;
    row[4].type = DOM_V_BLOB;
    row[4].p = "\0\1";
    row[4].n = 2;
    row[5].type = DOM_V_NULL;
    row[6].type = DOM_V_INT;
    row[6].i = INT64_MIN;
    dom_row_encode(&b, row, 7);
    assert_int_equal(b.len, 66);
    assert_memory_equal(b.ptr,
                        "I-42;I3;R0.10000000000000001;T4:h\xc3\xa9;B2:\0\1N;"
                        "I-9223372036854775808;\n",
                        66);
    dom_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_array),      cmocka_unit_test(test_array_elem),
        cmocka_unit_test(test_int_array),       cmocka_unit_test(test_copy_field),
        cmocka_unit_test(test_numbers_and_hex), cmocka_unit_test(test_row_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
