#pragma once

/*
 * `cairn webui`: the page's files, built into the client, and the pure pieces of the small HTTP
 * server on 127.0.0.1 that serves them and proxies the API to the daemon's unix socket
 * (cmd_webui.c). Everything here is unit-tested (tests/unit/test_cli_webui.c).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"

/* The largest request head (request line and headers) the server reads. */
#define WEBUI_MAX_HEAD 16384
/* The largest request body it accepts (a config or a snapshot request is a few hundred bytes). */
#define WEBUI_MAX_BODY (1024 * 1024)
/* Secrets (the one-time token, the session cookie) are this many hex digits (32 random bytes). */
#define WEBUI_SECRET_LEN SECRET_HEX_LEN
/* The session cookie's name. */
#define WEBUI_COOKIE "cairn_session"

/* One of the page's files: generated at build time from cmd/cairn/webui/ (webui-assets.c). */
struct webui_asset {
	const char *path; /* "/", "/app.js", "/style.css" */
	const char *type; /* Content-Type */
	const unsigned char *data;
	size_t len;
};

/* The page's files, terminated by an entry with a NULL path. */
extern const struct webui_asset webui_assets[];

/* The asset served at `path` (without the query), or NULL. */
const struct webui_asset *webui_asset_find(const char *path);

/* A parsed request head. The strings point into the buffer given to webui_request_parse(). */
struct webui_request {
	const char *method;
	const char *target; /* origin-form: starts with '/' */
	const char *host;   /* NULL when absent */
	const char *cookie;
	const char *origin;
	const char *fetch_site;	  /* Sec-Fetch-Site */
	long long content_length; /* -1 when absent */
	bool has_transfer_encoding;
	bool has_upgrade;
};

/*
 * Parses the request head in `buf` (NUL-terminated, ending with the empty line; modified in
 * place). Strict: CRLF line ends, a request line `METHOD SP TARGET SP HTTP/1.x`, a target of
 * visible ASCII starting with '/', no obsolete line folding, and Host, Cookie, Origin and
 * Content-Length at most once each (two of them would let two readers disagree). -EINVAL
 * otherwise.
 */
int webui_request_parse(char *buf, struct webui_request *ret);

/* True when `host` (a Host header) is exactly 127.0.0.1:PORT or localhost:PORT: any other name
 * may be an attacker's domain rebound to 127.0.0.1. */
bool webui_host_ok(const char *host, unsigned port);

/* True when `origin` (an Origin header) is http:// followed by a host webui_host_ok() accepts. */
bool webui_origin_ok(const char *origin, unsigned port);

/* The value of cookie `name` in a Cookie header (NULL when absent): *ret_len bytes at the
 * returned pointer. */
const char *webui_cookie_get(const char *cookie, const char *name, size_t *ret_len);

/* The value of query parameter `name` in `target`'s query (NULL when absent), as for cookies. */
const char *webui_query_get(const char *target, const char *name, size_t *ret_len);

/* Compares `a` (`len` bytes, from a request) with the secret `secret` (WEBUI_SECRET_LEN
 * characters) in time that depends only on the lengths. */
bool webui_secret_equal(const char *a, size_t len, const char *secret);

/* True when `target` is an API path the proxy forwards: "/1.0" alone, or followed by '/' or '?'. */
bool webui_is_api(const char *target);

/*
 * The owner of the loopback TCP socket 127.0.0.1:`local_port` connected to 127.0.0.1:`remote_port`,
 * read from `table` (the text of /proc/net/tcp): the user of the process that connected to us.
 * -ENOENT when no such socket is listed, -EINVAL for a table that does not read.
 */
int webui_tcp_owner(const char *table, uint16_t local_port, uint16_t remote_port, uid_t *ret);
