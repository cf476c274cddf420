# pgbench, a real client, during a move: a TPC-B-like script (8 clients
# at an app-like 400 transactions per second) whose branches are tenants,
# against the branches being moved from beijing to singapore, with
# unlimited --max-tries so that writes refused while a batch is frozen
# (SQLSTATE 40001) are retried.  pgbench cannot follow a
# tenant to another server, so the mover is stopped right after the
# freeze (DOMICILE_FAULT=frozen:1) and finishes the batch once pgbench has
# ended: pgbench sees the capture, the catch-up and the freeze, never a
# tenant that lives elsewhere.  A second pgbench of 2 s runs while the
# batch is frozen, so the refusals are seen however late the freeze came
# in the first one (a loaded machine may freeze after it ended).  (Transactions still being retried when
# pgbench's time is up count neither as processed nor as failed, so the
# server's rollback counter shows the refusals.)  Afterwards pgbench
# reports 0 failed transactions and every branch's balances add up in its
# new home.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg.sh"
for r in beijing singapore; do
    pg_start "$r" || { not_ok "start PostgreSQL for $r"; exit 1; }
done
port() { cat "$PGROOT/$1/port"; }
sql() { r=$1; shift; "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port "$r")" -U postgres -d postgres "$@"; }

schema="CREATE TABLE branches (bid bigint PRIMARY KEY, country text NOT NULL, bbalance bigint NOT NULL);
CREATE TABLE tellers (tid bigint PRIMARY KEY, bid bigint NOT NULL REFERENCES branches, tbalance bigint NOT NULL);
CREATE TABLE accounts (aid bigint PRIMARY KEY, bid bigint NOT NULL REFERENCES branches, abalance bigint NOT NULL);
CREATE INDEX ON tellers (bid);
CREATE INDEX ON accounts (bid);
CREATE TABLE history (tid bigint, bid bigint NOT NULL, aid bigint, delta bigint, mtime timestamptz);
CREATE INDEX ON history (bid);"
for r in beijing singapore; do sql "$r" -c "$schema"; done
# branches 1-10 in Singapore (they move), 11-20 in China (they stay)
sql beijing -c "INSERT INTO branches SELECT g, CASE WHEN g <= 10 THEN 'SG' ELSE 'CN' END, 0 FROM generate_series(1, 20) g;
                INSERT INTO tellers SELECT g, (g - 1) / 10 + 1, 0 FROM generate_series(1, 200) g;
                INSERT INTO accounts SELECT g, (g - 1) / 1000 + 1, 0 FROM generate_series(1, 20000) g;
                ANALYZE"
cat >"$T/domicile.yaml" <<YAML
catalog: sqlite:domicile.db
regions:
  beijing:   { dsn: "postgresql://postgres@127.0.0.1:$(port beijing)/postgres", location: CN }
  singapore: { dsn: "postgresql://postgres@127.0.0.1:$(port singapore)/postgres", location: SG }
tenants: { table: branches, key: bid, country: country }
tables: [branches, tellers, accounts, history]
policy:
  - { countries: [CN], home: beijing }
  - { countries: ["*"], home: singapore }
waves:
  - { name: sg }
options: { batch_tenants: 10 }
YAML
cat >"$T/tpcb.sql" <<'SQL'
\set bid random(1, 10)
\set tid (:bid - 1) * 10 + random(1, 10)
\set aid (:bid - 1) * 1000 + random(1, 1000)
\set delta random(-5000, 5000)
BEGIN;
UPDATE accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM accounts WHERE aid = :aid;
UPDATE tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
END;
SQL
run_dom "$T/o" "$T/e" -c "$T/domicile.yaml" prepare
check "prepare" [ "$status" -eq 0 ]

# tpcb SECONDS OUT: pgbench on beijing's moving branches, 8 clients at 400
# transactions/s, retrying serialization failures without limit
tpcb() {
    "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$(port beijing)" -U postgres -f "$T/tpcb.sql" -c 8 -j 2 -R 400 -T "$1" \
        --max-tries=0 postgres >"$T/$2.out" 2>"$T/$2.err"
}
rollbacks() { sql beijing -At -c "SELECT xact_rollback FROM pg_stat_database WHERE datname = 'postgres'"; }
tpcb 6 pgbench &
pb=$!
sleep 1
DOMICILE_FAULT=frozen:1 "$DOMICILE" -c "$T/domicile.yaml" apply >"$T/a1" 2>&1
s1=$?
wait $pb
pbs=$?
check "pgbench ran to its end (exit $pbs)" [ "$pbs" -eq 0 ]
[ "$pbs" -eq 0 ] || cat "$T/pgbench.err"
check "the mover armed, copied, caught up and froze the batch under pgbench (stopped after the freeze: exit $s1)" [ "$s1" -eq 99 ]
# the batch stays frozen (the mover stopped right after the freeze): 2 s
# more of the same load, whenever the freeze came, are all refused with
# 40001 and retried
sleep 0.6 # the statistics collector's interval
rb0=$(rollbacks)
tpcb 2 frozen
fbs=$?
sleep 0.6
rb1=$(rollbacks)
check "pgbench while frozen ran to its end (exit $fbs)" [ "$fbs" -eq 0 ]
"$DOMICILE" -c "$T/domicile.yaml" apply >"$T/a2" 2>&1
check "the rerun finishes the batch" [ "$?" -eq 0 ]
committed() { sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$T/$1.out"; }
failed() { sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$T/$1.out"; }
processed=$(($(committed pgbench) + $(committed frozen)))
check "pgbench committed transactions on the moving branches ($processed)" [ "${processed:-0}" -gt 100 ]
expect_eq "pgbench: 0 failed transactions, before the freeze and during it" "$(failed pgbench) $(failed frozen)" "0 0"
check "pgbench's transactions refused while frozen (40001) were retried: $((rb1 - rb0)) rolled back on the server" \
    [ $((rb1 - rb0)) -gt 100 ]
expect_eq "the moved branches live in singapore" \
    "$("$DOMICILE" -c "$T/domicile.yaml" locate 3 | cut -d' ' -f1)" "singapore"
expect_eq "beijing keeps none of their rows" \
    "$(sql beijing -At -c "SELECT (SELECT count(*) FROM branches WHERE bid <= 10) + (SELECT count(*) FROM tellers WHERE bid <= 10) + (SELECT count(*) FROM accounts WHERE bid <= 10) + (SELECT count(*) FROM history WHERE bid <= 10)")" "0"
expect_eq "every moved branch's balances add up in singapore (branch = tellers = accounts = history)" \
    "$(sql singapore -At -c "SELECT count(*) FROM branches b WHERE b.bbalance <> (SELECT coalesce(sum(tbalance), 0) FROM tellers t WHERE t.bid = b.bid)
                                OR b.bbalance <> (SELECT coalesce(sum(abalance), 0) FROM accounts a WHERE a.bid = b.bid)
                                OR b.bbalance <> (SELECT coalesce(sum(delta), 0) FROM history h WHERE h.bid = b.bid)")" "0"
n=$(sql singapore -At -c "SELECT count(*) FROM history")
expect_eq "every committed transaction left its history row in the new home" "$n" "$processed"
run_dom "$T/o" "$T/e" -c "$T/domicile.yaml" verify
check "verify: 0 differences" grep -q ", 0 differences" "$T/o"
