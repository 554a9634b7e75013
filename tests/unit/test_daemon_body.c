/* The daemon's request-body parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cairnd/body.h"
#include "common/cleanup.h"
#include "common/err.h"

/* body_parse() on `len` bytes of `text` (which may hold NULs); its result, the object freed. */
static int parse(const char *text, size_t len)
{
	_cleanup_json_ json_object *o = NULL;
	_cleanup_err_ struct err *e = NULL;
	char buf[256];
	int r;

	assert_true(len < sizeof(buf));
	memcpy(buf, text, len);
	buf[len] = '\0';
	r = body_parse(buf, len, &o, &e);
	if (r == 0) {
		assert_non_null(o);
		assert_null(e);
	} else {
		assert_null(o);
		assert_non_null(e);
		assert_non_null(e->msg);
	}
	return r;
}

static int parse_str(const char *text)
{
	return parse(text, strlen(text));
}

static void test_accepts(void **state)
{
	(void)state;
	assert_int_equal(parse_str("{\"name\":\"c1\",\"config\":{\"limits.cpu\":\"2\"}}"), 0);
	assert_int_equal(parse_str("{\"name\":\"caf\xc3\xa9\"} \n"), 0);
	assert_int_equal(parse_str("12345"), 0);
	/* An escaped backslash followed by "u0000" is text, not an escape. */
	assert_int_equal(parse_str("{\"path\":\"C:\\\\u0000dir\"}"), 0);
}

static void test_refuses_nul(void **state)
{
	(void)state;
	assert_int_equal(parse("{\"name\":\"s1\0x\"}", 15), -EINVAL);
	assert_int_equal(parse_str("{\"name\":\"c1\\u0000evil\"}"), -EINVAL);
	assert_int_equal(parse_str("{\"config\":{\"user.a\\u0000b\":\"1\"}}"), -EINVAL);
	/* json-c reads comments and single-quoted strings: a '"' in either must not hide a
	 * \u0000 that would cut a key ("forc\u0000e" read as "forc"). */
	assert_int_equal(parse_str("/* \" */ {\"action\":\"stop\",\"forc\\u0000e\":true}"),
			 -EINVAL);
	assert_int_equal(parse_str("{\"a\":'\"',\"k\\u0000x\":1}"), -EINVAL);
	assert_int_equal(parse_str("{'k\\u0000x':1}"), -EINVAL);
	assert_int_equal(parse_str("{\"a\":\"\\\\\\u0000\"}"), -EINVAL);
}

static void test_refuses_bad_text(void **state)
{
	(void)state;
	assert_int_equal(parse_str("{\"name\":\"s\xff\xfe\"}"), -EINVAL);
	assert_int_equal(parse_str("{\"s\xc0\xaf\":1}"), -EINVAL);
	assert_int_equal(parse_str("{\"name\":\"s1\"} {\"name\":\"s2\"}"), -EINVAL);
	assert_int_equal(parse_str("{\"name\":"), -EINVAL);
	assert_int_equal(parse_str(""), -EINVAL);
	/* Strict RFC 8259: no comments, single quotes or trailing commas. */
	assert_int_equal(parse_str("/* c */ {\"name\":\"c1\"}"), -EINVAL);
	assert_int_equal(parse_str("{'name':'c1'}"), -EINVAL);
	assert_int_equal(parse_str("{\"name\":\"c1\",}"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts),
	    cmocka_unit_test(test_refuses_nul),
	    cmocka_unit_test(test_refuses_bad_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
