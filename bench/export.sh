#!/usr/bin/env bash
# Benchmark of cairn export and import, in one run on one machine, on the default btrfs pool:
#
#   cairn export of a stopped 1 GiB instance (half random bytes, half text) with --compression
#   none, gzip and zstd, and --optimized-storage (btrfs send streams, uncompressed) (the file
#   written by the client, as a user gets it), against the floors
#   of the same run: `tar -c` of the same tree (plain, and piped to gzip and zstd -T0) and
#   `btrfs send` of a read-only snapshot of the same subvolume, each to a file;
#   cairn import of the none, zstd and optimized exports, against `tar -x` of the plain tarball
#   into a new subvolume of the same pool and `btrfs receive` of the send stream.
#
# Usage: sudo bash bench/export.sh > result.md
# One sample per operation (each moves a gigabyte); the page cache is dropped before each, so
# every run reads from the disk. Progress goes to stderr; stdout is a Markdown report. Takes a
# few minutes.

set -u

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_setup
POOL="$CAIRN_DIR/storage-pools/default"
OUT="$T/out"
mkdir -p "$OUT" "$T/samples"
cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }

say "making a 1 GiB instance"
quiet cairn init busybox big
ROOT="$POOL/containers/big/rootfs"
mkdir -p "$ROOT/data"
for i in 1 2 3 4; do
	head -c $((128 << 20)) /dev/urandom >"$ROOT/data/random$i"
	base64 -w 76 "$ROOT/data/random$i" | head -c $((128 << 20)) >"$ROOT/data/text$i"
done
# Owned by the container's root, as files it wrote itself would be.
base=$(stat -c %u "$ROOT")
chown -R "$base:$base" "$ROOT/data"
sync

for comp in none gzip zstd; do
	say "cairn export --compression $comp"
	cold
	timed "export-$comp" cairn export big "$OUT/big-$comp.backup" --compression "$comp" -q
done
say "cairn export --optimized-storage"
cold
timed export-optimized cairn export big "$OUT/big-optimized.backup" --optimized-storage \
	--compression none -q
say "floors: tar, tar | gzip, tar | zstd -T0, btrfs send"
cold
timed floor-tar tar -C "$ROOT" --numeric-owner --xattrs --acls -cf "$OUT/tree.tar" .
cold
timed floor-tar-gzip sh -c "tar -C '$ROOT' --numeric-owner --xattrs --acls -cf - . | gzip >'$OUT/tree.tar.gz'"
cold
timed floor-tar-zstd sh -c "tar -C '$ROOT' --numeric-owner --xattrs --acls -cf - . | zstd -q -T0 >'$OUT/tree.tar.zst'"
quiet btrfs subvolume snapshot -r "$POOL/containers/big" "$POOL/containers/.bench-ro"
cold
timed floor-send sh -c "btrfs send -q '$POOL/containers/.bench-ro' >'$OUT/send.bin'"

for comp in none zstd optimized; do
	say "cairn import ($comp)"
	cold
	timed "import-$comp" cairn import "$OUT/big-$comp.backup" "im-$comp" -q
	quiet cairn delete "im-$comp"
done
say "floors: tar -x, btrfs receive"
quiet btrfs subvolume create "$POOL/containers/.bench-x"
cold
timed floor-untar tar -C "$POOL/containers/.bench-x" --numeric-owner --xattrs --acls -xf "$OUT/tree.tar"
mkdir -p "$POOL/containers/.bench-recv"
btrfs subvolume delete "$POOL/containers/.bench-ro" >/dev/null
cold
timed floor-receive btrfs receive -q -f "$OUT/send.bin" "$POOL/containers/.bench-recv"
btrfs subvolume delete "$POOL/containers/.bench-x" "$POOL/containers/.bench-recv/.bench-ro" >/dev/null 2>&1

sizes() { stat -c %s "$1" | awk '{ printf "%.0f MiB", $1 / 1048576 }'; }
row() { # LABEL WHAT FLOOR_LABEL FILE
	local t f
	t=$(median_us "$1")
	f=$(median_us "$3")
	echo "| $2 | $(ms "$t") | $(ratio "$t" "$f") of $(echo "$3" | sed 's/^floor-//') ($(ms "$f")) | ${4:+$(sizes "$4")} |"
}
echo "Run $(date -u +%Y-%m-%d), $(nproc) cores, load before $(cut -d' ' -f1-3 /proc/loadavg); 1 GiB instance (512 MiB random, 512 MiB base64 text), caches dropped before each step, one sample each."
echo
echo "| operation | time | against the floor | file |"
echo "| --- | --- | --- | --- |"
row export-none "cairn export --compression none" floor-tar "$OUT/big-none.backup"
row export-gzip "cairn export (gzip, the default)" floor-tar-gzip "$OUT/big-gzip.backup"
row export-zstd "cairn export --compression zstd" floor-tar-zstd "$OUT/big-zstd.backup"
row export-none "cairn export --compression none, against btrfs send" floor-send "$OUT/send.bin"
row export-optimized "cairn export --optimized-storage --compression none" floor-send "$OUT/big-optimized.backup"
row import-none "cairn import (none)" floor-untar ""
row import-zstd "cairn import (zstd)" floor-untar ""
row import-none "cairn import (none), against btrfs receive" floor-receive ""
row import-optimized "cairn import (optimized)" floor-receive ""
