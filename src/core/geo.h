/*
 * geo.h - countries and their coordinates (generated from data/), great-circle
 * distances.  Round-trip models live in latency.c.
 */
#ifndef DOM_GEO_H
#define DOM_GEO_H

#include <stddef.h>

typedef struct dom_country {
    const char *code; /* ISO 3166-1 alpha-2 */
    const char *name;
    double lat, lng;
} dom_country;

typedef struct dom_city {
    const char *name;
    const char *country;
    double lat, lng;
} dom_city;

/* A measured round trip between two cities, in milliseconds. */
typedef struct dom_rtt_pair {
    const char *a, *b;
    double ms;
    const char *source; /* key of the source in data/rtt-measured.tsv */
} dom_rtt_pair;

extern const dom_country dom_countries[];
extern const size_t dom_ncountries;
extern const dom_city dom_cities[];
extern const size_t dom_ncities;
extern const dom_rtt_pair dom_rtt_measured[];
extern const size_t dom_nrtt_measured;

/* The city of the measured table with this name (case-insensitive), or NULL. */
const dom_city *dom_city_find(const char *name);
/* The city that stands for a country (its first in data/cities.tsv), or NULL. */
const dom_city *dom_city_of_country(const char *code);
/* The measured round trip between two cities, or -1. */
double dom_rtt_lookup(const char *a, const char *b);

/* The country with this exact two-letter upper-case code, or NULL. */
const dom_country *dom_country_find(const char *code);
/* Index of a country in dom_countries, or -1. */
int dom_country_index(const char *code);
/* A tenant's country as stored (NULL for SQL NULL): the code with spaces
 * trimmed and letters upper-cased in out, and its index in dom_countries;
 * or -1 with what is wrong with it in why ("no country", "an empty
 * country", "\"UK\" is not an ISO 3166-1 code; the United Kingdom is
 * GB", "\"ZZ\" is not an ISO 3166-1 alpha-2 code"). */
int dom_country_norm(const char *raw, char out[3], char *why, size_t n);
/* Great-circle distance in km. */
double dom_geo_distance_km(double lat1, double lng1, double lat2, double lng2);

#endif
