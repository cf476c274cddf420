# The mover with its targets far away: singapore and us-east behind delay
# proxies (FAR_RTT ms of round trip, default 40), beijing beside the mover.
# 8 writer connections beside the regions, the mover killed (-9) at
# random moments and the link to singapore cut in the middle of a run:
# every acknowledged write is where its tenant lives (I1, I2), verify finds
# nothing missing, and the run after a cut names the region and finishes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg.sh"
PROXY="$DOMICILE_BUILD/tools/delayproxy"
W="$DOMICILE_BUILD/tests/tools/writer"
FAR_RTT=${FAR_RTT:-40}
half=$(echo "$FAR_RTT" | awk '{ print $1 / 2 }')
at_exit 'kill $(cat "$T/proxies" 2>/dev/null) 2>/dev/null; pg_stop_all'
REGIONS="beijing singapore us-east"
for r in $REGIONS; do
    pg_start "$r" || { not_ok "start PostgreSQL for $r"; exit 1; }
done
port() { cat "$PGROOT/$1/port"; }
sql() { r=$1; shift; "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port "$r")" -U postgres -d app "$@"; }

"$DOMICILE" demo --dir "$T/src" --users 1000 --seed 7 --no-plan >/dev/null 2>&1
for r in $REGIONS; do
    "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$(port "$r")" -U postgres -d postgres -c "CREATE DATABASE app"
done
pg_load_demo "$T/src/regions/beijing.db" "$PGBIN/psql" -X -h 127.0.0.1 -p "$(port beijing)" -U postgres -d app ||
    not_ok "load the demo into beijing"
for r in singapore us-east; do "$DOMICILE" demo --print-schema postgresql | sql "$r" >/dev/null; done

: >"$T/proxies"
sp=$(pg_proxy "$T/proxies" "$(port singapore)" "$half" "$T/sp.count")
up=$(pg_proxy "$T/proxies" "$(port us-east)" "$half" "$T/up.count")
cfg="$T/domicile.yaml"
sed "s#sqlite:regions/beijing.db#postgresql://postgres@127.0.0.1:$(port beijing)/app#;
     s#sqlite:regions/singapore.db#postgresql://postgres@127.0.0.1:$sp/app#;
     s#sqlite:regions/us-east.db#postgresql://postgres@127.0.0.1:$up/app#;
     s/batch_tenants: 500/batch_tenants: 60/; s/workers: .*/workers: auto/" "$T/src/domicile.yaml" >"$cfg"
# the application's writers sit beside their regions: a config without
# the proxies (the same catalog)
sed "s#127.0.0.1:$sp/#127.0.0.1:$(port singapore)/#; s#127.0.0.1:$up/#127.0.0.1:$(port us-east)/#" "$cfg" >"$T/app.yaml"
cd "$T" || exit 1
run_dom "$T/o" "$T/e" -c "$cfg" prepare
check "prepare with singapore and us-east $FAR_RTT ms away" [ "$status" -eq 0 ]
[ "$status" -eq 0 ] || cat "$T/e"
# (the round-trip count of the proxies comes within 50 ms)
sleep 0.2
check "the proxies count the round trips of prepare ($(cat "$T/sp.count"), $(cat "$T/up.count"))" \
    sh -c "[ \"\$(cut -d' ' -f1 '$T/sp.count')\" -gt 0 ] && [ \"\$(cut -d' ' -f1 '$T/up.count')\" -gt 0 ]"

# ---- 8 writers, SIGKILLs, a cut link ----
sql beijing -At -c "SELECT user_id FROM users WHERE country <> 'CN' ORDER BY user_id % 7, user_id LIMIT 250" >"$T/keys"
sql beijing -At -c "SELECT user_id FROM users WHERE country = 'CN' LIMIT 30" >>"$T/keys"
# (long enough for the runs below under the sanitizers: the redirects
# counted need flips while they write)
pg_writers postgres "$T/app.yaml" 60
sleep 0.5
# the link to singapore dies in the middle of the first run, once its
# first batch (of the canary, to singapore) is copied: the proxy stops, and
# a new one listens on the same port for the runs after
echo "# $(date +%T) the cut run"
spid=$(head -n 1 "$T/proxies")
"$DOMICILE" -c "$cfg" -v -v apply >/dev/null 2>"$T/cut" &
pid=$!
for _w in $(seq 1 200); do
    grep -q "batch [0-9]*: copied" "$T/cut" && break
    sleep 0.05
done
kill "$spid"
wait "$pid"
cut_rc=$?
"$PROXY" "$sp" 127.0.0.1 "$(port singapore)" "$half" >/dev/null 2>&1 &
echo $! >>"$T/proxies"
sleep 0.3
check "a run whose link to singapore is cut fails (exit $cut_rc) naming the region" \
    sh -c "[ $cut_rc -ne 0 ] && grep -q 'region \"singapore\"' '$T/cut'"
grep 'region "singapore"' "$T/cut" | tail -n 1 | sed 's/^/# /'
echo "# $(date +%T) the kill loop"
kills=0
for i in 1 2 3 4 5 6; do
    "$DOMICILE" -c "$cfg" apply >/dev/null 2>"$T/k$i" &
    pid=$!
    sleep "$(shuf -i 5-30 -n 1 | awk '{ print $1 / 10 }')"
    kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null
done
check "the mover was killed at least 4 times ($kills)" [ "$kills" -ge 4 ]
echo "# $(date +%T) the last run"
final=1
for _t in 1 2 3; do
    "$DOMICILE" -c "$cfg" apply --json >"$T/a" 2>"$T/e" && { final=0; break; }
    tail -n 2 "$T/e" | sed 's/^/# /'
done
expect_eq "a rerun finishes the move" "$final" 0
# options.workers auto: two workers, two more for every 25 ms of the
# longest round trip (docs/mover.md, "Far regions")
rtt=$(jq .round_trip_ms "$T/a")
check "the run measured the round trip to the far regions ($rtt ms for $FAR_RTT)" \
    sh -c "echo $rtt | awk '{ exit !(\$1 >= $FAR_RTT && \$1 < $FAR_RTT + 20) }'"
expect_eq "options.workers auto chose the workers from it" "$(jq .workers "$T/a")" \
    "$(echo "$rtt" | awk '{ w = 2 * (1 + $1 / 25); print (w >= 64 ? 64 : int(w + 0.5)) }')"
echo "# $(date +%T) the writers end"
wst=
for p in $wpids; do
    wait "$p"
    wst="$wst $?"
done
expect_eq "every writer exits 0" "$wst" " 0 0 0 0 0 0 0 0"
acks=$(cat "$T"/wout* | awk '{ a += $1; r += $2; d += $3 } END { print a, r, d }')
check "writers got writes acknowledged and redirected (acks retries redirects: $acks)" \
    sh -c "echo $acks | awk '{ exit !(\$1 > 300 && \$3 > 0) }'"
check "no writer hit an unexpected error" sh -c "! grep -q unexpected $T/werr*"
grep -h unexpected "$T"/werr* | head -n 3 | sed 's/^/# /'
"$W" check "$T/app.yaml" "$T"/wlog* >"$T/chk" 2>&1
expect_eq "I1 and I2 hold (the checker exits 0): $(tail -n 1 "$T/chk")" "$?" "0"
run_dom "$T/o" "$T/e" -c "$cfg" verify
check "verify: 0 differences" grep -q ", 0 differences" "$T/o"
run_dom "$T/o" "$T/e" -c "$cfg" plan --check
check "plan --check: nothing misplaced" [ "$status" -eq 0 ]
expect_eq "no non-CN user left in beijing" "$(sql beijing -At -c "SELECT count(*) FROM users WHERE country <> 'CN'")" "0"
expect_eq "the change logs are empty" \
    "$(for r in $REGIONS; do sql "$r" -At -c "SELECT count(*) FROM domicile.changes"; done | sort -u)" "0"
run_dom "$T/o" "$T/e" -c "$cfg" audit
check "audit: no violation, the log intact" [ "$status" -eq 0 ]
