/* utf8_valid(): the forms RFC 3629 allows and the ones an attacker sends instead. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/utf8.h"

static bool valid(const char *s)
{
	return utf8_valid(s, strlen(s));
}

static void test_accepts_well_formed(void **state)
{
	(void)state;
	assert_true(valid(""));
	assert_true(valid("snap0"));
	assert_true(valid("caf\xc3\xa9"));	/* U+00E9 */
	assert_true(valid("\xe2\x82\xac"));	/* U+20AC */
	assert_true(valid("\xf0\x9f\x98\x80")); /* U+1F600 */
	assert_true(valid("\xf4\x8f\xbf\xbf")); /* U+10FFFF, the last code point */
	assert_true(valid("\xed\x9f\xbf"));	/* U+D7FF, just below the surrogates */
}

static void test_refuses_malformed(void **state)
{
	(void)state;
	assert_false(valid("\xff"));
	assert_false(valid("\x80"));		     /* a lone continuation byte */
	assert_false(valid("a\xc3"));		     /* truncated at the end */
	assert_false(valid("\xc3("));		     /* a bad continuation */
	assert_false(valid("\xc0\xaf"));	     /* overlong '/' */
	assert_false(valid("\xe0\x80\xaf"));	     /* overlong '/' in three bytes */
	assert_false(valid("\xed\xa0\x80"));	     /* U+D800, a surrogate */
	assert_false(valid("\xf4\x90\x80\x80"));     /* above U+10FFFF */
	assert_false(valid("\xf8\x88\x80\x80\x80")); /* five-byte form */
}

static void test_refuses_nul(void **state)
{
	(void)state;
	/* "a\0b" must not pass as "a". */
	assert_false(utf8_valid("a\0b", 3));
	assert_true(utf8_valid("a\0b", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts_well_formed),
	    cmocka_unit_test(test_refuses_malformed),
	    cmocka_unit_test(test_refuses_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
