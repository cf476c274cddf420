/*
 * policy.c - evaluates the residency policy: first matching rule wins.
 */
#include <string.h>

#include "core/latency.h"
#include "core/policy.h"

int dom_policy_rule(const dom_config *cfg, const char *country)
{
    for (size_t i = 0; i < cfg->nrules; i++) {
        const dom_rule *r = &cfg->rules[i];
        if (r->any)
            return (int)i;
        for (size_t j = 0; j < r->ncountries; j++)
            if (strcmp(r->countries[j], country) == 0)
                return (int)i;
    }
    return -1;
}

uint64_t dom_policy_allowed(const dom_config *cfg, const char *country)
{
    int r = dom_policy_rule(cfg, country);
    return r < 0 ? 0 : cfg->rules[r].allow;
}

int dom_policy_candidates(const dom_config *cfg, const char *country, int *out)
{
    int r = dom_policy_rule(cfg, country);
    if (r < 0)
        return 0;
    const dom_rule *rule = &cfg->rules[r];
    double rtt[DOM_MAX_REGIONS];
    int n = 0;
    if (rule->home >= 0) {
        /* A named home comes first; the other allowed regions follow by rtt. */
        out[n] = rule->home;
        rtt[n++] = -1;
    }
    for (size_t i = 0; i < cfg->nregions; i++) {
        if (!(rule->allow & ((uint64_t)1 << i)) || (int)i == rule->home)
            continue;
        double ms = dom_rtt_country_region(cfg, country, (int)i, NULL);
        int j = n++;
        while (j > 0 && rtt[j - 1] > ms) { /* stable insertion: ties keep config order */
            out[j] = out[j - 1];
            rtt[j] = rtt[j - 1];
            j--;
        }
        out[j] = (int)i;
        rtt[j] = ms;
    }
    return n;
}

int dom_policy_home(const dom_config *cfg, const char *country)
{
    int cand[DOM_MAX_REGIONS];
    return dom_policy_candidates(cfg, country, cand) > 0 ? cand[0] : -1;
}

int dom_policy_invalid_home(const dom_config *cfg)
{
    for (size_t i = 0; i < cfg->nrules; i++)
        if (cfg->rules[i].invalid)
            return cfg->rules[i].home >= 0 ? cfg->rules[i].home : -1;
    return -1;
}
