/*
 * serve_metrics.c - GET /metrics: the catalog's state in the Prometheus
 * text exposition format (version 0.0.4): tenants per region and state,
 * batches per step, rows and bytes moved per region pair, the write
 * pauses as a histogram, the movers' control, the movers holding leases,
 * the transfer log's length, the last audit's violations, and the
 * server's directory snapshot.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/serve.h"
#include "core/control.h"

/* A label value: backslash, double quote and newline escaped. */
static void label(dom_buf *b, const char *v)
{
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\' || *p == '"')
            dom_buf_putc(b, '\\');
        if (*p == '\n') {
            dom_buf_puts(b, "\\n");
            continue;
        }
        dom_buf_putc(b, *p);
    }
}

static void head(dom_buf *b, const char *name, const char *type, const char *help)
{
    dom_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int region_row(const dom_region_count *r, void *payload)
{
    dom_buf *b = payload;
    dom_buf_puts(b, "domicile_tenants{region=\"");
    label(b, r->region);
    dom_buf_printf(b, "\",state=\"home\"} %lld\n", (long long)(r->tenants - r->moving));
    dom_buf_puts(b, "domicile_tenants{region=\"");
    label(b, r->region);
    dom_buf_printf(b, "\",state=\"moving\"} %lld\n", (long long)r->moving);
    return 0;
}

static int step_row(const char *step, int64_t n, void *payload)
{
    dom_buf *b = payload;
    dom_buf_puts(b, "domicile_batches{step=\"");
    label(b, step);
    dom_buf_printf(b, "\"} %lld\n", (long long)n);
    return 0;
}

typedef struct pairs {
    dom_buf rows, bytes, batches;
} pairs;

static void pair_line(dom_buf *b, const char *metric, const char *src, const char *dst, int64_t v)
{
    dom_buf_printf(b, "%s{from=\"", metric);
    label(b, src);
    dom_buf_puts(b, "\",to=\"");
    label(b, dst);
    dom_buf_printf(b, "\"} %lld\n", (long long)v);
}

static int pair_row(const char *src, const char *dst, int64_t batches, int64_t rows, int64_t bytes,
                    void *payload)
{
    pairs *p = payload;
    pair_line(&p->rows, "domicile_moved_rows_total", src, dst, rows);
    pair_line(&p->bytes, "domicile_moved_bytes_total", src, dst, bytes);
    pair_line(&p->batches, "domicile_moved_batches_total", src, dst, batches);
    return 0;
}

/* the write pause's histogram, in seconds (Prometheus's base unit) */
static const double bounds_ms[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000};

typedef struct hist {
    int64_t count[DOM_ARRAY_LEN(bounds_ms)];
    int64_t n;
    double sum;
} hist;

static int pause_row(double ms, void *payload)
{
    hist *h = payload;
    for (size_t i = 0; i < DOM_ARRAY_LEN(bounds_ms); i++)
        if (ms <= bounds_ms[i])
            h->count[i]++;
    h->n++;
    h->sum += ms;
    return 0;
}

static int mover_row(const char *owner, double since, void *payload)
{
    dom_buf *b = payload;
    dom_buf_puts(b, "domicile_mover_lease_age_seconds{mover=\"");
    label(b, owner);
    dom_buf_printf(b, "\"} %.3f\n", since);
    return 0;
}

static void control_metrics(dom_buf *b, const dom_control *ctl)
{
    head(b, "domicile_paused", "gauge", "1 while movers are paused (domicile pause).");
    dom_buf_printf(b, "domicile_paused %d\n", ctl->paused ? 1 : 0);
    head(b, "domicile_throttle_rows_per_second", "gauge",
         "The rate movers keep to (0: no limit), and where it comes from.");
    dom_buf_printf(b, "domicile_throttle_rows_per_second{from=\"%s\"} %.3f\n",
                   ctl->rate_live ? "throttle" : "config", ctl->rate);
    head(b, "domicile_health", "gauge",
         "The regions' health as movers see it: 0 well, 1 slowed, 2 waiting; the reason.");
    dom_buf_puts(b, "domicile_health{reason=\"");
    label(b, ctl->health ? ctl->health_why : "");
    dom_buf_printf(b, "\"} %d\n", ctl->health);
}

/* The last audit's violations (its summary in the catalog), per kind,
 * region and country. */
static void audit_metrics(dom_catalog *cat, dom_buf *b)
{
    int rc;
    json_t *a = cli_meta_json(cat, "audit", &rc);
    if (!a)
        return;
    head(b, "domicile_audit_timestamp_seconds", "gauge", "When the last audit ran.");
    dom_buf_printf(b, "domicile_audit_timestamp_seconds %.3f\n",
                   json_number_value(json_object_get(a, "unix_time")));
    head(b, "domicile_audit_ok", "gauge",
         "1 when the last audit found no violation and the transfer log's chain intact.");
    dom_buf_printf(b, "domicile_audit_ok %d\n", json_is_true(json_object_get(a, "ok")) ? 1 : 0);
    head(b, "domicile_violations", "gauge",
         "Rows the last audit found where they must not be, per kind, region and country.");
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(a, "groups"), i, g)
    {
        dom_buf_puts(b, "domicile_violations{kind=\"");
        label(b, json_string_value(json_object_get(g, "kind")));
        dom_buf_puts(b, "\",region=\"");
        label(b, json_string_value(json_object_get(g, "region")));
        dom_buf_puts(b, "\",country=\"");
        label(b, json_string_value(json_object_get(g, "country")));
        dom_buf_printf(b, "\"} %lld\n", (long long)json_integer_value(json_object_get(g, "rows")));
    }
    json_decref(a);
}

static void dir_metrics(serve_dir *dir, dom_buf *b)
{
    serve_dir_stats ds;
    serve_dir_info(dir, &ds);
    head(b, "domicile_directory_snapshot_tenants", "gauge",
         "Tenants in this server's snapshot of the directory.");
    dom_buf_printf(b, "domicile_directory_snapshot_tenants %lld\n", (long long)ds.tenants);
    head(b, "domicile_directory_snapshot_age_seconds", "gauge",
         "Age of the snapshot locate answers from (its scan's start).");
    dom_buf_printf(b, "domicile_directory_snapshot_age_seconds %.3f\n", ds.age_sec);
    head(b, "domicile_directory_scan_seconds", "gauge",
         "How long the last scan of the directory took (the staleness bound is the refresh "
         "interval plus this).");
    dom_buf_printf(b, "domicile_directory_scan_seconds %.6f\n", ds.scan_sec);
    head(b, "domicile_directory_refresh_failures_total", "counter",
         "Refreshes of the snapshot that failed (the last snapshot stays).");
    dom_buf_printf(b, "domicile_directory_refresh_failures_total %lld\n", (long long)ds.failures);
}

int serve_metrics(dom_catalog *cat, const dom_config *cfg, serve_dir *dir, dom_buf *b)
{
    pairs p = {DOM_BUF_INIT, DOM_BUF_INIT, DOM_BUF_INIT};
    hist h = {{0}, 0, 0};
    dom_buf movers = DOM_BUF_INIT;
    dom_control ctl;
    int64_t log = 0;
    double last = 0;
    head(b, "domicile_tenants", "gauge", "Tenants per home region in the directory, by state.");
    int rc = dom_catalog_region_counts(cat, region_row, b);
    if (rc == 0) {
        head(b, "domicile_batches", "gauge", "Batches in the journal per step.");
        rc = dom_catalog_step_counts(cat, step_row, b);
    }
    if (rc == 0)
        rc = dom_catalog_pair_totals(cat, pair_row, &p);
    if (rc == 0)
        rc = dom_catalog_pauses(cat, pause_row, &h);
    if (rc == 0)
        rc = dom_catalog_movers(cat, mover_row, &movers);
    if (rc == 0)
        rc = dom_catalog_log_count(cat, &log);
    if (rc == 0)
        rc = dom_catalog_last_update(cat, &last);
    if (rc == 0)
        rc = dom_control_read(cat, cfg, &ctl);
    if (rc == 0) {
        head(b, "domicile_moved_rows_total", "counter", "Rows moved, per region pair.");
        dom_buf_put(b, p.rows.ptr, p.rows.len);
        head(b, "domicile_moved_bytes_total", "counter", "Bytes moved, per region pair.");
        dom_buf_put(b, p.bytes.ptr, p.bytes.len);
        head(b, "domicile_moved_batches_total", "counter", "Batches moved, per region pair.");
        dom_buf_put(b, p.batches.ptr, p.batches.len);
        head(b, "domicile_write_pause_seconds", "histogram",
             "Each moved batch's write pause (freeze to flip).");
        for (size_t i = 0; i < DOM_ARRAY_LEN(bounds_ms); i++)
            dom_buf_printf(b, "domicile_write_pause_seconds_bucket{le=\"%g\"} %lld\n",
                           bounds_ms[i] / 1000, (long long)h.count[i]);
        dom_buf_printf(b,
                       "domicile_write_pause_seconds_bucket{le=\"+Inf\"} %lld\n"
                       "domicile_write_pause_seconds_sum %.6f\n"
                       "domicile_write_pause_seconds_count %lld\n",
                       (long long)h.n, h.sum / 1000, (long long)h.n);
        control_metrics(b, &ctl);
        head(b, "domicile_mover_lease_age_seconds", "gauge",
             "Movers holding batch leases (a shared catalog), seconds since each renewed.");
        dom_buf_put(b, movers.ptr, movers.len);
        head(b, "domicile_journal_last_update_timestamp_seconds", "gauge",
             "When a mover last wrote the journal (0: never): movers at work write it at "
             "every step, whatever the catalog.");
        dom_buf_printf(b, "domicile_journal_last_update_timestamp_seconds %.3f\n", last);
        head(b, "domicile_transfer_log_entries", "gauge", "Entries in the transfer log.");
        dom_buf_printf(b, "domicile_transfer_log_entries %lld\n", (long long)log);
        audit_metrics(cat, b);
        dir_metrics(dir, b);
    }
    dom_buf_free(&p.rows);
    dom_buf_free(&p.bytes);
    dom_buf_free(&p.batches);
    dom_buf_free(&movers);
    return rc;
}
