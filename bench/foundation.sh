#!/usr/bin/env bash
# Benchmarks of cairn's foundation against raw LXC, measured in one run on one machine:
#
#   launch / init / start on a fresh instance   vs  btrfs snapshot + lxc-start of the same rootfs
#   start on the same instance                  vs  lxc-start -P CAIRN_DIR/containers -f lxc.conf
#   stop (clean), stop --force                  vs  lxc-stop, lxc-stop -k on the same instance
#   list with 1, 100 and 1,000 instances        vs  GET /1.0/instances with curl (no recursion)
#
# Usage: sudo bash bench/foundation.sh > result.md
# The programs come from build/ (or CAIRN_BIN). The sample counts can be set with
# BENCH_LAUNCH_RUNS, BENCH_START_RUNS, BENCH_FORCE_RUNS, BENCH_STOP_RUNS, BENCH_LIST_RUNS.
# Progress goes to stderr; stdout is a Markdown report. Takes about 2-3 minutes on 2 cores.

set -u
# The report's single-quoted strings hold Markdown code spans, not shell expansions.
# shellcheck disable=SC2016

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LAUNCH_RUNS=${BENCH_LAUNCH_RUNS:-20}
START_RUNS=${BENCH_START_RUNS:-30}
FORCE_RUNS=${BENCH_FORCE_RUNS:-30}
STOP_RUNS=${BENCH_STOP_RUNS:-8}
LIST_RUNS=${BENCH_LIST_RUNS:-30}
# A freshly started busybox init installs its SIGUSR1 (halt) handler a moment after exec; a clean
# stop sent before that would be ignored and wait for the timeout, so both sides wait this long.
SETTLE=0.3

bench_setup
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

SOCK="$CAIRN_DIR/unix.socket"
LXCP="$CAIRN_DIR/containers"

# --- the floor: an equivalent container driven by raw LXC only --------------------------------
#
# "ref" is a stopped cairn instance: its subvolume holds the shifted busybox rootfs and its
# lxc.conf is what cairn rendered. The floor container "floor" lives in its own LXC path and is
# a btrfs snapshot of ref in the same pool, with ref's config renamed: same rootfs, same idmap,
# same mounts, same storage.
say "preparing the reference instance and the raw LXC floor"
quiet cairn launch busybox ref
quiet cairn stop --force ref
mkdir -p "$POOL/bench-floor"
FLOOR_VOL="$POOL/bench-floor/floor"
FLOOR_CONF="$T/raw/floor.conf"
sed -e "s|^lxc.uts.name = ref\$|lxc.uts.name = floor|" \
	-e "s|$POOL/containers/ref/rootfs|$FLOOR_VOL/rootfs|" \
	-e "s|$CAIRN_DIR/logs/ref/|$T/raw-logs/|" \
	"$CAIRN_DIR/logs/ref/lxc.conf" >"$FLOOR_CONF"
grep -q "$FLOOR_VOL/rootfs" "$FLOOR_CONF" || bench_die "cannot derive the floor config from ref's"
# The config names the seccomp profile in ref's log directory, now the floor's.
cp "$CAIRN_DIR/logs/ref/seccomp.profile" "$T/raw-logs/"
# As in cairn's own layout, the container's directory in the LXC path links to its volume.
ln -s "$FLOOR_VOL" "$T/raw/floor"

# --- launch, init, start of a fresh instance ---------------------------------------------------
say "launch / init + start / snapshot + lxc-start, $LAUNCH_RUNS rounds"
for i in $(seq 1 "$LAUNCH_RUNS"); do
	timed launch cairn launch busybox fresh
	quiet cairn delete --force fresh
	timed init cairn init busybox fresh
	timed start_fresh cairn start fresh
	quiet cairn delete --force fresh
	timed raw_create btrfs subvolume snapshot "$POOL/containers/ref" "$FLOOR_VOL"
	timed raw_start_fresh lxc-start -P "$T/raw" -n floor -f "$FLOOR_CONF"
	quiet lxc-stop -P "$T/raw" -n floor -k
	quiet btrfs subvolume delete "$FLOOR_VOL"
done
add_samples raw_launch raw_create raw_start_fresh

# --- start of the same instance, cairn and raw LXC alternating -------------------------------
say "start vs lxc-start on the same instance, $START_RUNS rounds"
quiet cairn launch busybox s1
quiet cairn stop --force s1
cairn_start() { timed start cairn start s1; }
lxc_start() { timed lxc_start lxc-start -P "$LXCP" -n s1 -f "$CAIRN_DIR/logs/s1/lxc.conf"; }
for i in $(seq 1 "$START_RUNS"); do
	# Alternate which goes first, so neither always follows the other's stop.
	if [ $((i % 2)) -eq 1 ]; then
		cairn_start
		quiet lxc-stop -P "$LXCP" -n s1 -k
		lxc_start
		quiet lxc-stop -P "$LXCP" -n s1 -k
	else
		lxc_start
		quiet lxc-stop -P "$LXCP" -n s1 -k
		cairn_start
		quiet lxc-stop -P "$LXCP" -n s1 -k
	fi
done

# --- stop --force vs lxc-stop -k -----------------------------------------------------------------
say "stop --force vs lxc-stop -k, $FORCE_RUNS rounds"
for i in $(seq 1 "$FORCE_RUNS"); do
	quiet cairn start s1
	sleep "$SETTLE"
	timed stop_force cairn stop --force s1
	quiet cairn start s1
	sleep "$SETTLE"
	timed lxc_stop_kill lxc-stop -P "$LXCP" -n s1 -k
done

# --- clean stop vs lxc-stop -----------------------------------------------------------------------
say "stop vs lxc-stop (clean halt), $STOP_RUNS rounds"
for i in $(seq 1 "$STOP_RUNS"); do
	quiet cairn start s1
	sleep "$SETTLE"
	timed stop cairn stop s1
	quiet cairn start s1
	sleep "$SETTLE"
	timed lxc_stop lxc-stop -P "$LXCP" -n s1
done

# --- list with 1, 100, 1000 instances -------------------------------------------------------------
say "list with 1, 100 and 1000 instances"
quiet cairn delete --force s1
quiet cairn delete --force ref
btrfs subvolume delete "$POOL/bench-floor/"* >/dev/null 2>&1
have=0
for n in 1 100 1000; do
	while [ "$have" -lt "$n" ]; do
		have=$((have + 1))
		timed "init_upto_$n" cairn init busybox "$(printf 'l%04d' "$have")"
	done
	got=$(curl -s --unix-socket "$SOCK" http://cairn/1.0/instances | jq '.metadata | length')
	[ "$got" = "$n" ] || bench_die "expected $n instances, the API lists $got"
	say "  $n instances"
	runs=$LIST_RUNS
	[ "$n" -ge 1000 ] && runs=$(((LIST_RUNS + 1) / 2))
	hyperfine_median "list_$n" "$runs" "$T/bin/cairn list"
	hyperfine_median "api_$n" "$runs" \
		"curl -s -o /dev/null --unix-socket $SOCK http://cairn/1.0/instances"
	hyperfine_median "api_r2_$n" "$runs" \
		"curl -s -o /dev/null --unix-socket $SOCK http://cairn/1.0/instances?recursion=2"
done

# --- fixed costs: starting the processes themselves ---------------------------------------------
# No daemon work: how long each program takes to be loaded and exit. The start helper
# (`cairn-fork forkstart`; `cairnd forkstart` in builds from before it) without arguments stops
# at its usage message, right after the dynamic loader is done.
say "process start-up costs"
HELPER=cairn-fork
[ -x "$T/bin/$HELPER" ] || HELPER=cairnd
hyperfine_median exec_cairn 40 "$T/bin/cairn --help"
hyperfine_median exec_forkstart 40 "$T/bin/$HELPER forkstart" --ignore-failure
hyperfine_median exec_lxc_start 40 "lxc-start --help"

# --- report ---------------------------------------------------------------------------------------
say "done"

# row OPERATION CAIRN_LABEL FLOOR_TEXT FLOOR_LABEL TARGET_TEXT TARGET_RATIO
# TARGET_RATIO empty: no target; otherwise the row passes when cairn/floor <= it.
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

# list_row N: cairn list against the curl floor, and the absolute target of 100 ms.
list_row() {
	local n=$1 c f verdict
	c=$(median_us "list_$n")
	f=$(median_us "api_$n")
	verdict=""
	if [ "$n" -ge 1000 ]; then
		if [ "$c" -lt 100000 ]; then verdict="met"; else verdict="**missed**"; fi
	fi
	printf '| `cairn list`, %s | %s | `curl /1.0/instances` | %s | %s | %s | %s |\n' \
		"$([ "$n" -eq 1 ] && echo "1 instance" || echo "$n instances")" "$(ms "$c")" "$(ms "$f")" "$(ratio "$c" "$f")" \
		"$([ "$n" -ge 1000 ] && echo '< 100 ms')" "$verdict"
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
lxcv=$(lxc-start --version 2>/dev/null)
echo "# cairn foundation benchmark"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) CPUs ($cpu), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
echo "- load average (1, 5, 15 min): $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo "- kernel: $(uname -r); LXC $lxcv; $(hyperfine --version)"
echo "- storage: btrfs on a sparse loop file of $BENCH_STORAGE_SIZE (\`cairnd init --auto\`), on $(df -T "$T" | awk 'NR == 2 { print $2 }') under $(dirname "$T")"
echo "- samples: launch/init/start-fresh $LAUNCH_RUNS, start $START_RUNS, stop --force $FORCE_RUNS, stop $STOP_RUNS each; list: hyperfine medians of $LIST_RUNS runs ($(((LIST_RUNS + 1) / 2)) at 1,000)"
echo
echo "Medians of wall time. The floor is measured in the same run; ratio = cairn / floor."
echo
echo "| operation | cairn | floor | floor median | ratio | target | |"
echo "| --- | ---: | --- | ---: | ---: | --- | --- |"
row '`cairn launch busybox X`' launch 'btrfs snapshot + `lxc-start`' raw_launch '' ''
row '`cairn launch busybox X`' launch '`lxc-start` of a ready rootfs' raw_start_fresh '' ''
row '`cairn init busybox X`' init '`btrfs subvolume snapshot`' raw_create '' ''
row '`cairn start X` (just created)' start_fresh '`lxc-start` (just snapshotted)' raw_start_fresh '' ''
row '`cairn start X`' start '`lxc-start -P … -n X -f …/lxc.conf`' lxc_start '<= 1.5x' 1.5
row '`cairn stop X`' stop '`lxc-stop -P … -n X`' lxc_stop '<= 1.5x' 1.5
row '`cairn stop --force X`' stop_force '`lxc-stop -k`' lxc_stop_kill '<= 1.5x' 1.5
for n in 1 100 1000; do
	list_row "$n"
done
echo
echo "Daemon side of \`list\` (what the client fetches, \`GET /1.0/instances?recursion=2\`, with curl):"
echo
echo "| instances | recursion=0 | recursion=2 | \`cairn list\` |"
echo "| ---: | ---: | ---: | ---: |"
for n in 1 100 1000; do
	printf '| %s | %s | %s | %s |\n' "$n" "$(ms "$(median_us "api_$n")")" \
		"$(ms "$(median_us "api_r2_$n")")" "$(ms "$(median_us "list_$n")")"
done
echo
echo "Start-up of the programs alone (no request): \`cairn --help\` $(ms "$(median_us exec_cairn)"), \`$HELPER forkstart\` (usage error) $(ms "$(median_us exec_forkstart)"), \`lxc-start --help\` $(ms "$(median_us exec_lxc_start)")."
echo
echo "Creating the list's instances with \`cairn init\` (median per instance): $(ms "$(median_us init_upto_100)") up to 100, $(ms "$(median_us init_upto_1000)") from 101 to 1,000."
