/*
 * test_store.c - the store conformance suite: one set of tests, written
 * against store.h, that every engine must pass.  The region is the DSN in
 * DOMICILE_TEST_STORE_DSN (default: an SQLite file in a temporary folder;
 * tests/integration/store_pg.sh runs it on a PostgreSQL database).  A
 * small harness per engine plays the application: it creates the schema
 * and writes rows the way an application would (sqlite3, libpq), so that
 * the tests see fences and triggers as writers see them.
 *
 * What every engine must do: list tables with their columns' classes,
 * primary keys and parents; stream tenants; give every value in its
 * canonical form (docs/verification.md); read rows ordered by tenant and
 * primary key, by one key and by many; write and delete inside a write;
 * count and delete the rows of a batch's keys; let writers through a
 * capturing fence and log their changes, refuse them at a frozen or moved
 * fence and not touch other tenants; open a missing region or a bad server
 * with an error naming the region.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "core/config.h"
#include "core/schema.h"
#include "store/store.h"
#include "util/util.h"

/* ---- the application's side, per engine ---- */

typedef struct harness {
    const char *engine;
    const char *schema;                                /* the tables, as the application has them */
    const char *row_u1;                                /* u1's row, every type */
    int (*exec)(const char *sql, char *err, size_t n); /* 0 or -1 with the error */
} harness;

static char dir[256], dsn[600];
static const harness *H;
static dom_config *cfg;

static int sqlite_exec(const char *sql, char *err, size_t n)
{
    sqlite3 *db;
    char *msg = NULL;
    if (sqlite3_open(cfg->regions[0].dsn.path, &db) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(db, 5000);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK && err)
        snprintf(err, n, "%s", msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static int pg_exec(const char *sql, char *err, size_t n)
{
    PGconn *c = PQconnectdb(cfg->regions[0].dsn.conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        if (err)
            snprintf(err, n, "%s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (!ok && err)
        snprintf(err, n, "%s %s", state ? state : "", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

static const harness sqlite_harness = {
    "sqlite",
    "CREATE TABLE users (id TEXT PRIMARY KEY, country TEXT, n INTEGER, score REAL, photo BLOB, "
    "flag INTEGER, at TEXT, price NUMERIC, note TEXT);"
    "CREATE TABLE items (user_id TEXT NOT NULL REFERENCES users(id), seq INTEGER, val TEXT, "
    "PRIMARY KEY (user_id, seq));",
    "INSERT INTO users VALUES ('u1', 'SG', 9007199254740993, 0.1, x'00ff0a', 1, "
    "'2026-11-30T08:15:00.5Z', '12.50', NULL)",
    sqlite_exec};

static const harness pg_harness = {
    "postgresql",
    "CREATE TABLE users (id text PRIMARY KEY, country text, n bigint, score double precision, "
    "photo bytea, flag boolean, at timestamptz, price numeric, note text);"
    "CREATE TABLE items (user_id text NOT NULL REFERENCES users(id), seq integer, val text, "
    "PRIMARY KEY (user_id, seq));",
    "INSERT INTO users VALUES ('u1', 'SG', 9007199254740993, 0.1, '\\x00ff0a', true, "
    "'2026-11-30 16:15:00.5+08', 12.50, NULL)",
    pg_exec};

/* ---- the store's side ---- */

static dom_store *st;
static dom_table_info *info;
static size_t ninfo;
static dom_move_table *mt;
static size_t nmt;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/domicile-test-store-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    const char *env = getenv("DOMICILE_TEST_STORE_DSN");
    snprintf(dsn, sizeof(dsn), "%s", env && *env ? env : "sqlite:region.db");
    char path[512];
    snprintf(path, sizeof(path), "%s/store.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f,
            "regions:\n"
            "  here: { dsn: \"%s\", location: SG }\n"
            "  gone: { dsn: \"sqlite:missing/none.db\", location: CN }\n"
            "tenants: { table: users, key: id, country: country }\n"
            "policy:\n"
            "  - { countries: [\"*\"], home: here }\n",
            dsn);
    fclose(f);
    if (dom_config_load(&cfg, path) != 0)
        return -1;
    H = cfg->regions[0].dsn.kind == DOM_DSN_PG ? &pg_harness : &sqlite_harness;
    if (H == &sqlite_harness) {
        sqlite3 *db; /* the application's database exists before domicile */
        if (sqlite3_open(cfg->regions[0].dsn.path, &db) != SQLITE_OK)
            return -1;
        sqlite3_close(db);
    }
    if (H->exec(H->schema, NULL, 0) != 0 || H->exec(H->row_u1, NULL, 0) != 0 ||
        H->exec("INSERT INTO users (id, country, n, note) VALUES ('u2', 'CN', -3, "
                "'\xc3\xa9\xe2\x82\xac');"
                "INSERT INTO users (id, country) VALUES ('u0', 'XX');"
                "INSERT INTO items VALUES ('u1', 2, 'b'), ('u1', 1, 'a'), ('u2', 1, 'c')",
                NULL, 0) != 0)
        return -1;
    if (dom_store_open(&st, &cfg->regions[0], DOM_STORE_MUST_EXIST) != 0 ||
        dom_store_tables(st, &info, &ninfo) != 0 ||
        dom_move_tables(&mt, &nmt, cfg, "here", info, ninfo) != 0)
        return -1;
    /* installed as prepare does, every country allowed */
    static char countries[2][3] = {"SG", "CN"};
    static char codes[3][3] = {"SG", "CN", "US"};
    dom_install spec = {"here", mt, nmt, "country", countries, 2, codes, 3};
    return dom_store_install(st, &spec) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    dom_free(mt);
    dom_table_info_free(info, ninfo);
    dom_store_close(st);
    char err[512] = "";
    if (H == &pg_harness && /* leave the database as it was */
        H->exec("DROP TABLE items; DROP TABLE users", err, sizeof(err)) != 0)
        fprintf(stderr, "teardown: %s\n", err);
    dom_config_free(cfg);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static const dom_move_table *move_table(const char *name)
{
    for (size_t i = 0; i < nmt; i++)
        if (strcmp(mt[i].info->name, name) == 0)
            return &mt[i];
    fail_msg("no move table %s", name);
    return NULL;
}

static void test_tables(void **state)
{
    (void)state;
    assert_string_equal(st->ops->engine, H->engine);
    const dom_table_info *u = dom_table_find(info, ninfo, "users");
    const dom_table_info *it = dom_table_find(info, ninfo, "items");
    assert_non_null(u);
    assert_non_null(it);
    static const struct {
        const char *col;
        dom_col_class cls;
    } want[] = {{"id", DOM_COL_TEXT},    {"n", DOM_COL_INTEGER},    {"score", DOM_COL_REAL},
                {"photo", DOM_COL_BLOB}, {"flag", DOM_COL_INTEGER}, {"note", DOM_COL_TEXT}};
    for (size_t i = 0; i < DOM_ARRAY_LEN(want); i++) {
        const dom_column *c = dom_table_column(u, want[i].col);
        assert_non_null(c);
        if (c->cls != want[i].cls)
            fail_msg("users.%s (%s): class %s, want %s", want[i].col, c->type,
                     dom_col_class_name(c->cls), dom_col_class_name(want[i].cls));
    }
    assert_int_equal(dom_table_column(u, "id")->pk, 1);
    assert_int_equal(dom_table_column(it, "user_id")->pk, 1);
    assert_int_equal(dom_table_column(it, "seq")->pk, 2);
    assert_int_equal(dom_table_column(it, "val")->pk, 0);
    assert_int_equal(it->nparents, 1);
    assert_string_equal(it->parents[0], "users");
    /* domicile's own tables are not the application's */
    for (size_t i = 0; i < ninfo; i++)
        assert_null(strstr(info[i].name, "domicile"));
    /* the mover's view: the tenants table first, then items */
    assert_true(nmt >= 2);
    assert_string_equal(mt[0].info->name, "users");
}

typedef struct tenants_seen {
    int n, sg;
} tenants_seen;

static int on_tenant(const char *key, size_t keylen, const char *country, void *p)
{
    tenants_seen *s = p;
    s->n++;
    if (keylen == 2 && memcmp(key, "u1", 2) == 0 && country && strcmp(country, "SG") == 0)
        s->sg++;
    return 0;
}

static void test_scan_tenants(void **state)
{
    (void)state;
    tenants_seen s = {0};
    assert_int_equal(dom_store_scan_tenants(st, "users", "id", "country", on_tenant, &s), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.sg, 1);
}

static void keys(const char *const *k, size_t n)
{
    assert_int_equal(dom_store_set_keys(st, k, NULL, n), 0);
}

/* The next row of a cursor, or fails. */
static const dom_value *next_row(dom_cursor *c)
{
    const dom_value *v = NULL;
    int rc = dom_store_cursor_next(c, &v);
    if (rc != 1)
        fail_msg("cursor_next: %d (%s)", rc, dom_error_last());
    return v;
}

static void test_canonical_values(void **state)
{
    (void)state;
    const char *k[] = {"u1"};
    keys(k, 1);
    const dom_move_table *u = move_table("users");
    dom_cursor *c;
    assert_int_equal(dom_store_cursor_open(st, u, &c), 0);
    const dom_value *v = next_row(c);
    const dom_table_info *ti = u->info;
#define COL(name) (&v[dom_table_column(ti, name) - ti->cols])
    assert_int_equal(COL("id")->type, DOM_V_TEXT);
    assert_int_equal(COL("n")->type, DOM_V_INT);
    assert_true(COL("n")->i == 9007199254740993LL); /* 2^53 + 1: no trip through a double */
    assert_int_equal(COL("score")->type, DOM_V_REAL);
    assert_true(COL("score")->r == 0.1); /* read back exactly */
    assert_int_equal(COL("photo")->type, DOM_V_BLOB);
    assert_int_equal(COL("photo")->n, 3);
    assert_memory_equal(COL("photo")->p, "\x00\xff\x0a", 3);
    assert_int_equal(COL("flag")->type, DOM_V_INT);
    assert_int_equal(COL("flag")->i, 1);
    assert_int_equal(COL("at")->type, DOM_V_TEXT);
    assert_int_equal(COL("at")->n, strlen("2026-11-30T08:15:00.5Z"));
    assert_memory_equal(COL("at")->p, "2026-11-30T08:15:00.5Z", COL("at")->n);
    assert_int_equal(COL("note")->type, DOM_V_NULL);
#undef COL
    const dom_value *end;
    assert_int_equal(dom_store_cursor_next(c, &end), 0);
    dom_store_cursor_close(c);
}

static void test_cursor_order_and_keys(void **state)
{
    (void)state;
    const char *k[] = {"u1", "u2"};
    keys(k, 2);
    const dom_move_table *it = move_table("items");
    dom_cursor *c;
    assert_int_equal(dom_store_cursor_open(st, it, &c), 0);
    /* ordered by tenant key, then primary key */
    static const char *const want[][2] = {{"u1", "a"}, {"u1", "b"}, {"u2", "c"}};
    for (size_t i = 0; i < 3; i++) {
        const dom_value *v = next_row(c);
        assert_int_equal(v[0].n, 2);
        assert_memory_equal(v[0].p, want[i][0], 2);
        assert_memory_equal(v[2].p, want[i][1], 1);
    }
    const dom_value *end;
    assert_int_equal(dom_store_cursor_next(c, &end), 0);
    dom_store_cursor_close(c);
    int64_t rows = -1;
    assert_int_equal(dom_store_count_keys(st, it, &rows), 0);
    assert_int_equal(rows, 3);
    /* one key: only its rows */
    const char *k1[] = {"u2"};
    keys(k1, 1);
    assert_int_equal(dom_store_count_keys(st, it, &rows), 0);
    assert_int_equal(rows, 1);
    /* by primary key, one and many (a key that is not there is no row);
     * of tenants among the current keys: whether a row of another tenant
     * is read differs between engines (store.h) */
    keys(k, 2);
    dom_value pk[2] = {{DOM_V_TEXT, 0, 0, "u1", 2}, {DOM_V_INT, 2, 0, NULL, 0}};
    assert_int_equal(dom_store_cursor_pk(st, it, pk, &c), 0);
    const dom_value *v = next_row(c);
    assert_memory_equal(v[2].p, "b", 1);
    assert_int_equal(dom_store_cursor_next(c, &end), 0);
    dom_store_cursor_close(c);
    dom_value pks[6] = {{DOM_V_TEXT, 0, 0, "u1", 2}, {DOM_V_INT, 1, 0, NULL, 0},
                        {DOM_V_TEXT, 0, 0, "u9", 2}, {DOM_V_INT, 1, 0, NULL, 0},
                        {DOM_V_TEXT, 0, 0, "u2", 2}, {DOM_V_INT, 1, 0, NULL, 0}};
    assert_int_equal(dom_store_cursor_pks(st, it, pks, 3, &c), 0);
    int n = 0;
    while (dom_store_cursor_next(c, &v) == 1)
        n++;
    dom_store_cursor_close(c);
    assert_int_equal(n, 2);
}

static void test_write_and_delete(void **state)
{
    (void)state;
    const dom_move_table *it = move_table("items");
    const char *k[] = {"u2"};
    keys(k, 1);
    dom_value row[3] = {
        {DOM_V_TEXT, 0, 0, "u2", 2}, {DOM_V_INT, 7, 0, NULL, 0}, {DOM_V_TEXT, 0, 0, "new", 3}};
    assert_int_equal(dom_store_write_begin(st), 0);
    assert_int_equal(dom_store_upsert(st, it, row), 0);
    row[2].p = "newer"; /* an upsert of the same key replaces */
    row[2].n = 5;
    assert_int_equal(dom_store_upsert(st, it, row), 0);
    assert_int_equal(dom_store_write_commit(st), 0);
    dom_cursor *c;
    assert_int_equal(dom_store_cursor_pk(st, it, row, &c), 0);
    const dom_value *v = next_row(c);
    assert_int_equal(v[2].n, 5);
    assert_memory_equal(v[2].p, "newer", 5);
    dom_store_cursor_close(c);
    /* a rolled-back write leaves nothing */
    dom_value other[3] = {
        {DOM_V_TEXT, 0, 0, "u2", 2}, {DOM_V_INT, 8, 0, NULL, 0}, {DOM_V_TEXT, 0, 0, "x", 1}};
    assert_int_equal(dom_store_write_begin(st), 0);
    assert_int_equal(dom_store_upsert(st, it, other), 0);
    dom_store_write_rollback(st);
    int64_t rows;
    assert_int_equal(dom_store_count_keys(st, it, &rows), 0);
    assert_int_equal(rows, 2);
    assert_int_equal(dom_store_write_begin(st), 0);
    assert_int_equal(dom_store_delete_pk(st, it, row), 0);
    assert_int_equal(dom_store_write_commit(st), 0);
    assert_int_equal(dom_store_count_keys(st, it, &rows), 0);
    assert_int_equal(rows, 1);
}

typedef struct changes_seen {
    int n, users;
    char pk[64];
} changes_seen;

static int on_change(int64_t seq, const char *tenant, const char *table, const char *pk_json,
                     int key_changed, void *p)
{
    (void)seq;
    (void)key_changed;
    changes_seen *s = p;
    s->n++;
    if (strcmp(table, "users") == 0 && strcmp(tenant, "u1") == 0) {
        s->users++;
        snprintf(s->pk, sizeof(s->pk), "%s", pk_json ? pk_json : "");
    }
    return 0;
}

/* An application write to u1 or u2: 0 when it went through. */
static int app_write(const char *tenant, char *err, size_t n)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "UPDATE users SET n = n + 1 WHERE id = '%s'", tenant);
    return H->exec(sql, err, n);
}

static void test_fences_as_writers_see_them(void **state)
{
    (void)state;
    char err[512];
    assert_int_equal(dom_store_set_mode(st, mt, nmt, 0, NULL), 0);
    const char *k[] = {"u1"};
    keys(k, 1);
    /* capturing: writes go through and are logged */
    assert_int_equal(dom_store_fence(st, 41, DOM_FENCE_CAPTURING, NULL, 1), 0);
    assert_int_equal(app_write("u1", err, sizeof(err)), 0);
    changes_seen s = {0};
    assert_true(dom_store_changes(st, 41, 0, 100, on_change, &s) >= 1);
    assert_int_equal(s.users, 1);
    assert_string_equal(s.pk, "[\"u1\"]");
    /* frozen: the fenced tenant's writes are refused, others' are not */
    assert_int_equal(dom_store_fence(st, 41, DOM_FENCE_FROZEN, NULL, 1), 0);
    err[0] = '\0';
    assert_int_not_equal(app_write("u1", err, sizeof(err)), 0);
    assert_true(err[0] != '\0');
    assert_int_equal(app_write("u2", err, sizeof(err)), 0);
    /* moved: refused, naming where the tenant lives now */
    assert_int_equal(dom_store_fence(st, 41, DOM_FENCE_MOVED, "elsewhere", 2), 0);
    err[0] = '\0';
    assert_int_not_equal(app_write("u1", err, sizeof(err)), 0);
    assert_non_null(strstr(err, "elsewhere"));
    /* no fence: writes go through again, and the log of the batch is gone */
    assert_int_equal(dom_store_unfence(st), 0);
    assert_int_equal(app_write("u1", err, sizeof(err)), 0);
    s.n = 0;
    assert_true(dom_store_changes(st, 41, 0, 100, on_change, &s) >= 0);
    assert_int_equal(s.n, 0);
}

static void test_meta(void **state)
{
    (void)state;
    char v[64] = "junk";
    assert_int_equal(dom_store_meta_get(st, "test-key", v, sizeof(v)), 0);
    assert_string_equal(v, "");
    assert_int_equal(dom_store_meta_set(st, "test-key", "abc"), 0);
    assert_int_equal(dom_store_meta_get(st, "test-key", v, sizeof(v)), 0);
    assert_string_equal(v, "abc");
}

static void test_open_failures(void **state)
{
    (void)state;
    dom_store *x = NULL;
    /* a missing SQLite region is an error naming it, and nothing is created */
    assert_true(dom_store_open(&x, &cfg->regions[1], DOM_STORE_MUST_EXIST) < 0);
    assert_null(x);
    assert_non_null(strstr(dom_error_last(), "gone"));
    if (H != &pg_harness)
        return;
    /* a server that does not answer: DOM_EREGION naming the region */
    dom_region bad = cfg->regions[0];
    bad.dsn.conninfo = "host=127.0.0.1 port=1 dbname=none connect_timeout=2";
    assert_int_equal(dom_store_open(&x, &bad, DOM_STORE_MUST_EXIST), DOM_EREGION);
    assert_non_null(strstr(dom_error_last(), "here"));
}

static void test_uninstall(void **state)
{
    (void)state;
    char err[512] = "", v[64] = "junk";
    /* a fence left in place goes with the rest */
    const char *k[] = {"u1"};
    keys(k, 1);
    assert_int_equal(dom_store_fence(st, 42, DOM_FENCE_FROZEN, NULL, 1), 0);
    assert_int_equal(dom_store_uninstall(st, mt, nmt), 0);
    assert_int_equal(dom_store_meta_get(st, "test-key", v, sizeof(v)), 0);
    assert_string_equal(v, ""); /* not prepared any more */
    if (app_write("u1", err, sizeof(err)) != 0)
        fail_msg("a write after uninstall: %s", err);
    tenants_seen s = {0};
    assert_int_equal(dom_store_scan_tenants(st, "users", "id", "country", on_tenant, &s), 0);
    assert_int_equal(s.n, 3); /* the data stays */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_scan_tenants),
        cmocka_unit_test(test_canonical_values),
        cmocka_unit_test(test_cursor_order_and_keys),
        cmocka_unit_test(test_write_and_delete),
        cmocka_unit_test(test_fences_as_writers_see_them),
        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_open_failures),
        cmocka_unit_test(test_uninstall),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
