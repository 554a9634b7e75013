/* The pure pieces of `cairn webui`'s HTTP server: request parsing and the checks every request
 * passes (webui.h). */
#include "cmd/cairn/webui.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct webui_asset *webui_asset_find(const char *path)
{
	for (const struct webui_asset *a = webui_assets; a->path; a++)
		if (strcmp(a->path, path) == 0)
			return a;
	return NULL;
}

static bool is_tchar(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       strchr("!#$%&'*+-.^_`|~", c);
}

/* Sets *slot to `value` unless it was set already (a repeated header). */
static int set_once(const char **slot, const char *value)
{
	if (*slot)
		return -EINVAL;
	*slot = value;
	return 0;
}

static int parse_length(const char *v, long long *ret)
{
	long long n = 0;

	if (!*v)
		return -EINVAL;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9' || n > (INT64_MAX - 9) / 10)
			return -EINVAL;
		n = n * 10 + (*p - '0');
	}
	*ret = n;
	return 0;
}

int webui_request_parse(char *buf, struct webui_request *ret)
{
	struct webui_request r = {.content_length = -1};
	const char *length = NULL;
	char *line = buf, *end, *sp1, *sp2;
	int k;

	end = strstr(line, "\r\n");
	if (!end)
		return -EINVAL;
	*end = '\0';
	sp1 = strchr(line, ' ');
	if (!sp1 || sp1 == line)
		return -EINVAL;
	*sp1 = '\0';
	for (const char *p = line; *p; p++)
		if (!is_tchar(*p))
			return -EINVAL;
	sp2 = strchr(sp1 + 1, ' ');
	if (!sp2)
		return -EINVAL;
	*sp2 = '\0';
	if (strcmp(sp2 + 1, "HTTP/1.1") != 0 && strcmp(sp2 + 1, "HTTP/1.0") != 0)
		return -EINVAL;
	if (sp1[1] != '/')
		return -EINVAL;
	for (const char *p = sp1 + 1; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return -EINVAL;
	r.method = line;
	r.target = sp1 + 1;

	for (line = end + 2; *line; line = end + 2) {
		char *colon, *v, *vend;

		end = strstr(line, "\r\n");
		if (!end)
			return -EINVAL;
		*end = '\0';
		if (line == end)
			break; /* the empty line that ends the head */
		colon = strchr(line, ':');
		if (!colon || colon == line)
			return -EINVAL; /* also obsolete folding, which starts with white space */
		*colon = '\0';
		for (const char *p = line; *p; p++)
			if (!is_tchar(*p))
				return -EINVAL;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (vend = v + strlen(v); vend > v && (vend[-1] == ' ' || vend[-1] == '\t');)
			*--vend = '\0';
		for (const char *p = v; *p; p++)
			if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
				return -EINVAL;
		k = 0;
		if (strcasecmp(line, "Host") == 0)
			k = set_once(&r.host, v);
		else if (strcasecmp(line, "Cookie") == 0)
			k = set_once(&r.cookie, v);
		else if (strcasecmp(line, "Origin") == 0)
			k = set_once(&r.origin, v);
		else if (strcasecmp(line, "Sec-Fetch-Site") == 0)
			k = set_once(&r.fetch_site, v);
		else if (strcasecmp(line, "Content-Length") == 0)
			k = set_once(&length, v);
		else if (strcasecmp(line, "Transfer-Encoding") == 0)
			r.has_transfer_encoding = true;
		else if (strcasecmp(line, "Upgrade") == 0)
			r.has_upgrade = true;
		if (k < 0)
			return k;
	}
	if (length && parse_length(length, &r.content_length) < 0)
		return -EINVAL;
	*ret = r;
	return 0;
}

bool webui_host_ok(const char *host, unsigned port)
{
	char a[64], b[64];

	if (!host)
		return false;
	snprintf(a, sizeof(a), "127.0.0.1:%u", port);
	snprintf(b, sizeof(b), "localhost:%u", port);
	return strcmp(host, a) == 0 || strcmp(host, b) == 0;
}

bool webui_origin_ok(const char *origin, unsigned port)
{
	return origin && strncmp(origin, "http://", 7) == 0 && webui_host_ok(origin + 7, port);
}

/* The value of `name` in a list of `name=value` pairs separated by `sep` (and spaces). */
static const char *pair_get(const char *s, char sep, const char *name, size_t *ret_len)
{
	size_t nlen = strlen(name);

	while (s && *s) {
		const char *next = strchr(s, sep);
		size_t len = next ? (size_t)(next - s) : strlen(s);

		while (len && *s == ' ') {
			s++;
			len--;
		}
		if (len > nlen && strncmp(s, name, nlen) == 0 && s[nlen] == '=') {
			*ret_len = len - nlen - 1;
			return s + nlen + 1;
		}
		s = next ? next + 1 : NULL;
	}
	return NULL;
}

const char *webui_cookie_get(const char *cookie, const char *name, size_t *ret_len)
{
	return pair_get(cookie, ';', name, ret_len);
}

const char *webui_query_get(const char *target, const char *name, size_t *ret_len)
{
	const char *q = strchr(target, '?');
	size_t len = 0;
	const char *v;

	if (!q)
		return NULL;
	v = pair_get(q + 1, '&', name, &len);
	/* A '#' never reaches a server, but stop at one all the same. */
	if (v && memchr(v, '#', len))
		len = (size_t)((const char *)memchr(v, '#', len) - v);
	if (v)
		*ret_len = len;
	return v;
}

bool webui_secret_equal(const char *a, size_t len, const char *secret)
{
	return secret_equal_mem(secret, a, len);
}

bool webui_is_api(const char *target)
{
	return strncmp(target, "/1.0", 4) == 0 &&
	       (target[4] == '\0' || target[4] == '/' || target[4] == '?');
}

int webui_tcp_owner(const char *table, uint16_t local_port, uint16_t remote_port, uid_t *ret)
{
	const char *line = strchr(table, '\n'); /* the header */

	while (line && *++line) {
		unsigned la, lp, ra, rp, st;
		unsigned long uid;

		/* "sl: local rem st tx:rx tr:when retrnsmt uid ...", addresses in the kernel's hex
		 */
		if (sscanf(line, " %*u: %8X:%4X %8X:%4X %2X %*x:%*x %*x:%*x %*x %lu", &la, &lp, &ra,
			   &rp, &st, &uid) != 6)
			return -EINVAL;
		/* The kernel prints an address as the integer its bytes make on this machine. */
		if (lp == local_port && rp == remote_port && la == htonl(INADDR_LOOPBACK) &&
		    ra == htonl(INADDR_LOOPBACK)) {
			*ret = (uid_t)uid;
			return 0;
		}
		line = strchr(line, '\n');
	}
	return -ENOENT;
}
