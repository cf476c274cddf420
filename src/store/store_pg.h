/*
 * store_pg.h - private to the PostgreSQL store's files.
 */
#ifndef DOM_STORE_PG_H
#define DOM_STORE_PG_H

#include <libpq-fe.h>

#include "store/pg_copy.h"
#include "store/store.h"
#include "util/util.h"

#define PG_STAGES 64

/* Rows waiting to be written to one table in the current write: COPY text
 * lines, each led by its ordinal so that the last version of a row wins. */
typedef struct pg_stage {
    const dom_move_table *t;
    dom_buf lines;
    int64_t nrows;
    int created;                /* its temporary stage table exists on this connection */
    int pk_created;             /* and its temporary table of primary keys */
    unsigned flushes, pk_loads; /* times each was emptied (dom_pg__empty) */
} pg_stage;

typedef struct pg_store {
    dom_store base;
    PGconn *conn;
    int in_write;   /* between write_begin and commit or rollback */
    int write_open; /* and its transaction has begun (with the first write) */
    int in_snapshot;
    /* read ahead (dom_pg__read_ahead): the tables whose COPY TO statements
     * were sent as one query, and how many of them cursors have opened */
    const dom_move_table *ahead;
    size_t nahead, ahead_next;
    int keys_table;      /* pg_temp.domicile_keys exists */
    int movers_lock;     /* holds the region's movers lock shared (set_mode) */
    unsigned keys_loads; /* times it was emptied (dom_pg__empty) */
    /* what it holds, when that is committed: set_keys with the same keys
     * has nothing to do */
    int keys_known;
    unsigned char keys_digest[32];
    /* the keys and their epochs as array literals (text[], bigint[]):
     * fences take them as parameters */
    char *keys_array, *epochs_array;
    pg_stage stage[PG_STAGES];
    int nstage;
    int64_t ord;
    /* change-log entries handed out by the last changes() call; deleted
     * by the next call once the caller has applied them */
    int64_t *acked;
    size_t nacked, cap_acked;
    int64_t acked_last;
    /* tables whose tenant column leads an index (1) or none (0) */
    struct pg_keyidx {
        char *table;
        int indexed;
    } * keyidx;
    size_t nkeyidx;
    char sqlstate[6];  /* of the last failure (dom_pg__fail), "" if none */
    unsigned prepared; /* statements prepared on the connection (1 << PS_*) */
} pg_store;

extern const dom_store_ops dom_pg__ops;

/* A text[] literal of `v`: each element double-quoted, with '"' and '\'
 * escaped; NULL when out of memory. */
char *dom_pg__text_array(const char *const *v, size_t n);

int dom_pg__fail(pg_store *s, const char *table, const char *what, PGresult *res);
extern const char dom_pg__columns_sql[];
/* The tables' names as a text[] literal (dom_free it). */
char *dom_pg__table_names(const dom_move_table *tables, size_t n);
/* The schema signature of a dom_pg__columns_sql result (cleared). */
int dom_pg__columns_sig(PGresult *r, const dom_move_table *tables, size_t n, char out[65]);
int dom_pg__fence_sig(dom_store *base, int64_t batch, const char *state, const char *home,
                      int64_t epoch, const dom_move_table *tables, size_t n, char sig[65]);
/* PQconnectdb naming unnamed sessions "domicile". */
PGconn *dom_pg__connect(const char *conninfo);
int dom_pg__lock_retries(pg_store *s, const char *what, const char *held,
                         int (*step)(pg_store *, const void *, int), const void *arg);
int dom_pg__exec(pg_store *s, const char *table, const char *what, const char *sql);
char *dom_pg__ident(pg_store *s, const char *name);
char *dom_pg__literal(pg_store *s, const char *text);
int dom_pg__tables(dom_store *base, dom_table_info **out, size_t *nout);

/* How a column's values travel: the class of its declared type. */
pg_class dom_pg__class(const char *type);

/* Appends the expression that reads column c (of `row`, e.g. NEW, or of
 * the FROM table when NULL) in its canonical form: timestamps with time
 * zone as ISO 8601 UTC text, booleans as 0/1. */
void dom_pg__value_expr(pg_store *s, dom_buf *b, const char *row, const dom_column *c);

int dom_pg__set_keys(dom_store *st, const char *const *keys, const int64_t *epochs, size_t n);
int dom_pg__fence(dom_store *st, int64_t batch, const char *state, const char *home, int64_t epoch);
int dom_pg__unfence(dom_store *st);
int dom_pg__snapshot_begin(dom_store *st, int64_t *max_seq);
int dom_pg__snapshot_end(dom_store *st);
int dom_pg__cursor_open(dom_store *st, const dom_move_table *t, dom_cursor **out);
int dom_pg__cursor_pk(dom_store *st, const dom_move_table *t, const dom_value *pk,
                      dom_cursor **out);
int dom_pg__cursor_pks(dom_store *st, const dom_move_table *t, const dom_value *pks, size_t n,
                       dom_cursor **out);
int dom_pg__cursor_next(dom_cursor *c, const dom_value **vals);
void dom_pg__cursor_close(dom_cursor *c);
int dom_pg__write_begin(dom_store *st);
int dom_pg__write_commit(dom_store *st);
void dom_pg__write_rollback(dom_store *st);
int dom_pg__upsert(dom_store *st, const dom_move_table *t, const dom_value *row);
int dom_pg__delete_pk(dom_store *st, const dom_move_table *t, const dom_value *pk);
int dom_pg__delete_keys(dom_store *st, const dom_move_table *t, int64_t limit, int64_t *deleted);
int dom_pg__count_keys(dom_store *st, const dom_move_table *t, int64_t *rows);
int dom_pg__delete_keys_all(dom_store *st, const dom_move_table *t, size_t n, int64_t *deleted);
int dom_pg__count_keys_all(dom_store *st, const dom_move_table *t, size_t n, int64_t *rows);
int dom_pg__read_ahead(dom_store *st, const dom_move_table *t, size_t n);
int dom_pg__changes(dom_store *st, int64_t batch, int64_t after, int64_t limit, dom_change_cb cb,
                    void *payload);
int dom_pg__copy_from(dom_store *dst, dom_store *src, const dom_move_table *tables, size_t n,
                      int64_t *max_seq, int64_t *rows, int64_t *bytes, dom_copy_watch *watch);
void dom_pg__stage_free(pg_store *s);

#endif
