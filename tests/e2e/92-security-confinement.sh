#!/usr/bin/env bash
# Confinement of containers as Incus applies it: every container runs under the default seccomp
# deny list (kexec_load, open_by_handle_at, init_module, finit_module, delete_module fail with
# ENOSYS, umount -f with EACCES), and a privileged one also loses CAP_SYS_TIME, CAP_SYS_MODULE,
# CAP_SYS_RAWIO, CAP_MAC_OVERRIDE and CAP_MAC_ADMIN from its bounding set. Read from
# /proc/<pid>/status inside the containers (init and an exec'd command) and by calling the
# denied syscalls through busybox.
. "$(dirname "$0")/lib.sh"
setup

# The capabilities a privileged container must not hold: CAP_SYS_MODULE=16, CAP_SYS_RAWIO=17,
# CAP_SYS_TIME=25, CAP_MAC_OVERRIDE=32, CAP_MAC_ADMIN=33.
DROPPED="16 17 25 32 33"

# status_field NAME PID FIELD: FIELD of /proc/PID/status inside instance NAME ("self" is the
# exec'd command itself).
status_field() {
	as_admin cairn exec "$1" -- cat "/proc/$2/status" | awk -v f="$3:" '$1 == f { print $2 }'
}

# has_cap HEXMASK BIT: exit 0 when BIT is set in HEXMASK.
has_cap() {
	[ $(((16#$1 >> $2) & 1)) -eq 1 ]
}

# lacks_caps HEXMASK: exit 0 when no bit of $DROPPED is set; prints the ones that are.
lacks_caps() {
	local bit held=
	for bit in $DROPPED; do
		has_cap "$1" "$bit" && held="$held $bit"
	done
	[ -z "$held" ] || echo "still held:$held"
	[ -z "$held" ]
}

check "launch a privileged container" as_admin cairn launch busybox priv -c security.privileged=true
check "launch an unprivileged container" as_admin cairn launch busybox unpriv

for c in priv unpriv; do
	conf="$CAIRN_DIR/logs/$c/lxc.conf"
	profile="$CAIRN_DIR/logs/$c/seccomp.profile"
	check "$c: lxc.conf loads the seccomp profile" grep -qxF "lxc.seccomp.profile = $profile" "$conf"
	check "$c: the profile is root's alone (0600)" test "$(stat -c '%u %a' "$profile" 2>&1)" = "0 600"
	check "$c: the profile is a deny list" test "$(head -2 "$profile" 2>&1 | tr '\n' ' ')" = "2 denylist "
	for sc in kexec_load open_by_handle_at init_module finit_module delete_module; do
		check "$c: the profile denies $sc with ENOSYS" grep -qxF "$sc errno 38" "$profile"
	done
	check "$c: the profile rejects umount -f" grep -qxF reject_force_umount "$profile"

	check_eq "$c: init runs under a seccomp filter" 2 "$(status_field "$c" 1 Seccomp)"
	check_eq "$c: an exec'd command runs under a seccomp filter" 2 "$(status_field "$c" self Seccomp)"

	# A kernel without module support answers ENOSYS itself, filter or not.
	out=$(as_admin cairn exec "$c" -- rmmod cairn_no_such_module 2>&1)
	if [ -e /proc/modules ]; then
		check_match "$c: delete_module is denied with ENOSYS (rmmod)" 'Function not implemented' "$out"
	else
		ok "$c: delete_module is denied with ENOSYS (rmmod) # SKIP the host kernel has no modules"
	fi

	out=$(as_admin cairn exec "$c" -- sh -c \
		'mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && umount -f /tmp/m; r=$?; umount /tmp/m 2>/dev/null; exit $r' 2>&1)
	check_match "$c: umount -f is rejected with EACCES" "can't unmount /tmp/m: Permission denied" "$out"
	out=$(as_admin cairn exec "$c" -- sh -c 'mount -t tmpfs none /tmp/m && umount /tmp/m && echo unmounted' 2>&1)
	check_eq "$c: a plain umount still works" unmounted "$out"
done

for f in CapBnd CapEff; do
	mask=$(status_field priv 1 "$f")
	check "priv: init's $f ($mask) lacks sys_module, sys_rawio, sys_time, mac_override, mac_admin" \
		lacks_caps "$mask"
	# Root-equivalent otherwise: the rest stays, CAP_SYS_ADMIN (21) included.
	check "priv: init's $f ($mask) keeps CAP_SYS_ADMIN" has_cap "$mask" 21
done
mask=$(status_field priv self CapEff)
check "priv: an exec'd command's CapEff ($mask) lacks the dropped capabilities" lacks_caps "$mask"
# Incus's device allowlist: root may make a node for the host's /dev/kmsg (1:11) or a disk, but
# not open it; the pseudo devices work as before.
out=$(as_admin cairn exec priv -- sh -c 'mknod /tmp/kmsg c 1 11 && head -c 1 /tmp/kmsg' 2>&1)
check_match "priv: a node for the host's /dev/kmsg cannot be opened" 'Operation not permitted|Permission denied' "$out"
out=$(as_admin cairn exec priv -- sh -c 'echo x >/dev/null && head -c 4 /dev/zero | wc -c' 2>&1)
check_eq "priv: /dev/null and /dev/zero still work" 4 "$(printf '%s' "$out" | tr -d ' ')"
check "priv: the device allowlist is in lxc.conf" grep -qE '^lxc\.cgroup2?\.devices\.deny = a$' \
	"$CAIRN_DIR/logs/priv/lxc.conf"
check "priv: the drop list is in lxc.conf" \
	grep -qxF "lxc.cap.drop = sys_time sys_module sys_rawio mac_admin mac_override" \
	"$CAIRN_DIR/logs/priv/lxc.conf"

# Unprivileged: capabilities only count in the container's user namespace, so nothing is dropped
# (as with Incus); root inside is an unprivileged uid outside.
check "unpriv: no drop list in lxc.conf" sh -c "! grep -q '^lxc.cap.drop' '$CAIRN_DIR/logs/unpriv/lxc.conf'"
out=$(as_admin cairn exec unpriv -- cat /proc/self/uid_map | awk '{ print $1, ($2 != 0) }')
check_eq "unpriv: root inside maps to a non-root uid outside" "0 1" "$out"

# The filter and the drop list are applied at every start, also after the privilege changes.
check "stop priv" as_admin cairn stop priv --force
check "priv becomes unprivileged" as_admin cairn config set priv security.privileged=false
check "start it again" as_admin cairn start priv
check_eq "after the change: still filtered" 2 "$(status_field priv 1 Seccomp)"
check "after the change: no drop list" sh -c "! grep -q '^lxc.cap.drop' '$CAIRN_DIR/logs/priv/lxc.conf'"

check "stop unpriv" as_admin cairn stop unpriv --force
check "unpriv becomes privileged" as_admin cairn config set unpriv security.privileged=true
check "start it again" as_admin cairn start unpriv
mask=$(status_field unpriv 1 CapBnd)
check "after the change: CapBnd ($mask) lacks the dropped capabilities" lacks_caps "$mask"
check_eq "after the change: filtered" 2 "$(status_field unpriv 1 Seccomp)"

check "delete both" as_admin cairn delete priv unpriv --force
finish
