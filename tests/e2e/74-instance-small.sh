#!/usr/bin/env bash
# Small things an Incus user expects of instances, as a user of the admin group: exec of a
# missing command, the hostname and /etc/hostname, a real terminal in `cairn shell`, ephemeral
# instances, copies to another pool, and errors that name the instance.
# shellcheck disable=SC2317 # functions called through check and check_fails
. "$(dirname "$0")/lib.sh"
PART=${1:-}
command -v tmux >/dev/null || skip_all "tmux is not installed"
setup
tmux_setup

# wait_gone NAME: waits up to 15 s for instance NAME to be gone from the API.
wait_gone() {
	local i
	for i in $(seq 1 150); do
		[ -z "$(api_status "$1")" ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- exec of a missing command ----
check "launch c1" as_admin cairn launch busybox c1
err=$(as_admin cairn exec c1 -- nosuchcommand 2>&1 >/dev/null)
rc=$?
check_eq "exec of a missing command exits 127, as in Incus" "127" "$rc"
check_eq "... and says so" "Error: Command not found" "$err"
err=$(as_admin cairn exec c1 -- sh -c 'exit 127' 2>&1 >/dev/null)
rc=$?
check_eq "a command that exits 127 itself keeps its status" "127" "$rc"
check_eq "... and prints nothing of its own" "" "$err"
err=$(as_admin cairn exec c1 -- /etc/passwd 2>&1 >/dev/null)
rc=$?
check_eq "a file that is not a program exits 126" "126" "$rc"
check_match "... and says why" '^Error: Command "/etc/passwd" cannot be run: ' "$err"
check_fails "start of a running instance names it" 'Error: Instance "c1" is already running' \
	as_admin cairn start c1

# ---- hostname ----
check_eq "hostname inside is the instance's name" "c1" "$(as_admin cairn exec c1 -- hostname)"
check_eq "/etc/hostname holds the instance's name" "c1" "$(as_admin cairn exec c1 -- cat /etc/hostname)"

# ---- a real terminal in cairn shell ----
tmux -S "$TMUX_SOCK" new-session -d -s t -x 100 -y 30 "$T/bin/as-admin bash --norc -i"
tmux -S "$TMUX_SOCK" send-keys -t t 'PS1="outer$ "; echo ready' Enter
check "an outer shell in tmux" wait_pane '^ready'
tmux -S "$TMUX_SOCK" send-keys -t t 'cairn shell c1' Enter
check "cairn shell gives a prompt inside" wait_pane '^root@c1:~# ?$'
tmux -S "$TMUX_SOCK" send-keys -t t 'echo "tty=$(tty)"' Enter
check "tty inside names a terminal of the container's devpts" wait_pane '^tty=/dev/pts/[0-9]+$'
tmux -S "$TMUX_SOCK" send-keys -t t 'ls -ln $(tty) | awk "{ print \"owner=\" \$3 }"' Enter
check "the terminal belongs to root inside, not to an unmapped id" wait_pane '^owner=0$'
tmux -S "$TMUX_SOCK" send-keys -t t 'exit' Enter
sleep 1
tmux -S "$TMUX_SOCK" send-keys -t t 'echo "exit=$?"' Enter
check "the shell session ends with status 0" wait_pane '^exit=0$'
tmux -S "$TMUX_SOCK" kill-server
TMUX_SOCK=
out=$(as_admin cairn exec c1 -- tty)
check_eq "a non-interactive exec has no terminal" "not a tty" "$out"
check "stop c1" as_admin cairn stop c1 --force
check_fails "stop of a stopped instance names it" 'Error: Instance "c1" is already stopped' \
	as_admin cairn stop c1

[ "$PART" = exec ] && finish
finish
