/*
 * store_pg_move.c - the mover's operations on a PostgreSQL region (their
 * files: store_pg_move.h); here the copy between two PostgreSQL regions.
 *
 * Reads stream with COPY ... TO STDOUT in text format and are decoded by
 * the class of each column's declared type, so a row read here compares
 * with the same row read from SQLite (docs/verification.md, "Canonical
 * values").  Writes are buffered per table as COPY lines and, when the
 * write commits (or a delete needs them out first), copied into a
 * temporary stage table and merged with one INSERT ... ON CONFLICT.
 * Between two PostgreSQL regions, copy_from pipes COPY TO into COPY FROM
 * without decoding anything.
 *
 * The mover's writes pass the triggers through the transaction-local
 * setting domicile.bypass; fences are changed by UPDATEs that wait for the
 * writers holding a share lock on the fence row (docs/mover.md, "The
 * barrier on PostgreSQL").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg_move.h"

/* ---- copy between two PostgreSQL regions ------------------------------------ */

/* Pipes one table's rows from src's COPY into dst's; with a watch (table
 * index ti), in the cursor's order, each line also decoded for it. */
static int copy_table(pg_store *d, pg_store *src, const dom_move_table *st,
                      const dom_move_table *dt, int64_t *rows, int64_t *bytes,
                      dom_copy_watch *watch, size_t ti, int last)
{
    pg_cursor *dec = NULL;
    int rc = 0, n;
    PGresult *r = NULL;
    char *out_sql = NULL;
    if (watch && (rc = dom_pg__new_cursor(src, st, &dec)) == 0)
        /* the columns themselves (col_list) */
        for (int i = 0; i < dec->ncols; i++)
            dec->fix[i] = dec->cls[i] == PG_C_TIME;
    dom_buf b = DOM_BUF_INIT;
    dom_buf_puts(&b, "COPY (SELECT ");
    dom_pg__col_list(src, &b, st->info);
    int lateral = rc == 0 ? dom_pg__keys_from(src, &b, st, "*") : rc;
    if (lateral < 0) {
        dom_buf_free(&b);
        rc = lateral;
    } else {
        if (watch)
            dom_pg__order_by(src, &b, st, lateral ? LATERAL_KEY : NULL);
        dom_buf_puts(&b, ") TO STDOUT");
        if (!(out_sql = dom_pg__buf_take(&b)))
            rc = DOM_ENOMEM;
    }
    /* the source's read starts while the target's COPY (of the query
     * dom_pg__copy_from sent) comes in */
    int reading = 0;
    if (rc == 0) {
        r = PQexec(src->conn, out_sql);
        if (PQresultStatus(r) != PGRES_COPY_OUT) {
            rc = fail(src, st->info->name, "cannot read rows", r);
        } else {
            PQclear(r);
            reading = 1;
        }
    }
    while ((r = PQgetResult(d->conn)) != NULL && PQresultStatus(r) == PGRES_COMMAND_OK)
        PQclear(r);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        if (rc == 0)
            rc = fail(d, dt->info->name, "cannot copy rows", r);
        else
            PQclear(r);
        if (r)
            dom_pg__results(d, NULL, "");
        if (reading)
            dom_pg__copy_out_drain(src);
        goto done;
    }
    PQclear(r);
    if (rc < 0) {
        rc = dom_pg__copy_in_abandon(d, rc);
        goto done;
    }
    char *line;
    while ((n = PQgetCopyData(src->conn, &line, 0)) > 0) {
        if (rc == 0 && PQputCopyData(d->conn, line, n) != 1)
            rc = fail(d, dt->info->name, "cannot copy rows", NULL);
        if (rc == 0 && dec) {
            dom_pg__decode_line(dec, line, n);
            if (dec->store.oom || dec->field.oom) {
                rc = DOM_ENOMEM;
            } else {
                dom_pg__cursor_point(dec);
                rc = watch->on_row(ti, dec->vals, watch->payload);
            }
        }
        (*rows)++;
        *bytes += n;
        PQfreemem(line);
        /* another batch's write pause in either region goes first: on
         * two busy cores, every process that runs beside it lengthens it */
        if ((*rows & 1023) == 0) {
            if (d->base.before_bulk)
                d->base.before_bulk(d->base.before_bulk_payload);
            if (src->base.before_bulk)
                src->base.before_bulk(src->base.before_bulk_payload);
        }
    }
    if (n == -2 && rc == 0)
        rc = fail(src, st->info->name, "cannot read rows", NULL);
    int rs = dom_pg__results(src, st->info->name, "cannot read rows");
    if (rc == 0)
        rc = rs;
    if (rc < 0) {
        rc = dom_pg__copy_in_abandon(d, rc);
    } else if (last) {
        /* this COPY's result, the COMMIT's, and the end */
        rc = dom_pg__copy_in_end(d, 1, dt->info->name, "cannot copy rows");
    } else {
        /* this COPY's result; the next one starts the next table */
        PQputCopyEnd(d->conn, NULL);
        r = PQgetResult(d->conn);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = fail(d, dt->info->name, "cannot copy rows", r);
            dom_pg__results(d, NULL, "");
        } else {
            PQclear(r);
        }
    }
done:
    dom_free(out_sql);
    dom_pg__cursor_close((dom_cursor *)dec);
    return rc;
}

int dom_pg__copy_from(dom_store *dbase, dom_store *sbase, const dom_move_table *tables, size_t n,
                      int64_t *max_seq, int64_t *rows, int64_t *bytes, dom_copy_watch *watch)
{
    pg_store *d = (pg_store *)dbase, *src = (pg_store *)sbase;
    *rows = *bytes = 0;
    if (sbase->ops != &dom_pg__ops)
        return DOM_EUNSUPPORTED;
    /* the tables come as the source's view; the target's has the same
     * names, columns and order (prepare checked) */
    int rc = dom_pg__key_indexed_all(src, tables, n);
    if (rc < 0 || (rc = dom_pg__snapshot_begin(sbase, max_seq)) < 0)
        return rc;
    if (dbase->before_bulk)
        dbase->before_bulk(dbase->before_bulk_payload);
    if ((rc = dom_pg__write_begin(dbase)) < 0) {
        dom_pg__snapshot_end(sbase);
        return rc;
    }
    /* one query for the target's whole write: BEGIN, a COPY per table,
     * COMMIT; a table's COPY starts as the previous one ends, in the round
     * trip that ends it (what a far target costs per table) */
    dom_buf b = DOM_BUF_INIT;
    dom_buf_puts(&b, dom_pg__write_prefix(d));
    for (size_t i = 0; i < n; i++) {
        dom_buf_puts(&b, "COPY ");
        dom_pg__put_ident(d, &b, tables[i].info->name);
        dom_buf_puts(&b, " (");
        dom_pg__col_list(d, &b, tables[i].info);
        dom_buf_puts(&b, ") FROM STDIN; ");
    }
    dom_buf_puts(&b, "COMMIT");
    char *in_sql = dom_pg__buf_take(&b);
    if (!in_sql)
        rc = DOM_ENOMEM;
    else if (!PQsendQuery(d->conn, in_sql))
        rc = fail(d, NULL, "cannot copy rows", NULL);
    dom_free(in_sql);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = copy_table(d, src, &tables[i], &tables[i], rows, bytes,
                        watch && watch->on_row ? watch : NULL, i, i + 1 == n);
    if (rc == 0 && n == 0)
        rc = dom_pg__results(d, NULL, "cannot copy rows");
    if (rc == 0 && watch && watch->on_row)
        watch->observed = 1;
    if (rc == 0) {
        /* committed by the query */
        d->in_write = d->write_open = 0;
    } else {
        dom_pg__write_rollback(dbase);
    }
    int rc2 = dom_pg__snapshot_end(sbase);
    return rc < 0 ? rc : rc2;
}
