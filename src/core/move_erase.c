/*
 * move_erase.c - erasing the source copy of flipped batches: one batch at
 * a time, or a wave's batches together per source region; checked table
 * by table before the transfer log records it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/control.h"
#include "core/move_int.h"

/* After each committed erasure write: the fault point "erase" and the pace
 * of options.erase_rows_per_second. */
static void erase_written(const region_h *h, int64_t rows)
{
    dom_fault("erase");
    dom_control_erase_pay(h->w->cfg->options.erase_rows_per_second, rows);
}

/* Deletes the rows of `keys` from a region, children first, a slice of
 * ERASE_TENANTS tenants at a time, in writes of at most the store's
 * write_rows rows (several small tables share a write).  Slicing keeps
 * every statement's key probes proportional to the slice, not to all
 * keys.  Without a row limit (PostgreSQL): one slice, every table in one
 * write (dom_store_delete_keys_all).  The region's key set is `keys`
 * again afterwards. */
int dom_mv_delete_rows(region_h *h, const char *const *keys, const int64_t *epochs, size_t nkeys,
                       int64_t *deleted, int erasing)
{
    int rc = 0, writing = 0;
    int64_t in_write = 0, chunk = h->st->ops->write_rows;
    *deleted = 0;
    if (!chunk) {
        if ((rc = dom_store_set_keys(h->st, keys, epochs, nkeys)) < 0)
            return rc;
        dom_mv_yield_to_pause(h->idx);
        if ((rc = dom_store_delete_keys_all(h->st, h->mt, h->nmt, deleted)) < 0)
            return rc;
        if (erasing)
            erase_written(h, *deleted);
        return 0;
    }
    for (size_t off = 0; off < nkeys && rc == 0; off += ERASE_TENANTS) {
        size_t n = nkeys - off < ERASE_TENANTS ? nkeys - off : ERASE_TENANTS;
        if ((rc = dom_store_set_keys(h->st, keys + off, epochs ? epochs + off : NULL, n)) < 0)
            break;
        for (size_t i = h->nmt; i-- > 0 && rc == 0;) {
            for (;;) {
                int64_t d = 0, want = chunk - in_write;
                if (!writing) {
                    dom_mv_yield_to_pause(h->idx);
                    if ((rc = dom_store_write_begin(h->st)) < 0)
                        return rc;
                    writing = 1;
                }
                if ((rc = dom_store_delete_keys(h->st, &h->mt[i], want, &d)) < 0) {
                    dom_store_write_rollback(h->st);
                    return rc;
                }
                in_write += d;
                *deleted += d;
                if (in_write >= chunk) {
                    if ((rc = dom_store_write_commit(h->st)) < 0)
                        return rc;
                    writing = 0;
                    if (erasing)
                        erase_written(h, in_write);
                    in_write = 0;
                }
                if (d < want)
                    break; /* this table is done for the slice */
            }
        }
    }
    if (writing && rc < 0) {
        /* a slice's keys could not be staged: its open write is rolled back
         * (the writes committed before stay; a rerun erases the rest) */
        dom_store_write_rollback(h->st);
    } else if (writing) {
        if ((rc = dom_store_write_commit(h->st)) < 0)
            return rc;
        if (erasing && in_write)
            erase_written(h, in_write);
    }
    if (rc == 0)
        rc = dom_store_set_keys(h->st, keys, epochs, nkeys);
    return rc;
}

/* Fails unless no table of S holds a row of the current keys (those of
 * batch `batch`, or of several when < 0). */
static int check_erased(region_h *S, const char *region, int64_t batch)
{
    int64_t *left = dom_calloc(S->nmt ? S->nmt : 1, sizeof(int64_t));
    if (!left)
        return DOM_ENOMEM;
    int rc = dom_store_count_keys_all(S->st, S->mt, S->nmt, left);
    for (size_t i = 0; rc == 0 && i < S->nmt; i++) {
        if (!left[i])
            continue;
        char what[48] = "";
        if (batch >= 0)
            snprintf(what, sizeof(what), " of batch %lld", (long long)batch);
        rc = dom_error_set(DOM_EREGION,
                           "region \"%s\", table \"%s\": %lld rows%s remain after erasure", region,
                           S->mt[i].info->name, (long long)left[i], what);
    }
    dom_free(left);
    return rc;
}

/* Erases the source copy once retain_source has passed.  br->waiting is
 * ERASE_RETAINED when it has not, ERASE_LATER when the erasure phase
 * after the last wave will (opts->defer_erase). */
int dom_mv_step_erase(batch_run *br)
{
    int rc;
    int *waiting = &br->waiting, defer = br->opts->defer_erase;
    *waiting = ERASE_NOW;
    if (dom_mv_wall() < br->b.flipped_at + (double)br->w->cfg->options.retain_source_sec) {
        *waiting = ERASE_RETAINED;
        return 0;
    }
    if (defer) {
        *waiting = ERASE_LATER;
        return 0;
    }
    if ((rc = dom_store_set_keys(br->S->st, (const char *const *)br->b.keys, br->b.epochs,
                                 br->b.nkeys)) < 0)
        return rc;
    int64_t deleted;
    if ((rc = dom_mv_delete_rows(br->S, (const char *const *)br->b.keys, br->b.epochs, br->b.nkeys,
                                 &deleted, 1)) < 0)
        return rc;
    if ((rc = check_erased(br->S, br->b.src, br->b.id)) < 0)
        return rc;
    br->b.erased += deleted;
    return dom_mv_record_erasure(br, NULL);
}

/* ---- the erasure phase: flipped batches' sources together --------------------------
 * Once every wave has flipped, the flipped batches that are due are erased
 * together, per source region (erase_rows), then checked, recorded and
 * logged as done.  The erasure takes no core from the copies, and the
 * time to home does not wait for it.  A batch left flipped by a crash is
 * erased on its own by the next run. */

/* Deletes the batches' rows from S, adding each batch's count to its
 * `erased`.  A store that writes in chunks of rows (SQLite) deletes the
 * union of their keys in one pass, each batch counted before (batch by
 * batch would rewrite a page once for every batch with rows on it); one without
 * a row limit (PostgreSQL) deletes batch by batch and counts what each
 * delete took.  `keys` (room for `total`) gets the union, which is the
 * key set afterwards. */
static int erase_rows(region_h *S, dom_batch *bs, size_t n, const char **keys, size_t total)
{
    int rc = 0, each = S->st->ops->write_rows == 0;
    int64_t d;
    for (size_t i = 0, k = 0; i < n && rc == 0; i++) {
        const char *const *bk = (const char *const *)bs[i].keys;
        if (each) {
            rc = dom_mv_delete_rows(S, bk, NULL, bs[i].nkeys, &d, 1);
            bs[i].erased += rc == 0 ? d : 0;
        } else {
            int64_t rows = 0, r;
            rc = dom_store_set_keys(S->st, bk, NULL, bs[i].nkeys);
            for (size_t t = 0; t < S->nmt && rc == 0; t++)
                if ((rc = dom_store_count_keys(S->st, &S->mt[t], &r)) == 0)
                    rows += r;
            bs[i].erased += rows;
        }
        for (size_t j = 0; j < bs[i].nkeys; j++)
            keys[k++] = bs[i].keys[j];
    }
    if (rc < 0)
        return rc;
    if (each)
        return dom_store_set_keys(S->st, keys, NULL, total);
    return dom_mv_delete_rows(S, keys, NULL, total, &d, 1);
}

static int erase_group(worker *w, int src, dom_batch *bs, size_t n, const dom_apply_opts *o,
                       dom_apply_stats *stats)
{
    region_h *S;
    int rc = dom_mv_region_open(w, src, &S);
    if (rc < 0)
        return rc;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += bs[i].nkeys;
    const char **keys = dom_calloc(total ? total : 1, sizeof(char *));
    if (!keys)
        return DOM_ENOMEM;
    double e0 = dom_mono(), e1 = 0, e2 = 0, e3 = 0;
    if ((rc = erase_rows(S, bs, n, keys, total)) < 0)
        goto done;
    e1 = dom_mono();
    if ((rc = check_erased(S, w->cfg->regions[src].name, -1)) < 0)
        goto done;
    e2 = dom_mono();
    if ((rc = dom_store_sync(S->st)) < 0)
        goto done;
    e3 = dom_mono();
    /* every batch's entry, then the last head once in the source and in
     * each target (a region's head names the last entry it saw; a later
     * entry names it as well: the log is one chain) */
    char head[96] = "";
    int targets[DOM_MAX_REGIONS] = {0};
    for (size_t i = 0; i < n; i++) {
        region_h *T;
        if ((rc = dom_mv_region_open(w, dom_config_region(w->cfg, bs[i].dst), &T)) < 0)
            goto done;
        batch_run br = {0};
        br.w = w;
        br.b = bs[i];
        br.S = S;
        br.T = T;
        rc = dom_mv_record_erasure(&br, head);
        bs[i] = br.b;
        if (rc < 0)
            goto done;
        targets[T->idx] = 1;
        dom_fault("done");
        stats->batches_done++;
        stats->erased += bs[i].erased;
        if (o->on_erased)
            o->on_erased(&bs[i], o->payload);
    }
    if (head[0] && (rc = dom_store_meta_set(S->st, "log_head", head)) < 0)
        goto done;
    for (size_t r = 0; head[0] && r < DOM_MAX_REGIONS; r++)
        if (targets[r] && (rc = dom_store_meta_set(w->r[r].st, "log_head", head)) < 0)
            goto done;
    dom_log(DOM_LOG_DEBUG,
            "erase of %zu batches: counted and deleted in %.1f ms, checked in %.1f, synced in "
            "%.1f, recorded in %.1f",
            n, (e1 - e0) * 1000, (e2 - e1) * 1000, (e3 - e2) * 1000, (dom_mono() - e3) * 1000);
done:
    dom_free(keys);
    dom_store_idle(S->st);
    return rc;
}

int dom_mv_erase_phase(const dom_config *cfg, const int64_t *ids, size_t nids,
                       const dom_apply_opts *o, dom_apply_stats *stats)
{
    worker *w;
    int rc = dom_mv_worker_take(cfg, &w);
    if (rc < 0)
        return rc;
    dom_batch *bs = dom_calloc(nids ? nids : 1, sizeof(dom_batch));
    size_t n = 0;
    if (rc == 0 && !bs)
        rc = DOM_ENOMEM;
    for (size_t i = 0; rc == 0 && i < nids; i++) {
        if ((rc = dom_catalog_batch_load(w->cat, ids[i], &bs[n])) < 0)
            break;
        if (strcmp(bs[n].step, "flipped") == 0 &&
            dom_mv_wall() >= bs[n].flipped_at + (double)cfg->options.retain_source_sec)
            n++;
        else
            dom_batch_free(&bs[n]);
    }
    double t0 = dom_mono();
    for (size_t r = 0; rc == 0 && r < cfg->nregions && !dom_interrupted; r++) {
        /* the batches of this source, in id order */
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (dom_config_region(cfg, bs[i].src) == (int)r) {
                dom_batch tmp = bs[m];
                bs[m] = bs[i];
                bs[i] = tmp;
                m++;
            }
        if (m)
            rc = erase_group(w, (int)r, bs, m, o, stats);
        for (size_t i = 0; i < m; i++)
            dom_batch_free(&bs[i]);
        memmove(bs, bs + m, (n - m) * sizeof(dom_batch));
        n -= m;
    }
    stats->step_sec[6] += dom_mono() - t0;
    if (rc == 0)
        stats->erased_sec = dom_mono() - stats->t0;
    for (size_t i = 0; i < n; i++)
        dom_batch_free(&bs[i]);
    dom_free(bs);
    dom_mv_worker_park(w, rc == 0);
    return rc;
}
