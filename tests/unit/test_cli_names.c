/* Generated instance names: every one is a valid instance name in the adjective-noun form,
 * and they are all different. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cairn/cli.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "config/names.h"

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_all_names(void **state)
{
	size_t n = cli_generated_name_count();
	char **v = calloc(n, sizeof(char *));

	(void)state;
	assert_non_null(v);
	assert_true(n >= 1000);
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct err *e = NULL;
		const char *dash;

		v[i] = cli_generated_name((uint32_t)i);
		assert_non_null(v[i]);
		if (config_instance_name_valid(v[i], &e) < 0)
			fail_msg("\"%s\": %s", v[i], e->msg);
		dash = strchr(v[i], '-');
		assert_non_null(dash);
		assert_null(strchr(dash + 1, '-'));
		assert_true(dash > v[i] && dash[1]);
	}
	qsort(v, n, sizeof(char *), cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(v[i - 1], v[i]) == 0)
			fail_msg("\"%s\" twice", v[i]);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void test_wraps(void **state)
{
	_cleanup_free_ char *a = cli_generated_name(7);
	_cleanup_free_ char *b = cli_generated_name((uint32_t)(7 + cli_generated_name_count()));
	_cleanup_free_ char *c = cli_generated_name(UINT32_MAX);

	(void)state;
	assert_string_equal(a, b);
	assert_non_null(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all_names),
	    cmocka_unit_test(test_wraps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
