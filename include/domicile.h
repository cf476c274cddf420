/*
 * domicile.h - the C API of domicile: open a config, ask where a tenant
 * lives and where a new tenant must be created.
 *
 * Every function returns 0 on success or a negative DOM_E* code; the
 * message of the last failure in this thread is dom_error_last().
 */
#ifndef DOMICILE_H
#define DOMICILE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DOMICILE_VERSION "0.1.0"

enum {
    DOM_OK = 0,
    DOM_ERROR = -1,         /* anything else; see dom_error_last() */
    DOM_ENOTFOUND = -3,     /* no such tenant, region, wave */
    DOM_EMOVED = -4,        /* the tenant lives in another region */
    DOM_ERETRY = -5,        /* the tenant is moving; retry shortly */
    DOM_ECONFIG = -10,      /* the config file is invalid */
    DOM_EUSAGE = -11,       /* bad arguments */
    DOM_EREGION = -12,      /* a region or the catalog failed or cannot be reached */
    DOM_ENOMEM = -13,       /* out of memory */
    DOM_EINTR = -14,        /* interrupted; safe to resume */
    DOM_EUNSUPPORTED = -15, /* not available in this version */
    DOM_EBUSY = -16         /* another process holds what this needs; try again */
};

typedef struct dom_ctx dom_ctx;

/* Where a tenant lives, as the directory knows it. */
typedef struct dom_location {
    char region[64]; /* region name from the config */
    int64_t epoch;   /* rises with every move of the tenant */
    char state[16];  /* "home", "moving" */
} dom_location;

/* Opens the config at `path` (NULL: $DOMICILE_CONFIG, else ./domicile.yaml)
 * and validates it.  No region is contacted. */
int dom_open(dom_ctx **out, const char *path);
void dom_close(dom_ctx *ctx);

/* Names the region where a new tenant from `country` (ISO 3166-1 alpha-2)
 * must be created, per the residency policy.  `out` receives at most
 * `outlen` bytes including the NUL. */
int dom_place(char *out, size_t outlen, dom_ctx *ctx, const char *country);

/* Where the tenant with key `key` (its canonical text) lives now, from the
 * catalog's directory.  DOM_ENOTFOUND when the directory does not know it. */
int dom_locate(dom_location *out, dom_ctx *ctx, const char *key);

/* The message of the last failure in this thread; never NULL. */
const char *dom_error_last(void);
/* The code of the last failure in this thread (0 after none). */
int dom_error_code(void);

#ifdef __cplusplus
}
#endif
#endif
