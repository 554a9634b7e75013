#include "cmd/cairn/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/keys.h"
#include "config/names.h"
#include "config/server_keys.h"
#include "config/yaml.h"

extern char **environ;

static int fetch_instance(struct cli_ctx *ctx, const struct cli_args *args, const char *name,
			  struct cli_client **ret_client, char **ret_path, json_object **ret_inst,
			  struct err **err)
{
	_cleanup_free_ char *ename = cli_escape(name);
	_cleanup_free_ char *path = NULL;
	int r;

	r = cli_instance_arg_check(ctx, args, name, err);
	if (r < 0)
		return r;
	if (!ename)
		return err_set(err, -ENOMEM, "Out of memory");
	path = str_printf("/1.0/instances/%s", ename);
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_ctx_client(ctx, ret_client, err);
	if (r < 0)
		return r;
	if (ret_inst) {
		r = cli_client_query(*ret_client, "GET", path, NULL, ret_inst, err);
		if (r < 0)
			return r;
	}
	*ret_path = steal_pointer(&path);
	return 0;
}

json_object *cli_sorted_copy(json_object *o)
{
	_cleanup_free_ const char **keys = NULL;
	json_object *copy = json_object_new_object();
	size_t n = 0;

	if (!copy || !o || !json_object_is_type(o, json_type_object))
		return copy;
	keys = calloc((size_t)json_object_object_length(o) + 1, sizeof(char *));
	if (!keys) {
		json_object_put(copy);
		return NULL;
	}
	json_object_object_foreach(o, k, v)
	{
		(void)v;
		keys[n++] = k;
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			const char *t = keys[j];

			keys[j] = keys[j - 1];
			keys[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		json_object *val = json_object_object_get(o, keys[i]);

		json_object_object_add(copy, keys[i],
				       val && json_object_is_type(val, json_type_object)
					   ? cli_sorted_copy(val)
					   : json_object_get(val));
	}
	return copy;
}

static json_object *member_or(json_object *o, const char *key, json_object *fallback)
{
	json_object *v = NULL;

	if (json_object_object_get_ex(o, key, &v) && v) {
		json_object_put(fallback);
		return json_object_get(v);
	}
	return fallback;
}

json_object *cli_instance_view(json_object *inst, bool expanded)
{
	json_object *v = json_object_new_object();
	json_object *config = NULL, *devices = NULL;
	const char *s;

	if (!v)
		return NULL;
	json_object_object_get_ex(inst, expanded ? "expanded_config" : "config", &config);
	json_object_object_get_ex(inst, expanded ? "expanded_devices" : "devices", &devices);
	s = api_get_string(inst, "architecture");
	json_object_object_add(v, "architecture", json_object_new_string(s ? s : ""));
	json_object_object_add(v, "config", cli_sorted_copy(config));
	json_object_object_add(v, "devices", cli_sorted_copy(devices));
	json_object_object_add(v, "ephemeral",
			       json_object_new_boolean(api_get_bool(inst, "ephemeral", false)));
	json_object_object_add(v, "profiles", member_or(inst, "profiles", json_object_new_array()));
	json_object_object_add(v, "stateful",
			       json_object_new_boolean(api_get_bool(inst, "stateful", false)));
	s = api_get_string(inst, "description");
	json_object_object_add(v, "description", json_object_new_string(s ? s : ""));
	return v;
}

int cli_cmd_config_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *inst = NULL;
	_cleanup_json_ json_object *view = NULL;
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	int r;

	r = fetch_instance(ctx, args, args->argv[0], &c, &path, &inst, err);
	if (r < 0)
		return r;
	view = cli_instance_view(inst, cli_flag_bool(args, "expanded"));
	if (!view)
		return err_set(err, -ENOMEM, "Out of memory");
	return cli_render_yaml(ctx->out, view, err);
}

/* The server's keys (`cairn config get|set|unset KEY` with no instance, or "REMOTE:" where the
 * instance goes), Incus's GET/PATCH /1.0 "config". */
static bool server_form(const struct cli_args *args, bool set)
{
	if (args->argc >= 1 && args->argv[0][0] == '\0')
		return true; /* "r2:" alone: the remote's own config */
	if (!set)
		return args->argc == 1;
	if (args->argc == 1)
		return true;
	return args->argc == 2 && !strchr(args->argv[0], '=') &&
	       config_server_key_like(args->argv[0]);
}

static int server_get(struct cli_ctx *ctx, const char *key, struct err **err)
{
	_cleanup_json_ json_object *server = NULL;
	struct cli_client *c = NULL;
	json_object *config = NULL;
	const char *value = NULL;
	int r;

	r = config_server_key_validate(key, "", err);
	if (r < 0)
		return r;
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "GET", "/1.0", NULL, &server, err);
	if (r < 0)
		return r;
	if (json_object_object_get_ex(server, "config", &config))
		value = api_get_string(config, key);
	fprintf(ctx->out, "%s\n", value ? value : "");
	return 0;
}

static int server_patch(struct cli_ctx *ctx, json_object *config, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	struct cli_client *c = NULL;
	int r;

	if (!body) {
		json_object_put(config);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	json_object_object_add(body, "config", config);
	json_object_object_foreach(config, key, value)
	{
		r = config_server_key_validate(key, json_object_get_string(value), err);
		if (r < 0)
			return r;
	}
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	return cli_client_query(c, "PATCH", "/1.0", body, NULL, err);
}

int cli_cmd_config_get(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *inst = NULL;
	_cleanup_free_ char *path = NULL;
	json_object *config = NULL;
	struct cli_client *c = NULL;
	const char *value = NULL;
	int r;

	if (server_form(args, false))
		return server_get(ctx, args->argv[args->argc - 1], err);
	r = fetch_instance(ctx, args, args->argv[0], &c, &path, &inst, err);
	if (r < 0)
		return r;
	if (json_object_object_get_ex(
		inst, cli_flag_bool(args, "expanded") ? "expanded_config" : "config", &config))
		value = api_get_string(config, args->argv[1]);
	fprintf(ctx->out, "%s\n", value ? value : "");
	return 0;
}

static int patch_config(struct cli_ctx *ctx, const struct cli_args *args, const char *name,
			json_object *config, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	int r;

	if (!body) {
		json_object_put(config);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	json_object_object_add(body, "config", config);
	r = fetch_instance(ctx, args, name, &c, &path, NULL, err);
	if (r < 0)
		return r;
	return cli_client_query(c, "PATCH", path, body, NULL, err);
}

int cli_cmd_config_set(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *config = NULL;
	int r;

	if (server_form(args, true)) {
		size_t skip = args->argv[0][0] == '\0' ? 1 : 0;

		if (args->argc <= skip)
			return err_set(err, -EINVAL, "Invalid number of arguments");
		r = cli_parse_settings(args->argv + skip, args->argc - skip, &config, err);
		if (r < 0)
			return r;
		return server_patch(ctx, steal_pointer(&config), err);
	}
	if (args->argc < 2)
		return err_set(err, -EINVAL, "Invalid number of arguments");
	r = cli_instance_arg_check(ctx, args, args->argv[0], err);
	if (r < 0)
		return r;
	r = config_instance_name_valid(args->argv[0], err);
	if (r < 0)
		return r;
	r = cli_parse_settings(args->argv + 1, args->argc - 1, &config, err);
	if (r < 0)
		return r;
	json_object_object_foreach(config, key, value)
	{
		r = config_key_validate(key, json_object_get_string(value), err);
		if (r < 0)
			return r;
	}
	return patch_config(ctx, args, args->argv[0], steal_pointer(&config), err);
}

int cli_cmd_config_unset(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *config = json_object_new_object();
	_cleanup_json_ json_object *inst = NULL;
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	json_object *current = NULL;
	const char *key = args->argv[args->argc - 1];
	int r;

	if (!config)
		return err_set(err, -ENOMEM, "Out of memory");
	if (server_form(args, false)) {
		r = config_server_key_validate(key, "", err);
		if (r < 0)
			return r;
		json_object_object_add(config, key, json_object_new_string(""));
		return server_patch(ctx, steal_pointer(&config), err);
	}
	if (str_startswith(key, "volatile.") || str_startswith(key, "image."))
		return err_set(err, -EINVAL, "Key \"%s\" is managed by cairnd and cannot be unset",
			       key);
	/* A key that cannot exist is a typo (named with the nearest key), and one that is not
	 * set is an error as in Incus: either way the command would otherwise change nothing
	 * and say nothing. */
	r = config_key_validate(key, "", err);
	if (r < 0)
		return r;
	r = fetch_instance(ctx, args, args->argv[0], &c, &path, &inst, err);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(inst, "config", &current) || !api_get_string(current, key))
		return err_set(err, -EINVAL, "Can't unset key \"%s\", it's not currently set", key);
	json_object_object_add(config, key, json_object_new_string(""));
	return patch_config(ctx, args, args->argv[0], steal_pointer(&config), err);
}

unsigned cli_yaml_key_line(const char *text, const char *key)
{
	size_t klen = strlen(key);
	unsigned line = 1, found = 0, config_line = 0;

	for (const char *p = text; *p; line++) {
		const char *eol = strchrnul(p, '\n');
		const char *s = p;
		char quote = 0;

		if (str_startswith(p, "config:"))
			config_line = line;
		while (s < eol && (*s == ' ' || *s == '\t'))
			s++;
		if (s < eol && (*s == '"' || *s == '\''))
			quote = *s++;
		if ((size_t)(eol - s) > klen && strncmp(s, key, klen) == 0) {
			const char *q = s + klen;

			if (quote && *q == quote)
				q++;
			else if (quote)
				q = eol;
			while (q < eol && *q == ' ')
				q++;
			if (q < eol && *q == ':') {
				/* A match under "config:" wins over one elsewhere. */
				if (config_line && line > config_line)
					return line;
				if (!found)
					found = line;
			}
		}
		p = *eol ? eol + 1 : eol;
	}
	return found;
}

/* Wraps a validation error with the line of `key` in `text`. */
static int key_error(const char *text, const char *key, int code, const char *msg, struct err **err)
{
	unsigned line = cli_yaml_key_line(text, key);

	if (line)
		return err_set(err, code, "Invalid configuration at line %u: %s", line, msg);
	return err_set(err, code, "Invalid configuration: %s", msg);
}

int cli_config_from_yaml(const char *text, json_object *old_config, json_object **ret_config,
			 char **ret_description, struct err **err)
{
	_cleanup_json_ json_object *tree = NULL;
	_cleanup_json_ json_object *config = NULL;
	_cleanup_free_ char *description = NULL;
	json_object *in = NULL, *desc = NULL;
	int r;

	r = config_yaml_parse(text, strlen(text), &tree, err);
	if (r < 0)
		return r;
	if (!json_object_is_type(tree, json_type_object))
		return err_set(err, -EINVAL, "Invalid configuration at line 1: expected a mapping");
	config = json_object_new_object();
	if (!config)
		return err_set(err, -ENOMEM, "Out of memory");

	if (json_object_object_get_ex(tree, "config", &in) && in) {
		if (!json_object_is_type(in, json_type_object)) {
			unsigned line = cli_yaml_key_line(text, "config");

			return err_set(err, -EINVAL,
				       "Invalid configuration at line %u: \"config\" must map keys "
				       "to values",
				       line ? line : 1);
		}
		json_object_object_foreach(in, key, val)
		{
			_cleanup_free_ char *value = NULL;
			_cleanup_err_ struct err *e = NULL;
			const char *old = old_config ? api_get_string(old_config, key) : NULL;

			switch (val ? json_object_get_type(val) : json_type_null) {
			case json_type_null:
				value = strdup("");
				break;
			case json_type_string:
			case json_type_boolean:
			case json_type_int:
			case json_type_double:
				value = strdup(json_object_get_string(val));
				break;
			case json_type_object:
			case json_type_array:
			default: {
				_cleanup_free_ char *msg =
				    str_printf("The value of \"%s\" must be a string", key);

				return key_error(text, key, -EINVAL, msg ? msg : key, err);
			}
			}
			if (!value)
				return err_set(err, -ENOMEM, "Out of memory");
			/* Keys kept as they were (volatile.*, image.* among them) are the
			 * daemon's business; only what the user changed is checked here. */
			if (!old || strcmp(old, value) != 0) {
				r = config_key_validate(key, value, &e);
				if (r < 0)
					return key_error(text, key, r, err_msg(e, r), err);
			}
			json_object_object_add(config, key, json_object_new_string(value));
		}
	}
	if (json_object_object_get_ex(tree, "description", &desc) && desc &&
	    !json_object_is_type(desc, json_type_null)) {
		if (json_object_is_type(desc, json_type_object) ||
		    json_object_is_type(desc, json_type_array))
			return key_error(text, "description", -EINVAL,
					 "\"description\" must be a string", err);
		description = strdup(json_object_get_string(desc));
	} else {
		description = strdup("");
	}
	if (!description)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret_config = steal_pointer(&config);
	*ret_description = steal_pointer(&description);
	return 0;
}

/* The "ephemeral" field of an edited instance: *ret 1 or 0, or -1 when it is absent. */
static int yaml_ephemeral(const char *text, int *ret, struct err **err)
{
	_cleanup_json_ json_object *tree = NULL;
	json_object *v = NULL;
	bool b;
	int r;

	*ret = -1;
	r = config_yaml_parse(text, strlen(text), &tree, err);
	if (r < 0)
		return r;
	if (!json_object_is_type(tree, json_type_object) ||
	    !json_object_object_get_ex(tree, "ephemeral", &v) || !v)
		return 0;
	if (json_object_is_type(v, json_type_boolean)) {
		*ret = json_object_get_boolean(v);
		return 0;
	}
	if (json_object_is_type(v, json_type_string) &&
	    config_parse_bool(json_object_get_string(v), &b) >= 0) {
		*ret = b;
		return 0;
	}
	return key_error(text, "ephemeral", -EINVAL, "\"ephemeral\" must be true or false", err);
}

/*
 * Adds the "devices" and "profiles" of an edited instance to the PUT `body`. A field left out of
 * the text is left out of the body, which keeps it as it is: a text holding only "config:" (as
 * older scripts pipe in) changes only the config. An empty field ("devices:") empties it.
 */
static int yaml_devices_profiles(const char *text, json_object *body, struct err **err)
{
	_cleanup_json_ json_object *tree = NULL;
	json_object *devices = NULL, *profiles = NULL;
	int r;

	r = config_yaml_parse(text, strlen(text), &tree, err);
	if (r < 0)
		return r;
	if (!json_object_is_type(tree, json_type_object))
		return 0;
	if (json_object_object_get_ex(tree, "devices", &devices)) {
		if (!devices) {
			json_object_object_add(body, "devices", json_object_new_object());
		} else {
			if (!json_object_is_type(devices, json_type_object))
				return key_error(text, "devices", -EINVAL,
						 "\"devices\" must map device names to devices",
						 err);
			json_object_object_foreach(devices, name, dev)
			{
				_cleanup_free_ char *msg = NULL;

				if (dev && json_object_is_type(dev, json_type_object))
					continue;
				msg = str_printf("Device \"%s\" must map keys to values", name);
				return key_error(text, name, -EINVAL, msg ? msg : name, err);
			}
			json_object_object_add(body, "devices", json_object_get(devices));
		}
	}
	if (json_object_object_get_ex(tree, "profiles", &profiles)) {
		if (!profiles) {
			json_object_object_add(body, "profiles", json_object_new_array());
			return 0;
		}
		if (!json_object_is_type(profiles, json_type_array))
			return key_error(text, "profiles", -EINVAL,
					 "\"profiles\" must be a list of profile names", err);
		for (size_t i = 0; i < json_object_array_length(profiles); i++)
			if (!json_object_is_type(json_object_array_get_idx(profiles, i),
						 json_type_string))
				return key_error(text, "profiles", -EINVAL,
						 "\"profiles\" must be a list of profile names",
						 err);
		json_object_object_add(body, "profiles", json_object_get(profiles));
	}
	return 0;
}

static int apply_yaml(struct cli_client *c, const char *path, const char *text,
		      json_object *old_config, struct err **err)
{
	_cleanup_json_ json_object *config = NULL;
	_cleanup_json_ json_object *body = NULL;
	_cleanup_free_ char *description = NULL;
	int r, ephemeral;

	r = cli_config_from_yaml(text, old_config, &config, &description, err);
	if (r < 0)
		return r;
	r = yaml_ephemeral(text, &ephemeral, err);
	if (r < 0)
		return r;
	body = json_object_new_object();
	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	json_object_object_add(body, "config", steal_pointer(&config));
	json_object_object_add(body, "description", json_object_new_string(description));
	if (ephemeral >= 0)
		json_object_object_add(body, "ephemeral", json_object_new_boolean(ephemeral));
	r = yaml_devices_profiles(text, body, err);
	if (r < 0)
		return r;
	return cli_client_query(c, "PUT", path, body, NULL, err);
}

static void unlinkp(char **path)
{
	if (*path) {
		unlink(*path);
		free(*path);
	}
	*path = NULL;
}

/* Runs the user's editor on `file` and waits for it. The editor variable may carry arguments
 * ("code --wait"), so it goes through the shell, with the file as "$1" to stay unquoted-safe. */
int cli_run_editor(const char *file, struct err **err)
{
	const char *editor = getenv("VISUAL");
	_cleanup_free_ char *script = NULL;
	char *argv[6];
	pid_t pid;
	int status, r;

	if (!editor || !*editor)
		editor = getenv("EDITOR");
	if (!editor || !*editor) {
		editor = access("/usr/bin/editor", X_OK) == 0 ? "editor" : "vi";
	}
	script = str_printf("%s \"$1\"", editor);
	if (!script)
		return err_set(err, -ENOMEM, "Out of memory");
	argv[0] = "sh";
	argv[1] = "-c";
	argv[2] = script;
	argv[3] = "sh";
	argv[4] = (char *)file;
	argv[5] = NULL;
	r = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to run the editor \"%s\"", editor);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_set_errno(err, -errno, "Failed to wait for the editor");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_set(err, -EIO, "The editor \"%s\" failed", editor);
	return 0;
}

static int read_stream(FILE *f, char **ret, struct err **err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0, n;

	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *p;

			cap = cap ? cap * 2 : 8192;
			p = realloc(buf, cap);
			if (!p)
				return err_set(err, -ENOMEM, "Out of memory");
			buf = p;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f))
		return err_set(err, -EIO, "Failed to read the new configuration");
	buf[len] = '\0';
	*ret = steal_pointer(&buf);
	return 0;
}

static const char edit_header[] =
    "### This is a YAML representation of the configuration.\n"
    "### Any line starting with a '# will be ignored.\n"
    "###\n"
    "### \"config\", \"devices\", \"profiles\", \"description\" and \"ephemeral\" are applied;\n"
    "### the other fields are shown for reference.\n";

/* What apply_yaml() needs as a cli_edit() callback. */
struct config_edit {
	struct cli_client *c;
	const char *path;
	json_object *old_config;
};

static int apply_config_edit(void *data, const char *text, struct err **err)
{
	struct config_edit *e = data;

	return apply_yaml(e->c, e->path, text, e->old_config, err);
}

int cli_cmd_config_edit(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *inst = NULL;
	_cleanup_json_ json_object *view = NULL;
	_cleanup_free_ char *path = NULL;
	struct config_edit e = {0};
	int r;

	r = fetch_instance(ctx, args, args->argv[0], &e.c, &path, &inst, err);
	if (r < 0)
		return r;
	e.path = path;
	json_object_object_get_ex(inst, "config", &e.old_config);
	view = cli_instance_view(inst, false);
	if (!view)
		return err_set(err, -ENOMEM, "Out of memory");
	return cli_edit(ctx, view, edit_header, apply_config_edit, &e, err);
}

int cli_edit(struct cli_ctx *ctx, json_object *view, const char *header, cli_edit_apply_fn apply,
	     void *data, struct err **err)
{
	_cleanup_free_ char *yaml = NULL;
	_cleanup_(unlinkp) char *file = NULL;
	_cleanup_close_ int fd = -EBADF;
	const char *tmpdir = getenv("TMPDIR");
	int r;

	if (!ctx->stdin_tty) {
		_cleanup_free_ char *text = NULL;

		r = read_stream(stdin, &text, err);
		if (r < 0)
			return r;
		return apply(data, text, err);
	}
	r = config_yaml_emit(view, &yaml, err);
	if (r < 0)
		return r;
	file = str_printf("%s/cairn_editor_XXXXXX.yaml", tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!file)
		return err_set(err, -ENOMEM, "Out of memory");
	/* mkostemps creates the file 0600, so other users never see what is edited. */
	fd = mkostemps(file, 5, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		free(steal_pointer(&file));
		return err_set_errno(err, r, "Failed to create a temporary file");
	}
	r = header ? fd_write_all(fd, header, strlen(header)) : 0;
	if (r >= 0)
		r = fd_write_all(fd, yaml, strlen(yaml));
	if (r < 0)
		return err_set_errno(err, r, "Failed to write \"%s\"", file);

	for (;;) {
		_cleanup_free_ char *text = NULL;
		_cleanup_err_ struct err *e = NULL;
		_cleanup_free_ char *answer = NULL;
		size_t n = 0;

		r = cli_run_editor(file, err);
		if (r < 0)
			return r;
		r = file_read_all(file, &text, NULL, err);
		if (r < 0)
			return r;
		r = apply(data, text, &e);
		if (r >= 0)
			return 0;
		/* As Incus does: show the problem and offer to fix it in the editor again. */
		fprintf(stderr, "Config parsing error: %s\n", err_msg(e, r));
		fprintf(stderr, "Press enter to open the editor again or ctrl+c to abort change\n");
		if (getline(&answer, &n, stdin) < 0)
			return err_set(err, r, "%s", err_msg(e, r));
	}
}
