/*
 * The btrfs driver: volumes are subvolumes, copies are writable snapshots, snapshots are
 * read-only snapshots, so creation and restore cost the same whatever the data. Sizes come from
 * the level-0 qgroup of each subvolume. The only file that includes libbtrfsutil.
 *
 * A pool's source is one of:
 *   - a regular file (or a path that does not exist yet): a loop file, attached to a loop device
 *     with autoclear so the device goes away when the pool is unmounted;
 *   - a block device, formatted when it holds no filesystem;
 *   - a directory on an existing btrfs filesystem, bind-mounted at the mount path.
 */

#include "storage/storage-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <btrfsutil.h>
#include <linux/btrfs.h>
#include <linux/loop.h>
#include <linux/magic.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

/* The primary superblock sits at 64 KiB; its magic at offset 0x40 inside it. */
#define BTRFS_SUPER_OFFSET (64 * 1024)
#define BTRFS_MAGIC_OFFSET (BTRFS_SUPER_OFFSET + 0x40)
#define BTRFS_MAGIC_STRING "_BHRfS_M"

enum btrfs_source {
	BTRFS_SOURCE_LOOP,
	BTRFS_SOURCE_BLOCK,
	BTRFS_SOURCE_DIR,
	BTRFS_SOURCE_MAX,
};

static enum btrfs_source source_kind(const struct storage_pool *pool)
{
	struct stat st;

	if (stat(pool->source, &st) < 0)
		return BTRFS_SOURCE_LOOP; /* a loop file that pool_create will make */
	if (S_ISBLK(st.st_mode))
		return BTRFS_SOURCE_BLOCK;
	if (S_ISDIR(st.st_mode))
		return BTRFS_SOURCE_DIR;
	return BTRFS_SOURCE_LOOP;
}

/*
 * Turns a libbtrfsutil error into a negative errno and fills `err` with the context, the
 * library's text and, when the failure came from a system call, strerror. libbtrfsutil leaves
 * errno as the failing call set it, so callers clear errno before the call.
 */
static int btrfs_fail(struct err **err, enum btrfs_util_error e, int saved_errno, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));

static int btrfs_fail(struct err **err, enum btrfs_util_error e, int saved_errno, const char *fmt,
		      ...)
{
	_cleanup_free_ char *head = NULL;
	va_list ap;
	int code;

	if (e == BTRFS_UTIL_ERROR_NO_MEMORY)
		code = -ENOMEM;
	else if (e == BTRFS_UTIL_ERROR_INVALID_ARGUMENT || e == BTRFS_UTIL_ERROR_NOT_BTRFS ||
		 e == BTRFS_UTIL_ERROR_NOT_SUBVOLUME)
		code = -EINVAL;
	else if (e == BTRFS_UTIL_ERROR_SUBVOLUME_NOT_FOUND)
		code = -ENOENT;
	else
		code = saved_errno > 0 ? -saved_errno : -EIO;

	va_start(ap, fmt);
	if (vasprintf(&head, fmt, ap) < 0)
		head = NULL;
	va_end(ap);
	if (!head)
		return err_set(err, -ENOMEM, "Out of memory");
	if (saved_errno > 0 && code == -saved_errno)
		return err_set(err, code, "%s: %s: %s", head, btrfs_util_strerror(e),
			       strerror(saved_errno));
	return err_set(err, code, "%s: %s", head, btrfs_util_strerror(e));
}

static bool has_mkfs(void)
{
	_cleanup_free_ char *mkfs = storage_find_program("mkfs.btrfs");

	return mkfs != NULL;
}

static int btrfs_pool_check(const struct storage_pool *pool, struct err **err)
{
	_cleanup_free_ char *filesystems = NULL;
	bool found = false;
	int r;

	r = file_read_all("/proc/filesystems", &filesystems, NULL, err);
	if (r < 0)
		return r;
	for (char *save = NULL, *line = strtok_r(filesystems, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *fs = strrchr(line, '\t');

		if (strcmp(fs ? fs + 1 : line, "btrfs") == 0)
			found = true;
	}
	if (!found)
		return err_set(err, -ENODEV,
			       "Pool \"%s\" needs btrfs, which this kernel does not offer",
			       pool->name);
	if (!has_mkfs())
		return err_set(
		    err, -ENOENT,
		    "Pool \"%s\" needs \"mkfs.btrfs\" (btrfs-progs), which is not installed",
		    pool->name);
	return 0;
}

static int check_btrfs_dir(const struct storage_pool *pool, const char *path, struct err **err)
{
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return err_set_errno(err, -errno, "Source \"%s\" of pool \"%s\"", path, pool->name);
	if ((unsigned long)sf.f_type != (unsigned long)BTRFS_SUPER_MAGIC)
		return err_set(err, -EINVAL,
			       "Source \"%s\" of pool \"%s\" is not on a btrfs filesystem", path,
			       pool->name);
	return 0;
}

/*
 * 1 when the mount path holds this pool's filesystem, 0 when nothing is mounted there, -EBUSY
 * when something else is.
 */
static int pool_is_mounted(const struct storage_pool *pool, enum btrfs_source kind,
			   struct err **err)
{
	_cleanup_free_ char *source = NULL, *fstype = NULL, *backing = NULL;
	char real[PATH_MAX];
	struct stat a, b;
	bool ours = false;
	int r;

	if (kind == BTRFS_SOURCE_DIR && strcmp(pool->source, pool->mount_path) == 0)
		return 1; /* the pool is the directory itself, nothing to mount */
	r = storage_mount_find(pool->mount_path, &source, &fstype, err);
	if (r <= 0)
		return r;
	switch (kind) {
	case BTRFS_SOURCE_LOOP:
		ours = realpath(pool->source, real) &&
		       storage_loop_backing_file(source, &backing) == 0 &&
		       strcmp(backing, real) == 0;
		break;
	case BTRFS_SOURCE_BLOCK:
		ours = stat(source, &a) == 0 && stat(pool->source, &b) == 0 && S_ISBLK(a.st_mode) &&
		       a.st_rdev == b.st_rdev;
		break;
	case BTRFS_SOURCE_DIR:
		ours = storage_same_inode(pool->source, pool->mount_path);
		break;
	case BTRFS_SOURCE_MAX:
		break;
	}
	if (!ours)
		return err_set(err, -EBUSY,
			       "Mount path \"%s\" of pool \"%s\" holds another mount (\"%s\")",
			       pool->mount_path, pool->name, source);
	if (strcmp(fstype, "btrfs") != 0)
		return err_set(err, -EINVAL, "Pool \"%s\" is mounted as \"%s\", not btrfs",
			       pool->name, fstype);
	return 1;
}

static int mount_device(const struct storage_pool *pool, const char *dev, struct err **err)
{
	/*
	 * user_subvol_rm_allowed: an unprivileged container may delete the subvolumes it creates
	 * inside its rootfs.
	 *
	 * No nosuid, as LXD: the rootfs mounts of an unprivileged container inherit the flags of
	 * this mount, locked, so su, sudo or ping would stop working inside every container. A
	 * setuid file of an image or a container is kept from host users by the directories
	 * instead: image volumes and snapshot directories are 0700 root, an instance's volume is
	 * passable only by its own root uid (see storage/storage.h).
	 *
	 * noatime: with atimes, merely reading a file or listing a directory of a volume after a
	 * snapshot writes its inode, so the volume and its snapshots stop sharing metadata and its
	 * generation moves although nothing changed (snapshots.schedule.onchange would never
	 * skip). btrfs setups with snapshots mount noatime for the same reason.
	 */
	if (mount(dev, pool->mount_path, "btrfs", MS_NOATIME, "user_subvol_rm_allowed") < 0)
		return err_set_errno(err, -errno,
				     "Failed to mount \"%s\" at \"%s\" for pool \"%s\"", dev,
				     pool->mount_path, pool->name);
	return 0;
}

/* Mounts the pool's filesystem at its mount path; *ret_mounted says whether it did (so the
 * caller can undo). */
static int pool_attach(const struct storage_pool *pool, enum btrfs_source kind, bool *ret_mounted,
		       struct err **err)
{
	int r;

	*ret_mounted = false;
	r = pool_is_mounted(pool, kind, err);
	if (r < 0)
		return r;
	if (r > 0)
		return 0;
	r = mkdir_p(pool->mount_path, 0711, err);
	if (r < 0)
		return r;

	switch (kind) {
	case BTRFS_SOURCE_LOOP: {
		_cleanup_free_ char *dev = NULL;
		/* The loop device lives while this descriptor or the mount holds it. */
		_cleanup_close_ int loop_fd = -EBADF;

		r = storage_loop_attach(pool->source, &dev, &loop_fd, err);
		if (r < 0)
			return err_wrap(err, r, "Failed to mount pool \"%s\"", pool->name);
		r = mount_device(pool, dev, err);
		break;
	}
	case BTRFS_SOURCE_BLOCK:
		r = mount_device(pool, pool->source, err);
		break;
	case BTRFS_SOURCE_DIR:
		r = check_btrfs_dir(pool, pool->source, err);
		if (r >= 0)
			r = storage_bind_mount(pool->source, pool->mount_path, err);
		break;
	case BTRFS_SOURCE_MAX:
		r = err_set(err, -EINVAL, "Unknown source of pool \"%s\"", pool->name);
		break;
	}
	if (r < 0)
		return r;
	*ret_mounted = true;
	return 0;
}

static int btrfs_pool_mount(const struct storage_pool *pool, struct err **err)
{
	enum btrfs_source kind = source_kind(pool);
	bool mounted = false;
	int r;

	if (kind == BTRFS_SOURCE_LOOP && storage_path_exists(pool->source) < 0)
		return err_set(err, -ENOENT, "Loop file \"%s\" of pool \"%s\" does not exist",
			       pool->source, pool->name);
	r = pool_attach(pool, kind, &mounted, err);
	if (r < 0)
		return r;
	r = storage_pool_make_dirs(pool, err);
	if (r < 0 && mounted)
		storage_umount_ignoring(pool->mount_path);
	return r;
}

static int btrfs_pool_unmount(const struct storage_pool *pool, struct err **err)
{
	enum btrfs_source kind = source_kind(pool);
	int r;

	if (kind == BTRFS_SOURCE_DIR && strcmp(pool->source, pool->mount_path) == 0)
		return 0;
	r = pool_is_mounted(pool, kind, err);
	if (r <= 0)
		return r;
	/* A loop device goes away by itself (LO_FLAGS_AUTOCLEAR) once the mount lets go. */
	return storage_umount(pool->mount_path, err);
}

/* Grows the sparse loop file, tells the loop device (LOOP_SET_CAPACITY) and then btrfs ("max"):
 * each step leaves a working pool, and a pool whose file grew but whose filesystem did not is
 * only as big as it was. */
static int btrfs_pool_grow(const struct storage_pool *pool, uint64_t size, struct err **err)
{
	struct btrfs_ioctl_vol_args args = {0};
	_cleanup_free_ char *dev = NULL;
	_cleanup_close_ int fd = -EBADF, loop = -EBADF;
	int r;

	if (source_kind(pool) != BTRFS_SOURCE_LOOP)
		return err_set(err, -EOPNOTSUPP, "Storage pool \"%s\" has no loop file",
			       pool->name);
	r = storage_mount_find(pool->mount_path, &dev, NULL, err);
	if (r < 0)
		return r;
	if (r == 0)
		return err_set(err, -ENOENT, "Storage pool \"%s\" is not mounted", pool->name);
	if (truncate(pool->source, (off_t)size) < 0)
		return err_set_errno(err, -errno, "Failed to grow \"%s\"", pool->source);
	loop = open(dev, O_RDONLY | O_CLOEXEC);
	if (loop < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", dev);
	if (ioctl(loop, LOOP_SET_CAPACITY, 0) < 0)
		return err_set_errno(err, -errno, "Failed to resize \"%s\"", dev);
	fd = open(pool->mount_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", pool->mount_path);
	snprintf(args.name, sizeof(args.name), "max");
	if (ioctl(fd, BTRFS_IOC_RESIZE, &args) < 0)
		return err_set_errno(err, -errno, "Failed to grow the filesystem of pool \"%s\"",
				     pool->name);
	return 0;
}

static int enable_quotas(const struct storage_pool *pool, struct err **err)
{
	struct btrfs_ioctl_quota_ctl_args args = {.cmd = BTRFS_QUOTA_CTL_ENABLE};
	_cleanup_close_ int fd = -EBADF;

	fd = open(pool->mount_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", pool->mount_path);
	if (ioctl(fd, BTRFS_IOC_QUOTA_CTL, &args) < 0)
		return err_set_errno(err, -errno, "Failed to enable quotas on pool \"%s\"",
				     pool->name);
	return 0;
}

static int run_mkfs(const struct storage_pool *pool, const char *target, struct err **err)
{
	/* No -f: mkfs.btrfs then refuses a target that holds a filesystem, a second guard
	 * against formatting someone's data. */
	char *argv[] = {"mkfs.btrfs", "-q", (char *)target, NULL};
	int r;

	r = storage_run(argv, err);
	if (r < 0)
		return err_wrap(err, r, "Failed to format \"%s\" for pool \"%s\"", target,
				pool->name);
	return 0;
}

/* Formats a block device unless it already holds btrfs; refuses one with another filesystem. */
static int prepare_block(const struct storage_pool *pool, struct err **err)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *type = NULL;
	char magic[sizeof(BTRFS_MAGIC_STRING) - 1];
	char *argv[] = {"blkid", "-p", "-o", "value", "-s", "TYPE", pool->source, NULL};
	int status = 0, r;
	ssize_t n;

	fd = open(pool->source, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\" of pool \"%s\"",
				     pool->source, pool->name);
	n = pread(fd, magic, sizeof(magic), BTRFS_MAGIC_OFFSET);
	if (n < 0)
		return err_set_errno(err, -errno, "Failed to read \"%s\"", pool->source);
	if (n == (ssize_t)sizeof(magic) && memcmp(magic, BTRFS_MAGIC_STRING, sizeof(magic)) == 0)
		return 0;

	r = storage_spawn(argv, &status, &type, NULL, NULL);
	if (r == 0 && status == 0) {
		type[strcspn(type, "\n")] = '\0';
		if (*type)
			return err_set(err, -EEXIST,
				       "Block device \"%s\" already holds a \"%s\" filesystem; "
				       "refusing to format it for pool \"%s\"",
				       pool->source, type, pool->name);
	}
	/* blkid exits with 2 when it finds no signature; when it is missing, mkfs.btrfs itself
	 * still refuses to overwrite a filesystem. */
	return run_mkfs(pool, pool->source, err);
}

/* Creates the sparse loop file and formats it; *ret_created says whether the file is ours to
 * remove on a later failure. */
static int prepare_loop_file(const struct storage_pool *pool, bool *ret_created, struct err **err)
{
	_cleanup_free_ char *parent = strdup(pool->source);
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	char *slash;
	int r;

	*ret_created = false;
	if (!parent)
		return err_set(err, -ENOMEM, "Out of memory");
	if (pool->size == 0)
		return err_set(err, -EINVAL, "Pool \"%s\" needs a size for its loop file",
			       pool->name);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		r = mkdir_p(parent, 0711, err);
		if (r < 0)
			return r;
	}
	fd = open(pool->source, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		*ret_created = true;
	} else {
		if (errno != EEXIST)
			return err_set_errno(err, -errno, "Failed to create loop file \"%s\"",
					     pool->source);
		fd = open(pool->source, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return err_set_errno(err, -errno, "Failed to open loop file \"%s\"",
					     pool->source);
		if (fstat(fd, &st) < 0)
			return err_set_errno(err, -errno, "Failed to stat \"%s\"", pool->source);
		if (!S_ISREG(st.st_mode) || st.st_size != 0)
			return err_set(err, -EEXIST,
				       "Loop file \"%s\" of pool \"%s\" already exists",
				       pool->source, pool->name);
	}
	if (ftruncate(fd, (off_t)pool->size) < 0 || fchmod(fd, 0600) < 0) {
		r = err_set_errno(err, -errno, "Failed to size loop file \"%s\"", pool->source);
		if (*ret_created) {
			unlink(pool->source);
			*ret_created = false;
		}
		return r;
	}
	closep(&fd);
	r = run_mkfs(pool, pool->source, err);
	if (r < 0 && *ret_created) {
		unlink(pool->source);
		*ret_created = false;
	}
	return r;
}

static int btrfs_pool_create(const struct storage_pool *pool, struct err **err)
{
	enum btrfs_source kind = source_kind(pool);
	bool created = false, mounted = false;
	int r;

	r = btrfs_pool_check(pool, err);
	if (r < 0)
		return r;
	switch (kind) {
	case BTRFS_SOURCE_LOOP:
		r = prepare_loop_file(pool, &created, err);
		break;
	case BTRFS_SOURCE_BLOCK:
		r = prepare_block(pool, err);
		break;
	case BTRFS_SOURCE_DIR:
		r = check_btrfs_dir(pool, pool->source, err);
		break;
	case BTRFS_SOURCE_MAX:
		r = err_set(err, -EINVAL, "Unknown source of pool \"%s\"", pool->name);
		break;
	}
	if (r < 0)
		return r;

	r = pool_attach(pool, kind, &mounted, err);
	/* Quotas cover a whole filesystem: only turn them on where the pool owns it, not on a
	 * host filesystem that merely lends a directory. Snapshot sizes need them. */
	if (r >= 0 && kind != BTRFS_SOURCE_DIR)
		r = enable_quotas(pool, err);
	if (r >= 0)
		r = storage_pool_make_dirs(pool, err);
	if (r < 0) {
		if (mounted)
			storage_umount_ignoring(pool->mount_path);
		if (created)
			unlink(pool->source);
		return r;
	}
	return 0;
}

static int btrfs_pool_delete(const struct storage_pool *pool, struct err **err)
{
	static const char *const dirs[] = {"images", "containers", "containers-snapshots"};
	enum btrfs_source kind = source_kind(pool);
	int r;

	if (kind == BTRFS_SOURCE_DIR) {
		/* The directory belongs to a filesystem we do not own: take back only our empty
		 * directories, and refuse while volumes remain. */
		r = btrfs_pool_mount(pool, err);
		if (r < 0)
			return r;
		for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
			_cleanup_free_ char *path = str_printf("%s/%s", pool->mount_path, dirs[i]);

			if (!path)
				return err_set(err, -ENOMEM, "Out of memory");
			if (rmdir(path) < 0 && errno != ENOENT)
				return err_set_errno(err, -errno, "Failed to delete pool \"%s\"",
						     pool->name);
		}
	}
	r = btrfs_pool_unmount(pool, err);
	if (r < 0)
		return r;
	if (kind == BTRFS_SOURCE_LOOP && unlink(pool->source) < 0 && errno != ENOENT)
		return err_set_errno(err, -errno, "Failed to remove loop file \"%s\"",
				     pool->source);
	if (strcmp(pool->source, pool->mount_path) != 0 && rmdir(pool->mount_path) < 0 &&
	    errno != ENOENT)
		return err_set_errno(err, -errno, "Failed to remove \"%s\"", pool->mount_path);
	return 0;
}

/*
 * Deletes the subvolume at `path` with the subvolumes nested in it. A read-only snapshot is made
 * writable first (and read-only again when the delete fails). A plain directory (a leftover that
 * is not a subvolume) is removed as a tree.
 */
static int delete_subvolume(const char *path, struct err **err)
{
	enum btrfs_util_error e;
	bool ro = false;

	errno = 0;
	e = btrfs_util_is_subvolume(path);
	if (e == BTRFS_UTIL_ERROR_NOT_SUBVOLUME)
		return rm_rf(path, err);
	if (e != BTRFS_UTIL_OK)
		return btrfs_fail(err, e, errno, "Failed to inspect \"%s\"", path);
	errno = 0;
	e = btrfs_util_get_subvolume_read_only(path, &ro);
	if (e != BTRFS_UTIL_OK)
		return btrfs_fail(err, e, errno, "Failed to inspect \"%s\"", path);
	if (ro) {
		errno = 0;
		e = btrfs_util_set_subvolume_read_only(path, false);
		if (e != BTRFS_UTIL_OK)
			return btrfs_fail(err, e, errno, "Failed to make \"%s\" writable", path);
	}
	errno = 0;
	e = btrfs_util_delete_subvolume(path, BTRFS_UTIL_DELETE_SUBVOLUME_RECURSIVE);
	if (e != BTRFS_UTIL_OK) {
		int saved = errno;

		if (ro)
			btrfs_util_set_subvolume_read_only(path, true);
		return btrfs_fail(err, e, saved, "Failed to delete subvolume \"%s\"", path);
	}
	return 0;
}

static void delete_ignoring(const char *path)
{
	_cleanup_err_ struct err *e = NULL;

	if (delete_subvolume(path, &e) < 0)
		log_debug("Failed to remove \"%s\", ignoring: %s", path, err_msg(e, -EIO));
}

static int snapshot_subvolume(const char *src, const char *dst, bool read_only, struct err **err)
{
	enum btrfs_util_error e;

	errno = 0;
	e = btrfs_util_create_snapshot(
	    src, dst, read_only ? BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY : 0, NULL, NULL);
	if (e != BTRFS_UTIL_OK)
		return btrfs_fail(err, e, errno, "Failed to snapshot \"%s\" to \"%s\"", src, dst);
	return 0;
}

static int btrfs_volume_create(const struct storage_pool *pool, enum storage_volume_type type,
			       const char *name, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	enum btrfs_util_error e;
	int r;

	r = storage_volume_prepare(pool, type, name, false, &path, err);
	if (r < 0)
		return r;
	errno = 0;
	e = btrfs_util_create_subvolume(path, 0, NULL, NULL);
	if (e != BTRFS_UTIL_OK) {
		if (errno == EEXIST)
			return err_set(err, -EEXIST, "Volume \"%s\" already exists in pool \"%s\"",
				       name, pool->name);
		return btrfs_fail(err, e, errno, "Failed to create volume \"%s\" in pool \"%s\"",
				  name, pool->name);
	}
	/* A new subvolume is 0755: every volume starts closed, as on dir. */
	r = storage_make_private(path, err);
	if (r < 0) {
		delete_ignoring(path);
		return r;
	}
	return 0;
}

/*
 * Exclusive bytes of the subvolume at `path`, from its level-0 qgroup in sysfs
 * (/sys/fs/btrfs/<fsid>/qgroups/0_<id>/exclusive). Qgroup numbers are only brought up to date
 * when a transaction commits, so the filesystem is synced first: without it, data written a
 * moment ago is not counted yet. -EOPNOTSUPP when quotas are off.
 */
static int qgroup_exclusive(const struct storage_pool *pool, const char *path, uint64_t *ret_bytes,
			    struct err **err)
{
	struct btrfs_ioctl_fs_info_args info = {0};
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *sys = NULL, *data = NULL;
	char uuid[37];
	enum btrfs_util_error e;
	uint64_t id = 0;
	const uint8_t *u;
	char *end;
	int r;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", path);
	if (syncfs(fd) < 0)
		return err_set_errno(err, -errno, "Failed to sync pool \"%s\"", pool->name);
	errno = 0;
	e = btrfs_util_subvolume_id_fd(fd, &id);
	if (e != BTRFS_UTIL_OK)
		return btrfs_fail(err, e, errno, "Failed to get the subvolume of \"%s\"", path);
	if (ioctl(fd, BTRFS_IOC_FS_INFO, &info) < 0)
		return err_set_errno(err, -errno, "Failed to get the filesystem of pool \"%s\"",
				     pool->name);
	u = info.fsid;
	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	sys = str_printf("/sys/fs/btrfs/%s/qgroups/0_%" PRIu64 "/exclusive", uuid, id);
	if (!sys)
		return err_set(err, -ENOMEM, "Out of memory");
	r = file_read_all(sys, &data, NULL, NULL);
	if (r == -ENOENT)
		return err_set(err, -EOPNOTSUPP, "Quotas are not enabled in pool \"%s\"",
			       pool->name);
	if (r < 0)
		return err_set_errno(err, r, "Failed to read \"%s\"", sys);
	errno = 0;
	*ret_bytes = strtoull(data, &end, 10);
	if (errno != 0 || end == data)
		return err_set(err, -EIO, "Unexpected content in \"%s\"", sys);
	return 0;
}

static int btrfs_volume_usage(const struct storage_pool *pool, enum storage_volume_type type,
			      const char *name, uint64_t *ret_bytes, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	int r;

	r = storage_volume_prepare(pool, type, name, true, &path, err);
	if (r < 0)
		return r;
	return qgroup_exclusive(pool, path, ret_bytes, err);
}

static int btrfs_snapshot_usage(const struct storage_pool *pool, const char *volume,
				const char *snapshot, uint64_t *ret_bytes, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	int r;

	r = storage_snapshot_prepare(pool, volume, snapshot, true, &path, err);
	if (r < 0)
		return r;
	return qgroup_exclusive(pool, path, ret_bytes, err);
}

static int btrfs_snapshot_changed_since(const struct storage_pool *pool, const char *volume,
					const char *snapshot, struct err **err)
{
	_cleanup_free_ char *snap_path = NULL;
	_cleanup_free_ char *vol_path = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, volume);
	struct btrfs_util_subvolume_info vol, snap;
	enum btrfs_util_error e;
	int r;

	if (!vol_path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = storage_snapshot_prepare(pool, volume, snapshot, true, &snap_path, err);
	if (r < 0)
		return r;
	errno = 0;
	e = btrfs_util_subvolume_info(vol_path, 0, &vol);
	if (e)
		return btrfs_fail(err, e, errno, "Failed to read subvolume \"%s\"", vol_path);
	errno = 0;
	e = btrfs_util_subvolume_info(snap_path, 0, &snap);
	if (e)
		return btrfs_fail(err, e, errno, "Failed to read subvolume \"%s\"", snap_path);
	/* The snapshot ioctl commits the source at the snapshot's own transaction (otransid);
	 * any later write to the source moves its generation past it. */
	return vol.generation > snap.otransid ? 1 : 0;
}

/*
 * The size of a root disk: a limit on the bytes the volume's level-0 qgroup references, so the
 * image data the volume shares counts too, as with Incus. libbtrfsutil has no call for it, so it
 * is BTRFS_IOC_QGROUP_LIMIT on the subvolume (qgroupid 0: the subvolume of the descriptor). A
 * limit of (u64)-1 clears it. Quotas are on in pools cairn formats; a pool that sits in a host
 * btrfs directory has them only if the host turned them on (-ENOTCONN otherwise).
 */
static int btrfs_volume_set_quota(const struct storage_pool *pool, const char *name, uint64_t bytes,
				  struct err **err)
{
	struct btrfs_ioctl_qgroup_limit_args args = {0};
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r;

	r = storage_volume_prepare(pool, STORAGE_VOLUME_CONTAINER, name, true, &path, err);
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", path);
	args.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER;
	args.lim.max_rfer = bytes ? bytes : UINT64_MAX;
	if (ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &args) < 0) {
		if (errno == ENOTCONN)
			return err_set(err, -ENOTCONN,
				       "Cannot limit the size of volume \"%s\": quotas are not "
				       "enabled in pool \"%s\"",
				       name, pool->name);
		return err_set_errno(err, -errno, "Failed to limit the size of volume \"%s\"",
				     name);
	}
	return 0;
}

static int snapshot_path_of(const struct storage_pool *pool, const char *volume,
			    const char *snapshot, char **ret, struct err **err)
{
	*ret = storage_snapshot_path(pool, volume, snapshot);
	return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
}

/* BTRFS_IOC_SEND: the kernel writes the stream into `fd` itself, no program in between. */
static int btrfs_snapshot_send(const struct storage_pool *pool, const char *volume,
			       const char *snapshot, const char *parent, int fd, struct err **err)
{
	_cleanup_free_ char *path = NULL, *parent_path = NULL;
	_cleanup_close_ int sfd = -EBADF;
	struct btrfs_ioctl_send_args args = {.send_fd = fd};
	__u64 parent_id = 0;
	uint64_t id = 0;
	enum btrfs_util_error e;
	int r;

	r = snapshot_path_of(pool, volume, snapshot, &path, err);
	if (r < 0)
		return r;
	if (parent) {
		r = snapshot_path_of(pool, volume, parent, &parent_path, err);
		if (r < 0)
			return r;
		errno = 0;
		e = btrfs_util_subvolume_id(parent_path, &id);
		if (e != BTRFS_UTIL_OK)
			return btrfs_fail(err, e, errno, "Failed to inspect \"%s\"", parent_path);
		parent_id = id;
		/* The parent is also where unchanged extents may be cloned from, as btrfs send -p
		 * does it. */
		args.parent_root = parent_id;
		args.clone_sources = &parent_id;
		args.clone_sources_count = 1;
	}
	sfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", path);
	if (ioctl(sfd, BTRFS_IOC_SEND, &args) < 0)
		return err_set_errno(err, -errno, "Failed to send \"%s\"", path);
	return 0;
}

/* The last lines the receiver wrote on its standard error, for the message. */
static char *receive_errors(int fd)
{
	char buf[2048];
	ssize_t n;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;

	n = pread(fd, buf, sizeof(buf) - 1, from);
	if (n <= 0)
		return strdup("no message");
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return strdup(buf);
}

/*
 * `btrfs receive` (there is no kernel call: the stream is replayed by the program) into the
 * instance's snapshot directory, its standard input the other end of a socket pair that `feed`
 * writes into (a socket, so that a receiver that quits early makes the writer fail with EPIPE
 * rather than raise SIGPIPE). With -e it stops at the stream's end.
 */
static int btrfs_snapshot_receive(const struct storage_pool *pool, const char *volume,
				  int (*feed)(int fd, void *ctx, struct err **err), void *ctx,
				  struct err **err)
{
	_cleanup_free_ char *dir = storage_snapshot_path(pool, volume, "");
	_cleanup_free_ char *btrfs = storage_find_program("btrfs");
	_cleanup_close_ int errfd = -EBADF;
	posix_spawn_file_actions_t fa;
	int sv[2] = {-EBADF, -EBADF};
	int status = 0, r, q;
	pid_t pid;

	if (!dir)
		return err_set(err, -ENOMEM, "Out of memory");
	if (!btrfs)
		return err_set(err, -ENOENT, "The btrfs program is not installed (btrfs-progs)");
	r = mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	errfd = memfd_create("btrfs-receive", MFD_CLOEXEC);
	if (errfd < 0)
		return err_set_errno(err, -errno, "Failed to start btrfs receive");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set_errno(err, -errno, "Failed to start btrfs receive");
	{
		char *argv[] = {btrfs, "receive", "-e", dir, NULL};
		char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};

		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, sv[1], STDIN_FILENO);
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_adddup2(&fa, errfd, STDERR_FILENO);
		r = posix_spawn(&pid, btrfs, &fa, NULL, argv, envp);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(sv[1]);
	if (r != 0) {
		close(sv[0]);
		return err_set_errno(err, -r, "Failed to start btrfs receive");
	}
	/* The receiver reads the stream's end from the shutdown, then exits. */
	r = feed(sv[0], ctx, err);
	shutdown(sv[0], SHUT_WR);
	if (r < 0)
		kill(pid, SIGKILL);
	while ((q = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	close(sv[0]);
	if (r < 0)
		return r;
	if (q < 0)
		return err_set_errno(err, -errno, "Failed to wait for btrfs receive");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		_cleanup_free_ char *why = receive_errors(errfd);

		return err_set(err, -EINVAL, "btrfs receive failed: %s", why ? why : "no message");
	}
	return 0;
}

static int btrfs_snapshot_set_read_only(const struct storage_pool *pool, const char *volume,
					const char *snapshot, bool read_only, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	enum btrfs_util_error e;
	int r = snapshot_path_of(pool, volume, snapshot, &path, err);

	if (r < 0)
		return r;
	errno = 0;
	e = btrfs_util_set_subvolume_read_only(path, read_only);
	if (e != BTRFS_UTIL_OK)
		return btrfs_fail(err, e, errno, "Failed to change the read-only flag of \"%s\"",
				  path);
	return 0;
}

/* BTRFS_IOC_SET_RECEIVED_SUBVOL with nothing: the kernel refuses it on a read-only subvolume, so
 * the flag is lifted for the call and put back. */
static int btrfs_snapshot_forget_received(const struct storage_pool *pool, const char *volume,
					  const char *snapshot, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct btrfs_ioctl_received_subvol_args args = {0};
	int r = snapshot_path_of(pool, volume, snapshot, &path, err), q;

	if (r < 0)
		return r;
	r = btrfs_snapshot_set_read_only(pool, volume, snapshot, false, err);
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		r = err_set_errno(err, -errno, "Failed to open \"%s\"", path);
	else if (ioctl(fd, BTRFS_IOC_SET_RECEIVED_SUBVOL, &args) < 0)
		r = err_set_errno(err, -errno, "Failed to clear the received UUID of \"%s\"", path);
	q = btrfs_snapshot_set_read_only(pool, volume, snapshot, true, r < 0 ? NULL : err);
	return r < 0 ? r : q;
}

static int btrfs_snapshot_ids(const struct storage_pool *pool, const char *volume,
			      const char *snapshot, struct storage_snapshot_ids *ret,
			      struct err **err)
{
	_cleanup_free_ char *path = NULL;
	struct btrfs_util_subvolume_info info;
	enum btrfs_util_error e;
	int r = snapshot_path_of(pool, volume, snapshot, &path, err);

	if (r < 0)
		return r;
	errno = 0;
	e = btrfs_util_subvolume_info(path, 0, &info);
	if (e != BTRFS_UTIL_OK)
		return btrfs_fail(err, e, errno, "Failed to read the subvolume of \"%s\"", path);
	memcpy(ret->uuid, info.uuid, 16);
	ret->ctransid = info.ctransid;
	memcpy(ret->received_uuid, info.received_uuid, 16);
	ret->stransid = info.stransid;
	return 0;
}

const struct storage_ops storage_btrfs_ops = {
    .name = "btrfs",
    .snapshot_needs_freeze = false,
    .instant_snapshots = true,
    .pool_check = btrfs_pool_check,
    .pool_create = btrfs_pool_create,
    .pool_delete = btrfs_pool_delete,
    .pool_mount = btrfs_pool_mount,
    .pool_unmount = btrfs_pool_unmount,
    .pool_usage = storage_statvfs_usage,
    .pool_grow = btrfs_pool_grow,
    .volume_create = btrfs_volume_create,
    .volume_delete = storage_tree_volume_delete,
    .volume_rename = storage_rename_volume,
    .volume_usage = btrfs_volume_usage,
    .volume_copy = storage_tree_volume_copy,
    .volume_import = storage_tree_volume_import,
    .snapshot_create = storage_tree_snapshot_create,
    .snapshot_delete = storage_tree_snapshot_delete,
    .snapshot_rename = storage_rename_snapshot,
    .snapshot_restore = storage_tree_snapshot_restore,
    .volume_from_snapshot = storage_tree_volume_from_snapshot,
    .snapshot_usage = btrfs_snapshot_usage,
    .snapshot_changed_since = btrfs_snapshot_changed_since,
    .volume_set_quota = btrfs_volume_set_quota,
    .snapshot_send = btrfs_snapshot_send,
    .snapshot_receive = btrfs_snapshot_receive,
    .snapshot_set_read_only = btrfs_snapshot_set_read_only,
    .snapshot_forget_received = btrfs_snapshot_forget_received,
    .snapshot_ids = btrfs_snapshot_ids,
    .tree_clone = snapshot_subvolume,
    .tree_remove = delete_subvolume,
};
