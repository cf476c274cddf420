/*
 * verify.h - row comparison between two regions: ordering and equality of
 * values, primary keys as JSON, a merge-join over two ordered row streams
 * in bounded memory, and the canonical row encoding behind content hashes.
 */
#ifndef DOM_VERIFY_H
#define DOM_VERIFY_H

#include "core/config.h"
#include "store/store.h"
#include "util/util.h"

/* SQLite's order: NULL < numbers < text (bytes) < blob (bytes). */
int dom_value_cmp(const dom_value *a, const dom_value *b);
/* Equal values (an integer equals the same real). */
int dom_value_eq(const dom_value *a, const dom_value *b);

/* The JSON array of a row's primary key (every column when the table has
 * none); blobs as {"$b": "HEX"}.  Caller frees. */
char *dom_pk_json(const dom_move_table *t, const dom_value *row);
/* Parses such an array into out[n]; text and blob bytes live in `store`
 * (reset by the caller).  Returns the number of values or < 0. */
int dom_pk_parse(const char *json, dom_value *out, int n, dom_buf *store);

/* Appends the canonical encoding of a row (docs/verification.md). */
void dom_row_encode(dom_buf *b, const dom_value *row, size_t n);

typedef enum { DOM_DIFF_MISSING = 1, DOM_DIFF_EXTRA, DOM_DIFF_CHANGED } dom_diff_kind;
/* One difference: table index, kind (relative to the first store: MISSING =
 * in a, not in b), the row's tenant key (JSON value) and primary key (JSON). */
typedef int (*dom_diff_cb)(size_t table, dom_diff_kind kind, const char *tenant_json,
                           const char *pk_json, void *payload);

typedef struct dom_verify_stats {
    int64_t rows_a, rows_b, diffs;
    int64_t bytes_a;
    unsigned char hash_a[32]; /* SHA-256 over the canonical rows of a, in order */
    /* when set by the caller (ntables entries each): rows and canonical
     * bytes of a per table, as dom_hash_keys counts them */
    int64_t *table_rows, *table_bytes;
} dom_verify_stats;

/* Compares the rows of the keys set in both stores (dom_store_set_keys),
 * table by table.  ta and tb describe the same tables in each region. */
int dom_verify_keys(dom_store *a, dom_store *b, const dom_move_table *ta, const dom_move_table *tb,
                    size_t ntables, dom_diff_cb cb, void *payload, dom_verify_stats *stats);

/* The content hash of rows given one by one, table by table in the
 * cursors' order: what dom_hash_keys computes from a store. */
typedef struct dom_content_hash {
    void *md;
    dom_buf enc;
    int64_t *rows, *bytes; /* per table */
} dom_content_hash;

int dom_content_hash_init(dom_content_hash *h, int64_t *rows, int64_t *bytes, size_t ntables);
int dom_content_hash_add(dom_content_hash *h, size_t table, const dom_value *row, size_t ncols);
/* Writes the hash (when out is not NULL) and frees what init took. */
void dom_content_hash_end(dom_content_hash *h, unsigned char out[32]);

/* Per table rows and canonical bytes, and the SHA-256 over every row of
 * every table in order, of the keys set in the store. */
int dom_hash_keys(dom_store *st, const dom_move_table *t, size_t ntables, int64_t *rows,
                  int64_t *bytes, unsigned char hash[32]);

typedef struct dom_verify_opts {
    const char *wave;   /* tenants of this wave's batches */
    const char *tenant; /* one tenant */
    /* 1: instead, each transfer of the log whose tenants still live where
     * it put them: their rows at home against the transfer's rows, bytes
     * and content hash */
    int transfers;
    /* each transfer that differs: per table, rows and bytes at home now
     * and at the transfer (table NULL: equal counts, another content) */
    int (*on_transfer)(int64_t batch, const char *home, const char *table, int64_t rows_now,
                       int64_t rows_then, int64_t bytes_now, int64_t bytes_then, void *payload);
    /* ... and, where the catalog kept the batch's rows
     * (options.transfer_rows), each row that differs: MISSING at home,
     * EXTRA at home, or CHANGED since the transfer */
    int (*on_transfer_row)(int64_t batch, const char *home, const char *table, dom_diff_kind kind,
                           const char *pk_json, void *payload);
    /* each difference, with the regions compared (home first) */
    int (*on_diff)(const char *home, const char *other, const char *table, dom_diff_kind kind,
                   const char *tenant_json, const char *pk_json, void *payload);
    void *payload;
} dom_verify_opts;

typedef struct dom_verify_summary {
    int64_t transfers;      /* --transfers: log entries checked */
    int64_t transfers_skip; /* ... not checked: a tenant moved (or is moving) since */
    int64_t tenants;        /* chosen */
    int64_t elsewhere;      /* of them, with rows outside their home */
    int64_t rows_compared;  /* rows read in the home for those */
    int64_t differences;
} dom_verify_summary;

/* Compares every row of the chosen tenants (all in the directory when
 * neither wave nor tenant is given) between their home and every other
 * region that holds rows of them. */
int dom_verify_run(const dom_config *cfg, const dom_verify_opts *o, dom_verify_summary *out);

#endif
