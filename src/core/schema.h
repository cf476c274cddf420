/*
 * schema.h - which tables of a region hold tenant data and how each row
 * finds its tenant.  Works on table descriptions only.
 */
#ifndef DOM_SCHEMA_H
#define DOM_SCHEMA_H

#include "core/config.h"
#include "store/store.h"

/* Every table of a region, classified (docs/config.md, "Tables"): *out
 * holds the tenants table, then the direct and indirect tables parents
 * before children (*nmove of them, as dom_move_tables gives), then the
 * global ones (*nout in all).  Discovery follows the declared foreign
 * keys; the config's `tables:` decides keys, links and global tables.
 * Errors name the region, the table and the candidates. */
int dom_schema_tables(dom_move_table **out, size_t *nout, size_t *nmove, const dom_config *cfg,
                      const char *region, const dom_table_info *tables, size_t ntables);

/* Resolves the mover's view of a region's tenant tables: the tenants
 * table first, then every direct and indirect table, parents before
 * children (schema.c).  `out` is one allocation (dom_free). */
int dom_move_tables(dom_move_table **out, size_t *nout, const dom_config *cfg, const char *region,
                    const dom_table_info *tables, size_t ntables);

/* How a table's rows find their tenant, for people: "column user_id",
 * "notes.order_id -> orders.id, column orders.customer_id" or "none". */
char *dom_schema_how(const dom_move_table *t);

#endif
