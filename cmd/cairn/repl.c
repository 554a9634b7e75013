#include "cmd/cairn/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/keys.h"

#define HISTORY_LINES 1000

/* Readline's completion callbacks take no user data, so the REPL's context and the current
 * candidates live here while the REPL runs. */
static struct cli_ctx *repl_ctx;
static char **candidates;

static bool is_exit(const char *word)
{
	return strcmp(word, "exit") == 0 || strcmp(word, "quit") == 0;
}

/* Runs one line; returns 1 when the REPL should end, else 0 or the command's error. */
/* What run_line() returns besides 0 (ran, succeeded) and a negative errno (ran, failed). */
#define LINE_EXIT 1    /* "exit" or "quit" */
#define LINE_SKIPPED 2 /* blank or a comment: nothing ran */

static int run_line(struct cli_ctx *ctx, const char *line, struct err **err)
{
	_cleanup_strv_ char **argv = NULL;
	size_t argc = 0;
	int r;

	r = cli_split_line(line, &argv, &argc, err);
	if (r < 0)
		return r;
	if (argc == 0 || argv[0][0] == '#')
		return LINE_SKIPPED;
	if (argc == 1 && is_exit(argv[0]))
		return LINE_EXIT;
	if (strcmp(argv[0], "repl") == 0)
		return err_set(err, -EINVAL, "Already in the REPL");
	r = cli_dispatch(ctx, argv, argc, err);
	fflush(ctx->out);
	return r;
}

static char *generator(const char *text, int state)
{
	static size_t idx;
	size_t len = strlen(text);

	if (state == 0)
		idx = 0;
	while (candidates && candidates[idx]) {
		const char *c = candidates[idx++];

		if (strncmp(c, text, len) == 0)
			return strdup(c);
	}
	return NULL;
}

static char **complete(const char *text, int start, int end)
{
	_cleanup_free_ char *before = strndup(rl_line_buffer, (size_t)start);
	_cleanup_strv_ char **words = NULL;
	size_t nwords = 0;
	bool files = false;

	(void)end;
	rl_attempted_completion_over = 1;
	strv_free(candidates);
	candidates = NULL;
	if (!before || cli_split_line(before, &words, &nwords, NULL) < 0)
		return NULL;
	cli_complete_words(repl_ctx, words, nwords, text, &candidates, &files);
	if (files) {
		/* Readline's own file name completion. */
		rl_attempted_completion_over = 0;
		return NULL;
	}
	if (!words || nwords == 0) {
		/* The REPL's own words beside the commands. */
		if (strncmp("exit", text, strlen(text)) == 0)
			strv_push(&candidates, "exit");
		if (strncmp("quit", text, strlen(text)) == 0)
			strv_push(&candidates, "quit");
	}
	return rl_completion_matches(text, generator);
}

static char *history_path(void)
{
	const char *home = getenv("HOME");

	return home && *home ? str_printf("%s/.cairn_history", home) : NULL;
}

static int repl_terminal(struct cli_ctx *ctx)
{
	_cleanup_free_ char *hist = history_path();

	repl_ctx = ctx;
	rl_readline_name = "cairn";
	rl_attempted_completion_function = complete;
	using_history();
	if (hist)
		read_history(hist);

	for (;;) {
		_cleanup_free_ char *line = readline("cairn> ");
		_cleanup_err_ struct err *e = NULL;
		int r;

		if (!line) {
			/* Ctrl-D: end the prompt line like a shell does. */
			fputc('\n', stdout);
			break;
		}
		if (!*line)
			continue;
		add_history(line);
		if (hist) {
			write_history(hist);
			history_truncate_file(hist, HISTORY_LINES);
		}
		r = run_line(ctx, line, &e);
		if (r == LINE_EXIT)
			break;
		if (r < 0)
			fprintf(stderr, "Error: %s\n", err_msg(e, r));
	}
	strv_free(candidates);
	candidates = NULL;
	repl_ctx = NULL;
	return 0;
}

static int repl_script(struct cli_ctx *ctx, bool keep_going, struct err **err)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, failed = 0, total = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		_cleanup_err_ struct err *e = NULL;
		int r;

		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		r = run_line(ctx, line, &e);
		if (r == LINE_EXIT)
			break;
		if (r == LINE_SKIPPED)
			continue;
		total++;
		if (r < 0) {
			if (!keep_going)
				return err_set(err, r, "%s", err_msg(e, r));
			fprintf(stderr, "Error: %s\n", err_msg(e, r));
			failed++;
		}
	}
	if (failed)
		return err_set(err, -EIO, "%zu of %zu commands failed", failed, total);
	return 0;
}

int cli_cmd_repl(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	if (ctx->in_repl)
		return err_set(err, -EINVAL, "Already in the REPL");
	ctx->in_repl = true;
	if (ctx->stdin_tty)
		return repl_terminal(ctx);
	return repl_script(ctx, cli_flag_bool(args, "keep-going"), err);
}
