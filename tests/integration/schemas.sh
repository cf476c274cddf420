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
