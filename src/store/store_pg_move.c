/*
 * store_pg_move.c - the mover's operations on a PostgreSQL region: the
 * batch's keys in a temporary table, fences, the change log, rows streamed
 * with COPY, and writes staged into COPY batches.
 *
 * Reads stream with COPY ... TO STDOUT in text format and are decoded by
 * the class of each column's declared type, so a row read here compares
 * with the same row read from SQLite (docs/verification.md, "Canonical
 * values").  Writes are buffered per table as COPY lines and, when the
 * write commits (or a delete needs them out first), copied into a
 * temporary stage table and merged with one INSERT ... ON CONFLICT.
 * Between two PostgreSQL regions, copy_from pipes COPY TO into COPY FROM
 * without decoding anything.
 *
 * The mover's writes pass the triggers through the transaction-local
 * setting domicile.bypass; fences are changed by UPDATEs that wait for the
 * writers holding a share lock on the fence row (docs/mover.md, "The
 * barrier on PostgreSQL").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/pg_copy.h"
#include "store/store_pg.h"

#define fail  dom_pg__fail
#define exec  dom_pg__exec
#define ident dom_pg__ident

/* Staged bytes of one table before they are written out. */
#define STAGE_FLUSH_BYTES (8 << 20)

pg_class dom_pg__class(const char *type)
{
    if (strncmp(type, "timestamp", 9) == 0)
        return strstr(type, "with time zone") ? PG_C_TIME : PG_C_TEXT;
    if (strcmp(type, "smallint") == 0 || strcmp(type, "integer") == 0 ||
        strcmp(type, "bigint") == 0)
        return PG_C_INT;
    if (strcmp(type, "real") == 0 || strcmp(type, "double precision") == 0)
        return PG_C_REAL;
    if (strcmp(type, "bytea") == 0)
        return PG_C_BYTEA;
    if (strcmp(type, "boolean") == 0)
        return PG_C_BOOL;
    return PG_C_TEXT; /* text, varchar, numeric (exact, as text), date, json, ... */
}

/* ---- SQL fragments ----------------------------------------------------------- */

static void put_ident(pg_store *s, dom_buf *b, const char *name)
{
    char *q = ident(s, name);
    if (q)
        dom_buf_puts(b, q);
    else
        b->oom = 1;
    dom_free(q);
}

void dom_pg__value_expr(pg_store *s, dom_buf *b, const char *row, const dom_column *c)
{
    pg_class k = dom_pg__class(c->type);
    if (k == PG_C_TIME) {
        /* ISO 8601 in UTC, fractional seconds only when there are some */
        dom_buf_puts(b, "to_char(");
        if (row)
            dom_buf_printf(b, "%s.", row);
        put_ident(s, b, c->name);
        dom_buf_puts(b,
                     " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || rtrim(rtrim(to_char(");
        if (row)
            dom_buf_printf(b, "%s.", row);
        put_ident(s, b, c->name);
        dom_buf_puts(b, " AT TIME ZONE 'UTC', '.US'), '0'), '.') || 'Z'");
    } else {
        if (row)
            dom_buf_printf(b, "%s.", row);
        put_ident(s, b, c->name);
        if (k == PG_C_BOOL)
            dom_buf_puts(b, "::int");
    }
}

static void select_expr(pg_store *s, dom_buf *b, const dom_column *c)
{
    dom_pg__value_expr(s, b, NULL, c);
}

static void col_list(pg_store *s, dom_buf *b, const dom_table_info *ti)
{
    for (size_t i = 0; i < ti->ncols; i++) {
        if (i)
            dom_buf_puts(b, ", ");
        put_ident(s, b, ti->cols[i].name);
    }
}

/* "key IN (the batch's keys)"; for an indirect table, its links'
 * columns IN the rows of its parent that belong to them */
static void keys_cond(pg_store *s, dom_buf *b, const dom_move_table *t)
{
    if (t->cls == DOM_TABLE_GLOBAL) {
        dom_buf_puts(b, "true"); /* every row: a global table copied whole */
        return;
    }
    const dom_column *kc = dom_move_key_column(t);
    /* the type name comes from the server's own catalog (format_type) */
    char keyset[160];
    snprintf(keyset, sizeof(keyset), "SELECT k::%s FROM pg_temp.domicile_keys",
             kc ? kc->type : "text");
    if (!t->nlinks) {
        put_ident(s, b, t->key);
        dom_buf_printf(b, " IN (%s)", keyset);
        return;
    }
    dom_buf row = DOM_BUF_INIT;
    dom_sql_ident(&row, t->info->name);
    dom_sql_keys_filter(b, t, dom_buf_cstr(&row), NULL, keyset);
    if (row.oom)
        b->oom = 1;
    dom_buf_free(&row);
}

static void keys_where(pg_store *s, dom_buf *b, const dom_move_table *t)
{
    dom_buf_puts(b, " WHERE ");
    keys_cond(s, b, t);
}

/* " AND its rows belong to the current keys": rows read or deleted by
 * primary key (the change log names them) are the batch's tenants' only,
 * whatever else holds that key now */
static void keys_and(pg_store *s, dom_buf *b, const dom_move_table *t)
{
    dom_buf_puts(b, " AND (");
    keys_cond(s, b, t);
    dom_buf_putc(b, ')');
}

/* ORDER BY the tenant column (or `key_expr` standing for it), then the
 * primary key (every column when there is none), in the order verify
 * merges by: bytes for text, numbers for numbers, NULL first.  Columns
 * that hold no NULL here (the tenant column, which the batch's keys
 * match, and NOT NULL ones, the primary key's among them) say nothing of
 * NULLs, so that an index in its default order (NULLS LAST) gives the
 * order without a sort. */
static void order_by(pg_store *s, dom_buf *b, const dom_move_table *t, const char *key_expr)
{
    int n = t->npk ? t->npk : (int)t->info->ncols;
    const char *sep = "";
    dom_buf_puts(b, " ORDER BY ");
    /* an indirect table has no tenant column: its primary key alone */
    for (int i = t->key_col >= 0 ? -1 : 0; i < n; i++) {
        int c = i < 0 ? t->key_col : t->npk ? t->pk[i] : i;
        if (i >= 0 && c == t->key_col)
            continue;
        dom_buf_puts(b, sep);
        sep = ", ";
        if (i < 0 && key_expr)
            dom_buf_puts(b, key_expr);
        else
            put_ident(s, b, t->info->cols[c].name);
        if (dom_pg__class(t->info->cols[c].type) == PG_C_TEXT)
            dom_buf_puts(b, " COLLATE \"C\"");
        if (c != t->key_col && !t->info->cols[c].notnull)
            dom_buf_puts(b, " NULLS FIRST");
    }
}

static void order_list(pg_store *s, dom_buf *b, const dom_move_table *t)
{
    order_by(s, b, t, NULL);
}

/* Whether an index of t leads with its tenant column (asked once per
 * table and connection); < 0 on error. */

/* Reads whether an index leads with the tenant column for every table of
 * t[0..n) not yet known, in one query (a session's first batch would
 * otherwise ask table by table: a round trip each). */
static int key_indexed_all(pg_store *s, const dom_move_table *t, size_t n)
{
    const char **names = dom_calloc(n ? n : 1, sizeof(char *)),
               **keys = dom_calloc(n ? n : 1, sizeof(char *));
    char **qs = dom_calloc(n ? n : 1, sizeof(char *));
    size_t *idx = dom_calloc(n ? n : 1, sizeof(size_t)), m = 0;
    int rc = names && keys && qs && idx ? 0 : DOM_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (t[i].key_col < 0)
            continue;
        int known = 0;
        for (size_t j = 0; j < s->nkeyidx && !known; j++)
            known = strcmp(s->keyidx[j].table, t[i].info->name) == 0;
        if (known)
            continue;
        if (!(qs[m] = ident(s, t[i].info->name))) {
            rc = DOM_ENOMEM;
            break;
        }
        names[m] = qs[m];
        keys[m] = t[i].key;
        idx[m++] = i;
    }
    char *na = NULL, *ka = NULL;
    if (rc == 0 && m > 0) {
        na = dom_pg__text_array(names, m);
        ka = dom_pg__text_array(keys, m);
        if (!na || !ka)
            rc = DOM_ENOMEM;
    }
    if (rc == 0 && m > 0) {
        const char *pv[2] = {na, ka};
        PGresult *r = PQexecParams(
            s->conn,
            "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
            "i.indrelid AND a.attnum = i.indkey[0] WHERE i.indrelid = t.n::regclass AND "
            "a.attname = t.k AND i.indisvalid AND i.indpred IS NULL) FROM unnest($1::text[], "
            "$2::text[]) WITH ORDINALITY AS t(n, k, o) ORDER BY t.o",
            2, NULL, pv, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || (size_t)PQntuples(r) != m) {
            rc = fail(s, NULL, "cannot read the tables' indexes", r);
        } else {
            struct pg_keyidx *g = dom_realloc(s->keyidx, (s->nkeyidx + m) * sizeof(*g));
            if (g)
                s->keyidx = g;
            for (size_t k = 0; g && k < m; k++) {
                if (!(g[s->nkeyidx].table = dom_strdup(t[idx[k]].info->name))) {
                    rc = DOM_ENOMEM;
                    break;
                }
                g[s->nkeyidx++].indexed = PQgetvalue(r, (int)k, 0)[0] == 't';
            }
            if (!g)
                rc = DOM_ENOMEM;
            PQclear(r);
        }
    }
    for (size_t i = 0; qs && i < m; i++)
        dom_free(qs[i]);
    dom_free(qs);
    dom_free(idx);
    dom_free(names);
    dom_free(keys);
    dom_free(na);
    dom_free(ka);
    return rc;
}

/* Whether an index leads with t's tenant column (read once a session, for
 * every table the first call names: key_indexed_all); an indirect table's
 * rows are found through its parents (0). */
static int key_indexed(pg_store *s, const dom_move_table *t)
{
    if (t->key_col < 0)
        return 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < s->nkeyidx; i++)
            if (strcmp(s->keyidx[i].table, t->info->name) == 0)
                return s->keyidx[i].indexed;
        int rc = pass ? 0 : key_indexed_all(s, t, 1);
        if (rc < 0)
            return rc;
    }
    return dom_error_set(DOM_ERROR, "region \"%s\", table \"%s\": its indexes were not read",
                         s->base.region, t->info->name);
}

/* The key the rows of a batch are ordered by in the form keys_from gives. */
#define LATERAL_KEY "domicile_b.domicile_k"

/* " FROM ..." the rows of the batch's keys in table t, `inner` ("*", or
 * "ctid") of each.  When an index leads with the tenant column, the keys
 * are walked in order and each tenant's rows read through that index (a
 * nested loop whatever the table's statistics say: a target filled by
 * the mover has none until it is analyzed, and the planner would scan
 * the whole table for every batch); the rows then come ordered by
 * LATERAL_KEY first.  Otherwise one semi-join.  Returns 1 for the first
 * form, 0 for the second, < 0 on error. */
static int keys_from(pg_store *s, dom_buf *b, const dom_move_table *t, const char *inner)
{
    int lateral = key_indexed(s, t);
    if (lateral < 0)
        return lateral;
    const dom_column *kc = &t->info->cols[t->key_col];
    if (!lateral) {
        dom_buf_printf(b, " FROM (SELECT %s FROM ", inner);
        put_ident(s, b, t->info->name);
        keys_where(s, b, t);
        dom_buf_puts(b, ") domicile_r");
        return 0;
    }
    dom_buf_printf(b,
                   " FROM (SELECT DISTINCT k::%s%s AS domicile_k FROM pg_temp.domicile_keys) "
                   "domicile_b CROSS JOIN LATERAL (SELECT %s FROM ",
                   kc->type, dom_pg__class(kc->type) == PG_C_TEXT ? " COLLATE \"C\"" : "", inner);
    put_ident(s, b, t->info->name);
    dom_buf_puts(b, " WHERE ");
    put_ident(s, b, t->key);
    dom_buf_puts(b, " = domicile_b.domicile_k");
    /* an ORDER BY keeps the subquery from being flattened into a join the
     * planner would choose freely */
    order_list(s, b, t);
    dom_buf_puts(b, ") domicile_r");
    return 1;
}

static char *buf_take(dom_buf *b)
{
    if (b->oom) {
        dom_buf_free(b);
        return NULL;
    }
    char *out = dom_strdup(dom_buf_cstr(b));
    dom_buf_free(b);
    return out;
}

/* The statement built in b, unless building it failed (rc < 0); b is
 * freed either way. */
static int take_sql(dom_buf *b, int rc, char **out)
{
    *out = rc == 0 ? buf_take(b) : NULL;
    dom_buf_free(b);
    return rc < 0 ? rc : *out ? 0 : DOM_ENOMEM;
}

/* ---- COPY plumbing -------------------------------------------------------------- */

/* Reads the results of the last command to the end; the first failure is
 * reported, the rest are dropped. */
static int results(pg_store *s, const char *table, const char *what)
{
    PGresult *r;
    int rc = 0;
    while ((r = PQgetResult(s->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
            rc = fail(s, table, what, r);
        else
            PQclear(r);
    }
    return rc;
}

/* Ends a COPY FROM STDIN (abandoned unless ok) and reads its result. */
static int copy_in_end(pg_store *s, int ok, const char *table, const char *what)
{
    PQputCopyEnd(s->conn, ok ? NULL : "domicile: the copy was abandoned");
    return results(s, table, what);
}

/* Abandons a COPY FROM STDIN after a failure elsewhere, keeping the
 * message of that failure. */
static int copy_in_abandon(pg_store *s, int rc)
{
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s", dom_error_last());
    copy_in_end(s, 0, NULL, "");
    return dom_error_set(rc, "%s", msg);
}

/* Reads a COPY TO stream to its end and drops it, so that the connection
 * serves the next call. */
static void copy_out_drain(pg_store *s)
{
    char *line;
    while (PQgetCopyData(s->conn, &line, 0) > 0)
        PQfreemem(line);
    PGresult *r;
    while ((r = PQgetResult(s->conn)) != NULL)
        PQclear(r);
}

/* ---- keys, fences, snapshots ------------------------------------------------- */

char *dom_pg__text_array(const char *const *keys, size_t n)
{
    dom_buf b = DOM_BUF_INIT;
    dom_buf_put_text_array(&b, keys, n);
    return buf_take(&b);
}

static char *int_array(const int64_t *v, size_t n)
{
    dom_buf b = DOM_BUF_INIT;
    dom_buf_put_int_array(&b, v, n);
    return buf_take(&b);
}

/* How a temporary table of the mover's (keys, primary keys, a stage) is
 * emptied before it is filled again: DELETE, cheap, but nothing vacuums a
 * temporary table, so the deleted rows stay in its file and index for the
 * session and every statement that reads the table reads them too; so
 * every EMPTY_TRUNCATE_EVERY-th time TRUNCATE (a new file, the catalog
 * updated), which leaves the table as new.  `count` counts the times. */
#define EMPTY_TRUNCATE_EVERY 16
static const char *empty_stmt(unsigned *count)
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
             empty_stmt(&s->keys_loads));
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
    if ((rc = copy_in_end(s, ok, NULL, "cannot stage tenant keys")) < 0)
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

/* One statement of a pipelined transaction; `ps` names it prepared. */
typedef struct pg_step {
    const char *sql;
    int n;
    const char *const *pv;
    int ps;
} pg_step;

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
static int pipeline(pg_store *s, const pg_step *steps, int n, int tx, int lock_ms, const char *what,
                    PGresult **last)
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
    return pipeline(s, a->steps, a->n, 1, lock_ms, "cannot write fences", a->last);
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

/* ---- cursors ------------------------------------------------------------------ */

typedef struct pg_cursor {
    const dom_store_ops *ops; /* first, see store.c */
    pg_store *s;
    const dom_move_table *t;
    int copy;      /* a COPY stream */
    int single;    /* else rows in single-row mode (else one result) */
    int64_t nread; /* COPY lines read */
    int done;      /* the stream ended */
    PGresult *res; /* the result rows are read from */
    int row;
    char *line; /* the last COPY line, from libpq */
    dom_buf field, store;
    size_t *offs;
    pg_class *cls;
    dom_value *vals;
    int ncols;
    /* per column: read as the column itself, a timestamp with time zone
     * whose text is made canonical here (read_list, col_list) */
    unsigned char *fix;
} pg_cursor;

/* Whether column i of t is read through dom_pg__value_expr: a timestamp
 * with time zone that identifies rows (tenant column, primary key, or
 * every column of a table without one) keeps the server's canonical text,
 * the form the change log's keys have.  Other columns are read as they
 * are, and a timestamp's ISO text is made canonical in dom_pgcopy_canonical_time:
 * to_char() doubles the server's cost of reading a row. */
static int time_as_text(const dom_move_table *t, size_t i)
{
    if (dom_pg__class(t->info->cols[i].type) != PG_C_TIME)
        return 0;
    if (!t->npk || (int)i == t->key_col)
        return 1;
    for (int k = 0; k < t->npk; k++)
        if (t->pk[k] == (int)i)
            return 1;
    return 0;
}

static int new_cursor(pg_store *s, const dom_move_table *t, pg_cursor **out)
{
    pg_cursor *c = dom_calloc(1, sizeof(*c));
    size_t n = t->info->ncols;
    if (!c || !(c->vals = dom_calloc(n, sizeof(dom_value))) ||
        !(c->offs = dom_calloc(n, sizeof(size_t))) || !(c->cls = dom_calloc(n, sizeof(pg_class))) ||
        !(c->fix = dom_calloc(n ? n : 1, 1))) {
        if (c) {
            dom_free(c->vals);
            dom_free(c->offs);
            dom_free(c->cls);
        }
        dom_free(c);
        return DOM_ENOMEM;
    }
    c->ops = &dom_pg__ops;
    c->s = s;
    c->t = t;
    c->ncols = (int)n;
    for (size_t i = 0; i < n; i++) {
        c->cls[i] = dom_pg__class(t->info->cols[i].type);
        c->fix[i] = c->cls[i] == PG_C_TIME && !time_as_text(t, i);
    }
    *out = c;
    return 0;
}

/* The columns of t as cursors read them (see time_as_text). */
static void read_list(pg_store *s, dom_buf *b, const dom_move_table *t)
{
    const dom_table_info *ti = t->info;
    for (size_t i = 0; i < ti->ncols; i++) {
        if (i)
            dom_buf_puts(b, ", ");
        if (time_as_text(t, i))
            select_expr(s, b, &ti->cols[i]);
        else
            put_ident(s, b, ti->cols[i].name);
    }
}

/* Appends the statement a cursor of t reads its rows with. */
static int cursor_sql(pg_store *s, dom_buf *b, const dom_move_table *t)
{
    dom_buf_puts(b, "COPY (SELECT ");
    read_list(s, b, t);
    int lateral = keys_from(s, b, t, "*");
    if (lateral < 0)
        return lateral;
    order_by(s, b, t, lateral ? LATERAL_KEY : NULL);
    dom_buf_puts(b, ") TO STDOUT");
    return b->oom ? DOM_ENOMEM : 0;
}

/* Reads every result of the connection's query to its end: COPY data is
 * dropped, a COPY FROM STDIN abandoned. */
static void drain_all(pg_store *s)
{
    PGresult *r;
    while ((r = PQgetResult(s->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        if (st == PGRES_COPY_OUT) {
            char *line;
            while (PQgetCopyData(s->conn, &line, 0) > 0)
                PQfreemem(line);
        } else if (st == PGRES_COPY_IN) {
            PQputCopyEnd(s->conn, "domicile: the copy was abandoned");
        }
    }
    s->ahead = NULL;
    s->nahead = s->ahead_next = 0;
}

/* The cursors of t[0], ..., t[n - 1], opened in that order next, read
 * their rows from one query sent now: one round trip for all of them.
 * Opening another cursor first drops what is left of it. */
int dom_pg__read_ahead(dom_store *base, const dom_move_table *t, size_t n)
{
    pg_store *s = (pg_store *)base;
    if (s->ahead)
        drain_all(s);
    if (n < 2)
        return 0;
    dom_buf b = DOM_BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i)
            dom_buf_puts(&b, "; ");
        rc = cursor_sql(s, &b, &t[i]);
    }
    char *sql;
    rc = take_sql(&b, rc, &sql);
    if (rc == 0 && !PQsendQuery(s->conn, sql))
        rc = fail(s, NULL, "cannot read rows", NULL);
    dom_free(sql);
    if (rc == 0) {
        s->ahead = t;
        s->nahead = n;
        s->ahead_next = 0;
    }
    return rc;
}

int dom_pg__cursor_open(dom_store *base, const dom_move_table *t, dom_cursor **out)
{
    pg_store *s = (pg_store *)base;
    PGresult *r;
    if (s->ahead && s->ahead_next < s->nahead && s->ahead[s->ahead_next].info == t->info) {
        /* the next statement of the query read_ahead sent */
        s->ahead_next++;
        r = PQgetResult(s->conn);
        if (PQresultStatus(r) != PGRES_COPY_OUT) {
            int rc = fail(s, t->info->name, "cannot read rows", r);
            drain_all(s);
            return rc;
        }
    } else {
        if (s->ahead)
            drain_all(s);
        dom_buf b = DOM_BUF_INIT;
        char *sql;
        int rc = take_sql(&b, cursor_sql(s, &b, t), &sql);
        if (rc < 0)
            return rc;
        r = PQexec(s->conn, sql);
        dom_free(sql);
        if (PQresultStatus(r) != PGRES_COPY_OUT)
            return fail(s, t->info->name, "cannot read rows", r);
    }
    PQclear(r);
    pg_cursor *c;
    int rc = new_cursor(s, t, &c);
    if (rc < 0) {
        drain_all(s);
        return rc;
    }
    c->copy = 1;
    *out = (dom_cursor *)c;
    return 0;
}

/* Parameters for the values `v` of columns `cols` (text, or binary for
 * blobs); their storage lives in `store` and `offs`. */
typedef struct params {
    const char *val[64];
    int len[64], fmt[64];
    dom_buf store;
} params;

static void params_set(params *p, const dom_table_info *ti, const int *cols, int n,
                       const dom_value *v)
{
    size_t off[64];
    int isnull[64];
    dom_buf tmp = DOM_BUF_INIT;
    dom_buf_clear(&p->store);
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        const char *e = NULL;
        p->fmt[i] = 0;
        if (v[i].type == DOM_V_BLOB) {
            p->fmt[i] = 1;
            e = v[i].p;
            len = v[i].n;
        } else {
            e = dom_pgcopy_encode(&v[i], dom_pg__class(ti->cols[cols[i]].type), &tmp, &len);
        }
        isnull[i] = e == NULL;
        off[i] = p->store.len;
        p->len[i] = (int)len;
        if (e)
            dom_buf_put(&p->store, e, len);
        dom_buf_putc(&p->store, '\0');
    }
    dom_buf_free(&tmp);
    for (int i = 0; i < n; i++)
        p->val[i] = isnull[i] || p->store.oom ? NULL : p->store.ptr + off[i];
}

/* WHERE clause on the primary key (every column, NULL-safe, when none). */
static void pk_where(pg_store *s, dom_buf *b, const dom_move_table *t, int cols[64], int *n)
{
    *n = t->npk ? t->npk : (int)t->info->ncols;
    if (*n > 64)
        *n = 64;
    dom_buf_puts(b, " WHERE ");
    for (int i = 0; i < *n; i++) {
        cols[i] = t->npk ? t->pk[i] : i;
        if (i)
            dom_buf_puts(b, " AND ");
        put_ident(s, b, t->info->cols[cols[i]].name);
        dom_buf_printf(b, t->npk ? " = $%d" : " IS NOT DISTINCT FROM $%d", i + 1);
    }
}

int dom_pg__cursor_pk(dom_store *base, const dom_move_table *t, const dom_value *pk,
                      dom_cursor **out)
{
    pg_store *s = (pg_store *)base;
    dom_buf b = DOM_BUF_INIT;
    int cols[64], n;
    dom_buf_puts(&b, "SELECT ");
    read_list(s, &b, t);
    dom_buf_puts(&b, " FROM ");
    put_ident(s, &b, t->info->name);
    pk_where(s, &b, t, cols, &n);
    dom_buf_puts(&b, " LIMIT 1");
    char *sql = buf_take(&b);
    if (!sql)
        return DOM_ENOMEM;
    params p = {.store = DOM_BUF_INIT};
    params_set(&p, t->info, cols, n, pk);
    PGresult *r = p.store.oom ? NULL : PQexecParams(s->conn, sql, n, NULL, p.val, p.len, p.fmt, 0);
    dom_free(sql);
    dom_buf_free(&p.store);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return fail(s, t->info->name, "cannot read a row", r);
    pg_cursor *c;
    int rc = new_cursor(s, t, &c);
    if (rc < 0) {
        PQclear(r);
        return rc;
    }
    c->res = r;
    *out = (dom_cursor *)c;
    return 0;
}

static pg_stage *stage_of(pg_store *s, const dom_move_table *t, int *idx);

/* Up to this many primary keys are read in one round trip: the keys go
 * as array parameters, the rows come back in single-row mode (the final
 * sync reads a few rows inside the write pause).  More go by COPY into a
 * temporary table and come back by COPY. */
#define PKS_INLINE 256

/* The rows of the primary keys `pks` (n <= PKS_INLINE) by one query with
 * an array parameter per key column; 0 when a key column's type is
 * itself an array (unnest would flatten it). */
static int cursor_pks_inline(pg_store *s, const dom_move_table *t, const dom_value *pks, size_t n,
                             dom_cursor **out)
{
    if (t->npk > 64)
        return 0;
    for (int i = 0; i < t->npk; i++)
        if (strchr(t->info->cols[t->pk[i]].type, '['))
            return 0;
    dom_buf b = DOM_BUF_INIT, arrays = DOM_BUF_INIT, tmp = DOM_BUF_INIT;
    size_t offs[64];
    dom_buf_puts(&b, "SELECT ");
    read_list(s, &b, t);
    dom_buf_puts(&b, " FROM ");
    put_ident(s, &b, t->info->name);
    dom_buf_puts(&b, " WHERE (");
    for (int i = 0; i < t->npk; i++) {
        const dom_column *col = &t->info->cols[t->pk[i]];
        if (i)
            dom_buf_puts(&b, ", ");
        put_ident(s, &b, col->name);
        /* the column's values as an array literal, each element quoted */
        offs[i] = arrays.len;
        dom_buf_putc(&arrays, '{');
        for (size_t k = 0; k < n; k++) {
            size_t len = 0;
            const char *e = dom_pgcopy_encode(&pks[k * (size_t)t->npk + (size_t)i],
                                              dom_pg__class(col->type), &tmp, &len);
            if (k)
                dom_buf_putc(&arrays, ',');
            dom_buf_put_array_elem(&arrays, e, len);
        }
        dom_buf_putc(&arrays, '}');
        dom_buf_putc(&arrays, '\0');
    }
    dom_buf_puts(&b, ") IN (SELECT * FROM unnest(");
    for (int i = 0; i < t->npk; i++)
        dom_buf_printf(&b, "%s$%d::%s[]", i ? ", " : "", i + 1, t->info->cols[t->pk[i]].type);
    dom_buf_puts(&b, "))");
    keys_and(s, &b, t);
    dom_buf_free(&tmp);
    char *sql = buf_take(&b);
    if (!sql || arrays.oom) {
        dom_free(sql);
        dom_buf_free(&arrays);
        return DOM_ENOMEM;
    }
    const char *pv[64];
    for (int i = 0; i < t->npk; i++)
        pv[i] = arrays.ptr + offs[i];
    int sent = PQsendQueryParams(s->conn, sql, t->npk, NULL, pv, NULL, NULL, 0);
    dom_free(sql);
    dom_buf_free(&arrays);
    if (!sent)
        return fail(s, t->info->name, "cannot read rows", NULL);
    PQsetSingleRowMode(s->conn);
    pg_cursor *c;
    int rc = new_cursor(s, t, &c);
    if (rc < 0) {
        PGresult *r;
        while ((r = PQgetResult(s->conn)) != NULL)
            PQclear(r);
        return rc;
    }
    c->single = 1;
    *out = (dom_cursor *)c;
    return 1;
}

/* Streams the rows of the primary keys `pks`. */
int dom_pg__cursor_pks(dom_store *base, const dom_move_table *t, const dom_value *pks, size_t n,
                       dom_cursor **out)
{
    pg_store *s = (pg_store *)base;
    int idx;
    if (t->npk && n <= PKS_INLINE) {
        int rc = cursor_pks_inline(s, t, pks, n, out);
        if (rc != 0)
            return rc < 0 ? rc : 0;
    }
    if (!t->npk || !stage_of(s, t, &idx))
        return dom_error_set(DOM_ERROR, "region \"%s\", table \"%s\": no primary key to read by",
                             base->region, t->info->name);
    dom_buf b = DOM_BUF_INIT, pkcols = DOM_BUF_INIT;
    for (int i = 0; i < t->npk; i++) {
        if (i)
            dom_buf_puts(&pkcols, ", ");
        put_ident(s, &pkcols, t->info->cols[t->pk[i]].name);
    }
    pg_stage *g = &s->stage[idx];
    if (!g->pk_created) {
        dom_buf_printf(&b, "CREATE TEMP TABLE IF NOT EXISTS domicile_pk_%d AS SELECT %s FROM ", idx,
                       dom_buf_cstr(&pkcols));
        put_ident(s, &b, t->info->name);
        dom_buf_puts(&b, " WITH NO DATA; ");
        g->pk_created = 1;
    }
    dom_buf_printf(&b, "%s pg_temp.domicile_pk_%d; COPY pg_temp.domicile_pk_%d FROM STDIN",
                   empty_stmt(&g->pk_loads), idx, idx);
    char *sql = buf_take(&b);
    if (!sql) {
        dom_buf_free(&pkcols);
        return DOM_ENOMEM;
    }
    PGresult *r = PQexec(s->conn, sql);
    dom_free(sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        dom_buf_free(&pkcols);
        return fail(s, t->info->name, "cannot stage primary keys", r);
    }
    PQclear(r);
    dom_buf tmp = DOM_BUF_INIT;
    int ok = 1;
    for (size_t k = 0; k < n && ok; k++) {
        for (int i = 0; i < t->npk; i++) {
            size_t len = 0;
            const dom_value *v = &pks[k * (size_t)t->npk + (size_t)i];
            const char *e =
                dom_pgcopy_encode(v, dom_pg__class(t->info->cols[t->pk[i]].type), &tmp, &len);
            if (i)
                dom_buf_putc(&b, '\t');
            dom_buf_put_copy(&b, e, len);
        }
        dom_buf_putc(&b, '\n');
        if (b.len >= 65536 || k + 1 == n) {
            ok = !b.oom && PQputCopyData(s->conn, b.ptr, (int)b.len) == 1;
            dom_buf_clear(&b);
        }
    }
    dom_buf_free(&tmp);
    int rc = copy_in_end(s, ok, t->info->name, "cannot stage primary keys");
    if (rc < 0) {
        dom_buf_free(&b);
        dom_buf_free(&pkcols);
        return rc;
    }
    dom_buf_puts(&b, "COPY (SELECT ");
    read_list(s, &b, t);
    dom_buf_puts(&b, " FROM ");
    put_ident(s, &b, t->info->name);
    dom_buf_printf(&b, " WHERE (%s) IN (SELECT %s FROM pg_temp.domicile_pk_%d)",
                   dom_buf_cstr(&pkcols), dom_buf_cstr(&pkcols), idx);
    keys_and(s, &b, t);
    dom_buf_puts(&b, ") TO STDOUT");
    dom_buf_free(&pkcols);
    sql = buf_take(&b);
    if (!sql)
        return DOM_ENOMEM;
    r = PQexec(s->conn, sql);
    dom_free(sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT)
        return fail(s, t->info->name, "cannot read rows", r);
    PQclear(r);
    pg_cursor *c;
    if ((rc = new_cursor(s, t, &c)) < 0) {
        copy_out_drain(s);
        return rc;
    }
    c->copy = 1;
    *out = (dom_cursor *)c;
    return 0;
}

/* Points the cursor's values into its store once every field is in. */
static void cursor_point(pg_cursor *c)
{
    const char *base = dom_buf_cstr(&c->store);
    for (int i = 0; i < c->ncols; i++)
        if (c->vals[i].type == DOM_V_TEXT || c->vals[i].type == DOM_V_BLOB)
            c->vals[i].p = base + c->offs[i];
}

/* Decodes one COPY text line (n bytes) into the cursor's values. */
static void decode_line(pg_cursor *c, const char *line, int n)
{
    dom_pgcopy_decode_line(line, (size_t)n, c->ncols, c->cls, c->fix, c->vals, c->offs, &c->field,
                           &c->store);
}

static int copy_end(pg_cursor *c)
{
    pg_store *s = c->s;
    c->done = 1;
    if (s->ahead && s->ahead_next < s->nahead) {
        /* this COPY's result; the next statement's is the next cursor's */
        PGresult *r = PQgetResult(s->conn);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            int rc = fail(s, c->t->info->name, "cannot read rows", r);
            drain_all(s);
            return rc;
        }
        PQclear(r);
        return 0;
    }
    s->ahead = NULL;
    s->nahead = s->ahead_next = 0;
    return results(s, c->t->info->name, "cannot read rows");
}

int dom_pg__cursor_next(dom_cursor *cur, const dom_value **vals)
{
    pg_cursor *c = (pg_cursor *)cur;
    dom_buf_clear(&c->store);
    if (c->single) {
        if (c->done)
            return 0;
        PQclear(c->res);
        c->res = PQgetResult(c->s->conn);
        c->row = 0;
        ExecStatusType st = PQresultStatus(c->res);
        if (st != PGRES_SINGLE_TUPLE) {
            /* the end (PGRES_TUPLES_OK, no rows) or a failure */
            c->done = 1;
            int rc = st == PGRES_TUPLES_OK
                         ? 0
                         : fail(c->s, c->t->info->name, "cannot read rows", c->res);
            if (st == PGRES_TUPLES_OK)
                PQclear(c->res);
            c->res = NULL;
            PGresult *r;
            while ((r = PQgetResult(c->s->conn)) != NULL)
                PQclear(r);
            return rc;
        }
    }
    if (!c->copy) {
        if (c->row >= PQntuples(c->res))
            return 0;
        for (int i = 0; i < c->ncols; i++) {
            if (PQgetisnull(c->res, c->row, i)) {
                memset(&c->vals[i], 0, sizeof(dom_value));
                continue;
            }
            const char *v = PQgetvalue(c->res, c->row, i);
            size_t vn = (size_t)PQgetlength(c->res, c->row, i);
            if (c->fix[i]) {
                dom_buf_clear(&c->field);
                dom_buf_put(&c->field, v, vn);
                if (c->field.oom)
                    return DOM_ENOMEM;
                dom_pgcopy_canonical_time(&c->field);
                v = dom_buf_cstr(&c->field);
                vn = c->field.len;
            }
            dom_pgcopy_decode(c->cls[i], v, vn, &c->vals[i], &c->store, &c->offs[i]);
        }
        c->row++;
    } else {
        if (c->done)
            return 0;
        if (c->line) {
            PQfreemem(c->line);
            c->line = NULL;
        }
        /* another batch's write pause in this region goes first (the
         * caller's own pause does not wait: see before_bulk) */
        if ((++c->nread & 1023) == 0 && c->s->base.before_bulk)
            c->s->base.before_bulk(c->s->base.before_bulk_payload);
        int n = PQgetCopyData(c->s->conn, &c->line, 0);
        if (n == -1)
            return copy_end(c) < 0 ? DOM_EREGION : 0;
        if (n < 0) {
            copy_end(c);
            return fail(c->s, c->t->info->name, "cannot read rows", NULL);
        }
        decode_line(c, c->line, n);
    }
    if (c->store.oom || c->field.oom)
        return DOM_ENOMEM;
    cursor_point(c);
    *vals = c->vals;
    return 1;
}

void dom_pg__cursor_close(dom_cursor *cur)
{
    pg_cursor *c = (pg_cursor *)cur;
    if (!c)
        return;
    if (c->line)
        PQfreemem(c->line);
    if (c->copy && !c->done) {
        if (c->s->ahead)
            drain_all(c->s);
        else
            copy_out_drain(c->s);
    }
    PQclear(c->res);
    if (c->single && !c->done) {
        PGresult *r;
        while ((r = PQgetResult(c->s->conn)) != NULL)
            PQclear(r);
    }
    dom_buf_free(&c->field);
    dom_buf_free(&c->store);
    dom_free(c->offs);
    dom_free(c->cls);
    dom_free(c->fix);
    dom_free(c->vals);
    dom_free(c);
}

/* ---- writes ------------------------------------------------------------------- */

/* A write's transaction begins with its first statement: a write that
 * finds nothing to do (a catch-up round without changes) costs no round
 * trip. */
int dom_pg__write_begin(dom_store *base)
{
    pg_store *s = (pg_store *)base;
    s->in_write = 1;
    s->write_open = 0;
    s->ord = 0;
    return 0;
}

#define WRITE_BEGIN "BEGIN; SET LOCAL domicile.bypass = 'on'; "

/* What a write's next simple query starts with: its BEGIN when it is the
 * first statement of the write (the same round trip). */
static const char *write_prefix(pg_store *s)
{
    if (!s->in_write || s->write_open)
        return "";
    s->write_open = 1; /* a failure rolls the write back (write_rollback) */
    return WRITE_BEGIN;
}

/* The same BEGIN on its own, before a statement with parameters. */
static int write_open(pg_store *s)
{
    const char *begin = write_prefix(s);
    return *begin ? exec(s, NULL, "cannot begin a write", begin) : 0;
}

static pg_stage *stage_of(pg_store *s, const dom_move_table *t, int *idx)
{
    for (int i = 0; i < s->nstage; i++)
        if (s->stage[i].t && strcmp(s->stage[i].t->info->name, t->info->name) == 0) {
            s->stage[i].t = t;
            *idx = i;
            return &s->stage[i];
        }
    if (s->nstage == PG_STAGES)
        return NULL;
    *idx = s->nstage;
    pg_stage *g = &s->stage[s->nstage++];
    memset(g, 0, sizeof(*g));
    g->lines = (dom_buf)DOM_BUF_INIT;
    g->t = t;
    return g;
}

/* Writes one table's staged rows: COPY into the stage table, then one
 * INSERT ... ON CONFLICT that keeps the last version of each row; with
 * `commit`, the write's COMMIT follows in the same round trip. */
static int stage_flush_one(pg_store *s, int idx, int commit)
{
    pg_stage *g = &s->stage[idx];
    const dom_move_table *t = g->t;
    if (!g->nrows)
        return 0;
    int rc;
    char stage_name[48];
    snprintf(stage_name, sizeof(stage_name), "pg_temp.domicile_stage_%d", idx);
    dom_buf b = DOM_BUF_INIT;
    dom_buf_puts(&b, write_prefix(s));
    if (!g->created) {
        dom_buf_printf(&b,
                       "CREATE TEMP TABLE IF NOT EXISTS domicile_stage_%d AS SELECT 0::bigint AS "
                       "domicile_ord, ",
                       idx);
        col_list(s, &b, t->info);
        dom_buf_puts(&b, " FROM ");
        put_ident(s, &b, t->info->name);
        dom_buf_puts(&b, " WITH NO DATA; ");
        g->created = 1;
    }
    /* the merge follows the COPY in the same query string: the server
     * runs it once the rows are in, and its result comes with the COPY's
     * (one round trip less) */
    dom_buf_printf(&b, "COPY %s FROM STDIN; ", stage_name);
    dom_buf_puts(&b, "INSERT INTO ");
    put_ident(s, &b, t->info->name);
    dom_buf_puts(&b, " (");
    col_list(s, &b, t->info);
    dom_buf_puts(&b, ") SELECT ");
    if (t->npk) {
        dom_buf_puts(&b, "DISTINCT ON (");
        for (int i = 0; i < t->npk; i++) {
            if (i)
                dom_buf_puts(&b, ", ");
            put_ident(s, &b, t->info->cols[t->pk[i]].name);
        }
        dom_buf_puts(&b, ") ");
    }
    col_list(s, &b, t->info);
    dom_buf_printf(&b, " FROM %s ORDER BY ", stage_name);
    for (int i = 0; i < t->npk; i++) {
        put_ident(s, &b, t->info->cols[t->pk[i]].name);
        dom_buf_puts(&b, ", ");
    }
    dom_buf_puts(&b, "domicile_ord DESC");
    if (t->npk) {
        dom_buf_puts(&b, " ON CONFLICT (");
        for (int i = 0; i < t->npk; i++) {
            if (i)
                dom_buf_puts(&b, ", ");
            put_ident(s, &b, t->info->cols[t->pk[i]].name);
        }
        int nset = 0;
        for (size_t i = 0; i < t->info->ncols; i++) {
            if (t->info->cols[i].pk)
                continue;
            dom_buf_puts(&b, nset++ ? ", " : ") DO UPDATE SET ");
            put_ident(s, &b, t->info->cols[i].name);
            dom_buf_puts(&b, " = excluded.");
            put_ident(s, &b, t->info->cols[i].name);
        }
        if (!nset)
            dom_buf_puts(&b, ") DO NOTHING");
    }
    dom_buf_printf(&b, "; %s %s%s", empty_stmt(&g->flushes), stage_name, commit ? "; COMMIT" : "");
    char *sql = buf_take(&b);
    if (!sql)
        return DOM_ENOMEM;
    PGresult *r = PQexec(s->conn, sql);
    dom_free(sql);
    if (PQresultStatus(r) != PGRES_COPY_IN)
        return fail(s, t->info->name, "cannot write rows", r);
    PQclear(r);
    int ok = !g->lines.oom && PQputCopyData(s->conn, g->lines.ptr, (int)g->lines.len) == 1;
    rc = copy_in_end(s, ok, t->info->name, "cannot write rows");
    dom_buf_clear(&g->lines);
    g->nrows = 0;
    return rc;
}

/* Writes every staged table, parents first: the tables a store is given
 * come from one array in the order of dom_move_tables (parents first).
 * With `commit`, the last one commits the write; *committed says whether
 * there was one. */
static int stage_flush_commit(pg_store *s, int commit, int *committed)
{
    *committed = 0;
    for (;;) {
        int best = -1, more = 0;
        for (int i = 0; i < s->nstage; i++)
            if (s->stage[i].nrows) {
                if (best >= 0)
                    more = 1;
                if (best < 0 || s->stage[i].t < s->stage[best].t)
                    best = i;
            }
        if (best < 0)
            return 0;
        int last = commit && !more;
        int rc = stage_flush_one(s, best, last);
        if (rc < 0)
            return rc;
        *committed = last;
    }
}

static int stage_flush(pg_store *s)
{
    int committed;
    return stage_flush_commit(s, 0, &committed);
}

/* After a rollback: staged rows are gone, and so may be temporary tables
 * created in the transaction (the next use creates them again). */
static void stage_discard(pg_store *s)
{
    for (int i = 0; i < s->nstage; i++) {
        dom_buf_clear(&s->stage[i].lines);
        s->stage[i].nrows = 0;
        s->stage[i].created = s->stage[i].pk_created = 0;
    }
    s->keys_table = 0;
    s->keys_known = 0;
}

void dom_pg__stage_free(pg_store *s)
{
    for (int i = 0; i < s->nstage; i++)
        dom_buf_free(&s->stage[i].lines);
    s->nstage = 0;
}

int dom_pg__write_commit(dom_store *base)
{
    pg_store *s = (pg_store *)base;
    int committed;
    int rc = stage_flush_commit(s, 1, &committed);
    if (rc == 0 && s->write_open && !committed)
        rc = exec(s, NULL, "cannot commit a write", "COMMIT");
    if (rc < 0) {
        stage_discard(s);
        PQclear(PQexec(s->conn, "ROLLBACK"));
    }
    s->in_write = s->write_open = 0;
    return rc;
}

void dom_pg__write_rollback(dom_store *base)
{
    pg_store *s = (pg_store *)base;
    stage_discard(s);
    if (PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    s->in_write = s->write_open = 0;
}

int dom_pg__upsert(dom_store *base, const dom_move_table *t, const dom_value *row)
{
    pg_store *s = (pg_store *)base;
    int idx;
    pg_stage *g = stage_of(s, t, &idx);
    if (!g)
        return dom_error_set(DOM_ERROR, "region \"%s\": too many tables in one write",
                             base->region);
    dom_buf tmp = DOM_BUF_INIT;
    dom_buf_printf(&g->lines, "%lld", (long long)++s->ord);
    for (size_t i = 0; i < t->info->ncols; i++) {
        size_t len = 0;
        const char *e =
            dom_pgcopy_encode(&row[i], dom_pg__class(t->info->cols[i].type), &tmp, &len);
        dom_buf_putc(&g->lines, '\t');
        dom_buf_put_copy(&g->lines, e, len);
    }
    dom_buf_putc(&g->lines, '\n');
    dom_buf_free(&tmp);
    g->nrows++;
    if (g->lines.oom || tmp.oom)
        return DOM_ENOMEM;
    if (g->lines.len >= STAGE_FLUSH_BYTES)
        return stage_flush(s);
    return 0;
}

int dom_pg__delete_pk(dom_store *base, const dom_move_table *t, const dom_value *pk)
{
    pg_store *s = (pg_store *)base;
    int rc = stage_flush(s);
    if (rc == 0)
        rc = write_open(s);
    if (rc < 0)
        return rc;
    dom_buf b = DOM_BUF_INIT;
    int cols[64], n;
    dom_buf_puts(&b, "DELETE FROM ");
    put_ident(s, &b, t->info->name);
    if (!t->npk) {
        /* one of the equal rows */
        dom_buf_puts(&b, " WHERE ctid = (SELECT ctid FROM ");
        put_ident(s, &b, t->info->name);
    }
    pk_where(s, &b, t, cols, &n);
    keys_and(s, &b, t);
    if (!t->npk)
        dom_buf_puts(&b, " LIMIT 1)");
    char *sql = buf_take(&b);
    if (!sql)
        return DOM_ENOMEM;
    params p = {.store = DOM_BUF_INIT};
    params_set(&p, t->info, cols, n, pk);
    PGresult *r = p.store.oom ? NULL : PQexecParams(s->conn, sql, n, NULL, p.val, p.len, p.fmt, 0);
    dom_free(sql);
    dom_buf_free(&p.store);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return fail(s, t->info->name, "cannot delete a row", r);
    PQclear(r);
    return 0;
}

/* Appends "DELETE FROM t <the rows of the keys>" (at most `limit` rows
 * when > 0). */
static int delete_keys_sql(pg_store *s, dom_buf *b, const dom_move_table *t, int64_t limit)
{
    int lateral = key_indexed(s, t);
    if (lateral < 0)
        return lateral;
    dom_buf_puts(b, "DELETE FROM ");
    put_ident(s, b, t->info->name);
    if (limit > 0 || lateral) {
        /* the rows found through the tenant index, deleted by address */
        dom_buf_puts(b, " WHERE ctid = ANY (ARRAY (SELECT ctid");
        if (keys_from(s, b, t, "ctid") < 0)
            return DOM_ENOMEM;
        if (limit > 0)
            dom_buf_printf(b, " LIMIT %lld", (long long)limit);
        dom_buf_puts(b, "))");
    } else {
        keys_where(s, b, t);
    }
    return b->oom ? DOM_ENOMEM : 0;
}

/* Appends "SELECT count(*) FROM <the rows of the keys in t>". */
static int count_keys_sql(pg_store *s, dom_buf *b, const dom_move_table *t)
{
    dom_buf_puts(b, "SELECT count(*)");
    int rc = keys_from(s, b, t, "ctid");
    return rc < 0 ? rc : b->oom ? DOM_ENOMEM : 0;
}

int dom_pg__delete_keys(dom_store *base, const dom_move_table *t, int64_t limit, int64_t *deleted)
{
    pg_store *s = (pg_store *)base;
    int rc = stage_flush(s);
    if (rc < 0)
        return rc;
    dom_buf b = DOM_BUF_INIT;
    dom_buf_puts(&b, write_prefix(s));
    if ((rc = delete_keys_sql(s, &b, t, limit)) < 0) {
        dom_buf_free(&b);
        return rc;
    }
    char *sql = buf_take(&b);
    if (!sql)
        return DOM_ENOMEM;
    PGresult *r = PQexec(s->conn, sql);
    dom_free(sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return fail(s, t->info->name, "cannot delete rows", r);
    *deleted = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

/* Statements of one simple query (one round trip), one per table after
 * `first` others; their results are read in order. */
typedef struct multi_q {
    const dom_move_table *t;
    size_t n;
    size_t first; /* statements before the tables' */
    int reversed; /* the tables' statements from t[n - 1] down to t[0] */
    int own_tx;   /* the query has its own BEGIN: rolled back on failure */
    ExecStatusType want;
    const char *what;
    int64_t *out; /* per table: the count (want TUPLES_OK) or rows affected */
} multi_q;

/* Runs the query; the first failure is returned, naming its table. */

static int multi_run(pg_store *s, const char *sql, multi_q *m)
{
    if (!PQsendQuery(s->conn, sql))
        return fail(s, NULL, m->what, NULL);
    PGresult *r;
    int rc = 0;
    for (size_t k = 0; (r = PQgetResult(s->conn)) != NULL; k++) {
        size_t ti = k - m->first;
        int table = k >= m->first && ti < m->n;
        if (table && m->reversed)
            ti = m->n - 1 - ti;
        ExecStatusType want = table ? m->want : PGRES_COMMAND_OK;
        if (PQresultStatus(r) != want) {
            if (rc == 0)
                rc = fail(s, table ? m->t[ti].info->name : NULL, m->what, r);
            else
                PQclear(r);
            continue;
        }
        if (table)
            m->out[ti] =
                strtoll(want == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : PQcmdTuples(r), NULL, 10);
        PQclear(r);
    }
    if (rc < 0 && m->own_tx && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    return rc;
}

/* Every table's rows of the keys, children first (t[n - 1] first), in one
 * transaction and one round trip. */
int dom_pg__delete_keys_all(dom_store *base, const dom_move_table *t, size_t n, int64_t *deleted)
{
    pg_store *s = (pg_store *)base;
    int rc;
    *deleted = 0;
    if (s->in_write)
        return dom_error_set(DOM_ERROR, "region \"%s\": deleting every table's rows inside a write",
                             base->region);
    if ((rc = key_indexed_all(s, t, n)) < 0)
        return rc;
    int64_t *rows = dom_calloc(n ? n : 1, sizeof(int64_t));
    dom_buf b = DOM_BUF_INIT;
    rc = rows ? 0 : DOM_ENOMEM;
    dom_buf_puts(&b, WRITE_BEGIN);
    for (size_t i = n; rc == 0 && i-- > 0;) {
        if ((rc = delete_keys_sql(s, &b, &t[i], 0)) == 0)
            dom_buf_puts(&b, "; ");
    }
    dom_buf_puts(&b, "COMMIT");
    char *sql;
    rc = take_sql(&b, rc, &sql);
    if (rc == 0) {
        /* BEGIN and SET LOCAL come first */
        multi_q m = {t, n, 2, 1, 1, PGRES_COMMAND_OK, "cannot delete rows", rows};
        rc = multi_run(s, sql, &m);
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        *deleted += rows[i];
    dom_free(sql);
    dom_free(rows);
    return rc;
}

int dom_pg__count_keys(dom_store *base, const dom_move_table *t, int64_t *rows)
{
    return dom_pg__count_keys_all(base, t, 1, rows);
}

/* Every table's rows of the keys, in one round trip. */
int dom_pg__count_keys_all(dom_store *base, const dom_move_table *t, size_t n, int64_t *rows)
{
    pg_store *s = (pg_store *)base;
    dom_buf b = DOM_BUF_INIT;
    int rc = key_indexed_all(s, t, n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i)
            dom_buf_puts(&b, "; ");
        rc = count_keys_sql(s, &b, &t[i]);
    }
    char *sql;
    if ((rc = take_sql(&b, rc, &sql)) < 0)
        return rc;
    multi_q m = {t, n, 0, 0, 0, PGRES_TUPLES_OK, "cannot count rows", rows};
    rc = multi_run(s, sql, &m);
    dom_free(sql);
    return rc;
}

/* The change log is a queue: an entry's sequence number says nothing about
 * when it committed (a transaction may take number 10, and commit after
 * the one with 11 was read), so entries are not skipped by position but
 * deleted once applied.  The mover applies what one call returns, commits
 * the target, and calls again with `after` set to the last sequence number
 * it applied: that call deletes the entries the previous one returned.  A
 * mover that dies in between replays them, which is harmless: every entry
 * makes the target re-read the row's current state. */
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
    int rc0 = pipeline(s, steps + !trim, 1 + trim, tx, 0, "cannot read the change log", &r);
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

/* ---- copy between two PostgreSQL regions ------------------------------------ */

/* Pipes one table's rows from src's COPY into dst's; with a watch (table
 * index ti), in the cursor's order, each line also decoded for it. */
static int copy_table(pg_store *d, pg_store *src, const dom_move_table *st,
                      const dom_move_table *dt, int64_t *rows, int64_t *bytes,
                      dom_copy_watch *watch, size_t ti, int last)
{
    pg_cursor *dec = NULL;
    int rc = 0, n;
    PGresult *r = NULL;
    char *out_sql = NULL;
    if (watch && (rc = new_cursor(src, st, &dec)) == 0)
        /* the columns themselves (col_list) */
        for (int i = 0; i < dec->ncols; i++)
            dec->fix[i] = dec->cls[i] == PG_C_TIME;
    dom_buf b = DOM_BUF_INIT;
    dom_buf_puts(&b, "COPY (SELECT ");
    col_list(src, &b, st->info);
    int lateral = rc == 0 ? keys_from(src, &b, st, "*") : rc;
    if (lateral < 0) {
        dom_buf_free(&b);
        rc = lateral;
    } else {
        if (watch)
            order_by(src, &b, st, lateral ? LATERAL_KEY : NULL);
        dom_buf_puts(&b, ") TO STDOUT");
        if (!(out_sql = buf_take(&b)))
            rc = DOM_ENOMEM;
    }
    /* the source's read starts while the target's COPY (of the query
     * dom_pg__copy_from sent) comes in */
    int reading = 0;
    if (rc == 0) {
        r = PQexec(src->conn, out_sql);
        if (PQresultStatus(r) != PGRES_COPY_OUT) {
            rc = fail(src, st->info->name, "cannot read rows", r);
        } else {
            PQclear(r);
            reading = 1;
        }
    }
    while ((r = PQgetResult(d->conn)) != NULL && PQresultStatus(r) == PGRES_COMMAND_OK)
        PQclear(r);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        if (rc == 0)
            rc = fail(d, dt->info->name, "cannot copy rows", r);
        else
            PQclear(r);
        if (r)
            results(d, NULL, "");
        if (reading)
            copy_out_drain(src);
        goto done;
    }
    PQclear(r);
    if (rc < 0) {
        rc = copy_in_abandon(d, rc);
        goto done;
    }
    char *line;
    while ((n = PQgetCopyData(src->conn, &line, 0)) > 0) {
        if (rc == 0 && PQputCopyData(d->conn, line, n) != 1)
            rc = fail(d, dt->info->name, "cannot copy rows", NULL);
        if (rc == 0 && dec) {
            decode_line(dec, line, n);
            if (dec->store.oom || dec->field.oom) {
                rc = DOM_ENOMEM;
            } else {
                cursor_point(dec);
                rc = watch->on_row(ti, dec->vals, watch->payload);
            }
        }
        (*rows)++;
        *bytes += n;
        PQfreemem(line);
        /* another batch's write pause in either region goes first: on
         * two busy cores, every process that runs beside it lengthens it */
        if ((*rows & 1023) == 0) {
            if (d->base.before_bulk)
                d->base.before_bulk(d->base.before_bulk_payload);
            if (src->base.before_bulk)
                src->base.before_bulk(src->base.before_bulk_payload);
        }
    }
    if (n == -2 && rc == 0)
        rc = fail(src, st->info->name, "cannot read rows", NULL);
    int rs = results(src, st->info->name, "cannot read rows");
    if (rc == 0)
        rc = rs;
    if (rc < 0) {
        rc = copy_in_abandon(d, rc);
    } else if (last) {
        /* this COPY's result, the COMMIT's, and the end */
        rc = copy_in_end(d, 1, dt->info->name, "cannot copy rows");
    } else {
        /* this COPY's result; the next one starts the next table */
        PQputCopyEnd(d->conn, NULL);
        r = PQgetResult(d->conn);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = fail(d, dt->info->name, "cannot copy rows", r);
            results(d, NULL, "");
        } else {
            PQclear(r);
        }
    }
done:
    dom_free(out_sql);
    dom_pg__cursor_close((dom_cursor *)dec);
    return rc;
}

int dom_pg__copy_from(dom_store *dbase, dom_store *sbase, const dom_move_table *tables, size_t n,
                      int64_t *max_seq, int64_t *rows, int64_t *bytes, dom_copy_watch *watch)
{
    pg_store *d = (pg_store *)dbase, *src = (pg_store *)sbase;
    *rows = *bytes = 0;
    if (sbase->ops != &dom_pg__ops)
        return DOM_EUNSUPPORTED;
    /* the tables come as the source's view; the target's has the same
     * names, columns and order (prepare checked) */
    int rc = key_indexed_all(src, tables, n);
    if (rc < 0 || (rc = dom_pg__snapshot_begin(sbase, max_seq)) < 0)
        return rc;
    if (dbase->before_bulk)
        dbase->before_bulk(dbase->before_bulk_payload);
    if ((rc = dom_pg__write_begin(dbase)) < 0) {
        dom_pg__snapshot_end(sbase);
        return rc;
    }
    /* one query for the target's whole write: BEGIN, a COPY per table,
     * COMMIT; a table's COPY starts as the previous one ends, in the round
     * trip that ends it (what a far target costs per table) */
    dom_buf b = DOM_BUF_INIT;
    dom_buf_puts(&b, write_prefix(d));
    for (size_t i = 0; i < n; i++) {
        dom_buf_puts(&b, "COPY ");
        put_ident(d, &b, tables[i].info->name);
        dom_buf_puts(&b, " (");
        col_list(d, &b, tables[i].info);
        dom_buf_puts(&b, ") FROM STDIN; ");
    }
    dom_buf_puts(&b, "COMMIT");
    char *in_sql = buf_take(&b);
    if (!in_sql)
        rc = DOM_ENOMEM;
    else if (!PQsendQuery(d->conn, in_sql))
        rc = fail(d, NULL, "cannot copy rows", NULL);
    dom_free(in_sql);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = copy_table(d, src, &tables[i], &tables[i], rows, bytes,
                        watch && watch->on_row ? watch : NULL, i, i + 1 == n);
    if (rc == 0 && n == 0)
        rc = results(d, NULL, "cannot copy rows");
    if (rc == 0 && watch && watch->on_row)
        watch->observed = 1;
    if (rc == 0) {
        /* committed by the query */
        d->in_write = d->write_open = 0;
    } else {
        dom_pg__write_rollback(dbase);
    }
    int rc2 = dom_pg__snapshot_end(sbase);
    return rc < 0 ? rc : rc2;
}
