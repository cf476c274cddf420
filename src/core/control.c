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
#include "store/store.h"
#include "util/util.h"

#define KEY_PAUSED "control.paused"
#define KEY_RATE   "control.rate"
#define KEY_HEALTH "control.health"

int dom_control_set_paused(dom_catalog *cat, int paused)
{
    char v[64] = "";
    if (paused) {
        char at[32];
        dom_iso_now(at);
        snprintf(v, sizeof(v), "1 %s", at);
    }
    return dom_catalog_meta_set(cat, KEY_PAUSED, v);
}

int dom_control_set_rate(dom_catalog *cat, double rate)
{
    char v[96] = "";
    if (rate >= 0) {
        char at[32];
        dom_iso_now(at);
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
    char p[96], r[96], h[256];
    int rc;
    if ((rc = dom_catalog_meta_get(cat, KEY_PAUSED, p, sizeof(p))) < 0 ||
        (rc = dom_catalog_meta_get(cat, KEY_RATE, r, sizeof(r))) < 0 ||
        (rc = dom_catalog_meta_get(cat, KEY_HEALTH, h, sizeof(h))) < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    /* "LEVEL WHEN REASON" */
    if (h[0] >= '1' && h[0] <= '2' && h[1] == ' ') {
        out->health = h[0] - '0';
        const char *at = h + 2, *sp = strchr(at, ' ');
        snprintf(out->health_at, sizeof(out->health_at), "%.*s", sp ? (int)(sp - at) : 0, at);
        snprintf(out->health_why, sizeof(out->health_why), "%s", sp ? sp + 1 : "");
    }
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
    int64_t rows;  /* rows reported to the gate, for the watch's rate */
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

/* Tells the run's callback of a change the movers act on (under mu). */
static void tell(void)
{
    dom_control snap = st.now;
    if (st.on_change)
        st.on_change(&snap, st.payload);
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
        c.health = st.now.health;
        c.health_rate = st.now.health_rate;
        memcpy(c.health_why, st.now.health_why, sizeof(c.health_why));
        memcpy(c.health_at, st.now.health_at, sizeof(c.health_at));
        st.now = c;
    } else {
        dom_error_clear();
    }
    if (changed)
        tell();
    pthread_mutex_unlock(&mu);
}

/* The rate in force: the operator's or the config's, and the health's
 * when lower (0: no limit); the health's holds from the first slowing
 * until it is lifted, also while every region is within its bounds (it
 * grows back from there).  Under mu. */
static double in_force(void)
{
    double r = st.now.rate, h = st.now.health_rate;
    return r > 0 && (h <= 0 || r < h) ? r : h;
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
        int paused = st.now.paused || st.now.health == 2;
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
    st.rows += rows;
    double rate = in_force(), now = dom_mono();
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
        double r2 = in_force();
        int p2 = st.now.paused || st.now.health == 2;
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

/* ---- the regions' health ------------------------------------------------------------
 * Once a second the watch reads every region's health (the store's
 * health op, on connections of its own) against options.health.  Over a
 * bound it slows the mover down: the rate becomes half the rows per
 * second of the last seconds, then 0.7 of itself every second the bound
 * is still passed (at least 50 rows/s); over a critical bound the workers
 * wait at their next safe point, and go on at that rate.  Back under
 * every bound, the rate grows by a tenth a second, and is lifted once it
 * is twice what it was when the slowing began and no bound was passed
 * for CALM_SEC: a rate that came back at once would bring back the load
 * that the application had just queued behind. */
#define CALM_SEC 30

static struct {
    pthread_t th;
    int running;
    volatile int stop;
    const dom_config *cfg;
} watch;

/* The worst of one region's readings against the bounds: 0, 1 or 2. */
static int judge(const dom_health_bounds *b, const char *region, const dom_health *h, char *why,
                 size_t n)
{
    int level = 0;
    struct {
        double v, bound, critical;
        const char *what, *unit, *key;
    } m[3] = {
        {h->probe_ms, b->probe_ms, b->critical_probe_ms, "probe", " ms", "probe_ms"},
        {(double)h->active_sessions, (double)b->active_sessions,
         (double)b->critical_active_sessions, "active sessions", "", "active_sessions"},
        {h->replica_lag_sec, b->replica_lag_sec, b->critical_replica_lag_sec, "replica lag", " s",
         "replica_lag"},
    };
    for (int i = 0; i < 3; i++) {
        if (m[i].v < 0)
            continue;
        int l = m[i].critical > 0 && m[i].v > m[i].critical ? 2
                : m[i].bound > 0 && m[i].v > m[i].bound     ? 1
                                                            : 0;
        if (l > level) {
            level = l;
            snprintf(why, n, "region \"%s\": %s %.0f%s over %.0f%s (options.health.%s%s)", region,
                     m[i].what, m[i].v, m[i].unit, l == 2 ? m[i].critical : m[i].bound, m[i].unit,
                     l == 2 ? "critical_" : "", m[i].key);
        }
    }
    return level;
}

/* One reading of every region: the worst level, and why. */
static int read_regions(const dom_config *cfg, dom_store **stv, char why[192])
{
    int level = 0;
    for (size_t i = 0; i < cfg->nregions; i++) {
        dom_health h;
        char w[192] = "";
        if (!stv[i] && dom_store_open(&stv[i], &cfg->regions[i], DOM_STORE_MUST_EXIST) < 0) {
            dom_error_clear();
            stv[i] = NULL;
            continue;
        }
        if (dom_store_health(stv[i], &h) < 0) {
            /* not readable now (or not by this engine): no judgement */
            dom_error_clear();
            dom_store_close(stv[i]);
            stv[i] = NULL;
            continue;
        }
        int l = judge(&cfg->options.health, cfg->regions[i].name, &h, w, sizeof(w));
        if (l > level) {
            level = l;
            memcpy(why, w, 192);
        }
    }
    return level;
}

static void *watch_main(void *arg)
{
    (void)arg;
    const dom_config *cfg = watch.cfg;
    dom_store *stv[DOM_MAX_REGIONS] = {0};
    dom_catalog *cat = NULL;
    if (dom_catalog_open(&cat, cfg, 0) < 0) {
        dom_log(DOM_LOG_WARN, "health watch: %s", dom_error_last());
        dom_error_clear();
        cat = NULL;
    }
    double last_t = dom_mono(), recent = 0, before = 0, last_over = 0;
    int64_t last_rows = 0;
    int last_level = 0;
    while (!watch.stop) {
        char why[192] = "";
        int level = read_regions(cfg, stv, why);
        pthread_mutex_lock(&mu);
        double t = dom_mono(), dt = t - last_t;
        if (dt > 0)
            recent = 0.5 * recent + 0.5 * (double)(st.rows - last_rows) / dt;
        last_rows = st.rows;
        last_t = t;
        double hr = st.now.health_rate;
        if (level >= 1) {
            last_over = t;
            /* (before the first rows there is no rate to halve: a
             * critical level waits, the next reading decides) */
            if (hr <= 0 && recent > 0) {
                before = recent;
                hr = recent / 2;
            } else if (hr > 0 && level == 1) {
                hr *= 0.7;
            }
            if (hr > 0 && hr < 50)
                hr = 50;
        } else if (hr > 0) {
            hr *= 1.1;
            if (hr > 2 * before && t - last_over >= CALM_SEC)
                hr = 0;
        }
        int changed = level != last_level;
        st.now.health = level;
        st.now.health_rate = hr;
        if (level)
            memcpy(st.now.health_why, why, sizeof(why));
        if (changed) {
            dom_iso_now(st.now.health_at);
            if (!level)
                snprintf(st.now.health_why, sizeof(st.now.health_why),
                         "every region within options.health");
        }
        dom_control snap = st.now;
        if (changed)
            tell();
        pthread_mutex_unlock(&mu);
        if (changed && cat) {
            char v[256] = "";
            if (level)
                snprintf(v, sizeof(v), "%d %s %s", level, snap.health_at, snap.health_why);
            if (dom_catalog_meta_set(cat, KEY_HEALTH, v) < 0)
                dom_error_clear();
        }
        last_level = level;
        for (int i = 0; i < 20 && !watch.stop; i++)
            nap(0.05);
    }
    if (cat) {
        if (last_level && dom_catalog_meta_set(cat, KEY_HEALTH, "") < 0)
            dom_error_clear();
        dom_catalog_close(cat);
    }
    for (size_t i = 0; i < cfg->nregions; i++)
        if (stv[i])
            dom_store_close(stv[i]);
    return NULL;
}

int dom_control_watch(const dom_config *cfg)
{
    const dom_health_bounds *b = &cfg->options.health;
    if (watch.running || !(b->probe_ms > 0 || b->critical_probe_ms > 0 || b->active_sessions > 0 ||
                           b->critical_active_sessions > 0 || b->replica_lag_sec > 0 ||
                           b->critical_replica_lag_sec > 0))
        return 0;
    watch.cfg = cfg;
    watch.stop = 0;
    if (pthread_create(&watch.th, NULL, watch_main, NULL) != 0)
        return dom_error_set(DOM_ERROR, "cannot start the health watch");
    watch.running = 1;
    return 0;
}

void dom_control_end(void)
{
    if (!watch.running)
        return;
    watch.stop = 1;
    pthread_join(watch.th, NULL);
    watch.running = 0;
    pthread_mutex_lock(&mu);
    st.now.health = 0;
    st.now.health_rate = 0;
    pthread_mutex_unlock(&mu);
}

/* ---- erasure's own rate (options.erase_rows_per_second) ------------------------ */

static pthread_mutex_t erase_mu = PTHREAD_MUTEX_INITIALIZER;
static double erase_clock;

void dom_control_erase_pay(double rate, int64_t rows)
{
    if (rate <= 0 || rows <= 0)
        return;
    pthread_mutex_lock(&erase_mu);
    double now = dom_mono();
    if (erase_clock < now)
        erase_clock = now;
    erase_clock += (double)rows / rate;
    double until = erase_clock;
    pthread_mutex_unlock(&erase_mu);
    while (!dom_interrupted && (now = dom_mono()) < until)
        nap(until - now < 0.05 ? until - now : 0.05);
}
