# PostgreSQL servers for tests: initdb into a temporary folder, start on a
# free port on 127.0.0.1 as the postgres OS user (when run as root), stop
# and remove everything at exit.  Source it, then: pg_start NAME; the port
# is in $PG_PORT and in $PGROOT/NAME/port.  Call pg_stop_all from your trap.
# PG_FSYNC (default off, for tests: commits then cost no disk flush) is
# the servers' fsync setting; benches run with on, the default a user has.
#
# Where no server can run (no PostgreSQL installed, no postgres OS user for
# root, a server that does not start) the scenario is skipped with the
# reason ("1..0 # SKIP ...", or "# SKIP ..." after tests already ran)
# unless DOMICILE_PG_REQUIRED is set (make test): then it fails.
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

pg_skip() {
    if [ -n "${DOMICILE_PG_REQUIRED:-}" ]; then
        echo "not ok $((tap_n + 1)) - PostgreSQL: $1"
        exit 1
    fi
    if [ "$tap_n" -eq 0 ]; then echo "1..0 # SKIP $1"; else echo "# SKIP the rest: $1"; fi
    exit 0
}
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
    pg_skip "no PostgreSQL server installed (no initdb under /usr/lib/postgresql/*/bin; PGBIN names another)"
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    pg_skip "run as root and there is no postgres OS user to run the servers"
fi
PGROOT=$(mktemp -d /tmp/domicile-pg-XXXXXX)
chmod 755 "$PGROOT"

pg_as() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_start() {
    d="$PGROOT/$1"
    mkdir -p "$d"
    [ "$(id -u)" = 0 ] && chown postgres "$d"
    pg_as "$PGBIN/initdb" -D "$d/data" -A trust -U postgres -E UTF8 --no-sync >"$d/initdb.log" 2>&1 || {
        cat "$d/initdb.log" >&2
        pg_skip "initdb failed: $(tail -n 1 "$d/initdb.log")"
    }
    for _try in 1 2 3 4 5 6 7 8 9 10; do
        PG_PORT=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 30000))
        if pg_as "$PGBIN/pg_ctl" -D "$d/data" -l "$d/log" -w -t 60 \
            -o "-p $PG_PORT -k $d -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-off}" start >/dev/null 2>&1; then
            echo "$PG_PORT" >"$d/port"
            return 0
        fi
    done
    cat "$d/log" >&2
    pg_skip "the server did not start: $(tail -n 1 "$d/log")"
}

# pg_stop_all: stops the servers and removes their folders, keeping each
# server's log as $T/pg-NAME.log (kept with the scenario's files when it
# fails under tests/run.sh).  pg.sh calls it at the scenario's end.
pg_stop_all() {
    for d in "$PGROOT"/*/data; do
        [ -d "$d" ] && pg_as "$PGBIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1
    done
    for d in "$PGROOT"/*; do
        [ -f "$d/log" ] && [ -d "${T:-}" ] && cp "$d/log" "$T/pg-$(basename "$d").log" 2>/dev/null
    done
    rm -rf "$PGROOT"
}

# pg_load_demo SQLITE_DB PSQL... : creates the demo schema in the database
# psql connects to and copies the SQLite demo region's rows into it
# (timestamps and blobs in PostgreSQL's input forms).
pg_load_demo() {
    _db=$1
    shift
    "$DOMICILE" demo --print-schema postgresql | "$@" -q -v ON_ERROR_STOP=1 >/dev/null || return 1
    for _t in users devices contacts messages photos backups; do
        case $_t in
        backups) _sel="user_id, backup_no, device_id, created_at, size_bytes, CASE WHEN manifest IS NULL THEN NULL ELSE '\\x' || hex(manifest) END" ;;
        *) _sel="*" ;;
        esac
        sqlite3 -csv "$_db" "SELECT $_sel FROM $_t" |
            "$@" -q -v ON_ERROR_STOP=1 -c "\\copy $_t FROM STDIN WITH (FORMAT csv)" || return 1
    done
    "$@" -q -c "ANALYZE users, devices, contacts, messages, photos, backups" >/dev/null
}

# pg_proxy PIDFILE TARGET_PORT DELAY_MS [COUNT_FILE]: $PROXY (tools/delayproxy) on a
# free port of 127.0.0.1 in front of TARGET_PORT, adding DELAY_MS each
# way (counting round trips into COUNT_FILE); prints its port and appends
# its pid to PIDFILE (kill them at exit).
pg_proxy() {
    for _try in 1 2 3 4 5 6 7 8 9 10; do
        _p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 30000))
        "${PROXY:?PROXY must name tools/delayproxy}" "$_p" 127.0.0.1 "$2" "$3" ${4:+"$4"} >/dev/null 2>&1 &
        _pid=$!
        sleep 0.2
        if kill -0 "$_pid" 2>/dev/null; then
            echo "$_pid" >>"$1"
            echo "$_p"
            return 0
        fi
        wait "$_pid" 2>/dev/null
    done
    return 1
}

# pg_writers ROLE CONFIG SECONDS: 8 connections of tests/tools/writer ($W)
# as ROLE writing the tenants listed in $T/keys for SECONDS, half of them
# at REPEATABLE READ; logs in $T/wlogN, counts in $T/woutN, errors in
# $T/werrN; their pids in $wpids
pg_writers() {
    wpids=
    for _i in 1 2 3 4 5 6 7 8; do
        _iso=read-committed
        [ "$_i" -gt 4 ] && _iso=repeatable-read
        PGUSER=$1 WRITER_ISOLATION=$_iso "$W" run "$2" "$T/keys" "$_i" "$3" "$T/wlog$_i" >"$T/wout$_i" 2>"$T/werr$_i" &
        wpids="$wpids $!"
    done
}

# the servers stop at the scenario's end (a scenario with more to stop names
# pg_stop_all in its own at_exit; the benches, without lib.sh, trap it)
if command -v at_exit >/dev/null 2>&1; then at_exit pg_stop_all; fi
