/*
 * catalog.c - the catalog's statements, written once for every engine
 * on the database layer (store/db.h): directory, journal, transfer log,
 * what status shows.  What one engine does its own way (the schema,
 * claims and leases, bulk writes) is its part of the catalog
 * (catalog_impl.h: catalog_sqlite.c, catalog_pg.c); an operation an
 * engine leaves out falls back to the generic one here.  It knows nothing
 * of regions' data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/catalog_impl.h"
#include "util/util.h"

double dom__now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The catalog's part of each engine, by dom_db_engine(). */
static const dom_catalog_engine *const engines[] = {&dom_catalog_sqlite, &dom_catalog_pg, NULL};

void dom_catalog_close(dom_catalog *cat)
{
    if (!cat)
        return;
    dom_db_close(cat->db);
    dom_buf_free(&cat->puts);
    dom_free(cat);
}

int dom_catalog_open(dom_catalog **out, const dom_config *cfg, int flags)
{
    *out = NULL;
    dom_catalog *cat = dom_calloc(1, sizeof(*cat));
    if (!cat)
        return DOM_ENOMEM;
    cat->lease_sec = cfg->options.lease_sec > 0 ? cfg->options.lease_sec : 30;
    cat->puts = (dom_buf)DOM_BUF_INIT;
    int rc = dom_db_open(&cat->db, &cfg->catalog, "catalog",
                         (flags & DOM_CATALOG_READONLY) ? DOM_DB_NOCREATE : 0);
    for (size_t i = 0; rc == 0 && engines[i] && !cat->e; i++)
        if (strcmp(engines[i]->name, dom_db_engine(cat->db)) == 0)
            cat->e = engines[i];
    if (rc == 0 && !cat->e)
        rc = dom_error_set(DOM_EUNSUPPORTED, "catalog %s: the %s engine keeps no catalog",
                           dom_db_name(cat->db), dom_db_engine(cat->db));
    if (rc == 0)
        rc = cat->e->setup(cat, flags);
    if (rc < 0) {
        dom_catalog_close(cat);
        return rc;
    }
    *out = cat;
    return 0;
}

const char *dom_catalog_name(const dom_catalog *cat)
{
    return dom_db_name(cat->db);
}

/* A statement on the table of the catalog's own values (its name is the
 * engine's: a constant, never user data). */
static const char *meta_sql(const dom_catalog *cat, char *buf, size_t n, const char *fmt)
{
    snprintf(buf, n, fmt, cat->e->meta);
    return buf;
}

/* ---- reading rows ---------------------------------------------------------------- */

static int64_t *ids_grow(int64_t **ids, size_t *n, size_t *cap)
{
    if (dom_grow(ids, cap, *n + 1, sizeof(int64_t), 16) < 0)
        return NULL;
    return &(*ids)[(*n)++];
}

typedef struct id_list {
    int64_t **ids;
    size_t *n, cap;
} id_list;

static int id_row(const dom_db_row *r, void *payload)
{
    id_list *l = payload;
    int64_t *slot = ids_grow(l->ids, l->n, &l->cap);
    if (!slot)
        return DOM_ENOMEM;
    *slot = dom_db_int(r, 0);
    return 0;
}

static int ids_query(dom_catalog *cat, const char *sql, const dom_db_arg *a, int n, int64_t **ids,
                     size_t *nids)
{
    *ids = NULL;
    *nids = 0;
    id_list l = {ids, nids, 0};
    int rc = dom_db_query(cat->db, "cannot list batches", sql, a, n, id_row, &l);
    if (rc != 0) {
        dom_free(*ids);
        *ids = NULL;
        *nids = 0;
    }
    return rc;
}

/* Rows as directory entries: (key, text, integer, text); fewer columns
 * give NULL and 0. */
typedef struct dir_ctx {
    dom_directory_cb cb;
    void *payload;
} dir_ctx;

static int dir_row(const dom_db_row *r, void *payload)
{
    const dir_ctx *c = payload;
    return c->cb(dom_db_text(r, 0), dom_db_len(r, 0), dom_db_text(r, 1), dom_db_int(r, 2),
                 dom_db_text(r, 3), c->payload);
}

static int dir_query(dom_catalog *cat, const char *what, const char *sql, const char *param,
                     dom_directory_cb cb, void *payload)
{
    if (cat->empty)
        return 0;
    dir_ctx c = {cb, payload};
    dom_db_arg a[1] = {DOM_DB_T(param)};
    return dom_db_query(cat->db, what, sql, a, param ? 1 : 0, dir_row, &c);
}

/* ---- the directory --------------------------------------------------------------- */

int dom_catalog_scan_directory(dom_catalog *cat, dom_directory_cb cb, void *payload)
{
    return dir_query(cat, "cannot read directory",
                     "SELECT tenant, region, epoch, state FROM directory", NULL, cb, payload);
}

int dom_catalog_directory_count(dom_catalog *cat, int64_t *out)
{
    *out = 0;
    if (cat->empty)
        return 0;
    return dom_db_query(cat->db, "cannot read directory", "SELECT count(*) FROM directory", NULL, 0,
                        dom_db_keep_int, out);
}

static int location_row(const dom_db_row *r, void *payload)
{
    dom_location *out = payload;
    snprintf(out->region, sizeof(out->region), "%s", dom_db_text(r, 0));
    out->epoch = dom_db_int(r, 1);
    snprintf(out->state, sizeof(out->state), "%s", dom_db_text(r, 2));
    return 0;
}

int dom_catalog_locate(dom_catalog *cat, const char *key, dom_location *out)
{
    memset(out, 0, sizeof(*out));
    dom_db_arg a[1] = {DOM_DB_T(key)};
    int rc = cat->empty
                 ? 0
                 : dom_db_query(cat->db, "cannot read directory",
                                "SELECT region, epoch, state FROM directory WHERE tenant = $1", a,
                                1, location_row, out);
    if (rc == 0 && !out->region[0])
        return dom_error_set(DOM_ENOTFOUND, "tenant %s is not in the directory", key);
    return rc;
}

#define PUT_SQL                                                                                    \
    "INSERT INTO directory VALUES ($1, $2, $3, $4) ON CONFLICT (tenant) DO UPDATE SET region = "   \
    "excluded.region, epoch = excluded.epoch, state = excluded.state"

int dom_catalog_put(dom_catalog *cat, const char *key, const char *region, int64_t epoch,
                    const char *state)
{
    if (cat->e->put && cat->in_tx)
        return cat->e->put(cat, key, region, epoch, state);
    dom_db_arg a[4] = {DOM_DB_T(key), DOM_DB_T(region), DOM_DB_I(epoch), DOM_DB_T(state)};
    return dom_db_exec(cat->db, "cannot write directory", PUT_SQL, a, 4, NULL);
}

/* ---- transactions ---------------------------------------------------------------- */

int dom_catalog_begin(dom_catalog *cat)
{
    int rc = dom_db_begin(cat->db);
    cat->in_tx = rc == 0;
    return rc;
}

int dom_catalog_commit(dom_catalog *cat)
{
    int rc = cat->e->flush ? cat->e->flush(cat) : 0;
    if (rc == 0)
        rc = dom_db_commit(cat->db);
    else
        dom_db_rollback(cat->db);
    cat->in_tx = 0;
    return rc;
}

void dom_catalog_rollback(dom_catalog *cat)
{
    dom_buf_clear(&cat->puts);
    dom_db_rollback(cat->db);
    cat->in_tx = 0;
}

/* ---- the move journal ------------------------------------------------------------ */

int dom_catalog_batch_create(dom_catalog *cat, const char *wave, const char *src, const char *dst,
                             const char *const *keys, size_t n, int64_t *id)
{
    dom_db_arg a[5] = {DOM_DB_T(wave), DOM_DB_T(src), DOM_DB_T(dst), DOM_DB_I(n),
                       DOM_DB_R(dom__now_sec())};
    *id = 0;
    int rc = dom_db_query(cat->db, "cannot create batch",
                          "INSERT INTO batches (wave, src, dst, step, tenants, created_at, "
                          "updated_at) VALUES ($1, $2, $3, 'new', $4, $5, $5) RETURNING id",
                          a, 5, dom_db_keep_int, id);
    if (rc < 0)
        return rc;
    if (cat->e->tenants_put)
        return cat->e->tenants_put(cat, *id, keys, n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        dom_db_arg t[2] = {DOM_DB_I(*id), DOM_DB_T(keys[i])};
        rc = dom_db_exec(cat->db, "cannot record batch tenants",
                         "INSERT INTO batch_tenants VALUES ($1, $2)", t, 2, NULL);
    }
    return rc;
}

int dom_catalog_batches(dom_catalog *cat, const char *where_step, int64_t **ids, size_t *n)
{
    if (strcmp(where_step, "unfinished") == 0)
        return ids_query(cat,
                         "SELECT id FROM batches WHERE step NOT IN ('done', 'failed') ORDER BY id",
                         NULL, 0, ids, n);
    dom_db_arg a[1] = {DOM_DB_T(where_step)};
    return ids_query(cat, "SELECT id FROM batches WHERE step = $1 ORDER BY id", a, 1, ids, n);
}

int dom_catalog_wave_unfinished(dom_catalog *cat, const char *wave, int64_t **ids, size_t *n)
{
    dom_db_arg a[1] = {DOM_DB_T(wave)};
    return ids_query(cat,
                     "SELECT id FROM batches WHERE wave = $1 AND step NOT IN ('done', 'failed') "
                     "ORDER BY id",
                     a, 1, ids, n);
}

void dom_batch_free(dom_batch *b)
{
    for (size_t i = 0; i < b->nkeys; i++)
        dom_free(b->keys[i]);
    dom_free(b->keys);
    dom_free(b->epochs);
    memset(b, 0, sizeof(*b));
}

static int batch_row(const dom_db_row *r, void *payload)
{
    dom_batch *b = payload;
    b->id = dom_db_int(r, 15);
    snprintf(b->wave, sizeof(b->wave), "%s", dom_db_text(r, 0));
    snprintf(b->src, sizeof(b->src), "%s", dom_db_text(r, 1));
    snprintf(b->dst, sizeof(b->dst), "%s", dom_db_text(r, 2));
    snprintf(b->step, sizeof(b->step), "%s", dom_db_text(r, 3));
    b->tenants = dom_db_int(r, 4);
    b->copy_seq = dom_db_int(r, 5);
    b->applied_seq = dom_db_int(r, 6);
    b->rows = dom_db_int(r, 7);
    b->bytes = dom_db_int(r, 8);
    b->erased = dom_db_int(r, 9);
    snprintf(b->schema_sig, sizeof(b->schema_sig), "%s", dom_db_text(r, 10));
    b->flipped_at = dom_db_real(r, 11);
    b->pause_ms = dom_db_real(r, 12);
    snprintf(b->error, sizeof(b->error), "%s", dom_db_text(r, 13));
    b->logged = (int)dom_db_int(r, 14);
    return 0;
}

static int batch_key_row(const dom_db_row *r, void *payload)
{
    dom_batch *b = payload;
    if (b->nkeys % 64 == 0) {
        char **k = dom_realloc(b->keys, (b->nkeys + 64) * sizeof(char *));
        if (!k)
            return DOM_ENOMEM;
        b->keys = k;
        int64_t *e = dom_realloc(b->epochs, (b->nkeys + 64) * sizeof(int64_t));
        if (!e)
            return DOM_ENOMEM;
        b->epochs = e;
    }
    if (!(b->keys[b->nkeys] = dom_strdup(dom_db_text(r, 0))))
        return DOM_ENOMEM;
    b->epochs[b->nkeys++] = dom_db_int(r, 1);
    return 0;
}

int dom_catalog_batch_load(dom_catalog *cat, int64_t id, dom_batch *b)
{
    memset(b, 0, sizeof(*b));
    dom_db_arg a[1] = {DOM_DB_I(id)};
    b->id = -1;
    int rc = dom_db_query(cat->db, "cannot read batch",
                          "SELECT wave, src, dst, step, tenants, copy_seq, applied_seq, rows, "
                          "bytes, erased, coalesce(schema_sig, ''), coalesce(flipped_at, 0), "
                          "coalesce(pause_ms, 0), coalesce(error, ''), logged, id FROM batches "
                          "WHERE id = $1",
                          a, 1, batch_row, b);
    if (rc == 0 && b->id != id)
        rc = dom_error_set(DOM_ENOTFOUND, "catalog %s: no batch %lld", dom_db_name(cat->db),
                           (long long)id);
    if (rc == 0)
        rc = dom_db_query(cat->db, "cannot read batch tenants",
                          "SELECT bt.tenant, coalesce(d.epoch, 1) FROM batch_tenants bt LEFT JOIN "
                          "directory d ON d.tenant = bt.tenant WHERE bt.batch = $1",
                          a, 1, batch_key_row, b);
    if (rc != 0) {
        dom_batch_free(b);
        return rc;
    }
    /* neighbouring keys first (insertion sort: batches are small and the
     * database order is nearly right already) */
    for (size_t i = 1; i < b->nkeys; i++)
        for (size_t j = i; j > 0 && dom_key_cmp(b->keys[j - 1], b->keys[j]) > 0; j--) {
            char *k = b->keys[j];
            int64_t e = b->epochs[j];
            b->keys[j] = b->keys[j - 1];
            b->epochs[j] = b->epochs[j - 1];
            b->keys[j - 1] = k;
            b->epochs[j - 1] = e;
        }
    return 0;
}

int dom_catalog_batch_update(dom_catalog *cat, const dom_batch *b)
{
    char sql[640];
    snprintf(sql, sizeof(sql), "%s%s",
             "UPDATE batches SET step = $2, copy_seq = $3, applied_seq = $4, rows = $5, "
             "bytes = $6, erased = $7, schema_sig = nullif($8, ''), pause_ms = $9, "
             "error = nullif($10, ''), updated_at = $11, logged = $12",
             cat->e->update_tail);
    dom_db_arg a[14] = {DOM_DB_I(b->id),          DOM_DB_T(b->step),        DOM_DB_I(b->copy_seq),
                        DOM_DB_I(b->applied_seq), DOM_DB_I(b->rows),        DOM_DB_I(b->bytes),
                        DOM_DB_I(b->erased),      DOM_DB_T(b->schema_sig),  DOM_DB_R(b->pause_ms),
                        DOM_DB_T(b->error),       DOM_DB_R(dom__now_sec()), DOM_DB_I(b->logged),
                        DOM_DB_T(cat->owner),     DOM_DB_I(cat->lease_sec)};
    int64_t changed = 0;
    int rc = dom_db_exec(cat->db, "cannot update batch", sql, a, cat->e->update_args, &changed);
    if (rc == 0 && changed != 1)
        return dom_error_set(DOM_EINTR,
                             "batch %lld: another mover took it over (this mover's lease "
                             "expired); it goes on from the journal",
                             (long long)b->id);
    return rc;
}

int dom_catalog_set_state(dom_catalog *cat, int64_t batch, const char *state)
{
    dom_db_arg a[2] = {DOM_DB_I(batch), DOM_DB_T(state)};
    return dom_db_exec(cat->db, "cannot update directory",
                       "UPDATE directory SET state = $2 WHERE tenant IN (SELECT tenant FROM "
                       "batch_tenants WHERE batch = $1)",
                       a, 2, NULL);
}

static int flip_tx(dom_catalog *cat, dom_batch *b)
{
    dom_db_arg a[2] = {DOM_DB_I(b->id), DOM_DB_T(b->dst)};
    int rc = dom_db_exec(cat->db, "cannot flip directory",
                         "UPDATE directory SET region = $2, epoch = epoch + 1, state = 'home' "
                         "WHERE tenant IN (SELECT tenant FROM batch_tenants WHERE batch = $1)",
                         a, 2, NULL);
    if (rc < 0)
        return rc;
    char step[sizeof(b->step)];
    double flipped = b->flipped_at;
    memcpy(step, b->step, sizeof(step));
    snprintf(b->step, sizeof(b->step), "flipped");
    b->flipped_at = dom__now_sec();
    dom_db_arg f[2] = {DOM_DB_I(b->id), DOM_DB_R(b->flipped_at)};
    if ((rc = dom_catalog_batch_update(cat, b)) < 0 ||
        (rc = dom_db_exec(cat->db, "cannot flip batch",
                          "UPDATE batches SET flipped_at = $2 WHERE id = $1", f, 2, NULL)) < 0) {
        memcpy(b->step, step, sizeof(step));
        b->flipped_at = flipped;
    }
    return rc;
}

int dom_catalog_flip(dom_catalog *cat, dom_batch *b)
{
    int rc = dom_catalog_begin(cat);
    if (rc < 0)
        return rc;
    if ((rc = flip_tx(cat, b)) < 0) {
        dom_catalog_rollback(cat);
        return rc;
    }
    if ((rc = dom_catalog_commit(cat)) < 0)
        return rc;
    for (size_t i = 0; i < b->nkeys; i++)
        b->epochs[i]++;
    return 0;
}

int dom_catalog_busy_tenants(dom_catalog *cat, dom_directory_cb cb, void *payload)
{
    return dir_query(cat, "cannot read batches",
                     "SELECT bt.tenant FROM batch_tenants bt JOIN batches b ON b.id = bt.batch "
                     "WHERE b.step NOT IN ('done', 'failed')",
                     NULL, cb, payload);
}

int dom_catalog_wave_tenants(dom_catalog *cat, const char *wave, dom_directory_cb cb, void *payload)
{
    return dir_query(cat, "cannot read batches",
                     "SELECT bt.tenant, b.src, d.epoch, d.region FROM batch_tenants bt JOIN "
                     "batches b ON b.id = bt.batch JOIN directory d ON d.tenant = bt.tenant "
                     "WHERE b.wave = $1 AND b.step IN ('flipped', 'done') AND d.region = "
                     "b.dst AND b.id = (SELECT max(l.batch) FROM batch_tenants l JOIN "
                     "batches lb ON lb.id = l.batch WHERE l.tenant = bt.tenant AND lb.step "
                     "IN ('flipped', 'done')) ORDER BY b.id, bt.tenant",
                     wave, cb, payload);
}

int dom_catalog_wave_members(dom_catalog *cat, const char *wave, dom_directory_cb cb, void *payload)
{
    return dir_query(cat, "cannot read batches",
                     "SELECT DISTINCT d.tenant, d.region, d.epoch, d.state FROM batch_tenants "
                     "bt JOIN batches b ON b.id = bt.batch JOIN directory d ON d.tenant = "
                     "bt.tenant WHERE b.wave = $1 ORDER BY d.tenant",
                     wave, cb, payload);
}

int dom_catalog_batch_untouched(dom_catalog *cat, int64_t id, int *yes)
{
    dom_db_arg a[1] = {DOM_DB_I(id)};
    int64_t n = -1;
    int rc = dom_db_query(cat->db, "cannot read batches",
                          "SELECT count(*) FROM batch_tenants bt JOIN batches b ON b.id = "
                          "bt.batch JOIN directory d ON d.tenant = bt.tenant WHERE bt.batch = $1 "
                          "AND (d.region <> b.dst OR EXISTS (SELECT 1 FROM batch_tenants l JOIN "
                          "batches lb ON lb.id = l.batch WHERE l.tenant = bt.tenant AND l.batch > "
                          "$1 AND lb.step <> 'failed'))",
                          a, 1, dom_db_keep_int, &n);
    *yes = rc == 0 && n == 0;
    return rc;
}

/* ---- the catalog's own values ---------------------------------------------------- */

int dom_catalog_meta_set(dom_catalog *cat, const char *key, const char *value)
{
    char sql[160];
    dom_db_arg a[2] = {DOM_DB_T(key), DOM_DB_T(value)};
    return dom_db_exec(cat->db, "cannot write meta",
                       meta_sql(cat, sql, sizeof(sql),
                                "INSERT INTO %s VALUES ($1, $2) ON CONFLICT (key) DO UPDATE "
                                "SET value = excluded.value"),
                       a, 2, NULL);
}

typedef struct text_out {
    char *buf;
    size_t n;
} text_out;

static int text_row(const dom_db_row *r, void *payload)
{
    text_out *o = payload;
    snprintf(o->buf, o->n, "%s", dom_db_text(r, 0) ? dom_db_text(r, 0) : "");
    return 0;
}

int dom_catalog_meta_get(dom_catalog *cat, const char *key, char *value, size_t n)
{
    char sql[96];
    value[0] = '\0';
    if (cat->empty)
        return 0; /* a catalog created by a reader: nothing in it yet */
    text_out o = {value, n};
    dom_db_arg a[1] = {DOM_DB_T(key)};
    return dom_db_query(cat->db, "cannot read meta",
                        meta_sql(cat, sql, sizeof(sql), "SELECT value FROM %s WHERE key = $1"), a,
                        1, text_row, &o);
}

/* ---- the transfer log ------------------------------------------------------------ */

static const char GENESIS[] = "0000000000000000000000000000000000000000000000000000000000000000";

void dom_log_hash(const char *prev, const char *entry, char out[65])
{
    dom_buf b = DOM_BUF_INIT;
    unsigned char d[32];
    dom_buf_puts(&b, prev);
    dom_buf_putc(&b, '\n');
    dom_buf_puts(&b, entry);
    dom_sha256(b.ptr ? b.ptr : "", b.len, d);
    dom_hex(d, 32, out);
    dom_buf_free(&b);
}

typedef struct log_last {
    int64_t *seq;
    char *prev;
} log_last;

static int log_last_row(const dom_db_row *r, void *payload)
{
    log_last *l = payload;
    *l->seq = dom_db_int(r, 0) + 1;
    snprintf(l->prev, 65, "%s", dom_db_text(r, 1));
    return 0;
}

int dom_catalog_log_next(dom_catalog *cat, int64_t *seq, char prev[65])
{
    /* one writer of the log at a time, until the transaction ends */
    int rc = cat->e->log_lock ? cat->e->log_lock(cat) : 0;
    if (rc < 0)
        return rc;
    *seq = 1;
    memcpy(prev, GENESIS, 65);
    log_last l = {seq, prev};
    return dom_db_query(cat->db, "cannot read the transfer log",
                        "SELECT seq, hash FROM transfer_log ORDER BY seq DESC LIMIT 1", NULL, 0,
                        log_last_row, &l);
}

int dom_catalog_log_write(dom_catalog *cat, int64_t seq, const char *entry, const char *prev,
                          char hash[65])
{
    dom_log_hash(prev, entry, hash);
    dom_db_arg a[4] = {DOM_DB_I(seq), DOM_DB_T(entry), DOM_DB_T(prev), DOM_DB_T(hash)};
    int rc = dom_db_exec(cat->db, "cannot append to the transfer log",
                         "INSERT INTO transfer_log VALUES ($1, $2, $3, $4)", a, 4, NULL);
    if (rc < 0)
        return rc;
    char head[96], sql[160];
    snprintf(head, sizeof(head), "%lld %s", (long long)seq, hash);
    dom_db_arg h[1] = {DOM_DB_T(head)};
    return dom_db_exec(cat->db, "cannot record the transfer log's head",
                       meta_sql(cat, sql, sizeof(sql),
                                "INSERT INTO %s VALUES ('log_head', $1) ON CONFLICT (key) DO "
                                "UPDATE SET value = excluded.value"),
                       h, 1, NULL);
}

typedef struct log_ctx {
    dom_log_cb cb;
    void *payload;
} log_ctx;

static int log_row(const dom_db_row *r, void *payload)
{
    const log_ctx *c = payload;
    return c->cb(dom_db_int(r, 0), dom_db_text(r, 1), dom_db_text(r, 2), dom_db_text(r, 3),
                 c->payload);
}

int dom_catalog_log_scan(dom_catalog *cat, dom_log_cb cb, void *payload)
{
    if (cat->empty)
        return 0;
    log_ctx c = {cb, payload};
    return dom_db_query(cat->db, "cannot read the transfer log",
                        "SELECT seq, entry, prev, hash FROM transfer_log ORDER BY seq", NULL, 0,
                        log_row, &c);
}

int dom_catalog_log_head(dom_catalog *cat, int64_t *seq, char hash[65])
{
    char v[128];
    *seq = 0;
    hash[0] = '\0';
    /* a catalog that cannot say has no head: audit reports the regions' */
    if (dom_catalog_meta_get(cat, "log_head", v, sizeof(v)) < 0)
        return 0;
    long long n = 0;
    char h[65] = {0};
    if (sscanf(v, "%lld %64s", &n, h) == 2) {
        *seq = n;
        memcpy(hash, h, 65);
    }
    return 0;
}

int dom_catalog_rows_put(dom_catalog *cat, int64_t batch, const char *const *tbl,
                         const char *const *pk, const char *const *digest, size_t n)
{
    if (cat->e->rows_put)
        return cat->e->rows_put(cat, batch, tbl, pk, digest, n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        dom_db_arg a[4] = {DOM_DB_I(batch), DOM_DB_T(tbl[i]), DOM_DB_T(pk[i]), DOM_DB_T(digest[i])};
        rc = dom_db_exec(cat->db, "cannot record the transferred rows",
                         "INSERT INTO transfer_rows VALUES ($1, $2, $3, $4)", a, 4, NULL);
    }
    return rc;
}

/* Rows handed to a dom_row_cb as text. */
typedef struct text_rows {
    dom_row_cb cb;
    void *payload;
} text_rows;

static int text_rows_row(const dom_db_row *r, void *payload)
{
    const text_rows *t = payload;
    const char *v[32];
    int n = dom_db_ncols(r) < 32 ? dom_db_ncols(r) : 32;
    for (int c = 0; c < n; c++)
        v[c] = dom_db_text(r, c);
    return t->cb(n, v, t->payload);
}

int dom_catalog_rows_scan(dom_catalog *cat, int64_t batch, dom_row_cb cb, void *payload)
{
    text_rows t = {cb, payload};
    dom_db_arg a[1] = {DOM_DB_I(batch)};
    return dom_db_query(cat->db, "cannot read the transferred rows",
                        "SELECT tbl, pk, digest FROM transfer_rows WHERE batch = $1", a, 1,
                        text_rows_row, &t);
}

/* ---- several movers ---------------------------------------------------------------- */

int dom_catalog_shared(const dom_catalog *cat)
{
    return cat->e->claim != NULL;
}

int dom_catalog_claim(dom_catalog *cat, const int64_t *ids, size_t n, int64_t *id)
{
    if (!cat->e->claim)
        return dom_error_set(DOM_EUNSUPPORTED, "an %s catalog has one mover: nothing to claim",
                             cat->e->name);
    return cat->e->claim(cat, ids, n, id);
}

int dom_catalog_release(dom_catalog *cat, int64_t id)
{
    return cat->e->release ? cat->e->release(cat, id) : 0;
}

int dom_catalog_release_all(dom_catalog *cat)
{
    return cat->e->release_all ? cat->e->release_all(cat) : 0;
}

int dom_catalog_renew(dom_catalog *cat)
{
    return cat->e->renew ? cat->e->renew(cat) : 0;
}

int dom_catalog_unfinished_among(dom_catalog *cat, const int64_t *ids, size_t n, int retained,
                                 int64_t *count)
{
    if (cat->e->unfinished_among)
        return cat->e->unfinished_among(cat, ids, n, retained, count);
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        dom_batch b;
        int rc = dom_catalog_batch_load(cat, ids[i], &b);
        if (rc < 0)
            return rc;
        *count += strcmp(b.step, "done") != 0 && strcmp(b.step, "failed") != 0 &&
                  !(retained && strcmp(b.step, "flipped") == 0);
        dom_batch_free(&b);
    }
    return 0;
}

int dom_catalog_plan_lock(dom_catalog *cat, int lock)
{
    /* without: the catalog is held by one process (apply's lock file) */
    return cat->e->plan_lock ? cat->e->plan_lock(cat, lock) : 0;
}

/* ---- what status shows ------------------------------------------------------------- */

typedef struct typed_cb {
    int (*region)(const dom_region_count *, void *);
    int (*wave)(const dom_wave_summary *, void *);
    int (*error)(const dom_batch_error *, void *);
    void *payload;
} typed_cb;

static int region_count_row(const dom_db_row *r, void *arg)
{
    const typed_cb *t = arg;
    const char *name = dom_db_text(r, 0);
    dom_region_count c = {name ? name : "", dom_db_int(r, 1), dom_db_int(r, 2)};
    return t->region(&c, t->payload);
}

int dom_catalog_region_counts(dom_catalog *cat, int (*cb)(const dom_region_count *, void *),
                              void *payload)
{
    typed_cb t = {.region = cb, .payload = payload};
    if (cat->empty)
        return 0;
    return dom_db_query(cat->db, "cannot read directory",
                        "SELECT region, count(*), count(*) FILTER (WHERE state = 'moving') "
                        "FROM directory GROUP BY region ORDER BY region",
                        NULL, 0, region_count_row, &t);
}

static int wave_summary_row(const dom_db_row *r, void *arg)
{
    const typed_cb *t = arg;
    const char *name = dom_db_text(r, 0);
    dom_wave_summary w = {name ? name : "", dom_db_int(r, 1), dom_db_int(r, 2),
                          dom_db_int(r, 3), dom_db_int(r, 4), dom_db_int(r, 5),
                          dom_db_int(r, 6), dom_db_int(r, 7), dom_db_real(r, 8)};
    return t->wave(&w, t->payload);
}

int dom_catalog_wave_summaries(dom_catalog *cat, int (*cb)(const dom_wave_summary *, void *),
                               void *payload)
{
    typed_cb t = {.wave = cb, .payload = payload};
    if (cat->empty)
        return 0;
    return dom_db_query(
        cat->db, "cannot read batches",
        "SELECT wave, count(*), count(*) FILTER (WHERE step = 'done'), count(*) FILTER "
        "(WHERE step = 'failed'), count(*) FILTER (WHERE step = 'flipped'), count(*) FILTER "
        "(WHERE step NOT IN ('done', 'failed', 'flipped')), sum(CASE WHEN step IN ('done', "
        "'flipped') THEN tenants ELSE 0 END), sum(rows), max(pause_ms) FROM batches GROUP "
        "BY wave ORDER BY min(id)",
        NULL, 0, wave_summary_row, &t);
}

static int batch_error_row(const dom_db_row *r, void *arg)
{
    const typed_cb *t = arg;
    const char *wave = dom_db_text(r, 1), *error = dom_db_text(r, 2);
    dom_batch_error e = {dom_db_int(r, 0), wave ? wave : "", error ? error : ""};
    return t->error(&e, t->payload);
}

int dom_catalog_batch_errors(dom_catalog *cat, int limit,
                             int (*cb)(const dom_batch_error *, void *), void *payload)
{
    typed_cb t = {.error = cb, .payload = payload};
    dom_db_arg a[1] = {DOM_DB_I(limit > 0 ? limit : 1)};
    if (cat->empty)
        return 0;
    return dom_db_query(cat->db, "cannot read batches",
                        "SELECT id, wave, error FROM batches WHERE error IS NOT NULL ORDER BY "
                        "id DESC LIMIT $1",
                        a, 1, batch_error_row, &t);
}

/* ---- what metrics show ------------------------------------------------------------- */

typedef struct metric_cb {
    int (*step)(const char *, int64_t, void *);
    int (*pair)(const char *, const char *, int64_t, int64_t, int64_t, void *);
    int (*pause)(double, void *);
    void *payload;
} metric_cb;

static int step_row(const dom_db_row *r, void *arg)
{
    const metric_cb *m = arg;
    return m->step(dom_db_text(r, 0), dom_db_int(r, 1), m->payload);
}

int dom_catalog_step_counts(dom_catalog *cat, int (*cb)(const char *step, int64_t n, void *),
                            void *payload)
{
    metric_cb m = {.step = cb, .payload = payload};
    if (cat->empty)
        return 0;
    return dom_db_query(cat->db, "cannot read batches",
                        "SELECT step, count(*) FROM batches GROUP BY step ORDER BY step", NULL, 0,
                        step_row, &m);
}

static int pair_row(const dom_db_row *r, void *arg)
{
    const metric_cb *m = arg;
    return m->pair(dom_db_text(r, 0), dom_db_text(r, 1), dom_db_int(r, 2), dom_db_int(r, 3),
                   dom_db_int(r, 4), m->payload);
}

int dom_catalog_pair_totals(dom_catalog *cat,
                            int (*cb)(const char *src, const char *dst, int64_t batches,
                                      int64_t rows, int64_t bytes, void *),
                            void *payload)
{
    metric_cb m = {.pair = cb, .payload = payload};
    if (cat->empty)
        return 0;
    return dom_db_query(cat->db, "cannot read batches",
                        "SELECT src, dst, count(*), coalesce(sum(rows), 0), coalesce(sum(bytes), "
                        "0) FROM batches WHERE step IN ('flipped', 'done') GROUP BY src, dst "
                        "ORDER BY src, dst",
                        NULL, 0, pair_row, &m);
}

static int pause_row(const dom_db_row *r, void *arg)
{
    const metric_cb *m = arg;
    return m->pause(dom_db_real(r, 0), m->payload);
}

int dom_catalog_pauses(dom_catalog *cat, int (*cb)(double ms, void *), void *payload)
{
    metric_cb m = {.pause = cb, .payload = payload};
    if (cat->empty)
        return 0;
    return dom_db_query(cat->db, "cannot read batches",
                        "SELECT pause_ms FROM batches WHERE pause_ms > 0 AND step IN ('flipped', "
                        "'done') ORDER BY pause_ms",
                        NULL, 0, pause_row, &m);
}

int dom_catalog_log_count(dom_catalog *cat, int64_t *n)
{
    *n = 0;
    if (cat->empty)
        return 0;
    return dom_db_query(cat->db, "cannot read the transfer log",
                        "SELECT count(*) FROM transfer_log", NULL, 0, dom_db_keep_int, n);
}

int dom_catalog_last_update(dom_catalog *cat, double *at)
{
    *at = 0;
    if (cat->empty)
        return 0;
    return dom_db_query(cat->db, "cannot read batches", "SELECT max(updated_at) FROM batches", NULL,
                        0, dom_db_keep_real, at);
}

int dom_catalog_movers(dom_catalog *cat, int (*cb)(const char *owner, double since_sec, void *),
                       void *payload)
{
    /* without: one mover at a time, holding no lease */
    return cat->e->movers ? cat->e->movers(cat, cb, payload) : 0;
}
