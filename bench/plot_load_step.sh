#!/usr/bin/env bash
# Plots warm_bench's load_step time series (callers 4 -> 64 -> 4 -> idle over
# 20 backends of finite capacity): p99 per second of warm with a pool that
# follows load and of warm with fixed pools of 3 and 20 (log scale, left),
# and the dynamic pool's size (right), as an SVG with gnuplot.
#
#   bash bench/plot_load_step.sh [DATA.tsv] [OUT.svg]
#
# DATA.tsv comes from `warm_bench --scenario load_step --load-step-plot-data
# DATA.tsv` (default doc/load_step.tsv); OUT.svg defaults to
# doc/load_step.svg. Needs gnuplot (Debian: gnuplot-nox).
set -euo pipefail
cd "$(dirname "$0")/.."

data="${1:-doc/load_step.tsv}"
out="${2:-doc/load_step.svg}"
if ! command -v gnuplot > /dev/null; then
  echo "plot_load_step.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2
  exit 1
fi
if [ ! -s "$data" ]; then
  echo "plot_load_step.sh: no data in $data" >&2
  exit 1
fi
columns=$(head -1 "$data" | awk -F'\t' '{print NF}')
if [ "$columns" -ne 5 ]; then
  echo "plot_load_step.sh: $data has $columns columns, not 5" >&2
  exit 1
fi

gnuplot <<GNUPLOT
set terminal svg size 960,600 dynamic noenhanced font "sans,12" background "white"
set output "$out"
set datafile missing "NaN"
set title "Callers 4 -> 64 -> 4 -> idle over 20 backends (2 slots x 10 ms each)"
set xlabel "seconds since the run started"
set ylabel "p99 per second, ms (log scale)"
set y2label "dynamic pool: members"
set logscale y
set y2range [0:22]
set y2tics 0, 2
set ytics nomirror
set grid xtics ytics
set key outside bottom center horizontal maxrows 2
# The phases of a full run (10 s, 30 s, 10 s, then idle).
set arrow from 10, graph 0 to 10, graph 1 nohead dt 3 lc "gray"
set arrow from 40, graph 0 to 40, graph 1 nohead dt 3 lc "gray"
set arrow from 50, graph 0 to 50, graph 1 nohead dt 3 lc "gray"
set label "4 callers" at 5, graph 0.96 center
set label "64 callers" at 25, graph 0.96 center
set label "4" at 45, graph 0.96 center
set label "idle" at 55, graph 0.96 center
plot "$data" using 1:2 with lines lw 2 lc 1 title columnheader(2), \
     "$data" using 1:3 with lines lw 2 lc 2 dt 2 title columnheader(3), \
     "$data" using 1:4 with lines lw 2 lc 3 dt 4 title columnheader(4), \
     "$data" using 1:5 axes x1y2 with steps lw 2 lc 7 title columnheader(5)
GNUPLOT
echo "plot_load_step.sh: wrote $out"
