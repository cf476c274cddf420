/*
 * plan.h - what would move where: per wave the tenants, rows and bytes and
 * the from -> to pairs, compliance before and after.  The planner reads
 * the regions (through store.h) and the directory; it writes nothing.
 */
#ifndef DOM_PLAN_H
#define DOM_PLAN_H

#include <stdint.h>

#include "core/config.h"

#define DOM_NO_WAVE 0xffff

typedef struct dom_plan_tenant {
    uint32_t key_off; /* into dom_plan.keys */
    uint32_t key_len;
    int16_t country;     /* index in dom_countries, -1 when unknown */
    int8_t cur;          /* region holding it now (directory, else scan) */
    int8_t target;       /* region where the policy wants it; -1 when no rule */
    uint16_t wave;       /* index of the wave that moves it, or DOM_NO_WAVE */
    uint64_t present;    /* regions holding any of its rows */
    int64_t rows, bytes; /* in region cur */
} dom_plan_tenant;

typedef struct dom_plan_pair {
    int from, to;
    int64_t tenants, rows, bytes;
} dom_plan_pair;

typedef struct dom_plan_wave {
    const dom_wave *wave; /* NULL: the tenants no wave covers ("unplanned") */
    int64_t tenants, rows, bytes;
    dom_plan_pair *pairs;
    size_t npairs;
    int64_t *table_rows;              /* per tenant table */
    int64_t violating_after;          /* tenants in violation once this and all earlier waves ran */
    int64_t *country_violating_after; /* per country index */
} dom_plan_wave;

typedef struct dom_plan_country {
    int64_t tenants, misplaced, moving, violating_before;
} dom_plan_country;

#define DOM_PLAN_BAD_MAX 16

typedef struct dom_plan {
    const dom_config *cfg;
    const char *source; /* "directory" or "scan" */
    char **tables;      /* tenant tables, parents first */
    size_t ntables;
    /* every table of the first region: the tenant tables as in `tables`,
     * then the global ones; class ("tenants", "direct", "indirect",
     * "global") and how rows find their tenant (dom_schema_how) */
    char **all_tables, **table_how;
    const char **table_class;
    size_t nall_tables;
    int bytes_estimated;
    dom_plan_tenant *tenants;
    size_t ntenants;
    char *keys; /* key text arena */
    int64_t misplaced, violating_before, unknown_country, orphan_rows, over_capacity;
    /* the tenants without a valid country (unknown_country of them), by
     * what is wrong with it, with one example key each */
    struct {
        char why[96];
        char example[64];
        int64_t tenants;
    } bad[DOM_PLAN_BAD_MAX];
    size_t nbad;
    int64_t *region_before, *region_after; /* tenants per region */
    dom_plan_wave *waves;                  /* cfg->nwaves + 1: the last is "unplanned" */
    size_t nwaves;
    dom_plan_country *countries; /* per dom_countries index */
} dom_plan;

/* Builds the plan of every wave of cfg. */
int dom_plan_build(dom_plan **out, const dom_config *cfg);

/* With DOM_PLAN_TENANTS_ONLY, rows are not counted: tenants, placement and
 * waves only (rows, bytes and presence in other regions stay 0). */
#define DOM_PLAN_TENANTS_ONLY 1
int dom_plan_build_ex(dom_plan **out, const dom_config *cfg, int flags);
void dom_plan_free(dom_plan *plan);
/* Index of the wave named `name` in cfg, or -1. */
int dom_plan_wave_index(const dom_config *cfg, const char *name);
/* The wave (index into cfg->waves) that takes a tenant, DOM_NO_WAVE when
 * none does: the first wave whose countries include the tenant's country
 * and whose percent sample includes its key. Only misplaced tenants move. */
unsigned dom_plan_assign_wave(const dom_config *cfg, const char *country, const char *key,
                              size_t keylen);

#endif
