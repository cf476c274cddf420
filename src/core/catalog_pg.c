/*
 * catalog_pg.c - the catalog on a PostgreSQL server (catalog:
 * postgresql://...), in a schema "domicile_catalog": the same directory,
 * journal and transfer log as the SQLite catalog, shared by several
 * domicile processes.  Batches are claimed with FOR UPDATE SKIP LOCKED and
 * held by a lease that every journal update renews; a batch whose mover
 * died is taken over once its lease has expired.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/catalog_impl.h"
#include "store/store_pg.h"
#include "util/util.h"

static const char PG_CATALOG_SCHEMA[] =
    "CREATE SCHEMA IF NOT EXISTS domicile_catalog;\n"
    "CREATE TABLE IF NOT EXISTS domicile_catalog.meta (\n"
    "    key   text PRIMARY KEY,\n"
    "    value text NOT NULL\n"
    ");\n"
    "INSERT INTO domicile_catalog.meta VALUES ('schema_version', '1') ON CONFLICT DO NOTHING;\n"
    "CREATE TABLE IF NOT EXISTS domicile_catalog.directory (\n"
    "    tenant text PRIMARY KEY,\n"
    "    region text NOT NULL,\n"
    "    epoch  bigint NOT NULL DEFAULT 1,\n"
    "    state  text NOT NULL DEFAULT 'home'\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS domicile_catalog.batches (\n"
    "    id          bigserial PRIMARY KEY,\n"
    "    wave        text NOT NULL,\n"
    "    src         text NOT NULL,\n"
    "    dst         text NOT NULL,\n"
    "    step        text NOT NULL,\n"
    "    tenants     bigint NOT NULL,\n"
    "    copy_seq    bigint NOT NULL DEFAULT 0,\n"
    "    applied_seq bigint NOT NULL DEFAULT 0,\n"
    "    rows        bigint NOT NULL DEFAULT 0,\n"
    "    bytes       bigint NOT NULL DEFAULT 0,\n"
    "    erased      bigint NOT NULL DEFAULT 0,\n"
    "    schema_sig  text,\n"
    "    pause_ms    double precision,\n"
    "    created_at  double precision NOT NULL,\n"
    "    updated_at  double precision NOT NULL,\n"
    "    flipped_at  double precision,\n"
    "    logged      integer NOT NULL DEFAULT 0,\n"
    "    error       text,\n"
    "    owner       text,\n"
    "    lease_until timestamptz\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS batches_step ON domicile_catalog.batches (step);\n"
    "CREATE TABLE IF NOT EXISTS domicile_catalog.transfer_log (\n"
    "    seq   bigint PRIMARY KEY,\n"
    "    entry text NOT NULL,\n"
    "    prev  text NOT NULL,\n"
    "    hash  text NOT NULL\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS domicile_catalog.batch_tenants (\n"
    "    batch  bigint NOT NULL,\n"
    "    tenant text NOT NULL,\n"
    "    PRIMARY KEY (batch, tenant)\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS batch_tenants_tenant ON domicile_catalog.batch_tenants (tenant);\n"
    "CREATE TABLE IF NOT EXISTS domicile_catalog.transfer_rows (\n"
    "    batch  bigint NOT NULL,\n"
    "    tbl    text NOT NULL,\n"
    "    pk     text NOT NULL,\n"
    "    digest text NOT NULL\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS transfer_rows_batch ON domicile_catalog.transfer_rows (batch);\n";

/* Keys of the catalog's advisory locks: "domicile" in ASCII, plus one for
 * creating the schema, planning, and appending to the transfer log. */
#define LOCK_SCHEMA "7237954614216435045"
#define LOCK_PLAN   "7237954614216435046"
#define LOCK_LOG    "7237954614216435047"

static int pg_fail(dom_catalog *cat, const char *what, PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char buf[512];
    if (!msg) {
        snprintf(buf, sizeof(buf), "%s", PQerrorMessage(cat->pg));
        buf[strcspn(buf, "\n")] = '\0';
        msg = buf;
    }
    int rc = dom_error_set(DOM_EREGION, "catalog %s: %s: %s%s%s%s", cat->path, what,
                           state ? "SQLSTATE " : "", state ? state : "", state ? ": " : "", msg);
    PQclear(r);
    return rc;
}

/* Runs a statement with text parameters; *out gets the result when the
 * caller wants it (else it is cleared). */
static int q(dom_catalog *cat, const char *what, const char *sql, int n, const char *const *pv,
             PGresult **out)
{
    /* without parameters, the simple protocol: several statements at once */
    PGresult *r = n ? PQexecParams(cat->pg, sql, n, NULL, pv, NULL, NULL, 0) : PQexec(cat->pg, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return pg_fail(cat, what, r);
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

static void i64(char *buf, size_t n, int64_t v)
{
    snprintf(buf, n, "%lld", (long long)v);
}

/* The holder of this process's leases: every connection of the process
 * (its workers, its erasure) speaks for the same holder. */
static pthread_once_t owner_once = PTHREAD_ONCE_INIT;
static char process_owner[128];

static void make_owner(void)
{
    char host[64];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "?");
    host[sizeof(host) - 1] = '\0';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(process_owner, sizeof(process_owner), "%s:%d:%lx", host, (int)getpid(),
             (unsigned long)(ts.tv_nsec ^ ts.tv_sec));
}

int dom_catpg_open(dom_catalog *cat, const char *conninfo)
{
    cat->pg = dom_pg__connect(conninfo);
    if (!cat->pg)
        return dom_error_set(DOM_EREGION, "catalog: cannot connect: out of memory");
    /* a name for messages: never the connection string (it may hold a
     * password); a failed connection still knows where it went */
    char *name =
        dom_sprintf("postgresql://%s:%s/%s", PQhost(cat->pg), PQport(cat->pg), PQdb(cat->pg));
    if (!name)
        return DOM_ENOMEM;
    dom_free(cat->path);
    cat->path = name;
    if (PQstatus(cat->pg) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(cat->pg));
        for (char *p = msg; *p; p++)
            if (*p == '\n')
                *p = ' ';
        return dom_error_set(DOM_EREGION, "catalog %s: cannot connect: %s", cat->path, msg);
    }
    pthread_once(&owner_once, make_owner);
    snprintf(cat->owner, sizeof(cat->owner), "%s", process_owner);
    /* whatever the server, database or role set by default: no timeouts,
     * and READ COMMITTED (claims skip locked rows; a snapshot taken
     * earlier in the transaction would make them fail instead) */
    int rc = q(cat, "cannot set up the session",
               "SET statement_timeout = 0; SET client_min_messages = warning; "
               "SET search_path = domicile_catalog; SET idle_in_transaction_session_timeout = 0; "
               "SET default_transaction_isolation = 'read committed'; "
               "SET default_transaction_read_only = off",
               0, NULL, NULL);
    if (rc < 0)
        return rc;
    PGresult *r = NULL;
    if ((rc = q(cat, "cannot read the catalog",
                "SELECT to_regclass('domicile_catalog.batches') IS NOT NULL", 0, NULL, &r)) < 0)
        return rc;
    int exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (exists)
        return 0;
    /* several movers may start at once: one creates the schema */
    if ((rc = q(cat, "cannot create schema", "BEGIN; SELECT pg_advisory_xact_lock(" LOCK_SCHEMA ")",
                0, NULL, NULL)) < 0)
        return rc;
    if ((rc = q(cat, "cannot create schema", PG_CATALOG_SCHEMA, 0, NULL, NULL)) < 0) {
        PQclear(PQexec(cat->pg, "ROLLBACK"));
        return rc;
    }
    return q(cat, "cannot create schema", "COMMIT", 0, NULL, NULL);
}

void dom_catpg_close(dom_catalog *cat)
{
    if (cat->pg)
        PQfinish(cat->pg);
    dom_buf_free(&cat->puts);
}

int dom_catpg_renew(dom_catalog *cat)
{
    char lease[32];
    snprintf(lease, sizeof(lease), "%ld", cat->lease_sec);
    const char *pv[2] = {cat->owner, lease};
    return q(cat, "cannot renew leases",
             "UPDATE batches SET lease_until = now() + make_interval(secs => $2::int) "
             "WHERE owner = $1",
             2, pv, NULL);
}

int dom_catpg_release_all(dom_catalog *cat)
{
    const char *pv[1] = {cat->owner};
    return q(cat, "cannot release batches",
             "UPDATE batches SET owner = NULL, lease_until = NULL WHERE owner = $1", 1, pv, NULL);
}

/* Streams a query's rows (single-row mode) as directory entries: (key,
 * text, integer, text); fewer columns give NULL and 0. */
static int stream(dom_catalog *cat, const char *sql, int n, const char *const *pv,
                  dom_directory_cb cb, void *payload)
{
    if (!PQsendQueryParams(cat->pg, sql, n, NULL, pv, NULL, NULL, 0))
        return pg_fail(cat, "cannot read", NULL);
    PQsetSingleRowMode(cat->pg);
    PGresult *r = NULL;
    int rc = 0;
    while ((r = PQgetResult(cat->pg)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE) {
            if (rc == 0) {
                int nc = PQnfields(r);
                rc = cb(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0),
                        nc > 1 && !PQgetisnull(r, 0, 1) ? PQgetvalue(r, 0, 1) : NULL,
                        nc > 2 ? strtoll(PQgetvalue(r, 0, 2), NULL, 10) : 0,
                        nc > 3 && !PQgetisnull(r, 0, 3) ? PQgetvalue(r, 0, 3) : NULL, payload);
            }
            PQclear(r);
        } else if (st == PGRES_TUPLES_OK) {
            PQclear(r);
        } else {
            int e = pg_fail(cat, "cannot read", r);
            if (rc == 0)
                rc = e;
        }
    }
    return rc;
}

int dom_catpg_scan_directory(dom_catalog *cat, dom_directory_cb cb, void *payload)
{
    return stream(cat, "SELECT tenant, region, epoch, state FROM directory", 0, NULL, cb, payload);
}

int dom_catpg_directory_count(dom_catalog *cat, int64_t *out)
{
    PGresult *r = NULL;
    int rc = q(cat, "cannot read directory", "SELECT count(*) FROM directory", 0, NULL, &r);
    if (rc < 0)
        return rc;
    *out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int dom_catpg_locate(dom_catalog *cat, const char *key, dom_location *out)
{
    PGresult *r = NULL;
    const char *pv[1] = {key};
    int rc = q(cat, "cannot read directory",
               "SELECT region, epoch, state FROM directory WHERE tenant = $1", 1, pv, &r);
    if (rc < 0)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return dom_error_set(DOM_ENOTFOUND, "tenant %s is not in the directory", key);
    }
    snprintf(out->region, sizeof(out->region), "%s", PQgetvalue(r, 0, 0));
    out->epoch = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    snprintf(out->state, sizeof(out->state), "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    return 0;
}

/* Entries are buffered as COPY lines and written at commit, in one COPY
 * and one upsert (prepare writes every tenant). */
static int flush_puts(dom_catalog *cat)
{
    if (!cat->puts.len)
        return 0;
    int rc = q(cat, "cannot write directory",
               "CREATE TEMP TABLE IF NOT EXISTS put_directory (LIKE directory); "
               "DELETE FROM put_directory",
               0, NULL, NULL);
    if (rc < 0)
        return rc;
    PGresult *r = PQexec(cat->pg, "COPY put_directory FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN)
        return pg_fail(cat, "cannot write directory", r);
    PQclear(r);
    int ok = !cat->puts.oom && PQputCopyData(cat->pg, cat->puts.ptr, (int)cat->puts.len) == 1;
    PQputCopyEnd(cat->pg, ok ? NULL : "domicile: cannot send entries");
    dom_buf_clear(&cat->puts);
    while ((r = PQgetResult(cat->pg)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
            rc = pg_fail(cat, "cannot write directory", r);
        else
            PQclear(r);
    }
    if (rc < 0)
        return rc;
    return q(cat, "cannot write directory",
             "INSERT INTO directory SELECT * FROM put_directory ON CONFLICT (tenant) DO UPDATE "
             "SET region = excluded.region, epoch = excluded.epoch, state = excluded.state",
             0, NULL, NULL);
}

int dom_catpg_put(dom_catalog *cat, const char *key, const char *region, int64_t epoch,
                  const char *state)
{
    if (cat->in_tx) {
        dom_buf_put_copy(&cat->puts, key, strlen(key));
        dom_buf_putc(&cat->puts, '\t');
        dom_buf_put_copy(&cat->puts, region, strlen(region));
        dom_buf_printf(&cat->puts, "\t%lld\t", (long long)epoch);
        dom_buf_put_copy(&cat->puts, state, strlen(state));
        dom_buf_putc(&cat->puts, '\n');
        return cat->puts.oom ? DOM_ENOMEM : 0;
    }
    char e[32];
    i64(e, sizeof(e), epoch);
    const char *pv[4] = {key, region, e, state};
    return q(cat, "cannot write directory",
             "INSERT INTO directory VALUES ($1, $2, $3, $4) ON CONFLICT (tenant) DO UPDATE SET "
             "region = excluded.region, epoch = excluded.epoch, state = excluded.state",
             4, pv, NULL);
}

int dom_catpg_begin(dom_catalog *cat)
{
    int rc = q(cat, "cannot begin", "BEGIN", 0, NULL, NULL);
    if (rc == 0)
        cat->in_tx = 1;
    return rc;
}

int dom_catpg_commit(dom_catalog *cat)
{
    int rc = flush_puts(cat);
    if (rc == 0)
        rc = q(cat, "cannot commit", "COMMIT", 0, NULL, NULL);
    if (rc < 0)
        PQclear(PQexec(cat->pg, "ROLLBACK"));
    cat->in_tx = 0;
    return rc;
}

void dom_catpg_rollback(dom_catalog *cat)
{
    dom_buf_clear(&cat->puts);
    if (PQtransactionStatus(cat->pg) != PQTRANS_IDLE)
        PQclear(PQexec(cat->pg, "ROLLBACK"));
    cat->in_tx = 0;
}

int dom_catpg_batch_create(dom_catalog *cat, const char *wave, const char *src, const char *dst,
                           const char *const *keys, size_t n, int64_t *id)
{
    char nt[32], t[40];
    i64(nt, sizeof(nt), (int64_t)n);
    snprintf(t, sizeof(t), "%.6f", dom__now_sec());
    const char *pv[5] = {wave, src, dst, nt, t};
    PGresult *r = NULL;
    int rc = q(cat, "cannot create batch",
               "INSERT INTO batches (wave, src, dst, step, tenants, created_at, updated_at) "
               "VALUES ($1, $2, $3, 'new', $4, $5, $5) RETURNING id",
               5, pv, &r);
    if (rc < 0)
        return rc;
    *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    /* the tenants as one text array */
    dom_buf arr = DOM_BUF_INIT;
    dom_buf_put_text_array(&arr, (const char *const *)keys, n);
    char bid[32];
    i64(bid, sizeof(bid), *id);
    const char *pv2[2] = {bid, dom_buf_cstr(&arr)};
    rc = arr.oom ? DOM_ENOMEM
                 : q(cat, "cannot record batch tenants",
                     "INSERT INTO batch_tenants SELECT $1, unnest($2::text[])", 2, pv2, NULL);
    dom_buf_free(&arr);
    return rc;
}

static int id_list(dom_catalog *cat, PGresult *r, int64_t **ids, size_t *n)
{
    int nt = PQntuples(r);
    *ids = nt ? dom_calloc((size_t)nt, sizeof(int64_t)) : NULL;
    if (nt && !*ids) {
        PQclear(r);
        return DOM_ENOMEM;
    }
    for (int i = 0; i < nt; i++)
        (*ids)[i] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
    *n = (size_t)nt;
    PQclear(r);
    (void)cat;
    return 0;
}

int dom_catpg_batches(dom_catalog *cat, const char *where_step, int64_t **ids, size_t *n)
{
    PGresult *r = NULL;
    int rc;
    *ids = NULL;
    *n = 0;
    if (strcmp(where_step, "unfinished") == 0) {
        rc = q(cat, "cannot list batches",
               "SELECT id FROM batches WHERE step NOT IN ('done', 'failed') ORDER BY id", 0, NULL,
               &r);
    } else {
        const char *pv[1] = {where_step};
        rc = q(cat, "cannot list batches", "SELECT id FROM batches WHERE step = $1 ORDER BY id", 1,
               pv, &r);
    }
    return rc < 0 ? rc : id_list(cat, r, ids, n);
}

int dom_catpg_wave_unfinished(dom_catalog *cat, const char *wave, int64_t **ids, size_t *n)
{
    PGresult *r = NULL;
    const char *pv[1] = {wave};
    *ids = NULL;
    *n = 0;
    int rc = q(cat, "cannot list batches",
               "SELECT id FROM batches WHERE wave = $1 AND step NOT IN ('done', 'failed') "
               "ORDER BY id",
               1, pv, &r);
    return rc < 0 ? rc : id_list(cat, r, ids, n);
}

int dom_catpg_batch_load(dom_catalog *cat, int64_t id, dom_batch *b)
{
    char bid[32];
    i64(bid, sizeof(bid), id);
    const char *pv[1] = {bid};
    PGresult *r = NULL;
    memset(b, 0, sizeof(*b));
    int rc = q(cat, "cannot read batch",
               "SELECT wave, src, dst, step, tenants, copy_seq, applied_seq, rows, bytes, erased, "
               "coalesce(schema_sig, ''), coalesce(flipped_at, 0), coalesce(pause_ms, 0), "
               "coalesce(error, ''), logged FROM batches WHERE id = $1",
               1, pv, &r);
    if (rc < 0)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return dom_error_set(DOM_ENOTFOUND, "catalog %s: no batch %lld", cat->path, (long long)id);
    }
    b->id = id;
    snprintf(b->wave, sizeof(b->wave), "%s", PQgetvalue(r, 0, 0));
    snprintf(b->src, sizeof(b->src), "%s", PQgetvalue(r, 0, 1));
    snprintf(b->dst, sizeof(b->dst), "%s", PQgetvalue(r, 0, 2));
    snprintf(b->step, sizeof(b->step), "%s", PQgetvalue(r, 0, 3));
    b->tenants = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    b->copy_seq = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
    b->applied_seq = strtoll(PQgetvalue(r, 0, 6), NULL, 10);
    b->rows = strtoll(PQgetvalue(r, 0, 7), NULL, 10);
    b->bytes = strtoll(PQgetvalue(r, 0, 8), NULL, 10);
    b->erased = strtoll(PQgetvalue(r, 0, 9), NULL, 10);
    snprintf(b->schema_sig, sizeof(b->schema_sig), "%s", PQgetvalue(r, 0, 10));
    b->flipped_at = strtod(PQgetvalue(r, 0, 11), NULL);
    b->pause_ms = strtod(PQgetvalue(r, 0, 12), NULL);
    snprintf(b->error, sizeof(b->error), "%s", PQgetvalue(r, 0, 13));
    b->logged = atoi(PQgetvalue(r, 0, 14));
    PQclear(r);
    if ((rc = q(cat, "cannot read batch tenants",
                "SELECT bt.tenant, coalesce(d.epoch, 1) FROM batch_tenants bt LEFT JOIN "
                "directory d ON d.tenant = bt.tenant WHERE bt.batch = $1 ORDER BY bt.tenant",
                1, pv, &r)) < 0)
        return rc;
    size_t nt = (size_t)PQntuples(r);
    b->keys = dom_calloc(nt ? nt : 1, sizeof(char *));
    b->epochs = dom_calloc(nt ? nt : 1, sizeof(int64_t));
    if (!b->keys || !b->epochs) {
        PQclear(r);
        dom_batch_free(b);
        return DOM_ENOMEM;
    }
    for (size_t i = 0; i < nt; i++) {
        if (!(b->keys[i] = dom_strdup(PQgetvalue(r, (int)i, 0)))) {
            PQclear(r);
            dom_batch_free(b);
            return DOM_ENOMEM;
        }
        b->epochs[i] = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
        b->nkeys++;
    }
    PQclear(r);
    return 0;
}

int dom_catpg_batch_update(dom_catalog *cat, const dom_batch *b)
{
    char id[32], cs[32], as[32], rows[32], bytes[32], er[32], pm[40], up[40], lg[16], lease[32];
    i64(id, sizeof(id), b->id);
    i64(cs, sizeof(cs), b->copy_seq);
    i64(as, sizeof(as), b->applied_seq);
    i64(rows, sizeof(rows), b->rows);
    i64(bytes, sizeof(bytes), b->bytes);
    i64(er, sizeof(er), b->erased);
    snprintf(pm, sizeof(pm), "%.6f", b->pause_ms);
    snprintf(up, sizeof(up), "%.6f", dom__now_sec());
    snprintf(lg, sizeof(lg), "%d", b->logged);
    snprintf(lease, sizeof(lease), "%ld", cat->lease_sec);
    const char *pv[14] = {id, b->step,  cs, as, rows,       bytes, er, b->schema_sig,
                          pm, b->error, up, lg, cat->owner, lease};
    PGresult *r = NULL;
    /* the update renews the lease, and only the lease's holder may make it */
    int rc = q(cat, "cannot update batch",
               "UPDATE batches SET step = $2, copy_seq = $3, applied_seq = $4, rows = $5, "
               "bytes = $6, erased = $7, schema_sig = nullif($8, ''), pause_ms = $9, "
               "error = nullif($10, ''), updated_at = $11, logged = $12, "
               "lease_until = now() + make_interval(secs => $14::int) "
               "WHERE id = $1 AND (owner = $13 OR owner IS NULL)",
               14, pv, &r);
    if (rc < 0)
        return rc;
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    if (n != 1)
        return dom_error_set(DOM_EINTR,
                             "batch %lld: another mover took it over (this mover's lease "
                             "expired); it goes on from the journal",
                             (long long)b->id);
    return 0;
}

int dom_catpg_claim(dom_catalog *cat, const int64_t *ids, size_t n, int64_t *id)
{
    dom_buf arr = DOM_BUF_INIT;
    dom_buf_put_int_array(&arr, ids, n);
    char lease[32];
    snprintf(lease, sizeof(lease), "%ld", cat->lease_sec);
    const char *pv[3] = {dom_buf_cstr(&arr), cat->owner, lease};
    PGresult *r = NULL;
    int rc = arr.oom ? DOM_ENOMEM
                     : q(cat, "cannot claim a batch",
                         "UPDATE batches SET owner = $2, "
                         "lease_until = now() + make_interval(secs => $3::int) "
                         "WHERE id = (SELECT id FROM batches WHERE id = ANY ($1::bigint[]) "
                         "AND step NOT IN ('done', 'failed') AND (owner IS NULL OR "
                         "lease_until < now()) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                         "RETURNING id",
                         3, pv, &r);
    dom_buf_free(&arr);
    if (rc < 0)
        return rc;
    int found = PQntuples(r) == 1;
    if (found)
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return found ? 0 : DOM_ENOTFOUND;
}

int dom_catpg_release(dom_catalog *cat, int64_t id)
{
    char bid[32];
    i64(bid, sizeof(bid), id);
    const char *pv[2] = {bid, cat->owner};
    return q(cat, "cannot release a batch",
             "UPDATE batches SET owner = NULL, lease_until = NULL WHERE id = $1 AND owner = $2", 2,
             pv, NULL);
}

int dom_catpg_unfinished_among(dom_catalog *cat, const int64_t *ids, size_t n, int retained,
                               int64_t *count)
{
    dom_buf arr = DOM_BUF_INIT;
    dom_buf_put_int_array(&arr, ids, n);
    const char *pv[3] = {dom_buf_cstr(&arr), cat->owner, retained ? "true" : "false"};
    PGresult *r = NULL;
    /* this process's own batches are in its hands already; retained
     * sources wait for their time, not for a mover */
    int rc = arr.oom ? DOM_ENOMEM
                     : q(cat, "cannot list batches",
                         "SELECT count(*) FROM batches WHERE id = ANY ($1::bigint[]) AND step "
                         "NOT IN ('done', 'failed') AND owner IS DISTINCT FROM $2 AND "
                         "NOT (step = 'flipped' AND $3::bool)",
                         3, pv, &r);
    dom_buf_free(&arr);
    if (rc < 0)
        return rc;
    *count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int dom_catpg_plan_lock(dom_catalog *cat, int lock)
{
    return q(cat, "cannot lock the plan",
             lock ? "SELECT pg_advisory_lock(" LOCK_PLAN ")"
                  : "SELECT pg_advisory_unlock(" LOCK_PLAN ")",
             0, NULL, NULL);
}

int dom_catpg_set_state(dom_catalog *cat, int64_t batch, const char *state)
{
    char bid[32];
    i64(bid, sizeof(bid), batch);
    const char *pv[2] = {bid, state};
    return q(cat, "cannot update directory",
             "UPDATE directory SET state = $2 WHERE tenant IN (SELECT tenant FROM batch_tenants "
             "WHERE batch = $1)",
             2, pv, NULL);
}

int dom_catpg_flip(dom_catalog *cat, dom_batch *b)
{
    char bid[32];
    i64(bid, sizeof(bid), b->id);
    const char *pv[2] = {bid, b->dst};
    int rc;
    if ((rc = dom_catpg_begin(cat)) < 0)
        return rc;
    if ((rc = q(cat, "cannot flip directory",
                "UPDATE directory SET region = $2, epoch = epoch + 1, state = 'home' WHERE "
                "tenant IN (SELECT tenant FROM batch_tenants WHERE batch = $1)",
                2, pv, NULL)) < 0)
        goto fail;
    char step[16];
    double flipped = b->flipped_at;
    memcpy(step, b->step, sizeof(step));
    snprintf(b->step, sizeof(b->step), "flipped");
    b->flipped_at = dom__now_sec();
    if ((rc = dom_catpg_batch_update(cat, b)) < 0) {
        memcpy(b->step, step, sizeof(step));
        b->flipped_at = flipped;
        goto fail;
    }
    char fa[40];
    snprintf(fa, sizeof(fa), "%.6f", b->flipped_at);
    const char *pv2[2] = {bid, fa};
    if ((rc = q(cat, "cannot flip batch", "UPDATE batches SET flipped_at = $2 WHERE id = $1", 2,
                pv2, NULL)) < 0)
        goto fail;
    if ((rc = dom_catpg_commit(cat)) < 0)
        return rc;
    for (size_t i = 0; i < b->nkeys; i++)
        b->epochs[i]++;
    return 0;
fail:
    dom_catpg_rollback(cat);
    return rc;
}

int dom_catpg_busy_tenants(dom_catalog *cat, dom_directory_cb cb, void *payload)
{
    return stream(cat,
                  "SELECT bt.tenant FROM batch_tenants bt JOIN batches b ON b.id = bt.batch "
                  "WHERE b.step NOT IN ('done', 'failed')",
                  0, NULL, cb, payload);
}

int dom_catpg_wave_tenants(dom_catalog *cat, const char *wave, dom_directory_cb cb, void *payload)
{
    const char *pv[1] = {wave};
    return stream(cat,
                  "SELECT bt.tenant, b.src, d.epoch, d.region FROM batch_tenants bt JOIN batches "
                  "b ON b.id = bt.batch JOIN directory d ON d.tenant = bt.tenant WHERE b.wave = "
                  "$1 AND b.step IN ('flipped', 'done') AND d.region = b.dst AND b.id = (SELECT "
                  "max(l.batch) FROM batch_tenants l JOIN batches lb ON lb.id = l.batch WHERE "
                  "l.tenant = bt.tenant AND lb.step IN ('flipped', 'done')) ORDER BY b.id, "
                  "bt.tenant",
                  1, pv, cb, payload);
}

int dom_catpg_wave_members(dom_catalog *cat, const char *wave, dom_directory_cb cb, void *payload)
{
    const char *pv[1] = {wave};
    return stream(cat,
                  "SELECT DISTINCT d.tenant, d.region, d.epoch, d.state FROM batch_tenants bt "
                  "JOIN batches b ON b.id = bt.batch JOIN directory d ON d.tenant = bt.tenant "
                  "WHERE b.wave = $1 ORDER BY d.tenant",
                  1, pv, cb, payload);
}

int dom_catpg_log_next(dom_catalog *cat, int64_t *seq, char prev[65])
{
    /* one writer of the log at a time, until the transaction ends */
    int rc = q(cat, "cannot lock the transfer log", "SELECT pg_advisory_xact_lock(" LOCK_LOG ")", 0,
               NULL, NULL);
    if (rc < 0)
        return rc;
    PGresult *r = NULL;
    if ((rc = q(cat, "cannot read the transfer log",
                "SELECT seq, hash FROM transfer_log ORDER BY seq DESC LIMIT 1", 0, NULL, &r)) < 0)
        return rc;
    if (PQntuples(r) == 1) {
        *seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10) + 1;
        snprintf(prev, 65, "%s", PQgetvalue(r, 0, 1));
    } else {
        *seq = 1;
        memset(prev, '0', 64);
        prev[64] = '\0';
    }
    PQclear(r);
    return 0;
}

int dom_catpg_log_write(dom_catalog *cat, int64_t seq, const char *entry, const char *prev,
                        char hash[65])
{
    char s[32];
    i64(s, sizeof(s), seq);
    dom_log_hash(prev, entry, hash);
    const char *pv[4] = {s, entry, prev, hash};
    int rc = q(cat, "cannot append to the transfer log",
               "INSERT INTO transfer_log VALUES ($1, $2, $3, $4)", 4, pv, NULL);
    if (rc < 0)
        return rc;
    char head[96];
    snprintf(head, sizeof(head), "%lld %s", (long long)seq, hash);
    const char *pv2[1] = {head};
    return q(cat, "cannot record the transfer log's head",
             "INSERT INTO meta VALUES ('log_head', $1) ON CONFLICT (key) DO UPDATE SET value = "
             "excluded.value",
             1, pv2, NULL);
}

int dom_catpg_log_scan(dom_catalog *cat, dom_log_cb cb, void *payload)
{
    if (!PQsendQuery(cat->pg, "SELECT seq, entry, prev, hash FROM transfer_log ORDER BY seq"))
        return pg_fail(cat, "cannot read the transfer log", NULL);
    PQsetSingleRowMode(cat->pg);
    PGresult *r = NULL;
    int rc = 0;
    while ((r = PQgetResult(cat->pg)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE) {
            if (rc == 0)
                rc = cb(strtoll(PQgetvalue(r, 0, 0), NULL, 10), PQgetvalue(r, 0, 1),
                        PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3), payload);
            PQclear(r);
        } else if (st == PGRES_TUPLES_OK) {
            PQclear(r);
        } else {
            int e = pg_fail(cat, "cannot read the transfer log", r);
            if (rc == 0)
                rc = e;
        }
    }
    return rc;
}

int dom_catpg_log_head(dom_catalog *cat, int64_t *seq, char hash[65])
{
    PGresult *r = NULL;
    *seq = 0;
    hash[0] = '\0';
    if (q(cat, "cannot read the transfer log's head",
          "SELECT value FROM meta WHERE key = 'log_head'", 0, NULL, &r) < 0)
        return 0;
    long long n = 0;
    char h[65] = {0};
    if (PQntuples(r) == 1 && sscanf(PQgetvalue(r, 0, 0), "%lld %64s", &n, h) == 2) {
        *seq = n;
        memcpy(hash, h, 65);
    }
    PQclear(r);
    return 0;
}

int dom_catpg_query(dom_catalog *cat, const char *sql, dom_row_cb cb, void *payload)
{
    PGresult *r = NULL;
    int rc = q(cat, "cannot read", sql, 0, NULL, &r);
    if (rc < 0)
        return rc;
    const char *vals[32];
    int nc = PQnfields(r) < 32 ? PQnfields(r) : 32;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        for (int c = 0; c < nc; c++)
            vals[c] = PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c);
        rc = cb(nc, vals, payload);
    }
    PQclear(r);
    return rc;
}

int dom_catpg_meta_set(dom_catalog *cat, const char *key, const char *value)
{
    const char *pv[2] = {key, value};
    return q(cat, "cannot write meta",
             "INSERT INTO meta VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = "
             "excluded.value",
             2, pv, NULL);
}

int dom_catpg_meta_get(dom_catalog *cat, const char *key, char *value, size_t n)
{
    PGresult *r = NULL;
    const char *pv[1] = {key};
    value[0] = '\0';
    int rc = q(cat, "cannot read meta", "SELECT value FROM meta WHERE key = $1", 1, pv, &r);
    if (rc < 0)
        return rc;
    if (PQntuples(r) == 1)
        snprintf(value, n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int dom_catpg_rows_put(dom_catalog *cat, int64_t batch, const char *const *tbl,
                       const char *const *pk, const char *const *digest, size_t n)
{
    dom_buf a = DOM_BUF_INIT, b = DOM_BUF_INIT, c = DOM_BUF_INIT;
    dom_buf_put_text_array(&a, tbl, n);
    dom_buf_put_text_array(&b, pk, n);
    dom_buf_put_text_array(&c, digest, n);
    char bid[32];
    i64(bid, sizeof(bid), batch);
    const char *pv[4] = {bid, dom_buf_cstr(&a), dom_buf_cstr(&b), dom_buf_cstr(&c)};
    int rc = a.oom || b.oom || c.oom
                 ? DOM_ENOMEM
                 : q(cat, "cannot record the transferred rows",
                     "INSERT INTO transfer_rows SELECT $1, * FROM unnest($2::text[], $3::text[], "
                     "$4::text[])",
                     4, pv, NULL);
    dom_buf_free(&a);
    dom_buf_free(&b);
    dom_buf_free(&c);
    return rc;
}
