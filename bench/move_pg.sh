#!/bin/sh
# The mover on PostgreSQL regions against what a user would otherwise run,
# in one run, on the same data and the same three local servers
# (beijing, singapore, us-east; started here, stopped at the end):
#   1. moving every non-CN demo user (USERS, default 100,000): rows/s of
#      `domicile prepare && domicile apply` (copy, capture, catch-up,
#      verify, flip, erase) vs. a psql COPY pipe of the same rows, table by
#      table (no verification, no erasure), and for reference that pipe
#      followed by the DELETEs an offline move that erases would add;
#   2. moving everyone into empty regions (a 100% wave): vs.
#      `pg_dump --data-only | psql`, and pgcopydb copy table-data;
#   3. write pause with 8 writer connections: as the writers saw it (from
#      a write's first refusal to its acknowledgement), and per batch as
#      the mover times it (freeze to flip);
#   4. an app-like write load on the source (pgbench, 8 clients, writes to
#      users who stay): transactions per second during a wave vs. with
#      domicile not installed, unthrottled and at a fixed rate, and with
#      the mover throttled (THROTTLE rows/s, default 10,000), and installed
#      with nothing moving (the cost of the fence trigger alone);
#   5. mover peak RSS (all moves above, and one tenant of about 1 GB);
#   6. regions far away: the non-CN move of 1. with every region local,
#      with singapore and us-east behind delay proxies (FAR_RTT ms round
#      trip, default 150; the mover beside beijing), and with beijing
#      behind one (the mover beside the targets): throughput against
#      local, the round trips a batch takes, the write pause;
#   7. the app at half its capacity (pgbench -R) and the waves with
#      options.health: the app's p50/p99 latency without domicile and
#      during the waves, means of ROUNDS (default 6) interleaved rounds,
#      and how long the move took.
# Usage: bench/move_pg.sh [USERS]
set -eu
# SECTIONS: which of 1-6 to run (default all)
SECTIONS=${SECTIONS:-1234567}
run() { case $SECTIONS in *$1*) return 0 ;; esac; return 1; }
USERS=${1:-100000}
top=$(pwd)
export DOMICILE=${DOMICILE:-$top/build/domicile}
BIN=$DOMICILE
WRITER=${WRITER:-$top/build/tests/tools/writer}
OUT=${OUT:-$top/bench/out/move-pg-$USERS}
rm -rf "$OUT"
mkdir -p "$OUT"
# the servers flush commits to disk (fsync=on, the default a user has);
# PG_FSYNC=off gives the figures of a server that does not, labelled so
export PG_FSYNC=${PG_FSYNC:-on}
. "$top/tests/pg/pg.sh"
trap 'kill $(cat "$OUT/proxies" 2>/dev/null) 2>/dev/null || true; pg_stop_all' EXIT INT TERM
for r in beijing singapore us-east; do pg_start "$r"; done
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{ print $3 }'), three local servers with fsync=$PG_FSYNC$([ "$PG_FSYNC" = on ] && echo " (the default)" || echo " (NOT the default: commits cost no disk flush)"), $(nproc) cores"
port() { cat "$PGROOT/$1/port"; }
PSQL="$PGBIN/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres"
q() { r=$1; db=$2; shift 2; $PSQL -p "$(port "$r")" -d "$db" "$@"; }
now() { date +%s.%N; }

"$BIN" demo --dir "$OUT/src" --users "$USERS" --no-plan >/dev/null
for r in beijing singapore us-east; do q "$r" postgres -c "CREATE DATABASE tpl"; done
pg_load_demo "$OUT/src/regions/beijing.db" $PSQL -p "$(port beijing)" -d tpl
for r in singapore us-east; do "$BIN" demo --print-schema postgresql | q "$r" tpl >/dev/null; done
# db NAME: fresh copies of the three regions as database NAME
db() {
    for r in beijing singapore us-east; do
        q "$r" postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" \
            -c "CREATE DATABASE $1 TEMPLATE tpl"
    done
}
# config DIR DB: the demo config on the three servers' database DB
config() {
    mkdir -p "$1"
    sed "s#sqlite:regions/beijing.db#postgresql://postgres@127.0.0.1:$(port beijing)/$2#;
         s#sqlite:regions/singapore.db#postgresql://postgres@127.0.0.1:$(port singapore)/$2#;
         s#sqlite:regions/us-east.db#postgresql://postgres@127.0.0.1:$(port us-east)/$2#" \
        "$OUT/src/domicile.yaml" >"$1/domicile.yaml"
}
TABLES="users devices contacts messages photos backups"
ASIA="'SG','MY','IN','ID','TH','VN','PH'"
keycol() { [ "$1" = photos ] && echo owner_id || echo user_id; }
rows_of() { # rows of users matching WHERE on users ($1)
    n=0
    for t in $TABLES; do
        k=$(keycol "$t")
        c=$(q beijing tpl -At -c "SELECT count(*) FROM $t WHERE $k IN (SELECT user_id FROM users WHERE $1)")
        n=$((n + c))
    done
    echo "$n"
}
rate() { echo "$1 $2" | awk '{ printf "%.0f", $1 / $2 }'; }

# ---- 1. the non-CN users ----
if run 1; then
rows=$(rows_of "country <> 'CN'")
db pipe
t0=$(now)
for t in $TABLES; do
    k=$(keycol "$t")
    for dst in singapore us-east; do
        if [ "$dst" = singapore ]; then w="country IN ($ASIA)"; else w="country NOT IN ($ASIA, 'CN')"; fi
        q beijing pipe -c "COPY (SELECT * FROM $t WHERE $k IN (SELECT user_id FROM users WHERE $w)) TO STDOUT" |
            q "$dst" pipe -c "COPY $t FROM STDIN"
    done
done
pipe=$(echo "$(now) $t0" | awk '{ printf "%.2f", $1 - $2 }')
# for reference: the erasure an offline move would add (one DELETE per
# table, children first, after the pipe)
t0=$(now)
q beijing pipe -c "CREATE TEMP TABLE gone AS SELECT user_id FROM users WHERE country <> 'CN'" \
    -c "DELETE FROM backups WHERE user_id IN (SELECT user_id FROM gone)" \
    -c "DELETE FROM photos WHERE owner_id IN (SELECT user_id FROM gone)" \
    -c "DELETE FROM messages WHERE user_id IN (SELECT user_id FROM gone)" \
    -c "DELETE FROM contacts WHERE user_id IN (SELECT user_id FROM gone)" \
    -c "DELETE FROM devices WHERE user_id IN (SELECT user_id FROM gone)" \
    -c "DELETE FROM users WHERE user_id IN (SELECT user_id FROM gone)"
erase=$(echo "$(now) $t0" | awk '{ printf "%.2f", $1 - $2 }')
db dom
config "$OUT/dom" dom
/usr/bin/time -f "%e %M" -o "$OUT/prep.time" "$BIN" -c "$OUT/dom/domicile.yaml" prepare >/dev/null
/usr/bin/time -f "%e %M" -o "$OUT/apply.time" "$BIN" -c "$OUT/dom/domicile.yaml" apply --json >"$OUT/apply.json"
read -r prep _ <"$OUT/prep.time"
read -r apply rss1 <"$OUT/apply.time"
dom=$(echo "$prep $apply" | awk '{ print $1 + $2 }')
echo "1. moving the non-CN users of $USERS: $rows rows"
echo "   psql COPY pipe, table by table (copy only):          $pipe s, $(rate "$rows" "$pipe") rows/s"
echo "   domicile prepare + apply (copy, verify, erase):      $dom s ($prep + $apply), $(rate "$rows" "$dom") rows/s, peak RSS $((rss1 / 1024)) MB"
echo "   ratio domicile / pipe rows/s: $(echo "$pipe $dom" | awk '{ printf "%.2f", $1 / $2 }') (target >= 0.8)"
echo "   for reference, the pipe then one DELETE per table:   $pipe + $erase s: ratio $(echo "$pipe $erase $dom" | awk '{ printf "%.2f", ($1 + $2) / $3 }')"
home=$(jq -r --arg p "$prep" '.time_to_home_seconds + ($p | tonumber) | . * 100 | round / 100' "$OUT/apply.json")
echo "   time to home (prepare + apply until the last flip):  $home s: ratio pipe / domicile $(echo "$pipe $home" | awk '{ printf "%.2f", $1 / $2 }') (target >= 0.8)"
erased=$(jq .erased "$OUT/apply.json")
erase_s=$(jq .step_seconds.erase "$OUT/apply.json")
echo "   erasure: $erased rows in $(printf %.2f "$erase_s") s of erase steps (summed over the workers), $(rate "$erased" "$erase_s") rows/s; one DELETE per table: $(rate "$rows" "$erase") rows/s: ratio $(echo "$erased $erase_s $rows $erase" | awk '{ printf "%.2f", ($1 / $2) / ($3 / $4) }') (target >= 0.5)"
echo "   where the time goes (s): $(jq -c .step_seconds "$OUT/apply.json")"

fi

# ---- 2. everyone into empty regions ----
if run 2; then
all=$(rows_of "true")
db dump
t0=$(now)
"$PGBIN/pg_dump" -h 127.0.0.1 -p "$(port beijing)" -U postgres --data-only -d dump |
    q singapore dump >/dev/null
dump=$(echo "$(now) $t0" | awk '{ printf "%.2f", $1 - $2 }')
db pgc
t0=$(now)
pgcopydb copy table-data --source "postgresql://postgres@127.0.0.1:$(port beijing)/pgc" \
    --target "postgresql://postgres@127.0.0.1:$(port singapore)/pgc" --table-jobs 2 \
    --dir "$OUT/pgcopydb" >"$OUT/pgcopydb.log" 2>&1 && pgc_ok=1 || pgc_ok=0
pgc=$(echo "$(now) $t0" | awk '{ printf "%.2f", $1 - $2 }')
db everyone
config "$OUT/all" everyone
sed -i '/^policy:/,/^waves:/c\policy:\n  - { countries: ["*"], home: singapore }\nwaves:' "$OUT/all/domicile.yaml"
sed -i '/^waves:/,/^options:/c\waves:\n  - { name: everyone }\noptions:' "$OUT/all/domicile.yaml"
/usr/bin/time -f "%e %M" -o "$OUT/prep2.time" "$BIN" -c "$OUT/all/domicile.yaml" prepare >/dev/null
/usr/bin/time -f "%e %M" -o "$OUT/apply2.time" "$BIN" -c "$OUT/all/domicile.yaml" apply --json >"$OUT/apply2.json"
read -r prep2 _ <"$OUT/prep2.time"
read -r apply2 rss2 <"$OUT/apply2.time"
dom2=$(echo "$prep2 $apply2" | awk '{ print $1 + $2 }')
echo "2. moving everyone ($all rows) into an empty region"
echo "   pg_dump --data-only | psql:                          $dump s, $(rate "$all" "$dump") rows/s"
if [ "$pgc_ok" = 1 ]; then
    echo "   pgcopydb copy table-data (2 jobs):                   $pgc s, $(rate "$all" "$pgc") rows/s"
else
    echo "   pgcopydb copy table-data (2 jobs):                   failed: $(tail -n 1 "$OUT/pgcopydb.log")"
fi
echo "   domicile prepare + apply:                            $dom2 s ($prep2 + $apply2), $(rate "$all" "$dom2") rows/s, peak RSS $((rss2 / 1024)) MB"
echo "   ratio domicile / pg_dump rows/s: $(echo "$dump $dom2" | awk '{ printf "%.2f", $1 / $2 }') (target >= 1.0)"
home2=$(jq -r --arg p "$prep2" '.time_to_home_seconds + ($p | tonumber) | . * 100 | round / 100' "$OUT/apply2.json")
if [ "$pgc_ok" = 1 ]; then
    echo "   time to home (prepare + apply until the last flip):  $home2 s: ratio pgcopydb / domicile $(echo "$pgc $home2" | awk '{ printf "%.2f", $1 / $2 }') (target >= 0.5)"
else
    echo "   time to home (prepare + apply until the last flip):  $home2 s (no pgcopydb figure to compare)"
fi
echo "   where the time goes (s): $(jq -c .step_seconds "$OUT/apply2.json")"

fi

# ---- 3. write pause with 8 writers ----
if run 3; then
db live
config "$OUT/live" live
"$BIN" -c "$OUT/live/domicile.yaml" prepare >/dev/null
q beijing live -At -c "SELECT user_id FROM users WHERE country <> 'CN' ORDER BY random() LIMIT 2000" >"$OUT/keys"
q beijing live -At -c "SELECT user_id FROM users WHERE country = 'CN' LIMIT 500" >>"$OUT/keys"
for i in 1 2 3 4 5 6 7 8; do "$WRITER" run "$OUT/live/domicile.yaml" "$OUT/keys" "$i" 120 "$OUT/wlog$i" >"$OUT/wout$i" 2>/dev/null & done
sleep 0.5
"$BIN" ${VERBOSE:+-v -v} -c "$OUT/live/domicile.yaml" apply ${WORKERS:+--workers "$WORKERS"} --json >"$OUT/live.json" 2>"$OUT/live.log"
kill $(jobs -p) 2>/dev/null || true
wait 2>/dev/null || true
echo "3. write pause with 8 writer connections (target p99 <= 100 ms)"
echo "   as the writers saw it (first refusal to the acknowledgement, following the redirect to the new home): $(sh "$top/bench/writer_pause.sh" "$OUT"/wlog*)"
echo "   per batch, freeze to flip as the mover times it (ms): $(jq -c .pause_ms "$OUT/live.json") over $(jq .batches_done "$OUT/live.json") batches"

fi

# ---- 4. an app-like load on the source ----
if run 4; then
cn=$(q beijing tpl -At -c "SELECT min(user_id) || ' ' || max(user_id) FROM users WHERE country = 'CN'")
sh "$top/bench/app_sql.sh" "$cn" >"$OUT/app.sql"
bench_tps() { # DB [pgbench options...]
    d=$1
    shift
    "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$(port beijing)" -U postgres -f "$OUT/app.sql" -c 8 -j 2 "$@" "$d" 2>/dev/null |
        awk '/^tps/ { printf "%.0f", $3 } /^latency average/ { lat = $4 } END { printf " %s", lat }'
}
db plain
set -- $(bench_tps plain -T 15)
plain_tps=$1
db wave
config "$OUT/wave" wave
"$BIN" -c "$OUT/wave/domicile.yaml" prepare >/dev/null
# installed (every write goes through the fence trigger), nothing moving
set -- $(bench_tps wave -T 15)
idle_tps=$1
# during_waves NAME [pgbench options...]: fresh regions, prepare, and the
# waves (apply) started beside 15 s of pgbench with a progress line a
# second; only the seconds that fall wholly inside the apply's run count.
# Prints "TPS LATENCY SECONDS_COUNTED APPLY_EXIT APPLY_SECONDS" (TPS "-"
# when the apply failed or no second fell inside it).  With INTERRUPT=1
# the waves are stopped (SIGINT, a safe point) once pgbench is done.
during_waves() {
    _n=$1
    shift
    db wave
    rm -f "$OUT/wave/domicile.db"*
    "$BIN" -c "$OUT/wave/domicile.yaml" prepare >/dev/null
    _a0=$(now)
    # (set -e holds in the subshell too: a failing apply must not end it
    # before its status is written)
    (
        _s=0
        "$BIN" -c "$OUT/wave/domicile.yaml" apply >"$OUT/$_n.apply" 2>&1 || _s=$?
        echo "$_s" >"$OUT/$_n.rc"
        now >"$OUT/$_n.end"
    ) &
    _ap=$!
    _p0=$(now)
    "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$(port beijing)" -U postgres -f "$OUT/app.sql" -c 8 -j 2 -P 1 -T 15 "$@" wave \
        >"$OUT/$_n.pgbench" 2>"$OUT/$_n.progress" || true
    if [ "${INTERRUPT:-0}" = 1 ]; then pkill -INT -P "$_ap" -f "domicile.yaml apply" 2>/dev/null || true; fi
    wait "$_ap" || true
    _rc=$(cat "$OUT/$_n.rc")
    _a1=$(cat "$OUT/$_n.end")
    sh "$top/bench/load_window.sh" "$OUT/$_n.progress" "$_a0" "$_a1" "$_p0" "$_rc" "${INTERRUPT:-0}"
}
# window TPS LAT N E M: what the window measured, "N s inside the apply's M s (apply exit E)"
window() { echo "$3 s inside the apply's $5 s (apply exit $4)"; }
ratio() { echo "$1 $2" | awk '$1 == "-" { print "- (no figure: see the apply exit)"; exit } { printf "%.2f", $1 / $2 }'; }
set -- $(during_waves waves)
wave_tps=$1
wave_win=$(window "$@")
rate_target=$((plain_tps / 2))
db plain
set -- $(bench_tps plain -T 15 -R "$rate_target")
plain_r=$1
plain_lat=$2
set -- $(during_waves waves_rate -R "$rate_target")
wave_r=$1
wave_lat=$2
rate_win=$(window "$@")
# the mover throttled (options.max_rows_per_second), the app unthrottled;
# the waves are stopped (Ctrl-C: a safe point) once pgbench is done
THROTTLE=${THROTTLE:-10000}
sed -i "s/^options:/options:\n  max_rows_per_second: $THROTTLE/" "$OUT/wave/domicile.yaml"
set -- $(INTERRUPT=1 during_waves throttled)
thr_tps=$1
thr_win=$(window "$@")
sed -i "/^  max_rows_per_second: $THROTTLE$/d" "$OUT/wave/domicile.yaml"
echo "4. app-like load on beijing (pgbench, 8 clients, users who stay); during the waves only the seconds inside the apply's run count"
echo "   unthrottled: $plain_tps tps without domicile (15 s), $wave_tps tps during the waves ($wave_win): ratio $(ratio "$wave_tps" "$plain_tps") (target >= 0.9)"
echo "   unthrottled, domicile installed and nothing moving (the fence trigger on every write): $idle_tps tps (15 s): ratio $(ratio "$idle_tps" "$plain_tps")"
echo "   at $rate_target tps: $plain_r tps (latency $plain_lat ms) without, $wave_r tps (latency $wave_lat ms) during ($rate_win): ratio $(ratio "$wave_r" "$plain_r")"
echo "   unthrottled app, mover throttled to $THROTTLE rows/s (options.max_rows_per_second): $thr_tps tps during the waves ($thr_win): ratio $(ratio "$thr_tps" "$plain_tps")"

fi

# ---- 7. the app at half its capacity, the mover with options.health ----
# ROUNDS (default 6) interleaved rounds, the order rotating: the app alone
# (no domicile) at half the tps it reached unthrottled, and the same app
# while the waves run with options.health set (HEALTH, below); latencies
# from pgbench's per-transaction log, only the transactions that ended
# inside the apply's run count in the second.  The move runs to its end
# (its time is reported).
if run 7; then
ROUNDS=${ROUNDS:-6}
HEALTH=${HEALTH:-"{ active_sessions: 4, critical_active_sessions: 8 }"}
if [ -z "${cn:-}" ]; then
    cn=$(q beijing tpl -At -c "SELECT min(user_id) || ' ' || max(user_id) FROM users WHERE country = 'CN'")
    sh "$top/bench/app_sql.sh" "$cn" >"$OUT/app.sql"
fi
# the app's capacity: unthrottled tps without domicile, 15 s
db half
full=$("$PGBIN/pgbench" -n -h 127.0.0.1 -p "$(port beijing)" -U postgres -f "$OUT/app.sql" -c 8 -j 2 -T 15 half 2>/dev/null |
    awk '/^tps/ { printf "%.0f", $3 }')
half=$((full / 2))
config "$OUT/half" half
sed -i "s/^options:/options:\n  health: $HEALTH/" "$OUT/half/domicile.yaml"
# lat_stats FROM TO LOG...: "N P50 P99" (ms) of the latencies in pgbench -l
# logs of the transactions that ended within [FROM, TO] (seconds), leaving
# out each log's first second (pgbench's clients connecting lag behind
# their schedule: a cost of the bench, not of the database)
lat_stats() {
    _from=$1 _to=$2
    shift 2
    awk -v from="$_from" -v to="$_to" '
        { t = $5 + $6 / 1e6 }
        FNR == 1 { start = t }
        t >= start + 1 && t >= from && t <= to { print $3 / 1000 }' "$@" |
        sort -n | awk 'function rank(p,   r) { r = int(p * NR); if (r < p * NR) r++; return r < 1 ? 1 : r }
            { v[NR] = $1 } END { if (NR == 0) { print "0 - -"; exit } printf "%d %.2f %.2f\n", NR, v[rank(0.5)], v[rank(0.99)] }'
}
# settle: the fresh databases' pages on disk before a round measures
# (a round right after CREATE DATABASE otherwise pays for its writes)
settle() {
    for r in beijing singapore us-east; do q "$r" postgres -c CHECKPOINT; done
    sleep 1
}
# app K PREFIX: 15 s of the app at half its capacity, logged as PREFIX.*
app() {
    "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$(port beijing)" -U postgres -f "$OUT/app.sql" -c 8 -j 2 -T 15 -R "$half" \
        -l --log-prefix="$2" half >/dev/null 2>&1 || true
}
# app_alone K: round K of the app without domicile
app_alone() {
    db half
    settle
    rm -f "$OUT/alone$1".*
    app "$1" "$OUT/alone$1"
    lat_stats 0 1e18 "$OUT/alone$1".*
}
# app_waves K: round K of the app during the waves with options.health:
# the app runs in 15 s pieces from 2 s before the apply until it ended;
# prints "N P50 P99 APPLY_EXIT APPLY_SECONDS CONTROL_EVENTS"
app_waves() {
    _k=$1
    db half
    rm -f "$OUT/half/domicile.db"* "$OUT/waves$_k".* "$OUT/waves$_k.done"
    "$BIN" -c "$OUT/half/domicile.yaml" prepare >/dev/null
    settle
    (
        _i=0
        while [ ! -e "$OUT/waves$_k.done" ]; do
            _i=$((_i + 1))
            app "$_k" "$OUT/waves$_k.$_i"
        done
    ) &
    _lp=$!
    sleep 2
    _a0=$(now)
    _rc=0
    "$BIN" -c "$OUT/half/domicile.yaml" apply --json >"$OUT/half$_k.json" 2>"$OUT/half$_k.log" || _rc=$?
    _a1=$(now)
    : >"$OUT/waves$_k.done"
    wait "$_lp"
    echo "$(lat_stats "$_a0" "$_a1" "$OUT/waves$_k".*) $_rc $(echo "$_a1 $_a0" | awk '{ printf "%.1f", $1 - $2 }') $(jq '.control | length' "$OUT/half$_k.json" 2>/dev/null || echo -)"
}
: >"$OUT/half.rounds"
k=1
while [ "$k" -le "$ROUNDS" ]; do
    if [ $((k % 2)) = 1 ]; then
        echo "alone $(app_alone "$k")" >>"$OUT/half.rounds"
        echo "waves $(app_waves "$k")" >>"$OUT/half.rounds"
    else
        echo "waves $(app_waves "$k")" >>"$OUT/half.rounds"
        echo "alone $(app_alone "$k")" >>"$OUT/half.rounds"
    fi
    k=$((k + 1))
done
echo "7. the app at half its capacity ($half of $full tps; pgbench -R, 8 clients) on beijing, $ROUNDS interleaved rounds; the waves with options.health: $HEALTH"
awk '$1 == "alone" { n++; p50 += $3; p99 += $4 }
     END { printf "   without domicile: latency p50 %.2f ms, p99 %.2f ms (means of %d rounds of 15 s)\n", p50 / n, p99 / n, n }' "$OUT/half.rounds"
awk '$1 == "waves" && $5 == 0 { n++; p50 += $3; p99 += $4; secs += $6 } $1 == "waves" && $5 != 0 { bad++ }
     END { if (n) printf "   during the waves: latency p50 %.2f ms, p99 %.2f ms; the move took %.1f s (means of %d rounds)%s\n", p50 / n, p99 / n, secs / n, n, bad ? ", " bad " apply runs failed" : ""
           else print "   during the waves: no figure (every apply failed: see half*.log)" }' "$OUT/half.rounds"
awk '$1 == "alone" { a += $4; na++ } $1 == "waves" && $5 == 0 { w += $4; nw++ }
     END { if (na && nw) printf "   ratio p99 during / without: %.2f (target <= 2)\n", (w / nw) / (a / na) }' "$OUT/half.rounds"
echo "   per round (what, transactions, p50, p99 ms[, apply exit, apply s, control events]):"
sed 's/^/     /' "$OUT/half.rounds"
fi

# ---- 5. one tenant of about 1 GB ----
if run 5; then
for r in beijing singapore; do
    q "$r" postgres -c "CREATE DATABASE big" -c "SELECT 1" >/dev/null
    q "$r" big -c "CREATE TABLE t (k text PRIMARY KEY, cc text); CREATE TABLE blobs (k text REFERENCES t, n int, data bytea, PRIMARY KEY (k, n))"
done
q beijing big -c "INSERT INTO t VALUES ('big', 'SG'); ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL;
                  INSERT INTO blobs SELECT 'big', n, convert_to(repeat(md5(n::text), 32768), 'UTF8') FROM generate_series(1, 1024) n"
mkdir -p "$OUT/big"
cat >"$OUT/big/domicile.yaml" <<YAML
regions:
  a: { dsn: "postgresql://postgres@127.0.0.1:$(port beijing)/big", location: CN }
  b: { dsn: "postgresql://postgres@127.0.0.1:$(port singapore)/big", location: SG }
tenants: { table: t, key: k, country: cc }
tables: [t, blobs]
policy:
  - { countries: [CN], home: a }
  - { countries: ["*"], home: b }
waves:
  - { name: all }
YAML
"$BIN" -c "$OUT/big/domicile.yaml" prepare >/dev/null
/usr/bin/time -f "%e %M" -o "$OUT/big.time" "$BIN" -c "$OUT/big/domicile.yaml" apply >/dev/null
read -r bs brss <"$OUT/big.time"
echo "5. one tenant of 1 GiB (1024 rows of 1 MiB) moved in $bs s, mover peak RSS $((brss / 1024)) MB (target <= 100; the moves above: see 1. and 2.)"
fi

# ---- 6. regions far away ----
# Three placements of the same non-CN move, interleaved over FAR_ROUNDS
# rounds: every region beside the mover (local); singapore and us-east
# FAR_RTT ms away (the mover beside the source); beijing FAR_RTT ms away
# (the mover beside the targets).  Delay proxies count the round trips
# their clients make (a client's bytes after the server's start one).
if run 6; then
FAR_RTT=${FAR_RTT:-150}
FAR_ROUNDS=${FAR_ROUNDS:-2}
PROXY=${PROXY:-$top/build/tools/delayproxy}
export PROXY
half=$(echo "$FAR_RTT" | awk '{ print $1 / 2 }')
: >"$OUT/proxies"
bp=$(pg_proxy "$OUT/proxies" "$(port beijing)" "$half" "$OUT/bp.count")
sp=$(pg_proxy "$OUT/proxies" "$(port singapore)" "$half" "$OUT/sp.count")
up=$(pg_proxy "$OUT/proxies" "$(port us-east)" "$half" "$OUT/up.count")
# counted: the round trips through the proxies so far
counted() { sleep 0.2; cat "$OUT/bp.count" "$OUT/sp.count" "$OUT/up.count" 2>/dev/null | awk '{ n += $1 } END { print n + 0 }'; }
# placement NAME: the move with NAME's regions far; a line of figures
placement() {
    db far
    rm -rf "$OUT/far-$1"
    config "$OUT/far-$1" far
    # prepared from beside every region (once, before the move), moved
    # from where the placement puts the mover: the same catalog
    cp "$OUT/far-$1/domicile.yaml" "$OUT/far-$1/far.yaml"
    case $1 in
    targets) sed -i "s#127.0.0.1:$(port singapore)/#127.0.0.1:$sp/#; s#127.0.0.1:$(port us-east)/#127.0.0.1:$up/#" "$OUT/far-$1/far.yaml" ;;
    source) sed -i "s#127.0.0.1:$(port beijing)/#127.0.0.1:$bp/#" "$OUT/far-$1/far.yaml" ;;
    esac
    "$BIN" -c "$OUT/far-$1/domicile.yaml" prepare >/dev/null
    c0=$(counted)
    t0=$(now)
    "$BIN" -c "$OUT/far-$1/far.yaml" apply --json >"$OUT/far-$1.json"
    t1=$(now)
    c1=$(counted)
    echo "$1 $(echo "$t0 $t1" | awk '{ print $2 - $1 }') $((c1 - c0)) $(jq -r '[.batches_done, .workers, .round_trip_ms, .pause_ms.p50, .pause_ms.p99, .step_seconds.arm, .step_seconds.copy, .step_seconds.catch_up, .step_seconds.verify, .step_seconds.freeze_sync, .step_seconds.flip, .step_seconds.erase] | map(tostring) | join(" ")' "$OUT/far-$1.json")" >>"$OUT/far.runs"
}
: >"$OUT/far.runs"
i=0
while [ "$i" -lt "$FAR_ROUNDS" ]; do
    case $((i % 3)) in
    0) order="local targets source" ;;
    1) order="targets source local" ;;
    *) order="source local targets" ;;
    esac
    for v in $order; do placement "$v"; done
    i=$((i + 1))
done
kill $(cat "$OUT/proxies") 2>/dev/null || true
echo "6. the non-CN move with regions $FAR_RTT ms away, means of $FAR_ROUNDS interleaved rounds (target: far >= 0.7x local):"
awk -v rtt="$FAR_RTT" '
{ n[$1]++; sec[$1] += $2; rt[$1] += $3; nb[$1] += $4; w[$1] = $5; ms[$1] += $6; p50[$1] += $7; p99[$1] += $8
  for (k = 0; k < 7; k++) st[$1, k] += $(9 + k) }
END {
  split("arm copy catch_up verify freeze_sync flip erase", names, " ")
  for (v = 1; v <= 3; v++) {
    p = v == 1 ? "local" : v == 2 ? "targets" : "source"
    if (!n[p]) continue
    what = p == "local" ? "every region beside the mover" : p == "targets" ? "singapore, us-east far (mover beside beijing)" : "beijing far (mover beside the targets)"
    printf "   %-46s %6.1f s  %.2fx of local  %d workers (%.1f ms measured)  write pause p50 %.0f / p99 %.0f ms", what, sec[p] / n[p], sec["local"] / sec[p], w[p], ms[p] / n[p], p50[p] / n[p], p99[p] / n[p]
    if (p != "local") printf "  %.1f round trips a batch (counted)", rt[p] / nb[p]
    printf "\n"
    if (p != "local") {
      printf "      round trips a batch by step, from the step times ((far - local) / %d ms):", rtt
      for (k = 0; k < 7; k++) printf " %s %.1f", names[k + 1], (st[p, k] / nb[p] - st["local", k] / nb["local"]) * 1000 / rtt
      printf "\n"
    }
  }
}' "$OUT/far.runs"
fi
