#!/usr/bin/env bash
# Plots warm_bench's slow_backend latency percentiles (warm with its default
# pick, plain gRPC round_robin, warm with in-flight and with peak-EWMA
# picks; one backend of five 50 ms slow) as an SVG with gnuplot.
#
#   bash bench/plot_slow_backend.sh [DATA.tsv] [OUT.svg]
#
# DATA.tsv comes from `warm_bench --scenario slow_backend --slow-plot-data
# DATA.tsv` (default doc/slow_backend_latency.tsv); OUT.svg defaults to
# doc/slow_backend_latency.svg. Needs gnuplot (Debian: gnuplot-nox).
set -euo pipefail
cd "$(dirname "$0")/.."

data="${1:-doc/slow_backend_latency.tsv}"
out="${2:-doc/slow_backend_latency.svg}"
if ! command -v gnuplot > /dev/null; then
  echo "plot_slow_backend.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2
  exit 1
fi
if [ ! -s "$data" ]; then
  echo "plot_slow_backend.sh: no data in $data" >&2
  exit 1
fi
columns=$(head -1 "$data" | awk -F'\t' '{print NF}')

gnuplot <<GNUPLOT
set terminal svg size 900,560 dynamic noenhanced font "sans,12" background "white"
set output "$out"
set title "One backend of five answers 50 ms late: latency by percentile"
set xlabel "percentile"
set ylabel "latency, ms (log scale)"
set logscale y
set grid xtics ytics
set key bottom right box opaque
# x: the number of nines, so the tail gets room: -log10(1 - p/100).
nines(p) = -log10(1 - p / 100.0)
set xtics ("50" nines(50), "90" nines(90), "99" nines(99), "99.9" nines(99.9), "99.99" nines(99.99))
set xrange [nines(50):nines(99.99)]
# Colour by caller count; solid for warm (default), dashed for round_robin,
# dash-dotted for warm in-flight, dotted for warm peak-EWMA (columns come in
# fours in that order).
plot for [i=2:$columns:4] "$data" using (nines(\$1)):i with linespoints \
       title columnheader(i) lw 2 pt 7 ps 0.5 lc (i + 2) / 4 dt 1, \
     for [i=3:$columns:4] "$data" using (nines(\$1)):i with linespoints \
       title columnheader(i) lw 2 pt 6 ps 0.5 lc (i + 1) / 4 dt 2, \
     for [i=4:$columns:4] "$data" using (nines(\$1)):i with linespoints \
       title columnheader(i) lw 2 pt 4 ps 0.5 lc i / 4 dt 4, \
     for [i=5:$columns:4] "$data" using (nines(\$1)):i with linespoints \
       title columnheader(i) lw 2 pt 5 ps 0.5 lc (i - 1) / 4 dt 3
GNUPLOT
echo "plot_slow_backend.sh: wrote $out"
