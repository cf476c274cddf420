/*
 * serve.h - `domicile serve`: the HTTP server (serve.c), the directory it
 * answers from memory (serve_dir.c), its Prometheus metrics
 * (serve_metrics.c) and its dashboard page (serve_page.c).
 */
#ifndef DOM_SERVE_H
#define DOM_SERVE_H

#include <stdint.h>

#include "core/catalog.h"
#include "core/config.h"
#include "util/util.h"

/* ---- the directory in memory (serve_dir.c) ---- */

typedef struct serve_dir serve_dir;

typedef struct serve_location {
    char region[64];
    int64_t epoch;
    int moving;
    double as_of;   /* when the snapshot's scan began (seconds since the epoch) */
    double age_sec; /* now - as_of */
} serve_location;

typedef struct serve_dir_stats {
    int64_t tenants, refreshes, failures;
    double as_of, age_sec, scan_sec, refresh_sec;
    char last_error[512];
} serve_dir_stats;

/* Scans the directory once (from `cat`), then every refresh_sec on a
 * thread of its own with a catalog connection of its own. */
int serve_dir_start(serve_dir **out, const dom_config *cfg, dom_catalog *cat, double refresh_sec);
void serve_dir_stop(serve_dir *d);
/* 1 and *out when the snapshot knows the key, else 0 (out->as_of and
 * age_sec are set either way). */
int serve_dir_locate(serve_dir *d, const char *key, serve_location *out);
void serve_dir_info(serve_dir *d, serve_dir_stats *out);

/* ---- metrics (serve_metrics.c) ---- */

/* The Prometheus text exposition of the catalog's state (and the
 * server's own counters in `extra`, already formatted). */
int serve_metrics(dom_catalog *cat, const dom_config *cfg, serve_dir *dir, dom_buf *out);

/* ---- the dashboard (serve_page.c) ---- */

extern const char serve_dashboard_html[];

#endif
