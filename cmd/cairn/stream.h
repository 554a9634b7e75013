#pragma once

/*
 * A raw HTTP/1.1 connection to cairnd over its unix socket, for what the request client (client.c)
 * does not do: protocol upgrades that pass descriptors (exec, console) and downloads that need
 * their response headers and must not be held in memory (file pull, the console log).
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

struct cli_ctx;
struct err;

struct cli_stream {
	int fd;
	char buf[16384]; /* bytes read past the headers */
	size_t start;
	size_t end;
	int status;		  /* HTTP status of the response */
	char **headers;		  /* "name: value" lines, NULL-terminated */
	long long content_length; /* -1 when the response did not say */
	long long body_read;
};

/* Connects to $CAIRN_DIR/unix.socket. A refused or missing socket gives the same errors as the
 * normal client (permission, daemon not running). Free with cli_stream_free(). */
int cli_stream_open(struct cli_ctx *ctx, struct cli_stream **ret, struct err **err);

void cli_stream_free(struct cli_stream *s);

/*
 * Sends a request: `headers` are extra "Name: value" lines (NULL-terminated, may be NULL), `body`
 * (may be NULL) is sent with its Content-Length. Then reads the status line and headers. A
 * status of 400 or more reads the error envelope and returns its errno and message.
 */
int cli_stream_request(struct cli_stream *s, const char *method, const char *path,
		       char *const *headers, const char *body, size_t body_len, struct err **err);

/* The value of response header `name` (case-insensitive), or NULL. Borrowed. */
const char *cli_stream_header(const struct cli_stream *s, const char *name);

/* Reads body bytes; 0 at the end of the body. -errno on failure. */
ssize_t cli_stream_read(struct cli_stream *s, void *buf, size_t len);

/* Reads the whole (small) body as JSON. *ret is the caller's to put. */
int cli_stream_read_json(struct cli_stream *s, json_object **ret, struct err **err);

/* Descriptor passing on an upgraded connection (SCM_RIGHTS, one message). */
int cli_stream_send_fds(struct cli_stream *s, const int *fds, size_t n);
int cli_stream_recv_fd(struct cli_stream *s, int *ret_fd);

/*
 * The caller's terminal: cli_term_raw() saves the settings of `fd` (a terminal) and makes it raw;
 * cli_term_restore() puts them back and may be called any number of times. The first raw call
 * registers the restore with atexit(), so the terminal comes back on every way out.
 */
int cli_term_raw(int fd);
void cli_term_restore(void);
