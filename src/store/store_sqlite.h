/*
 * store_sqlite.h - private to the SQLite store's files.
 */
#ifndef DOM_STORE_SQLITE_H
#define DOM_STORE_SQLITE_H

#include <sqlite3.h>

#include "store/store.h"
#include "util/sizer.h"
#include "util/util.h"

#define SQ_CACHE 64

typedef struct sqlite_store {
    dom_store base;
    sqlite3 *db;
    char *path;
    int in_write;
    int undurable;   /* a commit since the last one that waited for the disk */
    int movers_fd;   /* PATH.movers, locked shared while movers_held */
    int movers_held; /* this session keeps the region active (set_mode) */
    /* prepared statements keyed by their SQL text, reused across calls */
    struct {
        char *sql;
        sqlite3_stmt *st;
    } cache[SQ_CACHE];
    int ncache;
    /* tenants per write of copy_from, per table, learnt across batches */
    dom_sizer copy_sizer[64];
} sqlite_store;

extern const dom_store_ops dom_sqlite__ops;

/* A busy handler that retries every 200 microseconds for up to 10 seconds:
 * SQLite's own busy timeout backs off to sleeps of 100 ms, which would make
 * short writes wait far longer than they take (also used by the catalog). */
int dom_sqlite_busy_retry(void *payload, int attempts);

int dom_sqlite__fail(sqlite_store *s, const char *table, const char *what);
int dom_sqlite__prepare(sqlite_store *s, sqlite3_stmt **st, const char *table, const char *sql);
/* A cached prepared statement for `sql` (owned by the cache; reset it). */
int dom_sqlite__cached(sqlite_store *s, sqlite3_stmt **st, const char *table, const char *sql);
void dom_sqlite__stmt_cache_free(sqlite_store *s);
int dom_sqlite__tables(dom_store *base, dom_table_info **out, size_t *nout);
/* the sum of the row's value sizes; its columns as row."c" (row NULL: bare) */
void dom_sqlite__bytes_expr(dom_buf *b, const dom_table_info *t, const char *row);

int dom_sqlite__install(dom_store *st, const dom_install *spec);
int dom_sqlite__uninstall(dom_store *st, const dom_move_table *tables, size_t ntables);
int dom_sqlite__set_mode(dom_store *st, const dom_move_table *t, size_t n, int quiet,
                         int *is_quiet);
int dom_sqlite__set_keys(dom_store *st, const char *const *keys, const int64_t *epochs, size_t n);
int dom_sqlite__fence(dom_store *st, int64_t batch, const char *state, const char *home,
                      int64_t epoch);
int dom_sqlite__unfence(dom_store *st);
int dom_sqlite__snapshot_begin(dom_store *st, int64_t *max_seq);
int dom_sqlite__snapshot_end(dom_store *st);
int dom_sqlite__cursor_open(dom_store *st, const dom_move_table *t, dom_cursor **out);
int dom_sqlite__cursor_pk(dom_store *st, const dom_move_table *t, const dom_value *pk,
                          dom_cursor **out);
int dom_sqlite__cursor_next(dom_cursor *c, const dom_value **vals);
void dom_sqlite__cursor_close(dom_cursor *c);
int dom_sqlite__write_begin(dom_store *st);
int dom_sqlite__write_commit(dom_store *st);
void dom_sqlite__write_rollback(dom_store *st);
int dom_sqlite__upsert(dom_store *st, const dom_move_table *t, const dom_value *row);
int dom_sqlite__delete_pk(dom_store *st, const dom_move_table *t, const dom_value *pk);
int dom_sqlite__delete_keys(dom_store *st, const dom_move_table *t, int64_t limit,
                            int64_t *deleted);
int dom_sqlite__count_keys(dom_store *st, const dom_move_table *t, int64_t *rows);
int dom_sqlite__changes(dom_store *st, int64_t batch, int64_t after, int64_t limit,
                        dom_change_cb cb, void *payload);
int dom_sqlite__copy_from(dom_store *dst, dom_store *src, const dom_move_table *tables, size_t n,
                          int64_t *max_seq, int64_t *rows, int64_t *bytes, dom_copy_watch *watch);
int dom_sqlite__sync(dom_store *st);
int dom_sqlite__meta_set(dom_store *st, const char *key, const char *value);
int dom_sqlite__meta_get(dom_store *st, const char *key, char *value, size_t n);
int dom_sqlite__schema_sig(dom_store *st, const dom_move_table *tables, size_t n, char out[65]);

#endif
