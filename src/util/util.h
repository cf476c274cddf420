/*
 * util.h - small shared helpers: errors, allocation, growable buffers,
 * hashing and logging.  Nothing here knows about regions or tenants.
 */
#ifndef DOM_UTIL_H
#define DOM_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "domicile.h"

#if defined(__GNUC__)
#define DOM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DOM_PRINTF(a, b)
#endif

/* Errors: one message per thread, read back with dom_error_last(). */
int dom_error_set(int code, const char *fmt, ...) DOM_PRINTF(2, 3);
int dom_error_setv(int code, const char *fmt, va_list ap);
void dom_error_clear(void);

/* Allocation: every allocation of the project goes through these, so a test can
 * make the Nth one fail (dom_alloc_fail_after). They set the error on failure. */
void *dom_malloc(size_t n);
void *dom_calloc(size_t n, size_t size);
void *dom_realloc(void *p, size_t n);
/* Room for `need` elements of `size` bytes in the array *pp (a pointer to
 * the array's pointer) of capacity *cap, doubled as it grows, `first` at
 * least: 0, or DOM_ENOMEM with the array unchanged. */
int dom_grow(void *pp, size_t *cap, size_t need, size_t size, size_t first);
char *dom_strdup(const char *s);
char *dom_strndup(const char *s, size_t n);
char *dom_sprintf(const char *fmt, ...) DOM_PRINTF(1, 2);
void dom_free(void *p);
/* Number of failed allocations in this thread so far; a caller that lets
 * helpers fail softly compares it before and after. */
unsigned long dom_alloc_failures(void);
/* Test hook: the allocation after n more succeed fails, and every one after
 * it (n < 0: none). */
void dom_alloc_fail_after(long n);
/* Test hook: the allocation after n more succeed fails, and only that one. */
void dom_alloc_fail_once(long n);
/* Allocations made so far (all threads) while a hook above was armed; a
 * test counts a run's with dom_alloc_fail_once(LONG_MAX). */
long dom_alloc_calls(void);
/* 1 when a hook above made an allocation fail since it was armed: a test
 * knows its failure point was reached. */
int dom_alloc_fail_fired(void);

/* Growable byte buffer, always NUL-terminated.  An allocation failure sets
 * .oom; further appends are ignored, so callers check once at the end. */
typedef struct dom_buf {
    char *ptr;
    size_t len;
    size_t cap;
    int oom;
} dom_buf;

#define DOM_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }
void dom_buf_put(dom_buf *b, const void *data, size_t n);
void dom_buf_puts(dom_buf *b, const char *s);
void dom_buf_putc(dom_buf *b, char c);
/* the decimal form of v */
void dom_buf_put_int(dom_buf *b, long long v);
void dom_buf_printf(dom_buf *b, const char *fmt, ...) DOM_PRINTF(2, 3);
void dom_buf_clear(dom_buf *b);
void dom_buf_free(dom_buf *b);
/* Returns the buffer as a NUL-terminated string ("" when empty; never NULL
 * unless out of memory). */
const char *dom_buf_cstr(dom_buf *b);

/* Hashing (SHA-256 through libcrypto). */
void dom_sha256(const void *data, size_t n, unsigned char out[32]);
void dom_hex(const unsigned char *in, size_t n, char *out /* 2n+1 */);
/* SHA-256 of a buffer's bytes as lower-case hex, and the buffer freed;
 * DOM_ENOMEM (no digest of a partial text) when it ran out of memory. */
int dom_buf_sha256_hex(dom_buf *b, char out[65]);
/* Appends the bytes as lower-case hex; and the bytes of n hex digits (pairs;
 * a character that is not a hex digit counts as 0). */
void dom_buf_put_hex(dom_buf *b, const void *data, size_t n);
void dom_buf_put_unhex(dom_buf *b, const char *hex, size_t n);
/* Appends text as a field of PostgreSQL's COPY text format (backslash,
 * tab, newline and carriage return escaped); NULL appends the SQL NULL marker. */
void dom_buf_put_copy(dom_buf *b, const char *p, size_t n);
/* Appends text as an element of a PostgreSQL array literal (double-quoted,
 * '"' and backslash escaped); NULL appends NULL. */
void dom_buf_put_array_elem(dom_buf *b, const char *p, size_t n);
/* Appends a PostgreSQL text[] literal of the n strings. */
void dom_buf_put_text_array(dom_buf *b, const char *const *v, size_t n);
/* Appends a PostgreSQL bigint[] literal of the n integers (NULL: zeros). */
void dom_buf_put_int_array(dom_buf *b, const int64_t *v, size_t n);
/* The sampling hash of a tenant key: the first 64 bits of SHA-256 of its
 * canonical text, big-endian.  Stable across platforms and releases. */
uint64_t dom_key_hash64(const char *key, size_t n);
/* FNV-1a of n bytes: the in-memory hash tables' hash (not stable on disk). */
uint64_t dom_fnv1a(const char *s, size_t n);
/* True when the tenant falls inside the first `percent` of the key space. */
int dom_key_sampled(const char *key, size_t n, double percent);

/* Orders tenant keys: canonical non-negative integers ("0", "42", no
 * leading zero) numerically and before other keys, the rest by bytes.
 * Batches of neighbouring keys touch neighbouring pages. */
int dom_key_cmp(const char *a, const char *b);
/* True when `key` is the canonical text of a non-negative 64-bit integer. */
int dom_key_is_int(const char *key);

/* Logging to stderr; the level is checked before anything is formatted. */
enum { DOM_LOG_ERROR = 0, DOM_LOG_WARN, DOM_LOG_INFO, DOM_LOG_DEBUG };
extern int dom_log_level;
void dom_log__emit(int level, const char *file, int line, const char *fmt, ...) DOM_PRINTF(4, 5);
#define dom_log(level, ...)                                                                        \
    do {                                                                                           \
        if ((level) <= dom_log_level)                                                              \
            dom_log__emit((level), __FILE__, __LINE__, __VA_ARGS__);                               \
    } while (0)

/* Defensive branches: assert in debug builds, evaluate to the condition in
 * release builds. */
#ifdef NDEBUG
#define ALWAYS(x) (x)
#define NEVER(x)  (x)
#else
int dom__assert_fail(const char *expr, const char *file, int line);
#define ALWAYS(x) ((x) ? 1 : dom__assert_fail(#x, __FILE__, __LINE__))
#define NEVER(x)  ((x) ? dom__assert_fail(#x, __FILE__, __LINE__) : 0)
#endif

/* Seconds on the monotonic clock (sizer.c). */
double dom_mono(void);
/* The time now, UTC, ISO 8601 to the second ("2026-12-07T10:28:11Z"). */
void dom_iso_now(char out[32]);

#define DOM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
