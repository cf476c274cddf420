/*
 * move_catchup.c - the catch-up: rounds of the source's change log
 * replayed into the target, and the sets of primary keys they use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/move_int.h"

void dom_mv_pkset_free(pkset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        dom_buf_free(&s->e[i].canon);
        dom_buf_free(&s->e[i].store);
        dom_free(s->e[i].json);
    }
    dom_free(s->e);
    dom_free(s->vals);
    for (size_t i = 0; i < s->nresync; i++)
        dom_free(s->resync[i]);
    dom_free(s->resync);
    memset(s, 0, sizeof(*s));
}

int dom_mv_pkset_add(pkset *s, const dom_move_table *t, const char *json)
{
    if (t->npk > DOM_PK_MAX)
        return dom_error_set(DOM_ERROR, "table \"%s\": primary key too wide", t->info->name);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        pkent *g = dom_realloc(s->e, cap * sizeof(*g));
        if (!g)
            return DOM_ENOMEM;
        s->e = g;
        s->cap = cap;
    }
    pkent *e = &s->e[s->n];
    memset(e, 0, sizeof(*e));
    e->canon = (dom_buf)DOM_BUF_INIT;
    e->store = (dom_buf)DOM_BUF_INIT;
    s->n++;
    int rc = dom_pk_parse(json, e->v, t->npk, &e->store);
    if (rc < 0)
        return rc;
    dom_row_encode(&e->canon, e->v, (size_t)t->npk);
    if (!(e->json = dom_strdup(json)) || e->canon.oom)
        return DOM_ENOMEM;
    return 0;
}

static int canon_cmp(const dom_buf *a, const dom_buf *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->ptr, b->ptr, n) : 0;
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int pkent_cmp(const void *a, const void *b)
{
    return canon_cmp(&((const pkent *)a)->canon, &((const pkent *)b)->canon);
}

/* Sorts and drops duplicates; lays the values out for cursor_pks. */
int dom_mv_pkset_finish(pkset *s, const dom_move_table *t)
{
    qsort(s->e, s->n, sizeof(pkent), pkent_cmp);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k && canon_cmp(&s->e[k - 1].canon, &s->e[i].canon) == 0) {
            dom_buf_free(&s->e[i].canon);
            dom_buf_free(&s->e[i].store);
            dom_free(s->e[i].json);
            continue;
        }
        s->e[k++] = s->e[i];
    }
    s->n = k;
    dom_free(s->vals);
    if (!(s->vals = dom_calloc(k ? k * (size_t)t->npk : 1, sizeof(dom_value))))
        return DOM_ENOMEM;
    for (size_t i = 0; i < k; i++)
        memcpy(&s->vals[i * (size_t)t->npk], s->e[i].v, (size_t)t->npk * sizeof(dom_value));
    return 0;
}

/* The entry of a row (by its primary key values), or NULL. */
pkent *dom_mv_pkset_find(pkset *s, const dom_move_table *t, const dom_value *row, dom_buf *tmp)
{
    dom_value pk[DOM_PK_MAX];
    for (int i = 0; i < t->npk; i++)
        pk[i] = row[t->pk[i]];
    pkent key = {0};
    dom_buf_clear(tmp);
    dom_row_encode(tmp, pk, (size_t)t->npk);
    key.canon = *tmp;
    return bsearch(&key, s->e, s->n, sizeof(pkent), pkent_cmp);
}

/* ---- catch-up --------------------------------------------------------------------- */

typedef struct change_ctx {
    batch_run *br;
    int64_t last;
    int64_t n;
    int collect; /* remember touched rows for the final verify */
    pkset *sets; /* per table, the rows to bring up to date */
} change_ctx;

/* Takes one change: a row to bring up to date (by the round, below), or a
 * table of one tenant without primary key to resynchronize now; inside a
 * write on the target. */
static int take_change(int64_t seq, const char *tenant, const char *table, const char *pk_json,
                       int key_changed, void *payload)
{
    change_ctx *cx = payload;
    batch_run *br = cx->br;
    cx->last = seq;
    cx->n++;
    size_t t = dom_mv_table_index(br->S, table);
    if (t == (size_t)-1)
        return 0; /* a table that is not a tenant table: nothing to move */
    if (key_changed) {
        br->key_changed = 1;
        snprintf(br->key_changed_msg, sizeof(br->key_changed_msg),
                 "table \"%s\": a row of tenant %s (primary key %s) changed its tenant key during "
                 "the move",
                 table, tenant, pk_json ? pk_json : "(none)");
        return 0;
    }
    const dom_move_table *ms = &br->S->mt[t];
    if (pk_json && ms->npk)
        return dom_mv_pkset_add(&cx->sets[t], ms, pk_json);
    /* no primary key: this tenant's rows of the table, resynchronized by
     * the round */
    pkset *ps = &cx->sets[t];
    for (size_t i = 0; i < ps->nresync; i++)
        if (strcmp(ps->resync[i], tenant) == 0)
            return 0;
    if (ps->nresync == ps->capresync) {
        size_t cap = ps->capresync ? ps->capresync * 2 : 16;
        char **g = dom_realloc(ps->resync, cap * sizeof(char *));
        if (!g)
            return DOM_ENOMEM;
        ps->resync = g;
        ps->capresync = cap;
    }
    if (!(ps->resync[ps->nresync] = dom_strdup(tenant)))
        return DOM_ENOMEM;
    ps->nresync++;
    return 0;
}

/* Resynchronizes the rows of table t (without primary key) of the set's
 * tenants: the target's are deleted, the source's copied.  Runs after the
 * tables before t (its parents) are brought up to date, and before rows
 * are deleted (children first): an indirect table's rows are found
 * through the parents' rows on both sides. */
static int resync_table(batch_run *br, size_t t, pkset *ps, int collect)
{
    const dom_move_table *ms = &br->S->mt[t], *mt = &br->T->mt[t];
    const char *const *keys = (const char *const *)ps->resync;
    int64_t d;
    int rc;
    if ((rc = dom_store_set_keys(br->T->st, keys, NULL, ps->nresync)) < 0 ||
        (rc = dom_store_delete_keys(br->T->st, mt, 0, &d)) < 0 ||
        (rc = dom_store_set_keys(br->S->st, keys, NULL, ps->nresync)) < 0)
        return rc;
    dom_cursor *c;
    const dom_value *row;
    if ((rc = dom_store_cursor_open(br->S->st, ms, &c)) < 0)
        return rc;
    int h;
    while ((h = dom_store_cursor_next(c, &row)) > 0)
        if ((rc = dom_store_upsert(br->T->st, mt, row)) < 0)
            break;
    dom_store_cursor_close(c);
    if (rc == 0 && h < 0)
        rc = h;
    if (rc == 0)
        rc = dom_mv_set_keys_both(br);
    if (rc == 0 && collect)
        rc = dom_mv_add_todo(br, t, NULL);
    return rc;
}

/* Brings the rows of the round's sets up to date in the target: the
 * source's current rows are read in one pass per table and upserted
 * (parents first); keys the source no longer has are deleted (children
 * first). */
static int replay_sets(batch_run *br, pkset *sets, int collect)
{
    int rc = 0;
    dom_buf tmp = DOM_BUF_INIT;
    for (size_t t = 0; t < br->S->nmt && rc == 0; t++) {
        pkset *s = &sets[t];
        if (s->nresync && (rc = resync_table(br, t, s, collect)) < 0)
            break;
        if (!s->n)
            continue;
        if ((rc = dom_mv_pkset_finish(s, &br->S->mt[t])) < 0)
            break;
        dom_cursor *c;
        const dom_value *row;
        if ((rc = dom_store_cursor_pks(br->S->st, &br->S->mt[t], s->vals, s->n, &c)) < 0)
            break;
        int h;
        while ((h = dom_store_cursor_next(c, &row)) > 0) {
            pkent *e = dom_mv_pkset_find(s, &br->S->mt[t], row, &tmp);
            if (e)
                e->found = 1;
            if ((rc = dom_store_upsert(br->T->st, &br->T->mt[t], row)) < 0)
                break;
        }
        dom_store_cursor_close(c);
        if (rc == 0 && h < 0)
            rc = h;
    }
    for (size_t t = br->S->nmt; t-- > 0 && rc == 0;) {
        pkset *s = &sets[t];
        for (size_t i = 0; i < s->n && rc == 0; i++) {
            if (!s->e[i].found)
                rc = dom_store_delete_pk(br->T->st, &br->T->mt[t], s->e[i].v);
            if (rc == 0 && collect)
                rc = dom_mv_add_todo(br, t, s->e[i].json);
        }
    }
    dom_buf_free(&tmp);
    return rc;
}

/* Replays one round of the change log; *seen is how many changes (rows)
 * it saw, *more (when not NULL) whether the log may hold more than the
 * round took. */
int dom_mv_catch_up_round(batch_run *br, int collect, int64_t *seen, int *more)
{
    pkset *sets = dom_calloc(br->S->nmt ? br->S->nmt : 1, sizeof(pkset));
    if (!sets)
        return DOM_ENOMEM;
    change_ctx cx = {br, br->b.applied_seq, 0, collect, sets};
    if (!br->w->pausing)
        dom_mv_yield_to_pause(br->T->idx);
    double t0 = dom_mono();
    int rc = dom_store_write_begin(br->T->st);
    if (rc == 0) {
        rc = dom_store_changes(br->S->st, br->b.id, br->b.applied_seq, CATCHUP_ROUND, take_change,
                               &cx);
        if (rc >= 0) {
            if (more)
                *more = rc >= CATCHUP_ROUND;
            rc = replay_sets(br, sets, collect);
        }
        if (rc < 0)
            dom_store_write_rollback(br->T->st);
        else
            rc = dom_store_write_commit(br->T->st);
    }
    size_t rows = 0;
    for (size_t t = 0; t < br->S->nmt; t++) {
        rows += sets[t].n;
        dom_mv_pkset_free(&sets[t]);
    }
    dom_free(sets);
    if (rc < 0)
        return rc;
    dom_log(DOM_LOG_DEBUG, "batch %lld: catch-up round: %lld changes, %zu rows in %.1f ms",
            (long long)br->b.id, (long long)cx.n, rows, (dom_mono() - t0) * 1000);
    *seen = cx.n;
    br->replayed += cx.n;
    if (br->key_changed)
        return dom_error_set(DOM_EFAILED, "%s", br->key_changed_msg);
    if (cx.n) {
        br->b.applied_seq = cx.last;
        /* inside the write pause the journal waits for the step's end: a
         * resumed final sync replays from the last recorded position,
         * which only repeats work */
        if (!collect && ((rc = dom_store_sync(br->T->st)) < 0 ||
                         (rc = dom_catalog_batch_update(br->w->cat, &br->b)) < 0))
            return rc;
    }
    return 0;
}

int dom_mv_step_catchup(batch_run *br)
{
    int64_t seen;
    int rc, rounds = 0;
    do {
        if ((rc = dom_mv_catch_up_round(br, 0, &seen, NULL)) < 0)
            return rc;
        dom_fault("catchup");
        if (dom_interrupted)
            return dom_error_set(DOM_EINTR, "interrupted");
    } while (seen >= CATCHUP_SMALL && ++rounds < CATCHUP_ROUNDS);
    return dom_mv_save_step(br, "caught_up");
}
