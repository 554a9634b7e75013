/* The registry of storage drivers, the wrappers that call through their tables, and the path
 * and rename helpers both drivers share. */

#include "storage/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "storage/storage-internal.h"

static const struct storage_ops *const drivers[] = {
    &storage_btrfs_ops,
    &storage_dir_ops,
};

const struct storage_ops *storage_driver(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}

int storage_pool_init(struct storage_pool *pool, const char *cairn_dir, const char *name,
		      const char *driver, const char *source, uint64_t size, struct err **err)
{
	const struct storage_ops *ops = storage_driver(driver);
	struct storage_pool p = {.size = size, .ops = ops};

	if (!ops)
		return err_set(err, -EINVAL, "Unknown storage driver \"%s\" for pool \"%s\"",
			       driver ? driver : "", name);
	p.name = strdup(name);
	p.driver = strdup(driver);
	p.mount_path = str_printf("%s/storage-pools/%s", cairn_dir, name);
	if (source && *source)
		p.source = strdup(source);
	else if (ops == &storage_btrfs_ops)
		p.source = str_printf("%s/disks/%s.img", cairn_dir, name);
	else
		p.source = p.mount_path ? strdup(p.mount_path) : NULL;
	if (!p.name || !p.driver || !p.mount_path || !p.source) {
		storage_pool_done(&p);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	*pool = p;
	return 0;
}

void storage_pool_done(struct storage_pool *pool)
{
	if (!pool)
		return;
	free(pool->name);
	free(pool->driver);
	free(pool->source);
	free(pool->mount_path);
	*pool = (struct storage_pool){0};
}

const char *storage_volume_dir(enum storage_volume_type type)
{
	switch (type) {
	case STORAGE_VOLUME_IMAGE:
		return "images";
	case STORAGE_VOLUME_CONTAINER:
		return "containers";
	case STORAGE_VOLUME_TYPE_MAX:
		break;
	}
	return NULL;
}

char *storage_volume_path(const struct storage_pool *pool, enum storage_volume_type type,
			  const char *name)
{
	const char *dir = storage_volume_dir(type);

	if (!dir)
		return NULL;
	return str_printf("%s/%s/%s", pool->mount_path, dir, name);
}

char *storage_snapshot_path(const struct storage_pool *pool, const char *volume,
			    const char *snapshot)
{
	return str_printf("%s/containers-snapshots/%s/%s", pool->mount_path, volume, snapshot);
}

char *storage_snapshot_dir(const struct storage_pool *pool, const char *volume)
{
	return str_printf("%s/containers-snapshots/%s", pool->mount_path, volume);
}

/* The owner is the daemon, which is root; tests that run as a user get their own. */
int storage_make_private(const char *path, struct err **err)
{
	/* O_NOFOLLOW: the mode goes on the volume itself, never through a link put in its place. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", path);
	if (fchown(fd, geteuid(), getegid()) < 0 || fchmod(fd, 0700) < 0)
		return err_set_errno(err, -errno, "Failed to close \"%s\" to other users", path);
	return 0;
}

/* Makes every directory in `dir` private (storage_make_private()); other entries are left. */
static int make_entries_private(const char *dir, struct err **err)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return err_set_errno(err, -errno, "Failed to list \"%s\"", dir);
	while ((errno = 0, de = readdir(d))) {
		_cleanup_close_ int fd = -EBADF;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && (errno == ENOTDIR || errno == ELOOP || errno == ENOENT))
			continue;
		if (fd < 0 || fchown(fd, geteuid(), getegid()) < 0 || fchmod(fd, 0700) < 0)
			return err_set_errno(err, -errno,
					     "Failed to close \"%s/%s\" to other users", dir,
					     de->d_name);
	}
	if (errno != 0)
		return err_set_errno(err, -errno, "Failed to list \"%s\"", dir);
	return 0;
}

int storage_pool_make_dirs(const struct storage_pool *pool, struct err **err)
{
	/*
	 * The 0711 directories are on the way from CAIRN_DIR to an unprivileged container's rootfs,
	 * which LXC reaches as the container's root (a host uid that is nobody's here). images/ is
	 * on nobody's way: a container runs on a copy of its image.
	 */
	static const struct {
		const char *name;
		mode_t mode;
		bool private_entries; /* each entry is made root's, 0700 */
	} dirs[] = {
	    {"images", 0700, true},
	    {"containers", 0711, false},
	    {"containers-snapshots", 0711, true},
	};
	int r;

	/* On btrfs this is the root of the filesystem, which mkfs made 0755. */
	if (chmod(pool->mount_path, 0711) < 0)
		return err_set_errno(err, -errno, "Failed to set the mode of \"%s\"",
				     pool->mount_path);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		_cleanup_free_ char *path = str_printf("%s/%s", pool->mount_path, dirs[i].name);

		if (!path)
			return err_set(err, -ENOMEM, "Out of memory");
		if (mkdir(path, dirs[i].mode) < 0 && errno != EEXIST)
			return err_set_errno(err, -errno, "Failed to create \"%s\" in pool \"%s\"",
					     dirs[i].name, pool->name);
		/* mkdir() is subject to the umask, and an older layout had other modes. */
		if (chmod(path, dirs[i].mode) < 0)
			return err_set_errno(err, -errno, "Failed to set the mode of \"%s\"", path);
		/* Image volumes and the snapshot directories of instances: nobody but root
		 * needs them. Instance volumes belong to the instance layer, which knows their
		 * root uid. */
		if (!dirs[i].private_entries)
			continue;
		r = make_entries_private(path, err);
		if (r < 0)
			return err_wrap(err, r, "Pool \"%s\"", pool->name);
	}
	return 0;
}

int storage_path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) < 0 ? -errno : 0;
}

int storage_volume_prepare(const struct storage_pool *pool, enum storage_volume_type type,
			   const char *name, bool must_exist, char **ret_path, struct err **err)
{
	_cleanup_free_ char *path = storage_volume_path(pool, type, name);
	int r;

	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = storage_path_exists(path);
	if (must_exist && r == -ENOENT)
		return err_set(err, -ENOENT, "Volume \"%s\" not found in pool \"%s\"", name,
			       pool->name);
	if (!must_exist && r == 0)
		return err_set(err, -EEXIST, "Volume \"%s\" already exists in pool \"%s\"", name,
			       pool->name);
	if (r < 0 && r != -ENOENT)
		return err_set_errno(err, r, "Failed to look up volume \"%s\" in pool \"%s\"", name,
				     pool->name);
	*ret_path = steal_pointer(&path);
	return 0;
}

int storage_snapshot_prepare(const struct storage_pool *pool, const char *volume,
			     const char *snapshot, bool must_exist, char **ret_path,
			     struct err **err)
{
	_cleanup_free_ char *path = storage_snapshot_path(pool, volume, snapshot);
	int r;

	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = storage_path_exists(path);
	if (must_exist && r == -ENOENT)
		return err_set(err, -ENOENT, "Snapshot \"%s/%s\" not found in pool \"%s\"", volume,
			       snapshot, pool->name);
	if (!must_exist && r == 0)
		return err_set(err, -EEXIST, "Snapshot \"%s/%s\" already exists in pool \"%s\"",
			       volume, snapshot, pool->name);
	if (r < 0 && r != -ENOENT)
		return err_set_errno(err, r, "Failed to look up snapshot \"%s/%s\" in pool \"%s\"",
				     volume, snapshot, pool->name);
	*ret_path = steal_pointer(&path);
	return 0;
}

int storage_rename_volume(const struct storage_pool *pool, enum storage_volume_type type,
			  const char *old_name, const char *new_name, struct err **err)
{
	_cleanup_free_ char *from = NULL, *to = NULL, *snap_from = NULL, *snap_to = NULL;
	int r;

	r = storage_volume_prepare(pool, type, old_name, true, &from, err);
	if (r < 0)
		return r;
	r = storage_volume_prepare(pool, type, new_name, false, &to, err);
	if (r < 0)
		return r;
	/* RENAME_NOREPLACE: plain rename(2) would silently replace an empty directory. */
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST)
			return err_set(err, -EEXIST, "Volume \"%s\" already exists in pool \"%s\"",
				       new_name, pool->name);
		return err_set_errno(err, -errno, "Failed to rename volume \"%s\" to \"%s\"",
				     old_name, new_name);
	}
	if (type != STORAGE_VOLUME_CONTAINER)
		return 0;

	snap_from = storage_snapshot_dir(pool, old_name);
	snap_to = storage_snapshot_dir(pool, new_name);
	if (!snap_from || !snap_to) {
		r = err_set(err, -ENOMEM, "Out of memory");
	} else if (renameat2(AT_FDCWD, snap_from, AT_FDCWD, snap_to, RENAME_NOREPLACE) < 0) {
		if (errno == ENOENT)
			return 0; /* no snapshots */
		r = err_set_errno(err, -errno,
				  "Failed to move the snapshots of volume \"%s\" to \"%s\"",
				  old_name, new_name);
	} else {
		return 0;
	}
	/* Undo the first step so the volume and its snapshots keep matching names. */
	rename(to, from);
	return r;
}

int storage_rename_snapshot(const struct storage_pool *pool, const char *volume,
			    const char *old_name, const char *new_name, struct err **err)
{
	_cleanup_free_ char *from = NULL, *to = NULL;
	int r;

	r = storage_snapshot_prepare(pool, volume, old_name, true, &from, err);
	if (r < 0)
		return r;
	r = storage_snapshot_prepare(pool, volume, new_name, false, &to, err);
	if (r < 0)
		return r;
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST)
			return err_set(err, -EEXIST,
				       "Snapshot \"%s/%s\" already exists in pool \"%s\"", volume,
				       new_name, pool->name);
		return err_set_errno(err, -errno, "Failed to rename snapshot \"%s/%s\" to \"%s\"",
				     volume, old_name, new_name);
	}
	return 0;
}

int storage_statvfs_usage(const struct storage_pool *pool, uint64_t *ret_used, uint64_t *ret_total,
			  struct err **err)
{
	struct statvfs sv;
	uint64_t total, avail;

	if (statvfs(pool->mount_path, &sv) < 0)
		return err_set_errno(err, -errno, "Failed to get the usage of pool \"%s\"",
				     pool->name);
	total = (uint64_t)sv.f_blocks * sv.f_frsize;
	avail = (uint64_t)sv.f_bfree * sv.f_frsize;
	*ret_used = total > avail ? total - avail : 0;
	*ret_total = total;
	return 0;
}

int storage_volume_list(const struct storage_pool *pool, enum storage_volume_type type,
			char ***ret_names, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_strv_ char **names = NULL;
	const char *dir = storage_volume_dir(type);
	struct dirent *de;

	if (!dir)
		return err_set(err, -EINVAL, "Invalid volume type %d", (int)type);
	path = str_printf("%s/%s", pool->mount_path, dir);
	names = calloc(1, sizeof(char *));
	if (!path || !names)
		return err_set(err, -ENOMEM, "Out of memory");
	d = opendir(path);
	if (!d) {
		if (errno != ENOENT)
			return err_set_errno(err, -errno, "Failed to list \"%s\" of pool \"%s\"",
					     dir, pool->name);
		*ret_names = steal_pointer(&names);
		return 0;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strv_push(&names, de->d_name) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	if (errno != 0)
		return err_set_errno(err, -errno, "Failed to list \"%s\" of pool \"%s\"", dir,
				     pool->name);
	*ret_names = steal_pointer(&names);
	return 0;
}

/* Names become path components: refuse anything that would leave its directory. */
static int check_name(const struct storage_pool *pool, const char *what, const char *name,
		      struct err **err)
{
	if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return err_set(err, -EINVAL, "Invalid %s name \"%s\" in pool \"%s\"", what,
			       name ? name : "", pool->name);
	return 0;
}

static int check_type(const struct storage_pool *pool, enum storage_volume_type type,
		      struct err **err)
{
	if (!storage_volume_dir(type))
		return err_set(err, -EINVAL, "Invalid volume type %d in pool \"%s\"", (int)type,
			       pool->name);
	return 0;
}

static int unsupported(const struct storage_pool *pool, const char *op, struct err **err)
{
	return err_set(err, -EOPNOTSUPP, "Storage driver \"%s\" of pool \"%s\" does not support %s",
		       pool->ops ? pool->ops->name : pool->driver, pool->name, op);
}

/* Calls pool->ops->op(pool, args...) or fails with -EOPNOTSUPP; `check` runs first and may
 * fail the call. */
#define CALL_OP(op, what, check, ...)                                                              \
	({                                                                                         \
		int _r = 0;                                                                        \
		if (!pool->ops || !pool->ops->op)                                                  \
			_r = unsupported(pool, what, err);                                         \
		else                                                                               \
			_r = (check);                                                              \
		_r < 0 ? _r : pool->ops->op(pool, __VA_ARGS__);                                    \
	})

int storage_pool_check(const struct storage_pool *pool, struct err **err)
{
	return CALL_OP(pool_check, "checking pools", 0, err);
}

int storage_pool_create(const struct storage_pool *pool, struct err **err)
{
	return CALL_OP(pool_create, "creating pools", 0, err);
}

int storage_pool_delete(const struct storage_pool *pool, struct err **err)
{
	return CALL_OP(pool_delete, "deleting pools", 0, err);
}

int storage_pool_mount(const struct storage_pool *pool, struct err **err)
{
	return CALL_OP(pool_mount, "mounting pools", 0, err);
}

int storage_pool_unmount(const struct storage_pool *pool, struct err **err)
{
	return CALL_OP(pool_unmount, "unmounting pools", 0, err);
}

int storage_pool_grow(const struct storage_pool *pool, uint64_t size, struct err **err)
{
	if (!pool->size || !pool->ops || !pool->ops->pool_grow)
		return err_set(err, -EOPNOTSUPP,
			       "Storage pool \"%s\" has no loop file: its size is its device's or "
			       "filesystem's",
			       pool->name);
	if (size < pool->size)
		return err_set(err, -EINVAL, "Storage pool \"%s\" cannot shrink", pool->name);
	return pool->ops->pool_grow(pool, size, err);
}

int storage_pool_usage(const struct storage_pool *pool, uint64_t *ret_used, uint64_t *ret_total,
		       struct err **err)
{
	return CALL_OP(pool_usage, "pool usage", 0, ret_used, ret_total, err);
}

int storage_volume_create(const struct storage_pool *pool, enum storage_volume_type type,
			  const char *name, struct err **err)
{
	return CALL_OP(volume_create, "creating volumes",
		       check_type(pool, type, err) ?: check_name(pool, "volume", name, err), type,
		       name, err);
}

int storage_volume_delete(const struct storage_pool *pool, enum storage_volume_type type,
			  const char *name, struct err **err)
{
	return CALL_OP(volume_delete, "deleting volumes",
		       check_type(pool, type, err) ?: check_name(pool, "volume", name, err), type,
		       name, err);
}

int storage_volume_rename(const struct storage_pool *pool, enum storage_volume_type type,
			  const char *old_name, const char *new_name, struct err **err)
{
	return CALL_OP(volume_rename, "renaming volumes",
		       check_type(pool, type, err) ?: check_name(pool, "volume", old_name, err)
				?: check_name(pool, "volume", new_name, err),
		       type, old_name, new_name, err);
}

int storage_volume_usage(const struct storage_pool *pool, enum storage_volume_type type,
			 const char *name, uint64_t *ret_bytes, struct err **err)
{
	return CALL_OP(volume_usage, "volume usage",
		       check_type(pool, type, err) ?: check_name(pool, "volume", name, err), type,
		       name, ret_bytes, err);
}

int storage_volume_set_quota(const struct storage_pool *pool, const char *name, uint64_t bytes,
			     struct err **err)
{
	return CALL_OP(volume_set_quota, "root disk sizes", check_name(pool, "volume", name, err),
		       name, bytes, err);
}

int storage_volume_copy(const struct storage_pool *pool, enum storage_volume_type src_type,
			const char *src, enum storage_volume_type dst_type, const char *dst,
			struct err **err)
{
	return CALL_OP(volume_copy, "copying volumes",
		       check_type(pool, src_type, err) ?: check_type(pool, dst_type, err)
				?: check_name(pool, "volume", src, err)
				?: check_name(pool, "volume", dst, err),
		       src_type, src, dst_type, dst, err);
}

int storage_volume_import(const struct storage_pool *pool, enum storage_volume_type type,
			  const char *name, const char *src_path, struct err **err)
{
	return CALL_OP(volume_import, "importing volumes",
		       check_type(pool, type, err) ?: check_name(pool, "volume", name, err), type,
		       name, src_path, err);
}

int storage_snapshot_create(const struct storage_pool *pool, const char *volume,
			    const char *snapshot, struct err **err)
{
	return CALL_OP(snapshot_create, "snapshots",
		       check_name(pool, "volume", volume, err)
			   ?: check_name(pool, "snapshot", snapshot, err),
		       volume, snapshot, err);
}

int storage_snapshot_delete(const struct storage_pool *pool, const char *volume,
			    const char *snapshot, struct err **err)
{
	return CALL_OP(snapshot_delete, "deleting snapshots",
		       check_name(pool, "volume", volume, err)
			   ?: check_name(pool, "snapshot", snapshot, err),
		       volume, snapshot, err);
}

int storage_snapshot_rename(const struct storage_pool *pool, const char *volume,
			    const char *old_name, const char *new_name, struct err **err)
{
	return CALL_OP(snapshot_rename, "renaming snapshots",
		       check_name(pool, "volume", volume, err)
				?: check_name(pool, "snapshot", old_name, err)
				?: check_name(pool, "snapshot", new_name, err),
		       volume, old_name, new_name, err);
}

int storage_snapshot_restore(const struct storage_pool *pool, const char *volume,
			     const char *snapshot, struct err **err)
{
	return storage_snapshot_restore_with(pool, volume, snapshot, NULL, err);
}

int storage_snapshot_restore_with(const struct storage_pool *pool, const char *volume,
				  const char *snapshot, const struct storage_restore_hooks *hooks,
				  struct err **err)
{
	return CALL_OP(snapshot_restore, "restoring snapshots",
		       check_name(pool, "volume", volume, err)
			   ?: check_name(pool, "snapshot", snapshot, err),
		       volume, snapshot, hooks, err);
}

int storage_volume_from_snapshot(const struct storage_pool *pool, const char *volume,
				 const char *snapshot, const char *dst, struct err **err)
{
	return CALL_OP(volume_from_snapshot, "volumes from snapshots",
		       check_name(pool, "volume", volume, err)
				?: check_name(pool, "snapshot", snapshot, err)
				?: check_name(pool, "volume", dst, err),
		       volume, snapshot, dst, err);
}

int storage_snapshot_usage(const struct storage_pool *pool, const char *volume,
			   const char *snapshot, uint64_t *ret_bytes, struct err **err)
{
	return CALL_OP(snapshot_usage, "snapshot usage",
		       check_name(pool, "volume", volume, err)
			   ?: check_name(pool, "snapshot", snapshot, err),
		       volume, snapshot, ret_bytes, err);
}

int storage_snapshot_changed_since(const struct storage_pool *pool, const char *volume,
				   const char *snapshot, struct err **err)
{
	int r =
	    check_name(pool, "volume", volume, err) ?: check_name(pool, "snapshot", snapshot, err);

	if (r < 0)
		return r;
	/* A driver that cannot tell never lets an onchange schedule skip a slot. */
	if (!pool->ops->snapshot_changed_since)
		return 1;
	return pool->ops->snapshot_changed_since(pool, volume, snapshot, err);
}

bool storage_snapshot_needs_freeze(const struct storage_pool *pool)
{
	return pool->ops && pool->ops->snapshot_needs_freeze;
}

int storage_snapshot_send(const struct storage_pool *pool, const char *volume, const char *snapshot,
			  const char *parent, int fd, struct err **err)
{
	int r =
	    check_name(pool, "volume", volume, err) ?: check_name(pool, "snapshot", snapshot, err);

	if (r >= 0 && parent)
		r = check_name(pool, "snapshot", parent, err);
	if (r < 0)
		return r;
	if (!pool->ops->snapshot_send)
		return unsupported(pool, "send streams", err);
	return pool->ops->snapshot_send(pool, volume, snapshot, parent, fd, err);
}

int storage_snapshot_receive(const struct storage_pool *pool, const char *volume,
			     int (*feed)(int fd, void *ctx, struct err **err), void *ctx,
			     struct err **err)
{
	int r = check_name(pool, "volume", volume, err);

	if (r < 0)
		return r;
	if (!pool->ops->snapshot_receive)
		return unsupported(pool, "send streams", err);
	return pool->ops->snapshot_receive(pool, volume, feed, ctx, err);
}

int storage_snapshot_set_read_only(const struct storage_pool *pool, const char *volume,
				   const char *snapshot, bool read_only, struct err **err)
{
	int r =
	    check_name(pool, "volume", volume, err) ?: check_name(pool, "snapshot", snapshot, err);

	if (r < 0)
		return r;
	if (!pool->ops->snapshot_set_read_only)
		return unsupported(pool, "changing a snapshot's read-only flag", err);
	return pool->ops->snapshot_set_read_only(pool, volume, snapshot, read_only, err);
}

int storage_snapshot_forget_received(const struct storage_pool *pool, const char *volume,
				     const char *snapshot, struct err **err)
{
	int r =
	    check_name(pool, "volume", volume, err) ?: check_name(pool, "snapshot", snapshot, err);

	if (r < 0)
		return r;
	if (!pool->ops->snapshot_forget_received)
		return unsupported(pool, "send streams", err);
	return pool->ops->snapshot_forget_received(pool, volume, snapshot, err);
}

int storage_snapshot_ids(const struct storage_pool *pool, const char *volume, const char *snapshot,
			 struct storage_snapshot_ids *ret, struct err **err)
{
	int r =
	    check_name(pool, "volume", volume, err) ?: check_name(pool, "snapshot", snapshot, err);

	if (r < 0)
		return r;
	if (!pool->ops->snapshot_ids)
		return unsupported(pool, "send streams", err);
	return pool->ops->snapshot_ids(pool, volume, snapshot, ret, err);
}
