/* /1.0/resources/criu: whether stateful snapshots and stops can work here, and why not. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/handlers.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "instance/criu.h"
#include "instance/instance.h"

static json_object *string_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* GET /1.0/resources/criu[?instance=NAME] (cairn's own; `cairn doctor` renders it). */
HANDLER(handle_resources_criu)
{
	_cleanup_(instance_criu_done) struct instance_criu criu = {0};
	_cleanup_strv_ char **blockers = NULL, **left_out = NULL;
	const char *name = request_query(req, "instance");
	json_object *md, *inst, *list;
	int r;

	r = instance_criu_probe(&criu, err);
	if (r < 0)
		return r;
	if (name && *name) {
		r = instance_criu_blockers(&d->env, name, &blockers, &left_out, err);
		if (r < 0)
			return r;
	}
	md = json_object_new_object();
	json_object_object_add(md, "found", json_object_new_boolean(criu.path != NULL));
	json_object_object_add(md, "path", string_or_null(criu.path));
	json_object_object_add(md, "from_env", json_object_new_boolean(criu.from_env));
	json_object_object_add(md, "version", string_or_null(criu.version));
	json_object_object_add(md, "kernel", string_or_null(criu.kernel));
	json_object_object_add(md, "check_ok", json_object_new_boolean(criu.check_ok));
	json_object_object_add(md, "check", string_or_null(criu.check_line));
	json_object_object_add(md, "network_lock", string_or_null(criu.network_lock));
	json_object_object_add(md, "usable", json_object_new_boolean(criu.problem == NULL));
	json_object_object_add(md, "problem", string_or_null(criu.problem));
	if (name && *name) {
		inst = json_object_new_object();
		list = json_object_new_array();
		for (char **b = blockers; b && *b; b++)
			json_object_array_add(list, json_object_new_string(*b));
		json_object_object_add(inst, "name", json_object_new_string(name));
		json_object_object_add(inst, "blockers", list);
		list = json_object_new_array();
		for (char **b = left_out; b && *b; b++)
			json_object_array_add(list, json_object_new_string(*b));
		json_object_object_add(inst, "left_out", list);
		json_object_object_add(md, "instance", inst);
	}
	*ret_envelope = api_sync(md);
	return 200;
}
