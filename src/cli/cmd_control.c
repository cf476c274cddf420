/*
 * cmd_control.c - `domicile pause`, `resume` and `throttle`: the live
 * control of running movers, written to the catalog (core/control.h).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/catalog.h"
#include "core/control.h"

/* Opens the catalog, runs `set`, prints what the movers now do. */
static int control_cmd(cli *c, const char *name, int json, int (*set)(dom_catalog *, double),
                       double arg)
{
    dom_config *cfg;
    int rc = cli_load_config(c, &cfg);
    if (rc)
        return rc;
    dom_catalog *cat;
    if ((rc = dom_catalog_open(&cat, cfg, 0)) < 0) {
        dom_config_free(cfg);
        return cli_fail(rc);
    }
    dom_control st;
    if ((rc = set(cat, arg)) < 0 || (rc = dom_control_read(cat, cfg, &st)) < 0) {
        dom_catalog_close(cat);
        dom_config_free(cfg);
        return cli_fail(rc);
    }
    if (json) {
        cli_json_print(json_pack("{s:b,s:s,s:b,s:f,s:s}", "ok", 1, "command", name, "paused",
                                 st.paused, "rows_per_second", st.rate, "rate_from",
                                 st.rate_live ? "throttle" : "config"));
    } else {
        char a[32];
        if (st.paused)
            printf("paused: running movers wait at their next safe point (within a second; "
                   "never inside a write pause) until 'domicile resume'\n");
        else
            printf("running: movers go on from where they waited\n");
        if (st.rate > 0)
            printf("rate: %s rows per second (%s)\n", cli_num(a, sizeof(a), (long long)st.rate),
                   st.rate_live ? "domicile throttle" : "options.max_rows_per_second");
        else
            printf("rate: no limit%s\n", st.rate_live ? " (domicile throttle 0)" : "");
    }
    dom_catalog_close(cat);
    dom_config_free(cfg);
    return EXIT_OK;
}

static int set_paused(dom_catalog *cat, double on)
{
    return dom_control_set_paused(cat, on > 0);
}

static int set_rate(dom_catalog *cat, double rate)
{
    return dom_control_set_rate(cat, rate);
}

int cmd_pause(cli *c)
{
    const cli_opt opts[] = {{0}};
    int npos, rc = cli_parse(c, opts, NULL, &npos, 0);
    return rc ? rc : control_cmd(c, "pause", c->json, set_paused, 1);
}

int cmd_resume(cli *c)
{
    const cli_opt opts[] = {{0}};
    int npos, rc = cli_parse(c, opts, NULL, &npos, 0);
    return rc ? rc : control_cmd(c, "resume", c->json, set_paused, 0);
}

int cmd_throttle(cli *c)
{
    const cli_opt opts[] = {{0}};
    const char *v = NULL;
    int npos, rc = cli_parse(c, opts, &v, &npos, 1);
    if (rc)
        return rc;
    if (!v)
        return cli_usage_error("throttle", "give ROWS_PER_SECOND, or off");
    double rate = -1;
    if (strcmp(v, "off") != 0) {
        char *end;
        rate = strtod(v, &end);
        if (end == v || *end || !(rate >= 0) || rate > 1e12)
            return cli_usage_error("throttle",
                                   "\"%s\" is not a number of rows per second (0 or more), "
                                   "nor off",
                                   v);
    }
    return control_cmd(c, "throttle", c->json, set_rate, rate);
}
