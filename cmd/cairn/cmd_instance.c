#include "cmd/cairn/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <strings.h>

#include "api/api.h"
#include "cmd/cairn/filter.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/keys.h"
#include "config/names.h"

/* Splits "KEY=VALUE" into two new strings. */
static int split_key_value(const char *arg, char **ret_key, char **ret_value, struct err **err)
{
	const char *eq = strchr(arg, '=');
	char *key, *value;

	if (!eq || eq == arg)
		return err_set(err, -EINVAL, "Bad key=value pair: \"%s\"", arg);
	key = strndup(arg, (size_t)(eq - arg));
	value = strdup(eq + 1);
	if (!key || !value) {
		free(key);
		free(value);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	*ret_key = key;
	*ret_value = value;
	return 0;
}

/* Names the image in `source`: by alias when one is called `image`, else by fingerprint (a
 * unique prefix works), as Incus resolves them. Looking first also means a wrong image name
 * fails before "Creating" is printed. */
static int image_source(struct cli_client *c, const char *image, json_object *source,
			struct err **err)
{
	_cleanup_free_ char *e = cli_escape(image);
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_object *img = NULL;
	_cleanup_err_ struct err *e1 = NULL;
	const char *fp;
	int r;

	if (!e)
		return err_set(err, -ENOMEM, "Out of memory");
	path = str_printf("/1.0/images/aliases/%s", e);
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_client_query(c, "GET", path, NULL, NULL, &e1);
	if (r == 0) {
		json_object_object_add(source, "alias", json_object_new_string(image));
		return 0;
	}
	if (r != -ENOENT)
		return err_set(err, r, "%s", err_msg(e1, r));
	free(path);
	path = str_printf("/1.0/images/%s", e);
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	err_freep(&e1);
	r = cli_client_query(c, "GET", path, NULL, &img, &e1);
	if (r == -ENOENT)
		return err_set(err, r, "Image \"%s\" not found", image);
	if (r < 0)
		return err_set(err, r, "%s", err_msg(e1, r));
	fp = api_get_string(img, "fingerprint");
	json_object_object_add(source, "fingerprint", json_object_new_string(fp ? fp : image));
	return 0;
}

/* Whether instance `name` exists (a failed look-up counts as no). */
static bool instance_exists(struct cli_client *c, const char *name)
{
	_cleanup_free_ char *e = cli_escape(name);
	_cleanup_free_ char *path = e ? str_printf("/1.0/instances/%s", e) : NULL;

	return path && cli_client_query(c, "GET", path, NULL, NULL, NULL) == 0;
}

/*
 * A generated name (adjective-noun) that no instance has yet, for `launch IMAGE` without a
 * name, as Incus does. The names taken are read once; a random pick is tried again while it is
 * taken.
 */
static int pick_name(struct cli_client *c, char **ret, struct err **err)
{
	_cleanup_json_ json_object *list = NULL;
	size_t count = cli_generated_name_count();
	int r;

	r = cli_client_query(c, "GET", "/1.0/instances", NULL, &list, err);
	if (r < 0)
		return r;
	for (size_t tries = 0; tries < 4 * count; tries++) {
		_cleanup_free_ char *name = NULL;
		uint32_t n = 0;
		bool taken = false;

		if (getrandom(&n, sizeof(n), 0) != sizeof(n))
			n = (uint32_t)rand();
		name = cli_generated_name(n);
		if (!name)
			return err_set(err, -ENOMEM, "Out of memory");
		for (size_t i = 0; json_object_is_type(list, json_type_array) &&
				   i < json_object_array_length(list) && !taken;
		     i++) {
			_cleanup_free_ char *have = cli_url_basename(
			    json_object_get_string(json_object_array_get_idx(list, i)));

			taken = have && strcmp(have, name) == 0;
		}
		if (!taken) {
			*ret = steal_pointer(&name);
			return 0;
		}
	}
	return err_set(err, -EBUSY, "Could not find a free instance name: give one");
}

/* "REMOTE:IMAGE": cairn has no image servers; "local:" is this daemon, as in Incus. */
static int local_image(const char *image, const char **ret, struct err **err)
{
	const char *colon = strchr(image, ':');

	if (!colon) {
		*ret = image;
		return 0;
	}
	if (str_startswith(image, "local:") && colon[1]) {
		*ret = colon + 1;
		return 0;
	}
	return err_set(err, -EOPNOTSUPP,
		       "Remote image servers are not available: \"%s\" names the remote \"%.*s\"; "
		       "import the image with \"cairn image import\" and launch it by its alias "
		       "or fingerprint",
		       image, (int)(colon - image), image);
}

static int create_instance(struct cli_ctx *ctx, const struct cli_args *args, bool start,
			   struct err **err)
{
	const char *image = NULL;
	_cleanup_free_ char *generated = NULL;
	const char *name = args->argc > 1 ? args->argv[1] : NULL;
	const char *pool = cli_flag_string(args, "storage");
	const char *description = cli_flag_string(args, "description");
	_cleanup_json_ json_object *body = NULL;
	_cleanup_json_ json_object *state = NULL;
	_cleanup_free_ char *ename = NULL;
	_cleanup_free_ char *path = NULL;
	json_object *source, *config;
	struct cli_client *c = NULL;
	int r;

	/* Local checks first: a typo fails at once with a clear message; the daemon checks
	 * again. */
	r = local_image(args->argv[0], &image, err);
	if (r < 0)
		return r;
	if (name) {
		r = config_instance_name_valid(name, err);
		if (r < 0)
			return r;
	}
	if (pool) {
		r = config_pool_name_valid(pool, err);
		if (r < 0)
			return r;
	}
	if (cli_flag_bool(args, "no-profiles") && *cli_flag_list(args, "profile"))
		return err_set(err, -EINVAL, "--no-profiles and --profile cannot be used together");
	body = json_object_new_object();
	source = json_object_new_object();
	config = json_object_new_object();
	if (!body || !source || !config) {
		json_object_put(source);
		json_object_put(config);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	json_object_object_add(body, "source", source);
	json_object_object_add(body, "config", config);
	json_object_object_add(source, "type", json_object_new_string("image"));
	for (char *const *kv = cli_flag_list(args, "config"); *kv; kv++) {
		_cleanup_free_ char *key = NULL;
		_cleanup_free_ char *value = NULL;

		r = split_key_value(*kv, &key, &value, err);
		if (r < 0)
			return r;
		r = config_key_validate(key, value, err);
		if (r < 0)
			return r;
		json_object_object_add(config, key, json_object_new_string(value));
	}
	if (pool) {
		json_object *devices = json_object_new_object();
		json_object *root = json_object_new_object();

		if (!devices || !root) {
			json_object_put(devices);
			json_object_put(root);
			return err_set(err, -ENOMEM, "Out of memory");
		}
		json_object_object_add(root, "type", json_object_new_string("disk"));
		json_object_object_add(root, "path", json_object_new_string("/"));
		json_object_object_add(root, "pool", json_object_new_string(pool));
		json_object_object_add(devices, "root", root);
		json_object_object_add(body, "devices", devices);
	}
	/* Absent, the daemon applies the default profile; an empty list applies none. */
	if (cli_flag_bool(args, "no-profiles") || *cli_flag_list(args, "profile")) {
		json_object *profiles = json_object_new_array();

		if (!profiles)
			return err_set(err, -ENOMEM, "Out of memory");
		for (char *const *p = cli_flag_list(args, "profile"); *p; p++)
			json_object_array_add(profiles, json_object_new_string(*p));
		json_object_object_add(body, "profiles", profiles);
	}
	if (description)
		json_object_object_add(body, "description", json_object_new_string(description));
	json_object_object_add(body, "start", json_object_new_boolean(false));
	if (cli_flag_bool(args, "ephemeral"))
		json_object_object_add(body, "ephemeral", json_object_new_boolean(true));

	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = image_source(c, image, source, err);
	if (r < 0)
		return r;
	/* A generated name lost to another client between the look-up and the create is
	 * replaced by another one. */
	for (int attempt = 0;; attempt++) {
		_cleanup_err_ struct err *e = NULL;

		if (args->argc < 2) {
			free(generated);
			generated = NULL;
			r = pick_name(c, &generated, err);
			if (r < 0)
				return r;
			name = generated;
		}
		json_object_object_add(body, "name", json_object_new_string(name));
		fprintf(ctx->out, "Creating %s\n", name);
		fflush(ctx->out);
		r = cli_client_query(c, "POST", "/1.0/instances", body, NULL, &e);
		if (r == 0)
			break;
		if (!generated || r != -EBUSY || attempt >= 4 || !instance_exists(c, name))
			return err_set(err, r, "%s", err_msg(e, r));
	}
	if (!start)
		return 0;

	fprintf(ctx->out, "Starting %s\n", name);
	fflush(ctx->out);
	ename = cli_escape(name);
	state = json_object_new_object();
	if (!ename || !state)
		return err_set(err, -ENOMEM, "Out of memory");
	path = str_printf("/1.0/instances/%s/state", ename);
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	json_object_object_add(state, "action", json_object_new_string("start"));
	json_object_object_add(state, "timeout", json_object_new_int(-1));
	json_object_object_add(state, "force", json_object_new_boolean(false));
	return cli_client_query(c, "PUT", path, state, NULL, err);
}

int cli_cmd_launch(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	return create_instance(ctx, args, true, err);
}

int cli_cmd_init(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	return create_instance(ctx, args, false, err);
}

static int instance_path(const char *name, const char *suffix, char **ret, struct err **err)
{
	_cleanup_free_ char *e = cli_escape(name);

	if (!e)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret = str_printf("/1.0/instances/%s%s", e, suffix ? suffix : "");
	if (!*ret)
		return err_set(err, -ENOMEM, "Out of memory");
	return 0;
}

int cli_instance_arg_check(struct cli_ctx *ctx, const struct cli_args *args, const char *arg,
			   struct err **err)
{
	const char *slash = strchr(arg, '/');
	_cleanup_free_ char *inst = NULL;
	_cleanup_free_ char *esnap = NULL;
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	int r;

	if (!slash)
		return 0;
	inst = strndup(arg, (size_t)(slash - arg));
	esnap = cli_escape(slash + 1);
	if (!inst || !esnap)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	if (*inst && slash[1] && config_instance_name_valid(inst, NULL) == 0) {
		_cleanup_free_ char *suffix = str_printf("/snapshots/%s", esnap);

		if (!suffix)
			return err_set(err, -ENOMEM, "Out of memory");
		r = instance_path(inst, suffix, &path, err);
		if (r < 0)
			return r;
		if (cli_client_query(c, "GET", path, NULL, NULL, NULL) == 0)
			return err_set(err, -EINVAL,
				       "\"%s\" is a snapshot; \"%s\" takes an instance (see "
				       "\"cairn snapshot --help\" for what works on snapshots)",
				       arg, args->path);
	}
	/* Not a snapshot either: the name's own fault says what is wrong with it. */
	return config_instance_name_valid(arg, err);
}

static int change_state(struct cli_client *c, const char *name, const char *action,
			long long timeout, bool force, bool stateful, bool stateless,
			struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_free_ char *path = NULL;
	int r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	r = instance_path(name, "/state", &path, err);
	if (r < 0)
		return r;
	json_object_object_add(body, "action", json_object_new_string(action));
	json_object_object_add(body, "timeout", json_object_new_int64(timeout));
	json_object_object_add(body, "force", json_object_new_boolean(force));
	json_object_object_add(body, "stateful", json_object_new_boolean(stateful));
	if (stateless)
		json_object_object_add(body, "stateless", json_object_new_boolean(true));
	return cli_client_query(c, "PUT", path, body, NULL, err);
}

/* The instances `--all` acts on: for start those not running, for stop and restart those
 * running (or frozen), as Incus picks them. *ret is a NULL-terminated array, caller frees. */
static int all_instances(struct cli_client *c, const char *action, char ***ret, struct err **err)
{
	_cleanup_json_ json_object *list = NULL;
	_cleanup_strv_ char **names = NULL;
	int r;

	r = cli_client_query(c, "GET", "/1.0/instances?recursion=1", NULL, &list, err);
	if (r < 0)
		return r;
	for (size_t i = 0;
	     json_object_is_type(list, json_type_array) && i < json_object_array_length(list);
	     i++) {
		json_object *inst = json_object_array_get_idx(list, i);
		const char *name = api_get_string(inst, "name");
		const char *status = api_get_string(inst, "status");
		bool active =
		    status && (strcmp(status, "Running") == 0 || strcmp(status, "Frozen") == 0);

		if (!name || (strcmp(action, "start") == 0) == active)
			continue;
		if (strv_push(&names, name) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	if (!names && !(names = calloc(1, sizeof(char *))))
		return err_set(err, -ENOMEM, "Out of memory");
	*ret = steal_pointer(&names);
	return 0;
}

static int state_command(struct cli_ctx *ctx, const struct cli_args *args, const char *action,
			 long long default_timeout, struct err **err)
{
	struct cli_client *c = NULL;
	long long timeout = cli_flag_int(args, "timeout", default_timeout);
	bool force = cli_flag_bool(args, "force");
	bool stateful = cli_flag_bool(args, "stateful");
	bool stateless = cli_flag_bool(args, "stateless");
	bool all = cli_flag_bool(args, "all");
	_cleanup_strv_ char **listed = NULL;
	char *const *names = args->argv;
	size_t failed = 0, n = args->argc;
	int r, first = 0;

	if (all && n > 0)
		return err_set(err, -EINVAL, "Both --all and instance name given");
	if (!all && n == 0) {
		fprintf(stderr, "Usage: %s %s\n\n", args->path, args->cmd->usage);
		return err_set(err, -EINVAL, "Invalid number of arguments");
	}
	for (size_t i = 0; i < n; i++) {
		r = cli_instance_arg_check(ctx, args, names[i], err);
		if (r < 0)
			return r;
	}
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	if (all) {
		r = all_instances(c, action, &listed, err);
		if (r < 0)
			return r;
		names = listed;
		n = strv_length(listed);
	}
	if (n == 1 && !all)
		return change_state(c, names[0], action, timeout, force, stateful, stateless, err);

	/* Several instances: each one is tried, and the failures are reported together, as
	 * Incus does. */
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct err *e = NULL;

		r = change_state(c, names[i], action, timeout, force, stateful, stateless, &e);
		if (r < 0) {
			fprintf(stderr, "Error: Failed to %s \"%s\": %s\n", action, names[i],
				err_msg(e, r));
			failed++;
			if (!first)
				first = r;
		}
	}
	if (failed)
		return err_set(err, first, "Some instances failed to %s", action);
	return 0;
}

int cli_cmd_start(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	return state_command(ctx, args, "start", -1, err);
}

int cli_cmd_stop(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	return state_command(ctx, args, "stop", 30, err);
}

int cli_cmd_restart(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	return state_command(ctx, args, "restart", 30, err);
}

static int get_json(struct cli_client *c, const char *path, json_object **ret, struct err **err)
{
	return cli_client_query(c, "GET", path, NULL, ret, err);
}

/* What `delete` will do with one argument, decided before anything is changed. */
struct delete_target {
	char *instance; /* owned */
	char *snapshot; /* owned, NULL for an instance */
	bool running;
	bool ephemeral; /* its stop deletes it */
};

static void delete_targets_free(struct delete_target **t)
{
	for (struct delete_target *p = *t; p && p->instance; p++) {
		free(p->instance);
		free(p->snapshot);
	}
	free(*t);
	*t = NULL;
}

static bool is_protected(json_object *inst)
{
	static const char *const fields[] = {"expanded_config", "config"};

	for (size_t i = 0; i < 2; i++) {
		json_object *config = NULL;
		const char *v;
		bool b = false;

		if (!json_object_object_get_ex(inst, fields[i], &config))
			continue;
		v = api_get_string(config, "security.protection.delete");
		if (v)
			return config_parse_bool(v, &b) == 0 && b;
	}
	return false;
}

/* `cairn delete c1 snap0`: when "snap0" is no instance but a snapshot of another argument,
 * point at the NAME/SNAPSHOT form instead of saying "not found". */
static int snapshot_hint(struct cli_client *c, const struct cli_args *args, const char *missing,
			 int code, struct err **err)
{
	_cleanup_free_ char *esnap = cli_escape(missing);

	for (size_t i = 0; i < args->argc && esnap; i++) {
		_cleanup_json_ json_object *snap = NULL;
		_cleanup_free_ char *path = NULL;
		_cleanup_free_ char *suffix = str_printf("/snapshots/%s", esnap);
		const char *other = args->argv[i];

		if (strcmp(other, missing) == 0 || strchr(other, '/') || !suffix)
			continue;
		if (instance_path(other, suffix, &path, NULL) < 0)
			continue;
		if (get_json(c, path, &snap, NULL) == 0)
			return err_set(err, code,
				       "Instance \"%s\" not found; \"%s\" is a snapshot of \"%s\", "
				       "delete it with \"cairn delete %s/%s\"",
				       missing, missing, other, other, missing);
	}
	return 0;
}

/* Reads one answer line from stdin; true for "yes" (or "y"), in any case. EOF is a no. */
static bool ask_yes(FILE *out, const char *what)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	fprintf(out, "Remove %s (yes/no): ", what);
	fflush(out);
	n = getline(&line, &cap, stdin);
	if (n < 0) {
		fputc('\n', out);
		return false;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return strcasecmp(line, "yes") == 0 || strcasecmp(line, "y") == 0;
}

/* Checks one NAME/SNAPSHOT argument: both parts there and the snapshot found. */
static int check_snapshot_target(struct cli_client *c, struct delete_target *t, const char *arg,
				 struct err **err)
{
	_cleanup_free_ char *esnap = cli_escape(t->snapshot);
	_cleanup_free_ char *suffix = esnap ? str_printf("/snapshots/%s", esnap) : NULL;
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_object *snap = NULL;
	_cleanup_err_ struct err *e = NULL;
	int r;

	if (!suffix)
		return err_set(err, -ENOMEM, "Out of memory");
	if (!*t->instance || !*t->snapshot || strchr(t->snapshot, '/'))
		return err_set(err, -EINVAL, "Invalid snapshot \"%s\": write INSTANCE/SNAPSHOT",
			       arg);
	r = instance_path(t->instance, suffix, &path, err);
	if (r < 0)
		return r;
	r = get_json(c, path, &snap, &e);
	if (r < 0)
		return err_set(err, r, "%s", err_msg(e, r));
	return 0;
}

/* Checks one instance argument: there, not protected, and stopped unless --force. */
static int check_instance_target(struct cli_client *c, const struct cli_args *args,
				 struct delete_target *t, bool force, struct err **err)
{
	_cleanup_json_ json_object *inst = NULL;
	_cleanup_free_ char *path = NULL;
	_cleanup_err_ struct err *e = NULL;
	const char *status;
	int r;

	r = instance_path(t->instance, NULL, &path, err);
	if (r < 0)
		return r;
	r = get_json(c, path, &inst, &e);
	if (r == -ENOENT) {
		int h = snapshot_hint(c, args, t->instance, r, err);

		if (h < 0)
			return h;
	}
	if (r < 0)
		return err_set(err, r, "%s", err_msg(e, r));
	/* A protected instance is refused before anything happens to it, so that --force does
	 * not stop an instance it then fails to delete. */
	if (is_protected(inst))
		return err_set(err, -EPERM,
			       "The instance \"%s\" is protected against deletion "
			       "(security.protection.delete=true)",
			       t->instance);
	status = api_get_string(inst, "status");
	t->running = status && (strcmp(status, "Running") == 0 || strcmp(status, "Frozen") == 0);
	t->ephemeral = api_get_bool(inst, "ephemeral", false);
	if (t->running && !force)
		return err_set(err, -EBUSY,
			       "The instance is currently running, stop it first or pass --force");
	return 0;
}

/* Whether targets[0..n) already hold `t`, or `t` is a snapshot of an instance they delete
 * (which takes its snapshots with it). */
static bool target_covered(const struct delete_target *targets, size_t n,
			   const struct delete_target *t)
{
	for (size_t j = 0; j < n; j++) {
		if (strcmp(targets[j].instance, t->instance) != 0)
			continue;
		if (!targets[j].snapshot)
			return true;
		if (t->snapshot && strcmp(targets[j].snapshot, t->snapshot) == 0)
			return true;
	}
	return false;
}

int cli_cmd_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_(delete_targets_free) struct delete_target *targets = NULL;
	_cleanup_free_ bool *confirmed = NULL;
	struct cli_client *c = NULL;
	bool force = cli_flag_bool(args, "force");
	bool interactive = cli_flag_bool(args, "interactive");
	size_t n = 0;
	int r;

	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	targets = calloc(args->argc + 1, sizeof(*targets));
	confirmed = calloc(args->argc + 1, sizeof(*confirmed));
	if (!targets || !confirmed)
		return err_set(err, -ENOMEM, "Out of memory");

	/* First look at everything, so that one bad argument changes nothing (LXD #4747). */
	for (size_t i = 0; i < args->argc; i++) {
		const char *arg = args->argv[i];
		const char *slash = strchr(arg, '/');
		struct delete_target *t = &targets[n];

		t->instance = slash ? strndup(arg, (size_t)(slash - arg)) : strdup(arg);
		if (!t->instance)
			return err_set(err, -ENOMEM, "Out of memory");
		if (slash) {
			t->snapshot = strdup(slash + 1);
			if (!t->snapshot)
				return err_set(err, -ENOMEM, "Out of memory");
			r = check_snapshot_target(c, t, arg, err);
		} else {
			r = check_instance_target(c, args, t, force, err);
		}
		if (r < 0)
			return r;
		n++;
	}
	/* A repeated argument, or a snapshot of an instance also deleted, is done once. */
	for (size_t i = 0; i < n; i++) {
		confirmed[i] = !target_covered(targets, i, &targets[i]);
		if (confirmed[i] && !targets[i].snapshot)
			for (size_t j = 0; j < n; j++)
				if (j != i && targets[j].snapshot &&
				    strcmp(targets[j].instance, targets[i].instance) == 0)
					confirmed[j] = false;
	}
	/* Every question is asked before anything is deleted: an interrupted session changes
	 * nothing. */
	if (interactive)
		for (size_t i = 0; i < n; i++)
			if (confirmed[i])
				confirmed[i] = ask_yes(ctx->out, args->argv[i]);

	for (size_t i = 0; i < n; i++) {
		struct delete_target *t = &targets[i];
		_cleanup_free_ char *path = NULL;

		if (!confirmed[i])
			continue;
		if (t->snapshot) {
			_cleanup_free_ char *esnap = cli_escape(t->snapshot);
			_cleanup_free_ char *suffix =
			    esnap ? str_printf("/snapshots/%s", esnap) : NULL;

			if (!suffix)
				return err_set(err, -ENOMEM, "Out of memory");
			r = instance_path(t->instance, suffix, &path, err);
		} else {
			if (t->running) {
				r = change_state(c, t->instance, "stop", -1, true, false, false,
						 err);
				if (r < 0)
					return r;
				/* The daemon deleted it with its stop. */
				if (t->ephemeral)
					continue;
			}
			r = instance_path(t->instance, NULL, &path, err);
		}
		if (r < 0)
			return r;
		r = cli_client_query(c, "DELETE", path, NULL, NULL, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static void filters_freep(struct cli_filters **f)
{
	cli_filters_free(*f);
}

int cli_cmd_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *list = NULL;
	_cleanup_json_ json_object *filtered = NULL;
	_cleanup_(filters_freep) struct cli_filters *filters = NULL;
	const char *columns = cli_flag_string(args, "columns");
	struct cli_column *cols = NULL;
	struct cli_client *c = NULL;
	enum cli_format fmt;
	size_t ncols = 0;
	bool full;
	int r;

	/* Every filter and column is checked before anything is fetched: a typo is an error,
	 * never an empty table. */
	r = cli_format_parse(cli_flag_string(args, "format"), &fmt, err);
	if (r < 0)
		return r;
	r = cli_filters_parse(args->argv, args->argc, &filters, err);
	if (r < 0)
		return r;
	r = cli_columns_parse(columns ? columns : CLI_DEFAULT_COLUMNS, &cols, &ncols, err);
	if (r < 0)
		return r;
	/* The state and the snapshots cost the daemon cgroup reads and a query: only ask for
	 * them (recursion=2) when a column or a filter shows them, or json and yaml. */
	full = fmt == CLI_FORMAT_JSON || fmt == CLI_FORMAT_YAML || cli_filters_need_state(filters);
	for (size_t i = 0; i < ncols; i++)
		full = full || cols[i].state || cols[i].snapshots;
	cli_columns_free(cols, ncols);

	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	/* cairnd has no server-side filter= parameter: the filters apply here. */
	r = get_json(c, full ? "/1.0/instances?recursion=2" : "/1.0/instances?recursion=1", &list,
		     err);
	if (r < 0)
		return r;
	if (!json_object_is_type(list, json_type_array))
		return err_set(err, -EPROTO,
			       "Invalid answer from cairnd: the instance list is not a list");

	filtered = json_object_new_array();
	if (!filtered)
		return err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *inst = json_object_array_get_idx(list, i);

		if (cli_filters_match(filters, inst))
			json_object_array_add(filtered, json_object_get(inst));
	}
	return cli_render_instance_list(ctx->out, filtered, fmt, columns, err);
}

int cli_cmd_info(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *inst = NULL;
	_cleanup_json_ json_object *state = NULL;
	_cleanup_json_ json_object *snaps = NULL;
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *state_path = NULL;
	_cleanup_free_ char *snap_path = NULL;
	_cleanup_err_ struct err *e = NULL;
	struct cli_client *c = NULL;
	int r;

	r = cli_instance_arg_check(ctx, args, args->argv[0], err);
	if (r < 0)
		return r;
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = instance_path(args->argv[0], NULL, &path, err);
	if (r < 0)
		return r;
	r = instance_path(args->argv[0], "/state", &state_path, err);
	if (r < 0)
		return r;
	r = instance_path(args->argv[0], "/snapshots?recursion=1", &snap_path, err);
	if (r < 0)
		return r;
	r = get_json(c, path, &inst, err);
	if (r < 0)
		return r;
	r = get_json(c, state_path, &state, err);
	if (r < 0)
		return r;
	/* The instance exists, so a 404 here means a daemon without snapshots: no section. */
	r = get_json(c, snap_path, &snaps, &e);
	if (r < 0 && r != -ENOENT)
		return err_set(err, r, "%s", err_msg(e, r));
	cli_render_info(ctx->out, inst, state, snaps);
	return 0;
}

/* POST /1.0/instances/<name> with `body` (a new name or a pool), waited for; with `label`, the
 * operation's progress is drawn on a terminal. */
static int post_instance(struct cli_ctx *ctx, const char *name, json_object *body,
			 const char *label, struct err **err)
{
	_cleanup_free_ char *e = cli_escape(name), *path = NULL;
	struct cli_progress progress = {0};
	struct cli_client *c = NULL;
	int r;

	path = e ? str_printf("/1.0/instances/%s", e) : NULL;
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	if (!label)
		return cli_client_query(c, "POST", path, body, NULL, err);
	cli_progress_start(&progress, ctx->out, ctx->quiet, label, 0);
	r = cli_client_query_progress(c, "POST", path, body, &progress, NULL, err);
	cli_progress_done(&progress);
	return r;
}

int cli_cmd_rename(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	int r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	r = config_instance_name_valid(args->argv[0], err);
	if (r >= 0)
		r = config_instance_name_valid(args->argv[1], err);
	if (r < 0)
		return r;
	json_object_object_add(body, "name", json_object_new_string(args->argv[1]));
	return post_instance(ctx, args->argv[0], body, NULL, err);
}

int cli_cmd_move(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	const char *pool = cli_flag_string(args, "storage");
	int r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	/* Another daemon on either side: a migration, then the source goes. */
	r = cli_migrate(ctx, args, true, err);
	if (r != 0)
		return r < 0 ? r : 0;
	r = config_instance_name_valid(args->argv[0], err);
	if (r < 0)
		return r;
	if (pool) {
		if (args->argc != 1)
			return err_set(err, -EINVAL,
				       "Moving to another pool keeps the name: cairn move NAME "
				       "--storage POOL");
		r = config_pool_name_valid(pool, err);
		if (r < 0)
			return r;
		json_object_object_add(body, "pool", json_object_new_string(pool));
		return post_instance(ctx, args->argv[0], body, "Moving instance", err);
	}
	if (args->argc != 2)
		return err_set(err, -EINVAL,
			       "Missing the new name: cairn move OLD NEW, or cairn move NAME "
			       "--storage POOL");
	return cli_cmd_rename(ctx, args, err);
}
