# Helpers for integration scenarios: TAP output, a folder for the
# scenario's files, cleanup at exit, and small assertions.  Source it.
# $DOMICILE is the binary and $DOMICILE_BUILD its build (default: build/
# of this tree, so `sh tests/integration/NAME.sh` runs on its own once
# `make unit-bins` has built it; tests/run.sh NAME does both).
set -u
_top=$(cd "$(dirname "$0")/../.." && pwd)
: "${DOMICILE_BUILD:=$_top/build}"
: "${DOMICILE:=$DOMICILE_BUILD/domicile}"
export DOMICILE DOMICILE_BUILD
if [ ! -x "$DOMICILE" ]; then
    echo "not ok 1 - no binary $DOMICILE (make unit-bins, or tests/run.sh $(basename "$0" .sh))"
    exit 1
fi
# $T: the scenario's files.  Under tests/run.sh it is the job's folder,
# which tests/run.sh removes when the scenario passes and keeps when it
# fails; otherwise a temporary folder removed at exit.
if [ -n "${DOMICILE_TEST_STATE:-}" ]; then
    T=$DOMICILE_TEST_STATE
    mkdir -p "$T"
    _own_T=0
else
    T=$(mktemp -d /tmp/domicile-it-XXXXXX)
    _own_T=1
fi
# (DOMICILE_CHECK_HASH=1, which makes the mover hash each batch's source
# again for the transfer log and compare with its compare's hash, is set
# by the scenarios for the runs that test it, not here: the other runs
# take the production path)
# at_exit COMMANDS: what the scenario's end must do before its folder goes
# (stop servers, proxies, writers); it runs on a normal end, on an exit
# after a failure, and when the scenario is stopped (TERM, INT).
_at_exit=
at_exit() { _at_exit=$1; }
_lib_end() {
    eval "$_at_exit"
    [ "$_own_T" = 0 ] || rm -rf "$T"
}
trap '_lib_end' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
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

# rate_over CMD SECONDS: the rows per second that CMD (a command printing
# a running count of rows, e.g. a test's `moved`) grew by over SECONDS
rate_over() {
    _r0=$($1)
    sleep "$2"
    _r1=$($1)
    echo $(((_r1 - _r0) / $2))
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
# Batches are named by their rank: a PostgreSQL catalog's ids have gaps
# where a mover was killed inside a planning transaction (a sequence
# hands out numbers that a rollback does not take back).
journal_state() {
    cat >"$T/journal.in"
    _ranks=$(grep '^B|' "$T/journal.in" | awk -F'|' '{ printf "%s\"%s\": %d", (NR > 1 ? ", " : "{"), $2, NR } END { print NR ? "}" : "{}" }')
    grep '^B|' "$T/journal.in" | awk -F'|' 'BEGIN { OFS = "|" } { $2 = NR; print }'
    echo "transfer log: $(grep -c '^L|' "$T/journal.in") entries"
    sed -n 's/^L|//p' "$T/journal.in" |
        jq -c --argjson r "$_ranks" '[.kind, $r[.batch | tostring], .wave, .from, .to, .region, .tenants, .tenant_digest, .content_sha256, .rows_erased]' |
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
    # over the first 95% of the calls: a run's count varies by a few (a
    # WAL checkpoint between batches happens or not), so a point among the
    # very last ones may lie past the end of a run
    _end=$((_n * 95 / 100))
    [ "$_end" -lt 1 ] && _end=1
    _step=$((_end / _points))
    [ "$_step" -lt 1 ] && _step=1
    _failed=0 _crashed=0 _unfinished=0 _differ=0 _runs=0 _unreached=0 _i=0
    while [ "$_i" -lt "$_end" ]; do
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

# ---- the application of indirect.sh and indirect_pg.sh ----
# Accounts (tenants, key id), notes (direct: account_id), attachments
# (indirect: note_id, ON DELETE CASCADE), orders / order_items /
# item_notes (indirect, composite links), countries (global); $cfg is the
# config, regions beijing, singapore and us-east.  The scenario defines
#   app_read REGION SQL:  prints the rows ("|"-separated)
#   app_write REGION SQL: runs a write with foreign keys enforced; prints
#                         the rows it changed, or the error

# app_writer N: for its accounts, inserts attachments and item notes and
# deletes notes (their attachments cascade), each at the account's home as
# `locate` tells, retrying what the region refuses as moving or moved;
# logs "A id", "I remark" and "D note" to $T/wN.log for what the region
# acknowledged, "ERROR ..." for anything else.  Runs until $T/stop exists.
app_writer() {
    _n=$1
    _out="$T/w$_n.log"
    : >"$_out"
    _i=0
    while [ ! -f "$T/stop" ] || [ $_i -lt 20 ]; do
        _i=$((_i + 1))
        _acct=$(((_n * 37 + _i * 7) % 300 + 1))
        _home=$("$DOMICILE" -c "$cfg" locate "$_acct" 2>/dev/null | cut -d' ' -f1)
        [ -n "$_home" ] || continue
        case $((_i % 3)) in
        0) _sql="INSERT INTO attachments (id, note_id, data) SELECT $((_n * 1000000 + _i)), min(id), NULL FROM notes WHERE account_id = $_acct HAVING count(*) > 0"
           _ack="A $((_n * 1000000 + _i))" ;;
        1) _sql="INSERT INTO item_notes SELECT o_owner, o_no, line, 'w$_n-$_i' FROM order_items WHERE o_owner = $_acct ORDER BY o_no, line LIMIT 1"
           _ack="I w$_n-$_i" ;;
        2) _note=$(app_read "$_home" "SELECT max(id) FROM notes WHERE account_id = $_acct" 2>/dev/null)
           [ -n "$_note" ] || continue
           _sql="DELETE FROM notes WHERE id = $_note AND (SELECT count(*) FROM notes WHERE account_id = $_acct) > 1"
           _ack="D $_note" ;;
        esac
        _r=$(app_write "$_home" "$_sql" 2>&1)
        case $_r in
        *"is moving; retry"* | *"lives in region"* | *"is not in region"* | *"could not serialize"*) continue ;;
        [0-9]*) [ "$_r" -gt 0 ] && echo "$_ack" >>"$_out" ;;
        *) echo "ERROR $_r" >>"$_out" ;;
        esac
    done
}

# run_killed CMD...: runs `domicile -c $cfg CMD` until it exits on its own,
# killing it (-9) at random moments, at most 40 times; $kills counts them
run_killed() {
    _k=0
    while :; do
        "$DOMICILE" -c "$cfg" "$@" >"$T/o" 2>"$T/e" &
        _pid=$!
        sleep "0.$(shuf -i 5-60 -n 1)"
        _k=$((_k + 1))
        if [ $_k -le 40 ] && kill -9 $_pid 2>/dev/null; then
            wait $_pid 2>/dev/null
            kills=$((kills + 1))
        else
            wait $_pid
            _st=$?
            [ $_st -eq 0 ] && return 0
            [ $_st -eq 4 ] && continue
            cat "$T/e"
            return $_st
        fi
    done
}

# app_everywhere SQL: the rows of a query in every region, each prefixed
# with "REGION|"
app_everywhere() {
    for _r in beijing singapore us-east; do app_read "$_r" "$1" | sed "s/^/$_r|/"; done
}

# app_check_writes CATALOG_DB: TAP lines: the writers met no error, wrote
# every kind, and every acknowledged write sits at its tenant's home
# exactly once (by the catalog's directory, an SQLite file); no deleted
# note nor its attachments is anywhere.  Sets $deleted (the notes).
app_check_writes() {
    check "no writer met an error" sh -c "! cat '$T'/w*.log | grep '^ERROR'"
    cat "$T"/w*.log | grep '^ERROR' | head -3
    _acks=$(cat "$T"/w*.log | wc -l)
    check "the writers' acknowledged writes ($_acks) include every kind" \
        sh -c "cat '$T'/w*.log | cut -c1 | sort -u | tr -d '\n' | grep -qx ADI"
    app_everywhere "SELECT x.id, n.account_id FROM attachments x JOIN notes n ON n.id = x.note_id WHERE x.id >= 1000000" >"$T/got.A"
    app_everywhere "SELECT remark, i_owner FROM item_notes WHERE remark LIKE 'w%'" >"$T/got.I"
    sqlite3 "$1" "SELECT tenant, region FROM directory" >"$T/dir"
    expect_eq "every row the writers added sits at its tenant's home" \
        "$(awk -F'|' 'FILENAME ~ /dir$/ { home[$1] = $2; next } home[$3] != $1 { n++ } END { print n + 0 }' "$T/dir" "$T/got.A" "$T/got.I")" "0"
    expect_eq "every acknowledged attachment is there exactly once" \
        "$(sed -n 's/^A //p' "$T"/w*.log | sort -n | tr '\n' ' ')" "$(cut -d'|' -f2 "$T/got.A" | sort -n | tr '\n' ' ')"
    expect_eq "every acknowledged item note is there exactly once" \
        "$(sed -n 's/^I //p' "$T"/w*.log | sort | tr '\n' ' ')" "$(cut -d'|' -f2 "$T/got.I" | sort | tr '\n' ' ')"
    deleted=$(sed -n 's/^D //p' "$T"/w*.log | sort -u | tr '\n' ',' | sed 's/,$//')
    expect_eq "no deleted note nor its attachments is anywhere" \
        "$(app_everywhere "SELECT 'n', id FROM notes WHERE id IN ($deleted) UNION ALL SELECT 'a', id FROM attachments WHERE note_id IN ($deleted)" | wc -l)" "0"
}
