/*
 * writers.c - the demo's application: threads that keep inserting and
 * updating rows of random users, each in the region where it believes the
 * user lives, retrying when told "moving; retry" and following "lives in
 * region R".  They count what they were told; they do not move anything.
 * SQLite and PostgreSQL regions alike (on PostgreSQL "moving" is SQLSTATE
 * 40001 and "lives in" DM001).
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "demo/demo.h"
#include "util/util.h"

struct dom_demo_writers {
    const dom_config *cfg;
    int64_t *keys;
    int *where; /* shared guess of each user's region; races are harmless */
    size_t nkeys;
    pthread_t th[16];
    int nth;
    volatile int stop;
    pthread_mutex_t mu;
    dom_demo_write_stats st;
};

typedef struct wctx {
    dom_demo_writers *w;
    int id;
} wctx;

/* One write to region r; 0 when it was refused or failed, with the
 * message in err; *changed is the number of rows it changed. */
typedef struct wconn {
    sqlite3 *db;
    PGconn *pg;
} wconn;

static int open_region(wconn *c, const dom_region *r)
{
    if (r->dsn.kind == DOM_DSN_PG) {
        c->pg = PQconnectdb(r->dsn.conninfo);
        return PQstatus(c->pg) == CONNECTION_OK ? 0 : -1;
    }
    if (sqlite3_open_v2(r->dsn.path, &c->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(c->db, 5000);
    return 0;
}

static void close_region(wconn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    sqlite3_close(c->db);
}

enum { WR_DONE, WR_RETRY, WR_REFUSED };

static int write_one(wconn *c, int update, int64_t key, const char *body, int64_t msg, int *changed,
                     char *err, size_t errn)
{
    err[0] = '\0';
    *changed = 0;
    if (c->pg) {
        char k[32], m[32];
        snprintf(k, sizeof(k), "%lld", (long long)key);
        snprintf(m, sizeof(m), "%lld", (long long)msg);
        const char *pv[3] = {k, body, m};
        PGresult *r = PQexecParams(c->pg,
                                   update ? "UPDATE users SET name = $2 WHERE user_id = $1"
                                          : "INSERT INTO messages VALUES ($1, $3, 'demo', $2, "
                                            "date_trunc('second', now()))",
                                   update ? 2 : 3, NULL, pv, NULL, NULL, 0);
        int out = WR_DONE;
        if (PQresultStatus(r) == PGRES_COMMAND_OK) {
            *changed = atoi(PQcmdTuples(r));
        } else {
            const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            const char *msgp = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
            snprintf(err, errn, "%s", msgp ? msgp : PQerrorMessage(c->pg));
            out = st && (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0) ? WR_RETRY
                                                                               : WR_REFUSED;
        }
        PQclear(r);
        return out;
    }
    sqlite3_stmt *st;
    const char *sql = update ? "UPDATE users SET name = ?2 WHERE user_id = ?1"
                             : "INSERT INTO messages VALUES (?1, ?3, 'demo', ?2, "
                               "strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))";
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errn, "%s", sqlite3_errmsg(c->db));
        return WR_REFUSED;
    }
    sqlite3_bind_int64(st, 1, key);
    sqlite3_bind_text(st, 2, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, msg);
    int rc = sqlite3_step(st);
    *changed = sqlite3_changes(c->db);
    if (rc != SQLITE_DONE)
        snprintf(err, errn, "%s", sqlite3_errmsg(c->db));
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return WR_DONE;
    return rc == SQLITE_BUSY || strstr(err, "is moving; retry") ? WR_RETRY : WR_REFUSED;
}

static void *writer_main(void *arg)
{
    wctx *c = arg;
    dom_demo_writers *w = c->w;
    wconn db[DOM_MAX_REGIONS] = {0};
    int opened[DOM_MAX_REGIONS] = {0};
    uint64_t seed = 0x2545f4914f6cdd1dull * (uint64_t)(c->id + 7);
    int64_t seq = 0;
    dom_demo_write_stats local = {0};
    while (!w->stop) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        size_t k = (size_t)(seed % w->nkeys);
        int update = (seed >> 20) % 2;
        int64_t msg = 2000000000LL + (int64_t)c->id * 100000000LL + ++seq;
        char body[48];
        snprintf(body, sizeof(body), "demo writer %d #%lld", c->id, (long long)seq);
        for (int attempt = 0; attempt < 1000 && !w->stop; attempt++) {
            int r = w->where[k];
            if (!opened[r]) {
                if (open_region(&db[r], &w->cfg->regions[r]) < 0)
                    goto out;
                opened[r] = 1;
            }
            char err[256];
            int changed;
            int rc = write_one(&db[r], update, w->keys[k], body, msg, &changed, err, sizeof(err));
            if (rc == WR_DONE && (changed || !update)) {
                local.writes++;
                break;
            }
            const char *lives = strstr(err, " lives in region ");
            if (rc == WR_DONE || lives) {
                /* the user is gone from here: follow the message, or, for an
                 * update that matched nothing, the directory */
                int to = -1;
                if (lives) {
                    char region[64] = {0};
                    sscanf(lives + strlen(" lives in region "), "%63s", region);
                    to = dom_config_region(w->cfg, region);
                }
                if (to < 0 || to == r)
                    to = (r + 1) % (int)w->cfg->nregions;
                w->where[k] = to;
                local.redirected++;
            } else if (rc == WR_RETRY) {
                local.retried++;
                usleep(2000);
            } else {
                local.errors++;
                snprintf(local.last_error, sizeof(local.last_error), "region %s, user %lld: %s",
                         w->cfg->regions[r].name, (long long)w->keys[k], err);
                break;
            }
        }
    }
out:
    for (int i = 0; i < DOM_MAX_REGIONS; i++)
        if (opened[i])
            close_region(&db[i]);
    pthread_mutex_lock(&w->mu);
    w->st.writes += local.writes;
    w->st.retried += local.retried;
    w->st.redirected += local.redirected;
    w->st.errors += local.errors;
    if (local.errors)
        memcpy(w->st.last_error, local.last_error, sizeof(local.last_error));
    pthread_mutex_unlock(&w->mu);
    dom_free(c);
    return NULL;
}

int dom_demo_writers_start(dom_demo_writers **out, const dom_config *cfg, const int64_t *keys,
                           const int *regions, size_t n, int threads)
{
    *out = NULL;
    if (n == 0)
        return dom_error_set(DOM_EUSAGE, "no users to write to");
    dom_demo_writers *w = dom_calloc(1, sizeof(*w));
    if (!w || !(w->keys = dom_calloc(n, sizeof(int64_t))) ||
        !(w->where = dom_calloc(n, sizeof(int)))) {
        if (w) {
            dom_free(w->keys);
            dom_free(w);
        }
        return DOM_ENOMEM;
    }
    memcpy(w->keys, keys, n * sizeof(int64_t));
    memcpy(w->where, regions, n * sizeof(int));
    w->nkeys = n;
    w->cfg = cfg;
    pthread_mutex_init(&w->mu, NULL);
    for (int i = 0; i < threads && i < 16; i++) {
        wctx *c = dom_calloc(1, sizeof(*c));
        if (!c)
            break;
        c->w = w;
        c->id = i;
        if (pthread_create(&w->th[w->nth], NULL, writer_main, c) != 0) {
            dom_free(c);
            break;
        }
        w->nth++;
    }
    *out = w;
    return 0;
}

void dom_demo_writers_stop(dom_demo_writers *w, dom_demo_write_stats *out)
{
    if (!w)
        return;
    w->stop = 1;
    for (int i = 0; i < w->nth; i++)
        pthread_join(w->th[i], NULL);
    *out = w->st;
    pthread_mutex_destroy(&w->mu);
    dom_free(w->keys);
    dom_free(w->where);
    dom_free(w);
}
