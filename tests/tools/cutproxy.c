/*
 * cutproxy.c - a TCP proxy that cuts one connection at a chosen point, to
 * stand a database connection that breaks in the middle of a protocol step.
 * A test tool.
 *
 *   cutproxy PORTFILE TARGET_PORT CUT
 *
 * Listens on a free port of 127.0.0.1 (written to PORTFILE once it
 * listens) and forwards every connection to 127.0.0.1:TARGET_PORT.  Every
 * read of either side of any connection is one chunk; the CUT-th chunk is
 * not forwarded: its connection is shut down both ways instead, so the
 * client sees the server go away in the middle of whatever it was doing
 * and the server sees its client go away (its transaction aborts).
 * Everything before and after passes untouched; CUT 0 never cuts.  On
 * SIGTERM or SIGINT it prints the number of chunks it has seen and "cut"
 * or "uncut" (whether the CUT-th chunk came, so a test knows its fault
 * was reached), and exits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_long chunks;
static atomic_int did_cut;
static long cut_at;

typedef struct conn {
    int client, server;
    atomic_int cut;
} conn;

typedef struct dir {
    conn *cn;
    int from, to;
} dir;

/* Shuts both sockets of cn down, resetting them where the kernel can. */
static void cut(conn *cn)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    atomic_store(&cn->cut, 1);
    atomic_store(&did_cut, 1);
    setsockopt(cn->client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    setsockopt(cn->server, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    shutdown(cn->client, SHUT_RDWR);
    shutdown(cn->server, SHUT_RDWR);
}

static void *forward(void *arg)
{
    dir *d = arg;
    char buf[65536];
    for (;;) {
        ssize_t n = read(d->from, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || atomic_load(&d->cn->cut))
            break;
        if (atomic_fetch_add(&chunks, 1) + 1 == cut_at) {
            cut(d->cn);
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(d->to, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                goto out;
            off += w;
        }
    }
out:
    shutdown(d->to, SHUT_WR);
    return NULL;
}

static void *serve(void *arg)
{
    conn *cn = arg;
    dir up = {cn, cn->client, cn->server}, down = {cn, cn->server, cn->client};
    pthread_t t;
    if (pthread_create(&t, NULL, forward, &up) == 0) {
        forward(&down);
        pthread_join(t, NULL);
    }
    close(cn->client);
    close(cn->server);
    free(cn);
    return NULL;
}

static void on_stop(int sig)
{
    (void)sig;
    char num[48], *p = num + sizeof(num);
    long v = atomic_load(&chunks);
    const char *tail = atomic_load(&did_cut) ? " cut\n" : " uncut\n";
    p -= strlen(tail);
    memcpy(p, tail, strlen(tail));
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    ssize_t w = write(STDOUT_FILENO, p, (size_t)(num + sizeof(num) - p));
    (void)w;
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: cutproxy PORTFILE TARGET_PORT CUT\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    cut_at = atol(argv[3]);
    struct sockaddr_in target = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 64) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &alen) != 0) {
        fprintf(stderr, "cutproxy: cannot listen on 127.0.0.1: %s\n", strerror(errno));
        return 1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", ntohs(a.sin_port)) < 0 || fclose(f) != 0 ||
        rename(tmp, argv[1]) != 0) {
        fprintf(stderr, "cutproxy: cannot write %s\n", argv[1]);
        return 1;
    }
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            continue;
        int s = socket(AF_INET, SOCK_STREAM, 0);
        conn *cn = s < 0 ? NULL : malloc(sizeof(*cn));
        if (!cn || connect(s, (struct sockaddr *)&target, sizeof(target)) != 0) {
            close(c);
            if (s >= 0)
                close(s);
            free(cn);
            continue;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        cn->client = c;
        cn->server = s;
        atomic_init(&cn->cut, 0);
        pthread_t t;
        if (pthread_create(&t, NULL, serve, cn) == 0) {
            pthread_detach(t);
        } else {
            close(c);
            close(s);
            free(cn);
        }
    }
}
