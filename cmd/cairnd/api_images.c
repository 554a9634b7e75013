/* /1.0/images and /1.0/images/aliases. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/api.h"
#include "cmd/cairnd/body.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/handlers.h"
#include "cmd/cairnd/operations.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db.h"
#include "config/names.h"
#include "instance/images.h"
#include "storage/storage.h"

static json_object *image_to_json(const struct db_image *img)
{
	json_object *o = json_object_new_object(), *aliases = json_object_new_array(),
		    *props = json_object_new_object();
	_cleanup_free_ char *created = time_format_rfc3339(img->created_at);
	_cleanup_free_ char *uploaded = time_format_rfc3339(img->uploaded_at);

	for (size_t i = 0; img->aliases && img->aliases[i]; i++) {
		json_object *a = json_object_new_object();

		json_object_object_add(a, "name", json_object_new_string(img->aliases[i]));
		json_object_object_add(a, "description", json_object_new_string(""));
		json_object_array_add(aliases, a);
	}
	for (size_t i = 0; i < img->properties.n; i++)
		json_object_object_add(props, img->properties.items[i].key,
				       json_object_new_string(img->properties.items[i].value));
	json_object_object_add(o, "fingerprint", json_object_new_string(img->fingerprint));
	json_object_object_add(o, "aliases", aliases);
	json_object_object_add(o, "architecture",
			       json_object_new_string(img->architecture ? img->architecture : ""));
	json_object_object_add(o, "type", json_object_new_string("container"));
	json_object_object_add(o, "public", json_object_new_boolean(0));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)img->size));
	json_object_object_add(o, "created_at", json_object_new_string(created ? created : ""));
	json_object_object_add(o, "uploaded_at", json_object_new_string(uploaded ? uploaded : ""));
	json_object_object_add(o, "properties", props);
	json_object_object_add(o, "pool", json_object_new_string(img->pool ? img->pool : ""));
	/* The rest of the image object of LXD and Incus: cairn keeps no image file name, never
	 * refreshes or expires an image, and does not record its last use. */
	json_object_object_add(o, "filename", json_object_new_string(""));
	json_object_object_add(o, "auto_update", json_object_new_boolean(0));
	json_object_object_add(o, "cached", json_object_new_boolean(0));
	json_object_object_add(o, "expires_at", json_object_new_string("0001-01-01T00:00:00Z"));
	json_object_object_add(o, "last_used_at", json_object_new_string("0001-01-01T00:00:00Z"));
	return o;
}

HANDLER(handle_images_list)
{
	struct db_image *rows = NULL;
	size_t n = 0;
	int recursion = request_recursion(req);
	json_object *list;
	int r;

	r = db_image_list(d->env.db, &rows, &n, err);
	if (r < 0)
		return r;
	list = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		if (rows[i].state != DB_ROW_READY)
			continue;
		if (recursion >= 1) {
			json_object_array_add(list, image_to_json(&rows[i]));
		} else {
			_cleanup_free_ char *url =
			    str_printf("/1.0/images/%s", rows[i].fingerprint);

			json_object_array_add(list, json_object_new_string(url ? url : ""));
		}
	}
	db_images_free(rows, n);
	*ret_envelope = api_sync(list);
	return 200;
}

HANDLER(handle_image_get)
{
	_cleanup_free_ char *fp = NULL;
	_cleanup_(db_image_done) struct db_image img = {0};
	int r;

	r = instance_image_resolve(&d->env, req->params[0], &fp, err);
	if (r < 0)
		return r;
	r = db_image_get(d->env.db, fp, &img, err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(image_to_json(&img));
	return 200;
}

struct image_job {
	int fd;
	char *aliases;
	char *fingerprint;
};

static void image_job_free(void *p)
{
	struct image_job *job = p;

	if (!job)
		return;
	if (job->fd >= 0)
		close(job->fd);
	free(job->aliases);
	free(job->fingerprint);
	free(job);
}

static int run_import(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct image_job *job = data;
	_cleanup_free_ char *fp = NULL;
	json_object *md;
	int r;

	r = instance_image_import(&d->env, job->fd, "default", job->aliases, &fp, err);
	if (r < 0)
		return r;
	md = json_object_new_object();
	json_object_object_add(md, "fingerprint", json_object_new_string(fp));
	*ret_md = md;
	return 0;
}

int spool_image(struct daemon *d, struct request *req, char **ret_dir, struct err **err)
{
	struct storage_pool *pool = instance_env_pool(&d->env, "default");
	char *dir;

	(void)req;
	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"default\" not found");
	dir = strdup(pool->mount_path);
	if (!dir)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret_dir = dir;
	return 0;
}

HANDLER(handle_images_create)
{
	const char *aliases =
	    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Incus-aliases");
	struct image_job *job;
	int r;

	if (req->body_fd < 0)
		return err_set(err, -EINVAL, "Missing image file in the request body");
	if (lseek(req->body_fd, 0, SEEK_END) <= 0)
		return err_set(err, -EINVAL, "The image file is empty");
	if (!instance_env_pool(&d->env, "default"))
		return err_set(err, -ENOENT, "Storage pool \"default\" not found");
	job = calloc(1, sizeof(*job));
	if (!job)
		return err_set(err, -ENOMEM, "Out of memory");
	/* The operation outlives the request, so it takes its own descriptor. */
	job->fd = fcntl(req->body_fd, F_DUPFD_CLOEXEC, 3);
	job->aliases = aliases ? strdup(aliases) : NULL;
	if (job->fd < 0 || (aliases && !job->aliases)) {
		image_job_free(job);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	/* Cancellable: the unpacking stops between entries and removes what it made. */
	r = operation_start_cancellable(d, "Importing image", json_object_new_object(), run_import,
					job, image_job_free, NULL, ret_envelope, err);
	return r < 0 ? r : 202;
}

static int run_image_delete(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct image_job *job = data;

	(void)ret_md;
	return instance_image_delete(&d->env, job->fingerprint, err);
}

HANDLER(handle_image_delete)
{
	struct image_job *job;
	_cleanup_free_ char *fp = NULL;
	int r;

	r = instance_image_resolve(&d->env, req->params[0], &fp, err);
	if (r < 0)
		return r;
	job = calloc(1, sizeof(*job));
	if (!job)
		return err_set(err, -ENOMEM, "Out of memory");
	job->fd = -EBADF;
	job->fingerprint = steal_pointer(&fp);
	r = operation_start(d, "Deleting image", json_object_new_object(), run_image_delete, job,
			    image_job_free, NULL, ret_envelope, err);
	return r < 0 ? r : 202;
}

HANDLER(handle_aliases_list)
{
	struct db_image *rows = NULL;
	size_t n = 0;
	json_object *list;
	int r;

	r = db_image_list(d->env.db, &rows, &n, err);
	if (r < 0)
		return r;
	list = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		for (size_t a = 0;
		     rows[i].state == DB_ROW_READY && rows[i].aliases && rows[i].aliases[a]; a++) {
			if (request_recursion(req) >= 1) {
				json_object *o = json_object_new_object();
				_cleanup_free_ char *fp = NULL, *desc = NULL;

				/* Aliases are few: one small query each for its description. */
				db_alias_get(d->env.db, rows[i].aliases[a], &fp, &desc, NULL);
				json_object_object_add(o, "name",
						       json_object_new_string(rows[i].aliases[a]));
				json_object_object_add(o, "target",
						       json_object_new_string(rows[i].fingerprint));
				json_object_object_add(o, "description",
						       json_object_new_string(desc ? desc : ""));
				json_object_array_add(list, o);
			} else {
				_cleanup_free_ char *url =
				    str_printf("/1.0/images/aliases/%s", rows[i].aliases[a]);

				json_object_array_add(list, json_object_new_string(url ? url : ""));
			}
		}
	}
	db_images_free(rows, n);
	*ret_envelope = api_sync(list);
	return 200;
}

HANDLER(handle_aliases_create)
{
	const char *name = NULL, *target = NULL, *description = "";
	_cleanup_free_ char *fp = NULL;
	int r;

	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	if ((r = body_string(req->body, "name", true, &name, err)) < 0 ||
	    (r = body_string(req->body, "target", true, &target, err)) < 0 ||
	    (r = body_string(req->body, "description", false, &description, err)) < 0)
		return r;
	r = config_alias_name_valid(name, err);
	if (r < 0)
		return r;
	r = instance_image_resolve(&d->env, target, &fp, err);
	if (r < 0)
		return r;
	r = db_alias_add(d->env.db, name, fp, description, err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}

HANDLER(handle_alias_get)
{
	_cleanup_free_ char *fp = NULL, *description = NULL;
	json_object *o;
	int r;

	r = db_alias_get(d->env.db, req->params[0], &fp, &description, err);
	if (r < 0)
		return r;
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(req->params[0]));
	json_object_object_add(o, "target", json_object_new_string(fp));
	json_object_object_add(o, "description", json_object_new_string(description));
	*ret_envelope = api_sync(o);
	return 200;
}

HANDLER(handle_alias_delete)
{
	int r = db_alias_delete(d->env.db, req->params[0], err);

	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}
