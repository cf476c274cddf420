#!/bin/sh
# `domicile serve`'s directory API under load: 50 clients, each on a
# keep-alive connection, ask GET /v1/locate/KEY for random tenants at 1,000
# requests per second in all for 15 s (tools/httpload), against a server
# on a demo catalog of 20,000 tenants; three rounds, with the directory
# refreshed every second (the default) and, interleaved, every 100 ms (a
# refresh's scan competing with the answers).  Prints each round and the
# means.  The target: 1,000 requests/s, p99 under 5 ms, no error.
# Usage: bench/serve_load.sh (after make all build/tools/httpload)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dom=$top/build/domicile
load=$top/build/tools/httpload
w=$(mktemp -d /tmp/domicile-bench-serve-XXXXXX)
trap 'kill $spid 2>/dev/null; wait 2>/dev/null; rm -rf "$w"' EXIT
spid=
"$dom" demo --dir "$w/d" --users 20000 --seed 11 --no-plan >/dev/null 2>&1
"$dom" -c "$w/d/domicile.yaml" prepare >/dev/null 2>&1
sqlite3 "$w/d/domicile.db" "SELECT '/v1/locate/' || tenant FROM directory ORDER BY random() LIMIT 5000" >"$w/paths"
port=$((30000 + $$ % 20000))
for round in 1 2 3; do
    for refresh in 1000 100; do
        "$dom" -c "$w/d/domicile.yaml" serve --listen "127.0.0.1:$port" --refresh-ms $refresh 2>"$w/serve.log" &
        spid=$!
        for i in $(seq 1 50); do grep -q "serving on" "$w/serve.log" && break; sleep 0.1; done
        line=$("$load" 127.0.0.1 $port "$w/paths" 50 1000 15 || true)
        echo "round $round refresh ${refresh}ms: $line"
        kill $spid
        wait $spid || true
        port=$((port + 1))
    done
done | tee "$w/out"
awk '{ for (i = 1; i <= NF; i++) v[$i] = $(i + 1);
       k = $4; n[k]++; rate[k] += v["rate"]; p50[k] += v["p50_ms"]; p99[k] += v["p99_ms"]; err[k] += v["non2xx"] + v["connerr"] }
     END { for (k in n) printf "mean %s %.0f requests/s, p50 %.2f ms, p99 %.2f ms, %d errors\n", k, rate[k] / n[k], p50[k] / n[k], p99[k] / n[k], err[k] }' "$w/out"
