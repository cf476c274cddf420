/*
 * move_verify.c - the compares of a batch: every row after the copy (or
 * the copy's hash), the rows changed since, and the final sync inside the
 * write pause, after which the target equals the frozen source or the
 * batch fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/move_int.h"

static int collect_diff(size_t table, dom_diff_kind kind, const char *tenant, const char *pk,
                        void *payload)
{
    (void)kind;
    (void)tenant;
    return dom_mv_add_todo(payload, table, pk);
}

/* A compare of every row of the batch: its hash of the source's rows
 * stands for the transfer while nothing changes after it. */
static int verify_all(batch_run *br, dom_diff_cb cb)
{
    br->have_hash = br->copy_hashed = 0;
    int rc = dom_mv_hash_arrays(br);
    if (rc < 0)
        return rc;
    dom_verify_stats vs = {.table_rows = br->hrows, .table_bytes = br->hbytes};
    rc = dom_verify_keys(br->S->st, br->T->st, br->S->mt, br->T->mt, br->S->nmt, cb, br, &vs);
    if (rc < 0)
        return rc;
    memcpy(br->hash, vs.hash_a, 32);
    br->have_hash = 1;
    return 0;
}

/* The target against the hash the copy took of the source's snapshot,
 * when no change was replayed since: equal, the target holds the snapshot
 * and the source has not changed since (every change is in the log).
 * *same is 0 when the target must be compared row by row. */
static int verify_against_copy(batch_run *br, int *same)
{
    *same = 0;
    if (!br->copy_hashed || br->replayed)
        return 0;
    size_t n = br->S->nmt ? br->S->nmt : 1;
    int64_t *rows = dom_calloc(n, sizeof(int64_t)), *bytes = dom_calloc(n, sizeof(int64_t));
    unsigned char h[32];
    int rc = rows && bytes ? 0 : DOM_ENOMEM;
    if (rc == 0)
        rc = dom_hash_keys(br->T->st, br->T->mt, br->T->nmt, rows, bytes, h);
    if (rc == 0) {
        *same = memcmp(h, br->hash, 32) == 0 &&
                memcmp(rows, br->hrows, br->S->nmt * sizeof(int64_t)) == 0 &&
                memcmp(bytes, br->hbytes, br->S->nmt * sizeof(int64_t)) == 0;
        dom_log(DOM_LOG_DEBUG, "batch %lld: the target %s the copy's hash%s", (long long)br->b.id,
                *same ? "matches" : "differs from", *same ? "" : "; comparing every row");
    }
    dom_free(rows);
    dom_free(bytes);
    return rc;
}

static int verify_todo(batch_run *br, int early);

int dom_mv_step_verify(batch_run *br)
{
    dom_mv_clear_todo(br);
    br->full_verify = 0;
    int same, rc = verify_against_copy(br, &same);
    if (rc < 0)
        return rc;
    if (same) {
        br->copy_hashed = 0;
        br->have_hash = 1;
    } else if ((rc = verify_all(br, collect_diff)) < 0) {
        return rc;
    }
    /* what writers changed while the rows were compared: replayed now, not
     * inside the write pause (and compared again at the final sync) */
    int64_t seen;
    int rounds = 0;
    do {
        if ((rc = dom_mv_catch_up_round(br, 1, &seen, NULL)) < 0)
            return rc;
    } while (seen >= CATCHUP_SMALL && ++rounds < CATCHUP_ROUNDS);
    /* the rows replayed since the compare, compared now rather than inside
     * the write pause; the compare's hash no longer stands for the source */
    if (br->ntodo && !br->full_verify) {
        double t0 = dom_mono();
        size_t n = br->ntodo;
        br->have_hash = 0;
        if ((rc = verify_todo(br, 1)) < 0)
            return rc;
        dom_log(DOM_LOG_DEBUG,
                "batch %lld: %zu of %zu changed rows to compare again after the "
                "freeze (%.1f ms)",
                (long long)br->b.id, br->ntodo, n, (dom_mono() - t0) * 1000);
    }
    return dom_mv_save_step(br, "verified");
}

static int fail_diff(size_t table, dom_diff_kind kind, const char *tenant, const char *pk,
                     void *payload)
{
    (void)tenant;
    batch_run *br = payload;
    static const char *const kinds[] = {"", "missing in the target", "extra in the target",
                                        "different in the target"};
    dom_error_set(DOM_EFAILED, "table \"%s\": row %s is %s after the final sync",
                  br->S->mt[table].info->name, pk, kinds[kind]);
    return DOM_EFAILED;
}

/* Digest of a row's canonical encoding. */
void dom_mv_row_digest(const dom_move_table *t, const dom_value *row, dom_buf *tmp,
                       unsigned char out[32])
{
    dom_buf_clear(tmp);
    dom_row_encode(tmp, row, t->info->ncols);
    dom_sha256(tmp->ptr ? tmp->ptr : "", tmp->len, out);
}

static int count_diff(size_t table, dom_diff_kind kind, const char *tenant, const char *pk,
                      void *payload)
{
    (void)table;
    (void)kind;
    (void)tenant;
    (void)pk;
    (*(size_t *)payload)++;
    return 0;
}

/* Compares the rows the catch-up touched, one pass per table and side.
 * At the final sync (source frozen) a difference fails the batch.  Before
 * the freeze (`early`), writers still write: the rows that match leave the
 * list, the others stay for the final sync.  That is sound because a row
 * written after it matched has its change logged, replayed by the final
 * sync and so listed again. */
static int verify_todo(batch_run *br, int early)
{
    int rc = 0;
    pkset *sets = dom_calloc(br->S->nmt ? br->S->nmt : 1, sizeof(pkset));
    int *whole = dom_calloc(br->S->nmt ? br->S->nmt : 1, sizeof(int));
    if (!sets || !whole) {
        dom_free(sets);
        dom_free(whole);
        return DOM_ENOMEM;
    }
    for (size_t i = 0; i < br->ntodo && rc == 0; i++) {
        pending *p = &br->todo[i];
        if (!p->pk)
            whole[p->table] = 1;
        else
            rc = dom_mv_pkset_add(&sets[p->table], &br->S->mt[p->table], p->pk);
    }
    dom_buf tmp = DOM_BUF_INIT;
    for (size_t t = 0; t < br->S->nmt && rc == 0; t++) {
        const dom_move_table *ms = &br->S->mt[t], *mt = &br->T->mt[t];
        if (whole[t]) {
            dom_verify_stats vs = {0};
            size_t ndiff = 0;
            rc = dom_verify_keys(br->S->st, br->T->st, ms, mt, 1, early ? count_diff : fail_diff,
                                 early ? (void *)&ndiff : br, &vs);
            whole[t] = ndiff > 0; /* early: still to compare */
            continue;
        }
        pkset *s = &sets[t];
        if (!s->n)
            continue;
        if ((rc = dom_mv_pkset_finish(s, ms)) < 0)
            break;
        for (int side = 0; side < 2 && rc == 0; side++) {
            const dom_move_table *tt = side ? mt : ms;
            dom_cursor *c;
            const dom_value *row;
            if ((rc = dom_store_cursor_pks(side ? br->T->st : br->S->st, tt, s->vals, s->n, &c)) <
                0)
                break;
            int h;
            while ((h = dom_store_cursor_next(c, &row)) > 0 && rc == 0) {
                unsigned char d[32];
                pkent *e = dom_mv_pkset_find(s, tt, row, &tmp);
                if (!e)
                    continue;
                dom_mv_row_digest(tt, row, &tmp, d);
                if (!side) {
                    e->found = 1;
                    memcpy(e->digest, d, 32);
                } else if (early) {
                    e->matched = e->found && memcmp(e->digest, d, 32) == 0;
                    e->found = !e->matched; /* found: still to compare */
                } else if (!e->found) {
                    rc = fail_diff(t, DOM_DIFF_EXTRA, NULL, e->json, br);
                } else if (memcmp(e->digest, d, 32) != 0) {
                    rc = fail_diff(t, DOM_DIFF_CHANGED, NULL, e->json, br);
                } else {
                    e->matched = 1;
                }
            }
            dom_store_cursor_close(c);
            if (rc == 0 && h < 0)
                rc = h;
        }
        for (size_t i = 0; i < s->n && rc == 0 && !early; i++)
            if (s->e[i].found && !s->e[i].matched)
                rc = fail_diff(t, DOM_DIFF_MISSING, NULL, s->e[i].json, br);
    }
    if (early && rc == 0) {
        /* the list again, with what did not match: a row in the source
         * only (found, never matched) or in the target only or different
         * (found reset to 1 above); a row in neither side matches */
        dom_mv_clear_todo(br);
        for (size_t t = 0; t < br->S->nmt && rc == 0; t++) {
            if (whole[t])
                rc = dom_mv_add_todo(br, t, NULL);
            for (size_t i = 0; i < sets[t].n && rc == 0; i++)
                if (sets[t].e[i].found)
                    rc = dom_mv_add_todo(br, t, sets[t].e[i].json);
        }
    }
    dom_buf_free(&tmp);
    for (size_t t = 0; t < br->S->nmt; t++)
        dom_mv_pkset_free(&sets[t]);
    dom_free(sets);
    dom_free(whole);
    return rc;
}

int dom_mv_step_sync(batch_run *br)
{
    int64_t seen, total = 0;
    int rc, more;
    double t0 = dom_mono();
    /* the definitions as the freeze committed (read again when the batch
     * froze in an earlier run) */
    char sig[65];
    if (br->freeze_sig[0])
        memcpy(sig, br->freeze_sig, sizeof(sig));
    else if ((rc = dom_store_schema_sig(br->S->st, br->S->mt, br->S->nmt, sig)) < 0)
        return rc;
    if (br->b.schema_sig[0] && strcmp(sig, br->b.schema_sig) != 0)
        return dom_error_set(DOM_EFAILED,
                             "the definition of a tenant table in region \"%s\" "
                             "changed during the move",
                             br->b.src);
    /* frozen since the freeze returned: every write to the batch before
     * it is committed and logged, none comes after, so the log is read to
     * its end once */
    do {
        if ((rc = dom_mv_catch_up_round(br, 1, &seen, &more)) < 0)
            return rc;
        total += seen;
    } while (more);
    dom_log(DOM_LOG_DEBUG, "batch %lld: final sync replayed %lld changes in %.1f ms",
            (long long)br->b.id, (long long)total, (dom_mono() - t0) * 1000);
    t0 = dom_mono();
    /* The source is frozen: from here it equals the target row for row, or
     * the batch fails. */
    if (br->full_verify) {
        if ((rc = verify_all(br, fail_diff)) < 0)
            return rc;
    } else if (br->ntodo) {
        /* rows changed after the compare of every row */
        br->have_hash = 0;
        if ((rc = verify_todo(br, 0)) < 0)
            return rc;
    }
    dom_log(DOM_LOG_DEBUG, "batch %lld: final verify of %zu rows%s in %.1f ms", (long long)br->b.id,
            br->ntodo, br->full_verify ? " (full)" : "", (dom_mono() - t0) * 1000);
    /* what the final sync wrote is on disk before the flip records it;
     * the step itself is not journaled (see step_freeze): the flip's
     * catalog transaction follows */
    if ((rc = dom_store_sync(br->S->st)) < 0 || (rc = dom_store_sync(br->T->st)) < 0)
        return rc;
    return 0;
}
