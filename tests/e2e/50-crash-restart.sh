#!/usr/bin/env bash
# State that survives: daemon restarts, SIGKILL in the middle of a launch or a delete, a
# "reboot" (containers stopped and the pool unmounted behind the daemon's back), autostart.
. "$(dirname "$0")/lib.sh"
setup

check "launch c1" as_admin cairn launch busybox c1
check "init c2 (stopped)" as_admin cairn init busybox c2
pid=$(init_pid c1)

stop_daemon
check_eq "containers keep running while cairnd is down" "yes" "$(kill -0 "$pid" 2>/dev/null && echo yes)"
start_daemon
check_eq "after a restart c1 is running, same init" "$pid" "$(init_pid c1)"
check_eq "after a restart c2 is stopped" "Stopped" "$(api_status c2)"
check_eq "database kept both" "c1 c2" "$(as_admin cairn list --format csv | cut -d, -f1 | tr '\n' ' ' | sed 's/ $//')"

# A reboot: the daemon dies, the containers stop, the pool's mount and loop device go away.
kill_daemon
lxc-stop -P "$CAIRN_DIR/containers" -n c1 -k >/dev/null 2>&1
if [ "$BACKEND" = btrfs ]; then
	umount "$CAIRN_DIR/storage-pools/default"
	check "the pool is unmounted and its loop device gone" bash -c "! grep -q ' $CAIRN_DIR/storage-pools/default ' /proc/mounts && ! losetup -j '$CAIRN_DIR/disks/default.img' | grep -q ."
fi
start_daemon
if [ "$BACKEND" = btrfs ]; then
	check "the daemon mounted the pool again" grep -q " $CAIRN_DIR/storage-pools/default " /proc/mounts
fi
for i in $(seq 1 50); do [ "$(api_status c1)" = Running ] && break; sleep 0.2; done
check_eq "c1, running before the reboot, is started again" "Running" "$(api_status c1)"
check_eq "c2, stopped before the reboot, stays stopped" "Stopped" "$(api_status c2)"

check "boot.autostart on c2" as_admin cairn config set c2 boot.autostart=true
kill_daemon
lxc-stop -P "$CAIRN_DIR/containers" -n c1 -k >/dev/null 2>&1
start_daemon
for i in $(seq 1 50); do [ "$(api_status c2)" = Running ] && break; sleep 0.2; done
check_eq "boot.autostart starts c2" "Running" "$(api_status c2)"
check "stop everything" as_admin cairn stop --force c1 c2

# SIGKILL at each step of a launch: afterwards the instance is whole and works, or is gone.
for point in create-after-row create-after-volume create-before-ready; do
	stop_daemon
	rm -f "$CAIRN_DIR/crashpoint"
	CAIRN_CRASHPOINT=$point start_daemon
	as_admin cairn launch busybox k1 >/dev/null 2>&1 &
	client=$!
	if wait_crashpoint "$point"; then ok "launch reached $point"; else not_ok "launch reached $point"; fi
	kill_daemon
	wait "$client" 2>/dev/null
	start_daemon
	status=$(api_status k1)
	if [ -z "$status" ]; then
		check_eq "after a kill at $point k1 is fully gone: no volume" "c1 c2 " "$(pool_volumes)"
		check "after a kill at $point k1 is fully gone: no logs" test ! -e "$CAIRN_DIR/logs/k1"
		check "after a kill at $point the name can be used again" as_admin cairn launch busybox k1
	else
		ok "after a kill at $point k1 is present"
		check "after a kill at $point k1 starts" as_admin cairn start k1
	fi
	check_eq "after a kill at $point k1 works" "Running" "$(api_status k1)"
	check "clean up k1" as_admin cairn delete --force k1
	check_eq "volumes after the k1 round at $point" "c1 c2 " "$(pool_volumes)"
done

# SIGKILL at each step of a delete: afterwards the instance is gone for good.
for point in delete-after-mark delete-after-volume; do
	check "launch d1" as_admin cairn init busybox d1
	stop_daemon
	rm -f "$CAIRN_DIR/crashpoint"
	CAIRN_CRASHPOINT=$point start_daemon
	as_admin cairn delete d1 >/dev/null 2>&1 &
	client=$!
	if wait_crashpoint "$point"; then ok "delete reached $point"; else not_ok "delete reached $point"; fi
	kill_daemon
	wait "$client" 2>/dev/null
	start_daemon
	check_eq "after a kill at $point d1 is gone from the API" "" "$(api_status d1)"
	check_eq "after a kill at $point no volume is left" "c1 c2 " "$(pool_volumes)"
	check "after a kill at $point the link is gone" test ! -e "$CAIRN_DIR/containers/d1"
done

# SIGKILL while an image is being imported: no volume without an image, no image without one.
mkdir -p "$T/work/img/rootfs/bin"
cp /bin/busybox "$T/work/img/rootfs/bin/"
printf 'architecture: %s\ncreation_date: 1\n' "$(uname -m)" >"$T/work/img/metadata.yaml"
tar -C "$T/work/img" -czf "$T/work/img.tar.gz" metadata.yaml rootfs
chmod -R a+rX "$T/work"
images_before=$(ls "$CAIRN_DIR/storage-pools/default/images" | sort | tr '\n' ' ')
stop_daemon
rm -f "$CAIRN_DIR/crashpoint"
CAIRN_CRASHPOINT=image-before-row start_daemon
as_admin cairn image import "$T/work/img.tar.gz" --alias crashy >/dev/null 2>&1 &
client=$!
if wait_crashpoint image-before-row; then ok "import reached image-before-row"; else not_ok "import reached image-before-row"; fi
kill_daemon
wait "$client" 2>/dev/null
start_daemon
check_eq "the half-imported image volume is gone" "$images_before" "$(ls "$CAIRN_DIR/storage-pools/default/images" | sort | tr '\n' ' ')"
check "the import works afterwards" as_admin cairn image import "$T/work/img.tar.gz" --alias crashy

finish
