/* Name validation: instances, storage pools, image aliases. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "config/names.h"

/* Checks that `name` is refused with -EINVAL and a message containing `needle`. */
static void assert_instance_refused(const char *name, const char *needle)
{
	_cleanup_err_ struct err *e = NULL;

	assert_int_equal(config_instance_name_valid(name, &e), -EINVAL);
	assert_non_null(e);
	assert_int_equal(e->code, -EINVAL);
	if (!strstr(e->msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, needle);
}

static void test_instance_valid(void **state)
{
	static const char *const good[] = {"c1", "a", "web-01", "A-b-C", "x123", "1a", "a1-2"};
	char max[64];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(config_instance_name_valid(good[i], &e), 0);
		assert_null(e);
	}
	memset(max, 'a', 63);
	max[63] = '\0';
	assert_int_equal(config_instance_name_valid(max, NULL), 0);
}

static void test_instance_invalid(void **state)
{
	char long_name[65];

	assert_instance_refused(
	    "a b",
	    "Invalid instance name \"a b\": only ASCII letters, digits and \"-\" are allowed");
	assert_instance_refused("a/b", "\"a/b\": only ASCII");
	assert_instance_refused("..", "\"..\": only ASCII");
	assert_instance_refused("../etc", "only ASCII");
	assert_instance_refused("caf\xc3\xa9", "only ASCII");
	assert_instance_refused("a_b", "only ASCII");
	assert_instance_refused("a.b", "only ASCII");
	assert_instance_refused("a\nb", "only ASCII");
	assert_instance_refused("", "cannot be empty");
	assert_instance_refused(NULL, "cannot be empty");
	assert_instance_refused("-abc", "cannot start or end with \"-\"");
	assert_instance_refused("abc-", "cannot start or end with \"-\"");
	assert_instance_refused("-", "cannot start or end");
	assert_instance_refused("123", "cannot be only digits");
	assert_instance_refused("0", "only digits");

	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	assert_instance_refused(long_name, "at most 63 characters");
}

static void test_pool_source(void **state)
{
	struct err *e = NULL;

	(void)state;
	assert_int_equal(config_pool_source_valid("/srv/pool", NULL), 0);
	assert_int_equal(config_pool_source_valid("/dev/sdb1", NULL), 0);
	assert_int_equal(config_pool_source_valid("/srv/..pool/x..", NULL), 0);
	assert_int_equal(config_pool_source_valid("/srv/./pool/", NULL), 0);
	assert_int_equal(config_pool_source_valid("pool.img", &e), -EINVAL);
	assert_string_equal(
	    err_msg(e, 0), "Invalid storage pool source \"pool.img\": it must be an absolute path");
	err_free(e);
	e = NULL;
	assert_int_equal(config_pool_source_valid("./pool", NULL), -EINVAL);
	assert_int_equal(config_pool_source_valid("", NULL), -EINVAL);
	assert_int_equal(config_pool_source_valid(NULL, NULL), -EINVAL);
	assert_int_equal(config_pool_source_valid("/srv/../var/lib/cairn", &e), -EINVAL);
	assert_string_equal(
	    err_msg(e, 0),
	    "Invalid storage pool source \"/srv/../var/lib/cairn\": it cannot hold \"..\"");
	err_free(e);
	assert_int_equal(config_pool_source_valid("/srv/..", NULL), -EINVAL);
	assert_int_equal(config_pool_source_valid("/../x", NULL), -EINVAL);
	assert_int_equal(config_pool_source_valid("/srv//../x", NULL), -EINVAL);
}

static void test_pool(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	char long_name[65];

	assert_int_equal(config_pool_name_valid("default", NULL), 0);
	assert_int_equal(config_pool_name_valid("pool_2.fast-ssd", NULL), 0);
	assert_int_equal(config_pool_name_valid("0", NULL), 0);
	assert_int_equal(config_pool_name_valid(".hidden", &e), -EINVAL);
	assert_non_null(strstr(e->msg, "\".hidden\""));
	assert_int_equal(config_pool_name_valid("-x", NULL), -EINVAL);
	assert_int_equal(config_pool_name_valid("", NULL), -EINVAL);
	assert_int_equal(config_pool_name_valid("a/b", NULL), -EINVAL);
	assert_int_equal(config_pool_name_valid("..", NULL), -EINVAL);
	assert_int_equal(config_pool_name_valid("a b", NULL), -EINVAL);
	memset(long_name, 'p', 64);
	long_name[64] = '\0';
	assert_int_equal(config_pool_name_valid(long_name, NULL), -EINVAL);
	long_name[63] = '\0';
	assert_int_equal(config_pool_name_valid(long_name, NULL), 0);
}

static void test_alias(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	char long_name[257];

	assert_int_equal(config_alias_name_valid("busybox", NULL), 0);
	assert_int_equal(config_alias_name_valid("debian-12_amd64.v1+x", NULL), 0);
	assert_int_equal(config_alias_name_valid("a/b", &e), -EINVAL);
	assert_non_null(strstr(e->msg, "Invalid image alias \"a/b\""));
	assert_int_equal(config_alias_name_valid("remote:img", NULL), -EINVAL);
	assert_int_equal(config_alias_name_valid("a b", NULL), -EINVAL);
	assert_int_equal(config_alias_name_valid("a\tb", NULL), -EINVAL);
	assert_int_equal(config_alias_name_valid(".", NULL), -EINVAL);
	assert_int_equal(config_alias_name_valid("..", NULL), -EINVAL);
	assert_int_equal(config_alias_name_valid("...", NULL), 0);
	assert_int_equal(config_alias_name_valid("", NULL), -EINVAL);
	assert_int_equal(config_alias_name_valid("\xc3\xa9", NULL), -EINVAL);
	memset(long_name, 'x', 256);
	long_name[256] = '\0';
	assert_int_equal(config_alias_name_valid(long_name, NULL), -EINVAL);
	long_name[255] = '\0';
	assert_int_equal(config_alias_name_valid(long_name, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_instance_valid), cmocka_unit_test(test_instance_invalid),
	    cmocka_unit_test(test_pool),	   cmocka_unit_test(test_pool_source),
	    cmocka_unit_test(test_alias),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
