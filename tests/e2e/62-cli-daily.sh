#!/usr/bin/env bash
# What users type every day, as a user of the admin group: list filters (names, expressions,
# status, type, config keys, several at once) and -c forms, every mistake an error rather than
# an empty table; delete checking every target before it deletes any, and delete -i; launch
# without a name; remote images; stop/start/restart --all; "did you mean" for commands and
# config keys; a snapshot where an instance is expected; config unset of what is not set.
. "$(dirname "$0")/lib.sh"
[ "$BACKEND" = dir ] &&
	skip_all "the client's filters, checks and messages do not depend on the storage backend (run on btrfs)"
setup

# The names that `cairn list ARGS...` shows, sorted, on one line.
names() {
	as_admin cairn list -c n --format csv "$@" | tr '\n' ' ' | sed 's/ $//'
}

# Every instance as the API sees it, sorted, on one line (what delete must not have touched).
all_names() {
	api '/1.0/instances?recursion=1' | jq -r '.metadata[].name' | sort | tr '\n' ' ' | sed 's/ $//'
}

# ---- the known set ----
check "launch web1 (running, user.tier=front)" as_admin cairn launch busybox web1 -c user.tier=front
check "init web2 (stopped, user.tier=back)" as_admin cairn init busybox web2 -c user.tier=back
check "init webby (stopped, user.tier=back)" as_admin cairn init busybox webby -c user.tier=back -c user.note=x
check "launch db1 (running, user.tier=back)" as_admin cairn launch busybox db1 -c user.tier=back
check "init adb (stopped, no user keys)" as_admin cairn init busybox adb
check "snapshot web2/s0" as_admin cairn snapshot create web2 s0
ALL="adb db1 web1 web2 webby"
check_eq "list shows every instance" "$ALL" "$(names)"

# ---- filters ----
check_eq "list web: a name prefix" "web1 web2 webby" "$(names web)"
check_eq "list db: anchored, so adb is not shown" "db1" "$(names db)"
check_eq "list status=running" "db1 web1" "$(names status=running)"
check_eq "list status=RUNNING: the value in any case" "db1 web1" "$(names status=RUNNING)"
check_eq "list state=Stopped (Incus' other spelling)" "adb web2 webby" "$(names state=Stopped)"
check_eq "list status=running,frozen: either value" "db1 web1" "$(names status=running,frozen)"
check_eq "list type=container" "$ALL" "$(names type=container)"
check_eq "list type=virtual-machine" "" "$(names type=virtual-machine)"
check_eq "list 'web[0-9]': an expression on the name" "web1 web2" "$(names 'web[0-9]')"
check_eq "list '.*b': anchored at both ends" "adb" "$(names '.*b')"
check_eq "list '.*db.*'" "adb db1" "$(names '.*db.*')"
check_eq "list '1\$': an expression that anchors itself is a search" "db1 web1" "$(names '1$')"
check_eq "list user.tier=back" "db1 web2 webby" "$(names user.tier=back)"
check_eq "list u.tier=front: the namespace abbreviated" "web1" "$(names u.tier=front)"
check_eq "list user.tier=fr.*: the value is an expression" "web1" "$(names 'user.tier=fr.*')"
check_eq "list user.tier=ba: anchored, no substring" "" "$(names user.tier=ba)"
check_eq "list user.note=x" "webby" "$(names user.note=x)"
check_eq "list user.tier=: an unset key counts as empty" "adb" "$(names user.tier=)"
check_eq "list u.tier=back status=running: ANDed" "db1" "$(names u.tier=back status=running)"
check_eq "list web status=stopped user.tier=back: three ANDed" "web2 webby" \
	"$(names web status=stopped user.tier=back)"
check_eq "list web db1: no name is both" "" "$(names web db1)"
check_eq "list nothing-like-this: an empty table is a real answer" "" "$(names nothing-like-this)"

# ---- -c ----
check_eq "-c ns" "web1,RUNNING" "$(as_admin cairn list web1 -c ns --format csv)"
check_eq "-c n,s: commas between letters are optional" "web1,RUNNING" \
	"$(as_admin cairn list web1 -c n,s --format csv)"
check_eq "-c nsbeS,user.tier: letters and a config key column" "web1,RUNNING,default,default,0,front" \
	"$(as_admin cairn list web1 -c nsbeS,user.tier --format csv)"
check_eq "-c n,user.tier:TIER:3 cuts the value" "web2,bac" \
	"$(as_admin cairn list web2 -c n,user.tier:TIER:3 --format csv)"
out=$(as_admin cairn list web1 -c n,user.tier:TIER)
check_match "a custom column has its header" '\| +NAME +\| +TIER +\|' "$out"
out=$(as_admin cairn list web1 -c nspNmu --format csv)
check_match "-c nspNmu: pid, processes, memory and cpu of a running instance" \
	'^web1,RUNNING,[0-9]+,[0-9]+,[0-9.]+[KMG]i?B,[0-9]+s$' "$out"
out=$(as_admin cairn list web1 -c lcaf --format csv)
check_match "-c lcaf: dates, architecture, base image" \
	'^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9:]+ UTC,[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9:]+ UTC,[a-z0-9_]+,[0-9a-f]{12}$' "$out"

# ---- every mistake is an error, never an empty table ----
list_fails() {
	local desc=$1 want=$2
	shift 2
	local out rc
	out=$(as_admin cairn list "$@" 2>/dev/null)
	rc=$?
	if [ $rc -eq 1 ] && [ -z "$out" ]; then
		check_fails "$desc" "$want" as_admin cairn list "$@"
	else
		not_ok "$desc"
		diag "list $* exited $rc with output: $out"
	fi
}
list_fails "a bad expression" \
	'Error: Invalid filter "c[": not a valid regular expression (Unmatched [, [^, [:, [., or [=)' 'c['
list_fails "an unknown filter key" \
	'Error: Invalid filter "foo=bar": unknown key "foo" (filter on a config key or on type, status, architecture, location, ipv4 or ipv6)' \
	foo=bar
list_fails "a mistyped filter key gets a suggestion" \
	'Error: Invalid filter "stauts=running": unknown key "stauts" (did you mean "status"?)' stauts=running
list_fails "a mistyped config key gets a suggestion" \
	'Error: Invalid filter "limits.memroy=1": unknown key "limits.memroy" (did you mean "limits.memory"?)' \
	limits.memroy=1
list_fails "a status no instance can have" \
	'Error: Invalid filter "status=runing": "runing" is no instance status (running, stopped, frozen, error, ...)' \
	status=runing
list_fails "a type no instance can have" \
	'Error: Invalid filter "type=vm": "vm" is no instance type (container or virtual-machine)' type=vm
list_fails "an ipv4 filter that is no address" \
	'Error: Invalid filter "ipv4=10.0.0.300": "10.0.0.300" is no IPv4 address or network' ipv4=10.0.0.300
list_fails "a good filter beside a bad one" "" web foo=bar
list_fails "an unknown column letter" 'Error: Unknown column shorthand char "X" in "nX"' -c nX
list_fails "an empty column entry" \
	'Error: Empty column entry (redundant, leading or trailing comma) in "n,,s"' -c n,,s
list_fails "column L (not clustered)" "Error: Can't specify column L when not clustered" -c nL
list_fails "a column of an unknown key" 'Error: Invalid config key "bogus.key" in "bogus.key"' \
	-c n,bogus.key

# ---- delete checks everything first ----
check "protect webby" as_admin cairn config set webby security.protection.delete=true
check_fails "delete web2 nosuch adb: one missing" 'Error: Instance "nosuch" not found' \
	as_admin cairn delete web2 nosuch adb
check_eq "... and nothing was deleted" "$ALL" "$(all_names)"
check_fails "delete adb web1: web1 runs, no --force" \
	"Error: The instance is currently running, stop it first or pass --force" \
	as_admin cairn delete adb web1
check_eq "... and adb is still there" "$ALL" "$(all_names)"
check_fails "delete adb webby: webby is protected" \
	'Error: The instance "webby" is protected against deletion (security.protection.delete=true)' \
	as_admin cairn delete adb webby --force
check_eq "... and nothing was deleted" "$ALL" "$(all_names)"
check_fails "delete adb web2/nosnap: a snapshot that does not exist" \
	'Error: Snapshot "nosnap" of instance "web2" not found' \
	as_admin cairn delete adb web2/nosnap
check_eq "... and adb is still there" "$ALL" "$(all_names)"
check_fails "delete web2/s0 adb/: an empty snapshot name" \
	'Error: Invalid snapshot "adb/": write INSTANCE/SNAPSHOT' as_admin cairn delete web2/s0 adb/
check_fails "delete web2/s0 nosuch/s0: a snapshot of an instance that does not exist" \
	'Error: Instance "nosuch" not found' as_admin cairn delete web2/s0 nosuch/s0
check_eq "... and the snapshot is still there" "s0" \
	"$(api /1.0/instances/web2/snapshots | jq -r '.metadata[]' | sed 's|.*/||')"
check_fails "delete web2 s0: the NAME/SNAPSHOT hint" \
	'Error: Instance "s0" not found; "s0" is a snapshot of "web2", delete it with "cairn delete web2/s0"' \
	as_admin cairn delete web2 s0
check_eq "... and web2 is still there" "$ALL" "$(all_names)"

# ---- delete -i ----
check "init x1" as_admin cairn init busybox x1
check "init x2" as_admin cairn init busybox x2
out=$(printf 'no\n' | as_admin cairn delete -i x1 2>&1)
check_eq "delete -i asks as Incus does" "Remove x1 (yes/no): " "$out"
check_eq "... and a no keeps x1" "Stopped" "$(api_status x1)"
printf 'no\nyes\n' | as_admin cairn delete --interactive x1 x2 >/dev/null 2>&1
check_eq "no then yes: x1 kept" "Stopped" "$(api_status x1)"
check_eq "no then yes: x2 deleted" "" "$(api_status x2)"
out=$(printf 'yes\nyes\n' | as_admin cairn delete -i x1 nosuch 2>/dev/null)
check_eq "delete -i with a bad target fails before asking anything" "1 " "$? $out"
check_eq "... x1 is still there" "Stopped" "$(api_status x1)"
printf 'yes\n' | as_admin cairn delete -i x1 >/dev/null 2>&1
check_eq "yes deletes x1" "" "$(api_status x1)"

# ---- launch and init without a name, remote images ----
out=$(as_admin cairn init busybox)
gen=$(printf '%s\n' "$out" | sed -n 's/^Creating //p')
check_match "init IMAGE without a name says the name it made" '^[a-z]+-[a-z]+$' "$gen"
check_eq "... and that instance exists" "Stopped" "$(api_status "$gen")"
check_fails "launch images:debian/12 c: no remote image servers" \
	'Error: Remote image servers are not available: "images:debian/12" names the remote "images"; import the image with "cairn image import" and launch it by its alias or fingerprint' \
	as_admin cairn launch images:debian/12 c
check_eq "... and no c was made" "" "$(api_status c)"
check "init local:busybox l1: local: is this daemon" as_admin cairn init local:busybox l1

# ---- a snapshot where an instance is expected ----
for cmd in "start web2/s0" "stop web2/s0" "info web2/s0" "config show web2/s0" \
	"config set web2/s0 user.a=1" "exec web2/s0 -- true"; do
	set -- $cmd
	path="cairn $1"
	[ "$1" = config ] && path="cairn $1 $2"
	check_fails "$cmd: says it is a snapshot" \
		"Error: \"web2/s0\" is a snapshot; \"$path\" takes an instance (see \"cairn snapshot --help\" for what works on snapshots)" \
		as_admin cairn $cmd
done
check_fails "start web2/nosnap: no such snapshot either" \
	'Error: Invalid instance name "web2/nosnap": only ASCII letters, digits and "-" are allowed' \
	as_admin cairn start web2/nosnap

# ---- did you mean ----
err=$(as_admin cairn lst 2>&1 >/dev/null)
check_eq "cairn lst: cobra's message and suggestion" \
	"$(printf 'Error: unknown command "lst" for "cairn"\n\nDid you mean this?\n\tlist')" "$err"
check_fails "config set with a mistyped key names the right one" \
	'Error: Unknown configuration key "limits.memroy" (did you mean "limits.memory"?)' \
	as_admin cairn config set web1 limits.memroy=1GiB

# ---- config unset ----
check_fails "config unset of a key that is not set" \
	"Error: Can't unset key \"user.nothere\", it's not currently set" \
	as_admin cairn config unset web1 user.nothere
check_fails "config unset of a key that cannot exist" \
	'Error: Unknown configuration key "limits.memroy" (did you mean "limits.memory"?)' \
	as_admin cairn config unset web1 limits.memroy
check "config unset of a key that is set" as_admin cairn config unset webby user.note
check_eq "... is gone" "" "$(as_admin cairn config get webby user.note)"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$CAIRN_DIR/unix.socket" -X PATCH \
	-H 'Content-Type: application/json' -d '{"config": {"bogus.key": ""}}' http://cairn/1.0/instances/web1)
check_eq "the API refuses to unset a key that cannot exist" "400" "$code"

# ---- --all ----
check_fails "stop --all with a name" "Error: Both --all and instance name given" \
	as_admin cairn stop --all web1
check_fails "stop without a name or --all" "Error: Invalid number of arguments" as_admin cairn stop
check "stop --all" as_admin cairn stop --all --force
check_eq "nothing runs" "" "$(names status=running)"
check "delete web2/s0 web2 adb adb: a snapshot of a deleted instance and a repeated name, once" \
	as_admin cairn delete web2/s0 web2 adb adb
check_eq "... both gone" "" "$(api_status web2)$(api_status adb)"
check "delete the extra instances" as_admin cairn delete "$gen" l1
check "start --all" as_admin cairn start --all
check_eq "every instance runs" "db1 web1 webby" "$(names status=running)"
p1=$(init_pid web1)
check "restart --all" as_admin cairn restart --all --force
check_eq "every instance runs again" "db1 web1 webby" "$(names status=running)"
check "web1 has a new init" test "$(init_pid web1)" != "$p1"

finish
