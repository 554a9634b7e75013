/* The wire format: envelopes, status names, and the errno <-> HTTP mapping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"

static void test_http_status(void **state)
{
	(void)state;
	assert_int_equal(api_http_status(-ENOENT), 404);
	assert_int_equal(api_http_status(-EEXIST), 409);
	assert_int_equal(api_http_status(-EBUSY), 409);
	assert_int_equal(api_http_status(-EAGAIN), 409);
	assert_int_equal(api_http_status(-EFBIG), 413);
	assert_int_equal(api_http_status(-EINVAL), 400);
	assert_int_equal(api_http_status(-ERANGE), 400);
	assert_int_equal(api_http_status(-EPERM), 403);
	assert_int_equal(api_http_status(-EACCES), 403);
	assert_int_equal(api_http_status(-EOPNOTSUPP), 501);
	assert_int_equal(api_http_status(-EIO), 500);
	assert_int_equal(api_http_status(-ENOMEM), 500);
}

/* An error keeps its meaning across the socket: errno -> HTTP -> errno -> HTTP is stable. */
static void test_errno_round_trip(void **state)
{
	static const int codes[] = {ENOENT, EEXIST, EBUSY, EAGAIN, EINVAL,
				    EPERM,  EACCES, EFBIG, EIO};

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		int http = api_http_status(-codes[i]);

		assert_int_equal(api_http_status(api_errno_from_http(http)), http);
	}
}

static void test_sync_envelope(void **state)
{
	_cleanup_json_ json_object *env = api_sync(json_object_new_string("x"));
	_cleanup_json_ json_object *md = NULL;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	assert_string_equal(api_get_string(env, "type"), "sync");
	assert_string_equal(api_get_string(env, "status"), "Success");
	assert_int_equal(api_get_int(env, "status_code", 0), 200);
	assert_int_equal(api_parse_envelope(env, &md, &e), 0);
	assert_null(e);
	assert_string_equal(json_object_get_string(md), "x");
}

static void test_async_envelope(void **state)
{
	json_object *op = json_object_new_object();
	_cleanup_json_ json_object *env = NULL;

	(void)state;
	json_object_object_add(op, "id", json_object_new_string("abc"));
	env = api_async("abc", op);
	assert_string_equal(api_get_string(env, "type"), "async");
	assert_int_equal(api_get_int(env, "status_code", 0), 100);
	assert_string_equal(api_get_string(env, "operation"), "/1.0/operations/abc");
}

static void test_error_envelope(void **state)
{
	_cleanup_json_ json_object *env = api_error(404, "Instance \"c9\" not found");
	_cleanup_json_ json_object *md = NULL;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	assert_string_equal(api_get_string(env, "type"), "error");
	assert_int_equal(api_get_int(env, "error_code", 0), 404);
	assert_int_equal(api_parse_envelope(env, &md, &e), -ENOENT);
	assert_null(md);
	assert_non_null(e);
	assert_string_equal(e->msg, "Instance \"c9\" not found");
}

static void test_not_an_envelope(void **state)
{
	_cleanup_json_ json_object *junk = json_tokener_parse("{\"hello\": 1}");
	_cleanup_json_ json_object *odd = json_tokener_parse("{\"type\": \"weird\"}");
	_cleanup_json_ json_object *md = NULL;
	_cleanup_err_ struct err *e1 = NULL, *e2 = NULL;

	(void)state;
	assert_int_equal(api_parse_envelope(junk, &md, &e1), -EPROTO);
	assert_non_null(e1);
	assert_int_equal(api_parse_envelope(odd, &md, &e2), -EPROTO);
	assert_non_null(e2);
	assert_null(md);
}

static void test_typed_getters(void **state)
{
	_cleanup_json_ json_object *o =
	    json_tokener_parse("{\"s\": \"v\", \"i\": 7, \"b\": true, \"wrong\": \"7\"}");

	(void)state;
	assert_string_equal(api_get_string(o, "s"), "v");
	assert_null(api_get_string(o, "i"));
	assert_int_equal(api_get_int(o, "i", -1), 7);
	assert_int_equal(api_get_int(o, "wrong", -1), -1);
	assert_true(api_get_bool(o, "b", false));
	assert_false(api_get_bool(o, "s", false));
	assert_null(api_get_string(NULL, "s"));
}

static void test_status_names(void **state)
{
	(void)state;
	assert_string_equal(api_status_name(API_STATUS_RUNNING), "Running");
	assert_string_equal(api_status_name(API_STATUS_STOPPED), "Stopped");
	assert_string_equal(api_status_name(API_STATUS_FAILURE), "Failure");
	assert_string_equal(api_status_name(999), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_http_status),	   cmocka_unit_test(test_errno_round_trip),
	    cmocka_unit_test(test_sync_envelope),  cmocka_unit_test(test_async_envelope),
	    cmocka_unit_test(test_error_envelope), cmocka_unit_test(test_not_an_envelope),
	    cmocka_unit_test(test_typed_getters),  cmocka_unit_test(test_status_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
