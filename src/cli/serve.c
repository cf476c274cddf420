/*
 * serve.c - `domicile serve`: the directory API for applications, the
 * catalog's state as JSON and Prometheus metrics, the live dashboard and
 * the live control of movers, over HTTP (libmicrohttpd).  One process
 * beside any number of movers; it reads the catalog and writes only the
 * control keys (pause, resume, throttle).  docs/serve.md has the API.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/serve.h"
#include "core/control.h"
#include "core/geo.h"
#include "core/policy.h"

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_PORT 8470
#define MAX_BODY     4096 /* a control request's JSON */
#define MAX_KEY      256  /* a tenant key in a URL */
#define CONN_LIMIT   512
#define CONN_TIMEOUT 15          /* seconds a connection may stay idle or slow */
#define CONN_MEMORY  (32 * 1024) /* per connection: the request line and headers */
#define POOL_THREADS 4

typedef struct serve_ctx {
    const dom_config *cfg;
    serve_dir *dir;
    unsigned char token[32]; /* SHA-256 of the token */
    int has_token;
    pthread_mutex_t cat_mu; /* the catalog connection below */
    dom_catalog *cat;
    int64_t requests, errors;
} serve_ctx;

typedef struct req {
    dom_buf body;
    int too_big;
} req;

/* ---- responses ---------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
                                 const char *text, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"domicile\"");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends `doc` (taken) as the response. */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (!text)
        return send_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json",
                         "{\"ok\":false,\"error\":{\"code\":\"internal\",\"message\":\"out of "
                         "memory\"}}",
                         strlen("{\"ok\":false,\"error\":{\"code\":\"internal\",\"message\":\"out "
                                "of memory\"}}"));
    enum MHD_Result ret = send_text(c, status, "application/json", text, strlen(text));
    free(text);
    return ret;
}

static enum MHD_Result send_error(serve_ctx *s, struct MHD_Connection *c, unsigned status,
                                  const char *code, const char *message)
{
    __atomic_add_fetch(&s->errors, 1, __ATOMIC_RELAXED);
    return send_json(
        c, status,
        json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code", code, "message", message));
}

/* A failure of the library as a response: the catalog unreachable is 503
 * (try again), a missing thing 404, anything else 500. */
static enum MHD_Result send_failure(serve_ctx *s, struct MHD_Connection *c, int rc)
{
    unsigned status = rc == DOM_ENOTFOUND                    ? MHD_HTTP_NOT_FOUND
                      : rc == DOM_EREGION || rc == DOM_EBUSY ? MHD_HTTP_SERVICE_UNAVAILABLE
                                                             : MHD_HTTP_INTERNAL_SERVER_ERROR;
    return send_error(s, c, status,
                      status == MHD_HTTP_NOT_FOUND             ? "not_found"
                      : status == MHD_HTTP_SERVICE_UNAVAILABLE ? "unavailable"
                                                               : "internal",
                      dom_error_last());
}

static void iso_time(double t, char out[40])
{
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    char day[24];
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%03dZ", day, (int)((t - (double)s) * 1000) % 1000);
}

/* ---- the token ------------------------------------------------------------------- */

/* Whether the request carries the token: "Authorization: Bearer <token>",
 * compared as SHA-256 digests in constant time (the token's length is not
 * told either). */
static int authorized(const serve_ctx *s, struct MHD_Connection *c)
{
    if (!s->has_token)
        return 0;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    unsigned char d[32];
    dom_sha256(h + 7, strlen(h + 7), d);
    return CRYPTO_memcmp(d, s->token, 32) == 0;
}

/* ---- the catalog, one request at a time ------------------------------------------ */

static int cat_begin(serve_ctx *s)
{
    pthread_mutex_lock(&s->cat_mu);
    int rc = s->cat ? 0 : dom_catalog_open(&s->cat, s->cfg, DOM_CATALOG_READONLY);
    if (rc < 0)
        pthread_mutex_unlock(&s->cat_mu);
    return rc;
}

/* After a failure the connection may be broken: the next request opens
 * the catalog again. */
static void cat_end(serve_ctx *s, int rc)
{
    if (rc == DOM_EREGION) {
        dom_catalog_close(s->cat);
        s->cat = NULL;
    }
    pthread_mutex_unlock(&s->cat_mu);
}

/* ---- the endpoints ---------------------------------------------------------------- */

static int valid_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > MAX_KEY)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f)
            return 0;
    return 1;
}

static enum MHD_Result get_locate(serve_ctx *s, struct MHD_Connection *c, const char *key)
{
    if (!valid_key(key))
        return send_error(s, c, MHD_HTTP_BAD_REQUEST, "bad_request",
                          "a tenant key is 1 to 256 characters without control characters");
    serve_location loc;
    char at[40];
    int found = serve_dir_locate(s->dir, key, &loc);
    iso_time(loc.as_of, at);
    if (!found) {
        char msg[MAX_KEY + 64];
        snprintf(msg, sizeof(msg), "tenant %s is not in the directory", key);
        return send_error(s, c, MHD_HTTP_NOT_FOUND, "not_found", msg);
    }
    return send_json(c, MHD_HTTP_OK,
                     json_pack("{s:b,s:s,s:s,s:I,s:s,s:s,s:f}", "ok", 1, "tenant", key, "region",
                               loc.region, "epoch", (json_int_t)loc.epoch, "state",
                               loc.moving ? "moving" : "home", "as_of", at, "age_ms",
                               loc.age_sec * 1000));
}

static enum MHD_Result get_place(serve_ctx *s, struct MHD_Connection *c)
{
    const char *country = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "country");
    char cc[3] = {0};
    if (country && strlen(country) == 2) {
        cc[0] = (char)toupper((unsigned char)country[0]);
        cc[1] = (char)toupper((unsigned char)country[1]);
    }
    if (!dom_country_find(cc))
        return send_error(s, c, MHD_HTTP_BAD_REQUEST, "bad_request",
                          "country must be an ISO 3166-1 alpha-2 code (?country=SG)");
    int home = dom_policy_home(s->cfg, cc);
    if (home < 0)
        return send_error(s, c, MHD_HTTP_NOT_FOUND, "not_found",
                          "no policy rule covers this country");
    return send_json(
        c, MHD_HTTP_OK,
        json_pack("{s:b,s:s,s:s}", "ok", 1, "country", cc, "region", s->cfg->regions[home].name));
}

static enum MHD_Result get_status(serve_ctx *s, struct MHD_Connection *c)
{
    int rc = cat_begin(s);
    if (rc < 0)
        return send_failure(s, c, rc);
    dom_control ctl;
    json_t *doc = cli_status_doc(s->cat, s->cfg, &ctl, &rc);
    cat_end(s, rc);
    if (!doc)
        return send_failure(s, c, rc < 0 ? rc : DOM_ENOMEM);
    serve_dir_stats ds;
    serve_dir_info(s->dir, &ds);
    char at[40];
    iso_time(ds.as_of, at);
    json_object_set_new(doc, "directory",
                        json_pack("{s:I,s:s,s:f,s:f}", "tenants", (json_int_t)ds.tenants, "as_of",
                                  at, "age_ms", ds.age_sec * 1000, "refresh_ms",
                                  ds.refresh_sec * 1000));
    return send_json(c, MHD_HTTP_OK, doc);
}

typedef struct pause_list {
    double *v;
    size_t n, cap;
} pause_list;

static int pause_add(double ms, void *payload)
{
    pause_list *l = payload;
    if (dom_grow(&l->v, &l->cap, l->n + 1, sizeof(double), 256) < 0)
        return DOM_ENOMEM;
    l->v[l->n++] = ms;
    return 0;
}

/* The value at fraction q of sorted v (nearest rank). */
static json_t *quantile(const pause_list *l, double q)
{
    if (!l->n)
        return json_null();
    size_t i = (size_t)(q * (double)l->n + 0.999999);
    return json_real(l->v[i ? (i > l->n ? l->n : i) - 1 : 0]);
}

/* What the dashboard shows: the status, the write pauses' p50 and p99,
 * the last audit's summary and the per-market round trips. */
static enum MHD_Result get_dashboard(serve_ctx *s, struct MHD_Connection *c)
{
    int rc = cat_begin(s);
    if (rc < 0)
        return send_failure(s, c, rc);
    dom_control ctl;
    pause_list pl = {0};
    json_t *status = cli_status_doc(s->cat, s->cfg, &ctl, &rc), *audit = NULL, *lat = NULL;
    if (status && (rc = dom_catalog_pauses(s->cat, pause_add, &pl)) == 0)
        audit = cli_meta_json(s->cat, "audit", &rc);
    if (status && rc == 0)
        lat = cli_meta_json(s->cat, "latency", &rc);
    cat_end(s, rc);
    if (!status || rc < 0) {
        json_decref(status);
        json_decref(audit);
        dom_free(pl.v);
        return send_failure(s, c, rc < 0 ? rc : DOM_ENOMEM);
    }
    json_t *doc =
        json_pack("{s:b,s:o,s:{s:I,s:o,s:o},s:o,s:o}", "ok", 1, "status", status, "pauses", "count",
                  (json_int_t)pl.n, "p50_ms", quantile(&pl, 0.5), "p99_ms", quantile(&pl, 0.99),
                  "audit", audit ? audit : json_null(), "latency", lat ? lat : json_null());
    dom_free(pl.v);
    return send_json(c, MHD_HTTP_OK, doc);
}

static enum MHD_Result get_audit(serve_ctx *s, struct MHD_Connection *c)
{
    int rc = cat_begin(s);
    if (rc < 0)
        return send_failure(s, c, rc);
    json_t *audit = cli_meta_json(s->cat, "audit", &rc);
    cat_end(s, rc);
    if (rc < 0)
        return send_failure(s, c, rc);
    if (!audit)
        return send_error(s, c, MHD_HTTP_NOT_FOUND, "not_found",
                          "no audit has run yet ('domicile audit' records its summary)");
    return send_json(c, MHD_HTTP_OK, json_pack("{s:b,s:o}", "ok", 1, "audit", audit));
}

/* The rate of a throttle request: the body's {"rows_per_second": N}, or
 * ?rows_per_second=N; a negative rate goes back to the config's. */
static int throttle_rate(struct MHD_Connection *c, const req *r, double *rate)
{
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "rows_per_second");
    if (q) {
        char *end;
        errno = 0;
        *rate = strtod(q, &end);
        return *end == '\0' && end != q && errno == 0 && *rate < 1e12;
    }
    json_t *doc = r->body.len ? json_loadb(r->body.ptr, r->body.len, 0, NULL) : NULL;
    json_t *v = json_object_get(doc, "rows_per_second");
    int ok = json_is_number(v) && json_number_value(v) < 1e12;
    if (ok)
        *rate = json_number_value(v);
    json_decref(doc);
    return ok;
}

static enum MHD_Result post_control(serve_ctx *s, struct MHD_Connection *c, const char *what,
                                    const req *r)
{
    double rate = 0;
    if (strcmp(what, "throttle") == 0 && !throttle_rate(c, r, &rate))
        return send_error(s, c, MHD_HTTP_BAD_REQUEST, "bad_request",
                          "throttle takes {\"rows_per_second\": N} (N < 0: the config's rate)");
    int rc = cat_begin(s);
    if (rc < 0)
        return send_failure(s, c, rc);
    dom_control st;
    if (strcmp(what, "throttle") == 0)
        rc = dom_control_set_rate(s->cat, rate);
    else
        rc = dom_control_set_paused(s->cat, strcmp(what, "pause") == 0);
    if (rc == 0)
        rc = dom_control_read(s->cat, s->cfg, &st);
    cat_end(s, rc);
    if (rc < 0)
        return send_failure(s, c, rc);
    return send_json(c, MHD_HTTP_OK,
                     json_pack("{s:b,s:s,s:b,s:f,s:s}", "ok", 1, "command", what, "paused",
                               st.paused, "rows_per_second", st.rate, "rate_from",
                               st.rate_live ? "throttle" : "config"));
}

static enum MHD_Result get_metrics(serve_ctx *s, struct MHD_Connection *c)
{
    dom_buf b = DOM_BUF_INIT;
    int rc = cat_begin(s);
    if (rc == 0) {
        rc = serve_metrics(s->cat, s->cfg, s->dir, &b);
        cat_end(s, rc);
    }
    if (rc == 0)
        dom_buf_printf(&b,
                       "# HELP domicile_http_requests_total Requests this server answered.\n"
                       "# TYPE domicile_http_requests_total counter\n"
                       "domicile_http_requests_total %lld\n"
                       "# HELP domicile_http_errors_total Requests answered with an error.\n"
                       "# TYPE domicile_http_errors_total counter\n"
                       "domicile_http_errors_total %lld\n",
                       (long long)__atomic_load_n(&s->requests, __ATOMIC_RELAXED),
                       (long long)__atomic_load_n(&s->errors, __ATOMIC_RELAXED));
    if (rc == 0 && b.oom)
        rc = DOM_ENOMEM;
    enum MHD_Result ret =
        rc < 0 ? send_failure(s, c, rc)
               : send_text(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                           dom_buf_cstr(&b), b.len);
    dom_buf_free(&b);
    return ret;
}

/* ---- routing ---------------------------------------------------------------------- */

typedef enum {
    R_PAGE,
    R_LOCATE,
    R_PLACE,
    R_STATUS,
    R_DASHBOARD,
    R_AUDIT,
    R_CONTROL,
    R_METRICS
} route_kind;

typedef struct route {
    const char *path; /* a prefix when it ends with '/' */
    const char *method;
    route_kind kind;
    int needs_token; /* 2: always (control); 1: when one is configured */
} route;

static const route routes[] = {
    {"/", "GET", R_PAGE, 0},
    {"/v1/locate/", "GET", R_LOCATE, 1},
    {"/v1/place", "GET", R_PLACE, 1},
    {"/v1/status", "GET", R_STATUS, 1},
    {"/v1/dashboard", "GET", R_DASHBOARD, 1},
    {"/v1/audit", "GET", R_AUDIT, 1},
    {"/metrics", "GET", R_METRICS, 1},
    {"/v1/pause", "POST", R_CONTROL, 2},
    {"/v1/resume", "POST", R_CONTROL, 2},
    {"/v1/throttle", "POST", R_CONTROL, 2},
};

static const route *find_route(const char *url, int *method_ok, const char *method)
{
    for (size_t i = 0; i < DOM_ARRAY_LEN(routes); i++) {
        const route *r = &routes[i];
        size_t n = strlen(r->path);
        int prefix = n > 1 && r->path[n - 1] == '/';
        if (prefix ? strncmp(url, r->path, n) == 0 : strcmp(url, r->path) == 0) {
            *method_ok = strcmp(method, r->method) == 0 ||
                         (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
            return r;
        }
    }
    return NULL;
}

static enum MHD_Result dispatch(serve_ctx *s, struct MHD_Connection *c, const char *url,
                                const char *method, const req *r)
{
    int method_ok = 0;
    const route *rt = find_route(url, &method_ok, method);
    if (!rt)
        return send_error(s, c, MHD_HTTP_NOT_FOUND, "not_found", "no such path (docs/serve.md)");
    if (!method_ok)
        return send_error(s, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                          strcmp(rt->method, "POST") == 0 ? "use POST" : "use GET");
    if (r->too_big)
        return send_error(s, c, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
                          "a request body is at most 4096 bytes");
    if ((rt->needs_token == 2 || (rt->needs_token == 1 && s->has_token)) && !authorized(s, c))
        return send_error(s, c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                          rt->needs_token == 2 && !s->has_token
                              ? "control needs the server started with --token-file"
                              : "missing or wrong bearer token");
    switch (rt->kind) {
    case R_PAGE:
        return send_text(c, MHD_HTTP_OK, "text/html; charset=utf-8", serve_dashboard_html,
                         strlen(serve_dashboard_html));
    case R_LOCATE:
        return get_locate(s, c, url + strlen(rt->path));
    case R_PLACE:
        return get_place(s, c);
    case R_STATUS:
        return get_status(s, c);
    case R_DASHBOARD:
        return get_dashboard(s, c);
    case R_AUDIT:
        return get_audit(s, c);
    case R_CONTROL:
        return post_control(s, c, url + strlen("/v1/"), r);
    case R_METRICS:
        return get_metrics(s, c);
    }
    return send_error(s, c, MHD_HTTP_NOT_FOUND, "not_found", "no such path");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **req_cls)
{
    (void)version;
    serve_ctx *s = cls;
    req *r = *req_cls;
    if (!r) {
        if (!(r = dom_calloc(1, sizeof(*r))))
            return MHD_NO;
        r->body = (dom_buf)DOM_BUF_INIT;
        *req_cls = r;
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->body.len + *upload_size > MAX_BODY)
            r->too_big = 1;
        else
            dom_buf_put(&r->body, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    __atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
    return dispatch(s, c, url, method, r);
}

static void on_done(void *cls, struct MHD_Connection *c, void **req_cls,
                    enum MHD_RequestTerminationCode why)
{
    (void)cls, (void)c, (void)why;
    req *r = *req_cls;
    if (r) {
        dom_buf_free(&r->body);
        dom_free(r);
        *req_cls = NULL;
    }
}

/* ---- the command ------------------------------------------------------------------- */

/* ADDR:PORT, [ADDR6]:PORT, or :PORT; *loopback whether only this machine
 * reaches it. */
static int parse_listen(const char *text, struct sockaddr_storage *ss, int *loopback)
{
    char host[128];
    const char *colon = strrchr(text, ':');
    if (!colon || colon - text >= (long)sizeof(host))
        return 0;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 1 || port > 65535)
        return 0;
    memset(ss, 0, sizeof(*ss));
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
            return 0;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        return 1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    if (!*host)
        a->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        return 0;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    return 1;
}

static int read_token(const char *path, unsigned char digest[32])
{
    FILE *f = fopen(path, "r");
    if (!f)
        return dom_error_set(DOM_EUSAGE, "serve: cannot read the token file %s: %s", path,
                             strerror(errno));
    char buf[512];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    int big = !feof(f);
    fclose(f);
    buf[n] = '\0';
    while (n && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    if (big || n < 16)
        return dom_error_set(
            DOM_EUSAGE, "serve: the token in %s must be 16 to 510 characters on one line", path);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] <= 0x20 || buf[i] == 0x7f)
            return dom_error_set(DOM_EUSAGE,
                                 "serve: the token in %s holds a space or a control "
                                 "character",
                                 path);
    dom_sha256(buf, n, digest);
    memset(buf, 0, sizeof(buf));
    return 0;
}

/* A PEM file's text (NUL-ended), or NULL with the reason. */
static char *read_pem(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        dom_error_set(DOM_EUSAGE, "serve: cannot read the TLS %s %s: %s", what, path,
                      strerror(errno));
        return NULL;
    }
    dom_buf b = DOM_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < (1 << 20))
        dom_buf_put(&b, chunk, n);
    fclose(f);
    if (b.oom || !b.len || !strstr(dom_buf_cstr(&b), "-----BEGIN ")) {
        dom_buf_free(&b);
        dom_error_set(DOM_EUSAGE, "serve: the TLS %s %s is not a PEM file", what, path);
        return NULL;
    }
    char *text = dom_strdup(dom_buf_cstr(&b));
    dom_buf_free(&b);
    return text;
}

/* The daemon: a pool of threads, bounded connections (count, idle time,
 * memory for the request line and headers); TLS (libmicrohttpd's is
 * GnuTLS) with a certificate and key. */
static struct MHD_Daemon *start_daemon(serve_ctx *s, const struct sockaddr_storage *ss,
                                       const char *cert, const char *key)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss->ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem tls[] = {{MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert},
                                   {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key},
                                   {MHD_OPTION_END, 0, NULL}};
    if (cert)
        flags |= MHD_USE_TLS;
    else
        tls[0].option = MHD_OPTION_END;
    return MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, ss, MHD_OPTION_ARRAY, tls,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)POOL_THREADS, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
        on_done, s, MHD_OPTION_END);
}

/* Opens the catalog, reads the directory, serves until SIGTERM or SIGINT. */
static int serve_run(serve_ctx *s, const char *listen, const struct sockaddr_storage *ss,
                     const char *cert, const char *key, int refresh_ms)
{
    int rc = dom_catalog_open(&s->cat, s->cfg, DOM_CATALOG_READONLY);
    if (rc == DOM_ENOTFOUND)
        return dom_error_set(DOM_ENOTFOUND, "serve: no catalog yet; run 'domicile prepare' first");
    if (rc < 0)
        return rc;
    if ((rc = serve_dir_start(&s->dir, s->cfg, s->cat, refresh_ms / 1000.0)) < 0) {
        dom_catalog_close(s->cat);
        return rc;
    }
    /* SIGINT and SIGTERM are taken by sigwait below, in every thread */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    errno = 0;
    struct MHD_Daemon *d = start_daemon(s, ss, cert, key);
    if (!d) {
        rc = dom_error_set(DOM_EUSAGE, "serve: cannot listen on %s: %s", listen,
                           errno ? strerror(errno) : "libmicrohttpd refused (see above)");
    } else {
        fprintf(stderr, "domicile: serving on %s://%s/ (directory refreshed every %d ms%s)\n",
                cert ? "https" : "http", listen, refresh_ms,
                s->has_token ? ", bearer token required" : "");
        int sig = 0;
        sigwait(&set, &sig);
        fprintf(stderr, "domicile: %s: stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        MHD_stop_daemon(d);
    }
    serve_dir_stop(s->dir);
    dom_catalog_close(s->cat);
    return rc;
}

int cmd_serve(cli *c)
{
    const char *listen = DEFAULT_ADDR ":8470", *token_file = NULL, *cert_file = NULL,
               *key_file = NULL;
    int refresh_ms = 1000;
    const cli_opt opts[] = {{"listen", CLI_STR, &listen, 0, 0},
                            {"token-file", CLI_STR, &token_file, 0, 0},
                            {"refresh-ms", CLI_INT, &refresh_ms, 50, 3600000},
                            {"tls-cert", CLI_STR, &cert_file, 0, 0},
                            {"tls-key", CLI_STR, &key_file, 0, 0},
                            {0}};
    int npos, rc = cli_parse(c, opts, NULL, &npos, 0);
    if (rc)
        return rc;
    struct sockaddr_storage ss;
    int loopback = 0;
    if (!parse_listen(listen, &ss, &loopback))
        return cli_usage_error("serve", "--listen takes ADDR:PORT, [ADDR6]:PORT or :PORT, not %s",
                               listen);
    if (!loopback && !token_file)
        return cli_usage_error("serve",
                               "listening on %s (not this machine only) needs "
                               "--token-file",
                               listen);
    if (!cert_file != !key_file)
        return cli_usage_error("serve", "--tls-cert and --tls-key go together");
    serve_ctx s = {0};
    if (token_file && (rc = read_token(token_file, s.token)) < 0)
        return cli_fail(rc);
    s.has_token = token_file != NULL;
    dom_config *cfg;
    if ((rc = cli_load_config(c, &cfg)))
        return rc;
    s.cfg = cfg;
    pthread_mutex_init(&s.cat_mu, NULL);
    char *cert = cert_file ? read_pem(cert_file, "certificate") : NULL;
    char *key = cert && key_file ? read_pem(key_file, "key") : NULL;
    if (cert_file && (!cert || !key))
        rc = DOM_EUSAGE;
    else
        rc = serve_run(&s, listen, &ss, cert, key, refresh_ms);
    if (rc == 0 && c->json)
        cli_json_print(json_pack("{s:b,s:s,s:I,s:I}", "ok", 1, "listen", listen, "requests",
                                 (json_int_t)s.requests, "errors", (json_int_t)s.errors));
    pthread_mutex_destroy(&s.cat_mu);
    dom_config_free(cfg);
    if (key)
        memset(key, 0, strlen(key));
    dom_free(key);
    dom_free(cert);
    return rc < 0 ? cli_fail(rc) : EXIT_OK;
}
