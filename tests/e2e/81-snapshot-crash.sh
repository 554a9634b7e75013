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
# the background, waits for the point, SIGKILLs the daemon and starts it again.
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
	start_daemon
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
