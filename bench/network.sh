#!/usr/bin/env bash
# Benchmark of managed networking, in one run on one machine, inside a network namespace of its
# own (the daemon runs in it with ip netns exec, as tests/e2e/86-networks.sh does, so no bridge,
# address or packet reaches the host's namespace):
#
#   time from `cairn launch` to an IPv4 address in `cairn list`, on the default profile's eth0
#     (DHCP by the busybox image's udhcpc at boot), and with a fixed address (a reservation);
#   `cairn start` of a stopped instance with its nic, and of the same instance with the nic
#     hidden (eth0: type none): what a nic costs at start (the veth pair, the bridge check, the
#     MAC, the dnsmasq hosts file).
#
# Usage: sudo bash bench/network.sh > result.md
# BENCH_NET_RUNS sets the samples of each (default 10). Takes about a minute.

set -u

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${BENCH_NET_RUNS:-10}
NS=cairn-bench-$$

command -v ip >/dev/null || bench_die "ip is not installed"
[ -x /usr/sbin/dnsmasq ] || bench_die "dnsmasq is not installed (dnsmasq-base)"

# `ip netns exec` mounts a sysfs of the namespace's own over /sys, which hides the host's cgroup
# hierarchies: this wrapper mounts them again (as tests/e2e/86-networks.sh does), so that the
# instances run in their cgroups as they would on the host.
ns_wrapper() {
	[ -x "$T/bin/in-netns" ] && return 0
	cat >"$T/bin/in-netns" <<'EOS'
#!/bin/sh
grep -E ' /sys/fs/cgroup(/[^ ]*)? (tmpfs|cgroup|cgroup2) ' /proc/1/mounts |
	while read -r src dst type opts _; do
		case $type in
		tmpfs) mount -t tmpfs -o mode=755 cgroup_root "$dst" ;;
		cgroup) mkdir -p "$dst" && mount -t cgroup -o "${opts#rw,relatime,}" "$src" "$dst" ;;
		cgroup2) mkdir -p "$dst" && mount -t cgroup2 "$src" "$dst" ;;
		esac
	done
exec "$@"
EOS
	chmod 0755 "$T/bin/in-netns"
}

# The daemon and everything it starts live in the namespace.
bench_start_daemon() {
	ns_wrapper
	ip netns exec "$NS" in-netns cairnd --group root >>"$T/cairnd.log" 2>&1 &
	DAEMON_PID=$!
	local _
	for _ in $(seq 1 100); do
		if [ -S "$CAIRN_DIR/unix.socket" ] && cairn list >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -20 "$T/cairnd.log" >&2
	bench_die "cairnd did not start"
}

eval "lib_$(declare -f bench_cleanup)"
bench_cleanup() {
	local rc=$? pid
	if [ -e "/run/netns/$NS" ]; then
		if [ -n "$DAEMON_PID" ]; then
			kill -TERM "$DAEMON_PID" 2>/dev/null
			wait "$DAEMON_PID" 2>/dev/null
			DAEMON_PID=
		fi
		for pid in $(ip netns pids "$NS" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$NS" 2>/dev/null
	fi
	(exit $rc)
	lib_bench_cleanup
}

ip netns add "$NS" || bench_die "cannot create a network namespace"
ip -n "$NS" link set lo up
bench_setup
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
# cairnbr0 and the default profile's eth0, as `cairnd init` makes them, in the namespace.
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
ip netns exec "$NS" in-netns cairnd init --auto >"$T/init-net.log" 2>&1 || {
	cat "$T/init-net.log" >&2
	bench_die "cairnd init (network) failed"
}
bench_start_daemon
sub=$(cairn network get cairnbr0 ipv4.address)
sub=${sub%.1/24}

api_send() {
	local out op
	out=$(curl -s --unix-socket "$CAIRN_DIR/unix.socket" -X "$1" -d "$3" "http://cairn$2")
	op=$(printf '%s' "$out" | jq -r 'select(.type == "async") | .operation')
	[ -n "$op" ] && out=$(curl -s --unix-socket "$CAIRN_DIR/unix.socket" "http://cairn$op/wait")
	[ -z "$(printf '%s' "$out" | jq -r '.error // .metadata.err // ""')" ]
}

# until_ipv4 NAME: polls `cairn list` (every 20 ms) until NAME has an IPv4 address.
until_ipv4() {
	local _
	for _ in $(seq 1 1500); do
		[ -n "$(cairn list "$1" -c 4 --format csv)" ] && return 0
		sleep 0.02
	done
	return 1
}

launch_to_address() {
	cairn launch busybox "$1" -q && until_ipv4 "$1"
}

launch_fixed_to_address() {
	api_send POST /1.0/instances "{\"name\":\"$1\",\"source\":{\"type\":\"image\",\"alias\":\"busybox\"},\"devices\":{\"eth0\":{\"type\":\"nic\",\"network\":\"cairnbr0\",\"ipv4.address\":\"$sub.$2\"}}}" &&
		cairn start "$1" && until_ipv4 "$1"
}

say "launch to an address, $RUNS of each, interleaved"
for i in $(seq 1 "$RUNS"); do
	timed launch_dhcp launch_to_address "d$i"
	timed launch_fixed launch_fixed_to_address "f$i" $((10 + i))
	quiet cairn delete --force "d$i" "f$i"
done

say "start with and without a nic, $RUNS of each, interleaved"
quiet cairn init busybox withnic
quiet api_send POST /1.0/instances '{"name":"nonic","source":{"type":"image","alias":"busybox"},"devices":{"eth0":{"type":"none"}}}'
for i in $(seq 1 "$RUNS"); do
	timed start_nic cairn start withnic
	timed start_none cairn start nonic
	quiet cairn stop --force withnic nonic
done

cat <<EOR
## Networks ($(date -u +%Y-%m-%d))

\`bench/network.sh\`: a private daemon on the default btrfs pool, in a network namespace of its
own, with \`cairnbr0\` and the default profile's \`eth0\` as \`cairnd init\` makes them. Medians of
$(count launch_dhcp); load average before the run: $LOAD_BEFORE.

| what | median |
| --- | ---: |
| \`cairn launch\` to an IPv4 address in \`cairn list\` (DHCP at boot) | $(ms "$(median_us launch_dhcp)") |
| the same with a fixed address (\`ipv4.address\`, a reservation) | $(ms "$(median_us launch_fixed)") |
| \`cairn start\` with the nic | $(ms "$(median_us start_nic)") |
| \`cairn start\` without it (\`eth0: type none\`) | $(ms "$(median_us start_none)") |
| what the nic costs at start | $(ratio "$(median_us start_nic)" "$(median_us start_none)") |
EOR
