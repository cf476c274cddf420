/*
 * delayproxy.c - a TCP proxy that adds a fixed delay in each direction, to
 * stand a client "far away" from a server on this machine.  Each byte is
 * forwarded DELAY_MS after it arrived, in order; bandwidth is not limited.
 *
 *   delayproxy LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS [COUNT_FILE]
 *
 * It listens on 127.0.0.1 only, serves any number of connections (four
 * threads each), and runs until killed.  With COUNT_FILE it counts the
 * round trips its clients made: a client's bytes that follow the server's
 * (or open the connection) start one; "ROUND_TRIPS CONNECTIONS" is
 * rewritten in the file within 50 ms of a change.  A test tool, not part of
 * domicile.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static atomic_long round_trips, connections;

typedef struct chunk {
    struct chunk *next;
    struct timespec due;
    size_t len;
    char data[];
} chunk;

/* One direction: a reader thread queues chunks, a writer thread sends each
 * when it is due. */
typedef struct pipe_dir {
    int from, to;
    long delay_ns;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    chunk *head, *tail;
    int eof;
    int up;           /* client to server */
    atomic_int *turn; /* the connection's direction of the last bytes */
} pipe_dir;

static void add_ns(struct timespec *t, long ns)
{
    t->tv_nsec += ns % 1000000000L;
    t->tv_sec += ns / 1000000000L + t->tv_nsec / 1000000000L;
    t->tv_nsec %= 1000000000L;
}

static void *reader(void *arg)
{
    pipe_dir *d = arg;
    char buf[65536];
    for (;;) {
        ssize_t n = read(d->from, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        chunk *c = NULL;
        if (n > 0 && atomic_exchange(d->turn, d->up) != d->up && d->up)
            atomic_fetch_add(&round_trips, 1);
        if (n > 0) {
            c = malloc(sizeof(chunk) + (size_t)n);
            if (!c)
                n = 0;
        }
        pthread_mutex_lock(&d->mu);
        if (n <= 0) {
            d->eof = 1;
        } else {
            clock_gettime(CLOCK_MONOTONIC, &c->due);
            add_ns(&c->due, d->delay_ns);
            c->len = (size_t)n;
            c->next = NULL;
            memcpy(c->data, buf, (size_t)n);
            if (d->tail)
                d->tail->next = c;
            else
                d->head = c;
            d->tail = c;
        }
        pthread_cond_signal(&d->cv);
        pthread_mutex_unlock(&d->mu);
        if (n <= 0)
            return NULL;
    }
}

static void *writer(void *arg)
{
    pipe_dir *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        while (!d->head && !d->eof)
            pthread_cond_wait(&d->cv, &d->mu);
        chunk *c = d->head;
        if (!c) {
            pthread_mutex_unlock(&d->mu);
            shutdown(d->to, SHUT_WR);
            return NULL;
        }
        d->head = c->next;
        if (!d->head)
            d->tail = NULL;
        pthread_mutex_unlock(&d->mu);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &c->due, NULL) == EINTR)
            ;
        size_t off = 0;
        while (off < c->len) {
            ssize_t w = write(d->to, c->data + off, c->len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                free(c);
                shutdown(d->from, SHUT_RD);
                return NULL;
            }
            off += (size_t)w;
        }
        free(c);
    }
}

typedef struct conn {
    int client, server;
    long delay_ns;
} conn;

static void *serve(void *arg)
{
    conn *cn = arg;
    atomic_int turn = 0;
    pipe_dir up = {
        .from = cn->client, .to = cn->server, .delay_ns = cn->delay_ns, .up = 1, .turn = &turn};
    pipe_dir down = {
        .from = cn->server, .to = cn->client, .delay_ns = cn->delay_ns, .up = 0, .turn = &turn};
    atomic_fetch_add(&connections, 1);
    pthread_t t[4];
    pthread_mutex_init(&up.mu, NULL);
    pthread_mutex_init(&down.mu, NULL);
    pthread_cond_init(&up.cv, NULL);
    pthread_cond_init(&down.cv, NULL);
    pthread_create(&t[0], NULL, reader, &up);
    pthread_create(&t[1], NULL, writer, &up);
    pthread_create(&t[2], NULL, reader, &down);
    pthread_create(&t[3], NULL, writer, &down);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    close(cn->client);
    close(cn->server);
    free(cn);
    return NULL;
}

/* Rewrites the count file when the counts change. */
static void *counter(void *arg)
{
    const char *path = arg;
    char tmp[4096];
    long last_rt = -1, last_nc = -1;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    for (;;) {
        long rt = atomic_load(&round_trips), nc = atomic_load(&connections);
        if (rt != last_rt || nc != last_nc) {
            FILE *f = fopen(tmp, "w");
            if (f && fprintf(f, "%ld %ld\n", rt, nc) > 0 && fclose(f) == 0)
                rename(tmp, path);
            else if (f)
                fclose(f);
            last_rt = rt;
            last_nc = nc;
        }
        struct timespec t = {0, 50000000L};
        nanosleep(&t, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr,
                "usage: delayproxy LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS [COUNT_FILE]\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    long delay_ns = (long)(atof(argv[4]) * 1e6);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *target;
    if (getaddrinfo(argv[2], argv[3], &hints, &target) != 0) {
        fprintf(stderr, "delayproxy: cannot resolve %s:%s\n", argv[2], argv[3]);
        return 1;
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 64) != 0) {
        fprintf(stderr, "delayproxy: cannot listen on 127.0.0.1:%s: %s\n", argv[1],
                strerror(errno));
        if (ls >= 0)
            close(ls);
        freeaddrinfo(target);
        return 1;
    }
    pthread_t ct;
    if (argc == 6 && pthread_create(&ct, NULL, counter, argv[5]) != 0) {
        fprintf(stderr, "delayproxy: cannot start the counter\n");
        return 1;
    }
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            continue;
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, target->ai_addr, target->ai_addrlen) != 0) {
            close(c);
            close(s);
            continue;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn *cn = malloc(sizeof(*cn));
        if (!cn) {
            close(c);
            close(s);
            continue;
        }
        cn->client = c;
        cn->server = s;
        cn->delay_ns = delay_ns;
        pthread_t t;
        if (pthread_create(&t, NULL, serve, cn) == 0)
            pthread_detach(t);
    }
}
