#include "cmd/cairn/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/names.h"
#include "config/yaml.h"

int cli_cmd_storage_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *list = NULL;
	enum cli_format fmt;
	int r;

	r = cli_list_fetch(ctx, args, "/1.0/storage-pools?recursion=1", "pool list", &fmt, &list,
			   err);
	if (r < 0)
		return r;
	return cli_render_pool_list(ctx->out, list, fmt, err);
}

static json_object *size_string(long long bytes)
{
	_cleanup_free_ char *s = format_size((uint64_t)(bytes > 0 ? bytes : 0));

	return json_object_new_string(s ? s : "");
}

/* Sorts the users of a pool into "images" and "instances" lists of names, leaving out the
 * empty ones, as `incus storage info` does. */
static json_object *used_by_view(json_object *pool)
{
	static const char *const kinds[] = {"images", "instances"};
	json_object *view = json_object_new_object();
	json_object *used = NULL;

	if (!view)
		return NULL;
	if (!json_object_object_get_ex(pool, "used_by", &used) ||
	    !json_object_is_type(used, json_type_array))
		return view;
	for (size_t k = 0; k < 2; k++) {
		_cleanup_free_ char *prefix = str_printf("/1.0/%s/", kinds[k]);
		json_object *names = json_object_new_array();

		if (!prefix || !names) {
			json_object_put(names);
			continue;
		}
		for (size_t i = 0; i < json_object_array_length(used); i++) {
			const char *url =
			    json_object_get_string(json_object_array_get_idx(used, i));
			_cleanup_free_ char *name = NULL;

			if (!url || !str_startswith(url, prefix))
				continue;
			name = cli_url_basename(url);
			if (name)
				json_object_array_add(names, json_object_new_string(name));
		}
		if (json_object_array_length(names) > 0)
			json_object_object_add(view, kinds[k], names);
		else
			json_object_put(names);
	}
	return view;
}

int cli_cmd_storage_info(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *pool = NULL;
	_cleanup_json_ json_object *res = NULL;
	_cleanup_json_ json_object *view = NULL;
	_cleanup_free_ char *e = cli_escape(args->argv[0]);
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *res_path = NULL;
	struct cli_client *c = NULL;
	json_object *info, *space = NULL, *snaps = NULL;
	const char *s;
	int r;

	if (!e)
		return err_set(err, -ENOMEM, "Out of memory");
	path = str_printf("/1.0/storage-pools/%s", e);
	res_path = str_printf("/1.0/storage-pools/%s/resources", e);
	if (!path || !res_path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "GET", path, NULL, &pool, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "GET", res_path, NULL, &res, err);
	if (r < 0)
		return r;
	json_object_object_get_ex(res, "space", &space);

	view = json_object_new_object();
	info = json_object_new_object();
	if (!view || !info) {
		json_object_put(info);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	json_object_object_add(view, "info", info);
	s = api_get_string(pool, "description");
	json_object_object_add(info, "description", json_object_new_string(s ? s : ""));
	s = api_get_string(pool, "driver");
	json_object_object_add(info, "driver", json_object_new_string(s ? s : ""));
	s = api_get_string(pool, "name");
	json_object_object_add(info, "name", json_object_new_string(s ? s : args->argv[0]));
	json_object_object_add(info, "space used", size_string(api_get_int(space, "used", 0)));
	json_object_object_add(info, "total space", size_string(api_get_int(space, "total", 0)));
	if (json_object_object_get_ex(res, "snapshots", &snaps)) {
		long long held = api_get_int(snaps, "exclusive", -1);

		json_object_object_add(info, "snapshots",
				       json_object_new_int64(api_get_int(snaps, "count", 0)));
		if (held >= 0)
			json_object_object_add(info, "held by snapshots alone", size_string(held));
	}
	json_object_object_add(view, "used by", used_by_view(pool));
	return cli_render_yaml(ctx->out, view, err);
}

int cli_cmd_storage_create(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	json_object *config = json_object_new_object();
	struct cli_client *c = NULL;
	int r;

	if (!body || !config) {
		json_object_put(config);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	json_object_object_add(body, "config", config);
	r = config_pool_name_valid(args->argv[0], err);
	if (r < 0)
		return r;
	json_object_object_add(body, "name", json_object_new_string(args->argv[0]));
	json_object_object_add(body, "driver", json_object_new_string(args->argv[1]));
	for (size_t i = 2; i < args->argc; i++) {
		const char *eq = strchr(args->argv[i], '=');
		_cleanup_free_ char *key = NULL;

		if (!eq || eq == args->argv[i])
			return err_set(err, -EINVAL, "Bad key=value pair: \"%s\"", args->argv[i]);
		key = strndup(args->argv[i], (size_t)(eq - args->argv[i]));
		if (!key)
			return err_set(err, -ENOMEM, "Out of memory");
		json_object_object_add(config, key, json_object_new_string(eq + 1));
	}
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "POST", "/1.0/storage-pools", body, NULL, err);
	if (r < 0)
		return r;
	fprintf(ctx->out, "Storage pool %s created\n", args->argv[0]);
	return 0;
}

/* The pool `name` (GET) and its path; *ret_path the caller's to free. */
static int fetch_pool(struct cli_ctx *ctx, const char *name, struct cli_client **ret_client,
		      char **ret_path, json_object **ret_pool, struct err **err)
{
	_cleanup_free_ char *e = NULL, *path = NULL;
	int r;

	r = config_pool_name_valid(name, err);
	if (r < 0)
		return r;
	e = cli_escape(name);
	path = e ? str_printf("/1.0/storage-pools/%s", e) : NULL;
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_ctx_client(ctx, ret_client, err);
	if (r < 0)
		return r;
	r = cli_client_query(*ret_client, "GET", path, NULL, ret_pool, err);
	if (r < 0)
		return r;
	*ret_path = steal_pointer(&path);
	return 0;
}

int cli_cmd_storage_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_free_ char *e = NULL, *path = NULL;
	struct cli_client *c = NULL;
	int r;

	r = config_pool_name_valid(args->argv[0], err);
	if (r < 0)
		return r;
	e = cli_escape(args->argv[0]);
	path = e ? str_printf("/1.0/storage-pools/%s", e) : NULL;
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "DELETE", path, NULL, NULL, err);
	if (r < 0)
		return r;
	fprintf(ctx->out, "Storage pool %s deleted\n", args->argv[0]);
	return 0;
}

/* What `storage show` prints and `storage edit` edits, as Incus shows it. */
static json_object *pool_view(json_object *pool)
{
	static const char *const keys[] = {"name",   "description", "driver",
					   "config", "used_by",	    "status"};
	json_object *view = json_object_new_object();

	for (size_t i = 0; view && i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_object *v = NULL;

		if (json_object_object_get_ex(pool, keys[i], &v))
			json_object_object_add(view, keys[i], json_object_get(v));
	}
	return view;
}

int cli_cmd_storage_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *pool = NULL;
	_cleanup_json_ json_object *view = NULL;
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	int r;

	r = fetch_pool(ctx, args->argv[0], &c, &path, &pool, err);
	if (r < 0)
		return r;
	view = pool_view(pool);
	if (!view)
		return err_set(err, -ENOMEM, "Out of memory");
	return cli_render_yaml(ctx->out, view, err);
}

int cli_cmd_storage_get(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *pool = NULL;
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	json_object *config = NULL, *v = NULL;
	int r;

	r = fetch_pool(ctx, args->argv[0], &c, &path, &pool, err);
	if (r < 0)
		return r;
	if (strcmp(args->argv[1], "description") == 0) {
		const char *s = api_get_string(pool, "description");

		fprintf(ctx->out, "%s\n", s ? s : "");
		return 0;
	}
	json_object_object_get_ex(pool, "config", &config);
	if (config && json_object_object_get_ex(config, args->argv[1], &v))
		fprintf(ctx->out, "%s\n", json_object_get_string(v));
	else
		fprintf(ctx->out, "\n");
	return 0;
}

/* PUTs `config` and `description` back to the pool at `path`. */
static int put_pool(struct cli_client *c, const char *path, json_object *config,
		    const char *description, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	json_object_object_add(body, "config",
			       config ? json_object_get(config) : json_object_new_object());
	json_object_object_add(body, "description",
			       json_object_new_string(description ? description : ""));
	return cli_client_query(c, "PUT", path, body, NULL, err);
}

int cli_cmd_storage_set(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *pool = NULL;
	_cleanup_free_ char *path = NULL, *description = NULL;
	struct cli_client *c = NULL;
	_cleanup_json_ json_object *settings = NULL;
	json_object *config = NULL;
	int r;

	r = cli_parse_settings(args->argv + 1, args->argc - 1, &settings, err);
	if (r < 0)
		return r;
	r = fetch_pool(ctx, args->argv[0], &c, &path, &pool, err);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(pool, "config", &config) ||
	    !json_object_is_type(config, json_type_object))
		return err_set(err, -EPROTO, "Invalid answer from cairnd: the pool has no config");
	description = strdup(api_get_string(pool, "description") ?: "");
	if (!description)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_settings_apply(settings, config, &description, err);
	if (r < 0)
		return r;
	return put_pool(c, path, config, description, err);
}

int cli_cmd_storage_unset(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *pool = NULL;
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	json_object *config = NULL;
	int r;

	r = fetch_pool(ctx, args->argv[0], &c, &path, &pool, err);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(pool, "config", &config) ||
	    !json_object_object_get_ex(config, args->argv[1], NULL))
		return err_set(err, -EINVAL, "Storage pool key \"%s\" is not set", args->argv[1]);
	json_object_object_del(config, args->argv[1]);
	return put_pool(c, path, config, api_get_string(pool, "description"), err);
}

/* Applies the YAML `text` (description and config, as `storage show` prints them). */
static int apply_pool_yaml(struct cli_client *c, const char *path, const char *text,
			   struct err **err)
{
	_cleanup_json_ json_object *doc = NULL;
	json_object *config = NULL;
	const char *description = NULL;
	int r;

	r = cli_parse_object_yaml(text, "storage pool", &doc, &config, &description, err);
	if (r < 0)
		return r;
	return put_pool(c, path, config, description, err);
}

/* What apply_pool_yaml() needs as a cli_edit() callback. */
struct pool_edit {
	struct cli_client *c;
	const char *path;
};

static int apply_pool_edit(void *data, const char *text, struct err **err)
{
	struct pool_edit *e = data;

	return apply_pool_yaml(e->c, e->path, text, err);
}

int cli_cmd_storage_edit(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *pool = NULL;
	_cleanup_json_ json_object *view = NULL;
	_cleanup_free_ char *path = NULL;
	struct pool_edit e = {0};
	int r;

	r = fetch_pool(ctx, args->argv[0], &e.c, &path, &pool, err);
	if (r < 0)
		return r;
	e.path = path;
	view = pool_view(pool);
	if (!view)
		return err_set(err, -ENOMEM, "Out of memory");
	return cli_edit(ctx, view, NULL, apply_pool_edit, &e, err);
}
