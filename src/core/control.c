/*
 * control.c - live control of running movers (control.h).
 *
 * The catalog keeps two meta keys: control.paused ("" or "1 WHEN") and
 * control.rate ("" or "RATE WHEN").  A mover keeps what it read in one
 * state for all its workers; whichever worker reaches a safe point after
 * CONTROL_POLL_SEC reads the keys again with its own catalog handle.
 * The rate is paid for on one clock for every worker of the process: the
 * rows a worker reports are added to the clock at the rate in force, and
 * the worker sleeps until the clock is due.
 */
#include "core/control.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mover.h"
#include "util/util.h"

#define KEY_PAUSED "control.paused"
#define KEY_RATE   "control.rate"

static void iso_now(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int dom_control_set_paused(dom_catalog *cat, int paused)
{
    char v[64] = "";
    if (paused) {
        char at[32];
        iso_now(at);
        snprintf(v, sizeof(v), "1 %s", at);
    }
    return dom_catalog_meta_set(cat, KEY_PAUSED, v);
}

int dom_control_set_rate(dom_catalog *cat, double rate)
{
    char v[96] = "";
    if (rate >= 0) {
        char at[32];
        iso_now(at);
        snprintf(v, sizeof(v), "%.17g %s", rate, at);
    }
    return dom_catalog_meta_set(cat, KEY_RATE, v);
}

/* "VALUE WHEN": the value, and WHEN into at[32] */
static const char *split_at(const char *v, char at[32])
{
    const char *sp = strchr(v, ' ');
    snprintf(at, 32, "%s", sp ? sp + 1 : "");
    return v;
}

int dom_control_read(dom_catalog *cat, const dom_config *cfg, dom_control *out)
{
    char p[96], r[96];
    int rc;
    if ((rc = dom_catalog_meta_get(cat, KEY_PAUSED, p, sizeof(p))) < 0 ||
        (rc = dom_catalog_meta_get(cat, KEY_RATE, r, sizeof(r))) < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    out->paused = p[0] == '1';
    if (out->paused)
        split_at(p, out->paused_at);
    if (r[0]) {
        out->rate_live = 1;
        out->rate = strtod(split_at(r, out->rate_at), NULL);
        if (!(out->rate >= 0))
            out->rate = 0;
    } else {
        out->rate = cfg->options.max_rows_per_second;
    }
    return 0;
}

/* ---- the movers' state ------------------------------------------------------------ */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    const dom_config *cfg;
    dom_control now;
    double polled; /* when last read (dom_mono), 0: never */
    int polling;   /* a worker is reading the catalog */
    double clock;  /* the rate's clock: rows paid for until then */
    void (*on_change)(const dom_control *, void *);
    void *payload;
} st;

void dom_control_begin(const dom_config *cfg, void (*on_change)(const dom_control *, void *),
                       void *payload)
{
    pthread_mutex_lock(&mu);
    memset(&st, 0, sizeof(st));
    st.cfg = cfg;
    st.now.rate = cfg->options.max_rows_per_second;
    st.on_change = on_change;
    st.payload = payload;
    pthread_mutex_unlock(&mu);
}

void dom_control_now(dom_control *out)
{
    pthread_mutex_lock(&mu);
    *out = st.now;
    pthread_mutex_unlock(&mu);
}

/* Reads the catalog when the last read is CONTROL_POLL_SEC old (one
 * worker at a time; the others go on with what was read).  A catalog that
 * cannot be read keeps the state as it was: control is advice, the
 * batch's own catalog writes report a lost catalog. */
static void poll(dom_catalog *cat)
{
    pthread_mutex_lock(&mu);
    double t = dom_mono();
    int due = st.cfg && !st.polling && (st.polled == 0 || t - st.polled >= CONTROL_POLL_SEC);
    if (due)
        st.polling = 1;
    pthread_mutex_unlock(&mu);
    if (!due)
        return;
    dom_control c;
    int rc = dom_control_read(cat, st.cfg, &c);
    pthread_mutex_lock(&mu);
    st.polling = 0;
    st.polled = dom_mono();
    int changed = 0;
    if (rc == 0) {
        changed =
            c.paused != st.now.paused || c.rate != st.now.rate || c.rate_live != st.now.rate_live;
        c.paused_sec = st.now.paused_sec;
        st.now = c;
    } else {
        dom_error_clear();
    }
    dom_control snap = st.now;
    void (*cb)(const dom_control *, void *) = st.on_change;
    void *payload = st.payload;
    if (changed && cb)
        cb(&snap, payload);
    pthread_mutex_unlock(&mu);
}

static void nap(double sec)
{
    struct timespec ts = {0, (long)(sec * 1e9)};
    nanosleep(&ts, NULL);
}

/* How often a paused worker renews its leases. */
#define RENEW_SEC 5.0

int dom_control_gate(dom_catalog *cat, int64_t rows)
{
    double renewed = dom_mono();
    poll(cat);
    /* paused: wait here, reading the catalog again as it comes due */
    for (;;) {
        pthread_mutex_lock(&mu);
        int paused = st.now.paused;
        pthread_mutex_unlock(&mu);
        if (!paused)
            break;
        if (dom_interrupted)
            return dom_error_set(DOM_EINTR, "interrupted");
        double t0 = dom_mono();
        nap(0.05);
        pthread_mutex_lock(&mu);
        st.now.paused_sec += dom_mono() - t0;
        pthread_mutex_unlock(&mu);
        poll(cat);
        /* a worker paused inside a batch keeps its lease (a shared
         * catalog's other movers wait too, but would take the batch over
         * once they resume) */
        if (dom_mono() - renewed >= RENEW_SEC) {
            renewed = dom_mono();
            if (dom_catalog_renew(cat) < 0)
                dom_error_clear();
        }
    }
    if (rows <= 0)
        return 0;
    /* the rate: the rows go on the clock; sleep until it is due, in short
     * naps that see a new rate or a pause */
    pthread_mutex_lock(&mu);
    double rate = st.now.rate, now = dom_mono();
    if (rate <= 0) {
        pthread_mutex_unlock(&mu);
        return 0;
    }
    if (st.clock < now)
        st.clock = now;
    st.clock += (double)rows / rate;
    double until = st.clock;
    pthread_mutex_unlock(&mu);
    while ((now = dom_mono()) < until) {
        if (dom_interrupted)
            return dom_error_set(DOM_EINTR, "interrupted");
        nap(until - now < 0.05 ? until - now : 0.05);
        poll(cat);
        pthread_mutex_lock(&mu);
        double r2 = st.now.rate;
        int p2 = st.now.paused;
        if (r2 != rate) {
            /* a new rate: what is left of these rows is paid at it */
            double left = until - dom_mono();
            if (left < 0)
                left = 0;
            double shift = r2 > 0 ? left * rate / r2 - left : -left;
            st.clock += shift;
            until += shift;
            rate = r2;
        }
        pthread_mutex_unlock(&mu);
        if (p2)
            return dom_control_gate(cat, 0);
        if (rate <= 0)
            break;
    }
    return 0;
}
