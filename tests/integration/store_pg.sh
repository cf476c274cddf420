# The store conformance suite (tests/unit/test_store.c) on PostgreSQL: the
# same tests as on SQLite, against a database owned by a role that is no
# superuser, as a managed server gives.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg.sh"
pg_start pg
port=$(cat "$PGROOT/pg/port")
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres \
    -c "CREATE ROLE app LOGIN" -c "CREATE DATABASE conf OWNER app" || not_ok "create the database"
DOMICILE_TEST_STORE_DSN="postgresql://app@127.0.0.1:$port/conf" \
    "$DOMICILE_BUILD/tests/test_store" >"$T/unit.out" 2>&1
rc=$?
check "the conformance suite ran to its end on PostgreSQL (exit $rc)" \
    sh -c "[ $rc -eq 0 ] && grep -q 'PASSED  \] 9 test' '$T/unit.out'"
[ "$rc" -eq 0 ] || sed 's/^/# /' "$T/unit.out"
expect_eq "... and left the database as it found it" \
    "$("$PGBIN/psql" -X -At -h 127.0.0.1 -p "$port" -U postgres -d conf -c "SELECT count(*) FROM pg_tables WHERE schemaname <> 'pg_catalog' AND schemaname <> 'information_schema'")" "0"
