/*
 * move_copy.c - the copy step: the batch's rows from the source's snapshot
 * into the target, hashed on the way (docs/mover.md, "Verify"), paced by
 * the live control (control.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/control.h"
#include "core/move_int.h"

int dom_mv_hash_arrays(batch_run *br)
{
    size_t n = br->S->nmt ? br->S->nmt : 1;
    if (!br->hrows && !(br->hrows = dom_calloc(n, sizeof(int64_t))))
        return DOM_ENOMEM;
    if (!br->hbytes && !(br->hbytes = dom_calloc(n, sizeof(int64_t))))
        return DOM_ENOMEM;
    return 0;
}

/* Rows a copy pays for at a time at the live rate (control.h). */
#define GATE_ROWS 1000

static int copy_row(size_t table, const dom_value *row, void *payload)
{
    batch_run *br = payload;
    if (++br->w->unpaid >= GATE_ROWS) {
        int rc = dom_control_gate(br->w->cat, br->w->unpaid);
        br->w->paid += br->w->unpaid;
        br->w->unpaid = 0;
        if (rc < 0)
            return rc;
    }
    return dom_content_hash_add(&br->copy_hash, table, row, br->S->mt[table].info->ncols);
}

/* The copy hashes the snapshot it copies (docs/mover.md, "Verify"). */
static int copy_hash_begin(batch_run *br)
{
    int rc;
    br->have_hash = br->copy_hashed = 0;
    br->replayed = 0;
    if ((rc = dom_mv_hash_arrays(br)) < 0)
        return rc;
    return dom_content_hash_init(&br->copy_hash, br->hrows, br->hbytes, br->S->nmt);
}

static void copy_hash_end(batch_run *br, int ok)
{
    dom_content_hash_end(&br->copy_hash, ok ? br->hash : NULL);
    br->copy_hashed = ok;
}

int dom_mv_step_copy(batch_run *br)
{
    double t0 = dom_mono();
    int rc;
    int64_t seq = 0, rows = 0, bytes = 0, chunk_rows = 0, chunk_bytes = 0;
    dom_fault("copy-start");
    if ((rc = copy_hash_begin(br)) < 0)
        return rc;
    /* small batches between two regions of one engine: one statement per table */
    dom_mv_yield_to_pause(br->T->idx);
    dom_copy_watch watch = {copy_row, br, 0};
    rc = dom_store_copy_from(br->T->st, br->S->st, br->S->mt, br->S->nmt, &seq, &rows, &bytes,
                             &watch);
    if (rc != DOM_EUNSUPPORTED)
        copy_hash_end(br, rc == 0 && watch.observed);
    if (rc == 0) {
        dom_fault("copy");
        br->b.copy_seq = br->b.applied_seq = seq;
        br->b.rows = rows;
        br->b.bytes = bytes;
        dom_log(DOM_LOG_DEBUG, "batch %lld: copied %lld rows in %.1f ms", (long long)br->b.id,
                (long long)rows, (dom_mono() - t0) * 1000);
        return dom_mv_save_step(br, "copied");
    }
    if (rc != DOM_EUNSUPPORTED)
        return rc;
    if ((rc = dom_store_snapshot_begin(br->S->st, &seq)) < 0)
        return rc;
    int writing = 0;
    for (size_t t = 0; t < br->S->nmt && rc == 0; t++) {
        dom_cursor *c;
        const dom_value *row;
        if ((rc = dom_store_cursor_open(br->S->st, &br->S->mt[t], &c)) < 0)
            break;
        int h;
        while ((h = dom_store_cursor_next(c, &row)) > 0) {
            if (!writing) {
                dom_mv_yield_to_pause(br->T->idx);
                if ((rc = dom_store_write_begin(br->T->st)) < 0)
                    break;
                writing = 1;
            }
            if ((rc = dom_store_upsert(br->T->st, &br->T->mt[t], row)) < 0 ||
                (rc = copy_row(t, row, br)) < 0)
                break;
            size_t n = br->S->mt[t].info->ncols;
            int64_t rb = 0;
            for (size_t i = 0; i < n; i++)
                rb += row[i].type == DOM_V_TEXT || row[i].type == DOM_V_BLOB ? (int64_t)row[i].n
                      : row[i].type == DOM_V_NULL                            ? 0
                                                                             : 8;
            rows++;
            bytes += rb;
            chunk_rows++;
            chunk_bytes += rb;
            if (br->T->st->ops->write_rows &&
                (chunk_rows >= COPY_CHUNK_ROWS || chunk_bytes >= COPY_CHUNK_BYTES)) {
                writing = 0;
                chunk_rows = chunk_bytes = 0;
                if ((rc = dom_store_write_commit(br->T->st)) < 0)
                    break;
                dom_fault("copy");
                if (dom_interrupted) {
                    rc = dom_error_set(DOM_EINTR, "interrupted");
                    break;
                }
            }
        }
        if (h < 0 && rc == 0)
            rc = h;
        dom_store_cursor_close(c);
    }
    if (writing) {
        if (rc == 0)
            rc = dom_store_write_commit(br->T->st);
        else
            dom_store_write_rollback(br->T->st);
    }
    int rc2 = dom_store_snapshot_end(br->S->st);
    copy_hash_end(br, rc == 0 && rc2 == 0);
    if (rc < 0)
        return rc;
    if (rc2 < 0)
        return rc2;
    br->b.copy_seq = br->b.applied_seq = seq;
    br->b.rows = rows;
    br->b.bytes = bytes;
    return dom_mv_save_step(br, "copied");
}
