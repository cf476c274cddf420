# libpq parameters pass through a region's DSN: two servers that accept
# only TLS connections with a password (scram-sha-256), whose certificates
# the test signs with its own CA; domicile moves tenants between them with
# sslmode=verify-full, refuses a server it cannot verify, and never prints
# the password.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg.sh"
pw='S3cret-pw-%-4711'

# the CA and a certificate for "localhost"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=domicile test CA" \
    -keyout "$T/ca.key" -out "$T/ca.crt" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$T/server.key" -out "$T/server.csr" >/dev/null 2>&1
printf 'subjectAltName=DNS:localhost\n' >"$T/san.ext"
openssl x509 -req -in "$T/server.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
    -days 2 -extfile "$T/san.ext" -out "$T/server.crt" >/dev/null 2>&1
check "the test CA signed a server certificate" sh -c "openssl verify -CAfile $T/ca.crt $T/server.crt >/dev/null"
# a second CA that signed nothing here
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" \
    -keyout "$T/other.key" -out "$T/other.crt" >/dev/null 2>&1
chmod 644 "$T/ca.crt" "$T/other.crt"

for r in beijing singapore; do
    pg_start "$r" || { not_ok "start PostgreSQL for $r"; exit 1; }
    d="$PGROOT/$r/data"
    cp "$T/server.crt" "$T/server.key" "$d/"
    chmod 600 "$d/server.key"
    [ "$(id -u)" = 0 ] && chown postgres "$d/server.crt" "$d/server.key"
    cat >>"$d/postgresql.conf" <<CONF
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
password_encryption = 'scram-sha-256'
log_connections = on
CONF
    port=$(cat "$PGROOT/$r/port")
    "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE app LOGIN PASSWORD '$pw'" -c "GRANT CREATE ON SCHEMA public TO app" \
        -c "GRANT CREATE ON DATABASE postgres TO app"
    # from now on: TLS and a password, for everyone over TCP
    printf 'local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n' >"$d/pg_hba.conf"
    pg_as "$PGBIN/pg_ctl" -D "$d" -l "$PGROOT/$r/log" -w restart >/dev/null 2>&1 || not_ok "restart $r with TLS"
done
pb=$(cat "$PGROOT/beijing/port")
ps=$(cat "$PGROOT/singapore/port")
S="sslmode=verify-full sslrootcert=$T/ca.crt"
bj() { PGPASSWORD=$pw "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "host=localhost hostaddr=127.0.0.1 port=$pb user=app dbname=postgres $S" "$@"; }
sg() { PGPASSWORD=$pw "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "host=localhost hostaddr=127.0.0.1 port=$ps user=app dbname=postgres $S" "$@"; }
schema="CREATE TABLE users (user_id bigint PRIMARY KEY, country text NOT NULL, name text);
        CREATE TABLE notes (user_id bigint NOT NULL REFERENCES users, note_no int, body text, PRIMARY KEY (user_id, note_no));"
bj -c "$schema" -c "INSERT INTO users SELECT g, CASE WHEN g % 3 = 0 THEN 'SG' ELSE 'CN' END, 'u' || g FROM generate_series(1, 300) g;
                    INSERT INTO notes SELECT u, n, 'note ' || n FROM generate_series(1, 300) u, generate_series(1, 5) n"
sg -c "$schema"
expect_eq "the servers refuse connections without TLS" \
    "$(PGPASSWORD=$pw "$PGBIN/psql" -X -At "host=127.0.0.1 port=$pb user=app dbname=postgres sslmode=disable" -c "SELECT 1" 2>&1 | grep -c 'no pg_hba.conf entry')" "1"

cat >"$T/domicile.yaml" <<YAML
catalog: sqlite:domicile.db
regions:
  beijing:   { dsn: "postgresql:host=localhost hostaddr=127.0.0.1 port=$pb user=app password=$pw dbname=postgres $S", location: CN }
  singapore: { dsn: "postgresql://app:$(printf %s "$pw" | sed 's/%/%25/')@localhost:$ps/postgres?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert=$T/ca.crt", location: SG }
tenants: { table: users, key: user_id, country: country }
policy:
  - { countries: [CN], home: beijing }
  - { countries: ["*"], home: singapore }
waves:
  - { name: all }
YAML
: >"$T/all"
# (domicile's sessions carry an application name of their own, so the
# servers' connection logs tell them from the test's psql sessions)
export PGAPPNAME=domicile-ssl-test
for cmd in "plan" "prepare" "apply --json" "verify" "audit" "status" "report latency"; do
    run_dom "$T/o" "$T/e" -c "$T/domicile.yaml" $cmd
    check "$cmd over TLS with sslmode=verify-full (exit $status)" [ "$status" -eq 0 ]
    [ "$status" -eq 0 ] || cat "$T/e" >&2
    cat "$T/o" "$T/e" >>"$T/all"
done
unset PGAPPNAME
expect_eq "the SG users moved to singapore" "$(sg -At -c "SELECT count(*) FROM users")" "100"
expect_eq "... with their notes" "$(sg -At -c "SELECT count(*) FROM notes")" "500"
# every session domicile opened, as each server logged it when it began
for r in beijing singapore; do
    n=$(grep -c "connection authorized: user=app .*application_name=domicile-ssl-test" "$PGROOT/$r/log")
    tls=$(grep -c "connection authorized: user=app .*application_name=domicile-ssl-test SSL enabled (protocol=TLS" "$PGROOT/$r/log")
    check "$r: every one of domicile's sessions was encrypted ($tls of $n, as the server logged them)" [ "$n" -gt 0 -a "$tls" -eq "$n" ]
done

# a server the CA does not vouch for: refused, named, no password shown
sed "s#$T/ca.crt#$T/other.crt#g" "$T/domicile.yaml" >"$T/other.yaml"
run_dom "$T/o" "$T/e" -c "$T/other.yaml" plan
check "a certificate from another CA: exit 3, the region named, the reason given" \
    sh -c "[ $status -eq 3 ] && grep -q 'region \"beijing\": cannot connect: .*certificate verify failed' '$T/e'"
cat "$T/o" "$T/e" >>"$T/all"
check "no output of any command shows the password" sh -c "! grep -qF '$pw' '$T/all'"
