/*
 * main.c - the domicile command: global options, the command table and
 * dispatch.  Each command lives in cmd_<name>.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/util.h"

static const cli_command commands[] = {
    {"plan", cmd_plan, "what would move, where, how much, compliance before/after",
     "usage: domicile [-c FILE] plan [--wave NAME] [--json] [--check]\n"
     "\n"
     "Shows per wave the tenants that would move, their rows and bytes, and the\n"
     "from -> to region pairs; and compliance (tenants whose rows sit in a region\n"
     "their policy does not allow) now and after the waves.  Reads the regions\n"
     "and the catalog's directory; writes nothing.\n"
     "\n"
     "  --wave NAME   only this wave (the waves before it are taken as done)\n"
     "  --json        one JSON document on stdout (docs/plan.md)\n"
     "  --check       exit 2 when tenants would still be in violation afterwards\n"},
    {"prepare", cmd_prepare, "install fences and triggers, check schemas, fill the directory",
     "usage: domicile [-c FILE] prepare [--remove] [--json]\n"
     "\n"
     "Checks that every region holds the same tenant tables, installs in each the\n"
     "fence and change-log tables, the residency guard and the triggers that answer\n"
     "writers (docs/writers.md), and adds every tenant to the directory where it is\n"
     "now.  Idempotent.  --remove takes all of it out again; data is untouched.\n"
     "Applications keep working meanwhile; on PostgreSQL a transaction that holds a\n"
     "tenant table longer than options.fence_wait makes it stop with exit 3 (run it\n"
     "again).\n"
     "\n"
     "  --remove      take domicile's tables and triggers out of every region\n"
     "  --json        one JSON document on stdout: regions, tables created, tenants\n"
     "                added and already known\n"},
    {"apply", cmd_apply, "run waves; resumes unfinished batches first",
     "usage: domicile [-c FILE] apply [--wave NAME] [--workers N] [--dry-run] [--quiet] [--json]\n"
     "\n"
     "Finishes unfinished batches first, then runs the waves in order (or one), in\n"
     "batches of options.batch_tenants: arm, copy, catch up, verify, freeze, final\n"
     "sync, flip; once every wave has flipped, the sources are erased (those whose\n"
     "options.erase_after has passed; until then read-only).  Each step is\n"
     "journaled, so after a crash or Ctrl-C (exit 4) the same command finishes the\n"
     "job.  Exit 2 when a batch failed (it is taken back; the reason is in\n"
     "status).  Exit 3 when a region failed, or when an application transaction\n"
     "held a batch's fence rows longer than options.fence_wait (PostgreSQL); rerun\n"
     "to go on.\n"
     "\n"
     "  --wave NAME   only this wave\n"
     "  --workers N   batches in parallel, 1 to 64 (default options.workers)\n"
     "  --dry-run     show what would run (the waves' batches and tenants) and stop\n"
     "  --quiet       no progress on stderr\n"
     "  --json        one JSON summary on stdout (docs/cli.md)\n"},
    {"status", cmd_status, "waves, batches, tenants per region, last errors",
     "usage: domicile [-c FILE] status [--json]\n"
     "\n"
     "Reads the catalog: whether prepare finished, the movers' control (paused,\n"
     "rate, health), tenants per region (and how many are moving), per wave the\n"
     "batches done, failed, retained and running with the tenants moved and the\n"
     "longest write pause, and the last ten batch errors.  Writes nothing.  Exit 5\n"
     "when there is no catalog yet.\n"
     "\n"
     "  --json        one JSON document on stdout\n"},
    {"verify", cmd_verify, "compare every row of a tenant across regions",
     "usage: domicile [-c FILE] verify [--wave NAME | --tenant KEY | --transfers] [--json]\n"
     "\n"
     "Compares every row of the chosen tenants (default: all) between their home\n"
     "and any other region holding rows of them, and lists the primary keys that\n"
     "are missing, extra or changed there.  With --transfers, checks the moved\n"
     "tenants instead: for every transfer of the log whose tenants still live\n"
     "where it put them, their rows at home now against the rows, bytes and\n"
     "content hash the log recorded (a row changed, added or removed at home\n"
     "since is a difference, named by batch and table, and by primary key with\n"
     "options.transfer_rows).  Exit 2 when it finds a difference.\n"},
    {"rollback", cmd_rollback, "move a wave's tenants back",
     "usage: domicile [-c FILE] rollback --wave NAME [--quiet] [--json]\n"
     "\n"
     "Moves the tenants of a wave's finished batches back to where they came from,\n"
     "in batches, with the same steps, journal and exit codes as apply (a rerun\n"
     "after a crash or Ctrl-C finishes the job).  Tenants moved since by a later\n"
     "wave are left where they are.\n"
     "\n"
     "  --wave NAME   the wave to take back (required)\n"
     "  --quiet       no progress on stderr\n"
     "  --json        one JSON summary on stdout, as apply's\n"},
    {"locate", cmd_locate, "where a tenant lives; where a new tenant should be created",
     "usage: domicile [-c FILE] locate KEY | --country CC [--json]\n"
     "\n"
     "With KEY: the region where the tenant lives as the directory knows it, its\n"
     "epoch (rises with every move), and whether it is moving now.  With --country:\n"
     "the region where a new tenant of that country should be created (its home,\n"
     "else the nearest allowed region).  Exit 5 when the tenant is not in the\n"
     "directory or there is no catalog yet.\n"
     "\n"
     "  --country CC  an ISO 3166-1 alpha-2 code\n"
     "  --json        one JSON document on stdout\n"},
    {"serve", cmd_serve, "HTTP: directory API, status, metrics, dashboard, live control",
     "usage: domicile [-c FILE] serve [--listen ADDR:PORT] [--token-file FILE]\n"
     "                                [--refresh-ms N] [--tls-cert FILE --tls-key FILE]\n"
     "\n"
     "Serves over HTTP until SIGTERM or Ctrl-C (docs/serve.md): GET /v1/locate/KEY\n"
     "and /v1/place?country=CC answered from the directory in memory (refreshed\n"
     "every --refresh-ms; each answer says how old it is), /v1/status (what\n"
     "'status --json' prints), /v1/audit (the last audit's summary), /metrics\n"
     "(Prometheus), / (a live dashboard), and POST /v1/pause, /v1/resume,\n"
     "/v1/throttle (only with the bearer token).  Runs beside any number of\n"
     "movers; reads the catalog and writes only the movers' control.\n"
     "\n"
     "  --listen ADDR:PORT  where to listen (default 127.0.0.1:8470; any other\n"
     "                      than this machine's loopback needs --token-file)\n"
     "  --token-file FILE   a token (16 to 510 characters on one line): every\n"
     "                      request but the page then needs 'Authorization:\n"
     "                      Bearer TOKEN'; control always does\n"
     "  --refresh-ms N      how often the directory is read again (default 1000)\n"
     "  --tls-cert FILE     serve HTTPS with this PEM certificate (chain) ...\n"
     "  --tls-key FILE      ... and this PEM private key\n"},
    {"audit", cmd_audit, "residency scan of every region + transfer-log chain check",
     "usage: domicile [-c FILE] audit [--json | --html FILE] [--export FILE]\n"
     "\n"
     "Scans every region: rows of tenants in a region their policy does not allow\n"
     "(per table and country), rows whose tenant is not in the directory, tenants\n"
     "with rows outside their home after erasure, directory entries whose home\n"
     "lacks the tenant; also the tables of audit.scan.  Recomputes the transfer\n"
     "log's SHA-256 chain and names the first bad entry.  Exit 2 on any finding.\n"
     "\n"
     "  --json          one JSON document on stdout\n"
     "  --html FILE     a self-contained page with charts\n"
     "  --export FILE   also write the transfer log, with its chain, as JSON Lines\n"},
    {"erase", cmd_erase, "erase retained source copies whose retain_source has passed",
     "usage: domicile [-c FILE] erase [--json]\n"
     "\n"
     "Erases, and records in the transfer log, the source copies that\n"
     "options.retain_source kept after their batch's flip, once the time has\n"
     "passed (apply does the same before new waves).\n"
     "\n"
     "  --json        one JSON document on stdout\n"},
    {"pause", cmd_pause, "pause running movers at their next safe point",
     "usage: domicile [-c FILE] pause [--json]\n"
     "\n"
     "Every mover of the catalog (apply, rollback, erase; one process or several)\n"
     "waits at its next safe point, within a second: between batches, between a\n"
     "batch's steps, or between chunks of a copy, never inside a write pause.\n"
     "Nothing is rolled back; 'domicile resume' lets them go on.  status shows it.\n"
     "\n"
     "  --json        one JSON document on stdout\n"},
    {"resume", cmd_resume, "let paused movers go on",
     "usage: domicile [-c FILE] resume [--json]\n"
     "\n"
     "Movers paused by 'domicile pause' go on from where they waited, within a\n"
     "second.\n"
     "\n"
     "  --json        one JSON document on stdout\n"},
    {"throttle", cmd_throttle, "set the running movers' rate in rows per second",
     "usage: domicile [-c FILE] throttle ROWS_PER_SECOND | off [--json]\n"
     "\n"
     "Every mover of the catalog moves at most ROWS_PER_SECOND rows per second from\n"
     "then on (0: no limit), in place of options.max_rows_per_second, within a\n"
     "second and without a restart; 'off' goes back to the config's rate.\n"
     "\n"
     "  --json        one JSON document on stdout\n"},
    {"report", cmd_report, "per market round trip to the data, now and after the policy",
     "usage: domicile [-c FILE] report latency [--json | --html FILE] [--first CC,CC,...]\n"
     "\n"
     "Per country, weighted by its tenants: the round trip from its users to their\n"
     "home now (the directory, else where the data is) and once the policy is\n"
     "applied, p50 and p90 over users, and the change; then one line for all users.\n"
     "Round trips come from measured city pairs, else the great-circle model\n"
     "(docs/geography.md); the config's latency: section overrides any pair.\n"
     "\n"
     "  --json         one JSON document on stdout\n"
     "  --html FILE    a self-contained page with before/after bars (inline SVG)\n"
     "  --first LIST   countries to list first, e.g. SG,IN,MY; the rest by users\n"},
    {"demo", cmd_demo, "the whole story on embedded SQLite regions",
     "usage: domicile demo [--dir DIR] [--users N] [--seed N] [--no-plan] [--postgres] [--json]\n"
     "\n"
     "Creates DIR (default ./domicile-demo) with regions/beijing.db holding a phone\n"
     "maker's cloud data for N users (default 20000), empty singapore.db and\n"
     "us-east.db with the same schema, and DIR/domicile.yaml; then tells the story:\n"
     "the plan, the round trips per market (DIR/latency.html), prepare, the three\n"
     "waves while writer threads keep writing, verify, and a before/after summary.\n"
     "The data is the same for the same seed (default 42).\n"
     "\n"
     "  --dir DIR     where to create it, parents included (a previous demo there\n"
     "                is replaced; other data is refused)\n"
     "  --users N     number of users\n"
     "  --seed N      random seed\n"
     "  --no-plan     only create the data set\n"
     "  --postgres    the same story on three local PostgreSQL servers that the demo\n"
     "                starts (initdb, pg_ctl; as the postgres OS user when run as root)\n"
     "                and stops at the end\n"
     "  --print-schema sqlite|postgresql   print the demo's schema and exit\n"
     "  --json        the story on stderr, and one JSON document on stdout: the\n"
     "                folder, the config, the users, and whether it ended well\n"
     "Exit 2 when verify finds a difference or a tenant is left in violation.\n"},
};

const cli_command *cli_find(const char *name)
{
    for (size_t i = 0; i < DOM_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int unknown_command(const char *name)
{
    const char *names[DOM_ARRAY_LEN(commands) + 2];
    size_t n = 0;
    for (size_t i = 0; i < DOM_ARRAY_LEN(commands); i++)
        names[n++] = commands[i].name;
    names[n++] = "help";
    names[n] = NULL;
    const char *near = cli_nearest(name, names);
    if (near)
        return cli_usage_error(NULL, "unknown command \"%s\"; did you mean \"%s\"?", name, near);
    return cli_usage_error(NULL, "unknown command \"%s\"", name);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: domicile [-c FILE] [-v] [--json] COMMAND [ARGS]\n"
                 "       domicile --version [--verbose]\n\n"
                 "domicile moves each user's data to the region where it belongs, online.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < DOM_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-9s %s\n", "help", "this list, or a command's options: domicile help COMMAND");
    fprintf(out,
            "\nglobal options, before or after the command:\n"
            "  -c, --config FILE   the config (else $DOMICILE_CONFIG, else ./domicile.yaml)\n"
            "  -v, --verbose       say more on stderr (twice: debug)\n"
            "  --json              one JSON document on stdout, also on failure:\n"
            "                      {\"ok\": false, \"error\": {\"kind\", \"exit\", \"message\"}}\n"
            "\nexit codes: 0 ok, 1 usage or config error, 2 a check found a difference,\n"
            "3 a region or the catalog failed, 4 interrupted (safe to resume), 5 not\n"
            "found (tenant, wave, batch, catalog), 75 busy (another process holds the\n"
            "catalog; try again), 70 internal error.  docs/cli.md has the details.\n");
}

static void version(int verbose)
{
    printf("domicile %s\n", DOMICILE_VERSION);
    if (verbose)
        printf("Country codes, names and coordinates: the world-countries package, version\n"
               "5.1.0 (Mohammed Le Doze and contributors), ODC Open Database License 1.0.\n"
               "Measured round trips: AWS inter-region ping snapshot published by\n"
               "cloudping.co (as embedded in libp2p/jvm-libp2p, 2023-03-08) and\n"
               "WonderNetwork/WonderProxy global ping data (2020-07-19/20).\n"
               "See docs/geography.md.\n");
}

/* `domicile help [COMMAND]` */
static int help(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return EXIT_OK;
    }
    const cli_command *cmd = cli_find(argv[1]);
    if (!cmd)
        return unknown_command(argv[1]);
    fputs(cmd->usage, stdout);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    cli c = {0};
    int i = 1;
    /* the global options before the command (cli_parse takes them after) */
    for (; i < argc && argv[i][0] == '-'; i++) {
        int g = cli_global_option(&c, argc, argv, &i);
        if (g < 0)
            return EXIT_USAGE;
        if (g)
            continue;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            version(i + 1 < argc && strcmp(argv[i + 1], "--verbose") == 0);
            return EXIT_OK;
        } else {
            static const char *const names[] = {"config", "verbose", "json",
                                                "help",   "version", NULL};
            const char *near = argv[i][1] == '-' ? cli_nearest(argv[i] + 2, names) : NULL;
            if (near)
                return cli_usage_error(NULL, "unknown option %s; did you mean --%s?", argv[i],
                                       near);
            return cli_usage_error(NULL, "unknown option %s", argv[i]);
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[i], "help") == 0)
        return help(argc - i, argv + i);
    const cli_command *cmd = cli_find(argv[i]);
    if (!cmd)
        return unknown_command(argv[i]);
    if (!c.config_path)
        c.config_path = getenv("DOMICILE_CONFIG");
    if (!c.config_path || !*c.config_path)
        c.config_path = "domicile.yaml";
    c.argc = argc - i;
    c.argv = argv + i;
    if (cli_wants_help(c.argc, c.argv)) {
        fputs(cmd->usage, stdout);
        return EXIT_OK;
    }
    return cmd->run(&c);
}
