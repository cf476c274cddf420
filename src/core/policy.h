/*
 * policy.h - the residency policy: which rule governs a country, its home
 * region and the regions where its data may reside.  Pure computation on the
 * config; never touches a database.
 */
#ifndef DOM_POLICY_H
#define DOM_POLICY_H

#include <stdint.h>

#include "core/config.h"

/* The index of the first rule matching `country`, or -1. */
int dom_policy_rule(const dom_config *cfg, const char *country);
/* The home region of a tenant from `country` (for `nearest`, the allowed
 * region with the lowest round trip; ties go to the region listed first).
 * -1 when no rule matches. */
int dom_policy_home(const dom_config *cfg, const char *country);
/* The regions (bit per index) where a tenant from `country` may reside;
 * 0 when no rule matches. */
uint64_t dom_policy_allowed(const dom_config *cfg, const char *country);
/* The allowed regions of `country` ordered by round trip, nearest first;
 * returns how many were written to out (at most DOM_MAX_REGIONS). */
int dom_policy_candidates(const dom_config *cfg, const char *country, int *out);

/* The home of tenants without a valid country (a rule's countries list
 * `invalid`), or -1: none may be created, none is moved. */
int dom_policy_invalid_home(const dom_config *cfg);

#endif
