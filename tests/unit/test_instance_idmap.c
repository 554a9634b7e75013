/* subuid/subgid parsing and appending, and shifting a tree of files (as root). */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "instance/idmap.h"

struct fixture {
	char dir[64];
	char *subuid;
	char *subgid;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/cairn-idmap-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->subuid = str_printf("%s/subuid", f->dir);
	f->subgid = str_printf("%s/subgid", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rm_rf(f->dir, NULL);
	free(f->subuid);
	free(f->subgid);
	free(f);
	return 0;
}

static void put(const char *path, const char *text)
{
	assert_int_equal(file_write_atomic(path, text, strlen(text), 0644, NULL), 0);
}

static char *get(const char *path)
{
	char *text = NULL;

	assert_int_equal(file_read_all(path, &text, NULL, NULL), 0);
	return text;
}

static void test_parse_first_big_range(void **state)
{
	struct fixture *f = *state;
	struct idmap m = {0};

	/* Too small, other users, malformed lines, then the first usable range of root. */
	put(f->subuid, "alice:100000:65536\n"
		       "root:200000:1000\n"
		       "root:abc:70000\n"
		       "root:300000\n"
		       "root:400000:65536\n"
		       "root:500000:1000000\n");
	put(f->subgid, "0:700000:65536\n");
	assert_int_equal(instance_idmap_load(f->subuid, f->subgid, false, &m, NULL), 0);
	assert_int_equal(m.uid_base, 400000);
	assert_int_equal(m.gid_base, 700000);
	assert_int_equal(m.size, 65536);
}

static void test_missing_without_add(void **state)
{
	struct fixture *f = *state;
	struct idmap m = {.uid_base = 42};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *after = NULL;

	put(f->subuid, "alice:100000:65536\n");
	put(f->subgid, "root:100000:65536\n");
	assert_int_equal(instance_idmap_load(f->subuid, f->subgid, false, &m, &e), -ENOENT);
	assert_non_null(strstr(e->msg, f->subuid));
	assert_int_equal(m.uid_base, 42);
	after = get(f->subuid);
	assert_string_equal(after, "alice:100000:65536\n");
}

static void test_append_missing(void **state)
{
	struct fixture *f = *state;
	struct idmap m = {0};
	_cleanup_free_ char *uid_text = NULL;
	_cleanup_free_ char *gid_text = NULL;
	struct stat st;

	/* No final newline on the existing line; the subgid file does not exist at all. */
	put(f->subuid, "alice:100000:65536");
	assert_int_equal(instance_idmap_load(f->subuid, f->subgid, true, &m, NULL), 0);
	assert_int_equal(m.uid_base, 1000000);
	assert_int_equal(m.gid_base, 1000000);
	assert_int_equal(m.size, 65536);
	uid_text = get(f->subuid);
	gid_text = get(f->subgid);
	assert_string_equal(uid_text, "alice:100000:65536\nroot:1000000:1000000000\n");
	assert_string_equal(gid_text, "root:1000000:1000000000\n");
	assert_int_equal(stat(f->subgid, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	/* A second load finds the line and adds nothing. */
	assert_int_equal(instance_idmap_load(f->subuid, f->subgid, true, &m, NULL), 0);
	free(uid_text);
	uid_text = get(f->subuid);
	assert_string_equal(uid_text, "alice:100000:65536\nroot:1000000:1000000000\n");
}

static void make(const char *dir, const char *rel, mode_t mode, uid_t uid, gid_t gid)
{
	_cleanup_free_ char *p = str_printf("%s/%s", dir, rel);
	_cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(fchown(fd, uid, gid), 0);
	assert_int_equal(fchmod(fd, mode), 0);
}

static void check_owner(const char *dir, const char *rel, uid_t uid, gid_t gid, mode_t mode)
{
	_cleanup_free_ char *p = str_printf("%s/%s", dir, rel);
	struct stat st;

	assert_int_equal(lstat(p, &st), 0);
	if (st.st_uid != uid || st.st_gid != gid)
		fail_msg("%s: owner %u:%u, expected %u:%u", rel, st.st_uid, st.st_gid, uid, gid);
	if (mode && (st.st_mode & 07777) != mode)
		fail_msg("%s: mode %o, expected %o", rel, st.st_mode & 07777, mode);
}

static void test_shift_tree(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *root = str_printf("%s/tree", f->dir);
	_cleanup_free_ char *sub = str_printf("%s/tree/sub", f->dir);
	_cleanup_free_ char *slink = str_printf("%s/tree/link", f->dir);
	_cleanup_free_ char *hard = str_printf("%s/tree/sub/hard", f->dir);
	_cleanup_free_ char *target = str_printf("%s/tree/file", f->dir);
	_cleanup_free_ char *outside = str_printf("%s/outside", f->dir);
	_cleanup_free_ char *link_out = str_printf("%s/tree/out", f->dir);

	if (geteuid() != 0) {
		print_message("skipped: shifting needs root\n");
		skip();
	}
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(sub, 0750), 0);
	assert_int_equal(chown(sub, 0, 5), 0);
	make(root, "file", 0644, 0, 0);
	make(root, "setuid", 04755, 0, 0);
	make(root, "setgid", 02755, 0, 50);
	make(root, "user", 0600, 1000, 1000);
	make(root, "high", 0600, 70000, 70000); /* outside the 65536 range: untouched */
	assert_int_equal(symlink("file", slink), 0);
	assert_int_equal(lchown(slink, 0, 0), 0);
	assert_int_equal(link(target, hard), 0);
	/* A symlink to a file outside the tree: the link moves, its target must not. */
	make(f->dir, "outside", 0644, 0, 0);
	assert_int_equal(symlink(outside, link_out), 0);

	assert_int_equal(instance_shift_tree(root, 0, 0, 1000000, 1000000, 65536, NULL), 0);
	check_owner(root, ".", 1000000, 1000000, 0755);
	check_owner(root, "sub", 1000000, 1000005, 0750);
	check_owner(root, "file", 1000000, 1000000, 0644);
	check_owner(root, "setuid", 1000000, 1000000, 04755);
	check_owner(root, "setgid", 1000000, 1000050, 02755);
	check_owner(root, "user", 1001000, 1001000, 0600);
	check_owner(root, "high", 70000, 70000, 0600);
	check_owner(root, "link", 1000000, 1000000, 0);
	check_owner(root, "out", 1000000, 1000000, 0);
	check_owner(root, "sub/hard", 1000000, 1000000, 0644);
	check_owner(f->dir, "outside", 0, 0, 0644);

	/* And back, as for a privileged instance. */
	assert_int_equal(instance_shift_tree(root, 1000000, 1000000, 0, 0, 65536, NULL), 0);
	check_owner(root, "user", 1000, 1000, 0600);
	check_owner(root, "setuid", 0, 0, 04755);
	check_owner(root, "sub/hard", 0, 0, 0644);
	check_owner(root, "high", 70000, 70000, 0600);

	/* Overlapping ranges: a file with two names still moves once. */
	assert_int_equal(instance_shift_tree(root, 0, 0, 1000, 1000, 65536, NULL), 0);
	check_owner(root, "file", 1000, 1000, 0644);
	check_owner(root, "user", 2000, 2000, 0600);
}

static void test_shift_missing_path(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *missing = str_printf("%s/nope", f->dir);
	_cleanup_err_ struct err *e = NULL;

	assert_int_equal(instance_shift_tree(missing, 0, 0, 1000000, 1000000, 65536, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "nope"));
}

/* Only the container's root passes an unprivileged volume; only root a privileged one. */
static void test_volume_access(void **state)
{
	uid_t uid = 1;
	gid_t gid = 1;
	mode_t mode = 0;

	(void)state;
	instance_idmap_volume_access(1000000, &uid, &gid, &mode);
	assert_int_equal(uid, 1000000);
	assert_int_equal(gid, 0);
	assert_int_equal(mode, 0100);
	instance_idmap_volume_access(0, &uid, &gid, &mode);
	assert_int_equal(uid, 0);
	assert_int_equal(gid, 0);
	assert_int_equal(mode, 0700);
}

static void test_gate_volume(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *vol = str_printf("%s/vol", f->dir);
	_cleanup_free_ char *link = str_printf("%s/link", f->dir);
	_cleanup_err_ struct err *e = NULL;

	if (geteuid() != 0) {
		print_message("skipped: changing owners needs root\n");
		skip();
	}
	/* An open volume of an older layout is closed to all but the container's root, and
	 * follows its files when the instance becomes privileged and back. */
	assert_int_equal(mkdir(vol, 0711), 0);
	assert_int_equal(instance_idmap_gate_volume(vol, 1000000, NULL), 0);
	check_owner(f->dir, "vol", 1000000, 0, 0100);
	assert_int_equal(instance_idmap_gate_volume(vol, 0, NULL), 0);
	check_owner(f->dir, "vol", 0, 0, 0700);
	assert_int_equal(instance_idmap_gate_volume(vol, 1000000, NULL), 0);
	check_owner(f->dir, "vol", 1000000, 0, 0100);

	/* Never through a symlink put in the volume's place. */
	assert_int_equal(symlink(vol, link), 0);
	assert_true(instance_idmap_gate_volume(link, 0, &e) < 0);
	assert_non_null(strstr(e->msg, "link"));
	check_owner(f->dir, "vol", 1000000, 0, 0100);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(rmdir(vol), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_parse_first_big_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_without_add, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shift_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shift_missing_path, setup, teardown),
	    cmocka_unit_test(test_volume_access),
	    cmocka_unit_test_setup_teardown(test_gate_volume, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
