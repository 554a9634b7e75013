#pragma once

/*
 * The daemon's routes: one table of path patterns, methods, handlers and how each takes its
 * body. Who may call them is decided for every request alike, before routing (server.c).
 * Patterns are literal segments and `{}` placeholders that capture one segment
 * ("/1.0/instances/{}/state"). Matching is pure, so the table is unit-tested on its own.
 */

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

struct daemon;
struct err;
struct request;

#define ROUTE_MAX_PARAMS 4

/* Handlers return an HTTP status (200, 202) and set *ret_envelope, or a negative errno and
 * fill err; the server turns that into the error envelope. */
typedef int (*route_handler)(struct daemon *d, struct request *req, json_object **ret_envelope,
			     struct err **err);

/* For ROUTE_BODY_FILE routes: checks the request's target before its body is read (-ENOENT for
 * a missing instance, ...) and names the directory, on the pool the body is for, to spool it
 * in (*ret_dir is the caller's). */
typedef int (*route_spool)(struct daemon *d, struct request *req, char **ret_dir, struct err **err);

/* For a route that takes a streamed body (application/octet-stream to a route with .stream):
 * checks the request before its body is read and gives the descriptor the body is written into
 * as it arrives (*ret_fd, the server's to close: at the body's end, or when the connection
 * breaks, so the reader sees the stream end early). */
typedef int (*route_stream)(struct daemon *d, struct request *req, int *ret_fd, struct err **err);

enum route_body {
	ROUTE_BODY_NONE,   /* no body expected; one is ignored */
	ROUTE_BODY_JSON,   /* a JSON document, at most 1 MiB, parsed before the handler runs */
	ROUTE_BODY_FILE,   /* streamed into an unlinked temporary file where .spool says */
	ROUTE_BODY_STREAM, /* written into the descriptor .stream gives, as it arrives */
	ROUTE_BODY_MAX,
};

struct route {
	const char *method;
	const char *pattern;
	route_handler handler;
	enum route_body body;
	route_spool spool; /* ROUTE_BODY_FILE only */
	/* A JSON route with .stream takes an application/octet-stream body as ROUTE_BODY_STREAM. */
	route_stream stream;
	/* Served over HTTPS to a client whose certificate is not trusted (GET /1.0, and the
	 * certificate request that redeems a trust token); every other route answers such a
	 * client 403. The handler sees req->trusted. */
	bool untrusted;
};

/* The table, terminated by an entry with pattern == NULL. */
const struct route *routes_table(void);

enum route_match {
	ROUTE_FOUND,
	ROUTE_NOT_FOUND,	  /* no pattern matches the path: 404 */
	ROUTE_METHOD_NOT_ALLOWED, /* a pattern matches, not with this method: 405 */
	ROUTE_BAD_TARGET,	  /* a NUL or invalid UTF-8 in the request target: 400 */
	ROUTE_MATCH_MAX,
};

/*
 * Finds the route for `method` and `path` (no query string) in `table`. Captured segments are
 * percent-decoded into `params` (each at most 256 bytes with the NUL), in order;
 * *ret_n_params says how many. A segment that decodes to something containing '/' or a NUL
 * does not match.
 */
enum route_match routes_match(const struct route *table, const char *method, const char *path,
			      const struct route **ret_route, char params[][256],
			      size_t *ret_n_params);

/*
 * routes_match() for the request target exactly as the client sent it (`raw`: path and query,
 * not unescaped), so that every name is percent-decoded once and only once: libmicrohttpd's own
 * unescaped URL must not be matched, or "%256beep" would become "%6beep" and then "keep".
 * ROUTE_BAD_TARGET when the target holds an escaped NUL anywhere (libmicrohttpd would cut the
 * path or a query value at it, so "p2%00x" would name "p2") or a path segment that does not
 * decode to valid UTF-8.
 */
enum route_match routes_resolve(const struct route *table, const char *method, const char *raw,
				const struct route **ret_route, char params[][256],
				size_t *ret_n_params);
