#include "cmd/cairn/pull.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

/* ".cairn-pull-" and a random UUID: never a name the container chose. */
#define TEMP_PREFIX ".cairn-pull-"
#define TEMP_NAME_SIZE (sizeof(TEMP_PREFIX) + 36)

/* Names to try before giving up on finding a free temporary name. */
#define TEMP_ATTEMPTS 16

static void temp_name(char out[static TEMP_NAME_SIZE])
{
	char uuid[37];

	uuid_random(uuid);
	snprintf(out, TEMP_NAME_SIZE, "%s%s", TEMP_PREFIX, uuid);
}

mode_t cli_pull_mode(unsigned long mode, bool keep_mode)
{
	return (mode_t)(mode & (keep_mode ? 07777UL : 0777UL));
}

int cli_pull_target(const char *target, size_t n_src, int *ret_dfd, char **ret_name,
		    bool *ret_into_dir, struct err **err)
{
	_cleanup_free_ char *dir = NULL, *name = NULL;
	_cleanup_close_ int dfd = -EBADF;
	size_t len = strlen(target);
	bool slash = len > 0 && target[len - 1] == '/';
	const char *last;
	struct stat st;

	if (len == 0)
		return err_set(err, -EINVAL, "Invalid target \"\"");
	if (lstat(target, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			/* lstat() of "link/" has followed the link: only a trailing "/" asks for
			 * what a link points to, so a bare name opens with O_NOFOLLOW. */
			dfd = open(target,
				   O_RDONLY | O_DIRECTORY | O_CLOEXEC | (slash ? 0 : O_NOFOLLOW));
			if (dfd < 0)
				return err_set_errno(err, -errno, "Failed to open \"%s\"", target);
			*ret_dfd = steal_fd(&dfd);
			*ret_name = NULL;
			*ret_into_dir = true;
			return 0;
		}
		if (S_ISLNK(st.st_mode) && stat(target, &st) == 0 && S_ISDIR(st.st_mode))
			return err_set(err, -ELOOP,
				       "Target \"%s\" is a symbolic link to a directory (add a "
				       "trailing \"/\" to pull into that directory)",
				       target);
	} else if (errno != ENOENT && errno != ENOTDIR) {
		return err_set_errno(err, -errno, "Failed to read \"%s\"", target);
	}
	if (n_src > 1 || slash)
		return err_set(err, -ENOTDIR, "Target \"%s\" must be a directory", target);

	last = strrchr(target, '/');
	if (!last)
		dir = strdup(".");
	else if (last == target)
		dir = strdup("/");
	else
		dir = strndup(target, (size_t)(last - target));
	name = strdup(last ? last + 1 : target);
	if (!dir || !name)
		return err_set(err, -ENOMEM, "Out of memory");
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return err_set(err, -EINVAL, "Invalid target \"%s\"", target);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", dir);
	*ret_dfd = steal_fd(&dfd);
	*ret_name = steal_pointer(&name);
	*ret_into_dir = false;
	return 0;
}

/* Creates a new file under a temporary name in `dfd`, open for writing, mode 0600. */
static int create_temp_file(int dfd, char tmp[static TEMP_NAME_SIZE], int *ret_fd,
			    const char *display, struct err **err)
{
	for (int i = 0; i < TEMP_ATTEMPTS; i++) {
		int fd;

		temp_name(tmp);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			*ret_fd = fd;
			return 0;
		}
		if (errno != EEXIST)
			return err_set_errno(err, -errno, "Failed to create \"%s\"", display);
	}
	return err_set(err, -EEXIST, "Failed to create \"%s\": no free temporary name", display);
}

int cli_pull_copy(int fd, cli_pull_read_t read_fn, void *userdata, const char *display,
		  struct err **err)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read_fn(userdata, buf, sizeof(buf));

		if (n < 0)
			return err_set_errno(err, (int)n, "Failed to receive \"%s\"", display);
		if (n == 0)
			return 0;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return err_set_errno(err, -errno, "Failed to write \"%s\"",
						     display);
			off += w;
		}
	}
}

int cli_pull_write_file(int dfd, const char *name, mode_t mode, cli_pull_read_t read_fn,
			void *userdata, const char *display, struct err **err)
{
	_cleanup_close_ int fd = -EBADF;
	char tmp[TEMP_NAME_SIZE];
	int r;

	r = create_temp_file(dfd, tmp, &fd, display, err);
	if (r < 0)
		return r;
	r = cli_pull_copy(fd, read_fn, userdata, display, err);
	/* fchmod() sets the bits whatever the umask; the file was 0600 until now. */
	if (r >= 0 && fchmod(fd, mode) < 0)
		r = err_set_errno(err, -errno, "Failed to set the mode of \"%s\"", display);
	if (r >= 0 && close(steal_fd(&fd)) < 0)
		r = err_set_errno(err, -errno, "Failed to write \"%s\"", display);
	/* rename() replaces a link at `name` itself: nothing behind it is touched. */
	if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = err_set_errno(err, -errno, "Failed to create \"%s\"", display);
	if (r < 0)
		(void)unlinkat(dfd, tmp, 0);
	return r;
}

int cli_pull_write_link(int dfd, const char *name, const char *target, const char *display,
			struct err **err)
{
	char tmp[TEMP_NAME_SIZE];
	int r;

	for (int i = 0;; i++) {
		temp_name(tmp);
		if (symlinkat(target, dfd, tmp) == 0)
			break;
		if (errno != EEXIST || i + 1 == TEMP_ATTEMPTS)
			return err_set_errno(err, -errno, "Failed to create the link \"%s\"",
					     display);
	}
	if (renameat(dfd, tmp, dfd, name) < 0) {
		r = -errno;
		(void)unlinkat(dfd, tmp, 0);
		return err_set_errno(err, r, "Failed to create the link \"%s\"", display);
	}
	return 0;
}

int cli_pull_open_dir(int dfd, const char *name, const char *display, int *ret_fd,
		      bool *ret_created, struct err **err)
{
	_cleanup_close_ int fd = -EBADF;
	bool created = false;
	struct stat st;

	if (mkdirat(dfd, name, 0700) == 0) {
		created = true;
	} else if (errno != EEXIST) {
		return err_set_errno(err, -errno, "Failed to create \"%s\"", display);
	} else if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		return err_set_errno(err, -errno, "Failed to read \"%s\"", display);
	} else if (S_ISLNK(st.st_mode)) {
		/* A link here (an earlier pull of a link, say) is data the tree replaces, never a
		 * way into somewhere else. A directory cannot be renamed over a link, so the link
		 * goes first. */
		if (unlinkat(dfd, name, 0) < 0 || mkdirat(dfd, name, 0700) < 0)
			return err_set_errno(err, -errno, "Failed to replace the link \"%s\"",
					     display);
		created = true;
	} else if (!S_ISDIR(st.st_mode)) {
		return err_set(err, -ENOTDIR, "\"%s\" exists and is not a directory", display);
	}
	/* O_NOFOLLOW: should a link appear here after all, opening fails instead of following. */
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", display);
	*ret_fd = steal_fd(&fd);
	*ret_created = created;
	return 0;
}
