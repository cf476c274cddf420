# failsweep.sh's second part, after a move: verify, audit and a wave's
# rollback run with one allocation failing, and the rollback with one
# write, truncate or sync of a SQLite file (a region's or the catalog's)
# failing with an I/O error, at points spread over the whole run, then
# again in the same process (fail_sweep, lib.sh), checked as in
# failsweep.sh.
. "$(dirname "$0")/lib.sh"
sqlite_sweep_setup
"$DOMICILE" -c "$T/tpl/domicile.yaml" prepare >/dev/null
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
