/*
 * store_pg_cursor.c - rows read from a PostgreSQL region: a batch's rows
 * streamed with COPY ... TO STDOUT (read ahead, several tables in one
 * query), or rows by primary key (array parameters, or a COPY'd key
 * table), decoded by the class of each column's declared type so that a
 * row read here compares with the same row read from SQLite
 * (docs/verification.md, "Canonical values").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg_move.h"

/* ---- cursors ------------------------------------------------------------------ */

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

int dom_pg__new_cursor(pg_store *s, const dom_move_table *t, pg_cursor **out)
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
            dom_pg__select_expr(s, b, &ti->cols[i]);
        else
            dom_pg__put_ident(s, b, ti->cols[i].name);
    }
}

/* Appends the statement a cursor of t reads its rows with. */
static int cursor_sql(pg_store *s, dom_buf *b, const dom_move_table *t)
{
    dom_buf_puts(b, "COPY (SELECT ");
    read_list(s, b, t);
    int lateral = dom_pg__keys_from(s, b, t, "*");
    if (lateral < 0)
        return lateral;
    dom_pg__order_by(s, b, t, lateral ? LATERAL_KEY : NULL);
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
    rc = dom_pg__take_sql(&b, rc, &sql);
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
        int rc = dom_pg__take_sql(&b, cursor_sql(s, &b, t), &sql);
        if (rc < 0)
            return rc;
        r = PQexec(s->conn, sql);
        dom_free(sql);
        if (PQresultStatus(r) != PGRES_COPY_OUT)
            return fail(s, t->info->name, "cannot read rows", r);
    }
    PQclear(r);
    pg_cursor *c;
    int rc = dom_pg__new_cursor(s, t, &c);
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

int dom_pg__exec_pk(pg_store *s, dom_buf *b, const dom_table_info *ti, const int *cols, int n,
                    const dom_value *pk, PGresult **out)
{
    *out = NULL;
    char *sql = dom_pg__buf_take(b);
    if (!sql)
        return DOM_ENOMEM;
    params p = {.store = DOM_BUF_INIT};
    params_set(&p, ti, cols, n, pk);
    int oom = p.store.oom;
    if (!oom)
        *out = PQexecParams(s->conn, sql, n, NULL, p.val, p.len, p.fmt, 0);
    dom_free(sql);
    dom_buf_free(&p.store);
    return oom ? DOM_ENOMEM : 0;
}

/* WHERE clause on the primary key (every column, NULL-safe, when none). */
void dom_pg__pk_where(pg_store *s, dom_buf *b, const dom_move_table *t, int cols[64], int *n)
{
    *n = t->npk ? t->npk : (int)t->info->ncols;
    if (*n > 64)
        *n = 64;
    dom_buf_puts(b, " WHERE ");
    for (int i = 0; i < *n; i++) {
        cols[i] = t->npk ? t->pk[i] : i;
        if (i)
            dom_buf_puts(b, " AND ");
        dom_pg__put_ident(s, b, t->info->cols[cols[i]].name);
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
    dom_pg__put_ident(s, &b, t->info->name);
    dom_pg__pk_where(s, &b, t, cols, &n);
    dom_buf_puts(&b, " LIMIT 1");
    PGresult *r;
    int rc = dom_pg__exec_pk(s, &b, t->info, cols, n, pk, &r);
    if (rc < 0)
        return rc;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return fail(s, t->info->name, "cannot read a row", r);
    pg_cursor *c;
    rc = dom_pg__new_cursor(s, t, &c);
    if (rc < 0) {
        PQclear(r);
        return rc;
    }
    c->res = r;
    *out = (dom_cursor *)c;
    return 0;
}

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
    dom_pg__put_ident(s, &b, t->info->name);
    dom_buf_puts(&b, " WHERE (");
    for (int i = 0; i < t->npk; i++) {
        const dom_column *col = &t->info->cols[t->pk[i]];
        if (i)
            dom_buf_puts(&b, ", ");
        dom_pg__put_ident(s, &b, col->name);
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
    dom_pg__keys_and(s, &b, t);
    dom_buf_free(&tmp);
    char *sql = dom_pg__buf_take(&b);
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
    int rc = dom_pg__new_cursor(s, t, &c);
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
    if (!t->npk || !dom_pg__stage_of(s, t, &idx))
        return dom_error_set(DOM_ERROR, "region \"%s\", table \"%s\": no primary key to read by",
                             base->region, t->info->name);
    dom_buf b = DOM_BUF_INIT, pkcols = DOM_BUF_INIT;
    for (int i = 0; i < t->npk; i++) {
        if (i)
            dom_buf_puts(&pkcols, ", ");
        dom_pg__put_ident(s, &pkcols, t->info->cols[t->pk[i]].name);
    }
    pg_stage *g = &s->stage[idx];
    if (!g->pk_created) {
        dom_buf_printf(&b, "CREATE TEMP TABLE IF NOT EXISTS domicile_pk_%d AS SELECT %s FROM ", idx,
                       dom_buf_cstr(&pkcols));
        dom_pg__put_ident(s, &b, t->info->name);
        dom_buf_puts(&b, " WITH NO DATA; ");
        g->pk_created = 1;
    }
    dom_buf_printf(&b, "%s pg_temp.domicile_pk_%d; COPY pg_temp.domicile_pk_%d FROM STDIN",
                   dom_pg__empty_stmt(&g->pk_loads), idx, idx);
    char *sql = dom_pg__buf_take(&b);
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
    int rc = dom_pg__copy_in_end(s, ok, t->info->name, "cannot stage primary keys");
    if (rc < 0) {
        dom_buf_free(&b);
        dom_buf_free(&pkcols);
        return rc;
    }
    dom_buf_puts(&b, "COPY (SELECT ");
    read_list(s, &b, t);
    dom_buf_puts(&b, " FROM ");
    dom_pg__put_ident(s, &b, t->info->name);
    dom_buf_printf(&b, " WHERE (%s) IN (SELECT %s FROM pg_temp.domicile_pk_%d)",
                   dom_buf_cstr(&pkcols), dom_buf_cstr(&pkcols), idx);
    dom_pg__keys_and(s, &b, t);
    dom_buf_puts(&b, ") TO STDOUT");
    dom_buf_free(&pkcols);
    sql = dom_pg__buf_take(&b);
    if (!sql)
        return DOM_ENOMEM;
    r = PQexec(s->conn, sql);
    dom_free(sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT)
        return fail(s, t->info->name, "cannot read rows", r);
    PQclear(r);
    pg_cursor *c;
    if ((rc = dom_pg__new_cursor(s, t, &c)) < 0) {
        dom_pg__copy_out_drain(s);
        return rc;
    }
    c->copy = 1;
    *out = (dom_cursor *)c;
    return 0;
}

/* Points the cursor's values into its store once every field is in. */
void dom_pg__cursor_point(pg_cursor *c)
{
    const char *base = dom_buf_cstr(&c->store);
    for (int i = 0; i < c->ncols; i++)
        if (c->vals[i].type == DOM_V_TEXT || c->vals[i].type == DOM_V_BLOB)
            c->vals[i].p = base + c->offs[i];
}

/* Decodes one COPY text line (n bytes) into the cursor's values. */
void dom_pg__decode_line(pg_cursor *c, const char *line, int n)
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
    return dom_pg__results(s, c->t->info->name, "cannot read rows");
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
        dom_pg__decode_line(c, c->line, n);
    }
    if (c->store.oom || c->field.oom)
        return DOM_ENOMEM;
    dom_pg__cursor_point(c);
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
            dom_pg__copy_out_drain(c->s);
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
