/*
 * serve_dir.c - the directory as `domicile serve` answers it: a snapshot
 * of the catalog's directory in memory (an open-addressing table), built
 * anew every refresh interval by a thread of its own and swapped in whole.
 * An answer is as old as the snapshot it came from: a directory change
 * committed before a scan began is served once that scan ends, so no
 * answer is staler than the interval plus one scan (docs/serve.md).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/serve.h"
#include "core/catalog.h"
#include "util/util.h"

typedef struct dir_slot {
    const char *key; /* NULL: empty */
    size_t keylen;
    int64_t epoch;
    unsigned char region; /* index in the snapshot's names */
    unsigned char moving;
} dir_slot;

typedef struct dir_snap {
    dir_slot *slots;
    size_t cap, n;
    char **chunks; /* the keys' storage */
    size_t nchunks, chunk_used;
    char *names[DOM_MAX_REGIONS + 1];
    size_t nnames;
    double began; /* when its scan began (CLOCK_REALTIME) */
    double took;  /* seconds the scan took */
} dir_snap;

struct serve_dir {
    const dom_config *cfg;
    double refresh_sec;
    pthread_rwlock_t lock;
    dir_snap *snap;
    pthread_t thread;
    int running;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stop;
    char last_error[512];
    int64_t refreshes, failures;
};

#define CHUNK (1 << 20)

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void snap_free(dir_snap *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nchunks; i++)
        dom_free(s->chunks[i]);
    dom_free(s->chunks);
    for (size_t i = 0; i < s->nnames; i++)
        dom_free(s->names[i]);
    dom_free(s->slots);
    dom_free(s);
}

static char *snap_store(dir_snap *s, const char *key, size_t n)
{
    if (n + 1 > CHUNK)
        return NULL;
    if (!s->nchunks || s->chunk_used + n + 1 > CHUNK) {
        char **g = dom_realloc(s->chunks, (s->nchunks + 1) * sizeof(char *));
        if (!g)
            return NULL;
        s->chunks = g;
        if (!(s->chunks[s->nchunks] = dom_malloc(CHUNK)))
            return NULL;
        s->nchunks++;
        s->chunk_used = 0;
    }
    char *p = s->chunks[s->nchunks - 1] + s->chunk_used;
    memcpy(p, key, n);
    p[n] = '\0';
    s->chunk_used += n + 1;
    return p;
}

static int snap_grow(dir_snap *s)
{
    size_t cap = s->cap ? s->cap * 2 : 1024;
    dir_slot *g = dom_calloc(cap, sizeof(dir_slot));
    if (!g)
        return DOM_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slots[i].key)
            continue;
        size_t j = dom_fnv1a(s->slots[i].key, s->slots[i].keylen) & (cap - 1);
        while (g[j].key)
            j = (j + 1) & (cap - 1);
        g[j] = s->slots[i];
    }
    dom_free(s->slots);
    s->slots = g;
    s->cap = cap;
    return 0;
}

static int name_index(dir_snap *s, const char *region)
{
    for (size_t i = 0; i < s->nnames; i++)
        if (strcmp(s->names[i], region) == 0)
            return (int)i;
    if (s->nnames >= DOM_MAX_REGIONS + 1 || !(s->names[s->nnames] = dom_strdup(region)))
        return -1;
    return (int)s->nnames++;
}

static int snap_add(const char *key, size_t n, const char *region, int64_t epoch, const char *state,
                    void *payload)
{
    dir_snap *s = payload;
    if ((s->n + 1) * 2 > s->cap && snap_grow(s) < 0)
        return DOM_ENOMEM;
    int r = name_index(s, region ? region : "?");
    if (r < 0)
        return dom_error_set(DOM_ERROR, "the directory names more regions than %d",
                             DOM_MAX_REGIONS);
    size_t j = dom_fnv1a(key, n) & (s->cap - 1);
    while (s->slots[j].key && !(s->slots[j].keylen == n && memcmp(s->slots[j].key, key, n) == 0))
        j = (j + 1) & (s->cap - 1);
    if (!s->slots[j].key) {
        if (!(s->slots[j].key = snap_store(s, key, n)))
            return DOM_ENOMEM;
        s->slots[j].keylen = n;
        s->n++;
    }
    s->slots[j].epoch = epoch;
    s->slots[j].region = (unsigned char)r;
    s->slots[j].moving = state && strcmp(state, "home") != 0;
    return 0;
}

/* One scan of the catalog's directory into a new snapshot. */
static int snap_build(const dom_config *cfg, dom_catalog *cat, dir_snap **out)
{
    dir_snap *s = dom_calloc(1, sizeof(*s));
    if (!s)
        return DOM_ENOMEM;
    s->began = now_real();
    double t0 = dom_mono();
    int rc = snap_grow(s);
    if (rc == 0)
        rc = dom_catalog_scan_directory(cat, snap_add, s);
    (void)cfg;
    s->took = dom_mono() - t0;
    if (rc < 0) {
        snap_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void swap_in(serve_dir *d, dir_snap *s)
{
    pthread_rwlock_wrlock(&d->lock);
    dir_snap *old = d->snap;
    d->snap = s;
    pthread_rwlock_unlock(&d->lock);
    snap_free(old);
}

static void *refresher(void *arg)
{
    serve_dir *d = arg;
    dom_catalog *cat = NULL;
    for (;;) {
        pthread_mutex_lock(&d->stop_mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double t = (double)until.tv_sec + (double)until.tv_nsec / 1e9 + d->refresh_sec;
        until.tv_sec = (time_t)t;
        until.tv_nsec = (long)((t - (double)until.tv_sec) * 1e9);
        while (!d->stop && pthread_cond_timedwait(&d->stop_cv, &d->stop_mu, &until) == 0)
            ;
        int stop = d->stop;
        pthread_mutex_unlock(&d->stop_mu);
        if (stop)
            break;
        int rc = cat ? 0 : dom_catalog_open(&cat, d->cfg, DOM_CATALOG_READONLY);
        dir_snap *s = NULL;
        if (rc == 0)
            rc = snap_build(d->cfg, cat, &s);
        if (rc == 0) {
            swap_in(d, s);
            __atomic_add_fetch(&d->refreshes, 1, __ATOMIC_RELAXED);
        } else {
            /* the last snapshot stays; its age says how stale it is, and
             * the next refresh opens the catalog again */
            pthread_rwlock_wrlock(&d->lock);
            snprintf(d->last_error, sizeof(d->last_error), "%s", dom_error_last());
            pthread_rwlock_unlock(&d->lock);
            __atomic_add_fetch(&d->failures, 1, __ATOMIC_RELAXED);
            dom_catalog_close(cat);
            cat = NULL;
        }
    }
    dom_catalog_close(cat);
    return NULL;
}

int serve_dir_start(serve_dir **out, const dom_config *cfg, dom_catalog *cat, double refresh_sec)
{
    *out = NULL;
    serve_dir *d = dom_calloc(1, sizeof(*d));
    if (!d)
        return DOM_ENOMEM;
    d->cfg = cfg;
    d->refresh_sec = refresh_sec;
    pthread_rwlock_init(&d->lock, NULL);
    pthread_mutex_init(&d->stop_mu, NULL);
    pthread_cond_init(&d->stop_cv, NULL);
    /* the first snapshot before the first request */
    int rc = snap_build(cfg, cat, &d->snap);
    if (rc == 0 && pthread_create(&d->thread, NULL, refresher, d) != 0)
        rc = dom_error_set(DOM_ERROR, "serve: cannot start the directory's refresh thread");
    if (rc < 0) {
        snap_free(d->snap);
        dom_free(d);
        return rc;
    }
    d->running = 1;
    *out = d;
    return 0;
}

void serve_dir_stop(serve_dir *d)
{
    if (!d)
        return;
    if (d->running) {
        pthread_mutex_lock(&d->stop_mu);
        d->stop = 1;
        pthread_cond_broadcast(&d->stop_cv);
        pthread_mutex_unlock(&d->stop_mu);
        pthread_join(d->thread, NULL);
    }
    snap_free(d->snap);
    pthread_rwlock_destroy(&d->lock);
    pthread_mutex_destroy(&d->stop_mu);
    pthread_cond_destroy(&d->stop_cv);
    dom_free(d);
}

int serve_dir_locate(serve_dir *d, const char *key, serve_location *out)
{
    size_t n = strlen(key);
    int found = 0;
    pthread_rwlock_rdlock(&d->lock);
    const dir_snap *s = d->snap;
    size_t j = dom_fnv1a(key, n) & (s->cap - 1);
    while (s->slots[j].key) {
        if (s->slots[j].keylen == n && memcmp(s->slots[j].key, key, n) == 0) {
            snprintf(out->region, sizeof(out->region), "%s", s->names[s->slots[j].region]);
            out->epoch = s->slots[j].epoch;
            out->moving = s->slots[j].moving;
            found = 1;
            break;
        }
        j = (j + 1) & (s->cap - 1);
    }
    out->as_of = s->began;
    out->age_sec = now_real() - s->began;
    pthread_rwlock_unlock(&d->lock);
    return found;
}

void serve_dir_info(serve_dir *d, serve_dir_stats *out)
{
    pthread_rwlock_rdlock(&d->lock);
    out->tenants = (int64_t)d->snap->n;
    out->as_of = d->snap->began;
    out->age_sec = now_real() - d->snap->began;
    out->scan_sec = d->snap->took;
    out->refresh_sec = d->refresh_sec;
    snprintf(out->last_error, sizeof(out->last_error), "%s", d->last_error);
    pthread_rwlock_unlock(&d->lock);
    out->refreshes = __atomic_load_n(&d->refreshes, __ATOMIC_RELAXED);
    out->failures = __atomic_load_n(&d->failures, __ATOMIC_RELAXED);
}
