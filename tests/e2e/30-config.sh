#!/usr/bin/env bash
# Instance configuration: keys, validation, YAML editing, and limits applied to the container.
. "$(dirname "$0")/lib.sh"
setup

check "launch with limits" as_admin cairn launch busybox c1 -c limits.memory=128MiB -c limits.processes=50 -c user.team=db
check_eq "memory limit reached the cgroup" "134217728" "$(cgroup_value c1 memory memory.limit_in_bytes)"
check_eq "process limit reached the cgroup" "50" "$(cgroup_value c1 pids pids.max)"
check_eq "config get" "128MiB" "$(as_admin cairn config get c1 limits.memory)"
check_eq "user key kept" "db" "$(as_admin cairn config get c1 user.team)"

check "set a live limit on a running instance" as_admin cairn config set c1 limits.memory=64MiB
check_eq "the new limit applies at once" "67108864" "$(cgroup_value c1 memory memory.limit_in_bytes)"
check "set with the KEY VALUE form" as_admin cairn config set c1 limits.processes 40
check_eq "pids limit applied live" "40" "$(cgroup_value c1 pids pids.max)"
check "limits.cpu" as_admin cairn config set c1 limits.cpu=1
check_eq "one cpu in the cpuset" "0" "$(cgroup_value c1 cpuset cpuset.cpus)"

before=$(as_admin cairn config show c1)
check_fails "limits.memory=abc is refused" "" as_admin cairn config set c1 limits.memory=abc
check_fails "unknown key is refused" "" as_admin cairn config set c1 foo.bar=1
check_fails "volatile keys are the daemon's" "" as_admin cairn config set c1 volatile.last_state.power=STOPPED
check_fails "bad boolean" "" as_admin cairn config set c1 boot.autostart=maybe
check_fails "bad process count" "" as_admin cairn config set c1 limits.processes=-3
check_fails "too many cpus" "" as_admin cairn config set c1 limits.cpu=4096
check_eq "failed sets changed nothing" "$before" "$(as_admin cairn config show c1)"
check_eq "cgroup unchanged by failed sets" "67108864" "$(cgroup_value c1 memory memory.limit_in_bytes)"

check "unset a key" as_admin cairn config unset c1 user.team
check_eq "unset key is gone" "" "$(as_admin cairn config get c1 user.team)"

show=$(as_admin cairn config show c1)
check_match "config show is YAML with a config map" '^config:$' "$show"
check_match "config show lists limits.memory" '^  limits.memory: 64MiB$' "$show"

# config edit reads the new YAML from stdin when it is not a terminal, as Incus does.
edited=$(printf '%s\n' "$show" | sed 's/limits.memory: 64MiB/limits.memory: 96MiB/')
check "config edit applies valid YAML" bash -c "printf '%s\n' \"\$1\" | setpriv --reuid=$ADMIN_USER --regid=$(id -g "$ADMIN_USER") --init-groups env CAIRN_DIR=$CAIRN_DIR HOME=$T/home $T/bin/cairn config edit c1" _ "$edited"
check_eq "edited value stored" "96MiB" "$(as_admin cairn config get c1 limits.memory)"
check_eq "edited value applied" "100663296" "$(cgroup_value c1 memory memory.limit_in_bytes)"

before=$(as_admin cairn config show c1)
bad_yaml=$(printf 'config:\n  limits.memory: 64MiB\n   broken: [\n')
err=$(printf '%s\n' "$bad_yaml" | as_admin cairn config edit c1 2>&1 >/dev/null)
check_match "invalid YAML is refused with its line" '^Error: .*line [0-9]+' "$err"
bad_key=$(printf 'config:\n  limits.memory: 64MiB\n  nosuch.key: 1\n')
err=$(printf '%s\n' "$bad_key" | as_admin cairn config edit c1 2>&1 >/dev/null)
check_match "unknown key in edit is refused with its line" '^Error: .*line 3' "$err"
check_eq "failed edits changed nothing" "$before" "$(as_admin cairn config show c1)"

check "autostart key" as_admin cairn config set c1 boot.autostart=true
check_eq "autostart stored" "true" "$(as_admin cairn config get c1 boot.autostart)"

check "a non-live key changes at the next start" as_admin cairn config set c1 limits.processes=30
check "restart" as_admin cairn restart c1
check_eq "restart applied the rendered config" "30" "$(cgroup_value c1 pids pids.max)"

finish
