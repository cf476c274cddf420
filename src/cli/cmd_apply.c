/*
 * cmd_apply.c - `domicile prepare`, `apply` and `rollback`: argument
 * parsing, progress and summaries around core/mover.c.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/control.h"
#include "core/mover.h"
#include "core/plan.h"
#include "util/util.h"

int cmd_prepare(cli *c)
{
    int remove = 0, npos;
    const cli_opt opts[] = {{"remove", CLI_FLAG, &remove, 0, 0}, {0}};
    int rc = cli_parse(c, opts, NULL, &npos, 0);
    if (rc)
        return rc;
    dom_config *cfg;
    if ((rc = cli_load_config(c, &cfg)))
        return rc;
    if (remove) {
        rc = dom_prepare_remove(cfg);
        if (rc == 0 && c->json)
            cli_json_print(json_pack("{s:b,s:s,s:I}", "ok", 1, "action", "remove", "regions",
                                     (json_int_t)cfg->nregions));
        else if (rc == 0)
            printf("removed fences, change logs and triggers from %zu region%s; data untouched\n",
                   cfg->nregions, cfg->nregions == 1 ? "" : "s");
    } else {
        dom_prepare_report rep;
        rc = dom_prepare(cfg, &rep);
        if (rc == 0 && c->json) {
            cli_json_print(json_pack("{s:b,s:s,s:I,s:I,s:I,s:I}", "ok", 1, "action", "prepare",
                                     "regions", (json_int_t)rep.regions, "tables_created",
                                     (json_int_t)rep.tables_created, "tenants_added",
                                     (json_int_t)rep.tenants_added, "tenants_known",
                                     (json_int_t)rep.tenants_known));
        } else if (rc == 0) {
            char a[32], b[32];
            if (rep.tables_created)
                printf("created %zu table%s that regions lacked, as the reference region has "
                       "them\n",
                       rep.tables_created, rep.tables_created == 1 ? "" : "s");
            printf("prepared %zu region%s: fences, change logs, residency guard and triggers "
                   "installed\n",
                   rep.regions, rep.regions == 1 ? "" : "s");
            printf("directory: %s tenant%s added, %s already known\n",
                   cli_num(a, sizeof(a), rep.tenants_added), CLI_S(rep.tenants_added),
                   cli_num(b, sizeof(b), rep.tenants_known));
        }
    }
    dom_config_free(cfg);
    return rc < 0 ? cli_fail(rc) : EXIT_OK;
}

typedef struct progress {
    int tty, json, quiet, dry_run;
    int retain;      /* options.retain_source: flipped sources wait for it */
    json_t *planned; /* --json: the waves as planned */
    int64_t total_tenants, done_tenants, rows, erased_batches;
    double t0;
    json_t *batches;
    json_t *controls; /* live control events (--json) */
    int health;       /* the last health level seen */
} progress;

static void on_planned(const char *wave, int64_t batches, int64_t tenants, void *payload)
{
    progress *p = payload;
    char a[32];
    if (tenants > 0)
        p->total_tenants += tenants;
    if (p->json) {
        json_t *w = tenants < 0 ? json_pack("{s:s,s:I,s:n}", "wave", wave, "batches",
                                            (json_int_t)batches, "tenants")
                                : json_pack("{s:s,s:I,s:I}", "wave", wave, "batches",
                                            (json_int_t)batches, "tenants", (json_int_t)tenants);
        json_array_append_new(p->planned, w);
        return;
    }
    if (p->quiet)
        return;
    /* a dry run's plan is its result (stdout); a run's is its progress */
    FILE *out = p->dry_run ? stdout : stderr;
    if (tenants < 0)
        fprintf(out, "resuming %lld unfinished batch%s\n", (long long)batches,
                batches == 1 ? "" : "es");
    else
        fprintf(out, "wave %s: %lld batch%s, %s tenant%s\n", wave, (long long)batches,
                batches == 1 ? "" : "es", cli_num(a, sizeof(a), tenants), tenants == 1 ? "" : "s");
}

static void on_batch(const dom_batch *b, void *payload)
{
    progress *p = payload;
    char a[32], r[32];
    p->done_tenants += b->tenants;
    p->rows += b->rows;
    if (p->json) {
        json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:f}", "batch", (json_int_t)b->id,
                              "wave", b->wave, "from", b->src, "to", b->dst, "step", b->step,
                              "tenants", (json_int_t)b->tenants, "rows", (json_int_t)b->rows,
                              "erased", (json_int_t)b->erased, "pause_ms", b->pause_ms);
        if (b->error[0])
            json_object_set_new(o, "error", json_string(b->error));
        json_array_append_new(p->batches, o);
        return;
    }
    if (p->quiet)
        return;
    if (p->tty) {
        double el = dom_mono() - p->t0, rate = el > 0 ? (double)p->rows / el : 0;
        double frac = p->total_tenants ? (double)p->done_tenants / (double)p->total_tenants : 1;
        if (frac > 1)
            frac = 1;
        int width = 30, fill = (int)(frac * width);
        double eta = frac > 0 ? el / frac - el : 0;
        fprintf(stderr, "\r[%.*s%*s] %s/%lld tenants  %s rows/s  ETA %.0fs   ", fill,
                "##############################", width - fill, "",
                cli_num(a, sizeof(a), p->done_tenants), (long long)p->total_tenants,
                cli_num(r, sizeof(r), (long long)rate), eta);
        if (strcmp(b->step, "failed") == 0)
            fprintf(stderr, "\nbatch %lld failed: %s\n", (long long)b->id, b->error);
        return;
    }
    if (strcmp(b->step, "failed") == 0)
        printf("batch %lld (%s) %s -> %s: FAILED: %s\n", (long long)b->id, b->wave, b->src, b->dst,
               b->error);
    else
        printf("batch %lld (%s) %s -> %s: %lld tenants, %s rows, %s, pause %.1f ms\n",
               (long long)b->id, b->wave, b->src, b->dst, (long long)b->tenants,
               cli_num(a, sizeof(a), b->rows),
               strcmp(b->step, "done") == 0 ? "source erased"
               : p->retain                  ? "source retained"
                                            : "source read-only until the erasure phase",
               b->pause_ms);
    fflush(stdout);
}

/* The erasure phase erased a batch's source: a line (a count on a
 * terminal), or its JSON entry says so. */
static void on_erased(const dom_batch *b, void *payload)
{
    progress *p = payload;
    size_t i;
    json_t *e;
    char a[32];
    p->erased_batches++;
    if (!p->json && !p->quiet && p->tty) {
        fprintf(stderr, "\rerasing the sources: %lld batch%s done   ", (long long)p->erased_batches,
                p->erased_batches == 1 ? "" : "es");
        return;
    }
    if (!p->json) {
        if (!p->quiet)
            printf("batch %lld (%s) %s: source erased, %s rows\n", (long long)b->id, b->wave,
                   b->src, cli_num(a, sizeof(a), b->erased));
        return;
    }
    json_array_foreach(p->batches, i, e)
    {
        if (json_integer_value(json_object_get(e, "batch")) == b->id) {
            json_object_set_new(e, "step", json_string(b->step));
            json_object_set_new(e, "erased", json_integer(b->erased));
            return;
        }
    }
}

/* The live control changed (domicile pause / resume / throttle): one
 * line on stderr, and in the JSON document the events with their time. */
static void on_control(const dom_control *c, void *payload)
{
    progress *p = payload;
    char a[32];
    double at = dom_mono() - p->t0;
    int health_changed = c->health != p->health;
    p->health = c->health;
    if (p->json) {
        json_t *e = json_pack("{s:f,s:b,s:f,s:s,s:i}", "at_seconds", at, "paused", c->paused,
                              "rows_per_second", c->rate, "rate_from",
                              c->rate_live ? "throttle" : "config", "health", c->health);
        if (c->health)
            json_object_set_new(e, "health_reason", json_string(c->health_why));
        if (c->health_rate > 0)
            json_object_set_new(e, "health_rows_per_second", json_real(c->health_rate));
        if (!p->controls)
            p->controls = json_array();
        json_array_append_new(p->controls, e);
        return;
    }
    if (p->quiet)
        return;
    if (p->tty && p->done_tenants)
        fputc('\n', stderr);
    if (health_changed) {
        if (c->health == 2)
            fprintf(stderr, "waiting at a safe point: %s\n", c->health_why);
        else if (c->health == 1)
            fprintf(stderr, "slowing down to %s rows/s: %s\n",
                    cli_num(a, sizeof(a), (long long)c->health_rate), c->health_why);
        else if (c->health_rate > 0)
            fprintf(stderr, "going on at %s rows/s, growing: %s\n",
                    cli_num(a, sizeof(a), (long long)c->health_rate), c->health_why);
        else
            fprintf(stderr, "going on at full rate: %s\n", c->health_why);
    } else if (c->paused) {
        fprintf(stderr, "paused by 'domicile pause' (at %s): waiting at a safe point\n",
                c->paused_at);
    } else if (c->rate > 0) {
        fprintf(stderr, "running at most %s rows/s (%s)\n",
                cli_num(a, sizeof(a), (long long)c->rate),
                c->rate_live ? "domicile throttle" : "options.max_rows_per_second");
    } else {
        fprintf(stderr, "running, no rate limit%s\n", c->rate_live ? " (domicile throttle 0)" : "");
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double q)
{
    if (!n)
        return 0;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static int run_apply(cli *c, const char *cmd, int rollback)
{
    dom_apply_opts o = {0};
    progress p = {0};
    int npos;
    const cli_opt apply_opts[] = {{"wave", CLI_STR, &o.wave, 0, 0},
                                  {"workers", CLI_INT, &o.workers, 1, 64},
                                  {"dry-run", CLI_FLAG, &o.dry_run, 0, 0},
                                  {"quiet", CLI_FLAG, &p.quiet, 0, 0},
                                  {0}};
    const cli_opt rollback_opts[] = {
        {"wave", CLI_STR, &o.wave, 0, 0}, {"quiet", CLI_FLAG, &p.quiet, 0, 0}, {0}};
    int rc = cli_parse(c, rollback ? rollback_opts : apply_opts, NULL, &npos, 0);
    if (rc)
        return rc;
    p.json = c->json;
    p.dry_run = o.dry_run;
    if (rollback && !o.wave)
        return cli_usage_error(cmd, "--wave NAME is required");
    dom_config *cfg;
    if ((rc = cli_load_config(c, &cfg)))
        return rc;
    if (o.wave && dom_plan_wave_index(cfg, o.wave) < 0) {
        rc = dom_error_set(DOM_ENOTFOUND, "%s: no wave named \"%s\" in %s", cmd, o.wave, cfg->path);
        dom_config_free(cfg);
        return cli_fail(rc);
    }
    o.rollback = rollback;
    o.on_batch = on_batch;
    o.on_erased = on_erased;
    o.on_planned = on_planned;
    p.retain = cfg->options.retain_source_sec > 0;
    o.on_control = on_control;
    o.payload = &p;
    p.tty = isatty(2) && !p.json;
    p.t0 = dom_mono();
    if (p.json) {
        p.batches = json_array();
        p.planned = json_array();
    }
    cli_catch_signals();
    /* the round trips before the first wave, for `report latency` and
     * the dashboard once tenants have moved */
    if (!o.dry_run && !rollback && (rc = cli_latency_record(cfg)) < 0)
        fprintf(stderr, "domicile: %s: the round trips before the move were not recorded: %s\n",
                cmd, dom_error_last());
    dom_apply_stats st;
    rc = dom_apply(cfg, &o, &st);
    double el = dom_mono() - p.t0;
    if (p.tty && p.done_tenants)
        fputc('\n', stderr);
    if (st.npauses)
        qsort(st.pauses_ms, st.npauses, sizeof(double), cmp_double);
    double p50 = pct(st.pauses_ms, st.npauses, 0.5), p99 = pct(st.pauses_ms, st.npauses, 0.99);
    double mx = st.npauses ? st.pauses_ms[st.npauses - 1] : 0;
    if (p.json) {
        json_t *root = json_pack(
            "{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:{s:f,s:f,s:f},s:o}", "ok", rc == 0,
            "batches_done", (json_int_t)st.batches_done, "batches_failed",
            (json_int_t)st.batches_failed, "batches_retained", (json_int_t)st.batches_retained,
            "tenants", (json_int_t)st.tenants, "rows", (json_int_t)st.rows, "bytes",
            (json_int_t)st.bytes, "erased", (json_int_t)st.erased, "seconds", el, "pause_ms", "p50",
            p50, "p99", p99, "max", mx, "batches", p.batches);
        json_t *steps = json_object();
        static const char *const names[] = {"arm",         "copy", "catch_up", "verify",
                                            "freeze_sync", "flip", "erase",    "other"};
        for (int i = 0; i < 7; i++)
            json_object_set_new(steps, names[i], json_real(st.step_sec[i]));
        json_object_set_new(root, "step_seconds", steps);
        json_object_set_new(root, "paused_seconds", json_real(st.paused_sec));
        /* batches in parallel, and the longest round trip to a region that
         * options.workers auto chose them from */
        json_object_set_new(root, "workers", json_integer(st.workers));
        json_object_set_new(root, "round_trip_ms", json_real(st.rtt_ms));
        /* from the start: to the last flip (every tenant served from its
         * new home), and to the last erasure of a source */
        json_object_set_new(root, "time_to_home_seconds", json_real(st.home_sec));
        json_object_set_new(root, "time_to_erased_seconds", json_real(st.erased_sec));
        json_object_set_new(root, "control", p.controls ? p.controls : json_array());
        json_object_set_new(root, "dry_run", json_boolean(o.dry_run));
        json_object_set_new(root, "planned", p.planned);
        if (rc < 0)
            json_object_set_new(root, "error",
                                cli_error_json(rc == DOM_EFAILED ? EXIT_FOUND
                                               : rc == DOM_EINTR ? EXIT_INTR
                                                                 : cli_exit_code(rc),
                                               dom_error_last()));
        cli_json_print(root);
    } else if (!o.dry_run && (st.batches_done || st.batches_retained || st.batches_failed)) {
        char a[32], b[32];
        printf("%s: %lld batch%s done, %lld retained, %lld failed; %s tenant%s, %s row%s in "
               "%.1f s; write pause p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
               cmd, (long long)st.batches_done, st.batches_done == 1 ? "" : "es",
               (long long)st.batches_retained, (long long)st.batches_failed,
               cli_num(a, sizeof(a), st.tenants), CLI_S(st.tenants), cli_num(b, sizeof(b), st.rows),
               CLI_S(st.rows), el, p50, p99, mx);
        if (st.home_sec > 0)
            printf("%s: home in %.1f s (the last flip), sources erased in %.1f s%s\n", cmd,
                   st.home_sec, st.erased_sec,
                   st.batches_retained ? " (some retained: options.retain_source)" : "");
        if (st.workers > 0)
            printf("%s: %d worker%s (the longest round trip to a region: %.1f ms)\n", cmd,
                   st.workers, st.workers == 1 ? "" : "s", st.rtt_ms);
        if (st.paused_sec >= 0.05)
            printf("%s: %.1f s of it waiting (domicile pause, or options.health)\n", cmd,
                   st.paused_sec);
    } else if (!o.dry_run && rc == 0) {
        printf("%s: nothing to do\n", cmd);
    }
    dom_apply_stats_free(&st);
    dom_config_free(cfg);
    if (rc == DOM_EFAILED) {
        cli_report();
        return EXIT_FOUND;
    }
    if (rc == DOM_EINTR) {
        fprintf(stderr,
                "domicile: %s: interrupted at a safe point; run the same command again "
                "to resume\n",
                cmd);
        return EXIT_INTR;
    }
    return rc < 0 ? cli_fail(rc) : EXIT_OK;
}

int cmd_apply(cli *c)
{
    return run_apply(c, "apply", 0);
}

int cmd_rollback(cli *c)
{
    return run_apply(c, "rollback", 1);
}
