/*
 * demo.h - the synthetic phone-cloud data set of `domicile demo`.
 */
#ifndef DOM_DEMO_H
#define DOM_DEMO_H

#include <stdint.h>

#define DOM_DEMO_TABLES 6

typedef struct dom_demo_stats {
    long rows[DOM_DEMO_TABLES]; /* users, devices, contacts, messages, photos, backups */
} dom_demo_stats;

extern const char dom_demo_schema[];
extern const char dom_demo_config[];
extern const char *const dom_demo_table_names[DOM_DEMO_TABLES];

/* Creates dir with regions/{beijing,singapore,us-east}.db and domicile.yaml;
 * beijing holds `users` users generated from `seed`.  Replaces an earlier
 * demo in dir; refuses a folder with other data. */
int dom_demo_generate(const char *dir, long users, uint64_t seed, dom_demo_stats *stats);

#endif
