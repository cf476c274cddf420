/*
 * sqlite_app.c - an application's write load on an SQLite demo region, for
 * bench/fence_cost_sqlite.sh.  A bench tool.
 *
 *   sqlite_app DB SECONDS LO HI
 *       for SECONDS, transactions of the bench's app: an UPDATE of a
 *       users row and an INSERT of a messages row of one tenant drawn from
 *       LO..HI (tenants at home), each in BEGIN IMMEDIATE ... COMMIT, as
 *       an application with one connection writes; prints the
 *       transactions per second.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int must(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "sqlite_app: %s: %s\n", what, sqlite3_errmsg(db));
        exit(2);
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: sqlite_app DB SECONDS LO HI\n");
        return 2;
    }
    double secs = atof(argv[2]);
    long long lo = atoll(argv[3]), hi = atoll(argv[4]);
    sqlite3 *db;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) {
        fprintf(stderr, "sqlite_app: %s: %s\n", argv[1], sqlite3_errmsg(db));
        return 2;
    }
    sqlite3_busy_timeout(db, 10000);
    must(db,
         sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", NULL, NULL,
                      NULL),
         "pragmas");
    sqlite3_stmt *b, *c, *u, *i;
    must(db, sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &b, NULL), "prepare");
    must(db, sqlite3_prepare_v2(db, "COMMIT", -1, &c, NULL), "prepare");
    must(db,
         sqlite3_prepare_v2(db, "UPDATE users SET name = name WHERE user_id = ?1", -1, &u, NULL),
         "prepare");
    must(
        db,
        sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO messages SELECT user_id, 3000000000 + ?2, 'app', "
                           "'hello', '2026-01-01 00:00:00' FROM users WHERE user_id = ?1",
                           -1, &i, NULL),
        "prepare");
    unsigned seed = 42;
    long long n = 0;
    double t0 = now(), t;
    while ((t = now()) - t0 < secs) {
        long long k = lo + (long long)(rand_r(&seed) % (unsigned)(hi - lo + 1));
        must(db, sqlite3_step(b), "begin");
        sqlite3_reset(b);
        sqlite3_bind_int64(u, 1, k);
        must(db, sqlite3_step(u), "update");
        sqlite3_reset(u);
        sqlite3_bind_int64(i, 1, k);
        sqlite3_bind_int64(i, 2, (int64_t)rand_r(&seed));
        must(db, sqlite3_step(i), "insert");
        sqlite3_reset(i);
        must(db, sqlite3_step(c), "commit");
        sqlite3_reset(c);
        n++;
    }
    printf("%.0f\n", (double)n / (t - t0));
    sqlite3_finalize(b);
    sqlite3_finalize(c);
    sqlite3_finalize(u);
    sqlite3_finalize(i);
    sqlite3_close(db);
    return 0;
}
