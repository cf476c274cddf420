# audit: each kind of finding planted and found, the transfer log's chain
# and its tampering (a field changed, an entry removed, two swapped, the
# last one cut off), the export, the HTML page, retained copies and
# `erase`, and no password in any output.
. "$(dirname "$0")/lib.sh"

"$DOMICILE" demo --dir "$T/d" --users 600 --seed 9 --no-plan >/dev/null 2>&1
cfg="$T/d/domicile.yaml"
sed -i 's/batch_tenants: 500/batch_tenants: 60/' "$cfg"
cat >>"$cfg" <<'YAML'
audit:
  scan: [{ table: app_logs, key: uid }]
  examples: 3
YAML
for r in beijing singapore us-east; do
    sqlite3 "$T/d/regions/$r.db" "CREATE TABLE app_logs (uid INTEGER, line TEXT)"
done
"$DOMICILE" -c "$cfg" prepare >/dev/null
run_dom "$T/o" "$T/e" -c "$cfg" audit
check "before the move, audit finds the foreign users in beijing (exit 2)" [ "$status" -eq 2 ]
check "... per table and country" grep -q "region beijing, table users, country SG" "$T/o"
"$DOMICILE" -c "$cfg" apply >/dev/null 2>&1
run_dom "$T/o" "$T/e" -c "$cfg" audit
check "after the move, audit is clean (exit 0)" [ "$status" -eq 0 ]
check "... and says so" grep -q "no row sits where the policy forbids it; the log is intact" "$T/o"
n=$(sqlite3 "$T/d/domicile.db" "SELECT count(*) FROM batches WHERE step = 'done'")
expect_eq "the log holds a transfer and an erasure entry per batch" "$(sqlite3 "$T/d/domicile.db" "SELECT count(*) FROM transfer_log")" "$((2 * n))"
e=$(sqlite3 "$T/d/domicile.db" "SELECT entry FROM transfer_log WHERE seq = 1")
check "a transfer entry names wave, batch, tenants, key digest, regions, rows and bytes per table, content hash" \
    sh -c "echo '$e' | jq -e '.kind == \"transfer\" and .wave and .batch and .tenants and (.tenant_digest | length) == 64 and .from and .to and (.tables | length) == 6 and .tables[0].rows and .tables[0].bytes and (.content_sha256 | length) == 64' >/dev/null"
e=$(sqlite3 "$T/d/domicile.db" "SELECT entry FROM transfer_log WHERE entry LIKE '%\"kind\":\"erasure\"%' ORDER BY seq LIMIT 1")
check "an erasure entry records 0 rows remaining per table" \
    sh -c "echo '$e' | jq -e '.kind == \"erasure\" and .rows_erased > 0 and ([.tables[].remaining] | add) == 0' >/dev/null"
check "the source holds no row of an erased batch (checked, not assumed)" \
    [ "$(sqlite3 "$T/d/regions/beijing.db" "SELECT count(*) FROM users WHERE country <> 'CN'")" = 0 ]

# ---- export ----
run_dom "$T/o" "$T/e" -c "$cfg" audit --export "$T/log.jsonl"
expect_eq "export writes one line per entry" "$(wc -l <"$T/log.jsonl")" "$((2 * n))"
ok_chain=yes
prev=0000000000000000000000000000000000000000000000000000000000000000
while read -r line; do
    entry=$(printf '%s' "$line" | jq -r .entry_text)
    hash=$(printf '%s' "$line" | jq -r .hash)
    p=$(printf '%s' "$line" | jq -r .prev)
    mine=$(printf '%s\n%s' "$prev" "$entry" | sha256sum | cut -d' ' -f1)
    [ "$p" = "$prev" ] && [ "$mine" = "$hash" ] || ok_chain=no
    prev=$hash
done <"$T/log.jsonl"
expect_eq "the exported chain can be recomputed with sha256sum" "$ok_chain" "yes"

# ---- tampering ----
tamper() { # NAME SQL: on a copy of the catalog, expect audit to name entry N
    cp "$T/d/domicile.db" "$T/d/domicile.db.orig"
    sqlite3 "$T/d/domicile.db" "$2"
    "$DOMICILE" -c "$cfg" audit --json >"$T/t.json" 2>/dev/null
    st=$?
    cp "$T/d/domicile.db.orig" "$T/d/domicile.db"
    rm -f "$T/d/domicile.db-wal" "$T/d/domicile.db-shm"
    expect_eq "tampering ($1): exit 2, first bad entry $3" "$st $(jq -r .transfer_log.first_bad "$T/t.json")" "2 $3"
}
tamper "a field changed" "UPDATE transfer_log SET entry = replace(entry, '\"tenants\":', '\"tenants\":1') WHERE seq = 3" 3
tamper "an entry removed" "DELETE FROM transfer_log WHERE seq = 4" 5
tamper "two entries swapped" "UPDATE transfer_log SET seq = -2 WHERE seq = 2; UPDATE transfer_log SET seq = 2 WHERE seq = 3; UPDATE transfer_log SET seq = 3 WHERE seq = -2" 2
last=$((2 * n))
tamper "the last entry cut off" "DELETE FROM transfer_log WHERE seq = $last" "$last"
tamper "the last entry and the catalog's head both rewound" "DELETE FROM transfer_log WHERE seq = $last; UPDATE domicile_meta SET value = (SELECT seq || ' ' || hash FROM transfer_log ORDER BY seq DESC LIMIT 1) WHERE key = 'log_head'" "$last"
run_dom "$T/o" "$T/e" -c "$cfg" audit
check "the untouched log is intact again" [ "$status" -eq 0 ]

# ---- each kind of finding ----
by() { # REGION SQL: write as the mover does, on a connection that runs no trigger
    sqlite3 -cmd ".dbconfig enable_trigger off" "$T/d/regions/$1.db" "$2"
}
my=$(sqlite3 "$T/d/regions/singapore.db" "SELECT min(user_id) FROM users WHERE country = 'MY'")
sg=$(sqlite3 "$T/d/regions/singapore.db" "SELECT min(user_id) FROM users WHERE country = 'SG'")
cn=$(sqlite3 "$T/d/regions/beijing.db" "SELECT min(user_id) FROM users WHERE country = 'CN'")
by beijing "INSERT INTO messages VALUES ($my, 555, 'p', 'planted', 'z')"
sqlite3 "$T/d/regions/beijing.db" "INSERT INTO messages VALUES (77777777, 1, 'p', 'orphan', 'z')" 2>"$T/e"
check "the region refuses a message of a tenant it does not hold" grep -q "domicile: tenant 77777777 is not in region beijing (a row of messages)" "$T/e"
by beijing "INSERT INTO messages VALUES (77777777, 1, 'p', 'orphan', 'z')"
by us-east "INSERT INTO users SELECT * FROM (SELECT $sg, 'SG', 'copy', NULL, NULL, 'z')"
by beijing "DELETE FROM contacts WHERE user_id = $cn; DELETE FROM users WHERE user_id = $cn"
sqlite3 "$T/d/regions/beijing.db" "INSERT INTO app_logs VALUES ($sg, 'a log line of a Singapore user')"
run_dom "$T/a.json" "$T/e" -c "$cfg" audit --json
check "audit exits 2 on findings" [ "$status" -eq 2 ]
f() { jq -r "[.findings[] | select($1)] | length" "$T/a.json"; }
expect_eq "not allowed: a MY tenant's message in beijing" "$(f ".kind == \"not_allowed\" and .region == \"beijing\" and .table == \"messages\" and .country == \"MY\" and .examples == [\"$my\"]")" "1"
expect_eq "orphan: a message of a tenant not in the directory" "$(f '.kind == "orphan" and .table == "messages" and .examples == ["77777777"]')" "1"
expect_eq "duplicate: an SG tenant also in us-east after erasure" "$(f ".kind == \"duplicate\" and .region == \"us-east\" and .examples == [\"$sg\"]")" "1"
expect_eq "... which is also where the policy does not allow it" "$(f ".kind == \"not_allowed\" and .region == \"us-east\" and .country == \"SG\"")" "1"
expect_eq "dangling: a directory entry whose home lacks the tenant" "$(f ".kind == \"dangling\" and .region == \"beijing\" and .examples == [\"$cn\"]")" "1"
expect_eq "audit.scan: a log table row of an SG user in beijing" "$(f ".kind == \"not_allowed\" and .table == \"app_logs\" and .country == \"SG\"")" "1"
run_dom "$T/o" "$T/e" -c "$cfg" audit --html "$T/a.html"
check "the HTML page draws charts" grep -q "<svg" "$T/a.html"
check "the HTML page is self-contained" sh -c "! grep -Eq '(src|href)=\"(https?:)?//' '$T/a.html'"
check "the HTML page lists the findings" grep -q "77777777" "$T/a.html"
sha=$(sha256sum "$cfg" | cut -d' ' -f1)
check "the HTML page says when, by which version, for which config (its SHA-256) and catalog" \
    sh -c "grep -q 'Made 20[0-9-]*T[0-9:]*Z by domicile [0-9.]* for the config .*$sha.* and the catalog .*domicile.db' '$T/a.html'"
check "... and groups its findings by kind, each with its sum" \
    sh -c "grep -q '<h3 class=\"bad\">rows where the policy does not allow them (not_allowed): [0-9]* tenants*, [0-9]* rows*</h3>' '$T/a.html' && grep -q '<h3 class=\"bad\">rows of tenants not in the directory (orphan)' '$T/a.html'"
"$DOMICILE" -c "$cfg" status --json >/dev/null
check "the audit's summary is kept in the catalog, grouped by kind, region and country" \
    sh -c "sqlite3 '$(dirname "$cfg")/domicile.db' \"SELECT value FROM domicile_meta WHERE key = 'audit'\" | jq -e '.ok == false and (.groups | map(select(.kind == \"not_allowed\" and .region == \"beijing\" and .country == \"MY\")) | length) == 1 and .config_sha256 == \"$sha\"' >/dev/null"

# ---- retained copies, then erase ----
"$DOMICILE" demo --dir "$T/r" --users 300 --seed 3 --no-plan >/dev/null 2>&1
# an hour: nothing is erased however long the steps below take; then the
# config says a second, and erase takes the copies
sed -i 's/  workers: auto/  workers: auto\n  retain_source: 1h/' "$T/r/domicile.yaml"
"$DOMICILE" -c "$T/r/domicile.yaml" prepare >/dev/null
"$DOMICILE" -c "$T/r/domicile.yaml" apply >/dev/null 2>&1
run_dom "$T/a.json" "$T/e" -c "$T/r/domicile.yaml" audit --json
expect_eq "retained source copies are no duplicates while their batch waits" "$(jq -r '[.findings[] | select(.kind == "duplicate")] | length' "$T/a.json")" "0"
expect_eq "... but they are still where the policy does not allow them" "$(jq -r '[.findings[] | select(.kind == "not_allowed")] | length > 0' "$T/a.json")" "true"
x=$(sqlite3 "$T/r/regions/beijing.db" "SELECT min(user_id) FROM users WHERE country = 'SG'")
sqlite3 "$T/r/regions/beijing.db" "UPDATE users SET name = 'late' WHERE user_id = $x" >"$T/o" 2>&1
check "a retained copy is read-only: a write names the new home" grep -q "domicile: tenant $x lives in region singapore" "$T/o"
run_dom "$T/o" "$T/e" -c "$T/r/domicile.yaml" erase
check "erase before the time has passed erases nothing" grep -q "erase: 0 batches erased" "$T/o"
sed -i 's/  retain_source: 1h/  retain_source: 1s/' "$T/r/domicile.yaml"
sleep 1.2
run_dom "$T/o" "$T/e" -c "$T/r/domicile.yaml" erase
check "erase after retain_source erases the copies" sh -c "[ $status -eq 0 ] && grep -Eq 'erase: [1-9][0-9]* batch(es)? erased' '$T/o'"
run_dom "$T/o" "$T/e" -c "$T/r/domicile.yaml" audit
check "then audit is clean" [ "$status" -eq 0 ]

# ---- no password in any output ----
pw=s3cr3t-Pa55
cat >"$T/pg.yaml" <<YAML
catalog: "postgresql://mover:$pw@127.0.0.1:1/catalog?sslmode=require"
regions:
  beijing: { dsn: "postgresql:host=127.0.0.1 port=1 user=app password=$pw dbname=app", location: CN }
  singapore: { dsn: "postgresql://app:$pw@127.0.0.1:1/app", location: SG }
tenants: { table: users, key: user_id, country: country }
policy:
  - { countries: [CN], home: beijing }
  - { countries: ["*"], home: singapore }
waves:
  - { name: all }
YAML
: >"$T/all"
for cmd in "plan" "plan --json" "prepare" "apply" "apply --json" "status" "verify" "audit" "audit --json" "locate 1" "report latency" "erase"; do
    # shellcheck disable=SC2086
    "$DOMICILE" -c "$T/pg.yaml" $cmd >>"$T/all" 2>&1
done
printf 'regions:\n  a: { dsn: "postgresql://u:%s@h:1/db?port=x=y", location: SG }\n' "$pw" >"$T/bad.yaml"
"$DOMICILE" -c "$T/bad.yaml" plan >>"$T/all" 2>&1
check "commands on PostgreSQL DSNs ran and said something ($(wc -l <"$T/all") lines)" [ -s "$T/all" ]
check "no output contains the password" sh -c "! grep -q '$pw' '$T/all'"
