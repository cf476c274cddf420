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

run_dom "$T/o" "$T/e" -c "$cfg" throttle 4000
check "throttle 4000 before the run: exit 0" [ "$status" -eq 0 ]
check "... and says so" grep -q "rate: 4,000 rows per second (domicile throttle)" "$T/o"
"$DOMICILE" -c "$cfg" status --json >"$T/st.json"
expect_eq "status --json: the rate and where it comes from" "$(ctl '"\(.control.paused) \(.control.rows_per_second) \(.control.rate_from)"')" "false 4000 throttle"

"$DOMICILE" -c "$cfg" apply --json >"$T/apply.json" 2>"$T/apply.err" &
ap=$!
sleep 2
r1=$(moved)
sleep 4
r2=$(moved)
rate1=$(((r2 - r1) / 4))
check "at 4000 rows/s the mover moves 2000-5200 rows/s (got $rate1)" [ "$rate1" -ge 2000 ] && [ "$rate1" -le 5200 ]

run_dom "$T/o" "$T/e" -c "$cfg" throttle 800
check "throttle 800 while it runs" [ "$status" -eq 0 ]
sleep 1.5
r3=$(moved)
sleep 5
r4=$(moved)
rate2=$(((r4 - r3) / 5))
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
check "... and lists the control events: 4000, 800, paused, resumed, no limit (got $events)" \
    sh -c "echo '$events' | grep -Eq '^4000,800,p,(800,)?0\$'"
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
