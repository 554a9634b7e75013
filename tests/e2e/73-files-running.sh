#!/usr/bin/env bash
# cairn file push / pull / delete / edit on a running instance act in the container's own mount
# namespace, as its root: its tmpfs /tmp and /run, files made inside, owners as it sees them,
# -p and -r trees, and file edit; on a stopped one in the rootfs. Attacks: links planted in the
# container's /tmp, writes to non-namespaced sysctls and to /sys, the container's magic links,
# a container that exits between the lookup and the open, ".." and NUL smuggled in the path.
. "$(dirname "$0")/lib.sh"
[ "$BACKEND" = btrfs ] || skip_all "the running-instance path works in the container's namespaces, the same on every storage backend (71-files covers both)"
setup

check "admin user launches c1" as_admin cairn launch busybox c1

# Runs a shell command inside c1.
in_c1() {
	as_admin cairn exec c1 -- sh -c "$1"
}

W="$T/work"
mkdir -p "$W/tree/sub" "$T/outside"
printf 'hello\n' >"$W/small.txt"
printf 'a\n' >"$W/tree/a.txt"
printf 'b\n' >"$W/tree/sub/b.txt"
ln -s a.txt "$W/tree/link"
chown -R "$ADMIN_USER" "$W"
chmod 0755 "$W"
rootfs="$CAIRN_DIR/storage-pools/default/containers/c1/rootfs"
base=$(awk -F: '$1 == "root" { print $2; exit }' /etc/subuid)

check_eq "the container's /tmp and /run are mounts of its own (tmpfs)" "2" \
	"$(in_c1 'grep -cE "^[^ ]+ /(tmp|run) tmpfs " /proc/mounts')"

# Push and pull through the container's own mounts.
check "push into the container's /tmp" as_admin cairn file push "$W/small.txt" c1/tmp/x
check_eq "the container sees it" "hello" "$(in_c1 'cat /tmp/x')"
check "... and it is not in the rootfs on disk (a tmpfs holds it)" test ! -e "$rootfs/tmp/x"
check_eq "owned by root inside" "0:0" "$(in_c1 'stat -c %u:%g /tmp/x')"
pid=$(init_pid c1)
check_eq "the host sees the shifted root as its owner" "$base" "$(stat -c %u "/proc/$pid/root/tmp/x")"
check "push into /run with --uid --gid --mode" \
	as_admin cairn file push --uid 1000 --gid 1001 --mode 0640 "$W/small.txt" c1/run/y
check_eq "owner and mode as the container sees them" "1000:1001 640" "$(in_c1 'stat -c "%u:%g %a" /run/y')"
in_c1 'echo made-inside >/tmp/made && chown 7:8 /tmp/made'
check_eq "a file made inside /tmp is pulled" "made-inside" "$(as_admin cairn file pull c1/tmp/made -)"
check "pull it into a local directory" as_admin cairn file pull c1/tmp/made "$W/"
check_eq "with its contents" "made-inside" "$(cat "$W/made")"
check_eq "pull of /run" "hello" "$(as_admin cairn file pull c1/run/y -)"
check_fails "an id outside the map is refused" "Error: The instance does not map uid 70000 or gid 0" \
	as_admin cairn file push --uid 70000 "$W/small.txt" c1/tmp/bad
check "file delete in /tmp" as_admin cairn file delete c1/tmp/made
check "... the container no longer has it" in_c1 'test ! -e /tmp/made'
check_fails "delete of a missing file" 'Error: Path "/tmp/made" not found in the instance' \
	as_admin cairn file delete c1/tmp/made

# Directories: -p and -r, both ways.
check "push -p into /tmp" as_admin cairn file push -p "$W/small.txt" c1/tmp/p/q/r.txt
check_eq "the parents are directories of root, 755" "0:0 755 hello" \
	"$(in_c1 'echo $(stat -c "%u:%g %a" /tmp/p/q) $(cat /tmp/p/q/r.txt)')"
check "push -r a tree into /run" as_admin cairn file push -r "$W/tree" c1/run/
check_eq "the tree is there" "a b a.txt" "$(in_c1 'echo $(cat /run/tree/a.txt /run/tree/sub/b.txt) $(readlink /run/tree/link)')"
mkdir "$W/back" && chown "$ADMIN_USER" "$W/back"
check "pull -r the tree back" as_admin cairn file pull -r c1/run/tree "$W/back/"
check "the round trip of the tree is identical" diff -r "$W/tree" "$W/back/tree"
in_c1 'mkdir -p /tmp/d/e && echo deep >/tmp/d/e/f'
check "pull -r a directory made inside" as_admin cairn file pull -r c1/tmp/d "$W/back/"
check_eq "its file came along" "deep" "$(cat "$W/back/d/e/f")"

# file edit, with an editor script.
cat >"$W/editor.sh" <<'EOF'
#!/bin/sh
# Records what it was given, then edits.
stat -c %a "$1" >"$(dirname "$0")/seen-mode"
stat -c %a "$(dirname "$1")" >"$(dirname "$0")/seen-dirmode"
basename "$1" >"$(dirname "$0")/seen-name"
sed -i 's/hello/edited/' "$1"
EOF
chmod 0755 "$W/editor.sh"
chown "$ADMIN_USER" "$W/editor.sh"
mkdir "$W/tmpd" && chown "$ADMIN_USER" "$W/tmpd"
# The editor runs with these; file edit keeps its private copy under TMPDIR.
edit_env() {
	as_admin env TMPDIR="$W/tmpd" VISUAL= "$@"
}
check "file edit with EDITOR" edit_env EDITOR="$W/editor.sh" cairn file edit c1/run/y
check_eq "the change is in the container" "edited" "$(in_c1 'cat /run/y')"
check_eq "owner and mode are kept" "1000:1001 640" "$(in_c1 'stat -c "%u:%g %a" /run/y')"
check_eq "the editor had a private copy (0600 in a 0700 directory) under the file's name" \
	"600 700 y" "$(cat "$W/seen-mode") $(cat "$W/seen-dirmode") $(cat "$W/seen-name")"
inode=$(in_c1 'stat -c %i /run/y')
check "file edit with an editor that changes nothing" edit_env EDITOR=true cairn file edit c1/run/y
check_eq "nothing was pushed (same inode)" "$inode" "$(in_c1 'stat -c %i /run/y')"
check "VISUAL comes before EDITOR" edit_env VISUAL="$W/editor.sh" EDITOR=false cairn file edit c1/tmp/x
check_eq "VISUAL edited it" "edited" "$(in_c1 'cat /tmp/x')"
check_fails "a failing editor changes nothing" "" \
	edit_env EDITOR="sh -c 'echo junk >\"\$1\"; exit 3' sh" cairn file edit c1/run/y
check_eq "the file is as it was" "edited" "$(in_c1 'cat /run/y')"
check_fails "file edit of a directory" 'Error: "/tmp/d" is a directory in the instance, not a file' \
	edit_env EDITOR=true cairn file edit c1/tmp/d
check_eq "no temporary copy is left" "" "$(ls -A "$W/tmpd")"

# Attacks from inside the container: links in its /tmp.
echo secret >"$T/outside/secret"
in_c1 "ln -s / /tmp/toroot; ln -s '$T/outside' /tmp/hostdir; ln -s '$T/outside/secret' /tmp/hostfile"
name="cairn-e2e-$$"
check "a push through a link to / lands in the container's /" \
	as_admin cairn file push "$W/small.txt" "c1/tmp/toroot/tmp/$name"
check "... inside the container" in_c1 "test -f /tmp/$name"
check "... and not on the host" test ! -e "/tmp/$name"
check_fails "a push through a link to a host directory finds nothing" "" \
	as_admin cairn file push "$W/small.txt" c1/tmp/hostdir/new
check_fails "a pull through a link to a host directory finds nothing" "" \
	as_admin cairn file pull c1/tmp/hostdir/secret "$W/leak"
check_fails "writing over a link to a host file is refused" \
	'Error: Refusing to write "/tmp/hostfile": it is a symbolic link' \
	as_admin cairn file push "$W/small.txt" c1/tmp/hostfile
check_eq "a pull of that link gives the link, not the host file" "$T/outside/secret" \
	"$(as_admin cairn file pull c1/tmp/hostfile -)"
check_eq "nothing changed outside" "secret secret" "$(ls "$T/outside") $(cat "$T/outside/secret")"
check "no leak was pulled" test ! -e "$W/leak"
check_fails "the container's magic links are not followed (/proc/1/root)" "" \
	as_admin cairn file push "$W/small.txt" "c1/proc/1/root/tmp/$name-magic"
check "... nothing was written there" in_c1 "test ! -e /tmp/$name-magic"

# Writes that would change the host if done with the host's credentials. Each writes the
# current value, so that the host cannot change even if a check failed.
sysctl=/proc/sys/kernel/printk_ratelimit
before=$(cat $sysctl)
printf '%s\n' "$before" >"$W/ratelimit"
chown "$ADMIN_USER" "$W/ratelimit"
check_eq "the container reads the sysctl through the helper" "$before" \
	"$(as_admin cairn file pull "c1$sysctl" -)"
check_fails "a push to a non-namespaced sysctl fails" "" \
	as_admin cairn file push "$W/ratelimit" "c1$sysctl"
code=$(curl -s -o "$W/append.json" -w '%{http_code}' --unix-socket "$CAIRN_DIR/unix.socket" \
	-X POST -H 'X-Incus-write: append' -H 'Content-Type: application/octet-stream' \
	--data-binary @"$W/ratelimit" "http://cairn/1.0/instances/c1/files?path=$sysctl")
check_eq "an append to it through the API fails too" "403 error" "$code $(jq -r .type "$W/append.json")"
check_eq "the host's value is unchanged" "$before" "$(cat $sysctl)"
uevent=$(cat /sys/kernel/uevent_helper 2>/dev/null || true)
printf '%s\n' "$uevent" >"$W/uevent"
chown "$ADMIN_USER" "$W/uevent"
check_fails "a push into the container's /sys fails" "" \
	as_admin cairn file push "$W/uevent" c1/sys/kernel/uevent_helper
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$CAIRN_DIR/unix.socket" \
	-X POST -H 'X-Incus-write: append' --data-binary @"$W/uevent" \
	"http://cairn/1.0/instances/c1/files?path=/sys/kernel/uevent_helper")
check "an append into /sys through the API fails too" test "$code" -ge 400
check_eq "the host's uevent_helper is unchanged" "$uevent" "$(cat /sys/kernel/uevent_helper 2>/dev/null || true)"
check_fails "a new file in /sys fails" "" as_admin cairn file push "$W/small.txt" "c1/sys/kernel/$name"
check "... and none appeared on the host" test ! -e "/sys/kernel/$name"

# ".." and NUL smuggled in the query.
code=$(curl -s -o "$W/dots.json" -w '%{http_code}' --unix-socket "$CAIRN_DIR/unix.socket" \
	-X POST --data-binary @"$W/small.txt" \
	"http://cairn/1.0/instances/c1/files?path=/tmp/%2e%2e/%2e%2e/tmp/$name-dots")
check_eq "%2e%2e in the path is refused" "400 Invalid path \"/tmp/../../tmp/$name-dots\": it leaves the instance" \
	"$code $(jq -r .error "$W/dots.json")"
code=$(curl -s -o "$W/nul.json" -w '%{http_code}' --unix-socket "$CAIRN_DIR/unix.socket" \
	-X POST --data-binary @"$W/small.txt" \
	"http://cairn/1.0/instances/c1/files?path=/tmp/$name-nul%00/../x")
check_eq "a NUL in the path is refused" "400 Invalid request path: it holds a NUL or is not valid UTF-8" \
	"$code $(jq -r .error "$W/nul.json")"
check "neither wrote anything" in_c1 "test ! -e /tmp/$name-dots -a ! -e /tmp/$name-nul -a ! -e /x"
check_fails "through the client %2e%2e is a name, which does not exist" "" \
	as_admin cairn file push "$W/small.txt" "c1/tmp/%2e%2e/%2e%2e/tmp/$name-cli"
check "... and nothing was written" in_c1 "test ! -e /tmp/$name-cli"

# A privileged instance: the helper joins its mount namespace as host root, with the
# container's capability drop list; its /proc/sys and /sys are read-only mounts inside.
check "admin launches a privileged c2" as_admin cairn launch busybox c2 -c security.privileged=true
check "push into c2's /tmp" as_admin cairn file push "$W/small.txt" c2/tmp/x
check_eq "c2 sees it, owned by its root" "hello 0:0" \
	"$(as_admin cairn exec c2 -- sh -c 'echo $(cat /tmp/x) $(stat -c %u:%g /tmp/x)')"
check "... not in its rootfs" test ! -e "$CAIRN_DIR/storage-pools/default/containers/c2/rootfs/tmp/x"
check_fails "a push to the host sysctl through c2 fails" "" \
	as_admin cairn file push "$W/ratelimit" "c2$sysctl"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$CAIRN_DIR/unix.socket" \
	-X POST -H 'X-Incus-write: append' --data-binary @"$W/ratelimit" \
	"http://cairn/1.0/instances/c2/files?path=$sysctl")
check "an append to it through the API fails too" test "$code" -ge 400
check_eq "the host's value is unchanged" "$before" "$(cat $sysctl)"
check_fails "a push into c2's /sys fails" "" as_admin cairn file push "$W/small.txt" "c2/sys/kernel/$name"
check "delete c2" as_admin cairn delete c2 --force

# A stopped instance: its rootfs.
check "stop c1" as_admin cairn stop c1 --force
check "push into a stopped instance" as_admin cairn file push "$W/small.txt" c1/root/stopped.txt
check_eq "it is in the rootfs, owned by the shifted root" "$base hello" \
	"$(stat -c %u "$rootfs/root/stopped.txt") $(cat "$rootfs/root/stopped.txt")"
check "push -p into /tmp of a stopped instance writes the rootfs" \
	as_admin cairn file push -p "$W/small.txt" c1/tmp/s/t.txt
check "... which is on disk" test -f "$rootfs/tmp/s/t.txt"
check_eq "pull from a stopped instance" "hello" "$(as_admin cairn file pull c1/root/stopped.txt -)"
check "file edit of a stopped instance" edit_env EDITOR="$W/editor.sh" cairn file edit c1/root/stopped.txt
check_eq "the edit is on disk" "edited" "$(cat "$rootfs/root/stopped.txt")"
check "delete in a stopped instance" as_admin cairn file delete c1/tmp/s/t.txt
check "... gone from disk" test ! -e "$rootfs/tmp/s/t.txt"
check "start c1" as_admin cairn start c1
check_eq "the file written while stopped is seen inside" "edited 0:0" \
	"$(in_c1 'echo $(cat /root/stopped.txt) $(stat -c %u:%g /root/stopped.txt)')"
check "/tmp written while stopped is hidden by the tmpfs" in_c1 'test ! -e /tmp/s'

# The container exits between the daemon's lookup and the helper's open: the helper waits at a
# test point until init has exited.
stop_daemon
CAIRN_CRASHPOINT=forkfile-wait-exit start_daemon
as_admin cairn file pull c1/etc/hostname - >"$W/race.out" 2>"$W/race.err" &
racer=$!
if wait_crashpoint forkfile-wait-exit; then
	ok "the helper reached the test point"
else
	not_ok "the helper reached the test point"
fi
check "the container stops meanwhile" cairn stop c1 --force
wait "$racer"
check_eq "the pull fails with a clean error" "1 Error: Instance \"c1\" stopped while its files were being reached" \
	"$? $(cat "$W/race.err")"
stop_daemon
rm -f "$CAIRN_DIR/crashpoint"
start_daemon
check "the stopped instance's files are reached in its rootfs again" \
	as_admin cairn file pull c1/root/stopped.txt "$W/after-race"

finish
