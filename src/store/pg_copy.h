/*
 * pg_copy.h - PostgreSQL's text forms of values and COPY's text format
 * (pg_copy.c), used by the PostgreSQL store's cursors and writes.
 */
#ifndef DOM_PG_COPY_H
#define DOM_PG_COPY_H

#include <stddef.h>

#include "store/store.h"

/* How a column's values travel: the class of its declared type. */
typedef enum { PG_C_INT, PG_C_REAL, PG_C_TEXT, PG_C_BYTEA, PG_C_BOOL, PG_C_TIME } pg_class;

/* Decodes the text form `p` (NUL-terminated, n bytes) of a value of class
 * k into v; text and bytes are appended to `store`, at *off. */
void dom_pgcopy_decode(pg_class k, const char *p, size_t n, dom_value *v, dom_buf *store,
                       size_t *off);
/* The text form of v for a parameter or a COPY field (escape it with
 * dom_buf_put_copy); NULL for SQL NULL.  Blobs become bytea's hex form,
 * booleans t/f, integral reals of an integer column integers. */
const char *dom_pgcopy_encode(const dom_value *v, pg_class k, dom_buf *tmp, size_t *len);
/* Undoes COPY text escaping of one field into out (NUL-terminated). */
void dom_pgcopy_unescape(const char *p, size_t n, dom_buf *out);
/* The raw text form of timestamptz (DateStyle ISO, TimeZone UTC) made
 * canonical in place: "2024-05-01 10:00:00.5+00" -> "2024-05-01T10:00:00.5Z". */
void dom_pgcopy_canonical_time(dom_buf *f);
/* Decodes one COPY text line (n bytes, with or without its newline) of
 * ncols fields of classes cls (fix[i]: a timestamptz to make canonical;
 * fix may be NULL) into vals; \N is NULL.  Text and bytes go to `store`
 * (cleared first) at offs[i]: point vals[i].p at store.ptr + offs[i] once
 * the line is done.  `field` is scratch.  On out of memory field or store
 * has oom set. */
void dom_pgcopy_decode_line(const char *line, size_t n, int ncols, const pg_class *cls,
                            const unsigned char *fix, dom_value *vals, size_t *offs, dom_buf *field,
                            dom_buf *store);

#endif
