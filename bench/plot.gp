# bench/plot.gp: the bar chart of bench/run's results (ops/s per path, median of the interleaved rounds).
# bench/run calls:  gnuplot -e "datafile='throughput.dat'; outfile='throughput.png'; subtitle='...'" bench/plot.gp
# throughput.dat: a header line, then one line per "db workload" with one column per path ("-": not run).
if (!exists("datafile")) datafile = 'throughput.dat'
if (!exists("outfile")) outfile = 'throughput.png'
if (!exists("subtitle")) subtitle = ''

set terminal pngcairo size 1200,650 noenhanced font ",10"
set output outfile
set title "soci-routing: throughput per path (ops/s, median of interleaved runs)\n".subtitle
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside top center horizontal autotitle columnheader
set ylabel "ops/s"
set yrange [0:*]
set grid ytics
set xtics rotate by -20 nomirror
plot for [c=2:7] datafile using c:xtic(1)
