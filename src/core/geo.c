/*
 * geo.c - look-ups in the generated country table and great-circle distance.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/geo.h"

static int cmp_code(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const dom_country *)elem)->code);
}

const dom_country *dom_country_find(const char *code)
{
    if (!code || strlen(code) != 2)
        return NULL;
    return bsearch(code, dom_countries, dom_ncountries, sizeof(dom_country), cmp_code);
}

int dom_country_index(const char *code)
{
    const dom_country *c = dom_country_find(code);
    return c ? (int)(c - dom_countries) : -1;
}

int dom_country_norm(const char *raw, char out[3], char *why, size_t n)
{
    out[0] = '\0';
    if (!raw) {
        snprintf(why, n, "no country");
        return -1;
    }
    const char *b = raw, *e = raw + strlen(raw);
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    if (b == e) {
        snprintf(why, n, "an empty country");
        return -1;
    }
    if (e - b == 2) {
        out[0] = (char)toupper((unsigned char)b[0]);
        out[1] = (char)toupper((unsigned char)b[1]);
        out[2] = '\0';
        int i = dom_country_index(out);
        if (i >= 0)
            return i;
        if (strcmp(out, "UK") == 0) {
            snprintf(why, n, "\"%.*s\" is not an ISO 3166-1 code; the United Kingdom is GB",
                     (int)(e - b), b);
            return -1;
        }
    }
    out[0] = '\0';
    snprintf(why, n, "\"%.*s\" is not an ISO 3166-1 alpha-2 code", (int)(e - b > 40 ? 40 : e - b),
             b);
    return -1;
}

double dom_geo_distance_km(double lat1, double lng1, double lat2, double lng2)
{
    const double r = 6371.0, rad = M_PI / 180.0;
    double dlat = (lat2 - lat1) * rad, dlng = (lng2 - lng1) * rad;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlng / 2) * sin(dlng / 2);
    return 2 * r * atan2(sqrt(a), sqrt(1 - a));
}

const dom_city *dom_city_find(const char *name)
{
    for (size_t i = 0; name && i < dom_ncities; i++)
        if (strcasecmp(dom_cities[i].name, name) == 0)
            return &dom_cities[i];
    return NULL;
}

const dom_city *dom_city_of_country(const char *code)
{
    for (size_t i = 0; code && i < dom_ncities; i++)
        if (strcmp(dom_cities[i].country, code) == 0)
            return &dom_cities[i];
    return NULL;
}

double dom_rtt_lookup(const char *a, const char *b)
{
    for (size_t i = 0; i < dom_nrtt_measured; i++) {
        const dom_rtt_pair *p = &dom_rtt_measured[i];
        if ((strcmp(p->a, a) == 0 && strcmp(p->b, b) == 0) ||
            (strcmp(p->a, b) == 0 && strcmp(p->b, a) == 0))
            return p->ms;
    }
    return -1;
}
