# Data shapes: text tenant keys in unicode, a table without a primary key
# (full-row identity, duplicate rows), a WITHOUT ROWID table with a
# composite key, reals, NULLs, blobs up to 10 MB, a tenant column with
# another name; changes to all of them while a batch is under way.
. "$(dirname "$0")/lib.sh"

mk() {
    sqlite3 "$1" "PRAGMA journal_mode=WAL;
CREATE TABLE accounts (acct TEXT PRIMARY KEY, cc TEXT NOT NULL, nick TEXT);
CREATE TABLE events (acct TEXT REFERENCES accounts (acct), at REAL, kind TEXT, payload BLOB);
CREATE INDEX events_acct ON events (acct);
CREATE TABLE files (owner TEXT NOT NULL REFERENCES accounts (acct), path TEXT NOT NULL,
                    data BLOB, score REAL, PRIMARY KEY (owner, path)) WITHOUT ROWID;" >/dev/null
}
mkdir -p "$T/s"
mk "$T/s/a.db"
mk "$T/s/b.db"
sqlite3 "$T/s/a.db" "
INSERT INTO accounts VALUES ('用户-1', 'SG', 'ünïcødé 🚀'), ('u-2', 'SG', NULL), ('u-3', 'CN', 'stays'),
                            ('u''quote', 'MY', 'it''s');
INSERT INTO events VALUES ('用户-1', 1.5, 'login', x'00ff00'), ('用户-1', 1.5, 'login', x'00ff00'),
                          ('用户-1', NULL, NULL, NULL), ('u-2', -0.0, 'x', zeroblob(3)),
                          ('u-3', 2.25, 'y', NULL), ('u''quote', 3.0, 'z', x'');
INSERT INTO files VALUES ('用户-1', '/a', randomblob(10485760), 0.1),
                         ('用户-1', '/b', NULL, 1e300), ('u-2', '/a', x'01', NULL),
                         ('u''quote', '/q', 'text in a blob column', 2.5);"
cat >"$T/s/domicile.yaml" <<'YAML'
regions:
  a: { dsn: "sqlite:a.db", location: CN }
  b: { dsn: "sqlite:b.db", location: SG }
tenants: { table: accounts, key: acct, country: cc }
tables:
  - accounts
  - { table: events, key: acct }
  - { table: files, key: owner }
policy:
  - { countries: [CN], home: a }
  - { countries: ["*"], home: b }
waves:
  - { name: all }
options: { batch_tenants: 2, workers: 1 }
YAML
dump() {
    sqlite3 "$1" "SELECT acct, cc, quote(nick) FROM accounts ORDER BY 1;
                  SELECT acct, quote(at), quote(kind), hex(payload) FROM events ORDER BY 1, 2, 3, 4;
                  SELECT owner, path, length(data), hex(sha3(data)), quote(score) FROM files ORDER BY 1, 2" 2>/dev/null ||
    sqlite3 "$1" "SELECT acct, cc, quote(nick) FROM accounts ORDER BY 1;
                  SELECT acct, quote(at), quote(kind), hex(payload) FROM events ORDER BY 1, 2, 3, 4;
                  SELECT owner, path, length(data), hex(substr(data, 1, 64)), hex(substr(data, -64)), quote(score) FROM files ORDER BY 1, 2"
}
moving="'用户-1', 'u-2', 'u''quote'"

run_dom "$T/o" "$T/e" -c "$T/s/domicile.yaml" prepare
check "prepare on a hand-made schema" [ "$status" -eq 0 ]
# stop after the copy of the first batch, then change every shape
DOMICILE_FAULT=copied:1 "$DOMICILE" -c "$T/s/domicile.yaml" apply >/dev/null 2>&1
first=$(sqlite3 "$T/s/domicile.db" "SELECT group_concat(quote(tenant)) FROM batch_tenants WHERE batch = 1")
check "the first batch is copied and capturing ($first)" sh -c "[ \"\$(sqlite3 '$T/s/domicile.db' 'SELECT step FROM batches WHERE id = 1')\" = copied ]"
sqlite3 "$T/s/a.db" "
INSERT INTO events SELECT acct, 9.75, 'during', x'beef' FROM accounts WHERE acct IN ($first);
DELETE FROM events WHERE rowid = (SELECT min(rowid) FROM events WHERE acct IN ($first) AND kind IS 'login');
UPDATE files SET score = -1.5 WHERE owner IN ($first);
INSERT INTO files SELECT acct, '/new', x'cafe', NULL FROM accounts WHERE acct IN ($first);
UPDATE accounts SET nick = 'changed ✓' WHERE acct IN ($first)" 2>"$T/e"
check "the source accepted writes to capturing tenants" [ ! -s "$T/e" ]
dump "$T/s/a.db" | grep -v "^u-3" >"$T/before_moving"
ev=$(sqlite3 "$T/s/a.db" "SELECT count(*) FROM events WHERE acct = '用户-1'")
run_dom "$T/o" "$T/e" -c "$T/s/domicile.yaml" apply
check "apply resumes and finishes" [ "$status" -eq 0 ]
dump "$T/s/b.db" >"$T/after_moving"
check "every row, value and type arrived in b as it was in a (with the changes made mid-move)" cmp -s "$T/before_moving" "$T/after_moving"
expect_eq "the 10 MB blob arrived whole" "$(sqlite3 "$T/s/b.db" "SELECT length(data) FROM files WHERE path = '/a' AND owner = '用户-1'")" "10485760"
expect_eq "duplicate rows of the table without a primary key are kept" "$(sqlite3 "$T/s/b.db" "SELECT count(*) FROM events WHERE acct = '用户-1'")" "$ev"
expect_eq "nothing of the moved tenants is left in a" "$(sqlite3 "$T/s/a.db" "SELECT (SELECT count(*) FROM accounts WHERE acct IN ($moving)) + (SELECT count(*) FROM events WHERE acct IN ($moving)) + (SELECT count(*) FROM files WHERE owner IN ($moving))")" "0"
expect_eq "the CN tenant stays in a" "$(sqlite3 "$T/s/a.db" "SELECT count(*) FROM events WHERE acct = 'u-3'")" "1"
run_dom "$T/o" "$T/e" -c "$T/s/domicile.yaml" verify
check "verify: 0 differences" grep -q ", 0 differences" "$T/o"
expect_eq "locate a unicode key" "$("$DOMICILE" -c "$T/s/domicile.yaml" locate '用户-1')" "b epoch 2"
sqlite3 "$T/s/a.db" "INSERT INTO events VALUES ('u''quote', 1, 'late', NULL)" >"$T/o" 2>&1
# (SQLite before 3.46 carries the message in a JSON path error, which doubles quotes)
check "a stale write with a quote in the key is refused and named" grep -Eq "domicile: tenant u''?quote lives in region b \(epoch 2\)" "$T/o"
