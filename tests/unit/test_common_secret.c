/* The one-time secrets (operation websockets, migrations, trust tokens, the web page): made of
 * fresh random bytes as hex, and compared whole, length first, with NULL and short or long
 * guesses refused. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"

static void test_random_hex(void **state)
{
	char a[SECRET_HEX_LEN + 1], b[SECRET_HEX_LEN + 1];

	(void)state;
	assert_int_equal(secret_random_hex(a), 0);
	assert_int_equal(secret_random_hex(b), 0);
	assert_int_equal(strlen(a), SECRET_HEX_LEN);
	assert_int_equal(strspn(a, "0123456789abcdef"), SECRET_HEX_LEN);
	assert_string_not_equal(a, b);
}

static void test_equal(void **state)
{
	char s[SECRET_HEX_LEN + 1], guess[SECRET_HEX_LEN + 2];

	(void)state;
	assert_int_equal(secret_random_hex(s), 0);
	assert_true(secret_equal(s, s));
	memcpy(guess, s, sizeof(s));
	guess[SECRET_HEX_LEN - 1] ^= 1;
	assert_false(secret_equal(s, guess));
	assert_false(secret_equal(s, NULL));
	assert_false(secret_equal(s, ""));
	/* a prefix, and the secret with one more character */
	memcpy(guess, s, sizeof(s));
	guess[SECRET_HEX_LEN - 1] = '\0';
	assert_false(secret_equal(s, guess));
	memcpy(guess, s, SECRET_HEX_LEN);
	memcpy(guess + SECRET_HEX_LEN, "0", 2);
	assert_false(secret_equal(s, guess));
	/* not NUL-terminated: only the length given counts */
	assert_true(secret_equal_mem(s, guess, SECRET_HEX_LEN));
	assert_false(secret_equal_mem(s, guess, SECRET_HEX_LEN + 1));
	assert_false(secret_equal_mem(s, NULL, SECRET_HEX_LEN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_hex),
	    cmocka_unit_test(test_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
