#!/usr/bin/env bash
# The storage pool the daemon sets up, the built-in image, and importing Incus-format images.
. "$(dirname "$0")/lib.sh"
setup

out=$(as_admin cairn storage list)
check_match "storage list shows the default pool and its driver" "\| default +\| $BACKEND +\|" "$out"
info=$(as_admin cairn storage info default)
check_match "storage info: driver" "^  driver: $BACKEND\$" "$info"
check_match "storage info: space used" '^  space used: [0-9.]+[KMGT]?i?B$' "$info"
check_match "storage info: total space" '^  total space: [0-9.]+[KMGT]?i?B$' "$info"
if [ "$BACKEND" = btrfs ]; then
	check_match "storage list: the loop file is the source" "disks/default.img" "$out"
	check_eq "the pool is a btrfs mount" "btrfs" "$(stat -f -c %T "$CAIRN_DIR/storage-pools/default")"
	check_eq "the loop file is sparse" "yes" "$([ "$(du -k "$CAIRN_DIR/disks/default.img" | cut -f1)" -lt 1048576 ] && echo yes)"
fi

# A second pool: a dir pool on a directory of ours, and a btrfs pool on its own loop file.
mkdir -p "$T/pool2"
check "storage create a dir pool" as_admin cairn storage create p2 dir source="$T/pool2"
check_match "the new pool is listed" '\| p2 +\| dir +\|' "$(as_admin cairn storage list)"
check_match "storage info p2" '^  driver: dir$' "$(as_admin cairn storage info p2)"
if [ "$BACKEND" = btrfs ]; then
	check "storage create a btrfs loop pool" as_admin cairn storage create p3 btrfs size=1GiB
	check "its loop file is there" test -f "$CAIRN_DIR/disks/p3.img"
	check_eq "it is a btrfs mount" "btrfs" "$(stat -f -c %T "$CAIRN_DIR/storage-pools/p3")"
fi
check_fails "a pool name that is taken" "" as_admin cairn storage create p2 dir
check_fails "an unknown driver" "" as_admin cairn storage create p4 zfs
check_fails "a bad pool name" "" as_admin cairn storage create "bad/name" dir
check_fails "an unknown pool key" "" as_admin cairn storage create p5 dir colour=blue
check_fails "a bad size" "" as_admin cairn storage create p6 btrfs size=lots
check_fails "info of an unknown pool" "" as_admin cairn storage info nosuch
check "the failed creates made no pool" bash -c "! cairn storage list --format csv 2>/dev/null | grep -qE '^p[4-6],'"

out=$(as_admin cairn image list)
check_match "image list shows busybox" '\| busybox +\|' "$out"
show=$(as_admin cairn image show busybox)
check_match "image show is YAML with the fingerprint" '^fingerprint: "?[0-9a-f]{64}"?$' "$show"
check_match "image show has the properties" '^  os: busybox$' "$show"
check_fails "image show of an unknown image" "" as_admin cairn image show nosuch
fp=$(api "/1.0/images?recursion=1" | jq -r '.[0].fingerprint // empty' 2>/dev/null)
[ -n "$fp" ] || fp=$(api "/1.0/images?recursion=1" | jq -r '.metadata[0].fingerprint')
vol="$CAIRN_DIR/storage-pools/default/images/$fp"
check "the image has a rootfs with its own init" test -x "$vol/rootfs/sbin/init"
check "the image's busybox is a static binary" bash -c "! file -L '$vol/rootfs/bin/busybox' 2>/dev/null | grep -q dynamically || ! grep -q interpreter <(readelf -l '$vol/rootfs/bin/busybox' 2>/dev/null)"
if [ "$BACKEND" = btrfs ]; then
	check "the image is a subvolume" btrfs subvolume show "$vol"
	check "launch c1" as_admin cairn launch busybox c1
	check "an instance is a snapshot of its image" bash -c "btrfs subvolume show '$CAIRN_DIR/storage-pools/default/containers/c1' | grep -q 'Parent UUID:.*[0-9a-f]\{8\}-'"
	check "delete c1" as_admin cairn delete --force c1
fi

# An Incus unified tarball made here: metadata.yaml + rootfs/.
mk_image() { # DIR: builds a busybox rootfs and metadata into DIR
	mkdir -p "$1/rootfs/bin" "$1/rootfs/sbin" "$1/rootfs/etc" "$1/rootfs/proc" "$1/rootfs/sys" "$1/rootfs/dev" "$1/rootfs/tmp" "$1/rootfs/run"
	cp /bin/busybox "$1/rootfs/bin/busybox"
	for a in sh mount hostname sleep id ls cat; do ln -sf busybox "$1/rootfs/bin/$a"; done
	ln -sf ../bin/busybox "$1/rootfs/sbin/init"
	printf '::sysinit:/bin/mount -t tmpfs tmpfs /run\n::respawn:/bin/sleep 100000\n' >"$1/rootfs/etc/inittab"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$1/rootfs/etc/passwd"
	cat >"$1/metadata.yaml" <<YAML
architecture: $(uname -m)
creation_date: 1763740800
properties:
  description: Test image
  os: testos
  release: "1.0"
YAML
}
W="$T/work"
mkdir -p "$W/img"
mk_image "$W/img"
tar -C "$W/img" -czf "$W/good.tar.gz" metadata.yaml rootfs
tar -C "$W/img" -cJf "$W/good.tar.xz" metadata.yaml rootfs
chmod -R a+rX "$W"

out=$(as_admin cairn image import "$W/good.tar.gz" --alias testimg)
check_match "import a gzip tarball" 'Image imported with fingerprint: [0-9a-f]{12,}' "$out"
check_match "the imported image is listed with its alias and description" '\| testimg +\| [0-9a-f]+ +\|.*Test image' "$(as_admin cairn image list)"
check "launch from the imported image" as_admin cairn launch testimg t1
check_eq "t1 runs" "Running" "$(api_status t1)"
check "delete t1" as_admin cairn delete --force t1
check "import an xz tarball" as_admin cairn image import "$W/good.tar.xz" --alias testxz
check_fails "importing the same image again is refused" "" as_admin cairn image import "$W/good.tar.gz" --alias again
check_fails "an alias that exists is refused" "" as_admin cairn image import "$W/good.tar.gz" --alias testimg

images_before=$(ls "$CAIRN_DIR/storage-pools/default/images" | sort | tr '\n' ' ')
list_before=$(as_admin cairn image list --format csv)
head -c 20000 "$W/good.tar.gz" >"$W/truncated.tar.gz"
check_fails "a truncated tarball is refused" "" as_admin cairn image import "$W/truncated.tar.gz" --alias trunc

# Hostile archives, made with python's tarfile so the entries are exactly what we want.
python3 - "$W" <<'PY'
import io, sys, tarfile
w = sys.argv[1]
meta = b"architecture: x86_64\ncreation_date: 1\n"
def add_file(t, name, data):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
def add_link(t, name, target, kind=tarfile.SYMTYPE):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = target; t.addfile(i)
def make(path, entries):
    with tarfile.open(path, "w:gz") as t:
        for e in entries: e(t)
make(w + "/dotdot.tar.gz", [lambda t: add_file(t, "metadata.yaml", meta),
    lambda t: add_file(t, "rootfs/../../escaped", b"x")])
make(w + "/absolute.tar.gz", [lambda t: add_file(t, "metadata.yaml", meta),
    lambda t: add_file(t, "/tmp/escaped-abs", b"x")])
make(w + "/symlink.tar.gz", [lambda t: add_file(t, "metadata.yaml", meta),
    lambda t: add_link(t, "rootfs/evil", w + "/outside"),
    lambda t: add_file(t, "rootfs/evil/escaped", b"x")])
make(w + "/hardlink.tar.gz", [lambda t: add_file(t, "metadata.yaml", meta),
    lambda t: add_link(t, "rootfs/hl", "../../../etc/passwd", tarfile.LNKTYPE)])
make(w + "/notyaml.tar.gz", [lambda t: add_file(t, "metadata.yaml", b"architecture: [x86_64\n  : :"),
    lambda t: add_file(t, "rootfs/bin/x", b"x")])
make(w + "/nometa.tar.gz", [lambda t: add_file(t, "rootfs/bin/x", b"x")])
PY
mkdir -p "$W/outside"
chmod -R a+rX "$W"
for bad in dotdot absolute symlink hardlink notyaml nometa; do
	check_fails "hostile or broken tarball '$bad' is refused" "" as_admin cairn image import "$W/$bad.tar.gz" --alias "$bad"
done
check "nothing escaped through ../" test ! -e "$CAIRN_DIR/storage-pools/default/escaped" -a ! -e "$CAIRN_DIR/storage-pools/escaped"
check "nothing escaped through an absolute path" test ! -e /tmp/escaped-abs
check "nothing escaped through a symlink" test ! -e "$W/outside/escaped"
check_eq "bad imports left no image volume" "$images_before" "$(ls "$CAIRN_DIR/storage-pools/default/images" | sort | tr '\n' ' ')"
check_eq "bad imports left the image list as it was" "$list_before" "$(as_admin cairn image list --format csv)"

# Aliases of their own: a second name for busybox, with a description.
check "alias create" as_admin cairn image alias create tiny busybox --description "the small one"
check_match "alias list shows the alias and its description" 'tiny.*the small one' "$(as_admin cairn image alias list --format csv)"
check_eq "the API has the description" "the small one" "$(api /1.0/images/aliases/tiny | jq -r .metadata.description)"
check "launch by the new alias" as_admin cairn init tiny a1
check "delete a1" as_admin cairn delete a1
check_fails "an alias that exists is refused" "" as_admin cairn image alias create tiny busybox
check_fails "an alias of an unknown image is refused" "" as_admin cairn image alias create other nosuchimage
check "alias delete" as_admin cairn image alias delete tiny
check_fails "the deleted alias resolves no more" "" as_admin cairn init tiny a2
check_match "busybox itself is still there" '\| busybox +\|' "$(as_admin cairn image list)"

# Instances on the second pool: the image comes along the first time.
check "launch on the dir pool p2" as_admin cairn launch testimg p2c -s p2
check_eq "p2c runs" "Running" "$(api_status p2c)"
check "its volume is on p2" test -d "$T/pool2/containers/p2c/rootfs"
fp_test=$(api /1.0/images/aliases/testimg | jq -r .metadata.target)
check "the image was brought to p2" test -d "$T/pool2/images/$fp_test/rootfs"
check_match "storage info p2 lists it" '^  - p2c$' "$(as_admin cairn storage info p2)"
check "a second instance on p2 reuses the copy" as_admin cairn init testimg p2d -s p2
if [ "$BACKEND" = btrfs ]; then
	check "launch on the btrfs pool p3" as_admin cairn launch busybox p3c -s p3
	check "p3c is a snapshot on p3" bash -c "btrfs subvolume show '$CAIRN_DIR/storage-pools/p3/containers/p3c' | grep -q 'Parent UUID:.*[0-9a-f]\{8\}-'"
	check "delete p3c" as_admin cairn delete --force p3c
fi
check_fails "launch on an unknown pool" "" as_admin cairn launch busybox nop -s nosuchpool
check "delete the p2 instances" as_admin cairn delete --force p2c p2d
check "delete the image" as_admin cairn image delete testimg
check "deleting an image removes its copies on other pools" test ! -e "$T/pool2/images/$fp_test"

check "delete an image by alias" as_admin cairn image delete testxz
check_fails "the deleted alias is gone" "" as_admin cairn launch testxz x1
check_fails "deleting an unknown image" "" as_admin cairn image delete nosuch

finish
