#!/usr/bin/env bash
# Storage pools: create and delete (refused while in use, naming the users; a loop-file pool's
# image and mount point go with it), set/get/unset/edit with bad keys and values refused and
# nothing changed, sources that are relative, hold "..", or lead into CAIRN_DIR refused.
. "$(dirname "$0")/lib.sh"
[ "${CAIRN_BACKEND:-btrfs}" = btrfs ] || skip_all "pool management does not depend on the default pool's backend (run with btrfs)"
setup

pools() {
	as_admin cairn storage list --format csv 2>/dev/null | cut -d, -f1 | sort | tr '\n' ' '
}

# ---- sources ----
check_fails "a relative source is refused" \
	'Error: Invalid storage pool source "rel/dir": it must be an absolute path' \
	as_admin cairn storage create bad dir source=rel/dir
check_fails "a source with .. is refused" \
	"Error: Invalid storage pool source \"$T/x/../y\": it cannot hold \"..\"" \
	as_admin cairn storage create bad dir "source=$T/x/../y"
check_fails "a source inside CAIRN_DIR is refused" "" as_admin cairn storage create bad dir "source=$CAIRN_DIR/logs"
check_fails "a loop file inside CAIRN_DIR is refused" "" as_admin cairn storage create bad btrfs "source=$CAIRN_DIR/disks/other.img"
ln -s "$CAIRN_DIR" "$T/sneaky"
check_fails "a symlink into CAIRN_DIR is refused" "" as_admin cairn storage create bad dir "source=$T/sneaky/containers"
check_fails "CAIRN_DIR's parent is refused" "" as_admin cairn storage create bad dir "source=$T"
check_eq "no pool was made by the refusals" "default " "$(pools)"
check "nothing was left in logs/" test -z "$(ls -A "$CAIRN_DIR/logs")"
check "no bad pool directory is left" test ! -e "$CAIRN_DIR/storage-pools/bad"

# ---- create and delete ----
check "create a loop-file btrfs pool p1" as_admin cairn storage create p1 btrfs size=1GiB
check "its image exists" test -f "$CAIRN_DIR/disks/p1.img"
check "create a dir pool d1 on a directory of ours" as_admin cairn storage create d1 dir "source=$T/d1src"
check_eq "both are listed" "d1 default p1 " "$(pools)"
check "init c1 on p1" as_admin cairn init busybox c1 -s p1
check "init c2 on p1" as_admin cairn init busybox c2 -s p1
check_fails "deleting a pool in use is refused, naming the instances" \
	'Error: Storage pool "p1" is in use by instances "c1", "c2"' as_admin cairn storage delete p1
fp=$(api /1.0/images | jq -r '.metadata[0]' | sed 's,.*/,,' | cut -c1-12)
check_fails "deleting the default pool is refused, naming its users" \
	"Error: Storage pool \"default\" is in use by images \"$fp\"" as_admin cairn storage delete default
check "c1 still starts on p1" as_admin cairn start c1
check "stop c1" as_admin cairn stop --force c1
check "delete c1 and c2" as_admin cairn delete c1 c2
check "delete p1" as_admin cairn storage delete p1
check_eq "p1 is gone from the list" "d1 default " "$(pools)"
check "p1's image file is removed" test ! -e "$CAIRN_DIR/disks/p1.img"
check "p1's mount point is removed" test ! -e "$CAIRN_DIR/storage-pools/p1"
check "p1 is unmounted" test -z "$(awk -v p="$CAIRN_DIR/storage-pools/p1" '$2 == p' /proc/mounts)"
check_fails "deleting it again says it is not found" 'Error: Storage pool "p1" not found' as_admin cairn storage delete p1
check_fails "launching on it is refused" 'Error: Storage pool "p1" not found (named by the root disk "root" of instance "c3")' as_admin cairn init busybox c3 -s p1
check "a pool of the same name can be made again" as_admin cairn storage create p1 btrfs size=1GiB
check "delete d1" as_admin cairn storage delete d1
check "d1's directory of ours is kept, emptied of cairn's directories" test -d "$T/d1src" -a ! -e "$T/d1src/containers"

# A delete killed after its row: the files go at the next start.
# kill_during_delete POOL LABEL: deletes POOL, kills the daemon once its row is gone, restarts it.
kill_during_delete() {
	stop_daemon
	rm -f "$CAIRN_DIR/crashpoint"
	CAIRN_CRASHPOINT=pool-delete-after-row start_daemon
	as_admin cairn storage delete "$1" >/dev/null 2>&1 &
	local client=$!
	if wait_crashpoint pool-delete-after-row; then ok "$2"; else not_ok "$2"; fi
	kill_daemon
	wait "$client" 2>/dev/null
	start_daemon
}
kill_during_delete p1 "reached pool-delete-after-row"
check_eq "after a kill at pool-delete-after-row p1 is gone" "default " "$(pools)"
check "after a kill at pool-delete-after-row its image is removed" test ! -e "$CAIRN_DIR/disks/p1.img"
check "after a kill at pool-delete-after-row its mount point is removed" test ! -e "$CAIRN_DIR/storage-pools/p1"

# The same with a dir pool bound from a directory of the user's on the same filesystem as
# CAIRN_DIR (a bind mount has its parent's device number): the recovery must see the mount and
# keep the user's files.
mkdir -p "$T/d2src"
chown "$ADMIN_USER" "$T/d2src"
echo precious >"$T/d2src/mine.txt"
check "create a dir pool d2 on a directory holding a file of ours" \
	as_admin cairn storage create d2 dir "source=$T/d2src"
kill_during_delete d2 "d2: reached pool-delete-after-row"
check_eq "after a kill at pool-delete-after-row d2 is gone" "default " "$(pools)"
check_eq "the user's file in d2's source is still there" precious "$(cat "$T/d2src/mine.txt" 2>/dev/null)"
check "d2's mount point is unmounted and removed" test ! -e "$CAIRN_DIR/storage-pools/d2"

# ---- set / get / unset / edit ----
check "create p2 (1GiB)" as_admin cairn storage create p2 btrfs size=1GiB
check_eq "get size" "1.00GiB" "$(as_admin cairn storage get p2 size)"
total() { api /1.0/storage-pools/p2/resources | jq -r '.metadata.space.total'; }
before=$(total)
check "grow p2 to 2GiB" as_admin cairn storage set p2 size=2GiB
check_eq "get size after growing" "2.00GiB" "$(as_admin cairn storage get p2 size)"
check "the image file grew" test "$(stat -c %s "$CAIRN_DIR/disks/p2.img")" -eq $((2 << 30))
after=$(total)
check "the filesystem grew ($before -> $after bytes)" test "$after" -gt $((before + (512 << 20)))
check_fails "shrinking is refused" 'Error: Storage pool "p2" cannot shrink (its size is 2.00GiB)' as_admin cairn storage set p2 size=1GiB
check_fails "a bad size is refused" "" as_admin cairn storage set p2 size=lots
check_fails "changing the source is refused" 'Error: Storage pool key "source" cannot be changed after creation' as_admin cairn storage set p2 source=/tmp/elsewhere.img
check_fails "an unknown key is refused by name" 'Error: Unknown or read-only storage pool key "volume.size" (only size can be set after creation)' as_admin cairn storage set p2 volume.size=1GiB
check_fails "unsetting the size of a loop pool is refused" 'Error: Storage pool key "size" cannot be unset (storage pool "p2" is a loop file)' as_admin cairn storage unset p2 size
check_fails "unsetting the source is refused" 'Error: Storage pool key "source" cannot be unset (storage pool "p2")' as_admin cairn storage unset p2 source
check_fails "unsetting a key that is not set is refused" 'Error: Storage pool key "nope" is not set' as_admin cairn storage unset p2 nope
check_eq "after the refusals the size is unchanged" "2.00GiB" "$(as_admin cairn storage get p2 size)"
check "set a description" as_admin cairn storage set p2 description=fast
check_eq "get the description" "fast" "$(as_admin cairn storage get p2 description)"
show=$(as_admin cairn storage show p2)
check_match "show has the description" "^description: fast" "$show"
check_match "show has the driver" "^driver: btrfs" "$show"
check "edit the description from stdin" sh -c "as_admin() { :; }; printf 'description: slow\nconfig:\n  source: $CAIRN_DIR/disks/p2.img\n  size: 2.00GiB\n' | setpriv --reuid=$ADMIN_USER --regid=$(id -g "$ADMIN_USER") --init-groups env CAIRN_DIR=$CAIRN_DIR PATH=$PATH cairn storage edit p2"
check_eq "the edit is applied" "slow" "$(as_admin cairn storage get p2 description)"
check_fails "an edit with an unknown key is refused" "" sh -c "printf 'config:\n  source: $CAIRN_DIR/disks/p2.img\n  size: 2.00GiB\n  bogus: 1\n' | cairn storage edit p2"
check_fails "an edit that drops the size is refused" "" sh -c "printf 'config:\n  source: $CAIRN_DIR/disks/p2.img\n' | cairn storage edit p2"
check_eq "after the refused edits the description is unchanged" "slow" "$(as_admin cairn storage get p2 description)"
check "create a dir pool d2" as_admin cairn storage create d2 dir
check_fails "a size on a pool without a loop file is refused" \
	'Error: Storage pool "d2" has no loop file: its size is its device'"'"'s or filesystem'"'"'s' \
	as_admin cairn storage set d2 size=20GiB
check_eq "d2 has no size after the refusal" "" "$(as_admin cairn storage get d2 size)"
check "delete d2" as_admin cairn storage delete d2
check "d2's own directory is removed" test ! -e "$CAIRN_DIR/storage-pools/d2"
check_fails "show of an unknown pool" 'Error: Storage pool "nope" not found' as_admin cairn storage show nope
check_fails "the outsider cannot delete a pool" "" as_outsider cairn storage delete p2
check "delete p2" as_admin cairn storage delete p2

finish
