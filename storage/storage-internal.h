#pragma once

/*
 * Private helpers of the storage folder: the drivers' operation tables, loop devices, mounts,
 * spawned programs and the small path and tree helpers both drivers share. Nothing outside
 * storage/ includes this file.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h"

struct err;

/* The drivers, bound by name in storage.c. */
extern const struct storage_ops storage_btrfs_ops;
extern const struct storage_ops storage_dir_ops;

/*
 * Attaches the regular file `file` to a free loop device with LO_FLAGS_AUTOCLEAR, so the device
 * goes away once the last user (the mount) lets go of it. *ret_dev is the device path (caller
 * frees) and *ret_fd an open descriptor of the device that the caller closes after mounting:
 * closing it without a mount detaches the device again. Errors: -ENOENT when the file is missing,
 * or the -errno of the loop ioctls.
 */
int storage_loop_attach(const char *file, char **ret_dev, int *ret_fd, struct err **err);

/* The backing file of loop device `dev` ("/dev/loop3") from sysfs; caller frees. -ENOENT when
 * `dev` is not an attached loop device. Does not fill an error: callers use it as a probe. */
int storage_loop_backing_file(const char *dev, char **ret_file);

/*
 * Looks `mount_path` up in /proc/self/mountinfo (the topmost mount there). Returns 1 and the
 * mount's source and filesystem type (caller frees; either pointer may be NULL) when it is a
 * mount point, 0 when it is not, or a negative errno.
 */
int storage_mount_find(const char *mount_path, char **ret_source, char **ret_fstype,
		       struct err **err);

/* umount2() of `path`, retried for a short while on EBUSY (a process that just left the tree
 * can keep it busy for a moment). A path that is not mounted is fine. */
int storage_umount(const char *path, struct err **err);

/* storage_umount() for an undo step that the failed operation carries on past: a failure is
 * logged (a mount is left behind), the operation's own error is what the caller gets. */
void storage_umount_ignoring(const char *path);

/* Bind-mounts directory `source` at `target`. */
int storage_bind_mount(const char *source, const char *target, struct err **err);

/* True when `a` and `b` name the same inode (so a bind mount of one onto the other is in place). */
bool storage_same_inode(const char *a, const char *b);

/*
 * Finds program `name` in $PATH and, since root's PATH does not always have them, in /usr/sbin,
 * /sbin, /usr/bin and /bin. Caller frees; NULL when it is not found.
 */
char *storage_find_program(const char *name);

/*
 * Runs argv (argv[0] is looked up with storage_find_program()) with posix_spawn, stdin on
 * /dev/null and stdout and stderr captured. *ret_status is the exit status, or 128 + the signal
 * that killed it. ret_stdout / ret_stderr may be NULL; otherwise the caller frees them. Returns 0
 * when the program ran (whatever its status), -ENOENT when it is not installed, or another -errno.
 */
int storage_spawn(char *const argv[], int *ret_status, char **ret_stdout, char **ret_stderr,
		  struct err **err);

/* storage_spawn() that fails with -EIO and the program's stderr in the message when it does not
 * exit with status 0. */
int storage_run(char *const argv[], struct err **err);

/*
 * Copies the tree `src` to `dst` (which must not exist) with `cp -a`, keeping ownership, modes,
 * timestamps, xattrs, symlinks, device nodes, fifos and hard links; reflinks are used where the
 * filesystem has them. A failed copy leaves no `dst` behind. While cp runs it reports the bytes
 * the copy holds so far (common/progress.h, stage "copy") to the operation listening, if any:
 * cp tells nothing, so the copy's tree is walked, at most every half second and less often when
 * the walk itself takes long.
 */
int storage_copy_tree(const char *src, const char *dst, struct err **err);

/* Sum of st_blocks * 512 over the tree at `path` (hard links counted once). */
int storage_tree_usage(const char *path, uint64_t *ret_bytes, struct err **err);

/* Eight random hex digits and a NUL, for the names of temporary volumes. */
void storage_random_suffix(char out[static 9]);

/*
 * Creates images/ (0700), containers/ and containers-snapshots/ (0711, so unprivileged container
 * roots can pass them on the way to their rootfs) under the pool's mount path, which gets 0711
 * too; existing ones are fine. Every pool mount also closes what already lives there, so that an
 * install made before this layout is closed by the first start after the upgrade: each image
 * volume and each containers-snapshots/<name>/ becomes root's with mode 0700 (one chown and
 * chmod per entry, no tree walk). Errors: -errno of mkdir, open, chown or chmod.
 */
int storage_pool_make_dirs(const struct storage_pool *pool, struct err **err);

/*
 * Makes the directory `path` (never a symlink) the daemon's (root's) with mode 0700: how every
 * volume is handed out, until the instance layer opens a container volume to its root uid.
 * -errno of open, fchown or fchmod.
 */
int storage_make_private(const char *path, struct err **err);

/* <mount_path>/containers-snapshots/<volume>; caller frees. NULL on OOM. */
char *storage_snapshot_dir(const struct storage_pool *pool, const char *volume);

/* 0 when `path` exists, -ENOENT when it does not, another -errno when it cannot be checked. */
int storage_path_exists(const char *path);

/*
 * The checks every driver does before touching a volume: *ret_path is the volume's path (caller
 * frees). With `must_exist`, a missing volume is -ENOENT `Volume "x" not found in pool "p"`;
 * without it, an existing one is -EEXIST `Volume "x" already exists in pool "p"`.
 */
int storage_volume_prepare(const struct storage_pool *pool, enum storage_volume_type type,
			   const char *name, bool must_exist, char **ret_path, struct err **err);

/* The same for snapshot `volume/snapshot`. */
int storage_snapshot_prepare(const struct storage_pool *pool, const char *volume,
			     const char *snapshot, bool must_exist, char **ret_path,
			     struct err **err);

/*
 * volume_rename of both drivers: rename(2) without replacing, and for a container volume also its
 * snapshot directory, so the snapshots follow it; the volume is renamed back when that second
 * step fails. -ENOENT when `old_name` is missing, -EEXIST when `new_name` exists.
 */
int storage_rename_volume(const struct storage_pool *pool, enum storage_volume_type type,
			  const char *old_name, const char *new_name, struct err **err);

/* snapshot_rename of both drivers: rename(2) inside the volume's snapshot directory. */
int storage_rename_snapshot(const struct storage_pool *pool, const char *volume,
			    const char *old_name, const char *new_name, struct err **err);

/*
 * volume_delete, volume_copy, snapshot_create, snapshot_delete, snapshot_restore and
 * volume_from_snapshot of both drivers (storage/tree.c), on the pool's tree_clone and tree_remove
 * primitives. A restore clones the snapshot to a hidden `containers/.restore-<volume>-<random>`,
 * runs the caller's prepare hook on it, swaps it with the volume in one
 * renameat2(RENAME_EXCHANGE) (until then the old volume is untouched), runs the commit hook
 * (swapping back when it fails) and removes the old tree.
 */
int storage_tree_volume_delete(const struct storage_pool *pool, enum storage_volume_type type,
			       const char *name, struct err **err);
/* volume_import of both drivers: the driver's own volume_create at a hidden name, the tree
 * copied into it, then renamed into place. */
int storage_tree_volume_import(const struct storage_pool *pool, enum storage_volume_type type,
			       const char *name, const char *src_path, struct err **err);
int storage_tree_volume_copy(const struct storage_pool *pool, enum storage_volume_type src_type,
			     const char *src, enum storage_volume_type dst_type, const char *dst,
			     struct err **err);
/* storage_snapshot_create_from() and storage_volume_swap() (storage.h), for every driver. */
int storage_tree_snapshot_create_from(const struct storage_pool *pool, const char *src,
				      const char *volume, const char *snapshot, struct err **err);
int storage_tree_volume_swap(const struct storage_pool *pool, const char *a, const char *b,
			     struct err **err);
int storage_tree_snapshot_create(const struct storage_pool *pool, const char *volume,
				 const char *snapshot, struct err **err);
int storage_tree_snapshot_delete(const struct storage_pool *pool, const char *volume,
				 const char *snapshot, struct err **err);
int storage_tree_snapshot_restore(const struct storage_pool *pool, const char *volume,
				  const char *snapshot, const struct storage_restore_hooks *hooks,
				  struct err **err);
int storage_tree_volume_from_snapshot(const struct storage_pool *pool, const char *volume,
				      const char *snapshot, const char *dst, struct err **err);

/* pool_usage of both drivers: statvfs() of the mount path, used = total - free. */
int storage_statvfs_usage(const struct storage_pool *pool, uint64_t *ret_used, uint64_t *ret_total,
			  struct err **err);
