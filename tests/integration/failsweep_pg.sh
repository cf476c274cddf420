# failsweep.sh on PostgreSQL regions (the store that streams COPY and
# pipelines its statements): prepare, apply, verify, audit and a wave's
# rollback with one allocation failing at points spread over the run, each
# followed by a second run in the same process (fail_sweep, lib.sh), which
# must leave every row, fence, directory entry and trigger as a run
# without failures.  One server started for the test; the three regions
# are three databases on it, copied from templates for every run; apply
# also with a PostgreSQL catalog.
#
# Then prepare, apply and the rollback run through tests/tools/cutproxy,
# which breaks the connection carrying its Nth chunk of traffic
# (cut_sweep): a connection that dies in the middle of a protocol step, a
# COPY, or between a COMMIT and its answer; apply and the rollback also
# between a SQLite beijing and the PostgreSQL regions (rows decoded and
# written with staged merges).  The command must fail cleanly, naming
# what it lost, and the same command run straight to the server must
# finish the job.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg.sh"
cut_pid=
at_exit '[ -n "$cut_pid" ] && kill "$cut_pid"; pg_stop_all'
TABLES="users devices contacts messages photos backups"
DBS="beijing singapore us_east"
POINTS=${POINTS:-25}
CAT_POINTS=${CAT_POINTS:-15}
CUT_POINTS=${CUT_POINTS:-10}
CUTPROXY=$DOMICILE_BUILD/tests/tools/cutproxy

pg_start pg || { not_ok "start PostgreSQL"; exit 1; }
PORT=$(cat "$PGROOT/pg/port")
sql() { db=$1; shift; "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$db" "$@"; }

"$DOMICILE" demo --dir "$T/src" --users 200 --seed 5 --no-plan >/dev/null 2>&1
for d in $DBS; do sql postgres -c "CREATE DATABASE t_$d"; done
pg_load_demo "$T/src/regions/beijing.db" "$PGBIN/psql" -X -h 127.0.0.1 -p "$PORT" -U postgres -d t_beijing ||
    not_ok "load the demo into beijing"
for d in singapore us_east; do "$DOMICILE" demo --print-schema postgresql | sql "t_$d" >/dev/null; done

# the catalog: a SQLite file next to the config, or with pgcat=1 the
# database NAME_cat (the kind several movers share)
pgcat=0
cat_dbs() { [ "$pgcat" = 1 ] && echo cat; }
# with mixed=1, beijing is the SQLite file regions/beijing.db next to the
# config (the moves then decode rows and write them with staged merges)
mixed=0
pg_dbs() { if [ "$mixed" = 1 ]; then echo singapore us_east; else echo $DBS; fi; }

# config NAME: the demo's config on databases NAME_*, catalog in $T/NAME
# (or NAME_cat)
config() {
    mkdir -p "$T/$1"
    _b="postgresql://postgres@127.0.0.1:$PORT/$1_beijing"
    [ "$mixed" = 1 ] && _b=sqlite:regions/beijing.db
    sed "s#sqlite:regions/beijing.db#$_b#;
         s#sqlite:regions/singapore.db#postgresql://postgres@127.0.0.1:$PORT/$1_singapore#;
         s#sqlite:regions/us-east.db#postgresql://postgres@127.0.0.1:$PORT/$1_us_east#;
         s/batch_tenants: 500/batch_tenants: 20/" "$T/src/domicile.yaml" >"$T/$1/domicile.yaml"
    [ "$pgcat" = 1 ] &&
        sed -i "s#^catalog: .*#catalog: postgresql://postgres@127.0.0.1:$PORT/$1_cat#" "$T/$1/domicile.yaml"
    echo "$T/$1/domicile.yaml"
}

# fresh NAME: the databases $from_* and the catalog of $from as NAME
fresh() {
    _f=$1
    set -- -c "SET client_min_messages = warning"
    for d in $(pg_dbs) $(cat_dbs); do
        # (the small databases copy faster file by file than through the WAL)
        set -- "$@" -c "DROP DATABASE IF EXISTS ${_f}_$d WITH (FORCE)" \
            -c "CREATE DATABASE ${_f}_$d TEMPLATE ${from}_$d STRATEGY file_copy"
    done
    sql postgres "$@"
    set -- "$_f"
    rm -rf "${T:?}/$1"
    config "$1" >/dev/null
    [ -f "$T/$from/domicile.db" ] && cp "$T/$from/domicile.db" "$T/$1/domicile.db"
    if [ "$mixed" = 1 ]; then
        mkdir -p "$T/$1/regions"
        cp "$T/$from/regions/beijing.db" "$T/$1/regions/"
    fi
    echo "$T/$1/domicile.yaml"
}

# state NAME: every row, trigger, fence and directory entry of NAME, and
# its journal and transfer log, as text (one client per database; the fences last, as they are missing
# before prepare)
state() {
    _s=$1
    if [ "$mixed" = 1 ]; then
        _q=
        for t in $TABLES; do _q="$_q SELECT * FROM $t ORDER BY 1, 2;"; done
        sqlite3 "$T/$_s/regions/beijing.db" "$_q SELECT name FROM sqlite_master WHERE type = 'trigger'
            ORDER BY 1; SELECT tenant, state, home, epoch FROM domicile_fence ORDER BY 1"
    fi
    for d in $(pg_dbs); do
        set --
        for t in $TABLES; do set -- "$@" -c "SELECT * FROM $t ORDER BY 1, 2"; done
        sql "${_s}_$d" "$@" \
            -c "SELECT tgname, tgrelid::regclass FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2" \
            -c "SELECT tenant, state, home, epoch FROM domicile.fence ORDER BY 1"
    done
    if [ "$pgcat" = 1 ]; then
        sql "${_s}_cat" -c "SELECT tenant, region, epoch, state FROM domicile_catalog.directory ORDER BY 1"
        sql "${_s}_cat" -c "$JOURNAL_PG_B" -c "$JOURNAL_PG_L" | journal_state
    else
        sqlite3 "$T/$_s/domicile.db" "SELECT tenant, region, epoch, state FROM directory ORDER BY 1"
        sqlite3 "$T/$_s/domicile.db" "$JOURNAL_SQL" | journal_state
    fi
} 2>&1

# cut_run NAME CUT ARGS...: `domicile ARGS` on the config of NAME with every
# connection through cutproxy cutting at chunk CUT (0: none); $cut_rc is
# its exit status, $cut_chunks the chunks the proxy saw, $cut_done "cut"
# when the cut came ("uncut" otherwise), stderr in $T/err
cut_run() {
    _name=$1
    _cut=$2
    shift 2
    rm -f "$T/proxy.port"
    "$CUTPROXY" "$T/proxy.port" "$PORT" "$_cut" >"$T/proxy.out" 2>&1 &
    cut_pid=$!
    _w=0
    while [ ! -s "$T/proxy.port" ] && [ "$_w" -lt 250 ]; do
        sleep 0.02
        _w=$((_w + 1))
    done
    sed "s#127.0.0.1:$PORT/#127.0.0.1:$(cat "$T/proxy.port")/#" "$T/$_name/domicile.yaml" \
        >"$T/$_name/cut.yaml"
    "$DOMICILE" -c "$T/$_name/cut.yaml" "$@" >"$T/out" 2>"$T/err"
    cut_rc=$?
    kill -TERM "$cut_pid"
    wait "$cut_pid"
    cut_pid=
    read -r cut_chunks cut_done <"$T/proxy.out"
}

# cut_sweep POINTS ARGS...: `domicile ARGS` once through the proxy without
# a cut, then POINTS times with the connection that carries chunk N cut (N
# spread over the run), each followed by `domicile ARGS` straight to the
# server; TAP lines for the lot.
cut_sweep() {
    _points=$1
    shift
    _what="$*${SWEEP_LABEL:+, $SWEEP_LABEL}"
    fresh ref >/dev/null
    cut_run ref 0 "$@"
    check "$_what (connection cuts): a run through the proxy without a cut succeeds" \
        [ "$cut_rc" -eq 0 ]
    # (the points spread over the first 95% of the chunks: a run's count
    # varies by a few chunks, and a cut past a run's last one would not be
    # reached; the last 5% are the closing messages)
    _ref=$cut_chunks
    _n=$((cut_chunks * 95 / 100))
    state ref >"$T/ref.state"
    _step=$((_n / _points))
    [ "$_step" -lt 1 ] && _step=1
    _failed=0 _crashed=0 _unnamed=0 _unfinished=0 _differ=0 _runs=0 _unreached=0 _i=1
    while [ "$_i" -le "$_n" ]; do
        fresh run >/dev/null
        cut_run run "$_i" "$@"
        _at=$_i
        if [ "$cut_done" = uncut ] && [ "$cut_chunks" -lt "$_i" ]; then
            # this run took fewer chunks than the reference (a catch-up
            # round less): once more, cut at the same share of its own
            echo "# cut at chunk $_i of $_n: the run ended at chunk $cut_chunks, cut again"
            _at=$((cut_chunks * _i / _ref))
            [ "$_at" -lt 1 ] && _at=1
            fresh run >/dev/null
            cut_run run "$_at" "$@"
        fi
        _runs=$((_runs + 1))
        [ "$cut_done" = cut ] || _unreached=$((_unreached + 1))
        echo "# cut at chunk $_at of $_n: ${cut_done:-no answer from the proxy}, exit $cut_rc"
        if grep -q 'ERROR: \|runtime error' "$T/err"; then
            _crashed=$((_crashed + 1))
            echo "# cut at chunk $_at: $(grep -m 1 'ERROR: \|runtime error' "$T/err")"
        elif [ "$cut_rc" -ne 0 ]; then
            _failed=$((_failed + 1))
            # what was lost: the region by its name in the config (not a
            # database name in libpq's text), or the catalog by its DSN
            if ! grep -q 'region "\(beijing\|singapore\|us-east\)"\|catalog postgresql://\|catalog /' "$T/err"; then
                _unnamed=$((_unnamed + 1))
                echo "# cut at chunk $_at: the error names no region: $(head -n 1 "$T/err")"
            fi
        fi
        "$DOMICILE" -c "$T/run/domicile.yaml" "$@" >"$T/out" 2>"$T/err"
        _rc=$?
        if [ "$_rc" -ne 0 ]; then
            _unfinished=$((_unfinished + 1))
            echo "# cut at chunk $_at: the second run failed: $(tail -n 1 "$T/err")"
        fi
        state run >"$T/run.state"
        if ! cmp -s "$T/ref.state" "$T/run.state"; then
            _differ=$((_differ + 1))
            echo "# cut at chunk $_at: the regions differ from a run without a cut"
        fi
        _i=$((_i + _step))
    done
    expect_eq "$_what (connection cuts): runs whose cut was not reached" "$_unreached" 0
    check "$_what (connection cuts): the cuts made first runs fail ($_failed of $_runs)" \
        [ "$((_failed * 4))" -gt "$_runs" ]
    expect_eq "$_what (connection cuts): runs that crashed, leaked or tripped a sanitizer" "$_crashed" 0
    expect_eq "$_what (connection cuts): failures that name no region" "$_unnamed" 0
    expect_eq "$_what (connection cuts): second runs that did not finish the job" "$_unfinished" 0
    expect_eq "$_what (connection cuts): runs whose regions differ from a run without a cut" "$_differ" 0
}

config t >/dev/null
from=t
fail_sweep prepare "$POINTS"
cut_sweep "$CUT_POINTS" prepare
# the proxy tells a cut that never came: one past the run's last chunk
fresh nr >/dev/null
cut_run nr 100000000 prepare
expect_eq "cutproxy: a cut past the last chunk ($cut_chunks chunks) is reported as not made" "$cut_done" uncut
fresh nr >/dev/null
cut_run nr 1 prepare
expect_eq "cutproxy: a cut at the first chunk is reported as made" "$cut_done" cut
"$DOMICILE" -c "$(config t)" prepare >/dev/null
fail_sweep apply "$POINTS"
# the rollback of a wave, from the state after apply
fresh moved >/dev/null
"$DOMICILE" -c "$T/moved/domicile.yaml" apply >/dev/null 2>&1
from=moved
fail_sweep verify "$POINTS"
fail_sweep audit "$POINTS"
fail_sweep rollback:asia "$POINTS"
# apply with a PostgreSQL catalog: the prepared regions of t, the catalog
# filled by prepare
pgcat=1
for d in $DBS; do sql postgres -c "CREATE DATABASE pc_$d TEMPLATE t_$d"; done
sql postgres -c "CREATE DATABASE pc_cat"
"$DOMICILE" -c "$(config pc)" prepare >/dev/null
from=pc
SWEEP_LABEL="PostgreSQL catalog" fail_sweep apply "$CAT_POINTS"

# the connection cuts of apply and the rollback: the regions of t (the
# catalog of t filled by its prepare), and of moved
pgcat=0
SWEEP_LABEL=
from=t
cut_sweep "$CUT_POINTS" apply
from=moved
cut_sweep "$CUT_POINTS" rollback --wave asia
pgcat=1
from=pc
SWEEP_LABEL="PostgreSQL catalog" cut_sweep "$CUT_POINTS" apply
# a SQLite source and PostgreSQL targets: the demo's beijing file, the
# schema alone in singapore and us-east
pgcat=0
mixed=1
SWEEP_LABEL=
for d in singapore us_east; do
    sql postgres -c "CREATE DATABASE mx_$d"
    "$DOMICILE" demo --print-schema postgresql | sql "mx_$d" >/dev/null
done
mkdir -p "$T/mx/regions"
cp "$T/src/regions/beijing.db" "$T/mx/regions/"
"$DOMICILE" -c "$(config mx)" prepare >/dev/null
from=mx
SWEEP_LABEL="SQLite source" cut_sweep "$CUT_POINTS" apply
# and back: the rollback of a wave into the SQLite region
fresh mxm >/dev/null
"$DOMICILE" -c "$T/mxm/domicile.yaml" apply >/dev/null 2>&1
from=mxm
SWEEP_LABEL="SQLite source" cut_sweep "$CUT_POINTS" rollback --wave asia
