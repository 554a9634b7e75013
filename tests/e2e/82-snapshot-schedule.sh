#!/usr/bin/env bash
# Snapshots on their own, against a real cairnd on the wall clock, as a user of the admin group:
# a schedule every minute whose snapshots expire after two, a restart over missed slots (one
# catch-up, no duplicate), onchange on an idle instance, a manual snapshot expiring at its
# deadline, snapshot auto and prune under a limit, prune --dry-run, and what info shows.
# The slot arithmetic itself is unit-tested on a simulated clock (test_snapshots_plan); the
# minute ticks here run side by side, so the suite waits about four minutes in all, on the btrfs
# backend only.
. "$(dirname "$0")/lib.sh"
setup

sock="$CAIRN_DIR/unix.socket"

# Names of an instance's snapshots of one type (scheduled or manual), oldest first.
snaps_of() {
	as_admin cairn snapshot list "$1" --format csv | awk -F, -v t="$2" '$4 == t { print $1 }' |
		tr '\n' ' ' | sed 's/ $//'
}
count_of() {
	as_admin cairn snapshot list "$1" --format csv | awk -F, -v t="$2" '$4 == t' | wc -l
}
# Waits up to $2 seconds for "$1" (a shell condition) to hold.
wait_for() {
	local i
	for i in $(seq 1 $(($2 * 2))); do
		eval "$1" && return 0
		sleep 0.5
	done
	return 1
}
# Seconds until the next minute of the wall clock.
to_next_minute() {
	echo $((60 - $(date +%s) % 60))
}

curl -sN --unix-socket "$sock" "http://cairn/1.0/events?type=lifecycle" >"$T/events" 2>/dev/null &
events=$!

# ---- bad input is refused at config set, with the position of the fault ----
check "init c1" as_admin cairn init busybox c1
check_fails "a minute of 61 is refused" "" as_admin cairn config set c1 snapshots.schedule='61 * * * *'
out=$(as_admin cairn config set c1 snapshots.schedule='61 * * * *' 2>&1)
check_match "... naming the field" 'minute' "$out"
check_fails "a six-field line is refused" "" as_admin cairn config set c1 snapshots.schedule='* * * * * *'
check_fails "an unknown alias is refused" "" as_admin cairn config set c1 snapshots.schedule=@fortnightly
check_fails "a retention without a unit is refused" "" as_admin cairn config set c1 snapshots.retention='24'
check_fails "a retention with a unit twice is refused" "" as_admin cairn config set c1 snapshots.retention='2d 3d'
check_fails "a negative floor is refused" "" as_admin cairn config set c1 snapshots.retention.min=-1
check_eq "and nothing was set" "" "$(as_admin cairn config get c1 snapshots.schedule)"
check "a Vixie cron line with names is accepted" \
	as_admin cairn config set c1 snapshots.schedule='0 2,14 * * mon-fri'
check "several entries and an alias" as_admin cairn config set c1 snapshots.schedule='@daily, 30 4 1,15 * 5'
check "a btrbk-style retention" as_admin cairn config set c1 snapshots.retention='24H 7d 4w 12m'
check "unset" as_admin cairn config unset c1 snapshots.retention

# The minute ticks, on one backend: the timer and the planner do not depend on the driver (that
# onchange never skips on dir is a unit test of the storage layer), and each run waits minutes.
check "launch live (running)" as_admin cairn launch busybox live
if [ "$BACKEND" = btrfs ]; then
	# ---- every minute, expiring after three; onchange on an idle stopped instance ----
	check "init idle" as_admin cairn init busybox idle
	check "init off (stopped, and stopped instances are skipped by default)" as_admin cairn init busybox off
	# What follows counts minutes: start it just after one begins, so that each step below has the
	# rest of its minute to run in, however slow the machine.
	sleep $(($(to_next_minute) + 2))
	check "c1: every minute, kept 3 minutes" \
		as_admin cairn config set c1 snapshots.schedule='* * * * *' snapshots.expiry=3M snapshots.schedule.stopped=true
	check "idle: every minute, only when changed" \
		as_admin cairn config set idle snapshots.schedule='* * * * *' snapshots.schedule.stopped=true snapshots.schedule.onchange=true
	check "off: every minute" as_admin cairn config set off snapshots.schedule='* * * * *'

	# A manual snapshot expires at its deadline, not at the next minute.
	check "a manual snapshot that expires in 8 s" as_admin cairn snapshot create live m1 --expiry 8S
	check_eq "live: there at once" m1 "$(snaps_of live manual)"
	if wait_for '[ -z "$(snaps_of live manual)" ]' 14; then
		ok "the manual snapshot is gone within 5 s of its deadline"
	else
		not_ok "the manual snapshot is gone within 5 s of its deadline"
	fi
	check_match "its expiry is an event with the reason" \
		'"action":"instance-snapshot-deleted","source":"/1.0/instances/live/snapshots/m1".*"trigger":"expiry"' \
		"$(tr -d '\\' <"$T/events")"

	# This minute's slot was on time when the schedule was set: c1 got its first one at once.
	if wait_for '[ "$(count_of c1 scheduled)" -ge 1 ]' 10; then
		ok "c1: a scheduled snapshot for this minute's slot"
	else
		not_ok "c1: a scheduled snapshot for this minute's slot"
	fi
	check_eq "it is named by snapshots.pattern" "snap0" "$(snaps_of c1 scheduled)"
	check_match "its creation is an event" \
		'"action":"instance-snapshot-created","source":"/1.0/instances/c1/snapshots/snap0"' \
		"$(tr -d '\\' <"$T/events")"
	expires=$(api /1.0/instances/c1/snapshots/snap0 | jq -r .metadata.expires_at)
	check "it expires (expires_at is set: $expires)" test "$expires" != "0001-01-01T00:00:00Z"
	check "the idle instance got its first one" wait_for '[ "$(count_of idle scheduled)" -eq 1 ]' 10
	check_eq "the stopped instance without snapshots.schedule.stopped got none" 0 "$(count_of off scheduled)"
	check_match "info says why its slot was skipped" '^  Skipped slot: .*stopped' "$(as_admin cairn info off)"
	check "the daemon log has a line for the snapshot" grep -q 'Took scheduled snapshot "snap0" of "c1"' "$T/cairnd.log"

	# ---- the daemon is down over two slots: one catch-up, no duplicate ----
	kill_daemon
	sleep $(($(to_next_minute) + 62))
	start_daemon
	# The event stream ended with the daemon: listen again.
	curl -sN --unix-socket "$sock" "http://cairn/1.0/events?type=lifecycle" >>"$T/events" 2>/dev/null &
	events=$!
	if wait_for '[ "$(count_of c1 scheduled)" -ge 2 ]' 10; then
		ok "c1: a catch-up snapshot at start"
	else
		not_ok "c1: a catch-up snapshot at start"
	fi
	check_eq "one for all the missed slots" "snap0 snap1" "$(snaps_of c1 scheduled)"
	# (Its event went out before a listener could reconnect; the log keeps it.)
	check_match "the daemon log says it was a catch-up" \
		'Took scheduled snapshot "snap1" of "c1": catch-up at daemon start for [0-9]+ missed slots?' \
		"$(cat "$T/cairnd.log")"
	info=$(as_admin cairn info c1)
	check_match "info shows the schedule and the next slot" '^  Schedule: \* \* \* \* \* \(next at [0-9/]+ [0-9:]+ UTC\)$' "$info"
	check_match "info shows the last scheduled snapshot" '^  Last scheduled: snap1' "$info"
	check_match "info counts the snapshots" '^  Count: 2 \(2 scheduled, 0 manual\)' "$info"
	check_eq "onchange: the idle instance was skipped, catch-up included" 1 "$(count_of idle scheduled)"
	check_match "info says the volume did not change" '^  Skipped slot: .*unchanged' "$(as_admin cairn info idle)"
	sleep 2
	check_eq "no second snapshot for the catch-up's slot" "snap0 snap1" "$(snaps_of c1 scheduled)"
	# snap0 expires three minutes after it was taken: it goes at its deadline, and the slots go on.
	left=$(($(date -d "$expires" +%s) - $(date +%s)))
	if wait_for '[ "$(snaps_of c1 scheduled | cut -d" " -f1)" != snap0 ]' $((left > 0 ? left + 5 : 5)); then
		ok "snap0 of c1 went within 5 s of its deadline"
	else
		not_ok "snap0 of c1 went within 5 s of its deadline"
	fi
	if wait_for '[ "$(snaps_of c1 scheduled)" = "snap1 snap2" ]' $(($(to_next_minute) + 8)); then
		ok "the next slot took snap2"
	else
		not_ok "the next slot took snap2"
		diag "scheduled snapshots of c1: $(snaps_of c1 scheduled)"
	fi
	for c in c1 idle off; do
		check "$c: schedule off" as_admin cairn config unset "$c" snapshots.schedule
	done
else
	ok "the minute ticks # SKIP run on the btrfs backend only: the scheduler is the same for every driver"
fi

# ---- snapshot auto and prune under a limit, manual snapshots kept ----
check "init lim" as_admin cairn init busybox lim
check "lim: at most 3, named auto%d" as_admin cairn config set lim snapshots.limit=3 snapshots.pattern='auto%d'
check "a manual snapshot" as_admin cairn snapshot create lim keepme
for i in 1 2 3 4; do
	check "snapshot auto lim ($i)" as_admin cairn snapshot auto lim
done
check_eq "the oldest scheduled ones were evicted, the manual one kept" "keepme" "$(snaps_of lim manual)"
check_eq "two scheduled ones remain (3 in all)" "auto2 auto3" "$(snaps_of lim scheduled)"
check_match "an eviction is an event with the reason" \
	'"action":"instance-snapshot-deleted","source":"/1.0/instances/lim/snapshots/auto0".*"trigger":"limit"' \
	"$(tr -d '\\' <"$T/events")"
check_fails "a manual snapshot past the limit is refused" "" as_admin cairn snapshot create lim second
check "snapshot list says which were scheduled" test "$(count_of lim scheduled)" -eq 2

check "lim: scheduled snapshots kept one hour" as_admin cairn config set lim snapshots.expiry=1H
check "snapshot auto --all" as_admin cairn snapshot auto --all
check_eq "auto --all took one for lim (and evicted the oldest)" "auto3 auto4" "$(snaps_of lim scheduled)"
before=$(as_admin cairn snapshot list lim --format csv)
out=$(as_admin cairn snapshot prune lim --dry-run)
check_match "prune --dry-run keeps the manual one" '\| lim +\| keepme +\| manual +\| keep +\| manual' "$out"
check_match "prune --dry-run gives a reason for a scheduled one" '\| lim +\| auto4 +\| scheduled +\| keep +\| [a-z]' "$out"
check_eq "prune --dry-run changed nothing" "$before" "$(as_admin cairn snapshot list lim --format csv)"
check_fails "prune wants a name or --all" "Error: Name at least one instance, or pass --all" as_admin cairn snapshot prune
check_fails "prune of an unknown instance" 'Error: Instance "nope" not found' as_admin cairn snapshot prune nope
# A retention of one hourly bucket keeps one scheduled snapshot: prune (or the daemon's own
# pass, whichever comes first) leaves the manual one and the oldest of this hour.
check "lim: keep the first scheduled snapshot of the current hour" as_admin cairn config set lim snapshots.retention=1H
check "snapshot prune --all" as_admin cairn snapshot prune --all
check_eq "what is left" "keepme auto3" "$(as_admin cairn snapshot list lim --format csv | cut -d, -f1 | tr '\n' ' ' | sed 's/ $//')"
check_match "the thinning is an event with the reason" \
	'"source":"/1.0/instances/lim/snapshots/auto4".*"trigger":"retention"' "$(tr -d '\\' <"$T/events")"

# A failure on one instance is reported and recorded, and the others go on.
snapdir="$CAIRN_DIR/storage-pools/default/containers-snapshots/lim"
chattr +i "$snapdir"
out=$(as_admin cairn snapshot auto lim live 2>&1)
rc=$?
chattr -i "$snapdir"
check "snapshot auto fails when one instance fails" test "$rc" -ne 0
check_match "... naming it" '^Error: lim: ' "$out"
check_match "... while the other got its snapshot" '^Created snapshot "snap[0-9]+" of "live"' "$out"
check_match "info shows the failure" '^  Failed slot: [0-9/]+ [0-9:]+ UTC: ' "$(as_admin cairn info lim)"
check "the next one works again" as_admin cairn snapshot auto lim
check "and info no longer shows a failure" sh -c "! printf '%s' \"\$1\" | grep -q 'Failed slot'" _ "$(as_admin cairn info lim)"

out=$(as_admin cairn storage info default)
total=$(as_admin cairn list --format csv | awk -F, '{ n += $NF } END { print n }')
check_match "storage info counts the pool's snapshots ($total)" "^  snapshots: $total\$" "$out"

kill "$events" 2>/dev/null
wait "$events" 2>/dev/null
finish
