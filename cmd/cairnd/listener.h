#pragma once

/*
 * The accept loop in front of libmicrohttpd. It takes each connection itself so that it can
 * read the peer's credentials before the connection costs a thread: no uid but root may hold
 * more than LISTENER_PER_UID connections, and all of them together no more than
 * LISTENER_NON_ROOT, so that root always finds a free slot however many connections others
 * keep open (libmicrohttpd alone would serve the first ~1,020 and close everyone else's).
 * A refused connection gets a 503 answer, if it can take one, and is closed.
 */

#include <stdbool.h>

struct daemon;
struct err;

#define LISTENER_PER_UID 256   /* open connections of one uid other than root */
#define LISTENER_NON_ROOT 1024 /* open connections of all uids but root together */
#define LISTENER_MAX 4096      /* all connections, root's included */

/* Starts the loop on d->listen_fd, handing connections to d->mhd (started with
 * MHD_USE_NO_LISTEN_SOCKET). */
int listener_start(struct daemon *d, struct err **err);

/* Stops the loop and waits for it (connections already handed over stay with d->mhd). */
void listener_stop(void);

/* Tells the accounting that the connection on `fd` ended (libmicrohttpd's close notice). */
void listener_connection_closed(int fd);
