/*
 * catalog.c - the catalog on an SQLite file: schema, directory reads and
 * writes, journal, transfer log; a PostgreSQL catalog is served by
 * catalog_pg.c (every function hands over to it first).  It knows nothing
 * of regions' data.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/catalog_impl.h"
#include "store/store_sqlite.h"
#include "util/util.h"

double dom__now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char CATALOG_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS domicile_meta (\n"
    "    key   TEXT PRIMARY KEY,\n"
    "    value TEXT NOT NULL\n"
    ");\n"
    "INSERT OR IGNORE INTO domicile_meta VALUES ('schema_version', '1');\n"
    "CREATE TABLE IF NOT EXISTS directory (\n"
    "    tenant TEXT PRIMARY KEY,\n"
    "    region TEXT NOT NULL,\n"
    "    epoch  INTEGER NOT NULL DEFAULT 1,\n"
    "    state  TEXT NOT NULL DEFAULT 'home'\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS batches (\n"
    "    id          INTEGER PRIMARY KEY,\n"
    "    wave        TEXT NOT NULL,\n"
    "    src         TEXT NOT NULL,\n"
    "    dst         TEXT NOT NULL,\n"
    "    step        TEXT NOT NULL,\n"
    "    tenants     INTEGER NOT NULL,\n"
    "    copy_seq    INTEGER NOT NULL DEFAULT 0,\n"
    "    applied_seq INTEGER NOT NULL DEFAULT 0,\n"
    "    rows        INTEGER NOT NULL DEFAULT 0,\n"
    "    bytes       INTEGER NOT NULL DEFAULT 0,\n"
    "    erased      INTEGER NOT NULL DEFAULT 0,\n"
    "    schema_sig  TEXT,\n"
    "    pause_ms    REAL,\n"
    "    created_at  REAL NOT NULL,\n"
    "    updated_at  REAL NOT NULL,\n"
    "    flipped_at  REAL,\n"
    "    logged      INTEGER NOT NULL DEFAULT 0,\n"
    "    error       TEXT\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS transfer_log (\n"
    "    seq   INTEGER PRIMARY KEY,\n"
    "    entry TEXT NOT NULL,\n"
    "    prev  TEXT NOT NULL,\n"
    "    hash  TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS batches_step ON batches (step);\n"
    "CREATE TABLE IF NOT EXISTS batch_tenants (\n"
    "    batch  INTEGER NOT NULL,\n"
    "    tenant TEXT NOT NULL,\n"
    "    PRIMARY KEY (batch, tenant)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX IF NOT EXISTS batch_tenants_tenant ON batch_tenants (tenant);\n"
    "CREATE TABLE IF NOT EXISTS transfer_rows (\n"
    "    batch  INTEGER NOT NULL,\n"
    "    tbl    TEXT NOT NULL,\n"
    "    pk     TEXT NOT NULL,\n"
    "    digest TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS transfer_rows_batch ON transfer_rows (batch);\n";

static int cat_fail(dom_catalog *cat, const char *what)
{
    return dom_error_set(DOM_EREGION, "catalog %s: %s: %s", cat->path, what,
                         sqlite3_errmsg(cat->db));
}

void dom_catalog_close(dom_catalog *cat)
{
    if (!cat)
        return;
    dom_catpg_close(cat);
    sqlite3_close(cat->db);
    dom_free(cat->path);
    dom_free(cat);
}

int dom_catalog_open(dom_catalog **out, const dom_config *cfg, int flags)
{
    struct stat sb;
    *out = NULL;
    if (cfg->catalog.kind == DOM_DSN_PG) {
        dom_catalog *cat = dom_calloc(1, sizeof(*cat));
        if (!cat)
            return DOM_ENOMEM;
        cat->lease_sec = cfg->options.lease_sec > 0 ? cfg->options.lease_sec : 30;
        int rc = dom_catpg_open(cat, cfg->catalog.conninfo);
        if (rc < 0) {
            dom_catalog_close(cat);
            return rc;
        }
        *out = cat;
        return 0;
    }
    if ((flags & DOM_CATALOG_READONLY) && stat(cfg->catalog.path, &sb) != 0) {
        if (errno == ENOENT)
            return dom_error_set(DOM_ENOTFOUND, "catalog %s does not exist yet", cfg->catalog.path);
        return dom_error_set(DOM_EREGION, "catalog %s: %s", cfg->catalog.path, strerror(errno));
    }
    dom_catalog *cat = dom_calloc(1, sizeof(*cat));
    if (!cat)
        return DOM_ENOMEM;
    cat->path = dom_strdup(cfg->catalog.path);
    /* A reader opens read-write without creating: a read-only connection to
     * a WAL database would leave its -wal and -shm files behind. */
    int of = (flags & DOM_CATALOG_READONLY) ? SQLITE_OPEN_READWRITE
                                            : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (!cat->path || sqlite3_open_v2(cat->path, &cat->db, of, NULL) != SQLITE_OK) {
        int rc = cat->db ? cat_fail(cat, "cannot open") : DOM_ENOMEM;
        dom_catalog_close(cat);
        return rc;
    }
    sqlite3_busy_handler(cat->db, dom_sqlite_busy_retry, NULL);
    if (!(flags & DOM_CATALOG_READONLY)) {
        if (sqlite3_exec(cat->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(cat->db, CATALOG_SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
            int rc = cat_fail(cat, "cannot create schema");
            dom_catalog_close(cat);
            return rc;
        }
    }
    *out = cat;
    return 0;
}

/* True when the directory table exists (a read-only catalog may predate it). */
static int has_directory(dom_catalog *cat)
{
    return sqlite3_table_column_metadata(cat->db, NULL, "directory", "tenant", NULL, NULL, NULL,
                                         NULL, NULL) == SQLITE_OK;
}

int dom_catalog_scan_directory(dom_catalog *cat, dom_directory_cb cb, void *payload)
{
    if (cat->pg)
        return dom_catpg_scan_directory(cat, cb, payload);
    sqlite3_stmt *st;
    int rc;
    if (!has_directory(cat))
        return 0;
    if (sqlite3_prepare_v2(cat->db, "SELECT tenant, region, epoch, state FROM directory", -1, &st,
                           NULL) != SQLITE_OK)
        return cat_fail(cat, "cannot read directory");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int r = cb((const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                   (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2),
                   (const char *)sqlite3_column_text(st, 3), payload);
        if (r) {
            sqlite3_finalize(st);
            return r;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : cat_fail(cat, "cannot read directory");
}

int dom_catalog_directory_count(dom_catalog *cat, int64_t *out)
{
    if (cat->pg)
        return dom_catpg_directory_count(cat, out);
    sqlite3_stmt *st;
    *out = 0;
    if (!has_directory(cat))
        return 0;
    if (sqlite3_prepare_v2(cat->db, "SELECT count(*) FROM directory", -1, &st, NULL) != SQLITE_OK)
        return cat_fail(cat, "cannot read directory");
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : cat_fail(cat, "cannot read directory");
}

int dom_catalog_locate(dom_catalog *cat, const char *key, dom_location *out)
{
    if (cat->pg)
        return dom_catpg_locate(cat, key, out);
    sqlite3_stmt *st;
    memset(out, 0, sizeof(*out));
    if (!has_directory(cat))
        return dom_error_set(DOM_ENOTFOUND, "tenant %s is not in the directory", key);
    if (sqlite3_prepare_v2(cat->db, "SELECT region, epoch, state FROM directory WHERE tenant = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return cat_fail(cat, "cannot read directory");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(out->region, sizeof(out->region), "%s", sqlite3_column_text(st, 0));
        out->epoch = sqlite3_column_int64(st, 1);
        snprintf(out->state, sizeof(out->state), "%s", sqlite3_column_text(st, 2));
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = dom_error_set(DOM_ENOTFOUND, "tenant %s is not in the directory", key);
    } else {
        rc = cat_fail(cat, "cannot read directory");
    }
    sqlite3_finalize(st);
    return rc;
}

int dom_catalog_put(dom_catalog *cat, const char *key, const char *region, int64_t epoch,
                    const char *state)
{
    if (cat->pg)
        return dom_catpg_put(cat, key, region, epoch, state);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cat->db, "INSERT OR REPLACE INTO directory VALUES (?1, ?2, ?3, ?4)", -1,
                           &st, NULL) != SQLITE_OK)
        return cat_fail(cat, "cannot write directory");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, region, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, epoch);
    sqlite3_bind_text(st, 4, state, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : cat_fail(cat, "cannot write directory");
}

/* ---- the move journal -------------------------------------------------------- */

static int exec_sql(dom_catalog *cat, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(cat->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        int rc = dom_error_set(DOM_EREGION, "catalog %s: %s", cat->path,
                               err ? err : sqlite3_errmsg(cat->db));
        sqlite3_free(err);
        return rc;
    }
    return 0;
}

int dom_catalog_begin(dom_catalog *cat)
{
    if (cat->pg)
        return dom_catpg_begin(cat);
    return exec_sql(cat, "BEGIN IMMEDIATE");
}

int dom_catalog_commit(dom_catalog *cat)
{
    if (cat->pg)
        return dom_catpg_commit(cat);
    int rc = exec_sql(cat, "COMMIT");
    if (rc < 0)
        sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

void dom_catalog_rollback(dom_catalog *cat)
{
    if (cat->pg) {
        dom_catpg_rollback(cat);
        return;
    }
    if (!sqlite3_get_autocommit(cat->db))
        sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
}

static int prep(dom_catalog *cat, sqlite3_stmt **st, const char *sql)
{
    if (sqlite3_prepare_v2(cat->db, sql, -1, st, NULL) != SQLITE_OK)
        return cat_fail(cat, "cannot prepare");
    return 0;
}

static int run(dom_catalog *cat, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : cat_fail(cat, what);
}

int dom_catalog_batch_create(dom_catalog *cat, const char *wave, const char *src, const char *dst,
                             const char *const *keys, size_t n, int64_t *id)
{
    if (cat->pg)
        return dom_catpg_batch_create(cat, wave, src, dst, keys, n, id);
    sqlite3_stmt *st;
    int rc;
    double t = dom__now_sec();
    if ((rc = prep(cat, &st,
                   "INSERT INTO batches (wave, src, dst, step, tenants, created_at, "
                   "updated_at) VALUES (?1, ?2, ?3, 'new', ?4, ?5, ?5)")) < 0)
        return rc;
    sqlite3_bind_text(st, 1, wave, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, src, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, dst, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)n);
    sqlite3_bind_double(st, 5, t);
    if ((rc = run(cat, st, "cannot create batch")) < 0)
        return rc;
    *id = sqlite3_last_insert_rowid(cat->db);
    if ((rc = prep(cat, &st, "INSERT INTO batch_tenants VALUES (?1, ?2)")) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, *id);
        sqlite3_bind_text(st, 2, keys[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = cat_fail(cat, "cannot record batch tenants");
            sqlite3_finalize(st);
            return rc;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return 0;
}

int dom_catalog_batches(dom_catalog *cat, const char *where_step, int64_t **ids, size_t *n)
{
    if (cat->pg)
        return dom_catpg_batches(cat, where_step, ids, n);
    sqlite3_stmt *st;
    int rc;
    *ids = NULL;
    *n = 0;
    const char *sql =
        strcmp(where_step, "unfinished") == 0
            ? "SELECT id FROM batches WHERE step NOT IN ('done', 'failed') ORDER BY id"
            : "SELECT id FROM batches WHERE step = ?1 ORDER BY id";
    if ((rc = prep(cat, &st, sql)) < 0)
        return rc;
    if (strcmp(where_step, "unfinished") != 0)
        sqlite3_bind_text(st, 1, where_step, -1, SQLITE_STATIC);
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *g = dom_realloc(*ids, cap * sizeof(int64_t));
            if (!g) {
                sqlite3_finalize(st);
                return DOM_ENOMEM;
            }
            *ids = g;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : cat_fail(cat, "cannot list batches");
}

void dom_batch_free(dom_batch *b)
{
    for (size_t i = 0; i < b->nkeys; i++)
        dom_free(b->keys[i]);
    dom_free(b->keys);
    dom_free(b->epochs);
    memset(b, 0, sizeof(*b));
}

int dom_catalog_batch_load(dom_catalog *cat, int64_t id, dom_batch *b)
{
    if (cat->pg)
        return dom_catpg_batch_load(cat, id, b);
    sqlite3_stmt *st;
    int rc;
    memset(b, 0, sizeof(*b));
    if ((rc = prep(cat, &st,
                   "SELECT wave, src, dst, step, tenants, copy_seq, applied_seq, rows, bytes, "
                   "erased, ifnull(schema_sig, ''), ifnull(flipped_at, 0), ifnull(pause_ms, 0), "
                   "ifnull(error, ''), logged FROM batches WHERE id = ?1")) < 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return dom_error_set(DOM_ENOTFOUND, "catalog %s: no batch %lld", cat->path, (long long)id);
    }
    b->id = id;
    snprintf(b->wave, sizeof(b->wave), "%s", sqlite3_column_text(st, 0));
    snprintf(b->src, sizeof(b->src), "%s", sqlite3_column_text(st, 1));
    snprintf(b->dst, sizeof(b->dst), "%s", sqlite3_column_text(st, 2));
    snprintf(b->step, sizeof(b->step), "%s", sqlite3_column_text(st, 3));
    b->tenants = sqlite3_column_int64(st, 4);
    b->copy_seq = sqlite3_column_int64(st, 5);
    b->applied_seq = sqlite3_column_int64(st, 6);
    b->rows = sqlite3_column_int64(st, 7);
    b->bytes = sqlite3_column_int64(st, 8);
    b->erased = sqlite3_column_int64(st, 9);
    snprintf(b->schema_sig, sizeof(b->schema_sig), "%s", sqlite3_column_text(st, 10));
    b->flipped_at = sqlite3_column_double(st, 11);
    b->pause_ms = sqlite3_column_double(st, 12);
    snprintf(b->error, sizeof(b->error), "%s", sqlite3_column_text(st, 13));
    b->logged = sqlite3_column_int(st, 14);
    sqlite3_finalize(st);
    if ((rc = prep(cat, &st,
                   "SELECT bt.tenant, ifnull(d.epoch, 1) FROM batch_tenants bt LEFT JOIN directory "
                   "d ON d.tenant = bt.tenant WHERE bt.batch = ?1 ORDER BY bt.tenant")) < 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    size_t cap = (size_t)(b->tenants > 0 ? b->tenants : 1);
    b->keys = dom_calloc(cap, sizeof(char *));
    b->epochs = dom_calloc(cap, sizeof(int64_t));
    if (!b->keys || !b->epochs) {
        sqlite3_finalize(st);
        dom_batch_free(b);
        return DOM_ENOMEM;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && b->nkeys < cap) {
        if (!(b->keys[b->nkeys] = dom_strdup((const char *)sqlite3_column_text(st, 0)))) {
            sqlite3_finalize(st);
            dom_batch_free(b);
            return DOM_ENOMEM;
        }
        b->epochs[b->nkeys++] = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        dom_batch_free(b);
        return cat_fail(cat, "cannot read batch tenants");
    }
    /* neighbouring keys first (insertion sort: batches are small and the
     * database order is nearly right already) */
    for (size_t i = 1; i < b->nkeys; i++)
        for (size_t j = i; j > 0 && dom_key_cmp(b->keys[j - 1], b->keys[j]) > 0; j--) {
            char *k = b->keys[j];
            int64_t e = b->epochs[j];
            b->keys[j] = b->keys[j - 1];
            b->epochs[j] = b->epochs[j - 1];
            b->keys[j - 1] = k;
            b->epochs[j - 1] = e;
        }
    return 0;
}

int dom_catalog_batch_update(dom_catalog *cat, const dom_batch *b)
{
    if (cat->pg)
        return dom_catpg_batch_update(cat, b);
    sqlite3_stmt *st;
    int rc;
    if ((rc = prep(cat, &st,
                   "UPDATE batches SET step = ?2, copy_seq = ?3, applied_seq = ?4, rows = ?5, "
                   "bytes = ?6, erased = ?7, schema_sig = nullif(?8, ''), pause_ms = ?9, "
                   "error = nullif(?10, ''), updated_at = ?11, logged = ?12 WHERE id = ?1")) < 0)
        return rc;
    sqlite3_bind_int64(st, 1, b->id);
    sqlite3_bind_text(st, 2, b->step, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, b->copy_seq);
    sqlite3_bind_int64(st, 4, b->applied_seq);
    sqlite3_bind_int64(st, 5, b->rows);
    sqlite3_bind_int64(st, 6, b->bytes);
    sqlite3_bind_int64(st, 7, b->erased);
    sqlite3_bind_text(st, 8, b->schema_sig, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 9, b->pause_ms);
    sqlite3_bind_text(st, 10, b->error, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 11, dom__now_sec());
    sqlite3_bind_int(st, 12, b->logged);
    return run(cat, st, "cannot update batch");
}

int dom_catalog_set_state(dom_catalog *cat, int64_t batch, const char *state)
{
    if (cat->pg)
        return dom_catpg_set_state(cat, batch, state);
    sqlite3_stmt *st;
    int rc;
    if ((rc = prep(cat, &st,
                   "UPDATE directory SET state = ?2 WHERE tenant IN (SELECT tenant FROM "
                   "batch_tenants WHERE batch = ?1)")) < 0)
        return rc;
    sqlite3_bind_int64(st, 1, batch);
    sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    return run(cat, st, "cannot update directory");
}

int dom_catalog_flip(dom_catalog *cat, dom_batch *b)
{
    if (cat->pg)
        return dom_catpg_flip(cat, b);
    sqlite3_stmt *st;
    int rc;
    if ((rc = dom_catalog_begin(cat)) < 0)
        return rc;
    if ((rc = prep(cat, &st,
                   "UPDATE directory SET region = ?2, epoch = epoch + 1, state = 'home' WHERE "
                   "tenant IN (SELECT tenant FROM batch_tenants WHERE batch = ?1)")) < 0)
        goto fail;
    sqlite3_bind_int64(st, 1, b->id);
    sqlite3_bind_text(st, 2, b->dst, -1, SQLITE_STATIC);
    if ((rc = run(cat, st, "cannot flip directory")) < 0)
        goto fail;
    snprintf(b->step, sizeof(b->step), "flipped");
    b->flipped_at = dom__now_sec();
    if ((rc = dom_catalog_batch_update(cat, b)) < 0)
        goto fail;
    if ((rc = prep(cat, &st, "UPDATE batches SET flipped_at = ?2 WHERE id = ?1")) < 0)
        goto fail;
    sqlite3_bind_int64(st, 1, b->id);
    sqlite3_bind_double(st, 2, b->flipped_at);
    if ((rc = run(cat, st, "cannot flip batch")) < 0)
        goto fail;
    for (size_t i = 0; i < b->nkeys; i++)
        b->epochs[i]++;
    return dom_catalog_commit(cat);
fail:
    dom_catalog_rollback(cat);
    return rc;
}

/* Streams the rows of `sql` (one optional text parameter) to a directory
 * callback: (key, text, integer, text); fewer columns give NULL and 0. */
static int stream_entries(dom_catalog *cat, const char *sql, const char *param, dom_directory_cb cb,
                          void *payload)
{
    sqlite3_stmt *st;
    int rc;
    if ((rc = prep(cat, &st, sql)) < 0)
        return rc;
    if (param)
        sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
    int ncol = sqlite3_column_count(st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int r = cb((const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                   ncol > 1 ? (const char *)sqlite3_column_text(st, 1) : NULL,
                   ncol > 2 ? sqlite3_column_int64(st, 2) : 0,
                   ncol > 3 ? (const char *)sqlite3_column_text(st, 3) : NULL, payload);
        if (r) {
            sqlite3_finalize(st);
            return r;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : cat_fail(cat, "cannot read batches");
}

int dom_catalog_busy_tenants(dom_catalog *cat, dom_directory_cb cb, void *payload)
{
    if (cat->pg)
        return dom_catpg_busy_tenants(cat, cb, payload);
    return stream_entries(cat,
                          "SELECT bt.tenant FROM batch_tenants bt JOIN batches b ON b.id = "
                          "bt.batch WHERE b.step NOT IN ('done', 'failed')",
                          NULL, cb, payload);
}

int dom_catalog_wave_tenants(dom_catalog *cat, const char *wave, dom_directory_cb cb, void *payload)
{
    if (cat->pg)
        return dom_catpg_wave_tenants(cat, wave, cb, payload);
    return stream_entries(cat,
                          "SELECT bt.tenant, b.src, d.epoch, d.region FROM batch_tenants bt JOIN "
                          "batches b ON b.id = bt.batch JOIN directory d ON d.tenant = bt.tenant "
                          "WHERE b.wave = ?1 AND b.step IN ('flipped', 'done') AND d.region = "
                          "b.dst AND b.id = (SELECT max(l.batch) FROM batch_tenants l JOIN "
                          "batches lb ON lb.id = l.batch WHERE l.tenant = bt.tenant AND lb.step "
                          "IN ('flipped', 'done')) ORDER BY b.id, bt.tenant",
                          wave, cb, payload);
}

int dom_catalog_wave_members(dom_catalog *cat, const char *wave, dom_directory_cb cb, void *payload)
{
    if (cat->pg)
        return dom_catpg_wave_members(cat, wave, cb, payload);
    return stream_entries(cat,
                          "SELECT DISTINCT d.tenant, d.region, d.epoch, d.state FROM batch_tenants "
                          "bt JOIN batches b ON b.id = bt.batch JOIN directory d ON d.tenant = "
                          "bt.tenant WHERE b.wave = ?1 ORDER BY d.tenant",
                          wave, cb, payload);
}

/* ---- the transfer log ------------------------------------------------------------ */

static const char GENESIS[] = "0000000000000000000000000000000000000000000000000000000000000000";

void dom_log_hash(const char *prev, const char *entry, char out[65])
{
    dom_buf b = DOM_BUF_INIT;
    unsigned char d[32];
    dom_buf_puts(&b, prev);
    dom_buf_putc(&b, '\n');
    dom_buf_puts(&b, entry);
    dom_sha256(b.ptr ? b.ptr : "", b.len, d);
    dom_hex(d, 32, out);
    dom_buf_free(&b);
}

int dom_catalog_log_next(dom_catalog *cat, int64_t *seq, char prev[65])
{
    if (cat->pg)
        return dom_catpg_log_next(cat, seq, prev);
    sqlite3_stmt *st;
    int rc;
    if ((rc = prep(cat, &st, "SELECT seq, hash FROM transfer_log ORDER BY seq DESC LIMIT 1")) < 0)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0) + 1;
        snprintf(prev, 65, "%s", sqlite3_column_text(st, 1));
    } else {
        *seq = 1;
        memcpy(prev, GENESIS, 65);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                                 : cat_fail(cat, "cannot read the transfer log");
}

int dom_catalog_log_write(dom_catalog *cat, int64_t seq, const char *entry, const char *prev,
                          char hash[65])
{
    if (cat->pg)
        return dom_catpg_log_write(cat, seq, entry, prev, hash);
    sqlite3_stmt *st;
    int rc;
    dom_log_hash(prev, entry, hash);
    if ((rc = prep(cat, &st, "INSERT INTO transfer_log VALUES (?1, ?2, ?3, ?4)")) < 0)
        return rc;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, entry, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, prev, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, hash, -1, SQLITE_STATIC);
    if ((rc = run(cat, st, "cannot append to the transfer log")) < 0)
        return rc;
    char head[96];
    snprintf(head, sizeof(head), "%lld %s", (long long)seq, hash);
    if ((rc = prep(cat, &st, "INSERT OR REPLACE INTO domicile_meta VALUES ('log_head', ?1)")) < 0)
        return rc;
    sqlite3_bind_text(st, 1, head, -1, SQLITE_TRANSIENT);
    return run(cat, st, "cannot record the transfer log's head");
}

int dom_catalog_log_scan(dom_catalog *cat, dom_log_cb cb, void *payload)
{
    if (cat->pg)
        return dom_catpg_log_scan(cat, cb, payload);
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_table_column_metadata(cat->db, NULL, "transfer_log", "seq", NULL, NULL, NULL, NULL,
                                      NULL) != SQLITE_OK)
        return 0;
    if ((rc = prep(cat, &st, "SELECT seq, entry, prev, hash FROM transfer_log ORDER BY seq")) < 0)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int r = cb(sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                   (const char *)sqlite3_column_text(st, 2),
                   (const char *)sqlite3_column_text(st, 3), payload);
        if (r) {
            sqlite3_finalize(st);
            return r;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : cat_fail(cat, "cannot read the transfer log");
}

int dom_catalog_log_head(dom_catalog *cat, int64_t *seq, char hash[65])
{
    if (cat->pg)
        return dom_catpg_log_head(cat, seq, hash);
    sqlite3_stmt *st;
    *seq = 0;
    hash[0] = '\0';
    if (sqlite3_prepare_v2(cat->db, "SELECT value FROM domicile_meta WHERE key = 'log_head'", -1,
                           &st, NULL) != SQLITE_OK)
        return 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        long long n = 0;
        char h[65] = {0};
        if (sscanf((const char *)sqlite3_column_text(st, 0), "%lld %64s", &n, h) == 2) {
            *seq = n;
            memcpy(hash, h, 65);
        }
    }
    sqlite3_finalize(st);
    return 0;
}

int dom_catalog_meta_set(dom_catalog *cat, const char *key, const char *value)
{
    if (cat->pg)
        return dom_catpg_meta_set(cat, key, value);
    sqlite3_stmt *st;
    int rc;
    if ((rc = prep(cat, &st, "INSERT OR REPLACE INTO domicile_meta VALUES (?1, ?2)")) < 0)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : cat_fail(cat, "cannot write domicile_meta");
}

int dom_catalog_meta_get(dom_catalog *cat, const char *key, char *value, size_t n)
{
    if (cat->pg)
        return dom_catpg_meta_get(cat, key, value, n);
    sqlite3_stmt *st;
    value[0] = '\0';
    if (sqlite3_prepare_v2(cat->db, "SELECT value FROM domicile_meta WHERE key = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return 0; /* a catalog created by a reader: nothing in it yet */
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(value, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : cat_fail(cat, "cannot read domicile_meta");
}

int dom_catalog_rows_put(dom_catalog *cat, int64_t batch, const char *const *tbl,
                         const char *const *pk, const char *const *digest, size_t n)
{
    if (cat->pg)
        return dom_catpg_rows_put(cat, batch, tbl, pk, digest, n);
    sqlite3_stmt *st;
    int rc;
    if ((rc = prep(cat, &st, "INSERT INTO transfer_rows VALUES (?1, ?2, ?3, ?4)")) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, batch);
        sqlite3_bind_text(st, 2, tbl[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, pk[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, digest[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = cat_fail(cat, "cannot record the transferred rows");
            break;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

int dom_catalog_rows_scan(dom_catalog *cat, int64_t batch, dom_row_cb cb, void *payload)
{
    char sql[160];
    /* the batch number is ours, not user data */
    snprintf(sql, sizeof(sql), "SELECT tbl, pk, digest FROM transfer_rows WHERE batch = %lld",
             (long long)batch);
    return dom_catalog_query(cat, sql, cb, payload);
}

/* ---- several movers ---------------------------------------------------------------- */

int dom_catalog_shared(const dom_catalog *cat)
{
    return cat->pg != NULL;
}

int dom_catalog_claim(dom_catalog *cat, const int64_t *ids, size_t n, int64_t *id)
{
    if (cat->pg)
        return dom_catpg_claim(cat, ids, n, id);
    return dom_error_set(DOM_EUNSUPPORTED, "an SQLite catalog has one mover: nothing to claim");
}

int dom_catalog_release(dom_catalog *cat, int64_t id)
{
    return cat->pg ? dom_catpg_release(cat, id) : 0;
}

int dom_catalog_release_all(dom_catalog *cat)
{
    return cat->pg ? dom_catpg_release_all(cat) : 0;
}

int dom_catalog_renew(dom_catalog *cat)
{
    return cat->pg ? dom_catpg_renew(cat) : 0;
}

int dom_catalog_unfinished_among(dom_catalog *cat, const int64_t *ids, size_t n, int retained,
                                 int64_t *count)
{
    if (cat->pg)
        return dom_catpg_unfinished_among(cat, ids, n, retained, count);
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        dom_batch b;
        int rc = dom_catalog_batch_load(cat, ids[i], &b);
        if (rc < 0)
            return rc;
        *count += strcmp(b.step, "done") != 0 && strcmp(b.step, "failed") != 0 &&
                  !(retained && strcmp(b.step, "flipped") == 0);
        dom_batch_free(&b);
    }
    return 0;
}

int dom_catalog_wave_unfinished(dom_catalog *cat, const char *wave, int64_t **ids, size_t *n)
{
    if (cat->pg)
        return dom_catpg_wave_unfinished(cat, wave, ids, n);
    return dom_error_set(DOM_EUNSUPPORTED, "an SQLite catalog has one mover");
}

int dom_catalog_plan_lock(dom_catalog *cat, int lock)
{
    /* an SQLite catalog is held by one process (apply's lock file) */
    return cat->pg ? dom_catpg_plan_lock(cat, lock) : 0;
}

int dom_catalog_query(dom_catalog *cat, const char *sql, dom_row_cb cb, void *payload)
{
    if (cat->pg)
        return dom_catpg_query(cat, sql, cb, payload);
    sqlite3_stmt *st;
    int rc;
    if (!has_directory(cat))
        return 0; /* a catalog created by a reader: nothing in it yet */
    if ((rc = prep(cat, &st, sql)) < 0)
        return rc;
    int nc = sqlite3_column_count(st) < 32 ? sqlite3_column_count(st) : 32;
    const char *vals[32];
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int c = 0; c < nc; c++)
            vals[c] = (const char *)sqlite3_column_text(st, c);
        int r = cb(nc, vals, payload);
        if (r) {
            sqlite3_finalize(st);
            return r;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : cat_fail(cat, "cannot read");
}

/* ---- what status shows (SQL both engines accept) ---- */

static int64_t num(const char *v)
{
    return v ? (int64_t)strtoll(v, NULL, 10) : 0;
}

typedef struct typed_cb {
    int (*region)(const dom_region_count *, void *);
    int (*wave)(const dom_wave_summary *, void *);
    int (*error)(const dom_batch_error *, void *);
    void *payload;
} typed_cb;

static int region_count_row(int nc, const char *const *v, void *arg)
{
    const typed_cb *t = arg;
    if (nc < 3)
        return 0;
    dom_region_count r = {v[0] ? v[0] : "", num(v[1]), num(v[2])};
    return t->region(&r, t->payload);
}

int dom_catalog_region_counts(dom_catalog *cat, int (*cb)(const dom_region_count *, void *),
                              void *payload)
{
    typed_cb t = {.region = cb, .payload = payload};
    return dom_catalog_query(cat,
                             "SELECT region, count(*), count(*) FILTER (WHERE state = 'moving') "
                             "FROM directory GROUP BY region ORDER BY region",
                             region_count_row, &t);
}

static int wave_summary_row(int nc, const char *const *v, void *arg)
{
    const typed_cb *t = arg;
    if (nc < 9)
        return 0;
    dom_wave_summary w = {v[0] ? v[0] : "", num(v[1]), num(v[2]),
                          num(v[3]),        num(v[4]), num(v[5]),
                          num(v[6]),        num(v[7]), v[8] ? strtod(v[8], NULL) : 0.0};
    return t->wave(&w, t->payload);
}

int dom_catalog_wave_summaries(dom_catalog *cat, int (*cb)(const dom_wave_summary *, void *),
                               void *payload)
{
    typed_cb t = {.wave = cb, .payload = payload};
    return dom_catalog_query(
        cat,
        "SELECT wave, count(*), count(*) FILTER (WHERE step = 'done'), count(*) FILTER "
        "(WHERE step = 'failed'), count(*) FILTER (WHERE step = 'flipped'), count(*) FILTER "
        "(WHERE step NOT IN ('done', 'failed', 'flipped')), sum(CASE WHEN step IN ('done', "
        "'flipped') THEN tenants ELSE 0 END), sum(rows), max(pause_ms) FROM batches GROUP "
        "BY wave ORDER BY min(id)",
        wave_summary_row, &t);
}

static int batch_error_row(int nc, const char *const *v, void *arg)
{
    const typed_cb *t = arg;
    if (nc < 3)
        return 0;
    dom_batch_error e = {num(v[0]), v[1] ? v[1] : "", v[2] ? v[2] : ""};
    return t->error(&e, t->payload);
}

int dom_catalog_batch_errors(dom_catalog *cat, int limit,
                             int (*cb)(const dom_batch_error *, void *), void *payload)
{
    typed_cb t = {.error = cb, .payload = payload};
    char sql[160];
    /* the limit is a number of ours, not user data */
    snprintf(sql, sizeof(sql),
             "SELECT id, wave, error FROM batches WHERE error IS NOT NULL ORDER BY id DESC "
             "LIMIT %d",
             limit > 0 ? limit : 1);
    return dom_catalog_query(cat, sql, batch_error_row, &t);
}
