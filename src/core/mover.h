/*
 * mover.h - the online mover: prepare, apply (waves of batches through the
 * protocol of DESIGN.md), rollback, and the fault-injection hook.
 */
#ifndef DOM_MOVER_H
#define DOM_MOVER_H

#include <signal.h>
#include <stdint.h>

#include "core/catalog.h"
#include "core/config.h"

/* Set by a signal handler: the mover stops at the next safe point. */
extern volatile sig_atomic_t dom_interrupted;

/* Exit abruptly when DOMICILE_FAULT=point:N names this point for the Nth
 * time (points: arm, armed, copy, copied, catchup, verified, freeze, frozen,
 * synced, flip, flipped, erase, done).  For crash tests. */
void dom_fault(const char *point);

typedef struct dom_prepare_report {
    int64_t tenants_added; /* new directory entries */
    int64_t tenants_known; /* entries already there */
    size_t regions;
    size_t tables_created; /* tables a region lacked, created like the reference's */
} dom_prepare_report;

/* Installs fences, change logs and triggers in every region after checking
 * that their tenant tables match, and fills the directory.  Idempotent. */
int dom_prepare(const dom_config *cfg, dom_prepare_report *out);
/* Takes out what dom_prepare installed; tenant data is untouched. */
int dom_prepare_remove(const dom_config *cfg);

struct dom_control;

/* Makes quiet the regions where nothing is in motion (docs/mover.md
 * "Quiet regions"); prepare and apply call it at their end. */
void dom_quiet_regions(const dom_config *cfg, dom_catalog *cat);

typedef struct dom_apply_opts {
    const char *wave; /* NULL: every wave in order */
    int rollback;     /* move `wave`'s tenants back */
    int workers;      /* parallel batches (0: the config's) */
    int dry_run;
    int erase_only;  /* only erase retained source copies that are due */
    int defer_erase; /* internal: leave flipped batches to the erasure phase */
    /* called after each batch, once its tenants are home (from the worker
     * thread, serialized): step "done" (source erased), "flipped" (source
     * retained or erased in the erasure phase) or "failed" */
    void (*on_batch)(const dom_batch *b, void *payload);
    /* called in the erasure phase for each batch whose source it erased
     * (step "done"), after on_batch told its flip */
    void (*on_erased)(const dom_batch *b, void *payload);
    /* called when batches are planned: their count and tenants */
    void (*on_planned)(const char *wave, int64_t batches, int64_t tenants, void *payload);
    /* called when the live control (control.h) the movers act on changes:
     * paused, resumed, a new rate */
    void (*on_control)(const struct dom_control *c, void *payload);
    void *payload;
} dom_apply_opts;

typedef struct dom_apply_stats {
    int64_t batches_done, batches_failed, batches_retained, batches_planned;
    int64_t tenants, rows, bytes, erased;
    double *pauses_ms; /* one per batch flipped in this run */
    size_t npauses;
    double step_sec[8]; /* arm, copy, catchup, verify, freeze+sync, flip, erase, other */
    double paused_sec;  /* waited paused by `domicile pause` */
    double t0;          /* the run's start (dom_mono) */
    double home_sec;    /* from the start to the last flip: time to home */
    double erased_sec;  /* from the start to the last erasure: time to erased */
    int workers;        /* batches in parallel (the last pool's) */
    double rtt_ms;      /* the longest round trip to a region, at the start */
    char last_error[1200];
} dom_apply_stats;

/* Runs unfinished batches first, then the waves (or one wave, or a wave's
 * rollback).  Returns 0, DOM_EINTR when interrupted (safe to rerun), a
 * region error, or DOM_EFAILED when some batch failed (see stats). */
int dom_apply(const dom_config *cfg, const dom_apply_opts *opts, dom_apply_stats *stats);
void dom_apply_stats_free(dom_apply_stats *s);

#define DOM_EFAILED (-20)

/* options.workers auto: batches in parallel for the longest round trip to
 * a region (docs/mover.md, "Far regions"). */
int dom_auto_workers(double rtt_ms);

#endif
