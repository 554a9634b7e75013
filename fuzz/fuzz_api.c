/*
 * The daemon's first contact with a request and the client's with an answer.
 *
 * Input: "METHOD RAW-TARGET\n" and then a request body. RAW-TARGET is the request target as a
 * client sends it and libmicrohttpd's URI log callback passes it on, path and query, nothing
 * unescaped (the line ends at the first newline or NUL; a trailing '\r' is dropped). It goes to
 * routes_resolve(), as the server does, which must decode every name exactly once:
 *  - a target holding "%00" never matches (ROUTE_BAD_TARGET), and a path segment that decodes
 *    to invalid UTF-8 is refused the same way;
 *  - a matched route's captures are not empty and hold no '/', no NUL and only valid UTF-8;
 *  - each capture is its raw segment percent-decoded once (libmicrohttpd's lenient rule: a '%'
 *    without two hex digits stays as it is);
 *  - re-encoding the captures and substituting them into the pattern resolves to the same
 *    route and the same captures, whether every byte is encoded or only those that are not
 *    unreserved (then a literal route listed earlier may take the path, as "aliases" does);
 *  - the query values libmicrohttpd decodes for the handlers ('+' and %XX) hold no NUL.
 * The body (all the bytes after the first newline, NULs included) goes to body_parse(), and
 * what it accepts must hold no NUL byte and no "\u0000" escape in the text, only strings and
 * keys that are valid UTF-8 without NUL, and print and parse back to the same strings. The typed
 * readers then run on it, and the client's envelope reader runs on the body as the client parses
 * it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cmd/cairnd/body.h"
#include "cmd/cairnd/routes.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TARGET_MAX 4096

static void fail(const char *what, const char *target)
{
	fprintf(stderr, "fuzz_api: %s: \"%s\"\n", what, target);
	abort();
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* libmicrohttpd's unescaping (MHD_http_unescape): "%XX" with two hex digits becomes that byte,
 * anything else stays as it is; `plus` also turns '+' into a space, as it does for the query.
 * Returns the decoded length; out has room for len + 1 bytes. */
static size_t mhd_unescape(const char *s, size_t len, bool plus, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = plus && s[i] == '+' ? ' ' : s[i];
		}
	}
	out[o] = '\0';
	return o;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* The path of `route` with each "{}" replaced by the percent-encoded capture (every byte, or
 * only those that are not unreserved), then `query` (with its '?', or empty). */
static bool build_target(const char *pattern, char params[][256], size_t n, bool every_byte,
			 bool lower, const char *query, char *out, size_t out_len)
{
	static const char upper_hex[] = "0123456789ABCDEF", lower_hex[] = "0123456789abcdef";
	const char *hex = lower ? lower_hex : upper_hex;
	size_t o = 0, k = 0;

	for (const char *p = pattern; *p;) {
		if (p[0] == '{' && p[1] == '}') {
			if (k >= n)
				return false;
			for (const unsigned char *c = (const unsigned char *)params[k]; *c; c++) {
				if (o + 4 >= out_len)
					return false;
				if (!every_byte && unreserved(*c)) {
					out[o++] = (char)*c;
				} else {
					out[o++] = '%';
					out[o++] = hex[*c >> 4];
					out[o++] = hex[*c & 15];
				}
			}
			k++;
			p += 2;
			continue;
		}
		if (o + 2 >= out_len)
			return false;
		out[o++] = *p++;
	}
	if (k != n || o + strlen(query) + 1 > out_len)
		return false;
	strcpy(out + o, query);
	return true;
}

/* Every path segment of `raw` decodes to valid UTF-8 (a bad escape stays literal). */
static bool path_is_text(const char *raw, size_t path_len)
{
	char out[TARGET_MAX + 1];

	for (size_t i = 0; i <= path_len;) {
		size_t len = strcspn(raw + i, "/?#");
		size_t o;

		if (i + len > path_len)
			len = path_len - i;
		o = mhd_unescape(raw + i, len, false, out);
		if (!utf8_valid(out, o))
			return false;
		i += len + 1;
	}
	return true;
}

/* Each capture of `route` is the raw segment at the place of its "{}", decoded once. */
static void check_decoded_once(const struct route *route, const char *raw, size_t path_len,
			       char params[][256], size_t n)
{
	const char *p = route->pattern, *s = raw, *end = raw + path_len;
	char out[TARGET_MAX + 1];
	size_t k = 0;

	/* Pattern and path have the same segments: walk both one segment at a time. */
	while (*p) {
		size_t plen = strcspn(p, "/"), slen = strcspn(s, "/?#");

		if (s + slen > end)
			slen = (size_t)(end - s);
		if (plen == 2 && p[0] == '{' && p[1] == '}') {
			if (k >= n)
				fail("more placeholders than captures", raw);
			mhd_unescape(s, slen, false, out);
			if (strcmp(out, params[k]) != 0)
				fail("a capture is not its segment decoded once", raw);
			k++;
		}
		p += plen;
		s += slen;
		if (*p == '/')
			p++;
		if (s < end && *s == '/')
			s++;
	}
	if (k != n)
		fail("fewer placeholders than captures", raw);
}

static void check_round_trip(const char *method, const char *raw, const struct route *route,
			     char params[][256], size_t n, bool every_byte, bool lower)
{
	char target[TARGET_MAX * 3 + 64], again[ROUTE_MAX_PARAMS][256];
	const struct route *found = NULL;
	const char *query = raw + strcspn(raw, "?#");
	size_t m = 0;

	if (!build_target(route->pattern, params, n, every_byte, lower, query, target,
			  sizeof(target)))
		return;
	if (routes_resolve(routes_table(), method, target, &found, again, &m) != ROUTE_FOUND)
		fail("the re-encoded target matches nothing", target);
	if (found != route) {
		/* Only a literal route listed earlier may take a path whose capture is spelled
		 * out in plain letters ("/1.0/images/aliases"); an encoded byte matches no literal.
		 */
		if (every_byte || found > route || strchr(found->pattern, '{'))
			fail("the re-encoded target matches another route", target);
		return;
	}
	if (m != n)
		fail("the re-encoded target captures a different number", target);
	for (size_t i = 0; i < n; i++)
		if (strcmp(params[i], again[i]) != 0)
			fail("the re-encoded target captures something else", target);
}

/* The GET arguments as libmicrohttpd hands them to the handlers hold no NUL. */
static void check_query(const char *raw, enum route_match r)
{
	const char *q = strchr(raw, '?');
	char out[TARGET_MAX + 1];

	if (!q || r == ROUTE_BAD_TARGET)
		return;
	for (q++; *q;) {
		size_t len = strcspn(q, "&");

		if (mhd_unescape(q, len, true, out) != strlen(out))
			fail("a query argument decodes to a NUL", raw);
		q += len;
		if (*q == '&')
			q++;
	}
}

static void fuzz_route(const char *method, const char *raw, bool lower)
{
	char params[ROUTE_MAX_PARAMS][256];
	const struct route *route = NULL;
	size_t path_len = strcspn(raw, "?#"), n = 0, placeholders = 0;
	enum route_match r;

	r = routes_resolve(routes_table(), method, raw, &route, params, &n);
	if (r < 0 || r >= ROUTE_MATCH_MAX)
		fail("unknown answer", raw);
	if (strstr(raw, "%00") && r != ROUTE_BAD_TARGET)
		fail("an escaped NUL is not refused", raw);
	if (!path_is_text(raw, path_len) && r != ROUTE_BAD_TARGET)
		fail("a path segment that is not UTF-8 is not refused", raw);
	if (r == ROUTE_BAD_TARGET && !strstr(raw, "%00") && path_is_text(raw, path_len))
		fail("a good target is refused", raw);
	check_query(raw, r);
	if (r != ROUTE_FOUND)
		return;
	if (!route || n > ROUTE_MAX_PARAMS || strcmp(route->method, method) != 0)
		fail("a bad match", raw);
	for (const char *p = route->pattern; (p = strstr(p, "{}")); p += 2)
		placeholders++;
	if (placeholders != n)
		fail("captures do not fill the placeholders", raw);
	for (size_t i = 0; i < n; i++) {
		size_t len = strnlen(params[i], 256);

		if (len == 0 || len == 256 || strchr(params[i], '/') || !utf8_valid(params[i], len))
			fail("a bad capture", raw);
	}
	check_decoded_once(route, raw, path_len, params, n);
	check_round_trip(method, raw, route, params, n, true, lower);
	check_round_trip(method, raw, route, params, n, false, lower);
}

/* Every string and key in `o` is valid UTF-8 and has no NUL inside. */
static void check_text(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string: {
		const char *s = json_object_get_string(o);
		size_t len = (size_t)json_object_get_string_len(o);

		if (strlen(s) != len || !utf8_valid(s, len))
			fail("an accepted body holds a bad string", s);
		break;
	}
	case json_type_object: {
		json_object_object_foreach(o, key, value)
		{
			if (!utf8_valid(key, strlen(key)))
				fail("an accepted body holds a bad key", key);
			check_text(value);
		}
		break;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			check_text(json_object_array_get_idx(o, i));
		break;
	case json_type_null:
	case json_type_boolean:
	case json_type_double:
	case json_type_int:
		break;
	}
}

/* The text holds "\u0000" as an escape (after an even run of backslashes, or none). json-c
 * allows a backslash nowhere but in strings, single-quoted ones included, and comments. */
static bool text_has_nul_escape(const char *text, size_t len)
{
	for (size_t i = 0; i + 6 <= len; i++) {
		size_t run = 0;

		if (memcmp(text + i, "\\u0000", 6) != 0)
			continue;
		while (run < i && text[i - 1 - run] == '\\')
			run++;
		if (run % 2 == 0)
			return true;
	}
	return false;
}

static void check_body_readers(json_object *o)
{
	_cleanup_err_ struct err *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *e5 = NULL;
	_cleanup_kvlist_ struct kvlist config = {0};
	json_object *source = NULL;
	const char *s = NULL;
	int64_t i = 0;
	bool b = false;
	int r;

	r = body_string(o, "name", true, &s, &e1);
	if (r > 0 && (!s || strlen(s) != (size_t)json_object_get_string_len(
					     json_object_object_get(o, "name"))))
		fail("body_string cut a string", s ? s : "");
	if (r < 0 && (r != -EINVAL || !e1 || !e1->msg))
		fail("body_string refused without a message", "");
	body_object(o, "source", false, &source, &e2);
	if (source && !json_object_is_type(source, json_type_object))
		fail("body_object read a non-object", "");
	body_int(o, "timeout", &i, &e3);
	body_bool(o, "force", &b, &e4);
	if (body_config(o, "config", &config, &e5) > 0)
		for (size_t k = 0; k < config.n; k++)
			if (!config.items[k].key || !config.items[k].value ||
			    !utf8_valid(config.items[k].key, strlen(config.items[k].key)) ||
			    !utf8_valid(config.items[k].value, strlen(config.items[k].value)))
				fail("body_config read a bad entry", "");
}

/* `a` and `b` hold the same text: the same strings and keys, byte for byte, in the same shape.
 * Numbers are only compared by kind: json-c keeps a double's spelling ("0617E"), which it then
 * reads back as something else, and that changes no name. */
static bool same_text(json_object *a, json_object *b)
{
	json_type ta = json_object_get_type(a), tb = json_object_get_type(b);
	bool na = ta == json_type_int || ta == json_type_double;
	bool nb = tb == json_type_int || tb == json_type_double;

	if (na || nb)
		return na && nb;
	if (ta != tb)
		return false;
	switch (ta) {
	case json_type_string:
		return json_object_get_string_len(a) == json_object_get_string_len(b) &&
		       memcmp(json_object_get_string(a), json_object_get_string(b),
			      (size_t)json_object_get_string_len(a)) == 0;
	case json_type_object: {
		if (json_object_object_length(a) != json_object_object_length(b))
			return false;
		json_object_object_foreach(a, key, value)
		{
			json_object *other = NULL;

			if (!json_object_object_get_ex(b, key, &other) || !same_text(value, other))
				return false;
		}
		return true;
	}
	case json_type_array:
		if (json_object_array_length(a) != json_object_array_length(b))
			return false;
		for (size_t i = 0; i < json_object_array_length(a); i++)
			if (!same_text(json_object_array_get_idx(a, i),
				       json_object_array_get_idx(b, i)))
				return false;
		return true;
	case json_type_boolean:
		return json_object_get_boolean(a) == json_object_get_boolean(b);
	case json_type_null:
	case json_type_double:
	case json_type_int:
		return true;
	}
	return false;
}

static void fuzz_body(const char *text, size_t len)
{
	_cleanup_json_ json_object *o = NULL, *again = NULL;
	_cleanup_err_ struct err *e = NULL, *e2 = NULL;
	const char *printed;
	_cleanup_free_ char *copy = NULL;
	int r;

	r = body_parse(text, len, &o, &e);
	if (r < 0) {
		if ((r != -EINVAL && r != -ENOMEM) || !e || !e->msg || e->code != r || o)
			fail("body_parse refused without a message", "");
		return;
	}
	if (r != 0 || !o || e)
		fail("body_parse accepted without an object", "");
	if (memchr(text, '\0', len))
		fail("an accepted body holds a NUL byte", "");
	if (text_has_nul_escape(text, len))
		fail("an accepted body holds a \\u0000 escape", text);
	check_text(o);
	/* What was accepted means the same once printed: it parses back to the same strings. */
	printed = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (!printed || !(copy = strdup(printed)))
		return;
	if (body_parse(copy, strlen(copy), &again, &e2) < 0)
		fail("an accepted body does not parse back once printed", copy);
	if (!same_text(o, again))
		fail("an accepted body reads differently once printed and parsed back", copy);
	check_body_readers(o);
}

/* The client reads any answer with json_tokener_parse() and then the envelope reader. */
static void fuzz_envelope(const char *text)
{
	_cleanup_json_ json_object *env = json_tokener_parse(text);
	_cleanup_json_ json_object *md = NULL;
	_cleanup_err_ struct err *e = NULL;
	const char *type;
	int r;

	if (!env || !json_object_is_type(env, json_type_object))
		return;
	type = api_get_string(env, "type");
	r = api_parse_envelope(env, &md, &e);
	if (r == 0) {
		if (e || !type || (strcmp(type, "sync") != 0 && strcmp(type, "async") != 0))
			fail("the envelope reader accepted a non-envelope", text);
	} else if (r > 0 || !e || !e->msg || e->code != r || md) {
		fail("the envelope reader refused without a message", text);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t line_len = nl ? (size_t)(nl - data) : size, body_len = nl ? size - line_len - 1 : 0;
	_cleanup_free_ char *line = strndup((const char *)data, line_len);
	_cleanup_free_ char *body = malloc(body_len + 1);
	char *space;

	if (!line || !body)
		return 0;
	line[strcspn(line, "\r")] = '\0';
	space = strchr(line, ' ');
	if (space && (size_t)(space - line) < 16 && strlen(space + 1) <= TARGET_MAX) {
		*space = '\0';
		/* The input's length picks the hex case of the re-encoded targets. */
		fuzz_route(line, space + 1, size & 1);
	}
	if (nl) {
		memcpy(body, nl + 1, body_len);
		body[body_len] = '\0';
		fuzz_body(body, body_len);
		fuzz_envelope(body);
	}
	return 0;
}
