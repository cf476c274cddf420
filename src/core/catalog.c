/*
 * catalog.c - the catalog on an SQLite file: schema, directory reads and
 * writes.  It knows nothing of regions' data.
 */
#include <errno.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "core/catalog.h"
#include "util/util.h"

struct dom_catalog {
    sqlite3 *db;
    char *path;
};

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
    ") WITHOUT ROWID;\n";

static int cat_fail(dom_catalog *cat, const char *what)
{
    return dom_error_set(DOM_EREGION, "catalog %s: %s: %s", cat->path, what,
                         sqlite3_errmsg(cat->db));
}

void dom_catalog_close(dom_catalog *cat)
{
    if (!cat)
        return;
    sqlite3_close(cat->db);
    dom_free(cat->path);
    dom_free(cat);
}

int dom_catalog_open(dom_catalog **out, const dom_config *cfg, int flags)
{
    struct stat sb;
    *out = NULL;
    if (cfg->catalog.kind != DOM_DSN_SQLITE)
        return dom_error_set(DOM_EUNSUPPORTED,
                             "a PostgreSQL catalog is not supported in this version yet");
    if ((flags & DOM_CATALOG_READONLY) && stat(cfg->catalog.path, &sb) != 0) {
        if (errno == ENOENT)
            return dom_error_set(DOM_ENOTFOUND, "catalog %s does not exist yet",
                                 cfg->catalog.path);
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
    sqlite3_busy_timeout(cat->db, 10000);
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
