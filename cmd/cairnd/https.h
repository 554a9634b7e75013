#pragma once

/*
 * The HTTPS listener of core.https_address: the same routes as the unix socket, served by a
 * second libmicrohttpd daemon with GnuTLS, which asks every client for its certificate
 * (server.c decides from its fingerprint whether the client is trusted). The server's key and
 * certificate are made once, at the first start, as $CAIRN_DIR/server.key (0600) and
 * server.crt.
 *
 * The listener follows the config at once: https_apply() opens the new address before closing
 * the old one, so that a failure (address in use, not on this host) changes nothing. A daemon
 * that is replaced is stopped by a thread of its own, since the request that replaced it may be
 * running on it and requests waiting on operations keep it busy.
 */

struct daemon;
struct err;

/* Makes the server certificate if there is none and reads it. Called once by
 * daemon_server_start() before https_apply(). */
int https_setup(struct daemon *d, struct err **err);

/* The server certificate (PEM) and its fingerprint; valid after https_setup(). Borrowed. */
const char *https_certificate(void);
const char *https_fingerprint(void);

/*
 * Serves HTTPS on `address` ("HOST:PORT"), or stops serving when it is NULL or empty. Nothing
 * happens when it is already the address served. -EADDRINUSE, -EADDRNOTAVAIL, -EACCES with
 * `Cannot listen on "x": ...` when the address cannot be used; the old listener then goes on.
 */
int https_apply(struct daemon *d, const char *address, struct err **err);

/* The address served now ("" when none), copied into `buf`. */
void https_address(char *buf, unsigned long len);

/* Stops the listener and waits for its connections (at daemon exit). */
void https_stop(void);
