/*
 * store_sqlite_move.c - the mover's operations on an SQLite region: the
 * fence and change-log tables, the triggers that answer writers, batched
 * reads and writes of a set of tenants.
 *
 * The mover's own writes pass the triggers because its connections run
 * none (SQLITE_DBCONFIG_ENABLE_TRIGGER off, store_sqlite.c): the triggers
 * answer applications only, and check nothing else first.  SQLite has one
 * writer at a time; the mover writes inside BEGIN IMMEDIATE.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "store/store_sqlite.h"
#include "util/util.h"

#define fail    dom_sqlite__fail
#define prepare dom_sqlite__prepare
#define cached  dom_sqlite__cached

static const char REGION_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS domicile_fence (\n"
    "    tenant TEXT PRIMARY KEY,\n"
    "    state  TEXT NOT NULL,\n"
    "    home   TEXT,\n"
    "    epoch  INTEGER,\n"
    "    batch  INTEGER\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX IF NOT EXISTS domicile_fence_batch ON domicile_fence (batch);\n"
    "CREATE TABLE IF NOT EXISTS domicile_changes (\n"
    "    seq         INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "    tenant      TEXT NOT NULL,\n"
    "    tbl         TEXT NOT NULL,\n"
    "    pk          TEXT,\n"
    "    key_changed INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS domicile_changes_tenant ON domicile_changes (tenant, seq);\n"
    "CREATE TABLE IF NOT EXISTS domicile_guard (country TEXT PRIMARY KEY) WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS domicile_countries (country TEXT PRIMARY KEY) WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS domicile_region (key TEXT PRIMARY KEY, value TEXT) WITHOUT "
    "ROWID;\n";

static const char *const trigger_suffixes[] = {"bi", "bu", "bd", "ai", "au", "ad"};

typedef struct sq_cursor {
    const dom_store_ops *ops; /* first, see store.c */
    sqlite_store *s;
    sqlite3_stmt *st;
    int owned; /* finalize on close (else reset: cached) */
    dom_value *vals;
    int ncols;
} sq_cursor;

int dom_sqlite__cached(sqlite_store *s, sqlite3_stmt **st, const char *table, const char *sql)
{
    if (!sql)
        return dom_error_set(DOM_ENOMEM, "out of memory");
    for (int i = 0; i < s->ncache; i++)
        if (strcmp(s->cache[i].sql, sql) == 0) {
            sqlite3_reset(s->cache[i].st);
            sqlite3_clear_bindings(s->cache[i].st);
            *st = s->cache[i].st;
            return 0;
        }
    int rc = prepare(s, st, table, sql);
    if (rc < 0)
        return rc;
    if (s->ncache == SQ_CACHE) {
        /* full: drop the oldest */
        sqlite3_finalize(s->cache[0].st);
        dom_free(s->cache[0].sql);
        memmove(&s->cache[0], &s->cache[1], (SQ_CACHE - 1) * sizeof(s->cache[0]));
        s->ncache--;
    }
    char *copy = dom_strdup(sql);
    if (!copy) {
        sqlite3_finalize(*st);
        return DOM_ENOMEM;
    }
    s->cache[s->ncache].sql = copy;
    s->cache[s->ncache].st = *st;
    s->ncache++;
    return 0;
}

void dom_sqlite__stmt_cache_free(sqlite_store *s)
{
    for (int i = 0; i < s->ncache; i++) {
        sqlite3_finalize(s->cache[i].st);
        dom_free(s->cache[i].sql);
    }
    s->ncache = 0;
}

static int exec(sqlite_store *s, const char *table, const char *sql)
{
    char *err = NULL;
    if (!sql)
        return dom_error_set(DOM_ENOMEM, "out of memory");
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        int rc = dom_error_set(DOM_EREGION, "region \"%s\"%s%s%s: %s", s->base.region,
                               table ? ", table \"" : "", table ? table : "", table ? "\"" : "",
                               err ? err : sqlite3_errmsg(s->db));
        sqlite3_free(err);
        return rc;
    }
    return 0;
}

/* Runs a cached statement that returns no rows. */
static int step_done(sqlite_store *s, sqlite3_stmt *st, const char *table, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(s, table, what);
}

/* ---- triggers -------------------------------------------------------------- */

/* True when this SQLite takes an expression as RAISE's message (3.46+). */
static int raise_takes_expressions(sqlite_store *s)
{
    sqlite3_stmt *st = NULL;
    int ok =
        sqlite3_prepare_v2(s->db,
                           "CREATE TEMP TRIGGER domicile_probe BEFORE DELETE ON domicile_fence "
                           "BEGIN SELECT RAISE(ABORT, 'a' || 'b'); END",
                           -1, &st, NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    return ok;
}

/* Appends the statement that refuses the write with message `msg` (an SQL
 * text expression).  Older SQLite only takes a literal in RAISE; there the
 * write is refused by a JSON path error that carries the same text. */
static void refuse(dom_buf *b, int expr_raise, const char *msg)
{
    if (expr_raise)
        dom_buf_printf(b, "RAISE(ABORT, %s)", msg);
    else
        dom_buf_printf(b, "json_extract('{}', '$' || %s)", msg);
}

/* The JSON array of the primary key of row `r` (NEW or OLD). */
static void pk_json(dom_buf *b, const dom_move_table *t, const char *r)
{
    if (t->npk == 0) {
        dom_buf_puts(b, "NULL");
        return;
    }
    dom_buf_puts(b, "json_array(");
    for (int i = 0; i < t->npk; i++) {
        char *q = sqlite3_mprintf("%s.\"%w\"", r, t->info->cols[t->pk[i]].name);
        dom_buf_printf(b,
                       "%sCASE WHEN typeof(%s) = 'blob' THEN json_object('$b', hex(%s)) ELSE %s "
                       "END",
                       i ? ", " : "", q, q, q);
        sqlite3_free(q);
    }
    dom_buf_puts(b, ")");
}

/* Refusals for a row of tenant `kx` (SQL expression of its key text): one
 * lookup of its fence row, which exists only for a tenant not at home. */
static void fence_checks(dom_buf *b, int er, const char *kx)
{
    dom_buf_puts(b, "  SELECT CASE WHEN f.state = 'frozen' THEN ");
    refuse(b, er, "'domicile: tenant ' || f.tenant || ' is moving; retry'");
    dom_buf_puts(b, " ELSE ");
    refuse(b, er,
           "'domicile: tenant ' || f.tenant || ' lives in region ' || ifnull(f.home, '?') || "
           "' (epoch ' || ifnull(f.epoch, 0) || ')'");
    dom_buf_printf(b,
                   " END FROM domicile_fence f WHERE f.tenant = %s AND f.state IN ('frozen', "
                   "'moved', 'incoming');\n",
                   kx);
}

static void capture(dom_buf *b, const dom_move_table *t, const char *qname, const char *kx,
                    const char *row, const char *key_changed, const char *extra)
{
    dom_buf_printf(
        b, "  INSERT INTO domicile_changes (tenant, tbl, pk, key_changed) SELECT f.tenant, %s, ",
        qname);
    pk_json(b, t, row);
    dom_buf_printf(b,
                   ", %s FROM domicile_fence f WHERE f.tenant = %s AND f.state = 'capturing'%s;\n",
                   key_changed, kx, extra);
}

/* CAST(the tenant of `row` AS TEXT), for sqlite3_free */
static char *tenant_text(const dom_move_table *t, const char *row)
{
    dom_buf b = DOM_BUF_INIT;
    dom_buf_puts(&b, "CAST(");
    dom_sql_tenant_of(&b, t, row, NULL);
    dom_buf_puts(&b, " AS TEXT)");
    char *out = b.oom ? NULL : sqlite3_mprintf("%s", dom_buf_cstr(&b));
    dom_buf_free(&b);
    return out;
}

static void col_ref_new(dom_buf *b, const char *col)
{
    dom_buf_puts(b, "NEW.");
    dom_sql_ident(b, col);
}

/* Refusals of a row (NEW) this region cannot hold: an indirect row whose
 * parent is not here (its tenant cannot be known), a row of a tenant that
 * has no row in the tenants table here. */
static void tenant_checks(dom_buf *b, int er, const dom_move_table *t,
                          const dom_move_table *tenants)
{
    const char *here = "ifnull((SELECT value FROM domicile_region WHERE key = 'name'), '?')";
    dom_buf msg = DOM_BUF_INIT, cond = DOM_BUF_INIT;
    if (t->nlinks) {
        const dom_link *k = &t->links[0];
        dom_buf_printf(&msg, "'domicile: table %s: its parent row in %s (", t->info->name,
                       k->parent->name);
        for (size_t j = 0; j < k->ncols; j++) {
            char *v = sqlite3_mprintf("%s%q = ' || quote(NEW.\"%w\") || '", j ? ", " : "",
                                      k->pcols[j], k->cols[j]);
            dom_buf_puts(&msg, v ? v : "");
            if (!v)
                msg.oom = 1;
            sqlite3_free(v);
        }
        dom_buf_printf(&msg, ") is not in region ' || %s", here);
        for (size_t j = 0; j < k->ncols; j++) {
            dom_buf_puts(&cond, j ? " AND " : "");
            col_ref_new(&cond, k->cols[j]);
            dom_buf_puts(&cond, " IS NOT NULL");
        }
        dom_buf_puts(&cond, " AND NOT EXISTS (SELECT 1 FROM ");
        dom_sql_ident(&cond, k->parent->name);
        dom_buf_puts(&cond, " AS domicile_p WHERE ");
        for (size_t j = 0; j < k->ncols; j++) {
            dom_buf_puts(&cond, j ? " AND " : "");
            dom_buf_puts(&cond, "domicile_p.");
            dom_sql_ident(&cond, k->pcols[j]);
            dom_buf_puts(&cond, " = ");
            col_ref_new(&cond, k->cols[j]);
        }
        dom_buf_puts(&cond, ")");
        dom_buf_puts(b, "  SELECT ");
        refuse(b, er, dom_buf_cstr(&msg));
        dom_buf_printf(b, " WHERE %s;\n", dom_buf_cstr(&cond));
        dom_buf_clear(&msg);
        dom_buf_clear(&cond);
    }
    dom_buf raw = DOM_BUF_INIT;
    dom_sql_tenant_of(&raw, t, "NEW", NULL);
    dom_buf_printf(&msg,
                   "'domicile: tenant ' || CAST(%s AS TEXT) || ' is not in region ' || %s || "
                   "' (a row of %s)'",
                   dom_buf_cstr(&raw), here, t->info->name);
    dom_buf_printf(&cond, "%s IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ", dom_buf_cstr(&raw));
    dom_sql_ident(&cond, tenants->info->name);
    dom_buf_puts(&cond, " AS domicile_t WHERE domicile_t.");
    dom_sql_ident(&cond, tenants->key);
    dom_buf_printf(&cond, " = %s)", dom_buf_cstr(&raw));
    dom_buf_puts(b, "  SELECT ");
    refuse(b, er, dom_buf_cstr(&msg));
    dom_buf_printf(b, " WHERE %s;\n", dom_buf_cstr(&cond));
    if (msg.oom || cond.oom || raw.oom)
        b->oom = 1;
    dom_buf_free(&raw);
    dom_buf_free(&msg);
    dom_buf_free(&cond);
}

/* Before a row of t is deleted: the rows of indirect tables that reach it
 * are logged for a capturing tenant (a cascade deletes them after it is
 * gone, when their own triggers can no longer find their tenant). */
static void log_dependents(dom_buf *b, const dom_install *spec, const dom_move_table *t,
                           const char *oldk)
{
    for (size_t i = 0; i < spec->ntables; i++) {
        const dom_move_table *d = &spec->tables[i];
        for (size_t l = 0; l < d->nlinks; l++) {
            if (d->links[l].parent != t->info)
                continue;
            char *qd = sqlite3_mprintf("%Q", d->info->name);
            dom_buf_printf(b,
                           "  INSERT INTO domicile_changes (tenant, tbl, pk, key_changed) "
                           "SELECT f.tenant, %s, ",
                           qd ? qd : "NULL");
            sqlite3_free(qd);
            pk_json(b, d, "domicile_d");
            dom_buf_puts(b, ", 0 FROM domicile_fence f, ");
            dom_sql_ident(b, d->info->name);
            dom_buf_printf(b, " AS domicile_d WHERE f.tenant = %s AND f.state = 'capturing' AND ",
                           oldk);
            dom_sql_reaches(b, d, "domicile_d", NULL, l, "OLD");
            dom_buf_puts(b, ";\n");
        }
    }
}

/* The triggers of table ti.  Active: all six.  Quiet (docs/mover.md
 * "Quiet regions"): the INSERT check, and the UPDATE check only when the
 * columns that name the row's tenant change (no capture: nothing is in
 * motion).  skip_insert: the INSERT trigger is left as it is (a switch of
 * mode, which does not know the tenants table's country column). */
static int create_triggers(sqlite_store *s, const dom_install *spec, size_t ti, int er, int quiet,
                           int skip_insert)
{
    const dom_move_table *t = &spec->tables[ti], *tenants = &spec->tables[0];
    const char *country_col = spec->country_col;
    int is_tenants = ti == 0;
    const char *name = t->info->name;
    char *qt = sqlite3_mprintf("\"%w\"", name);
    char *qname = sqlite3_mprintf("%Q", name);
    char *newk = tenant_text(t, "NEW"), *oldk = tenant_text(t, "OLD");
    char *tn[6];
    for (int i = 0; i < 6; i++)
        tn[i] = sqlite3_mprintf("\"domicile_%w_%s\"", name, trigger_suffixes[i]);
    dom_buf b = DOM_BUF_INIT;
    char *changed = NULL;
    const char *when = ""; /* (the mover's connections run no trigger) */

    dom_buf_printf(&b, "CREATE TRIGGER %s BEFORE INSERT ON %s %s BEGIN\n", tn[0], qt, when);
    fence_checks(&b, er, newk);
    if (skip_insert) {
        dom_buf_clear(&b);
    } else if (is_tenants) {
        /* the country as a code (trimmed, upper case): refused when the
         * policy keeps it elsewhere, or when it is no ISO code and this is
         * not the home of tenants without one (guard row "??") */
        char *qc = sqlite3_mprintf("NEW.\"%w\"", country_col);
        char *cc = sqlite3_mprintf("upper(trim(%s))", qc);
        const char *here = "ifnull((SELECT value FROM domicile_region WHERE key = 'name'), '?')";
        char *msg = sqlite3_mprintf("'domicile: residency policy forbids storing tenant ' || %s || "
                                    "' (country ' || %s || ') in region ' || %s",
                                    newk, cc, here);
        dom_buf_puts(&b, "  SELECT ");
        refuse(&b, er, msg ? msg : "''");
        dom_buf_printf(&b,
                       " WHERE NOT EXISTS (SELECT 1 FROM domicile_fence f WHERE f.tenant = %s) "
                       "AND EXISTS (SELECT 1 FROM domicile_countries c WHERE c.country = %s) "
                       "AND NOT EXISTS (SELECT 1 FROM domicile_guard g WHERE g.country = %s);\n",
                       newk, cc, cc);
        sqlite3_free(msg);
        msg = sqlite3_mprintf(
            "'domicile: tenant ' || %s || ' has no valid country: ' || CASE WHEN %s IS NULL THEN "
            "'no country' WHEN trim(%s) = '' THEN 'an empty country' WHEN %s = 'UK' THEN "
            "trim(%s) || ' is not an ISO 3166-1 code; the United Kingdom is GB' ELSE trim(%s) || "
            "' is not an ISO 3166-1 alpha-2 code' END || '; region ' || %s || ' takes no tenant "
            "without one'",
            newk, qc, qc, cc, qc, qc, here);
        dom_buf_puts(&b, "  SELECT ");
        refuse(&b, er, msg ? msg : "''");
        dom_buf_printf(&b,
                       " WHERE NOT EXISTS (SELECT 1 FROM domicile_fence f WHERE f.tenant = %s) "
                       "AND NOT EXISTS (SELECT 1 FROM domicile_countries c WHERE c.country = %s) "
                       "AND NOT EXISTS (SELECT 1 FROM domicile_guard g WHERE g.country = '?\?');\n",
                       newk, cc);
        if (!qc || !cc || !msg)
            b.oom = 1;
        sqlite3_free(msg);
        sqlite3_free(cc);
        sqlite3_free(qc);
    } else {
        tenant_checks(&b, er, t, tenants);
    }
    if (!skip_insert)
        dom_buf_puts(&b, "END;\n");

    if (quiet) {
        /* WHEN (OLD.c IS NOT NEW.c OR ...) */
        dom_buf kw = DOM_BUF_INIT;
        /* the comparison first: the common UPDATE reads no table */
        dom_buf_puts(&kw, "WHEN (");
        size_t nk = t->nlinks ? t->links[0].ncols : 1;
        for (size_t j = 0; j < nk; j++) {
            const char *c = t->nlinks ? t->links[0].cols[j] : t->key;
            dom_buf_puts(&kw, j ? " OR OLD." : "OLD.");
            dom_sql_ident(&kw, c);
            dom_buf_puts(&kw, " IS NOT NEW.");
            dom_sql_ident(&kw, c);
        }
        dom_buf_putc(&kw, ')');
        dom_buf_printf(&b, "CREATE TRIGGER %s BEFORE UPDATE ON %s %s BEGIN\n", tn[1], qt,
                       dom_buf_cstr(&kw));
        if (kw.oom)
            b.oom = 1;
        dom_buf_free(&kw);
        fence_checks(&b, er, oldk);
        fence_checks(&b, er, newk);
        if (!is_tenants)
            tenant_checks(&b, er, t, tenants);
        dom_buf_puts(&b, "END;\n");
        goto made;
    }

    dom_buf_printf(&b, "CREATE TRIGGER %s BEFORE UPDATE ON %s %s BEGIN\n", tn[1], qt, when);
    fence_checks(&b, er, oldk);
    changed = sqlite3_mprintf("%s IS NOT %s", oldk, newk);
    fence_checks(&b, er, newk); /* the new tenant too, when the row changes tenant */
    if (!is_tenants)
        tenant_checks(&b, er, t, tenants);
    dom_buf_puts(&b, "END;\n");

    dom_buf_printf(&b, "CREATE TRIGGER %s BEFORE DELETE ON %s %s BEGIN\n", tn[2], qt, when);
    fence_checks(&b, er, oldk);
    log_dependents(&b, spec, t, oldk);
    dom_buf_puts(&b, "END;\n");

    dom_buf_printf(&b, "CREATE TRIGGER %s AFTER INSERT ON %s %s BEGIN\n", tn[3], qt, when);
    capture(&b, t, qname, newk, "NEW", "0", "");
    dom_buf_puts(&b, "END;\n");

    dom_buf_printf(&b, "CREATE TRIGGER %s AFTER UPDATE ON %s %s BEGIN\n", tn[4], qt, when);
    capture(&b, t, qname, oldk, "OLD", changed, "");
    {
        dom_buf cond = DOM_BUF_INIT;
        dom_buf_puts(&cond, " AND (");
        pk_json(&cond, t, "OLD");
        dom_buf_puts(&cond, " IS NOT ");
        pk_json(&cond, t, "NEW");
        dom_buf_printf(&cond, " OR %s)", changed);
        capture(&b, t, qname, newk, "NEW", changed, dom_buf_cstr(&cond));
        dom_buf_free(&cond);
    }
    dom_buf_puts(&b, "END;\n");

    dom_buf_printf(&b, "CREATE TRIGGER %s AFTER DELETE ON %s %s BEGIN\n", tn[5], qt, when);
    capture(&b, t, qname, oldk, "OLD", "0", "");
    dom_buf_puts(&b, "END;\n");

made:;
    int rc = b.oom ? DOM_ENOMEM : exec(s, name, b.ptr);
    dom_buf_free(&b);
    sqlite3_free(changed);
    for (int i = 0; i < 6; i++)
        sqlite3_free(tn[i]);
    sqlite3_free(qt);
    sqlite3_free(qname);
    sqlite3_free(newk);
    sqlite3_free(oldk);
    return rc;
}

static int drop_triggers(sqlite_store *s, const char *table)
{
    for (int i = 0; i < 6; i++) {
        char *sql = sqlite3_mprintf("DROP TRIGGER IF EXISTS \"domicile_%w_%s\"", table,
                                    trigger_suffixes[i]);
        int rc = exec(s, table, sql);
        sqlite3_free(sql);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- quiet regions (docs/mover.md "Quiet regions") ----------------------------
 * Every mover session of the region holds a shared flock on PATH.movers
 * until it closes (the kernel releases it when the process dies); a
 * switch to quiet takes it exclusive without waiting, so a region where
 * a mover works stays active.  The switch itself is one write
 * transaction: SQLite's writers come one at a time, so every write after
 * it runs the new triggers. */

static int movers_file(sqlite_store *s, int *fd)
{
    char *p = dom_sprintf("%s.movers", s->path);
    if (!p)
        return DOM_ENOMEM;
    *fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    int rc = *fd < 0 ? dom_error_set(DOM_EREGION, "region \"%s\": cannot open %s: %s",
                                     s->base.region, p, strerror(errno))
                     : 0;
    dom_free(p);
    return rc;
}

/* Replaces the triggers other than the INSERT one of every table. */
static int switch_mode(sqlite_store *s, const dom_move_table *t, size_t n, int quiet)
{
    dom_move_table *tabs = dom_calloc(n ? n : 1, sizeof(*tabs));
    if (!tabs)
        return DOM_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i].cls == DOM_TABLE_TENANTS)
            tabs[k++] = t[i];
    for (size_t i = 0; i < n; i++)
        if (t[i].cls == DOM_TABLE_DIRECT || t[i].cls == DOM_TABLE_INDIRECT)
            tabs[k++] = t[i];
    dom_install spec = {s->base.region, tabs, k, NULL, NULL, 0};
    int er = raise_takes_expressions(s), rc = 0;
    for (size_t i = 0; rc == 0 && k && tabs[0].cls == DOM_TABLE_TENANTS && i < k; i++) {
        for (int j = 1; rc == 0 && j < 6; j++) {
            char *sql = sqlite3_mprintf("DROP TRIGGER IF EXISTS \"domicile_%w_%s\"",
                                        tabs[i].info->name, trigger_suffixes[j]);
            rc = exec(s, tabs[i].info->name, sql);
            sqlite3_free(sql);
        }
        if (rc == 0)
            rc = create_triggers(s, &spec, i, er, quiet, 1);
    }
    if (rc == 0)
        rc = exec(s, NULL,
                  quiet ? "INSERT OR REPLACE INTO domicile_region (key, value) VALUES ('mode', "
                          "'quiet')"
                        : "INSERT OR REPLACE INTO domicile_region (key, value) VALUES ('mode', "
                          "'active')");
    dom_free(tabs);
    return rc;
}

int dom_sqlite__set_mode(dom_store *base, const dom_move_table *t, size_t n, int quiet,
                         int *is_quiet)
{
    sqlite_store *s = (sqlite_store *)base;
    int rc, fd;
    char mode[32];
    *is_quiet = 0;
    if (!quiet) {
        if (!s->movers_held) {
            if ((rc = movers_file(s, &fd)) < 0)
                return rc;
            if (flock(fd, LOCK_SH) != 0) {
                close(fd);
                return dom_error_set(DOM_EREGION, "region \"%s\": cannot lock %s.movers: %s",
                                     s->base.region, s->path, strerror(errno));
            }
            s->movers_fd = fd;
            s->movers_held = 1;
        }
        if ((rc = dom_sqlite__meta_get(base, "mode", mode, sizeof(mode))) < 0)
            return rc;
        if (strcmp(mode, "quiet") != 0)
            return 0;
        dom_sqlite__stmt_cache_free(s);
        if ((rc = exec(s, NULL, "BEGIN IMMEDIATE")) < 0)
            return rc;
        if ((rc = switch_mode(s, t, n, 0)) == 0 && (rc = exec(s, NULL, "COMMIT")) == 0)
            return 0;
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    if ((rc = movers_file(s, &fd)) < 0)
        return rc;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd); /* a mover works here: stays active */
        return 0;
    }
    dom_sqlite__stmt_cache_free(s);
    if ((rc = exec(s, NULL, "BEGIN IMMEDIATE")) < 0) {
        close(fd);
        return rc;
    }
    sqlite3_stmt *st;
    if ((rc = cached(s, &st, NULL,
                     "SELECT EXISTS (SELECT 1 FROM domicile_fence WHERE state IN ('frozen', "
                     "'capturing', 'incoming'))")) == 0) {
        int moving = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
        sqlite3_reset(st);
        if (!moving && (rc = switch_mode(s, t, n, 1)) == 0 && (rc = exec(s, NULL, "COMMIT")) == 0) {
            *is_quiet = 1;
            close(fd);
            return 0;
        }
    }
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    close(fd);
    return rc;
}

int dom_sqlite__install(dom_store *base, const dom_install *spec)
{
    sqlite_store *s = (sqlite_store *)base;
    int rc, er = raise_takes_expressions(s);
    if ((rc = exec(s, NULL, "PRAGMA journal_mode=WAL")) < 0)
        return rc;
    if ((rc = exec(s, NULL, "BEGIN IMMEDIATE")) < 0)
        return rc;
    if ((rc = exec(s, NULL, REGION_SCHEMA)) < 0)
        goto fail;
    sqlite3_stmt *st;
    if ((rc = cached(s, &st, NULL,
                     "INSERT OR REPLACE INTO domicile_region (key, value) VALUES ('name', ?1)")) <
        0)
        goto fail;
    sqlite3_bind_text(st, 1, spec->region, -1, SQLITE_STATIC);
    if ((rc = step_done(s, st, NULL, "cannot record the region name")) < 0)
        goto fail;
    if ((rc = exec(s, NULL, "DELETE FROM domicile_guard; DELETE FROM domicile_countries")) < 0)
        goto fail;
    if ((rc = cached(s, &st, NULL, "INSERT INTO domicile_countries VALUES (?1)")) < 0)
        goto fail;
    for (size_t i = 0; i < spec->ncodes; i++) {
        sqlite3_bind_text(st, 1, spec->codes[i], 2, SQLITE_STATIC);
        if ((rc = step_done(s, st, NULL, "cannot write the country codes")) < 0)
            goto fail;
    }
    if ((rc = cached(s, &st, NULL, "INSERT OR IGNORE INTO domicile_guard VALUES (?1)")) < 0)
        goto fail;
    for (size_t i = 0; i < spec->ncountries; i++) {
        sqlite3_bind_text(st, 1, spec->countries[i], -1, SQLITE_STATIC);
        if ((rc = step_done(s, st, NULL, "cannot write the residency guard")) < 0)
            goto fail;
    }
    for (size_t i = 0; i < spec->ntables; i++) {
        if ((rc = drop_triggers(s, spec->tables[i].info->name)) < 0 ||
            (rc = create_triggers(s, spec, i, er, 0, 0)) < 0)
            goto fail;
    }
    if ((rc = exec(s, NULL,
                   "INSERT OR REPLACE INTO domicile_region (key, value) VALUES ('mode', "
                   "'active')")) < 0)
        goto fail;
    if ((rc = exec(s, NULL, "COMMIT")) < 0)
        goto fail;
    return 0;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int dom_sqlite__uninstall(dom_store *base, const dom_move_table *tables, size_t ntables)
{
    sqlite_store *s = (sqlite_store *)base;
    int rc;
    dom_sqlite__stmt_cache_free(s);
    if ((rc = exec(s, NULL, "BEGIN IMMEDIATE")) < 0)
        return rc;
    for (size_t i = 0; i < ntables; i++)
        if ((rc = drop_triggers(s, tables[i].info->name)) < 0)
            goto fail;
    if ((rc = exec(s, NULL,
                   "DROP TABLE IF EXISTS domicile_fence; DROP TABLE IF EXISTS domicile_changes; "
                   "DROP TABLE IF EXISTS domicile_guard; DROP TABLE IF EXISTS domicile_bypass; "
                   "DROP TABLE IF EXISTS domicile_countries; "
                   "DROP TABLE IF EXISTS domicile_region; COMMIT")) < 0)
        goto fail;
    return 0;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ---- keys and fences --------------------------------------------------------- */

int dom_sqlite__set_keys(dom_store *base, const char *const *keys, const int64_t *epochs, size_t n)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc;
    if ((rc = exec(s, NULL,
                   "CREATE TEMP TABLE IF NOT EXISTS domicile_keys (k PRIMARY KEY, epoch INTEGER) "
                   "WITHOUT ROWID; DELETE FROM temp.domicile_keys")) < 0)
        return rc;
    if ((rc = cached(s, &st, NULL, "INSERT OR IGNORE INTO temp.domicile_keys VALUES (?1, ?2)")) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        /* integer keys as integers: they compare equal to integer and text
         * columns alike, and sort by number, so slices are neighbours */
        if (dom_key_is_int(keys[i]))
            sqlite3_bind_int64(st, 1, strtoll(keys[i], NULL, 10));
        else
            sqlite3_bind_text(st, 1, keys[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, epochs ? epochs[i] : 0);
        if ((rc = step_done(s, st, NULL, "cannot stage tenant keys")) < 0)
            return rc;
    }
    return 0;
}

int dom_sqlite__write_begin(dom_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    int rc = exec(s, NULL, "BEGIN IMMEDIATE");
    if (rc < 0)
        return rc;
    s->in_write = 1;
    return 0;
}

int dom_sqlite__write_commit(dom_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    int rc = exec(s, NULL, "COMMIT");
    if (rc < 0)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    else
        s->undurable = 1;
    s->in_write = 0;
    return rc;
}

void dom_sqlite__write_rollback(dom_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_write = 0;
}

/* Fences must survive a power loss the moment they are committed. */
static int durable_commit(dom_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_exec(s->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    int rc = dom_sqlite__write_commit(base);
    sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    if (rc == 0)
        s->undurable = 0; /* the WAL is synced up to and including this commit */
    return rc;
}

int dom_sqlite__sync(dom_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    if (!s->undurable)
        return 0;
    int rc = dom_sqlite__write_begin(base);
    if (rc < 0)
        return rc;
    if ((rc = exec(s, NULL,
                   "INSERT INTO domicile_region (key, value) VALUES ('sync', 1) ON CONFLICT (key) "
                   "DO UPDATE SET value = value + 1")) < 0) {
        dom_sqlite__write_rollback(base);
        return rc;
    }
    return durable_commit(base);
}

int dom_sqlite__fence(dom_store *base, int64_t batch, const char *state, const char *home,
                      int64_t epoch)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = dom_sqlite__write_begin(base);
    if (rc < 0)
        return rc;
    if ((rc = cached(s, &st, NULL,
                     "INSERT INTO domicile_fence (tenant, state, home, epoch, batch) "
                     "SELECT CAST(k AS TEXT), ?1, ?2, CASE WHEN ?3 < 0 THEN epoch ELSE ?3 END, ?4 "
                     "FROM temp.domicile_keys WHERE true "
                     "ON CONFLICT (tenant) DO UPDATE SET state = excluded.state, "
                     "home = excluded.home, epoch = excluded.epoch, batch = excluded.batch")) < 0)
        goto fail;
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    if (home)
        sqlite3_bind_text(st, 2, home, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, epoch);
    sqlite3_bind_int64(st, 4, batch);
    if ((rc = step_done(s, st, NULL, "cannot write fences")) < 0)
        goto fail;
    return durable_commit(base);
fail:
    dom_sqlite__write_rollback(base);
    return rc;
}

int dom_sqlite__unfence(dom_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    int rc = dom_sqlite__write_begin(base);
    if (rc < 0)
        return rc;
    if ((rc = exec(s, NULL,
                   "DELETE FROM domicile_changes WHERE tenant IN (SELECT CAST(k AS TEXT) FROM "
                   "temp.domicile_keys); DELETE FROM domicile_fence WHERE tenant IN (SELECT "
                   "CAST(k AS TEXT) FROM temp.domicile_keys)")) < 0) {
        dom_sqlite__write_rollback(base);
        return rc;
    }
    return durable_commit(base);
}

int dom_sqlite__snapshot_begin(dom_store *base, int64_t *max_seq)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = exec(s, NULL, "BEGIN");
    if (rc < 0)
        return rc;
    if ((rc = cached(s, &st, NULL, "SELECT ifnull(max(seq), 0) FROM domicile_changes")) < 0)
        goto fail;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = fail(s, NULL, "cannot read the change log");
        goto fail;
    }
    *max_seq = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int dom_sqlite__snapshot_end(dom_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    return sqlite3_get_autocommit(s->db) ? 0 : exec(s, NULL, "COMMIT");
}

/* ---- rows ---------------------------------------------------------------------- */

static void col_list(dom_buf *b, const dom_table_info *ti, const char *prefix)
{
    for (size_t i = 0; i < ti->ncols; i++) {
        char *q = sqlite3_mprintf("%s\"%w\"", prefix, ti->cols[i].name);
        dom_buf_printf(b, "%s%s", i ? ", " : "", q);
        sqlite3_free(q);
    }
}

/* ORDER BY the tenant column, then the primary key (every column when
 * there is none), never naming a column twice: a repeated column would make
 * SQLite sort each tenant's rows in memory instead of walking the index. */
static void order_list(dom_buf *b, const dom_move_table *t)
{
    /* an indirect table has no tenant column: its primary key alone */
    const char *sep = " ORDER BY ";
    if (t->key_col >= 0) {
        dom_buf_puts(b, sep);
        dom_sql_ident(b, t->key);
        sep = ", ";
    }
    int n = t->npk ? t->npk : (int)t->info->ncols;
    for (int i = 0; i < n; i++) {
        int c = t->npk ? t->pk[i] : i;
        if (c == t->key_col)
            continue;
        dom_buf_puts(b, sep);
        dom_sql_ident(b, t->info->cols[c].name);
        sep = ", ";
    }
}

/* " FROM t WHERE its rows belong to the current keys" (prefix: the
 * schema of t and its parents, or NULL) */
static void keys_from(dom_buf *b, const dom_move_table *t, const char *prefix, const char *keyset)
{
    dom_buf row = DOM_BUF_INIT;
    dom_buf_puts(&row, prefix ? prefix : "");
    dom_sql_ident(&row, t->info->name);
    dom_buf_printf(b, " FROM %s WHERE ", dom_buf_cstr(&row));
    if (t->cls == DOM_TABLE_GLOBAL)
        dom_buf_puts(b, "1"); /* every row: a global table copied whole */
    else
        dom_sql_keys_filter(b, t, dom_buf_cstr(&row), prefix, keyset);
    if (row.oom)
        b->oom = 1;
    dom_buf_free(&row);
}

#define KEYSET "SELECT k FROM temp.domicile_keys"

/* " AND its rows belong to the current keys": rows read or deleted by
 * primary key (the change log names them) are the batch's tenants' only,
 * whatever else holds that key now */
static void keys_and(dom_buf *b, const dom_move_table *t)
{
    if (t->cls == DOM_TABLE_GLOBAL)
        return;
    dom_buf row = DOM_BUF_INIT;
    dom_sql_ident(&row, t->info->name);
    dom_buf_puts(b, " AND (");
    dom_sql_keys_filter(b, t, dom_buf_cstr(&row), NULL, KEYSET);
    dom_buf_putc(b, ')');
    if (row.oom)
        b->oom = 1;
    dom_buf_free(&row);
}

static int new_cursor(sqlite_store *s, const dom_move_table *t, sqlite3_stmt *st, int owned,
                      dom_cursor **out)
{
    sq_cursor *c = dom_calloc(1, sizeof(*c));
    if (!c || !(c->vals = dom_calloc(t->info->ncols, sizeof(dom_value)))) {
        dom_free(c);
        if (owned)
            sqlite3_finalize(st);
        return DOM_ENOMEM;
    }
    c->ops = &dom_sqlite__ops;
    c->s = s;
    c->st = st;
    c->owned = owned;
    c->ncols = (int)t->info->ncols;
    *out = (dom_cursor *)c;
    return 0;
}

int dom_sqlite__cursor_open(dom_store *base, const dom_move_table *t, dom_cursor **out)
{
    sqlite_store *s = (sqlite_store *)base;
    dom_buf b = DOM_BUF_INIT;
    sqlite3_stmt *st;
    dom_buf_puts(&b, "SELECT ");
    col_list(&b, t->info, "");
    keys_from(&b, t, NULL, KEYSET);
    order_list(&b, t);
    int rc = cached(s, &st, t->info->name, b.oom ? NULL : b.ptr);
    dom_buf_free(&b);
    if (rc < 0)
        return rc;
    return new_cursor(s, t, st, 0, out);
}

static void bind_value(sqlite3_stmt *st, int i, const dom_value *v)
{
    switch (v->type) {
    case DOM_V_NULL:
        sqlite3_bind_null(st, i);
        break;
    case DOM_V_INT:
        sqlite3_bind_int64(st, i, v->i);
        break;
    case DOM_V_REAL:
        sqlite3_bind_double(st, i, v->r);
        break;
    case DOM_V_TEXT:
        sqlite3_bind_text(st, i, v->p, (int)v->n, SQLITE_TRANSIENT);
        break;
    case DOM_V_BLOB:
        sqlite3_bind_blob(st, i, v->p, (int)v->n, SQLITE_TRANSIENT);
        break;
    }
}

/* WHERE clause matching the primary key (or every column) with ?1..?n. */
static void pk_where(dom_buf *b, const dom_move_table *t)
{
    int n = t->npk ? t->npk : (int)t->info->ncols;
    dom_buf_puts(b, " WHERE ");
    for (int i = 0; i < n; i++) {
        int c = t->npk ? t->pk[i] : i;
        char *q = sqlite3_mprintf("\"%w\"", t->info->cols[c].name);
        dom_buf_printf(b, "%s%s IS ?%d", i ? " AND " : "", q, i + 1);
        sqlite3_free(q);
    }
}

int dom_sqlite__cursor_pk(dom_store *base, const dom_move_table *t, const dom_value *pk,
                          dom_cursor **out)
{
    sqlite_store *s = (sqlite_store *)base;
    dom_buf b = DOM_BUF_INIT;
    sqlite3_stmt *st;
    dom_buf_puts(&b, "SELECT ");
    col_list(&b, t->info, "");
    char *q = sqlite3_mprintf(" FROM \"%w\"", t->info->name);
    dom_buf_puts(&b, q ? q : "");
    sqlite3_free(q);
    pk_where(&b, t);
    keys_and(&b, t);
    int rc = cached(s, &st, t->info->name, b.oom || !q ? NULL : b.ptr);
    dom_buf_free(&b);
    if (rc < 0)
        return rc;
    int n = t->npk ? t->npk : (int)t->info->ncols;
    for (int i = 0; i < n; i++)
        bind_value(st, i + 1, &pk[i]);
    return new_cursor(s, t, st, 0, out);
}

int dom_sqlite__cursor_next(dom_cursor *cur, const dom_value **vals)
{
    sq_cursor *c = (sq_cursor *)cur;
    int rc = sqlite3_step(c->st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return fail(c->s, NULL, "cannot read rows");
    for (int i = 0; i < c->ncols; i++) {
        dom_value *v = &c->vals[i];
        switch (sqlite3_column_type(c->st, i)) {
        case SQLITE_INTEGER:
            v->type = DOM_V_INT;
            v->i = sqlite3_column_int64(c->st, i);
            break;
        case SQLITE_FLOAT:
            v->type = DOM_V_REAL;
            v->r = sqlite3_column_double(c->st, i);
            break;
        case SQLITE_TEXT:
            v->type = DOM_V_TEXT;
            v->p = (const char *)sqlite3_column_text(c->st, i);
            v->n = (size_t)sqlite3_column_bytes(c->st, i);
            break;
        case SQLITE_BLOB:
            v->type = DOM_V_BLOB;
            v->p = sqlite3_column_blob(c->st, i);
            v->n = (size_t)sqlite3_column_bytes(c->st, i);
            if (!v->p)
                v->p = "";
            break;
        default:
            v->type = DOM_V_NULL;
        }
    }
    *vals = c->vals;
    return 1;
}

void dom_sqlite__cursor_close(dom_cursor *cur)
{
    sq_cursor *c = (sq_cursor *)cur;
    if (!c)
        return;
    if (c->owned)
        sqlite3_finalize(c->st);
    else
        sqlite3_reset(c->st);
    dom_free(c->vals);
    dom_free(c);
}

int dom_sqlite__upsert(dom_store *base, const dom_move_table *t, const dom_value *row)
{
    sqlite_store *s = (sqlite_store *)base;
    dom_buf b = DOM_BUF_INIT;
    sqlite3_stmt *st;
    char *q = sqlite3_mprintf("INSERT INTO \"%w\" (", t->info->name);
    dom_buf_puts(&b, q ? q : "");
    sqlite3_free(q);
    col_list(&b, t->info, "");
    dom_buf_puts(&b, ") VALUES (");
    for (size_t i = 0; i < t->info->ncols; i++)
        dom_buf_printf(&b, "%s?%zu", i ? ", " : "", i + 1);
    dom_buf_puts(&b, ")");
    if (t->npk) {
        dom_buf_puts(&b, " ON CONFLICT (");
        for (int i = 0; i < t->npk; i++) {
            q = sqlite3_mprintf("\"%w\"", t->info->cols[t->pk[i]].name);
            dom_buf_printf(&b, "%s%s", i ? ", " : "", q ? q : "");
            sqlite3_free(q);
        }
        int nset = 0;
        for (size_t i = 0; i < t->info->ncols; i++) {
            if (t->info->cols[i].pk)
                continue;
            q = sqlite3_mprintf("\"%w\"", t->info->cols[i].name);
            dom_buf_printf(&b, "%s%s = excluded.%s", nset++ ? ", " : ") DO UPDATE SET ", q, q);
            sqlite3_free(q);
        }
        if (!nset)
            dom_buf_puts(&b, ") DO NOTHING");
    }
    int rc = cached(s, &st, t->info->name, b.oom ? NULL : b.ptr);
    dom_buf_free(&b);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < t->info->ncols; i++)
        bind_value(st, (int)i + 1, &row[i]);
    return step_done(s, st, t->info->name, "cannot write row");
}

int dom_sqlite__delete_pk(dom_store *base, const dom_move_table *t, const dom_value *pk)
{
    sqlite_store *s = (sqlite_store *)base;
    dom_buf b = DOM_BUF_INIT;
    sqlite3_stmt *st;
    char *q = t->npk ? sqlite3_mprintf("DELETE FROM \"%w\"", t->info->name)
                     : sqlite3_mprintf("DELETE FROM \"%w\" WHERE rowid = (SELECT rowid FROM \"%w\"",
                                       t->info->name, t->info->name);
    dom_buf_puts(&b, q ? q : "");
    sqlite3_free(q);
    pk_where(&b, t);
    keys_and(&b, t);
    if (!t->npk)
        dom_buf_puts(&b, " LIMIT 1)");
    int rc = cached(s, &st, t->info->name, b.oom ? NULL : b.ptr);
    dom_buf_free(&b);
    if (rc < 0)
        return rc;
    int n = t->npk ? t->npk : (int)t->info->ncols;
    for (int i = 0; i < n; i++)
        bind_value(st, i + 1, &pk[i]);
    return step_done(s, st, t->info->name, "cannot delete row");
}

int dom_sqlite__delete_keys(dom_store *base, const dom_move_table *t, int64_t limit,
                            int64_t *deleted)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    dom_buf b = DOM_BUF_INIT;
    if (limit > 0) {
        dom_buf_puts(&b, "DELETE FROM ");
        dom_sql_ident(&b, t->info->name);
        dom_buf_puts(&b, " WHERE rowid IN (SELECT rowid");
        keys_from(&b, t, NULL, KEYSET);
        dom_buf_puts(&b, " LIMIT ?1)");
    } else {
        dom_buf_puts(&b, "DELETE");
        keys_from(&b, t, NULL, KEYSET);
    }
    int rc = cached(s, &st, t->info->name, b.oom ? NULL : b.ptr);
    dom_buf_free(&b);
    if (rc < 0) {
        /* WITHOUT ROWID tables have no rowid: delete them whole */
        if (limit <= 0)
            return rc;
        return dom_sqlite__delete_keys(base, t, 0, deleted);
    }
    if (limit > 0)
        sqlite3_bind_int64(st, 1, limit);
    if ((rc = step_done(s, st, t->info->name, "cannot delete rows")) < 0)
        return rc;
    *deleted = sqlite3_changes64(s->db);
    return 0;
}

int dom_sqlite__count_keys(dom_store *base, const dom_move_table *t, int64_t *rows)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    dom_buf b = DOM_BUF_INIT;
    dom_buf_puts(&b, "SELECT count(*)");
    keys_from(&b, t, NULL, KEYSET);
    int rc = cached(s, &st, t->info->name, b.oom ? NULL : b.ptr);
    dom_buf_free(&b);
    if (rc < 0)
        return rc;
    rc = sqlite3_step(st);
    *rows = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : fail(s, t->info->name, "cannot count rows");
}

int dom_sqlite__changes(dom_store *base, int64_t batch, int64_t after, int64_t limit,
                        dom_change_cb cb, void *payload)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = cached(s, &st, NULL,
                    "SELECT c.seq, c.tenant, c.tbl, c.pk, c.key_changed FROM domicile_changes c "
                    "JOIN domicile_fence f ON f.tenant = c.tenant "
                    "WHERE c.seq > ?1 AND f.batch = ?2 ORDER BY c.seq LIMIT ?3");
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, batch);
    sqlite3_bind_int64(st, 3, limit);
    /* collect first: the callback may read the same database */
    typedef struct ch {
        int64_t seq;
        char *tenant, *tbl, *pk;
        int kc;
    } ch;
    ch *v = NULL;
    size_t n = 0, cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            ch *g = dom_realloc(v, cap * sizeof(ch));
            if (!g) {
                rc = DOM_ENOMEM;
                break;
            }
            v = g;
        }
        v[n].seq = sqlite3_column_int64(st, 0);
        v[n].tenant = dom_strdup((const char *)sqlite3_column_text(st, 1));
        v[n].tbl = dom_strdup((const char *)sqlite3_column_text(st, 2));
        v[n].pk = sqlite3_column_type(st, 3) == SQLITE_NULL
                      ? NULL
                      : dom_strdup((const char *)sqlite3_column_text(st, 3));
        v[n].kc = sqlite3_column_int(st, 4);
        n++;
        /* (a NULL pk is a table without primary key, not a failure) */
        if (!v[n - 1].tenant || !v[n - 1].tbl ||
            (!v[n - 1].pk && sqlite3_column_type(st, 3) != SQLITE_NULL)) {
            rc = DOM_ENOMEM;
            break;
        }
    }
    sqlite3_reset(st);
    int out = rc == SQLITE_DONE ? 0 : rc < 0 ? rc : fail(s, NULL, "cannot read the change log");
    for (size_t i = 0; i < n; i++) {
        if (out == 0)
            out = cb(v[i].seq, v[i].tenant, v[i].tbl, v[i].pk, v[i].kc, payload);
        dom_free(v[i].tenant);
        dom_free(v[i].tbl);
        dom_free(v[i].pk);
    }
    dom_free(v);
    return out < 0 ? out : (int)n;
}

int dom_sqlite__schema_sig(dom_store *base, const dom_move_table *tables, size_t n, char out[65])
{
    return dom_store__schema_sig(base, dom_sqlite__tables, tables, n, out);
}

/* Above these, copy_from leaves the batch to the caller's chunked stream. */
#define COPY_FROM_MAX_ROWS  200000
#define COPY_FROM_MAX_BYTES (64 << 20)
/* Tenants of a table in copy_from's first write of it; the writes after it
 * are sized to take COPY_WRITE_SEC each (util/sizer.h). */
#define COPY_FROM_TENANTS 64
#define COPY_WRITE_SEC    0.020

/* Rows and bytes of the current keys in the source. */
static int batch_size(sqlite_store *src, const dom_move_table *tables, size_t n, int64_t *rows,
                      int64_t *bytes)
{
    *rows = *bytes = 0;
    for (size_t i = 0; i < n; i++) {
        dom_buf sql = DOM_BUF_INIT;
        sqlite3_stmt *st;
        char *q = sqlite3_mprintf("\"%w\"", tables[i].info->name);
        dom_buf_puts(&sql, "SELECT count(*), ifnull(sum(");
        dom_sqlite__bytes_expr(&sql, tables[i].info, q);
        dom_buf_puts(&sql, "), 0)");
        keys_from(&sql, &tables[i], NULL, KEYSET);
        int rc = sql.oom || !q ? DOM_ENOMEM : prepare(src, &st, tables[i].info->name, sql.ptr);
        sqlite3_free(q);
        dom_buf_free(&sql);
        if (rc < 0)
            return rc;
        if (sqlite3_step(st) == SQLITE_ROW) {
            *rows += sqlite3_column_int64(st, 0);
            *bytes += sqlite3_column_int64(st, 1);
        } else {
            rc = fail(src, tables[i].info->name, "cannot size the batch");
        }
        sqlite3_finalize(st);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int dom_sqlite__copy_from(dom_store *dbase, dom_store *sbase, const dom_move_table *tables,
                          size_t n, int64_t *max_seq, int64_t *rows, int64_t *bytes,
                          dom_copy_watch *watch)
{
    (void)watch; /* the rows go from file to file inside SQLite */
    sqlite_store *d = (sqlite_store *)dbase, *src = (sqlite_store *)sbase;
    sqlite3_stmt *st;
    int rc;
    *rows = *bytes = 0;
    if (sbase->ops != &dom_sqlite__ops)
        return DOM_EUNSUPPORTED;
    int64_t want_rows, want_bytes, nkeys = 0;
    if ((rc = batch_size(src, tables, n, &want_rows, &want_bytes)) < 0)
        return rc;
    if (want_rows > COPY_FROM_MAX_ROWS || want_bytes > COPY_FROM_MAX_BYTES)
        return DOM_EUNSUPPORTED;
    /* The change log's position before any row is read: every change after
     * it is replayed by the catch-up, so the chunks need not share a
     * snapshot. */
    if ((rc = prepare(src, &st, NULL, "SELECT ifnull(max(seq), 0) FROM domicile_changes")) < 0)
        return rc;
    rc = sqlite3_step(st);
    *max_seq = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return fail(src, NULL, "cannot read the change log");
    if ((rc = prepare(d, &st, NULL, "SELECT count(*) FROM temp.domicile_keys")) < 0)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW)
        nkeys = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if ((rc = prepare(d, &st, NULL, "ATTACH ?1 AS domicile_src")) < 0)
        return rc;
    sqlite3_bind_text(st, 1, src->path, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail(d, NULL, "cannot attach the source region");
    sqlite3_stmt *ins[64] = {0};
    rc = 0;
    for (size_t i = 0; i < n && i < 64 && rc == 0; i++) {
        const dom_move_table *t = &tables[i];
        dom_buf cols = DOM_BUF_INIT, sql = DOM_BUF_INIT;
        char *q = sqlite3_mprintf("\"%w\"", t->info->name);
        char *src_row = sqlite3_mprintf("domicile_src.%s.", q ? q : "");
        dom_buf_printf(&sql, "INSERT INTO main.%s (", q ? q : "");
        col_list(&sql, t->info, "");
        col_list(&cols, t->info, src_row ? src_row : "");
        sqlite3_free(src_row);
        dom_buf_printf(&sql, ") SELECT %s", dom_buf_cstr(&cols));
        keys_from(&sql, t, "domicile_src.",
                  "SELECT k FROM temp.domicile_keys ORDER BY k LIMIT ?1 OFFSET ?2");
        rc = cols.oom || sql.oom || !q ? DOM_ENOMEM : prepare(d, &ins[i], t->info->name, sql.ptr);
        sqlite3_free(q);
        dom_buf_free(&cols);
        dom_buf_free(&sql);
    }
    if (n > 64)
        rc = DOM_EUNSUPPORTED;
    /* table by table, parents first, each write sized to take
     * COPY_WRITE_SEC: a write that mixes every table rewrites each page of a
     * random-order index (a text primary key) that it touches, once per
     * write; one table per write pays that only for that table's rows
     * (docs/mover.md, "Bulk writes on SQLite") */
    for (size_t i = 0; i < n && rc == 0; i++) {
        dom_sizer *z = &d->copy_sizer[i];
        if (z->max == 0)
            dom_sizer_init(z, COPY_WRITE_SEC, COPY_FROM_TENANTS, 1, 1 << 16);
        for (int64_t off = 0; rc == 0 && off < nkeys;) {
            int64_t take = z->n;
            if (dbase->before_bulk)
                dbase->before_bulk(dbase->before_bulk_payload);
            double t0 = dom_mono();
            if ((rc = dom_sqlite__write_begin(dbase)) < 0)
                break;
            sqlite3_bind_int64(ins[i], 1, take);
            sqlite3_bind_int64(ins[i], 2, off);
            int s = sqlite3_step(ins[i]);
            sqlite3_reset(ins[i]);
            if (s != SQLITE_DONE) {
                rc = fail(d, tables[i].info->name, "cannot copy rows");
                dom_sqlite__write_rollback(dbase);
                break;
            }
            *rows += sqlite3_changes64(d->db);
            if ((rc = dom_sqlite__write_commit(dbase)) < 0)
                break;
            dom_sizer_done(z, take < nkeys - off ? take : nkeys - off, dom_mono() - t0);
            off += take;
        }
    }
    for (size_t i = 0; i < n && i < 64; i++)
        sqlite3_finalize(ins[i]);
    sqlite3_exec(d->db, "DETACH domicile_src", NULL, NULL, NULL);
    *bytes = want_bytes;
    return rc;
}

int dom_sqlite__meta_set(dom_store *base, const char *key, const char *value)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = dom_sqlite__write_begin(base);
    if (rc < 0)
        return rc;
    if ((rc = cached(s, &st, NULL,
                     "INSERT OR REPLACE INTO domicile_region (key, value) VALUES (?1, ?2)")) < 0) {
        dom_sqlite__write_rollback(base);
        return rc;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    if ((rc = step_done(s, st, NULL, "cannot write domicile_region")) < 0) {
        dom_sqlite__write_rollback(base);
        return rc;
    }
    return durable_commit(base);
}

int dom_sqlite__meta_get(dom_store *base, const char *key, char *value, size_t n)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    value[0] = '\0';
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM domicile_region WHERE key = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return 0; /* not prepared */
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(value, n, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return 0;
}
