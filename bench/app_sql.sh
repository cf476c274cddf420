#!/bin/sh
# The benches' app transaction for pgbench: an UPDATE and an INSERT of one
# random CN demo user (who stays in beijing) between user ids MIN and MAX.
# Usage: bench/app_sql.sh "MIN MAX" >FILE
cn=$1
cat <<SQL
\set u random(${cn% *}, ${cn#* })
\set m random(1, 1000000000)
BEGIN;
UPDATE users SET name = name WHERE user_id = :u AND country = 'CN';
INSERT INTO messages SELECT user_id, 3000000000 + :m, 'app', 'hello', now() FROM users WHERE user_id = :u AND country = 'CN' ON CONFLICT DO NOTHING;
END;
SQL
