/*
 * failapply.c - `apply` with one allocation failing, then `apply` again in
 * the same process: the failure must end in an error (never a crash, a
 * leak or a region left locked), and the second run must finish the job.
 * A test tool.
 *
 *   failapply count CONFIG [ROLLBACK_WAVE]
 *       runs apply (or the rollback of a wave) without failures; prints the
 *       allocations it made
 *   failapply run CONFIG N [ROLLBACK_WAVE]
 *       runs it with the Nth allocation (from 0) failing, then again;
 *       prints "failed: MESSAGE" or "passed" for the first run, and exits 0
 *       when the second run succeeded
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/mover.h"
#include "domicile.h"
#include "util/util.h"

static const char *rollback_wave;

static int apply(const dom_config *cfg, const char **err)
{
    dom_apply_opts o = {0};
    o.wave = rollback_wave;
    o.rollback = rollback_wave != NULL;
    dom_apply_stats st;
    int rc = dom_apply(cfg, &o, &st);
    *err = rc < 0 ? dom_error_last() : "";
    dom_apply_stats_free(&st);
    return rc;
}

int main(int argc, char **argv)
{
    int run = argc > 1 && strcmp(argv[1], "run") == 0;
    if (argc < 3 + run || (!run && strcmp(argv[1], "count") != 0)) {
        fprintf(stderr, "usage: failapply count CONFIG [WAVE] | failapply run CONFIG N [WAVE]\n");
        return 2;
    }
    if (argc > 3 + run)
        rollback_wave = argv[3 + run];
    dom_config *cfg;
    if (dom_config_load(&cfg, argv[2]) != 0) {
        fprintf(stderr, "failapply: %s\n", dom_error_last());
        return 2;
    }
    const char *err;
    int rc;
    if (!run) {
        long before = dom_alloc_calls();
        rc = apply(cfg, &err);
        printf("%ld\n", dom_alloc_calls() - before);
    } else {
        dom_alloc_fail_once(atol(argv[3]));
        rc = apply(cfg, &err);
        dom_alloc_fail_after(-1);
        if (rc < 0)
            printf("failed: %s\n", err);
        else
            printf("passed\n");
        rc = apply(cfg, &err);
    }
    if (rc < 0)
        fprintf(stderr, "failapply: apply: %s\n", err);
    dom_config_free(cfg);
    return rc < 0 ? 1 : 0;
}
