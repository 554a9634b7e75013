#!/usr/bin/env bash
# The API as an attacker reads it: names decoded once and meaning one thing, results that
# survive load, connections nobody can hoard, bodies checked before they are stored.
. "$(dirname "$0")/lib.sh"
setup

sock="$CAIRN_DIR/unix.socket"
raw() { python3 "$(dirname "$0")/rawhttp.py" "$sock" "$@"; }

# Started first, read at the end: a peer that sends nothing is closed after the 30 s header
# timeout, while an event stream, quiet as long, stays open.
raw idle "$T/idle.closed" &
idle=$!
curl -sN --unix-socket "$sock" http://cairn/1.0/events >/dev/null 2>&1 &
events=$!
suite_start=$SECONDS

check "init c" cairn init busybox c
check "snapshot keep" cairn snapshot create c keep

# A name is decoded once: "%6beep" is that name, not "keep" after a second decoding.
check "snapshot named %6beep" cairn snapshot create c '%6beep'
check "delete %6beep" cairn snapshot delete c '%6beep'
check_eq "keep survives the deletion of %6beep" "keep" \
	"$(api /1.0/instances/c/snapshots?recursion=1 | jq -r '.metadata[].name' | tr '\n' ' ' | sed 's/ $//')"
out=$(raw request DELETE /1.0/instances/c/snapshots/%256beep)
check_match "a doubly escaped name is not found" '^404 ' "$out"
check_eq "keep is still there" "keep" "$(api /1.0/instances/c/snapshots/keep | jq -r .metadata.name)"
out=$(raw request GET /1.0/instances/c/snapshots/%2e%2e)
check_match "an escaped .. names no snapshot" '^404 ' "$out"
out=$(raw request POST /1.0/instances/c/snapshots '{"name": "%2e%2e"}')
check_match "a snapshot may be called %2e%2e" '^202 ' "$out"
sleep 1
check "and deleted again through the client" cairn snapshot delete c '%2e%2e'

# A NUL never cuts a name: not escaped in the path, not escaped in JSON.
check "init p2" cairn init busybox p2
check "p2 gets a snapshot" cairn snapshot create p2 s0
out=$(raw request DELETE '/1.0/instances/p2%00x')
check_match "DELETE p2%00x is a bad request" '^400 ' "$out"
check_eq "p2 is still there" "p2" "$(api /1.0/instances/p2 | jq -r .metadata.name)"
check_eq "with its snapshot" "s0" "$(api /1.0/instances/p2/snapshots/s0 | jq -r .metadata.name)"
out=$(raw request GET '/1.0/instances/p2/files?path=/etc/passwd%00x')
check_match "a NUL in a query value is a bad request" '^400 ' "$out"
out=$(raw request POST /1.0/instances/c/snapshots '{"name":"a\u0000b"}')
check_match "a snapshot name with \\u0000 is refused" '^400 ' "$out"
out=$(raw request POST /1.0/instances/c/snapshots '{"name":"a\x00b"}')
check_match "a raw NUL in a body is refused" '^400 ' "$out"
check_eq "neither made a snapshot" "null" "$(api /1.0/instances/c/snapshots/a | jq -r .metadata)"
out=$(raw request POST /1.0/instances '{"name":"q\u0000x","source":{"type":"image","alias":"busybox"}}')
check_match "an instance name with \\u0000 is refused" '^400 ' "$out"
check_eq "and made no instance q" "404" "$(api /1.0/instances/q | jq -r .error_code)"
out=$(raw request PATCH /1.0/instances/c '{"config":{"user.a\u0000b":"x"}}')
check_match "a config key with \\u0000 is refused" '^400 ' "$out"
check_eq "and set nothing" "" "$(cairn config show c | grep -F user.a)"
out=$(raw request PATCH /1.0/instances/c '{"config":{"user.x":"a\\u0000b"}}')
check_match "an escaped backslash before u0000 is text, not a NUL" '^200 ' "$out"
check_eq "the value kept its backslash" 'a\u0000b' "$(cairn config get c user.x)"

# Invalid UTF-8 never becomes a name (it would put invalid JSON on the wire).
out=$(raw request POST /1.0/instances/c/snapshots '{"name":"bad\xff"}')
check_match "a snapshot name that is not UTF-8 is refused" '^400 ' "$out"
check_fails "the client says so" "" cairn snapshot create c $'bad\xff'
out=$(raw request GET '/1.0/instances/c/snapshots/bad%ff')
check_match "an escaped invalid UTF-8 path is a bad request" '^400 ' "$out"
check "snapshot list is still valid JSON" jq -e . <(api /1.0/instances/c/snapshots?recursion=1)
check "a UTF-8 name is fine" cairn snapshot create c 'café'
check_eq "and reads back the same" "café" "$(api /1.0/instances/c/snapshots/caf%C3%A9 | jq -r .metadata.name)"

# Bodies: the target and the size are checked before a byte is stored.
out=$(raw header-only '/1.0/instances/nope/files?path=/x' 1000000)
check_eq "a push to a missing instance is refused before its body" "404" "$out"
out=$(raw header-only '/1.0/instances/c/files?path=/x' 100000000000000)
check_eq "a push larger than the pool is refused before its body" "413" "$out"
head -c 20000000 /dev/zero >"$T/big"
check_fails "the client reports the refusal, not a broken pipe" 'Error: Instance "nope" not found' \
	cairn file push "$T/big" nope/big
out=$(raw header-only '/1.0/images' 100000000000000)
check_eq "an image larger than the pool is refused before its body" "413" "$out"

# Results are not lost under load: 300 operations at once, each waiter reads its own outcome
# although more than 256 others finished in the meantime.
n=$(raw parallel-imports 300 2 2>"$T/parallel.err")
check_eq "300 parallel operations, 300 outcomes" "300" "$n"
[ "$n" = 300 ] || diag "first missing outcome: $(head -1 "$T/parallel.err")"

# No single client locks everybody out: one user holds 1,100 idle connections.
mkdir "$T/flood" && chown "$ADMIN_USER" "$T/flood"
as_admin python3 "$(dirname "$0")/rawhttp.py" "$sock" flood 1100 "$T/flood/ready" "$T/flood/release" &
flood=$!
for _ in $(seq 1 300); do [ -s "$T/flood/ready" ] && break; sleep 0.1; done
read -r opened alive <"$T/flood/ready" || opened=0
diag "the flood opened $opened connections, $alive kept"
check "the daemon keeps at most 256 of them" test "${alive:-9999}" -le 256
check "root still gets answers" cairn list
check_fails "the outsider still gets its answer" \
	"Error: You don't have the needed permissions to talk to cairnd (not in group $TGROUP)" \
	as_outsider cairn list
touch "$T/flood/release"
wait "$flood"
sleep 0.5
check "the user is served again once the connections closed" as_admin cairn list

while [ $((SECONDS - suite_start)) -lt 45 ] && kill -0 "$idle" 2>/dev/null; do sleep 1; done
wait "$idle"
closed=$(cat "$T/idle.closed" 2>/dev/null)
check "an idle connection is closed by the header timeout (after ${closed:-?} s)" \
	test "${closed:-0}" -ge 25 -a "${closed:-999}" -le 40
check "an event stream outlives the header timeout" kill -0 "$events"
kill "$events" 2>/dev/null
wait "$events" 2>/dev/null

finish
