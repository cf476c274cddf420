# The latency report; the round-trip model checked on pairs it was not
# fitted to (leave-one-out over the measured pairs of data/, computed by
# tests/tools/rtt_loo.awk apart from the C code); and the delay proxy
# that benches use to stand in for a far region: set to the report's
# figure for a market and region, real SELECT 1 round trips through it
# must take that long within 20% (1 ms for paths under 5 ms).  The proxy
# part checks the stand-in, not the model: its figure comes from the
# model.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg.sh"
at_exit 'pg_stop_all; kill $(cat "$T/proxy.pid" 2>/dev/null) 2>/dev/null'

"$DOMICILE" demo --dir "$T/d" --users 2000 --no-plan >/dev/null 2>&1
cfg="$T/d/domicile.yaml"
run_dom "$T/r.json" "$T/e" -c "$cfg" report latency --json --first SG,IN,MY
check "report latency --json exits 0" [ "$status" -eq 0 ]
expect_eq "markets listed SG, IN, MY first" "$(jq -r '[.markets[0:3][].country] | join(",")' "$T/r.json")" "SG,IN,MY"
expect_eq "SG users now wait for Shanghai-Singapore (205 ms measured)" "$(jq -r '.markets[0].before_p50_ms' "$T/r.json")" "205"
expect_eq "... and that figure is marked measured" "$(jq -r '.markets[0].rtt_source.beijing' "$T/r.json")" "measured"
jq_true() { jq -e "$1" "$2" >/dev/null; }
check "SG users are faster after the move" jq_true '.markets[0].after_p50_ms < 20' "$T/r.json"
expect_eq "IN users after: Mumbai-Singapore measured, 56 ms" "$(jq -r '.markets[1].after_p50_ms' "$T/r.json")" "56"
expect_eq "users add up" "$(jq -r '[.markets[].users] | add' "$T/r.json")" "$(jq -r .overall.users "$T/r.json")"
check "the model's median error is reported" jq_true '.model.median_relative_error > 0 and .model.median_relative_error < 0.35' "$T/r.json"
set -- $(awk -f "$(dirname "$0")/../tools/rtt_loo.awk" data/cities.tsv data/rtt-measured.tsv)
loo_n=$1 loo=$2
expect_eq "every measured pair is in the report's fit ($loo_n pairs)" "$(jq -r .model.measured_pairs "$T/r.json")" "$loo_n"
check "on pairs left out of its fit, the model's median relative error is under 35% ($loo)" \
    awk "BEGIN { exit !($loo > 0 && $loo < 0.35) }"
check "... and the report's own figure (on the pairs it was fitted to) is no more than 5 points below it" \
    jq_true ".model.median_relative_error > $loo - 0.05" "$T/r.json"

run_dom "$T/o" "$T/e" -c "$cfg" report latency --html "$T/l.html"
check "report latency --html writes a page" grep -q "<svg" "$T/l.html"
check "the page is self-contained (no external resources)" sh -c "! grep -Eq '(src|href)=\"(https?:)?//' '$T/l.html'"
check "the page says when, by which version, for which config (its SHA-256) it was made" \
    grep -q "Made 20[0-9-]*T[0-9:]*Z by domicile [0-9.]* for the config .*$(sha256sum "$cfg" | cut -d' ' -f1)" "$T/l.html"
run_dom "$T/o" "$T/e" -c "$cfg" report latency
check "the table has an overall line" grep -q "^all " "$T/o"

# overrides change the figure and the placement
sed 's/^options:/latency: { "BR -> us-east": 400 }\noptions:/' "$cfg" >"$T/d/o.yaml"
"$DOMICILE" -c "$T/d/o.yaml" report latency --json >"$T/o.json" 2>"$T/e"
expect_eq "an override replaces the measured figure" "$(jq -r '.markets[] | select(.country == "BR") | .rtt_ms."us-east"' "$T/o.json")" "400"
expect_eq "... and nearest now picks singapore for BR" "$(jq -r '.markets[] | select(.country == "BR") | .home_after' "$T/o.json")" "singapore"

# the delay proxy as a stand-in for a far region: it adds what it is set to
pg_start region || { not_ok "start PostgreSQL"; exit 1; }
port=$PG_PORT
PROXY="$DOMICILE_BUILD/tools/delayproxy"
client="$DOMICILE_BUILD/tests/tools/rtt_client"
for cc in SG IN MY BR DE; do
    for region in beijing singapore us-east; do
        model=$(jq -r ".markets[] | select(.country == \"$cc\") | .rtt_ms.\"$region\"" "$T/r.json")
        half=$(echo "$model" | awk '{ printf "%.3f", $1 / 2 }')
        : >"$T/proxy.pid"
        pport=$(pg_proxy "$T/proxy.pid" "$port" "$half") || not_ok "start a delay proxy"
        ppid=$(cat "$T/proxy.pid")
        got=""
        for _i in 1 2 3 4 5 6 7 8 9 10; do
            got=$("$client" "host=127.0.0.1 port=$pport user=postgres dbname=postgres connect_timeout=5" 15 2>/dev/null) && break
            sleep 0.2
        done
        kill "$ppid" 2>/dev/null
        wait "$ppid" 2>/dev/null
        verdict=$(echo "$got $model" | awk '{ d = $1 - $2; if (d < 0) d = -d; tol = $2 < 5 ? 1 : $2 * 0.2; print (d <= tol) ? "yes" : "no" }')
        expect_eq "the delay proxy set to $cc -> $region ($model ms): SELECT 1 median ${got:-none} ms (within 20%)" "$verdict" "yes"
    done
done
