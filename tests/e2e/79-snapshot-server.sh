#!/usr/bin/env bash
# The snapshot server end to end: a second cairnd reached over HTTPS on 127.0.0.1 becomes a
# remote of the first daemon (by trust token; the refusals: no terminal, an untrusting target, a
# token used twice or too late, a wrong fingerprint, not cairnd, nothing listening, a bad name),
# snapshots.copy.target names it (an unknown remote refused, a remote in use kept), and every
# scheduled snapshot (snapshot auto, and the timer's own slot) refreshes the target in the
# background: the snapshots appear there, info shows when and how much; the target down shows
# the error and the next try, and the retry succeeds once it is back, also across a restart of
# the first daemon; a refused transfer leaves the target as it was.
. "$(dirname "$0")/lib.sh"
[ "$BACKEND" = dir ] && skip_all "the trigger and the remotes do not depend on the storage backend (run with btrfs)"
command -v openssl >/dev/null || skip_all "openssl is not installed"
command -v curl >/dev/null || skip_all "curl is not installed"
# A failed refresh is tried again after 2 s rather than a minute (then 4, 8, ...).
export CAIRN_COPY_RETRY_FIRST=2
setup

SSERVER_PID=
trap 'rc=$?; kill -KILL $B_PID $SSERVER_PID $EVENTS_PID 2>/dev/null; (exit $rc); cleanup' EXIT

# Waits up to $2 seconds for "$1" (a shell condition) to hold.
wait_for() {
	local i
	for i in $(seq 1 $(($2 * 4))); do
		eval "$1" && return 0
		sleep 0.25
	done
	return 1
}
snaps_on_b() {
	on_b cairn snapshot list "$1" --format csv 2>/dev/null | cut -d, -f1 | tr '\n' ' ' | sed 's/ $//'
}
server_json() {
	api "/1.0/instances/$1/state" | jq -c .metadata.snapshot_server
}

second_daemon
P=$(free_port)
ADDR="127.0.0.1:$P"
check "the target listens on $ADDR" on_b cairn config set core.https_address "$ADDR"
BFP=$(curl -s --unix-socket "$B_DIR/unix.socket" http://b/1.0 | jq -r .metadata.environment.certificate_fingerprint)
AFP=$(openssl x509 -in "$CAIRN_DIR/server.crt" -outform DER | sha256sum | cut -d' ' -f1)
curl -sN --unix-socket "$CAIRN_DIR/unix.socket" "http://a/1.0/events?type=lifecycle" >"$T/events" 2>/dev/null &
EVENTS_PID=$!

names() {
	as_admin cairn config remote list -f csv | cut -d, -f1 | tr '\n' ' ' | sed 's/ $//'
}

# ---- refusals: nothing is stored, no token is spent ----
check_fails "an address without a terminal or --accept-certificate" "" \
	as_admin cairn config remote add r2 "$ADDR"
check_fails "an address whose target does not trust this daemon" "" \
	as_admin cairn config remote add r2 "$ADDR" --accept-certificate
check_match "... says so, with this daemon's fingerprint" "does not trust this daemon \(certificate $AFP\)" \
	"$(as_admin cairn config remote add r2 "$ADDR" --accept-certificate 2>&1)"
check_fails "nothing listens there" "" as_admin cairn config remote add r2 "127.0.0.1:$(free_port)" --accept-certificate
check_match "... Cannot reach" 'Cannot reach' \
	"$(as_admin cairn config remote add r2 "127.0.0.1:$(free_port)" --accept-certificate 2>&1)"
check_fails "a bad token" "" as_admin cairn config remote add r2 "$(printf '%080d' 0)"
TOKEN=$(on_b cairn config trust add site-a | tail -1)
BAD=$(printf %s "$TOKEN" | base64 -d | jq -c ".fingerprint = \"$(printf '%064d' 0)\"" | base64 -w0)
check_fails "a token naming another fingerprint" "" as_admin cairn config remote add r2 "$BAD"
check_match "... names both fingerprints" "fingerprint $BFP\) is not the one the token names \($(printf '%064d' 0)\)" \
	"$(as_admin cairn config remote add r2 "$BAD" 2>&1)"
check_match "the target still holds the token" '^site-a,' "$(on_b cairn config trust list-tokens -f csv)"
check_fails "a bad remote name" "" as_admin cairn config remote add 'r/2' "$TOKEN"
check_fails "a remote name with a colon" "" as_admin cairn config remote add 'r:2' "$TOKEN"

# A TLS server that is not cairnd.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/other.key" \
	-out "$T/other.crt" -days 1 -subj /CN=other >/dev/null 2>&1
P2=$(free_port)
openssl s_server -accept "127.0.0.1:$P2" -cert "$T/other.crt" -key "$T/other.key" -www >/dev/null 2>&1 &
SSERVER_PID=$!
wait_for "curl -sk https://127.0.0.1:$P2/ >/dev/null 2>&1" 5
check_match "a plain HTTPS server is not cairnd" 'is not cairnd' \
	"$(as_admin cairn config remote add x "127.0.0.1:$P2" --accept-certificate 2>&1)"
kill "$SSERVER_PID" 2>/dev/null
SSERVER_PID=
check_eq "nothing was stored" "" "$(names)"

# ---- added by token ----
check "config remote add r2 TOKEN" as_admin cairn config remote add r2 "$TOKEN"
check_eq "list shows it" "r2" "$(names)"
check_match "with its address and the target's fingerprint" "^r2,https://$ADDR,${BFP:0:12},0\$" \
	"$(as_admin cairn config remote list -f csv)"
check_eq "show has the whole fingerprint" "$BFP" "$(api /1.0/remotes/r2 | jq -r .metadata.fingerprint)"
check_match "the target trusts this daemon's own certificate as site-a" "^site-a,client,${AFP:0:12}\$" \
	"$(on_b cairn config trust list -f csv)"
check_eq "the token is used up" "" "$(on_b cairn config trust list-tokens -f csv)"
check_fails "the same token again" "" as_admin cairn config remote add r3 "$TOKEN"
check_match "... is refused by the target" 'not valid \(unknown, revoked or already used\)' \
	"$(as_admin cairn config remote add r3 "$TOKEN" 2>&1)"
check_fails "a taken name" 'Error: Remote "r2" exists already' as_admin cairn config remote add r2 "$TOKEN"
check "core.trust_token_expiry 1S on the target" on_b cairn config set core.trust_token_expiry 1S
LATE=$(on_b cairn config trust add late | tail -1)
sleep 1.5
check_fails "an expired token" 'Error: The trust token has expired' as_admin cairn config remote add late "$LATE"
check "token expiry back to its default" on_b cairn config unset core.trust_token_expiry
check_eq "only r2 is stored" "r2" "$(names)"
check_match "a trusted client over HTTPS cannot manage the target's remotes" "managed on its own host" \
	"$(curl -sk --cert "$CAIRN_DIR/server.crt" --key "$CAIRN_DIR/server.key" -X POST \
		-d '{"name":"evil","addr":"127.0.0.1:1","accept_certificate":true}' "https://$ADDR/1.0/remotes")"

# ---- the key ----
check "init c1" as_admin cairn init busybox c1
check_fails "an unknown remote is refused" \
	'Error: Remote "nosuch" not found (named by snapshots.copy.target of instance "c1"): add it first with "cairn config remote add nosuch TOKEN"' \
	as_admin cairn config set c1 snapshots.copy.target=nosuch
check_fails "in a profile too" "" as_admin cairn profile set default snapshots.copy.target=nosuch
check_fails "and at launch" "" as_admin cairn init busybox c9 -c snapshots.copy.target=nosuch
check_eq "nothing was set" "" "$(as_admin cairn config get c1 snapshots.copy.target)"
check "snapshots.copy.target=r2" as_admin cairn config set c1 snapshots.copy.target=r2
check_eq "info has no refresh yet" "Snapshot server: r2 (instance c1)
  Last refresh: never" "$(as_admin cairn info c1 | sed -n '/^Snapshot server/,/^Snapshots/p' | grep -v '^Snapshots')"
check_fails "a remote in use is kept" \
	'Error: Remote "r2" is in use by snapshots.copy.target of: /1.0/instances/c1' \
	as_admin cairn config remote remove r2
check_match "list counts its user" '^r2,.*,1$' "$(as_admin cairn config remote list -f csv)"

# ---- a scheduled snapshot starts a refresh ----
check "snapshot auto c1 (a scheduled snapshot)" as_admin cairn snapshot auto c1
check "a refresh was attempted" wait_for '[ "$(server_json c1 | jq -r .last_attempt)" != "" ]' 30
check_match "the attempt is a lifecycle event" \
	'"action":"instance-snapshot-server-refresh(ed|-failed)","source":"/1.0/instances/c1"' \
	"$(tr -d '\\' <"$T/events")"
check "the refresh succeeds" wait_for '[ "$(server_json c1 | jq -r .last_success)" != "" ]' 60
check_eq "the snapshot is on the target" "snap0" "$(snaps_on_b c1)"
check_match "info shows the time and the bytes" \
	'^  Last refresh: [0-9/]+ [0-9:]+ UTC \([0-9.]+[KMG]?i?B sent\)$' "$(as_admin cairn info c1)"
check "the bytes are counted" test "$(server_json c1 | jq -r .last_bytes)" -gt 0
check_match "the refresh is a lifecycle event" \
	'"action":"instance-snapshot-server-refreshed","source":"/1.0/instances/c1"' \
	"$(tr -d '\\' <"$T/events")"
# The timer's own slot: every minute, so this minute's slot is due at once.
check "a schedule every minute" \
	as_admin cairn config set c1 snapshots.schedule='* * * * *' snapshots.schedule.stopped=true
check "the timer's snapshot reaches the target" wait_for '[ "$(snaps_on_b c1)" = "snap0 snap1" ]' 150
check "no more slots" as_admin cairn config unset c1 snapshots.schedule

# ---- the target down: the error, the next try, the back-off, across a restart ----
stop_b
check "snapshot auto c1 while the target is down" as_admin cairn snapshot auto c1
check "the failure is recorded" wait_for 'server_json c1 | jq -r .last_error | grep -q "Cannot reach"' 30
check_match "info shows the error and the next try" \
	'^  Last error: .*Cannot reach.* \(at [0-9/]+ [0-9:]+ UTC, next try at [0-9/]+ [0-9:]+ UTC\)$' \
	"$(as_admin cairn info c1)"
check_match "the failure is a lifecycle event" \
	'"action":"instance-snapshot-server-refresh-failed","source":"/1.0/instances/c1","context":\{"target":"r2","error":".*Cannot reach' \
	"$(tr -d '\\' <"$T/events")"
F1=$(server_json c1 | jq -r .failures)
check "it is tried again on its own" wait_for "[ \"\$(server_json c1 | jq -r .failures)\" -gt $F1 ]" 30
N1=$(server_json c1 | jq -r .next_retry)
A1=$(server_json c1 | jq -r .last_attempt)
check "with a growing wait (next try $N1 after attempt $A1)" \
	test $(($(date -d "$N1" +%s) - $(date -d "$A1" +%s))) -ge 4
kill_daemon
start_daemon
F2=$(server_json c1 | jq -r .failures)
check "a restart keeps the debt and the count ($F2 failures)" test "$F2" -ge 2
check_eq "and the error" true "$(server_json c1 | jq '.owed and (.last_error | test("Cannot reach"))')"
start_b
check "the retry succeeds once the target is back" wait_for '[ "$(server_json c1 | jq -r .failures)" = 0 ]' 60
check_eq "the missed snapshot is there" "snap0 snap1 snap2" "$(snaps_on_b c1)"
check_eq "no error left" "null" "$(server_json c1 | jq -r .last_error)"
check_eq "info has no error line" "" "$(as_admin cairn info c1 | grep 'Last error')"

# ---- a refused transfer leaves the target as it was ----
check "the target instance runs" on_b cairn start c1
check "snapshot auto c1" as_admin cairn snapshot auto c1
check "the refresh fails" wait_for '[ "$(server_json c1 | jq -r .failures)" -ge 1 ]' 30
check_match "because the target instance runs" 'running' "$(server_json c1 | jq -r .last_error)"
check_eq "the target kept its snapshots" "snap0 snap1 snap2" "$(snaps_on_b c1)"
check_match "and runs on" '^c1,RUNNING' "$(on_b cairn list -f csv -c ns)"
check "stopped, the next try gets it" on_b cairn stop c1 --force
check "the retry succeeds" wait_for '[ "$(server_json c1 | jq -r .failures)" = 0 ]' 60
check_eq "all four" "snap0 snap1 snap2 snap3" "$(snaps_on_b c1)"
check_eq "the copy does not take the sender's remote" "" "$(on_b cairn config get c1 snapshots.copy.target)"

# ---- a target instance that was there before: its own settings stand ----
# The key names a remote of this daemon, not of the target: a refresh must not carry it there
# (where "r2" is unknown and would be refused, or would name another daemon).
check "a c4 on the target already" on_b cairn init busybox c4 -c user.here=target
check "c4 here, with the key" as_admin cairn init busybox c4 -c snapshots.copy.target=r2
check "snapshot auto c4" as_admin cairn snapshot auto c4
check "the refresh into the existing c4 succeeds" \
	wait_for '[ "$(server_json c4 | jq -r .last_success)" != "" ]' 60
check_eq "... with no error" "null" "$(server_json c4 | jq -r .last_error)"
check_eq "its snapshot is there" "snap0" "$(snaps_on_b c4)"
check_eq "the target's c4 has no copy target" "" "$(on_b cairn config get c4 snapshots.copy.target)"
as_admin cairn delete c4 --force >/dev/null 2>&1
on_b cairn delete c4 --force >/dev/null 2>&1

# ---- removing the key, then the remote ----
check "unset the key" as_admin cairn config unset c1 snapshots.copy.target
check "the remote can go now" as_admin cairn config remote remove r2
check_eq "gone" "" "$(names)"

on_b cairn delete c1 --force >/dev/null 2>&1
stop_b
finish
