/*
 * cli.h - the command table, exit codes and helpers shared by cmd_*.c.
 * The CLI only parses arguments and prints; the work is in src/core.
 */
#ifndef DOM_CLI_H
#define DOM_CLI_H

#include "core/config.h"

/* Exit codes (DESIGN.md "Commands"). */
enum {
    EXIT_OK = 0,
    EXIT_USAGE = 1,    /* usage or config error */
    EXIT_FOUND = 2,    /* a check found a difference or a violation */
    EXIT_REGION = 3,   /* a region or the catalog could not be reached or failed */
    EXIT_INTR = 4,     /* interrupted; safe to resume with the same command */
    EXIT_INTERNAL = 70 /* internal error */
};

typedef struct cli {
    const char *config_path; /* -c, else $DOMICILE_CONFIG, else ./domicile.yaml */
    int argc;                /* the command's own arguments, argv[0] = command */
    char **argv;
} cli;

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
/* Prints the message and returns the exit code for rc. */
int cli_fail(int rc);
/* SIGINT and SIGTERM set dom_interrupted: the mover stops at a safe point. */
void cli_catch_signals(void);
/* Loads the config; on failure reports and returns the exit code (> 0). */
int cli_load_config(cli *c, dom_config **out);
/* True when argv[i] is --help or -h. */
int cli_wants_help(int argc, char **argv);
int cli_usage_error(const char *cmd, const char *fmt, ...);
const cli_command *cli_find(const char *name);
/* Formats a byte count as "12.3 MB" into buf. */
const char *cli_bytes(char *buf, size_t n, double bytes);
/* Formats an integer with thousands separators. */
const char *cli_num(char *buf, size_t n, long long v);

int cmd_plan(cli *c);
int cmd_demo(cli *c);
int cmd_report(cli *c);
/* Prints the latency report of a config (and writes `html` when not NULL). */
int cli_print_latency(const char *config_path, const char *html, const char *first_csv);
int cmd_prepare(cli *c);
int cmd_apply(cli *c);
int cmd_rollback(cli *c);
int cmd_status(cli *c);
int cmd_verify(cli *c);
int cmd_locate(cli *c);
int cmd_audit(cli *c);
int cmd_erase(cli *c);
int cmd_pause(cli *c);
int cmd_resume(cli *c);
int cmd_throttle(cli *c);

#endif
