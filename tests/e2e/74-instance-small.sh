#!/usr/bin/env bash
# Small things an Incus user expects of instances, as a user of the admin group: exec of a
# missing command, the hostname and /etc/hostname, a real terminal in `cairn shell`, ephemeral
# instances, copies to another pool, and errors that name the instance.
# shellcheck disable=SC2317 # functions called through check and check_fails
. "$(dirname "$0")/lib.sh"
PART=${1:-}
[ "$BACKEND" = dir ] && skip_all "nothing here depends on the default pool's driver; the btrfs run copies between a btrfs and a dir pool"
command -v tmux >/dev/null || skip_all "tmux is not installed"
setup
tmux_setup

# wait_gone NAME: waits up to 15 s for instance NAME to be gone from the API.
wait_gone() {
	local i
	for i in $(seq 1 150); do
		[ -z "$(api_status "$1")" ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- exec of a missing command ----
check "launch c1" as_admin cairn launch busybox c1
err=$(as_admin cairn exec c1 -- nosuchcommand 2>&1 >/dev/null)
rc=$?
check_eq "exec of a missing command exits 127, as in Incus" "127" "$rc"
check_eq "... and says so" "Error: Command not found" "$err"
err=$(as_admin cairn exec c1 -- sh -c 'exit 127' 2>&1 >/dev/null)
rc=$?
check_eq "a command that exits 127 itself keeps its status" "127" "$rc"
check_eq "... and prints nothing of its own" "" "$err"
err=$(as_admin cairn exec c1 -- /etc/passwd 2>&1 >/dev/null)
rc=$?
check_eq "a file that is not a program exits 126" "126" "$rc"
check_match "... and says why" '^Error: Command "/etc/passwd" cannot be run: ' "$err"
check_fails "start of a running instance names it" 'Error: Instance "c1" is already running' \
	as_admin cairn start c1

# ---- hostname ----
check_eq "hostname inside is the instance's name" "c1" "$(as_admin cairn exec c1 -- hostname)"
check_eq "/etc/hostname holds the instance's name" "c1" "$(as_admin cairn exec c1 -- cat /etc/hostname)"

# ---- a real terminal in cairn shell ----
tmux -S "$TMUX_SOCK" new-session -d -s t -x 100 -y 30 "$T/bin/as-admin bash --norc -i"
tmux -S "$TMUX_SOCK" send-keys -t t 'PS1="outer$ "; echo ready' Enter
check "an outer shell in tmux" wait_pane '^ready'
tmux -S "$TMUX_SOCK" send-keys -t t 'cairn shell c1' Enter
check "cairn shell gives a prompt inside" wait_pane '^root@c1:~# ?$'
tmux -S "$TMUX_SOCK" send-keys -t t 'echo "tty=$(tty)"' Enter
check "tty inside names a terminal of the container's devpts" wait_pane '^tty=/dev/pts/[0-9]+$'
tmux -S "$TMUX_SOCK" send-keys -t t 'ls -ln $(tty) | awk "{ print \"owner=\" \$3 }"' Enter
check "the terminal belongs to root inside, not to an unmapped id" wait_pane '^owner=0$'
tmux -S "$TMUX_SOCK" send-keys -t t 'exit' Enter
sleep 1
tmux -S "$TMUX_SOCK" send-keys -t t 'echo "exit=$?"' Enter
check "the shell session ends with status 0" wait_pane '^exit=0$'
tmux -S "$TMUX_SOCK" kill-server
TMUX_SOCK=
out=$(as_admin cairn exec c1 -- tty)
check_eq "a non-interactive exec has no terminal" "not a tty" "$out"
check "stop c1" as_admin cairn stop c1 --force
check_fails "stop of a stopped instance names it" 'Error: Instance "c1" is already stopped' \
	as_admin cairn stop c1

[ "$PART" = exec ] && finish

# ---- ephemeral instances ----
check "launch --ephemeral e1" as_admin cairn launch busybox e1 --ephemeral
check_eq "the API says ephemeral" "true" "$(api /1.0/instances/e1 | jq -r .metadata.ephemeral)"
check_eq "... and not as a config key" "null" \
	"$(api /1.0/instances/e1 | jq -r '.metadata.config["volatile.ephemeral"]')"
check_match "list shows it as ephemeral" '\| e1 +\| RUNNING .*CONTAINER \(EPHEMERAL\)' "$(as_admin cairn list e1)"
check_match "config show has ephemeral: true" '^ephemeral: true$' "$(as_admin cairn config show e1)"
check "stop e1" as_admin cairn stop e1
check_eq "e1 is gone as soon as stop returns" "" "$(api_status e1)"
check "its volume is gone" test ! -e "$CAIRN_DIR/storage-pools/default/containers/e1"
check "its logs are gone" test ! -e "$CAIRN_DIR/logs/e1"
check "its name can be used again" as_admin cairn launch busybox e1 -e

check "launch -e e2" as_admin cairn launch busybox e2 -e
as_admin cairn exec e2 -- poweroff >/dev/null 2>&1
check "e2 is deleted after a poweroff inside" wait_gone e2
check "its volume is gone too" test ! -e "$CAIRN_DIR/storage-pools/default/containers/e2"

check "launch an ephemeral instance protected against deletion" \
	as_admin cairn launch busybox ep -e -c security.protection.delete=true
check "its stop succeeds" as_admin cairn stop ep --force
check_eq "and it is kept, stopped, since it may not be deleted" "Stopped" "$(api_status ep)"
check "unprotect it" as_admin cairn config set ep security.protection.delete=false
check "delete it" as_admin cairn delete ep

check "init --ephemeral e3 (not started)" as_admin cairn init busybox e3 --ephemeral
sleep 2.5
check_eq "a stopped ephemeral instance that never ran stays" "Stopped" "$(api_status e3)"
check "start e3" as_admin cairn start e3
check "restart e3" as_admin cairn restart e3 --force
sleep 2.5
check_eq "a restart does not delete it" "Running" "$(api_status e3)"
as_admin cairn exec e3 -- reboot >/dev/null 2>&1
sleep 4
check_eq "nor does a reboot inside" "Running" "$(api_status e3)"
check_fails "stop --stateful of an ephemeral instance is refused" \
	'Error: Instance "e3" is ephemeral: a stateful stop would delete it with its checkpoint' \
	as_admin cairn stop e3 --stateful
check_eq "... and it runs on" "Running" "$(api_status e3)"

# config edit turns it off and on again.
# edit_e3 FROM TO: cairn config edit e3 with the "ephemeral: FROM" line of config show made TO.
edit_e3() {
	as_admin cairn config show e3 | sed "s/^ephemeral: $1\$/ephemeral: $2/" >"$T/e3.yaml"
	as_admin sh -c 'cairn config edit e3 <"$1"' sh "$T/e3.yaml"
}
check "config edit sets ephemeral: false" edit_e3 true false
check_eq "the API says not ephemeral" "false" "$(api /1.0/instances/e3 | jq -r .metadata.ephemeral)"
check "stop e3" as_admin cairn stop e3
sleep 2.5
check_eq "a stopped instance that is no longer ephemeral stays" "Stopped" "$(api_status e3)"
check "config edit sets ephemeral: true" edit_e3 false true
check_eq "the API says ephemeral again" "true" "$(api /1.0/instances/e3 | jq -r .metadata.ephemeral)"
err=$(edit_e3 true maybe 2>&1 >/dev/null)
check_eq "config edit refuses an ephemeral that is not a boolean, and says where" \
	"Error: Invalid configuration at line $(grep -n '^ephemeral:' "$T/e3.yaml" | cut -d: -f1): \"ephemeral\" must be true or false" "$err"
check_eq "... and changes nothing" "true" "$(api /1.0/instances/e3 | jq -r .metadata.ephemeral)"
check "start e3 again" as_admin cairn start e3
check "copy e3 (ephemeral) to e3c" as_admin cairn copy e3 e3c
check_eq "the copy is not ephemeral" "false" "$(api /1.0/instances/e3c | jq -r .metadata.ephemeral)"
check "delete e3c" as_admin cairn delete e3c

# Stopped while the daemon was down: deleted at the next start, before autostart.
check "launch -e e4" as_admin cairn launch busybox e4 -e
stop_daemon
lxc-stop -P "$CAIRN_DIR/containers" -n e3 -k >/dev/null 2>&1
start_daemon
check "e3, stopped while the daemon was down, is deleted at start" wait_gone e3
check_eq "e4, still running, is kept" "Running" "$(api_status e4)"

# Killed between the stop and the delete: the next start finishes the job.
stop_daemon
rm -f "$CAIRN_DIR/crashpoint"
CAIRN_CRASHPOINT=ephemeral-after-stop start_daemon
as_admin cairn stop e4 >/dev/null 2>&1 &
client=$!
if wait_crashpoint ephemeral-after-stop; then ok "stop e4 reached ephemeral-after-stop"; else not_ok "stop e4 reached ephemeral-after-stop"; fi
kill_daemon
wait "$client" 2>/dev/null
start_daemon
check "after a kill between stop and delete, e4 is deleted at the next start" wait_gone e4
check "its volume is gone" test ! -e "$CAIRN_DIR/storage-pools/default/containers/e4"
check_eq "e1 still runs" "Running" "$(api_status e1)"
check "delete --force of a running ephemeral instance" as_admin cairn delete e1 --force
check_eq "... deletes it" "" "$(api_status e1)"

[ "$PART" = ephemeral ] && finish

# ---- copy -s POOL: between the btrfs default pool and a dir pool ----
# snaps NAME: the snapshot names of instance NAME, one line.
snaps() {
	api "/1.0/instances/$1/snapshots?recursion=1" | jq -r '[.metadata[].name] | sort | join(" ")'
}
# pool_of NAME: the pool of instance NAME's root disk.
pool_of() {
	api "/1.0/instances/$1" | jq -r '.metadata.expanded_devices.root.pool'
}
mkdir -p "$T/pool2"
check "storage create a dir pool p2" as_admin cairn storage create p2 dir source="$T/pool2"
check "start c1" as_admin cairn start c1
check "write v0 in c1" as_admin cairn exec c1 -- sh -c 'echo v0 >/root/data'
check "snapshot s0" as_admin cairn snapshot create c1 s0
as_admin cairn exec c1 -- sh -c 'echo v1 >/root/data'
check "snapshot s1" as_admin cairn snapshot create c1 s1
as_admin cairn exec c1 -- sh -c 'echo v2 >/root/data'
check "copy the running c1 to the dir pool" as_admin cairn copy c1 d1 -s p2
check_eq "the copy is on p2" "p2" "$(pool_of d1)"
check "its volume is in p2's directory" test -d "$T/pool2/containers/d1/rootfs"
check "not in the default pool" test ! -e "$CAIRN_DIR/storage-pools/default/containers/d1"
check_eq "its snapshots came along" "s0 s1" "$(snaps d1)"
check "they are in p2's directory" test -d "$T/pool2/containers-snapshots/d1/s1/rootfs"
check_eq "the source runs on, thawed" "Running" "$(api_status c1)"
check_eq "the source is still on default" "default" "$(pool_of c1)"
check "start d1" as_admin cairn start d1
check_eq "d1 holds c1's data" "v2" "$(as_admin cairn exec d1 -- cat /root/data)"
check_eq "d1's hostname is its own" "d1" "$(as_admin cairn exec d1 -- cat /etc/hostname)"
check_eq "and its root owns /root (the idmap came along)" "0" "$(as_admin cairn exec d1 -- stat -c %u /root)"
check "restore d1 to s0 on the dir pool" as_admin cairn restore d1 s0
check_eq "d1's s0 holds v0" "v0" "$(as_admin cairn exec d1 -- cat /root/data)"
check "copy d1 back to the btrfs pool" as_admin cairn copy d1 b1 --storage default
check_eq "b1 is on default" "default" "$(pool_of b1)"
check_eq "b1 has d1's snapshots" "s0 s1" "$(snaps b1)"
check "restore b1 to s1" as_admin cairn restore b1 s1
check "start b1" as_admin cairn start b1
check_eq "b1's s1 holds v1" "v1" "$(as_admin cairn exec b1 -- cat /root/data)"
check "copy --instance-only -s p2" as_admin cairn copy c1 d2 --instance-only -s p2
check_eq "without snapshots" "" "$(snaps d2)"
check "copy a snapshot to another pool" as_admin cairn copy c1/s1 d3 -s p2
check_eq "it is on p2" "p2" "$(pool_of d3)"
check "start d3" as_admin cairn start d3
check_eq "d3 holds s1's data" "v1" "$(as_admin cairn exec d3 -- cat /root/data)"
before=$(ls "$T/pool2/containers" | sort | tr '\n' ' ')
check_fails "copy to an unknown pool" 'Error: Storage pool "nosuch" not found' \
	as_admin cairn copy c1 d4 -s nosuch
check_fails "copy to a pool name with a slash" "" as_admin cairn copy c1 d4 -s ../p2
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$CAIRN_DIR/unix.socket" \
	-X POST -d '{"name": "d4", "source": {"type": "copy", "source": "c1"}, "devices": {"root": {"type": "disk", "path": "/", "pool": "../p2"}}}' \
	http://cairn/1.0/instances)
check_eq "the API refuses a pool path in the root disk as a bad name" "400" "$code"
check_eq "nothing was made" "" "$(api_status d4)"
check_eq "no volume was left in p2" "$before" "$(ls "$T/pool2/containers" | sort | tr '\n' ' ')"
check_fails "copy onto a taken name to another pool" 'Error: Instance "d1" already exists' \
	as_admin cairn copy c1 d1 -s p2
check_fails "copy --ephemeral is not a copy flag" "" as_admin cairn copy c1 d5 --ephemeral

# Killed half way through a copy to another pool: nothing of the copy is left.
stop_daemon
rm -f "$CAIRN_DIR/crashpoint"
CAIRN_CRASHPOINT=copy-after-snapshots start_daemon
as_admin cairn copy c1 d6 -s p2 >/dev/null 2>&1 &
client=$!
if wait_crashpoint copy-after-snapshots; then ok "copy reached copy-after-snapshots"; else not_ok "copy reached copy-after-snapshots"; fi
kill_daemon
wait "$client" 2>/dev/null
start_daemon
check_eq "after a kill the half copy is gone" "" "$(api_status d6)"
check "its volume is gone" test ! -e "$T/pool2/containers/d6"
check "its snapshots are gone" test ! -e "$T/pool2/containers-snapshots/d6"
check "the name can be used again" as_admin cairn copy c1 d6 -s p2 --instance-only

# ---- the contract sentence for deleting a running instance stays exactly as it was ----
check_fails "delete of a running instance" \
	"Error: The instance is currently running, stop it first or pass --force" \
	as_admin cairn delete c1

finish
