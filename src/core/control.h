/*
 * control.h - live control of running movers: an operator pauses them,
 * resumes them or sets their rate (rows per second) while they run, with
 * `domicile pause | resume | throttle`.  The commands write the catalog
 * (meta keys control.paused and control.rate); every mover of that catalog
 * reads them at most CONTROL_POLL_SEC apart, at safe points, so one
 * command reaches all of them without a restart.
 */
#ifndef DOM_CONTROL_H
#define DOM_CONTROL_H

#include <stdint.h>

#include "core/catalog.h"
#include "core/config.h"

/* How often a mover reads the catalog's control keys. */
#define CONTROL_POLL_SEC 0.25

typedef struct dom_control {
    int paused;         /* by `domicile pause` */
    char paused_at[32]; /* when (UTC, ISO 8601) */
    double rate;        /* rows per second in force, 0: no limit */
    int rate_live;      /* set by `domicile throttle` (else the config's) */
    char rate_at[32];   /* when `throttle` set it */
    double paused_sec;  /* seconds this process has waited paused */
    /* the regions' health (options.health): 0 well, 1 over a bound (the
     * mover slows down), 2 over a critical bound (it waits) */
    int health;
    char health_why[192]; /* which region, what, against which bound */
    double health_rate;   /* rows per second while slowed down (0: none) */
    char health_at[32];   /* since when (status, from the catalog) */
} dom_control;

/* The commands: pause (1) or resume (0); a rate in rows per second, or a
 * negative rate to go back to the config's options.max_rows_per_second. */
int dom_control_set_paused(dom_catalog *cat, int paused);
int dom_control_set_rate(dom_catalog *cat, double rate);
/* What the catalog says now (status). */
int dom_control_read(dom_catalog *cat, const dom_config *cfg, dom_control *out);

/* For the mover.  dom_control_begin at the start of a run: the config's
 * rate, the catalog's state read afresh; on_change (may be NULL) is called
 * when the state a mover acts on changes. */
void dom_control_begin(const dom_config *cfg, void (*on_change)(const dom_control *, void *),
                       void *payload);
/* At a safe point: pays for `rows` at the rate in force (sleeping as long
 * as that takes) and waits while paused.  `cat` is the calling worker's
 * catalog.  DOM_EINTR when interrupted meanwhile. */
int dom_control_gate(dom_catalog *cat, int64_t rows);
/* The state movers act on now. */
void dom_control_now(dom_control *out);
/* Watches the regions' health once a second while a run lasts, when
 * options.health sets a bound (a thread of its own with its own
 * connections); its state is written to the catalog (control.health) for
 * status.  dom_control_end stops it and clears that. */
int dom_control_watch(const dom_config *cfg);
void dom_control_end(void);
/* Pays for `rows` erased at `rate` rows per second (options.
 * erase_rows_per_second, one clock for the process), sleeping as long as
 * that takes; between erasure writes, holding none. */
void dom_control_erase_pay(double rate, int64_t rows);

#endif
