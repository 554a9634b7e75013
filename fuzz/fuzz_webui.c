/*
 * The request parser of `cairn webui`'s HTTP server on 127.0.0.1 (cmd/cairn/webui_http.c), on
 * arbitrary input, as any local process may send it: the input up to its first NUL (the server
 * refuses a NUL in the head) and up to its first empty line, cut there as the server cuts it
 * (an empty line is added when there is none), to webui_request_parse(); then what it accepts
 * to the checks every request passes: webui_host_ok() and webui_origin_ok() at three ports and
 * at the port the Host header names, webui_cookie_get() and webui_query_get() of the server's
 * names and of `a`, webui_secret_equal() and webui_is_api(). The whole input is also read as a
 * /proc/net/tcp table by webui_tcp_owner(), for ports taken from its first bytes. Beyond
 * memory errors and leaks, it checks that every field of a parsed request lies inside the
 * buffer, the method is a token, the target starts with '/' and is visible ASCII, no header
 * value holds a line break or starts or ends with a blank, Host, Cookie, Origin and
 * Content-Length appear at most once, a Content-Length is the digits the request sent; that an
 * accepted host is exactly 127.0.0.1:PORT or localhost:PORT and an accepted origin that host
 * after http://; that a cookie or query value lies inside its header, right after `NAME=`, and
 * holds no separator; that a secret is equal only to itself; and that the table reader returns
 * 0, -ENOENT or -EINVAL.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd/cairn/webui.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The page's files are generated at build time; the parser needs none of them. */
const struct webui_asset webui_assets[] = {{0}};

static bool inside(const char *p, const char *buf, size_t len)
{
	return p >= buf && p <= buf + len;
}

/* A header value as the parser leaves it: inside the buffer, one line, trimmed. */
static void check_value(const char *v, const char *buf, size_t len)
{
	size_t n;

	if (!v)
		return;
	if (!inside(v, buf, len) || !inside(v + strlen(v), buf, len))
		abort();
	if (strpbrk(v, "\r\n"))
		abort();
	n = strlen(v);
	if (n && (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		abort();
}

/* How many header lines of `head` (the request as sent) are called `name`. */
static unsigned count_header(const char *head, const char *name)
{
	size_t n = strlen(name);
	unsigned k = 0;

	for (const char *l = strstr(head, "\r\n"); l; l = strstr(l, "\r\n")) {
		l += 2;
		if (strncasecmp(l, name, n) == 0 && l[n] == ':')
			k++;
	}
	return k;
}

static void check_host(const char *host, unsigned port)
{
	char a[64], b[64], o1[80], o2[80];
	bool ok = webui_host_ok(host, port);

	snprintf(a, sizeof(a), "127.0.0.1:%u", port);
	snprintf(b, sizeof(b), "localhost:%u", port);
	if (ok != (host && (strcmp(host, a) == 0 || strcmp(host, b) == 0)))
		abort();
	snprintf(o1, sizeof(o1), "http://%s", a);
	snprintf(o2, sizeof(o2), "http://%s", b);
	if (webui_origin_ok(host, port) !=
	    (host && (strcmp(host, o1) == 0 || strcmp(host, o2) == 0)))
		abort();
}

/* A value `pair_get()` found: inside `s`, after `NAME=` that starts `s` or follows `sep` and
 * blanks, without `sep` (or '#' in a query). */
static void check_pair(const char *s, const char *v, size_t len, const char *name, char sep)
{
	size_t n = strlen(name);
	const char *p;

	if (!v)
		return;
	if (!s || v < s + n + 1 || v + len > s + strlen(s))
		abort();
	if (v[-1] != '=' || strncmp(v - 1 - n, name, n) != 0)
		abort();
	p = v - 1 - n;
	while (p > s && p[-1] == ' ')
		p--;
	if (p != s && p[-1] != sep)
		abort();
	if (memchr(v, sep, len) || (sep == '&' && memchr(v, '#', len)))
		abort();
}

static void check_pairs(const struct webui_request *r)
{
	static const char *const names[] = {WEBUI_COOKIE, "token", "a"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t len = 0;
		const char *v = webui_cookie_get(r->cookie, names[i], &len);
		const char *q;

		check_pair(r->cookie, v, len, names[i], ';');
		/* The server compares the cookie with its session secret. */
		if (webui_secret_equal(v, len,
				       "0123456789abcdef0123456789abcdef"
				       "0123456789abcdef0123456789abcdef") !=
		    (v && len == WEBUI_SECRET_LEN &&
		     memcmp(v, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			    len) == 0))
			abort();
		q = strchr(r->target, '?');
		len = 0;
		v = webui_query_get(r->target, names[i], &len);
		if (v && (!q || v <= q))
			abort();
		check_pair(q ? q + 1 : NULL, v, len, names[i], '&');
	}
}

static void fuzz_request(const char *text)
{
	const char *end = strstr(text, "\r\n\r\n");
	size_t len = end ? (size_t)(end - text) + 4 : strlen(text) + 4;
	char *buf = malloc(len + 1), *copy = malloc(len + 1);
	struct webui_request r;
	unsigned port = 0;

	if (!buf || !copy)
		abort();
	if (end) {
		memcpy(buf, text, len);
	} else {
		memcpy(buf, text, len - 4);
		memcpy(buf + len - 4, "\r\n\r\n", 4);
	}
	buf[len] = '\0';
	memcpy(copy, buf, len + 1);
	if (webui_request_parse(buf, &r) < 0)
		goto out;
	if (!inside(r.method, buf, len) || !inside(r.target, buf, len) || !*r.method)
		abort();
	for (const char *p = r.method; *p; p++)
		if (!strchr("!#$%&'*+-.^_`|~", *p) && !(*p >= '0' && *p <= '9') &&
		    !(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z'))
			abort();
	if (r.target[0] != '/' || !inside(r.target + strlen(r.target), buf, len))
		abort();
	for (const char *p = r.target; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			abort();
	check_value(r.host, buf, len);
	check_value(r.cookie, buf, len);
	check_value(r.origin, buf, len);
	check_value(r.fetch_site, buf, len);
	/* Two of these would let two readers disagree. */
	if (count_header(copy, "Host") > 1 || count_header(copy, "Cookie") > 1 ||
	    count_header(copy, "Origin") > 1 || count_header(copy, "Content-Length") > 1)
		abort();
	if (r.content_length < -1 ||
	    (r.content_length == -1) != !count_header(copy, "Content-Length"))
		abort();
	if (r.content_length >= 0) {
		const char *l = strcasestr(copy, "\r\nContent-Length:");
		char want[32];

		snprintf(want, sizeof(want), "%lld", r.content_length);
		l += strlen("\r\nContent-Length:");
		l += strspn(l, " \t");
		l += strspn(l, "0"); /* leading zeros read as the number they pad */
		if (strncmp(l, want, strlen(want)) != 0 && !(r.content_length == 0 && l[-1] == '0'))
			abort();
	}
	check_host(r.host, 1);
	check_host(r.host, 8443);
	check_host(r.host, 65535);
	check_host(r.origin, 8443);
	if (r.host && (sscanf(r.host, "%*[^:]:%u", &port) == 1 || sscanf(r.host, "%u", &port) == 1))
		check_host(r.host, port);
	if (r.origin && sscanf(r.origin, "http://%*[^:]:%u", &port) == 1)
		check_host(r.origin, port);
	check_pairs(&r);
	if (webui_is_api(r.target) !=
	    (strncmp(r.target, "/1.0", 4) == 0 && strchr("/?", r.target[4]) != NULL))
		abort();
out:
	free(buf);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	uid_t uid = 0;
	int r;

	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_request(text);
	r = webui_tcp_owner(text, size > 1 ? (uint16_t)(data[0] | data[1] << 8) : 8443,
			    size > 3 ? (uint16_t)(data[2] | data[3] << 8) : 40000, &uid);
	if (r != 0 && r != -ENOENT && r != -EINVAL)
		abort();
	r = webui_tcp_owner(text, 8443, 40000, &uid);
	if (r != 0 && r != -ENOENT && r != -EINVAL)
		abort();
	free(text);
	return 0;
}
