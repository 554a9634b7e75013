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
# it as remote `bench` with a trust token, as a user would. Each measure is a function
# (measure_list below); copy and refresh between two daemons get theirs where the MEASURES list
# says.
#
# Usage: sudo bash bench/remotes.sh > result.md
# The programs come from build/ (or CAIRN_BIN). BENCH_REMOTE_INSTANCES (default 100) sets the
# size; BENCH_LIST_RUNS (default 30) the samples, taken in BENCH_ROUNDS (default 6) rounds.
# Progress goes to stderr; stdout is a Markdown report. Takes under a minute on 2 cores.

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

# The measures, in order. Copy and refresh between two daemons over HTTPS (migration/) go here as
# measure_copy and measure_refresh: a second daemon with its own CAIRN_DIR serving HTTPS, added as
# a remote the same way, `cairn copy` and `cairn copy --refresh` of an instance to it, against
# the floor of `btrfs send | btrfs receive` of the same subvolume (as bench/export.sh does).
MEASURES=(measure_list)
for m in "${MEASURES[@]}"; do
	"$m"
done

# --- the report -----------------------------------------------------------------------------------
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) CPUs ($cpu); load average (1, 5, 15 min): $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo "- $(curl --version | head -1 | cut -d' ' -f1-2,5-6); $(hyperfine --version)"
echo "- HTTPS on $ADDR (${TLS:-TLS}, a new connection per command, the client's certificate); medians of $LIST_RUNS runs each under hyperfine, in $ROUNDS interleaved rounds"
echo
echo "| what | median | floor | floor median | ratio |"
echo "| --- | ---: | --- | ---: | ---: |"
for r in "${ROWS[@]}"; do
	IFS='|' read -r label what flabel fwhat <<<"$r"
	c=$(median_us "$label")
	f=$(median_us "$flabel")
	printf '| %s | %s | %s | %s | %s |\n' "$what" "$(ms "$c")" "$fwhat" "$(ms "$f")" "$(ratio "$c" "$f")"
done
