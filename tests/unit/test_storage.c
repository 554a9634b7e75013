/*
 * Storage drivers: one shared suite run against `dir` (in a temporary directory) and `btrfs` (on a
 * real 1 GiB loop-file pool, root only), plus driver-specific checks. Every group tears down its
 * mounts and temporary files in its teardown, which cmocka runs even when a test fails.
 */

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "storage/storage.h"

#define MIB (1024ULL * 1024)

struct fixture {
	char tmp[PATH_MAX];		/* temporary root, the pool's CAIRN_DIR */
	struct storage_pool pool;	/* the pool under test */
	bool created;			/* pool_create succeeded, teardown deletes it */
	char extra_mounts[2][PATH_MAX]; /* mounts a test made, undone by the teardown (in order) */
	char loop_dev[64]; /* a loop device a test attached, detached by the teardown */
};

static bool is_root(void)
{
	return geteuid() == 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static char *vpath(struct fixture *f, enum storage_volume_type type, const char *name,
		   const char *rel)
{
	_cleanup_free_ char *base = storage_volume_path(&f->pool, type, name);
	char *p;

	assert_non_null(base);
	p = rel ? str_printf("%s/%s", base, rel) : strdup(base);
	assert_non_null(p);
	return p;
}

static char *spath(struct fixture *f, const char *volume, const char *snapshot, const char *rel)
{
	_cleanup_free_ char *base = storage_snapshot_path(&f->pool, volume, snapshot);
	char *p;

	assert_non_null(base);
	p = rel ? str_printf("%s/%s", base, rel) : strdup(base);
	assert_non_null(p);
	return p;
}

static void write_file(const char *path, const char *content)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
}

/* Writes `bytes` of data that no filesystem can compress away or share. */
static void write_data(const char *path, size_t bytes)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	_cleanup_free_ uint32_t *buf = malloc(MIB);
	uint32_t x = (uint32_t)time(NULL) | 1;

	assert_true(fd >= 0);
	assert_non_null(buf);
	for (size_t done = 0; done < bytes; done += MIB) {
		for (size_t i = 0; i < MIB / sizeof(uint32_t); i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			buf[i] = x;
		}
		assert_int_equal(write(fd, buf, MIB), (ssize_t)MIB);
	}
	assert_int_equal(fsync(fd), 0);
}

static void assert_file(const char *path, const char *content)
{
	_cleanup_free_ char *data = NULL;

	assert_int_equal(file_read_all(path, &data, NULL, NULL), 0);
	assert_string_equal(data, content);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Entries of `dir` whose name starts with `prefix`. */
static size_t count_prefixed(const char *dir, const char *prefix)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (str_startswith(de->d_name, prefix))
			n++;
	return n;
}

static bool xattr_supported(const char *dir)
{
	_cleanup_free_ char *probe = str_printf("%s/.xattr-probe", dir);
	bool ok;

	write_file(probe, "");
	ok = setxattr(probe, "user.probe", "1", 1, 0) == 0;
	unlink(probe);
	return ok;
}

/* Whether populate() could set a user xattr (verify() may run on a read-only snapshot, where
 * it cannot probe). */
static bool with_xattr;

/*
 * A small rootfs with everything a copy must keep: ownership (root only), modes with setuid,
 * timestamps, a symlink with its own owner, a hard link, a fifo, a device node (root only), an
 * xattr and nested directories.
 */
static void populate(const char *vol)
{
	_cleanup_free_ char *rootfs = str_printf("%s/rootfs", vol);
	_cleanup_free_ char *file = str_printf("%s/file", rootfs);
	_cleanup_free_ char *suid = str_printf("%s/suid", rootfs);
	_cleanup_free_ char *sym = str_printf("%s/link", rootfs);
	_cleanup_free_ char *hard = str_printf("%s/hard", rootfs);
	_cleanup_free_ char *fifo = str_printf("%s/fifo", rootfs);
	_cleanup_free_ char *dev = str_printf("%s/null", rootfs);
	_cleanup_free_ char *deep = str_printf("%s/a/b/c", rootfs);
	_cleanup_free_ char *deepfile = str_printf("%s/a/b/c/deep", rootfs);
	struct timespec times[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};

	assert_int_equal(mkdir(rootfs, 0755), 0);
	write_file(file, "hello");
	assert_int_equal(chmod(file, 0640), 0);
	assert_int_equal(utimensat(AT_FDCWD, file, times, 0), 0);
	write_file(suid, "#!/bin/sh\n");
	assert_int_equal(chmod(suid, 04755), 0);
	assert_int_equal(symlink("file", sym), 0);
	assert_int_equal(link(file, hard), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(mkdir_p(deep, 0750, NULL), 0);
	write_file(deepfile, "deep");
	with_xattr = xattr_supported(rootfs);
	if (with_xattr)
		assert_int_equal(setxattr(file, "user.cairn", "kept", 4, 0), 0);
	if (is_root()) {
		assert_int_equal(chown(file, 1000, 1001), 0);
		assert_int_equal(chmod(file, 0640), 0);
		assert_int_equal(chown(suid, 0, 0), 0);
		assert_int_equal(chmod(suid, 04755), 0);
		assert_int_equal(lchown(sym, 1002, 1003), 0);
		assert_int_equal(mknod(dev, S_IFCHR | 0666, makedev(1, 3)), 0);
		assert_int_equal(chown(rootfs, 100000, 100000), 0);
	}
}

static void verify(const char *vol)
{
	_cleanup_free_ char *rootfs = str_printf("%s/rootfs", vol);
	_cleanup_free_ char *file = str_printf("%s/file", rootfs);
	_cleanup_free_ char *suid = str_printf("%s/suid", rootfs);
	_cleanup_free_ char *sym = str_printf("%s/link", rootfs);
	_cleanup_free_ char *hard = str_printf("%s/hard", rootfs);
	_cleanup_free_ char *fifo = str_printf("%s/fifo", rootfs);
	_cleanup_free_ char *dev = str_printf("%s/null", rootfs);
	_cleanup_free_ char *deepdir = str_printf("%s/a/b/c", rootfs);
	_cleanup_free_ char *deepfile = str_printf("%s/a/b/c/deep", rootfs);
	char target[64] = {0}, value[16] = {0};
	struct stat st, st2;

	assert_int_equal(lstat(file, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	assert_file(file, "hello");
	assert_int_equal(lstat(hard, &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino); /* still one inode */
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(lstat(suid, &st2), 0);
	assert_int_equal(st2.st_mode & 07777, 04755);
	assert_int_equal(readlink(sym, target, sizeof(target) - 1), 4);
	assert_string_equal(target, "file");
	assert_int_equal(lstat(fifo, &st2), 0);
	assert_true(S_ISFIFO(st2.st_mode));
	assert_int_equal(lstat(deepdir, &st2), 0);
	assert_int_equal(st2.st_mode & 07777, 0750);
	assert_file(deepfile, "deep");
	if (with_xattr) {
		assert_int_equal(getxattr(file, "user.cairn", value, sizeof(value) - 1), 4);
		assert_string_equal(value, "kept");
	}
	if (is_root()) {
		assert_int_equal(st.st_uid, 1000);
		assert_int_equal(st.st_gid, 1001);
		assert_int_equal(lstat(sym, &st2), 0);
		assert_int_equal(st2.st_uid, 1002);
		assert_int_equal(st2.st_gid, 1003);
		assert_int_equal(lstat(dev, &st2), 0);
		assert_true(S_ISCHR(st2.st_mode));
		assert_int_equal(major(st2.st_rdev), 1);
		assert_int_equal(minor(st2.st_rdev), 3);
		assert_int_equal(lstat(rootfs, &st2), 0);
		assert_int_equal(st2.st_uid, 100000);
	}
}

/* Whether `path` is a mount point, by its line in /proc/self/mountinfo. */
static size_t mount_count(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL, *needle = str_printf(" %s ", path);
	size_t cap = 0, n = 0;

	assert_non_null(f);
	while (getline(&line, &cap, f) > 0)
		if (strstr(line, needle))
			n++;
	return n;
}

/* Loop devices whose backing file is `file`. */
static size_t loop_devices_of(const char *file)
{
	glob_t g = {0};
	size_t n = 0;

	if (glob("/sys/block/loop*/loop/backing_file", 0, NULL, &g) != 0)
		return 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		_cleanup_free_ char *data = NULL;

		if (file_read_all(g.gl_pathv[i], &data, NULL, NULL) < 0)
			continue;
		data[strcspn(data, "\n")] = '\0';
		if (strcmp(data, file) == 0)
			n++;
	}
	globfree(&g);
	return n;
}

static void wait_loop_devices(const char *file, size_t want)
{
	for (int i = 0; i < 50 && loop_devices_of(file) != want; i++) {
		const struct timespec pause = {.tv_nsec = 100 * 1000 * 1000};

		nanosleep(&pause, NULL);
	}
	assert_int_equal(loop_devices_of(file), want);
}

/* Runs a shell command line (test setup only); returns its exit status. */
static int run_shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run_shell(const char *fmt, ...)
{
	_cleanup_free_ char *cmd = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -1;
	r = system(cmd);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

/* ---- fixtures ----------------------------------------------------------------------------- */

static int fixture_setup(void **state, const char *driver, uint64_t size)
{
	struct fixture *f = calloc(1, sizeof(*f));
	_cleanup_err_ struct err *e = NULL;
	int r;

	if (!f)
		return -1;
	*state = f;
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/cairn-storage-%s-XXXXXX", driver);
	if (!mkdtemp(f->tmp))
		return -1;
	r = storage_pool_init(&f->pool, f->tmp, "p1", driver, NULL, size, &e);
	if (r == 0)
		r = storage_pool_create(&f->pool, &e);
	if (r < 0) {
		fprintf(stderr, "pool setup failed: %s\n", err_msg(e, r));
		return -1;
	}
	f->created = true;
	return 0;
}

/* Undoes the extra mounts and the loop device a test made; a test's own teardown, so a failed
 * test does not leave them to the next one. */
static int test_cleanup(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	for (size_t i = 0; i < 2; i++) {
		if (f->extra_mounts[i][0])
			umount2(f->extra_mounts[i], MNT_DETACH);
		f->extra_mounts[i][0] = '\0';
	}
	if (f->loop_dev[0])
		run_shell("losetup -d '%s'", f->loop_dev);
	f->loop_dev[0] = '\0';
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;

	if (!f)
		return 0;
	test_cleanup(state);
	if (f->created && storage_pool_delete(&f->pool, &e) < 0) {
		fprintf(stderr, "pool delete failed: %s\n", err_msg(e, -EIO));
		/* Still leave nothing mounted behind. */
		if (f->pool.mount_path)
			while (umount2(f->pool.mount_path, MNT_DETACH) == 0)
				;
	}
	if (f->tmp[0])
		rm_rf(f->tmp, NULL);
	storage_pool_done(&f->pool);
	free(f);
	*state = NULL;
	return 0;
}

static int dir_setup(void **state)
{
	return fixture_setup(state, "dir", 0);
}

static int btrfs_setup(void **state)
{
	return fixture_setup(state, "btrfs", 1024 * MIB);
}

/* ---- the shared suite --------------------------------------------------------------------- */

static void test_volume_create_delete(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *path = vpath(f, STORAGE_VOLUME_CONTAINER, "c1", NULL);
	_cleanup_free_ char *inside = vpath(f, STORAGE_VOLUME_CONTAINER, "c1", "f");
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *expected = str_printf("Volume \"c1\" already exists in pool \"p1\"");
	struct stat st;

	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "c1", NULL), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	write_file(inside, "x");
	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "c1", &e),
			 -EEXIST);
	assert_non_null(e);
	assert_string_equal(e->msg, expected);
	err_freep(&e);

	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "c1", NULL), 0);
	assert_false(exists(path));
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "c1", &e),
			 -ENOENT);
	assert_non_null(strstr(e->msg, "\"c1\""));
	err_freep(&e);

	/* Images and containers are separate namespaces. */
	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_IMAGE, "c1", NULL), 0);
	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "c1", NULL), 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_IMAGE, "c1", NULL), 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "c1", NULL), 0);

	/* Names never leave their directory. */
	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "../x", &e),
			 -EINVAL);
	err_freep(&e);
	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "..", NULL),
			 -EINVAL);
	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "", NULL),
			 -EINVAL);
}

static void test_volume_copy_preserves_contents(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *img = vpath(f, STORAGE_VOLUME_IMAGE, "img", NULL);
	_cleanup_free_ char *c2 = vpath(f, STORAGE_VOLUME_CONTAINER, "c2", NULL);
	_cleanup_free_ char *c2file = vpath(f, STORAGE_VOLUME_CONTAINER, "c2", "rootfs/file");
	_cleanup_free_ char *imgfile = vpath(f, STORAGE_VOLUME_IMAGE, "img", "rootfs/file");
	_cleanup_free_ char *containers = str_printf("%s/containers", f->pool.mount_path);
	_cleanup_err_ struct err *e = NULL;

	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_IMAGE, "img", NULL), 0);
	populate(img);
	assert_int_equal(storage_volume_copy(&f->pool, STORAGE_VOLUME_IMAGE, "img",
					     STORAGE_VOLUME_CONTAINER, "c2", NULL),
			 0);
	verify(c2);
	assert_int_equal(count_prefixed(containers, ".tmp-"), 0);

	/* The copy is independent of its source. */
	write_file(c2file, "changed");
	assert_file(imgfile, "hello");

	assert_int_equal(storage_volume_copy(&f->pool, STORAGE_VOLUME_IMAGE, "img",
					     STORAGE_VOLUME_CONTAINER, "c2", &e),
			 -EEXIST);
	assert_non_null(strstr(e->msg, "\"c2\" already exists"));
	err_freep(&e);
	assert_int_equal(storage_volume_copy(&f->pool, STORAGE_VOLUME_IMAGE, "nope",
					     STORAGE_VOLUME_CONTAINER, "c3", &e),
			 -ENOENT);
	assert_non_null(strstr(e->msg, "\"nope\""));
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "c2", NULL), 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_IMAGE, "img", NULL), 0);
}

/* A tree from outside the pool (another pool's volume, here a plain directory of the test)
 * becomes a volume of the driver's own kind, whole, with everything kept. */
static void test_volume_import(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *outside = str_printf("%s/outside", f->tmp);
	_cleanup_free_ char *imported = vpath(f, STORAGE_VOLUME_IMAGE, "imported", NULL);
	_cleanup_free_ char *images = str_printf("%s/images", f->pool.mount_path);
	_cleanup_free_ char *broken = vpath(f, STORAGE_VOLUME_IMAGE, "broken", NULL);
	_cleanup_err_ struct err *e = NULL;

	assert_int_equal(mkdir(outside, 0711), 0);
	populate(outside);
	assert_int_equal(
	    storage_volume_import(&f->pool, STORAGE_VOLUME_IMAGE, "imported", outside, NULL), 0);
	verify(imported);
	assert_int_equal(count_prefixed(images, ".import-"), 0);

	assert_int_equal(
	    storage_volume_import(&f->pool, STORAGE_VOLUME_IMAGE, "imported", outside, &e),
	    -EEXIST);
	err_freep(&e);
	/* A source that cannot be read leaves nothing, not even the hidden volume. */
	assert_true(storage_volume_import(&f->pool, STORAGE_VOLUME_IMAGE, "broken",
					  "/nonexistent-source", &e) < 0);
	assert_non_null(e);
	assert_int_equal(count_prefixed(images, ".import-"), 0);
	assert_int_equal(access(broken, F_OK), -1);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_IMAGE, "imported", NULL),
			 0);
	assert_int_equal(rm_rf(outside, NULL), 0);
}

static void test_volume_rename(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *oldfile = vpath(f, STORAGE_VOLUME_CONTAINER, "r1", "f");
	_cleanup_free_ char *newfile = vpath(f, STORAGE_VOLUME_CONTAINER, "r2", "f");
	_cleanup_free_ char *snapfile = spath(f, "r2", "s0", "f");
	_cleanup_free_ char *blocker = str_printf("%s/containers-snapshots/r3", f->pool.mount_path);
	_cleanup_free_ char *blocker_file = str_printf("%s/keep", blocker);
	_cleanup_err_ struct err *e = NULL;

	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "r1", NULL), 0);
	write_file(oldfile, "data");
	assert_int_equal(storage_snapshot_create(&f->pool, "r1", "s0", NULL), 0);
	assert_int_equal(
	    storage_volume_rename(&f->pool, STORAGE_VOLUME_CONTAINER, "r1", "r2", NULL), 0);
	assert_false(exists(oldfile));
	assert_file(newfile, "data");
	assert_file(snapfile, "data"); /* the snapshots followed */

	assert_int_equal(storage_volume_rename(&f->pool, STORAGE_VOLUME_CONTAINER, "r1", "r9", &e),
			 -ENOENT);
	err_freep(&e);
	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "other", NULL),
			 0);
	assert_int_equal(
	    storage_volume_rename(&f->pool, STORAGE_VOLUME_CONTAINER, "r2", "other", &e), -EEXIST);
	assert_non_null(strstr(e->msg, "\"other\" already exists"));
	err_freep(&e);
	assert_file(newfile, "data");

	/* Undo: snapshots of a former "r3" are in the way, so moving r2's snapshots fails after
	 * the volume itself was renamed; the volume must be back under its old name. */
	assert_int_equal(mkdir(blocker, 0711), 0);
	write_file(blocker_file, "x");
	assert_true(storage_volume_rename(&f->pool, STORAGE_VOLUME_CONTAINER, "r2", "r3", &e) < 0);
	assert_non_null(e);
	err_freep(&e);
	assert_file(newfile, "data");
	assert_file(snapfile, "data");
	assert_int_equal(rm_rf(blocker, NULL), 0);

	assert_int_equal(storage_snapshot_delete(&f->pool, "r2", "s0", NULL), 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "r2", NULL), 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "other", NULL),
			 0);
}

/* What the restore hooks of test_snapshot_lifecycle() do and saw. */
struct hook_calls {
	int fail_prepare; /* errno the prepare hook fails with, 0: it writes "added" */
	int fail_commit;  /* likewise for the commit hook */
	int commits;	  /* commit hooks that ran */
	const char *vol;  /* the volume, to check that the swap happened before commit */
};

static int hook_prepare(const char *path, void *data, struct err **err)
{
	struct hook_calls *c = data;
	_cleanup_free_ char *added = str_printf("%s/added", path);

	if (c->fail_prepare)
		return err_set(err, -c->fail_prepare, "prepare failed");
	write_file(added, "added");
	return 0;
}

static int hook_commit(void *data, struct err **err)
{
	struct hook_calls *c = data;
	_cleanup_free_ char *added = str_printf("%s/added", c->vol);

	/* The restored tree, with what prepare wrote, is in place when commit runs. */
	assert_file(added, "added");
	c->commits++;
	if (c->fail_commit)
		return err_set(err, -c->fail_commit, "commit failed");
	return 0;
}

static void test_snapshot_lifecycle(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *vol = vpath(f, STORAGE_VOLUME_CONTAINER, "c1", NULL);
	_cleanup_free_ char *file = vpath(f, STORAGE_VOLUME_CONTAINER, "c1", "f");
	_cleanup_free_ char *extra = vpath(f, STORAGE_VOLUME_CONTAINER, "c1", "extra");
	_cleanup_free_ char *s0file = spath(f, "c1", "s0", "f");
	_cleanup_free_ char *s1file = spath(f, "c1", "s1", "f");
	_cleanup_free_ char *renamed = spath(f, "c1", "first", "f");
	_cleanup_free_ char *newfile = vpath(f, STORAGE_VOLUME_CONTAINER, "fromsnap", "f");
	_cleanup_free_ char *snapdir = str_printf("%s/containers-snapshots/c1", f->pool.mount_path);
	_cleanup_free_ char *containers = str_printf("%s/containers", f->pool.mount_path);
	_cleanup_free_ char *added = vpath(f, STORAGE_VOLUME_CONTAINER, "c1", "added");
	_cleanup_err_ struct err *e = NULL;
	struct hook_calls calls = {0};
	struct storage_restore_hooks hooks = {
	    .prepare = hook_prepare,
	    .commit = hook_commit,
	    .data = &calls,
	};

	assert_int_equal(storage_snapshot_create(&f->pool, "c1", "s0", &e), -ENOENT);
	err_freep(&e);
	assert_false(exists(snapdir));

	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "c1", NULL), 0);
	write_file(file, "v1");
	assert_int_equal(storage_snapshot_create(&f->pool, "c1", "s0", NULL), 0);
	write_file(file, "v2");
	assert_int_equal(storage_snapshot_create(&f->pool, "c1", "s1", NULL), 0);
	write_file(file, "v3");
	write_file(extra, "only after s1");
	assert_file(s0file, "v1");
	assert_file(s1file, "v2");

	assert_int_equal(storage_snapshot_create(&f->pool, "c1", "s1", &e), -EEXIST);
	assert_string_equal(e->msg, "Snapshot \"c1/s1\" already exists in pool \"p1\"");
	err_freep(&e);

	/* Restoring the older snapshot keeps the newer one. */
	assert_int_equal(storage_snapshot_restore(&f->pool, "c1", "s0", NULL), 0);
	assert_file(file, "v1");
	assert_false(exists(extra));
	assert_file(s1file, "v2");
	assert_int_equal(count_prefixed(containers, ".restore-"), 0);
	assert_int_equal(storage_snapshot_restore(&f->pool, "c1", "s1", NULL), 0);
	assert_file(file, "v2");
	assert_int_equal(storage_snapshot_restore(&f->pool, "c1", "nope", &e), -ENOENT);
	assert_non_null(strstr(e->msg, "\"c1/nope\""));
	err_freep(&e);
	assert_file(file, "v2");

	/* The caller's hooks: when either fails the volume is as it was and no copy is left;
	 * what prepare writes arrives with the swap. */
	calls.vol = vol;
	calls.fail_prepare = ENOSPC;
	assert_int_equal(storage_snapshot_restore_with(&f->pool, "c1", "s0", &hooks, &e), -ENOSPC);
	assert_string_equal(e->msg, "prepare failed");
	err_freep(&e);
	assert_int_equal(calls.commits, 0);
	assert_file(file, "v2");
	assert_int_equal(count_prefixed(containers, ".restore-"), 0);
	calls.fail_prepare = 0;
	calls.fail_commit = EIO;
	assert_int_equal(storage_snapshot_restore_with(&f->pool, "c1", "s0", &hooks, &e), -EIO);
	err_freep(&e);
	assert_int_equal(calls.commits, 1);
	assert_file(file, "v2");
	assert_false(exists(added));
	assert_int_equal(count_prefixed(containers, ".restore-"), 0);
	calls.fail_commit = 0;
	assert_int_equal(storage_snapshot_restore_with(&f->pool, "c1", "s0", &hooks, &e), 0);
	assert_int_equal(calls.commits, 2);
	assert_file(file, "v1");
	assert_file(added, "added");
	assert_int_equal(count_prefixed(containers, ".restore-"), 0);

	/* Rename. */
	assert_int_equal(storage_snapshot_rename(&f->pool, "c1", "s0", "first", NULL), 0);
	assert_file(renamed, "v1");
	assert_false(exists(s0file));
	assert_int_equal(storage_snapshot_rename(&f->pool, "c1", "first", "s1", &e), -EEXIST);
	err_freep(&e);
	assert_int_equal(storage_snapshot_rename(&f->pool, "c1", "s0", "s5", &e), -ENOENT);
	err_freep(&e);

	/* A new volume from a snapshot, independent of it. */
	assert_int_equal(storage_volume_from_snapshot(&f->pool, "c1", "first", "fromsnap", NULL),
			 0);
	assert_file(newfile, "v1");
	write_file(newfile, "mine");
	assert_file(renamed, "v1");
	assert_int_equal(storage_volume_from_snapshot(&f->pool, "c1", "first", "fromsnap", &e),
			 -EEXIST);
	err_freep(&e);
	assert_int_equal(storage_volume_from_snapshot(&f->pool, "c1", "gone", "x", &e), -ENOENT);
	err_freep(&e);

	/* Delete; the snapshot directory goes with the last snapshot. */
	assert_int_equal(storage_snapshot_delete(&f->pool, "c1", "first", NULL), 0);
	assert_false(exists(renamed));
	assert_true(exists(snapdir));
	assert_int_equal(storage_snapshot_delete(&f->pool, "c1", "first", &e), -ENOENT);
	err_freep(&e);
	assert_int_equal(storage_snapshot_delete(&f->pool, "c1", "s1", NULL), 0);
	assert_false(exists(snapdir));
	assert_true(exists(vol));

	assert_int_equal(
	    storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "fromsnap", NULL), 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "c1", NULL), 0);
}

static void test_snapshot_preserves_contents(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *vol = vpath(f, STORAGE_VOLUME_CONTAINER, "p", NULL);
	_cleanup_free_ char *snap = spath(f, "p", "s", NULL);
	_cleanup_free_ char *clone = vpath(f, STORAGE_VOLUME_CONTAINER, "pclone", NULL);
	_cleanup_free_ char *rootfs = vpath(f, STORAGE_VOLUME_CONTAINER, "p", "rootfs");

	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "p", NULL), 0);
	populate(vol);
	assert_int_equal(storage_snapshot_create(&f->pool, "p", "s", NULL), 0);
	verify(snap);
	assert_int_equal(rm_rf(rootfs, NULL), 0);
	assert_int_equal(storage_snapshot_restore(&f->pool, "p", "s", NULL), 0);
	verify(vol);
	assert_int_equal(storage_volume_from_snapshot(&f->pool, "p", "s", "pclone", NULL), 0);
	verify(clone);
	assert_int_equal(storage_snapshot_delete(&f->pool, "p", "s", NULL), 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "p", NULL), 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "pclone", NULL),
			 0);
}

/* `path` has mode `mode` and belongs to `uid` (the test's own uid when run as a user). */
static void assert_mode(const char *path, mode_t mode, uid_t uid)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	if ((st.st_mode & 07777) != mode || st.st_uid != uid)
		fail_msg("%s: mode %o owner %u, expected %o owner %u", path, st.st_mode & 07777,
			 st.st_uid, mode, uid);
}

/*
 * The layout keeps users out of a pool: images/ and each instance's snapshot directory are
 * private, every volume is handed out private (0700, the daemon's) whatever its source was, a
 * snapshot keeps its volume's mode, and a mount closes what an older layout left open.
 */
static void test_volume_modes(void **state)
{
	struct fixture *f = *state;
	const char *mnt = f->pool.mount_path;
	_cleanup_free_ char *images = str_printf("%s/images", mnt);
	_cleanup_free_ char *containers = str_printf("%s/containers", mnt);
	_cleanup_free_ char *snaps = str_printf("%s/containers-snapshots", mnt);
	_cleanup_free_ char *img = vpath(f, STORAGE_VOLUME_IMAGE, "img", NULL);
	_cleanup_free_ char *c1 = vpath(f, STORAGE_VOLUME_CONTAINER, "c1", NULL);
	_cleanup_free_ char *c2 = vpath(f, STORAGE_VOLUME_CONTAINER, "c2", NULL);
	_cleanup_free_ char *c3 = vpath(f, STORAGE_VOLUME_CONTAINER, "c3", NULL);
	_cleanup_free_ char *imported = vpath(f, STORAGE_VOLUME_IMAGE, "imported", NULL);
	_cleanup_free_ char *c1file = vpath(f, STORAGE_VOLUME_CONTAINER, "c1", "f");
	_cleanup_free_ char *snapdir = str_printf("%s/containers-snapshots/c1", mnt);
	_cleanup_free_ char *s0 = spath(f, "c1", "s0", NULL);
	_cleanup_free_ char *outside = str_printf("%s/outside", f->tmp);
	uid_t me = geteuid();
	/* An instance's root uid and its mode; as a user, the volume stays ours and readable, for
	 * the copies to read it. */
	uid_t owner = is_root() ? 1000000 : me;
	gid_t group = is_root() ? 0 : getegid();
	mode_t open_mode = is_root() ? 0100 : 0755;

	assert_mode(mnt, 0711, me);
	assert_mode(images, 0700, me);
	assert_mode(containers, 0711, me);
	assert_mode(snaps, 0711, me);

	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_IMAGE, "img", NULL), 0);
	assert_mode(img, 0700, me);
	assert_int_equal(storage_volume_copy(&f->pool, STORAGE_VOLUME_IMAGE, "img",
					     STORAGE_VOLUME_CONTAINER, "c1", NULL),
			 0);
	assert_mode(c1, 0700, me);

	/* The instance layer opens its volume to the container's root; its snapshot keeps that,
	 * behind a private directory. */
	write_file(c1file, "x");
	assert_int_equal(chown(c1, owner, group), 0);
	assert_int_equal(chmod(c1, open_mode), 0);
	assert_int_equal(storage_snapshot_create(&f->pool, "c1", "s0", NULL), 0);
	assert_mode(snapdir, 0700, me);
	assert_mode(s0, open_mode, owner);

	/* Whatever the source's mode, what comes out is private until the instance layer
	 * opens it: a restore, a copy, a volume from a snapshot. */
	assert_int_equal(storage_snapshot_restore(&f->pool, "c1", "s0", NULL), 0);
	assert_mode(c1, 0700, me);
	assert_int_equal(chown(c1, owner, group), 0);
	assert_int_equal(chmod(c1, 0755), 0);
	assert_int_equal(storage_volume_copy(&f->pool, STORAGE_VOLUME_CONTAINER, "c1",
					     STORAGE_VOLUME_CONTAINER, "c2", NULL),
			 0);
	assert_mode(c2, 0700, me);
	assert_int_equal(storage_volume_from_snapshot(&f->pool, "c1", "s0", "c3", NULL), 0);
	assert_mode(c3, 0700, me);
	assert_int_equal(mkdir(outside, 0755), 0);
	assert_int_equal(
	    storage_volume_import(&f->pool, STORAGE_VOLUME_IMAGE, "imported", outside, NULL), 0);
	assert_mode(imported, 0700, me);

	/* A pool laid out before: mounting it again closes images and snapshot directories. */
	assert_int_equal(chmod(mnt, 0755), 0);
	assert_int_equal(chmod(images, 0711), 0);
	assert_int_equal(chmod(img, 0755), 0);
	assert_int_equal(chmod(snapdir, 0711), 0);
	assert_int_equal(storage_pool_mount(&f->pool, NULL), 0);
	assert_mode(mnt, 0711, me);
	assert_mode(images, 0700, me);
	assert_mode(img, 0700, me);
	assert_mode(snapdir, 0700, me);
	assert_mode(c1, 0755, owner); /* instance volumes are the instance layer's */

	assert_int_equal(storage_snapshot_delete(&f->pool, "c1", "s0", NULL), 0);
	assert_false(exists(snapdir));
	for (size_t i = 0; i < 3; i++) {
		static const char *const names[] = {"c1", "c2", "c3"};

		assert_int_equal(
		    storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, names[i], NULL), 0);
	}
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_IMAGE, "img", NULL), 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_IMAGE, "imported", NULL),
			 0);
	assert_int_equal(rmdir(outside), 0);
}

static void test_volume_list(void **state)
{
	struct fixture *f = *state;
	_cleanup_strv_ char **names = NULL;

	assert_int_equal(storage_volume_list(&f->pool, STORAGE_VOLUME_CONTAINER, &names, NULL), 0);
	assert_int_equal(strv_length(names), 0);
	strv_freep(&names);

	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "a", NULL), 0);
	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, ".tmp-b", NULL),
			 0);
	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_IMAGE, "img", NULL), 0);
	assert_int_equal(storage_volume_list(&f->pool, STORAGE_VOLUME_CONTAINER, &names, NULL), 0);
	assert_int_equal(strv_length(names), 2);
	assert_true(strv_contains(names, "a"));
	assert_true(strv_contains(names, ".tmp-b"));
	strv_freep(&names);
	assert_int_equal(storage_volume_list(&f->pool, STORAGE_VOLUME_IMAGE, &names, NULL), 0);
	assert_int_equal(strv_length(names), 1);
	assert_string_equal(names[0], "img");

	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "a", NULL), 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, ".tmp-b", NULL),
			 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_IMAGE, "img", NULL), 0);
}

static void test_usage(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *data = vpath(f, STORAGE_VOLUME_CONTAINER, "u", "data");
	uint64_t used = 0, total = 0, before = 0, after = 0, snap = 0;

	assert_int_equal(storage_pool_usage(&f->pool, &used, &total, NULL), 0);
	assert_true(total > 0);
	assert_true(used <= total);

	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "u", NULL), 0);
	assert_int_equal(
	    storage_volume_usage(&f->pool, STORAGE_VOLUME_CONTAINER, "u", &before, NULL), 0);
	write_data(data, 4 * MIB);
	assert_int_equal(
	    storage_volume_usage(&f->pool, STORAGE_VOLUME_CONTAINER, "u", &after, NULL), 0);
	assert_true(after >= before + 4 * MIB);
	assert_int_equal(storage_snapshot_create(&f->pool, "u", "s", NULL), 0);
	assert_int_equal(storage_snapshot_usage(&f->pool, "u", "s", &snap, NULL), 0);
	assert_int_equal(storage_snapshot_usage(&f->pool, "u", "nope", &snap, NULL), -ENOENT);
	assert_int_equal(storage_snapshot_delete(&f->pool, "u", "s", NULL), 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "u", NULL), 0);
}

static void test_pool_mount_idempotent(void **state)
{
	struct fixture *f = *state;
	size_t mounts = mount_count(f->pool.mount_path);

	assert_int_equal(storage_pool_mount(&f->pool, NULL), 0);
	assert_int_equal(storage_pool_mount(&f->pool, NULL), 0);
	assert_int_equal(mount_count(f->pool.mount_path), mounts);
	assert_int_equal(storage_pool_check(&f->pool, NULL), 0);
}

/* ---- btrfs only --------------------------------------------------------------------------- */

static void test_btrfs_remount(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *file = vpath(f, STORAGE_VOLUME_CONTAINER, "keep", "f");

	assert_int_equal(mount_count(f->pool.mount_path), 1);
	assert_int_equal(loop_devices_of(f->pool.source), 1);
	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "keep", NULL),
			 0);
	write_file(file, "survives");

	assert_int_equal(storage_pool_unmount(&f->pool, NULL), 0);
	assert_int_equal(mount_count(f->pool.mount_path), 0);
	wait_loop_devices(f->pool.source, 0); /* autoclear freed the device */
	assert_false(exists(file));
	assert_int_equal(storage_pool_unmount(&f->pool, NULL), 0); /* unmounted is fine */

	assert_int_equal(storage_pool_mount(&f->pool, NULL), 0);
	assert_int_equal(mount_count(f->pool.mount_path), 1);
	assert_int_equal(loop_devices_of(f->pool.source), 1);
	assert_file(file, "survives");
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "keep", NULL),
			 0);
}

static void test_btrfs_snapshot_read_only(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *file = vpath(f, STORAGE_VOLUME_CONTAINER, "ro", "f");
	_cleanup_free_ char *snapfile = spath(f, "ro", "s", "f");
	int fd;

	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "ro", NULL), 0);
	write_file(file, "x");
	assert_int_equal(storage_snapshot_create(&f->pool, "ro", "s", NULL), 0);
	fd = open(snapfile, O_WRONLY | O_CLOEXEC);
	assert_true(fd < 0);
	assert_int_equal(errno, EROFS);
	assert_int_equal(storage_snapshot_delete(&f->pool, "ro", "s", NULL), 0);
	assert_false(exists(snapfile));
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "ro", NULL), 0);
}

/*
 * Qgroup numbers change at transaction commit: storage_snapshot_usage() syncs the filesystem
 * (syncfs), which on this kernel is enough for the sysfs qgroup files to show the new exclusive
 * size at once; no rescan is needed because quotas were enabled on an empty filesystem.
 */
static void test_btrfs_snapshot_usage_grows(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *data = vpath(f, STORAGE_VOLUME_CONTAINER, "q", "data");
	uint64_t before = 0, after = 0;

	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "q", NULL), 0);
	write_data(data, 8 * MIB);
	assert_int_equal(storage_snapshot_create(&f->pool, "q", "s", NULL), 0);
	assert_int_equal(storage_snapshot_usage(&f->pool, "q", "s", &before, NULL), 0);
	assert_true(before < 1 * MIB); /* everything is shared with the volume */

	/* Rewrite the volume's data: the snapshot is now the only owner of the old extents. */
	write_data(data, 8 * MIB);
	assert_int_equal(storage_snapshot_usage(&f->pool, "q", "s", &after, NULL), 0);
	assert_true(after >= before + 8 * MIB);

	assert_int_equal(storage_snapshot_delete(&f->pool, "q", "s", NULL), 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "q", NULL), 0);
}

/* onchange: a volume counts as changed only after a write that follows its newest snapshot. */
static void test_btrfs_changed_since(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *file = vpath(f, STORAGE_VOLUME_CONTAINER, "g", "f");

	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "g", NULL), 0);
	write_file(file, "x");
	assert_int_equal(storage_snapshot_create(&f->pool, "g", "s1", NULL), 0);
	assert_int_equal(storage_snapshot_changed_since(&f->pool, "g", "s1", NULL), 0);
	sync();
	assert_int_equal(storage_snapshot_changed_since(&f->pool, "g", "s1", NULL), 0);
	write_file(file, "y");
	sync();
	assert_int_equal(storage_snapshot_changed_since(&f->pool, "g", "s1", NULL), 1);
	assert_int_equal(storage_snapshot_create(&f->pool, "g", "s2", NULL), 0);
	assert_int_equal(storage_snapshot_changed_since(&f->pool, "g", "s2", NULL), 0);
	assert_int_equal(storage_snapshot_changed_since(&f->pool, "g", "nope", NULL), -ENOENT);
	assert_int_equal(storage_snapshot_delete(&f->pool, "g", "s1", NULL), 0);
	assert_int_equal(storage_snapshot_delete(&f->pool, "g", "s2", NULL), 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "g", NULL), 0);
}

/* A copy-based driver cannot tell: every volume counts as changed, so no slot is skipped. */
static void test_dir_always_changed(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "g", NULL), 0);
	assert_int_equal(storage_snapshot_create(&f->pool, "g", "s1", NULL), 0);
	assert_int_equal(storage_snapshot_changed_since(&f->pool, "g", "s1", NULL), 1);
	assert_int_equal(storage_snapshot_delete(&f->pool, "g", "s1", NULL), 0);
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "g", NULL), 0);
}

/* A restore whose first step fails leaves the volume as it was and nothing behind. */
static void test_btrfs_restore_failure_undone(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *file = vpath(f, STORAGE_VOLUME_CONTAINER, "rf", "f");
	_cleanup_free_ char *fake = spath(f, "rf", "fake", NULL);
	_cleanup_free_ char *snapdir = str_printf("%s/containers-snapshots/rf", f->pool.mount_path);
	_cleanup_free_ char *containers = str_printf("%s/containers", f->pool.mount_path);
	_cleanup_err_ struct err *e = NULL;

	assert_int_equal(storage_volume_create(&f->pool, STORAGE_VOLUME_CONTAINER, "rf", NULL), 0);
	write_file(file, "current");
	/* A plain directory where a snapshot subvolume should be cannot be snapshotted. */
	assert_int_equal(mkdir_p(fake, 0700, NULL), 0);
	assert_true(storage_snapshot_restore(&f->pool, "rf", "fake", &e) < 0);
	assert_non_null(e);
	err_freep(&e);
	assert_file(file, "current");
	assert_int_equal(count_prefixed(containers, ".restore-"), 0);
	assert_int_equal(storage_snapshot_delete(&f->pool, "rf", "fake", NULL), 0);
	assert_false(exists(snapdir));
	assert_int_equal(storage_volume_delete(&f->pool, STORAGE_VOLUME_CONTAINER, "rf", NULL), 0);
}

/*
 * A block device source: one holding another filesystem is refused, an empty one is formatted,
 * and mount is idempotent there too.
 */
static void test_btrfs_block_device(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *img = str_printf("%s/block.img", f->tmp);
	_cleanup_free_ char *cmd = str_printf("losetup -f --show '%s'", img);
	_cleanup_free_ char *file = NULL;
	_cleanup_err_ struct err *e = NULL;
	struct storage_pool blk = {0};
	FILE *p;

	assert_int_equal(run_shell("truncate -s 256M '%s' && mkfs.ext4 -q -F '%s'", img, img), 0);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(f->loop_dev, sizeof(f->loop_dev), p));
	pclose(p);
	f->loop_dev[strcspn(f->loop_dev, "\n")] = '\0';
	assert_true(str_startswith(f->loop_dev, "/dev/loop"));

	assert_int_equal(storage_pool_init(&blk, f->tmp, "blk", "btrfs", f->loop_dev, 0, NULL), 0);
	assert_int_equal(storage_pool_create(&blk, &e), -EEXIST);
	assert_non_null(strstr(e->msg, "\"ext4\""));
	err_freep(&e);
	assert_int_equal(mount_count(blk.mount_path), 0);

	assert_int_equal(run_shell("wipefs -q -a '%s'", f->loop_dev), 0);
	snprintf(f->extra_mounts[0], sizeof(f->extra_mounts[0]), "%s", blk.mount_path);
	assert_int_equal(storage_pool_create(&blk, NULL), 0);
	assert_int_equal(mount_count(blk.mount_path), 1);
	assert_int_equal(storage_pool_mount(&blk, NULL), 0);
	assert_int_equal(mount_count(blk.mount_path), 1);
	assert_int_equal(storage_volume_create(&blk, STORAGE_VOLUME_CONTAINER, "v", NULL), 0);
	file = str_printf("%s/containers/v/f", blk.mount_path);
	write_file(file, "on the device");
	assert_int_equal(storage_pool_unmount(&blk, NULL), 0);
	assert_int_equal(mount_count(blk.mount_path), 0);
	/* Already btrfs now: mounting again must not format it. */
	assert_int_equal(storage_pool_create(&blk, NULL), 0);
	assert_file(file, "on the device");
	assert_int_equal(storage_pool_delete(&blk, NULL), 0);
	assert_int_equal(mount_count(blk.mount_path), 0);
	f->extra_mounts[0][0] = '\0';
	storage_pool_done(&blk);
	assert_int_equal(run_shell("losetup -d '%s'", f->loop_dev), 0);
	f->loop_dev[0] = '\0';
}

/* A directory on an existing btrfs filesystem (here: inside the test pool), bind-mounted. */
static void test_btrfs_directory_source(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *src = str_printf("%s/hostdir", f->pool.mount_path);
	_cleanup_free_ char *notbtrfs = str_printf("%s/plain", f->tmp);
	_cleanup_err_ struct err *e = NULL;
	struct storage_pool d = {0}, bad = {0};
	uint64_t bytes = 0;

	assert_int_equal(mkdir(src, 0711), 0);
	assert_int_equal(storage_pool_init(&d, f->tmp, "onbtrfs", "btrfs", src, 0, NULL), 0);
	snprintf(f->extra_mounts[0], sizeof(f->extra_mounts[0]), "%s", d.mount_path);
	assert_int_equal(storage_pool_create(&d, NULL), 0);
	assert_int_equal(storage_pool_mount(&d, NULL), 0);
	assert_int_equal(mount_count(d.mount_path), 1);
	assert_int_equal(storage_volume_create(&d, STORAGE_VOLUME_CONTAINER, "v", NULL), 0);
	assert_int_equal(storage_snapshot_create(&d, "v", "s", NULL), 0);
	/* Quotas are on for the whole filesystem of the test pool. */
	assert_int_equal(storage_snapshot_usage(&d, "v", "s", &bytes, NULL), 0);

	assert_int_equal(storage_pool_delete(&d, &e), -ENOTEMPTY);
	err_freep(&e);
	assert_int_equal(storage_snapshot_delete(&d, "v", "s", NULL), 0);
	assert_int_equal(storage_volume_delete(&d, STORAGE_VOLUME_CONTAINER, "v", NULL), 0);
	assert_int_equal(storage_pool_delete(&d, NULL), 0);
	assert_int_equal(mount_count(d.mount_path), 0);
	f->extra_mounts[0][0] = '\0';
	storage_pool_done(&d);
	assert_int_equal(rmdir(src), 0);

	assert_int_equal(mkdir(notbtrfs, 0700), 0);
	assert_int_equal(storage_pool_init(&bad, f->tmp, "bad", "btrfs", notbtrfs, 0, NULL), 0);
	assert_int_equal(storage_pool_create(&bad, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "not on a btrfs filesystem"));
	storage_pool_done(&bad);
}

/* ---- dir only ----------------------------------------------------------------------------- */

/*
 * A copy that runs out of space half-way leaves no partial volume or snapshot. The pool sits on
 * a 2 MiB tmpfs bind-mounted at its mount path (which also covers the bind-mount source).
 */
static void test_dir_copy_failure_undone(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *src = str_printf("%s/small", f->tmp);
	_cleanup_free_ char *data = NULL, *containers = NULL, *snapdir = NULL, *dst = NULL;
	_cleanup_err_ struct err *e = NULL;
	struct storage_pool small = {0};
	size_t mounts;

	if (!is_root()) {
		print_message("skipped: the out-of-space test needs root to mount a tmpfs\n");
		skip();
	}
	assert_int_equal(mkdir(src, 0711), 0);
	assert_int_equal(mount("tmpfs", src, "tmpfs", 0, "size=2m"), 0);
	snprintf(f->extra_mounts[1], sizeof(f->extra_mounts[1]), "%s", src);
	assert_int_equal(storage_pool_init(&small, f->tmp, "small", "dir", src, 0, NULL), 0);
	snprintf(f->extra_mounts[0], sizeof(f->extra_mounts[0]), "%s", small.mount_path);
	assert_int_equal(storage_pool_create(&small, NULL), 0);
	mounts = mount_count(small.mount_path);
	assert_int_equal(mounts, 1); /* the bind mount */
	assert_int_equal(storage_pool_mount(&small, NULL), 0);
	assert_int_equal(mount_count(small.mount_path), 1);

	assert_int_equal(storage_volume_create(&small, STORAGE_VOLUME_CONTAINER, "big", NULL), 0);
	data = str_printf("%s/containers/big/data", small.mount_path);
	containers = str_printf("%s/containers", small.mount_path);
	snapdir = str_printf("%s/containers-snapshots/big", small.mount_path);
	dst = str_printf("%s/containers/big2", small.mount_path);
	write_data(data, MIB + MIB / 4); /* two copies do not fit in 2 MiB */

	assert_true(storage_snapshot_create(&small, "big", "s", &e) < 0);
	assert_non_null(e);
	err_freep(&e);
	assert_false(exists(snapdir));
	assert_true(storage_volume_copy(&small, STORAGE_VOLUME_CONTAINER, "big",
					STORAGE_VOLUME_CONTAINER, "big2", &e) < 0);
	assert_non_null(strstr(e->msg, "big"));
	err_freep(&e);
	assert_false(exists(dst));
	assert_int_equal(count_prefixed(containers, ".tmp-"), 0);

	assert_int_equal(storage_pool_delete(&small, NULL), 0);
	assert_int_equal(mount_count(small.mount_path), 0);
	storage_pool_done(&small);
	f->extra_mounts[0][0] = '\0';
	assert_int_equal(umount2(src, 0), 0);
	f->extra_mounts[1][0] = '\0';
}

/* ---- pure logic --------------------------------------------------------------------------- */

static void test_registry_and_paths(void **state)
{
	static const struct storage_ops empty = {.name = "empty"};
	struct storage_pool pool = {0};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *vp = NULL, *sp = NULL;
	uint64_t n = 0;

	(void)state;
	assert_non_null(storage_driver("btrfs"));
	assert_non_null(storage_driver("dir"));
	assert_null(storage_driver("zfs"));
	assert_true(storage_driver("dir")->snapshot_needs_freeze);
	assert_false(storage_driver("dir")->instant_snapshots);
	assert_true(storage_driver("btrfs")->instant_snapshots);

	assert_int_equal(storage_pool_init(&pool, "/var/lib/cairn", "p", "zfs", NULL, 0, &e),
			 -EINVAL);
	assert_non_null(strstr(e->msg, "\"zfs\""));
	err_freep(&e);

	assert_int_equal(storage_pool_init(&pool, "/var/lib/cairn", "default", "btrfs", NULL,
					   10 * 1024 * MIB, NULL),
			 0);
	assert_string_equal(pool.mount_path, "/var/lib/cairn/storage-pools/default");
	assert_string_equal(pool.source, "/var/lib/cairn/disks/default.img");
	vp = storage_volume_path(&pool, STORAGE_VOLUME_IMAGE, "abc");
	assert_string_equal(vp, "/var/lib/cairn/storage-pools/default/images/abc");
	sp = storage_snapshot_path(&pool, "c1", "snap0");
	assert_string_equal(sp,
			    "/var/lib/cairn/storage-pools/default/containers-snapshots/c1/snap0");
	assert_string_equal(storage_volume_dir(STORAGE_VOLUME_CONTAINER), "containers");

	/* A driver without an operation: the wrapper answers -EOPNOTSUPP. */
	pool.ops = &empty;
	assert_int_equal(storage_volume_create(&pool, STORAGE_VOLUME_CONTAINER, "x", &e),
			 -EOPNOTSUPP);
	assert_non_null(strstr(e->msg, "does not support"));
	err_freep(&e);
	assert_int_equal(storage_snapshot_usage(&pool, "x", "y", &n, NULL), -EOPNOTSUPP);
	assert_int_equal(storage_pool_mount(&pool, NULL), -EOPNOTSUPP);
	storage_pool_done(&pool);
	storage_pool_done(&pool); /* twice is fine */

	assert_int_equal(storage_pool_init(&pool, "/x", "d", "dir", NULL, 0, NULL), 0);
	assert_string_equal(pool.source, pool.mount_path);
	storage_pool_done(&pool);
}

/* ---- main --------------------------------------------------------------------------------- */

#define SHARED_TESTS                                                                               \
	cmocka_unit_test(test_volume_create_delete),                                               \
	    cmocka_unit_test(test_volume_copy_preserves_contents),                                 \
	    cmocka_unit_test(test_volume_import), cmocka_unit_test(test_volume_rename),            \
	    cmocka_unit_test(test_snapshot_lifecycle),                                             \
	    cmocka_unit_test(test_snapshot_preserves_contents),                                    \
	    cmocka_unit_test(test_volume_modes), cmocka_unit_test(test_volume_list),               \
	    cmocka_unit_test(test_usage), cmocka_unit_test(test_pool_mount_idempotent)

static bool btrfs_usable(void)
{
	_cleanup_err_ struct err *e = NULL;
	struct storage_pool pool = {0};
	int r;

	if (!is_root())
		return false;
	if (storage_pool_init(&pool, "/nonexistent", "probe", "btrfs", NULL, 1, NULL) < 0)
		return false;
	r = storage_pool_check(&pool, &e);
	storage_pool_done(&pool);
	if (r < 0)
		fprintf(stderr, "%s\n", err_msg(e, r));
	return r == 0 && access("/dev/loop-control", R_OK | W_OK) == 0;
}

static void test_btrfs_unavailable(void **state)
{
	(void)state;
	print_message("skipped: the btrfs tests need root and a kernel with btrfs\n");
	skip();
}

int main(void)
{
	const struct CMUnitTest logic[] = {
	    cmocka_unit_test(test_registry_and_paths),
	};
	const struct CMUnitTest dir[] = {
	    SHARED_TESTS,
	    cmocka_unit_test_teardown(test_dir_copy_failure_undone, test_cleanup),
	    cmocka_unit_test(test_dir_always_changed),
	};
	const struct CMUnitTest btrfs[] = {
	    SHARED_TESTS,
	    cmocka_unit_test(test_btrfs_remount),
	    cmocka_unit_test(test_btrfs_snapshot_read_only),
	    cmocka_unit_test(test_btrfs_snapshot_usage_grows),
	    cmocka_unit_test(test_btrfs_changed_since),
	    cmocka_unit_test(test_btrfs_restore_failure_undone),
	    cmocka_unit_test_teardown(test_btrfs_block_device, test_cleanup),
	    cmocka_unit_test_teardown(test_btrfs_directory_source, test_cleanup),
	};
	/* Reported as skipped, not as passed, where the btrfs group cannot run. */
	const struct CMUnitTest btrfs_unusable[] = {
	    cmocka_unit_test(test_btrfs_unavailable),
	};
	int failed = 0;

	failed += cmocka_run_group_tests_name("storage_logic", logic, NULL, NULL);
	failed += cmocka_run_group_tests_name("storage_dir", dir, dir_setup, fixture_teardown);
	if (btrfs_usable())
		failed += cmocka_run_group_tests_name("storage_btrfs", btrfs, btrfs_setup,
						      fixture_teardown);
	else
		failed += cmocka_run_group_tests_name("storage_btrfs", btrfs_unusable, NULL, NULL);
	return failed ? 1 : 0;
}
