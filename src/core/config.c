/*
 * config.c - loads domicile.yaml with libyaml into dom_config and validates
 * it.  Every problem is reported as "file:line:col: message"; unknown keys
 * are errors.  It opens no database and does not evaluate the policy.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/config.h"
#include "core/geo.h"
#include "store/store.h"
#include "util/util.h"

#define MAX_ERRORS 20

typedef struct parser {
    const char *name;
    yaml_document_t doc;
    dom_config *cfg;
    dom_buf errors;
    int nerrors;
} parser;

static void perr(parser *p, const yaml_node_t *node, const char *fmt, ...) DOM_PRINTF(3, 4);

static void perr(parser *p, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    if (++p->nerrors > MAX_ERRORS)
        return;
    if (p->nerrors == MAX_ERRORS) {
        dom_buf_printf(&p->errors, "%s: too many errors\n", p->name);
        return;
    }
    if (node)
        dom_buf_printf(&p->errors, "%s:%lu:%lu: ", p->name,
                       (unsigned long)node->start_mark.line + 1,
                       (unsigned long)node->start_mark.column + 1);
    else
        dom_buf_printf(&p->errors, "%s: ", p->name);
    va_start(ap, fmt);
    char tmp[1024];
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    dom_buf_puts(&p->errors, tmp);
    dom_buf_putc(&p->errors, '\n');
}

static const char *kind_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

static yaml_node_t *node_at(parser *p, int id)
{
    return yaml_document_get_node(&p->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int expect(parser *p, const yaml_node_t *n, yaml_node_type_t type, const char *what)
{
    if (n->type == type)
        return 0;
    const char *want = type == YAML_SCALAR_NODE     ? "a scalar"
                       : type == YAML_SEQUENCE_NODE ? "a list"
                                                    : "a mapping";
    perr(p, n, "expected %s for %s, got %s", want, what, kind_name(n));
    return -1;
}

/* Walks a mapping: checks its keys against `allowed` (NULL-terminated),
 * reports unknown and duplicate keys, and stores each allowed key's value
 * node in `vals` (same order as `allowed`) and its key node in `keys`. */
static int map_fields(parser *p, yaml_node_t *map, const char *what, const char *const *allowed,
                      yaml_node_t **vals, yaml_node_t **keys)
{
    size_t n = 0;
    while (allowed[n])
        n++;
    memset(vals, 0, n * sizeof(*vals));
    if (keys)
        memset(keys, 0, n * sizeof(*keys));
    if (expect(p, map, YAML_MAPPING_NODE, what) < 0)
        return -1;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
        const char *ks = scalar(k);
        size_t i;
        if (!ks) {
            perr(p, k, "expected a plain key in %s", what);
            continue;
        }
        for (i = 0; i < n; i++)
            if (strcmp(ks, allowed[i]) == 0)
                break;
        if (i == n) {
            dom_buf exp = DOM_BUF_INIT;
            for (size_t j = 0; j < n; j++)
                dom_buf_printf(&exp, "%s%s", j ? ", " : "", allowed[j]);
            perr(p, k, "unknown key \"%s\" in %s (expected %s)", ks, what, dom_buf_cstr(&exp));
            dom_buf_free(&exp);
            continue;
        }
        if (vals[i]) {
            perr(p, k, "duplicate key \"%s\" in %s", ks, what);
            continue;
        }
        vals[i] = v;
        if (keys)
            keys[i] = k;
    }
    return 0;
}

static char *get_str(parser *p, yaml_node_t *n, const char *what)
{
    if (!n || expect(p, n, YAML_SCALAR_NODE, what) < 0)
        return NULL;
    const char *s = scalar(n);
    if (!*s) {
        perr(p, n, "empty value for %s", what);
        return NULL;
    }
    return dom_strdup(s);
}

static int get_long(parser *p, yaml_node_t *n, const char *what, long min, long max, long *out)
{
    if (expect(p, n, YAML_SCALAR_NODE, what) < 0)
        return -1;
    const char *s = scalar(n);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max) {
        if (max == LONG_MAX)
            perr(p, n, "%s must be an integer of at least %ld, got \"%s\"", what, min, s);
        else
            perr(p, n, "%s must be an integer between %ld and %ld, got \"%s\"", what, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int get_double(parser *p, yaml_node_t *n, const char *what, double *out)
{
    if (expect(p, n, YAML_SCALAR_NODE, what) < 0)
        return -1;
    const char *s = scalar(n);
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v)) {
        perr(p, n, "%s must be a number, got \"%s\"", what, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Reads one country code (upper-cased) into out; "*" when allow_any. */
static int get_country(parser *p, yaml_node_t *n, const char *what, int allow_any, char out[3])
{
    if (expect(p, n, YAML_SCALAR_NODE, what) < 0)
        return -1;
    const char *s = scalar(n);
    if (allow_any && strcmp(s, "*") == 0) {
        strcpy(out, "*");
        return 0;
    }
    char up[3] = {0};
    if (strlen(s) == 2) {
        up[0] = (char)toupper((unsigned char)s[0]);
        up[1] = (char)toupper((unsigned char)s[1]);
    }
    if (!up[0] || !dom_country_find(up)) {
        perr(p, n,
             "invalid country code \"%s\" in %s (expected an ISO 3166-1 alpha-2 code such as "
             "\"SG\")",
             s, what);
        return -1;
    }
    memcpy(out, up, 3);
    return 0;
}

/* Reads a list of country codes. */
static int get_countries(parser *p, yaml_node_t *n, const char *what, int allow_any,
                         char (**out)[3], size_t *nout, int *any, int *invalid)
{
    if (expect(p, n, YAML_SEQUENCE_NODE, what) < 0)
        return -1;
    size_t cap = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cap == 0) {
        perr(p, n, "empty country list in %s", what);
        return -1;
    }
    *out = dom_calloc(cap, 3);
    *nout = 0;
    if (!*out)
        return -1;
    int rc = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        char cc[3];
        yaml_node_t *item = node_at(p, *it);
        if (invalid && item->type == YAML_SCALAR_NODE && strcmp(scalar(item), "invalid") == 0) {
            *invalid = 1;
            continue;
        }
        if (get_country(p, item, what, allow_any, cc) < 0) {
            rc = -1;
            continue;
        }
        if (strcmp(cc, "*") == 0) {
            *any = 1;
            continue;
        }
        memcpy((*out)[(*nout)++], cc, 3);
    }
    return rc;
}

int dom_config_region(const dom_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nregions; i++)
        if (cfg->regions[i].name && strcmp(cfg->regions[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- DSNs ---------------------------------------------------------------- */

void dom_dsn_free(dom_dsn *dsn)
{
    dom_free(dsn->text);
    dom_free(dsn->path);
    dom_free(dsn->conninfo);
    memset(dsn, 0, sizeof(*dsn));
}

int dom_dsn_parse(dom_dsn *out, const char *text, const char *dir)
{
    memset(out, 0, sizeof(*out));
    const char *rest;
    const dom_engine *e = dom_engine_of_dsn(text, &rest);
    if (e)
        return e->parse_dsn(out, text, rest, dir);
    dom_buf forms = DOM_BUF_INIT;
    for (size_t k = 0; dom_engines[k]; k++)
        dom_buf_printf(&forms, "%s%s", k ? ", " : "", dom_engines[k]->forms);
    dom_error_set(DOM_ECONFIG, "expected %s", dom_buf_cstr(&forms));
    dom_buf_free(&forms);
    return DOM_ECONFIG;
}

char *dom_dsn_redact(const char *text)
{
    dom_buf b = DOM_BUF_INIT;
    const char *p = text;
    /* URI form: scheme://user:password@host */
    const char *scheme = strstr(text, "://");
    if (scheme) {
        const char *auth = scheme + 3;
        const char *at = strchr(auth, '@');
        const char *slash = strchr(auth, '/');
        if (at && (!slash || at < slash)) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon) {
                dom_buf_put(&b, text, (size_t)(colon + 1 - text));
                dom_buf_puts(&b, "*****");
                p = at;
            }
        }
    }
    /* key=value forms, in the URI query string or a conninfo string */
    while (*p) {
        const char *hit = strstr(p, "password=");
        if (!hit) {
            dom_buf_puts(&b, p);
            break;
        }
        int at_word = hit == text || hit[-1] == ' ' || hit[-1] == '?' || hit[-1] == '&' ||
                      hit[-1] == ':' || hit[-1] == '\t';
        dom_buf_put(&b, p, (size_t)(hit - p) + 9);
        p = hit + 9;
        if (!at_word)
            continue;
        dom_buf_puts(&b, "*****");
        if (*p == '\'') {
            p++;
            while (*p && *p != '\'') {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
            if (*p)
                p++;
        } else {
            while (*p && *p != ' ' && *p != '&' && *p != '\t')
                p++;
        }
    }
    if (b.oom) {
        dom_buf_free(&b);
        return NULL;
    }
    dom_buf_cstr(&b);
    return b.ptr;
}

long dom_parse_duration(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || errno || v < 0)
        return -1;
    long mult;
    if (!*end || strcmp(end, "s") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60;
    else if (strcmp(end, "h") == 0)
        mult = 3600;
    else if (strcmp(end, "d") == 0)
        mult = 86400;
    else
        return -1;
    if (v > LONG_MAX / mult)
        return -1;
    return v * mult;
}

/* ---- sections -------------------------------------------------------------- */

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
            return 0;
    return 1;
}

static void parse_regions(parser *p, yaml_node_t *n)
{
    dom_config *cfg = p->cfg;
    if (expect(p, n, YAML_MAPPING_NODE, "regions") < 0)
        return;
    size_t cap = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (cap == 0) {
        perr(p, n, "no regions defined");
        return;
    }
    if (cap > DOM_MAX_REGIONS) {
        perr(p, n, "too many regions (%zu; at most %d)", cap, DOM_MAX_REGIONS);
        return;
    }
    cfg->regions = dom_calloc(cap, sizeof(dom_region));
    if (!cfg->regions)
        return;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
        const char *name = scalar(k);
        if (!name || !valid_name(name)) {
            perr(p, k, "invalid region name \"%s\" (letters, digits, '-' and '_', at most 63)",
                 name ? name : "");
            continue;
        }
        int dup = dom_config_region(cfg, name);
        if (dup >= 0) {
            perr(p, k, "duplicate region \"%s\" (first defined at %d:%d)", name,
                 cfg->regions[dup].line, cfg->regions[dup].col);
            continue;
        }
        dom_region *r = &cfg->regions[cfg->nregions++];
        if (!(r->name = dom_strdup(name))) {
            cfg->nregions--;
            return;
        }
        r->line = (int)k->start_mark.line + 1;
        r->col = (int)k->start_mark.column + 1;
        static const char *const keys[] = {"dsn", "location", "city", "capacity_tenants", NULL};
        yaml_node_t *f[4];
        char what[128];
        snprintf(what, sizeof(what), "region \"%s\"", name);
        if (map_fields(p, v, what, keys, f, NULL) < 0)
            continue;
        if (!f[0])
            perr(p, v, "missing key \"dsn\" in region \"%s\"", name);
        else {
            char *dsn = get_str(p, f[0], "dsn");
            if (dsn && dom_dsn_parse(&r->dsn, dsn, cfg->dir) < 0)
                perr(p, f[0], "bad dsn for region \"%s\": %s", name, dom_error_last());
            dom_free(dsn);
        }
        if (!f[1])
            perr(p, v, "missing key \"location\" in region \"%s\"", name);
        else
            get_country(p, f[1], "location", 0, r->country);
        if (f[2] && (r->city = get_str(p, f[2], "city")) != NULL) {
            const dom_city *c = dom_city_find(r->city);
            if (!c) {
                dom_buf names = DOM_BUF_INIT;
                for (size_t i = 0; i < dom_ncities; i++)
                    dom_buf_printf(&names, "%s%s", i ? ", " : "", dom_cities[i].name);
                perr(p, f[2], "unknown city \"%s\" for region \"%s\" (expected one of %s)", r->city,
                     name, dom_buf_cstr(&names));
                dom_buf_free(&names);
            } else if (r->country[0] && strcmp(c->country, r->country) != 0) {
                perr(p, f[2], "city \"%s\" of region \"%s\" is in %s, not in its location %s",
                     c->name, name, c->country, r->country);
            }
        }
        if (f[3])
            get_long(p, f[3], "capacity_tenants", 1, LONG_MAX, &r->capacity_tenants);
    }
}

static void parse_tenants(parser *p, yaml_node_t *n)
{
    static const char *const keys[] = {"table", "key", "country", NULL};
    yaml_node_t *f[3];
    if (map_fields(p, n, "tenants", keys, f, NULL) < 0)
        return;
    for (int i = 0; i < 3; i++)
        if (!f[i])
            perr(p, n, "missing key \"%s\" in tenants", keys[i]);
    if (f[0])
        p->cfg->tenants.table = get_str(p, f[0], "tenants.table");
    if (f[1])
        p->cfg->tenants.key = get_str(p, f[1], "tenants.key");
    if (f[2])
        p->cfg->tenants.country = get_str(p, f[2], "tenants.country");
}

static void spec_free(dom_table_spec *t)
{
    for (size_t i = 0; i < t->ncolumns; i++) {
        dom_free(t->columns[i]);
        if (t->parent_columns)
            dom_free(t->parent_columns[i]);
    }
    dom_free(t->columns);
    dom_free(t->parent_columns);
    dom_free(t->table);
    dom_free(t->key);
    dom_free(t->parent);
}

/* A non-empty sequence of column names; *n its length. */
static char **get_names(parser *p, yaml_node_t *n, const char *what, size_t *count)
{
    *count = 0;
    if (expect(p, n, YAML_SEQUENCE_NODE, what) < 0)
        return NULL;
    size_t cap = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!cap) {
        perr(p, n, "empty list for %s", what);
        return NULL;
    }
    char **out = dom_calloc(cap, sizeof(char *));
    if (!out)
        return NULL;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        char *s = get_str(p, node_at(p, *it), what);
        if (!s) {
            for (size_t i = 0; i < *count; i++)
                dom_free(out[i]);
            dom_free(out);
            *count = 0;
            return NULL;
        }
        out[(*count)++] = s;
    }
    return out;
}

/* `links` 1: the entries of `tables:` (a key, a link to a parent, or
 * global); 0: `audit.scan` (a key only). */
static void parse_table_list(parser *p, yaml_node_t *n, const char *what, dom_table_spec **out,
                             size_t *nout, int links)
{
    if (expect(p, n, YAML_SEQUENCE_NODE, what) < 0)
        return;
    size_t cap = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    *out = dom_calloc(cap, sizeof(dom_table_spec));
    if (!*out)
        return;
    dom_table_spec *tables = *out;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *v = node_at(p, *it);
        dom_table_spec t = {0};
        t.line = (int)v->start_mark.line + 1;
        t.col = (int)v->start_mark.column + 1;
        if (v->type == YAML_SCALAR_NODE) {
            t.table = get_str(p, v, "a table name");
        } else if (v->type == YAML_MAPPING_NODE) {
            static const char *const keys[] = {"table",          "key",    "parent", "columns",
                                               "parent_columns", "global", NULL};
            static const char *const scan_keys[] = {"table", "key", NULL};
            yaml_node_t *f[6];
            char ewhat[64];
            snprintf(ewhat, sizeof(ewhat), "%s entry", what);
            map_fields(p, v, ewhat, links ? keys : scan_keys, f, NULL);
            if (!links)
                f[2] = f[3] = f[4] = f[5] = NULL;
            if (!f[0])
                perr(p, v, "missing key \"table\" in %s entry", what);
            else
                t.table = get_str(p, f[0], "table");
            if (f[1])
                t.key = get_str(p, f[1], "key");
            if (f[2])
                t.parent = get_str(p, f[2], "parent");
            if (f[3])
                t.columns = get_names(p, f[3], "columns", &t.ncolumns);
            if (f[4]) {
                size_t np = 0;
                t.parent_columns = get_names(p, f[4], "parent_columns", &np);
                if (t.parent_columns && np != t.ncolumns)
                    perr(p, f[4], "parent_columns names %zu column%s, columns %zu", np,
                         np == 1 ? "" : "s", t.ncolumns);
                for (size_t i = t.ncolumns; t.parent_columns && i < np; i++)
                    dom_free(t.parent_columns[i]);
            }
            if (f[5]) {
                const char *g = scalar(f[5]);
                if (g && (strcmp(g, "true") == 0 || strcmp(g, "yes") == 0))
                    t.global = 1;
                else if (!g || (strcmp(g, "false") != 0 && strcmp(g, "no") != 0))
                    perr(p, f[5], "expected true or false for global, got %s",
                         g ? g : kind_name(f[5]));
            }
            if ((f[1] != NULL) + (f[2] != NULL) + t.global > 1)
                perr(p, v, "a %s entry takes one of key, parent or global", what);
            if (f[2] && !f[3])
                perr(p, v,
                     "parent \"%s\" needs columns: the columns of this table that name "
                     "its row",
                     t.parent ? t.parent : "");
            if ((f[3] || f[4]) && !f[2])
                perr(p, v, "columns and parent_columns go with parent");
        } else {
            perr(p, v, "expected a table name or { table: NAME, key: COLUMN } in %s, got %s", what,
                 kind_name(v));
            continue;
        }
        if (!t.table) {
            spec_free(&t);
            continue;
        }
        int dup = 0;
        for (size_t i = 0; i < *nout; i++)
            if (strcmp(tables[i].table, t.table) == 0)
                dup = 1;
        if (dup) {
            perr(p, v, "duplicate table \"%s\" in %s", t.table, what);
            spec_free(&t);
            continue;
        }
        tables[(*nout)++] = t;
    }
}

static void parse_tables(parser *p, yaml_node_t *n)
{
    parse_table_list(p, n, "tables", &p->cfg->tables, &p->cfg->ntables, 1);
}

/* audit: { scan: [...], examples: N } */
static void parse_audit(parser *p, yaml_node_t *n)
{
    static const char *const keys[] = {"scan", "examples", NULL};
    yaml_node_t *f[2];
    if (map_fields(p, n, "audit", keys, f, NULL) < 0)
        return;
    if (f[0])
        parse_table_list(p, f[0], "audit.scan", &p->cfg->audit.scan, &p->cfg->audit.nscan, 0);
    if (f[1])
        get_long(p, f[1], "audit.examples", 0, 1000, &p->cfg->audit.examples);
}

static int parse_region_list(parser *p, yaml_node_t *n, const char *what, uint64_t *mask)
{
    if (expect(p, n, YAML_SEQUENCE_NODE, what) < 0)
        return -1;
    if (n->data.sequence.items.top == n->data.sequence.items.start) {
        perr(p, n, "empty region list in %s", what);
        return -1;
    }
    int rc = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *v = node_at(p, *it);
        const char *s = scalar(v);
        int r = s ? dom_config_region(p->cfg, s) : -1;
        if (r < 0) {
            if (s)
                perr(p, v, "unknown region \"%s\" in %s", s, what);
            else
                perr(p, v, "expected a region name in %s, got %s", what, kind_name(v));
            rc = -1;
            continue;
        }
        *mask |= (uint64_t)1 << r;
    }
    return rc;
}

static void parse_policy(parser *p, yaml_node_t *n)
{
    dom_config *cfg = p->cfg;
    if (expect(p, n, YAML_SEQUENCE_NODE, "policy") < 0)
        return;
    size_t cap = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cap == 0) {
        perr(p, n, "policy has no rules");
        return;
    }
    cfg->rules = dom_calloc(cap, sizeof(dom_rule));
    if (!cfg->rules)
        return;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *v = node_at(p, *it);
        dom_rule *r = &cfg->rules[cfg->nrules++];
        char what[64];
        snprintf(what, sizeof(what), "policy rule %zu", cfg->nrules);
        r->line = (int)v->start_mark.line + 1;
        r->col = (int)v->start_mark.column + 1;
        r->home = -1;
        static const char *const keys[] = {"countries", "home", "allow", NULL};
        yaml_node_t *f[3];
        if (map_fields(p, v, what, keys, f, NULL) < 0)
            continue;
        if (!f[0])
            perr(p, v, "missing key \"countries\" in %s", what);
        else
            get_countries(p, f[0], what, 1, &r->countries, &r->ncountries, &r->any, &r->invalid);
        if (f[2])
            parse_region_list(p, f[2], what, &r->allow);
        if (!f[1]) {
            perr(p, v, "missing key \"home\" in %s", what);
            continue;
        }
        const char *home = scalar(f[1]);
        if (!home) {
            expect(p, f[1], YAML_SCALAR_NODE, "home");
            continue;
        }
        if (strcmp(home, "nearest") == 0) {
            r->home = DOM_HOME_NEAREST;
            if (!f[2])
                perr(p, f[1], "home: nearest in %s needs an allow list", what);
            if (r->invalid)
                perr(p, f[1],
                     "tenants without a valid country (%s) have no nearest region; name "
                     "their home",
                     what);
            continue;
        }
        r->home = dom_config_region(cfg, home);
        if (r->home < 0) {
            perr(p, f[1], "unknown region \"%s\" in %s", home, what);
            continue;
        }
        uint64_t bit = (uint64_t)1 << r->home;
        if (f[2] && r->allow && !(r->allow & bit))
            perr(p, f[1], "home \"%s\" of %s is not in its allow list", home, what);
        r->allow |= bit;
    }
}

/* True when some rule covers the country. */
static int covered(const dom_config *cfg, const char *cc)
{
    for (size_t i = 0; i < cfg->nrules; i++) {
        if (cfg->rules[i].any)
            return 1;
        for (size_t j = 0; j < cfg->rules[i].ncountries; j++)
            if (strcmp(cfg->rules[i].countries[j], cc) == 0)
                return 1;
    }
    return 0;
}

static void check_coverage(parser *p, yaml_node_t *policy)
{
    dom_buf list = DOM_BUF_INIT;
    size_t missing = 0;
    for (size_t i = 0; i < dom_ncountries; i++) {
        if (covered(p->cfg, dom_countries[i].code))
            continue;
        if (missing < 8)
            dom_buf_printf(&list, "%s%s", missing ? ", " : "", dom_countries[i].code);
        missing++;
    }
    if (missing)
        perr(p, policy,
             "policy leaves %zu countr%s uncovered (%s%s); add a rule with countries: [\"*\"]",
             missing, missing == 1 ? "y" : "ies", dom_buf_cstr(&list), missing > 8 ? ", ..." : "");
    dom_buf_free(&list);
}

static void parse_waves(parser *p, yaml_node_t *n)
{
    dom_config *cfg = p->cfg;
    if (expect(p, n, YAML_SEQUENCE_NODE, "waves") < 0)
        return;
    size_t cap = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    cfg->waves = dom_calloc(cap, sizeof(dom_wave));
    if (!cfg->waves)
        return;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *v = node_at(p, *it);
        static const char *const keys[] = {"name", "countries", "percent", NULL};
        yaml_node_t *f[3];
        char what[64];
        snprintf(what, sizeof(what), "wave %zu", cfg->nwaves + 1);
        if (map_fields(p, v, what, keys, f, NULL) < 0)
            continue;
        dom_wave *w = &cfg->waves[cfg->nwaves++];
        w->line = (int)v->start_mark.line + 1;
        w->col = (int)v->start_mark.column + 1;
        w->percent = 100;
        if (!f[0]) {
            perr(p, v, "missing key \"name\" in %s", what);
            w->name = dom_strdup(what);
        } else {
            w->name = get_str(p, f[0], "wave name");
            if (!w->name)
                w->name = dom_strdup(what);
            else if (!valid_name(w->name))
                perr(p, f[0], "invalid wave name \"%s\" (letters, digits, '-' and '_')", w->name);
            for (size_t i = 0; w->name && i + 1 < cfg->nwaves; i++)
                if (cfg->waves[i].name && strcmp(cfg->waves[i].name, w->name) == 0)
                    perr(p, f[0], "duplicate wave \"%s\"", w->name);
        }
        snprintf(what, sizeof(what), "wave \"%s\"", w->name ? w->name : "?");
        if (f[1]) {
            int any = 0;
            get_countries(p, f[1], what, 0, &w->countries, &w->ncountries, &any, NULL);
            for (size_t i = 0; i < w->ncountries; i++)
                if (!covered(cfg, w->countries[i]))
                    perr(p, f[1], "%s names country \"%s\" that no policy rule covers", what,
                         w->countries[i]);
        }
        if (f[2] && get_double(p, f[2], "percent", &w->percent) == 0 &&
            (w->percent < 1 || w->percent > 100))
            perr(p, f[2], "percent of %s must be between 1 and 100, got %s", what, scalar(f[2]));
    }
}

/* options.health: the bounds of the regions' health (docs/mover.md "The
 * mover yields to the application"): { probe_ms, critical_probe_ms,
 * active_sessions, critical_active_sessions, replica_lag,
 * critical_replica_lag } */
static void parse_health(parser *p, yaml_node_t *n)
{
    static const char *const keys[] = {"probe_ms",
                                       "critical_probe_ms",
                                       "active_sessions",
                                       "critical_active_sessions",
                                       "replica_lag",
                                       "critical_replica_lag",
                                       NULL};
    yaml_node_t *f[6];
    dom_health_bounds *h = &p->cfg->options.health;
    if (map_fields(p, n, "options.health", keys, f, NULL) < 0)
        return;
    double *ms[2] = {&h->probe_ms, &h->critical_probe_ms};
    long *ss[2] = {&h->active_sessions, &h->critical_active_sessions};
    double *lag[2] = {&h->replica_lag_sec, &h->critical_replica_lag_sec};
    for (int i = 0; i < 2; i++) {
        char what[64];
        snprintf(what, sizeof(what), "options.health.%s", keys[i]);
        if (f[i] && get_double(p, f[i], what, ms[i]) == 0 && *ms[i] <= 0)
            perr(p, f[i], "%s must be more than 0 (milliseconds), got %s", what, scalar(f[i]));
        snprintf(what, sizeof(what), "options.health.%s", keys[2 + i]);
        if (f[2 + i])
            get_long(p, f[2 + i], what, 1, 1000000, ss[i]);
        snprintf(what, sizeof(what), "options.health.%s", keys[4 + i]);
        if (f[4 + i] && expect(p, f[4 + i], YAML_SCALAR_NODE, what) == 0) {
            long d = dom_parse_duration(scalar(f[4 + i]));
            if (d < 1)
                perr(p, f[4 + i], "%s must be a duration of 1s or more, such as 10s, got \"%s\"",
                     what, scalar(f[4 + i]));
            else
                *lag[i] = (double)d;
        }
    }
    if (h->probe_ms > 0 && h->critical_probe_ms > 0 && h->critical_probe_ms < h->probe_ms)
        perr(p, f[1], "options.health.critical_probe_ms (%g) is below probe_ms (%g)",
             h->critical_probe_ms, h->probe_ms);
    if (h->active_sessions && h->critical_active_sessions &&
        h->critical_active_sessions < h->active_sessions)
        perr(p, f[3],
             "options.health.critical_active_sessions (%ld) is below active_sessions (%ld)",
             h->critical_active_sessions, h->active_sessions);
}

static void parse_options(parser *p, yaml_node_t *n)
{
    static const char *const keys[] = {
        "batch_tenants", "workers",     "max_rows_per_second",   "retain_source",
        "lease",         "fence_wait",  "transfer_rows",         "quiet_regions",
        "health",        "erase_after", "erase_rows_per_second", NULL};
    yaml_node_t *f[11];
    dom_config *cfg = p->cfg;
    if (map_fields(p, n, "options", keys, f, NULL) < 0)
        return;
    if (f[0])
        get_long(p, f[0], "options.batch_tenants", 1, 1000000, &cfg->options.batch_tenants);
    /* auto (0): from the round trips to the regions, at the run's start */
    if (f[1] && expect(p, f[1], YAML_SCALAR_NODE, "options.workers") == 0) {
        const char *w = scalar(f[1]);
        char *end;
        errno = 0;
        long v = strtol(w, &end, 10);
        if (strcmp(w, "auto") == 0)
            cfg->options.workers = 0;
        else if (!*w || *end || errno || v < 1 || v > 64)
            perr(p, f[1], "options.workers must be auto or an integer between 1 and 64, got \"%s\"",
                 w);
        else
            cfg->options.workers = v;
    }
    if (f[2] &&
        get_double(p, f[2], "options.max_rows_per_second", &cfg->options.max_rows_per_second) ==
            0 &&
        cfg->options.max_rows_per_second < 0)
        perr(p, f[2], "options.max_rows_per_second must be 0 or more, got %s", scalar(f[2]));
    /* erase_after is retain_source's other name: the source copy, fenced
     * read-only, is erased that long after its batch's flip */
    if (f[3] && f[9])
        perr(p, f[9], "options.erase_after and options.retain_source are one setting; give one");
    yaml_node_t *ret = f[9] ? f[9] : f[3];
    const char *rname = f[9] ? "options.erase_after" : "options.retain_source";
    if (ret && expect(p, ret, YAML_SCALAR_NODE, rname) == 0) {
        long d = dom_parse_duration(scalar(ret));
        if (d < 0)
            perr(p, ret, "%s must be a duration such as 0s, 30m, 12h or 7d, got \"%s\"", rname,
                 scalar(ret));
        else
            cfg->options.retain_source_sec = d;
    }
    if (f[10] &&
        get_double(p, f[10], "options.erase_rows_per_second",
                   &cfg->options.erase_rows_per_second) == 0 &&
        cfg->options.erase_rows_per_second < 0)
        perr(p, f[10], "options.erase_rows_per_second must be 0 or more, got %s", scalar(f[10]));
    if (f[4] && expect(p, f[4], YAML_SCALAR_NODE, "options.lease") == 0) {
        long d = dom_parse_duration(scalar(f[4]));
        if (d < 1)
            perr(p, f[4], "options.lease must be a duration of 1s or more, such as 30s, got \"%s\"",
                 scalar(f[4]));
        else
            cfg->options.lease_sec = d;
    }
    if (f[5] && expect(p, f[5], YAML_SCALAR_NODE, "options.fence_wait") == 0) {
        long d = dom_parse_duration(scalar(f[5]));
        if (d < 1)
            perr(p, f[5],
                 "options.fence_wait must be a duration of 1s or more, such as 60s, got \"%s\"",
                 scalar(f[5]));
        else
            cfg->options.fence_wait_sec = d;
    }
    if (f[6] && expect(p, f[6], YAML_SCALAR_NODE, "options.transfer_rows") == 0) {
        const char *v = scalar(f[6]);
        if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0)
            cfg->options.transfer_rows = 1;
        else if (strcmp(v, "false") != 0 && strcmp(v, "no") != 0)
            perr(p, f[6], "options.transfer_rows must be true or false, got \"%s\"", v);
    }
    if (f[7] && expect(p, f[7], YAML_SCALAR_NODE, "options.quiet_regions") == 0) {
        const char *v = scalar(f[7]);
        if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0)
            cfg->options.always_active = 1;
        else if (strcmp(v, "true") != 0 && strcmp(v, "yes") != 0)
            perr(p, f[7], "options.quiet_regions must be true or false, got \"%s\"", v);
    }
    if (f[8])
        parse_health(p, f[8]);
}

/* latency: { "IN -> singapore": 60 } */
static void parse_latency(parser *p, yaml_node_t *n)
{
    dom_config *cfg = p->cfg;
    if (expect(p, n, YAML_MAPPING_NODE, "latency") < 0)
        return;
    size_t cap = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    cfg->latency = dom_calloc(cap, sizeof(dom_latency_override));
    if (!cfg->latency)
        return;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
        const char *ks = scalar(k);
        char cc[8] = {0}, region[128] = {0};
        if (!ks || sscanf(ks, " %7[A-Za-z] -> %127[A-Za-z0-9_-] ", cc, region) != 2) {
            perr(p, k, "latency keys look like \"IN -> singapore\", got \"%s\"", ks ? ks : "");
            continue;
        }
        dom_latency_override *o = &cfg->latency[cfg->nlatency];
        for (int i = 0; cc[i]; i++)
            cc[i] = (char)toupper((unsigned char)cc[i]);
        if (strlen(cc) != 2 || !dom_country_find(cc)) {
            perr(p, k,
                 "invalid country code \"%s\" in latency (expected an ISO 3166-1 alpha-2 "
                 "code such as \"SG\")",
                 cc);
            continue;
        }
        o->region = dom_config_region(cfg, region);
        if (o->region < 0) {
            perr(p, k, "unknown region \"%s\" in latency", region);
            continue;
        }
        if (get_double(p, v, "a latency in milliseconds", &o->ms) < 0)
            continue;
        if (o->ms < 0) {
            perr(p, v, "latency must be 0 or more milliseconds, got %s", scalar(v));
            continue;
        }
        memcpy(o->country, cc, 3);
        cfg->nlatency++;
    }
}

static void parse_root(parser *p, yaml_node_t *root)
{
    static const char *const keys[] = {"catalog", "regions", "tenants", "tables", "policy",
                                       "waves",   "options", "latency", "audit",  NULL};
    enum {
        K_CATALOG,
        K_REGIONS,
        K_TENANTS,
        K_TABLES,
        K_POLICY,
        K_WAVES,
        K_OPTIONS,
        K_LATENCY,
        K_AUDIT
    };
    yaml_node_t *f[9];
    dom_config *cfg = p->cfg;
    if (map_fields(p, root, "the config", keys, f, NULL) < 0)
        return;
    const char *catalog = "sqlite:domicile.db";
    if (f[K_CATALOG] && expect(p, f[K_CATALOG], YAML_SCALAR_NODE, "catalog") == 0)
        catalog = scalar(f[K_CATALOG]);
    if (dom_dsn_parse(&cfg->catalog, catalog, cfg->dir) < 0)
        perr(p, f[K_CATALOG], "bad dsn for catalog: %s", dom_error_last());
    if (!f[K_REGIONS])
        perr(p, root, "missing key \"regions\"");
    else
        parse_regions(p, f[K_REGIONS]);
    if (!f[K_TENANTS])
        perr(p, root, "missing key \"tenants\"");
    else
        parse_tenants(p, f[K_TENANTS]);
    if (f[K_TABLES])
        parse_tables(p, f[K_TABLES]);
    if (!f[K_POLICY])
        perr(p, root, "missing key \"policy\"");
    else {
        parse_policy(p, f[K_POLICY]);
        if (cfg->nrules)
            check_coverage(p, f[K_POLICY]);
    }
    if (f[K_WAVES])
        parse_waves(p, f[K_WAVES]);
    if (f[K_OPTIONS])
        parse_options(p, f[K_OPTIONS]);
    if (f[K_LATENCY])
        parse_latency(p, f[K_LATENCY]);
    if (f[K_AUDIT])
        parse_audit(p, f[K_AUDIT]);
}

static char *dirname_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return dom_strdup(".");
    if (slash == path)
        return dom_strdup("/");
    return dom_strndup(path, (size_t)(slash - path));
}

static int parse_buffer(dom_config **out, const char *name, const char *dir, const char *data,
                        size_t len)
{
    parser p = {0};
    yaml_parser_t yp;
    unsigned long failures = dom_alloc_failures();
    *out = NULL;
    p.name = name;
    p.cfg = dom_calloc(1, sizeof(dom_config));
    if (!p.cfg)
        return DOM_ENOMEM;
    p.cfg->path = dom_strdup(name);
    p.cfg->dir = dom_strdup(dir);
    p.cfg->options.batch_tenants = 500;
    p.cfg->options.workers = 0; /* auto */
    p.cfg->audit.examples = 5;
    if (!yaml_parser_initialize(&yp)) {
        dom_config_free(p.cfg);
        return dom_error_set(DOM_ENOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&yp, (const unsigned char *)data, len);
    if (!yaml_parser_load(&yp, &p.doc)) {
        dom_error_set(DOM_ECONFIG, "%s:%lu:%lu: YAML syntax error: %s%s%s", name,
                      (unsigned long)yp.problem_mark.line + 1,
                      (unsigned long)yp.problem_mark.column + 1,
                      yp.problem ? yp.problem : "unknown problem", yp.context ? " " : "",
                      yp.context ? yp.context : "");
        yaml_parser_delete(&yp);
        dom_config_free(p.cfg);
        return DOM_ECONFIG;
    }
    yaml_parser_delete(&yp);
    yaml_node_t *root = yaml_document_get_root_node(&p.doc);
    if (!root)
        perr(&p, NULL, "the config is empty");
    else
        parse_root(&p, root);
    yaml_document_delete(&p.doc);
    if (p.errors.oom || dom_alloc_failures() != failures) {
        dom_buf_free(&p.errors);
        dom_config_free(p.cfg);
        return dom_error_set(DOM_ENOMEM, "out of memory");
    }
    if (p.nerrors) {
        if (p.errors.len && p.errors.ptr[p.errors.len - 1] == '\n')
            p.errors.ptr[--p.errors.len] = '\0';
        dom_error_set(DOM_ECONFIG, "%s", dom_buf_cstr(&p.errors));
        dom_buf_free(&p.errors);
        dom_config_free(p.cfg);
        return DOM_ECONFIG;
    }
    dom_buf_free(&p.errors);
    *out = p.cfg;
    return 0;
}

int dom_config_parse(dom_config **out, const char *name, const char *data, size_t len)
{
    return parse_buffer(out, name, ".", data, len);
}

int dom_config_load(dom_config **out, const char *path)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dom_error_set(DOM_ECONFIG, "%s: cannot open config: %s", path, strerror(errno));
    dom_buf b = DOM_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        dom_buf_put(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad || b.oom) {
        dom_buf_free(&b);
        return dom_error_set(DOM_ECONFIG, "%s: cannot read config", path);
    }
    char *dir = dirname_of(path);
    int rc = dir ? parse_buffer(out, path, dir, dom_buf_cstr(&b), b.len) : DOM_ENOMEM;
    dom_free(dir);
    dom_buf_free(&b);
    return rc;
}

void dom_config_free(dom_config *cfg)
{
    if (!cfg)
        return;
    dom_free(cfg->path);
    dom_free(cfg->dir);
    dom_dsn_free(&cfg->catalog);
    for (size_t i = 0; i < cfg->nregions; i++) {
        dom_free(cfg->regions[i].name);
        dom_free(cfg->regions[i].city);
        dom_dsn_free(&cfg->regions[i].dsn);
    }
    dom_free(cfg->regions);
    dom_free(cfg->tenants.table);
    dom_free(cfg->tenants.key);
    dom_free(cfg->tenants.country);
    for (size_t i = 0; i < cfg->ntables; i++)
        spec_free(&cfg->tables[i]);
    dom_free(cfg->tables);
    for (size_t i = 0; i < cfg->nrules; i++)
        dom_free(cfg->rules[i].countries);
    dom_free(cfg->rules);
    for (size_t i = 0; i < cfg->nwaves; i++) {
        dom_free(cfg->waves[i].name);
        dom_free(cfg->waves[i].countries);
    }
    dom_free(cfg->waves);
    dom_free(cfg->latency);
    for (size_t i = 0; i < cfg->audit.nscan; i++) {
        dom_free(cfg->audit.scan[i].table);
        dom_free(cfg->audit.scan[i].key);
    }
    dom_free(cfg->audit.scan);
    dom_free(cfg);
}
