#!/usr/bin/env bash
# Benchmark of the API over HTTPS (remotes), in one run on one machine, on the default btrfs pool:
#
#   cairn list of N stopped instances through a remote over HTTPS on 127.0.0.1   vs
#   the same cairn list over the unix socket                                     vs
#   the floors: curl of GET /1.0/instances?recursion=1 over HTTPS with the client certificate
#   (and the server's key pinned, as cairn does), and the same over the unix socket.
#
# The remote is the daemon itself: core.https_address is set to a free port on 127.0.0.1, and a
# client config directory of the run's own (XDG_CONFIG_HOME under the temporary directory) adds
# it as remote `bench` with a trust token, as a user would. Each measure is a function:
#
#   measure_list     the list above
#   measure_copy     a second daemon with its own CAIRN_DIR and btrfs loop pool, serving HTTPS on
#                    127.0.0.1 and added as remote `tgt`: `cairn copy c1 tgt:c1` of an instance
#                    holding 1 GiB of random data and one snapshot, against `btrfs send` of that
#                    snapshot piped into `btrfs receive` on the target's pool (time, and the bytes
#                    cairn reports against the stream's size)
#   measure_refresh  after 10 MiB of the file is rewritten and a new snapshot taken,
#                    `cairn copy --refresh c1 tgt:c1` against `btrfs send -p OLD NEW | btrfs
#                    receive` of the same pair, in several rounds
#
# Usage: sudo bash bench/remotes.sh > result.md
# The programs come from build/ (or CAIRN_BIN). BENCH_REMOTE_MEASURES (default all three, in
# order) picks the measures. BENCH_REMOTE_INSTANCES (default 100) sets the size of the list;
# BENCH_LIST_RUNS (default 30) its samples, taken in BENCH_ROUNDS (default 6) rounds.
# BENCH_COPY_MIB (1024) and BENCH_CHANGE_MIB (10) the data and the change, BENCH_COPY_ROUNDS (3)
# and BENCH_REFRESH_ROUNDS (5) the samples of copy and refresh.
# Progress goes to stderr; stdout is a Markdown report. Takes about 2 minutes on 2 cores (the
# list alone under one).

set -u
# The report's single-quoted strings hold Markdown code spans, not shell expansions.
# shellcheck disable=SC2016

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${BENCH_REMOTE_INSTANCES:-100}
LIST_RUNS=${BENCH_LIST_RUNS:-30}
REMOTE=bench

command -v openssl >/dev/null || bench_die "openssl is not installed"
command -v python3 >/dev/null || bench_die "python3 is not installed"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
bench_setup
SOCK="$CAIRN_DIR/unix.socket"
# The client's remotes, certificate and key live here, not in root's home.
export XDG_CONFIG_HOME="$T/config"
mkdir -p "$XDG_CONFIG_HOME"
chmod 0700 "$XDG_CONFIG_HOME"

# The report's rows, appended by each measure: "LABEL|WHAT|FLOOR_LABEL|FLOOR_WHAT".
ROWS=()

# --- the remote ----------------------------------------------------------------------------------
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

say "serving HTTPS on 127.0.0.1 and adding the remote with a trust token"
ADDR="127.0.0.1:$(free_port)"
quiet cairn config set core.https_address "$ADDR"
TOKEN=$(cairn config trust add "$REMOTE-client" 2>"$T/last.err" | tail -1)
[ -n "$TOKEN" ] || {
	cat "$T/last.err" >&2
	bench_die "no trust token"
}
quiet cairn remote add "$REMOTE" "$TOKEN"
CLIENT_CRT="$XDG_CONFIG_HOME/cairn/client.crt"
CLIENT_KEY="$XDG_CONFIG_HOME/cairn/client.key"
SERVER_CRT="$XDG_CONFIG_HOME/cairn/servercerts/$REMOTE.crt"
if [ ! -f "$CLIENT_CRT" ] || [ ! -f "$CLIENT_KEY" ] || [ ! -f "$SERVER_CRT" ]; then
	bench_die "remote add left no client certificate or server certificate"
fi
# curl checks the server as cairn does: the self-signed certificate names no address, so the
# public key it was added with is pinned (-k alone would skip the check).
PIN="sha256//$(openssl x509 -in "$SERVER_CRT" -pubkey -noout | openssl pkey -pubin -outform der |
	openssl dgst -sha256 -binary | base64)"
CURL_HTTPS=(curl -s -o /dev/null --fail -k --pinnedpubkey "$PIN" --cert "$CLIENT_CRT"
	--key "$CLIENT_KEY")
CURL_UNIX=(curl -s -o /dev/null --fail --unix-socket "$SOCK")
auth=$(curl -s -k --pinnedpubkey "$PIN" --cert "$CLIENT_CRT" --key "$CLIENT_KEY" \
	"https://$ADDR/1.0" | jq -r .metadata.auth)
[ "$auth" = trusted ] || bench_die "the remote does not trust the client (auth: $auth)"
TLS=$(curl -sv -o /dev/null -k --pinnedpubkey "$PIN" --cert "$CLIENT_CRT" --key "$CLIENT_KEY" \
	"https://$ADDR/1.0" 2>&1 | sed -n 's/.*SSL connection using \([^ ]*\).*/\1/p' | head -1)

# --- the measures ---------------------------------------------------------------------------------
# interleaved LABEL=CMD...: LIST_RUNS runs of each CMD under hyperfine (no shell), in ROUNDS
# rounds that take the commands in turn, every run's time a sample of LABEL. On a shared machine
# the load moves in the time one command's runs take; taking them in turn lets every command see
# the same load, which the ratios need.
ROUNDS=${BENCH_ROUNDS:-6}
interleaved() {
	local per=$(((LIST_RUNS + ROUNDS - 1) / ROUNDS)) r spec label cmd
	for ((r = 0; r < ROUNDS; r++)); do
		for spec in "$@"; do
			label=${spec%%=*}
			cmd=${spec#*=}
			hyperfine -N --style none --warmup 1 --runs "$per" --export-json "$T/$label.json" \
				"$cmd" >/dev/null 2>"$T/last.err" || {
				cat "$T/last.err" >&2
				bench_die "hyperfine failed on: $cmd"
			}
			jq -r '.results[0].times[] * 1000000 | floor' "$T/$label.json" >>"$T/samples/$label"
		done
	done
}

# Each measure_* makes what it needs, stores its samples (interleaved, or timed from lib.sh), and
# appends its report rows to ROWS.

# cairn list of N instances through the remote and on the socket, against curl of what a list
# fetches at the least (recursion=1) over each transport. cairn list with its default columns
# asks for recursion=2 (state and snapshots): that is measured too, to show what the daemon's
# side of it costs.
measure_list() {
	local have got
	say "making $N instances"
	have=$(curl -s --unix-socket "$SOCK" http://cairn/1.0/instances | jq '.metadata | length')
	while [ "$have" -lt "$N" ]; do
		have=$((have + 1))
		quiet cairn init busybox "$(printf 'r%04d' "$have")"
	done
	got=$(cairn list "$REMOTE:" -f csv -c n 2>"$T/last.err" | wc -l)
	[ "$got" = "$N" ] || {
		cat "$T/last.err" >&2
		bench_die "expected $N instances through the remote, it lists $got"
	}
	say "cairn list of $N instances, HTTPS and socket, and the curl floors"
	interleaved \
		"list_https=$T/bin/cairn list $REMOTE:" \
		"list_unix=$T/bin/cairn list" \
		"curl_https=${CURL_HTTPS[*]} https://$ADDR/1.0/instances?recursion=1" \
		"curl_unix=${CURL_UNIX[*]} http://cairn/1.0/instances?recursion=1" \
		"curl_https_r2=${CURL_HTTPS[*]} https://$ADDR/1.0/instances?recursion=2" \
		"curl_unix_r2=${CURL_UNIX[*]} http://cairn/1.0/instances?recursion=2" \
		"curl_https_root=${CURL_HTTPS[*]} https://$ADDR/1.0" \
		"curl_unix_root=${CURL_UNIX[*]} http://cairn/1.0"
	ROWS+=("list_https|\`cairn list $REMOTE:\`, $N instances, HTTPS|curl_https|\`curl\` HTTPS \`/1.0/instances?recursion=1\`")
	ROWS+=("list_unix|\`cairn list\`, $N instances, socket|curl_unix|\`curl\` socket \`/1.0/instances?recursion=1\`")
	ROWS+=("list_https|\`cairn list $REMOTE:\`, against the socket's floor|curl_unix|\`curl\` socket \`/1.0/instances?recursion=1\`")
	ROWS+=("curl_https|\`curl\` HTTPS \`recursion=1\`, against the socket's|curl_unix|\`curl\` socket \`/1.0/instances?recursion=1\`")
	ROWS+=("curl_https_r2|\`curl\` HTTPS \`recursion=2\` (what \`cairn list\` asks for)|curl_https|\`curl\` HTTPS \`/1.0/instances?recursion=1\`")
	ROWS+=("curl_unix_r2|\`curl\` socket \`recursion=2\` (what \`cairn list\` asks for)|curl_unix|\`curl\` socket \`/1.0/instances?recursion=1\`")
	ROWS+=("curl_https_root|\`curl\` HTTPS \`/1.0\` (a request with no work)|curl_unix_root|\`curl\` socket \`/1.0\`")
}

# --- copy and refresh between two daemons ------------------------------------------------------
# A second daemon, the target, with its own CAIRN_DIR and btrfs loop pool under $T, serving HTTPS
# on 127.0.0.1 and added to the run's client config as the remote `tgt` with a trust token (as
# tests/e2e/78-migration.sh does). The source is the run's daemon, on its socket: `cairn copy
# c1 tgt:c1` is then a push, the source daemon sending to the target over HTTPS.
TGT=tgt
TGT_DIR=
TGT_PID=
COPY_MIB=${BENCH_COPY_MIB:-1024}
CHANGE_MIB=${BENCH_CHANGE_MIB:-10}
COPY_ROUNDS=${BENCH_COPY_ROUNDS:-3}
REFRESH_ROUNDS=${BENCH_REFRESH_ROUNDS:-5}
LOADS=()

# lib.sh's trap stops the run's daemon and unmounts and detaches everything under $T; the target
# daemon is stopped first, by its PID, so that its pool can be unmounted.
remotes_cleanup() {
	local rc=$?
	if [ -n "$TGT_PID" ] && kill -0 "$TGT_PID" 2>/dev/null; then
		kill -TERM "$TGT_PID" 2>/dev/null
		local _
		for _ in $(seq 1 50); do
			kill -0 "$TGT_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$TGT_PID" 2>/dev/null
		wait "$TGT_PID" 2>/dev/null
	fi
	TGT_PID=
	(exit $rc)
	bench_cleanup
}
trap remotes_cleanup EXIT

on_tgt() {
	env CAIRN_DIR="$TGT_DIR" "$@"
}

# Bytes of the report, in MiB or KiB.
size() {
	awk -v b="$1" 'BEGIN { if (b >= 1048576) printf "%.1f MiB", b / 1048576; else printf "%.1f KiB", b / 1024 }'
}

# The bytes `cairn copy` printed ("Transferred N bytes").
bytes_of() {
	sed -n 's/^Transferred \([0-9]*\) bytes$/\1/p' "$1"
}

# copy_run LABEL ARGS...: `cairn copy ARGS...` timed, its time a sample of LABEL and the bytes it
# reports a sample of LABEL_bytes.
copy_run() {
	local label=$1 t0 t1 b
	shift
	t0=$EPOCHREALTIME
	cairn copy "$@" >"$T/copy.out" 2>&1 || {
		cat "$T/copy.out" >&2
		bench_die "failed: cairn copy $*"
	}
	t1=$EPOCHREALTIME
	echo $((${t1/[.,]/} - ${t0/[.,]/})) >>"$T/samples/$label"
	b=$(bytes_of "$T/copy.out")
	[ -n "$b" ] || {
		cat "$T/copy.out" >&2
		bench_die "cairn copy $* reported no byte count"
	}
	echo "$b" >>"$T/samples/${label}_bytes"
}

# send_run LABEL DEST [-p PARENT] SNAP: `btrfs send | btrfs receive` timed (a sample of LABEL),
# then, untimed, the stream's size (a sample of LABEL_bytes) and the time of `sync -f` of the
# receiving file system (LABEL_sync: cairn's target makes what it received durable, the floor
# does not).
send_run() {
	local label=$1 dest=$2 t0 t1
	shift 2
	t0=$EPOCHREALTIME
	btrfs send -q "$@" 2>"$T/send.err" | btrfs receive -q "$dest" >/dev/null 2>"$T/receive.err"
	local rc=("${PIPESTATUS[@]}")
	t1=$EPOCHREALTIME
	if [ "${rc[0]}" != 0 ] || [ "${rc[1]}" != 0 ]; then
		cat "$T/send.err" "$T/receive.err" >&2
		bench_die "failed: btrfs send $* | btrfs receive $dest"
	fi
	echo $((${t1/[.,]/} - ${t0/[.,]/})) >>"$T/samples/$label"
	t0=$EPOCHREALTIME
	sync -f "$dest"
	t1=$EPOCHREALTIME
	echo $((${t1/[.,]/} - ${t0/[.,]/})) >>"$T/samples/${label}_sync"
	btrfs send -q "$@" 2>/dev/null | wc -c >>"$T/samples/${label}_bytes"
}

# The target daemon and an instance with COPY_MIB of random data and one snapshot, made once for
# both measures.
COPY_READY=
copy_setup() {
	[ -n "$COPY_READY" ] && return 0
	local addr token rootfs
	say "a second daemon serving HTTPS, added as the remote $TGT with a trust token"
	TGT_DIR="$T/tgt"
	on_tgt cairnd init --auto --network none --storage-size "${BENCH_TGT_STORAGE_SIZE:-8GiB}" \
		>"$T/init-tgt.log" 2>&1 || {
		cat "$T/init-tgt.log" >&2
		bench_die "cairnd init of the target failed"
	}
	# Not through on_tgt: $! must be the daemon's PID, not a subshell's.
	env CAIRN_DIR="$TGT_DIR" cairnd --group root >>"$T/cairnd-tgt.log" 2>&1 &
	TGT_PID=$!
	local _
	for _ in $(seq 1 100); do
		on_tgt cairn list >/dev/null 2>&1 && break
		kill -0 "$TGT_PID" 2>/dev/null || break
		sleep 0.1
	done
	on_tgt cairn list >/dev/null 2>&1 || {
		tail -20 "$T/cairnd-tgt.log" >&2
		bench_die "the target cairnd did not start"
	}
	TGT_POOL="$TGT_DIR/storage-pools/default"
	addr="127.0.0.1:$(free_port)"
	quiet on_tgt cairn config set core.https_address "$addr"
	token=$(on_tgt cairn config trust add "$TGT-client" 2>"$T/last.err" | tail -1)
	[ -n "$token" ] || {
		cat "$T/last.err" >&2
		bench_die "no trust token from the target"
	}
	quiet cairn remote add "$TGT" "$token"

	say "an instance with $COPY_MIB MiB of random data and one snapshot"
	quiet cairn init busybox c1
	rootfs="$POOL/containers/c1/rootfs"
	[ -d "$rootfs/root" ] || bench_die "no rootfs at $rootfs"
	# Written once through the volume's host path, owned by the container's root.
	dd if=/dev/urandom of="$rootfs/root/big" bs=1M count="$COPY_MIB" status=none ||
		bench_die "could not write the data"
	chown --reference="$rootfs/root" "$rootfs/root/big"
	sync -f "$rootfs/root/big"
	quiet cairn snapshot create c1 s0
	SNAPS="$POOL/containers-snapshots/c1"
	[ -d "$SNAPS/s0" ] || bench_die "no snapshot subvolume at $SNAPS/s0"
	# The floor receives into a directory of the target's pool, beside what cairnd keeps there.
	FLOOR="$TGT_POOL/bench-floor"
	mkdir -p "$FLOOR"
	COPY_READY=1
}

# A first full copy (the snapshot s0 and the instance, which has not changed since) against
# `btrfs send` of s0 into `btrfs receive` on the target's pool. Rounds after the first copy to
# another name and delete it again, so that every round starts from the same state; the first
# round's copy stays for the refreshes.
measure_copy() {
	local r name
	copy_setup
	for ((r = 1; r <= COPY_ROUNDS; r++)); do
		LOADS+=("$(cut -d' ' -f1 /proc/loadavg)")
		name=c1
		[ "$r" -gt 1 ] && name="full$r"
		say "full copy, round $r of $COPY_ROUNDS"
		mkdir -p "$FLOOR/full$r"
		# Alternate which goes first, so that neither always meets the other's writeback.
		if ((r % 2)); then
			copy_run copy c1 "$TGT:$name"
			send_run send_full "$FLOOR/full$r" "$SNAPS/s0"
		else
			send_run send_full "$FLOOR/full$r" "$SNAPS/s0"
			copy_run copy c1 "$TGT:$name"
		fi
		if [ "$r" -gt 1 ]; then
			quiet on_tgt cairn delete "$name"
			quiet btrfs subvolume delete "$FLOOR/full$r/s0"
			quiet btrfs subvolume sync "$TGT_POOL"
		fi
	done
	on_tgt cairn list -f csv -c n | grep -qx c1 || bench_die "no c1 on the target"
	ROWS+=("copy|\`cairn copy c1 $TGT:c1\`, $COPY_MIB MiB, time|send_full|\`btrfs send s0\` into \`btrfs receive\`|us")
	ROWS+=("copy|\`cairn copy c1 $TGT:c1\`, against the floor with its \`sync -f\`|send_full_synced|the same, then \`sync -f\` of the target|us")
	ROWS+=("copy_bytes|\`cairn copy c1 $TGT:c1\`, bytes sent|send_full_bytes|\`btrfs send s0\` stream|bytes")
}

# After a CHANGE_MIB change somewhere in the file and a new snapshot, `cairn copy --refresh`
# against `btrfs send -p OLD NEW | btrfs receive` of the same pair, into the floor's copy of OLD.
measure_refresh() {
	local r off prev=s0 snap
	copy_setup
	[ -d "$FLOOR/full1/s0" ] || bench_die "measure_refresh needs measure_copy before it"
	local file="$POOL/containers/c1/rootfs/root/big"
	for ((r = 1; r <= REFRESH_ROUNDS; r++)); do
		LOADS+=("$(cut -d' ' -f1 /proc/loadavg)")
		say "refresh after a $CHANGE_MIB MiB change, round $r of $REFRESH_ROUNDS"
		off=$((RANDOM % (COPY_MIB - CHANGE_MIB)))
		dd if=/dev/urandom of="$file" bs=1M count="$CHANGE_MIB" seek="$off" conv=notrunc \
			status=none || bench_die "could not change the data"
		sync -f "$file"
		snap="s$r"
		quiet cairn snapshot create c1 "$snap"
		if ((r % 2)); then
			copy_run refresh c1 "$TGT:c1" --refresh
			send_run send_incr "$FLOOR/full1" -p "$SNAPS/$prev" "$SNAPS/$snap"
		else
			send_run send_incr "$FLOOR/full1" -p "$SNAPS/$prev" "$SNAPS/$snap"
			copy_run refresh c1 "$TGT:c1" --refresh
		fi
		prev=$snap
	done
	if ! cmp -s "$file" "$TGT_POOL/containers/c1/rootfs/root/big"; then
		bench_die "the target's copy differs from the source after the refreshes"
	fi
	ROWS+=("refresh|\`cairn copy --refresh\`, $CHANGE_MIB MiB changed, time|send_incr|\`btrfs send -p OLD NEW\` into \`btrfs receive\`|us")
	ROWS+=("refresh|\`cairn copy --refresh\`, against the floor with its \`sync -f\`|send_incr_synced|the same, then \`sync -f\` of the target|us")
	ROWS+=("refresh_bytes|\`cairn copy --refresh\`, bytes sent|send_incr_bytes|\`btrfs send -p OLD NEW\` stream|bytes")
}

# The measures, in order (BENCH_REMOTE_MEASURES to run some of them; measure_refresh needs
# measure_copy before it).
read -r -a MEASURES <<<"${BENCH_REMOTE_MEASURES:-measure_list measure_copy measure_refresh}"
for m in "${MEASURES[@]}"; do
	"$m"
done
for l in send_full send_incr; do
	[ -s "$T/samples/$l" ] && add_samples "${l}_synced" "$l" "${l}_sync"
done

# --- the report -----------------------------------------------------------------------------------
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) CPUs ($cpu); load average (1, 5, 15 min): $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after"
if [ "${#LOADS[@]}" -gt 0 ]; then
	echo "- 1-minute load average at the start of each copy and refresh round: ${LOADS[*]}"
fi
echo "- $(curl --version | head -1 | cut -d' ' -f1-2,5-6); $(hyperfine --version); $(btrfs --version)"
echo "- HTTPS on 127.0.0.1 (${TLS:-TLS}, a new connection per command, the client's certificate)"
if [[ " ${MEASURES[*]} " == *" measure_list "* ]]; then
	echo "- list: medians of $LIST_RUNS runs each under hyperfine, in $ROUNDS interleaved rounds"
fi
if [[ " ${MEASURES[*]} " == *" measure_copy "* ]]; then
	echo "- copy: $COPY_MIB MiB of random data and one snapshot, medians of $(count copy) full copies and $(count send_full) floors, taken in turn; warm page cache"
fi
if [[ " ${MEASURES[*]} " == *" measure_refresh "* ]]; then
	echo "- refresh: $CHANGE_MIB MiB rewritten at a random offset and a new snapshot each round, medians of $(count refresh) refreshes and $(count send_incr) floors, taken in turn"
fi
echo
echo "| what | median | floor | floor median | ratio |"
echo "| --- | ---: | --- | ---: | ---: |"
for r in "${ROWS[@]}"; do
	IFS='|' read -r label what flabel fwhat unit <<<"$r"
	c=$(median_us "$label")
	f=$(median_us "$flabel")
	if [ "${unit:-us}" = bytes ]; then
		printf '| %s | %s | %s | %s | %s |\n' "$what" "$(size "$c")" "$fwhat" "$(size "$f")" "$(ratio "$c" "$f")"
	else
		printf '| %s | %s | %s | %s | %s |\n' "$what" "$(ms "$c")" "$fwhat" "$(ms "$f")" "$(ratio "$c" "$f")"
	fi
done
