#include "instance/disks.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db.h"
#include "config/devices.h"
#include "config/keys.h"
#include "instance/files.h"
#include "instance/instance.h"
#include "storage/storage.h"

/*
 * The file system type of the mount that holds `st` (its device), from /proc/self/mountinfo:
 * for the message that says which file system cannot do idmapped mounts. "unknown" when not
 * found. Caller frees.
 */
static char *fs_type_of(const struct stat *st)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	char want[32];

	snprintf(want, sizeof(want), "%u:%u", major(st->st_dev), minor(st->st_dev));
	while (f && getline(&line, &cap, f) > 0) {
		char *save = NULL, *field = strtok_r(line, " ", &save), *sep;
		int i;

		/* mount id, parent id, major:minor */
		for (i = 0; field && i < 2; i++)
			field = strtok_r(NULL, " ", &save);
		if (!field || strcmp(field, want) != 0)
			continue;
		sep = strstr(save, " - ");
		if (!sep)
			continue;
		sep += 3;
		sep[strcspn(sep, " ")] = '\0';
		return strdup(sep);
	}
	return strdup("unknown");
}

/*
 * A user namespace to try an idmapped mount with: a child made with clone(CLONE_NEWUSER) that
 * waits on a pipe until the caller is done. The daemon is multithreaded, so the child runs
 * nothing but raw system calls (no allocation, no locks) between the clone and its exit.
 * Returns an O_RDONLY descriptor of its namespace; *ret_pid and *ret_pipe go into a struct
 * probe_ns, whose probe_ns_done() lets the child go.
 */
static int userns_acquire(const struct idmap *map, pid_t *ret_pid, int *ret_pipe, struct err **err)
{
	_cleanup_close_ int wfd = -EBADF, nsfd = -EBADF;
	char path[64], line[64], c;
	int p[2];
	long pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set_errno(err, -errno, "Failed to make a pipe");
	pid = syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), NULL, NULL, NULL, NULL);
	if (pid == 0) {
		syscall(SYS_close, p[1]);
		syscall(SYS_read, p[0], &c, 1);
		syscall(SYS_exit_group, 0);
	}
	close(p[0]);
	wfd = p[1];
	if (pid < 0)
		return err_set_errno(err, -errno, "Failed to make a user namespace");
	/* The kernel refuses to idmap a mount with a namespace that maps nothing: the
	 * container's own map. */
	snprintf(line, sizeof(line), "0 %" PRIu32 " %" PRIu32 "\n", map->uid_base, map->size);
	snprintf(path, sizeof(path), "/proc/%ld/uid_map", pid);
	if (file_write(path, line, strlen(line), 0, NULL) >= 0) {
		snprintf(line, sizeof(line), "0 %" PRIu32 " %" PRIu32 "\n", map->gid_base,
			 map->size);
		snprintf(path, sizeof(path), "/proc/%ld/gid_map", pid);
		if (file_write(path, line, strlen(line), 0, NULL) >= 0) {
			snprintf(path, sizeof(path), "/proc/%ld/ns/user", pid);
			nsfd = open(path, O_RDONLY | O_CLOEXEC);
		}
	}
	if (nsfd < 0) {
		int r = errno ? -errno : -EIO;

		close(steal_fd(&wfd));
		while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
			;
		return err_set_errno(err, r, "Failed to open \"%s\"", path);
	}
	*ret_pid = (pid_t)pid;
	*ret_pipe = steal_fd(&wfd);
	return steal_fd(&nsfd);
}

/* The throwaway user namespace of the probes, while it is held. */
struct probe_ns {
	int fd;	  /* of /proc/PID/ns/user, -EBADF when not made yet */
	int pipe; /* write end the child waits on */
	pid_t pid;
};

/* Lets the child go and reaps it; may be called twice. */
static void probe_ns_done(struct probe_ns *ns)
{
	if (ns->fd >= 0)
		close(ns->fd);
	ns->fd = -EBADF;
	if (ns->pipe >= 0)
		close(ns->pipe);
	ns->pipe = -EBADF;
	if (ns->pid > 0)
		while (waitpid(ns->pid, NULL, 0) < 0 && errno == EINTR)
			;
	ns->pid = 0;
}

/*
 * Whether the file system of `source` takes an idmapped mount: a detached copy of its mount is
 * given the idmap of a throwaway user namespace, exactly what liblxc does for idmap=container, and
 * then dropped. The kernel refuses file systems without FS_ALLOW_IDMAP with EINVAL. 0 when it
 * works, -EOPNOTSUPP when the file system cannot, another errno when the probe itself failed.
 */
static int probe_idmap(const char *source, int userns)
{
	struct mount_attr attr = {
	    .attr_set = MOUNT_ATTR_IDMAP,
	    .userns_fd = (uint64_t)userns,
	};
	_cleanup_close_ int tree = -EBADF;

	tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		return -errno;
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
		return errno == EINVAL ? -EOPNOTSUPP : -errno;
	return 0;
}

static int openat2_beneath(int root, const char *rel, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .resolve =
		RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV,
	};
	long fd;

	do
		fd = syscall(SYS_openat2, root, rel, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return fd < 0 ? -errno : (int)fd;
}

/*
 * Makes `target` (normalized, absolute, not "/") inside the rootfs `root`: every missing
 * directory on the way, then the last component as a directory or (`file`) an empty regular
 * file, new ones owned by the container's root. What exists must be of the right kind. Every
 * lookup starts from the rootfs and refuses symbolic links, so a link the container planted
 * ("/mnt -> /etc", "-> /proc/1/root") stops it with -ELOOP before anything is made.
 */
static int make_target(const struct instance_fsroot *root, const char *instance, const char *device,
		       const char *target, bool file, struct err **err)
{
	char prefix[PATH_MAX];
	const char *p = target;

	while (*p) {
		_cleanup_close_ int parent = -EBADF, fd = -EBADF;
		const char *start, *end;
		bool last;
		size_t len;
		struct stat st;

		while (*p == '/')
			p++;
		start = p;
		end = strchrnul(start, '/');
		len = (size_t)(end - start);
		p = end;
		last = *p == '\0';
		/* prefix: the path up to and including this component, relative to the root */
		if ((size_t)(end - target) >= sizeof(prefix))
			return err_set(err, -ENAMETOOLONG,
				       "Path \"%s\" of device \"%s\" is too long", target, device);
		memcpy(prefix, target + 1, (size_t)(end - target) - 1);
		prefix[end - target - 1] = '\0';

		fd = openat2_beneath(root->fd, prefix, O_PATH | O_NOFOLLOW);
		if (fd == -ELOOP || fd == -EXDEV)
			return err_set(err, -ELOOP,
				       "Cannot mount device \"%s\" of instance \"%s\" on \"%s\": "
				       "\"/%s\" in the instance is %s",
				       device, instance, target, prefix,
				       fd == -ELOOP ? "a symbolic link, which a disk's path may "
						      "not cross"
						    : "a mount point");
		if (fd >= 0) {
			if (fstat(fd, &st) < 0)
				return err_set_errno(err, -errno, "Failed to look at \"/%s\"",
						     prefix);
			if (S_ISLNK(st.st_mode))
				return err_set(
				    err, -ELOOP,
				    "Cannot mount device \"%s\" of instance \"%s\" on "
				    "\"%s\": \"/%s\" in the instance is a symbolic link, "
				    "which a disk's path may not cross",
				    device, instance, target, prefix);
			if (last && file ? !S_ISREG(st.st_mode) : !S_ISDIR(st.st_mode))
				return err_set(err, -ENOTDIR,
					       "Cannot mount device \"%s\" of instance \"%s\" on "
					       "\"%s\": \"/%s\" in the instance is not a %s",
					       device, instance, target, prefix,
					       last && file ? "regular file" : "directory");
			continue;
		}
		if (fd != -ENOENT)
			return err_set_errno(err, fd,
					     "Failed to look up \"/%s\" in instance \"%s\"", prefix,
					     instance);

		/* Missing: made in its parent, which was just checked to be a directory. */
		{
			char *slash = strrchr(prefix, '/');
			char name[NAME_MAX + 1];

			if (len > NAME_MAX)
				return err_set(err, -ENAMETOOLONG,
					       "Path \"%s\" of device \"%s\" is too long", target,
					       device);
			memcpy(name, start, len);
			name[len] = '\0';
			if (slash) {
				*slash = '\0';
				parent = openat2_beneath(root->fd, prefix, O_PATH | O_DIRECTORY);
				*slash = '/';
			} else {
				parent = openat2_beneath(root->fd, ".", O_PATH | O_DIRECTORY);
			}
			if (parent < 0)
				return err_set_errno(err, parent,
						     "Failed to open the parent of \"/%s\" in "
						     "instance \"%s\"",
						     prefix, instance);
			if (last && file) {
				fd = openat(parent, name,
					    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
					    0644);
				if (fd < 0)
					return err_set_errno(err, -errno,
							     "Failed to make \"/%s\" in instance "
							     "\"%s\"",
							     prefix, instance);
				if (fchown(fd, root->uid_base, root->gid_base) < 0)
					return err_set_errno(err, -errno,
							     "Failed to own \"/%s\" in instance "
							     "\"%s\"",
							     prefix, instance);
			} else {
				if (mkdirat(parent, name, 0755) < 0)
					return err_set_errno(err, -errno,
							     "Failed to make \"/%s\" in instance "
							     "\"%s\"",
							     prefix, instance);
				if (fchownat(parent, name, root->uid_base, root->gid_base,
					     AT_SYMLINK_NOFOLLOW) < 0)
					return err_set_errno(err, -errno,
							     "Failed to own \"/%s\" in instance "
							     "\"%s\"",
							     prefix, instance);
			}
		}
	}
	return 0;
}

/* Whether `path` is `dir` or below it (both normalized). */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int instance_disks_prepare(const struct instance_env *env, const struct db_instance *row,
			   bool **ret_is_file, struct err **err)
{
	const struct devices *d = &row->expanded_devices;
	bool privileged = config_get_bool(&row->expanded_config, "security.privileged", false);
	_cleanup_(instance_fsroot_done) struct instance_fsroot root = {.fd = -EBADF};
	_cleanup_free_ bool *is_file = NULL;
	_cleanup_(probe_ns_done) struct probe_ns ns = {.fd = -EBADF, .pipe = -EBADF};
	bool any = false;
	int r = 0;

	for (size_t i = 0; i < d->n; i++)
		any = any || device_is_host_disk(&d->items[i].keys);
	if (!any) {
		*ret_is_file = NULL;
		return 0;
	}
	is_file = calloc(d->n, sizeof(*is_file));
	if (!is_file)
		return err_set(err, -ENOMEM, "Out of memory");

	/* The sources, and the targets against each other, before anything is made. */
	for (size_t i = 0; i < d->n && r >= 0; i++) {
		const struct kvlist *keys = &d->items[i].keys;
		const char *name = d->items[i].name, *source = kvlist_get(keys, "source");
		char target[PATH_MAX];
		struct stat st;

		if (!device_is_host_disk(keys))
			continue;
		if (device_path_normalize(kvlist_get(keys, "path"), target, sizeof(target)) < 0)
			return err_set(err, -EINVAL, "Invalid path of device \"%s\"", name);
		if (stat(source, &st) < 0)
			return err_set_errno(err, errno == ENOENT ? -ENOENT : -errno,
					     "Cannot mount device \"%s\" of instance \"%s\": "
					     "source \"%s\"",
					     name, row->name, source);
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
			return err_set(err, -EINVAL,
				       "Cannot mount device \"%s\" of instance \"%s\": source "
				       "\"%s\" is neither a directory nor a file",
				       name, row->name, source);
		is_file[i] = S_ISREG(st.st_mode);
		if (path_within(target, "/proc") || path_within(target, "/sys"))
			return err_set(
			    err, -EINVAL,
			    "Cannot mount device \"%s\" of instance \"%s\" on \"%s\": the "
			    "kernel's file systems are mounted on /proc and /sys",
			    name, row->name, target);
		for (size_t j = 0; j < d->n; j++) {
			char other[PATH_MAX];

			if (j == i || !device_is_host_disk(&d->items[j].keys) ||
			    device_path_normalize(kvlist_get(&d->items[j].keys, "path"), other,
						  sizeof(other)) < 0)
				continue;
			if (strcmp(target, other) != 0 && path_within(target, other))
				return err_set(
				    err, -EINVAL,
				    "Cannot mount device \"%s\" of instance \"%s\" on "
				    "\"%s\": it is inside device \"%s\" (\"%s\"), a host "
				    "path",
				    name, row->name, target, d->items[j].name, other);
		}
		if (privileged)
			continue;
		if (ns.fd < 0) {
			r = userns_acquire(&env->idmap, &ns.pid, &ns.pipe, err);
			if (r < 0)
				return err_wrap(err, r, "Cannot check device \"%s\"", name);
			ns.fd = r;
		}
		r = probe_idmap(source, ns.fd);
		if (r == -EOPNOTSUPP) {
			_cleanup_free_ char *fs = fs_type_of(&st);

			r = err_set(
			    err, -EOPNOTSUPP,
			    "Cannot mount device \"%s\" of instance \"%s\": the file system "
			    "of \"%s\" (%s) does not support idmapped mounts, which an "
			    "unprivileged container needs to keep the files' owners",
			    name, row->name, source, fs ? fs : "unknown");
		} else if (r < 0) {
			r = err_set_errno(
			    err, r,
			    "Cannot mount device \"%s\" of instance \"%s\": failed to "
			    "try an idmapped mount of \"%s\"",
			    name, row->name, source);
		}
	}
	probe_ns_done(&ns);
	if (r < 0)
		return r;

	r = instance_fsroot_open_instance(env, row->name, &root, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < d->n; i++) {
		const struct kvlist *keys = &d->items[i].keys;
		char target[PATH_MAX];

		if (!device_is_host_disk(keys))
			continue;
		if (device_path_normalize(kvlist_get(keys, "path"), target, sizeof(target)) < 0)
			return err_set(err, -EINVAL, "Invalid path of device \"%s\"",
				       d->items[i].name);
		r = make_target(&root, row->name, d->items[i].name, target, is_file[i], err);
		if (r < 0)
			return r;
	}
	*ret_is_file = steal_pointer(&is_file);
	return 0;
}

int instance_apply_root_size(const struct instance_env *env, const struct db_instance *row,
			     struct err **err)
{
	const char *name = NULL, *size;
	const struct kvlist *root = devices_root_disk(&row->expanded_devices, &name);
	struct storage_pool *pool = instance_env_pool(env, row->pool);
	uint64_t bytes = 0;
	int r;

	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row->pool);
	size = root ? kvlist_get(root, "size") : NULL;
	if (size && *size) {
		r = parse_size(size, &bytes, err);
		if (r < 0)
			return err_wrap(err, r, "Invalid size of device \"%s\" of instance \"%s\"",
					name, row->name);
	}
	/* Nothing to lift where the driver never set a limit. */
	if (bytes == 0 && !pool->ops->volume_set_quota)
		return 0;
	r = storage_volume_set_quota(pool, row->name, bytes, err);
	if (r == -EOPNOTSUPP)
		return err_set(
		    err, r,
		    "Invalid device \"%s\" of instance \"%s\": the \"%s\" driver of pool "
		    "\"%s\" cannot enforce a root disk size",
		    name, row->name, pool->driver, pool->name);
	return r;
}
