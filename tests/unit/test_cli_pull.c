/* The local side of `cairn file pull` (cmd/cairn/pull.c): the modes it gives, where a target
 * leads, and that files, links and directories written below a descriptor replace a link at the
 * destination instead of following it. Runs in a temporary directory; needs no root. */

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

#include "cmd/cairn/cli.h"
#include "cmd/cairn/pull.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

struct fixture {
	char dir[64];
	int dfd;	  /* the temporary directory */
	char *victim;	  /* a file no pull may change */
	char *victim_dir; /* a directory no pull may enter */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/cairn-pull-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->victim = str_printf("%s/victim", f->dir);
	f->victim_dir = str_printf("%s/victim-dir", f->dir);
	if (f->dfd < 0 || !f->victim || !f->victim_dir || mkdir(f->victim_dir, 0755) < 0 ||
	    file_write(f->victim, "victim", 6, 0644, NULL) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->dfd);
	rm_rf(f->dir, NULL);
	free(f->victim);
	free(f->victim_dir);
	free(f);
	return 0;
}

/* A reader over a string; `fail` makes it fail after the first bytes. */
struct source {
	const char *data;
	size_t off;
	bool fail;
};

static ssize_t source_read(void *userdata, void *buf, size_t len)
{
	struct source *s = userdata;
	size_t n = strlen(s->data) - s->off;

	if (s->fail && s->off > 0)
		return -EIO;
	if (n > len)
		n = len;
	if (s->fail && n > 1)
		n = 1;
	memcpy(buf, s->data + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void assert_contents(const char *path, const char *want)
{
	_cleanup_free_ char *data = NULL;

	assert_int_equal(file_read_all(path, &data, NULL, NULL), 0);
	assert_string_equal(data, want);
}

static int sort_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Only the victim files and `names` (space-separated, sorted) are in the directory. */
static void assert_entries(const char *dir, const char *names)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	_cleanup_strv_ char **got = NULL;
	_cleanup_free_ char *joined = NULL;
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "victim") == 0 || strcmp(de->d_name, "victim-dir") == 0)
			continue;
		assert_int_equal(strv_push(&got, de->d_name), 0);
		n++;
	}
	if (n > 0)
		qsort(got, n, sizeof(*got), sort_names);
	joined = strdup("");
	for (size_t i = 0; i < n; i++) {
		char *next = str_printf("%s%s%s", joined, i ? " " : "", got[i]);

		free(joined);
		joined = next;
	}
	assert_string_equal(joined, names);
}

/* --keep-mode is in the command table: parsed, off by default, and in the help. */
static void test_keep_mode_flag(void **state)
{
	_cleanup_(cli_args_done) struct cli_args a = {0}, b = {0};
	_cleanup_strv_ char **argv = NULL;
	_cleanup_free_ char *help = NULL;
	size_t argc = 0, len = 0;
	FILE *out;

	assert_int_equal(cli_split_line("file pull --keep-mode -r c1/root/x .", &argv, &argc, NULL),
			 0);
	assert_int_equal(cli_parse(cli_root(), argv, argc, &a, NULL), 0);
	assert_true(cli_flag_bool(&a, "keep-mode"));
	assert_true(cli_flag_bool(&a, "recursive"));
	strv_freep(&argv);
	assert_int_equal(cli_split_line("file pull c1/root/x .", &argv, &argc, NULL), 0);
	assert_int_equal(cli_parse(cli_root(), argv, argc, &b, NULL), 0);
	assert_false(cli_flag_bool(&b, "keep-mode"));

	out = open_memstream(&help, &len);
	assert_non_null(out);
	cli_print_help(out, a.cmd, a.path);
	fclose(out);
	assert_non_null(strstr(help, "--keep-mode"));
}

static void test_mode(void **state)
{
	assert_int_equal(cli_pull_mode(0644, false), 0644);
	assert_int_equal(cli_pull_mode(04755, false), 0755);
	assert_int_equal(cli_pull_mode(02755, false), 0755);
	assert_int_equal(cli_pull_mode(01777, false), 0777);
	assert_int_equal(cli_pull_mode(06755, true), 06755);
	assert_int_equal(cli_pull_mode(01777, true), 01777);
	/* Whatever else the header held is never a mode bit. */
	assert_int_equal(cli_pull_mode(0170644, true), 0644);
}

static void test_file_replaces_link(void **state)
{
	struct fixture *f = *state;
	struct source src = {.data = "pwned"};
	_cleanup_free_ char *dest = str_printf("%s/dest", f->dir);
	struct stat st;
	mode_t old = umask(077);

	assert_int_equal(symlink(f->victim, dest), 0);
	assert_int_equal(cli_pull_write_file(f->dfd, "dest", 0640, source_read, &src, dest, NULL),
			 0);
	umask(old);
	assert_contents(f->victim, "victim");
	assert_int_equal(lstat(dest, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_contents(dest, "pwned");
	assert_entries(f->dir, "dest");
}

static void test_file_replaces_file(void **state)
{
	struct fixture *f = *state;
	struct source src = {.data = "new"};
	_cleanup_free_ char *dest = str_printf("%s/dest", f->dir);
	_cleanup_free_ char *hard = str_printf("%s/hard", f->dir);
	struct stat st;

	/* A second name of the old file keeps the old contents: the file is replaced, not
	 * truncated and rewritten. */
	assert_int_equal(file_write(dest, "old", 3, 0600, NULL), 0);
	assert_int_equal(link(dest, hard), 0);
	assert_int_equal(cli_pull_write_file(f->dfd, "dest", 04755, source_read, &src, dest, NULL),
			 0);
	assert_contents(dest, "new");
	assert_contents(hard, "old");
	assert_int_equal(stat(dest, &st), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	assert_entries(f->dir, "dest hard");
}

static void test_file_failures_change_nothing(void **state)
{
	struct fixture *f = *state;
	struct source src = {.data = "partial", .fail = true};
	struct source ok = {.data = "x"};
	_cleanup_free_ char *dest = str_printf("%s/dest", f->dir);
	_cleanup_free_ char *sub = str_printf("%s/sub", f->dir);
	_cleanup_err_ struct err *e = NULL;

	assert_int_equal(file_write(dest, "old", 3, 0644, NULL), 0);
	assert_int_equal(cli_pull_write_file(f->dfd, "dest", 0644, source_read, &src, dest, &e),
			 -EIO);
	assert_non_null(e);
	assert_contents(dest, "old");
	assert_entries(f->dir, "dest");
	err_freep(&e);

	/* A directory at the name stays. */
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(cli_pull_write_file(f->dfd, "sub", 0644, source_read, &ok, sub, &e),
			 -EISDIR);
	assert_non_null(e);
	assert_entries(f->dir, "dest sub");
	assert_entries(sub, "");
}

static void test_link_is_data(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *dest = str_printf("%s/dest", f->dir);
	_cleanup_free_ char *other = str_printf("%s/other", f->dir);
	_cleanup_free_ char *sub = str_printf("%s/sub", f->dir);
	_cleanup_err_ struct err *e = NULL;
	char buf[256];
	ssize_t n;

	/* Over a file, then over a link to the victim directory: replaced each time. */
	assert_int_equal(file_write(dest, "old", 3, 0644, NULL), 0);
	assert_int_equal(cli_pull_write_link(f->dfd, "dest", "/etc/passwd", dest, NULL), 0);
	assert_int_equal(symlink(f->victim_dir, other), 0);
	assert_int_equal(cli_pull_write_link(f->dfd, "other", "../x", other, NULL), 0);
	n = readlink(dest, buf, sizeof(buf) - 1);
	assert_int_equal(n, strlen("/etc/passwd"));
	buf[n] = '\0';
	assert_string_equal(buf, "/etc/passwd");
	n = readlink(other, buf, sizeof(buf) - 1);
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "../x", 4);
	assert_entries(f->victim_dir, "");
	assert_entries(f->dir, "dest other");

	/* A directory at the name stays. */
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(cli_pull_write_link(f->dfd, "sub", "/", sub, &e), -EISDIR);
	assert_entries(f->dir, "dest other sub");
}

static void test_open_dir(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *planted = str_printf("%s/planted", f->dir);
	_cleanup_free_ char *file = str_printf("%s/file", f->dir);
	_cleanup_err_ struct err *e = NULL;
	struct stat st;
	bool created = false;
	int fd = -EBADF;

	assert_int_equal(cli_pull_open_dir(f->dfd, "new", "new", &fd, &created, NULL), 0);
	assert_true(created);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0077, 0);
	close(fd);

	assert_int_equal(cli_pull_open_dir(f->dfd, "new", "new", &fd, &created, NULL), 0);
	assert_false(created);
	close(fd);

	/* A link where the tree has a directory is replaced, not entered. */
	assert_int_equal(symlink(f->victim_dir, planted), 0);
	assert_int_equal(cli_pull_open_dir(f->dfd, "planted", planted, &fd, &created, NULL), 0);
	assert_true(created);
	assert_int_equal(mkdirat(fd, "inside", 0755), 0);
	close(fd);
	assert_int_equal(lstat(planted, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_entries(f->victim_dir, "");
	assert_entries(planted, "inside");

	assert_int_equal(file_write(file, "x", 1, 0644, NULL), 0);
	assert_int_equal(cli_pull_open_dir(f->dfd, "file", file, &fd, &created, &e), -ENOTDIR);
	assert_contents(file, "x");
}

static void test_target(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *dir_link = str_printf("%s/dir-link", f->dir);
	_cleanup_free_ char *dir_link_slash = str_printf("%s/dir-link/", f->dir);
	_cleanup_free_ char *file_link = str_printf("%s/file-link", f->dir);
	_cleanup_free_ char *missing = str_printf("%s/missing", f->dir);
	_cleanup_free_ char *missing_slash = str_printf("%s/missing/", f->dir);
	_cleanup_free_ char *name = NULL;
	_cleanup_err_ struct err *e = NULL;
	bool into_dir = false;
	struct stat st, want;
	int dfd = -EBADF;

	/* A real directory takes the sources under their own names. */
	assert_int_equal(cli_pull_target(f->dir, 2, &dfd, &name, &into_dir, NULL), 0);
	assert_true(into_dir);
	assert_null(name);
	assert_int_equal(fstat(dfd, &st), 0);
	assert_int_equal(fstat(f->dfd, &want), 0);
	assert_int_equal(st.st_ino, want.st_ino);
	close(dfd);

	/* A link to a directory: only with a trailing "/". */
	assert_int_equal(symlink(f->victim_dir, dir_link), 0);
	assert_int_equal(cli_pull_target(dir_link, 1, &dfd, &name, &into_dir, &e), -ELOOP);
	assert_non_null(e);
	err_freep(&e);
	assert_int_equal(cli_pull_target(dir_link_slash, 1, &dfd, &name, &into_dir, NULL), 0);
	assert_true(into_dir);
	assert_int_equal(fstat(dfd, &st), 0);
	assert_int_equal(stat(f->victim_dir, &want), 0);
	assert_int_equal(st.st_ino, want.st_ino);
	close(dfd);

	/* A link to a file is the name to replace, in its own directory. */
	assert_int_equal(symlink(f->victim, file_link), 0);
	assert_int_equal(cli_pull_target(file_link, 1, &dfd, &name, &into_dir, NULL), 0);
	assert_false(into_dir);
	assert_string_equal(name, "file-link");
	assert_int_equal(fstat(dfd, &st), 0);
	assert_int_equal(fstat(f->dfd, &want), 0);
	assert_int_equal(st.st_ino, want.st_ino);
	close(dfd);
	free(name);
	name = NULL;

	/* A new name; several sources or a trailing "/" need a directory. */
	assert_int_equal(cli_pull_target(missing, 1, &dfd, &name, &into_dir, NULL), 0);
	assert_false(into_dir);
	assert_string_equal(name, "missing");
	close(dfd);
	assert_int_equal(cli_pull_target(missing, 2, &dfd, &name, &into_dir, &e), -ENOTDIR);
	err_freep(&e);
	assert_int_equal(cli_pull_target(missing_slash, 1, &dfd, &name, &into_dir, &e), -ENOTDIR);
	err_freep(&e);
	assert_int_equal(cli_pull_target(f->victim, 2, &dfd, &name, &into_dir, &e), -ENOTDIR);
	err_freep(&e);
	assert_int_equal(cli_pull_target("", 1, &dfd, &name, &into_dir, &e), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mode),
	    cmocka_unit_test(test_keep_mode_flag),
	    cmocka_unit_test_setup_teardown(test_file_replaces_link, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_replaces_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_failures_change_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_link_is_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_target, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
