#!/bin/sh
# Measures `domicile plan` over a demo data set of USERS tenants (default
# 1,000,000) on SQLite: wall time and peak RSS, next to the time the sqlite3
# shell needs for the bare GROUP BY counts the plan is made of.
# Usage: bench/plan_1m.sh [USERS] [DIR]
set -eu
USERS=${1:-1000000}
DIR=${2:-bench/out/plan-$USERS}
BIN=${DOMICILE:-build/domicile}
mkdir -p "$(dirname "$DIR")"
if [ ! -s "$DIR/regions/beijing.db" ]; then
    echo "generating $USERS users in $DIR ..."
    /usr/bin/time -f "generate: %e s" "$BIN" demo --dir "$DIR" --users "$USERS" --no-plan >/dev/null
fi
rows=$(sqlite3 "$DIR/regions/beijing.db" "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM devices) + (SELECT count(*) FROM contacts) + (SELECT count(*) FROM messages) + (SELECT count(*) FROM photos) + (SELECT count(*) FROM backups)")
echo "data set: $USERS tenants, $rows rows, $(du -h "$DIR/regions/beijing.db" | cut -f1) on disk"
/usr/bin/time -f "%e %M" -o "$DIR/plan.time" "$BIN" -c "$DIR/domicile.yaml" plan --json >"$DIR/plan.json"
read -r secs kb <"$DIR/plan.time"
/usr/bin/time -f "%e" -o "$DIR/sql.time" sqlite3 "$DIR/regions/beijing.db" \
    "SELECT count(*) FROM (SELECT user_id, country FROM users);
     SELECT count(*) FROM (SELECT user_id, count(*) FROM devices GROUP BY 1);
     SELECT count(*) FROM (SELECT user_id, count(*) FROM contacts GROUP BY 1);
     SELECT count(*) FROM (SELECT user_id, count(*) FROM messages GROUP BY 1);
     SELECT count(*) FROM (SELECT owner_id, count(*) FROM photos GROUP BY 1);
     SELECT count(*) FROM (SELECT user_id, count(*) FROM backups GROUP BY 1);" >/dev/null
sql=$(cat "$DIR/sql.time")
echo "domicile plan:          ${secs} s, peak RSS $((kb / 1024)) MB (target: < 10 s, < 200 MB)"
echo "sqlite3 GROUP BY alone: ${sql} s"
echo "ratio plan / bare SQL:  $(echo "$secs $sql" | awk '{ printf "%.2f", $1 / $2 }')"
