/* `cairn profile ...`, `cairn profile device ...` and `cairn config device ...`: profiles and the
 * devices of profiles and instances, over /1.0/profiles and /1.0/instances as the Incus client
 * drives them. */
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
#include "config/yaml.h"

/* ---- pure helpers ---- */

static int parse_word(const char *word, char **ret_key, const char **ret_value, struct err **err)
{
	const char *eq = strchr(word, '=');

	if (!eq)
		return err_set(err, -EINVAL, "No value found in \"%s\"", word);
	if (eq == word)
		return err_set(err, -EINVAL, "Invalid device key in \"%s\"", word);
	*ret_key = strndup(word, (size_t)(eq - word));
	if (!*ret_key)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret_value = eq + 1;
	return 0;
}

/* Sets the KEY=VALUE `words` on the device object `dev`. */
static int apply_words(json_object *dev, char *const *words, size_t n, struct err **err)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *key = NULL;
		const char *value = NULL;
		int r = parse_word(words[i], &key, &value, err);

		if (r < 0)
			return r;
		json_object_object_add(dev, key, json_object_new_string(value));
	}
	return 0;
}

int cli_device_parse(const char *type, char *const *words, size_t n, json_object **ret,
		     struct err **err)
{
	_cleanup_json_ json_object *dev = json_object_new_object();
	int r;

	if (!dev)
		return err_set(err, -ENOMEM, "Out of memory");
	json_object_object_add(dev, "type", json_object_new_string(type));
	r = apply_words(dev, words, n, err);
	if (r < 0)
		return r;
	*ret = steal_pointer(&dev);
	return 0;
}

/* A copy of device object `dev` whose values are all strings. */
static json_object *device_copy(json_object *dev)
{
	json_object *copy = json_object_new_object();

	if (!copy || !dev || !json_object_is_type(dev, json_type_object))
		return copy;
	json_object_object_foreach(dev, k, v) json_object_object_add(
	    copy, k, json_object_new_string(v ? json_object_get_string(v) : ""));
	return copy;
}

int cli_device_override(json_object *own, json_object *expanded, const char *name,
			char *const *words, size_t n, json_object **ret, struct err **err)
{
	_cleanup_json_ json_object *dev = NULL;
	json_object *from = NULL;
	int r;

	if (own && json_object_object_get_ex(own, name, NULL))
		return err_set(err, -EEXIST, "The device already exists");
	if (!expanded || !json_object_object_get_ex(expanded, name, &from) || !from)
		return err_set(err, -ENOENT, "The profile device doesn't exist");
	dev = device_copy(from);
	if (!dev)
		return err_set(err, -ENOMEM, "Out of memory");
	r = apply_words(dev, words, n, err);
	if (r < 0)
		return r;
	*ret = steal_pointer(&dev);
	return 0;
}

json_object *cli_profile_view(json_object *profile)
{
	json_object *v = json_object_new_object();
	json_object *config = NULL, *devices = NULL, *used = NULL;
	const char *s;

	if (!v)
		return NULL;
	json_object_object_get_ex(profile, "config", &config);
	json_object_object_get_ex(profile, "devices", &devices);
	json_object_object_get_ex(profile, "used_by", &used);
	json_object_object_add(v, "config", cli_sorted_copy(config));
	s = api_get_string(profile, "description");
	json_object_object_add(v, "description", json_object_new_string(s ? s : ""));
	json_object_object_add(v, "devices", cli_sorted_copy(devices));
	s = api_get_string(profile, "name");
	json_object_object_add(v, "name", json_object_new_string(s ? s : ""));
	json_object_object_add(v, "used_by",
			       used && json_object_is_type(used, json_type_array)
				   ? json_object_get(used)
				   : json_object_new_array());
	return v;
}

/* "Invalid profile at line N: MSG", N the line of `key` in `text` when it is found. */
static int profile_yaml_error(const char *text, const char *key, const char *msg, struct err **err)
{
	unsigned line = key ? cli_yaml_key_line(text, key) : 1;

	if (line)
		return err_set(err, -EINVAL, "Invalid profile at line %u: %s", line, msg);
	return err_set(err, -EINVAL, "Invalid profile: %s", msg);
}

/* Whether `v` is a YAML scalar: a string, boolean or number. */
static bool is_scalar(json_object *v)
{
	return v &&
	       (json_object_is_type(v, json_type_string) ||
		json_object_is_type(v, json_type_boolean) ||
		json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double));
}

/* Object `o` of scalars as an object of strings; NULL (YAML's empty value) is an empty one. */
static int strings_object(const char *text, const char *field, json_object *o, json_object **ret,
			  struct err **err)
{
	_cleanup_json_ json_object *copy = json_object_new_object();

	if (!copy)
		return err_set(err, -ENOMEM, "Out of memory");
	if (o && !json_object_is_type(o, json_type_object)) {
		_cleanup_free_ char *msg = str_printf("\"%s\" must map keys to values", field);

		return profile_yaml_error(text, field, msg ? msg : field, err);
	}
	if (!o) {
		*ret = steal_pointer(&copy);
		return 0;
	}
	json_object_object_foreach(o, k, v)
	{
		if (v && !is_scalar(v)) {
			_cleanup_free_ char *msg =
			    str_printf("The value of \"%s\" must be a string", k);

			return profile_yaml_error(text, k, msg ? msg : k, err);
		}
		json_object_object_add(copy, k,
				       json_object_new_string(v ? json_object_get_string(v) : ""));
	}
	*ret = steal_pointer(&copy);
	return 0;
}

/* The devices of an edited profile, `v` (NULL: none), into the object `devices`. */
static int devices_from_yaml(const char *text, json_object *v, json_object *devices,
			     struct err **err)
{
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return profile_yaml_error(text, "devices",
					  "\"devices\" must map device names to devices", err);
	json_object_object_foreach(v, name, dev)
	{
		json_object *keys = NULL;
		int r;

		if (!dev || !json_object_is_type(dev, json_type_object)) {
			_cleanup_free_ char *msg =
			    str_printf("Device \"%s\" must map keys to values", name);

			return profile_yaml_error(text, name, msg ? msg : name, err);
		}
		r = strings_object(text, name, dev, &keys, err);
		if (r < 0)
			return r;
		json_object_object_add(devices, name, keys);
	}
	return 0;
}

int cli_profile_from_yaml(const char *text, json_object *current, json_object **ret_body,
			  struct err **err)
{
	_cleanup_json_ json_object *tree = NULL;
	_cleanup_json_ json_object *body = json_object_new_object();
	json_object *v = NULL;
	int r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	r = config_yaml_parse(text, strlen(text), &tree, err);
	if (r < 0)
		return r;
	if (!tree)
		tree = json_object_new_object();
	if (!tree || !json_object_is_type(tree, json_type_object))
		return profile_yaml_error(text, NULL, "expected a mapping", err);

	if (json_object_object_get_ex(tree, "description", &v)) {
		if (v && !is_scalar(v))
			return profile_yaml_error(text, "description",
						  "\"description\" must be a string", err);
		json_object_object_add(body, "description",
				       json_object_new_string(v ? json_object_get_string(v) : ""));
	} else {
		const char *s = api_get_string(current, "description");

		json_object_object_add(body, "description", json_object_new_string(s ? s : ""));
	}

	if (json_object_object_get_ex(tree, "config", &v)) {
		json_object *config = NULL;

		r = strings_object(text, "config", v, &config, err);
		if (r < 0)
			return r;
		json_object_object_add(body, "config", config);
	} else {
		json_object_object_get_ex(current, "config", &v);
		json_object_object_add(body, "config", cli_sorted_copy(v));
	}

	if (json_object_object_get_ex(tree, "devices", &v)) {
		json_object *devices = json_object_new_object();

		if (!devices)
			return err_set(err, -ENOMEM, "Out of memory");
		json_object_object_add(body, "devices", devices);
		r = devices_from_yaml(text, v, devices, err);
		if (r < 0)
			return r;
	} else {
		json_object_object_get_ex(current, "devices", &v);
		json_object_object_add(body, "devices", cli_sorted_copy(v));
	}
	*ret_body = steal_pointer(&body);
	return 0;
}

/* ---- talking to the daemon ---- */

static int object_path(const char *collection, const char *name, char **ret, struct err **err)
{
	_cleanup_free_ char *e = cli_escape(name);

	*ret = e ? str_printf("/1.0/%s/%s", collection, e) : NULL;
	if (!*ret)
		return err_set(err, -ENOMEM, "Out of memory");
	return 0;
}

/* A profile or an instance whose devices a command changes. */
struct target {
	bool profile;	      /* a profile, else an instance */
	const char *name;     /* as the user typed it, borrowed */
	char *path;	      /* "/1.0/profiles/web", owned */
	json_object *obj;     /* as GET answered it, owned */
	struct cli_client *c; /* borrowed from the context */
};

static void target_done(struct target *t)
{
	free(t->path);
	json_object_put(t->obj);
	*t = (struct target){0};
}

static int target_fetch(struct cli_ctx *ctx, const struct cli_args *args, bool profile,
			const char *name, struct target *ret, struct err **err)
{
	int r;

	*ret = (struct target){.profile = profile, .name = name};
	if (!profile) {
		r = cli_instance_arg_check(ctx, args, name, err);
		if (r < 0)
			return r;
	}
	r = object_path(profile ? "profiles" : "instances", name, &ret->path, err);
	if (r < 0)
		return r;
	r = cli_ctx_client(ctx, &ret->c, err);
	if (r < 0)
		return r;
	return cli_client_query(ret->c, "GET", ret->path, NULL, &ret->obj, err);
}

/* The devices of the target (its own ones for an instance); never NULL for a fetched one. */
static json_object *target_devices(const struct target *t)
{
	json_object *d = NULL;

	if (!json_object_object_get_ex(t->obj, "devices", &d) || !d ||
	    !json_object_is_type(d, json_type_object)) {
		d = json_object_new_object();
		json_object_object_add(t->obj, "devices", d);
	}
	return d;
}

static json_object *target_expanded(const struct target *t)
{
	json_object *d = NULL;

	if (t->profile || !json_object_object_get_ex(t->obj, "expanded_devices", &d))
		return NULL;
	return d;
}

/* PATCH the devices in `changed` (each replaces the device of its name whole). */
static int target_patch(struct target *t, json_object *changed, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();

	if (!body) {
		json_object_put(changed);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	json_object_object_add(body, "devices", changed);
	return cli_client_query(t->c, "PATCH", t->path, body, NULL, err);
}

/* PUT the target back with its (changed) devices: what a removal needs, since a PATCH only
 * adds and replaces. */
static int target_put(struct target *t, struct err **err)
{
	static const char *const profile_fields[] = {"description", "config", "devices", NULL};
	static const char *const instance_fields[] = {"description", "config",	  "devices",
						      "profiles",    "ephemeral", NULL};
	_cleanup_json_ json_object *body = json_object_new_object();

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	for (const char *const *f = t->profile ? profile_fields : instance_fields; *f; f++) {
		json_object *v = NULL;

		if (json_object_object_get_ex(t->obj, *f, &v))
			json_object_object_add(body, *f, json_object_get(v));
	}
	return cli_client_query(t->c, "PUT", t->path, body, NULL, err);
}

/* What a device change on a running instance adds to its message. */
static const char *next_start_note(const struct target *t)
{
	const char *status = t->profile ? NULL : api_get_string(t->obj, "status");

	return status && strcasecmp(status, "Running") == 0 ? " (takes effect at the next start)"
							    : "";
}

/* The device `dev` of the target's own devices, or the error Incus gives for one that comes
 * from a profile (`what`: "modified for", "removed from") or does not exist. */
static int own_device(const struct target *t, const char *dev, const char *what, json_object **ret,
		      struct err **err)
{
	json_object *d = NULL, *expanded = target_expanded(t);

	if (json_object_object_get_ex(target_devices(t), dev, &d) && d &&
	    json_object_is_type(d, json_type_object)) {
		*ret = d;
		return 0;
	}
	if (expanded && json_object_object_get_ex(expanded, dev, NULL))
		return err_set(err, -EINVAL,
			       "Device from profile(s) cannot be %s individual instance. "
			       "Override device or modify profile instead",
			       what);
	return err_set(err, -ENOENT, "Device doesn't exist");
}

/* ---- device commands, shared by profile device and config device ---- */

static int device_add(struct cli_ctx *ctx, const struct cli_args *args, bool profile,
		      struct err **err)
{
	_cleanup_(target_done) struct target t = {0};
	_cleanup_json_ json_object *dev = NULL;
	json_object *changed = NULL;
	const char *name = args->argv[1];
	int r;

	r = cli_device_parse(args->argv[2], args->argv + 3, args->argc - 3, &dev, err);
	if (r < 0)
		return r;
	r = target_fetch(ctx, args, profile, args->argv[0], &t, err);
	if (r < 0)
		return r;
	if (json_object_object_get_ex(target_devices(&t), name, NULL))
		return err_set(err, -EEXIST, "The device already exists");
	changed = json_object_new_object();
	if (!changed)
		return err_set(err, -ENOMEM, "Out of memory");
	json_object_object_add(changed, name, steal_pointer(&dev));
	r = target_patch(&t, changed, err);
	if (r < 0)
		return r;
	fprintf(ctx->out, "Device %s added to %s%s\n", name, t.name, next_start_note(&t));
	return 0;
}

static int device_remove(struct cli_ctx *ctx, const struct cli_args *args, bool profile,
			 struct err **err)
{
	_cleanup_(target_done) struct target t = {0};
	json_object *devices;
	int r;

	r = target_fetch(ctx, args, profile, args->argv[0], &t, err);
	if (r < 0)
		return r;
	devices = target_devices(&t);
	for (size_t i = 1; i < args->argc; i++) {
		json_object *d = NULL;

		r = own_device(&t, args->argv[i], "removed from", &d, err);
		if (r < 0)
			return r;
		json_object_object_del(devices, args->argv[i]);
	}
	r = target_put(&t, err);
	if (r < 0)
		return r;
	for (size_t i = 1; i < args->argc; i++)
		fprintf(ctx->out, "Device %s removed from %s%s\n", args->argv[i], t.name,
			next_start_note(&t));
	return 0;
}

/* The devices of the instance or profile argv[0] names, sorted by name, into *ret. */
static int sorted_devices(struct cli_ctx *ctx, const struct cli_args *args, bool profile,
			  json_object **ret, struct err **err)
{
	_cleanup_(target_done) struct target t = {0};
	int r;

	r = target_fetch(ctx, args, profile, args->argv[0], &t, err);
	if (r < 0)
		return r;
	*ret = cli_sorted_copy(target_devices(&t));
	return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
}

static int device_list(struct cli_ctx *ctx, const struct cli_args *args, bool profile,
		       struct err **err)
{
	_cleanup_json_ json_object *sorted = NULL;
	int r;

	r = sorted_devices(ctx, args, profile, &sorted, err);
	if (r < 0)
		return r;
	json_object_object_foreach(sorted, name, dev)
	{
		(void)dev;
		fprintf(ctx->out, "%s\n", name);
	}
	return 0;
}

static int device_show(struct cli_ctx *ctx, const struct cli_args *args, bool profile,
		       struct err **err)
{
	_cleanup_json_ json_object *sorted = NULL;
	int r;

	r = sorted_devices(ctx, args, profile, &sorted, err);
	if (r < 0)
		return r;
	return cli_render_yaml(ctx->out, sorted, err);
}

static int device_get(struct cli_ctx *ctx, const struct cli_args *args, bool profile,
		      struct err **err)
{
	_cleanup_(target_done) struct target t = {0};
	json_object *dev = NULL, *expanded;
	const char *v;
	int r;

	r = target_fetch(ctx, args, profile, args->argv[0], &t, err);
	if (r < 0)
		return r;
	/* Reading may look through to a profile's device: nothing is changed. */
	expanded = target_expanded(&t);
	if (!json_object_object_get_ex(target_devices(&t), args->argv[1], &dev) &&
	    !(expanded && json_object_object_get_ex(expanded, args->argv[1], &dev)))
		return err_set(err, -ENOENT, "Device doesn't exist");
	v = api_get_string(dev, args->argv[2]);
	fprintf(ctx->out, "%s\n", v ? v : "");
	return 0;
}

static int device_set(struct cli_ctx *ctx, const struct cli_args *args, bool profile,
		      struct err **err)
{
	_cleanup_(target_done) struct target t = {0};
	_cleanup_json_ json_object *settings = NULL;
	json_object *dev = NULL, *changed;
	int r;

	r = cli_parse_settings(args->argv + 2, args->argc - 2, &settings, err);
	if (r < 0)
		return r;
	r = target_fetch(ctx, args, profile, args->argv[0], &t, err);
	if (r < 0)
		return r;
	r = own_device(&t, args->argv[1], "modified for", &dev, err);
	if (r < 0)
		return r;
	dev = device_copy(dev);
	changed = json_object_new_object();
	if (!dev || !changed) {
		json_object_put(dev);
		json_object_put(changed);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	json_object_object_foreach(settings, key, value)
	    json_object_object_add(dev, key, json_object_get(value));
	json_object_object_add(changed, args->argv[1], dev);
	r = target_patch(&t, changed, err);
	if (r < 0)
		return r;
	if (*next_start_note(&t))
		fprintf(ctx->out, "Device %s changed on %s%s\n", args->argv[1], t.name,
			next_start_note(&t));
	return 0;
}

static int device_unset(struct cli_ctx *ctx, const struct cli_args *args, bool profile,
			struct err **err)
{
	_cleanup_(target_done) struct target t = {0};
	json_object *dev = NULL, *changed;
	int r;

	r = target_fetch(ctx, args, profile, args->argv[0], &t, err);
	if (r < 0)
		return r;
	r = own_device(&t, args->argv[1], "modified for", &dev, err);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(dev, args->argv[2], NULL))
		return err_set(err, -EINVAL, "Device key \"%s\" is not set", args->argv[2]);
	dev = device_copy(dev);
	changed = json_object_new_object();
	if (!dev || !changed) {
		json_object_put(dev);
		json_object_put(changed);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	json_object_object_del(dev, args->argv[2]);
	json_object_object_add(changed, args->argv[1], dev);
	r = target_patch(&t, changed, err);
	if (r < 0)
		return r;
	if (*next_start_note(&t))
		fprintf(ctx->out, "Device %s changed on %s%s\n", args->argv[1], t.name,
			next_start_note(&t));
	return 0;
}

#define DEVICE_HANDLERS(op)                                                                        \
	int cli_cmd_profile_device_##op(struct cli_ctx *ctx, const struct cli_args *args,          \
					struct err **err)                                          \
	{                                                                                          \
		return device_##op(ctx, args, true, err);                                          \
	}                                                                                          \
	int cli_cmd_config_device_##op(struct cli_ctx *ctx, const struct cli_args *args,           \
				       struct err **err)                                           \
	{                                                                                          \
		return device_##op(ctx, args, false, err);                                         \
	}

DEVICE_HANDLERS(add)
DEVICE_HANDLERS(remove)
DEVICE_HANDLERS(list)
DEVICE_HANDLERS(show)
DEVICE_HANDLERS(get)
DEVICE_HANDLERS(set)
DEVICE_HANDLERS(unset)

int cli_cmd_config_device_override(struct cli_ctx *ctx, const struct cli_args *args,
				   struct err **err)
{
	_cleanup_(target_done) struct target t = {0};
	json_object *dev = NULL, *changed;
	int r;

	r = target_fetch(ctx, args, false, args->argv[0], &t, err);
	if (r < 0)
		return r;
	r = cli_device_override(target_devices(&t), target_expanded(&t), args->argv[1],
				args->argv + 2, args->argc - 2, &dev, err);
	if (r < 0)
		return r;
	changed = json_object_new_object();
	if (!changed) {
		json_object_put(dev);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	json_object_object_add(changed, args->argv[1], dev);
	r = target_patch(&t, changed, err);
	if (r < 0)
		return r;
	fprintf(ctx->out, "Device %s overridden for %s%s\n", args->argv[1], t.name,
		next_start_note(&t));
	return 0;
}

/* ---- profile commands ---- */

int cli_cmd_profile_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *list = NULL;
	enum cli_format fmt;
	int r;

	r = cli_list_fetch(ctx, args, "/1.0/profiles?recursion=1", "profile list", &fmt, &list,
			   err);
	if (r < 0)
		return r;
	return cli_render_profile_list(ctx->out, list, fmt, err);
}

int cli_cmd_profile_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_(target_done) struct target t = {0};
	_cleanup_json_ json_object *view = NULL;
	int r;

	r = target_fetch(ctx, args, true, args->argv[0], &t, err);
	if (r < 0)
		return r;
	view = cli_profile_view(t.obj);
	if (!view)
		return err_set(err, -ENOMEM, "Out of memory");
	return cli_render_yaml(ctx->out, view, err);
}

int cli_cmd_profile_create(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	const char *description = cli_flag_string(args, "description");
	struct cli_client *c = NULL;
	int r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	json_object_object_add(body, "name", json_object_new_string(args->argv[0]));
	json_object_object_add(body, "description",
			       json_object_new_string(description ? description : ""));
	json_object_object_add(body, "config", json_object_new_object());
	json_object_object_add(body, "devices", json_object_new_object());
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "POST", "/1.0/profiles", body, NULL, err);
	if (r < 0)
		return r;
	fprintf(ctx->out, "Profile %s created\n", args->argv[0]);
	return 0;
}

int cli_cmd_profile_copy(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_(target_done) struct target t = {0};
	_cleanup_json_ json_object *body = json_object_new_object();
	json_object *v = NULL;
	const char *s;
	int r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	r = target_fetch(ctx, args, true, args->argv[0], &t, err);
	if (r < 0)
		return r;
	json_object_object_add(body, "name", json_object_new_string(args->argv[1]));
	s = api_get_string(t.obj, "description");
	json_object_object_add(body, "description", json_object_new_string(s ? s : ""));
	json_object_object_get_ex(t.obj, "config", &v);
	json_object_object_add(body, "config", cli_sorted_copy(v));
	json_object_object_add(body, "devices", cli_sorted_copy(target_devices(&t)));
	return cli_client_query(t.c, "POST", "/1.0/profiles", body, NULL, err);
}

int cli_cmd_profile_rename(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	int r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	json_object_object_add(body, "name", json_object_new_string(args->argv[1]));
	r = object_path("profiles", args->argv[0], &path, err);
	if (r < 0)
		return r;
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "POST", path, body, NULL, err);
	if (r < 0)
		return r;
	fprintf(ctx->out, "Profile %s renamed to %s\n", args->argv[0], args->argv[1]);
	return 0;
}

int cli_cmd_profile_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	struct cli_client *c = NULL;
	int r;

	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < args->argc; i++) {
		_cleanup_free_ char *path = NULL;

		r = object_path("profiles", args->argv[i], &path, err);
		if (r < 0)
			return r;
		r = cli_client_query(c, "DELETE", path, NULL, NULL, err);
		if (r < 0)
			return r;
		fprintf(ctx->out, "Profile %s deleted\n", args->argv[i]);
	}
	return 0;
}

int cli_cmd_profile_get(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_(target_done) struct target t = {0};
	json_object *config = NULL;
	const char *v = NULL;
	int r;

	r = target_fetch(ctx, args, true, args->argv[0], &t, err);
	if (r < 0)
		return r;
	if (json_object_object_get_ex(t.obj, "config", &config))
		v = api_get_string(config, args->argv[1]);
	fprintf(ctx->out, "%s\n", v ? v : "");
	return 0;
}

/* The target's config object, made when the answer had none. */
static json_object *target_config(const struct target *t)
{
	json_object *config = NULL;

	if (!json_object_object_get_ex(t->obj, "config", &config) || !config ||
	    !json_object_is_type(config, json_type_object)) {
		config = json_object_new_object();
		json_object_object_add(t->obj, "config", config);
	}
	return config;
}

int cli_cmd_profile_set(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_(target_done) struct target t = {0};
	_cleanup_json_ json_object *settings = NULL;
	json_object *config;
	int r;

	r = cli_parse_settings(args->argv + 1, args->argc - 1, &settings, err);
	if (r < 0)
		return r;
	r = target_fetch(ctx, args, true, args->argv[0], &t, err);
	if (r < 0)
		return r;
	config = target_config(&t);
	json_object_object_foreach(settings, key, value)
	{
		/* An empty value unsets, as `incus profile set p k=` does. */
		if (!*json_object_get_string(value))
			json_object_object_del(config, key);
		else
			json_object_object_add(config, key, json_object_get(value));
	}
	return target_put(&t, err);
}

int cli_cmd_profile_unset(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_(target_done) struct target t = {0};
	json_object *config;
	int r;

	r = target_fetch(ctx, args, true, args->argv[0], &t, err);
	if (r < 0)
		return r;
	config = target_config(&t);
	if (!json_object_object_get_ex(config, args->argv[1], NULL))
		return err_set(err, -EINVAL, "Can't unset key \"%s\", it's not currently set",
			       args->argv[1]);
	json_object_object_del(config, args->argv[1]);
	return target_put(&t, err);
}

static int apply_profile_yaml(struct target *t, const char *text, struct err **err)
{
	_cleanup_json_ json_object *body = NULL;
	int r;

	r = cli_profile_from_yaml(text, t->obj, &body, err);
	if (r < 0)
		return r;
	return cli_client_query(t->c, "PUT", t->path, body, NULL, err);
}

static const char profile_edit_header[] =
    "### This is a YAML representation of the profile.\n"
    "### Any line starting with a '# will be ignored.\n"
    "###\n"
    "### \"config\", \"description\" and \"devices\" are applied; \"name\" and \"used_by\" are\n"
    "### shown for reference (rename with \"cairn profile rename\").\n";

static int apply_profile_edit(void *data, const char *text, struct err **err)
{
	return apply_profile_yaml(data, text, err);
}

int cli_cmd_profile_edit(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_(target_done) struct target t = {0};
	_cleanup_json_ json_object *view = NULL;
	int r;

	r = target_fetch(ctx, args, true, args->argv[0], &t, err);
	if (r < 0)
		return r;
	view = cli_profile_view(t.obj);
	if (!view)
		return err_set(err, -ENOMEM, "Out of memory");
	return cli_edit(ctx, view, profile_edit_header, apply_profile_edit, &t, err);
}

/* The instance's profiles list, as a new array of the names. */
static json_object *profiles_of(json_object *inst)
{
	json_object *list = NULL, *copy = json_object_new_array();

	if (copy && json_object_object_get_ex(inst, "profiles", &list) &&
	    json_object_is_type(list, json_type_array))
		for (size_t i = 0; i < json_object_array_length(list); i++)
			json_object_array_add(copy,
					      json_object_get(json_object_array_get_idx(list, i)));
	return copy;
}

static ssize_t profile_index(json_object *list, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		const char *p = json_object_get_string(json_object_array_get_idx(list, i));

		if (p && strcmp(p, name) == 0)
			return (ssize_t)i;
	}
	return -1;
}

/* Adds profile argv[1] to the end of instance argv[0]'s profiles, or removes it, with a PATCH of
 * the whole list (the API replaces it). */
static int patch_profiles(struct cli_ctx *ctx, const struct cli_args *args, bool add,
			  struct err **err)
{
	_cleanup_(target_done) struct target t = {0};
	_cleanup_json_ json_object *body = json_object_new_object();
	json_object *list;
	const char *profile = args->argv[1];
	ssize_t at;
	int r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	r = target_fetch(ctx, args, false, args->argv[0], &t, err);
	if (r < 0)
		return r;
	list = profiles_of(t.obj);
	if (!list)
		return err_set(err, -ENOMEM, "Out of memory");
	json_object_object_add(body, "profiles", list);
	at = profile_index(list, profile);
	if (add && at >= 0)
		return err_set(err, -EEXIST, "Profile %s is already applied to %s", profile,
			       t.name);
	if (!add && at < 0)
		return err_set(err, -ENOENT, "Profile %s isn't currently applied to %s", profile,
			       t.name);
	if (add)
		json_object_array_add(list, json_object_new_string(profile));
	else
		json_object_array_del_idx(list, (size_t)at, 1);
	r = cli_client_query(t.c, "PATCH", t.path, body, NULL, err);
	if (r < 0)
		return r;
	fprintf(ctx->out, "Profile %s %s %s\n", profile, add ? "added to" : "removed from", t.name);
	return 0;
}

int cli_cmd_profile_add(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	return patch_profiles(ctx, args, true, err);
}

int cli_cmd_profile_remove(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	return patch_profiles(ctx, args, false, err);
}
