# The mover on PostgreSQL regions: three servers (beijing, singapore,
# us-east) started for the test; domicile runs as a role that owns the
# application's tables and has CREATE on the database, nothing more; the
# application writes as another role with plain table privileges.
# The invariant suite of the SQLite mover again: a crash at every step and
# random SIGKILLs (I4); 8 writer connections, half of them at REPEATABLE
# READ reading before they write, during the waves and a rollback (I1, I2);
# the barrier shown directly (a writer in flight holds the arming back; a
# writer whose snapshot predates the fence change gets 40001); and a move
# from SQLite to PostgreSQL and back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg.sh"
W="$DOMICILE_BUILD/tests/tools/writer"
TABLES="users devices contacts messages photos backups"
REGIONS="beijing singapore us-east"
export PGUSER=app PGCONNECT_TIMEOUT=10

for r in $REGIONS; do
    pg_start "$r" || { not_ok "start PostgreSQL for $r"; exit 1; }
done
port() { cat "$PGROOT/$1/port"; }
# as the superuser (the test harness), and as the application's owner
su_sql() { r=$1; shift; "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port "$r")" -U postgres "$@"; }
app_sql() { r=$1; db=$2; shift 2; "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port "$r")" -U app -d "$db" "$@"; }

"$DOMICILE" demo --dir "$T/src" --users 1000 --seed 5 --no-plan >/dev/null 2>&1
for r in $REGIONS; do
    su_sql "$r" -d postgres -c "CREATE ROLE app LOGIN" -c "CREATE ROLE client LOGIN" \
        -c "CREATE DATABASE tpl" -c "GRANT CREATE ON DATABASE tpl TO app" || not_ok "roles on $r"
    su_sql "$r" -d tpl -c "GRANT CREATE ON SCHEMA public TO app" \
        -c "ALTER DEFAULT PRIVILEGES FOR ROLE app IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO client"
done
pg_load_demo "$T/src/regions/beijing.db" "$PGBIN/psql" -X -h 127.0.0.1 -p "$(port beijing)" -U app -d tpl ||
    not_ok "load the demo into beijing"
for r in singapore us-east; do
    "$DOMICILE" demo --print-schema postgresql | app_sql "$r" tpl >/dev/null
done
expect_eq "app is not a superuser and cannot replicate" \
    "$(su_sql beijing -d postgres -At -c "SELECT rolsuper OR rolreplication OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = 'app'")" "f"

# config $1 DB: the three servers' database DB, catalog in $1
config() {
    mkdir -p "$1"
    cp "$T/src/domicile.yaml" "$1/domicile.yaml"
    sed -i "s#sqlite:regions/beijing.db#postgresql:host=127.0.0.1 port=$(port beijing) dbname=$2#;
            s#sqlite:regions/singapore.db#postgresql:host=127.0.0.1 port=$(port singapore) dbname=$2#;
            s#sqlite:regions/us-east.db#postgresql:host=127.0.0.1 port=$(port us-east) dbname=$2#;
            s/batch_tenants: 500/batch_tenants: 100/" "$1/domicile.yaml"
}
config "$T/tpl" tpl
run_dom "$T/o" "$T/e" -c "$T/tpl/domicile.yaml" prepare
check "prepare as a role with CREATE on the database only" [ "$status" -eq 0 ]
[ "$status" -eq 0 ] || cat "$T/e"
expect_eq "every beijing tenant has a fence row (the barrier's lock)" \
    "$(app_sql beijing tpl -At -c "SELECT count(*) FROM domicile.fence WHERE state = 'home'")" "1000"

# a fresh copy of the prepared regions as database "app", and of the catalog, in $T/run
reset() {
    for r in $REGIONS; do
        su_sql "$r" -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS app WITH (FORCE)" \
            -c "CREATE DATABASE app TEMPLATE tpl" -c "GRANT CREATE ON DATABASE app TO app"
    done
    rm -rf "$T/run"
    config "$T/run" app
    cp "$T/tpl/domicile.db" "$T/run/domicile.db"
}

# every tenant row, fence and directory entry, the journal and the transfer log
state() {
    for r in $REGIONS; do
        for t in $TABLES; do
            app_sql "$r" app -At -c "SELECT * FROM $t ORDER BY 1, 2"
        done
        app_sql "$r" app -At -c "SELECT tenant, state, home, epoch FROM domicile.fence WHERE state <> 'home' ORDER BY 1"
    done
    sqlite3 "$T/run/domicile.db" "SELECT tenant, region, epoch, state FROM directory ORDER BY 1"
    sqlite3 "$T/run/domicile.db" "$JOURNAL_SQL" | journal_state
} 2>&1

# home_of KEY: the tenant's region now; body_in REGION: the body of
# message ($k, $m) there
home_of() { "$DOMICILE" -c "$T/run/domicile.yaml" locate "$1" | cut -d' ' -f1; }
body_in() { app_sql "$1" app -At -c "SELECT body FROM messages WHERE user_id = $k AND message_no = $m"; }

# ---- the reference run ----
reset
timed run_dom "$T/o" "$T/e" -v -v -c "$T/run/domicile.yaml" apply
# how long a whole run takes here (the SIGKILL loop kills within it)
run_ms=$timed_ms
check "apply on PostgreSQL regions exits 0" [ "$status" -eq 0 ]
[ "$status" -eq 0 ] || cat "$T/e" "$T/o"
nb=$(grep -c "^batch .*source read-only until the erasure phase" "$T/o")
expect_eq "without writers, every batch's target matched the hash its copy took ($nb batches)" \
    "$(grep -c "the target matches the copy's hash" "$T/e") $(grep -c "differs from the copy's hash" "$T/e")" "$nb 0"
ref=$(state | sha256sum)
run_dom "$T/o" "$T/e" -c "$T/run/domicile.yaml" verify
check "verify after apply: 0 differences" sh -c "[ $status -eq 0 ] && grep -q ', 0 differences' '$T/o'"
run_dom "$T/o" "$T/e" -c "$T/run/domicile.yaml" plan --check
check "plan --check: nothing misplaced" [ "$status" -eq 0 ]
expect_eq "no non-CN user left in beijing" "$(app_sql beijing app -At -c "SELECT count(*) FROM users WHERE country <> 'CN'")" "0"
expect_eq "the change logs are empty" \
    "$(for r in $REGIONS; do app_sql "$r" app -At -c "SELECT count(*) FROM domicile.changes"; done | sort -u)" "0"
before=$(app_sql beijing tpl -At -c "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM devices) + (SELECT count(*) FROM contacts) + (SELECT count(*) FROM messages) + (SELECT count(*) FROM photos) + (SELECT count(*) FROM backups)")
after=0
for r in $REGIONS; do
    n=$(app_sql "$r" app -At -c "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM devices) + (SELECT count(*) FROM contacts) + (SELECT count(*) FROM messages) + (SELECT count(*) FROM photos) + (SELECT count(*) FROM backups)")
    after=$((after + n))
done
expect_eq "every row exists exactly once after the move" "$after" "$before"
run_dom "$T/o" "$T/e" -c "$T/run/domicile.yaml" audit
check "audit: no violation, the log intact" [ "$status" -eq 0 ]

# ---- a target that does not store what the copy sent ----
reset
app_sql singapore app -c "CREATE FUNCTION mangle() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN NEW.body := NEW.body || '!'; RETURN NEW; END \$\$" \
    -c "CREATE TRIGGER mangle BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION mangle()"
run_dom "$T/o" "$T/e" -v -v -c "$T/run/domicile.yaml" apply --wave canary
check "a target whose rows differ from the copy fails the batch (exit 2)" [ "$status" -eq 2 ]
check "... its hash differed from the copy's, so every row was compared" grep -q "differs from the copy's hash; comparing every row" "$T/e"
check "... and the rows are named" grep -q 'table "messages": row \[.*\] is different in the target after the final sync' "$T/o"
expect_eq "... and no tenant of the batch moved" \
    "$(sqlite3 "$T/run/domicile.db" "SELECT count(*) FROM directory WHERE region <> 'beijing'")" "0"

# ---- a tenant table without an index on its tenant column ----
reset
for r in $REGIONS; do app_sql "$r" app -c "DROP INDEX photos_owner"; done
run_dom "$T/o" "$T/e" -c "$T/run/domicile.yaml" apply
check "without an index on photos.owner_id, apply exits 0 and ends as the reference" \
    sh -c "[ $status -eq 0 ] && [ '$(state | sha256sum)' = '$ref' ]"

# ---- a tenant table's definition changes during the move ----
reset
DOMICILE_FAULT=copied:1 "$DOMICILE" -c "$T/run/domicile.yaml" apply >/dev/null 2>&1
app_sql beijing app -c "ALTER TABLE messages ALTER COLUMN peer DROP NOT NULL"
run_dom "$T/o" "$T/e" -c "$T/run/domicile.yaml" apply --wave canary
check "a schema change during the move fails the batch (exit 2)" [ "$status" -eq 2 ]
check "... saying so" grep -q 'batch 1: the definition of a tenant table in region "beijing" changed during the move' "$T/e"
expect_eq "... recorded in the journal" "$(sqlite3 "$T/run/domicile.db" "SELECT step FROM batches WHERE id = 1")" "failed"
run_dom "$T/o" "$T/e" -c "$T/run/domicile.yaml" verify --wave canary
check "... and its tenants, moved by a later batch of the same run, verify clean" grep -q ", 0 differences" "$T/o"

# ---- a copy the target refuses ----
# a check on the target's messages refuses some of the canary's rows: the
# copy (one query for every table) fails naming region, table and
# SQLSTATE, the target keeps none of the batch's rows, and a rerun once
# the check is gone finishes the wave
reset
su_sql singapore -d app -c "ALTER TABLE messages ADD CONSTRAINT no_hello CHECK (body NOT LIKE '%a%')" >/dev/null
run_dom "$T/o" "$T/e" -c "$T/run/domicile.yaml" apply --wave canary
check "a copy the target refuses stops the batch" [ "$status" -ne 0 ]
check "... naming the region, the table and the SQLSTATE" \
    grep -q 'region "singapore", table "messages": cannot copy rows: SQLSTATE 23514' "$T/e" "$T/o"
expect_eq "... and the target keeps no row of the batch" \
    "$(app_sql singapore app -At -c "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM devices) + (SELECT count(*) FROM messages)")" "0"
su_sql singapore -d app -c "ALTER TABLE messages DROP CONSTRAINT no_hello" >/dev/null
run_dom "$T/o" "$T/e" -c "$T/run/domicile.yaml" apply --wave canary
check "... rerun once the check is gone: exit 0" [ "$status" -eq 0 ]
run_dom "$T/o" "$T/e" -c "$T/run/domicile.yaml" verify --wave canary
check "... and the wave verifies clean" grep -q ", 0 differences" "$T/o"

# ---- an erasure the source refuses ----
# a table domicile does not move (the config declares it global) holds a
# reference to a tenant of the canary wave: the source refuses to delete
# the tenant's row; the whole erasure is taken back (one transaction), the
# region and table are named, and a rerun after the reference is gone
# finishes it
reset
su_sql beijing -d app -c "CREATE TABLE audit_ref (user_id bigint REFERENCES users)" \
    -c "INSERT INTO audit_ref SELECT user_id FROM users WHERE country = 'SG'" \
    -c "GRANT SELECT ON audit_ref TO app" >/dev/null
run_dom "$T/o" "$T/e" -c "$T/run/domicile.yaml" plan
check "a table that references the tenants is found and would move" \
    grep -q "^audit_ref  *direct  *column user_id" "$T/o"
sed -i 's/^  - backups$/  - backups\n  - { table: audit_ref, global: true }/' "$T/run/domicile.yaml"
grep -q "audit_ref, global" "$T/run/domicile.yaml" || not_ok "the config declares audit_ref global"
run_dom "$T/o" "$T/e" -c "$T/run/domicile.yaml" apply --wave canary
check "an erasure the source refuses stops apply (exit 3)" [ "$status" -eq 3 ]
check "... naming the region, the table and the SQLSTATE" \
    grep -q 'region "beijing", table "users": cannot delete rows: SQLSTATE 23503' "$T/e"
moved=$(sqlite3 "$T/run/domicile.db" "SELECT count(*) FROM directory WHERE region = 'singapore'")
kept=$(app_sql beijing app -At -c "SELECT count(*) FROM messages m JOIN domicile.fence f ON f.tenant = m.user_id::text WHERE f.state = 'moved'")
expect_eq "... after the flip: the batch's tenants live in singapore, and beijing still holds their rows (children too)" \
    "$(app_sql beijing app -At -c "SELECT count(*) FROM domicile.fence f JOIN users u ON u.user_id::text = f.tenant WHERE f.state = 'moved'") $([ "$moved" -gt 0 ] && [ "$kept" -gt 0 ] && echo some)" \
    "$moved some"
su_sql beijing -d app -c "DROP TABLE audit_ref" >/dev/null
sed -i '/audit_ref/d' "$T/run/domicile.yaml"
run_dom "$T/o" "$T/e" -c "$T/run/domicile.yaml" apply --wave canary
check "... rerun once the reference is gone: exit 0" [ "$status" -eq 0 ]
expect_eq "... and no row of a moved tenant is left in beijing" \
    "$(app_sql beijing app -At -c "SELECT count(*) FROM users u JOIN domicile.fence f ON f.tenant = u.user_id::text WHERE f.state = 'moved'") $(app_sql beijing app -At -c "SELECT count(*) FROM messages m JOIN domicile.fence f ON f.tenant = m.user_id::text WHERE f.state = 'moved'")" \
    "0 0"

# ---- crashes at every step ----
for point in arm armed copy-start copied catchup verified freeze frozen synced flip flipped erase done flip:3 erase:3 done:4; do
    case $point in *:*) spec=$point ;; *) spec=$point:1 ;; esac
    reset
    DOMICILE_FAULT=$spec "$DOMICILE" -c "$T/run/domicile.yaml" apply >/dev/null 2>"$T/fe"
    fs=$?
    "$DOMICILE" -c "$T/run/domicile.yaml" apply >/dev/null 2>"$T/re"
    rs=$?
    got=$(state | sha256sum)
    check "crash at $spec (exit $fs), rerun (exit $rs) ends as without the crash" \
        sh -c "[ $fs -eq 99 ] && [ $rs -eq 0 ] && [ '$got' = '$ref' ]"
done

# ---- SIGKILL at random moments, 20 times ----
reset
kills=0
for i in $(seq 1 20); do
    "$DOMICILE" -c "$T/run/domicile.yaml" apply >/dev/null 2>&1 &
    pid=$!
    # a random moment within half a whole run: the runs after a kill resume
    # and have less to do, and most of them still die before they end
    ms=$(($(od -An -N2 -tu2 /dev/urandom) % (run_ms / 2 + 1)))
    sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
    kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null
    if [ $((i % 5)) -eq 0 ]; then
        "$DOMICILE" -c "$T/run/domicile.yaml" apply >/dev/null 2>&1
        check "after SIGKILL round $i, a rerun ends as the reference" [ "$(state | sha256sum)" = "$ref" ]
        reset
    fi
done
check "the loop killed the mover at least 10 times ($kills)" [ "$kills" -ge 10 ]

# ---- the barrier, shown directly ----
# first_batch_tenant: journals the batches (the mover stops before arming
# the first) and picks a tenant of batch 1 with messages; sets k and m
first_batch_tenant() {
    DOMICILE_FAULT=arm:1 "$DOMICILE" -c "$T/run/domicile.yaml" apply >/dev/null 2>&1
    list=$(sqlite3 "$T/run/domicile.db" "SELECT group_concat(tenant) FROM batch_tenants WHERE batch = 1")
    k=$(app_sql beijing app -At -c "SELECT min(user_id) FROM messages WHERE user_id IN ($list)")
    m=$(app_sql beijing app -At -c "SELECT min(message_no) FROM messages WHERE user_id = $k")
}
client_sql() { PGUSER=client "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$(port beijing)" -d app "$@"; }
# asia_first_batch WAIT: a fresh run with options.fence_wait WAIT, wave
# canary moved and the first batch of wave asia journaled (the mover stops
# before arming it); sets list (its tenants)
asia_first_batch() {
    reset
    sed -i "s/^options:/options:\n  fence_wait: $1/" "$T/run/domicile.yaml"
    "$DOMICILE" -c "$T/run/domicile.yaml" apply --wave canary >/dev/null 2>&1
    DOMICILE_FAULT=arm:1 "$DOMICILE" -c "$T/run/domicile.yaml" apply --wave asia >/dev/null 2>&1
    list=$(sqlite3 "$T/run/domicile.db" "SELECT group_concat(tenant) FROM batch_tenants WHERE batch = (SELECT min(id) FROM batches WHERE wave = 'asia')")
}

# A writer whose write is in flight when the batch is armed: arming waits
# for it, so its write is in the copy (or in the change log), never lost.
reset
first_batch_tenant
(
    echo "BEGIN; UPDATE messages SET body = 'held' WHERE user_id = $k AND message_no = $m;"
    sleep 2
    # the transaction's second write of the tenant reads no fence: its
    # share lock, still held, keeps the arming waiting
    echo "UPDATE users SET name = 'held' WHERE user_id = $k;"
    echo "COMMIT;"
) | client_sql >"$T/held.out" 2>&1 &
hp=$!
sleep 0.5
timed "$DOMICILE" -c "$T/run/domicile.yaml" apply --wave canary >/dev/null 2>&1
wait $hp
home=$(home_of "$k")
expect_eq "a write in flight during arming reaches the new home ($home)" "$(body_in "$home")" "held"
check "... because arming waited for it to commit ($timed_ms ms)" [ "$timed_ms" -ge 1000 ]
expect_eq "... with the transaction's second write of the tenant" \
    "$(app_sql "$home" app -At -c "SELECT name FROM users WHERE user_id = $k")" "held"

# A savepoint rolled back releases the tenant's lock, and with it what the
# transaction remembered of the tenant: arming does not wait, and the
# transaction's next write of the tenant reads the new state (captured).
reset
first_batch_tenant
tx_begin sp "BEGIN; SAVEPOINT s; UPDATE messages SET body = 'undone' WHERE user_id = $k AND message_no = $m; ROLLBACK TO SAVEPOINT s;" client_sql
sleep 0.5
# (were the lock still held, the arming would wait for this transaction,
# which goes on only after it: the timeout would end it)
DOMICILE_FAULT=armed:1 timeout 60 "$DOMICILE" -c "$T/run/domicile.yaml" apply >/dev/null 2>&1
st=$?
tx_end "UPDATE messages SET body = 'after' WHERE user_id = $k AND message_no = $m; COMMIT;"
expect_eq "a savepoint rolled back lets the arming through while its transaction is open" "$st" "99"
expect_eq "... and the transaction's next write of the tenant is captured" \
    "$(app_sql beijing app -At -c "SELECT count(*) FROM domicile.changes WHERE tenant = '$k'")" "1"
"$DOMICILE" -c "$T/run/domicile.yaml" apply >/dev/null 2>&1
home=$(home_of "$k")
expect_eq "... and reaches the new home ($home)" "$(body_in "$home")" "after"

# A transaction left open on a tenant of the batch (idle in transaction)
# does not hold the batch's other writers for as long as it stays open:
# the fence change waits for it a while, lets the writers queued behind it
# through, tries again, and after options.fence_wait gives up (exit 3);
# a rerun once the transaction has ended finishes the batch.
asia_first_batch 4s
# k: the batch tenant with messages that sorts last (the fence change locks
# rows in key order), k2: the one that sorts first, whose row the change
# has locked while it waits for k's
k=$(app_sql beijing app -At -c "SELECT max(user_id::text) FROM messages WHERE user_id IN ($list)")
k2=$(app_sql beijing app -At -c "SELECT min(user_id::text) FROM users WHERE user_id IN ($list)")
check "the batch has two tenants to show it with ($k2, $k)" [ "$k2" != "$k" ]
m=$(app_sql beijing app -At -c "SELECT min(message_no) FROM messages WHERE user_id = $k")
tx_begin open "BEGIN; UPDATE messages SET body = 'open' WHERE user_id = $k AND message_no = $m;" client_sql
sleep 0.5
timeout 60 "$DOMICILE" -c "$T/run/domicile.yaml" apply --wave asia >"$T/open.a" 2>&1 &
ap=$!
sleep 1.5
timed timeout 30 "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$(port beijing)" -U client -d app \
    -c "UPDATE users SET name = 'not held' WHERE user_id = $k2" >"$T/open.k2" 2>&1
wait $ap
ast=$?
tx_end "COMMIT;"
expect_eq "a write of another tenant of the batch goes through while a transaction stays open ($timed_ms ms)" "$timed_st" "0"
check "... within a fence change's wait ($timed_ms ms)" [ "$timed_ms" -lt 10000 ]
expect_eq "after options.fence_wait the arming gives up (exit 3)" "$ast" "3"
check "... and says why" grep -q "held a fence row of the batch for .* (options.fence_wait)" "$T/open.a"
"$DOMICILE" -c "$T/run/domicile.yaml" apply --wave asia >/dev/null 2>&1
expect_eq "a rerun after the transaction ended finishes the batch" "$?" "0"
home=$(home_of "$k")
expect_eq "... with the open transaction's write in the new home ($home)" "$(body_in "$home")" "open"
expect_eq "... and the other writer's" \
    "$(app_sql "$home" app -At -c "SELECT name FROM users WHERE user_id = $k2")" "not held"

# A writer's transaction longer than the first wait, but finite: the
# fence change waits longer on each attempt, and the arming goes through.
asia_first_batch 20s
k=$(app_sql beijing app -At -c "SELECT min(user_id) FROM messages WHERE user_id IN ($list)")
m=$(app_sql beijing app -At -c "SELECT min(message_no) FROM messages WHERE user_id = $k")
(
    echo "BEGIN; UPDATE messages SET body = 'long' WHERE user_id = $k AND message_no = $m;"
    sleep 2.5
    echo "COMMIT;"
) | client_sql >/dev/null 2>&1 &
lp=$!
sleep 0.3
timeout 60 "$DOMICILE" -c "$T/run/domicile.yaml" apply --wave asia >/dev/null 2>"$T/long.e"
expect_eq "a writer's transaction of 2.5 s is waited for in the end: the wave goes through" "$?" "0"
check "... after a warning that it held a fence row" grep -q "a transaction holds a fence row of the batch for more than 1000 ms" "$T/long.e"
wait $lp
home=$(home_of "$k")
expect_eq "... and its write reaches the new home ($home)" "$(body_in "$home")" "long"

# A REPEATABLE READ writer whose snapshot predates the arming: refused with 40001.
reset
first_batch_tenant
tx_begin rr "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM messages WHERE user_id = $k;" client_sql -v VERBOSITY=verbose
sleep 0.5
DOMICILE_FAULT=armed:1 "$DOMICILE" -c "$T/run/domicile.yaml" apply >/dev/null 2>&1
tx_end "UPDATE messages SET body = 'stale' WHERE user_id = $k AND message_no = $m; ROLLBACK;"
check "a REPEATABLE READ writer whose snapshot predates the fence change gets 40001" \
    grep -q "40001: could not serialize access due to concurrent update" "$T/rr.out"
client_sql -c "UPDATE messages SET body = 'fresh' WHERE user_id = $k AND message_no = $m" >/dev/null 2>&1
expect_eq "a writer after the fence change is captured in the change log" \
    "$(app_sql beijing app -At -c "SELECT count(*) FROM domicile.changes WHERE tenant = '$k'")" "1"
"$DOMICILE" -c "$T/run/domicile.yaml" apply >/dev/null 2>&1
home=$(home_of "$k")
expect_eq "... and its write reaches the new home ($home)" "$(body_in "$home")" "fresh"

# ---- 8 writer connections during the waves, a rollback and the waves again ----
reset
app_sql beijing app -At -c "SELECT user_id FROM users WHERE country <> 'CN' ORDER BY user_id % 7, user_id LIMIT 250" >"$T/keys"
app_sql beijing app -At -c "SELECT user_id FROM users WHERE country = 'CN' LIMIT 30" >>"$T/keys"
pg_writers client "$T/run/domicile.yaml" 10
sleep 0.5
"$DOMICILE" -c "$T/run/domicile.yaml" apply >"$T/a1" 2>&1
s1=$?
"$DOMICILE" -c "$T/run/domicile.yaml" rollback --wave asia >"$T/a2" 2>&1
s2=$?
"$DOMICILE" -c "$T/run/domicile.yaml" apply >"$T/a3" 2>&1
s3=$?
wst=
for p in $wpids; do
    wait "$p"
    wst="$wst $?"
done
expect_eq "apply, rollback, apply under 8 writers all exit 0" "$s1 $s2 $s3" "0 0 0"
expect_eq "every writer exits 0 (an update that matched nothing in the tenant's home would exit 2)" "$wst" " 0 0 0 0 0 0 0 0"
acks=$(cat "$T"/wout* | awk '{ a += $1; r += $2; d += $3; c += $4 } END { print a, r, d, c }')
check "writers got writes acknowledged, retried and redirected (acks retries redirects conflicts: $acks)" \
    sh -c "echo $acks | awk '{ exit !(\$1 > 500 && \$3 > 0) }'"
check "no writer hit an unexpected error" sh -c "! grep -q unexpected $T/werr*"
"$W" check "$T/run/domicile.yaml" "$T"/wlog* >"$T/chk" 2>&1
expect_eq "I1 and I2 hold (the checker exits 0): $(tail -n 1 "$T/chk")" "$?" "0"
run_dom "$T/o" "$T/e" -c "$T/run/domicile.yaml" verify
check "verify after the live run: 0 differences" grep -q ", 0 differences" "$T/o"
expect_eq "... and the change logs hold nothing once every batch is done" \
    "$(for r in $REGIONS; do app_sql "$r" app -At -c "SELECT count(*) FROM domicile.changes"; done | sort -u)" "0"
# the checker is not blind: a write acknowledged by singapore before the
# tenant's first flip there (beijing -> singapore) ...
one=$(grep -h '^I ' "$T"/wlog* | while read -r _op k m _rest; do
    f=$(sqlite3 "$T/run/domicile.db" "SELECT b.src || '>' || b.dst || ' ' || CAST(b.flipped_at * 1000000 AS INTEGER) FROM batch_tenants bt JOIN batches b ON b.id = bt.batch WHERE bt.tenant = '$k' AND b.flipped_at IS NOT NULL ORDER BY b.flipped_at LIMIT 1")
    case $f in "beijing>singapore "*) echo "$k $m ${f#* }"; break ;; esac
done)
set -- $one
k=$1 m=$2 f1=$3
last=$(grep -h "^[IU] $k $m " "$T"/wlog* | sort -k7,7n | tail -n 1 | cut -d' ' -f4)
{
    echo "U $k $m $last singapore $((f1 - 2000000)) $((f1 - 1999000)) $((f1 - 2000000)) 0"
    echo "# acks 1 retries 0 redirects 0 conflicts 0"
} >"$T/planted.log"
"$W" check "$T/run/domicile.yaml" "$T"/wlog* "$T/planted.log" >"$T/chk2" 2>&1
wc_rc=$?
check "the checker reports a write acknowledged out of the journal's order (tenant $k, exit $wc_rc)" \
    sh -c "[ $wc_rc -eq 1 ] && grep -q '^INTERLEAVED: tenant $k: singapore acknowledged a write' '$T/chk2'"
# ... and a lost write
home=$(home_of "$k")
app_sql "$home" app -c "BEGIN; SET LOCAL domicile.bypass = 'on'; DELETE FROM messages WHERE user_id = $k AND message_no = $m; COMMIT"
"$W" check "$T/run/domicile.yaml" "$T"/wlog* >"$T/chk2" 2>&1
wc_rc=$?
check "the checker reports a deleted acknowledged write (exit $wc_rc)" \
    sh -c "[ $wc_rc -eq 1 ] && grep -q '^LOST: tenant $k row $m' '$T/chk2'"

# ---- SQLite to PostgreSQL and back ----
rm -rf "$T/mx"
cp -r "$T/src" "$T/mx"
su_sql singapore -d postgres -c "CREATE DATABASE mx" -c "GRANT CREATE ON DATABASE mx TO app"
su_sql singapore -d mx -c "GRANT CREATE ON SCHEMA public TO app"
"$DOMICILE" demo --print-schema postgresql | app_sql singapore mx >/dev/null
sed -i "s#sqlite:regions/singapore.db#postgresql:host=127.0.0.1 port=$(port singapore) dbname=mx#" "$T/mx/domicile.yaml"
dump_bj() { for t in $TABLES; do echo "$t"; sqlite3 "$T/mx/regions/beijing.db" "SELECT * FROM $t ORDER BY 1, 2"; done; }
dump_bj >"$T/mx.before"
run_dom "$T/o" "$T/e" -c "$T/mx/domicile.yaml" prepare
check "prepare accepts SQLite and PostgreSQL regions with the same tables" [ "$status" -eq 0 ]
run_dom "$T/o" "$T/e" -v -v -c "$T/mx/domicile.yaml" apply --wave asia
check "apply --wave asia: SQLite beijing -> PostgreSQL singapore" [ "$status" -eq 0 ]
check "... each target matched the hash its copy took of the SQLite rows" \
    sh -c "grep -q \"the target matches the copy's hash\" '$T/e' && ! grep -q 'differs from the copy' '$T/e'"
n=$(app_sql singapore mx -At -c "SELECT count(*) FROM messages")
check "... the messages arrived ($n rows)" [ "$n" -gt 0 ]
expect_eq "... timestamps became timestamptz values" \
    "$(app_sql singapore mx -At -c "SELECT count(*) FROM messages WHERE sent_at < '2024-01-01' OR sent_at >= '2027-01-01'")" "0"
expect_eq "... blobs became bytea" \
    "$(app_sql singapore mx -At -c "SELECT count(*) FROM backups WHERE manifest IS NOT NULL AND length(manifest) = 0")" "0"
run_dom "$T/o" "$T/e" -v -v -c "$T/mx/domicile.yaml" rollback --wave asia
check "rollback --wave asia: PostgreSQL singapore -> SQLite beijing" [ "$status" -eq 0 ]
check "... each SQLite target matched the hash its copy took of the PostgreSQL rows" \
    sh -c "grep -q \"the target matches the copy's hash\" '$T/e' && ! grep -q 'differs from the copy' '$T/e'"
dump_bj >"$T/mx.after"
check "every row is back in SQLite exactly as it was (text timestamps, blobs, reals)" cmp -s "$T/mx.before" "$T/mx.after"
