/*
 * buf.c - a growable, NUL-terminated byte buffer for building text.
 */
#include <string.h>

#include "util/util.h"

static int grow(dom_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = dom_realloc(b->ptr, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->ptr = p;
    b->cap = cap;
    return 0;
}

void dom_buf_put(dom_buf *b, const void *data, size_t n)
{
    if (grow(b, n) < 0)
        return;
    if (n)
        memcpy(b->ptr + b->len, data, n);
    b->len += n;
    b->ptr[b->len] = '\0';
}

void dom_buf_puts(dom_buf *b, const char *s)
{
    dom_buf_put(b, s, strlen(s));
}

void dom_buf_putc(dom_buf *b, char c)
{
    if (!b->oom && b->len + 2 <= b->cap) {
        b->ptr[b->len++] = c;
        b->ptr[b->len] = '\0';
        return;
    }
    dom_buf_put(b, &c, 1);
}

void dom_buf_put_int(dom_buf *b, long long v)
{
    char tmp[24], *end = tmp + sizeof(tmp), *p = end;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    dom_buf_put(b, p, (size_t)(end - p));
}

void dom_buf_printf(dom_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0 && grow(b, (size_t)n) == 0) {
        vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void dom_buf_clear(dom_buf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

void dom_buf_free(dom_buf *b)
{
    dom_free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

const char *dom_buf_cstr(dom_buf *b)
{
    if (!b->ptr && grow(b, 0) == 0)
        b->ptr[0] = '\0';
    return b->ptr;
}

void dom_buf_put_hex(dom_buf *b, const void *data, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    if (grow(b, 2 * n) < 0)
        return;
    char *o = b->ptr + b->len;
    for (size_t i = 0; i < n; i++) {
        *o++ = digits[p[i] >> 4];
        *o++ = digits[p[i] & 15];
    }
    *o = '\0';
    b->len = (size_t)(o - b->ptr);
}

/* the value of a hex digit (0 for anything else) */
static const unsigned char hexval[256] = {
    ['0'] = 0,  ['1'] = 1,  ['2'] = 2,  ['3'] = 3,  ['4'] = 4,  ['5'] = 5,  ['6'] = 6,  ['7'] = 7,
    ['8'] = 8,  ['9'] = 9,  ['a'] = 10, ['b'] = 11, ['c'] = 12, ['d'] = 13, ['e'] = 14, ['f'] = 15,
    ['A'] = 10, ['B'] = 11, ['C'] = 12, ['D'] = 13, ['E'] = 14, ['F'] = 15,
};

void dom_buf_put_unhex(dom_buf *b, const char *hex, size_t n)
{
    if (grow(b, n / 2) < 0)
        return;
    char *o = b->ptr + b->len;
    for (size_t i = 0; i + 1 < n; i += 2)
        *o++ = (char)(hexval[(unsigned char)hex[i]] << 4 | hexval[(unsigned char)hex[i + 1]]);
    *o = '\0';
    b->len = (size_t)(o - b->ptr);
}

void dom_buf_put_copy(dom_buf *b, const char *p, size_t n)
{
    if (!p) {
        dom_buf_puts(b, "\\N");
        return;
    }
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = p[i] == '\\'   ? "\\\\"
                          : p[i] == '\t' ? "\\t"
                          : p[i] == '\n' ? "\\n"
                          : p[i] == '\r' ? "\\r"
                                         : NULL;
        if (!esc)
            continue;
        dom_buf_put(b, p + start, i - start);
        dom_buf_puts(b, esc);
        start = i + 1;
    }
    dom_buf_put(b, p + start, n - start);
}

void dom_buf_put_array_elem(dom_buf *b, const char *p, size_t n)
{
    if (!p) {
        dom_buf_puts(b, "NULL");
        return;
    }
    dom_buf_putc(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '"' && p[i] != '\\')
            continue;
        dom_buf_put(b, p + start, i - start);
        dom_buf_putc(b, '\\');
        start = i;
    }
    dom_buf_put(b, p + start, n - start);
    dom_buf_putc(b, '"');
}

void dom_buf_put_text_array(dom_buf *b, const char *const *v, size_t n)
{
    dom_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            dom_buf_putc(b, ',');
        dom_buf_put_array_elem(b, v[i], v[i] ? strlen(v[i]) : 0);
    }
    dom_buf_putc(b, '}');
}

void dom_buf_put_int_array(dom_buf *b, const int64_t *v, size_t n)
{
    dom_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++)
        dom_buf_printf(b, i ? ",%lld" : "%lld", (long long)(v ? v[i] : 0));
    dom_buf_putc(b, '}');
}
