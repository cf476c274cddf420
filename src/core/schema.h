/*
 * schema.h - which tables of a region hold tenant data, through which
 * column, in foreign-key order.  Works on table descriptions only.
 */
#ifndef DOM_SCHEMA_H
#define DOM_SCHEMA_H

#include "core/config.h"
#include "store/store.h"

typedef struct dom_tenant_table {
    const dom_table_info *info; /* points into the region's table list */
    const char *key;            /* tenant column */
} dom_tenant_table;

/* Resolves the config's tenant tables against one region's tables: the
 * explicit `tables:` list, or every table with a column named tenants.key;
 * the tenants table always comes first, then parents before children.
 * Errors name the region and table. `out` is owned by the caller (dom_free). */
int dom_schema_tenant_tables(dom_tenant_table **out, size_t *nout, const dom_config *cfg,
                             const char *region, const dom_table_info *tables, size_t ntables);

#endif
