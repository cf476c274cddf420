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
