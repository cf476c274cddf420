# PostgreSQL regions: plan and audit read them; prepare installs the fence
# and guard tables and the PL/pgSQL triggers; the region's own database
# refuses a forbidden new tenant (SQLSTATE DM002), a write to a tenant that
# moved away (DM001) and one that is frozen (40001), and leaves writes to
# tenants at home alone; prepare --remove takes it all out.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg.sh"

pg_start regions || { not_ok "start PostgreSQL"; exit 1; }
P="$PGBIN/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PG_PORT -U postgres"
for db in beijing singapore; do
    $P -d postgres -c "CREATE DATABASE $db" >/dev/null
    $P -d $db -c "CREATE TABLE users (user_id integer PRIMARY KEY, country text NOT NULL, name text);
                  CREATE TABLE messages (user_id integer NOT NULL REFERENCES users (user_id),
                                         message_no integer NOT NULL, body text,
                                         PRIMARY KEY (user_id, message_no))" >/dev/null
done
$P -d beijing -c "INSERT INTO users VALUES (1, 'CN', 'a'), (2, 'SG', 'b'), (3, 'MY', 'c');
                  INSERT INTO messages VALUES (1, 1, 'x'), (2, 1, 'y'), (2, 2, 'z'), (3, 1, 'w')" >/dev/null
cat >"$T/domicile.yaml" <<YAML
catalog: sqlite:domicile.db
regions:
  beijing:   { dsn: "postgresql://postgres@127.0.0.1:$PG_PORT/beijing", location: CN }
  singapore: { dsn: "postgresql:host=127.0.0.1 port=$PG_PORT user=postgres dbname=singapore", location: SG }
tenants: { table: users, key: user_id, country: country }
policy:
  - { countries: [CN], home: beijing }
  - { countries: ["*"], home: singapore }
waves:
  - { name: all }
YAML
cfg="$T/domicile.yaml"

run_dom "$T/p.json" "$T/e" -c "$cfg" plan --json
check "plan reads PostgreSQL regions" [ "$status" -eq 0 ]
expect_eq "plan: 3 tenants, 2 misplaced" "$(jq -r '"\(.tenants) \(.misplaced)"' "$T/p.json")" "3 2"
expect_eq "plan: the rows of the moving tenants" "$(jq -r '.waves[0].rows' "$T/p.json")" "5"
expect_eq "plan: tables in foreign-key order" "$(jq -r '.tables | join(",")' "$T/p.json")" "users,messages"

# two DSNs that reach one server and database: by address and through the
# server's socket, with other parameters in another form
sock=$($P -d postgres -At -c "SHOW unix_socket_directories" | cut -d, -f1)
sed "s|postgresql:host=127.0.0.1 port=$PG_PORT user=postgres dbname=singapore|postgresql:dbname=beijing user=postgres host=$sock port=$PG_PORT|" "$cfg" >"$T/same.yaml"
grep -q "host=$sock" "$T/same.yaml" || not_ok "the config reaches beijing through $sock"
run_dom "$T/o" "$T/e" -c "$T/same.yaml" prepare
check "prepare refuses two regions that reach one PostgreSQL database (exit 1)" [ "$status" -eq 1 ]
check "... naming both" grep -q 'regions "beijing" and "singapore" reach the same database' "$T/e"
expect_eq "... and installs nothing" "$($P -d beijing -At -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'domicile'")" "0"

run_dom "$T/o" "$T/e" -c "$cfg" prepare
check "prepare installs on PostgreSQL regions" [ "$status" -eq 0 ]
expect_eq "the guard lists the countries allowed in beijing" "$($P -d beijing -At -c "SELECT string_agg(country, ',') FROM domicile.guard")" "CN"

# psql with VERBOSITY verbose prints "ERROR:  SQLSTATE: message"
try() { $P -d "$1" -v VERBOSITY=verbose -c "$2" 2>&1; }
out=$(try beijing "INSERT INTO users VALUES (10, 'MY', 'new')")
check "a new MY tenant in beijing: SQLSTATE DM002 with the message" \
    sh -c "echo \"\$1\" | grep -q 'DM002: domicile: residency policy forbids storing tenant 10 (country MY) in region beijing'" _ "$out"
check "a new CN tenant in beijing is accepted" sh -c "$P -d beijing -c \"INSERT INTO users VALUES (11, 'CN', 'new')\""

# nothing in motion: the regions are quiet (docs/mover.md "Quiet regions"):
# INSERTs and the UPDATEs that change a row's tenant are checked, other
# UPDATEs and DELETEs have nothing to check
expect_eq "with nothing in motion prepare leaves the regions quiet" \
    "$($P -d beijing -At -c "SELECT value FROM domicile.region WHERE key = 'mode'")" "quiet"
out=$(try beijing "UPDATE messages SET user_id = 77 WHERE user_id = 1")
check "quiet: an UPDATE that gives a row a tenant not here is refused: DM003" \
    sh -c "echo \"\$1\" | grep -q 'DM003: domicile: tenant 77 is not in region beijing (a row of messages)'" _ "$out"
check "quiet: an UPDATE keeping the tenant goes through" sh -c "$P -d beijing -c \"UPDATE messages SET body = 'q' WHERE user_id = 1\""
expect_eq "quiet: a direct table's INSERTs go to its quiet function (writer's rights)" \
    "$($P -d beijing -At -c "SELECT tgfoid::regproc::text LIKE 'domicile.quiet_%' FROM pg_trigger WHERE tgrelid = 'messages'::regclass AND tgname = 'domicile_check'")" "t"
$P -d beijing -c "CREATE ROLE app2 LOGIN; GRANT SELECT, INSERT ON messages, users TO app2" >/dev/null
A2="$PGBIN/psql -X -q -h 127.0.0.1 -p $PG_PORT -U app2 -d beijing -v VERBOSITY=verbose"
check "quiet: an application role without domicile's privileges inserts a row of a tenant at home" \
    sh -c "$A2 -v ON_ERROR_STOP=1 -c \"INSERT INTO messages VALUES (1, 50, 'q')\""
check "... and in a REPEATABLE READ transaction (the checks under the lock)" \
    sh -c "$A2 -v ON_ERROR_STOP=1 -c 'BEGIN ISOLATION LEVEL REPEATABLE READ' -c \"INSERT INTO messages VALUES (1, 51, 'rr')\" -c COMMIT"
out=$($A2 -c "INSERT INTO messages VALUES (77, 1, 'x')" 2>&1)
check "... a row of a tenant not here is refused: DM003" \
    sh -c "echo \"\$1\" | grep -q 'DM003: domicile: tenant 77 is not in region beijing (a row of messages)'" _ "$out"
out=$($A2 -c "SET search_path = pg_catalog, public" -c "INSERT INTO messages VALUES (77, 1, 'x')" 2>&1)
check "... also with another search_path" \
    sh -c "echo \"\$1\" | grep -q 'DM003: domicile: tenant 77 is not in region beijing'" _ "$out"
out=$($A2 -c "UPDATE domicile.fence SET state = 'home' WHERE tenant = '1'" 2>&1)
check "... which may read the fences but not change them (42501)" sh -c "echo \"\$1\" | grep -q 'ERROR:  42501'" _ "$out"
$P -d beijing -c "DELETE FROM messages WHERE user_id = 1 AND message_no IN (50, 51)" >/dev/null
# the checks below plant fence states by hand, as a mover would set them
# with the region active: options.quiet_regions false keeps it active
sed -i 's/^waves:/options:\n  quiet_regions: false\nwaves:/' "$cfg"
run_dom "$T/o" "$T/e" -c "$cfg" prepare
check "prepare with options.quiet_regions false" [ "$status" -eq 0 ]
expect_eq "... leaves the regions active" \
    "$($P -d beijing -At -c "SELECT value FROM domicile.region WHERE key = 'mode'")" "active"
out=$(try singapore "INSERT INTO users VALUES (13, 'uk', 'new')")
check "a new tenant with country uk: DM002, saying what is wrong, with the hint" \
    sh -c "echo \"\$1\" | grep -q 'DM002: domicile: tenant 13 has no valid country: uk is not an ISO 3166-1 code; the United Kingdom is GB; region singapore takes no tenant without one'" _ "$out"
out=$(try singapore "INSERT INTO users VALUES (14, ' cn', 'new')")
check "a new CN tenant written ' cn' in singapore: DM002 as CN" \
    sh -c "echo \"\$1\" | grep -q 'DM002: domicile: residency policy forbids storing tenant 14 (country CN) in region singapore'" _ "$out"
check "a new MY tenant written 'my ' is accepted in singapore" sh -c "$P -d singapore -c \"INSERT INTO users VALUES (15, 'my ', 'new'); DELETE FROM users WHERE user_id = 15\""
check "a new MY tenant in singapore is accepted" sh -c "$P -d singapore -c \"INSERT INTO users VALUES (12, 'MY', 'new')\""
# what the mover writes when tenant 2 has moved to singapore, and when tenant 3 is frozen
$P -d beijing -c "INSERT INTO domicile.fence VALUES ('2', 'moved', 'singapore', 2, 1), ('3', 'frozen', NULL, 1, 2)
                  ON CONFLICT (tenant) DO UPDATE SET state = excluded.state, home = excluded.home,
                  epoch = excluded.epoch, batch = excluded.batch" >/dev/null
out=$(try beijing "UPDATE messages SET body = 'late' WHERE user_id = 2 AND message_no = 1")
check "a write to a tenant that moved away: DM001 naming its home and epoch" \
    sh -c "echo \"\$1\" | grep -q 'DM001: domicile: tenant 2 lives in region singapore (epoch 2)'" _ "$out"
out=$(try beijing "DELETE FROM messages WHERE user_id = 3")
check "a write to a frozen tenant: 40001, retry" \
    sh -c "echo \"\$1\" | grep -q '40001: domicile: tenant 3 is moving; retry'" _ "$out"
check "writes to a tenant at home are untouched" sh -c "$P -d beijing -c \"UPDATE messages SET body = 'fine' WHERE user_id = 1\""
expect_eq "... and took effect" "$($P -d beijing -At -c "SELECT body FROM messages WHERE user_id = 1")" "fine"

# the application's own role: owner of its tables, none of domicile's
# privileges.  It can neither change a fence nor touch the change log,
# and no setting it can make takes it past one.
$P -d beijing -c "CREATE ROLE app LOGIN; ALTER TABLE users OWNER TO app; ALTER TABLE messages OWNER TO app" >/dev/null
A="$PGBIN/psql -X -q -h 127.0.0.1 -p $PG_PORT -U app -d beijing -v VERBOSITY=verbose"
fences() { $P -d beijing -At -c "SELECT string_agg(tenant || ':' || state, ',' ORDER BY tenant) FROM domicile.fence"; }
before=$(fences)
changes=$($P -d beijing -At -c "SELECT count(*) || ':' || coalesce(max(seq), 0) FROM domicile.changes")
for sql in "UPDATE domicile.fence SET state = 'home' WHERE tenant = '2'" \
    "DELETE FROM domicile.fence WHERE tenant = '3'" \
    "INSERT INTO domicile.fence VALUES ('99', 'home', NULL, NULL, NULL)" \
    "TRUNCATE domicile.fence" \
    "INSERT INTO domicile.changes (seq, tenant, tbl, pk) VALUES (1000000, '3', 'messages', '[3, 1]')" \
    "DELETE FROM domicile.changes" \
    "UPDATE domicile.guard SET country = 'MY'"; do
    out=$($A -c "$sql" 2>&1)
    check "the application's role is refused: $sql (42501)" sh -c "echo \"\$1\" | grep -q 'ERROR:  42501'" _ "$out"
done
expect_eq "... the fences are as they were" "$(fences)" "$before"
expect_eq "... and the change log" "$($P -d beijing -At -c "SELECT count(*) || ':' || coalesce(max(seq), 0) FROM domicile.changes")" "$changes"
out=$($A -c "SET domicile.bypass = on" -c "UPDATE messages SET body = 'late' WHERE user_id = 2 AND message_no = 1" 2>&1)
check "the application's role setting domicile.bypass still meets the fence: DM001" \
    sh -c "echo \"\$1\" | grep -q 'DM001: domicile: tenant 2 lives in region singapore'" _ "$out"
out=$($A -c "BEGIN" -c "SET LOCAL domicile.held = '=3'" -c "DELETE FROM messages WHERE user_id = 3" 2>&1)
check "... and setting what the triggers once remembered does not pass a frozen tenant: 40001" \
    sh -c "echo \"\$1\" | grep -q '40001: domicile: tenant 3 is moving; retry'" _ "$out"
out=$($A -c "INSERT INTO users VALUES (16, 'MY', 'new')" 2>&1)
check "... a forbidden new tenant: DM002" sh -c "echo \"\$1\" | grep -q 'DM002: domicile: residency policy forbids'" _ "$out"
check "... and its writes to a tenant at home go through" \
    sh -c "$A -v ON_ERROR_STOP=1 -c \"UPDATE messages SET body = 'app' WHERE user_id = 1; INSERT INTO users VALUES (17, 'CN', 'new')\""
expect_eq "... and took effect" "$($P -d beijing -At -c "SELECT body FROM messages WHERE user_id = 1")" "app"
# a capturing tenant's write by the application's role is logged
$P -d beijing -c "UPDATE domicile.fence SET state = 'capturing' WHERE tenant = '1'" >/dev/null
check "... a capturing tenant's write by the application's role goes through" \
    sh -c "$A -v ON_ERROR_STOP=1 -c \"UPDATE messages SET body = 'cap' WHERE user_id = 1\""
expect_eq "... and is in the change log" "$($P -d beijing -At -c "SELECT tenant || ' ' || tbl || ' ' || pk FROM domicile.changes ORDER BY seq DESC LIMIT 1")" "1 messages [1, 1]"
$P -d beijing -c "UPDATE domicile.fence SET state = 'home' WHERE tenant = '1'; DELETE FROM users WHERE user_id = 17; DELETE FROM domicile.fence WHERE tenant = '17'; ALTER TABLE users OWNER TO postgres; ALTER TABLE messages OWNER TO postgres" >/dev/null

run_dom "$T/a.json" "$T/e" -c "$cfg" audit --json
check "audit reads PostgreSQL regions and finds the foreign users in beijing (exit 2)" [ "$status" -eq 2 ]
expect_eq "... SG and MY rows where the policy does not allow them" \
    "$(jq -r '[.findings[] | select(.kind == "not_allowed" and .region == "beijing") | .country] | unique | join(",")' "$T/a.json")" "MY,SG"

expect_eq "a new tenant accepted in a region gets its fence row (state home)" \
    "$($P -d singapore -At -c "SELECT state FROM domicile.fence WHERE tenant = '12'")" "home"

run_dom "$T/o" "$T/e" -c "$cfg" prepare --remove
check "prepare --remove on PostgreSQL" [ "$status" -eq 0 ]
check "... takes the trigger out: a MY tenant can be inserted again" sh -c "$P -d beijing -c \"INSERT INTO users VALUES (13, 'MY', 'x')\""
expect_eq "... and the schema" "$($P -d beijing -At -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'domicile'")" "0"

# prepare on tables in use: readers never wait for it (PostgreSQL 14 and
# later), and a transaction left open holds it, and the writers queued
# behind it, only a while at a time
tx_begin r "BEGIN; SELECT count(*) FROM messages;" $P -d beijing
sleep 0.3
timeout 60 "$DOMICILE" -c "$cfg" prepare >"$T/o" 2>"$T/e"
expect_eq "prepare goes through while a reader's transaction is open" "$?" "0"
tx_end "COMMIT;"
sed -i "s/^options:/options:\n  fence_wait: 3s/" "$cfg"
tx_begin w "BEGIN; UPDATE messages SET body = 'open' WHERE user_id = 1;" $P -d beijing
sleep 0.3
timeout 60 "$DOMICILE" -c "$cfg" prepare >"$T/o" 2>"$T/e" &
pp=$!
sleep 1.5
timed timeout 30 $P -d beijing -c "UPDATE users SET name = 'not held' WHERE user_id = 1" >/dev/null 2>&1
wait $pp
pst=$?
tx_end "COMMIT;"
expect_eq "while a writer's transaction stays open, writes of the tables prepare has locked go through ($timed_ms ms)" "$timed_st" "0"
expect_eq "after options.fence_wait prepare gives up (exit 3)" "$pst" "3"
check "... and says why" grep -q "cannot install the triggers: a transaction has held a tenant table for .* (options.fence_wait)" "$T/e"
run_dom "$T/o" "$T/e" -c "$cfg" prepare
check "once it has ended, prepare goes through" [ "$status" -eq 0 ]
expect_eq "... with every tenant's fence row" \
    "$($P -d beijing -At -c "SELECT count(*) FROM users u JOIN domicile.fence f ON f.tenant = u.user_id::text")" \
    "$($P -d beijing -At -c "SELECT count(*) FROM users")"
# a prepare that ended before the fence rows were in: the mover refuses
$P -d beijing -c "UPDATE domicile.region SET value = 'filling' WHERE key = 'fences'" >/dev/null
run_dom "$T/o" "$T/e" -c "$cfg" apply
check "apply refuses a region whose prepare did not give every tenant its fence row (exit 3)" \
    sh -c "[ $status -eq 3 ] && grep -q 'region \"beijing\": prepare did not finish giving every tenant its fence row; run prepare again' '$T/e'"
run_dom "$T/o" "$T/e" -c "$cfg" prepare
# defaults a managed server's database may set for every session: the
# mover's sessions set their own
for db in beijing singapore; do
    $P -d postgres -c "ALTER DATABASE $db SET statement_timeout = '1ms'" \
        -c "ALTER DATABASE $db SET idle_in_transaction_session_timeout = '1ms'" \
        -c "ALTER DATABASE $db SET default_transaction_isolation = 'serializable'" >/dev/null
done
run_dom "$T/o" "$T/e" -c "$cfg" apply
check "... and moves once prepare has run again, whatever timeouts and isolation the databases default to" [ "$status" -eq 0 ]
[ "$status" -eq 0 ] || cat "$T/e"
for db in beijing singapore; do
    $P -d postgres -c "ALTER DATABASE $db RESET ALL" >/dev/null
done

printf 'regions:\n  r: { dsn: "postgresql://nobody:pw@127.0.0.1:1/none?connect_timeout=2", location: SG }\ntenants: { table: t, key: k, country: c }\npolicy:\n  - { countries: ["*"], home: r }\n' >"$T/down.yaml"
run_dom "$T/o" "$T/e" -c "$T/down.yaml" plan
check "an unreachable PostgreSQL region: exit 3, the region named, no password" \
    sh -c "[ $status -eq 3 ] && grep -q 'region \"r\": cannot connect' '$T/e' && ! grep -q ':pw@' '$T/e'"

# ---- an empty PostgreSQL region gets an SQLite region's tables ----
$P -d postgres -c "CREATE DATABASE emptypg" >/dev/null
mkdir -p "$T/x"
sqlite3 "$T/x/a.db" "PRAGMA journal_mode=WAL;
CREATE TABLE users (user_id INTEGER PRIMARY KEY, country TEXT NOT NULL, score REAL, pic BLOB, joined TEXT);
CREATE TABLE posts (user_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE, n INTEGER NOT NULL,
                    body TEXT, PRIMARY KEY (user_id, n));
CREATE UNIQUE INDEX posts_body ON posts (user_id, body);
CREATE INDEX users_country ON users (country);
INSERT INTO users VALUES (1, 'CN', 1.5, x'00', 1), (2, 'SG', 2.5, x'01', 2);
INSERT INTO posts VALUES (2, 1, 'hi'), (2, 2, 'there')" >/dev/null
cat >"$T/x/domicile.yaml" <<YAML
regions:
  a: { dsn: "sqlite:a.db", location: CN }
  b: { dsn: "postgresql://postgres@127.0.0.1:$PG_PORT/emptypg", location: SG }
tenants: { table: users, key: user_id, country: country }
policy:
  - { countries: [CN], home: a }
  - { countries: ["*"], home: b }
waves:
  - { name: all }
YAML
run_dom "$T/o" "$T/e" -c "$T/x/domicile.yaml" prepare
check "prepare creates an SQLite region's tables in an empty PostgreSQL database" \
    sh -c "[ $status -eq 0 ] && grep -q '^created 2 tables' '$T/o'"
expect_eq "... with PostgreSQL's types for each kind of value, and NOT NULL" \
    "$($P -d emptypg -At -c "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position" | tr '\n' ',')" \
    "posts.user_id bigint NO,posts.n bigint NO,posts.body text YES,users.user_id bigint NO,users.country text NO,users.score double precision YES,users.pic bytea YES,users.joined text YES,"
expect_eq "... the primary keys and the foreign key with its action" \
    "$($P -d emptypg -At -c "SELECT c.relname || ' ' || pg_get_constraintdef(k.oid) FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1" | tr '\n' ',')" \
    "posts FOREIGN KEY (user_id) REFERENCES users(user_id) ON DELETE CASCADE,posts PRIMARY KEY (user_id, n),users PRIMARY KEY (user_id),"
expect_eq "... and the indexes, the unique one unique" \
    "$($P -d emptypg -At -c "SELECT indexname || ' ' || (indexdef LIKE 'CREATE UNIQUE%') FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%pkey' ORDER BY 1" | tr '\n' ',')" \
    "posts_body true,users_country false,"
run_dom "$T/o" "$T/e" -c "$T/x/domicile.yaml" apply
check "apply moves the SG tenant into them" \
    sh -c "[ $status -eq 0 ] && [ \"\$($P -d emptypg -At -c 'SELECT count(*) FROM posts WHERE user_id = 2')\" = 2 ]"
