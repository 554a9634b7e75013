#include "instance/fork.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/fdpass.h"
#include "common/log.h"
#include "common/util.h"
#include "instance/lxc-internal.h"

/*
 * This file is the whole of cairn-fork besides common/: it must not call into the rest of
 * instance/ (which would pull storage, config, SQLite and the rest into the helper's link).
 */

extern char **environ;

/* Bytes held between the terminal and the pseudo-terminal in each direction. */
#define PROXY_BUF 16384

/* stdin from /dev/null, stdout and stderr to LOGDIR/`log_name`. */
static int redirect_stdio(const char *log_dir, const char *log_name)
{
	_cleanup_free_ char *path = str_printf("%s/%s", log_dir, log_name);
	_cleanup_close_ int null_fd = -EBADF;
	_cleanup_close_ int log_fd = -EBADF;

	if (!path)
		return -ENOMEM;
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd < 0)
		return -errno;
	log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log_fd < 0)
		return -errno;
	/* dup2() clears close-on-exec on the copies, as standard descriptors want. */
	if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
	    dup2(log_fd, STDERR_FILENO) < 0)
		return -errno;
	return 0;
}

/* Copies CRIU's log `src` over LOGDIR/`name`, so that it outlives the image directory. */
static void keep_criu_log(const char *src, const char *log_dir, const char *name)
{
	_cleanup_free_ char *dst = str_printf("%s/%s", log_dir, name);
	_cleanup_free_ char *text = NULL;
	_cleanup_err_ struct err *e = NULL;
	size_t len = 0;
	int r;

	if (!dst || file_read_all(src, &text, &len, NULL) < 0)
		return;
	r = file_write(dst, text, len, 0600, &e);
	if (r < 0)
		log_warn("Failed to keep the CRIU log \"%s\", ignoring: %s", dst, err_msg(e, r));
}

/* The common start of the helpers: descriptors, log, the container with only our config. */
static struct lxc_container *helper_setup(const char *log_name, const char *name,
					  const char *lxcpath, const char *config,
					  const char *log_dir)
{
	struct lxc_container *c;
	int r;

	r = fd_cloexec_from(3);
	if (r < 0) {
		log_error("Failed to mark inherited descriptors close-on-exec: %s", strerror(-r));
		return NULL;
	}
	r = redirect_stdio(log_dir, log_name);
	if (r < 0) {
		log_error("Failed to open the log of instance \"%s\" in \"%s\": %s", name, log_dir,
			  strerror(-r));
		return NULL;
	}
	log_set_fd(STDERR_FILENO);
	c = lxc_container_new(name, lxcpath);
	if (!c) {
		log_error("Failed to set up instance \"%s\" in \"%s\"", name, lxcpath);
		return NULL;
	}
	/* Only our rendered config counts, never a stale one liblxc finds under LXCPATH. */
	c->clear_config(c);
	if (!c->load_config(c, config)) {
		log_error("Failed to load the configuration \"%s\" of instance \"%s\"", config,
			  name);
		lxc_container_put(c);
		return NULL;
	}
	return c;
}

static int forkstart_main(int argc, char **argv)
{
	_cleanup_lxc_container_ struct lxc_container *c = NULL;

	if (argc != 6) {
		return log_error_return(1, "Usage: %s forkstart NAME LXCPATH CONFIG LOGDIR",
					argv[0]);
	}
	c = helper_setup("forkstart.log", argv[2], argv[3], argv[4], argv[5]);
	if (!c)
		return 1;
	if (c->is_running(c)) {
		log_info("Instance \"%s\" is already running", argv[2]);
		return 0;
	}
	c->want_daemonize(c, true);
	if (!c->start(c, 0, NULL)) {
		return log_error_return(1, "Failed to start instance \"%s\"%s%s", argv[2],
					c->error_string ? ": " : "",
					c->error_string ? c->error_string : "");
	}
	return 0;
}

static int forkcheckpoint_main(int argc, char **argv)
{
	_cleanup_lxc_container_ struct lxc_container *c = NULL;
	_cleanup_free_ char *criu_log = NULL;
	bool ok;

	if (argc != 8) {
		return log_error_return(
		    1, "Usage: %s forkcheckpoint NAME LXCPATH CONFIG DIR LOGDIR STOP", argv[0]);
	}
	c = helper_setup("forkcheckpoint.log", argv[2], argv[3], argv[4], argv[6]);
	if (!c)
		return 1;
	if (!c->is_running(c)) {
		return log_error_return(1, "Instance \"%s\" is not running", argv[2]);
	}
	/* liblxc runs `criu dump` (with --leave-running unless STOP), which writes its images
	 * and dump.log into DIR. */
	ok = c->checkpoint(c, argv[5], strcmp(argv[7], "1") == 0, false);
	criu_log = str_printf("%s/dump.log", argv[5]);
	if (criu_log)
		keep_criu_log(criu_log, argv[6], INSTANCE_CRIU_DUMP_LOG);
	if (!ok) {
		return log_error_return(1, "Failed to checkpoint instance \"%s\"", argv[2]);
	}
	return 0;
}

static int forkrestore_main(int argc, char **argv)
{
	_cleanup_lxc_container_ struct lxc_container *c = NULL;
	_cleanup_free_ char *criu_log = NULL;
	bool ok;

	if (argc != 7) {
		return log_error_return(1, "Usage: %s forkrestore NAME LXCPATH CONFIG DIR LOGDIR",
					argv[0]);
	}
	c = helper_setup("forkrestore.log", argv[2], argv[3], argv[4], argv[6]);
	if (!c)
		return 1;
	if (c->is_running(c)) {
		return log_error_return(1, "Instance \"%s\" is already running", argv[2]);
	}
	/* The restoring process stays behind as the container's monitor: a session of its own
	 * keeps it out of cairnd's process group, as a daemonized start is. */
	if (setsid() < 0)
		log_warn("Failed to start a session, ignoring: %s", strerror(errno));
	ok = c->restore(c, argv[5], false);
	criu_log = str_printf("%s/restore.log", argv[5]);
	if (criu_log)
		keep_criu_log(criu_log, argv[6], INSTANCE_CRIU_RESTORE_LOG);
	if (!ok) {
		return log_error_return(1, "Failed to restore instance \"%s\"", argv[2]);
	}
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
	return INSTANCE_EXEC_ATTACH_FAILED;
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

static int forkexec_main(int argc, char **argv)
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
		    argv[0]);
		return INSTANCE_EXEC_ATTACH_FAILED;
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
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return INSTANCE_EXEC_ATTACH_FAILED;
}

int instance_fork_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*main)(int argc, char **argv);
	} helpers[] = {
	    {"forkstart", forkstart_main},
	    {"forkexec", forkexec_main},
	    {"forkcheckpoint", forkcheckpoint_main},
	    {"forkrestore", forkrestore_main},
	};

	if (argc > 1)
		for (size_t i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++)
			if (strcmp(argv[1], helpers[i].name) == 0)
				return helpers[i].main(argc, argv);
	fprintf(stderr,
		"Error: this is the helper cairnd runs to start containers and run commands in "
		"them, not a command\n"
		"Usage: %s forkstart|forkexec|forkcheckpoint|forkrestore ...\n",
		argc > 0 ? argv[0] : INSTANCE_FORK_HELPER);
	return 1;
}
