/*
 * The client's HTTP/1.1 on the unix socket, against a scripted server on a socket of its own:
 * Content-Length and chunked bodies, keep-alive and a kept connection the server closed, async
 * operations and their wait, uploads with "Expect: 100-continue" (sent and refused), answers
 * that end with the connection, and requests the client must refuse to write.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd/cairn/cli.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

/* One scripted server: `reply` answers each request; it returns false to close the connection. */
struct server {
	char dir[64];
	char path[128];
	int listen_fd;
	pthread_t thread;
	bool (*reply)(struct server *s, int fd, const char *head, const char *body, size_t n);
	int accepts;  /* connections accepted */
	int requests; /* requests answered */
	char last_head[4096];
	size_t body_bytes; /* bytes of the last request's body */
};

static void send_str(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len > 0) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

/* Reads one request: its head into `head` (NUL-terminated) and Content-Length bytes of body,
 * unless the request expects a 100 (then the reply decides). Returns false at end of file. */
static bool read_request(int fd, char *head, size_t cap, char **body, size_t *body_len)
{
	size_t len = 0;
	long long cl = 0;
	const char *p;

	*body = NULL;
	*body_len = 0;
	while (len + 1 < cap) {
		ssize_t n = recv(fd, head + len, 1, 0);

		if (n <= 0)
			return false;
		len++;
		head[len] = '\0';
		if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	p = strcasestr(head, "\r\nContent-Length:");
	if (p)
		cl = atoll(p + strlen("\r\nContent-Length:"));
	if (strcasestr(head, "Expect: 100-continue"))
		return true;
	*body = calloc(1, (size_t)cl + 1);
	while (*body_len < (size_t)cl) {
		ssize_t n = recv(fd, *body + *body_len, (size_t)cl - *body_len, 0);

		if (n <= 0)
			return false;
		*body_len += (size_t)n;
	}
	return true;
}

static void *serve(void *arg)
{
	struct server *s = arg;

	for (;;) {
		int fd = accept(s->listen_fd, NULL, NULL);

		if (fd < 0)
			return NULL;
		s->accepts++;
		for (;;) {
			char head[4096];
			char *body = NULL;
			size_t n = 0;
			bool more;

			if (!read_request(fd, head, sizeof(head), &body, &n)) {
				free(body);
				break;
			}
			snprintf(s->last_head, sizeof(s->last_head), "%s", head);
			s->requests++;
			more = s->reply(s, fd, head, body, n);
			free(body);
			if (!more)
				break;
		}
		close(fd);
	}
}

static struct server *server_start(bool (*reply)(struct server *, int, const char *, const char *,
						 size_t))
{
	struct server *s = calloc(1, sizeof(*s));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	assert_non_null(s);
	strcpy(s->dir, "/tmp/cairn-cli-client-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/unix.socket", s->dir);
	strcpy(sa.sun_path, s->path);
	s->reply = reply;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->listen_fd >= 0);
	assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->listen_fd, 8), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
	return s;
}

static void server_stop(struct server *s)
{
	shutdown(s->listen_fd, SHUT_RDWR);
	close(s->listen_fd);
	pthread_join(s->thread, NULL);
	unlink(s->path);
	rmdir(s->dir);
	free(s);
}

static const char sync_c1[] =
    "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":200,\"metadata\":{\"name\":\"c1\"}}";

static void reply_json(int fd, int status, const char *json, const char *extra)
{
	char head[512];

	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
		 status, strlen(json), extra ? extra : "");
	send_str(fd, head);
	send_str(fd, json);
}

static bool reply_sync(struct server *s, int fd, const char *head, const char *body, size_t n)
{
	reply_json(fd, 200, sync_c1, NULL);
	return true;
}

static void assert_name_c1(json_object *md)
{
	json_object *name = NULL;

	assert_non_null(md);
	assert_true(json_object_object_get_ex(md, "name", &name));
	assert_string_equal(json_object_get_string(name), "c1");
}

/* Two requests of one command share a connection; the request line is what the API expects. */
static void test_keep_alive(void **state)
{
	struct server *s = server_start(reply_sync);
	struct cli_client *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	int r;

	(void)state;
	assert_int_equal(cli_client_open(s->path, &c, &e), 0);
	for (int i = 0; i < 2; i++) {
		_cleanup_json_ json_object *md = NULL;

		r = cli_client_query(c, "GET", "/1.0/instances/c1?recursion=1", NULL, &md, &e);
		assert_int_equal(r, 0);
		assert_name_c1(md);
	}
	assert_int_equal(s->accepts, 1);
	assert_int_equal(s->requests, 2);
	assert_non_null(strstr(s->last_head, "GET /1.0/instances/c1?recursion=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(s->last_head, "\r\nHost: cairn\r\n"));
	cli_client_free(c);
	server_stop(s);
}

/* The server ends each connection after one answer without saying so: the next request finds
 * the kept connection closed before any answer and is sent again on a new one. */
static bool reply_then_close(struct server *s, int fd, const char *head, const char *body, size_t n)
{
	reply_json(fd, 200, sync_c1, NULL);
	return false;
}

static void test_closed_keep_alive(void **state)
{
	struct server *s = server_start(reply_then_close);
	struct cli_client *c = NULL;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	assert_int_equal(cli_client_open(s->path, &c, &e), 0);
	for (int i = 0; i < 3; i++) {
		_cleanup_json_ json_object *md = NULL;

		assert_int_equal(cli_client_query(c, "GET", "/1.0/instances/c1", NULL, &md, &e), 0);
		assert_name_c1(md);
	}
	assert_int_equal(s->requests, 3);
	assert_int_equal(s->accepts, 3);
	cli_client_free(c);
	server_stop(s);
}

/* A chunked body, in uneven chunks with an extension and a trailer; then a body that ends with
 * the connection (no length, HTTP/1.0). */
static bool reply_chunked(struct server *s, int fd, const char *head, const char *body, size_t n)
{
	if (s->requests == 1) {
		send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
		send_str(fd, "5;ext=1\r\n{\"typ\r\n");
		send_str(fd, "48\r\ne\":\"sync\",\"status\":\"Success\",\"status_code\":200,"
			     "\"metadata\":{\"name\":\"c1\"}}\r\n");
		send_str(fd, "0\r\nX-Trailer: 1\r\n\r\n");
		return true;
	}
	send_str(fd, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n");
	send_str(fd, sync_c1);
	return false;
}

static void test_chunked_and_eof_bodies(void **state)
{
	struct server *s = server_start(reply_chunked);
	struct cli_client *c = NULL;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	assert_int_equal(cli_client_open(s->path, &c, &e), 0);
	for (int i = 0; i < 2; i++) {
		_cleanup_json_ json_object *md = NULL;

		assert_int_equal(cli_client_query(c, "GET", "/1.0/instances/c1", NULL, &md, &e), 0);
		assert_name_c1(md);
	}
	assert_int_equal(s->accepts, 1);
	cli_client_free(c);
	server_stop(s);
}

/* An async answer is waited for on the same connection; a failed operation is the error. */
static bool reply_async(struct server *s, int fd, const char *head, const char *body, size_t n)
{
	static const char async[] =
	    "{\"type\":\"async\",\"status\":\"Operation created\",\"status_code\":100,"
	    "\"operation\":\"/1.0/operations/op1\",\"metadata\":{\"id\":\"op1\"}}";

	if (strncmp(head, "PUT /1.0/instances/c1/state ", 28) == 0) {
		assert_int_equal(n, strlen("{\"action\":\"start\"}"));
		assert_memory_equal(body, "{\"action\":\"start\"}", n);
		assert_non_null(strstr(head, "\r\nContent-Type: application/json\r\n"));
		reply_json(fd, 202, async, NULL);
	} else if (strncmp(head, "GET /1.0/operations/op1/wait ", 29) == 0) {
		reply_json(fd, 200,
			   s->accepts > 1
			       ? "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":"
				 "200,\"metadata\":{\"status\":\"Failure\",\"err\":"
				 "\"Failed to start instance \\\"c1\\\": no\"}}"
			       : "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":"
				 "200,\"metadata\":{\"status\":\"Success\"}}",
			   NULL);
	} else {
		reply_json(
		    fd, 404,
		    "{\"type\":\"error\",\"error\":\"Instance not found\",\"error_code\":404}",
		    NULL);
	}
	return true;
}

static void test_async_wait_and_errors(void **state)
{
	struct server *s = server_start(reply_async);
	struct cli_client *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_json_ json_object *body = json_tokener_parse("{\"action\":\"start\"}");
	int r;

	(void)state;
	assert_int_equal(cli_client_open(s->path, &c, &e), 0);
	assert_int_equal(cli_client_query(c, "PUT", "/1.0/instances/c1/state", body, NULL, &e), 0);
	assert_int_equal(s->accepts, 1);
	assert_int_equal(s->requests, 2);
	r = cli_client_query(c, "GET", "/1.0/instances/nope", NULL, NULL, &e);
	assert_int_equal(r, -ENOENT);
	assert_string_equal(err_msg(e, r), "Instance not found");
	cli_client_free(c);

	/* A new client, a new connection: now the operation fails. */
	err_free(steal_pointer(&e));
	assert_int_equal(cli_client_open(s->path, &c, &e), 0);
	r = cli_client_query(c, "PUT", "/1.0/instances/c1/state", body, NULL, &e);
	assert_true(r < 0);
	assert_string_equal(err_msg(e, r), "Failed to start instance \"c1\": no");
	cli_client_free(c);
	server_stop(s);
}

/* Uploads wait for "100 Continue" before the body; a refusal before it leaves the body unsent
 * and the next request on a new connection. */
static bool reply_upload(struct server *s, int fd, const char *head, const char *body, size_t n)
{
	char buf[4096];
	size_t got = 0;

	if (strstr(head, "X-Refuse: 1")) {
		reply_json(fd, 413,
			   "{\"type\":\"error\",\"error\":\"File too large\",\"error_code\":413}",
			   NULL);
		return true;
	}
	if (!strstr(head, "Expect: 100-continue")) {
		reply_json(fd, 200, sync_c1, NULL);
		return true;
	}
	send_str(fd, "HTTP/1.1 100 Continue\r\n\r\n");
	while (got < 10000) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);

		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	s->body_bytes = got;
	reply_json(fd, 200, sync_c1, NULL);
	return true;
}

static void test_upload(void **state)
{
	struct server *s = server_start(reply_upload);
	struct cli_client *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_json_ json_object *md = NULL;
	char file[] = "/tmp/cairn-cli-upload-XXXXXX";
	char *const headers[] = {(char *)"X-Incus-type: file", NULL};
	char *const refuse[] = {(char *)"X-Refuse: 1", NULL};
	char block[10000];
	int fd, r;

	(void)state;
	memset(block, 'x', sizeof(block));
	fd = mkstemp(file);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(cli_client_open(s->path, &c, &e), 0);
	r = cli_client_upload(c, "/1.0/instances/c1/files?path=/x", fd, sizeof(block), headers, &md,
			      &e);
	assert_int_equal(r, 0);
	assert_int_equal(s->body_bytes, sizeof(block));
	assert_non_null(strstr(s->last_head, "\r\nContent-Length: 10000\r\n"));
	assert_non_null(strstr(s->last_head, "\r\nX-Incus-type: file\r\n"));

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	r = cli_client_upload(c, "/1.0/instances/c1/files?path=/x", fd, sizeof(block), refuse, NULL,
			      &e);
	assert_true(r < 0);
	assert_string_equal(err_msg(e, r), "File too large");
	/* Nothing of the body was read. */
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
	err_free(steal_pointer(&e));
	json_object_put(steal_pointer(&md));
	assert_int_equal(cli_client_query(c, "GET", "/1.0/instances/c1", NULL, &md, &e), 0);
	assert_name_c1(md);
	assert_int_equal(s->accepts, 2);
	close(fd);
	unlink(file);
	cli_client_free(c);
	server_stop(s);
}

/* What would end the request line or a header early is refused before anything is sent. */
static void test_refuses_injection(void **state)
{
	struct server *s = server_start(reply_sync);
	struct cli_client *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	char *const bad[] = {(char *)"X-A: 1\r\nX-B: 2", NULL};
	int r;

	(void)state;
	assert_int_equal(cli_client_open(s->path, &c, &e), 0);
	r = cli_client_query(c, "GET", "/1.0/instances/a b", NULL, NULL, &e);
	assert_int_equal(r, -EINVAL);
	err_free(steal_pointer(&e));
	r = cli_client_query(c, "GET", "/1.0/x HTTP/1.1\r\nX-Evil: 1\r\n\r\nGET /", NULL, NULL, &e);
	assert_int_equal(r, -EINVAL);
	err_free(steal_pointer(&e));
	r = cli_client_upload(c, "/1.0/instances/c1/files", 0, 0, bad, NULL, &e);
	assert_int_equal(r, -EINVAL);
	assert_int_equal(s->requests, 0);
	cli_client_free(c);
	server_stop(s);
}

/* A server that sends garbage or an endless head gets an error, not a hang or a crash. */
static bool reply_garbage(struct server *s, int fd, const char *head, const char *body, size_t n)
{
	if (s->requests == 1) {
		send_str(fd, "SSH-2.0-OpenSSH\r\n\r\n");
		return false;
	}
	send_str(fd, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < 2000; i++)
		send_str(fd, "X-Filler: 0123456789\r\n");
	return false;
}

static void test_bad_answers(void **state)
{
	struct server *s = server_start(reply_garbage);
	struct cli_client *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	int r;

	(void)state;
	assert_int_equal(cli_client_open(s->path, &c, &e), 0);
	r = cli_client_query(c, "GET", "/1.0", NULL, NULL, &e);
	assert_int_equal(r, -EPROTO);
	assert_non_null(strstr(err_msg(e, r), "Failed to talk to cairnd"));
	err_free(steal_pointer(&e));
	r = cli_client_query(c, "GET", "/1.0", NULL, NULL, &e);
	assert_int_equal(r, -EPROTO);
	cli_client_free(c);
	server_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keep_alive),
	    cmocka_unit_test(test_closed_keep_alive),
	    cmocka_unit_test(test_chunked_and_eof_bodies),
	    cmocka_unit_test(test_async_wait_and_errors),
	    cmocka_unit_test(test_upload),
	    cmocka_unit_test(test_refuses_injection),
	    cmocka_unit_test(test_bad_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
