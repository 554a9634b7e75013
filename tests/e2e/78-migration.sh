#!/usr/bin/env bash
# Copy, move and refresh between two daemons: the first on its socket, the second over HTTPS on
# 127.0.0.1, trusted by a token. Push mode (the target serves HTTPS) and pull mode (only the
# source does), snapshots with their times and expiry, a refresh that sends only the difference
# (bytes counted on the wire), --refresh-prune, a refresh cut by killing the target at a crash
# point and retried, move, and the attacks on the data exchange.
. "$(dirname "$0")/lib.sh"
# The file-level transfer (a dir pool on either side) is covered here too: the target daemon
# gets a dir pool beside its btrfs one.
[ "$BACKEND" = dir ] && skip_all "covered by the btrfs run, which also copies to and from a dir pool"
command -v openssl >/dev/null || skip_all "openssl is not installed"
command -v curl >/dev/null || skip_all "curl is not installed"
setup

trap 'rc=$?; kill -KILL $B_PID 2>/dev/null; wait $B_PID 2>/dev/null; (exit $rc); cleanup' EXIT

b_api() {
	curl -s --unix-socket "$B_DIR/unix.socket" "http://b$1"
}

b_post() { # PATH BODY: over b's socket, as root
	curl -s --unix-socket "$B_DIR/unix.socket" -X POST -d "$2" "http://b$1"
}

RHOME="$T/rhome"
mkdir -p "$RHOME"
chown "$ADMIN_USER" "$RHOME"
chmod 0700 "$RHOME"
as_user() {
	setpriv --reuid="$ADMIN_USER" --regid="$(id -g "$ADMIN_USER")" --init-groups \
		env HOME="$RHOME" CAIRN_DIR="$CAIRN_DIR" PATH="$PATH" "$@"
}

second_daemon
ADDR="127.0.0.1:$(free_port)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/other.key" \
	-out "$T/other.crt" -days 1 -subj /CN=other >/dev/null 2>&1
check "b serves HTTPS on 127.0.0.1" on_b cairn config set core.https_address "$ADDR"
TOKEN=$(on_b cairn config trust add laptop | tail -1)
check "remote add b" as_user cairn remote add b "$TOKEN"

# Runs `cairn ARGS...` as the user with its output in FILE.
to_file() {
	local f=$1
	shift
	as_user cairn "$@" >"$f" 2>&1
}

# The bytes a copy printed ("Transferred N bytes").
bytes_of() {
	sed -n 's/^Transferred \([0-9]*\) bytes$/\1/p' "$1"
}

snaps_of() { # NAME on b: name,created_at,expires_at of each snapshot
	b_api "/1.0/instances/$1/snapshots?recursion=1" |
		jq -r '.metadata[] | [.name, .created_at, .expires_at] | join(",")' | sort
}

snaps_here() {
	api "/1.0/instances/$1/snapshots?recursion=1" |
		jq -r '.metadata[] | [.name, .created_at, .expires_at] | join(",")' | sort
}

# ---- a copy with snapshots, push mode (the target serves HTTPS) ----
check "launch c1" as_admin cairn launch busybox c1
check "some data" as_admin cairn exec c1 -- sh -c 'dd if=/dev/urandom of=/root/big bs=1M count=8 2>/dev/null; echo one >/root/f'
check "snapshot s0" as_admin cairn snapshot create c1 s0
check "snapshot s1, expiring" as_admin cairn snapshot create c1 s1 --expiry 3d
as_admin cairn exec c1 -- sh -c 'echo two >/root/f'
check "copy c1 b:c1 (running source)" to_file "$T/full.out" copy c1 b:c1
FULL=$(bytes_of "$T/full.out")
check_match "the copy says how many bytes it sent" '^[0-9]+$' "$FULL"
check_eq "the snapshots arrived with their times and expiry" "$(snaps_here c1)" "$(snaps_of c1)"
check_eq "the target is stopped" Stopped "$(b_api /1.0/instances/c1 | jq -r .metadata.status)"
check_eq "the instance's data" two "$(on_b cairn file pull c1/root/f - 2>/dev/null)"
check_eq "the snapshot's data" one \
	"$(cat "$B_DIR/storage-pools/default/containers-snapshots/c1/s0/rootfs/root/f" 2>/dev/null)"
check_eq "the big file" "$(as_admin cairn exec c1 -- md5sum /root/big | cut -d' ' -f1)" \
	"$(on_b cairn file pull c1/root/big - | md5sum | cut -d' ' -f1)"
check_fails "a copy onto an existing instance without --refresh" "" as_user cairn copy c1 b:c1

# ---- one snapshot to another daemon: a new instance made of its tree, without snapshots ----
check "copy c1/s0 b:c1-old (push)" to_file "$T/snap.out" copy c1/s0 b:c1-old
check_eq "the new instance holds the snapshot's data, not the live one" one \
	"$(on_b cairn file pull c1-old/root/f - 2>/dev/null)"
check_eq "and no snapshots" "" "$(snaps_of c1-old)"
check_eq "the snapshot's big file" "$(as_admin cairn exec c1 -- md5sum /root/big | cut -d' ' -f1)" \
	"$(on_b cairn file pull c1-old/root/big - | md5sum | cut -d' ' -f1)"
check "it starts" on_b cairn start c1-old
check "stop it" on_b cairn stop c1-old --force
check_fails "a snapshot onto an existing instance" "" as_user cairn copy c1/s1 b:c1-old
check_eq "which is unchanged" one "$(on_b cairn file pull c1-old/root/f - 2>/dev/null)"
check_fails "--refresh with a snapshot source" \
	'Error: --refresh takes an instance, not a snapshot: a snapshot is copied into a new instance' \
	as_user cairn copy c1/s0 b:c1-old --refresh
check_fails "a missing snapshot" 'Error: Snapshot "nosuch" of instance "c1" not found' as_user cairn copy c1/nosuch b:x
check_eq "nothing was made for it" 404 "$(b_api /1.0/instances/x | jq -r .error_code)"
check_fails "a snapshot cannot be moved" "" as_user cairn move c1/s0 b:x
check "copy b:c1/s0 c1-back (pull)" as_user cairn copy b:c1/s0 c1-back -q
check_eq "pulled: the snapshot's data" one "$(cairn file pull c1-back/root/f - 2>/dev/null)"
check_eq "pulled: no snapshots" "" "$(snaps_here c1-back)"
check "delete the copies" sh -c 'CAIRN_DIR="$0" cairn delete c1-old && cairn delete c1-back' "$B_DIR"

# ---- refresh: only the difference ----
as_admin cairn exec c1 -- sh -c 'echo three >/root/f'
check "snapshot s2" as_admin cairn snapshot create c1 s2
as_admin cairn exec c1 -- sh -c 'echo four >/root/f'
check "copy --refresh" to_file "$T/refresh.out" copy c1 b:c1 --refresh
REFRESH=$(bytes_of "$T/refresh.out")
diag "full copy: $FULL bytes, refresh after a small change: $REFRESH bytes"
if [ -n "$REFRESH" ] && [ -n "$FULL" ] && [ "$REFRESH" -lt $((FULL / 4)) ]; then
	ok "the refresh sent far less than the full copy ($REFRESH < $FULL / 4)"
else
	not_ok "the refresh sent far less than the full copy ($REFRESH vs $FULL)"
fi
check_eq "the new snapshot is there" "$(snaps_here c1)" "$(snaps_of c1)"
check_eq "the data followed" four "$(on_b cairn file pull c1/root/f - 2>/dev/null)"
check_eq "the new snapshot's data" three \
	"$(cat "$B_DIR/storage-pools/default/containers-snapshots/c1/s2/rootfs/root/f" 2>/dev/null)"

# ---- snapshots deleted at the source ----
check "delete s0 at the source" as_admin cairn delete c1/s0
check "refresh" as_user cairn copy c1 b:c1 --refresh -q
check_match "s0 stays on the target" '^s0,' "$(snaps_of c1)"
check "refresh --refresh-prune" as_user cairn copy c1 b:c1 --refresh-prune -q
check_eq "s0 is gone from the target" "$(snaps_here c1)" "$(snaps_of c1)"

# ---- a refresh into a running target is refused ----
check "start b:c1" on_b cairn start c1
check_fails "refresh into a running target" \
	'Error: Instance "c1" is running on the target: stop it before a refresh' as_user cairn copy c1 b:c1 --refresh
check "stop b:c1" on_b cairn stop c1 --force

# ---- the target refuses early (at the stream's index): the source stops sending at once ----
check "a profile only the source has" as_admin cairn profile create only-here
check "init big with it" as_admin cairn init busybox big -p default -p only-here
dd if=/dev/urandom of="$CAIRN_DIR/containers/big/rootfs/root/big" bs=1M count=24 2>/dev/null
check_fails "a copy whose profile the target lacks is refused with the target's reason" \
	'Error: Profile "only-here" not found' as_user cairn copy big b:big
SENT=$(api "/1.0/operations?recursion=1" |
	jq '[.metadata.failure[]? | select(.description == "Migrating instance") | .metadata.bytes // empty] | last')
diag "bytes sent before the target's refusal stopped the source: $SENT (the stream is over 24 MiB)"
if [ -n "$SENT" ] && [ "$SENT" != null ] && [ "$SENT" -lt $((4 * 1024 * 1024)) ]; then
	ok "the source stopped far before the end of the stream ($SENT bytes < 4 MiB)"
else
	not_ok "the source stopped far before the end of the stream ($SENT bytes)"
fi
check_eq "nothing was made" 404 "$(b_api /1.0/instances/big | jq -r .error_code)"
check "delete big" as_admin cairn delete big

# ---- pull mode (only the source serves HTTPS) ----
check "copy b:c1 c2 (pull)" to_file "$T/pull.out" copy b:c1 c2
check_match "the pull says how many bytes it received" '^Transferred [0-9]+ bytes$' "$(cat "$T/pull.out")"
check_eq "the snapshots came back" "$(snaps_of c1)" "$(snaps_here c2)"
check_eq "the data" four "$(cairn file pull c2/root/f - 2>/dev/null)"
on_b cairn snapshot create c1 s3 >/dev/null
check "refresh in pull mode" to_file "$T/pull2.out" copy b:c1 c2 --refresh
check_eq "the snapshot made on b arrived" "$(snaps_of c1)" "$(snaps_here c2)"

# ---- a target snapshot of the same name that is not the source's ----
on_b cairn snapshot create c1 clash >/dev/null
cairn snapshot create c2 clash >/dev/null
BEFORE=$(snaps_here c2)
check_fails "a refresh onto a target with another snapshot of that name (pull)" \
	'Error: The target has another snapshot called "clash" (not a copy of the source'"'"'s): rename or delete it first' \
	as_user cairn copy b:c1 c2 --refresh
check_eq "nothing changed" "$BEFORE" "$(snaps_here c2)"
as_admin cairn snapshot create c1 clash >/dev/null
cairn delete c2/clash >/dev/null
check_fails "and the same pushed" \
	'Error: The target has another snapshot called "clash" (not a copy of the source'"'"'s): rename or delete it first' \
	as_user cairn copy c1 b:c1 --refresh
on_b cairn delete c1/clash >/dev/null
as_admin cairn delete c1/clash >/dev/null

# ---- a refresh cut after its first snapshot, and retried ----
for s in s4 s5 s6; do
	as_admin cairn exec c1 -- sh -c "dd if=/dev/urandom of=/root/$s bs=1M count=2 2>/dev/null"
	as_admin cairn snapshot create c1 $s >/dev/null
done
kill -TERM "$B_PID"; wait "$B_PID" 2>/dev/null
start_b CAIRN_CRASHPOINT=migration-after-snapshot
as_user cairn copy c1 b:c1 --refresh >"$T/cut.out" 2>&1 &
CUT=$!
for _ in $(seq 1 200); do [ "$(cat "$B_DIR/crashpoint" 2>/dev/null)" = migration-after-snapshot ] && break; sleep 0.1; done
check_eq "the target stopped at its crash point" migration-after-snapshot "$(cat "$B_DIR/crashpoint" 2>/dev/null)"
kill -KILL "$B_PID"; wait "$B_PID" 2>/dev/null
wait "$CUT"
check_eq "the cut copy failed" 1 "$?"
rm -f "$B_DIR/crashpoint"
start_b
check_match "after the restart the first new snapshot is whole" '^s4,' "$(snaps_of c1)"
check_eq "and nothing after it" "" "$(snaps_of c1 | grep -E '^s[56],')"
check_eq "no half snapshot is left on disk" "s1 s2 s3 s4" \
	"$(ls "$B_DIR/storage-pools/default/containers-snapshots/c1" | tr '\n' ' ' | sed 's/ $//')"
S4_UUID=$(btrfs subvolume show "$B_DIR/storage-pools/default/containers-snapshots/c1/s4" 2>/dev/null | awk '/^\s*UUID:/ {print $2}')
check "the retried refresh" to_file "$T/retry.out" copy c1 b:c1 --refresh
check_eq "every snapshot is there" "$(snaps_here c1)" "$(snaps_of c1 | grep -v '^s3,')"
check_eq "s4 was not sent again" "$S4_UUID" \
	"$(btrfs subvolume show "$B_DIR/storage-pools/default/containers-snapshots/c1/s4" 2>/dev/null | awk '/^\s*UUID:/ {print $2}')"
check_eq "the data" "$(as_admin cairn exec c1 -- md5sum /root/s6 | cut -d' ' -f1)" \
	"$(on_b cairn file pull c1/root/s6 - | md5sum | cut -d' ' -f1)"

# ---- a refresh cut just before the volume is swapped in, and retried ----
as_admin cairn exec c1 -- sh -c 'echo five >/root/f'
as_admin cairn snapshot create c1 s7 >/dev/null
as_admin cairn exec c1 -- sh -c 'echo six >/root/f'
kill -TERM "$B_PID"; wait "$B_PID" 2>/dev/null
start_b CAIRN_CRASHPOINT=migration-before-swap
as_user cairn copy c1 b:c1 --refresh >"$T/cut3.out" 2>&1 &
CUT=$!
for _ in $(seq 1 200); do [ "$(cat "$B_DIR/crashpoint" 2>/dev/null)" = migration-before-swap ] && break; sleep 0.1; done
check_eq "the target stopped before the swap" migration-before-swap "$(cat "$B_DIR/crashpoint" 2>/dev/null)"
kill -KILL "$B_PID"; wait "$B_PID" 2>/dev/null
wait "$CUT"
rm -f "$B_DIR/crashpoint"
start_b
check_match "the new snapshot is whole" '^s7,' "$(snaps_of c1)"
check_eq "the volume is the old one, whole" four "$(on_b cairn file pull c1/root/f - 2>/dev/null)"
check_eq "the received volume is gone" "" \
	"$(ls -A "$B_DIR/storage-pools/default/containers-snapshots/c1" | grep '^\.')"
check "the retried refresh" as_user cairn copy c1 b:c1 --refresh -q
check_eq "the volume is the new one" six "$(on_b cairn file pull c1/root/f - 2>/dev/null)"

# ---- the pushing daemon killed in the middle ----
as_admin cairn snapshot create c1 s8 >/dev/null
kill_daemon
CAIRN_STALLPOINT=backup-export start_daemon
BEFORE=$(snaps_of c1)
as_user cairn copy c1 b:c1 --refresh >"$T/cut4.out" 2>&1 &
CUT=$!
for _ in $(seq 1 200); do [ -f "$CAIRN_DIR/stallpoint" ] && break; sleep 0.1; done
check_eq "the source is sending" backup-export "$(cat "$CAIRN_DIR/stallpoint" 2>/dev/null)"
kill_daemon
wait "$CUT"
check_eq "the copy failed" 1 "$?"
rm -f "$CAIRN_DIR/stallpoint"
start_daemon
for _ in $(seq 1 100); do
	[ "$(b_api /1.0/operations?recursion=1 | jq '.metadata.running // [] | length')" = 0 ] && break
	sleep 0.1
done
check_eq "the target kept what it had" "$BEFORE" "$(snaps_of c1)"
check_eq "and no half snapshot" "" "$(ls -A "$B_DIR/storage-pools/default/containers-snapshots/c1" | grep -e '^\.' -e '^s8$')"
check "a retry after the source's restart" as_user cairn copy c1 b:c1 --refresh -q
check_eq "every snapshot is there" "$(snaps_here c1)" "$(snaps_of c1 | grep -v '^s3,')"

# ---- the daemon's own refresh onto a remote that trusts it (what the snapshot server does) ----
REFRESH_REMOTE="$SRC_BIN/tests/refresh-remote"
as_admin cairn snapshot create c1 s9 >/dev/null
stop_daemon
check_fails "a remote that does not trust the daemon refuses it" \
	"Error: Forbidden: this client's certificate is not trusted by cairnd" \
	"$REFRESH_REMOTE" c1 "https://$ADDR" "$B_DIR/server.crt"
check "b trusts the first daemon's certificate" b_post /1.0/certificates \
	"$(jq -nc --arg c "$(cat "$CAIRN_DIR/server.crt")" '{type: "client", name: "a", certificate: $c}')"
check_fails "a remote whose certificate is not the one given" "" \
	"$REFRESH_REMOTE" c1 "https://$ADDR" "$T/other.crt"
check "the daemon refreshes c1 onto b itself" sh -c "'$REFRESH_REMOTE' c1 'https://$ADDR' '$B_DIR/server.crt' >'$T/own.out' 2>&1"
check_match "and says what it sent" '^Transferred [0-9]+ bytes$' "$(cat "$T/own.out")"
check "onto a name b does not have: a full copy" "$REFRESH_REMOTE" c1 "https://$ADDR" "$B_DIR/server.crt" own
start_daemon
check_eq "b has the new snapshot" "$(snaps_here c1)" "$(snaps_of c1 | grep -v '^s3,')"
check_eq "and the full copy" "$(snaps_here c1)" "$(snaps_of own)"
on_b cairn delete own >/dev/null

# ---- a fresh copy cut after its first snapshot: nothing of it stays ----
kill -TERM "$B_PID"; wait "$B_PID" 2>/dev/null
start_b CAIRN_CRASHPOINT=import-after-snapshot
as_user cairn copy c1 b:cut >"$T/cut2.out" 2>&1 &
CUT=$!
for _ in $(seq 1 200); do [ "$(cat "$B_DIR/crashpoint" 2>/dev/null)" = import-after-snapshot ] && break; sleep 0.1; done
check_eq "the target stopped after the copy's first snapshot" import-after-snapshot "$(cat "$B_DIR/crashpoint" 2>/dev/null)"
kill -KILL "$B_PID"; wait "$B_PID" 2>/dev/null
wait "$CUT"
check_eq "the cut copy failed" 1 "$?"
rm -f "$B_DIR/crashpoint"
start_b
check_eq "no half instance after the restart" 404 "$(b_api /1.0/instances/cut | jq -r .error_code)"
check_eq "nor its volume or snapshots" "" \
	"$(ls "$B_DIR/storage-pools/default/containers" "$B_DIR/storage-pools/default/containers-snapshots" | grep -x cut)"

# ---- the file-level transfer: a dir pool on the target, and back from it ----
check "a dir pool on b" on_b cairn storage create p2 dir
check "copy c1 b:cd -s p2 (file level)" to_file "$T/dir.out" copy c1 b:cd -s p2
check_eq "its snapshots" "$(snaps_here c1)" "$(snaps_of cd)"
check_eq "on the dir pool" p2 "$(b_api /1.0/instances/cd | jq -r .metadata.expanded_devices.root.pool)"
check_eq "its data" "$(as_admin cairn exec c1 -- md5sum /root/s6 | cut -d' ' -f1)" \
	"$(on_b cairn file pull cd/root/s6 - | md5sum | cut -d' ' -f1)"
check "copy b:cd c5 (from a dir pool, pull)" as_user cairn copy b:cd c5 -q
check "a snapshot onto the dir pool (file level)" as_user cairn copy c1/s1 b:cds -s p2 -q
check_eq "its data is the snapshot's" one "$(on_b cairn file pull cds/root/f - 2>/dev/null)"
check_eq "no snapshots" "" "$(snaps_of cds)"
check "a snapshot from the dir pool (file level, pull)" as_user cairn copy b:cd/s1 c6 -q
check_eq "its data is the snapshot's" one "$(cairn file pull c6/root/f - 2>/dev/null)"
check "delete them" sh -c 'CAIRN_DIR="$0" cairn delete cds && cairn delete c6' "$B_DIR"
check_eq "its snapshots" "$(snaps_of cd)" "$(snaps_here c5)"
as_admin cairn exec c1 -- sh -c 'echo seven >/root/f'
as_admin cairn snapshot create c1 d1 >/dev/null
as_admin cairn exec c1 -- sh -c 'echo eight >/root/f'
check "refresh onto the dir pool (file level)" to_file "$T/dir2.out" copy c1 b:cd --refresh
check_eq "the new snapshot arrived" "$(snaps_here c1)" "$(snaps_of cd)"
check_eq "the data followed" eight "$(on_b cairn file pull cd/root/f - 2>/dev/null)"
check_eq "the snapshot's data" seven \
	"$(cat "$B_DIR/storage-pools/p2/containers-snapshots/cd/d1/rootfs/root/f" 2>/dev/null)"
on_b cairn snapshot create cd d2 >/dev/null
check "refresh from the dir pool (file level, pull)" as_user cairn copy b:cd c5 --refresh -q
check_eq "the snapshot made on the dir pool arrived" "$(snaps_of cd)" "$(snaps_here c5)"
check_eq "its data" eight "$(cairn file pull c5/root/f - 2>/dev/null)"

# A file-level refresh cut after its first snapshot, and retried.
for s in d3 d4; do
	as_admin cairn exec c1 -- sh -c "echo $s >/root/f"
	as_admin cairn snapshot create c1 $s >/dev/null
done
kill -TERM "$B_PID"; wait "$B_PID" 2>/dev/null
start_b CAIRN_CRASHPOINT=migration-after-snapshot
as_user cairn copy c1 b:cd --refresh >"$T/cut5.out" 2>&1 &
CUT=$!
for _ in $(seq 1 200); do [ "$(cat "$B_DIR/crashpoint" 2>/dev/null)" = migration-after-snapshot ] && break; sleep 0.1; done
check_eq "the dir target stopped after a snapshot" migration-after-snapshot "$(cat "$B_DIR/crashpoint" 2>/dev/null)"
kill -KILL "$B_PID"; wait "$B_PID" 2>/dev/null
wait "$CUT"
rm -f "$B_DIR/crashpoint"
start_b
check_match "the first new snapshot is whole" '^d3,' "$(snaps_of cd)"
check_eq "and nothing after it" "" "$(snaps_of cd | grep '^d4,')"
check_eq "no temporary volume is left" "cd" "$(ls -A "$B_DIR/storage-pools/p2/containers")"
check_eq "the volume is still the old one" eight "$(on_b cairn file pull cd/root/f - 2>/dev/null)"
check "the retried refresh" as_user cairn copy c1 b:cd --refresh -q
check_eq "every snapshot is there (and d2, made there)" "$(snaps_here c1)" "$(snaps_of cd | grep -v '^d2,')"
check_eq "the data" d4 "$(on_b cairn file pull cd/root/f - 2>/dev/null)"

# ---- attacks on the data exchange ----
https_code() { # METHOD PATH [curl args...]
	local m=$1 p=$2
	shift 2
	curl -sk -o /dev/null -w '%{http_code}' -X "$m" "$@" "https://$ADDR$p"
}
OP=$(b_post /1.0/instances '{"name":"x1","source":{"type":"migration","mode":"push"}}')
ID=$(jq -r .metadata.id <<<"$OP")
SEC=$(jq -r .metadata.metadata.fs <<<"$OP")
check_match "a target operation has a secret" '^[0-9a-f]{64}$' "$SEC"
WRONG=${SEC%?}$([ "${SEC: -1}" = 0 ] && echo 1 || echo 0)
check_eq "a wrong secret is 403" 403 "$(https_code GET "/1.0/operations/$ID/migration?secret=$WRONG")"
check_eq "no secret is 403" 403 "$(https_code GET "/1.0/operations/$ID/migration")"
check_eq "a stream with a wrong secret is 403" 403 \
	"$(https_code POST "/1.0/operations/$ID/migration?secret=$(printf '%064d' 0)" \
		-H 'Content-Type: application/octet-stream' --data-binary 'x')"
check_eq "the right secret (untrusted client) reads the haves" false \
	"$(curl -sk "https://$ADDR/1.0/operations/$ID/migration?secret=$SEC" | jq -r .metadata.exists)"
check_eq "but only once" 403 "$(https_code GET "/1.0/operations/$ID/migration?secret=$SEC")"
check_eq "nothing was made" 404 "$(b_api /1.0/instances/x1 | jq -r .error_code)"
check_eq "an untrusted client cannot start a migration" 403 \
	"$(https_code POST /1.0/instances -d '{"name":"x9","source":{"type":"migration","mode":"push"}}')"
check_eq "nor ask for one of an instance" 403 \
	"$(https_code POST /1.0/instances/c1 -d '{"migration":true}')"

# A stream whose parent is not a snapshot the target instance received from the source.
as_admin cairn export c1 - --optimized-storage --compression none -q >"$T/c1.tar"
for parent in '"s1","parent_uuid":"00000000-0000-0000-0000-000000000001"' '"nosuch","parent_uuid":"00000000-0000-0000-0000-000000000001"'; do
	OP=$(b_post /1.0/instances '{"name":"c1","source":{"type":"migration","mode":"push","refresh":true}}')
	ID=$(jq -r .metadata.id <<<"$OP")
	SEC=$(jq -r .metadata.metadata.fs <<<"$OP")
	BEFORE=$(snaps_of c1)
	{ printf '{"optimized":true,"parent":%s,"prune":["s1"]}\n' "$parent"; cat "$T/c1.tar"; } >"$T/hostile"
	curl -sk -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$T/hostile" \
		"https://$ADDR/1.0/operations/$ID/migration?secret=$SEC" >/dev/null 2>&1
	check_match "a stream from a foreign parent ($parent) is refused" 'not a snapshot' \
		"$(b_api "/1.0/operations/$ID/wait?timeout=20" | jq -r .metadata.err)"
	check_eq "and changes nothing" "$BEFORE" "$(snaps_of c1)"
done

# A target whose certificate is not the one given: refused before anything is sent.
OP=$(b_post /1.0/instances '{"name":"x2","source":{"type":"migration","mode":"push"}}')
ID=$(jq -r .metadata.id <<<"$OP")
SEC=$(jq -r .metadata.metadata.fs <<<"$OP")
BODY=$(jq -nc --arg op "https://$ADDR/1.0/operations/$ID" --arg cert "$(cat "$T/other.crt")" --arg s "$SEC" \
	'{migration: true, target: {operation: $op, certificate: $cert, secrets: {fs: $s}}}')
SOP=$(curl -s --unix-socket "$CAIRN_DIR/unix.socket" -X POST -d "$BODY" http://a/1.0/instances/c1 | jq -r .metadata.id)
check_match "the source refuses a target with another certificate" 'does not match' \
	"$(api "/1.0/operations/$SOP/wait" | jq -r .metadata.err)"
check_eq "nothing reached the target (its secret is still unused)" false \
	"$(curl -sk "https://$ADDR/1.0/operations/$ID/migration?secret=$SEC" | jq -r .metadata.exists)"

# A stream far larger than the pool: refused at the file's header, nothing left behind.
as_admin cairn export c1 - --instance-only --compression none -q | tar -xOf - backup/index.yaml >"$T/index.yaml"
python3 - "$T/index.yaml" "$T/huge" <<'PY'
import io, sys, tarfile
index = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as out:
    out.write(b'{"optimized":false}\n')
    def header(name, size, kind=tarfile.REGTYPE):
        ti = tarfile.TarInfo(name)
        ti.size, ti.type, ti.mode = size, kind, 0o755 if kind == tarfile.DIRTYPE else 0o644
        out.write(ti.tobuf(format=tarfile.PAX_FORMAT))
    header("backup/index.yaml", len(index))
    out.write(index + b"\0" * (-len(index) % 512))
    for d in ("backup/", "backup/container/", "backup/container/rootfs/"):
        header(d, 0, tarfile.DIRTYPE)
    header("backup/container/rootfs/huge", 100 << 30)
    out.write(b"\0" * (1 << 20))
PY
OP=$(b_post /1.0/instances '{"name":"x3","source":{"type":"migration","mode":"push"}}')
ID=$(jq -r .metadata.id <<<"$OP")
SEC=$(jq -r .metadata.metadata.fs <<<"$OP")
curl -sk -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$T/huge" \
	"https://$ADDR/1.0/operations/$ID/migration?secret=$SEC" >/dev/null 2>&1
check_match "a stream larger than the pool is refused" 'space|large' \
	"$(b_api "/1.0/operations/$ID/wait?timeout=20" | jq -r .metadata.err)"
check_eq "and leaves nothing" 404 "$(b_api /1.0/instances/x3 | jq -r .error_code)"
check_eq "no volume is left" "c1 cd" "$(ls "$B_DIR/storage-pools/default/containers" "$B_DIR/storage-pools/p2/containers" 2>/dev/null | grep -v : | grep . | sort | tr '\n' ' ' | sed 's/ $//')"

# An operation nobody comes to fails after its wait (shortened for the test), and frees the name.
kill -TERM "$B_PID"; wait "$B_PID" 2>/dev/null
start_b CAIRN_MIGRATION_ATTACH_TIMEOUT=2
OP=$(b_post /1.0/instances '{"name":"x4","source":{"type":"migration","mode":"push"}}')
ID=$(jq -r .metadata.id <<<"$OP")
check_eq "a target operation nobody comes to fails after its wait" 'Nobody came with the migration of "x4" within 2 s' \
	"$(b_api "/1.0/operations/$ID/wait?timeout=20" | jq -r .metadata.err)"
check_eq "and makes nothing" 404 "$(b_api /1.0/instances/x4 | jq -r .error_code)"
check_match "the name is free again" '"async"' \
	"$(b_post /1.0/instances '{"name":"x4","source":{"type":"migration","mode":"push"}}' | jq -c .type)"
kill -TERM "$B_PID"; wait "$B_PID" 2>/dev/null
start_b

# ---- move ----
check_fails "move of a running instance without --stateless" \
	'Error: Instance "c1" is running: live migration is not supported; stop it first or pass --stateless (it is stopped, moved and started again on "b")' \
	as_user cairn move c1 b:m1
check "move --stateless" as_user cairn move c1 b:m1 --stateless -q
check_eq "the source is gone" "" "$(as_admin cairn list -f csv -c n | grep '^c1$')"
check_eq "the moved instance runs on b" Running "$(b_api /1.0/instances/m1 | jq -r .metadata.status)"
check "stop b:m1" on_b cairn stop m1 --force
check "move back, stopped" as_user cairn move b:m1 m2 -q
check_eq "it is here" Stopped "$(api_status m2)"
check_eq "and gone from b" "404" "$(b_api /1.0/instances/m1 | jq -r .error_code)"

# ---- a revoked client, and a remote whose certificate changed ----
CFP=$(openssl x509 -in "$RHOME/.config/cairn/client.crt" -outform DER | sha256sum | cut -d' ' -f1)
check "trust remove the client on b" on_b cairn config trust remove "${CFP:0:12}"
check_fails "a copy by a revoked client is refused" \
	'Error: Remote "b": Forbidden: this client'"'"'s certificate is not trusted by cairnd' \
	as_user cairn copy m2 b:m3
check_eq "nothing was made" 404 "$(b_api /1.0/instances/m3 | jq -r .error_code)"

finish
