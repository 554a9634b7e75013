#!/usr/bin/env bash
# Benchmark of the web page's snapshot timeline (cairn webui), in one run on one machine:
#
#   drawing the timeline of an instance with 1,000 real snapshots (their objects, next slots
#   and prune verdicts as the daemon gives them), in headless Chromium, up to a forced layout
#   vs  the floors measured in the same page: parsing the same snapshots' JSON, and drawing an
#       empty timeline
#
# Usage: sudo bash bench/webui.sh > result.md
# The programs come from build/ (or CAIRN_BIN); BENCH_WEBUI_SNAPSHOTS sets the count. Needs
# chromium, chromium-driver and python3-selenium (scripts/deps.sh). Progress goes to stderr;
# stdout is a Markdown report. Takes about two minutes, most of it making the snapshots.

set -u

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${BENCH_WEBUI_SNAPSHOTS:-1000}
[ -x /usr/bin/chromedriver ] || bench_die "chromium-driver is not installed (scripts/deps.sh)"

WEBUI_PID=
bench_setup
trap 'set +e; [ -n "$WEBUI_PID" ] && kill -INT "$WEBUI_PID" 2>/dev/null && wait "$WEBUI_PID"; bench_cleanup' EXIT

say "launching b1 and taking $N snapshots"
cairn init busybox b1 >/dev/null || bench_die "init failed"
cairn config set b1 snapshots.schedule="0 */6 * * *" || bench_die "config set failed"
# Half manual, half scheduled (snapshot auto), a third of the manual ones with an expiry. No
# retention is set (the daemon would apply it at once): the page previews one, as its editor
# does with an unsaved rule, so that the verdicts go both ways.
for i in $(seq 1 "$N"); do
	if [ $((i % 2)) -eq 0 ]; then
		cairn snapshot create b1 "m$i" $([ $((i % 3)) -eq 0 ] && echo --expiry 30d) >/dev/null
	else
		cairn snapshot auto b1 >/dev/null
	fi || bench_die "snapshot $i failed"
done
count=$(cairn snapshot list b1 --format csv | wc -l)
say "b1 has $count snapshots"

cairn webui --no-browser >"$T/webui.out" 2>&1 &
WEBUI_PID=$!
for _ in $(seq 1 50); do
	URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*/?token=[0-9a-f]*' "$T/webui.out") && break
	sleep 0.1
done
[ -n "${URL:-}" ] || bench_die "cairn webui printed no URL"

say "timing the timeline in Chromium"
/usr/bin/python3 "$BENCH_ROOT/tests/e2e/webui.py" bench "$URL" b1 "$T/times.json" ||
	bench_die "the browser run failed"

median() { jq -r "[.$1[]] | sort | .[length/2|floor] * 10 | round / 10" "$T/times.json"; }
draw=$(median draw)
empty=$(median empty)
parse=$(median parse)
load=$(jq -r '.load * 10 | round / 10' "$T/times.json")
marks=$(jq -r .marks "$T/times.json")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'; }

cat <<EOF
## Web page: the snapshot timeline ($(date -u +%Y-%m-%d))

\`bench/webui.sh\`: an instance with $count snapshots (half manual, half scheduled, a third of
the manual ones with an expiry; schedule \`0 */6 * * *\`, retention \`1H\` previewed), its
timeline drawn by the page that \`cairn webui\` serves, in headless Chromium $(chromium --version 2>/dev/null | awk '{print $2}'), median of 7 draws,
each up to a forced layout; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg).

| what | ms | ratio to the JSON floor |
| --- | ---: | ---: |
| draw the timeline of $count snapshots ($marks marks, with expiry bars, next slots and prune verdicts) | $draw | $(ratio "$draw" "$parse") |
| floor: \`JSON.parse\` of the same snapshot objects | $parse | 1.0 |
| floor: draw an empty timeline | $empty | $(ratio "$empty" "$parse") |
| (for reference) the page's whole load of the instance: four API calls through the proxy, then the draw and the table | $load | $(ratio "$load" "$parse") |
EOF
