# Real schemas and an operator's mistakes, on SQLite regions: a wave
# rolled back twice, a primary key wider than the mover handles, two
# regions naming one database, a prepare that fails in one region,
# apply after prepare --remove, verify of moved tenants against the
# transfer log.
. "$(dirname "$0")/lib.sh"

"$DOMICILE" demo --dir "$T/tpl" --users 300 --seed 7 --no-plan >/dev/null 2>&1
sed -i 's/batch_tenants: 500/batch_tenants: 50/' "$T/tpl/domicile.yaml"

# ---- a wave applied, rolled back, applied and rolled back again ----
cp -r "$T/tpl" "$T/rb"
dir_of() { sqlite3 "$1/domicile.db" "SELECT region, count(*) FROM directory GROUP BY 1 ORDER BY 1" | tr '\n' ' '; }
rows_of() { for r in beijing singapore us-east; do echo "$r"; sqlite3 "$1/regions/$r.db" "SELECT * FROM users ORDER BY 1; SELECT * FROM messages ORDER BY 1, 2"; done; }
n=0
for step in "prepare" "apply" "rollback --wave asia" "apply" "rollback --wave asia"; do
    n=$((n + 1))
    run_dom "$T/o" "$T/e" -c "$T/rb/domicile.yaml" $step
    check "apply/rollback round, step $n: $step exits 0" [ "$status" -eq 0 ]
    [ "$status" -eq 0 ] || cat "$T/e"
    [ $n -eq 3 ] && { dir_of "$T/rb" >"$T/rb.dir1"; rows_of "$T/rb" >"$T/rb.rows1"; }
done
expect_eq "the second rollback of the wave leaves the directory as the first did" "$(dir_of "$T/rb")" "$(cat "$T/rb.dir1")"
rows_of "$T/rb" >"$T/rb.rows2"
check "... and every row where the first rollback left it" cmp -s "$T/rb.rows1" "$T/rb.rows2"
check "... where the wave's tenants are in beijing again" grep -q "^beijing|" "$T/rb.dir1"

# ---- a primary key wider than the mover handles ----
mkdir -p "$T/wide"
cols=$(seq -s, 1 33 | sed 's/\([0-9]*\)/c\1 INT/g')
pk=$(seq -s, 1 33 | sed 's/\([0-9]*\)/c\1/g')
for r in a b; do
    sqlite3 "$T/wide/$r.db" "CREATE TABLE users (user_id INT PRIMARY KEY, country TEXT);
CREATE TABLE wide (user_id INT, $cols, PRIMARY KEY ($pk));"
done
sqlite3 "$T/wide/a.db" "INSERT INTO users VALUES (1, 'SG')"
cat >"$T/wide/domicile.yaml" <<'YAML'
regions:
  a: { dsn: "sqlite:a.db", location: CN }
  b: { dsn: "sqlite:b.db", location: SG }
tenants: { table: users, key: user_id, country: country }
policy:
  - { countries: [CN], home: a }
  - { countries: ["*"], home: b }
YAML
run_dom "$T/o" "$T/e" -c "$T/wide/domicile.yaml" prepare
check "prepare refuses a primary key of 33 columns (exit 3)" [ "$status" -eq 3 ]
check "... naming the table and the width" grep -q 'table "wide": a primary key of 33 columns; domicile moves tables whose primary key has at most 32' "$T/e"

# ---- two regions naming one database ----
for form in "regions/beijing.db" "./regions/beijing.db" "regions/link.db"; do
    rm -rf "$T/two"
    cp -r "$T/tpl" "$T/two"
    ln -s beijing.db "$T/two/regions/link.db"
    sed -i "s|sqlite:regions/singapore.db|sqlite:$form|" "$T/two/domicile.yaml"
    grep -q "sqlite:$form" "$T/two/domicile.yaml" || not_ok "the config names $form"
    run_dom "$T/o" "$T/e" -c "$T/two/domicile.yaml" prepare
    check "prepare refuses singapore naming beijing's database as $form (exit 1)" [ "$status" -eq 1 ]
    check "... naming both regions" grep -q 'regions "beijing" and "singapore" reach the same database' "$T/e"
    expect_eq "... and installs nothing in it" "$(sqlite3 "$T/two/regions/beijing.db" "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'domicile%'")" "0"
done
# a database prepared as another region
rm -rf "$T/two"
cp -r "$T/tpl" "$T/two"
"$DOMICILE" -c "$T/two/domicile.yaml" prepare >/dev/null 2>&1 || not_ok "prepare of the template"
mv "$T/two/regions/singapore.db" "$T/two/regions/singapore.old"
cp "$T/two/regions/us-east.db" "$T/two/regions/singapore.db"
run_dom "$T/o" "$T/e" -c "$T/two/domicile.yaml" prepare
check "prepare refuses a database prepared as another region (exit 1)" [ "$status" -eq 1 ]
check "... naming both names" grep -q 'region "singapore": its database was prepared as region "us-east"' "$T/e"
expect_eq "... and the region keeps its name and guard" "$(sqlite3 "$T/two/regions/singapore.db" "SELECT value FROM domicile_region WHERE key = 'name'")" "us-east"
run_dom "$T/o" "$T/e" -c "$T/two/domicile.yaml" apply
check "apply refuses it too (exit 1)" [ "$status" -eq 1 ]
expect_eq "... before journaling a batch" "$(sqlite3 "$T/two/domicile.db" "SELECT count(*) FROM batches")" "0"

# ---- a prepare that fails in one region ----
rm -rf "$T/half"
cp -r "$T/tpl" "$T/half"
sqlite3 "$T/half/regions/us-east.db" "CREATE VIEW domicile_fence AS SELECT 1 AS tenant"
run_dom "$T/o" "$T/e" -c "$T/half/domicile.yaml" prepare
check "prepare fails when one region refuses the installation (exit 3)" [ "$status" -eq 3 ]
check "... naming the region" grep -q 'region "us-east"' "$T/e"
run_dom "$T/o" "$T/e" -c "$T/half/domicile.yaml" status
check "status says prepare did not finish, with the region's error" grep -q "prepare did not finish (region \"us-east\"" "$T/o"
expect_eq "status --json says so too" "$("$DOMICILE" -c "$T/half/domicile.yaml" status --json | jq -r .prepare | cut -c1-10)" "unfinished"
run_dom "$T/o" "$T/e" -c "$T/half/domicile.yaml" apply
check "apply refuses (exit 1)" [ "$status" -eq 1 ]
check "... naming the unprepared region" grep -q 'region "us-east" is not prepared' "$T/e"
expect_eq "... and journals no batch" "$(sqlite3 "$T/half/domicile.db" "SELECT count(*) FROM batches")" "0"
sqlite3 "$T/half/regions/us-east.db" "DROP VIEW domicile_fence"
run_dom "$T/o" "$T/e" -c "$T/half/domicile.yaml" prepare
check "prepare run again finishes" [ "$status" -eq 0 ]
check "... and status no longer warns" sh -c "! '$DOMICILE' -c '$T/half/domicile.yaml' status | grep -q 'did not finish'"
run_dom "$T/o" "$T/e" -c "$T/half/domicile.yaml" apply
check "apply then moves" [ "$status" -eq 0 ]

# ---- apply and rollback after prepare --remove ----
run_dom "$T/o" "$T/e" -c "$T/half/domicile.yaml" prepare --remove
check "prepare --remove exits 0" [ "$status" -eq 0 ]
nb=$(sqlite3 "$T/half/domicile.db" "SELECT count(*) FROM batches")
for step in "apply" "rollback --wave asia"; do
    run_dom "$T/o" "$T/e" -c "$T/half/domicile.yaml" $step
    check "$step after prepare --remove is refused (exit 1)" [ "$status" -eq 1 ]
    check "... saying the regions are not prepared" grep -q 'is not prepared (or was removed); run .domicile prepare. first' "$T/e"
    expect_eq "... and journals no batch" "$(sqlite3 "$T/half/domicile.db" "SELECT count(*) FROM batches")" "$nb"
done
check "status says the triggers were removed" sh -c "'$DOMICILE' -c '$T/half/domicile.yaml' status | grep -q 'triggers were removed'"

# ---- verify of moved tenants against the transfer log ----
rm -rf "$T/vt"
cp -r "$T/tpl" "$T/vt"
"$DOMICILE" -c "$T/vt/domicile.yaml" prepare >/dev/null 2>&1
"$DOMICILE" -c "$T/vt/domicile.yaml" apply >/dev/null 2>&1 || not_ok "apply for verify --transfers"
nt=$(sqlite3 "$T/vt/domicile.db" "SELECT count(*) FROM batches WHERE step = 'done'")
run_dom "$T/o" "$T/e" -c "$T/vt/domicile.yaml" verify --transfers
check "verify --transfers after a finished move exits 0" [ "$status" -eq 0 ]
check "... having checked every transfer ($nt) and the rows at home" \
    grep -Eq "^verify: $nt transfers? checked against the transfer log \(0 not: a tenant moved or is moving since\), [1-9][0-9,]* rows at home, 0 differences" "$T/o"
u=$(sqlite3 "$T/vt/regions/singapore.db" "SELECT user_id FROM messages GROUP BY user_id HAVING count(*) >= 2 ORDER BY user_id LIMIT 1")
b=$(sqlite3 "$T/vt/domicile.db" "SELECT max(batch) FROM batch_tenants WHERE tenant = '$u'")
sqlite3 "$T/vt/regions/singapore.db" "UPDATE messages SET body = 'changed at home' WHERE user_id = $u AND message_no = (SELECT min(message_no) FROM messages WHERE user_id = $u)"
run_dom "$T/o" "$T/e" -c "$T/vt/domicile.yaml" verify --transfers
check "a row changed at home since the move: exit 2" [ "$status" -eq 2 ]
check "... naming the batch and the table" grep -q "^batch $b, table messages: [0-9]* rows ([0-9]* bytes) in region singapore now" "$T/o"
sqlite3 "$T/vt/regions/singapore.db" "DELETE FROM messages WHERE user_id = $u AND message_no = (SELECT max(message_no) FROM messages WHERE user_id = $u)"
run_dom "$T/v.json" "$T/e" -c "$T/vt/domicile.yaml" verify --transfers --json
expect_eq "a row removed at home: one row fewer than transferred (--json)" \
    "$(jq -r ".diffs[] | select(.batch == $b and .table == \"messages\") | .rows_transferred - .rows_now" "$T/v.json")" "1"
# with options.transfer_rows the catalog keeps every transferred row's key
# and digest, and the differences are named by primary key
rm -rf "$T/vr"
cp -r "$T/tpl" "$T/vr"
sed -i 's/^options:$/options:\n  transfer_rows: true/' "$T/vr/domicile.yaml"
grep -q "transfer_rows: true" "$T/vr/domicile.yaml" || not_ok "the config sets transfer_rows"
"$DOMICILE" -c "$T/vr/domicile.yaml" prepare >/dev/null 2>&1
"$DOMICILE" -c "$T/vr/domicile.yaml" apply >/dev/null 2>&1 || not_ok "apply with transfer_rows"
expect_eq "options.transfer_rows: the catalog keeps one entry per transferred row" \
    "$(sqlite3 "$T/vr/domicile.db" "SELECT count(*) FROM transfer_rows")" \
    "$(sqlite3 "$T/vr/domicile.db" "SELECT sum(rows) FROM batches WHERE step = 'done'")"
run_dom "$T/o" "$T/e" -c "$T/vr/domicile.yaml" verify --transfers
check "... verify --transfers still exits 0 after the move" [ "$status" -eq 0 ]
m1=$(sqlite3 "$T/vr/regions/singapore.db" "SELECT min(message_no) FROM messages WHERE user_id = $u")
m2=$(sqlite3 "$T/vr/regions/singapore.db" "SELECT max(message_no) FROM messages WHERE user_id = $u")
sqlite3 "$T/vr/regions/singapore.db" "UPDATE messages SET body = upper(body) WHERE user_id = $u AND message_no = $m1;
DELETE FROM messages WHERE user_id = $u AND message_no = $m2; INSERT INTO messages VALUES ($u, 424242, 'p', 'added at home', 'z')"
run_dom "$T/o" "$T/e" -c "$T/vr/domicile.yaml" verify --transfers
check "a changed, a removed and an added row: exit 2" [ "$status" -eq 2 ]
check "... the changed one named by primary key" grep -q "^batch $b, table messages: row \[$u,$m1\] changed in region singapore since the transfer" "$T/o"
check "... the removed one" grep -q "^batch $b, table messages: row \[$u,$m2\] is missing in region singapore since the transfer" "$T/o"
check "... the added one" grep -q "^batch $b, table messages: row \[$u,424242\] was added in region singapore since the transfer" "$T/o"
run_dom "$T/v.json" "$T/e" -c "$T/vr/domicile.yaml" verify --transfers --json
expect_eq "... and in --json" "$(jq -c "[.diffs[] | select(.pk) | [.kind, .pk]] | sort" "$T/v.json")" \
    "$(printf '[["changed",[%s,%s]],["extra",[%s,424242]],["missing",[%s,%s]]]' "$u" "$m1" "$u" "$u" "$m2")"

# same counts and bytes, other contents
rm -rf "$T/vt2"
cp -r "$T/tpl" "$T/vt2"
"$DOMICILE" -c "$T/vt2/domicile.yaml" prepare >/dev/null 2>&1
"$DOMICILE" -c "$T/vt2/domicile.yaml" apply >/dev/null 2>&1
sqlite3 "$T/vt2/regions/singapore.db" "UPDATE messages SET body = upper(body) WHERE rowid = (SELECT min(rowid) FROM messages WHERE user_id = $u)"
run_dom "$T/o" "$T/e" -c "$T/vt2/domicile.yaml" verify --transfers
check "a value changed in place (same sizes): exit 2, told by the content hash" grep -q "^batch $b: the rows in region singapore now are as many as transferred, with other contents" "$T/o"
# a rollback's tenants are no longer where the wave put them
"$DOMICILE" -c "$T/vt2/domicile.yaml" rollback --wave asia >/dev/null 2>&1
run_dom "$T/o" "$T/e" -c "$T/vt2/domicile.yaml" verify --transfers
check "after a rollback the wave's transfers are skipped, the rollback's checked: exit 0" [ "$status" -eq 0 ]
check "... and the skipped ones counted" grep -Eq "\([1-9][0-9]* not: a tenant moved or is moving since\)" "$T/o"

# ---- countries that are not codes ----
mkdir -p "$T/cc"
for r in a b; do
    sqlite3 "$T/cc/$r.db" "PRAGMA journal_mode=WAL; CREATE TABLE users (user_id INTEGER PRIMARY KEY, country TEXT, name TEXT);
CREATE TABLE posts (user_id INTEGER REFERENCES users (user_id), n INTEGER, PRIMARY KEY (user_id, n))" >/dev/null
done
sqlite3 "$T/cc/a.db" "INSERT INTO users VALUES (1, 'CN', 'x'), (2, 'sg', 'x'), (3, ' de ', 'x'), (4, NULL, 'x'), (5, '', 'x'), (6, 'ZZ', 'x'), (7, 'UK', 'x'), (8, 'uk', 'x');
INSERT INTO posts SELECT user_id, 1 FROM users"
cat >"$T/cc/domicile.yaml" <<'YAML'
regions:
  a: { dsn: "sqlite:a.db", location: CN }
  b: { dsn: "sqlite:b.db", location: SG }
tenants: { table: users, key: user_id, country: country }
policy:
  - { countries: [cn], home: a }
  - { countries: ["*"], home: b }
waves:
  - { name: all }
YAML
run_dom "$T/o" "$T/e" -c "$T/cc/domicile.yaml" plan
check "plan with countries in lower case and padded, and no country at all (exit 0)" [ "$status" -eq 0 ]
check "... takes sg and ' de ' for SG and DE: 2 misplaced" grep -q "8 tenants (found by scanning the regions), 2 misplaced" "$T/o"
check "... warns of the 5 without a valid country, which stay" grep -q "warning: 5 tenants have no valid country; no policy rule names a home for them" "$T/o"
check "... naming what is wrong: no country" grep -q "1 tenants: no country (e.g. tenant 4)" "$T/o"
check "... an empty one" grep -q "1 tenants: an empty country (e.g. tenant 5)" "$T/o"
check "... an unknown code" grep -q '1 tenants: "ZZ" is not an ISO 3166-1 alpha-2 code (e.g. tenant 6)' "$T/o"
check "... and UK, with the hint to use GB" grep -q '1 tenants: "UK" is not an ISO 3166-1 code; the United Kingdom is GB (e.g. tenant 7)' "$T/o"
run_dom "$T/p.json" "$T/e" -c "$T/cc/domicile.yaml" plan --json
expect_eq "plan --json lists the problems" "$(jq -r '[.compliance.invalid_countries[].tenants] | add' "$T/p.json")" "5"
"$DOMICILE" -c "$T/cc/domicile.yaml" prepare >/dev/null 2>&1 || not_ok "prepare"
run_dom "$T/o" "$T/e" -c "$T/cc/domicile.yaml" apply
check "apply moves the lower-case and padded codes' tenants" sh -c "[ $status -eq 0 ] && [ \"\$(sqlite3 '$T/cc/b.db' 'SELECT group_concat(user_id) FROM users')\" = '2,3' ]"
run_dom "$T/o" "$T/e" -c "$T/cc/domicile.yaml" audit
check "audit reports the tenants without a valid country (exit 2)" [ "$status" -eq 2 ]
check "... with what is wrong with each" grep -q 'region a: "ZZ" is not an ISO 3166-1 alpha-2 code: 1 tenant, 0 rows; e.g. 6' "$T/o"
sqlite3 "$T/cc/b.db" "INSERT INTO users VALUES (10, 'uk', 'new')" 2>"$T/e"
check "a new tenant with country uk is refused, with the hint" grep -q "domicile: tenant 10 has no valid country: uk is not an ISO 3166-1 code; the United Kingdom is GB; region b takes no tenant without one" "$T/e"
sqlite3 "$T/cc/b.db" "INSERT INTO users VALUES (11, NULL, 'new')" 2>"$T/e"
check "... and one without a country" grep -q "domicile: tenant 11 has no valid country: no country; region b" "$T/e"
sqlite3 "$T/cc/b.db" "INSERT INTO users VALUES (12, 'cn', 'new')" 2>"$T/e"
check "a new CN tenant written in lower case is refused in b as CN" grep -q "residency policy forbids storing tenant 12 (country CN) in region b" "$T/e"
check "a new SG tenant written ' sg ' is accepted in b" sqlite3 "$T/cc/b.db" "INSERT INTO users VALUES (13, ' sg ', 'new')"
# a home for tenants without a valid country
sed -i 's/  - { countries: \["\*"\], home: b }/  - { countries: [invalid], home: b }\n  - { countries: ["*"], home: b }/' "$T/cc/domicile.yaml"
run_dom "$T/o" "$T/e" -c "$T/cc/domicile.yaml" plan
check "with countries: [invalid] the plan moves them to their home" grep -q "the policy's home for them (countries: \[invalid\]) is" "$T/o"
"$DOMICILE" -c "$T/cc/domicile.yaml" prepare >/dev/null 2>&1 || not_ok "prepare again"
check "b now takes a new tenant without a country" sqlite3 "$T/cc/b.db" "INSERT INTO users VALUES (14, NULL, 'new')"
sqlite3 "$T/cc/a.db" "INSERT INTO users VALUES (15, 'ZZ', 'new')" 2>"$T/e"
check "... and a still refuses one" grep -q "domicile: tenant 15 has no valid country" "$T/e"
run_dom "$T/o" "$T/e" -c "$T/cc/domicile.yaml" apply
check "apply moves the tenants without a valid country to b" sh -c "[ $status -eq 0 ] && [ \"\$(sqlite3 '$T/cc/a.db' 'SELECT group_concat(user_id) FROM users')\" = '1' ]"
# (the tenants created in the regions since join the directory)
"$DOMICILE" -c "$T/cc/domicile.yaml" prepare >/dev/null 2>&1 || not_ok "prepare a third time"
run_dom "$T/o" "$T/e" -c "$T/cc/domicile.yaml" audit
check "audit finds nothing once they live there (exit 0)" [ "$status" -eq 0 ]
[ "$status" -eq 0 ] || cat "$T/o"
