/*
 * config.h - the typed form of domicile.yaml, and its loader.
 *
 * The loader parses with libyaml, checks every rule of DESIGN.md "Config
 * file" and reports each problem as "file:line:col: message".  It does not
 * open any database.
 */
#ifndef DOM_CONFIG_H
#define DOM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "store/region.h"

#define DOM_MAX_REGIONS  64
#define DOM_HOME_NEAREST (-2)

typedef struct dom_rule {
    char (*countries)[3];
    size_t ncountries;
    int any;        /* countries: ["*"] */
    int invalid;    /* countries: [invalid]: tenants without a valid country */
    int home;       /* region index, or DOM_HOME_NEAREST */
    uint64_t allow; /* bit per region index; always includes a named home */
    int line, col;
} dom_rule;

typedef struct dom_wave {
    char *name;
    char (*countries)[3];
    size_t ncountries; /* 0: every country */
    double percent;    /* 1..100 */
    int line, col;
} dom_wave;

/* A `tables:` entry: what discovery from foreign keys cannot tell. */
typedef struct dom_table_spec {
    char *table;
    char *key;             /* tenant column; tenants.key when not given */
    char *parent;          /* a link the schema does not declare, or the one of */
    char **columns;        /* several it declares: columns[i] of this table   */
    char **parent_columns; /* equal parent_columns[i] of parent (NULL:   */
    size_t ncolumns;       /* the parent's primary key)                 */
    int global;            /* linked to tenants, nevertheless never moved */
    int line, col;
} dom_table_spec;

typedef struct dom_latency_override {
    char country[3];
    int region;
    double ms;
} dom_latency_override;

/* options.health: bounds of a region's health past which the mover slows
 * down, and past the critical ones pauses (0: not watched). */
typedef struct dom_health_bounds {
    double probe_ms, critical_probe_ms;
    long active_sessions, critical_active_sessions;
    double replica_lag_sec, critical_replica_lag_sec;
} dom_health_bounds;

typedef struct dom_config {
    char *path; /* as given */
    char *dir;  /* folder of the config file */
    dom_dsn catalog;
    dom_region *regions;
    size_t nregions;
    struct {
        char *table, *key, *country;
    } tenants;
    dom_table_spec *tables; /* explicit list, or NULL: discover */
    size_t ntables;
    dom_rule *rules;
    size_t nrules;
    dom_wave *waves;
    size_t nwaves;
    struct {
        long batch_tenants;
        long workers; /* 0: auto (the mover chooses from the round trips) */
        double max_rows_per_second;
        double erase_rows_per_second; /* erasure's own rate; 0: no limit */
        long retain_source_sec;
        long lease_sec;      /* a mover's hold on a batch (PostgreSQL catalog); 0: 30 s */
        long fence_wait_sec; /* a fence change's wait for writers, in all; 0: 60 s */
        /* the catalog keeps each transferred row's primary key and digest
         * (verify --transfers names rows) */
        int transfer_rows;
        /* options.quiet_regions: false: regions stay active (every write
         * checked) when nothing moves (docs/mover.md "Quiet regions") */
        int always_active;
        dom_health_bounds health;
    } options;
    dom_latency_override *latency;
    size_t nlatency;
    struct {
        dom_table_spec *scan; /* more tables with a tenant column to scan */
        size_t nscan;
        long examples; /* example keys per finding */
    } audit;
} dom_config;

/* Loads and validates the config at `path`.  On failure returns DOM_ECONFIG
 * and dom_error_last() holds one "file:line:col: message" line per problem. */
int dom_config_load(dom_config **out, const char *path);
/* The same from a buffer; `name` stands in for the file name in messages and
 * relative sqlite paths resolve against the current folder. */
int dom_config_parse(dom_config **out, const char *name, const char *data, size_t len);
void dom_config_free(dom_config *cfg);

/* Region index by name, or -1. */
int dom_config_region(const dom_config *cfg, const char *name);
/* Parses a DSN (sqlite:PATH, postgresql://..., postgres://...,
 * postgresql:KEY=VALUE...).  `dir` resolves relative sqlite paths. */
int dom_dsn_parse(dom_dsn *out, const char *text, const char *dir);
void dom_dsn_free(dom_dsn *dsn);
/* The DSN with any password replaced by "*****", for messages. */
char *dom_dsn_redact(const char *text);
/* Parses "90", "30s", "15m", "12h", "7d" into seconds; -1 when invalid. */
long dom_parse_duration(const char *s);

#endif
