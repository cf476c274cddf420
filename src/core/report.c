/*
 * report.c - per-market round trips before and after, from a plan.  Every
 * user of a country in a region has the same modelled round trip, so the
 * percentiles are taken over (round trip, users) pairs, never per user.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/geo.h"
#include "core/latency.h"
#include "core/report.h"
#include "util/util.h"

typedef struct weighted {
    double ms;
    int64_t n;
} weighted;

static int cmp_weighted(const void *a, const void *b)
{
    double x = ((const weighted *)a)->ms, y = ((const weighted *)b)->ms;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of the weighted values: the smallest value with at
 * least q of the weight at or below it. */
static double quantile(weighted *w, size_t n, double q)
{
    int64_t total = 0, acc = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i].n;
    if (!total)
        return 0;
    qsort(w, n, sizeof(*w), cmp_weighted);
    double need = q * (double)total;
    for (size_t i = 0; i < n; i++) {
        acc += w[i].n;
        if ((double)acc >= need)
            return w[i].ms;
    }
    return w[n - 1].ms;
}

static double mean(const weighted *w, size_t n)
{
    double s = 0;
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        s += w[i].ms * (double)w[i].n;
        total += w[i].n;
    }
    return total ? s / (double)total : 0;
}

/* Fills one row from per-region user counts before and after. */
static void fill(dom_latency_row *row, const dom_config *cfg, const int64_t *before,
                 const int64_t *after, const double *rtt_by_region_country, int country)
{
    weighted wb[DOM_MAX_REGIONS], wa[DOM_MAX_REGIONS];
    size_t nb = 0, na = 0;
    int64_t best_b = 0, best_a = 0;
    row->before_region = row->after_region = -1;
    for (size_t r = 0; r < cfg->nregions; r++) {
        double ms = rtt_by_region_country[r];
        if (before[r]) {
            wb[nb++] = (weighted){ms, before[r]};
            if (before[r] > best_b) {
                best_b = before[r];
                row->before_region = (int)r;
            }
        }
        if (after[r]) {
            wa[na++] = (weighted){ms, after[r]};
            if (after[r] > best_a) {
                best_a = after[r];
                row->after_region = (int)r;
            }
        }
    }
    row->country = country;
    row->before_mean = mean(wb, nb);
    row->after_mean = mean(wa, na);
    row->before_p50 = quantile(wb, nb, 0.5);
    row->before_p90 = quantile(wb, nb, 0.9);
    row->after_p50 = quantile(wa, na, 0.5);
    row->after_p90 = quantile(wa, na, 0.9);
}

typedef struct order {
    const char *const *first;
    size_t nfirst;
} order;

static int rank(const order *o, int country)
{
    for (size_t i = 0; i < o->nfirst; i++)
        if (strcasecmp(o->first[i], dom_countries[country].code) == 0)
            return (int)i;
    return (int)o->nfirst;
}

static int cmp_rows(const void *a, const void *b, void *ctx)
{
    const dom_latency_row *x = a, *y = b;
    int rx = rank(ctx, x->country), ry = rank(ctx, y->country);
    if (rx != ry)
        return rx - ry;
    if (x->users != y->users)
        return x->users > y->users ? -1 : 1;
    return strcmp(dom_countries[x->country].code, dom_countries[y->country].code);
}

int dom_latency_report_build(dom_latency_report *out, const dom_plan *p, const char *const *first,
                             size_t nfirst)
{
    const dom_config *cfg = p->cfg;
    size_t nr = cfg->nregions, nc = dom_ncountries;
    memset(out, 0, sizeof(*out));
    int64_t *before = dom_calloc(nc * nr, sizeof(int64_t));
    int64_t *after = dom_calloc(nc * nr, sizeof(int64_t));
    double *rtt = dom_calloc(nc * nr, sizeof(double));
    int64_t *users = dom_calloc(nc, sizeof(int64_t));
    if (!before || !after || !rtt || !users)
        goto oom;
    for (size_t i = 0; i < p->ntenants; i++) {
        const dom_plan_tenant *t = &p->tenants[i];
        if (t->country < 0 || t->cur < 0)
            continue;
        users[t->country]++;
        before[(size_t)t->country * nr + (size_t)t->cur]++;
        after[(size_t)t->country * nr + (size_t)(t->target >= 0 ? t->target : t->cur)]++;
    }
    size_t n = 0;
    for (size_t c = 0; c < nc; c++)
        if (users[c]) {
            n++;
            for (size_t r = 0; r < nr; r++)
                rtt[c * nr + r] = dom_rtt_country_region(cfg, dom_countries[c].code, (int)r, NULL);
        }
    out->rows = dom_calloc(n ? n : 1, sizeof(dom_latency_row));
    if (!out->rows)
        goto oom;
    /* the overall line: one weighted entry per (country, region) */
    weighted *all_b = dom_calloc(n * nr + 1, sizeof(weighted));
    weighted *all_a = dom_calloc(n * nr + 1, sizeof(weighted));
    if (!all_b || !all_a) {
        dom_free(all_b);
        dom_free(all_a);
        goto oom;
    }
    size_t nb = 0, na = 0;
    int64_t total = 0;
    for (size_t c = 0; c < nc; c++) {
        if (!users[c])
            continue;
        dom_latency_row *row = &out->rows[out->nrows++];
        row->users = users[c];
        total += users[c];
        fill(row, cfg, &before[c * nr], &after[c * nr], &rtt[c * nr], (int)c);
        for (size_t r = 0; r < nr; r++) {
            if (before[c * nr + r])
                all_b[nb++] = (weighted){rtt[c * nr + r], before[c * nr + r]};
            if (after[c * nr + r])
                all_a[na++] = (weighted){rtt[c * nr + r], after[c * nr + r]};
        }
    }
    out->overall.country = -1;
    out->overall.users = total;
    out->overall.before_region = out->overall.after_region = -1;
    out->overall.before_mean = mean(all_b, nb);
    out->overall.after_mean = mean(all_a, na);
    out->overall.before_p50 = quantile(all_b, nb, 0.5);
    out->overall.before_p90 = quantile(all_b, nb, 0.9);
    out->overall.after_p50 = quantile(all_a, na, 0.5);
    out->overall.after_p90 = quantile(all_a, na, 0.9);
    dom_free(all_b);
    dom_free(all_a);
    order o = {first, first ? nfirst : 0};
    qsort_r(out->rows, out->nrows, sizeof(dom_latency_row), cmp_rows, &o);
    dom_free(before);
    dom_free(after);
    dom_free(rtt);
    dom_free(users);
    return 0;
oom:
    dom_free(before);
    dom_free(after);
    dom_free(rtt);
    dom_free(users);
    dom_latency_report_free(out);
    return DOM_ENOMEM;
}

void dom_latency_report_free(dom_latency_report *r)
{
    dom_free(r->rows);
    memset(r, 0, sizeof(*r));
}
