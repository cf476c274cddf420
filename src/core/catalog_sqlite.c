/*
 * catalog_sqlite.c - the SQLite catalog's own part (catalog_impl.h): its
 * schema in a file that one mover holds at a time (apply's lock file), so
 * no claims or leases.
 */
#include "core/catalog_impl.h"

static const char SQLITE_CATALOG_SCHEMA[] =
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

static int setup(dom_catalog *cat, int flags)
{
    if (flags & DOM_CATALOG_READONLY) {
        /* a reader creates nothing: a catalog without tables yet is
         * empty */
        int64_t n = 0;
        int rc = dom_db_query(cat->db, "cannot read",
                              "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = "
                              "'directory'",
                              NULL, 0, dom_db_keep_int, &n);
        cat->empty = rc == 0 && n == 0;
        return rc;
    }
    int rc = dom_db_script(cat->db, "cannot create schema", "PRAGMA journal_mode=WAL");
    return rc < 0 ? rc : dom_db_script(cat->db, "cannot create schema", SQLITE_CATALOG_SCHEMA);
}

const dom_catalog_engine dom_catalog_sqlite = {
    .name = "sqlite",
    .meta = "domicile_meta",
    .update_tail = " WHERE id = $1",
    .update_args = 12,
    .setup = setup,
};
