/*
 * db.h - a small database layer for the control plane's own tables (the
 * catalog): statements with bound parameters, written once for every
 * engine ($1, $2 ... as placeholders; the SQLite engine reads them as ?1,
 * ?2), rows streamed to a callback and read by type, transactions, and
 * failures reported once per engine with what the engine says (the
 * SQLSTATE on PostgreSQL, the result code on SQLite).
 *
 * Regions' data goes through store.h; this layer knows no tenant tables.
 * An engine plugs in through dom_engine.db_open (engines.c).
 */
#ifndef DOM_DB_H
#define DOM_DB_H

#include <stddef.h>
#include <stdint.h>

#include "store/region.h"

typedef struct dom_db dom_db;

typedef enum { DOM_DB_NULL, DOM_DB_INT, DOM_DB_REAL, DOM_DB_TEXT } dom_db_type;

/* A parameter's value; text is not copied (it must live until the call
 * returns). */
typedef struct dom_db_arg {
    dom_db_type type;
    int64_t i;
    double d;
    const char *t;
} dom_db_arg;

#define DOM_DB_I(v) ((dom_db_arg){DOM_DB_INT, (int64_t)(v), 0.0, NULL})
#define DOM_DB_R(v) ((dom_db_arg){DOM_DB_REAL, 0, (double)(v), NULL})
#define DOM_DB_T(v) ((dom_db_arg){DOM_DB_TEXT, 0, 0.0, (v)})

/* A row of a result, valid during the callback only. */
typedef struct dom_db_row dom_db_row;
typedef int (*dom_db_row_cb)(const dom_db_row *row, void *payload);

int dom_db_ncols(const dom_db_row *r);
int dom_db_isnull(const dom_db_row *r, int col);
int64_t dom_db_int(const dom_db_row *r, int col);      /* 0 for NULL */
double dom_db_real(const dom_db_row *r, int col);      /* 0 for NULL */
const char *dom_db_text(const dom_db_row *r, int col); /* NULL for NULL */
size_t dom_db_len(const dom_db_row *r, int col);

/* Row callbacks that keep the first column (of the last row) in an
 * int64_t, a double. */
int dom_db_keep_int(const dom_db_row *r, void *out);
int dom_db_keep_real(const dom_db_row *r, void *out);

enum {
    DOM_DB_NOCREATE = 1, /* an SQLite file must exist already */
};

/* Opens the database of `dsn`; `label` names it in messages ("catalog"). */
int dom_db_open(dom_db **out, const dom_dsn *dsn, const char *label, int flags);
void dom_db_close(dom_db *db);
/* The database for messages: a file, or a server without credentials. */
const char *dom_db_name(const dom_db *db);
/* "sqlite", "postgresql": as dom_engine.name. */
const char *dom_db_engine(const dom_db *db);

/* Runs one statement; *changed (when not NULL) gets the rows it inserted,
 * updated or deleted.  `what` says what failed ("cannot update batch"). */
int dom_db_exec(dom_db *db, const char *what, const char *sql, const dom_db_arg *args, int nargs,
                int64_t *changed);
/* Runs one statement and hands each row to cb; returns 0, a failure, or
 * the callback's non-zero value (the rest is not read).  The rows stream
 * on the connection: the callback runs no statement on the same db
 * (DOM_ERROR, on every engine). */
int dom_db_query(dom_db *db, const char *what, const char *sql, const dom_db_arg *args, int nargs,
                 dom_db_row_cb cb, void *payload);
/* Statements without parameters, several at once (a schema). */
int dom_db_script(dom_db *db, const char *what, const char *sql);
/* A transaction (on SQLite, one that takes the write lock at once). */
int dom_db_begin(dom_db *db);
/* Commits; a failed commit is rolled back. */
int dom_db_commit(dom_db *db);
void dom_db_rollback(dom_db *db);
/* Sends `data` (COPY text lines) to `sql` (COPY ... FROM STDIN);
 * DOM_EUNSUPPORTED on an engine without COPY. */
int dom_db_copy_in(dom_db *db, const char *what, const char *sql, const char *data, size_t len);
/* Whether a transaction is open. */
int dom_db_in_tx(const dom_db *db);
/* The SQLSTATE of the last failure; "" for none, or on SQLite. */
const char *dom_db_sqlstate(const dom_db *db);
/* The engine's own handle (sqlite3 *, PGconn *), for what only one
 * engine does. */
void *dom_db_handle(dom_db *db);

#endif
