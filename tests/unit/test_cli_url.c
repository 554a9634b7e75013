/* Building and reading URL paths in the client: percent-encoding both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cairn/cli.h"
#include "common/cleanup.h"

static void test_escape(void **state)
{
	static const char *const cases[][2] = {
	    {"c1", "c1"},	    {"web-01.x_y~z", "web-01.x_y~z"},
	    {"a b", "a%20b"},	    {"a/b", "a%2Fb"},
	    {"..", ".."},	    {"snap?x=1&y", "snap%3Fx%3D1%26y"},
	    {"\xc3\xa9", "%C3%A9"}, {"", ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *e = cli_escape(cases[i][0]);

		assert_non_null(e);
		assert_string_equal(e, cases[i][1]);
	}
}

static void test_basename(void **state)
{
	static const char *const cases[][2] = {
	    {"/1.0/instances/c1", "c1"},
	    {"/1.0/instances/a%20b", "a b"},
	    {"/1.0/images/ab12?project=default", "ab12"},
	    {"/1.0/instances/a%2Fb", "a/b"},
	    {"/1.0/instances/bad%zz", "bad%zz"},
	    {"/1.0/instances/trunc%2", "trunc%2"},
	    {"plain", "plain"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *b = cli_url_basename(cases[i][0]);

		assert_non_null(b);
		assert_string_equal(b, cases[i][1]);
	}
	assert_null(cli_url_basename(NULL));
}

/* What is escaped reads back unchanged. */
static void test_round_trip(void **state)
{
	static const char *const names[] = {"c1", "a b", "x/y", "100%", "snap:1", "\xe2\x82\xac"};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		_cleanup_free_ char *e = cli_escape(names[i]);
		_cleanup_free_ char *url = NULL, *back = NULL;

		assert_non_null(e);
		url = malloc(strlen(e) + 32);
		assert_non_null(url);
		strcpy(url, "/1.0/instances/");
		strcat(url, e);
		back = cli_url_basename(url);
		assert_string_equal(back, names[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_basename),
	    cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
