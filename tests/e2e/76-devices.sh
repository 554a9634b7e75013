#!/usr/bin/env bash
# Disk devices end to end, as a user of the admin group: host directories and a host file
# mounted into a running unprivileged container (owners kept both ways through an idmapped
# mount, read-only refusing writes), a privileged container's plain bind, a source that is gone
# (refused when added, and at start), a file system without idmapped mounts (ramfs) refused by
# name, symbolic links planted in the rootfs at the target's parent (start refused, nothing made
# or mounted outside), and the root disk size: a btrfs qgroup limit that stops a 100 MB write at
# 50MiB and lets it through once raised; refused on a dir pool. The host-path part does not
# depend on the pool, so the dir run only checks the size refusal and one mount.
. "$(dirname "$0")/lib.sh"
setup

SOCK="$CAIRN_DIR/unix.socket"

# Sends METHOD PATH [BODY] to the API as the admin user; prints the JSON answer.
api_admin() {
	as_admin curl -s --unix-socket "$SOCK" -X "$1" ${3:+-d "$3"} "http://cairn$2"
}

# Adds (or replaces) devices of instance $1 with the JSON object $2; prints the error, if any.
devices_patch() {
	api_admin PATCH "/1.0/instances/$1" "{\"devices\":$2}" | jq -r '.error // empty'
}

# The names of an instance's own devices, one line.
device_names() {
	api "/1.0/instances/$1" | jq -r '.metadata.devices | keys | join(" ")'
}

H="$T/host"
mkdir -p "$H/rw" "$H/ro"
chmod 0755 "$H"
chmod 1777 "$H/rw"
echo data >"$H/rw/owned1000"
chown 1000:1000 "$H/rw/owned1000"
echo kept >"$H/ro/data"
echo "host file" >"$H/file.txt"
chown 1000:1000 "$H/file.txt"

# ---- the size of the root disk ----
if [ "$BACKEND" = dir ]; then
	check "init d1 on a dir pool" as_admin cairn init busybox d1
	msg=$(devices_patch d1 '{"root":{"type":"disk","path":"/","pool":"default","size":"50MiB"}}')
	check_eq "a size on a dir pool is refused with the reason" \
		'Invalid device "root" of instance "d1": the "dir" driver of pool "default" cannot enforce a root disk size' \
		"$msg"
	check_eq "and nothing changed" "" "$(device_names d1)"
	check "a host directory mounts on a dir pool too" \
		test -z "$(devices_patch d1 "{\"rw\":{\"type\":\"disk\",\"source\":\"$H/rw\",\"path\":\"/mnt/rw\"}}")"
	check "start d1" as_admin cairn start d1
	check_eq "the host file is seen with its owner" "1000" \
		"$(as_admin cairn exec d1 -- stat -c %u /mnt/rw/owned1000 2>&1)"
	check "delete d1" as_admin cairn delete -f d1
	finish
fi

check "init q1" as_admin cairn init busybox q1
check "size=50MiB on the root disk" \
	test -z "$(devices_patch q1 '{"root":{"type":"disk","path":"/","pool":"default","size":"50MiB"}}')"
check "start q1" as_admin cairn start q1
out=$(as_admin cairn exec q1 -- dd if=/dev/zero of=/root/big bs=1M count=100 2>&1)
check_match "writing 100 MB inside fails on the limit" "Disk quota exceeded|No space left" "$out"
as_admin cairn exec q1 -- rm -f /root/big
check "raising the size applies at once to the running instance" \
	test -z "$(devices_patch q1 '{"root":{"type":"disk","path":"/","pool":"default","size":"500MiB"}}')"
check "now 100 MB go through" as_admin cairn exec q1 -- dd if=/dev/zero of=/root/big bs=1M count=100
as_admin cairn exec q1 -- rm -f /root/big
vol="$CAIRN_DIR/storage-pools/default/containers/q1"
check_match "the qgroup limit is 500MiB" "^0/[0-9]+ +.* 500\.00MiB" \
	"$(btrfs qgroup show -re --iec "$vol" 2>&1 | grep '^0/' )"
# A daemon killed after the limit changed and before the row did: its next start puts back the
# limit of the settings it has.
stop_daemon
rm -f "$CAIRN_DIR/crashpoint"
CAIRN_CRASHPOINT=update-after-size start_daemon
devices_patch q1 '{"root":{"type":"disk","path":"/","pool":"default","size":"20MiB"}}' >/dev/null &
patch_pid=$!
if wait_crashpoint update-after-size; then ok "the update reached update-after-size"; else not_ok "the update reached update-after-size"; fi
check_match "the new limit was set" "^0/[0-9]+ +.* 20\.00MiB" \
	"$(btrfs qgroup show -re --iec "$vol" 2>&1 | grep '^0/')"
kill_daemon
wait "$patch_pid" 2>/dev/null
start_daemon
check_eq "the row kept 500MiB" "500MiB" \
	"$(api /1.0/instances/q1 | jq -r '.metadata.devices.root.size')"
check_match "and the restarted daemon put the limit back" "^0/[0-9]+ +.* 500\.00MiB" \
	"$(btrfs qgroup show -re --iec "$vol" 2>&1 | grep '^0/')"
check "removing the size" \
	test -z "$(devices_patch q1 '{"root":{"type":"disk","path":"/","pool":"default"}}')"
check_match "removes the limit" "^0/[0-9]+ +.* none +" \
	"$(btrfs qgroup show -re --iec -f "$vol" 2>&1 | grep '^0/')"
check "delete q1" as_admin cairn delete -f q1

# The size of a profile's root disk: applied at create, and at once when the profile changes.
msg=$(api_admin POST /1.0/profiles \
	'{"name":"sized","devices":{"root":{"type":"disk","path":"/","pool":"default","size":"40MiB"}}}' |
	jq -r '.error // empty')
check_eq "a profile with a sized root disk" "" "$msg"
op=$(api_admin POST /1.0/instances \
	'{"name":"q2","source":{"type":"image","alias":"busybox"},"profiles":["default","sized"]}' |
	jq -r '.operation')
api_admin GET "$op/wait" >/dev/null
vol="$CAIRN_DIR/storage-pools/default/containers/q2"
check_match "the profile's size is applied at create" "^0/[0-9]+ +.* 40\.00MiB" \
	"$(btrfs qgroup show -re --iec "$vol" 2>&1 | grep '^0/')"
msg=$(api_admin PATCH /1.0/profiles/sized \
	'{"devices":{"root":{"type":"disk","path":"/","pool":"default","size":"400MiB"}}}' |
	jq -r '.error // empty')
check_eq "the profile's size raised" "" "$msg"
check_match "and applied at once to the instance using it" "^0/[0-9]+ +.* 400\.00MiB" \
	"$(btrfs qgroup show -re --iec "$vol" 2>&1 | grep '^0/')"
check "delete q2" as_admin cairn delete -f q2
check "delete the profile" test -z "$(api_admin DELETE /1.0/profiles/sized | jq -r '.error // empty')"

# ---- host paths in a running unprivileged container ----
check "init c1" as_admin cairn init busybox c1
msg=$(devices_patch c1 "{\"rw\":{\"type\":\"disk\",\"source\":\"$H/rw\",\"path\":\"/mnt/rw\"},
	\"ro\":{\"type\":\"disk\",\"source\":\"$H/ro\",\"path\":\"/srv/data/ro\",\"readonly\":\"true\"},
	\"file\":{\"type\":\"disk\",\"source\":\"$H/file.txt\",\"path\":\"/etc/hostfile\"}}")
check_eq "three host-path disks added" "" "$msg"
check "start c1" as_admin cairn start c1
conf=$(cat "$CAIRN_DIR/logs/c1/lxc.conf")
check_match "the directory is an idmapped bind" \
	"^lxc.mount.entry = $H/rw mnt/rw none bind,create=dir,idmap=container 0 0$" "$conf"
check_match "the read-only one is ro" \
	"^lxc.mount.entry = $H/ro srv/data/ro none bind,create=dir,ro,idmap=container 0 0$" "$conf"
check_match "the file is create=file" \
	"^lxc.mount.entry = $H/file.txt etc/hostfile none bind,create=file,idmap=container 0 0$" "$conf"
check_eq "a host file of uid 1000 is 1000 inside" "1000:1000" \
	"$(as_admin cairn exec c1 -- stat -c %u:%g /mnt/rw/owned1000 2>&1)"
check "root writes inside" as_admin cairn exec c1 -- sh -c 'echo root >/mnt/rw/by-root'
check_eq "its file is root's on the host" "0:0" "$(stat -c %u:%g "$H/rw/by-root" 2>&1)"
check "uid 1234 writes inside" as_admin cairn exec c1 --user 1234 --group 1234 -- \
	sh -c 'echo user >/mnt/rw/by-1234'
check_eq "its file is 1234's on the host" "1234:1234" "$(stat -c %u:%g "$H/rw/by-1234" 2>&1)"
check_eq "the read-only directory is readable" "kept" \
	"$(as_admin cairn exec c1 -- cat /srv/data/ro/data 2>&1)"
out=$(as_admin cairn exec c1 -- sh -c 'echo x >/srv/data/ro/new' 2>&1)
check_match "and refuses writes" "Read-only file system" "$out"
check "nothing was written on the host" test ! -e "$H/ro/new"
check_eq "the host file is mounted" "host file" "$(as_admin cairn exec c1 -- cat /etc/hostfile 2>&1)"
check_eq "with its owner" "1000" "$(as_admin cairn exec c1 -- stat -c %u /etc/hostfile 2>&1)"
rootfs="$CAIRN_DIR/storage-pools/default/containers/c1/rootfs"
base=$(api /1.0/instances/c1 | jq -r '.metadata.config["volatile.idmap.base"]')
check_eq "the target made in the rootfs is the container root's" "$base" \
	"$(stat -c %u "$rootfs/srv/data")"
check "stop c1" as_admin cairn stop -f c1

# ---- sources: refused when missing at add, and at start once gone ----
msg=$(devices_patch c1 "{\"gone\":{\"type\":\"disk\",\"source\":\"$H/nope\",\"path\":\"/mnt/nope\"}}")
check_match "a missing source is refused when added" 'device "gone".*source "[^"]*/nope"' "$msg"
check_eq "and nothing changed" "file ro rw" "$(device_names c1)"
msg=$(devices_patch c1 "{\"dots\":{\"type\":\"disk\",\"source\":\"$H/../host/rw\",\"path\":\"/mnt/d\"}}")
check_match "a source with .. is refused" 'device "dots".*"source" must be an absolute path without ".."' "$msg"
mv "$H/rw" "$H/rw.away"
out=$(as_admin cairn start c1 2>&1)
check_match "a source removed since is a clear start error" \
	"^Error: Cannot mount device \"rw\" of instance \"c1\": source \"$H/rw\"" "$out"
check_eq "c1 did not start" "Stopped" "$(api_status c1)"
check_eq "the daemon left no child behind (the probes' user namespace)" "" \
	"$(ps --ppid "$DAEMON_PID" -o stat=,comm= | grep '^Z')"
mv "$H/rw.away" "$H/rw"

# ---- a file system that cannot idmap ----
mkdir "$T/ramfs"
if mount -t ramfs cairn-test "$T/ramfs" 2>/dev/null; then
	check "a source on ramfs can be added" \
		test -z "$(devices_patch c1 "{\"ram\":{\"type\":\"disk\",\"source\":\"$T/ramfs\",\"path\":\"/mnt/ram\"}}")"
	out=$(as_admin cairn start c1 2>&1)
	check_eq "the start names the device and the file system" \
		"Error: Cannot mount device \"ram\" of instance \"c1\": the file system of \"$T/ramfs\" (ramfs) does not support idmapped mounts, which an unprivileged container needs to keep the files' owners" \
		"$out"
	check_eq "c1 did not start" "Stopped" "$(api_status c1)"
	umount "$T/ramfs"
fi
check "delete c1" as_admin cairn delete -f c1

# ---- symbolic links planted in the rootfs ----
check "init c2" as_admin cairn init busybox c2
rootfs="$CAIRN_DIR/storage-pools/default/containers/c2/rootfs"
check "a disk on /mnt/x" \
	test -z "$(devices_patch c2 "{\"x\":{\"type\":\"disk\",\"source\":\"$H/rw\",\"path\":\"/mnt/x\"}}")"
for link in /etc /proc/1/root ../../../../..; do
	rm -rf "$rootfs/mnt"
	ln -s "$link" "$rootfs/mnt"
	out=$(as_admin cairn start c2 2>&1)
	check_eq "start refused with /mnt -> $link" \
		"Error: Cannot mount device \"x\" of instance \"c2\" on \"/mnt/x\": \"/mnt\" in the instance is a symbolic link, which a disk's path may not cross" \
		"$out"
	check_eq "c2 did not start" "Stopped" "$(api_status c2)"
	check "nothing made on the host's /etc" test ! -e /etc/x
	check "nothing made in the container's /etc" test ! -e "$rootfs/etc/x"
	check "nothing made at the host's root" test ! -e /x
	check "nothing mounted from the source" bash -c "! grep -qF ' $H' /proc/mounts"
done
rm -f "$rootfs/mnt"
mkdir "$rootfs/mnt"
ln -s /etc "$rootfs/mnt/x"
out=$(as_admin cairn start c2 2>&1)
check_match "a link as the target itself is refused too" '"/mnt/x" in the instance is a symbolic link' "$out"
rm "$rootfs/mnt/x"
check "with the links gone, c2 starts" as_admin cairn start c2
check_eq "and sees the host directory" "data" "$(as_admin cairn exec c2 -- cat /mnt/x/owned1000 2>&1)"
check "delete c2" as_admin cairn delete -f c2

# ---- a target under /proc ----
check "init c3 (privileged)" as_admin cairn init busybox c3 -c security.privileged=true
msg=$(devices_patch c3 "{\"p\":{\"type\":\"disk\",\"source\":\"$H/rw\",\"path\":\"/proc/sys/x\"}}")
check_eq "a disk under /proc can be stored" "" "$msg"
check_match "but does not start" "the kernel's file systems are mounted on /proc and /sys" \
	"$(as_admin cairn start c3 2>&1)"

msg=$(devices_patch c3 "{\"p\":{\"type\":\"none\"},\"a\":{\"type\":\"disk\",\"source\":\"$H/rw\",\"path\":\"/mnt/a\"},
	\"b\":{\"type\":\"disk\",\"source\":\"$H/ro\",\"path\":\"/mnt/a/b\"}}")
check_eq "a host path inside another can be stored" "" "$msg"
check_match "but does not start: it would be made on the host" \
	'Cannot mount device "b" of instance "c3" on "/mnt/a/b": it is inside device "a"' \
	"$(as_admin cairn start c3 2>&1)"
check "nothing made in the host directory" test ! -e "$H/rw/b"

# ---- a privileged container gets a plain bind ----
msg=$(api_admin PUT /1.0/instances/c3 \
	"{\"config\":{\"security.privileged\":\"true\"},\"devices\":{\"rw\":{\"type\":\"disk\",\"source\":\"$H/rw\",\"path\":\"/mnt/rw\"}}}" |
	jq -r '.error // empty')
check_eq "replaced by a disk on /mnt/rw" "" "$msg"
check "start c3" as_admin cairn start c3
check_match "a plain bind, no idmap" "^lxc.mount.entry = $H/rw mnt/rw none bind,create=dir 0 0$" \
	"$(cat "$CAIRN_DIR/logs/c3/lxc.conf")"
check "uid 1234 writes inside" as_admin cairn exec c3 --user 1234 --group 1234 -- \
	sh -c 'echo p >/mnt/rw/priv-1234'
check_eq "its file is 1234's on the host" "1234:1234" "$(stat -c %u:%g "$H/rw/priv-1234" 2>&1)"
check "delete c3" as_admin cairn delete -f c3

finish
