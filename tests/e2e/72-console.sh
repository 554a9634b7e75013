#!/usr/bin/env bash
# cairn console end to end, as a user of the admin group: the boot log with --show-log, and an
# interactive console session in tmux that runs a command and detaches with Ctrl-a q.
. "$(dirname "$0")/lib.sh"
setup
tmux_setup

check "admin user launches c1" as_admin cairn launch busybox c1
sleep 1
out=$(as_admin cairn console c1 --show-log)
check_match "--show-log shows the boot output" "BusyBox v[0-9.]+" "$out"

tmux -S "$TMUX_SOCK" new-session -d -s t -x 100 -y 30 "$T/bin/as-admin bash --norc -i"
tmux -S "$TMUX_SOCK" send-keys -t t 'PS1="outer$ "; echo ready' Enter
check "an outer shell in tmux" wait_pane '^ready'
tmux -S "$TMUX_SOCK" send-keys -t t 'cairn console c1' Enter
check "the detach hint is printed" wait_pane '^To detach from the console, press: <ctrl>\+a q$'
sleep 0.5
tmux -S "$TMUX_SOCK" send-keys -t t Enter
tmux -S "$TMUX_SOCK" send-keys -t t 'echo console-$((40 + 2)) > /tmp/from-console; echo said-$((6 * 7))' Enter
check "a command runs on the console" wait_pane '^said-42'
tmux -S "$TMUX_SOCK" send-keys -t t C-a q
# Keys typed before the client has gone would go to the console: let it detach first.
sleep 0.5
tmux -S "$TMUX_SOCK" send-keys -t t 'echo "detached=$?"; stty -a | grep -o " icanon" | sed "s/^/restored:/"' Enter
check "Ctrl-a q detaches with status 0" wait_pane '^detached=0$'
check "the caller's terminal is restored" wait_pane '^restored: icanon$'
check_eq "what ran on the console changed the container" "console-42" \
	"$(as_admin cairn exec c1 -- cat /tmp/from-console)"
# The console is free again for the next client.
tmux -S "$TMUX_SOCK" send-keys -t t 'clear; cairn console c1' Enter
check "a second console session attaches" wait_pane '^To detach from the console'
tmux -S "$TMUX_SOCK" send-keys -t t C-a q
sleep 0.5
tmux -S "$TMUX_SOCK" send-keys -t t 'echo "again=$?"' Enter
check "and detaches" wait_pane '^again=0$'
tmux -S "$TMUX_SOCK" kill-server
TMUX_SOCK=

check_fails "the outsider cannot read the console" \
	"Error: You don't have the needed permissions to talk to cairnd (not in group $TGROUP)" \
	as_outsider cairn console c1 --show-log
check_fails "the outsider cannot attach" \
	"Error: You don't have the needed permissions to talk to cairnd (not in group $TGROUP)" \
	as_outsider cairn console c1
check "stop c1" as_admin cairn stop c1 --force
check_fails "console of a stopped instance" 'Error: Instance "c1" is not running' \
	as_admin cairn console c1
check_match "the log is still there when stopped" "BusyBox" "$(as_admin cairn console c1 --show-log)"

finish
