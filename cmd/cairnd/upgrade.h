#pragma once

/*
 * The upgraded connections of exec and console: after "101 Switching Protocols" the API socket
 * carries descriptors (SCM_RIGHTS) and newline-terminated JSON control messages. See
 * doc/architecture.md, "Inside the instance".
 */

#include <stddef.h>

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

/*
 * Runs fn(session) in a detached thread, so that libmicrohttpd's connection thread returns at
 * once. When the thread cannot start, closes the upgraded connection `urh` and frees the
 * session with free_fn.
 */
void upgrade_start_thread(void *(*fn)(void *), void *session, struct MHD_UpgradeResponseHandle *urh,
			  void (*free_fn)(void *));

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
