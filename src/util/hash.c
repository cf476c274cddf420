/*
 * hash.c - SHA-256 (libcrypto) and the deterministic tenant sampling hash.
 */
#include <openssl/evp.h>
#include <string.h>

#include "util/util.h"

void dom_sha256(const void *data, size_t n, unsigned char out[32])
{
    unsigned int len = 32;
    EVP_Digest(data, n, out, &len, EVP_sha256(), NULL);
}

void dom_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

uint64_t dom_key_hash64(const char *key, size_t n)
{
    unsigned char d[32];
    uint64_t h = 0;
    dom_sha256(key, n, d);
    for (int i = 0; i < 8; i++)
        h = (h << 8) | d[i];
    return h;
}

uint64_t dom_fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

int dom_key_sampled(const char *key, size_t n, double percent)
{
    if (percent >= 100.0)
        return 1;
    /* The key space is cut into 1,000,000 buckets; a wave of p percent
     * takes buckets [0, p * 10000).  A larger percent takes a superset. */
    uint64_t bucket = dom_key_hash64(key, n) % 1000000u;
    return (double)bucket < percent * 10000.0;
}

int dom_key_is_int(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > 18 || (key[0] == '0' && n > 1))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (key[i] < '0' || key[i] > '9')
            return 0;
    return 1;
}

int dom_key_cmp(const char *a, const char *b)
{
    int ia = dom_key_is_int(a), ib = dom_key_is_int(b);
    if (ia != ib)
        return ia ? -1 : 1;
    if (ia) {
        size_t la = strlen(a), lb = strlen(b);
        if (la != lb)
            return la < lb ? -1 : 1;
    }
    return strcmp(a, b);
}

int dom_buf_sha256_hex(dom_buf *b, char out[65])
{
    if (b->oom) {
        dom_buf_free(b);
        return DOM_ENOMEM;
    }
    unsigned char d[32];
    dom_sha256(b->ptr ? b->ptr : "", b->len, d);
    dom_hex(d, 32, out);
    dom_buf_free(b);
    return 0;
}
