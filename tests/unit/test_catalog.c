/*
 * test_catalog.c - the catalog through core/catalog.h: the directory, the
 * move journal (batches, their tenants, the flip), the catalog's own
 * values, the transfer log's chain, and what status reads.  On an SQLite
 * catalog in a temporary folder; with DOMICILE_TEST_CATALOG_DSN (a
 * postgresql:// DSN with %d, as tests/integration/catalog_pg.sh gives it)
 * the same tests run on PostgreSQL catalogs, %d numbering a fresh database
 * for each catalog the tests open.
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

#include "core/catalog.h"
#include "core/config.h"
#include "util/util.h"

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

static char dir[256];
static int ncfg;

/* A config whose catalog is a fresh one: a new SQLite file, or the next
 * PostgreSQL database of the environment's DSN. */
static dom_config *fresh_config(void)
{
    char path[512], cat[512];
    const char *dsn = getenv("DOMICILE_TEST_CATALOG_DSN");
    snprintf(path, sizeof(path), "%s/c%d.yaml", dir, ++ncfg);
    if (dsn && *dsn) {
        char one[400];
        /* the DSN's %d is the catalog's number, the test's own format */
        snprintf(one, sizeof(one), dsn, ncfg);
        snprintf(cat, sizeof(cat), "\"%s\"", one);
    } else
        snprintf(cat, sizeof(cat), "sqlite:cat%d.db", ncfg);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "catalog: %s\n"
            "regions:\n"
            "  beijing: { dsn: \"sqlite:b.db\", location: CN }\n"
            "  singapore: { dsn: \"sqlite:s.db\", location: SG }\n"
            "tenants: { table: users, key: id, country: country }\n"
            "policy:\n"
            "  - { countries: [CN], home: beijing }\n"
            "  - { countries: [\"*\"], home: singapore }\n"
            "waves:\n"
            "  - { name: asia }\n",
            cat);
    fclose(f);
    dom_config *cfg;
    assert_int_equal(dom_config_load(&cfg, path), 0);
    return cfg;
}

static dom_catalog *open_fresh(dom_config **cfg)
{
    *cfg = fresh_config();
    dom_catalog *cat;
    assert_int_equal(dom_catalog_open(&cat, *cfg, 0), 0);
    return cat;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/domicile-test-catalog-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

typedef struct seen {
    int n;
    char keys[8][16], regions[8][16];
    int64_t epochs[8];
} seen;

static int collect(const char *key, size_t keylen, const char *region, int64_t epoch,
                   const char *state, void *payload)
{
    (void)state;
    seen *s = payload;
    if (s->n < 8) {
        snprintf(s->keys[s->n], sizeof(s->keys[0]), "%.*s", (int)keylen, key);
        snprintf(s->regions[s->n], sizeof(s->regions[0]), "%s", region ? region : "");
        s->epochs[s->n] = epoch;
    }
    s->n++;
    return 0;
}

static void test_readonly_missing(void **state)
{
    (void)state;
    if (getenv("DOMICILE_TEST_CATALOG_DSN"))
        skip(); /* a server's database always exists */
    dom_config *cfg = fresh_config();
    dom_catalog *cat = NULL;
    assert_int_equal(dom_catalog_open(&cat, cfg, DOM_CATALOG_READONLY), DOM_ENOTFOUND);
    assert_non_null(strstr(dom_error_last(), "does not exist yet"));
    dom_config_free(cfg);
}

static void test_directory(void **state)
{
    (void)state;
    dom_config *cfg;
    dom_catalog *cat = open_fresh(&cfg);
    assert_int_equal(dom_catalog_put(cat, "t2", "beijing", 1, "home"), 0);
    assert_int_equal(dom_catalog_put(cat, "t1", "beijing", 4, "home"), 0);
    assert_int_equal(dom_catalog_put(cat, "t3", "singapore", 2, "moving"), 0);
    /* a put replaces */
    assert_int_equal(dom_catalog_put(cat, "t2", "singapore", 7, "home"), 0);
    int64_t n = -1;
    assert_int_equal(dom_catalog_directory_count(cat, &n), 0);
    assert_int_equal(n, 3);
    dom_location loc;
    assert_int_equal(dom_catalog_locate(cat, "t2", &loc), 0);
    assert_string_equal(loc.region, "singapore");
    assert_int_equal(loc.epoch, 7);
    assert_string_equal(loc.state, "home");
    assert_int_equal(dom_catalog_locate(cat, "t3", &loc), 0);
    assert_string_equal(loc.state, "moving");
    assert_int_equal(dom_catalog_locate(cat, "nobody", &loc), DOM_ENOTFOUND);
    seen s = {0};
    assert_int_equal(dom_catalog_scan_directory(cat, collect, &s), 0);
    assert_int_equal(s.n, 3);
    int found = 0;
    for (int i = 0; i < 3; i++)
        if (strcmp(s.keys[i], "t1") == 0 && strcmp(s.regions[i], "beijing") == 0 &&
            s.epochs[i] == 4)
            found = 1;
    assert_true(found);
    dom_catalog_close(cat);
    dom_config_free(cfg);
}

static void test_batch_and_flip(void **state)
{
    (void)state;
    dom_config *cfg;
    dom_catalog *cat = open_fresh(&cfg);
    const char *keys[] = {"k3", "k1", "k2"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(dom_catalog_put(cat, keys[i], "beijing", 2, "home"), 0);
    assert_int_equal(dom_catalog_put(cat, "other", "beijing", 1, "home"), 0);
    int64_t id = 0;
    assert_int_equal(dom_catalog_begin(cat), 0);
    assert_int_equal(dom_catalog_batch_create(cat, "asia", "beijing", "singapore", keys, 3, &id),
                     0);
    assert_int_equal(dom_catalog_commit(cat), 0);
    assert_true(id > 0);
    dom_batch b;
    assert_int_equal(dom_catalog_batch_load(cat, id, &b), 0);
    assert_string_equal(b.step, "new");
    assert_string_equal(b.wave, "asia");
    assert_string_equal(b.src, "beijing");
    assert_string_equal(b.dst, "singapore");
    assert_int_equal(b.nkeys, 3);
    /* keys come back sorted, with their directory epochs */
    assert_string_equal(b.keys[0], "k1");
    assert_string_equal(b.keys[2], "k3");
    assert_int_equal(b.epochs[1], 2);
    int64_t *ids;
    size_t nids;
    assert_int_equal(dom_catalog_batches(cat, "unfinished", &ids, &nids), 0);
    assert_int_equal(nids, 1);
    assert_int_equal(ids[0], id);
    dom_free(ids);
    /* an update is what a load reads back */
    snprintf(b.step, sizeof(b.step), "copied");
    b.rows = 1234;
    b.bytes = 98765;
    b.copy_seq = 17;
    b.pause_ms = 3.25;
    assert_int_equal(dom_catalog_batch_update(cat, &b), 0);
    dom_batch c;
    assert_int_equal(dom_catalog_batch_load(cat, id, &c), 0);
    assert_string_equal(c.step, "copied");
    assert_int_equal(c.rows, 1234);
    assert_int_equal(c.bytes, 98765);
    assert_int_equal(c.copy_seq, 17);
    assert_true(c.pause_ms > 3.24 && c.pause_ms < 3.26);
    dom_batch_free(&c);
    /* the tenants of an unfinished batch are busy */
    seen busy = {0};
    assert_int_equal(dom_catalog_busy_tenants(cat, collect, &busy), 0);
    assert_int_equal(busy.n, 3);
    /* the flip: every tenant of the batch, and only they, live at the
     * destination with the next epoch */
    assert_int_equal(dom_catalog_flip(cat, &b), 0);
    assert_string_equal(b.step, "flipped");
    assert_int_equal(b.epochs[0], 3);
    dom_location loc;
    assert_int_equal(dom_catalog_locate(cat, "k2", &loc), 0);
    assert_string_equal(loc.region, "singapore");
    assert_int_equal(loc.epoch, 3);
    assert_int_equal(dom_catalog_locate(cat, "other", &loc), 0);
    assert_string_equal(loc.region, "beijing");
    assert_int_equal(loc.epoch, 1);
    seen moved = {0};
    assert_int_equal(dom_catalog_wave_tenants(cat, "asia", collect, &moved), 0);
    assert_int_equal(moved.n, 3);
    assert_int_equal(dom_catalog_batches(cat, "flipped", &ids, &nids), 0);
    assert_int_equal(nids, 1);
    dom_free(ids);
    dom_batch_free(&b);
    dom_catalog_close(cat);
    dom_config_free(cfg);
}

static void test_meta(void **state)
{
    (void)state;
    dom_config *cfg;
    dom_catalog *cat = open_fresh(&cfg);
    char v[64] = "junk";
    assert_int_equal(dom_catalog_meta_get(cat, "prepare", v, sizeof(v)), 0);
    assert_string_equal(v, "");
    assert_int_equal(dom_catalog_meta_set(cat, "prepare", "unfinished: singapore"), 0);
    assert_int_equal(dom_catalog_meta_set(cat, "prepare", "done"), 0);
    assert_int_equal(dom_catalog_meta_get(cat, "prepare", v, sizeof(v)), 0);
    assert_string_equal(v, "done");
    dom_catalog_close(cat);
    dom_config_free(cfg);
}

static void hex_sha256(const char *prev, const char *entry, char out[65])
{
    /* the chain's definition, computed apart from dom_log_hash */
    char buf[512];
    unsigned char d[32];
    int n = snprintf(buf, sizeof(buf), "%s\n%s", prev, entry);
    SHA256((const unsigned char *)buf, (size_t)n, d);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

typedef struct chain {
    int n;
    int64_t seq[4];
    char hash[4][65], prev[4][65];
} chain;

static int collect_log(int64_t seq, const char *entry, const char *prev, const char *hash,
                       void *payload)
{
    (void)entry;
    chain *c = payload;
    if (c->n < 4) {
        c->seq[c->n] = seq;
        snprintf(c->hash[c->n], 65, "%s", hash);
        snprintf(c->prev[c->n], 65, "%s", prev);
    }
    c->n++;
    return 0;
}

static void test_transfer_log(void **state)
{
    (void)state;
    dom_config *cfg;
    dom_catalog *cat = open_fresh(&cfg);
    int64_t seq = -1;
    char prev[65], hash[65], want[65], head[65];
    assert_int_equal(dom_catalog_log_head(cat, &seq, head), 0);
    assert_int_equal(seq, 0);
    const char *entries[] = {"{\"batch\":1}", "{\"batch\":2}"};
    char hashes[2][65];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(dom_catalog_begin(cat), 0);
        assert_int_equal(dom_catalog_log_next(cat, &seq, prev), 0);
        assert_int_equal(seq, i + 1);
        /* the first entry chains to 64 zeros */
        assert_string_equal(prev, i ? hashes[0] : ZEROS);
        assert_int_equal(dom_catalog_log_write(cat, seq, entries[i], prev, hash), 0);
        assert_int_equal(dom_catalog_commit(cat), 0);
        hex_sha256(prev, entries[i], want);
        assert_string_equal(hash, want);
        char again[65];
        dom_log_hash(prev, entries[i], again);
        assert_string_equal(again, want);
        snprintf(hashes[i], 65, "%s", hash);
    }
    assert_int_equal(dom_catalog_log_head(cat, &seq, head), 0);
    assert_int_equal(seq, 2);
    assert_string_equal(head, hashes[1]);
    chain c = {0};
    assert_int_equal(dom_catalog_log_scan(cat, collect_log, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.seq[0], 1);
    assert_string_equal(c.prev[1], c.hash[0]);
    assert_string_equal(c.hash[1], hashes[1]);
    /* a transaction rolled back leaves no entry */
    assert_int_equal(dom_catalog_begin(cat), 0);
    assert_int_equal(dom_catalog_log_next(cat, &seq, prev), 0);
    assert_int_equal(dom_catalog_log_write(cat, seq, "{\"batch\":3}", prev, hash), 0);
    dom_catalog_rollback(cat);
    c.n = 0;
    assert_int_equal(dom_catalog_log_scan(cat, collect_log, &c), 0);
    assert_int_equal(c.n, 2);
    dom_catalog_close(cat);
    dom_config_free(cfg);
}

typedef struct status_seen {
    int regions, waves, errors;
    int64_t bj_tenants, moving, done, failed, running, moved;
    char last_error[64];
} status_seen;

static int on_region(const dom_region_count *r, void *p)
{
    status_seen *s = p;
    s->regions++;
    if (strcmp(r->region, "beijing") == 0)
        s->bj_tenants = r->tenants;
    s->moving += r->moving;
    return 0;
}

static int on_wave(const dom_wave_summary *w, void *p)
{
    status_seen *s = p;
    s->waves++;
    s->done += w->done;
    s->failed += w->failed;
    s->running += w->running;
    s->moved += w->tenants_moved;
    return 0;
}

static int on_error(const dom_batch_error *e, void *p)
{
    status_seen *s = p;
    if (!s->errors++)
        snprintf(s->last_error, sizeof(s->last_error), "%s", e->error);
    return 0;
}

static void test_status_queries(void **state)
{
    (void)state;
    dom_config *cfg;
    dom_catalog *cat = open_fresh(&cfg);
    const char *a[] = {"a1", "a2"}, *b[] = {"b1"}, *c[] = {"c1"};
    assert_int_equal(dom_catalog_put(cat, "a1", "beijing", 1, "home"), 0);
    assert_int_equal(dom_catalog_put(cat, "a2", "beijing", 1, "home"), 0);
    assert_int_equal(dom_catalog_put(cat, "b1", "beijing", 1, "moving"), 0);
    assert_int_equal(dom_catalog_put(cat, "c1", "singapore", 1, "home"), 0);
    int64_t ida, idb, idc;
    assert_int_equal(dom_catalog_begin(cat), 0);
    assert_int_equal(dom_catalog_batch_create(cat, "asia", "beijing", "singapore", a, 2, &ida), 0);
    assert_int_equal(dom_catalog_batch_create(cat, "asia", "beijing", "singapore", b, 1, &idb), 0);
    assert_int_equal(dom_catalog_batch_create(cat, "rest", "singapore", "beijing", c, 1, &idc), 0);
    assert_int_equal(dom_catalog_commit(cat), 0);
    dom_batch x;
    assert_int_equal(dom_catalog_batch_load(cat, ida, &x), 0);
    assert_int_equal(dom_catalog_flip(cat, &x), 0);
    snprintf(x.step, sizeof(x.step), "done");
    assert_int_equal(dom_catalog_batch_update(cat, &x), 0);
    dom_batch_free(&x);
    assert_int_equal(dom_catalog_batch_load(cat, idc, &x), 0);
    snprintf(x.step, sizeof(x.step), "failed");
    snprintf(x.error, sizeof(x.error), "region singapore: gone");
    assert_int_equal(dom_catalog_batch_update(cat, &x), 0);
    dom_batch_free(&x);
    status_seen s = {0};
    assert_int_equal(dom_catalog_region_counts(cat, on_region, &s), 0);
    assert_int_equal(dom_catalog_wave_summaries(cat, on_wave, &s), 0);
    assert_int_equal(dom_catalog_batch_errors(cat, 10, on_error, &s), 0);
    assert_int_equal(s.regions, 2);
    assert_int_equal(s.bj_tenants, 1); /* b1; a1 and a2 flipped to singapore */
    assert_int_equal(s.moving, 1);
    assert_int_equal(s.waves, 2);
    assert_int_equal(s.done, 1);
    assert_int_equal(s.failed, 1);
    assert_int_equal(s.running, 1);
    assert_int_equal(s.moved, 2);
    assert_int_equal(s.errors, 1);
    assert_string_equal(s.last_error, "region singapore: gone");
    dom_catalog_close(cat);
    dom_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readonly_missing), cmocka_unit_test(test_directory),
        cmocka_unit_test(test_batch_and_flip),   cmocka_unit_test(test_meta),
        cmocka_unit_test(test_transfer_log),     cmocka_unit_test(test_status_queries),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
