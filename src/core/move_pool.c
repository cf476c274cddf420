/*
 * move_pool.c - a pool of workers over a list of batches: each worker
 * takes the next batch (or claims one from a shared catalog) and runs it;
 * options.workers auto sizes the pool by the regions' round trip.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/control.h"
#include "core/move_int.h"

typedef struct pool {
    const dom_config *cfg;
    const dom_apply_opts *o;
    int64_t *ids;
    size_t n, next;
    pthread_mutex_t mu;
    dom_apply_stats *stats;
    int rc;
    char err[2048];
    int shared; /* a catalog of several movers: batches are claimed */
} pool;

/* How long a mover without a free batch waits before it looks again (for
 * batches of other movers to end, or their leases to expire). */
#define CLAIM_WAIT_US 300000

/* The next batch for a worker: the next of the list, or, with a shared
 * catalog, one claimed from it (waiting while other movers still hold
 * some); 0 when there is none left. */
static int next_batch(pool *p, worker *w, int64_t *id)
{
    *id = 0;
    if (!p->shared) {
        pthread_mutex_lock(&p->mu);
        int stop = p->rc < 0 || p->next >= p->n || dom_interrupted;
        if (!stop)
            *id = p->ids[p->next++];
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int stop = p->rc < 0 || dom_interrupted;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            return 0;
        int rc = dom_catalog_claim(w->cat, p->ids, p->n, id);
        if (rc == 0)
            return 0;
        if (rc != DOM_ENOTFOUND)
            return rc;
        int64_t left = 0;
        if ((rc = dom_catalog_unfinished_among(w->cat, p->ids, p->n,
                                               p->cfg->options.retain_source_sec > 0, &left)) < 0)
            return rc;
        if (left == 0)
            return 0;
        usleep(CLAIM_WAIT_US);
    }
}

static void *pool_main(void *arg)
{
    pool *p = arg;
    worker *w;
    int rc = dom_mv_worker_take(p->cfg, &w);
    while (rc == 0) {
        int64_t id;
        if ((rc = next_batch(p, w, &id)) < 0 || id == 0)
            break;
        int64_t moved, paid = w->paid;
        /* the live control (control.h): paused, wait here; the rows the
         * copy did not pay for are paid after the batch */
        if ((rc = dom_control_gate(w->cat, 0)) < 0)
            break;
        rc = dom_mv_run_batch(w, id, p->stats, &p->mu, p->o, &moved);
        w->unpaid = 0;
        if (rc == 0 && moved > w->paid - paid)
            rc = dom_control_gate(w->cat, moved - (w->paid - paid));
    }
    if (rc < 0) {
        pthread_mutex_lock(&p->mu);
        if (p->rc == 0 || (p->rc == DOM_EINTR && rc != DOM_EINTR)) {
            p->rc = rc;
            snprintf(p->err, sizeof(p->err), "%s", dom_error_last());
        }
        pthread_mutex_unlock(&p->mu);
    }
    if (w)
        dom_mv_worker_park(w, rc == 0);
    return NULL;
}

/* Workers of options.workers auto: AUTO_WORKERS for regions beside the
 * mover, and as many again for every AUTO_WORKER_MS of round trip: a
 * batch's steps take a few dozen round trips, and a worker that waits on
 * the network needs no core. */
#define AUTO_WORKERS   2
#define AUTO_WORKER_MS 25.0

int dom_auto_workers(double rtt_ms)
{
    double w = AUTO_WORKERS * (1 + rtt_ms / AUTO_WORKER_MS);
    return w >= 64 ? 64 : (int)(w + 0.5);
}

int dom_mv_run_pool(const dom_config *cfg, const dom_apply_opts *o, int64_t *ids, size_t n,
                    dom_apply_stats *stats, int shared)
{
    pool p = {cfg, o, ids, n, 0, PTHREAD_MUTEX_INITIALIZER, stats, 0, "", shared};
    int nw = o->workers > 0 ? o->workers : (int)cfg->options.workers;
    if (nw < 1)
        nw = dom_auto_workers(stats->rtt_ms);
    stats->workers = nw;
    if ((size_t)nw > n)
        nw = (int)n;
    pthread_t th[64];
    int started = 0;
    for (int i = 0; i < nw && i < 64; i++)
        if (pthread_create(&th[i], NULL, pool_main, &p) == 0)
            started++;
    if (!started && n)
        pool_main(&p);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (p.rc < 0)
        dom_error_set(p.rc, "%s", p.err);
    else if (dom_interrupted && (shared || p.next < p.n))
        return dom_error_set(DOM_EINTR, "interrupted; run the same command again to resume");
    return p.rc;
}
