# Several movers sharing a PostgreSQL catalog: three `domicile apply`
# processes split a migration's batches between them (claimed with FOR
# UPDATE SKIP LOCKED); a mover that dies holding a batch loses it when its
# lease expires and another finishes it; random SIGKILLs of two movers at
# once.  Each run must end exactly as one mover alone (I4), with one
# transfer entry and one erasure entry per batch and an intact chain.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg.sh"
TABLES="users devices contacts messages photos backups"
REGIONS="beijing singapore us-east"
for r in $REGIONS; do
    pg_start "$r" || { not_ok "start PostgreSQL for $r"; exit 1; }
done
port() { cat "$PGROOT/$1/port"; }
sql() { r=$1; db=$2; shift 2; "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port "$r")" -U postgres -d "$db" "$@"; }

"$DOMICILE" demo --dir "$T/src" --users 1500 --seed 9 --no-plan >/dev/null 2>&1
for r in $REGIONS; do sql "$r" postgres -c "CREATE DATABASE tpl"; done
pg_load_demo "$T/src/regions/beijing.db" "$PGBIN/psql" -X -h 127.0.0.1 -p "$(port beijing)" -U postgres -d tpl ||
    not_ok "load the demo"
for r in singapore us-east; do "$DOMICILE" demo --print-schema postgresql | sql "$r" tpl >/dev/null; done
# the catalog's unit tests (tests/unit/test_catalog.c) on PostgreSQL
# catalogs: one fresh database for each catalog they open
for i in 1 2 3 4 5 6 7 8; do sql beijing postgres -c "CREATE DATABASE ucat$i"; done
DOMICILE_TEST_CATALOG_DSN="postgresql://postgres@127.0.0.1:$(port beijing)/ucat%d" \
    "$DOMICILE_BUILD/tests/test_catalog" >"$T/unit.out" 2>&1
unit_rc=$?
check "the catalog's unit tests pass on a PostgreSQL catalog (test_catalog, exit $unit_rc)" \
    sh -c "[ $unit_rc -eq 0 ] && grep -q 'PASSED  \] [1-9]' '$T/unit.out' && ! grep -q FAILED '$T/unit.out'"
[ "$unit_rc" -eq 0 ] || sed 's/^/# /' "$T/unit.out"
# the database layer under the catalog (tests/unit/test_db.c) on PostgreSQL
sql beijing postgres -c "CREATE DATABASE udb"
DOMICILE_TEST_DB_DSN="postgresql://postgres@127.0.0.1:$(port beijing)/udb" \
    "$DOMICILE_BUILD/tests/test_db" >"$T/db.out" 2>&1
db_rc=$?
check "the database layer's unit tests pass on PostgreSQL (test_db, exit $db_rc)" \
    sh -c "[ $db_rc -eq 0 ] && grep -q 'PASSED  \] 6 test' '$T/db.out'"
[ "$db_rc" -eq 0 ] || sed 's/^/# /' "$T/db.out"

mkdir -p "$T/run"
sed "s#sqlite:regions/beijing.db#postgresql://postgres@127.0.0.1:$(port beijing)/app#;
     s#sqlite:regions/singapore.db#postgresql://postgres@127.0.0.1:$(port singapore)/app#;
     s#sqlite:regions/us-east.db#postgresql://postgres@127.0.0.1:$(port us-east)/app#;
     s#sqlite:domicile.db#postgresql://postgres@127.0.0.1:$(port beijing)/cat#;
     s/batch_tenants: 500/batch_tenants: 40/;
     s/  workers: auto/  workers: 1\n  lease: 2s\n  transfer_rows: true/" "$T/src/domicile.yaml" >"$T/run/domicile.yaml"
cfg="$T/run/domicile.yaml"

# fresh regions and an empty catalog, then prepare
reset() {
    for r in $REGIONS; do
        sql "$r" postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS app WITH (FORCE)" \
            -c "CREATE DATABASE app TEMPLATE tpl"
    done
    sql beijing postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS cat WITH (FORCE)" -c "CREATE DATABASE cat"
    "$DOMICILE" -c "$cfg" prepare >/dev/null
}
state() {
    for r in $REGIONS; do
        for t in $TABLES; do sql "$r" app -At -c "SELECT * FROM $t ORDER BY 1, 2"; done
        sql "$r" app -At -c "SELECT tenant, state, home, epoch FROM domicile.fence WHERE state <> 'home' ORDER BY 1"
    done
    sql beijing cat -At -c "SELECT tenant, region, epoch, state FROM domicile_catalog.directory ORDER BY 1"
    sql beijing cat -At -c "$JOURNAL_PG_B" -c "$JOURNAL_PG_L" | journal_state
} 2>&1
batches() { sql beijing cat -At -c "SELECT count(*) FILTER (WHERE step = 'done') || ' ' || count(*) FROM domicile_catalog.batches"; }
log_ok() { # one transfer and one erasure entry per batch
    sql beijing cat -At -c "SELECT count(*) FILTER (WHERE entry LIKE '%\"kind\":\"transfer\"%') || ' ' || count(*) FILTER (WHERE entry LIKE '%\"kind\":\"erasure\"%') FROM domicile_catalog.transfer_log"
}

reset
timed run_dom "$T/o" "$T/e" -c "$cfg" apply
# how long one mover takes here: the SIGKILL rounds kill within it
run_ms=$timed_ms
check "one mover with a PostgreSQL catalog: apply exits 0" [ "$status" -eq 0 ]
[ "$status" -eq 0 ] || cat "$T/e"
ref=$(state | sha256sum)
n=$(sql singapore app -At -c "SELECT count(*) FROM users")
check "... and moved users to singapore ($n)" [ "$n" -gt 100 ]
nb=$(batches | cut -d' ' -f2)
check "the migration took several batches ($nb)" [ "$nb" -ge 6 ]
expect_eq "one transfer and one erasure entry per batch" "$(log_ok)" "$nb $nb"
run_dom "$T/o" "$T/e" -c "$cfg" audit
check "audit: no violation, the chain intact" [ "$status" -eq 0 ]
run_dom "$T/o" "$T/e" -c "$cfg" status --json
expect_eq "status reads the PostgreSQL catalog" "$(jq -r '[.waves[].done] | add' "$T/o")" "$nb"

# ---- three movers at once ----
reset
for i in 1 2 3; do "$DOMICILE" -c "$cfg" apply --json >"$T/m$i.json" 2>"$T/m$i.err" & done
wait
ok3=0
for i in 1 2 3; do [ "$(jq -r .ok "$T/m$i.json" 2>/dev/null)" = true ] && ok3=$((ok3 + 1)); done
expect_eq "three movers at once all end well" "$ok3" "3"
[ "$ok3" -eq 3 ] || cat "$T"/m*.err
ran=$(for i in 1 2 3; do jq -r .batches_done "$T/m$i.json"; done | awk '{ s += $1; if ($1 > 0) n++ } END { print s, n }')
expect_eq "they ran every batch once between them, more than one of them working ($ran)" "${ran% *}" "$nb"
check "... shared out ($ran)" [ "${ran#* }" -ge 2 ]
expect_eq "and ended as one mover alone" "$(state | sha256sum)" "$ref"
expect_eq "one transfer and one erasure entry per batch" "$(log_ok)" "$nb $nb"
run_dom "$T/o" "$T/e" -c "$cfg" audit
check "audit: the chain intact" [ "$status" -eq 0 ]

# ---- a mover dies holding a batch; another takes it over after the lease ----
for point in copied:2 synced:2 flip:2; do
    reset
    DOMICILE_FAULT=$point "$DOMICILE" -c "$cfg" apply >/dev/null 2>&1 &
    p1=$!
    sleep 0.3
    "$DOMICILE" -c "$cfg" apply >"$T/o2" 2>"$T/e2"
    s2=$?
    wait $p1
    s1=$?
    expect_eq "a mover dies at $point (exit $s1) holding a batch; the other finishes everything (exit $s2), as one mover alone" \
        "$s1 $s2 $(state | sha256sum)" "99 0 $ref"
    expect_eq "... one transfer and one erasure entry per batch" "$(log_ok)" "$nb $nb"
done

# ---- two movers killed at random moments, then two more ----
reset
kills=0
for i in 1 2 3 4 5 6; do
    "$DOMICILE" -c "$cfg" apply >/dev/null 2>&1 &
    a=$!
    "$DOMICILE" -c "$cfg" apply >/dev/null 2>&1 &
    b=$!
    # a random moment within a sixth of a whole run: the six rounds
    # together stop the migration before it ends
    ms=$(($(od -An -N2 -tu2 /dev/urandom) % (run_ms / 6 + 1) + 50))
    sleep "$(echo "$ms" | awk '{ printf "%.3f", $1 / 1000 }')"
    # (a mover that had already exited cannot be killed: not counted)
    kill -9 "$a" 2>/dev/null && kills=$((kills + 1))
    kill -9 "$b" 2>/dev/null && kills=$((kills + 1))
    wait "$a" "$b" 2>/dev/null
done
check "the rounds killed a running mover at least 6 times of 12 ($kills)" [ "$kills" -ge 6 ]
"$DOMICILE" -c "$cfg" apply >/dev/null 2>&1 &
a=$!
"$DOMICILE" -c "$cfg" apply >/dev/null 2>&1
wait "$a"
expect_eq "after 6 rounds of two movers killed with SIGKILL, two more end as one mover alone" \
    "$(state | sha256sum)" "$ref"
expect_eq "... every batch done once in the log" "$(log_ok)" "$(batches | cut -d' ' -f2) $(batches | cut -d' ' -f2)"
run_dom "$T/o" "$T/e" -c "$cfg" verify
check "verify: 0 differences" grep -q ", 0 differences" "$T/o"
expect_eq "options.transfer_rows: the catalog keeps one entry per row each finished batch transferred" \
    "$(sql beijing cat -At -c "SELECT count(*) FROM domicile_catalog.transfer_rows r JOIN domicile_catalog.batches b ON b.id = r.batch WHERE b.step = 'done'")" \
    "$(sql beijing cat -At -c "SELECT sum(rows) FROM domicile_catalog.batches WHERE step = 'done'")"
run_dom "$T/o" "$T/e" -c "$cfg" verify --transfers
check "verify --transfers: 0 differences" grep -q ", 0 differences" "$T/o"

# a catalog that cannot be reached is named (without its password)
sed "s#^catalog: .*#catalog: postgresql://postgres:s3cret@127.0.0.1:$(port beijing)/nosuchdb#" "$cfg" >"$T/run/nocat.yaml"
run_dom "$T/o" "$T/e" -c "$T/run/nocat.yaml" status
check "an unreachable catalog: exit 3, named by its address, no password ($(head -c 120 "$T/e"))" \
    sh -c "[ $status -eq 3 ] && grep -q 'catalog postgresql://127.0.0.1:$(port beijing)/nosuchdb: cannot connect' '$T/e' && ! grep -q s3cret '$T/e'"
