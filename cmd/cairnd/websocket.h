#pragma once

/*
 * RFC 6455 framing on an upgraded connection (see upgrade_respond_websocket()): the server
 * sends unmasked frames, the client's frames must be masked. Used by the WebSocket of
 * /1.0/events and by the operation websockets of exec and console, the shape the upstream
 * `lxc` client speaks.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct request;

enum {
	WS_CONTINUATION = 0x0,
	WS_TEXT = 0x1,
	WS_BINARY = 0x2,
	WS_CLOSE = 0x8,
	WS_PING = 0x9,
	WS_PONG = 0xa,
};

/* The largest client frame a session takes; a bigger one ends the session. */
#define WS_MAX_FRAME (1024 * 1024)

/* True when the request asks for a WebSocket ("Upgrade: websocket"). */
bool ws_requested(struct request *req);

/* Sends one whole frame of `opcode` with `len` bytes of `data`. 0, or a negative errno. */
int ws_send(int sock, int opcode, const void *data, size_t len);

/* A reader of client frames: what the client sent past the handshake comes first. */
struct ws_reader {
	int sock;
	uint8_t *pending; /* bytes read but not yet used, owned */
	size_t pending_len;
	size_t pending_off;
};

/* Starts a reader on `sock` that first uses the `extra_len` bytes of `extra` (taken over). */
void ws_reader_init(struct ws_reader *r, int sock, uint8_t *extra, size_t extra_len);
void ws_reader_done(struct ws_reader *r);

/*
 * Reads one frame (waiting for it): its opcode, and its unmasked payload (malloc'd, the
 * caller's; NULL when empty) and length. A ping is answered with a pong and returned as WS_PING
 * with no payload. -ECONNRESET at end of stream,
 * -EPROTO for an unmasked frame, -EMSGSIZE for one over WS_MAX_FRAME, or the errno of read().
 */
int ws_recv(struct ws_reader *r, uint8_t **ret_data, size_t *ret_len);
