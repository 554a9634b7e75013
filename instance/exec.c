#include "instance/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include "common/cleanup.h"
#include "common/fdpass.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "instance/lxc-internal.h"

/* The helper's exit code when it could not run the command at all. */
#define EXIT_ATTACH_FAILED 255

/* Bytes held between the terminal and the pseudo-terminal in each direction. */
#define PROXY_BUF 16384

int instance_exec_exit_code(int wait_status)
{
	if (WIFEXITED(wait_status))
		return WEXITSTATUS(wait_status);
	if (WIFSIGNALED(wait_status))
		return 128 + WTERMSIG(wait_status);
	return EXIT_ATTACH_FAILED;
}

static void spawn_file_actions_donep(posix_spawn_file_actions_t **fa)
{
	if (*fa)
		posix_spawn_file_actions_destroy(*fa);
	*fa = NULL;
}

int instance_exec_spawn(const struct instance_exec_spec *spec, pid_t *ret_pid, struct err **err)
{
	_cleanup_strv_ char **argv = NULL;
	posix_spawn_file_actions_t fa_storage;
	_cleanup_(spawn_file_actions_donep) posix_spawn_file_actions_t *fa = NULL;
	posix_spawnattr_t attr;
	char uid[16], gid[16];
	sigset_t none, all;
	pid_t pid = 0;
	int r;

	if (!spec->command || !spec->command[0])
		return err_set(err, -EINVAL, "No command to run in instance \"%s\"", spec->name);
	snprintf(uid, sizeof(uid), "%u", spec->uid);
	snprintf(gid, sizeof(gid), "%u", spec->gid);
	if (strv_push(&argv, spec->self_exe) < 0 || strv_push(&argv, "forkexec") < 0 ||
	    strv_push(&argv, spec->name) < 0 || strv_push(&argv, spec->lxcpath) < 0 ||
	    strv_push(&argv, spec->config_path) < 0 || strv_push(&argv, spec->log_dir) < 0 ||
	    strv_push(&argv, uid) < 0 || strv_push(&argv, gid) < 0 ||
	    strv_push(&argv, spec->cwd ? spec->cwd : "") < 0 ||
	    strv_push(&argv, spec->interactive ? "1" : "0") < 0 || strv_push(&argv, "--") < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	for (char *const *a = spec->command; *a; a++)
		if (strv_push(&argv, *a) < 0)
			return err_set(err, -ENOMEM, "Out of memory");

	r = posix_spawn_file_actions_init(&fa_storage);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to run a command in instance \"%s\"",
				     spec->name);
	fa = &fa_storage;
	/* dup2() clears close-on-exec on the copies: the helper gets exactly these three. */
	for (int i = 0; i < 3; i++) {
		r = posix_spawn_file_actions_adddup2(fa, spec->fds[i], i);
		if (r != 0)
			return err_set_errno(err, -r, "Failed to run a command in instance \"%s\"",
					     spec->name);
	}

	/* The daemon blocks signals for its main loop: the helper and the command must start with
	 * an empty mask and default dispositions. A process group of its own lets the daemon kill
	 * the helper and what it left behind at once. */
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	r = posix_spawnattr_init(&attr);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to run a command in instance \"%s\"",
				     spec->name);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					    POSIX_SPAWN_SETPGROUP);
	r = posix_spawn(
	    &pid, spec->self_exe, fa, &attr, argv,
	    (char *const *)(spec->environment ? spec->environment : (char *const[]){NULL}));
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		return err_set_errno(
		    err, -r, "Failed to run a command in instance \"%s\": cannot run \"%s\"",
		    spec->name, spec->self_exe);
	*ret_pid = pid;
	return 0;
}

int instance_console_open(const char *name, const char *lxcpath, int *ret_ptx, int *ret_session,
			  struct err **err)
{
	_cleanup_lxc_container_ struct lxc_container *c = NULL;
	int ttynum = 0, ptx = -EBADF, session;

	c = lxc_container_new(name, lxcpath);
	if (!c)
		return err_set(err, -ENOMEM, "Failed to set up instance \"%s\"", name);
	if (!c->is_running(c))
		return err_set(err, -ESRCH, "Instance \"%s\" is not running", name);
	/* ttynum 0 is /dev/console; liblxc hands out a proxy pty joined to it by the monitor. */
	session = c->console_getfd(c, &ttynum, &ptx);
	if (session < 0 || ptx < 0)
		return err_set(err, -EBUSY,
			       "Failed to attach to the console of instance \"%s\" (is another "
			       "client on it?)",
			       name);
	/* liblxc's descriptors come without close-on-exec: the daemon spawns helpers. */
	fcntl(session, F_SETFD, FD_CLOEXEC);
	fcntl(ptx, F_SETFD, FD_CLOEXEC);
	*ret_ptx = ptx;
	*ret_session = session;
	return 0;
}

/* ---- the forkexec helper ---- */

/* Prints a failure for the user (descriptor 2 is theirs) and logs it. */
static int helper_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int helper_fail(const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	log_error("%s", msg ? msg : "Out of memory");
	dprintf(STDERR_FILENO, "Error: %s\n", msg ? msg : "Out of memory");
	return EXIT_ATTACH_FAILED;
}

/*
 * A pseudo-terminal from the container's own devpts (liblxc hands out a descriptor of its root
 * through the monitor), as Incus allocates it: the command sees its terminal as /dev/pts/N, so
 * `tty` and everything that looks its terminal up by name work. The slave is given to the
 * command's user as the container maps it (`host_uid`, `host_gid`), since a host root owner is
 * unmapped, and so nobody's, inside. The command gets the slave as its controlling terminal;
 * liblxc's own terminal proxy (LXC_ATTACH_TERMINAL) cannot be used because it opens /dev/tty, the
 * controlling terminal of the helper, which has none: the caller's terminal belongs to the
 * caller's session and must not be taken from it. A container whose devpts cannot be had (-errno)
 * gets one from the host's devpts instead, which works but has no name inside.
 */
static int open_pty(struct lxc_container *c, uid_t host_uid, gid_t host_gid, int *ret_ptx,
		    int *ret_pty)
{
	_cleanup_close_ int devpts = -EBADF, ptx = -EBADF;
	char name[64];
	int pty, unlock = 0;

	devpts = c->devpts_fd(c);
	if (devpts >= 0) {
		ptx = openat(devpts, "ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (ptx < 0)
			log_debug("Failed to open the ptmx of the container's devpts: %s",
				  strerror(errno));
	} else {
		log_debug("No devpts descriptor for the container, using the host's");
	}
	if (ptx >= 0) {
		if (ioctl(ptx, TIOCSPTLCK, &unlock) < 0)
			return -errno;
		pty = ioctl(ptx, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (pty < 0)
			return -errno;
		if (fchown(pty, host_uid, host_gid) < 0)
			log_debug("Failed to give the terminal to %u:%u, ignoring: %s",
				  (unsigned)host_uid, (unsigned)host_gid, strerror(errno));
		*ret_ptx = steal_fd(&ptx);
		*ret_pty = pty;
		return 0;
	}
	ptx = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (ptx < 0)
		return -errno;
	if (grantpt(ptx) < 0 || unlockpt(ptx) < 0)
		return -errno;
	if (ptsname_r(ptx, name, sizeof(name)) != 0)
		return -errno;
	pty = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (pty < 0)
		return -errno;
	*ret_ptx = steal_fd(&ptx);
	*ret_pty = pty;
	return 0;
}

/*
 * The host id that `id` of the container maps to, from the loaded config's lxc.idmap lines
 * ("u 0 1000000 1000000000"); `kind` is 'u' or 'g'. A privileged container has none: the same id.
 */
static unsigned long host_id(struct lxc_container *c, char kind, unsigned long id)
{
	_cleanup_free_ char *text = NULL;
	char *line, *save = NULL;
	int len;

	len = c->get_config_item(c, "lxc.idmap", NULL, 0);
	if (len <= 0 || !(text = calloc(1, (size_t)len + 1)) ||
	    c->get_config_item(c, "lxc.idmap", text, len + 1) < 0)
		return id;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long inside, outside, count;
		char k;

		if (sscanf(line, " %c %lu %lu %lu", &k, &inside, &outside, &count) == 4 &&
		    k == kind && id >= inside && id - inside < count)
			return outside + (id - inside);
	}
	return id;
}

static void copy_winsize(int from, int to)
{
	struct winsize ws;

	if (ioctl(from, TIOCGWINSZ, &ws) == 0)
		(void)ioctl(to, TIOCSWINSZ, &ws);
}

/* One direction of the terminal proxy. */
struct pipe_buf {
	char data[PROXY_BUF];
	size_t len;
	bool eof; /* the source is done */
};

/* Writes what `b` holds to `fd` (non-blocking); returns -errno on a hard error. */
static int flush_buf(struct pipe_buf *b, int fd)
{
	while (b->len > 0) {
		ssize_t n = write(fd, b->data, b->len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		memmove(b->data, b->data + n, b->len - (size_t)n);
		b->len -= (size_t)n;
	}
	return 0;
}

/* Reads into `b`; 0 at end of file, -errno on error (EIO from a master whose slave is closed
 * everywhere counts as the end). */
static ssize_t fill_buf(struct pipe_buf *b, int fd)
{
	ssize_t n;

	do
		n = read(fd, b->data + b->len, sizeof(b->data) - b->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EIO ? 0 : -errno;
	b->len += (size_t)n;
	return n;
}

/*
 * Waits for `pid`, forwarding signals; in interactive mode also copies the terminal (fd 0 in,
 * fd 1 out) to and from `ptx`. Returns the wait status of the command.
 */
static int supervise(pid_t pid, int sfd, int ptx)
{
	struct pipe_buf *in = NULL, *out = NULL;
	bool exited = false;
	int status = 0;

	if (ptx >= 0) {
		in = calloc(1, sizeof(*in));
		out = calloc(1, sizeof(*out));
		if (!in || !out) {
			free(in);
			free(out);
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return status;
		}
		fcntl(ptx, F_SETFL, fcntl(ptx, F_GETFL) | O_NONBLOCK);
	}

	/* SIGCHLD may have come before it was blocked. */
	if (waitpid(pid, &status, WNOHANG) == pid)
		exited = true;

	while (!exited || (out && !out->eof)) {
		struct pollfd p[3] = {{.fd = sfd, .events = POLLIN}, {.fd = -1}, {.fd = -1}};

		if (ptx >= 0) {
			/* The terminal in; stop reading while the command does not take input. */
			if (!in->eof && in->len < sizeof(in->data))
				p[1] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
			p[2].fd = ptx;
			p[2].events =
			    (short)((!out->eof && out->len < sizeof(out->data) ? POLLIN : 0) |
				    (in->len > 0 ? POLLOUT : 0));
			if (!p[2].events)
				p[2].fd = -1;
		}
		/* Once the command is gone, only what is already in the pseudo-terminal counts. */
		if (poll(p, 3, exited ? 100 : -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (exited && !(p[2].revents & POLLIN))
			break;
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				switch (si.ssi_signo) {
				case SIGCHLD:
					break;
				case SIGWINCH:
					if (ptx >= 0)
						copy_winsize(STDIN_FILENO, ptx);
					break;
				default:
					kill(pid, (int)si.ssi_signo);
					break;
				}
			}
			if (!exited && waitpid(pid, &status, WNOHANG) == pid)
				exited = true;
		}
		if (ptx < 0)
			continue;
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (fill_buf(in, STDIN_FILENO) <= 0)
				in->eof = true;
		}
		if (p[2].revents & POLLOUT && flush_buf(in, ptx) < 0)
			in->len = 0;
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = fill_buf(out, ptx);

			if (n == 0 || (n < 0 && n != -EAGAIN))
				out->eof = true;
		}
		/* The caller's terminal blocks us for as long as it is slow, which is right. */
		if (out->len > 0) {
			int fl = fcntl(STDOUT_FILENO, F_GETFL);

			if (fl >= 0 && (fl & O_NONBLOCK))
				fcntl(STDOUT_FILENO, F_SETFL, fl & ~O_NONBLOCK);
			if (flush_buf(out, STDOUT_FILENO) < 0)
				out->len = 0;
		}
	}
	if (!exited)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	free(in);
	free(out);
	return status;
}

/* What the command's process needs: the command, and where to report a failed exec. */
struct run_payload {
	lxc_attach_command_t cmd;
	int report_fd; /* write end of a close-on-exec pipe: a successful exec closes it */
};

/*
 * Runs in the attached process, inside the container. As lxc_attach_run_command(), with the exit
 * codes of a shell (127: not found, 126: found but not runnable), and the errno of a failed exec
 * sent back to the helper, so that it can tell "Command not found" from a command that exits 127.
 */
static int run_command(void *data)
{
	struct run_payload *p = data;
	int e;

	execvp(p->cmd.program, p->cmd.argv);
	e = errno;
	if (p->report_fd >= 0)
		(void)!write(p->report_fd, &e, sizeof(e));
	return e == ENOENT || e == ENOTDIR ? 127 : 126;
}

int instance_exec_forkexec_main(int argc, char **argv)
{
	_cleanup_lxc_container_ struct lxc_container *c = NULL;
	_cleanup_close_ int log_fd = -EBADF, ptx = -EBADF, pty = -EBADF, sfd = -EBADF;
	_cleanup_free_ char *log_path = NULL;
	lxc_attach_options_t opts = LXC_ATTACH_OPTIONS_DEFAULT;
	struct run_payload payload = {.report_fd = -1};
	_cleanup_close_ int report_rd = -EBADF, report_wr = -EBADF;
	const char *name, *lxcpath, *config, *log_dir, *cwd;
	unsigned long uid, gid;
	bool interactive;
	sigset_t mask;
	pid_t pid = 0;
	int r, status;

	if (argc < 12 || strcmp(argv[10], "--") != 0) {
		log_error(
		    "Usage: %s forkexec NAME LXCPATH CONFIG LOGDIR UID GID CWD INTERACTIVE -- "
		    "CMD...",
		    argc > 0 ? argv[0] : "cairnd");
		return EXIT_ATTACH_FAILED;
	}
	name = argv[2];
	lxcpath = argv[3];
	config = argv[4];
	log_dir = argv[5];
	uid = strtoul(argv[6], NULL, 10);
	gid = strtoul(argv[7], NULL, 10);
	cwd = argv[8];
	interactive = strcmp(argv[9], "1") == 0;

	r = fd_cloexec_from(3);
	if (r < 0)
		return helper_fail("Failed to mark inherited descriptors close-on-exec: %s",
				   strerror(-r));
	/* Descriptors 0-2 are the caller's: the helper's own log goes to a file. */
	log_path = str_printf("%s/forkexec.log", log_dir);
	if (log_path)
		log_fd =
		    open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	log_set_fd(log_fd >= 0 ? log_fd : STDERR_FILENO);

	c = lxc_container_new(name, lxcpath);
	if (!c)
		return helper_fail("Failed to set up instance \"%s\"", name);
	c->clear_config(c);
	if (!c->load_config(c, config))
		return helper_fail("Failed to load the configuration of instance \"%s\"", name);
	if (!c->is_running(c))
		return helper_fail("Instance \"%s\" is not running", name);

	opts.env_policy = LXC_ATTACH_CLEAR_ENV;
	opts.extra_env_vars = environ;
	opts.uid = (uid_t)uid;
	opts.gid = (gid_t)gid;
	opts.initial_cwd = *cwd ? (char *)cwd : NULL;
	if (interactive) {
		r = open_pty(c, (uid_t)host_id(c, 'u', uid), (gid_t)host_id(c, 'g', gid), &ptx,
			     &pty);
		if (r < 0)
			return helper_fail("Failed to allocate a terminal: %s", strerror(-r));
		copy_winsize(STDIN_FILENO, ptx);
		/* A descriptor above 2 that is a terminal: liblxc makes it the controlling
		 * terminal of the command (setsid + TIOCSCTTY) before dup2'ing it to 0-2. */
		opts.stdin_fd = pty;
		opts.stdout_fd = pty;
		opts.stderr_fd = pty;
	}
	payload.cmd.program = argv[11];
	payload.cmd.argv = argv + 11;
	{
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0)
			return helper_fail("Failed to run a command in instance \"%s\": %s", name,
					   strerror(errno));
		report_rd = p[0];
		report_wr = p[1];
		payload.report_fd = report_wr;
	}

	r = c->attach(c, run_command, &payload, &opts, &pid);
	if (r < 0 || pid <= 0)
		return helper_fail("Failed to run a command in instance \"%s\"", name);
	log_debug("Attached pid %d to instance \"%s\"", (int)pid, name);
	/* The command holds its own copy; ours would keep the master from seeing the end. */
	close(steal_fd(&pty));
	close(steal_fd(&report_wr));

	/* Blocked only now: the command inherits the mask of the process that attaches. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGWINCH);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return helper_fail("Failed to watch signals: %s", strerror(errno));
	}
	status = supervise(pid, sfd, ptx);
	/* The pipe is at its end now: closed by the exec, or by the exit of a failed one. */
	{
		int e = 0;

		if (read(report_rd, &e, sizeof(e)) == (ssize_t)sizeof(e)) {
			if (e == ENOENT || e == ENOTDIR) {
				dprintf(STDERR_FILENO, "Error: Command not found\n");
				return 127;
			}
			dprintf(STDERR_FILENO, "Error: Command \"%s\" cannot be run: %s\n",
				argv[11], strerror(e));
			return 126;
		}
	}
	return instance_exec_exit_code(status);
}
