#!/usr/bin/env bash
# The cairn-fork helper that starts containers and runs commands in them: linked with liblxc
# only, found next to cairnd or in an install's libexec, and a clear refusal that changes
# nothing when it is missing or cannot be run.
. "$(dirname "$0")/lib.sh"
[ "${CAIRN_BACKEND:-btrfs}" = btrfs ] || skip_all "the helper does not depend on the storage backend"
setup

HELPER="$T/bin/cairn-fork"

needed=$(readelf -d "$HELPER" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
check_eq "cairn-fork needs liblxc and libc only" "libc.so.6 liblxc.so.1 " "$needed"
check_fails "cairn-fork run by hand says what it is" \
	"Error: this is the helper cairnd runs to start containers and run commands in them, not a command" \
	"$HELPER"

check "launch c1 with the helper next to cairnd" as_admin cairn launch busybox c1
check_eq "c1 runs" "Running" "$(api_status c1)"
check "exec in c1" as_admin cairn exec c1 -- true
check "init c2 (stopped)" as_admin cairn init busybox c2

# Not executable: every start and exec is refused with the helper's path, and nothing changes.
chmod 0644 "$HELPER"
check_fails "start with a helper that is not executable" \
	"Error: Failed to start instance \"c2\": the helper program \"$HELPER\" is not executable" \
	as_admin cairn start c2
check_eq "c2 stays stopped" "Stopped" "$(api_status c2)"
check_fails "exec with a helper that is not executable names it" \
	"Error: Failed to run a command in instance \"c1\": the helper program \"$HELPER\" is not executable" \
	as_admin cairn exec c1 -- true
check_fails "launch with a helper that is not executable" \
	"Error: Failed to start instance \"c3\": the helper program \"$HELPER\" is not executable" \
	as_admin cairn launch busybox c3
check_eq "c1 keeps running" "Running" "$(api_status c1)"
chmod 0755 "$HELPER"
check "start c2 once the helper is back" as_admin cairn start c2
check "stop c2" as_admin cairn stop --force c2

# Missing: CAIRN_FORK_HELPER names a file that is not there; the daemon says so at start.
stop_daemon
CAIRN_FORK_HELPER="$T/nowhere/cairn-fork" start_daemon
check_match "the daemon's log says instances cannot start" \
	"Instances cannot be started nor commands run in them: the helper program \"$T/nowhere/cairn-fork\" is missing" \
	"$(cat "$T/cairnd.log")"
check_fails "start with a missing helper" \
	"Error: Failed to start instance \"c2\": the helper program \"$T/nowhere/cairn-fork\" is missing: No such file or directory" \
	as_admin cairn start c2
check_eq "c2 stays stopped" "Stopped" "$(api_status c2)"
stop_daemon
mkdir -p "$T/dir-helper/cairn-fork"
CAIRN_FORK_HELPER="$T/dir-helper/cairn-fork" start_daemon
check_fails "a directory is no helper" \
	"Error: Failed to start instance \"c2\": the helper program \"$T/dir-helper/cairn-fork\" is not executable" \
	as_admin cairn start c2
stop_daemon

# A helper that runs but fails: the start is refused and the power state and last-used time
# the start recorded while the helper ran are put back.
printf '#!/bin/sh\necho "stand-in helper failing" >&2\nexit 1\n' >"$T/failing-helper"
chmod 0755 "$T/failing-helper"
CAIRN_FORK_HELPER="$T/failing-helper" start_daemon
before=$(curl -s --unix-socket "$CAIRN_DIR/unix.socket" http://cairn/1.0/instances/c2 |
	jq -c '[.metadata.config["volatile.last_state.power"], .metadata.last_used_at]')
check_fails "a start whose helper fails is refused" "" as_admin cairn start c2
check_eq "c2 stays stopped" "Stopped" "$(api_status c2)"
check_eq "c2's power state and last-used time are as before" "$before" \
	"$(curl -s --unix-socket "$CAIRN_DIR/unix.socket" http://cairn/1.0/instances/c2 |
		jq -c '[.metadata.config["volatile.last_state.power"], .metadata.last_used_at]')"
stop_daemon

# A cairnd copied without its helper: next to it there is nothing, so it looks where an install
# puts it. Unless this host has cairn installed there, the start is refused naming that path.
mkdir -p "$T/alone"
cp "$T/bin/cairnd" "$T/alone/"
PATH="$T/alone:$PATH" start_daemon
configured=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$SRC_BIN/CMakeCache.txt" 2>/dev/null)
libexec=$(sed -n 's/^CMAKE_INSTALL_LIBEXECDIR:PATH=//p' "$SRC_BIN/CMakeCache.txt" 2>/dev/null)
case $libexec in /*) ;; *) libexec="$configured/$libexec" ;; esac
if [ -n "$configured" ] && [ ! -e "$libexec/cairn/cairn-fork" ]; then
	check_fails "a cairnd without its helper refuses the start, naming the configured path" \
		"Error: Failed to start instance \"c2\": the helper program \"$libexec/cairn/cairn-fork\" is missing: No such file or directory" \
		as_admin cairn start c2
else
	ok "# SKIP this host has a helper installed at $libexec/cairn (or no CMakeCache.txt)"
fi
stop_daemon

# `cmake --install` to a prefix of its own: the helper lands in its libexec, and the installed
# cairnd, with no helper next to it, uses that one.
if [ -f "$SRC_BIN/cmake_install.cmake" ] && command -v cmake >/dev/null; then
	rel=$(sed -n 's/^CMAKE_INSTALL_LIBEXECDIR:PATH=//p' "$SRC_BIN/CMakeCache.txt")
	case $rel in /*) rel=libexec ;; esac
	check "cmake --install to a temporary prefix" cmake --install "$SRC_BIN" --prefix "$T/prefix"
	check "the helper is installed under $rel/cairn" test -x "$T/prefix/$rel/cairn/cairn-fork"
	check "cairnd is installed under bin" test -x "$T/prefix/bin/cairnd"
	check "no helper next to the installed cairnd" test ! -e "$T/prefix/bin/cairn-fork"
	PATH="$T/prefix/bin:$PATH" start_daemon --debug
	check_match "the installed cairnd uses the installed helper" \
		"Helper program: $T/prefix/$rel/cairn/cairn-fork( |$)" "$(cat "$T/cairnd.log")"
	check "the installed cairnd starts c2" as_admin cairn start c2
	check_eq "c2 runs" "Running" "$(api_status c2)"
	check "exec in c2 through the installed helper" as_admin cairn exec c2 -- true
	check "stop everything" as_admin cairn stop --force c1 c2
else
	ok "# SKIP no build directory to install from ($SRC_BIN)"
fi

finish
