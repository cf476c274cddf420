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

#include "store/region.h"
#include "util/util.h"

typedef struct dom_store dom_store;

/* The kind of value a column holds, whatever the engine calls its type:
 * columns of two engines compare by class (docs/verification.md,
 * "Canonical values"), and a table is created on another engine with
 * that engine's type of each class. */
typedef enum {
    DOM_COL_NUMERIC = 0, /* anything else (SQLite's NUMERIC affinity) */
    DOM_COL_INTEGER,
    DOM_COL_REAL,
    DOM_COL_TEXT,
    DOM_COL_BLOB
} dom_col_class;

/* "integer", "real", "text", "blob", "numeric" */
const char *dom_col_class_name(dom_col_class c);

typedef struct dom_column {
    char *name;
    char *type;        /* declared type, lower case */
    dom_col_class cls; /* set by the engine from the type */
    int pk;            /* position in the primary key (1-based), 0 when not part of it */
    int notnull;
} dom_column;

/* A declared foreign key: cols[i] of the table reference pcols[i] of
 * parent ("" when the declaration names no column: the parent's primary
 * key, resolved by dom_table_fkey_resolve). */
typedef struct dom_fkey {
    char *parent;
    char **cols;
    char **pcols;
    size_t ncols;
    /* the actions, as SQL words ("CASCADE", "SET NULL", ...; "NO ACTION"
     * when none is declared) */
    char on_delete[12], on_update[12];
} dom_fkey;

typedef struct dom_table_info {
    char *name;
    dom_column *cols;
    size_t ncols;
    char **parents; /* tables this one references by foreign key */
    size_t nparents;
    dom_fkey *fks; /* its foreign keys, in declaration order */
    size_t nfks;
} dom_table_info;

/* Called once per tenant (country NULL when the column is NULL); return
 * non-zero to stop (that value is returned). */
typedef int (*dom_tenant_cb)(const char *key, size_t keylen, const char *country, void *payload);
/* Called once per tenant key present in a table, with its row count and bytes. */
typedef int (*dom_count_cb)(const char *key, size_t keylen, int64_t rows, int64_t bytes,
                            void *payload);

/* A column value, engine-neutral.  Text and blob point into storage owned by
 * the store until the next call on the same cursor. */
typedef enum { DOM_V_NULL = 0, DOM_V_INT, DOM_V_REAL, DOM_V_TEXT, DOM_V_BLOB } dom_vtype;
typedef struct dom_value {
    dom_vtype type;
    int64_t i;
    double r;
    const char *p;
    size_t n;
} dom_value;

/* The widest primary key the mover handles. */
#define DOM_PK_MAX 32

/* An index on plain columns. */
typedef struct dom_index {
    char *name;
    int unique;
    char **cols;
    size_t ncols;
} dom_index;
void dom_index_free(dom_index *x, size_t n);
/* Adds column `col` to the index named `name` (a new one when it differs
 * from the last), for the engines' `indexes`. */
int dom_index_add(dom_index **x, size_t *n, const char *name, int unique, const char *col);

/* How a table's rows belong to tenants (docs/config.md, "Tables"). */
typedef enum {
    DOM_TABLE_TENANTS = 0, /* the tenants table */
    DOM_TABLE_DIRECT,      /* a column names the tenant */
    DOM_TABLE_INDIRECT,    /* a chain of foreign keys leads to a direct table */
    DOM_TABLE_GLOBAL       /* no link to tenants: never moved */
} dom_table_class;

/* One step of an indirect table's way to its tenant: cols[i] of the table
 * (the previous step's parent) equal pcols[i] of parent. */
typedef struct dom_link {
    const dom_table_info *parent;
    const char *const *cols;
    const char *const *pcols;
    size_t ncols;
} dom_link;

/* A tenant table as the mover sees it: its description and tenant column,
 * with the primary key's column indexes (none: full-row identity). */
typedef struct dom_move_table {
    const dom_table_info *info;
    dom_table_class cls;
    /* the tenant column: of this table, or (indirect) of the last link's
     * parent; NULL for a global table */
    const char *key;
    int key_col;           /* its index in info->cols; -1 unless tenants or direct */
    int pk[DOM_PK_MAX];    /* column indexes of the primary key, in key order */
    int npk;               /* 0: the table has no primary key */
    const dom_link *links; /* indirect: this table's link first, then its parent's, ... */
    size_t nlinks;         /* 0 unless indirect */
} dom_move_table;

/* What prepare installs in a region. */
typedef struct dom_install {
    const char *region;           /* this region's name */
    const dom_move_table *tables; /* tenants table first */
    size_t ntables;
    const char *country_col; /* tenants.country */
    char (*countries)[3];    /* countries whose new tenants may be created here */
    size_t ncountries;
    /* every ISO 3166-1 code, to tell a country the policy forbids here
     * from a value that is no country */
    char (*codes)[3];
    size_t ncodes;
} dom_install;

/* Fence states (DESIGN.md "What a writing application sees"). */
#define DOM_FENCE_CAPTURING "capturing"
#define DOM_FENCE_FROZEN    "frozen"
#define DOM_FENCE_MOVED     "moved"
#define DOM_FENCE_INCOMING  "incoming"

typedef struct dom_cursor dom_cursor;
typedef struct dom_copy_watch dom_copy_watch;

/* One logged change: the table, the row's primary key values as JSON (NULL
 * for a table without primary key: resync the tenant's rows of it), and
 * whether the row changed its tenant. */
typedef int (*dom_change_cb)(int64_t seq, const char *tenant, const char *table,
                             const char *pk_json, int key_changed, void *payload);

/* A region's health, as the mover's throttle reads it (options.health). */
typedef struct dom_health {
    double probe_ms;        /* PostgreSQL: the round trip of a query of the
                               server's activity; SQLite: the wait for the
                               write lock */
    long active_sessions;   /* PostgreSQL: other sessions running a
                               statement; -1: unknown */
    double replica_lag_sec; /* PostgreSQL: the largest replay lag of its
                               replicas; -1: none */
} dom_health;

typedef struct dom_store_ops {
    const char *engine;
    /* rows per bulk write transaction of the mover (copy chunks, erase
     * chunks): short writes where writers queue behind one writer (SQLite);
     * 0: no limit, one write per slice of tenants (PostgreSQL) */
    int64_t write_rows;
    int (*tables)(dom_store *st, dom_table_info **out, size_t *nout);
    int (*scan_tenants)(dom_store *st, const char *table, const char *key, const char *country,
                        dom_tenant_cb cb, void *payload);
    int (*count_by_tenant)(dom_store *st, const dom_move_table *t, int *bytes_estimated,
                           dom_count_cb cb, void *payload);
    int (*install)(dom_store *st, const dom_install *spec);
    int (*uninstall)(dom_store *st, const dom_move_table *tables, size_t ntables);
    int (*set_keys)(dom_store *st, const char *const *keys, const int64_t *epochs, size_t n);
    int (*fence)(dom_store *st, int64_t batch, const char *state, const char *home, int64_t epoch);
    /* optional: fence, then schema_sig, in one round trip */
    int (*fence_sig)(dom_store *st, int64_t batch, const char *state, const char *home,
                     int64_t epoch, const dom_move_table *tables, size_t n, char sig[65]);
    int (*unfence)(dom_store *st);
    int (*snapshot_begin)(dom_store *st, int64_t *max_seq);
    int (*snapshot_end)(dom_store *st);
    int (*cursor_open)(dom_store *st, const dom_move_table *t, dom_cursor **out);
    int (*cursor_pk)(dom_store *st, const dom_move_table *t, const dom_value *pk, dom_cursor **out);
    int (*cursor_pks)(dom_store *st, const dom_move_table *t, const dom_value *pks, size_t n,
                      dom_cursor **out);
    int (*cursor_next)(dom_cursor *c, const dom_value **vals);
    void (*cursor_close)(dom_cursor *c);
    int (*write_begin)(dom_store *st);
    int (*write_commit)(dom_store *st);
    void (*write_rollback)(dom_store *st);
    int (*upsert)(dom_store *st, const dom_move_table *t, const dom_value *row);
    int (*delete_pk)(dom_store *st, const dom_move_table *t, const dom_value *pk);
    int (*delete_keys)(dom_store *st, const dom_move_table *t, int64_t limit, int64_t *deleted);
    int (*count_keys)(dom_store *st, const dom_move_table *t, int64_t *rows);
    /* optional: every table's rows of the keys deleted, t[n - 1] first,
     * in one write of its own; counted, rows[i] of t[i] */
    int (*delete_keys_all)(dom_store *st, const dom_move_table *t, size_t n, int64_t *deleted);
    int (*count_keys_all)(dom_store *st, const dom_move_table *t, size_t n, int64_t *rows);
    /* optional: the next cursors opened, of t[0..n) in that order, read
     * from one query (one round trip); n 0 drops what is left of it */
    int (*read_ahead)(dom_store *st, const dom_move_table *t, size_t n);
    int (*changes)(dom_store *st, int64_t batch, int64_t after, int64_t limit, dom_change_cb cb,
                   void *payload);
    int (*schema_sig)(dom_store *st, const dom_move_table *tables, size_t n, char out[65]);
    void (*idle)(dom_store *st);
    int (*sync)(dom_store *st);
    int (*meta_set)(dom_store *st, const char *key, const char *value);
    int (*meta_get)(dom_store *st, const char *key, char *value, size_t n);
    /* optional: the triggers' mode (docs/mover.md "Quiet regions").  quiet
     * 0: every write of the tables t[0..n) is checked, as a mover needs
     * (this store's session keeps the region so until it closes); quiet 1:
     * writes that cannot concern a fence skip the checks, made only when
     * nothing is in motion here and no mover's session holds the region;
     * *is_quiet says whether it was made.  Without it: always active. */
    int (*set_mode)(dom_store *st, const dom_move_table *t, size_t n, int quiet, int *is_quiet);
    /* optional: the region's health (options.health) */
    int (*health)(dom_store *st, dom_health *out);
    /* optional: the time of one round trip to the server, in ms (the
     * least of a few); without it the region is in the process (0) */
    int (*ping)(dom_store *st, double *ms);
    /* optional: a text equal for two stores exactly when they reach the
     * same database, however they were named */
    int (*identity)(dom_store *st, char *out, size_t n);
    /* optional (creating tables a region lacks, docs/mover.md "Empty
     * regions"): the statements that create `table` as this database has
     * it, its constraints and indexes, foreign keys apart (fks: statements
     * that add them after the table, when the engine has such; empty when
     * they are part of the table's own statement) */
    int (*table_ddl)(dom_store *st, const char *table, dom_buf *create, dom_buf *fks);
    /* the table's indexes other than its primary key's, on plain columns */
    int (*indexes)(dom_store *st, const char *table, dom_index **out, size_t *n);
    /* runs statements (separated by ";\n") in one transaction */
    int (*exec_ddl)(dom_store *st, const char *sql);
    /* this engine's column type for a kind of value ("integer", "real",
     * "text", "blob", "numeric") */
    const char *(*type_of_class)(dom_col_class cls);
    int (*copy_from)(dom_store *dst, dom_store *src, const dom_move_table *tables, size_t n,
                     int64_t *max_seq, int64_t *rows, int64_t *bytes, dom_copy_watch *watch);
    void (*close)(dom_store *st);
} dom_store_ops;

struct dom_store {
    const dom_store_ops *ops;
    char *region; /* region name, for messages */
    /* called before each bulk write the store starts by itself (copy_from)
     * and every so many rows of a copy or a streamed read, so that the
     * caller can hold it back */
    void (*before_bulk)(void *payload);
    void *before_bulk_payload;
    /* how long a fence change may wait, in all, for writers that hold the
     * batch's fence rows (0: 60 s) */
    long fence_wait_sec;
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
/* Adds a column pair to ti's foreign keys: to a new one when `first` (the
 * key's first column), else to the last one; records the parent. */
int dom_table_fkey_add(dom_table_info *ti, int first, const char *parent, const char *col,
                       const char *pcol);
/* Sets the actions of ti's last foreign key (NULL: NO ACTION). */
void dom_table_fkey_actions(dom_table_info *ti, const char *on_delete, const char *on_update);
const dom_column *dom_table_column(const dom_table_info *t, const char *name);

/* Streams every row of the tenants table as (key text, country). */
int dom_store_scan_tenants(dom_store *st, const char *table, const char *key, const char *country,
                           dom_tenant_cb cb, void *payload);
/* Streams (key, rows, bytes) per tenant of table `t` (rows whose tenant
 * is not found are not counted).  Bytes are the sum of the values' sizes
 * (text and blob bytes, 8 per number); for large tables they are
 * estimated from a sample and *bytes_estimated is set. */
int dom_store_count_by_tenant(dom_store *st, const dom_move_table *t, int *bytes_estimated,
                              dom_count_cb cb, void *payload);

/* ---- the mover's operations ------------------------------------------------
 * Every write to a tenant table or fence goes through write_begin/commit:
 * inside it the region's triggers let the mover through (nobody else can
 * write meanwhile on SQLite; on PostgreSQL a transaction-local setting). */

/* Installs fences, change log, guard and triggers (idempotent). */
int dom_store_install(dom_store *st, const dom_install *spec);
/* Removes everything install put in; tenant data is untouched. */
int dom_store_uninstall(dom_store *st, const dom_move_table *tables, size_t ntables);
/* Sets the tenant keys the next calls work on (the batch), each with an
 * epoch (NULL: 0) that dom_store_fence records when given epoch -1. */
int dom_store_set_keys(dom_store *st, const char *const *keys, const int64_t *epochs, size_t n);
/* Fences the current keys (state DOM_FENCE_*), in one transaction. */
int dom_store_fence(dom_store *st, int64_t batch, const char *state, const char *home,
                    int64_t epoch);
/* dom_store_fence, and the tenant tables' definitions as they are when it
 * commits (dom_store_schema_sig), in one round trip where the store can. */
int dom_store_fence_sig(dom_store *st, int64_t batch, const char *state, const char *home,
                        int64_t epoch, const dom_move_table *tables, size_t n, char sig[65]);
/* Removes the current keys' fences and their logged changes. */
int dom_store_unfence(dom_store *st);
/* Starts a consistent read snapshot; *max_seq is the change log's last
 * sequence number in it. */
int dom_store_snapshot_begin(dom_store *st, int64_t *max_seq);
int dom_store_snapshot_end(dom_store *st);
/* Rows of the current keys in table t, ordered by tenant key and primary key
 * (all columns when there is none). */
int dom_store_cursor_open(dom_store *st, const dom_move_table *t, dom_cursor **out);
/* The row of t with this primary key (0 or 1 row).  Of a row whose tenant
 * is not among the current keys the engines differ (SQLite does not read
 * it, PostgreSQL does); the mover asks only for rows its change log names,
 * and fails a batch whose rows changed tenant. */
int dom_store_cursor_pk(dom_store *st, const dom_move_table *t, const dom_value *pk,
                        dom_cursor **out);
/* The rows of t with any of n primary keys (pks: n groups of npk values,
 * at most one row each), in no particular order.  Engines without a
 * native form read them one by one with cursor_pk. */
int dom_store_cursor_pks(dom_store *st, const dom_move_table *t, const dom_value *pks, size_t n,
                         dom_cursor **out);
/* 1 and *vals (info->ncols values) for a row, 0 at the end, < 0 on error. */
int dom_store_cursor_next(dom_cursor *c, const dom_value **vals);
void dom_store_cursor_close(dom_cursor *c);
int dom_store_write_begin(dom_store *st);
int dom_store_write_commit(dom_store *st);
void dom_store_write_rollback(dom_store *st);
/* Inserts the row or replaces the row with its primary key (inside a write). */
int dom_store_upsert(dom_store *st, const dom_move_table *t, const dom_value *row);
/* Deletes the row with this primary key, or for a table without one, the
 * row equal to `pk` (all columns) (inside a write). */
int dom_store_delete_pk(dom_store *st, const dom_move_table *t, const dom_value *pk);
/* Deletes up to `limit` rows (0: all) of the current keys from t. */
int dom_store_delete_keys(dom_store *st, const dom_move_table *t, int64_t limit, int64_t *deleted);
int dom_store_count_keys(dom_store *st, const dom_move_table *t, int64_t *rows);
/* Rows of the current keys in each of t[0..n): rows[i] (one round trip
 * where the store can). */
int dom_store_count_keys_all(dom_store *st, const dom_move_table *t, size_t n, int64_t *rows);
/* Announces that the next cursors opened are of t[0], ..., t[n - 1], in
 * that order, each read to its end or closed (a store may read them with
 * one round trip); n 0 when done, also after a failure. */
int dom_store_read_ahead(dom_store *st, const dom_move_table *t, size_t n);
/* Deletes every row of the current keys from t[n - 1] down to t[0]
 * (children first), in one write of its own (not inside a write). */
int dom_store_delete_keys_all(dom_store *st, const dom_move_table *t, size_t n, int64_t *deleted);
/* Streams the change log of a batch after `after`, in order, at most
 * limit entries (several entries of one row may come as one call).
 * Returns the number of entries read (fewer than limit: the log had no
 * more), or < 0. */
int dom_store_changes(dom_store *st, int64_t batch, int64_t after, int64_t limit, dom_change_cb cb,
                      void *payload);
/* SHA-256 (hex) of the tenant tables' definitions: columns, types, keys. */
int dom_store_schema_sig(dom_store *st, const dom_move_table *tables, size_t n, char out[65]);

/* Watching the rows a copy_from copies: when the store can, it calls
 * on_row for every row in the order of dom_store_cursor_open (table by
 * table, then tenant key and primary key), with the values a cursor would
 * give, and sets `observed`.  A store that copies without the rows passing
 * through (SQLite to SQLite) leaves `observed` 0. */
struct dom_copy_watch {
    int (*on_row)(size_t table, const dom_value *row, void *payload);
    void *payload;
    int observed;
};

/* Copies the rows of the current keys (set in both stores) from src into
 * dst in one write on dst, reading one snapshot of src; *max_seq is src's
 * change-log position in that snapshot.  DOM_EUNSUPPORTED when the pair of
 * engines has no such path (the caller then streams rows itself).  `watch`
 * may be NULL. */
int dom_store_copy_from(dom_store *dst, dom_store *src, const dom_move_table *tables, size_t n,
                        int64_t *max_seq, int64_t *rows, int64_t *bytes, dom_copy_watch *watch);

/* Makes every write committed so far durable (bulk writes may be committed
 * without waiting for the disk; fences never are).  Called before the
 * journal records a step that depends on them. */
int dom_store_sync(dom_store *st);

/* A value kept in the region beside the fences (e.g. the transfer log's
 * head); meta_get gives "" when unset or when the region is not prepared. */
int dom_store_meta_set(dom_store *st, const char *key, const char *value);
int dom_store_meta_get(dom_store *st, const char *key, char *value, size_t n);
/* The region's health; DOM_EUNSUPPORTED without the op. */
int dom_store_health(dom_store *st, dom_health *out);
/* The round trip to the region's server in ms; 0 without the op. */
int dom_store_ping(dom_store *st, double *ms);
/* The triggers' mode (the set_mode op); 0 without it (always active). */
int dom_store_set_mode(dom_store *st, const dom_move_table *t, size_t n, int quiet, int *is_quiet);

/* The database this store reaches: equal texts, one database (SQLite: the
 * file's device and inode; PostgreSQL: the server's start time and the
 * database's oid).  "" when the engine cannot tell. */
int dom_store_identity(dom_store *st, char *out, size_t n);

/* The regions st[0..n) (regions[0..n)) are distinct
 * databases, and none was prepared as another region; `prepared` 1: each
 * must have been prepared as itself (for moves). */
int dom_store_check_regions(dom_store *const *st, const dom_region *regions, size_t n,
                            int prepared);

/* Whether this store can take part in moves (fences, capture, copy). */
int dom_store_can_move(const dom_store *st);

/* Housekeeping between batches (SQLite: a passive WAL checkpoint). */
void dom_store_idle(dom_store *st);

/* SHA-256 of the definitions of `tables` as `list` reports them now (for
 * the engines' schema_sig). */
int dom_store__schema_sig(dom_store *st, int (*list)(dom_store *, dom_table_info **, size_t *),
                          const dom_move_table *tables, size_t n, char out[65]);
/* The same of a list already read. */
int dom_store__schema_sig_of(const dom_table_info *ti, size_t nt, const dom_move_table *tables,
                             size_t n, char out[65]);

/* ---- SQL both engines accept: how a row of t finds its tenant (store.c).
 * `row` is the alias (or NEW, OLD) of t's row, NULL for the bare column;
 * `prefix` goes before every parent's name (a schema: "domicile_src."),
 * NULL for none. */

/* "name", quotes doubled */
void dom_sql_ident(dom_buf *b, const char *name);
/* " JOIN parent AS domicile_l1 ON ..." up to the table of the tenant
 * column; nothing for a direct table */
void dom_sql_tenant_joins(dom_buf *b, const dom_move_table *t, const char *row, const char *prefix);
/* the tenant column after those joins */
void dom_sql_tenant_col(dom_buf *b, const dom_move_table *t, const char *row);
/* the tenant of one row as a scalar expression (NULL when its parent is
 * not there): row."key", or a subquery along the links */
void dom_sql_tenant_of(dom_buf *b, const dom_move_table *t, const char *row, const char *prefix);
/* the condition "the row belongs to a tenant of (keyset)", a subquery
 * giving keys: row."key" IN (keyset), or the link's columns IN the
 * parent's rows that belong to them, link by link */
void dom_sql_keys_filter(dom_buf *b, const dom_move_table *t, const char *row, const char *prefix,
                         const char *keyset);
/* the condition "the row reaches, through its links 0..upto, the row
 * `target` (OLD, NEW) of links[upto].parent" */
void dom_sql_reaches(dom_buf *b, const dom_move_table *t, const char *row, const char *prefix,
                     size_t upto, const char *target);
/* The tenant column: of t, or of the table its links end at. */
const dom_column *dom_move_key_column(const dom_move_table *t);

/* Engine constructors. */
int dom_store_sqlite_open(dom_store **out, const dom_region *region, int flags);
int dom_store_pg_open(dom_store **out, const dom_region *region, int flags);

/* ---- the engines (engines.c): the one place an engine plugs in ---- */

struct dom_db; /* db.h */

typedef struct dom_engine {
    const char *name; /* "sqlite", "postgresql": as plan --json and ops->engine say */
    dom_dsn_kind kind;
    const char *const *schemes; /* the DSN prefixes it answers to, NULL-ended */
    const char *forms;          /* the DSN's forms, for messages */
    /* checks a DSN of this engine (`rest`: after the scheme, `dir`: the
     * config's folder) and fills out's path or conninfo; DOM_ECONFIG with
     * the reason */
    int (*parse_dsn)(dom_dsn *out, const char *text, const char *rest, const char *dir);
    int (*open)(dom_store **out, const dom_region *region, int flags);
    /* opens the database of a DSN for the control plane's tables (db.h) */
    int (*db_open)(struct dom_db **out, const dom_dsn *dsn, const char *label, int flags);
} dom_engine;

/* Every engine, NULL-ended. */
extern const dom_engine *const dom_engines[];
/* The engine whose scheme starts `dsn` (*rest: what follows the scheme),
 * else NULL. */
const dom_engine *dom_engine_of_dsn(const char *dsn, const char **rest);
/* The engine of a parsed DSN. */
const dom_engine *dom_engine_of_kind(dom_dsn_kind kind);
int dom_store_sqlite_parse_dsn(dom_dsn *out, const char *text, const char *rest, const char *dir);
int dom_store_pg_parse_dsn(dom_dsn *out, const char *text, const char *rest, const char *dir);

#endif
