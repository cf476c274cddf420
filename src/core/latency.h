/*
 * latency.h - the round-trip model: a country's users to a region.
 *
 * Measured city pairs first (data/rtt-measured.tsv); otherwise the great-
 * circle distance between the points, scaled by a path-inflation factor and
 * a fixed term fitted to the measured pairs.  A config may override a pair.
 */
#ifndef DOM_LATENCY_H
#define DOM_LATENCY_H

#include "core/config.h"

typedef enum {
    DOM_RTT_OVERRIDE = 1, /* from the config's latency: section */
    DOM_RTT_MEASURED = 2, /* a measured city pair */
    DOM_RTT_ESTIMATED = 3 /* great-circle model */
} dom_rtt_source;

typedef struct dom_rtt_fit {
    double fixed_ms;   /* intercept */
    double ms_per_km;  /* slope; 1 / (100 km per ms) times the inflation */
    double inflation;  /* ms_per_km * 100 */
    double median_err; /* median |relative error| over the measured pairs */
    size_t npairs;
} dom_rtt_fit;

/* The model's fit over the measured pairs (computed once). */
const dom_rtt_fit *dom_rtt_model(void);
/* Estimated round trip for a great-circle distance. */
double dom_rtt_estimate_km(double km);
/* Round trip in ms from users in `country` to region `region` of cfg. */
double dom_rtt_country_region(const dom_config *cfg, const char *country, int region,
                              dom_rtt_source *source);
const char *dom_rtt_source_name(dom_rtt_source s);

#endif
