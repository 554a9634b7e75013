#pragma once

/*
 * The daemon's HTTPS client (libcurl), for talking to another cairnd: migration in push and pull
 * mode, and whatever else the daemon sends to a remote on its own (the snapshot server's
 * refresh). The peer is verified by the certificate it was given (its public key is pinned, as
 * the client pins a remote's; checked in the handshake, before a byte of a request is sent) and
 * the daemon presents its own server certificate ($CAIRN_DIR/server.crt and server.key) as its
 * client certificate, so that the peer can trust it like any client. Only https:// URLs.
 */

#include <stdint.h>

#include <json-c/json.h>

struct err;

/* One peer's connection settings and connection: reuse it for the requests to the same peer,
 * which then share one TLS connection while the peer keeps it open. One request at a time: two
 * threads may use it in turn, never at once. */
struct migration_http;

/*
 * A client of the peer at `base` ("https://ADDR[:PORT]", no path) whose server certificate is
 * `peer_pem` (PEM; required: nothing is sent to an unpinned peer), presenting the certificate and
 * key in files `cert_path` and `key_path` (both NULL: no client certificate). -EINVAL for a base
 * that is not https:// or a certificate that does not parse, -ENOMEM. Free with
 * migration_http_free().
 */
int migration_http_new(const char *base, const char *peer_pem, const char *cert_path,
		       const char *key_path, struct migration_http **ret, struct err **err);

void migration_http_free(struct migration_http *h);
#define _cleanup_migration_http_ __attribute__((cleanup(migration_http_freep)))
static inline void migration_http_freep(struct migration_http **h)
{
	migration_http_free(*h);
	*h = NULL;
}

/*
 * A request with a JSON body (`body`, NULL: none) whose answer is an API envelope: `path` is
 * either a path on the peer ("/1.0/instances") or a full URL that must start with the peer's
 * base. On a sync or async envelope *ret_envelope (may be NULL) is it (the caller's). An error
 * envelope becomes err with the peer's message and the errno of its status (api_errno_of_http);
 * a peer whose key does not match the pin is -EPERM ("The certificate of ... does not match"),
 * an unreachable one -EHOSTUNREACH, an answer that is not an envelope (not a cairnd) -EPROTO.
 */
int migration_http_json(struct migration_http *h, const char *method, const char *path,
			json_object *body, json_object **ret_envelope, struct err **err);

/*
 * A streaming request: the body is read from `in_fd` until its end (-1: `body_json` instead, or
 * none when that is NULL too) and a successful (2xx) response's body is written to `out_fd`
 * (-1: the response must be a sync envelope, returned in *ret_envelope when not NULL). Errors as
 * for migration_http_json(); a transfer cut short is -EIO. *ret_sent and *ret_received (each
 * may be NULL) are the body bytes sent and received, also on failure.
 */
int migration_http_stream(struct migration_http *h, const char *method, const char *path,
			  const char *body_json, int in_fd, int out_fd, json_object **ret_envelope,
			  uint64_t *ret_sent, uint64_t *ret_received, struct err **err);

/*
 * Waits for the peer's operation `op` (its path "/1.0/operations/<id>" or full URL) to end and
 * returns 0 when it succeeded, else -EIO with its error message.
 * *ret_operation (may be NULL) is the final operation object (the caller's).
 */
int migration_http_wait(struct migration_http *h, const char *op, json_object **ret_operation,
			struct err **err);
