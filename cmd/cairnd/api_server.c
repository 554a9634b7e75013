/* /, /1.0 and /1.0/operations. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <lxc/version.h>

#include "api/api.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/events.h"
#include "cmd/cairnd/handlers.h"
#include "cmd/cairnd/operations.h"
#include "common/err.h"
#include "storage/storage.h"

HANDLER(handle_root)
{
	json_object *list = json_object_new_array();

	(void)d;
	(void)req;
	(void)err;
	json_object_array_add(list, json_object_new_string("/1.0"));
	*ret_envelope = api_sync(list);
	return 200;
}

HANDLER(handle_server)
{
	json_object *o = json_object_new_object(), *env = json_object_new_object();
	struct utsname u;

	(void)req;
	(void)err;
	uname(&u);
	json_object_object_add(env, "server", json_object_new_string("cairn"));
	json_object_object_add(env, "server_version", json_object_new_string("0.1.0"));
	json_object_object_add(env, "kernel_version", json_object_new_string(u.release));
	json_object_object_add(env, "architectures", json_object_new_array());
	json_object_array_add(json_object_object_get(env, "architectures"),
			      json_object_new_string(u.machine));
	json_object_object_add(env, "driver", json_object_new_string("lxc"));
	json_object_object_add(env, "driver_version", json_object_new_string(LXC_VERSION));
	json_object_object_add(
	    env, "storage", json_object_new_string(d->env.n_pools ? d->env.pools[0].driver : ""));
	json_object_object_add(env, "admin_group", json_object_new_string(d->group_name));
	json_object_object_add(o, "api_version", json_object_new_string("1.0"));
	json_object_object_add(o, "auth", json_object_new_string("trusted"));
	json_object_object_add(o, "public", json_object_new_boolean(0));
	json_object_object_add(o, "environment", env);
	*ret_envelope = api_sync(o);
	return 200;
}

HANDLER(handle_events)
{
	const char *type = request_query(req, "type");

	(void)d;
	req->response = events_stream(type);
	if (!req->response)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret_envelope = NULL;
	return 200;
}

HANDLER(handle_operations_list)
{
	(void)d;
	(void)err;
	*ret_envelope = api_sync(operation_list(request_recursion(req)));
	return 200;
}

HANDLER(handle_operation_delete)
{
	int r;

	(void)d;
	r = operation_cancel(req->params[0], err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}

HANDLER(handle_operation_get)
{
	json_object *op = NULL;
	int r;

	(void)d;
	r = operation_get(req->params[0], 0, false, &op, err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(op);
	return 200;
}

HANDLER(handle_operation_wait)
{
	const char *t = request_query(req, "timeout");
	json_object *op = NULL;
	char *end = NULL;
	long timeout = -1;
	int r;

	(void)d;
	if (t && *t) {
		timeout = strtol(t, &end, 10);
		if (*end || timeout < -1)
			return err_set(err, -EINVAL, "Invalid timeout \"%s\"", t);
	}
	r = operation_get(req->params[0], (int)timeout, true, &op, err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(op);
	return 200;
}
