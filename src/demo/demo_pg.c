/*
 * demo_pg.c - `domicile demo --postgres`: three local PostgreSQL servers
 * (initdb and pg_ctl into a temporary folder, as the postgres OS user when
 * run as root, on free ports of 127.0.0.1), the demo data copied into the
 * beijing server, and the servers stopped again at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "demo/demo.h"
#include "util/util.h"

/* The newest installed server binaries, or $PGBIN. */
static int find_pgbin(char *out, size_t n)
{
    const char *env = getenv("PGBIN");
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return 0;
    }
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        globfree(&g);
        return dom_error_set(DOM_ENOTFOUND, "no PostgreSQL server found (install postgresql, or "
                                            "set PGBIN to the folder of initdb and pg_ctl)");
    }
    /* versions sort as numbers: keep the highest */
    const char *best = g.gl_pathv[0];
    for (size_t i = 1; i < g.gl_pathc; i++)
        if (atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/")) >
            atoi(best + strlen("/usr/lib/postgresql/")))
            best = g.gl_pathv[i];
    snprintf(out, n, "%.*s", (int)(strlen(best) - strlen("/initdb")), best);
    globfree(&g);
    return 0;
}

/* Runs argv (as the postgres OS user when we are root), output to log. */
static int run(const char *const *argv, const char *log)
{
    const char *full[32];
    int n = 0;
    if (geteuid() == 0) {
        full[n++] = "runuser";
        full[n++] = "-u";
        full[n++] = "postgres";
        full[n++] = "--";
    }
    for (int i = 0; argv[i] && n < 31; i++)
        full[n++] = argv[i];
    full[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return dom_error_set(DOM_ERROR, "cannot start %s: %s", argv[0], strerror(errno));
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(full[0], (char *const *)full);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        /* the log goes with the temporary folder: quote its last line */
        char line[512] = "", last[512] = "";
        FILE *f = fopen(log, "r");
        while (f && fgets(line, sizeof(line), f))
            if (line[0] != '\n')
                snprintf(last, sizeof(last), "%s", line);
        if (f)
            fclose(f);
        last[strcspn(last, "\n")] = '\0';
        return dom_error_set(DOM_ERROR, "%s failed: %s", argv[0], last);
    }
    return 0;
}

static int chown_postgres(const char *path)
{
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam("postgres");
    if (!pw)
        return dom_error_set(DOM_ENOTFOUND, "running as root needs the postgres OS user");
    if (chown(path, pw->pw_uid, pw->pw_gid) != 0)
        return dom_error_set(DOM_ERROR, "cannot chown %s: %s", path, strerror(errno));
    return 0;
}

int dom_demo_pg_start(dom_demo_pg *pg)
{
    static const char *const names[DOM_DEMO_PG_SERVERS] = {"beijing", "singapore", "us-east"};
    char bin[1024];
    int rc = find_pgbin(bin, sizeof(bin));
    if (rc < 0)
        return rc;
    memset(pg, 0, sizeof(*pg));
    snprintf(pg->root, sizeof(pg->root), "/tmp/domicile-demo-pg-XXXXXX");
    if (!mkdtemp(pg->root))
        return dom_error_set(DOM_ERROR, "cannot create a temporary folder: %s", strerror(errno));
    chmod(pg->root, 0755);
    snprintf(pg->bin, sizeof(pg->bin), "%s", bin);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int i = 0; i < DOM_DEMO_PG_SERVERS; i++) {
        char dir[1200], data[1300], log[1300], slog[1300], initdb[1100], pgctl[1100], opts[1600];
        snprintf(dir, sizeof(dir), "%s/%s", pg->root, names[i]);
        snprintf(data, sizeof(data), "%s/data", dir);
        snprintf(log, sizeof(log), "%s/commands.log", dir);
        snprintf(slog, sizeof(slog), "%s/server.log", dir);
        snprintf(initdb, sizeof(initdb), "%s/initdb", bin);
        snprintf(pgctl, sizeof(pgctl), "%s/pg_ctl", bin);
        if (mkdir(dir, 0755) != 0)
            return dom_error_set(DOM_ERROR, "cannot create %s: %s", dir, strerror(errno));
        if ((rc = chown_postgres(dir)) < 0)
            return rc;
        const char *ia[] = {initdb,     "-D", data,   "-A",        "trust", "-U",
                            "postgres", "-E", "UTF8", "--no-sync", NULL};
        if ((rc = run(ia, log)) < 0)
            return rc;
        rc = -1;
        for (int attempt = 0; attempt < 10 && rc < 0; attempt++) {
            int port = 20000 + rand() % 30000;
            snprintf(opts, sizeof(opts),
                     "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "
                     "-c synchronous_commit=off",
                     port, dir);
            const char *sa[] = {pgctl, "-D", data, "-l", slog,    "-w",
                                "-t",  "60", "-o", opts, "start", NULL};
            if ((rc = run(sa, log)) == 0) {
                pg->port[i] = port;
                pg->started++;
            }
        }
        if (rc < 0)
            return rc;
    }
    dom_error_clear();
    return 0;
}

void dom_demo_pg_stop(dom_demo_pg *pg)
{
    static const char *const names[DOM_DEMO_PG_SERVERS] = {"beijing", "singapore", "us-east"};
    if (!pg->root[0])
        return;
    for (int i = 0; i < pg->started; i++) {
        char data[1300], log[1300], pgctl[1100];
        snprintf(data, sizeof(data), "%s/%s/data", pg->root, names[i]);
        snprintf(log, sizeof(log), "%s/%s/commands.log", pg->root, names[i]);
        snprintf(pgctl, sizeof(pgctl), "%s/pg_ctl", pg->bin);
        const char *sa[] = {pgctl, "-D", data, "-m", "fast", "-w", "stop", NULL};
        run(sa, log);
    }
    const char *rm[] = {"rm", "-rf", pg->root, NULL};
    /* the folder belongs to postgres when we are root: remove it as root */
    pid_t pid = fork();
    if (pid == 0) {
        execvp("rm", (char *const *)rm);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
    pg->root[0] = '\0';
    pg->started = 0;
}

static int pg_ok(PGconn *c, PGresult *r, ExecStatusType want, const char *what)
{
    if (PQresultStatus(r) == want) {
        PQclear(r);
        return 0;
    }
    int rc =
        dom_error_set(DOM_EREGION, "demo: %s: %s", what,
                      PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(c));
    PQclear(r);
    return rc;
}

/* Appends an SQLite value as a COPY text field. */
static void field(dom_buf *b, sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        dom_buf_put_copy(b, NULL, 0);
        return;
    case SQLITE_INTEGER:
        dom_buf_printf(b, "%lld", (long long)sqlite3_column_int64(st, i));
        return;
    case SQLITE_FLOAT:
        dom_buf_printf(b, "%.17g", sqlite3_column_double(st, i));
        return;
    case SQLITE_BLOB:
        /* bytea's hex form, its backslash escaped for COPY */
        dom_buf_puts(b, "\\\\x");
        dom_buf_put_hex(b, sqlite3_column_blob(st, i), (size_t)sqlite3_column_bytes(st, i));
        return;
    default:
        dom_buf_put_copy(b, (const char *)sqlite3_column_text(st, i),
                         (size_t)sqlite3_column_bytes(st, i));
    }
}

int dom_demo_pg_load(const char *conninfo, const char *sqlite_path)
{
    PGconn *c = PQconnectdb(conninfo);
    int rc = 0;
    if (PQstatus(c) != CONNECTION_OK) {
        rc = dom_error_set(DOM_EREGION, "demo: cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return rc;
    }
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    if ((rc = pg_ok(c, PQexec(c, dom_demo_schema_pg), PGRES_COMMAND_OK,
                    "cannot create the schema")) < 0 ||
        !sqlite_path) {
        PQfinish(c);
        return rc;
    }
    sqlite3 *db;
    if (sqlite3_open_v2(sqlite_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = dom_error_set(DOM_ERROR, "demo: cannot open %s", sqlite_path);
        sqlite3_close(db);
        PQfinish(c);
        return rc;
    }
    dom_buf b = DOM_BUF_INIT;
    for (int t = 0; t < DOM_DEMO_TABLES && rc == 0; t++) {
        const char *name = dom_demo_table_names[t];
        char sql[128];
        sqlite3_stmt *st;
        snprintf(sql, sizeof(sql), "SELECT * FROM %s", name); /* a name of our own */
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
            rc = dom_error_set(DOM_ERROR, "demo: %s", sqlite3_errmsg(db));
            break;
        }
        snprintf(sql, sizeof(sql), "COPY %s FROM STDIN", name);
        if ((rc = pg_ok(c, PQexec(c, sql), PGRES_COPY_IN, "cannot copy")) < 0) {
            sqlite3_finalize(st);
            break;
        }
        int ncol = sqlite3_column_count(st), ok = 1;
        while (ok && sqlite3_step(st) == SQLITE_ROW) {
            for (int i = 0; i < ncol; i++) {
                if (i)
                    dom_buf_putc(&b, '\t');
                field(&b, st, i);
            }
            dom_buf_putc(&b, '\n');
            if (b.len >= (1 << 20)) {
                ok = !b.oom && PQputCopyData(c, b.ptr, (int)b.len) == 1;
                dom_buf_clear(&b);
            }
        }
        if (ok && b.len)
            ok = !b.oom && PQputCopyData(c, b.ptr, (int)b.len) == 1;
        dom_buf_clear(&b);
        sqlite3_finalize(st);
        PQputCopyEnd(c, ok ? NULL : "demo: cannot send rows");
        PGresult *r;
        while ((r = PQgetResult(c)) != NULL)
            if (rc == 0)
                rc = pg_ok(c, r, PGRES_COMMAND_OK, "cannot copy rows");
            else
                PQclear(r);
    }
    dom_buf_free(&b);
    sqlite3_close(db);
    if (rc == 0)
        rc = pg_ok(c, PQexec(c, "ANALYZE"), PGRES_COMMAND_OK, "cannot analyze");
    PQfinish(c);
    return rc;
}
