# The health throttle on PostgreSQL regions (options.health): sessions of
# the application running statements on the source pass
# options.health.active_sessions, and the running mover slows down (its
# rate falls well under what it moved before), says so in status and in
# its progress, and goes on once they are done, its rate growing back
# (not at full speed at once); the move ends and verify finds nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg.sh"
pg_start pg || { not_ok "start PostgreSQL"; exit 1; }
PORT=$(cat "$PGROOT/pg/port")
sql() { db=$1; shift; "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$db" "$@"; }
"$DOMICILE" demo --dir "$T/src" --users 6000 --seed 3 --no-plan >/dev/null 2>&1
for d in beijing singapore us_east; do sql postgres -c "CREATE DATABASE $d"; done
pg_load_demo "$T/src/regions/beijing.db" "$PGBIN/psql" -X -h 127.0.0.1 -p "$PORT" -U postgres -d beijing ||
    not_ok "load the demo into beijing"
for d in singapore us_east; do "$DOMICILE" demo --print-schema postgresql | sql "$d" >/dev/null; done
cfg="$T/domicile.yaml"
sed "s#sqlite:regions/beijing.db#postgresql://postgres@127.0.0.1:$PORT/beijing#;
     s#sqlite:regions/singapore.db#postgresql://postgres@127.0.0.1:$PORT/singapore#;
     s#sqlite:regions/us-east.db#postgresql://postgres@127.0.0.1:$PORT/us_east#;
     s#^catalog: .*#catalog: sqlite:$T/domicile.db#;
     s/^  batch_tenants: .*/  batch_tenants: 20/; s/^  workers: .*/  workers: 1/" "$T/src/domicile.yaml" >"$cfg"
sed -i 's/^options:/options:\n  max_rows_per_second: 3000\n  health: { active_sessions: 2, critical_active_sessions: 50 }/' "$cfg"
run_dom "$T/o" "$T/e" -c "$cfg" prepare
check "prepare" [ "$status" -eq 0 ]
moved() { sqlite3 "$T/domicile.db" "SELECT coalesce(sum(rows), 0) FROM batches WHERE step IN ('done', 'flipped')"; }
"$DOMICILE" -c "$cfg" apply --json >"$T/apply.json" 2>"$T/apply.err" &
ap=$!
sleep 2
before=$(rate_over moved 3)
# four sessions of the application, each running a statement for 8 s
for i in 1 2 3 4; do sql beijing -c "SELECT pg_sleep(8)" >/dev/null & done
sleep 4
"$DOMICILE" -c "$cfg" status --json >"$T/st.json"
expect_eq "with 4 application sessions running statements on beijing, status says the movers slowed down" \
    "$(jq -r .control.health "$T/st.json")" "slowed"
check "... and why: the active sessions against options.health.active_sessions" \
    sh -c "jq -r .control.health_reason '$T/st.json' | grep -q 'region \"beijing\": active sessions [4-9] over 2 (options.health.active_sessions)'"
during=$(rate_over moved 3)
check "... and move fewer rows per second ($during, was $before)" [ "$during" -lt $((before / 2)) ]
# the sessions end (8 s after they began): every region is within its
# bounds again, and the rate grows back from where it was, a tenth a
# second, instead of going back to full speed at once
sleep 3
"$DOMICILE" -c "$cfg" status --json >"$T/st.json"
expect_eq "once the sessions are done, status says the movers are well" "$(jq -r .control.health "$T/st.json")" "well"
after=$(rate_over moved 3)
check "... and the rate grows back: still under half the rows per second of before ($after, was $before)" [ "$after" -lt $((before / 2)) ]
wait
expect_eq "the move ends (exit 0)" "$(jq -r .ok "$T/apply.json")" "true"
check "its progress said it slowed down, why, and that it went on" \
    sh -c "jq -e '[.control[] | .health] | index(1) != null and .[-1] == 0' '$T/apply.json' >/dev/null"
run_dom "$T/o" "$T/e" -c "$cfg" verify
check "verify: exit 0" [ "$status" -eq 0 ]
"$DOMICILE" -c "$cfg" status --json >"$T/st.json"
expect_eq "after the run, status says nothing of the health" "$(jq -r .control.health "$T/st.json")" "well"
