# The mover when something fails inside it: prepare, apply, verify, audit
# and a wave's rollback run with one allocation failing, and prepare, apply
# and the rollback with one write, truncate or sync of a SQLite file (a
# region's or the catalog's) failing with an I/O error, at points spread
# over the whole run, then again in the same process (fail_sweep,
# lib.sh).  Each failure ends in an error, never a crash, a leak or a
# sanitizer report (the suite's build), and the second run finishes the
# job: every region, fence and directory entry ends exactly as in a run
# without failures (I4 for errors as well as crashes).  SQLite regions;
# failsweep_pg.sh: PostgreSQL.  This part: prepare and apply;
# failsweep_after.sh: verify, audit and the rollback, after a move.
. "$(dirname "$0")/lib.sh"
sqlite_sweep_setup
from=$T/tpl
fail_sweep prepare "$POINTS"
fail_sweep prepare "$IO_POINTS" io
"$DOMICILE" -c "$T/tpl/domicile.yaml" prepare >/dev/null
fail_sweep apply "$POINTS"
fail_sweep apply "$IO_POINTS" io
