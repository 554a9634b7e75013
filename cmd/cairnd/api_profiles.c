/* /1.0/profiles. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cmd/cairnd/body.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/handlers.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db.h"
#include "config/devices.h"
#include "config/keys.h"
#include "config/profiles.h"
#include "instance/settings.h"

/* One profile change at a time: each is checked against the instances that use the profile as
 * the database has them, so two changes must not check against each other's before. */
static pthread_mutex_t profiles_lock = PTHREAD_MUTEX_INITIALIZER;

static json_object *profile_to_json(struct daemon *d, const struct profile *p)
{
	json_object *o = json_object_new_object(), *config = json_object_new_object(),
		    *used_by = json_object_new_array();
	_cleanup_strv_ char **users = NULL;

	for (size_t i = 0; i < p->config.n; i++)
		json_object_object_add(config, p->config.items[i].key,
				       json_object_new_string(p->config.items[i].value));
	if (db_profile_used_by(d->env.db, p->name, &users, NULL) >= 0)
		for (size_t i = 0; users && users[i]; i++)
			json_object_array_add(used_by, json_object_new_string(users[i]));
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "description",
			       json_object_new_string(p->description ? p->description : ""));
	json_object_object_add(o, "config", config);
	json_object_object_add(o, "devices", devices_to_json(&p->devices));
	json_object_object_add(o, "used_by", used_by);
	json_object_object_add(o, "project", json_object_new_string("default"));
	return o;
}

HANDLER(handle_profiles_list)
{
	struct profile *v = NULL;
	json_object *list;
	size_t n = 0;
	int r;

	r = db_profile_list(d->env.db, &v, &n, err);
	if (r < 0)
		return r;
	list = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		if (request_recursion(req) >= 1) {
			json_object_array_add(list, profile_to_json(d, &v[i]));
		} else {
			_cleanup_free_ char *url = str_printf("/1.0/profiles/%s", v[i].name);

			json_object_array_add(list, json_object_new_string(url ? url : ""));
		}
	}
	profiles_free(v, n);
	*ret_envelope = api_sync(list);
	return 200;
}

HANDLER(handle_profile_get)
{
	_cleanup_profile_ struct profile p = {0};
	int r;

	r = db_profile_get(d->env.db, req->params[0], &p, err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(profile_to_json(d, &p));
	return 200;
}

/* Reads description, config and devices of a body into `p` (each only when present). */
static int read_profile_body(json_object *body, struct profile *p, bool *ret_has_config,
			     bool *ret_has_devices, struct err **err)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	_cleanup_devices_ struct devices devices = {0};
	json_object *devices_json = NULL;
	const char *description = NULL;
	int r;

	if ((r = body_string(body, "description", false, &description, err)) < 0)
		return r;
	r = body_config(body, "config", &config, err);
	if (r < 0)
		return r;
	*ret_has_config = r > 0;
	if ((r = body_object(body, "devices", false, &devices_json, err)) < 0 ||
	    (r = devices_from_json(devices_json, &devices, err)) < 0)
		return r;
	*ret_has_devices = devices_json != NULL;
	if (description) {
		r = config_text_valid("description", description, err);
		if (r < 0)
			return r;
		free(p->description);
		p->description = strdup(description);
		if (!p->description)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	if (*ret_has_config) {
		kvlist_done(&p->config);
		p->config = config;
		config = (struct kvlist){0};
	}
	if (*ret_has_devices) {
		devices_done(&p->devices);
		p->devices = devices;
		devices = (struct devices){0};
	}
	return 0;
}

HANDLER(handle_profiles_create)
{
	_cleanup_profile_ struct profile p = {0};
	const char *name = NULL;
	bool has_config, has_devices;
	int r;

	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	if ((r = body_string(req->body, "name", true, &name, err)) < 0)
		return r;
	r = config_profile_name_valid(name, err);
	if (r < 0)
		return r;
	p.name = strdup(name);
	p.description = strdup("");
	if (!p.name || !p.description)
		return err_set(err, -ENOMEM, "Out of memory");
	r = read_profile_body(req->body, &p, &has_config, &has_devices, err);
	if (r < 0)
		return r;
	r = profile_validate(&p, err);
	if (r < 0)
		return r;
	{
		_cleanup_free_ char *owner = str_printf("profile \"%s\"", p.name);

		if (!owner)
			return err_set(err, -ENOMEM, "Out of memory");
		r = instance_copy_target_check(&d->env, owner, NULL, &p.config, err);
		if (r < 0)
			return r;
	}
	/* No --restricted check: a new profile reaches no instance yet, and an instance that
	 * takes it later is checked then. */
	r = db_profile_insert(d->env.db, &p, err);
	if (r < 0)
		return r;
	instance_notify(&d->env, "profile-created", "profiles", p.name);
	*ret_envelope = api_sync(NULL);
	return 201;
}

/* PUT replaces description, config and devices; PATCH merges config keys and devices by name
 * (an empty value unsets a key) and keeps what the body does not name. Runs under
 * profiles_lock. */
static int update_profile_locked(struct daemon *d, struct request *req, bool merge,
				 struct err **err)
{
	_cleanup_profile_ struct profile current = {0}, next = {0}, given = {0};
	bool has_config = false, has_devices = false;
	int r;

	r = db_profile_get(d->env.db, req->params[0], &current, err);
	if (r < 0)
		return r;
	given.description = strdup(current.description ? current.description : "");
	if (!given.description)
		return err_set(err, -ENOMEM, "Out of memory");
	r = read_profile_body(req->body, &given, &has_config, &has_devices, err);
	if (r < 0)
		return r;
	next.name = strdup(current.name);
	next.description = strdup(given.description);
	if (!next.name || !next.description)
		return err_set(err, -ENOMEM, "Out of memory");
	if (merge) {
		r = kvlist_copy(&next.config, &current.config);
		if (r >= 0)
			r = devices_copy(&next.devices, &current.devices);
		for (size_t i = 0; r >= 0 && i < given.config.n; i++) {
			if (*given.config.items[i].value)
				r = kvlist_set(&next.config, given.config.items[i].key,
					       given.config.items[i].value);
			else
				kvlist_unset(&next.config, given.config.items[i].key);
		}
		for (size_t i = 0; r >= 0 && i < given.devices.n; i++)
			r = devices_set(&next.devices, given.devices.items[i].name,
					&given.devices.items[i].keys);
	} else {
		/* What a PUT leaves out is emptied, as in Incus; a client that means to change
		 * one part sends a PATCH. */
		r = kvlist_copy(&next.config, &given.config);
		if (r >= 0)
			r = devices_copy(&next.devices, &given.devices);
	}
	if (r < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; i < next.config.n; i++)
		if (!*next.config.items[i].value)
			return err_set(err, -EINVAL,
				       "Invalid config of profile \"%s\": key \"%s\" has an empty "
				       "value",
				       next.name, next.config.items[i].key);
	r = instance_profile_update(&d->env, next.name, &next, request_restricted(d, req), err);
	if (r < 0)
		return r;
	instance_notify(&d->env, "profile-updated", "profiles", next.name);
	return 0;
}

static int update_profile(struct daemon *d, struct request *req, bool merge,
			  json_object **ret_envelope, struct err **err)
{
	int r;

	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	pthread_mutex_lock(&profiles_lock);
	r = update_profile_locked(d, req, merge, err);
	pthread_mutex_unlock(&profiles_lock);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}

HANDLER(handle_profile_put)
{
	return update_profile(d, req, false, ret_envelope, err);
}

HANDLER(handle_profile_patch)
{
	return update_profile(d, req, true, ret_envelope, err);
}

HANDLER(handle_profile_post)
{
	const char *new_name = NULL;
	int r;

	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	if ((r = body_string(req->body, "name", true, &new_name, err)) < 0)
		return r;
	r = config_profile_name_valid(new_name, err);
	if (r < 0)
		return r;
	if (strcmp(req->params[0], PROFILE_DEFAULT) == 0)
		return err_set(err, -EPERM, "The \"default\" profile cannot be renamed");
	pthread_mutex_lock(&profiles_lock);
	r = db_profile_rename(d->env.db, req->params[0], new_name, err);
	pthread_mutex_unlock(&profiles_lock);
	if (r < 0)
		return r;
	instance_notify(&d->env, "profile-renamed", "profiles", new_name);
	*ret_envelope = api_sync(NULL);
	return 200;
}

HANDLER(handle_profile_delete)
{
	int r;

	if (strcmp(req->params[0], PROFILE_DEFAULT) == 0)
		return err_set(err, -EPERM, "The \"default\" profile cannot be deleted");
	pthread_mutex_lock(&profiles_lock);
	r = db_profile_delete(d->env.db, req->params[0], err);
	pthread_mutex_unlock(&profiles_lock);
	if (r < 0)
		return r;
	instance_notify(&d->env, "profile-deleted", "profiles", req->params[0]);
	*ret_envelope = api_sync(NULL);
	return 200;
}
