#!/usr/bin/env bash
# Benchmark of snapshots, in one run on one machine, on the default btrfs pool:
#
#   cairn snapshot create / restore / delete with 10 MB and with 2 GB in the instance (eight
#   files either way),
#   against raw `btrfs subvolume snapshot` / `btrfs subvolume delete` of the same volume;
#   `cairn snapshot list` and `cairn info` of an instance with 1,000 snapshots.
#
# Usage: sudo bash bench/snapshots.sh > result.md
# The programs come from build/ (or CAIRN_BIN). BENCH_SNAP_RUNS sets the samples per operation,
# BENCH_SNAP_MANY the snapshots of the list test. Progress goes to stderr; stdout is a Markdown
# report. Takes about two minutes (most of it writing 2 GB and taking 1,000 snapshots).

set -u

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${BENCH_SNAP_RUNS:-15}
MANY=${BENCH_SNAP_MANY:-1000}
LIST_RUNS=${BENCH_SNAP_LIST_RUNS:-20}

bench_setup
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
POOL="$CAIRN_DIR/storage-pools/default"

# fill NAME MB: writes MB megabytes into the instance's rootfs as the same eight files whatever
# the size, so that only the bytes differ between the two instances: the claim under test is
# that a snapshot's cost does not follow the amount of data. (More files do cost more: a
# snapshot commits a btrfs transaction whose work follows the metadata, for raw btrfs alike.)
fill() {
	local dir="$POOL/containers/$1/rootfs/root/data" each=$(($2 / 8)) i
	mkdir -p "$dir"
	for i in 1 2 3 4 5 6 7 8; do
		head -c "$((each * 1024 * 1024 + ($2 % 8) * 1024 * 1024 / 8))" /dev/urandom >"$dir/f$i"
	done
	sync
}

for size in 10 2048; do
	name=s$size
	say "instance with $size MB"
	quiet cairn init busybox "$name"
	fill "$name" "$size"
	vol="$POOL/containers/$name"
	# In the pool itself: a snapshot cannot cross filesystems.
	raw="$POOL/raw-$name"
	quiet btrfs subvolume create "$raw"
	quiet cairn snapshot "$name" base
	say "create / delete / restore, $RUNS runs each, interleaved with the raw btrfs commands"
	for i in $(seq 1 "$RUNS"); do
		timed "create_$size" cairn snapshot "$name" "b$i"
		timed "raw_create_$size" btrfs subvolume snapshot -r "$vol" "$raw/b$i"
		timed "restore_$size" cairn snapshot restore "$name" base
		timed "raw_restore_snap_$size" btrfs subvolume snapshot "$POOL/containers-snapshots/$name/base" "$raw/w$i"
		timed "raw_restore_del_$size" btrfs subvolume delete "$raw/w$i"
		timed "delete_$size" cairn snapshot delete "$name" "b$i"
		timed "raw_delete_$size" btrfs property set -ts "$raw/b$i" ro false
		timed "raw_delete2_$size" btrfs subvolume delete "$raw/b$i"
	done
	add_samples "raw_restore_$size" "raw_restore_snap_$size" "raw_restore_del_$size"
	add_samples "raw_del_$size" "raw_delete_$size" "raw_delete2_$size"
	quiet btrfs subvolume delete "$raw"
done

say "an instance with $MANY snapshots"
quiet cairn init busybox many
for i in $(seq 1 "$MANY"); do
	quiet cairn snapshot many "m$i"
done
hyperfine_median list_many "$LIST_RUNS" "$T/bin/cairn snapshot list many"
hyperfine_median info_many "$LIST_RUNS" "$T/bin/cairn info many"
hyperfine_median list_instances "$LIST_RUNS" "$T/bin/cairn list"

row() {
	local op=$1 cl=$2 ftext=$3 fl=$4 ttext=$5 tmax=$6
	local c f verdict=""
	c=$(median_us "$cl")
	f=$(median_us "$fl")
	if [ -n "$tmax" ]; then
		if awk -v c="$c" -v f="$f" -v m="$tmax" 'BEGIN { exit !(c <= f * m) }'; then
			verdict="met"
		else
			verdict="**missed**"
		fi
	fi
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$op" "$(ms "$c")" "$ftext" "$(ms "$f")" \
		"$(ratio "$c" "$f")" "$ttext" "$verdict"
}

abs_row() {
	local op=$1 l=$2 max_ms=$3
	local c verdict
	c=$(median_us "$l")
	if [ "$c" -le $((max_ms * 1000)) ]; then verdict="met"; else verdict="**missed**"; fi
	printf '| %s | %s | < %d ms | %s |\n' "$op" "$(ms "$c")" "$max_ms" "$verdict"
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "# cairn snapshot benchmark"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) CPUs ($cpu), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
echo "- load average (1, 5, 15 min): $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo "- kernel: $(uname -r); $(btrfs --version | head -1); $(hyperfine --version)"
echo "- samples: $RUNS per operation and size (medians), $LIST_RUNS hyperfine runs for the lists"
echo
echo "| operation | cairn | floor | floor median | ratio | target | |"
echo "| --- | ---: | --- | ---: | ---: | --- | --- |"
for size in 10 2048; do
	label="$size MB"
	[ "$size" = 2048 ] && label="2 GB"
	row "\`cairn snapshot create\`, $label" "create_$size" "\`btrfs subvolume snapshot -r\`" "raw_create_$size" "<= 3x" 3
	row "\`cairn snapshot restore\`, $label" "restore_$size" "writable \`btrfs subvolume snapshot\` + \`btrfs subvolume delete\`" "raw_restore_$size" "<= 3x" 3
	row "\`cairn snapshot delete\`, $label" "delete_$size" "\`btrfs property set ro false\` + \`btrfs subvolume delete\`" "raw_del_$size" "<= 3x" 3
done
echo
echo "Same time for both sizes (2 GB / 10 MB):"
echo
for op in create restore delete; do
	echo "- $op: $(ratio "$(median_us "${op}_2048")" "$(median_us "${op}_10")")"
done
echo
echo "| with $MANY snapshots | median | target | |"
echo "| --- | ---: | --- | --- |"
abs_row "\`cairn snapshot list\`" list_many 100
abs_row "\`cairn info\`" info_many 100
abs_row "\`cairn list\` (counts them)" list_instances 100
