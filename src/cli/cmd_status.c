/*
 * cmd_status.c - `domicile status` and `domicile locate`: what the catalog
 * knows about waves, batches and tenants.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/control.h"
#include "core/catalog.h"
#include "core/geo.h"
#include "util/util.h"

static int region_row(const dom_region_count *r, void *payload)
{
    json_array_append_new(payload,
                          json_pack("{s:s,s:I,s:I}", "region", r->region, "tenants",
                                    (json_int_t)r->tenants, "moving", (json_int_t)r->moving));
    return 0;
}

static int wave_row(const dom_wave_summary *w, void *payload)
{
    json_array_append_new(payload,
                          json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "wave", w->wave,
                                    "batches", (json_int_t)w->batches, "done", (json_int_t)w->done,
                                    "failed", (json_int_t)w->failed, "retained",
                                    (json_int_t)w->retained, "in_progress", (json_int_t)w->running,
                                    "tenants_moved", (json_int_t)w->tenants_moved, "rows",
                                    (json_int_t)w->rows, "max_pause_ms", w->max_pause_ms));
    return 0;
}

static int error_row(const dom_batch_error *e, void *payload)
{
    json_array_append_new(payload, json_pack("{s:I,s:s,s:s}", "batch", (json_int_t)e->batch, "wave",
                                             e->wave, "error", e->error));
    return 0;
}

json_t *cli_status_doc(dom_catalog *cat, const dom_config *cfg, dom_control *ctl, int *rc)
{
    char prep[1024];
    if ((*rc = dom_catalog_meta_get(cat, "prepare", prep, sizeof(prep))) < 0)
        return NULL;
    json_t *root = json_pack("{s:b}", "ok", 1), *regions = json_array(), *waves = json_array(),
           *errors = json_array();
    json_object_set_new(root, "prepare", json_string(prep[0] ? prep : "done"));
    json_object_set_new(root, "regions", regions);
    json_object_set_new(root, "waves", waves);
    json_object_set_new(root, "errors", errors);
    if ((*rc = dom_catalog_region_counts(cat, region_row, regions)) < 0 ||
        (*rc = dom_catalog_wave_summaries(cat, wave_row, waves)) < 0 ||
        (*rc = dom_catalog_batch_errors(cat, 10, error_row, errors)) < 0 ||
        (*rc = dom_control_read(cat, cfg, ctl)) < 0) {
        json_decref(root);
        return NULL;
    }
    json_t *jc = json_pack("{s:b,s:f,s:s}", "paused", ctl->paused, "rows_per_second", ctl->rate,
                           "rate_from", ctl->rate_live ? "throttle" : "config");
    if (ctl->paused)
        json_object_set_new(jc, "paused_at", json_string(ctl->paused_at));
    if (ctl->rate_live)
        json_object_set_new(jc, "rate_at", json_string(ctl->rate_at));
    json_object_set_new(jc, "health",
                        json_string(ctl->health == 2   ? "waiting"
                                    : ctl->health == 1 ? "slowed"
                                                       : "well"));
    if (ctl->health) {
        json_object_set_new(jc, "health_reason", json_string(ctl->health_why));
        json_object_set_new(jc, "health_since", json_string(ctl->health_at));
    }
    json_object_set_new(root, "control", jc);
    return root;
}

int cmd_status(cli *c)
{
    const cli_opt opts[] = {{0}};
    int npos, rc = cli_parse(c, opts, NULL, &npos, 0);
    if (rc)
        return rc;
    int json = c->json;
    dom_config *cfg;
    if ((rc = cli_load_config(c, &cfg)))
        return rc;
    dom_catalog *cat;
    if ((rc = dom_catalog_open(&cat, cfg, DOM_CATALOG_READONLY)) < 0) {
        dom_config_free(cfg);
        if (rc == DOM_ENOTFOUND)
            rc = dom_error_set(DOM_ENOTFOUND, "status: no catalog yet; run 'domicile prepare' "
                                              "first");
        return cli_fail(rc);
    }
    dom_control ctl;
    json_t *root = cli_status_doc(cat, cfg, &ctl, &rc);
    if (!root) {
        dom_catalog_close(cat);
        dom_config_free(cfg);
        return cli_fail(rc < 0 ? rc : DOM_ENOMEM);
    }
    const char *prep = json_string_value(json_object_get(root, "prepare"));
    json_t *regions = json_object_get(root, "regions"), *waves = json_object_get(root, "waves"),
           *errors = json_object_get(root, "errors");
    if (json) {
        cli_json_print(json_incref(root));
    } else {
        char a[32];
        size_t i;
        json_t *v;
        if (strncmp(prep, "unfinished", 10) == 0)
            printf("prepare did not finish (%s); run 'domicile prepare%s' again\n\n",
                   prep[10] == ':' ? prep + 12 : prep,
                   strcmp(prep, "unfinished removal") == 0 ? " --remove" : "");
        else if (strcmp(prep, "removed") == 0)
            printf("the regions' triggers were removed (prepare --remove); run 'domicile "
                   "prepare' before moving\n\n");
        if (ctl.paused)
            printf("movers: PAUSED since %s ('domicile resume' lets them go on)\n", ctl.paused_at);
        else
            printf("movers: running\n");
        if (ctl.health)
            printf("health: %s since %s: %s\n",
                   ctl.health == 2 ? "movers WAIT" : "movers slowed down", ctl.health_at,
                   ctl.health_why);
        if (ctl.rate > 0)
            printf("rate: at most %s rows/s (%s)\n", cli_num(a, sizeof(a), (long long)ctl.rate),
                   ctl.rate_live ? "domicile throttle" : "options.max_rows_per_second");
        else if (ctl.rate_live)
            printf("rate: no limit (domicile throttle 0)\n");
        printf("\n");
        printf("%-16s %12s %8s\n", "region", "tenants", "moving");
        json_array_foreach(regions, i, v)
            printf("%-16s %12s %8lld\n", json_string_value(json_object_get(v, "region")),
                   cli_num(a, sizeof(a), json_integer_value(json_object_get(v, "tenants"))),
                   (long long)json_integer_value(json_object_get(v, "moving")));
        printf("\n%-20s %8s %8s %8s %9s %8s %12s %10s\n", "wave", "batches", "done", "failed",
               "retained", "running", "tenants", "max pause");
        json_array_foreach(waves, i, v)
            printf("%-20s %8lld %8lld %8lld %9lld %8lld %12s %8.1fms\n",
                   json_string_value(json_object_get(v, "wave")),
                   (long long)json_integer_value(json_object_get(v, "batches")),
                   (long long)json_integer_value(json_object_get(v, "done")),
                   (long long)json_integer_value(json_object_get(v, "failed")),
                   (long long)json_integer_value(json_object_get(v, "retained")),
                   (long long)json_integer_value(json_object_get(v, "in_progress")),
                   cli_num(a, sizeof(a), json_integer_value(json_object_get(v, "tenants_moved"))),
                   json_real_value(json_object_get(v, "max_pause_ms")));
        if (json_array_size(waves) == 0)
            printf("(no batches yet)\n");
        if (json_array_size(errors)) {
            printf("\nlast errors:\n");
            json_array_foreach(errors, i, v)
                printf("  batch %lld (%s): %s\n",
                       (long long)json_integer_value(json_object_get(v, "batch")),
                       json_string_value(json_object_get(v, "wave")),
                       json_string_value(json_object_get(v, "error")));
        }
    }
    json_decref(root);
    dom_catalog_close(cat);
    dom_config_free(cfg);
    return EXIT_OK;
}

int cmd_locate(cli *c)
{
    const char *key = NULL, *country = NULL;
    const cli_opt opts[] = {{"country", CLI_STR, &country, 0, 0}, {0}};
    int npos, rc = cli_parse(c, opts, &key, &npos, 1);
    if (rc)
        return rc;
    if (!key == !country)
        return cli_usage_error("locate", "give a tenant KEY or --country CC");
    dom_ctx *ctx;
    if ((rc = dom_open(&ctx, c->config_path)) < 0)
        return cli_fail(rc);
    if (country) {
        char region[64];
        rc = dom_place(region, sizeof(region), ctx, country);
        if (rc == 0 && c->json)
            cli_json_print(
                json_pack("{s:b,s:s,s:s}", "ok", 1, "country", country, "region", region));
        else if (rc == 0)
            printf("%s\n", region);
    } else {
        dom_location loc;
        rc = dom_locate(&loc, ctx, key);
        if (rc == 0 && c->json)
            cli_json_print(json_pack("{s:b,s:s,s:s,s:I,s:s}", "ok", 1, "tenant", key, "region",
                                     loc.region, "epoch", (json_int_t)loc.epoch, "state",
                                     loc.state));
        else if (rc == 0)
            printf("%s epoch %lld%s\n", loc.region, (long long)loc.epoch,
                   strcmp(loc.state, "home") == 0 ? "" : " (moving)");
    }
    dom_close(ctx);
    return rc < 0 ? cli_fail(rc) : EXIT_OK;
}
