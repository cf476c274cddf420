/*
 * demo.h - the synthetic phone-cloud data set of `domicile demo`.
 */
#ifndef DOM_DEMO_H
#define DOM_DEMO_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

#define DOM_DEMO_TABLES 6

typedef struct dom_demo_stats {
    long rows[DOM_DEMO_TABLES]; /* users, devices, contacts, messages, photos, backups */
} dom_demo_stats;

extern const char dom_demo_schema[];
extern const char dom_demo_schema_pg[];
extern const char dom_demo_config[];
extern const char *const dom_demo_table_names[DOM_DEMO_TABLES];

/* Creates dir with regions/{beijing,singapore,us-east}.db and domicile.yaml;
 * beijing holds `users` users generated from `seed`.  Replaces an earlier
 * demo in dir; refuses a folder with other data. */
int dom_demo_generate(const char *dir, long users, uint64_t seed, dom_demo_stats *stats);

/* Three local PostgreSQL servers for `demo --postgres` (beijing,
 * singapore, us-east), in a temporary folder. */
#define DOM_DEMO_PG_SERVERS 3
typedef struct dom_demo_pg {
    char root[256];
    char bin[1024];
    int port[DOM_DEMO_PG_SERVERS];
    int started;
} dom_demo_pg;
int dom_demo_pg_start(dom_demo_pg *pg);
/* Stops what was started and removes the folder (safe to call twice). */
void dom_demo_pg_stop(dom_demo_pg *pg);
/* Creates the demo schema in the database of `conninfo` and, unless
 * sqlite_path is NULL, copies that SQLite demo region's rows into it. */
int dom_demo_pg_load(const char *conninfo, const char *sqlite_path);

/* The demo's application: threads writing to random users while they move. */
typedef struct dom_demo_writers dom_demo_writers;
typedef struct dom_demo_write_stats {
    int64_t writes;       /* acknowledged */
    int64_t retried;      /* told "moving; retry" (or busy) */
    int64_t redirected;   /* told "lives in region R", or found the user gone */
    int64_t errors;       /* anything else */
    char last_error[512]; /* the message of the last of those */
} dom_demo_write_stats;

/* Starts `threads` writers over users `keys`, starting from their region
 * indexes `regions`. */
int dom_demo_writers_start(dom_demo_writers **out, const dom_config *cfg, const int64_t *keys,
                           const int *regions, size_t n, int threads);
void dom_demo_writers_stop(dom_demo_writers *w, dom_demo_write_stats *out);

#endif
