#!/usr/bin/env bash
# Whole or absent: SIGKILL of cairnd inside a snapshot create, delete, rename, restore or copy.
# After the restart every snapshot is fully there or fully absent, the instance works, a restore
# or rename that had begun is finished, and a half copy is gone.
. "$(dirname "$0")/lib.sh"
setup

POOL="$CAIRN_DIR/storage-pools/default"
vol="$POOL/containers/c1/rootfs"

snap_names() {
	as_admin cairn snapshot list "$1" --format csv | cut -d, -f1 | tr '\n' ' ' | sed 's/ $//'
}

disk_snaps() {
	ls -A "$POOL/containers-snapshots/$1" 2>/dev/null | sort | tr '\n' ' ' | sed 's/ $//'
}

journal() {
	sqlite3 "$CAIRN_DIR/database/cairn.db" 'SELECT count(*) FROM pending' 2>/dev/null || echo "?"
}

# crash POINT CMD...: restarts the daemon with the crash point armed, runs CMD as the admin in
# the background, waits for the point, runs $AT_CRASH, SIGKILLs the daemon and starts it again
# (with $RESTART, start_daemon by default).
crash() {
	local point=$1
	shift
	stop_daemon
	rm -f "$CAIRN_DIR/crashpoint"
	CAIRN_CRASHPOINT=$point start_daemon
	as_admin "$@" >/dev/null 2>&1 &
	local client=$!
	if wait_crashpoint "$point"; then ok "reached $point"; else not_ok "reached $point"; fi
	[ -n "${AT_CRASH:-}" ] && eval "$AT_CRASH"
	kill_daemon
	wait "$client" 2>/dev/null
	${RESTART:-start_daemon}
}

# try_restart: starts the daemon like start_daemon, but reports whether it came up instead of
# bailing out: an entry of the journal that cannot be finished must not keep it down.
try_restart() {
	local i
	cairnd --group "$TGROUP" >>"$T/cairnd.log" 2>&1 &
	DAEMON_PID=$!
	for i in $(seq 1 100); do
		if [ -S "$CAIRN_DIR/unix.socket" ] && cairn list >/dev/null 2>&1; then
			ok "cairnd starts with an entry it cannot finish yet"
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	not_ok "cairnd starts with an entry it cannot finish yet"
	diag "$(tail -5 "$T/cairnd.log")"
	kill_daemon
}

# running: starts the daemon unless it runs.
running() {
	[ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null || start_daemon
}

command -v sqlite3 >/dev/null || diag "sqlite3 is not installed: the journal is checked through the API only"

check "init c1" as_admin cairn init busybox c1
echo base >"$vol/root/version"
check "snapshot base" as_admin cairn snapshot c1 base

# ---- create ----
for point in snapshot-create-after-row snapshot-create-after-storage; do
	crash "$point" cairn snapshot c1 k1
	check_eq "after a kill at $point the snapshot is gone from the API" "base" "$(snap_names c1)"
	check_eq "after a kill at $point the snapshot is gone from the disk" "base" "$(disk_snaps c1)"
	check "after a kill at $point the name can be used again" as_admin cairn snapshot c1 k1
	check "after a kill at $point the new snapshot restores" as_admin cairn snapshot restore c1 k1
	check "clean up k1" as_admin cairn snapshot delete c1 k1
done

# ---- delete ----
check "snapshot d1" as_admin cairn snapshot c1 d1
crash snapshot-delete-after-mark cairn snapshot delete c1 d1
check_eq "after a kill at snapshot-delete-after-mark d1 is gone from the API" "base" "$(snap_names c1)"
check_eq "after a kill at snapshot-delete-after-mark d1 is gone from the disk" "base" "$(disk_snaps c1)"

# ---- rename: rolled forward ----
for point in snapshot-rename-after-journal snapshot-rename-after-disk; do
	check "snapshot r1" as_admin cairn snapshot c1 r1
	crash "$point" cairn snapshot rename c1 r1 r2
	check_eq "after a kill at $point the rename is finished in the API" "base r2" "$(snap_names c1)"
	check_eq "after a kill at $point the rename is finished on disk" "base r2" "$(disk_snaps c1)"
	[ "$(journal)" = "?" ] || check_eq "after a kill at $point the journal is empty" "0" "$(journal)"
	check "clean up r2" as_admin cairn snapshot delete c1 r2
done

# ---- restore: the old volume is intact until the swap; rolled forward ----
for point in snapshot-restore-after-journal snapshot-restore-after-swap; do
	echo changed >"$vol/root/version"
	if [ "$point" = snapshot-restore-after-journal ]; then
		AT_CRASH='check_eq "paused at $point the old volume is intact" changed "$(cat "$vol/root/version")"'
	fi
	crash "$point" cairn restore c1 base
	AT_CRASH=
	check_eq "after a kill at $point the restore is finished" "base" "$(cat "$vol/root/version")"
	check_eq "after a kill at $point the snapshot is kept" "base" "$(snap_names c1)"
	[ "$(journal)" = "?" ] || check_eq "after a kill at $point the journal is empty" "0" "$(journal)"
	check_eq "after a kill at $point no temporary volume is left" "c1 " "$(pool_volumes)"
	check "after a kill at $point c1 starts" as_admin cairn start c1
	check_eq "after a kill at $point c1 runs" "Running" "$(api_status c1)"
	check "stop c1" as_admin cairn stop --force c1
done

# A running instance: stopped for the restore, killed after the swap, running again after.
check "start c1" as_admin cairn start c1
echo changed >"$vol/root/version"
crash snapshot-restore-after-swap cairn restore c1 base
for i in $(seq 1 50); do [ "$(api_status c1)" = Running ] && break; sleep 0.2; done
check_eq "a running instance killed mid-restore is running again" "Running" "$(api_status c1)"
check_eq "and has the snapshot's content" "base" "$(cat "$vol/root/version")"
check "stop c1 again" as_admin cairn stop --force c1

# ---- the journal: an entry goes only when its steps are done ----
# A step is made to fail with a trigger in the database. An entry that recovery cannot finish
# stays, and so does everything of its instance, until it can be finished: before, the entry
# was dropped anyway and the sweep took the renamed subvolume for an orphan and deleted it.
if command -v sqlite3 >/dev/null; then
	# sql STATEMENTS: on the daemon's database, waiting for its lock.
	sql() { sqlite3 -cmd ".timeout 5000" "$CAIRN_DIR/database/cairn.db" "$@"; }
	fail_rename="CREATE TRIGGER fail_rename BEFORE UPDATE OF name ON snapshots
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
	fail_config="CREATE TRIGGER fail_config BEFORE DELETE ON instance_config
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"

	# A rename killed after its disk step, whose row step fails at the next start.
	echo journal >"$vol/root/version"
	check "snapshot j1" as_admin cairn snapshot c1 j1
	AT_CRASH='check "make the row step fail" sql "$fail_rename"' RESTART=try_restart \
		crash snapshot-rename-after-disk cairn snapshot rename c1 j1 j2
	check_eq "a rename that cannot be finished keeps its renamed subvolume" "base j2" "$(disk_snaps c1)"
	check_eq "and its journal entry" "1" "$(journal)"
	check_fails "a snapshot operation on the instance is refused meanwhile" "" \
		as_admin cairn snapshot c1 x
	check_eq "and changes nothing" "base j2" "$(disk_snaps c1)"
	check "let the row step work" sql "DROP TRIGGER fail_rename"
	running
	check "once it can, the next snapshot operation finishes the rename first" \
		as_admin cairn snapshot c1 x
	check_eq "the rename is finished in the API" "base j2 x" "$(snap_names c1)"
	check_eq "the rename is finished on disk" "base j2 x" "$(disk_snaps c1)"
	check_eq "the entry is gone" "0" "$(journal)"
	check "the renamed snapshot restores" as_admin cairn restore c1 j2
	check_eq "with its content" "journal" "$(cat "$vol/root/version")"
	check "clean up x" as_admin cairn snapshot delete c1 x

	# A rename whose row step fails at once: the subvolume is renamed back, the entry goes.
	check "make the row step fail" sql "$fail_rename"
	check_fails "a rename whose row step fails is refused" "" \
		as_admin cairn snapshot rename c1 j2 j3
	check "let the row step work" sql "DROP TRIGGER fail_rename"
	check_eq "and changed nothing in the API" "base j2" "$(snap_names c1)"
	check_eq "nor on disk" "base j2" "$(disk_snaps c1)"
	check_eq "and left no entry" "0" "$(journal)"
	stop_daemon
	start_daemon
	check_eq "nor anything for the next start to sweep" "base j2" "$(disk_snaps c1)"
	check "clean up j2" as_admin cairn snapshot delete c1 j2

	# A restore killed after its swap, whose config step fails at the next start.
	check "config user.mark=one" as_admin cairn config set c1 user.mark=one
	echo one >"$vol/root/version"
	check "snapshot rs" as_admin cairn snapshot c1 rs
	check "config user.mark=two" as_admin cairn config set c1 user.mark=two
	echo two >"$vol/root/version"
	AT_CRASH='check "make the config step fail" sql "$fail_config"' RESTART=try_restart \
		crash snapshot-restore-after-swap cairn restore c1 rs
	check_eq "a restore that cannot be finished keeps its journal entry" "1" "$(journal)"
	check_fails "a snapshot operation on the instance is refused meanwhile" "" \
		as_admin cairn snapshot c1 x
	check "let the config step work" sql "DROP TRIGGER fail_config"
	running
	stop_daemon
	start_daemon
	check_eq "once it can, the next start finishes the restore: disk" "one" "$(cat "$vol/root/version")"
	check_eq "and config" "one" "$(as_admin cairn config get c1 user.mark)"
	check_eq "the entry is gone" "0" "$(journal)"
	check_eq "no temporary volume is left" "c1 " "$(pool_volumes)"

	# A restore whose config step fails at once: the old volume is swapped back, the entry goes.
	check "config user.mark=two again" as_admin cairn config set c1 user.mark=two
	echo two >"$vol/root/version"
	check "make the config step fail" sql "$fail_config"
	check_fails "a restore whose config step fails is refused" "" as_admin cairn restore c1 rs
	check "let the config step work" sql "DROP TRIGGER fail_config"
	check_eq "and changed nothing on disk" "two" "$(cat "$vol/root/version")"
	check_eq "nor in the config" "two" "$(as_admin cairn config get c1 user.mark)"
	check_eq "and left no entry" "0" "$(journal)"
	check "clean up rs" as_admin cairn snapshot delete c1 rs
	check "config unset user.mark" as_admin cairn config unset c1 user.mark
	check_eq "c1 is back to its one snapshot" "base" "$(snap_names c1)"
else
	diag "sqlite3 is not installed: the failing steps of the journal are not tested"
fi

# ---- copy: a half copy is removed ----
check "snapshot s2" as_admin cairn snapshot c1 s2
for point in copy-after-snapshots copy-after-volume; do
	crash "$point" cairn copy c1 c2
	check_eq "after a kill at $point c2 is gone from the API" "" "$(api_status c2)"
	check_eq "after a kill at $point no volume of c2 is left" "c1 " "$(pool_volumes)"
	check "after a kill at $point no snapshot of c2 is left" test ! -e "$POOL/containers-snapshots/c2"
	check "after a kill at $point the copy works" as_admin cairn copy c1 c2
	check_eq "after a kill at $point the copy has the snapshots" "base s2" "$(snap_names c2)"
	check "clean up c2" as_admin cairn delete c2
done

check_eq "c1's snapshots survived it all" "base s2" "$(snap_names c1)"
check "c1 starts at the end" as_admin cairn start c1

finish
