/*
 * plan.c - builds the migration plan.  Tenants are found in the regions'
 * tenants tables (and placed by the directory when the catalog has one),
 * rows and bytes are counted per tenant and table in every region, and
 * each misplaced tenant is given to the first wave that takes it.  Memory
 * is a few dozen bytes per tenant; rows are never held.
 */
#include <stdio.h>
#include <string.h>

#include "core/catalog.h"
#include "core/geo.h"
#include "core/plan.h"
#include "core/policy.h"
#include "core/schema.h"
#include "store/store.h"
#include "util/util.h"

typedef struct builder {
    dom_plan *plan;
    const dom_config *cfg;
    dom_buf keys;
    size_t cap;
    uint32_t *slots; /* open addressing: tenant index + 1, 0 = empty */
    size_t nslots;
    int region; /* region being scanned */
    int table;  /* tenant table being scanned */
} builder;

static int rehash(builder *b)
{
    size_t n = b->nslots ? b->nslots * 2 : 1024;
    uint32_t *s = dom_calloc(n, sizeof(uint32_t));
    if (!s)
        return DOM_ENOMEM;
    for (size_t i = 0; i < b->plan->ntenants; i++) {
        dom_plan_tenant *t = &b->plan->tenants[i];
        size_t j = dom_fnv1a(b->keys.ptr + t->key_off, t->key_len) & (n - 1);
        while (s[j])
            j = (j + 1) & (n - 1);
        s[j] = (uint32_t)i + 1;
    }
    dom_free(b->slots);
    b->slots = s;
    b->nslots = n;
    return 0;
}

/* The tenant with this key, or -1. */
static long find(builder *b, const char *key, size_t n)
{
    if (!b->nslots)
        return -1;
    size_t j = dom_fnv1a(key, n) & (b->nslots - 1);
    while (b->slots[j]) {
        dom_plan_tenant *t = &b->plan->tenants[b->slots[j] - 1];
        if (t->key_len == n && memcmp(b->keys.ptr + t->key_off, key, n) == 0)
            return (long)b->slots[j] - 1;
        j = (j + 1) & (b->nslots - 1);
    }
    return -1;
}

static long add(builder *b, const char *key, size_t n)
{
    dom_plan *p = b->plan;
    if (p->ntenants >= UINT32_MAX - 1 || b->keys.len + n + 1 > UINT32_MAX)
        return dom_error_set(DOM_ERROR, "too many tenants");
    if (p->ntenants == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        dom_plan_tenant *t = dom_realloc(p->tenants, cap * sizeof(*t));
        if (!t)
            return DOM_ENOMEM;
        p->tenants = t;
        b->cap = cap;
    }
    if ((p->ntenants + 1) * 2 > b->nslots && rehash(b) < 0)
        return DOM_ENOMEM;
    dom_plan_tenant *t = &p->tenants[p->ntenants];
    memset(t, 0, sizeof(*t));
    t->key_off = (uint32_t)b->keys.len;
    t->key_len = (uint32_t)n;
    t->country = -1;
    t->cur = -1;
    t->target = -1;
    t->wave = DOM_NO_WAVE;
    dom_buf_put(&b->keys, key, n);
    dom_buf_putc(&b->keys, '\0');
    if (b->keys.oom)
        return DOM_ENOMEM;
    size_t j = dom_fnv1a(key, n) & (b->nslots - 1);
    while (b->slots[j])
        j = (j + 1) & (b->nslots - 1);
    b->slots[j] = (uint32_t)p->ntenants + 1;
    return (long)p->ntenants++;
}

/* Counts a tenant without a valid country under what is wrong with it. */
static int bad_country(dom_plan *p, const char *why, const char *key, size_t n)
{
    size_t i = 0;
    while (i < p->nbad && strcmp(p->bad[i].why, why) != 0)
        i++;
    if (i == p->nbad) {
        if (p->nbad == DOM_PLAN_BAD_MAX)
            i = DOM_PLAN_BAD_MAX - 1; /* the rest under the last */
        else
            snprintf(p->bad[p->nbad++].why, sizeof(p->bad[0].why), "%s", why);
    }
    if (!p->bad[i].tenants)
        snprintf(p->bad[i].example, sizeof(p->bad[i].example), "%.*s", (int)n, key);
    p->bad[i].tenants++;
    return 0;
}

static int on_tenant(const char *key, size_t n, const char *country, void *payload)
{
    builder *b = payload;
    long i = find(b, key, n);
    if (i < 0 && (i = add(b, key, n)) < 0)
        return (int)i;
    dom_plan_tenant *t = &b->plan->tenants[i];
    t->present |= (uint64_t)1 << b->region;
    if (t->cur < 0) {
        char cc[3], why[96];
        t->cur = (int8_t)b->region;
        t->country = (int16_t)dom_country_norm(country, cc, why, sizeof(why));
        if (t->country < 0)
            return bad_country(b->plan, why, key, n);
    }
    return 0;
}

static int on_directory(const char *key, size_t n, const char *region, int64_t epoch,
                        const char *state, void *payload)
{
    builder *b = payload;
    (void)epoch;
    (void)state;
    long i = find(b, key, n);
    if (i < 0)
        return 0; /* in the directory but in no tenants table: audit's business */
    int r = dom_config_region(b->cfg, region);
    if (r < 0)
        return dom_error_set(DOM_ECONFIG,
                             "the directory places tenant %.*s in region \"%s\", which the config "
                             "does not define",
                             (int)n, key, region);
    b->plan->tenants[i].cur = (int8_t)r;
    return 0;
}

static int on_count(const char *key, size_t n, int64_t rows, int64_t bytes, void *payload)
{
    builder *b = payload;
    dom_plan *p = b->plan;
    long i = find(b, key, n);
    if (i < 0) {
        p->orphan_rows += rows;
        return 0;
    }
    dom_plan_tenant *t = &p->tenants[i];
    t->present |= (uint64_t)1 << b->region;
    if (t->cur == b->region) {
        t->rows += rows;
        t->bytes += bytes;
        if (t->wave != DOM_NO_WAVE)
            p->waves[t->wave].table_rows[b->table] += rows;
        else if (t->target >= 0 && t->target != t->cur)
            p->waves[p->nwaves - 1].table_rows[b->table] += rows; /* misplaced, in no wave */
    }
    return 0;
}

int dom_plan_wave_index(const dom_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nwaves; i++)
        if (strcmp(cfg->waves[i].name, name) == 0)
            return (int)i;
    return -1;
}

unsigned dom_plan_assign_wave(const dom_config *cfg, const char *country, const char *key,
                              size_t keylen)
{
    for (size_t w = 0; w < cfg->nwaves; w++) {
        const dom_wave *wv = &cfg->waves[w];
        int match = wv->ncountries == 0;
        for (size_t c = 0; c < wv->ncountries && !match; c++)
            match = strcmp(wv->countries[c], country) == 0;
        if (match && dom_key_sampled(key, keylen, wv->percent))
            return (unsigned)w;
    }
    return DOM_NO_WAVE;
}

/* Whether region r is empty: no tenants table, and none of its tables
 * holds tenant data in the first region that has one (every table it has,
 * if any, is global there).  prepare creates the tables in it. */
static int region_empty(const dom_config *cfg, dom_table_info **infos, size_t *ninfos,
                        dom_move_table **tts, size_t *nall, size_t r)
{
    if (dom_table_find(infos[r], ninfos[r], cfg->tenants.table))
        return 0;
    size_t ref = 0;
    while (ref < cfg->nregions && !tts[ref])
        ref++;
    for (size_t i = 0; i < ninfos[r]; i++) {
        int global = 0;
        for (size_t k = 0; ref < cfg->nregions && k < nall[ref]; k++)
            if (tts[ref][k].cls == DOM_TABLE_GLOBAL &&
                strcmp(tts[ref][k].info->name, infos[r][i].name) == 0)
                global = 1;
        if (!global)
            return 0;
    }
    return 1;
}

/* Opens every region, resolves its tenant tables and scans its tenants. */
static int scan_regions(builder *b, dom_store **stores, dom_table_info **infos, size_t *ninfos,
                        dom_move_table **tts, size_t *ntts, size_t *nall)
{
    const dom_config *cfg = b->cfg;
    int rc;
    for (size_t r = 0; r < cfg->nregions; r++) {
        if ((rc = dom_store_open(&stores[r], &cfg->regions[r], DOM_STORE_MUST_EXIST)) < 0)
            return rc;
        if ((rc = dom_store_tables(stores[r], &infos[r], &ninfos[r])) < 0)
            return rc;
        if (dom_table_find(infos[r], ninfos[r], cfg->tenants.table) &&
            (rc = dom_schema_tables(&tts[r], &nall[r], &ntts[r], cfg, cfg->regions[r].name,
                                    infos[r], ninfos[r])) < 0)
            return rc;
    }
    for (size_t r = 0; r < cfg->nregions; r++) {
        if (!tts[r]) {
            /* an empty region holds no tenant yet; any other lacks a table */
            if (region_empty(cfg, infos, ninfos, tts, nall, r))
                continue;
            return dom_error_set(DOM_EREGION, "region \"%s\": tenants table \"%s\" not found",
                                 cfg->regions[r].name, cfg->tenants.table);
        }
        b->region = (int)r;
        if ((rc = dom_store_scan_tenants(stores[r], cfg->tenants.table, cfg->tenants.key,
                                         cfg->tenants.country, on_tenant, b)) < 0)
            return rc;
    }
    return 0;
}

/* Takes the table list of the first region as the plan's table names; the
 * other regions must hold the same tenant tables. */
static int collect_tables(dom_plan *p, const dom_config *cfg, dom_move_table **tts, size_t *ntts,
                          size_t *nalls)
{
    static const char *const class_names[] = {"tenants", "direct", "indirect", "global"};
    size_t ref = 0;
    while (ref + 1 < cfg->nregions && !tts[ref])
        ref++;
    if (!tts[ref])
        return dom_error_set(DOM_EREGION, "no region holds the tenants table \"%s\"",
                             cfg->tenants.table);
    size_t nall = nalls[ref];
    p->ntables = ntts[ref];
    p->tables = dom_calloc(p->ntables + 1, sizeof(char *));
    p->all_tables = dom_calloc(nall + 1, sizeof(char *));
    p->table_how = dom_calloc(nall + 1, sizeof(char *));
    p->table_class = dom_calloc(nall + 1, sizeof(char *));
    if (!p->tables || !p->all_tables || !p->table_how || !p->table_class)
        return DOM_ENOMEM;
    for (size_t i = 0; i < p->ntables; i++)
        if (!(p->tables[i] = dom_strdup(tts[ref][i].info->name)))
            return DOM_ENOMEM;
    for (size_t i = 0; i < nall; i++) {
        p->nall_tables = i + 1;
        p->table_class[i] = class_names[tts[ref][i].cls];
        if (!(p->all_tables[i] = dom_strdup(tts[ref][i].info->name)) ||
            !(p->table_how[i] = dom_schema_how(&tts[ref][i])))
            return DOM_ENOMEM;
    }
    for (size_t r = 0; r < cfg->nregions; r++) {
        for (size_t i = 0; i < ntts[r]; i++) {
            size_t j;
            for (j = 0; j < p->ntables; j++)
                if (strcmp(p->tables[j], tts[r][i].info->name) == 0)
                    break;
            if (j == p->ntables)
                return dom_error_set(DOM_EREGION,
                                     "region \"%s\": table \"%s\" holds tenant data here but not "
                                     "in region \"%s\"",
                                     cfg->regions[r].name, tts[r][i].info->name,
                                     cfg->regions[ref].name);
        }
    }
    return 0;
}

/* Sets each tenant's target: the first candidate region with capacity left.
 * Tenants already at their first choice are placed first, so that capacity
 * never moves a tenant that is where it belongs. */
static int place(dom_plan *p, const dom_config *cfg)
{
    int(*cand)[DOM_MAX_REGIONS] = dom_calloc(dom_ncountries, sizeof(*cand));
    int *ncand = dom_calloc(dom_ncountries, sizeof(int));
    int64_t load[DOM_MAX_REGIONS] = {0};
    if (!cand || !ncand) {
        dom_free(cand);
        dom_free(ncand);
        return DOM_ENOMEM;
    }
    for (size_t c = 0; c < dom_ncountries; c++)
        ncand[c] = dom_policy_candidates(cfg, dom_countries[c].code, cand[c]);
    /* tenants without a valid country: the policy's home for them, or
     * where they are */
    int invalid_home = dom_policy_invalid_home(cfg);
    for (size_t i = 0; i < p->ntenants; i++)
        if (p->tenants[i].country < 0 && invalid_home >= 0)
            p->tenants[i].target = (int8_t)invalid_home;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < p->ntenants; i++) {
            dom_plan_tenant *t = &p->tenants[i];
            if (t->country < 0 || ncand[t->country] == 0)
                continue;
            const int *cd = cand[t->country];
            int first = t->cur == cd[0];
            if (first != (pass == 0))
                continue;
            int pick = -1;
            for (int k = 0; k < ncand[t->country] && pick < 0; k++) {
                long capy = cfg->regions[cd[k]].capacity_tenants;
                if (capy == 0 || load[cd[k]] < capy)
                    pick = cd[k];
            }
            if (pick < 0) {
                pick = cd[0];
                p->over_capacity++;
            }
            load[pick]++;
            t->target = (int8_t)pick;
        }
    }
    dom_free(cand);
    dom_free(ncand);
    return 0;
}

static int add_pair(dom_plan_wave *w, int from, int to, const dom_plan_tenant *t)
{
    size_t i;
    for (i = 0; i < w->npairs; i++)
        if (w->pairs[i].from == from && w->pairs[i].to == to)
            break;
    if (i == w->npairs) {
        dom_plan_pair *g = dom_realloc(w->pairs, (w->npairs + 1) * sizeof(*g));
        if (!g)
            return DOM_ENOMEM;
        w->pairs = g;
        memset(&g[i], 0, sizeof(*g));
        g[i].from = from;
        g[i].to = to;
        w->npairs++;
    }
    w->pairs[i].tenants++;
    w->pairs[i].rows += t->rows;
    w->pairs[i].bytes += t->bytes;
    return 0;
}

static int summarize(dom_plan *p, const dom_config *cfg)
{
    size_t nw = p->nwaves;
    /* fixed[w] per country: violations a wave clears */
    for (size_t i = 0; i < p->ntenants; i++) {
        dom_plan_tenant *t = &p->tenants[i];
        if (t->cur >= 0)
            p->region_before[t->cur]++;
        if (t->country < 0) {
            /* no country to judge by: moved to the policy's home for them,
             * if it names one */
            p->unknown_country++;
            int moving = t->wave != DOM_NO_WAVE, at = moving ? t->target : t->cur;
            if (at >= 0)
                p->region_after[at]++;
            if (t->target >= 0 && t->cur != t->target) {
                p->misplaced++;
                dom_plan_wave *pw = &p->waves[moving ? t->wave : nw - 1];
                pw->tenants++;
                pw->rows += t->rows;
                pw->bytes += t->bytes;
                if (t->cur >= 0 && add_pair(pw, t->cur, t->target, t) < 0)
                    return DOM_ENOMEM;
            }
            continue;
        }
        dom_plan_country *c = &p->countries[t->country];
        uint64_t allowed = dom_policy_allowed(cfg, dom_countries[t->country].code);
        int moving = t->wave != DOM_NO_WAVE;
        size_t w = moving ? t->wave : nw - 1;
        c->tenants++;
        p->region_after[moving ? t->target : t->cur]++;
        if (t->cur != t->target) {
            c->misplaced++;
            p->misplaced++;
        }
        dom_plan_wave *pw = &p->waves[w];
        if (moving || t->cur != t->target) {
            pw->tenants++;
            pw->rows += t->rows;
            pw->bytes += t->bytes;
        }
        if (moving) {
            c->moving++;
            if (add_pair(pw, t->cur, t->target, t) < 0)
                return DOM_ENOMEM;
        } else if (t->cur != t->target && t->target >= 0 &&
                   add_pair(pw, t->cur, t->target, t) < 0) {
            return DOM_ENOMEM;
        }
        int before = (t->present & ~allowed) != 0;
        uint64_t after_set =
            moving ? ((t->present & ~((uint64_t)1 << t->cur)) | ((uint64_t)1 << t->target))
                   : t->present;
        int after = (after_set & ~allowed) != 0;
        if (before) {
            c->violating_before++;
            p->violating_before++;
        }
        /* The tenant violates until its wave runs, and `after` from then on. */
        for (size_t k = 0; k + 1 < nw; k++) {
            int v = (moving && k >= t->wave) ? after : before;
            if (v) {
                p->waves[k].violating_after++;
                p->waves[k].country_violating_after[t->country]++;
            }
        }
        /* "unplanned" carries the state after every wave */
        if (moving ? after : before) {
            p->waves[nw - 1].violating_after++;
            p->waves[nw - 1].country_violating_after[t->country]++;
        }
    }
    return 0;
}

int dom_plan_build(dom_plan **out, const dom_config *cfg)
{
    return dom_plan_build_ex(out, cfg, 0);
}

int dom_plan_build_ex(dom_plan **out, const dom_config *cfg, int flags)
{
    dom_store *stores[DOM_MAX_REGIONS] = {0};
    dom_table_info *infos[DOM_MAX_REGIONS] = {0};
    size_t ninfos[DOM_MAX_REGIONS] = {0};
    dom_move_table *tts[DOM_MAX_REGIONS] = {0};
    size_t ntts[DOM_MAX_REGIONS] = {0}, nall[DOM_MAX_REGIONS] = {0};
    dom_catalog *cat = NULL;
    builder b = {0};
    int rc;

    *out = NULL;
    dom_plan *p = dom_calloc(1, sizeof(*p));
    if (!p)
        return DOM_ENOMEM;
    b.plan = p;
    b.cfg = cfg;
    p->cfg = cfg;
    p->source = "scan";
    p->nwaves = cfg->nwaves + 1;
    p->waves = dom_calloc(p->nwaves, sizeof(dom_plan_wave));
    p->countries = dom_calloc(dom_ncountries, sizeof(dom_plan_country));
    p->region_before = dom_calloc(cfg->nregions, sizeof(int64_t));
    p->region_after = dom_calloc(cfg->nregions, sizeof(int64_t));
    if (!p->waves || !p->countries || !p->region_before || !p->region_after) {
        rc = DOM_ENOMEM;
        goto done;
    }
    for (size_t w = 0; w < p->nwaves; w++) {
        p->waves[w].wave = w < cfg->nwaves ? &cfg->waves[w] : NULL;
        p->waves[w].country_violating_after = dom_calloc(dom_ncountries, sizeof(int64_t));
        if (!p->waves[w].country_violating_after) {
            rc = DOM_ENOMEM;
            goto done;
        }
    }

    if ((rc = scan_regions(&b, stores, infos, ninfos, tts, ntts, nall)) < 0)
        goto done;
    if ((rc = collect_tables(p, cfg, tts, ntts, nall)) < 0)
        goto done;
    for (size_t w = 0; w < p->nwaves; w++)
        if (!(p->waves[w].table_rows = dom_calloc(p->ntables, sizeof(int64_t)))) {
            rc = DOM_ENOMEM;
            goto done;
        }

    rc = dom_catalog_open(&cat, cfg, DOM_CATALOG_READONLY);
    if (rc == 0) {
        int64_t n = 0;
        if ((rc = dom_catalog_directory_count(cat, &n)) < 0)
            goto done;
        if (n > 0) {
            p->source = "directory";
            if ((rc = dom_catalog_scan_directory(cat, on_directory, &b)) < 0)
                goto done;
        }
    } else if (rc != DOM_ENOTFOUND) {
        goto done;
    }

    if ((rc = place(p, cfg)) < 0)
        goto done;
    for (size_t i = 0; i < p->ntenants; i++) {
        dom_plan_tenant *t = &p->tenants[i];
        if (t->target < 0 || t->target == t->cur)
            continue;
        unsigned w =
            dom_plan_assign_wave(cfg, t->country >= 0 ? dom_countries[t->country].code : "",
                                 b.keys.ptr + t->key_off, t->key_len);
        t->wave = (uint16_t)w;
    }

    for (size_t r = 0; r < cfg->nregions && !(flags & DOM_PLAN_TENANTS_ONLY); r++) {
        b.region = (int)r;
        for (size_t i = 0; i < ntts[r]; i++) {
            for (b.table = 0; b.table < (int)p->ntables; b.table++)
                if (strcmp(p->tables[b.table], tts[r][i].info->name) == 0)
                    break;
            if ((rc = dom_store_count_by_tenant(stores[r], &tts[r][i], &p->bytes_estimated,
                                                on_count, &b)) < 0)
                goto done;
        }
    }
    if ((rc = summarize(p, cfg)) < 0)
        goto done;
    rc = 0;
done:
    dom_catalog_close(cat);
    for (size_t r = 0; r < cfg->nregions; r++) {
        dom_free(tts[r]);
        dom_table_info_free(infos[r], ninfos[r]);
        dom_store_close(stores[r]);
    }
    dom_free(b.slots);
    p->keys = b.keys.ptr;
    if (rc < 0) {
        dom_plan_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void dom_plan_free(dom_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; p->tables && i < p->ntables; i++)
        dom_free(p->tables[i]);
    dom_free(p->tables);
    for (size_t i = 0; i < p->nall_tables; i++) {
        dom_free(p->all_tables[i]);
        dom_free(p->table_how[i]);
    }
    dom_free(p->all_tables);
    dom_free(p->table_how);
    dom_free(p->table_class);
    dom_free(p->tenants);
    dom_free(p->keys);
    dom_free(p->region_before);
    dom_free(p->region_after);
    for (size_t w = 0; p->waves && w < p->nwaves; w++) {
        dom_free(p->waves[w].pairs);
        dom_free(p->waves[w].table_rows);
        dom_free(p->waves[w].country_violating_after);
    }
    dom_free(p->waves);
    dom_free(p->countries);
    dom_free(p);
}
