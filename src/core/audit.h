/*
 * audit.h - the residency scan of every region and the check of the
 * transfer log's chain.  Reads regions and the catalog; writes nothing.
 */
#ifndef DOM_AUDIT_H
#define DOM_AUDIT_H

#include <stdint.h>

#include "core/config.h"

typedef enum {
    DOM_FIND_NOT_ALLOWED = 0, /* rows of a tenant in a region its policy does not allow */
    DOM_FIND_ORPHAN,          /* rows whose tenant key is not in the directory */
    DOM_FIND_DUPLICATE,       /* a tenant with rows outside its home, no move under way */
    DOM_FIND_DANGLING,        /* a directory entry whose home lacks the tenant */
    /* a tenant without a valid country, outside the policy's home for
     * such tenants (countries: [invalid]), or with no such home */
    DOM_FIND_BAD_COUNTRY,
    DOM_FIND_KINDS
} dom_finding_kind;

/* One group of findings: a kind, a region, a table (or NULL), a country
 * (or ""), how many rows and tenants, and a few example keys. */
typedef struct dom_finding {
    dom_finding_kind kind;
    int region;
    char table[128];
    char country[96]; /* a code; for DOM_FIND_BAD_COUNTRY, what is wrong with it */
    int64_t rows, tenants;
    char **examples;
    size_t nexamples;
} dom_finding;

typedef struct dom_audit_result {
    dom_finding *findings;
    size_t nfindings;
    int64_t *tenants_per_region; /* from the directory */
    int64_t *rows_per_region;    /* tenant-table rows scanned */
    int64_t tenants;
    /* the transfer log */
    int64_t log_entries;
    int log_ok;
    int64_t log_first_bad; /* 0 when none */
    char log_problem[512];
    char log_head[65];
} dom_audit_result;

/* Scans every region and checks the log. */
int dom_audit_run(const dom_config *cfg, dom_audit_result *out);
void dom_audit_free(dom_audit_result *r);
const char *dom_finding_name(dom_finding_kind k);

/* Writes the transfer log, with its chain, as JSON Lines. */
int dom_audit_export(const dom_config *cfg, const char *path, int64_t *entries);

#endif
