/*
 * writer.c - an application that keeps writing while domicile moves its
 * tenants, and the checker of what it was told.  A test tool.
 *
 *   writer run CONFIG KEYS ID SECONDS LOG
 *       inserts and updates `messages` rows of random tenants from the file
 *       KEYS, in the region where it believes each tenant lives; retries on
 *       "moving; retry" (and on any serialization failure, SQLSTATE 40001),
 *       follows "lives in region R"; logs every write the database
 *       acknowledged, one line each:
 *         I|U TENANT ROW BODY REGION T0 T1 TFIRST REFUSALS
 *       T0..T1 the acknowledged attempt, TFIRST the first attempt's start,
 *       REFUSALS the "moving; retry" answers before it (microseconds of
 *       CLOCK_REALTIME); a last line "# acks ..." when the writer finished.
 *       Exits 2 on anything unexpected, e.g. an update of its own row that
 *       matched nothing in the tenant's home (a lost row).  SQLite and
 *       PostgreSQL regions; with WRITER_ISOLATION=repeatable-read (or
 *       serializable) a PostgreSQL write is a transaction at that level
 *       that first reads the tenant's rows, so its snapshot is older than
 *       its write.
 *   writer check CONFIG LOG...
 *       I2: every acknowledged write is in the tenant's home, with its last
 *       acknowledged value, and in no other region; the home is where the
 *       journal's last flip of the tenant took it, and must be the
 *       directory's.  I1, from the acknowledgements' times and the flip
 *       times of the journal alone: each region acknowledged the tenant's
 *       writes only within its time as the tenant's home, in the order of
 *       the flips, and no two regions' writes overlapped.  Exit 0 when both
 *       hold, 1 when not, 2 when a log is malformed or incomplete.
 */
#include <errno.h>
#include <stdint.h>
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
    /* connected to every PostgreSQL region from the start, as an
     * application's pool is: a redirect costs no connection set-up, which
     * would count in the write pause it measures */
    conn *db[DOM_MAX_REGIONS] = {0};
    for (size_t r = 0; r < cfg->nregions; r++)
        if (cfg->regions[r].dsn.kind == DOM_DSN_PG)
            db[r] = open_conn(cfg, (int)r);
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
        /* the first attempt's start and the refusals ("moving; retry")
         * before the acknowledgement: the pause this write saw */
        int64_t tfirst = now_us();
        int refusals = 0;
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
                fprintf(log, "%c %lld %lld %s %s %lld %lld %lld %d\n", update ? 'U' : 'I',
                        (long long)keys[ki], (long long)msg, body, cfg->regions[r].name,
                        (long long)t0, (long long)t1, (long long)tfirst, refusals);
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
                refusals++;
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

/* One flip of a tenant, from the journal: its batch went src -> dst at t
 * (the catalog's flipped_at, in microseconds of the same clock as the
 * writers' acknowledgements). */
typedef struct flip {
    int64_t key;
    int src, dst;
    int64_t t;
} flip;

static int cmp_flip(const void *a, const void *b)
{
    const flip *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

static const char FLIPS_SQL[] =
    "SELECT bt.tenant, b.src, b.dst, b.flipped_at FROM %sbatch_tenants bt JOIN %sbatches b "
    "ON b.id = bt.batch WHERE b.flipped_at IS NOT NULL AND b.flipped_at > 0";

static int add_flip(const dom_config *cfg, flip **f, size_t *n, size_t *cap, const char *key,
                    const char *src, const char *dst, double at)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        *f = realloc(*f, *cap * sizeof(flip));
    }
    flip *x = &(*f)[(*n)++];
    x->key = strtoll(key, NULL, 10);
    x->src = dom_config_region(cfg, src);
    x->dst = dom_config_region(cfg, dst);
    x->t = (int64_t)(at * 1e6);
    if (x->src < 0 || x->dst < 0) {
        fprintf(stderr, "writer: the journal names an unknown region (%s -> %s)\n", src, dst);
        return -1;
    }
    return 0;
}

/* Every flip of every tenant recorded in the catalog's journal (SQLite or
 * PostgreSQL), sorted by tenant and time; -1 when it cannot be read. */
static int read_flips(const dom_config *cfg, flip **out, size_t *nout)
{
    flip *f = NULL;
    size_t n = 0, cap = 0;
    char sql[512];
    if (cfg->catalog.kind == DOM_DSN_PG) {
        PGconn *pg = PQconnectdb(cfg->catalog.conninfo);
        snprintf(sql, sizeof(sql), FLIPS_SQL, "domicile_catalog.", "domicile_catalog.");
        PGresult *r = PQstatus(pg) == CONNECTION_OK ? PQexec(pg, sql) : NULL;
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "writer: cannot read the journal: %s", PQerrorMessage(pg));
            PQclear(r);
            PQfinish(pg);
            return -1;
        }
        for (int i = 0; i < PQntuples(r); i++)
            if (add_flip(cfg, &f, &n, &cap, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                         PQgetvalue(r, i, 2), strtod(PQgetvalue(r, i, 3), NULL)) < 0) {
                PQclear(r);
                PQfinish(pg);
                free(f);
                return -1;
            }
        PQclear(r);
        PQfinish(pg);
    } else {
        sqlite3 *cat;
        sqlite3_stmt *st = NULL;
        snprintf(sql, sizeof(sql), FLIPS_SQL, "", "");
        if (sqlite3_open_v2(cfg->catalog.path, &cat, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(cat, sql, -1, &st, NULL) != SQLITE_OK) {
            fprintf(stderr, "writer: cannot read the journal: %s\n", sqlite3_errmsg(cat));
            sqlite3_close(cat);
            return -1;
        }
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            if (add_flip(cfg, &f, &n, &cap, (const char *)sqlite3_column_text(st, 0),
                         (const char *)sqlite3_column_text(st, 1),
                         (const char *)sqlite3_column_text(st, 2),
                         sqlite3_column_double(st, 3)) < 0)
                break;
        sqlite3_finalize(st);
        sqlite3_close(cat);
        if (rc != SQLITE_DONE) {
            free(f);
            return -1;
        }
    }
    qsort(f, n, sizeof(flip), cmp_flip);
    *out = f;
    *nout = n;
    return 0;
}

/* Reads the writers' logs into *out; -1 (said why) on a line that is not
 * an acknowledgement or a log that does not end with the writer's summary
 * (a writer that died). */
static int read_logs(const dom_config *cfg, int nlogs, char **logs, ack **out, size_t *nout)
{
    ack *a = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < nlogs; i++) {
        FILE *f = fopen(logs[i], "r");
        char line[512], op, region[64];
        int lineno = 0, summary = 0;
        if (!f) {
            fprintf(stderr, "writer: cannot open %s\n", logs[i]);
            goto fail;
        }
        while (fgets(line, sizeof(line), f)) {
            ack x = {0};
            long long key, msg, t0, t1, tf;
            int refusals, end = 0;
            lineno++;
            if (strncmp(line, "# acks ", 7) == 0) {
                summary = 1;
                continue;
            }
            if (summary ||
                sscanf(line, "%c %lld %lld %39s %63s %lld %lld %lld %d%n", &op, &key, &msg, x.body,
                       region, &t0, &t1, &tf, &refusals, &end) != 9 ||
                (op != 'I' && op != 'U') || line[end] != '\n' || t0 > t1 || tf > t0 ||
                (x.region = dom_config_region(cfg, region)) < 0) {
                fprintf(stderr, "writer: %s:%d: not an acknowledgement: %s", logs[i], lineno, line);
                fclose(f);
                goto fail;
            }
            x.key = key, x.msg = msg, x.t0 = t0, x.t1 = t1;
            if (n == cap) {
                cap = cap ? cap * 2 : 4096;
                a = realloc(a, cap * sizeof(ack));
            }
            a[n++] = x;
        }
        fclose(f);
        if (!summary) {
            fprintf(stderr, "writer: %s: no summary line: its writer did not finish\n", logs[i]);
            goto fail;
        }
    }
    *out = a;
    *nout = n;
    return 0;
fail:
    free(a);
    return -1;
}

static int cmp_t1(const void *a, const void *b)
{
    const ack *x = a, *y = b;
    return x->t1 < y->t1 ? -1 : x->t1 > y->t1;
}

/* I1 for one tenant, from its acknowledgements t[0..m) and its flips
 * f[0..k) in the journal alone: the flips chain (each starts where the last
 * ended), so the tenant's homes are H0 until the first flip, then each
 * flip's target until the next; every write a region acknowledged started
 * before that region's time as home ended and ended after it began (a
 * write committed in between); and, whatever the journal says, no write
 * of one region started after a write of another region that followed it
 * had ended.  Returns the number of violations, each reported. */
static long check_one_writer(const dom_config *cfg, ack *t, size_t m, const flip *f, size_t k,
                             int dir_home)
{
    long bad = 0;
    const char *name = NULL;
    for (size_t i = 1; i < k; i++)
        if (f[i].src != f[i - 1].dst) {
            fprintf(stderr,
                    "INTERLEAVED: tenant %lld: the journal flips it %s -> %s, then %s -> %s\n",
                    (long long)t[0].key, cfg->regions[f[i - 1].src].name,
                    cfg->regions[f[i - 1].dst].name, cfg->regions[f[i].src].name,
                    cfg->regions[f[i].dst].name);
            return 1;
        }
    for (size_t a = 0; a < m; a++) {
        /* home i: region (i ? f[i-1].dst : f[0].src), from f[i-1].t to f[i].t */
        int fits = 0;
        for (size_t i = 0; i <= k && !fits; i++) {
            int r = k == 0 ? dir_home : i ? f[i - 1].dst : f[0].src;
            int64_t from = i ? f[i - 1].t : INT64_MIN, to = i < k ? f[i].t : INT64_MAX;
            fits = r == t[a].region && t[a].t1 >= from && t[a].t0 <= to;
        }
        if (!fits) {
            bad++;
            name = cfg->regions[t[a].region].name;
            fprintf(stderr,
                    "INTERLEAVED: tenant %lld: %s acknowledged a write (row %lld, %lld..%lld us) "
                    "outside its time as the tenant's home (%zu flips in the journal)\n",
                    (long long)t[a].key, name, (long long)t[a].msg, (long long)t[a].t0,
                    (long long)t[a].t1, k);
        }
    }
    /* by time alone: the writes of each run of one region started before
     * the first write of the next region's run ended */
    qsort(t, m, sizeof(ack), cmp_t1);
    int64_t run_max_t0 = t[0].t0;
    for (size_t x = 1; x < m; x++) {
        if (t[x].region != t[x - 1].region) {
            int64_t min_t1 = t[x].t1;
            for (size_t q = x; q < m && t[q].region == t[x].region; q++)
                if (t[q].t1 < min_t1)
                    min_t1 = t[q].t1;
            if (run_max_t0 > min_t1) {
                bad++;
                fprintf(stderr, "INTERLEAVED: tenant %lld took writes in %s and %s at once\n",
                        (long long)t[x].key, cfg->regions[t[x - 1].region].name,
                        cfg->regions[t[x].region].name);
            }
            run_max_t0 = t[x].t0;
        } else if (t[x].t0 > run_max_t0) {
            run_max_t0 = t[x].t0;
        }
    }
    return bad;
}

static int check(const char *cfgpath, int nlogs, char **logs)
{
    dom_config *cfg = load(cfgpath);
    dom_ctx *ctx;
    ack *a = NULL;
    flip *fl = NULL;
    size_t n = 0, nfl = 0;
    if (dom_open(&ctx, cfgpath) != 0) {
        fprintf(stderr, "writer: %s\n", dom_error_last());
        return 2;
    }
    if (read_logs(cfg, nlogs, logs, &a, &n) < 0 || read_flips(cfg, &fl, &nfl) < 0) {
        free(a);
        dom_close(ctx);
        dom_config_free(cfg);
        return 2;
    }
    qsort(a, n, sizeof(ack), cmp_ack);
    conn *db[DOM_MAX_REGIONS] = {0};
    for (size_t r = 0; r < cfg->nregions; r++)
        db[r] = open_conn(cfg, (int)r);
    long lost = 0, stale = 0, dup = 0, interleaved = 0, rows = 0, homes = 0;
    size_t fi = 0;
    for (size_t i = 0; i < n;) {
        /* one tenant: acks i..e, flips fi..fe */
        size_t e = i;
        while (e < n && a[e].key == a[i].key)
            e++;
        while (fi < nfl && fl[fi].key < a[i].key)
            fi++;
        size_t fe = fi;
        while (fe < nfl && fl[fe].key == a[i].key)
            fe++;
        char ks[32];
        snprintf(ks, sizeof(ks), "%lld", (long long)a[i].key);
        dom_location loc;
        int dir_home = dom_locate(&loc, ctx, ks) == 0 ? dom_config_region(cfg, loc.region) : -1;
        /* the home by the journal: where its last flip took it */
        int home = fe > fi ? fl[fe - 1].dst : dir_home;
        if (home != dir_home) {
            homes++;
            fprintf(
                stderr,
                "HOME: tenant %s: the journal's last flip took it to %s, the directory says %s\n",
                ks, home >= 0 ? cfg->regions[home].name : "?",
                dir_home >= 0 ? cfg->regions[dir_home].name : "nothing");
        }
        /* I2, row by row: its acks in time order; the last is what must stay */
        for (size_t x = i; x < e;) {
            size_t y = x;
            while (y < e && a[y].msg == a[x].msg)
                y++;
            const ack *last = &a[y - 1];
            rows++;
            for (size_t r = 0; r < cfg->nregions; r++) {
                char body[64] = {0};
                int found = read_body(db[r], a[x].key, a[x].msg, body, sizeof(body));
                if ((int)r == home) {
                    if (!found) {
                        lost++;
                        fprintf(stderr, "LOST: tenant %lld row %lld not in its home %s\n",
                                (long long)a[x].key, (long long)a[x].msg, cfg->regions[r].name);
                    } else if (strcmp(body, last->body) != 0) {
                        stale++;
                        fprintf(stderr, "STALE: tenant %lld row %lld is '%s', last ack '%s'\n",
                                (long long)a[x].key, (long long)a[x].msg, body, last->body);
                    }
                } else if (found) {
                    dup++;
                    fprintf(stderr, "DUPLICATE: tenant %lld row %lld also in %s\n",
                            (long long)a[x].key, (long long)a[x].msg, cfg->regions[r].name);
                }
            }
            x = y;
        }
        interleaved += check_one_writer(cfg, a + i, e - i, fl + fi, fe - fi, dir_home);
        i = e;
        fi = fe;
    }
    printf("rows %ld acks %zu lost %ld stale %ld duplicated %ld interleaved %ld homes %ld\n", rows,
           n, lost, stale, dup, interleaved, homes);
    for (size_t r = 0; r < cfg->nregions; r++)
        close_conn(db[r]);
    free(a);
    free(fl);
    dom_close(ctx);
    dom_config_free(cfg);
    return lost || stale || dup || interleaved || homes || n == 0 ? 1 : 0;
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
