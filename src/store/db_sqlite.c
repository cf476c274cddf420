/*
 * db_sqlite.c - the database layer (db.h) on an SQLite file.  Statements
 * are prepared once and kept (a small cache by their text); $N
 * placeholders are read as ?N.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store/db_int.h"
#include "store/store_sqlite.h"
#include "util/util.h"

#define STMT_CACHE 32

typedef struct cached {
    char *sql; /* as the caller wrote it */
    sqlite3_stmt *st;
    int busy; /* stepping: a statement run from a row callback prepares its own */
} cached;

typedef struct sqlite_db {
    dom_db base;
    sqlite3 *h;
    cached cache[STMT_CACHE];
    unsigned next; /* the entry replaced next when the cache is full */
} sqlite_db;

static int fail(sqlite_db *d, const char *what)
{
    return dom_error_set(DOM_EREGION, "%s %s: %s: %s", d->base.label, d->base.name, what,
                         sqlite3_errmsg(d->h));
}

static void close_db(dom_db *base)
{
    sqlite_db *d = (sqlite_db *)base;
    for (int i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(d->cache[i].st);
        dom_free(d->cache[i].sql);
    }
    if (d->h)
        sqlite3_close(d->h);
    dom_free(base->name);
    dom_free(d);
}

/* $N as ?N, outside quoted text and names. */
static char *placeholders(const char *sql)
{
    char *out = dom_strdup(sql);
    char quote = 0;
    for (char *p = out; p && *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            *p = '?';
        }
    }
    return out;
}

/* The prepared statement of `sql`: kept in the cache, or (*own) prepared
 * for this call only. */
static int prepare(sqlite_db *d, const char *what, const char *sql, sqlite3_stmt **st,
                   cached **slot)
{
    *slot = NULL;
    for (int i = 0; i < STMT_CACHE; i++)
        if (d->cache[i].sql && strcmp(d->cache[i].sql, sql) == 0 && !d->cache[i].busy) {
            *st = d->cache[i].st;
            *slot = &d->cache[i];
            (*slot)->busy = 1;
            return 0;
        }
    char *text = placeholders(sql);
    if (!text)
        return DOM_ENOMEM;
    int rc = sqlite3_prepare_v2(d->h, text, -1, st, NULL);
    dom_free(text);
    if (rc != SQLITE_OK)
        return fail(d, what);
    cached *c = NULL;
    for (int i = 0; i < STMT_CACHE && !c; i++)
        if (!d->cache[i].sql)
            c = &d->cache[i];
    for (int i = 0; i < STMT_CACHE && !c; i++) {
        cached *v = &d->cache[d->next++ % STMT_CACHE];
        if (!v->busy) {
            sqlite3_finalize(v->st);
            dom_free(v->sql);
            v->sql = NULL;
            c = v;
        }
    }
    if (c && (c->sql = dom_strdup(sql)) != NULL) {
        c->st = *st;
        c->busy = 1;
        *slot = c;
    }
    return 0;
}

static void release(sqlite3_stmt *st, cached *slot)
{
    if (!slot) {
        sqlite3_finalize(st);
        return;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    slot->busy = 0;
}

static void bind(sqlite3_stmt *st, const dom_db_arg *args, int nargs)
{
    /* the statement may take fewer than it is given */
    int n = sqlite3_bind_parameter_count(st);
    for (int i = 0; i < nargs && i < n; i++) {
        const dom_db_arg *a = &args[i];
        if (a->type == DOM_DB_INT)
            sqlite3_bind_int64(st, i + 1, a->i);
        else if (a->type == DOM_DB_REAL)
            sqlite3_bind_double(st, i + 1, a->d);
        else if (a->type == DOM_DB_TEXT && a->t)
            sqlite3_bind_text(st, i + 1, a->t, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, i + 1);
    }
}

static int exec(dom_db *base, const char *what, const char *sql, const dom_db_arg *args, int nargs,
                int64_t *changed)
{
    sqlite_db *d = (sqlite_db *)base;
    sqlite3_stmt *st;
    cached *slot;
    int rc = prepare(d, what, sql, &st, &slot);
    if (rc < 0)
        return rc;
    bind(st, args, nargs);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    rc = rc == SQLITE_DONE ? 0 : fail(d, what);
    *changed = sqlite3_changes(d->h);
    release(st, slot);
    return rc;
}

static int query(dom_db *base, const char *what, const char *sql, const dom_db_arg *args, int nargs,
                 dom_db_row_cb cb, void *payload)
{
    sqlite_db *d = (sqlite_db *)base;
    sqlite3_stmt *st;
    cached *slot;
    int rc = prepare(d, what, sql, &st, &slot);
    if (rc < 0)
        return rc;
    bind(st, args, nargs);
    dom_db_row row = {base, st, 0};
    int r = 0;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        r = cb(&row, payload);
        row.row++;
    }
    if (r == 0)
        r = rc == SQLITE_DONE ? 0 : fail(d, what);
    release(st, slot);
    return r;
}

static int script(dom_db *base, const char *what, const char *sql)
{
    sqlite_db *d = (sqlite_db *)base;
    char *err = NULL;
    if (sqlite3_exec(d->h, sql, NULL, NULL, &err) != SQLITE_OK) {
        int rc = dom_error_set(DOM_EREGION, "%s %s: %s: %s", base->label, base->name, what,
                               err ? err : sqlite3_errmsg(d->h));
        sqlite3_free(err);
        return rc;
    }
    return 0;
}

static int begin(dom_db *base)
{
    return script(base, "cannot begin", "BEGIN IMMEDIATE");
}

static int commit(dom_db *base)
{
    int rc = script(base, "cannot commit", "COMMIT");
    if (rc < 0)
        sqlite3_exec(((sqlite_db *)base)->h, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int in_tx(const dom_db *base)
{
    return !sqlite3_get_autocommit(((const sqlite_db *)base)->h);
}

static void rollback(dom_db *base)
{
    if (in_tx(base))
        sqlite3_exec(((sqlite_db *)base)->h, "ROLLBACK", NULL, NULL, NULL);
}

static void *handle(dom_db *base)
{
    return ((sqlite_db *)base)->h;
}

static int ncols(const dom_db_row *r)
{
    return sqlite3_column_count(r->h);
}

static int isnull(const dom_db_row *r, int col)
{
    return sqlite3_column_type(r->h, col) == SQLITE_NULL;
}

static int64_t col_int(const dom_db_row *r, int col)
{
    return sqlite3_column_int64(r->h, col);
}

static double col_real(const dom_db_row *r, int col)
{
    return sqlite3_column_double(r->h, col);
}

static const char *col_text(const dom_db_row *r, int col)
{
    return (const char *)sqlite3_column_text(r->h, col);
}

static size_t col_len(const dom_db_row *r, int col)
{
    sqlite3_column_text(r->h, col);
    return (size_t)sqlite3_column_bytes(r->h, col);
}

static const dom_db_ops sqlite_db_ops = {
    .engine = "sqlite",
    .close = close_db,
    .exec = exec,
    .query = query,
    .script = script,
    .begin = begin,
    .commit = commit,
    .rollback = rollback,
    .in_tx = in_tx,
    .handle = handle,
    .ncols = ncols,
    .isnull = isnull,
    .col_int = col_int,
    .col_real = col_real,
    .col_text = col_text,
    .col_len = col_len,
};

int dom_db_sqlite_open(dom_db **out, const dom_dsn *dsn, const char *label, int flags)
{
    *out = NULL;
    sqlite_db *d = dom_calloc(1, sizeof(*d));
    if (!d)
        return DOM_ENOMEM;
    d->base.ops = &sqlite_db_ops;
    d->base.label = label;
    if (!(d->base.name = dom_strdup(dsn->path))) {
        dom_free(d);
        return DOM_ENOMEM;
    }
    struct stat sb;
    if ((flags & DOM_DB_NOCREATE) && stat(dsn->path, &sb) != 0) {
        int rc = errno == ENOENT
                     ? dom_error_set(DOM_ENOTFOUND, "%s %s does not exist yet", label, dsn->path)
                     : dom_error_set(DOM_EREGION, "%s %s: %s", label, dsn->path, strerror(errno));
        close_db(&d->base);
        return rc;
    }
    int of = (flags & DOM_DB_NOCREATE) ? SQLITE_OPEN_READWRITE
                                       : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(d->base.name, &d->h, of, NULL) != SQLITE_OK) {
        int rc = d->h ? fail(d, "cannot open") : DOM_ENOMEM;
        close_db(&d->base);
        return rc;
    }
    sqlite3_busy_handler(d->h, dom_sqlite_busy_retry, NULL);
    *out = &d->base;
    return 0;
}
