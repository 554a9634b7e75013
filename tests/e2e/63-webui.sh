#!/usr/bin/env bash
# cairn webui against a real cairnd, as a user of the admin group: the raw attacks on its port
# (the token, the cookie, Host and Origin, bounded heads, bodies and connections), then headless
# Chromium driving the page: the instance list, the timeline's marks for a known set of snapshots
# (manual, scheduled, expiring soon, kept and deleted by retention), create, rename, expiry,
# restore and delete as `cairn snapshot list` sees them, a bad cron line with the daemon's words,
# start and stop, and a scheduled snapshot appearing live. The page does not depend on the
# storage backend: the dir run is skipped.
. "$(dirname "$0")/lib.sh"
[ "$BACKEND" = btrfs ] || skip_all "the web page does not depend on the storage backend (btrfs run only)"
[ -x /usr/lib/chromium/chromium ] && [ -x /usr/bin/chromedriver ] ||
	skip_all "chromium and chromium-driver are not installed (scripts/deps.sh installs them)"
/usr/bin/python3 -c 'import selenium' 2>/dev/null ||
	skip_all "python3-selenium is not installed (scripts/deps.sh installs it)"
setup

WEBUI_PID=
stop_webui() {
	[ -n "$WEBUI_PID" ] && kill -INT "$WEBUI_PID" 2>/dev/null && wait "$WEBUI_PID" 2>/dev/null
	WEBUI_PID=
}
trap 'rc=$?; stop_webui; (exit $rc); cleanup' EXIT

# Starts `cairn webui` as the admin user; sets URL and PORT.
start_webui() {
	: >"$T/webui.out"
	chmod 0666 "$T/webui.out"
	# Not through as_admin (a function, so a subshell): $! must be cairn itself, for Ctrl-C.
	setpriv --reuid="$ADMIN_USER" --regid="$(id -g "$ADMIN_USER")" --init-groups \
		env HOME="$T/home" CAIRN_DIR="$CAIRN_DIR" PATH="$PATH" \
		cairn webui --no-browser >"$T/webui.out" 2>&1 &
	WEBUI_PID=$!
	local i
	for i in $(seq 1 50); do
		URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*/?token=[0-9a-f]*' "$T/webui.out")
		[ -n "$URL" ] && break
		sleep 0.1
	done
	PORT=${URL#http://127.0.0.1:}
	PORT=${PORT%%/*}
}

# Runs webui.py and turns its PASS/FAIL lines into TAP.
run_py() {
	local line
	while IFS= read -r line; do
		case "$line" in
		"PASS "*) ok "${line#PASS }" ;;
		"FAIL "*) not_ok "${line#FAIL }" ;;
		"# "*) diag "${line#\# }" ;;
		*) diag "$line" ;;
		esac
	done < <(/usr/bin/python3 "$(dirname "$0")/webui.py" "$@" 2>&1)
}

export CAIRN_AS_ADMIN="setpriv --reuid=$ADMIN_USER --regid=$(id -g "$ADMIN_USER") --init-groups env HOME=$T/home CAIRN_DIR=$CAIRN_DIR PATH=$PATH"

check "launch c1" as_admin cairn launch busybox c1
check "init c2" as_admin cairn init busybox c2

# ---- who may run it ----
check_fails "outside the admin group cairn webui is refused as every command is" \
	"Error: You don't have the needed permissions to talk to cairnd (not in group $TGROUP)" \
	as_outsider cairn webui --no-browser

# ---- the port ----
start_webui
check_match "cairn webui prints a URL with a token" "^http://127.0.0.1:[0-9]+/\?token=[0-9a-f]{64}$" "$URL"
check "it listens on 127.0.0.1 only" sh -c "ss -Hltn 'sport = :$PORT' | awk '{print \$4}' | grep -qx '127.0.0.1:$PORT'"
check_eq "another local user gets a 403 even with the token" 403 \
	"$(as_outsider curl -s -o /dev/null -w '%{http_code}' "$URL")"
CAIRN_WEBUI_COOKIE_OUT="$T/cookie" run_py attacks "$URL"
cookie=$(cat "$T/cookie" 2>/dev/null)
chmod 0644 "$T/cookie"
check_eq "the admin user's own processes get in with the cookie" 200 \
	"$(as_admin curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$PORT/1.0")"
check_eq "another local user holding the stolen cookie gets a 403" 403 \
	"$(as_outsider curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$PORT/1.0")"
kill -INT "$WEBUI_PID"
wait "$WEBUI_PID"
check_eq "Ctrl-C stops it with status 0" 0 "$?"
WEBUI_PID=
check_fails "and the port is closed" "" sh -c "curl -s http://127.0.0.1:$PORT/ >/dev/null || { echo 'Error: closed' >&2; exit 1; }"

# ---- the page ----
# The known set: m0 (manual, no expiry), three scheduled ones in this hour, and "soon" (manual,
# expires in an hour); the page previews retention 1H on them, then saves it.
# (Not across an hour: retention's buckets are hours.)
[ "$(date +%M)" != 59 ] || sleep $((61 - $(date +%S | sed 's/^0//')))
as_admin cairn snapshot create c1 m0 >/dev/null
as_admin cairn exec c1 -- touch /after
for i in 1 2 3; do as_admin cairn snapshot auto c1 >/dev/null; done
as_admin cairn snapshot create c1 soon --expiry 1H >/dev/null
check_eq "the known set is there" "m0 snap0 snap1 snap2 soon" \
	"$(as_admin cairn snapshot list c1 --format csv | cut -d, -f1 | tr '\n' ' ' | sed 's/ $//')"
start_webui
run_py browser "$URL"
stop_webui

# ---- the API's next slots, which the timeline draws ----
as_admin cairn config set c1 snapshots.schedule "0 2,14 * * 1-5"
sched=$(api /1.0/instances/c1/state | jq -c .metadata.snapshot_schedule)
check_eq "next_slots lists the next 24 slots" 24 "$(jq '.next_slots | length' <<<"$sched")"
check_eq "the first of them is next_slot" "$(jq -r .next_slot <<<"$sched")" "$(jq -r '.next_slots[0]' <<<"$sched")"
check_eq "they are in order, at 02:00 and 14:00 on weekdays only" "" \
	"$(jq -r '.next_slots as $s | range(1; $s | length) | select($s[.] <= $s[. - 1]) | "out of order: \($s[.])"' <<<"$sched")$(jq -r '.next_slots[]' <<<"$sched" | while read -r t; do
		d=$(date -u -d "$t" +%u%H%M)
		case "$d" in [1-5]0200 | [1-5]1400) ;; *) echo "off schedule: $t" ;; esac
	done)"
as_admin cairn config set c1 snapshots.schedule @startup
check_eq "@startup has no slots ahead" "[]" "$(api /1.0/instances/c1/state | jq -c .metadata.snapshot_schedule.next_slots)"

finish
