# `domicile serve` on an SQLite catalog: the token, the directory API and
# how stale its answers can be, status and the control endpoints,
# /metrics through Prometheus's own parser (promtool), the dashboard in
# headless Chromium while a move runs (its numbers against /v1/status,
# and a screenshot), bad input and a fuzz loop (clean 4xx answers, the
# server still serving, no leak at its end under ASan), and a clean stop
# on SIGTERM.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "not ok 1 - curl is missing (tools/install-deps.sh test)"; exit 1; }
"$DOMICILE" demo --dir "$T/d" --users 3000 --seed 5 --no-plan >/dev/null 2>&1
cfg="$T/d/domicile.yaml"
"$DOMICILE" -c "$cfg" prepare >/dev/null 2>&1
check "prepare" test -s "$T/d/domicile.db"
printf 'serve-test-token-%s\n' "$$" >"$T/token"
tok=$(cat "$T/token")
port=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 30000))
pids=""
at_exit 'for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null'

# serve_start NAME ARGS...: starts a server on 127.0.0.1 and a free port
# (log in $T/NAME.log; another port when the one tried is taken), waits
# until it answers; $spid is its pid, $sport its port
serve_start() {
    _n=$1
    shift
    for _try in 1 2 3 4 5 6 7 8 9 10; do
        sport=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 30000))
        "$DOMICILE" -c "$cfg" serve --listen "127.0.0.1:$sport" "$@" >"$T/$_n.log" 2>&1 &
        spid=$!
        pids="$pids $spid"
        for _i in $(seq 1 100); do
            grep -q "serving on" "$T/$_n.log" 2>/dev/null && return 0
            kill -0 $spid 2>/dev/null || break
            sleep 0.1
        done
        grep -q "cannot listen" "$T/$_n.log" || return 1
    done
    return 1
}
# get PATH [CURL ARGS]: the body on stdout; the status in $T/code
get() {
    _p=$1
    shift
    curl -s -o "$T/body" -w '%{http_code}' "$@" "$base$_p" >"$T/code"
    cat "$T/body"
}
auth="Authorization: Bearer $tok"

# ---- refusals before serving --------------------------------------------------------
"$DOMICILE" -c "$cfg" serve --listen "0.0.0.0:$port" >/dev/null 2>"$T/e"
st=$?
expect_eq "listening beyond this machine without a token is refused (usage, exit 1)" "$st" "1"
check "... saying why" grep -q "needs --token-file" "$T/e"
"$DOMICILE" -c "$cfg" serve --listen "127.0.0.1:99999" >/dev/null 2>"$T/e"
expect_eq "a port out of range is refused" "$?" "1"
printf 'short\n' >"$T/short"
"$DOMICILE" -c "$cfg" serve --token-file "$T/short" >/dev/null 2>"$T/e"
check "a token shorter than 16 characters is refused" grep -q "16 to 510" "$T/e"

serve_start main --token-file "$T/token" --refresh-ms 300
main_pid=$spid
base="http://127.0.0.1:$sport"
check "serve starts and listens" grep -q "serving on http://127.0.0.1:$sport/" "$T/main.log"
# a client that sends half a request and then nothing: the server closes
# its connection after its time bound (15 s); checked at the end
bash -c 'exec 5<>/dev/tcp/127.0.0.1/'$sport'
printf "GET /v1/status HTTP/1.1\r\nHost: x\r\n" >&5
s=$(date +%s)
timeout 60 cat <&5 >/dev/null
echo $(($(date +%s) - s))' >"$T/slow.secs" 2>/dev/null &
slow_client=$!

# ---- the token ----------------------------------------------------------------------------
get /v1/status >/dev/null
expect_eq "without the token: 401" "$(cat "$T/code")" "401"
check "... as JSON with the error's code" jq -e '.ok == false and .error.code == "unauthorized"' "$T/body"
get /v1/status -H "Authorization: Bearer wrong-token-wrong-token" >/dev/null
expect_eq "a wrong token: 401" "$(cat "$T/code")" "401"
get /v1/status -H "Authorization: Bearer ${tok}x" >/dev/null
expect_eq "the token with one more character: 401" "$(cat "$T/code")" "401"
get /v1/status -H "$auth" >"$T/status.json"
expect_eq "with the token: 200" "$(cat "$T/code")" "200"
"$DOMICILE" -c "$cfg" status --json >"$T/cli-status.json"
expect_eq "GET /v1/status is what 'status --json' prints (and the directory snapshot)" \
    "$(jq -S 'del(.directory)' "$T/status.json")" "$(jq -S . "$T/cli-status.json")"
check "... whose Content-Type is application/json" \
    sh -c "curl -s -D - -o /dev/null -H '$auth' $base/v1/status | grep -qi '^content-type: application/json'"
get / >"$T/page.html"
expect_eq "the dashboard page itself needs no token (it holds no data)" "$(cat "$T/code")" "200"
check "... and loads nothing from elsewhere (no CDN)" sh -c "! grep -Eq 'src=\"https?:|href=\"https?:' '$T/page.html'"

# ---- place and locate -------------------------------------------------------------------
expect_eq "place?country=MY: singapore" "$(get '/v1/place?country=MY' -H "$auth" | jq -r .region)" "singapore"
expect_eq "place?country=cn (any case): beijing" "$(get '/v1/place?country=cn' -H "$auth" | jq -r .region)" "beijing"
get '/v1/place?country=XX' -H "$auth" >/dev/null
expect_eq "place of a code that is no country: 400" "$(cat "$T/code")" "400"
get '/v1/place' -H "$auth" >/dev/null
expect_eq "place without a country: 400" "$(cat "$T/code")" "400"
# a tenant the waves move (a Malaysian user, at home in beijing now)
key=$(sqlite3 "$T/d/regions/beijing.db" "SELECT user_id FROM users WHERE country = 'MY' ORDER BY user_id LIMIT 1")
get "/v1/locate/$key" -H "$auth" >"$T/loc.json"
expect_eq "locate: the tenant is in beijing before the move" "$(jq -r .region "$T/loc.json")" "beijing"
check "... with its epoch, state and the snapshot's age" \
    jq -e '.epoch == 1 and .state == "home" and (.age_ms | type) == "number" and (.as_of | length) > 0' "$T/loc.json"
get /v1/locate/no-such-tenant -H "$auth" >/dev/null
expect_eq "an unknown tenant: 404" "$(cat "$T/code")" "404"
get /v1/locate/ -H "$auth" >/dev/null
expect_eq "an empty key: 400" "$(cat "$T/code")" "400"
long=$(head -c 300 /dev/zero | tr '\0' k)
get "/v1/locate/$long" -H "$auth" >/dev/null
expect_eq "a key over 256 characters: 400" "$(cat "$T/code")" "400"

# a second server whose snapshot is refreshed once a minute: the negative
# control of the staleness bound below (its answer stays old)
serve_start slow --refresh-ms 60000
slow_pid=$spid
base_slow="http://127.0.0.1:$sport"

# ---- the move, the staleness bound, and the dashboard while it runs ---------------------
get /v1/throttle -X POST -H "$auth" -H 'Content-Type: application/json' \
    -d '{"rows_per_second": 1500}' >"$T/thr.json"
expect_eq "POST /v1/throttle with the token: 200" "$(cat "$T/code")" "200"
check "... the movers' rate is now 1500 rows/s from the throttle" \
    jq -e '.rows_per_second == 1500 and .rate_from == "throttle"' "$T/thr.json"
"$DOMICILE" -c "$cfg" apply --quiet >"$T/apply.out" 2>&1 &
apid=$!
pids="$pids $apid"
# the page while the wave moves
for i in $(seq 1 50); do
    [ "$(get /v1/status -H "$auth" | jq '[.waves[] | .batches] | add // 0')" -gt 0 ] && break
    sleep 0.2
done
mkdir -p "$DOMICILE_BUILD/test-output"
shot="$DOMICILE_BUILD/test-output/serve-dashboard.png"
chrome() {
    timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --user-data-dir="$T/chrome" --virtual-time-budget=5000 "$@" 2>>"$T/chrome.log"
}
if command -v chromium >/dev/null; then
    chrome --dump-dom "$base/#token=$tok" >"$T/dom.html"
    get /v1/status -H "$auth" >"$T/during.json"
    kill -0 $apid 2>/dev/null && during=running || during=ended
    check "the dashboard rendered from the API (loaded, no error shown; apply $during)" \
        sh -c "grep -q 'data-loaded=\"1\"' '$T/dom.html' && grep -q '<span id=\"err\"></span>' '$T/dom.html'"
    expect_eq "... the rate tile shows the throttle's rate" \
        "$(grep -o '<b id="rate">[^<]*' "$T/dom.html" | sed 's/.*>//')" "1,500 rows/s"
    expect_eq "... its waves are the status's waves" \
        "$(grep -o '<tbody><tr><td>[a-z]*</td><td><div class="bar">' "$T/dom.html" | sed 's/<tbody><tr><td>//; s/<.*//' | head -1)" \
        "$(jq -r '.waves[0].wave' "$T/during.json")"
    dom_total=$(sed -n 's/.*<table id="regions">\(.*\)<\/table>.*/\1/p' "$T/dom.html" | grep -o '<td class="n">[0-9,]*</td><td class="n">' | sed 's/[^0-9]//g' | awk '{s+=$1} END {print s}')
    expect_eq "... its tenants per region add up to the status's (3000)" "$dom_total" "$(jq '[.regions[].tenants] | add' "$T/during.json")"
else
    not_ok "chromium is missing (tools/install-deps.sh test)"
fi
get /v1/throttle -X POST -H "$auth" -d '{"rows_per_second": -1}' >/dev/null
wait $apid
expect_eq "the waves moved (apply exit 0)" "$?" "0"
t_flip=$(date +%s%N)
# the bound: refresh (300 ms) + one scan; 2 s of slack for this busy machine
for i in $(seq 1 100); do
    r=$(get "/v1/locate/$key" -H "$auth" | jq -r .region)
    [ "$r" = singapore ] && break
    sleep 0.05
done
stale_ms=$((($(date +%s%N) - t_flip) / 1000000))
expect_eq "after the flip, locate says singapore" "$r" "singapore"
check "... within refresh + one scan of the move's end (${stale_ms} ms <= 2300 ms)" test "$stale_ms" -le 2300
age=$(get "/v1/locate/$key" -H "$auth" | jq '.age_ms | floor')
check "every answer says its age, here ${age} ms <= refresh + scan + slack" test "$age" -le 2300
expect_eq "the catalog itself says singapore" "$("$DOMICILE" -c "$cfg" locate "$key")" "singapore epoch 2"
r=$(curl -s "$base_slow/v1/locate/$key" | jq -r .region)
expect_eq "negative control: a server refreshing once a minute still answers beijing" "$r" "beijing"
kill $slow_pid
wait $slow_pid 2>/dev/null

# ---- the page after the move, and its screenshot -------------------------------------------
"$DOMICILE" -c "$cfg" audit >/dev/null 2>&1
if command -v chromium >/dev/null; then
    chrome --dump-dom "$base/#token=$tok" >"$T/dom2.html"
    get /v1/status -H "$auth" >"$T/after.json"
    for r in beijing singapore us-east; do
        want=$(jq -r --arg r $r '.regions[] | select(.region == $r) | .tenants' "$T/after.json")
        got=$(grep -o "<tr><td>$r</td><td class=\"n\">[0-9,]*" "$T/dom2.html" | sed 's/.*>//; s/,//g')
        expect_eq "the page's tenants in $r equal /v1/status's" "$got" "$want"
    done
    check "... the audit's line says no violation" grep -q 'no violation; transfer log intact' "$T/dom2.html"
    check "... the round trips before and after are shown (recorded by apply)" \
        grep -q 'before: as measured when the plan was made' "$T/dom2.html"
    chrome --window-size=1200,1400 --screenshot="$shot" "$base/#token=$tok" >/dev/null
    check "a screenshot of the dashboard is saved ($shot)" test -s "$shot"
fi
"$DOMICILE" -c "$cfg" report latency --json >"$T/lat.json"
check "report latency after the move takes 'before' from the catalog's record" \
    jq -e '.before_from == "recorded" and .overall.before_p90_ms > .overall.after_p90_ms' "$T/lat.json"

# ---- audit and metrics ------------------------------------------------------------------
get /v1/audit -H "$auth" >"$T/audit.json"
check "GET /v1/audit: the last audit's summary with its time, version and config hash" \
    jq -e '.ok and .audit.ok and (.audit.time | length) > 0 and .audit.version != null and (.audit.config_sha256 | length) == 64' "$T/audit.json"
get /metrics -H "$auth" >"$T/metrics.txt"
expect_eq "GET /metrics: 200" "$(cat "$T/code")" "200"
if command -v promtool >/dev/null; then
    check "promtool check metrics accepts it" sh -c "promtool check metrics <'$T/metrics.txt' >'$T/promtool.out' 2>&1"
else
    not_ok "promtool is missing (tools/install-deps.sh test)"
fi
check "... tenants per region and state" grep -q '^domicile_tenants{region="singapore",state="home"} [1-9]' "$T/metrics.txt"
check "... rows moved per region pair" grep -q '^domicile_moved_rows_total{from="beijing",to="singapore"} [1-9]' "$T/metrics.txt"
check "... the write pause histogram" grep -q '^domicile_write_pause_seconds_count [1-9]' "$T/metrics.txt"
check "... when the journal was last written (a mover at work)" grep -q '^domicile_journal_last_update_timestamp_seconds 1[0-9]*\.' "$T/metrics.txt"
check "... batches per step, the log's length, the audit" \
    sh -c "grep -q '^domicile_batches{step=\"done\"}' '$T/metrics.txt' && grep -q '^domicile_transfer_log_entries [1-9]' '$T/metrics.txt' && grep -q '^domicile_audit_ok 1' '$T/metrics.txt'"
expect_eq "... its rows moved equal the catalog's" \
    "$(grep '^domicile_moved_rows_total{from="beijing",to="singapore"}' "$T/metrics.txt" | awk '{print $2}')" \
    "$(sqlite3 "$T/d/domicile.db" "SELECT sum(rows) FROM batches WHERE src = 'beijing' AND dst = 'singapore' AND step IN ('flipped', 'done')")"

# ---- control ----------------------------------------------------------------------------
get /v1/pause -X POST >/dev/null
expect_eq "POST /v1/pause without the token: 401" "$(cat "$T/code")" "401"
get /v1/pause -X POST -H "$auth" >/dev/null
expect_eq "with it: 200" "$(cat "$T/code")" "200"
expect_eq "... status says paused" "$("$DOMICILE" -c "$cfg" status --json | jq .control.paused)" "true"
get /v1/resume -X POST -H "$auth" >/dev/null
expect_eq "POST /v1/resume: not paused" "$("$DOMICILE" -c "$cfg" status --json | jq .control.paused)" "false"
get /v1/throttle -X POST -H "$auth" -d 'not json' >/dev/null
expect_eq "a throttle without a rate: 400" "$(cat "$T/code")" "400"
get '/v1/throttle?rows_per_second=abc' -X POST -H "$auth" >/dev/null
expect_eq "a throttle with a rate that is no number: 400" "$(cat "$T/code")" "400"
get /v1/status -X POST -H "$auth" >/dev/null
expect_eq "POST where GET is meant: 405" "$(cat "$T/code")" "405"
get /v1/pause -H "$auth" >/dev/null
expect_eq "GET where POST is meant: 405" "$(cat "$T/code")" "405"
head -c 100000 /dev/zero | tr '\0' x >"$T/big"
get /v1/throttle -X POST -H "$auth" --data-binary @"$T/big" >/dev/null
expect_eq "a body over 4 KiB: 413" "$(cat "$T/code")" "413"
get /v1/status -H "$auth" -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' h)" >/dev/null
code=$(cat "$T/code")
check "headers over the connection's memory: a 4xx (got $code)" test "$code" -ge 400 -a "$code" -lt 500
get /nowhere >/dev/null
expect_eq "an unknown path: 404" "$(cat "$T/code")" "404"

# ---- the fuzz loop ---------------------------------------------------------------------
# 1000 requests of random paths, methods, headers, queries and bodies:
# every answer a 4xx or a 2xx, never a 5xx or a dropped connection
paths="/ /v1 /v1/ /v1/locate/ /v1/locate/1 /v1/locate/%00 /v1/locate/%zz /v1/place /v1/place?country= /v1/place?country=%ff%fe /v1/status /v1/audit /v1/dashboard /metrics /v1/pause /v1/resume /v1/throttle /v1/throttle?rows_per_second=1e999 /../etc/passwd //v1/status /v1/status?x=%00"
methods="GET POST PUT DELETE HEAD OPTIONS PATCH"
set -f # the paths hold '?': no file names
set -- $paths
np=$#
bad=0
fuzz_seed=$$
for i in $(seq 1 1000); do
    fuzz_seed=$(((fuzz_seed * 1103515245 + 12345) % 2147483648))
    p=$(echo $paths | cut -d' ' -f$((fuzz_seed % np + 1)))
    m=$(echo $methods | cut -d' ' -f$((fuzz_seed / 7 % 7 + 1)))
    junk=$(head -c $((fuzz_seed / 13 % 200)) /dev/urandom | base64 | tr -d '\n' | head -c 180)
    case $((fuzz_seed / 11 % 4)) in
    0) h="Authorization: Bearer $junk" ;;
    1) h="$auth" ;;
    2) h="X-Junk: $junk" ;;
    *) h="Authorization: $junk" ;;
    esac
    if [ "$m" = HEAD ]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' -I -H "$h" "$base$p")
    else
        code=$(curl -s -o /dev/null -w '%{http_code}' -X "$m" -H "$h" --data-binary "$junk" "$base$p")
    fi
    case $code in
    2?? | 4??) ;;
    *) bad=$((bad + 1)); echo "# fuzz: $m $p -> $code" ;;
    esac
done
expect_eq "the fuzz loop: 1000 requests, every answer a 2xx or a 4xx" "$bad" "0"
check "... and the server still serves" sh -c "curl -s -H '$auth' $base/v1/status | jq -e .ok >/dev/null"

# ---- TLS ----------------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
    -subj /CN=127.0.0.1 >/dev/null 2>&1
serve_start tls --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
tls_pid=$spid
port3=$sport
check "with --tls-cert and --tls-key it serves HTTPS" grep -q "serving on https://" "$T/tls.log"
expect_eq "... GET /v1/place over TLS (the test's own certificate)" \
    "$(curl -s --cacert "$T/cert.pem" "https://127.0.0.1:$port3/v1/place?country=US" | jq -r .region)" "us-east"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port3/v1/status")
check "... and no plain HTTP there (got $code)" test "$code" != 200
kill -TERM $tls_pid
wait $tls_pid
expect_eq "... and stops cleanly" "$?" "0"
"$DOMICILE" -c "$cfg" serve --tls-cert "$T/cert.pem" >/dev/null 2>"$T/e"
expect_eq "a certificate without its key is refused (usage)" "$?" "1"

# ---- the slow client ----------------------------------------------------------------
wait $slow_client
secs=$(cat "$T/slow.secs")
check "a client that stops halfway through its request is cut off by the server's time bound (after ${secs:-?} s; bound 15 s)" \
    test -n "$secs" -a "${secs:-99}" -ge 10 -a "${secs:-99}" -le 30

# ---- the stop --------------------------------------------------------------------------
kill -TERM $main_pid
wait $main_pid
st=$?
expect_eq "SIGTERM stops the server cleanly (exit 0; under ASan: no leak)" "$st" "0"
check "... saying so" grep -q "SIGTERM: stopping" "$T/main.log"
