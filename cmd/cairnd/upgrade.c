#include "cmd/cairnd/upgrade.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/trust.h"

#include "cmd/cairnd/daemon.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/sha1.h"
#include "config/db.h"
#include "instance/instance.h"

int upgrade_check(struct request *req, struct err **err)
{
	const char *up = request_header(req, "Upgrade");

	if (!up || strcasecmp(up, "cairn-fds") != 0)
		return err_set(err, -EINVAL,
			       "This endpoint needs a connection upgrade (\"Upgrade: cairn-fds\")");
	return 0;
}

int upgrade_instance_running(struct daemon *d, const char *name, struct err **err)
{
	_cleanup_(db_instance_done) struct db_instance row = {0};
	struct instance_state st = {0};
	int r;

	r = instance_get(&d->env, name, &row, err);
	if (r < 0)
		return r;
	r = instance_state(&d->env, row.name, false, &st, err);
	if (r < 0)
		return r;
	if (st.status != INSTANCE_RUNNING)
		return err_set(err, -EINVAL, "Instance \"%s\" is not running", row.name);
	return 0;
}

static void upgraded(void *cls, struct MHD_Connection *connection, void *con_cls,
		     const char *extra_in, size_t extra_in_size, MHD_socket sock,
		     struct MHD_UpgradeResponseHandle *urh)
{
	struct upgrade_conn *conn = cls; /* also the session: it is the first member */
	pthread_attr_t attr;
	pthread_t t;

	(void)connection;
	(void)con_cls;
	if (conn->keep_extra && extra_in_size > 0) {
		conn->extra = malloc(extra_in_size);
		if (conn->extra) {
			memcpy(conn->extra, extra_in, extra_in_size);
			conn->extra_len = extra_in_size;
		}
	}
	conn->sock = sock;
	conn->urh = urh;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, conn->run, conn) != 0) {
		log_error("Failed to start a session thread");
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		conn->free(conn);
	}
	pthread_attr_destroy(&attr);
}

int upgrade_respond(struct request *req, struct upgrade_conn *conn, struct err **err)
{
	struct MHD_Response *resp = MHD_create_response_for_upgrade(upgraded, conn);

	if (!resp) {
		conn->free(conn);
		return err_set(err, -ENOMEM, "Failed to upgrade the connection");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "cairn-fds");
	req->response = resp;
	return MHD_HTTP_SWITCHING_PROTOCOLS;
}

int upgrade_respond_websocket(struct request *req, struct upgrade_conn *conn, struct err **err)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	const char *key = request_header(req, "Sec-WebSocket-Key");
	const char *version = request_header(req, "Sec-WebSocket-Version");
	_cleanup_free_ char *accept = NULL;
	struct MHD_Response *resp;
	uint8_t digest[SHA1_DIGEST_SIZE];
	char buf[128];
	int n;

	/* A key is the base64 of 16 bytes: 24 characters. */
	if (!key || strlen(key) != 24 || !version || strcmp(version, "13") != 0) {
		conn->free(conn);
		return err_set(err, -EINVAL, "Bad WebSocket handshake");
	}
	n = snprintf(buf, sizeof(buf), "%s%s", key, guid);
	sha1(buf, (size_t)n, digest);
	accept = api_base64_encode(digest, sizeof(digest));
	resp = accept ? MHD_create_response_for_upgrade(upgraded, conn) : NULL;
	if (!resp) {
		conn->free(conn);
		return err_set(err, -ENOMEM, "Failed to upgrade the connection");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
	req->response = resp;
	return MHD_HTTP_SWITCHING_PROTOCOLS;
}

int upgrade_send_json(int sock, json_object *o)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(text), off = 0;
	char line[4096];

	if (len + 1 > sizeof(line))
		return -E2BIG;
	memcpy(line, text, len);
	line[len++] = '\n';
	while (off < len) {
		ssize_t w = send(sock, line + off, len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		off += (size_t)w;
	}
	return 0;
}

void upgrade_lines_take(struct upgrade_lines *l, const char *data, size_t n)
{
	if (l->len + n > sizeof(l->buf)) {
		/* A line this long is not a control message: drop it. */
		l->len = 0;
		return;
	}
	memcpy(l->buf + l->len, data, n);
	l->len += n;
}

json_object *upgrade_lines_next(struct upgrade_lines *l)
{
	for (;;) {
		char *nl = memchr(l->buf, '\n', l->len);
		json_object *o;
		size_t used;

		if (!nl)
			return NULL;
		*nl = '\0';
		o = json_tokener_parse(l->buf);
		used = (size_t)(nl - l->buf) + 1;
		memmove(l->buf, l->buf + used, l->len - used);
		l->len -= used;
		if (o && json_object_is_type(o, json_type_object))
			return o;
		json_object_put(o);
	}
}
