/*
 * writer.c - an application that keeps writing while domicile moves its
 * tenants, and the checker of what it was told.  A test tool.
 *
 *   writer run CONFIG KEYS ID SECONDS LOG
 *       inserts and updates `messages` rows of random tenants from the file
 *       KEYS, in the region where it believes each tenant lives; retries on
 *       "moving; retry" (and on any serialization failure, SQLSTATE 40001),
 *       follows "lives in region R"; logs every write the database
 *       acknowledged with its wall-clock interval.  SQLite and PostgreSQL
 *       regions; with WRITER_ISOLATION=repeatable-read (or serializable)
 *       a PostgreSQL write is a transaction at that level that first reads
 *       the tenant's rows, so its snapshot is older than its write.
 *   writer check CONFIG LOG...
 *       I2: every acknowledged write is in the tenant's home, with its last
 *       acknowledged value, and in no other region; I1: no tenant had writes
 *       accepted by two regions in interleaved time.  Exit 0 when both hold.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "domicile.h"

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static dom_config *load(const char *path)
{
    dom_config *cfg;
    if (dom_config_load(&cfg, path) != 0) {
        fprintf(stderr, "writer: %s\n", dom_error_last());
        exit(2);
    }
    return cfg;
}

static sqlite3 *open_region(const dom_config *cfg, int r)
{
    sqlite3 *db;
    if (sqlite3_open_v2(cfg->regions[r].dsn.path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "writer: cannot open %s\n", cfg->regions[r].dsn.path);
        exit(2);
    }
    sqlite3_busy_timeout(db, 10000);
    return db;
}

/* A connection to a region, either engine. */
typedef struct conn {
    sqlite3 *db;
    PGconn *pg;
} conn;

static conn *open_conn(const dom_config *cfg, int r)
{
    conn *c = calloc(1, sizeof(*c));
    if (cfg->regions[r].dsn.kind == DOM_DSN_PG) {
        c->pg = PQconnectdb(cfg->regions[r].dsn.conninfo);
        if (PQstatus(c->pg) != CONNECTION_OK) {
            fprintf(stderr, "writer: cannot connect to %s\n", cfg->regions[r].name);
            exit(2);
        }
        PQclear(PQexec(c->pg, "SET client_min_messages = warning"));
    } else {
        c->db = open_region(cfg, r);
    }
    return c;
}

static void close_conn(conn *c)
{
    if (!c)
        return;
    if (c->pg)
        PQfinish(c->pg);
    else
        sqlite3_close(c->db);
    free(c);
}

enum { WR_OK, WR_RETRY, WR_ERROR };

/* One write; *changed is the number of rows it changed, msg the error. */
static int pg_write(conn *c, const char *iso, int update, int64_t key, int64_t msgno,
                    const char *body, int *changed, char *msg, size_t msgn)
{
    char k[32], m[32];
    snprintf(k, sizeof(k), "%lld", (long long)key);
    snprintf(m, sizeof(m), "%lld", (long long)msgno);
    const char *pv[3] = {k, m, body};
    PGresult *r;
    *changed = 0;
    if (iso) {
        char begin[96];
        snprintf(begin, sizeof(begin), "BEGIN ISOLATION LEVEL %s", iso);
        PQclear(PQexec(c->pg, begin));
        /* read first: the snapshot predates the write */
        r = PQexecParams(c->pg, "SELECT count(*) FROM messages WHERE user_id = $1", 1, NULL, pv,
                         NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            goto fail;
        PQclear(r);
    }
    r = PQexecParams(c->pg,
                     update ? "UPDATE messages SET body = $3 WHERE user_id = $1 AND message_no = $2"
                            : "INSERT INTO messages VALUES ($1, $2, 'writer', $3, "
                              "'2026-11-30T00:00:00Z')",
                     3, NULL, pv, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        goto fail;
    *changed = atoi(PQcmdTuples(r));
    PQclear(r);
    if (iso) {
        r = PQexec(c->pg, "COMMIT");
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            goto fail;
        PQclear(r);
    }
    return WR_OK;
fail : {
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(msg, msgn, "%s",
             PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
                 ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
                 : PQerrorMessage(c->pg));
    int retry = st && (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0);
    PQclear(r);
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        PQclear(PQexec(c->pg, "ROLLBACK"));
    if (retry && !strstr(msg, "is moving; retry"))
        snprintf(msg, msgn, "serialization failure; retry");
    return retry ? WR_RETRY : WR_ERROR;
}
}

static int sq_write(conn *c, int update, int64_t key, int64_t msgno, const char *body, int *changed,
                    char *msg, size_t msgn)
{
    sqlite3_stmt *st;
    const char *sql = update ? "UPDATE messages SET body = ?3 WHERE user_id = ?1 AND "
                               "message_no = ?2"
                             : "INSERT INTO messages VALUES (?1, ?2, 'writer', ?3, "
                               "'2026-11-30T00:00:00Z')";
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(msg, msgn, "%s", sqlite3_errmsg(c->db));
        return WR_ERROR;
    }
    sqlite3_bind_int64(st, 1, key);
    sqlite3_bind_int64(st, 2, msgno);
    sqlite3_bind_text(st, 3, body, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *changed = sqlite3_changes(c->db);
    snprintf(msg, msgn, "%s", sqlite3_errmsg(c->db));
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return WR_OK;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? WR_RETRY : WR_ERROR;
}

/* The body of a row in a region: 1 found, 0 not. */
static int read_body(conn *c, int64_t key, int64_t msgno, char *body, size_t n)
{
    int found = 0;
    if (c->pg) {
        char k[32], m[32];
        snprintf(k, sizeof(k), "%lld", (long long)key);
        snprintf(m, sizeof(m), "%lld", (long long)msgno);
        const char *pv[2] = {k, m};
        PGresult *r = PQexecParams(c->pg,
                                   "SELECT body FROM messages WHERE user_id = $1 AND "
                                   "message_no = $2",
                                   2, NULL, pv, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "writer: %s", PQerrorMessage(c->pg));
            exit(2);
        }
        if ((found = PQntuples(r) > 0))
            snprintf(body, n, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        return found;
    }
    sqlite3_stmt *st;
    sqlite3_prepare_v2(c->db, "SELECT body FROM messages WHERE user_id = ?1 AND message_no = ?2",
                       -1, &st, NULL);
    sqlite3_bind_int64(st, 1, key);
    sqlite3_bind_int64(st, 2, msgno);
    if ((found = sqlite3_step(st) == SQLITE_ROW))
        snprintf(body, n, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return found;
}

typedef struct ack {
    int64_t key, msg;
    int region;
    int64_t t0, t1;
    char body[40];
} ack;

static int run(const char *cfgpath, const char *keyfile, int id, double seconds, const char *logp)
{
    dom_config *cfg = load(cfgpath);
    dom_ctx *ctx;
    if (dom_open(&ctx, cfgpath) != 0) {
        fprintf(stderr, "writer: %s\n", dom_error_last());
        return 2;
    }
    FILE *kf = fopen(keyfile, "r"), *log = fopen(logp, "w");
    if (!kf || !log) {
        fprintf(stderr, "writer: cannot open %s or %s\n", keyfile, logp);
        return 2;
    }
    int64_t *keys = NULL;
    int *where = NULL;
    size_t n = 0, cap = 0;
    long long k;
    while (fscanf(kf, "%lld", &k) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            keys = realloc(keys, cap * sizeof(int64_t));
            where = realloc(where, cap * sizeof(int));
        }
        keys[n] = k;
        char ks[32];
        snprintf(ks, sizeof(ks), "%lld", k);
        dom_location loc;
        where[n] = dom_locate(&loc, ctx, ks) == 0 ? dom_config_region(cfg, loc.region) : 0;
        n++;
    }
    fclose(kf);
    if (!n)
        return 2;
    conn *db[DOM_MAX_REGIONS] = {0};
    const char *iso_env = getenv("WRITER_ISOLATION");
    const char *iso = !iso_env                                  ? NULL
                      : strcmp(iso_env, "repeatable-read") == 0 ? "REPEATABLE READ"
                      : strcmp(iso_env, "serializable") == 0    ? "SERIALIZABLE"
                                                                : NULL;
    /* rows this writer inserted, for updates: (key index, msg) */
    int64_t *mine_key = calloc(200000, sizeof(int64_t)),
            *mine_msg = calloc(200000, sizeof(int64_t));
    size_t nmine = 0;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
    int64_t end = now_us() + (int64_t)(seconds * 1e6), seq = 0;
    long acks = 0, retries = 0, redirects = 0, conflicts = 0;
    while (now_us() < end) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        int update = nmine > 0 && seed % 3 == 0;
        size_t ki;
        int64_t msg;
        if (update) {
            size_t m = (size_t)((seed >> 8) % nmine);
            for (ki = 0; ki < n && keys[ki] != mine_key[m]; ki++)
                ;
            msg = mine_msg[m];
        } else {
            ki = (size_t)((seed >> 8) % n);
            msg = 1000000000LL + (int64_t)id * 10000000LL + ++seq;
        }
        char body[40];
        snprintf(body, sizeof(body), "w%d-%lld", id, (long long)++seq);
        for (int attempt = 0; attempt < 10000; attempt++) {
            int r = where[ki];
            if (!db[r])
                db[r] = open_conn(cfg, r);
            char msgbuf[512];
            int changed = 0;
            int64_t t0 = now_us();
            int rc = db[r]->pg ? pg_write(db[r], iso, update, keys[ki], msg, body, &changed, msgbuf,
                                          sizeof(msgbuf))
                               : sq_write(db[r], update, keys[ki], msg, body, &changed, msgbuf,
                                          sizeof(msgbuf));
            int64_t t1 = now_us();
            if (rc == WR_OK) {
                if (update && changed == 0) {
                    /* nothing matched: the tenant's rows left this region (a region
                     * cannot refuse an update of rows it no longer has), so ask
                     * the directory where it lives and write there */
                    char ks[32];
                    dom_location loc;
                    snprintf(ks, sizeof(ks), "%lld", (long long)keys[ki]);
                    int to =
                        dom_locate(&loc, ctx, ks) == 0 ? dom_config_region(cfg, loc.region) : -1;
                    if (to < 0 || to == r) {
                        fprintf(stderr, "writer %d: update of %lld/%lld matched nothing in %s\n",
                                id, (long long)keys[ki], (long long)msg, cfg->regions[r].name);
                        return 2;
                    }
                    where[ki] = to;
                    redirects++;
                    continue;
                }
                fprintf(log, "%c %lld %lld %s %s %lld %lld\n", update ? 'U' : 'I',
                        (long long)keys[ki], (long long)msg, body, cfg->regions[r].name,
                        (long long)t0, (long long)t1);
                acks++;
                if (!update && nmine < 200000) {
                    mine_key[nmine] = keys[ki];
                    mine_msg[nmine++] = msg;
                }
                break;
            }
            if (strstr(msgbuf, "serialization failure; retry")) {
                conflicts++;
                continue;
            }
            const char *lives = strstr(msgbuf, " lives in region ");
            if (strstr(msgbuf, "is moving; retry")) {
                retries++;
                usleep(1000);
            } else if (lives) {
                char region[64] = {0};
                sscanf(lives + strlen(" lives in region "), "%63s", region);
                int to = dom_config_region(cfg, region);
                if (to < 0) {
                    fprintf(stderr, "writer: bad redirect: %s\n", msgbuf);
                    return 2;
                }
                where[ki] = to;
                redirects++;
            } else if (rc == WR_RETRY) {
                usleep(1000);
            } else {
                fprintf(stderr, "writer %d: unexpected error: %s\n", id, msgbuf);
                return 2;
            }
        }
    }
    fprintf(log, "# acks %ld retries %ld redirects %ld conflicts %ld\n", acks, retries, redirects,
            conflicts);
    fclose(log);
    for (int r = 0; r < DOM_MAX_REGIONS; r++)
        close_conn(db[r]);
    dom_close(ctx);
    dom_config_free(cfg);
    free(keys);
    free(where);
    free(mine_key);
    free(mine_msg);
    printf("%ld %ld %ld %ld\n", acks, retries, redirects, conflicts);
    return 0;
}

static int cmp_ack(const void *a, const void *b)
{
    const ack *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->msg != y->msg)
        return x->msg < y->msg ? -1 : 1;
    return x->t1 < y->t1 ? -1 : x->t1 > y->t1;
}

static int check(const char *cfgpath, int nlogs, char **logs)
{
    dom_config *cfg = load(cfgpath);
    dom_ctx *ctx;
    if (dom_open(&ctx, cfgpath) != 0)
        return 2;
    ack *a = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < nlogs; i++) {
        FILE *f = fopen(logs[i], "r");
        char line[512], op, region[64];
        if (!f)
            return 2;
        while (fgets(line, sizeof(line), f)) {
            ack x = {0};
            long long key, msg, t0, t1;
            if (line[0] == '#')
                continue;
            if (sscanf(line, "%c %lld %lld %39s %63s %lld %lld", &op, &key, &msg, x.body, region,
                       &t0, &t1) != 7)
                continue;
            x.key = key, x.msg = msg, x.t0 = t0, x.t1 = t1;
            x.region = dom_config_region(cfg, region);
            if (n == cap) {
                cap = cap ? cap * 2 : 4096;
                a = realloc(a, cap * sizeof(ack));
            }
            a[n++] = x;
        }
        fclose(f);
    }
    qsort(a, n, sizeof(ack), cmp_ack);
    conn *db[DOM_MAX_REGIONS] = {0};
    for (size_t r = 0; r < cfg->nregions; r++)
        db[r] = open_conn(cfg, (int)r);
    long lost = 0, stale = 0, dup = 0, interleaved = 0, rows = 0;
    (void)cmp_ack;
    for (size_t i = 0; i < n;) {
        /* one row: its acks in time order; the last one is what must stay */
        size_t j = i;
        while (j < n && a[j].key == a[i].key && a[j].msg == a[i].msg)
            j++;
        const ack *last = &a[j - 1];
        char ks[32];
        snprintf(ks, sizeof(ks), "%lld", (long long)a[i].key);
        dom_location loc;
        int home = dom_locate(&loc, ctx, ks) == 0 ? dom_config_region(cfg, loc.region) : -1;
        rows++;
        for (size_t r = 0; r < cfg->nregions; r++) {
            char body[64] = {0};
            int found = read_body(db[r], a[i].key, a[i].msg, body, sizeof(body));
            if ((int)r == home) {
                if (!found) {
                    lost++;
                    fprintf(stderr, "LOST: tenant %lld row %lld not in its home %s\n",
                            (long long)a[i].key, (long long)a[i].msg, cfg->regions[r].name);
                } else if (strcmp(body, last->body) != 0) {
                    stale++;
                    fprintf(stderr, "STALE: tenant %lld row %lld is '%s', last ack '%s'\n",
                            (long long)a[i].key, (long long)a[i].msg, body, last->body);
                }
            } else if (found) {
                dup++;
                fprintf(stderr, "DUPLICATE: tenant %lld row %lld also in %s\n", (long long)a[i].key,
                        (long long)a[i].msg, cfg->regions[r].name);
            }
        }
        i = j;
    }
    /* I1, per tenant, over its acknowledged writes in time order: each run of
     * writes in one region ended before the next region's run began, and the
     * region changed no more often than the tenant was moved */
    sqlite3 *cat;
    if (sqlite3_open_v2(cfg->catalog.path, &cat, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return 2;
    sqlite3_stmt *mv;
    sqlite3_prepare_v2(cat,
                       "SELECT count(*) FROM batch_tenants bt JOIN batches b ON b.id = bt.batch "
                       "WHERE bt.tenant = ?1 AND b.step IN ('flipped', 'done')",
                       -1, &mv, NULL);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && a[j].key == a[i].key)
            j++;
        ack *t = malloc((j - i) * sizeof(ack));
        memcpy(t, &a[i], (j - i) * sizeof(ack));
        size_t m = j - i;
        for (size_t x = 1; x < m; x++) /* insertion sort by end time */
            for (size_t y = x; y > 0 && t[y - 1].t1 > t[y].t1; y--) {
                ack tmp = t[y];
                t[y] = t[y - 1];
                t[y - 1] = tmp;
            }
        long switches = 0;
        int64_t run_max_t0 = t[0].t0;
        for (size_t k = 1; k < m; k++) {
            if (t[k].region != t[k - 1].region) {
                switches++;
                /* the new region's first write ended after the old run's last began */
                int64_t min_t1 = t[k].t1;
                for (size_t q = k; q < m && t[q].region == t[k].region; q++)
                    if (t[q].t1 < min_t1)
                        min_t1 = t[q].t1;
                if (run_max_t0 > min_t1) {
                    interleaved++;
                    fprintf(stderr, "INTERLEAVED: tenant %lld took writes in %s and %s\n",
                            (long long)t[k].key, cfg->regions[t[k - 1].region].name,
                            cfg->regions[t[k].region].name);
                }
                run_max_t0 = t[k].t0;
            } else if (t[k].t0 > run_max_t0) {
                run_max_t0 = t[k].t0;
            }
        }
        sqlite3_bind_int64(mv, 1, t[0].key);
        long moves = sqlite3_step(mv) == SQLITE_ROW ? sqlite3_column_int64(mv, 0) : 0;
        sqlite3_reset(mv);
        if (switches > moves) {
            interleaved++;
            fprintf(stderr, "INTERLEAVED: tenant %lld changed region %ld times in %ld moves\n",
                    (long long)t[0].key, switches, moves);
        }
        free(t);
        i = j;
    }
    sqlite3_finalize(mv);
    sqlite3_close(cat);
    printf("rows %ld acks %zu lost %ld stale %ld duplicated %ld interleaved %ld\n", rows, n, lost,
           stale, dup, interleaved);
    for (size_t r = 0; r < cfg->nregions; r++)
        close_conn(db[r]);
    free(a);
    dom_close(ctx);
    dom_config_free(cfg);
    return lost || stale || dup || interleaved || n == 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "run") == 0)
        return run(argv[2], argv[3], atoi(argv[4]), atof(argv[5]), argv[6]);
    if (argc >= 4 && strcmp(argv[1], "check") == 0)
        return check(argv[2], argc - 3, argv + 3);
    fprintf(stderr, "usage: writer run CONFIG KEYS ID SECONDS LOG | writer check CONFIG LOG...\n");
    return 2;
}
