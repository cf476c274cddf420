/*
 * schema.c - which tables of a region hold tenant data and how each row
 * finds its tenant: discovered from the declared foreign keys, with the
 * config deciding what they cannot (docs/config.md, "Tables").
 */
#include <string.h>

#include "core/schema.h"
#include "util/util.h"

/* What is known of one table while classifying. */
typedef struct cls {
    int cls; /* dom_table_class, or -1 while unknown */
    int linked;
    const char *key;   /* tenants, direct */
    int parent;        /* indirect: index of its parent in the region's tables */
    const char **cols; /* indirect: its link (owned: the arrays, not the names) */
    const char **pcols;
    size_t ncols;
} cls;

static int find(const dom_table_info *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* The parent's columns a link names: the given ones, or the parent's
 * primary key when none are given (NULL pcols or "" entries). */
static int resolve_link(cls *c, const char *region, const dom_table_info *ti,
                        const dom_table_info *parent, char *const *cols, char *const *pcols,
                        size_t ncols)
{
    const char **pk = dom_calloc(DOM_PK_MAX + 1, sizeof(char *));
    c->cols = dom_calloc(ncols, sizeof(char *));
    c->pcols = dom_calloc(ncols, sizeof(char *));
    if (!pk || !c->cols || !c->pcols) {
        dom_free(pk);
        return DOM_ENOMEM;
    }
    int npk = 0;
    for (size_t i = 0; i < parent->ncols; i++)
        if (parent->cols[i].pk > 0 && parent->cols[i].pk <= DOM_PK_MAX) {
            pk[parent->cols[i].pk - 1] = parent->cols[i].name;
            if (parent->cols[i].pk > npk)
                npk = parent->cols[i].pk;
        }
    int rc = 0;
    c->ncols = ncols;
    for (size_t i = 0; i < ncols && rc == 0; i++) {
        c->cols[i] = cols[i];
        if (!dom_table_column(ti, cols[i]))
            rc = dom_error_set(DOM_EREGION,
                               "region \"%s\", table \"%s\": column \"%s\" of its link to \"%s\" "
                               "not found",
                               region, ti->name, cols[i], parent->name);
        else if (pcols && pcols[i] && pcols[i][0])
            c->pcols[i] = pcols[i];
        else if ((size_t)npk != ncols || !pk[i])
            rc = dom_error_set(DOM_EREGION,
                               "region \"%s\", table \"%s\": its link to \"%s\" names %zu "
                               "column%s, the primary key of \"%s\" has %d",
                               region, ti->name, parent->name, ncols, ncols == 1 ? "" : "s",
                               parent->name, npk);
        else
            c->pcols[i] = pk[i];
        if (rc == 0 && !dom_table_column(parent, c->pcols[i]))
            rc = dom_error_set(DOM_EREGION,
                               "region \"%s\", table \"%s\": column \"%s\" of \"%s\" (its link's "
                               "parent) not found",
                               region, ti->name, c->pcols[i], parent->name);
    }
    dom_free(pk);
    return rc;
}

/* The parent's column that a foreign key's j-th column references. */
static const char *fk_pcol(const dom_fkey *k, size_t j, const dom_table_info *parent)
{
    if (k->pcols[j][0])
        return k->pcols[j];
    for (size_t i = 0; i < parent->ncols; i++)
        if (parent->cols[i].pk == (int)j + 1)
            return parent->cols[i].name;
    return "";
}

/* Whether table i must come after table j: it references j, or its link
 * leads to j. */
static int depends(const dom_table_info *t, const cls *c, int i, int j)
{
    if (i == j)
        return 0;
    if (c[i].cls == DOM_TABLE_INDIRECT && c[i].parent == j)
        return 1;
    for (size_t p = 0; p < t[i].nparents; p++)
        if (strcmp(t[j].name, t[i].parents[p]) == 0)
            return 1;
    return 0;
}

/* Orders idx[0..n) so that every table comes after the tables it depends
 * on (among those), otherwise in the given order; a cycle keeps the
 * remaining tables in their given order. */
static void order_parents_first(int *idx, size_t n, const dom_table_info *t, const cls *c)
{
    for (size_t done = 0; done < n; done++) {
        size_t pick = done;
        for (size_t i = done; i < n; i++) {
            int ready = 1;
            for (size_t j = done; j < n && ready; j++)
                if (j != i && depends(t, c, idx[i], idx[j]))
                    ready = 0;
            if (ready) {
                pick = i;
                break;
            }
        }
        int tmp = idx[pick];
        memmove(&idx[done + 1], &idx[done], (pick - done) * sizeof(*idx));
        idx[done] = tmp;
    }
}

/* Direct through a foreign key to the tenant key: one column, or an error
 * naming the candidates. */
static int direct_by_fk(cls *c, const dom_config *cfg, const char *region, const dom_table_info *t,
                        size_t i, int tt)
{
    const char *K = cfg->tenants.key;
    const char *cand[8];
    size_t nc = 0;
    for (size_t f = 0; f < t[i].nfks; f++) {
        const dom_fkey *k = &t[i].fks[f];
        if (strcmp(k->parent, t[tt].name) != 0)
            continue;
        for (size_t j = 0; j < k->ncols; j++) {
            if (strcmp(fk_pcol(k, j, &t[tt]), K) != 0)
                continue;
            size_t d = 0;
            while (d < nc && strcmp(cand[d], k->cols[j]) != 0)
                d++;
            if (d == nc && nc < 8)
                cand[nc++] = k->cols[j];
        }
    }
    if (nc == 1) {
        c[i].cls = DOM_TABLE_DIRECT;
        c[i].key = cand[0];
        c[i].linked = 1;
    } else if (nc > 1) {
        dom_buf b = DOM_BUF_INIT;
        for (size_t d = 0; d < nc; d++)
            dom_buf_printf(&b, "%s\"%s\"", d ? ", " : "", cand[d]);
        int rc = dom_error_set(DOM_EREGION,
                               "region \"%s\", table \"%s\": columns %s each reference a tenant; "
                               "say which one owns the row in the config (tables: - { table: "
                               "%s, key: COLUMN })",
                               region, t[i].name, dom_buf_cstr(&b), t[i].name);
        dom_buf_free(&b);
        return rc;
    }
    return 0;
}

/* Indirect through its one foreign key to a linked table, or an error
 * naming the candidates. */
static int indirect(cls *c, const char *region, const dom_table_info *t, size_t n, size_t i)
{
    size_t nl = 0, pick = 0;
    dom_buf b = DOM_BUF_INIT;
    for (size_t f = 0; f < t[i].nfks; f++) {
        const dom_fkey *k = &t[i].fks[f];
        int p = find(t, n, k->parent);
        if (p < 0 || p == (int)i || !c[p].linked)
            continue;
        dom_buf_puts(&b, nl ? ", (" : "(");
        for (size_t j = 0; j < k->ncols; j++)
            dom_buf_printf(&b, "%s%s", j ? ", " : "", k->cols[j]);
        dom_buf_printf(&b, ") -> %s", k->parent);
        pick = f;
        nl++;
    }
    if (nl > 1) {
        int rc = dom_error_set(DOM_EREGION,
                               "region \"%s\", table \"%s\": its foreign keys %s could lead to "
                               "different tenants; say which one owns the row in the config "
                               "(tables: - { table: %s, parent: TABLE, columns: [...] })",
                               region, t[i].name, dom_buf_cstr(&b), t[i].name);
        dom_buf_free(&b);
        return rc;
    }
    dom_buf_free(&b);
    const dom_fkey *k = &t[i].fks[pick];
    int p = find(t, n, k->parent);
    int rc = resolve_link(&c[i], region, &t[i], &t[p], k->cols, k->pcols, k->ncols);
    if (rc < 0)
        return rc;
    c[i].cls = DOM_TABLE_INDIRECT;
    c[i].parent = p;
    return 0;
}

/* Classifies tables[0..n) into c (docs/config.md, "Tables"). */
static int classify(cls *c, const dom_config *cfg, const char *region, const dom_table_info *t,
                    size_t n, int tt)
{
    const char *K = cfg->tenants.key;
    int rc;
    for (size_t i = 0; i < n; i++) {
        c[i].cls = -1;
        c[i].parent = -1;
    }
    c[tt].cls = DOM_TABLE_TENANTS;
    c[tt].key = K;
    c[tt].linked = 1;
    /* what the config decides */
    for (size_t s = 0; s < cfg->ntables; s++) {
        const dom_table_spec *sp = &cfg->tables[s];
        int i = find(t, n, sp->table);
        if (i < 0 && sp->global)
            continue; /* a global table need not be in every region */
        if (i < 0)
            return dom_error_set(DOM_EREGION, "region \"%s\": table \"%s\" not found", region,
                                 sp->table);
        if (i == tt) {
            if (sp->global || sp->parent)
                return dom_error_set(DOM_ECONFIG, "%s:%d:%d: the tenants table \"%s\" cannot be %s",
                                     cfg->path, sp->line, sp->col, sp->table,
                                     sp->global ? "global" : "linked to a parent");
            continue;
        }
        if (sp->global) {
            c[i].cls = DOM_TABLE_GLOBAL;
        } else if (sp->parent) {
            int p = find(t, n, sp->parent);
            if (p < 0)
                return dom_error_set(DOM_EREGION,
                                     "region \"%s\", table \"%s\": parent table \"%s\" not found",
                                     region, sp->table, sp->parent);
            if ((rc = resolve_link(&c[i], region, &t[i], &t[p], sp->columns, sp->parent_columns,
                                   sp->ncolumns)) < 0)
                return rc;
            c[i].cls = DOM_TABLE_INDIRECT;
            c[i].parent = p;
            c[i].linked = 1;
        } else {
            const char *key = sp->key ? sp->key : K;
            if (!dom_table_column(&t[i], key))
                return dom_error_set(DOM_EREGION,
                                     "region \"%s\", table \"%s\": tenant column \"%s\" not found",
                                     region, t[i].name, key);
            c[i].cls = DOM_TABLE_DIRECT;
            c[i].key = key;
            c[i].linked = 1;
        }
    }
    /* direct: a column whose foreign key references the tenant key; or,
     * for a table that declares no foreign key, a column named like it */
    for (size_t i = 0; i < n; i++)
        if (c[i].cls == -1 && (rc = direct_by_fk(c, cfg, region, t, i, tt)) < 0)
            return rc;
    for (size_t i = 0; i < n; i++)
        if (c[i].cls == -1 && t[i].nfks == 0 && dom_table_column(&t[i], K)) {
            c[i].cls = DOM_TABLE_DIRECT;
            c[i].key = K;
            c[i].linked = 1;
        }
    for (int more = 1; more;) {
        more = 0;
        /* linked: a foreign key leads, through any number of tables, to
         * one that holds tenant data; such a table is indirect */
        for (int changed = 1; changed;) {
            changed = 0;
            for (size_t i = 0; i < n; i++) {
                if (c[i].linked || c[i].cls == DOM_TABLE_GLOBAL)
                    continue;
                for (size_t f = 0; f < t[i].nfks && !c[i].linked; f++) {
                    int p = find(t, n, t[i].fks[f].parent);
                    if (p >= 0 && p != (int)i && c[p].linked)
                        c[i].linked = changed = 1;
                }
            }
        }
        for (size_t i = 0; i < n; i++)
            if (c[i].cls == -1 && c[i].linked && (rc = indirect(c, region, t, n, i)) < 0)
                return rc;
        /* a table whose foreign keys lead only to global tables, with a
         * column named like the tenant key: direct, and its children may
         * be linked through it */
        for (size_t i = 0; i < n; i++)
            if (c[i].cls == -1 && dom_table_column(&t[i], K)) {
                c[i].cls = DOM_TABLE_DIRECT;
                c[i].key = K;
                c[i].linked = more = 1;
            }
    }
    for (size_t i = 0; i < n; i++)
        if (c[i].cls == -1)
            c[i].cls = DOM_TABLE_GLOBAL;
    /* every link ends at a direct table */
    for (size_t i = 0; i < n; i++) {
        if (c[i].cls != DOM_TABLE_INDIRECT)
            continue;
        int p = (int)i;
        for (size_t depth = 0; c[p].cls == DOM_TABLE_INDIRECT; depth++) {
            if (depth > n)
                return dom_error_set(DOM_EREGION,
                                     "region \"%s\", table \"%s\": its links to parents form a "
                                     "cycle that reaches no tenant column",
                                     region, t[i].name);
            p = c[p].parent;
        }
        if (c[p].cls == DOM_TABLE_GLOBAL)
            return dom_error_set(DOM_EREGION,
                                 "region \"%s\", table \"%s\": its link leads to \"%s\", which is "
                                 "global; its rows would have no tenant",
                                 region, t[i].name, t[p].name);
    }
    return 0;
}

int dom_schema_tables(dom_move_table **out, size_t *nout, size_t *nmove, const dom_config *cfg,
                      const char *region, const dom_table_info *tables, size_t ntables)
{
    *out = NULL;
    *nout = *nmove = 0;
    int tt = find(tables, ntables, cfg->tenants.table);
    if (tt < 0)
        return dom_error_set(DOM_EREGION, "region \"%s\": tenants table \"%s\" not found", region,
                             cfg->tenants.table);
    const dom_table_info *ti = &tables[tt];
    if (!dom_table_column(ti, cfg->tenants.key))
        return dom_error_set(DOM_EREGION,
                             "region \"%s\", table \"%s\": tenant key column \"%s\" not found",
                             region, ti->name, cfg->tenants.key);
    if (!dom_table_column(ti, cfg->tenants.country))
        return dom_error_set(DOM_EREGION,
                             "region \"%s\", table \"%s\": country column \"%s\" not found", region,
                             ti->name, cfg->tenants.country);
    cls *c = dom_calloc(ntables, sizeof(cls));
    int *idx = dom_calloc(ntables, sizeof(int));
    dom_move_table *m = NULL;
    int rc = c && idx ? classify(c, cfg, region, tables, ntables, tt) : DOM_ENOMEM;
    if (rc < 0)
        goto done;
    /* the tenants table, the moving tables parents first (the config's
     * `tables:` in its order, then the others by name), the global ones */
    size_t n = 0, nm, nlinks = 0, nptr = 0;
    char *taken = dom_calloc(ntables ? ntables : 1, 1);
    if (!taken) {
        rc = DOM_ENOMEM;
        goto done;
    }
    idx[n++] = tt;
    taken[tt] = 1;
    for (size_t s = 0; s < cfg->ntables; s++) {
        int i = find(tables, ntables, cfg->tables[s].table);
        if (i >= 0 && !taken[i] && c[i].cls != DOM_TABLE_GLOBAL) {
            idx[n++] = i;
            taken[i] = 1;
        }
    }
    for (size_t i = 0; i < ntables; i++)
        if (!taken[i] && c[i].cls != DOM_TABLE_GLOBAL)
            idx[n++] = (int)i;
    dom_free(taken);
    order_parents_first(idx + 1, n - 1, tables, c);
    nm = n;
    for (size_t i = 0; i < ntables; i++)
        if (c[i].cls == DOM_TABLE_GLOBAL)
            idx[n++] = (int)i;
    for (size_t i = 0; i < ntables; i++) {
        nptr += 2 * c[i].ncols;
        for (int p = (int)i; c[p].cls == DOM_TABLE_INDIRECT; p = c[p].parent)
            nlinks++;
    }
    /* one allocation: the tables, their links, the links' column names */
    size_t size = n * sizeof(dom_move_table) + nlinks * sizeof(dom_link) + nptr * sizeof(char *);
    char *block = dom_calloc(1, size ? size : 1);
    if (!block) {
        rc = DOM_ENOMEM;
        goto done;
    }
    m = (dom_move_table *)block;
    dom_link *links = (dom_link *)(block + n * sizeof(dom_move_table));
    const char **ptrs =
        (const char **)(block + n * sizeof(dom_move_table) + nlinks * sizeof(dom_link));
    /* each table's own link, copied once, shared by the chains through it */
    size_t *own_at = dom_calloc(ntables ? ntables : 1, sizeof(size_t));
    if (!own_at) {
        rc = DOM_ENOMEM;
        goto done;
    }
    for (size_t i = 0, at = 0; i < ntables; i++) {
        own_at[i] = at;
        for (size_t j = 0; j < c[i].ncols; j++) {
            ptrs[at + j] = c[i].cols[j];
            ptrs[at + c[i].ncols + j] = c[i].pcols[j];
        }
        at += 2 * c[i].ncols;
    }
    for (size_t k = 0; k < n && rc == 0; k++) {
        int i = idx[k];
        const dom_table_info *t = &tables[i];
        dom_move_table *mt = &m[k];
        mt->info = t;
        mt->cls = (dom_table_class)c[i].cls;
        mt->key_col = -1;
        mt->key = c[i].key;
        if (c[i].cls == DOM_TABLE_INDIRECT) {
            mt->links = links;
            int p = i;
            for (; c[p].cls == DOM_TABLE_INDIRECT; p = c[p].parent) {
                links->parent = &tables[c[p].parent];
                links->cols = &ptrs[own_at[p]];
                links->pcols = &ptrs[own_at[p] + c[p].ncols];
                links->ncols = c[p].ncols;
                links++;
                mt->nlinks++;
            }
            mt->key = c[p].key;
        }
        int width = 0;
        for (size_t col = 0; col < t->ncols; col++) {
            if (mt->cls <= DOM_TABLE_DIRECT && strcmp(t->cols[col].name, mt->key) == 0)
                mt->key_col = (int)col;
            if (t->cols[col].pk > width)
                width = t->cols[col].pk;
        }
        if (width > DOM_PK_MAX) {
            rc = dom_error_set(DOM_EREGION,
                               "region \"%s\", table \"%s\": a primary key of %d columns; "
                               "domicile moves tables whose primary key has at most %d",
                               region, t->name, width, DOM_PK_MAX);
            break;
        }
        mt->npk = width;
        for (size_t col = 0; col < t->ncols; col++)
            if (t->cols[col].pk > 0)
                mt->pk[t->cols[col].pk - 1] = (int)col;
    }
    dom_free(own_at);
    if (rc == 0) {
        *out = m;
        *nout = n;
        *nmove = nm;
        m = NULL;
    }
done:
    dom_free(m);
    for (size_t i = 0; c && i < ntables; i++) {
        dom_free(c[i].cols);
        dom_free(c[i].pcols);
    }
    dom_free(c);
    dom_free(idx);
    return rc;
}

int dom_move_tables(dom_move_table **out, size_t *nout, const dom_config *cfg, const char *region,
                    const dom_table_info *tables, size_t ntables)
{
    size_t all;
    return dom_schema_tables(out, &all, nout, cfg, region, tables, ntables);
}

char *dom_schema_how(const dom_move_table *t)
{
    dom_buf b = DOM_BUF_INIT;
    switch (t->cls) {
    case DOM_TABLE_TENANTS:
    case DOM_TABLE_DIRECT:
        dom_buf_printf(&b, "column %s", t->key);
        break;
    case DOM_TABLE_INDIRECT: {
        const char *from = t->info->name;
        for (size_t l = 0; l < t->nlinks; l++) {
            const dom_link *k = &t->links[l];
            dom_buf_puts(&b, l ? ", " : "");
            for (int side = 0; side < 2; side++) {
                const char *const *cols = side ? k->pcols : k->cols;
                dom_buf_printf(&b, "%s%s.%s", side ? " -> " : "", side ? k->parent->name : from,
                               k->ncols > 1 ? "(" : "");
                for (size_t j = 0; j < k->ncols; j++)
                    dom_buf_printf(&b, "%s%s", j ? ", " : "", cols[j]);
                dom_buf_puts(&b, k->ncols > 1 ? ")" : "");
            }
            from = k->parent->name;
        }
        dom_buf_printf(&b, ", column %s.%s", from, t->key);
        break;
    }
    case DOM_TABLE_GLOBAL:
        dom_buf_puts(&b, "none");
        break;
    }
    if (b.oom) {
        dom_buf_free(&b);
        return NULL;
    }
    char *s = dom_strdup(dom_buf_cstr(&b));
    dom_buf_free(&b);
    return s;
}
