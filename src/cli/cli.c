/*
 * cli.c - helpers shared by the commands: error reporting, exit codes,
 * config loading and number formatting.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/mover.h"
#include "util/util.h"

int cli_exit_code(int rc)
{
    switch (rc) {
    case 0:
        return EXIT_OK;
    case DOM_ECONFIG:
    case DOM_EUSAGE:
    case DOM_ENOTFOUND:
    case DOM_EUNSUPPORTED:
        return EXIT_USAGE;
    case DOM_EREGION:
        return EXIT_REGION;
    case DOM_EINTR:
        return EXIT_INTR;
    default:
        return EXIT_INTERNAL;
    }
}

void cli_report(void)
{
    const char *m = dom_error_last();
    while (*m) {
        const char *nl = strchr(m, '\n');
        size_t n = nl ? (size_t)(nl - m) : strlen(m);
        /* config messages start with file:line:col and stand alone */
        fprintf(stderr, "domicile: %.*s\n", (int)n, m);
        m += n + (nl ? 1 : 0);
    }
}

int cli_fail(int rc)
{
    cli_report();
    return cli_exit_code(rc);
}

int cli_load_config(cli *c, dom_config **out)
{
    int rc = dom_config_load(out, c->config_path);
    return rc < 0 ? cli_fail(rc) : 0;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "domicile: %s%s", cmd ? cmd : "", cmd ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    if (cmd)
        fprintf(stderr, "see 'domicile %s --help'\n", cmd);
    return EXIT_USAGE;
}

const char *cli_bytes(char *buf, size_t n, double bytes)
{
    static const char *units[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000 && u < 4) {
        bytes /= 1000;
        u++;
    }
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
    return buf;
}

const char *cli_num(char *buf, size_t n, long long v)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof(tmp), "%lld", v < 0 ? -v : v);
    size_t o = 0;
    if (v < 0 && o + 1 < n)
        buf[o++] = '-';
    for (int i = 0; i < len && o + 1 < n; i++) {
        if (i && (len - i) % 3 == 0 && o + 1 < n)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
    return buf;
}

static void on_signal(int sig)
{
    (void)sig;
    dom_interrupted = 1;
}

void cli_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
