/* The `filter` subset of api_filtering, and SHA-1 for the WebSocket handshake (RFC 6455's own
 * example key). */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/filter.h"
#include "api/trust.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/sha1.h"

static json_object *instance(void)
{
	return json_tokener_parse("{\"name\":\"c1\",\"status\":\"Running\",\"ephemeral\":false,"
				  "\"config\":{\"user.a\":\"x y\"},\"state\":{\"pid\":1}}");
}

static int match(const char *expr)
{
	json_object *o = instance();
	int r = api_filter_match(expr, o, NULL);

	json_object_put(o);
	return r;
}

static void test_terms(void **state)
{
	(void)state;
	assert_int_equal(match(NULL), 1);
	assert_int_equal(match(""), 1);
	assert_int_equal(match("name eq c1"), 1);
	assert_int_equal(match("name eq c2"), 0);
	assert_int_equal(match("status eq running"), 1);
	assert_int_equal(match("status ne running"), 0);
	assert_int_equal(match("not name eq c2"), 1);
	assert_int_equal(match("ephemeral eq false"), 1);
	assert_int_equal(match("config.user.a eq \"x y\""), 1);
	assert_int_equal(match("config.user.a eq 'x'"), 0);
	assert_int_equal(match("nosuch eq x"), 0);
	/* An object is not compared as text. */
	assert_int_equal(match("state eq x"), 0);
}

static void test_and_or(void **state)
{
	(void)state;
	assert_int_equal(match("name eq c1 and status eq running"), 1);
	assert_int_equal(match("name eq c1 and status eq stopped"), 0);
	assert_int_equal(match("name eq c2 or status eq running"), 1);
	/* and binds tighter: (c2 and running) or c1 */
	assert_int_equal(match("name eq c2 and status eq running or name eq c1"), 1);
	assert_int_equal(match("name eq c2 or name eq c3 and status eq running"), 0);
}

static void test_bad(void **state)
{
	const char *bad[] = {"name",	     "name eq",	      "name gt c1", "name eq c1 xor a eq b",
			     "name eq \"c1", "name eq c1 and"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(api_filter_match(bad[i], NULL, &e), -EINVAL);
		assert_non_null(strstr(err_msg(e, -EINVAL), "Invalid filter"));
	}
}

static void test_websocket_accept(void **state)
{
	static const char in[] = "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	uint8_t d[SHA1_DIGEST_SIZE];
	char *b;

	(void)state;
	sha1(in, strlen(in), d);
	b = api_base64_encode(d, sizeof(d));
	assert_string_equal(b, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	free(b);
	/* A message over one block, and one whose padding needs a second block. */
	sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
	b = api_base64_encode(d, sizeof(d));
	assert_string_equal(b, "hJg+RBw70m66rkqh+VEp5eVGcPE=");
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_terms),
	    cmocka_unit_test(test_and_or),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_websocket_accept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
