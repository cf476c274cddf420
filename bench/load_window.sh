#!/bin/sh
# The app's throughput while the mover ran, from pgbench's progress lines
# (-P 1: "progress: K.0 s, TPS tps, lat L ms ..."): only the seconds that
# fall wholly inside the apply's run count, and only an apply that exited
# well (0, or 4 when it was interrupted on purpose) gives a figure.
# Prints "TPS LATENCY SECONDS_COUNTED APPLY_EXIT APPLY_SECONDS", with TPS
# and LATENCY "-" when there is no figure.
# Usage: bench/load_window.sh PROGRESS APPLY_START APPLY_END PGBENCH_START APPLY_EXIT [INTERRUPTED]
# (times in seconds of one clock, e.g. date +%s.%N)
awk -v a0="$2" -v a1="$3" -v p0="$4" -v rc="$5" -v intr="${6:-0}" '
    /^progress:/ { k = $2 + 0; if (p0 + k - 1 >= a0 && p0 + k <= a1) { n++; tps += $4; lat += $7 } }
    END {
        ok = rc == 0 || (intr == 1 && rc == 4)
        if (!ok || n == 0) printf "- - %d %s %.1f\n", n, rc, a1 - a0
        else printf "%.0f %.2f %d %s %.1f\n", tps / n, lat / n, n, rc, a1 - a0
    }' "$1"
