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

/* Reads every region's tables and resolves its tenant tables. */
static int regions_resolve(regions *r, const dom_config *cfg)
{
    int rc;
    for (size_t i = 0; i < r->n; i++) {
        dom_free(r->mt[i]);
        dom_table_info_free(r->info[i], r->ninfo[i]);
        r->mt[i] = NULL;
        r->info[i] = NULL;
        r->nmt[i] = r->ninfo[i] = 0;
        if ((rc = dom_store_tables(r->st[i], &r->info[i], &r->ninfo[i])) < 0 ||
            (rc = dom_move_tables(&r->mt[i], &r->nmt[i], cfg, cfg->regions[i].name, r->info[i],
                                  r->ninfo[i])) < 0)
            return rc;
    }
    return 0;
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
    }
    return dom_store_check_regions(r->st, cfg->regions, r->n, 0);
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
                else if (same ? strcmp(ca->type, cb->type) != 0 : ca->cls != cb->cls)
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

/* ---- tables a region lacks ----------------------------------------------------- */

/* The tables every region needs, of the reference region's list `all`
 * (dom_schema_tables): the tenant tables, and the global tables they
 * reference (a foreign key needs its parent), parents first. */
static size_t needed(const dom_move_table *all, size_t nall, size_t nmove,
                     const dom_move_table **out)
{
    char *want = dom_calloc(nall ? nall : 1, 1);
    size_t n = 0;
    if (!want)
        return (size_t)-1;
    for (size_t i = 0; i < nmove; i++)
        want[i] = 1;
    for (int more = 1; more;) {
        more = 0;
        for (size_t i = 0; i < nall; i++)
            for (size_t f = 0; want[i] && f < all[i].info->nfks; f++)
                for (size_t j = nmove; j < nall; j++)
                    if (!want[j] && strcmp(all[j].info->name, all[i].info->fks[f].parent) == 0)
                        want[j] = more = 1;
    }
    /* the global ones first: moving tables reference them */
    for (size_t j = nmove; j < nall; j++)
        if (want[j])
            out[n++] = &all[j];
    for (size_t i = 0; i < nmove; i++)
        out[n++] = &all[i];
    dom_free(want);
    return n;
}

/* CREATE TABLE and CREATE INDEX of table t of src (its indexes), in the
 * words both engines take, with dst's types for each class of value; foreign keys
 * to the tables in `have` only. */
static int portable_ddl(dom_buf *b, dom_store *src, dom_store *dst, const dom_table_info *t)
{
    dom_buf_puts(b, "CREATE TABLE ");
    dom_sql_ident(b, t->name);
    dom_buf_puts(b, " (");
    int npk = 0;
    for (size_t c = 0; c < t->ncols; c++) {
        dom_buf_puts(b, c ? ", " : "");
        dom_sql_ident(b, t->cols[c].name);
        dom_buf_printf(b, " %s%s", dst->ops->type_of_class(t->cols[c].cls),
                       t->cols[c].notnull ? " NOT NULL" : "");
        if (t->cols[c].pk > npk)
            npk = t->cols[c].pk;
    }
    if (npk) {
        dom_buf_puts(b, ", PRIMARY KEY (");
        for (int k = 1; k <= npk; k++)
            for (size_t c = 0; c < t->ncols; c++)
                if (t->cols[c].pk == k) {
                    dom_buf_puts(b, k > 1 ? ", " : "");
                    dom_sql_ident(b, t->cols[c].name);
                }
        dom_buf_puts(b, ")");
    }
    for (size_t f = 0; f < t->nfks; f++) {
        const dom_fkey *k = &t->fks[f];
        dom_buf_puts(b, ", FOREIGN KEY (");
        for (size_t j = 0; j < k->ncols; j++) {
            dom_buf_puts(b, j ? ", " : "");
            dom_sql_ident(b, k->cols[j]);
        }
        dom_buf_puts(b, ") REFERENCES ");
        dom_sql_ident(b, k->parent);
        if (k->pcols[0][0]) {
            dom_buf_puts(b, " (");
            for (size_t j = 0; j < k->ncols; j++) {
                dom_buf_puts(b, j ? ", " : "");
                dom_sql_ident(b, k->pcols[j]);
            }
            dom_buf_puts(b, ")");
        }
        if (k->on_delete[0] && strcmp(k->on_delete, "NO ACTION") != 0)
            dom_buf_printf(b, " ON DELETE %s", k->on_delete);
        if (k->on_update[0] && strcmp(k->on_update, "NO ACTION") != 0)
            dom_buf_printf(b, " ON UPDATE %s", k->on_update);
    }
    dom_buf_puts(b, ");\n");
    dom_index *ix = NULL;
    size_t nix = 0;
    int rc = src->ops->indexes ? src->ops->indexes(src, t->name, &ix, &nix) : 0;
    for (size_t i = 0; rc == 0 && i < nix; i++) {
        dom_buf_printf(b, "CREATE %sINDEX ", ix[i].unique ? "UNIQUE " : "");
        dom_sql_ident(b, ix[i].name);
        dom_buf_puts(b, " ON ");
        dom_sql_ident(b, t->name);
        dom_buf_puts(b, " (");
        for (size_t c = 0; c < ix[i].ncols; c++) {
            dom_buf_puts(b, c ? ", " : "");
            dom_sql_ident(b, ix[i].cols[c]);
        }
        dom_buf_puts(b, ");\n");
    }
    dom_index_free(ix, nix);
    return rc < 0 ? rc : b->oom ? DOM_ENOMEM : 0;
}

/* The reference region: the first that holds the tenants table (r->n
 * when none does). */
static size_t reference(const regions *r, const dom_config *cfg)
{
    size_t ref = 0;
    while (ref < r->n && !dom_table_find(r->info[ref], r->ninfo[ref], cfg->tenants.table))
        ref++;
    return ref;
}

/* The catalog's list of global tables created empty and still to be
 * filled from the reference region: "REGION TABLE" lines. */
#define FILL_KEY "fill_globals"

/* Creates in every region the tables of the reference region (the first
 * that holds the tenants table) it lacks: same engine, as the reference
 * defines them; another engine, portable_ddl.  Global tables so created
 * are recorded in the catalog to be filled (fill_globals) once every
 * region is installed.  *created counts the tables. */
static int create_missing(regions *r, const dom_config *cfg, dom_catalog *cat, size_t *created)
{
    size_t ref = reference(r, cfg);
    *created = 0;
    if (ref == r->n)
        return dom_error_set(DOM_EREGION, "no region holds the tenants table \"%s\"",
                             cfg->tenants.table);
    dom_move_table *all = NULL;
    size_t nall = 0, nmove = 0;
    int rc = dom_schema_tables(&all, &nall, &nmove, cfg, cfg->regions[ref].name, r->info[ref],
                               r->ninfo[ref]);
    if (rc < 0)
        return rc;
    const dom_move_table **need = dom_calloc(nall ? nall : 1, sizeof(*need));
    size_t nneed = need ? needed(all, nall, nmove, need) : (size_t)-1;
    char fill[4096];
    if ((rc = nneed == (size_t)-1 ? DOM_ENOMEM : 0) == 0)
        rc = dom_catalog_meta_get(cat, FILL_KEY, fill, sizeof(fill));
    dom_buf fills = DOM_BUF_INIT;
    dom_buf_puts(&fills, fill);
    for (size_t i = 0; rc == 0 && i < r->n; i++) {
        if (i == ref)
            continue;
        /* a region without the tenants table must be empty (but for
         * global tables): one that holds tenant tables lacks a table */
        if (!dom_table_find(r->info[i], r->ninfo[i], cfg->tenants.table))
            for (size_t k = 0; rc == 0 && k < r->ninfo[i]; k++) {
                size_t g = nmove;
                while (g < nall && strcmp(all[g].info->name, r->info[i][k].name) != 0)
                    g++;
                if (g == nall)
                    rc =
                        dom_error_set(DOM_EREGION,
                                      "region \"%s\": tenants table \"%s\" not found (the "
                                      "region holds table \"%s\")",
                                      cfg->regions[i].name, cfg->tenants.table, r->info[i][k].name);
            }
        if (rc < 0)
            break;
        dom_buf create = DOM_BUF_INIT, fks = DOM_BUF_INIT;
        dom_store *src = r->st[ref], *dst = r->st[i];
        int same = src->ops == dst->ops;
        size_t made = 0;
        for (size_t k = 0; rc == 0 && k < nneed; k++) {
            const dom_table_info *t = need[k]->info;
            if (dom_table_find(r->info[i], r->ninfo[i], t->name))
                continue;
            if (!dst->ops->exec_ddl || (same ? !src->ops->table_ddl : !src->ops->indexes))
                rc = dom_error_set(DOM_EUNSUPPORTED,
                                   "region \"%s\": table \"%s\" is missing, and the %s store "
                                   "cannot create it",
                                   cfg->regions[i].name, t->name, dst->ops->engine);
            else if (same)
                rc = src->ops->table_ddl(src, t->name, &create, &fks);
            else
                rc = portable_ddl(&create, src, dst, t);
            if (rc == 0 && need[k]->cls == DOM_TABLE_GLOBAL)
                dom_buf_printf(&fills, "%s %s\n", cfg->regions[i].name, t->name);
            made++;
        }
        if (rc == 0 && made) {
            dom_buf_puts(&create, dom_buf_cstr(&fks));
            /* the fills are journaled before the tables exist: a run that
             * stops in between fills them (or finds them missing) again */
            if (create.oom || fills.oom)
                rc = DOM_ENOMEM;
            else if (fills.len >= sizeof(fill))
                rc = dom_error_set(DOM_EREGION, "too many global tables to create");
            if (rc == 0 && strcmp(dom_buf_cstr(&fills), fill) != 0)
                rc = dom_catalog_meta_set(cat, FILL_KEY, dom_buf_cstr(&fills));
            if (rc == 0)
                rc = dst->ops->exec_ddl(dst, dom_buf_cstr(&create));
            if (rc == 0) {
                snprintf(fill, sizeof(fill), "%s", dom_buf_cstr(&fills));
                *created += made;
                dom_log(DOM_LOG_INFO, "region \"%s\": created %zu table%s of region \"%s\"",
                        cfg->regions[i].name, made, made == 1 ? "" : "s", cfg->regions[ref].name);
            }
        }
        dom_buf_free(&create);
        dom_buf_free(&fks);
    }
    dom_buf_free(&fills);
    dom_free(need);
    dom_free(all);
    return rc;
}

/* Fills the global tables create_missing made (the catalog's list) with
 * the reference region's rows: what was there is deleted first, so a run
 * that stopped half-way fills them whole. */
static int fill_globals(regions *r, const dom_config *cfg, dom_catalog *cat)
{
    char fill[4096];
    int rc = dom_catalog_meta_get(cat, FILL_KEY, fill, sizeof(fill));
    if (rc < 0 || !fill[0])
        return rc;
    size_t ref = reference(r, cfg);
    for (char *line = fill, *next; rc == 0 && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        int i = dom_config_region(cfg, line);
        const char *table = sp + 1;
        const dom_table_info *ts =
            ref < r->n ? dom_table_find(r->info[ref], r->ninfo[ref], table) : NULL;
        const dom_table_info *td = i >= 0 ? dom_table_find(r->info[i], r->ninfo[i], table) : NULL;
        if (!ts || !td)
            continue; /* the region or the table is gone from the config */
        dom_move_table ms = {.info = ts, .cls = DOM_TABLE_GLOBAL, .key_col = -1};
        dom_move_table md = {.info = td, .cls = DOM_TABLE_GLOBAL, .key_col = -1};
        for (size_t c = 0; c < ts->ncols; c++)
            if (ts->cols[c].pk > 0 && ts->cols[c].pk <= DOM_PK_MAX) {
                ms.pk[ts->cols[c].pk - 1] = (int)c;
                ms.npk = ts->cols[c].pk > ms.npk ? ts->cols[c].pk : ms.npk;
            }
        for (size_t c = 0; c < td->ncols; c++)
            if (td->cols[c].pk > 0 && td->cols[c].pk <= DOM_PK_MAX) {
                md.pk[td->cols[c].pk - 1] = (int)c;
                md.npk = td->cols[c].pk > md.npk ? td->cols[c].pk : md.npk;
            }
        dom_store *dst = r->st[i];
        int64_t d;
        dom_cursor *cur = NULL;
        const dom_value *row;
        if ((rc = dom_store_write_begin(dst)) < 0)
            break;
        if ((rc = dom_store_delete_keys(dst, &md, 0, &d)) == 0 &&
            (rc = dom_store_cursor_open(r->st[ref], &ms, &cur)) == 0) {
            int h;
            while ((h = dom_store_cursor_next(cur, &row)) > 0)
                if ((rc = dom_store_upsert(dst, &md, row)) < 0)
                    break;
            if (rc == 0 && h < 0)
                rc = h;
            dom_store_cursor_close(cur);
        }
        if (rc < 0)
            dom_store_write_rollback(dst);
        else
            rc = dom_store_write_commit(dst);
    }
    return rc == 0 ? dom_catalog_meta_set(cat, FILL_KEY, "") : rc;
}

int dom_prepare(const dom_config *cfg, dom_prepare_report *out)
{
    regions r;
    keyset known = {0};
    dom_plan *p = NULL;
    dom_catalog *cat = NULL;
    char(*countries)[3] = NULL, (*codes)[3] = NULL;
    int rc;
    memset(out, 0, sizeof(*out));
    if ((rc = regions_open(&r, cfg)) < 0)
        goto done;
    /* the catalog says a prepare is under way before any region changes:
     * one that stops half-way (a region refusing the triggers) is told by
     * status, and a rerun finishes it */
    if ((rc = dom_catalog_open(&cat, cfg, 0)) < 0)
        goto done;
    for (size_t i = 0; i < r.n; i++)
        if ((rc = dom_store_tables(r.st[i], &r.info[i], &r.ninfo[i])) < 0)
            goto done;
    size_t created = 0;
    if ((rc = dom_catalog_meta_set(cat, "prepare", "unfinished")) < 0 ||
        (rc = create_missing(&r, cfg, cat, &created)) < 0 || (rc = regions_resolve(&r, cfg)) < 0 ||
        (rc = check_compatible(&r, cfg)) < 0)
        goto done;
    out->tables_created = created;
    countries = dom_calloc(dom_ncountries + 1, 3);
    codes = dom_calloc(dom_ncountries, 3);
    if (!countries || !codes) {
        rc = DOM_ENOMEM;
        goto done;
    }
    for (size_t c = 0; c < dom_ncountries; c++)
        memcpy(codes[c], dom_countries[c].code, 3);
    for (size_t i = 0; i < r.n; i++) {
        size_t nc = 0;
        for (size_t c = 0; c < dom_ncountries; c++)
            if (dom_policy_allowed(cfg, dom_countries[c].code) & ((uint64_t)1 << i))
                memcpy(countries[nc++], dom_countries[c].code, 3);
        /* "??": the home of tenants without a valid country (the guard
         * lets them in) */
        if (dom_policy_invalid_home(cfg) == (int)i)
            memcpy(countries[nc++], "??", 3);
        dom_install spec = {
            cfg->regions[i].name, r.mt[i], r.nmt[i], cfg->tenants.country, countries, nc, codes,
            dom_ncountries};
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
    if ((rc = fill_globals(&r, cfg, cat)) < 0)
        goto done;
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
    /* installed active; quiet where nothing is in motion */
    if (rc == 0)
        dom_quiet_regions(cfg, cat);
done:
    for (size_t i = 0; i < known.n; i++)
        dom_free(known.keys[i]);
    dom_free(known.keys);
    dom_free(countries);
    dom_free(codes);
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
    if (rc == 0)
        rc = regions_resolve(&r, cfg);
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
