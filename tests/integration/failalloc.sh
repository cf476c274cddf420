# The mover when an allocation fails: prepare, apply and a wave's rollback
# run with one allocation failing, at points spread over the whole run,
# then again in the same process.  Each failure ends in an error, never a crash,
# a leak or a sanitizer report (the suite's build), and the second run
# finishes the job: every region, fence and directory entry ends exactly
# as in a run without failures (I4 for errors as well as crashes).
. "$(dirname "$0")/lib.sh"
F="$DOMICILE_BUILD/tests/tools/failrun"
TABLES="users devices contacts messages photos backups"
REGIONS="beijing singapore us-east"
# POINTS: how many allocations of each run are made to fail (spread evenly)
POINTS=${POINTS:-90}

state() {
    for r in $REGIONS; do
        for t in $TABLES; do
            sqlite3 "$1/regions/$r.db" "SELECT * FROM $t ORDER BY 1, 2"
        done
        sqlite3 "$1/regions/$r.db" "SELECT tenant, state, home, epoch FROM domicile_fence ORDER BY 1"
        sqlite3 "$1/regions/$r.db" "SELECT type, name, sql FROM sqlite_schema ORDER BY 2"
    done
    sqlite3 "$1/domicile.db" "SELECT tenant, region, epoch, state FROM directory ORDER BY 1"
} 2>&1

"$DOMICILE" demo --dir "$T/tpl" --users 200 --seed 5 --no-plan >/dev/null 2>&1
sed -i 's/batch_tenants: 500/batch_tenants: 20/' "$T/tpl/domicile.yaml"

# sweep COMMAND TEMPLATE: fails POINTS allocations of COMMAND (failrun's:
# apply, rollback:WAVE, prepare) on copies of TEMPLATE, one per run
sweep() {
    name=$1
    tpl=$2
    rm -rf "$T/ref"
    cp -r "$tpl" "$T/ref"
    "$F" "$name" "$T/ref/domicile.yaml" >"$T/count" 2>"$T/err"
    check "$name: a run without failures succeeds" [ $? -eq 0 ]
    n=$(cat "$T/count")
    state "$T/ref" >"$T/ref.state"
    step=$((n / POINTS))
    [ "$step" -lt 1 ] && step=1
    failed=0 crashed=0 unfinished=0 differ=0 runs=0
    i=0
    while [ "$i" -lt "$n" ]; do
        rm -rf "$T/run"
        cp -r "$tpl" "$T/run"
        "$F" "$name" "$T/run/domicile.yaml" "$i" >"$T/out" 2>"$T/err"
        rc=$?
        runs=$((runs + 1))
        grep -q '^failed: ' "$T/out" && failed=$((failed + 1))
        if grep -q 'ERROR: \|runtime error' "$T/err"; then
            crashed=$((crashed + 1))
            echo "# allocation $i: $(grep -m 1 'ERROR: \|runtime error' "$T/err")"
        elif [ "$rc" -ne 0 ]; then
            unfinished=$((unfinished + 1))
            echo "# allocation $i: the second run failed: $(tail -n 1 "$T/err")"
        fi
        state "$T/run" >"$T/run.state"
        if ! cmp -s "$T/ref.state" "$T/run.state"; then
            differ=$((differ + 1))
            echo "# allocation $i: the regions differ from a run without failures"
        fi
        i=$((i + step))
    done
    check "$name: the failing allocations made the first run fail ($failed of $runs)" [ "$failed" -gt $((runs / 2)) ]
    expect_eq "$name: runs that crashed, leaked or tripped a sanitizer" "$crashed" 0
    expect_eq "$name: second runs that did not finish the job" "$unfinished" 0
    expect_eq "$name: runs whose regions differ from a run without failures" "$differ" 0
}

sweep prepare "$T/tpl"
"$DOMICILE" -c "$T/tpl/domicile.yaml" prepare >/dev/null
sweep apply "$T/tpl"
# the rollback of a wave, from the state after apply
cp -r "$T/tpl" "$T/moved"
"$DOMICILE" -c "$T/moved/domicile.yaml" apply >/dev/null 2>&1
sweep rollback:asia "$T/moved"
