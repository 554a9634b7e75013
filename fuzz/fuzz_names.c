/*
 * The name validators, the key validator and the snapshot rules on arbitrary bytes: the whole
 * input is tried as each kind of name, as a storage pool source, as a snapshot pattern, as an
 * expiry expression and as an expiry date, and it is split at the first '=' into a key and a value.
 * Beyond memory errors, it checks that every refusal carries a message, that an accepted instance
 * name really is a hostname label, an accepted snapshot name a safe path component and an accepted
 * pool source an absolute path without "..", that a pattern accepted once expands to a valid
 * snapshot name at any time, and that an expiry lies in the future.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/utf8.h"
#include "config/keys.h"
#include "config/names.h"
#include "config/snaprules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Dates to expand accepted snapshot patterns at, none of them one that the validator tries:
 * every weekday, months with names of each length, days of the year and weeks with one to
 * three digits, a leap day, hours from 0 to 23, the first second with ten-digit epoch seconds
 * and the last of 2037. Earlier dates are left out: no snapshot is taken before 2001, and there
 * "%10s" pads with a blank. */
static const int64_t pattern_times[] = {1000000000, 1041844149, 1330516800, 1557032705,
					1720137599, 1924905600, 2145916799};

/* 0, or a refusal with `allowed` as its code (-EINVAL, or -ERANGE too) and a message. */
static void check_refusal_of(int r, struct err **e, const char *what, bool range_ok)
{
	if (r == 0) {
		if (*e)
			abort();
		return;
	}
	if ((r != -EINVAL && !(range_ok && r == -ERANGE)) || !*e || !(*e)->msg || (*e)->code != r) {
		fprintf(stderr, "%s: bad refusal %d\n", what, r);
		abort();
	}
	err_freep(e);
}

static void check_refusal(int r, struct err **e, const char *what)
{
	check_refusal_of(r, e, what, false);
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

/* What config_snapshot_name_valid() promises of a name it accepts: it is one directory entry
 * that survives the command line, JSON and YAML unchanged. */
static bool snapshot_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > 255 || s[0] == '.' || !utf8_valid(s, len))
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p == '/' || *p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static void check_snapshot_name(const char *s)
{
	_cleanup_err_ struct err *e = NULL;
	int r = config_snapshot_name_valid(s, &e);

	check_refusal(r, &e, "snapshot name");
	if (r == 0 && !snapshot_name_ok(s)) {
		fprintf(stderr, "accepted snapshot name \"%s\"\n", s);
		abort();
	}
}

static void check_snapshot_pattern(const char *s)
{
	_cleanup_err_ struct err *e = NULL;
	int r = config_snapshot_pattern_valid(s, &e);

	check_refusal(r, &e, "snapshot pattern");
	if (r < 0)
		return;
	for (size_t i = 0; i < sizeof(pattern_times) / sizeof(pattern_times[0]); i++) {
		_cleanup_free_ char *name = NULL;

		r = config_snapshot_pattern_expand(s, pattern_times[i], NULL, &name, &e);
		if (r < 0 || !name || !snapshot_name_ok(name)) {
			fprintf(stderr, "accepted pattern \"%s\" gives %s at %lld: %s\n", s,
				name ? name : "nothing", (long long)pattern_times[i],
				e && e->msg ? e->msg : "");
			abort();
		}
	}
}

/* A storage pool source: accepted exactly when it is absolute and no component between slashes
 * is "..". The validator sees the input up to its first NUL, as the daemon sees a source that
 * body_parse() let through (it refuses NUL bytes and "\u0000", which fuzz_api checks). */
static void check_pool_source(const char *s)
{
	_cleanup_err_ struct err *e = NULL;
	int r = config_pool_source_valid(s, &e);
	size_t len = strlen(s);
	bool dotdot = false;

	check_refusal(r, &e, "pool source");
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, "/");

		dotdot = dotdot || (n == 2 && p[0] == '.' && p[1] == '.');
		p += n;
		if (*p == '/')
			p++;
	}
	if ((r == 0) != (s[0] == '/' && !dotdot)) {
		fprintf(stderr, "pool source \"%s\": %d\n", s, r);
		abort();
	}
	/* The same, said as a shell user would look for it. */
	if (r == 0 && (strstr(s, "/../") || (len >= 3 && strcmp(s + len - 3, "/..") == 0))) {
		fprintf(stderr, "pool source \"%s\" accepted\n", s);
		abort();
	}
}

static void check_expiry(const char *s)
{
	/* "now": 2026-11-21 15:57:03. */
	const int64_t now = 1795276623;
	_cleanup_err_ struct err *e = NULL;
	int64_t t = 0;
	int r;

	r = config_expiry_add(s, now, &t, &e);
	check_refusal_of(r, &e, "expiry", true);
	if (r == 0 && t < now) {
		fprintf(stderr, "expiry \"%s\" lies in the past: %lld\n", s, (long long)t);
		abort();
	}
	check_refusal_of(config_expiry_valid(s, &e), &e, "expiry", true);
	check_refusal_of(config_expiry_parse_date(s, &t, &e), &e, "expiry date", true);
	check_refusal_of(config_expiry_resolve(s, now, &t, &e), &e, "expiry argument", true);
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
	check_pool_source(whole);
	check_snapshot_name(whole);
	check_snapshot_pattern(whole);
	check_expiry(whole);

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
