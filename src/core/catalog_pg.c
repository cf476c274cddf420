/*
 * catalog_pg.c - the PostgreSQL catalog's own part (catalog_impl.h): the
 * schema "domicile_catalog" on a server several domicile processes share.
 * Batches are claimed with FOR UPDATE SKIP LOCKED and held by a lease that
 * every journal update renews; a batch whose mover died is taken over once
 * its lease has expired.  Bulk writes go as arrays or COPY.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/catalog_impl.h"

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

static int setup(dom_catalog *cat, int flags)
{
    (void)flags;
    pthread_once(&owner_once, make_owner);
    snprintf(cat->owner, sizeof(cat->owner), "%s", process_owner);
    /* whatever the server, database or role set by default: no timeouts,
     * and READ COMMITTED (claims skip locked rows; a snapshot taken
     * earlier in the transaction would make them fail instead) */
    int rc = dom_db_script(cat->db, "cannot set up the session",
                           "SET statement_timeout = 0; SET client_min_messages = warning; "
                           "SET search_path = domicile_catalog; "
                           "SET idle_in_transaction_session_timeout = 0; "
                           "SET default_transaction_isolation = 'read committed'; "
                           "SET default_transaction_read_only = off");
    int64_t exists = 0;
    if (rc == 0)
        rc = dom_db_query(cat->db, "cannot read the catalog",
                          "SELECT (to_regclass('domicile_catalog.batches') IS NOT NULL)::int", NULL,
                          0, dom_db_keep_int, &exists);
    if (rc < 0 || exists)
        return rc;
    /* several movers may start at once: one creates the schema */
    if ((rc = dom_db_begin(cat->db)) < 0)
        return rc;
    if ((rc = dom_db_script(cat->db, "cannot create schema",
                            "SELECT pg_advisory_xact_lock(" LOCK_SCHEMA ")")) < 0 ||
        (rc = dom_db_script(cat->db, "cannot create schema", PG_CATALOG_SCHEMA)) < 0) {
        dom_db_rollback(cat->db);
        return rc;
    }
    return dom_db_commit(cat->db);
}

static int tenants_put(dom_catalog *cat, int64_t batch, const char *const *keys, size_t n)
{
    /* the tenants as one text array */
    dom_buf arr = DOM_BUF_INIT;
    dom_buf_put_text_array(&arr, keys, n);
    dom_db_arg a[2] = {DOM_DB_I(batch), DOM_DB_T(dom_buf_cstr(&arr))};
    int rc = arr.oom ? DOM_ENOMEM
                     : dom_db_exec(cat->db, "cannot record batch tenants",
                                   "INSERT INTO batch_tenants SELECT $1, unnest($2::text[])", a, 2,
                                   NULL);
    dom_buf_free(&arr);
    return rc;
}

static int rows_put(dom_catalog *cat, int64_t batch, const char *const *tbl, const char *const *pk,
                    const char *const *digest, size_t n)
{
    dom_buf t = DOM_BUF_INIT, p = DOM_BUF_INIT, d = DOM_BUF_INIT;
    dom_buf_put_text_array(&t, tbl, n);
    dom_buf_put_text_array(&p, pk, n);
    dom_buf_put_text_array(&d, digest, n);
    dom_db_arg a[4] = {DOM_DB_I(batch), DOM_DB_T(dom_buf_cstr(&t)), DOM_DB_T(dom_buf_cstr(&p)),
                       DOM_DB_T(dom_buf_cstr(&d))};
    int rc = t.oom || p.oom || d.oom
                 ? DOM_ENOMEM
                 : dom_db_exec(cat->db, "cannot record the transferred rows",
                               "INSERT INTO transfer_rows SELECT $1, * FROM unnest($2::text[], "
                               "$3::text[], $4::text[])",
                               a, 4, NULL);
    dom_buf_free(&t);
    dom_buf_free(&p);
    dom_buf_free(&d);
    return rc;
}

/* Inside a transaction, entries are buffered as COPY lines and written at
 * commit in one COPY and one upsert (prepare writes every tenant). */
static int put(dom_catalog *cat, const char *key, const char *region, int64_t epoch,
               const char *state)
{
    dom_buf_put_copy(&cat->puts, key, strlen(key));
    dom_buf_putc(&cat->puts, '\t');
    dom_buf_put_copy(&cat->puts, region, strlen(region));
    dom_buf_printf(&cat->puts, "\t%lld\t", (long long)epoch);
    dom_buf_put_copy(&cat->puts, state, strlen(state));
    dom_buf_putc(&cat->puts, '\n');
    return cat->puts.oom ? DOM_ENOMEM : 0;
}

static int flush(dom_catalog *cat)
{
    if (!cat->puts.len)
        return 0;
    int rc = cat->puts.oom ? DOM_ENOMEM
                           : dom_db_script(cat->db, "cannot write directory",
                                           "CREATE TEMP TABLE IF NOT EXISTS put_directory (LIKE "
                                           "directory); DELETE FROM put_directory");
    if (rc == 0)
        rc = dom_db_copy_in(cat->db, "cannot write directory", "COPY put_directory FROM STDIN",
                            cat->puts.ptr, cat->puts.len);
    dom_buf_clear(&cat->puts);
    if (rc == 0)
        rc = dom_db_script(cat->db, "cannot write directory",
                           "INSERT INTO directory SELECT * FROM put_directory ON CONFLICT (tenant) "
                           "DO UPDATE SET region = excluded.region, epoch = excluded.epoch, "
                           "state = excluded.state");
    return rc;
}

static int log_lock(dom_catalog *cat)
{
    return dom_db_script(cat->db, "cannot lock the transfer log",
                         "SELECT pg_advisory_xact_lock(" LOCK_LOG ")");
}

static int claim(dom_catalog *cat, const int64_t *ids, size_t n, int64_t *id)
{
    dom_buf arr = DOM_BUF_INIT;
    dom_buf_put_int_array(&arr, ids, n);
    dom_db_arg a[3] = {DOM_DB_T(dom_buf_cstr(&arr)), DOM_DB_T(cat->owner),
                       DOM_DB_I(cat->lease_sec)};
    *id = 0;
    int rc = arr.oom ? DOM_ENOMEM
                     : dom_db_query(cat->db, "cannot claim a batch",
                                    "UPDATE batches SET owner = $2, "
                                    "lease_until = now() + make_interval(secs => $3::int) "
                                    "WHERE id = (SELECT id FROM batches WHERE id = ANY "
                                    "($1::bigint[]) AND step NOT IN ('done', 'failed') AND "
                                    "(owner IS NULL OR lease_until < now()) ORDER BY id LIMIT 1 "
                                    "FOR UPDATE SKIP LOCKED) RETURNING id",
                                    a, 3, dom_db_keep_int, id);
    dom_buf_free(&arr);
    if (rc < 0)
        return rc;
    return *id ? 0 : DOM_ENOTFOUND;
}

static int release(dom_catalog *cat, int64_t id)
{
    dom_db_arg a[2] = {DOM_DB_I(id), DOM_DB_T(cat->owner)};
    return dom_db_exec(cat->db, "cannot release a batch",
                       "UPDATE batches SET owner = NULL, lease_until = NULL WHERE id = $1 AND "
                       "owner = $2",
                       a, 2, NULL);
}

static int release_all(dom_catalog *cat)
{
    dom_db_arg a[1] = {DOM_DB_T(cat->owner)};
    return dom_db_exec(cat->db, "cannot release batches",
                       "UPDATE batches SET owner = NULL, lease_until = NULL WHERE owner = $1", a, 1,
                       NULL);
}

static int renew(dom_catalog *cat)
{
    dom_db_arg a[2] = {DOM_DB_T(cat->owner), DOM_DB_I(cat->lease_sec)};
    return dom_db_exec(cat->db, "cannot renew leases",
                       "UPDATE batches SET lease_until = now() + make_interval(secs => $2::int) "
                       "WHERE owner = $1",
                       a, 2, NULL);
}

static int unfinished_among(dom_catalog *cat, const int64_t *ids, size_t n, int retained,
                            int64_t *count)
{
    dom_buf arr = DOM_BUF_INIT;
    dom_buf_put_int_array(&arr, ids, n);
    dom_db_arg a[3] = {DOM_DB_T(dom_buf_cstr(&arr)), DOM_DB_T(cat->owner),
                       DOM_DB_T(retained ? "true" : "false")};
    *count = 0;
    /* this process's own batches are in its hands already; retained
     * sources wait for their time, not for a mover */
    int rc = arr.oom ? DOM_ENOMEM
                     : dom_db_query(cat->db, "cannot list batches",
                                    "SELECT count(*) FROM batches WHERE id = ANY ($1::bigint[]) "
                                    "AND step NOT IN ('done', 'failed') AND owner IS DISTINCT "
                                    "FROM $2 AND NOT (step = 'flipped' AND $3::bool)",
                                    a, 3, dom_db_keep_int, count);
    dom_buf_free(&arr);
    return rc;
}

static int plan_lock(dom_catalog *cat, int lock)
{
    return dom_db_script(cat->db, "cannot lock the plan",
                         lock ? "SELECT pg_advisory_lock(" LOCK_PLAN ")"
                              : "SELECT pg_advisory_unlock(" LOCK_PLAN ")");
}

typedef struct mover_ctx {
    int (*cb)(const char *owner, double since_sec, void *);
    void *payload;
} mover_ctx;

static int mover_row(const dom_db_row *r, void *payload)
{
    const mover_ctx *m = payload;
    return m->cb(dom_db_text(r, 0), dom_db_real(r, 1), m->payload);
}

static int movers(dom_catalog *cat, int (*cb)(const char *owner, double since_sec, void *),
                  void *payload)
{
    mover_ctx m = {cb, payload};
    dom_db_arg a[1] = {DOM_DB_I(cat->lease_sec)};
    /* a lease is renewed to now + the lease: its renewal was that long
     * before it ends */
    return dom_db_query(cat->db, "cannot read the movers",
                        "SELECT owner, greatest(0, extract(epoch FROM now() - (max(lease_until) - "
                        "make_interval(secs => $1::int))))::float8 FROM batches WHERE owner IS "
                        "NOT NULL AND lease_until > now() GROUP BY owner ORDER BY owner",
                        a, 1, mover_row, &m);
}

const dom_catalog_engine dom_catalog_pg = {
    .name = "postgresql",
    .meta = "meta",
    /* the update renews the lease, and only the lease's holder may make it */
    .update_tail = ", lease_until = now() + make_interval(secs => $14::int) WHERE id = $1 AND "
                   "(owner = $13 OR owner IS NULL)",
    .update_args = 14,
    .setup = setup,
    .tenants_put = tenants_put,
    .rows_put = rows_put,
    .put = put,
    .flush = flush,
    .log_lock = log_lock,
    .claim = claim,
    .release = release,
    .release_all = release_all,
    .renew = renew,
    .unfinished_among = unfinished_among,
    .plan_lock = plan_lock,
    .movers = movers,
};
