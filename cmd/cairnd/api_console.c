/*
 * /1.0/instances/{name}/console: GET answers the console log; POST (with "Upgrade: cairn-fds")
 * takes the container's console from liblxc and passes the pseudo-terminal master to the client
 * over the upgraded socket. The daemon holds the console until the client closes the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/handlers.h"
#include "cmd/cairnd/upgrade.h"
#include "common/cleanup.h"
#include "common/fdpass.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "config/db.h"
#include "instance/exec.h"
#include "instance/instance.h"

struct console_session {
	struct upgrade_conn conn; /* first: the upgrade layer sees the session through it */
	char *name;
	int ptx;     /* the console's pseudo-terminal master, for the client */
	int session; /* holds the console in liblxc until closed */
};

static void console_session_free(void *p)
{
	struct console_session *s = p;

	if (!s)
		return;
	free(s->name);
	if (s->ptx >= 0)
		close(s->ptx);
	if (s->session >= 0)
		close(s->session);
	free(s);
}

HANDLER(handle_instance_console_get)
{
	_cleanup_(db_instance_done) struct db_instance row = {0};
	_cleanup_free_ char *logs = NULL, *path = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct MHD_Response *resp;
	struct stat st;
	int r;

	(void)ret_envelope;
	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	logs = instance_log_dir(&d->env, row.name);
	path = logs ? str_printf("%s/console.log", logs) : NULL;
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT)
		return err_set_errno(err, -errno, "Failed to open the console log of \"%s\"",
				     row.name);
	if (fd < 0) {
		/* Never started: an empty log, as Incus answers. */
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	} else {
		if (fstat(fd, &st) < 0)
			return err_set_errno(err, -errno,
					     "Failed to read the console log of \"%s\"", row.name);
		resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
		if (resp)
			fd = -EBADF;
	}
	if (!resp)
		return err_set(err, -ENOMEM, "Out of memory");
	MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
	req->response = resp;
	return 200;
}

static void *console_thread(void *arg)
{
	struct console_session *s = arg;
	struct pollfd p = {.fd = -EBADF, .events = POLLIN};
	char buf[256];
	int r;

	r = fd_send(s->conn.sock, &s->ptx, 1);
	if (r < 0) {
		log_debug("Console of instance \"%s\": failed to pass the terminal: %s", s->name,
			  strerror(-r));
	} else {
		/* The client has its own copy now. */
		close(s->ptx);
		s->ptx = -EBADF;
		/* Hold the console until the client detaches (closes the socket). */
		p.fd = s->conn.sock;
		for (;;) {
			ssize_t n;

			if (poll(&p, 1, -1) < 0 && errno != EINTR)
				break;
			n = recv(s->conn.sock, buf, sizeof(buf), 0);
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				break;
		}
	}
	MHD_upgrade_action(s->conn.urh, MHD_UPGRADE_ACTION_CLOSE);
	console_session_free(s);
	return NULL;
}

HANDLER(handle_instance_console_post)
{
	_cleanup_free_ char *lxcpath = NULL;
	struct console_session *s = NULL;
	bool websocket;
	int r;

	/* LXD's client asks with a body and no upgrade: it gets the console over websockets. */
	websocket = !request_header(req, "Upgrade") && req->body;
	r = websocket ? 0 : upgrade_check(req, err);
	if (r < 0)
		return r;
	r = upgrade_instance_running(d, req->params[0], err);
	if (r < 0)
		return r;
	if (instance_started_without_console(&d->env, req->params[0]))
		return err_set(
		    err, -EINVAL,
		    "Instance \"%s\" has no console: it runs with migration.stateful=true "
		    "(CRIU cannot dump a console); use cairn exec or cairn shell",
		    req->params[0]);
	lxcpath = instance_lxcpath(&d->env);
	s = calloc(1, sizeof(*s));
	if (!s || !lxcpath) {
		free(s);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	s->ptx = -EBADF;
	s->session = -EBADF;
	s->conn.sock = -EBADF;
	s->conn.run = console_thread;
	s->conn.free = console_session_free;
	s->name = strdup(req->params[0]);
	if (!s->name) {
		console_session_free(s);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	r = instance_console_open(s->name, lxcpath, &s->ptx, &s->session, err);
	if (r < 0) {
		console_session_free(s);
		/* -ESRCH carries the message that names the instance; a client error, not a 500. */
		return r == -ESRCH ? -EINVAL : r;
	}
	if (websocket) {
		int ptx = s->ptx, hold = s->session;

		s->ptx = s->session = -EBADF;
		console_session_free(s);
		return api_console_websocket(d, req, ptx, hold, ret_envelope, err);
	}
	return upgrade_respond(req, &s->conn, err);
}
