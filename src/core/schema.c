/*
 * schema.c - resolves and orders the tenant tables of a region.
 */
#include <string.h>

#include "core/schema.h"
#include "util/util.h"

/* Orders `t` so that every table comes after the tables it references
 * (among those in `t`); otherwise keeps the given order.  A cycle keeps
 * the remaining tables in their given order. */
static void order_parents_first(dom_tenant_table *t, size_t n)
{
    for (size_t done = 0; done < n; done++) {
        size_t pick = done;
        for (size_t i = done; i < n; i++) {
            int ready = 1;
            for (size_t p = 0; p < t[i].info->nparents && ready; p++)
                for (size_t j = done; j < n; j++)
                    if (j != i && strcmp(t[j].info->name, t[i].info->parents[p]) == 0)
                        ready = 0;
            if (ready) {
                pick = i;
                break;
            }
        }
        dom_tenant_table tmp = t[pick];
        memmove(&t[done + 1], &t[done], (pick - done) * sizeof(*t));
        t[done] = tmp;
    }
}

int dom_schema_tenant_tables(dom_tenant_table **out, size_t *nout, const dom_config *cfg,
                             const char *region, const dom_table_info *tables, size_t ntables)
{
    *out = NULL;
    *nout = 0;
    const dom_table_info *tt = dom_table_find(tables, ntables, cfg->tenants.table);
    if (!tt)
        return dom_error_set(DOM_EREGION, "region \"%s\": tenants table \"%s\" not found", region,
                             cfg->tenants.table);
    if (!dom_table_column(tt, cfg->tenants.key))
        return dom_error_set(DOM_EREGION,
                             "region \"%s\", table \"%s\": tenant key column \"%s\" not found",
                             region, tt->name, cfg->tenants.key);
    if (!dom_table_column(tt, cfg->tenants.country))
        return dom_error_set(DOM_EREGION,
                             "region \"%s\", table \"%s\": country column \"%s\" not found", region,
                             tt->name, cfg->tenants.country);
    dom_tenant_table *t = dom_calloc(ntables + 1, sizeof(*t));
    size_t n = 0;
    if (!t)
        return DOM_ENOMEM;
    t[n].info = tt;
    t[n++].key = cfg->tenants.key;
    if (cfg->tables) {
        for (size_t i = 0; i < cfg->ntables; i++) {
            const dom_table_spec *s = &cfg->tables[i];
            if (strcmp(s->table, tt->name) == 0)
                continue;
            const dom_table_info *ti = dom_table_find(tables, ntables, s->table);
            const char *key = s->key ? s->key : cfg->tenants.key;
            if (!ti) {
                dom_free(t);
                return dom_error_set(DOM_EREGION, "region \"%s\": table \"%s\" not found", region,
                                     s->table);
            }
            if (!dom_table_column(ti, key)) {
                dom_free(t);
                return dom_error_set(DOM_EREGION,
                                     "region \"%s\", table \"%s\": tenant column \"%s\" not found",
                                     region, ti->name, key);
            }
            t[n].info = ti;
            t[n++].key = s->key ? s->key : cfg->tenants.key;
        }
    } else {
        for (size_t i = 0; i < ntables; i++) {
            if (&tables[i] == tt || !dom_table_column(&tables[i], cfg->tenants.key))
                continue;
            t[n].info = &tables[i];
            t[n++].key = cfg->tenants.key;
        }
    }
    order_parents_first(t + 1, n - 1);
    *out = t;
    *nout = n;
    return 0;
}

int dom_move_tables(dom_move_table **out, size_t *nout, const dom_config *cfg, const char *region,
                    const dom_table_info *tables, size_t ntables)
{
    dom_tenant_table *tt;
    size_t n;
    *out = NULL;
    *nout = 0;
    int rc = dom_schema_tenant_tables(&tt, &n, cfg, region, tables, ntables);
    if (rc < 0)
        return rc;
    dom_move_table *m = dom_calloc(n, sizeof(*m));
    if (!m) {
        dom_free(tt);
        return DOM_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const dom_table_info *ti = tt[i].info;
        m[i].info = ti;
        m[i].key = tt[i].key;
        int width = 0;
        for (size_t c = 0; c < ti->ncols; c++) {
            if (strcmp(ti->cols[c].name, tt[i].key) == 0)
                m[i].key_col = (int)c;
            if (ti->cols[c].pk > width)
                width = ti->cols[c].pk;
        }
        if (width > DOM_PK_MAX) {
            dom_free(tt);
            dom_free(m);
            return dom_error_set(DOM_EREGION,
                                 "region \"%s\", table \"%s\": a primary key of %d columns; "
                                 "domicile moves tables whose primary key has at most %d",
                                 region, ti->name, width, DOM_PK_MAX);
        }
        m[i].npk = width;
        for (size_t c = 0; c < ti->ncols; c++)
            if (ti->cols[c].pk > 0)
                m[i].pk[ti->cols[c].pk - 1] = (int)c;
    }
    dom_free(tt);
    *out = m;
    *nout = n;
    return 0;
}
