/*
 * move_region.c - what the workers of one mover process share: fault
 * points for the crash tests, the write pause's right of way, and the
 * workers with their region sessions, kept between the pools of a run.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/move_int.h"

/* ---- fault injection ------------------------------------------------------- */

static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;

void dom_fault(const char *point)
{
    static long seen;
    const char *spec = getenv("DOMICILE_FAULT");
    if (!spec || !*spec)
        return;
    size_t n = strcspn(spec, ":");
    if (strlen(point) != n || strncmp(spec, point, n) != 0)
        return;
    long want = spec[n] == ':' ? atol(spec + n + 1) : 1;
    pthread_mutex_lock(&fault_mu);
    long now = ++seen;
    pthread_mutex_unlock(&fault_mu);
    if (now == want) {
        fprintf(stderr, "domicile: injected fault at %s:%ld\n", point, want);
        _exit(99);
    }
}

double dom_mv_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the write pause has the right of way ------------------------------------
 * While a batch is between freeze and flip, the other workers of this
 * process start no bulk write (copy, erase) in the regions it uses: on SQLite
 * one writer at a time means the pause would otherwise wait behind them.
 * Not when one of its regions is far (FAR_MS of round trip or more): such a
 * pause is the network's time, which the others' work does not lengthen,
 * and with the many workers far regions have (options.workers auto) some
 * pause is nearly always on: yielding to it would stop the rest. */

static int pausing[DOM_MAX_REGIONS];
static pthread_mutex_t pausing_mu = PTHREAD_MUTEX_INITIALIZER;
/* the round trip to each region, measured at the run's start */
static double region_rtt[DOM_MAX_REGIONS];
/* whether a session of this run made the region active (region_open) */
enum { MODE_UNKNOWN, MODE_SWITCHING, MODE_ACTIVE };
static int mode_state[DOM_MAX_REGIONS];
static pthread_mutex_t mode_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mode_cv = PTHREAD_COND_INITIALIZER;
#define FAR_MS 10.0

void dom_mv_pause_enter(int s, int t, int delta)
{
    if (region_rtt[s] >= FAR_MS || region_rtt[t] >= FAR_MS)
        return;
    pthread_mutex_lock(&pausing_mu);
    pausing[s] += delta;
    pausing[t] += delta;
    pthread_mutex_unlock(&pausing_mu);
}

/* Waits (up to a second) while another batch's write pause uses `region`. */
void dom_mv_yield_to_pause(int region)
{
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&pausing_mu);
        int busy = pausing[region] > 0;
        pthread_mutex_unlock(&pausing_mu);
        if (!busy)
            return;
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
}

static void yield_hook(void *payload)
{
    region_h *h = payload;
    if (!h->w->pausing)
        dom_mv_yield_to_pause(h->idx);
}

int dom_mv_region_open(worker *w, int idx, region_h **out)
{
    region_h *h = &w->r[idx];
    int rc;
    h->idx = idx;
    h->w = w;
    if (!h->st) {
        const dom_region *reg = &w->cfg->regions[idx];
        if ((rc = dom_store_open(&h->st, reg, DOM_STORE_MUST_EXIST)) < 0)
            return rc;
        h->st->before_bulk = yield_hook;
        h->st->before_bulk_payload = h;
        h->st->fence_wait_sec = w->cfg->options.fence_wait_sec;
        /* a prepare that ended before every tenant had its fence row
         * leaves writes of those tenants without the barrier's lock */
        char fences[32];
        rc = dom_store_meta_get(h->st, "fences", fences, sizeof(fences));
        if (rc == 0 && strcmp(fences, "filling") == 0)
            rc = dom_error_set(DOM_EREGION,
                               "region \"%s\": prepare did not finish giving every tenant its "
                               "fence row; run prepare again",
                               reg->name);
        if (rc == 0)
            rc = dom_store_tables(h->st, &h->info, &h->ninfo);
        if (rc == 0)
            rc = dom_move_tables(&h->mt, &h->nmt, w->cfg, reg->name, h->info, h->ninfo);
        /* every write checked while this session is open (a quiet region
         * becomes active first: docs/mover.md "Quiet regions"); the
         * run's first session of the region does it while the others
         * wait here, then read it done (they would otherwise queue on
         * the region's mode row, a round trip each) */
        if (rc == 0) {
            pthread_mutex_lock(&mode_mu);
            while (mode_state[idx] == MODE_SWITCHING)
                pthread_cond_wait(&mode_cv, &mode_mu);
            int first = mode_state[idx] == MODE_UNKNOWN;
            if (first)
                mode_state[idx] = MODE_SWITCHING;
            pthread_mutex_unlock(&mode_mu);
            rc = dom_store_set_mode(h->st, h->mt, h->nmt, 0, NULL);
            if (first) {
                pthread_mutex_lock(&mode_mu);
                mode_state[idx] = rc == 0 ? MODE_ACTIVE : MODE_UNKNOWN;
                pthread_cond_broadcast(&mode_cv);
                pthread_mutex_unlock(&mode_mu);
            }
        }
        if (rc < 0) {
            dom_store_close(h->st);
            h->st = NULL;
            return rc;
        }
    }
    *out = h;
    return 0;
}

static void worker_close(worker *w)
{
    for (size_t i = 0; i < DOM_MAX_REGIONS; i++) {
        dom_free(w->r[i].mt);
        dom_table_info_free(w->r[i].info, w->r[i].ninfo);
        dom_store_close(w->r[i].st);
    }
    dom_catalog_close(w->cat);
    memset(w, 0, sizeof(*w));
}

/* ---- workers kept between the pools of a run ----------------------------------
 * A worker's sessions (its regions, opened when a batch needs them, and
 * the catalog) outlive its pool: the next wave's pool takes them up, and
 * the run closes them at its end (dom_apply), before its regions go quiet.
 * Opening a region costs a dozen round trips (connection, tables, mode),
 * a second or two for a region a continent away. */
#define PARKED_MAX 64
static worker *parked[PARKED_MAX];
static size_t nparked;
static pthread_mutex_t parked_mu = PTHREAD_MUTEX_INITIALIZER;

int dom_mv_worker_take(const dom_config *cfg, worker **out)
{
    worker *w = NULL;
    pthread_mutex_lock(&parked_mu);
    for (size_t i = 0; i < nparked; i++)
        if (parked[i]->cfg == cfg) {
            w = parked[i];
            parked[i] = parked[--nparked];
            break;
        }
    pthread_mutex_unlock(&parked_mu);
    *out = w;
    if (w)
        return 0;
    if (!(w = dom_calloc(1, sizeof(*w))))
        return DOM_ENOMEM;
    w->cfg = cfg;
    int rc = dom_catalog_open(&w->cat, cfg, 0);
    if (rc < 0) {
        dom_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* Keeps a worker whose batches went well for the next pool; closes one
 * that failed (its sessions may be broken). */
void dom_mv_worker_park(worker *w, int ok)
{
    w->pausing = 0;
    w->unpaid = 0;
    pthread_mutex_lock(&parked_mu);
    if (ok && nparked < PARKED_MAX) {
        parked[nparked++] = w;
        w = NULL;
    }
    pthread_mutex_unlock(&parked_mu);
    if (w) {
        worker_close(w);
        dom_free(w);
    }
}

/* Closes the kept workers of cfg. */
void dom_mv_workers_close(const dom_config *cfg)
{
    pthread_mutex_lock(&parked_mu);
    for (size_t i = 0; i < nparked;) {
        if (parked[i]->cfg == cfg) {
            worker_close(parked[i]);
            dom_free(parked[i]);
            parked[i] = parked[--nparked];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&parked_mu);
}

void dom_mv_region_reset(int idx, double rtt_ms)
{
    region_rtt[idx] = rtt_ms;
    pthread_mutex_lock(&mode_mu);
    mode_state[idx] = MODE_UNKNOWN;
    pthread_mutex_unlock(&mode_mu);
}
