/*
 * log.c - leveled diagnostics on stderr.  Not for command output.
 */
#include <stdio.h>

#include "util/util.h"

int dom_log_level = DOM_LOG_WARN;

void dom_log__emit(int level, const char *file, int line, const char *fmt, ...)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    va_list ap;
    fprintf(stderr, "domicile: %s: ", names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
#ifndef NDEBUG
    if (dom_log_level >= DOM_LOG_DEBUG)
        fprintf(stderr, " (%s:%d)", file, line);
#else
    (void)file;
    (void)line;
#endif
    fputc('\n', stderr);
}
