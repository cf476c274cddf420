# `domicile serve` on a PostgreSQL catalog with PostgreSQL regions, every
# DSN carrying a password: the API answers during a move (the mover's
# lease in /metrics, through promtool), the catalog dropped under it gives
# 503s that name the catalog without its credentials, and no response nor
# the server's log ever holds the password.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg.sh"
command -v curl >/dev/null || { echo "not ok 1 - curl is missing (tools/install-deps.sh test)"; exit 1; }
pg_start main || { not_ok "start PostgreSQL"; exit 1; }
port=$(cat "$PGROOT/main/port")
sql() { db=$1; shift; "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"; }
pw="Pw-s3cret-$$-Zq"
"$DOMICILE" demo --dir "$T/src" --users 800 --seed 4 --no-plan >/dev/null 2>&1
for db in b s u cat; do sql postgres -c "CREATE DATABASE $db"; done
pg_load_demo "$T/src/regions/beijing.db" "$PGBIN/psql" -X -h 127.0.0.1 -p "$port" -U postgres -d b ||
    not_ok "load the demo"
for db in s u; do "$DOMICILE" demo --print-schema postgresql | sql $db >/dev/null; done
dsn() { echo "postgresql://postgres:$pw@127.0.0.1:$port/$1"; }
mkdir -p "$T/run"
sed "s#sqlite:regions/beijing.db#$(dsn b)#; s#sqlite:regions/singapore.db#$(dsn s)#;
     s#sqlite:regions/us-east.db#$(dsn u)#; s#sqlite:domicile.db#$(dsn cat)#;
     s/batch_tenants: 500/batch_tenants: 20/;
     s/  workers: auto/  workers: 1\n  lease: 5s/" "$T/src/domicile.yaml" >"$T/run/domicile.yaml"
cfg="$T/run/domicile.yaml"
check "every DSN of the config carries the password" test "$(grep -c "$pw" "$cfg")" -ge 4
"$DOMICILE" -c "$cfg" prepare >"$T/prepare.out" 2>&1
check "prepare on PostgreSQL" test $? -eq 0
printf 'pg-serve-token-%s-abcdef\n' "$$" >"$T/token"
auth="Authorization: Bearer $(cat "$T/token")"
spid=
apid=
at_exit 'kill $spid $apid 2>/dev/null; wait 2>/dev/null; pg_stop_all'
# a free port (another when the one tried is taken)
for try in 1 2 3 4 5 6 7 8 9 10; do
    hport=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 30000))
    "$DOMICILE" -c "$cfg" serve --listen "127.0.0.1:$hport" --token-file "$T/token" \
        --refresh-ms 200 >"$T/serve.log" 2>&1 &
    spid=$!
    for i in $(seq 1 100); do
        grep -q "serving on" "$T/serve.log" && break
        kill -0 $spid 2>/dev/null || break
        sleep 0.1
    done
    grep -q "cannot listen" "$T/serve.log" || break
done
base="http://127.0.0.1:$hport"
check "serve starts on a PostgreSQL catalog" grep -q "serving on" "$T/serve.log"
n=0
# fetch NAME PATH [CURL ARGS]: the body kept as $T/resp/NAME
mkdir -p "$T/resp"
fetch() {
    _n=$1
    _p=$2
    shift 2
    curl -s -o "$T/resp/$_n" -w '%{http_code}' -H "$auth" "$@" "$base$_p"
}
expect_eq "status: 200" "$(fetch status0 /v1/status)" "200"
key=$(sql b -At -c "SELECT user_id FROM users WHERE country = 'SG' ORDER BY user_id LIMIT 1")
expect_eq "locate before the move: beijing" "$(fetch loc0 "/v1/locate/$key"; jq -r .region "$T/resp/loc0")" "200beijing"
fetch thr /v1/throttle -X POST -d '{"rows_per_second": 400}' >/dev/null
"$DOMICILE" -c "$cfg" apply --quiet >"$T/apply.out" 2>&1 &
apid=$!
# while the mover works: its lease in /metrics
lease=""
for i in $(seq 1 100); do
    fetch metrics1 /metrics >/dev/null
    lease=$(grep '^domicile_mover_lease_age_seconds{mover=' "$T/resp/metrics1" || true)
    [ -n "$lease" ] && break
    sleep 0.2
done
check "while a mover works, /metrics shows its lease and age" test -n "$lease"
if command -v promtool >/dev/null; then
    check "... and promtool accepts the metrics" sh -c "promtool check metrics <'$T/resp/metrics1' >/dev/null 2>&1"
fi
fetch dash1 /v1/dashboard >/dev/null
check "the dashboard's data during the move" jq -e '.ok and (.status.waves | length) > 0' "$T/resp/dash1"
fetch thr2 /v1/throttle -X POST -d '{"rows_per_second": -1}' >/dev/null
wait $apid
expect_eq "the move ends well" "$?" "0"
apid=
for i in $(seq 1 40); do
    fetch loc1 "/v1/locate/$key" >/dev/null
    [ "$(jq -r .region "$T/resp/loc1")" = singapore ] && break
    sleep 0.1
done
expect_eq "locate after the move: singapore, epoch 2" "$(jq -r '.region + " " + (.epoch | tostring)' "$T/resp/loc1")" "singapore 2"
"$DOMICILE" -c "$cfg" audit >/dev/null 2>&1
expect_eq "the audit's summary" "$(fetch audit /v1/audit)" "200"
fetch metrics2 /metrics >/dev/null
fetch place '/v1/place?country=IN' >/dev/null
fetch bad '/v1/locate/%00' >/dev/null
fetch unauth /v1/status -H "Authorization: Bearer nope" >/dev/null
# the catalog goes away under the server: 503s that say which catalog
sql postgres -c "DROP DATABASE cat WITH (FORCE)"
expect_eq "with the catalog dropped: 503" "$(fetch gone /v1/status)" "503"
check "... naming the catalog by host, port and database" grep -q "127.0.0.1:$port/cat" "$T/resp/gone"
sleep 0.5
fetch gone2 /metrics >/dev/null
fetch loc2 "/v1/locate/$key" >/dev/null
check "locate still answers from the last snapshot, its age growing" \
    jq -e '.region == "singapore" and .age_ms > 300' "$T/resp/loc2"
nresp=$(ls "$T/resp" | wc -l)
check "no response ($nresp of them) holds the password" sh -c "! grep -rl '$pw' '$T/resp'"
check "... nor the server's log" sh -c "! grep -q '$pw' '$T/serve.log'"
check "... and the test looked where a leak would be: the 503 names the catalog's server" \
    grep -q "postgresql://127.0.0.1:$port" "$T/resp/gone"
kill -TERM $spid
wait $spid
expect_eq "SIGTERM: a clean stop" "$?" "0"
