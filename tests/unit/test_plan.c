/*
 * test_plan.c - the planner on a small demo data set, checked against
 * counts computed independently with SQL and a separate SHA-256 call;
 * the directory as the source of placement; capacity spill.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include "core/catalog.h"
#include "core/config.h"
#include "core/geo.h"
#include "core/plan.h"
#include "core/policy.h"
#include "demo/demo.h"
#include "util/util.h"

#define USERS 400
#define ASIA  "('SG','MY','IN','ID','TH','VN','PH')"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/domicile-test-plan-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    dom_demo_stats st;
    return dom_demo_generate(dir, USERS, 7, &st);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static sqlite3 *region_db(const char *name)
{
    char path[512];
    sqlite3 *db;
    snprintf(path, sizeof(path), "%s/regions/%s.db", dir, name);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

static int64_t sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Rows of the users selected by `where` (on users u) in every tenant table. */
static int64_t rows_of(sqlite3 *db, const char *table, const char *key, const char *where)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM \"%s\" t JOIN users u ON u.user_id = t.\"%s\" WHERE %s", table,
             key, where);
    return sql_int(db, sql);
}

static const char *const keys[DOM_DEMO_TABLES] = {"user_id", "user_id",  "user_id",
                                                  "user_id", "owner_id", "user_id"};

static dom_config *load_demo_config(void)
{
    char path[512];
    dom_config *cfg;
    snprintf(path, sizeof(path), "%s/domicile.yaml", dir);
    if (dom_config_load(&cfg, path) != 0)
        fail_msg("%s", dom_error_last());
    return cfg;
}

/* Independent count of SG users in the 5% canary: SHA-256 of the key text,
 * first 64 bits big-endian, modulo 1,000,000, below 50,000. */
static int64_t canary_count(sqlite3 *db)
{
    sqlite3_stmt *st;
    int64_t n = 0;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT user_id FROM users WHERE country = 'SG'", -1, &st, NULL),
        SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *k = sqlite3_column_text(st, 0);
        unsigned char d[SHA256_DIGEST_LENGTH];
        SHA256(k, (size_t)sqlite3_column_bytes(st, 0), d);
        uint64_t h = 0;
        for (int i = 0; i < 8; i++)
            h = h << 8 | d[i];
        n += h % 1000000 < 50000;
    }
    sqlite3_finalize(st);
    return n;
}

static void test_plan_counts(void **state)
{
    (void)state;
    dom_config *cfg = load_demo_config();
    dom_plan *p;
    if (dom_plan_build(&p, cfg) != 0)
        fail_msg("%s", dom_error_last());
    sqlite3 *db = region_db("beijing");

    assert_string_equal(p->source, "scan");
    assert_int_equal(p->ntenants, USERS);
    assert_int_equal(p->ntables, 6);
    for (int t = 0; t < DOM_DEMO_TABLES; t++)
        assert_string_equal(p->tables[t], dom_demo_table_names[t]);
    assert_int_equal(p->bytes_estimated, 0);

    int64_t asia = sql_int(db, "SELECT count(*) FROM users WHERE country IN " ASIA);
    int64_t rest = sql_int(db, "SELECT count(*) FROM users WHERE country <> 'CN' AND country NOT "
                               "IN " ASIA);
    int64_t canary = canary_count(db);
    assert_true(asia > 0 && rest > 0);
    assert_int_equal(p->waves[0].tenants, canary);
    assert_int_equal(p->waves[0].tenants + p->waves[1].tenants, asia);
    assert_int_equal(p->waves[2].tenants, rest);
    assert_int_equal(p->misplaced, asia + rest);

    int64_t asia_rows = 0, rest_rows = 0;
    for (int t = 0; t < DOM_DEMO_TABLES; t++) {
        int64_t a = rows_of(db, dom_demo_table_names[t], keys[t], "u.country IN " ASIA);
        int64_t r = rows_of(db, dom_demo_table_names[t], keys[t],
                            "u.country <> 'CN' AND u.country NOT IN " ASIA);
        assert_int_equal(p->waves[0].table_rows[t] + p->waves[1].table_rows[t], a);
        assert_int_equal(p->waves[2].table_rows[t], r);
        asia_rows += a;
        rest_rows += r;
    }
    assert_int_equal(p->waves[0].rows + p->waves[1].rows, asia_rows);
    assert_int_equal(p->waves[2].rows, rest_rows);

    /* every asia tenant goes beijing -> singapore */
    assert_int_equal(p->waves[1].npairs, 1);
    assert_int_equal(p->waves[1].pairs[0].from, 0);
    assert_int_equal(p->waves[1].pairs[0].to, 1);
    assert_int_equal(p->waves[1].pairs[0].tenants, p->waves[1].tenants);

    /* compliance: every non-CN user violates now; none once all waves ran */
    assert_int_equal(p->violating_before, asia + rest);
    assert_int_equal(p->waves[0].violating_after, asia + rest - canary);
    assert_int_equal(p->waves[1].violating_after, rest);
    assert_int_equal(p->waves[2].violating_after, 0);
    assert_int_equal(p->waves[3].violating_after, 0);
    assert_int_equal(p->region_before[0], USERS);
    assert_int_equal(p->region_after[0], USERS - asia - rest);
    assert_int_equal(p->region_after[1] + p->region_after[2], asia + rest);
    assert_int_equal(p->orphan_rows, 0);

    /* bytes: summed independently from the values themselves */
    sqlite3_stmt *st;
    int64_t bytes = 0;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT b.* FROM backups b JOIN users u USING (user_id) "
                                        "WHERE u.country <> 'CN' AND u.country NOT IN " ASIA,
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            int type = sqlite3_column_type(st, c);
            bytes += type == SQLITE_NULL                              ? 0
                     : type == SQLITE_INTEGER || type == SQLITE_FLOAT ? 8
                                                                      : sqlite3_column_bytes(st, c);
        }
    sqlite3_finalize(st);
    assert_true(bytes > 0);
    assert_true(p->waves[2].bytes > bytes); /* backups are one of six tables */

    sqlite3_close(db);
    dom_plan_free(p);
    dom_config_free(cfg);
}

static void test_plan_directory(void **state)
{
    (void)state;
    dom_config *cfg = load_demo_config();
    sqlite3 *db = region_db("beijing");
    /* one SG user already lives in singapore, by the directory, and its rows
     * were copied there but not erased from beijing */
    int64_t moved = sql_int(db, "SELECT min(user_id) FROM users WHERE country = 'SG'");
    char sql[1024], key[32];
    snprintf(key, sizeof(key), "%lld", (long long)moved);
    snprintf(sql, sizeof(sql), "ATTACH '%s/regions/singapore.db' AS s", dir);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    for (int t = 0; t < DOM_DEMO_TABLES; t++) {
        snprintf(sql, sizeof(sql), "INSERT INTO s.\"%s\" SELECT * FROM main.\"%s\" WHERE %s = %s",
                 dom_demo_table_names[t], dom_demo_table_names[t], keys[t], key);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    dom_catalog *cat;
    assert_int_equal(dom_catalog_open(&cat, cfg, 0), 0);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT user_id FROM main.users", -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        assert_int_equal(dom_catalog_put(cat, k, strcmp(k, key) == 0 ? "singapore" : "beijing",
                                         strcmp(k, key) == 0 ? 2 : 1, "home"),
                         0);
    }
    sqlite3_finalize(st);
    dom_location loc;
    assert_int_equal(dom_catalog_locate(cat, key, &loc), 0);
    assert_string_equal(loc.region, "singapore");
    assert_int_equal(loc.epoch, 2);
    assert_int_equal(dom_catalog_locate(cat, "no-such-user", &loc), DOM_ENOTFOUND);
    dom_catalog_close(cat);

    dom_plan *p;
    if (dom_plan_build(&p, cfg) != 0)
        fail_msg("%s", dom_error_last());
    int64_t asia = sql_int(db, "SELECT count(*) FROM main.users WHERE country IN " ASIA);
    int64_t rest = sql_int(db, "SELECT count(*) FROM main.users WHERE country <> 'CN' AND "
                               "country NOT IN " ASIA);
    assert_string_equal(p->source, "directory");
    assert_int_equal(p->ntenants, USERS);
    assert_int_equal(p->misplaced, asia + rest - 1);
    assert_int_equal(p->region_before[1], 1);
    /* its leftover rows in beijing keep it in violation until erased */
    assert_int_equal(p->violating_before, asia + rest);
    assert_int_equal(p->waves[3].violating_after, 1);
    dom_plan_free(p);
    sqlite3_close(db);
    dom_config_free(cfg);
    snprintf(sql, sizeof(sql), "%s/domicile.db", dir);
    remove(sql);
}

static void test_capacity_spill(void **state)
{
    (void)state;
    char text[4096], path[512];
    /* the demo config with a capacity on us-east */
    const char *at = strstr(dom_demo_config, "city: Virginia }");
    assert_non_null(at);
    snprintf(text, sizeof(text), "%.*scity: Virginia, capacity_tenants: 20 }%s",
             (int)(at - dom_demo_config), dom_demo_config, at + strlen("city: Virginia }"));
    snprintf(path, sizeof(path), "%s/capacity.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    dom_config *cfg;
    if (dom_config_load(&cfg, path) != 0)
        fail_msg("%s", dom_error_last());
    dom_plan *p;
    if (dom_plan_build(&p, cfg) != 0)
        fail_msg("%s", dom_error_last());
    int64_t to_us = 0, spilled = 0;
    for (size_t i = 0; i < p->ntenants; i++) {
        const dom_plan_tenant *t = &p->tenants[i];
        const char *cc = dom_countries[t->country].code;
        assert_true(dom_policy_allowed(cfg, cc) & ((uint64_t)1 << t->target));
        to_us += t->target == 2;
        spilled += t->target == 1 && dom_policy_home(cfg, cc) == 2;
    }
    assert_int_equal(to_us, 20);
    assert_true(spilled > 0);
    assert_int_equal(p->region_after[2], 20);
    assert_int_equal(p->over_capacity, 0);
    dom_plan_free(p);
    dom_config_free(cfg);
}

static void test_missing_region(void **state)
{
    (void)state;
    dom_config *cfg = load_demo_config();
    free(cfg->regions[2].dsn.path);
    cfg->regions[2].dsn.path = strdup("/nonexistent/us-east.db");
    dom_plan *p;
    assert_int_equal(dom_plan_build(&p, cfg), DOM_EREGION);
    assert_string_equal(dom_error_last(),
                        "region \"us-east\": cannot open /nonexistent/us-east.db: No such file or "
                        "directory");
    dom_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_counts),
        cmocka_unit_test(test_plan_directory),
        cmocka_unit_test(test_capacity_spill),
        cmocka_unit_test(test_missing_region),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
