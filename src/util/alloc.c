/*
 * alloc.c - the one allocator of the project, with a fault-injection hook
 * so that tests can fail the Nth allocation and check the error path.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* shared by every thread: the mover allocates from its workers */
static _Atomic long fail_after = -1;
static _Atomic int fail_sticky = 1;
static _Atomic long calls;
static _Atomic int fired;

void dom_alloc_fail_after(long n)
{
    fired = 0;
    fail_sticky = 1;
    fail_after = n;
}

void dom_alloc_fail_once(long n)
{
    fired = 0;
    fail_sticky = 0;
    fail_after = n;
}

long dom_alloc_calls(void)
{
    return calls;
}

int dom_alloc_fail_fired(void)
{
    return fired;
}

static int should_fail(void)
{
    long n = fail_after;
    if (n < 0)
        return 0; /* no hook armed: no shared write on this path */
    calls++;
    /* n > 0: one more succeeds; n == 0 (once): this one fails, no other;
     * a successful exchange leaves n as it was */
    while (!(n < 0 || (n == 0 && fail_sticky)) &&
           !atomic_compare_exchange_weak(&fail_after, &n, n - 1))
        ;
    if (n == 0)
        fired = 1;
    return n == 0;
}

static _Thread_local unsigned long failures;

unsigned long dom_alloc_failures(void)
{
    return failures;
}

static void *oom(size_t n)
{
    failures++;
    dom_error_set(DOM_ENOMEM, "out of memory (allocating %zu bytes)", n);
    return NULL;
}

void *dom_malloc(size_t n)
{
    void *p = should_fail() ? NULL : malloc(n ? n : 1);
    return p ? p : oom(n);
}

void *dom_calloc(size_t n, size_t size)
{
    void *p = should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
    return p ? p : oom(n * size);
}

void *dom_realloc(void *p, size_t n)
{
    void *q = should_fail() ? NULL : realloc(p, n ? n : 1);
    return q ? q : oom(n);
}

int dom_grow(void *pp, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : first;
    while (c < need)
        c *= 2;
    void *p;
    memcpy(&p, pp, sizeof(p));
    if (!(p = dom_realloc(p, c * size)))
        return DOM_ENOMEM;
    memcpy(pp, &p, sizeof(p));
    *cap = c;
    return 0;
}

char *dom_strndup(const char *s, size_t n)
{
    char *p = dom_malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *dom_strdup(const char *s)
{
    return s ? dom_strndup(s, strlen(s)) : NULL;
}

char *dom_sprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n >= 0 ? dom_malloc((size_t)n + 1) : NULL;
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void dom_free(void *p)
{
    free(p);
}
