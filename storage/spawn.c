/* External programs (mkfs.btrfs, blkid, cp) and tree walks shared by the drivers. */

#include "storage/storage-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cancel.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/util.h"

extern char **environ;

/* Keep error messages readable when a program writes a lot to stderr. */
#define SPAWN_OUTPUT_MAX (64 * 1024)

char *storage_find_program(const char *name)
{
	_cleanup_free_ char *search = NULL;
	const char *path = getenv("PATH");
	char *save = NULL;

	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? strdup(name) : NULL;
	search = str_printf("%s:/usr/sbin:/sbin:/usr/bin:/bin", path && *path ? path : "");
	if (!search)
		return NULL;
	for (char *dir = strtok_r(search, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *candidate = str_printf("%s/%s", dir, name);

		if (candidate && access(candidate, X_OK) == 0)
			return steal_pointer(&candidate);
	}
	return NULL;
}

struct capture {
	int fd;
	char *buf;
	size_t len;
};

static int capture_read(struct capture *c)
{
	char chunk[4096];
	ssize_t n = read(c->fd, chunk, sizeof(chunk));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	if (n == 0)
		return 0;
	if (c->len < SPAWN_OUTPUT_MAX) {
		size_t take = (size_t)n;
		char *nb;

		if (take > SPAWN_OUTPUT_MAX - c->len)
			take = SPAWN_OUTPUT_MAX - c->len;
		nb = realloc(c->buf, c->len + take + 1);
		if (!nb)
			return -ENOMEM;
		memcpy(nb + c->len, chunk, take);
		c->len += take;
		nb[c->len] = '\0';
		c->buf = nb;
	}
	return 1;
}

/* Called every TICK_MS while a program runs, when given (storage_copy_tree's progress). */
struct spawn_tick {
	void (*fn)(void *ctx);
	void *ctx;
};

#define TICK_MS 500

/* Reads both pipes to their end; the child's output must be drained or it blocks on a full
 * pipe before it exits. */
static int capture_all(struct capture *out, struct capture *errc, const struct spawn_tick *tick)
{
	struct capture *cs[2] = {out, errc};

	for (;;) {
		struct pollfd pfd[2];
		nfds_t n = 0;
		struct capture *which[2];
		int r;

		for (size_t i = 0; i < 2; i++)
			if (cs[i]->fd >= 0) {
				pfd[n] = (struct pollfd){.fd = cs[i]->fd, .events = POLLIN};
				which[n++] = cs[i];
			}
		if (n == 0)
			return 0;
		r = poll(pfd, n, tick ? TICK_MS : -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0) {
			tick->fn(tick->ctx);
			continue;
		}
		for (nfds_t i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			r = capture_read(which[i]);
			if (r < 0)
				return r;
			if (r == 0) {
				close(which[i]->fd);
				which[i]->fd = -EBADF;
			}
		}
	}
}

static void capture_done(struct capture *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -EBADF;
	free(c->buf);
	c->buf = NULL;
}

static void posix_spawn_file_actions_destroyp(posix_spawn_file_actions_t **a)
{
	if (*a)
		posix_spawn_file_actions_destroy(*a);
	*a = NULL;
}

static void posix_spawnattr_destroyp(posix_spawnattr_t **a)
{
	if (*a)
		posix_spawnattr_destroy(*a);
	*a = NULL;
}

static int spawn_ticking(char *const argv[], const struct spawn_tick *tick, int *ret_status,
			 char **ret_stdout, char **ret_stderr, struct err **err)
{
	_cleanup_free_ char *program = storage_find_program(argv[0]);
	_cleanup_close_ int out_w = -EBADF, err_w = -EBADF;
	_cleanup_(capture_done) struct capture out = {.fd = -EBADF}, errc = {.fd = -EBADF};
	/* The guards point at the stack objects once they are initialised, and destroy them. */
	posix_spawn_file_actions_t actions_storage;
	posix_spawnattr_t attr_storage;
	_cleanup_(posix_spawn_file_actions_destroyp) posix_spawn_file_actions_t *actions = NULL;
	_cleanup_(posix_spawnattr_destroyp) posix_spawnattr_t *attr = NULL;
	sigset_t none, all;
	int pipe_out[2], pipe_err[2], status = 0, r;
	pid_t pid;

	if (!program)
		return err_set(err, -ENOENT, "Program \"%s\" is not installed", argv[0]);
	if (pipe2(pipe_out, O_CLOEXEC) < 0)
		return err_set_errno(err, -errno, "Failed to create a pipe for \"%s\"", argv[0]);
	out.fd = pipe_out[0];
	out_w = pipe_out[1];
	if (pipe2(pipe_err, O_CLOEXEC) < 0)
		return err_set_errno(err, -errno, "Failed to create a pipe for \"%s\"", argv[0]);
	errc.fd = pipe_err[0];
	err_w = pipe_err[1];

	r = posix_spawn_file_actions_init(&actions_storage);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to prepare \"%s\"", argv[0]);
	actions = &actions_storage;
	r = posix_spawnattr_init(&attr_storage);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to prepare \"%s\"", argv[0]);
	attr = &attr_storage;

	/* dup2 clears O_CLOEXEC on the child's 1 and 2; every other descriptor of the (threaded)
	 * daemon is O_CLOEXEC and does not leak. The daemon may block signals for a signalfd, so
	 * the child gets an empty mask and default handlers. */
	r = posix_spawn_file_actions_addopen(actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(actions, out_w, STDOUT_FILENO);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(actions, err_w, STDERR_FILENO);
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	if (r == 0)
		r = posix_spawnattr_setsigmask(attr, &none);
	if (r == 0)
		r = posix_spawnattr_setsigdefault(attr, &all);
	if (r == 0)
		r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to prepare \"%s\"", argv[0]);

	r = posix_spawn(&pid, program, actions, attr, argv, environ);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to run \"%s\"", program);
	closep(&out_w);
	closep(&err_w);

	r = capture_all(&out, &errc, tick);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return err_set_errno(err, -errno, "Failed to wait for \"%s\"", program);
	}
	if (r < 0)
		return err_set_errno(err, r, "Failed to read the output of \"%s\"", program);

	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (ret_stdout) {
		*ret_stdout = out.buf ? steal_pointer(&out.buf) : strdup("");
		if (!*ret_stdout)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	if (ret_stderr) {
		*ret_stderr = errc.buf ? steal_pointer(&errc.buf) : strdup("");
		if (!*ret_stderr)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	return 0;
}

int storage_spawn(char *const argv[], int *ret_status, char **ret_stdout, char **ret_stderr,
		  struct err **err)
{
	return spawn_ticking(argv, NULL, ret_status, ret_stdout, ret_stderr, err);
}

static int run_ticking(char *const argv[], const struct spawn_tick *tick, struct err **err)
{
	_cleanup_free_ char *errout = NULL;
	size_t len;
	int status = 0, r;

	r = spawn_ticking(argv, tick, &status, NULL, &errout, err);
	if (r < 0)
		return r;
	if (status == 0)
		return 0;
	len = strlen(errout);
	while (len > 0 && (errout[len - 1] == '\n' || errout[len - 1] == ' '))
		errout[--len] = '\0';
	return err_set(err, -EIO, "\"%s\" failed with status %d%s%s", argv[0], status,
		       len ? ": " : "", errout);
}

int storage_run(char *const argv[], struct err **err)
{
	return run_ticking(argv, NULL, err);
}

struct copy_progress {
	const char *dst;      /* the copy being made */
	struct timespec next; /* the next walk is not before this */
	uint64_t last;	      /* bytes at the last walk */
};

static double timespec_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(a->tv_sec - b->tv_sec) + (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

/*
 * Reports the bytes the copy holds so far: the blocks of its tree, which btrfs counts before
 * they reach the disk too (statfs would not show them until a commit). The walk is timed, and
 * the next one waits four times as long, so that a tree of many files is not walked back to
 * back while cp works on it. `force` walks now (the final report).
 */
static void copy_report(struct copy_progress *p, bool force)
{
	struct timespec before, after;
	uint64_t bytes = 0;
	double took;

	clock_gettime(CLOCK_MONOTONIC, &before);
	if (!force && timespec_diff(&before, &p->next) < 0)
		return;
	if (storage_tree_usage(p->dst, &bytes, NULL) >= 0)
		p->last = bytes;
	clock_gettime(CLOCK_MONOTONIC, &after);
	took = timespec_diff(&after, &before);
	p->next = after;
	p->next.tv_sec += (time_t)(took * 4);
	p->next.tv_nsec += (long)((took * 4 - (double)(time_t)(took * 4)) * 1e9);
	if (p->next.tv_nsec >= 1000000000L) {
		p->next.tv_sec++;
		p->next.tv_nsec -= 1000000000L;
	}
	progress_report("copy", p->last, 0);
}

static void copy_tick(void *ctx)
{
	copy_report(ctx, false);
}

int storage_copy_tree(const char *src, const char *dst, struct err **err)
{
	/* -T: dst is the copy itself, never a directory to copy into. */
	char *argv[] = {"cp", "-a", "--reflink=auto", "-T", "--", (char *)src, (char *)dst, NULL};
	struct copy_progress progress = {.dst = dst};
	struct spawn_tick tick = {copy_tick, &progress};
	/* Only an operation listens: a copy made elsewhere (at start-up) walks nothing. */
	bool report = progress_bound();
	int r;

	r = run_ticking(argv, report ? &tick : NULL, err);
	if (r >= 0) {
		/* The whole copy, however short it was; the tests can hold it there. */
		if (report)
			copy_report(&progress, true);
		if (stallpoint("storage-copy-done") < 0)
			r = err_set(err, -ECANCELED, "Cancelled");
	}
	if (r < 0) {
		_cleanup_err_ struct err *ignored = NULL;

		if (rm_rf(dst, &ignored) < 0)
			log_debug("Failed to remove the partial copy \"%s\", ignoring: %s", dst,
				  err_msg(ignored, -EIO));
		return err_wrap(err, r, "Failed to copy \"%s\" to \"%s\"", src, dst);
	}
	return 0;
}

/* nftw() has no user pointer: the walk runs under a lock so these may be static. */
static pthread_mutex_t usage_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t usage_bytes;
static struct inode_seen {
	dev_t dev;
	ino_t ino;
} * usage_seen;
static size_t usage_seen_len, usage_seen_cap;

static int usage_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)flag;
	(void)ftw;
	if (st->st_nlink > 1 && !S_ISDIR(st->st_mode)) {
		for (size_t i = 0; i < usage_seen_len; i++)
			if (usage_seen[i].dev == st->st_dev && usage_seen[i].ino == st->st_ino)
				return 0;
		if (usage_seen_len == usage_seen_cap) {
			size_t cap = usage_seen_cap ? usage_seen_cap * 2 : 64;
			struct inode_seen *n = realloc(usage_seen, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			usage_seen = n;
			usage_seen_cap = cap;
		}
		usage_seen[usage_seen_len++] = (struct inode_seen){st->st_dev, st->st_ino};
	}
	usage_bytes += (uint64_t)st->st_blocks * 512;
	return 0;
}

int storage_tree_usage(const char *path, uint64_t *ret_bytes, struct err **err)
{
	uint64_t bytes;
	int r;

	pthread_mutex_lock(&usage_lock);
	usage_bytes = 0;
	usage_seen_len = 0;
	r = nftw(path, usage_one, 64, FTW_PHYS | FTW_MOUNT);
	bytes = usage_bytes;
	free(usage_seen);
	usage_seen = NULL;
	usage_seen_len = usage_seen_cap = 0;
	pthread_mutex_unlock(&usage_lock);
	if (r != 0)
		return err_set_errno(err, r == -1 ? -errno : (r < 0 ? r : -EIO),
				     "Failed to measure \"%s\"", path);
	*ret_bytes = bytes;
	return 0;
}

void storage_random_suffix(char out[static 9])
{
	uint8_t bytes[4] = {0};
	static const char hex[] = "0123456789abcdef";

	/* getrandom() without flags only blocks before the pool is seeded at boot. */
	if (getrandom(bytes, sizeof(bytes), 0) != sizeof(bytes)) {
		uint32_t fallback = (uint32_t)getpid() ^ (uint32_t)time_now();

		memcpy(bytes, &fallback, sizeof(bytes));
	}
	for (size_t i = 0; i < 4; i++) {
		out[2 * i] = hex[bytes[i] >> 4];
		out[2 * i + 1] = hex[bytes[i] & 0xf];
	}
	out[8] = '\0';
}
