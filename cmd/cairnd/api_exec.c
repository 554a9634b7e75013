/*
 * POST /1.0/instances/{name}/exec: the request is checked like every other one, then upgraded
 * ("Upgrade: cairn-fds"); the client passes its three descriptors over the socket and the
 * command runs in a forkexec helper that writes straight into them. A detached thread per
 * session spawns the helper, forwards resize and signal messages, and answers {"return": N}.
 */
#include <errno.h>
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

HANDLER(handle_instance_exec)
{
	struct exec_session *s = NULL;
	int r;

	(void)ret_envelope;
	r = upgrade_check(req, err);
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
	return upgrade_respond(req, &s->conn, err);
}
