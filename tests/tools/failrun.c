/*
 * failrun.c - a command of the mover with one allocation failing, then
 * the same command again in the same process: the failure must end in an
 * error (never a crash, a leak or a region left locked), and the second
 * run must finish the job.  A test tool.
 *
 *   failrun COMMAND CONFIG
 *       runs COMMAND without failures; prints the allocations it made
 *   failrun COMMAND CONFIG N
 *       runs COMMAND with the Nth allocation (from 0) failing, then again;
 *       prints "failed: MESSAGE" or "passed" for the first run, and exits
 *       0 when the second run succeeded
 *
 * COMMAND: `apply`, `rollback:WAVE`, `prepare`, or the read-only `verify`
 * and `audit`, which succeed only when they find nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/config.h"
#include "core/mover.h"
#include "core/verify.h"
#include "domicile.h"
#include "util/util.h"

static const char *command;

static int run(const dom_config *cfg, const char **err)
{
    int rc;
    if (strcmp(command, "prepare") == 0) {
        dom_prepare_report rep;
        rc = dom_prepare(cfg, &rep);
    } else if (strcmp(command, "verify") == 0) {
        dom_verify_opts o = {0};
        dom_verify_summary sum;
        if ((rc = dom_verify_run(cfg, &o, &sum)) == 0 && sum.differences)
            rc = dom_error_set(DOM_EFAILED, "verify: %lld differences", (long long)sum.differences);
    } else if (strcmp(command, "audit") == 0) {
        dom_audit_result r;
        if ((rc = dom_audit_run(cfg, &r)) == 0) {
            if (r.nfindings || !r.log_ok)
                rc = dom_error_set(DOM_EFAILED, "audit: %zu findings, log %s", r.nfindings,
                                   r.log_ok ? "intact" : r.log_problem);
            dom_audit_free(&r);
        }
    } else {
        dom_apply_opts o = {0};
        if (strncmp(command, "rollback:", 9) == 0) {
            o.wave = command + 9;
            o.rollback = 1;
        }
        dom_apply_stats st;
        rc = dom_apply(cfg, &o, &st);
        dom_apply_stats_free(&st);
    }
    *err = rc < 0 ? dom_error_last() : "";
    return rc;
}

int main(int argc, char **argv)
{
    static const char *const commands[] = {"apply", "prepare", "verify", "audit"};
    int known = argc > 1 && strncmp(argv[1], "rollback:", 9) == 0;
    for (size_t i = 0; argc > 1 && i < sizeof(commands) / sizeof(commands[0]); i++)
        known |= strcmp(argv[1], commands[i]) == 0;
    if (argc < 3 || !known) {
        fprintf(stderr, "usage: failrun apply|rollback:WAVE|prepare|verify|audit CONFIG [N]\n");
        return 2;
    }
    command = argv[1];
    dom_config *cfg;
    if (dom_config_load(&cfg, argv[2]) != 0) {
        fprintf(stderr, "failrun: %s\n", dom_error_last());
        return 2;
    }
    const char *err;
    int rc;
    if (argc < 4) {
        long before = dom_alloc_calls();
        rc = run(cfg, &err);
        printf("%ld\n", dom_alloc_calls() - before);
    } else {
        dom_alloc_fail_once(atol(argv[3]));
        rc = run(cfg, &err);
        dom_alloc_fail_after(-1);
        if (rc < 0)
            printf("failed: %s\n", err);
        else
            printf("passed\n");
        rc = run(cfg, &err);
    }
    if (rc < 0)
        fprintf(stderr, "failrun: %s: %s\n", command, err);
    dom_config_free(cfg);
    return rc < 0 ? 1 : 0;
}
