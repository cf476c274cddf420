/*
 * locate.c - how an application asks domicile where to create a new user
 * and where an existing user lives.
 *
 *   locate CONFIG place COUNTRY     prints the region for a new tenant
 *   locate CONFIG locate KEY        prints "region epoch" for a tenant
 */
#include <stdio.h>
#include <string.h>

#include "domicile.h"

int main(int argc, char **argv)
{
    dom_ctx *ctx;
    if (argc != 4) {
        fprintf(stderr, "usage: %s CONFIG place COUNTRY | locate KEY\n", argv[0]);
        return 1;
    }
    if (dom_open(&ctx, argv[1]) != 0) {
        fprintf(stderr, "%s\n", dom_error_last());
        return 1;
    }
    int rc;
    if (strcmp(argv[2], "place") == 0) {
        char region[64];
        if ((rc = dom_place(region, sizeof(region), ctx, argv[3])) == 0)
            printf("%s\n", region);
    } else {
        dom_location loc;
        if ((rc = dom_locate(&loc, ctx, argv[3])) == 0)
            printf("%s %lld\n", loc.region, (long long)loc.epoch);
    }
    if (rc != 0)
        fprintf(stderr, "%s\n", dom_error_last());
    dom_close(ctx);
    return rc == 0 ? 0 : rc == DOM_ENOTFOUND ? 2 : 1;
}
