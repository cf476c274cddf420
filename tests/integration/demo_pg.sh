# demo --postgres: the whole story on three PostgreSQL servers that the
# demo starts itself and stops at the end, also when it fails.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg.sh"
before=$(ls -d /tmp/domicile-demo-pg-* 2>/dev/null | wc -l)
run_dom "$T/o" "$T/e" demo --postgres --dir "$T/d" --users 2000
check "demo --postgres exits 0" [ "$status" -eq 0 ]
[ "$status" -eq 0 ] || cat "$T/e" "$T/o"
check "it started servers and wrote their DSNs into the config" grep -q 'dsn: "postgresql://postgres@127.0.0.1:[0-9]*/postgres"' "$T/d/domicile.yaml"
check "the waves moved rows" grep -q "^wave asia .*rows moved" "$T/o"
check "verify: 0 differences" grep -q "^verify: 2,000 users checked, 0 differences" "$T/o"
check "the writers saw no failure" grep -q ", 0 failed$" "$T/o"
check "no tenant left in violation" grep -q "tenants in violation of the residency policy: .* before, 0 now" "$T/o"
port=$(sed -n 's/.*beijing:.*127.0.0.1:\([0-9]*\).*/\1/p' "$T/d/domicile.yaml")
"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port"
expect_eq "the servers are stopped at the end (no answer on beijing's port $port)" "$?" "2"
expect_eq "and their temporary folder is gone" "$(ls -d /tmp/domicile-demo-pg-* 2>/dev/null | wc -l)" "$before"
# a refused folder fails before any server starts
mkdir -p "$T/busy" && echo "regions: {}" >"$T/busy/domicile.yaml"
run_dom "$T/o" "$T/e" demo --postgres --dir "$T/busy" --users 10
check "a folder with someone else's domicile.yaml is refused (exit 1)" [ "$status" -eq 1 ]
expect_eq "... and no temporary folder is left" "$(ls -d /tmp/domicile-demo-pg-* 2>/dev/null | wc -l)" "$before"
# Ctrl-C during the waves stops them at a safe point, then the servers
"$DOMICILE" demo --postgres --dir "$T/int" --users 20000 >"$T/io" 2>"$T/ie" &
pid=$!
for _ in $(seq 1 300); do
    grep -q "^wave canary" "$T/io" 2>/dev/null && break
    sleep 0.1
done
kill -INT "$pid"
wait "$pid"
is=$?
check "SIGINT during the waves: exit 4 (got $is)" [ "$is" -eq 4 ]
expect_eq "... and the servers' folder is gone" "$(ls -d /tmp/domicile-demo-pg-* 2>/dev/null | wc -l)" "$before"
