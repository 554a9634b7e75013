#!/usr/bin/env bash
# The upstream client: Debian's `lxc` (LXD 5.0) pointed at cairnd with LXD_DIR, as a member of
# the admin group with a HOME of its own (the client writes ~/.config/lxc), and as an outsider.
# Outputs and exit codes are those the client gives against LXD; JSON shapes are checked
# against the fields the LXD API documents, not against what cairn's own client prints.
. "$(dirname "$0")/lib.sh"
[ "${CAIRN_BACKEND:-btrfs}" = dir ] && skip_all "the API the lxc client speaks does not depend on the storage backend (run with btrfs)"
command -v lxc >/dev/null || skip_all "the lxc client is not installed (lxd-client; scripts/deps.sh installs it)"
setup

mkdir -p "$T/lxc-admin" "$T/lxc-outsider"
chown "$ADMIN_USER" "$T/lxc-admin"
chown "$OUTSIDER" "$T/lxc-outsider"

# lxca ARGS...: `lxc ARGS...` as the admin-group user; lxco: as the outsider.
lxca() {
	setpriv --reuid="$ADMIN_USER" --regid="$(id -g "$ADMIN_USER")" --init-groups \
		env HOME="$T/lxc-admin" LXD_DIR="$CAIRN_DIR" PATH="$PATH" lxc "$@"
}
lxco() {
	setpriv --reuid="$OUTSIDER" --regid="$(id -g "$OUTSIDER")" --init-groups \
		env HOME="$T/lxc-outsider" LXD_DIR="$CAIRN_DIR" PATH="$PATH" lxc "$@"
}

# has_all JSON FIELD...: every field is a key of the object.
has_all() {
	local json=$1 f
	shift
	for f in "$@"; do
		printf '%s' "$json" | jq -e --arg f "$f" 'has($f)' >/dev/null || {
			echo "missing field $f"
			return 1
		}
	done
}

csv_of() {
	lxca list -c ns --format csv | tr '\n' ' ' | sed 's/ $//'
}

# ---- the server ----
info=$(lxca info 2>&1)
check_eq "lxc info exits 0" 0 $?
check_match "lxc info lists api_filtering" '^- api_filtering$' "$info"
server=$(lxca query /1.0)
check "GET /1.0 has the fields LXD documents" has_all "$server" \
	api_extensions api_status api_version auth auth_methods config environment public
check_eq "auth is trusted" trusted "$(printf '%s' "$server" | jq -r .auth)"
check_eq "api_status is stable" stable "$(printf '%s' "$server" | jq -r .api_status)"
check "environment has what lxc info reads" has_all "$(printf '%s' "$server" | jq .environment)" \
	architectures driver driver_version kernel kernel_architecture kernel_version server \
	server_name server_pid server_version storage project

# ---- launch, init, list ----
check "lxc launch busybox c1" lxca launch busybox c1
check "lxc init local:busybox c2" lxca init local:busybox c2
check_eq "lxc list --format csv -c ns" "c1,RUNNING c2,STOPPED" "$(csv_of)"
table=$(lxca list)
check_match "lxc list shows a table with c1" '^\| c1 +\| RUNNING' "$table"
check_eq "a filter the server applies: status=running" c1 "$(lxca list status=running -c n --format csv)"
check_eq "name=c2" c2 "$(lxca list name=c2 -c n --format csv)"
check_eq "a name prefix as argument" c2 "$(lxca list c2 -c n --format csv)"
list_json=$(lxca list --format json)
check "list --format json: an instance has the fields LXD documents" has_all \
	"$(printf '%s' "$list_json" | jq '.[0]')" architecture config created_at description devices \
	ephemeral expanded_config expanded_devices last_used_at location name profiles project \
	stateful status status_code type state snapshots
check_eq "state.status of c1 is Running" Running \
	"$(printf '%s' "$list_json" | jq -r '.[] | select(.name == "c1") | .state.status')"
check_match "list --format yaml" '^  name: c1$' "$(lxca list --format yaml)"
check_fails "lxc init of an unknown image" "" lxca init nosuchimage c9

# ---- lifecycle ----
check "lxc stop c1" lxca stop c1
check_eq "c1 is stopped" "c1,STOPPED c2,STOPPED" "$(csv_of)"
check "lxc start c1 c2" lxca start c1 c2
check "lxc stop --force c2" lxca stop --force c2
check "lxc restart c1" lxca restart c1
check_eq "c1 runs after restart" "c1,RUNNING c2,STOPPED" "$(csv_of)"
check_fails "lxc start of a running instance" 'Error: Instance "c1" is already running' lxca start c1
check_fails "lxc delete of a running instance" \
	"Error: The instance is currently running, stop it first or pass --force" lxca delete c1
check_eq "c1 is still there" "c1,RUNNING c2,STOPPED" "$(csv_of)"

# ---- info ----
inst=$(lxca query "/1.0/instances/c1?recursion=1")
check "GET an instance with recursion: the fields of LXD's InstanceFull" has_all "$inst" \
	name status status_code state snapshots config devices expanded_config profiles
info=$(lxca info c1)
check_match "lxc info c1: status" '^Status: RUNNING$' "$info"
check_match "lxc info c1: its processes are counted" '^  Processes: [1-9][0-9]*$' "$info"
check_match "lxc list -c nsP: the profiles column" '^c1,RUNNING,default$' "$(lxca list c1 -c nsP --format csv)"

# ---- snapshots ----
check "lxc snapshot c1 s0" lxca snapshot c1 s0
check "lxc snapshot c1 (a name of the server's choosing)" lxca snapshot c1
check_match "lxc info c1 lists s0" '^\| s0 ' "$(lxca info c1)"
snap=$(lxca query /1.0/instances/c1/snapshots/s0)
check "a snapshot has the fields LXD documents" has_all "$snap" \
	name created_at expires_at stateful architecture config devices profiles ephemeral
check "lxc file push of a marker" lxca file push /etc/hostname c1/root/marker
check "lxc restore c1 s0" lxca restore c1 s0
check_fails "the marker is gone after the restore" "" lxca file pull c1/root/marker "$T/lxc-admin/m"
check_eq "c1 runs after the restore" "c1,RUNNING c2,STOPPED" "$(csv_of)"
check "lxc delete c1/s0" lxca delete c1/s0
check_fails "lxc restore of a deleted snapshot" "" lxca restore c1 s0

# ---- copy, rename, move ----
check "lxc copy c2 c3" lxca copy c2 c3
check "lxc rename c3 c4" lxca rename c3 c4
check "lxc move c4 c5" lxca move c4 c5
check_eq "c5 is there, c3 and c4 are not" "c1,RUNNING c2,STOPPED c5,STOPPED" "$(csv_of)"

# ---- config ----
check "lxc config set" lxca config set c2 user.colour blue
check_eq "lxc config get" blue "$(lxca config get c2 user.colour)"
check_match "lxc config show" '^  user.colour: blue$' "$(lxca config show c2)"
check "lxc config unset" lxca config unset c2 user.colour
check_eq "the key is gone" "" "$(lxca config get c2 user.colour)"
check_fails "lxc config set of an unknown key" "" lxca config set c2 no.such.key 1
lxca config show c2 | sed 's/^config:$/config:\n  user.edited: "yes"/' >"$T/edit.yaml"
check "lxc config edit from stdin" sh -c "setpriv --reuid=$ADMIN_USER --regid=$(id -g "$ADMIN_USER") --init-groups env HOME=$T/lxc-admin LXD_DIR=$CAIRN_DIR lxc config edit c2 <$T/edit.yaml"
check_eq "the edit is there" yes "$(lxca config get c2 user.edited)"
check "lxc config device add" lxca config device add c2 nothing none
check_match "lxc config device show" '^nothing:$' "$(lxca config device show c2)"
check "lxc config device remove" lxca config device remove c2 nothing
check_eq "the device is gone" "" "$(lxca config device show c2 | grep '^nothing:')"

# ---- profiles ----
check_match "lxc profile list" '^\| default ' "$(lxca profile list)"
check_match "lxc profile show default" '^name: default$' "$(lxca profile show default)"
check "lxc profile set" lxca profile set default user.p 1
check_match "the profile has the key" '^  user.p: "1"$' "$(lxca profile show default)"
prof=$(lxca query /1.0/profiles/default)
check "a profile has the fields LXD documents" has_all "$prof" name description config devices used_by

# ---- images ----
check_match "lxc image list" '^\| busybox ' "$(lxca image list)"
img=$(lxca query "/1.0/images?recursion=1" | jq '.[0]')
check "an image has the fields LXD documents" has_all "$img" \
	fingerprint aliases architecture properties public size type uploaded_at filename
fp=$(printf '%s' "$img" | jq -r .fingerprint)
check "lxc image alias create" lxca image alias create bb2 "$fp"
check_match "lxc image alias list" '^\| bb2 ' "$(lxca image alias list)"
check "lxc image alias delete" lxca image alias delete bb2
check_fails "lxc image delete of an unknown image" "" lxca image delete nosuch
# An Incus/LXD unified tarball: metadata.yaml and rootfs/.
mkdir -p "$T/img/rootfs/bin" "$T/img/rootfs/sbin" "$T/img/rootfs/etc"
cp /bin/busybox "$T/img/rootfs/bin/busybox"
ln -sf ../bin/busybox "$T/img/rootfs/sbin/init"
printf 'architecture: %s\ncreation_date: 1763740800\nproperties:\n  description: Test image\n  os: testos\n' \
	"$(uname -m)" >"$T/img/metadata.yaml"
tar -C "$T/img" -czf "$T/lxc-admin/img.tar.gz" metadata.yaml rootfs
chown "$ADMIN_USER" "$T/lxc-admin/img.tar.gz"
out=$(lxca image import "$T/lxc-admin/img.tar.gz" --alias testimg 2>&1)
check_match "lxc image import" 'Image imported with fingerprint: [0-9a-f]{64}$' "$out"
check_eq "the imported image is listed with its alias" "testimg,Test image" \
	"$(lxca image list testimg -c ld --format csv)"
check "lxc image delete" lxca image delete testimg
check_eq "it is gone" "" "$(lxca image list testimg -c l --format csv)"

# ---- storage, operations ----
check_match "lxc storage list" '^\| default ' "$(lxca storage list)"
check_match "lxc storage info default" 'driver: ' "$(lxca storage info default)"
pool=$(lxca query /1.0/storage-pools/default)
check "a pool has the fields LXD documents" has_all "$pool" name driver config description used_by status
check_match "lxc operation list" 'SUCCESS' "$(lxca operation list)"
ops=$(lxca query "/1.0/operations?recursion=1")
check "an operation has the fields LXD documents" has_all "$(printf '%s' "$ops" | jq '.success[0]')" \
	id class description created_at updated_at status status_code resources metadata may_cancel err

# ---- files ----
printf 'pushed\n' >"$T/lxc-admin/in.txt"
chown "$ADMIN_USER" "$T/lxc-admin/in.txt"
check "lxc file push" lxca file push "$T/lxc-admin/in.txt" c1/root/in.txt
check_eq "lxc file pull to stdout" pushed "$(lxca file pull c1/root/in.txt -)"

# ---- exec ----
out=$(lxca exec c1 -- sh -c 'echo out; echo err >&2; exit 7' </dev/null 2>"$T/exec.err")
check_eq "lxc exec keeps the exit code" 7 $?
check_eq "stdout comes on stdout" out "$out"
check_eq "stderr comes on stderr" err "$(cat "$T/exec.err")"
check_eq "stdin reaches the command and its end ends it" piped \
	"$(printf 'piped\n' | timeout 20 setpriv --reuid="$ADMIN_USER" --regid="$(id -g "$ADMIN_USER")" \
		--init-groups env HOME="$T/lxc-admin" LXD_DIR="$CAIRN_DIR" lxc exec c1 -- cat)"
check_fails "a command that does not exist: 127 and LXD's message" "Error: Command not found" \
	lxca exec c1 -- no-such-command
check_eq "its exit code is 127" 127 "$(lxca exec c1 -- no-such-command </dev/null >/dev/null 2>&1; echo $?)"
if command -v script >/dev/null; then
	out=$(timeout 20 setpriv --reuid="$ADMIN_USER" --regid="$(id -g "$ADMIN_USER")" --init-groups \
		env HOME="$T/lxc-admin" LXD_DIR="$CAIRN_DIR" script -qec \
		"stty cols 101 rows 31; lxc exec c1 -- sh -c 'test -t 0 && echo is-a-tty; stty size; exit 3'" /dev/null)
	check_eq "interactive lxc exec keeps the exit code" 3 $?
	check_match "the command has a terminal" 'is-a-tty' "$out"
	check_match "of the client's size" '31 101' "$out"
else
	ok "# SKIP interactive exec: script(1) is not installed"
fi
check_fails "lxc exec in a stopped instance" "" lxca exec c2 -- true

# ---- console ----
if command -v script >/dev/null; then
	# The client looks for Ctrl-a and q each at the start of a read: send them apart.
	out=$( (sleep 1.5; printf 'echo con""sole-ok\r'; sleep 1; printf '\001'; sleep 0.5; printf 'q'; sleep 3) |
		timeout 20 setpriv --reuid="$ADMIN_USER" --regid="$(id -g "$ADMIN_USER")" --init-groups \
		env HOME="$T/lxc-admin" LXD_DIR="$CAIRN_DIR" script -qec "lxc console c1; echo exit=\$?" /dev/null)
	check_match "lxc console reaches the instance's console" 'console-ok' "$out"
	check_match "Ctrl-a q detaches, exit 0" 'exit=0' "$out"
	check_eq "the console operation has ended" 0 \
		"$(lxca query '/1.0/operations?recursion=1' | jq '[.running[]? | select(.description == "Showing console")] | length')"
else
	ok "# SKIP console: script(1) is not installed"
fi
check_match "lxc console --show-log" 'console-ok' "$(lxca console c1 --show-log)"
check_fails "lxc console of a stopped instance" "" lxca console c2
ws=$(as_admin python3 "$(dirname "$0")/wsclient.py" "$CAIRN_DIR/unix.socket" handshake \
	"/1.0/operations/00000000-0000-0000-0000-000000000000/websocket?secret=00")
check_match "an operation websocket with a wrong secret is refused" '^HTTP/1.1 403 ' "$ws"

# ---- monitor and the events WebSocket ----
lxca monitor --type lifecycle >"$T/monitor.out" 2>&1 &
mon=$!
sleep 1
lxca restart --force c1 >/dev/null 2>&1
sleep 1
kill "$mon" 2>/dev/null
wait "$mon" 2>/dev/null
check_match "lxc monitor shows the restart" 'action: instance-started' "$(cat "$T/monitor.out")"
ws=$(as_admin python3 "$(dirname "$0")/wsclient.py" "$CAIRN_DIR/unix.socket" events /1.0/events \
	"cairn stop --force c1")
check_match "the events WebSocket answers 101" '^HTTP/1.1 101 ' "$ws"
check_match "with the right Sec-WebSocket-Accept" '^accept ok$' "$ws"
check_match "an event arrives as a text message" '^lifecycle instance-stopped$' "$ws"
check_match "a ping is answered" '^pong ok$' "$ws"
check_match "a close is answered" '^close ok$' "$ws"
check_eq "an unmasked client frame ends the connection" closed \
	"$(python3 "$(dirname "$0")/wsclient.py" "$CAIRN_DIR/unix.socket" unmasked /1.0/events | tail -1)"

# ---- delete ----
check "lxc delete --force of a running instance" lxca delete --force c1
check "lxc delete c2 c5" lxca delete c2 c5
check_eq "nothing left" "" "$(csv_of)"

# ---- the outsider ----
out=$(lxco list 2>&1)
check_eq "the outsider's lxc list fails" 1 "$(lxco list >/dev/null 2>&1; echo $?)"
check_match "refused at connect" 'permission denied' "$out"
# Past the socket's mode, the daemon's own check refuses every request and every WebSocket.
chmod 0666 "$CAIRN_DIR/unix.socket"
check_fails "past the socket's mode, lxc list is still refused" "" lxco list
check_fails "lxc launch is refused" "" lxco launch busybox x1
ws=$(as_outsider python3 "$(dirname "$0")/wsclient.py" "$CAIRN_DIR/unix.socket" handshake /1.0/events)
check_match "the events WebSocket is refused (403)" '^HTTP/1.1 403 ' "$ws"
chmod 0660 "$CAIRN_DIR/unix.socket"
check_eq "the outsider made nothing" "" "$(csv_of)"

finish
