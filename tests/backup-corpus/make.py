#!/usr/bin/env python3
"""Writes the hostile backup tarballs that tests/e2e/87-export-import.sh imports (and the unpack
fuzz target starts from): each must be refused with nothing written outside the new instance.
Run from this directory: python3 make.py. The bomb (bomb.tar.zst) needs the zstd program."""
import io
import os
import subprocess
import tarfile

INDEX = """name: evil
backend: btrfs
pool: default
optimized: false
type: container
snapshots: [%s]
config:
  container:
    name: evil
    architecture: x86_64
    config: {}
    devices: {}
    profiles: [default]
"""


def index(snaps=()):
    return (INDEX % ", ".join(snaps)).encode()


def add_file(t, name, data=b"", mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    t.addfile(info, io.BytesIO(data))


def add_dir(t, name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    t.addfile(info)


def add_link(t, name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    t.addfile(info)


def write(path, build, snaps=()):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        add_file(t, "backup/index.yaml", index(snaps))
        build(t)


def rootfs(t, prefix="backup/container"):
    add_dir(t, prefix)
    add_dir(t, prefix + "/rootfs")
    add_dir(t, prefix + "/rootfs/etc")
    add_file(t, prefix + "/rootfs/etc/hostname", b"evil\n")


def dotdot(t):
    rootfs(t)
    add_file(t, "backup/container/rootfs/../../../../../../tmp/cairn-evil-dotdot", b"x")


def absolute(t):
    rootfs(t)
    add_file(t, "/tmp/cairn-evil-absolute", b"x")


def symlink_out(t):
    rootfs(t)
    add_link(t, "backup/container/rootfs/out", "/tmp")
    add_file(t, "backup/container/rootfs/out/cairn-evil-symlink", b"x")


def hardlink_out(t):
    rootfs(t)
    add_link(t, "backup/container/rootfs/passwd", "/etc/passwd", tarfile.LNKTYPE)


def hardlink_other_tree(t):
    add_dir(t, "backup/snapshots/s0")
    add_dir(t, "backup/snapshots/s0/rootfs")
    add_file(t, "backup/snapshots/s0/rootfs/secret", b"s0")
    rootfs(t)
    add_link(t, "backup/container/rootfs/secret", "backup/snapshots/s0/rootfs/secret",
             tarfile.LNKTYPE)


def device(t):
    rootfs(t)
    info = tarfile.TarInfo("backup/container/rootfs/mem")
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 1
    info.mode = 0o666
    t.addfile(info)


def rootfs_symlink(t):
    add_dir(t, "backup/container")
    add_link(t, "backup/container/rootfs", "/")


def missing_snapshot(t):
    rootfs(t)


def extra_snapshot(t):
    add_dir(t, "backup/snapshots/s9")
    add_dir(t, "backup/snapshots/s9/rootfs")
    rootfs(t)


def no_container(t):
    add_dir(t, "backup/snapshots/s0")
    add_dir(t, "backup/snapshots/s0/rootfs")


def unexpected(t):
    rootfs(t)
    add_file(t, "etc/cairn-evil-unexpected", b"x")


def checkpoint_symlink(t):
    rootfs(t)
    add_link(t, "backup/container/checkpoint", "/root")


def extra_top(t):
    rootfs(t)
    add_file(t, "backup/container/run.sh", b"#!/bin/sh\n")


def main():
    write("dotdot.tar", dotdot)
    write("absolute.tar", absolute)
    write("symlink-out.tar", symlink_out)
    write("hardlink-out.tar", hardlink_out)
    write("hardlink-other-tree.tar", hardlink_other_tree, ["s0"])
    write("device.tar", device)
    write("rootfs-symlink.tar", rootfs_symlink)
    write("missing-snapshot.tar", missing_snapshot, ["s0"])
    write("extra-snapshot.tar", extra_snapshot)
    write("no-container.tar", no_container, ["s0"])
    write("unexpected-entry.tar", unexpected)
    write("checkpoint-symlink.tar", checkpoint_symlink)
    write("extra-top.tar", extra_top)
    with tarfile.open("index-not-first.tar", "w", format=tarfile.PAX_FORMAT) as t:
        rootfs(t)
        add_file(t, "backup/index.yaml", index())
    # A file cut short: the header promises 64 KiB, the archive ends after 1 KiB of it.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        add_file(t, "backup/index.yaml", index())
        rootfs(t)
        add_file(t, "backup/container/rootfs/big", b"a" * 65536)
    data = buf.getvalue()
    cut = data.index(b"a" * 1024) + 1024
    with open("truncated.tar", "wb") as f:
        f.write(data[:cut])
    # A decompression bomb: 8 GiB of zeros in a few hundred KiB of zstd, more than the tests'
    # pools hold.
    size = 8 << 30
    head = io.BytesIO()
    with tarfile.open(fileobj=head, mode="w", format=tarfile.PAX_FORMAT) as t:
        add_file(t, "backup/index.yaml", index())
        rootfs(t)
        info = tarfile.TarInfo("backup/container/rootfs/zeros")
        info.size = size
        t.addfile(info)  # header only: the data follows
    header = head.getvalue()[: -1024]  # drop the end-of-archive blocks
    with open("bomb.tar.zst", "wb") as out:
        z = subprocess.Popen(["zstd", "-q", "-19", "-T0", "-c"], stdin=subprocess.PIPE,
                             stdout=out)
        z.stdin.write(header)
        block = bytes(1 << 20)
        for _ in range(size >> 20):
            z.stdin.write(block)
        z.stdin.write(bytes(1024))
        z.stdin.close()
        z.wait()


if __name__ == "__main__":
    main()
