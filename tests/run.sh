#!/usr/bin/env bash
# Runs the unit tests of a build (cmocka) and the integration scenarios of
# tests/integration (TAP lines), several at a time, and ends with the line
# "N passed, N failed".
#
#   tests/run.sh [--build DIR] [-j N] [--timeout SECONDS] [NAME...]
#
# --build DIR   the build to test (default build; `make test` passes
#               build/asan).  build and build/asan are brought up to date
#               with make first; another folder must hold its binaries.
# -j N          jobs at a time (default: the machine's cores), besides the
#               jobs tests/durations marks nice, which start at once
# --timeout S   a job still running after S seconds is stopped and counted
#               as failed (default 2400)
# NAME          run only these: a scenario (mover, mover_pg.sh) or a unit
#               test (test_policy); shell patterns work (`'*_pg'`)
#
# Each job gets a folder of its own under one state folder; the scenarios
# keep their files there ($T in lib.sh).  The folders of passing jobs are
# removed; a failed job's folder (its files, its output in output.log, its
# servers' logs) is kept and the summary says where.  A scenario that
# cannot run here (no PostgreSQL server) prints "1..0 # SKIP reason" and
# is listed as skipped; `make test` sets DOMICILE_PG_REQUIRED=1, which
# makes that a failure instead.  tests/durations lists each job's seconds
# as last measured (the longest start first), marks the jobs that must run
# with no other job beside them ("alone": they measure rates or round
# trips), and those that run beside everything but yield the CPU to those
# ("nice": the fault sweeps).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 70

usage() {
    sed -n '/^#   tests/p' "$0" | sed 's/^#   /usage: /' >&2
    exit 64
}

BUILD=build
jobs=$(nproc 2>/dev/null || echo 1)
timeout_s=2400
names=()
while [ $# -gt 0 ]; do
    case $1 in
    --build) [ $# -ge 2 ] || usage; BUILD=$2; shift 2 ;;
    --build=*) BUILD=${1#*=}; shift ;;
    -j) [ $# -ge 2 ] || usage; jobs=$2; shift 2 ;;
    -j*) jobs=${1#-j}; shift ;;
    --jobs=*) jobs=${1#*=}; shift ;;
    --timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
    --timeout=*) timeout_s=${1#*=}; shift ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "tests/run.sh: unknown option '$1'" >&2; usage ;;
    *)
        # a folder holding a build is the build (tests/run.sh build/asan)
        if [ -x "$1/domicile" ] && [ ${#names[@]} -eq 0 ]; then BUILD=$1; else names+=("${1%.sh}"); fi
        shift
        ;;
    esac
done
case $jobs in '' | *[!0-9]* | 0) echo "tests/run.sh: -j wants a positive number" >&2; exit 64 ;; esac
case $timeout_s in '' | *[!0-9]* | 0) echo "tests/run.sh: --timeout wants seconds" >&2; exit 64 ;; esac

case $BUILD in
build) make --no-print-directory -s unit-bins >&2 || exit 70 ;;
build/asan) make --no-print-directory -s asan-bins >&2 || exit 70 ;;
*) [ -x "$BUILD/domicile" ] || { echo "tests/run.sh: no $BUILD/domicile; build it first" >&2; exit 66; } ;;
esac

export DOMICILE="$top/$BUILD/domicile"
export DOMICILE_BUILD="$top/$BUILD"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# the jobs: unit binaries and scenarios, those asked for
all=()
for t in "$BUILD"/tests/test_*; do [ -x "$t" ] && all+=("$(basename "$t")"); done
for s in tests/integration/*.sh; do
    n=$(basename "$s" .sh)
    [ "$n" = lib ] || all+=("$n")
done
todo=()
for n in "${all[@]}"; do
    if [ ${#names[@]} -eq 0 ]; then todo+=("$n"); continue; fi
    for want in "${names[@]}"; do
        # shellcheck disable=SC2254
        case $n in $want) todo+=("$n"); break ;; esac
    done
done
if [ ${#todo[@]} -eq 0 ]; then
    echo "tests/run.sh: nothing matches ${names[*]}" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

# longest first (tests/durations: "NAME SECONDS"; a job not listed counts
# as long, so that a new scenario does not end up last)
order=$(for n in "${todo[@]}"; do
    s=$(awk -v n="$n" '$1 == n { print $2 }' tests/durations 2>/dev/null)
    case $n in test_*) s=${s:-5} ;; esac
    echo "${s:-600} $n"
done | sort -k1,1nr -k2 | awk '{ print $2 }')

state=$(mktemp -d "${TMPDIR:-/tmp}/domicile-tests-XXXXXX")
chmod 755 "$state"
declare -A pid_of=() start_of=()
passed=0
failed=0
skipped=()
kept=()
times=()

# is_nice NAME, is_alone NAME: tests/durations marks the job so
is_nice() { awk -v n="$1" '$1 == n && $3 == "nice" { f = 1 } END { exit !f }' tests/durations 2>/dev/null; }
is_alone() { awk -v n="$1" '$1 == n && $3 == "alone" { f = 1 } END { exit !f }' tests/durations 2>/dev/null; }

# start NAME: runs the job in the background, in a process group of its
# own (timeout's, whose pid is $!), with its output and files in $state/NAME.
start() {
    local n=$1 d="$state/$1"
    mkdir -p "$d/files"
    if [ "${n#test_}" != "$n" ]; then
        (cd "$d/files" && exec timeout -k 30 "$timeout_s" "$top/$BUILD/tests/$n") >"$d/output.log" 2>&1 &
    else
        DOMICILE_TEST_STATE="$d/files" timeout -k 30 "$timeout_s" sh "tests/integration/$n.sh" >"$d/output.log" 2>&1 &
    fi
    pid_of[$n]=$!
    start_of[$n]=$(date +%s)
}

# finish NAME RC: counts the job's results and reports it
finish() {
    local n=$1 rc=$2 d="$state/$1" p f secs
    secs=$(($(date +%s) - start_of[$n]))
    times+=("$n $secs")
    if [ "${n#test_}" != "$n" ]; then
        p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$d/output.log" | tail -n 1)
        f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$d/output.log" | tail -n 1)
    else
        p=$(grep -c '^ok ' "$d/output.log")
        f=$(grep -c '^not ok ' "$d/output.log")
    fi
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "(stopped after $timeout_s seconds)" >>"$d/output.log"
        f=$((f + 1))
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "(exited with status $rc)" >>"$d/output.log"
        f=1 # crashed, or a sanitizer stopped it
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        local why
        why=$(sed -n 's/^1\.\.0 # SKIP //p' "$d/output.log" | head -n 1)
        if [ -n "$why" ]; then
            echo "skip $n: $why"
            skipped+=("$n")
            rm -rf "$d"
            return
        fi
        echo "(ran no test)" >>"$d/output.log"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" -ne 0 ]; then
        echo "FAIL $n ($p passed, $f failed, ${secs}s; its files: $d):"
        sed 's/^/    /' "$d/output.log"
        kept+=("$d")
    else
        local part
        part=$(sed -n 's/^# SKIP //p' "$d/output.log" | head -n 1)
        echo "ok   $n ($p passed, ${secs}s${part:+; skipped $part})"
        rm -rf "$d"
    fi
}

stop_all() {
    for n in "${!pid_of[@]}"; do kill -TERM "${pid_of[$n]}" 2>/dev/null; done
    wait
    echo "interrupted; state in $state" >&2
    exit 130
}
trap stop_all INT TERM

# The jobs marked nice (fault sweeps: long, busy, checking end states,
# not timings) start at once, beside the others and not counted among the
# -j N; while a job marked alone runs they run at a lower CPU priority
# (renice of their process groups; back to 0 after, where allowed).
yield_nice() {
    local j
    for j in "${!nice_of[@]}"; do
        [ -z "${pid_of[$j]:-}" ] || renice -n "$1" -g "${pid_of[$j]}" >/dev/null 2>&1
    done
}
normal=()
t0=$(date +%s)
for n in $order; do
    if is_nice "$n"; then start "$n"; else normal+=("$n"); fi
done
nice_running=${#pid_of[@]}
declare -A nice_of=()
for n in "${!pid_of[@]}"; do nice_of[$n]=1; done
# a job marked alone (it measures rates or round trips, or counts what
# writers got done in a time) starts when no other job but the nice ones
# runs, and none starts beside it
alone=
set -- "${normal[@]}"
while [ $# -gt 0 ] || [ ${#pid_of[@]} -gt 0 ]; do
    while [ $# -gt 0 ] && [ -z "$alone" ] && [ $((${#pid_of[@]} - nice_running)) -lt "$jobs" ]; do
        if is_alone "$1"; then
            [ $((${#pid_of[@]} - nice_running)) -eq 0 ] || break
            alone=$1
            yield_nice 15
        fi
        start "$1"
        shift
    done
    wait -n -p done_pid
    rc=$?
    for n in "${!pid_of[@]}"; do
        if [ "${pid_of[$n]}" = "$done_pid" ]; then
            unset "pid_of[$n]"
            [ -z "${nice_of[$n]:-}" ] || nice_running=$((nice_running - 1))
            if [ "$alone" = "$n" ]; then
                alone=
                yield_nice 0
            fi
            finish "$n" "$rc"
        fi
    done
done

# this run's seconds, in the form of tests/durations
printf '%s\n' "${times[@]}" | sort -k2,2nr >"$BUILD/test-durations"
if [ ${#kept[@]} -eq 0 ]; then
    rm -rf "$state"
else
    echo "kept for the failed jobs: ${kept[*]}"
fi
[ ${#skipped[@]} -eq 0 ] || echo "skipped: ${skipped[*]}"
echo "$(($(date +%s) - t0)) s with $jobs jobs at a time (and the nice ones)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
