/*
 * Files of a running instance, reached in the container's own namespaces.
 *
 * The daemon never opens a path of a running container itself: through /proc/PID/root, with
 * the host's root credentials, a write to the container's /proc/sys or /sys would change the
 * host. It spawns `cairnd forkfile NAME OP PATH ...` with the pidfd of the container's init. The
 * helper joins init's user and mount namespaces through that pidfd, becomes root of the
 * container (its uid and gid 0, the capabilities init may have and no others), and runs the same
 * code as for a stopped instance (files.c: openat2 with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS),
 * from the namespace's "/". A write is done by the helper entirely; a read hands the opened
 * descriptor back over a socket pair (SCM_RIGHTS).
 *
 * Why a re-exec'd helper rather than a child forked from the daemon: setns() into a user
 * namespace refuses a multithreaded process, and the work (listing a directory, copying, error
 * messages) needs malloc and stdio, which a child of the multithreaded daemon may not use before
 * exec. A fresh cairnd is single-threaded, so files.c serves both cases unchanged.
 */
#include "instance/files.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/crashpoint.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/util.h"
#include "config/db.h"
#include "instance/instance.h"
#include "instance/lxc.h"

extern char **environ;

/* The helper's descriptors: the socket to the daemon, init's pidfd, the contents to write. */
#define FORKFILE_SOCK 3
#define FORKFILE_PIDFD 4
#define FORKFILE_SRC 5

/* The daemon's copies of them are moved above this before the spawn, so that no dup2() in the
 * child overwrites a source it still has to copy. */
#define FORKFILE_FD_FLOOR 10

/* A helper that has not answered by then is killed: a container can stall a read (a FUSE file
 * system of its own), never the daemon. Generous, as a push copies the whole file first. */
#define FORKFILE_TIMEOUT_MS (10 * 60 * 1000)

/* Most bytes of a directory listing, a link target or an error message. */
#define FORKFILE_TEXT_MAX (16U << 20)

/* Most bytes of a file of a kernel or FUSE file system read by the helper (see reply_get). */
#define FORKFILE_COPY_MAX (64U << 20)

/* argv of the helper: cairnd forkfile NAME OP PATH MAPSIZE TYPE UID GID MODE APPEND TARGET */
#define FORKFILE_ARGC 13

/* What the helper answers, followed by text_len bytes: the error message, the link's target, or
 * the directory's entries each ending in NUL. A regular file's descriptor rides on it. */
struct forkfile_reply {
	int32_t error;	   /* 0 or -errno */
	uint32_t type;	   /* enum instance_file_type */
	uint32_t uid;	   /* as the container sees them */
	uint32_t gid;	   /* as the container sees them */
	uint32_t mode;	   /* permission bits */
	uint32_t text_len; /* bytes that follow */
	uint64_t size;	   /* a regular file's bytes */
};

/* ---- the helper ---- */

/* Sends the reply, with `fd` (if >= 0) as SCM_RIGHTS on its first byte, then `text`. */
static int send_reply(const struct forkfile_reply *hdr, const char *text, int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {.iov_base = (void *)hdr, .iov_len = sizeof(*hdr)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	memset(&ctl, 0, sizeof(ctl));
	if (fd >= 0) {
		struct cmsghdr *cm;

		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	do
		n = sendmsg(FORKFILE_SOCK, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(*hdr)) {
		int r =
		    fd_write_all(FORKFILE_SOCK, (const char *)hdr + n, sizeof(*hdr) - (size_t)n);

		if (r < 0)
			return r;
	}
	return text && hdr->text_len ? fd_write_all(FORKFILE_SOCK, text, hdr->text_len) : 0;
}

static int send_error(int code, const char *msg)
{
	size_t len = strnlen(msg, FORKFILE_TEXT_MAX);
	struct forkfile_reply hdr = {.error = code, .text_len = (uint32_t)len};

	return send_reply(&hdr, msg, -EBADF);
}

/* The pid of the process `pidfd` names, from its fdinfo; -ESRCH when it has exited. */
static int pidfd_pid(int pidfd, pid_t *ret)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	char path[64];
	size_t cap = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		long pid;

		if (strncmp(line, "Pid:", 4) != 0)
			continue;
		pid = strtol(line + 4, NULL, 10);
		if (pid <= 0)
			return -ESRCH;
		*ret = (pid_t)pid;
		return 0;
	}
	return -ENOTSUP;
}

/* The bounding set of capabilities of `pid` (CapBnd in its status). */
static int read_cap_bounding(pid_t pid, uint64_t *ret)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	char path[64];
	size_t cap = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, "CapBnd:", 7) == 0) {
			*ret = strtoull(line + 7, NULL, 16);
			return 0;
		}
	}
	return -ENOTSUP;
}

/* Whether `pid` lives in another user namespace than this process (an unprivileged one). */
static int in_other_userns(pid_t pid, bool *ret)
{
	struct stat self, other;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	if (stat(path, &other) < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	if (stat("/proc/self/ns/user", &self) < 0)
		return -errno;
	*ret = self.st_dev != other.st_dev || self.st_ino != other.st_ino;
	return 0;
}

/* 0 while the process `pidfd` names runs, -ESRCH once it has exited. */
static int pidfd_alive(int pidfd)
{
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
		return -errno;
	return 0;
}

/* Keeps only the capabilities in `keep`: bounding, effective, permitted and inheritable sets,
 * and no ambient ones. */
static int limit_caps(uint64_t keep)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	for (int c = 0; c < 64; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0)
			break; /* past the kernel's last capability */
		if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		uint32_t k = (uint32_t)(keep >> (32 * i));

		d[i].effective &= k;
		d[i].permitted &= k;
		d[i].inheritable &= k;
	}
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}

/*
 * Joins the namespaces of the init `pidfd` names, as root of the container. Everything read of
 * init through its pid (/proc/PID) is read before a check that the pidfd's process still runs:
 * while it does, the pid cannot have been given to another process.
 */
static int join_instance(const char *name, int pidfd, struct err **err)
{
	uint64_t bounding = 0;
	bool userns = false;
	pid_t pid = 0;
	int r;

	/* Root of the container may ptrace a process of its user namespace, unless it is not
	 * dumpable: this one holds the daemon's socket. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return err_set_errno(err, -errno, "Failed to make the file helper non-dumpable");
	r = pidfd_pid(pidfd, &pid);
	if (r >= 0)
		r = read_cap_bounding(pid, &bounding);
	if (r >= 0)
		r = in_other_userns(pid, &userns);
	if (r >= 0)
		r = pidfd_alive(pidfd);
	if (r == -ESRCH)
		return err_set(err, -EBUSY,
			       "Instance \"%s\" stopped while its files were being reached", name);
	if (r < 0)
		return err_set_errno(err, r, "Failed to read the init process of instance \"%s\"",
				     name);

	/* Test point: the container exits here, between the daemon's lookup and the open. */
	if (crashpoint_reached("forkfile-wait-exit")) {
		struct pollfd p = {.fd = pidfd, .events = POLLIN};

		(void)poll(&p, 1, 30000);
	}

	if (setns(pidfd, CLONE_NEWNS | (userns ? CLONE_NEWUSER : 0)) < 0) {
		r = -errno;
		if (r == -ESRCH)
			return err_set(err, -EBUSY,
				       "Instance \"%s\" stopped while its files were being reached",
				       name);
		return err_set_errno(err, r, "Failed to enter instance \"%s\"", name);
	}
	/* The namespaces joined are those of init as long as it still runs now. */
	if (pidfd_alive(pidfd) < 0)
		return err_set(err, -EBUSY,
			       "Instance \"%s\" stopped while its files were being reached", name);
	if (userns) {
		/* Root of the container: uid and gid 0 of its namespace, no host groups. */
		if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			return err_set_errno(err, -errno,
					     "Failed to become root of instance \"%s\"", name);
	}
	/* What init may never have (a privileged container's dropped capabilities), this
	 * process has not either. */
	r = limit_caps(bounding);
	if (r < 0)
		return err_set_errno(err, r, "Failed to drop capabilities for instance \"%s\"",
				     name);
	/* Changing credentials resets dumpability: set it again. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_set_errno(err, -errno, "Failed to confine the file helper");
	if (chdir("/") < 0)
		return err_set_errno(err, -errno, "Failed to enter instance \"%s\"", name);
	return 0;
}

/*
 * Whether the daemon may read a file through the descriptor opened here. On a disk or memory
 * file system a read is a read. A kernel interface (proc, sysfs and the like) may check the
 * reader's credentials at each read, and a FUSE file system is served by whoever runs it in the
 * container and may never answer: those the helper reads itself, as the container's root and
 * under the daemon's timeout.
 */
static bool plain_fs(int fd)
{
	struct statfs fs;

	if (fstatfs(fd, &fs) < 0)
		return false;
	switch ((unsigned long)fs.f_type) {
	case BTRFS_SUPER_MAGIC:
	case EXT4_SUPER_MAGIC:
	case XFS_SUPER_MAGIC:
	case TMPFS_MAGIC:
	case RAMFS_MAGIC:
		return true;
	default:
		return false;
	}
}

/* A memfd with what `fd` reads to its end (at most FORKFILE_COPY_MAX bytes). */
static int read_into_memfd(int fd, const char *path, int *ret_fd, uint64_t *ret_size,
			   struct err **err)
{
	_cleanup_close_ int mfd = memfd_create("cairn-file", MFD_CLOEXEC);
	char buf[65536];
	uint64_t total = 0;

	if (mfd < 0)
		return err_set_errno(err, -errno, "Failed to read \"%s\"", path);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set_errno(err, -errno, "Failed to read \"%s\" in the instance",
					     path);
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > FORKFILE_COPY_MAX)
			return err_set(
			    err, -EFBIG,
			    "\"%s\" is larger than %u MiB on a file system the container "
			    "serves itself",
			    path, FORKFILE_COPY_MAX >> 20);
		r = fd_write_all(mfd, buf, (size_t)n);
		if (r < 0)
			return err_set_errno(err, r, "Failed to read \"%s\"", path);
	}
	if (lseek(mfd, 0, SEEK_SET) < 0)
		return err_set_errno(err, -errno, "Failed to read \"%s\"", path);
	*ret_fd = steal_fd(&mfd);
	*ret_size = total;
	return 0;
}

static int reply_get(const struct instance_fsroot *root, const char *path, struct err **err)
{
	_cleanup_(instance_file_done) struct instance_file f = {.fd = -EBADF};
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int copy = -EBADF;
	struct forkfile_reply hdr = {0};
	size_t len = 0;
	int fd = -EBADF, r;

	r = instance_file_get(root, path, &f, err);
	if (r < 0)
		return r;
	hdr.type = (uint32_t)f.type;
	hdr.uid = f.uid;
	hdr.gid = f.gid;
	hdr.mode = (uint32_t)f.mode;
	switch (f.type) {
	case INSTANCE_FILE_REGULAR:
		hdr.size = f.size;
		fd = f.fd;
		if (!plain_fs(f.fd)) {
			r = read_into_memfd(f.fd, path, &copy, &hdr.size, err);
			if (r < 0)
				return r;
			fd = copy;
		}
		break;
	case INSTANCE_FILE_SYMLINK:
		len = strlen(f.target);
		text = strdup(f.target);
		if (!text)
			return err_set(err, -ENOMEM, "Out of memory");
		break;
	case INSTANCE_FILE_DIRECTORY:
		for (char **e = f.entries; e && *e; e++)
			len += strlen(*e) + 1;
		if (len > FORKFILE_TEXT_MAX)
			return err_set(err, -EFBIG, "The directory \"%s\" has too many entries",
				       path);
		text = malloc(len + 1);
		if (!text)
			return err_set(err, -ENOMEM, "Out of memory");
		len = 0;
		for (char **e = f.entries; e && *e; e++) {
			size_t n = strlen(*e) + 1;

			memcpy(text + len, *e, n);
			len += n;
		}
		break;
	case INSTANCE_FILE_TYPE_MAX:
		return err_set(err, -EINVAL, "Unknown file type");
	}
	hdr.text_len = (uint32_t)len;
	r = send_reply(&hdr, text, fd);
	if (r < 0)
		return err_set_errno(err, r, "Failed to answer the daemon");
	return 0;
}

static int parse_u32(const char *s, int base, uint32_t *ret)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, base);
	if (errno || !*s || *end || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int forkfile_run(char **argv, struct err **err)
{
	const char *name = argv[2], *op = argv[3], *path = argv[4];
	struct instance_fsroot root = {.fd = -EBADF, .mounts = true};
	struct instance_file_spec spec = {.src_fd = FORKFILE_SRC};
	struct forkfile_reply ok = {0};
	uint32_t size, type, append, mode;
	int r;

	if (parse_u32(argv[5], 10, &size) < 0 || parse_u32(argv[6], 10, &type) < 0 ||
	    parse_u32(argv[7], 10, &spec.uid) < 0 || parse_u32(argv[8], 10, &spec.gid) < 0 ||
	    parse_u32(argv[9], 8, &mode) < 0 || parse_u32(argv[10], 10, &append) < 0 ||
	    type >= INSTANCE_FILE_TYPE_MAX)
		return err_set(err, -EINVAL, "Invalid arguments to the file helper");
	spec.type = (enum instance_file_type)type;
	spec.mode = (mode_t)(mode & 07777);
	spec.append = append != 0;
	spec.target = argv[11];
	/* Ids are what the container sees on both sides of the namespace: nothing to shift,
	 * only those beyond the map are refused. */
	root.size = size ? size : UINT32_MAX;

	r = join_instance(name, FORKFILE_PIDFD, err);
	if (r < 0)
		return r;
	root.fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root.fd < 0)
		return err_set_errno(err, -errno, "Failed to open the root of instance \"%s\"",
				     name);
	if (strcmp(op, "get") == 0)
		r = reply_get(&root, path, err);
	else if (strcmp(op, "put") == 0)
		r = instance_file_put(&root, path, &spec, err);
	else if (strcmp(op, "delete") == 0)
		r = instance_file_delete(&root, path, err);
	else
		r = err_set(err, -EINVAL, "Unknown file operation \"%s\"", op);
	instance_fsroot_done(&root);
	if (r < 0 || strcmp(op, "get") == 0)
		return r;
	r = send_reply(&ok, NULL, -EBADF);
	return r < 0 ? err_set_errno(err, r, "Failed to answer the daemon") : 0;
}

int instance_forkfile_main(int argc, char **argv)
{
	_cleanup_err_ struct err *e = NULL;
	int r;

	if (argc != FORKFILE_ARGC - 1) {
		fprintf(stderr,
			"Usage: cairnd forkfile NAME OP PATH MAPSIZE TYPE UID GID MODE APPEND "
			"TARGET\n");
		return 2;
	}
	/* Into the container goes nothing of the daemon's but the descriptors it meant to give. */
	if (close_range(FORKFILE_SRC + 1, ~0U, 0) < 0) {
		r = -errno;
		(void)send_error(r, "Failed to close the file helper's descriptors");
		return 1;
	}
	r = forkfile_run(argv, &e);
	if (r < 0) {
		const char *msg = err_msg(e, r);

		fprintf(stderr, "forkfile %s %s: %s\n", argv[3], argv[4], msg);
		(void)send_error(r, msg);
		return 1;
	}
	return 0;
}

/* ---- the daemon's side ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until `sock` is readable or the deadline passes (-ETIMEDOUT). */
static int wait_readable(int sock, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = sock, .events = POLLIN};
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)(left > INT_MAX ? INT_MAX : left));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n > 0)
			return 0;
	}
}

/* Reads exactly `len` bytes; the first read also takes a descriptor into *ret_fd if one rides on
 * it. -ECONNRESET at end of file (the helper died). */
static int read_exact(int sock, void *buf, size_t len, int *ret_fd, int64_t deadline)
{
	char *p = buf;

	while (len > 0) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * 4)];
		} ctl;
		struct iovec iov = {.iov_base = p, .iov_len = len};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n;
		int r;

		if (ret_fd) {
			msg.msg_control = ctl.buf;
			msg.msg_controllen = sizeof(ctl.buf);
		}
		r = wait_readable(sock, deadline);
		if (r < 0)
			return r;
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		for (struct cmsghdr *cm = ret_fd ? CMSG_FIRSTHDR(&msg) : NULL; cm;
		     cm = CMSG_NXTHDR(&msg, cm)) {
			size_t k;

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (*ret_fd < 0)
					*ret_fd = fd;
				else
					close(fd);
			}
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The three descriptors the helper gets, copied above FORKFILE_FD_FLOOR (closed on exec). */
struct forkfile_fds {
	int sock;
	int pidfd;
	int src;
};

static void forkfile_fds_done(struct forkfile_fds *f)
{
	if (f->sock >= 0)
		close(f->sock);
	if (f->pidfd >= 0)
		close(f->pidfd);
	if (f->src >= 0)
		close(f->src);
	f->sock = f->pidfd = f->src = -EBADF;
}

static int spawn_helper(const struct instance_env *env, const char *name, char *const argv[],
			const struct forkfile_fds *fds, pid_t *ret_pid, struct err **err)
{
	_cleanup_free_ char *log_dir = instance_log_dir(env, name);
	_cleanup_free_ char *log = log_dir ? str_printf("%s/forkfile.log", log_dir) : NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int r;

	if (!log)
		return err_set(err, -ENOMEM, "Out of memory");
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	r = posix_spawnattr_init(&attr);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to reach the files of instance \"%s\"", name);
	r = posix_spawn_file_actions_init(&fa);
	if (r != 0) {
		posix_spawnattr_destroy(&attr);
		return err_set_errno(err, -r, "Failed to reach the files of instance \"%s\"", name);
	}
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if ((r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0)) ||
	    (r = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0)) ||
	    (r = posix_spawn_file_actions_addopen(
		 &fa, STDERR_FILENO, log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600)) ||
	    (r = posix_spawn_file_actions_adddup2(&fa, fds->sock, FORKFILE_SOCK)) ||
	    (r = posix_spawn_file_actions_adddup2(&fa, fds->pidfd, FORKFILE_PIDFD)) ||
	    (fds->src >= 0 && (r = posix_spawn_file_actions_adddup2(&fa, fds->src, FORKFILE_SRC))))
		goto out;
	r = posix_spawn(ret_pid, env->self_exe, &fa, &attr, argv, environ);
out:
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to reach the files of instance \"%s\"", name);
	return 0;
}

/* Moves a copy of `fd` above FORKFILE_FD_FLOOR, close-on-exec. */
static int fd_above_floor(int fd)
{
	int copy = fcntl(fd, F_DUPFD_CLOEXEC, FORKFILE_FD_FLOOR);

	return copy < 0 ? -errno : copy;
}

/*
 * Runs the helper for `op` on `path` of running instance `name`, with init's `pidfd` and, for a
 * write, its contents `src_fd`, and reads its answer. For a read, *ret gets what it found.
 */
static int run_forkfile(const struct instance_env *env, const char *name, uint32_t map_size,
			int pidfd, const char *op, const char *path,
			const struct instance_file_spec *spec, struct instance_file *ret,
			struct err **err)
{
	_cleanup_(forkfile_fds_done) struct forkfile_fds child = {-EBADF, -EBADF, -EBADF};
	_cleanup_close_ int sock = -EBADF, fd = -EBADF;
	_cleanup_free_ char *text = NULL;
	struct forkfile_reply hdr = {0};
	char a_size[16], a_type[16], a_uid[16], a_gid[16], a_mode[16], a_append[4];
	char *argv[FORKFILE_ARGC];
	int64_t deadline = now_ms() + FORKFILE_TIMEOUT_MS;
	int sv[2], status = 0, r;
	pid_t pid;

	snprintf(a_size, sizeof(a_size), "%" PRIu32, map_size);
	snprintf(a_type, sizeof(a_type), "%d", spec ? (int)spec->type : 0);
	snprintf(a_uid, sizeof(a_uid), "%" PRIu32, spec ? spec->uid : 0);
	snprintf(a_gid, sizeof(a_gid), "%" PRIu32, spec ? spec->gid : 0);
	snprintf(a_mode, sizeof(a_mode), "%o", spec ? (unsigned)spec->mode & 07777 : 0);
	snprintf(a_append, sizeof(a_append), "%d", spec && spec->append ? 1 : 0);
	argv[0] = (char *)env->self_exe;
	argv[1] = (char *)"forkfile";
	argv[2] = (char *)name;
	argv[3] = (char *)op;
	argv[4] = (char *)path;
	argv[5] = a_size;
	argv[6] = a_type;
	argv[7] = a_uid;
	argv[8] = a_gid;
	argv[9] = a_mode;
	argv[10] = a_append;
	argv[11] = (char *)(spec && spec->target ? spec->target : "");
	argv[12] = NULL;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set_errno(err, -errno, "Failed to reach the files of instance \"%s\"",
				     name);
	sock = sv[0];
	child.sock = fd_above_floor(sv[1]);
	close(sv[1]);
	child.pidfd = fd_above_floor(pidfd);
	if (spec && spec->src_fd >= 0)
		child.src = fd_above_floor(spec->src_fd);
	if (child.sock < 0 || child.pidfd < 0 || (spec && spec->src_fd >= 0 && child.src < 0))
		return err_set(err, -EMFILE, "Failed to reach the files of instance \"%s\"", name);
	r = spawn_helper(env, name, argv, &child, &pid, err);
	if (r < 0)
		return r;
	/* Only the helper holds its end now: its exit is an end of file here. */
	forkfile_fds_done(&child);

	r = read_exact(sock, &hdr, sizeof(hdr), &fd, deadline);
	if (r >= 0 && hdr.text_len > FORKFILE_TEXT_MAX)
		r = -EPROTO;
	if (r >= 0) {
		text = malloc((size_t)hdr.text_len + 1);
		if (!text)
			r = -ENOMEM;
	}
	if (r >= 0)
		r = read_exact(sock, text, hdr.text_len, NULL, deadline);
	if (r == -ETIMEDOUT)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == -ETIMEDOUT)
		return err_set(err, -ETIMEDOUT,
			       "Reaching \"%s\" in instance \"%s\" took too long (the helper was "
			       "stopped)",
			       path, name);
	if (r < 0)
		return err_set(err, -EIO,
			       "Failed to reach \"%s\" in instance \"%s\": the file helper failed "
			       "(see forkfile.log in the instance's log directory)",
			       path, name);
	text[hdr.text_len] = '\0';
	if (hdr.error < 0)
		return err_set(err, hdr.error, "%s", text);
	if (hdr.error > 0)
		return err_set(err, -EPROTO, "Invalid answer from the file helper");
	if (!ret)
		return 0;

	*ret = (struct instance_file){
	    .type = (enum instance_file_type)hdr.type,
	    .uid = hdr.uid,
	    .gid = hdr.gid,
	    .mode = (mode_t)(hdr.mode & 07777),
	    .fd = -EBADF,
	};
	switch (ret->type) {
	case INSTANCE_FILE_REGULAR:
		if (fd < 0)
			return err_set(err, -EPROTO, "Invalid answer from the file helper");
		ret->fd = steal_fd(&fd);
		ret->size = hdr.size;
		return 0;
	case INSTANCE_FILE_SYMLINK:
		ret->target = steal_pointer(&text);
		return 0;
	case INSTANCE_FILE_DIRECTORY: {
		_cleanup_strv_ char **names = calloc(1, sizeof(char *));

		if (!names)
			return err_set(err, -ENOMEM, "Out of memory");
		for (size_t off = 0; off < hdr.text_len;) {
			size_t n = strnlen(text + off, hdr.text_len - off);

			if (strv_push(&names, text + off) < 0)
				return err_set(err, -ENOMEM, "Out of memory");
			off += n + 1;
		}
		ret->entries = steal_pointer(&names);
		return 0;
	}
	case INSTANCE_FILE_TYPE_MAX:
		break;
	}
	return err_set(err, -EPROTO, "Invalid answer from the file helper");
}

/*
 * Where the files of `name` are: *ret_pidfd is its init's pidfd when it runs (-EBADF when
 * stopped), *ret_map_size how many ids its namespace maps (0: privileged).
 */
static int locate(const struct instance_env *env, const char *name, int *ret_pidfd,
		  uint32_t *ret_map_size, struct err **err)
{
	_cleanup_(db_instance_done) struct db_instance row = {0};
	_cleanup_free_ char *lxcpath = NULL;
	const char *base;
	int r;

	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	base = kvlist_get(&row.config, "volatile.idmap.base");
	*ret_map_size = base && strtoul(base, NULL, 10) == 0 ? 0 : env->idmap.size;
	lxcpath = instance_lxcpath(env);
	if (!lxcpath)
		return err_set(err, -ENOMEM, "Out of memory");
	return instance_lxc_init_pidfd(name, lxcpath, ret_pidfd, err);
}

/*
 * One request (`op` "get", "put" or "delete") on the files of instance `name` as it is now: on a
 * stopped one in its rootfs, on a running one through the forkfile helper.
 */
static int files_request(const struct instance_env *env, const char *name, const char *op,
			 const char *path, const struct instance_file_spec *spec,
			 struct instance_file *ret, struct err **err)
{
	_cleanup_close_ int pidfd = -EBADF;
	uint32_t map_size = 0;
	int r;

	r = instance_file_path_check(path, err);
	if (r < 0)
		return r;
	r = locate(env, name, &pidfd, &map_size, err);
	if (r < 0)
		return r;
	if (pidfd < 0) {
		struct instance_fsroot root = {.fd = -EBADF};

		r = instance_fsroot_open_instance(env, name, &root, err);
		if (r < 0)
			return r;
		if (strcmp(op, "get") == 0)
			r = instance_file_get(&root, path, ret, err);
		else if (strcmp(op, "put") == 0)
			r = instance_file_put(&root, path, spec, err);
		else
			r = instance_file_delete(&root, path, err);
		instance_fsroot_done(&root);
		return r;
	}
	/* Checked here too, so that a refusal reads the same whether the instance runs. */
	if (spec && map_size && (spec->uid >= map_size || spec->gid >= map_size))
		return err_set(err, -EINVAL, "The instance does not map uid %u or gid %u",
			       spec->uid, spec->gid);
	return run_forkfile(env, name, map_size, pidfd, op, path, spec, ret, err);
}

int instance_files_get(const struct instance_env *env, const char *name, const char *path,
		       struct instance_file *ret, struct err **err)
{
	return files_request(env, name, "get", path, NULL, ret, err);
}

int instance_files_put(const struct instance_env *env, const char *name, const char *path,
		       const struct instance_file_spec *spec, struct err **err)
{
	return files_request(env, name, "put", path, spec, NULL, err);
}

int instance_files_delete(const struct instance_env *env, const char *name, const char *path,
			  struct err **err)
{
	return files_request(env, name, "delete", path, NULL, NULL, err);
}
