#!/usr/bin/env bash
# Profiles and devices as an admin-group user sees them through the client: profile CRUD and
# listing, set/unset/get/edit round trips, one snapshot schedule in a profile reaching three
# instances, launch -p and --no-profiles, profile add/remove, config device
# add/remove/list/show/override (a `none` device hiding a profile's device), config show
# --expanded, refusals (a profile in use, default, bad devices and names) that change nothing.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
[ "$BACKEND" = btrfs ] || skip_all "profiles and devices do not depend on the storage backend (run with btrfs)"
setup

c() { as_admin cairn "$@"; }
# out CMD...: what the command prints on stdout and stderr.
out() { as_admin cairn "$@" 2>&1; }
profiles() { c profile list --format csv | cut -d, -f1 | tr '\n' ' '; }

# ---- CRUD and listing ----
check_eq "a new daemon has the default profile" "default " "$(profiles)"
check_eq "create a profile" "Profile web created" "$(out profile create web --description "Web servers")"
check_match "the table lists it with its description and users" '^\| web +\| Web servers +\| 0 +\|$' "$(c profile list)"
check_match "the table has Incus's columns" '^\| +NAME +\| +DESCRIPTION +\| +USED BY +\|$' "$(c profile list)"
check_eq "csv lists name, description, users" "web,Web servers,0" "$(c profile list --format csv | grep '^web,')"
check_eq "json lists the objects" "default web" "$(c profile list --format json | jq -r '[.[].name] | sort | join(" ")')"
check_eq "yaml lists them too" "2" "$(c profile list --format yaml | grep -c '^- ')"
check_fails "creating it again is refused" "" c profile create web
check_fails "a bad name is refused" "" c profile create 'bad/name'
check_fails "a name starting with - is refused" "" c profile create -- -x
check_eq "no profile was made by the refusals" "default web " "$(profiles)"
check_eq "copy a profile (silent, as in Incus)" "" "$(out profile copy web web2)"
check_eq "the copy has the description" "Web servers" "$(c profile show web2 | sed -n 's/^description: //p')"
check_eq "rename it" "Profile web2 renamed to web3" "$(out profile rename web2 web3)"
check_eq "delete it" "Profile web3 deleted" "$(out profile delete web3)"
check_eq "the list is back to two" "default web " "$(profiles)"
check_fails "showing a missing profile fails" "" c profile show web3
check_fails "default cannot be deleted" "" c profile delete default
check_fails "default cannot be renamed" "" c profile rename default other
check_eq "default is still there" "default web " "$(profiles)"

# ---- set / get / unset / edit ----
check "set KEY VALUE" c profile set web snapshots.schedule "@daily"
check "set KEY=VALUE..." c profile set web limits.memory=256MiB user.tag=blue
check_eq "get reads them back" "@daily 256MiB blue" \
	"$(echo "$(c profile get web snapshots.schedule) $(c profile get web limits.memory) $(c profile get web user.tag)")"
before=$(c profile show web)
check_fails "a word without = is refused" "Error: Invalid key=value configuration: novalue" \
	c profile set web limits.cpu=1 novalue
check_fails "an unknown key is refused by the daemon" "" c profile set web bogus.key=1
check_fails "a bad value is refused" "" c profile set web snapshots.schedule="not cron"
check_eq "the refusals changed nothing" "$before" "$(c profile show web)"
check "unset a key" c profile unset web user.tag
check_eq "it is gone" "" "$(c profile get web user.tag)"
check_fails "unsetting it again says so" "Error: Can't unset key \"user.tag\", it's not currently set" \
	c profile unset web user.tag
c profile show web >"$T/web.yaml"
check "edit from stdin with what show printed" as_admin cairn profile edit web <"$T/web.yaml"
check_eq "the round trip changed nothing" "$(cat "$T/web.yaml")" "$(c profile show web)"
sed 's/^description: .*/description: Front ends/' "$T/web.yaml" >"$T/web2.yaml"
c profile edit web <"$T/web2.yaml"
check_eq "an edited description is applied" "Front ends" "$(c profile show web | sed -n 's/^description: //p')"
before=$(c profile show web)
printf 'config:\n  limits.memory: lots\n' >"$T/bad.yaml"
check_fails "an edit with a bad value is refused (stdin)" "" as_admin cairn profile edit web <"$T/bad.yaml"
printf 'devices: [1, 2]\n' >"$T/bad2.yaml"
check_fails "an edit with devices of the wrong shape is refused" \
	'Error: Invalid profile at line 1: "devices" must map device names to devices' \
	as_admin cairn profile edit web <"$T/bad2.yaml"
check_eq "the refused edits changed nothing" "$before" "$(c profile show web)"

# ---- one schedule in a profile reaches three instances ----
c profile set web snapshots.schedule=@daily
for i in 1 2 3; do
	check "init s$i with -p default -p web" c init busybox "s$i" -p default -p web
done
for i in 1 2 3; do
	check_eq "s$i sees the profile's schedule expanded" "@daily" "$(c config get "s$i" snapshots.schedule --expanded)"
done
check_eq "but not as its own key" "" "$(c config get s1 snapshots.schedule)"
check_eq "the list counts the users" "web,Front ends,3" "$(c profile list --format csv | grep '^web,')"
c profile set web snapshots.schedule=@hourly
check_eq "a profile change reaches all three" "@hourly @hourly @hourly" \
	"$(echo $(for i in 1 2 3; do c config get "s$i" snapshots.schedule --expanded; done))"
check_eq "info shows the profiles" "Profiles: default, web" "$(c info s1 | grep '^Profiles:')"
check_match "config show lists them in order" '^profiles:$' "$(c config show s1)"
check_eq "config show --expanded has the profile's keys" "  snapshots.schedule: '@hourly'" \
	"$(c config show s1 --expanded | grep 'snapshots.schedule' | tr '"' "'")"
check_eq "config show --expanded has the default profile's root disk" "default" \
	"$(c config show s1 --expanded | sed -n '/^  root:/,/^  [a-z]/s/^    pool: //p')"
check_eq "config show (own) has no devices" "devices: {}" "$(c config show s1 | grep '^devices:')"

# ---- a profile in use ----
msg=$(out profile delete web)
check_match "a profile in use cannot be deleted" '^Error: ' "$msg"
check_match "the refusal names the instances" 's1' "$msg"
check_eq "it is still there" "default web " "$(profiles)"

# ---- profile add / remove ----
check "init p1 with the default profile only" c init busybox p1
check_eq "p1 has the default profile" "Profiles: default" "$(c info p1 | grep '^Profiles:')"
check_eq "profile add" "Profile web added to p1" "$(out profile add p1 web)"
check_eq "p1 has both" "Profiles: default, web" "$(c info p1 | grep '^Profiles:')"
check_eq "p1 gets the schedule" "@hourly" "$(c config get p1 snapshots.schedule --expanded)"
check_fails "adding it twice is refused" "Error: Profile web is already applied to p1" c profile add p1 web
check_fails "adding an unknown profile is refused" "" c profile add p1 nope
check_eq "the refusals changed nothing" "Profiles: default, web" "$(c info p1 | grep '^Profiles:')"
check_eq "profile remove" "Profile web removed from p1" "$(out profile remove p1 web)"
check_fails "removing one it lacks is refused" "Error: Profile web isn't currently applied to p1" \
	c profile remove p1 web
check_eq "p1 lost the schedule" "" "$(c config get p1 snapshots.schedule --expanded)"

# ---- launch -p, --no-profiles, -s ----
check_fails "init with an unknown profile fails" "" c init busybox x1 -p nope
check_fails "--no-profiles without -s has no root disk and fails" "" c init busybox x2 --no-profiles
check_fails "--no-profiles with -p is refused" "Error: --no-profiles and --profile cannot be used together" \
	c init busybox x3 --no-profiles -p web
check_eq "none of them was made" "" "$(c list --format csv -c n | grep '^x')"
check "--no-profiles with -s POOL works" c init busybox np --no-profiles -s default
check_eq "it has no profiles" "[]" "$(api /1.0/instances/np | jq -c .metadata.profiles)"
check_eq "its own root disk is on the pool" "disk / default" \
	"$(api /1.0/instances/np | jq -r '.metadata.devices.root | "\(.type) \(.path) \(.pool)"')"
check "launch -p default -p web" c launch busybox l1 -p default -p web
check_eq "l1 is running with both, in order" "Running [\"default\",\"web\"]" \
	"$(api /1.0/instances/l1 | jq -c -r '"\(.metadata.status) \(.metadata.profiles)"')"

# ---- devices of a profile ----
mkdir -p "$T/src"
chmod 0755 "$T/src"
check_eq "profile device add (a host directory)" "Device data added to web" \
	"$(out profile device add web data disk "source=$T/src" path=/mnt/data)"
check_eq "profile device list" "data" "$(c profile device list web)"
check_match "profile device show shows the source" "^  source: $T/src\$" "$(c profile device show web)"
check_eq "profile device get" "/mnt/data" "$(c profile device get web data path)"
check "profile device set" c profile device set web data readonly=true
check_eq "it is set" "true" "$(c profile device get web data readonly)"
check "profile device unset" c profile device unset web data readonly
check_eq "it is unset" "" "$(c profile device get web data readonly)"
check_eq "s1 sees it expanded" "disk $T/src" \
	"$(api /1.0/instances/s1 | jq -r '.metadata.expanded_devices.data | "\(.type) \(.source)"')"
check_match "config show --expanded shows it" "^    source: $T/src\$" "$(c config show s1 --expanded)"

# ---- devices of an instance: a none device hides the profile's ----
check_eq "config device list is empty (own devices only)" "" "$(c config device list s1)"
check_fails "a profile's device cannot be removed from one instance" \
	"Error: Device from profile(s) cannot be removed from individual instance. Override device or modify profile instead" \
	c config device remove s1 data
check_eq "config device add none" "Device data added to s1" "$(out config device add s1 data none)"
check_eq "config device list" "data" "$(c config device list s1)"
check_eq "config device show" "$(printf 'data:\n  type: none')" "$(c config device show s1)"
check_eq "the expanded device is hidden (none)" "none" "$(api /1.0/instances/s1 | jq -r '.metadata.expanded_devices.data.type')"
check_eq "s2 still has the profile's" "disk" "$(api /1.0/instances/s2 | jq -r '.metadata.expanded_devices.data.type')"
check_fails "adding it twice is refused" "Error: The device already exists" c config device add s1 data none
check_eq "config device remove" "Device data removed from s1" "$(out config device remove s1 data)"
check_eq "the profile's device is back" "disk" "$(api /1.0/instances/s1 | jq -r '.metadata.expanded_devices.data.type')"
check_fails "removing a device nobody has" "Error: Device doesn't exist" c config device remove s1 nothing
check_eq "override copies the profile's device with a change" "Device data overridden for s1" \
	"$(out config device override s1 data readonly=true)"
check_eq "the copy is the instance's own" "disk $T/src /mnt/data true" \
	"$(api /1.0/instances/s1 | jq -r '.metadata.devices.data | "\(.type) \(.source) \(.path) \(.readonly)"')"
check_fails "overriding it again is refused" "Error: The device already exists" c config device override s1 data
check_fails "overriding what no profile has is refused" "Error: The profile device doesn't exist" \
	c config device override s1 eth9
check "config device set on the own device" c config device set s1 data readonly=false
check_eq "config device get" "false" "$(c config device get s1 data readonly)"
check_eq "config device get reads a profile's device too" "/" "$(c config device get s1 root path)"
check_fails "config device set on a profile's device is refused" "" c config device set s1 root size=1GiB
check "config device remove the override" c config device remove s1 data
check_eq "a device change on a running instance says when it applies" \
	"Device extra added to l1 (takes effect at the next start)" "$(out config device add l1 extra none)"

# ---- bad devices change nothing ----
before=$(c config show s1)
pbefore=$(c profile show web)
check_fails "an unknown device type is refused" "" c config device add s1 bad bogus
check_fails "an unknown device key is refused" "" c config device add s1 bad disk sorce=/x path=/y
check_fails "a key without a value is refused" 'Error: No value found in "path"' c config device add s1 bad disk path
check_fails "a bad device name is refused" "" c config device add s1 'b/d' none
check_fails "a second root disk is refused" "" c config device add s1 root2 disk path=/ pool=default
check_fails "a disk without a path is refused" "" c config device add s1 bad disk "source=$T/src"
check_fails "two devices on one path in a profile are refused" "" \
	c profile device add web data2 disk "source=$T/src" path=/mnt/data
check_fails "a device of an unknown profile" "" c profile device add nope d none
check_eq "the instance is unchanged" "$before" "$(c config show s1)"
check_eq "the profile is unchanged" "$pbefore" "$(c profile show web)"

# ---- completion ----
check_eq "profile names complete" "default web" "$(echo $(c __complete profile show ''))"
check_eq "profile add completes an instance, then profiles" "web" "$(echo $(c __complete profile add s1 w))"
check_match "the bash script knows the profile commands" "list show create .* device" "$(c completion bash | grep -F "_cairn_subs['cairn profile']")"

# ---- config edit sends devices and profiles ----
printf 'config: {}\nprofiles:\n- default\ndevices:\n  mine:\n    type: none\n' >"$T/s2.yaml"
check "config edit with devices and profiles" as_admin cairn config edit s2 <"$T/s2.yaml"
check_eq "the profiles were applied" "[\"default\"]" "$(api /1.0/instances/s2 | jq -c .metadata.profiles)"
check_eq "the devices were applied" "mine" "$(c config device list s2)"
# Instances only: the scheduler may take an @hourly snapshot meanwhile, which uses the profile too.
check_eq "the profile lost a user" "l1 s1 s3" \
	"$(api /1.0/profiles/web | jq -r '[.metadata.used_by[] | select(test("/snapshots/") | not) | sub("/1.0/instances/"; "")] | join(" ")')"
printf 'profiles:\n- default\n- nope\n' >"$T/s2bad.yaml"
before=$(c config show s2)
check_fails "config edit naming an unknown profile is refused" "" as_admin cairn config edit s2 <"$T/s2bad.yaml"
check_eq "and changed nothing" "$before" "$(c config show s2)"

# ---- profile edit on a terminal: a refused text is shown and offered again ----
tmux_setup
mkdir -p "$T/ed" && chown "$ADMIN_USER" "$T/ed"
cat >"$T/ed/editor.sh" <<'EOF2'
#!/bin/sh
# First call: an unknown key, which the daemon refuses; second call: the key out, a new
# description in.
n=$(cat "$(dirname "$0")/count" 2>/dev/null || echo 0)
echo $((n + 1)) >"$(dirname "$0")/count"
if [ "$n" = 0 ]; then
	sed -i 's/^config:.*/config:\n  nosuch.key: "1"/' "$1"
else
	# The file is the text refused before: mend it.
	sed -i -e '/nosuch.key/d' -e 's/^description:.*/description: edited on a terminal/' "$1"
fi
EOF2
chmod 0755 "$T/ed/editor.sh"
tmux -S "$TMUX_SOCK" new-session -d -s t -x 200 -y 50 "as-admin env EDITOR=$T/ed/editor.sh cairn profile edit web; sleep 30"
check "the refusal is shown on the terminal" wait_pane 'Config parsing error: .*nosuch.key'
check "and the editor offered again" wait_pane 'Press enter to open the editor again'
tmux -S "$TMUX_SOCK" send-keys -t t Enter
for i in $(seq 1 50); do
	[ "$(c profile show web | sed -n 's/^description: //p')" = "edited on a terminal" ] && break
	sleep 0.1
done
check_eq "the second edit is applied" "edited on a terminal" "$(c profile show web | sed -n 's/^description: //p')"
check_eq "the editor ran twice" "2" "$(cat "$T/ed/count")"

finish
