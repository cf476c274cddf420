#!/bin/sh
# The write pause as writers saw it, from tests/tools/writer's logs: for
# every acknowledged write that was refused at least once ("moving;
# retry"), the time from its first attempt to its acknowledgement.
# Prints "N writes refused at least once; refusal to success p50 A, p99 B,
# max C ms", or that none was refused.
# Usage: bench/writer_pause.sh LOG...
cat "$@" | awk 'NF == 9 && $9 > 0 { print ($7 - $8) / 1000 }' | sort -n | awk '
    { v[NR] = $1 }
    END {
        if (NR == 0) { print "no write was refused"; exit }
        p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
        printf "%d writes refused at least once; refusal to success p50 %.1f, p99 %.1f, max %.1f ms\n", NR, p50, p99, v[NR]
    }'
