#pragma once

/*
 * Image content: the built-in busybox image and imported Incus-format unified tarballs.
 * These functions fill directories; the daemon puts the directories in image volumes.
 */

#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

struct err;

/*
 * Builds the built-in busybox image into `dir` (an empty, existing directory, normally an
 * image volume): `dir/rootfs/` with the host's static busybox (/bin/busybox from Debian's
 * busybox-static; `busybox_path` overrides) copied in, its applet links, /sbin/init, an
 * inittab that mounts what init needs and halts cleanly on SIGUSR1, /etc/passwd, group,
 * hostname, profile; and `dir/metadata.yaml` (architecture, creation_date, properties:
 * description, os: busybox, release). Self-contained: no bind mounts from the host.
 * -ENOENT with a hint ("install busybox-static") when no static busybox is found, -ENOEXEC
 * when the binary is not static.
 */
int instance_image_build_busybox(const char *dir, const char *busybox_path, struct err **err);

/*
 * Unpacks an Incus unified image tarball (gzip, xz, zstd, bzip2 or plain tar; metadata.yaml,
 * rootfs/, templates/) from `tarball_fd` into `dir` with libarchive, keeping ownership, modes,
 * xattrs, device nodes and hard links. No entry may land outside `dir`: absolute paths, `..`
 * components and writes through symlinks are refused (-EINVAL, message names the entry), and
 * so are hard links pointing outside. `rootfs` and `templates` must be real directories and
 * `metadata.yaml` a regular file: an image whose `rootfs` is a symlink (`rootfs -> /`), a file
 * or a hard link is -EINVAL `Invalid image tarball: "rootfs" is a symbolic link, not a
 * directory`. A truncated or corrupt archive is -EINVAL. Requires `metadata.yaml` that parses
 * as YAML with an `architecture` key, and `rootfs/`.
 *
 * The unpack is bounded by the free space of the file system under `dir`, less a reserve (1% of
 * its size, at most 64 MiB): each file is counted at its header, before its data, so a
 * decompression bomb is refused at the first entry that does not fit, and the real free space
 * is looked at again every 64 MiB and every 4096 entries. Past the bound: -ENOSPC `Not enough
 * space to unpack the image: ...`. Any failed or short write, and any xattr, ACL or mode that
 * could not be restored for lack of space or an I/O error, is a failure with the host's errno
 * (-ENOSPC, -EDQUOT, -EIO, -EROFS, -EFBIG), never a file left with zeros. On any error `dir`
 * may hold a partial tree: the caller deletes the volume.
 *
 * On success *ret_metadata holds metadata.yaml as a json-c tree (caller puts).
 */
int instance_image_unpack(int tarball_fd, const char *dir, json_object **ret_metadata,
			  struct err **err);

/* instance_image_unpack() with a cap of its own: at most `max_bytes` (0: no cap beyond the free
 * space) written, else -EFBIG `The image is too large: ...`. */
int instance_image_unpack_bounded(int tarball_fd, const char *dir, uint64_t max_bytes,
				  json_object **ret_metadata, struct err **err);

/* SHA-256 of everything readable from `fd` from its current position, as 64 hex characters
 * in `out`. */
int instance_image_sha256_fd(int fd, char out[static 65], struct err **err);

/*
 * A reader of an archive whose entries the caller routes into several trees, each one a fresh
 * directory (the volumes of a backup being imported, instance/ and backup/ alike), with the
 * discipline of instance_image_unpack(): every name canonical, relative and free of "..", no write
 * through a symlink, hard links only to a file already extracted into the same tree, no device
 * node, and each tree bounded by the free space of its file system less the reserve. The entries
 * and their data are libarchive's (struct archive_entry, from <archive_entry.h>).
 */
struct instance_unpack;
struct archive_entry;

/* Opens the archive on `fd` (tar, plain or gzip, xz, zstd, bzip2). Free with
 * instance_unpack_free(). -EINVAL when it is not an archive. */
int instance_unpack_open(int fd, struct instance_unpack **ret, struct err **err);
void instance_unpack_free(struct instance_unpack *u);

/* The next entry: 1 with *ret_entry (the reader's, valid until the next call) and *ret_rel (its
 * canonical relative name, caller frees), 0 at the end of the archive. -EINVAL for an absolute
 * name or a ".." component, a corrupt or truncated archive; -ECANCELED when the calling thread's
 * operation was cancelled (common/cancel.h). */
int instance_unpack_next(struct instance_unpack *u, struct archive_entry **ret_entry,
			 char **ret_rel, struct err **err);

/* Reads the current entry's data whole (a regular file of at most `max` bytes, NUL-terminated;
 * caller frees). -EINVAL for anything else. */
int instance_unpack_read_small(struct instance_unpack *u, struct archive_entry *entry, size_t max,
			       char **ret, size_t *ret_len, struct err **err);

/* Copies the current entry's data (a regular file) to `fd`, counted against the current tree's
 * budget when one is open (else against the free space of `fd`'s file system). */
int instance_unpack_data_to_fd(struct instance_unpack *u, struct archive_entry *entry, int fd,
			       struct err **err);

/* Ends the current tree (directory modes and times are applied then) and starts extracting into
 * `dir`, an existing empty directory that must be a directory, not a symlink. `dir` NULL only
 * ends the current tree. */
int instance_unpack_target(struct instance_unpack *u, const char *dir, struct err **err);

/* Extracts the current entry as `rel` (canonical, relative, may not be "") inside the current
 * tree; a hard link's target is given by the caller as `link_rel` (canonical, in the same tree).
 * ownership as stored: the caller shifts ids after (instance_shift_tree()). */
int instance_unpack_extract(struct instance_unpack *u, struct archive_entry *entry, const char *rel,
			    const char *link_rel, struct err **err);

/* Reads up to `len` bytes more of the current entry's data: the count, 0 at its end. Counted
 * against the budget of the directory given to instance_unpack_bound() (the free space of its
 * file system less the reserve), when one was. */
ssize_t instance_unpack_read(struct instance_unpack *u, void *buf, size_t len, struct err **err);

/* Bounds what instance_unpack_read() hands out by the free space under `dir`. */
int instance_unpack_bound(struct instance_unpack *u, const char *dir, struct err **err);

/* Canonical relative form of an entry name ("./" and empty components dropped); -EINVAL for an
 * absolute name or a ".." component. Caller frees. */
int instance_unpack_normalize(const char *name, char **ret);
