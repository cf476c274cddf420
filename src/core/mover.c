/*
 * mover.c - dom_apply: moves tenants between regions while applications
 * keep writing, wave after wave (or a wave back, for a rollback), each
 * wave's batches run by a pool of workers (move_int.h lists the files of
 * the mover and what each does).
 *
 * It talks to regions only through store.h and knows nothing of engines.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/control.h"
#include "core/move_int.h"
#include "core/plan.h"

volatile sig_atomic_t dom_interrupted;

/* One mover at a time per catalog in a file (SQLite): its journal has no
 * claims or leases, so a second process would run the same batches.  The
 * lock is the kernel's and goes away with the process, also on SIGKILL. */
static int apply_locked(const dom_config *cfg, const dom_apply_opts *o, dom_apply_stats *stats);

static int lock_catalog(const dom_config *cfg, int *fd)
{
    *fd = -1;
    if (!cfg->catalog.path)
        return 0; /* a catalog on a server: its movers share it (claims) */
    char *path = dom_sprintf("%s.lock", cfg->catalog.path);
    if (!path)
        return DOM_ENOMEM;
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) {
        int rc = dom_error_set(DOM_EREGION, "catalog %s: cannot open %s", cfg->catalog.path, path);
        dom_free(path);
        return rc;
    }
    dom_free(path);
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        close(f);
        return dom_error_set(DOM_EBUSY,
                             "another domicile process is moving tenants with catalog %s; run "
                             "one apply, rollback or erase at a time",
                             cfg->catalog.path);
    }
    *fd = f;
    return 0;
}

typedef struct quiet_job {
    const dom_config *cfg;
    size_t region;
} quiet_job;

/* Makes one region quiet when that is safe (pg_set_mode says). */
static void *quiet_main(void *arg)
{
    const quiet_job *j = arg;
    const dom_config *cfg = j->cfg;
    size_t i = j->region;
    dom_store *st = NULL;
    dom_table_info *info = NULL;
    size_t ninfo = 0, nmt = 0;
    dom_move_table *mt = NULL;
    int quiet = 0;
    int rc = dom_store_open(&st, &cfg->regions[i], DOM_STORE_MUST_EXIST);
    if (rc == 0)
        st->fence_wait_sec = cfg->options.fence_wait_sec;
    if (rc == 0)
        rc = dom_store_tables(st, &info, &ninfo);
    if (rc == 0)
        rc = dom_move_tables(&mt, &nmt, cfg, cfg->regions[i].name, info, ninfo);
    if (rc == 0)
        rc = dom_store_set_mode(st, mt, nmt, 1, &quiet);
    if (rc < 0)
        dom_log(DOM_LOG_DEBUG, "region \"%s\" stays active: %s", cfg->regions[i].name,
                dom_error_last());
    else if (quiet)
        dom_log(DOM_LOG_DEBUG, "region \"%s\" is quiet", cfg->regions[i].name);
    dom_free(mt);
    dom_table_info_free(info, ninfo);
    if (st)
        dom_store_close(st);
    return NULL;
}

/* Makes quiet every region where nothing is in motion and no source copy
 * is retained (a retained copy's writes must be refused: its tenant lives
 * elsewhere), as far as no other mover works there (the store decides).
 * Staying active is always safe: failures are logged, not returned. */
void dom_quiet_regions(const dom_config *cfg, dom_catalog *cat)
{
    int retained[DOM_MAX_REGIONS] = {0};
    int64_t *ids = NULL;
    size_t n = 0;
    if (cfg->options.always_active)
        return;
    if (dom_catalog_batches(cat, "flipped", &ids, &n) < 0) {
        dom_log(DOM_LOG_DEBUG, "quiet regions: %s", dom_error_last());
        return;
    }
    for (size_t i = 0; i < n; i++) {
        dom_batch b = {0};
        if (dom_catalog_batch_load(cat, ids[i], &b) == 0) {
            int r = dom_config_region(cfg, b.src);
            if (r >= 0)
                retained[r] = 1;
        } else {
            memset(retained, 1, sizeof(retained)); /* unknown: none quiet */
        }
        dom_batch_free(&b);
    }
    dom_free(ids);
    /* one thread a region: a far region's switch is a dozen round trips */
    quiet_job jobs[DOM_MAX_REGIONS];
    pthread_t th[DOM_MAX_REGIONS];
    int started[DOM_MAX_REGIONS] = {0};
    for (size_t i = 0; i < cfg->nregions; i++) {
        if (retained[i])
            continue;
        jobs[i] = (quiet_job){cfg, i};
        started[i] = pthread_create(&th[i], NULL, quiet_main, &jobs[i]) == 0;
        if (!started[i])
            quiet_main(&jobs[i]);
    }
    for (size_t i = 0; i < cfg->nregions; i++)
        if (started[i])
            pthread_join(th[i], NULL);
}

int dom_apply(const dom_config *cfg, const dom_apply_opts *o, dom_apply_stats *stats)
{
    int lock_fd;
    memset(stats, 0, sizeof(*stats));
    stats->t0 = dom_mono();
    int lrc = lock_catalog(cfg, &lock_fd);
    if (lrc < 0)
        return lrc;
    dom_control_begin(cfg, o->on_control, o->payload);
    int r = o->dry_run ? 0 : dom_control_watch(cfg);
    if (r == 0)
        r = apply_locked(cfg, o, stats);
    dom_control_end();
    dom_control c;
    dom_control_now(&c);
    stats->paused_sec = c.paused_sec;
    if (lock_fd >= 0)
        close(lock_fd);
    return r;
}

/* Every region must support moves, be a database of its own and be
 * prepared as itself before anything is journaled. */
/* Opens every region: each must exist and take moves; *rtt_ms is the
 * longest round trip to one. */
static int check_regions(const dom_config *cfg, double *rtt_ms)
{
    dom_store *st[DOM_MAX_REGIONS] = {0};
    int rc = 0;
    *rtt_ms = 0;
    for (size_t i = 0; rc == 0 && i < cfg->nregions; i++) {
        double ms;
        if ((rc = dom_store_open(&st[i], &cfg->regions[i], DOM_STORE_MUST_EXIST)) < 0 ||
            (rc = dom_store_ping(st[i], &ms)) < 0)
            break;
        dom_mv_region_reset((int)i, ms);
        if (ms > *rtt_ms)
            *rtt_ms = ms;
        if (!dom_store_can_move(st[i]))
            rc = dom_error_set(DOM_EUNSUPPORTED,
                               "region \"%s\": moving tenants is not supported by the %s store "
                               "in this version",
                               cfg->regions[i].name, st[i]->ops->engine);
    }
    if (rc == 0)
        rc = dom_store_check_regions(st, cfg->regions, cfg->nregions, 1);
    for (size_t i = 0; i < cfg->nregions; i++)
        dom_store_close(st[i]);
    return rc;
}

/* The unfinished batches of wave PREFIX+NAME (replacing *ids). */
static int shared_wave(dom_catalog *cat, const char *prefix, const char *name, int64_t **ids,
                       size_t *n)
{
    char wave[160];
    snprintf(wave, sizeof(wave), "%s%s", prefix, name);
    dom_free(*ids);
    *ids = NULL;
    *n = 0;
    return dom_catalog_wave_unfinished(cat, wave, ids, n);
}

/* Plans and runs the rollback of wave o->wave: its tenants back to where
 * they came from. */
static int apply_rollback(dom_catalog *cat, const dom_config *cfg, const dom_apply_opts *o,
                          dom_apply_stats *stats, int shared)
{
    busy_set busy = {0};
    int64_t *ids = NULL, tenants = 0;
    size_t nids = 0;
    /* one mover plans at a time; the others then find the batches */
    int rc = shared && !o->dry_run ? dom_catalog_plan_lock(cat, 1) : 0;
    if (rc < 0)
        return rc;
    rc = dom_mv_busy_load(cat, &busy);
    if (rc == 0 && !o->dry_run)
        rc = dom_mv_plan_rollback(cat, cfg, o->wave, &busy, &ids, &nids, &tenants);
    if (shared && !o->dry_run)
        dom_catalog_plan_lock(cat, 0);
    if (rc == 0 && !o->dry_run) {
        stats->batches_planned += (int64_t)nids;
        if (o->on_planned)
            o->on_planned(o->wave, (int64_t)nids, tenants, o->payload);
        if (shared)
            rc = shared_wave(cat, "rollback:", o->wave, &ids, &nids);
        if (rc == 0 && nids)
            rc = dom_mv_run_pool(cfg, o, ids, nids, stats, shared);
    }
    dom_free(ids);
    dom_mv_busy_free(&busy);
    return rc;
}

/* What a dry run of wave w would plan: the plan's tenants of the wave. */
static int dry_wave(const dom_config *cfg, const dom_apply_opts *o, size_t w)
{
    dom_plan *p;
    int rc = dom_plan_build(&p, cfg);
    if (rc < 0)
        return rc;
    int64_t bt = cfg->options.batch_tenants, tenants = p->waves[w].tenants;
    if (o->on_planned)
        o->on_planned(cfg->waves[w].name, (tenants + bt - 1) / bt, tenants, o->payload);
    dom_plan_free(p);
    return 0;
}

/* The batches whose sources are erased after the last wave's flips. */
typedef struct erase_later {
    int64_t *ids;
    size_t n, cap;
} erase_later;

static int erase_later_add(erase_later *e, const int64_t *ids, size_t n)
{
    if (dom_grow(&e->ids, &e->cap, e->n + n, sizeof(int64_t), 64) < 0)
        return DOM_ENOMEM;
    memcpy(e->ids + e->n, ids, n * sizeof(int64_t));
    e->n += n;
    return 0;
}

/* Plans wave w (its tenants not in motion) and runs its batches; the
 * batches that flip join `later`, whose sources are erased together once
 * every wave has flipped (docs/mover.md, "Erasure, a phase of its own"). */
static int apply_wave(dom_catalog *cat, const dom_config *cfg, const dom_apply_opts *o,
                      dom_apply_stats *stats, int shared, size_t w, erase_later *later)
{
    if (o->dry_run)
        return dry_wave(cfg, o, w);
    busy_set busy = {0};
    int64_t *ids = NULL, tenants = 0;
    size_t nids = 0;
    int rc = shared ? dom_catalog_plan_lock(cat, 1) : 0;
    if (rc < 0)
        return rc;
    rc = dom_mv_busy_load(cat, &busy);
    if (rc == 0)
        rc = dom_mv_plan_wave(cat, cfg, w, &busy, &ids, &nids, &tenants);
    if (shared)
        dom_catalog_plan_lock(cat, 0);
    dom_mv_busy_free(&busy);
    if (rc == 0) {
        stats->batches_planned += (int64_t)nids;
        if (o->on_planned)
            o->on_planned(cfg->waves[w].name, (int64_t)nids, tenants, o->payload);
        /* with several movers: every unfinished batch of the wave, whoever
         * planned it */
        if (shared)
            rc = shared_wave(cat, "", cfg->waves[w].name, &ids, &nids);
    }
    /* the wave's batches flip; their sources are erased later, together.
     * With several movers each batch erases its source itself: a mover
     * never holds a flipped batch while it waits for the others. */
    dom_apply_opts wo = *o;
    wo.defer_erase = !shared;
    if (rc == 0 && nids && (rc = dom_mv_run_pool(cfg, &wo, ids, nids, stats, shared)) == 0 &&
        !shared)
        rc = erase_later_add(later, ids, nids);
    dom_free(ids);
    return rc;
}

/* The batches of the catalog at `step` ("flipped", "unfinished"), run. */
static int apply_batches(dom_catalog *cat, const dom_config *cfg, const dom_apply_opts *o,
                         dom_apply_stats *stats, int shared, const char *step)
{
    int64_t *ids = NULL;
    size_t nids = 0;
    int rc = dom_catalog_batches(cat, step, &ids, &nids);
    if (rc == 0 && nids && strcmp(step, "unfinished") == 0 && o->on_planned)
        o->on_planned("(resumed)", (int64_t)nids, -1, o->payload);
    if (rc == 0 && nids && !o->dry_run)
        rc = dom_mv_run_pool(cfg, o, ids, nids, stats, shared);
    dom_free(ids);
    return rc;
}

static int apply_waves(dom_catalog *cat, const dom_config *cfg, const dom_apply_opts *o,
                       dom_apply_stats *stats, int shared)
{
    if (o->erase_only)
        return apply_batches(cat, cfg, o, stats, shared, "flipped");
    /* unfinished batches first, whatever their wave */
    int rc = apply_batches(cat, cfg, o, stats, shared, "unfinished");
    if (rc < 0)
        return rc;
    if (o->rollback)
        return apply_rollback(cat, cfg, o, stats, shared);
    /* every wave's flips first (time to home), then the erasure of their
     * sources as a phase of its own: a flipped batch's source copy is
     * read-only meanwhile, and a run that stops before erasing leaves its
     * batches flipped for the next run to erase */
    erase_later later = {0};
    for (size_t w = 0; w < cfg->nwaves && rc == 0; w++) {
        if (o->wave && strcmp(o->wave, cfg->waves[w].name) != 0)
            continue;
        if (dom_interrupted)
            rc = dom_error_set(DOM_EINTR, "interrupted; run the same command again to resume");
        else
            rc = apply_wave(cat, cfg, o, stats, shared, w, &later);
    }
    if (rc == 0 && later.n)
        rc = dom_mv_erase_phase(cfg, later.ids, later.n, o, stats);
    dom_free(later.ids);
    return rc;
}

static int apply_locked(const dom_config *cfg, const dom_apply_opts *o, dom_apply_stats *stats)
{
    dom_catalog *cat = NULL;
    double t0 = stats->t0;
    memset(stats, 0, sizeof(*stats));
    stats->t0 = t0;
    int rc = check_regions(cfg, &stats->rtt_ms);
    if (rc < 0 || (rc = dom_catalog_open(&cat, cfg, 0)) < 0)
        return rc;
    int shared = dom_catalog_shared(cat);
    int64_t dir = 0;
    if ((rc = dom_catalog_directory_count(cat, &dir)) == 0 && dir == 0)
        rc = dom_error_set(DOM_EUSAGE, "the directory is empty: run 'domicile prepare' first");
    if (rc == 0)
        rc = apply_waves(cat, cfg, o, stats, shared);
    dom_mv_workers_close(cfg);
    if (shared)
        dom_catalog_release_all(cat);
    /* the workers' sessions are closed: regions where nothing is left in
     * motion go quiet (an interrupted or failed run leaves them active,
     * which is always safe; the next run ends it) */
    if (rc == 0 && !o->dry_run)
        dom_quiet_regions(cfg, cat);
    dom_catalog_close(cat);
    if (rc == 0 && stats->batches_failed)
        return dom_error_set(DOM_EFAILED, "%lld batch%s failed; last: %s",
                             (long long)stats->batches_failed,
                             stats->batches_failed == 1 ? "" : "es", stats->last_error);
    return rc;
}

void dom_apply_stats_free(dom_apply_stats *s)
{
    dom_free(s->pauses_ms);
    s->pauses_ms = NULL;
    s->npauses = 0;
}
