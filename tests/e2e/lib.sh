# shellcheck shell=bash
# Shared set-up for the end-to-end suites: a real cairnd with its own CAIRN_DIR in a temporary
# directory, on a real btrfs loop pool (or the dir driver, with CAIRN_BACKEND=dir), a test admin
# group with one member and one outsider. Everything is torn down on exit, even on failure.
# Output is TAP.

set -u

BACKEND=${CAIRN_BACKEND:-btrfs}
SRC_BIN=${CAIRN_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build" 2>/dev/null && pwd)}
TAP_N=0
TAP_FAILED=0
DAEMON_PID=
TMUX_SOCK=

skip_all() {
	echo "1..0 # SKIP $*"
	exit 77
}

ok() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $*"
}

not_ok() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $*"
}

diag() {
	printf '# %s\n' "$@"
}

# check DESCRIPTION CMD...: passes when CMD exits 0.
check() {
	local desc=$1
	shift
	local out
	if out=$("$@" 2>&1); then
		ok "$desc"
	else
		not_ok "$desc"
		diag "command: $*" "output: $out"
	fi
}

# check_fails DESCRIPTION EXPECTED_STDERR CMD...: CMD must exit non-zero and print exactly
# EXPECTED_STDERR (a full line) on stderr; "" means any message starting with "Error: ".
check_fails() {
	local desc=$1 want=$2
	shift 2
	local err rc
	err=$("$@" 2>&1 >/dev/null)
	rc=$?
	if [ $rc -eq 0 ]; then
		not_ok "$desc"
		diag "command succeeded but should have failed: $*"
		return
	fi
	if [ -n "$want" ]; then
		if printf '%s\n' "$err" | grep -qxF -- "$want"; then
			ok "$desc"
		else
			not_ok "$desc"
			diag "command: $*" "wanted: $want" "got: $err"
		fi
	elif printf '%s\n' "$err" | grep -q '^Error: '; then
		ok "$desc"
	else
		not_ok "$desc"
		diag "command: $*" "no 'Error: ' message, got: $err"
	fi
}

# check_eq DESCRIPTION WANT GOT
check_eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		diag "wanted: $2" "got:    $3"
	fi
}

# check_match DESCRIPTION REGEX TEXT
check_match() {
	if printf '%s\n' "$3" | grep -qE -- "$2"; then
		ok "$1"
	else
		not_ok "$1"
		diag "wanted a line matching: $2" "got: $3"
	fi
}

finish() {
	echo "1..$TAP_N"
	if [ "$TAP_FAILED" -gt 0 ]; then
		echo "# $TAP_FAILED of $TAP_N failed"
		exit 1
	fi
	exit 0
}

cleanup() {
	local rc=$?
	set +e
	[ -n "$TMUX_SOCK" ] && tmux -S "$TMUX_SOCK" kill-server >/dev/null 2>&1
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -KILL "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	if [ -n "${B_PID:-}" ] && kill -0 "$B_PID" 2>/dev/null; then
		kill -KILL "$B_PID" 2>/dev/null
		wait "$B_PID" 2>/dev/null
	fi
	local dir c
	for dir in "${CAIRN_DIR:-}" "${B_DIR:-}"; do
		[ -n "$dir" ] && [ -d "$dir/containers" ] || continue
		for c in $(lxc-ls -P "$dir/containers" --running 2>/dev/null); do
			lxc-stop -P "$dir/containers" -n "$c" -k >/dev/null 2>&1
		done
	done
	if [ -n "${T:-}" ]; then
		local m
		for m in $(awk -v t="$T" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r); do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		done
		local loop
		for loop in $(losetup -a 2>/dev/null | grep -F "$T/" | cut -d: -f1); do
			losetup -d "$loop" 2>/dev/null
		done
	fi
	[ -n "${ADMIN_USER:-}" ] && userdel "$ADMIN_USER" >/dev/null 2>&1
	[ -n "${OUTSIDER:-}" ] && userdel "$OUTSIDER" >/dev/null 2>&1
	[ -n "${TGROUP:-}" ] && groupdel "$TGROUP" >/dev/null 2>&1
	[ -n "${T:-}" ] && rm -rf "$T"
	exit $rc
}

# A second daemon, for the suites about remotes and migration: its own CAIRN_DIR ($B_DIR) and
# pool under $T, reached by root with on_b; cleanup kills it and stops its containers whatever
# happened. second_daemon inits and starts it; start_b [VAR=VALUE...] starts it again (with
# those variables in its environment), stop_b stops it.
B_DIR=
B_PID=
second_daemon() {
	B_DIR="$T/b"
	CAIRN_DIR="$B_DIR" cairnd init --auto --network none --storage-backend "$BACKEND" \
		--storage-size 3GiB >"$T/init-b.log" 2>&1 || {
		cat "$T/init-b.log" >&2
		echo "Bail out! cairnd init of the second daemon failed"
		exit 1
	}
	start_b
}
start_b() {
	env CAIRN_DIR="$B_DIR" "$@" cairnd --group "$TGROUP" >>"$T/cairnd-b.log" 2>&1 &
	B_PID=$!
	for _ in $(seq 1 100); do
		CAIRN_DIR="$B_DIR" cairn list >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	tail -20 "$T/cairnd-b.log" >&2
	echo "Bail out! the second cairnd did not start"
	exit 1
}
stop_b() {
	kill -TERM "$B_PID" 2>/dev/null
	wait "$B_PID" 2>/dev/null
	B_PID=
}
on_b() {
	env CAIRN_DIR="$B_DIR" "$@"
}
# A TCP port of 127.0.0.1 that nothing listens on now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Prepares everything; skips the suite (exit 77) with the reason when it cannot run.
setup() {
	[ "$(id -u)" -eq 0 ] || skip_all "end-to-end tests need root (they create loop devices, mounts and users)"
	[ -x "$SRC_BIN/cairn" ] && [ -x "$SRC_BIN/cairnd" ] && [ -x "$SRC_BIN/cairn-fork" ] ||
		skip_all "no built cairn/cairnd/cairn-fork in $SRC_BIN"
	command -v lxc-ls >/dev/null || skip_all "LXC tools are not installed"
	command -v jq >/dev/null || skip_all "jq is not installed (scripts/setup.sh installs it)"
	if [ "$BACKEND" = btrfs ]; then
		grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null
		grep -qw btrfs /proc/filesystems || skip_all "the kernel has no btrfs"
		command -v mkfs.btrfs >/dev/null || skip_all "mkfs.btrfs is not installed"
	fi
	trap cleanup EXIT
	T=$(mktemp -d /tmp/cairn-e2e.XXXXXX)
	chmod 0755 "$T"
	mkdir -p "$T/bin" "$T/home"
	# cairnd finds its helper cairn-fork next to itself, as in the build tree.
	cp "$SRC_BIN/cairn" "$SRC_BIN/cairnd" "$SRC_BIN/cairn-fork" "$T/bin/"
	chmod 0755 "$T/bin" "$T/bin/cairn" "$T/bin/cairnd" "$T/bin/cairn-fork" "$T/home"
	export CAIRN_DIR="$T/cairn"
	export PATH="$T/bin:$PATH"
	# A `cairnd init` of any suite makes no bridge on the host unless it asks for one; only the
	# network suite does, inside a namespace of its own.
	export CAIRN_INIT_NETWORK=none
	# Short unique names: user and group names are limited to 32 characters.
	local id
	id=$(printf '%s' "$T" | md5sum | cut -c1-6)
	TGROUP="cairn-t$id"
	ADMIN_USER="incusadmin$id"
	OUTSIDER="outsider$id"
	groupadd "$TGROUP"
	useradd -M -d "$T/home" -s /bin/sh -G "$TGROUP" "$ADMIN_USER"
	useradd -M -d "$T/home" -s /bin/sh "$OUTSIDER"
	# --network none: only the network suite makes a bridge, and only in a namespace of its own.
	cairnd init --auto --network none --storage-backend "$BACKEND" --storage-size 3GiB >"$T/init.log" 2>&1 || {
		cat "$T/init.log" >&2
		echo "Bail out! cairnd init failed"
		exit 1
	}
	start_daemon
}

start_daemon() {
	cairnd --group "$TGROUP" "$@" >>"$T/cairnd.log" 2>&1 &
	DAEMON_PID=$!
	local i
	for i in $(seq 1 100); do
		if [ -S "$CAIRN_DIR/unix.socket" ] && cairn list >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -20 "$T/cairnd.log" >&2
	echo "Bail out! cairnd did not start"
	exit 1
}

stop_daemon() {
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

kill_daemon() {
	kill -KILL "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

# Runs a command as the admin-group user, or as the outsider.
as_admin() {
	setpriv --reuid="$ADMIN_USER" --regid="$(id -g "$ADMIN_USER")" --init-groups \
		env HOME="$T/home" CAIRN_DIR="$CAIRN_DIR" PATH="$PATH" "$@"
}

as_outsider() {
	setpriv --reuid="$OUTSIDER" --regid="$(id -g "$OUTSIDER")" --init-groups \
		env HOME="$T/home" CAIRN_DIR="$CAIRN_DIR" PATH="$PATH" "$@"
}

# The status field of an instance as the API reports it ("Running", "Stopped").
api_status() {
	curl -s --unix-socket "$CAIRN_DIR/unix.socket" "http://cairn/1.0/instances/$1" |
		jq -r '.metadata.status // empty' 
}

# The host pid of an instance's init, 0 when stopped.
init_pid() {
	curl -s --unix-socket "$CAIRN_DIR/unix.socket" "http://cairn/1.0/instances/$1/state" |
		jq -r '.metadata.pid // 0' 
}

# Waits up to 10 s for `cat $CAIRN_DIR/crashpoint` to say $1.
wait_crashpoint() {
	local i
	for i in $(seq 1 100); do
		[ "$(cat "$CAIRN_DIR/crashpoint" 2>/dev/null)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# GET an API path, print the JSON.
api() {
	curl -s --unix-socket "$CAIRN_DIR/unix.socket" "http://cairn$1"
}

# The volumes on disk in the default pool's containers/ directory, sorted, one line.
pool_volumes() {
	ls -A "$CAIRN_DIR/storage-pools/default/containers" 2>/dev/null | sort | tr '\n' ' '
}

# The host cgroup v1 file of a running instance, e.g. cgroup_file c1 memory memory.limit_in_bytes.
cgroup_value() {
	local pid
	pid=$(init_pid "$1")
	local rel
	rel=$(awk -F: -v c="$2" '$2 ~ "(^|,)" c "(,|$)" { print $3 }' "/proc/$pid/cgroup")
	if [ -d "/sys/fs/cgroup/$2" ]; then
		# The init process sits in the container's own cgroup; limits are set on it or
		# on its parent (LXC's "limit" cgroup), so look upwards for the file.
		local dir="/sys/fs/cgroup/$2$rel"
		while [ "$dir" != "/sys/fs/cgroup/$2" ] && [ ! -f "$dir/$3" ]; do
			dir=$(dirname "$dir")
		done
		cat "$dir/$3"
	else
		rel=$(awk -F: '$1 == "0" { print $3 }' "/proc/$pid/cgroup")
		cat "/sys/fs/cgroup$rel/$3" 2>/dev/null || cat "/sys/fs/cgroup$(dirname "$rel")/$3"
	fi
}

# Terminal sessions for the interactive tests: a private tmux server (killed by cleanup), and
# $T/bin/as-admin, which runs a command as the admin user with a terminal type.
tmux_setup() {
	command -v tmux >/dev/null || skip_all "tmux is not installed (scripts/setup.sh installs it)"
	TMUX_SOCK="$T/tmux.sock"
	cat >"$T/bin/as-admin" <<EOF
#!/bin/sh
exec setpriv --reuid=$ADMIN_USER --regid=$(id -g "$ADMIN_USER") --init-groups env HOME=$T/home CAIRN_DIR=$CAIRN_DIR PATH=$PATH TERM=xterm "\$@"
EOF
	chmod 0755 "$T/bin/as-admin"
}

# wait_pane REGEX: waits up to 10 s for tmux window "t" to show a line matching REGEX.
wait_pane() {
	local i
	for i in $(seq 1 100); do
		tmux -S "$TMUX_SOCK" capture-pane -p -t t | grep -qE -- "$1" && return 0
		sleep 0.1
	done
	diag "pane:" "$(tmux -S "$TMUX_SOCK" capture-pane -p -t t)"
	return 1
}
