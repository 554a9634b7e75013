/*
 * cairn webui: the page of instances and snapshot timelines, served on 127.0.0.1 by the client
 * itself, which proxies the API to the daemon's unix socket as the user who runs it. The daemon
 * gains no new way in: every request still arrives on the socket with that user's credentials.
 *
 * The server is small on purpose (a thread per connection, one request per connection, heads and
 * bodies bounded, a fixed number of connections): libmicrohttpd would bring GnuTLS into every
 * run of the client. What guards the port, since any local user can connect to it:
 *   - a random one-time token in the URL that is printed, exchanged at the first request for an
 *     HttpOnly, SameSite=Strict session cookie; without that cookie every request is a bare 403;
 *   - the Host header must be 127.0.0.1:PORT or localhost:PORT (DNS rebinding);
 *   - a request that changes something must carry an Origin of the page itself, and a browser's
 *     Sec-Fetch-Site must say same-origin (another site, or another port of this host, which
 *     counts as the same site for cookies, cannot make the page act).
 */
#include "cmd/cairn/cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/cairn/webui.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

extern char **environ;

/* The most connections served at once; more are closed at once (a page uses a few). */
#define MAX_CONNECTIONS 32
/* How long a connection may take to send its head and body, and to take an answer. */
#define IO_TIMEOUT_SEC 10

/* What every connection thread shares. */
struct server {
	const char *socket_path; /* the daemon's, borrowed */
	unsigned port;
	char token[WEBUI_SECRET_LEN + 1];   /* one-time, in the printed URL */
	char session[WEBUI_SECRET_LEN + 1]; /* the cookie's value */
	pthread_mutex_t lock;
	bool token_used; /* under lock */
	atomic_int active;
	atomic_bool stopping;
};

struct conn {
	struct server *srv;
	int fd;
};

/* cli_client_open() looks the socket's group up with getgrgid(), whose answer lives in a static
 * buffer: one connection thread at a time. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

static int client_open(const char *socket_path, struct cli_client **ret, struct err **err)
{
	int r;

	pthread_mutex_lock(&open_lock);
	r = cli_client_open(socket_path, ret, err);
	pthread_mutex_unlock(&open_lock);
	return r;
}

static int random_hex(char *out, struct err **err)
{
	return secret_random_hex(out) < 0 ? err_set(err, -EIO, "Failed to read random bytes") : 0;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static const char *reason_of(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 303:
		return "See Other";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	default:
		return status < 400 ? "OK" : "Error";
	}
}

/* One whole answer, then the connection closes. `extra` holds header lines, each ending CRLF. */
static void respond(int fd, int status, const char *type, const char *extra, const void *body,
		    size_t len)
{
	_cleanup_free_ char *head = str_printf(
	    "HTTP/1.1 %d %s\r\n"
	    "Connection: close\r\n"
	    "Content-Length: %zu\r\n"
	    "%s%s%s"
	    "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "X-Frame-Options: DENY\r\n"
	    "Referrer-Policy: no-referrer\r\n"
	    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
	    "img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
	    "form-action 'none'\r\n"
	    "%s\r\n",
	    status, reason_of(status), len, type ? "Content-Type: " : "", type ? type : "",
	    type ? "\r\n" : "", extra ? extra : "");

	if (!head || send_all(fd, head, strlen(head)) < 0)
		return;
	if (len)
		(void)send_all(fd, body, len);
}

/* A refusal says nothing: no body, no hint of what would have been served. */
static void refuse(int fd, int status)
{
	respond(fd, status, NULL, NULL, NULL, 0);
}

/* An error the page shows, in the daemon's envelope. */
static void respond_error(int fd, int status, const char *msg)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	const char *text;

	json_object_object_add(o, "type", json_object_new_string("error"));
	json_object_object_add(o, "error", json_object_new_string(msg));
	json_object_object_add(o, "error_code", json_object_new_int(status));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	respond(fd, status, "application/json", NULL, text, strlen(text));
}

/* ---- the event stream ---------------------------------------------------------------- */

struct sse {
	int fd;
	volatile bool stop; /* set by the watcher when the browser goes away */
	volatile bool done; /* set when the stream ended, so the watcher ends too */
	struct server *srv;
};

/* The browser sends nothing after its request: readable or hung up means it left. */
static void *sse_watch(void *arg)
{
	struct sse *s = arg;

	while (!s->done && !s->stop) {
		struct pollfd p = {.fd = s->fd, .events = POLLIN | POLLRDHUP};

		if (poll(&p, 1, 500) > 0 && (p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)))
			s->stop = true;
		if (atomic_load(&s->srv->stopping))
			s->stop = true;
	}
	return NULL;
}

static int sse_line(const char *line, void *data)
{
	struct sse *s = data;
	_cleanup_free_ char *msg = NULL;

	/* An event is one line of JSON (no newline in it), which is one `data:` line. */
	msg = str_printf("data: %s\n\n", line);
	if (!msg || send_all(s->fd, msg, strlen(msg)) < 0) {
		s->stop = true;
		return 1;
	}
	return 0;
}

static void serve_events(struct server *srv, int fd)
{
	static const char head[] = "HTTP/1.1 200 OK\r\n"
				   "Connection: close\r\n"
				   "Content-Type: text/event-stream\r\n"
				   "Cache-Control: no-store\r\n"
				   "X-Content-Type-Options: nosniff\r\n"
				   "\r\n"
				   ": cairn events\n\n";
	_cleanup_err_ struct err *e = NULL;
	struct cli_client *c = NULL;
	struct sse s = {.fd = fd, .srv = srv};
	struct timeval none = {0};
	pthread_t watcher;

	if (client_open(srv->socket_path, &c, &e) < 0) {
		respond_error(fd, 502, err_msg(e, -EIO));
		return;
	}
	/* The stream lasts as long as the page: no send timeout on an idle stream. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	if (send_all(fd, head, sizeof(head) - 1) < 0 ||
	    pthread_create(&watcher, NULL, sse_watch, &s) != 0) {
		cli_client_free(c);
		return;
	}
	(void)cli_client_stream_lines(c, "/1.0/events?type=lifecycle,operation", sse_line, &s,
				      &s.stop, NULL);
	s.done = true;
	pthread_join(watcher, NULL);
	cli_client_free(c);
}

/* ---- one connection ------------------------------------------------------------------ */

/* Reads the head (up to the empty line) into buf; *ret_len is all that was read, the body's
 * first bytes included. */
static int read_head(int fd, char *buf, size_t cap, size_t *ret_head, size_t *ret_len)
{
	size_t len = 0;

	while (len < cap - 1) {
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
		char *end;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		/* A NUL in the head would hide what follows it from the parser. */
		if (memchr(buf, '\0', end ? (size_t)(end - buf) : len))
			return -EINVAL;
		if (end) {
			*ret_head = (size_t)(end - buf) + 4;
			*ret_len = len;
			return 0;
		}
	}
	return -E2BIG;
}

static void serve_proxy(struct server *srv, int fd, const struct webui_request *req,
			const char *body, size_t body_len)
{
	_cleanup_err_ struct err *e = NULL;
	struct cli_client *c = NULL;
	struct cli_forward ans = {0};
	int r;

	r = client_open(srv->socket_path, &c, &e);
	if (r >= 0)
		r = cli_client_forward(c, req->method, req->target, body_len ? body : NULL,
				       body_len, &ans, &e);
	cli_client_free(c);
	if (r < 0) {
		respond_error(fd, 502, err_msg(e, r));
		return;
	}
	respond(fd, (int)ans.status, ans.json ? "application/json" : "text/plain; charset=utf-8",
		NULL, ans.body, ans.len);
	free(ans.body);
}

/* The token of the printed URL, once: the answer sets the session cookie and sends the browser
 * to the page without the token in its address. */
static void exchange_token(struct server *srv, int fd, const char *token, size_t len)
{
	_cleanup_free_ char *extra = NULL;
	bool ok;

	pthread_mutex_lock(&srv->lock);
	ok = !srv->token_used && webui_secret_equal(token, len, srv->token);
	if (ok)
		srv->token_used = true;
	pthread_mutex_unlock(&srv->lock);
	if (!ok) {
		refuse(fd, 403);
		return;
	}
	extra = str_printf("Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Strict\r\n"
			   "Location: /\r\n",
			   WEBUI_COOKIE, srv->session);
	if (extra)
		respond(fd, 303, NULL, extra, NULL, 0);
}

/* Who connected: the owner of the other end of this loopback connection. */
static int peer_owner(int fd, uid_t *ret)
{
	_cleanup_free_ char *table = NULL;
	_cleanup_err_ struct err *e = NULL;
	struct sockaddr_in me, peer;
	socklen_t l1 = sizeof(me), l2 = sizeof(peer);
	size_t len = 0;
	int r;

	if (getsockname(fd, (struct sockaddr *)&me, &l1) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &l2) < 0)
		return -errno;
	r = file_read_all("/proc/net/tcp", &table, &len, &e);
	if (r < 0)
		return r;
	return webui_tcp_owner(table, ntohs(peer.sin_port), ntohs(me.sin_port), ret);
}

static void serve(struct server *srv, int fd)
{
	_cleanup_free_ char *buf = malloc(WEBUI_MAX_HEAD + 1);
	_cleanup_free_ char *body = NULL;
	struct webui_request req;
	const struct webui_asset *asset;
	const char *value;
	size_t head = 0, len = 0, vlen = 0, have;
	bool changes;
	uid_t owner = 0;
	char path[256];

	if (!buf)
		return;
	/* Only the user who runs this (and root) may even knock: another local user's process
	 * holding a token or a cookie it should not have gets nothing. */
	if (peer_owner(fd, &owner) < 0 || (owner != getuid() && owner != 0)) {
		refuse(fd, 403);
		return;
	}
	if (read_head(fd, buf, WEBUI_MAX_HEAD + 1, &head, &len) < 0) {
		refuse(fd, 400);
		return;
	}
	/* The body's first bytes follow the head in buf; keep them apart before parsing. */
	have = len - head;
	body = malloc(have + 1);
	if (!body)
		return;
	memcpy(body, buf + head, have);
	buf[head] = '\0';
	if (webui_request_parse(buf, &req) < 0) {
		refuse(fd, 400);
		return;
	}
	if (!webui_host_ok(req.host, srv->port)) {
		refuse(fd, 403);
		return;
	}
	snprintf(path, sizeof(path), "%.*s", (int)strcspn(req.target, "?"), req.target);
	if (strcmp(path, "/") == 0 && (value = webui_query_get(req.target, "token", &vlen))) {
		exchange_token(srv, fd, value, vlen);
		return;
	}
	value = webui_cookie_get(req.cookie, WEBUI_COOKIE, &vlen);
	if (!webui_secret_equal(value, vlen, srv->session)) {
		refuse(fd, 403);
		return;
	}
	changes = strcmp(req.method, "GET") != 0 && strcmp(req.method, "HEAD") != 0;
	/* A browser says where a request comes from: only the page itself may use the API, and
	 * only it may change anything (the cookie alone would let another port of this host in). */
	if (req.fetch_site && strcmp(req.fetch_site, "same-origin") != 0 &&
	    (changes || webui_is_api(req.target) || strcmp(path, "/events") == 0 ||
	     strcmp(req.fetch_site, "none") != 0)) {
		refuse(fd, 403);
		return;
	}
	if (changes && !webui_origin_ok(req.origin, srv->port)) {
		refuse(fd, 403);
		return;
	}
	if (req.has_transfer_encoding || req.has_upgrade) {
		refuse(fd, 400);
		return;
	}
	if (req.content_length > WEBUI_MAX_BODY) {
		refuse(fd, 413);
		return;
	}

	asset = webui_asset_find(path);
	if (asset || strcmp(path, "/events") == 0) {
		if (strcmp(req.method, "GET") != 0) {
			refuse(fd, 405);
			return;
		}
		if (asset)
			respond(fd, 200, asset->type, NULL, asset->data, asset->len);
		else
			serve_events(srv, fd);
		return;
	}
	if (!webui_is_api(req.target)) {
		refuse(fd, 404);
		return;
	}
	if (strcmp(req.method, "GET") != 0 && strcmp(req.method, "POST") != 0 &&
	    strcmp(req.method, "PUT") != 0 && strcmp(req.method, "PATCH") != 0 &&
	    strcmp(req.method, "DELETE") != 0) {
		refuse(fd, 405);
		return;
	}
	if (req.content_length > 0) {
		size_t want = (size_t)req.content_length;
		char *p = realloc(body, want + 1);

		if (!p)
			return;
		body = p;
		while (have < want) {
			ssize_t n = recv(fd, body + have, want - have, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				refuse(fd, 400);
				return;
			}
			have += (size_t)n;
		}
		body[want] = '\0';
		have = want;
	} else {
		have = 0;
	}
	serve_proxy(srv, fd, &req, body, have);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct timeval tv = {.tv_sec = IO_TIMEOUT_SEC};

	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	serve(c->srv, c->fd);
	/* Half-close first so that an answer sent before the body was read is not lost to a
	 * reset. */
	shutdown(c->fd, SHUT_WR);
	close(c->fd);
	atomic_fetch_sub(&c->srv->active, 1);
	free(c);
	return NULL;
}

/* ---- the command --------------------------------------------------------------------- */

static int listen_local(unsigned *ret_port, struct err **err)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);

	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to create a socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
		return err_set_errno(err, -errno, "Failed to listen on 127.0.0.1");
	*ret_port = ntohs(sa.sin_port);
	return steal_fd(&fd);
}

/* Opens the URL in the desktop's browser when there is a desktop; nothing is waited for. */
static pid_t open_browser(const char *url)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = {(char *)"xdg-open", (char *)url, NULL};
	pid_t pid = 0;

	if (!getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY"))
		return 0;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, "xdg-open", &fa, NULL, argv, environ) != 0)
		pid = 0;
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

int cli_cmd_webui(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_close_ int lfd = -EBADF;
	_cleanup_close_ int sfd = -EBADF;
	_cleanup_free_ char *url = NULL;
	_cleanup_json_ json_object *server = NULL;
	_cleanup_free_ char *socket_path = NULL;
	static struct server srv = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct cli_client *c = NULL;
	struct sigaction dfl = {.sa_handler = SIG_DFL}, old_int, old_term;
	sigset_t mask, old;
	pid_t browser = 0;
	int r;

	/* The page talks to the daemon as the user who runs this, on its unix socket: check now
	 * that it answers, so a refusal reads as `cairn list` says it. */
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	if (!cli_client_is_local(c))
		return err_set(err, -EINVAL,
			       "cairn webui serves the local daemon only, not an HTTPS remote");
	r = cli_client_query(c, "GET", "/1.0", NULL, &server, err);
	if (r < 0)
		return r;
	socket_path = strdup(cli_client_socket_path(c));
	if (!socket_path)
		return err_set(err, -ENOMEM, "Out of memory");
	srv.socket_path = socket_path;
	srv.token_used = false;
	atomic_store(&srv.active, 0);
	atomic_store(&srv.stopping, false);
	r = random_hex(srv.token, err);
	if (r >= 0)
		r = random_hex(srv.session, err);
	if (r < 0)
		return r;
	lfd = listen_local(&srv.port, err);
	if (lfd < 0)
		return lfd;
	url = str_printf("http://127.0.0.1:%u/?token=%s", srv.port, srv.token);
	if (!url)
		return err_set(err, -ENOMEM, "Out of memory");

	/* Ctrl-C and SIGTERM are read from a descriptor by this thread; the connection threads
	 * inherit the blocked mask and never see them. An ignored signal is dropped even while
	 * blocked (a shell starts background jobs with SIGINT ignored), so both get their default
	 * action back first: blocked, it never runs. */
	sigaction(SIGINT, &dfl, &old_int);
	sigaction(SIGTERM, &dfl, &old_term);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		r = err_set_errno(err, -errno, "Failed to wait for signals");
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		return r;
	}

	fprintf(ctx->out, "Web server running at: %s\n", url);
	fprintf(ctx->out, "Press Ctrl-C to stop it.\n");
	fflush(ctx->out);
	if (!cli_flag_bool(args, "no-browser"))
		browser = open_browser(url);

	for (;;) {
		struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		struct conn *conn;
		pthread_t t;
		pthread_attr_t attr;
		int fd;

		if (browser > 0 && waitpid(browser, NULL, WNOHANG) == browser)
			browser = 0;
		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			break;
		if (p[1].revents) {
			struct signalfd_siginfo si;

			/* Read, or it stays pending and kills us when the mask is restored. */
			(void)!read(sfd, &si, sizeof(si));
			break;
		}
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (atomic_load(&srv.active) >= MAX_CONNECTIONS) {
			close(fd);
			continue;
		}
		conn = malloc(sizeof(*conn));
		if (!conn) {
			close(fd);
			continue;
		}
		*conn = (struct conn){.srv = &srv, .fd = fd};
		atomic_fetch_add(&srv.active, 1);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, conn_main, conn) != 0) {
			atomic_fetch_sub(&srv.active, 1);
			close(fd);
			free(conn);
		}
		pthread_attr_destroy(&attr);
	}
	/* Event streams notice within a second or so; a request still waiting on the daemon
	 * ends with the process, and keeps the socket path it borrows. */
	atomic_store(&srv.stopping, true);
	for (int i = 0; i < 30 && atomic_load(&srv.active) > 0; i++)
		usleep(100 * 1000);
	if (atomic_load(&srv.active) > 0)
		srv.socket_path = steal_pointer(&socket_path);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	fprintf(ctx->out, "Web server stopped.\n");
	return 0;
}
