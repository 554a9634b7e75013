#include "cmd/cairnd/routes.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cairnd/handlers.h"
#include "common/cleanup.h"
#include "common/utf8.h"

static const struct route table[] = {
    {"GET", "/", handle_root, ROUTE_BODY_NONE},
    {.method = "GET", .pattern = "/1.0", .handler = handle_server, .untrusted = true},
    {"PUT", "/1.0", handle_server_put, ROUTE_BODY_JSON},
    {"PATCH", "/1.0", handle_server_patch, ROUTE_BODY_JSON},
    {"GET", "/1.0/certificates", handle_certificates_list, ROUTE_BODY_NONE},
    {.method = "POST",
     .pattern = "/1.0/certificates",
     .handler = handle_certificates_create,
     .body = ROUTE_BODY_JSON,
     .untrusted = true},
    {"GET", "/1.0/certificates/tokens", handle_tokens_list, ROUTE_BODY_NONE},
    {"DELETE", "/1.0/certificates/tokens/{}", handle_token_delete, ROUTE_BODY_NONE},
    {"GET", "/1.0/certificates/{}", handle_certificate_get, ROUTE_BODY_NONE},
    {"DELETE", "/1.0/certificates/{}", handle_certificate_delete, ROUTE_BODY_NONE},
    {"GET", "/1.0/events", handle_events, ROUTE_BODY_NONE},
    {"GET", "/1.0/remotes", handle_remotes_list, ROUTE_BODY_NONE},
    {"POST", "/1.0/remotes", handle_remotes_create, ROUTE_BODY_JSON},
    {"GET", "/1.0/remotes/{}", handle_remote_get, ROUTE_BODY_NONE},
    {"DELETE", "/1.0/remotes/{}", handle_remote_delete, ROUTE_BODY_NONE},
    {"GET", "/1.0/operations", handle_operations_list, ROUTE_BODY_NONE},
    {"GET", "/1.0/operations/{}", handle_operation_get, ROUTE_BODY_NONE},
    {"DELETE", "/1.0/operations/{}", handle_operation_delete, ROUTE_BODY_NONE},
    {"GET", "/1.0/operations/{}/wait", handle_operation_wait, ROUTE_BODY_NONE},
    {"GET", "/1.0/operations/{}/websocket", handle_operation_websocket, ROUTE_BODY_NONE},
    /* A transfer's data, authorised by the operation's secret alone (api_migration.c). */
    {.method = "GET",
     .pattern = "/1.0/operations/{}/migration",
     .handler = handle_operation_migration_get,
     .untrusted = true},
    {.method = "POST",
     .pattern = "/1.0/operations/{}/migration",
     .handler = handle_operation_migration_post,
     .body = ROUTE_BODY_JSON,
     .stream = stream_operation_migration,
     .untrusted = true},
    {"GET", "/1.0/instances", handle_instances_list, ROUTE_BODY_NONE},
    /* JSON, or a backup to import (application/octet-stream), spooled as an upload. */
    {"POST", "/1.0/instances", handle_instances_create, ROUTE_BODY_JSON, spool_instance_import},
    {"GET", "/1.0/instances/{}", handle_instance_get, ROUTE_BODY_NONE},
    {"PUT", "/1.0/instances/{}", handle_instance_put, ROUTE_BODY_JSON},
    {"PATCH", "/1.0/instances/{}", handle_instance_patch, ROUTE_BODY_JSON},
    {"DELETE", "/1.0/instances/{}", handle_instance_delete, ROUTE_BODY_NONE},
    {"POST", "/1.0/instances/{}", handle_instance_post, ROUTE_BODY_JSON},
    {"GET", "/1.0/instances/{}/state", handle_instance_state_get, ROUTE_BODY_NONE},
    {"PUT", "/1.0/instances/{}/state", handle_instance_state_put, ROUTE_BODY_JSON},
    {"POST", "/1.0/instances/{}/exec", handle_instance_exec, ROUTE_BODY_JSON},
    {"GET", "/1.0/instances/{}/files", handle_instance_files_get, ROUTE_BODY_NONE},
    {"POST", "/1.0/instances/{}/files", handle_instance_files_post, ROUTE_BODY_FILE,
     spool_instance_file},
    {"DELETE", "/1.0/instances/{}/files", handle_instance_files_delete, ROUTE_BODY_NONE},
    {"GET", "/1.0/instances/{}/console", handle_instance_console_get, ROUTE_BODY_NONE},
    {"POST", "/1.0/instances/{}/console", handle_instance_console_post, ROUTE_BODY_JSON},
    {"GET", "/1.0/instances/{}/backups", handle_backups_list, ROUTE_BODY_NONE},
    {"POST", "/1.0/instances/{}/backups", handle_backups_create, ROUTE_BODY_JSON},
    {"GET", "/1.0/instances/{}/backups/{}", handle_backup_get, ROUTE_BODY_NONE},
    {"DELETE", "/1.0/instances/{}/backups/{}", handle_backup_delete, ROUTE_BODY_NONE},
    {"GET", "/1.0/instances/{}/backups/{}/export", handle_backup_export, ROUTE_BODY_NONE},
    {"GET", "/1.0/instances/{}/snapshots", handle_snapshots_list, ROUTE_BODY_NONE},
    {"POST", "/1.0/instances/{}/snapshots", handle_snapshots_create, ROUTE_BODY_JSON},
    {"GET", "/1.0/instances/{}/snapshots/{}", handle_snapshot_get, ROUTE_BODY_NONE},
    {"PUT", "/1.0/instances/{}/snapshots/{}", handle_snapshot_put, ROUTE_BODY_JSON},
    {"PATCH", "/1.0/instances/{}/snapshots/{}", handle_snapshot_put, ROUTE_BODY_JSON},
    {"POST", "/1.0/instances/{}/snapshots/{}", handle_snapshot_post, ROUTE_BODY_JSON},
    {"DELETE", "/1.0/instances/{}/snapshots/{}", handle_snapshot_delete, ROUTE_BODY_NONE},
    {"POST", "/1.0/snapshots/auto", handle_snapshots_auto, ROUTE_BODY_JSON},
    {"POST", "/1.0/snapshots/prune", handle_snapshots_prune, ROUTE_BODY_JSON},
    {"GET", "/1.0/images", handle_images_list, ROUTE_BODY_NONE},
    {"POST", "/1.0/images", handle_images_create, ROUTE_BODY_FILE, spool_image},
    {"GET", "/1.0/images/aliases", handle_aliases_list, ROUTE_BODY_NONE},
    {"POST", "/1.0/images/aliases", handle_aliases_create, ROUTE_BODY_JSON},
    {"GET", "/1.0/images/aliases/{}", handle_alias_get, ROUTE_BODY_NONE},
    {"DELETE", "/1.0/images/aliases/{}", handle_alias_delete, ROUTE_BODY_NONE},
    {"GET", "/1.0/images/{}", handle_image_get, ROUTE_BODY_NONE},
    {"DELETE", "/1.0/images/{}", handle_image_delete, ROUTE_BODY_NONE},
    {"GET", "/1.0/storage-pools", handle_pools_list, ROUTE_BODY_NONE},
    {"POST", "/1.0/storage-pools", handle_pools_create, ROUTE_BODY_JSON},
    {"GET", "/1.0/storage-pools/{}", handle_pool_get, ROUTE_BODY_NONE},
    {"GET", "/1.0/storage-pools/{}/resources", handle_pool_resources, ROUTE_BODY_NONE},
    {"PUT", "/1.0/storage-pools/{}", handle_pool_put, ROUTE_BODY_JSON},
    {"PATCH", "/1.0/storage-pools/{}", handle_pool_patch, ROUTE_BODY_JSON},
    {"DELETE", "/1.0/storage-pools/{}", handle_pool_delete, ROUTE_BODY_NONE},
    {"GET", "/1.0/profiles", handle_profiles_list, ROUTE_BODY_NONE},
    {"POST", "/1.0/profiles", handle_profiles_create, ROUTE_BODY_JSON},
    {"GET", "/1.0/profiles/{}", handle_profile_get, ROUTE_BODY_NONE},
    {"PUT", "/1.0/profiles/{}", handle_profile_put, ROUTE_BODY_JSON},
    {"PATCH", "/1.0/profiles/{}", handle_profile_patch, ROUTE_BODY_JSON},
    {"POST", "/1.0/profiles/{}", handle_profile_post, ROUTE_BODY_JSON},
    {"DELETE", "/1.0/profiles/{}", handle_profile_delete, ROUTE_BODY_NONE},
    {"GET", "/1.0/resources/criu", handle_resources_criu, ROUTE_BODY_NONE},
    {"GET", "/1.0/networks", handle_networks_list, ROUTE_BODY_NONE},
    {"POST", "/1.0/networks", handle_networks_create, ROUTE_BODY_JSON},
    {"GET", "/1.0/networks/{}", handle_network_get, ROUTE_BODY_NONE},
    {"PUT", "/1.0/networks/{}", handle_network_put, ROUTE_BODY_JSON},
    {"PATCH", "/1.0/networks/{}", handle_network_patch, ROUTE_BODY_JSON},
    {"DELETE", "/1.0/networks/{}", handle_network_delete, ROUTE_BODY_NONE},
    {"POST", "/1.0/networks/{}", handle_network_post, ROUTE_BODY_JSON},
    {"GET", "/1.0/networks/{}/state", handle_network_state, ROUTE_BODY_NONE},
    {"GET", "/1.0/networks/{}/leases", handle_network_leases, ROUTE_BODY_NONE},
    {NULL, NULL, NULL, ROUTE_BODY_NONE},
};

const struct route *routes_table(void)
{
	return table;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes one path segment [s, s+len) into out; false when it does not fit, is badly escaped, or
 * decodes to a '/', a NUL or invalid UTF-8 (a name can never hold those, so such a segment
 * matches nothing). */
static bool decode_segment(const char *s, size_t len, char *out, size_t out_len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return false;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			c = (char)(hi * 16 + lo);
			i += 2;
			if (c == '/' || c == '\0')
				return false;
		}
		if (o + 1 >= out_len)
			return false;
		out[o++] = c;
	}
	out[o] = '\0';
	return o > 0 && utf8_valid(out, o);
}

/* Matches one pattern; fills params on success. */
static bool match_pattern(const char *pattern, const char *path, char params[][256], size_t *n)
{
	const char *p = pattern, *s = path;

	*n = 0;
	while (*p && *s) {
		if (p[0] == '{' && p[1] == '}') {
			const char *end = strchr(s, '/');
			size_t len = end ? (size_t)(end - s) : strlen(s);

			if (*n >= ROUTE_MAX_PARAMS || !decode_segment(s, len, params[*n], 256))
				return false;
			(*n)++;
			p += 2;
			s += len;
			continue;
		}
		if (*p != *s)
			return false;
		p++;
		s++;
	}
	/* A trailing slash on the request is tolerated, as Incus does. */
	if (*s == '/' && s[1] == '\0' && s != path)
		s++;
	return *p == '\0' && *s == '\0';
}

enum route_match routes_match(const struct route *tbl, const char *method, const char *path,
			      const struct route **ret_route, char params[][256],
			      size_t *ret_n_params)
{
	bool path_known = false;

	for (const struct route *r = tbl; r->pattern; r++) {
		size_t n = 0;

		if (!match_pattern(r->pattern, path, params, &n))
			continue;
		path_known = true;
		if (strcmp(r->method, method) != 0)
			continue;
		*ret_route = r;
		*ret_n_params = n;
		return ROUTE_FOUND;
	}
	return path_known ? ROUTE_METHOD_NOT_ALLOWED : ROUTE_NOT_FOUND;
}

/* False when the segment [s, s+len) percent-decodes to invalid UTF-8 (a badly formed escape is
 * left to the matcher, which finds no route for it). */
static bool segment_is_text(const char *s, size_t len)
{
	_cleanup_free_ char *out = malloc(len + 1);
	size_t o = 0;

	if (!out)
		return false;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
			continue;
		}
		out[o++] = s[i];
	}
	return utf8_valid(out, o);
}

enum route_match routes_resolve(const struct route *tbl, const char *method, const char *raw,
				const struct route **ret_route, char params[][256],
				size_t *ret_n_params)
{
	_cleanup_free_ char *path = NULL;
	size_t path_len = strcspn(raw, "?#");

	if (strstr(raw, "%00"))
		return ROUTE_BAD_TARGET;
	for (size_t i = 0; i < path_len;) {
		size_t len = strcspn(raw + i, "/?#");

		if (!segment_is_text(raw + i, len))
			return ROUTE_BAD_TARGET;
		i += len + 1;
	}
	path = strndup(raw, path_len);
	if (!path)
		return ROUTE_NOT_FOUND;
	return routes_match(tbl, method, path, ret_route, params, ret_n_params);
}
