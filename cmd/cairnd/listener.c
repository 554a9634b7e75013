#include "cmd/cairnd/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cmd/cairnd/daemon.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"

/* Connections per uid; uids with none are dropped, so the array is as long as the number of
 * distinct peers connected. */
struct uid_count {
	uid_t uid;
	unsigned n;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct uid_count *counts;
static size_t n_counts;
static unsigned non_root; /* connections of every uid but root */
static unsigned total;
/* The uid behind each descriptor handed to libmicrohttpd, +1 (0: not ours), so that the close
 * notice, which only knows the descriptor, finds whose count to lower. */
static uid_t *fd_owner;
static size_t fd_owner_len;

static pthread_t thread;
static int stop_pipe[2] = {-EBADF, -EBADF};
static struct daemon *daemon_ref;

static struct uid_count *count_of_locked(uid_t uid, bool create)
{
	struct uid_count *n;

	for (size_t i = 0; i < n_counts; i++)
		if (counts[i].uid == uid)
			return &counts[i];
	if (!create)
		return NULL;
	n = realloc(counts, (n_counts + 1) * sizeof(*counts));
	if (!n)
		return NULL;
	counts = n;
	counts[n_counts] = (struct uid_count){.uid = uid};
	return &counts[n_counts++];
}

/* Counts a new connection of `uid` on `fd`; NULL when it is allowed, else why not. */
static const char *admit(int fd, uid_t uid)
{
	struct uid_count *c;
	const char *refusal = NULL;

	pthread_mutex_lock(&lock);
	if ((size_t)fd >= fd_owner_len)
		refusal = "Too many open connections to cairnd";
	else if (total >= LISTENER_MAX)
		refusal = "Too many open connections to cairnd";
	else if (uid != 0 && non_root >= LISTENER_NON_ROOT)
		refusal = "Too many open connections to cairnd";
	else if (!(c = count_of_locked(uid, true)))
		refusal = "Out of memory";
	else if (uid != 0 && c->n >= LISTENER_PER_UID)
		refusal = "Too many open connections to cairnd from this user";
	else {
		c->n++;
		total++;
		if (uid != 0)
			non_root++;
		fd_owner[fd] = uid + 1;
	}
	pthread_mutex_unlock(&lock);
	return refusal;
}

void listener_connection_closed(int fd)
{
	struct uid_count *c;
	uid_t uid;

	pthread_mutex_lock(&lock);
	if (fd < 0 || (size_t)fd >= fd_owner_len || fd_owner[fd] == 0) {
		pthread_mutex_unlock(&lock);
		return;
	}
	uid = fd_owner[fd] - 1;
	fd_owner[fd] = 0;
	total--;
	if (uid != 0)
		non_root--;
	c = count_of_locked(uid, false);
	if (c && --c->n == 0)
		*c = counts[--n_counts];
	pthread_mutex_unlock(&lock);
}

/* A best-effort answer to a refused connection: one non-blocking send, then close. */
static void refuse(int fd, const char *why)
{
	char body[256], msg[512];
	int blen, mlen;

	blen = snprintf(body, sizeof(body),
			"{\"type\":\"error\",\"error_code\":503,\"error\":\"%s\"}\n", why);
	mlen = snprintf(msg, sizeof(msg),
			"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
			"Content-Length: %d\r\nConnection: close\r\n\r\n%s",
			blen, body);
	if (mlen > 0)
		(void)!send(fd, msg, (size_t)mlen, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

static void *accept_loop(void *arg)
{
	struct pollfd fds[2] = {
	    {.fd = daemon_ref->listen_fd, .events = POLLIN},
	    {.fd = stop_pipe[0], .events = POLLIN},
	};

	(void)arg;
	for (;;) {
		struct sockaddr_un sa;
		socklen_t sa_len = sizeof(sa);
		struct ucred cred;
		socklen_t cred_len = sizeof(cred);
		const char *why;
		int fd;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("Failed to wait for connections: %s", strerror(errno));
			return NULL;
		}
		if (fds[1].revents)
			return NULL;
		fd = accept4(daemon_ref->listen_fd, (struct sockaddr *)&sa, &sa_len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/* Out of descriptors: back off instead of spinning on the ready socket. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				poll(NULL, 0, 100);
			continue;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0) {
			close(fd);
			continue;
		}
		why = admit(fd, cred.uid);
		if (why) {
			log_debug("Refused a connection from uid %u: %s", (unsigned)cred.uid, why);
			refuse(fd, why);
			continue;
		}
		/* libmicrohttpd closes the socket itself when it cannot take it, and then has sent
		 * no close notice. */
		if (MHD_add_connection(daemon_ref->mhd, fd, (struct sockaddr *)&sa, sa_len) !=
		    MHD_YES)
			listener_connection_closed(fd);
	}
}

int listener_start(struct daemon *d, struct err **err)
{
	struct rlimit lim;
	int r;

	daemon_ref = d;
	/* Every connection is a descriptor (and libmicrohttpd a thread): the soft limit of 1,024
	 * would run out before LISTENER_MAX. */
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max &&
	    lim.rlim_cur < 65536) {
		lim.rlim_cur = lim.rlim_max < 65536 ? lim.rlim_max : 65536;
		if (setrlimit(RLIMIT_NOFILE, &lim) < 0)
			log_warn("Failed to raise the descriptor limit, ignoring: %s",
				 strerror(errno));
	}
	if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
		return err_set_errno(err, -errno, "Failed to read the descriptor limit");
	fd_owner_len =
	    lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur > 65536 ? 65536 : (size_t)lim.rlim_cur;
	fd_owner = calloc(fd_owner_len, sizeof(*fd_owner));
	if (!fd_owner)
		return err_set(err, -ENOMEM, "Out of memory");
	if (pipe2(stop_pipe, O_CLOEXEC) < 0)
		return err_set_errno(err, -errno, "Failed to create a pipe");
	r = -pthread_create(&thread, NULL, accept_loop, NULL);
	if (r < 0)
		return err_set(err, r, "Failed to start the accept thread");
	return 0;
}

void listener_stop(void)
{
	if (stop_pipe[1] < 0)
		return;
	(void)!write(stop_pipe[1], "x", 1);
	pthread_join(thread, NULL);
	close(stop_pipe[0]);
	close(stop_pipe[1]);
	stop_pipe[0] = stop_pipe[1] = -EBADF;
}
