/*
 * catalog.h - the control plane's own database: the directory (tenant ->
 * home region, epoch, state).  SQLite file; a PostgreSQL catalog comes with
 * the several-movers work.
 */
#ifndef DOM_CATALOG_H
#define DOM_CATALOG_H

#include <stdint.h>

#include "core/config.h"
#include "domicile.h"

typedef struct dom_catalog dom_catalog;

enum { DOM_CATALOG_READONLY = 1 };

/* Opens the catalog named by the config.  Read-only: DOM_ENOTFOUND when it
 * does not exist yet (nothing is created).  Otherwise it is created with its
 * schema when missing. */
int dom_catalog_open(dom_catalog **out, const dom_config *cfg, int flags);
void dom_catalog_close(dom_catalog *cat);

typedef int (*dom_directory_cb)(const char *key, size_t keylen, const char *region, int64_t epoch,
                                const char *state, void *payload);
/* Streams every directory entry; returns 0, a store error, or the callback's
 * non-zero value. */
int dom_catalog_scan_directory(dom_catalog *cat, dom_directory_cb cb, void *payload);
/* Number of directory entries. */
int dom_catalog_directory_count(dom_catalog *cat, int64_t *out);
/* One entry; DOM_ENOTFOUND when the directory does not know the key. */
int dom_catalog_locate(dom_catalog *cat, const char *key, dom_location *out);
/* Inserts or replaces one entry (used by prepare and by tests). */
int dom_catalog_put(dom_catalog *cat, const char *key, const char *region, int64_t epoch,
                    const char *state);

#endif
