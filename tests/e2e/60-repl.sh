#!/usr/bin/env bash
# The REPL as a user of the admin group: commands read from stdin (stop at the first failure,
# or run them all with --keep-going), and an interactive session on a terminal (tmux) with tab
# completion and a history file in $HOME.
# shellcheck disable=SC2317 # functions called through check and check_fails
. "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null || skip_all "tmux is not installed"
setup

# lib.sh's cleanup kills this tmux server.
TMUX_SOCK="$T/tmux.sock"

# The REPL writes its history to $HOME, which must be the admin user's own.
chown "$ADMIN_USER" "$T/home"

# pipe_to INPUT CMD...: runs CMD with INPUT (printf format) on its stdin.
pipe_to() {
	local input=$1
	shift
	# shellcheck disable=SC2059
	printf "$input" | "$@"
}

# ---- commands from stdin ----

out=$(printf 'launch busybox r1\nlist\n' | as_admin cairn repl 2>&1)
rc=$?
check_eq "piped commands exit 0" "0" "$rc"
check_match "launch ran" '^Starting r1$' "$out"
check_match "list ran after it and shows r1" '^\| r1 +\| RUNNING +\|' "$out"
check_eq "r1 runs" "Running" "$(api_status r1)"

out=$(printf '# a comment\n\n   \nlist --format csv\n' | as_admin cairn repl 2>&1)
check_eq "comments and blank lines are skipped" "r1,RUNNING,,,CONTAINER,0" "$out"

err=$(printf 'info nosuch\ninit busybox r2\n' | as_admin cairn repl 2>&1 >/dev/null)
rc=$?
check_eq "a failing command makes the REPL exit 1" "1" "$rc"
check_eq "the failure is printed once" 'Error: Instance "nosuch" not found' "$err"
check_eq "the commands after the failure did not run" "" "$(api_status r2)"

err=$(printf 'info nosuch\n# a comment\n\ninit busybox r2\nstop nosuch2\n' | as_admin cairn repl --keep-going 2>&1 >/dev/null)
rc=$?
check_eq "--keep-going still exits 1" "1" "$rc"
check_eq "--keep-going ran the command after the failure" "Stopped" "$(api_status r2)"
check_match "--keep-going reports each failure" '^Error: Instance "nosuch" not found$' "$err"
check_match "--keep-going reports the later failure too" '^Error: Instance "nosuch2" not found$' "$err"
check_match "--keep-going sums up, counting commands, not comments or blank lines" '^Error: 2 of 3 commands failed$' "$err"
check "delete r2" as_admin cairn delete r2

printf 'init busybox r2\nlist r2 --format csv\n' | as_admin cairn repl --keep-going >/dev/null 2>&1
check_eq "--keep-going without failures exits 0" "0" "$?"
check_eq "... and ran its commands" "Stopped" "$(api_status r2)"
check "delete r2 again" as_admin cairn delete r2

printf 'exit\ninit busybox r3\n' | as_admin cairn repl >/dev/null 2>&1
check_eq "exit ends a piped REPL with status 0" "0" "$?"
check_eq "nothing after exit ran" "" "$(api_status r3)"
printf 'quit\ninit busybox r3\n' | as_admin cairn repl >/dev/null 2>&1
check_eq "quit does the same" "" "$(api_status r3)"

check_fails "a REPL inside the REPL is refused" "Error: Already in the REPL" \
	pipe_to 'repl\n' as_admin cairn repl
check_fails "an unterminated quote fails the line" "Error: Unterminated quote" \
	pipe_to 'list "r1\n' as_admin cairn repl
check_fails "an unknown command fails" 'Error: unknown command "bogus" for "cairn"' \
	pipe_to 'bogus\n' as_admin cairn repl
out=$(printf "config set r1 user.note 'two words'\nconfig get r1 user.note\n" | as_admin cairn repl 2>&1)
check_eq "quoted words stay one argument" "two words" "$out"


# ---- REPL commands: help, use, exit N, a leading "cairn" ----

out=$(printf 'help\n' | as_admin cairn repl 2>&1)
check_match "help lists the commands" '^  launch +Create and start an instance from an image$' "$out"
check_match "help lists the REPL's own commands" '^  use \[NAME\] ' "$out"
check_eq "help COMMAND is the command's --help" "$(as_admin cairn config set --help 2>&1)" \
	"$(printf 'help config set\n' | as_admin cairn repl 2>&1)"
check_fails "help of an unknown command fails" 'Error: unknown command "bogus" for "cairn"' \
	pipe_to 'help bogus\n' as_admin cairn repl
check_eq "a line may start with the word cairn" "r1,RUNNING,,,CONTAINER,0" \
	"$(printf 'cairn list --format csv\n' | as_admin cairn repl 2>&1)"

printf 'exit 3\ninit busybox r3\n' | as_admin cairn repl >/dev/null 2>&1
check_eq "exit N leaves with status N" "3" "$?"
check_eq "nothing after exit N ran" "" "$(api_status r3)"
check_fails "exit with a status that is not a number fails" \
	'Error: Invalid exit status "x" (a number from 0 to 255)' pipe_to 'exit x\n' as_admin cairn repl
check_fails "exit 256 fails" 'Error: Invalid exit status "256" (a number from 0 to 255)' \
	pipe_to 'exit 256\n' as_admin cairn repl

out=$(printf 'use r1\nconfig set user.used=yes\nconfig get user.used\nsnapshot create s1\nsnapshot list --format csv\nconfig get r1 user.used\nuse\nconfig get user.used\n' |
	as_admin cairn repl --keep-going 2>&1)
check_match "use: config set and get act on the current instance" '^yes$' "$out"
check_eq "use: the key was set on r1" "yes" "$(as_admin cairn config get r1 user.used)"
check_match "use: snapshot create took a snapshot of r1" '^s1,' "$out"
check_eq "use: it is r1's" "s1" "$(as_admin cairn snapshot list r1 --format csv | cut -d, -f1)"
check_match "use: naming the instance still works" '^yes$' "$(printf '%s\n' "$out" | sed -n 3p)"
check_match "use alone forgets it: without an instance the key is the server's" \
	'^Error: Unknown server configuration key "user.used"' "$out"
out=$(printf 'use r1\nstop r1x\n' | as_admin cairn repl 2>&1)
check_match "use: a mistyped name on a many-instance command fails" '^Error: .*"r1x"' "$out"
check_eq "use: and leaves the current instance alone" Running "$(api_status r1)"
out=$(printf 'use r1\nsnapshot create s2\nsnapshot restore s2\nsnapshot list --format csv\n' |
	as_admin cairn repl --keep-going 2>&1)
check_match "use: snapshot restore takes the current instance" '^s2,' "$out"
check_eq "use: and nothing failed" "" "$(printf '%s\n' "$out" | grep '^Error')"
check "delete the second snapshot" as_admin cairn delete r1/s2
check_fails "use of an unknown instance fails" 'Error: Instance "nosuch" not found' \
	pipe_to 'use nosuch\n' as_admin cairn repl
check_fails "use of a snapshot fails" 'Error: "r1/s1" is not an instance name' \
	pipe_to 'use r1/s1\n' as_admin cairn repl
check "delete the snapshot" as_admin cairn delete r1/s1

check_fails "the outsider's REPL is refused by the daemon" \
	"Error: You don't have the needed permissions to talk to cairnd (not in group $TGROUP)" \
	pipe_to 'list\n' as_outsider cairn repl

# ---- an interactive session on a terminal ----

check "an instance to complete" as_admin cairn init busybox alpha1

tm() {
	tmux -S "$TMUX_SOCK" "$@"
}

# The visible screen without its trailing blank lines (tmux also drops the trailing blanks of
# each line, so an empty prompt reads "cairn>").
screen() {
	tm capture-pane -p -t repl 2>/dev/null |
		awk '{ l[NR] = $0 } NF { last = NR } END { for (i = 1; i <= last; i++) print l[i] }'
}

# wait_for REGEX [LAST_REGEX]: waits up to 10 s for a screen line matching REGEX while the
# last line matches LAST_REGEX (default: an empty prompt, i.e. the command has finished).
wait_for() {
	local _ last=${2:-^cairn>$}
	for _ in $(seq 1 100); do
		if screen | grep -qE -- "$1" && screen | tail -n 1 | grep -qE -- "$last"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# check_screen DESCRIPTION REGEX [LAST_REGEX]: wait_for as a test.
check_screen() {
	if wait_for "$2" "${3:-^cairn>$}"; then
		ok "$1"
	else
		not_ok "$1"
		diag "wanted a line matching: $2" "and a last line matching: ${3:-^cairn>$}" "screen:" "$(screen)"
	fi
}

# check_line DESCRIPTION REGEX: the line being edited (the last one) matches REGEX.
check_line() {
	check_screen "$1" "$2" "$2"
}

# Waits up to 10 s for the REPL to end and prints its exit status ("none" if it did not end).
repl_status() {
	local _
	for _ in $(seq 1 100); do
		if [ -s "$T/repl.status" ]; then
			cat "$T/repl.status"
			return
		fi
		sleep 0.1
	done
	echo none
}

# Bare `cairn` on a terminal (a tmux pane), as the admin user; the shell around it records its
# exit status in $T/repl.status.
start_session() {
	rm -f "$T/repl.status"
	tm -f /dev/null new-session -d -s repl -x 160 -y 50 \
		"setpriv --reuid=$ADMIN_USER --regid=$(id -g "$ADMIN_USER") --init-groups env HOME=$T/home CAIRN_DIR=$CAIRN_DIR PATH=$PATH cairn; echo \$? >$T/repl.status"
}

check "a tmux session runs bare cairn as the admin user" start_session
check_line "bare cairn on a terminal shows the prompt" '^cairn>$'
check "the REPL runs as the admin user" pgrep -u "$ADMIN_USER" -x cairn

tm send-keys -t repl 'list' Enter
check_screen "a typed command prints its output" '^\| alpha1 +\| STOPPED +\|'

tm send-keys -t repl 'info nosuch' Enter
check_screen "an error is printed and the prompt comes back" '^Error: Instance "nosuch" not found$'

tm send-keys -t repl 'resta' Tab
check_line "Tab completes a command name" '^cairn> restart$'
tm send-keys -t repl C-u 'image al' Tab
check_line "Tab completes a subcommand name" '^cairn> image alias$'
tm send-keys -t repl C-u 'config set alpha1 limits.me' Tab
check_line "Tab completes a config key" '^cairn> config set alpha1 limits\.memory$'
tm send-keys -t repl C-u 'info al' Tab
check_line "Tab completes an instance name" '^cairn> info alpha1$'
tm send-keys -t repl Enter
check_screen "the completed command runs" '^Name: alpha1$'

tm send-keys -t repl 'exit' Enter
check_eq "exit leaves the REPL with status 0" "0" "$(repl_status)"
tm kill-server >/dev/null 2>&1

hist="$T/home/.cairn_history"
check "the history file is written in \$HOME" test -s "$hist"
check_eq "the history file belongs to the admin user" "$ADMIN_USER" "$(stat -c %U "$hist" 2>/dev/null)"
check_eq "history holds the commands entered, in order" \
	"list|info nosuch|info alpha1 |exit" "$(tr '\n' '|' <"$hist" 2>/dev/null | sed 's/|$//')"

# A new session reads the history back.
check "a second session" start_session
check_line "its prompt" '^cairn>$'
tm send-keys -t repl Up
check_line "Up recalls the last command of the previous session" '^cairn> exit$'
tm send-keys -t repl Up
check_line "... and the one before it" '^cairn> info alpha1$'
tm send-keys -t repl C-u C-d
check_eq "Ctrl-D leaves the REPL with status 0" "0" "$(repl_status)"
tm kill-server >/dev/null 2>&1


# ---- use, Ctrl-C, clear and exit N on a terminal ----

check "a third session" start_session
check_line "its prompt" '^cairn>$'
tm send-keys -t repl 'us' Tab
check_line "Tab completes the REPL's own commands" '^cairn> use ?$'
tm send-keys -t repl 'alp' Tab
check_line "Tab after use completes an instance name" '^cairn> use alpha1 ?$'
tm send-keys -t repl C-u 'help conf' Tab
check_line "Tab after help completes a command" '^cairn> help config ?$'
tm send-keys -t repl 'se' Tab
check_line "... and its subcommand" '^cairn> help config set ?$'
tm send-keys -t repl C-u 'use alpha1' Enter
check_line "use puts the instance in the prompt" '^cairn alpha1>$'
tm send-keys -t repl 'info' Enter
check_screen "info without a name shows the current instance" '^Name: alpha1$' '^cairn alpha1>$'
tm send-keys -t repl 'use' Enter
check_line "use alone clears it" '^cairn>$'
tm send-keys -t repl 'list some half typed line'
check_line "a half-typed line" '^cairn> list some half typed line$'
tm send-keys -t repl C-c
check_line "Ctrl-C at the prompt clears the line" '^cairn>$'
check "and the REPL is still there" pgrep -u "$ADMIN_USER" -x cairn
tm send-keys -t repl 'list --format csv' Enter
check_screen "the next line runs in the REPL" '^alpha1,STOPPED,' 
tm send-keys -t repl 'exec -T r1 -- sleep 60' Enter
sleep 1
check_eq "a long command is running" "1" "$(pgrep -u "$ADMIN_USER" -x cairn | wc -l | awk '{ print ($1 >= 2) }')"
tm send-keys -t repl C-c
check_line "Ctrl-C during a command ends the command and gives the prompt back" '^cairn>$'
check "the REPL is still there after it" pgrep -u "$ADMIN_USER" -x cairn
tm send-keys -t repl 'info alpha1' Enter
check_screen "and runs the next command" '^Name: alpha1$'
tm send-keys -t repl 'clear' Enter
check_line "clear empties the screen" '^cairn>$'
check_eq "nothing but the prompt is left" "cairn>" "$(screen)"
tm send-keys -t repl 'help' Enter
check_screen "help on the terminal" '^  exit \[N\], quit '
tm send-keys -t repl 'exit 4' Enter
check_eq "exit 4 leaves the REPL with status 4" "4" "$(repl_status)"
tm kill-server >/dev/null 2>&1

check "delete the instances" as_admin cairn delete --force r1 alpha1
check_eq "nothing left" "" "$(pool_volumes)"

finish
