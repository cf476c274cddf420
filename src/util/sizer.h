/*
 * sizer.h - sizes bulk writes so that each takes about a time budget.
 */
#ifndef DOM_SIZER_H
#define DOM_SIZER_H

#include <stdint.h>

typedef struct dom_sizer {
    double budget; /* seconds a write should take; <= 0: n stays */
    int64_t n;     /* units (rows, tenants) of the next write */
    int64_t min, max;
} dom_sizer;

void dom_sizer_init(dom_sizer *z, double budget, int64_t start, int64_t min, int64_t max);
/* A write of `units` took `seconds`: the next one is the measured rate
 * times the budget, at most twice and at least half this one's size. */
void dom_sizer_done(dom_sizer *z, int64_t units, double seconds);

#endif
