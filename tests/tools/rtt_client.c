/*
 * rtt_client.c - connects with libpq and prints the median time, in ms, of
 * N round trips (SELECT 1) on one connection.  A test tool.
 *
 *   rtt_client CONNINFO N
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: rtt_client CONNINFO N\n");
        return 1;
    }
    int n = atoi(argv[2]);
    PGconn *c = PQconnectdb(argv[1]);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "rtt_client: %s", PQerrorMessage(c));
        return 1;
    }
    double *ms = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    for (int i = 0; i < n; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        PGresult *r = PQexec(c, "SELECT 1");
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "rtt_client: %s", PQerrorMessage(c));
            return 1;
        }
        PQclear(r);
        ms[i] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    }
    qsort(ms, (size_t)n, sizeof(double), cmp);
    printf("%.3f\n", n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2);
    free(ms);
    PQfinish(c);
    return 0;
}
