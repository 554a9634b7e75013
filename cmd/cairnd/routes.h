#pragma once

/*
 * The daemon's routes: one table of path patterns, methods, handlers and access rules.
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

enum route_body {
	ROUTE_BODY_NONE, /* no body expected; one is ignored */
	ROUTE_BODY_JSON, /* a JSON document, at most 1 MiB, parsed before the handler runs */
	ROUTE_BODY_FILE, /* streamed into an unlinked temporary file (image uploads) */
	ROUTE_BODY_MAX,
};

struct route {
	const char *method;
	const char *pattern;
	route_handler handler;
	enum route_body body;
};

/* The table, terminated by an entry with pattern == NULL. */
const struct route *routes_table(void);

enum route_match {
	ROUTE_FOUND,
	ROUTE_NOT_FOUND,	  /* no pattern matches the path: 404 */
	ROUTE_METHOD_NOT_ALLOWED, /* a pattern matches, not with this method: 405 */
	ROUTE_MATCH_MAX,
};

/*
 * Finds the route for `method` and `path` (no query string) in `table`. Captured segments are
 * percent-decoded into `params` (each at most `param_len` bytes with the NUL), in order;
 * *ret_n_params says how many. A segment that decodes to something containing '/' or a NUL
 * does not match.
 */
enum route_match routes_match(const struct route *table, const char *method, const char *path,
			      const struct route **ret_route, char params[][256],
			      size_t *ret_n_params);
