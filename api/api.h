#pragma once

/*
 * The wire format shared by cairn and cairnd: the Incus envelopes, status codes and the mapping
 * between errno values and HTTP statuses. The JSON itself is json-c; see doc/api.md.
 */

#include <stdbool.h>

#include <json-c/json.h>

struct err;

/* Incus status codes used in instance, operation and envelope objects. */
enum api_status {
	API_STATUS_OPERATION_CREATED = 100,
	API_STATUS_STARTED = 101,
	API_STATUS_STOPPED = 102,
	API_STATUS_RUNNING = 103,
	API_STATUS_CANCELLING = 104,
	API_STATUS_PENDING = 105,
	API_STATUS_STARTING = 106,
	API_STATUS_STOPPING = 107,
	API_STATUS_ABORTING = 108,
	API_STATUS_FREEZING = 109,
	API_STATUS_FROZEN = 110,
	API_STATUS_THAWED = 111,
	API_STATUS_ERROR = 112,
	API_STATUS_SUCCESS = 200,
	API_STATUS_FAILURE = 400,
	API_STATUS_CANCELLED = 401,
};

/* "Running", "Stopped", ... for a status code; "Unknown" for others. Static string. */
const char *api_status_name(int status_code);

/* The HTTP status for a negative errno: ENOENT 404, EEXIST/EBUSY 409, EINVAL (and ERANGE,
 * ENAMETOOLONG) 400, EPERM/EACCES 403, EOPNOTSUPP 501, everything else 500. */
int api_http_status(int neg_errno);

/* The negative errno an HTTP error status stands for (inverse of api_http_status). */
int api_errno_from_http(int http_status);

/* {"type":"sync","status":"Success","status_code":200,...,"metadata":metadata}. Takes ownership
 * of `metadata` (which may be NULL). Returns a new object (NULL on OOM). */
json_object *api_sync(json_object *metadata);

/* The async envelope around an operation object (ownership of `op` moves in). `op_id` names the
 * operation for the "operation" field. */
json_object *api_async(const char *op_id, json_object *op);

/* The error envelope: error_code = http_status, error = message. */
json_object *api_error(int http_status, const char *message);

/*
 * Reads an envelope received by the client. On "sync" and "async" it returns 0 and stores a new
 * reference to metadata in *ret_metadata (which may be json null). On "error", or anything that
 * is not an envelope, it fills *err with the server's message and returns the errno that the
 * error code stands for.
 */
int api_parse_envelope(json_object *envelope, json_object **ret_metadata, struct err **err);

/* Reads a string member; NULL when absent or not a string. Borrowed from `o`. */
const char *api_get_string(json_object *o, const char *key);

/* Reads an int64 member; `fallback` when absent or not a number. */
long long api_get_int(json_object *o, const char *key, long long fallback);

/* Reads a boolean member; `fallback` when absent or not a boolean. */
bool api_get_bool(json_object *o, const char *key, bool fallback);
