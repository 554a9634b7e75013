#include "cmd/cairn/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

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
}

int cli_ctx_client(struct cli_ctx *ctx, struct cli_client **ret, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	int r;

	if (!ctx->client) {
		path = str_printf("%s/unix.socket", ctx->dir);
		if (!path)
			return err_set(err, -ENOMEM, "Out of memory");
		r = cli_client_open(path, &ctx->client, err);
		if (r < 0)
			return r;
	}
	*ret = ctx->client;
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
