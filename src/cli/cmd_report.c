/*
 * cmd_report.c - `domicile report latency`: per market, the round trip to
 * the data now and after the policy, as a table, JSON or a self-contained
 * HTML page with inline SVG bars.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/catalog.h"
#include "core/geo.h"
#include "core/latency.h"
#include "core/plan.h"
#include "core/report.h"
#include "util/util.h"

#define MAX_FIRST 32
#define HTML_BARS 30
/* markets whose round trips the catalog keeps (the most users first) */
#define KEPT_MARKETS 60

static const char *region_name(const dom_config *cfg, int r)
{
    return r >= 0 ? cfg->regions[r].name : "-";
}

static double change_pct(double before, double after)
{
    return before > 0 ? 100.0 * (after - before) / before : 0;
}

static void print_text(const dom_latency_report *r, const dom_config *cfg, FILE *out)
{
    char a[32];
    fprintf(out, "%-8s %10s  %-12s %8s %8s  %-12s %8s %8s  %8s\n", "market", "users", "home now",
            "p50 ms", "p90 ms", "home after", "p50 ms", "p90 ms", "change");
    for (size_t i = 0; i < r->nrows; i++) {
        const dom_latency_row *w = &r->rows[i];
        fprintf(out, "%-8s %10s  %-12s %8.0f %8.0f  %-12s %8.0f %8.0f  %+7.0f%%\n",
                dom_countries[w->country].code, cli_num(a, sizeof(a), w->users),
                region_name(cfg, w->before_region), w->before_p50, w->before_p90,
                region_name(cfg, w->after_region), w->after_p50, w->after_p90,
                change_pct(w->before_p50, w->after_p50));
    }
    const dom_latency_row *o = &r->overall;
    fprintf(out, "%-8s %10s  %-12s %8.0f %8.0f  %-12s %8.0f %8.0f  %+7.0f%%\n", "all",
            cli_num(a, sizeof(a), o->users), "", o->before_p50, o->before_p90, "", o->after_p50,
            o->after_p90, change_pct(o->before_p50, o->after_p50));
    fprintf(out, "mean round trip over all users: %.0f ms now, %.0f ms after\n", o->before_mean,
            o->after_mean);
}

static json_t *row_json(const dom_latency_row *w, const dom_config *cfg)
{
    json_t *o = json_object();
    if (w->country >= 0) {
        json_object_set_new(o, "country", json_string(dom_countries[w->country].code));
        json_object_set_new(o, "name", json_string(dom_countries[w->country].name));
        json_object_set_new(o, "home_before",
                            w->before_region >= 0 ? json_string(region_name(cfg, w->before_region))
                                                  : json_null());
        json_object_set_new(o, "home_after",
                            w->after_region >= 0 ? json_string(region_name(cfg, w->after_region))
                                                 : json_null());
    }
    json_object_set_new(o, "users", json_integer(w->users));
    json_object_set_new(o, "before_p50_ms", json_real(w->before_p50));
    json_object_set_new(o, "before_p90_ms", json_real(w->before_p90));
    json_object_set_new(o, "after_p50_ms", json_real(w->after_p50));
    json_object_set_new(o, "after_p90_ms", json_real(w->after_p90));
    json_object_set_new(o, "before_mean_ms", json_real(w->before_mean));
    json_object_set_new(o, "after_mean_ms", json_real(w->after_mean));
    json_object_set_new(o, "change_p50_pct", json_real(change_pct(w->before_p50, w->after_p50)));
    if (w->country >= 0) {
        json_t *m = json_object(), *src = json_object();
        for (size_t r = 0; r < cfg->nregions; r++) {
            dom_rtt_source how;
            double ms = dom_rtt_country_region(cfg, dom_countries[w->country].code, (int)r, &how);
            json_object_set_new(m, cfg->regions[r].name, json_real(ms));
            json_object_set_new(src, cfg->regions[r].name, json_string(dom_rtt_source_name(how)));
        }
        json_object_set_new(o, "rtt_ms", m);
        json_object_set_new(o, "rtt_source", src);
    }
    return o;
}

static void print_json(const dom_latency_report *r, const dom_config *cfg, const char *kept)
{
    const dom_rtt_fit *fit = dom_rtt_model();
    json_t *root = json_pack("{s:b}", "ok", 1);
    /* where "before" comes from: the catalog's record of the first plan,
     * or the directory now */
    json_object_set_new(root, "before_from", json_string(kept[0] ? "recorded" : "now"));
    if (kept[0])
        json_object_set_new(root, "before_recorded_at", json_string(kept));
    json_t *markets = json_array();
    for (size_t i = 0; i < r->nrows; i++)
        json_array_append_new(markets, row_json(&r->rows[i], cfg));
    json_object_set_new(root, "markets", markets);
    json_object_set_new(root, "overall", row_json(&r->overall, cfg));
    json_t *model = json_object();
    json_object_set_new(model, "fixed_ms", json_real(fit->fixed_ms));
    json_object_set_new(model, "inflation", json_real(fit->inflation));
    json_object_set_new(model, "median_relative_error", json_real(fit->median_err));
    json_object_set_new(model, "measured_pairs", json_integer((json_int_t)fit->npairs));
    json_object_set_new(root, "model", model);
    cli_json_print(root);
}

/* ---- the round trips before the move, kept in the catalog -------------------- */

static json_t *kept_row(const dom_latency_row *w, const dom_config *cfg)
{
    json_t *o = json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:f}", "users", (json_int_t)w->users,
                          "before_p50_ms", w->before_p50, "before_p90_ms", w->before_p90,
                          "before_mean_ms", w->before_mean, "after_p50_ms", w->after_p50,
                          "after_p90_ms", w->after_p90, "after_mean_ms", w->after_mean);
    if (w->country >= 0)
        json_object_set_new(o, "country", json_string(dom_countries[w->country].code));
    if (w->before_region >= 0)
        json_object_set_new(o, "home_before", json_string(region_name(cfg, w->before_region)));
    return o;
}

int cli_latency_record(const dom_config *cfg)
{
    dom_catalog *cat;
    char have[8];
    int rc = dom_catalog_open(&cat, cfg, DOM_CATALOG_READONLY);
    if (rc < 0)
        return rc == DOM_ENOTFOUND ? 0 : rc;
    /* the first plan's figures stay: "before" is before the first wave */
    if ((rc = dom_catalog_meta_get(cat, "latency", have, sizeof(have))) < 0 || have[0]) {
        dom_catalog_close(cat);
        return rc;
    }
    dom_plan *p = NULL;
    dom_latency_report r = {0};
    if ((rc = dom_plan_build_ex(&p, cfg, DOM_PLAN_TENANTS_ONLY)) == 0 &&
        (rc = dom_latency_report_build(&r, p, NULL, 0)) == 0) {
        char now[32];
        dom_iso_now(now);
        json_t *markets = json_array();
        for (size_t i = 0; i < r.nrows && i < KEPT_MARKETS; i++)
            json_array_append_new(markets, kept_row(&r.rows[i], cfg));
        json_t *doc = json_pack("{s:s,s:o,s:o}", "time", now, "markets", markets, "overall",
                                kept_row(&r.overall, cfg));
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        rc = text ? dom_catalog_meta_set(cat, "latency", text) : DOM_ENOMEM;
        free(text);
        json_decref(doc);
    }
    dom_latency_report_free(&r);
    dom_plan_free(p);
    dom_catalog_close(cat);
    return rc;
}

/* The "before" of each market as the catalog kept it when the first wave
 * was planned (once moved, "now" is the after); *when gets its time, ""
 * when the catalog kept none. */
static void use_kept_before(dom_latency_report *r, const dom_config *cfg, char when[32])
{
    dom_catalog *cat;
    int rc;
    when[0] = '\0';
    if (dom_catalog_open(&cat, cfg, DOM_CATALOG_READONLY) < 0)
        return;
    json_t *doc = cli_meta_json(cat, "latency", &rc);
    dom_catalog_close(cat);
    if (!doc)
        return;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(doc, "markets"), i, m)
    {
        const char *cc = json_string_value(json_object_get(m, "country"));
        for (size_t k = 0; cc && k < r->nrows; k++) {
            dom_latency_row *w = &r->rows[k];
            if (strcmp(dom_countries[w->country].code, cc) != 0)
                continue;
            w->before_p50 = json_number_value(json_object_get(m, "before_p50_ms"));
            w->before_p90 = json_number_value(json_object_get(m, "before_p90_ms"));
            w->before_mean = json_number_value(json_object_get(m, "before_mean_ms"));
            const char *home = json_string_value(json_object_get(m, "home_before"));
            w->before_region = home ? dom_config_region(cfg, home) : -1;
        }
    }
    json_t *o = json_object_get(doc, "overall");
    r->overall.before_p50 = json_number_value(json_object_get(o, "before_p50_ms"));
    r->overall.before_p90 = json_number_value(json_object_get(o, "before_p90_ms"));
    r->overall.before_mean = json_number_value(json_object_get(o, "before_mean_ms"));
    const char *t = json_string_value(json_object_get(doc, "time"));
    snprintf(when, 32, "%s", t ? t : "?");
    json_decref(doc);
}

static int write_html(const dom_latency_report *r, const dom_config *cfg, const char *path,
                      const char *kept)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return dom_error_set(DOM_EUSAGE, "cannot write %s: %s", path, strerror(errno));
    size_t n = r->nrows < HTML_BARS ? r->nrows : HTML_BARS;
    double max = 1;
    for (size_t i = 0; i < n; i++) {
        if (r->rows[i].before_p50 > max)
            max = r->rows[i].before_p50;
        if (r->rows[i].after_p50 > max)
            max = r->rows[i].after_p50;
    }
    const int left = 190, width = 520, bar = 9, row = 26;
    int height = (int)n * row + 40;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<title>domicile: round trips per market</title>\n<style>\n"
          "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\n"
          "table{border-collapse:collapse;margin-top:1em}\n"
          "td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #ddd}\n"
          "td:first-child,th:first-child{text-align:left}\n"
          ".before{fill:#b0b0b0}.after{fill:#2a7ab9}\n"
          ".prov{color:#555}</style></head><body>\n<h1>Round trip from users to their data</h1>\n",
          f);
    cli_html_provenance(f, cfg);
    if (kept[0])
        fprintf(f, "<p>Before: as recorded when the first wave was planned (%s).</p>\n", kept);
    fprintf(f,
            "<p>Median round trip (ms) per market, now (grey) and once every tenant lives "
            "where the policy wants it (blue). All users: %.0f ms now, %.0f ms after "
            "(p50); %.0f ms now, %.0f ms after (p90).</p>\n",
            r->overall.before_p50, r->overall.after_p50, r->overall.before_p90,
            r->overall.after_p90);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "role=\"img\" aria-label=\"round trips before and after\">\n",
            left + width + 80, height);
    for (size_t i = 0; i < n; i++) {
        const dom_latency_row *w = &r->rows[i];
        int y = 10 + (int)i * row;
        double wb = width * w->before_p50 / max, wa = width * w->after_p50 / max;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"12\">", left - 8,
                y + bar + 3);
        cli_html_escape(f, dom_countries[w->country].name);
        fprintf(f, " (%s)</text>\n", dom_countries[w->country].code);
        fprintf(f,
                "<rect class=\"before\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>"
                "<text x=\"%.1f\" y=\"%d\" font-size=\"10\">%.0f</text>\n",
                left, y, wb, bar, left + wb + 4, y + bar - 1, w->before_p50);
        fprintf(f,
                "<rect class=\"after\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>"
                "<text x=\"%.1f\" y=\"%d\" font-size=\"10\">%.0f</text>\n",
                left, y + bar + 1, wa, bar, left + wa + 4, y + 2 * bar, w->after_p50);
    }
    fputs("</svg>\n<table><tr><th>market</th><th>users</th><th>home now</th><th>p50</th>"
          "<th>p90</th><th>home after</th><th>p50</th><th>p90</th><th>change</th></tr>\n",
          f);
    for (size_t i = 0; i < r->nrows; i++) {
        const dom_latency_row *w = &r->rows[i];
        fputs("<tr><td>", f);
        cli_html_escape(f, dom_countries[w->country].name);
        fprintf(f, " (%s)</td><td>%lld</td><td>", dom_countries[w->country].code,
                (long long)w->users);
        cli_html_escape(f, region_name(cfg, w->before_region));
        fprintf(f, "</td><td>%.0f</td><td>%.0f</td><td>", w->before_p50, w->before_p90);
        cli_html_escape(f, region_name(cfg, w->after_region));
        fprintf(f, "</td><td>%.0f</td><td>%.0f</td><td>%+.0f%%</td></tr>\n", w->after_p50,
                w->after_p90, change_pct(w->before_p50, w->after_p50));
    }
    const dom_rtt_fit *fit = dom_rtt_model();
    fprintf(f,
            "</table>\n<p>Round trips are measured city pairs where known, else great-circle "
            "distance x %.2f / (100 km/ms) + %.1f ms, fitted to %zu measured pairs (median "
            "error %.0f%%). Sources: AWS inter-region pings (cloudping.co), "
            "WonderNetwork/WonderProxy pings; country coordinates from world-countries "
            "(ODbL).</p>\n</body></html>\n",
            fit->inflation, fit->fixed_ms, fit->npairs, fit->median_err * 100);
    if (fclose(f) != 0)
        return dom_error_set(DOM_EUSAGE, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

int cmd_report(cli *c)
{
    const char *html = NULL, *firstbuf = NULL, *what = NULL;
    const char *first[MAX_FIRST];
    size_t nfirst = 0;
    int npos;
    const cli_opt opts[] = {
        {"html", CLI_STR, &html, 0, 0}, {"first", CLI_STR, &firstbuf, 0, 0}, {0}};
    int rc = cli_parse(c, opts, &what, &npos, 1);
    if (rc)
        return rc;
    if (!what || strcmp(what, "latency") != 0)
        return cli_usage_error("report", "expected: report latency [--json | --html FILE]");
    int json = c->json;
    if (json && html)
        return cli_usage_error("report", "--json and --html exclude each other");
    char *save = NULL, *copy = firstbuf ? dom_strdup(firstbuf) : NULL;
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && nfirst < MAX_FIRST;
         tok = strtok_r(NULL, ",", &save))
        first[nfirst++] = tok;
    dom_config *cfg;
    if ((rc = cli_load_config(c, &cfg))) {
        dom_free(copy);
        return rc;
    }
    dom_plan *p = NULL;
    dom_latency_report r = {0};
    int exit_code = EXIT_OK;
    char kept[32] = "";
    if ((rc = dom_plan_build(&p, cfg)) < 0 ||
        (rc = dom_latency_report_build(&r, p, first, nfirst)) < 0) {
        exit_code = cli_fail(rc);
    } else if ((use_kept_before(&r, cfg, kept), json)) {
        print_json(&r, cfg, kept);
    } else if (html) {
        if ((rc = write_html(&r, cfg, html, kept)) < 0)
            exit_code = cli_fail(rc);
        else
            printf("wrote %s\n", html);
    } else {
        if (kept[0])
            printf("before: as recorded when the first wave was planned (%s)\n", kept);
        print_text(&r, cfg, stdout);
    }
    dom_latency_report_free(&r);
    dom_plan_free(p);
    dom_config_free(cfg);
    dom_free(copy);
    return exit_code;
}

int cli_print_latency(const char *config_path, const char *html, const char *first_csv)
{
    char *argv[8];
    int argc = 0;
    argv[argc++] = "report";
    argv[argc++] = "latency";
    if (first_csv) {
        argv[argc++] = "--first";
        argv[argc++] = (char *)first_csv;
    }
    if (html) {
        argv[argc++] = "--html";
        argv[argc++] = (char *)html;
    }
    argv[argc] = NULL;
    cli c = {config_path, argc, argv, 0};
    return cmd_report(&c);
}
