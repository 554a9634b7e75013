#!/usr/bin/env bash
# Benchmark of running a command in a container, in one run on one machine:
#
#   cairn exec c1 -- true    vs  lxc-attach -P CAIRN_DIR/containers -n c1 -f lxc.conf -- true
#   cairn exec c1 -- head -c 100 MB (to /dev/null)  vs  the same through lxc-attach
#
# Usage: sudo bash bench/exec.sh > result.md
# The programs come from build/ (or CAIRN_BIN); BENCH_EXEC_RUNS sets the hyperfine runs.
# Progress goes to stderr; stdout is a Markdown report. Takes about a minute.

set -u
# shellcheck disable=SC2016

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${BENCH_EXEC_RUNS:-50}
BIG_RUNS=${BENCH_EXEC_BIG_RUNS:-10}

bench_setup
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
LXCP="$CAIRN_DIR/containers"
CONF="$CAIRN_DIR/logs/c1/lxc.conf"

say "launching c1"
quiet cairn launch busybox c1
quiet cairn exec c1 -- true

say "cairn exec / lxc-attach, $RUNS runs each"
hyperfine_median exec_true "$RUNS" "$T/bin/cairn exec c1 -- true"
hyperfine_median attach_true "$RUNS" "lxc-attach -P $LXCP -n c1 -f $CONF -- true"
say "100 MB of output, $BIG_RUNS runs each"
hyperfine_median exec_big "$BIG_RUNS" "$T/bin/cairn exec c1 -- head -c 100000000 /dev/zero" \
	--output=null
hyperfine_median attach_big "$BIG_RUNS" \
	"lxc-attach -P $LXCP -n c1 -f $CONF -- head -c 100000000 /dev/zero" --output=null

row() {
	local op=$1 cl=$2 ftext=$3 fl=$4 ttext=$5 tmax=$6
	local c f verdict=""
	c=$(median_us "$cl")
	f=$(median_us "$fl")
	if [ -n "$tmax" ]; then
		if awk -v c="$c" -v f="$f" -v m="$tmax" 'BEGIN { exit !(c <= f * m) }'; then
			verdict="met"
		else
			verdict="**missed**"
		fi
	fi
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$op" "$(ms "$c")" "$ftext" "$(ms "$f")" \
		"$(ratio "$c" "$f")" "$ttext" "$verdict"
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "# cairn exec benchmark"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) CPUs ($cpu), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
echo "- load average (1, 5, 15 min): $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo "- kernel: $(uname -r); LXC $(lxc-start --version 2>/dev/null); $(hyperfine --version)"
echo "- samples: hyperfine medians of $RUNS runs ($BIG_RUNS for 100 MB), 3 warm-up runs each"
echo
echo "Medians of wall time, both sides in the same run; ratio = cairn / lxc-attach."
echo
echo "| operation | cairn | floor | floor median | ratio | target | |"
echo "| --- | ---: | --- | ---: | ---: | --- | --- |"
row '`cairn exec c1 -- true`' exec_true '`lxc-attach … -- true`' attach_true '<= 2x' 2
row '`cairn exec c1 -- head -c 100MB`' exec_big '`lxc-attach … -- head -c 100MB`' attach_big '' ''
