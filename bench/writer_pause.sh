#!/bin/sh
# The write pause as writers saw it, from tests/tools/writer's logs: for
# every acknowledged write that was refused at least once ("moving;
# retry"), the time from its first attempt to its acknowledgement.
# Prints "N writes refused at least once; refusal to success p50 A, p99 B,
# max C ms", or that none was refused.
# Usage: bench/writer_pause.sh LOG...
cat "$@" | awk 'NF == 9 && $9 > 0 { print ($7 - $8) / 1000 }' | sort -n | awk '
    # nearest rank: the smallest value with at least p of them at or below it
    function rank(p,   r) { r = int(p * NR); if (r < p * NR) r++; return r < 1 ? 1 : r }
    { v[NR] = $1 }
    END {
        if (NR == 0) { print "no write was refused"; exit }
        p50 = v[rank(0.50)]; p99 = v[rank(0.99)]
        printf "%d writes refused at least once; refusal to success p50 %.1f, p99 %.1f, max %.1f ms\n", NR, p50, p99, v[NR]
    }'
