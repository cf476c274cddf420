/*
 * latency.c - the round-trip model behind `home: nearest` and the latency
 * report.  It never measures anything itself.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/geo.h"
#include "core/latency.h"
#include "util/util.h"

static dom_rtt_fit fit;
static pthread_once_t fit_once = PTHREAD_ONCE_INIT;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double estimate(double km)
{
    return fit.fixed_ms + fit.ms_per_km * km;
}

/* Least squares of rtt = fixed + slope * km over the measured pairs,
 * weighted by 1 / rtt^2 so that it minimizes the squared relative error:
 * a 10 ms error matters on a 20 ms path, not on a 300 ms one. */
static void compute_fit(void)
{
    double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    size_t n = 0;
    double *err = calloc(dom_nrtt_measured ? dom_nrtt_measured : 1, sizeof(double));
    for (size_t i = 0; i < dom_nrtt_measured; i++) {
        const dom_city *a = dom_city_find(dom_rtt_measured[i].a);
        const dom_city *b = dom_city_find(dom_rtt_measured[i].b);
        if (!a || !b || dom_rtt_measured[i].ms <= 0)
            continue;
        double x = dom_geo_distance_km(a->lat, a->lng, b->lat, b->lng);
        double y = dom_rtt_measured[i].ms;
        double w = 1.0 / (y * y);
        sw += w, sx += w * x, sy += w * y, sxx += w * x * x, sxy += w * x * y;
        n++;
    }
    if (n >= 2 && sw * sxx - sx * sx > 0) {
        fit.ms_per_km = (sw * sxy - sx * sy) / (sw * sxx - sx * sx);
        fit.fixed_ms = (sy - fit.ms_per_km * sx) / sw;
    } else {
        fit.ms_per_km = 0.01 * 1.5; /* 100 km per ms, inflated by half */
        fit.fixed_ms = 5;
    }
    if (fit.fixed_ms < 1)
        fit.fixed_ms = 1;
    fit.inflation = fit.ms_per_km * 100.0;
    fit.npairs = n;
    size_t m = 0;
    for (size_t i = 0; err && i < dom_nrtt_measured; i++) {
        const dom_city *a = dom_city_find(dom_rtt_measured[i].a);
        const dom_city *b = dom_city_find(dom_rtt_measured[i].b);
        if (!a || !b)
            continue;
        double est = estimate(dom_geo_distance_km(a->lat, a->lng, b->lat, b->lng));
        err[m++] = fabs(est - dom_rtt_measured[i].ms) / dom_rtt_measured[i].ms;
    }
    if (m) {
        qsort(err, m, sizeof(double), cmp_double);
        fit.median_err = m % 2 ? err[m / 2] : (err[m / 2 - 1] + err[m / 2]) / 2;
    }
    free(err);
}

const dom_rtt_fit *dom_rtt_model(void)
{
    pthread_once(&fit_once, compute_fit);
    return &fit;
}

double dom_rtt_estimate_km(double km)
{
    dom_rtt_model();
    return estimate(km);
}

const char *dom_rtt_source_name(dom_rtt_source s)
{
    switch (s) {
    case DOM_RTT_OVERRIDE:
        return "override";
    case DOM_RTT_MEASURED:
        return "measured";
    default:
        return "estimated";
    }
}

/* Where a region is: its city, else its country's city, else the country. */
static void region_point(const dom_region *r, const dom_city **city, double *lat, double *lng)
{
    const dom_city *c = r->city ? dom_city_find(r->city) : dom_city_of_country(r->country);
    const dom_country *k = dom_country_find(r->country);
    *city = c;
    *lat = c ? c->lat : k ? k->lat : 0;
    *lng = c ? c->lng : k ? k->lng : 0;
}

double dom_rtt_country_region(const dom_config *cfg, const char *country, int region,
                              dom_rtt_source *source)
{
    dom_rtt_source dummy;
    if (!source)
        source = &dummy;
    for (size_t i = 0; i < cfg->nlatency; i++)
        if (cfg->latency[i].region == region && strcmp(cfg->latency[i].country, country) == 0) {
            *source = DOM_RTT_OVERRIDE;
            return cfg->latency[i].ms;
        }
    const dom_city *rc, *uc = dom_city_of_country(country);
    const dom_country *k = dom_country_find(country);
    const dom_region *reg = &cfg->regions[region];
    double rlat, rlng;
    region_point(reg, &rc, &rlat, &rlng);
    /* a measured pair between any city of the users' country and the
     * region's city (or any city of the region's country) */
    for (size_t i = 0; i < dom_ncities; i++) {
        const dom_city *a = &dom_cities[i];
        if (strcmp(a->country, country) != 0)
            continue;
        for (size_t j = 0; j < dom_ncities; j++) {
            const dom_city *b = &dom_cities[j];
            if (a == b || (reg->city ? b != rc : strcmp(b->country, reg->country) != 0))
                continue;
            double ms = dom_rtt_lookup(a->name, b->name);
            if (ms >= 0) {
                *source = DOM_RTT_MEASURED;
                return ms;
            }
        }
    }
    double ulat = uc ? uc->lat : k ? k->lat : 0, ulng = uc ? uc->lng : k ? k->lng : 0;
    *source = DOM_RTT_ESTIMATED;
    return dom_rtt_estimate_km(dom_geo_distance_km(ulat, ulng, rlat, rlng));
}
