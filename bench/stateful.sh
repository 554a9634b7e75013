#!/usr/bin/env bash
# Benchmark of stateful snapshots, in one run on one machine, on the default btrfs pool, with a
# busybox instance running a small counter loop (a daemonized shell writing a file every 0.2 s):
#
#   cairn snapshot create --stateful and cairn snapshot restore --stateful, cairn stop
#   --stateful and cairn start (resume),
#   against lxc-checkpoint (dump, leaving the container running) and lxc-stop -k +
#   lxc-checkpoint -r (restore) of the same container, with the same lxc.conf and the same CRIU.
#
# Usage: sudo CAIRN_CRIU=/path/to/criu bash bench/stateful.sh > result.md
# (or with a criu of version 4.1 or newer on PATH). The programs come from build/ (or CAIRN_BIN);
# BENCH_STATEFUL_RUNS sets the samples per operation (default 10). Progress goes to stderr;
# stdout is a Markdown report. Takes about a minute.

set -u

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${BENCH_STATEFUL_RUNS:-10}

bench_setup
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
command -v lxc-checkpoint >/dev/null || bench_die "lxc-checkpoint is not installed"
verdict=$(cairn doctor | sed -n 's/^Stateful snapshots: //p')
[ "$verdict" = "possible here" ] ||
	bench_die "stateful snapshots are $verdict (set CAIRN_CRIU=/path/to/criu, CRIU 4.1 or newer)"
CRIU=$(cairn doctor | sed -n 's/^CRIU: \([^ ]*\).*/\1/p')
CRIU_VERSION=$(cairn doctor | sed -n 's/^CRIU version: //p')
LOCK=$(cairn doctor | sed -n 's/^Network lock: \([a-z]*\).*/\1/p')

name=st
say "instance $name with migration.stateful=true and a counter"
quiet cairn launch busybox "$name" -c migration.stateful=true
printf '#!/bin/sh\ni=0\nwhile true; do i=$((i+1)); echo $i >/root/counter; sleep 0.2; done\n' \
	>"$POOL/containers/$name/rootfs/root/counter.sh"
chmod 0755 "$POOL/containers/$name/rootfs/root/counter.sh"
quiet cairn exec "$name" -- start-stop-daemon -S -b -x /root/counter.sh
sleep 1

LXC=(-P "$CAIRN_DIR/containers" -n "$name" --rcfile "$CAIRN_DIR/logs/$name/lxc.conf")
# lxc-checkpoint runs `criu` from PATH, as cairn's helpers do; without iptables-restore CRIU
# locks the network with nftables, through the config file cairn writes beside the instance's log.
LXC_ENV=(env "PATH=$(dirname "$CRIU"):$PATH")
[ "$LOCK" = nftables ] && LXC_ENV+=("CRIU_CONFIG_FILE=$CAIRN_DIR/logs/$name/criu.conf")

counter() { cat "$POOL/containers/$name/rootfs/root/counter" 2>/dev/null; }

say "dump / restore, $RUNS runs each, cairn and lxc-checkpoint interleaved"
for i in $(seq 1 "$RUNS"); do
	timed cairn_dump cairn snapshot create "$name" "s$i" --stateful
	timed cairn_restore cairn snapshot restore "$name" "s$i" --stateful
	[ -z "${size_kb:-}" ] &&
		size_kb=$(du -sk "$POOL/containers-snapshots/$name/s$i/state" | cut -f1)
	quiet cairn snapshot delete "$name" "s$i"

	dir="$T/lxc-dump-$i"
	timed lxc_dump "${LXC_ENV[@]}" lxc-checkpoint "${LXC[@]}" -D "$dir"
	timed lxc_stop lxc-stop "${LXC[@]}" -k
	# An unprivileged container's restored processes open their images before their ids are
	# mapped: cairn opens the dump up the same way (instance/instance.c, open_dump).
	chmod 0755 "$dir" && chmod 0644 "$dir"/*
	timed lxc_restore "${LXC_ENV[@]}" lxc-checkpoint -r "${LXC[@]}" -D "$dir"
	rm -rf "$dir"

	timed cairn_stop_stateful cairn stop "$name" --stateful
	timed cairn_start_resume cairn start "$name"
done
add_samples lxc_stop_restore lxc_stop lxc_restore
before=$(counter)
sleep 1
[ "$(counter)" -gt "$before" ] || bench_die "the counter no longer runs after the last resume"

row() {
	printf '| %s | %s | %s | %s | %s |\n' "$1" "$(ms "$(median_us "$2")")" "$3" \
		"$(ms "$(median_us "$4")")" "$(ratio "$(median_us "$2")" "$(median_us "$4")")"
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "# cairn stateful snapshot benchmark"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) CPUs ($cpu), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
echo "- load average (1, 5, 15 min): $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo "- kernel: $(uname -r); CRIU $CRIU_VERSION (network lock: $LOCK); $(lxc-start --version 2>/dev/null | sed 's/^/LXC /')"
echo "- samples: $RUNS per operation (medians); the dump of the busybox instance is ${size_kb:-?} KiB"
echo
echo "| operation | cairn | floor | floor median | ratio |"
echo "| --- | ---: | --- | ---: | ---: |"
row "dump: \`cairn snapshot create --stateful\` (the instance runs on)" cairn_dump \
	"\`lxc-checkpoint\` (leaves it running)" lxc_dump
row "restore: \`cairn snapshot restore --stateful\` (of the running instance)" cairn_restore \
	"\`lxc-stop -k\` + \`lxc-checkpoint -r\`" lxc_stop_restore
row "\`cairn stop --stateful\`" cairn_stop_stateful "\`lxc-checkpoint\`" lxc_dump
row "\`cairn start\` (resumes the checkpoint)" cairn_start_resume "\`lxc-checkpoint -r\`" lxc_restore
