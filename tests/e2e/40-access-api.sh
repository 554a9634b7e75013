#!/usr/bin/env bash
# Who may talk to cairnd, and the REST API's envelopes and input checks.
. "$(dirname "$0")/lib.sh"
setup

sock="$CAIRN_DIR/unix.socket"
check_eq "socket owner and mode" "root:$TGROUP 660" "$(stat -c '%U:%G %a' "$sock")"
check_eq "CAIRN_DIR mode" "711" "$(stat -c '%a' "$CAIRN_DIR")"

msg="Error: You don't have the needed permissions to talk to cairnd (not in group $TGROUP)"
check_fails "outsider cannot list" "$msg" as_outsider cairn list
check_fails "outsider cannot launch" "$msg" as_outsider cairn launch busybox x1
check_eq "outsider's launch made nothing" "" "$(pool_volumes)"
check "admin user can list" as_admin cairn list

# Past the socket's mode: the daemon checks SO_PEERCRED on every request.
chmod 0666 "$sock"
out=$(as_outsider curl -s --unix-socket "$sock" http://cairn/1.0/instances)
check_eq "the daemon refuses an outsider who reaches the socket" "403" "$(printf '%s' "$out" | jq -r .error_code)"
check_fails "the client prints the permission error on a 403" "$msg" as_outsider cairn list
chmod 0660 "$sock"

out=$(api /1.0/instances)
check_eq "sync envelope" "sync Success 200" "$(printf '%s' "$out" | jq -r '"\(.type) \(.status) \(.status_code)"')"
out=$(api /1.0/nosuch)
check_eq "unknown route is 404 in the error envelope" "error 404" "$(printf '%s' "$out" | jq -r '"\(.type) \(.error_code)"')"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" http://cairn/1.0/nosuch)
check_eq "unknown route HTTP status" "404" "$code"
out=$(api /1.0/instances/nosuch)
check_eq "unknown instance is 404" "404" "$(printf '%s' "$out" | jq -r .error_code)"

post() {
	curl -s --unix-socket "$sock" -X "$1" -H 'Content-Type: application/json' -d "$3" "http://cairn$2"
}
for body in '[]' '"x"' '{' '{"name": 5, "source": {"alias": "busybox"}}' \
	'{"name": "w1", "source": "busybox"}' '{"name": "w1", "source": {"alias": 7}}' \
	'{"name": "w1", "source": {"alias": "busybox"}, "config": {"limits.memory": 5}}' \
	'{"name": "w1", "source": {"alias": "busybox"}, "config": []}' \
	'{"name": "w1", "source": {"alias": "busybox"}, "start": "yes"}' \
	'{"name": "w1", "source": {"alias": "busybox"}, "devices": {"root": {"pool": 1}}}'; do
	out=$(post POST /1.0/instances "$body")
	check_eq "POST /1.0/instances $body is a 400" "error 400" "$(printf '%s' "$out" | jq -r '"\(.type) \(.error_code)"')"
done
check_eq "bad POSTs made nothing" "" "$(pool_volumes)"

# The event stream: what the launch below does, as lifecycle and operation events.
as_admin curl -sN --unix-socket "$sock" "http://cairn/1.0/events" >"$T/events.all" 2>/dev/null &
events_all=$!
as_admin curl -sN --unix-socket "$sock" "http://cairn/1.0/events?type=lifecycle" >"$T/events.lc" 2>/dev/null &
events_lc=$!
sleep 0.5
check "launch c1 through the client" as_admin cairn launch busybox c1
sleep 0.5
kill "$events_all" "$events_lc" 2>/dev/null
wait "$events_all" "$events_lc" 2>/dev/null
check_eq "lifecycle events of a launch" "instance-created /1.0/instances/c1 instance-started /1.0/instances/c1" \
	"$(jq -r 'select(.type == "lifecycle") | "\(.metadata.action) \(.metadata.source)"' "$T/events.all" | tr '\n' ' ' | sed 's/ $//')"
check_match "operation events carry the operation" '^Creating instance Success$' \
	"$(jq -r 'select(.type == "operation") | "\(.metadata.description) \(.metadata.status)"' "$T/events.all")"
check_eq "?type=lifecycle filters" "lifecycle" "$(jq -r .type "$T/events.lc" | sort -u | tr -d '\n')"
out=$(as_outsider curl -s --unix-socket "$sock" http://cairn/1.0/events 2>&1)
check "outsiders get no events" test -z "$(printf '%s' "$out" | grep -F lifecycle)"
for body in '{"config": {"limits.memory": 1}}' '{"config": "x"}' '{"description": 3}' '[]'; do
	out=$(post PUT /1.0/instances/c1 "$body")
	check_eq "PUT /1.0/instances/c1 $body is a 400" "400" "$(printf '%s' "$out" | jq -r .error_code)"
done
for body in '{"action": "explode"}' '{"action": 1}' '{}' '{"action": "stop", "timeout": "soon"}' \
	'{"action": "stop", "force": "yes"}'; do
	out=$(post PUT /1.0/instances/c1/state "$body")
	check_eq "PUT state $body is a 400" "400" "$(printf '%s' "$out" | jq -r .error_code)"
done
check_eq "c1 still runs" "Running" "$(api_status c1)"
out=$(post POST /1.0/storage-pools '{"name": 3, "driver": "dir"}')
check_eq "POST storage-pools with a bad name type" "400" "$(printf '%s' "$out" | jq -r .error_code)"
out=$(post POST /1.0/images/aliases '{"name": "a", "target": 4}')
check_eq "POST aliases with a bad target type" "400" "$(printf '%s' "$out" | jq -r .error_code)"

out=$(post PUT /1.0/instances/c1/state '{"action": "stop", "force": true}')
check_eq "stop through the API is an async operation" "async 100" "$(printf '%s' "$out" | jq -r '"\(.type) \(.status_code)"')"
op=$(printf '%s' "$out" | jq -r .operation)
out=$(api "$op/wait?timeout=30")
check_eq "the operation succeeds" "Success" "$(printf '%s' "$out" | jq -r .metadata.status)"
check_eq "c1 stopped through the API" "Stopped" "$(api_status c1)"

finish
