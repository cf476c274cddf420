# Leave-one-out check of the round-trip model (docs/geography.md), a test
# tool written apart from src/core/latency.c: for each measured pair, fit
# rtt = fixed + slope * km (weights 1/rtt^2, fixed at least 1 ms) to the
# other pairs, estimate the left-out pair from its great-circle distance,
# and print the number of pairs and the median relative error.
#   awk -f rtt_loo.awk data/cities.tsv data/rtt-measured.tsv
BEGIN { FS = "\t"; pi = atan2(0, -1) }
FNR == 1 { file++ }
/^#/ || $1 == "city" { next }
file == 1 { lat[$1] = $3; lng[$1] = $4; next }
file == 2 && ($1 in lat) && ($2 in lat) && $3 > 0 { n++; x[n] = km($1, $2); y[n] = $3 }
function km(a, b,   r, d1, d2, h) {
    r = pi / 180
    d1 = (lat[b] - lat[a]) * r; d2 = (lng[b] - lng[a]) * r
    h = sin(d1 / 2) ^ 2 + cos(lat[a] * r) * cos(lat[b] * r) * sin(d2 / 2) ^ 2
    return 2 * 6371 * atan2(sqrt(h), sqrt(1 - h))
}
END {
    for (k = 1; k <= n; k++) {
        sw = sx = sy = sxx = sxy = 0
        for (i = 1; i <= n; i++) {
            if (i == k) continue
            w = 1 / (y[i] * y[i])
            sw += w; sx += w * x[i]; sy += w * y[i]; sxx += w * x[i] * x[i]; sxy += w * x[i] * y[i]
        }
        slope = (sw * sxy - sx * sy) / (sw * sxx - sx * sx)
        fixed = (sy - slope * sx) / sw
        if (fixed < 1) fixed = 1
        e = fixed + slope * x[k] - y[k]
        err[k] = (e < 0 ? -e : e) / y[k]
    }
    # median by insertion sort
    for (i = 2; i <= n; i++) for (j = i; j > 1 && err[j - 1] > err[j]; j--) { t = err[j]; err[j] = err[j - 1]; err[j - 1] = t }
    m = n % 2 ? err[(n + 1) / 2] : (err[n / 2] + err[n / 2 + 1]) / 2
    printf "%d %.4f\n", n, m
}
