/*
 * move_int.h - private to the mover (mover.c and move_*.c, transfer_log.c):
 * the workers and their region handles, one batch's run, sets of primary
 * keys, and the steps each file implements.
 *
 *   mover.c         dom_apply: checks, waves, rollback, the catalog lock
 *   move_plan.c     batches of a wave or of a rollback
 *   move_pool.c     a pool of workers over a list of batches
 *   move_region.c   fault points, the write pause's right of way, workers
 *                   and their region sessions
 *   move_batch.c    one batch: the table of steps, arm, freeze, flip
 *   move_copy.c     the copy
 *   move_catchup.c  sets of primary keys, catch-up rounds
 *   move_verify.c   the compares and the final sync
 *   move_erase.c    erasure, by batch and by wave
 *   transfer_log.c  the transfer log's entries
 */
#ifndef DOM_MOVE_INT_H
#define DOM_MOVE_INT_H

#include <jansson.h>
#include <pthread.h>

#include "core/catalog.h"
#include "core/mover.h"
#include "core/schema.h"
#include "core/verify.h"
#include "store/store.h"
#include "util/util.h"

#define COPY_CHUNK_ROWS  500
#define COPY_CHUNK_BYTES (8 << 20)
#define CATCHUP_ROUND    2000
#define CATCHUP_SMALL    50
/* Rounds before the freeze whatever the writers do: a hot tenant keeps
 * every round busy, and the frozen final sync takes the rest. */
#define CATCHUP_ROUNDS 20
#define ERASE_TENANTS  256
#define MAX_PENDING    20000

/* ---- workers and their region handles ---------------------------------------- */

typedef struct worker worker;

typedef struct region_h {
    int idx; /* region index in the config */
    worker *w;
    dom_store *st;
    dom_table_info *info;
    size_t ninfo;
    dom_move_table *mt;
    size_t nmt;
} region_h;

struct worker {
    const dom_config *cfg;
    dom_catalog *cat;
    region_h r[DOM_MAX_REGIONS];
    /* its batch is in its write pause, counted in pausing[] (it never
     * waits for itself) */
    int pausing;
    /* rows paid for at the live rate during copies (control.h) */
    int64_t paid;
    int64_t unpaid;
};

/* Workers of this process: taken for a pool, parked between pools, closed
 * at the run's end (move_region.c). */
int dom_mv_worker_take(const dom_config *cfg, worker **out);
void dom_mv_worker_park(worker *w, int ok);
void dom_mv_workers_close(const dom_config *cfg);
/* The worker's session of region idx, opened (and made active) at need. */
int dom_mv_region_open(worker *w, int idx, region_h **out);
/* Forgets what the previous run knew of region idx; rtt_ms is its round
 * trip now. */
void dom_mv_region_reset(int idx, double rtt_ms);
/* The write pause's right of way (move_region.c). */
void dom_mv_pause_enter(int s, int t, int delta);
void dom_mv_yield_to_pause(int region);
/* Seconds since the epoch. */
double dom_mv_wall(void);

/* ---- one batch ------------------------------------------------------------------ */

typedef struct pending {
    size_t table;
    char *pk; /* NULL: the whole table for the batch */
} pending;

typedef struct batch_run {
    worker *w;
    dom_batch b;
    region_h *S, *T;
    pending *todo; /* rows to verify again at the final sync */
    size_t ntodo, captodo;
    int full_verify; /* the final verify compares everything */
    /* the source's content as the last full compare read it: still the
     * transferred content when nothing changed after that compare */
    int have_hash;
    unsigned char hash[32];
    int64_t *hrows, *hbytes;
    /* the copy hashed the source's snapshot into hash/hrows/hbytes (not
     * yet compared with the target); changes replayed since the copy */
    int copy_hashed;
    int64_t replayed;
    dom_content_hash copy_hash;
    int key_changed;
    char key_changed_msg[512];
    double t_freeze;
    /* the source's tenant tables' definitions, read as the freeze
     * committed ("" when the batch did not freeze in this run) */
    char freeze_sig[65];
    dom_apply_stats *stats;
    pthread_mutex_t *stats_mu;
    const dom_apply_opts *opts;
    int waiting; /* ERASE_*: what became of the source copy */
} batch_run;

/* What became of a flipped batch's source copy (move_erase.c): erased,
 * retained (options.retain_source), or left to the wave's erasure. */
enum { ERASE_NOW, ERASE_RETAINED, ERASE_LATER };

/* move_batch.c */
int dom_mv_run_batch(worker *w, int64_t id, dom_apply_stats *stats, pthread_mutex_t *mu,
                     const dom_apply_opts *o, int64_t *moved);
int dom_mv_save_step(batch_run *br, const char *step);
size_t dom_mv_table_index(region_h *h, const char *name);
int dom_mv_add_todo(batch_run *br, size_t table, const char *pk);
void dom_mv_clear_todo(batch_run *br);
int dom_mv_set_keys_both(batch_run *br);
int dom_mv_hash_arrays(batch_run *br);

/* the steps (move_copy.c, move_catchup.c, move_verify.c, move_erase.c) */
int dom_mv_step_copy(batch_run *br);
int dom_mv_step_catchup(batch_run *br);
int dom_mv_step_verify(batch_run *br);
int dom_mv_step_sync(batch_run *br);
int dom_mv_step_erase(batch_run *br);

/* ---- sets of primary keys ---------------------------------------------------------- */

/* Primary keys of one table taken from the change log, parsed once and
 * keyed by the canonical encoding of their values, so that rows read from
 * either engine find their entry. */
typedef struct pkent {
    dom_buf canon;
    dom_buf store; /* the parsed values' text and bytes */
    char *json;
    dom_value v[DOM_PK_MAX];
    int found;   /* read from the source */
    int matched; /* read from the target */
    unsigned char digest[32];
} pkent;

typedef struct pkset {
    pkent *e;
    size_t n, cap;
    dom_value *vals; /* n x npk, for dom_store_cursor_pks */
    /* a table without primary key: the tenants whose rows of it are
     * resynchronized, in the round's pass over the tables */
    char **resync;
    size_t nresync, capresync;
} pkset;

/* move_catchup.c */
void dom_mv_pkset_free(pkset *s);
int dom_mv_pkset_add(pkset *s, const dom_move_table *t, const char *json);
int dom_mv_pkset_finish(pkset *s, const dom_move_table *t);
pkent *dom_mv_pkset_find(pkset *s, const dom_move_table *t, const dom_value *row, dom_buf *tmp);
/* One round of the change log replayed into the target (collect: the rows
 * are listed for the final verify); *seen changes, *more (may be NULL):
 * the log may hold more. */
int dom_mv_catch_up_round(batch_run *br, int collect, int64_t *seen, int *more);

/* move_verify.c: the digest of a row's canonical encoding */
void dom_mv_row_digest(const dom_move_table *t, const dom_value *row, dom_buf *tmp,
                       unsigned char out[32]);

/* move_erase.c */
int dom_mv_delete_rows(region_h *h, const char *const *keys, const int64_t *epochs, size_t nkeys,
                       int64_t *deleted, int erasing);
/* the erasure phase: the due sources of batches `ids` that flipped */
int dom_mv_erase_phase(const dom_config *cfg, const int64_t *ids, size_t nids,
                       const dom_apply_opts *o, dom_apply_stats *stats);

/* transfer_log.c */
int dom_mv_log_transfer(batch_run *br);
int dom_mv_record_erasure(batch_run *br, char *head_out);

/* move_pool.c: runs the batches ids with the configured workers; with a
 * shared catalog they are claimed. */
int dom_mv_run_pool(const dom_config *cfg, const dom_apply_opts *o, int64_t *ids, size_t n,
                    dom_apply_stats *stats, int shared);

/* move_plan.c: tenants in motion, not to be planned again */
typedef struct busy_set {
    char **keys;
    size_t n, cap;
} busy_set;
int dom_mv_busy_load(dom_catalog *cat, busy_set *busy);
void dom_mv_busy_free(busy_set *b);
int dom_mv_plan_wave(dom_catalog *cat, const dom_config *cfg, size_t wave, const busy_set *busy,
                     int64_t **ids, size_t *nids, int64_t *tenants);
int dom_mv_plan_rollback(dom_catalog *cat, const dom_config *cfg, const char *wave,
                         const busy_set *busy, int64_t **ids, size_t *nids, int64_t *tenants);

#endif
