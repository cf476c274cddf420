/*
 * store_pg_move.h - private to the PostgreSQL store's move operations:
 *
 *   store_pg_sql.c     SQL fragments (identifiers, key conditions, order)
 *                      and COPY plumbing
 *   store_pg_fence.c   the batch's keys, fences, snapshots, the change log
 *   store_pg_cursor.c  cursors: rows streamed with COPY or read by key
 *   store_pg_write.c   writes staged into COPY batches, deletes, counts
 *   store_pg_move.c    the copy between two PostgreSQL regions
 *   pg_copy.c          the COPY text codec (unit-tested on its own)
 */
#ifndef DOM_STORE_PG_MOVE_H
#define DOM_STORE_PG_MOVE_H

#include "store/pg_copy.h"
#include "store/store_pg.h"

#define fail  dom_pg__fail
#define exec  dom_pg__exec
#define ident dom_pg__ident

/* ---- SQL fragments (store_pg_sql.c) ---------------------------------------- */

/* The alias of the batch's key in a LATERAL join over the key table. */
#define LATERAL_KEY "domicile_b.domicile_k"

void dom_pg__put_ident(pg_store *s, dom_buf *b, const char *name);
void dom_pg__select_expr(pg_store *s, dom_buf *b, const dom_column *c);
void dom_pg__col_list(pg_store *s, dom_buf *b, const dom_table_info *ti);
/* "WHERE"/"AND" and the condition that restricts t's rows to the batch's
 * keys (through its parents for a table reached by foreign keys). */
void dom_pg__keys_where(pg_store *s, dom_buf *b, const dom_move_table *t);
void dom_pg__keys_and(pg_store *s, dom_buf *b, const dom_move_table *t);
void dom_pg__order_by(pg_store *s, dom_buf *b, const dom_move_table *t, const char *key_expr);
/* Whether t's tenant column leads an index (of all n tables at once). */
int dom_pg__key_indexed(pg_store *s, const dom_move_table *t);
int dom_pg__key_indexed_all(pg_store *s, const dom_move_table *t, size_t n);
int dom_pg__keys_from(pg_store *s, dom_buf *b, const dom_move_table *t, const char *inner);
/* The buffer's text, taken (the buffer is left empty); NULL on OOM. */
char *dom_pg__buf_take(dom_buf *b);
int dom_pg__take_sql(dom_buf *b, int rc, char **out);

/* ---- COPY plumbing (store_pg_sql.c) ---------------------------------------- */

int dom_pg__results(pg_store *s, const char *table, const char *what);
int dom_pg__copy_in_end(pg_store *s, int ok, const char *table, const char *what);
int dom_pg__copy_in_abandon(pg_store *s, int rc);
void dom_pg__copy_out_drain(pg_store *s);

/* ---- keys and fences (store_pg_fence.c) ------------------------------------ */

/* One statement of a pipelined transaction; `ps` names it prepared. */
typedef struct pg_step {
    const char *sql;
    int n;
    const char *const *pv;
    int ps;
} pg_step;

/* Sends steps as one pipeline (in a transaction when tx, waiting at most
 * lock_ms for locks); *last gets the last step's result. */
int dom_pg__pipeline(pg_store *s, const pg_step *steps, int n, int tx, int lock_ms,
                     const char *what, PGresult **last);
/* The statement that empties the key table (a TRUNCATE now and then). */
const char *dom_pg__empty_stmt(unsigned *count);

/* ---- cursors (store_pg_cursor.c) ------------------------------------------- */

typedef struct pg_cursor {
    const dom_store_ops *ops; /* first, see store.c */
    pg_store *s;
    const dom_move_table *t;
    int copy;      /* a COPY stream */
    int single;    /* else rows in single-row mode (else one result) */
    int64_t nread; /* COPY lines read */
    int done;      /* the stream ended */
    PGresult *res; /* the result rows are read from */
    int row;
    char *line; /* the last COPY line, from libpq */
    dom_buf field, store;
    size_t *offs;
    pg_class *cls;
    dom_value *vals;
    int ncols;
    /* per column: read as the column itself, a timestamp with time zone
     * whose text is made canonical here (read_list, col_list) */
    unsigned char *fix;
} pg_cursor;

int dom_pg__new_cursor(pg_store *s, const dom_move_table *t, pg_cursor **out);
void dom_pg__cursor_point(pg_cursor *c);
void dom_pg__decode_line(pg_cursor *c, const char *line, int n);
/* Runs the statement in b (taken) with the primary key values pk of
 * columns cols as its parameters; *out is the result to check (NULL when
 * it could not be sent). */
int dom_pg__exec_pk(pg_store *s, dom_buf *b, const dom_table_info *ti, const int *cols, int n,
                    const dom_value *pk, PGresult **out);
void dom_pg__pk_where(pg_store *s, dom_buf *b, const dom_move_table *t, int cols[64], int *n);

/* ---- writes (store_pg_write.c) --------------------------------------------- */

pg_stage *dom_pg__stage_of(pg_store *s, const dom_move_table *t, int *idx);
const char *dom_pg__write_prefix(pg_store *s);
int dom_pg__write_open(pg_store *s);

#endif
