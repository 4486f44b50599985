# bench-compare's plots: SVG files from the *.dat files it writes next to them.
# bench-compare runs this itself: gnuplot -e "dir='RESULTS-DIR'" plot.gp
if (!exists("dir")) dir = "."

set terminal svg size 760,430 enhanced font "sans,11" background rgb "white"
set grid
set key outside right top
set datafile commentschars "#"
# One colour and point per alternative, in the table's order (more series than the defaults).
colours = "#000000 #d62728 #1f77b4 #ff7f0e #bcbd22 #9467bd #e377c2 #17becf #8c564b #2ca02c"
do for [i=1:10] {
    set linetype i lc rgb word(colours, i) pt i lw 2
}

# 1 process: latency of the cycle and of status per alternative
set output dir."/latency.svg"
set title "1 process, uncontended: p50 latency per operation (ns, log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set ylabel "ns"
set xtics rotate by -25 nomirror
plot dir."/latency.dat" using 2:xtic(1) title "claim+activate+release" lt 3, \
     "" using 3 title "status" lt 8

# N processes: throughput of every alternative, one line each
set style data linespoints
unset xtics
set xtics nomirror
set logscale x 2
set xtics ("1" 1, "2" 2, "4" 4, "8" 8)
set xrange [0.9:9]
set xlabel "processes (2 CPUs: beyond 2 they time-share)"
set ylabel "cycles per second, all processes"
set output dir."/disjoint.svg"
set title "N processes, each on its own positions"
plot for [i=0:*] dir."/disjoint.dat" index i using 1:2 title columnheader(1)
set output dir."/hot.svg"
set title "N processes on the same 4 hot positions"
plot for [i=0:*] dir."/hot.dat" index i using 1:2 title columnheader(1)
set output dir."/readers.svg"
set title "status reads while N/2 processes write (N/2 readers)"
set ylabel "status reads per second, all readers"
plot for [i=0:*] dir."/readers.dat" index i using 1:2 title columnheader(1)

# hedgeshm growth: columns of loadfactor.dat and capacity.dat
#   1 load % / capacity, 2 status, 3 status_1k, 4 miss, 5 claim, 6 release (ns per op)
unset logscale
unset xtics
set xtics nomirror
set xrange [*:*]
set ylabel "ns per operation"
set yrange [0:*]
set output dir."/loadfactor.svg"
set title "hedgeshm as the table fills (random keys)"
set xlabel "load: used slots / capacity (%)"
plot dir."/loadfactor.dat" using 1:2 title "status, keys from the whole table" lw 2, \
     "" using 1:3 title "status, keys from 1024 of them" lw 2, \
     "" using 1:4 title "is\\_available, absent key" lw 2, \
     "" using 1:5 title "lock (claim)" lw 2, \
     "" using 1:6 title "reset (release)" lw 2
set output dir."/capacity.svg"
set title "hedgeshm as capacity grows (50% full, random keys)"
set xlabel "capacity (slots)"
set logscale x 4
set xtics ("1k" 1024, "4k" 4096, "16k" 16384, "64k" 65536, "256k" 262144, "1M" 1048576)
plot dir."/capacity.dat" using 1:2 title "status, keys from the whole table" lw 2, \
     "" using 1:3 title "status, keys from 1024 of them" lw 2, \
     "" using 1:4 title "is\\_available, absent key" lw 2, \
     "" using 1:5 title "lock (claim)" lw 2, \
     "" using 1:6 title "reset (release)" lw 2

# the syncer's reconcile pass
set output dir."/reconcile.svg"
set title "hedge-syncer reconcile pass (slots = positions)"
set xlabel "positions"
set ylabel "ms per cycle"
set logscale xy 10
set yrange [*:*]
set xrange [500:2000000]
set xtics ("1k" 1000, "10k" 10000, "100k" 100000, "1M" 1000000)
set format y "%g"
set arrow 1 from 100000, graph 0 to 100000, graph 1 nohead dt 3
plot dir."/reconcile.dat" using 1:3 title "steady pass (median)" lw 2, \
     "" using 1:2 title "first pass" lw 2, \
     "" using 1:4 title "untagged" lw 2, \
     "" using 1:5 title "parse (feed)" lw 2, \
     50 title "target: 50 ms at 100k" dt 2 lc rgb "red"
