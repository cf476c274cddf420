/*
 * store_pg_sql.c - the SQL fragments the PostgreSQL store's move
 * operations share (quoted identifiers, the batch's key conditions,
 * orders, column lists read canonically) and the COPY plumbing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg_move.h"

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

void dom_pg__put_ident(pg_store *s, dom_buf *b, const char *name)
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
        dom_pg__put_ident(s, b, c->name);
        dom_buf_puts(b,
                     " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || rtrim(rtrim(to_char(");
        if (row)
            dom_buf_printf(b, "%s.", row);
        dom_pg__put_ident(s, b, c->name);
        dom_buf_puts(b, " AT TIME ZONE 'UTC', '.US'), '0'), '.') || 'Z'");
    } else {
        if (row)
            dom_buf_printf(b, "%s.", row);
        dom_pg__put_ident(s, b, c->name);
        if (k == PG_C_BOOL)
            dom_buf_puts(b, "::int");
    }
}

void dom_pg__select_expr(pg_store *s, dom_buf *b, const dom_column *c)
{
    dom_pg__value_expr(s, b, NULL, c);
}

void dom_pg__col_list(pg_store *s, dom_buf *b, const dom_table_info *ti)
{
    for (size_t i = 0; i < ti->ncols; i++) {
        if (i)
            dom_buf_puts(b, ", ");
        dom_pg__put_ident(s, b, ti->cols[i].name);
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
        dom_pg__put_ident(s, b, t->key);
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

void dom_pg__keys_where(pg_store *s, dom_buf *b, const dom_move_table *t)
{
    dom_buf_puts(b, " WHERE ");
    keys_cond(s, b, t);
}

/* " AND its rows belong to the current keys": rows read or deleted by
 * primary key (the change log names them) are the batch's tenants' only,
 * whatever else holds that key now */
void dom_pg__keys_and(pg_store *s, dom_buf *b, const dom_move_table *t)
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
void dom_pg__order_by(pg_store *s, dom_buf *b, const dom_move_table *t, const char *key_expr)
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
            dom_pg__put_ident(s, b, t->info->cols[c].name);
        if (dom_pg__class(t->info->cols[c].type) == PG_C_TEXT)
            dom_buf_puts(b, " COLLATE \"C\"");
        if (c != t->key_col && !t->info->cols[c].notnull)
            dom_buf_puts(b, " NULLS FIRST");
    }
}

static void order_list(pg_store *s, dom_buf *b, const dom_move_table *t)
{
    dom_pg__order_by(s, b, t, NULL);
}

/* Whether an index of t leads with its tenant column (asked once per
 * table and connection); < 0 on error. */

/* Reads whether an index leads with the tenant column for every table of
 * t[0..n) not yet known, in one query (a session's first batch would
 * otherwise ask table by table: a round trip each). */
int dom_pg__key_indexed_all(pg_store *s, const dom_move_table *t, size_t n)
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
int dom_pg__key_indexed(pg_store *s, const dom_move_table *t)
{
    if (t->key_col < 0)
        return 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < s->nkeyidx; i++)
            if (strcmp(s->keyidx[i].table, t->info->name) == 0)
                return s->keyidx[i].indexed;
        int rc = pass ? 0 : dom_pg__key_indexed_all(s, t, 1);
        if (rc < 0)
            return rc;
    }
    return dom_error_set(DOM_ERROR, "region \"%s\", table \"%s\": its indexes were not read",
                         s->base.region, t->info->name);
}

/* The key the rows of a batch are ordered by in the form keys_from gives. */

/* " FROM ..." the rows of the batch's keys in table t, `inner` ("*", or
 * "ctid") of each.  When an index leads with the tenant column, the keys
 * are walked in order and each tenant's rows read through that index (a
 * nested loop whatever the table's statistics say: a target filled by
 * the mover has none until it is analyzed, and the planner would scan
 * the whole table for every batch); the rows then come ordered by
 * LATERAL_KEY first.  Otherwise one semi-join.  Returns 1 for the first
 * form, 0 for the second, < 0 on error. */
int dom_pg__keys_from(pg_store *s, dom_buf *b, const dom_move_table *t, const char *inner)
{
    int lateral = dom_pg__key_indexed(s, t);
    if (lateral < 0)
        return lateral;
    const dom_column *kc = &t->info->cols[t->key_col];
    if (!lateral) {
        dom_buf_printf(b, " FROM (SELECT %s FROM ", inner);
        dom_pg__put_ident(s, b, t->info->name);
        dom_pg__keys_where(s, b, t);
        dom_buf_puts(b, ") domicile_r");
        return 0;
    }
    dom_buf_printf(b,
                   " FROM (SELECT DISTINCT k::%s%s AS domicile_k FROM pg_temp.domicile_keys) "
                   "domicile_b CROSS JOIN LATERAL (SELECT %s FROM ",
                   kc->type, dom_pg__class(kc->type) == PG_C_TEXT ? " COLLATE \"C\"" : "", inner);
    dom_pg__put_ident(s, b, t->info->name);
    dom_buf_puts(b, " WHERE ");
    dom_pg__put_ident(s, b, t->key);
    dom_buf_puts(b, " = domicile_b.domicile_k");
    /* an ORDER BY keeps the subquery from being flattened into a join the
     * planner would choose freely */
    order_list(s, b, t);
    dom_buf_puts(b, ") domicile_r");
    return 1;
}

char *dom_pg__buf_take(dom_buf *b)
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
int dom_pg__take_sql(dom_buf *b, int rc, char **out)
{
    *out = rc == 0 ? dom_pg__buf_take(b) : NULL;
    dom_buf_free(b);
    return rc < 0 ? rc : *out ? 0 : DOM_ENOMEM;
}

/* ---- COPY plumbing -------------------------------------------------------------- */

/* Reads the results of the last command to the end; the first failure is
 * reported, the rest are dropped. */
int dom_pg__results(pg_store *s, const char *table, const char *what)
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
int dom_pg__copy_in_end(pg_store *s, int ok, const char *table, const char *what)
{
    PQputCopyEnd(s->conn, ok ? NULL : "domicile: the copy was abandoned");
    return dom_pg__results(s, table, what);
}

/* Abandons a COPY FROM STDIN after a failure elsewhere, keeping the
 * message of that failure. */
int dom_pg__copy_in_abandon(pg_store *s, int rc)
{
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s", dom_error_last());
    dom_pg__copy_in_end(s, 0, NULL, "");
    return dom_error_set(rc, "%s", msg);
}

/* Reads a COPY TO stream to its end and drops it, so that the connection
 * serves the next call. */
void dom_pg__copy_out_drain(pg_store *s)
{
    char *line;
    while (PQgetCopyData(s->conn, &line, 0) > 0)
        PQfreemem(line);
    PGresult *r;
    while ((r = PQgetResult(s->conn)) != NULL)
        PQclear(r);
}
