/*
 * mover.c - moves batches of tenants between regions while applications
 * keep writing: arm, copy, catch up, verify, freeze, final sync, flip,
 * erase (DESIGN.md "The move protocol").  Every step is recorded in the
 * catalog's journal before the next begins, and every step can be redone,
 * so a rerun after a crash at any point finishes the job.
 *
 * It talks to regions only through store.h and knows nothing of engines.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/file.h>

#include "core/catalog.h"
#include "core/control.h"
#include "core/geo.h"
#include "core/mover.h"
#include "core/plan.h"
#include "core/policy.h"
#include "core/schema.h"
#include "core/verify.h"
#include "store/store.h"
#include "util/util.h"

volatile sig_atomic_t dom_interrupted;

#define COPY_CHUNK_ROWS  500
#define COPY_CHUNK_BYTES (8 << 20)
#define CATCHUP_ROUND    2000
#define CATCHUP_SMALL    50
/* Rounds before the freeze whatever the writers do: a hot tenant keeps
 * every round busy, and the frozen final sync takes the rest. */
#define CATCHUP_ROUNDS 20
#define ERASE_TENANTS  256
#define MAX_PENDING    20000

/* ---- fault injection ------------------------------------------------------- */

static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;

void dom_fault(const char *point)
{
    static long seen;
    const char *spec = getenv("DOMICILE_FAULT");
    if (!spec || !*spec)
        return;
    size_t n = strcspn(spec, ":");
    if (strlen(point) != n || strncmp(spec, point, n) != 0)
        return;
    long want = spec[n] == ':' ? atol(spec + n + 1) : 1;
    pthread_mutex_lock(&fault_mu);
    long now = ++seen;
    pthread_mutex_unlock(&fault_mu);
    if (now == want) {
        fprintf(stderr, "domicile: injected fault at %s:%ld\n", point, want);
        _exit(99);
    }
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the write pause has the right of way ------------------------------------
 * While a batch is between freeze and flip, the other workers of this
 * process start no bulk write (copy, erase) in the regions it uses: on SQLite
 * one writer at a time means the pause would otherwise wait behind them.
 * Not when one of its regions is far (FAR_MS of round trip or more): such a
 * pause is the network's time, which the others' work does not lengthen,
 * and with the many workers far regions have (options.workers auto) some
 * pause is nearly always on: yielding to it would stop the rest. */

static int pausing[DOM_MAX_REGIONS];
static pthread_mutex_t pausing_mu = PTHREAD_MUTEX_INITIALIZER;
/* the round trip to each region, measured at the run's start */
static double region_rtt[DOM_MAX_REGIONS];
/* whether a session of this run made the region active (region_open) */
enum { MODE_UNKNOWN, MODE_SWITCHING, MODE_ACTIVE };
static int mode_state[DOM_MAX_REGIONS];
static pthread_mutex_t mode_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mode_cv = PTHREAD_COND_INITIALIZER;
#define FAR_MS 10.0

static void pause_enter(int s, int t, int delta)
{
    if (region_rtt[s] >= FAR_MS || region_rtt[t] >= FAR_MS)
        return;
    pthread_mutex_lock(&pausing_mu);
    pausing[s] += delta;
    pausing[t] += delta;
    pthread_mutex_unlock(&pausing_mu);
}

/* Waits (up to a second) while another batch's write pause uses `region`. */
static void yield_to_pause(int region)
{
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&pausing_mu);
        int busy = pausing[region] > 0;
        pthread_mutex_unlock(&pausing_mu);
        if (!busy)
            return;
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
}

/* ---- per-worker region handles ----------------------------------------------- */

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

static void yield_hook(void *payload)
{
    region_h *h = payload;
    if (!h->w->pausing)
        yield_to_pause(h->idx);
}

static int region_open(worker *w, int idx, region_h **out)
{
    region_h *h = &w->r[idx];
    int rc;
    h->idx = idx;
    h->w = w;
    if (!h->st) {
        const dom_region *reg = &w->cfg->regions[idx];
        if ((rc = dom_store_open(&h->st, reg, DOM_STORE_MUST_EXIST)) < 0)
            return rc;
        h->st->before_bulk = yield_hook;
        h->st->before_bulk_payload = h;
        h->st->fence_wait_sec = w->cfg->options.fence_wait_sec;
        /* a prepare that ended before every tenant had its fence row
         * leaves writes of those tenants without the barrier's lock */
        char fences[32];
        rc = dom_store_meta_get(h->st, "fences", fences, sizeof(fences));
        if (rc == 0 && strcmp(fences, "filling") == 0)
            rc = dom_error_set(DOM_EREGION,
                               "region \"%s\": prepare did not finish giving every tenant its "
                               "fence row; run prepare again",
                               reg->name);
        if (rc == 0)
            rc = dom_store_tables(h->st, &h->info, &h->ninfo);
        if (rc == 0)
            rc = dom_move_tables(&h->mt, &h->nmt, w->cfg, reg->name, h->info, h->ninfo);
        /* every write checked while this session is open (a quiet region
         * becomes active first: docs/mover.md "Quiet regions"); the
         * run's first session of the region does it while the others
         * wait here, then read it done (they would otherwise queue on
         * the region's mode row, a round trip each) */
        if (rc == 0) {
            pthread_mutex_lock(&mode_mu);
            while (mode_state[idx] == MODE_SWITCHING)
                pthread_cond_wait(&mode_cv, &mode_mu);
            int first = mode_state[idx] == MODE_UNKNOWN;
            if (first)
                mode_state[idx] = MODE_SWITCHING;
            pthread_mutex_unlock(&mode_mu);
            rc = dom_store_set_mode(h->st, h->mt, h->nmt, 0, NULL);
            if (first) {
                pthread_mutex_lock(&mode_mu);
                mode_state[idx] = rc == 0 ? MODE_ACTIVE : MODE_UNKNOWN;
                pthread_cond_broadcast(&mode_cv);
                pthread_mutex_unlock(&mode_mu);
            }
        }
        if (rc < 0) {
            dom_store_close(h->st);
            h->st = NULL;
            return rc;
        }
    }
    *out = h;
    return 0;
}

static void worker_close(worker *w)
{
    for (size_t i = 0; i < DOM_MAX_REGIONS; i++) {
        dom_free(w->r[i].mt);
        dom_table_info_free(w->r[i].info, w->r[i].ninfo);
        dom_store_close(w->r[i].st);
    }
    dom_catalog_close(w->cat);
    memset(w, 0, sizeof(*w));
}

/* ---- workers kept between the pools of a run ----------------------------------
 * A worker's sessions (its regions, opened when a batch needs them, and
 * the catalog) outlive its pool: the next wave's pool takes them up, and
 * the run closes them at its end (dom_apply), before its regions go quiet.
 * Opening a region costs a dozen round trips (connection, tables, mode),
 * a second or two for a region a continent away. */
#define PARKED_MAX 64
static worker *parked[PARKED_MAX];
static size_t nparked;
static pthread_mutex_t parked_mu = PTHREAD_MUTEX_INITIALIZER;

static int worker_take(const dom_config *cfg, worker **out)
{
    worker *w = NULL;
    pthread_mutex_lock(&parked_mu);
    for (size_t i = 0; i < nparked; i++)
        if (parked[i]->cfg == cfg) {
            w = parked[i];
            parked[i] = parked[--nparked];
            break;
        }
    pthread_mutex_unlock(&parked_mu);
    *out = w;
    if (w)
        return 0;
    if (!(w = dom_calloc(1, sizeof(*w))))
        return DOM_ENOMEM;
    w->cfg = cfg;
    int rc = dom_catalog_open(&w->cat, cfg, 0);
    if (rc < 0) {
        dom_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* Keeps a worker whose batches went well for the next pool; closes one
 * that failed (its sessions may be broken). */
static void worker_park(worker *w, int ok)
{
    w->pausing = 0;
    w->unpaid = 0;
    pthread_mutex_lock(&parked_mu);
    if (ok && nparked < PARKED_MAX) {
        parked[nparked++] = w;
        w = NULL;
    }
    pthread_mutex_unlock(&parked_mu);
    if (w) {
        worker_close(w);
        dom_free(w);
    }
}

/* Closes the kept workers of cfg. */
static void workers_close(const dom_config *cfg)
{
    pthread_mutex_lock(&parked_mu);
    for (size_t i = 0; i < nparked;) {
        if (parked[i]->cfg == cfg) {
            worker_close(parked[i]);
            dom_free(parked[i]);
            parked[i] = parked[--nparked];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&parked_mu);
}

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
} batch_run;

static int save_step(batch_run *br, const char *step)
{
    int rc;
    /* what the step wrote in the regions must be on disk before the
     * journal says it is done */
    if ((rc = dom_store_sync(br->S->st)) < 0 || (rc = dom_store_sync(br->T->st)) < 0)
        return rc;
    snprintf(br->b.step, sizeof(br->b.step), "%s", step);
    return dom_catalog_batch_update(br->w->cat, &br->b);
}

static size_t table_index(region_h *h, const char *name)
{
    for (size_t i = 0; i < h->nmt; i++)
        if (strcmp(h->mt[i].info->name, name) == 0)
            return i;
    return (size_t)-1;
}

static int add_todo(batch_run *br, size_t table, const char *pk)
{
    if (br->full_verify)
        return 0;
    /* a row of a table without a primary key is named by all its values,
     * which no primary-key read takes: the batch's rows of that table are
     * compared whole */
    if (!br->S->mt[table].npk)
        pk = NULL;
    if (br->ntodo >= MAX_PENDING) {
        br->full_verify = 1;
        return 0;
    }
    if (br->ntodo == br->captodo) {
        size_t cap = br->captodo ? br->captodo * 2 : 64;
        pending *g = dom_realloc(br->todo, cap * sizeof(*g));
        if (!g)
            return DOM_ENOMEM;
        br->todo = g;
        br->captodo = cap;
    }
    br->todo[br->ntodo].table = table;
    br->todo[br->ntodo].pk = pk ? dom_strdup(pk) : NULL;
    if (pk && !br->todo[br->ntodo].pk)
        return DOM_ENOMEM;
    br->ntodo++;
    return 0;
}

static void clear_todo(batch_run *br)
{
    for (size_t i = 0; i < br->ntodo; i++)
        dom_free(br->todo[i].pk);
    br->ntodo = 0;
}

static int set_keys_both(batch_run *br)
{
    int rc =
        dom_store_set_keys(br->S->st, (const char *const *)br->b.keys, br->b.epochs, br->b.nkeys);
    if (rc == 0)
        rc = dom_store_set_keys(br->T->st, (const char *const *)br->b.keys, br->b.epochs,
                                br->b.nkeys);
    return rc;
}

/* After each committed erasure write: the fault point "erase" and the pace
 * of options.erase_rows_per_second. */
static void erase_written(const region_h *h, int64_t rows)
{
    dom_fault("erase");
    dom_control_erase_pay(h->w->cfg->options.erase_rows_per_second, rows);
}

/* Deletes the rows of `keys` from a region, children first, a slice of
 * ERASE_TENANTS tenants at a time, in writes of at most the store's
 * write_rows rows (several small tables share a write).  Slicing keeps
 * every statement's key probes proportional to the slice, not to all
 * keys.  Without a row limit (PostgreSQL): one slice, every table in one
 * write (dom_store_delete_keys_all).  The region's key set is `keys`
 * again afterwards. */
static int delete_rows(region_h *h, const char *const *keys, const int64_t *epochs, size_t nkeys,
                       int64_t *deleted, int erasing)
{
    int rc = 0, writing = 0;
    int64_t in_write = 0, chunk = h->st->ops->write_rows;
    *deleted = 0;
    if (!chunk) {
        if ((rc = dom_store_set_keys(h->st, keys, epochs, nkeys)) < 0)
            return rc;
        yield_to_pause(h->idx);
        if ((rc = dom_store_delete_keys_all(h->st, h->mt, h->nmt, deleted)) < 0)
            return rc;
        if (erasing)
            erase_written(h, *deleted);
        return 0;
    }
    for (size_t off = 0; off < nkeys && rc == 0; off += ERASE_TENANTS) {
        size_t n = nkeys - off < ERASE_TENANTS ? nkeys - off : ERASE_TENANTS;
        if ((rc = dom_store_set_keys(h->st, keys + off, epochs ? epochs + off : NULL, n)) < 0)
            break;
        for (size_t i = h->nmt; i-- > 0 && rc == 0;) {
            for (;;) {
                int64_t d = 0, want = chunk - in_write;
                if (!writing) {
                    yield_to_pause(h->idx);
                    if ((rc = dom_store_write_begin(h->st)) < 0)
                        return rc;
                    writing = 1;
                }
                if ((rc = dom_store_delete_keys(h->st, &h->mt[i], want, &d)) < 0) {
                    dom_store_write_rollback(h->st);
                    return rc;
                }
                in_write += d;
                *deleted += d;
                if (in_write >= chunk) {
                    if ((rc = dom_store_write_commit(h->st)) < 0)
                        return rc;
                    writing = 0;
                    if (erasing)
                        erase_written(h, in_write);
                    in_write = 0;
                }
                if (d < want)
                    break; /* this table is done for the slice */
            }
        }
    }
    if (writing && rc < 0) {
        /* a slice's keys could not be staged: its open write is rolled back
         * (the writes committed before stay; a rerun erases the rest) */
        dom_store_write_rollback(h->st);
    } else if (writing) {
        if ((rc = dom_store_write_commit(h->st)) < 0)
            return rc;
        if (erasing && in_write)
            erase_written(h, in_write);
    }
    if (rc == 0)
        rc = dom_store_set_keys(h->st, keys, epochs, nkeys);
    return rc;
}

static int step_arm(batch_run *br)
{
    int rc;
    int64_t stale;
    dom_fault("arm");
    double t0 = dom_mono();
    if ((rc = set_keys_both(br)) < 0)
        return rc;
    double t1 = dom_mono();
    /* the target refuses writers first, then loses any rows left over */
    if ((rc = dom_store_fence(br->T->st, br->b.id, DOM_FENCE_INCOMING, br->b.src, -1)) < 0)
        return rc;
    double t2 = dom_mono();
    if ((rc = delete_rows(br->T, (const char *const *)br->b.keys, br->b.epochs, br->b.nkeys, &stale,
                          0)) < 0)
        return rc;
    double t3 = dom_mono();
    if ((rc = dom_store_fence(br->S->st, br->b.id, DOM_FENCE_CAPTURING, NULL, -1)) < 0)
        return rc;
    dom_log(DOM_LOG_DEBUG,
            "batch %lld: arm: keys %.1f ms, target fenced %.1f ms, %lld stale rows deleted in "
            "%.1f ms, source capturing %.1f ms",
            (long long)br->b.id, (t1 - t0) * 1000, (t2 - t1) * 1000, (long long)stale,
            (t3 - t2) * 1000, (dom_mono() - t3) * 1000);
    double t4 = dom_mono();
    if ((rc = dom_store_schema_sig(br->S->st, br->S->mt, br->S->nmt, br->b.schema_sig)) < 0)
        return rc;
    double t5 = dom_mono();
    if ((rc = dom_catalog_set_state(br->w->cat, br->b.id, "moving")) < 0)
        return rc;
    double t6 = dom_mono();
    rc = save_step(br, "armed");
    dom_log(DOM_LOG_DEBUG,
            "batch %lld: arm: schema signature %.1f ms, directory %.1f ms, journal %.1f ms",
            (long long)br->b.id, (t5 - t4) * 1000, (t6 - t5) * 1000, (dom_mono() - t6) * 1000);
    return rc;
}

static int hash_arrays(batch_run *br)
{
    size_t n = br->S->nmt ? br->S->nmt : 1;
    if (!br->hrows && !(br->hrows = dom_calloc(n, sizeof(int64_t))))
        return DOM_ENOMEM;
    if (!br->hbytes && !(br->hbytes = dom_calloc(n, sizeof(int64_t))))
        return DOM_ENOMEM;
    return 0;
}

/* Rows a copy pays for at a time at the live rate (control.h). */
#define GATE_ROWS 1000

static int copy_row(size_t table, const dom_value *row, void *payload)
{
    batch_run *br = payload;
    if (++br->w->unpaid >= GATE_ROWS) {
        int rc = dom_control_gate(br->w->cat, br->w->unpaid);
        br->w->paid += br->w->unpaid;
        br->w->unpaid = 0;
        if (rc < 0)
            return rc;
    }
    return dom_content_hash_add(&br->copy_hash, table, row, br->S->mt[table].info->ncols);
}

/* The copy hashes the snapshot it copies (docs/mover.md, "Verify"). */
static int copy_hash_begin(batch_run *br)
{
    int rc;
    br->have_hash = br->copy_hashed = 0;
    br->replayed = 0;
    if ((rc = hash_arrays(br)) < 0)
        return rc;
    return dom_content_hash_init(&br->copy_hash, br->hrows, br->hbytes, br->S->nmt);
}

static void copy_hash_end(batch_run *br, int ok)
{
    dom_content_hash_end(&br->copy_hash, ok ? br->hash : NULL);
    br->copy_hashed = ok;
}

static int step_copy(batch_run *br)
{
    double t0 = dom_mono();
    int rc;
    int64_t seq = 0, rows = 0, bytes = 0, chunk_rows = 0, chunk_bytes = 0;
    dom_fault("copy-start");
    if ((rc = copy_hash_begin(br)) < 0)
        return rc;
    /* small batches between two regions of one engine: one statement per table */
    yield_to_pause(br->T->idx);
    dom_copy_watch watch = {copy_row, br, 0};
    rc = dom_store_copy_from(br->T->st, br->S->st, br->S->mt, br->S->nmt, &seq, &rows, &bytes,
                             &watch);
    if (rc != DOM_EUNSUPPORTED)
        copy_hash_end(br, rc == 0 && watch.observed);
    if (rc == 0) {
        dom_fault("copy");
        br->b.copy_seq = br->b.applied_seq = seq;
        br->b.rows = rows;
        br->b.bytes = bytes;
        dom_log(DOM_LOG_DEBUG, "batch %lld: copied %lld rows in %.1f ms", (long long)br->b.id,
                (long long)rows, (dom_mono() - t0) * 1000);
        return save_step(br, "copied");
    }
    if (rc != DOM_EUNSUPPORTED)
        return rc;
    if ((rc = dom_store_snapshot_begin(br->S->st, &seq)) < 0)
        return rc;
    int writing = 0;
    for (size_t t = 0; t < br->S->nmt && rc == 0; t++) {
        dom_cursor *c;
        const dom_value *row;
        if ((rc = dom_store_cursor_open(br->S->st, &br->S->mt[t], &c)) < 0)
            break;
        int h;
        while ((h = dom_store_cursor_next(c, &row)) > 0) {
            if (!writing) {
                yield_to_pause(br->T->idx);
                if ((rc = dom_store_write_begin(br->T->st)) < 0)
                    break;
                writing = 1;
            }
            if ((rc = dom_store_upsert(br->T->st, &br->T->mt[t], row)) < 0 ||
                (rc = copy_row(t, row, br)) < 0)
                break;
            size_t n = br->S->mt[t].info->ncols;
            int64_t rb = 0;
            for (size_t i = 0; i < n; i++)
                rb += row[i].type == DOM_V_TEXT || row[i].type == DOM_V_BLOB ? (int64_t)row[i].n
                      : row[i].type == DOM_V_NULL                            ? 0
                                                                             : 8;
            rows++;
            bytes += rb;
            chunk_rows++;
            chunk_bytes += rb;
            if (br->T->st->ops->write_rows &&
                (chunk_rows >= COPY_CHUNK_ROWS || chunk_bytes >= COPY_CHUNK_BYTES)) {
                writing = 0;
                chunk_rows = chunk_bytes = 0;
                if ((rc = dom_store_write_commit(br->T->st)) < 0)
                    break;
                dom_fault("copy");
                if (dom_interrupted) {
                    rc = dom_error_set(DOM_EINTR, "interrupted");
                    break;
                }
            }
        }
        if (h < 0 && rc == 0)
            rc = h;
        dom_store_cursor_close(c);
    }
    if (writing) {
        if (rc == 0)
            rc = dom_store_write_commit(br->T->st);
        else
            dom_store_write_rollback(br->T->st);
    }
    int rc2 = dom_store_snapshot_end(br->S->st);
    copy_hash_end(br, rc == 0 && rc2 == 0);
    if (rc < 0)
        return rc;
    if (rc2 < 0)
        return rc2;
    br->b.copy_seq = br->b.applied_seq = seq;
    br->b.rows = rows;
    br->b.bytes = bytes;
    return save_step(br, "copied");
}

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

static void pkset_free(pkset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        dom_buf_free(&s->e[i].canon);
        dom_buf_free(&s->e[i].store);
        dom_free(s->e[i].json);
    }
    dom_free(s->e);
    dom_free(s->vals);
    for (size_t i = 0; i < s->nresync; i++)
        dom_free(s->resync[i]);
    dom_free(s->resync);
    memset(s, 0, sizeof(*s));
}

static int pkset_add(pkset *s, const dom_move_table *t, const char *json)
{
    if (t->npk > DOM_PK_MAX)
        return dom_error_set(DOM_ERROR, "table \"%s\": primary key too wide", t->info->name);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        pkent *g = dom_realloc(s->e, cap * sizeof(*g));
        if (!g)
            return DOM_ENOMEM;
        s->e = g;
        s->cap = cap;
    }
    pkent *e = &s->e[s->n];
    memset(e, 0, sizeof(*e));
    e->canon = (dom_buf)DOM_BUF_INIT;
    e->store = (dom_buf)DOM_BUF_INIT;
    s->n++;
    int rc = dom_pk_parse(json, e->v, t->npk, &e->store);
    if (rc < 0)
        return rc;
    dom_row_encode(&e->canon, e->v, (size_t)t->npk);
    if (!(e->json = dom_strdup(json)) || e->canon.oom)
        return DOM_ENOMEM;
    return 0;
}

static int canon_cmp(const dom_buf *a, const dom_buf *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->ptr, b->ptr, n) : 0;
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int pkent_cmp(const void *a, const void *b)
{
    return canon_cmp(&((const pkent *)a)->canon, &((const pkent *)b)->canon);
}

/* Sorts and drops duplicates; lays the values out for cursor_pks. */
static int pkset_finish(pkset *s, const dom_move_table *t)
{
    qsort(s->e, s->n, sizeof(pkent), pkent_cmp);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k && canon_cmp(&s->e[k - 1].canon, &s->e[i].canon) == 0) {
            dom_buf_free(&s->e[i].canon);
            dom_buf_free(&s->e[i].store);
            dom_free(s->e[i].json);
            continue;
        }
        s->e[k++] = s->e[i];
    }
    s->n = k;
    dom_free(s->vals);
    if (!(s->vals = dom_calloc(k ? k * (size_t)t->npk : 1, sizeof(dom_value))))
        return DOM_ENOMEM;
    for (size_t i = 0; i < k; i++)
        memcpy(&s->vals[i * (size_t)t->npk], s->e[i].v, (size_t)t->npk * sizeof(dom_value));
    return 0;
}

/* The entry of a row (by its primary key values), or NULL. */
static pkent *pkset_find(pkset *s, const dom_move_table *t, const dom_value *row, dom_buf *tmp)
{
    dom_value pk[DOM_PK_MAX];
    for (int i = 0; i < t->npk; i++)
        pk[i] = row[t->pk[i]];
    pkent key = {0};
    dom_buf_clear(tmp);
    dom_row_encode(tmp, pk, (size_t)t->npk);
    key.canon = *tmp;
    return bsearch(&key, s->e, s->n, sizeof(pkent), pkent_cmp);
}

/* ---- catch-up --------------------------------------------------------------------- */

typedef struct change_ctx {
    batch_run *br;
    int64_t last;
    int64_t n;
    int collect; /* remember touched rows for the final verify */
    pkset *sets; /* per table, the rows to bring up to date */
} change_ctx;

/* Takes one change: a row to bring up to date (by the round, below), or a
 * table of one tenant without primary key to resynchronize now; inside a
 * write on the target. */
static int take_change(int64_t seq, const char *tenant, const char *table, const char *pk_json,
                       int key_changed, void *payload)
{
    change_ctx *cx = payload;
    batch_run *br = cx->br;
    cx->last = seq;
    cx->n++;
    size_t t = table_index(br->S, table);
    if (t == (size_t)-1)
        return 0; /* a table that is not a tenant table: nothing to move */
    if (key_changed) {
        br->key_changed = 1;
        snprintf(br->key_changed_msg, sizeof(br->key_changed_msg),
                 "table \"%s\": a row of tenant %s (primary key %s) changed its tenant key during "
                 "the move",
                 table, tenant, pk_json ? pk_json : "(none)");
        return 0;
    }
    const dom_move_table *ms = &br->S->mt[t];
    if (pk_json && ms->npk)
        return pkset_add(&cx->sets[t], ms, pk_json);
    /* no primary key: this tenant's rows of the table, resynchronized by
     * the round */
    pkset *ps = &cx->sets[t];
    for (size_t i = 0; i < ps->nresync; i++)
        if (strcmp(ps->resync[i], tenant) == 0)
            return 0;
    if (ps->nresync == ps->capresync) {
        size_t cap = ps->capresync ? ps->capresync * 2 : 16;
        char **g = dom_realloc(ps->resync, cap * sizeof(char *));
        if (!g)
            return DOM_ENOMEM;
        ps->resync = g;
        ps->capresync = cap;
    }
    if (!(ps->resync[ps->nresync] = dom_strdup(tenant)))
        return DOM_ENOMEM;
    ps->nresync++;
    return 0;
}

/* Resynchronizes the rows of table t (without primary key) of the set's
 * tenants: the target's are deleted, the source's copied.  Runs after the
 * tables before t (its parents) are brought up to date, and before rows
 * are deleted (children first): an indirect table's rows are found
 * through the parents' rows on both sides. */
static int resync_table(batch_run *br, size_t t, pkset *ps, int collect)
{
    const dom_move_table *ms = &br->S->mt[t], *mt = &br->T->mt[t];
    const char *const *keys = (const char *const *)ps->resync;
    int64_t d;
    int rc;
    if ((rc = dom_store_set_keys(br->T->st, keys, NULL, ps->nresync)) < 0 ||
        (rc = dom_store_delete_keys(br->T->st, mt, 0, &d)) < 0 ||
        (rc = dom_store_set_keys(br->S->st, keys, NULL, ps->nresync)) < 0)
        return rc;
    dom_cursor *c;
    const dom_value *row;
    if ((rc = dom_store_cursor_open(br->S->st, ms, &c)) < 0)
        return rc;
    int h;
    while ((h = dom_store_cursor_next(c, &row)) > 0)
        if ((rc = dom_store_upsert(br->T->st, mt, row)) < 0)
            break;
    dom_store_cursor_close(c);
    if (rc == 0 && h < 0)
        rc = h;
    if (rc == 0)
        rc = set_keys_both(br);
    if (rc == 0 && collect)
        rc = add_todo(br, t, NULL);
    return rc;
}

/* Brings the rows of the round's sets up to date in the target: the
 * source's current rows are read in one pass per table and upserted
 * (parents first); keys the source no longer has are deleted (children
 * first). */
static int replay_sets(batch_run *br, pkset *sets, int collect)
{
    int rc = 0;
    dom_buf tmp = DOM_BUF_INIT;
    for (size_t t = 0; t < br->S->nmt && rc == 0; t++) {
        pkset *s = &sets[t];
        if (s->nresync && (rc = resync_table(br, t, s, collect)) < 0)
            break;
        if (!s->n)
            continue;
        if ((rc = pkset_finish(s, &br->S->mt[t])) < 0)
            break;
        dom_cursor *c;
        const dom_value *row;
        if ((rc = dom_store_cursor_pks(br->S->st, &br->S->mt[t], s->vals, s->n, &c)) < 0)
            break;
        int h;
        while ((h = dom_store_cursor_next(c, &row)) > 0) {
            pkent *e = pkset_find(s, &br->S->mt[t], row, &tmp);
            if (e)
                e->found = 1;
            if ((rc = dom_store_upsert(br->T->st, &br->T->mt[t], row)) < 0)
                break;
        }
        dom_store_cursor_close(c);
        if (rc == 0 && h < 0)
            rc = h;
    }
    for (size_t t = br->S->nmt; t-- > 0 && rc == 0;) {
        pkset *s = &sets[t];
        for (size_t i = 0; i < s->n && rc == 0; i++) {
            if (!s->e[i].found)
                rc = dom_store_delete_pk(br->T->st, &br->T->mt[t], s->e[i].v);
            if (rc == 0 && collect)
                rc = add_todo(br, t, s->e[i].json);
        }
    }
    dom_buf_free(&tmp);
    return rc;
}

/* Replays one round of the change log; *seen is how many changes (rows)
 * it saw, *more (when not NULL) whether the log may hold more than the
 * round took. */
static int catch_up_round(batch_run *br, int collect, int64_t *seen, int *more)
{
    pkset *sets = dom_calloc(br->S->nmt ? br->S->nmt : 1, sizeof(pkset));
    if (!sets)
        return DOM_ENOMEM;
    change_ctx cx = {br, br->b.applied_seq, 0, collect, sets};
    if (!br->w->pausing)
        yield_to_pause(br->T->idx);
    double t0 = dom_mono();
    int rc = dom_store_write_begin(br->T->st);
    if (rc == 0) {
        rc = dom_store_changes(br->S->st, br->b.id, br->b.applied_seq, CATCHUP_ROUND, take_change,
                               &cx);
        if (rc >= 0) {
            if (more)
                *more = rc >= CATCHUP_ROUND;
            rc = replay_sets(br, sets, collect);
        }
        if (rc < 0)
            dom_store_write_rollback(br->T->st);
        else
            rc = dom_store_write_commit(br->T->st);
    }
    size_t rows = 0;
    for (size_t t = 0; t < br->S->nmt; t++) {
        rows += sets[t].n;
        pkset_free(&sets[t]);
    }
    dom_free(sets);
    if (rc < 0)
        return rc;
    dom_log(DOM_LOG_DEBUG, "batch %lld: catch-up round: %lld changes, %zu rows in %.1f ms",
            (long long)br->b.id, (long long)cx.n, rows, (dom_mono() - t0) * 1000);
    *seen = cx.n;
    br->replayed += cx.n;
    if (br->key_changed)
        return dom_error_set(DOM_EFAILED, "%s", br->key_changed_msg);
    if (cx.n) {
        br->b.applied_seq = cx.last;
        /* inside the write pause the journal waits for the step's end: a
         * resumed final sync replays from the last recorded position,
         * which only repeats work */
        if (!collect && ((rc = dom_store_sync(br->T->st)) < 0 ||
                         (rc = dom_catalog_batch_update(br->w->cat, &br->b)) < 0))
            return rc;
    }
    return 0;
}

static int step_catchup(batch_run *br)
{
    int64_t seen;
    int rc, rounds = 0;
    do {
        if ((rc = catch_up_round(br, 0, &seen, NULL)) < 0)
            return rc;
        dom_fault("catchup");
        if (dom_interrupted)
            return dom_error_set(DOM_EINTR, "interrupted");
    } while (seen >= CATCHUP_SMALL && ++rounds < CATCHUP_ROUNDS);
    return save_step(br, "caught_up");
}

static int collect_diff(size_t table, dom_diff_kind kind, const char *tenant, const char *pk,
                        void *payload)
{
    (void)kind;
    (void)tenant;
    return add_todo(payload, table, pk);
}

/* A compare of every row of the batch: its hash of the source's rows
 * stands for the transfer while nothing changes after it. */
static int verify_all(batch_run *br, dom_diff_cb cb)
{
    br->have_hash = br->copy_hashed = 0;
    int rc = hash_arrays(br);
    if (rc < 0)
        return rc;
    dom_verify_stats vs = {.table_rows = br->hrows, .table_bytes = br->hbytes};
    rc = dom_verify_keys(br->S->st, br->T->st, br->S->mt, br->T->mt, br->S->nmt, cb, br, &vs);
    if (rc < 0)
        return rc;
    memcpy(br->hash, vs.hash_a, 32);
    br->have_hash = 1;
    return 0;
}

/* The target against the hash the copy took of the source's snapshot,
 * when no change was replayed since: equal, the target holds the snapshot
 * and the source has not changed since (every change is in the log).
 * *same is 0 when the target must be compared row by row. */
static int verify_against_copy(batch_run *br, int *same)
{
    *same = 0;
    if (!br->copy_hashed || br->replayed)
        return 0;
    size_t n = br->S->nmt ? br->S->nmt : 1;
    int64_t *rows = dom_calloc(n, sizeof(int64_t)), *bytes = dom_calloc(n, sizeof(int64_t));
    unsigned char h[32];
    int rc = rows && bytes ? 0 : DOM_ENOMEM;
    if (rc == 0)
        rc = dom_hash_keys(br->T->st, br->T->mt, br->T->nmt, rows, bytes, h);
    if (rc == 0) {
        *same = memcmp(h, br->hash, 32) == 0 &&
                memcmp(rows, br->hrows, br->S->nmt * sizeof(int64_t)) == 0 &&
                memcmp(bytes, br->hbytes, br->S->nmt * sizeof(int64_t)) == 0;
        dom_log(DOM_LOG_DEBUG, "batch %lld: the target %s the copy's hash%s", (long long)br->b.id,
                *same ? "matches" : "differs from", *same ? "" : "; comparing every row");
    }
    dom_free(rows);
    dom_free(bytes);
    return rc;
}

static int verify_todo(batch_run *br, int early);

static int step_verify(batch_run *br)
{
    clear_todo(br);
    br->full_verify = 0;
    int same, rc = verify_against_copy(br, &same);
    if (rc < 0)
        return rc;
    if (same) {
        br->copy_hashed = 0;
        br->have_hash = 1;
    } else if ((rc = verify_all(br, collect_diff)) < 0) {
        return rc;
    }
    /* what writers changed while the rows were compared: replayed now, not
     * inside the write pause (and compared again at the final sync) */
    int64_t seen;
    int rounds = 0;
    do {
        if ((rc = catch_up_round(br, 1, &seen, NULL)) < 0)
            return rc;
    } while (seen >= CATCHUP_SMALL && ++rounds < CATCHUP_ROUNDS);
    /* the rows replayed since the compare, compared now rather than inside
     * the write pause; the compare's hash no longer stands for the source */
    if (br->ntodo && !br->full_verify) {
        double t0 = dom_mono();
        size_t n = br->ntodo;
        br->have_hash = 0;
        if ((rc = verify_todo(br, 1)) < 0)
            return rc;
        dom_log(DOM_LOG_DEBUG,
                "batch %lld: %zu of %zu changed rows to compare again after the "
                "freeze (%.1f ms)",
                (long long)br->b.id, br->ntodo, n, (dom_mono() - t0) * 1000);
    }
    return save_step(br, "verified");
}

static int step_freeze(batch_run *br)
{
    double t0 = dom_mono();
    pause_enter(br->S->idx, br->T->idx, 1);
    br->w->pausing = 1;
    /* the schema check rides on the freeze's round trip */
    int rc = dom_store_fence_sig(br->S->st, br->b.id, DOM_FENCE_FROZEN, NULL, -1, br->S->mt,
                                 br->S->nmt, br->freeze_sig);
    if (rc < 0)
        return rc;
    br->t_freeze = t0;
    dom_log(DOM_LOG_DEBUG, "batch %lld: freeze in %.1f ms", (long long)br->b.id,
            (dom_mono() - t0) * 1000);
    dom_fault("freeze");
    /* not journaled: inside the write pause every catalog commit counts,
     * and a batch resumed at "verified" compares every row and freezes
     * again (a fence change is idempotent) */
    return 0;
}

static int fail_diff(size_t table, dom_diff_kind kind, const char *tenant, const char *pk,
                     void *payload)
{
    (void)tenant;
    batch_run *br = payload;
    static const char *const kinds[] = {"", "missing in the target", "extra in the target",
                                        "different in the target"};
    dom_error_set(DOM_EFAILED, "table \"%s\": row %s is %s after the final sync",
                  br->S->mt[table].info->name, pk, kinds[kind]);
    return DOM_EFAILED;
}

/* Digest of a row's canonical encoding. */
static void row_digest(const dom_move_table *t, const dom_value *row, dom_buf *tmp,
                       unsigned char out[32])
{
    dom_buf_clear(tmp);
    dom_row_encode(tmp, row, t->info->ncols);
    dom_sha256(tmp->ptr ? tmp->ptr : "", tmp->len, out);
}

static int count_diff(size_t table, dom_diff_kind kind, const char *tenant, const char *pk,
                      void *payload)
{
    (void)table;
    (void)kind;
    (void)tenant;
    (void)pk;
    (*(size_t *)payload)++;
    return 0;
}

/* Compares the rows the catch-up touched, one pass per table and side.
 * At the final sync (source frozen) a difference fails the batch.  Before
 * the freeze (`early`), writers still write: the rows that match leave the
 * list, the others stay for the final sync.  That is sound because a row
 * written after it matched has its change logged, replayed by the final
 * sync and so listed again. */
static int verify_todo(batch_run *br, int early)
{
    int rc = 0;
    pkset *sets = dom_calloc(br->S->nmt ? br->S->nmt : 1, sizeof(pkset));
    int *whole = dom_calloc(br->S->nmt ? br->S->nmt : 1, sizeof(int));
    if (!sets || !whole) {
        dom_free(sets);
        dom_free(whole);
        return DOM_ENOMEM;
    }
    for (size_t i = 0; i < br->ntodo && rc == 0; i++) {
        pending *p = &br->todo[i];
        if (!p->pk)
            whole[p->table] = 1;
        else
            rc = pkset_add(&sets[p->table], &br->S->mt[p->table], p->pk);
    }
    dom_buf tmp = DOM_BUF_INIT;
    for (size_t t = 0; t < br->S->nmt && rc == 0; t++) {
        const dom_move_table *ms = &br->S->mt[t], *mt = &br->T->mt[t];
        if (whole[t]) {
            dom_verify_stats vs = {0};
            size_t ndiff = 0;
            rc = dom_verify_keys(br->S->st, br->T->st, ms, mt, 1, early ? count_diff : fail_diff,
                                 early ? (void *)&ndiff : br, &vs);
            whole[t] = ndiff > 0; /* early: still to compare */
            continue;
        }
        pkset *s = &sets[t];
        if (!s->n)
            continue;
        if ((rc = pkset_finish(s, ms)) < 0)
            break;
        for (int side = 0; side < 2 && rc == 0; side++) {
            const dom_move_table *tt = side ? mt : ms;
            dom_cursor *c;
            const dom_value *row;
            if ((rc = dom_store_cursor_pks(side ? br->T->st : br->S->st, tt, s->vals, s->n, &c)) <
                0)
                break;
            int h;
            while ((h = dom_store_cursor_next(c, &row)) > 0 && rc == 0) {
                unsigned char d[32];
                pkent *e = pkset_find(s, tt, row, &tmp);
                if (!e)
                    continue;
                row_digest(tt, row, &tmp, d);
                if (!side) {
                    e->found = 1;
                    memcpy(e->digest, d, 32);
                } else if (early) {
                    e->matched = e->found && memcmp(e->digest, d, 32) == 0;
                    e->found = !e->matched; /* found: still to compare */
                } else if (!e->found) {
                    rc = fail_diff(t, DOM_DIFF_EXTRA, NULL, e->json, br);
                } else if (memcmp(e->digest, d, 32) != 0) {
                    rc = fail_diff(t, DOM_DIFF_CHANGED, NULL, e->json, br);
                } else {
                    e->matched = 1;
                }
            }
            dom_store_cursor_close(c);
            if (rc == 0 && h < 0)
                rc = h;
        }
        for (size_t i = 0; i < s->n && rc == 0 && !early; i++)
            if (s->e[i].found && !s->e[i].matched)
                rc = fail_diff(t, DOM_DIFF_MISSING, NULL, s->e[i].json, br);
    }
    if (early && rc == 0) {
        /* the list again, with what did not match: a row in the source
         * only (found, never matched) or in the target only or different
         * (found reset to 1 above); a row in neither side matches */
        clear_todo(br);
        for (size_t t = 0; t < br->S->nmt && rc == 0; t++) {
            if (whole[t])
                rc = add_todo(br, t, NULL);
            for (size_t i = 0; i < sets[t].n && rc == 0; i++)
                if (sets[t].e[i].found)
                    rc = add_todo(br, t, sets[t].e[i].json);
        }
    }
    dom_buf_free(&tmp);
    for (size_t t = 0; t < br->S->nmt; t++)
        pkset_free(&sets[t]);
    dom_free(sets);
    dom_free(whole);
    return rc;
}

static int step_sync(batch_run *br)
{
    int64_t seen, total = 0;
    int rc, more;
    double t0 = dom_mono();
    /* the definitions as the freeze committed (read again when the batch
     * froze in an earlier run) */
    char sig[65];
    if (br->freeze_sig[0])
        memcpy(sig, br->freeze_sig, sizeof(sig));
    else if ((rc = dom_store_schema_sig(br->S->st, br->S->mt, br->S->nmt, sig)) < 0)
        return rc;
    if (br->b.schema_sig[0] && strcmp(sig, br->b.schema_sig) != 0)
        return dom_error_set(DOM_EFAILED,
                             "the definition of a tenant table in region \"%s\" "
                             "changed during the move",
                             br->b.src);
    /* frozen since the freeze returned: every write to the batch before
     * it is committed and logged, none comes after, so the log is read to
     * its end once */
    do {
        if ((rc = catch_up_round(br, 1, &seen, &more)) < 0)
            return rc;
        total += seen;
    } while (more);
    dom_log(DOM_LOG_DEBUG, "batch %lld: final sync replayed %lld changes in %.1f ms",
            (long long)br->b.id, (long long)total, (dom_mono() - t0) * 1000);
    t0 = dom_mono();
    /* The source is frozen: from here it equals the target row for row, or
     * the batch fails. */
    if (br->full_verify) {
        if ((rc = verify_all(br, fail_diff)) < 0)
            return rc;
    } else if (br->ntodo) {
        /* rows changed after the compare of every row */
        br->have_hash = 0;
        if ((rc = verify_todo(br, 0)) < 0)
            return rc;
    }
    dom_log(DOM_LOG_DEBUG, "batch %lld: final verify of %zu rows%s in %.1f ms", (long long)br->b.id,
            br->ntodo, br->full_verify ? " (full)" : "", (dom_mono() - t0) * 1000);
    /* what the final sync wrote is on disk before the flip records it;
     * the step itself is not journaled (see step_freeze): the flip's
     * catalog transaction follows */
    if ((rc = dom_store_sync(br->S->st)) < 0 || (rc = dom_store_sync(br->T->st)) < 0)
        return rc;
    return 0;
}

typedef struct unfence_job {
    dom_store *st;
    int rc;
    double ms;
    char err[1024];
} unfence_job;

static void *unfence_main(void *arg)
{
    unfence_job *j = arg;
    double t0 = dom_mono();
    j->rc = dom_store_unfence(j->st);
    if (j->rc < 0)
        snprintf(j->err, sizeof(j->err), "%s", dom_error_last());
    j->ms = (dom_mono() - t0) * 1000;
    return NULL;
}

/* After the directory flip: the source says where the tenants live now and
 * the target starts accepting their writes.  Both at once, on their own
 * connections: the source is frozen (it refuses every write) until it
 * says "moved", so the target may open first without two regions ever
 * accepting a tenant's writes (I1). */
static int finish_flip(batch_run *br)
{
    int rc;
    if ((rc = set_keys_both(br)) < 0)
        return rc;
    double t0 = dom_mono();
    unfence_job job = {br->T->st, 0, 0, ""};
    pthread_t th;
    int threaded = pthread_create(&th, NULL, unfence_main, &job) == 0;
    rc = dom_store_fence(br->S->st, br->b.id, DOM_FENCE_MOVED, br->b.dst, -1);
    double t1 = dom_mono();
    if (rc == 0)
        dom_fault("flipped");
    if (threaded)
        pthread_join(th, NULL);
    else if (rc == 0)
        unfence_main(&job);
    if (rc < 0)
        return rc;
    if (job.rc < 0)
        return dom_error_set(job.rc, "%s", job.err);
    if (br->w->pausing) {
        pause_enter(br->S->idx, br->T->idx, -1);
        br->w->pausing = 0;
    }
    dom_log(DOM_LOG_DEBUG,
            "batch %lld: source fenced moved in %.1f ms, target opened in %.1f ms (at once)",
            (long long)br->b.id, (t1 - t0) * 1000, job.ms);
    if (br->t_freeze > 0) {
        br->b.pause_ms = (dom_mono() - br->t_freeze) * 1000.0;
        br->t_freeze = 0;
        if ((rc = dom_catalog_batch_update(br->w->cat, &br->b)) < 0)
            return rc;
        pthread_mutex_lock(br->stats_mu);
        double *g = dom_realloc(br->stats->pauses_ms, (br->stats->npauses + 1) * sizeof(double));
        if (g) {
            br->stats->pauses_ms = g;
            g[br->stats->npauses++] = br->b.pause_ms;
        }
        pthread_mutex_unlock(br->stats_mu);
    }
    return 0;
}

/* Between two steps of a batch: another batch's write pause in either of
 * its regions goes first (a step's reads and writes on two busy cores
 * lengthen it; two pauses on one source would wait for each other's
 * locks), then the live control (control.h). */
static int step_gate(batch_run *br)
{
    if (!br->w->pausing) {
        yield_to_pause(br->S->idx);
        yield_to_pause(br->T->idx);
    }
    return dom_control_gate(br->w->cat, 0);
}

static int log_transfer(batch_run *br);
static int record_erasure(batch_run *br, char *head_out);

static int step_flip(batch_run *br)
{
    double t0 = dom_mono();
    int rc = dom_catalog_flip(br->w->cat, &br->b);
    if (rc < 0)
        return rc;
    dom_log(DOM_LOG_DEBUG, "batch %lld: directory flip in %.1f ms", (long long)br->b.id,
            (dom_mono() - t0) * 1000);
    dom_fault("flip");
    if ((rc = finish_flip(br)) < 0)
        return rc;
    return log_transfer(br);
}

/* ---- the transfer log ------------------------------------------------------------- */

/* SHA-256 over the batch's tenant keys, sorted, one per line. */
static int keys_digest(const dom_batch *b, char out[65])
{
    dom_buf k = DOM_BUF_INIT;
    unsigned char d[32];
    for (size_t i = 0; i < b->nkeys; i++) {
        dom_buf_puts(&k, b->keys[i]);
        dom_buf_putc(&k, '\n');
    }
    if (k.oom) { /* never the digest of a partial list */
        dom_buf_free(&k);
        return dom_error_set(DOM_ENOMEM, "out of memory (the batch's tenant digest)");
    }
    dom_sha256(k.ptr ? k.ptr : "", k.len, d);
    dom_hex(d, 32, out);
    dom_buf_free(&k);
    return 0;
}

/* Appends `entry` (its "seq" is set here) to the log inside the caller's
 * catalog transaction; *head receives "seq hash". */
static int log_entry(worker *w, json_t *entry, char head[96])
{
    int64_t seq;
    char prev[65], hash[65];
    int rc = dom_catalog_log_next(w->cat, &seq, prev);
    if (rc < 0)
        return rc;
    json_object_set_new(entry, "seq", json_integer(seq));
    char *text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return DOM_ENOMEM;
    rc = dom_catalog_log_write(w->cat, seq, text, prev, hash);
    free(text);
    snprintf(head, 96, "%lld %s", (long long)seq, hash);
    return rc;
}

/* Every region the batch touched remembers the log's head, so that a log
 * cut short in the catalog is noticed by audit. */
static int publish_head(batch_run *br, const char *head)
{
    int rc = dom_store_meta_set(br->S->st, "log_head", head);
    if (rc == 0)
        rc = dom_store_meta_set(br->T->st, "log_head", head);
    return rc;
}

/* The batch's rows in the source (frozen, then fenced "moved": what was
 * transferred), each recorded in the catalog by table, primary key and
 * digest (options.transfer_rows), inside the caller's transaction. */
#define ROWS_PUT_CHUNK 1000
static int record_rows(batch_run *br)
{
    region_h *S = br->S;
    const char **tbl = dom_calloc(ROWS_PUT_CHUNK, sizeof(char *));
    char **pk = dom_calloc(ROWS_PUT_CHUNK, sizeof(char *));
    char(*dig)[65] = dom_calloc(ROWS_PUT_CHUNK, 65);
    const char **digp = dom_calloc(ROWS_PUT_CHUNK, sizeof(char *));
    dom_buf tmp = DOM_BUF_INIT;
    size_t n = 0;
    int rc = tbl && pk && dig && digp ? 0 : DOM_ENOMEM;
    if (rc == 0)
        rc = dom_store_set_keys(S->st, (const char *const *)br->b.keys, br->b.epochs, br->b.nkeys);
    for (size_t t = 0; rc == 0 && t < S->nmt; t++) {
        dom_cursor *c;
        const dom_value *row;
        if ((rc = dom_store_cursor_open(S->st, &S->mt[t], &c)) < 0)
            break;
        int h;
        while (rc == 0 && (h = dom_store_cursor_next(c, &row)) > 0) {
            unsigned char d[32];
            row_digest(&S->mt[t], row, &tmp, d);
            dom_hex(d, 32, dig[n]);
            tbl[n] = S->mt[t].info->name;
            digp[n] = dig[n];
            if (!(pk[n] = dom_pk_json(&S->mt[t], row))) {
                rc = DOM_ENOMEM;
                break;
            }
            if (++n == ROWS_PUT_CHUNK) {
                rc = dom_catalog_rows_put(br->w->cat, br->b.id, tbl, (const char *const *)pk, digp,
                                          n);
                while (n)
                    dom_free(pk[--n]);
            }
        }
        if (rc == 0 && h < 0)
            rc = h;
        dom_store_cursor_close(c);
    }
    if (rc == 0 && n)
        rc = dom_catalog_rows_put(br->w->cat, br->b.id, tbl, (const char *const *)pk, digp, n);
    while (n)
        dom_free(pk[--n]);
    dom_buf_free(&tmp);
    dom_free(tbl);
    dom_free(pk);
    dom_free(dig);
    dom_free(digp);
    return rc;
}

/* After the flip: the source copy can no longer change (fenced "moved"), so
 * its rows are what was transferred.  Records rows, bytes and the content
 * hash per table in the log, once: the hash the last compare of every row
 * took of the source when nothing changed after it, else the source read
 * again. */
static int log_transfer(batch_run *br)
{
    if (br->b.logged)
        return 0;
    size_t n = br->S->nmt;
    int64_t *rows = dom_calloc(n, sizeof(int64_t)), *bytes = dom_calloc(n, sizeof(int64_t));
    unsigned char h[32];
    char hex[65], digest[65], now[32], head[96];
    int rc = rows && bytes ? 0 : DOM_ENOMEM;
    /* DOMICILE_CHECK_HASH=1 (the tests): hash the source again and
     * compare, also when the compare's hash stands for it */
    const char *check = getenv("DOMICILE_CHECK_HASH");
    int reread = !br->have_hash || (check && *check == '1');
    if (rc == 0 && reread &&
        (rc = dom_store_set_keys(br->S->st, (const char *const *)br->b.keys, br->b.epochs,
                                 br->b.nkeys)) == 0)
        rc = dom_hash_keys(br->S->st, br->S->mt, n, rows, bytes, h);
    if (rc == 0 && br->have_hash) {
        /* nothing changed in the source since its rows were hashed by
         * the last compare of every row (the source has been frozen and
         * then fenced "moved" since) */
        if (reread &&
            (memcmp(h, br->hash, 32) != 0 || memcmp(rows, br->hrows, n * sizeof(int64_t)) != 0 ||
             memcmp(bytes, br->hbytes, n * sizeof(int64_t)) != 0))
            rc = dom_error_set(DOM_ERROR,
                               "batch %lld: the source's rows differ from their hash taken by "
                               "the compare",
                               (long long)br->b.id);
        memcpy(h, br->hash, 32);
        memcpy(rows, br->hrows, n * sizeof(int64_t));
        memcpy(bytes, br->hbytes, n * sizeof(int64_t));
        dom_log(DOM_LOG_DEBUG, "batch %lld: content hash taken from the compare",
                (long long)br->b.id);
    }
    if (rc < 0)
        goto done;
    dom_hex(h, 32, hex);
    if ((rc = keys_digest(&br->b, digest)) < 0)
        goto done;
    dom_iso_now(now);
    json_t *tables = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(tables,
                              json_pack("{s:s,s:I,s:I}", "table", br->S->mt[i].info->name, "rows",
                                        (json_int_t)rows[i], "bytes", (json_int_t)bytes[i]));
    json_t *e = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:I,s:s,s:o,s:s}", "time", now, "kind",
                          "transfer", "wave", br->b.wave, "batch", (json_int_t)br->b.id, "from",
                          br->b.src, "to", br->b.dst, "tenants", (json_int_t)br->b.nkeys,
                          "tenant_digest", digest, "tables", tables, "content_sha256", hex);
    if (!e) {
        rc = DOM_ENOMEM;
        goto done;
    }
    if ((rc = dom_catalog_begin(br->w->cat)) == 0) {
        br->b.logged = 1;
        if ((br->w->cfg->options.transfer_rows && (rc = record_rows(br)) < 0) ||
            (rc = log_entry(br->w, e, head)) < 0 ||
            (rc = dom_catalog_batch_update(br->w->cat, &br->b)) < 0) {
            br->b.logged = 0;
            dom_catalog_rollback(br->w->cat);
        } else {
            rc = dom_catalog_commit(br->w->cat);
        }
    }
    json_decref(e);
    if (rc == 0)
        rc = publish_head(br, head);
done:
    dom_free(rows);
    dom_free(bytes);
    return rc;
}

/* Fails unless no table of S holds a row of the current keys (those of
 * batch `batch`, or of several when < 0). */
static int check_erased(region_h *S, const char *region, int64_t batch)
{
    int64_t *left = dom_calloc(S->nmt ? S->nmt : 1, sizeof(int64_t));
    if (!left)
        return DOM_ENOMEM;
    int rc = dom_store_count_keys_all(S->st, S->mt, S->nmt, left);
    for (size_t i = 0; rc == 0 && i < S->nmt; i++) {
        if (!left[i])
            continue;
        char what[48] = "";
        if (batch >= 0)
            snprintf(what, sizeof(what), " of batch %lld", (long long)batch);
        rc = dom_error_set(DOM_EREGION,
                           "region \"%s\", table \"%s\": %lld rows%s remain after erasure", region,
                           S->mt[i].info->name, (long long)left[i], what);
    }
    dom_free(left);
    return rc;
}

/* Erases the source copy once retain_source has passed.  *waiting is
 * ERASE_RETAINED when it has not, ERASE_BY_WAVE when the wave's erasure
 * will (defer, for a source whose store erases by wave). */
enum { ERASE_NOW, ERASE_RETAINED, ERASE_BY_WAVE };
static int step_erase(batch_run *br, int *waiting, int defer)
{
    int rc;
    *waiting = ERASE_NOW;
    if (wall() < br->b.flipped_at + (double)br->w->cfg->options.retain_source_sec) {
        *waiting = ERASE_RETAINED;
        return 0;
    }
    if (defer && br->S->st->ops->erase_by_wave) {
        *waiting = ERASE_BY_WAVE;
        return 0;
    }
    if ((rc = dom_store_set_keys(br->S->st, (const char *const *)br->b.keys, br->b.epochs,
                                 br->b.nkeys)) < 0)
        return rc;
    int64_t deleted;
    if ((rc = delete_rows(br->S, (const char *const *)br->b.keys, br->b.epochs, br->b.nkeys,
                          &deleted, 1)) < 0)
        return rc;
    if ((rc = check_erased(br->S, br->b.src, br->b.id)) < 0)
        return rc;
    br->b.erased += deleted;
    return record_erasure(br, NULL);
}

/* The erasure, checked table by table by the caller, goes into the log in
 * the same catalog transaction as "done".  rows_erased is every row the
 * source held for the batch at the flip (the transfer's rows: fenced
 * "moved" since, it cannot have changed) once none remains: an erasure
 * that an earlier attempt committed but could not record (a crash, a lost
 * connection) counts the same as one that ran in full now, so that the
 * log of a resumed run equals that of a run without the interruption.
 * The log's head is published in the batch's regions; with head_out it is
 * left there for the caller to publish (once for a group of batches). */
static int record_erasure(batch_run *br, char *head_out)
{
    int rc;
    char digest[65], now[32], head[96];
    if (br->b.erased < br->b.rows) {
        dom_log(DOM_LOG_DEBUG,
                "batch %lld: %lld of its %lld rows were erased by an earlier attempt",
                (long long)br->b.id, (long long)(br->b.rows - br->b.erased), (long long)br->b.rows);
        br->b.erased = br->b.rows;
    }
    if ((rc = keys_digest(&br->b, digest)) < 0)
        return rc;
    dom_iso_now(now);
    json_t *tables = json_array();
    for (size_t i = 0; i < br->S->nmt; i++)
        json_array_append_new(tables, json_pack("{s:s,s:I}", "table", br->S->mt[i].info->name,
                                                "remaining", (json_int_t)0));
    json_t *e = json_pack("{s:s,s:s,s:s,s:I,s:s,s:I,s:s,s:I,s:o}", "time", now, "kind", "erasure",
                          "wave", br->b.wave, "batch", (json_int_t)br->b.id, "region", br->b.src,
                          "tenants", (json_int_t)br->b.nkeys, "tenant_digest", digest,
                          "rows_erased", (json_int_t)br->b.erased, "tables", tables);
    if (!e)
        return DOM_ENOMEM;
    if ((rc = dom_store_sync(br->S->st)) < 0 || (rc = dom_catalog_begin(br->w->cat)) < 0) {
        json_decref(e);
        return rc;
    }
    snprintf(br->b.step, sizeof(br->b.step), "done");
    if ((rc = log_entry(br->w, e, head)) < 0 ||
        (rc = dom_catalog_batch_update(br->w->cat, &br->b)) < 0) {
        dom_catalog_rollback(br->w->cat);
        snprintf(br->b.step, sizeof(br->b.step), "flipped");
    } else {
        rc = dom_catalog_commit(br->w->cat);
    }
    json_decref(e);
    if (rc == 0 && head_out) {
        memcpy(head_out, head, sizeof(head));
        return 0;
    }
    return rc < 0 ? rc : publish_head(br, head);
}

/* Takes a batch back before its flip: the source accepts writes again and
 * the target loses what was copied. */
static int abort_batch(batch_run *br, const char *why)
{
    int rc;
    int64_t d;
    if ((rc = set_keys_both(br)) < 0 || (rc = dom_store_unfence(br->S->st)) < 0 ||
        (rc = delete_rows(br->T, (const char *const *)br->b.keys, br->b.epochs, br->b.nkeys, &d,
                          0)) < 0 ||
        (rc = dom_store_unfence(br->T->st)) < 0 ||
        (rc = dom_catalog_set_state(br->w->cat, br->b.id, "home")) < 0)
        return rc;
    snprintf(br->b.error, sizeof(br->b.error), "%s", why);
    return save_step(br, "failed");
}

static int step_index(const char *step)
{
    static const char *const order[] = {"new",    "armed",  "copied",  "caught_up", "verified",
                                        "frozen", "synced", "flipped", "done",      "failed"};
    for (int i = 0; i < (int)DOM_ARRAY_LEN(order); i++)
        if (strcmp(order[i], step) == 0)
            return i;
    return -1;
}

/* Runs one batch from wherever its journal says it is. */
static int run_batch(worker *w, int64_t id, dom_apply_stats *stats, pthread_mutex_t *mu,
                     const dom_apply_opts *o, int64_t *moved)
{
    batch_run br = {0};
    *moved = 0;
    int rc = dom_catalog_batch_load(w->cat, id, &br.b);
    if (rc < 0)
        return rc;
    br.w = w;
    br.stats = stats;
    br.stats_mu = mu;
    int s = dom_config_region(w->cfg, br.b.src), t = dom_config_region(w->cfg, br.b.dst);
    if (s < 0 || t < 0) {
        rc = dom_error_set(DOM_ECONFIG,
                           "batch %lld moves between regions \"%s\" and \"%s\"; the "
                           "config lacks one",
                           (long long)id, br.b.src, br.b.dst);
        goto done;
    }
    if ((rc = region_open(w, s, &br.S)) < 0 || (rc = region_open(w, t, &br.T)) < 0)
        goto done;
    int step = step_index(br.b.step);
    /* rows are copied column by column: both regions' tables must match */
    if (br.S->nmt != br.T->nmt) {
        rc = dom_error_set(DOM_EFAILED, "regions \"%s\" and \"%s\" hold different tenant tables",
                           br.b.src, br.b.dst);
        step = -1;
    }
    for (size_t i = 0; i < br.S->nmt && step >= 0; i++) {
        const dom_table_info *a = br.S->mt[i].info, *b = br.T->mt[i].info;
        int same = strcmp(a->name, b->name) == 0 && a->ncols == b->ncols;
        for (size_t c = 0; same && c < a->ncols; c++)
            same = strcmp(a->cols[c].name, b->cols[c].name) == 0;
        if (!same) {
            rc = dom_error_set(DOM_EFAILED,
                               "table \"%s\" has other columns in region \"%s\" than in region "
                               "\"%s\"",
                               a->name, br.b.src, br.b.dst);
            step = -1;
        }
    }
    int waiting = 0;
    double t0 = dom_mono();
    if (step >= 1 && step <= 6 && rc == 0 && (rc = set_keys_both(&br)) < 0)
        goto done;
    /* a resumed batch must still see the tables it started with */
    if (step >= 1 && step <= 6 && br.b.schema_sig[0] && rc == 0) {
        char sig[65];
        if ((rc = dom_store_schema_sig(br.S->st, br.S->mt, br.S->nmt, sig)) < 0)
            goto done;
        if (strcmp(sig, br.b.schema_sig) != 0) {
            rc = dom_error_set(DOM_EFAILED,
                               "the definition of a tenant table in region \"%s\" "
                               "changed during the move",
                               br.b.src);
            step = -1;
        }
    }
    /* a batch resumed after its verify has lost the list of rows to check
     * again: the final verify compares everything */
    if (step >= 4 && step <= 6)
        br.full_verify = 1;
    switch (step) {
    case 0:
    case 1: /* a rerun arms again: the target's partial copy is deleted */
        t0 = dom_mono();
        if ((rc = step_arm(&br)) < 0)
            break;
        dom_fault("armed");
        stats->step_sec[0] += dom_mono() - t0;
        if ((rc = step_gate(&br)) < 0)
            break;
        t0 = dom_mono();
        if ((rc = step_copy(&br)) < 0)
            break;
        dom_fault("copied");
        stats->step_sec[1] += dom_mono() - t0;
        /* fall through */
    case 2:
        if ((rc = step_gate(&br)) < 0)
            break;
        t0 = dom_mono();
        if ((rc = step_catchup(&br)) < 0)
            break;
        stats->step_sec[2] += dom_mono() - t0;
        /* fall through */
    case 3:
        if ((rc = step_gate(&br)) < 0)
            break;
        t0 = dom_mono();
        if ((rc = step_verify(&br)) < 0)
            break;
        dom_fault("verified");
        stats->step_sec[3] += dom_mono() - t0;
        /* fall through */
    case 4:
        /* the last safe point before the write pause */
        if ((rc = step_gate(&br)) < 0)
            break;
        t0 = dom_mono();
        if ((rc = step_freeze(&br)) < 0)
            break;
        dom_fault("frozen");
        /* fall through */
    case 5:
        if (step == 5)
            br.t_freeze = 0;
        if ((rc = step_sync(&br)) < 0)
            break;
        dom_fault("synced");
        /* fall through */
    case 6:
        stats->step_sec[4] += dom_mono() - t0;
        t0 = dom_mono();
        if ((rc = step_flip(&br)) < 0)
            break;
        stats->step_sec[5] += dom_mono() - t0;
        pthread_mutex_lock(mu);
        stats->home_sec = dom_mono() - stats->t0;
        pthread_mutex_unlock(mu);
        goto erase;
    case 7:
        if ((rc = finish_flip(&br)) < 0 || (rc = log_transfer(&br)) < 0)
            break;
    erase:
        t0 = dom_mono();
        if ((rc = step_erase(&br, &waiting, o->defer_erase)) < 0)
            break;
        if (waiting == ERASE_NOW) {
            pthread_mutex_lock(mu);
            stats->erased_sec = dom_mono() - stats->t0;
            pthread_mutex_unlock(mu);
        }
        dom_fault("done");
        stats->step_sec[6] += dom_mono() - t0;
        break;
    default:
        break;
    }
    if (rc == DOM_EFAILED && step_index(br.b.step) < 7) {
        char why[1024];
        snprintf(why, sizeof(why), "%s", dom_error_last());
        int rc2 = abort_batch(&br, why);
        if (rc2 < 0)
            rc = rc2;
    }
    pthread_mutex_lock(mu);
    if (rc == 0 && strcmp(br.b.step, "done") == 0) {
        stats->batches_done++;
        stats->tenants += br.b.tenants;
        stats->rows += br.b.rows;
        stats->bytes += br.b.bytes;
        stats->erased += br.b.erased;
    } else if (rc == 0 && waiting == ERASE_BY_WAVE) {
        /* counted when the wave's erasure has run */
    } else if (rc == 0 && waiting == ERASE_RETAINED) {
        stats->batches_retained++;
        stats->tenants += br.b.tenants;
        stats->rows += br.b.rows;
        stats->bytes += br.b.bytes;
    } else if (strcmp(br.b.step, "failed") == 0) {
        stats->batches_failed++;
        snprintf(stats->last_error, sizeof(stats->last_error), "batch %lld: %s", (long long)id,
                 br.b.error);
    }
    if (o->on_batch && ((rc == 0 && waiting != ERASE_BY_WAVE) || strcmp(br.b.step, "failed") == 0))
        o->on_batch(&br.b, o->payload);
    pthread_mutex_unlock(mu);
    if (w->pausing) {
        pause_enter(br.S->idx, br.T->idx, -1);
        w->pausing = 0;
    }
    if (rc == DOM_EFAILED)
        rc = 0; /* recorded; the run goes on */
    *moved = br.b.rows;
    dom_store_idle(br.S->st);
    dom_store_idle(br.T->st);
done:
    clear_todo(&br);
    dom_free(br.todo);
    dom_content_hash_end(&br.copy_hash, NULL);
    dom_free(br.hrows);
    dom_free(br.hbytes);
    dom_batch_free(&br.b);
    return rc;
}

/* ---- erasing a wave's sources together -----------------------------------------
 * Erasing batch by batch rewrites a page of the source once for every batch
 * with rows on it.  After a wave, the flipped batches that are due are
 * erased together, per source region: one pass over the union of their
 * keys, then each batch is checked, recorded and logged as done.  A batch
 * left flipped by a crash is erased on its own by the next run. */

static int erase_group(worker *w, int src, dom_batch *bs, size_t n, const dom_apply_opts *o,
                       dom_apply_stats *stats)
{
    region_h *S;
    int rc = region_open(w, src, &S);
    if (rc < 0)
        return rc;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += bs[i].nkeys;
    const char **keys = dom_calloc(total ? total : 1, sizeof(char *));
    if (!keys)
        return DOM_ENOMEM;
    double e0 = dom_mono(), e1 = 0, e2 = 0, e3 = 0, e4 = 0;
    /* each batch's rows, counted before they go */
    for (size_t i = 0, k = 0; i < n; i++) {
        int64_t rows = 0, r;
        if ((rc = dom_store_set_keys(S->st, (const char *const *)bs[i].keys, NULL, bs[i].nkeys)) <
            0)
            goto done;
        for (size_t t = 0; t < S->nmt; t++) {
            if ((rc = dom_store_count_keys(S->st, &S->mt[t], &r)) < 0)
                goto done;
            rows += r;
        }
        bs[i].erased += rows;
        for (size_t j = 0; j < bs[i].nkeys; j++)
            keys[k++] = bs[i].keys[j];
    }
    int64_t deleted;
    e1 = dom_mono();
    if ((rc = delete_rows(S, keys, NULL, total, &deleted, 1)) < 0)
        goto done;
    e2 = dom_mono();
    if ((rc = check_erased(S, w->cfg->regions[src].name, -1)) < 0)
        goto done;
    e3 = dom_mono();
    if ((rc = dom_store_sync(S->st)) < 0)
        goto done;
    e4 = dom_mono();
    /* every batch's entry, then the last head once in the source and in
     * each target (a region's head names the last entry it saw; a later
     * entry names it as well: the log is one chain) */
    char head[96] = "";
    int targets[DOM_MAX_REGIONS] = {0};
    for (size_t i = 0; i < n; i++) {
        region_h *T;
        if ((rc = region_open(w, dom_config_region(w->cfg, bs[i].dst), &T)) < 0)
            goto done;
        batch_run br = {0};
        br.w = w;
        br.b = bs[i];
        br.S = S;
        br.T = T;
        rc = record_erasure(&br, head);
        bs[i] = br.b;
        if (rc < 0)
            goto done;
        targets[T->idx] = 1;
        dom_fault("done");
        stats->batches_done++;
        stats->tenants += bs[i].tenants;
        stats->rows += bs[i].rows;
        stats->bytes += bs[i].bytes;
        stats->erased += bs[i].erased;
        if (o->on_batch)
            o->on_batch(&bs[i], o->payload);
    }
    if (head[0] && (rc = dom_store_meta_set(S->st, "log_head", head)) < 0)
        goto done;
    for (size_t r = 0; head[0] && r < DOM_MAX_REGIONS; r++)
        if (targets[r] && (rc = dom_store_meta_set(w->r[r].st, "log_head", head)) < 0)
            goto done;
    dom_log(DOM_LOG_DEBUG,
            "erase of %zu batches: counted in %.1f ms, deleted in %.1f, checked in %.1f, synced in "
            "%.1f, recorded in %.1f",
            n, (e1 - e0) * 1000, (e2 - e1) * 1000, (e3 - e2) * 1000, (e4 - e3) * 1000,
            (dom_mono() - e4) * 1000);
done:
    dom_free(keys);
    dom_store_idle(S->st);
    return rc;
}

static int erase_wave(const dom_config *cfg, const int64_t *ids, size_t nids,
                      const dom_apply_opts *o, dom_apply_stats *stats)
{
    worker *w;
    int rc = worker_take(cfg, &w);
    if (rc < 0)
        return rc;
    dom_batch *bs = dom_calloc(nids ? nids : 1, sizeof(dom_batch));
    size_t n = 0;
    if (rc == 0 && !bs)
        rc = DOM_ENOMEM;
    for (size_t i = 0; rc == 0 && i < nids; i++) {
        if ((rc = dom_catalog_batch_load(w->cat, ids[i], &bs[n])) < 0)
            break;
        if (strcmp(bs[n].step, "flipped") == 0 &&
            wall() >= bs[n].flipped_at + (double)cfg->options.retain_source_sec)
            n++;
        else
            dom_batch_free(&bs[n]);
    }
    double t0 = dom_mono();
    for (size_t r = 0; rc == 0 && r < cfg->nregions && !dom_interrupted; r++) {
        /* the batches of this source, in id order */
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (dom_config_region(cfg, bs[i].src) == (int)r) {
                dom_batch tmp = bs[m];
                bs[m] = bs[i];
                bs[i] = tmp;
                m++;
            }
        if (m)
            rc = erase_group(w, (int)r, bs, m, o, stats);
        for (size_t i = 0; i < m; i++)
            dom_batch_free(&bs[i]);
        memmove(bs, bs + m, (n - m) * sizeof(dom_batch));
        n -= m;
    }
    stats->step_sec[6] += dom_mono() - t0;
    if (rc == 0)
        stats->erased_sec = dom_mono() - stats->t0;
    for (size_t i = 0; i < n; i++)
        dom_batch_free(&bs[i]);
    dom_free(bs);
    worker_park(w, rc == 0);
    return rc;
}

/* ---- a pool of workers over a list of batches ---------------------------------- */

typedef struct pool {
    const dom_config *cfg;
    const dom_apply_opts *o;
    int64_t *ids;
    size_t n, next;
    pthread_mutex_t mu;
    dom_apply_stats *stats;
    int rc;
    char err[2048];
    int shared;   /* a catalog of several movers: batches are claimed */
    int64_t *ran; /* the batches this process ran (shared) */
    size_t nran;
} pool;

/* How long a mover without a free batch waits before it looks again (for
 * batches of other movers to end, or their leases to expire). */
#define CLAIM_WAIT_US 300000

/* The next batch for a worker: the next of the list, or, with a shared
 * catalog, one claimed from it (waiting while other movers still hold
 * some); 0 when there is none left. */
static int next_batch(pool *p, worker *w, int64_t *id)
{
    *id = 0;
    if (!p->shared) {
        pthread_mutex_lock(&p->mu);
        int stop = p->rc < 0 || p->next >= p->n || dom_interrupted;
        if (!stop)
            *id = p->ids[p->next++];
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int stop = p->rc < 0 || dom_interrupted;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            return 0;
        int rc = dom_catalog_claim(w->cat, p->ids, p->n, id);
        if (rc == 0) {
            pthread_mutex_lock(&p->mu);
            int64_t *g = dom_realloc(p->ran, (p->nran + 1) * sizeof(int64_t));
            if (g) {
                p->ran = g;
                p->ran[p->nran++] = *id;
            }
            pthread_mutex_unlock(&p->mu);
            return g ? 0 : DOM_ENOMEM;
        }
        if (rc != DOM_ENOTFOUND)
            return rc;
        int64_t left = 0;
        if ((rc = dom_catalog_unfinished_among(w->cat, p->ids, p->n,
                                               p->cfg->options.retain_source_sec > 0, &left)) < 0)
            return rc;
        if (left == 0)
            return 0;
        usleep(CLAIM_WAIT_US);
    }
}

static void *pool_main(void *arg)
{
    pool *p = arg;
    worker *w;
    int rc = worker_take(p->cfg, &w);
    while (rc == 0) {
        int64_t id;
        if ((rc = next_batch(p, w, &id)) < 0 || id == 0)
            break;
        int64_t moved, paid = w->paid;
        /* the live control (control.h): paused, wait here; the rows the
         * copy did not pay for are paid after the batch */
        if ((rc = dom_control_gate(w->cat, 0)) < 0)
            break;
        rc = run_batch(w, id, p->stats, &p->mu, p->o, &moved);
        w->unpaid = 0;
        if (rc == 0 && moved > w->paid - paid)
            rc = dom_control_gate(w->cat, moved - (w->paid - paid));
    }
    if (rc < 0) {
        pthread_mutex_lock(&p->mu);
        if (p->rc == 0 || (p->rc == DOM_EINTR && rc != DOM_EINTR)) {
            p->rc = rc;
            snprintf(p->err, sizeof(p->err), "%s", dom_error_last());
        }
        pthread_mutex_unlock(&p->mu);
    }
    if (w)
        worker_park(w, rc == 0);
    return NULL;
}

/* Workers of options.workers auto: AUTO_WORKERS for regions beside the
 * mover, and as many again for every AUTO_WORKER_MS of round trip: a
 * batch's steps take a few dozen round trips, and a worker that waits on
 * the network needs no core. */
#define AUTO_WORKERS   2
#define AUTO_WORKER_MS 25.0

int dom_auto_workers(double rtt_ms)
{
    double w = AUTO_WORKERS * (1 + rtt_ms / AUTO_WORKER_MS);
    return w >= 64 ? 64 : (int)(w + 0.5);
}

/* Runs the batches `ids` with the configured workers.  With a shared
 * catalog, *ran (when asked) gets the batches this process ran. */
static int run_pool_ex(const dom_config *cfg, const dom_apply_opts *o, int64_t *ids, size_t n,
                       dom_apply_stats *stats, int shared, int64_t **ran, size_t *nran)
{
    pool p = {cfg, o, ids, n, 0, PTHREAD_MUTEX_INITIALIZER, stats, 0, "", shared, NULL, 0};
    int nw = o->workers > 0 ? o->workers : (int)cfg->options.workers;
    if (nw < 1)
        nw = dom_auto_workers(stats->rtt_ms);
    stats->workers = nw;
    if ((size_t)nw > n)
        nw = (int)n;
    pthread_t th[64];
    int started = 0;
    for (int i = 0; i < nw && i < 64; i++)
        if (pthread_create(&th[i], NULL, pool_main, &p) == 0)
            started++;
    if (!started && n)
        pool_main(&p);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (ran) {
        *ran = p.ran;
        *nran = p.nran;
    } else {
        dom_free(p.ran);
    }
    if (p.rc < 0)
        dom_error_set(p.rc, "%s", p.err);
    else if (dom_interrupted && (shared || p.next < p.n))
        return dom_error_set(DOM_EINTR, "interrupted; run the same command again to resume");
    return p.rc;
}

/* ---- planning batches ------------------------------------------------------------ */

typedef struct busy_set {
    char **keys;
    size_t n, cap;
} busy_set;

static int busy_add(const char *key, size_t n, const char *r, int64_t e, const char *s, void *p)
{
    (void)r, (void)e, (void)s;
    busy_set *b = p;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        char **g = dom_realloc(b->keys, cap * sizeof(char *));
        if (!g)
            return DOM_ENOMEM;
        b->keys = g;
        b->cap = cap;
    }
    if (!(b->keys[b->n] = dom_strndup(key, n)))
        return DOM_ENOMEM;
    b->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_busy(const busy_set *b, const char *key)
{
    return b->n && bsearch(&key, b->keys, b->n, sizeof(char *), cmp_str) != NULL;
}

static void busy_free(busy_set *b)
{
    for (size_t i = 0; i < b->n; i++)
        dom_free(b->keys[i]);
    dom_free(b->keys);
}

/* A move to plan: tenant key, from, to. */
typedef struct move {
    const char *key;
    int from, to;
} move;

static int cmp_move(const void *a, const void *b)
{
    const move *x = a, *y = b;
    if (x->from != y->from)
        return x->from - y->from;
    if (x->to != y->to)
        return x->to - y->to;
    return dom_key_cmp(x->key, y->key);
}

/* Creates the batches for `moves` in one catalog transaction. */
static int create_batches(dom_catalog *cat, const dom_config *cfg, const char *wave, move *mv,
                          size_t n, int64_t **ids, size_t *nids)
{
    int rc;
    size_t bt = (size_t)cfg->options.batch_tenants;
    if (n)
        qsort(mv, n, sizeof(move), cmp_move);
    const char **keys = dom_calloc(bt ? bt : 1, sizeof(char *));
    if (!keys)
        return DOM_ENOMEM;
    if ((rc = dom_catalog_begin(cat)) < 0) {
        dom_free(keys);
        return rc;
    }
    size_t i = 0;
    while (i < n) {
        size_t k = 0;
        int from = mv[i].from, to = mv[i].to;
        while (i < n && k < bt && mv[i].from == from && mv[i].to == to)
            keys[k++] = mv[i++].key;
        int64_t id;
        if ((rc = dom_catalog_batch_create(cat, wave, cfg->regions[from].name,
                                           cfg->regions[to].name, keys, k, &id)) < 0)
            break;
        int64_t *g = dom_realloc(*ids, (*nids + 1) * sizeof(int64_t));
        if (!g) {
            rc = DOM_ENOMEM;
            break;
        }
        *ids = g;
        (*ids)[(*nids)++] = id;
    }
    dom_free(keys);
    if (rc < 0) {
        dom_catalog_rollback(cat);
        return rc;
    }
    return dom_catalog_commit(cat);
}

static int plan_wave(dom_catalog *cat, const dom_config *cfg, size_t wave, const busy_set *busy,
                     int64_t **ids, size_t *nids, int64_t *tenants)
{
    dom_plan *p;
    int rc = dom_plan_build_ex(&p, cfg, DOM_PLAN_TENANTS_ONLY);
    if (rc < 0)
        return rc;
    move *mv = dom_calloc(p->ntenants ? p->ntenants : 1, sizeof(move));
    size_t n = 0;
    if (!mv) {
        dom_plan_free(p);
        return DOM_ENOMEM;
    }
    for (size_t i = 0; i < p->ntenants; i++) {
        const dom_plan_tenant *t = &p->tenants[i];
        const char *key = p->keys + t->key_off;
        if (t->wave != wave || is_busy(busy, key))
            continue;
        mv[n].key = key;
        mv[n].from = t->cur;
        mv[n].to = t->target;
        n++;
    }
    *tenants = (int64_t)n;
    rc = create_batches(cat, cfg, cfg->waves[wave].name, mv, n, ids, nids);
    dom_free(mv);
    dom_plan_free(p);
    return rc;
}

typedef struct rb_ctx {
    const dom_config *cfg;
    move *mv;
    size_t n, cap;
    const busy_set *busy;
    int rc;
} rb_ctx;

static int rb_add(const char *key, size_t n, const char *src, int64_t epoch, const char *cur,
                  void *payload)
{
    rb_ctx *c = payload;
    (void)epoch;
    char *k = dom_strndup(key, n);
    if (!k)
        return DOM_ENOMEM;
    if (is_busy(c->busy, k)) {
        dom_free(k);
        return 0;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        move *g = dom_realloc(c->mv, cap * sizeof(move));
        if (!g) {
            dom_free(k);
            return DOM_ENOMEM;
        }
        c->mv = g;
        c->cap = cap;
    }
    c->mv[c->n].key = k;
    c->mv[c->n].from = dom_config_region(c->cfg, cur);
    c->mv[c->n].to = dom_config_region(c->cfg, src);
    if (c->mv[c->n].from < 0 || c->mv[c->n].to < 0) {
        dom_free(k);
        return dom_error_set(DOM_ECONFIG, "tenant %.*s moved between regions the config lacks",
                             (int)n, key);
    }
    c->n++;
    return 0;
}

static int plan_rollback(dom_catalog *cat, const dom_config *cfg, const char *wave,
                         const busy_set *busy, int64_t **ids, size_t *nids, int64_t *tenants)
{
    rb_ctx c = {cfg, NULL, 0, 0, busy, 0};
    int rc = dom_catalog_wave_tenants(cat, wave, rb_add, &c);
    char name[96];
    snprintf(name, sizeof(name), "rollback:%s", wave);
    if (rc == 0)
        rc = create_batches(cat, cfg, name, c.mv, c.n, ids, nids);
    *tenants = (int64_t)c.n;
    for (size_t i = 0; i < c.n; i++)
        dom_free((char *)c.mv[i].key);
    dom_free(c.mv);
    return rc;
}

/* One mover at a time per SQLite catalog: the journal has no claims or
 * leases, so a second process would run the same batches.  The lock is the
 * kernel's and goes away with the process, also on SIGKILL. */
static int apply_locked(const dom_config *cfg, const dom_apply_opts *o, dom_apply_stats *stats);

static int lock_catalog(const dom_config *cfg, int *fd)
{
    *fd = -1;
    if (cfg->catalog.kind != DOM_DSN_SQLITE)
        return 0;
    char *path = dom_sprintf("%s.lock", cfg->catalog.path);
    if (!path)
        return DOM_ENOMEM;
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) {
        int rc = dom_error_set(DOM_EREGION, "catalog %s: cannot open %s", cfg->catalog.path, path);
        dom_free(path);
        return rc;
    }
    dom_free(path);
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        close(f);
        return dom_error_set(DOM_EBUSY,
                             "another domicile process is moving tenants with catalog %s; run "
                             "one apply, rollback or erase at a time",
                             cfg->catalog.path);
    }
    *fd = f;
    return 0;
}

typedef struct quiet_job {
    const dom_config *cfg;
    size_t region;
} quiet_job;

/* Makes one region quiet when that is safe (pg_set_mode says). */
static void *quiet_main(void *arg)
{
    const quiet_job *j = arg;
    const dom_config *cfg = j->cfg;
    size_t i = j->region;
    dom_store *st = NULL;
    dom_table_info *info = NULL;
    size_t ninfo = 0, nmt = 0;
    dom_move_table *mt = NULL;
    int quiet = 0;
    int rc = dom_store_open(&st, &cfg->regions[i], DOM_STORE_MUST_EXIST);
    if (rc == 0)
        st->fence_wait_sec = cfg->options.fence_wait_sec;
    if (rc == 0)
        rc = dom_store_tables(st, &info, &ninfo);
    if (rc == 0)
        rc = dom_move_tables(&mt, &nmt, cfg, cfg->regions[i].name, info, ninfo);
    if (rc == 0)
        rc = dom_store_set_mode(st, mt, nmt, 1, &quiet);
    if (rc < 0)
        dom_log(DOM_LOG_DEBUG, "region \"%s\" stays active: %s", cfg->regions[i].name,
                dom_error_last());
    else if (quiet)
        dom_log(DOM_LOG_DEBUG, "region \"%s\" is quiet", cfg->regions[i].name);
    dom_free(mt);
    dom_table_info_free(info, ninfo);
    if (st)
        dom_store_close(st);
    return NULL;
}

/* Makes quiet every region where nothing is in motion and no source copy
 * is retained (a retained copy's writes must be refused: its tenant lives
 * elsewhere), as far as no other mover works there (the store decides).
 * Staying active is always safe: failures are logged, not returned. */
void dom_quiet_regions(const dom_config *cfg, dom_catalog *cat)
{
    int retained[DOM_MAX_REGIONS] = {0};
    int64_t *ids = NULL;
    size_t n = 0;
    if (cfg->options.always_active)
        return;
    if (dom_catalog_batches(cat, "flipped", &ids, &n) < 0) {
        dom_log(DOM_LOG_DEBUG, "quiet regions: %s", dom_error_last());
        return;
    }
    for (size_t i = 0; i < n; i++) {
        dom_batch b = {0};
        if (dom_catalog_batch_load(cat, ids[i], &b) == 0) {
            int r = dom_config_region(cfg, b.src);
            if (r >= 0)
                retained[r] = 1;
        } else {
            memset(retained, 1, sizeof(retained)); /* unknown: none quiet */
        }
        dom_batch_free(&b);
    }
    dom_free(ids);
    /* one thread a region: a far region's switch is a dozen round trips */
    quiet_job jobs[DOM_MAX_REGIONS];
    pthread_t th[DOM_MAX_REGIONS];
    int started[DOM_MAX_REGIONS] = {0};
    for (size_t i = 0; i < cfg->nregions; i++) {
        if (retained[i])
            continue;
        jobs[i] = (quiet_job){cfg, i};
        started[i] = pthread_create(&th[i], NULL, quiet_main, &jobs[i]) == 0;
        if (!started[i])
            quiet_main(&jobs[i]);
    }
    for (size_t i = 0; i < cfg->nregions; i++)
        if (started[i])
            pthread_join(th[i], NULL);
}

int dom_apply(const dom_config *cfg, const dom_apply_opts *o, dom_apply_stats *stats)
{
    int lock_fd;
    memset(stats, 0, sizeof(*stats));
    stats->t0 = dom_mono();
    int lrc = lock_catalog(cfg, &lock_fd);
    if (lrc < 0)
        return lrc;
    dom_control_begin(cfg, o->on_control, o->payload);
    int r = o->dry_run ? 0 : dom_control_watch(cfg);
    if (r == 0)
        r = apply_locked(cfg, o, stats);
    dom_control_end();
    dom_control c;
    dom_control_now(&c);
    stats->paused_sec = c.paused_sec;
    if (lock_fd >= 0)
        close(lock_fd);
    return r;
}

/* Every region must support moves, be a database of its own and be
 * prepared as itself before anything is journaled. */
/* Opens every region: each must exist and take moves; *rtt_ms is the
 * longest round trip to one. */
static int check_regions(const dom_config *cfg, double *rtt_ms)
{
    dom_store *st[DOM_MAX_REGIONS] = {0};
    int rc = 0;
    *rtt_ms = 0;
    for (size_t i = 0; rc == 0 && i < cfg->nregions; i++) {
        double ms;
        if ((rc = dom_store_open(&st[i], &cfg->regions[i], DOM_STORE_MUST_EXIST)) < 0 ||
            (rc = dom_store_ping(st[i], &ms)) < 0)
            break;
        region_rtt[i] = ms;
        pthread_mutex_lock(&mode_mu);
        mode_state[i] = MODE_UNKNOWN;
        pthread_mutex_unlock(&mode_mu);
        if (ms > *rtt_ms)
            *rtt_ms = ms;
        if (!dom_store_can_move(st[i]))
            rc = dom_error_set(DOM_EUNSUPPORTED,
                               "region \"%s\": moving tenants is not supported by the %s store "
                               "in this version",
                               cfg->regions[i].name, st[i]->ops->engine);
    }
    if (rc == 0)
        rc = dom_store_check_regions(st, cfg->regions, cfg->nregions, 1);
    for (size_t i = 0; i < cfg->nregions; i++)
        dom_store_close(st[i]);
    return rc;
}

/* The unfinished batches of wave PREFIX+NAME (replacing *ids). */
static int shared_wave(dom_catalog *cat, const char *prefix, const char *name, int64_t **ids,
                       size_t *n)
{
    char wave[160];
    snprintf(wave, sizeof(wave), "%s%s", prefix, name);
    dom_free(*ids);
    *ids = NULL;
    *n = 0;
    return dom_catalog_wave_unfinished(cat, wave, ids, n);
}

static int apply_locked(const dom_config *cfg, const dom_apply_opts *o, dom_apply_stats *stats)
{
    dom_catalog *cat = NULL;
    int64_t *ids = NULL;
    size_t nids = 0;
    busy_set busy = {0};
    int rc;
    double t0 = stats->t0;
    memset(stats, 0, sizeof(*stats));
    stats->t0 = t0;
    if ((rc = check_regions(cfg, &stats->rtt_ms)) < 0)
        return rc;
    if ((rc = dom_catalog_open(&cat, cfg, 0)) < 0)
        return rc;
    int shared = dom_catalog_shared(cat);
    int64_t dir = 0;
    if ((rc = dom_catalog_directory_count(cat, &dir)) < 0)
        goto done;
    if (dir == 0) {
        rc = dom_error_set(DOM_EUSAGE, "the directory is empty: run 'domicile prepare' first");
        goto done;
    }
    if (o->erase_only) {
        if ((rc = dom_catalog_batches(cat, "flipped", &ids, &nids)) < 0)
            goto done;
        if (nids)
            rc = run_pool_ex(cfg, o, ids, nids, stats, shared, NULL, NULL);
        goto done;
    }
    /* unfinished batches first, whatever their wave */
    if ((rc = dom_catalog_batches(cat, "unfinished", &ids, &nids)) < 0)
        goto done;
    if (nids && o->on_planned)
        o->on_planned("(resumed)", (int64_t)nids, -1, o->payload);
    if (!o->dry_run && nids && (rc = run_pool_ex(cfg, o, ids, nids, stats, shared, NULL, NULL)) < 0)
        goto done;
    dom_free(ids);
    ids = NULL;
    nids = 0;
    if (o->rollback) {
        /* one mover plans at a time; the others then find the batches */
        if (shared && !o->dry_run && (rc = dom_catalog_plan_lock(cat, 1)) < 0)
            goto done;
        if ((rc = dom_catalog_busy_tenants(cat, busy_add, &busy)) < 0) {
            if (shared && !o->dry_run)
                dom_catalog_plan_lock(cat, 0);
            goto done;
        }
        if (busy.n)
            qsort(busy.keys, busy.n, sizeof(char *), cmp_str);
        int64_t tenants = 0;
        if (o->dry_run) {
            rc = 0;
            goto done;
        }
        rc = plan_rollback(cat, cfg, o->wave, &busy, &ids, &nids, &tenants);
        if (shared)
            dom_catalog_plan_lock(cat, 0);
        if (rc < 0)
            goto done;
        stats->batches_planned += (int64_t)nids;
        if (o->on_planned)
            o->on_planned(o->wave, (int64_t)nids, tenants, o->payload);
        if (shared && (rc = shared_wave(cat, "rollback:", o->wave, &ids, &nids)) < 0)
            goto done;
        if (nids && (rc = run_pool_ex(cfg, o, ids, nids, stats, shared, NULL, NULL)) < 0)
            goto done;
        goto done;
    }
    for (size_t w = 0; w < cfg->nwaves; w++) {
        if (o->wave && strcmp(o->wave, cfg->waves[w].name) != 0)
            continue;
        if (dom_interrupted) {
            rc = dom_error_set(DOM_EINTR, "interrupted; run the same command again to resume");
            goto done;
        }
        busy_free(&busy);
        memset(&busy, 0, sizeof(busy));
        if (shared && !o->dry_run && (rc = dom_catalog_plan_lock(cat, 1)) < 0)
            goto done;
        if ((rc = dom_catalog_busy_tenants(cat, busy_add, &busy)) < 0) {
            if (shared && !o->dry_run)
                dom_catalog_plan_lock(cat, 0);
            goto done;
        }
        if (busy.n)
            qsort(busy.keys, busy.n, sizeof(char *), cmp_str);
        int64_t tenants = 0;
        if (o->dry_run) {
            dom_plan *p;
            if ((rc = dom_plan_build(&p, cfg)) < 0)
                goto done;
            int64_t bt = cfg->options.batch_tenants;
            tenants = p->waves[w].tenants;
            if (o->on_planned)
                o->on_planned(cfg->waves[w].name, (tenants + bt - 1) / bt, tenants, o->payload);
            dom_plan_free(p);
            continue;
        }
        rc = plan_wave(cat, cfg, w, &busy, &ids, &nids, &tenants);
        if (shared)
            dom_catalog_plan_lock(cat, 0);
        if (rc < 0)
            goto done;
        stats->batches_planned += (int64_t)nids;
        if (o->on_planned)
            o->on_planned(cfg->waves[w].name, (int64_t)nids, tenants, o->payload);
        /* with several movers: every unfinished batch of the wave, whoever
         * planned it */
        if (shared && (rc = shared_wave(cat, "", cfg->waves[w].name, &ids, &nids)) < 0)
            goto done;
        /* the wave's batches flip; their sources are erased together.  With
         * several movers each batch erases its source itself: a mover
         * never holds a flipped batch while it waits for the others. */
        dom_apply_opts wo = *o;
        wo.defer_erase = !shared;
        if (nids) {
            if ((rc = run_pool_ex(cfg, &wo, ids, nids, stats, shared, NULL, NULL)) < 0)
                goto done;
            if (!shared && (rc = erase_wave(cfg, ids, nids, o, stats)) < 0)
                goto done;
        }
        dom_free(ids);
        ids = NULL;
        nids = 0;
    }
    rc = 0;
done:
    workers_close(cfg);
    if (shared)
        dom_catalog_release_all(cat);
    /* the workers' sessions are closed: regions where nothing is left in
     * motion go quiet (an interrupted or failed run leaves them active,
     * which is always safe; the next run ends it) */
    if (rc == 0 && !o->dry_run)
        dom_quiet_regions(cfg, cat);
    dom_free(ids);
    busy_free(&busy);
    dom_catalog_close(cat);
    if (rc == 0 && stats->batches_failed)
        return dom_error_set(DOM_EFAILED, "%lld batch%s failed; last: %s",
                             (long long)stats->batches_failed,
                             stats->batches_failed == 1 ? "" : "es", stats->last_error);
    return rc;
}

void dom_apply_stats_free(dom_apply_stats *s)
{
    dom_free(s->pauses_ms);
    s->pauses_ms = NULL;
    s->npauses = 0;
}
