#include "cmd/cairn/stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api.h"
#include "cmd/cairn/cli.h"
#include "common/cleanup.h"
#include "common/fdpass.h"
#include "common/err.h"
#include "common/util.h"

#define MAX_HEADER_BYTES 16384

int cli_stream_open(struct cli_ctx *ctx, struct cli_stream **ret, struct err **err)
{
	_cleanup_free_ char *path = str_printf("%s/unix.socket", ctx->dir);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct cli_stream *s;
	int fd;

	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, -ENAMETOOLONG, "Socket path \"%s\" is too long", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to create a socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		struct cli_client *c = NULL;
		int r = -errno, r2;

		close(fd);
		/* The normal client words these failures (group, daemon not running). */
		r2 = cli_ctx_client(ctx, &c, err);
		if (r2 < 0)
			return r2;
		return err_set_errno(err, r, "Failed to connect to cairnd at %s", path);
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	s->fd = fd;
	s->content_length = -1;
	*ret = s;
	return 0;
}

void cli_stream_free(struct cli_stream *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	strv_free(s->headers);
	free(s);
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Reads until the blank line that ends the headers, a byte at a time: after "101 Switching
 * Protocols" the next bytes may carry descriptors (SCM_RIGHTS), and a plain read that reached
 * them would drop the descriptors. Headers are a few hundred bytes.
 */
static int read_head(struct cli_stream *s, char **ret_head)
{
	_cleanup_free_ char *head = malloc(MAX_HEADER_BYTES + 1);
	size_t len = 0;

	if (!head)
		return -ENOMEM;
	while (len < MAX_HEADER_BYTES) {
		ssize_t n = recv(s->fd, head + len, 1, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		len++;
		if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0) {
			head[len - 2] = '\0';
			s->start = s->end = 0;
			*ret_head = steal_pointer(&head);
			return 0;
		}
	}
	return -EPROTO;
}

static int parse_head(struct cli_stream *s, char *head)
{
	char *save = NULL, *line;

	line = strtok_r(head, "\r\n", &save);
	if (!line || sscanf(line, "HTTP/1.%*d %d", &s->status) != 1)
		return -EPROTO;
	while ((line = strtok_r(NULL, "\r\n", &save))) {
		if (strv_push(&s->headers, line) < 0)
			return -ENOMEM;
	}
	{
		const char *cl = cli_stream_header(s, "Content-Length");

		s->content_length = cl ? atoll(cl) : -1;
	}
	return 0;
}

const char *cli_stream_header(const struct cli_stream *s, const char *name)
{
	size_t len = strlen(name);

	for (char **h = s->headers; h && *h; h++) {
		if (strncasecmp(*h, name, len) == 0 && (*h)[len] == ':') {
			const char *v = *h + len + 1;

			return v + strspn(v, " \t");
		}
	}
	return NULL;
}

ssize_t cli_stream_read(struct cli_stream *s, void *buf, size_t len)
{
	ssize_t n;

	if (s->content_length >= 0) {
		long long left = s->content_length - s->body_read;

		if (left <= 0)
			return 0;
		if ((long long)len > left)
			len = (size_t)left;
	}
	if (s->start < s->end) {
		n = (ssize_t)(s->end - s->start < len ? s->end - s->start : len);
		memcpy(buf, s->buf + s->start, (size_t)n);
		s->start += (size_t)n;
	} else {
		do
			n = recv(s->fd, buf, len, 0);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0 && s->content_length >= 0)
			return -ECONNRESET;
	}
	s->body_read += n;
	return n;
}

int cli_stream_read_json(struct cli_stream *s, json_object **ret, struct err **err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	json_object *o;

	for (;;) {
		char *grown = realloc(data, len + 4097);
		ssize_t n;

		if (!grown)
			return err_set(err, -ENOMEM, "Out of memory");
		data = grown;
		n = cli_stream_read(s, data + len, 4096);
		if (n < 0)
			return err_set_errno(err, (int)n, "Failed to read the answer of cairnd");
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > 16 * 1024 * 1024)
			return err_set(err, -EPROTO, "The answer of cairnd is too large");
	}
	data[len] = '\0';
	o = json_tokener_parse(data);
	if (!o)
		return err_set(err, -EPROTO, "Invalid answer from cairnd (HTTP %d)", s->status);
	*ret = o;
	return 0;
}

int cli_stream_request(struct cli_stream *s, const char *method, const char *path,
		       char *const *headers, const char *body, size_t body_len, struct err **err)
{
	_cleanup_free_ char *head = NULL, *resp = NULL;
	size_t len;
	int r;

	r = asprintf(&head,
		     "%s %s HTTP/1.1\r\nHost: cairn\r\nUser-Agent: cairn/" CLI_VERSION "\r\n",
		     method, path);
	if (r < 0) {
		head = NULL;
		return err_set(err, -ENOMEM, "Out of memory");
	}
	len = strlen(head);
	for (char *const *h = headers; h && *h; h++) {
		char *grown = realloc(head, len + strlen(*h) + 3);

		if (!grown)
			return err_set(err, -ENOMEM, "Out of memory");
		head = grown;
		len += (size_t)sprintf(head + len, "%s\r\n", *h);
	}
	{
		char *grown = realloc(head, len + 64);

		if (!grown)
			return err_set(err, -ENOMEM, "Out of memory");
		head = grown;
		len +=
		    (size_t)sprintf(head + len, "Content-Length: %zu\r\n\r\n", body ? body_len : 0);
	}
	r = write_all(s->fd, head, len);
	if (r >= 0 && body)
		r = write_all(s->fd, body, body_len);
	if (r < 0)
		return err_set_errno(err, r, "Failed to talk to cairnd");
	r = read_head(s, &resp);
	if (r < 0)
		return err_set_errno(err, r, "Failed to read the answer of cairnd");
	r = parse_head(s, resp);
	if (r < 0)
		return err_set(err, r, "Invalid answer from cairnd");
	if (s->status >= 400) {
		_cleanup_json_ json_object *env = NULL;
		_cleanup_err_ struct err *e = NULL;
		const char *msg;

		if (cli_stream_read_json(s, &env, &e) < 0)
			return err_set(err, api_errno_from_http(s->status),
				       "Invalid answer from cairnd (HTTP %d)", s->status);
		msg = api_get_string(env, "error");
		return err_set(err, api_errno_from_http(s->status), "%s",
			       msg && *msg ? msg : "Request failed");
	}
	return 0;
}

int cli_stream_send_fds(struct cli_stream *s, const int *fds, size_t n)
{
	return fd_send(s->fd, fds, n);
}

int cli_stream_recv_fd(struct cli_stream *s, int *ret_fd)
{
	return fd_recv(s->fd, ret_fd, 1, -1);
}
