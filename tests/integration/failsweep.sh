# The mover when something fails inside it: prepare, apply, verify, audit
# and a wave's rollback run with one allocation failing, and prepare, apply
# and the rollback with one write, truncate or sync of a SQLite file (a
# region's or the catalog's) failing with an I/O error, at points spread
# over the whole run, then again in the same process (fail_sweep,
# lib.sh).  Each failure ends in an error, never a crash, a leak or a
# sanitizer report (the suite's build), and the second run finishes the
# job: every region, fence and directory entry ends exactly as in a run
# without failures (I4 for errors as well as crashes).  SQLite regions;
# failsweep_pg.sh: PostgreSQL.
. "$(dirname "$0")/lib.sh"
TABLES="users devices contacts messages photos backups"
REGIONS="beijing singapore us-east"
# how many allocations of each command are made to fail (spread evenly);
# IO_POINTS: how many I/O calls
POINTS=${POINTS:-60}
IO_POINTS=${IO_POINTS:-30}

# fresh NAME: a copy of $from as $T/NAME
fresh() {
    rm -rf "${T:?}/$1"
    cp -r "$from" "$T/$1"
    echo "$T/$1/domicile.yaml"
}

# state NAME: demo_state, and the schema prepare installs
state() {
    demo_state "$T/$1"
    for r in $REGIONS; do
        sqlite3 "$T/$1/regions/$r.db" "SELECT type, name, sql FROM sqlite_schema ORDER BY 2"
    done
} 2>&1

"$DOMICILE" demo --dir "$T/tpl" --users 200 --seed 5 --no-plan >/dev/null 2>&1
sed -i 's/batch_tenants: 500/batch_tenants: 20/' "$T/tpl/domicile.yaml"
from=$T/tpl
fail_sweep prepare "$POINTS"
fail_sweep prepare "$IO_POINTS" io
"$DOMICILE" -c "$T/tpl/domicile.yaml" prepare >/dev/null
fail_sweep apply "$POINTS"
fail_sweep apply "$IO_POINTS" io
# the rollback of a wave, from the state after apply
cp -r "$T/tpl" "$T/moved"
"$DOMICILE" -c "$T/moved/domicile.yaml" apply >/dev/null 2>&1
from=$T/moved
# read only: each failure ends in an error, nothing changes, and the
# second run finds no difference and no finding
fail_sweep verify "$POINTS"
fail_sweep audit "$POINTS"
fail_sweep rollback:asia "$POINTS"
fail_sweep rollback:asia "$IO_POINTS" io
# the sweeps can tell a failure point that was never reached: one past the
# run's last allocation (or I/O call) says so
_f="$DOMICILE_BUILD/tests/tools/failrun"
n=$("$_f" verify "$(fresh nr)" 2>/dev/null)
"$_f" verify "$(fresh nr)" $((n + 1000)) >"$T/nr.out" 2>&1
check "failrun: an allocation past the last one ($((n + 1000)) of $n) is reported as not reached" grep -q '^not reached$' "$T/nr.out"
n=$("$_f" rollback:asia "$(fresh nr)" io 2>/dev/null)
"$_f" rollback:asia "$(fresh nr)" $((n + 1000)) io >"$T/nr.out" 2>&1
check "failrun: an I/O call past the last one ($((n + 1000)) of $n) is reported as not reached" grep -q '^not reached$' "$T/nr.out"
