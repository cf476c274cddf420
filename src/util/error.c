/*
 * error.c - the per-thread last-error message behind dom_error_last().
 * It stores one message and a code; it does not log or print.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static _Thread_local char err_msg[2048];
static _Thread_local int err_code;

int dom_error_setv(int code, const char *fmt, va_list ap)
{
    vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
    err_code = code;
    return code;
}

int dom_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dom_error_setv(code, fmt, ap);
    va_end(ap);
    return code;
}

void dom_error_prefix(const char *fmt, ...)
{
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof(prefix) - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t plen = strlen(prefix);
    memcpy(prefix + plen, ": ", 3);
    plen += 2;
    size_t mlen = strnlen(err_msg, sizeof(err_msg) - 1);
    if (plen + mlen >= sizeof(err_msg))
        mlen = sizeof(err_msg) - 1 - plen;
    memmove(err_msg + plen, err_msg, mlen);
    memcpy(err_msg, prefix, plen);
    err_msg[plen + mlen] = '\0';
}

void dom_error_clear(void)
{
    err_msg[0] = '\0';
    err_code = 0;
}

const char *dom_error_last(void)
{
    return err_msg[0] ? err_msg : "no error";
}

int dom_error_code(void)
{
    return err_code;
}

#ifndef NDEBUG
int dom__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "domicile: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
    return 0;
}
#endif
