/*
 * POST /1.0/instances/{name}/exec: the request is checked like every other one, then upgraded
 * ("Upgrade: cairn-fds"); the client passes its three descriptors over the socket and the
 * command runs in a forkexec helper that writes straight into them. A detached thread per
 * session spawns the helper, forwards resize and signal messages, and answers {"return": N}.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cmd/cairnd/body.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/upgrade.h"
#include "cmd/cairnd/handlers.h"
#include "cmd/cairnd/operations.h"
#include "cmd/cairnd/websocket.h"
#include "common/cleanup.h"
#include "common/fdpass.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "instance/exec.h"
#include "instance/instance.h"

/* How long the client has to pass its descriptors after the upgrade. */
#define FDS_TIMEOUT_MS 10000

/* The command's environment when the request sets nothing, as Incus sets it. */
static const char *const default_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "USER=root",
    "LANG=C.UTF-8",
    NULL,
};

struct exec_session {
	struct upgrade_conn conn; /* first: the upgrade layer sees the session through it */
	struct daemon *d;
	char *name;
	char *lxcpath;
	char *config_path;
	char *log_dir;
	char **command;
	char **environment;
	char *cwd;
	uint32_t uid;
	uint32_t gid;
	bool interactive;
};

static void exec_session_free(struct exec_session *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->lxcpath);
	free(s->config_path);
	free(s->log_dir);
	strv_free(s->command);
	strv_free(s->environment);
	free(s->cwd);
	free(s);
}

/* Sets `entry` ("K=V") in the environment list, replacing an earlier value of K. */
static int env_set(char ***env, const char *entry)
{
	size_t klen = strcspn(entry, "=");

	for (char **e = *env; e && *e; e++) {
		if (strncmp(*e, entry, klen) == 0 && (*e)[klen] == '=') {
			char *copy = strdup(entry);

			if (!copy)
				return -ENOMEM;
			free(*e);
			*e = copy;
			return 0;
		}
	}
	return strv_push(env, entry);
}

/* Reads the command, environment and the rest of the body into `s`. */
static int parse_exec_body(json_object *body, struct exec_session *s, struct err **err)
{
	json_object *cmd = NULL, *env = NULL;
	const char *cwd = NULL;
	int64_t user = 0, group = 0;
	int r;

	if (!body)
		return err_set(err, -EINVAL, "Missing request body");
	if (!json_object_object_get_ex(body, "command", &cmd) || !cmd ||
	    !json_object_is_type(cmd, json_type_array) || json_object_array_length(cmd) == 0)
		return err_set(err, -EINVAL,
			       "Field \"command\" must be a list of at least one word");
	for (size_t i = 0; i < json_object_array_length(cmd); i++) {
		json_object *w = json_object_array_get_idx(cmd, i);

		if (!w || !json_object_is_type(w, json_type_string))
			return err_set(err, -EINVAL, "Field \"command\" must hold strings");
		if (strv_push(&s->command, json_object_get_string(w)) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	if ((r = body_object(body, "environment", false, &env, err)) < 0 ||
	    (r = body_string(body, "cwd", false, &cwd, err)) < 0 ||
	    (r = body_int(body, "user", &user, err)) < 0 ||
	    (r = body_int(body, "group", &group, err)) < 0 ||
	    (r = body_bool(body, "interactive", &s->interactive, err)) < 0)
		return r;
	if (user < 0 || user > UINT32_MAX - 1 || group < 0 || group > UINT32_MAX - 1)
		return err_set(err, -EINVAL, "Invalid user or group");
	s->uid = (uint32_t)user;
	s->gid = (uint32_t)group;
	if (cwd && *cwd && cwd[0] != '/')
		return err_set(err, -EINVAL, "The working directory \"%s\" must be absolute", cwd);
	/* Incus starts commands in root's home. */
	s->cwd = strdup(cwd && *cwd ? cwd : "/root");
	if (!s->cwd)
		return err_set(err, -ENOMEM, "Out of memory");
	for (const char *const *e = default_env; *e; e++)
		if (strv_push(&s->environment, *e) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	if (!s->interactive && env_set(&s->environment, "TERM=dumb") < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	if (s->interactive && env_set(&s->environment, "TERM=xterm") < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	if (env) {
		json_object_object_foreach(env, k, v)
		{
			_cleanup_free_ char *entry = NULL;

			if (!*k || strchr(k, '=') || !v ||
			    !json_object_is_type(v, json_type_string))
				return err_set(
				    err, -EINVAL,
				    "Invalid environment variable \"%s\" (use KEY=VALUE)", k);
			entry = str_printf("%s=%s", k, json_object_get_string(v));
			if (!entry || env_set(&s->environment, entry) < 0)
				return err_set(err, -ENOMEM, "Out of memory");
		}
	}
	return 0;
}

/* Kills the helper and everything left in its process group, then reaps it. */
static int kill_and_reap(pid_t pid)
{
	int status = 0;

	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/* Acts on one control message from the client. */
static void control_message(pid_t pid, json_object *msg)
{
	json_object *v = NULL;

	if (json_object_object_get_ex(msg, "resize", &v) && v) {
		/* The helper reads the new size from the client's terminal (its fd 0). */
		kill(pid, SIGWINCH);
		return;
	}
	if (json_object_object_get_ex(msg, "signal", &v) && v &&
	    json_object_is_type(v, json_type_int)) {
		int sig = json_object_get_int(v);

		/* The helper forwards these to the command; others are not the client's to send
		 * to a process of the daemon. */
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT ||
		    sig == SIGWINCH)
			kill(pid, sig);
	}
}

/* Sends the final {"return": N} (with the reason when the command could not start). */
static void send_return(int sock, int code, const char *error)
{
	_cleanup_json_ json_object *ret = json_object_new_object();

	if (!ret)
		return;
	json_object_object_add(ret, "return", json_object_new_int(code));
	if (error)
		json_object_object_add(ret, "error", json_object_new_string(error));
	upgrade_send_json(sock, ret);
}

/* Reads the control messages that are waiting; false when the client has gone. */
static bool read_control(int sock, struct upgrade_lines *lines, pid_t pid)
{
	char buf[1024];
	json_object *msg;
	ssize_t n;

	do
		n = recv(sock, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return false;
	upgrade_lines_take(lines, buf, (size_t)n);
	while ((msg = upgrade_lines_next(lines))) {
		control_message(pid, msg);
		json_object_put(msg);
	}
	return true;
}

/* One session: descriptors in, helper out, control messages until the helper exits. */
static void exec_run(struct exec_session *s)
{
	struct upgrade_lines lines = {0};
	_cleanup_close_ int pidfd = -EBADF;
	_cleanup_err_ struct err *e = NULL;
	int fds[3] = {-EBADF, -EBADF, -EBADF};
	struct instance_exec_spec spec = {0};
	pid_t pid = 0;
	int status = 0, r;

	r = fd_recv(s->conn.sock, fds, 3, FDS_TIMEOUT_MS);
	if (r < 0) {
		log_debug("Exec in instance \"%s\": no descriptors from the client: %s", s->name,
			  strerror(-r));
		return;
	}
	spec = (struct instance_exec_spec){
	    .helper = s->d->helper,
	    .name = s->name,
	    .lxcpath = s->lxcpath,
	    .config_path = s->config_path,
	    .log_dir = s->log_dir,
	    .command = s->command,
	    .environment = s->environment,
	    .cwd = s->cwd,
	    .uid = s->uid,
	    .gid = s->gid,
	    .interactive = s->interactive,
	    .fds = {fds[0], fds[1], fds[2]},
	};
	r = instance_exec_spawn(&spec, &pid, &e);
	/* The daemon must not hold the client's pipes: their readers wait for every writer. */
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	if (r < 0) {
		log_error("%s", err_msg(e, r));
		send_return(s->conn.sock, 255, err_msg(e, r));
		return;
	}
	pidfd = (int)pidfd_open(pid, 0);

	for (;;) {
		struct pollfd p[2] = {{.fd = s->conn.sock, .events = POLLIN},
				      {.fd = pidfd, .events = POLLIN}};

		if (poll(p, 2, pidfd >= 0 ? -1 : 200) < 0 && errno != EINTR)
			break;
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !read_control(s->conn.sock, &lines, pid)) {
			/* The client is gone: nobody will read the output or the status. Kill
			 * the command rather than leave it running unseen. */
			log_debug("Exec client of instance \"%s\" went away, killing the command",
				  s->name);
			kill_and_reap(pid);
			return;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			send_return(s->conn.sock, instance_exec_exit_code(status), NULL);
			return;
		}
	}
	status = kill_and_reap(pid);
	send_return(s->conn.sock, instance_exec_exit_code(status), NULL);
}

static void *exec_thread(void *arg)
{
	struct exec_session *s = arg;

	exec_run(s);
	MHD_upgrade_action(s->conn.urh, MHD_UPGRADE_ACTION_CLOSE);
	exec_session_free(s);
	return NULL;
}

static void exec_session_free_void(void *p)
{
	exec_session_free(p);
}

/*
 * LXD's shape of exec, for clients that speak WebSockets (the upstream `lxc`): the request
 * answers with an operation whose metadata holds one secret per websocket ("0", "1", "2" and
 * "control"; "0" and "control" when interactive). The client opens each with GET
 * /1.0/operations/<id>/websocket?secret=...; once all are there, the operation's worker gives
 * the command pipes (or a pseudo-terminal), copies bytes between them and the websockets, and
 * ends with {"return": N}.
 */

/* How long the client has to open every websocket. */
#define WS_CONNECT_TIMEOUT_SEC 10
/* How long output may still drain after the command has exited. */
#define WS_DRAIN_MS 2000

enum { WS_STDIN, WS_STDOUT, WS_STDERR, WS_CONTROL, WS_SLOTS };

struct ws_exec {
	struct exec_session *s; /* the command, as cairn's own exec has it */
	char op_id[37];		/* "" until the operation exists */
	char secrets[WS_SLOTS][SECRET_HEX_LEN + 1];
	bool used[WS_SLOTS]; /* slots this session has: all but 1 and 2 when interactive */
	int socks[WS_SLOTS];
	struct MHD_UpgradeResponseHandle *urh[WS_SLOTS];
	struct ws_reader readers[WS_SLOTS];
	/* What each client sent right after its handshake, until its reader takes it (owned). */
	uint8_t *extra[WS_SLOTS];
	size_t extra_len[WS_SLOTS];
	bool finished; /* the worker is done: no more websockets attach */
	/* A console rather than a command: the container's console (a terminal master, and the
	 * descriptor that holds it in liblxc) relayed until the client detaches. */
	bool console;
	int console_ptx;
	int console_hold;
	int64_t width; /* the terminal's first size, 0 when not given */
	int64_t height;
	struct ws_exec *next;
};

static pthread_mutex_t ws_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ws_changed = PTHREAD_COND_INITIALIZER;
static struct ws_exec *ws_sessions;

static const char *const slot_names[WS_SLOTS] = {"0", "1", "2", "control"};

static void ws_exec_free(void *p)
{
	struct ws_exec *w = p;

	if (!w)
		return;
	pthread_mutex_lock(&ws_lock);
	for (struct ws_exec **pp = &ws_sessions; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	pthread_mutex_unlock(&ws_lock);
	for (int i = 0; i < WS_SLOTS; i++) {
		free(w->extra[i]);
		ws_reader_done(&w->readers[i]);
		if (w->urh[i])
			MHD_upgrade_action(w->urh[i], MHD_UPGRADE_ACTION_CLOSE);
	}
	exec_session_free(w->s);
	if (w->console_ptx >= 0)
		close(w->console_ptx);
	if (w->console_hold >= 0)
		close(w->console_hold);
	free(w);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the client opened every websocket of the session. */
static int ws_wait_connected(struct ws_exec *w, struct err **err)
{
	struct timespec deadline;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += WS_CONNECT_TIMEOUT_SEC;
	pthread_mutex_lock(&ws_lock);
	for (;;) {
		bool all = true;

		for (int i = 0; i < WS_SLOTS; i++)
			if (w->used[i] && !w->urh[i])
				all = false;
		if (all)
			break;
		if (pthread_cond_timedwait(&ws_changed, &ws_lock, &deadline) == ETIMEDOUT) {
			r = err_set(err, -ETIMEDOUT, "Timed out waiting for the exec websockets");
			break;
		}
	}
	if (r < 0)
		w->finished = true;
	pthread_mutex_unlock(&ws_lock);
	return r;
}

/* A control message: a window size or a signal, as LXD's client sends them. */
static void ws_control(struct ws_exec *w, pid_t pid, int ptx, const uint8_t *data, size_t len)
{
	_cleanup_json_ json_object *msg = NULL;
	json_object *cmd = NULL, *args = NULL, *v = NULL;
	const char *c;

	msg = json_tokener_parse(len ? strndupa((const char *)data, len) : "");
	if (!msg || !json_object_object_get_ex(msg, "command", &cmd))
		return;
	c = json_object_get_string(cmd);
	if (strcmp(c, "window-resize") == 0 && ptx >= 0 &&
	    json_object_object_get_ex(msg, "args", &args)) {
		struct winsize ws = {0};
		json_object *width = NULL, *height = NULL;

		json_object_object_get_ex(args, "width", &width);
		json_object_object_get_ex(args, "height", &height);
		ws.ws_col = (unsigned short)atoi(width ? json_object_get_string(width) : "0");
		ws.ws_row = (unsigned short)atoi(height ? json_object_get_string(height) : "0");
		if (ws.ws_col && ws.ws_row && ioctl(ptx, TIOCSWINSZ, &ws) == 0 && pid > 0)
			kill(pid, SIGWINCH);
		return;
	}
	/* pid 0 is a console: no process of ours to signal (kill(0) would be the daemon's). */
	if (pid > 0 && strcmp(c, "signal") == 0 && json_object_object_get_ex(msg, "signal", &v)) {
		int sig = json_object_get_int(v);

		/* The same signals as cairn's own control messages. */
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT)
			kill(pid, sig);
	}
	(void)w;
}

/* Reads one message from websocket `slot`; -1 when that websocket is done. */
static int ws_pump_in(struct ws_exec *w, int slot, int to_fd, pid_t pid, int ptx)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	int op = ws_recv(&w->readers[slot], &data, &len);

	if (op < 0 || op == WS_CLOSE)
		return -1;
	/* LXD's client ends a command's stdin with an empty text message. */
	if (slot == WS_STDIN && !w->console && !w->s->interactive && op == WS_TEXT && len == 0)
		return -1;
	if (slot == WS_CONTROL) {
		if (op == WS_TEXT || op == WS_BINARY)
			ws_control(w, pid, ptx, data, len);
		return 0;
	}
	if ((op == WS_TEXT || op == WS_BINARY || op == WS_CONTINUATION) && to_fd >= 0) {
		size_t off = 0;

		while (off < len) {
			ssize_t n = write(to_fd, data + off, len - off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			off += (size_t)n;
		}
	}
	return 0;
}

/* Makes a pseudo-terminal pair in raw mode: the command's terminal is the one the helper makes
 * inside, this one only carries bytes and the window size. */
static int open_pty(int *ret_ptx, int *ret_pty)
{
	_cleanup_close_ int ptx = -EBADF;
	char name[64];
	struct termios t;
	int pty;

	ptx = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (ptx < 0 || grantpt(ptx) < 0 || unlockpt(ptx) < 0 || ptsname_r(ptx, name, sizeof(name)))
		return -errno;
	pty = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (pty < 0)
		return -errno;
	if (tcgetattr(pty, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(pty, TCSANOW, &t);
	}
	*ret_ptx = steal_fd(&ptx);
	*ret_pty = pty;
	return 0;
}

/* The console: bytes both ways between the terminal and websocket "0" until the client closes
 * either websocket (LXD's client closes "control" to detach) or the console ends. */
static int run_ws_console(struct ws_exec *w, struct err **err)
{
	int r = ws_wait_connected(w, err);

	if (r < 0)
		return r;
	for (int i = 0; i < WS_SLOTS; i++)
		if (w->used[i])
			ws_reader_init(&w->readers[i], w->socks[i], steal_pointer(&w->extra[i]),
				       w->extra_len[i]);
	for (;;) {
		struct pollfd p[3] = {{.fd = w->socks[WS_STDIN], .events = POLLIN},
				      {.fd = w->socks[WS_CONTROL], .events = POLLIN},
				      {.fd = w->console_ptx, .events = POLLIN}};
		char buf[16384];
		ssize_t got;

		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    ws_pump_in(w, WS_STDIN, w->console_ptx, 0, w->console_ptx) < 0)
			break;
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    ws_pump_in(w, WS_CONTROL, -EBADF, 0, w->console_ptx) < 0)
			break;
		if (!(p[2].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		got = read(w->console_ptx, buf, sizeof(buf));
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0 || ws_send(w->socks[WS_STDIN], WS_BINARY, buf, (size_t)got) < 0)
			break;
	}
	ws_send(w->socks[WS_STDIN], WS_CLOSE, "\x03\xe8", 2);
	return 0;
}

static int run_ws_exec(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct ws_exec *w = data;
	struct exec_session *s = w->s;
	_cleanup_close_ int pidfd = -EBADF, ptx = -EBADF, in_w = -EBADF, out_r = -EBADF,
			    err_r = -EBADF;
	int child[3] = {-EBADF, -EBADF, -EBADF};
	struct instance_exec_spec spec;
	bool exited = false, in_open = true;
	int64_t drain_until = 0;
	pid_t pid = 0;
	int status = 0, r;

	(void)d;
	if (w->console)
		return run_ws_console(w, err);
	r = ws_wait_connected(w, err);
	if (r < 0)
		return r;
	for (int i = 0; i < WS_SLOTS; i++)
		if (w->used[i])
			ws_reader_init(&w->readers[i], w->socks[i], steal_pointer(&w->extra[i]),
				       w->extra_len[i]);
	if (s->interactive) {
		int pty = -EBADF;

		r = open_pty(&ptx, &pty);
		if (r < 0)
			return err_set(err, r, "Failed to make a terminal for the command");
		if (w->width > 0 && w->height > 0 && w->width < 65536 && w->height < 65536) {
			struct winsize size = {.ws_col = (unsigned short)w->width,
					       .ws_row = (unsigned short)w->height};

			ioctl(ptx, TIOCSWINSZ, &size);
		}
		child[0] = pty;
		child[1] = dup(pty);
		child[2] = dup(pty);
	} else {
		int p[3][2];

		if (pipe2(p[0], O_CLOEXEC) < 0)
			return err_set(err, -errno, "Failed to make pipes for the command");
		if (pipe2(p[1], O_CLOEXEC) < 0) {
			r = -errno;
			close(p[0][0]);
			close(p[0][1]);
			return err_set(err, r, "Failed to make pipes for the command");
		}
		if (pipe2(p[2], O_CLOEXEC) < 0) {
			r = -errno;
			for (int i = 0; i < 2; i++) {
				close(p[i][0]);
				close(p[i][1]);
			}
			return err_set(err, r, "Failed to make pipes for the command");
		}
		child[0] = p[0][0];
		in_w = p[0][1];
		child[1] = p[1][1];
		out_r = p[1][0];
		child[2] = p[2][1];
		err_r = p[2][0];
	}
	spec = (struct instance_exec_spec){
	    .helper = s->d->helper,
	    .name = s->name,
	    .lxcpath = s->lxcpath,
	    .config_path = s->config_path,
	    .log_dir = s->log_dir,
	    .command = s->command,
	    .environment = s->environment,
	    .cwd = s->cwd,
	    .uid = s->uid,
	    .gid = s->gid,
	    .interactive = s->interactive,
	    .fds = {child[0], child[1], child[2]},
	};
	r = instance_exec_spawn(&spec, &pid, err);
	/* Only the command may hold its ends: a reader sees EOF when the last writer is gone. */
	for (int i = 0; i < 3; i++)
		if (child[i] >= 0)
			close(child[i]);
	if (r < 0)
		return r;
	pidfd = (int)pidfd_open(pid, 0);

	for (;;) {
		struct pollfd p[7];
		int n = 0, i_in = -1, i_ctl = -1, i_out = -1, i_err = -1, i_ptx = -1, i_pid = -1;
		int timeout = -1;

		/* Frames that came with the handshake are read before anything is polled. */
		while (in_open && w->used[WS_STDIN] &&
		       w->readers[WS_STDIN].pending_off < w->readers[WS_STDIN].pending_len) {
			if (ws_pump_in(w, WS_STDIN, s->interactive ? ptx : in_w, pid, ptx) < 0) {
				in_open = false;
				if (in_w >= 0) {
					close(in_w);
					in_w = -EBADF;
				}
			}
		}
		if (in_open && w->used[WS_STDIN]) {
			i_in = n;
			p[n++] = (struct pollfd){.fd = w->socks[WS_STDIN], .events = POLLIN};
		}
		if (w->used[WS_CONTROL] && w->socks[WS_CONTROL] >= 0) {
			i_ctl = n;
			p[n++] = (struct pollfd){.fd = w->socks[WS_CONTROL], .events = POLLIN};
		}
		if (out_r >= 0) {
			i_out = n;
			p[n++] = (struct pollfd){.fd = out_r, .events = POLLIN};
		}
		if (err_r >= 0) {
			i_err = n;
			p[n++] = (struct pollfd){.fd = err_r, .events = POLLIN};
		}
		if (ptx >= 0) {
			i_ptx = n;
			p[n++] = (struct pollfd){.fd = ptx, .events = POLLIN};
		}
		if (!exited && pidfd >= 0) {
			i_pid = n;
			p[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		}
		if (exited) {
			int64_t left = drain_until - now_ms();

			if (left <= 0 || (out_r < 0 && err_r < 0 && ptx < 0))
				break;
			timeout = (int)left;
		} else if (pidfd < 0) {
			timeout = 200;
		}
		if (poll(p, (nfds_t)n, timeout) < 0 && errno != EINTR)
			break;
		if (i_in >= 0 && (p[i_in].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    ws_pump_in(w, WS_STDIN, s->interactive ? ptx : in_w, pid, ptx) < 0) {
			/* The client's stdin ended: so does the command's. */
			in_open = false;
			if (in_w >= 0) {
				close(in_w);
				in_w = -EBADF;
			}
		}
		if (i_ctl >= 0 && (p[i_ctl].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    ws_pump_in(w, WS_CONTROL, -EBADF, pid, ptx) < 0)
			w->socks[WS_CONTROL] = -EBADF;
		for (int k = 0; k < 3; k++) {
			int idx = k == 0 ? i_out : k == 1 ? i_err : i_ptx;
			int *fd = k == 0 ? &out_r : k == 1 ? &err_r : &ptx;
			int slot = k == 0 ? WS_STDOUT : k == 1 ? WS_STDERR : WS_STDIN;
			char buf[16384];
			ssize_t got;

			if (idx < 0 || !(p[idx].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = read(*fd, buf, sizeof(buf));
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got <= 0) {
				/* EOF (EIO on a terminal whose last user left). */
				ws_send(w->socks[slot], WS_CLOSE, "\x03\xe8", 2);
				close(*fd);
				*fd = -EBADF;
				continue;
			}
			if (ws_send(w->socks[slot], WS_BINARY, buf, (size_t)got) < 0) {
				/* Nobody reads the output any more: end the command. */
				kill_and_reap(pid);
				return err_set(err, -ECONNRESET, "The exec client went away");
			}
		}
		if (!exited && (pidfd < 0 || (i_pid >= 0 && (p[i_pid].revents & POLLIN)))) {
			if (waitpid(pid, &status, WNOHANG) == pid) {
				exited = true;
				drain_until = now_ms() + WS_DRAIN_MS;
			}
		}
	}
	if (!exited)
		status = kill_and_reap(pid);
	/* Whatever output has not ended yet ends now. */
	if (out_r >= 0)
		ws_send(w->socks[WS_STDOUT], WS_CLOSE, "\x03\xe8", 2);
	if (err_r >= 0)
		ws_send(w->socks[WS_STDERR], WS_CLOSE, "\x03\xe8", 2);
	if (ptx >= 0)
		ws_send(w->socks[WS_STDIN], WS_CLOSE, "\x03\xe8", 2);
	*ret_md = json_object_new_object();
	json_object_object_add(*ret_md, "return",
			       json_object_new_int(instance_exec_exit_code(status)));
	return 0;
}

/* The connection of one websocket of a session, until the session's worker takes it. */
struct ws_attach {
	struct upgrade_conn conn; /* first */
	char secret[65];
};

static void ws_attach_free(void *p)
{
	struct ws_attach *a = p;

	free(a->conn.extra);
	free(a);
}

static void *ws_attach_run(void *p)
{
	struct ws_attach *a = p;
	bool taken = false;

	pthread_mutex_lock(&ws_lock);
	for (struct ws_exec *w = ws_sessions; w && !taken; w = w->next)
		for (int i = 0; i < WS_SLOTS; i++)
			if (w->used[i] && !w->finished && !w->urh[i] &&
			    secret_equal(w->secrets[i], a->secret)) {
				w->socks[i] = a->conn.sock;
				w->urh[i] = a->conn.urh;
				w->extra[i] = steal_pointer(&a->conn.extra);
				w->extra_len[i] = a->conn.extra_len;
				taken = true;
				break;
			}
	pthread_cond_broadcast(&ws_changed);
	pthread_mutex_unlock(&ws_lock);
	if (!taken)
		MHD_upgrade_action(a->conn.urh, MHD_UPGRADE_ACTION_CLOSE);
	ws_attach_free(a);
	return NULL;
}

HANDLER(handle_operation_websocket)
{
	const char *secret = request_query(req, "secret");
	struct ws_attach *a;
	bool found = false;

	(void)d;
	if (!ws_requested(req))
		return err_set(err, -EINVAL,
			       "This endpoint needs a WebSocket (\"Upgrade: websocket\")");
	pthread_mutex_lock(&ws_lock);
	for (struct ws_exec *w = ws_sessions; w && !found && secret; w = w->next)
		for (int i = 0; i < WS_SLOTS; i++)
			if (w->used[i] && !w->finished && !w->urh[i] &&
			    strcmp(w->op_id, req->params[0]) == 0 &&
			    secret_equal(w->secrets[i], secret))
				found = true;
	pthread_mutex_unlock(&ws_lock);
	if (!found)
		return err_set(err, -EPERM, "Unknown operation or bad secret");
	a = calloc(1, sizeof(*a));
	if (!a)
		return err_set(err, -ENOMEM, "Out of memory");
	snprintf(a->secret, sizeof(a->secret), "%s", secret);
	a->conn.run = ws_attach_run;
	a->conn.free = ws_attach_free;
	a->conn.keep_extra = true;
	*ret_envelope = NULL;
	return upgrade_respond_websocket(req, &a->conn, err);
}

/* Starts LXD's shape of exec for session `s` (taken over), or with `s` NULL of the console
 * (`ptx` and `hold` taken over). */
static int ws_start(struct daemon *d, struct request *req, struct exec_session *s, int ptx,
		    int hold, json_object **ret_envelope, struct err **err)
{
	struct ws_exec *w = calloc(1, sizeof(*w));
	bool interactive = !s || s->interactive;
	json_object *md, *fds, *resources, *list, *op = NULL, *id = NULL;
	_cleanup_free_ char *url = NULL;
	int r;

	if (!w) {
		exec_session_free(s);
		if (ptx >= 0)
			close(ptx);
		if (hold >= 0)
			close(hold);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	w->s = s;
	w->console = !s;
	w->console_ptx = ptx;
	w->console_hold = hold;
	if (body_int(req->body, "width", &w->width, NULL) < 0 ||
	    body_int(req->body, "height", &w->height, NULL) < 0)
		w->width = w->height = 0;
	md = json_object_new_object();
	fds = json_object_new_object();
	for (int i = 0; i < WS_SLOTS; i++) {
		w->socks[i] = -EBADF;
		w->used[i] = !(interactive && (i == WS_STDOUT || i == WS_STDERR));
		if (!w->used[i])
			continue;
		if (secret_random_hex(w->secrets[i]) < 0) {
			json_object_put(md);
			json_object_put(fds);
			ws_exec_free(w);
			return err_set(err, -EIO, "Failed to make a secret");
		}
		json_object_object_add(fds, slot_names[i], json_object_new_string(w->secrets[i]));
	}
	json_object_object_add(md, "fds", fds);
	resources = json_object_new_object();
	list = json_object_new_array();
	url = str_printf("/1.0/instances/%s", req->params[0]);
	json_object_array_add(list, json_object_new_string(url ? url : ""));
	json_object_object_add(resources, "instances", list);
	/* Registered before the operation starts (and its worker waits for the websockets), so
	 * that no websocket can come before its session; the id is filled in right after. */
	w->finished = false;
	pthread_mutex_lock(&ws_lock);
	w->next = ws_sessions;
	ws_sessions = w;
	pthread_mutex_unlock(&ws_lock);
	r = operation_start_with_metadata(d, s ? "Executing command" : "Showing console", resources,
					  md, run_ws_exec, w, ws_exec_free, ret_envelope, err);
	if (r < 0)
		return r;
	if (json_object_object_get_ex(*ret_envelope, "metadata", &op) &&
	    json_object_object_get_ex(op, "id", &id)) {
		pthread_mutex_lock(&ws_lock);
		snprintf(w->op_id, sizeof(w->op_id), "%s", json_object_get_string(id));
		pthread_mutex_unlock(&ws_lock);
	}
	return 202;
}

HANDLER(handle_instance_exec)
{
	struct exec_session *s = NULL;
	bool websocket = false;
	int r;

	(void)ret_envelope;
	/* LXD's client asks for websockets in the body instead of an upgrade. */
	if (req->body && !request_header(req, "Upgrade") &&
	    (r = body_bool(req->body, "wait-for-websocket", &websocket, err)) < 0)
		return r;
	r = websocket ? 0 : upgrade_check(req, err);
	if (r < 0)
		return r;
	r = upgrade_instance_running(d, req->params[0], err);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(err, -ENOMEM, "Out of memory");
	s->d = d;
	s->conn.sock = -EBADF;
	s->conn.run = exec_thread;
	s->conn.free = exec_session_free_void;
	r = parse_exec_body(req->body, s, err);
	if (r < 0) {
		exec_session_free(s);
		return r;
	}
	s->name = strdup(req->params[0]);
	s->lxcpath = instance_lxcpath(&d->env);
	s->log_dir = instance_log_dir(&d->env, req->params[0]);
	s->config_path = s->log_dir ? str_printf("%s/lxc.conf", s->log_dir) : NULL;
	if (!s->name || !s->lxcpath || !s->log_dir || !s->config_path) {
		exec_session_free(s);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	if (websocket)
		return ws_start(d, req, s, -EBADF, -EBADF, ret_envelope, err);
	return upgrade_respond(req, &s->conn, err);
}

int api_console_websocket(struct daemon *d, struct request *req, int ptx, int hold,
			  json_object **ret_envelope, struct err **err)
{
	return ws_start(d, req, NULL, ptx, hold, ret_envelope, err);
}
