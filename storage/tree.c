/* The multi-step volume operations both drivers share, on their clone and remove primitives. */
#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "storage/storage-internal.h"

static void remove_ignoring(const struct storage_pool *pool, const char *path)
{
	_cleanup_err_ struct err *e = NULL;

	if (pool->ops->tree_remove(path, &e) < 0)
		log_debug("Failed to remove \"%s\", ignoring: %s", path, err_msg(e, -EIO));
}

/* A writable clone of `src` at `dst`, handed out closed (root's, 0700) like every volume: the
 * clone's root directory starts with the mode of its source. Undone when closing fails. */
static int clone_private(const struct storage_pool *pool, const char *src, const char *dst,
			 struct err **err)
{
	int r = pool->ops->tree_clone(src, dst, false, err);

	if (r < 0)
		return r;
	r = storage_make_private(dst, err);
	if (r < 0)
		remove_ignoring(pool, dst);
	return r;
}

int storage_tree_volume_delete(const struct storage_pool *pool, enum storage_volume_type type,
			       const char *name, struct err **err)
{
	_cleanup_free_ char *path = NULL, *snapdir = NULL;
	int r;

	r = storage_volume_prepare(pool, type, name, true, &path, err);
	if (r < 0)
		return r;
	r = pool->ops->tree_remove(path, err);
	if (r < 0)
		return err_wrap(err, r, "Failed to delete volume \"%s\" of pool \"%s\"", name,
				pool->name);
	/* Snapshots are deleted one by one before; their emptied directory goes with the volume.
	 * A directory that still holds snapshots stays. */
	if (type == STORAGE_VOLUME_CONTAINER) {
		snapdir = storage_snapshot_dir(pool, name);
		if (snapdir)
			rmdir(snapdir);
	}
	return 0;
}

int storage_tree_volume_import(const struct storage_pool *pool, enum storage_volume_type type,
			       const char *name, const char *src_path, struct err **err)
{
	_cleanup_free_ char *path = NULL, *tmp_name = NULL, *tmp_path = NULL;
	char suffix[9];
	int r;

	r = storage_volume_prepare(pool, type, name, false, &path, err);
	if (r < 0)
		return r;
	storage_random_suffix(suffix);
	tmp_name = str_printf(".import-%s-%s", name, suffix);
	if (!tmp_name)
		return err_set(err, -ENOMEM, "Out of memory");
	/* A subvolume on btrfs, a directory on dir: the volume is the driver's own kind, and only
	 * its content comes from elsewhere. A leftover hidden volume is removed at start. */
	r = pool->ops->volume_create(pool, type, tmp_name, err);
	if (r < 0)
		return r;
	r = storage_volume_prepare(pool, type, tmp_name, true, &tmp_path, err);
	if (r >= 0)
		r = storage_copy_tree(src_path, tmp_path, err);
	/* cp -a gave the volume the source's owner and mode. */
	if (r >= 0)
		r = storage_make_private(tmp_path, err);
	if (r >= 0 && renameat2(AT_FDCWD, tmp_path, AT_FDCWD, path, RENAME_NOREPLACE) < 0)
		r = errno == EEXIST
			? err_set(err, -EEXIST, "Volume \"%s\" already exists in pool \"%s\"", name,
				  pool->name)
			: err_set_errno(err, -errno, "Failed to move the copy into \"%s\"", path);
	if (r < 0) {
		_cleanup_err_ struct err *ignored = NULL;

		if (pool->ops->volume_delete(pool, type, tmp_name, &ignored) < 0)
			log_debug("Failed to remove \"%s\", ignoring: %s", tmp_name,
				  err_msg(ignored, -EIO));
		return err_wrap(err, r, "Failed to copy \"%s\" into pool \"%s\"", src_path,
				pool->name);
	}
	return 0;
}

int storage_tree_volume_copy(const struct storage_pool *pool, enum storage_volume_type src_type,
			     const char *src, enum storage_volume_type dst_type, const char *dst,
			     struct err **err)
{
	_cleanup_free_ char *src_path = NULL, *dst_path = NULL;
	int r;

	r = storage_volume_prepare(pool, src_type, src, true, &src_path, err);
	if (r < 0)
		return r;
	r = storage_volume_prepare(pool, dst_type, dst, false, &dst_path, err);
	if (r < 0)
		return r;
	return clone_private(pool, src_path, dst_path, err);
}

int storage_tree_snapshot_create(const struct storage_pool *pool, const char *volume,
				 const char *snapshot, struct err **err)
{
	return storage_tree_snapshot_create_from(pool, volume, volume, snapshot, err);
}

int storage_tree_snapshot_create_from(const struct storage_pool *pool, const char *src,
				      const char *volume, const char *snapshot, struct err **err)
{
	_cleanup_free_ char *vol_path = NULL, *snap_path = NULL, *snapdir = NULL;
	bool created = false;
	int r;

	r = storage_volume_prepare(pool, STORAGE_VOLUME_CONTAINER, src, true, &vol_path, err);
	if (r < 0)
		return r;
	r = storage_snapshot_prepare(pool, volume, snapshot, false, &snap_path, err);
	if (r < 0)
		return r;
	snapdir = storage_snapshot_dir(pool, volume);
	if (!snapdir)
		return err_set(err, -ENOMEM, "Out of memory");
	/* Nothing unprivileged needs a snapshot: the directory keeps every user but root out,
	 * whatever mode the volume had when it was snapshotted. */
	if (mkdir(snapdir, 0700) == 0)
		created = true;
	else if (errno != EEXIST)
		return err_set_errno(err, -errno,
				     "Failed to create the snapshot directory of \"%s\"", volume);
	r = pool->ops->tree_clone(vol_path, snap_path, true, err);
	if (r < 0) {
		if (created)
			rmdir(snapdir);
		return err_wrap(err, r, "Failed to snapshot \"%s/%s\"", volume, snapshot);
	}
	return 0;
}

int storage_tree_snapshot_delete(const struct storage_pool *pool, const char *volume,
				 const char *snapshot, struct err **err)
{
	_cleanup_free_ char *path = NULL, *snapdir = NULL;
	int r;

	r = storage_snapshot_prepare(pool, volume, snapshot, true, &path, err);
	if (r < 0)
		return r;
	r = pool->ops->tree_remove(path, err);
	if (r < 0)
		return err_wrap(err, r, "Failed to delete snapshot \"%s/%s\"", volume, snapshot);
	snapdir = storage_snapshot_dir(pool, volume);
	if (snapdir)
		rmdir(snapdir); /* only succeeds once the last snapshot is gone */
	return 0;
}

int storage_tree_snapshot_restore(const struct storage_pool *pool, const char *volume,
				  const char *snapshot, const struct storage_restore_hooks *hooks,
				  struct err **err)
{
	_cleanup_free_ char *vol_path = NULL, *snap_path = NULL, *tmp = NULL;
	char suffix[9];
	int r;

	r = storage_volume_prepare(pool, STORAGE_VOLUME_CONTAINER, volume, true, &vol_path, err);
	if (r < 0)
		return r;
	r = storage_snapshot_prepare(pool, volume, snapshot, true, &snap_path, err);
	if (r < 0)
		return r;
	storage_random_suffix(suffix);
	tmp = str_printf("%s/containers/.restore-%s-%s", pool->mount_path, volume, suffix);
	if (!tmp)
		return err_set(err, -ENOMEM, "Out of memory");
	/* Closed before the swap, like every volume made here: the snapshot may come from a
	 * layout that left it open. The instance opens it again when it starts. */
	r = clone_private(pool, snap_path, tmp, err);
	if (r < 0)
		return err_wrap(err, r, "Failed to restore \"%s/%s\"", volume, snapshot);
	if (hooks && hooks->prepare) {
		r = hooks->prepare(tmp, hooks->data, err);
		if (r < 0) {
			remove_ignoring(pool, tmp);
			return r;
		}
	}
	/* One atomic step: the volume is the old tree or the new one, never neither. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, vol_path, RENAME_EXCHANGE) < 0) {
		r = err_set_errno(err, -errno, "Failed to swap in the restored \"%s/%s\"", volume,
				  snapshot);
		remove_ignoring(pool, tmp);
		return r;
	}
	/* The old tree is at `tmp` now: until it is removed the swap can be undone. */
	if (hooks && hooks->commit) {
		r = hooks->commit(hooks->data, err);
		if (r < 0) {
			if (renameat2(AT_FDCWD, tmp, AT_FDCWD, vol_path, RENAME_EXCHANGE) < 0)
				return err_wrap(err, r,
						"Restored \"%s/%s\" but failed to swap the old "
						"volume back",
						volume, snapshot);
			remove_ignoring(pool, tmp);
			return r;
		}
	}
	/* The restore is done; a leftover old tree is hidden and removed by the recovery pass. */
	remove_ignoring(pool, tmp);
	return 0;
}

int storage_tree_volume_from_snapshot(const struct storage_pool *pool, const char *volume,
				      const char *snapshot, const char *dst, struct err **err)
{
	_cleanup_free_ char *snap_path = NULL, *dst_path = NULL;
	int r;

	r = storage_snapshot_prepare(pool, volume, snapshot, true, &snap_path, err);
	if (r < 0)
		return r;
	r = storage_volume_prepare(pool, STORAGE_VOLUME_CONTAINER, dst, false, &dst_path, err);
	if (r < 0)
		return r;
	return clone_private(pool, snap_path, dst_path, err);
}

int storage_tree_volume_swap(const struct storage_pool *pool, const char *a, const char *b,
			     struct err **err)
{
	_cleanup_free_ char *pa = NULL, *pb = NULL;
	int r;

	r = storage_volume_prepare(pool, STORAGE_VOLUME_CONTAINER, a, true, &pa, err);
	if (r < 0)
		return r;
	r = storage_volume_prepare(pool, STORAGE_VOLUME_CONTAINER, b, true, &pb, err);
	if (r < 0)
		return r;
	/* One atomic step: each name holds one whole tree, before and after. */
	if (renameat2(AT_FDCWD, pa, AT_FDCWD, pb, RENAME_EXCHANGE) < 0)
		return err_set_errno(err, -errno, "Failed to swap volumes \"%s\" and \"%s\"", a, b);
	return 0;
}
