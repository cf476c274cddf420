/*
 * db_int.h - private to db.c and the engines' db_*.c: the operations an
 * engine fills, and the parts of a handle and a row every engine shares.
 */
#ifndef DOM_DB_INT_H
#define DOM_DB_INT_H

#include "store/db.h"

typedef struct dom_db_ops {
    const char *engine;
    void (*close)(dom_db *db);
    int (*exec)(dom_db *db, const char *what, const char *sql, const dom_db_arg *args, int nargs,
                int64_t *changed);
    int (*query)(dom_db *db, const char *what, const char *sql, const dom_db_arg *args, int nargs,
                 dom_db_row_cb cb, void *payload);
    int (*script)(dom_db *db, const char *what, const char *sql);
    int (*begin)(dom_db *db);
    int (*commit)(dom_db *db);
    void (*rollback)(dom_db *db);
    int (*in_tx)(const dom_db *db);
    int (*copy_in)(dom_db *db, const char *what, const char *sql, const char *data, size_t len);
    void *(*handle)(dom_db *db);
    /* a row's columns */
    int (*ncols)(const dom_db_row *r);
    int (*isnull)(const dom_db_row *r, int col);
    int64_t (*col_int)(const dom_db_row *r, int col);
    double (*col_real)(const dom_db_row *r, int col);
    const char *(*col_text)(const dom_db_row *r, int col);
    size_t (*col_len)(const dom_db_row *r, int col);
} dom_db_ops;

struct dom_db {
    const dom_db_ops *ops;
    char *name;        /* for messages */
    const char *label; /* "catalog" */
    char sqlstate[6];
    int depth; /* inside a query's row callback */
};

struct dom_db_row {
    const dom_db *db;
    void *h; /* the engine's statement or result */
    int row;
};

/* The engines (engines.c refers to them). */
int dom_db_sqlite_open(dom_db **out, const dom_dsn *dsn, const char *label, int flags);
int dom_db_pg_open(dom_db **out, const dom_dsn *dsn, const char *label, int flags);

#endif
