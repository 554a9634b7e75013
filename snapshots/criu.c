/* Whether this host can take stateful snapshots: CRIU, found and recent enough. */
#include "snapshots/snapshots.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

/* The first CRIU that runs on kernels from 6.13 on: older ones die with "Failed to fill self
 * vdso symtable" there. */
#define CRIU_MIN_MAJOR 4
#define CRIU_MIN_MINOR 1

extern char **environ;

int snapshot_criu_parse_version(const char *text, int *ret_major, int *ret_minor)
{
	const char *line = text ? strstr(text, "Version: ") : NULL;
	int major = 0, minor = 0;

	if (!line || sscanf(line, "Version: %d.%d", &major, &minor) != 2)
		return -EINVAL;
	*ret_major = major;
	*ret_minor = minor;
	return 0;
}

/* Runs `criu --version` and returns its output (caller frees); -ENOENT when not installed. */
static int criu_version_output(char **ret)
{
	static const char *const paths[] = {"/usr/sbin/criu", "/sbin/criu", "/usr/local/sbin/criu",
					    "/usr/bin/criu", "/usr/local/bin/criu"};
	const char *exe = NULL;
	posix_spawn_file_actions_t fa;
	_cleanup_close_ int rd = -EBADF, wr = -EBADF;
	_cleanup_free_ char *buf = NULL;
	char *argv[] = {(char *)"criu", (char *)"--version", NULL};
	size_t len = 0;
	int fds[2], status = 0, r;
	pid_t pid;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]) && !exe; i++)
		if (access(paths[i], X_OK) == 0)
			exe = paths[i];
	if (!exe)
		return -ENOENT;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	rd = fds[0];
	wr = fds[1];
	buf = calloc(1, 4096);
	if (!buf || posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	posix_spawn_file_actions_adddup2(&fa, wr, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, wr, STDERR_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	r = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;
	closep(&wr);
	for (;;) {
		ssize_t got = read(rd, buf + len, 4095 - len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
		if (len >= 4095)
			break;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	buf[len] = '\0';
	*ret = steal_pointer(&buf);
	return 0;
}

int snapshot_criu_check(struct err **err)
{
	_cleanup_free_ char *out = NULL;
	struct utsname u = {0};
	int major = 0, minor = 0, r;

	r = criu_version_output(&out);
	if (r == -ENOENT)
		return err_set(err, -EOPNOTSUPP,
			       "Stateful snapshots need CRIU %d.%d or newer; CRIU is not installed",
			       CRIU_MIN_MAJOR, CRIU_MIN_MINOR);
	if (r < 0)
		return err_set_errno(err, r, "Failed to run criu --version");
	if (snapshot_criu_parse_version(out, &major, &minor) < 0)
		return err_set(
		    err, -EOPNOTSUPP,
		    "Stateful snapshots need CRIU %d.%d or newer; criu --version did not "
		    "say which CRIU this is",
		    CRIU_MIN_MAJOR, CRIU_MIN_MINOR);
	if (major < CRIU_MIN_MAJOR || (major == CRIU_MIN_MAJOR && minor < CRIU_MIN_MINOR)) {
		int kmajor = 0, kminor = 0;

		uname(&u);
		sscanf(u.release, "%d.%d", &kmajor, &kminor);
		if (kmajor > 6 || (kmajor == 6 && kminor >= 13))
			return err_set(err, -EOPNOTSUPP,
				       "Stateful snapshots need CRIU %d.%d or newer; found CRIU "
				       "%d.%d, which cannot run on this kernel (%d.%d)",
				       CRIU_MIN_MAJOR, CRIU_MIN_MINOR, major, minor, kmajor,
				       kminor);
		return err_set(err, -EOPNOTSUPP,
			       "Stateful snapshots need CRIU %d.%d or newer; found CRIU %d.%d",
			       CRIU_MIN_MAJOR, CRIU_MIN_MINOR, major, minor);
	}
	return 0;
}
