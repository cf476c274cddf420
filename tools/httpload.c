/*
 * httpload.c - an HTTP/1.1 load generator for bench/serve_load.sh: C
 * clients, each on one keep-alive connection, send GET requests for the
 * paths of a file (one per line, taken in turn) at R requests per second
 * in all (each client R/C, on a fixed schedule) for S seconds, and time
 * each from its send to the end of its response.
 *
 * Usage: httpload HOST PORT PATHS-FILE CLIENTS RATE SECONDS [HEADER]
 * Prints one line: requests, non-2xx answers, connection errors, the rate
 * achieved, the latency p50, p99 and max in ms, and how late the schedule
 * ran at worst (a client that cannot keep up is late).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct job {
    const char *host;
    int port;
    char **paths;
    size_t npaths, next;
    int id, clients;
    double rate, seconds, t0;
    const char *header;
    double *lat; /* ms, one per request */
    size_t nlat, caplat;
    long non2xx, connerr;
    double late_max;
} job;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, host, &a.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads one response; its status in *status.  -1 when the connection
 * broke. */
static int read_response(int fd, int *status)
{
    char buf[65536];
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end && have >= sizeof(buf) - 1)
            return -1;
    }
    *status = atoi(buf + 9);
    const char *cl = strcasestr(buf, "\r\ncontent-length:");
    long len = cl ? strtol(cl + 17, NULL, 10) : 0;
    long got = (long)(have - (size_t)(end + 4 - buf));
    while (got < len) {
        ssize_t n =
            read(fd, buf, sizeof(buf) < (size_t)(len - got) ? sizeof(buf) : (size_t)(len - got));
        if (n <= 0)
            return -1;
        got += n;
    }
    return 0;
}

static void *client(void *arg)
{
    job *j = arg;
    int fd = connect_to(j->host, j->port);
    double every = j->clients / j->rate;
    /* clients start spread over one interval */
    double next = j->t0 + every * j->id / j->clients;
    size_t k = (size_t)j->id;
    char req[2048];
    while (next < j->t0 + j->seconds) {
        double t = now();
        if (t < next) {
            struct timespec ts = {0, (long)((next - t) * 1e9)};
            nanosleep(&ts, NULL);
        } else if (t - next > j->late_max) {
            j->late_max = t - next;
        }
        if (fd < 0 && (fd = connect_to(j->host, j->port)) < 0) {
            j->connerr++;
            next += every;
            continue;
        }
        const char *path = j->paths[k++ % j->npaths];
        int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n%s%s\r\n", path, j->host,
                         j->header ? j->header : "", j->header ? "\r\n" : "");
        double t1 = now();
        int status = 0;
        if (write(fd, req, (size_t)n) != n || read_response(fd, &status) < 0) {
            j->connerr++;
            close(fd);
            fd = -1;
        } else {
            if (status < 200 || status > 299)
                j->non2xx++;
            if (j->nlat == j->caplat) {
                j->caplat = j->caplat ? j->caplat * 2 : 1024;
                j->lat = realloc(j->lat, j->caplat * sizeof(double));
                if (!j->lat)
                    abort();
            }
            j->lat[j->nlat++] = (now() - t1) * 1000;
        }
        next += every;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: httpload HOST PORT PATHS-FILE CLIENTS RATE SECONDS [HEADER]\n");
        return 2;
    }
    FILE *f = fopen(argv[3], "r");
    if (!f) {
        perror(argv[3]);
        return 2;
    }
    char **paths = NULL, line[1024];
    size_t np = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!*line)
            continue;
        paths = realloc(paths, (np + 1) * sizeof(char *));
        if (!paths || !(paths[np++] = strdup(line)))
            return 2;
    }
    fclose(f);
    int clients = atoi(argv[4]);
    if (!np || clients < 1 || clients > 1000)
        return 2;
    job *jobs = calloc((size_t)clients, sizeof(job));
    pthread_t *th = calloc((size_t)clients, sizeof(pthread_t));
    if (!jobs || !th)
        return 2;
    double t0 = now() + 0.2;
    for (int i = 0; i < clients; i++) {
        jobs[i] = (job){argv[1],
                        atoi(argv[2]),
                        paths,
                        np,
                        0,
                        i,
                        clients,
                        atof(argv[5]),
                        atof(argv[6]),
                        t0,
                        argc > 7 ? argv[7] : NULL,
                        NULL,
                        0,
                        0,
                        0,
                        0,
                        0};
        pthread_create(&th[i], NULL, client, &jobs[i]);
    }
    size_t n = 0;
    long non2xx = 0, connerr = 0;
    double late = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        n += jobs[i].nlat;
        non2xx += jobs[i].non2xx;
        connerr += jobs[i].connerr;
        if (jobs[i].late_max > late)
            late = jobs[i].late_max;
    }
    double *all = malloc((n ? n : 1) * sizeof(double));
    if (!all)
        return 2;
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, jobs[i].lat, jobs[i].nlat * sizeof(double));
        k += jobs[i].nlat;
        free(jobs[i].lat);
    }
    qsort(all, n, sizeof(double), cmp);
    /* nearest rank */
    size_t r50 = n ? (size_t)(0.50 * (double)n + 0.999999) : 1;
    size_t r99 = n ? (size_t)(0.99 * (double)n + 0.999999) : 1;
    printf("requests %zu non2xx %ld connerr %ld rate %.0f p50_ms %.3f p99_ms %.3f max_ms %.3f "
           "late_max_ms %.1f\n",
           n, non2xx, connerr, (double)n / atof(argv[6]), n ? all[r50 - 1] : 0,
           n ? all[r99 - 1] : 0, n ? all[n - 1] : 0, late * 1000);
    free(all);
    for (size_t i = 0; i < np; i++)
        free(paths[i]);
    free(paths);
    free(jobs);
    free(th);
    return non2xx || connerr ? 1 : 0;
}
