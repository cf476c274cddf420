/*
 * db_pg.c - the database layer (db.h) on a PostgreSQL server: parameters
 * go as text (the server casts them to the columns' types), rows are
 * streamed in single-row mode.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db_int.h"
#include "store/store_pg.h"
#include "util/util.h"

#define MAX_ARGS 32

typedef struct pg_db {
    dom_db base;
    PGconn *conn;
} pg_db;

/* The one reporter of this engine's failures: what failed, the SQLSTATE
 * and the server's message (or the connection's).  Clears r. */
static int fail(pg_db *d, const char *what, PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char buf[512];
    if (!msg) {
        snprintf(buf, sizeof(buf), "%s", PQerrorMessage(d->conn));
        buf[strcspn(buf, "\n")] = '\0';
        msg = buf;
    }
    snprintf(d->base.sqlstate, sizeof(d->base.sqlstate), "%s", state ? state : "");
    int rc = dom_error_set(DOM_EREGION, "%s %s: %s: %s%s%s%s", d->base.label, d->base.name, what,
                           state ? "SQLSTATE " : "", state ? state : "", state ? ": " : "", msg);
    PQclear(r);
    return rc;
}

static void close_db(dom_db *base)
{
    pg_db *d = (pg_db *)base;
    if (d->conn)
        PQfinish(d->conn);
    dom_free(base->name);
    dom_free(d);
}

/* The arguments as text parameters; numbers are written into buf. */
static int params(const dom_db_arg *args, int nargs, const char **pv, char (*buf)[32])
{
    if (nargs > MAX_ARGS)
        return dom_error_set(DOM_ERROR, "a statement with %d parameters (at most %d)", nargs,
                             MAX_ARGS);
    for (int i = 0; i < nargs; i++) {
        const dom_db_arg *a = &args[i];
        pv[i] = NULL;
        if (a->type == DOM_DB_INT) {
            snprintf(buf[i], 32, "%lld", (long long)a->i);
            pv[i] = buf[i];
        } else if (a->type == DOM_DB_REAL) {
            snprintf(buf[i], 32, "%.17g", a->d);
            pv[i] = buf[i];
        } else if (a->type == DOM_DB_TEXT) {
            pv[i] = a->t;
        }
    }
    return 0;
}

static int exec(dom_db *base, const char *what, const char *sql, const dom_db_arg *args, int nargs,
                int64_t *changed)
{
    pg_db *d = (pg_db *)base;
    const char *pv[MAX_ARGS];
    char buf[MAX_ARGS][32];
    int rc = params(args, nargs, pv, buf);
    if (rc < 0)
        return rc;
    PGresult *r = PQexecParams(d->conn, sql, nargs, NULL, pv, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return fail(d, what, r);
    *changed = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

static int query(dom_db *base, const char *what, const char *sql, const dom_db_arg *args, int nargs,
                 dom_db_row_cb cb, void *payload)
{
    pg_db *d = (pg_db *)base;
    const char *pv[MAX_ARGS];
    char buf[MAX_ARGS][32];
    int rc = params(args, nargs, pv, buf);
    if (rc < 0)
        return rc;
    if (!PQsendQueryParams(d->conn, sql, nargs, NULL, pv, NULL, NULL, 0))
        return fail(d, what, NULL);
    PQsetSingleRowMode(d->conn);
    PGresult *r;
    /* every result is read, also after the callback stopped: the
     * connection is then ready for the next statement */
    while ((r = PQgetResult(d->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE) {
            dom_db_row row = {base, r, 0};
            if (rc == 0)
                rc = cb(&row, payload);
            PQclear(r);
        } else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            PQclear(r);
        } else {
            int e = fail(d, what, r);
            if (rc == 0)
                rc = e;
        }
    }
    return rc;
}

static int script(dom_db *base, const char *what, const char *sql)
{
    pg_db *d = (pg_db *)base;
    PGresult *r = PQexec(d->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return fail(d, what, r);
    PQclear(r);
    return 0;
}

static int begin(dom_db *base)
{
    return script(base, "cannot begin", "BEGIN");
}

static int in_tx(const dom_db *base)
{
    return PQtransactionStatus(((const pg_db *)base)->conn) != PQTRANS_IDLE;
}

static void rollback(dom_db *base)
{
    if (in_tx(base))
        PQclear(PQexec(((pg_db *)base)->conn, "ROLLBACK"));
}

static int commit(dom_db *base)
{
    int rc = script(base, "cannot commit", "COMMIT");
    if (rc < 0)
        rollback(base);
    return rc;
}

static int copy_in(dom_db *base, const char *what, const char *sql, const char *data, size_t len)
{
    pg_db *d = (pg_db *)base;
    PGresult *r = PQexec(d->conn, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN)
        return fail(d, what, r);
    PQclear(r);
    int ok = 1;
    for (size_t off = 0; ok && off < len; off += 1 << 20) {
        size_t n = len - off < (1 << 20) ? len - off : (1 << 20);
        ok = PQputCopyData(d->conn, data + off, (int)n) == 1;
    }
    int rc = 0;
    if (PQputCopyEnd(d->conn, ok ? NULL : "domicile: the data could not be sent") != 1)
        rc = fail(d, what, NULL);
    while ((r = PQgetResult(d->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
            rc = fail(d, what, r);
        else
            PQclear(r);
    }
    return rc;
}

static void *handle(dom_db *base)
{
    return ((pg_db *)base)->conn;
}

static int ncols(const dom_db_row *r)
{
    return PQnfields(r->h);
}

static int isnull(const dom_db_row *r, int col)
{
    return PQgetisnull(r->h, r->row, col);
}

static int64_t col_int(const dom_db_row *r, int col)
{
    const char *v = PQgetvalue(r->h, r->row, col);
    /* a boolean reads as 1 or 0 */
    return *v == 't' ? 1 : *v == 'f' ? 0 : strtoll(v, NULL, 10);
}

static double col_real(const dom_db_row *r, int col)
{
    return strtod(PQgetvalue(r->h, r->row, col), NULL);
}

static const char *col_text(const dom_db_row *r, int col)
{
    return PQgetvalue(r->h, r->row, col);
}

static size_t col_len(const dom_db_row *r, int col)
{
    return (size_t)PQgetlength(r->h, r->row, col);
}

static const dom_db_ops pg_db_ops = {
    .engine = "postgresql",
    .close = close_db,
    .exec = exec,
    .query = query,
    .script = script,
    .begin = begin,
    .commit = commit,
    .rollback = rollback,
    .in_tx = in_tx,
    .copy_in = copy_in,
    .handle = handle,
    .ncols = ncols,
    .isnull = isnull,
    .col_int = col_int,
    .col_real = col_real,
    .col_text = col_text,
    .col_len = col_len,
};

int dom_db_pg_open(dom_db **out, const dom_dsn *dsn, const char *label, int flags)
{
    (void)flags;
    *out = NULL;
    pg_db *d = dom_calloc(1, sizeof(*d));
    if (!d)
        return DOM_ENOMEM;
    d->base.ops = &pg_db_ops;
    d->base.label = label;
    d->conn = dom_pg__connect(dsn->conninfo);
    if (!d->conn) {
        dom_free(d);
        return dom_error_set(DOM_EREGION, "%s: cannot connect: out of memory", label);
    }
    /* a name for messages: never the connection string (it may hold a
     * password); a failed connection still knows where it went */
    d->base.name =
        dom_sprintf("postgresql://%s:%s/%s", PQhost(d->conn), PQport(d->conn), PQdb(d->conn));
    if (!d->base.name) {
        close_db(&d->base);
        return DOM_ENOMEM;
    }
    if (PQstatus(d->conn) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(d->conn));
        for (char *p = msg; *p; p++)
            if (*p == '\n')
                *p = ' ';
        int rc = dom_error_set(DOM_EREGION, "%s %s: cannot connect: %s", label, d->base.name, msg);
        close_db(&d->base);
        return rc;
    }
    *out = &d->base;
    return 0;
}
