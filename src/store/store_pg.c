/*
 * store_pg.c - the store interface on a PostgreSQL server through libpq:
 * connection, reads (tables, tenants, row counts) and the installation of
 * fences, change log, guard and triggers in a schema "domicile".  The
 * mover's operations are in store_pg_move.c.  Errors name the region, the
 * table and the SQLSTATE; the connection string never appears in them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_pg.h"

#define pg_fail dom_pg__fail
#define pg_exec dom_pg__exec
#define ident   dom_pg__ident
#define literal dom_pg__literal

/* Reports a failed result: region, table, SQLSTATE and the server's first
 * line; clears the result. */
int dom_pg__fail(pg_store *s, const char *table, const char *what, PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char conn_msg[512];
    if (!msg) {
        snprintf(conn_msg, sizeof(conn_msg), "%s", PQerrorMessage(s->conn));
        char *nl = strchr(conn_msg, '\n');
        if (nl)
            *nl = '\0';
        msg = conn_msg;
    }
    snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", state ? state : "");
    int rc = dom_error_set(DOM_EREGION, "region \"%s\"%s%s%s: %s: %s%s%s%s", s->base.region,
                           table ? ", table \"" : "", table ? table : "", table ? "\"" : "", what,
                           state ? "SQLSTATE " : "", state ? state : "", state ? ": " : "", msg);
    PQclear(res);
    return rc;
}

int dom_pg__exec(pg_store *s, const char *table, const char *what, const char *sql)
{
    PGresult *r = PQexec(s->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return pg_fail(s, table, what, r);
    PQclear(r);
    return 0;
}

char *dom_pg__ident(pg_store *s, const char *name)
{
    char *q = PQescapeIdentifier(s->conn, name, strlen(name));
    char *out = q ? dom_strdup(q) : NULL;
    PQfreemem(q);
    return out;
}

char *dom_pg__literal(pg_store *s, const char *text)
{
    char *q = PQescapeLiteral(s->conn, text, strlen(text));
    char *out = q ? dom_strdup(q) : NULL;
    PQfreemem(q);
    return out;
}

static int add_table(dom_table_info **t, size_t *n, size_t *cap, const char *name)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        dom_table_info *g = dom_realloc(*t, *cap * sizeof(**t));
        if (!g)
            return DOM_ENOMEM;
        *t = g;
    }
    memset(&(*t)[*n], 0, sizeof(**t));
    if (!((*t)[*n].name = dom_strdup(name)))
        return DOM_ENOMEM;
    (*n)++;
    return 0;
}
/* The class of a PostgreSQL type: the values the store reads from it
 * (docs/verification.md, "Canonical values"). */
static dom_col_class pg_class_of_type(const char *type)
{
    if (strcmp(type, "smallint") == 0 || strcmp(type, "integer") == 0 ||
        strcmp(type, "bigint") == 0 || strcmp(type, "boolean") == 0)
        return DOM_COL_INTEGER;
    if (strcmp(type, "real") == 0 || strcmp(type, "double precision") == 0)
        return DOM_COL_REAL;
    if (strcmp(type, "bytea") == 0)
        return DOM_COL_BLOB;
    return DOM_COL_TEXT;
}

/* The columns of the tables named by $1 (text[]; NULL: every table of the
 * schema): table, column, type, not null, place in the primary key. */
const char dom_pg__columns_sql[] =
    "SELECT c.relname, a.attname, lower(format_type(a.atttypid, a.atttypmod)), "
    "a.attnotnull, coalesce(array_position(i.indkey::int2[], a.attnum) + 1, 0) "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
    "AND NOT a.attisdropped "
    "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
    "WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() "
    "AND ($1::text[] IS NULL OR c.relname = ANY ($1::text[])) "
    "ORDER BY c.relname, a.attnum";

/* Adds the rows of a dom_pg__columns_sql result (cleared) to *tp. */
static int add_columns(PGresult *r, dom_table_info **tp, size_t *np, size_t *capp)
{
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        const char *rel = PQgetvalue(r, i, 0);
        if (!*np || strcmp((*tp)[*np - 1].name, rel) != 0)
            if ((rc = add_table(tp, np, capp, rel)) < 0)
                break;
        dom_table_info *ti = &(*tp)[*np - 1];
        dom_column *g = dom_realloc(ti->cols, (ti->ncols + 1) * sizeof(*g));
        if (!g) {
            rc = DOM_ENOMEM;
            break;
        }
        ti->cols = g;
        dom_column *c = &g[ti->ncols++];
        c->name = dom_strdup(PQgetvalue(r, i, 1));
        c->type = dom_strdup(PQgetvalue(r, i, 2));
        c->cls = pg_class_of_type(PQgetvalue(r, i, 2));
        c->notnull = PQgetvalue(r, i, 3)[0] == 't';
        c->pk = atoi(PQgetvalue(r, i, 4));
        if (!c->name || !c->type)
            rc = DOM_ENOMEM;
    }
    PQclear(r);
    return rc;
}

/* The dom_pg__columns_sql result for `names` (a text[] literal, or NULL),
 * or NULL (the error set). */
static PGresult *columns(pg_store *s, const char *names)
{
    const char *pv[1] = {names};
    PGresult *r = PQexecParams(s->conn, dom_pg__columns_sql, 1, NULL, pv, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        return r;
    pg_fail(s, NULL, "cannot list tables", r);
    return NULL;
}

char *dom_pg__table_names(const dom_move_table *tables, size_t n)
{
    const char **names = dom_calloc(n ? n : 1, sizeof(char *));
    if (!names)
        return NULL;
    for (size_t i = 0; i < n; i++)
        names[i] = tables[i].info->name;
    char *arr = dom_pg__text_array(names, n);
    dom_free(names);
    return arr;
}

int dom_pg__columns_sig(PGresult *r, const dom_move_table *tables, size_t n, char out[65])
{
    dom_table_info *ti = NULL;
    size_t nt = 0, cap = 0;
    int rc = add_columns(r, &ti, &nt, &cap);
    if (rc == 0)
        rc = dom_store__schema_sig_of(ti, nt, tables, n, out);
    dom_table_info_free(ti, nt);
    return rc;
}

/* pg_constraint's confdeltype / confupdtype as SQL words */
static const char *fk_action(char c)
{
    switch (c) {
    case 'r':
        return "RESTRICT";
    case 'c':
        return "CASCADE";
    case 'n':
        return "SET NULL";
    case 'd':
        return "SET DEFAULT";
    default:
        return "NO ACTION";
    }
}

int dom_pg__tables(dom_store *base, dom_table_info **out, size_t *nout)
{
    pg_store *s = (pg_store *)base;
    dom_table_info *t = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *nout = 0;
    PGresult *r = columns(s, NULL);
    int rc = r ? add_columns(r, &t, &n, &cap) : DOM_EREGION;
    if (rc == 0) {
        r = PQexec(s->conn, "SELECT c.relname, k.oid, p.relname, a.attname, pa.attname, "
                            "k.confdeltype, k.confupdtype "
                            "FROM pg_constraint k "
                            "JOIN pg_class c ON c.oid = k.conrelid "
                            "JOIN pg_class p ON p.oid = k.confrelid "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "CROSS JOIN LATERAL unnest(k.conkey, k.confkey) "
                            "WITH ORDINALITY AS u(ck, pk, ord) "
                            "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.ck "
                            "JOIN pg_attribute pa ON pa.attrelid = k.confrelid "
                            "AND pa.attnum = u.pk "
                            "WHERE k.contype = 'f' AND n.nspname = current_schema() "
                            "ORDER BY c.relname, k.oid, u.ord");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            dom_table_info_free(t, n);
            return pg_fail(s, NULL, "cannot list foreign keys", r);
        }
        for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
            int first = i == 0 || strcmp(PQgetvalue(r, i, 0), PQgetvalue(r, i - 1, 0)) != 0 ||
                        strcmp(PQgetvalue(r, i, 1), PQgetvalue(r, i - 1, 1)) != 0;
            for (size_t j = 0; j < n && rc == 0; j++)
                if (strcmp(t[j].name, PQgetvalue(r, i, 0)) == 0)
                    if ((rc = dom_table_fkey_add(&t[j], first, PQgetvalue(r, i, 2),
                                                 PQgetvalue(r, i, 3), PQgetvalue(r, i, 4))) == 0)
                        dom_table_fkey_actions(&t[j], fk_action(PQgetvalue(r, i, 5)[0]),
                                               fk_action(PQgetvalue(r, i, 6)[0]));
        }
        PQclear(r);
    }
    if (rc < 0) {
        dom_table_info_free(t, n);
        return rc;
    }
    *out = t;
    *nout = n;
    return 0;
}

/* Runs `sql` in single-row mode and hands each row to `row`. */
static int stream(pg_store *s, const char *table, const char *sql,
                  int (*row)(PGresult *r, void *payload), void *payload)
{
    if (!PQsendQuery(s->conn, sql))
        return pg_fail(s, table, "cannot send query", NULL);
    PQsetSingleRowMode(s->conn);
    int rc = 0;
    PGresult *r;
    while ((r = PQgetResult(s->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE) {
            if (rc == 0)
                rc = row(r, payload);
            PQclear(r);
        } else if (st == PGRES_TUPLES_OK) {
            PQclear(r);
        } else {
            int e = pg_fail(s, table, "cannot read rows", r);
            if (rc == 0)
                rc = e;
        }
    }
    return rc;
}

typedef struct tenant_ctx {
    dom_tenant_cb cb;
    dom_count_cb ccb;
    void *payload;
} tenant_ctx;

static int tenant_row(PGresult *r, void *payload)
{
    tenant_ctx *c = payload;
    if (PQgetisnull(r, 0, 0))
        return 0;
    return c->cb(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0),
                 PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1), c->payload);
}

static int pg_scan_tenants(dom_store *base, const char *table, const char *key, const char *country,
                           dom_tenant_cb cb, void *payload)
{
    pg_store *s = (pg_store *)base;
    char *t = ident(s, table), *k = ident(s, key), *c = ident(s, country);
    char *sql = t && k && c ? dom_sprintf("SELECT %s::text, %s::text FROM %s", k, c, t) : NULL;
    tenant_ctx ctx = {cb, NULL, payload};
    int rc = sql ? stream(s, table, sql, tenant_row, &ctx) : DOM_ENOMEM;
    dom_free(t);
    dom_free(k);
    dom_free(c);
    dom_free(sql);
    return rc;
}

static int count_row(PGresult *r, void *payload)
{
    tenant_ctx *c = payload;
    return c->ccb(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0),
                  strtoll(PQgetvalue(r, 0, 1), NULL, 10), strtoll(PQgetvalue(r, 0, 2), NULL, 10),
                  c->payload);
}

static int pg_count_by_tenant(dom_store *base, const dom_move_table *t, int *bytes_estimated,
                              dom_count_cb cb, void *payload)
{
    pg_store *s = (pg_store *)base;
    dom_buf b = DOM_BUF_INIT;
    /* pg_column_size of the whole row: the stored size, not the canonical
     * one, hence "estimated" */
    dom_buf_puts(&b, "SELECT ");
    dom_sql_tenant_col(&b, t, "x");
    dom_buf_puts(&b, "::text, count(*), sum(pg_column_size(x.*))::bigint FROM ");
    dom_sql_ident(&b, t->info->name);
    dom_buf_puts(&b, " x");
    dom_sql_tenant_joins(&b, t, "x", NULL);
    dom_buf_puts(&b, " WHERE ");
    dom_sql_tenant_col(&b, t, "x");
    dom_buf_puts(&b, " IS NOT NULL GROUP BY 1");
    tenant_ctx ctx = {NULL, cb, payload};
    int rc = b.oom ? DOM_ENOMEM : stream(s, t->info->name, dom_buf_cstr(&b), count_row, &ctx);
    *bytes_estimated = 1;
    dom_buf_free(&b);
    return rc;
}

static const char PG_SCHEMA[] =
    "CREATE SCHEMA IF NOT EXISTS domicile;\n"
    "CREATE TABLE IF NOT EXISTS domicile.fence (\n"
    "    tenant text PRIMARY KEY,\n"
    "    state  text NOT NULL,\n"
    "    home   text,\n"
    "    epoch  bigint,\n"
    "    batch  bigint\n"
    ") WITH (fillfactor = 50);\n"
    "ALTER TABLE domicile.fence SET (fillfactor = 50);\n"
    "CREATE INDEX IF NOT EXISTS fence_batch ON domicile.fence (batch);\n"
    "CREATE TABLE IF NOT EXISTS domicile.changes (\n"
    "    seq         bigserial PRIMARY KEY,\n"
    "    tenant      text NOT NULL,\n"
    "    tbl         text NOT NULL,\n"
    "    pk          text,\n"
    "    key_changed boolean NOT NULL DEFAULT false\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS changes_tenant ON domicile.changes (tenant);\n"
    "CREATE TABLE IF NOT EXISTS domicile.guard (country text PRIMARY KEY);\n"
    "CREATE TABLE IF NOT EXISTS domicile.countries (country text PRIMARY KEY);\n"
    "CREATE TABLE IF NOT EXISTS domicile.region (key text PRIMARY KEY, value text);\n"
    /* a quiet region's INSERT of a direct table reads its fence row with
     * the writer's rights (domicile.quiet_<oid>): reading the fences is
     * open to every role; changing them is not */
    "GRANT USAGE ON SCHEMA domicile TO PUBLIC;\n"
    "GRANT SELECT ON domicile.fence TO PUBLIC;\n";

/* The JSON array of the primary key of `row` (OLD or NEW), as the change
 * log keeps it (verify.c, dom_pk_parse): numbers, strings, {"$b": hex}. */
static void pk_json_expr(pg_store *s, dom_buf *b, const dom_move_table *t, const char *row)
{
    if (!t->npk) {
        dom_buf_puts(b, "NULL::text");
        return;
    }
    dom_buf_puts(b, "jsonb_build_array(");
    for (int i = 0; i < t->npk; i++) {
        const dom_column *c = &t->info->cols[t->pk[i]];
        char *q = ident(s, c->name);
        if (!q) {
            b->oom = 1;
            return;
        }
        if (i)
            dom_buf_puts(b, ", ");
        pg_class k = dom_pg__class(c->type);
        if (k == PG_C_BYTEA)
            dom_buf_printf(b, "jsonb_build_object('$b', encode(%s.%s, 'hex'))", row, q);
        else if (k == PG_C_TIME || k == PG_C_BOOL)
            dom_pg__value_expr(s, b, row, c);
        else
            dom_buf_printf(b, "%s.%s", row, q);
        dom_free(q);
    }
    dom_buf_puts(b, ")::text");
}

/* The trigger function of one tenant table (named after its oid):
 * refuses writes of frozen and moved tenants, records changes of
 * capturing ones, and keeps the residency guard on the tenants table.
 * Every write first takes a share lock on its tenant's fence row, which is
 * what makes fence changes barriers (docs/mover.md). */
/* Refusals of a row (NEW) this region cannot hold: an indirect row whose
 * parent is not here (its tenant cannot be known), SQLSTATE DM003. */
static void parent_check(pg_store *s, dom_buf *b, const dom_move_table *t, const char *tbl)
{
    if (!t->nlinks)
        return;
    const dom_link *k = &t->links[0];
    char *parent = literal(s, k->parent->name);
    dom_buf_puts(b, "    IF TG_OP <> 'DELETE' AND k_new IS NULL");
    for (size_t j = 0; j < k->ncols; j++) {
        dom_buf_puts(b, " AND NEW.");
        dom_sql_ident(b, k->cols[j]);
        dom_buf_puts(b, " IS NOT NULL");
    }
    dom_buf_printf(b,
                   " THEN\n"
                   "        RAISE EXCEPTION USING ERRCODE = 'DM003',\n"
                   "            MESSAGE = format('domicile: table %%s: its parent row in %%s (%%s) "
                   "is not in region %%s', %s, %s, concat_ws(', '",
                   tbl, parent ? parent : "''");
    for (size_t j = 0; j < k->ncols; j++) {
        char *pc = literal(s, k->pcols[j]);
        dom_buf_printf(b, ", %s || ' = ' || quote_nullable(NEW.", pc ? pc : "''");
        dom_sql_ident(b, k->cols[j]);
        dom_buf_puts(b, ")");
        dom_free(pc);
    }
    dom_buf_puts(b, "),\n"
                    "                coalesce((SELECT value FROM domicile.region WHERE key = "
                    "'name'), '?'));\n"
                    "    END IF;\n");
    dom_free(parent);
}

/* For a capturing tenant's row about to be deleted: the rows of indirect
 * tables that reach it (a cascade deletes them once it is gone, when their
 * own trigger can no longer find their tenant). */
static void log_dependents(pg_store *s, dom_buf *b, const dom_install *spec,
                           const dom_move_table *t, const char *schema)
{
    for (size_t i = 0; i < spec->ntables; i++) {
        const dom_move_table *d = &spec->tables[i];
        for (size_t l = 0; l < d->nlinks; l++) {
            if (d->links[l].parent != t->info)
                continue;
            char *dt = literal(s, d->info->name);
            dom_buf_printf(b,
                           "                IF TG_OP = 'DELETE' THEN\n"
                           "                    INSERT INTO domicile.changes (tenant, tbl, pk, "
                           "key_changed)\n"
                           "                    SELECT f.tenant, %s, ",
                           dt ? dt : "''");
            dom_free(dt);
            pk_json_expr(s, b, d, "domicile_d");
            dom_buf_printf(b, ", false FROM %s", schema);
            dom_sql_ident(b, d->info->name);
            dom_buf_puts(b, " AS domicile_d WHERE ");
            dom_sql_reaches(b, d, "domicile_d", schema, l, "OLD");
            dom_buf_puts(b, ";\n                END IF;\n");
        }
    }
}

/* The check function's head: its signature (a trigger function, or with
 * `rowtype` one the dependents' triggers call with a row) and the
 * tenant keys of NEW and OLD. */
static void fn_head(dom_buf *b, const char *fname, const char *rowtype, dom_buf *knew,
                    dom_buf *kold)
{
    if (rowtype)
        dom_buf_printf(b,
                       "CREATE OR REPLACE FUNCTION %s(new %s) RETURNS %s\n"
                       "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$\n"
                       "DECLARE\n"
                       "    tg_op text := 'INSERT';\n"
                       "    tg_nargs int := 0;\n"
                       "    old %s;\n",
                       fname, rowtype, rowtype, rowtype);
    else
        dom_buf_printf(b,
                       "CREATE OR REPLACE FUNCTION %s() RETURNS trigger\n"
                       "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS "
                       "$fn$\n"
                       "DECLARE\n",
                       fname);
    dom_buf_printf(b,
                   "    k_new text;\n"
                   "    k_old text;\n"
                   "    k text;\n"
                   "    f record;\n"
                   "BEGIN\n"
                   "    IF TG_OP <> 'DELETE' THEN k_new := %s::text; END IF;\n"
                   "    IF TG_OP <> 'INSERT' THEN k_old := %s::text; END IF;\n",
                   dom_buf_cstr(knew), dom_buf_cstr(kold));
}

/* A new tenant (the tenants table): its country must be allowed here
 * (the guard), and it gets its fence row. */
static void fn_new_tenant(dom_buf *b, const char *cc)
{
    dom_buf_printf(
        b,
        "    IF TG_OP = 'INSERT' AND NOT EXISTS (SELECT 1 FROM domicile.fence\n"
        "                                        WHERE tenant = k_new) THEN\n"
        "        k := upper(btrim(NEW.%s::text));\n"
        "        IF EXISTS (SELECT 1 FROM domicile.countries WHERE country = k) THEN\n"
        "            IF NOT EXISTS (SELECT 1 FROM domicile.guard WHERE country = k) THEN\n"
        "                RAISE EXCEPTION USING ERRCODE = 'DM002',\n"
        "                    MESSAGE = format('domicile: residency policy forbids storing "
        "tenant %%s '\n"
        "                                     '(country %%s) in region %%s', k_new, k,\n"
        "                                     coalesce((SELECT value FROM domicile.region\n"
        "                                               WHERE key = 'name'), '?'));\n"
        "            END IF;\n"
        "        ELSIF NOT EXISTS (SELECT 1 FROM domicile.guard WHERE country = '?\?') THEN\n"
        "            RAISE EXCEPTION USING ERRCODE = 'DM002',\n"
        "                MESSAGE = format('domicile: tenant %%s has no valid country: %%s; '\n"
        "                                 'region %%s takes no tenant without one', k_new,\n"
        "                                 CASE WHEN NEW.%s IS NULL THEN 'no country'\n"
        "                                      WHEN k = '' THEN 'an empty country'\n"
        "                                      WHEN k = 'UK' THEN btrim(NEW.%s::text)\n"
        "                                           || ' is not an ISO 3166-1 code; the '\n"
        "                                           || 'United Kingdom is GB'\n"
        "                                      ELSE btrim(NEW.%s::text) || ' is not an '\n"
        "                                           || 'ISO 3166-1 alpha-2 code' END,\n"
        "                                 coalesce((SELECT value FROM domicile.region\n"
        "                                           WHERE key = 'name'), '?'));\n"
        "        END IF;\n"
        "        INSERT INTO domicile.fence (tenant, state) VALUES (k_new, 'home')\n"
        "            ON CONFLICT DO NOTHING;\n"
        "    END IF;\n",
        cc, cc, cc, cc);
}

/* The common write, one tenant at home: see below. */
static void fn_home(dom_buf *b)
{
    /* The common write: one tenant at home.  One query takes the share
     * lock of a fence row that reads `home` (a row that reads otherwise is
     * not locked; the reads below decide).  The lock is held to the end of
     * the transaction, so the row stays `home` until then; the
     * transaction's next write of the tenant finds the lock its own (no
     * new lock, nothing written).  Nothing of it is remembered in a
     * setting: any session can set one.  In a quiet region (the trigger's
     * argument, docs/mover.md "Quiet regions") no fence changes until a
     * switch that waits for this transaction, so a READ COMMITTED writer,
     * whose statement reads the fences as they are now, needs no lock; a
     * REPEATABLE READ or SERIALIZABLE one, whose snapshot may be older
     * than the switch to quiet, takes it (PostgreSQL refuses it, 40001,
     * when the row changed since its snapshot). */
    dom_buf_puts(b,
                 "    IF k_old IS NULL OR k_new IS NULL OR k_old = k_new THEN\n"
                 "        IF TG_NARGS > 0 AND current_setting('transaction_isolation')\n"
                 "                            = 'read committed' THEN\n"
                 "            PERFORM FROM domicile.fence WHERE tenant = coalesce(k_new, k_old)\n"
                 "                AND state = 'home';\n"
                 "        ELSE\n"
                 "            PERFORM FROM domicile.fence WHERE tenant = coalesce(k_new, k_old)\n"
                 "                AND state = 'home' FOR SHARE;\n"
                 "        END IF;\n"
                 "        IF FOUND THEN\n"
                 "            RETURN COALESCE(NEW, OLD);\n"
                 "        END IF;\n"
                 "    END IF;\n");
}

/* A row of a tenant this region does not hold (not the tenants table). */
static void fn_stray(dom_buf *b, const char *tbl)
{
    /* a row of a tenant this region does not hold (no fence row, once
     * every tenant has one) */
    dom_buf_printf(b,
                   "    IF k_new IS NOT NULL AND NOT EXISTS (SELECT 1 FROM domicile.fence\n"
                   "                                         WHERE tenant = k_new)\n"
                   "       AND (SELECT value FROM domicile.region WHERE key = 'fences')\n"
                   "           = 'complete' THEN\n"
                   "        RAISE EXCEPTION USING ERRCODE = 'DM003',\n"
                   "            MESSAGE = format('domicile: tenant %%s is not in region %%s "
                   "(a row of %%s)', k_new,\n"
                   "                coalesce((SELECT value FROM domicile.region WHERE key = "
                   "'name'), '?'), %s);\n"
                   "    END IF;\n",
                   tbl);
}

/* A tenant frozen or living elsewhere, refused on a plain read. */
static void fn_refuse(dom_buf *b)
{
    /* a tenant that is frozen or lives elsewhere is refused on a plain
     * read: refusing is always safe, and a refused writer then holds no
     * lock that the mover's next fence change would wait for */
    dom_buf_puts(b, "    FOR f IN SELECT tenant, state, home, epoch FROM domicile.fence\n"
                    "             WHERE tenant IN (k_old, k_new)\n"
                    "             AND state IN ('frozen', 'moved', 'incoming') LOOP\n"
                    "        IF f.state = 'frozen' THEN\n"
                    "            RAISE EXCEPTION USING ERRCODE = '40001',\n"
                    "                MESSAGE = format('domicile: tenant %s is moving; retry', "
                    "f.tenant);\n"
                    "        END IF;\n"
                    "        RAISE EXCEPTION USING ERRCODE = 'DM001',\n"
                    "            MESSAGE = format('domicile: tenant %s lives in region %s "
                    "(epoch %s)',\n"
                    "                             f.tenant, coalesce(f.home, '?'), "
                    "coalesce(f.epoch, 0));\n"
                    "    END LOOP;\n");
}

/* The decision under the fence row's share lock, and the change log of a
 * capturing tenant. */
static void fn_barrier(pg_store *s, dom_buf *b, const dom_install *spec, const dom_move_table *t,
                       const char *tbl, const char *schema)
{
    /* otherwise the decision is taken on the row under a share lock (the
     * barrier, docs/mover.md) */
    dom_buf_puts(b, "    FOR f IN SELECT tenant, state, home, epoch FROM domicile.fence\n"
                    "             WHERE tenant IN (k_old, k_new) ORDER BY tenant FOR SHARE LOOP\n"
                    "        IF f.state = 'frozen' THEN\n"
                    "            RAISE EXCEPTION USING ERRCODE = '40001',\n"
                    "                MESSAGE = format('domicile: tenant %s is moving; retry', "
                    "f.tenant);\n"
                    "        ELSIF f.state IN ('moved', 'incoming') THEN\n"
                    "            RAISE EXCEPTION USING ERRCODE = 'DM001',\n"
                    "                MESSAGE = format('domicile: tenant %s lives in region %s "
                    "(epoch %s)',\n"
                    "                                 f.tenant, coalesce(f.home, '?'), "
                    "coalesce(f.epoch, 0));\n"
                    "        ELSIF f.state = 'capturing' THEN\n"
                    "            IF f.tenant = k_old THEN\n"
                    "                INSERT INTO domicile.changes (tenant, tbl, pk, key_changed)\n"
                    "                VALUES (f.tenant, ");
    dom_buf_printf(b, "%s, ", tbl);
    pk_json_expr(s, b, t, "OLD");
    dom_buf_puts(b, ",\n                        TG_OP = 'UPDATE' AND k_new IS DISTINCT FROM "
                    "k_old);\n");
    log_dependents(s, b, spec, t, schema);
    dom_buf_puts(b, "            END IF;\n"
                    "            IF f.tenant = k_new AND (TG_OP = 'INSERT' OR k_new IS DISTINCT "
                    "FROM k_old\n"
                    "                                     OR ");
    pk_json_expr(s, b, t, "OLD");
    dom_buf_puts(b, " IS DISTINCT FROM ");
    pk_json_expr(s, b, t, "NEW");
    dom_buf_puts(b, ") THEN\n"
                    "                INSERT INTO domicile.changes (tenant, tbl, pk, key_changed)\n"
                    "                VALUES (f.tenant, ");
    dom_buf_printf(b, "%s, ", tbl);
    pk_json_expr(s, b, t, "NEW");
    dom_buf_puts(b, ",\n                        TG_OP = 'UPDATE' AND k_new IS DISTINCT FROM "
                    "k_old);\n"
                    "            END IF;\n"
                    "        END IF;\n"
                    "    END LOOP;\n"
                    "    RETURN COALESCE(NEW, OLD);\n"
                    "END\n"
                    "$fn$");
}

/* With `rowtype` (a quiet region's INSERT of a direct table, below): the
 * same checks as a function of the row, domicile.slow_<oid>(new), for an
 * INSERT, always under the share lock. */
static char *check_function(pg_store *s, const dom_install *spec, size_t ti, const char *schema,
                            const char *fname, const char *rowtype)
{
    const dom_move_table *t = &spec->tables[ti];
    int is_tenants = ti == 0;
    const char *country_col = spec->country_col;
    dom_buf b = DOM_BUF_INIT, knew = DOM_BUF_INIT, kold = DOM_BUF_INIT;
    char *tbl = literal(s, t->info->name);
    char *cc = is_tenants ? ident(s, country_col) : NULL;
    dom_sql_tenant_of(&knew, t, "NEW", schema);
    dom_sql_tenant_of(&kold, t, "OLD", schema);
    if (!tbl || (is_tenants && !cc) || knew.oom || kold.oom) {
        dom_free(tbl);
        dom_free(cc);
        dom_buf_free(&knew);
        dom_buf_free(&kold);
        return NULL;
    }
    fn_head(&b, fname, rowtype, &knew, &kold);
    parent_check(s, &b, t, tbl);
    if (is_tenants)
        fn_new_tenant(&b, cc);
    fn_home(&b);
    if (!is_tenants)
        fn_stray(&b, tbl);
    fn_refuse(&b);
    fn_barrier(s, &b, spec, t, tbl, schema);
    dom_free(tbl);
    dom_free(cc);
    dom_buf_free(&knew);
    dom_buf_free(&kold);
    if (b.oom) {
        dom_buf_free(&b);
        return NULL;
    }
    char *out = dom_strdup(dom_buf_cstr(&b));
    dom_buf_free(&b);
    return out;
}

/* The function of table `q` (quoted): domicile.check_<its oid>. */
static int check_fname(pg_store *s, const char *table, const char *q, char fname[64])
{
    const char *pv[1] = {q};
    PGresult *r = PQexecParams(s->conn, "SELECT $1::regclass::oid", 1, NULL, pv, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pg_fail(s, table, "cannot find the table", r);
    snprintf(fname, 64, "domicile.check_%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

/* The triggers of table t (quoted q, function fname).  domicile's own
 * writes (copies, erasure) set domicile.bypass; any session can set it, so
 * it counts only for a member of the role that installed the triggers
 * (`owner`, a literal; decided in the WHEN, before any call).
 *
 * Active (a mover works in the region): domicile_check on every write.
 * Quiet (docs/mover.md "Quiet regions"): nothing is in motion here and
 * every row here is a tenant's at home, so an UPDATE that keeps the row's
 * tenant and a DELETE have nothing to check; domicile_check takes INSERTs
 * only, and domicile_check_key the UPDATEs that change the columns that
 * name the tenant.  Both triggers exist in both modes (in active mode
 * domicile_check_key never fires): a switch replaces triggers, which only
 * writers wait for (PostgreSQL 14). */
static void trigger_defs(dom_buf *b, const dom_move_table *t, const char *q, const char *fname,
                         const char *owner, int quiet)
{
    char bypass[256];
    snprintf(bypass, sizeof(bypass),
             "(current_setting('domicile.bypass', true) IS DISTINCT FROM 'on' OR NOT "
             "pg_has_role(session_user, %s, 'MEMBER'))",
             owner);
    if (quiet && t->cls == DOM_TABLE_DIRECT)
        dom_buf_printf(b,
                       "CREATE OR REPLACE TRIGGER domicile_check BEFORE INSERT ON %s FOR EACH ROW "
                       "WHEN %s EXECUTE FUNCTION domicile.quiet_%s();\n",
                       q, bypass, fname + strlen("domicile.check_"));
    else
        dom_buf_printf(b,
                       "CREATE OR REPLACE TRIGGER domicile_check BEFORE %s ON %s FOR EACH ROW "
                       "WHEN %s EXECUTE FUNCTION %s(%s);\n",
                       quiet ? "INSERT" : "INSERT OR UPDATE OR DELETE", q, bypass, fname,
                       quiet ? "'quiet'" : "");
    dom_buf_printf(b,
                   "CREATE OR REPLACE TRIGGER domicile_check_key BEFORE UPDATE ON %s FOR EACH "
                   "ROW WHEN (",
                   q);
    if (!quiet) {
        dom_buf_puts(b, "false");
    } else {
        dom_buf_putc(b, '(');
        size_t n = t->nlinks ? t->links[0].ncols : 1;
        for (size_t j = 0; j < n; j++) {
            const char *c = t->nlinks ? t->links[0].cols[j] : t->key;
            dom_buf_puts(b, j ? " OR OLD." : "OLD.");
            dom_sql_ident(b, c);
            dom_buf_puts(b, " IS DISTINCT FROM NEW.");
            dom_sql_ident(b, c);
        }
        dom_buf_printf(b, ") AND %s", bypass);
    }
    dom_buf_printf(b, ") EXECUTE FUNCTION %s(%s);\n", fname, quiet ? "'quiet'" : "");
}

/* Installs one table's trigger function and triggers (active). */
static int install_table(pg_store *s, const dom_install *spec, size_t ti, const char *schema,
                         const char *owner)
{
    const dom_move_table *t = &spec->tables[ti];
    char *q = ident(s, t->info->name);
    if (!q)
        return DOM_ENOMEM;
    char fname[64];
    int rc = check_fname(s, t->info->name, q, fname);
    if (rc < 0) {
        dom_free(q);
        return rc;
    }
    char *fn = check_function(s, spec, ti, schema, fname, NULL);
    if (fn && t->cls == DOM_TABLE_DIRECT) {
        /* a quiet region's INSERT: domicile.quiet_<oid>, with the writer's
         * rights and no search_path of its own (every name qualified), reads
         * the fence; anything but a READ COMMITTED write of a tenant at home
         * goes to domicile.slow_<oid>(NEW), the checks above as a function
         * of the row (docs/mover.md "Quiet regions") */
        char rowtype[600], slow[64], quiet[64];
        snprintf(rowtype, sizeof(rowtype), "%s%s", schema, q);
        snprintf(slow, sizeof(slow), "domicile.slow_%s", fname + strlen("domicile.check_"));
        snprintf(quiet, sizeof(quiet), "domicile.quiet_%s", fname + strlen("domicile.check_"));
        char *sf = check_function(s, spec, ti, schema, slow, rowtype);
        char *kq = ident(s, t->key);
        char *qf = sf && kq
                       ? dom_sprintf("%s;\n"
                                     "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE "
                                     "plpgsql AS $fn$\n"
                                     "BEGIN\n"
                                     "    IF pg_catalog.current_setting('transaction_isolation')\n"
                                     "           OPERATOR(pg_catalog.=) 'read committed'\n"
                                     "       AND EXISTS (SELECT FROM domicile.fence WHERE tenant\n"
                                     "           OPERATOR(pg_catalog.=) NEW.%s::pg_catalog.text\n"
                                     "           AND state OPERATOR(pg_catalog.=) 'home') THEN\n"
                                     "        RETURN NEW;\n"
                                     "    END IF;\n"
                                     "    PERFORM %s(NEW);\n"
                                     "    RETURN NEW;\n"
                                     "END\n"
                                     "$fn$;\n%s",
                                     sf, quiet, kq, slow, fn)
                       : NULL;
        dom_free(sf);
        dom_free(kq);
        dom_free(fn);
        fn = qf;
    }
    dom_buf trg = DOM_BUF_INIT;
    if (PQserverVersion(s->conn) >= 140000) {
        trigger_defs(&trg, t, q, fname, owner, 0);
    } else {
        /* PostgreSQL 13 and older: DROP TRIGGER (a lock readers wait for
         * too) and CREATE; always active */
        dom_buf_printf(&trg,
                       "DROP TRIGGER IF EXISTS domicile_check ON %s; CREATE TRIGGER domicile_check "
                       "BEFORE INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW WHEN "
                       "(current_setting('domicile.bypass', true) IS DISTINCT FROM 'on' OR NOT "
                       "pg_has_role(session_user, %s, 'MEMBER')) EXECUTE FUNCTION %s()",
                       q, q, owner, fname);
    }
    rc = fn && !trg.oom ? pg_exec(s, t->info->name, "cannot install the check function", fn)
                        : DOM_ENOMEM;
    if (rc == 0)
        rc = pg_exec(s, t->info->name, "cannot install the trigger", dom_buf_cstr(&trg));
    dom_free(fn);
    dom_buf_free(&trg);
    dom_free(q);
    return rc;
}

/* The tables, functions and triggers, in one transaction.  A trigger's
 * lock waits for the writers of its table and, while it waits, holds the
 * writers that come after (and the locks taken before, to the end of the
 * transaction): each lock is waited for `lock_ms` at most. */
static int begin_waiting(pg_store *s, int lock_ms)
{
    char lt[64];
    snprintf(lt, sizeof(lt), "BEGIN; SET LOCAL lock_timeout = %d", lock_ms);
    return pg_exec(s, NULL, "cannot begin the installation", lt);
}

static int install_defs(pg_store *s, const void *arg, int lock_ms)
{
    const dom_install *spec = arg;
    int rc;
    if ((rc = begin_waiting(s, lock_ms)) < 0)
        return rc;
    if ((rc = pg_exec(s, NULL, "cannot create the domicile schema", PG_SCHEMA)) < 0)
        goto fail;
    const char *pv[1] = {spec->region};
    PGresult *r = PQexecParams(s->conn,
                               "INSERT INTO domicile.region VALUES ('name', $1), "
                               "('fences', 'filling') ON CONFLICT (key) "
                               "DO UPDATE SET value = excluded.value",
                               1, NULL, pv, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = pg_fail(s, NULL, "cannot record the region name", r);
        goto fail;
    }
    PQclear(r);
    if ((rc = pg_exec(s, NULL, "cannot write the residency guard", "DELETE FROM domicile.guard")) <
        0)
        goto fail;
    /* the ISO codes, to tell a country the policy forbids here from a
     * value that is no country */
    {
        dom_buf codes = DOM_BUF_INIT;
        dom_buf_putc(&codes, '{');
        for (size_t i = 0; i < spec->ncodes; i++)
            dom_buf_printf(&codes, "%s%.2s", i ? "," : "", spec->codes[i]);
        dom_buf_putc(&codes, '}');
        const char *cv[1] = {dom_buf_cstr(&codes)};
        r = codes.oom ? NULL
                      : PQexecParams(s->conn,
                                     "INSERT INTO domicile.countries SELECT unnest($1::text[]) "
                                     "ON CONFLICT DO NOTHING",
                                     1, NULL, cv, NULL, NULL, 0);
        dom_buf_free(&codes);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = r ? pg_fail(s, NULL, "cannot write the country codes", r) : DOM_ENOMEM;
            goto fail;
        }
        PQclear(r);
    }
    for (size_t i = 0; i < spec->ncountries; i++) {
        const char *cv[1] = {spec->countries[i]};
        r = PQexecParams(s->conn, "INSERT INTO domicile.guard VALUES ($1) ON CONFLICT DO NOTHING",
                         1, NULL, cv, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = pg_fail(s, NULL, "cannot write the residency guard", r);
            goto fail;
        }
        PQclear(r);
    }
    /* the functions run with search_path = pg_catalog: the tables their
     * links read are named with their schema */
    r = PQexec(s->conn, "SELECT quote_ident(current_schema()) || '.', quote_literal(current_user)");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        rc = pg_fail(s, NULL, "cannot read the current schema", r);
        goto fail;
    }
    char *schema = dom_strdup(PQgetvalue(r, 0, 0)), *owner = dom_strdup(PQgetvalue(r, 0, 1));
    PQclear(r);
    if (!schema || !owner) {
        dom_free(schema);
        dom_free(owner);
        rc = DOM_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < spec->ntables && rc == 0; i++)
        rc = install_table(s, spec, i, schema, owner);
    dom_free(schema);
    dom_free(owner);
    if (rc == 0)
        rc = pg_exec(s, NULL, "cannot record the triggers' mode",
                     "INSERT INTO domicile.region VALUES ('owner', current_user), "
                     "('mode', 'active') ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    if (rc < 0)
        goto fail;
    return pg_exec(s, NULL, "cannot commit the installation", "COMMIT");
fail:
    PQclear(PQexec(s->conn, "ROLLBACK"));
    return rc;
}

/* Attempts of a change that lost a deadlock to a writer. */
#define DEADLOCK_TRIES 20

/* Connects with the DSN as given (a URI or key=value pairs); a session
 * the DSN and PGAPPNAME leave unnamed is named "domicile", so that the
 * health watch tells domicile's sessions from the application's.
 *
 * Then it turns the statement timeout off, on its own first: a database
 * or role may default to a timeout of a millisecond, which applies to
 * that very SET, and a busy machine can take longer than that to run
 * even a SET, so it is tried again while it is what times out (57014).
 * (The startup parameter "options" would avoid the race, but poolers in
 * front of managed servers refuse it.)  The callers' own SETs follow. */
PGconn *dom_pg__connect(const char *conninfo)
{
    const char *keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {conninfo, "domicile", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    for (int tries = 0; c && PQstatus(c) == CONNECTION_OK && tries < 100; tries++) {
        PGresult *r = PQexec(c, "SET statement_timeout = 0");
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        int again = PQresultStatus(r) != PGRES_COMMAND_OK && state && strcmp(state, "57014") == 0;
        PQclear(r);
        if (!again)
            break;
    }
    return c;
}

/* Runs `step`, a transaction that takes locks applications hold (fence
 * rows, tenant tables), with each lock waited for at most `lock_ms`: 1 s
 * at first, far above what a writer's transaction holds one under load.
 * When a wait runs out, the transaction is rolled back, the writers queued
 * behind it go on, and a second later it tries again with twice the wait
 * (so a writer's transaction of any length shorter than about half the
 * fence_wait is waited for in the end), until the store's fence_wait has
 * passed: a transaction left open, idle, holds it no longer than that.  A
 * deadlock with a writer is retried at once. */
int dom_pg__lock_retries(pg_store *s, const char *what, const char *held,
                         int (*step)(pg_store *, const void *, int), const void *arg)
{
    double t0 = dom_mono();
    long wait_sec = s->base.fence_wait_sec > 0 ? s->base.fence_wait_sec : 60;
    int lock_ms = 1000, deadlocks = 0;
    for (;;) {
        s->sqlstate[0] = '\0';
        int rc = step(s, arg, lock_ms);
        if (rc == 0)
            return 0;
        if (strcmp(s->sqlstate, "40P01") == 0 || strcmp(s->sqlstate, "40001") == 0) {
            if (++deadlocks >= DEADLOCK_TRIES)
                return rc;
            continue;
        }
        if (strcmp(s->sqlstate, "55P03") != 0)
            return rc;
        double waited = dom_mono() - t0;
        if (waited >= (double)wait_sec)
            return dom_error_set(DOM_EREGION,
                                 "region \"%s\": cannot %s: a transaction has held %s for %.0f s "
                                 "(options.fence_wait); an application transaction left open?",
                                 s->base.region, what, held, waited);
        dom_log(DOM_LOG_WARN,
                "region \"%s\": a transaction holds %s for more than %d ms; domicile lets the "
                "writers behind it through and tries to %s again",
                s->base.region, held, lock_ms, what);
        struct timespec gap = {1, 0};
        nanosleep(&gap, NULL);
        /* twice the wait, within what is left (and what an int holds) */
        double next = lock_ms * 2.0, left_ms = ((double)wait_sec - (dom_mono() - t0)) * 1000;
        if (next > left_ms)
            next = left_ms;
        lock_ms = next < 100 ? 100 : next > 1e9 ? 1000000000 : (int)next;
    }
}

/* Installs, then gives every tenant of the tenants table its fence row
 * (writers lock it: the barrier) in a transaction of its own, which no
 * application write waits for, however many tenants there are.  Until it
 * commits the region says fences = filling, and the mover refuses to move
 * from it (a tenant without a fence row takes no lock). */
static int pg_install(dom_store *base, const dom_install *spec)
{
    pg_store *s = (pg_store *)base;
    int rc = dom_pg__lock_retries(s, "install the triggers", "a tenant table", install_defs, spec);
    if (rc < 0 || spec->ntables == 0)
        return rc;
    const dom_move_table *t = &spec->tables[0];
    char *q = ident(s, t->info->name), *k = ident(s, t->key);
    char *sql = q && k ? dom_sprintf("BEGIN; INSERT INTO domicile.fence (tenant, state) "
                                     "SELECT DISTINCT %s::text, 'home' FROM %s WHERE %s IS NOT "
                                     "NULL ON CONFLICT DO NOTHING; UPDATE domicile.region SET "
                                     "value = 'complete' WHERE key = 'fences'; COMMIT",
                                     k, q, k)
                       : NULL;
    rc = sql ? pg_exec(s, t->info->name, "cannot write the fences", sql) : DOM_ENOMEM;
    if (rc < 0)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    dom_free(q);
    dom_free(k);
    dom_free(sql);
    return rc;
}

typedef struct remove_arg {
    const dom_move_table *tables;
    size_t n;
} remove_arg;

static int remove_step(pg_store *s, const void *arg, int lock_ms)
{
    const remove_arg *a = arg;
    int rc = begin_waiting(s, lock_ms);
    for (size_t i = 0; rc == 0 && i < a->n; i++) {
        char *q = ident(s, a->tables[i].info->name);
        char *sql = q ? dom_sprintf("DROP TRIGGER IF EXISTS domicile_check ON %s; DROP TRIGGER "
                                    "IF EXISTS domicile_check_key ON %s",
                                    q, q)
                      : NULL;
        rc = sql ? pg_exec(s, a->tables[i].info->name, "cannot remove the trigger", sql)
                 : DOM_ENOMEM;
        dom_free(q);
        dom_free(sql);
    }
    if (rc == 0)
        rc = pg_exec(s, NULL, "cannot remove the domicile schema",
                     "DROP SCHEMA IF EXISTS domicile CASCADE; COMMIT");
    if (rc < 0)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    return rc;
}

/* ---- quiet regions (docs/mover.md "Quiet regions") ----------------------------
 * Every session of a mover in the region holds an advisory lock shared
 * (session level, released when it closes, also when the process dies);
 * a switch to quiet takes it exclusive for its transaction, without
 * waiting: while any mover works here, the region stays active. */
#define MOVERS_LOCK "('domicile.fence'::regclass::oid::bigint % 2147483647)::int, 1"

static int pg_meta_get(dom_store *base, const char *key, char *value, size_t n);

typedef struct mode_arg {
    const dom_move_table *t;
    size_t n;
    int quiet;
    int *done; /* the switch was made */
} mode_arg;

/* One switch, in four round trips whatever the number of tables: the
 * mode row locked and read, the movers' lock and the fences, the tables'
 * oids, then every trigger, the mode and the COMMIT in one string.  The
 * mode row's lock makes two switches of one region take turns: the
 * second reads the mode the first committed and, when it is already the
 * one asked for, does nothing (two workers of a run opening a quiet region
 * at once: the second would otherwise replace the triggers again while the
 * first already deletes, and the two transactions could deadlock). */
static int mode_step(pg_store *s, const void *arg, int lock_ms)
{
    const mode_arg *a = arg;
    *a->done = 0;
    char sql[160];
    snprintf(sql, sizeof(sql),
             "BEGIN; SET LOCAL lock_timeout = %d; SELECT value FROM domicile.region WHERE key = "
             "'mode' FOR UPDATE",
             lock_ms);
    PGresult *r = PQexec(s->conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = pg_fail(s, NULL, "cannot read the region's mode", r);
        PQclear(PQexec(s->conn, "ROLLBACK"));
        return rc;
    }
    int was_quiet = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "quiet") == 0;
    PQclear(r);
    if (was_quiet == a->quiet) {
        PQclear(PQexec(s->conn, "ROLLBACK"));
        *a->done = 1;
        return 0;
    }
    int rc = 0;
    r = PQexec(s->conn, "SELECT pg_try_advisory_xact_lock(" MOVERS_LOCK "), EXISTS (SELECT 1 FROM "
                        "domicile.fence WHERE state IN ('frozen', 'capturing', 'incoming')), "
                        "coalesce((SELECT quote_literal(value) FROM domicile.region WHERE key = "
                        "'owner'), quote_literal(current_user))");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        rc = pg_fail(s, NULL, "cannot read the region's state", r);
        goto fail;
    }
    int free_ = strcmp(PQgetvalue(r, 0, 0), "t") == 0,
        moving = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    char owner[256];
    snprintf(owner, sizeof(owner), "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    if (a->quiet && (!free_ || moving)) {
        /* a mover works here, or a batch is in motion: stays active */
        PQclear(PQexec(s->conn, "ROLLBACK"));
        return 0;
    }
    /* the tables' oids (the trigger functions' names), in one query */
    const char **pv = dom_calloc(a->n ? a->n : 1, sizeof(char *));
    char **qs = dom_calloc(a->n ? a->n : 1, sizeof(char *));
    dom_buf b = DOM_BUF_INIT;
    size_t nq = 0;
    dom_buf_puts(&b, "SELECT 0");
    for (size_t i = 0; pv && qs && i < a->n; i++) {
        if (a->t[i].cls == DOM_TABLE_GLOBAL)
            continue;
        if (!(qs[i] = ident(s, a->t[i].info->name))) {
            rc = DOM_ENOMEM;
            break;
        }
        pv[nq++] = qs[i];
        dom_buf_printf(&b, ", $%zu::regclass::oid", nq);
    }
    if (!pv || !qs || b.oom)
        rc = DOM_ENOMEM;
    r = rc == 0 ? PQexecParams(s->conn, dom_buf_cstr(&b), (int)nq, NULL, pv, NULL, NULL, 0) : NULL;
    if (rc == 0 && (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1))
        rc = pg_fail(s, NULL, "cannot find the tenant tables", r);
    else if (rc == 0) {
        dom_buf_clear(&b);
        size_t k = 0;
        for (size_t i = 0; i < a->n; i++) {
            if (!qs[i])
                continue;
            char fname[64];
            snprintf(fname, sizeof(fname), "domicile.check_%s", PQgetvalue(r, 0, (int)++k));
            trigger_defs(&b, &a->t[i], qs[i], fname, owner, a->quiet);
        }
        PQclear(r);
        /* the mode, a literal of the two known words */
        dom_buf_printf(&b,
                       "INSERT INTO domicile.region VALUES ('mode', '%s') ON CONFLICT (key) DO "
                       "UPDATE SET value = excluded.value; COMMIT",
                       a->quiet ? "quiet" : "active");
        rc = b.oom ? DOM_ENOMEM : pg_exec(s, NULL, "cannot replace the triggers", dom_buf_cstr(&b));
    }
    for (size_t i = 0; qs && i < a->n; i++)
        dom_free(qs[i]);
    dom_free(qs);
    dom_free(pv);
    dom_buf_free(&b);
    if (rc == 0) {
        *a->done = 1;
        return 0;
    }
fail:
    PQclear(PQexec(s->conn, "ROLLBACK"));
    return rc;
}

static int pg_set_mode(dom_store *base, const dom_move_table *t, size_t n, int quiet, int *is_quiet)
{
    pg_store *s = (pg_store *)base;
    int done = 0, rc;
    *is_quiet = 0;
    if (PQserverVersion(s->conn) < 140000)
        return 0; /* always active: DROP TRIGGER would hold readers too */
    if (!quiet) {
        if (!s->movers_lock) {
            if ((rc = pg_exec(s, NULL, "cannot take the movers' lock",
                              "SELECT pg_advisory_lock_shared(" MOVERS_LOCK ")")) < 0)
                return rc;
            s->movers_lock = 1;
        }
        char mode[32];
        if ((rc = pg_meta_get(base, "mode", mode, sizeof(mode))) < 0)
            return rc;
        if (strcmp(mode, "quiet") != 0)
            return 0;
    }
    mode_arg a = {t, n, quiet, &done};
    rc = dom_pg__lock_retries(s, quiet ? "make the region quiet" : "make the region active",
                              "a tenant table", mode_step, &a);
    if (rc == 0 && quiet)
        *is_quiet = done;
    return rc;
}

/* The least of three round trips of an empty query (nothing to parse or
 * run: the network and the server's wake-up). */
static int pg_ping(dom_store *base, double *ms)
{
    pg_store *s = (pg_store *)base;
    double best = -1;
    for (int i = 0; i < 3; i++) {
        double t0 = dom_mono();
        PGresult *r = PQexec(s->conn, "");
        if (PQresultStatus(r) != PGRES_EMPTY_QUERY)
            return pg_fail(s, NULL, "cannot reach the server", r);
        PQclear(r);
        double t = (dom_mono() - t0) * 1000;
        if (best < 0 || t < best)
            best = t;
    }
    *ms = best;
    return 0;
}

/* The health the mover's throttle reads (options.health): the round trip
 * of one query of the server's activity, the sessions other than
 * domicile's running a statement (all of them with the privileges of
 * pg_read_all_stats, else the role's own), the largest replay lag of the
 * server's replicas (-1: none). */
static int pg_health(dom_store *base, dom_health *out)
{
    pg_store *s = (pg_store *)base;
    double t0 = dom_mono();
    PGresult *r =
        PQexec(s->conn, "SELECT (SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                        "backend_type = 'client backend' AND pid <> pg_backend_pid() AND "
                        "application_name IS DISTINCT FROM 'domicile'), (SELECT "
                        "extract(epoch FROM max(replay_lag))::float8 FROM pg_stat_replication)");
    out->probe_ms = (dom_mono() - t0) * 1000;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        return pg_fail(s, NULL, "cannot read the server's activity", r);
    out->active_sessions = atol(PQgetvalue(r, 0, 0));
    out->replica_lag_sec = PQgetisnull(r, 0, 1) ? -1 : atof(PQgetvalue(r, 0, 1));
    PQclear(r);
    return 0;
}

static int pg_uninstall(dom_store *base, const dom_move_table *tables, size_t ntables)
{
    remove_arg a = {tables, ntables};
    return dom_pg__lock_retries((pg_store *)base, "remove the triggers", "a tenant table",
                                remove_step, &a);
}

static int pg_installed(dom_store *base, int *out)
{
    pg_store *s = (pg_store *)base;
    PGresult *r = PQexec(s->conn, "SELECT to_regclass('domicile.fence') IS NOT NULL");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pg_fail(s, NULL, "cannot read the catalog", r);
    *out = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return 0;
}

static int pg_meta_set(dom_store *base, const char *key, const char *value)
{
    pg_store *s = (pg_store *)base;
    const char *pv[2] = {key, value};
    PGresult *r = PQexecParams(s->conn,
                               "INSERT INTO domicile.region VALUES ($1, $2) ON CONFLICT (key) "
                               "DO UPDATE SET value = excluded.value",
                               2, NULL, pv, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return pg_fail(s, NULL, "cannot write domicile.region", r);
    PQclear(r);
    return 0;
}

/* The server by the time its postmaster started (to the microsecond), and
 * the database by its oid: what any role may read, the same however the
 * DSN reaches them (host name, address, socket, port forward). */
static int pg_identity(dom_store *base, char *out, size_t n)
{
    pg_store *s = (pg_store *)base;
    PGresult *r = PQexec(s->conn, "SELECT extract(epoch FROM pg_postmaster_start_time())::numeric, "
                                  "d.oid FROM pg_database d WHERE d.datname = current_database()");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        return pg_fail(s, NULL, "cannot read the server's identity", r);
    snprintf(out, n, "postgresql:%s:%s", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
    PQclear(r);
    return 0;
}

static int pg_meta_get(dom_store *base, const char *key, char *value, size_t n)
{
    pg_store *s = (pg_store *)base;
    int inst = 0;
    value[0] = '\0';
    if (pg_installed(base, &inst) < 0 || !inst)
        return 0;
    const char *pv[1] = {key};
    PGresult *r = PQexecParams(s->conn, "SELECT value FROM domicile.region WHERE key = $1", 1, NULL,
                               pv, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        snprintf(value, n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

static int pg_schema_sig(dom_store *base, const dom_move_table *tables, size_t n, char out[65])
{
    /* one round trip, for the tenant tables only: it runs inside the
     * write pause */
    pg_store *s = (pg_store *)base;
    char *arr = dom_pg__table_names(tables, n);
    if (!arr)
        return DOM_ENOMEM;
    PGresult *r = columns(s, arr);
    dom_free(arr);
    return r ? dom_pg__columns_sig(r, tables, n, out) : DOM_EREGION;
}

static void pg_close(dom_store *base)
{
    pg_store *s = (pg_store *)base;
    PQfinish(s->conn);
    dom_pg__stage_free(s);
    dom_free(s->acked);
    for (size_t i = 0; i < s->nkeyidx; i++)
        dom_free(s->keyidx[i].table);
    dom_free(s->keyidx);
    dom_free(s->keys_array);
    dom_free(s->epochs_array);
    dom_free(s->base.region);
    dom_free(s);
}

/* The table as the server describes it: its columns (types, NOT NULL,
 * defaults, identity; a default drawn from a sequence is left out, the
 * sequence being the source's), its primary key, unique and check
 * constraints and its indexes; its foreign keys as statements of their
 * own, added once every table exists. */
static int pg_table_ddl(dom_store *base, const char *table, dom_buf *create, dom_buf *fks)
{
    pg_store *s = (pg_store *)base;
    char *q = ident(s, table);
    if (!q)
        return DOM_ENOMEM;
    const char *pv[1] = {q};
    PGresult *r = PQexecParams(
        s->conn,
        "SELECT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid), a.attidentity FROM pg_attribute a LEFT JOIN pg_attrdef "
        "d ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attrelid = $1::regclass AND "
        "a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        1, NULL, pv, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        dom_free(q);
        return pg_fail(s, table, "cannot read the table's columns", r);
    }
    dom_buf_printf(create, "CREATE TABLE %s (", q);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *def = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3);
        const char *idn = PQgetvalue(r, i, 4);
        dom_buf_printf(create, "%s%s %s%s", i ? ", " : "", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                       PQgetvalue(r, i, 2)[0] == 't' ? " NOT NULL" : "");
        if (idn[0] == 'a' || idn[0] == 'd')
            dom_buf_printf(create, " GENERATED %s AS IDENTITY",
                           idn[0] == 'a' ? "ALWAYS" : "BY DEFAULT");
        else if (def && !strstr(def, "nextval("))
            dom_buf_printf(create, " DEFAULT %s", def);
    }
    dom_buf_puts(create, ");\n");
    PQclear(r);
    r = PQexecParams(s->conn,
                     "SELECT quote_ident(conname), pg_get_constraintdef(oid), contype FROM "
                     "pg_constraint WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'c', "
                     "'f') ORDER BY contype = 'f', contype <> 'p', conname",
                     1, NULL, pv, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        dom_free(q);
        return pg_fail(s, table, "cannot read the table's constraints", r);
    }
    for (int i = 0; i < PQntuples(r); i++)
        dom_buf_printf(PQgetvalue(r, i, 2)[0] == 'f' ? fks : create,
                       "ALTER TABLE %s ADD CONSTRAINT %s %s;\n", q, PQgetvalue(r, i, 0),
                       PQgetvalue(r, i, 1));
    PQclear(r);
    /* indexes that no constraint made, on this table however its schema
     * is named here */
    r = PQexecParams(s->conn,
                     "SELECT regexp_replace(pg_get_indexdef(x.indexrelid), ' ON .* USING ', ' ON ' "
                     "|| $1 || ' USING ') FROM pg_index x WHERE x.indrelid = $1::regclass AND NOT "
                     "EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
                     "ORDER BY x.indexrelid",
                     1, NULL, pv, NULL, NULL, 0);
    dom_free(q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pg_fail(s, table, "cannot read the table's indexes", r);
    for (int i = 0; i < PQntuples(r); i++)
        dom_buf_printf(create, "%s;\n", PQgetvalue(r, i, 0));
    PQclear(r);
    return create->oom || fks->oom ? DOM_ENOMEM : 0;
}

static int pg_indexes(dom_store *base, const char *table, dom_index **out, size_t *n)
{
    pg_store *s = (pg_store *)base;
    *out = NULL;
    *n = 0;
    char *q = ident(s, table);
    if (!q)
        return DOM_ENOMEM;
    const char *pv[1] = {q};
    PGresult *r = PQexecParams(
        s->conn,
        "SELECT i.relname, x.indisunique, a.attname FROM pg_index x JOIN pg_class i ON i.oid = "
        "x.indexrelid CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum WHERE "
        "x.indrelid = $1::regclass AND NOT x.indisprimary AND x.indexprs IS NULL AND x.indpred "
        "IS NULL ORDER BY x.indexrelid, k.ord",
        1, NULL, pv, NULL, NULL, 0);
    dom_free(q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pg_fail(s, table, "cannot read the table's indexes", r);
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++)
        rc = dom_index_add(out, n, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)[0] == 't',
                           PQgetvalue(r, i, 2));
    PQclear(r);
    return rc;
}

static int pg_exec_ddl(dom_store *base, const char *sql)
{
    pg_store *s = (pg_store *)base;
    char *all = dom_sprintf("BEGIN;\n%sCOMMIT", sql);
    if (!all)
        return DOM_ENOMEM;
    int rc = pg_exec(s, NULL, "cannot create tables", all);
    dom_free(all);
    if (rc < 0)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    return rc;
}

static const char *pg_type_of_class(dom_col_class cls)
{
    return cls == DOM_COL_INTEGER ? "bigint"
           : cls == DOM_COL_REAL  ? "double precision"
           : cls == DOM_COL_TEXT  ? "text"
           : cls == DOM_COL_BLOB  ? "bytea"
                                  : "numeric";
}

const dom_store_ops dom_pg__ops = {
    .engine = "postgresql",
    .tables = dom_pg__tables,
    .scan_tenants = pg_scan_tenants,
    .count_by_tenant = pg_count_by_tenant,
    .install = pg_install,
    .uninstall = pg_uninstall,
    .set_keys = dom_pg__set_keys,
    .fence = dom_pg__fence,
    .fence_sig = dom_pg__fence_sig,
    .unfence = dom_pg__unfence,
    .snapshot_begin = dom_pg__snapshot_begin,
    .snapshot_end = dom_pg__snapshot_end,
    .cursor_open = dom_pg__cursor_open,
    .cursor_pk = dom_pg__cursor_pk,
    .cursor_pks = dom_pg__cursor_pks,
    .cursor_next = dom_pg__cursor_next,
    .cursor_close = dom_pg__cursor_close,
    .write_begin = dom_pg__write_begin,
    .write_commit = dom_pg__write_commit,
    .write_rollback = dom_pg__write_rollback,
    .upsert = dom_pg__upsert,
    .delete_pk = dom_pg__delete_pk,
    .delete_keys = dom_pg__delete_keys,
    .count_keys = dom_pg__count_keys,
    .delete_keys_all = dom_pg__delete_keys_all,
    .count_keys_all = dom_pg__count_keys_all,
    .read_ahead = dom_pg__read_ahead,
    .changes = dom_pg__changes,
    .schema_sig = pg_schema_sig,
    .meta_set = pg_meta_set,
    .meta_get = pg_meta_get,
    .set_mode = pg_set_mode,
    .health = pg_health,
    .ping = pg_ping,
    .identity = pg_identity,
    .table_ddl = pg_table_ddl,
    .indexes = pg_indexes,
    .exec_ddl = pg_exec_ddl,
    .type_of_class = pg_type_of_class,
    .copy_from = dom_pg__copy_from,
    .close = pg_close,
};

int dom_store_pg_parse_dsn(dom_dsn *out, const char *text, const char *rest, const char *dir)
{
    (void)dir;
    /* libpq takes a URI whole, and KEY=VALUE pairs after "postgresql:" */
    const char *conninfo =
        strncmp(text, "postgresql://", 13) == 0 || strncmp(text, "postgres://", 11) == 0 ? text
                                                                                         : rest;
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
    if (!opts) {
        char *nl;
        if (errmsg && (nl = strchr(errmsg, '\n')))
            *nl = '\0';
        dom_error_set(DOM_ECONFIG, "invalid PostgreSQL connection string: %s",
                      errmsg ? errmsg : "out of memory");
        PQfreemem(errmsg);
        return DOM_ECONFIG;
    }
    PQconninfoFree(opts);
    out->kind = DOM_DSN_PG;
    out->text = dom_strdup(text);
    out->conninfo = dom_strdup(conninfo);
    return out->text && out->conninfo ? 0 : DOM_ENOMEM;
}

int dom_store_pg_open(dom_store **out, const dom_region *region, int flags)
{
    (void)flags;
    *out = NULL;
    pg_store *s = dom_calloc(1, sizeof(*s));
    if (!s || !(s->base.region = dom_strdup(region->name))) {
        dom_free(s);
        return DOM_ENOMEM;
    }
    s->base.ops = &dom_pg__ops;
    s->conn = dom_pg__connect(region->dsn.conninfo);
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", s->conn ? PQerrorMessage(s->conn) : "out of memory");
        for (char *p = msg; *p; p++)
            if (*p == '\n')
                *p = ' ';
        int rc = dom_error_set(DOM_EREGION, "region \"%s\": cannot connect: %s", region->name, msg);
        pg_close(&s->base);
        return rc;
    }
    /* values read in one form whatever the server's defaults: ISO dates,
     * UTC, floats that read back exactly, bytea in hex; no JIT compiling
     * for statements that each touch a batch's few rows (their estimated
     * cost can pass jit_above_cost and compiling then takes longer than
     * running); and whatever the server, database or role set by
     * default, no timeout (a batch's copy may take long, and a transaction
     * waits while the mover works on another region) and READ COMMITTED
     * transactions that may write (the fences' barrier counts on it) */
    int rc = pg_exec(s, NULL, "cannot set up the session",
                     /* first: a database's default timeout (1 ms, say) applies
                      * to each statement of the string until this one */
                     "SET statement_timeout = 0; "
                     "SET client_min_messages = warning; SET DateStyle = 'ISO, YMD'; "
                     "SET TimeZone = 'UTC'; SET extra_float_digits = 3; SET bytea_output = 'hex'; "
                     "SET jit = off; "
                     "SET idle_in_transaction_session_timeout = 0; "
                     "SET default_transaction_isolation = 'read committed'; "
                     "SET default_transaction_read_only = off");
    if (rc < 0) {
        pg_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}
