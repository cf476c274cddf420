/*
 * verify.c - compares the rows of tenants between two regions.  Both sides
 * are read as streams ordered by tenant key and primary key and merged, so
 * memory does not grow with the tenants' size.
 */
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "core/verify.h"

static int class_of(const dom_value *v)
{
    switch (v->type) {
    case DOM_V_NULL:
        return 0;
    case DOM_V_INT:
    case DOM_V_REAL:
        return 1;
    case DOM_V_TEXT:
        return 2;
    default:
        return 3;
    }
}

static int cmp_bytes(const dom_value *a, const dom_value *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    int c = n ? memcmp(a->p, b->p, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return (a->n > b->n) - (a->n < b->n);
}

int dom_value_cmp(const dom_value *a, const dom_value *b)
{
    int ca = class_of(a), cb = class_of(b);
    if (ca != cb)
        return ca < cb ? -1 : 1;
    switch (ca) {
    case 0:
        return 0;
    case 1:
        if (a->type == DOM_V_INT && b->type == DOM_V_INT)
            return (a->i > b->i) - (a->i < b->i);
        else {
            double x = a->type == DOM_V_INT ? (double)a->i : a->r;
            double y = b->type == DOM_V_INT ? (double)b->i : b->r;
            return (x > y) - (x < y);
        }
    default:
        return cmp_bytes(a, b);
    }
}

int dom_value_eq(const dom_value *a, const dom_value *b)
{
    return dom_value_cmp(a, b) == 0;
}

static json_t *value_json(const dom_value *v)
{
    switch (v->type) {
    case DOM_V_NULL:
        return json_null();
    case DOM_V_INT:
        return json_integer(v->i);
    case DOM_V_REAL:
        return json_real(v->r);
    case DOM_V_TEXT:
        return json_stringn(v->p, v->n);
    default: {
        char *hex = dom_malloc(2 * v->n + 1);
        if (!hex)
            return NULL;
        dom_hex((const unsigned char *)v->p, v->n, hex);
        json_t *o = json_pack("{s:s}", "$b", hex);
        dom_free(hex);
        return o;
    }
    }
}

char *dom_pk_json(const dom_move_table *t, const dom_value *row)
{
    json_t *a = json_array();
    int n = t->npk ? t->npk : (int)t->info->ncols;
    for (int i = 0; i < n; i++)
        json_array_append_new(a, value_json(&row[t->npk ? t->pk[i] : i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    char *out = s ? dom_strdup(s) : NULL;
    free(s);
    return out;
}

int dom_pk_parse(const char *text, dom_value *out, int n, dom_buf *store)
{
    json_error_t err;
    json_t *a = json_loads(text, JSON_DECODE_ANY, &err);
    if (!a || !json_is_array(a) || (int)json_array_size(a) != n) {
        json_decref(a);
        return dom_error_set(DOM_ERROR, "malformed primary key in the change log: %s", text);
    }
    /* first copy every text and blob into the store, then point into it */
    size_t offs[64];
    if (n > 64) {
        json_decref(a);
        return dom_error_set(DOM_ERROR, "primary key too wide");
    }
    dom_buf_clear(store);
    for (int i = 0; i < n; i++) {
        json_t *v = json_array_get(a, (size_t)i);
        dom_value *o = &out[i];
        memset(o, 0, sizeof(*o));
        offs[i] = store->len;
        if (json_is_null(v)) {
            o->type = DOM_V_NULL;
        } else if (json_is_integer(v)) {
            o->type = DOM_V_INT;
            o->i = json_integer_value(v);
        } else if (json_is_real(v)) {
            o->type = DOM_V_REAL;
            o->r = json_real_value(v);
        } else if (json_is_string(v)) {
            o->type = DOM_V_TEXT;
            o->n = json_string_length(v);
            dom_buf_put(store, json_string_value(v), o->n);
        } else if (json_is_object(v) && json_is_string(json_object_get(v, "$b"))) {
            const char *h = json_string_value(json_object_get(v, "$b"));
            size_t hl = strlen(h);
            o->type = DOM_V_BLOB;
            o->n = hl / 2;
            dom_buf_put_unhex(store, h, hl);
        } else {
            json_decref(a);
            return dom_error_set(DOM_ERROR, "malformed primary key in the change log: %s", text);
        }
    }
    json_decref(a);
    if (store->oom)
        return DOM_ENOMEM;
    for (int i = 0; i < n; i++)
        if (out[i].type == DOM_V_TEXT || out[i].type == DOM_V_BLOB)
            out[i].p = dom_buf_cstr(store) + offs[i];
    return n;
}

void dom_row_encode(dom_buf *b, const dom_value *row, size_t n)
{
    char num[40];
    for (size_t i = 0; i < n; i++) {
        const dom_value *v = &row[i];
        switch (v->type) {
        case DOM_V_NULL:
            dom_buf_puts(b, "N;");
            break;
        case DOM_V_INT:
            dom_buf_putc(b, 'I');
            dom_buf_put_int(b, (long long)v->i);
            dom_buf_putc(b, ';');
            break;
        case DOM_V_REAL:
            if (v->r == floor(v->r) && fabs(v->r) < 9e15) { /* integral reals encode as integers */
                dom_buf_putc(b, 'I');
                dom_buf_put_int(b, (long long)v->r);
                dom_buf_putc(b, ';');
            } else {
                int len = snprintf(num, sizeof(num), "R%.17g;", v->r);
                dom_buf_put(b, num, (size_t)len);
            }
            break;
        case DOM_V_TEXT:
        case DOM_V_BLOB:
            dom_buf_putc(b, v->type == DOM_V_TEXT ? 'T' : 'B');
            dom_buf_put_int(b, (long long)v->n);
            dom_buf_putc(b, ':');
            dom_buf_put(b, v->p, v->n);
            break;
        }
    }
    dom_buf_putc(b, '\n');
}

/* Compares the ordering keys (tenant key, then primary key or all columns). */
static int order_cmp(const dom_move_table *t, const dom_value *a, const dom_value *b)
{
    int c = t->key_col >= 0 ? dom_value_cmp(&a[t->key_col], &b[t->key_col]) : 0;
    if (c)
        return c;
    int n = t->npk ? t->npk : (int)t->info->ncols;
    for (int i = 0; i < n; i++) {
        int col = t->npk ? t->pk[i] : i;
        if ((c = dom_value_cmp(&a[col], &b[col])) != 0)
            return c;
    }
    return 0;
}

static int rows_equal(const dom_value *a, const dom_value *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].type != b[i].type && !(class_of(&a[i]) == 1 && class_of(&b[i]) == 1))
            return 0;
        else if (!dom_value_eq(&a[i], &b[i]))
            return 0;
    return 1;
}

/* Copies a row so that it survives the cursor's next step. */
typedef struct saved_row {
    dom_value *v;
    dom_buf data;
    size_t n;
    int have;
} saved_row;

static int save(saved_row *s, const dom_value *row, size_t n)
{
    size_t offs[512];
    if (n > 512)
        return dom_error_set(DOM_ERROR, "too many columns");
    if (!s->v && !(s->v = dom_calloc(n, sizeof(dom_value))))
        return DOM_ENOMEM;
    s->n = n;
    dom_buf_clear(&s->data);
    for (size_t i = 0; i < n; i++) {
        s->v[i] = row[i];
        offs[i] = s->data.len;
        if (row[i].type == DOM_V_TEXT || row[i].type == DOM_V_BLOB)
            dom_buf_put(&s->data, row[i].p, row[i].n);
    }
    if (s->data.oom)
        return DOM_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (row[i].type == DOM_V_TEXT || row[i].type == DOM_V_BLOB)
            s->v[i].p = dom_buf_cstr(&s->data) + offs[i];
    s->have = 1;
    return 0;
}

static int report(const dom_move_table *t, size_t ti, dom_diff_kind kind, const dom_value *row,
                  dom_diff_cb cb, void *payload, dom_verify_stats *st)
{
    st->diffs++;
    if (!cb)
        return 0;
    char *pk = dom_pk_json(t, row);
    /* an indirect table's row does not carry its tenant */
    json_t *kv = t->key_col >= 0 ? value_json(&row[t->key_col]) : json_null();
    char *kt = kv ? json_dumps(kv, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(kv);
    int rc = pk && kt ? cb(ti, kind, kt, pk, payload) : DOM_ENOMEM;
    free(kt);
    dom_free(pk);
    return rc;
}

int dom_verify_keys(dom_store *a, dom_store *b, const dom_move_table *ta, const dom_move_table *tb,
                    size_t ntables, dom_diff_cb cb, void *payload, dom_verify_stats *st)
{
    saved_row sa = {0};
    int64_t *trows = st->table_rows, *tbytes = st->table_bytes, *own = NULL;
    memset(st, 0, sizeof(*st));
    st->table_rows = trows;
    st->table_bytes = tbytes;
    if (!trows || !tbytes) {
        /* the caller does not want them per table; the hash counts anyway */
        if (!(own = dom_calloc(2 * (ntables ? ntables : 1), sizeof(int64_t))))
            return DOM_ENOMEM;
        trows = own;
        tbytes = own + (ntables ? ntables : 1);
    }
    dom_content_hash ch;
    int rc = dom_content_hash_init(&ch, trows, tbytes, ntables);
    if (rc < 0) {
        dom_free(own);
        return rc;
    }
    /* each side's tables in one round trip where the store can */
    if ((rc = dom_store_read_ahead(a, ta, ntables)) == 0)
        rc = dom_store_read_ahead(b, tb, ntables);
    for (size_t t = 0; t < ntables && rc == 0; t++) {
        dom_cursor *ca = NULL, *cb2 = NULL;
        const dom_value *ra = NULL, *rb = NULL;
        size_t n = ta[t].info->ncols;
        if ((rc = dom_store_cursor_open(a, &ta[t], &ca)) < 0)
            break;
        if ((rc = dom_store_cursor_open(b, &tb[t], &cb2)) < 0) {
            dom_store_cursor_close(ca);
            break;
        }
        /* b's row must be saved: a's cursor and b's may share nothing, but
         * a's current row is consumed while b advances */
        int ha = dom_store_cursor_next(ca, &ra), hb = dom_store_cursor_next(cb2, &rb);
        while (rc == 0 && ha >= 0 && hb >= 0 && (ha || hb)) {
            if (ha) {
                if ((rc = save(&sa, ra, n)) < 0)
                    break;
            }
            int c = !ha ? 1 : !hb ? -1 : order_cmp(&ta[t], sa.v, rb);
            if (c < 0) {
                rc = report(&ta[t], t, DOM_DIFF_MISSING, sa.v, cb, payload, st);
                st->rows_a++;
            } else if (c > 0) {
                rc = report(&tb[t], t, DOM_DIFF_EXTRA, rb, cb, payload, st);
                st->rows_b++;
            } else {
                st->rows_a++;
                st->rows_b++;
                if (!rows_equal(sa.v, rb, n))
                    rc = report(&ta[t], t, DOM_DIFF_CHANGED, sa.v, cb, payload, st);
            }
            if (c <= 0 && ha) {
                if (rc == 0)
                    rc = dom_content_hash_add(&ch, t, sa.v, n);
                ha = dom_store_cursor_next(ca, &ra);
            }
            if (c >= 0 && hb)
                hb = dom_store_cursor_next(cb2, &rb);
        }
        if (rc == 0 && (ha < 0 || hb < 0))
            rc = ha < 0 ? ha : hb;
        dom_store_cursor_close(ca);
        dom_store_cursor_close(cb2);
        if (sa.v) {
            dom_free(sa.v);
            sa.v = NULL;
        }
    }
    int ra2 = dom_store_read_ahead(a, NULL, 0), rb2 = dom_store_read_ahead(b, NULL, 0);
    if (rc == 0)
        rc = ra2 < 0 ? ra2 : rb2;
    dom_content_hash_end(&ch, st->hash_a);
    for (size_t t = 0; t < ntables; t++)
        st->bytes_a += tbytes[t];
    dom_free(own);
    dom_buf_free(&sa.data);
    dom_free(sa.v);
    return rc;
}

int dom_content_hash_init(dom_content_hash *h, int64_t *rows, int64_t *bytes, size_t ntables)
{
    memset(h, 0, sizeof(*h));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return DOM_ENOMEM;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    h->md = md;
    h->rows = rows;
    h->bytes = bytes;
    for (size_t i = 0; i < ntables; i++)
        rows[i] = bytes[i] = 0;
    return 0;
}

int dom_content_hash_add(dom_content_hash *h, size_t table, const dom_value *row, size_t ncols)
{
    dom_buf_clear(&h->enc);
    dom_row_encode(&h->enc, row, ncols);
    if (h->enc.oom)
        return DOM_ENOMEM;
    EVP_DigestUpdate(h->md, h->enc.ptr, h->enc.len);
    h->rows[table]++;
    h->bytes[table] += (int64_t)h->enc.len;
    return 0;
}

void dom_content_hash_end(dom_content_hash *h, unsigned char out[32])
{
    unsigned char tmp[32];
    unsigned int len = 32;
    if (h->md) {
        EVP_DigestFinal_ex(h->md, out ? out : tmp, &len);
        EVP_MD_CTX_free(h->md);
    }
    h->md = NULL;
    dom_buf_free(&h->enc);
}

int dom_hash_keys(dom_store *st, const dom_move_table *t, size_t ntables, int64_t *rows,
                  int64_t *bytes, unsigned char hash[32])
{
    dom_content_hash ch;
    int rc = dom_content_hash_init(&ch, rows, bytes, ntables);
    if (rc < 0)
        return rc;
    if ((rc = dom_store_read_ahead(st, t, ntables)) < 0) {
        dom_content_hash_end(&ch, NULL);
        return rc;
    }
    for (size_t i = 0; i < ntables && rc == 0; i++) {
        dom_cursor *c;
        const dom_value *row;
        if ((rc = dom_store_cursor_open(st, &t[i], &c)) < 0)
            break;
        int h;
        while ((h = dom_store_cursor_next(c, &row)) > 0)
            if ((rc = dom_content_hash_add(&ch, i, row, t[i].info->ncols)) < 0)
                break;
        if (h < 0 && rc == 0)
            rc = h;
        dom_store_cursor_close(c);
    }
    int rc2 = dom_store_read_ahead(st, NULL, 0);
    if (rc == 0)
        rc = rc2;
    dom_content_hash_end(&ch, hash);
    return rc;
}

/* ---- verify command ---------------------------------------------------------- */

#include "core/catalog.h"
#include "core/schema.h"

typedef struct vt_entry {
    char *key;
    int home;
} vt_entry;

typedef struct vt_list {
    const dom_config *cfg;
    vt_entry *v;
    size_t n, cap;
} vt_list;

static int vt_add(const char *key, size_t n, const char *region, int64_t epoch, const char *state,
                  void *payload)
{
    vt_list *l = payload;
    (void)epoch;
    (void)state;
    int home = region ? dom_config_region(l->cfg, region) : -1;
    if (home < 0)
        return dom_error_set(DOM_ECONFIG,
                             "tenant %.*s lives in region \"%s\", which the config "
                             "does not define",
                             (int)n, key, region ? region : "?");
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        vt_entry *g = dom_realloc(l->v, cap * sizeof(*g));
        if (!g)
            return DOM_ENOMEM;
        l->v = g;
        l->cap = cap;
    }
    if (!(l->v[l->n].key = dom_strndup(key, n)))
        return DOM_ENOMEM;
    l->v[l->n++].home = home;
    return 0;
}

static int cmp_vt(const void *a, const void *b)
{
    const vt_entry *x = a, *y = b;
    return x->home != y->home ? x->home - y->home : strcmp(x->key, y->key);
}

typedef struct vr_ctx {
    const dom_verify_opts *o;
    const char *home, *other;
    const dom_move_table *mt;
} vr_ctx;

static int vr_diff(size_t table, dom_diff_kind kind, const char *tenant, const char *pk,
                   void *payload)
{
    vr_ctx *c = payload;
    return c->o->on_diff ? c->o->on_diff(c->home, c->other, c->mt[table].info->name, kind, tenant,
                                         pk, c->o->payload)
                         : 0;
}

static int rows_of_keys(dom_store *st, const dom_move_table *mt, size_t n, int64_t *total)
{
    int64_t *rows = dom_calloc(n ? n : 1, sizeof(int64_t));
    if (!rows)
        return DOM_ENOMEM;
    int rc = dom_store_count_keys_all(st, mt, n, rows);
    *total = 0;
    for (size_t t = 0; rc == 0 && t < n; t++)
        *total += rows[t];
    dom_free(rows);
    return rc;
}

#define VERIFY_CHUNK 500

/* ---- moved tenants against the transfer log ---- */

typedef struct xfer {
    int64_t batch;
    char to[64];
    char hash[65];
    json_t *tables; /* [{table, rows, bytes}] */
} xfer;

typedef struct xfer_list {
    xfer *v;
    size_t n, cap;
} xfer_list;

static int xfer_add(int64_t seq, const char *entry, const char *prev, const char *hash,
                    void *payload)
{
    (void)seq;
    (void)prev;
    (void)hash;
    xfer_list *l = payload;
    json_error_t je;
    json_t *e = json_loads(entry, 0, &je);
    if (!e)
        return dom_error_set(DOM_ERROR, "transfer log entry %lld is not JSON", (long long)seq);
    const char *kind = json_string_value(json_object_get(e, "kind"));
    const char *to = json_string_value(json_object_get(e, "to"));
    const char *h = json_string_value(json_object_get(e, "content_sha256"));
    json_t *tables = json_object_get(e, "tables");
    int rc = 0;
    if (kind && strcmp(kind, "transfer") == 0 && to && h && json_is_array(tables)) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 64;
            xfer *g = dom_realloc(l->v, cap * sizeof(*g));
            if (!g) {
                json_decref(e);
                return DOM_ENOMEM;
            }
            l->v = g;
            l->cap = cap;
        }
        xfer *x = &l->v[l->n++];
        x->batch = json_integer_value(json_object_get(e, "batch"));
        snprintf(x->to, sizeof(x->to), "%s", to);
        snprintf(x->hash, sizeof(x->hash), "%s", h);
        x->tables = json_incref(tables);
    }
    json_decref(e);
    return rc;
}

/* The rows a batch transferred, as the catalog kept them: "table\x1fpk"
 * and digest, sorted. */
typedef struct mrow {
    char *key;
    char digest[65];
    int seen;
} mrow;

typedef struct mrows {
    mrow *v;
    size_t n, cap;
} mrows;

static int mrow_add(int ncols, const char *const *v, void *payload)
{
    mrows *m = payload;
    if (ncols < 3 || !v[0] || !v[1] || !v[2])
        return 0;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        mrow *g = dom_realloc(m->v, cap * sizeof(*g));
        if (!g)
            return DOM_ENOMEM;
        m->v = g;
        m->cap = cap;
    }
    mrow *r = &m->v[m->n];
    if (!(r->key = dom_sprintf("%s\x1f%s", v[0], v[1])))
        return DOM_ENOMEM;
    snprintf(r->digest, sizeof(r->digest), "%s", v[2]);
    r->seen = 0;
    m->n++;
    return 0;
}

static int cmp_mrow(const void *a, const void *b)
{
    return strcmp(((const mrow *)a)->key, ((const mrow *)b)->key);
}

/* Names the rows of batch x that differ at home from the catalog's record
 * of them (nothing when the catalog kept none).  The keys are set in st. */
static int transfer_rows_diff(dom_catalog *cat, const dom_verify_opts *o, const xfer *x,
                              dom_store *st, const dom_move_table *mt, size_t nmt)
{
    mrows m = {0};
    int rc = dom_catalog_rows_scan(cat, x->batch, mrow_add, &m);
    if (rc == 0 && m.n)
        qsort(m.v, m.n, sizeof(mrow), cmp_mrow);
    dom_buf tmp = DOM_BUF_INIT;
    for (size_t t = 0; rc == 0 && m.n && t < nmt; t++) {
        dom_cursor *c;
        const dom_value *row;
        if ((rc = dom_store_cursor_open(st, &mt[t], &c)) < 0)
            break;
        int h;
        while (rc == 0 && (h = dom_store_cursor_next(c, &row)) > 0) {
            char *pk = dom_pk_json(&mt[t], row);
            char *key = pk ? dom_sprintf("%s\x1f%s", mt[t].info->name, pk) : NULL;
            unsigned char d[32];
            char hex[65];
            dom_buf_clear(&tmp);
            dom_row_encode(&tmp, row, mt[t].info->ncols);
            dom_sha256(tmp.ptr ? tmp.ptr : "", tmp.len, d);
            dom_hex(d, 32, hex);
            if (!key || tmp.oom) {
                rc = DOM_ENOMEM;
            } else {
                /* the first entry of this key not yet matched (a table
                 * without primary key may hold equal rows) */
                size_t lo = 0, hi = m.n;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (strcmp(m.v[mid].key, key) < 0)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                size_t i = lo, found = m.n;
                for (; i < m.n && strcmp(m.v[i].key, key) == 0; i++)
                    if (!m.v[i].seen && (found == m.n || strcmp(m.v[i].digest, hex) == 0))
                        found = i;
                if (found == m.n) {
                    if (o->on_transfer_row)
                        rc = o->on_transfer_row(x->batch, x->to, mt[t].info->name, DOM_DIFF_EXTRA,
                                                pk, o->payload);
                } else {
                    m.v[found].seen = 1;
                    if (strcmp(m.v[found].digest, hex) != 0 && o->on_transfer_row)
                        rc = o->on_transfer_row(x->batch, x->to, mt[t].info->name, DOM_DIFF_CHANGED,
                                                pk, o->payload);
                }
            }
            dom_free(key);
            dom_free(pk);
        }
        if (rc == 0 && h < 0)
            rc = h;
        dom_store_cursor_close(c);
    }
    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        if (m.v[i].seen || !o->on_transfer_row)
            continue;
        char *sep = strchr(m.v[i].key, '\x1f');
        if (!sep)
            continue;
        *sep = '\0';
        rc = o->on_transfer_row(x->batch, x->to, m.v[i].key, DOM_DIFF_MISSING, sep + 1, o->payload);
    }
    for (size_t i = 0; i < m.n; i++)
        dom_free(m.v[i].key);
    dom_free(m.v);
    dom_buf_free(&tmp);
    return rc;
}

static int verify_transfers(const dom_config *cfg, const dom_verify_opts *o, dom_catalog *cat,
                            dom_store **st, dom_move_table **mt, size_t *nmt,
                            dom_verify_summary *out)
{
    xfer_list l = {0};
    int rc = dom_catalog_log_scan(cat, xfer_add, &l);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        xfer *x = &l.v[i];
        int r = dom_config_region(cfg, x->to), yes = 0;
        if (r < 0) {
            rc = dom_error_set(DOM_ECONFIG,
                               "batch %lld moved tenants to region \"%s\", which the "
                               "config does not define",
                               (long long)x->batch, x->to);
            break;
        }
        if ((rc = dom_catalog_batch_untouched(cat, x->batch, &yes)) < 0)
            break;
        if (!yes) {
            out->transfers_skip++;
            continue;
        }
        dom_batch b = {0};
        if ((rc = dom_catalog_batch_load(cat, x->batch, &b)) < 0)
            break;
        size_t n = nmt[r];
        int64_t *rows = dom_calloc(n ? n : 1, sizeof(int64_t));
        int64_t *bytes = dom_calloc(n ? n : 1, sizeof(int64_t));
        unsigned char h[32];
        char hex[65];
        rc = rows && bytes ? 0 : DOM_ENOMEM;
        if (rc == 0 &&
            (rc = dom_store_set_keys(st[r], (const char *const *)b.keys, NULL, b.nkeys)) == 0)
            rc = dom_hash_keys(st[r], mt[r], n, rows, bytes, h);
        int differs = 0;
        if (rc == 0) {
            dom_hex(h, 32, hex);
            out->transfers++;
            for (size_t t = 0; t < n; t++)
                out->rows_compared += rows[t];
            /* per table, as the log has it; a table the log lacks had none */
            size_t k;
            json_t *v;
            for (size_t t = 0; t < n && rc == 0; t++) {
                int64_t then_rows = 0, then_bytes = 0;
                json_array_foreach(x->tables, k, v)
                {
                    const char *name = json_string_value(json_object_get(v, "table"));
                    if (name && strcmp(name, mt[r][t].info->name) == 0) {
                        then_rows = json_integer_value(json_object_get(v, "rows"));
                        then_bytes = json_integer_value(json_object_get(v, "bytes"));
                    }
                }
                if (then_rows != rows[t] || then_bytes != bytes[t]) {
                    differs = 1;
                    out->differences++;
                    if (o->on_transfer)
                        rc = o->on_transfer(x->batch, x->to, mt[r][t].info->name, rows[t],
                                            then_rows, bytes[t], then_bytes, o->payload);
                }
            }
            if (rc == 0 && !differs && strcmp(hex, x->hash) != 0) {
                differs = 1;
                out->differences++;
                if (o->on_transfer)
                    rc = o->on_transfer(x->batch, x->to, NULL, 0, 0, 0, 0, o->payload);
            }
            if (rc == 0 && differs)
                rc = transfer_rows_diff(cat, o, x, st[r], mt[r], n);
        }
        dom_free(rows);
        dom_free(bytes);
        dom_batch_free(&b);
    }
    for (size_t i = 0; i < l.n; i++)
        json_decref(l.v[i].tables);
    dom_free(l.v);
    return rc;
}

int dom_verify_run(const dom_config *cfg, const dom_verify_opts *o, dom_verify_summary *out)
{
    dom_catalog *cat = NULL;
    vt_list l = {cfg, NULL, 0, 0};
    dom_store *st[DOM_MAX_REGIONS] = {0};
    dom_table_info *info[DOM_MAX_REGIONS] = {0};
    size_t ninfo[DOM_MAX_REGIONS] = {0};
    dom_move_table *mt[DOM_MAX_REGIONS] = {0};
    size_t nmt[DOM_MAX_REGIONS] = {0};
    const char **chunk = NULL, **present = NULL;
    int rc;
    memset(out, 0, sizeof(*out));
    if ((rc = dom_catalog_open(&cat, cfg, DOM_CATALOG_READONLY)) < 0) {
        if (rc == DOM_ENOTFOUND)
            rc = dom_error_set(DOM_EUSAGE, "no catalog yet; run 'domicile prepare' first");
        goto done;
    }
    if (o->tenant) {
        dom_location loc;
        if ((rc = dom_catalog_locate(cat, o->tenant, &loc)) < 0 ||
            (rc = vt_add(o->tenant, strlen(o->tenant), loc.region, loc.epoch, loc.state, &l)) < 0)
            goto done;
    } else if (o->wave) {
        if ((rc = dom_catalog_wave_members(cat, o->wave, vt_add, &l)) < 0)
            goto done;
    } else if ((rc = dom_catalog_scan_directory(cat, vt_add, &l)) < 0) {
        goto done;
    }
    if (l.n)
        qsort(l.v, l.n, sizeof(vt_entry), cmp_vt);
    out->tenants = (int64_t)l.n;
    for (size_t r = 0; r < cfg->nregions; r++)
        if ((rc = dom_store_open(&st[r], &cfg->regions[r], DOM_STORE_MUST_EXIST)) < 0 ||
            (rc = dom_store_tables(st[r], &info[r], &ninfo[r])) < 0 ||
            (rc = dom_move_tables(&mt[r], &nmt[r], cfg, cfg->regions[r].name, info[r], ninfo[r])) <
                0)
            goto done;
    if (o->transfers) {
        rc = verify_transfers(cfg, o, cat, st, mt, nmt, out);
        goto done;
    }
    chunk = dom_calloc(VERIFY_CHUNK, sizeof(char *));
    present = dom_calloc(VERIFY_CHUNK, sizeof(char *));
    if (!chunk || !present) {
        rc = DOM_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < l.n;) {
        int h = l.v[i].home;
        size_t n = 0;
        while (i < l.n && l.v[i].home == h && n < VERIFY_CHUNK)
            chunk[n++] = l.v[i++].key;
        for (size_t r = 0; r < cfg->nregions; r++) {
            if ((int)r == h)
                continue;
            int64_t total;
            if ((rc = dom_store_set_keys(st[r], chunk, NULL, n)) < 0 ||
                (rc = rows_of_keys(st[r], mt[r], nmt[r], &total)) < 0)
                goto done;
            if (!total)
                continue;
            size_t np = 0;
            for (size_t k = 0; k < n; k++) {
                if ((rc = dom_store_set_keys(st[r], &chunk[k], NULL, 1)) < 0 ||
                    (rc = rows_of_keys(st[r], mt[r], nmt[r], &total)) < 0)
                    goto done;
                if (total)
                    present[np++] = chunk[k];
            }
            if ((rc = dom_store_set_keys(st[h], present, NULL, np)) < 0 ||
                (rc = dom_store_set_keys(st[r], present, NULL, np)) < 0)
                goto done;
            vr_ctx c = {o, cfg->regions[h].name, cfg->regions[r].name, mt[h]};
            dom_verify_stats vs = {0};
            if ((rc = dom_verify_keys(st[h], st[r], mt[h], mt[r], nmt[h], vr_diff, &c, &vs)) < 0)
                goto done;
            out->elsewhere += (int64_t)np;
            out->rows_compared += vs.rows_a;
            out->differences += vs.diffs;
        }
    }
    rc = 0;
done:
    dom_free(chunk);
    dom_free(present);
    for (size_t r = 0; r < DOM_MAX_REGIONS; r++) {
        dom_free(mt[r]);
        dom_table_info_free(info[r], ninfo[r]);
        dom_store_close(st[r]);
    }
    for (size_t i = 0; i < l.n; i++)
        dom_free(l.v[i].key);
    dom_free(l.v);
    dom_catalog_close(cat);
    return rc;
}
