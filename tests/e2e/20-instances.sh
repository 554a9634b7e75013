#!/usr/bin/env bash
# Instances end to end, as a user of the admin group: launch, list, info, stop, start, restart,
# delete and its hazards, unprivileged and privileged containers.
. "$(dirname "$0")/lib.sh"
setup

check "admin user launches a container" as_admin cairn launch busybox c1
check_eq "c1 is running" "Running" "$(api_status c1)"

out=$(as_admin cairn list)
check_match "list shows c1 RUNNING" '\| c1 +\| RUNNING +\|' "$out"
check_match "list has the Incus columns" '\| +NAME +\| +STATE +\| +IPV4 +\| +IPV6 +\| +TYPE +\| +SNAPSHOTS +\|' "$out"
out=$(as_admin cairn list --format csv)
check_match "csv starts with the name" '^c1,RUNNING,' "$out"
out=$(as_admin cairn list --format json)
check_eq "json is a list of instance objects" "c1 Running" "$(printf '%s' "$out" | jq -r '.[0] | "\(.name) \(.status)"')"
out=$(as_admin cairn list -c ns --format csv)
check_eq "list -c picks the columns" "c1,RUNNING" "$out"
out=$(as_admin cairn list --format yaml)
check_match "yaml lists the name" '^- .*name: c1|^  name: c1|^- name: c1' "$out"

pid=$(init_pid c1)
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
base=$(awk -F: '$1 == "root" { print $2; exit }' /etc/subuid)
check_eq "container init runs as the shifted root on the host" "$base" "$uid"
inside=$(lxc-attach -P "$CAIRN_DIR/containers" -n c1 -- id -u 2>&1)
check_eq "inside, root is uid 0" "0" "$inside"
check "no bind mounts from the host in the container" \
	bash -c "! grep -E ' /(usr|bin|lib|etc)( |/)' /proc/$pid/mountinfo | grep -v ' / / '"

info=$(as_admin cairn info c1)
check_match "info Name line" '^Name: c1$' "$info"
check_match "info Status line" '^Status: RUNNING$' "$info"
check_match "info PID line" "^PID: $pid\$" "$info"
check_match "info processes" '^  Processes: [1-9]' "$info"
check_match "info memory" 'Memory \(current\): [0-9.]+[KMG]?i?B' "$info"

check_fails "delete of a running instance is refused" \
	"Error: The instance is currently running, stop it first or pass --force" \
	as_admin cairn delete c1
check_eq "c1 still runs after the refused delete" "Running" "$(api_status c1)"
check_eq "refused delete left the volume" "c1 " "$(pool_volumes)"

check "stop c1 cleanly" as_admin cairn stop c1
check_eq "c1 is stopped" "Stopped" "$(api_status c1)"
check_match "stopped info says STOPPED" '^Status: STOPPED$' "$(as_admin cairn info c1)"
check "start c1" as_admin cairn start c1
check_eq "c1 runs again" "Running" "$(api_status c1)"
old=$(init_pid c1)
check "restart c1" as_admin cairn restart c1
new=$(init_pid c1)
check "restart gives a new init" test "$old" != "$new" -a "$new" != 0
check "stop --force kills at once" as_admin cairn stop c1 --force
check_eq "c1 stopped after --force" "Stopped" "$(api_status c1)"
check_fails "stopping a stopped instance says so" "" as_admin cairn stop c1
check "start c1 for the stateful checks" as_admin cairn start c1
check_fails "stateful stop needs migration.stateful" "" as_admin cairn stop c1 --stateful
check "allow stateful" as_admin cairn config set c1 migration.stateful=true
# Set while c1 runs: c1 still has the console CRIU cannot dump (83-snapshot-stateful.sh has the
# rest of the stateful paths).
check_fails "a stateful stop of an instance started before migration.stateful says to restart it" \
	'Error: Instance "c1" was started before migration.stateful was set: restart it (without a console, which CRIU cannot dump) first' \
	as_admin cairn stop c1 --stateful
check_eq "a refused stateful stop leaves c1 running" "Running" "$(api_status c1)"
check "stop c1 again" as_admin cairn stop c1 --force

check "init creates without starting" as_admin cairn init busybox c2
check_eq "c2 is stopped" "Stopped" "$(api_status c2)"
check "start two instances at once" as_admin cairn start c1 c2
check_eq "c2 runs" "Running" "$(api_status c2)"

check "protect c2" as_admin cairn config set c2 security.protection.delete=true
check_fails "protected instance is not deleted even with --force" "" as_admin cairn delete c2 --force
check_eq "protected c2 still runs" "Running" "$(api_status c2)"
check "unprotect c2" as_admin cairn config set c2 security.protection.delete=false

check "delete --force stops and deletes" as_admin cairn delete c2 --force
check_eq "c2 is gone from the API" "" "$(api_status c2)"
check_eq "c2's volume is gone" "c1 " "$(pool_volumes)"
check "c2's logs are gone" test ! -e "$CAIRN_DIR/logs/c2"
check "c2's link is gone" test ! -e "$CAIRN_DIR/containers/c2"

check "privileged container" as_admin cairn launch busybox p1 -c security.privileged=true
pid=$(init_pid p1)
check_eq "privileged init runs as host root" "0" "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")"
check "delete p1" as_admin cairn delete --force p1

for bad in "a/b" ".." "with space" "ünïcode" "$(printf 'x%.0s' $(seq 1 64))" "-lead" "trail-" "12345" ""; do
	check_fails "bad instance name '$bad' is refused" "" as_admin cairn launch busybox "$bad"
done
check_fails "unknown image is refused" "" as_admin cairn launch nosuchimage c9
check_fails "duplicate name is refused" "" as_admin cairn launch busybox c1
check_eq "nothing was made by bad launches" "c1 " "$(pool_volumes)"
check_eq "list holds only c1" "c1" "$(as_admin cairn list --format csv | cut -d, -f1 | tr '\n' ' ' | sed 's/ $//')"

check_fails "start of an unknown instance" "" as_admin cairn start nosuch
check_fails "delete of an unknown instance" "" as_admin cairn delete nosuch

vol="$CAIRN_DIR/storage-pools/default/containers/c1"
check "backup.yaml beside the rootfs" test -s "$vol/backup.yaml"
check_match "backup.yaml holds the config" 'volatile.base_image' "$(cat "$vol/backup.yaml")"

finish
