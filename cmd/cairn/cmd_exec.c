/*
 * cairn exec and cairn shell. The client upgrades its own connection to cairnd, passes its
 * stdin, stdout and stderr over it, and then only relays resizes and signals until the daemon
 * sends the command's exit status: the command reads and writes the caller's descriptors
 * directly, so no output passes through this process.
 */
#include "cmd/cairn/cli.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "cmd/cairn/stream.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

static struct termios term_saved;
static int term_fd = -1;
static bool term_atexit;

void cli_term_restore(void)
{
	if (term_fd >= 0)
		tcsetattr(term_fd, TCSADRAIN, &term_saved);
	term_fd = -1;
}

/* A signal that ends the process puts the terminal back first. */
static void term_signal(int sig)
{
	cli_term_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

int cli_term_raw(int fd)
{
	static const int fatal[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS};
	struct termios raw;

	if (tcgetattr(fd, &term_saved) < 0)
		return -errno;
	if (!term_atexit) {
		atexit(cli_term_restore);
		for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
			signal(fatal[i], term_signal);
		term_atexit = true;
	}
	raw = term_saved;
	cfmakeraw(&raw);
	term_fd = fd;
	if (tcsetattr(fd, TCSADRAIN, &raw) < 0) {
		term_fd = -1;
		return -errno;
	}
	return 0;
}

static void stream_freep(struct cli_stream **s)
{
	cli_stream_free(*s);
	*s = NULL;
}

/* The caller's window size, from whichever standard descriptor is a terminal. */
static bool window_size(int *w, int *h)
{
	struct winsize ws;

	for (int fd = 0; fd < 3; fd++) {
		if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
			*w = ws.ws_col;
			*h = ws.ws_row;
			return true;
		}
	}
	return false;
}

static int send_line(int fd, json_object *o)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	_cleanup_free_ char *line = str_printf("%s\n", text);
	size_t len, off = 0;

	if (!line)
		return -ENOMEM;
	len = strlen(line);
	while (off < len) {
		ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	return 0;
}

/* Reads lines from the socket until {"return": N}. 1 with *ret set when it came, 0 when more is
 * needed, negative on failure or end of connection. */
static int take_return(int fd, char *buf, size_t *len, size_t cap, int *ret, struct err **err)
{
	ssize_t n;
	char *nl;

	do
		n = recv(fd, buf + *len, cap - 1 - *len, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return err_set(err, -ECONNRESET, "Lost the connection to cairnd");
	*len += (size_t)n;
	buf[*len] = '\0';
	while ((nl = strchr(buf, '\n'))) {
		_cleanup_json_ json_object *o = NULL;
		json_object *v = NULL, *e = NULL;

		*nl = '\0';
		o = json_tokener_parse(buf);
		memmove(buf, nl + 1, *len - (size_t)(nl + 1 - buf) + 1);
		*len -= (size_t)(nl + 1 - buf);
		if (o && json_object_object_get_ex(o, "error", &e) && e)
			return err_set(err, -EIO, "%s", json_object_get_string(e));
		if (o && json_object_object_get_ex(o, "return", &v) && v) {
			*ret = json_object_get_int(v);
			return 1;
		}
	}
	if (*len >= cap - 1)
		return err_set(err, -EPROTO, "Invalid message from cairnd");
	return 0;
}

/* Everything one exec needs. */
struct exec_req {
	const char *name;
	char *const *command;
	char *const *env; /* "K=V" */
	const char *cwd;
	long long uid;
	long long gid;
	bool interactive;
};

static json_object *exec_body(const struct exec_req *x, struct err **err)
{
	json_object *body = json_object_new_object(), *cmd = json_object_new_array(),
		    *env = json_object_new_object();
	const char *term = getenv("TERM");
	int w = 80, h = 25;

	if (x->interactive && term && *term)
		json_object_object_add(env, "TERM", json_object_new_string(term));
	for (char *const *e = x->env; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		_cleanup_free_ char *key = NULL;

		if (!eq || eq == *e) {
			json_object_put(body);
			json_object_put(cmd);
			json_object_put(env);
			err_set(err, -EINVAL, "Invalid environment \"%s\" (use KEY=VALUE)", *e);
			return NULL;
		}
		key = strndup(*e, (size_t)(eq - *e));
		if (key)
			json_object_object_add(env, key, json_object_new_string(eq + 1));
	}
	for (char *const *a = x->command; *a; a++)
		json_object_array_add(cmd, json_object_new_string(*a));
	window_size(&w, &h);
	json_object_object_add(body, "command", cmd);
	json_object_object_add(body, "environment", env);
	json_object_object_add(body, "cwd", json_object_new_string(x->cwd ? x->cwd : ""));
	json_object_object_add(body, "user", json_object_new_int64(x->uid));
	json_object_object_add(body, "group", json_object_new_int64(x->gid));
	json_object_object_add(body, "interactive", json_object_new_boolean(x->interactive));
	json_object_object_add(body, "width", json_object_new_int(w));
	json_object_object_add(body, "height", json_object_new_int(h));
	json_object_object_add(body, "wait-for-websocket", json_object_new_boolean(true));
	return body;
}

/* Relays resizes and signals until the status comes. */
static int exec_wait(struct cli_stream *s, int sfd, int *ret_status, struct err **err)
{
	char buf[4096];
	size_t len = 0;
	int r;

	/* Bytes read with the headers belong to the control stream. */
	if (s->end > s->start) {
		len = s->end - s->start < sizeof(buf) - 1 ? s->end - s->start : sizeof(buf) - 1;
		memcpy(buf, s->buf + s->start, len);
		buf[len] = '\0';
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN},
				      {.fd = sfd, .events = POLLIN}};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return err_set_errno(err, -errno, "Failed to wait for the command");
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			_cleanup_json_ json_object *msg = json_object_new_object();

			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) && msg) {
				if (si.ssi_signo == SIGWINCH) {
					json_object *size = json_object_new_array();
					int w = 80, h = 25;

					window_size(&w, &h);
					json_object_array_add(size, json_object_new_int(w));
					json_object_array_add(size, json_object_new_int(h));
					json_object_object_add(msg, "resize", size);
				} else {
					json_object_object_add(
					    msg, "signal", json_object_new_int((int)si.ssi_signo));
				}
				send_line(s->fd, msg);
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = take_return(s->fd, buf, &len, sizeof(buf), ret_status, err);
			if (r != 0)
				return r < 0 ? r : 0;
		}
	}
}

static int run_exec(struct cli_ctx *ctx, const struct exec_req *x, struct err **err)
{
	_cleanup_(stream_freep) struct cli_stream *s = NULL;
	_cleanup_json_ json_object *body = NULL;
	_cleanup_free_ char *esc = cli_escape(x->name), *path = NULL;
	_cleanup_close_ int sfd = -EBADF;
	char *headers[] = {"Connection: Upgrade", "Upgrade: cairn-fds",
			   "Content-Type: application/json", NULL};
	const int fds[3] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
	sigset_t mask, old;
	const char *text;
	int status = 0, r;

	path = esc ? str_printf("/1.0/instances/%s/exec", esc) : NULL;
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	body = exec_body(x, err);
	if (!body)
		return -EINVAL;
	text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	r = cli_stream_open(ctx, &s, err);
	if (r < 0)
		return r;
	r = cli_stream_request(s, "POST", path, headers, text, strlen(text), err);
	if (r < 0)
		return r;
	if (s->status != 101)
		return err_set(err, -EPROTO, "Unexpected answer from cairnd (HTTP %d)", s->status);

	/* Signals become messages to the command rather than ending this process. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGWINCH);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		r = err_set_errno(err, -errno, "Failed to watch signals");
	} else {
		/* In a pseudo-terminal session keys go to the process inside as they are typed;
		 * the terminal driver in the container turns Ctrl-C and Ctrl-Z into signals. */
		if (x->interactive && isatty(STDIN_FILENO))
			cli_term_raw(STDIN_FILENO);
		r = cli_stream_send_fds(s, fds, 3);
		if (r < 0)
			r = err_set_errno(err, r, "Failed to pass the terminal to cairnd");
		else
			r = exec_wait(s, sfd, &status, err);
		cli_term_restore();
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return r;
	ctx->exit_status = status;
	return 0;
}

int cli_cmd_exec(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	const char *user = cli_flag_string(args, "user"), *group = cli_flag_string(args, "group");
	struct exec_req x = {
	    .name = args->argv[0],
	    .command = args->argv + 1,
	    .env = cli_flag_list(args, "env"),
	    .cwd = cli_flag_string(args, "cwd"),
	    .uid = cli_flag_int(args, "user", 0),
	    .gid = cli_flag_int(args, "group", 0),
	};

	int r;

	if (cli_flag_bool(args, "force-interactive") && cli_flag_bool(args, "force-noninteractive"))
		return err_set(err, -EINVAL, "You can't pass -t and -T at the same time");
	r = cli_instance_arg_check(ctx, args, x.name, err);
	if (r < 0)
		return r;
	if ((user && x.uid < 0) || (group && x.gid < 0))
		return err_set(err, -EINVAL, "Invalid user or group");
	if (cli_flag_bool(args, "force-interactive"))
		x.interactive = true;
	else if (cli_flag_bool(args, "force-noninteractive"))
		x.interactive = false;
	else
		x.interactive = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	return run_exec(ctx, &x, err);
}

int cli_cmd_shell(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	char *const command[] = {"/bin/sh", "-l", NULL};
	char *const env[] = {"HOME=/root", NULL};
	struct exec_req x = {
	    .name = args->argv[0],
	    .command = command,
	    .env = env,
	    .interactive = true,
	};
	int r;

	r = cli_instance_arg_check(ctx, args, x.name, err);
	if (r < 0)
		return r;
	return run_exec(ctx, &x, err);
}
