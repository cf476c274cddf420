/*
 * cmd_demo.c - `domicile demo`: creates the demo data set and tells the
 * story so far (the plan).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/mover.h"
#include "core/plan.h"
#include "core/verify.h"
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct demo_run {
    double *pauses;
    size_t npauses;
    int64_t rows, batches;
} demo_run;

static void demo_batch(const dom_batch *b, void *payload)
{
    demo_run *d = payload;
    double *g = dom_realloc(d->pauses, (d->npauses + 1) * sizeof(double));
    if (g) {
        d->pauses = g;
        d->pauses[d->npauses++] = b->pause_ms;
    }
    d->rows += b->rows;
    d->batches++;
    if (strcmp(b->step, "failed") == 0)
        printf("  batch %lld FAILED: %s\n", (long long)b->id, b->error);
}

/* Users and rows per region, now, from a fresh plan. */
static int census(const dom_config *cfg, int64_t *users, int64_t *rows, int64_t *violating)
{
    dom_plan *p;
    int rc = dom_plan_build(&p, cfg);
    if (rc < 0)
        return rc;
    for (size_t r = 0; r < cfg->nregions; r++)
        users[r] = rows[r] = 0;
    for (size_t i = 0; i < p->ntenants; i++) {
        users[p->tenants[i].cur]++;
        rows[p->tenants[i].cur] += p->tenants[i].rows;
    }
    *violating = p->violating_before;
    dom_plan_free(p);
    return 0;
}

/* The move itself: prepare, the waves under writer threads, verify, and
 * the before/after summary. */
static int demo_move(const char *cfgpath, const char *dir, int postgres)
{
    dom_config *cfg;
    int rc = dom_config_load(&cfg, cfgpath);
    if (rc < 0)
        return cli_fail(rc);
    int64_t ub[DOM_MAX_REGIONS], rb[DOM_MAX_REGIONS], ua[DOM_MAX_REGIONS], ra[DOM_MAX_REGIONS];
    int64_t vb = 0, va = 0;
    dom_prepare_report prep;
    dom_plan *p = NULL;
    dom_demo_writers *w = NULL;
    dom_demo_write_stats ws = {0};
    demo_run d = {0};
    char a[32], b[32], c[32], e[32];
    int exit_code = EXIT_OK;
    if ((rc = census(cfg, ub, rb, &vb)) < 0 || (rc = dom_prepare(cfg, &prep)) < 0 ||
        (rc = dom_plan_build(&p, cfg)) < 0)
        goto fail;
    printf("\nprepare: fences, change logs and triggers installed in %zu regions; %s users in "
           "the directory\n",
           prep.regions, cli_num(a, sizeof(a), prep.tenants_added + prep.tenants_known));
    /* the application: writers over every 4th user, wherever they live */
    size_t nk = 0;
    int64_t *keys = dom_calloc(p->ntenants / 4 + 1, sizeof(int64_t));
    int *where = dom_calloc(p->ntenants / 4 + 1, sizeof(int));
    for (size_t i = 0; keys && where && i < p->ntenants; i += 4) {
        keys[nk] = strtoll(p->keys + p->tenants[i].key_off, NULL, 10);
        where[nk++] = p->tenants[i].cur;
    }
    dom_plan_free(p);
    p = NULL;
    rc = keys && where ? dom_demo_writers_start(&w, cfg, keys, where, nk, 4) : DOM_ENOMEM;
    dom_free(keys);
    dom_free(where);
    if (rc < 0)
        goto fail;
    printf("4 writer threads keep inserting messages and renaming users for %s users while "
           "the waves run\n\n",
           cli_num(a, sizeof(a), (long long)nk));
    for (size_t i = 0; i < cfg->nwaves; i++) {
        dom_apply_opts o = {0};
        dom_apply_stats st;
        o.wave = cfg->waves[i].name;
        o.on_batch = demo_batch;
        o.payload = &d;
        int64_t before_batches = d.batches, before_rows = d.rows;
        rc = dom_apply(cfg, &o, &st);
        double wmax = 0;
        for (size_t k = 0; k < st.npauses; k++)
            wmax = st.pauses_ms[k] > wmax ? st.pauses_ms[k] : wmax;
        printf("wave %-8s %3lld batches, %8s tenants, %10s rows moved, write pause max %.1f ms\n",
               o.wave, (long long)(d.batches - before_batches), cli_num(a, sizeof(a), st.tenants),
               cli_num(b, sizeof(b), d.rows - before_rows), wmax);
        dom_apply_stats_free(&st);
        if (rc < 0)
            break;
        fflush(stdout);
    }
    dom_demo_writers_stop(w, &ws);
    w = NULL;
    if (rc < 0)
        goto fail;
    dom_verify_summary vs;
    if ((rc = dom_verify_run(cfg, &(dom_verify_opts){0}, &vs)) < 0 ||
        (rc = census(cfg, ua, ra, &va)) < 0)
        goto fail;
    printf("verify: %s users checked, %lld differences\n\n", cli_num(a, sizeof(a), vs.tenants),
           (long long)vs.differences);
    printf("%-12s %12s %12s %14s %14s\n", "region", "users before", "users after", "rows before",
           "rows after");
    for (size_t r = 0; r < cfg->nregions; r++)
        printf("%-12s %12s %12s %14s %14s\n", cfg->regions[r].name, cli_num(a, sizeof(a), ub[r]),
               cli_num(b, sizeof(b), ua[r]), cli_num(c, sizeof(c), rb[r]),
               cli_num(e, sizeof(e), ra[r]));
    if (d.npauses)
        qsort(d.pauses, d.npauses, sizeof(double), cmp_double);
    double p50 = d.npauses ? d.pauses[(d.npauses - 1) / 2] : 0;
    double p99 = d.npauses ? d.pauses[(size_t)(0.99 * (double)(d.npauses - 1) + 0.5)] : 0;
    double mx = d.npauses ? d.pauses[d.npauses - 1] : 0;
    printf("\nrows moved: %s in %lld batches; write pause per batch p50 %.1f ms, p99 %.1f ms, "
           "max %.1f ms\n",
           cli_num(a, sizeof(a), d.rows), (long long)d.batches, p50, p99, mx);
    printf("writes: %s acknowledged, %s retried (\"moving; retry\"), %s redirected (\"lives in "
           "region R\"), %lld failed\n",
           cli_num(a, sizeof(a), ws.writes), cli_num(b, sizeof(b), ws.retried),
           cli_num(c, sizeof(c), ws.redirected), (long long)ws.errors);
    if (ws.errors)
        printf("the last failed write: %s\n", ws.last_error);
    printf("tenants in violation of the residency policy: %s before, %s now\n",
           cli_num(a, sizeof(a), vb), cli_num(b, sizeof(b), va));
    if (vs.differences || va || ws.errors)
        exit_code = EXIT_FOUND;
    if (postgres)
        printf("\nThe PostgreSQL servers stop now; %s/domicile.db keeps the journal and the "
               "transfer log.\n",
               dir);
    else
        printf("\nNext: cd %s && domicile status; domicile verify; domicile rollback --wave "
               "asia\n",
               dir);
    dom_free(d.pauses);
    dom_config_free(cfg);
    return exit_code;
fail:
    if (w)
        dom_demo_writers_stop(w, &ws);
    dom_plan_free(p);
    dom_free(d.pauses);
    dom_config_free(cfg);
    return cli_fail(rc);
}

static dom_demo_pg demo_servers;

static void stop_servers(void)
{
    dom_demo_pg_stop(&demo_servers);
}

/* Starts the three servers, loads beijing and points the config at them. */
static int demo_postgres(const char *dir)
{
    static const char *const names[DOM_DEMO_PG_SERVERS] = {"beijing", "singapore", "us-east"};
    fprintf(stderr, "domicile demo: starting three PostgreSQL servers...\n");
    atexit(stop_servers);
    int rc = dom_demo_pg_start(&demo_servers);
    if (rc < 0)
        return rc;
    char path[4096], conninfo[256];
    for (int i = 0; i < DOM_DEMO_PG_SERVERS && rc == 0; i++) {
        snprintf(conninfo, sizeof(conninfo), "postgresql://postgres@127.0.0.1:%d/postgres",
                 demo_servers.port[i]);
        snprintf(path, sizeof(path), "%s/regions/beijing.db", dir);
        rc = dom_demo_pg_load(conninfo, i == 0 ? path : NULL);
    }
    if (rc < 0)
        return rc;
    /* the same config, with the servers' DSNs */
    dom_buf b = DOM_BUF_INIT;
    const char *p = dom_demo_config;
    for (;;) {
        const char *q = strstr(p, "sqlite:regions/");
        if (!q) {
            dom_buf_puts(&b, p);
            break;
        }
        dom_buf_put(&b, p, (size_t)(q - p));
        const char *name = q + strlen("sqlite:regions/");
        int i = 0;
        while (i < DOM_DEMO_PG_SERVERS && strncmp(name, names[i], strlen(names[i])) != 0)
            i++;
        dom_buf_printf(&b, "postgresql://postgres@127.0.0.1:%d/postgres",
                       i < DOM_DEMO_PG_SERVERS ? demo_servers.port[i] : 0);
        p = strchr(name, '"');
        if (!p)
            break;
    }
    snprintf(path, sizeof(path), "%s/domicile.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f || b.oom || fputs(dom_buf_cstr(&b), f) < 0) {
        if (f)
            fclose(f);
        dom_buf_free(&b);
        return dom_error_set(DOM_ERROR, "cannot write %s", path);
    }
    fclose(f);
    dom_buf_free(&b);
    printf("PostgreSQL servers on 127.0.0.1: beijing :%d (the data), singapore :%d and us-east "
           ":%d (empty); stopped at the end.\n\n",
           demo_servers.port[0], demo_servers.port[1], demo_servers.port[2]);
    fflush(stdout);
    return 0;
}

/* The story; cmd_demo runs it with stdout on stderr under --json. */
static int demo_story(const char *dir, long users, long seed, int plan, int postgres);

int cmd_demo(cli *c)
{
    const char *dir = "domicile-demo", *seed_s = NULL, *schema = NULL;
    int users = 20000, no_plan = 0, postgres = 0, npos;
    long seed = 42;
    const cli_opt opts[] = {{"dir", CLI_STR, &dir, 0, 0},
                            {"users", CLI_INT, &users, 1, 100000000},
                            {"seed", CLI_STR, &seed_s, 0, 0},
                            {"no-plan", CLI_FLAG, &no_plan, 0, 0},
                            {"postgres", CLI_FLAG, &postgres, 0, 0},
                            {"print-schema", CLI_STR, &schema, 0, 0},
                            {0}};
    int rc = cli_parse(c, opts, NULL, &npos, 0);
    if (rc)
        return rc;
    if (seed_s && parse_long(seed_s, &seed) < 0)
        return cli_usage_error("demo", "--seed needs a whole number, not \"%s\"", seed_s);
    if (schema) {
        if (strcmp(schema, "sqlite") != 0 && strcmp(schema, "postgresql") != 0)
            return cli_usage_error("demo", "--print-schema takes sqlite or postgresql");
        fputs(strcmp(schema, "sqlite") == 0 ? dom_demo_schema : dom_demo_schema_pg, stdout);
        return EXIT_OK;
    }
    if (!c->json)
        return demo_story(dir, users, seed, !no_plan, postgres);
    /* --json: the story goes to stderr, the outcome is the document */
    fflush(stdout);
    int out = dup(1);
    if (out < 0 || dup2(2, 1) < 0)
        return cli_fail(dom_error_set(DOM_ERROR, "demo: cannot redirect stdout"));
    cli_json_mode(0); /* the story's commands print text */
    rc = demo_story(dir, users, seed, !no_plan, postgres);
    cli_json_mode(1);
    fflush(stdout);
    dup2(out, 1);
    close(out);
    if (rc == EXIT_OK || rc == EXIT_FOUND) {
        char cfgpath[4096];
        snprintf(cfgpath, sizeof(cfgpath), "%s/domicile.yaml", dir);
        cli_json_print(json_pack("{s:b,s:s,s:s,s:i,s:I,s:s,s:b}", "ok", rc == EXIT_OK, "dir", dir,
                                 "config", cfgpath, "users", users, "seed", (json_int_t)seed,
                                 "engine", postgres ? "postgresql" : "sqlite", "moved", !no_plan));
    } else {
        const char *m = dom_error_last();
        cli_json_print(json_pack("{s:b,s:o}", "ok", 0, "error",
                                 cli_error_json(rc, *m ? m : "the demo failed (see stderr)")));
    }
    return rc;
}

static int demo_story(const char *dir, long users, long seed, int plan, int postgres)
{
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
    if (postgres) {
        /* Ctrl-C stops the waves at a safe point, then the servers */
        cli_catch_signals();
        if ((rc = demo_postgres(dir)) < 0 ||
            (dom_interrupted && (rc = dom_error_set(DOM_EINTR, "interrupted")) < 0)) {
            stop_servers();
            return cli_fail(rc);
        }
    }
    if (!plan) {
        stop_servers();
        return EXIT_OK;
    }
    fflush(stdout);
    char cfgpath[4096];
    snprintf(cfgpath, sizeof(cfgpath), "%s/domicile.yaml", dir);
    char *argv[] = {"plan", NULL};
    cli pc = {cfgpath, 1, argv, 0};
    if ((rc = cmd_plan(&pc)) != EXIT_OK)
        return rc;
    char html[4096];
    snprintf(html, sizeof(html), "%s/latency.html", dir);
    printf("\nRound trip from users to their data, now and once they live where the policy "
           "says (ms):\n");
    fflush(stdout);
    if ((rc = cli_print_latency(cfgpath, NULL, "SG,IN,MY")) != EXIT_OK ||
        (rc = cli_print_latency(cfgpath, html, "SG,IN,MY")) != EXIT_OK) {
        stop_servers();
        return rc;
    }
    rc = demo_move(cfgpath, dir, postgres);
    stop_servers();
    return rc;
}
