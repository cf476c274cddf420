/*
 * api.c - the public C API of include/domicile.h on top of config, policy
 * and catalog.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/catalog.h"
#include "core/config.h"
#include "core/geo.h"
#include "core/policy.h"
#include "domicile.h"
#include "util/util.h"

struct dom_ctx {
    dom_config *cfg;
    dom_catalog *cat; /* opened on first use */
};

int dom_open(dom_ctx **out, const char *path)
{
    *out = NULL;
    if (!path || !*path)
        path = getenv("DOMICILE_CONFIG");
    if (!path || !*path)
        path = "domicile.yaml";
    dom_ctx *ctx = dom_calloc(1, sizeof(*ctx));
    if (!ctx)
        return DOM_ENOMEM;
    int rc = dom_config_load(&ctx->cfg, path);
    if (rc < 0) {
        dom_free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

void dom_close(dom_ctx *ctx)
{
    if (!ctx)
        return;
    dom_catalog_close(ctx->cat);
    dom_config_free(ctx->cfg);
    dom_free(ctx);
}

int dom_place(char *out, size_t outlen, dom_ctx *ctx, const char *country)
{
    char cc[3] = {0};
    if (country && strlen(country) == 2) {
        cc[0] = (char)toupper((unsigned char)country[0]);
        cc[1] = (char)toupper((unsigned char)country[1]);
    }
    if (!dom_country_find(cc))
        return dom_error_set(DOM_EUSAGE,
                             "invalid country code \"%s\" (expected ISO 3166-1 alpha-2)",
                             country ? country : "");
    int home = dom_policy_home(ctx->cfg, cc);
    if (home < 0)
        return dom_error_set(DOM_ENOTFOUND, "no policy rule covers country %s", cc);
    const char *name = ctx->cfg->regions[home].name;
    if (strlen(name) + 1 > outlen)
        return dom_error_set(DOM_EUSAGE, "output buffer too small for region \"%s\"", name);
    memcpy(out, name, strlen(name) + 1);
    return 0;
}

int dom_locate(dom_location *out, dom_ctx *ctx, const char *key)
{
    int rc;
    if (!ctx->cat && (rc = dom_catalog_open(&ctx->cat, ctx->cfg, DOM_CATALOG_READONLY)) < 0)
        return rc;
    return dom_catalog_locate(ctx->cat, key, out);
}
