/*
 * store_pg.c - the store interface on a PostgreSQL server through libpq.
 * Not available in this version: opening a PostgreSQL region reports so.
 */
#include "store/store.h"
#include "util/util.h"

int dom_store_pg_open(dom_store **out, const dom_region *region, int flags)
{
    (void)flags;
    *out = NULL;
    return dom_error_set(DOM_EUNSUPPORTED,
                         "region \"%s\": PostgreSQL regions are not supported in this version yet",
                         region->name);
}
