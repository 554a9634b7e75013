#!/usr/bin/env bash
# Nothing in a pool is reachable by users outside the admin group. An image holds a setuid-root
# program; unprivileged (u1) and privileged (p1) instances run from it, each with a snapshot.
# Outside the group, a local user can neither run that program from any of its paths under
# CAIRN_DIR, nor read or list anything there but the socket. The modes follow the instances
# through restore, copy and a change of security.privileged, and the first start after an
# upgrade closes a pool laid out the old way.
. "$(dirname "$0")/lib.sh"
setup

POOL="$CAIRN_DIR/storage-pools/default"
W="$T/work"
mkdir -p "$W/img"

# A static program that prints its effective uid; "as UID" first drops to UID and runs the
# program again, so that its setuid bit decides the uid it then prints.
cat >"$W/suid-euid.c" <<'EOF'
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "as") == 0) {
		unsigned id = (unsigned)strtoul(argv[2], NULL, 10);

		if (setgroups(0, NULL) < 0 || setresgid(id, id, id) < 0 ||
		    setresuid(id, id, id) < 0) {
			perror("drop");
			return 2;
		}
		execl(argv[0], argv[0], (char *)NULL);
		perror("exec");
		return 2;
	}
	printf("euid=%u\n", (unsigned)geteuid());
	return 0;
}
EOF
gcc -static -O2 -o "$W/suid-euid" "$W/suid-euid.c" >"$W/gcc.log" 2>&1 ||
	skip_all "a static C program is needed (gcc with a static libc): $(head -1 "$W/gcc.log")"

mkdir -p "$W/img/rootfs/bin" "$W/img/rootfs/sbin" "$W/img/rootfs/etc" "$W/img/rootfs/proc" \
	"$W/img/rootfs/sys" "$W/img/rootfs/dev" "$W/img/rootfs/tmp" "$W/img/rootfs/run"
cp /bin/busybox "$W/img/rootfs/bin/busybox"
for a in sh mount sleep id ls cat true; do ln -sf busybox "$W/img/rootfs/bin/$a"; done
ln -sf ../bin/busybox "$W/img/rootfs/sbin/init"
printf '::sysinit:/bin/mount -t tmpfs tmpfs /run\n::respawn:/bin/sleep 100000\n' >"$W/img/rootfs/etc/inittab"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$W/img/rootfs/etc/passwd"
install -o 0 -g 0 -m 4755 "$W/suid-euid" "$W/img/rootfs/bin/suid-euid"
printf 'architecture: %s\ncreation_date: 1763740800\nproperties:\n  description: setuid test\n' \
	"$(uname -m)" >"$W/img/metadata.yaml"
tar -C "$W/img" --numeric-owner -czf "$W/perm.tar.gz" metadata.yaml rootfs
chmod -R a+rX "$W"

out=$(as_admin cairn image import "$W/perm.tar.gz" --alias permimg 2>&1)
check_match "import an image with a setuid-root program" 'Image imported with fingerprint' "$out"
check "launch an unprivileged instance from it" as_admin cairn launch permimg u1
check "launch a privileged instance from it" as_admin cairn launch permimg p1 -c security.privileged=true
check "snapshot the unprivileged one" as_admin cairn snapshot create u1 s0
check "snapshot the privileged one" as_admin cairn snapshot create p1 s0

BASE=$(api /1.0/instances/u1 | jq -r '.metadata.config["volatile.idmap.base"] // empty')
IMG=$(find "$POOL/images" -path '*/rootfs/bin/suid-euid' | head -1)
IMG=${IMG%/rootfs/bin/suid-euid}
diag "idmap base: $BASE, image volume: $IMG"
if [ -z "$BASE" ] || [ "$BASE" = 0 ] || [ ! -d "$IMG" ]; then
	echo "Bail out! no idmap base or image volume"
	exit 1
fi

# mode_is DESCRIPTION "MODE UID" PATH
mode_is() {
	check_eq "$1" "$2" "$(stat -c '%a %u' "$3" 2>&1)"
}

# The layout as doc/architecture.md gives it: one directory a line, with its mode and owner.
layout_want() {
	cat <<EOF
CAIRN_DIR 711 0
storage-pools 711 0
storage-pools/default 711 0
images 700 0
images/<fingerprint> 700 0
containers 711 0
containers/u1 100 $BASE
containers/p1 700 0
containers-snapshots 711 0
containers-snapshots/u1 700 0
containers-snapshots/u1/s0 100 $BASE
containers-snapshots/p1 700 0
containers-snapshots/p1/s0 700 0
EOF
}
layout_got() {
	local name path
	while read -r name path; do
		printf '%s %s\n' "$name" "$(stat -c '%a %u' "$path" 2>&1)"
	done <<EOF
CAIRN_DIR $CAIRN_DIR
storage-pools $CAIRN_DIR/storage-pools
storage-pools/default $POOL
images $POOL/images
images/<fingerprint> $IMG
containers $POOL/containers
containers/u1 $POOL/containers/u1
containers/p1 $POOL/containers/p1
containers-snapshots $POOL/containers-snapshots
containers-snapshots/u1 $POOL/containers-snapshots/u1
containers-snapshots/u1/s0 $POOL/containers-snapshots/u1/s0
containers-snapshots/p1 $POOL/containers-snapshots/p1
containers-snapshots/p1/s0 $POOL/containers-snapshots/p1/s0
EOF
}
check_layout() { # WHEN
	local want got line
	want=$(layout_want)
	got=$(layout_got)
	if [ "$want" = "$got" ]; then
		ok "$1: the pool's directories have the documented modes and owners"
	else
		not_ok "$1: the pool's directories have the documented modes and owners"
		while read -r line; do diag "$line"; done < <(diff <(echo "$want") <(echo "$got") | grep '^[<>]')
	fi
}
check_layout "after launch"

# ---- the setuid program, at every path it has under CAIRN_DIR ----

SUIDS=$(find "$CAIRN_DIR" -name suid-euid -type f -perm -4000 | sort)
[ "$(printf '%s\n' "$SUIDS" | grep -c .)" = 5 ] || {
	echo "Bail out! the setuid program is not in the image, both instances and both snapshots: $SUIDS"
	exit 1
}
for p in $SUIDS "$CAIRN_DIR/containers/u1/rootfs/bin/suid-euid" "$CAIRN_DIR/containers/p1/rootfs/bin/suid-euid"; do
	out=$(as_outsider "$p" 2>&1)
	if printf '%s\n' "$out" | grep -q 'Permission denied' && ! printf '%s\n' "$out" | grep -q euid=; then
		ok "outsider cannot execute ${p#"$CAIRN_DIR"/} (EACCES)"
	else
		not_ok "outsider cannot execute ${p#"$CAIRN_DIR"/} (EACCES)"
		diag "got: $out"
	fi
done

# ---- reading and listing ----

# outsider_refused DESCRIPTION CMD...: CMD as the outsider fails with EACCES.
outsider_refused() {
	local desc=$1 out
	shift
	if out=$(as_outsider "$@" 2>&1); then
		not_ok "$desc"
		diag "the outsider ran: $*" "got: $out"
	elif printf '%s\n' "$out" | grep -q 'Permission denied'; then
		ok "$desc"
	else
		not_ok "$desc"
		diag "wanted EACCES from: $*" "got: $out"
	fi
}
ROOTS="$IMG/rootfs $POOL/containers/u1/rootfs $POOL/containers/p1/rootfs
$POOL/containers-snapshots/u1/s0/rootfs $POOL/containers-snapshots/p1/s0/rootfs
$CAIRN_DIR/containers/u1/rootfs $CAIRN_DIR/containers/p1/rootfs"
for r in $ROOTS; do
	outsider_refused "outsider cannot read ${r#"$CAIRN_DIR"/}/etc/passwd" cat "$r/etc/passwd"
done
listed=
for d in "$POOL" "$POOL/images" "$IMG" "$POOL/containers" "$POOL/containers/u1" \
	"$POOL/containers/p1" "$POOL/containers-snapshots" "$POOL/containers-snapshots/u1" \
	"$POOL/containers-snapshots/p1" $ROOTS; do
	as_outsider ls "$d" >/dev/null 2>&1 && listed="$listed ${d#"$CAIRN_DIR"/}"
done
check_eq "outsider lists nothing in the pool: mount point, images/, containers/, snapshots, volumes, rootfs" "" "$listed"
outsider_refused "outsider cannot find out which images the pool holds" stat "$IMG"

# Every path under CAIRN_DIR, and the instance links followed: outside the group, nothing is
# readable, writable or executable, and the only directories the outsider passes are those on
# the way to the socket and to an unprivileged container's volume (which only its root passes).
sweep() { # WHEN
	find "$CAIRN_DIR" \( -type l -prune \) -o -printf '%y %p\n' >"$T/paths"
	for l in "$CAIRN_DIR"/containers/*; do
		printf 'L %s\n' "$l" >>"$T/paths"
	done
	chmod 0644 "$T/paths"
	cat >"$T/sweep.sh" <<EOF
while read -r type p; do
	case "\$type:\$p" in
	"s:$CAIRN_DIR/unix.socket") continue ;;
	"d:$CAIRN_DIR" | "d:$CAIRN_DIR/storage-pools" | "d:$POOL" | "d:$CAIRN_DIR/containers" | \\
	"d:$POOL/containers" | "d:$POOL/containers-snapshots") pass=ok ;;
	*) pass= ;;
	esac
	[ -r "\$p" ] && echo "readable: \$p"
	[ -w "\$p" ] && echo "writable: \$p"
	[ -x "\$p" ] && [ -z "\$pass" ] && echo "executable: \$p"
done <$T/paths
EOF
	chmod 0644 "$T/sweep.sh"
	local n out
	n=$(wc -l <"$T/paths")
	out=$(as_outsider sh "$T/sweep.sh" 2>&1)
	if [ -z "$out" ] && [ "$n" -gt 100 ]; then
		ok "$1: outsider can read, write or run none of the $n paths under CAIRN_DIR"
	else
		not_ok "$1: outsider can read, write or run none of the $n paths under CAIRN_DIR"
		diag "$(printf '%s\n' "$out" | head -15)" "($(printf '%s\n' "$out" | grep -c .) in all)"
	fi
}
sweep "after launch"

msg="Error: You don't have the needed permissions to talk to cairnd (not in group $TGROUP)"
check_fails "the outsider still reaches the socket and is told why it is refused" "$msg" as_outsider cairn list

# No nosuid on the pool: inside the container, a user who may run the program gets its owner.
check_eq "inside the unprivileged container, the setuid bit works for a user" "euid=0" \
	"$(as_admin cairn exec u1 -- /bin/suid-euid as 1000 2>&1)"
check_eq "inside the privileged container, the setuid bit works for a user" "euid=0" \
	"$(as_admin cairn exec p1 -- /bin/suid-euid as 1000 2>&1)"

# ---- restore, copy and a change of security.privileged keep the layout ----

check "restore the running unprivileged instance" as_admin cairn snapshot restore u1 s0
mode_is "after restore: the unprivileged volume is 0100, owned by its root uid" "100 $BASE" "$POOL/containers/u1"
check_eq "after restore: the unprivileged instance runs again" "Running" "$(api_status u1)"
check_eq "after restore: it executes commands" "euid=0" "$(as_admin cairn exec u1 -- /bin/suid-euid 2>&1)"
check "stop it" as_admin cairn stop u1 --force
check "restore it stopped" as_admin cairn snapshot restore u1 s0
mode_is "after a stopped restore: the volume stays closed (0700 root) until it starts" "700 0" "$POOL/containers/u1"
check "it starts after the restore" as_admin cairn start u1
check_eq "and runs" "Running" "$(api_status u1)"
mode_is "started, its volume is 0100, owned by its root uid" "100 $BASE" "$POOL/containers/u1"
check "restore the privileged instance" as_admin cairn snapshot restore p1 s0
mode_is "after restore: the privileged volume is 0700 root" "700 0" "$POOL/containers/p1"

check "copy the unprivileged instance with its snapshots" as_admin cairn copy u1 u2
mode_is "the copy's volume is 0100, owned by its root uid" "100 $BASE" "$POOL/containers/u2"
mode_is "the copy's snapshot directory is 0700 root" "700 0" "$POOL/containers-snapshots/u2"
check "the copy starts" as_admin cairn start u2
check_eq "and runs" "Running" "$(api_status u2)"
check "copy the privileged snapshot into a new instance" as_admin cairn copy p1/s0 p2
mode_is "that copy's volume is 0700 root" "700 0" "$POOL/containers/p2"

check "stop u2" as_admin cairn stop u2 --force
check "make u2 privileged" as_admin cairn config set u2 security.privileged=true
check "start it privileged" as_admin cairn start u2
check_eq "a volume that became privileged is 0700 root, with its rootfs unshifted" "700 0 0" \
	"$(stat -c '%a %u' "$POOL/containers/u2") $(stat -c %u "$POOL/containers/u2/rootfs")"
check "stop u2 again" as_admin cairn stop u2 --force
check "make it unprivileged again" as_admin cairn config set u2 security.privileged=false
check "start it unprivileged" as_admin cairn start u2
mode_is "a volume that became unprivileged again is 0100, owned by its root uid" "100 $BASE" "$POOL/containers/u2"
check_eq "and it runs" "Running" "$(api_status u2)"

# ---- an install laid out the old way is closed by the next start ----

stop_daemon
chmod 0755 "$POOL"
chmod 0711 "$POOL/images" "$IMG" "$POOL/containers/u1" "$POOL/containers/p1" \
	"$POOL/containers-snapshots/u1" "$POOL/containers-snapshots/p1"
chown 0:0 "$POOL/containers/u1"
start_daemon
check_layout "after an upgrade"
check_eq "after an upgrade: the running unprivileged instance still runs" "euid=0" \
	"$(as_admin cairn exec u1 -- /bin/suid-euid 2>&1)"
sweep "at the end"

finish
