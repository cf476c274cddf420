/*
 * store_pg_write.c - the mover's writes to a PostgreSQL region: rows
 * buffered per table as COPY lines and, when the write commits (or a
 * delete needs them out first), copied into a temporary stage table and
 * merged with one INSERT ... ON CONFLICT; deletes and counts of a batch's
 * rows.  The writes pass the triggers through the transaction-local
 * setting domicile.bypass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg_move.h"

/* Staged bytes of one table before they are written out. */
#define STAGE_FLUSH_BYTES (8 << 20)

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
const char *dom_pg__write_prefix(pg_store *s)
{
    if (!s->in_write || s->write_open)
        return "";
    s->write_open = 1; /* a failure rolls the write back (write_rollback) */
    return WRITE_BEGIN;
}

/* The same BEGIN on its own, before a statement with parameters. */
int dom_pg__write_open(pg_store *s)
{
    const char *begin = dom_pg__write_prefix(s);
    return *begin ? exec(s, NULL, "cannot begin a write", begin) : 0;
}

pg_stage *dom_pg__stage_of(pg_store *s, const dom_move_table *t, int *idx)
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
    dom_buf_puts(&b, dom_pg__write_prefix(s));
    if (!g->created) {
        dom_buf_printf(&b,
                       "CREATE TEMP TABLE IF NOT EXISTS domicile_stage_%d AS SELECT 0::bigint AS "
                       "domicile_ord, ",
                       idx);
        dom_pg__col_list(s, &b, t->info);
        dom_buf_puts(&b, " FROM ");
        dom_pg__put_ident(s, &b, t->info->name);
        dom_buf_puts(&b, " WITH NO DATA; ");
        g->created = 1;
    }
    /* the merge follows the COPY in the same query string: the server
     * runs it once the rows are in, and its result comes with the COPY's
     * (one round trip less) */
    dom_buf_printf(&b, "COPY %s FROM STDIN; ", stage_name);
    dom_buf_puts(&b, "INSERT INTO ");
    dom_pg__put_ident(s, &b, t->info->name);
    dom_buf_puts(&b, " (");
    dom_pg__col_list(s, &b, t->info);
    dom_buf_puts(&b, ") SELECT ");
    if (t->npk) {
        dom_buf_puts(&b, "DISTINCT ON (");
        for (int i = 0; i < t->npk; i++) {
            if (i)
                dom_buf_puts(&b, ", ");
            dom_pg__put_ident(s, &b, t->info->cols[t->pk[i]].name);
        }
        dom_buf_puts(&b, ") ");
    }
    dom_pg__col_list(s, &b, t->info);
    dom_buf_printf(&b, " FROM %s ORDER BY ", stage_name);
    for (int i = 0; i < t->npk; i++) {
        dom_pg__put_ident(s, &b, t->info->cols[t->pk[i]].name);
        dom_buf_puts(&b, ", ");
    }
    dom_buf_puts(&b, "domicile_ord DESC");
    if (t->npk) {
        dom_buf_puts(&b, " ON CONFLICT (");
        for (int i = 0; i < t->npk; i++) {
            if (i)
                dom_buf_puts(&b, ", ");
            dom_pg__put_ident(s, &b, t->info->cols[t->pk[i]].name);
        }
        int nset = 0;
        for (size_t i = 0; i < t->info->ncols; i++) {
            if (t->info->cols[i].pk)
                continue;
            dom_buf_puts(&b, nset++ ? ", " : ") DO UPDATE SET ");
            dom_pg__put_ident(s, &b, t->info->cols[i].name);
            dom_buf_puts(&b, " = excluded.");
            dom_pg__put_ident(s, &b, t->info->cols[i].name);
        }
        if (!nset)
            dom_buf_puts(&b, ") DO NOTHING");
    }
    dom_buf_printf(&b, "; %s %s%s", dom_pg__empty_stmt(&g->flushes), stage_name,
                   commit ? "; COMMIT" : "");
    char *sql = dom_pg__buf_take(&b);
    if (!sql)
        return DOM_ENOMEM;
    PGresult *r = PQexec(s->conn, sql);
    dom_free(sql);
    if (PQresultStatus(r) != PGRES_COPY_IN)
        return fail(s, t->info->name, "cannot write rows", r);
    PQclear(r);
    int ok = !g->lines.oom && PQputCopyData(s->conn, g->lines.ptr, (int)g->lines.len) == 1;
    rc = dom_pg__copy_in_end(s, ok, t->info->name, "cannot write rows");
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
    pg_stage *g = dom_pg__stage_of(s, t, &idx);
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
        rc = dom_pg__write_open(s);
    if (rc < 0)
        return rc;
    dom_buf b = DOM_BUF_INIT;
    int cols[64], n;
    dom_buf_puts(&b, "DELETE FROM ");
    dom_pg__put_ident(s, &b, t->info->name);
    if (!t->npk) {
        /* one of the equal rows */
        dom_buf_puts(&b, " WHERE ctid = (SELECT ctid FROM ");
        dom_pg__put_ident(s, &b, t->info->name);
    }
    dom_pg__pk_where(s, &b, t, cols, &n);
    dom_pg__keys_and(s, &b, t);
    if (!t->npk)
        dom_buf_puts(&b, " LIMIT 1)");
    PGresult *r;
    if ((rc = dom_pg__exec_pk(s, &b, t->info, cols, n, pk, &r)) < 0)
        return rc;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return fail(s, t->info->name, "cannot delete a row", r);
    PQclear(r);
    return 0;
}

/* Appends "DELETE FROM t <the rows of the keys>" (at most `limit` rows
 * when > 0). */
static int delete_keys_sql(pg_store *s, dom_buf *b, const dom_move_table *t, int64_t limit)
{
    int lateral = dom_pg__key_indexed(s, t);
    if (lateral < 0)
        return lateral;
    dom_buf_puts(b, "DELETE FROM ");
    dom_pg__put_ident(s, b, t->info->name);
    if (limit > 0 || lateral) {
        /* the rows found through the tenant index, deleted by address */
        dom_buf_puts(b, " WHERE ctid = ANY (ARRAY (SELECT ctid");
        if (dom_pg__keys_from(s, b, t, "ctid") < 0)
            return DOM_ENOMEM;
        if (limit > 0)
            dom_buf_printf(b, " LIMIT %lld", (long long)limit);
        dom_buf_puts(b, "))");
    } else {
        dom_pg__keys_where(s, b, t);
    }
    return b->oom ? DOM_ENOMEM : 0;
}

/* Appends "SELECT count(*) FROM <the rows of the keys in t>". */
static int count_keys_sql(pg_store *s, dom_buf *b, const dom_move_table *t)
{
    dom_buf_puts(b, "SELECT count(*)");
    int rc = dom_pg__keys_from(s, b, t, "ctid");
    return rc < 0 ? rc : b->oom ? DOM_ENOMEM : 0;
}

int dom_pg__delete_keys(dom_store *base, const dom_move_table *t, int64_t limit, int64_t *deleted)
{
    pg_store *s = (pg_store *)base;
    int rc = stage_flush(s);
    if (rc < 0)
        return rc;
    dom_buf b = DOM_BUF_INIT;
    dom_buf_puts(&b, dom_pg__write_prefix(s));
    if ((rc = delete_keys_sql(s, &b, t, limit)) < 0) {
        dom_buf_free(&b);
        return rc;
    }
    char *sql = dom_pg__buf_take(&b);
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
    if ((rc = dom_pg__key_indexed_all(s, t, n)) < 0)
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
    rc = dom_pg__take_sql(&b, rc, &sql);
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
    int rc = dom_pg__key_indexed_all(s, t, n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i)
            dom_buf_puts(&b, "; ");
        rc = count_keys_sql(s, &b, &t[i]);
    }
    char *sql;
    if ((rc = dom_pg__take_sql(&b, rc, &sql)) < 0)
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
