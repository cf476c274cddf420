# Helpers for integration scenarios: TAP output, a temporary folder removed
# at exit, and small assertions.  Source it; $DOMICILE is the binary.
set -u
: "${DOMICILE:?DOMICILE must name the domicile binary}"
T=$(mktemp -d /tmp/domicile-it-XXXXXX)
# the mover hashes each batch's source again for the transfer log and
# compares with the hash its compare took
export DOMICILE_CHECK_HASH=1
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
