# failsweep.sh on PostgreSQL regions (the store that streams COPY and
# pipelines its statements): prepare, apply, verify, audit and a wave's
# rollback with one allocation failing at points spread over the run, each
# followed by a second run in the same process (fail_sweep, lib.sh), which
# must leave every row, fence, directory entry and trigger as a run
# without failures.  One server started for the test; the three regions
# are three databases on it, copied from templates for every run; apply
# also with a PostgreSQL catalog.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg.sh"
trap 'pg_stop_all; rm -rf "$T"' EXIT INT TERM
TABLES="users devices contacts messages photos backups"
DBS="beijing singapore us_east"
POINTS=${POINTS:-25}
CAT_POINTS=${CAT_POINTS:-15}

pg_start pg || { not_ok "start PostgreSQL"; exit 1; }
PORT=$(cat "$PGROOT/pg/port")
sql() { db=$1; shift; "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$db" "$@"; }

"$DOMICILE" demo --dir "$T/src" --users 200 --seed 5 --no-plan >/dev/null 2>&1
for d in $DBS; do sql postgres -c "CREATE DATABASE t_$d"; done
pg_load_demo "$T/src/regions/beijing.db" "$PGBIN/psql" -X -h 127.0.0.1 -p "$PORT" -U postgres -d t_beijing ||
    not_ok "load the demo into beijing"
for d in singapore us_east; do "$DOMICILE" demo --print-schema postgresql | sql "t_$d" >/dev/null; done

# the catalog: a SQLite file next to the config, or with pgcat=1 the
# database NAME_cat (the kind several movers share)
pgcat=0
cat_dbs() { [ "$pgcat" = 1 ] && echo cat; }

# config NAME: the demo's config on databases NAME_*, catalog in $T/NAME
# (or NAME_cat)
config() {
    mkdir -p "$T/$1"
    sed "s#sqlite:regions/beijing.db#postgresql://postgres@127.0.0.1:$PORT/$1_beijing#;
         s#sqlite:regions/singapore.db#postgresql://postgres@127.0.0.1:$PORT/$1_singapore#;
         s#sqlite:regions/us-east.db#postgresql://postgres@127.0.0.1:$PORT/$1_us_east#;
         s/batch_tenants: 500/batch_tenants: 20/" "$T/src/domicile.yaml" >"$T/$1/domicile.yaml"
    [ "$pgcat" = 1 ] &&
        sed -i "s#^catalog: .*#catalog: postgresql://postgres@127.0.0.1:$PORT/$1_cat#" "$T/$1/domicile.yaml"
    echo "$T/$1/domicile.yaml"
}

# fresh NAME: the databases $from_* and the catalog of $from as NAME
fresh() {
    for d in $DBS $(cat_dbs); do
        sql postgres -c "DROP DATABASE IF EXISTS $1_$d WITH (FORCE)" \
            -c "CREATE DATABASE $1_$d TEMPLATE ${from}_$d" 2>/dev/null
    done
    rm -rf "${T:?}/$1"
    config "$1" >/dev/null
    [ -f "$T/$from/domicile.db" ] && cp "$T/$from/domicile.db" "$T/$1/domicile.db"
    echo "$T/$1/domicile.yaml"
}

state() {
    for d in $DBS; do
        for t in $TABLES; do sql "$1_$d" -c "SELECT * FROM $t ORDER BY 1, 2"; done
        sql "$1_$d" -c "SELECT tenant, state, home, epoch FROM domicile.fence ORDER BY 1"
        sql "$1_$d" -c "SELECT tgname, tgrelid::regclass FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2"
    done
    if [ "$pgcat" = 1 ]; then
        sql "$1_cat" -c "SELECT tenant, region, epoch, state FROM domicile_catalog.directory ORDER BY 1"
    else
        sqlite3 "$T/$1/domicile.db" "SELECT tenant, region, epoch, state FROM directory ORDER BY 1"
    fi
} 2>&1

config t >/dev/null
from=t
fail_sweep prepare "$POINTS"
"$DOMICILE" -c "$(config t)" prepare >/dev/null
fail_sweep apply "$POINTS"
# the rollback of a wave, from the state after apply
fresh moved >/dev/null
"$DOMICILE" -c "$T/moved/domicile.yaml" apply >/dev/null 2>&1
from=moved
fail_sweep verify "$POINTS"
fail_sweep audit "$POINTS"
fail_sweep rollback:asia "$POINTS"
# apply with a PostgreSQL catalog: the prepared regions of t, the catalog
# filled by prepare
pgcat=1
for d in $DBS; do sql postgres -c "CREATE DATABASE pc_$d TEMPLATE t_$d"; done
sql postgres -c "CREATE DATABASE pc_cat"
"$DOMICILE" -c "$(config pc)" prepare >/dev/null
from=pc
SWEEP_LABEL="PostgreSQL catalog" fail_sweep apply "$CAT_POINTS"
