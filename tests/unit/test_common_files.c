/* file_write_prepare() and file_write_commit(): the two halves of an atomic file write. */

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

static int setup(void **state)
{
	char *dir = strdup("/tmp/cairn-test-files.XXXXXX");

	if (!dir || !mkdtemp(dir))
		return -1;
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	rm_rf(*state, NULL);
	free(*state);
	return 0;
}

/* Number of entries in `dir` besides . and .. */
static int entries(const char *dir)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	return n;
}

static char *read_text(const char *path)
{
	char *text = NULL;

	assert_int_equal(file_read_all(path, &text, NULL, NULL), 0);
	return text;
}

static void test_prepare_then_commit(void **state)
{
	const char *dir = *state;
	_cleanup_free_ char *path = str_printf("%s/backup.yaml", dir), *tmp = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_err_ struct err *e = NULL;
	struct stat st;

	assert_int_equal(file_write_atomic(path, "old\n", 4, 0600, &e), 0);
	assert_int_equal(file_write_prepare(path, "new\n", 4, 0640, &tmp, &e), 0);
	assert_null(e);
	/* The temporary file sits beside the target, under the documented name. */
	assert_true(str_startswith(tmp, path));
	assert_true(str_startswith(tmp + strlen(path), FILE_WRITE_TMP_SUFFIX));
	assert_int_equal(stat(tmp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* Until the commit the target is untouched. */
	text = read_text(path);
	assert_string_equal(text, "old\n");
	free(steal_pointer(&text));

	assert_int_equal(file_write_commit(tmp, path, &e), 0);
	text = read_text(path);
	assert_string_equal(text, "new\n");
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(entries(dir), 1);
}

static void test_failures_leave_nothing(void **state)
{
	const char *dir = *state;
	_cleanup_free_ char *missing = str_printf("%s/nodir/backup.yaml", dir);
	_cleanup_free_ char *sub = str_printf("%s/sub", dir), *tmp = NULL;
	_cleanup_err_ struct err *e = NULL;

	assert_int_equal(file_write_prepare(missing, "x", 1, 0600, &tmp, &e), -ENOENT);
	assert_null(tmp);
	assert_non_null(strstr(e->msg, "nodir/backup.yaml"));
	err_freep(&e);
	assert_int_equal(entries(dir), 0);

	/* A rename that fails (a directory is in the way) removes the temporary file and leaves
	 * the target as it was. */
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(file_write_prepare(sub, "x", 1, 0600, &tmp, &e), 0);
	assert_int_equal(entries(dir), 2);
	assert_true(file_write_commit(tmp, sub, &e) < 0);
	assert_non_null(e);
	assert_int_equal(entries(dir), 1);
	assert_int_equal(entries(sub), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_prepare_then_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failures_leave_nothing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
