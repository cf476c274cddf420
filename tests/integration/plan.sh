# `plan --json` on a demo data set, every figure checked against counts made
# independently with the sqlite3 shell; --wave; and the human table.
. "$(dirname "$0")/lib.sh"

"$DOMICILE" demo --dir "$T/d" --users 3000 --seed 11 --no-plan >/dev/null 2>&1
check "demo created the three regions" test -s "$T/d/regions/beijing.db" -a -s "$T/d/regions/singapore.db" -a -s "$T/d/regions/us-east.db"
cfg="$T/d/domicile.yaml"
db="$T/d/regions/beijing.db"
q() { sqlite3 "$db" "$1"; }
ASIA="('SG','MY','IN','ID','TH','VN','PH')"

run_dom "$T/plan.json" "$T/e" -c "$cfg" plan --json
check "plan --json exits 0" [ "$status" -eq 0 ]
check "plan --json is one JSON document" sh -c "jq -e . '$T/plan.json' >/dev/null"
j() { jq -r "$1" "$T/plan.json"; }

expect_eq "tenants = users" "$(j .tenants)" "$(q 'SELECT count(*) FROM users')"
expect_eq "misplaced = non-CN users" "$(j .misplaced)" "$(q "SELECT count(*) FROM users WHERE country <> 'CN'")"
expect_eq "source is a scan before prepare" "$(j .source)" "scan"
expect_eq "tables in foreign-key order" "$(j '.tables | join(",")')" "users,devices,contacts,messages,photos,backups"
expect_eq "waves in config order" "$(j '[.waves[].name] | join(",")')" "canary,asia,rest"

asia_users=$(q "SELECT count(*) FROM users WHERE country IN $ASIA")
expect_eq "canary + asia tenants = users of the asia countries" \
    "$(j '.waves[0].tenants + .waves[1].tenants')" "$asia_users"
# the canary's sample computed here (docs/config.md): a tenant is taken
# when the first 8 bytes of SHA-256(key), big-endian, mod 1,000,000 are
# below percent * 10,000
sampled() { # PERCENT: reads keys, prints those sampled
    while read -r key; do
        printf '%s %s\n' "$key" "$(printf %s "$key" | sha256sum | cut -c1-16)"
    done | awk -v p="$1" '{
        r = 0
        for (i = 1; i <= 16; i++) r = (r * 16 + index("0123456789abcdef", substr($2, i, 1)) - 1) % 1000000
        if (r < p * 10000) print $1
    }'
}
sg=$(q "SELECT count(*) FROM users WHERE country = 'SG'")
canary=$(j '.waves[0].tenants')
expect_eq "canary tenants = the SG users whose key hash falls in 5% of the buckets" \
    "$canary" "$(q "SELECT user_id FROM users WHERE country = 'SG'" | sampled 5 | wc -l)"
expect_eq "... all of them beijing -> singapore" "$(j '[.waves[0].moves[] | "\(.from)>\(.to) \(.tenants)"] | join(",")')" "beijing>singapore $canary"
sed 's/percent: 5 }/percent: 50 }/' "$cfg" >"$T/d/half.yaml"
"$DOMICILE" -c "$T/d/half.yaml" plan --json >"$T/half.json" 2>/dev/null
expect_eq "with percent: 50, the same computation gives the canary's tenants" \
    "$(jq -r '.waves[0].tenants' "$T/half.json")" "$(q "SELECT user_id FROM users WHERE country = 'SG'" | sampled 50 | wc -l)"
check "canary takes about 5% of SG ($canary of $sg)" [ "$canary" -ge 1 -a "$canary" -lt $((sg / 5)) ]
expect_eq "rest tenants = the other non-CN users" "$(j '.waves[2].tenants')" \
    "$(q "SELECT count(*) FROM users WHERE country <> 'CN' AND country NOT IN $ASIA")"

for t in users devices contacts messages photos backups; do
    key=user_id
    [ "$t" = photos ] && key=owner_id
    got=$(j ".waves[0].table_rows.$t + .waves[1].table_rows.$t")
    want=$(q "SELECT count(*) FROM $t JOIN users u ON u.user_id = $t.$key WHERE u.country IN $ASIA")
    expect_eq "asia rows of $t" "$got" "$want"
    got=$(j ".waves[2].table_rows.$t")
    want=$(q "SELECT count(*) FROM $t JOIN users u ON u.user_id = $t.$key WHERE u.country <> 'CN' AND u.country NOT IN $ASIA")
    expect_eq "rest rows of $t" "$got" "$want"
done
expect_eq "wave rows are the sum of table rows" "$(j '[.waves[2].table_rows[]] | add')" "$(j '.waves[2].rows')"
expect_eq "rest moves split between us-east and singapore" "$(j '[.waves[2].moves[].to] | sort | join(",")')" "singapore,us-east"
expect_eq "rest pairs add up" "$(j '[.waves[2].moves[].tenants] | add')" "$(j '.waves[2].tenants')"
expect_eq "violating before = non-CN users" "$(j .compliance.violating_before)" "$(q "SELECT count(*) FROM users WHERE country <> 'CN'")"
expect_eq "violating after = 0" "$(j .compliance.violating_after)" "0"
expect_eq "per-country: MY misplaced" "$(j '.compliance.countries[] | select(.country == "MY") | .misplaced')" "$(q "SELECT count(*) FROM users WHERE country = 'MY'")"
expect_eq "per-country: CN not misplaced" "$(j '.compliance.countries[] | select(.country == "CN") | .misplaced')" "0"
expect_eq "regions: beijing keeps the CN users" "$(j '.regions[0].tenants_after')" "$(q "SELECT count(*) FROM users WHERE country = 'CN'")"
expect_eq "unplanned is empty" "$(j .unplanned.tenants)" "0"

# the same plan twice is the same plan (deterministic sampling)
"$DOMICILE" -c "$cfg" plan --json >"$T/plan2.json" 2>/dev/null
check "plan is deterministic" cmp -s "$T/plan.json" "$T/plan2.json"

# --wave shows one wave, with compliance after it
run_dom "$T/w.json" "$T/e" -c "$cfg" plan --wave asia --json
expect_eq "plan --wave asia lists one wave" "$(jq -r '[.waves[].name] | join(",")' "$T/w.json")" "asia"
expect_eq "violations after asia = the rest wave's tenants" \
    "$(jq -r .compliance.violating_after "$T/w.json")" "$(j '.waves[2].tenants')"

# the human table
run_dom "$T/plan.txt" "$T/e" -c "$cfg" plan
check "plan prints a table with the waves" grep -q "^wave asia (SG MY IN ID TH VN PH): " "$T/plan.txt"
check "plan prints the pairs" grep -q "beijing -> singapore" "$T/plan.txt"
check "nothing on stderr" [ ! -s "$T/e" ]

# a tenant in the data whose country is not ISO: reported, not moved
q "INSERT INTO users VALUES (999999, 'ZZ', 'Nobody', NULL, NULL, '2025-01-01T00:00:00Z')"
run_dom "$T/z.json" "$T/e" -c "$cfg" plan --json
expect_eq "unknown country counted" "$(jq -r .compliance.unknown_country "$T/z.json")" "1"
# rows whose tenant is in no tenants table
q "INSERT INTO messages VALUES (888888, 1, 'x', 'orphan', '2025-01-01T00:00:00Z')"
run_dom "$T/o.json" "$T/e" -c "$cfg" plan --json
expect_eq "orphan rows counted" "$(jq -r .compliance.orphan_rows "$T/o.json")" "1"
