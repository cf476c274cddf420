/*
 * test_config.c - the config loader: a valid config, every kind of
 * malformed config against its exact message, DSN forms and redaction,
 * durations, and allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "util/util.h"

#define REGIONS                                                                                    \
    "regions:\n"                                                                                   \
    "  beijing:   { dsn: \"sqlite:regions/beijing.db\", location: CN }\n"                          \
    "  singapore: { dsn: \"postgresql://app:secret@127.0.0.1:5433/app\", location: SG }\n"         \
    "  us-east:   { dsn: \"postgresql:host=127.0.0.1 port=5434 dbname=app\", location: US }\n"

#define TENANTS "tenants: { table: users, key: user_id, country: country }\n"

#define POLICY                                                                                     \
    "policy:\n"                                                                                    \
    "  - { countries: [CN], home: beijing }\n"                                                     \
    "  - { countries: [SG, MY, IN], home: singapore }\n"                                           \
    "  - { countries: [\"*\"], home: us-east, allow: [us-east, singapore] }\n"

static const char valid[] = "catalog: sqlite:domicile.db\n" REGIONS TENANTS "tables:\n"
                            "  - users\n"
                            "  - { table: photos, key: owner_id }\n" POLICY "waves:\n"
                            "  - { name: canary, countries: [SG], percent: 5 }\n"
                            "  - { name: asia, countries: [SG, MY, IN] }\n"
                            "  - { name: rest }\n"
                            "options:\n"
                            "  batch_tenants: 100\n"
                            "  workers: 4\n"
                            "  max_rows_per_second: 0\n"
                            "  retain_source: 2h\n"
                            "  fence_wait: 2m\n";

static void test_valid(void **state)
{
    (void)state;
    dom_config *cfg = NULL;
    int rc = dom_config_parse(&cfg, "t.yaml", valid, strlen(valid));
    if (rc)
        fail_msg("%s", dom_error_last());
    assert_int_equal(cfg->nregions, 3);
    assert_string_equal(cfg->regions[0].name, "beijing");
    assert_int_equal(cfg->regions[0].dsn.kind, DOM_DSN_SQLITE);
    assert_string_equal(cfg->regions[0].dsn.path, "regions/beijing.db");
    assert_int_equal(cfg->regions[1].dsn.kind, DOM_DSN_PG);
    assert_string_equal(cfg->regions[2].dsn.conninfo, "host=127.0.0.1 port=5434 dbname=app");
    assert_string_equal(cfg->regions[1].country, "SG");
    assert_string_equal(cfg->tenants.key, "user_id");
    assert_int_equal(cfg->ntables, 2);
    assert_null(cfg->tables[0].key);
    assert_string_equal(cfg->tables[1].key, "owner_id");
    assert_int_equal(cfg->nrules, 3);
    assert_int_equal(cfg->rules[2].any, 1);
    assert_int_equal(cfg->rules[2].home, 2);
    assert_int_equal(cfg->rules[2].allow, 0x6);
    assert_int_equal(cfg->rules[0].allow, 0x1);
    assert_int_equal(cfg->nwaves, 3);
    assert_true(cfg->waves[0].percent == 5.0);
    assert_true(cfg->waves[2].percent == 100.0);
    assert_int_equal(cfg->waves[2].ncountries, 0);
    assert_int_equal(cfg->options.batch_tenants, 100);
    assert_int_equal(cfg->options.workers, 4);
    assert_int_equal(cfg->options.retain_source_sec, 7200);
    assert_int_equal(cfg->options.fence_wait_sec, 120);
    assert_int_equal(cfg->catalog.kind, DOM_DSN_SQLITE);
    dom_config_free(cfg);
}

/* Each malformed config with the exact message(s) it must produce. */
static const struct {
    const char *yaml;
    const char *message;
} bad[] = {
    /* 1: unknown top-level key */
    {REGIONS TENANTS POLICY "colour: blue\n",
     "t.yaml:10:1: unknown key \"colour\" in the config (expected catalog, regions, tenants, "
     "tables, policy, waves, options, latency, audit)"},
    /* 2: unknown key inside a region */
    {"regions:\n  beijing: { dsn: \"sqlite:b.db\", location: CN, zone: a }\n" TENANTS
     "policy:\n  - { countries: [\"*\"], home: beijing }\n",
     "t.yaml:2:48: unknown key \"zone\" in region \"beijing\" (expected dsn, location, city, "
     "capacity_tenants)"},
    /* 3: unknown region in a policy rule */
    {REGIONS TENANTS "policy:\n  - { countries: [CN], home: beijing }\n"
                     "  - { countries: [\"*\"], home: us-west }\n",
     "t.yaml:8:31: unknown region \"us-west\" in policy rule 2"},
    /* 4: duplicate region */
    {"regions:\n  beijing: { dsn: \"sqlite:a.db\", location: CN }\n"
     "  beijing: { dsn: \"sqlite:b.db\", location: CN }\n" TENANTS
     "policy:\n  - { countries: [\"*\"], home: beijing }\n",
     "t.yaml:3:3: duplicate region \"beijing\" (first defined at 2:3)"},
    /* 5: invalid country code in a rule */
    {REGIONS TENANTS "policy:\n  - { countries: [XX], home: beijing }\n"
                     "  - { countries: [\"*\"], home: us-east }\n",
     "t.yaml:7:19: invalid country code \"XX\" in policy rule 1 (expected an ISO 3166-1 alpha-2 "
     "code such as \"SG\")"},
    /* 6: invalid location */
    {"regions:\n  mars: { dsn: \"sqlite:m.db\", location: MARS }\n" TENANTS
     "policy:\n  - { countries: [\"*\"], home: mars }\n",
     "t.yaml:2:41: invalid country code \"MARS\" in location (expected an ISO 3166-1 alpha-2 code "
     "such as \"SG\")"},
    /* 7: a policy that leaves countries uncovered */
    {REGIONS TENANTS "policy:\n  - { countries: [CN], home: beijing }\n",
     "t.yaml:7:3: policy leaves 249 countries uncovered (AD, AE, AF, AG, AI, AL, AM, AO, ...); "
     "add a rule with countries: [\"*\"]"},
    /* 8: home not in allow */
    {REGIONS TENANTS "policy:\n  - { countries: [\"*\"], home: beijing, allow: [singapore] }\n",
     "t.yaml:7:31: home \"beijing\" of policy rule 1 is not in its allow list"},
    /* 9: percent outside 1..100 */
    {REGIONS TENANTS POLICY "waves:\n  - { name: canary, countries: [SG], percent: 0 }\n",
     "t.yaml:11:47: percent of wave \"canary\" must be between 1 and 100, got 0"},
    /* 10: percent above 100 */
    {REGIONS TENANTS POLICY "waves:\n  - { name: all, percent: 150 }\n",
     "t.yaml:11:27: percent of wave \"all\" must be between 1 and 100, got 150"},
    /* 11: a wave naming a country no rule covers (and the uncovered policy) */
    {REGIONS TENANTS "policy:\n  - { countries: [CN, SG], home: beijing }\n"
                     "waves:\n  - { name: asia, countries: [SG, JP] }\n",
     "t.yaml:7:3: policy leaves 248 countries uncovered (AD, AE, AF, AG, AI, AL, AM, AO, ...); "
     "add a rule with countries: [\"*\"]\n"
     "t.yaml:9:30: wave \"asia\" names country \"JP\" that no policy rule covers"},
    /* 12: a DSN of an unknown kind */
    {"regions:\n  beijing: { dsn: \"mysql://db/app\", location: CN }\n" TENANTS
     "policy:\n  - { countries: [\"*\"], home: beijing }\n",
     "t.yaml:2:19: bad dsn for region \"beijing\": expected sqlite:PATH, postgresql://URI or "
     "postgresql:KEY=VALUE ..."},
    /* 13: a sqlite DSN without a path */
    {"regions:\n  beijing: { dsn: \"sqlite:\", location: CN }\n" TENANTS
     "policy:\n  - { countries: [\"*\"], home: beijing }\n",
     "t.yaml:2:19: bad dsn for region \"beijing\": sqlite DSN has no file path"},
    /* 14: a malformed libpq key=value string */
    {"regions:\n  beijing: { dsn: \"postgresql:host\", location: CN }\n" TENANTS
     "policy:\n  - { countries: [\"*\"], home: beijing }\n",
     "t.yaml:2:19: bad dsn for region \"beijing\": invalid PostgreSQL connection string: missing "
     "\"=\" after \"host\" in connection info string"},
    /* 15: missing dsn */
    {"regions:\n  beijing: { location: CN }\n" TENANTS
     "policy:\n  - { countries: [\"*\"], home: beijing }\n",
     "t.yaml:2:12: missing key \"dsn\" in region \"beijing\""},
    /* 16: YAML syntax error */
    {"regions: [\n", "t.yaml:2:1: YAML syntax error: did not find expected node content while "
                     "parsing a flow node"},
    /* 17: wrong node kind */
    {"regions: [a, b]\n" TENANTS "policy:\n  - { countries: [\"*\"], home: a }\n",
     "t.yaml:1:10: expected a mapping for regions, got a list\n"
     "t.yaml:4:31: unknown region \"a\" in policy rule 1"},
    /* 18: duplicate key in a mapping */
    {REGIONS TENANTS POLICY "options: { workers: 2, workers: 3 }\n",
     "t.yaml:10:24: duplicate key \"workers\" in options"},
    /* 19: bad option values */
    {REGIONS TENANTS POLICY "options: { batch_tenants: lots, retain_source: 3 weeks }\n",
     "t.yaml:10:27: options.batch_tenants must be an integer between 1 and 1000000, got \"lots\"\n"
     "t.yaml:10:48: options.retain_source must be a duration such as 0s, 30m, 12h or 7d, got "
     "\"3 weeks\""},
    /* 19a: workers: auto or 1..64 */
    {REGIONS TENANTS POLICY "options: { workers: many }\n",
     "t.yaml:10:21: options.workers must be auto or an integer between 1 and 64, got \"many\""},
    {REGIONS TENANTS POLICY "options: { workers: 0 }\n",
     "t.yaml:10:21: options.workers must be auto or an integer between 1 and 64, got \"0\""},
    /* 19b: a fence wait of nothing */
    {REGIONS TENANTS POLICY "options: { fence_wait: 0s }\n",
     "t.yaml:10:24: options.fence_wait must be a duration of 1s or more, such as 60s, got \"0s\""},
    /* 20: duplicate wave */
    {REGIONS TENANTS POLICY "waves:\n  - { name: a }\n  - { name: a }\n",
     "t.yaml:12:13: duplicate wave \"a\""},
    /* 21: nearest without allow */
    {REGIONS TENANTS "policy:\n  - { countries: [\"*\"], home: nearest }\n",
     "t.yaml:7:31: home: nearest in policy rule 1 needs an allow list"},
    /* 22: missing sections */
    {"catalog: sqlite:x.db\n", "t.yaml:1:1: missing key \"regions\"\n"
                               "t.yaml:1:1: missing key \"tenants\"\n"
                               "t.yaml:1:1: missing key \"policy\""},
    /* 23: unknown region in allow */
    {REGIONS TENANTS "policy:\n  - { countries: [\"*\"], home: beijing, allow: [beijing, moon] }\n",
     "t.yaml:7:57: unknown region \"moon\" in policy rule 1"},
    /* 24: unknown city */
    {"regions:\n  sg: { dsn: \"sqlite:s.db\", location: SG, city: Atlantis }\n" TENANTS
     "policy:\n  - { countries: [\"*\"], home: sg }\n",
     "t.yaml:2:49: unknown city \"Atlantis\" for region \"sg\" (expected one of Singapore, "
     "Mumbai, Pune, Kuala Lumpur, Jakarta, Hong Kong, Sao Paulo, Virginia, Frankfurt, Shanghai)"},
    /* 25: city in another country than the location */
    {"regions:\n  sg: { dsn: \"sqlite:s.db\", location: SG, city: Mumbai }\n" TENANTS
     "policy:\n  - { countries: [\"*\"], home: sg }\n",
     "t.yaml:2:49: city \"Mumbai\" of region \"sg\" is in IN, not in its location SG"},
    /* 26: a latency override naming an unknown region */
    {REGIONS TENANTS POLICY "latency: { \"IN -> mars\": 60 }\n",
     "t.yaml:10:12: unknown region \"mars\" in latency"},
    /* 27: an empty document */
    {"", "t.yaml: the config is empty"},
};

static void test_bad(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < DOM_ARRAY_LEN(bad); i++) {
        dom_config *cfg = NULL;
        int rc = dom_config_parse(&cfg, "t.yaml", bad[i].yaml, strlen(bad[i].yaml));
        if (rc != DOM_ECONFIG || cfg) {
            print_error("case %zu: expected DOM_ECONFIG, got %d\n", i + 1, rc);
            dom_config_free(cfg);
            failures++;
        } else if (strcmp(dom_error_last(), bad[i].message) != 0) {
            print_error("case %zu:\n  got:      %s\n  expected: %s\n", i + 1, dom_error_last(),
                        bad[i].message);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* options.workers: auto (0) unless given; auto as a word too */
static void test_workers_auto(void **state)
{
    (void)state;
    static const char *const texts[] = {REGIONS TENANTS POLICY,
                                        REGIONS TENANTS POLICY "options: { workers: auto }\n"};
    for (size_t i = 0; i < 2; i++) {
        dom_config *cfg = NULL;
        if (dom_config_parse(&cfg, "t.yaml", texts[i], strlen(texts[i])))
            fail_msg("%s", dom_error_last());
        assert_int_equal(cfg->options.workers, 0);
        dom_config_free(cfg);
    }
}

static void test_load_missing_file(void **state)
{
    (void)state;
    dom_config *cfg;
    assert_int_equal(dom_config_load(&cfg, "/nonexistent/domicile.yaml"), DOM_ECONFIG);
    assert_string_equal(
        dom_error_last(),
        "/nonexistent/domicile.yaml: cannot open config: No such file or directory");
}

static void test_dsn(void **state)
{
    (void)state;
    dom_dsn d;
    assert_int_equal(dom_dsn_parse(&d, "sqlite:data/a.db", "/etc/dom"), 0);
    assert_string_equal(d.path, "/etc/dom/data/a.db");
    dom_dsn_free(&d);
    assert_int_equal(dom_dsn_parse(&d, "sqlite:/abs/a.db", "/etc/dom"), 0);
    assert_string_equal(d.path, "/abs/a.db");
    dom_dsn_free(&d);
    assert_int_equal(dom_dsn_parse(&d, "postgres://u@h/db?sslmode=verify-full", "."), 0);
    assert_int_equal(d.kind, DOM_DSN_PG);
    assert_string_equal(d.conninfo, "postgres://u@h/db?sslmode=verify-full");
    dom_dsn_free(&d);
    assert_int_equal(dom_dsn_parse(&d, "oracle:x", "."), DOM_ECONFIG);
}

static void test_redact(void **state)
{
    (void)state;
    static const char *cases[][2] = {
        {"postgresql://app:s3cret@127.0.0.1:5433/app", "postgresql://app:*****@127.0.0.1:5433/app"},
        {"postgresql://app@h/db?password=s3cret&sslmode=require",
         "postgresql://app@h/db?password=*****&sslmode=require"},
        {"postgresql:host=h password=s3cret dbname=x", "postgresql:host=h password=***** dbname=x"},
        {"postgresql:host=h password='s3 cret' dbname=x",
         "postgresql:host=h password=***** dbname=x"},
        {"sqlite:regions/a.db", "sqlite:regions/a.db"},
        {"postgresql:host=h mypassword=x", "postgresql:host=h mypassword=x"},
    };
    for (size_t i = 0; i < DOM_ARRAY_LEN(cases); i++) {
        char *r = dom_dsn_redact(cases[i][0]);
        assert_non_null(r);
        assert_string_equal(r, cases[i][1]);
        assert_null(strstr(r, "s3"));
        dom_free(r);
    }
}

static void test_duration(void **state)
{
    (void)state;
    assert_int_equal(dom_parse_duration("0s"), 0);
    assert_int_equal(dom_parse_duration("90"), 90);
    assert_int_equal(dom_parse_duration("15m"), 900);
    assert_int_equal(dom_parse_duration("12h"), 43200);
    assert_int_equal(dom_parse_duration("7d"), 604800);
    assert_int_equal(dom_parse_duration("7w"), -1);
    assert_int_equal(dom_parse_duration("-1s"), -1);
    assert_int_equal(dom_parse_duration(""), -1);
}

/* Fails every allocation of the loader in turn: each run must end in an
 * error or a complete config, never a crash or a leak (ASan checks). */
static void test_alloc_failures(void **state)
{
    (void)state;
    int succeeded = 0;
    for (long n = 0; n < 10000 && !succeeded; n++) {
        dom_config *cfg = NULL;
        dom_alloc_fail_after(n);
        int rc = dom_config_parse(&cfg, "t.yaml", valid, strlen(valid));
        dom_alloc_fail_after(-1);
        if (rc == 0) {
            assert_non_null(cfg);
            assert_int_equal(cfg->nwaves, 3);
            succeeded = 1;
        } else {
            assert_null(cfg);
        }
        dom_config_free(cfg);
    }
    assert_true(succeeded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),    cmocka_unit_test(test_workers_auto),
        cmocka_unit_test(test_bad),      cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_dsn),      cmocka_unit_test(test_redact),
        cmocka_unit_test(test_duration), cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
