/*
 * demo.c - the synthetic phone-cloud data set: a Beijing region holding every
 * user's account, devices, contacts, messages, photo metadata and backups,
 * two empty regions with the same schema, and a ready config.  The data is a
 * function of the seed and the number of users.  It does not move anything.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "demo/demo.h"
#include "util/util.h"

const char dom_demo_schema[] = "CREATE TABLE users (\n"
                               "    user_id    INTEGER PRIMARY KEY,\n"
                               "    country    TEXT NOT NULL,\n"
                               "    name       TEXT NOT NULL,\n"
                               "    email      TEXT,\n"
                               "    phone      TEXT,\n"
                               "    created_at TEXT NOT NULL\n"
                               ");\n"
                               "CREATE TABLE devices (\n"
                               "    device_id  TEXT PRIMARY KEY,\n"
                               "    user_id    INTEGER NOT NULL REFERENCES users (user_id),\n"
                               "    model      TEXT NOT NULL,\n"
                               "    os_version TEXT,\n"
                               "    last_seen  TEXT\n"
                               ");\n"
                               "CREATE INDEX devices_user ON devices (user_id);\n"
                               "CREATE TABLE contacts (\n"
                               "    user_id    INTEGER NOT NULL REFERENCES users (user_id),\n"
                               "    contact_no INTEGER NOT NULL,\n"
                               "    name       TEXT NOT NULL,\n"
                               "    phone      TEXT,\n"
                               "    starred    INTEGER NOT NULL DEFAULT 0,\n"
                               "    PRIMARY KEY (user_id, contact_no)\n"
                               ");\n"
                               "CREATE TABLE messages (\n"
                               "    user_id    INTEGER NOT NULL REFERENCES users (user_id),\n"
                               "    message_no INTEGER NOT NULL,\n"
                               "    peer       TEXT NOT NULL,\n"
                               "    body       TEXT,\n"
                               "    sent_at    TEXT NOT NULL,\n"
                               "    PRIMARY KEY (user_id, message_no)\n"
                               ");\n"
                               "CREATE TABLE photos (\n"
                               "    photo_id   TEXT PRIMARY KEY,\n"
                               "    owner_id   INTEGER NOT NULL REFERENCES users (user_id),\n"
                               "    taken_at   TEXT,\n"
                               "    width      INTEGER,\n"
                               "    height     INTEGER,\n"
                               "    lat        REAL,\n"
                               "    lng        REAL,\n"
                               "    caption    TEXT\n"
                               ");\n"
                               "CREATE INDEX photos_owner ON photos (owner_id);\n"
                               "CREATE TABLE backups (\n"
                               "    user_id    INTEGER NOT NULL REFERENCES users (user_id),\n"
                               "    backup_no  INTEGER NOT NULL,\n"
                               "    device_id  TEXT REFERENCES devices (device_id),\n"
                               "    created_at TEXT NOT NULL,\n"
                               "    size_bytes INTEGER NOT NULL,\n"
                               "    manifest   BLOB,\n"
                               "    PRIMARY KEY (user_id, backup_no)\n"
                               ");\n";

/* The same schema on PostgreSQL: native types, timestamps as timestamptz
 * (SQLite keeps them as ISO 8601 text; the two compare equal through the
 * canonical values of docs/verification.md). */
const char dom_demo_schema_pg[] = "CREATE TABLE users (\n"
                                  "    user_id    bigint PRIMARY KEY,\n"
                                  "    country    text NOT NULL,\n"
                                  "    name       text NOT NULL,\n"
                                  "    email      text,\n"
                                  "    phone      text,\n"
                                  "    created_at timestamptz NOT NULL\n"
                                  ");\n"
                                  "CREATE TABLE devices (\n"
                                  "    device_id  text PRIMARY KEY,\n"
                                  "    user_id    bigint NOT NULL REFERENCES users (user_id),\n"
                                  "    model      text NOT NULL,\n"
                                  "    os_version text,\n"
                                  "    last_seen  timestamptz\n"
                                  ");\n"
                                  "CREATE INDEX devices_user ON devices (user_id);\n"
                                  "CREATE TABLE contacts (\n"
                                  "    user_id    bigint NOT NULL REFERENCES users (user_id),\n"
                                  "    contact_no bigint NOT NULL,\n"
                                  "    name       text NOT NULL,\n"
                                  "    phone      text,\n"
                                  "    starred    integer NOT NULL DEFAULT 0,\n"
                                  "    PRIMARY KEY (user_id, contact_no)\n"
                                  ");\n"
                                  "CREATE TABLE messages (\n"
                                  "    user_id    bigint NOT NULL REFERENCES users (user_id),\n"
                                  "    message_no bigint NOT NULL,\n"
                                  "    peer       text NOT NULL,\n"
                                  "    body       text,\n"
                                  "    sent_at    timestamptz NOT NULL,\n"
                                  "    PRIMARY KEY (user_id, message_no)\n"
                                  ");\n"
                                  "CREATE TABLE photos (\n"
                                  "    photo_id   text PRIMARY KEY,\n"
                                  "    owner_id   bigint NOT NULL REFERENCES users (user_id),\n"
                                  "    taken_at   timestamptz,\n"
                                  "    width      integer,\n"
                                  "    height     integer,\n"
                                  "    lat        double precision,\n"
                                  "    lng        double precision,\n"
                                  "    caption    text\n"
                                  ");\n"
                                  "CREATE INDEX photos_owner ON photos (owner_id);\n"
                                  "CREATE TABLE backups (\n"
                                  "    user_id    bigint NOT NULL REFERENCES users (user_id),\n"
                                  "    backup_no  bigint NOT NULL,\n"
                                  "    device_id  text REFERENCES devices (device_id),\n"
                                  "    created_at timestamptz NOT NULL,\n"
                                  "    size_bytes bigint NOT NULL,\n"
                                  "    manifest   bytea,\n"
                                  "    PRIMARY KEY (user_id, backup_no)\n"
                                  ");\n"
                                  /* deleting a device looks up backups by it */
                                  "CREATE INDEX backups_device ON backups (device_id);\n";

const char dom_demo_config[] =
    "# domicile demo: a phone maker's cloud data, all of it in Beijing today.\n"
    "catalog: sqlite:domicile.db\n"
    "regions:\n"
    "  beijing:   { dsn: \"sqlite:regions/beijing.db\",   location: CN }\n"
    "  singapore: { dsn: \"sqlite:regions/singapore.db\", location: SG }\n"
    "  us-east:   { dsn: \"sqlite:regions/us-east.db\",   location: US, city: Virginia }\n"
    "tenants: { table: users, key: user_id, country: country }\n"
    "tables:\n"
    "  - users\n"
    "  - devices\n"
    "  - contacts\n"
    "  - messages\n"
    "  - { table: photos, key: owner_id }\n"
    "  - backups\n"
    "policy:\n"
    "  - { countries: [CN], home: beijing }\n"
    "  - { countries: [SG, MY, IN, ID, TH, VN, PH], home: singapore }\n"
    "  - { countries: [\"*\"], home: nearest, allow: [us-east, singapore] }\n"
    "waves:\n"
    "  - { name: canary, countries: [SG], percent: 5 }\n"
    "  - { name: asia, countries: [SG, MY, IN, ID, TH, VN, PH] }\n"
    "  - { name: rest }\n"
    "options:\n"
    "  batch_tenants: 500\n"
    "  workers: auto\n";

/* The user base: mostly Chinese, growing abroad.  Weights in tenths of a
 * percent; the tail shares what is left. */
static const struct {
    const char *cc;
    int permille;
} markets[] = {
    {"CN", 700}, {"IN", 60}, {"ID", 40}, {"MY", 30}, {"SG", 25}, {"BR", 25},
    {"US", 20},  {"RU", 20}, {"TH", 15}, {"VN", 15}, {"PH", 15},
};
static const char *const tail[] = {"DE", "GB", "FR", "JP", "KR", "AU", "CA", "MX", "NG", "EG",
                                   "TR", "PK", "BD", "SA", "AE", "IT", "ES", "NL", "PL", "AR",
                                   "ZA", "KE", "CO", "CL", "HK", "TW", "NZ", "SE"};

static const char *const latin_first[] = {"Aarav", "Siti", "Wei",  "Ana",   "Budi",  "Priya",
                                          "Minh",  "Juan", "Olga", "Lucas", "Amara", "Noah",
                                          "Mei",   "Ravi", "Nur",  "Chloe", "Jose",  "Yuki"};
static const char *const latin_last[] = {"Sharma", "Tan",   "Nguyen", "Santos", "Wijaya",
                                         "Lim",    "Silva", "Ivanov", "Garcia", "Smith",
                                         "Reyes",  "Kumar", "Rahman", "Muller", "Okafor"};
static const char *const han_last[] = {"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"};
static const char *const han_first[] = {"伟", "芳", "娜", "敏", "静", "磊", "洋",   "艳", "勇",
                                        "军", "杰", "娟", "涛", "明", "超", "秀英", "华", "平"};
static const char *const models[] = {"Nova 12", "Nova 12 Pro", "Mate X5", "Pad 11",
                                     "Watch 4", "Lite 8",      "Note 30", "Fold 2"};
static const char *const words[] = {"ok",      "see you", "tomorrow",     "lunch?",  "on my way",
                                    "thanks!", "photo",   "meeting",      "call me", "好的",
                                    "谢谢",    "明天见",  "terima kasih", "haan",    "sawasdee"};

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static long below(rng *r, long n)
{
    return (long)(next(r) % (uint64_t)n);
}

static const char *pick_country(rng *r)
{
    long x = below(r, 1000), acc = 0;
    for (size_t i = 0; i < DOM_ARRAY_LEN(markets); i++) {
        acc += markets[i].permille;
        if (x < acc)
            return markets[i].cc;
    }
    return tail[below(r, (long)DOM_ARRAY_LEN(tail))];
}

static void stamp(rng *r, char *out, size_t n)
{
    /* a moment in 2024-2026 */
    snprintf(out, n, "%04ld-%02ld-%02ldT%02ld:%02ld:%02ldZ", 2024 + below(r, 3), 1 + below(r, 12),
             1 + below(r, 28), below(r, 24), below(r, 60), below(r, 60));
}

static void hexid(rng *r, const char *prefix, char *out, size_t n)
{
    snprintf(out, n, "%s%016llx", prefix, (unsigned long long)next(r));
}

static int exec(sqlite3 *db, const char *path, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        dom_error_set(DOM_ERROR, "%s: %s", path, err ? err : "out of memory");
        sqlite3_free(err);
        return DOM_ERROR;
    }
    return 0;
}

static int create_region(const char *path, sqlite3 **out)
{
    sqlite3 *db = NULL;
    *out = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        dom_error_set(DOM_ERROR, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return DOM_ERROR;
    }
    if (exec(db, path, dom_demo_schema) < 0 || exec(db, path, "PRAGMA journal_mode=WAL") < 0) {
        sqlite3_close(db);
        return DOM_ERROR;
    }
    *out = db;
    return 0;
}

#define STMT_USERS    0
#define STMT_DEVICES  1
#define STMT_CONTACTS 2
#define STMT_MESSAGES 3
#define STMT_PHOTOS   4
#define STMT_BACKUPS  5

static const char *const insert_sql[] = {
    "INSERT INTO users VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    "INSERT INTO devices VALUES (?1, ?2, ?3, ?4, ?5)",
    "INSERT INTO contacts VALUES (?1, ?2, ?3, ?4, ?5)",
    "INSERT INTO messages VALUES (?1, ?2, ?3, ?4, ?5)",
    "INSERT INTO photos VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    "INSERT INTO backups VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
};

static int step(sqlite3_stmt *st, const char *path, dom_demo_stats *stats, int table)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dom_error_set(DOM_ERROR, "%s: %s", path, sqlite3_errmsg(sqlite3_db_handle(st)));
    stats->rows[table]++;
    return 0;
}

/* Writes one user and everything it owns. */
static int gen_user(sqlite3_stmt **st, const char *path, rng *r, long uid, dom_demo_stats *stats)
{
    char name[96], buf[128], ts[32], dev[3][40];
    const char *cc = pick_country(r);
    int han = strcmp(cc, "CN") == 0 || strcmp(cc, "TW") == 0 || strcmp(cc, "HK") == 0;
    if (han)
        snprintf(name, sizeof(name), "%s%s", han_last[below(r, 10)],
                 han_first[below(r, (long)DOM_ARRAY_LEN(han_first))]);
    else
        snprintf(name, sizeof(name), "%s %s",
                 latin_first[below(r, (long)DOM_ARRAY_LEN(latin_first))],
                 latin_last[below(r, (long)DOM_ARRAY_LEN(latin_last))]);
    stamp(r, ts, sizeof(ts));
    sqlite3_bind_int64(st[0], 1, uid);
    sqlite3_bind_text(st[0], 2, cc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st[0], 3, name, -1, SQLITE_TRANSIENT);
    snprintf(buf, sizeof(buf), "user%ld@example.%s", uid, han ? "cn" : "com");
    if (below(r, 10) == 0)
        sqlite3_bind_null(st[0], 4);
    else
        sqlite3_bind_text(st[0], 4, buf, -1, SQLITE_TRANSIENT);
    char phone[32];
    snprintf(phone, sizeof(phone), "+%ld %09ld", 1 + below(r, 99), below(r, 1000000000));
    sqlite3_bind_text(st[0], 5, phone, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st[0], 6, ts, -1, SQLITE_TRANSIENT);
    if (step(st[0], path, stats, STMT_USERS) < 0)
        return -1;

    long ndev = 1 + below(r, 3);
    for (long d = 0; d < ndev; d++) {
        hexid(r, "dev-", dev[d], sizeof(dev[d]));
        sqlite3_bind_text(st[1], 1, dev[d], -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st[1], 2, uid);
        sqlite3_bind_text(st[1], 3, models[below(r, (long)DOM_ARRAY_LEN(models))], -1,
                          SQLITE_STATIC);
        snprintf(buf, sizeof(buf), "%ld.%ld.%ld", 10 + below(r, 5), below(r, 10), below(r, 100));
        sqlite3_bind_text(st[1], 4, buf, -1, SQLITE_TRANSIENT);
        stamp(r, ts, sizeof(ts));
        sqlite3_bind_text(st[1], 5, ts, -1, SQLITE_TRANSIENT);
        if (step(st[1], path, stats, STMT_DEVICES) < 0)
            return -1;
    }
    long ncontacts = below(r, 11);
    for (long k = 1; k <= ncontacts; k++) {
        sqlite3_bind_int64(st[2], 1, uid);
        sqlite3_bind_int64(st[2], 2, k);
        sqlite3_bind_text(st[2], 3, latin_first[below(r, (long)DOM_ARRAY_LEN(latin_first))], -1,
                          SQLITE_STATIC);
        snprintf(phone, sizeof(phone), "+%ld %09ld", 1 + below(r, 99), below(r, 1000000000));
        sqlite3_bind_text(st[2], 4, phone, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st[2], 5, below(r, 5) == 0);
        if (step(st[2], path, stats, STMT_CONTACTS) < 0)
            return -1;
    }
    long nmsg = below(r, 21);
    for (long m = 1; m <= nmsg; m++) {
        sqlite3_bind_int64(st[3], 1, uid);
        sqlite3_bind_int64(st[3], 2, m);
        snprintf(buf, sizeof(buf), "user%ld", 1 + below(r, 1000000));
        sqlite3_bind_text(st[3], 3, buf, -1, SQLITE_TRANSIENT);
        if (below(r, 20) == 0)
            sqlite3_bind_null(st[3], 4);
        else
            sqlite3_bind_text(st[3], 4, words[below(r, (long)DOM_ARRAY_LEN(words))], -1,
                              SQLITE_STATIC);
        stamp(r, ts, sizeof(ts));
        sqlite3_bind_text(st[3], 5, ts, -1, SQLITE_TRANSIENT);
        if (step(st[3], path, stats, STMT_MESSAGES) < 0)
            return -1;
    }
    long nphotos = below(r, 9);
    for (long ph = 0; ph < nphotos; ph++) {
        char id[40];
        hexid(r, "img-", id, sizeof(id));
        sqlite3_bind_text(st[4], 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st[4], 2, uid);
        stamp(r, ts, sizeof(ts));
        sqlite3_bind_text(st[4], 3, ts, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st[4], 4, 1080 + 360 * (int)below(r, 8));
        sqlite3_bind_int(st[4], 5, 1920 + 480 * (int)below(r, 4));
        if (below(r, 4) == 0) {
            sqlite3_bind_null(st[4], 6);
            sqlite3_bind_null(st[4], 7);
        } else {
            sqlite3_bind_double(st[4], 6, (double)below(r, 1800000) / 10000.0 - 90.0);
            sqlite3_bind_double(st[4], 7, (double)below(r, 3600000) / 10000.0 - 180.0);
        }
        sqlite3_bind_text(st[4], 8, words[below(r, (long)DOM_ARRAY_LEN(words))], -1, SQLITE_STATIC);
        if (step(st[4], path, stats, STMT_PHOTOS) < 0)
            return -1;
    }
    long nbackups = below(r, 3);
    for (long bk = 1; bk <= nbackups; bk++) {
        unsigned char blob[512];
        long len = 64 + below(r, 449);
        for (long i = 0; i < len; i++)
            blob[i] = (unsigned char)next(r);
        sqlite3_bind_int64(st[5], 1, uid);
        sqlite3_bind_int64(st[5], 2, bk);
        sqlite3_bind_text(st[5], 3, dev[below(r, ndev)], -1, SQLITE_TRANSIENT);
        stamp(r, ts, sizeof(ts));
        sqlite3_bind_text(st[5], 4, ts, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st[5], 5, 1000000 + below(r, 4000000000L));
        sqlite3_bind_blob(st[5], 6, blob, (int)len, SQLITE_TRANSIENT);
        if (step(st[5], path, stats, STMT_BACKUPS) < 0)
            return -1;
    }
    return 0;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return dom_error_set(DOM_ERROR, "cannot write %s: %s", path, strerror(errno));
    int bad = fputs(text, f) < 0;
    if (fclose(f) != 0 || bad)
        return dom_error_set(DOM_ERROR, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* Creates path and any missing parent (as mkdir -p); the folder the user
 * named is an argument, so a failure is a usage error (exit 1). */
static int make_dir(const char *path)
{
    char *p = dom_strdup(path);
    if (!p)
        return DOM_ENOMEM;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            rc = dom_error_set(DOM_EUSAGE, "cannot create %s: %s", p, strerror(errno));
            break;
        }
        *s = c;
        if (!c)
            break;
    }
    dom_free(p);
    return rc;
}

/* Removes what an earlier demo left in dir; refuses a folder that holds
 * files but no demo marker, so that nobody's data is overwritten. */
static int clear_previous(const char *dir)
{
    static const char *const files[] = {"regions/beijing.db",
                                        "regions/beijing.db-wal",
                                        "regions/beijing.db-shm",
                                        "regions/singapore.db",
                                        "regions/singapore.db-wal",
                                        "regions/singapore.db-shm",
                                        "regions/us-east.db",
                                        "regions/us-east.db-wal",
                                        "regions/us-east.db-shm",
                                        "domicile.db",
                                        "domicile.db-wal",
                                        "domicile.db-shm",
                                        "domicile.yaml",
                                        "latency.html",
                                        "audit.html"};
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/.domicile-demo", dir);
    if (stat(path, &sb) != 0) {
        snprintf(path, sizeof(path), "%s/domicile.yaml", dir);
        if (stat(path, &sb) == 0)
            return dom_error_set(DOM_EUSAGE,
                                 "%s already holds a domicile.yaml that the demo did not create; "
                                 "choose another --dir",
                                 dir);
        snprintf(path, sizeof(path), "%s/regions", dir);
        if (stat(path, &sb) == 0)
            return dom_error_set(DOM_EUSAGE,
                                 "%s already holds a regions folder that the demo did not create; "
                                 "choose another --dir",
                                 dir);
        return 0;
    }
    for (size_t i = 0; i < DOM_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        if (unlink(path) != 0 && errno != ENOENT)
            return dom_error_set(DOM_ERROR, "cannot remove %s: %s", path, strerror(errno));
    }
    return 0;
}

int dom_demo_generate(const char *dir, long users, uint64_t seed, dom_demo_stats *stats)
{
    char path[4096];
    sqlite3 *db = NULL, *other = NULL;
    sqlite3_stmt *st[6] = {0};
    int rc;
    rng r = {seed};

    memset(stats, 0, sizeof(*stats));
    if (users < 1)
        return dom_error_set(DOM_EUSAGE, "--users must be at least 1");
    if ((rc = make_dir(dir)) < 0 || (rc = clear_previous(dir)) < 0)
        return rc;
    snprintf(path, sizeof(path), "%s/.domicile-demo", dir);
    if ((rc = write_file(path, "created by domicile demo; the demo may replace this folder's "
                               "regions, catalog and config\n")) < 0)
        return rc;
    snprintf(path, sizeof(path), "%s/regions", dir);
    if ((rc = make_dir(path)) < 0)
        return rc;
    static const char *const empty[] = {"singapore", "us-east"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/regions/%s.db", dir, empty[i]);
        if ((rc = create_region(path, &other)) < 0)
            return rc;
        sqlite3_close(other);
    }
    snprintf(path, sizeof(path), "%s/regions/beijing.db", dir);
    if ((rc = create_region(path, &db)) < 0)
        return rc;
    /* The file is new: load it without a journal, then switch to WAL so that
     * applications and domicile can share it. */
    if ((rc = exec(db, path, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN")) < 0)
        goto done;
    for (int i = 0; i < 6; i++)
        if (sqlite3_prepare_v2(db, insert_sql[i], -1, &st[i], NULL) != SQLITE_OK) {
            rc = dom_error_set(DOM_ERROR, "%s: %s", path, sqlite3_errmsg(db));
            goto done;
        }
    for (long u = 1; u <= users; u++)
        if ((rc = gen_user(st, path, &r, u, stats)) < 0)
            goto done;
    if ((rc = exec(db, path, "COMMIT; ANALYZE; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL")) <
        0)
        goto done;
    snprintf(path, sizeof(path), "%s/domicile.yaml", dir);
    rc = write_file(path, dom_demo_config);
done:
    for (int i = 0; i < 6; i++)
        sqlite3_finalize(st[i]);
    sqlite3_close(db);
    return rc;
}

const char *const dom_demo_table_names[DOM_DEMO_TABLES] = {"users",    "devices", "contacts",
                                                           "messages", "photos",  "backups"};
