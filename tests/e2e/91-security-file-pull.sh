#!/usr/bin/env bash
# cairn file pull never writes outside its target, whatever the container does between two
# pulls: a link the container sends is made as a link (data) and later replaced, never written
# through, as the admin user and as root; a link planted where a pulled tree has a directory is
# not entered; setuid and setgid arrive only with --keep-mode; stdout still works.
. "$(dirname "$0")/lib.sh"
setup

check "admin user launches c1" as_admin cairn launch busybox c1

# Runs a shell command inside c1.
in_c1() {
	as_admin cairn exec c1 -- sh -c "$1"
}

# Files the pulls must never touch: the admin user's, root's, and a directory of the admin's.
W="$T/work"
mkdir -p "$W" "$T/victim-dir"
printf 'victim\n' >"$T/victim-admin"
printf 'victim\n' >"$T/victim-root"
printf 'victim\n' >"$T/victim-dir/payload"
chown "$ADMIN_USER" "$W" "$T/victim-admin" "$T/victim-dir" "$T/victim-dir/payload"
chmod 0644 "$T/victim-admin" "$T/victim-root"
chmod 0755 "$W"

# The routine second pull: a file, then the container makes it a link to a host file, then a
# file again. Before the fix the last pull wrote through the link left by the one before.
mkdir "$W/admin" && chown "$ADMIN_USER" "$W/admin"
in_c1 'echo first >/root/f'
check "admin pulls a file into a directory" as_admin cairn file pull c1/root/f "$W/admin/"
in_c1 "rm /root/f && ln -s '$T/victim-admin' /root/f"
check "admin pulls it again, now a link to a host file" \
	as_admin cairn file pull c1/root/f "$W/admin/"
check_eq "the destination is a link holding the container's text" "$T/victim-admin" \
	"$(readlink "$W/admin/f")"
check_eq "the link is shown, not followed, on stdout" "$T/victim-admin" \
	"$(as_admin cairn file pull c1/root/f -)"
in_c1 "rm /root/f && echo pwned >/root/f"
check "admin pulls a file over that link" as_admin cairn file pull c1/root/f "$W/admin/"
check_eq "the admin user's host file is unchanged" "victim" "$(cat "$T/victim-admin")"
check "the link was replaced by a regular file" test -f "$W/admin/f" -a ! -L "$W/admin/f"
check_eq "which has the container's contents" "pwned" "$(cat "$W/admin/f")"
check_eq "no temporary file is left" "f" "$(ls -A "$W/admin")"

# The same as root, to a named target rather than into a directory.
in_c1 "rm /root/f && ln -s '$T/victim-root' /root/f"
check "root pulls a link to a named target" cairn file pull c1/root/f "$W/named"
check_eq "the named target is the link" "$T/victim-root" "$(readlink "$W/named")"
in_c1 "rm /root/f && echo pwned >/root/f"
check "root pulls a file over the named link" cairn file pull c1/root/f "$W/named"
check_eq "root's host file is unchanged" "victim" "$(cat "$T/victim-root")"
check "the named link was replaced by a regular file" test -f "$W/named" -a ! -L "$W/named"
check_eq "which has the container's contents" "pwned" "$(cat "$W/named")"
check_eq "pulling a file to stdout still works" "pwned" "$(cairn file pull c1/root/f -)"

# A link to a directory left at a named target is not a way into that directory.
in_c1 "ln -s '$T/victim-dir' /root/d"
check "root pulls a link to a host directory" cairn file pull c1/root/d "$W/d"
in_c1 "rm /root/d && echo pwned >/root/d"
check_fails "a bare target that is a link to a directory is refused" \
	"Error: Target \"$W/d\" is a symbolic link to a directory (add a trailing \"/\" to pull into that directory)" \
	cairn file pull c1/root/d "$W/d"
check_eq "nothing was written into the linked directory" "payload" "$(ls -A "$T/victim-dir")"
mkdir "$W/mine" && ln -s mine "$W/mylink"
check "with a trailing / a link to a directory is followed, as the user asked" \
	cairn file pull c1/root/d "$W/mylink/"
check_eq "the file landed in the linked directory" "pwned" "$(cat "$W/mine/d")"

# Recursive pulls: a directory of the tree that was a link at the last pull.
in_c1 "mkdir -p /root/tree && echo top >/root/tree/top && ln -s '$T/victim-dir' /root/tree/sub"
mkdir "$W/rec" && chown "$ADMIN_USER" "$W/rec"
check "admin pulls a tree holding a link to a host directory" \
	as_admin cairn file pull -r c1/root/tree "$W/rec/"
check_eq "the link arrives as a link" "$T/victim-dir" "$(readlink "$W/rec/tree/sub")"
in_c1 "rm /root/tree/sub && mkdir /root/tree/sub && echo pwned >/root/tree/sub/payload && echo new >/root/tree/sub/new"
check "admin pulls the tree again, the link now a directory" \
	as_admin cairn file pull -r c1/root/tree "$W/rec/"
check_eq "the host directory behind the link is unchanged" "payload victim" \
	"$(ls -A "$T/victim-dir") $(cat "$T/victim-dir/payload")"
check "the link was replaced by a directory" test -d "$W/rec/tree/sub" -a ! -L "$W/rec/tree/sub"
check_eq "which holds the container's files" "pwned new" \
	"$(cat "$W/rec/tree/sub/payload") $(cat "$W/rec/tree/sub/new")"

# The same with a link planted by hand where the tree has a directory, pulled by root.
mkdir -p "$W/rec-root/tree"
ln -s "$T/victim-dir" "$W/rec-root/tree/sub"
check "root pulls a tree over a planted link" cairn file pull -r c1/root/tree "$W/rec-root/"
check_eq "the host directory behind the planted link is unchanged" "payload victim" \
	"$(ls -A "$T/victim-dir") $(cat "$T/victim-dir/payload")"
check "the planted link was replaced by a directory" \
	test -d "$W/rec-root/tree/sub" -a ! -L "$W/rec-root/tree/sub"
check_eq "which holds the container's files" "pwned new" \
	"$(cat "$W/rec-root/tree/sub/payload") $(cat "$W/rec-root/tree/sub/new")"

# setuid and setgid from the container: dropped unless --keep-mode.
in_c1 'printf "#!/bin/sh\nid\n" >/root/suid && chmod 6755 /root/suid'
in_c1 'mkdir /root/sticky && chmod 1777 /root/sticky && echo x >/root/sticky/x'
check "root pulls a setuid-root file" cairn file pull c1/root/suid "$W/suid"
check_eq "it arrives without setuid and setgid" "755 root" "$(stat -c '%a %U' "$W/suid")"
check "root pulls it with --keep-mode" cairn file pull --keep-mode c1/root/suid "$W/suid-keep"
check_eq "then the bits are kept" "6755" "$(stat -c '%a' "$W/suid-keep")"
check "root pulls it over the first copy with --keep-mode" \
	cairn file pull --keep-mode c1/root/suid "$W/suid"
check_eq "the replaced copy has them too" "6755" "$(stat -c '%a' "$W/suid")"
check "admin pulls the setuid file" as_admin cairn file pull c1/root/suid "$W/admin/suid"
check_eq "it arrives without setuid and setgid" "755" "$(stat -c '%a' "$W/admin/suid")"
check "root pulls a sticky directory with -r" cairn file pull -r c1/root/sticky "$W/"
check_eq "it arrives without the sticky bit" "777" "$(stat -c '%a' "$W/sticky")"
check "root pulls it with -r --keep-mode" cairn file pull -r --keep-mode c1/root/sticky "$W/sticky2"
check_eq "then the sticky bit is kept" "1777" "$(stat -c '%a' "$W/sticky2")"
check_match "--keep-mode is in the help" "--keep-mode" "$(cairn file pull --help 2>&1)"

finish
