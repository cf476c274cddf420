# The benches' own arithmetic, on made-up inputs whose answers are known:
# bench/load_window.sh (the app's throughput counted only while the mover
# ran, and no figure when the apply failed) and bench/writer_pause.sh (the
# write pause as writers saw it).
. "$(dirname "$0")/lib.sh"
W=bench/load_window.sh
P=bench/writer_pause.sh
# pgbench started at 100.0; one progress line a second for 15 s, 1000 tps
# in seconds 1-5 and 11-15, 400 tps in seconds 6-10
for k in $(seq 1 15); do
    tps=1000
    [ "$k" -ge 6 ] && [ "$k" -le 10 ] && tps=400
    echo "progress: $k.0 s, $tps.0 tps, lat 2.000 ms stddev 0.5, 0 failed"
done >"$T/progress"
expect_eq "an apply that ran from 105.0 to 110.2: seconds 6-10 count" \
    "$(sh $W "$T/progress" 105.0 110.2 100.0 0)" "400 2.00 5 0 5.2"
expect_eq "an apply that outlasted the window: all 15 seconds" \
    "$(sh $W "$T/progress" 99.5 130 100.0 0)" "800 2.00 15 0 30.5"
expect_eq "a failed apply (exit 3) during the window: no figure" \
    "$(sh $W "$T/progress" 105.0 110.2 100.0 3)" "- - 5 3 5.2"
expect_eq "an interrupted apply (exit 4) counts only when the interruption was the bench's" \
    "$(sh $W "$T/progress" 105.0 110.2 100.0 4; sh $W "$T/progress" 105.0 110.2 100.0 4 1)" "- - 5 4 5.2
400 2.00 5 4 5.2"
expect_eq "an apply shorter than any whole second of the window: no figure" \
    "$(sh $W "$T/progress" 105.2 105.9 100.0 0)" "- - 0 0 0.7"
# writer logs: OP TENANT ROW BODY REGION T0 T1 TFIRST REFUSALS (us)
{
    echo "I 1 1 b beijing 1000 2000 1000 0"
    echo "I 1 2 b singapore 50000 60000 10000 3"
    echo "U 1 2 b singapore 70000 71000 69000 1"
    echo "# acks 3 retries 4 redirects 1 conflicts 0"
} >"$T/w1"
expect_eq "writer_pause: the refused writes' first attempt to acknowledgement" \
    "$(sh $P "$T/w1")" "2 writes refused at least once; refusal to success p50 2.0, p99 50.0, max 50.0 ms"
head -n 1 "$T/w1" >"$T/w2"
expect_eq "writer_pause: no refusal, no pause" "$(sh $P "$T/w2")" "no write was refused"
