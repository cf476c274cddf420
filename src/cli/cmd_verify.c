/*
 * cmd_verify.c - `domicile verify`: prints the differences found by
 * dom_verify_run as lines or as one JSON document.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/verify.h"

typedef struct vctx {
    int json;
    json_t *diffs;
    int64_t shown;
} vctx;

static int on_diff(const char *home, const char *other, const char *table, dom_diff_kind kind,
                   const char *tenant, const char *pk, void *payload)
{
    vctx *v = payload;
    static const char *const kinds[] = {"", "missing", "extra", "changed"};
    if (v->json) {
        json_error_t e;
        json_t *o = json_pack("{s:o,s:s,s:s,s:s,s:s,s:o}", "tenant",
                              json_loads(tenant, JSON_DECODE_ANY, &e), "home", home, "other", other,
                              "table", table, "kind", kinds[kind], "pk",
                              json_loads(pk, JSON_DECODE_ANY, &e));
        json_array_append_new(v->diffs, o);
    } else {
        printf("tenant %s, table %s: row %s is %s in region %s (home %s)\n", tenant, table, pk,
               kind == DOM_DIFF_MISSING ? "missing"
               : kind == DOM_DIFF_EXTRA ? "extra"
                                        : "changed",
               other, home);
    }
    v->shown++;
    return 0;
}

static int on_transfer(int64_t batch, const char *home, const char *table, int64_t rows_now,
                       int64_t rows_then, int64_t bytes_now, int64_t bytes_then, void *payload)
{
    vctx *v = payload;
    if (v->json) {
        json_array_append_new(
            v->diffs,
            json_pack("{s:I,s:s,s:o,s:I,s:I,s:I,s:I}", "batch", (json_int_t)batch, "home", home,
                      "table", table ? json_string(table) : json_null(), "rows_now",
                      (json_int_t)rows_now, "rows_transferred", (json_int_t)rows_then, "bytes_now",
                      (json_int_t)bytes_now, "bytes_transferred", (json_int_t)bytes_then));
    } else if (table) {
        printf("batch %lld, table %s: %lld rows (%lld bytes) in region %s now, %lld rows (%lld "
               "bytes) transferred\n",
               (long long)batch, table, (long long)rows_now, (long long)bytes_now, home,
               (long long)rows_then, (long long)bytes_then);
    } else {
        printf("batch %lld: the rows in region %s now are as many as transferred, with other "
               "contents\n",
               (long long)batch, home);
    }
    v->shown++;
    return 0;
}

static int on_transfer_row(int64_t batch, const char *home, const char *table, dom_diff_kind kind,
                           const char *pk, void *payload)
{
    vctx *v = payload;
    static const char *const kinds[] = {"", "missing", "extra", "changed"};
    if (v->json) {
        json_error_t e;
        json_array_append_new(v->diffs,
                              json_pack("{s:I,s:s,s:s,s:s,s:o}", "batch", (json_int_t)batch, "home",
                                        home, "table", table, "kind", kinds[kind], "pk",
                                        json_loads(pk, JSON_DECODE_ANY, &e)));
    } else {
        printf("batch %lld, table %s: row %s %s in region %s since the transfer\n",
               (long long)batch, table, pk,
               kind == DOM_DIFF_MISSING ? "is missing"
               : kind == DOM_DIFF_EXTRA ? "was added"
                                        : "changed",
               home);
    }
    v->shown++;
    return 0;
}

int cmd_verify(cli *c)
{
    dom_verify_opts o = {0};
    vctx v = {0};
    int npos;
    const cli_opt opts[] = {{"wave", CLI_STR, &o.wave, 0, 0},
                            {"tenant", CLI_STR, &o.tenant, 0, 0},
                            {"transfers", CLI_FLAG, &o.transfers, 0, 0},
                            {0}};
    int rc = cli_parse(c, opts, NULL, &npos, 0);
    if (rc)
        return rc;
    v.json = c->json;
    if (o.wave && o.tenant)
        return cli_usage_error("verify", "--wave and --tenant exclude each other");
    if (o.transfers && (o.wave || o.tenant))
        return cli_usage_error("verify", "--transfers checks every transfer of the log");
    dom_config *cfg;
    if ((rc = cli_load_config(c, &cfg)))
        return rc;
    o.on_diff = on_diff;
    o.on_transfer = on_transfer;
    o.on_transfer_row = on_transfer_row;
    o.payload = &v;
    if (v.json)
        v.diffs = json_array();
    dom_verify_summary s;
    rc = dom_verify_run(cfg, &o, &s);
    dom_config_free(cfg);
    if (rc < 0) {
        json_decref(v.diffs);
        return cli_fail(rc);
    }
    if (o.transfers && v.json) {
        json_t *root =
            json_pack("{s:b,s:I,s:I,s:I,s:I,s:o}", "ok", s.differences == 0, "transfers",
                      (json_int_t)s.transfers, "transfers_skipped", (json_int_t)s.transfers_skip,
                      "rows_compared", (json_int_t)s.rows_compared, "differences",
                      (json_int_t)s.differences, "diffs", v.diffs);
        cli_json_print(root);
    } else if (o.transfers) {
        printf("verify: %lld transfer%s checked against the transfer log (%lld not: a tenant "
               "moved or is moving since), %lld row%s at home, %lld difference%s\n",
               (long long)s.transfers, CLI_S(s.transfers), (long long)s.transfers_skip,
               (long long)s.rows_compared, CLI_S(s.rows_compared), (long long)s.differences,
               CLI_S(s.differences));
    } else if (v.json) {
        json_t *root =
            json_pack("{s:b,s:I,s:I,s:I,s:I,s:o}", "ok", s.differences == 0, "tenants",
                      (json_int_t)s.tenants, "tenants_elsewhere", (json_int_t)s.elsewhere,
                      "rows_compared", (json_int_t)s.rows_compared, "differences",
                      (json_int_t)s.differences, "diffs", v.diffs);
        cli_json_print(root);
    } else {
        printf("verify: %lld tenant%s, %lld with rows outside their home, %lld row%s compared, "
               "%lld difference%s\n",
               (long long)s.tenants, CLI_S(s.tenants), (long long)s.elsewhere,
               (long long)s.rows_compared, CLI_S(s.rows_compared), (long long)s.differences,
               CLI_S(s.differences));
    }
    return s.differences ? EXIT_FOUND : EXIT_OK;
}
