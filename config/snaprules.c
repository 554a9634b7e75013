#include "config/snaprules.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/utf8.h"
#include "common/util.h"

#define SNAPSHOT_NAME_MAX 255

int config_snapshot_name_valid(const char *name, struct err **err)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0)
		return err_set(err, -EINVAL, "Invalid snapshot name \"\": it cannot be empty");
	if (len > SNAPSHOT_NAME_MAX)
		return err_set(err, -EINVAL,
			       "Invalid snapshot name \"%.20s...\": it is longer than %d bytes",
			       name, SNAPSHOT_NAME_MAX);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return err_set(err, -EINVAL, "Invalid snapshot name \"%s\"", name);
	if (name[0] == '.')
		return err_set(err, -EINVAL,
			       "Invalid snapshot name \"%s\": it cannot start with '.'", name);
	/* Names travel as JSON strings and YAML scalars, which must be valid UTF-8. */
	if (!utf8_valid(name, len))
		return err_set(err, -EINVAL, "Invalid snapshot name: it is not valid UTF-8");
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p == '/')
			return err_set(err, -EINVAL,
				       "Invalid snapshot name \"%s\": it cannot contain '/'", name);
		/* Bytes >= 0x80 are UTF-8 and welcome; blanks and control characters would not
		 * survive the command line, YAML and table output unchanged. */
		if (*p <= ' ' || *p == 0x7f)
			return err_set(
			    err, -EINVAL,
			    "Invalid snapshot name \"%s\": it cannot contain white space "
			    "or control characters",
			    name);
	}
	return 0;
}

/*
 * Expands the "{date:FORMAT}" blocks of `pattern` at `when` and leaves "%d" in place (a literal
 * '%' elsewhere is kept as it is). *ret is the caller's; *ret_counters the number of "%d".
 */
static int expand_dates(const char *pattern, int64_t when, char **ret, size_t *ret_counters,
			struct err **err)
{
	_cleanup_free_ char *out = NULL;
	size_t len = 0, cap = 0, counters = 0;
	time_t t = (time_t)when;
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return err_set(err, -ERANGE, "Time %lld is out of range", (long long)when);
	for (const char *p = pattern; *p;) {
		char piece[512];
		size_t plen;

		if (str_startswith(p, "{date:")) {
			const char *fmt = p + 6, *end = strchr(fmt, '}');
			_cleanup_free_ char *f = NULL;

			if (!end)
				return err_set(err, -EINVAL,
					       "Invalid snapshot pattern \"%s\": \"{date:\" is not "
					       "closed by '}'",
					       pattern);
			if (end == fmt)
				return err_set(err, -EINVAL,
					       "Invalid snapshot pattern \"%s\": empty date format",
					       pattern);
			f = strndup(fmt, (size_t)(end - fmt));
			if (!f)
				return err_set(err, -ENOMEM, "Out of memory");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
			plen = strftime(piece, sizeof(piece), f, &tm);
#pragma GCC diagnostic pop
			if (plen == 0)
				return err_set(err, -EINVAL,
					       "Invalid snapshot pattern \"%s\": the date format "
					       "\"%s\" gives nothing",
					       pattern, f);
			p = end + 1;
		} else if (p[0] == '%' && p[1] == 'd') {
			counters++;
			memcpy(piece, "%d", 2);
			plen = 2;
			p += 2;
		} else {
			piece[0] = *p++;
			plen = 1;
		}
		if (len + plen + 1 > cap) {
			char *grown;

			cap = (len + plen + 1) * 2;
			grown = realloc(out, cap);
			if (!grown)
				return err_set(err, -ENOMEM, "Out of memory");
			out = grown;
		}
		memcpy(out + len, piece, plen);
		len += plen;
		out[len] = '\0';
	}
	if (!out && !(out = strdup("")))
		return err_set(err, -ENOMEM, "Out of memory");
	*ret = steal_pointer(&out);
	*ret_counters = counters;
	return 0;
}

int config_snapshot_pattern_valid(const char *pattern, struct err **err)
{
	/* A date format gives a blank on some dates only when it pads a field (%e, %k, %l, a width,
	 * the '_' flag) that is shorter on those dates, so the pattern is tried where each field is
	 * longest and where it is shortest: Saturday 21 November 2026 15:57:03 (two-digit numbers),
	 * Wednesday 5 September 2001 03:04:05 (the longest day and month names), Monday 1 January
	 * 2001 01:01:01 (single-digit numbers: day of the year, week, year of the century; 9-digit
	 * epoch seconds) and Friday 1 May 2026 01:02:03 (the shortest day and month names). */
	static const int64_t probes[] = {1795276623, 999659045, 978310861, 1777597323};

	if (!pattern || !*pattern)
		return err_set(err, -EINVAL, "Invalid snapshot pattern \"\": it cannot be empty");
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		_cleanup_free_ char *expanded = NULL, *name = NULL;
		_cleanup_err_ struct err *e = NULL;
		size_t counters = 0;
		char *pos;
		int r;

		r = expand_dates(pattern, probes[i], &expanded, &counters, err);
		if (r < 0)
			return r;
		if (counters > 1)
			return err_set(
			    err, -EINVAL,
			    "Invalid snapshot pattern \"%s\": \"%%d\" may appear only once",
			    pattern);
		pos = strstr(expanded, "%d");
		name = pos ? str_printf("%.*s0%s", (int)(pos - expanded), expanded, pos + 2)
			   : strdup(expanded);
		if (!name)
			return err_set(err, -ENOMEM, "Out of memory");
		r = config_snapshot_name_valid(name, &e);
		if (r < 0)
			return err_set(
			    err, r,
			    "Invalid snapshot pattern \"%s\": it gives names such as \"%s\"",
			    pattern, name);
	}
	return 0;
}

/* The number an existing name holds where `prefix`%d`suffix` has "%d", or -1. */
static long long counter_of(const char *name, const char *prefix, size_t prefix_len,
			    const char *suffix)
{
	size_t len = strlen(name), suffix_len = strlen(suffix);
	const char *digits;
	size_t n;
	long long v = 0;

	if (len < prefix_len + suffix_len + 1 || strncmp(name, prefix, prefix_len) != 0 ||
	    strcmp(name + len - suffix_len, suffix) != 0)
		return -1;
	digits = name + prefix_len;
	n = len - prefix_len - suffix_len;
	for (size_t i = 0; i < n; i++) {
		if (digits[i] < '0' || digits[i] > '9')
			return -1;
		if (v > (LLONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (digits[i] - '0');
	}
	return v;
}

int config_snapshot_pattern_expand(const char *pattern, int64_t when, char *const *existing,
				   char **ret, struct err **err)
{
	_cleanup_free_ char *expanded = NULL, *prefix = NULL, *name = NULL;
	size_t counters = 0;
	long long next = 0;
	const char *suffix;
	char *pos;
	int r;

	r = config_snapshot_pattern_valid(pattern, err);
	if (r < 0)
		return r;
	r = expand_dates(pattern, when, &expanded, &counters, err);
	if (r < 0)
		return r;
	if (counters == 0) {
		if (!strv_contains(existing, expanded)) {
			r = config_snapshot_name_valid(expanded, err);
			if (r < 0)
				return r;
			*ret = steal_pointer(&expanded);
			return 0;
		}
		/* Taken: count on with "-%d", as Incus does. */
		name = str_printf("%s-%%d", expanded);
		if (!name)
			return err_set(err, -ENOMEM, "Out of memory");
		free(expanded);
		expanded = steal_pointer(&name);
	}
	pos = strstr(expanded, "%d");
	prefix = strndup(expanded, (size_t)(pos - expanded));
	if (!prefix)
		return err_set(err, -ENOMEM, "Out of memory");
	suffix = pos + 2;
	for (char *const *e = existing; e && *e; e++) {
		long long v = counter_of(*e, prefix, strlen(prefix), suffix);

		if (v >= 0 && v >= next)
			next = v == LLONG_MAX ? v : v + 1;
	}
	name = str_printf("%s%lld%s", prefix, next, suffix);
	if (!name)
		return err_set(err, -ENOMEM, "Out of memory");
	r = config_snapshot_name_valid(name, err);
	if (r < 0)
		return r;
	*ret = steal_pointer(&name);
	return 0;
}

int config_expiry_add(const char *expr, int64_t from, int64_t *ret, struct err **err)
{
	static const char units[] = "SMHdwmy";
	long long amount[sizeof(units) - 1] = {0};
	bool seen[sizeof(units) - 1] = {false};
	bool any = false;
	time_t t = (time_t)from;
	struct tm tm;
	time_t result;
	const char *p = expr;

	if (!expr)
		return err_set(err, -EINVAL, "Invalid expiry \"\": it cannot be empty");
	while (*p) {
		const char *u;
		char *end = NULL;
		long long v;

		if (*p == ' ' || *p == '\t') {
			p++;
			continue;
		}
		if (*p < '0' || *p > '9')
			return err_set(err, -EINVAL,
				       "Invalid expiry \"%s\": expected terms such as \"1d 3H\" "
				       "(a number and one of S M H d w m y)",
				       expr);
		errno = 0;
		v = strtoll(p, &end, 10);
		if (errno || v > 100000000)
			return err_set(err, -ERANGE, "Invalid expiry \"%s\": number too large",
				       expr);
		u = *end ? strchr(units, *end) : NULL;
		if (!u)
			return err_set(err, -EINVAL,
				       "Invalid expiry \"%s\": unknown or missing unit after %lld "
				       "(use S M H d w m y)",
				       expr, v);
		if (seen[u - units])
			return err_set(err, -EINVAL,
				       "Invalid expiry \"%s\": unit '%c' given more than once",
				       expr, *u);
		seen[u - units] = true;
		amount[u - units] = v;
		any = true;
		p = end + 1;
		if (*p && *p != ' ' && *p != '\t')
			return err_set(err, -EINVAL,
				       "Invalid expiry \"%s\": terms are separated by blanks",
				       expr);
	}
	if (!any)
		return err_set(err, -EINVAL, "Invalid expiry \"%s\": it has no terms", expr);
	if (!gmtime_r(&t, &tm))
		return err_set(err, -ERANGE, "Time %lld is out of range", (long long)from);
	/* Months and years move the calendar fields and let timegm() normalise, so "1m" from
	 * 15 March is 15 April whatever the month's length. Seconds to weeks are plain spans and
	 * are added afterwards, independent of the calendar. */
	if (amount[5] + tm.tm_mon > INT_MAX / 2 || amount[6] + tm.tm_year > INT_MAX / 2)
		return err_set(err, -ERANGE, "Invalid expiry \"%s\": too far in the future", expr);
	tm.tm_mon += (int)amount[5];
	tm.tm_year += (int)amount[6];
	result = timegm(&tm);
	if (result == (time_t)-1)
		return err_set(err, -ERANGE, "Invalid expiry \"%s\": too far in the future", expr);
	*ret = (int64_t)result + amount[0] + amount[1] * 60 + amount[2] * 3600 + amount[3] * 86400 +
	       amount[4] * 7 * 86400;
	return 0;
}

int config_expiry_valid(const char *expr, struct err **err)
{
	int64_t ignored;

	return config_expiry_add(expr, 0, &ignored, err);
}

int config_expiry_parse_date(const char *s, int64_t *ret, struct err **err)
{
	struct tm tm = {0};
	int n = 0, len = s ? (int)strlen(s) : 0;
	time_t t;

	if (s && time_parse_rfc3339(s, ret, NULL) == 0)
		return 0;
	if (!s || len == 0)
		return err_set(err, -EINVAL, "Invalid date \"\"");
	if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3 || n != 10)
		return err_set(err, -EINVAL,
			       "Invalid date \"%s\": use RFC 3339 or YYYY-MM-DD[ HH:MM[:SS]] (UTC)",
			       s);
	if (n < len) {
		int m = 0;

		if (sscanf(s + n, " %2d:%2d%n", &tm.tm_hour, &tm.tm_min, &m) != 2 || s[n] != ' ')
			return err_set(err, -EINVAL,
				       "Invalid date \"%s\": use RFC 3339 or YYYY-MM-DD[ "
				       "HH:MM[:SS]] (UTC)",
				       s);
		n += m;
		if (n < len) {
			m = 0;
			if (sscanf(s + n, ":%2d%n", &tm.tm_sec, &m) != 1)
				return err_set(err, -EINVAL, "Invalid date \"%s\"", s);
			n += m;
		}
		if (n != len)
			return err_set(err, -EINVAL, "Invalid date \"%s\"", s);
	}
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_hour < 0 ||
	    tm.tm_min < 0 || tm.tm_sec < 0)
		return err_set(err, -EINVAL, "Invalid date \"%s\": a field is out of range", s);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return err_set(err, -EINVAL, "Invalid date \"%s\"", s);
	*ret = (int64_t)t;
	return 0;
}

int config_expiry_resolve(const char *arg, int64_t now, int64_t *ret, struct err **err)
{
	if (!arg || !*arg)
		return err_set(err, -EINVAL, "Invalid expiry \"\": it cannot be empty");
	/* A date starts with four digits and a dash; an expression never has a dash. */
	if (strchr(arg, '-'))
		return config_expiry_parse_date(arg, ret, err);
	return config_expiry_add(arg, now, ret, err);
}
