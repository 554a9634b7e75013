#!/usr/bin/env bash
# Snapshots end to end, as a user of the admin group: the tutorial, create/list/info/show,
# restore (stopped, running, older with newer kept, disk only), delete, rename, expiry, limit,
# copy, bad names and unknown snapshots, and two clients on one instance at once.
. "$(dirname "$0")/lib.sh"
setup

# Runs a shell command inside an instance, in root's home directory as `cairn shell` would.
in_instance() {
	local name=$1
	shift
	as_admin cairn exec "$name" -- sh -c "cd /root && $*"
}

snap_names() {
	as_admin cairn snapshot list "$1" --format csv | cut -d, -f1 | tr '\n' ' ' | sed 's/ $//'
}

# ---- the tutorial, verbatim but for the program's name ----
check "launch ubuntu-test" as_admin cairn launch busybox ubuntu-test
check "cairn snapshot ubuntu-test ubuntu-test-1" as_admin cairn snapshot ubuntu-test ubuntu-test-1
info=$(as_admin cairn info ubuntu-test)
check_match "info shows the snapshot section" '^Snapshots:$' "$info"
check_match "info shows ubuntu-test-1 (taken at ...) (stateless)" \
	'^  ubuntu-test-1 \(taken at [0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2} UTC\) \(stateless\)$' "$info"
check "in a shell, touch this_file.txt" in_instance ubuntu-test touch this_file.txt
check "the file is there" in_instance ubuntu-test test -e this_file.txt
check "cairn stop ubuntu-test" as_admin cairn stop ubuntu-test
check "cairn restore ubuntu-test ubuntu-test-1" as_admin cairn restore ubuntu-test ubuntu-test-1
check "cairn start ubuntu-test" as_admin cairn start ubuntu-test
check "the file is gone" in_instance ubuntu-test test ! -e this_file.txt
check "cairn delete ubuntu-test/ubuntu-test-1" as_admin cairn delete ubuntu-test/ubuntu-test-1
check_eq "no snapshot left" "" "$(snap_names ubuntu-test)"
check "the snapshot directory is gone" test ! -e "$CAIRN_DIR/storage-pools/default/containers-snapshots/ubuntu-test/ubuntu-test-1"
check "the instance still runs" test "$(api_status ubuntu-test)" = Running

# ---- data written, snapshot taken, data removed, snapshot restored, data back ----
check "init c1" as_admin cairn init busybox c1
vol="$CAIRN_DIR/storage-pools/default/containers/c1/rootfs"
head -c 1048576 /dev/urandom >"$T/data.bin"
cp "$T/data.bin" "$vol/root/data.bin"
sum=$(md5sum <"$T/data.bin")
out=$(as_admin cairn snapshot c1)
check_eq "a snapshot without a name gets snap0 and says so" 'Created snapshot "snap0"' "$out"
check "snapshot create c1 (named snap1 by the pattern)" as_admin cairn snapshot create c1
check_eq "two snapshots, oldest first" "snap0 snap1" "$(snap_names c1)"
rm "$vol/root/data.bin"
check "restore c1 snap0" as_admin cairn snapshot restore c1 snap0
check_eq "the data is back" "$sum" "$(md5sum <"$vol/root/data.bin")"
check_eq "newer snapshots are kept" "snap0 snap1" "$(snap_names c1)"
if [ "$BACKEND" = btrfs ]; then
	check "the snapshot is a read-only subvolume" bash -c \
		"btrfs property get -ts '$CAIRN_DIR/storage-pools/default/containers-snapshots/c1/snap0' ro | grep -qx ro=true"
fi
check "snapshots cannot be written to" bash -c "! touch '$CAIRN_DIR/storage-pools/default/containers-snapshots/c1/snap0/rootfs/x' 2>/dev/null || [ '$BACKEND' = dir ]"

# ---- restore of an older snapshot, newer ones kept; config comes back ----
echo one >"$vol/root/version"
check "snapshot v1" as_admin cairn snapshot c1 v1
check "config set limits.memory" as_admin cairn config set c1 limits.memory=128MiB
echo two >"$vol/root/version"
check "snapshot v2" as_admin cairn snapshot c1 v2
echo three >"$vol/root/version"
check "restore the older v1" as_admin cairn snapshot restore c1 v1
check_eq "v1's content is back" "one" "$(cat "$vol/root/version")"
check_eq "v1's config is back (no limit then)" "" "$(as_admin cairn config get c1 limits.memory)"
check_eq "v2 is kept" "snap0 snap1 v1 v2" "$(snap_names c1)"
check "restore v2 --diskonly" as_admin cairn snapshot restore c1 v2 --diskonly
check_eq "v2's content is back" "two" "$(cat "$vol/root/version")"
check_eq "--diskonly keeps the current config" "" "$(as_admin cairn config get c1 limits.memory)"

# ---- restore of a running instance: stopped, restored, started again ----
check "start c1" as_admin cairn start c1
pid_before=$(init_pid c1)
echo four >"$vol/root/version"
check "restore of running c1" as_admin cairn snapshot restore c1 v1
check_eq "c1 runs again" "Running" "$(api_status c1)"
check "c1 was restarted (new init)" test "$(init_pid c1)" != "$pid_before"
check_eq "the running instance got v1's content" "one" "$(in_instance c1 cat version)"

# ---- snapshots of a running instance ----
check "snapshot of running c1" as_admin cairn snapshot c1 live
check_eq "c1 still runs after the snapshot" "Running" "$(api_status c1)"

# ---- list formats ----
out=$(as_admin cairn snapshot list c1)
check_match "table header" '\| +NAME +\| +TAKEN AT +\| +EXPIRES AT +\| +TYPE +\| +STATEFUL +\| +SIZE +\|' "$out"
check_match "table row with a date, manual, NO and a size" '\| v1 +\| [0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2} UTC +\| +\| manual +\| NO +\| [0-9.]+[KMG]?i?B +\|' "$out"
out=$(as_admin cairn snapshot list c1 --format csv)
check_match "csv starts with the name" '^snap0,[0-9]{4}/' "$out"
out=$(as_admin cairn snapshot list c1 --format json)
check_eq "json uses the API's field names" "snap0 false true" \
	"$(printf '%s' "$out" | jq -r '.[0] | "\(.name) \(.stateful) \((.size|type) == "number" and (.created_at|test("Z$")))"')"
if [ "$BACKEND" = btrfs ]; then
	# A snapshot's SIZE is what it alone holds: data deleted from the instance after it.
	head -c 2097152 /dev/urandom >"$vol/root/only-in-sz.bin"
	check "snapshot sz" as_admin cairn snapshot c1 sz
	rm "$vol/root/only-in-sz.bin"
	size=$(as_admin cairn snapshot list c1 --format json | jq -r '.[] | select(.name == "sz") | .size')
	check "btrfs size of sz (holds 2 MiB alone) is at least 2 MiB" test "$size" -ge 2097152
	check "delete sz" as_admin cairn snapshot delete c1 sz
fi
out=$(as_admin cairn snapshot list c1 --format yaml)
check_match "yaml lists names" 'name: snap0' "$out"
out=$(as_admin cairn snapshot show c1 v1)
check_match "show prints YAML with created_at" '^created_at: ' "$out"
check_match "show has the snapshot's config" 'config:' "$out"
out=$(as_admin cairn list --format csv)
check_match "list counts the snapshots" '^c1,RUNNING,.*,5$' "$out"

# ---- rename ----
check "rename live to live2" as_admin cairn snapshot rename c1 live live2
check_eq "renamed" "snap0 snap1 v1 v2 live2" "$(snap_names c1)"
check "renamed on disk" test -d "$CAIRN_DIR/storage-pools/default/containers-snapshots/c1/live2"
check_fails "rename onto an existing name" 'Error: Snapshot "v1" of instance "c1" already exists' \
	as_admin cairn snapshot rename c1 live2 v1
check_fails "rename of an unknown snapshot" 'Error: Snapshot "nope" of instance "c1" not found' \
	as_admin cairn snapshot rename c1 nope x

# ---- expiry ----
check "snapshot with --expiry 1d" as_admin cairn snapshot create c1 e1 --expiry 1d
exp=$(api "/1.0/instances/c1/snapshots/e1" | jq -r .metadata.expires_at)
created=$(api "/1.0/instances/c1/snapshots/e1" | jq -r .metadata.created_at)
check_eq "expires one day after creation" "86400" "$(($(date -d "$exp" +%s) - $(date -d "$created" +%s)))"
info=$(as_admin cairn info c1)
check_match "info shows (expires at ...)" '^  e1 \(taken at .* UTC\) \(expires at .* UTC\) \(stateless\)$' "$info"
check "change the expiry later to a date" as_admin cairn snapshot expiry c1 e1 "2099-01-02 03:04"
check_eq "the new expiry" "2099-01-02T03:04:00Z" "$(api /1.0/instances/c1/snapshots/e1 | jq -r .metadata.expires_at)"
check "change the expiry to never" as_admin cairn snapshot expiry c1 e1 never
check_eq "never is the zero time" "0001-01-01T00:00:00Z" "$(api /1.0/instances/c1/snapshots/e1 | jq -r .metadata.expires_at)"
check "snapshots.expiry.manual=2w" as_admin cairn config set c1 snapshots.expiry.manual=2w
check "snapshot under snapshots.expiry.manual" as_admin cairn snapshot c1 e2
exp=$(api "/1.0/instances/c1/snapshots/e2" | jq -r .metadata.expires_at)
created=$(api "/1.0/instances/c1/snapshots/e2" | jq -r .metadata.created_at)
check_eq "expires two weeks later" "1209600" "$(($(date -d "$exp" +%s) - $(date -d "$created" +%s)))"
check "--no-expiry wins over the key" as_admin cairn snapshot c1 e3 --no-expiry
check_eq "e3 never expires" "0001-01-01T00:00:00Z" "$(api /1.0/instances/c1/snapshots/e3 | jq -r .metadata.expires_at)"
check_fails "a bad expiry is refused" "" as_admin cairn snapshot c1 e4 --expiry "1d 1d"
check_fails "a bad snapshots.expiry value is refused" "" as_admin cairn config set c1 snapshots.expiry=soon
check "--reuse replaces a snapshot" as_admin cairn snapshot c1 e3 --reuse
check_fails "without --reuse a taken name is refused" 'Error: Snapshot "e3" of instance "c1" already exists' \
	as_admin cairn snapshot c1 e3
check "pattern with a date" as_admin cairn config set c1 "snapshots.pattern=d{date:%Y%m%d}-%d"
out=$(as_admin cairn snapshot c1)
check_eq "the pattern names it" "Created snapshot \"d$(date -u +%Y%m%d)-0\"" "$out"

# ---- limit ----
n=$(snap_names c1 | wc -w)
check "snapshots.limit=$n" as_admin cairn config set c1 snapshots.limit=$n
check_fails "a manual snapshot past the limit is refused" \
	"Error: Instance \"c1\" has reached its snapshot limit (snapshots.limit=$n)" as_admin cairn snapshot c1 over
check_eq "nothing was added" "$n" "$(snap_names c1 | wc -w)"
check "unset the limit" as_admin cairn config unset c1 snapshots.limit

# ---- stateful ----
check_fails "stateful needs migration.stateful" "" as_admin cairn snapshot c1 st --stateful
check "migration.stateful=true" as_admin cairn config set c1 migration.stateful=true
# c1 runs, but was started before migration.stateful was set: it has a console CRIU cannot dump
# (83-snapshot-stateful.sh has the rest).
check_fails "a stateful snapshot of an instance started before migration.stateful says to restart it" \
	'Error: Instance "c1" was started before migration.stateful was set: restart it (without a console, which CRIU cannot dump) first' \
	as_admin cairn snapshot c1 st --stateful
check_eq "and takes no snapshot" "" "$(snap_names c1 | tr ' ' '\n' | grep -x st)"

# ---- bad names, unknown snapshots, unknown instances: clear errors, nothing changed ----
before=$(snap_names c1)
long=$(printf 'a%.0s' $(seq 1 256))
check_fails "a name with /" "" as_admin cairn snapshot c1 a/b
check_fails "the name .." 'Error: Invalid snapshot name ".."' as_admin cairn snapshot c1 ..
check_fails "an empty name" 'Error: Invalid snapshot name "": it cannot be empty' as_admin cairn snapshot c1 ""
check_fails "a 256-character name" "" as_admin cairn snapshot c1 "$long"
check_fails "API: a name with / in the body" "" bash -c \
	"curl -sf --unix-socket '$CAIRN_DIR/unix.socket' -X POST -d '{\"name\": \"a/b\"}' http://cairn/1.0/instances/c1/snapshots >/dev/null || { echo 'Error: refused' >&2; exit 1; }"
check_eq "nothing changed" "$before" "$(snap_names c1)"
check_fails "restore of an unknown snapshot" 'Error: Snapshot "nope" of instance "c1" not found' \
	as_admin cairn restore c1 nope
check_fails "delete of an unknown snapshot" 'Error: Snapshot "nope" of instance "c1" not found' \
	as_admin cairn delete c1/nope
check_fails "snapshot of an unknown instance" 'Error: Instance "ghost" not found' as_admin cairn snapshot ghost s
check_eq "API 404 for an unknown snapshot" "404" \
	"$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$CAIRN_DIR/unix.socket" http://cairn/1.0/instances/c1/snapshots/nope)"

# ---- the typo guard of delete ----
check_fails "cairn delete c1 snap0 deletes nothing and hints at c1/snap0" "" as_admin cairn delete --force c1 snap0
err=$(as_admin cairn delete --force c1 snap0 2>&1)
check_match "the hint names c1/snap0" 'c1/snap0' "$err"
check_eq "c1 still runs" "Running" "$(api_status c1)"
check_eq "snap0 is still there" "$before" "$(snap_names c1)"

# ---- copy ----
check "copy c1/v1 to from-snap" as_admin cairn copy c1/v1 from-snap
check_eq "the copy has v1's content" "one" "$(cat "$CAIRN_DIR/storage-pools/default/containers/from-snap/rootfs/root/version")"
check_eq "a copy from a snapshot has no snapshots" "" "$(snap_names from-snap)"
check "the copy starts" as_admin cairn start from-snap
check_eq "the copy runs" "Running" "$(api_status from-snap)"
check "copy c1 to full (with snapshots, c1 running)" as_admin cairn copy c1 full
check_eq "the copy has the snapshots" "$(snap_names c1)" "$(snap_names full)"
check_eq "the copy's snapshot v2 has v2's content" "two" \
	"$(cat "$CAIRN_DIR/storage-pools/default/containers-snapshots/full/v2/rootfs/root/version")"
check "copy --instance-only" as_admin cairn copy c1 bare --instance-only
check_eq "no snapshots with --instance-only" "" "$(snap_names bare)"
check_fails "copy onto an existing name" 'Error: Instance "full" already exists' as_admin cairn copy c1 full
check_fails "copy of an unknown snapshot" 'Error: Snapshot "nope" of instance "c1" not found' as_admin cairn copy c1/nope x1

# ---- deleting an instance deletes its snapshots ----
check "delete full" as_admin cairn delete full
check "full's snapshots are gone from the disk" test ! -e "$CAIRN_DIR/storage-pools/default/containers-snapshots/full"
check "re-create full: no old snapshots come back" as_admin cairn copy c1 full --instance-only
check_eq "full has no snapshots" "" "$(snap_names full)"

# ---- restore onto a deleted instance ----
check "snapshot bare b0" as_admin cairn snapshot bare b0
check "delete bare" as_admin cairn delete bare
check_fails "restore onto the deleted instance" 'Error: Instance "bare" not found' as_admin cairn restore bare b0

# ---- two clients on one instance at once: both succeed, or one gets a clear conflict ----
check "stop c1" as_admin cairn stop c1
pids=
for i in 1 2 3 4 5 6; do
	as_admin cairn snapshot c1 "race$i" >"$T/race$i.out" 2>&1 &
	pids="$pids $!"
done
# Not a bare `wait`: the daemon is a child of this shell too.
wait $pids
conflicts=0 oks=0 bad=0
for i in 1 2 3 4 5 6; do
	if [ ! -s "$T/race$i.out" ]; then
		oks=$((oks + 1))
	elif grep -qxF 'Error: Instance "c1" is busy: another operation on it is running' "$T/race$i.out"; then
		conflicts=$((conflicts + 1))
	else
		bad=$((bad + 1))
		diag "race$i: $(cat "$T/race$i.out")"
	fi
done
check_eq "every concurrent snapshot succeeded or got the conflict error" "0" "$bad"
made=$(snap_names c1 | tr ' ' '\n' | grep -c '^race' || true)
check_eq "exactly the successful ones exist" "$oks" "$made"
pids=
for i in 1 2 3 4 5 6; do
	as_admin cairn snapshot restore c1 v1 >"$T/r$i.out" 2>&1 &
	pids="$pids $!"
done
wait $pids
bad=0
for i in 1 2 3 4 5 6; do
	[ -s "$T/r$i.out" ] && ! grep -qxF 'Error: Instance "c1" is busy: another operation on it is running' "$T/r$i.out" && bad=$((bad + 1))
done
check_eq "concurrent restores succeed or conflict" "0" "$bad"
check_eq "c1 is intact after the races" "one" "$(cat "$vol/root/version")"
check "c1 starts after the races" as_admin cairn start c1

finish
