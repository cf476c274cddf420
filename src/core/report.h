/*
 * report.h - the per-market latency view: for each country, the round trip
 * from its users to their home now (directory or scan) and after the policy
 * is applied, as percentiles over users.  Computed from a plan; reads
 * nothing else.
 */
#ifndef DOM_REPORT_H
#define DOM_REPORT_H

#include <stdint.h>

#include "core/plan.h"

typedef struct dom_latency_row {
    int country; /* index in dom_countries; -1 for the overall line */
    int64_t users;
    double before_p50, before_p90, after_p50, after_p90;
    double before_mean, after_mean;
    int before_region, after_region; /* where most of its users are; -1 if none */
} dom_latency_row;

typedef struct dom_latency_report {
    dom_latency_row *rows; /* countries with users, most users first */
    size_t nrows;
    dom_latency_row overall;
} dom_latency_report;

/* Builds the report from a plan.  `first` (may be NULL) lists country codes
 * to put first, in that order. */
int dom_latency_report_build(dom_latency_report *out, const dom_plan *plan,
                             const char *const *first, size_t nfirst);
void dom_latency_report_free(dom_latency_report *r);

#endif
