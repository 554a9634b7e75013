#!/usr/bin/env bash
# Rename and move on one host: an instance renamed with its snapshots (names, times, expiry,
# content), refusals that change nothing, a SIGKILL at each step of a rename (exactly one whole
# instance after the restart, which starts), and a move with its snapshots between a btrfs and a
# dir pool, killed before and after its switch.
. "$(dirname "$0")/lib.sh"
setup

snap_rows() {
	as_admin cairn snapshot list "$1" --format csv 2>/dev/null | cut -d, -f1,2,3 | sort | tr '\n' ' '
}

api_snaps() {
	api "/1.0/instances/$1/snapshots?recursion=1" |
		jq -r '.metadata | map("\(.name) \(.created_at) \(.expires_at) \(.scheduled // "")") | sort | join(",")'
}

vol_of() {
	local pool
	pool=$(api "/1.0/instances/$1" | jq -r '.metadata.expanded_devices.root.pool // .metadata.devices.root.pool // "default"')
	echo "$CAIRN_DIR/storage-pools/$pool/containers/$1"
}

journal() {
	sqlite3 "$CAIRN_DIR/database/cairn.db" 'SELECT count(*) FROM pending' 2>/dev/null || echo "?"
}

names() {
	as_admin cairn list --format csv -c n 2>/dev/null | sort | tr '\n' ' '
}

check "init c1" as_admin cairn init busybox c1
echo one >"$(vol_of c1)/rootfs/root/version"
check "snapshot s1 of c1 (expires)" as_admin cairn snapshot create c1 s1 --expiry "2d"
echo two >"$(vol_of c1)/rootfs/root/version"
check "snapshot s2 of c1" as_admin cairn snapshot create c1 s2
before=$(api_snaps c1)

# ---- rename ----
check "rename c1 to r1" as_admin cairn rename c1 r1
check_eq "r1 is listed, c1 is not" "r1 " "$(names)"
check_eq "the snapshots keep names, times and expiry" "$before" "$(api_snaps r1)"
check_eq "the volume moved" "two" "$(cat "$CAIRN_DIR/storage-pools/default/containers/r1/rootfs/root/version")"
check_eq "the snapshots moved" "s1 s2" "$(ls "$CAIRN_DIR/storage-pools/default/containers-snapshots/r1" | tr '\n' ' ' | sed 's/ $//')"
check "no snapshot directory of c1 is left" test ! -e "$CAIRN_DIR/storage-pools/default/containers-snapshots/c1"
check "the link follows" test "$(readlink "$CAIRN_DIR/containers/r1")" = "$CAIRN_DIR/storage-pools/default/containers/r1"
check "no link of c1 is left" test ! -e "$CAIRN_DIR/containers/c1" -a ! -L "$CAIRN_DIR/containers/c1"
check "the log directory follows" test -d "$CAIRN_DIR/logs/r1" -a ! -e "$CAIRN_DIR/logs/c1"
check_match "backup.yaml names r1" "^name: r1" "$(cat "$CAIRN_DIR/storage-pools/default/containers/r1/backup.yaml")"
info=$(as_admin cairn info r1)
check_match "info r1 lists s1 with its expiry" "^  s1 \(taken at .*\) \(expires at .*\) \(stateless\)" "$info"
check_match "info r1 lists s2" "^  s2 \(taken at .*\) \(stateless\)" "$info"
check "a snapshot of r1 restores with the old content" as_admin cairn snapshot restore r1 s1
check_eq "r1 has s1's content" "one" "$(cat "$CAIRN_DIR/storage-pools/default/containers/r1/rootfs/root/version")"
check "r1 starts" as_admin cairn start r1
check_eq "r1 runs" "Running" "$(api_status r1)"
check_eq "r1 runs from its own rootfs" "one" "$(as_admin cairn exec r1 -- cat /root/version)"

# ---- refusals change nothing ----
post_code() {
	curl -s -o /dev/null -w '%{http_code}' --unix-socket "$CAIRN_DIR/unix.socket" -X POST -d "$2" "http://cairn/1.0/instances/$1"
}
check_fails "renaming a running instance is refused" "Error: Renaming of running instance not allowed" as_admin cairn rename r1 r2
check_eq "with a 400, as Incus answers it" 400 "$(post_code r1 '{"name":"r2"}')"
check "stop r1" as_admin cairn stop --force r1
check "init other" as_admin cairn init busybox other
check_fails "renaming onto an existing instance is refused" 'Error: Instance "other" already exists' as_admin cairn rename r1 other
check_fails "renaming onto itself is refused" 'Error: Instance "r1" already exists' as_admin cairn rename r1 r1
check_fails "an invalid new name is refused" "" as_admin cairn rename r1 -bad
check_eq "an all-digit new name is refused by the daemon too" 400 "$(post_code r1 '{"name":"123"}')"
check_eq "a new name with a slash is refused by the daemon" 400 "$(post_code r1 '{"name":"../x"}')"
check_eq "a rename and a move at once are refused" 400 "$(post_code r1 '{"name":"r9","pool":"default"}')"
check_eq "an empty request is refused" 400 "$(post_code r1 '{}')"
check_fails "renaming an unknown instance is refused" 'Error: Instance "nope" not found' as_admin cairn rename nope n2
check_eq "after the refusals r1 and other are as they were" "other r1 " "$(names)"
check_eq "r1 keeps its snapshots" "$before" "$(api_snaps r1)"
check "delete other" as_admin cairn delete other
if command -v sqlite3 >/dev/null; then
	sql() { sqlite3 -cmd ".timeout 5000" "$CAIRN_DIR/database/cairn.db" "$@"; }
	sql "INSERT INTO pending (kind, instance, a, b, flags) VALUES ('snapshot-rename', 'r1', 'zz', 'zz2', 0)"
	check_fails "a rename is refused while the instance has an unfinished operation" \
		'Error: Instance "r1" has an unfinished operation (it is finished by its next snapshot operation or the next start of cairnd)' \
		as_admin cairn rename r1 r2
	sql "DELETE FROM pending WHERE instance = 'r1'"
	check_eq "and r1 is as it was" "r1 " "$(names)"
fi

# ---- crash points: rolled forward, exactly one whole instance ----
cur=r1
n=0
for point in rename-after-journal rename-after-volume rename-before-commit; do
	n=$((n + 1))
	new="k$n"
	stop_daemon
	rm -f "$CAIRN_DIR/crashpoint"
	CAIRN_CRASHPOINT=$point start_daemon
	as_admin cairn rename "$cur" "$new" >/dev/null 2>&1 &
	client=$!
	if wait_crashpoint "$point"; then ok "reached $point"; else not_ok "reached $point"; fi
	kill_daemon
	wait "$client" 2>/dev/null
	start_daemon
	check_eq "after a kill at $point exactly $new exists" "$new " "$(names)"
	check_eq "after a kill at $point the snapshots are $new's" "$before" "$(api_snaps "$new")"
	check_eq "after a kill at $point the snapshots are on disk under $new" "s1 s2" \
		"$(ls "$CAIRN_DIR/storage-pools/default/containers-snapshots/$new" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
	check_eq "after a kill at $point only $new's volume is left" "$new " "$(pool_volumes)"
	[ "$(journal)" = "?" ] || check_eq "after a kill at $point the journal is empty" "0" "$(journal)"
	check "after a kill at $point $new starts" as_admin cairn start "$new"
	check_eq "after a kill at $point $new runs" "Running" "$(api_status "$new")"
	check "stop $new" as_admin cairn stop --force "$new"
	cur=$new
done

check "move OLD NEW renames too" as_admin cairn move "$cur" m1
check_eq "after move OLD NEW only m1 exists" "m1 " "$(names)"
check_fails "move without a new name or a pool is refused" "" as_admin cairn move m1
cur=m1

# ---- move between pools ----
if [ "$BACKEND" = btrfs ]; then other_driver=dir; else other_driver=btrfs; fi
other_ok=1
if [ "$other_driver" = btrfs ] && ! grep -qw btrfs /proc/filesystems; then other_ok=0; fi
if [ $other_ok = 1 ]; then
	check "create a $other_driver pool p2" as_admin cairn storage create p2 "$other_driver" size=1GiB
	check "move $cur to p2" as_admin cairn move "$cur" --storage p2
	check_eq "$cur is on p2" "p2" "$(api "/1.0/instances/$cur" | jq -r '.metadata.expanded_devices.root.pool // .metadata.devices.root.pool')"
	check_eq "the snapshots keep times, expiry and kind" "$before" "$(api_snaps "$cur")"
	check_eq "the snapshots are on p2" "s1 s2" "$(ls "$CAIRN_DIR/storage-pools/p2/containers-snapshots/$cur" | tr '\n' ' ' | sed 's/ $//')"
	check "nothing of $cur is left on default" test ! -e "$CAIRN_DIR/storage-pools/default/containers/$cur" -a ! -e "$CAIRN_DIR/storage-pools/default/containers-snapshots/$cur"
	check "the link points into p2" test "$(readlink "$CAIRN_DIR/containers/$cur")" = "$CAIRN_DIR/storage-pools/p2/containers/$cur"
	check "$cur starts on p2" as_admin cairn start "$cur"
	check_eq "$cur has its content on p2" "one" "$(as_admin cairn exec "$cur" -- cat /root/version)"
	check_fails "moving a running instance is refused" "Error: Moving of running instance not allowed" as_admin cairn move "$cur" --storage default
	check "stop $cur" as_admin cairn stop --force "$cur"
	check "restore s2 on p2" as_admin cairn snapshot restore "$cur" s2
	check_eq "s2's content on p2" "two" "$(cat "$CAIRN_DIR/storage-pools/p2/containers/$cur/rootfs/root/version")"
	check_fails "moving to the pool it is on is refused" "Error: Instance \"$cur\" is already on storage pool \"p2\"" as_admin cairn move "$cur" --storage p2
	check_fails "moving to an unknown pool is refused" 'Error: Storage pool "nope" not found' as_admin cairn move "$cur" --storage nope

	# Killed before the switch: the source is the truth, the copy goes.
	for point in move-after-snapshots move-after-copy move-after-switch; do
		src=$(api "/1.0/instances/$cur" | jq -r '.metadata.expanded_devices.root.pool // .metadata.devices.root.pool')
		if [ "$src" = p2 ]; then dst=default; else dst=p2; fi
		stop_daemon
		rm -f "$CAIRN_DIR/crashpoint"
		CAIRN_CRASHPOINT=$point start_daemon
		as_admin cairn move "$cur" --storage "$dst" >/dev/null 2>&1 &
		client=$!
		if wait_crashpoint "$point"; then ok "reached $point"; else not_ok "reached $point"; fi
		kill_daemon
		wait "$client" 2>/dev/null
		start_daemon
		if [ "$point" = move-after-switch ]; then want=$dst; gone=$src; else want=$src; gone=$dst; fi
		check_eq "after a kill at $point $cur is on $want" "$want" "$(api "/1.0/instances/$cur" | jq -r '.metadata.expanded_devices.root.pool // .metadata.devices.root.pool')"
		check "after a kill at $point nothing of $cur is on $gone" test ! -e "$CAIRN_DIR/storage-pools/$gone/containers/$cur" -a ! -e "$CAIRN_DIR/storage-pools/$gone/containers-snapshots/$cur"
		check_eq "after a kill at $point the snapshots are whole" "$before" "$(api_snaps "$cur")"
		check_eq "after a kill at $point the snapshots are on $want" "s1 s2" "$(ls "$CAIRN_DIR/storage-pools/$want/containers-snapshots/$cur" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
		[ "$(journal)" = "?" ] || check_eq "after a kill at $point the journal is empty" "0" "$(journal)"
		check "after a kill at $point $cur starts" as_admin cairn start "$cur"
		check_eq "after a kill at $point $cur has its content" "two" "$(as_admin cairn exec "$cur" -- cat /root/version)"
		check "stop $cur" as_admin cairn stop --force "$cur"
	done
else
	diag "no btrfs here: the move between drivers is not tested"
fi


# ---- copy --refresh within one daemon (the migration stream through a pipe) ----
lsnaps() { # NAME: name,created_at,expires_at of its snapshots
	api "/1.0/instances/$1/snapshots?recursion=1" |
		jq -r '.metadata | map("\(.name),\(.created_at),\(.expires_at)") | sort | join(" ")'
}
snapdir() { # NAME SNAP: the snapshot's tree
	echo "$(dirname "$(dirname "$(vol_of "$1")")")/containers-snapshots/$1/$2"
}
hidden() { # what hidden (temporary) volumes a crash could leave
	ls -A "$CAIRN_DIR/storage-pools/default/containers" "$(dirname "$(snapdir "$1" x)")" 2>/dev/null | grep '^\.' | tr '\n' ' '
}
check "init l1" as_admin cairn init busybox l1
echo a >"$(vol_of l1)/rootfs/root/v"
check "snapshot l1/a" as_admin cairn snapshot create l1 a --expiry 2d
check "copy --refresh onto a missing target makes it" as_admin cairn copy l1 l2 --refresh -q
check_eq "l2 has l1's snapshots with their times and expiry" "$(lsnaps l1)" "$(lsnaps l2)"
echo b >"$(vol_of l1)/rootfs/root/v"
check "snapshot l1/b" as_admin cairn snapshot create l1 b
echo c >"$(vol_of l1)/rootfs/root/v"
A_INODE=$(stat -c %i "$(snapdir l2 a)/rootfs/root/v")
check "copy --refresh l1 l2" as_admin cairn copy l1 l2 --refresh -q
check_eq "the new snapshot arrived" "$(lsnaps l1)" "$(lsnaps l2)"
check_eq "l2's volume is l1's" c "$(cat "$(vol_of l2)/rootfs/root/v")"
check_eq "b's data" b "$(cat "$(snapdir l2 b)/rootfs/root/v")"
check_eq "a was not sent again" "$A_INODE" "$(stat -c %i "$(snapdir l2 a)/rootfs/root/v")"
check "delete l1/a" as_admin cairn delete l1/a
check "refresh without --refresh-prune" as_admin cairn copy l1 l2 --refresh -q
check_match "keeps a on l2" '^a,' "$(lsnaps l2)"
check "refresh --refresh-prune" as_admin cairn copy l1 l2 --refresh-prune -q
check_eq "removes it" "$(lsnaps l1)" "$(lsnaps l2)"
check "snapshot l1/x" as_admin cairn snapshot create l1 x
sleep 1
check "snapshot l2/mine, newer" as_admin cairn snapshot create l2 mine
check "refresh --refresh-exclude-older" as_admin cairn copy l1 l2 --refresh-exclude-older -q
check_eq "x, older than l2's newest snapshot, was skipped" "" "$(lsnaps l2 | tr ' ' '\n' | grep '^x,')"
check "a plain refresh" as_admin cairn copy l1 l2 --refresh -q
check_match "sends it" '(^| )x,' "$(lsnaps l2)"
check_match "and keeps l2's own" '(^| )mine,' "$(lsnaps l2)"
check "delete l2/mine" as_admin cairn delete l2/mine
check "start l2" as_admin cairn start l2
before_l2=$(lsnaps l2)
check_fails "a refresh into a running target is refused" \
	'Error: Instance "l2" is running on the target: stop it before a refresh' as_admin cairn copy l1 l2 --refresh
check_eq "and changes nothing" "$before_l2" "$(lsnaps l2)"
check "stop l2" as_admin cairn stop --force l2
check_fails "a refresh from itself is refused" 'Error: Instance "l1" cannot be refreshed from itself' \
	as_admin cairn copy l1 l1 --refresh
check_fails "a refresh from a snapshot is refused" \
	'Error: --refresh takes an instance, not a snapshot: a snapshot is copied into a new instance' \
	as_admin cairn copy l1/b l2 --refresh
check_fails "a plain copy onto l2 is still refused" 'Error: Instance "l2" already exists' as_admin cairn copy l1 l2

# Cut after its first new snapshot, and just before the volume's swap: whole snapshots only, the
# old volume whole; the retry finishes it.
for s in y z; do
	echo "$s" >"$(vol_of l1)/rootfs/root/v"
	as_admin cairn snapshot create l1 $s >/dev/null
done
echo w >"$(vol_of l1)/rootfs/root/v"
before_l2=$(lsnaps l2)
for point in migration-after-snapshot migration-before-swap; do
	stop_daemon
	rm -f "$CAIRN_DIR/crashpoint"
	CAIRN_CRASHPOINT=$point start_daemon
	as_admin cairn copy l1 l2 --refresh >/dev/null 2>&1 &
	client=$!
	if wait_crashpoint "$point"; then ok "local refresh reached $point"; else not_ok "local refresh reached $point"; fi
	kill_daemon
	wait "$client" 2>/dev/null
	rm -f "$CAIRN_DIR/crashpoint"
	start_daemon
	check_eq "after a kill at $point l2's volume is the old one" c "$(cat "$(vol_of l2)/rootfs/root/v")"
	check_eq "after a kill at $point no temporary volume is left" "" "$(hidden l2)"
	if [ $point = migration-after-snapshot ]; then
		check_eq "after a kill at $point y is whole and z absent" "$before_l2 $(lsnaps l1 | tr ' ' '\n' | grep '^y,')" "$(lsnaps l2)"
		check_eq "y's data" y "$(cat "$(snapdir l2 y)/rootfs/root/v")"
	else
		check_eq "after a kill at $point the snapshots are whole" "$(lsnaps l1)" "$(lsnaps l2)"
	fi
done
check "the retried refresh" as_admin cairn copy l1 l2 --refresh -q
check_eq "every snapshot" "$(lsnaps l1)" "$(lsnaps l2)"
check_eq "the new volume" w "$(cat "$(vol_of l2)/rootfs/root/v")"
check "l2 starts" as_admin cairn start l2
check_eq "from its refreshed rootfs" w "$(as_admin cairn exec l2 -- cat /root/v)"
check "stop l2" as_admin cairn stop --force l2

finish
