#!/bin/sh
# What domicile's triggers cost an application on an SQLite region while
# nothing moves: tests/tools/sqlite_app (one connection, WAL, synchronous
# NORMAL: the transactions of the bench's app, an UPDATE of a tenant's
# row and an INSERT of a row of the same tenant) against copies of the
# demo's beijing region:
#   plain    no trigger;
#   noop     a trigger per table and event (INSERT, UPDATE, DELETE) whose
#            body does nothing (SELECT 1): the floor of any trigger;
#   quiet    domicile prepared, nothing moving (docs/mover.md "Quiet
#            regions": the default);
#   active   domicile prepared with options.quiet_regions: false (every
#            write checked, as while a mover works in the region).
# ROUNDS (default 6) rounds of SECS (default 5) seconds each, the order
# rotated every round; means, and the ratios to noop.
# Usage: bench/fence_cost_sqlite.sh [USERS]   (default 50,000)
set -eu
USERS=${1:-50000}
ROUNDS=${ROUNDS:-6}
SECS=${SECS:-5}
top=$(pwd)
DOMICILE=${DOMICILE:-$top/build/domicile}
APP=${APP:-$top/build/tests/tools/sqlite_app}
OUT=${OUT:-$top/bench/out/fence-cost-sqlite-$USERS}
rm -rf "$OUT"
mkdir -p "$OUT"
"$DOMICILE" demo --dir "$OUT/src" --users "$USERS" --no-plan >/dev/null
TABLES="users devices contacts messages photos backups"
for v in plain noop quiet active; do cp -r "$OUT/src" "$OUT/$v"; done
for t in $TABLES; do
    for e in INSERT UPDATE DELETE; do
        sqlite3 "$OUT/noop/regions/beijing.db" "CREATE TRIGGER noop_${t}_$e BEFORE $e ON $t BEGIN SELECT 1; END"
    done
done
"$DOMICILE" -c "$OUT/quiet/domicile.yaml" prepare >/dev/null
sed -i "s/^options:/options:\n  quiet_regions: false/" "$OUT/active/domicile.yaml"
"$DOMICILE" -c "$OUT/active/domicile.yaml" prepare >/dev/null
triggers() { sqlite3 "$OUT/$1/regions/beijing.db" "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'messages'"; }
echo "SQLite $(sqlite3 --version | awk '{ print $1 }'), $(nproc) cores, $USERS demo users; triggers on messages: noop $(triggers noop), quiet $(triggers quiet), active $(triggers active)"
set -- plain noop quiet active
# two rounds not counted: a fresh copy's pages come in slowly at first
for v in "$@"; do "$APP" "$OUT/$v/regions/beijing.db" "$SECS" 1 "$USERS" >/dev/null; done
for v in "$@"; do "$APP" "$OUT/$v/regions/beijing.db" "$SECS" 1 "$USERS" >/dev/null; done
: >"$OUT/tps.txt"
for r in $(seq "$ROUNDS"); do
    for v in "$@"; do
        echo "$v $("$APP" "$OUT/$v/regions/beijing.db" "$SECS" 1 "$USERS")" >>"$OUT/tps.txt"
    done
    first=$1
    shift
    set -- "$@" "$first"
done
awk '{ s[$1] += $2; n[$1]++; v[$1] = v[$1] " " $2 }
    END {
        f = s["noop"] / n["noop"]
        printf "one connection, %d rounds of '"$SECS"' s, means (per round in brackets)\n", n["noop"]
        split("plain noop quiet active", o, " ")
        for (i = 1; i <= 4; i++) {
            m = s[o[i]] / n[o[i]]
            printf "   %-7s %7.0f tps  %.3f of no-op  %.3f of no trigger  [%s ]\n", o[i], m, m / f, m / (s["plain"] / n["plain"]), v[o[i]]
        }
    }' "$OUT/tps.txt"
echo "target (issue: light on production): quiet >= 0.95 of no-op"
