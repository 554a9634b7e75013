# shellcheck shell=bash
# Shared set-up for the benchmarks: a private cairnd with its own CAIRN_DIR in a temporary
# directory, on the default btrfs loop pool, and the helpers to time commands and summarise the
# samples. Everything is torn down on exit, even when a benchmark fails half-way: the daemon
# started here is killed by its PID, containers under this CAIRN_DIR (and the raw LXC path of the
# floor measurements) are killed with lxc-stop -k, everything mounted under the temporary
# directory is unmounted, its loop devices detached, and the directory removed.

set -u

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC_BIN=${CAIRN_BIN:-$BENCH_ROOT/build}
BENCH_STORAGE_SIZE=${BENCH_STORAGE_SIZE:-20GiB}
DAEMON_PID=
T=

bench_die() {
	echo "bench: $*" >&2
	exit 1
}

# Progress goes to stderr so that stdout holds only the report.
say() {
	printf '== %s\n' "$*" >&2
}

bench_cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM HUP
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		local _
		for _ in $(seq 1 50); do
			kill -0 "$DAEMON_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	DAEMON_PID=
	if [ -n "$T" ]; then
		local lxcpath c
		for lxcpath in "$T/cairn/containers" "$T/raw"; do
			[ -d "$lxcpath" ] || continue
			for c in $(lxc-ls -P "$lxcpath" --running 2>/dev/null); do
				lxc-stop -P "$lxcpath" -n "$c" -k >/dev/null 2>&1
			done
		done
		local m
		for m in $(awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r); do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		done
		local loop
		for loop in $(losetup -a 2>/dev/null | grep -F "($T/" | cut -d: -f1); do
			losetup -d "$loop" 2>/dev/null
		done
		if awk -v t="$T/" 'index($2, t) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
			echo "bench: something is still mounted under $T, leaving it in place" >&2
		else
			rm -rf "$T"
		fi
	fi
	exit $rc
}

# Checks what the benchmark needs, creates the temporary directory, initialises CAIRN_DIR with
# a btrfs loop pool and starts the daemon.
bench_setup() {
	[ "$(id -u)" -eq 0 ] || bench_die "run as root (the daemon creates loop devices and mounts)"
	[ -x "$SRC_BIN/cairn" ] && [ -x "$SRC_BIN/cairnd" ] ||
		bench_die "no built cairn/cairnd in $SRC_BIN (build first, or set CAIRN_BIN)"
	local tool
	for tool in hyperfine jq curl lxc-start lxc-stop lxc-ls btrfs losetup; do
		command -v "$tool" >/dev/null || bench_die "$tool is not installed"
	done
	[ -n "${EPOCHREALTIME:-}" ] || bench_die "bash 5 or later is needed (EPOCHREALTIME)"
	grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null
	grep -qw btrfs /proc/filesystems || bench_die "the kernel has no btrfs"

	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM HUP
	T=$(mktemp -d /tmp/cairn-bench.XXXXXX)
	chmod 0755 "$T"
	mkdir -p "$T/bin" "$T/samples" "$T/raw" "$T/raw-logs"
	# Private copies: a rebuild during the run must not swap the programs under it.
	cp "$SRC_BIN/cairn" "$SRC_BIN/cairnd" "$T/bin/"
	# cairnd finds its helper next to itself; builds from before the helper have none.
	if [ -e "$SRC_BIN/cairn-fork" ]; then
		cp "$SRC_BIN/cairn-fork" "$T/bin/"
		chmod 0755 "$T/bin/cairn-fork"
	fi
	chmod 0755 "$T/bin" "$T/bin/cairn" "$T/bin/cairnd"
	export CAIRN_DIR="$T/cairn"
	export PATH="$T/bin:$PATH"
	# No bridge on the host for a benchmark (a build older than managed networks has no
	# --network and makes none).
	local nonet=()
	cairnd init --help 2>/dev/null | grep -q -- --network && nonet=(--network none)
	cairnd init --auto "${nonet[@]}" --storage-size "$BENCH_STORAGE_SIZE" >"$T/init.log" 2>&1 || {
		cat "$T/init.log" >&2
		bench_die "cairnd init failed"
	}
	POOL="$CAIRN_DIR/storage-pools/default"
	[ -d "$POOL/containers" ] || bench_die "no btrfs pool at $POOL"
	bench_start_daemon
}

bench_start_daemon() {
	# The root group always exists; only root uses this private daemon.
	cairnd --group root >>"$T/cairnd.log" 2>&1 &
	DAEMON_PID=$!
	local _
	for _ in $(seq 1 100); do
		if [ -S "$CAIRN_DIR/unix.socket" ] && cairn list >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -20 "$T/cairnd.log" >&2
	bench_die "cairnd did not start"
}

# Microseconds since the epoch, without forking (bash 5).
now_us() {
	local t=$EPOCHREALTIME
	echo "${t/[.,]/}"
}

# timed LABEL CMD...: runs CMD (output discarded) and appends its wall time in microseconds to
# the samples of LABEL. Fails the benchmark when CMD fails: a failed run is no measurement.
timed() {
	local label=$1
	shift
	local t0 t1
	t0=$EPOCHREALTIME
	if ! "$@" >/dev/null 2>"$T/last.err"; then
		cat "$T/last.err" >&2
		bench_die "failed while measuring $label: $*"
	fi
	t1=$EPOCHREALTIME
	echo $((${t1/[.,]/} - ${t0/[.,]/})) >>"$T/samples/$label"
}

# quiet CMD...: runs an untimed step; its failure stops the benchmark too.
quiet() {
	if ! "$@" >/dev/null 2>"$T/last.err"; then
		cat "$T/last.err" >&2
		bench_die "failed: $*"
	fi
}

# add_samples OUT A B: OUT[i] = A[i] + B[i], for floors made of two steps.
add_samples() {
	paste "$T/samples/$2" "$T/samples/$3" | awk '{ print $1 + $2 }' >"$T/samples/$1"
}

# median_us LABEL: the median of the samples of LABEL, in microseconds.
median_us() {
	sort -n "$T/samples/$1" | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print 0; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# count LABEL: how many samples LABEL has.
count() {
	wc -l <"$T/samples/$1" | tr -d ' '
}

# hyperfine_median LABEL RUNS CMD [HYPERFINE_OPTION...]: runs CMD under hyperfine (no
# intermediate shell) and stores its median as the single sample of LABEL, in microseconds.
hyperfine_median() {
	local label=$1 runs=$2 cmd=$3
	shift 3
	hyperfine -N --style none --warmup 3 --runs "$runs" --export-json "$T/$label.json" "$@" \
		"$cmd" >/dev/null 2>"$T/last.err" || {
		cat "$T/last.err" >&2
		bench_die "hyperfine failed on: $cmd"
	}
	jq -r '.results[0].median * 1000000 | floor' "$T/$label.json" >"$T/samples/$label"
}

# ms US: microseconds as milliseconds with one decimal.
ms() {
	awk -v us="$1" 'BEGIN { printf "%.1f ms", us / 1000 }'
}

# ratio A B: A / B with two decimals.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'
}
