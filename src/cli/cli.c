/*
 * cli.c - helpers shared by the commands: error reporting, exit codes,
 * config loading and number formatting.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/catalog.h"
#include "core/mover.h"
#include "util/util.h"

int cli_exit_code(int rc)
{
    switch (rc) {
    case 0:
        return EXIT_OK;
    case DOM_ECONFIG:
    case DOM_EUSAGE:
    case DOM_EUNSUPPORTED:
        return EXIT_USAGE;
    case DOM_ENOTFOUND:
        return EXIT_NOTFOUND;
    case DOM_EBUSY:
        return EXIT_BUSY;
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

/* --json of this process, and whether its document is out */
static int json_mode, json_done;

static const char *exit_kind(int code)
{
    switch (code) {
    case EXIT_USAGE:
        return "usage";
    case EXIT_FOUND:
        return "found";
    case EXIT_REGION:
        return "region";
    case EXIT_INTR:
        return "interrupted";
    case EXIT_NOTFOUND:
        return "not_found";
    case EXIT_BUSY:
        return "busy";
    default:
        return "internal";
    }
}

json_t *cli_error_json(int exit_code, const char *message)
{
    return json_pack("{s:s,s:i,s:s}", "kind", exit_kind(exit_code), "exit", exit_code, "message",
                     message ? message : "");
}

void cli_json_print(json_t *root)
{
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(root);
    json_done = 1;
}

void cli_json_mode(int on)
{
    json_mode = on;
}

static void json_failure(int exit_code, const char *message)
{
    if (!json_mode || json_done)
        return;
    cli_json_print(json_pack("{s:b,s:o}", "ok", 0, "error", cli_error_json(exit_code, message)));
}

int cli_fail(int rc)
{
    cli_report();
    int code = cli_exit_code(rc);
    json_failure(code, dom_error_last());
    return code;
}

int cli_load_config(cli *c, dom_config **out)
{
    int rc = dom_config_load(out, c->config_path);
    return rc < 0 ? cli_fail(rc) : 0;
}

int cli_config_sha256(const dom_config *cfg, char out[65])
{
    FILE *f = fopen(cfg->path, "rb");
    if (!f)
        return dom_error_set(DOM_EUSAGE, "cannot read %s", cfg->path);
    dom_buf b = DOM_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        dom_buf_put(&b, chunk, n);
    fclose(f);
    return dom_buf_sha256_hex(&b, out);
}

json_t *cli_meta_json(dom_catalog *cat, const char *key, int *rc)
{
    size_t n = 65536;
    char *text = dom_malloc(n);
    if (!text) {
        *rc = DOM_ENOMEM;
        return NULL;
    }
    *rc = dom_catalog_meta_get(cat, key, text, n);
    json_t *doc = *rc == 0 && text[0] ? json_loads(text, 0, NULL) : NULL;
    dom_free(text);
    return doc;
}

void cli_html_provenance(FILE *f, const dom_config *cfg)
{
    char now[32], sha[65], cat_name[512] = "(not reachable)";
    dom_iso_now(now);
    if (cli_config_sha256(cfg, sha) < 0)
        snprintf(sha, sizeof(sha), "(unreadable)");
    dom_catalog *cat;
    if (dom_catalog_open(&cat, cfg, DOM_CATALOG_READONLY) == 0) {
        snprintf(cat_name, sizeof(cat_name), "%s", dom_catalog_name(cat));
        dom_catalog_close(cat);
    }
    fprintf(f, "<p class=\"prov\">Made %s by domicile %s for the config ", now, DOMICILE_VERSION);
    cli_html_escape(f, cfg->path);
    fprintf(f, " (SHA-256 <code>%s</code>) and the catalog ", sha);
    cli_html_escape(f, cat_name);
    fputs(".</p>\n", f);
}

void cli_html_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "domicile: %s%s%s\n", cmd ? cmd : "", cmd ? ": " : "", msg);
    fprintf(stderr, "see 'domicile help%s%s'\n", cmd ? " " : "", cmd ? cmd : "");
    json_failure(EXIT_USAGE, msg);
    return EXIT_USAGE;
}

/* Edit distance of two short words (insertions, deletions, changes),
 * capped: words over 63 characters count as far. */
static size_t edits(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *cli_nearest(const char *word, const char *const *cands)
{
    const char *best = NULL;
    size_t best_d = 3, wl = strlen(word);
    if (!wl)
        return NULL;
    for (size_t i = 0; cands[i]; i++) {
        size_t d = strncmp(cands[i], word, wl) == 0 ? 1 : edits(word, cands[i]);
        /* short words: one edit at most, else everything is near */
        if (d < best_d && (wl > 3 || d <= 1)) {
            best = cands[i];
            best_d = d;
        }
    }
    return best;
}

static const char *const global_names[] = {"config", "verbose", "json", "help", NULL};

int cli_global_option(cli *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
        if (*i + 1 >= argc) {
            cli_usage_error(NULL, "%s needs a FILE", a);
            return -1;
        }
        c->config_path = argv[++*i];
        return 1;
    }
    if (strncmp(a, "--config=", 9) == 0) {
        c->config_path = a + 9;
        return 1;
    }
    if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
        dom_log_level++;
        return 1;
    }
    if (strcmp(a, "--json") == 0) {
        c->json = json_mode = 1;
        return 1;
    }
    return 0;
}

/* Says that `a` is not an option of the command, with the nearest one. */
static int unknown_option(const char *cmd, const cli_opt *opts, const char *a)
{
    const char *names[64];
    size_t n = 0;
    for (size_t i = 0; opts[i].name && n < 60; i++)
        names[n++] = opts[i].name;
    for (size_t i = 0; global_names[i]; i++)
        names[n++] = global_names[i];
    names[n] = NULL;
    char word[64];
    size_t wl = strcspn(a + 2, "=");
    snprintf(word, sizeof(word), "%.*s", (int)(wl < 63 ? wl : 63), a + 2);
    const char *near = a[1] == '-' ? cli_nearest(word, names) : NULL;
    if (near)
        return cli_usage_error(cmd, "unknown option %s; did you mean --%s?", a, near);
    return cli_usage_error(cmd, "unknown option %s", a);
}

static int parse_int(const char *cmd, const cli_opt *o, const char *v)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < o->min || n > o->max)
        return cli_usage_error(cmd, "--%s needs a whole number from %d to %d, not \"%s\"", o->name,
                               o->min, o->max, v);
    *(int *)o->out = (int)n;
    return 0;
}

int cli_parse(cli *c, const cli_opt *opts, const char **pos, int *npos, int maxpos)
{
    const char *cmd = c->argv[0];
    int only_pos = 0;
    *npos = 0;
    for (int i = 1; i < c->argc; i++) {
        const char *a = c->argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (only_pos || a[0] != '-' || a[1] == '\0' || (a[1] >= '0' && a[1] <= '9')) {
            if (*npos >= maxpos)
                return cli_usage_error(cmd, "unexpected argument \"%s\"", a);
            pos[(*npos)++] = a;
            continue;
        }
        int g = cli_global_option(c, c->argc, c->argv, &i);
        if (g < 0)
            return EXIT_USAGE;
        if (g)
            continue;
        const cli_opt *o = NULL;
        size_t nl = strcspn(a + 2, "=");
        if (a[1] == '-')
            for (size_t k = 0; opts[k].name; k++)
                if (strlen(opts[k].name) == nl && strncmp(opts[k].name, a + 2, nl) == 0)
                    o = &opts[k];
        if (!o)
            return unknown_option(cmd, opts, a);
        const char *eq = a[2 + nl] == '=' ? a + 3 + nl : NULL;
        if (o->kind == CLI_FLAG) {
            if (eq)
                return cli_usage_error(cmd, "--%s takes no value", o->name);
            *(int *)o->out = 1;
            continue;
        }
        const char *v = eq;
        if (!v) {
            if (i + 1 >= c->argc)
                return cli_usage_error(cmd, "--%s needs a value", o->name);
            v = c->argv[++i];
        }
        if (o->kind == CLI_STR)
            *(const char **)o->out = v;
        else if (parse_int(cmd, o, v))
            return EXIT_USAGE;
    }
    return 0;
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
