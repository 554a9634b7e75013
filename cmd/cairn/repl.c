#include "cmd/cairn/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

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

/* What a REPL session remembers between lines. */
struct repl_state {
	char *current;	 /* the instance named by `use`, owned; NULL when none */
	int exit_status; /* what `exit N` asked for */
	bool fork;	 /* run each command in a child, so that Ctrl-C ends only the command */
};

/* What run_line() returns besides 0 (ran, succeeded) and a negative errno (ran, failed). */
#define LINE_EXIT 1    /* "exit", "exit N" or "quit" */
#define LINE_SKIPPED 2 /* blank, a comment or a REPL command that runs no cairn command */

/* The commands only the REPL knows, for `help`. */
static const char repl_help[] =
    "\n"
    "REPL commands:\n"
    "  help [COMMAND...]  Show the help of cairn or of a command\n"
    "  use [NAME]         Make NAME the current instance (the commands that take an\n"
    "                     instance then act on it when it is left out); alone, forget it\n"
    "  clear              Clear the screen\n"
    "  exit [N], quit     Leave the REPL (with exit status N)\n";

static bool is_exit(const char *word)
{
	return strcmp(word, "exit") == 0 || strcmp(word, "quit") == 0;
}

static int parse_exit_status(char *const *argv, size_t argc, int *ret, struct err **err)
{
	char *end = NULL;
	long n;

	*ret = 0;
	if (argc == 1)
		return 0;
	if (argc > 2)
		return err_set(err, -EINVAL, "Usage: exit [N]");
	errno = 0;
	n = strtol(argv[1], &end, 10);
	if (!*argv[1] || *end || errno || n < 0 || n > 255)
		return err_set(err, -EINVAL, "Invalid exit status \"%s\" (a number from 0 to 255)",
			       argv[1]);
	*ret = (int)n;
	return 0;
}

/* `help` and `help COMMAND...`: the same text as `cairn --help` and `cairn COMMAND... --help`. */
static int run_help(struct cli_ctx *ctx, char *const *argv, size_t argc, struct err **err)
{
	_cleanup_strv_ char **words = NULL;

	if (argc == 1) {
		cli_print_help(ctx->out, cli_root(), "cairn");
		fputs(repl_help, ctx->out);
		return 0;
	}
	for (size_t i = 1; i < argc; i++)
		if (strv_push(&words, argv[i]) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	if (strv_push(&words, "--help") < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	return cli_dispatch(ctx, words, argc, err);
}

/* `use NAME` checks that the instance exists; `use` alone forgets it. */
static int run_use(struct cli_ctx *ctx, struct repl_state *st, char *const *argv, size_t argc,
		   struct err **err)
{
	_cleanup_free_ char *esc = NULL, *path = NULL, *name = NULL;
	struct cli_client *c = NULL;
	int r;

	if (argc > 2)
		return err_set(err, -EINVAL, "Usage: use [NAME]");
	if (argc == 1) {
		free(st->current);
		st->current = NULL;
		return 0;
	}
	if (strchr(argv[1], '/'))
		return err_set(err, -EINVAL, "\"%s\" is not an instance name", argv[1]);
	esc = cli_escape(argv[1]);
	path = esc ? str_printf("/1.0/instances/%s", esc) : NULL;
	name = strdup(argv[1]);
	if (!path || !name)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "GET", path, NULL, NULL, err);
	if (r < 0)
		return r;
	free(st->current);
	st->current = steal_pointer(&name);
	return 0;
}

static bool instance_exists(struct cli_ctx *ctx, const char *name)
{
	_cleanup_free_ char *esc = cli_escape(name);
	_cleanup_free_ char *path = esc ? str_printf("/1.0/instances/%s", esc) : NULL;
	struct cli_client *c = NULL;

	return path && cli_ctx_client(ctx, &c, NULL) >= 0 &&
	       cli_client_query(c, "GET", path, NULL, NULL, NULL) >= 0;
}

/*
 * With a current instance, a command that takes an instance first gets it put in as its first
 * argument when the line leaves it out: when the line has too few arguments (`info`,
 * `snapshot restore snap0`, `config set user.x=1`), or, for a command that takes a fixed number
 * of arguments, when its first argument names no instance (`config set user.x 1`,
 * `snapshot create before`). A command on any number of instances (`stop a b`, `delete a b`)
 * gets it only when it has no instance at all: a mistyped name there must fail, not act on the
 * current instance and then fail. A first argument that names an instance, or holds a `/`
 * (`c1/snap0`), is left alone. *ret_argv is NULL when the line stays as it is.
 */
static int with_current(struct cli_ctx *ctx, const struct repl_state *st, char *const *argv,
			size_t argc, char ***ret_argv, struct err **err)
{
	_cleanup_(cli_args_done) struct cli_args args = {0};
	_cleanup_strv_ char **out = NULL;
	size_t words = 0, seen = 0, at;
	bool insert;

	*ret_argv = NULL;
	if (!st->current)
		return 0;
	/* A parse error other than the argument count is the command's own to report. */
	if (cli_parse(cli_root(), argv, argc, &args, NULL) < 0 && !(args.cmd && args.cmd->handler))
		return 0;
	if (args.help || !args.cmd->handler ||
	    (args.cmd->complete != CLI_COMPLETE_INSTANCE &&
	     args.cmd->complete != CLI_COMPLETE_INSTANCE_THEN_KEY &&
	     args.cmd->complete != CLI_COMPLETE_INSTANCE_THEN_SNAPSHOT))
		return 0;
	if (args.cmd->max_args >= 0 && (int)args.argc + 1 > args.cmd->max_args)
		return 0;
	if ((int)args.argc < args.cmd->min_args || args.argc == 0)
		insert = true;
	else if (str_startswith(args.path, "cairn config "))
		/* `config set KEY=VALUE` with no instance is a server key: with a current
		 * instance, the REPL means the instance (`use` alone gets the server back). */
		insert = !strchr(args.argv[0], '/') && !instance_exists(ctx, args.argv[0]);
	else if (args.cmd->max_args < 0)
		insert = false;
	else
		insert = !strchr(args.argv[0], '/') && !instance_exists(ctx, args.argv[0]);
	if (!insert)
		return 0;

	/* The command words ("snapshot restore") come first on the line; the instance follows. */
	for (const char *p = strchr(args.path, ' '); p; p = strchr(p + 1, ' '))
		words++;
	for (at = 0; at < argc && seen < words; at++)
		if (argv[at][0] != '-')
			seen++;
	for (size_t i = 0; i < argc; i++) {
		if (i == at && strv_push(&out, st->current) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
		if (strv_push(&out, argv[i]) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	if (at == argc && strv_push(&out, st->current) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret_argv = steal_pointer(&out);
	return 0;
}

/* Set by SIGINT, at the prompt or while a command runs; acted on outside the handler. */
static volatile sig_atomic_t sigint_seen;

static void on_sigint(int sig)
{
	(void)sig;
	sigint_seen = 1;
}

/*
 * Runs one command in a child process, so that Ctrl-C (SIGINT, sent by the terminal to the
 * foreground process group) ends the command and not the REPL, which ignores it meanwhile.
 * The child makes its own connection: the parent's stays as it was, for completion.
 */
static int run_forked(struct cli_ctx *ctx, char *const *argv, size_t argc, struct err **err)
{
	struct sigaction note = {.sa_handler = on_sigint}, old;
	struct termios tio;
	bool have_tio = tcgetattr(STDIN_FILENO, &tio) == 0;
	int status = 0;
	pid_t pid;

	fflush(NULL);
	sigint_seen = 0;
	sigaction(SIGINT, &note, &old);
	pid = fork();
	if (pid < 0) {
		sigaction(SIGINT, &old, NULL);
		return err_set(err, -errno, "Cannot run the command: %m");
	}
	if (pid == 0) {
		_cleanup_err_ struct err *e = NULL;
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		int r;

		sigaction(SIGINT, &dfl, NULL);
		ctx->client = NULL; /* the parent's; this process opens its own */
		r = cli_dispatch(ctx, argv, argc, &e);
		fflush(NULL);
		if (r < 0)
			fprintf(stderr, "Error: %s\n", err_msg(e, r));
		_exit(r < 0 ? 1 : ctx->exit_status);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGINT, &old, NULL);
	/* A command killed in the middle may have left the terminal raw or without echo. */
	if (have_tio)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &tio);
	/* The command's last line may be unfinished when Ctrl-C cut it short (or when the command
	 * passed the signal on, as exec does): the prompt goes on a line of its own. */
	if (sigint_seen)
		fputc('\n', stdout);
	sigint_seen = 0;
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGINT)
		fprintf(stderr, "Error: the command ended with signal %d\n", WTERMSIG(status));
	/* The child printed its own error. */
	return LINE_SKIPPED;
}

static int run_line(struct cli_ctx *ctx, struct repl_state *st, const char *line, struct err **err)
{
	_cleanup_strv_ char **split = NULL, **inserted = NULL;
	char **argv;
	size_t argc = 0;
	int r;

	r = cli_split_line(line, &split, &argc, err);
	if (r < 0)
		return r;
	argv = split;
	if (argc == 0 || argv[0][0] == '#')
		return LINE_SKIPPED;
	/* A line copied from a shell: `cairn list` is `list`. */
	if (strcmp(argv[0], "cairn") == 0) {
		argv++;
		argc--;
		if (argc == 0)
			return LINE_SKIPPED;
	}
	if (is_exit(argv[0])) {
		r = parse_exit_status(argv, argc, &st->exit_status, err);
		return r < 0 ? r : LINE_EXIT;
	}
	if (strcmp(argv[0], "help") == 0) {
		r = run_help(ctx, argv, argc, err);
		return r < 0 ? r : LINE_SKIPPED;
	}
	if (strcmp(argv[0], "use") == 0) {
		r = run_use(ctx, st, argv, argc, err);
		return r < 0 ? r : LINE_SKIPPED;
	}
	if (strcmp(argv[0], "clear") == 0 && argc == 1) {
		if (isatty(STDOUT_FILENO))
			fputs("\033[H\033[2J\033[3J", stdout);
		return LINE_SKIPPED;
	}
	if (strcmp(argv[0], "repl") == 0)
		return err_set(err, -EINVAL, "Already in the REPL");
	r = with_current(ctx, st, argv, argc, &inserted, err);
	if (r < 0)
		return r;
	if (inserted) {
		argv = inserted;
		argc++;
	}
	if (st->fork)
		return run_forked(ctx, argv, argc, err);
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
	char *const *w;
	static char *const instance_words[] = {"info", NULL};
	static const char *const repl_words[] = {"clear", "exit", "help", "quit", "use", NULL};

	if (!before || cli_split_line(before, &words, &nwords, NULL) < 0)
		return NULL;
	w = words;
	/* As run_line() reads them: a leading "cairn" is dropped, "help" completes the command it
	 * is asked about, "use" an instance name (as "info" does). */
	if (nwords > 0 && strcmp(w[0], "cairn") == 0) {
		w++;
		nwords--;
	}
	if (nwords > 0 && strcmp(w[0], "help") == 0) {
		w++;
		nwords--;
	} else if (nwords == 1 && strcmp(w[0], "use") == 0) {
		w = instance_words;
	} else if (nwords > 0 && strcmp(w[0], "use") == 0) {
		return NULL;
	}
	cli_complete_words(repl_ctx, w, nwords, text, &candidates, &files);
	if (files) {
		/* Readline's own file name completion. */
		rl_attempted_completion_over = 0;
		return NULL;
	}
	if (nwords == 0 && w == words) {
		/* The REPL's own words beside the commands. */
		for (const char *const *r = repl_words; *r; r++)
			if (strncmp(*r, text, strlen(text)) == 0)
				strv_push(&candidates, *r);
	}
	return rl_completion_matches(text, generator);
}

static char *history_path(void)
{
	const char *home = getenv("HOME");

	return home && *home ? str_printf("%s/.cairn_history", home) : NULL;
}

/* The line handed over by readline's callback interface (NULL at end of input). */
static char *read_result;
static bool read_done;

static void on_line(char *line)
{
	read_result = line;
	read_done = true;
	rl_callback_handler_remove();
}

/*
 * readline() with Ctrl-C handled as a shell handles it: the line being typed is dropped and a
 * fresh prompt is shown; the REPL goes on. Readline's callback interface leaves the wait for
 * input to us, so a SIGINT (no SA_RESTART) interrupts select() and is dealt with here, outside
 * the signal handler. NULL at end of input (Ctrl-D on an empty line).
 */
static char *read_line(const char *prompt)
{
	read_result = NULL;
	read_done = false;
	rl_callback_handler_install(prompt, on_line);
	while (!read_done) {
		fd_set fds;

		FD_ZERO(&fds);
		FD_SET(STDIN_FILENO, &fds);
		if (select(STDIN_FILENO + 1, &fds, NULL, NULL, NULL) < 0) {
			if (errno != EINTR) {
				rl_callback_handler_remove();
				return NULL;
			}
			if (sigint_seen) {
				sigint_seen = 0;
				fputs("^C\n", stdout);
				fflush(stdout);
				rl_replace_line("", 0);
				rl_on_new_line();
				rl_redisplay();
			}
			continue;
		}
		rl_callback_read_char();
	}
	return read_result;
}

static char *prompt_for(const struct repl_state *st)
{
	return st->current ? str_printf("cairn %s> ", st->current) : strdup("cairn> ");
}

static int repl_terminal(struct cli_ctx *ctx, struct repl_state *st)
{
	_cleanup_free_ char *hist = history_path();
	/* No SA_RESTART: Ctrl-C must interrupt the wait for input in read_line(). */
	struct sigaction sa = {.sa_handler = on_sigint}, old;

	repl_ctx = ctx;
	rl_readline_name = "cairn";
	rl_attempted_completion_function = complete;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	using_history();
	if (hist)
		read_history(hist);
	st->fork = true;

	for (;;) {
		_cleanup_free_ char *prompt = prompt_for(st);
		_cleanup_free_ char *line = NULL;
		_cleanup_err_ struct err *e = NULL;
		int r;

		sigint_seen = 0;
		line = read_line(prompt ? prompt : "cairn> ");
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
		r = run_line(ctx, st, line, &e);
		if (r == LINE_EXIT)
			break;
		if (r < 0)
			fprintf(stderr, "Error: %s\n", err_msg(e, r));
	}
	sigaction(SIGINT, &old, NULL);
	strv_free(candidates);
	candidates = NULL;
	repl_ctx = NULL;
	return 0;
}

static int repl_script(struct cli_ctx *ctx, struct repl_state *st, bool keep_going,
		       struct err **err)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, failed = 0, total = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		_cleanup_err_ struct err *e = NULL;
		int r;

		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		r = run_line(ctx, st, line, &e);
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
	_cleanup_free_ char *current = NULL;
	struct repl_state st = {0};
	int r;

	ctx->in_repl = true;
	if (ctx->stdin_tty)
		r = repl_terminal(ctx, &st);
	else
		r = repl_script(ctx, &st, cli_flag_bool(args, "keep-going"), err);
	current = st.current;
	if (r >= 0)
		ctx->exit_status = st.exit_status;
	return r;
}
