#pragma once

/*
 * The upgraded connections of exec and console: after "101 Switching Protocols" the API socket
 * carries descriptors (SCM_RIGHTS) and newline-terminated JSON control messages. See
 * doc/architecture.md, "Inside the instance".
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct daemon;
struct err;
struct request;
struct MHD_UpgradeResponseHandle;

/* -EINVAL unless the request asks for "Upgrade: cairn-fds" (checked before anything else, so a
 * plain HTTP client gets a clear error envelope). */
int upgrade_check(struct request *req, struct err **err);

/* 0 when instance `name` exists and runs; -ENOENT, or -EINVAL "Instance is not running". */
int upgrade_instance_running(struct daemon *d, const char *name, struct err **err);

/* What every upgraded session starts with (its first member): the connection once it is ours,
 * and how to run and free the session. */
struct upgrade_conn {
	int sock; /* the upgraded connection, owned by libmicrohttpd; -EBADF before */
	struct MHD_UpgradeResponseHandle *urh;
	void *(*run)(void *session); /* the session's thread; closes urh and frees the session */
	void (*free)(void *session); /* frees a session that never ran */
	/* Bytes the client sent past the handshake: kept (malloc'd, the session's to free) only
	 * when `keep_extra` is set, as a WebSocket session reads frames that may come at once. */
	bool keep_extra;
	uint8_t *extra;
	size_t extra_len;
};

/*
 * Answers `req` with "101 Switching Protocols" (Upgrade: cairn-fds). When libmicrohttpd hands
 * the connection over, fills `conn` (the first member of the session) and runs conn->run on the
 * session in a detached thread, so that the connection thread returns at once; if the thread
 * cannot start, the connection is closed and the session freed. Returns the HTTP status; on
 * failure frees the session and returns -ENOMEM.
 */
int upgrade_respond(struct request *req, struct upgrade_conn *conn, struct err **err);

/*
 * The same for an RFC 6455 WebSocket: answers "101 Switching Protocols" with "Upgrade:
 * websocket" and the Sec-WebSocket-Accept of the request's Sec-WebSocket-Key; -EINVAL (and the
 * session freed) when the request carries no usable key or version 13.
 */
int upgrade_respond_websocket(struct request *req, struct upgrade_conn *conn, struct err **err);

/* Writes `o` as one line of JSON. */
int upgrade_send_json(int sock, json_object *o);

/*
 * Newline-terminated JSON messages from a socket, one at a time. Feed it what read() returned
 * with upgrade_lines_take(); upgrade_lines_next() gives the next whole message (the caller puts
 * it) or NULL. A line that is not JSON is skipped; one longer than 4 KiB drops the buffer.
 */
struct upgrade_lines {
	char buf[4096];
	size_t len;
};

void upgrade_lines_take(struct upgrade_lines *l, const char *data, size_t n);
json_object *upgrade_lines_next(struct upgrade_lines *l);
