/*
 * sizer.c - bulk writes sized by the time they take.
 *
 * Where applications queue behind one writer (SQLite), every bulk write of
 * the mover holds them up for as long as it runs, so a write must be short;
 * but every write also rewrites the interior pages and the randomly placed
 * index pages it touches, so a write must not be shorter than it needs to
 * be.  A fixed number of rows cannot serve both: a thousand rows of a
 * table with a random-order index cost several times what a thousand rows
 * of an append-order table do.  The sizer measures each write and sizes the
 * next one of the same kind to take the budget.
 */
#include "util/sizer.h"
#include "util/util.h"

#include <time.h>

double dom_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void dom_iso_now(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void dom_sizer_init(dom_sizer *z, double budget, int64_t start, int64_t min, int64_t max)
{
    z->budget = budget;
    z->min = min;
    z->max = max;
    z->n = start < min ? min : start > max ? max : start;
}

void dom_sizer_done(dom_sizer *z, int64_t units, double seconds)
{
    if (z->budget <= 0 || units <= 0)
        return;
    /* a write of a few units says little about the rate: never less than
     * half a millisecond of it */
    if (seconds < 0.0005)
        seconds = 0.0005;
    double want = (double)units / seconds * z->budget;
    /* one slow or quick write (a checkpoint, a cold cache) moves the size
     * by at most a factor of two */
    double lo = (double)z->n / 2, hi = (double)z->n * 2;
    want = want < lo ? lo : want > hi ? hi : want;
    int64_t n = (int64_t)want;
    z->n = n < z->min ? z->min : n > z->max ? z->max : n;
}
