/*
 * move_batch.c - one batch of tenants from its journal's step to "done"
 * (DESIGN.md "The move protocol"): the table of steps, and the steps that
 * change fences and the directory: arm, freeze, flip.  Every step is
 * recorded in the catalog's journal before the next begins, and every step
 * can be redone, so a rerun after a crash at any point finishes the job.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/control.h"
#include "core/move_int.h"

int dom_mv_save_step(batch_run *br, const char *step)
{
    int rc;
    /* what the step wrote in the regions must be on disk before the
     * journal says it is done */
    if ((rc = dom_store_sync(br->S->st)) < 0 || (rc = dom_store_sync(br->T->st)) < 0)
        return rc;
    snprintf(br->b.step, sizeof(br->b.step), "%s", step);
    return dom_catalog_batch_update(br->w->cat, &br->b);
}

size_t dom_mv_table_index(region_h *h, const char *name)
{
    for (size_t i = 0; i < h->nmt; i++)
        if (strcmp(h->mt[i].info->name, name) == 0)
            return i;
    return (size_t)-1;
}

int dom_mv_add_todo(batch_run *br, size_t table, const char *pk)
{
    if (br->full_verify)
        return 0;
    /* a row of a table without a primary key is named by all its values,
     * which no primary-key read takes: the batch's rows of that table are
     * compared whole */
    if (!br->S->mt[table].npk)
        pk = NULL;
    if (br->ntodo >= MAX_PENDING) {
        br->full_verify = 1;
        return 0;
    }
    if (br->ntodo == br->captodo) {
        size_t cap = br->captodo ? br->captodo * 2 : 64;
        pending *g = dom_realloc(br->todo, cap * sizeof(*g));
        if (!g)
            return DOM_ENOMEM;
        br->todo = g;
        br->captodo = cap;
    }
    br->todo[br->ntodo].table = table;
    br->todo[br->ntodo].pk = pk ? dom_strdup(pk) : NULL;
    if (pk && !br->todo[br->ntodo].pk)
        return DOM_ENOMEM;
    br->ntodo++;
    return 0;
}

void dom_mv_clear_todo(batch_run *br)
{
    for (size_t i = 0; i < br->ntodo; i++)
        dom_free(br->todo[i].pk);
    br->ntodo = 0;
}

int dom_mv_set_keys_both(batch_run *br)
{
    int rc =
        dom_store_set_keys(br->S->st, (const char *const *)br->b.keys, br->b.epochs, br->b.nkeys);
    if (rc == 0)
        rc = dom_store_set_keys(br->T->st, (const char *const *)br->b.keys, br->b.epochs,
                                br->b.nkeys);
    return rc;
}

static int step_arm(batch_run *br)
{
    int rc;
    int64_t stale;
    dom_fault("arm");
    double t0 = dom_mono();
    if ((rc = dom_mv_set_keys_both(br)) < 0)
        return rc;
    double t1 = dom_mono();
    /* the target refuses writers first, then loses any rows left over */
    if ((rc = dom_store_fence(br->T->st, br->b.id, DOM_FENCE_INCOMING, br->b.src, -1)) < 0)
        return rc;
    double t2 = dom_mono();
    if ((rc = dom_mv_delete_rows(br->T, (const char *const *)br->b.keys, br->b.epochs, br->b.nkeys,
                                 &stale, 0)) < 0)
        return rc;
    double t3 = dom_mono();
    if ((rc = dom_store_fence(br->S->st, br->b.id, DOM_FENCE_CAPTURING, NULL, -1)) < 0)
        return rc;
    dom_log(DOM_LOG_DEBUG,
            "batch %lld: arm: keys %.1f ms, target fenced %.1f ms, %lld stale rows deleted in "
            "%.1f ms, source capturing %.1f ms",
            (long long)br->b.id, (t1 - t0) * 1000, (t2 - t1) * 1000, (long long)stale,
            (t3 - t2) * 1000, (dom_mono() - t3) * 1000);
    double t4 = dom_mono();
    if ((rc = dom_store_schema_sig(br->S->st, br->S->mt, br->S->nmt, br->b.schema_sig)) < 0)
        return rc;
    double t5 = dom_mono();
    if ((rc = dom_catalog_set_state(br->w->cat, br->b.id, "moving")) < 0)
        return rc;
    double t6 = dom_mono();
    rc = dom_mv_save_step(br, "armed");
    dom_log(DOM_LOG_DEBUG,
            "batch %lld: arm: schema signature %.1f ms, directory %.1f ms, journal %.1f ms",
            (long long)br->b.id, (t5 - t4) * 1000, (t6 - t5) * 1000, (dom_mono() - t6) * 1000);
    return rc;
}

static int step_freeze(batch_run *br)
{
    double t0 = dom_mono();
    dom_mv_pause_enter(br->S->idx, br->T->idx, 1);
    br->w->pausing = 1;
    /* the schema check rides on the freeze's round trip */
    int rc = dom_store_fence_sig(br->S->st, br->b.id, DOM_FENCE_FROZEN, NULL, -1, br->S->mt,
                                 br->S->nmt, br->freeze_sig);
    if (rc < 0)
        return rc;
    br->t_freeze = t0;
    dom_log(DOM_LOG_DEBUG, "batch %lld: freeze in %.1f ms", (long long)br->b.id,
            (dom_mono() - t0) * 1000);
    dom_fault("freeze");
    /* not journaled: inside the write pause every catalog commit counts,
     * and a batch resumed at "verified" compares every row and freezes
     * again (a fence change is idempotent) */
    return 0;
}

typedef struct unfence_job {
    dom_store *st;
    int rc;
    double ms;
    char err[1024];
} unfence_job;

static void *unfence_main(void *arg)
{
    unfence_job *j = arg;
    double t0 = dom_mono();
    j->rc = dom_store_unfence(j->st);
    if (j->rc < 0)
        snprintf(j->err, sizeof(j->err), "%s", dom_error_last());
    j->ms = (dom_mono() - t0) * 1000;
    return NULL;
}

/* After the directory flip: the source says where the tenants live now and
 * the target starts accepting their writes.  Both at once, on their own
 * connections: the source is frozen (it refuses every write) until it
 * says "moved", so the target may open first without two regions ever
 * accepting a tenant's writes (I1). */
static int finish_flip(batch_run *br)
{
    int rc;
    if ((rc = dom_mv_set_keys_both(br)) < 0)
        return rc;
    double t0 = dom_mono();
    unfence_job job = {br->T->st, 0, 0, ""};
    pthread_t th;
    int threaded = pthread_create(&th, NULL, unfence_main, &job) == 0;
    rc = dom_store_fence(br->S->st, br->b.id, DOM_FENCE_MOVED, br->b.dst, -1);
    double t1 = dom_mono();
    if (rc == 0)
        dom_fault("flipped");
    if (threaded)
        pthread_join(th, NULL);
    else if (rc == 0)
        unfence_main(&job);
    if (rc < 0)
        return rc;
    if (job.rc < 0)
        return dom_error_set(job.rc, "%s", job.err);
    if (br->w->pausing) {
        dom_mv_pause_enter(br->S->idx, br->T->idx, -1);
        br->w->pausing = 0;
    }
    dom_log(DOM_LOG_DEBUG,
            "batch %lld: source fenced moved in %.1f ms, target opened in %.1f ms (at once)",
            (long long)br->b.id, (t1 - t0) * 1000, job.ms);
    if (br->t_freeze > 0) {
        br->b.pause_ms = (dom_mono() - br->t_freeze) * 1000.0;
        br->t_freeze = 0;
        if ((rc = dom_catalog_batch_update(br->w->cat, &br->b)) < 0)
            return rc;
        pthread_mutex_lock(br->stats_mu);
        double *g = dom_realloc(br->stats->pauses_ms, (br->stats->npauses + 1) * sizeof(double));
        if (g) {
            br->stats->pauses_ms = g;
            g[br->stats->npauses++] = br->b.pause_ms;
        }
        pthread_mutex_unlock(br->stats_mu);
    }
    return 0;
}

/* Between two steps of a batch: another batch's write pause in either of
 * its regions goes first (a step's reads and writes on two busy cores
 * lengthen it; two pauses on one source would wait for each other's
 * locks), then the live control (control.h). */
static int step_gate(batch_run *br)
{
    if (!br->w->pausing) {
        dom_mv_yield_to_pause(br->S->idx);
        dom_mv_yield_to_pause(br->T->idx);
    }
    return dom_control_gate(br->w->cat, 0);
}

static int step_flip(batch_run *br)
{
    double t0 = dom_mono();
    int rc = dom_catalog_flip(br->w->cat, &br->b);
    if (rc < 0)
        return rc;
    dom_log(DOM_LOG_DEBUG, "batch %lld: directory flip in %.1f ms", (long long)br->b.id,
            (dom_mono() - t0) * 1000);
    dom_fault("flip");
    if ((rc = finish_flip(br)) < 0)
        return rc;
    return dom_mv_log_transfer(br);
}

/* Takes a batch back before its flip: the source accepts writes again and
 * the target loses what was copied. */
static int abort_batch(batch_run *br, const char *why)
{
    int rc;
    int64_t d;
    if ((rc = dom_mv_set_keys_both(br)) < 0 || (rc = dom_store_unfence(br->S->st)) < 0 ||
        (rc = dom_mv_delete_rows(br->T, (const char *const *)br->b.keys, br->b.epochs, br->b.nkeys,
                                 &d, 0)) < 0 ||
        (rc = dom_store_unfence(br->T->st)) < 0 ||
        (rc = dom_catalog_set_state(br->w->cat, br->b.id, "home")) < 0)
        return rc;
    snprintf(br->b.error, sizeof(br->b.error), "%s", why);
    return dom_mv_save_step(br, "failed");
}

static int step_index(const char *step)
{
    static const char *const order[] = {"new",    "armed",  "copied",  "caught_up", "verified",
                                        "frozen", "synced", "flipped", "done",      "failed"};
    for (int i = 0; i < (int)DOM_ARRAY_LEN(order); i++)
        if (strcmp(order[i], step) == 0)
            return i;
    return -1;
}

/* ---- the steps of a batch -------------------------------------------------------
 * A batch runs the steps below in order, from the first whose `resume`
 * names the step its journal records (a rerun after a crash starts there:
 * every step can be redone).  Before a step marked `gate`, another batch's
 * write pause and the live control go first (step_gate); after it, its
 * fault point (dom_fault: the crash tests stop the process there) and its
 * time added to stats->step_sec[slot].  A step marked `resumed` runs only
 * when the batch starts at it: "finish" completes a flip whose run ended
 * between the directory's commit and the fences. */

static int step_home(batch_run *br)
{
    int rc = step_flip(br);
    if (rc == 0) {
        pthread_mutex_lock(br->stats_mu);
        br->stats->home_sec = dom_mono() - br->stats->t0;
        pthread_mutex_unlock(br->stats_mu);
    }
    return rc;
}

static int step_finish(batch_run *br)
{
    int rc = finish_flip(br);
    return rc < 0 ? rc : dom_mv_log_transfer(br);
}

static int step_erase_timed(batch_run *br)
{
    int rc = dom_mv_step_erase(br);
    if (rc == 0 && br->waiting == ERASE_NOW) {
        pthread_mutex_lock(br->stats_mu);
        br->stats->erased_sec = dom_mono() - br->stats->t0;
        pthread_mutex_unlock(br->stats_mu);
    }
    return rc;
}

typedef struct batch_step {
    const char *name;
    int (*run)(batch_run *br);
    const char *resume[2]; /* journal steps a run starts at with this step */
    int gate;
    int resumed;       /* runs only as the first step of a run */
    const char *fault; /* the fault point after it, or NULL */
    int slot;          /* of stats->step_sec, or -1 */
} batch_step;

static const batch_step steps[] = {
    /* a rerun arms again: the target's partial copy is deleted */
    {"arm", step_arm, {"new", "armed"}, 0, 0, "armed", 0},
    {"copy", dom_mv_step_copy, {NULL, NULL}, 1, 0, "copied", 1},
    {"catch-up", dom_mv_step_catchup, {"copied", NULL}, 1, 0, NULL, 2},
    {"verify", dom_mv_step_verify, {"caught_up", NULL}, 1, 0, "verified", 3},
    /* the last safe point before the write pause; freeze to flip is
     * the pause (slot 4) */
    {"freeze", step_freeze, {"verified", NULL}, 1, 0, "frozen", 4},
    {"sync", dom_mv_step_sync, {"frozen", NULL}, 0, 0, "synced", 4},
    {"flip", step_home, {"synced", NULL}, 0, 0, NULL, 5},
    {"finish", step_finish, {"flipped", NULL}, 0, 1, NULL, -1},
    {"erase", step_erase_timed, {NULL, NULL}, 0, 0, "done", 6},
};

/* The step a run of a batch at journal step `at` starts with, or -1. */
static int first_step(const char *at)
{
    for (int i = 0; i < (int)DOM_ARRAY_LEN(steps); i++)
        for (int k = 0; k < 2; k++)
            if (steps[i].resume[k] && strcmp(steps[i].resume[k], at) == 0)
                return i;
    return -1;
}

static int run_steps(batch_run *br, int first)
{
    for (int i = first; i < (int)DOM_ARRAY_LEN(steps); i++) {
        const batch_step *s = &steps[i];
        if (s->resumed && i != first)
            continue;
        int rc;
        if (s->gate && (rc = step_gate(br)) < 0)
            return rc;
        double t0 = dom_mono();
        if ((rc = s->run(br)) < 0)
            return rc;
        if (s->fault)
            dom_fault(s->fault);
        if (s->slot >= 0)
            br->stats->step_sec[s->slot] += dom_mono() - t0;
    }
    return 0;
}

/* Opens the batch's regions and checks that their tenant tables have the
 * same columns (rows are copied column by column).  DOM_EFAILED: the batch
 * cannot move as it is. */
static int batch_open(batch_run *br)
{
    worker *w = br->w;
    int rc, s = dom_config_region(w->cfg, br->b.src), t = dom_config_region(w->cfg, br->b.dst);
    if (s < 0 || t < 0)
        return dom_error_set(DOM_ECONFIG,
                             "batch %lld moves between regions \"%s\" and \"%s\"; the "
                             "config lacks one",
                             (long long)br->b.id, br->b.src, br->b.dst);
    if ((rc = dom_mv_region_open(w, s, &br->S)) < 0 || (rc = dom_mv_region_open(w, t, &br->T)) < 0)
        return rc;
    if (br->S->nmt != br->T->nmt)
        return dom_error_set(DOM_EFAILED, "regions \"%s\" and \"%s\" hold different tenant tables",
                             br->b.src, br->b.dst);
    for (size_t i = 0; i < br->S->nmt; i++) {
        const dom_table_info *a = br->S->mt[i].info, *b = br->T->mt[i].info;
        int same = strcmp(a->name, b->name) == 0 && a->ncols == b->ncols;
        for (size_t c = 0; same && c < a->ncols; c++)
            same = strcmp(a->cols[c].name, b->cols[c].name) == 0;
        if (!same)
            return dom_error_set(DOM_EFAILED,
                                 "table \"%s\" has other columns in region \"%s\" than in region "
                                 "\"%s\"",
                                 a->name, br->b.src, br->b.dst);
    }
    return 0;
}

/* A batch resumed between arm and flip: the regions' key sets again, and
 * its tables as they were when it started (DOM_EFAILED otherwise). */
static int batch_resume(batch_run *br, int at)
{
    if (at < 1 || at > 6)
        return 0;
    /* a batch resumed after its verify has lost the list of rows to
     * check again: the final verify compares everything */
    if (at >= 4)
        br->full_verify = 1;
    int rc = dom_mv_set_keys_both(br);
    if (rc < 0 || !br->b.schema_sig[0])
        return rc;
    char sig[65];
    if ((rc = dom_store_schema_sig(br->S->st, br->S->mt, br->S->nmt, sig)) < 0)
        return rc;
    if (strcmp(sig, br->b.schema_sig) != 0)
        return dom_error_set(DOM_EFAILED,
                             "the definition of a tenant table in region \"%s\" "
                             "changed during the move",
                             br->b.src);
    return 0;
}

/* The batch's outcome in the run's figures (under the stats lock). */
static void batch_count(batch_run *br, int rc)
{
    dom_apply_stats *stats = br->stats;
    const dom_batch *b = &br->b;
    int done = rc == 0 && strcmp(b->step, "done") == 0;
    int retained = rc == 0 && !done && br->waiting == ERASE_RETAINED;
    int later = rc == 0 && !done && br->waiting == ERASE_LATER; /* done: by the erasure phase */
    if (done || retained || later) {
        stats->batches_done += done;
        stats->batches_retained += retained;
        stats->tenants += b->tenants;
        stats->rows += b->rows;
        stats->bytes += b->bytes;
        stats->erased += done ? b->erased : 0;
    } else if (strcmp(b->step, "failed") == 0) {
        stats->batches_failed++;
        snprintf(stats->last_error, sizeof(stats->last_error), "batch %lld: %s", (long long)b->id,
                 b->error);
    }
    const dom_apply_opts *o = br->opts;
    if (o->on_batch && (rc == 0 || strcmp(b->step, "failed") == 0))
        o->on_batch(b, o->payload);
}

static void batch_free(batch_run *br)
{
    dom_mv_clear_todo(br);
    dom_free(br->todo);
    dom_content_hash_end(&br->copy_hash, NULL);
    dom_free(br->hrows);
    dom_free(br->hbytes);
    dom_batch_free(&br->b);
}

/* Runs one batch from wherever its journal says it is.  A batch that
 * cannot move (DOM_EFAILED) before its flip is taken back and recorded
 * "failed", and the run goes on. */
int dom_mv_run_batch(worker *w, int64_t id, dom_apply_stats *stats, pthread_mutex_t *mu,
                     const dom_apply_opts *o, int64_t *moved)
{
    batch_run br = {.w = w, .stats = stats, .stats_mu = mu, .opts = o, .waiting = ERASE_NOW};
    *moved = 0;
    int rc = dom_catalog_batch_load(w->cat, id, &br.b);
    if (rc == 0)
        rc = batch_open(&br);
    if (rc < 0 && (rc != DOM_EFAILED || !br.S || !br.T)) {
        batch_free(&br);
        return rc;
    }
    int at = step_index(br.b.step), first = first_step(br.b.step);
    if (rc == 0)
        rc = batch_resume(&br, at);
    if (rc == 0 && first >= 0)
        rc = run_steps(&br, first);
    if (rc == DOM_EFAILED && step_index(br.b.step) < 7) {
        char why[1024];
        snprintf(why, sizeof(why), "%s", dom_error_last());
        int rc2 = abort_batch(&br, why);
        if (rc2 < 0)
            rc = rc2;
    }
    pthread_mutex_lock(mu);
    batch_count(&br, rc);
    pthread_mutex_unlock(mu);
    if (w->pausing) {
        dom_mv_pause_enter(br.S->idx, br.T->idx, -1);
        w->pausing = 0;
    }
    if (rc == DOM_EFAILED)
        rc = 0; /* recorded; the run goes on */
    *moved = br.b.rows;
    dom_store_idle(br.S->st);
    dom_store_idle(br.T->st);
    batch_free(&br);
    return rc;
}
