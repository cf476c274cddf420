/*
 * engines.c - the registry of engines: which DSN schemes each answers to,
 * how it checks a DSN, how it opens a store and a database (db.h).  Config parsing, the CLI and
 * dom_store_open find engines here only; a new engine is a folder of its
 * store and one line below (docs/architecture.md, "Adding an engine").
 */
#include <string.h>

#include "store/db_int.h"
#include "store/store.h"

static const char *const sqlite_schemes[] = {"sqlite:", NULL};
static const dom_engine sqlite_engine = {"sqlite",
                                         DOM_DSN_SQLITE,
                                         sqlite_schemes,
                                         "sqlite:PATH",
                                         dom_store_sqlite_parse_dsn,
                                         dom_store_sqlite_open,
                                         dom_db_sqlite_open};

/* the URI forms first: "postgresql:" alone is the KEY=VALUE form */
static const char *const pg_schemes[] = {"postgresql://", "postgres://", "postgresql:", NULL};
static const dom_engine pg_engine = {"postgresql",
                                     DOM_DSN_PG,
                                     pg_schemes,
                                     "postgresql://URI or postgresql:KEY=VALUE ...",
                                     dom_store_pg_parse_dsn,
                                     dom_store_pg_open,
                                     dom_db_pg_open};

const dom_engine *const dom_engines[] = {&sqlite_engine, &pg_engine, NULL};

const dom_engine *dom_engine_of_dsn(const char *dsn, const char **rest)
{
    for (size_t e = 0; dom_engines[e]; e++)
        for (size_t s = 0; dom_engines[e]->schemes[s]; s++) {
            size_t n = strlen(dom_engines[e]->schemes[s]);
            if (strncmp(dsn, dom_engines[e]->schemes[s], n) == 0) {
                if (rest)
                    *rest = dsn + n;
                return dom_engines[e];
            }
        }
    return NULL;
}

const dom_engine *dom_engine_of_kind(dom_dsn_kind kind)
{
    for (size_t e = 0; dom_engines[e]; e++)
        if (dom_engines[e]->kind == kind)
            return dom_engines[e];
    return NULL;
}
