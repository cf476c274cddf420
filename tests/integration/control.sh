# Live control of a running mover: `domicile throttle` sets its rate,
# `domicile pause` stops it at a safe point within a second, `resume`
# lets it go on, all without a restart; status shows the state, the
# progress lines and apply --json say so, and the move ends as it would
# have (verify, audit).
. "$(dirname "$0")/lib.sh"
D="$T/demo"
"$DOMICILE" demo --dir "$D" --users 6000 --no-plan >/dev/null 2>&1 || not_ok "demo"
cfg="$D/domicile.yaml"
# small batches, one worker: the rate is seen batch by batch
sed -i 's/^  batch_tenants: .*/  batch_tenants: 20/; s/^  workers: .*/  workers: 1/' "$cfg"
run_dom "$T/o" "$T/e" -c "$cfg" prepare
check "prepare" [ "$status" -eq 0 ]
# rows of the batches whose tenants are home
moved() { sqlite3 "$D/domicile.db" "SELECT coalesce(sum(rows), 0) FROM batches WHERE step IN ('done', 'flipped')"; }
ctl() { jq -r "$1" "$T/st.json"; }

run_dom "$T/o" "$T/e" -c "$cfg" throttle 3000
check "throttle 3000 before the run: exit 0" [ "$status" -eq 0 ]
check "... and says so" grep -q "rate: 3,000 rows per second (domicile throttle)" "$T/o"
"$DOMICILE" -c "$cfg" status --json >"$T/st.json"
expect_eq "status --json: the rate and where it comes from" "$(ctl '"\(.control.paused) \(.control.rows_per_second) \(.control.rate_from)"')" "false 3000 throttle"

"$DOMICILE" -c "$cfg" apply --json >"$T/apply.json" 2>"$T/apply.err" &
ap=$!
sleep 2
rate1=$(rate_over moved 4)
check "at 3000 rows/s the mover moves 1500-3900 rows/s (got $rate1)" [ "$rate1" -ge 1500 ] && [ "$rate1" -le 3900 ]

run_dom "$T/o" "$T/e" -c "$cfg" throttle 800
check "throttle 800 while it runs" [ "$status" -eq 0 ]
sleep 1.5
rate2=$(rate_over moved 5)
check "... the running mover slows to 800 rows/s (got $rate2; was $rate1)" [ "$rate2" -ge 300 ] && [ "$rate2" -le 1300 ]

run_dom "$T/o" "$T/e" -c "$cfg" pause
check "pause while it runs" [ "$status" -eq 0 ]
sleep 1.5
r5=$(moved)
b5=$(sqlite3 "$D/domicile.db" "SELECT count(*) FROM batches")
sleep 3
r6=$(moved)
b6=$(sqlite3 "$D/domicile.db" "SELECT count(*) FROM batches")
expect_eq "... within 1.5 s no batch moves any more (rows home)" "$r6" "$r5"
expect_eq "... and none starts" "$b6" "$b5"
check "... the mover is still running" kill -0 "$ap"
"$DOMICILE" -c "$cfg" status --json >"$T/st.json"
expect_eq "status --json: paused" "$(ctl .control.paused)" "true"
"$DOMICILE" -c "$cfg" status >"$T/st.txt"
check "status says PAUSED" grep -q "^movers: PAUSED since" "$T/st.txt"

run_dom "$T/o" "$T/e" -c "$cfg" resume
check "resume" [ "$status" -eq 0 ]
run_dom "$T/o" "$T/e" -c "$cfg" throttle off
check "throttle off: back to the config's rate (none)" grep -q "rate: no limit" "$T/o"
sleep 1.5
check "... the mover goes on" [ "$(moved)" -gt "$r6" ]
wait "$ap"
ap_rc=$?
expect_eq "apply ends with exit 0" "$ap_rc" "0"
check "apply --json counts the time it waited paused (>= 3 s)" \
    sh -c "jq -e '.paused_seconds >= 3 and .paused_seconds < 60' '$T/apply.json' >/dev/null"
events=$(jq -r '[.control[] | if .paused then "p" else (.rows_per_second | tostring) end] | join(",")' "$T/apply.json")
check "... and lists the control events: 3000, 800, paused, resumed, no limit (got $events)" \
    sh -c "echo '$events' | grep -Eq '^3000,800,p,(800,)?0\$'"
run_dom "$T/o" "$T/e" -c "$cfg" verify
check "verify after the paused and throttled run: exit 0" [ "$status" -eq 0 ]
run_dom "$T/o" "$T/e" -c "$cfg" audit
check "audit: exit 0" [ "$status" -eq 0 ]

# bad input
run_dom "$T/o" "$T/e" -c "$cfg" throttle fast
check "throttle fast: usage error (exit 1) naming the value" sh -c "[ $status -eq 1 ] && grep -q '\"fast\" is not a number' '$T/e'"
run_dom "$T/o" "$T/e" -c "$cfg" throttle -- -5
check "throttle -5 is refused" [ "$status" -eq 1 ]
run_dom "$T/o" "$T/e" -c "$cfg" pause now
check "pause takes no argument (exit 1)" [ "$status" -eq 1 ]
"$DOMICILE" -c "$cfg" status --json >"$T/st.json"
expect_eq "bad commands changed nothing" "$(ctl '"\(.control.paused) \(.control.rate_from)"')" "false config"

# a paused catalog holds a new run too, and the control reaches it
run_dom "$T/o" "$T/e" -c "$cfg" pause
"$DOMICILE" -c "$cfg" rollback --wave canary >"$T/rb.out" 2>"$T/rb.err" &
rb=$!
sleep 2
check "a rollback started while paused waits" kill -0 "$rb"
n_rb=$(sqlite3 "$D/domicile.db" "SELECT count(*) FROM batches WHERE wave = 'canary' AND dst = 'beijing'")
expect_eq "... having started no batch" "$n_rb" "0"
"$DOMICILE" -c "$cfg" resume >/dev/null
wait "$rb"
expect_eq "... and runs once resumed" "$?" "0"
check "its progress said it waited, and why" grep -q "^paused by 'domicile pause' (at 20.*): waiting at a safe point" "$T/rb.err"

# ---- the regions' health (options.health) ----
# a writer holds beijing's write lock: the mover's probe waits past the
# critical bound and the mover waits at its next safe point, says why,
# and goes on once the lock is free again
H="$T/health"
"$DOMICILE" demo --dir "$H" --users 6000 --no-plan >/dev/null 2>&1 || not_ok "demo"
hcfg="$H/domicile.yaml"
sed -i 's/^  batch_tenants: .*/  batch_tenants: 20/; s/^  workers: .*/  workers: 1/' "$hcfg"
sed -i 's/^options:/options:\n  max_rows_per_second: 3000\n  health: { probe_ms: 100, critical_probe_ms: 300 }/' "$hcfg"
run_dom "$T/o" "$T/e" -c "$hcfg" prepare
check "prepare with options.health" [ "$status" -eq 0 ]
hmoved() { sqlite3 "$H/domicile.db" "SELECT coalesce(sum(rows), 0) FROM batches WHERE step IN ('done', 'flipped')"; }
"$DOMICILE" -c "$hcfg" apply >"$T/h.out" 2>"$T/h.err" &
hp=$!
sleep 2
python3 -c "
import sqlite3, time
c = sqlite3.connect('$H/regions/beijing.db', isolation_level=None, timeout=30)
c.execute('BEGIN IMMEDIATE')
time.sleep(6)
c.execute('ROLLBACK')
" &
lk=$!
sleep 3.5
"$DOMICILE" -c "$hcfg" status --json >"$T/hs.json"
expect_eq "while a writer holds the source's write lock, status says the movers wait" \
    "$(jq -r .control.health "$T/hs.json")" "waiting"
check "... and why: the probe's wait against options.health.critical_probe_ms" \
    sh -c "jq -r .control.health_reason '$T/hs.json' | grep -q 'region \"beijing\": probe [0-9]* ms over 300 ms (options.health.critical_probe_ms)'"
"$DOMICILE" -c "$hcfg" status >"$T/hs.txt"
check "... in its text too" grep -q "^health: movers WAIT since 20" "$T/hs.txt"
wait "$lk"
sleep 2.5
"$DOMICILE" -c "$hcfg" status --json >"$T/hs.json"
expect_eq "once the lock is free the movers go on" "$(jq -r .control.health "$T/hs.json")" "well"
h1=$(hmoved)
sleep 2
check "... and move rows again" [ "$(hmoved)" -gt "$h1" ]
wait "$hp"
expect_eq "the move ends (exit 0)" "$?" "0"
check "its progress said it waited, and why" grep -q "^waiting at a safe point: region \"beijing\": probe" "$T/h.err"
check "... and that it went on, at a rate that grows (not at full rate at once)" \
    grep -q "^going on at [0-9,]* rows/s, growing: every region within options.health" "$T/h.err"
"$DOMICILE" -c "$hcfg" status --json >"$T/hs.json"
expect_eq "after the run status says nothing of the health" "$(jq -r .control.health "$T/hs.json")" "well"
run_dom "$T/o" "$T/e" -c "$hcfg" verify
check "verify after the run: exit 0" [ "$status" -eq 0 ]
# bad bounds
sed 's/critical_probe_ms: 300/critical_probe_ms: 50/' "$hcfg" >"$T/bad.yaml"
run_dom "$T/o" "$T/e" -c "$T/bad.yaml" status
check "a critical bound below the bound is refused at its line (exit 1)" \
    sh -c "[ $status -eq 1 ] && grep -q 'bad.yaml:[0-9]*:[0-9]*: options.health.critical_probe_ms (50) is below probe_ms (100)' '$T/e'"
sed 's/probe_ms: 100,/probe_ms: fast,/' "$hcfg" >"$T/bad.yaml"
run_dom "$T/o" "$T/e" -c "$T/bad.yaml" status
check "a bound that is not a number is refused (exit 1)" \
    sh -c "[ $status -eq 1 ] && grep -q 'options.health.probe_ms must be a number' '$T/e'"

# erasure as its own phase: the times to home and to erased are reported
# apart; erase_after is retain_source's other name; erasure's own rate
check "apply --json reports the time to home (the last flip) and to erased, the one before the other" \
    sh -c "jq -e '.time_to_home_seconds > 0 and .time_to_erased_seconds >= .time_to_home_seconds' '$T/apply.json' >/dev/null"
sed 's/^options:/options:\n  erase_after: 1h\n  retain_source: 1h/' "$cfg" >"$T/bad.yaml"
run_dom "$T/o" "$T/e" -c "$T/bad.yaml" status
check "erase_after and retain_source together are refused (exit 1)" \
    sh -c "[ $status -eq 1 ] && grep -q 'options.erase_after and options.retain_source are one setting' '$T/e'"
E="$T/erase"
"$DOMICILE" demo --dir "$E" --users 3000 --no-plan >/dev/null 2>&1 || not_ok "demo"
sed -i 's/^options:/options:\n  erase_after: 0s\n  erase_rows_per_second: 2000/' "$E/domicile.yaml"
"$DOMICILE" -c "$E/domicile.yaml" prepare >/dev/null
run_dom "$T/eo" "$T/ee" -c "$E/domicile.yaml" apply --json
check "a move with erase_after 0s and erasure at 2000 rows/s: exit 0" [ "$status" -eq 0 ]
erased=$(jq -r .erased "$T/eo")
mintime=$(echo "$erased" | awk '{ printf "%.2f", $1 / 2000 * 0.8 }')
check "... its erasure of $erased rows took at least 80% of erased/2000 s (erased after $(jq -r .time_to_erased_seconds "$T/eo") s, home after $(jq -r .time_to_home_seconds "$T/eo") s)" \
    sh -c "jq -e '.step_seconds.erase >= $mintime' '$T/eo' >/dev/null"
run_dom "$T/o" "$T/e" -c "$E/domicile.yaml" audit
check "... and audit finds nothing left behind (exit 0)" [ "$status" -eq 0 ]
