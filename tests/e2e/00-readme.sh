#!/usr/bin/env bash
# The README's two commands, verbatim, in a scratch copy of the tree, in both orders and
# repeated: set-up leaves a running daemon with a launched and snapshotted container, and the
# test command configures what it needs and fails when ctest finds no test. The install prefix,
# CAIRN_DIR and the daemon's log are pointed at a temporary directory.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip_all "the README's commands need root"
[ "$BACKEND" = btrfs ] || skip_all "set-up makes the default btrfs pool; nothing here depends on the backend"
grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null
grep -qw btrfs /proc/filesystems || skip_all "the kernel has no btrfs"
command -v lxc-ls >/dev/null || skip_all "LXC tools are not installed"

README_DAEMON=
had_group=false
getent group cairn-admin >/dev/null && had_group=true
readme_cleanup() {
	local rc=$?
	[ -n "$README_DAEMON" ] && kill -TERM "$README_DAEMON" 2>/dev/null
	local i
	for i in $(seq 1 100); do
		[ -n "$README_DAEMON" ] && kill -0 "$README_DAEMON" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$README_DAEMON" ] && kill -KILL "$README_DAEMON" 2>/dev/null
	$had_group || groupdel cairn-admin >/dev/null 2>&1
	(exit $rc)
	cleanup
}
trap readme_cleanup EXIT
T=$(mktemp -d /tmp/cairn-readme.XXXXXX)
chmod 0755 "$T"
export CAIRN_DIR="$T/cairn" CAIRN_PREFIX="$T/prefix" CAIRN_LOG="$T/cairnd.log"

root=$(cd "$(dirname "$0")/../.." && pwd)
# The tree as a fresh clone has it: no build directories.
mkdir "$T/src"
tar -C "$root" --exclude='./build' --exclude='./build-*' --exclude='./.git' -cf - . |
	tar -C "$T/src" -xf -
cd "$T/src" || exit 1

# The commands as the README prints them.
mapfile -t commands < <(awk '/^```sh$/ { f = 1; next } f && /^```$/ { exit } f' README.md |
	sed 's/ *#.*//')
check_eq "the README starts with two commands" 2 "${#commands[@]}"
check_eq "the first sets up" "bash scripts/setup.sh" "${commands[0]:-}"
check_eq "the second tests" "bash scripts/test.sh" "${commands[1]:-}"
setup_cmd=${commands[0]:-false}
test_cmd=${commands[1]:-false}

# One quick unit test stands for the suite (this suite is itself part of it).
one_test=(-R '^unit\.test_common_utf8$')

# Test first, on a tree never configured.
out=$($test_cmd "${one_test[@]}" 2>&1)
rc=$?
check_eq "the test command passes on a fresh tree" 0 "$rc"
check_match "and ctest ran a test" '100% tests passed, 0 tests failed out of 1' "$out"

out=$($test_cmd -R '^no-such-test$' 2>&1)
rc=$?
[ "$rc" -ne 0 ] && ok "ctest running no test is a failure" || not_ok "ctest running no test is a failure"
check_match "and says so" 'No tests were found' "$out"

# Then set-up, in the same tree.
out=$($setup_cmd 2>&1)
rc=$?
check_eq "set-up exits 0" 0 "$rc"
README_DAEMON=$(printf '%s\n' "$out" | sed -n 's/^cairnd started (pid \([0-9]*\)).*/\1/p' | head -1)
[ -n "$README_DAEMON" ] && ok "set-up started cairnd" || { not_ok "set-up started cairnd"; diag "$out"; }
cairn=$CAIRN_PREFIX/bin/cairn
check "the client is installed under the prefix" test -x "$cairn"
check "and the daemon" test -x "$CAIRN_PREFIX/bin/cairnd"
check_eq "demo is running" RUNNING "$("$cairn" list --format csv -c ns | awk -F, '$1 == "demo" { print $2 }')"
check_eq "demo has one snapshot" 1 "$("$cairn" snapshot list demo --format csv | grep -c .)"
check "the group exists" getent group cairn-admin

# Set-up again keeps what is there and adds a snapshot; the test command still runs tests.
out=$($setup_cmd 2>&1)
rc=$?
check_eq "set-up runs again" 0 "$rc"
check_match "without a second daemon" '^\| demo ' "$out"
printf '%s\n' "$out" | grep -q '^cairnd started' && not_ok "no second daemon" || ok "no second daemon"
check_eq "demo has two snapshots" 2 "$("$cairn" snapshot list demo --format csv | grep -c .)"

out=$($test_cmd "${one_test[@]}" 2>&1)
rc=$?
check_eq "the test command after set-up passes" 0 "$rc"
check_match "and ctest ran a test" '100% tests passed, 0 tests failed out of 1' "$out"

finish
