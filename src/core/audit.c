/*
 * audit.c - proves where the data is: every row of every tenant table (and
 * of the config's audit.scan tables) in every region is attributed to a
 * tenant of the directory and checked against the tenant's allowed regions;
 * the transfer log's SHA-256 chain is recomputed and compared with the
 * heads that the catalog and the regions remember.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/catalog.h"
#include "core/geo.h"
#include "core/policy.h"
#include "core/schema.h"
#include "store/store.h"
#include "util/util.h"

typedef struct tenant {
    char *key;
    int home;
    int country; /* index in dom_countries, -1 unknown */
    int in_motion;
    uint64_t has_row;      /* regions whose tenants table has its row */
    uint64_t dup_reported; /* regions already reported as duplicates */
} tenant;

typedef struct auditor {
    const dom_config *cfg;
    int invalid_home; /* dom_policy_invalid_home */
    dom_audit_result *res;
    tenant *t;
    size_t n, cap;
    uint32_t *slots;
    size_t nslots;
    int region;
    const char *table;
    int is_tenants_table;
    uint64_t *allowed; /* per country */
} auditor;

static long find(auditor *a, const char *key, size_t n)
{
    if (!a->nslots)
        return -1;
    size_t j = dom_fnv1a(key, n) & (a->nslots - 1);
    while (a->slots[j]) {
        tenant *t = &a->t[a->slots[j] - 1];
        if (strlen(t->key) == n && memcmp(t->key, key, n) == 0)
            return (long)a->slots[j] - 1;
        j = (j + 1) & (a->nslots - 1);
    }
    return -1;
}

static int grow(auditor *a)
{
    size_t n = a->nslots ? a->nslots * 2 : 1024;
    uint32_t *s = dom_calloc(n, sizeof(uint32_t));
    if (!s)
        return DOM_ENOMEM;
    for (size_t i = 0; i < a->n; i++) {
        size_t j = dom_fnv1a(a->t[i].key, strlen(a->t[i].key)) & (n - 1);
        while (s[j])
            j = (j + 1) & (n - 1);
        s[j] = (uint32_t)i + 1;
    }
    dom_free(a->slots);
    a->slots = s;
    a->nslots = n;
    return 0;
}

static int on_dir(const char *key, size_t n, const char *region, int64_t epoch, const char *state,
                  void *payload)
{
    auditor *a = payload;
    (void)epoch;
    (void)state;
    if (dom_grow(&a->t, &a->cap, a->n + 1, sizeof(tenant), 1024) < 0)
        return DOM_ENOMEM;
    if ((a->n + 1) * 2 > a->nslots && grow(a) < 0)
        return DOM_ENOMEM;
    tenant *t = &a->t[a->n];
    memset(t, 0, sizeof(*t));
    if (!(t->key = dom_strndup(key, n)))
        return DOM_ENOMEM;
    t->home = dom_config_region(a->cfg, region);
    t->country = -1;
    size_t j = dom_fnv1a(key, n) & (a->nslots - 1);
    while (a->slots[j])
        j = (j + 1) & (a->nslots - 1);
    a->slots[j] = (uint32_t)a->n + 1;
    a->n++;
    if (t->home >= 0)
        a->res->tenants_per_region[t->home]++;
    return 0;
}

static int on_busy(const char *key, size_t n, const char *r, int64_t e, const char *s, void *p)
{
    (void)r, (void)e, (void)s;
    long i = find(p, key, n);
    if (i >= 0)
        ((auditor *)p)->t[i].in_motion = 1;
    return 0;
}

static dom_finding *finding(auditor *a, dom_finding_kind kind, int region, const char *table,
                            const char *country)
{
    dom_audit_result *r = a->res;
    for (size_t i = 0; i < r->nfindings; i++) {
        dom_finding *f = &r->findings[i];
        if (f->kind == kind && f->region == region && strcmp(f->table, table ? table : "") == 0 &&
            strcmp(f->country, country ? country : "") == 0)
            return f;
    }
    dom_finding *g = dom_realloc(r->findings, (r->nfindings + 1) * sizeof(dom_finding));
    if (!g)
        return NULL;
    r->findings = g;
    dom_finding *f = &g[r->nfindings++];
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->region = region;
    snprintf(f->table, sizeof(f->table), "%s", table ? table : "");
    snprintf(f->country, sizeof(f->country), "%s", country ? country : "");
    f->examples =
        dom_calloc(a->cfg->audit.examples ? (size_t)a->cfg->audit.examples : 1, sizeof(char *));
    return f;
}

static int note(auditor *a, dom_finding_kind kind, const char *table, const char *country,
                const char *key, size_t n, int64_t rows)
{
    dom_finding *f = finding(a, kind, a->region, table, country);
    if (!f || !f->examples)
        return DOM_ENOMEM;
    f->rows += rows;
    f->tenants++;
    if (f->nexamples < (size_t)a->cfg->audit.examples)
        if (!(f->examples[f->nexamples++] = dom_strndup(key, n)))
            return DOM_ENOMEM;
    return 0;
}

static int on_tenant_row(const char *key, size_t n, const char *country, void *payload)
{
    auditor *a = payload;
    long i = find(a, key, n);
    if (i < 0)
        return 0; /* counted as an orphan by the row count of the tenants table */
    tenant *t = &a->t[i];
    t->has_row |= (uint64_t)1 << a->region;
    if (a->region != t->home && t->country >= 0)
        return 0;
    char cc[3], why[96];
    t->country = dom_country_norm(country, cc, why, sizeof(why));
    /* reported once, where the directory says the tenant lives */
    if (t->country < 0 && a->region == t->home && t->home != a->invalid_home)
        return note(a, DOM_FIND_BAD_COUNTRY, NULL, why, key, n, 0);
    return 0;
}

static int on_rows(const char *key, size_t n, int64_t rows, int64_t bytes, void *payload)
{
    auditor *a = payload;
    (void)bytes;
    a->res->rows_per_region[a->region] += rows;
    long i = find(a, key, n);
    if (i < 0)
        return note(a, DOM_FIND_ORPHAN, a->table, NULL, key, n, rows);
    tenant *t = &a->t[i];
    uint64_t bit = (uint64_t)1 << a->region;
    /* without a valid country: the policy's home for such tenants, or
     * where the directory says (reported as such above) */
    uint64_t allowed = t->country >= 0        ? a->allowed[t->country]
                       : a->invalid_home >= 0 ? (uint64_t)1 << a->invalid_home
                       : t->home >= 0         ? (uint64_t)1 << t->home
                                              : 0;
    int rc = 0;
    if (!(allowed & bit))
        rc = note(a, DOM_FIND_NOT_ALLOWED, a->table,
                  t->country >= 0 ? dom_countries[t->country].code : "??", key, n, rows);
    if (rc == 0 && a->region != t->home && !t->in_motion && !(t->dup_reported & bit)) {
        t->dup_reported |= bit;
        rc = note(a, DOM_FIND_DUPLICATE, NULL, NULL, key, n, rows);
    }
    return rc;
}

/* ---- the transfer log ---------------------------------------------------------- */

typedef struct chain {
    dom_audit_result *res;
    char prev[65];
    int64_t expect;
    json_t *heads; /* seq -> hash, to check regions' heads */
} chain;

static int on_entry(int64_t seq, const char *entry, const char *prev, const char *hash,
                    void *payload)
{
    chain *c = payload;
    dom_audit_result *r = c->res;
    char want[65];
    r->log_entries++;
    if (r->log_first_bad)
        return 0;
    json_error_t e;
    json_t *j = json_loads(entry, 0, &e);
    json_int_t inner = j ? json_integer_value(json_object_get(j, "seq")) : -1;
    json_decref(j);
    dom_log_hash(prev, entry, want);
    if (seq != c->expect)
        snprintf(r->log_problem, sizeof(r->log_problem),
                 "entry %lld follows entry %lld: entries are missing", (long long)seq,
                 (long long)c->expect - 1);
    else if (strcmp(prev, c->prev) != 0)
        snprintf(r->log_problem, sizeof(r->log_problem),
                 "entry %lld does not chain to the entry before it (removed, reordered or "
                 "changed)",
                 (long long)seq);
    else if (strcmp(hash, want) != 0)
        snprintf(r->log_problem, sizeof(r->log_problem),
                 "entry %lld does not match its hash (changed)", (long long)seq);
    else if (inner != seq)
        snprintf(r->log_problem, sizeof(r->log_problem),
                 "entry %lld carries the number %lld (moved)", (long long)seq, (long long)inner);
    if (r->log_problem[0]) {
        r->log_first_bad = seq;
        return 0;
    }
    char k[32];
    snprintf(k, sizeof(k), "%lld", (long long)seq);
    json_object_set_new(c->heads, k, json_string(hash));
    memcpy(c->prev, hash, 65);
    c->expect = seq + 1;
    return 0;
}

static int check_log(dom_catalog *cat, const dom_config *cfg, dom_store **stores,
                     dom_audit_result *r)
{
    chain c = {r, "", 1, json_object()};
    memset(c.prev, '0', 64);
    c.prev[64] = '\0';
    int rc = dom_catalog_log_scan(cat, on_entry, &c);
    if (rc < 0) {
        json_decref(c.heads);
        return rc;
    }
    memcpy(r->log_head, c.prev, 65);
    int64_t hseq;
    char hhash[65];
    dom_catalog_log_head(cat, &hseq, hhash);
    if (!r->log_problem[0] && (hseq != c.expect - 1 || (hseq && strcmp(hhash, c.prev) != 0))) {
        snprintf(r->log_problem, sizeof(r->log_problem),
                 "the log ends at entry %lld but the catalog recorded entry %lld as its last "
                 "(entries removed from the end)",
                 (long long)(c.expect - 1), (long long)hseq);
        r->log_first_bad = c.expect;
    }
    for (size_t i = 0; i < cfg->nregions && !r->log_problem[0]; i++) {
        char v[128];
        long long s;
        char h[65];
        if (dom_store_meta_get(stores[i], "log_head", v, sizeof(v)) < 0 || !v[0] ||
            sscanf(v, "%lld %64s", &s, h) != 2)
            continue;
        char k[32];
        snprintf(k, sizeof(k), "%lld", s);
        const char *have = json_string_value(json_object_get(c.heads, k));
        if (!have || strcmp(have, h) != 0) {
            snprintf(r->log_problem, sizeof(r->log_problem),
                     "region \"%s\" recorded entry %lld of the log, which the catalog's log %s",
                     cfg->regions[i].name, s, have ? "holds with another hash" : "does not hold");
            r->log_first_bad = s;
        }
    }
    json_decref(c.heads);
    r->log_ok = !r->log_problem[0];
    return 0;
}

const char *dom_finding_name(dom_finding_kind k)
{
    static const char *const names[] = {"not_allowed", "orphan", "duplicate", "dangling",
                                        "invalid_country"};
    return k < DOM_FIND_KINDS ? names[k] : "?";
}

int dom_audit_run(const dom_config *cfg, dom_audit_result *out)
{
    auditor a = {0};
    dom_catalog *cat = NULL;
    dom_store *st[DOM_MAX_REGIONS] = {0};
    dom_table_info *info[DOM_MAX_REGIONS] = {0};
    size_t ninfo[DOM_MAX_REGIONS] = {0};
    dom_move_table *tt[DOM_MAX_REGIONS] = {0};
    size_t ntt[DOM_MAX_REGIONS] = {0};
    int rc;
    memset(out, 0, sizeof(*out));
    a.cfg = cfg;
    a.res = out;
    a.invalid_home = dom_policy_invalid_home(cfg);
    out->tenants_per_region = dom_calloc(cfg->nregions, sizeof(int64_t));
    out->rows_per_region = dom_calloc(cfg->nregions, sizeof(int64_t));
    a.allowed = dom_calloc(dom_ncountries, sizeof(uint64_t));
    if (!out->tenants_per_region || !out->rows_per_region || !a.allowed) {
        rc = DOM_ENOMEM;
        goto done;
    }
    for (size_t c = 0; c < dom_ncountries; c++)
        a.allowed[c] = dom_policy_allowed(cfg, dom_countries[c].code);
    if ((rc = dom_catalog_open(&cat, cfg, DOM_CATALOG_READONLY)) < 0) {
        if (rc == DOM_ENOTFOUND)
            rc = dom_error_set(DOM_EUSAGE, "no catalog yet; run 'domicile prepare' first");
        goto done;
    }
    if ((rc = dom_catalog_scan_directory(cat, on_dir, &a)) < 0 ||
        (rc = dom_catalog_busy_tenants(cat, on_busy, &a)) < 0)
        goto done;
    out->tenants = (int64_t)a.n;
    for (size_t r = 0; r < cfg->nregions; r++)
        if ((rc = dom_store_open(&st[r], &cfg->regions[r], DOM_STORE_MUST_EXIST)) < 0 ||
            (rc = dom_store_tables(st[r], &info[r], &ninfo[r])) < 0 ||
            (rc = dom_move_tables(&tt[r], &ntt[r], cfg, cfg->regions[r].name, info[r], ninfo[r])) <
                0)
            goto done;
    /* countries and tenants-table rows first: they decide what is allowed */
    for (size_t r = 0; r < cfg->nregions; r++) {
        a.region = (int)r;
        if ((rc = dom_store_scan_tenants(st[r], cfg->tenants.table, cfg->tenants.key,
                                         cfg->tenants.country, on_tenant_row, &a)) < 0)
            goto done;
    }
    for (size_t r = 0; r < cfg->nregions; r++) {
        a.region = (int)r;
        int bytes_est = 0;
        for (size_t i = 0; i < ntt[r]; i++) {
            a.table = tt[r][i].info->name;
            if ((rc = dom_store_count_by_tenant(st[r], &tt[r][i], &bytes_est, on_rows, &a)) < 0)
                goto done;
        }
        for (size_t i = 0; i < cfg->audit.nscan; i++) {
            const dom_table_spec *sp = &cfg->audit.scan[i];
            const dom_table_info *ti = dom_table_find(info[r], ninfo[r], sp->table);
            const char *key = sp->key ? sp->key : cfg->tenants.key;
            if (!ti)
                continue; /* a scanned table need not exist in every region */
            if (!dom_table_column(ti, key)) {
                rc = dom_error_set(DOM_EREGION,
                                   "region \"%s\", table \"%s\": tenant column \"%s\" not found",
                                   cfg->regions[r].name, ti->name, key);
                goto done;
            }
            a.table = ti->name;
            dom_move_table scan = {.info = ti, .cls = DOM_TABLE_DIRECT, .key = key, .key_col = -1};
            if ((rc = dom_store_count_by_tenant(st[r], &scan, &bytes_est, on_rows, &a)) < 0)
                goto done;
        }
    }
    /* directory entries whose home lacks the tenant */
    for (size_t i = 0; i < a.n; i++) {
        tenant *t = &a.t[i];
        if (t->home < 0 || (t->has_row & ((uint64_t)1 << t->home)) || t->in_motion)
            continue;
        a.region = t->home;
        if ((rc = note(&a, DOM_FIND_DANGLING, NULL, NULL, t->key, strlen(t->key), 0)) < 0)
            goto done;
    }
    rc = check_log(cat, cfg, st, out);
done:
    for (size_t i = 0; i < a.n; i++)
        dom_free(a.t[i].key);
    dom_free(a.t);
    dom_free(a.slots);
    dom_free(a.allowed);
    for (size_t r = 0; r < DOM_MAX_REGIONS; r++) {
        dom_free(tt[r]);
        dom_table_info_free(info[r], ninfo[r]);
        dom_store_close(st[r]);
    }
    dom_catalog_close(cat);
    if (rc < 0)
        dom_audit_free(out);
    return rc;
}

void dom_audit_free(dom_audit_result *r)
{
    for (size_t i = 0; i < r->nfindings; i++) {
        for (size_t j = 0; j < r->findings[i].nexamples; j++)
            dom_free(r->findings[i].examples[j]);
        dom_free(r->findings[i].examples);
    }
    dom_free(r->findings);
    dom_free(r->tenants_per_region);
    dom_free(r->rows_per_region);
    memset(r, 0, sizeof(*r));
}

typedef struct export_ctx {
    FILE *f;
    int64_t n;
} export_ctx;

static int on_export(int64_t seq, const char *entry, const char *prev, const char *hash,
                     void *payload)
{
    export_ctx *x = payload;
    json_error_t e;
    json_t *line = json_pack("{s:I,s:o,s:s,s:s}", "seq", (json_int_t)seq, "entry",
                             json_loads(entry, 0, &e), "prev", prev, "hash", hash);
    /* the entry exactly as hashed, so that anyone can recompute the chain */
    json_object_set_new(line, "entry_text", json_string(entry));
    char *s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (!s || fprintf(x->f, "%s\n", s) < 0) {
        free(s);
        return dom_error_set(DOM_ERROR, "cannot write the export: %s", strerror(errno));
    }
    free(s);
    x->n++;
    return 0;
}

int dom_audit_export(const dom_config *cfg, const char *path, int64_t *entries)
{
    dom_catalog *cat;
    int rc = dom_catalog_open(&cat, cfg, DOM_CATALOG_READONLY);
    if (rc < 0)
        return rc;
    FILE *f = fopen(path, "w");
    if (!f) {
        dom_catalog_close(cat);
        return dom_error_set(DOM_EUSAGE, "cannot write %s: %s", path, strerror(errno));
    }
    export_ctx x = {f, 0};
    rc = dom_catalog_log_scan(cat, on_export, &x);
    if (fclose(f) != 0 && rc == 0)
        rc = dom_error_set(DOM_EUSAGE, "cannot write %s: %s", path, strerror(errno));
    dom_catalog_close(cat);
    *entries = x.n;
    return rc;
}
