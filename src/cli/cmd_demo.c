/*
 * cmd_demo.c - `domicile demo`: creates the demo data set and tells the
 * story so far (the plan).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "demo/demo.h"
#include "util/util.h"

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno)
        return -1;
    *out = v;
    return 0;
}

int cmd_demo(cli *c)
{
    const char *dir = "domicile-demo";
    long users = 20000, seed = 42;
    int plan = 1;
    for (int i = 1; i < c->argc; i++) {
        const char *a = c->argv[i];
        if (strcmp(a, "--dir") == 0 && i + 1 < c->argc) {
            dir = c->argv[++i];
        } else if (strcmp(a, "--users") == 0 && i + 1 < c->argc) {
            if (parse_long(c->argv[++i], &users) < 0 || users < 1 || users > 100000000)
                return cli_usage_error("demo", "--users needs a number from 1 to 100000000");
        } else if (strcmp(a, "--seed") == 0 && i + 1 < c->argc) {
            if (parse_long(c->argv[++i], &seed) < 0)
                return cli_usage_error("demo", "--seed needs a number");
        } else if (strcmp(a, "--no-plan") == 0) {
            plan = 0;
        } else {
            return cli_usage_error("demo", "unexpected argument \"%s\"", a);
        }
    }
    dom_demo_stats st;
    char n1[32];
    fprintf(stderr, "domicile demo: creating %s with %s users...\n", dir,
            cli_num(n1, sizeof(n1), users));
    int rc = dom_demo_generate(dir, users, (uint64_t)seed, &st);
    if (rc < 0)
        return cli_fail(rc);
    printf("Beijing holds every user's cloud data today:\n");
    for (int t = 0; t < DOM_DEMO_TABLES; t++)
        printf("  %-10s %12s rows\n", dom_demo_table_names[t], cli_num(n1, sizeof(n1), st.rows[t]));
    printf("Singapore and us-east are empty.  The config is %s/domicile.yaml.\n\n", dir);
    if (!plan)
        return EXIT_OK;
    fflush(stdout);
    char cfg[4096];
    snprintf(cfg, sizeof(cfg), "%s/domicile.yaml", dir);
    char *argv[] = {"plan", NULL};
    cli pc = {cfg, 1, argv};
    rc = cmd_plan(&pc);
    if (rc != EXIT_OK)
        return rc;
    char html[4096];
    snprintf(html, sizeof(html), "%s/latency.html", dir);
    printf("\nRound trip from users to their data, now and after the move (ms):\n");
    fflush(stdout);
    if ((rc = cli_print_latency(cfg, NULL, "SG,IN,MY")) != EXIT_OK ||
        (rc = cli_print_latency(cfg, html, "SG,IN,MY")) != EXIT_OK)
        return rc;
    printf("\nNext: the mover (prepare, apply) is not available in this version yet;\n"
               "explore with: domicile -c %s plan --wave canary --json\n", cfg);
    return rc;
}
