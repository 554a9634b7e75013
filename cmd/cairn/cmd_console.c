/*
 * cairn console: the daemon passes the console's pseudo-terminal master over an upgraded
 * connection; this process copies between it and the caller's terminal (raw) until Ctrl-a q.
 * --show-log prints the console log instead.
 */
#include "cmd/cairn/cli.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cmd/cairn/stream.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

#define CTRL_A 0x01

static void stream_freep(struct cli_stream **s)
{
	cli_stream_free(*s);
	*s = NULL;
}

static int show_log(struct cli_ctx *ctx, const char *path, struct err **err)
{
	_cleanup_(stream_freep) struct cli_stream *s = NULL;
	char *const headers[] = {"Connection: close", NULL};
	char buf[65536];
	int r;

	r = cli_stream_open(ctx, &s, err);
	if (r < 0)
		return r;
	r = cli_stream_request(s, "GET", path, headers, NULL, 0, err);
	if (r < 0)
		return r;
	fflush(ctx->out);
	for (;;) {
		ssize_t n = cli_stream_read(s, buf, sizeof(buf));

		if (n < 0)
			return err_set_errno(err, (int)n, "Failed to read the console log");
		if (n == 0)
			return 0;
		r = fd_write_all(STDOUT_FILENO, buf, (size_t)n);
		if (r < 0)
			return err_set_errno(err, r, "Failed to write the console log");
	}
}

/*
 * Copies keys to the console and its output to stdout. Ctrl-a q detaches, Ctrl-a Ctrl-a sends
 * one Ctrl-a. Returns 0 on detach or when the console goes away (the container stopped).
 */
static int proxy(int ptx, struct err **err)
{
	bool escape = false;
	char buf[4096];

	for (;;) {
		struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
				      {.fd = ptx, .events = POLLIN}};
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return err_set_errno(err, -errno, "Failed to wait for the console");
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(ptx, buf, sizeof(buf));
			if (n <= 0 && !(n < 0 && errno == EINTR))
				return 0;
			if (n > 0 && fd_write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
				return 0;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char out[sizeof(buf)];
			size_t o = 0;

			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0 && !(n < 0 && errno == EINTR))
				return 0;
			for (ssize_t i = 0; i < n; i++) {
				if (escape) {
					escape = false;
					if (buf[i] == 'q')
						return 0;
					if (buf[i] != CTRL_A)
						out[o++] = CTRL_A;
					out[o++] = buf[i];
				} else if (buf[i] == CTRL_A) {
					escape = true;
				} else {
					out[o++] = buf[i];
				}
			}
			if (o > 0 && fd_write_all(ptx, out, o) < 0)
				return 0;
		}
	}
}

int cli_cmd_console(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_(stream_freep) struct cli_stream *s = NULL;
	_cleanup_free_ char *esc = cli_escape(args->argv[0]), *path = NULL;
	_cleanup_close_ int ptx = -EBADF;
	char *const headers[] = {"Connection: Upgrade", "Upgrade: cairn-fds",
				 "Content-Type: application/json", NULL};
	const char *body = "{\"type\":\"console\"}";
	struct winsize ws;
	int r;

	r = cli_instance_arg_check(ctx, args, args->argv[0], err);
	if (r < 0)
		return r;
	path = esc ? str_printf("/1.0/instances/%s/console", esc) : NULL;
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	if (cli_flag_bool(args, "show-log"))
		return show_log(ctx, path, err);

	r = cli_stream_open(ctx, &s, err);
	if (r < 0)
		return r;
	r = cli_stream_request(s, "POST", path, headers, body, strlen(body), err);
	if (r < 0)
		return r;
	if (s->status != 101)
		return err_set(err, -EPROTO, "Unexpected answer from cairnd (HTTP %d)", s->status);
	r = cli_stream_recv_fd(s, &ptx);
	if (r < 0)
		return err_set_errno(err, r, "Failed to receive the console from cairnd");
	/* The console takes the caller's size, as Incus sets it. */
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		(void)ioctl(ptx, TIOCSWINSZ, &ws);

	fprintf(stdout, "To detach from the console, press: <ctrl>+a q\n");
	fflush(stdout);
	if (isatty(STDIN_FILENO))
		cli_term_raw(STDIN_FILENO);
	r = proxy(ptx, err);
	cli_term_restore();
	if (r >= 0) {
		fputs("\n", stdout);
		fflush(stdout);
	}
	return r;
}
