/*
 * move_plan.c - the batches of a wave (its tenants not yet home, from the
 * plan) or of a rollback (a wave's tenants back to where they came from),
 * created in one catalog transaction; tenants in motion are left out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/move_int.h"
#include "core/plan.h"

static int busy_add(const char *key, size_t n, const char *r, int64_t e, const char *s, void *p)
{
    (void)r, (void)e, (void)s;
    busy_set *b = p;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        char **g = dom_realloc(b->keys, cap * sizeof(char *));
        if (!g)
            return DOM_ENOMEM;
        b->keys = g;
        b->cap = cap;
    }
    if (!(b->keys[b->n] = dom_strndup(key, n)))
        return DOM_ENOMEM;
    b->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_busy(const busy_set *b, const char *key)
{
    return b->n && bsearch(&key, b->keys, b->n, sizeof(char *), cmp_str) != NULL;
}

/* The tenants in motion, sorted (the catalog's busy tenants). */
int dom_mv_busy_load(dom_catalog *cat, busy_set *busy)
{
    dom_mv_busy_free(busy);
    int rc = dom_catalog_busy_tenants(cat, busy_add, busy);
    if (rc == 0 && busy->n)
        qsort(busy->keys, busy->n, sizeof(char *), cmp_str);
    return rc;
}

void dom_mv_busy_free(busy_set *b)
{
    for (size_t i = 0; i < b->n; i++)
        dom_free(b->keys[i]);
    dom_free(b->keys);
    memset(b, 0, sizeof(*b));
}

/* A move to plan: tenant key, from, to. */
typedef struct move {
    const char *key;
    int from, to;
} move;

static int cmp_move(const void *a, const void *b)
{
    const move *x = a, *y = b;
    if (x->from != y->from)
        return x->from - y->from;
    if (x->to != y->to)
        return x->to - y->to;
    return dom_key_cmp(x->key, y->key);
}

/* Creates the batches for `moves` in one catalog transaction. */
static int create_batches(dom_catalog *cat, const dom_config *cfg, const char *wave, move *mv,
                          size_t n, int64_t **ids, size_t *nids)
{
    int rc;
    size_t bt = (size_t)cfg->options.batch_tenants;
    if (n)
        qsort(mv, n, sizeof(move), cmp_move);
    const char **keys = dom_calloc(bt ? bt : 1, sizeof(char *));
    if (!keys)
        return DOM_ENOMEM;
    if ((rc = dom_catalog_begin(cat)) < 0) {
        dom_free(keys);
        return rc;
    }
    size_t i = 0;
    while (i < n) {
        size_t k = 0;
        int from = mv[i].from, to = mv[i].to;
        while (i < n && k < bt && mv[i].from == from && mv[i].to == to)
            keys[k++] = mv[i++].key;
        int64_t id;
        if ((rc = dom_catalog_batch_create(cat, wave, cfg->regions[from].name,
                                           cfg->regions[to].name, keys, k, &id)) < 0)
            break;
        int64_t *g = dom_realloc(*ids, (*nids + 1) * sizeof(int64_t));
        if (!g) {
            rc = DOM_ENOMEM;
            break;
        }
        *ids = g;
        (*ids)[(*nids)++] = id;
    }
    dom_free(keys);
    if (rc < 0) {
        dom_catalog_rollback(cat);
        return rc;
    }
    return dom_catalog_commit(cat);
}

int dom_mv_plan_wave(dom_catalog *cat, const dom_config *cfg, size_t wave, const busy_set *busy,
                     int64_t **ids, size_t *nids, int64_t *tenants)
{
    dom_plan *p;
    int rc = dom_plan_build_ex(&p, cfg, DOM_PLAN_TENANTS_ONLY);
    if (rc < 0)
        return rc;
    move *mv = dom_calloc(p->ntenants ? p->ntenants : 1, sizeof(move));
    size_t n = 0;
    if (!mv) {
        dom_plan_free(p);
        return DOM_ENOMEM;
    }
    for (size_t i = 0; i < p->ntenants; i++) {
        const dom_plan_tenant *t = &p->tenants[i];
        const char *key = p->keys + t->key_off;
        if (t->wave != wave || is_busy(busy, key))
            continue;
        mv[n].key = key;
        mv[n].from = t->cur;
        mv[n].to = t->target;
        n++;
    }
    *tenants = (int64_t)n;
    rc = create_batches(cat, cfg, cfg->waves[wave].name, mv, n, ids, nids);
    dom_free(mv);
    dom_plan_free(p);
    return rc;
}

typedef struct rb_ctx {
    const dom_config *cfg;
    move *mv;
    size_t n, cap;
    const busy_set *busy;
    int rc;
} rb_ctx;

static int rb_add(const char *key, size_t n, const char *src, int64_t epoch, const char *cur,
                  void *payload)
{
    rb_ctx *c = payload;
    (void)epoch;
    char *k = dom_strndup(key, n);
    if (!k)
        return DOM_ENOMEM;
    if (is_busy(c->busy, k)) {
        dom_free(k);
        return 0;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        move *g = dom_realloc(c->mv, cap * sizeof(move));
        if (!g) {
            dom_free(k);
            return DOM_ENOMEM;
        }
        c->mv = g;
        c->cap = cap;
    }
    c->mv[c->n].key = k;
    c->mv[c->n].from = dom_config_region(c->cfg, cur);
    c->mv[c->n].to = dom_config_region(c->cfg, src);
    if (c->mv[c->n].from < 0 || c->mv[c->n].to < 0) {
        dom_free(k);
        return dom_error_set(DOM_ECONFIG, "tenant %.*s moved between regions the config lacks",
                             (int)n, key);
    }
    c->n++;
    return 0;
}

int dom_mv_plan_rollback(dom_catalog *cat, const dom_config *cfg, const char *wave,
                         const busy_set *busy, int64_t **ids, size_t *nids, int64_t *tenants)
{
    rb_ctx c = {cfg, NULL, 0, 0, busy, 0};
    int rc = dom_catalog_wave_tenants(cat, wave, rb_add, &c);
    char name[96];
    snprintf(name, sizeof(name), "rollback:%s", wave);
    if (rc == 0)
        rc = create_batches(cat, cfg, name, c.mv, c.n, ids, nids);
    *tenants = (int64_t)c.n;
    for (size_t i = 0; i < c.n; i++)
        dom_free((char *)c.mv[i].key);
    dom_free(c.mv);
    return rc;
}
