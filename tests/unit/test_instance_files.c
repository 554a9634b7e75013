/* Files of an instance from the host side: path checks, shifted owners, links that try to lead
 * out of the rootfs. Runs in a temporary directory; needs root (it chowns into an id range). */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "instance/files.h"

#define BASE 100000U

struct fixture {
	char dir[64];
	char *rootfs;
	char *outside;
	struct instance_fsroot root;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/cairn-files-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->rootfs = str_printf("%s/rootfs", f->dir);
	f->outside = str_printf("%s/outside", f->dir);
	if (!f->rootfs || !f->outside || mkdir(f->rootfs, 0755) < 0 || mkdir(f->outside, 0755) < 0)
		return -1;
	if (instance_fsroot_open(f->rootfs, BASE, BASE, 65536, &f->root, NULL) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	instance_fsroot_done(&f->root);
	rm_rf(f->dir, NULL);
	free(f->rootfs);
	free(f->outside);
	free(f);
	return 0;
}

/* A memfd holding `text`, at offset 0. */
static int memfd_with(const char *text)
{
	int fd = memfd_create("t", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static int put_file(struct fixture *f, const char *path, const char *text, uint32_t uid,
		    uint32_t gid, mode_t mode, struct err **err)
{
	_cleanup_close_ int fd = memfd_with(text);
	struct instance_file_spec spec = {
	    .type = INSTANCE_FILE_REGULAR, .uid = uid, .gid = gid, .mode = mode, .src_fd = fd};

	return instance_file_put(&f->root, path, &spec, err);
}

static char *read_fd(int fd)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	assert_true(n >= 0);
	buf[n] = '\0';
	return strdup(buf);
}

static void test_path_check(void **state)
{
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	assert_int_equal(instance_file_path_check("/etc/hosts", NULL), 0);
	assert_int_equal(instance_file_path_check("/a/..b/c..", NULL), 0);
	assert_int_equal(instance_file_path_check("etc/hosts", NULL), -EINVAL);
	assert_int_equal(instance_file_path_check("/a/../../etc/x", &e), -EINVAL);
	assert_string_equal(e->msg, "Invalid path \"/a/../../etc/x\": it leaves the instance");
	assert_int_equal(instance_file_path_check("/..", NULL), -EINVAL);
	assert_int_equal(instance_file_path_check("/a/..", NULL), -EINVAL);
}

static void test_put_get_shifted(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *host = str_printf("%s/hello", f->rootfs), *text = NULL;
	struct instance_file got = {.fd = -EBADF};
	struct stat st;

	assert_int_equal(put_file(f, "/hello", "hi there\n", 5, 6, 04750, NULL), 0);
	assert_int_equal(lstat(host, &st), 0);
	assert_int_equal(st.st_uid, BASE + 5);
	assert_int_equal(st.st_gid, BASE + 6);
	/* The mode goes on after the owner: setuid survives. */
	assert_int_equal(st.st_mode & 07777, 04750);

	assert_int_equal(instance_file_get(&f->root, "/hello", &got, NULL), 0);
	assert_int_equal(got.type, INSTANCE_FILE_REGULAR);
	assert_int_equal(got.uid, 5);
	assert_int_equal(got.gid, 6);
	assert_int_equal(got.mode, 04750);
	assert_int_equal(got.size, 9);
	text = read_fd(got.fd);
	assert_string_equal(text, "hi there\n");
	instance_file_done(&got);
	instance_file_done(&got);

	/* Replacing keeps no trace of the temporary name. */
	assert_int_equal(put_file(f, "/hello", "new", 0, 0, 0644, NULL), 0);
	assert_int_equal(instance_file_get(&f->root, "/", &got, NULL), 0);
	assert_int_equal(got.type, INSTANCE_FILE_DIRECTORY);
	assert_int_equal(strv_length(got.entries), 1);
	assert_string_equal(got.entries[0], "hello");
	instance_file_done(&got);
}

static void test_ids_outside_map(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(put_file(f, "/x", "x", 65536, 0, 0644, NULL), -EINVAL);
	assert_int_equal(put_file(f, "/x", "x", 0, 70000, 0644, NULL), -EINVAL);
}

static void test_directories_and_links(void **state)
{
	struct fixture *f = *state;
	struct instance_file_spec dir = {
	    .type = INSTANCE_FILE_DIRECTORY, .uid = 1, .gid = 2, .mode = 0710, .src_fd = -EBADF};
	struct instance_file_spec link = {
	    .type = INSTANCE_FILE_SYMLINK, .target = "../target", .src_fd = -EBADF};
	struct instance_file got = {.fd = -EBADF};
	_cleanup_free_ char *host = str_printf("%s/d", f->rootfs);
	struct stat st;

	assert_int_equal(instance_file_put(&f->root, "/d", &dir, NULL), 0);
	assert_int_equal(stat(host, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_uid, BASE + 1);
	assert_int_equal(st.st_mode & 07777, 0710);
	/* An existing directory is fine. */
	assert_int_equal(instance_file_put(&f->root, "/d", &dir, NULL), 0);
	assert_int_equal(put_file(f, "/d/b", "b", 0, 0, 0644, NULL), 0);
	assert_int_equal(put_file(f, "/d/a", "a", 0, 0, 0644, NULL), 0);
	assert_int_equal(instance_file_put(&f->root, "/d/l", &link, NULL), 0);

	assert_int_equal(instance_file_get(&f->root, "/d/", &got, NULL), 0);
	assert_int_equal(strv_length(got.entries), 3);
	assert_string_equal(got.entries[0], "a");
	assert_string_equal(got.entries[1], "b");
	assert_string_equal(got.entries[2], "l");
	instance_file_done(&got);
	assert_int_equal(instance_file_get(&f->root, "/d/l", &got, NULL), 0);
	assert_int_equal(got.type, INSTANCE_FILE_SYMLINK);
	assert_string_equal(got.target, "../target");
	instance_file_done(&got);

	assert_int_equal(put_file(f, "/d", "x", 0, 0, 0644, NULL), -EISDIR);
	assert_int_equal(instance_file_delete(&f->root, "/d", NULL), -ENOTEMPTY);
	assert_int_equal(instance_file_delete(&f->root, "/d/l", NULL), 0);
	assert_int_equal(instance_file_delete(&f->root, "/d/l", NULL), -ENOENT);
	assert_int_equal(instance_file_get(&f->root, "/d/nothing", &got, NULL), -ENOENT);
	assert_int_equal(instance_file_put(&f->root, "/missing/x", &dir, NULL), -ENOENT);
}

static void test_escapes_stay_inside(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *esc = str_printf("%s/esc", f->rootfs),
			    *hostlink = str_printf("%s/hostlink", f->rootfs),
			    *up = str_printf("%s/up", f->rootfs),
			    *etc = str_printf("%s/etc", f->rootfs),
			    *landed = str_printf("%s/etc/x", f->rootfs),
			    *outside_etc = str_printf("%s/etc", f->outside),
			    *outside_file = str_printf("%s/passwd", f->outside);
	_cleanup_err_ struct err *e = NULL;
	struct instance_file got = {.fd = -EBADF};
	struct stat st;

	assert_int_equal(mkdir(etc, 0755), 0);
	assert_int_equal(mkdir(outside_etc, 0755), 0);
	assert_int_equal(symlink("/../../..", esc), 0);
	assert_int_equal(symlink(f->outside, hostlink), 0);
	assert_int_equal(symlink("../../../../outside", up), 0);

	/* A link to "/../../.." is the container's root: the file lands inside. */
	assert_int_equal(put_file(f, "/esc/etc/x", "x", 0, 0, 0644, NULL), 0);
	assert_int_equal(stat(landed, &st), 0);
	/* A link to a host path means that path inside the container, which does not exist. */
	assert_int_equal(put_file(f, "/hostlink/etc/y", "y", 0, 0, 0644, NULL), -ENOENT);
	assert_int_equal(put_file(f, "/up/etc/z", "z", 0, 0, 0644, NULL), -ENOENT);
	/* Writing over a link in the last component is refused, whatever it points to. */
	assert_int_equal(put_file(f, "/hostlink", "y", 0, 0, 0644, &e), -ELOOP);
	assert_string_equal(e->msg, "Refusing to write \"/hostlink\": it is a symbolic link");
	/* Reading through links stays inside as well. */
	assert_int_equal(instance_file_get(&f->root, "/hostlink/passwd", &got, NULL), -ENOENT);
	assert_int_equal(instance_file_get(&f->root, "/esc/etc/x", &got, NULL), 0);
	instance_file_done(&got);
	assert_int_equal(put_file(f, "/../etc/x", "x", 0, 0, 0644, NULL), -EINVAL);

	/* Nothing was written outside the rootfs. */
	assert_int_equal(lstat(outside_file, &st), -1);
	{
		_cleanup_free_ char *y = str_printf("%s/etc/y", f->outside),
				    *z = str_printf("%s/etc/z", f->outside);

		assert_int_equal(lstat(y, &st), -1);
		assert_int_equal(lstat(z, &st), -1);
	}
}

static void test_append(void **state)
{
	struct fixture *f = *state;
	_cleanup_close_ int fd = memfd_with(" world");
	struct instance_file_spec spec = {
	    .type = INSTANCE_FILE_REGULAR, .mode = 0644, .src_fd = fd, .append = true};
	struct instance_file got = {.fd = -EBADF};
	_cleanup_free_ char *text = NULL;

	assert_int_equal(put_file(f, "/greet", "hello", 0, 0, 0644, NULL), 0);
	assert_int_equal(instance_file_put(&f->root, "/greet", &spec, NULL), 0);
	assert_int_equal(instance_file_get(&f->root, "/greet", &got, NULL), 0);
	text = read_fd(got.fd);
	assert_string_equal(text, "hello world");
	instance_file_done(&got);
}

static void test_privileged_root(void **state)
{
	struct fixture *f = *state;
	struct instance_fsroot root = {.fd = -EBADF};
	_cleanup_close_ int fd = memfd_with("p");
	struct instance_file_spec spec = {
	    .type = INSTANCE_FILE_REGULAR, .uid = 70000, .gid = 70001, .mode = 0600, .src_fd = fd};
	_cleanup_free_ char *host = str_printf("%s/p", f->rootfs);
	struct stat st;

	assert_int_equal(instance_fsroot_open(f->rootfs, 0, 0, 0, &root, NULL), 0);
	assert_int_equal(instance_file_put(&root, "/p", &spec, NULL), 0);
	assert_int_equal(stat(host, &st), 0);
	assert_int_equal(st.st_uid, 70000);
	assert_int_equal(st.st_gid, 70001);
	instance_fsroot_done(&root);
	instance_fsroot_done(&root);
}

/*
 * The rootfs itself is never followed: an image whose rootfs was a symlink ("rootfs -> /") made
 * the file API work on the host directory it named. A symlink, a file and a mount on the rootfs
 * are refused; nothing of what they lead to is opened.
 */
static void test_rootfs_not_followed(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *link = str_printf("%s/linkroot", f->dir);
	_cleanup_free_ char *slash = str_printf("%s/linkroot/", f->dir);
	_cleanup_free_ char *file = str_printf("%s/fileroot", f->dir);
	_cleanup_free_ char *mnt = str_printf("%s/mntroot", f->dir);
	_cleanup_free_ char *secret = str_printf("%s/secret", f->outside);
	struct instance_fsroot root = {.fd = -EBADF};
	_cleanup_err_ struct err *e = NULL;
	int r;

	assert_int_equal(file_write_atomic(secret, "host\n", 5, 0600, NULL), 0);
	assert_int_equal(symlink(f->outside, link), 0);
	assert_int_equal(instance_fsroot_open(link, BASE, BASE, 65536, &root, &e), -ELOOP);
	assert_non_null(strstr(e->msg, "it is a symbolic link"));
	assert_int_equal(root.fd, -EBADF);
	err_freep(&e);
	assert_int_equal(instance_fsroot_open(slash, 0, 0, 0, &root, &e), -ELOOP);
	err_freep(&e);

	assert_int_equal(file_write_atomic(file, "x", 1, 0644, NULL), 0);
	assert_int_equal(instance_fsroot_open(file, BASE, BASE, 65536, &root, &e), -ENOTDIR);
	assert_non_null(strstr(e->msg, "not a directory"));
	err_freep(&e);

	assert_int_equal(mkdir(mnt, 0755), 0);
	if (mount("cairn-test", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") < 0)
		fail_msg("mount a tmpfs: %s", strerror(errno));
	r = instance_fsroot_open(mnt, BASE, BASE, 65536, &root, &e);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
	assert_int_equal(r, -EXDEV);
	assert_non_null(strstr(e->msg, "not on its volume"));
	err_freep(&e);

	/* A relative path and odd last components are refused, not resolved. */
	assert_int_equal(instance_fsroot_open("rootfs", 0, 0, 0, &root, &e), -EINVAL);
	err_freep(&e);
	assert_int_equal(instance_fsroot_open("/", 0, 0, 0, &root, &e), -EINVAL);
	err_freep(&e);
	instance_fsroot_done(&root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_check),
	    cmocka_unit_test_setup_teardown(test_put_get_shifted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ids_outside_map, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_directories_and_links, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_escapes_stay_inside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_privileged_root, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rootfs_not_followed, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP the file tests chown into an id range and need root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
