#!/usr/bin/env bash
# cairn exec and cairn shell end to end, as a user of the admin group: exit codes, stdin, big
# binary output, environment, working directory, user and group, separate stderr, a process that
# never reads its stdin, a client killed mid-stream, and interactive sessions in tmux (typing,
# Ctrl-C, resizing, the terminal restored afterwards).
. "$(dirname "$0")/lib.sh"
setup
tmux_setup

check "admin user launches c1" as_admin cairn launch busybox c1

out=$(as_admin cairn exec c1 -- echo hello)
check_eq "exec prints the command's output" "hello" "$out"
as_admin cairn exec c1 -- true
check_eq "exit code 0" 0 $?
as_admin cairn exec c1 -- false
check_eq "exit code 1" 1 $?
as_admin cairn exec c1 -- sh -c 'exit 42'
check_eq "exit code 42" 42 $?
as_admin cairn exec c1 -- no-such-command 2>/dev/null
check_eq "a missing command gives 127" 127 $?
as_admin cairn exec c1 -- sh -c 'kill -TERM $$'
check_eq "a command killed by SIGTERM gives 143" 143 $?

out=$(printf 'line one\nline two\n' | as_admin cairn exec c1 -- wc -l)
check_eq "stdin is piped in" "2" "$(echo $out)"
out=$(printf 'abc' | as_admin cairn exec c1 -- cat)
check_eq "stdin is passed byte for byte" "abc" "$out"

want=$(head -c 50000000 /dev/urandom | tee "$T/random.bin" | sha256sum | cut -d' ' -f1)
chmod 0644 "$T/random.bin"
got=$(as_admin cairn exec c1 -- cat <"$T/random.bin" | sha256sum | cut -d' ' -f1)
check_eq "50 MB of binary data through stdin and stdout, checksums match" "$want" "$got"
got=$(as_admin cairn exec c1 -- sh -c 'head -c 50000000 /dev/zero' | sha256sum | cut -d' ' -f1)
check_eq "50 MB out of the container" "$(head -c 50000000 /dev/zero | sha256sum | cut -d' ' -f1)" "$got"
# The daemon's memory does not grow with the stream: the bytes never pass through it.
rss_before=$(awk '/^VmRSS/ { print $2 }' "/proc/$DAEMON_PID/status")
as_admin cairn exec c1 -- sh -c 'head -c 100000000 /dev/zero' >/dev/null
rss_after=$(awk '/^VmRSS/ { print $2 }' "/proc/$DAEMON_PID/status")
check "100 MB streamed without the daemon holding it (RSS $rss_before -> $rss_after kB)" \
	test $((rss_after - rss_before)) -lt 20000

out=$(as_admin cairn exec c1 -- sh -c 'echo to-out; echo to-err >&2' 2>"$T/err")
check_eq "stdout holds only stdout" "to-out" "$out"
check_eq "stderr holds only stderr" "to-err" "$(cat "$T/err")"

out=$(as_admin cairn exec c1 --env FOO=bar --env "SPACED=a b" -- sh -c 'echo "$FOO/$SPACED"')
check_eq "--env sets variables" "bar/a b" "$out"
out=$(as_admin cairn exec c1 -- sh -c 'echo "$PATH $HOME"')
check_eq "default PATH and HOME" "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /root" "$out"
out=$(as_admin cairn exec c1 -- pwd)
check_eq "the default working directory is /root" "/root" "$out"
out=$(as_admin cairn exec c1 --cwd /tmp -- pwd)
check_eq "--cwd sets the working directory" "/tmp" "$out"
out=$(as_admin cairn exec c1 --user 1000 --group 1001 -- id)
check_match "--user and --group are seen by id" '^uid=1000 gid=1001( |$)' "$out"
out=$(as_admin cairn exec c1 -- id -u)
check_eq "root by default" "0" "$out"
out=$(as_admin cairn exec c1 -T -- sh -c 'test -t 0 && echo tty || echo notty')
check_eq "-T gives no terminal" "notty" "$out"
out=$(as_admin cairn exec c1 -t -- sh -c 'test -t 0 && echo tty || echo notty' </dev/null)
check_match "-t forces a terminal" '^tty' "$out"

# A process that never reads its stdin, with a big stdin pipe: it ends when it ends.
start=$(date +%s)
head -c 200000000 /dev/zero | timeout 30 setpriv --reuid="$ADMIN_USER" --regid="$(id -g "$ADMIN_USER")" \
	--init-groups env CAIRN_DIR="$CAIRN_DIR" PATH="$PATH" cairn exec c1 -- sleep 1
rc=$?
check_eq "a command that never reads stdin exits normally under a big stdin" 0 "$rc"
check "... and does not wait for the pipe ($(($(date +%s) - start)) s)" test $(($(date +%s) - start)) -lt 20

# admin_bg CMD...: runs CMD as the admin user in the background; $! is CMD itself (a function
# would put a subshell in between).
admin_bg() {
	setpriv --reuid="$ADMIN_USER" --regid="$(id -g "$ADMIN_USER")" --init-groups \
		env CAIRN_DIR="$CAIRN_DIR" PATH="$PATH" "$@" &
}

# A command that floods its output while the client is killed.
admin_bg cairn exec c1 -- yes >/dev/null
client=$!
sleep 1
kill -KILL "$client"
wait "$client" 2>/dev/null
gone=no
for i in $(seq 1 50); do
	if ! as_admin cairn exec c1 -- ps | grep -q ' yes$'; then
		gone=yes
		break
	fi
	sleep 0.1
done
check_eq "killing the client mid-stream kills the command inside" "yes" "$gone"
as_admin cairn exec c1 -- sh -c 'yes | head -c 200000000 >/dev/null'
check_eq "a flood inside that nobody reads outside completes" 0 $?
# The client dies while the command sleeps and nothing streams.
admin_bg cairn exec c1 -- sleep 300
client=$!
sleep 1
kill -KILL "$client"
wait "$client" 2>/dev/null
sleep 0.5
left=$(as_admin cairn exec c1 -- ps | grep -c 'sleep 300')
check_eq "no sleep is left behind" "0" "$left"
check "the daemon survives all that" kill -0 "$DAEMON_PID"
check "the instance still answers" as_admin cairn exec c1 -- true
check "the API still answers" as_admin cairn list

# Interactive sessions in tmux, the tutorial's way: a shell, a file, exit.
tmux -S "$TMUX_SOCK" new-session -d -s t -x 100 -y 30 "$T/bin/as-admin bash --norc -i"
tmux -S "$TMUX_SOCK" send-keys -t t 'PS1="outer$ "; stty -a | grep -o " icanon" ; echo ready' Enter
check "an outer shell in tmux" wait_pane '^ready'
tmux -S "$TMUX_SOCK" send-keys -t t 'cairn shell c1' Enter
check "cairn shell gives a prompt inside" wait_pane '^root@c1:~# ?$'
tmux -S "$TMUX_SOCK" send-keys -t t 'stty size' Enter
check "the terminal inside has the caller's size" wait_pane '^30 100$'
tmux -S "$TMUX_SOCK" resize-window -t t -x 120 -y 40
sleep 0.5
tmux -S "$TMUX_SOCK" send-keys -t t 'stty size' Enter
check "a resize reaches the terminal inside" wait_pane '^40 120$'
tmux -S "$TMUX_SOCK" send-keys -t t 'sleep 100' Enter
sleep 1
tmux -S "$TMUX_SOCK" send-keys -t t C-c
tmux -S "$TMUX_SOCK" send-keys -t t 'echo after-$((20 + 22))' Enter
check "Ctrl-C reaches the process inside and the prompt comes back" wait_pane '^after-42$'
tmux -S "$TMUX_SOCK" send-keys -t t 'touch this_file.txt; exit' Enter
# Keys typed before the client has gone would still go to the session: let it end first.
sleep 1
tmux -S "$TMUX_SOCK" send-keys -t t 'echo "exit=$?"; stty -a | grep -o " icanon" | sed "s/^/restored:/"' Enter
check "the shell session ends with status 0" wait_pane '^exit=0$'
check "the caller's terminal is restored (canonical mode again)" wait_pane '^restored: icanon$'
out=$(as_admin cairn exec c1 -- ls /root/this_file.txt)
check_eq "the file made in the interactive session is there" "/root/this_file.txt" "$out"

tmux -S "$TMUX_SOCK" send-keys -t t 'cairn exec c1 -- sh' Enter
sleep 1
tmux -S "$TMUX_SOCK" send-keys -t t 'exit 7' Enter
sleep 1
tmux -S "$TMUX_SOCK" send-keys -t t 'echo "status=$?"' Enter
check "an interactive exec returns the shell's status" wait_pane '^status=7$'
tmux -S "$TMUX_SOCK" kill-server
TMUX_SOCK=

check_fails "the outsider cannot exec" \
	"Error: You don't have the needed permissions to talk to cairnd (not in group $TGROUP)" \
	as_outsider cairn exec c1 -- true
check_fails "exec in an unknown instance" 'Error: Instance "nope" not found' \
	as_admin cairn exec nope -- true
check "stop c1" as_admin cairn stop c1 --force
check_fails "exec in a stopped instance" 'Error: Instance "c1" is not running' \
	as_admin cairn exec c1 -- true
check_fails "shell in a stopped instance" 'Error: Instance "c1" is not running' \
	as_admin cairn shell c1

finish
