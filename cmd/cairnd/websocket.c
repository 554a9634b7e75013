#include "cmd/cairnd/websocket.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmd/cairnd/daemon.h"

/* How long a send waits for a client that reads nothing: it is then dropped. */
#define SEND_TIMEOUT_MS 30000

bool ws_requested(struct request *req)
{
	const char *up = request_header(req, "Upgrade");

	return up && strcasecmp(up, "websocket") == 0;
}

static int send_all(int sock, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t w = send(sock, p, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		/* The upgraded socket is non-blocking: wait until it takes more. */
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = {.fd = sock, .events = POLLOUT};

			if (poll(&pfd, 1, SEND_TIMEOUT_MS) <= 0)
				return -ETIMEDOUT;
			continue;
		}
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int ws_send(int sock, int opcode, const void *data, size_t len)
{
	uint8_t head[10];
	size_t n = 0;
	int r;

	head[n++] = (uint8_t)(0x80 | (opcode & 0x0f));
	if (len < 126) {
		head[n++] = (uint8_t)len;
	} else if (len <= 0xffff) {
		head[n++] = 126;
		head[n++] = (uint8_t)(len >> 8);
		head[n++] = (uint8_t)len;
	} else {
		head[n++] = 127;
		for (int i = 7; i >= 0; i--)
			head[n++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	r = send_all(sock, head, n);
	if (r < 0 || len == 0)
		return r;
	return send_all(sock, data, len);
}

void ws_reader_init(struct ws_reader *r, int sock, uint8_t *extra, size_t extra_len)
{
	r->sock = sock;
	r->pending = extra;
	r->pending_len = extra ? extra_len : 0;
	r->pending_off = 0;
}

void ws_reader_done(struct ws_reader *r)
{
	free(r->pending);
	r->pending = NULL;
	r->pending_len = r->pending_off = 0;
}

/* Reads exactly `len` bytes, the pending ones first. */
static int read_exact(struct ws_reader *r, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t got;

		if (r->pending_off < r->pending_len) {
			size_t n = r->pending_len - r->pending_off;

			if (n > len)
				n = len;
			memcpy(p, r->pending + r->pending_off, n);
			r->pending_off += n;
			p += n;
			len -= n;
			continue;
		}
		got = read(r->sock, p, len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN) {
			struct pollfd pfd = {.fd = r->sock, .events = POLLIN};

			poll(&pfd, 1, -1);
			continue;
		}
		if (got < 0)
			return -errno;
		if (got == 0)
			return -ECONNRESET;
		p += got;
		len -= (size_t)got;
	}
	return 0;
}

int ws_recv(struct ws_reader *r, uint8_t **ret_data, size_t *ret_len)
{
	{
		uint8_t head[2], ext[8], mask[4];
		uint8_t *data = NULL;
		uint64_t len;
		int opcode, rr;

		rr = read_exact(r, head, 2);
		if (rr < 0)
			return rr;
		opcode = head[0] & 0x0f;
		/* RFC 6455 5.1: a server closes on an unmasked client frame. */
		if (!(head[1] & 0x80))
			return -EPROTO;
		len = head[1] & 0x7f;
		if (len == 126) {
			rr = read_exact(r, ext, 2);
			if (rr < 0)
				return rr;
			len = (uint64_t)ext[0] << 8 | ext[1];
		} else if (len == 127) {
			rr = read_exact(r, ext, 8);
			if (rr < 0)
				return rr;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | ext[i];
		}
		if (len > WS_MAX_FRAME)
			return -EMSGSIZE;
		rr = read_exact(r, mask, 4);
		if (rr < 0)
			return rr;
		if (len > 0) {
			data = malloc(len);
			if (!data)
				return -ENOMEM;
			rr = read_exact(r, data, len);
			if (rr < 0) {
				free(data);
				return rr;
			}
			for (uint64_t i = 0; i < len; i++)
				data[i] ^= mask[i % 4];
		}
		if (opcode == WS_PING) {
			rr = ws_send(r->sock, WS_PONG, data, len);
			free(data);
			if (rr < 0)
				return rr;
			data = NULL;
			len = 0;
		}
		*ret_data = data;
		*ret_len = len;
		return opcode;
	}
}
