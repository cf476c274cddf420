/*
 * catalog_impl.h - private to the catalog: its handle, and the part of
 * the catalog each engine does its own way (catalog_sqlite.c,
 * catalog_pg.c).  Every statement both engines run is in catalog.c,
 * written once on the database layer (store/db.h); an operation left
 * NULL here falls back to catalog.c's generic one (or to "nothing to do"
 * for what only a catalog of several movers needs).
 */
#ifndef DOM_CATALOG_IMPL_H
#define DOM_CATALOG_IMPL_H

#include "core/catalog.h"
#include "store/db.h"
#include "util/util.h"

typedef struct dom_catalog_engine dom_catalog_engine;

struct dom_catalog {
    dom_db *db;
    const dom_catalog_engine *e;
    char owner[128]; /* this process, as the holder of batch leases */
    long lease_sec;
    int in_tx;
    /* a reader's catalog without tables yet (nothing moved): reads find
     * nothing */
    int empty;
    dom_buf puts; /* directory entries written at commit (put, flush) */
};

struct dom_catalog_engine {
    const char *name; /* the dom_db_engine() it serves */
    const char *meta; /* its table of the catalog's own values */
    /* batch_update: what follows "logged = $12" (with $13 the owner and
     * $14 the lease in seconds, when update_args is 14) */
    const char *update_tail;
    int update_args;
    /* after the database is open: session settings; the schema when
     * missing (a reader's catalog: see `empty`) */
    int (*setup)(dom_catalog *cat, int flags);
    /* bulk writes: a new batch's tenants, a transfer's rows */
    int (*tenants_put)(dom_catalog *cat, int64_t batch, const char *const *keys, size_t n);
    int (*rows_put)(dom_catalog *cat, int64_t batch, const char *const *tbl, const char *const *pk,
                    const char *const *digest, size_t n);
    /* a directory entry inside a transaction, written by flush at commit */
    int (*put)(dom_catalog *cat, const char *key, const char *region, int64_t epoch,
               const char *state);
    int (*flush)(dom_catalog *cat);
    /* one writer of the transfer log at a time, until the transaction ends */
    int (*log_lock)(dom_catalog *cat);
    /* several movers: claims under leases, one planner at a time */
    int (*claim)(dom_catalog *cat, const int64_t *ids, size_t n, int64_t *id);
    int (*release)(dom_catalog *cat, int64_t id);
    int (*release_all)(dom_catalog *cat);
    int (*renew)(dom_catalog *cat);
    int (*unfinished_among)(dom_catalog *cat, const int64_t *ids, size_t n, int retained,
                            int64_t *count);
    int (*plan_lock)(dom_catalog *cat, int lock);
    /* the movers holding leases, and the seconds since each renewed */
    int (*movers)(dom_catalog *cat, int (*cb)(const char *owner, double since_sec, void *),
                  void *payload);
};

extern const dom_catalog_engine dom_catalog_sqlite;
extern const dom_catalog_engine dom_catalog_pg;

double dom__now_sec(void);

#endif
