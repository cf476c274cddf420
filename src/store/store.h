/*
 * store.h - the one interface through which domicile talks to a region's
 * database.  Each engine (store_sqlite.c, store_pg.c) fills a dom_store_ops
 * table; callers never see the engine.  A store reports failures through
 * dom_error_set() with the region, table and (PostgreSQL) SQLSTATE, and
 * returns DOM_EREGION; callers just return.
 */
#ifndef DOM_STORE_H
#define DOM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

typedef struct dom_store dom_store;

typedef struct dom_column {
    char *name;
    char *type;  /* declared type, lower case */
    int pk;      /* position in the primary key (1-based), 0 when not part of it */
    int notnull;
} dom_column;

typedef struct dom_table_info {
    char *name;
    dom_column *cols;
    size_t ncols;
    char **parents; /* tables this one references by foreign key */
    size_t nparents;
} dom_table_info;

/* Called once per tenant; return non-zero to stop (that value is returned). */
typedef int (*dom_tenant_cb)(const char *key, size_t keylen, const char *country, void *payload);
/* Called once per tenant key present in a table, with its row count and bytes. */
typedef int (*dom_count_cb)(const char *key, size_t keylen, int64_t rows, int64_t bytes,
                            void *payload);

typedef struct dom_store_ops {
    const char *engine;
    int (*tables)(dom_store *st, dom_table_info **out, size_t *nout);
    int (*scan_tenants)(dom_store *st, const char *table, const char *key, const char *country,
                        dom_tenant_cb cb, void *payload);
    int (*count_by_tenant)(dom_store *st, const dom_table_info *t, const char *key,
                           int *bytes_estimated, dom_count_cb cb, void *payload);
    void (*close)(dom_store *st);
} dom_store_ops;

struct dom_store {
    const dom_store_ops *ops;
    char *region; /* region name, for messages */
};

enum {
    DOM_STORE_MUST_EXIST = 1, /* a missing SQLite file is an error, not created */
    DOM_STORE_READONLY = 2    /* open for reading only */
};

/* Opens the region's database (flags: DOM_STORE_*).  Nothing is written by
 * opening. */
int dom_store_open(dom_store **out, const dom_region *region, int flags);
void dom_store_close(dom_store *st);

/* Every user table of the region (not domicile's own), with its columns,
 * primary key and foreign-key parents. */
int dom_store_tables(dom_store *st, dom_table_info **out, size_t *nout);
void dom_table_info_free(dom_table_info *t, size_t n);
const dom_table_info *dom_table_find(const dom_table_info *t, size_t n, const char *name);
const dom_column *dom_table_column(const dom_table_info *t, const char *name);

/* Streams every row of the tenants table as (key text, country). */
int dom_store_scan_tenants(dom_store *st, const char *table, const char *key, const char *country,
                           dom_tenant_cb cb, void *payload);
/* Streams (key, rows, bytes) per tenant of table `t`.  Bytes are the sum of
 * the values' sizes (text and blob bytes, 8 per number); for large tables they
 * are estimated from a sample and *bytes_estimated is set. */
int dom_store_count_by_tenant(dom_store *st, const dom_table_info *t, const char *key,
                              int *bytes_estimated, dom_count_cb cb, void *payload);

/* Engine constructors. */
int dom_store_sqlite_open(dom_store **out, const dom_region *region, int flags);
int dom_store_pg_open(dom_store **out, const dom_region *region, int flags);

#endif
