/*
 * catalog.h - the control plane's own database: the directory (tenant ->
 * home region, epoch, state), the move journal and the transfer log.  An
 * SQLite file (one mover at a time), or a PostgreSQL server shared by
 * several movers (catalog_pg.c: batches claimed under leases).
 */
#ifndef DOM_CATALOG_H
#define DOM_CATALOG_H

#include <stdint.h>

#include "core/config.h"
#include "domicile.h"

typedef struct dom_catalog dom_catalog;

enum { DOM_CATALOG_READONLY = 1 };

/* Opens the catalog named by the config.  Read-only: DOM_ENOTFOUND when it
 * does not exist yet (nothing is created).  Otherwise it is created with its
 * schema when missing. */
int dom_catalog_open(dom_catalog **out, const dom_config *cfg, int flags);
void dom_catalog_close(dom_catalog *cat);
/* The catalog for messages and reports: its file, or its server and
 * database without credentials. */
const char *dom_catalog_name(const dom_catalog *cat);

typedef int (*dom_directory_cb)(const char *key, size_t keylen, const char *region, int64_t epoch,
                                const char *state, void *payload);
/* Streams every directory entry; returns 0, a store error, or the callback's
 * non-zero value. */
int dom_catalog_scan_directory(dom_catalog *cat, dom_directory_cb cb, void *payload);
/* Number of directory entries. */
int dom_catalog_directory_count(dom_catalog *cat, int64_t *out);
/* One entry; DOM_ENOTFOUND when the directory does not know the key. */
int dom_catalog_locate(dom_catalog *cat, const char *key, dom_location *out);
/* Inserts or replaces one entry (used by prepare and by tests). */
int dom_catalog_put(dom_catalog *cat, const char *key, const char *region, int64_t epoch,
                    const char *state);

/* ---- the move journal ---- */

typedef struct dom_batch {
    int64_t id;
    char wave[80], src[64], dst[64], step[16];
    int64_t tenants, copy_seq, applied_seq, rows, bytes, erased;
    char schema_sig[65];
    double flipped_at, pause_ms;
    int logged; /* the transfer entry is in the log */
    char error[1024];
    char **keys;     /* tenant keys, sorted */
    int64_t *epochs; /* their directory epochs */
    size_t nkeys;
} dom_batch;

int dom_catalog_begin(dom_catalog *cat);
int dom_catalog_commit(dom_catalog *cat);
void dom_catalog_rollback(dom_catalog *cat);
/* Records a new batch (step "new") with its tenants; inside a transaction. */
int dom_catalog_batch_create(dom_catalog *cat, const char *wave, const char *src, const char *dst,
                             const char *const *keys, size_t n, int64_t *id);
/* Ids of the batches in `step`, or "unfinished" (not done or failed). */
int dom_catalog_batches(dom_catalog *cat, const char *step, int64_t **ids, size_t *n);
int dom_catalog_batch_load(dom_catalog *cat, int64_t id, dom_batch *b);
int dom_catalog_batch_update(dom_catalog *cat, const dom_batch *b);
void dom_batch_free(dom_batch *b);
/* Sets the directory state of a batch's tenants. */
int dom_catalog_set_state(dom_catalog *cat, int64_t batch, const char *state);
/* In one transaction: the batch's tenants live in b->dst with epoch + 1,
 * and the batch is "flipped".  Updates b (step, flipped_at, epochs). */
int dom_catalog_flip(dom_catalog *cat, dom_batch *b);
/* Streams the tenants of unfinished batches (key only). */
int dom_catalog_busy_tenants(dom_catalog *cat, dom_directory_cb cb, void *payload);
/* Streams the tenants a wave moved and that still live where it put them,
 * each once: those whose last flipped batch is one of the wave's (a wave
 * applied again after its rollback took them twice), as (key, source
 * region, epoch, current region). */
int dom_catalog_wave_tenants(dom_catalog *cat, const char *wave, dom_directory_cb cb,
                             void *payload);
/* A value of the catalog's own (e.g. "prepare": how the last prepare
 * ended); "" when unset. */
int dom_catalog_meta_set(dom_catalog *cat, const char *key, const char *value);
int dom_catalog_meta_get(dom_catalog *cat, const char *key, char *value, size_t n);
/* The rows a batch transferred (options.transfer_rows): table, primary
 * key (JSON) and SHA-256 of the canonical row, inside the caller's
 * transaction; scanned as (tbl, pk, digest) rows. */
int dom_catalog_rows_put(dom_catalog *cat, int64_t batch, const char *const *tbl,
                         const char *const *pk, const char *const *digest, size_t n);
/* ---- the transfer log: entries chained by SHA-256 ---- */

/* hash = SHA-256(prev || "\n" || entry), as lower-case hex. */
void dom_log_hash(const char *prev, const char *entry, char out[65]);
/* The next entry's number and the hash it must chain to (inside a
 * transaction, with the write that follows). */
int dom_catalog_log_next(dom_catalog *cat, int64_t *seq, char prev[65]);
/* Appends an entry and moves the catalog's record of the head. */
int dom_catalog_log_write(dom_catalog *cat, int64_t seq, const char *entry, const char *prev,
                          char hash[65]);
typedef int (*dom_log_cb)(int64_t seq, const char *entry, const char *prev, const char *hash,
                          void *payload);
int dom_catalog_log_scan(dom_catalog *cat, dom_log_cb cb, void *payload);
/* The head as the catalog recorded it (0 and "" when none). */
int dom_catalog_log_head(dom_catalog *cat, int64_t *seq, char hash[65]);

/* ---- several movers (PostgreSQL catalog) ---- */

/* True when several movers may share this catalog (PostgreSQL). */
int dom_catalog_shared(const dom_catalog *cat);
/* Claims one of `ids` that is unfinished and not held by a live lease
 * (FOR UPDATE SKIP LOCKED); DOM_ENOTFOUND when none is free. */
int dom_catalog_claim(dom_catalog *cat, const int64_t *ids, size_t n, int64_t *id);
/* Gives a claimed batch back; release_all: every batch this process
 * holds (at the end of apply, also after Ctrl-C). */
int dom_catalog_release(dom_catalog *cat, int64_t id);
int dom_catalog_release_all(dom_catalog *cat);
/* Renews the leases of the batches this mover holds (a paused mover keeps
 * them; PostgreSQL catalog, else nothing to do). */
int dom_catalog_renew(dom_catalog *cat);
/* How many of `ids` are unfinished and not held by this process (not
 * counting flipped batches when sources are retained). */
int dom_catalog_unfinished_among(dom_catalog *cat, const int64_t *ids, size_t n, int retained,
                                 int64_t *count);
/* The unfinished batches of a wave. */
int dom_catalog_wave_unfinished(dom_catalog *cat, const char *wave, int64_t **ids, size_t *n);
/* Holds (1) or releases (0) the planning lock: one mover plans at a time. */
int dom_catalog_plan_lock(dom_catalog *cat, int lock);

/* Each row's values as text (NULL for SQL NULL). */
typedef int (*dom_row_cb)(int ncols, const char *const *vals, void *payload);
/* The rows batch `batch` transferred, as (tbl, pk, digest). */
int dom_catalog_rows_scan(dom_catalog *cat, int64_t batch, dom_row_cb cb, void *payload);

/* What `status` shows, from the catalog's tables. */
typedef struct dom_region_count {
    const char *region;
    int64_t tenants, moving;
} dom_region_count;
typedef struct dom_wave_summary {
    const char *wave;
    int64_t batches, done, failed, retained, running;
    int64_t tenants_moved, rows;
    double max_pause_ms;
} dom_wave_summary;
typedef struct dom_batch_error {
    int64_t batch;
    const char *wave, *error;
} dom_batch_error;
/* Tenants per region of the directory (and how many of them are moving),
 * by region name. */
int dom_catalog_region_counts(dom_catalog *cat, int (*cb)(const dom_region_count *, void *),
                              void *payload);
/* Per wave, in the order of its first batch: its batches by step, the
 * tenants of its finished ones, its rows, its longest write pause. */
int dom_catalog_wave_summaries(dom_catalog *cat, int (*cb)(const dom_wave_summary *, void *),
                               void *payload);
/* The `limit` latest batch errors, latest first. */
int dom_catalog_batch_errors(dom_catalog *cat, int limit,
                             int (*cb)(const dom_batch_error *, void *), void *payload);

/* What metrics show: batches per step; rows and bytes moved per region
 * pair (batches flipped or done); every recorded write pause; the transfer
 * log's length; the movers holding leases (a shared catalog), with the
 * seconds since each last renewed one. */
int dom_catalog_step_counts(dom_catalog *cat, int (*cb)(const char *step, int64_t n, void *),
                            void *payload);
int dom_catalog_pair_totals(dom_catalog *cat,
                            int (*cb)(const char *src, const char *dst, int64_t batches,
                                      int64_t rows, int64_t bytes, void *),
                            void *payload);
int dom_catalog_pauses(dom_catalog *cat, int (*cb)(double ms, void *), void *payload);
int dom_catalog_log_count(dom_catalog *cat, int64_t *n);
/* When the journal last changed (seconds since the epoch; 0: never). */
int dom_catalog_last_update(dom_catalog *cat, double *at);
int dom_catalog_movers(dom_catalog *cat, int (*cb)(const char *owner, double since_sec, void *),
                       void *payload);
/* Whether the tenants of batch `id` still live where it put them: none in
 * another region, none in a later batch that did not fail. */
int dom_catalog_batch_untouched(dom_catalog *cat, int64_t id, int *yes);
/* Streams the directory entries of every tenant of a wave's batches. */
int dom_catalog_wave_members(dom_catalog *cat, const char *wave, dom_directory_cb cb,
                             void *payload);

#endif
