/*
 * failrun.c - a command of the mover with one allocation (or one SQLite
 * write) failing, then the same command again in the same process: the failure must end in an
 * error (never a crash, a leak or a region left locked), and the second
 * run must finish the job.  A test tool.
 *
 *   failrun COMMAND CONFIG
 *       runs COMMAND without failures; prints the allocations it made
 *   failrun COMMAND CONFIG N
 *       runs COMMAND with the Nth allocation (from 0) failing, then again;
 *       prints "fired" or "not reached" (whether the Nth allocation came),
 *       then "failed: MESSAGE" or "passed" for the first run, and exits
 *       0 when the second run succeeded
 *   failrun COMMAND CONFIG [N] io
 *       the same with SQLite I/O instead: the Nth write, truncate or sync
 *       of any SQLite file (regions and catalog) fails with SQLITE_IOERR
 *
 * COMMAND: `apply`, `rollback:WAVE`, `prepare`, or the read-only `verify`
 * and `audit`, which succeed only when they find nothing.
 */
#include <limits.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/config.h"
#include "core/mover.h"
#include "core/verify.h"
#include "domicile.h"
#include "util/util.h"

/* ---- I/O errors: a VFS over the default one whose Nth write or sync
 * fails (SQLITE_IOERR), once; every SQLite file of the process (regions
 * and catalog) opens through it ---- */

typedef struct faulty_file {
    sqlite3_file base;
    sqlite3_file *real; /* follows this struct */
} faulty_file;

static sqlite3_vfs *real_vfs;
static _Atomic long io_fail_at = -1;
static _Atomic long io_calls;
static _Atomic int io_fired;

/* 1 when this write, truncate or sync is the one to fail */
static int io_fails(void)
{
    long n = io_calls++;
    long at = io_fail_at;
    if (at >= 0 && n == at) {
        io_fired = 1;
        return 1;
    }
    return 0;
}

#define REAL(f) (((faulty_file *)(f))->real)

static int f_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}
static int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    return io_fails() ? SQLITE_IOERR_WRITE : REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return io_fails() ? SQLITE_IOERR_TRUNCATE : REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int f_sync(sqlite3_file *f, int flags)
{
    return io_fails() ? SQLITE_IOERR_FSYNC : REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int f_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int f_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int f_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int f_devchar(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int f_shmmap(sqlite3_file *f, int pg, int sz, int extend, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, p);
}
static int f_shmlock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void f_shmbarrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int f_shmunmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, p);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods faulty_methods = {
    3,         f_close,      f_read,     f_write, f_truncate, f_sync,    f_size,
    f_lock,    f_unlock,     f_reserved, f_fcntl, f_sector,   f_devchar, f_shmmap,
    f_shmlock, f_shmbarrier, f_shmunmap, f_fetch, f_unfetch};

static int f_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    faulty_file *ff = (faulty_file *)f;
    ff->real = (sqlite3_file *)(ff + 1);
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out);
    ff->base.pMethods = ff->real->pMethods ? &faulty_methods : NULL;
    return rc;
}

static sqlite3_vfs faulty_vfs;

static void faulty_install(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    faulty_vfs = *real_vfs;
    faulty_vfs.pNext = NULL;
    faulty_vfs.zName = "domicile-faulty";
    faulty_vfs.szOsFile = (int)sizeof(faulty_file) + real_vfs->szOsFile;
    faulty_vfs.xOpen = f_open;
    sqlite3_vfs_register(&faulty_vfs, 1);
}

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
        fprintf(stderr,
                "usage: failrun apply|rollback:WAVE|prepare|verify|audit CONFIG [N] [io]\n");
        return 2;
    }
    command = argv[1];
    dom_config *cfg;
    if (dom_config_load(&cfg, argv[2]) != 0) {
        fprintf(stderr, "failrun: %s\n", dom_error_last());
        return 2;
    }
    const char *err;
    int rc, io = strcmp(argv[argc - 1], "io") == 0;
    if (io)
        faulty_install();
    if (argc < 4 + io) {
        dom_alloc_fail_once(LONG_MAX); /* counts, never fails */
        long before = io ? io_calls : dom_alloc_calls();
        rc = run(cfg, &err);
        printf("%ld\n", (io ? io_calls : dom_alloc_calls()) - before);
        dom_alloc_fail_after(-1);
    } else {
        if (io)
            io_fail_at = io_calls + atol(argv[3]);
        else
            dom_alloc_fail_once(atol(argv[3]));
        rc = run(cfg, &err);
        int fired = io ? io_fired : dom_alloc_fail_fired();
        io_fail_at = -1;
        dom_alloc_fail_after(-1);
        printf("%s\n", fired ? "fired" : "not reached");
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
