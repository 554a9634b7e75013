#!/usr/bin/env bash
# Image imports that must neither corrupt nor fill the pool, and images that are not what they
# say: a full pool refuses an import and keeps nothing of it, a decompression bomb stops at the
# pool's free space at once, a rootfs or templates entry that is a symlink is refused, and the
# file API never follows an instance's rootfs that became a symlink to the host.
. "$(dirname "$0")/lib.sh"
setup

POOL="$CAIRN_DIR/storage-pools/default"
W="$T/work"
mkdir -p "$W"

# The dir backend's default pool sits on the file system that holds $T: give it a small file
# system of its own (a loop-mounted ext4 without reserved blocks) so that filling it touches
# nothing else. The btrfs pool is its own 3 GiB loop file already.
if [ "$BACKEND" = dir ]; then
	stop_daemon
	truncate -s 512M "$T/dirpool.img"
	mkfs.ext4 -q -F -m 0 "$T/dirpool.img"
	mv "$POOL" "$T/pool-old"
	mkdir "$POOL"
	mount -o loop "$T/dirpool.img" "$POOL"
	rmdir "$POOL/lost+found"
	chmod --reference="$T/pool-old" "$POOL"
	cp -a "$T/pool-old/." "$POOL/"
	rm -rf "$T/pool-old"
	start_daemon
fi

# Bytes the unprivileged view of the pool has free.
pool_free() {
	[ "$BACKEND" = btrfs ] && btrfs filesystem sync "$POOL" >/dev/null 2>&1
	sync -f "$POOL"
	stat -f -c '%a %S' "$POOL" | awk '{ printf "%d\n", $1 * $2 }'
}

# fill_pool BYTES: preallocated files in the pool's mount leave about BYTES free. btrfs hands
# out space by chunks, so a single exact request may fail: fill in rounds, halving on failure.
fill_pool() {
	rm -f "$POOL"/filler.*
	local i free size
	for i in $(seq 1 20); do
		free=$(pool_free)
		size=$((free - $1))
		[ "$size" -gt $((1024 * 1024)) ] || return 0
		fallocate -l "$size" "$POOL/filler.$i" 2>/dev/null ||
			fallocate -l $((size / 2)) "$POOL/filler.$i" 2>/dev/null
	done
}

unfill_pool() {
	rm -f "$POOL"/filler.*
	pool_free >/dev/null
}

images_dir() {
	ls -A "$POOL/images" 2>/dev/null | sort | tr '\n' ' '
}

# An image of 26 MiB in a tarball of 26 MiB (incompressible data), and one of 50 MiB in a
# tarball of 3 MiB (mostly text that compresses well).
mkdir -p "$W/img/rootfs/bin" "$W/img/rootfs/sbin" "$W/img/rootfs/etc" "$W/img/rootfs/data"
cp /bin/busybox "$W/img/rootfs/bin/busybox"
ln -sf busybox "$W/img/rootfs/bin/sh"
ln -sf ../bin/busybox "$W/img/rootfs/sbin/init"
head -c $((24 * 1024 * 1024)) /dev/urandom >"$W/img/rootfs/data/blob"
cat >"$W/img/metadata.yaml" <<YAML
architecture: $(uname -m)
creation_date: 1763740800
properties:
  description: Big image
  os: bigos
  release: "1.0"
YAML
tar -C "$W/img" -czf "$W/big.tar.gz" metadata.yaml rootfs
mkdir -p "$W/img2/rootfs/data"
cp -a "$W/img/metadata.yaml" "$W/img/rootfs" "$W/img2/"
head -c $((1024 * 1024)) /dev/urandom >"$W/img2/rootfs/data/blob"
yes "a line of text that compresses well" | head -c $((48 * 1024 * 1024)) >"$W/img2/rootfs/data/text"
# The big file last, as a full pool once met it: nothing after it fails on its own.
tar -C "$W/img2" -czf "$W/packed.tar.gz" metadata.yaml rootfs/bin rootfs/sbin rootfs/etc \
	rootfs/data/blob rootfs/data/text
diag "packed: $(stat -c %s "$W/packed.tar.gz") bytes of gzip for 50 MiB"

# A decompression bomb: one file of 2 GiB of zeros (stored whole, not as a sparse entry),
# and one of 16 files of 64 MiB each, so that no single entry is larger than the free space.
mkdir -p "$W/bomb/rootfs" "$W/bomb2/rootfs"
cp "$W/img/metadata.yaml" "$W/bomb/metadata.yaml"
cp "$W/img/metadata.yaml" "$W/bomb2/metadata.yaml"
truncate -s 2G "$W/bomb/rootfs/zero"
for i in $(seq 1 16); do truncate -s 64M "$W/bomb2/rootfs/zero$i"; done
tar -C "$W/bomb" -cf - metadata.yaml rootfs | zstd -q -T0 -3 -o "$W/bomb.tar.zst"
tar -C "$W/bomb2" -cf - metadata.yaml rootfs | xz -T0 -1 >"$W/bomb2.tar.xz"
rm -rf "$W/bomb" "$W/bomb2"
diag "bomb: $(stat -c %s "$W/bomb.tar.zst") bytes of zstd for 2 GiB; bomb2: $(stat -c %s "$W/bomb2.tar.xz") bytes of xz for 1 GiB"

# Images whose top-level entries are not what they say, made with python's tarfile.
python3 - "$W" <<'PY'
import io, sys, tarfile
w = sys.argv[1]
meta = b"architecture: x86_64\ncreation_date: 1\n"
def f(t, name, data):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
def d(t, name):
    i = tarfile.TarInfo(name); i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
def l(t, name, target):
    i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target; t.addfile(i)
def make(name, entries):
    with tarfile.open(w + "/" + name + ".tar.gz", "w:gz") as t:
        for e in entries: e(t)
make("rootfs-link", [lambda t: f(t, "metadata.yaml", meta), lambda t: l(t, "rootfs", "/")])
make("rootfs-link-dot", [lambda t: f(t, "metadata.yaml", meta), lambda t: l(t, "./rootfs", "/etc")])
make("rootfs-link-late", [lambda t: f(t, "metadata.yaml", meta), lambda t: f(t, "rootfs/x", b"x"),
    lambda t: l(t, "rootfs", "/")])
make("rootfs-file", [lambda t: f(t, "metadata.yaml", meta), lambda t: f(t, "rootfs", b"x")])
make("templates-link", [lambda t: f(t, "metadata.yaml", meta), lambda t: d(t, "rootfs"),
    lambda t: f(t, "rootfs/x", b"x"), lambda t: l(t, "templates", "/etc")])
PY
chmod -R a+rX "$W"

# (a) A nearly full pool: the import is refused and leaves nothing, and works once there is room.
# With a few MiB free the upload itself does not fit; with 32 MiB free it does, and the unpack
# must stop.
images_before=$(images_dir)
list_before=$(as_admin cairn image list --format csv)
fill_pool $((4 * 1024 * 1024))
diag "free in the pool after filling: $(pool_free) bytes"
err=$(as_admin cairn image import "$W/big.tar.gz" --alias big 2>&1 >/dev/null)
rc=$?
check "an import into a full pool is refused" test "$rc" -ne 0
check_match "... saying the upload does not fit the pool" "^Error: The request body .* is larger than the free space of its storage pool" "$err"
check_eq "... and left no image volume" "$images_before" "$(images_dir)"
check_eq "... and left the image list as it was" "$list_before" \
	"$(as_admin cairn image list --format csv)"
fill_pool $((32 * 1024 * 1024))
diag "free in the pool after filling: $(pool_free) bytes"
err=$(as_admin cairn image import "$W/packed.tar.gz" --alias packed 2>&1 >/dev/null)
rc=$?
check "an image that unpacks to more than the free space is refused" test "$rc" -ne 0
check_match "... saying there is not enough space" "^Error: .*[Nn]ot enough space" "$err"
diag "$err"
check_eq "... and left no image volume" "$images_before" "$(images_dir)"
check_eq "... and left the image list as it was" "$list_before" \
	"$(as_admin cairn image list --format csv)"
unfill_pool
out=$(as_admin cairn image import "$W/big.tar.gz" --alias big 2>&1)
check_match "the same import works once there is room" 'Image imported with fingerprint: [0-9a-f]{12,}' "$out"
fp=$(api /1.0/images/aliases/big | jq -r '.metadata.target // empty')
check "the imported blob is whole" cmp "$W/img/rootfs/data/blob" "$POOL/images/$fp/rootfs/data/blob"
out=$(as_admin cairn image import "$W/packed.tar.gz" --alias packed 2>&1)
check_match "so does the other one" 'Image imported with fingerprint: [0-9a-f]{12,}' "$out"
fp=$(api /1.0/images/aliases/packed | jq -r '.metadata.target // empty')
check "its data is whole" cmp "$W/img2/rootfs/data/text" "$POOL/images/$fp/rootfs/data/text"
check "delete the imported images" as_admin cairn image delete big packed

# (b) Decompression bombs on a pool with less free space than they unpack to.
images_before=$(images_dir)
list_before=$(as_admin cairn image list --format csv)
fill_pool $((200 * 1024 * 1024))
free_before=$(pool_free)
diag "free in the pool before the bombs: $free_before bytes"
start=$(date +%s%N)
check_fails "a 2 GiB zstd bomb is refused" "" as_admin cairn image import "$W/bomb.tar.zst" --alias bomb
ms=$((($(date +%s%N) - start) / 1000000))
diag "the 2 GiB bomb was refused in $ms ms"
check "... quickly (under 5 s)" test "$ms" -lt 5000
err=$(as_admin cairn image import "$W/bomb.tar.zst" --alias bomb 2>&1 >/dev/null)
check_match "the error names the space" "^Error: .*[Nn]ot enough space" "$err"
diag "$err"
start=$(date +%s%N)
err=$(as_admin cairn image import "$W/bomb2.tar.xz" --alias bomb2 2>&1 >/dev/null)
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
check "a bomb of many 64 MiB files is refused" test "$rc" -ne 0
check_match "... saying there is not enough space" "^Error: .*[Nn]ot enough space" "$err"
diag "the 16 x 64 MiB bomb was refused in $ms ms"
check "... within 30 s" test "$ms" -lt 30000
check_eq "the bombs left no image volume" "$images_before" "$(images_dir)"
check_eq "the bombs left the image list as it was" "$list_before" \
	"$(as_admin cairn image list --format csv)"
free_after=$(pool_free)
check "the bombs gave the space back (within 16 MiB)" \
	test $((free_before - free_after)) -lt $((16 * 1024 * 1024))
unfill_pool

# (c) Top-level entries that are not real directories.
images_before=$(images_dir)
list_before=$(as_admin cairn image list --format csv)
for bad in rootfs-link rootfs-link-dot rootfs-link-late rootfs-file templates-link; do
	err=$(as_admin cairn image import "$W/$bad.tar.gz" --alias "$bad" 2>&1 >/dev/null)
	rc=$?
	check "image '$bad' is refused" test "$rc" -ne 0
	case $bad in
	templates-*) want='"templates".*not a directory' ;;
	*) want='"rootfs".*not a directory' ;;
	esac
	check_match "... with a clear error" "^Error: .*$want" "$err"
done
check_eq "the refused images left no image volume" "$images_before" "$(images_dir)"
check_eq "the refused images left the image list as it was" "$list_before" \
	"$(as_admin cairn image list --format csv)"

# The file API opens an instance's rootfs without following a symlink: an instance whose rootfs
# became a link to a host directory (as an image of an older version could make it) shows
# nothing of the host.
mkdir -p "$T/host/etc"
echo host-secret >"$T/host/etc/shadow"
chmod -R a+rX "$T/host"
check "init c1" as_admin cairn init busybox c1
vol="$POOL/containers/c1"
mv "$vol/rootfs" "$vol/rootfs.real"
ln -s "$T/host" "$vol/rootfs"
out=$(as_admin cairn file pull c1/etc/shadow - 2>&1)
rc=$?
check "file pull through a rootfs symlink fails" test "$rc" -ne 0
check_match "... with an error" "^Error: " "$out"
check "... and shows nothing of the host" bash -c "! grep -q host-secret <<<'$out'"
check_fails "file push through a rootfs symlink fails" "" \
	as_admin cairn file push "$W/img/metadata.yaml" c1/etc/pushed
check "... and writes nothing on the host" test ! -e "$T/host/etc/pushed"
check_fails "file delete through a rootfs symlink fails" "" as_admin cairn file delete c1/etc/shadow
check "... and deletes nothing on the host" test -e "$T/host/etc/shadow"
rm "$vol/rootfs"
mv "$vol/rootfs.real" "$vol/rootfs"
check_eq "with its real rootfs back, file pull works" "$(cat "$vol/rootfs/etc/passwd")" \
	"$(as_admin cairn file pull c1/etc/passwd -)"
check "delete c1" as_admin cairn delete c1

finish
