#!/usr/bin/env bash
# An error means nothing changed. A value that is not text is refused before it is stored; an
# update or a restore whose backup.yaml cannot be written leaves config, backup.yaml, the live
# limits and the disk as they were, and so does a kill of the daemon between the steps; a
# snapshot update answers 404 for what does not exist; a device type that cairn does not know is
# refused, not dropped.
. "$(dirname "$0")/lib.sh"
setup

POOL="$CAIRN_DIR/storage-pools/default"
vol="$POOL/containers/c1"

# Whatever a failed check left immutable must not outlive the suite (rm -rf would stop at it).
unfreeze() {
	chattr -i "$vol" "$vol/backup.yaml" 2>/dev/null
}
unfreeze_and_cleanup() {
	local rc=$?
	unfreeze
	(exit "$rc")
	cleanup
}
trap unfreeze_and_cleanup EXIT

# http METHOD PATH [BODY_FILE]: prints the HTTP status; the answer is left in $T/http.out.
http() {
	local data=()
	[ $# -ge 3 ] && data=(--data-binary "@$3")
	curl -s -o "$T/http.out" -w '%{http_code}' --unix-socket "$CAIRN_DIR/unix.socket" \
		-X "$1" "${data[@]}" "http://cairn$2"
}

# body TEXT: writes TEXT (printf format, so \xff makes a raw byte) to $T/body.json.
body() {
	# shellcheck disable=SC2059
	printf "$1" >"$T/body.json"
}

get() {
	as_admin cairn config get c1 "$1"
}

backup() {
	cat "$vol/backup.yaml" 2>/dev/null
}

# The temporary files an update left in the volume.
leftovers() {
	find "$vol" -maxdepth 1 -name '*.tmp.*' -printf '%f '
}

# Restarts the daemon with crash point $1 armed, runs the rest as the admin in the background,
# waits for the point, SIGKILLs the daemon and starts it again.
crash() {
	local point=$1
	shift
	stop_daemon
	rm -f "$CAIRN_DIR/crashpoint"
	CAIRN_CRASHPOINT=$point start_daemon
	as_admin "$@" >/dev/null 2>&1 &
	local client=$!
	if wait_crashpoint "$point"; then ok "reached $point"; else not_ok "reached $point"; fi
	kill_daemon
	wait "$client" 2>/dev/null
	start_daemon
}

check "init c1" as_admin cairn init busybox c1
check "a first value" as_admin cairn config set c1 user.k=v1

# ---- values that are not text are refused, and nothing is stored ----
before=$(as_admin cairn config show c1)
check_fails "a value that is not UTF-8 is refused" "" as_admin cairn config set c1 user.x=$'\xff'
check_fails "a value with an escape character is refused" "" as_admin cairn config set c1 user.x=$'a\x1b[2Jb'
check_eq "the refused values changed nothing" "$before" "$(as_admin cairn config show c1)"
body '{"config": {"user.x": "\xff"}}'
check_eq "PATCH with a value that is not UTF-8 is 400" 400 "$(http PATCH /1.0/instances/c1 "$T/body.json")"
check_match "with an error envelope" '"error_code": *400' "$(cat "$T/http.out")"
body '{"config": {"user.x": "a\\u001bb"}}'
check_eq "PATCH with an escape character in a value is 400" 400 "$(http PATCH /1.0/instances/c1 "$T/body.json")"
body '{"description": "\xc0\xaf"}'
check_eq "PATCH with a description that is not UTF-8 is 400" 400 "$(http PATCH /1.0/instances/c1 "$T/body.json")"
check_eq "the refused requests changed nothing" "$before" "$(as_admin cairn config show c1)"
check_match "backup.yaml kept the old config" '^  user.k: v1$' "$(backup)"
check "a valid change still works" as_admin cairn config set c1 user.k=v2
check_eq "it is stored" v2 "$(get user.k)"
check_match "and written to backup.yaml" '^  user.k: v2$' "$(backup)"
check "UTF-8 text is fine" as_admin cairn config set c1 user.name=café
check_eq "it reads back" café "$(get user.name)"

# ---- an update whose backup.yaml cannot be written changes nothing ----
# The volume takes no new file: the new backup.yaml cannot even be written beside the old one.
chattr +i "$vol"
check_fails "an update fails when backup.yaml cannot be written" "" as_admin cairn config set c1 user.k=v3
check_eq "the config is as it was" v2 "$(get user.k)"
check_match "backup.yaml is as it was" '^  user.k: v2$' "$(backup)"
unfreeze
# backup.yaml cannot be replaced: the rename fails after the database took the change.
chattr +i "$vol/backup.yaml"
check_fails "an update fails when backup.yaml cannot be replaced" "" as_admin cairn config set c1 user.k=v3
check_eq "the config was put back" v2 "$(get user.k)"
body '{"config": {"user.k": "v3"}, "description": "new"}'
check_match "PUT with a new description fails as well" '^[45][0-9][0-9]$' "$(http PUT /1.0/instances/c1 "$T/body.json")"
check_eq "the description was put back" "" "$(api /1.0/instances/c1 | jq -r .metadata.description)"
check_eq "the config too" v2 "$(get user.k)"
check_eq "no temporary file is left" "" "$(leftovers)"
unfreeze
check "after the repair the change works" as_admin cairn config set c1 user.k=v3
check_eq "it is stored" v3 "$(get user.k)"
check_match "and in backup.yaml" '^  user.k: v3$' "$(backup)"

# A running instance: the live limit is put back too.
check "limits.memory=128MiB" as_admin cairn config set c1 limits.memory=128MiB
check "start c1" as_admin cairn start c1
check_eq "the limit is applied" 134217728 "$(cgroup_value c1 memory memory.limit_in_bytes)"
chattr +i "$vol/backup.yaml"
check_fails "a live change fails when backup.yaml cannot be replaced" "" as_admin cairn config set c1 limits.memory=64MiB
check_eq "the cgroup keeps the old limit" 134217728 "$(cgroup_value c1 memory memory.limit_in_bytes)"
check_eq "the config keeps it too" 128MiB "$(get limits.memory)"
unfreeze
check "stop c1" as_admin cairn stop --force c1

# ---- a restore whose backup.yaml cannot be written changes nothing ----
check "user.state=before" as_admin cairn config set c1 user.state=before
echo before >"$vol/rootfs/root/marker"
check "snapshot good" as_admin cairn snapshot c1 good
# A snapshot in which backup.yaml is a directory: the restored backup.yaml cannot go there.
mv "$vol/backup.yaml" "$T/backup.yaml.saved"
mkdir "$vol/backup.yaml" && touch "$vol/backup.yaml/keep"
check "snapshot broken" as_admin cairn snapshot c1 broken
rm -r "$vol/backup.yaml" && mv "$T/backup.yaml.saved" "$vol/backup.yaml"
broken="broken"
if [ "$BACKEND" = btrfs ]; then
	# An immutable backup.yaml stays immutable in the snapshot and in a restore of it.
	chattr +i "$vol/backup.yaml"
	check "snapshot frozen" as_admin cairn snapshot c1 frozen
	unfreeze
	broken="broken frozen"
fi
check "user.state=after" as_admin cairn config set c1 user.state=after
echo after >"$vol/rootfs/root/marker"
for snap in $broken; do
	check_fails "restore of $snap fails when backup.yaml cannot be written" "" as_admin cairn restore c1 "$snap"
	check_eq "after the failed restore of $snap the disk is as it was" after "$(cat "$vol/rootfs/root/marker")"
	check_eq "after the failed restore of $snap the config is as it was" after "$(get user.state)"
	check_match "after the failed restore of $snap backup.yaml is as it was" '^  user.state: after$' "$(backup)"
	check_eq "after the failed restore of $snap no temporary volume is left" "c1 " "$(pool_volumes)"
done
check "start c1" as_admin cairn start c1
check_fails "restore of a running instance fails the same way" "" as_admin cairn restore c1 broken
check_eq "and the instance runs again" Running "$(api_status c1)"
check_eq "on its old disk" after "$(cat "$vol/rootfs/root/marker")"
check "stop c1" as_admin cairn stop --force c1
check "a good restore works" as_admin cairn restore c1 good
check_eq "the disk is restored" before "$(cat "$vol/rootfs/root/marker")"
check_eq "the config is restored" before "$(get user.state)"
check_match "backup.yaml is restored" '^  user.state: before$' "$(backup)"
check "the broken snapshots can be deleted" as_admin cairn snapshot delete c1 broken

# ---- a full pool: the same, with the errors a user meets ----
if [ "$BACKEND" = btrfs ]; then
	check "user.state=full" as_admin cairn config set c1 user.state=full
	echo full >"$vol/rootfs/root/marker"
	# btrfs reserves data space for any write, however small, so a pool whose data space is
	# taken refuses the new backup.yaml (the dir driver's pool is the host's file system).
	fallocate -l "$(df -B1 --output=avail "$POOL" | tail -1)" "$POOL/fill" 2>/dev/null
	dd if=/dev/zero of="$POOL/fill2" bs=1M status=none 2>/dev/null
	check_fails "config set on a full pool fails" "" as_admin cairn config set c1 user.k=full
	check_eq "the config is as it was" v3 "$(get user.k)"
	check_match "backup.yaml is as it was" '^  user.k: v3$' "$(backup)"
	check_fails "restore on a full pool fails" "" as_admin cairn restore c1 good
	check_eq "the disk is as it was" full "$(cat "$vol/rootfs/root/marker")"
	check_eq "the config is as it was" full "$(get user.state)"
	check_match "backup.yaml is as it was" '^  user.state: full$' "$(backup)"
	check_eq "no temporary volume or file is left" "c1 " "$(pool_volumes)$(leftovers)"
	rm -f "$POOL/fill" "$POOL/fill2"
	sync
	check "with space again the restore works" as_admin cairn restore c1 good
	check_eq "the disk is restored" before "$(cat "$vol/rootfs/root/marker")"
	check_eq "the config is restored" before "$(get user.state)"
fi

# ---- a kill between the steps of an update ----
crash update-after-prepare cairn config set c1 user.k=crash1
check_eq "after a kill at update-after-prepare the old value stays" v3 "$(get user.k)"
check_match "and backup.yaml agrees" '^  user.k: v3$' "$(backup)"
check_eq "and no temporary file is left" "" "$(leftovers)"
crash update-after-commit cairn config set c1 user.k=crash2
check_eq "after a kill at update-after-commit the new value is there" crash2 "$(get user.k)"
check_match "and backup.yaml agrees" '^  user.k: crash2$' "$(backup)"
check_eq "and no temporary file is left" "" "$(leftovers)"

# ---- snapshot updates answer for snapshots that exist only ----
echo '{}' >"$T/empty.json"
for method in PUT PATCH; do
	check_eq "$method of a snapshot of a missing instance is 404" 404 "$(http "$method" /1.0/instances/nope/snapshots/nope "$T/empty.json")"
	check_match "with the usual error" '"error": *"Instance \\"nope\\" not found"' "$(cat "$T/http.out")"
	check_eq "$method of a missing snapshot is 404" 404 "$(http "$method" /1.0/instances/c1/snapshots/nope "$T/empty.json")"
	check_match "with the usual error" '"error": *"Snapshot \\"nope\\" of instance \\"c1\\" not found"' "$(cat "$T/http.out")"
	check_eq "$method of a snapshot that exists is 200" 200 "$(http "$method" /1.0/instances/c1/snapshots/good "$T/empty.json")"
done

# ---- devices of unknown types are refused, not dropped ----
body '{"name": "d1", "source": {"type": "image", "alias": "busybox"}, "devices": {"x": {"type": "bogus"}}}'
check_eq "POST /1.0/instances with a device of type bogus is 400" 400 "$(http POST /1.0/instances "$T/body.json")"
check_match "the error names device and type" '"error": *"Invalid device \\"x\\" of instance \\"d1\\": unknown type \\"bogus\\"' "$(cat "$T/http.out")"
check_eq "no instance was created" 404 "$(http GET /1.0/instances/d1)"
body '{"name": "d1", "source": {"type": "image", "alias": "busybox"}, "devices": {"eth0": {"type": "nic", "network": "cairnbr0"}}}'
check_eq "a nic on a network that does not exist is refused too" 404 "$(http POST /1.0/instances "$T/body.json")"
check_match "the error names device and network" '"error": *"Invalid device \\"eth0\\" of instance \\"d1\\": Network \\"cairnbr0\\" not found' "$(cat "$T/http.out")"
check_eq "no instance was created" 404 "$(http GET /1.0/instances/d1)"
before=$(as_admin cairn config show c1)
for method in PUT PATCH; do
	body '{"config": {"user.k": "dev"}, "devices": {"root": {"type": "disk", "path": "/", "pool": "default"}, "x": {"type": "bogus"}}}'
	check_eq "$method of an instance with a device of type bogus is 400" 400 "$(http "$method" /1.0/instances/c1 "$T/body.json")"
	check_match "the error names device and type" 'Invalid device \\"x\\" of instance \\"c1\\": unknown type \\"bogus\\"' "$(cat "$T/http.out")"
done
check_eq "the refused updates changed nothing" "$before" "$(as_admin cairn config show c1)"
edited=$(printf '%s\n' "$before" | sed 's/user.k: crash2/user.k: edited/')
check "config edit, which sends the root disk back, still works" bash -c "printf '%s\n' \"\$1\" | setpriv --reuid=$ADMIN_USER --regid=$(id -g "$ADMIN_USER") --init-groups env CAIRN_DIR=$CAIRN_DIR HOME=$T/home $T/bin/cairn config edit c1" _ "$edited"
check_eq "the edit is stored" edited "$(get user.k)"

finish
