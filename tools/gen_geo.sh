#!/bin/sh
# Generates the C tables of countries, cities and measured round trips from
# the project's copies in data/.  Fails when a file is malformed.
# Usage: tools/gen_geo.sh data/countries.tsv data/cities.tsv data/rtt-measured.tsv > geo_gen.c
set -eu
echo '/* Generated from the tables in data/ by tools/gen_geo.sh; do not edit. */'
echo '#include "core/geo.h"'
echo 'const dom_country dom_countries[] = {'
LC_ALL=C awk -F'\t' '/^#/ || $1 == "code" { next }
NF >= 4 {
    if ($1 !~ /^[A-Z][A-Z]$/ || $1 <= prev) { print "countries.tsv: bad or unsorted code " $1 > "/dev/stderr"; exit 1 }
    prev = $1
    gsub(/\\/, "\\\\", $2); gsub(/"/, "\\\"", $2);
    printf "    {\"%s\", \"%s\", %s, %s},\n", $1, $2, $3, $4; n++ }
END { if (n < 200) { print "countries.tsv: too few countries" > "/dev/stderr"; exit 1 } }' "$1"
echo '};'
echo 'const size_t dom_ncountries = sizeof(dom_countries) / sizeof(dom_countries[0]);'
echo 'const dom_city dom_cities[] = {'
awk -F'\t' '/^#/ || $1 == "city" { next }
NF >= 4 { printf "    {\"%s\", \"%s\", %s, %s},\n", $1, $2, $3, $4; n++ }
END { if (n < 1) { print "cities.tsv: no cities" > "/dev/stderr"; exit 1 } }' "$2"
echo '};'
echo 'const size_t dom_ncities = sizeof(dom_cities) / sizeof(dom_cities[0]);'
echo 'const dom_rtt_pair dom_rtt_measured[] = {'
awk -F'\t' '/^#/ || $1 == "from" { next }
NF >= 4 { printf "    {\"%s\", \"%s\", %s, \"%s\"},\n", $1, $2, $3, $4; n++ }
END { if (n < 1) { print "rtt-measured.tsv: no pairs" > "/dev/stderr"; exit 1 } }' "$3"
echo '};'
echo 'const size_t dom_nrtt_measured = sizeof(dom_rtt_measured) / sizeof(dom_rtt_measured[0]);'
