/* The daemon's route table and path matching. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cairnd/routes.h"

static enum route_match match(const char *method, const char *path, const struct route **ret,
			      char params[][256], size_t *n)
{
	return routes_match(routes_table(), method, path, ret, params, n);
}

static void test_literal_routes(void **state)
{
	const struct route *r = NULL;
	char params[ROUTE_MAX_PARAMS][256];
	size_t n = 99;

	(void)state;
	assert_int_equal(match("GET", "/1.0", &r, params, &n), ROUTE_FOUND);
	assert_string_equal(r->pattern, "/1.0");
	assert_int_equal(n, 0);
	assert_int_equal(match("GET", "/1.0/instances", &r, params, &n), ROUTE_FOUND);
	assert_string_equal(r->pattern, "/1.0/instances");
	assert_int_equal(match("POST", "/1.0/instances", &r, params, &n), ROUTE_FOUND);
	assert_int_equal(r->body, ROUTE_BODY_JSON);
	/* A trailing slash is tolerated, as Incus does. */
	assert_int_equal(match("GET", "/1.0/instances/", &r, params, &n), ROUTE_FOUND);
}

static void test_captures(void **state)
{
	const struct route *r = NULL;
	char params[ROUTE_MAX_PARAMS][256];
	size_t n = 0;

	(void)state;
	assert_int_equal(match("PUT", "/1.0/instances/web-1/state", &r, params, &n), ROUTE_FOUND);
	assert_string_equal(r->pattern, "/1.0/instances/{}/state");
	assert_int_equal(n, 1);
	assert_string_equal(params[0], "web-1");
	/* Percent-encoded segments are decoded. */
	assert_int_equal(match("GET", "/1.0/instances/a%2Db", &r, params, &n), ROUTE_FOUND);
	assert_string_equal(params[0], "a-b");
}

static void test_aliases_before_images(void **state)
{
	const struct route *r = NULL;
	char params[ROUTE_MAX_PARAMS][256];
	size_t n = 0;

	(void)state;
	assert_int_equal(match("GET", "/1.0/images/aliases", &r, params, &n), ROUTE_FOUND);
	assert_string_equal(r->pattern, "/1.0/images/aliases");
	assert_int_equal(match("GET", "/1.0/images/abcdef", &r, params, &n), ROUTE_FOUND);
	assert_string_equal(r->pattern, "/1.0/images/{}");
	assert_int_equal(match("POST", "/1.0/images", &r, params, &n), ROUTE_FOUND);
	assert_int_equal(r->body, ROUTE_BODY_FILE);
}

static void test_not_found_and_method(void **state)
{
	const struct route *r = NULL;
	char params[ROUTE_MAX_PARAMS][256];
	size_t n = 0;

	(void)state;
	assert_int_equal(match("GET", "/2.0", &r, params, &n), ROUTE_NOT_FOUND);
	assert_int_equal(match("GET", "/1.0/nosuch", &r, params, &n), ROUTE_NOT_FOUND);
	assert_int_equal(match("GET", "/1.0/instances/c1/state/extra", &r, params, &n),
			 ROUTE_NOT_FOUND);
	assert_int_equal(match("DELETE", "/1.0/instances", &r, params, &n),
			 ROUTE_METHOD_NOT_ALLOWED);
	assert_int_equal(match("GET", "", &r, params, &n), ROUTE_NOT_FOUND);
}

/* A captured segment can never smuggle a '/' or NUL, nor be empty or overlong. */
static void test_hostile_segments(void **state)
{
	const struct route *r = NULL;
	char params[ROUTE_MAX_PARAMS][256];
	char longpath[600];
	size_t n = 0;

	(void)state;
	assert_int_equal(match("GET", "/1.0/instances/a%2Fb", &r, params, &n), ROUTE_NOT_FOUND);
	assert_int_equal(match("GET", "/1.0/instances/a%00b", &r, params, &n), ROUTE_NOT_FOUND);
	assert_int_equal(match("GET", "/1.0/instances/a%zz", &r, params, &n), ROUTE_NOT_FOUND);
	assert_int_equal(match("GET", "/1.0/instances/a%2", &r, params, &n), ROUTE_NOT_FOUND);
	assert_int_equal(match("GET", "/1.0/instances//state", &r, params, &n), ROUTE_NOT_FOUND);
	strcpy(longpath, "/1.0/instances/");
	memset(longpath + strlen(longpath), 'a', 300);
	longpath[15 + 300] = '\0';
	assert_int_equal(match("GET", longpath, &r, params, &n), ROUTE_NOT_FOUND);
}

/* Every route has a handler, a method and a pattern under "/". */
/* Rename and move (POST on an instance) and the changes of a pool reach their handlers with
 * the name captured; a snapshot's POST stays its own. */
static void test_move_and_pool_routes(void **state)
{
	const struct route *r = NULL;
	char params[ROUTE_MAX_PARAMS][256];
	size_t n = 0;

	(void)state;
	assert_int_equal(match("POST", "/1.0/instances/web", &r, params, &n), ROUTE_FOUND);
	assert_string_equal(r->pattern, "/1.0/instances/{}");
	assert_int_equal(r->body, ROUTE_BODY_JSON);
	assert_int_equal(n, 1);
	assert_string_equal(params[0], "web");
	assert_int_equal(match("POST", "/1.0/instances/web/snapshots/s1", &r, params, &n),
			 ROUTE_FOUND);
	assert_string_equal(r->pattern, "/1.0/instances/{}/snapshots/{}");
	for (size_t i = 0; i < 3; i++) {
		static const char *const methods[] = {"PUT", "PATCH", "DELETE"};

		assert_int_equal(match(methods[i], "/1.0/storage-pools/fast", &r, params, &n),
				 ROUTE_FOUND);
		assert_string_equal(r->pattern, "/1.0/storage-pools/{}");
		assert_string_equal(params[0], "fast");
	}
	assert_int_equal(match("DELETE", "/1.0/storage-pools/fast", &r, params, &n), ROUTE_FOUND);
	assert_int_equal(r->body, ROUTE_BODY_NONE);
	/* A pool name cannot carry a slash, decoded or not. */
	assert_int_not_equal(match("DELETE", "/1.0/storage-pools/a%2Fb", &r, params, &n),
			     ROUTE_FOUND);
}

static void test_table_complete(void **state)
{
	(void)state;
	for (const struct route *r = routes_table(); r->pattern; r++) {
		assert_non_null(r->handler);
		assert_non_null(r->method);
		assert_int_equal(r->pattern[0], '/');
		assert_true(r->body < ROUTE_BODY_MAX);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_literal_routes),
	    cmocka_unit_test(test_captures),
	    cmocka_unit_test(test_aliases_before_images),
	    cmocka_unit_test(test_not_found_and_method),
	    cmocka_unit_test(test_hostile_segments),
	    cmocka_unit_test(test_move_and_pool_routes),
	    cmocka_unit_test(test_table_complete),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
