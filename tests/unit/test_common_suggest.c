/* "Did you mean" suggestions: the edit distance and cobra's rule for offering a candidate. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/suggest.h"

static void test_distance(void **state)
{
	(void)state;
	assert_int_equal(suggest_distance("", ""), 0);
	assert_int_equal(suggest_distance("list", "list"), 0);
	assert_int_equal(suggest_distance("lst", "list"), 1);	/* deletion */
	assert_int_equal(suggest_distance("lisst", "list"), 1); /* insertion */
	assert_int_equal(suggest_distance("lost", "list"), 1);	/* substitution */
	assert_int_equal(suggest_distance("lsit", "list"), 2);	/* a swap is two edits */
	assert_int_equal(suggest_distance("LIST", "list"), 0);	/* case is ignored */
	assert_int_equal(suggest_distance("", "stop"), 4);
	assert_int_equal(suggest_distance("kitten", "sitting"), 3);
	assert_int_equal(suggest_distance("limits.memroy", "limits.memory"), 2);
}

static void test_long_words(void **state)
{
	char big[400];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(suggest_distance(big, "a"), SIZE_MAX);
	assert_false(suggest_close(big, "aaa"));
}

static void test_close(void **state)
{
	(void)state;
	assert_true(suggest_close("lst", "list"));
	assert_true(suggest_close("lis", "list"));	/* a prefix, however short */
	assert_true(suggest_close("snap", "snapshot")); /* four edits away, but a prefix */
	assert_false(suggest_close("list", "list"));	/* an exact match is no typo */
	assert_false(suggest_close("xyzzy", "list"));
	assert_false(suggest_close("", "list")); /* the empty word is no prefix */
	assert_false(suggest_close("delte-all", "delete"));
}

static void test_best(void **state)
{
	static const char *const words[] = {"start", "stop", NULL, "restart", "list"};

	(void)state;
	assert_string_equal(suggest_best("stpo", words, 5), "stop");
	assert_string_equal(suggest_best("strat", words, 5), "start");
	assert_string_equal(suggest_best("lits", words, 5), "list");
	assert_null(suggest_best("xyzzy", words, 5));
	assert_null(suggest_best("stop", words, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_distance),
	    cmocka_unit_test(test_long_words),
	    cmocka_unit_test(test_close),
	    cmocka_unit_test(test_best),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
