/*
 * pg_copy.c - PostgreSQL's text forms of values and COPY's text format:
 * decoding a field into a canonical value (docs/verification.md,
 * "Canonical values"), encoding a value for a parameter or a COPY field,
 * undoing COPY's escapes, splitting a COPY line.  No connection: unit-tested
 * on its own (tests/unit/test_pg_copy.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_copy.h"

static int unhex(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes the text form `p` (NUL-terminated, n bytes) of a value of class
 * k into v; text and bytes are appended to `store` at *off. */
void dom_pgcopy_decode(pg_class k, const char *p, size_t n, dom_value *v, dom_buf *store,
                       size_t *off)
{
    memset(v, 0, sizeof(*v));
    *off = store->len;
    switch (k) {
    case PG_C_INT:
        v->type = DOM_V_INT;
        v->i = strtoll(p, NULL, 10);
        return;
    case PG_C_BOOL:
        v->type = DOM_V_INT;
        v->i = p[0] == 't' || p[0] == '1';
        return;
    case PG_C_REAL:
        v->type = DOM_V_REAL;
        v->r = strtod(p, NULL);
        return;
    case PG_C_BYTEA:
        v->type = DOM_V_BLOB;
        if (n >= 2 && p[0] == '\\' && p[1] == 'x') {
            dom_buf_put_unhex(store, p + 2, n - 2);
            v->n = store->len - *off;
        } else {
            dom_buf_put(store, p, n);
            v->n = n;
        }
        return;
    default:
        v->type = DOM_V_TEXT;
        dom_buf_put(store, p, n);
        v->n = n;
        return;
    }
}

/* The text form of v for a parameter or a COPY field; NULL for SQL NULL.
 * Blobs become bytea's hex form. */
const char *dom_pgcopy_encode(const dom_value *v, pg_class k, dom_buf *tmp, size_t *len)
{
    dom_buf_clear(tmp);
    switch (v->type) {
    case DOM_V_NULL:
        return NULL;
    case DOM_V_INT:
        if (k == PG_C_BOOL)
            dom_buf_puts(tmp, v->i ? "t" : "f");
        else
            dom_buf_printf(tmp, "%lld", (long long)v->i);
        break;
    case DOM_V_REAL:
        if (isnan(v->r))
            dom_buf_puts(tmp, "NaN");
        else if (isinf(v->r))
            dom_buf_puts(tmp, v->r > 0 ? "Infinity" : "-Infinity");
        else if (k == PG_C_INT && v->r == floor(v->r))
            dom_buf_printf(tmp, "%.0f", v->r);
        else
            dom_buf_printf(tmp, "%.17g", v->r);
        break;
    case DOM_V_TEXT:
        dom_buf_put(tmp, v->p, v->n);
        break;
    case DOM_V_BLOB:
        dom_buf_puts(tmp, "\\x");
        dom_buf_put_hex(tmp, v->p, v->n);
        break;
    }
    *len = tmp->len;
    return dom_buf_cstr(tmp);
}

/* Undoes COPY text escaping of one field into out (NUL-terminated). */
void dom_pgcopy_unescape(const char *p, size_t n, dom_buf *out)
{
    dom_buf_clear(out);
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\\') {
            /* the run up to the next backslash as it is */
            const char *bs = memchr(p + i, '\\', n - i);
            size_t run = bs ? (size_t)(bs - p) - i : n - i;
            dom_buf_put(out, p + i, run);
            i += run - 1;
            continue;
        }
        if (i + 1 == n) {
            dom_buf_putc(out, p[i]);
            continue;
        }
        char c = p[++i];
        switch (c) {
        case 'b':
            dom_buf_putc(out, '\b');
            break;
        case 'f':
            dom_buf_putc(out, '\f');
            break;
        case 'n':
            dom_buf_putc(out, '\n');
            break;
        case 'r':
            dom_buf_putc(out, '\r');
            break;
        case 't':
            dom_buf_putc(out, '\t');
            break;
        case 'v':
            dom_buf_putc(out, '\v');
            break;
        case 'x':
            if (i + 1 < n && unhex(p[i + 1]) >= 0) {
                int v = unhex(p[++i]);
                if (i + 1 < n && unhex(p[i + 1]) >= 0)
                    v = v * 16 + unhex(p[++i]);
                dom_buf_putc(out, (char)v);
            } else {
                dom_buf_putc(out, 'x');
            }
            break;
        default:
            if (c >= '0' && c <= '7') {
                int v = c - '0';
                for (int k = 0; k < 2 && i + 1 < n && p[i + 1] >= '0' && p[i + 1] <= '7'; k++)
                    v = v * 8 + (p[++i] - '0');
                dom_buf_putc(out, (char)v);
            } else {
                dom_buf_putc(out, c);
            }
        }
    }
    dom_buf_cstr(out);
}

/* The raw text form of timestamptz (DateStyle ISO, TimeZone UTC:
 * "2024-05-01 10:00:00.5+00") in the canonical one ("2024-05-01T10:00:00.5Z");
 * anything else (infinity, BC) is left as it is. */
void dom_pgcopy_canonical_time(dom_buf *f)
{
    char *p = f->ptr;
    size_t n = f->len;
    if (n >= 22 && p[4] == '-' && p[10] == ' ' && p[13] == ':' &&
        memcmp(p + n - 3, "+00", 3) == 0) {
        p[10] = 'T';
        p[n - 3] = 'Z';
        f->len = n - 2;
        p[f->len] = '\0';
    }
}

void dom_pgcopy_decode_line(const char *line, size_t n, int ncols, const pg_class *cls,
                            const unsigned char *fix, dom_value *vals, size_t *offs, dom_buf *field,
                            dom_buf *store)
{
    const char *p = line, *end = line + n;
    dom_buf_clear(store);
    if (end > p && end[-1] == '\n')
        end--;
    for (int i = 0; i < ncols; i++) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        const char *fe = tab ? tab : end;
        if (fe - p == 2 && p[0] == '\\' && p[1] == 'N') {
            memset(&vals[i], 0, sizeof(dom_value));
        } else {
            dom_pgcopy_unescape(p, (size_t)(fe - p), field);
            if (field->oom)
                return; /* the caller sees it */
            if (fix && fix[i])
                dom_pgcopy_canonical_time(field);
            dom_pgcopy_decode(cls[i], dom_buf_cstr(field), field->len, &vals[i], store, &offs[i]);
        }
        p = tab ? tab + 1 : end;
    }
}
