/*
 * Image content: the built-in busybox image, unpacking unified tarballs (good ones in gzip and
 * xz, and every way a hostile one tries to write outside its directory), the file digest.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/yaml.h"
#include "instance/image.h"

struct fixture {
	char tmp[64];
	char *dest;    /* the unpack target */
	char *outside; /* a sibling that must never change */
	char *tarball;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	_cleanup_free_ char *sentinel = NULL;

	if (!f)
		return -1;
	strcpy(f->tmp, "/tmp/cairn-image-XXXXXX");
	if (!mkdtemp(f->tmp))
		return -1;
	f->dest = str_printf("%s/dest", f->tmp);
	f->outside = str_printf("%s/outside", f->tmp);
	f->tarball = str_printf("%s/image.tar", f->tmp);
	sentinel = str_printf("%s/outside/passwd", f->tmp);
	if (mkdir(f->dest, 0755) < 0 || mkdir(f->outside, 0755) < 0 ||
	    file_write_atomic(sentinel, "original\n", 9, 0644, NULL) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	/* A test that mounted on dest and failed before it unmounted. */
	umount2(f->dest, MNT_DETACH);
	rm_rf(f->tmp, NULL);
	free(f->dest);
	free(f->outside);
	free(f->tarball);
	free(f);
	return 0;
}

enum filter { FILTER_NONE, FILTER_GZIP, FILTER_XZ };

struct tentry {
	const char *name;
	unsigned type; /* AE_IFREG, AE_IFDIR, AE_IFLNK; 0 with `link` set: a hard link */
	const char *data;
	size_t len;
	const char *link; /* symlink or hard link target */
	mode_t mode;
	uid_t uid;
};

static void write_tar(const char *path, enum filter filter, const struct tentry *e, size_t n)
{
	struct archive *a = archive_write_new();

	assert_non_null(a);
	if (filter == FILTER_GZIP)
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	else if (filter == FILTER_XZ)
		assert_int_equal(archive_write_add_filter_xz(a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ent = archive_entry_new();

		archive_entry_set_pathname(ent, e[i].name);
		archive_entry_set_uid(ent, e[i].uid);
		archive_entry_set_gid(ent, e[i].uid);
		archive_entry_set_mtime(ent, 1700000000, 0);
		if (e[i].type == 0) {
			archive_entry_set_filetype(ent, AE_IFREG);
			archive_entry_set_perm(ent, 0644);
			archive_entry_set_hardlink(ent, e[i].link);
			archive_entry_set_size(ent, 0);
		} else {
			archive_entry_set_filetype(ent, e[i].type);
			archive_entry_set_perm(
			    ent, e[i].mode ? e[i].mode : (e[i].type == AE_IFDIR ? 0755 : 0644));
			if (e[i].type == AE_IFLNK)
				archive_entry_set_symlink(ent, e[i].link);
			archive_entry_set_size(ent,
					       e[i].type == AE_IFREG ? (la_int64_t)e[i].len : 0);
		}
		assert_int_equal(archive_write_header(a, ent), ARCHIVE_OK);
		if (e[i].type == AE_IFREG && e[i].len > 0)
			assert_int_equal(archive_write_data(a, e[i].data, e[i].len),
					 (la_ssize_t)e[i].len);
		archive_entry_free(ent);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

#define MD "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  os: test\n"
#define ENTRY_FILE(n, d)                                                                           \
	{                                                                                          \
		n, AE_IFREG, d, sizeof(d) - 1, NULL, 0, 0                                          \
	}
#define ENTRY_DIR(n)                                                                               \
	{                                                                                          \
		n, AE_IFDIR, NULL, 0, NULL, 0, 0                                                   \
	}
#define ENTRY_LINK(n, t)                                                                           \
	{                                                                                          \
		n, AE_IFLNK, NULL, 0, t, 0777, 0                                                   \
	}
#define ENTRY_HARD(n, t)                                                                           \
	{                                                                                          \
		n, 0, NULL, 0, t, 0, 0                                                             \
	}

static int unpack(struct fixture *f, json_object **md, struct err **e)
{
	_cleanup_close_ int fd = open(f->tarball, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	return instance_image_unpack(fd, f->dest, md, e);
}

static char *read_rel(const char *dir, const char *rel)
{
	_cleanup_free_ char *p = str_printf("%s/%s", dir, rel);
	char *text = NULL;

	if (file_read_all(p, &text, NULL, NULL) < 0)
		return NULL;
	return text;
}

/* Everything in the fixture outside `dest`: the sentinel, the tarball, and nothing more. */
static int outside_count;
static const char *outside_dest;

static int count_outside(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (str_startswith(path, outside_dest) &&
	    (path[strlen(outside_dest)] == '\0' || path[strlen(outside_dest)] == '/'))
		return 0;
	outside_count++;
	return 0;
}

static void assert_nothing_outside(struct fixture *f)
{
	_cleanup_free_ char *sentinel = read_rel(f->outside, "passwd");
	struct stat st;

	assert_non_null(sentinel);
	assert_string_equal(sentinel, "original\n");
	outside_count = 0;
	outside_dest = f->dest;
	assert_int_equal(nftw(f->tmp, count_outside, 16, FTW_PHYS), 0);
	/* tmp, outside/, outside/passwd, image.tar (dest and its content excluded) */
	assert_int_equal(outside_count, 4);
	assert_int_equal(stat(f->outside, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
}

static void expect_refused(struct fixture *f, const struct tentry *e, size_t n, const char *msg)
{
	_cleanup_err_ struct err *err = NULL;
	json_object *md = NULL;
	int r;

	/* Each case starts from an empty directory, as a fresh image volume. */
	assert_int_equal(rm_rf(f->dest, NULL), 0);
	assert_int_equal(mkdir(f->dest, 0755), 0);
	write_tar(f->tarball, FILTER_GZIP, e, n);
	r = unpack(f, &md, &err);
	if (r >= 0)
		fail_msg("unpack accepted a tarball that should be refused (%s)", msg);
	assert_null(md);
	assert_non_null(err);
	if (!strstr(err->msg, msg))
		fail_msg("message \"%s\" lacks \"%s\"", err->msg, msg);
	assert_nothing_outside(f);
}

static void good_image(struct fixture *f, enum filter filter)
{
	static char big[200000];
	const struct tentry e[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs/"),
	    ENTRY_DIR("rootfs/bin"),
	    {"rootfs/bin/hello", AE_IFREG, "#!/bin/sh\necho hi\n", 18, NULL, 04755, 0},
	    ENTRY_LINK("rootfs/bin/sh", "/bin/hello"),
	    ENTRY_HARD("rootfs/bin/hello2", "rootfs/bin/hello"),
	    ENTRY_DIR("./rootfs/home"),
	    {"rootfs/home/user", AE_IFREG, "data", 4, NULL, 0600, 1234},
	    {"rootfs/big", AE_IFREG, big, sizeof(big), NULL, 0644, 0},
	    ENTRY_DIR("templates"),
	    ENTRY_FILE("templates/hostname.tpl", "{{ container.name }}\n"),
	};

	/* Incompressible, so that a truncated tarball ends inside this file's data. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 2654435761u >> 13);
	write_tar(f->tarball, filter, e, sizeof(e) / sizeof(e[0]));
}

static void check_good_result(struct fixture *f, json_object *md)
{
	_cleanup_free_ char *hello = read_rel(f->dest, "rootfs/bin/hello");
	_cleanup_free_ char *tpl = read_rel(f->dest, "templates/hostname.tpl");
	_cleanup_free_ char *md_text = read_rel(f->dest, "metadata.yaml");
	_cleanup_free_ char *p1 = str_printf("%s/rootfs/bin/hello", f->dest);
	_cleanup_free_ char *p2 = str_printf("%s/rootfs/bin/hello2", f->dest);
	_cleanup_free_ char *p3 = str_printf("%s/rootfs/bin/sh", f->dest);
	_cleanup_free_ char *p4 = str_printf("%s/rootfs/home/user", f->dest);
	json_object *arch, *props, *os;
	struct stat s1, s2;
	char target[64];
	ssize_t n;

	assert_non_null(md);
	assert_true(json_object_object_get_ex(md, "architecture", &arch));
	assert_string_equal(json_object_get_string(arch), "x86_64");
	assert_true(json_object_object_get_ex(md, "properties", &props));
	assert_true(json_object_object_get_ex(props, "os", &os));
	assert_string_equal(json_object_get_string(os), "test");

	assert_non_null(hello);
	assert_string_equal(hello, "#!/bin/sh\necho hi\n");
	assert_non_null(tpl);
	assert_non_null(md_text);
	assert_string_equal(md_text, MD);
	assert_int_equal(stat(p1, &s1), 0);
	assert_int_equal(stat(p2, &s2), 0);
	assert_int_equal(s1.st_ino, s2.st_ino);
	assert_int_equal(s1.st_mtime, 1700000000);
	n = readlink(p3, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "/bin/hello");
	if (geteuid() == 0) {
		/* Ownership and setuid as stored, numerically. */
		assert_int_equal(s1.st_mode & 07777, 04755);
		assert_int_equal(stat(p4, &s1), 0);
		assert_int_equal(s1.st_uid, 1234);
		assert_int_equal(s1.st_gid, 1234);
	}
}

static void test_unpack_gzip(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_json_ json_object *md = NULL;
	int r;

	good_image(f, FILTER_GZIP);
	r = unpack(f, &md, &e);
	if (r < 0)
		fail_msg("unpack: %s", err_msg(e, r));
	check_good_result(f, md);
	assert_nothing_outside(f);
}

static void test_unpack_xz(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_json_ json_object *md = NULL;
	int r;

	good_image(f, FILTER_XZ);
	r = unpack(f, &md, &e);
	if (r < 0)
		fail_msg("unpack: %s", err_msg(e, r));
	check_good_result(f, md);
}

static void test_unpack_plain_tar(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_json_ json_object *md = NULL;
	int r;

	good_image(f, FILTER_NONE);
	r = unpack(f, &md, &e);
	if (r < 0)
		fail_msg("unpack: %s", err_msg(e, r));
	check_good_result(f, md);
}

static void test_truncated(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	json_object *md = NULL;
	struct stat st;

	for (int filter = FILTER_NONE; filter <= FILTER_XZ; filter++) {
		good_image(f, (enum filter)filter);
		assert_int_equal(stat(f->tarball, &st), 0);
		assert_int_equal(truncate(f->tarball, st.st_size / 2), 0);
		rm_rf(f->dest, NULL);
		assert_int_equal(mkdir(f->dest, 0755), 0);
		err_freep(&e);
		assert_int_equal(unpack(f, &md, &e), -EINVAL);
		assert_null(md);
		assert_non_null(strstr(e->msg, "Invalid image tarball"));
	}
}

static void test_dotdot(void **state)
{
	const struct tentry e[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs"),
	    ENTRY_FILE("rootfs/../../outside/passwd", "pwned\n"),
	};

	expect_refused(*state, e, 3, "rootfs/../../outside/passwd");
}

static void test_absolute(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *abs = str_printf("%s/passwd", f->outside);
	const struct tentry e[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs"),
	    {abs, AE_IFREG, "pwned\n", 6, NULL, 0644, 0},
	};

	expect_refused(f, e, 3, "points outside");
}

static void test_write_through_symlink(void **state)
{
	struct fixture *f = *state;
	const struct tentry e[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs"),
	    ENTRY_LINK("rootfs/evil", f->outside),
	    ENTRY_FILE("rootfs/evil/passwd", "pwned\n"),
	};
	const struct tentry etc[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs"),
	    ENTRY_LINK("rootfs/evil", "/etc"),
	    ENTRY_FILE("rootfs/evil/passwd", "pwned\n"),
	};
	const struct tentry relative[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs"),
	    ENTRY_LINK("rootfs/up", "../../outside"),
	    ENTRY_FILE("rootfs/up/passwd", "pwned\n"),
	};
	const struct tentry dir_over_link[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs"),
	    ENTRY_LINK("rootfs/evil", f->outside),
	    {"rootfs/evil", AE_IFDIR, NULL, 0, NULL, 0777, 0},
	};
	_cleanup_free_ char *before = read_rel("/etc", "passwd");

	expect_refused(f, e, 4, "rootfs/evil/passwd");
	expect_refused(f, etc, 4, "symlink");
	if (before) {
		_cleanup_free_ char *after = read_rel("/etc", "passwd");

		assert_non_null(after);
		assert_string_equal(before, after);
	}
	expect_refused(f, relative, 4, "rootfs/up/passwd");
	expect_refused(f, dir_over_link, 4, "replaces a symlink");
}

static void test_hardlink_outside(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *abs = str_printf("%s/passwd", f->outside);
	const struct tentry up[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs"),
	    ENTRY_HARD("rootfs/x", "../../x"),
	};
	const struct tentry absolute[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs"),
	    ENTRY_HARD("rootfs/x", abs),
	};
	const struct tentry via_link[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs"),
	    ENTRY_LINK("rootfs/evil", f->outside),
	    ENTRY_HARD("rootfs/x", "rootfs/evil/passwd"),
	};
	const struct tentry to_link[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs"),
	    ENTRY_LINK("rootfs/evil", abs),
	    ENTRY_HARD("rootfs/x", "rootfs/evil"),
	};
	struct stat st;

	expect_refused(f, up, 3, "../../x");
	expect_refused(f, absolute, 3, "points outside");
	expect_refused(f, via_link, 4, "rootfs/evil/passwd");
	expect_refused(f, to_link, 4, "rootfs/x");
	assert_int_equal(stat(abs, &st), 0);
	assert_int_equal(st.st_nlink, 1);
}

static void test_unexpected_entry(void **state)
{
	const struct tentry e[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs"),
	    ENTRY_FILE("etc/passwd", "x\n"),
	};

	expect_refused(*state, e, 3, "unexpected entry \"etc/passwd\"");
}

static void test_missing_metadata(void **state)
{
	const struct tentry e[] = {
	    ENTRY_DIR("rootfs"),
	    ENTRY_FILE("rootfs/hello", "x\n"),
	};

	expect_refused(*state, e, 2, "metadata.yaml is missing");
}

static void test_missing_rootfs(void **state)
{
	const struct tentry e[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_FILE("templates/a.tpl", "x\n"),
	};

	expect_refused(*state, e, 2, "rootfs/ is missing");
}

static void test_metadata_not_yaml(void **state)
{
	const struct tentry e[] = {
	    ENTRY_FILE("metadata.yaml", "architecture: [x86_64\n  - : }\n"),
	    ENTRY_DIR("rootfs"),
	};

	expect_refused(*state, e, 2, "Invalid metadata.yaml");
}

static void test_metadata_without_architecture(void **state)
{
	const struct tentry e[] = {
	    ENTRY_FILE("metadata.yaml", "creation_date: 1\n"),
	    ENTRY_DIR("rootfs"),
	};

	expect_refused(*state, e, 2, "architecture");
}

static void test_metadata_symlink(void **state)
{
	const struct tentry e[] = {
	    ENTRY_LINK("metadata.yaml", "/etc/shadow"),
	    ENTRY_DIR("rootfs"),
	};

	expect_refused(*state, e, 2, "not a regular file");
}

static void test_top_level_not_directories(void **state)
{
	const struct tentry link[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_LINK("rootfs", "/"),
	};
	const struct tentry dot_link[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_LINK("./rootfs/", "/etc"),
	};
	const struct tentry late_link[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_FILE("rootfs/x", "x\n"),
	    ENTRY_LINK("rootfs", "/"),
	};
	const struct tentry file[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_FILE("rootfs", "x\n"),
	};
	const struct tentry hard[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_FILE("templates/a.tpl", "x\n"),
	    ENTRY_HARD("rootfs", "templates/a.tpl"),
	};
	const struct tentry templates[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs"),
	    ENTRY_FILE("rootfs/x", "x\n"),
	    ENTRY_LINK("templates", "/etc"),
	};

	expect_refused(*state, link, 2, "\"rootfs\" is a symbolic link, not a directory");
	expect_refused(*state, dot_link, 2, "\"rootfs\" is a symbolic link, not a directory");
	expect_refused(*state, late_link, 3, "\"rootfs\" is a symbolic link, not a directory");
	expect_refused(*state, file, 2, "\"rootfs\" is a regular file, not a directory");
	expect_refused(*state, hard, 3, "\"rootfs\" is a hard link, not a directory");
	expect_refused(*state, templates, 4, "\"templates\" is a symbolic link, not a directory");
}

static char zeros[16 * 1024 * 1024];

/* One file of `len` zeros at rootfs/zero, gzip'd: a small decompression bomb. */
static void bomb_image(struct fixture *f, size_t len)
{
	const struct tentry e[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs"),
	    {"rootfs/zero", AE_IFREG, zeros, len, NULL, 0644, 0},
	};

	write_tar(f->tarball, FILTER_GZIP, e, 3);
}

static int unpack_bounded(struct fixture *f, uint64_t max, struct err **e)
{
	_cleanup_close_ int fd = open(f->tarball, O_RDONLY | O_CLOEXEC);
	_cleanup_json_ json_object *md = NULL;

	assert_true(fd >= 0);
	assert_int_equal(rm_rf(f->dest, NULL), 0);
	assert_int_equal(mkdir(f->dest, 0755), 0);
	return instance_image_unpack_bounded(fd, f->dest, max, &md, e);
}

static void test_bound_max_bytes(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *zero = str_printf("%s/rootfs/zero", f->dest);
	_cleanup_err_ struct err *e = NULL;
	const struct tentry many[] = {
	    ENTRY_FILE("metadata.yaml", MD),
	    ENTRY_DIR("rootfs"),
	    {"rootfs/z1", AE_IFREG, zeros, 300000, NULL, 0644, 0},
	    {"rootfs/z2", AE_IFREG, zeros, 300000, NULL, 0644, 0},
	    {"rootfs/z3", AE_IFREG, zeros, 300000, NULL, 0644, 0},
	    {"rootfs/z4", AE_IFREG, zeros, 300000, NULL, 0644, 0},
	};
	_cleanup_free_ char *z3 = str_printf("%s/rootfs/z3", f->dest);
	_cleanup_free_ char *z4 = str_printf("%s/rootfs/z4", f->dest);
	struct stat st;
	int r;

	/* One file over the cap: refused at its header, before a byte of it is on disk. */
	bomb_image(f, 4 * 1024 * 1024);
	assert_int_equal(unpack_bounded(f, 1024 * 1024, &e), -EFBIG);
	assert_non_null(strstr(e->msg, "The image is too large"));
	assert_int_equal(lstat(zero, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_nothing_outside(f);

	/* Files each under the cap, together over it: the one that crosses it is refused. */
	err_freep(&e);
	write_tar(f->tarball, FILTER_GZIP, many, 6);
	assert_int_equal(unpack_bounded(f, 1024 * 1024, &e), -EFBIG);
	assert_int_equal(stat(z3, &st), 0);
	assert_int_equal(st.st_size, 300000);
	assert_int_equal(lstat(z4, &st), -1);

	/* Under the cap, the same image unpacks. */
	err_freep(&e);
	r = unpack_bounded(f, 2 * 1024 * 1024, &e);
	if (r < 0)
		fail_msg("unpack: %s", err_msg(e, r));
	good_image(f, FILTER_GZIP);
	err_freep(&e);
	r = unpack_bounded(f, 1024 * 1024, &e);
	if (r < 0)
		fail_msg("unpack: %s", err_msg(e, r));
}

/*
 * A write(2) that fails half-way (here at RLIMIT_FSIZE, as on a full pool): libarchive's disk
 * writer says ARCHIVE_WARN and leaves the rest of the file as zeros. It must be a failure.
 */
static void test_short_write_fails(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	json_object *md = NULL;
	struct rlimit old, small = {.rlim_cur = 65536, .rlim_max = RLIM_INFINITY};
	void (*old_handler)(int);
	int r;

	good_image(f, FILTER_GZIP);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	old_handler = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	r = unpack(f, &md, &e);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_handler);
	if (r >= 0)
		fail_msg("unpack accepted a file it could not write whole");
	assert_int_equal(r, -EFBIG);
	assert_null(md);
	assert_non_null(strstr(e->msg, "Failed to extract \"rootfs/big\""));
	assert_non_null(strstr(e->msg, "File too large"));
}

/* The free space of the target is the bound: a small tmpfs refuses a bomb at its header. */
static void test_bound_free_space(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *zero = str_printf("%s/rootfs/zero", f->dest);
	struct stat st;
	bool gone;
	int r;

	if (geteuid() != 0) {
		print_message("skipped: mounting a small tmpfs needs root\n");
		skip();
	}
	bomb_image(f, sizeof(zeros));
	assert_int_equal(rm_rf(f->dest, NULL), 0);
	assert_int_equal(mkdir(f->dest, 0755), 0);
	if (mount("cairn-test", f->dest, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755") < 0) {
		print_message("skipped: cannot mount a tmpfs: %s\n", strerror(errno));
		skip();
	}
	{
		_cleanup_close_ int fd = open(f->tarball, O_RDONLY | O_CLOEXEC);
		_cleanup_json_ json_object *md = NULL;

		assert_true(fd >= 0);
		r = instance_image_unpack(fd, f->dest, &md, &e);
	}
	gone = lstat(zero, &st) < 0 && errno == ENOENT;
	assert_int_equal(umount2(f->dest, MNT_DETACH), 0);
	if (r != -ENOSPC)
		fail_msg("unpack of 16 MiB into 4 MiB: %d (%s)", r, err_msg(e, r));
	assert_non_null(strstr(e->msg, "Not enough space to unpack the image"));
	/* Refused at the header: the file was never made. */
	assert_true(gone);
}

static void test_not_an_archive(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	json_object *md = NULL;

	assert_int_equal(
	    file_write_atomic(f->tarball, "hello world, not a tarball\n", 27, 0644, NULL), 0);
	assert_int_equal(unpack(f, &md, &e), -EINVAL);
	assert_null(md);
}

static void test_sha256_fd(void **state)
{
	struct fixture *f = *state;
	_cleanup_close_ int fd = -EBADF;
	char hex[65];

	assert_int_equal(file_write_atomic(f->tarball, "abc", 3, 0644, NULL), 0);
	fd = open(f->tarball, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(instance_image_sha256_fd(fd, hex, NULL), 0);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* From the current position: one byte in, it is the digest of "bc". */
	assert_int_equal(lseek(fd, 1, SEEK_SET), 1);
	assert_int_equal(instance_image_sha256_fd(fd, hex, NULL), 0);
	assert_string_equal(hex,
			    "1e0bbd6c686ba050b8eb03ffeedc64fdc9d80947fce821abbe5d6dc8d252c5ac");
}

static void check_link(const char *rootfs, const char *rel, const char *expect)
{
	_cleanup_free_ char *p = str_printf("%s/%s", rootfs, rel);
	char target[256];
	ssize_t n = readlink(p, target, sizeof(target) - 1);

	if (n < 0)
		fail_msg("%s is not a symlink", rel);
	target[n] = '\0';
	assert_string_equal(target, expect);
}

static void test_build_busybox(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *rootfs = str_printf("%s/rootfs", f->dest);
	_cleanup_free_ char *bb = str_printf("%s/rootfs/bin/busybox", f->dest);
	_cleanup_free_ char *tmp = str_printf("%s/rootfs/tmp", f->dest);
	_cleanup_free_ char *inittab = NULL;
	_cleanup_free_ char *passwd = NULL;
	_cleanup_free_ char *md_text = NULL;
	_cleanup_free_ char *os_release = NULL;
	_cleanup_json_ json_object *md = NULL;
	_cleanup_err_ struct err *e = NULL;
	json_object *v, *props;
	struct stat host, st;
	struct utsname u;
	int r;

	if (stat("/bin/busybox", &host) < 0) {
		print_message("skipped: no /bin/busybox (install busybox-static)\n");
		skip();
	}
	r = instance_image_build_busybox(f->dest, NULL, &e);
	if (r < 0)
		fail_msg("build: %s", err_msg(e, r));

	assert_int_equal(stat(bb, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_size, host.st_size);
	check_link(rootfs, "sbin/init", "/bin/busybox");
	check_link(rootfs, "bin/sh", "/bin/busybox");
	check_link(rootfs, "bin/mount", "/bin/busybox");
	check_link(rootfs, "usr/bin/[", "/bin/busybox");
	check_link(rootfs, "sbin/halt", "/bin/busybox");
	assert_int_equal(stat(tmp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 01777);
	if (geteuid() == 0)
		assert_int_equal(st.st_uid, 0);

	inittab = read_rel(rootfs, "etc/inittab");
	assert_non_null(inittab);
	assert_non_null(strstr(inittab, "::sysinit:/bin/mount -t tmpfs"));
	assert_non_null(strstr(inittab, "::shutdown:/bin/umount -a -r"));
	assert_non_null(strstr(inittab, "::ctrlaltdel:/sbin/halt"));
	assert_non_null(strstr(inittab, "console::respawn:-/bin/sh"));
	passwd = read_rel(rootfs, "etc/passwd");
	assert_non_null(passwd);
	assert_true(str_startswith(passwd, "root:x:0:0:root:/root:/bin/sh\n"));
	os_release = read_rel(rootfs, "etc/os-release");
	assert_non_null(os_release);
	assert_non_null(strstr(os_release, "ID=busybox\n"));
	for (const char *const *p = (const char *const[]){"etc/group", "etc/shadow", "etc/hostname",
							  "etc/profile", NULL};
	     *p; p++) {
		_cleanup_free_ char *text = read_rel(rootfs, *p);

		if (!text)
			fail_msg("%s is missing", *p);
	}
	for (const char *const *p =
		 (const char *const[]){"root", "run", "proc", "sys", "dev", "var/log", NULL};
	     *p; p++) {
		_cleanup_free_ char *dir = str_printf("%s/%s", rootfs, *p);

		assert_int_equal(stat(dir, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
	}

	md_text = read_rel(f->dest, "metadata.yaml");
	assert_non_null(md_text);
	assert_int_equal(config_yaml_parse(md_text, strlen(md_text), &md, NULL), 0);
	assert_int_equal(uname(&u), 0);
	assert_true(json_object_object_get_ex(md, "architecture", &v));
	assert_string_equal(json_object_get_string(v), u.machine);
	assert_true(json_object_object_get_ex(md, "creation_date", &v));
	assert_true(json_object_get_int64(v) > 1600000000);
	assert_true(json_object_object_get_ex(md, "properties", &props));
	assert_true(json_object_object_get_ex(props, "os", &v));
	assert_string_equal(json_object_get_string(v), "busybox");
	assert_true(json_object_object_get_ex(props, "release", &v));
	assert_true(strlen(json_object_get_string(v)) > 0);
	assert_string_not_equal(json_object_get_string(v), "unknown");
	assert_true(json_object_object_get_ex(props, "description", &v));
	assert_true(str_startswith(json_object_get_string(v), "busybox "));
}

static void test_build_busybox_refuses(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *missing = str_printf("%s/nope", f->tmp);
	_cleanup_free_ char *text = str_printf("%s/outside/passwd", f->tmp);
	_cleanup_err_ struct err *e = NULL;

	assert_int_equal(instance_image_build_busybox(f->dest, missing, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "busybox-static"));
	err_freep(&e);
	assert_int_equal(instance_image_build_busybox(f->dest, text, &e), -ENOEXEC);
	err_freep(&e);
	/* A dynamically linked program has a PT_INTERP header. */
	assert_int_equal(instance_image_build_busybox(f->dest, "/bin/ls", &e), -ENOEXEC);
	assert_non_null(strstr(e->msg, "dynamically linked"));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_unpack_gzip),
	    T(test_unpack_xz),
	    T(test_unpack_plain_tar),
	    T(test_truncated),
	    T(test_dotdot),
	    T(test_absolute),
	    T(test_write_through_symlink),
	    T(test_hardlink_outside),
	    T(test_unexpected_entry),
	    T(test_missing_metadata),
	    T(test_missing_rootfs),
	    T(test_metadata_not_yaml),
	    T(test_metadata_without_architecture),
	    T(test_metadata_symlink),
	    T(test_top_level_not_directories),
	    T(test_bound_max_bytes),
	    T(test_short_write_fails),
	    T(test_bound_free_space),
	    T(test_not_an_archive),
	    T(test_sha256_fd),
	    T(test_build_busybox),
	    T(test_build_busybox_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
