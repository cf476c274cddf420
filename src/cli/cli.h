/*
 * cli.h - the command table, exit codes and helpers shared by cmd_*.c.
 * The CLI only parses arguments and prints; the work is in src/core.
 */
#ifndef DOM_CLI_H
#define DOM_CLI_H

#include <jansson.h>
#include <stdio.h>

#include "core/config.h"

struct dom_catalog;
struct dom_control;

/* Exit codes (DESIGN.md "Commands"; the table is in docs/cli.md). */
enum {
    EXIT_OK = 0,
    EXIT_USAGE = 1,     /* usage or config error */
    EXIT_FOUND = 2,     /* a check found a difference or a violation */
    EXIT_REGION = 3,    /* a region or the catalog could not be reached or failed */
    EXIT_INTR = 4,      /* interrupted; safe to resume with the same command */
    EXIT_NOTFOUND = 5,  /* no such tenant, wave, batch or catalog */
    EXIT_INTERNAL = 70, /* internal error */
    EXIT_BUSY = 75      /* another process holds what this needs; try again (EX_TEMPFAIL) */
};

typedef struct cli {
    const char *config_path; /* -c, else $DOMICILE_CONFIG, else ./domicile.yaml */
    int argc;                /* the command's own arguments, argv[0] = command */
    char **argv;
    int json; /* --json: one JSON document on stdout, also on failure */
} cli;

/* One option of a command, for cli_parse: --NAME (CLI_FLAG), --NAME VALUE
 * or --NAME=VALUE (CLI_STR, CLI_INT). */
typedef enum { CLI_FLAG, CLI_STR, CLI_INT } cli_opt_kind;
typedef struct cli_opt {
    const char *name; /* without the dashes */
    cli_opt_kind kind;
    void *out;    /* int * (CLI_FLAG: set to 1; CLI_INT), const char ** (CLI_STR) */
    int min, max; /* CLI_INT: the accepted range */
} cli_opt;

/* Parses c->argv[1..]: the command's `opts` (ended by {0}), the global
 * options anywhere (-c/--config FILE, -v/--verbose, --json), "--" ending
 * the options, and up to `maxpos` positional arguments into pos[] (their
 * number in *npos).  On a mistake it says so on stderr, naming the option
 * meant when one is near, and returns EXIT_USAGE; 0 otherwise. */
int cli_parse(cli *c, const cli_opt *opts, const char **pos, int *npos, int maxpos);
/* The global options of main.c's loop: consumes argv[*i] (and its value)
 * when it is one, returning 1; 0 when it is not; -1 after saying what is
 * wrong. */
int cli_global_option(cli *c, int argc, char **argv, int *i);
/* The candidate nearest to `word` (a few edits away, or `word` a prefix of
 * it) among the NULL-ended `cands`, else NULL. */
const char *cli_nearest(const char *word, const char *const *cands);
/* Prints `root` on stdout (and takes it) as the command's one JSON
 * document; cli_fail prints none after it. */
void cli_json_print(json_t *root);
/* Turns --json's failure document off (0) and on again (1), for a command
 * that runs others. */
void cli_json_mode(int on);
/* The "error" object of a failed command's JSON document. */
json_t *cli_error_json(int exit_code, const char *message);

typedef struct cli_command {
    const char *name;
    int (*run)(cli *c);
    const char *summary;
    const char *usage; /* full --help text */
} cli_command;

/* Maps a DOM_E* code to an exit code. */
int cli_exit_code(int rc);
/* Prints "domicile: <message>" for the last error, one line per line. */
void cli_report(void);
/* Prints the message and returns the exit code for rc; under --json also
 * the failure's document {"ok": false, "error": {...}} on stdout unless the
 * command printed its own. */
int cli_fail(int rc);
/* SIGINT and SIGTERM set dom_interrupted: the mover stops at a safe point. */
void cli_catch_signals(void);
/* Loads the config; on failure reports and returns the exit code (> 0). */
int cli_load_config(cli *c, dom_config **out);
/* True when argv[i] is --help or -h (before a "--"). */
int cli_wants_help(int argc, char **argv);
/* A value of the catalog that holds JSON (the audit's summary, the round
 * trips before the move), parsed; NULL when unset or no JSON (*rc 0), or
 * on failure (*rc < 0). */
json_t *cli_meta_json(struct dom_catalog *cat, const char *key, int *rc);
/* HTML reports: a paragraph saying when, by which version, for which
 * config (path and SHA-256) and catalog the report was made; text with
 * <>&" escaped. */
void cli_html_provenance(FILE *f, const dom_config *cfg);
void cli_html_escape(FILE *f, const char *s);
/* SHA-256 of the config file's bytes, as hex (reports name the config). */
int cli_config_sha256(const dom_config *cfg, char out[65]);
/* Says what is wrong with the command line (and, under --json, prints the
 * failure's document); returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...);
const cli_command *cli_find(const char *name);
/* Formats a byte count as "12.3 MB" into buf. */
const char *cli_bytes(char *buf, size_t n, double bytes);
/* "s" unless n is 1: "%lld tenant%s", n, CLI_S(n) */
#define CLI_S(n) ((n) == 1 ? "" : "s")
/* Formats an integer with thousands separators. */
const char *cli_num(char *buf, size_t n, long long v);

int cmd_plan(cli *c);
int cmd_demo(cli *c);
int cmd_report(cli *c);
/* Prints the latency report of a config (and writes `html` when not NULL). */
/* Keeps the per-market round trips of the plan in the catalog, once
 * (before the first wave: `report latency` and the dashboard show them as
 * "before" afterwards). */
int cli_latency_record(const dom_config *cfg);
int cli_print_latency(const char *config_path, const char *html, const char *first_csv);
int cmd_prepare(cli *c);
int cmd_apply(cli *c);
int cmd_rollback(cli *c);
int cmd_status(cli *c);
/* What `status --json` prints (also GET /v1/status); NULL and *rc on
 * failure.  *ctl gets the movers' control as read. */
json_t *cli_status_doc(struct dom_catalog *cat, const dom_config *cfg, struct dom_control *ctl,
                       int *rc);
int cmd_verify(cli *c);
int cmd_locate(cli *c);
int cmd_audit(cli *c);
int cmd_erase(cli *c);
int cmd_pause(cli *c);
int cmd_resume(cli *c);
int cmd_throttle(cli *c);
int cmd_serve(cli *c);

#endif
