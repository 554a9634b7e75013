#include "cmd/cairn/cli.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cairn/remotes.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/yaml.h"

#define DEFAULT_DIR "/var/lib/cairn"

int cli_ctx_init(struct cli_ctx *ctx, struct err **err)
{
	const char *dir = getenv("CAIRN_DIR");

	memset(ctx, 0, sizeof(*ctx));
	ctx->dir = strdup(dir && *dir ? dir : DEFAULT_DIR);
	if (!ctx->dir)
		return err_set(err, -ENOMEM, "Out of memory");
	ctx->out = stdout;
	ctx->stdin_tty = isatty(STDIN_FILENO) == 1;
	return 0;
}

void cli_ctx_done(struct cli_ctx *ctx)
{
	cli_client_free(ctx->client);
	ctx->client = NULL;
	free(ctx->dir);
	ctx->dir = NULL;
	free(ctx->remote);
	ctx->remote = NULL;
	free(ctx->client_remote);
	ctx->client_remote = NULL;
	for (size_t i = 0; i < 2; i++) {
		free(ctx->arg_remotes[i]);
		ctx->arg_remotes[i] = NULL;
	}
}

int cli_open_remote(struct cli_ctx *ctx, const char *name, struct cli_client **ret,
		    struct err **err)
{
	_cleanup_(cli_remotes_done) struct cli_remotes remotes = {0};
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *dir = NULL, *server_path = NULL, *server_cert = NULL;
	_cleanup_free_ char *cert = NULL, *key = NULL;
	const struct cli_remote *rem;
	int r;

	if (strcmp(name, CLI_REMOTE_LOCAL) == 0 || !*name) {
		path = str_printf("%s/unix.socket", ctx->dir);
		if (!path)
			return err_set(err, -ENOMEM, "Out of memory");
		return cli_client_open(path, ret, err);
	}
	r = cli_remotes_load(&remotes, err);
	if (r < 0)
		return r;
	rem = cli_remotes_find(&remotes, name);
	if (!rem)
		return err_set(err, -ENOENT, "Remote \"%s\" doesn't exist", name);
	if (str_startswith(rem->addr, "unix://"))
		return cli_client_open(rem->addr[7] ? rem->addr + 7 : "", ret, err);
	dir = cli_config_dir();
	server_path = dir ? str_printf("%s/servercerts/%s.crt", dir, name) : NULL;
	if (!server_path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = file_read_all(server_path, &server_cert, NULL, err);
	if (r < 0)
		return err_wrap(err, r, "No stored certificate for remote \"%s\"", name);
	r = cli_client_certificate(&cert, &key, err);
	if (r < 0)
		return r;
	return cli_client_open_https(&(struct cli_https){.base = rem->addr,
							 .remote = name,
							 .cert_path = cert,
							 .key_path = key,
							 .server_cert = server_cert},
				     ret, err);
}

/* The remote the command goes to: the one its arguments named, else the default one. */
static int ctx_remote(struct cli_ctx *ctx, char **ret, struct err **err)
{
	_cleanup_(cli_remotes_done) struct cli_remotes remotes = {0};
	int r;

	if (ctx->remote) {
		*ret = strdup(ctx->remote);
		return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
	}
	r = cli_remotes_load(&remotes, err);
	if (r < 0)
		return r;
	*ret = strdup(remotes.default_remote ? remotes.default_remote : CLI_REMOTE_LOCAL);
	return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
}

int cli_ctx_client(struct cli_ctx *ctx, struct cli_client **ret, struct err **err)
{
	_cleanup_free_ char *name = NULL;
	int r;

	r = ctx_remote(ctx, &name, err);
	if (r < 0)
		return r;
	if (ctx->client && ctx->client_remote && strcmp(ctx->client_remote, name) == 0) {
		*ret = ctx->client;
		return 0;
	}
	cli_client_free(ctx->client);
	ctx->client = NULL;
	free(ctx->client_remote);
	ctx->client_remote = NULL;
	r = cli_open_remote(ctx, name, &ctx->client, err);
	if (r < 0)
		return r;
	ctx->client_remote = steal_pointer(&name);
	*ret = ctx->client;
	return 0;
}

/* Which argument positions of `cmd` may carry a remote prefix. */
static bool remote_position(const struct cli_command *cmd, size_t i, size_t argc)
{
	enum cli_remote_args how = cmd->remote;

	if (how == CLI_REMOTE_DEFAULT) {
		switch (cmd->complete) {
		case CLI_COMPLETE_INSTANCE:
		case CLI_COMPLETE_INSTANCE_THEN_KEY:
		case CLI_COMPLETE_INSTANCE_THEN_SNAPSHOT:
		case CLI_COMPLETE_INSTANCE_THEN_PROFILE:
		case CLI_COMPLETE_PROFILE:
		case CLI_COMPLETE_PROFILE_THEN_KEY:
		case CLI_COMPLETE_POOL:
		case CLI_COMPLETE_NETWORK:
			return i == 0;
		case CLI_COMPLETE_IMAGE_THEN_NONE:
			return i == 1;
		case CLI_COMPLETE_NONE:
		case CLI_COMPLETE_IMAGE:
		case CLI_COMPLETE_FILE:
		case CLI_COMPLETE_OPERATION:
		case CLI_COMPLETE_MAX:
			return false;
		}
		return false;
	}
	switch (how) {
	case CLI_REMOTE_ALL:
	case CLI_REMOTE_EACH:
		return true;
	case CLI_REMOTE_LAST:
		return i + 1 == argc;
	case CLI_REMOTE_ALL_BUT_LAST:
		return i + 1 < argc;
	case CLI_REMOTE_LIST:
		return i == 0;
	case CLI_REMOTE_DEFAULT:
	case CLI_REMOTE_NONE:
	case CLI_REMOTE_ARGS_MAX:
		return false;
	}
	return false;
}

int cli_resolve_remote(struct cli_ctx *ctx, struct cli_args *args, struct err **err)
{
	_cleanup_(cli_remotes_done) struct cli_remotes remotes = {0};
	uint64_t stripped = 0; /* the arguments a remote prefix was taken off */
	bool loaded = false;
	int r;

	free(ctx->remote);
	ctx->remote = NULL;
	for (size_t i = 0; i < 2; i++) {
		free(ctx->arg_remotes[i]);
		ctx->arg_remotes[i] = NULL;
	}
	for (size_t i = 0; i < args->argc; i++) {
		char *word = args->argv[i], *colon = strchr(word, ':');
		_cleanup_free_ char *name = NULL;

		if (!colon || !remote_position(args->cmd, i, args->argc))
			continue;
		name = strndup(word, (size_t)(colon - word));
		if (!name)
			return err_set(err, -ENOMEM, "Out of memory");
		/* "user.x=a:b" as a list filter is not a remote. */
		if (args->cmd->remote == CLI_REMOTE_LIST && strchr(name, '='))
			continue;
		r = cli_remote_name_valid(name, err);
		if (r < 0)
			return r;
		if (!loaded) {
			r = cli_remotes_load(&remotes, err);
			if (r < 0)
				return r;
			loaded = true;
		}
		if (!cli_remotes_find(&remotes, name))
			return err_set(err, -ENOENT, "Remote \"%s\" doesn't exist", name);
		if (args->cmd->remote == CLI_REMOTE_EACH) {
			if (i < 2) {
				free(ctx->arg_remotes[i]);
				ctx->arg_remotes[i] = steal_pointer(&name);
			}
			memmove(word, colon + 1, strlen(colon + 1) + 1);
			continue;
		}
		if (ctx->remote && strcmp(ctx->remote, name) != 0)
			return err_set(
			    err, -EINVAL,
			    "\"%s\" and \"%s\" are on different remotes: \"%s\" works on "
			    "one remote at a time",
			    ctx->remote, name, args->path);
		if (!ctx->remote)
			ctx->remote = steal_pointer(&name);
		memmove(word, colon + 1, strlen(colon + 1) + 1);
		if (i < 64)
			stripped |= 1ULL << i;
	}
	/* "cairn list r2:" and "cairn launch IMAGE r2:": the remote alone names no argument (an
	 * empty word typed as such stays, to be refused as a name). */
	for (size_t i = 0; i < args->argc;) {
		if (!*args->argv[i] && i < 64 && (stripped & (1ULL << i)) &&
		    (args->cmd->remote == CLI_REMOTE_LIST ||
		     args->cmd->complete == CLI_COMPLETE_IMAGE_THEN_NONE)) {
			uint64_t low = stripped & ((1ULL << i) - 1);

			stripped = low | ((stripped >> 1) & ~((1ULL << i) - 1));
			free(args->argv[i]);
			memmove(&args->argv[i], &args->argv[i + 1],
				(args->argc - i) * sizeof(args->argv[0]));
			args->argc--;
			continue;
		}
		i++;
	}
	if (args->cmd->local_only) {
		_cleanup_(cli_remotes_done) struct cli_remotes all = {0};
		_cleanup_free_ char *name = NULL;
		const struct cli_remote *rem;

		r = ctx_remote(ctx, &name, err);
		if (r < 0)
			return r;
		r = cli_remotes_load(&all, err);
		if (r < 0)
			return r;
		rem = cli_remotes_find(&all, name);
		if (rem && str_startswith(rem->addr, "https://"))
			return err_set(
			    err, -EOPNOTSUPP,
			    "\"%s\" does not work over HTTPS (remote \"%s\"): it passes "
			    "the terminal's descriptors over cairnd's unix socket, so run "
			    "it on that host",
			    args->path, name);
	}
	return 0;
}

int cli_settings_apply(json_object *settings, json_object *config, char **description,
		       struct err **err)
{
	json_object_object_foreach(settings, key, value)
	{
		if (strcmp(key, "description") == 0) {
			free(*description);
			*description = strdup(json_object_get_string(value));
			if (!*description)
				return err_set(err, -ENOMEM, "Out of memory");
			continue;
		}
		json_object_object_add(config, key, json_object_get(value));
	}
	return 0;
}

int cli_parse_object_yaml(const char *text, const char *what, json_object **ret_doc,
			  json_object **ret_config, const char **ret_description, struct err **err)
{
	_cleanup_json_ json_object *doc = NULL;
	json_object *config = NULL, *d = NULL;
	int r;

	r = config_yaml_parse(text, strlen(text), &doc, err);
	if (r < 0)
		return r;
	if (!doc || !json_object_is_type(doc, json_type_object))
		return err_set(err, -EINVAL, "The %s must be a YAML mapping", what);
	json_object_object_get_ex(doc, "config", &config);
	if (config && !json_object_is_type(config, json_type_object))
		return err_set(err, -EINVAL, "\"config\" must be a mapping");
	json_object_object_get_ex(doc, "description", &d);
	*ret_config = config;
	*ret_description = d ? json_object_get_string(d) : "";
	*ret_doc = steal_pointer(&doc);
	return 0;
}

int cli_list_fetch(struct cli_ctx *ctx, const struct cli_args *args, const char *path,
		   const char *what, enum cli_format *ret_fmt, json_object **ret_list,
		   struct err **err)
{
	_cleanup_json_ json_object *list = NULL;
	struct cli_client *c = NULL;
	int r;

	r = cli_format_parse(cli_flag_string(args, "format"), ret_fmt, err);
	if (r < 0)
		return r;
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "GET", path, NULL, &list, err);
	if (r < 0)
		return r;
	if (!json_object_is_type(list, json_type_array))
		return err_set(err, -EPROTO, "Invalid answer from cairnd: the %s is not a list",
			       what);
	*ret_list = steal_pointer(&list);
	return 0;
}

int cli_show_yaml(struct cli_ctx *ctx, const char *path, struct err **err)
{
	_cleanup_json_ json_object *obj = NULL;
	struct cli_client *c = NULL;
	int r;

	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "GET", path, NULL, &obj, err);
	if (r < 0)
		return r;
	return cli_render_yaml(ctx->out, obj, err);
}

/* --quiet: the command's normal output goes nowhere and no progress line is drawn; errors still
 * reach stderr. */
static int run_quiet(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_fclose_ FILE *null = fopen("/dev/null", "we");
	FILE *out = ctx->out;
	bool quiet = ctx->quiet;
	int r;

	if (!null)
		return err_set_errno(err, -errno, "Failed to open /dev/null");
	ctx->out = null;
	ctx->quiet = true;
	r = args->cmd->handler(ctx, args, err);
	ctx->out = out;
	ctx->quiet = quiet;
	return r;
}

int cli_dispatch(struct cli_ctx *ctx, char *const *argv, size_t argc, struct err **err)
{
	_cleanup_(cli_args_done) struct cli_args args = {0};
	int r;

	r = cli_parse(cli_root(), argv, argc, &args, err);
	if (r < 0) {
		/* Like cobra: a wrong argument count shows the command's usage line. */
		if (args.cmd && args.cmd->handler && r == -EINVAL && !args.help &&
		    (*err && strcmp((*err)->msg, "Invalid number of arguments") == 0))
			fprintf(stderr, "Usage: %s %s\n\n", args.path, args.cmd->usage);
		return r;
	}
	if (args.version) {
		fprintf(ctx->out, "%s\n", CLI_VERSION);
		return 0;
	}
	if (args.help) {
		cli_print_help(ctx->out, args.cmd, args.path);
		return 0;
	}
	r = cli_resolve_remote(ctx, &args, err);
	if (r < 0)
		return r;
	if (cli_flag_bool(&args, "quiet"))
		return run_quiet(ctx, &args, err);
	return args.cmd->handler(ctx, &args, err);
}

int cli_main(int argc, char **argv)
{
	_cleanup_(cli_ctx_done) struct cli_ctx ctx = {0};
	_cleanup_err_ struct err *e = NULL;
	int r, status;

	r = cli_ctx_init(&ctx, &e);
	if (r >= 0) {
		if (argc <= 1) {
			/* Bare `cairn`: the REPL on a terminal, the usage otherwise. */
			if (ctx.stdin_tty) {
				char *repl[] = {"repl", NULL};

				r = cli_dispatch(&ctx, repl, 1, &e);
			} else {
				cli_print_help(ctx.out, cli_root(), "cairn");
			}
		} else if (strcmp(argv[1], "__complete") == 0) {
			/* Hidden: what the shell completion script asks for names. */
			r = cli_complete_main(&ctx, argv + 2, (size_t)argc - 2);
		} else {
			r = cli_dispatch(&ctx, argv + 1, (size_t)argc - 1, &e);
		}
	}
	fflush(ctx.out);
	if (r < 0)
		fprintf(stderr, "Error: %s\n", err_msg(e, r));
	status = r < 0 ? 1 : ctx.exit_status;
	cli_ctx_done(&ctx);
	return status;
}
