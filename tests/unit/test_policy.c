/*
 * test_policy.c - policy evaluation (first matching rule wins, allowed
 * sets, nearest), the round-trip model (measured pairs, estimates,
 * overrides) and deterministic percent sampling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/geo.h"
#include "core/latency.h"
#include "core/plan.h"
#include "core/policy.h"
#include "util/util.h"

static dom_config *load(const char *yaml)
{
    dom_config *cfg = NULL;
    if (dom_config_parse(&cfg, "t.yaml", yaml, strlen(yaml)) != 0)
        fail_msg("%s", dom_error_last());
    return cfg;
}

static const char cfg_text[] =
    "regions:\n"
    "  beijing:   { dsn: \"sqlite:b.db\", location: CN }\n"
    "  singapore: { dsn: \"sqlite:s.db\", location: SG }\n"
    "  us-east:   { dsn: \"sqlite:u.db\", location: US, city: Virginia }\n"
    "  frankfurt: { dsn: \"sqlite:f.db\", location: DE }\n"
    "tenants: { table: users, key: id, country: cc }\n"
    "policy:\n"
    "  - { countries: [CN], home: beijing }\n"
    "  - { countries: [SG, MY, IN, CN], home: singapore }\n"
    "  - { countries: [BR], home: nearest, allow: [singapore, us-east] }\n"
    "  - { countries: [\"*\"], home: nearest, allow: [us-east, singapore, frankfurt] }\n"
    "waves:\n"
    "  - { name: canary, countries: [SG], percent: 5 }\n"
    "  - { name: asia, countries: [SG, MY] }\n"
    "  - { name: rest }\n";

static void test_first_rule_wins(void **state)
{
    (void)state;
    dom_config *cfg = load(cfg_text);
    assert_int_equal(dom_policy_rule(cfg, "CN"), 0); /* not rule 2, which also lists CN */
    assert_int_equal(dom_policy_home(cfg, "CN"), 0);
    assert_int_equal(dom_policy_allowed(cfg, "CN"), 0x1);
    assert_int_equal(dom_policy_rule(cfg, "MY"), 1);
    assert_int_equal(dom_policy_home(cfg, "MY"), 1);
    assert_int_equal(dom_policy_rule(cfg, "FR"), 3);
    assert_int_equal(dom_policy_allowed(cfg, "FR"), 0xe);
    dom_config_free(cfg);
}

static void test_nearest(void **state)
{
    (void)state;
    dom_config *cfg = load(cfg_text);
    /* Brazil: Sao Paulo - Virginia 113.5 ms measured, Sao Paulo - Singapore 322 ms */
    assert_int_equal(dom_policy_home(cfg, "BR"), 2);
    /* France and Germany go to frankfurt, Japan and Australia to singapore,
     * Mexico to us-east */
    assert_int_equal(dom_policy_home(cfg, "FR"), 3);
    assert_int_equal(dom_policy_home(cfg, "DE"), 3);
    assert_int_equal(dom_policy_home(cfg, "JP"), 1);
    assert_int_equal(dom_policy_home(cfg, "AU"), 1);
    assert_int_equal(dom_policy_home(cfg, "MX"), 2);
    int cand[DOM_MAX_REGIONS];
    assert_int_equal(dom_policy_candidates(cfg, "BR", cand), 2);
    assert_int_equal(cand[0], 2);
    assert_int_equal(cand[1], 1);
    dom_config_free(cfg);
}

static void test_rtt_model(void **state)
{
    (void)state;
    dom_config *cfg = load(cfg_text);
    dom_rtt_source src;
    /* measured: Mumbai (IN's city) to Singapore */
    assert_true(dom_rtt_country_region(cfg, "IN", 1, &src) == 56);
    assert_int_equal(src, DOM_RTT_MEASURED);
    /* measured through India's second city: Pune - Shanghai */
    assert_true(dom_rtt_country_region(cfg, "IN", 0, &src) == 227);
    assert_int_equal(src, DOM_RTT_MEASURED);
    /* measured: Shanghai (standing in for CN) to Virginia */
    assert_true(dom_rtt_country_region(cfg, "CN", 2, &src) == 290);
    /* estimated: Japan has no measured city */
    double jp = dom_rtt_country_region(cfg, "JP", 1, &src);
    assert_int_equal(src, DOM_RTT_ESTIMATED);
    assert_true(jp > 40 && jp < 150);
    /* the same place costs only the fixed term */
    double sg = dom_rtt_country_region(cfg, "SG", 1, &src);
    assert_int_equal(src, DOM_RTT_ESTIMATED);
    assert_true(sg == dom_rtt_model()->fixed_ms);
    /* the fit: light in fibre needs 1 ms per 100 km of round trip; real
     * paths are longer */
    const dom_rtt_fit *fit = dom_rtt_model();
    assert_true(fit->npairs >= 30);
    assert_true(fit->inflation > 1.0 && fit->inflation < 3.0);
    assert_true(fit->median_err < 0.35);
    dom_config_free(cfg);
}

static void test_override(void **state)
{
    (void)state;
    static const char text[] =
        "regions:\n"
        "  singapore: { dsn: \"sqlite:s.db\", location: SG }\n"
        "  us-east:   { dsn: \"sqlite:u.db\", location: US }\n"
        "tenants: { table: users, key: id, country: cc }\n"
        "policy:\n"
        "  - { countries: [\"*\"], home: nearest, allow: [singapore, us-east] }\n"
        "latency: { \"IN -> singapore\": 500, \"in -> us-east\": 20 }\n";
    dom_config *cfg = load(text);
    dom_rtt_source src;
    assert_true(dom_rtt_country_region(cfg, "IN", 0, &src) == 500);
    assert_int_equal(src, DOM_RTT_OVERRIDE);
    assert_int_equal(dom_policy_home(cfg, "IN"), 1);
    assert_int_equal(dom_policy_home(cfg, "MY"), 0);
    dom_config_free(cfg);
}

/* The sampling hash is SHA-256's first 64 bits; the expected buckets were
 * computed with another SHA-256 implementation. */
static void test_sampling(void **state)
{
    (void)state;
    assert_true(dom_key_hash64("1", 1) == 0x6b86b273ff34fce1ull);
    assert_true(dom_key_hash64("42", 2) == 0x73475cb40a568e8dull);
    /* bucket of "1" is 162913: inside 16.3%, outside 16.29% */
    assert_true(dom_key_sampled("1", 1, 16.3));
    assert_false(dom_key_sampled("1", 1, 16.29));
    assert_true(dom_key_sampled("42", 2, 48.27));
    assert_false(dom_key_sampled("42", 2, 48.26));
    assert_true(dom_key_sampled("user-7", 6, 100));
    /* larger percents take supersets, and the share is close to the percent */
    long in5 = 0, in20 = 0;
    char key[32];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(key, sizeof(key), "%d", i);
        int a = dom_key_sampled(key, (size_t)n, 5), b = dom_key_sampled(key, (size_t)n, 20);
        assert_false(a && !b);
        in5 += a;
        in20 += b;
    }
    assert_in_range(in5, 4700, 5300);
    assert_in_range(in20, 19400, 20600);
}

static void test_assign_wave(void **state)
{
    (void)state;
    dom_config *cfg = load(cfg_text);
    /* "1" falls in bucket 162913 (16.3%): not in the 5% canary, so asia */
    assert_int_equal(dom_plan_assign_wave(cfg, "SG", "1", 1), 1);
    /* find a key inside the canary and check it lands there */
    char key[32];
    int found = 0;
    for (int i = 0; i < 1000 && !found; i++) {
        int n = snprintf(key, sizeof(key), "%d", i);
        if (dom_key_sampled(key, (size_t)n, 5)) {
            assert_int_equal(dom_plan_assign_wave(cfg, "SG", key, (size_t)n), 0);
            assert_int_equal(dom_plan_assign_wave(cfg, "MY", key, (size_t)n), 1);
            found = 1;
        }
    }
    assert_true(found);
    assert_int_equal(dom_plan_assign_wave(cfg, "BR", "1", 1), 2);
    dom_config_free(cfg);
}

static void test_geo(void **state)
{
    (void)state;
    assert_true(dom_ncountries >= 249);
    assert_non_null(dom_country_find("SG"));
    assert_null(dom_country_find("XX"));
    assert_null(dom_country_find("sg"));
    assert_string_equal(dom_city_of_country("IN")->name, "Mumbai");
    /* Singapore - Frankfurt is about 10,260 km */
    const dom_city *a = dom_city_find("singapore"), *b = dom_city_find("Frankfurt");
    double km = dom_geo_distance_km(a->lat, a->lng, b->lat, b->lng);
    assert_in_range((long)km, 10150, 10350);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_rule_wins),
        cmocka_unit_test(test_nearest),
        cmocka_unit_test(test_rtt_model),
        cmocka_unit_test(test_override),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_assign_wave),
        cmocka_unit_test(test_geo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
