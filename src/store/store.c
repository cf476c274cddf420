/*
 * store.c - engine-independent parts of the store interface: dispatch to the
 * engine and helpers over table descriptions.
 */
#include <stdio.h>
#include <string.h>

#include "store/store.h"
#include "util/util.h"

int dom_store_open(dom_store **out, const dom_region *region, int flags)
{
    *out = NULL;
    const dom_engine *e = dom_engine_of_kind(region->dsn.kind);
    if (!e)
        return dom_error_set(DOM_ERROR, "region \"%s\": unknown DSN kind", region->name);
    return e->open(out, region, flags);
}

const char *dom_col_class_name(dom_col_class c)
{
    switch (c) {
    case DOM_COL_INTEGER:
        return "integer";
    case DOM_COL_REAL:
        return "real";
    case DOM_COL_TEXT:
        return "text";
    case DOM_COL_BLOB:
        return "blob";
    case DOM_COL_NUMERIC:
        break;
    }
    return "numeric";
}

void dom_store_close(dom_store *st)
{
    if (st)
        st->ops->close(st);
}

int dom_store_tables(dom_store *st, dom_table_info **out, size_t *nout)
{
    return st->ops->tables(st, out, nout);
}

int dom_store_scan_tenants(dom_store *st, const char *table, const char *key, const char *country,
                           dom_tenant_cb cb, void *payload)
{
    return st->ops->scan_tenants(st, table, key, country, cb, payload);
}

int dom_store_count_by_tenant(dom_store *st, const dom_move_table *t, int *bytes_estimated,
                              dom_count_cb cb, void *payload)
{
    return st->ops->count_by_tenant(st, t, bytes_estimated, cb, payload);
}

void dom_table_info_free(dom_table_info *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        for (size_t j = 0; j < t[i].ncols; j++) {
            dom_free(t[i].cols[j].name);
            dom_free(t[i].cols[j].type);
        }
        dom_free(t[i].cols);
        for (size_t j = 0; j < t[i].nparents; j++)
            dom_free(t[i].parents[j]);
        dom_free(t[i].parents);
        for (size_t j = 0; j < t[i].nfks; j++) {
            dom_fkey *k = &t[i].fks[j];
            for (size_t c = 0; c < k->ncols; c++) {
                dom_free(k->cols[c]);
                dom_free(k->pcols[c]);
            }
            dom_free(k->cols);
            dom_free(k->pcols);
            dom_free(k->parent);
        }
        dom_free(t[i].fks);
        dom_free(t[i].name);
    }
    dom_free(t);
}

const dom_table_info *dom_table_find(const dom_table_info *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

const dom_column *dom_table_column(const dom_table_info *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return &t->cols[i];
    return NULL;
}

#define DISPATCH(name, ...)                                                                        \
    (st->ops->name ? st->ops->name(__VA_ARGS__)                                                    \
                   : dom_error_set(DOM_EUNSUPPORTED,                                               \
                                   "region \"%s\": %s is not supported by the %s "                 \
                                   "store",                                                        \
                                   st->region, #name, st->ops->engine))

int dom_store_install(dom_store *st, const dom_install *spec)
{
    return DISPATCH(install, st, spec);
}

int dom_store_uninstall(dom_store *st, const dom_move_table *tables, size_t ntables)
{
    return DISPATCH(uninstall, st, tables, ntables);
}

int dom_store_set_keys(dom_store *st, const char *const *keys, const int64_t *epochs, size_t n)
{
    return DISPATCH(set_keys, st, keys, epochs, n);
}

int dom_store_fence(dom_store *st, int64_t batch, const char *state, const char *home,
                    int64_t epoch)
{
    return DISPATCH(fence, st, batch, state, home, epoch);
}

int dom_store_fence_sig(dom_store *st, int64_t batch, const char *state, const char *home,
                        int64_t epoch, const dom_move_table *tables, size_t n, char sig[65])
{
    if (st->ops->fence_sig)
        return st->ops->fence_sig(st, batch, state, home, epoch, tables, n, sig);
    int rc = dom_store_fence(st, batch, state, home, epoch);
    return rc < 0 ? rc : dom_store_schema_sig(st, tables, n, sig);
}

int dom_store_unfence(dom_store *st)
{
    return DISPATCH(unfence, st);
}

int dom_store_snapshot_begin(dom_store *st, int64_t *max_seq)
{
    return DISPATCH(snapshot_begin, st, max_seq);
}

int dom_store_snapshot_end(dom_store *st)
{
    return DISPATCH(snapshot_end, st);
}

int dom_store_cursor_open(dom_store *st, const dom_move_table *t, dom_cursor **out)
{
    return DISPATCH(cursor_open, st, t, out);
}

int dom_store_cursor_pk(dom_store *st, const dom_move_table *t, const dom_value *pk,
                        dom_cursor **out)
{
    return DISPATCH(cursor_pk, st, t, pk, out);
}

/* A cursor starts with a pointer to its store's ops. */
typedef struct cursor_head {
    const dom_store_ops *ops;
} cursor_head;

/* cursor_pks for engines without it: one cursor_pk after the other. */
typedef struct multi_cursor {
    const dom_store_ops *ops; /* &multi_ops */
    dom_store *st;
    const dom_move_table *t;
    const dom_value *pks;
    size_t n, next;
    int width;
    dom_cursor *cur;
} multi_cursor;

static int multi_next(dom_cursor *c, const dom_value **vals);
static void multi_close(dom_cursor *c);
static const dom_store_ops multi_ops = {.cursor_next = multi_next, .cursor_close = multi_close};

static int multi_next(dom_cursor *cc, const dom_value **vals)
{
    multi_cursor *m = (multi_cursor *)cc;
    for (;;) {
        if (m->cur) {
            int h = dom_store_cursor_next(m->cur, vals);
            if (h != 0)
                return h;
            dom_store_cursor_close(m->cur);
            m->cur = NULL;
        }
        if (m->next >= m->n)
            return 0;
        int rc = m->st->ops->cursor_pk(m->st, m->t, m->pks + m->next * (size_t)m->width, &m->cur);
        m->next++;
        if (rc < 0)
            return rc;
    }
}

static void multi_close(dom_cursor *cc)
{
    multi_cursor *m = (multi_cursor *)cc;
    if (!m)
        return;
    dom_store_cursor_close(m->cur);
    dom_free(m);
}

int dom_store_cursor_pks(dom_store *st, const dom_move_table *t, const dom_value *pks, size_t n,
                         dom_cursor **out)
{
    if (st->ops->cursor_pks)
        return st->ops->cursor_pks(st, t, pks, n, out);
    if (!st->ops->cursor_pk)
        return DISPATCH(cursor_pk, st, t, pks, out);
    multi_cursor *m = dom_calloc(1, sizeof(*m));
    if (!m)
        return DOM_ENOMEM;
    m->ops = &multi_ops;
    m->st = st;
    m->t = t;
    m->pks = pks;
    m->n = n;
    m->width = t->npk ? t->npk : (int)t->info->ncols;
    *out = (dom_cursor *)m;
    return 0;
}

int dom_store_cursor_next(dom_cursor *c, const dom_value **vals)
{
    return ((cursor_head *)c)->ops->cursor_next(c, vals);
}

void dom_store_cursor_close(dom_cursor *c)
{
    if (c)
        ((cursor_head *)c)->ops->cursor_close(c);
}

int dom_store_write_begin(dom_store *st)
{
    return DISPATCH(write_begin, st);
}

int dom_store_write_commit(dom_store *st)
{
    return DISPATCH(write_commit, st);
}

void dom_store_write_rollback(dom_store *st)
{
    if (st->ops->write_rollback)
        st->ops->write_rollback(st);
}

int dom_store_upsert(dom_store *st, const dom_move_table *t, const dom_value *row)
{
    return DISPATCH(upsert, st, t, row);
}

int dom_store_delete_pk(dom_store *st, const dom_move_table *t, const dom_value *pk)
{
    return DISPATCH(delete_pk, st, t, pk);
}

int dom_store_delete_keys(dom_store *st, const dom_move_table *t, int64_t limit, int64_t *deleted)
{
    return DISPATCH(delete_keys, st, t, limit, deleted);
}

int dom_store_count_keys(dom_store *st, const dom_move_table *t, int64_t *rows)
{
    return DISPATCH(count_keys, st, t, rows);
}

int dom_store_count_keys_all(dom_store *st, const dom_move_table *t, size_t n, int64_t *rows)
{
    if (st->ops->count_keys_all)
        return st->ops->count_keys_all(st, t, n, rows);
    for (size_t i = 0; i < n; i++) {
        int rc = dom_store_count_keys(st, &t[i], &rows[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int dom_store_read_ahead(dom_store *st, const dom_move_table *t, size_t n)
{
    return st->ops->read_ahead ? st->ops->read_ahead(st, t, n) : 0;
}

int dom_store_delete_keys_all(dom_store *st, const dom_move_table *t, size_t n, int64_t *deleted)
{
    if (st->ops->delete_keys_all)
        return st->ops->delete_keys_all(st, t, n, deleted);
    int rc = dom_store_write_begin(st);
    *deleted = 0;
    for (size_t i = n; rc == 0 && i-- > 0;) {
        int64_t d;
        if ((rc = dom_store_delete_keys(st, &t[i], 0, &d)) == 0)
            *deleted += d;
    }
    if (rc < 0) {
        dom_store_write_rollback(st);
        return rc;
    }
    return dom_store_write_commit(st);
}

int dom_store_changes(dom_store *st, int64_t batch, int64_t after, int64_t limit, dom_change_cb cb,
                      void *payload)
{
    return DISPATCH(changes, st, batch, after, limit, cb, payload);
}

int dom_store_schema_sig(dom_store *st, const dom_move_table *tables, size_t n, char out[65])
{
    return DISPATCH(schema_sig, st, tables, n, out);
}

void dom_store_idle(dom_store *st)
{
    if (st && st->ops->idle)
        st->ops->idle(st);
}

int dom_store_copy_from(dom_store *dst, dom_store *src, const dom_move_table *tables, size_t n,
                        int64_t *max_seq, int64_t *rows, int64_t *bytes, dom_copy_watch *watch)
{
    if (watch)
        watch->observed = 0;
    if (!dst->ops->copy_from)
        return DOM_EUNSUPPORTED;
    return dst->ops->copy_from(dst, src, tables, n, max_seq, rows, bytes, watch);
}

int dom_store_sync(dom_store *st)
{
    return st->ops->sync ? st->ops->sync(st) : 0;
}

int dom_store_meta_set(dom_store *st, const char *key, const char *value)
{
    return DISPATCH(meta_set, st, key, value);
}

int dom_store_meta_get(dom_store *st, const char *key, char *value, size_t n)
{
    return DISPATCH(meta_get, st, key, value, n);
}

int dom_store_health(dom_store *st, dom_health *out)
{
    return DISPATCH(health, st, out);
}

int dom_store_ping(dom_store *st, double *ms)
{
    *ms = 0;
    return st->ops->ping ? st->ops->ping(st, ms) : 0;
}

int dom_store_set_mode(dom_store *st, const dom_move_table *t, size_t n, int quiet, int *is_quiet)
{
    int q = 0;
    int rc = st->ops->set_mode ? st->ops->set_mode(st, t, n, quiet, &q) : 0;
    if (is_quiet)
        *is_quiet = q;
    return rc;
}

int dom_store_can_move(const dom_store *st)
{
    const dom_store_ops *o = st->ops;
    return o->set_keys && o->fence && o->unfence && o->cursor_open && o->upsert && o->delete_keys &&
           o->changes && o->write_begin;
}

int dom_store__schema_sig(dom_store *st, int (*list)(dom_store *, dom_table_info **, size_t *),
                          const dom_move_table *tables, size_t n, char out[65])
{
    dom_table_info *ti;
    size_t nt;
    int rc = list(st, &ti, &nt);
    if (rc < 0)
        return rc;
    rc = dom_store__schema_sig_of(ti, nt, tables, n, out);
    dom_table_info_free(ti, nt);
    return rc;
}

int dom_store__schema_sig_of(const dom_table_info *ti, size_t nt, const dom_move_table *tables,
                             size_t n, char out[65])
{
    dom_buf b = DOM_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const dom_table_info *t = dom_table_find(ti, nt, tables[i].info->name);
        dom_buf_printf(&b, "table %s\n", tables[i].info->name);
        for (size_t c = 0; t && c < t->ncols; c++)
            dom_buf_printf(&b, "  %s %s pk=%d notnull=%d\n", t->cols[c].name, t->cols[c].type,
                           t->cols[c].pk, t->cols[c].notnull);
    }
    return dom_buf_sha256_hex(&b, out);
}

int dom_store_identity(dom_store *st, char *out, size_t n)
{
    out[0] = '\0';
    return st->ops->identity ? st->ops->identity(st, out, n) : 0;
}

int dom_store_check_regions(dom_store *const *st, const dom_region *regions, size_t n, int prepared)
{
    char(*id)[160] = dom_calloc(n ? n : 1, sizeof(*id));
    int rc = id ? 0 : DOM_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *name = regions[i].name;
        char was[128];
        if ((rc = dom_store_identity(st[i], id[i], sizeof(id[i]))) < 0 ||
            (rc = dom_store_meta_get(st[i], "name", was, sizeof(was))) < 0)
            break;
        for (size_t j = 0; j < i && id[i][0]; j++)
            if (strcmp(id[i], id[j]) == 0) {
                rc = dom_error_set(DOM_ECONFIG,
                                   "regions \"%s\" and \"%s\" reach the same database; each "
                                   "region needs a database of its own",
                                   regions[j].name, name);
                break;
            }
        if (rc < 0)
            break;
        if (was[0] && strcmp(was, name) != 0)
            rc = dom_error_set(DOM_ECONFIG,
                               "region \"%s\": its database was prepared as region \"%s\"; "
                               "name it \"%s\" in the config, or run 'domicile prepare --remove' "
                               "with the config that prepared it",
                               name, was, was);
        else if (prepared && !was[0])
            rc = dom_error_set(DOM_EUSAGE,
                               "region \"%s\" is not prepared (or was removed); run "
                               "'domicile prepare' first",
                               name);
    }
    dom_free(id);
    return rc;
}

int dom_table_fkey_add(dom_table_info *ti, int first, const char *parent, const char *col,
                       const char *pcol)
{
    if (first || !ti->nfks) {
        dom_fkey *g = dom_realloc(ti->fks, (ti->nfks + 1) * sizeof(*g));
        if (!g)
            return DOM_ENOMEM;
        ti->fks = g;
        memset(&g[ti->nfks], 0, sizeof(*g));
        if (!(g[ti->nfks].parent = dom_strdup(parent)))
            return DOM_ENOMEM;
        ti->nfks++;
        size_t p = 0;
        while (p < ti->nparents && strcmp(ti->parents[p], parent) != 0)
            p++;
        if (p == ti->nparents) {
            char **gp = dom_realloc(ti->parents, (ti->nparents + 1) * sizeof(char *));
            if (!gp)
                return DOM_ENOMEM;
            ti->parents = gp;
            if (!(gp[ti->nparents] = dom_strdup(parent)))
                return DOM_ENOMEM;
            ti->nparents++;
        }
    }
    dom_fkey *k = &ti->fks[ti->nfks - 1];
    char **gc = dom_realloc(k->cols, (k->ncols + 1) * sizeof(char *));
    if (!gc)
        return DOM_ENOMEM;
    k->cols = gc;
    char **gpc = dom_realloc(k->pcols, (k->ncols + 1) * sizeof(char *));
    if (!gpc)
        return DOM_ENOMEM;
    k->pcols = gpc;
    gc[k->ncols] = dom_strdup(col);
    gpc[k->ncols] = dom_strdup(pcol ? pcol : "");
    k->ncols++;
    return gc[k->ncols - 1] && gpc[k->ncols - 1] ? 0 : DOM_ENOMEM;
}

/* ---- SQL both engines accept: how a row finds its tenant ---------------------- */

void dom_sql_ident(dom_buf *b, const char *name)
{
    dom_buf_putc(b, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            dom_buf_putc(b, '"');
        dom_buf_putc(b, *p);
    }
    dom_buf_putc(b, '"');
}

/* row."c" (row NULL: "c") */
static void col_ref(dom_buf *b, const char *row, const char *col)
{
    if (row)
        dom_buf_printf(b, "%s.", row);
    dom_sql_ident(b, col);
}

static void link_alias(dom_buf *b, size_t l)
{
    dom_buf_printf(b, "domicile_l%zu", l + 1);
}

/* the alias (or `row`) that link l's columns belong to */
static void link_side(dom_buf *b, size_t l, const char *row, const char *col)
{
    if (l == 0) {
        col_ref(b, row, col);
    } else {
        link_alias(b, l - 1);
        dom_buf_putc(b, '.');
        dom_sql_ident(b, col);
    }
}

static void link_on(dom_buf *b, const dom_link *k, size_t l, const char *row)
{
    for (size_t j = 0; j < k->ncols; j++) {
        dom_buf_puts(b, j ? " AND " : "");
        link_alias(b, l);
        dom_buf_putc(b, '.');
        dom_sql_ident(b, k->pcols[j]);
        dom_buf_puts(b, " = ");
        link_side(b, l, row, k->cols[j]);
    }
}

static void link_table(dom_buf *b, const dom_link *k, size_t l, const char *prefix)
{
    dom_buf_puts(b, prefix ? prefix : "");
    dom_sql_ident(b, k->parent->name);
    dom_buf_puts(b, " AS ");
    link_alias(b, l);
}

void dom_sql_tenant_joins(dom_buf *b, const dom_move_table *t, const char *row, const char *prefix)
{
    for (size_t l = 0; l < t->nlinks; l++) {
        dom_buf_puts(b, " JOIN ");
        link_table(b, &t->links[l], l, prefix);
        dom_buf_puts(b, " ON ");
        link_on(b, &t->links[l], l, row);
    }
}

void dom_sql_tenant_col(dom_buf *b, const dom_move_table *t, const char *row)
{
    if (!t->nlinks) {
        col_ref(b, row, t->key);
        return;
    }
    link_alias(b, t->nlinks - 1);
    dom_buf_putc(b, '.');
    dom_sql_ident(b, t->key);
}

void dom_sql_tenant_of(dom_buf *b, const dom_move_table *t, const char *row, const char *prefix)
{
    if (!t->nlinks) {
        col_ref(b, row, t->key);
        return;
    }
    dom_buf_puts(b, "(SELECT ");
    dom_sql_tenant_col(b, t, NULL);
    dom_buf_puts(b, " FROM ");
    link_table(b, &t->links[0], 0, prefix);
    for (size_t l = 1; l < t->nlinks; l++) {
        dom_buf_puts(b, " JOIN ");
        link_table(b, &t->links[l], l, prefix);
        dom_buf_puts(b, " ON ");
        link_on(b, &t->links[l], l, row);
    }
    dom_buf_puts(b, " WHERE ");
    link_on(b, &t->links[0], 0, row);
    dom_buf_putc(b, ')');
}

/* link by link from `row` up to link `upto` (excluded): "(cols) IN
 * (SELECT pcols FROM parent WHERE " each, for the caller to close */
static void links_down(dom_buf *b, const dom_move_table *t, const char *row, const char *prefix,
                       size_t upto)
{
    for (size_t l = 0; l < upto; l++) {
        const dom_link *k = &t->links[l];
        dom_buf_putc(b, '(');
        for (size_t j = 0; j < k->ncols; j++) {
            dom_buf_puts(b, j ? ", " : "");
            link_side(b, l, row, k->cols[j]);
        }
        dom_buf_puts(b, ") IN (SELECT ");
        for (size_t j = 0; j < k->ncols; j++) {
            dom_buf_puts(b, j ? ", " : "");
            link_alias(b, l);
            dom_buf_putc(b, '.');
            dom_sql_ident(b, k->pcols[j]);
        }
        dom_buf_puts(b, " FROM ");
        link_table(b, k, l, prefix);
        dom_buf_puts(b, " WHERE ");
    }
}

void dom_sql_keys_filter(dom_buf *b, const dom_move_table *t, const char *row, const char *prefix,
                         const char *keyset)
{
    links_down(b, t, row, prefix, t->nlinks);
    dom_sql_tenant_col(b, t, row);
    dom_buf_printf(b, " IN (%s)", keyset);
    for (size_t l = 0; l < t->nlinks; l++)
        dom_buf_putc(b, ')');
}

void dom_sql_reaches(dom_buf *b, const dom_move_table *t, const char *row, const char *prefix,
                     size_t upto, const char *target)
{
    links_down(b, t, row, prefix, upto);
    const dom_link *k = &t->links[upto];
    for (size_t j = 0; j < k->ncols; j++) {
        dom_buf_puts(b, j ? " AND " : "");
        link_side(b, upto, row, k->cols[j]);
        dom_buf_printf(b, " = %s.", target);
        dom_sql_ident(b, k->pcols[j]);
    }
    for (size_t l = 0; l < upto; l++)
        dom_buf_putc(b, ')');
}

const dom_column *dom_move_key_column(const dom_move_table *t)
{
    const dom_table_info *ti = t->nlinks ? t->links[t->nlinks - 1].parent : t->info;
    return t->key ? dom_table_column(ti, t->key) : NULL;
}

void dom_index_free(dom_index *x, size_t n)
{
    for (size_t i = 0; x && i < n; i++) {
        for (size_t c = 0; c < x[i].ncols; c++)
            dom_free(x[i].cols[c]);
        dom_free(x[i].cols);
        dom_free(x[i].name);
    }
    dom_free(x);
}

/* Adds column `col` to the index named `name` (a new one when it differs
 * from the last). */
int dom_index_add(dom_index **x, size_t *n, const char *name, int unique, const char *col)
{
    if (!*n || strcmp((*x)[*n - 1].name, name) != 0) {
        dom_index *g = dom_realloc(*x, (*n + 1) * sizeof(*g));
        if (!g)
            return DOM_ENOMEM;
        *x = g;
        memset(&g[*n], 0, sizeof(*g));
        g[*n].unique = unique;
        if (!(g[(*n)++].name = dom_strdup(name)))
            return DOM_ENOMEM;
    }
    dom_index *ix = &(*x)[*n - 1];
    char **gc = dom_realloc(ix->cols, (ix->ncols + 1) * sizeof(char *));
    if (!gc)
        return DOM_ENOMEM;
    ix->cols = gc;
    if (!(gc[ix->ncols] = dom_strdup(col)))
        return DOM_ENOMEM;
    ix->ncols++;
    return 0;
}

void dom_table_fkey_actions(dom_table_info *ti, const char *on_delete, const char *on_update)
{
    if (!ti->nfks)
        return;
    dom_fkey *k = &ti->fks[ti->nfks - 1];
    snprintf(k->on_delete, sizeof(k->on_delete), "%s", on_delete ? on_delete : "NO ACTION");
    snprintf(k->on_update, sizeof(k->on_update), "%s", on_update ? on_update : "NO ACTION");
}
