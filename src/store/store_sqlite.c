/*
 * store_sqlite.c - the store interface on an SQLite file (the embedded
 * default).  Identifiers are quoted with %w, values bound; rows are stepped
 * one at a time, never collected.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "util/util.h"

/* Tables up to this many rows get exact per-tenant byte counts. */
#define EXACT_BYTES_MAX_ROWS 100000
#define BYTES_SAMPLE_ROWS    10000

#include "store/store_sqlite.h"

int dom_sqlite__fail(sqlite_store *s, const char *table, const char *what)
{
    return dom_error_set(DOM_EREGION, "region \"%s\"%s%s%s: %s: %s", s->base.region,
                         table ? ", table \"" : "", table ? table : "", table ? "\"" : "", what,
                         sqlite3_errmsg(s->db));
}

#define fail dom_sqlite__fail

int dom_sqlite__prepare(sqlite_store *s, sqlite3_stmt **st, const char *table, const char *sql)
{
    if (!sql)
        return dom_error_set(DOM_ENOMEM, "out of memory");
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return fail(s, table, "cannot prepare query");
    return 0;
}

#define prepare dom_sqlite__prepare

/* The class of an SQLite declared type (lower case): SQLite's rules of
 * type affinity (https://sqlite.org/datatype3.html, 3.1). */
static dom_col_class sq_class_of_type(const char *type)
{
    if (strstr(type, "int"))
        return DOM_COL_INTEGER;
    if (strstr(type, "char") || strstr(type, "clob") || strstr(type, "text"))
        return DOM_COL_TEXT;
    if (!type[0] || strstr(type, "blob"))
        return DOM_COL_BLOB;
    if (strstr(type, "real") || strstr(type, "floa") || strstr(type, "doub"))
        return DOM_COL_REAL;
    return DOM_COL_NUMERIC;
}

int dom_sqlite__tables(dom_store *base, dom_table_info **out, size_t *nout)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *names = NULL, *cols = NULL, *fks = NULL;
    dom_table_info *t = NULL;
    size_t n = 0, cap = 0;
    int rc;
    *out = NULL;
    *nout = 0;
    if ((rc = prepare(s, &names, NULL,
                      "SELECT name FROM sqlite_schema WHERE type = 'table' "
                      "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                      "AND name NOT LIKE 'domicile\\_%' ESCAPE '\\' ORDER BY name")) < 0 ||
        (rc = prepare(s, &cols, NULL,
                      "SELECT name, lower(type), pk, \"notnull\" FROM pragma_table_info(?1) "
                      "ORDER BY cid")) < 0 ||
        (rc = prepare(s, &fks, NULL,
                      "SELECT id, \"table\", \"from\", \"to\", on_delete, on_update FROM "
                      "pragma_foreign_key_list(?1) ORDER BY id, seq")) < 0)
        goto done;
    while ((rc = sqlite3_step(names)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            dom_table_info *g = dom_realloc(t, cap * sizeof(*t));
            if (!g) {
                rc = DOM_ENOMEM;
                goto done;
            }
            t = g;
        }
        dom_table_info *ti = &t[n++];
        memset(ti, 0, sizeof(*ti));
        if (!(ti->name = dom_strdup((const char *)sqlite3_column_text(names, 0)))) {
            rc = DOM_ENOMEM;
            goto done;
        }
        sqlite3_bind_text(cols, 1, ti->name, -1, SQLITE_STATIC);
        size_t ccap = 0;
        while ((rc = sqlite3_step(cols)) == SQLITE_ROW) {
            if (ti->ncols == ccap) {
                ccap = ccap ? ccap * 2 : 8;
                dom_column *g = dom_realloc(ti->cols, ccap * sizeof(*g));
                if (!g) {
                    rc = DOM_ENOMEM;
                    goto done;
                }
                ti->cols = g;
            }
            dom_column *c = &ti->cols[ti->ncols++];
            c->name = dom_strdup((const char *)sqlite3_column_text(cols, 0));
            c->type = dom_strdup((const char *)sqlite3_column_text(cols, 1));
            c->cls = sq_class_of_type(c->type ? c->type : "");
            c->pk = sqlite3_column_int(cols, 2);
            c->notnull = sqlite3_column_int(cols, 3);
            if (!c->name || !c->type) {
                sqlite3_reset(cols);
                rc = DOM_ENOMEM;
                goto done;
            }
        }
        sqlite3_reset(cols);
        if (rc != SQLITE_DONE) {
            rc = fail(s, ti->name, "cannot read columns");
            goto done;
        }
        sqlite3_bind_text(fks, 1, ti->name, -1, SQLITE_STATIC);
        int64_t last = -1;
        while ((rc = sqlite3_step(fks)) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(fks, 0);
            if (dom_table_fkey_add(ti, id != last, (const char *)sqlite3_column_text(fks, 1),
                                   (const char *)sqlite3_column_text(fks, 2),
                                   (const char *)sqlite3_column_text(fks, 3)) < 0) {
                sqlite3_reset(fks);
                rc = DOM_ENOMEM;
                goto done;
            }
            dom_table_fkey_actions(ti, (const char *)sqlite3_column_text(fks, 4),
                                   (const char *)sqlite3_column_text(fks, 5));
            last = id;
        }
        sqlite3_reset(fks);
        if (rc != SQLITE_DONE) {
            rc = fail(s, ti->name, "cannot read foreign keys");
            goto done;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : fail(s, NULL, "cannot list tables");
done:
    sqlite3_finalize(names);
    sqlite3_finalize(cols);
    sqlite3_finalize(fks);
    if (rc < 0) {
        dom_table_info_free(t, n);
        return rc;
    }
    *out = t;
    *nout = n;
    return 0;
}

static int sq_scan_tenants(dom_store *base, const char *table, const char *key, const char *country,
                           dom_tenant_cb cb, void *payload)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    char *sql = sqlite3_mprintf("SELECT \"%w\", \"%w\" FROM \"%w\"", key, country, table);
    int rc = prepare(s, &st, table, sql);
    sqlite3_free(sql);
    if (rc < 0)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        size_t klen = (size_t)sqlite3_column_bytes(st, 0);
        const char *c = (const char *)sqlite3_column_text(st, 1);
        if (!k)
            continue;                    /* a NULL key belongs to no tenant */
        int r = cb(k, klen, c, payload); /* c NULL: no country */
        if (r) {
            sqlite3_finalize(st);
            return r;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : fail(s, table, "cannot read tenants");
    sqlite3_finalize(st);
    return rc;
}

/* Appends the SQL expression for the byte size of one row of t (text and
 * blob bytes, 8 per number, 0 for NULL). */
void dom_sqlite__bytes_expr(dom_buf *b, const dom_table_info *t, const char *row)
{
    for (size_t i = 0; i < t->ncols; i++) {
        char *q = sqlite3_mprintf("%s%s\"%w\"", row ? row : "", row ? "." : "", t->cols[i].name);
        dom_buf_printf(b,
                       "%s(CASE typeof(%s) WHEN 'null' THEN 0 WHEN 'integer' THEN 8 "
                       "WHEN 'real' THEN 8 ELSE length(CAST(%s AS BLOB)) END)",
                       i ? " + " : "", q, q);
        sqlite3_free(q);
    }
    if (!t->ncols)
        dom_buf_puts(b, "0");
}

static int sq_count_by_tenant(dom_store *base, const dom_move_table *mt, int *bytes_estimated,
                              dom_count_cb cb, void *payload)
{
    sqlite_store *s = (sqlite_store *)base;
    const dom_table_info *t = mt->info;
    sqlite3_stmt *st = NULL;
    dom_buf expr = DOM_BUF_INIT, sql = DOM_BUF_INIT;
    char *q = NULL;
    int rc;
    double avg = 0;
    int exact;

    dom_sqlite__bytes_expr(&expr, t, NULL);
    q = sqlite3_mprintf("SELECT count(*) FROM (SELECT 1 FROM \"%w\" LIMIT %d)", t->name,
                        EXACT_BYTES_MAX_ROWS + 1);
    if ((rc = prepare(s, &st, t->name, q)) < 0)
        goto done;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = fail(s, t->name, "cannot count rows");
        goto done;
    }
    exact = sqlite3_column_int64(st, 0) <= EXACT_BYTES_MAX_ROWS;
    sqlite3_finalize(st);
    st = NULL;
    sqlite3_free(q);
    q = NULL;
    if (!exact) {
        dom_buf_puts(&sql, "SELECT avg(");
        dom_buf_puts(&sql, dom_buf_cstr(&expr));
        q = sqlite3_mprintf(") FROM (SELECT * FROM \"%w\" LIMIT %d)", t->name, BYTES_SAMPLE_ROWS);
        dom_buf_puts(&sql, q ? q : "");
        if ((rc = prepare(s, &st, t->name, sql.oom || !q ? NULL : sql.ptr)) < 0)
            goto done;
        if (sqlite3_step(st) != SQLITE_ROW) {
            rc = fail(s, t->name, "cannot sample row sizes");
            goto done;
        }
        avg = sqlite3_column_double(st, 0);
        sqlite3_finalize(st);
        st = NULL;
        sqlite3_free(q);
        q = NULL;
        *bytes_estimated = 1;
    }
    /* the row's columns by the table's name, the parents' by their aliases */
    dom_buf_clear(&sql);
    dom_buf_clear(&expr);
    q = sqlite3_mprintf("\"%w\"", t->name);
    dom_sqlite__bytes_expr(&expr, t, q);
    dom_buf_puts(&sql, "SELECT ");
    dom_sql_tenant_col(&sql, mt, q);
    dom_buf_puts(&sql, ", count(*), ");
    if (exact)
        dom_buf_printf(&sql, "sum(%s)", dom_buf_cstr(&expr));
    else
        dom_buf_puts(&sql, "0");
    dom_buf_puts(&sql, " FROM ");
    dom_sql_ident(&sql, t->name);
    dom_sql_tenant_joins(&sql, mt, q, NULL);
    dom_buf_puts(&sql, " WHERE ");
    dom_sql_tenant_col(&sql, mt, q);
    dom_buf_puts(&sql, " IS NOT NULL GROUP BY 1");
    if ((rc = prepare(s, &st, t->name, sql.oom ? NULL : sql.ptr)) < 0)
        goto done;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t rows = sqlite3_column_int64(st, 1);
        int64_t bytes = exact ? sqlite3_column_int64(st, 2) : (int64_t)(avg * (double)rows + 0.5);
        int r = cb((const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                   rows, bytes, payload);
        if (r) {
            rc = r;
            goto done;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : fail(s, t->name, "cannot count rows per tenant");
done:
    sqlite3_finalize(st);
    sqlite3_free(q);
    dom_buf_free(&expr);
    dom_buf_free(&sql);
    return rc;
}

static void sq_idle(dom_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

/* The health the mover's throttle reads (options.health): how long this
 * connection waits for the write lock, which is what writers wait for. */
static int sq_health(dom_store *base, dom_health *out)
{
    sqlite_store *s = (sqlite_store *)base;
    /* a connection of the health watch's own: a wait of more than a
     * second is a wait of a second, read at once */
    sqlite3_busy_timeout(s->db, 1000);
    double t0 = dom_mono();
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    out->probe_ms = (dom_mono() - t0) * 1000;
    if (rc == SQLITE_OK)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    out->active_sessions = -1;
    out->replica_lag_sec = -1;
    /* a lock not had within the busy wait reads as that long a wait */
    return rc == SQLITE_OK || rc == SQLITE_BUSY
               ? 0
               : dom_error_set(DOM_EREGION, "region \"%s\": cannot probe the write lock: %s",
                               base->region, sqlite3_errmsg(s->db));
}

static void sq_close(dom_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    dom_sqlite__stmt_cache_free(s);
    sqlite3_close(s->db);
    if (s->movers_held)
        close(s->movers_fd);
    dom_free(s->path);
    dom_free(s->base.region);
    dom_free(s);
}

/* The file's device and inode: the same file however its path is written
 * (relative, through a symbolic link, another hard link). */
static int sq_identity(dom_store *base, char *out, size_t n)
{
    sqlite_store *s = (sqlite_store *)base;
    struct stat sb;
    if (stat(s->path, &sb) != 0)
        return dom_error_set(DOM_EREGION, "region \"%s\": cannot stat %s: %s", base->region,
                             s->path, strerror(errno));
    snprintf(out, n, "sqlite:%ju:%ju", (uintmax_t)sb.st_dev, (uintmax_t)sb.st_ino);
    return 0;
}

/* The table's own statement (its constraints and foreign keys with it)
 * and its indexes' statements, as the file keeps them. */
static int sq_table_ddl(dom_store *base, const char *table, dom_buf *create, dom_buf *fks)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    (void)fks;
    int rc = prepare(s, &st, table,
                     "SELECT sql FROM sqlite_schema WHERE tbl_name = ?1 AND type IN ('table', "
                     "'index') AND sql IS NOT NULL ORDER BY type = 'index', name");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        dom_buf_printf(create, "%s;\n", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail(s, table, "cannot read the table's definition");
    return create->oom ? DOM_ENOMEM : 0;
}

static int sq_indexes(dom_store *base, const char *table, dom_index **out, size_t *n)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    /* an index on an expression (cid -2) is left out whole */
    int rc = prepare(s, &st, table,
                     "SELECT l.name, l.\"unique\", i.name FROM pragma_index_list(?1) l, "
                     "pragma_index_info(l.name) i WHERE l.origin <> 'pk' AND l.partial = 0 AND "
                     "NOT EXISTS (SELECT 1 FROM pragma_index_info(l.name) e WHERE e.cid < 0) "
                     "ORDER BY l.seq, i.seqno");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (dom_index_add(out, n, (const char *)sqlite3_column_text(st, 0),
                          sqlite3_column_int(st, 1),
                          (const char *)sqlite3_column_text(st, 2)) < 0) {
            sqlite3_finalize(st);
            return DOM_ENOMEM;
        }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, table, "cannot read the table's indexes");
}

static int sq_exec_ddl(dom_store *base, const char *sql)
{
    sqlite_store *s = (sqlite_store *)base;
    char *err = NULL;
    char *all = sqlite3_mprintf("BEGIN IMMEDIATE;\n%sCOMMIT;", sql);
    if (!all)
        return DOM_ENOMEM;
    int rc = sqlite3_exec(s->db, all, NULL, NULL, &err);
    sqlite3_free(all);
    if (rc != SQLITE_OK) {
        rc = dom_error_set(DOM_EREGION, "region \"%s\": cannot create tables: %s", base->region,
                           err ? err : sqlite3_errmsg(s->db));
        sqlite3_free(err);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return 0;
}

static const char *sq_type_of_class(dom_col_class cls)
{
    return cls == DOM_COL_INTEGER ? "INTEGER"
           : cls == DOM_COL_REAL  ? "REAL"
           : cls == DOM_COL_TEXT  ? "TEXT"
           : cls == DOM_COL_BLOB  ? "BLOB"
                                  : "NUMERIC";
}

const dom_store_ops dom_sqlite__ops = {
    .engine = "sqlite",
    .write_rows = 5000,
    .tables = dom_sqlite__tables,
    .install = dom_sqlite__install,
    .uninstall = dom_sqlite__uninstall,
    .set_mode = dom_sqlite__set_mode,
    .health = sq_health,
    .set_keys = dom_sqlite__set_keys,
    .fence = dom_sqlite__fence,
    .unfence = dom_sqlite__unfence,
    .snapshot_begin = dom_sqlite__snapshot_begin,
    .snapshot_end = dom_sqlite__snapshot_end,
    .cursor_open = dom_sqlite__cursor_open,
    .cursor_pk = dom_sqlite__cursor_pk,
    .cursor_next = dom_sqlite__cursor_next,
    .cursor_close = dom_sqlite__cursor_close,
    .write_begin = dom_sqlite__write_begin,
    .write_commit = dom_sqlite__write_commit,
    .write_rollback = dom_sqlite__write_rollback,
    .upsert = dom_sqlite__upsert,
    .delete_pk = dom_sqlite__delete_pk,
    .delete_keys = dom_sqlite__delete_keys,
    .count_keys = dom_sqlite__count_keys,
    .changes = dom_sqlite__changes,
    .schema_sig = dom_sqlite__schema_sig,
    .idle = sq_idle,
    .sync = dom_sqlite__sync,
    .meta_set = dom_sqlite__meta_set,
    .meta_get = dom_sqlite__meta_get,
    .identity = sq_identity,
    .table_ddl = sq_table_ddl,
    .indexes = sq_indexes,
    .exec_ddl = sq_exec_ddl,
    .type_of_class = sq_type_of_class,
    .copy_from = dom_sqlite__copy_from,
    .scan_tenants = sq_scan_tenants,
    .count_by_tenant = sq_count_by_tenant,
    .close = sq_close,
};

/* Retries a locked database every 200 microseconds for up to 10 seconds.
 * SQLite's own busy timeout backs off to sleeps of 100 ms, which would make
 * the mover's short writes inside the write pause wait behind applications
 * for far longer than the writes themselves take. */
int dom_sqlite_busy_retry(void *payload, int attempts)
{
    (void)payload;
    if (attempts >= 50000)
        return 0;
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
    return 1;
}

int dom_store_sqlite_parse_dsn(dom_dsn *out, const char *text, const char *path, const char *dir)
{
    if (!*path)
        return dom_error_set(DOM_ECONFIG, "sqlite DSN has no file path");
    out->kind = DOM_DSN_SQLITE;
    out->text = dom_strdup(text);
    /* a relative path is relative to the config's folder */
    if (path[0] == '/' || !dir || !*dir || strcmp(dir, ".") == 0)
        out->path = dom_strdup(path);
    else
        out->path = dom_sprintf("%s/%s", dir, path);
    return out->text && out->path ? 0 : DOM_ENOMEM;
}

int dom_store_sqlite_open(dom_store **out, const dom_region *region, int flags)
{
    struct stat sb;
    *out = NULL;
    if ((flags & (DOM_STORE_MUST_EXIST | DOM_STORE_READONLY)) && stat(region->dsn.path, &sb) != 0)
        return dom_error_set(DOM_EREGION, "region \"%s\": cannot open %s: %s", region->name,
                             region->dsn.path, strerror(errno));
    sqlite_store *s = dom_calloc(1, sizeof(*s));
    if (!s)
        return DOM_ENOMEM;
    s->base.ops = &dom_sqlite__ops;
    s->base.region = dom_strdup(region->name);
    s->path = dom_strdup(region->dsn.path);
    if (!s->base.region || !s->path) {
        sq_close(&s->base);
        return DOM_ENOMEM;
    }
    /* A reader opens read-write all the same: a read-only connection to a
     * WAL database leaves its -wal and -shm files behind, and the last
     * read-write connection removes them on close. */
    int oflags = (flags & DOM_STORE_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (!(flags & (DOM_STORE_MUST_EXIST | DOM_STORE_READONLY)))
        oflags |= SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(s->path, &s->db, oflags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        int rc = dom_error_set(DOM_EREGION, "region \"%s\": cannot open %s: %s", region->name,
                               s->path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sq_close(&s->base);
        return rc;
    }
    sqlite3_busy_handler(s->db, dom_sqlite_busy_retry, NULL);
    sqlite3_extended_result_codes(s->db, 1);
    /* No checkpoint inside the mover's commits: one would land in the write
     * pause.  The mover checkpoints between batches (dom_store_idle). */
    sqlite3_wal_autocheckpoint(s->db, 0);
    /* Bulk writes commit without waiting for the disk (WAL + NORMAL loses
     * nothing when the process dies, only on power loss); fences commit
     * with FULL, and dom_store_sync makes the bulk durable before the
     * journal relies on it. */
    if (!(flags & DOM_STORE_READONLY))
        sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    /* The triggers answer applications; the mover's own connection runs
     * none of them: its writes pass the fences, and it does not pay for
     * them row by row.  The triggers rely on it (they check nothing
     * else), so a connection that cannot turn them off is not used. */
    int triggers = 1;
    if (sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, &triggers) != SQLITE_OK ||
        triggers != 0) {
        int rc = dom_error_set(DOM_EREGION, "region \"%s\": cannot turn triggers off on %s",
                               region->name, s->path);
        sq_close(&s->base);
        return rc;
    }
    /* Reading the schema proves that the file is a database we can read. */
    if (sqlite3_exec(s->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = dom_error_set(DOM_EREGION, "region \"%s\": cannot read %s: %s", region->name,
                               s->path, sqlite3_errmsg(s->db));
        sq_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}
