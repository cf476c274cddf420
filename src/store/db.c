/*
 * db.c - the database layer's entry points (db.h): the engine is found
 * by the DSN in the registry (engines.c), each call goes to its
 * operations (db_sqlite.c, db_pg.c).
 */
#include "store/db_int.h"
#include "store/store.h"
#include "util/util.h"

int dom_db_open(dom_db **out, const dom_dsn *dsn, const char *label, int flags)
{
    *out = NULL;
    const dom_engine *e = dom_engine_of_kind(dsn->kind);
    if (!e || !e->db_open)
        return dom_error_set(DOM_EUNSUPPORTED, "%s %s: no engine keeps such a database", label,
                             dsn->text ? dsn->text : "");
    return e->db_open(out, dsn, label, flags);
}

void dom_db_close(dom_db *db)
{
    if (db)
        db->ops->close(db);
}

const char *dom_db_name(const dom_db *db)
{
    return db->name ? db->name : "";
}

const char *dom_db_engine(const dom_db *db)
{
    return db->ops->engine;
}

/* Rows stream on the connection while a query's callback runs: no other
 * statement may use it then (on any engine, so that code written against
 * one runs on all). */
static int nested(dom_db *db, const char *what)
{
    return dom_error_set(DOM_ERROR,
                         "%s %s: %s: a statement from inside a row callback (rows are still "
                         "streaming)",
                         db->label, dom_db_name(db), what);
}

int dom_db_exec(dom_db *db, const char *what, const char *sql, const dom_db_arg *args, int nargs,
                int64_t *changed)
{
    int64_t n = 0;
    if (db->depth)
        return nested(db, what);
    db->sqlstate[0] = '\0';
    int rc = db->ops->exec(db, what, sql, args, nargs, &n);
    if (changed)
        *changed = n;
    return rc;
}

int dom_db_query(dom_db *db, const char *what, const char *sql, const dom_db_arg *args, int nargs,
                 dom_db_row_cb cb, void *payload)
{
    if (db->depth)
        return nested(db, what);
    db->sqlstate[0] = '\0';
    db->depth++;
    int rc = db->ops->query(db, what, sql, args, nargs, cb, payload);
    db->depth--;
    return rc;
}

int dom_db_script(dom_db *db, const char *what, const char *sql)
{
    if (db->depth)
        return nested(db, what);
    db->sqlstate[0] = '\0';
    return db->ops->script(db, what, sql);
}

int dom_db_begin(dom_db *db)
{
    return db->depth ? nested(db, "cannot begin") : db->ops->begin(db);
}

int dom_db_commit(dom_db *db)
{
    return db->depth ? nested(db, "cannot commit") : db->ops->commit(db);
}

void dom_db_rollback(dom_db *db)
{
    db->ops->rollback(db);
}

int dom_db_copy_in(dom_db *db, const char *what, const char *sql, const char *data, size_t len)
{
    if (!db->ops->copy_in)
        return dom_error_set(DOM_EUNSUPPORTED, "%s %s: %s: the %s engine has no COPY", db->label,
                             dom_db_name(db), what, db->ops->engine);
    if (db->depth)
        return nested(db, what);
    db->sqlstate[0] = '\0';
    return db->ops->copy_in(db, what, sql, data, len);
}

int dom_db_in_tx(const dom_db *db)
{
    return db->ops->in_tx(db);
}

const char *dom_db_sqlstate(const dom_db *db)
{
    return db->sqlstate;
}

void *dom_db_handle(dom_db *db)
{
    return db->ops->handle(db);
}

int dom_db_ncols(const dom_db_row *r)
{
    return r->db->ops->ncols(r);
}

int dom_db_isnull(const dom_db_row *r, int col)
{
    return col >= dom_db_ncols(r) || r->db->ops->isnull(r, col);
}

int64_t dom_db_int(const dom_db_row *r, int col)
{
    return dom_db_isnull(r, col) ? 0 : r->db->ops->col_int(r, col);
}

double dom_db_real(const dom_db_row *r, int col)
{
    return dom_db_isnull(r, col) ? 0.0 : r->db->ops->col_real(r, col);
}

const char *dom_db_text(const dom_db_row *r, int col)
{
    return dom_db_isnull(r, col) ? NULL : r->db->ops->col_text(r, col);
}

size_t dom_db_len(const dom_db_row *r, int col)
{
    return dom_db_isnull(r, col) ? 0 : r->db->ops->col_len(r, col);
}

int dom_db_keep_int(const dom_db_row *r, void *out)
{
    *(int64_t *)out = dom_db_int(r, 0);
    return 0;
}

int dom_db_keep_real(const dom_db_row *r, void *out)
{
    *(double *)out = dom_db_real(r, 0);
    return 0;
}
