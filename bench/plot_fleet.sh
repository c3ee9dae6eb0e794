#!/usr/bin/env bash
# Plots fleet_sim's results as an SVG with gnuplot: top, each backend's
# connections over the mean in the initial state, backends sorted from least
# to most loaded, one line per run (colour: the subsetting policy; dash: the
# scenario); bottom, per churn step, the share of each client's members that
# changed (mean over clients, log scale).
#
#   bash bench/plot_fleet.sh [DATA.tsv] [OUT.svg]
#
# DATA.tsv comes from `fleet_sim --tsv DATA.tsv` (default
# doc/fleet_subsetting.tsv), run with all three policies (the default), so
# its columns come in threes: random offset, rendezvous, deterministic.
# OUT.svg defaults to doc/fleet_subsetting.svg. Needs gnuplot (Debian:
# gnuplot-nox).
set -euo pipefail
cd "$(dirname "$0")/.."

data="${1:-doc/fleet_subsetting.tsv}"
out="${2:-doc/fleet_subsetting.svg}"
if ! command -v gnuplot > /dev/null; then
  echo "plot_fleet.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2
  exit 1
fi
if [ ! -s "$data" ]; then
  echo "plot_fleet.sh: no data in $data" >&2
  exit 1
fi
columns=$(head -1 "$data" | awk -F'\t' '{print NF}')

gnuplot <<GNUPLOT
set terminal svg size 1000,1000 dynamic noenhanced font "sans,12" background "white"
set output "$out"
set multiplot layout 2,1 title "fleet_sim: warm's real PoolDecisions, every member healthy at once"
set key outside right top box opaque font "sans,10"
# Columns 2.. come in threes per scenario: random offset, rendezvous,
# deterministic. Colour by policy, dash (top) or fill (bottom) by scenario.

set title "connections per backend over the mean, initial state, backends sorted"
set grid xtics ytics
set xrange [0:1]
set xlabel "backends, least to most loaded (fraction)"
set ylabel "connections / mean"
plot for [i=2:$columns] "$data" index 0 using 1:i with lines \
       title columnheader(i) lw 2 lc (i - 2) % 3 + 1 dt 1 + (i - 2) / 3

set title "members changed per client in each churn step, over the pool size (mean over clients)"
set xrange [*:*]
set xlabel "churn step (each after the fleet settled from the one before)"
set ylabel "members changed / pool size (log scale)"
set logscale y
set yrange [0.001:1.5]
set grid noxtics ytics
set style data histograms
set style histogram clustered gap 1
set boxwidth 0.9
set style fill solid 0.8 border -1
plot for [i=2:$columns] "$data" index 1 using i:xtic(1) \
       title columnheader(i) lc (i - 2) % 3 + 1 fs solid 1.0 - ((i - 2) / 3) * 0.35 border -1
unset multiplot
GNUPLOT
echo "plot_fleet.sh: wrote $out"
