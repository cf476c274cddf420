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
check "plan --wave with an unknown wave exits 1" [ "$status" -eq 1 ]
check "plan --check exits 0 when the waves leave no violation" sh -c "'$DOMICILE' -c '$cfg' plan --check >/dev/null"
run_dom "$T/o" "$T/e" -c "$cfg" plan --wave canary --check
check "plan --wave canary --check exits 2 (violations remain after the canary)" [ "$status" -eq 2 ]
