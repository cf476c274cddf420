# The C API through the example program: dom_open, dom_place, dom_locate.
. "$(dirname "$0")/lib.sh"
ex="$DOMICILE_BUILD/examples/locate"
check "the example program was built" test -x "$ex"
"$DOMICILE" demo --dir "$T/d" --users 20 --no-plan >/dev/null 2>&1
cfg="$T/d/domicile.yaml"
expect_eq "a new CN user goes to beijing" "$("$ex" "$cfg" place CN)" "beijing"
expect_eq "a new MY user goes to singapore" "$("$ex" "$cfg" place my)" "singapore"
expect_eq "a new BR user goes to the nearest allowed region (us-east)" "$("$ex" "$cfg" place BR)" "us-east"
expect_eq "a new AU user goes to the nearest allowed region (singapore)" "$("$ex" "$cfg" place AU)" "singapore"
"$ex" "$cfg" place XX >/dev/null 2>"$T/e"
check "an invalid country is refused" grep -q 'invalid country code "XX"' "$T/e"
"$ex" "$cfg" locate 1 >/dev/null 2>"$T/e"
check "locate before any catalog says so" grep -q "does not exist yet" "$T/e"
sqlite3 "$T/d/domicile.db" "CREATE TABLE directory (tenant TEXT PRIMARY KEY, region TEXT NOT NULL, epoch INTEGER NOT NULL DEFAULT 1, state TEXT NOT NULL DEFAULT 'home'); INSERT INTO directory VALUES ('1', 'singapore', 3, 'home')"
expect_eq "locate reads the directory" "$("$ex" "$cfg" locate 1)" "singapore 3"
"$ex" "$cfg" locate 2 >/dev/null 2>&1
expect_eq "locate of an unknown tenant exits 2 (not found)" "$?" "2"
