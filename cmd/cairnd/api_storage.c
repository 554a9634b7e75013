/* /1.0/storage-pools. */
#include <errno.h>
#include <inttypes.h>
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
#include "config/keys.h"
#include "snapshots/usage.h"
#include "storage/storage.h"

/* Pools are added to and removed from a shared array: one change at a time. */
static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;

static json_object *pool_to_json(struct daemon *d, const struct storage_pool *pool)
{
	_cleanup_(db_pool_done) struct db_pool row = {0};
	json_object *o = json_object_new_object(), *config = json_object_new_object(),
		    *used_by = json_object_new_array();
	_cleanup_strv_ char **instances = NULL;
	struct db_image *images = NULL;
	size_t n_images = 0;

	json_object_object_add(config, "source", json_object_new_string(pool->source));
	if (pool->size) {
		_cleanup_free_ char *size = format_size(pool->size);

		json_object_object_add(config, "size", json_object_new_string(size ? size : ""));
	}
	if (db_pool_users(d->env.db, pool->name, &instances, NULL) >= 0)
		for (size_t i = 0; instances && instances[i]; i++) {
			_cleanup_free_ char *url = str_printf("/1.0/instances/%s", instances[i]);

			json_object_array_add(used_by, json_object_new_string(url ? url : ""));
		}
	if (db_image_list(d->env.db, &images, &n_images, NULL) >= 0) {
		for (size_t i = 0; i < n_images; i++) {
			_cleanup_free_ char *url = NULL;

			if (images[i].state != DB_ROW_READY || strcmp(images[i].pool, pool->name))
				continue;
			url = str_printf("/1.0/images/%s", images[i].fingerprint);
			json_object_array_add(used_by, json_object_new_string(url ? url : ""));
		}
		db_images_free(images, n_images);
	}
	json_object_object_add(o, "name", json_object_new_string(pool->name));
	json_object_object_add(o, "driver", json_object_new_string(pool->driver));
	json_object_object_add(
	    o, "description",
	    json_object_new_string(db_pool_get(d->env.db, pool->name, &row, NULL) >= 0 &&
					   row.description
				       ? row.description
				       : ""));
	json_object_object_add(o, "status", json_object_new_string("Created"));
	json_object_object_add(o, "config", config);
	json_object_object_add(o, "used_by", used_by);
	return o;
}

HANDLER(handle_pools_list)
{
	json_object *list = json_object_new_array();
	size_t n = __atomic_load_n(&d->env.n_pools, __ATOMIC_ACQUIRE);

	(void)err;
	for (size_t i = 0; i < n; i++) {
		if (__atomic_load_n(&d->env.pools[i].removed, __ATOMIC_ACQUIRE))
			continue;
		if (request_recursion(req) >= 1) {
			json_object_array_add(list, pool_to_json(d, &d->env.pools[i]));
		} else {
			_cleanup_free_ char *url =
			    str_printf("/1.0/storage-pools/%s", d->env.pools[i].name);

			json_object_array_add(list, json_object_new_string(url ? url : ""));
		}
	}
	*ret_envelope = api_sync(list);
	return 200;
}

HANDLER(handle_pool_get)
{
	struct storage_pool *pool = instance_env_pool(&d->env, req->params[0]);

	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", req->params[0]);
	*ret_envelope = api_sync(pool_to_json(d, pool));
	return 200;
}

HANDLER(handle_pool_resources)
{
	struct storage_pool *pool = instance_env_pool(&d->env, req->params[0]);
	json_object *o, *space;
	uint64_t used = 0, total = 0, snap_bytes = 0;
	size_t snap_count = 0, snap_sized = 0;
	int r;

	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", req->params[0]);
	r = storage_pool_usage(pool, &used, &total, err);
	if (r < 0)
		return r;
	o = json_object_new_object();
	space = json_object_new_object();
	json_object_object_add(space, "used", json_object_new_int64((int64_t)used));
	json_object_object_add(space, "total", json_object_new_int64((int64_t)total));
	json_object_object_add(o, "space", space);
	/* cairn's own: what the pool's snapshots hold alone, the capacity of its snapshot chains.
	 */
	if (snapshot_pool_usage(&d->env, pool->name, &snap_bytes, &snap_count, &snap_sized, NULL) >=
	    0) {
		json_object *snaps = json_object_new_object();

		json_object_object_add(snaps, "count", json_object_new_int64((int64_t)snap_count));
		json_object_object_add(snaps, "exclusive",
				       snap_sized ? json_object_new_int64((int64_t)snap_bytes)
						  : NULL);
		json_object_object_add(o, "snapshots", snaps);
	}
	*ret_envelope = api_sync(o);
	return 200;
}

HANDLER(handle_pools_create)
{
	const char *name = NULL, *driver = NULL, *source = NULL, *size_text = NULL;
	json_object *config = NULL;
	uint64_t size = 0;
	int r;

	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	if ((r = body_string(req->body, "name", true, &name, err)) < 0 ||
	    (r = body_string(req->body, "driver", true, &driver, err)) < 0 ||
	    (r = body_object(req->body, "config", false, &config, err)) < 0 ||
	    (r = body_string(config, "source", false, &source, err)) < 0 ||
	    (r = body_string(config, "size", false, &size_text, err)) < 0)
		return r;
	if (size_text && (r = parse_size(size_text, &size, err)) < 0)
		return r;
	if (config) {
		json_object_object_foreach(config, key, val)
		{
			(void)val;
			if (strcmp(key, "source") != 0 && strcmp(key, "size") != 0)
				return err_set(
				    err, -EINVAL,
				    "Unknown storage pool key \"%s\" (use source or size)", key);
		}
	}
	pthread_mutex_lock(&pools_lock);
	r = daemon_pool_create(d, name, driver, source, size, err);
	pthread_mutex_unlock(&pools_lock);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}

HANDLER(handle_pool_delete)
{
	int r;

	pthread_mutex_lock(&pools_lock);
	r = daemon_pool_delete(d, req->params[0], err);
	pthread_mutex_unlock(&pools_lock);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}

/*
 * PUT (`merge` false: the config given is the whole config) and PATCH (the keys given change).
 * Of the config only `size` can change after creation, and only grow a loop file; `source` must
 * stay what it is; anything else is refused by name. The description can change.
 */
static int update_pool(struct daemon *d, struct request *req, bool merge, struct err **err)
{
	struct storage_pool *pool = instance_env_pool(&d->env, req->params[0]);
	const char *description = NULL, *size_text = NULL;
	json_object *config = NULL;
	uint64_t size = 0;
	int r;

	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", req->params[0]);
	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	if ((r = body_object(req->body, "config", false, &config, err)) < 0 ||
	    (r = body_string(req->body, "description", false, &description, err)) < 0)
		return r;
	if (description && (r = config_text_valid("description", description, err)) < 0)
		return r;
	if (config) {
		json_object_object_foreach(config, key, val)
		{
			const char *v;

			if (!json_object_is_type(val, json_type_string))
				return err_set(err, -EINVAL,
					       "Storage pool key \"%s\" must be a string", key);
			v = json_object_get_string(val);
			if (strcmp(key, "source") == 0) {
				if (strcmp(v, pool->source) != 0)
					return err_set(err, -EINVAL,
						       "Storage pool key \"source\" cannot be "
						       "changed after creation");
			} else if (strcmp(key, "size") == 0) {
				size_text = v;
			} else {
				return err_set(err, -EINVAL,
					       "Unknown or read-only storage pool key \"%s\" (only "
					       "size can be set after creation)",
					       key);
			}
		}
	}
	if (size_text) {
		_cleanup_free_ char *shown = format_size(pool->size);

		/* What GET shows (rounded) and clients send back is no change. */
		if (shown && strcmp(shown, size_text) == 0)
			size_text = NULL;
	}
	if (size_text) {
		r = parse_size(size_text, &size, err);
		if (r < 0)
			return r;
		if (!size)
			return err_set(err, -EINVAL, "Invalid size \"%s\" for storage pool \"%s\"",
				       size_text, pool->name);
	}
	if (!merge && !json_object_object_get_ex(config, "source", NULL))
		return err_set(err, -EINVAL,
			       "Storage pool key \"source\" cannot be unset (storage pool \"%s\")",
			       pool->name);
	/* A whole config without the size of a loop pool would unset it. */
	if (!merge && pool->size && !json_object_object_get_ex(config, "size", NULL))
		return err_set(err, -EINVAL,
			       "Storage pool key \"size\" cannot be unset (storage pool \"%s\" "
			       "is a loop file)",
			       pool->name);
	pthread_mutex_lock(&pools_lock);
	r = daemon_pool_update(d, pool->name, size, description, err);
	pthread_mutex_unlock(&pools_lock);
	return r;
}

HANDLER(handle_pool_put)
{
	int r = update_pool(d, req, false, err);

	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}

HANDLER(handle_pool_patch)
{
	int r = update_pool(d, req, true, err);

	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}
