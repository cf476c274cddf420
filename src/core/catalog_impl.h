/*
 * catalog_impl.h - private to catalog.c (SQLite) and catalog_pg.c
 * (PostgreSQL).
 */
#ifndef DOM_CATALOG_IMPL_H
#define DOM_CATALOG_IMPL_H

#include <libpq-fe.h>
#include <sqlite3.h>

#include "core/catalog.h"
#include "util/util.h"

struct dom_catalog {
    sqlite3 *db;
    char *path;      /* for messages: a file, or the server without credentials */
    PGconn *pg;      /* a PostgreSQL catalog */
    char owner[128]; /* this process, as the holder of batch leases */
    long lease_sec;
    int in_tx;
    dom_buf puts; /* directory entries written at commit */
};

double dom__now_sec(void);

int dom_catpg_open(dom_catalog *cat, const char *conninfo);
void dom_catpg_close(dom_catalog *cat);
int dom_catpg_scan_directory(dom_catalog *cat, dom_directory_cb cb, void *payload);
int dom_catpg_directory_count(dom_catalog *cat, int64_t *out);
int dom_catpg_locate(dom_catalog *cat, const char *key, dom_location *out);
int dom_catpg_put(dom_catalog *cat, const char *key, const char *region, int64_t epoch,
                  const char *state);
int dom_catpg_begin(dom_catalog *cat);
int dom_catpg_commit(dom_catalog *cat);
void dom_catpg_rollback(dom_catalog *cat);
int dom_catpg_batch_create(dom_catalog *cat, const char *wave, const char *src, const char *dst,
                           const char *const *keys, size_t n, int64_t *id);
int dom_catpg_batches(dom_catalog *cat, const char *where_step, int64_t **ids, size_t *n);
int dom_catpg_wave_unfinished(dom_catalog *cat, const char *wave, int64_t **ids, size_t *n);
int dom_catpg_batch_load(dom_catalog *cat, int64_t id, dom_batch *b);
int dom_catpg_batch_update(dom_catalog *cat, const dom_batch *b);
int dom_catpg_claim(dom_catalog *cat, const int64_t *ids, size_t n, int64_t *id);
int dom_catpg_release(dom_catalog *cat, int64_t id);
int dom_catpg_release_all(dom_catalog *cat);
int dom_catpg_renew(dom_catalog *cat);
int dom_catpg_unfinished_among(dom_catalog *cat, const int64_t *ids, size_t n, int retained,
                               int64_t *count);
int dom_catpg_plan_lock(dom_catalog *cat, int lock);
int dom_catpg_set_state(dom_catalog *cat, int64_t batch, const char *state);
int dom_catpg_flip(dom_catalog *cat, dom_batch *b);
int dom_catpg_busy_tenants(dom_catalog *cat, dom_directory_cb cb, void *payload);
int dom_catpg_wave_tenants(dom_catalog *cat, const char *wave, dom_directory_cb cb, void *payload);
int dom_catpg_wave_members(dom_catalog *cat, const char *wave, dom_directory_cb cb, void *payload);
int dom_catpg_log_next(dom_catalog *cat, int64_t *seq, char prev[65]);
int dom_catpg_log_write(dom_catalog *cat, int64_t seq, const char *entry, const char *prev,
                        char hash[65]);
int dom_catpg_log_scan(dom_catalog *cat, dom_log_cb cb, void *payload);
int dom_catpg_log_head(dom_catalog *cat, int64_t *seq, char hash[65]);
int dom_catpg_meta_set(dom_catalog *cat, const char *key, const char *value);
int dom_catpg_rows_put(dom_catalog *cat, int64_t batch, const char *const *tbl,
                       const char *const *pk, const char *const *digest, size_t n);
int dom_catpg_meta_get(dom_catalog *cat, const char *key, char *value, size_t n);
int dom_catpg_query(dom_catalog *cat, const char *sql, dom_row_cb cb, void *payload);

#endif
