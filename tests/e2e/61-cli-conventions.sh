#!/usr/bin/env bash
# The conventions of the Incus client, as a user of the admin group: version, monitor (the
# lifecycle events of snapshots), operation list/show/delete (cancelling an image import leaves
# nothing behind; other operations refuse), the bash completion script with names from the
# daemon, the manual pages, --quiet, and the progress line on a terminal only.
. "$(dirname "$0")/lib.sh"
[ "${CAIRN_BACKEND:-btrfs}" = btrfs ] ||
	skip_all "the client's conventions do not depend on the storage backend (run on btrfs)"
command -v script >/dev/null || skip_all "script(1) is not installed"
command -v groff >/dev/null || skip_all "groff is not installed"
setup

W="$T/work"
mkdir -p "$W"
chmod 0777 "$W"

# ---- version ----
out=$(as_admin cairn version)
check_eq "version prints the client's and the server's version" \
	"$(printf 'Client version: 0.1.0\nServer version: 0.1.0')" "$out"
out=$(as_admin env CAIRN_DIR="$T/nowhere" cairn version)
rc=$?
check_eq "without a daemon the server is unreachable" \
	"$(printf 'Client version: 0.1.0\nServer version: unreachable')" "$out"
check_eq "and version still exits 0, as incus does" 0 "$rc"
check_match "outside the group the server is unreachable too" '^Server version: unreachable$' \
	"$(as_outsider cairn version 2>&1)"

# ---- monitor ----
# A command of the admin user in the background whose pid is that of the command itself
# (setpriv and env exec it), so that a signal reaches it as Ctrl-C would.
admin_bg() {
	setpriv --reuid="$ADMIN_USER" --regid="$(id -g "$ADMIN_USER")" --init-groups \
		env HOME="$T/home" CAIRN_DIR="$CAIRN_DIR" PATH="$PATH" "$@" &
}
admin_bg cairn monitor --type lifecycle --format json >"$W/mon.json" 2>"$W/mon.err"
MON=$!
admin_bg cairn monitor --type lifecycle >"$W/mon.yaml" 2>&1
MONY=$!
admin_bg cairn monitor --type operation --pretty >"$W/mon.pretty" 2>&1
MONP=$!
sleep 0.5
check "launch c1 (quiet)" as_admin cairn launch busybox c1 -q
check "snapshot c1 snap0" as_admin cairn snapshot c1 snap0
check "restore c1 snap0" as_admin cairn restore c1 snap0
check "snapshot create c1 snap1" as_admin cairn snapshot create c1 snap1
check "delete c1/snap1" as_admin cairn delete c1/snap1
wait_event() {
	local i
	for i in $(seq 1 50); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
check "monitor --format json sees instance-snapshot-created" \
	wait_event "$W/mon.json" '"action":"instance-snapshot-created","source":"/1\.0/instances/c1/snapshots/snap0"'
for action in instance-created instance-started instance-restored instance-snapshot-deleted; do
	check "monitor sees $action" wait_event "$W/mon.json" "\"action\":\"$action\""
done
check "the restore event names the snapshot" wait_event "$W/mon.json" '"context":{"snapshot":"snap0"}'
check "--type lifecycle leaves operation events out" bash -c "! grep -q '\"type\":\"operation\"' '$W/mon.json'"
check "every json event is one line of JSON followed by an empty line" \
	bash -c "awk 'NR % 2 == 1' '$W/mon.json' | jq -e -s 'length >= 6 and all(.type == \"lifecycle\")' && ! awk 'NR % 2 == 0' '$W/mon.json' | grep -q ."
check "yaml monitor sees the snapshot too" wait_event "$W/mon.yaml" 'action: instance-snapshot-created'
check "--pretty shows operations as lines" wait_event "$W/mon.pretty" '^INFO +\[.*\] ID: .*Description: Snapshotting instance'
kill -INT "$MON"
wait "$MON"
check_eq "Ctrl-C ends monitor cleanly (exit 0)" 0 $?
check_eq "and without an error" "" "$(cat "$W/mon.err")"
kill -INT "$MONY" "$MONP"
wait "$MONY" "$MONP"
check_fails "monitor refuses an unknown type" \
	'Error: Invalid event type "bogus" (lifecycle, operation or logging)' as_admin cairn monitor --type bogus
check_fails "monitor refuses an unknown format" "" as_admin cairn monitor --format xml
check_fails "monitor outside the group is refused" \
	"Error: You don't have the needed permissions to talk to cairnd (not in group $TGROUP)" \
	as_outsider cairn monitor

# ---- quiet ----
check_eq "launch --quiet prints nothing" "" "$(as_admin cairn launch busybox c2 --quiet 2>&1)"
check_eq "and c2 runs" Running "$(api_status c2)"
check_eq "stop -q prints nothing" "" "$(as_admin cairn stop c2 -q --force 2>&1)"
check_eq "start -q prints nothing" "" "$(as_admin cairn start c2 -q 2>&1)"
check_eq "snapshot -q prints nothing" "" "$(as_admin cairn snapshot c2 -q 2>&1)"
check_eq "copy -q prints nothing" "" "$(as_admin cairn copy c2/snap0 c3 -q 2>&1)"
check_eq "init -q prints nothing" "" "$(as_admin cairn init busybox c4 -q 2>&1)"
check_fails "--quiet does not hide errors" 'Error: Instance "nope" not found' \
	as_admin cairn start nope -q

# ---- completion ----
as_admin cairn completion bash >"$W/cairn.bash"
complete_words() {
	# complete_words WORD...: the candidates for the last word, one line, sorted.
	as_admin bash --norc -c '
		source "$0"
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_cairn
		for w in "${COMPREPLY[@]}"; do echo "$w"; done | sort | tr "\n" " "' "$W/cairn.bash" "$@"
}
check_eq "cairn sta<TAB>" "start " "$(complete_words cairn sta)"
check_eq "cairn start <TAB>: the instances from the daemon" "c1 c2 c3 c4 " "$(complete_words cairn start '')"
check_eq "cairn delete c1/<TAB>: the snapshots of c1" "c1/snap0 " "$(complete_words cairn delete c1/)"
check_eq "cairn snapshot <TAB>: its commands and the instances" \
	"auto c1 c2 c3 c4 create delete expiry list prune rename restore show " "$(complete_words cairn snapshot '')"
check_eq "cairn list --f<TAB>" "--format " "$(complete_words cairn list --f)"
check_eq "cairn snapshot restore c2 <TAB>: snapshots of c2" "snap0 " "$(complete_words cairn snapshot restore c2 '')"
check_eq "an alias leads to its command: cairn rm <TAB>" "c1 c2 c3 c4 " "$(complete_words cairn rm '')"
check_eq "a flag's value is not completed: cairn list --format <TAB>" "" "$(complete_words cairn list --format '')"
check_eq "cairn image <TAB>" "alias delete import list show " "$(complete_words cairn image '')"
check_eq "without a daemon, names complete to nothing (quietly)" "" \
	"$(as_admin env CAIRN_DIR="$T/nowhere" bash --norc -c 'source "$0"; COMP_WORDS=(cairn start ""); COMP_CWORD=2; _cairn 2>&1; echo "${COMPREPLY[*]}"' "$W/cairn.bash")"
check_eq "cairn __complete is what the REPL completes with" "c1 c2 c3 c4 " \
	"$(as_admin cairn __complete start c | tr '\n' ' ')"
check_fails "completion for another shell is refused" 'Error: Unsupported shell "fish" (bash)' \
	as_admin cairn completion fish

# ---- manpage ----
check "manpage writes the pages" as_admin cairn manpage "$W/man"
npages=$(ls "$W/man" | wc -l)
check "a page per command (57 or more)" test "$npages" -ge 57
for p in cairn cairn-launch cairn-snapshot-create cairn-operation-delete cairn-monitor; do
	check "$p.1 is there" test -s "$W/man/$p.1"
done
warn=$(for f in "$W"/man/*.1; do groff -man -Tutf8 -ww -z "$f" 2>&1; done)
check_eq "groff renders every page without a warning" "" "$warn"
page=$(MANWIDTH=100 man -l "$W/man/cairn-launch.1" 2>&1)
check_match "man -l shows the synopsis" 'cairn launch IMAGE \[NAME\] \[flags\]' "$page"
check_match "and the flags with their help" "-q, --quiet +$|Don't show progress information" "$page"
echo precious >"$W/precious"
mkdir "$W/trap"
ln -s "$W/precious" "$W/trap/cairn.1"
echo precious >"$W/precious2"
ln "$W/precious2" "$W/trap/cairn-list.1"
chmod -R a+rwX "$W/trap"
check "manpage into a directory with planted links" as_admin cairn manpage "$W/trap"
check_eq "the symbolic link's target is untouched" precious "$(cat "$W/precious")"
check_eq "the hard link's other name is untouched" precious "$(cat "$W/precious2")"
check "the symbolic link was replaced by the page" test -f "$W/trap/cairn.1" -a ! -L "$W/trap/cairn.1"
check_match "the hard link's name now holds the page" '^\.TH' "$(head -c 200 "$W/trap/cairn-list.1")"
check_fails "manpage into a file is refused" "" as_admin cairn manpage "$W/precious"

# ---- progress ----
mkdir -p "$W/img/rootfs/bin"
cp /bin/busybox "$W/img/rootfs/bin/busybox" 2>/dev/null || cp "$(command -v busybox)" "$W/img/rootfs/bin/busybox"
head -c 30000000 /dev/urandom >"$W/img/rootfs/blob"
printf 'architecture: %s\ncreation_date: 1763740800\nproperties:\n  description: Slow image\n' "$(uname -m)" >"$W/img/metadata.yaml"
tar -C "$W/img" -cf "$W/big.tar" metadata.yaml rootfs
tar -C "$W/img" -czf "$W/other.tar.gz" metadata.yaml rootfs/bin
chmod -R a+rX "$W"
as_admin script -qec "cairn image import $W/big.tar --alias big" /dev/null >"$W/pty.out" 2>&1
check "image import on a terminal shows a progress line" grep -qaE 'Transferring image: [0-9.]+[kMG]?B \([0-9.]+[kMG]?B/s\)' "$W/pty.out"
check "and then the fingerprint" grep -qa 'Image imported with fingerprint' "$W/pty.out"
check "delete the image" as_admin cairn image delete big
out=$(as_admin cairn image import "$W/big.tar" --alias big 2>&1 | cat)
check_match "piped, no progress line" '^Image imported with fingerprint: [0-9a-f]+$' "$out"
check "nothing but that line" test "$(printf '%s' "$out" | wc -l)" -eq 0
check "delete the image again" as_admin cairn image delete big
check_eq "import -q prints nothing" "" "$(as_admin script -qec "cairn image import $W/big.tar -q" /dev/null | tr -d '\r')"
check "delete the image once more" as_admin bash -c "cairn image list --format csv | cut -d, -f2 | xargs -r cairn image delete"

# ---- operations: a long one listed, shown, cancelled; another refused ----
stop_daemon
export CAIRN_STALLPOINT="image-unpack,Snapshotting instance"
start_daemon
unset CAIRN_STALLPOINT
wait_stall() {
	local i
	for i in $(seq 1 100); do
		[ "$(cat "$CAIRN_DIR/stallpoint" 2>/dev/null)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
images_before=$(ls "$CAIRN_DIR/storage-pools/default/images" 2>/dev/null | sort | tr '\n' ' ')
as_admin cairn image import "$W/other.tar.gz" --alias slow >"$W/import.out" 2>&1 &
IMP=$!
check "the import stalls halfway through unpacking" wait_stall image-unpack
list=$(as_admin cairn operation list)
check_match "operation list shows the running import, cancellable" \
	'\| [0-9a-f-]{36} \| TASK +\| Importing image +\| Running +\| YES +\|' "$list"
id=$(as_admin cairn operation list --format json | jq -r '.[] | select(.status == "Running") | .id')
check_match "operation list --format json gives its id" '^[0-9a-f-]{36}$' "$id"
check_match "operation ls is the same list" "$id" "$(as_admin cairn operation ls --format csv)"
show=$(as_admin cairn operation show "$id")
check_match "operation show: its description" '^description: Importing image$' "$show"
check_match "operation show: running" '^status: Running$' "$show"
check_match "operation show: may_cancel" '^may_cancel: true$' "$show"
check_eq "operation delete cancels it" "Operation $id deleted" "$(as_admin cairn operation delete "$id" 2>&1)"
wait "$IMP"
check_eq "the import fails" 1 $?
check_eq "and says it was cancelled" "Error: Operation cancelled" "$(cat "$W/import.out")"
check_match "the operation ends as Cancelled" '^status: Cancelled$' "$(as_admin cairn operation show "$id")"
check_eq "no image row is left" "" "$(api /1.0/images/aliases/slow | jq -r '.metadata.target // empty')"
check_eq "no image volume is left" "$images_before" "$(ls "$CAIRN_DIR/storage-pools/default/images" 2>/dev/null | sort | tr '\n' ' ')"
check_fails "a finished operation cannot be cancelled" \
	'Error: Only running operations can be cancelled' as_admin cairn operation rm "$id"

as_admin cairn snapshot c1 held >"$W/snap.out" 2>&1 &
SNAP=$!
check "a snapshot stalls at its start" wait_stall "Snapshotting instance"
id=$(as_admin cairn operation list --format json | jq -r '.[] | select(.status == "Running") | .id')
check_match "the snapshot is listed, not cancellable" \
	"\| $id \| TASK +\| Snapshotting instance +\| Running +\| NO +\|" "$(as_admin cairn operation list)"
check_fails "deleting it is refused" "Error: This operation can't be cancelled" \
	as_admin cairn operation delete "$id"
rm -f "$CAIRN_DIR/stallpoint"
wait "$SNAP"
check_eq "the snapshot then completes" 0 $?
check_match "and is there" '^held,' "$(as_admin cairn snapshot list c1 --format csv)"
check_fails "an unknown operation" 'Error: Operation "00000000-0000-0000-0000-000000000000" not found' \
	as_admin cairn operation show 00000000-0000-0000-0000-000000000000
check_fails "a path in place of an id finds nothing" "" as_admin cairn operation delete ../instances/c1
check_eq "and deletes nothing" Running "$(api_status c1)"
check_fails "outsiders cannot list operations" "" as_outsider cairn operation list
check_eq "GET /1.0/operations keeps Incus's shape" '["failure","running","success"]' \
	"$(api /1.0/operations | jq -c '.metadata | keys')"
check_eq "and with recursion gives objects" object \
	"$(api '/1.0/operations?recursion=1' | jq -r '.metadata.success[0] | type')"

check "clean up" as_admin cairn delete c1 c2 c3 c4 --force

# ---- progress of a copy and a move, from the operation's metadata ----
# A dir pool copies files with cp; the daemon reports the bytes written and the test holds the
# operation once they are copied, so the client's once-a-second poll sees it whatever the speed.
check "a dir pool" as_admin cairn storage create plain dir
check "an instance on it" as_admin cairn init busybox big -s plain
head -c 20000000 /dev/zero >"$CAIRN_DIR/storage-pools/plain/containers/big/rootfs/blob"
stop_daemon
export CAIRN_STALLPOINT="storage-copy-done"
start_daemon
unset CAIRN_STALLPOINT
as_admin script -qec "cairn copy big big2" /dev/null >"$W/copy.out" 2>&1 &
CP=$!
check "the copy is held once its files are copied" wait_stall storage-copy-done
progress=$(api '/1.0/operations?recursion=1' |
	jq -c '[.metadata.running[] | .metadata.progress // empty][0] // empty')
check_eq "the running operation's metadata says the stage" copy "$(printf '%s' "$progress" | jq -r '.stage // empty')"
check_match "and the bytes written, at least the 20 MB blob" '^([2-9][0-9]|[1-9][0-9]{2,})\.[0-9]{2}MiB$|GiB$' \
	"$(printf '%s' "$progress" | jq -r '.processed // empty')"
check_match "and a rate" '/s$' "$(printf '%s' "$progress" | jq -r '.speed // empty')"
for _ in $(seq 1 50); do
	grep -qa 'Transferring instance: copy' "$W/copy.out" && break
	sleep 0.1
done
rm -f "$CAIRN_DIR/stallpoint"
wait "$CP"
check_eq "the copy then completes" 0 $?
check "on a terminal it showed the bytes and the rate" \
	grep -qaE 'Transferring instance: copy [0-9.]+(B|KiB|MiB|GiB) [0-9.]+(B|KiB|MiB|GiB)/s' "$W/copy.out"
check_eq "the copy is there" STOPPED "$(as_admin cairn list big2 --format csv -c s)"
as_admin cairn copy big big3 >"$W/copy-piped.out" 2>&1 &
CP=$!
check "a piped copy is held too" wait_stall storage-copy-done
sleep 1.2
rm -f "$CAIRN_DIR/stallpoint"
wait "$CP"
check_eq "piped, the copy prints nothing" "" "$(cat "$W/copy-piped.out")"
as_admin script -qec "cairn move big --storage default" /dev/null >"$W/move.out" 2>&1 &
MV=$!
check "a move between pools is held the same way" wait_stall storage-copy-done
for _ in $(seq 1 50); do
	grep -qa 'Moving instance: copy' "$W/move.out" && break
	sleep 0.1
done
rm -f "$CAIRN_DIR/stallpoint"
wait "$MV"
check_eq "the move then completes" 0 $?
check "and showed its progress, the 20 MB blob included" \
	grep -qaE 'Moving instance: copy ([2-9][0-9]|[1-9][0-9]{2,})\.[0-9]{2}MiB [0-9.]+(B|KiB|MiB|GiB)/s' "$W/move.out"
check "clean up the copies" as_admin cairn delete big big2 big3
finish
