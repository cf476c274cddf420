/*
 * region.h - a region as the stores see it: its name and the DSN that
 * says which engine reaches it and how.  Parsed from the config by
 * core/config.c; the stores need nothing else of the config.
 */
#ifndef DOM_REGION_H
#define DOM_REGION_H

typedef enum { DOM_DSN_SQLITE = 1, DOM_DSN_PG = 2 } dom_dsn_kind;

typedef struct dom_dsn {
    dom_dsn_kind kind;
    char *text;     /* as written in the config */
    char *path;     /* sqlite: the file, resolved against the config's folder */
    char *conninfo; /* postgresql: what libpq receives */
} dom_dsn;

typedef struct dom_region {
    char *name;
    dom_dsn dsn;
    char country[3];       /* location */
    char *city;            /* optional; a city of the measured table */
    long capacity_tenants; /* 0: unlimited */
    int line, col;
} dom_region;

#endif
