/*
 * test_db.c - the database layer (store/db.h) as the catalog uses it:
 * $N placeholders (also repeated, out of order, and beside a quoted "$1"),
 * typed parameters and columns, NULLs, changed-row counts, a callback
 * that stops a query, a query run from inside another's callback, more
 * statements than the SQLite engine keeps prepared, transactions, and
 * failures that name the database, what failed and (on PostgreSQL) the
 * SQLSTATE.  On an SQLite file in a temporary folder; with
 * DOMICILE_TEST_DB_DSN (a postgresql:// DSN, as catalog_pg.sh gives it)
 * the same tests run on PostgreSQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/db.h"
#include "util/util.h"

static char dir[256];

static dom_db *open_db(void)
{
    static char path[300], conninfo[400];
    dom_dsn dsn = {0};
    const char *env = getenv("DOMICILE_TEST_DB_DSN");
    if (env && *env) {
        snprintf(conninfo, sizeof(conninfo), "%s", env);
        dsn.kind = DOM_DSN_PG;
        dsn.text = conninfo;
        dsn.conninfo = conninfo;
    } else {
        snprintf(path, sizeof(path), "%s/t.db", dir);
        dsn.kind = DOM_DSN_SQLITE;
        dsn.text = path;
        dsn.path = path;
    }
    dom_db *db;
    assert_int_equal(dom_db_open(&db, &dsn, "test", 0), 0);
    assert_int_equal(dom_db_script(db, "reset",
                                   "DROP TABLE IF EXISTS t; CREATE TABLE t (k text PRIMARY KEY, "
                                   "i bigint, r double precision, note text)"),
                     0);
    return db;
}

static int pg(dom_db *db)
{
    return strcmp(dom_db_engine(db), "postgresql") == 0;
}

typedef struct got {
    int rows;
    int64_t i;
    double r;
    char text[64];
    int null3;
    size_t len0;
} got;

static int take(const dom_db_row *row, void *payload)
{
    got *g = payload;
    g->rows++;
    assert_int_equal(dom_db_ncols(row), 4);
    g->len0 = dom_db_len(row, 0);
    g->i = dom_db_int(row, 1);
    g->r = dom_db_real(row, 2);
    snprintf(g->text, sizeof(g->text), "%s", dom_db_text(row, 0));
    g->null3 = dom_db_isnull(row, 3) && dom_db_text(row, 3) == NULL;
    return 0;
}

static int text_col(const dom_db_row *row, void *payload)
{
    snprintf(payload, 16, "%s", dom_db_text(row, 0));
    return 0;
}

static void test_params_and_types(void **state)
{
    (void)state;
    dom_db *db = open_db();
    dom_db_arg a[4] = {DOM_DB_T("k1"),
                       DOM_DB_I(INT64_C(9007199254740993)),
                       DOM_DB_R(0.1),
                       {DOM_DB_NULL, 0, 0, NULL}};
    int64_t changed = -1;
    assert_int_equal(
        dom_db_exec(db, "insert", "INSERT INTO t VALUES ($1, $2, $3, $4)", a, 4, &changed), 0);
    assert_int_equal(changed, 1);
    /* placeholders out of order and repeated; a quoted '$1' is text */
    dom_db_arg b[2] = {DOM_DB_I(2), DOM_DB_T("k1")};
    got g = {0};
    assert_int_equal(dom_db_query(db, "select",
                                  "SELECT k, i + $1 - $1, r, note FROM t WHERE k = $2 AND "
                                  "'$1' = '$1' AND note IS NULL",
                                  b, 2, take, &g),
                     0);
    assert_int_equal(g.rows, 1);
    assert_string_equal(g.text, "k1");
    assert_int_equal(g.len0, 2);
    assert_true(g.i == INT64_C(9007199254740993)); /* all 64 bits */
    assert_true(g.r == 0.1);                       /* the double exactly */
    assert_true(g.null3);
    /* a quoted '$2' and "$1" stay as written */
    dom_db_arg q[1] = {DOM_DB_T("x")};
    char text[16] = "";
    assert_int_equal(
        dom_db_query(db, "quoted", "SELECT '$2' || $1 AS \"$1\"", q, 1, text_col, text), 0);
    assert_string_equal(text, "$2x");
    /* an update's count of changed rows; none when nothing matches */
    dom_db_arg c[2] = {DOM_DB_T("k1"), DOM_DB_T("seen")};
    assert_int_equal(
        dom_db_exec(db, "update", "UPDATE t SET note = $2 WHERE k = $1", c, 2, &changed), 0);
    assert_int_equal(changed, 1);
    c[0] = DOM_DB_T("nobody");
    assert_int_equal(
        dom_db_exec(db, "update", "UPDATE t SET note = $2 WHERE k = $1", c, 2, &changed), 0);
    assert_int_equal(changed, 0);
    dom_db_close(db);
}

static int count_until_three(const dom_db_row *row, void *payload)
{
    (void)row;
    return ++*(int *)payload == 3 ? 42 : 0;
}

typedef struct nested {
    dom_db *db;
    int inner;
} nested;

static int inner_row(const dom_db_row *row, void *payload)
{
    (void)row;
    ((nested *)payload)->inner++;
    return 0;
}

static int outer_row(const dom_db_row *row, void *payload)
{
    nested *n = payload;
    dom_db_arg a[1] = {DOM_DB_T(dom_db_text(row, 0))};
    /* the same statement again, from inside its own callback */
    return dom_db_query(n->db, "inner", "SELECT k FROM t WHERE k >= $1 ORDER BY k", a, 1, inner_row,
                        n);
}

/* Rows k0..k9 with i = 0..9. */
static void insert_ten(dom_db *db)
{
    for (int i = 0; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        dom_db_arg a[2] = {DOM_DB_T(k), DOM_DB_I(i)};
        assert_int_equal(
            dom_db_exec(db, "insert", "INSERT INTO t (k, i) VALUES ($1, $2)", a, 2, NULL), 0);
    }
}

static void test_rows(void **state)
{
    (void)state;
    dom_db *db = open_db();
    insert_ten(db);
    /* a callback's non-zero value ends the query and is returned */
    int seen = 0;
    assert_int_equal(
        dom_db_query(db, "select", "SELECT k FROM t ORDER BY k", NULL, 0, count_until_three, &seen),
        42);
    assert_int_equal(seen, 3);
    /* ... and the connection serves the next statement */
    got g = {0};
    dom_db_arg one[1] = {DOM_DB_T("k7")};
    assert_int_equal(
        dom_db_query(db, "select", "SELECT k, i, r, note FROM t WHERE k = $1", one, 1, take, &g),
        0);
    assert_int_equal(g.i, 7);
    /* a statement from a callback is refused on every engine (the rows
     * stream on the connection), and the db serves the next one */
    nested n = {db, 0};
    dom_db_arg from[1] = {DOM_DB_T("k7")};
    assert_int_equal(dom_db_query(db, "outer", "SELECT k FROM t WHERE k >= $1 ORDER BY k", from, 1,
                                  outer_row, &n),
                     DOM_ERROR);
    assert_non_null(strstr(dom_error_last(), "inside a row callback"));
    assert_int_equal(n.inner, 0);
    got again = {0};
    assert_int_equal(dom_db_query(db, "select", "SELECT k, i, r, note FROM t WHERE k = $1", from, 1,
                                  take, &again),
                     0);
    assert_int_equal(again.i, 7);
    dom_db_close(db);
}

static int one_int(const dom_db_row *row, void *payload)
{
    *(int64_t *)payload = dom_db_int(row, 0);
    return 0;
}

static void test_statement_cache(void **state)
{
    (void)state;
    dom_db *db = open_db();
    insert_ten(db);
    /* more distinct statements than the SQLite engine keeps prepared, each
     * run twice with other parameters: every answer is its own */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 40; i++) {
            char sql[96];
            int64_t v = -1;
            /* the number is the test's own, not user data */
            snprintf(sql, sizeof(sql), "SELECT count(*) + %d FROM t WHERE i < $1", i * 100);
            dom_db_arg a[1] = {DOM_DB_I(round ? 3 : 5)};
            assert_int_equal(dom_db_query(db, "count", sql, a, 1, one_int, &v), 0);
            assert_int_equal(v, i * 100 + (round ? 3 : 5));
        }
    dom_db_close(db);
}

static void test_transactions(void **state)
{
    (void)state;
    dom_db *db = open_db();
    dom_db_arg a[1] = {DOM_DB_T("gone")};
    assert_false(dom_db_in_tx(db));
    assert_int_equal(dom_db_begin(db), 0);
    assert_true(dom_db_in_tx(db));
    assert_int_equal(dom_db_exec(db, "insert", "INSERT INTO t (k) VALUES ($1)", a, 1, NULL), 0);
    dom_db_rollback(db);
    assert_false(dom_db_in_tx(db));
    int64_t n = -1;
    assert_int_equal(dom_db_query(db, "count", "SELECT count(*) FROM t", NULL, 0, one_int, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(dom_db_begin(db), 0);
    a[0] = DOM_DB_T("kept");
    assert_int_equal(dom_db_exec(db, "insert", "INSERT INTO t (k) VALUES ($1)", a, 1, NULL), 0);
    assert_int_equal(dom_db_commit(db), 0);
    assert_int_equal(dom_db_query(db, "count", "SELECT count(*) FROM t", NULL, 0, one_int, &n), 0);
    assert_int_equal(n, 1);
    dom_db_close(db);
}

static void test_failures(void **state)
{
    (void)state;
    dom_db *db = open_db();
    dom_db_arg a[1] = {DOM_DB_T("dup")};
    assert_int_equal(dom_db_exec(db, "insert", "INSERT INTO t (k) VALUES ($1)", a, 1, NULL), 0);
    int rc = dom_db_exec(db, "cannot insert twice", "INSERT INTO t (k) VALUES ($1)", a, 1, NULL);
    assert_int_equal(rc, DOM_EREGION);
    const char *msg = dom_error_last();
    /* the database (by name), what failed, and the engine's own words */
    assert_non_null(strstr(msg, "test "));
    assert_non_null(strstr(msg, dom_db_name(db)));
    assert_non_null(strstr(msg, "cannot insert twice"));
    if (pg(db)) {
        assert_string_equal(dom_db_sqlstate(db), "23505");
        assert_non_null(strstr(msg, "SQLSTATE 23505"));
    } else {
        assert_string_equal(dom_db_sqlstate(db), "");
        assert_non_null(strstr(msg, "UNIQUE"));
    }
    /* a statement that does not parse, by query */
    rc = dom_db_query(db, "cannot read", "SELEKT 1", NULL, 0, one_int, NULL);
    assert_int_equal(rc, DOM_EREGION);
    if (pg(db))
        assert_string_equal(dom_db_sqlstate(db), "42601");
    /* the next statement succeeds and clears the SQLSTATE */
    int64_t n = -1;
    assert_int_equal(dom_db_query(db, "count", "SELECT count(*) FROM t", NULL, 0, one_int, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(dom_db_sqlstate(db), "");
    /* the name never holds a password */
    assert_null(strstr(dom_db_name(db), "password"));
    dom_db_close(db);
}

static void test_missing_file(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof(path), "%s/none.db", dir);
    dom_dsn dsn = {DOM_DSN_SQLITE, path, path, NULL};
    dom_db *db = NULL;
    assert_int_equal(dom_db_open(&db, &dsn, "catalog", DOM_DB_NOCREATE), DOM_ENOTFOUND);
    assert_null(db);
    assert_non_null(strstr(dom_error_last(), "does not exist yet"));
    /* nothing was created */
    FILE *f = fopen(path, "r");
    assert_null(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/domicile-test-db-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_and_types), cmocka_unit_test(test_rows),
        cmocka_unit_test(test_statement_cache),  cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_failures),         cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
