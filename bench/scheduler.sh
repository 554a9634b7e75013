#!/usr/bin/env bash
# Benchmark of the snapshot scheduler, in one run on one machine, on the default btrfs pool:
#
#   one scheduler pass of cairnd over 1,000 instances with 1,000 snapshot records each (synthetic
#   rows, written with the sqlite3 CLI while the daemon is stopped): the time to load them and
#   the time to decide (target: under 50 ms), from the line `cairnd --debug` logs for each pass;
#   against the floor of the same rows read by the sqlite3 CLI from the same database, timed
#   between the passes;
#   the daemon's resident memory (VmRSS, and its peak VmHWM) on the database with one instance,
#   and on the one with the million snapshot records, after the first pass and after the others;
#   `cairn snapshot prune --all --dry-run` with a retention rule tried in place (-c): every
#   snapshot gets a verdict, and the report carries all of them;
#   `cairn list` once, for what a client of such a host sees.
#
# Usage: sudo bash bench/scheduler.sh > result.md
# On a shared host the other work stretches the passes (the report says how long the scheduler
# thread waited for a CPU in a pass). With autogroup scheduling (kernel.sched_autogroup_enabled,
# the default), nice does not reach across sessions; a session of its own with a raised autogroup
# priority does:
#   sudo setsid -w bash -c 'echo -10 >/proc/self/autogroup; exec bash bench/scheduler.sh' >result.md
# The programs come from build/ (or CAIRN_BIN). BENCH_SCHED_INSTANCES and BENCH_SCHED_SNAPSHOTS
# set the size, BENCH_SCHED_PASSES the passes measured after the first, BENCH_SCHED_DRY_RUNS the
# runs of the dry run. Needs the sqlite3 CLI besides what bench/lib.sh checks. Progress goes to
# stderr; stdout is a Markdown report. Takes two to four minutes.
#
# BENCH_SCHED_PROFILE=DIR also profiles the daemon on the big database with perf (cpu-clock,
# DWARF call graphs): its start up to the end of its first pass, the other passes, the dry runs
# and the list. DIR receives the reports as text (PART-self.txt: time per function;
# PART-children.txt: including callees; PART-callers.txt: with call chains, for PART start,
# passes and dry-and-list), the perf data they come from (big.perf.<time>, for
# `perf report -i`) and rss.txt, the daemon's VmRSS and VmHWM every 0.1 s from its start (ms
# since the start, KiB, KiB). The figures of a run with the profiler are slower and are not the
# benchmark's.

set -u

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

INSTANCES=${BENCH_SCHED_INSTANCES:-1000}
SNAPSHOTS=${BENCH_SCHED_SNAPSHOTS:-1000}
PASSES=${BENCH_SCHED_PASSES:-10}
DRY_RUNS=${BENCH_SCHED_DRY_RUNS:-3}
# The retention rule the dry run tries: over snapshots every 17.5 hours for two years it keeps
# a few dozen and deletes the rest, so every verdict is worked out and most are "delete".
RETENTION="24H 7d 4w 12m 2y"
# How long the daemon may take to come up on the big database (recovery reads every snapshot).
START_TIMEOUT=${BENCH_SCHED_START_TIMEOUT:-120}

command -v sqlite3 >/dev/null || bench_die "sqlite3 is not installed (apt-get install sqlite3)"
PROFILE=${BENCH_SCHED_PROFILE:-}
if [ -n "$PROFILE" ]; then
	command -v perf >/dev/null || bench_die "perf is not installed"
	mkdir -p "$PROFILE" || bench_die "cannot create $PROFILE"
	PROFILE=$(cd "$PROFILE" && pwd)
fi
PERF_PID=

# The private daemon with --debug, so that each scheduler pass logs its line, and a log of its
# own per start (the pass lines of one start are counted from 1). Replaces lib.sh's, which
# bench_setup calls, and waits longer: recovery reads every snapshot row before it serves.
LOG=
bench_start_daemon() {
	local _
	LOG="$T/cairnd-${PHASE:-setup}.log"
	if [ "${PHASE:-}" = big ] && [ -n "$PROFILE" ]; then
		# perf starts the daemon: attached to a running process (-p) it gets no samples on
		# some virtual machines. SIGUSR2 to perf closes a part of the profile.
		perf record -q -e cpu-clock -F 499 --call-graph dwarf,8192 --switch-output=signal \
			-o "$PROFILE/big.perf" -- cairnd --group root --debug >>"$LOG" 2>&1 &
		PERF_PID=$!
		for _ in $(seq 1 100); do
			DAEMON_PID=$(pgrep -P "$PERF_PID" -x cairnd) && break
			sleep 0.05
		done
		if [ -z "$DAEMON_PID" ]; then
			# perf stops its workload when it stops.
			kill -INT "$PERF_PID" 2>/dev/null
			bench_die "perf did not start cairnd"
		fi
		sample_memory
	else
		cairnd --group root --debug >>"$LOG" 2>&1 &
		DAEMON_PID=$!
	fi
	for _ in $(seq 1 $((START_TIMEOUT * 10))); do
		# GET /1.0, not `cairn list`: a list of a million snapshots takes seconds and
		# gigabytes, and would be running beside the first pass.
		if [ -S "$CAIRN_DIR/unix.socket" ] &&
			curl -sf --unix-socket "$CAIRN_DIR/unix.socket" http://cairn/1.0 >/dev/null; then
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -20 "$LOG" >&2
	bench_die "cairnd did not start"
}

# Stops the daemon started above (by its PID) and waits for it (and for perf) to exit.
stop_daemon() {
	local _
	kill -TERM "$DAEMON_PID"
	for _ in $(seq 1 300); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$DAEMON_PID" 2>/dev/null && bench_die "cairnd did not stop"
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
	if [ -n "$PERF_PID" ]; then
		wait "$PERF_PID" 2>/dev/null
		PERF_PID=
	fi
}

# On exit with the profiler: lib.sh's clean-up stops the daemon, and perf ends with it; perf
# is waited for so that it has closed its files before the directory goes.
profile_cleanup() {
	local rc=$?
	if [ -n "$PERF_PID" ] && [ -z "$DAEMON_PID" ]; then
		kill -INT "$PERF_PID" 2>/dev/null
	fi
	if [ -n "$PERF_PID" ] && [ -n "$DAEMON_PID" ]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
	fi
	[ -n "$PERF_PID" ] && wait "$PERF_PID" 2>/dev/null
	PERF_PID=
	(exit "$rc")
	bench_cleanup
}

# The daemon's VmRSS and VmHWM every 0.1 s from its start, into the profile directory. Ends
# by itself with the daemon.
sample_memory() {
	(
		t0=$(now_us)
		while [ -r "/proc/$DAEMON_PID/status" ]; do
			t=$(now_us)
			awk -v t=$(((t - t0) / 1000)) '$1 == "VmRSS:" { r = $2 }
				$1 == "VmHWM:" { h = $2 } END { if (r) print t, r, h }' \
				"/proc/$DAEMON_PID/status"
			sleep 0.1
		done
	) >"$PROFILE/rss.txt" 2>/dev/null &
}

# profile_mark: closes the current part of the profile.
profile_mark() {
	kill -USR2 "$PERF_PID"
	sleep 1
}

# The text reports of the parts of the profile: the start up to the end of the first pass, the
# other passes, the dry runs and the list.
profile_reports() {
	local names=(start passes dry-and-list) i=0 f name
	for f in "$PROFILE"/big.perf.*; do
		[ -f "$f" ] || continue
		name=${names[$i]:-part$i}
		i=$((i + 1))
		say "writing the $name profile"
		perf report -i "$f" --stdio --no-children --sort symbol -g none \
			--percent-limit 0.5 >"$PROFILE/$name-self.txt" 2>/dev/null
		perf report -i "$f" --stdio --children --sort symbol -g none \
			--percent-limit 1 >"$PROFILE/$name-children.txt" 2>/dev/null
		perf report -i "$f" --stdio --no-children --sort symbol \
			-g caller,2,callee,function,percent --percent-limit 2 \
			>"$PROFILE/$name-callers.txt" 2>/dev/null
	done
}

# sched_times: "TID ns-on-a-CPU ns-waiting-for-one" for each thread of the daemon, sorted.
sched_times() {
	awk '{ split(FILENAME, p, "/"); print p[5], $1, $2 }' /proc/"$DAEMON_PID"/task/*/schedstat |
		sort
}

PASS_RE='Snapshot scheduler pass: '

passes() {
	grep -c "$PASS_RE" "$LOG"
}

# wait_passes N: until the log of this start holds N pass lines.
wait_passes() {
	local _
	for _ in $(seq 1 $((START_TIMEOUT * 10))); do
		[ "$(passes)" -ge "$1" ] && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	tail -20 "$LOG" >&2
	bench_die "no scheduler pass $1 in the log"
}

# kib FIELD: a field of the daemon's /proc status (VmRSS, VmHWM), in KiB.
kib() {
	awk -v f="$1:" '$1 == f { print $2 }' "/proc/$DAEMON_PID/status"
}

mib() {
	awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'
}

# pass_samples PHASE: the load and decide times of every pass of this start but the first, and
# those of the first alone, as samples in microseconds; the counts of the last pass line.
pass_samples() {
	sed -n "s/.*${PASS_RE}\([0-9]*\) instances (\([0-9]*\) with a policy), \([0-9]*\) snapshots; loaded in \([0-9.]*\) ms, decided and acted in \([0-9.]*\) ms.*/\1 \2 \3 \4 \5/p" \
		"$LOG" >"$T/$1.passes"
	awk 'NR == 1 { printf "%d\n", $4 * 1000 }' "$T/$1.passes" >"$T/samples/${1}_load_first"
	awk 'NR == 1 { printf "%d\n", $5 * 1000 }' "$T/$1.passes" >"$T/samples/${1}_decide_first"
	awk 'NR > 1 { printf "%d\n", $4 * 1000 }' "$T/$1.passes" >"$T/samples/${1}_load"
	awk 'NR > 1 { printf "%d\n", $5 * 1000 }' "$T/$1.passes" >"$T/samples/${1}_decide"
	tail -1 "$T/$1.passes"
}

# measure PHASE FLOOR: starts the daemon, waits for its first pass and reads its memory, then
# wakes it PASSES times with `cairn config set proto user.bench=N` (an instance-updated change),
# each time after the pass before is logged. With FLOOR=1 the sqlite3 reads of the floor run
# between the passes, while the daemon is idle.
measure() {
	local phase=$1 floor=$2 t0 t1 i n
	PHASE=$phase
	say "$phase: starting cairnd"
	t0=$EPOCHREALTIME
	bench_start_daemon
	wait_passes 1
	t1=$EPOCHREALTIME
	[ -n "$PERF_PID" ] && profile_mark
	echo $((${t1/[.,]/} - ${t0/[.,]/})) >"$T/samples/${phase}_start"
	# The pass has freed what it loaded by the time it logs; give free() a moment anyway.
	sleep 1
	kib VmRSS >"$T/${phase}.rss_first"
	kib VmHWM >"$T/${phase}.hwm_first"
	say "$phase: $PASSES more passes"
	: >"$T/samples/${phase}_cpu"
	: >"$T/samples/${phase}_wait"
	for i in $(seq 1 "$PASSES"); do
		n=$(passes)
		sched_times >"$T/sched.before"
		quiet cairn config set proto "user.bench=$i"
		wait_passes $((n + 1))
		sched_times >"$T/sched.after"
		# The thread that ran most is the scheduler's; a timer pass in between spoils it.
		if [ "$(passes)" -eq $((n + 1)) ]; then
			join "$T/sched.before" "$T/sched.after" |
				awk '{ print int(($4 - $2) / 1000), int(($5 - $3) / 1000) }' |
				sort -n | tail -1 >"$T/sched.pass"
			cut -d' ' -f1 "$T/sched.pass" >>"$T/samples/${phase}_cpu"
			cut -d' ' -f2 "$T/sched.pass" >>"$T/samples/${phase}_wait"
		fi
		if [ "$floor" = 1 ]; then
			timed floor_sorted sqlite3 -readonly "$DB" "$FLOOR_SORTED"
			timed floor_scan sqlite3 -readonly "$DB" "$FLOOR_SCAN"
			timed floor_read sqlite3 -readonly "$DB" "$FLOOR_READ"
		fi
	done
	[ -n "$PERF_PID" ] && profile_mark
	sleep 1
	kib VmRSS >"$T/${phase}.rss_passes"
	kib VmHWM >"$T/${phase}.hwm_passes"
}

# The rows that db_snapshot_list_all() gives the scheduler, in its order, with the instances'
# names (floor_sorted); the same columns in table order, no join, no sort (floor_scan); the same
# scan with every column read but nothing printed (floor_read: the CLI's text output is most of
# the two others).
FLOOR_SORTED="SELECT i.name, s.id, s.name, s.created_at, s.expires_at, s.stateful, s.scheduled
 FROM snapshots s JOIN instances i ON i.id = s.instance_id
 WHERE s.state = 1 AND i.state = 1 ORDER BY i.name, s.created_at, s.id"
FLOOR_SCAN="SELECT id, instance_id, name, created_at, expires_at, stateful, scheduled
 FROM snapshots WHERE state = 1"
FLOOR_READ="SELECT count(*), max(id), max(instance_id), max(length(name)), max(created_at),
 max(expires_at), max(stateful), max(scheduled) FROM snapshots WHERE state = 1"

PHASE=setup
bench_setup
[ -n "$PROFILE" ] && trap profile_cleanup EXIT
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
DB="$CAIRN_DIR/database/cairn.db"
[ -f "$DB" ] || bench_die "no database at $DB"

say "the prototype instance"
quiet cairn init busybox proto
stop_daemon

# The database with one instance (proto, no policy): the baseline of memory and pass times.
measure small 0
small_rss_first=$(cat "$T/small.rss_first")
small_rss_passes=$(cat "$T/small.rss_passes")
small_hwm=$(cat "$T/small.hwm_passes")
small_last=$(pass_samples small)
stop_daemon

# The synthetic instances, as copies of proto's rows: READY, on the same pool, with proto's
# config plus a policy the planner works through without acting on: a schedule whose next slot
# is on 1 January (not due: the newest scheduled snapshot is a minute old), a limit above the
# count, and an expiry a century away. Their volumes are not made: recovery keeps a READY row
# whose volume is missing (it only logs that it cannot protect it), and keeps snapshot rows
# without subvolumes (it removes rows that are not READY and subvolumes without a row). Each
# gets SNAPSHOTS scheduled snapshot rows, one every 2 years / SNAPSHOTS, the newest a minute
# old. No snapshot_config rows: the scheduler does not read them.
say "writing $INSTANCES instances with $SNAPSHOTS snapshot records each"
NOW=$(date +%s)
STEP=$((2 * 365 * 86400 / SNAPSHOTS))
t0=$EPOCHREALTIME
sqlite3 "$DB" >"$T/insert.log" 2>&1 <<EOF || { cat "$T/insert.log" >&2; bench_die "inserting the synthetic rows failed"; }
.bail on
PRAGMA foreign_keys = ON;
BEGIN;
CREATE TEMP TABLE proto AS SELECT * FROM instances WHERE name = 'proto';
WITH RECURSIVE seq(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM seq WHERE k < $INSTANCES)
INSERT INTO instances (name, pool_id, image, architecture, description, created_at,
                       last_used_at, state)
SELECT printf('sched%04d', k), p.pool_id, p.image, p.architecture, p.description, $NOW, 0, 1
FROM seq, proto p ORDER BY k;
CREATE TEMP TABLE synth AS SELECT id FROM instances WHERE name GLOB 'sched[0-9]*';
INSERT INTO instance_config (instance_id, key, value)
SELECT s.id, c.key, c.value FROM synth s, instance_config c
WHERE c.instance_id = (SELECT id FROM proto) AND c.key NOT GLOB 'snapshots.*';
INSERT INTO instance_config (instance_id, key, value)
SELECT s.id, k.key, k.value FROM synth s, (
  SELECT 'snapshots.schedule' AS key, '0 0 1 1 *' AS value
  UNION ALL SELECT 'snapshots.limit', '$((SNAPSHOTS * 2))'
  UNION ALL SELECT 'snapshots.expiry', '100y') k;
INSERT INTO schedule_state (instance_id, last_slot, last_run)
SELECT id, $NOW - 60, $NOW - 60 FROM synth;
WITH RECURSIVE seq(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM seq WHERE k < $SNAPSHOTS - 1)
INSERT INTO snapshots (instance_id, name, created_at, expires_at, stateful, scheduled,
                       description, state)
SELECT s.id, 'snap' || k, $NOW - 60 - ($SNAPSHOTS - 1 - k) * $STEP,
       $NOW - 60 - ($SNAPSHOTS - 1 - k) * $STEP + 100 * 365 * 86400, 0, 1, '', 1
FROM synth s, seq ORDER BY s.id, k;
COMMIT;
EOF
t1=$EPOCHREALTIME
insert_us=$((${t1/[.,]/} - ${t0/[.,]/}))
rows=$(sqlite3 -readonly "$DB" "SELECT count(*) FROM snapshots WHERE state = 1")
[ "$rows" -eq $((INSTANCES * SNAPSHOTS)) ] || bench_die "expected $((INSTANCES * SNAPSHOTS)) snapshot rows, found $rows"
db_size=$(du -k "$DB" | cut -f1)

measure big 1
big_last=$(pass_samples big)
read -r big_n big_handled big_snaps _ <<<"$big_last"
if [ "$big_n" -ne $((INSTANCES + 1)) ] || [ "$big_handled" -ne "$INSTANCES" ] ||
	[ "$big_snaps" -ne $((INSTANCES * SNAPSHOTS)) ]; then
	bench_die "the passes saw $big_last, not $((INSTANCES + 1)) instances with $((INSTANCES * SNAPSHOTS)) snapshots"
fi
grep -q "Deleted snapshot\|Took scheduled snapshot" "$LOG" && bench_die "a pass acted: see $LOG"
rows=$(sqlite3 -readonly "$DB" "SELECT count(*) FROM snapshots WHERE state = 1")
[ "$rows" -eq $((INSTANCES * SNAPSHOTS)) ] || bench_die "the passes left $rows snapshot rows"

# The dry run of a retention rule: the daemon's side alone (curl, the JSON report to
# /dev/null) and the whole command (the client parses the report and prints a table).
say "prune --dry-run with retention \"$RETENTION\", $DRY_RUNS runs each"
BODY=$(jq -cn --arg r "$RETENTION" '{dry_run: true, config: {"snapshots.retention": $r}}')
curl -sf --unix-socket "$CAIRN_DIR/unix.socket" -X POST -d "$BODY" \
	http://cairn/1.0/snapshots/prune >"$T/dry.json" || bench_die "the dry run failed"
dry_bytes=$(stat -c %s "$T/dry.json")
read -r dry_keep dry_delete < <(jq -r '[.metadata[] | .snapshots[]?.verdict] |
	"\(map(select(. == "keep")) | length) \(map(select(. == "delete")) | length)"' "$T/dry.json")
rm -f "$T/dry.json"
for i in $(seq 1 "$DRY_RUNS"); do
	timed dry_api curl -sf --unix-socket "$CAIRN_DIR/unix.socket" -X POST -d "$BODY" \
		http://cairn/1.0/snapshots/prune
	timed dry_cli cairn snapshot prune --all --dry-run -c "snapshots.retention=$RETENTION"
done
big_rss_first=$(cat "$T/big.rss_first")
big_rss_passes=$(cat "$T/big.rss_passes")
big_hwm_passes=$(cat "$T/big.hwm_passes")
big_rss_dry=$(kib VmRSS)
big_hwm_dry=$(kib VmHWM)
rows=$(sqlite3 -readonly "$DB" "SELECT count(*) FROM snapshots WHERE state = 1")
[ "$rows" -eq $((INSTANCES * SNAPSHOTS)) ] || bench_die "the dry run left $rows snapshot rows"
# Not the scheduler's, but what every client sees of such a host: `cairn list`, once.
say "cairn list, once"
timed list_big cairn list
big_rss_list=$(kib VmRSS)
big_hwm_list=$(kib VmHWM)
stop_daemon
[ -n "$PROFILE" ] && profile_reports

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
total=$((INSTANCES * SNAPSHOTS))
decide=$(median_us big_decide)
load=$(median_us big_load)
echo "# cairn snapshot scheduler benchmark"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) CPUs ($cpu), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
echo "- load average (1, 5, 15 min): $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo "- niceness: $(nice), autogroup $(sed 's/.* nice //' /proc/self/autogroup 2>/dev/null || echo -) (the daemon, the floor and the clients alike)"
echo "- kernel: $(uname -r); $(sqlite3 --version | cut -d' ' -f1-2 | sed 's/^/SQLite CLI /'); $(hyperfine --version)"
echo "- database: $INSTANCES synthetic instances + proto, $total snapshot records ($(mib "$db_size") on disk, written in $(ms "$insert_us"))"
echo "- samples: $(count big_decide) passes after the first (medians), $(count floor_sorted) floor reads between them, $DRY_RUNS dry runs"
echo
echo "| one pass over $((INSTANCES + 1)) instances, $total snapshots | cairn | floor | floor median | ratio | target | |"
echo "| --- | ---: | --- | ---: | ---: | --- | --- |"
printf '| load (instances + all snapshots) | %s | sqlite3 CLI: the same rows, joined and sorted as the daemon gets them | %s | %s |  |  |\n' \
	"$(ms "$load")" "$(ms "$(median_us floor_sorted)")" "$(ratio "$load" "$(median_us floor_sorted)")"
printf '| load (instances + all snapshots) | %s | sqlite3 CLI: the snapshot columns in table order | %s | %s |  |  |\n' \
	"$(ms "$load")" "$(ms "$(median_us floor_scan)")" "$(ratio "$load" "$(median_us floor_scan)")"
printf '| load (instances + all snapshots) | %s | sqlite3 CLI: the same scan, every column read, nothing printed | %s | %s |  |  |\n' \
	"$(ms "$load")" "$(ms "$(median_us floor_read)")" "$(ratio "$load" "$(median_us floor_read)")"
if [ "$decide" -lt 50000 ]; then verdict=met; else verdict="**missed**"; fi
printf '| decide (and act: nothing due, nothing deleted) | %s |  |  |  | < 50 ms | %s |\n' "$(ms "$decide")" "$verdict"
echo
printf -- '- decision per snapshot: %s ns; first pass after start: load %s, decide %s\n' \
	"$(awk -v us="$decide" -v n="$total" 'BEGIN { printf "%.0f", us * 1000 / n }')" \
	"$(ms "$(median_us big_load_first)")" "$(ms "$(median_us big_decide_first)")"
read -r _ _ _ sl sd <<<"$small_last"
printf -- '- the same pass over proto alone (no policy): load %s, decide %s (medians %s, %s)\n' \
	"$sl ms" "$sd ms" "$(ms "$(median_us small_load)")" "$(ms "$(median_us small_decide)")"
printf -- '- the scheduler thread in a pass (load and decide), from its schedstat: %s on a CPU, %s waiting for one (medians of %s passes)\n' \
	"$(ms "$(median_us big_cpu)")" "$(ms "$(median_us big_wait)")" "$(count big_cpu)"
printf -- '- daemon start to the end of its first pass: %s with proto alone, %s with the records\n' \
	"$(ms "$(median_us small_start)")" "$(ms "$(median_us big_start)")"
echo
echo "| cairnd memory | VmRSS | peak (VmHWM) |"
echo "| --- | ---: | ---: |"
echo "| proto alone, after the first pass | $(mib "$small_rss_first") | $(mib "$(cat "$T/small.hwm_first")") |"
echo "| proto alone, after $PASSES more passes | $(mib "$small_rss_passes") | $(mib "$small_hwm") |"
echo "| $total records, after the first pass | $(mib "$big_rss_first") | $(mib "$(cat "$T/big.hwm_first")") |"
echo "| $total records, after $PASSES more passes | $(mib "$big_rss_passes") | $(mib "$big_hwm_passes") |"
echo "| $total records, after the dry runs | $(mib "$big_rss_dry") | $(mib "$big_hwm_dry") |"
echo "| $total records, after one \`cairn list\` | $(mib "$big_rss_list") | $(mib "$big_hwm_list") |"
echo
echo "| \`prune --all --dry-run -c snapshots.retention=\"$RETENTION\"\` | median |"
echo "| --- | ---: |"
echo "| daemon: \`POST /1.0/snapshots/prune\` with curl, report of $(mib $((dry_bytes / 1024))) to /dev/null | $(ms "$(median_us dry_api)") |"
echo "| the whole command, table to /dev/null | $(ms "$(median_us dry_cli)") |"
echo
echo "Verdicts: $dry_keep keep, $dry_delete delete."
echo
echo "\`cairn list\` of the $((INSTANCES + 1)) instances (one run): $(ms "$(median_us list_big)")"
