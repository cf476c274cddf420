#!/bin/sh
# What domicile's triggers cost an application on PostgreSQL while nothing
# moves: pgbench (CLIENTS clients, default 8) running the bench's app
# transaction (an UPDATE of a tenant's row and an INSERT of a row of the
# same tenant, tenants who stay at home) against copies of one database:
#   plain    no trigger;
#   noop     a PL/pgSQL trigger that only returns NEW on every tenant
#            table (the floor of any PL/pgSQL trigger);
#   quiet    domicile prepared, nothing moving (docs/mover.md "Quiet
#            regions": the default);
#   active   domicile prepared with options.quiet_regions: false (every
#            write checked, as while a mover works in the region).
# ROUNDS (default 6) rounds of SECS (default 10) seconds each, the order
# rotated every round; means per variant, and the ratios to noop.  Then
# the same with synchronous_commit = off (no commit waits for the disk:
# the CPU cost alone).  One local server, fsync on (the default a user
# has).  Usage: bench/fence_cost.sh [USERS]   (default 50,000)
set -eu
USERS=${1:-50000}
ROUNDS=${ROUNDS:-6}
SECS=${SECS:-10}
CLIENTS=${CLIENTS:-8}
top=$(pwd)
export DOMICILE=${DOMICILE:-$top/build/domicile}
OUT=${OUT:-$top/bench/out/fence-cost-$USERS}
rm -rf "$OUT"
mkdir -p "$OUT"
export PG_FSYNC=${PG_FSYNC:-on}
. "$top/tests/pg/pg.sh"
trap 'pg_stop_all' EXIT INT TERM
pg_start main
port=$(cat "$PGROOT/main/port")
PSQL="$PGBIN/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -p $port"
"$DOMICILE" demo --dir "$OUT/src" --users "$USERS" --no-plan >/dev/null
$PSQL -d postgres -c "CREATE DATABASE plain" -c "CREATE DATABASE sg" -c "CREATE DATABASE us"
pg_load_demo "$OUT/src/regions/beijing.db" $PSQL -d plain
for d in sg us; do "$DOMICILE" demo --print-schema postgresql | $PSQL -d $d >/dev/null; done
for d in noop quiet active; do $PSQL -d postgres -c "CREATE DATABASE $d TEMPLATE plain"; done
TABLES="users devices contacts messages photos backups"
$PSQL -d noop -c "CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN RETURN COALESCE(NEW, OLD); END\$\$"
for t in $TABLES; do
    $PSQL -d noop -c "CREATE TRIGGER noop BEFORE INSERT OR UPDATE OR DELETE ON $t FOR EACH ROW EXECUTE FUNCTION noop()"
done
# config DB [OPTION]: the demo config with beijing on database DB
config() {
    sed "s#sqlite:regions/beijing.db#postgresql://postgres@127.0.0.1:$port/$1#;
         s#sqlite:regions/singapore.db#postgresql://postgres@127.0.0.1:$port/sg#;
         s#sqlite:regions/us-east.db#postgresql://postgres@127.0.0.1:$port/us#;
         s#^catalog:.*#catalog: sqlite:$OUT/$1.catalog#" "$OUT/src/domicile.yaml" >"$OUT/$1.yaml"
    [ -z "${2:-}" ] || sed -i "s/^options:/options:\n  $2/" "$OUT/$1.yaml"
    "$DOMICILE" -c "$OUT/$1.yaml" prepare >/dev/null
}
config quiet
config active "quiet_regions: false"
mode() { $PSQL -d "$1" -At -c "SELECT value FROM domicile.region WHERE key = 'mode'"; }
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{ print $3 }'), fsync=$PG_FSYNC, $(nproc) cores, $USERS demo users; modes: quiet=$(mode quiet), active=$(mode active)"
cn=$($PSQL -d plain -At -c "SELECT min(user_id) || ' ' || max(user_id) FROM users WHERE country = 'CN'")
sh "$top/bench/app_sql.sh" "$cn" >"$OUT/app.sql"
# rounds LABEL PGOPTIONS: the interleaved rounds, "variant tps" lines
rounds() {
    set -- plain noop quiet active
    for r in $(seq "$ROUNDS"); do
        for d in "$@"; do
            tps=$(PGOPTIONS="$PGOPT" "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$port" -U postgres \
                -f "$OUT/app.sql" -c "$CLIENTS" -j 2 -T "$SECS" "$d" 2>/dev/null |
                awk '/^tps/ { printf "%.0f", $3 }')
            echo "$d ${tps:-0}"
        done
        first=$1
        shift
        set -- "$@" "$first"
    done
}
report() {
    awk -v label="$1" '{ s[$1] += $2; n[$1]++; v[$1] = v[$1] " " $2 }
        END {
            f = s["noop"] / n["noop"]
            printf "%s (%d clients, %d rounds of %d s, means; per round in brackets)\n", label, '"$CLIENTS"', n["noop"], '"$SECS"'
            split("plain noop quiet active", o, " ")
            for (i = 1; i <= 4; i++) {
                m = s[o[i]] / n[o[i]]
                printf "   %-7s %7.0f tps  %.3f of no-op  %.3f of no trigger  [%s ]\n", o[i], m, m / f, m / (s["plain"] / n["plain"]), v[o[i]]
            }
        }' "$2"
}
PGOPT=""
rounds >"$OUT/sync.txt"
report "commits wait for the disk (synchronous_commit on, the default)" "$OUT/sync.txt"
PGOPT="-c synchronous_commit=off"
rounds >"$OUT/async.txt"
report "the CPU cost alone (synchronous_commit off)" "$OUT/async.txt"
echo "target (issue: light on production): quiet >= 0.95 of no-op"
