/* Loop devices and mounts: what the btrfs and dir drivers need to put a pool at its mount path. */

#include "storage/storage-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/loop.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

/* Another process may grab the device LOOP_CTL_GET_FREE handed us before we configure it. */
#define LOOP_ATTACH_ATTEMPTS 16

static int loop_configure(int loop_fd, int file_fd, const char *file)
{
	struct loop_config config = {
	    .fd = (uint32_t)file_fd,
	    .info.lo_flags = LO_FLAGS_AUTOCLEAR,
	};

	strncpy((char *)config.info.lo_file_name, file, LO_NAME_SIZE - 1);
	if (ioctl(loop_fd, LOOP_CONFIGURE, &config) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOTTY)
		return -errno;

	/* Kernels before 5.8 have no LOOP_CONFIGURE: attach, then set the flags. Between the two
	 * calls the device exists without autoclear; a failure detaches it again. */
	if (ioctl(loop_fd, LOOP_SET_FD, file_fd) < 0)
		return -errno;
	if (ioctl(loop_fd, LOOP_SET_STATUS64, &config.info) < 0) {
		int r = -errno;

		ioctl(loop_fd, LOOP_CLR_FD, 0);
		return r;
	}
	return 0;
}

int storage_loop_attach(const char *file, char **ret_dev, int *ret_fd, struct err **err)
{
	_cleanup_close_ int file_fd = -EBADF, control_fd = -EBADF;
	int r = -EBUSY;

	file_fd = open(file, O_RDWR | O_CLOEXEC);
	if (file_fd < 0)
		return err_set_errno(err, -errno, "Failed to open loop file \"%s\"", file);
	control_fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (control_fd < 0)
		return err_set_errno(err, -errno, "Failed to open /dev/loop-control");

	for (int attempt = 0; attempt < LOOP_ATTACH_ATTEMPTS; attempt++) {
		_cleanup_free_ char *dev = NULL;
		_cleanup_close_ int loop_fd = -EBADF;
		int n = ioctl(control_fd, LOOP_CTL_GET_FREE);

		if (n < 0)
			return err_set_errno(err, -errno, "Failed to find a free loop device");
		dev = str_printf("/dev/loop%d", n);
		if (!dev)
			return err_set(err, -ENOMEM, "Out of memory");
		loop_fd = open(dev, O_RDWR | O_CLOEXEC);
		if (loop_fd < 0)
			return err_set_errno(err, -errno, "Failed to open \"%s\"", dev);
		r = loop_configure(loop_fd, file_fd, file);
		if (r == -EBUSY)
			continue;
		if (r < 0)
			return err_set_errno(err, r, "Failed to attach \"%s\" to \"%s\"", file,
					     dev);
		log_debug("Attached \"%s\" to \"%s\"", file, dev);
		*ret_dev = steal_pointer(&dev);
		*ret_fd = steal_fd(&loop_fd);
		return 0;
	}
	return err_set_errno(err, r, "Failed to attach \"%s\" to a loop device", file);
}

int storage_loop_backing_file(const char *dev, char **ret_file)
{
	_cleanup_free_ char *sys = NULL, *data = NULL;
	const char *base;
	size_t len = 0;
	int r;

	if (!str_startswith(dev, "/dev/loop"))
		return -ENOENT;
	base = dev + strlen("/dev/");
	sys = str_printf("/sys/block/%s/loop/backing_file", base);
	if (!sys)
		return -ENOMEM;
	r = file_read_all(sys, &data, &len, NULL);
	if (r < 0)
		return r;
	while (len > 0 && data[len - 1] == '\n')
		data[--len] = '\0';
	*ret_file = steal_pointer(&data);
	return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo; undo it in place. */
static void unescape_octal(char *s)
{
	char *out = s;

	for (char *p = s; *p;) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*out++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 4;
		} else {
			*out++ = *p++;
		}
	}
	*out = '\0';
}

int storage_mount_find(const char *mount_path, char **ret_source, char **ret_fstype,
		       struct err **err)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL, *source = NULL, *fstype = NULL;
	char real[PATH_MAX];
	size_t cap = 0;
	bool found = false;

	if (!realpath(mount_path, real)) {
		if (errno == ENOENT)
			return 0;
		return err_set_errno(err, -errno, "Failed to resolve \"%s\"", mount_path);
	}
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return err_set_errno(err, -errno, "Failed to open /proc/self/mountinfo");

	/* Fields: id parent major:minor root mount-point options [optional...] - fstype source
	 * super-options. Later lines are mounted on top of earlier ones, so the last match wins. */
	while (getline(&line, &cap, f) > 0) {
		char *fields[5] = {0}, *save = NULL, *rest, *sep, *tok;

		tok = strtok_r(line, " \n", &save);
		for (size_t n = 0; n < 5 && tok; n++) {
			fields[n] = tok;
			tok = n < 4 ? strtok_r(NULL, " \n", &save) : NULL;
		}
		if (!fields[4])
			continue;
		unescape_octal(fields[4]);
		if (strcmp(fields[4], real) != 0)
			continue;
		rest = save;
		sep = rest ? strstr(rest, " - ") : NULL;
		if (!sep)
			continue;
		tok = strtok_r(sep + 3, " \n", &save);
		if (!tok)
			continue;
		free(fstype);
		fstype = strdup(tok);
		tok = strtok_r(NULL, " \n", &save);
		free(source);
		source = strdup(tok ? tok : "");
		if (!fstype || !source)
			return err_set(err, -ENOMEM, "Out of memory");
		unescape_octal(source);
		found = true;
	}
	if (!found)
		return 0;
	if (ret_source)
		*ret_source = steal_pointer(&source);
	if (ret_fstype)
		*ret_fstype = steal_pointer(&fstype);
	return 1;
}

int storage_umount(const char *path, struct err **err)
{
	for (int attempt = 0;; attempt++) {
		const struct timespec pause = {.tv_nsec = 100 * 1000 * 1000};

		if (umount2(path, UMOUNT_NOFOLLOW) == 0)
			return 0;
		if (errno == EINVAL || errno == ENOENT)
			return 0; /* not a mount point (any more) */
		if (errno != EBUSY || attempt >= 50)
			return err_set_errno(err, -errno, "Failed to unmount \"%s\"", path);
		nanosleep(&pause, NULL);
	}
}

void storage_umount_ignoring(const char *path)
{
	_cleanup_err_ struct err *e = NULL;
	int r = storage_umount(path, &e);

	if (r < 0)
		err_log_ignored(e, r, "Failed to undo the mount at \"%s\"", path);
}

int storage_bind_mount(const char *source, const char *target, struct err **err)
{
	if (mount(source, target, NULL, MS_BIND, NULL) < 0)
		return err_set_errno(err, -errno, "Failed to bind-mount \"%s\" at \"%s\"", source,
				     target);
	return 0;
}

bool storage_same_inode(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return false;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
