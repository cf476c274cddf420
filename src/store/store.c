/*
 * store.c - engine-independent parts of the store interface: dispatch to the
 * engine and helpers over table descriptions.
 */
#include <string.h>

#include "store/store.h"
#include "util/util.h"

int dom_store_open(dom_store **out, const dom_region *region, int flags)
{
    *out = NULL;
    switch (region->dsn.kind) {
    case DOM_DSN_SQLITE:
        return dom_store_sqlite_open(out, region, flags);
    case DOM_DSN_PG:
        return dom_store_pg_open(out, region, flags);
    }
    return dom_error_set(DOM_ERROR, "region \"%s\": unknown DSN kind", region->name);
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

int dom_store_count_by_tenant(dom_store *st, const dom_table_info *t, const char *key,
                              int *bytes_estimated, dom_count_cb cb, void *payload)
{
    return st->ops->count_by_tenant(st, t, key, bytes_estimated, cb, payload);
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
