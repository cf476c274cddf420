/*
 * prepare.c - readies every region for moves: checks that their tenant
 * tables match, installs fences, change logs, the residency guard and the
 * triggers, and fills the directory from where the tenants are now.  And
 * takes all of it out again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/catalog.h"
#include "core/geo.h"
#include "core/mover.h"
#include "core/plan.h"
#include "core/policy.h"
#include "core/schema.h"
#include "store/store.h"
#include "util/util.h"

typedef struct regions {
    dom_store *st[DOM_MAX_REGIONS];
    dom_table_info *info[DOM_MAX_REGIONS];
    size_t ninfo[DOM_MAX_REGIONS];
    dom_move_table *mt[DOM_MAX_REGIONS];
    size_t nmt[DOM_MAX_REGIONS];
    size_t n;
} regions;

static void regions_close(regions *r)
{
    for (size_t i = 0; i < r->n; i++) {
        dom_free(r->mt[i]);
        dom_table_info_free(r->info[i], r->ninfo[i]);
        dom_store_close(r->st[i]);
    }
    memset(r, 0, sizeof(*r));
}

static int regions_open(regions *r, const dom_config *cfg)
{
    int rc;
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < cfg->nregions; i++) {
        r->n = i + 1;
        if ((rc = dom_store_open(&r->st[i], &cfg->regions[i], DOM_STORE_MUST_EXIST)) < 0)
            return rc;
        r->st[i]->fence_wait_sec = cfg->options.fence_wait_sec;
        if ((rc = dom_store_tables(r->st[i], &r->info[i], &r->ninfo[i])) < 0 ||
            (rc = dom_move_tables(&r->mt[i], &r->nmt[i], cfg, cfg->regions[i].name, r->info[i],
                                  r->ninfo[i])) < 0)
            return rc;
    }
    return dom_store_check_regions(r->st, cfg, r->n, 0);
}

/* The kind of value a column holds, to compare columns across engines:
 * SQLite by its type affinity rules, PostgreSQL by type name.  Timestamps
 * travel as text (docs/verification.md). */
static const char *value_class(const char *engine, const char *type)
{
    if (strcmp(engine, "postgresql") == 0) {
        if (strcmp(type, "smallint") == 0 || strcmp(type, "integer") == 0 ||
            strcmp(type, "bigint") == 0 || strcmp(type, "boolean") == 0)
            return "integer";
        if (strcmp(type, "real") == 0 || strcmp(type, "double precision") == 0)
            return "real";
        if (strcmp(type, "bytea") == 0)
            return "blob";
        return "text";
    }
    if (strstr(type, "int"))
        return "integer";
    if (strstr(type, "char") || strstr(type, "clob") || strstr(type, "text"))
        return "text";
    if (!type[0] || strstr(type, "blob"))
        return "blob";
    if (strstr(type, "real") || strstr(type, "floa") || strstr(type, "doub"))
        return "real";
    return "numeric";
}

/* Every region must hold the same tenant tables with the same columns,
 * types and primary keys as the first; lists every difference. */
static int check_compatible(const regions *r, const dom_config *cfg)
{
    dom_buf diff = DOM_BUF_INIT;
    const char *ref = cfg->regions[0].name;
    for (size_t i = 1; i < r->n; i++) {
        const char *name = cfg->regions[i].name;
        const char *e0 = r->st[0]->ops->engine, *ei = r->st[i]->ops->engine;
        int same = strcmp(e0, ei) == 0;
        for (size_t t = 0; t < r->nmt[0]; t++) {
            const dom_table_info *a = r->mt[0][t].info;
            const dom_table_info *b = dom_table_find(r->info[i], r->ninfo[i], a->name);
            if (!b) {
                dom_buf_printf(&diff,
                               "region \"%s\": table \"%s\" is missing (region \"%s\" has it)\n",
                               name, a->name, ref);
                continue;
            }
            for (size_t c = 0; c < a->ncols; c++) {
                const dom_column *ca = &a->cols[c], *cb = dom_table_column(b, ca->name);
                if (!cb)
                    dom_buf_printf(&diff, "region \"%s\", table \"%s\": column \"%s\" is missing\n",
                                   name, a->name, ca->name);
                else if (same ? strcmp(ca->type, cb->type) != 0
                              : strcmp(value_class(e0, ca->type), value_class(ei, cb->type)) != 0)
                    dom_buf_printf(&diff,
                                   "region \"%s\", table \"%s\": column \"%s\" is %s here, %s in "
                                   "region \"%s\"\n",
                                   name, a->name, ca->name, cb->type[0] ? cb->type : "untyped",
                                   ca->type[0] ? ca->type : "untyped", ref);
                else if (ca->pk != cb->pk)
                    dom_buf_printf(&diff,
                                   "region \"%s\", table \"%s\": column \"%s\" is %s of the "
                                   "primary key here, %s in region \"%s\"\n",
                                   name, a->name, ca->name, cb->pk ? "part" : "not part",
                                   ca->pk ? "part of it" : "not part of it", ref);
            }
            for (size_t c = 0; c < b->ncols; c++)
                if (!dom_table_column(a, b->cols[c].name))
                    dom_buf_printf(&diff,
                                   "region \"%s\", table \"%s\": column \"%s\" is not in region "
                                   "\"%s\"\n",
                                   name, a->name, b->cols[c].name, ref);
            /* columns in another order would copy values into the wrong place */
            if (a->ncols == b->ncols)
                for (size_t c = 0; c < a->ncols; c++)
                    if (strcmp(a->cols[c].name, b->cols[c].name) != 0) {
                        dom_buf_printf(&diff,
                                       "region \"%s\", table \"%s\": columns are in another order "
                                       "than in region \"%s\"\n",
                                       name, a->name, ref);
                        break;
                    }
        }
    }
    if (diff.len) {
        diff.ptr[--diff.len] = '\0';
        int rc = dom_error_set(DOM_EREGION, "the regions' tenant tables differ:\n%s", diff.ptr);
        dom_buf_free(&diff);
        return rc;
    }
    dom_buf_free(&diff);
    return diff.oom ? DOM_ENOMEM : 0;
}

typedef struct fill_ctx {
    dom_catalog *cat;
    dom_prepare_report *rep;
} fill_ctx;

/* The keys the directory knows already. */
typedef struct keyset {
    char **keys;
    size_t n, cap;
} keyset;

static int known_add(const char *key, size_t len, const char *region, int64_t epoch,
                     const char *state, void *payload)
{
    (void)region;
    (void)epoch;
    (void)state;
    keyset *k = payload;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 1024;
        char **g = dom_realloc(k->keys, cap * sizeof(char *));
        if (!g)
            return DOM_ENOMEM;
        k->keys = g;
        k->cap = cap;
    }
    char *c = dom_malloc(len + 1);
    if (!c)
        return DOM_ENOMEM;
    memcpy(c, key, len);
    c[len] = '\0';
    k->keys[k->n++] = c;
    return 0;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int dom_prepare(const dom_config *cfg, dom_prepare_report *out)
{
    regions r;
    keyset known = {0};
    dom_plan *p = NULL;
    dom_catalog *cat = NULL;
    char(*countries)[3] = NULL;
    int rc;
    memset(out, 0, sizeof(*out));
    if ((rc = regions_open(&r, cfg)) < 0 || (rc = check_compatible(&r, cfg)) < 0)
        goto done;
    /* the catalog says a prepare is under way before any region changes:
     * one that stops half-way (a region refusing the triggers) is told by
     * status, and a rerun finishes it */
    if ((rc = dom_catalog_open(&cat, cfg, 0)) < 0 ||
        (rc = dom_catalog_meta_set(cat, "prepare", "unfinished")) < 0)
        goto done;
    countries = dom_calloc(dom_ncountries, 3);
    if (!countries) {
        rc = DOM_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < r.n; i++) {
        size_t nc = 0;
        for (size_t c = 0; c < dom_ncountries; c++)
            if (dom_policy_allowed(cfg, dom_countries[c].code) & ((uint64_t)1 << i))
                memcpy(countries[nc++], dom_countries[c].code, 3);
        dom_install spec = {cfg->regions[i].name, r.mt[i],   r.nmt[i],
                            cfg->tenants.country, countries, nc};
        if ((rc = dom_store_install(r.st[i], &spec)) < 0) {
            char *why = dom_sprintf("unfinished: %s", dom_error_last());
            int code = dom_error_code();
            char *msg = dom_strdup(dom_error_last());
            if (why)
                dom_catalog_meta_set(cat, "prepare", why);
            if (msg)
                dom_error_set(code, "%s", msg);
            dom_free(why);
            dom_free(msg);
            goto done;
        }
        out->regions++;
    }
    /* the directory: every tenant where it is now; known tenants keep their entry */
    if ((rc = dom_plan_build_ex(&p, cfg, DOM_PLAN_TENANTS_ONLY)) < 0)
        goto done;
    if ((rc = dom_catalog_scan_directory(cat, known_add, &known)) < 0 ||
        (rc = dom_catalog_begin(cat)) < 0)
        goto done;
    if (known.n)
        qsort(known.keys, known.n, sizeof(char *), cmp_key);
    for (size_t i = 0; i < p->ntenants; i++) {
        const dom_plan_tenant *t = &p->tenants[i];
        const char *key = p->keys + t->key_off;
        if (known.n && bsearch(&key, known.keys, known.n, sizeof(char *), cmp_key)) {
            out->tenants_known++;
            continue;
        }
        if ((rc = dom_catalog_put(cat, key, cfg->regions[t->cur].name, 1, "home")) < 0)
            break;
        out->tenants_added++;
    }
    if (rc == 0)
        rc = dom_catalog_meta_set(cat, "prepare", "done");
    if (rc < 0)
        dom_catalog_rollback(cat);
    else
        rc = dom_catalog_commit(cat);
done:
    for (size_t i = 0; i < known.n; i++)
        dom_free(known.keys[i]);
    dom_free(known.keys);
    dom_free(countries);
    dom_plan_free(p);
    dom_catalog_close(cat);
    regions_close(&r);
    return rc;
}

int dom_prepare_remove(const dom_config *cfg)
{
    regions r;
    dom_catalog *cat = NULL;
    int rc = regions_open(&r, cfg);
    if (rc == 0) {
        int64_t *ids = NULL;
        size_t n = 0;
        if (dom_catalog_open(&cat, cfg, DOM_CATALOG_READONLY) == 0) {
            if (dom_catalog_batches(cat, "unfinished", &ids, &n) == 0 && n)
                rc = dom_error_set(DOM_EUSAGE,
                                   "%zu batch%s not finished; run 'domicile apply' to finish "
                                   "them before removing",
                                   n, n == 1 ? " is" : "es are");
            dom_free(ids);
            dom_catalog_close(cat);
            cat = NULL;
            /* an existing catalog tells status what was done to the regions */
            if (rc == 0 && (rc = dom_catalog_open(&cat, cfg, 0)) == 0)
                rc = dom_catalog_meta_set(cat, "prepare", "unfinished removal");
        }
    }
    for (size_t i = 0; rc == 0 && i < r.n; i++)
        rc = dom_store_uninstall(r.st[i], r.mt[i], r.nmt[i]);
    if (rc == 0 && cat)
        rc = dom_catalog_meta_set(cat, "prepare", "removed");
    dom_catalog_close(cat);
    regions_close(&r);
    return rc;
}
