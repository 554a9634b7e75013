#!/usr/bin/env bash
# Managed networks, all inside a network namespace this suite creates and removes: the daemon
# runs in it (ip netns exec, which also gives it the namespace's own /sys, where LXC looks for
# the bridge), so every bridge, address, route, nftables rule, dnsmasq, container and packet of
# the suite lives there and the host's own namespace never sees one. Covers create (auto and
# given subnets), the bridge, its nft masquerade rule and dnsmasq answering DHCP and DNS, leases,
# instances with nics (DHCP at boot, names in DNS, a page fetched by name, a fixed address, the
# MAC and address kept across a restart, delete of a network in use refused),
# set/unset/get/edit/rename/delete, bad input refused with nothing changed, a dnsmasq killed and
# restarted, a daemon killed in the middle of a create or delete (whole or absent at restart),
# and everything rebuilt at start after a "reboot" took the bridge, rules and dnsmasq away.
. "$(dirname "$0")/lib.sh"
[ "${CAIRN_BACKEND:-btrfs}" = btrfs ] || skip_all "networks do not depend on the storage backend (run with btrfs)"
[ "$(id -u)" -eq 0 ] || skip_all "network namespaces need root"
for tool in ip nft busybox; do
	command -v "$tool" >/dev/null || skip_all "$tool is not installed (scripts/deps.sh installs it)"
done
[ -x /usr/sbin/dnsmasq ] || skip_all "dnsmasq is not installed (Debian package dnsmasq-base)"

NS=cairn86-$$
NSPATH=/run/netns/$NS

# ns_wrapper: `ip netns exec` mounts a sysfs of the namespace's own over /sys (LXC looks there for
# the bridge), which hides the host's cgroup hierarchies; this wrapper mounts them again in that
# private mount namespace (reading the host's list from /proc/1/mounts) before it runs its
# command, so that the containers get their cgroups (limits, the freezer CRIU needs).
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

# The daemon runs in the suite's namespace; its clients stay outside and reach it by its unix
# socket, which needs no network.
start_daemon() {
	ns_wrapper
	ip netns exec "$NS" in-netns cairnd --group "$TGROUP" "$@" >>"$T/cairnd.log" 2>&1 &
	DAEMON_PID=$!
	local i
	for i in $(seq 1 100); do
		if [ -S "$CAIRN_DIR/unix.socket" ] && cairn list >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -20 "$T/cairnd.log" >&2
	echo "Bail out! cairnd did not start"
	exit 1
}

# lib.sh's cleanup, run after the namespace's processes (the daemon's dnsmasq) are stopped and
# the namespace is removed.
eval "lib_$(declare -f cleanup)"
cleanup() {
	local rc=$? pid
	if [ -n "$DAEMON_PID" ]; then
		kill -KILL "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		DAEMON_PID=
	fi
	if [ -e "$NSPATH" ]; then
		for pid in $(ip netns pids "$NS" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$NS" 2>/dev/null
	fi
	(exit $rc)
	lib_cleanup
}
trap cleanup EXIT
host_forwarding="$(cat /proc/sys/net/ipv4/ip_forward) $(cat /proc/sys/net/ipv6/conf/all/forwarding)"
host_had_cairnbr0=no
ip link show cairnbr0 >/dev/null 2>&1 && host_had_cairnbr0=yes
ip netns add "$NS" || skip_all "cannot create a network namespace"
ip -n "$NS" link set lo up
setup

# Network names are interface names (15 bytes at most): short, and unique to this run so that a
# leak would be seen on the host.
id=$(printf '%s' "$T" | md5sum | cut -c1-5)
BR=nb$id
N2=nc$id

in_ns() { ip netns exec "$NS" "$@"; }
networks() { as_admin cairn network list --format csv 2>/dev/null | cut -d, -f1 | sort | tr '\n' ' '; }
dnsmasq_pid() { cat "$CAIRN_DIR/networks/$1/dnsmasq.pid" 2>/dev/null; }
# The pids of the dnsmasq processes whose command line holds the argument $1 (pgrep -f would
# also find the shell that runs it).
dnsmasq_with() {
	local p
	for p in $(pgrep -x dnsmasq); do
		tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qxF -- "$1" && echo "$p"
	done
}
# True when process $1 runs in the suite's namespace.
in_our_ns() { [ "$(readlink "/proc/$1/ns/net")" = "$(in_ns readlink /proc/self/ns/net)" ]; }

# ---- create ----
check "create $BR with automatic subnets" as_admin cairn network create "$BR"
check_eq "it is listed" "$BR " "$(networks)"
v4=$(as_admin cairn network get "$BR" ipv4.address)
v6=$(as_admin cairn network get "$BR" ipv6.address)
check_match "ipv4.address=auto became a /24 of 10.0.0.0/8" '^10\.[0-9]+\.[0-9]+\.1/24$' "$v4"
check_match "ipv6.address=auto became a ULA /64" '^fd[0-9a-f]{2}:[0-9a-f:]+::1/64$' "$v6"
check_eq "auto set ipv4.nat" "true" "$(as_admin cairn network get "$BR" ipv4.nat)"
gw=${v4%/*}
check "the bridge exists in the namespace" in_ns ip link show "$BR"
check_match "it carries the IPv4 address" "inet $v4 " "$(in_ns ip -4 addr show "$BR")"
check_match "it carries the IPv6 address" "inet6 $v6 " "$(in_ns ip -6 addr show "$BR")"
check "the host's namespace has no such bridge" sh -c "! ip link show '$BR' 2>/dev/null"
check "the host's namespace has no route to the subnet" sh -c "! ip -4 route show | grep -qF '${v4%.1/24}.0/24'"
check_match "the masquerade rule is in table inet cairn in the namespace" \
	"ip saddr ${v4%.1/24}.0/24 ip daddr != ${v4%.1/24}.0/24 masquerade" \
	"$(in_ns nft list table inet cairn 2>&1)"
check "the host's namespace has no cairn nft table" sh -c "! nft list table inet cairn >/dev/null 2>&1"
pid=$(dnsmasq_pid "$BR")
check "dnsmasq runs" test -n "$pid" -a -d "/proc/$pid"
check "dnsmasq runs in the namespace" in_our_ns "$pid"
check_match "network info shows the bridge up with dnsmasq running" "State: up" \
	"$(as_admin cairn network info "$BR")"
check_match "network info shows its IPv4 address" "inet	$v4 \\(global\\)" "$(as_admin cairn network info "$BR")"
show=$(as_admin cairn network show "$BR")
check_match "network show is YAML with the config" "^  ipv4.address: $v4$" "$show"
check_match "network show says managed" "^managed: true$" "$show"
check_eq "the API has the Incus fields" "bridge true Created [\"none\"] []" \
	"$(api "/1.0/networks/$BR" | jq -c -r '.metadata | "\(.type) \(.managed) \(.status) \(.locations) \(.used_by)"')"

# ---- DHCP and DNS, on a veth pair inside the namespace ----
# Dynamic leases from .100 to .199, so that the fixed addresses below never meet one.
check "set ipv4.dhcp.ranges" as_admin cairn network set "$BR" "ipv4.dhcp.ranges=${v4%.1/24}.100-${v4%.1/24}.199"
in_ns ip link add vc0 type veth peer name vc1
in_ns ip link set vc1 master "$BR" up
in_ns ip link set vc0 up
cat >"$T/udhcpc.sh" <<'EOS'
#!/bin/sh
[ "$1" = bound ] && echo "lease=$ip"
exit 0
EOS
chmod 0755 "$T/udhcpc.sh"
out=$(in_ns busybox udhcpc -i vc0 -s "$T/udhcpc.sh" -n -q -t 5 -T 1 -x hostname:probe 2>&1)
lease=$(printf '%s\n' "$out" | sed -n 's/^lease=//p')
check_match "dnsmasq hands out an address of its range by DHCP" "^${v4%.1/24}\\.1[0-9][0-9]$" "$lease"
check_match "probe.cairn resolves to it at the bridge's address" "Address:? *$lease" \
	"$(in_ns busybox nslookup probe.cairn "$gw" 2>&1)"
check_match "network list-leases shows the lease" "^probe,.*,$lease,DYNAMIC$" \
	"$(as_admin cairn network list-leases "$BR" --format csv)"

# ---- dnsmasq supervision ----
pid=$(dnsmasq_pid "$BR")
kill -KILL "$pid"
new=
for i in $(seq 1 50); do
	new=$(dnsmasq_pid "$BR")
	[ -n "$new" ] && [ "$new" != "$pid" ] && [ -d "/proc/$new" ] && break
	sleep 0.1
done
check "a killed dnsmasq is restarted" test -n "$new" -a "$new" != "$pid" -a -d "/proc/$new"
check_match "the restart is in the daemon's log" "dnsmasq of network \"$BR\" .*killed by signal 9; restarting" \
	"$(cat "$T/cairnd.log")"
check_match "the restarted dnsmasq answers DNS" "Address:? *$lease" \
	"$(in_ns busybox nslookup probe.cairn "$gw" 2>&1)"

# ---- instances with nics ----
# api_send METHOD PATH JSON: the answer's error, empty when it worked (an operation is waited for).
api_send() {
	local out op
	out=$(curl -s --unix-socket "$CAIRN_DIR/unix.socket" -X "$1" -d "$3" "http://cairn$2")
	op=$(printf '%s' "$out" | jq -r 'select(.type == "async") | .operation')
	if [ -n "$op" ]; then
		out=$(curl -s --unix-socket "$CAIRN_DIR/unix.socket" "http://cairn$op/wait")
		printf '%s' "$out" | jq -r '.metadata.err // ""'
		return
	fi
	printf '%s' "$out" | jq -r '.error // ""'
}
# inet_of NAME: the IPv4 address of eth0 in instance NAME, once it has one (10 s at most).
inet_of() {
	local i a
	for i in $(seq 1 100); do
		a=$(cairn exec "$1" -- ip -4 -o addr show dev eth0 2>/dev/null | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p')
		[ -n "$a" ] && { echo "$a"; return 0; }
		sleep 0.1
	done
	return 1
}
sub=${v4%.1/24}
check_eq "create c1 with a nic on $BR" "" \
	"$(api_send POST /1.0/instances "{\"name\":\"c1\",\"source\":{\"type\":\"image\",\"alias\":\"busybox\"},\"devices\":{\"eth0\":{\"type\":\"nic\",\"network\":\"$BR\"}}}")"
check_eq "create c2 with a fixed address $sub.50" "" \
	"$(api_send POST /1.0/instances "{\"name\":\"c2\",\"source\":{\"type\":\"image\",\"alias\":\"busybox\"},\"devices\":{\"eth0\":{\"type\":\"nic\",\"network\":\"$BR\",\"ipv4.address\":\"$sub.50\"}}}")"
check_match "a nic on a missing network is refused" 'Network "nope" not found' \
	"$(api_send POST /1.0/instances '{"name":"c3","source":{"type":"image","alias":"busybox"},"devices":{"eth0":{"type":"nic","network":"nope"}}}')"
check_match "a fixed address outside the subnet is refused" "is not in network \"$BR\"" \
	"$(api_send PATCH /1.0/instances/c2 "{\"devices\":{\"eth0\":{\"type\":\"nic\",\"network\":\"$BR\",\"ipv4.address\":\"10.251.0.9\"}}}")"
check_match "a multicast MAC is refused" 'invalid "hwaddr"' \
	"$(api_send PATCH /1.0/instances/c2 "{\"devices\":{\"eth0\":{\"type\":\"nic\",\"network\":\"$BR\",\"hwaddr\":\"01:00:5e:00:00:01\"}}}")"
check "start c1 and c2" as_admin cairn start c1 c2
a1=$(inet_of c1)
a2=$(inet_of c2)
check_match "c1 gets an address of the subnet by DHCP at boot" "^$sub\.[0-9]+$" "$a1"
check_eq "c2 gets its fixed address" "$sub.50" "$a2"
for i in $(seq 1 50); do
	as_admin cairn exec c1 -- ip -6 addr show dev eth0 scope global | grep -q inet6 && break
	sleep 0.2
done
check_match "c1 gets an IPv6 address of the network's /64 (SLAAC)" "inet6 ${v6%::1/64}:" \
	"$(as_admin cairn exec c1 -- ip -6 addr show dev eth0)"
check_match "cairn list shows c1's IPv4 address" "^c1,\"?$a1 \\(eth0\\)" "$(as_admin cairn list --format csv -c n4 c1)"
check_match "cairn list shows c1's IPv6 address" "^c1,\"?${v6%::1/64}:.* \\(eth0\\)" \
	"$(as_admin cairn list --format csv -c n6 c1)"
check_match "cairn info shows eth0 with its address" "inet:  $a1/24 \\(global\\)" "$(as_admin cairn info c1)"
check_eq "the API's state.network has Incus's fields" "broadcast up 1500" \
	"$(api /1.0/instances/c1/state | jq -r '.metadata.network.eth0 | "\(.type) \(.state) \(.mtu)"')"
mac1=$(as_admin cairn config show c1 | sed -n 's/^  volatile.eth0.hwaddr: "\{0,1\}\([0-9a-f:]*\)"\{0,1\}$/\1/p')
check_match "c1's MAC is kept in volatile.eth0.hwaddr" '^00:16:3e:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$' "$mac1"
check_match "the host side sees it in lxc.conf" "lxc.net.0.hwaddr = $mac1" "$(cat "$CAIRN_DIR/logs/c1/lxc.conf")"
as_admin cairn exec c2 -- sh -c 'mkdir -p /www && echo hello-from-c2 > /www/index.html && httpd -p 80 -h /www'
# nc rather than wget: the wget of Debian's static busybox crashes inside a container.
check_eq "c1 fetches c2's page by name (c2.cairn)" "hello-from-c2" \
	"$(as_admin cairn exec c1 -- sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc c2.cairn 80" 2>&1 | tail -1)"
check_eq "the namespace's host side fetches it by address" "hello-from-c2" \
	"$(in_ns sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc $sub.50 80" 2>&1 | tail -1)"
check_match "list-leases shows c2's reservation" "^c2,.*,$sub.50,STATIC$" \
	"$(as_admin cairn network list-leases "$BR" --format csv)"
check_match "used_by names both instances" '\["/1.0/instances/c1","/1.0/instances/c2"\]' \
	"$(api "/1.0/networks/$BR" | jq -c .metadata.used_by)"
check_fails "deleting a network in use is refused" \
	"Error: Network \"$BR\" is in use (by /1.0/instances/c1, /1.0/instances/c2); remove it from them first" \
	as_admin cairn network delete "$BR"
check_fails "renaming a network in use is refused" "" as_admin cairn network rename "$BR" other
check "the network is still up" in_ns ip link show "$BR"
check "restart c1" as_admin cairn restart --force c1
check_eq "c1 keeps its address across the restart" "$a1" "$(inet_of c1)"
check_eq "and its MAC" "$mac1" "$(as_admin cairn exec c1 -- cat /sys/class/net/eth0/address)"
check "copy c1 to c1copy" as_admin cairn copy c1 c1copy
check "the copy does not take c1's MAC (it gets its own at its first start)" \
	sh -c "! cairn config show c1copy | grep -q volatile.eth0.hwaddr"
check "delete the copy" as_admin cairn delete c1copy
# The hosts file names instances and their MACs: dnsmasq's user reads it (through an ACL), no one
# else outside the admin group reaches it.
check "the outsider cannot read the hosts file" \
	sh -c "! setpriv --reuid='$OUTSIDER' --regid='$(id -g "$OUTSIDER")' --init-groups cat '$CAIRN_DIR/networks/$BR/dnsmasq.hosts'"
if getent passwd dnsmasq >/dev/null; then
	check "dnsmasq's user can" setpriv --reuid=dnsmasq --regid="$(id -g dnsmasq)" --clear-groups \
		cat "$CAIRN_DIR/networks/$BR/dnsmasq.hosts"
fi
# Stateful: CRIU cannot make a veth inside an unprivileged instance's user namespace at restore,
# so a checkpoint it could never resume is refused before anything is dumped.
as_admin cairn stop --force c1 >/dev/null
as_admin cairn config set c1 migration.stateful=true >/dev/null
as_admin cairn start c1 >/dev/null
check_fails "stop --stateful of an unprivileged instance with a nic is refused" \
	'Error: Stateful stops of an unprivileged instance with a nic (device "eth0" of "c1") cannot be restored: CRIU cannot make its veth pair inside the instance'"'"'s user namespace' \
	as_admin cairn stop --stateful c1
check_eq "and c1 runs on" "Running" "$(api_status c1)"
# A privileged one is dumped and restored with its nic where CRIU works (CAIRN_CRIU or PATH):
# same MAC, same address, and its page answers again.
if as_admin cairn doctor 2>/dev/null | grep -q "Stateful snapshots: possible here"; then
	as_admin cairn stop --force c2 >/dev/null
	as_admin cairn config set c2 migration.stateful=true security.privileged=true >/dev/null
	as_admin cairn start c2 >/dev/null
	as_admin cairn exec c2 -- sh -c 'httpd -p 80 -h /www'
	# An established TCP connection across the checkpoint: a listener in c2 writes what it
	# receives, a client on the namespace's host side sends one line before the stop and one
	# after the restore on the same connection (liblxc dumps with --tcp-established).
	# Forked twice, so that it is the container init's (a dump takes init's descendants), and
	# its stdin a pipe that stays open (busybox nc ends at the end of its input).
	as_admin cairn exec c2 -- sh -c '(sleep 600 | nc -l -p 9000 > /root/tcp.log 2>&1 &) &'
	sleep 0.5
	in_ns sh -c "{ echo before; sleep 6; echo after; sleep 2; } | busybox nc $sub.50 9000" >/dev/null 2>&1 &
	tcp_client=$!
	sleep 1
	check "stop --stateful c2 (privileged, with its nic)" as_admin cairn stop --stateful c2
	check "start c2 from its checkpoint" as_admin cairn start c2
	check_eq "c2 has its address after the restore" "$sub.50" "$(inet_of c2)"
	check_eq "its httpd, restored, answers" "hello-from-c2" \
		"$(in_ns sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc $sub.50 80" 2>&1 | tail -1)"
	wait "$tcp_client" 2>/dev/null
	check_eq "an established TCP connection went on across the checkpoint" "before after" \
		"$(as_admin cairn exec c2 -- cat /root/tcp.log | tr '\n' ' ' | sed 's/ $//')"
else
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N # SKIP a stateful round trip with a nic: CRIU 4.1 or newer is not available (CAIRN_CRIU)"
fi
check "delete c1 and c2" as_admin cairn delete --force c1 c2
check "their names leave the hosts file" sh -c "! grep -q ',c[12]\$' '$CAIRN_DIR/networks/$BR/dnsmasq.hosts'"
check_eq "nothing uses the network any more" "[]" "$(api "/1.0/networks/$BR" | jq -c .metadata.used_by)"

# ---- bad input: refused, nothing changed ----
# A veth pair (the dummy module may be missing) holding a route, as a host interface would.
ip -n "$NS" link add hostif0 type veth peer name hostif1
ip -n "$NS" addr add 10.250.0.1/16 dev hostif0
ip -n "$NS" link set hostif0 up
before=$(in_ns ip -br link | sort)
check_fails "a name taken by a host interface is refused" \
	'Error: Interface "hostif0" already exists on the host' as_admin cairn network create hostif0
check_fails "an existing network's name is refused" "Error: Network \"$BR\" already exists" \
	as_admin cairn network create "$BR"
check_fails "a subnet overlapping another network is refused" \
	"Error: Subnet of ipv4.address=${v4%.1/24}.9/24 overlaps network \"$BR\" ($v4)" \
	as_admin cairn network create "$N2" "ipv4.address=${v4%.1/24}.9/24"
check_fails "a subnet overlapping a route of the host is refused" \
	'Error: Subnet of ipv4.address=10.250.7.1/24 overlaps the route to 10.250.0.0/16 of the host' \
	as_admin cairn network create "$N2" ipv4.address=10.250.7.1/24
check_fails "a subnet address is refused" "" as_admin cairn network create "$N2" ipv4.address=10.9.9.0/24
check_fails "an invalid CIDR is refused" \
	'Error: Invalid IPv4 address "10.9.9.1/33": bad prefix length' \
	as_admin cairn network create "$N2" ipv4.address=10.9.9.1/33
check_fails "an address without prefix is refused" "" as_admin cairn network create "$N2" ipv4.address=10.9.9.1
check_fails "an IPv6 /48 is refused" "" as_admin cairn network create "$N2" ipv6.address=fd00:1:2::1/48
check_fails "an unknown key is refused with a suggestion" \
	'Error: Unknown network key "ipv4.adress" (did you mean "ipv4.address"?)' \
	as_admin cairn network create "$N2" ipv4.adress=auto
check_fails "a bad boolean is refused" "" as_admin cairn network create "$N2" ipv4.nat=maybe
check_fails "a dns.domain that would be a dnsmasq option is refused" "" \
	as_admin cairn network create "$N2" "dns.domain=x --conf-file=/etc/shadow"
check_fails "a name longer than 15 characters is refused" \
	'Error: Invalid network name "abcdefghijklmnop": at most 15 characters (it is the name of the bridge interface)' \
	as_admin cairn network create abcdefghijklmnop
check_fails "a name with a slash is refused" "" as_admin cairn network create "a/b"
check_fails "a name with a space is refused" "" as_admin cairn network create "a b"
check_fails "an unknown type is refused" \
	'Error: Unknown network type "macvlan" (only bridge is supported)' \
	as_admin cairn network create "$N2" --type macvlan
check_fails "setting an overlapping subnet is refused" "" \
	as_admin cairn network set "$BR" ipv4.address=10.250.1.1/24
check_fails "setting an unknown key is refused" "" as_admin cairn network set "$BR" foo=bar
check_fails "a missing network is not found" "Error: Network \"nope\" not found" \
	as_admin cairn network show nope
check_eq "no network was made by the refusals" "$BR " "$(networks)"
check_eq "no interface was made or removed by the refusals" "$before" "$(in_ns ip -br link | sort)"
check_eq "the network's address is unchanged" "$v4" "$(as_admin cairn network get "$BR" ipv4.address)"
check "no directory of a refused network is left" test ! -e "$CAIRN_DIR/networks/$N2"
check_fails "the outsider cannot list networks" "" as_outsider cairn network list

# ---- set, unset, get, edit, rename ----
check "create $N2 with a given subnet, no IPv6, no NAT" as_admin cairn network create "$N2" \
	ipv4.address=10.77.0.1/24 ipv6.address=none ipv4.nat=false --description "second"
check_match "its bridge has the given address" "inet 10.77.0.1/24 " "$(in_ns ip -4 addr show "$N2")"
check "it has no IPv6 address but link-local" sh -c "! ip netns exec '$NS' ip -6 addr show '$N2' scope global | grep -q inet6"
check "no masquerade chain for it" sh -c "! ip netns exec '$NS' nft list chain inet cairn pstrt.$N2 >/dev/null 2>&1"
check "set a new subnet and NAT" as_admin cairn network set "$N2" ipv4.address=10.78.0.1/24 ipv4.nat=true
check_match "the bridge moved to the new address" "inet 10.78.0.1/24 " "$(in_ns ip -4 addr show "$N2")"
check "the old address is gone" sh -c "! ip netns exec '$NS' ip -4 addr show '$N2' | grep -q 10.77.0.1"
check_match "the NAT rule follows" "ip saddr 10.78.0.0/24" "$(in_ns nft list chain inet cairn "pstrt.$N2" 2>&1)"
check_match "dnsmasq serves the new range" "dhcp-range=10.78.0.2,10.78.0.254" \
	"$(tr '\0' ' ' <"/proc/$(dnsmasq_pid "$N2")/cmdline")"
check "set bridge.mtu" as_admin cairn network set "$N2" bridge.mtu 1400
check_match "the MTU is applied" "mtu 1400" "$(in_ns ip link show "$N2")"
check "unset ipv4.nat" as_admin cairn network unset "$N2" ipv4.nat
check "the NAT chain is gone" sh -c "! ip netns exec '$NS' nft list chain inet cairn pstrt.$N2 >/dev/null 2>&1"
check_eq "get description" "second" "$(as_admin cairn network get "$N2" description)"
as_admin cairn network show "$N2" | sed 's/^description: .*/description: edited/; s/^  dns.domain: .*//' |
	sed 's/^config:$/config:\n  dns.domain: lab/' >"$T/edit.yaml"
check "edit from stdin" sh -c "setpriv --reuid='$ADMIN_USER' --regid='$(id -g "$ADMIN_USER")' --init-groups env HOME='$T/home' CAIRN_DIR='$CAIRN_DIR' PATH='$PATH' cairn network edit '$N2' <'$T/edit.yaml'"
check_eq "the edit set the description" "edited" "$(as_admin cairn network get "$N2" description)"
check_eq "the edit set dns.domain" "lab" "$(as_admin cairn network get "$N2" dns.domain)"
printf 'config:\n  ipv4.address: 300.0.0.1/24\n' >"$T/bad.yaml"
check_fails "a bad edit is refused" "" sh -c "cairn network edit '$N2' <'$T/bad.yaml'"
check_eq "and changes nothing" "10.78.0.1/24" "$(as_admin cairn network get "$N2" ipv4.address)"
check "rename $N2 to ${N2}r" as_admin cairn network rename "$N2" "${N2}r"
check "the bridge has the new name" in_ns ip link show "${N2}r"
check "the old bridge name is gone" sh -c "! ip netns exec '$NS' ip link show '$N2' 2>/dev/null"
check_match "the renamed bridge keeps its address" "inet 10.78.0.1/24 " "$(in_ns ip -4 addr show "${N2}r")"
check "its dnsmasq runs" test -d "/proc/$(dnsmasq_pid "${N2}r")"
check_fails "renaming onto a host interface is refused" \
	'Error: Interface "hostif0" already exists on the host' as_admin cairn network rename "${N2}r" hostif0
check "delete it" as_admin cairn network delete "${N2}r"
check "its bridge is gone" sh -c "! ip netns exec '$NS' ip link show '${N2}r' 2>/dev/null"
check "its directory is gone" test ! -e "$CAIRN_DIR/networks/${N2}r"
check_eq "only $BR is left" "$BR " "$(networks)"

# ---- killed in the middle: whole or absent at the next start ----
# killed_at POINT CMD...: runs CMD against a daemon that stops at POINT, kills it there and starts
# it again.
killed_at() {
	local point=$1
	shift
	stop_daemon
	rm -f "$CAIRN_DIR/crashpoint"
	CAIRN_CRASHPOINT=$point start_daemon
	"$@" >/dev/null 2>&1 &
	local client=$!
	if wait_crashpoint "$point"; then
		ok "the daemon stopped at $point"
	else
		not_ok "the daemon stopped at $point"
	fi
	kill_daemon
	wait "$client" 2>/dev/null
	start_daemon
}
for point in network-create-row network-create-bridge network-create-up; do
	killed_at "$point" as_admin cairn network create "$N2" ipv4.address=10.79.0.1/24
	check_eq "after a kill at $point the network is absent" "$BR " "$(networks)"
	check "after a kill at $point no bridge is left" sh -c "! ip netns exec '$NS' ip link show '$N2' 2>/dev/null"
	check "after a kill at $point no NAT chain is left" sh -c "! ip netns exec '$NS' nft list chain inet cairn pstrt.$N2 >/dev/null 2>&1"
	check "after a kill at $point no directory is left" test ! -e "$CAIRN_DIR/networks/$N2"
	check_eq "after a kill at $point no dnsmasq of it runs" "" "$(dnsmasq_with "--interface=$N2")"
	check "after a kill at $point it can be created again" as_admin cairn network create "$N2" ipv4.address=10.79.0.1/24
	check "and deleted" as_admin cairn network delete "$N2"
done
as_admin cairn network create "$N2" ipv4.address=10.79.0.1/24 >/dev/null
killed_at network-delete-row as_admin cairn network delete "$N2"
check_eq "a delete killed after its row is finished at the next start" "$BR " "$(networks)"
check "and its bridge is gone" sh -c "! ip netns exec '$NS' ip link show '$N2' 2>/dev/null"

# ---- rebuilt at start ----
stop_daemon
check "dnsmasq outlives the daemon (instances keep their leases)" test -d "/proc/$(dnsmasq_pid "$BR")"
# What a host reboot takes away: the bridge, the rules and the processes.
kill -KILL "$(dnsmasq_pid "$BR")"
in_ns ip link del "$BR"
in_ns nft delete table inet cairn
start_daemon
check "the bridge is back after a start" in_ns ip link show "$BR"
check_match "with its address" "inet $v4 " "$(in_ns ip -4 addr show "$BR")"
check_match "and its NAT rule" "ip saddr ${v4%.1/24}.0/24" "$(in_ns nft list table inet cairn 2>&1)"
pid=$(dnsmasq_pid "$BR")
check "and its dnsmasq" test -n "$pid" -a -d "/proc/$pid"
check_match "the lease survived in the lease file" "^probe,.*,$lease,DYNAMIC$" \
	"$(as_admin cairn network list-leases "$BR" --format csv)"
stop_daemon
start_daemon
# One dnsmasq for the network, the one its pid file names (a dnsmasq that the supervisor has
# just restarted writes its pid file once it has bound its sockets: give it a moment).
for i in $(seq 1 30); do
	a=$(dnsmasq_pid "$BR")
	b=$(dnsmasq_with "--pid-file=$CAIRN_DIR/networks/$BR/dnsmasq.pid")
	[ "$a" = "$b" ] && break
	sleep 0.1
done
check_eq "a plain restart replaces the old dnsmasq with one of its own" "$a" "$b"
[ "$a" = "$b" ] ||
	diag "$(grep -i dnsmasq "$T/cairnd.log" | tail -5)" "$(tail -8 "$CAIRN_DIR/networks/$BR/dnsmasq.log")"

# ---- delete ----
check "delete $BR" as_admin cairn network delete "$BR"
check "its bridge is gone" sh -c "! ip netns exec '$NS' ip link show '$BR' 2>/dev/null"
check_eq "its dnsmasq is gone" "" "$(dnsmasq_with "--pid-file=$CAIRN_DIR/networks/$BR/dnsmasq.pid")"
check_eq "no network is left" "" "$(networks)"
check "the host never saw the bridges" sh -c "! ip link show '$BR' 2>/dev/null && ! ip link show '$N2' 2>/dev/null"

# ---- cairnd init: cairnbr0 and the default profile's eth0 ----
stop_daemon
out=$(in_ns env -u CAIRN_INIT_NETWORK in-netns cairnd init --auto 2>&1)
check_match "cairnd init makes cairnbr0" '^Network "cairnbr0": bridge with 10\.[0-9.]+\.1/24 and fd' "$out"
check_match "and puts eth0 on it in the default profile" '^Profile "default": eth0 on network "cairnbr0"$' "$out"
again=$(in_ns env -u CAIRN_INIT_NETWORK in-netns cairnd init --auto 2>&1)
check_eq "a second init keeps the network" "$(printf '%s\n' "$out" | grep '^Network')" \
	"$(printf '%s\n' "$again" | grep '^Network')"
check_match "and the profile's nic" '^Profile "default" keeps its own nic$' "$again"
start_daemon
check "cairnbr0 is up in the namespace" in_ns ip link show cairnbr0
check_eq "the default profile has eth0 on cairnbr0" "nic cairnbr0 eth0" \
	"$(api /1.0/profiles/default | jq -r '.metadata.devices.eth0 | "\(.type) \(.network) \(.name)"')"
check "launch w1 on the default profile" as_admin cairn launch busybox w1
check "launch w2 on the default profile" as_admin cairn launch busybox w2
w2=$(inet_of w2)
check_match "w2 gets an address on cairnbr0" '^10\.' "$w2"
check "w1 reaches w2 by name" as_admin cairn exec w1 -- ping -c 1 -W 5 w2.cairn
check_match "cairn list shows both addresses" "^w1,\"?10\\..*w2,\"?$w2 " \
	"$(as_admin cairn list --format csv -c n4 | tr '\n' ' ')"
check_fails "cairnbr0 cannot be deleted while the default profile uses it" "" \
	as_admin cairn network delete cairnbr0
check_match "its used_by names the profile and the instances" '"/1.0/profiles/default"' \
	"$(api /1.0/networks/cairnbr0 | jq -c .metadata.used_by)"
check "delete w1 and w2" as_admin cairn delete --force w1 w2
check_eq "the host's forwarding settings are as they were" "$host_forwarding" \
	"$(cat /proc/sys/net/ipv4/ip_forward) $(cat /proc/sys/net/ipv6/conf/all/forwarding)"
check "the host's namespace still has no cairn nft table" sh -c "! nft list table inet cairn >/dev/null 2>&1"
if [ "$host_had_cairnbr0" = no ]; then
	check "the host has no cairnbr0" sh -c "! ip link show cairnbr0 2>/dev/null"
fi

finish
