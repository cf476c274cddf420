# Tables found through foreign keys on PostgreSQL regions, mixed with an
# SQLite one: beijing and singapore are databases of one PostgreSQL
# server, us-east an SQLite file.  The schema of indirect.sh (a tenant key
# with another name in its children, indirect tables two and three levels
# down, one without a primary key, a composite link, a global table);
# plan's classes; refusals with SQLSTATE DM003; the waves and a rollback
# under writer processes writing to indirect tables with foreign keys
# enforced (inserts, and deletes that cascade) while the mover is killed
# at random moments; afterwards every acknowledged write is at its
# tenant's home exactly once, nothing of a moved tenant is anywhere else,
# the global table is untouched, every foreign key holds (PostgreSQL
# validates them; SQLite's foreign_key_check), verify and audit exit 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg.sh"

pg_start regions || { not_ok "start PostgreSQL"; exit 1; }
P="$PGBIN/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PG_PORT -U postgres"
PGSCHEMA="
CREATE TABLE countries (code text PRIMARY KEY, name text);
CREATE TABLE accounts (id integer PRIMARY KEY, country text NOT NULL REFERENCES countries (code), name text);
CREATE TABLE notes (id integer PRIMARY KEY, account_id integer NOT NULL REFERENCES accounts (id), body text);
CREATE INDEX notes_account ON notes (account_id);
CREATE TABLE attachments (id integer PRIMARY KEY, note_id integer NOT NULL REFERENCES notes (id) ON DELETE CASCADE, data bytea);
CREATE INDEX attachments_note ON attachments (note_id);
CREATE TABLE orders (owner integer NOT NULL REFERENCES accounts (id), order_no integer NOT NULL, total double precision,
                     PRIMARY KEY (owner, order_no));
CREATE TABLE order_items (o_owner integer NOT NULL, o_no integer NOT NULL, line integer NOT NULL, sku text,
                          PRIMARY KEY (o_owner, o_no, line),
                          FOREIGN KEY (o_owner, o_no) REFERENCES orders (owner, order_no));
CREATE TABLE item_notes (i_owner integer, i_no integer, i_line integer, remark text,
                         FOREIGN KEY (i_owner, i_no, i_line) REFERENCES order_items (o_owner, o_no, line));
CREATE INDEX item_notes_item ON item_notes (i_owner, i_no, i_line);
INSERT INTO countries VALUES ('CN', 'China'), ('SG', 'Singapore'), ('MY', 'Malaysia'), ('US', 'United States');"
# singapore and us-east start empty: prepare creates the tables there
# (from beijing's definition on PostgreSQL, through the type mapping on
# SQLite)
for db in beijing singapore; do $P -d postgres -c "CREATE DATABASE $db" >/dev/null; done
$P -d beijing -c "$PGSCHEMA" >/dev/null
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
                     PRIMARY KEY (owner, order_no));
CREATE TABLE order_items (o_owner INTEGER NOT NULL, o_no INTEGER NOT NULL, line INTEGER NOT NULL, sku TEXT,
                          PRIMARY KEY (o_owner, o_no, line),
                          FOREIGN KEY (o_owner, o_no) REFERENCES orders (owner, order_no));
CREATE TABLE item_notes (i_owner INTEGER, i_no INTEGER, i_line INTEGER, remark TEXT,
                         FOREIGN KEY (i_owner, i_no, i_line) REFERENCES order_items (o_owner, o_no, line));
CREATE INDEX item_notes_item ON item_notes (i_owner, i_no, i_line);
INSERT INTO countries VALUES ('CN', 'China'), ('SG', 'Singapore'), ('MY', 'Malaysia'), ('US', 'United States');
SQL
sqlite3 "$T/app/regions/us-east.db" "PRAGMA journal_mode=WAL" >/dev/null
$P -d beijing -c "
INSERT INTO accounts SELECT i, CASE i % 4 WHEN 0 THEN 'CN' WHEN 1 THEN 'SG' WHEN 2 THEN 'MY' ELSE 'US' END, 'a' || i FROM generate_series(1, 300) i;
INSERT INTO notes SELECT id * 10 + k, id, 'note' FROM accounts, generate_series(1, 3) k;
INSERT INTO attachments SELECT id * 10 + 1, id, decode(md5(id::text), 'hex') FROM notes;
INSERT INTO orders SELECT id, k, k * 1.5 FROM accounts, generate_series(1, 2) k;
INSERT INTO order_items SELECT owner, order_no, k, 'sku' FROM orders, generate_series(1, 2) k;
INSERT INTO item_notes SELECT o_owner, o_no, line, 'r' FROM order_items WHERE line = 1;
INSERT INTO item_notes SELECT o_owner, o_no, line, 'r' FROM order_items WHERE line = 1" >/dev/null
cat >"$T/app/domicile.yaml" <<YAML
regions:
  beijing:   { dsn: "postgresql://postgres@127.0.0.1:$PG_PORT/beijing", location: CN }
  singapore: { dsn: "postgresql://postgres@127.0.0.1:$PG_PORT/singapore", location: SG }
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
# q REGION SQL: rows of a query in a region, "|"-separated
q() {
    if [ "$1" = us-east ]; then
        sqlite3 "$T/app/regions/us-east.db" "$2"
    else
        $P -d "$1" -At -F'|' -c "$2"
    fi
}
$P -d beijing -At -F'|' -c "SELECT 'countries', * FROM countries ORDER BY 2" >"$T/countries.orig"

# ---- plan: every table with its class ----
run_dom "$T/p.json" "$T/e" -c "$cfg" plan --json
check "plan reads the schema (exit 0)" [ "$status" -eq 0 ]
expect_eq "plan --json: every table's class" \
    "$(jq -r '[.schema[] | "\(.table):\(.class)"] | join(" ")' "$T/p.json")" \
    "accounts:tenants notes:direct attachments:indirect orders:direct order_items:indirect item_notes:indirect countries:global"
rows=$(q beijing "
SELECT (SELECT count(*) FROM accounts WHERE country <> 'CN')
     + (SELECT count(*) FROM notes n JOIN accounts a ON a.id = n.account_id WHERE a.country <> 'CN')
     + (SELECT count(*) FROM attachments x JOIN notes n ON n.id = x.note_id JOIN accounts a ON a.id = n.account_id WHERE a.country <> 'CN')
     + (SELECT count(*) FROM orders o JOIN accounts a ON a.id = o.owner WHERE a.country <> 'CN')
     + (SELECT count(*) FROM order_items i JOIN accounts a ON a.id = i.o_owner WHERE a.country <> 'CN')
     + (SELECT count(*) FROM item_notes i JOIN accounts a ON a.id = i.i_owner WHERE a.country <> 'CN')")
expect_eq "plan counts the rows of every table of the moving tenants, indirect ones too" \
    "$(jq -r '[.waves[].rows] | add' "$T/p.json")" "$rows"

# ---- prepare creates the tables in the empty regions ----
run_dom "$T/o" "$T/e" -c "$cfg" prepare
check "prepare exits 0" [ "$status" -eq 0 ]
cat "$T/e"
check "... saying it created the tables the empty regions lacked (7 each)" grep -q "^created 14 tables that regions lacked" "$T/o"
pgdef() {
    $P -d "$1" -At -c "SELECT c.relname || ' ' || pg_get_constraintdef(k.oid) FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
                        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1;
                       SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1;
                       SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable FROM information_schema.columns
                        WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
}
expect_eq "singapore's tables are beijing's: columns, types, keys, foreign keys, indexes" "$(pgdef singapore)" "$(pgdef beijing)"
expect_eq "the global table referenced by the tenants table was created with beijing's rows" \
    "$(q singapore "SELECT 'countries', * FROM countries ORDER BY 2")" "$(cat "$T/countries.orig")"
expect_eq "... in the SQLite region too" \
    "$(q us-east "SELECT 'countries', * FROM countries ORDER BY 2")" "$(cat "$T/countries.orig")"
expect_eq "us-east (SQLite) got the tables through the type mapping" \
    "$(sqlite3 "$T/app/regions/us-east.db" "SELECT s.name || ':' || group_concat(c.name || ' ' || c.type || ' ' || c.\"notnull\" || ' ' || c.pk, ',') FROM sqlite_schema s, pragma_table_info(s.name) c WHERE s.type = 'table' AND s.name NOT LIKE 'domicile%' AND s.name NOT LIKE 'sqlite%' GROUP BY s.name ORDER BY s.name" | head -3 | tr '\n' ' ')" \
    "accounts:id INTEGER 1 1,country TEXT 1 0,name TEXT 0 0 attachments:id INTEGER 1 1,note_id INTEGER 1 0,data BLOB 0 0 countries:code TEXT 1 1,name TEXT 0 0 "
expect_eq "... with beijing's foreign keys and indexes" \
    "$(sqlite3 "$T/app/regions/us-east.db" "SELECT s.name || '->' || f.\"table\" || '(' || f.\"from\" || ') ' || f.on_delete FROM sqlite_schema s, pragma_foreign_key_list(s.name) f WHERE s.type = 'table' ORDER BY 1; SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite%' AND name NOT LIKE 'domicile%' ORDER BY 1" | tr '\n' ' ')" \
    "accounts->countries(country) NO ACTION attachments->notes(note_id) CASCADE item_notes->order_items(i_line) NO ACTION item_notes->order_items(i_no) NO ACTION item_notes->order_items(i_owner) NO ACTION notes->accounts(account_id) NO ACTION order_items->orders(o_no) NO ACTION order_items->orders(o_owner) NO ACTION orders->accounts(owner) NO ACTION attachments_note item_notes_item notes_account "
run_dom "$T/o" "$T/e" -c "$cfg" prepare
check "prepare again creates nothing" sh -c "[ $status -eq 0 ] && ! grep -q '^created' '$T/o'"

# ---- the region refuses rows it cannot hold ----
try() { $P -d "$1" -v VERBOSITY=verbose -c "$2" 2>&1; }
out=$(try singapore "INSERT INTO notes VALUES (900000, 4, 'a CN account''s note')")
check "a note of a CN account inserted into singapore: DM003" \
    sh -c "echo \"\$1\" | grep -q 'DM003: domicile: tenant 4 is not in region singapore (a row of notes)'" _ "$out"
out=$(try singapore "INSERT INTO attachments VALUES (900000, 11, '\\x00')")
check "an attachment whose note is not in singapore: DM003 naming the parent" \
    sh -c "echo \"\$1\" | grep -q 'DM003: domicile: table attachments: its parent row in notes (id = .11.) is not in region singapore'" _ "$out"
out=$(try singapore "INSERT INTO item_notes VALUES (5, 1, 1, 'x')")
check "an item note three levels down likewise" \
    sh -c "echo \"\$1\" | grep -q 'its parent row in order_items (o_owner = .5., o_no = .1., line = .1.) is not in region singapore'" _ "$out"
check "an attachment of a beijing note is accepted in beijing" sh -c "$P -d beijing -c \"INSERT INTO attachments VALUES (900001, 41, '\\\\x00'); DELETE FROM attachments WHERE id = 900001\""
# ---- writers on indirect tables while the mover is killed at random ----
app_read() { q "$1" "$2"; }
app_write() {
    if [ "$1" = us-east ]; then
        sqlite3 -cmd ".timeout 20000" -cmd "PRAGMA foreign_keys = ON" "$T/app/regions/us-east.db" "$2; SELECT changes();"
    else
        $P -d "$1" -At -c "WITH w AS ($2 RETURNING 1) SELECT count(*) FROM w"
    fi
}
q beijing "SELECT (SELECT count(*) FROM accounts) + (SELECT count(*) FROM notes) + (SELECT count(*) FROM attachments)
    + (SELECT count(*) FROM orders) + (SELECT count(*) FROM order_items) + (SELECT count(*) FROM item_notes)" >"$T/rows.start"
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
# every row of every tenant table sits at its tenant's home; the
# untouched rows are the original ones
tenant_rows() {
    # (both engines take CAST; PostgreSQL wants one type per column)
    app_everywhere "
SELECT 'accounts', CAST(id AS TEXT), CAST(id AS TEXT), country, name FROM accounts UNION ALL
SELECT 'notes', CAST(n.account_id AS TEXT), CAST(n.id AS TEXT), n.body, '' FROM notes n UNION ALL
SELECT 'attachments', CAST(n.account_id AS TEXT), CAST(x.id AS TEXT), CAST(x.note_id AS TEXT), ''
    FROM attachments x JOIN notes n ON n.id = x.note_id WHERE x.id < 1000000 UNION ALL
SELECT 'orders', CAST(owner AS TEXT), CAST(owner AS TEXT), CAST(order_no AS TEXT), CAST(total AS TEXT) FROM orders UNION ALL
SELECT 'order_items', CAST(o_owner AS TEXT), CAST(o_owner AS TEXT), CAST(o_no AS TEXT), CAST(line AS TEXT) || sku FROM order_items UNION ALL
SELECT 'item_notes', CAST(i_owner AS TEXT), CAST(i_no AS TEXT), CAST(i_line AS TEXT), remark FROM item_notes WHERE remark NOT LIKE 'w%'"
}
tenant_rows >"$T/final.rows"
expect_eq "every row of every tenant table sits at its tenant's home" \
    "$(awk -F'|' 'FILENAME ~ /dir$/ { home[$1] = $2; next } home[$3] != $1 { n++ } END { print n + 0 }' "$T/dir" "$T/final.rows")" "0"
expect_eq "every tenant row the writers left alone is there once (their count as at the start, less the deleted notes and their attachments)" \
    "$(wc -l <"$T/final.rows")" "$(($(cat "$T/rows.start") - $(echo "$deleted" | tr ',' '\n' | wc -l) * 2))"
for r in beijing singapore us-east; do
    expect_eq "the global table is untouched in $r" "$(q "$r" "SELECT 'countries', * FROM countries ORDER BY 2")" "$(cat "$T/countries.orig")"
done
for r in beijing singapore; do
    check "every foreign key holds in $r (PostgreSQL validates them again)" sh -c "$P -d $r -c \"
ALTER TABLE notes VALIDATE CONSTRAINT notes_account_id_fkey;
ALTER TABLE attachments DROP CONSTRAINT attachments_note_id_fkey, ADD CONSTRAINT attachments_note_id_fkey FOREIGN KEY (note_id) REFERENCES notes (id) ON DELETE CASCADE;
ALTER TABLE item_notes DROP CONSTRAINT item_notes_i_owner_i_no_i_line_fkey, ADD CONSTRAINT item_notes_i_owner_i_no_i_line_fkey FOREIGN KEY (i_owner, i_no, i_line) REFERENCES order_items (o_owner, o_no, line);
ALTER TABLE order_items DROP CONSTRAINT order_items_o_owner_o_no_fkey, ADD CONSTRAINT order_items_o_owner_o_no_fkey FOREIGN KEY (o_owner, o_no) REFERENCES orders (owner, order_no)\""
done
expect_eq "every foreign key holds in us-east" "$(sqlite3 "$T/app/regions/us-east.db" "PRAGMA foreign_key_check" | wc -l)" "0"
run_dom "$T/o" "$T/e" -c "$cfg" verify
check "verify exits 0" [ "$status" -eq 0 ]
run_dom "$T/o" "$T/e" -c "$cfg" audit
check "audit exits 0" [ "$status" -eq 0 ]
