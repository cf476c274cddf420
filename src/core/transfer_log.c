/*
 * transfer_log.c - the transfer log's entries (docs/audit.md): a transfer
 * when a batch has flipped, an erasure when its source copy is gone; each
 * chained to the one before and its head published in the regions, where
 * audit checks the chain.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/move_int.h"

/* SHA-256 over the batch's tenant keys, sorted, one per line. */
static int keys_digest(const dom_batch *b, char out[65])
{
    dom_buf k = DOM_BUF_INIT;
    unsigned char d[32];
    for (size_t i = 0; i < b->nkeys; i++) {
        dom_buf_puts(&k, b->keys[i]);
        dom_buf_putc(&k, '\n');
    }
    if (k.oom) { /* never the digest of a partial list */
        dom_buf_free(&k);
        return dom_error_set(DOM_ENOMEM, "out of memory (the batch's tenant digest)");
    }
    dom_sha256(k.ptr ? k.ptr : "", k.len, d);
    dom_hex(d, 32, out);
    dom_buf_free(&k);
    return 0;
}

/* Appends `entry` (its "seq" is set here) to the log inside the caller's
 * catalog transaction; *head receives "seq hash". */
static int log_entry(worker *w, json_t *entry, char head[96])
{
    int64_t seq;
    char prev[65], hash[65];
    int rc = dom_catalog_log_next(w->cat, &seq, prev);
    if (rc < 0)
        return rc;
    json_object_set_new(entry, "seq", json_integer(seq));
    char *text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return DOM_ENOMEM;
    rc = dom_catalog_log_write(w->cat, seq, text, prev, hash);
    free(text);
    snprintf(head, 96, "%lld %s", (long long)seq, hash);
    return rc;
}

/* Every region the batch touched remembers the log's head, so that a log
 * cut short in the catalog is noticed by audit. */
static int publish_head(batch_run *br, const char *head)
{
    int rc = dom_store_meta_set(br->S->st, "log_head", head);
    if (rc == 0)
        rc = dom_store_meta_set(br->T->st, "log_head", head);
    return rc;
}

/* The batch's rows in the source (frozen, then fenced "moved": what was
 * transferred), each recorded in the catalog by table, primary key and
 * digest (options.transfer_rows), inside the caller's transaction. */
#define ROWS_PUT_CHUNK 1000
static int record_rows(batch_run *br)
{
    region_h *S = br->S;
    const char **tbl = dom_calloc(ROWS_PUT_CHUNK, sizeof(char *));
    char **pk = dom_calloc(ROWS_PUT_CHUNK, sizeof(char *));
    char(*dig)[65] = dom_calloc(ROWS_PUT_CHUNK, 65);
    const char **digp = dom_calloc(ROWS_PUT_CHUNK, sizeof(char *));
    dom_buf tmp = DOM_BUF_INIT;
    size_t n = 0;
    int rc = tbl && pk && dig && digp ? 0 : DOM_ENOMEM;
    if (rc == 0)
        rc = dom_store_set_keys(S->st, (const char *const *)br->b.keys, br->b.epochs, br->b.nkeys);
    for (size_t t = 0; rc == 0 && t < S->nmt; t++) {
        dom_cursor *c;
        const dom_value *row;
        if ((rc = dom_store_cursor_open(S->st, &S->mt[t], &c)) < 0)
            break;
        int h;
        while (rc == 0 && (h = dom_store_cursor_next(c, &row)) > 0) {
            unsigned char d[32];
            dom_mv_row_digest(&S->mt[t], row, &tmp, d);
            dom_hex(d, 32, dig[n]);
            tbl[n] = S->mt[t].info->name;
            digp[n] = dig[n];
            if (!(pk[n] = dom_pk_json(&S->mt[t], row))) {
                rc = DOM_ENOMEM;
                break;
            }
            if (++n == ROWS_PUT_CHUNK) {
                rc = dom_catalog_rows_put(br->w->cat, br->b.id, tbl, (const char *const *)pk, digp,
                                          n);
                while (n)
                    dom_free(pk[--n]);
            }
        }
        if (rc == 0 && h < 0)
            rc = h;
        dom_store_cursor_close(c);
    }
    if (rc == 0 && n)
        rc = dom_catalog_rows_put(br->w->cat, br->b.id, tbl, (const char *const *)pk, digp, n);
    while (n)
        dom_free(pk[--n]);
    dom_buf_free(&tmp);
    dom_free(tbl);
    dom_free(pk);
    dom_free(dig);
    dom_free(digp);
    return rc;
}

/* After the flip: the source copy can no longer change (fenced "moved"), so
 * its rows are what was transferred.  Records rows, bytes and the content
 * hash per table in the log, once: the hash the last compare of every row
 * took of the source when nothing changed after it, else the source read
 * again. */
int dom_mv_log_transfer(batch_run *br)
{
    if (br->b.logged)
        return 0;
    size_t n = br->S->nmt;
    int64_t *rows = dom_calloc(n, sizeof(int64_t)), *bytes = dom_calloc(n, sizeof(int64_t));
    unsigned char h[32];
    char hex[65], digest[65], now[32], head[96];
    int rc = rows && bytes ? 0 : DOM_ENOMEM;
    /* DOMICILE_CHECK_HASH=1 (the tests): hash the source again and
     * compare, also when the compare's hash stands for it */
    const char *check = getenv("DOMICILE_CHECK_HASH");
    int reread = !br->have_hash || (check && *check == '1');
    if (rc == 0 && reread &&
        (rc = dom_store_set_keys(br->S->st, (const char *const *)br->b.keys, br->b.epochs,
                                 br->b.nkeys)) == 0)
        rc = dom_hash_keys(br->S->st, br->S->mt, n, rows, bytes, h);
    if (rc == 0 && br->have_hash) {
        /* nothing changed in the source since its rows were hashed by
         * the last compare of every row (the source has been frozen and
         * then fenced "moved" since) */
        if (reread &&
            (memcmp(h, br->hash, 32) != 0 || memcmp(rows, br->hrows, n * sizeof(int64_t)) != 0 ||
             memcmp(bytes, br->hbytes, n * sizeof(int64_t)) != 0))
            rc = dom_error_set(DOM_ERROR,
                               "batch %lld: the source's rows differ from their hash taken by "
                               "the compare",
                               (long long)br->b.id);
        memcpy(h, br->hash, 32);
        memcpy(rows, br->hrows, n * sizeof(int64_t));
        memcpy(bytes, br->hbytes, n * sizeof(int64_t));
        dom_log(DOM_LOG_DEBUG, "batch %lld: content hash taken from the compare",
                (long long)br->b.id);
    }
    if (rc < 0)
        goto done;
    dom_hex(h, 32, hex);
    if ((rc = keys_digest(&br->b, digest)) < 0)
        goto done;
    dom_iso_now(now);
    json_t *tables = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(tables,
                              json_pack("{s:s,s:I,s:I}", "table", br->S->mt[i].info->name, "rows",
                                        (json_int_t)rows[i], "bytes", (json_int_t)bytes[i]));
    json_t *e = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:I,s:s,s:o,s:s}", "time", now, "kind",
                          "transfer", "wave", br->b.wave, "batch", (json_int_t)br->b.id, "from",
                          br->b.src, "to", br->b.dst, "tenants", (json_int_t)br->b.nkeys,
                          "tenant_digest", digest, "tables", tables, "content_sha256", hex);
    if (!e) {
        rc = DOM_ENOMEM;
        goto done;
    }
    if ((rc = dom_catalog_begin(br->w->cat)) == 0) {
        br->b.logged = 1;
        if ((br->w->cfg->options.transfer_rows && (rc = record_rows(br)) < 0) ||
            (rc = log_entry(br->w, e, head)) < 0 ||
            (rc = dom_catalog_batch_update(br->w->cat, &br->b)) < 0) {
            br->b.logged = 0;
            dom_catalog_rollback(br->w->cat);
        } else {
            rc = dom_catalog_commit(br->w->cat);
        }
    }
    json_decref(e);
    if (rc == 0)
        rc = publish_head(br, head);
done:
    dom_free(rows);
    dom_free(bytes);
    return rc;
}

/* The erasure, checked table by table by the caller, goes into the log in
 * the same catalog transaction as "done".  rows_erased is every row the
 * source held for the batch at the flip (the transfer's rows: fenced
 * "moved" since, it cannot have changed) once none remains: an erasure
 * that an earlier attempt committed but could not record (a crash, a lost
 * connection) counts the same as one that ran in full now, so that the
 * log of a resumed run equals that of a run without the interruption.
 * The log's head is published in the batch's regions; with head_out it is
 * left there for the caller to publish (once for a group of batches). */
int dom_mv_record_erasure(batch_run *br, char *head_out)
{
    int rc;
    char digest[65], now[32], head[96];
    if (br->b.erased < br->b.rows) {
        dom_log(DOM_LOG_DEBUG,
                "batch %lld: %lld of its %lld rows were erased by an earlier attempt",
                (long long)br->b.id, (long long)(br->b.rows - br->b.erased), (long long)br->b.rows);
        br->b.erased = br->b.rows;
    }
    if ((rc = keys_digest(&br->b, digest)) < 0)
        return rc;
    dom_iso_now(now);
    json_t *tables = json_array();
    for (size_t i = 0; i < br->S->nmt; i++)
        json_array_append_new(tables, json_pack("{s:s,s:I}", "table", br->S->mt[i].info->name,
                                                "remaining", (json_int_t)0));
    json_t *e = json_pack("{s:s,s:s,s:s,s:I,s:s,s:I,s:s,s:I,s:o}", "time", now, "kind", "erasure",
                          "wave", br->b.wave, "batch", (json_int_t)br->b.id, "region", br->b.src,
                          "tenants", (json_int_t)br->b.nkeys, "tenant_digest", digest,
                          "rows_erased", (json_int_t)br->b.erased, "tables", tables);
    if (!e)
        return DOM_ENOMEM;
    if ((rc = dom_store_sync(br->S->st)) < 0 || (rc = dom_catalog_begin(br->w->cat)) < 0) {
        json_decref(e);
        return rc;
    }
    snprintf(br->b.step, sizeof(br->b.step), "done");
    if ((rc = log_entry(br->w, e, head)) < 0 ||
        (rc = dom_catalog_batch_update(br->w->cat, &br->b)) < 0) {
        dom_catalog_rollback(br->w->cat);
        snprintf(br->b.step, sizeof(br->b.step), "flipped");
    } else {
        rc = dom_catalog_commit(br->w->cat);
    }
    json_decref(e);
    if (rc == 0 && head_out) {
        memcpy(head_out, head, sizeof(head));
        return 0;
    }
    return rc < 0 ? rc : publish_head(br, head);
}
