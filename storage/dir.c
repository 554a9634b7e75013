/*
 * The dir driver: volumes are plain directories, copies and snapshots are full copies made with
 * `cp -a`, for hosts without btrfs. A copy is made under a hidden temporary name and renamed into
 * place, so after a crash a volume or snapshot is either complete or absent (the daemon's
 * recovery pass removes the hidden leftovers). A plain directory cannot be made read-only for
 * root, so snapshots are only kept apart under containers-snapshots/ and never written to.
 */

#include "storage/storage-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

/* True when the pool's directory lives elsewhere and is bind-mounted at the mount path. */
static bool dir_is_bind(const struct storage_pool *pool)
{
	return strcmp(pool->source, pool->mount_path) != 0;
}

static void remove_ignoring(const char *path)
{
	_cleanup_err_ struct err *e = NULL;

	if (rm_rf(path, &e) < 0)
		log_debug("Failed to remove \"%s\", ignoring: %s", path, err_msg(e, -EIO));
}

static int dir_pool_check(const struct storage_pool *pool, struct err **err)
{
	_cleanup_free_ char *cp = storage_find_program("cp");
	struct stat st;

	if (!cp)
		return err_set(err, -ENOENT, "Pool \"%s\" needs \"cp\", which is not installed",
			       pool->name);
	if (stat(pool->source, &st) == 0 && !S_ISDIR(st.st_mode))
		return err_set(err, -ENOTDIR, "Source \"%s\" of pool \"%s\" is not a directory",
			       pool->source, pool->name);
	return 0;
}

static int dir_pool_mount(const struct storage_pool *pool, struct err **err)
{
	bool bound = false;
	int r;

	if (dir_is_bind(pool)) {
		struct stat st;

		if (stat(pool->source, &st) < 0)
			return err_set_errno(err, -errno, "Source \"%s\" of pool \"%s\"",
					     pool->source, pool->name);
		if (!S_ISDIR(st.st_mode))
			return err_set(err, -ENOTDIR,
				       "Source \"%s\" of pool \"%s\" is not a directory",
				       pool->source, pool->name);
		r = mkdir_p(pool->mount_path, 0711, err);
		if (r < 0)
			return r;
		if (!storage_same_inode(pool->source, pool->mount_path)) {
			r = storage_bind_mount(pool->source, pool->mount_path, err);
			if (r < 0)
				return r;
			bound = true;
		}
	} else {
		r = mkdir_p(pool->mount_path, 0711, err);
		if (r < 0)
			return r;
	}
	r = storage_pool_make_dirs(pool, err);
	if (r < 0 && bound)
		storage_umount_ignoring(pool->mount_path);
	return r;
}

static int dir_pool_create(const struct storage_pool *pool, struct err **err)
{
	int r;

	if (dir_is_bind(pool)) {
		r = mkdir_p(pool->source, 0711, err);
		if (r < 0)
			return r;
	}
	return dir_pool_mount(pool, err);
}

static int dir_pool_unmount(const struct storage_pool *pool, struct err **err)
{
	int r;

	if (!dir_is_bind(pool))
		return 0;
	r = storage_mount_find(pool->mount_path, NULL, NULL, err);
	if (r <= 0)
		return r;
	if (!storage_same_inode(pool->source, pool->mount_path))
		return err_set(err, -EBUSY, "Mount path \"%s\" of pool \"%s\" holds another mount",
			       pool->mount_path, pool->name);
	return storage_umount(pool->mount_path, err);
}

static int dir_pool_delete(const struct storage_pool *pool, struct err **err)
{
	static const char *const dirs[] = {"images", "containers", "containers-snapshots"};
	int r;

	r = dir_pool_mount(pool, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		_cleanup_free_ char *path = str_printf("%s/%s", pool->mount_path, dirs[i]);

		if (!path)
			return err_set(err, -ENOMEM, "Out of memory");
		r = rm_rf(path, err);
		if (r < 0)
			return err_wrap(err, r, "Failed to delete pool \"%s\"", pool->name);
	}
	r = dir_pool_unmount(pool, err);
	if (r < 0)
		return r;
	/* The mount path is ours; a separate source directory stays (now empty of cairn's
	 * directories), as it was the user's before the pool was made. */
	if (rmdir(pool->mount_path) < 0 && errno != ENOENT)
		return err_set_errno(err, -errno, "Failed to remove \"%s\"", pool->mount_path);
	return 0;
}

/* tree_clone: copies `src` to `dst` through a hidden temporary name in `dst`'s directory, so
 * `dst` appears complete or not at all. A plain directory cannot be made read-only for root:
 * snapshots are kept read-only by never writing to them. */
static int copy_into_place(const char *src, const char *dst, bool read_only, struct err **err)
{
	_cleanup_free_ char *tmp = NULL, *parent = strdup(dst);
	const char *dst_name;
	char suffix[9];
	char *slash;
	int r;

	(void)read_only;
	if (!parent)
		return err_set(err, -ENOMEM, "Out of memory");
	slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	dst_name = strrchr(dst, '/') ? strrchr(dst, '/') + 1 : dst;
	storage_random_suffix(suffix);
	tmp = str_printf("%s/.tmp-%s-%s", parent, dst_name, suffix);
	if (!tmp)
		return err_set(err, -ENOMEM, "Out of memory");
	r = storage_copy_tree(src, tmp, err);
	if (r < 0)
		return r;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_NOREPLACE) < 0) {
		r = err_set_errno(err, -errno, "Failed to move the copy into \"%s\"", dst);
		remove_ignoring(tmp);
		return r;
	}
	return 0;
}

static int dir_volume_create(const struct storage_pool *pool, enum storage_volume_type type,
			     const char *name, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	int r;

	r = storage_volume_prepare(pool, type, name, false, &path, err);
	if (r < 0)
		return r;
	if (mkdir(path, 0700) < 0) {
		if (errno == EEXIST)
			return err_set(err, -EEXIST, "Volume \"%s\" already exists in pool \"%s\"",
				       name, pool->name);
		return err_set_errno(err, -errno, "Failed to create volume \"%s\" in pool \"%s\"",
				     name, pool->name);
	}
	/* mkdir() is subject to the umask; the mode is part of the layout. */
	r = storage_make_private(path, err);
	if (r < 0)
		rmdir(path);
	return r;
}

static int dir_volume_usage(const struct storage_pool *pool, enum storage_volume_type type,
			    const char *name, uint64_t *ret_bytes, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	int r;

	r = storage_volume_prepare(pool, type, name, true, &path, err);
	if (r < 0)
		return r;
	return storage_tree_usage(path, ret_bytes, err);
}

static int dir_snapshot_usage(const struct storage_pool *pool, const char *volume,
			      const char *snapshot, uint64_t *ret_bytes, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	int r;

	r = storage_snapshot_prepare(pool, volume, snapshot, true, &path, err);
	if (r < 0)
		return r;
	/* A full copy: everything in it is exclusive to it. */
	return storage_tree_usage(path, ret_bytes, err);
}

const struct storage_ops storage_dir_ops = {
    .name = "dir",
    .snapshot_needs_freeze = true,
    .instant_snapshots = false,
    .pool_check = dir_pool_check,
    .pool_create = dir_pool_create,
    .pool_delete = dir_pool_delete,
    .pool_mount = dir_pool_mount,
    .pool_unmount = dir_pool_unmount,
    .pool_usage = storage_statvfs_usage,
    .volume_create = dir_volume_create,
    .volume_delete = storage_tree_volume_delete,
    .volume_rename = storage_rename_volume,
    .volume_usage = dir_volume_usage,
    .volume_copy = storage_tree_volume_copy,
    .volume_import = storage_tree_volume_import,
    .snapshot_create = storage_tree_snapshot_create,
    .snapshot_delete = storage_tree_snapshot_delete,
    .snapshot_rename = storage_rename_snapshot,
    .snapshot_restore = storage_tree_snapshot_restore,
    .volume_from_snapshot = storage_tree_volume_from_snapshot,
    .snapshot_usage = dir_snapshot_usage,
    .tree_clone = copy_into_place,
    .tree_remove = rm_rf,
};
