/*
 * store_pg_fence.c - the batch's keys in a temporary table, fences changed
 * in pipelined transactions (docs/mover.md, "The barrier on PostgreSQL"),
 * snapshots, and the change log read and trimmed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg_move.h"

/* ---- keys, fences, snapshots ------------------------------------------------- */

char *dom_pg__text_array(const char *const *keys, size_t n)
{
    dom_buf b = DOM_BUF_INIT;
    dom_buf_put_text_array(&b, keys, n);
    return dom_pg__buf_take(&b);
}

static char *int_array(const int64_t *v, size_t n)
{
    dom_buf b = DOM_BUF_INIT;
    dom_buf_put_int_array(&b, v, n);
    return dom_pg__buf_take(&b);
}

/* How a temporary table of the mover's (keys, primary keys, a stage) is
 * emptied before it is filled again: DELETE, cheap, but nothing vacuums a
 * temporary table, so the deleted rows stay in its file and index for the
 * session and every statement that reads the table reads them too; so
 * every EMPTY_TRUNCATE_EVERY-th time TRUNCATE (a new file, the catalog
 * updated), which leaves the table as new.  `count` counts the times. */
#define EMPTY_TRUNCATE_EVERY 16
const char *dom_pg__empty_stmt(unsigned *count)
{
    return (*count)++ % EMPTY_TRUNCATE_EVERY == 0 ? "TRUNCATE" : "DELETE FROM";
}

int dom_pg__set_keys(dom_store *base, const char *const *keys, const int64_t *epochs, size_t n)
{
    pg_store *s = (pg_store *)base;
    int rc;
    unsigned char d[32];
    /* the epochs only travel with the fences that record them: new
     * epochs for the same keys (the flip) cost no round trip */
    char *ka = dom_pg__text_array(keys, n), *ea = int_array(epochs, n);
    if (!ka || !ea) {
        dom_free(ka);
        dom_free(ea);
        return DOM_ENOMEM;
    }
    dom_free(s->keys_array);
    dom_free(s->epochs_array);
    s->keys_array = ka;
    s->epochs_array = ea;
    dom_sha256(ka, strlen(ka), d);
    if (s->keys_known && memcmp(d, s->keys_digest, 32) == 0)
        return 0;
    /* what is written inside a transaction may yet be rolled back */
    int in_tx = PQtransactionStatus(s->conn) != PQTRANS_IDLE;
    s->keys_known = 0;
    if (!s->keys_table) {
        if ((rc = exec(s, NULL, "cannot stage tenant keys",
                       "CREATE TEMP TABLE IF NOT EXISTS domicile_keys (k text PRIMARY KEY)")) < 0)
            return rc;
        s->keys_table = !in_tx;
    }
    /* in the COPY's round trip */
    char sql[96];
    snprintf(sql, sizeof(sql), "%s pg_temp.domicile_keys; COPY pg_temp.domicile_keys FROM STDIN",
             dom_pg__empty_stmt(&s->keys_loads));
    PGresult *r = PQexec(s->conn, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN)
        return fail(s, NULL, "cannot stage tenant keys", r);
    PQclear(r);
    dom_buf b = DOM_BUF_INIT;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        dom_buf_put_copy(&b, keys[i], strlen(keys[i]));
        dom_buf_putc(&b, '\n');
        if (b.len >= 65536 || i + 1 == n) {
            ok = !b.oom && PQputCopyData(s->conn, b.ptr, (int)b.len) == 1;
            dom_buf_clear(&b);
        }
    }
    dom_buf_free(&b);
    if ((rc = dom_pg__copy_in_end(s, ok, NULL, "cannot stage tenant keys")) < 0)
        return rc;
    if (!in_tx) {
        memcpy(s->keys_digest, d, 32);
        s->keys_known = 1;
    }
    return 0;
}

/* Statements of the write pause, prepared once per connection (parsed and
 * planned once: planning the change-log read and the columns query cost
 * more than running them). */
enum { PS_NONE, PS_FENCE, PS_DROP_CHANGES, PS_UNFENCE, PS_TRIM, PS_CHANGES, PS_COLUMNS, PS_COUNT };
static const char *const ps_names[PS_COUNT] = {NULL,
                                               "domicile_fence",
                                               "domicile_drop_changes",
                                               "domicile_unfence",
                                               "domicile_trim",
                                               "domicile_changes",
                                               "domicile_columns"};

#define PIPE_MAX_STEPS 8

/* The change-log entries of the tenants in $1 (text[]). */
#define DROP_CHANGES_SQL "DELETE FROM domicile.changes WHERE tenant = ANY ($1::text[])"

/* Runs `steps` in a single round trip (a pipeline): inside a write pause
 * every round trip counts, and on a busy server each waits for the
 * backend to be scheduled again.  With `tx`, as one transaction of the
 * mover (BEGIN, SET LOCAL domicile.bypass and enable_seqscan = off, with
 * `lock_ms` > 0 SET LOCAL lock_timeout, the steps, COMMIT); without, the
 * steps still commit or fail together (one implicit transaction up to the
 * pipeline's sync).  *last (if not NULL) receives the last step's result.
 * A step with `ps` runs as that prepared statement, prepared in the same
 * pipeline the first time.  A failure's SQLSTATE is in s->sqlstate. */
int dom_pg__pipeline(pg_store *s, const pg_step *steps, int n, int tx, int lock_ms,
                     const char *what, PGresult **last)
{
    if (last)
        *last = NULL;
    if (n > PIPE_MAX_STEPS)
        return dom_error_set(DOM_ERROR, "region \"%s\": %s: too many statements", s->base.region,
                             what);
    if (!PQenterPipelineMode(s->conn))
        return fail(s, NULL, what, NULL);
    /* what each query of the pipeline is: 0, or -PS_* for a prepare */
    int kind[2 * PIPE_MAX_STEPS + 6] = {0}, last_q = -1;
    /* the steps of a transaction name their rows by tenant: through an
     * index, whatever the statistics of a fence table that moves are
     * filling say (a sequential scan of it inside the pause is the
     * alternative) */
    int ok = !tx || (PQsendQueryParams(s->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) &&
                     PQsendQueryParams(s->conn, "SET LOCAL domicile.bypass = 'on'", 0, NULL, NULL,
                                       NULL, NULL, 0) &&
                     PQsendQueryParams(s->conn, "SET LOCAL enable_seqscan = off", 0, NULL, NULL,
                                       NULL, NULL, 0));
    int nk = tx ? 3 : 0;
    if (ok && tx && lock_ms > 0) {
        char lt[64];
        snprintf(lt, sizeof(lt), "SET LOCAL lock_timeout = %d", lock_ms);
        ok = PQsendQueryParams(s->conn, lt, 0, NULL, NULL, NULL, NULL, 0);
        nk++;
    }
    for (int i = 0; i < n && ok; i++) {
        int ps = steps[i].ps;
        if (ps && !(s->prepared & (1u << ps))) {
            ok = PQsendPrepare(s->conn, ps_names[ps], steps[i].sql, steps[i].n, NULL);
            kind[nk++] = -ps;
        }
        ok = ok && (ps ? PQsendQueryPrepared(s->conn, ps_names[ps], steps[i].n, steps[i].pv, NULL,
                                             NULL, 0)
                       : PQsendQueryParams(s->conn, steps[i].sql, steps[i].n, NULL, steps[i].pv,
                                           NULL, NULL, 0));
        last_q = nk++;
    }
    ok = ok && (!tx || PQsendQueryParams(s->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0));
    if (tx)
        nk++;
    /* also after a failed send: what went out is answered up to the sync
     * and the connection leaves pipeline mode clean */
    int synced = PQpipelineSync(s->conn);
    int rc = ok && synced ? 0 : fail(s, NULL, what, NULL);
    /* each statement's results are followed by a NULL, then the sync */
    int nq = nk, nulls = 0, q = 0;
    while (synced) {
        PGresult *r = PQgetResult(s->conn);
        if (!r) {
            q++;
            if (++nulls > nq || PQstatus(s->conn) == CONNECTION_BAD)
                break;
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (st == PGRES_COMMAND_OK && q < nk && kind[q] < 0)
            s->prepared |= 1u << -kind[q];
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_PIPELINE_ABORTED ||
            rc < 0) {
            /* the last step's result, kept for the caller */
            if (last && rc == 0 && st == PGRES_TUPLES_OK && q == last_q) {
                PQclear(*last);
                *last = r;
            } else {
                PQclear(r);
            }
            continue;
        }
        rc = fail(s, NULL, what, r);
    }
    PQexitPipelineMode(s->conn);
    if (rc == 0 && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        rc = dom_error_set(DOM_EREGION, "region \"%s\": %s: the transaction did not end",
                           s->base.region, what);
    if (rc < 0 && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    if (rc < 0 && last) {
        PQclear(*last);
        *last = NULL;
    }
    return rc;
}

typedef struct fence_arg {
    const pg_step *steps;
    int n;
    PGresult **last;
} fence_arg;

static int fence_step(pg_store *s, const void *arg, int lock_ms)
{
    const fence_arg *a = arg;
    return dom_pg__pipeline(s, a->steps, a->n, 1, lock_ms, "cannot write fences", a->last);
}

/* Runs a fence change in its own transaction.  It waits for the writers
 * that hold its rows' share locks, and while it waits, every write of a
 * tenant whose row it has already locked waits behind it: a transaction
 * left open by an application would hold them all, so the lock waits are
 * bounded and retried (dom_pg__lock_retries). */
static int fence_tx(pg_store *s, const pg_step *steps, int n, PGresult **last)
{
    fence_arg a = {steps, n, last};
    return dom_pg__lock_retries(s, "write fences", "a fence row of the batch", fence_step, &a);
}

/* Fences the batch; with `tables`, the last step of its pipeline reads
 * their definitions (*cols), in the fence's transaction. */
static int fence_with(pg_store *s, int64_t batch, const char *state, const char *home,
                      int64_t epoch, const dom_move_table *tables, size_t n, PGresult **cols)
{
    char e[32], bt[32];
    snprintf(e, sizeof(e), "%lld", (long long)epoch);
    snprintf(bt, sizeof(bt), "%lld", (long long)batch);
    if (!s->keys_array)
        return dom_error_set(DOM_ERROR, "region \"%s\": fences without keys", s->base.region);
    char *names = NULL;
    if (tables && !(names = dom_pg__table_names(tables, n)))
        return DOM_ENOMEM;
    const char *pv[7] = {state, home, e, bt, s->keys_array, s->epochs_array, names};
    /* the upsert takes each fence row's lock, so it waits for every writer
     * that read the row under a share lock and has not committed yet.
     * Once moved, the batch's change-log entries are all applied (the
     * final sync read the log to its end after the freeze, which waited
     * for every writer that could still log a change): they go with it. */
    pg_step steps[3] = {
        {"INSERT INTO domicile.fence AS f (tenant, state, home, epoch, batch) "
         "SELECT v.k, $1, $2, CASE WHEN $3::bigint < 0 THEN v.e ELSE $3::bigint END, $4::bigint "
         "FROM unnest($5::text[], $6::bigint[]) AS v(k, e) ORDER BY v.k "
         "ON CONFLICT (tenant) DO UPDATE SET state = excluded.state, "
         "home = excluded.home, epoch = excluded.epoch, batch = excluded.batch",
         6, pv, PS_FENCE},
    };
    int nsteps = 1;
    if (strcmp(state, DOM_FENCE_MOVED) == 0)
        steps[nsteps++] = (pg_step){DROP_CHANGES_SQL, 1, pv + 4, PS_DROP_CHANGES};
    if (tables)
        steps[nsteps++] = (pg_step){dom_pg__columns_sql, 1, pv + 6, PS_COLUMNS};
    int rc = fence_tx(s, steps, nsteps, cols);
    dom_free(names);
    return rc;
}

int dom_pg__fence(dom_store *base, int64_t batch, const char *state, const char *home,
                  int64_t epoch)
{
    return fence_with((pg_store *)base, batch, state, home, epoch, NULL, 0, NULL);
}

int dom_pg__fence_sig(dom_store *base, int64_t batch, const char *state, const char *home,
                      int64_t epoch, const dom_move_table *tables, size_t n, char sig[65])
{
    pg_store *s = (pg_store *)base;
    PGresult *cols = NULL;
    int rc = fence_with(s, batch, state, home, epoch, tables, n, &cols);
    if (rc < 0)
        return rc;
    if (!cols)
        return dom_error_set(DOM_EREGION, "region \"%s\": cannot list tables", base->region);
    return dom_pg__columns_sig(cols, tables, n, sig);
}

int dom_pg__unfence(dom_store *base)
{
    pg_store *s = (pg_store *)base;
    if (!s->keys_array)
        return dom_error_set(DOM_ERROR, "region \"%s\": fences without keys", base->region);
    const char *pv[1] = {s->keys_array};
    /* the fence rows stay, in state home: writers lock them (the barrier) */
    pg_step steps[2] = {
        {"UPDATE domicile.fence SET state = 'home', home = NULL, epoch = NULL, "
         "batch = NULL WHERE tenant = ANY ($1::text[])",
         1, pv, PS_UNFENCE},
        {DROP_CHANGES_SQL, 1, pv, PS_DROP_CHANGES},
    };
    return fence_tx(s, steps, 2, NULL);
}

static int max_seq_of(pg_store *s, int64_t *max_seq)
{
    PGresult *r = PQexec(s->conn, "SELECT coalesce(max(seq), 0) FROM domicile.changes");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return fail(s, NULL, "cannot read the change log", r);
    *max_seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int dom_pg__snapshot_begin(dom_store *base, int64_t *max_seq)
{
    pg_store *s = (pg_store *)base;
    int rc = exec(s, NULL, "cannot start a read snapshot",
                  "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (rc < 0)
        return rc;
    if ((rc = max_seq_of(s, max_seq)) < 0) {
        PQclear(PQexec(s->conn, "ROLLBACK"));
        return rc;
    }
    s->in_snapshot = 1;
    return 0;
}

int dom_pg__snapshot_end(dom_store *base)
{
    pg_store *s = (pg_store *)base;
    if (!s->in_snapshot)
        return 0;
    s->in_snapshot = 0;
    return exec(s, NULL, "cannot end a read snapshot", "COMMIT");
}

int dom_pg__changes(dom_store *base, int64_t batch, int64_t after, int64_t limit, dom_change_cb cb,
                    void *payload)
{
    pg_store *s = (pg_store *)base;
    PGresult *r;
    /* the entries the caller applied since the last call go first, in the
     * same round trip */
    dom_buf arr = DOM_BUF_INIT;
    int trim = s->nacked && after == s->acked_last;
    if (trim) {
        dom_buf_put_int_array(&arr, s->acked, s->nacked);
        if (arr.oom) {
            dom_buf_free(&arr);
            return DOM_ENOMEM;
        }
    }
    char bv[32], lv[32];
    snprintf(bv, sizeof(bv), "%lld", (long long)batch);
    snprintf(lv, sizeof(lv), "%lld", (long long)limit);
    const char *pv[2] = {bv, lv}, *tv[1] = {dom_buf_cstr(&arr)};
    /* the result is whole (at most `limit` entries): the callback reads
     * the same connection.  Entries of one row come as one, at the place
     * of its last change: replaying re-reads the row, so once is enough. */
    pg_step steps[2] = {
        {"DELETE FROM domicile.changes WHERE seq = ANY ($1::bigint[])", 1, tv, PS_TRIM},
        {"SELECT max(seq), tenant, tbl, pk, bool_or(key_changed), "
         "array_agg(seq)::text FROM (SELECT c.* FROM domicile.fence f CROSS JOIN LATERAL "
         "(SELECT * FROM domicile.changes c WHERE c.tenant = f.tenant OFFSET 0) c "
         "WHERE f.batch = $1::bigint ORDER BY c.seq LIMIT $2::bigint) c "
         "GROUP BY tenant, tbl, pk ORDER BY 1",
         2, pv, PS_CHANGES},
    };
    /* the batch's fence rows, then each one's entries by the tenant index
     * (OFFSET 0 keeps the subquery a nested loop, and the transaction's
     * enable_seqscan = off keeps the probes on the index): the log is a
     * queue full of other batches' entries and dead rows, and its
     * statistics are always behind */
    int tx = PQtransactionStatus(s->conn) == PQTRANS_IDLE;
    int rc0 = dom_pg__pipeline(s, steps + !trim, 1 + trim, tx, 0, "cannot read the change log", &r);
    dom_buf_free(&arr);
    if (rc0 < 0)
        return rc0;
    s->nacked = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return fail(s, NULL, "cannot read the change log", r);
    int n = PQntuples(r), rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        int64_t seq = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        rc = cb(seq, PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3), PQgetvalue(r, i, 4)[0] == 't',
                payload);
        /* remember every entry of the row ("{7,9,12}") for deletion */
        for (const char *p = PQgetvalue(r, i, 5); rc == 0 && *p;) {
            char *end;
            long long v = strtoll(p + (*p == '{' || *p == ','), &end, 10);
            if (end == p + (*p == '{' || *p == ','))
                break;
            if (s->nacked == s->cap_acked) {
                size_t cap = s->cap_acked ? s->cap_acked * 2 : 256;
                int64_t *g = dom_realloc(s->acked, cap * sizeof(int64_t));
                if (!g) {
                    rc = DOM_ENOMEM;
                    break;
                }
                s->acked = g;
                s->cap_acked = cap;
            }
            s->acked[s->nacked++] = v;
            p = end;
        }
        if (rc == 0)
            s->acked_last = seq;
    }
    PQclear(r);
    return rc < 0 ? rc : (int)s->nacked;
}
