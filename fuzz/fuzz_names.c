/*
 * The name validators and the key validator on arbitrary bytes: the input is split at the
 * first '=' into a key and a value, and the whole of it is tried as each kind of name. Beyond
 * memory errors, it checks that an accepted instance name really is a hostname label and that
 * every refusal carries a message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "config/keys.h"
#include "config/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(int r, struct err **e, const char *what)
{
	if (r == 0) {
		if (*e)
			abort();
		return;
	}
	if (r != -EINVAL || !*e || !(*e)->msg || (*e)->code != r) {
		fprintf(stderr, "%s: bad refusal %d\n", what, r);
		abort();
	}
	err_freep(e);
}

static void check_instance_name(const char *s)
{
	_cleanup_err_ struct err *e = NULL;
	int r = config_instance_name_valid(s, &e);
	size_t len = strlen(s);
	int digits = 0;

	check_refusal(r, &e, "instance name");
	if (r < 0)
		return;
	if (len < 1 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		abort();
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			abort();
		digits += c >= '0' && c <= '9';
	}
	if ((size_t)digits == len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *whole = strndup((const char *)data, size);
	_cleanup_err_ struct err *e = NULL;
	char *eq;

	if (!whole)
		return 0;
	check_instance_name(whole);
	check_refusal(config_pool_name_valid(whole, &e), &e, "pool name");
	check_refusal(config_alias_name_valid(whole, &e), &e, "alias name");

	eq = strchr(whole, '=');
	if (eq) {
		*eq = '\0';
		check_refusal(config_key_validate(whole, eq + 1, &e), &e, "key");
		check_refusal(config_key_validate_internal(whole, eq + 1, &e), &e, "internal key");
	} else {
		check_refusal(config_key_validate(whole, "", &e), &e, "key");
	}
	return 0;
}
