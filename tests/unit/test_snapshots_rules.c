/* The pure snapshot rules: names, snapshots.pattern, expiry expressions and dates, the key
 * validators that use them, and the CRIU version parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "config/keys.h"
#include "config/snaprules.h"
#include "instance/criu.h"
#include "snapshots/snapshots.h"

/* 2026-11-21T15:57:03Z */
#define T0 1795276623

static void name_ok(const char *name)
{
	struct err *e = NULL;

	assert_int_equal(config_snapshot_name_valid(name, &e), 0);
	assert_null(e);
}

static void name_bad(const char *name, const char *part)
{
	struct err *e = NULL;

	assert_int_equal(config_snapshot_name_valid(name, &e), -EINVAL);
	assert_non_null(e);
	assert_non_null(strstr(e->msg, part));
	err_free(e);
}

static void test_names(void **state)
{
	char long_name[300];

	(void)state;
	name_ok("snap0");
	name_ok("before-upgrade_2026.11");
	name_ok("ünïcode");
	name_bad("", "cannot be empty");
	name_bad(".", "Invalid snapshot name");
	name_bad("..", "Invalid snapshot name");
	name_bad(".hidden", "cannot start with '.'");
	name_bad("a/b", "cannot contain '/'");
	name_bad("/", "cannot contain '/'");
	name_bad("a b", "white space");
	name_bad("a\tb", "white space");
	name_bad("a\x01", "control");
	memset(long_name, 'a', 255);
	long_name[255] = '\0';
	name_ok(long_name);
	long_name[255] = 'a';
	long_name[256] = '\0';
	name_bad(long_name, "longer than 255");
}

static char *expand(const char *pattern, char *const *existing)
{
	char *out = NULL;
	struct err *e = NULL;
	int r = config_snapshot_pattern_expand(pattern, T0, existing, &out, &e);

	if (r < 0) {
		err_free(e);
		return NULL;
	}
	return out;
}

static void expect_expand(const char *pattern, char *const *existing, const char *want)
{
	char *got = expand(pattern, existing);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_pattern(void **state)
{
	char *none[] = {NULL};
	char *some[] = {"snap0", "snap1", "snap7", "snapx", "other3", "snap-2", NULL};
	char *dated[] = {"daily-2026-11-21-0", "daily-2026-11-21-4", "daily-2026-11-20-9", NULL};
	char *taken[] = {"fixed", "fixed-0", NULL};
	struct err *e = NULL;

	(void)state;
	expect_expand("snap%d", none, "snap0");
	expect_expand("snap%d", NULL, "snap0");
	expect_expand("snap%d", some, "snap8");
	expect_expand("{date:%Y-%m-%d}", none, "2026-11-21");
	expect_expand("daily-{date:%Y-%m-%d}-%d", dated, "daily-2026-11-21-5");
	expect_expand("at{date:%H%M}", none, "at1557");
	expect_expand("fixed", none, "fixed");
	expect_expand("fixed", taken, "fixed-1");
	expect_expand("%d-suffix", (char *[]){"3-suffix", NULL}, "4-suffix");

	assert_int_equal(config_snapshot_pattern_valid("snap%d", &e), 0);
	assert_int_equal(config_snapshot_pattern_valid("a%db%d", &e), -EINVAL);
	assert_non_null(strstr(e->msg, "only once"));
	err_freep(&e);
	assert_int_equal(config_snapshot_pattern_valid("x{date:%Y", &e), -EINVAL);
	assert_non_null(strstr(e->msg, "not closed"));
	err_freep(&e);
	assert_int_equal(config_snapshot_pattern_valid("{date:%D}", &e), -EINVAL);
	err_freep(&e);
	assert_int_equal(config_snapshot_pattern_valid("a b%d", &e), -EINVAL);
	err_freep(&e);
	assert_int_equal(config_snapshot_pattern_valid("", &e), -EINVAL);
	err_freep(&e);
	assert_int_equal(config_snapshot_pattern_valid(".snap%d", &e), -EINVAL);
	err_freep(&e);
	/* Blank-padded fields are two digits on 21 November at 15:57, one digit and a blank on
	 * other days and hours: refused whatever the date. */
	assert_int_equal(config_snapshot_pattern_valid("{date:%e}", &e), -EINVAL);
	err_freep(&e);
	assert_int_equal(config_snapshot_pattern_valid("at{date:%k}", &e), -EINVAL);
	err_freep(&e);
	assert_int_equal(config_snapshot_pattern_valid("{date:%_M}-%d", &e), -EINVAL);
	err_freep(&e);
	assert_int_equal(config_snapshot_pattern_valid("{date:%_j}", &e), -EINVAL);
	err_freep(&e);
	assert_int_equal(config_snapshot_pattern_valid("-{date:%8A}", &e), -EINVAL);
	err_freep(&e);
	assert_int_equal(config_snapshot_pattern_valid("{date:%4B}%d", &e), -EINVAL);
	err_freep(&e);
	assert_int_equal(config_snapshot_pattern_valid("{date:%-d}-%d", &e), 0);
	assert_int_equal(config_snapshot_pattern_valid("{date:%A-%B-%Y%m%d%H%M%S}", &e), 0);
	assert_null(expand("a/%d", none));
}

static int64_t add(const char *expr, int64_t from)
{
	int64_t out = -1;
	struct err *e = NULL;
	int r = config_expiry_add(expr, from, &out, &e);

	if (r < 0) {
		err_free(e);
		return -1000 + r;
	}
	return out;
}

static void test_expiry(void **state)
{
	/* 2026-01-31T00:00:00Z */
	const int64_t jan31 = 1769817600;
	/* 2024-02-29T12:00:00Z */
	const int64_t leap = 1709208000;

	(void)state;
	assert_int_equal(add("1d", T0), T0 + 86400);
	assert_int_equal(add("1d 3H", T0), T0 + 86400 + 3 * 3600);
	assert_int_equal(add("  2w  ", T0), T0 + 14 * 86400);
	assert_int_equal(add("30S 2M", T0), T0 + 150);
	assert_int_equal(add("0d", T0), T0);
	/* 2026-11-21 + 1 month = 2026-12-21, 30 days later. */
	assert_int_equal(add("1m", T0), T0 + 30 * 86400);
	/* 2026-11-21 + 1 year = 2027-11-21, 365 days later. */
	assert_int_equal(add("1y", T0), T0 + 365 * 86400);
	/* 31 January + 1 month: timegm normalises 31 February to 3 March (2026 is no leap
	 * year). */
	assert_int_equal(add("1m", jan31), jan31 + (28 + 3) * 86400);
	/* 29 February 2024 + 1 year: 1 March 2025. */
	assert_int_equal(add("1y", leap), leap + 366 * 86400);

	assert_true(add("", T0) < -900);
	assert_true(add("1d 2d", T0) < -900);
	assert_true(add("1x", T0) < -900);
	assert_true(add("d", T0) < -900);
	assert_true(add("1", T0) < -900);
	assert_true(add("1dd", T0) < -900);
	assert_true(add("-1d", T0) < -900);
	assert_true(add("1d,3H", T0) < -900);
}

static void test_dates(void **state)
{
	int64_t t = 0;
	struct err *e = NULL;

	(void)state;
	assert_int_equal(config_expiry_parse_date("2026-11-21T15:57:03Z", &t, &e), 0);
	assert_int_equal(t, T0);
	assert_int_equal(config_expiry_parse_date("2026-11-21 15:57:03", &t, &e), 0);
	assert_int_equal(t, T0);
	assert_int_equal(config_expiry_parse_date("2026-11-21 15:57", &t, &e), 0);
	assert_int_equal(t, T0 - 3);
	assert_int_equal(config_expiry_parse_date("2026-11-21", &t, &e), 0);
	assert_int_equal(t, T0 - (15 * 3600 + 57 * 60 + 3));
	assert_int_equal(config_expiry_parse_date("2026-13-01", &t, &e), -EINVAL);
	err_freep(&e);
	assert_int_equal(config_expiry_parse_date("2026-11-21 25:00", &t, &e), -EINVAL);
	err_freep(&e);
	assert_int_equal(config_expiry_parse_date("tomorrow", &t, &e), -EINVAL);
	err_freep(&e);

	assert_int_equal(config_expiry_resolve("1d", T0, &t, &e), 0);
	assert_int_equal(t, T0 + 86400);
	assert_int_equal(config_expiry_resolve("2026-11-21T15:57:03Z", 0, &t, &e), 0);
	assert_int_equal(t, T0);
	assert_int_equal(config_expiry_resolve("", 0, &t, &e), -EINVAL);
	err_freep(&e);
}

static void test_keys(void **state)
{
	struct err *e = NULL;

	(void)state;
	assert_int_equal(config_key_validate("snapshots.pattern", "snap%d", &e), 0);
	assert_int_equal(config_key_validate("snapshots.pattern", "{date:%Y%m%d}-%d", &e), 0);
	assert_int_equal(config_key_validate("snapshots.pattern", "a/b", &e), -EINVAL);
	assert_non_null(strstr(e->msg, "snapshots.pattern"));
	err_freep(&e);
	assert_int_equal(config_key_validate("snapshots.expiry", "1d 3H", &e), 0);
	assert_int_equal(config_key_validate("snapshots.expiry.manual", "2w", &e), 0);
	assert_int_equal(config_key_validate("snapshots.expiry", "1d 1d", &e), -EINVAL);
	assert_non_null(strstr(e->msg, "snapshots.expiry"));
	err_freep(&e);
	assert_int_equal(config_key_validate("snapshots.expiry.manual", "soon", &e), -EINVAL);
	err_freep(&e);
	assert_int_equal(config_key_validate("snapshots.limit", "3", &e), 0);
	assert_int_equal(config_key_validate("snapshots.limit", "x", &e), -EINVAL);
	err_freep(&e);
	/* An empty value unsets the key. */
	assert_int_equal(config_key_validate("snapshots.pattern", "", &e), 0);
}

/* CRIU's own verdict: the message of its first error line (`criu check`), or the last errors
 * before it gave up (a dump or restore log). */
static void test_criu_error_lines(void **state)
{
	char *line;

	(void)state;
	line = instance_criu_error_line("Error (criu/vdso.c:627): Failed to fill self vdso "
					"symtable\nError (criu/kerndat.c:1906): kerndat failed\n");
	assert_string_equal(line, "Failed to fill self vdso symtable");
	free(line);
	line = instance_criu_error_line("Looks good.\n");
	assert_string_equal(line, "Looks good.");
	free(line);
	assert_null(instance_criu_error_line(""));
	line = instance_criu_log_errors(
	    "(00.01) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE\n"
	    "(00.02) Error (criu/files-reg.c:1790): Can't lookup mount=24 for fd=10\n"
	    "(00.03) Error (criu/cr-dump.c:1698): Dump files (pid: 4650) failed with -1\n"
	    "(00.04) Error (criu/cr-dump.c:2128): Dumping FAILED.\n");
	assert_string_equal(
	    line, "Can't lookup mount=24 for fd=10; Dump files (pid: 4650) failed with -1");
	free(line);
	assert_null(instance_criu_log_errors("(00.01) Info: all fine\n"));
}

static void test_criu_version(void **state)
{
	int major = 0, minor = 0;

	(void)state;
	assert_int_equal(instance_criu_parse_version("Version: 3.17\n", &major, &minor), 0);
	assert_int_equal(major, 3);
	assert_int_equal(minor, 17);
	assert_int_equal(instance_criu_parse_version("Version: 4.1\nGitID: v4.1\n", &major, &minor),
			 0);
	assert_int_equal(major, 4);
	assert_int_equal(minor, 1);
	assert_int_equal(instance_criu_parse_version("criu: command not found", &major, &minor),
			 -EINVAL);
	assert_int_equal(instance_criu_parse_version(NULL, &major, &minor), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_pattern),
	    cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_dates),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_criu_version),
	    cmocka_unit_test(test_criu_error_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
