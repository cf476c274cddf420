/*
 * cmd_plan.c - `domicile plan`: prints the plan built by core/plan.c as a
 * table or as one JSON document (docs/plan.md).
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/geo.h"
#include "core/plan.h"
#include "core/policy.h"
#include "store/store.h"
#include "util/util.h"

static json_t *countries_json(const dom_wave *w)
{
    if (!w || !w->ncountries)
        return json_null();
    json_t *a = json_array();
    for (size_t i = 0; i < w->ncountries; i++)
        json_array_append_new(a, json_string(w->countries[i]));
    return a;
}

static json_t *wave_json(const dom_plan *p, size_t w)
{
    const dom_plan_wave *pw = &p->waves[w];
    const dom_config *cfg = p->cfg;
    json_t *o = json_object();
    if (pw->wave) {
        json_object_set_new(o, "name", json_string(pw->wave->name));
        json_object_set_new(o, "countries", countries_json(pw->wave));
        json_object_set_new(o, "percent", json_real(pw->wave->percent));
    }
    json_object_set_new(o, "tenants", json_integer(pw->tenants));
    json_object_set_new(o, "rows", json_integer(pw->rows));
    json_object_set_new(o, "bytes", json_integer(pw->bytes));
    json_t *tables = json_object();
    for (size_t t = 0; t < p->ntables; t++)
        json_object_set_new(tables, p->tables[t], json_integer(pw->table_rows[t]));
    json_object_set_new(o, "table_rows", tables);
    json_t *moves = json_array();
    for (size_t i = 0; i < pw->npairs; i++) {
        json_t *m = json_object();
        json_object_set_new(m, "from", json_string(cfg->regions[pw->pairs[i].from].name));
        json_object_set_new(m, "to", json_string(cfg->regions[pw->pairs[i].to].name));
        json_object_set_new(m, "tenants", json_integer(pw->pairs[i].tenants));
        json_object_set_new(m, "rows", json_integer(pw->pairs[i].rows));
        json_object_set_new(m, "bytes", json_integer(pw->pairs[i].bytes));
        json_array_append_new(moves, m);
    }
    json_object_set_new(o, "moves", moves);
    if (pw->wave)
        json_object_set_new(o, "violating_after", json_integer(pw->violating_after));
    return o;
}

/* "ok" is false when --check finds tenants still in violation (exit 2) */
static void print_json(const dom_plan *p, int only, int check)
{
    const dom_config *cfg = p->cfg;
    size_t last = only >= 0 ? (size_t)only : p->nwaves - 1;
    json_t *root = json_pack("{s:b}", "ok", !(check && p->waves[last].violating_after > 0));
    json_object_set_new(root, "config", json_string(cfg->path));
    json_object_set_new(root, "source", json_string(p->source));
    json_object_set_new(root, "tenants", json_integer((json_int_t)p->ntenants));
    json_object_set_new(root, "misplaced", json_integer(p->misplaced));
    json_object_set_new(root, "bytes_estimated", json_boolean(p->bytes_estimated));
    json_t *tables = json_array();
    for (size_t t = 0; t < p->ntables; t++)
        json_array_append_new(tables, json_string(p->tables[t]));
    json_object_set_new(root, "tables", tables);
    json_t *schema = json_array();
    for (size_t t = 0; t < p->nall_tables; t++)
        json_array_append_new(schema, json_pack("{s:s,s:s,s:s}", "table", p->all_tables[t], "class",
                                                p->table_class[t], "tenant", p->table_how[t]));
    json_object_set_new(root, "schema", schema);
    json_t *regions = json_array();
    for (size_t r = 0; r < cfg->nregions; r++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(cfg->regions[r].name));
        json_object_set_new(o, "location", json_string(cfg->regions[r].country));
        json_object_set_new(o, "engine",
                            json_string(dom_engine_of_kind(cfg->regions[r].dsn.kind)->name));
        json_object_set_new(o, "tenants_before", json_integer(p->region_before[r]));
        json_object_set_new(o, "tenants_after", json_integer(p->region_after[r]));
        json_array_append_new(regions, o);
    }
    json_object_set_new(root, "regions", regions);
    json_t *waves = json_array();
    for (size_t w = 0; w + 1 < p->nwaves; w++)
        if (only < 0 || (size_t)only == w)
            json_array_append_new(waves, wave_json(p, w));
    json_object_set_new(root, "waves", waves);
    if (only < 0)
        json_object_set_new(root, "unplanned", wave_json(p, p->nwaves - 1));
    json_t *comp = json_object();
    json_object_set_new(comp, "violating_before", json_integer(p->violating_before));
    json_object_set_new(comp, "violating_after", json_integer(p->waves[last].violating_after));
    json_object_set_new(comp, "unknown_country", json_integer(p->unknown_country));
    json_t *bad = json_array();
    for (size_t i = 0; i < p->nbad; i++)
        json_array_append_new(bad, json_pack("{s:s,s:I,s:s}", "problem", p->bad[i].why, "tenants",
                                             (json_int_t)p->bad[i].tenants, "example",
                                             p->bad[i].example));
    json_object_set_new(comp, "invalid_countries", bad);
    json_object_set_new(comp, "orphan_rows", json_integer(p->orphan_rows));
    json_object_set_new(comp, "over_capacity", json_integer(p->over_capacity));
    json_t *cs = json_array();
    for (size_t c = 0; c < dom_ncountries; c++) {
        const dom_plan_country *pc = &p->countries[c];
        if (!pc->tenants)
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "country", json_string(dom_countries[c].code));
        json_object_set_new(o, "tenants", json_integer(pc->tenants));
        json_object_set_new(o, "misplaced", json_integer(pc->misplaced));
        json_object_set_new(o, "moving", json_integer(pc->moving));
        json_object_set_new(o, "violating_before", json_integer(pc->violating_before));
        json_object_set_new(o, "violating_after",
                            json_integer(p->waves[last].country_violating_after[c]));
        json_array_append_new(cs, o);
    }
    json_object_set_new(comp, "countries", cs);
    json_object_set_new(root, "compliance", comp);
    cli_json_print(root);
}

static void print_wave(const dom_plan *p, size_t w)
{
    const dom_plan_wave *pw = &p->waves[w];
    const dom_config *cfg = p->cfg;
    char a[32], b[32], c[32];
    if (pw->wave) {
        printf("wave %s", pw->wave->name);
        if (pw->wave->ncountries) {
            printf(" (");
            for (size_t i = 0; i < pw->wave->ncountries; i++)
                printf("%s%s", i ? " " : "", pw->wave->countries[i]);
            printf(")");
        } else {
            printf(" (every country)");
        }
        if (pw->wave->percent < 100)
            printf(" %g%%", pw->wave->percent);
        printf(": %s tenant%s, %s row%s, %s%s\n", cli_num(a, sizeof(a), pw->tenants),
               CLI_S(pw->tenants), cli_num(b, sizeof(b), pw->rows), CLI_S(pw->rows),
               cli_bytes(c, sizeof(c), (double)pw->bytes),
               p->bytes_estimated ? " (estimated)" : "");
    } else {
        if (!pw->npairs)
            return;
        printf("not in any wave: %s misplaced tenants stay where they are\n",
               cli_num(a, sizeof(a), pw->npairs ? pw->tenants : 0));
    }
    for (size_t i = 0; i < pw->npairs; i++) {
        char ft[64];
        snprintf(ft, sizeof(ft), "%s -> %s", cfg->regions[pw->pairs[i].from].name,
                 cfg->regions[pw->pairs[i].to].name);
        printf("  %-28s %10s tenants %12s rows %12s\n", ft,
               cli_num(a, sizeof(a), pw->pairs[i].tenants),
               cli_num(b, sizeof(b), pw->pairs[i].rows),
               cli_bytes(c, sizeof(c), (double)pw->pairs[i].bytes));
    }
    if (pw->wave)
        printf("  tenants in violation once this wave is done: %s\n",
               cli_num(a, sizeof(a), pw->violating_after));
}

static void print_text(const dom_plan *p, int only)
{
    const dom_config *cfg = p->cfg;
    size_t last = only >= 0 ? (size_t)only : p->nwaves - 1;
    char a[32], b[32], c[32], d[32], e[32];
    printf("plan for %s: %s tenant%s (%s), %s misplaced\n", cfg->path,
           cli_num(a, sizeof(a), (long long)p->ntenants), CLI_S(p->ntenants),
           strcmp(p->source, "directory") == 0 ? "placed by the directory"
                                               : "found by scanning the regions",
           cli_num(b, sizeof(b), p->misplaced));
    printf("tenant tables:");
    for (size_t t = 0; t < p->ntables; t++)
        printf(" %s", p->tables[t]);
    printf("\n\n%-24s %-9s %s\n", "table", "class", "tenant found by");
    for (size_t t = 0; t < p->nall_tables; t++)
        printf("%-24s %-9s %s\n", p->all_tables[t], p->table_class[t], p->table_how[t]);
    printf("\n%-16s %-8s %14s %16s\n", "region", "location", "tenants now",
           only >= 0 ? "after this wave" : "after all waves");
    for (size_t r = 0; r < cfg->nregions; r++) {
        int64_t after = p->region_before[r];
        if (only >= 0) {
            /* recompute for the chosen wave: tenants of waves <= only have moved */
            after = 0;
            for (size_t i = 0; i < p->ntenants; i++) {
                const dom_plan_tenant *t = &p->tenants[i];
                int moved = t->wave != DOM_NO_WAVE && t->wave <= (unsigned)only;
                if ((moved ? t->target : t->cur) == (int)r)
                    after++;
            }
        } else {
            after = p->region_after[r];
        }
        printf("%-16s %-8s %14s %16s\n", cfg->regions[r].name, cfg->regions[r].country,
               cli_num(a, sizeof(a), p->region_before[r]), cli_num(b, sizeof(b), after));
    }
    printf("\n");
    for (size_t w = 0; w < p->nwaves; w++)
        if (only < 0 || (size_t)only == w)
            print_wave(p, w);
    printf("\n%-8s %12s %12s %12s %14s %14s\n", "country", "tenants", "misplaced", "moving",
           "violating now", only >= 0 ? "after wave" : "after waves");
    int64_t tot[4] = {0};
    for (size_t i = 0; i < dom_ncountries; i++) {
        const dom_plan_country *pc = &p->countries[i];
        if (!pc->misplaced && !pc->violating_before)
            continue;
        printf("%-8s %12s %12s %12s %14s %14s\n", dom_countries[i].code,
               cli_num(a, sizeof(a), pc->tenants), cli_num(b, sizeof(b), pc->misplaced),
               cli_num(c, sizeof(c), pc->moving), cli_num(d, sizeof(d), pc->violating_before),
               cli_num(e, sizeof(e), p->waves[last].country_violating_after[i]));
        tot[0] += pc->tenants;
        tot[1] += pc->misplaced;
        tot[2] += pc->moving;
    }
    printf("%-8s %12s %12s %12s %14s %14s\n", "total", cli_num(a, sizeof(a), tot[0]),
           cli_num(b, sizeof(b), tot[1]), cli_num(c, sizeof(c), tot[2]),
           cli_num(d, sizeof(d), p->violating_before),
           cli_num(e, sizeof(e), p->waves[last].violating_after));
    printf("(countries whose tenants are all at home and compliant are not listed)\n");
    if (p->unknown_country) {
        int home = dom_policy_invalid_home(cfg);
        if (home >= 0)
            printf("warning: %s tenants have no valid country; the policy's home for them "
                   "(countries: [invalid]) is %s\n",
                   cli_num(a, sizeof(a), p->unknown_country), cfg->regions[home].name);
        else
            printf("warning: %s tenants have no valid country; no policy rule names a home for "
                   "them (countries: [invalid]): they stay where they are\n",
                   cli_num(a, sizeof(a), p->unknown_country));
        for (size_t i = 0; i < p->nbad; i++)
            printf("  %s tenants: %s (e.g. tenant %s)\n", cli_num(a, sizeof(a), p->bad[i].tenants),
                   p->bad[i].why, p->bad[i].example);
    }
    if (p->orphan_rows)
        printf("warning: %s rows belong to no tenant of a tenants table\n",
               cli_num(a, sizeof(a), p->orphan_rows));
    if (p->over_capacity)
        printf("warning: %s tenants exceed the capacity of every region they may live in\n",
               cli_num(a, sizeof(a), p->over_capacity));
}

int cmd_plan(cli *c)
{
    const char *wave = NULL;
    int check = 0, npos;
    const cli_opt opts[] = {{"wave", CLI_STR, &wave, 0, 0}, {"check", CLI_FLAG, &check, 0, 0}, {0}};
    int rc = cli_parse(c, opts, NULL, &npos, 0);
    if (rc)
        return rc;
    dom_config *cfg;
    if ((rc = cli_load_config(c, &cfg)))
        return rc;
    int only = -1;
    if (wave && (only = dom_plan_wave_index(cfg, wave)) < 0) {
        rc = dom_error_set(DOM_ENOTFOUND, "plan: no wave named \"%s\" in %s", wave, cfg->path);
        dom_config_free(cfg);
        return cli_fail(rc);
    }
    dom_plan *p;
    if ((rc = dom_plan_build(&p, cfg)) < 0) {
        dom_config_free(cfg);
        return cli_fail(rc);
    }
    if (c->json)
        print_json(p, only, check);
    else
        print_text(p, only);
    int exit_code = EXIT_OK;
    size_t last = only >= 0 ? (size_t)only : p->nwaves - 1;
    if (check && p->waves[last].violating_after > 0)
        exit_code = EXIT_FOUND;
    dom_plan_free(p);
    dom_config_free(cfg);
    return exit_code;
}
