# The mover on SQLite regions: concurrent writers during waves and a
# rollback (I1, I2), crashes at every step and random SIGKILLs (I4), verify
# finding planted differences, rollback returning every row, prepare
# --remove leaving the data as it was, a tenant-key change and a schema
# change failing their batch.
. "$(dirname "$0")/lib.sh"
W="$DOMICILE_BUILD/tests/tools/writer"
TABLES="users devices contacts messages photos backups"
REGIONS="beijing singapore us-east"

# every tenant row, fence and directory entry of a demo folder
state() { demo_state "$1"; }

data_only() {
    for r in $REGIONS; do
        for t in $TABLES; do
            echo "$r.$t"
            sqlite3 "$1/regions/$r.db" "SELECT * FROM $t ORDER BY 1, 2"
        done
    done
}

"$DOMICILE" demo --dir "$T/tpl" --users 1000 --seed 5 --no-plan >/dev/null 2>&1
sed -i 's/batch_tenants: 500/batch_tenants: 100/' "$T/tpl/domicile.yaml"
data_only "$T/tpl" >"$T/original.data"
# (SQLite's own sqlite_sequence stays once the change log has created it)
schema_of() { for r in $REGIONS; do sqlite3 "$1/regions/$r.db" "SELECT sql FROM sqlite_schema WHERE name <> 'sqlite_sequence' ORDER BY name"; done; }
schema_before=$(schema_of "$T/tpl")

# ---- prepare, and prepare --remove leaves data and schema as they were ----
cp -r "$T/tpl" "$T/rm"
run_dom "$T/o" "$T/e" -c "$T/rm/domicile.yaml" prepare
check "prepare exits 0" [ "$status" -eq 0 ]
# nothing in motion: the regions are left quiet (docs/mover.md "Quiet
# regions"): on each table the INSERT check and the UPDATE check of a
# change of tenant
for r in $REGIONS; do
    expect_eq "prepare leaves $r quiet: two triggers on each of the six tables (INSERT, UPDATE of the tenant column)" \
        "$(sqlite3 "$T/rm/regions/$r.db" "SELECT value FROM domicile_region WHERE key = 'mode'; SELECT tbl_name, group_concat(substr(name, -2), ',') FROM (SELECT * FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'domicile_%' ORDER BY name) GROUP BY 1 ORDER BY 1" | tr '\n' ' ')" \
        "quiet backups|bi,bu contacts|bi,bu devices|bi,bu messages|bi,bu photos|bi,bu users|bi,bu "
done
# with options.quiet_regions false, the six of a region where a mover works
cp -r "$T/tpl" "$T/act"
sed -i 's/^options:/options:\n  quiet_regions: false/' "$T/act/domicile.yaml"
run_dom "$T/o" "$T/e" -c "$T/act/domicile.yaml" prepare
expect_eq "options.quiet_regions false: six triggers (before and after each write) on each table, active" \
    "$(sqlite3 "$T/act/regions/beijing.db" "SELECT value FROM domicile_region WHERE key = 'mode'; SELECT tbl_name, count(*) FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'domicile_%' GROUP BY 1 ORDER BY 1" | tr '\n' ' ')" \
    "active backups|6 contacts|6 devices|6 messages|6 photos|6 users|6 "
expect_eq "... with an empty fence table (no tenant is moving)" "$(sqlite3 "$T/rm/regions/beijing.db" 'SELECT count(*) FROM domicile_fence')" "0"
cp -r "$T/rm" "$T/rmw"
sqlite3 "$T/rmw/regions/beijing.db" "INSERT INTO users VALUES (5000001, 'MY', 'n', NULL, NULL, 'z')" >"$T/o" 2>&1
check "... and the residency guard refuses a new MY tenant in beijing at once" grep -q "residency policy forbids storing tenant 5000001" "$T/o"
cnk=$(sqlite3 "$T/rmw/regions/beijing.db" "SELECT min(user_id) FROM users WHERE country = 'CN'")
check "... while a CN tenant's write goes through" sqlite3 "$T/rmw/regions/beijing.db" "UPDATE users SET name = 'w' WHERE user_id = $cnk"
rm -rf "$T/rmw"
run_dom "$T/o" "$T/e" -c "$T/rm/domicile.yaml" prepare
check "prepare is idempotent (second run adds nobody)" grep -q "0 tenants added, 1,000 already known" "$T/o"
run_dom "$T/o" "$T/e" -c "$T/rm/domicile.yaml" prepare --remove
check "prepare --remove exits 0" [ "$status" -eq 0 ]
data_only "$T/rm" >"$T/rm.data"
check "prepare --remove leaves every row as it was" cmp -s "$T/original.data" "$T/rm.data"
schema_after=$(schema_of "$T/rm")
expect_eq "prepare --remove leaves the schema as it was" "$schema_after" "$schema_before"

# incompatible regions are refused with the difference
cp -r "$T/tpl" "$T/bad"
sqlite3 "$T/bad/regions/us-east.db" "ALTER TABLE photos ADD COLUMN album TEXT"
run_dom "$T/o" "$T/e" -c "$T/bad/domicile.yaml" prepare
check "prepare refuses regions whose tables differ (exit 3)" [ "$status" -eq 3 ]
check "... and names the difference" grep -q 'region "us-east", table "photos": column "album" is not in region "beijing"' "$T/e"
check "... and installs nothing" sh -c "! sqlite3 '$T/bad/regions/beijing.db' 'SELECT 1 FROM domicile_fence' 2>/dev/null"

"$DOMICILE" -c "$T/tpl/domicile.yaml" prepare >/dev/null

# ---- the reference run, without faults ----
cp -r "$T/tpl" "$T/ref"
run_dom "$T/o" "$T/e" -c "$T/ref/domicile.yaml" apply
check "apply exits 0" [ "$status" -eq 0 ]
check "apply prints a line per batch" grep -q "^batch 1 (canary) beijing -> singapore" "$T/o"
# erasure is a phase after every wave's flips: each batch's flip line
# comes before the first source erased, one erased line per batch
nflip=$(grep -c "source read-only until the erasure phase" "$T/o")
nerased=$(grep -c "^batch [0-9]* ([a-z]*) beijing: source erased, " "$T/o")
lastflip=$(grep -n "source read-only until the erasure phase" "$T/o" | tail -n 1 | cut -d: -f1)
firsterased=$(grep -n ": source erased, " "$T/o" | head -n 1 | cut -d: -f1)
check "... every wave flips before any source is erased ($nflip flips, the last on line ${lastflip:-none}; $nerased erased from line ${firsterased:-none})" \
    sh -c "[ $nflip -gt 3 ] && [ $nflip -eq $nerased ] && [ ${lastflip:-0} -lt ${firsterased:-0} ]"
ref=$(state "$T/ref" | sha256sum)
run_dom "$T/o" "$T/e" -c "$T/ref/domicile.yaml" plan --check
check "after apply, plan finds nothing misplaced and no violation" sh -c "[ $status -eq 0 ] && grep -q '^total *0 *0' '$T/o'"
run_dom "$T/o" "$T/e" -c "$T/ref/domicile.yaml" verify
check "verify after apply: 0 differences" sh -c "[ $status -eq 0 ] && grep -q ', 0 differences' '$T/o'"
cn=$(sqlite3 "$T/ref/regions/beijing.db" "SELECT count(*) FROM users WHERE country <> 'CN'")
expect_eq "no non-CN user left in beijing" "$cn" "0"
for t in $TABLES; do
    key=user_id; [ "$t" = photos ] && key=owner_id
    n=$(sqlite3 "$T/ref/regions/beijing.db" "SELECT count(*) FROM $t WHERE $key NOT IN (SELECT user_id FROM users)")
    expect_eq "no orphan $t rows left in beijing after erasure" "$n" "0"
done
# every row of every table, whichever region holds it, sorted: the same
# multiset as before the move (nothing lost, duplicated or changed; a row
# held twice would be a line more)
all_rows() {
    for t in $TABLES; do
        for r in $REGIONS; do sqlite3 "$1/regions/$r.db" "SELECT '$t', * FROM $t"; done | LC_ALL=C sort
    done
}
all_rows "$T/tpl" >"$T/rows.before"
all_rows "$T/ref" >"$T/rows.after"
check "every row exists exactly once after the move, unchanged ($(wc -l <"$T/rows.before") rows)" cmp -s "$T/rows.before" "$T/rows.after"
# (the comparison is not blind: a row left in beijing as well is seen)
cp -r "$T/ref" "$T/twice"
u=$(sqlite3 "$T/twice/regions/singapore.db" "SELECT min(user_id) FROM messages")
sqlite3 -cmd ".mode insert messages" "$T/twice/regions/singapore.db" "SELECT * FROM messages WHERE user_id = $u LIMIT 1" |
    sqlite3 -cmd ".dbconfig enable_trigger off" "$T/twice/regions/beijing.db"
all_rows "$T/twice" >"$T/rows.twice"
check "... a row planted in two regions makes them differ" sh -c "! cmp -s '$T/rows.before' '$T/rows.twice'"
rm -rf "$T/twice"
run_dom "$T/o" "$T/e" -c "$T/ref/domicile.yaml" apply
check "a second apply has nothing to do" grep -q "nothing to do" "$T/o"
run_dom "$T/o" "$T/e" -c "$T/ref/domicile.yaml" status --json
expect_eq "status: 3 waves" "$(jq -r '.waves | length' "$T/o")" "3"
k=$(sqlite3 "$T/ref/regions/singapore.db" "SELECT min(user_id) FROM users")
run_dom "$T/o" "$T/e" -c "$T/ref/domicile.yaml" locate "$k"
expect_eq "locate names the new home and epoch" "$(cat "$T/o")" "singapore epoch 2"

# ---- one mover at a time per catalog ----
cp -r "$T/tpl" "$T/lk"
flock "$T/lk/domicile.db.lock" sleep 3 &
sleep 0.3
run_dom "$T/o" "$T/e" -c "$T/lk/domicile.yaml" apply
check "a second mover on the same catalog is refused (exit 75, busy: try again)" [ "$status" -eq 75 ]
check "... saying why" grep -q "another domicile process is moving tenants with catalog" "$T/e"
check "... and nothing was journaled" [ "$(sqlite3 "$T/lk/domicile.db" "SELECT count(*) FROM batches")" = 0 ]
wait

# ---- what writers see ----
cp -r "$T/ref" "$T/ws"
sqlite3 "$T/ws/regions/beijing.db" "INSERT INTO messages VALUES ($k, 777, 'x', 'y', 'z')" >"$T/o" 2>&1
check "a write to a moved tenant names its home and epoch" grep -q "domicile: tenant $k lives in region singapore (epoch 2)" "$T/o"
sqlite3 "$T/ws/regions/beijing.db" "INSERT INTO users VALUES (5000001, 'MY', 'n', NULL, NULL, 'z')" >"$T/o" 2>&1
check "a new MY tenant is refused in beijing" grep -q "domicile: residency policy forbids storing tenant 5000001 (country MY) in region beijing" "$T/o"
check "a new CN tenant is accepted in beijing" sqlite3 "$T/ws/regions/beijing.db" "INSERT INTO users VALUES (5000002, 'CN', 'n', NULL, NULL, 'z')"
check "writes to a tenant at home are untouched" sqlite3 "$T/ws/regions/singapore.db" "UPDATE users SET name = 'ok' WHERE user_id = $k"
check "a new MY tenant is accepted in singapore" sqlite3 "$T/ws/regions/singapore.db" "INSERT INTO users VALUES (5000003, 'MY', 'n', NULL, NULL, 'z')"

# ---- the throttle ----
rm -rf "$T/th"
cp -r "$T/tpl" "$T/th"
sed -i 's/  workers: auto/  workers: auto\n  max_rows_per_second: 5000/' "$T/th/domicile.yaml"
# (and with DOMICILE_CHECK_HASH=1: each transfer's hash is the source read
# again; the reference took its compare's: the logs must agree)
DOMICILE_CHECK_HASH=1 run_dom "$T/o" "$T/e" -c "$T/th/domicile.yaml" apply --json
check "with max_rows_per_second: 5000, apply takes at least rows / 5000 seconds ($(jq -c '[.rows, .seconds]' "$T/o"))" \
    sh -c "[ $status -eq 0 ] && jq -e '.rows > 0 and .seconds >= .rows / 5000' '$T/o' >/dev/null"
check "... and ends as the reference, its transfer log included (hashes read again = the compare's)" [ "$(state "$T/th" | sha256sum)" = "$ref" ]

# ---- concurrent writers during the waves, a rollback and the waves again ----
cp -r "$T/tpl" "$T/live"
sqlite3 "$T/live/regions/beijing.db" "SELECT user_id FROM users WHERE country <> 'CN' ORDER BY user_id % 7, user_id LIMIT 250; SELECT user_id FROM users WHERE country = 'CN' LIMIT 30" >"$T/keys"
wpids=
for i in 1 2 3 4 5 6; do
    "$W" run "$T/live/domicile.yaml" "$T/keys" "$i" 8 "$T/wlog$i" >"$T/wout$i" 2>"$T/werr$i" &
    wpids="$wpids $!"
done
sleep 0.3
DOMICILE_CHECK_HASH=1 "$DOMICILE" -v -v -c "$T/live/domicile.yaml" apply >"$T/a1" 2>&1
s1=$?
"$DOMICILE" -c "$T/live/domicile.yaml" rollback --wave asia >"$T/a2" 2>&1
s2=$?
"$DOMICILE" -c "$T/live/domicile.yaml" apply >"$T/a3" 2>&1
s3=$?
wst=
for p in $wpids; do
    wait "$p"
    wst="$wst $?"
done
expect_eq "apply, rollback, apply under 6 writers all exit 0" "$s1 $s2 $s3" "0 0 0"
expect_eq "every writer exits 0 (an update that matched nothing in the tenant's home would exit 2)" "$wst" " 0 0 0 0 0 0"
reused=$(grep -c "content hash taken from the compare" "$T/a1")
check "the transfer log takes the compare's hash when nothing changed after it ($reused batches), and it matched the source read again" [ "$reused" -ge 1 ]
acks=$(cat "$T"/wout* | awk '{ a += $1; r += $2; d += $3 } END { print a, r, d }')
check "writers got writes acknowledged, retried and redirected ($acks)" sh -c "echo $acks | awk '{ exit !(\$1 > 1000 && \$3 > 0) }'"
check "no writer hit an unexpected error" sh -c "! grep -q unexpected $T/werr*"
"$W" check "$T/live/domicile.yaml" "$T"/wlog* >"$T/chk" 2>&1
expect_eq "I1 and I2 hold (the checker exits 0): $(tail -n 1 "$T/chk")" "$?" "0"
run_dom "$T/o" "$T/e" -c "$T/live/domicile.yaml" verify
check "verify after the live run: 0 differences" grep -q ", 0 differences" "$T/o"

# ---- the checker is not blind: planted faults are found ----
# wcheck NAME DIR LOG...: the checker on DIR's regions; $wc_rc its status,
# $T/NAME.chk its report
wcheck() {
    _n=$1
    _d=$2
    shift 2
    "$W" check "$_d/domicile.yaml" "$@" >"$T/$_n.chk" 2>&1
    wc_rc=$?
}
# (a connection that runs no trigger, as the mover's: past the fences)
sql_bypass() { sqlite3 -cmd ".dbconfig enable_trigger off" "$1" "$2"; }
# a row acknowledged to a tenant that moved beijing -> singapore first
one=$(grep -h '^I ' "$T"/wlog* | while read -r _op k m _rest; do
    f=$(sqlite3 "$T/live/domicile.db" "SELECT b.src || '>' || b.dst FROM batch_tenants bt JOIN batches b ON b.id = bt.batch WHERE bt.tenant = '$k' AND b.flipped_at IS NOT NULL ORDER BY b.flipped_at LIMIT 1")
    [ "$f" = "beijing>singapore" ] && { echo "$k $m"; break; }
done)
set -- $one
k=$1 m=$2
home=$("$DOMICILE" -c "$T/live/domicile.yaml" locate "$k" | cut -d' ' -f1)
other=beijing
[ "$home" = beijing ] && other=us-east
last=$(grep -h "^[IU] $k $m " "$T"/wlog* | sort -k7,7n | tail -n 1 | cut -d' ' -f4)
f1=$(sqlite3 "$T/live/domicile.db" "SELECT CAST(min(b.flipped_at) * 1000000 AS INTEGER) FROM batch_tenants bt JOIN batches b ON b.id = bt.batch WHERE bt.tenant = '$k'")
check "a tenant whose first flip was beijing -> singapore was written to ($k, row $m, last '$last')" [ -n "$k" -a -n "$last" -a -n "$f1" ]

cp -r "$T/live" "$T/lost"
sql_bypass "$T/lost/regions/$home.db" "DELETE FROM messages WHERE user_id = $k AND message_no = $m"
wcheck lost "$T/lost" "$T"/wlog*
check "the checker reports a deleted acknowledged write (exit $wc_rc)" sh -c "[ $wc_rc -eq 1 ] && grep -q '^LOST: tenant $k row $m' '$T/lost.chk'"
rm -rf "$T/lost"
cp -r "$T/live" "$T/stale"
sql_bypass "$T/stale/regions/$home.db" "UPDATE messages SET body = 'planted' WHERE user_id = $k AND message_no = $m"
wcheck stale "$T/stale" "$T"/wlog*
check "... a row whose last acknowledged value was overwritten (exit $wc_rc)" sh -c "[ $wc_rc -eq 1 ] && grep -q '^STALE: tenant $k row $m is .planted.' '$T/stale.chk'"
rm -rf "$T/stale"
cp -r "$T/live" "$T/dup"
sql_bypass "$T/dup/regions/$other.db" "INSERT INTO messages VALUES ($k, $m, 'writer', '$last', 'z')"
wcheck dup "$T/dup" "$T"/wlog*
check "... a row also left in another region (exit $wc_rc)" sh -c "[ $wc_rc -eq 1 ] && grep -q '^DUPLICATE: tenant $k row $m also in $other' '$T/dup.chk'"
rm -rf "$T/dup"
# singapore acknowledged a write of the tenant 2 s before its first flip
# there, beijing one 1 s before it: an order (singapore, then beijing) the
# journal's flips (beijing -> singapore) do not allow
{
    echo "U $k $m $last singapore $((f1 - 2000000)) $((f1 - 1999000)) $((f1 - 2000000)) 0"
    echo "U $k $m $last beijing $((f1 - 1000000)) $((f1 - 999000)) $((f1 - 1000000)) 0"
    echo "# acks 2 retries 0 redirects 0 conflicts 0"
} >"$T/planted.log"
wcheck order "$T/live" "$T"/wlog* "$T/planted.log"
check "... writes acknowledged by singapore before the tenant's flip there (exit $wc_rc: $(tail -n 1 "$T/order.chk"))" \
    sh -c "[ $wc_rc -eq 1 ] && grep -q '^INTERLEAVED: tenant $k: singapore acknowledged a write' '$T/order.chk' && grep -q 'lost 0 stale 0 duplicated 0' '$T/order.chk'"
# beijing acknowledged a write 1 ms after the tenant's flip away from it
f2=$(sqlite3 "$T/live/domicile.db" "SELECT CAST(b.flipped_at * 1000000 AS INTEGER) FROM batch_tenants bt JOIN batches b ON b.id = bt.batch WHERE bt.tenant = '$k' AND b.flipped_at IS NOT NULL ORDER BY b.flipped_at LIMIT 1 OFFSET 1")
{
    echo "U $k $m $last beijing $((f1 + 1000)) $((f1 + 1500)) $((f1 + 1000)) 0"
    echo "# acks 1 retries 0 redirects 0 conflicts 0"
} >"$T/planted.log"
wcheck after "$T/live" "$T"/wlog* "$T/planted.log"
check "... a write acknowledged by beijing after the flip took the tenant away (exit $wc_rc; next flip at ${f2:-none})" \
    sh -c "[ $wc_rc -eq 1 ] && grep -q '^INTERLEAVED: tenant $k: beijing acknowledged a write' '$T/after.chk'"
printf 'lost 0 stale 0 duplicated 0 interleaved 0\n' >"$T/garbage.log"
wcheck garbage "$T/live" "$T"/wlog* "$T/garbage.log"
check "... a log that is not a writer's (exit $wc_rc)" sh -c "[ $wc_rc -eq 2 ] && grep -q 'garbage.log:1: not an acknowledgement' '$T/garbage.chk'"
head -n 5 "$T/wlog1" >"$T/cut.log"
wcheck cut "$T/live" "$T/cut.log"
check "... the log of a writer that did not finish (exit $wc_rc)" sh -c "[ $wc_rc -eq 2 ] && grep -q 'did not finish' '$T/cut.chk'"

# ---- crashes at every step: the rerun ends where the reference did ----
for point in arm armed copy-start copy copied catchup verified freeze frozen synced flip flipped erase done copy:2 flip:3 erase:2 done:4 catchup:5; do
    case $point in *:*) spec=$point ;; *) spec=$point:1 ;; esac
    rm -rf "$T/f"
    cp -r "$T/tpl" "$T/f"
    DOMICILE_FAULT=$spec "$DOMICILE" -c "$T/f/domicile.yaml" apply >/dev/null 2>"$T/fe"
    fs=$?
    "$DOMICILE" -c "$T/f/domicile.yaml" apply >/dev/null 2>&1
    rs=$?
    got=$(state "$T/f" | sha256sum)
    check "crash at $spec (exit $fs), rerun (exit $rs) ends as without the crash" \
        sh -c "[ $fs -eq 99 ] && [ $rs -eq 0 ] && [ '$got' = '$ref' ]"
done

# ---- SIGKILL at random moments, 20 times, each followed by reruns ----
rm -rf "$T/k"
cp -r "$T/tpl" "$T/k"
kills=0
for i in $(seq 1 20); do
    "$DOMICILE" -c "$T/k/domicile.yaml" apply >/dev/null 2>&1 &
    pid=$!
    sleep "0.0$(od -An -N1 -tu1 /dev/urandom | tr -d ' ' | cut -c1)"
    kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null
    # every few kills, start again from the beginning of the waves
    if [ $((i % 5)) -eq 0 ]; then
        "$DOMICILE" -c "$T/k/domicile.yaml" apply >/dev/null 2>&1
        check "after SIGKILL round $i, a rerun ends as the reference" [ "$(state "$T/k" | sha256sum)" = "$ref" ]
        rm -rf "$T/k"
        cp -r "$T/tpl" "$T/k"
    fi
done
check "the loop killed the mover at least 10 times ($kills)" [ "$kills" -ge 10 ]

# ---- Ctrl-C stops at a safe point with exit 4; the rerun finishes ----
# (throttled, so the signal comes while batches remain; it is sent once
# the first batch is done)
rm -rf "$T/i"
cp -r "$T/tpl" "$T/i"
sed -i 's/  workers: auto/  workers: auto\n  max_rows_per_second: 5000/' "$T/i/domicile.yaml"
"$DOMICILE" -c "$T/i/domicile.yaml" apply >"$T/io" 2>"$T/ie" &
pid=$!
_w=0
while ! grep -q '^batch ' "$T/io" && [ "$_w" -lt 300 ]; do sleep 0.05; _w=$((_w + 1)); done
kill -INT "$pid" 2>/dev/null
wait "$pid"
is=$?
nb=$(grep -c '^batch ' "$T/io")
"$DOMICILE" -c "$T/i/domicile.yaml" apply >/dev/null 2>&1
rs=$?
expect_eq "SIGINT after the first batch ($nb batches done): exit 4" "$is" "4"
check "... and the rerun (exit $rs) ends as the reference" sh -c "[ $rs -eq 0 ] && [ '$(state "$T/i" | sha256sum)' = '$ref' ]"

# ---- verify finds planted differences ----
rm -rf "$T/v"
cp -r "$T/tpl" "$T/v"
sed -i 's/  workers: auto/  workers: auto\n  retain_source: 1h/' "$T/v/domicile.yaml"
"$DOMICILE" -c "$T/v/domicile.yaml" apply --wave asia --json >"$T/o" 2>&1
check "apply counts the batches whose source is retained, none done" sh -c "jq -e '.batches_retained >= 1 and .batches_done == 0 and .tenants > 0' '$T/o' >/dev/null"
run_dom "$T/o" "$T/e" -c "$T/v/domicile.yaml" verify --wave asia
check "with the source retained, verify compares both copies: 0 differences" grep -q ", 0 differences" "$T/o"
u=$(sqlite3 "$T/v/regions/singapore.db" "SELECT user_id FROM messages GROUP BY user_id HAVING count(*) >= 2 ORDER BY user_id LIMIT 1")
m1=$(sqlite3 "$T/v/regions/singapore.db" "SELECT min(message_no) FROM messages WHERE user_id = $u")
m2=$(sqlite3 "$T/v/regions/singapore.db" "SELECT max(message_no) FROM messages WHERE user_id = $u")
sqlite3 "$T/v/regions/singapore.db" "UPDATE messages SET body = 'planted' WHERE user_id = $u AND message_no = $m1; DELETE FROM messages WHERE user_id = $u AND message_no = $m2; INSERT INTO messages VALUES ($u, 424242, 'p', 'planted', 'z')"
run_dom "$T/v.json" "$T/e" -c "$T/v/domicile.yaml" verify --tenant "$u" --json
check "verify exits 2 on differences" [ "$status" -eq 2 ]
expect_eq "verify finds three differences" "$(jq -r .differences "$T/v.json")" "3"
expect_eq "the changed row, by key" "$(jq -c '[.diffs[] | select(.kind == "changed") | .pk]' "$T/v.json")" "[[$u,$m1]]"
expect_eq "the row missing from the home, seen as extra in beijing" "$(jq -c '[.diffs[] | select(.kind == "extra") | .pk]' "$T/v.json")" "[[$u,$m2]]"
expect_eq "the row only in the home, seen as missing in beijing" "$(jq -c '[.diffs[] | select(.kind == "missing") | .pk]' "$T/v.json")" "[[$u,424242]]"

# ---- rollback returns every row ----
rm -rf "$T/rb"
cp -r "$T/ref" "$T/rb"
for w in rest asia canary; do
    "$DOMICILE" -c "$T/rb/domicile.yaml" rollback --wave "$w" >/dev/null 2>&1 || not_ok "rollback --wave $w"
done
data_only "$T/rb" >"$T/rb.data"
check "rollback of every wave returns every row to beijing, as it was" cmp -s "$T/original.data" "$T/rb.data"

# ---- a tenant-key change and a schema change fail their batch ----
rm -rf "$T/kc"
cp -r "$T/tpl" "$T/kc"
DOMICILE_FAULT=copied:1 "$DOMICILE" -c "$T/kc/domicile.yaml" apply >/dev/null 2>&1
t1=$(sqlite3 "$T/kc/domicile.db" "SELECT min(tenant) FROM batch_tenants WHERE batch = 1")
cnu=$(sqlite3 "$T/kc/regions/beijing.db" "SELECT min(user_id) FROM users WHERE country = 'CN'")
mn=$(sqlite3 "$T/kc/regions/beijing.db" "SELECT min(message_no) FROM messages WHERE user_id = $t1")
sqlite3 "$T/kc/regions/beijing.db" "UPDATE messages SET user_id = $cnu, message_no = 99999999 WHERE user_id = $t1 AND message_no = $mn"
run_dom "$T/o" "$T/e" -c "$T/kc/domicile.yaml" apply
check "a tenant-key change during the move fails the batch (exit 2)" [ "$status" -eq 2 ]
check "... with a clear message" grep -q "a row of tenant $t1 (primary key \[$t1,$mn\]) changed its tenant key during the move" "$T/e"
expect_eq "... recorded in the journal" "$(sqlite3 "$T/kc/domicile.db" "SELECT step FROM batches WHERE id = 1")" "failed"
n=$(sqlite3 "$T/kc/regions/singapore.db" "SELECT count(*) FROM messages WHERE user_id = $cnu")
expect_eq "... the row that changed tenant did not follow the moving tenant" "$n" "0"
run_dom "$T/o" "$T/e" -c "$T/kc/domicile.yaml" verify
check "... and the tenants of the failed batch, moved by a later batch, verify clean" grep -q ", 0 differences" "$T/o"

rm -rf "$T/ddl"
cp -r "$T/tpl" "$T/ddl"
DOMICILE_FAULT=copied:1 "$DOMICILE" -c "$T/ddl/domicile.yaml" apply >/dev/null 2>&1
sqlite3 "$T/ddl/regions/beijing.db" "ALTER TABLE messages ADD COLUMN flags INTEGER"
run_dom "$T/o" "$T/e" -c "$T/ddl/domicile.yaml" apply
check "a schema change during the move fails the batch (exit 2)" [ "$status" -eq 2 ]
check "... saying so" grep -q 'batch 1 (canary) beijing -> singapore: FAILED: table "messages" has other columns in region "beijing" than in region "singapore"' "$T/o"
expect_eq "... and the schema-changed batch's tenants stay in beijing" "$(sqlite3 "$T/ddl/domicile.db" "SELECT count(*) FROM directory WHERE region <> 'beijing'")" "0"
