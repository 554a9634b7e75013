#include "api/api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

const char *api_status_name(int status_code)
{
	switch (status_code) {
	case API_STATUS_OPERATION_CREATED:
		return "Operation created";
	case API_STATUS_STARTED:
		return "Started";
	case API_STATUS_STOPPED:
		return "Stopped";
	case API_STATUS_RUNNING:
		return "Running";
	case API_STATUS_CANCELLING:
		return "Cancelling";
	case API_STATUS_PENDING:
		return "Pending";
	case API_STATUS_STARTING:
		return "Starting";
	case API_STATUS_STOPPING:
		return "Stopping";
	case API_STATUS_ABORTING:
		return "Aborting";
	case API_STATUS_FREEZING:
		return "Freezing";
	case API_STATUS_FROZEN:
		return "Frozen";
	case API_STATUS_THAWED:
		return "Thawed";
	case API_STATUS_ERROR:
		return "Error";
	case API_STATUS_SUCCESS:
		return "Success";
	case API_STATUS_FAILURE:
		return "Failure";
	case API_STATUS_CANCELLED:
		return "Cancelled";
	default:
		return "Unknown";
	}
}

int api_http_status(int neg_errno)
{
	switch (-neg_errno) {
	case ENOENT:
		return 404;
	case EEXIST:
	case EBUSY:
	case EAGAIN: /* changed meanwhile: try again */
		return 409;
	case EFBIG:
		return 413;
	case EINVAL:
	case ERANGE:
	case ENAMETOOLONG:
		return 400;
	case EPERM:
	case EACCES:
		return 403;
	case EOPNOTSUPP:
		return 501;
	default:
		return 500;
	}
}

int api_errno_from_http(int http_status)
{
	switch (http_status) {
	case 400:
		return -EINVAL;
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 405:
		return -EOPNOTSUPP;
	case 409:
		return -EBUSY;
	case 413:
		return -EFBIG;
	case 501:
		return -EOPNOTSUPP;
	default:
		return -EIO;
	}
}

static json_object *envelope(const char *type, const char *status, int status_code,
			     const char *operation, int error_code, const char *error,
			     json_object *metadata)
{
	json_object *o = json_object_new_object();

	if (!o) {
		json_object_put(metadata);
		return NULL;
	}
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "status_code", json_object_new_int(status_code));
	json_object_object_add(o, "operation", json_object_new_string(operation));
	json_object_object_add(o, "error_code", json_object_new_int(error_code));
	json_object_object_add(o, "error", json_object_new_string(error));
	json_object_object_add(o, "metadata", metadata);
	return o;
}

json_object *api_sync(json_object *metadata)
{
	return envelope("sync", "Success", API_STATUS_SUCCESS, "", 0, "", metadata);
}

json_object *api_async(const char *op_id, json_object *op)
{
	char path[128];

	snprintf(path, sizeof(path), "/1.0/operations/%s", op_id);
	return envelope("async", "Operation created", API_STATUS_OPERATION_CREATED, path, 0, "",
			op);
}

json_object *api_error(int http_status, const char *message)
{
	return envelope("error", "", 0, "", http_status, message, NULL);
}

int api_parse_envelope(json_object *env, json_object **ret_metadata, struct err **err)
{
	const char *type = api_get_string(env, "type");
	json_object *md = NULL;

	if (!type)
		return err_set(err, -EPROTO, "Invalid answer from cairnd: not an API envelope");
	if (strcmp(type, "error") == 0) {
		const char *msg = api_get_string(env, "error");
		int code = (int)api_get_int(env, "error_code", 500);

		return err_set(err, api_errno_from_http(code), "%s",
			       msg && *msg ? msg : "Unknown error from cairnd");
	}
	if (strcmp(type, "sync") != 0 && strcmp(type, "async") != 0)
		return err_set(err, -EPROTO, "Invalid answer from cairnd: unknown type \"%s\"",
			       type);
	json_object_object_get_ex(env, "metadata", &md);
	*ret_metadata = json_object_get(md);
	return 0;
}

const char *api_get_string(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

long long api_get_int(json_object *o, const char *key, long long fallback)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return fallback;
	return (long long)json_object_get_int64(v);
}

bool api_get_bool(json_object *o, const char *key, bool fallback)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return fallback;
	return json_object_get_boolean(v);
}
