# Tables found through foreign keys, on SQLite regions: a schema whose
# tenant key has another name in its children (accounts.id, notes.account_id),
# indirect tables two and three levels down (attachments, order_items,
# item_notes, the last without a primary key), a composite link, a global
# table; plan's classes; refusals of rows whose parent or tenant is not in
# the region; the waves and a rollback under writer processes that write
# to indirect tables with foreign keys enforced (inserts, and deletes that
# cascade) while the mover is killed at random moments; afterwards every
# acknowledged write is at its tenant's home exactly once, nothing of a
# moved tenant is anywhere else, the global table is untouched, every
# foreign key holds, verify and audit exit 0.
. "$(dirname "$0")/lib.sh"

TABLES="accounts notes attachments orders order_items item_notes countries"
mkdir -p "$T/app/regions"
cat >"$T/schema.sql" <<'SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE countries (code TEXT PRIMARY KEY, name TEXT);
CREATE TABLE accounts (id INTEGER PRIMARY KEY, country TEXT NOT NULL REFERENCES countries (code), name TEXT);
CREATE TABLE notes (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts (id), body TEXT);
CREATE INDEX notes_account ON notes (account_id);
CREATE TABLE attachments (id INTEGER PRIMARY KEY, note_id INTEGER NOT NULL REFERENCES notes (id) ON DELETE CASCADE, data BLOB);
CREATE INDEX attachments_note ON attachments (note_id);
CREATE TABLE orders (owner INTEGER NOT NULL REFERENCES accounts (id), order_no INTEGER NOT NULL, total REAL,
                     PRIMARY KEY (owner, order_no)) WITHOUT ROWID;
CREATE TABLE order_items (o_owner INTEGER NOT NULL, o_no INTEGER NOT NULL, line INTEGER NOT NULL, sku TEXT,
                          PRIMARY KEY (o_owner, o_no, line),
                          FOREIGN KEY (o_owner, o_no) REFERENCES orders (owner, order_no));
CREATE TABLE item_notes (i_owner INTEGER, i_no INTEGER, i_line INTEGER, remark TEXT,
                         FOREIGN KEY (i_owner, i_no, i_line) REFERENCES order_items (o_owner, o_no, line));
CREATE INDEX item_notes_item ON item_notes (i_owner, i_no, i_line);
INSERT INTO countries VALUES ('CN', 'China'), ('SG', 'Singapore'), ('MY', 'Malaysia'), ('US', 'United States');
SQL
# us-east starts empty: prepare creates its tables as beijing has them
for r in beijing singapore; do sqlite3 "$T/app/regions/$r.db" <"$T/schema.sql" >/dev/null; done
sqlite3 "$T/app/regions/us-east.db" "PRAGMA journal_mode=WAL" >/dev/null
sqlite3 "$T/app/regions/beijing.db" "
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO accounts SELECT i, CASE i % 4 WHEN 0 THEN 'CN' WHEN 1 THEN 'SG' WHEN 2 THEN 'MY' ELSE 'US' END, 'a' || i FROM n;
INSERT INTO notes SELECT id * 10 + k, id, 'note' FROM accounts, (SELECT 1 AS k UNION SELECT 2 UNION SELECT 3);
INSERT INTO attachments SELECT id * 10 + 1, id, randomblob(20) FROM notes;
INSERT INTO orders SELECT id, k, k * 1.5 FROM accounts, (SELECT 1 AS k UNION SELECT 2);
INSERT INTO order_items SELECT owner, order_no, k, 'sku' FROM orders, (SELECT 1 AS k UNION SELECT 2);
INSERT INTO item_notes SELECT o_owner, o_no, line, 'r' FROM order_items WHERE line = 1;
INSERT INTO item_notes SELECT o_owner, o_no, line, 'r' FROM order_items WHERE line = 1;"
cat >"$T/app/domicile.yaml" <<'YAML'
regions:
  beijing:   { dsn: "sqlite:regions/beijing.db", location: CN }
  singapore: { dsn: "sqlite:regions/singapore.db", location: SG }
  us-east:   { dsn: "sqlite:regions/us-east.db", location: US }
tenants: { table: accounts, key: id, country: country }
policy:
  - { countries: [CN], home: beijing }
  - { countries: [SG, MY], home: singapore }
  - { countries: ["*"], home: us-east }
waves:
  - { name: asia, countries: [SG, MY] }
  - { name: rest }
options: { batch_tenants: 4, workers: 2 }
YAML
cfg="$T/app/domicile.yaml"
cp "$T/app/regions/beijing.db" "$T/src.copy.db"

# ---- plan: every table with its class ----
run_dom "$T/p.json" "$T/e" -c "$cfg" plan --json
check "plan reads the schema (exit 0)" [ "$status" -eq 0 ]
expect_eq "plan --json: every table's class" \
    "$(jq -r '[.schema[] | "\(.table):\(.class)"] | join(" ")' "$T/p.json")" \
    "accounts:tenants notes:direct attachments:indirect orders:direct order_items:indirect item_notes:indirect countries:global"
expect_eq "plan --json: how an indirect table three levels down finds its tenant" \
    "$(jq -r '.schema[] | select(.table == "item_notes") | .tenant' "$T/p.json")" \
    "item_notes.(i_owner, i_no, i_line) -> order_items.(o_owner, o_no, line), order_items.(o_owner, o_no) -> orders.(owner, order_no), column orders.owner"
moving=$(sqlite3 "$T/app/regions/beijing.db" "SELECT count(*) FROM accounts WHERE country <> 'CN'")
rows=$(sqlite3 "$T/app/regions/beijing.db" "
SELECT (SELECT count(*) FROM accounts WHERE country <> 'CN')
     + (SELECT count(*) FROM notes n JOIN accounts a ON a.id = n.account_id WHERE a.country <> 'CN')
     + (SELECT count(*) FROM attachments x JOIN notes n ON n.id = x.note_id JOIN accounts a ON a.id = n.account_id WHERE a.country <> 'CN')
     + (SELECT count(*) FROM orders o JOIN accounts a ON a.id = o.owner WHERE a.country <> 'CN')
     + (SELECT count(*) FROM order_items i JOIN accounts a ON a.id = i.o_owner WHERE a.country <> 'CN')
     + (SELECT count(*) FROM item_notes i JOIN accounts a ON a.id = i.i_owner WHERE a.country <> 'CN')")
expect_eq "plan counts the rows of every table of the moving tenants, indirect ones too" \
    "$(jq -r '[.waves[].rows] | add' "$T/p.json")" "$rows"
run_dom "$T/o" "$T/e" -c "$cfg" plan
check "plan's text lists the global table" grep -q "^countries  *global  *none" "$T/o"

# ---- ambiguous links stop plan until the config decides ----
cp -r "$T/app" "$T/amb"
for r in beijing singapore; do sqlite3 "$T/amb/regions/$r.db" "CREATE TABLE gifts (id INTEGER PRIMARY KEY, giver INTEGER REFERENCES accounts (id), taker INTEGER REFERENCES accounts (id));
CREATE TABLE shares (id INTEGER PRIMARY KEY, note_id INTEGER REFERENCES notes (id), order_owner INTEGER, order_no INTEGER, FOREIGN KEY (order_owner, order_no) REFERENCES orders (owner, order_no))"; done
run_dom "$T/o" "$T/e" -c "$T/amb/domicile.yaml" plan
check "two foreign keys to the tenants table: plan stops (exit 3)" [ "$status" -eq 3 ]
check "... naming the table and both columns" grep -Eq 'table "gifts": columns ("giver", "taker"|"taker", "giver") each reference a tenant' "$T/e"
printf 'tables:\n  - { table: gifts, key: giver }\n' >>"$T/amb/domicile.yaml"
run_dom "$T/o" "$T/e" -c "$T/amb/domicile.yaml" plan
check "with gifts decided, two links to two direct tables stop plan" grep -Eq 'table "shares": its foreign keys (\(note_id\) -> notes, \(order_owner, order_no\) -> orders|\(order_owner, order_no\) -> orders, \(note_id\) -> notes) could lead to different tenants' "$T/e"
printf '  - { table: shares, parent: notes, columns: [note_id] }\n' >>"$T/amb/domicile.yaml"
run_dom "$T/p2.json" "$T/e" -c "$T/amb/domicile.yaml" plan --json
check "with both decided plan runs" [ "$status" -eq 0 ]
expect_eq "... and takes the config's key and link" \
    "$(jq -r '[.schema[] | select(.table == "gifts" or .table == "shares") | .tenant] | join("; ")' "$T/p2.json")" \
    "column giver; shares.note_id -> notes.id, column notes.account_id"
printf '  - { table: orders, global: true }\n' >>"$T/amb/domicile.yaml"
run_dom "$T/p3.json" "$T/e" -c "$T/amb/domicile.yaml" plan --json
expect_eq "a table the config declares global takes the tables below it along" \
    "$(jq -r '[.schema[] | select(.class == "global") | .table] | join(" ")' "$T/p3.json")" \
    "countries item_notes order_items orders"
printf '  - { table: shares2, parent: countries, columns: [cc] }\n' >>"$T/amb/domicile.yaml"
for r in beijing singapore; do sqlite3 "$T/amb/regions/$r.db" "CREATE TABLE shares2 (cc TEXT)"; done
run_dom "$T/o" "$T/e" -c "$T/amb/domicile.yaml" plan
check "a link the config gives to a global table is refused" grep -q 'table "shares2": its link leads to "countries", which is global; its rows would have no tenant' "$T/e"
rm -rf "$T/amb"

# ---- the region refuses rows it cannot hold ----
run_dom "$T/o" "$T/e" -c "$cfg" prepare
check "prepare exits 0" [ "$status" -eq 0 ]
check "... creating the 7 tables the empty region lacked" grep -q "^created 7 tables that regions lacked" "$T/o"
expect_eq "us-east's tables and indexes are beijing's, as beijing defines them" \
    "$(sqlite3 "$T/app/regions/us-east.db" "SELECT sql FROM sqlite_schema WHERE name NOT LIKE 'domicile%' AND name NOT LIKE 'sqlite%' AND type IN ('table', 'index') ORDER BY name")" \
    "$(sqlite3 "$T/app/regions/beijing.db" "SELECT sql FROM sqlite_schema WHERE name NOT LIKE 'domicile%' AND name NOT LIKE 'sqlite%' AND type IN ('table', 'index') ORDER BY name")"
expect_eq "... and the global table its rows" "$(sqlite3 "$T/app/regions/us-east.db" "SELECT * FROM countries ORDER BY 1")" \
    "$(sqlite3 "$T/app/regions/beijing.db" "SELECT * FROM countries ORDER BY 1")"
# nothing in motion: quiet (the INSERT check, and the UPDATE check when
# the columns that lead to the tenant change)
for t in accounts notes attachments orders order_items item_notes; do
    expect_eq "prepare installs the quiet triggers on $t (INSERT, UPDATE of the tenant or link columns)" \
        "$(sqlite3 "$T/app/regions/singapore.db" "SELECT group_concat(substr(name, -2), ',') FROM (SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = '$t' AND name LIKE 'domicile_%' ORDER BY name)")" "bi,bu"
done
expect_eq "... the UPDATE check of attachments fires when its link to notes changes" \
    "$(sqlite3 "$T/app/regions/singapore.db" "SELECT sql LIKE '%OLD.\"note_id\" IS NOT NEW.\"note_id\"%' FROM sqlite_schema WHERE name = 'domicile_attachments_bu'")" "1"
expect_eq "... and none on the global table" \
    "$(sqlite3 "$T/app/regions/singapore.db" "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'countries'")" "0"
cp -r "$T/app" "$T/ref"
sqlite3 "$T/ref/regions/singapore.db" "INSERT INTO notes VALUES (900000, 4, 'a CN account''s note')" 2>"$T/e"
check "a note of a CN account inserted into singapore is refused" grep -q "domicile: tenant 4 is not in region singapore (a row of notes)" "$T/e"
sqlite3 "$T/ref/regions/singapore.db" "INSERT INTO attachments VALUES (900000, 11, x'00')" 2>"$T/e"
check "an attachment whose note is not in singapore is refused, naming the parent" grep -q "domicile: table attachments: its parent row in notes (id = 11) is not in region singapore" "$T/e"
sqlite3 "$T/ref/regions/singapore.db" "INSERT INTO item_notes VALUES (5, 1, 1, 'x')" 2>"$T/e"
check "an item note three levels down likewise" grep -q "its parent row in order_items (o_owner = 5, o_no = 1, line = 1) is not in region singapore" "$T/e"
check "an attachment of a beijing note is accepted in beijing" sqlite3 "$T/ref/regions/beijing.db" "INSERT INTO attachments VALUES (900001, 41, x'00')"
check "a global row is accepted anywhere" sqlite3 "$T/ref/regions/singapore.db" "INSERT INTO countries VALUES ('DE', 'Germany')"
rm -rf "$T/ref"

# ---- a row whose link moves it to another tenant during a move ----
cp -r "$T/app" "$T/kc"
kcfg="$T/kc/domicile.yaml"
DOMICILE_FAULT=copied:1 "$DOMICILE" -c "$kcfg" apply >/dev/null 2>&1
# (a tenant of the batch the journal says was copied: with two workers
# another batch may have been stopped before its copy, which a rerun
# arms again from the start)
t1=$(sqlite3 "$T/kc/domicile.db" "SELECT min(CAST(tenant AS INTEGER)) FROM batch_tenants WHERE batch = (SELECT min(id) FROM batches WHERE step = 'copied')")
cnn=$(sqlite3 "$T/kc/regions/beijing.db" "SELECT min(n.id) FROM notes n JOIN accounts a ON a.id = n.account_id WHERE a.country = 'CN'")
att=$(sqlite3 "$T/kc/regions/beijing.db" "SELECT min(x.id) FROM attachments x JOIN notes n ON n.id = x.note_id WHERE n.account_id = $t1")
sqlite3 "$T/kc/regions/beijing.db" "UPDATE attachments SET note_id = $cnn WHERE id = $att"
run_dom "$T/o" "$T/e" -c "$kcfg" apply
check "an attachment moved to a CN account's note during the move fails the batch (exit 2)" [ "$status" -eq 2 ]
check "... with a clear message" grep -q "table \"attachments\": a row of tenant $t1 (primary key \[$att\]) changed its tenant key during the move" "$T/e"
expect_eq "... and the attachment stays with the CN account's note, in beijing" \
    "$(sqlite3 "$T/kc/regions/beijing.db" "SELECT note_id FROM attachments WHERE id = $att")" "$cnn"
rm -rf "$T/kc"

# ---- writers on indirect tables while the mover is killed at random ----
app_read() { sqlite3 "$T/app/regions/$1.db" "$2"; }
app_write() { sqlite3 -cmd ".timeout 20000" -cmd "PRAGMA foreign_keys = ON" "$T/app/regions/$1.db" "$2; SELECT changes();"; }
for n in 1 2 3 4; do app_writer $n & done
kills=0
run_killed apply
check "apply under writers and kill -9 finishes" [ $? -eq 0 ]
run_killed rollback --wave rest
check "rollback of a wave under writers and kill -9 finishes" [ $? -eq 0 ]
run_killed apply
check "apply again finishes" [ $? -eq 0 ]
touch "$T/stop"
wait
check "the mover was killed at least 3 times ($kills)" [ $kills -ge 3 ]
app_check_writes "$T/app/domicile.db"
# every other row as it was, in its tenant's home
final_rows() {
    for r in beijing singapore us-east; do
        sqlite3 "$T/app/regions/$r.db" "
SELECT 'accounts', a.*, d.region = '$r' FROM accounts a JOIN dir d ON d.tenant = CAST(a.id AS TEXT);
SELECT 'notes', n.*, d.region = '$r' FROM notes n JOIN dir d ON d.tenant = CAST(n.account_id AS TEXT);
SELECT 'attachments', x.id, x.note_id, hex(x.data), d.region = '$r' FROM attachments x JOIN notes n ON n.id = x.note_id
    JOIN dir d ON d.tenant = CAST(n.account_id AS TEXT) WHERE x.id < 1000000;
SELECT 'orders', o.*, d.region = '$r' FROM orders o JOIN dir d ON d.tenant = CAST(o.owner AS TEXT);
SELECT 'order_items', i.*, d.region = '$r' FROM order_items i JOIN dir d ON d.tenant = CAST(i.o_owner AS TEXT);
SELECT 'item_notes', i.*, d.region = '$r' FROM item_notes i JOIN dir d ON d.tenant = CAST(i.i_owner AS TEXT) WHERE remark NOT LIKE 'w%';
SELECT 'rows', (SELECT count(*) FROM attachments) + (SELECT count(*) FROM notes) + (SELECT count(*) FROM accounts)
    + (SELECT count(*) FROM orders) + (SELECT count(*) FROM order_items) + (SELECT count(*) FROM item_notes);
SELECT 'countries', * FROM countries;" -cmd "ATTACH '$T/app/domicile.db' AS c" -cmd "CREATE TEMP VIEW dir AS SELECT * FROM c.directory"
    done | LC_ALL=C sort
}
final_rows >"$T/final.rows"
# the same from the original: every row in beijing, each tenant at its home now
cp -r "$T/app" "$T/orig"
for r in beijing singapore us-east; do sqlite3 "$T/orig/regions/$r.db" "DELETE FROM item_notes; DELETE FROM attachments; DELETE FROM order_items; DELETE FROM orders; DELETE FROM notes; DELETE FROM accounts" 2>/dev/null; done
expected_rows() {
    for r in beijing singapore us-east; do
        sqlite3 "$T/src.db" "
SELECT 'accounts', a.*, d.region = '$r' FROM accounts a JOIN dir d ON d.tenant = CAST(a.id AS TEXT) WHERE d.region = '$r';
SELECT 'notes', n.*, d.region = '$r' FROM notes n JOIN dir d ON d.tenant = CAST(n.account_id AS TEXT) WHERE d.region = '$r' AND n.id NOT IN ($deleted);
SELECT 'attachments', x.id, x.note_id, hex(x.data), d.region = '$r' FROM attachments x JOIN notes n ON n.id = x.note_id
    JOIN dir d ON d.tenant = CAST(n.account_id AS TEXT) WHERE d.region = '$r' AND n.id NOT IN ($deleted);
SELECT 'orders', o.*, d.region = '$r' FROM orders o JOIN dir d ON d.tenant = CAST(o.owner AS TEXT) WHERE d.region = '$r';
SELECT 'order_items', i.*, d.region = '$r' FROM order_items i JOIN dir d ON d.tenant = CAST(i.o_owner AS TEXT) WHERE d.region = '$r';
SELECT 'item_notes', i.*, d.region = '$r' FROM item_notes i JOIN dir d ON d.tenant = CAST(i.i_owner AS TEXT) WHERE d.region = '$r';
SELECT 'countries', * FROM countries;" -cmd "ATTACH '$T/app/domicile.db' AS c" -cmd "CREATE TEMP VIEW dir AS SELECT * FROM c.directory"
    done
}
rm -rf "$T/orig"
cp "$T/src.copy.db" "$T/src.db"
expected_rows >"$T/expected.rows"
grep -v '^rows|' "$T/final.rows" >"$T/final.cmp"
LC_ALL=C sort "$T/expected.rows" >"$T/expected.cmp"
check "every row the writers left alone is at its tenant's home exactly once, as it was; the global table untouched" cmp -s "$T/expected.cmp" "$T/final.cmp"
cmp -s "$T/expected.cmp" "$T/final.cmp" || diff "$T/expected.cmp" "$T/final.cmp" | head -5
expect_eq "... and no other row is anywhere (rows counted in the regions = rows checked + rows the writers added)" \
    "$(awk -F'|' '/^rows\|/ { n += $2 } END { print n }' "$T/final.rows")" \
    "$(($(grep -vc '^countries|' "$T/final.cmp") + $(wc -l <"$T/got.A") + $(wc -l <"$T/got.I")))"
for r in beijing singapore us-east; do
    expect_eq "every foreign key holds in $r" "$(sqlite3 "$T/app/regions/$r.db" "PRAGMA foreign_key_check" | wc -l)" "0"
done
run_dom "$T/o" "$T/e" -c "$cfg" verify
check "verify exits 0" [ "$status" -eq 0 ]
run_dom "$T/o" "$T/e" -c "$cfg" audit
check "audit exits 0" [ "$status" -eq 0 ]
