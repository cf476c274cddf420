#!/bin/sh
# The mover on SQLite regions against the naive offline move a user would
# otherwise write with the sqlite3 shell, in one run, on the same data:
#   1. moving every non-CN demo user (USERS, default 100,000): rows/s of
#      `domicile prepare && domicile apply` vs. the sqlite3 shell doing
#      ATTACH + INSERT INTO ... SELECT ... WHERE key IN (...) + DELETE;
#      time to home (until the last flip) vs. the INSERT ... SELECT alone,
#      and the mover's erasure rows/s vs. the DELETEs alone;
#   2. write pause per batch (freeze to flip) with 4 writers running;
#   3. peak RSS of the mover moving one tenant of about 1 GB.
# Usage: bench/move_sqlite.sh [USERS]
set -eu
USERS=${1:-100000}
BIN=${DOMICILE:-$(pwd)/build/domicile}
WRITER=${WRITER:-$(pwd)/build/tests/tools/writer}
OUT=${OUT:-$(pwd)/bench/out/move-$USERS}
rm -rf "$OUT"
mkdir -p "$OUT"
"$BIN" demo --dir "$OUT/tpl" --users "$USERS" --no-plan >/dev/null
ASIA="'SG','MY','IN','ID','TH','VN','PH'"

# ---- 1a. the naive move with the sqlite3 shell ----
cp -r "$OUT/tpl" "$OUT/naive"
# the copy (INSERT ... SELECT) and the erasure (DELETE), each one
# transaction, timed apart
cat >"$OUT/keys.sql" <<SQL
CREATE TEMP TABLE to_sg AS SELECT user_id FROM users WHERE country IN ($ASIA);
CREATE TEMP TABLE to_us AS SELECT user_id FROM users WHERE country NOT IN ($ASIA, 'CN');
SQL
{
    echo "ATTACH '$OUT/naive/regions/singapore.db' AS sg;"
    echo "ATTACH '$OUT/naive/regions/us-east.db' AS us;"
    cat "$OUT/keys.sql"
    echo "BEGIN;"
    for db in sg us; do
        src=to_sg; [ $db = us ] && src=to_us
        for t in users devices contacts messages backups; do
            echo "INSERT INTO $db.$t SELECT * FROM main.$t WHERE user_id IN (SELECT user_id FROM $src);"
        done
        echo "INSERT INTO $db.photos SELECT * FROM main.photos WHERE owner_id IN (SELECT user_id FROM $src);"
    done
    echo "COMMIT;"
} >"$OUT/naive_copy.sql"
{
    cat "$OUT/keys.sql"
    echo "BEGIN;"
    for t in backups messages contacts devices users; do
        echo "DELETE FROM main.$t WHERE user_id IN (SELECT user_id FROM to_sg UNION ALL SELECT user_id FROM to_us);"
    done
    echo "DELETE FROM main.photos WHERE owner_id IN (SELECT user_id FROM to_sg UNION ALL SELECT user_id FROM to_us);"
    echo "COMMIT;"
} >"$OUT/naive_delete.sql"
rows=$(sqlite3 "$OUT/tpl/regions/beijing.db" "SELECT (SELECT count(*) FROM users WHERE country <> 'CN') + (SELECT count(*) FROM devices JOIN users USING (user_id) WHERE country <> 'CN') + (SELECT count(*) FROM contacts JOIN users USING (user_id) WHERE country <> 'CN') + (SELECT count(*) FROM messages JOIN users USING (user_id) WHERE country <> 'CN') + (SELECT count(*) FROM photos p JOIN users u ON u.user_id = p.owner_id WHERE country <> 'CN') + (SELECT count(*) FROM backups JOIN users USING (user_id) WHERE country <> 'CN')")
/usr/bin/time -f "%e" -o "$OUT/naive_copy.time" sqlite3 "$OUT/naive/regions/beijing.db" <"$OUT/naive_copy.sql"
/usr/bin/time -f "%e" -o "$OUT/naive_delete.time" sqlite3 "$OUT/naive/regions/beijing.db" <"$OUT/naive_delete.sql"
ncopy=$(cat "$OUT/naive_copy.time")
ndelete=$(cat "$OUT/naive_delete.time")
naive=$(echo "$ncopy $ndelete" | awk '{ print $1 + $2 }')

# ---- 1b. domicile ----
cp -r "$OUT/tpl" "$OUT/dom"
/usr/bin/time -f "%e %M" -o "$OUT/prep.time" "$BIN" -c "$OUT/dom/domicile.yaml" prepare >/dev/null
/usr/bin/time -f "%e %M" -o "$OUT/apply.time" "$BIN" -c "$OUT/dom/domicile.yaml" apply --json >"$OUT/apply.json"
read -r prep _ <"$OUT/prep.time"
read -r apply rss <"$OUT/apply.time"
dom=$(echo "$prep $apply" | awk '{ print $1 + $2 }')
echo "1. moving the non-CN users of $USERS: $rows rows"
echo "   sqlite3 shell, offline (ATTACH, INSERT ... SELECT, DELETE): $naive s, $(echo "$rows $naive" | awk '{ printf "%.0f", $1 / $2 }') rows/s"
echo "   domicile prepare + apply, online:                          $dom s ($prep + $apply), $(echo "$rows $dom" | awk '{ printf "%.0f", $1 / $2 }') rows/s, peak RSS $((rss / 1024)) MB"
echo "   ratio domicile / naive rows/s: $(echo "$naive $dom" | awk '{ printf "%.2f", $1 / $2 }') (target >= 0.5)"
home=$(jq -r --arg p "$prep" '.time_to_home_seconds + ($p | tonumber) | . * 100 | round / 100' "$OUT/apply.json")
echo "   time to home (prepare + apply until the last flip): $home s; the shell's INSERT ... SELECT alone: $ncopy s: ratio $(echo "$ncopy $home" | awk '{ printf "%.2f", $1 / $2 }') (target >= 0.5)"
erased=$(jq .erased "$OUT/apply.json")
erase_s=$(jq .step_seconds.erase "$OUT/apply.json")
echo "   erasure: $erased rows in $(printf %.2f "$erase_s") s of erase steps (summed over the workers), $(echo "$erased $erase_s" | awk '{ printf "%.0f", $1 / $2 }') rows/s; the shell's DELETEs: $ndelete s, $(echo "$rows $ndelete" | awk '{ printf "%.0f", $1 / $2 }') rows/s: ratio $(echo "$erased $erase_s $rows $ndelete" | awk '{ printf "%.2f", ($1 / $2) / ($3 / $4) }') (target >= 0.5)"
echo "   where the time goes (s): $(jq -c .step_seconds "$OUT/apply.json")"

# ---- 2. write pause with writers ----
cp -r "$OUT/tpl" "$OUT/live"
"$BIN" -c "$OUT/live/domicile.yaml" prepare >/dev/null
sqlite3 "$OUT/live/regions/beijing.db" "SELECT user_id FROM users WHERE country <> 'CN' ORDER BY random() LIMIT 2000; SELECT user_id FROM users WHERE country = 'CN' LIMIT 500" >"$OUT/keys"
for i in 1 2 3 4; do "$WRITER" run "$OUT/live/domicile.yaml" "$OUT/keys" "$i" 60 "$OUT/wlog$i" >"$OUT/wout$i" 2>/dev/null & done
sleep 0.5
"$BIN" -c "$OUT/live/domicile.yaml" apply --json >"$OUT/live.json"
kill $(jobs -p) 2>/dev/null || true
wait 2>/dev/null || true
echo "2. write pause with 4 writers (target p99 <= 50 ms)"
echo "   as the writers saw it (first refusal to the acknowledgement, following the redirect to the new home): $(sh bench/writer_pause.sh "$OUT"/wlog*)"
echo "   per batch, freeze to flip as the mover times it (ms): $(jq -c .pause_ms "$OUT/live.json") over $(jq .batches_done "$OUT/live.json") batches"

# ---- 3. one tenant of about 1 GB ----
mkdir -p "$OUT/big"
for r in a b; do
    sqlite3 "$OUT/big/$r.db" "PRAGMA journal_mode=WAL; CREATE TABLE t (k TEXT PRIMARY KEY, cc TEXT); CREATE TABLE blobs (k TEXT, n INTEGER, data BLOB, PRIMARY KEY (k, n))" >/dev/null
done
sqlite3 "$OUT/big/a.db" "INSERT INTO t VALUES ('big', 'SG'); WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1024) INSERT INTO blobs SELECT 'big', n, randomblob(1048576) FROM s"
cat >"$OUT/big/domicile.yaml" <<YAML
regions:
  a: { dsn: "sqlite:a.db", location: CN }
  b: { dsn: "sqlite:b.db", location: SG }
tenants: { table: t, key: k, country: cc }
tables: [t, blobs]
policy:
  - { countries: [CN], home: a }
  - { countries: ["*"], home: b }
waves:
  - { name: all }
YAML
"$BIN" -c "$OUT/big/domicile.yaml" prepare >/dev/null
/usr/bin/time -f "%e %M" -o "$OUT/big.time" "$BIN" -c "$OUT/big/domicile.yaml" apply >/dev/null
read -r bs brss <"$OUT/big.time"
echo "3. one tenant of 1 GiB (1024 rows of 1 MiB): moved in $bs s, mover peak RSS $((brss / 1024)) MB (target <= 100)"
