/*
 * cmd_audit.c - `domicile audit` (residency scan and transfer-log check, as
 * text, JSON or a self-contained HTML page; --export writes the log as JSON
 * Lines) and `domicile erase` (erases retained source copies that are due).
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/catalog.h"
#include "core/audit.h"
#include "core/mover.h"
#include "util/util.h"

static const char *const titles[] = {
    "rows where the policy does not allow them", "rows of tenants not in the directory",
    "tenants with rows outside their home after erasure",
    "directory entries whose home lacks the tenant", "tenants without a valid country"};

static json_t *result_json(const dom_audit_result *r, const dom_config *cfg)
{
    json_t *root = json_pack("{s:b}", "ok", r->nfindings == 0 && r->log_ok),
           *regions = json_array(), *findings = json_array();
    int64_t total = 0;
    for (size_t i = 0; i < cfg->nregions; i++)
        json_array_append_new(regions,
                              json_pack("{s:s,s:s,s:I,s:I}", "region", cfg->regions[i].name,
                                        "location", cfg->regions[i].country, "tenants",
                                        (json_int_t)r->tenants_per_region[i], "rows",
                                        (json_int_t)r->rows_per_region[i]));
    for (size_t i = 0; i < r->nfindings; i++) {
        const dom_finding *f = &r->findings[i];
        json_t *ex = json_array();
        for (size_t j = 0; j < f->nexamples; j++)
            json_array_append_new(ex, json_string(f->examples[j]));
        json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:o}", "kind", dom_finding_name(f->kind), "region",
                              cfg->regions[f->region].name, "rows", (json_int_t)f->rows, "tenants",
                              (json_int_t)f->tenants, "examples", ex);
        if (f->table[0])
            json_object_set_new(o, "table", json_string(f->table));
        if (f->country[0])
            json_object_set_new(o, "country", json_string(f->country));
        json_array_append_new(findings, o);
        total++;
    }
    json_object_set_new(root, "tenants", json_integer(r->tenants));
    json_object_set_new(root, "regions", regions);
    json_object_set_new(root, "findings", findings);
    json_t *log = json_pack("{s:I,s:b,s:s}", "entries", (json_int_t)r->log_entries, "ok", r->log_ok,
                            "head", r->log_head);
    if (!r->log_ok) {
        json_object_set_new(log, "first_bad", json_integer(r->log_first_bad));
        json_object_set_new(log, "problem", json_string(r->log_problem));
    }
    json_object_set_new(root, "transfer_log", log);
    (void)total;
    return root;
}

/* The audit's summary, kept in the catalog for `serve` (GET /v1/audit,
 * the dashboard, /metrics): when, by which version, for which config,
 * and the findings grouped by kind, region and country. */
static json_t *summary_json(const dom_audit_result *r, const dom_config *cfg)
{
    char now[32], sha[65];
    dom_iso_now(now);
    if (cli_config_sha256(cfg, sha) < 0)
        snprintf(sha, sizeof(sha), "unknown");
    json_t *groups = json_array();
    for (size_t i = 0; i < r->nfindings; i++) {
        const dom_finding *f = &r->findings[i];
        const char *kind = dom_finding_name(f->kind), *region = cfg->regions[f->region].name;
        json_t *g = NULL, *v;
        size_t j;
        json_array_foreach(
            groups, j,
            v) if (strcmp(json_string_value(json_object_get(v, "kind")), kind) == 0 &&
                   strcmp(json_string_value(json_object_get(v, "region")), region) == 0 &&
                   strcmp(json_string_value(json_object_get(v, "country")), f->country) == 0) g = v;
        if (!g) {
            g = json_pack("{s:s,s:s,s:s,s:I,s:I}", "kind", kind, "region", region, "country",
                          f->country, "rows", (json_int_t)0, "tenants", (json_int_t)0);
            json_array_append_new(groups, g);
        }
        json_object_set_new(g, "rows",
                            json_integer(json_integer_value(json_object_get(g, "rows")) + f->rows));
        json_object_set_new(
            g, "tenants",
            json_integer(json_integer_value(json_object_get(g, "tenants")) + f->tenants));
    }
    return json_pack("{s:s,s:f,s:s,s:s,s:b,s:I,s:{s:I,s:b},s:o}", "time", now, "unix_time",
                     (double)time(NULL), "version", DOMICILE_VERSION, "config_sha256", sha, "ok",
                     r->nfindings == 0 && r->log_ok, "tenants", (json_int_t)r->tenants,
                     "transfer_log", "entries", (json_int_t)r->log_entries, "ok", r->log_ok,
                     "groups", groups);
}

/* Keeps the summary in the catalog; a catalog that cannot take it is
 * reported, the audit's result stands. */
static void record_summary(const dom_audit_result *r, const dom_config *cfg)
{
    dom_catalog *cat;
    json_t *s = summary_json(r, cfg);
    char *text = s ? json_dumps(s, JSON_COMPACT) : NULL;
    json_decref(s);
    int rc = text ? dom_catalog_open(&cat, cfg, DOM_CATALOG_READONLY) : DOM_ENOMEM;
    if (rc == 0) {
        rc = strlen(text) < 60000 ? dom_catalog_meta_set(cat, "audit", text)
                                  : dom_error_set(DOM_ERROR, "the audit's summary is too long");
        dom_catalog_close(cat);
    }
    if (rc < 0 && rc != DOM_ENOTFOUND)
        fprintf(stderr, "domicile: audit: the summary was not kept in the catalog: %s\n",
                dom_error_last());
    free(text);
}

static void print_text(const dom_audit_result *r, const dom_config *cfg)
{
    char a[32], b[32];
    printf("%-16s %-8s %12s %14s\n", "region", "location", "tenants", "rows scanned");
    for (size_t i = 0; i < cfg->nregions; i++)
        printf("%-16s %-8s %12s %14s\n", cfg->regions[i].name, cfg->regions[i].country,
               cli_num(a, sizeof(a), r->tenants_per_region[i]),
               cli_num(b, sizeof(b), r->rows_per_region[i]));
    for (int k = 0; k < DOM_FIND_KINDS; k++) {
        int64_t n = 0;
        for (size_t i = 0; i < r->nfindings; i++)
            n += r->findings[i].kind == (dom_finding_kind)k;
        printf("\n%s: %s\n", titles[k], n ? "" : "none");
        for (size_t i = 0; i < r->nfindings; i++) {
            const dom_finding *f = &r->findings[i];
            if (f->kind != (dom_finding_kind)k)
                continue;
            printf("  region %s", cfg->regions[f->region].name);
            if (f->table[0])
                printf(", table %s", f->table);
            if (f->country[0])
                printf(f->kind == DOM_FIND_BAD_COUNTRY ? ": %s" : ", country %s", f->country);
            printf(": %s tenant%s, %s row%s; e.g.", cli_num(a, sizeof(a), f->tenants),
                   CLI_S(f->tenants), cli_num(b, sizeof(b), f->rows), CLI_S(f->rows));
            for (size_t j = 0; j < f->nexamples; j++)
                printf(" %s", f->examples[j]);
            printf("\n");
        }
    }
    printf("\ntransfer log: %lld entr%s, ", (long long)r->log_entries,
           r->log_entries == 1 ? "y" : "ies");
    if (r->log_ok)
        printf("chain intact (head %.16s...)\n", r->log_head);
    else
        printf("TAMPERED: first bad entry %lld: %s\n", (long long)r->log_first_bad, r->log_problem);
    printf("\n%s\n", r->nfindings == 0 && r->log_ok
                         ? "audit: no row sits where the policy forbids it; the log is intact"
                         : "audit: findings above");
}

/* A horizontal bar chart in inline SVG. */
static void bars(FILE *f, const char *const *labels, const int64_t *values, size_t n,
                 const char *color)
{
    int64_t max = 1;
    for (size_t i = 0; i < n; i++)
        max = values[i] > max ? values[i] : max;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"%zu\">\n",
            n * 24 + 8);
    for (size_t i = 0; i < n; i++) {
        double w = 480.0 * (double)values[i] / (double)max;
        fprintf(f, "<text x=\"170\" y=\"%zu\" text-anchor=\"end\" font-size=\"12\">", i * 24 + 17);
        cli_html_escape(f, labels[i]);
        fprintf(f,
                "</text><rect x=\"180\" y=\"%zu\" width=\"%.1f\" height=\"16\" fill=\"%s\"/>"
                "<text x=\"%.1f\" y=\"%zu\" font-size=\"11\">%lld</text>\n",
                i * 24 + 4, w, color, 186 + w, i * 24 + 17, (long long)values[i]);
    }
    fputs("</svg>\n", f);
}

static const dom_audit_result *sort_r;
static const dom_config *sort_cfg;

/* by region name, then country, then table */
static int finding_cmp(const void *a, const void *b)
{
    const dom_finding *x = &sort_r->findings[*(const size_t *)a],
                      *y = &sort_r->findings[*(const size_t *)b];
    int c = strcmp(sort_cfg->regions[x->region].name, sort_cfg->regions[y->region].name);
    if (!c)
        c = strcmp(x->country, y->country);
    return c ? c : strcmp(x->table, y->table);
}

/* The findings of one kind: a heading with their sum, then a row per
 * region, country and table. */
static void findings_of_kind(FILE *f, const dom_audit_result *r, const dom_config *cfg,
                             dom_finding_kind k)
{
    size_t n = 0, *idx = dom_calloc(r->nfindings ? r->nfindings : 1, sizeof(size_t));
    int64_t rows = 0, tenants = 0;
    for (size_t i = 0; idx && i < r->nfindings; i++)
        if (r->findings[i].kind == k) {
            idx[n++] = i;
            rows += r->findings[i].rows;
            tenants += r->findings[i].tenants;
        }
    if (!n) {
        dom_free(idx);
        return;
    }
    sort_r = r;
    sort_cfg = cfg;
    qsort(idx, n, sizeof(size_t), finding_cmp);
    fprintf(f, "<h3 class=\"bad\">%s (%s): %lld tenant%s, %lld row%s</h3>\n", titles[k],
            dom_finding_name(k), (long long)tenants, CLI_S(tenants), (long long)rows, CLI_S(rows));
    fputs("<table><tr><th>region</th><th>country</th><th>table</th><th>tenants</th>"
          "<th>rows</th><th>examples</th></tr>\n",
          f);
    for (size_t i = 0; i < n; i++) {
        const dom_finding *d = &r->findings[idx[i]];
        fputs("<tr><td>", f);
        cli_html_escape(f, cfg->regions[d->region].name);
        fputs("</td><td>", f);
        cli_html_escape(f, d->country);
        fputs("</td><td>", f);
        cli_html_escape(f, d->table);
        fprintf(f, "</td><td>%lld</td><td>%lld</td><td>", (long long)d->tenants,
                (long long)d->rows);
        for (size_t j = 0; j < d->nexamples; j++) {
            cli_html_escape(f, d->examples[j]);
            fputs(" ", f);
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    dom_free(idx);
}

static int write_html(const dom_audit_result *r, const dom_config *cfg, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return dom_error_set(DOM_EUSAGE, "cannot write %s", path);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<title>domicile audit</title><style>body{font:14px/1.4 system-ui,sans-serif;"
          "margin:2em;color:#222}table{border-collapse:collapse}td,th{padding:2px 10px;"
          "border-bottom:1px solid #ddd;text-align:left}.ok{color:#1a7f37}.bad{color:#b42318}"
          ".prov{color:#555}</style></head><body>\n<h1>Residency audit</h1>\n",
          f);
    cli_html_provenance(f, cfg);
    int ok = r->nfindings == 0 && r->log_ok;
    fprintf(f, "<p class=\"%s\"><b>%s</b></p>\n", ok ? "ok" : "bad",
            ok ? "No row sits where the policy forbids it; the transfer log is intact."
               : "Findings below.");
    fputs("<h2>Tenants per region</h2>\n", f);
    const char *labels[DOM_MAX_REGIONS];
    for (size_t i = 0; i < cfg->nregions; i++)
        labels[i] = cfg->regions[i].name;
    bars(f, labels, r->tenants_per_region, cfg->nregions, "#2a7ab9");
    fputs("<h2>Findings</h2>\n", f);
    const char *kl[DOM_FIND_KINDS];
    int64_t kv[DOM_FIND_KINDS] = {0};
    for (int k = 0; k < DOM_FIND_KINDS; k++)
        kl[k] = dom_finding_name((dom_finding_kind)k);
    for (size_t i = 0; i < r->nfindings; i++)
        kv[r->findings[i].kind] += r->findings[i].tenants;
    bars(f, kl, kv, DOM_FIND_KINDS, "#b42318");
    for (int k = 0; k < DOM_FIND_KINDS; k++)
        findings_of_kind(f, r, cfg, (dom_finding_kind)k);
    fprintf(f, "<h2>Transfer log</h2>\n<p class=\"%s\">%lld entries; ", r->log_ok ? "ok" : "bad",
            (long long)r->log_entries);
    if (r->log_ok)
        fprintf(f, "the SHA-256 chain is intact; head <code>%s</code>.</p>\n", r->log_head);
    else {
        fprintf(f, "first bad entry %lld: ", (long long)r->log_first_bad);
        cli_html_escape(f, r->log_problem);
        fputs("</p>\n", f);
    }
    fputs("</body></html>\n", f);
    return fclose(f) == 0 ? 0 : dom_error_set(DOM_EUSAGE, "cannot write %s", path);
}

int cmd_audit(cli *c)
{
    const char *html = NULL, *export = NULL;
    int npos;
    const cli_opt opts[] = {
        {"html", CLI_STR, &html, 0, 0}, {"export", CLI_STR, &export, 0, 0}, {0}};
    int rc = cli_parse(c, opts, NULL, &npos, 0);
    if (rc)
        return rc;
    int json = c->json;
    if (json && html)
        return cli_usage_error("audit", "--json and --html exclude each other");
    dom_config *cfg;
    if ((rc = cli_load_config(c, &cfg)))
        return rc;
    if (export) {
        int64_t n;
        rc = dom_audit_export(cfg, export, &n);
        if (rc == 0)
            fprintf(stderr, "domicile: audit: wrote %lld transfer-log entries to %s\n",
                    (long long)n, export);
    }
    dom_audit_result r;
    if (rc == 0)
        rc = dom_audit_run(cfg, &r);
    if (rc < 0) {
        dom_config_free(cfg);
        return cli_fail(rc);
    }
    record_summary(&r, cfg);
    if (json) {
        cli_json_print(result_json(&r, cfg));
    } else if (html) {
        if ((rc = write_html(&r, cfg, html)) < 0) {
            dom_audit_free(&r);
            dom_config_free(cfg);
            return cli_fail(rc);
        }
        printf("wrote %s\n", html);
    } else {
        print_text(&r, cfg);
    }
    int found = r.nfindings || !r.log_ok;
    dom_audit_free(&r);
    dom_config_free(cfg);
    return found ? EXIT_FOUND : EXIT_OK;
}

int cmd_erase(cli *c)
{
    const cli_opt opts[] = {{0}};
    int npos, rc = cli_parse(c, opts, NULL, &npos, 0);
    if (rc)
        return rc;
    dom_config *cfg;
    if ((rc = cli_load_config(c, &cfg)))
        return rc;
    dom_apply_opts o = {0};
    dom_apply_stats st;
    o.erase_only = 1;
    rc = dom_apply(cfg, &o, &st);
    if (rc == 0 && c->json)
        cli_json_print(json_pack("{s:b,s:I,s:I,s:I}", "ok", 1, "batches_erased",
                                 (json_int_t)st.batches_done, "rows_erased", (json_int_t)st.erased,
                                 "batches_retained", (json_int_t)st.batches_retained));
    else if (rc == 0)
        printf("erase: %lld batch%s erased (%lld row%s), %lld still retained\n",
               (long long)st.batches_done, st.batches_done == 1 ? "" : "es", (long long)st.erased,
               st.erased == 1 ? "" : "s", (long long)st.batches_retained);
    dom_apply_stats_free(&st);
    dom_config_free(cfg);
    return rc < 0 ? cli_fail(rc) : EXIT_OK;
}
