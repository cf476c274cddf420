# Helpers for integration scenarios: TAP output, a temporary folder removed
# at exit, and small assertions.  Source it; $DOMICILE is the binary.
set -u
: "${DOMICILE:?DOMICILE must name the domicile binary}"
T=$(mktemp -d /tmp/domicile-it-XXXXXX)
# (DOMICILE_CHECK_HASH=1, which makes the mover hash each batch's source
# again for the transfer log and compare with its compare's hash, is set
# by the scenarios for the runs that test it, not here: the other runs
# take the production path)
trap 'rm -rf "$T"' EXIT INT TERM
tap_n=0

ok() {
    tap_n=$((tap_n + 1))
    echo "ok $tap_n - $*"
}

not_ok() {
    tap_n=$((tap_n + 1))
    echo "not ok $tap_n - $*"
}

# check DESCRIPTION COMMAND...: ok when the command succeeds
check() {
    desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# expect_eq DESCRIPTION GOT EXPECTED
expect_eq() {
    if [ "$2" = "$3" ]; then
        ok "$1"
    else
        not_ok "$1 (got '$2', expected '$3')"
    fi
}

# run_dom OUTFILE ERRFILE ARGS...: runs domicile, returns its status in $status
run_dom() {
    out=$1
    err=$2
    shift 2
    "$DOMICILE" "$@" >"$out" 2>"$err"
    status=$?
}

# tx_begin NAME SQL CLIENT...: starts CLIENT (psql) reading from a fifo,
# sends it SQL and leaves its transaction open; tx_end SQL sends the rest,
# closes the fifo and waits for the client (output in $T/NAME.out).  One
# at a time.
tx_begin() {
    _name=$1
    _sql=$2
    shift 2
    mkfifo "$T/$_name.in"
    "$@" <"$T/$_name.in" >"$T/$_name.out" 2>&1 &
    tx_pid=$!
    exec 3>"$T/$_name.in"
    echo "$_sql" >&3
}
tx_end() {
    echo "$1" >&3
    exec 3>&-
    wait $tx_pid
}

# timed CMD...: runs CMD; $timed_st is its exit status, $timed_ms how many
# milliseconds it took
timed() {
    _t0=$(date +%s%N)
    "$@"
    timed_st=$?
    timed_ms=$((($(date +%s%N) - _t0) / 1000000))
}

# sum of the sha256 of every file under a folder, to prove nothing changed
tree_sum() {
    (cd "$1" && find . -type f | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -d' ' -f1
}

# journal_state: the journal's batches (their final steps, tenants, rows
# and erasures) and the transfer log (entry count, and each entry's kind,
# batch, regions, tenants and content hash, sorted: workers finish in any
# order) of a catalog whose two queries' rows are read on stdin, as text.
# Reads "B|..." journal lines and "L|{json}" log lines.
journal_state() {
    cat >"$T/journal.in"
    grep '^B|' "$T/journal.in"
    echo "transfer log: $(grep -c '^L|' "$T/journal.in") entries"
    sed -n 's/^L|//p' "$T/journal.in" |
        jq -c '[.kind, .batch, .wave, .from, .to, .region, .tenants, .tenant_digest, .content_sha256, .rows_erased]' |
        LC_ALL=C sort
}
# the two queries, for an SQLite catalog and a PostgreSQL one
JOURNAL_SQL="SELECT 'B', id, wave, src, dst, step, tenants, rows, erased FROM batches ORDER BY id; SELECT 'L', entry FROM transfer_log ORDER BY seq"
# (psql prints the result of each -c: pass them as two)
JOURNAL_PG_B="SELECT 'B', id, wave, src, dst, step, tenants, rows, erased FROM domicile_catalog.batches ORDER BY id"
JOURNAL_PG_L="SELECT 'L', entry FROM domicile_catalog.transfer_log ORDER BY seq"

# demo_state DIR: every tenant row, fence and directory entry of a demo
# folder on SQLite ($REGIONS, $TABLES), and its journal and transfer log,
# as text
demo_state() {
    for _r in $REGIONS; do
        for _t in $TABLES; do
            sqlite3 "$1/regions/$_r.db" "SELECT * FROM $_t ORDER BY 1, 2"
        done
        sqlite3 "$1/regions/$_r.db" "SELECT tenant, state, home, epoch FROM domicile_fence ORDER BY 1" 2>/dev/null
    done
    sqlite3 "$1/domicile.db" "SELECT tenant, region, epoch, state FROM directory ORDER BY 1"
    sqlite3 "$1/domicile.db" "$JOURNAL_SQL" | journal_state
} 2>&1

# fail_sweep COMMAND POINTS [io]: runs COMMAND (tests/tools/failrun's:
# apply, rollback:WAVE, prepare, verify, audit) once without failures,
# then POINTS times with one allocation failing (with `io`: one write,
# truncate or sync of a SQLite file), at points spread over the run, each
# followed by a second run in the same process; TAP lines for the lot.  The caller
# defines `fresh NAME` (fresh copies of the regions and catalog as NAME;
# prints the config's path) and `state NAME` (everything a run may change,
# as text).
fail_sweep() {
    _cmd=$1
    _points=$2
    _io=${3:-}
    _what=allocation
    [ -n "$_io" ] && _what="I/O call"
    # SWEEP_LABEL, when set, tells sweeps of the same command apart
    _what="${SWEEP_LABEL:+$SWEEP_LABEL, }$_what"
    _f="$DOMICILE_BUILD/tests/tools/failrun"
    _cfg=$(fresh ref)
    # shellcheck disable=SC2086
    "$_f" "$_cmd" "$_cfg" $_io >"$T/count" 2>"$T/err"
    check "$_cmd ($_what): a run without failures succeeds" [ $? -eq 0 ]
    _n=$(cat "$T/count")
    state ref >"$T/ref.state"
    _step=$((_n / _points))
    [ "$_step" -lt 1 ] && _step=1
    _failed=0 _crashed=0 _unfinished=0 _differ=0 _runs=0 _unreached=0 _i=0
    while [ "$_i" -lt "$_n" ]; do
        _cfg=$(fresh run)
        # shellcheck disable=SC2086
        "$_f" "$_cmd" "$_cfg" "$_i" $_io >"$T/out" 2>"$T/err"
        _rc=$?
        _runs=$((_runs + 1))
        _fired=fired
        grep -q '^fired$' "$T/out" || { _fired="NOT REACHED"; _unreached=$((_unreached + 1)); }
        _first=absorbed
        grep -q '^failed: ' "$T/out" && { _failed=$((_failed + 1)); _first=failed; }
        echo "# $_what $_i of $_n: $_fired, first run $_first"
        if grep -q 'ERROR: \|runtime error' "$T/err"; then
            _crashed=$((_crashed + 1))
            echo "# $_what $_i: $(grep -m 1 'ERROR: \|runtime error' "$T/err")"
        elif [ "$_rc" -ne 0 ]; then
            _unfinished=$((_unfinished + 1))
            echo "# $_what $_i: the second run failed: $(tail -n 1 "$T/err")"
        fi
        state run >"$T/run.state"
        if ! cmp -s "$T/ref.state" "$T/run.state"; then
            _differ=$((_differ + 1))
            echo "# $_what $_i: the regions differ from a run without failures:"
            diff "$T/ref.state" "$T/run.state" | head -n 6 | sed 's/^/#   /'
        fi
        _i=$((_i + _step))
    done
    expect_eq "$_cmd ($_what): runs whose failure point was not reached" "$_unreached" 0
    # (some failures are absorbed by design: a checkpoint between batches
    # that fails is left for the next one)
    check "$_cmd ($_what): the failures made first runs fail ($_failed of $_runs)" \
        [ "$((_failed * 4))" -gt "$_runs" ]
    expect_eq "$_cmd ($_what): runs that crashed, leaked or tripped a sanitizer" "$_crashed" 0
    expect_eq "$_cmd ($_what): second runs that did not finish the job" "$_unfinished" 0
    expect_eq "$_cmd ($_what): runs whose regions differ from a run without failures" "$_differ" 0
}
