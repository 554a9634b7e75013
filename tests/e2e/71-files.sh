#!/usr/bin/env bash
# cairn file push / pull / delete end to end, as a user of the admin group: round trips with
# checksums, modes and owners (as the container sees them, shifted on disk), recursion, running
# and stopped instances, and paths that try to leave the rootfs.
. "$(dirname "$0")/lib.sh"
setup

check "admin user launches c1" as_admin cairn launch busybox c1
W="$T/work"
mkdir -p "$W/tree/sub/deeper" "$T/outside"
head -c 3000000 /dev/urandom >"$W/big.bin"
printf 'hello\n' >"$W/small.txt"
chmod 0640 "$W/small.txt"
printf 'a\n' >"$W/tree/a.txt"
printf 'b\n' >"$W/tree/sub/b.txt"
head -c 100000 /dev/urandom >"$W/tree/sub/deeper/c.bin"
chmod 0700 "$W/tree/sub"
ln -s a.txt "$W/tree/link"
chown -R "$ADMIN_USER" "$W"
chmod 0755 "$W"
rootfs="$CAIRN_DIR/storage-pools/default/containers/c1/rootfs"
base=$(awk -F: '$1 == "root" { print $2; exit }' /etc/subuid)
gbase=$(awk -F: '$1 == "root" { print $2; exit }' /etc/subgid)

check "push a binary file" as_admin cairn file push "$W/big.bin" c1/root/big.bin
got=$(as_admin cairn exec c1 -- sha256sum /root/big.bin | cut -d' ' -f1)
check_eq "the pushed file has the same checksum inside" "$(sha256sum <"$W/big.bin" | cut -d' ' -f1)" "$got"
check_eq "owned by root inside, with the local mode" "0 0 644" \
	"$(as_admin cairn exec c1 -- stat -c '%u %g %a' /root/big.bin)"
check_eq "on the host it is owned by the shifted root" "$base $gbase" "$(stat -c '%u %g' "$rootfs/root/big.bin")"

check "push keeps the local mode" as_admin cairn file push "$W/small.txt" c1/root/
check_eq "mode 640 inside" "640" "$(as_admin cairn exec c1 -- stat -c '%a' /root/small.txt)"
check "push with --uid --gid --mode" \
	as_admin cairn file push --uid 1000 --gid 1001 --mode 0600 "$W/small.txt" c1/root/owned.txt
check_eq "owner and mode as the container sees them" "1000 1001 600" \
	"$(as_admin cairn exec c1 -- stat -c '%u %g %a' /root/owned.txt)"
check_eq "owner shifted on disk" "$((base + 1000)) $((gbase + 1001))" "$(stat -c '%u %g' "$rootfs/root/owned.txt")"
check_fails "an id outside the map is refused" "" \
	as_admin cairn file push --uid 70000 "$W/small.txt" c1/tmp/bad.txt

check "pull a binary file" as_admin cairn file pull c1/root/big.bin "$W/big.back"
check_eq "pulled checksum matches" "$(sha256sum <"$W/big.bin" | cut -d' ' -f1)" "$(sha256sum <"$W/big.back" | cut -d' ' -f1)"
check "pull into a directory" as_admin cairn file pull c1/root/owned.txt "$W/"
check_eq "pulled mode matches the container's" "600" "$(stat -c '%a' "$W/owned.txt")"
out=$(as_admin cairn file pull c1/etc/passwd -)
check_eq "pull to stdout" "$(cat "$rootfs/etc/passwd")" "$out"
check_fails "pull of a missing file" 'Error: Path "/nope" not found in the instance' \
	as_admin cairn file pull c1/nope "$W/nope"

check_fails "push into a missing directory without -p names the directory" \
	'Error: Path "/new/dir/small.txt" not found in the instance: no directory "/new/dir"' \
	as_admin cairn file push "$W/small.txt" c1/new/dir/small.txt
check_fails "pull from a missing directory names it" \
	'Error: Path "/nodir/x" not found in the instance: no directory "/nodir"' \
	as_admin cairn file pull c1/nodir/x "$W/x"
check "push -p creates the parents" as_admin cairn file push -p "$W/small.txt" c1/new/dir/small.txt
check_eq "parents are directories owned by root inside" "0 0 755" \
	"$(as_admin cairn exec c1 -- stat -c '%u %g %a' /new/dir)"

check "push -r a tree" as_admin cairn file push -r "$W/tree" c1/root/
check_eq "tree files inside" "a
b" "$(as_admin cairn exec c1 -- cat /root/tree/a.txt /root/tree/sub/b.txt)"
check_eq "tree modes kept" "700" "$(as_admin cairn exec c1 -- stat -c '%a' /root/tree/sub)"
check_eq "links stay links" "a.txt" "$(as_admin cairn exec c1 -- readlink /root/tree/link)"
mkdir "$W/back" && chown "$ADMIN_USER" "$W/back"
check "pull -r the tree back into a directory" as_admin cairn file pull -r c1/root/tree "$W/back"
check "the round trip of the tree is identical" diff -r "$W/tree" "$W/back/tree"
check_eq "the deep binary file survives" "$(sha256sum <"$W/tree/sub/deeper/c.bin")" "$(sha256sum <"$W/back/tree/sub/deeper/c.bin")"
check_fails "pull of a directory needs -r" "" as_admin cairn file pull c1/root/tree "$W/x"

check "delete a file" as_admin cairn file delete c1/root/small.txt
as_admin cairn exec c1 -- test -e /root/small.txt
check_eq "it is gone" 1 $?

# Escapes: "..", links to the host or above the root, writing through a link.
echo secret >"$T/outside/secret"
check_fails "a path with .. is refused" 'Error: Invalid path "/../../etc/x": it leaves the instance' \
	as_admin cairn file push "$W/small.txt" c1/../../etc/x
check_fails "a path with .. inside is refused" "" \
	as_admin cairn file pull c1/root/../../../etc/passwd "$W/x"
as_admin cairn exec c1 -- ln -s /../../.. /root/up
as_admin cairn exec c1 -- ln -s "$T/outside" /root/hostdir
as_admin cairn exec c1 -- ln -s "$T/outside/secret" /root/hostfile
check_fails "writing over a link to a host file is refused" \
	'Error: Refusing to write "/root/hostfile": it is a symbolic link' \
	as_admin cairn file push "$W/small.txt" c1/root/hostfile
check_fails "pushing through a link to a host directory finds nothing" "" \
	as_admin cairn file push "$W/small.txt" c1/root/hostdir/new
check_fails "pulling through a link to a host file finds nothing" "" \
	as_admin cairn file pull c1/root/hostdir/secret "$W/leak"
check "a link to /../../.. is the container's root" \
	as_admin cairn file push "$W/small.txt" c1/root/up/tmp/via-up.txt
check "... so the file landed inside (in the container's own /tmp)" \
	as_admin cairn exec c1 -- test -f /tmp/via-up.txt
check_eq "nothing was written outside the rootfs" "secret" "$(ls "$T/outside")"
check_eq "the host file is untouched" "secret" "$(cat "$T/outside/secret")"
check "no leak was pulled" test ! -e "$W/leak"

check "stop c1" as_admin cairn stop c1 --force
check "push into a stopped instance" as_admin cairn file push "$W/small.txt" c1/root/stopped.txt
check "pull from a stopped instance" as_admin cairn file pull c1/root/stopped.txt "$W/stopped.txt"
check "the round trip works while stopped" cmp "$W/small.txt" "$W/stopped.txt"
check "start c1" as_admin cairn start c1
check_eq "the file pushed while stopped is seen inside" "hello" "$(as_admin cairn exec c1 -- cat /root/stopped.txt)"

check_fails "the outsider cannot push" \
	"Error: You don't have the needed permissions to talk to cairnd (not in group $TGROUP)" \
	as_outsider cairn file push "$W/big.bin" c1/root/x
check_fails "the outsider cannot pull" \
	"Error: You don't have the needed permissions to talk to cairnd (not in group $TGROUP)" \
	as_outsider cairn file pull c1/etc/hostname /tmp/x

finish
