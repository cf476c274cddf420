# The command line: --help everywhere, --version, exit codes, and bad input
# that gets one clear line, the right exit code, and writes nothing.
. "$(dirname "$0")/lib.sh"

run_dom "$T/o" "$T/e" --help
check "domicile --help exits 0" [ "$status" -eq 0 ]
for c in plan prepare apply status verify rollback locate audit erase pause resume throttle report demo; do
    check "--help lists $c" grep -q "^  $c " "$T/o"
    run_dom "$T/o2" "$T/e2" "$c" --help
    check "domicile $c --help exits 0 and prints usage" \
        sh -c "[ $status -eq 0 ] && grep -q 'usage: domicile' '$T/o2'"
done
check "no command is marked as unavailable" sh -c "! grep -q 'not available' '$T/o'"

run_dom "$T/o" "$T/e" --version
check "--version prints the version" grep -q "^domicile [0-9]" "$T/o"
run_dom "$T/o" "$T/e" --version --verbose
check "--version --verbose credits the data sources" grep -q "cloudping.co" "$T/o"

run_dom "$T/o" "$T/e" frobnicate
check "unknown command exits 1" [ "$status" -eq 1 ]
check "unknown command is named on stderr" grep -q 'unknown command "frobnicate"' "$T/e"
check "nothing on stdout for a usage error" [ ! -s "$T/o" ]


# a missing config
run_dom "$T/o" "$T/e" -c "$T/none.yaml" plan
check "missing config exits 1" [ "$status" -eq 1 ]
expect_eq "missing config: one line naming the file" "$(cat "$T/e")" \
    "domicile: $T/none.yaml: cannot open config: No such file or directory"

# DOMICILE_CONFIG is used without -c
(cd "$T" && DOMICILE_CONFIG="$T/env.yaml" "$DOMICILE" plan >/dev/null 2>"$T/e")
check "DOMICILE_CONFIG names the config" grep -q "$T/env.yaml: cannot open config" "$T/e"

# a config error is file:line:col and exit 1
printf 'regions:\n  a: { dsn: "sqlite:a.db", location: CN, colour: red }\n' >"$T/bad.yaml"
run_dom "$T/o" "$T/e" -c "$T/bad.yaml" plan
check "config error exits 1" [ "$status" -eq 1 ]
check "config error names file:line:col" grep -q "^domicile: $T/bad.yaml:2:42: unknown key \"colour\"" "$T/e"

# the demo creates the folder it is given, parents included; one it
# cannot create is a usage error naming the path
run_dom "$T/o" "$T/e" demo --dir "$T/nested/demo" --users 20 --no-plan
check "demo --dir creates missing parent folders" sh -c "[ $status -eq 0 ] && [ -f '$T/nested/demo/domicile.yaml' ]"
touch "$T/a-file"
run_dom "$T/o" "$T/e" demo --dir "$T/a-file/demo" --users 20 --no-plan
check "demo --dir under a file exits 1" [ "$status" -eq 1 ]
check "... and names the folder" grep -q "^domicile: cannot create $T/a-file/demo: Not a directory" "$T/e"

# a data set to break in several ways
"$DOMICILE" demo --dir "$T/demo" --users 50 --no-plan >/dev/null 2>&1
cfg="$T/demo/domicile.yaml"
ls "$T/demo/regions" >"$T/files-before"
bj_before=$(sha256sum <"$T/demo/regions/beijing.db")

# an unreadable region file
mv "$T/demo/regions/us-east.db" "$T/us-east.db"
run_dom "$T/o" "$T/e" -c "$cfg" plan
check "missing region file exits 3" [ "$status" -eq 3 ]
expect_eq "missing region file: one line naming region and file" "$(cat "$T/e")" \
    "domicile: region \"us-east\": cannot open $T/demo/regions/us-east.db: No such file or directory"
mv "$T/us-east.db" "$T/demo/regions/us-east.db"

# a region file that is not a database
cp "$T/demo/regions/singapore.db" "$T/sg.db"
echo "not a database, just text that is long enough to be read as a header......" >"$T/demo/regions/singapore.db"
run_dom "$T/o" "$T/e" -c "$cfg" plan
check "corrupt region file exits 3" [ "$status" -eq 3 ]
check "corrupt region file: message names the region" grep -q 'region "singapore": cannot read' "$T/e"
cp "$T/sg.db" "$T/demo/regions/singapore.db"
rm -f "$T/demo/regions/singapore.db-wal" "$T/demo/regions/singapore.db-shm"

# a region without the tenants table
sqlite3 "$T/demo/regions/singapore.db" "ALTER TABLE users RENAME TO people"
run_dom "$T/o" "$T/e" -c "$cfg" plan
check "region without tenants table exits 3" [ "$status" -eq 3 ]
expect_eq "region without tenants table: one line" "$(cat "$T/e")" \
    "domicile: region \"singapore\": tenants table \"users\" not found"
sqlite3 "$T/demo/regions/singapore.db" "ALTER TABLE people RENAME TO users"

# a tenant table without its key column
sqlite3 "$T/demo/regions/us-east.db" "ALTER TABLE photos RENAME COLUMN owner_id TO owner"
run_dom "$T/o" "$T/e" -c "$cfg" plan
check "tenant table without key column exits 3" [ "$status" -eq 3 ]
expect_eq "tenant table without key column: one line" "$(cat "$T/e")" \
    "domicile: region \"us-east\", table \"photos\": tenant column \"owner_id\" not found"
sqlite3 "$T/demo/regions/us-east.db" "ALTER TABLE photos RENAME COLUMN owner TO owner_id"

rm -f "$T"/demo/regions/*-wal "$T"/demo/regions/*-shm
run_dom "$T/o" "$T/e" -c "$cfg" plan
check "plan works again once repaired" [ "$status" -eq 0 ]
check "plan wrote no catalog" [ ! -e "$T/demo/domicile.db" ]

# the failed runs and plan wrote nothing to the region they read
expect_eq "beijing.db is byte-identical after every plan run" \
    "$(sha256sum <"$T/demo/regions/beijing.db")" "$bj_before"
ls "$T/demo/regions" >"$T/files-after"
check "plan left no new files in regions/" cmp -s "$T/files-before" "$T/files-after"

# the demo refuses to overwrite a folder that it did not create
mkdir -p "$T/precious/regions"
run_dom "$T/o" "$T/e" demo --dir "$T/precious" --users 5 --no-plan
check "demo refuses a folder with other data (exit 1)" [ "$status" -eq 1 ]
check "demo says why" grep -q "regions folder that the demo did not create" "$T/e"

# plan --wave with an unknown wave
run_dom "$T/o" "$T/e" -c "$cfg" plan --wave nope
check "plan --wave with an unknown wave exits 5 (not found)" [ "$status" -eq 5 ]
check "plan --check exits 0 when the waves leave no violation" sh -c "'$DOMICILE' -c '$cfg' plan --check >/dev/null"
run_dom "$T/o" "$T/e" -c "$cfg" plan --wave canary --check
check "plan --wave canary --check exits 2 (violations remain after the canary)" [ "$status" -eq 2 ]

# ---- one grammar for every command (docs/cli.md) ----
run_dom "$T/o" "$T/e" help
check "domicile help lists the commands on stdout (exit 0)" sh -c "[ $status -eq 0 ] && grep -q '^  apply ' '$T/o' && grep -q '^  help ' '$T/o'"
for c in plan prepare apply status verify rollback locate audit erase pause resume throttle report demo; do
    run_dom "$T/o" "$T/e" help "$c"
    "$DOMICILE" "$c" --help >"$T/o2" 2>/dev/null
    check "domicile help $c is $c --help, which names --json and explains (3 lines or more)" \
        sh -c "[ $status -eq 0 ] && cmp -s '$T/o' '$T/o2' && grep -q -- '--json' '$T/o' && [ \$(wc -l <'$T/o') -ge 3 ]"
done
run_dom "$T/o" "$T/e" help nosuch
check "help of an unknown command exits 1" sh -c "[ $status -eq 1 ] && grep -q 'unknown command \"nosuch\"' '$T/e'"
run_dom "$T/o" "$T/e" aply
check "did you mean: a command one letter off" grep -q 'did you mean "apply"' "$T/e"
run_dom "$T/o" "$T/e" -c "$cfg" plan --wavee canary
check "did you mean: an option (exit 1)" sh -c "[ $status -eq 1 ] && grep -q 'unknown option --wavee; did you mean --wave?' '$T/e'"
run_dom "$T/o" "$T/e" -c "$cfg" plan --zzzzzzzz
check "... and none for an option far from every other" sh -c "[ $status -eq 1 ] && grep -q 'unknown option --zzzzzzzz\$' '$T/e'"
"$DOMICILE" -c "$cfg" plan --wave canary --json >"$T/a.json" 2>/dev/null
"$DOMICILE" -c "$cfg" plan --wave=canary --json >"$T/b.json" 2>/dev/null
"$DOMICILE" plan --json --wave=canary -c "$cfg" >"$T/c.json" 2>/dev/null
"$DOMICILE" plan --json --wave=canary --config="$cfg" >"$T/d.json" 2>/dev/null
check "--opt VALUE, --opt=VALUE and global options after the command are the same" \
    sh -c "jq -e '.waves[0].name == \"canary\"' '$T/a.json' >/dev/null && cmp -s '$T/a.json' '$T/b.json' && cmp -s '$T/a.json' '$T/c.json' && cmp -s '$T/a.json' '$T/d.json'"
for bad in "--workers=3x" "--workers 3x" "--workers=0" "--workers 65" "--dry-run=yes" "--workers"; do
    # shellcheck disable=SC2086
    run_dom "$T/o" "$T/e" -c "$cfg" apply $bad
    check "apply $bad is refused (exit 1) with one line on stderr, nothing on stdout" \
        sh -c "[ $status -eq 1 ] && [ ! -s '$T/o' ] && head -n 1 '$T/e' | grep -q '^domicile: apply: '"
done
run_dom "$T/o" "$T/e" -c "$cfg" --json apply --workers=0
check "--json: a usage error is one document {ok: false, error: {kind: usage, exit: 1}}" \
    sh -c "[ $status -eq 1 ] && jq -e '.ok == false and .error.kind == \"usage\" and .error.exit == 1 and (.error.message | test(\"workers\"))' '$T/o' >/dev/null"
run_dom "$T/o" "$T/e" -c "$cfg" plan --wave nope --json
check "--json: not found is kind not_found, exit 5, also said on stderr" \
    sh -c "[ $status -eq 5 ] && jq -e '.ok == false and .error.kind == \"not_found\" and .error.exit == 5' '$T/o' >/dev/null && grep -q 'no wave named' '$T/e'"
run_dom "$T/o" "$T/e" -c "$cfg" status --json
check "status --json before prepare: not found (exit 5), one document" \
    sh -c "[ $status -eq 5 ] && jq -e '.error.kind == \"not_found\"' '$T/o' >/dev/null"
run_dom "$T/o" "$T/e" -c "$cfg" prepare --json
check "prepare --json: regions and tenants added" \
    sh -c "[ $status -eq 0 ] && jq -e '.ok and .regions == 3 and .tenants_added == 50' '$T/o' >/dev/null"
run_dom "$T/o" "$T/e" -c "$cfg" apply --dry-run
check "apply --dry-run writes its plan on stdout" sh -c "[ $status -eq 0 ] && grep -q '^wave asia: [0-9]* batch' '$T/o'"
run_dom "$T/o" "$T/e" -c "$cfg" apply --dry-run --json
check "apply --dry-run --json: the planned waves, nothing moved" \
    sh -c "[ $status -eq 0 ] && jq -e '.ok and .dry_run and (.planned | length) == 3 and .batches_done == 0' '$T/o' >/dev/null"
k=$(sqlite3 "$T/demo/regions/beijing.db" "SELECT user_id FROM users ORDER BY user_id LIMIT 1")
run_dom "$T/o" "$T/e" -c "$cfg" locate "$k" --json
check "locate --json: the tenant's region and epoch" \
    sh -c "[ $status -eq 0 ] && jq -e '.ok and .region == \"beijing\" and .epoch >= 1 and .state == \"home\"' '$T/o' >/dev/null"
run_dom "$T/o" "$T/e" -c "$cfg" locate no-such-tenant
check "locate of an unknown tenant: exit 5 (not found)" sh -c "[ $status -eq 5 ] && grep -q 'not in the directory' '$T/e'"
run_dom "$T/o" "$T/e" -c "$cfg" locate --country SG --json
check "locate --country --json" sh -c "[ $status -eq 0 ] && jq -e '.region == \"singapore\"' '$T/o' >/dev/null"
run_dom "$T/o" "$T/e" -c "$cfg" erase --json
check "erase --json: nothing retained" sh -c "[ $status -eq 0 ] && jq -e '.ok and .batches_erased == 0' '$T/o' >/dev/null"
for c in status "verify" "audit" "report latency" "pause" "resume" "throttle off"; do
    # shellcheck disable=SC2086
    "$DOMICILE" -c "$cfg" $c --json >"$T/o" 2>/dev/null
    check "$c --json: one document whose first member is ok" sh -c "jq -e 'keys_unsorted[0] == \"ok\"' '$T/o' >/dev/null"
done
run_dom "$T/o" "$T/e" -c "$cfg" apply --wave asia
check "one batch is \"1 batch\" (plurals)" sh -c "[ $status -eq 0 ] && grep -q 'apply: 1 batch done' '$T/o' && grep -q '^wave asia: 1 batch,' '$T/e'"
