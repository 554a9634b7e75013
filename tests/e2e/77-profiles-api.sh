#!/usr/bin/env bash
# Profiles through the API as an admin-group user: the expanded config reaches every reader,
# a change reaches running instances, refusals change nothing, snapshots keep profiles and
# devices, `cairnd --restricted`, and a daemon killed in a profile change.
. "$(dirname "$0")/lib.sh"
[ "$BACKEND" = dir ] && skip_all "profiles do not depend on the storage backend (the btrfs run covers them)"
setup

# call METHOD PATH [BODY]: the HTTP status on the first line, then the body; as the admin user.
call() {
	local out
	out=$(as_admin curl -s -w '\n%{http_code}' -X "$1" ${3:+-d "$3"} \
		--unix-socket "$CAIRN_DIR/unix.socket" "http://cairn$2")
	printf '%s\n%s\n' "${out##*$'\n'}" "${out%$'\n'*}"
}
# status METHOD PATH [BODY]: the HTTP status alone.
status() { call "$@" | head -1; }
error_of() { call "$@" | tail -n +2 | jq -r '.error // empty'; }
root_status() {
	curl -s -o /dev/null -w '%{http_code}\n' -X "$1" ${3:+-d "$3"} \
		--unix-socket "$CAIRN_DIR/unix.socket" "http://cairn$2"
}
# launch NAME PROFILES_JSON: creates and starts an instance with those profiles through the API.
launch() {
	local op
	op=$(call POST /1.0/instances "{\"name\":\"$1\",\"source\":{\"type\":\"image\",\"alias\":\"busybox\"},\"profiles\":$2,\"start\":true}" |
		tail -n +2 | jq -r '.operation // empty')
	[ -n "$op" ] || return 1
	[ "$(api "$op/wait" | jq -r .metadata.status)" = Success ]
}

# --- the default profile ---------------------------------------------------------------------
default=$(api /1.0/profiles/default)
check_eq "default profile holds the root disk" '{"path":"/","pool":"default","type":"disk"}' \
	"$(jq -c '.metadata.devices.root' <<<"$default")"
check_eq "profiles list names default" '["/1.0/profiles/default"]' "$(api /1.0/profiles | jq -c .metadata)"
check_eq "default cannot be deleted" "403" "$(status DELETE /1.0/profiles/default)"
check_eq "default cannot be renamed" "403" "$(status POST /1.0/profiles/default '{"name":"other"}')"

# --- one policy for many instances -----------------------------------------------------------
check_eq "create profile snap" "201" \
	"$(status POST /1.0/profiles '{"name":"snap","description":"hourly","config":{"snapshots.schedule":"@hourly","limits.processes":"64"}}')"
for c in c1 c2 c3; do
	check "launch $c with default and snap" launch $c '["default","snap"]'
done
for c in c1 c2 c3; do
	check_eq "$c expands the schedule" "@hourly" \
		"$(api /1.0/instances/$c | jq -r '.metadata.expanded_config["snapshots.schedule"]')"
done
check_eq "own config stays free of it" "null" \
	"$(api /1.0/instances/c1 | jq -r '.metadata.config["snapshots.schedule"]')"
check_eq "profiles in order" '["default","snap"]' "$(api /1.0/instances/c1 | jq -c .metadata.profiles)"
check_eq "root disk comes from default" "default" \
	"$(api /1.0/instances/c1 | jq -r .metadata.expanded_devices.root.pool)"
check_eq "the limit from the profile reached the cgroup" "64" "$(cgroup_value c1 pids pids.max)"
check_match "the scheduler sees the profile's schedule" '"schedule": *"@hourly"' \
	"$(api /1.0/instances/c1/state | jq '.metadata.snapshot_schedule')"

check_eq "a live key changed in the profile" "200" \
	"$(status PATCH /1.0/profiles/snap '{"config":{"limits.processes":"48"}}')"
check_eq "reaches the running instance at once" "48" "$(cgroup_value c2 pids pids.max)"
check_eq "and every user" "48" "$(cgroup_value c3 pids pids.max)"
check_eq "instance keys win over the profile" "200" \
	"$(status PATCH /1.0/instances/c3 '{"config":{"limits.processes":"40"}}')"
check_eq "own key applied" "40" "$(cgroup_value c3 pids pids.max)"
check_eq "profile change leaves an overriding instance alone" "200" \
	"$(status PATCH /1.0/profiles/snap '{"config":{"limits.processes":"56"}}')"
check_eq "overridden key kept" "40" "$(cgroup_value c3 pids pids.max)"
check_eq "others follow" "56" "$(cgroup_value c1 pids pids.max)"

# --- refusals change nothing -----------------------------------------------------------------
before=$(api /1.0/profiles/snap | jq -c '.metadata | del(.used_by)')
check_match "bad key in a profile names it" 'profile "snap"' \
	"$(error_of PATCH /1.0/profiles/snap '{"config":{"limits.memory":"lots"}}')"
check_match "unknown device type named" 'unknown type "bogus"' \
	"$(error_of PATCH /1.0/profiles/snap '{"devices":{"x":{"type":"bogus"}}}')"
check_match "second root disk refused" 'both a root disk' \
	"$(error_of PATCH /1.0/profiles/snap '{"devices":{"disk2":{"type":"disk","path":"/","pool":"default"}}}')"
check_match "a root disk on a missing pool is refused, naming profile and instance" 'Storage pool "nosuch" not found \(named by the root disk "root" of profile "default" \(used by instance "c1"\)\)' \
	"$(error_of PATCH /1.0/profiles/default '{"devices":{"root":{"type":"disk","path":"/","pool":"nosuch"}}}')"
check_match "volatile keys belong to instances" 'belongs to an instance' \
	"$(error_of PATCH /1.0/profiles/snap '{"config":{"volatile.x":"1"}}')"
check_eq "failed changes changed nothing" "$before" "$(api /1.0/profiles/snap | jq -c '.metadata | del(.used_by)')"
check_match "a profile in use cannot be deleted, and says by whom" 'in use by instances "c1"' \
	"$(error_of DELETE /1.0/profiles/snap)"
check_eq "unknown profile at launch refused" "404" \
	"$(status POST /1.0/instances '{"name":"c9","source":{"type":"image","alias":"busybox"},"profiles":["default","nosuch"]}')"
check_eq "nothing made" "404" "$(status GET /1.0/instances/c9)"
check_match "no profiles and no root disk: said plainly" 'No root disk' \
	"$(error_of POST /1.0/instances '{"name":"c9","source":{"type":"image","alias":"busybox"},"profiles":[]}')"
check_eq "profile names are checked" "400" "$(status POST /1.0/profiles '{"name":"a/b"}')"
check_eq "taken profile name" "409" "$(status POST /1.0/profiles '{"name":"snap"}')"

# --- rename and used_by ----------------------------------------------------------------------
check_eq "rename a profile in use" "200" "$(status POST /1.0/profiles/snap '{"name":"hourly"}')"
check_eq "instances follow the rename" '["default","hourly"]' "$(api /1.0/instances/c1 | jq -c .metadata.profiles)"
# Instances only: the scheduler may have taken an @hourly snapshot, which uses the profile too.
check_eq "used_by lists the three" "/1.0/instances/c1 /1.0/instances/c2 /1.0/instances/c3" \
	"$(api /1.0/profiles/hourly | jq -r '[.metadata.used_by[] | select(test("/snapshots/") | not)] | join(" ")')"
check_eq "remove the profile from c3" "200" "$(status PATCH /1.0/instances/c3 '{"profiles":["default"]}')"
check_eq "c3 lost the schedule" "null" \
	"$(api /1.0/instances/c3 | jq -r '.metadata.expanded_config["snapshots.schedule"]')"

# --- devices: none hides, snapshots keep them ------------------------------------------------
check_eq "an instance device hides nothing it does not name" "200" \
	"$(status PATCH /1.0/instances/c2 '{"devices":{"root":{"type":"disk","path":"/","pool":"default"}}}')"
check "stop c2" as_admin cairn stop c2 --force
check "snapshot c2 with profiles and devices" as_admin cairn snapshot create c2 s0
snap=$(api /1.0/instances/c2/snapshots/s0)
check_eq "snapshot keeps the profiles" '["default","hourly"]' "$(jq -c .metadata.profiles <<<"$snap")"
check_eq "snapshot keeps the devices" "default" "$(jq -r .metadata.devices.root.pool <<<"$snap")"
check_eq "a profile kept by a snapshot is in use" "409" "$(status PATCH /1.0/instances/c2 '{"profiles":["default"],"devices":{}}' >/dev/null; status DELETE /1.0/profiles/hourly)"
check_eq "c2 changed" '["default"]' "$(api /1.0/instances/c2 | jq -c .metadata.profiles)"
check "restore s0" as_admin cairn snapshot restore c2 s0
check_eq "restore brings the profiles back" '["default","hourly"]' "$(api /1.0/instances/c2 | jq -c .metadata.profiles)"
check_eq "restore brings the devices back" "default" "$(api /1.0/instances/c2 | jq -r .metadata.devices.root.pool)"

# --- copy carries them -----------------------------------------------------------------------
check "copy c2" as_admin cairn copy c2 c2copy
check_eq "the copy has the profiles" '["default","hourly"]' "$(api /1.0/instances/c2copy | jq -c .metadata.profiles)"
check_eq "the copy has the devices" "default" "$(api /1.0/instances/c2copy | jq -r .metadata.devices.root.pool)"

# --- a profile change is one transaction -----------------------------------------------------
stop_daemon
CAIRN_CRASHPOINT=profile-update-before-commit start_daemon
as_admin curl -s -X PATCH -d '{"description":"crashed","config":{"user.x":"1"}}' \
	--unix-socket "$CAIRN_DIR/unix.socket" http://cairn/1.0/profiles/hourly >/dev/null 2>&1 &
check "daemon reached the crash point" wait_crashpoint profile-update-before-commit
kill_daemon
rm -f "$CAIRN_DIR/crashpoint"
start_daemon
check_eq "killed profile change left the profile as it was" "hourly|null" \
	"$(api /1.0/profiles/hourly | jq -r '"\(.metadata.description)|\(.metadata.config["user.x"])"')"

# --- cairnd --restricted ---------------------------------------------------------------------
stop_daemon
start_daemon --restricted
check_match "restricted: group cannot launch privileged" 'restricted' \
	"$(error_of POST /1.0/instances '{"name":"p1","source":{"type":"image","alias":"busybox"},"config":{"security.privileged":"true"}}')"
mkdir -p "$T/share"
check_match "restricted: group cannot add a host path" 'restricted' \
	"$(error_of PATCH /1.0/instances/c1 "{\"devices\":{\"data\":{\"type\":\"disk\",\"source\":\"$T/share\",\"path\":\"/mnt/data\"}}}")"
check_match "restricted: nor through a profile" 'restricted' \
	"$(error_of PATCH /1.0/profiles/hourly '{"config":{"security.privileged":"true"}}')"
check_eq "restricted: refusals changed nothing" "null" \
	"$(api /1.0/instances/c1 | jq -r '.metadata.devices.data')"
check_eq "restricted: other changes still work for the group" "200" \
	"$(status PATCH /1.0/instances/c1 '{"config":{"user.note":"ok"}}')"
check_eq "restricted: root still may" "200" \
	"$(root_status PATCH /1.0/instances/c1 "{\"devices\":{\"data\":{\"type\":\"disk\",\"source\":\"$T/share\",\"path\":\"/mnt/data\"}}}")"
check_eq "restricted: the group may change other keys of it afterwards" "200" \
	"$(status PATCH /1.0/instances/c1 '{"config":{"user.note":"still ok"}}')"
check_eq "restricted: root makes a privileged container" "202" \
	"$(root_status POST /1.0/instances '{"name":"rp","source":{"type":"image","alias":"busybox"},"config":{"security.privileged":"true"}}')"
sleep 1
check_match "restricted: the group cannot copy it" 'restricted' \
	"$(error_of POST /1.0/instances '{"name":"rp2","source":{"type":"copy","source":"rp"}}')"
check_match "restricted: nor assign a profile that would make one" 'restricted' \
	"$(root_status POST /1.0/profiles '{"name":"priv","config":{"security.privileged":"true"}}' >/dev/null
	   error_of PATCH /1.0/instances/c3 '{"profiles":["default","priv"]}')"
check_eq "restricted: c3 kept its profiles" '["default"]' "$(api /1.0/instances/c3 | jq -c .metadata.profiles)"
stop_daemon
start_daemon
check_eq "unrestricted: the group may make a privileged container" "202" \
	"$(status POST /1.0/instances '{"name":"p1","source":{"type":"image","alias":"busybox"},"config":{"security.privileged":"true"}}')"

finish
