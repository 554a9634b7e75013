#include "instance/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db.h"
#include "instance/instance.h"
#include "storage/storage.h"

/* What the kernel shows for an id outside a user namespace's map. */
#define OVERFLOW_ID 65534U

static const char *const type_names[] = {
    [INSTANCE_FILE_REGULAR] = "file",
    [INSTANCE_FILE_DIRECTORY] = "directory",
    [INSTANCE_FILE_SYMLINK] = "symlink",
};

const char *instance_file_type_name(enum instance_file_type t)
{
	return t < INSTANCE_FILE_TYPE_MAX ? type_names[t] : NULL;
}

int instance_file_type_from_name(const char *s, enum instance_file_type *ret)
{
	for (int t = 0; t < INSTANCE_FILE_TYPE_MAX; t++) {
		if (s && strcmp(s, type_names[t]) == 0) {
			*ret = (enum instance_file_type)t;
			return 0;
		}
	}
	return -EINVAL;
}

int instance_file_path_check(const char *path, struct err **err)
{
	const char *p;

	if (!path || path[0] != '/')
		return err_set(err, -EINVAL, "Invalid path \"%s\": it must be absolute",
			       path ? path : "");
	if (strlen(path) >= PATH_MAX)
		return err_set(err, -EINVAL, "Invalid path: it is too long");
	for (p = path; *p;) {
		size_t len;

		p += strspn(p, "/");
		len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return err_set(err, -EINVAL, "Invalid path \"%s\": it leaves the instance",
				       path);
		p += len;
	}
	return 0;
}

/*
 * The rootfs is a directory that the container (and, through an image, whoever made the image)
 * controls: it could be a symlink ("rootfs -> /") or have something mounted on it. Its volume is
 * the daemon's own directory, so the volume is opened by path and the rootfs from it without
 * following a link, then checked to be a directory on the volume's own device. openat2() with
 * RESOLVE_IN_ROOT then keeps every lookup below this very directory.
 */
int instance_fsroot_open(const char *rootfs, uint32_t uid_base, uint32_t gid_base, uint32_t size,
			 struct instance_fsroot *ret, struct err **err)
{
	_cleanup_free_ char *volume = strdup(rootfs ? rootfs : "");
	_cleanup_close_ int vfd = -EBADF, fd = -EBADF;
	struct stat vst, st;
	char *end, *slash, *base;

	if (!volume)
		return err_set(err, -ENOMEM, "Out of memory");
	end = volume + strlen(volume);
	while (end > volume + 1 && end[-1] == '/')
		*--end = '\0';
	slash = strrchr(volume, '/');
	if (!slash || !slash[1] || strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0)
		return err_set(err, -EINVAL, "Invalid root file system path \"%s\"", rootfs);
	base = slash + 1;
	*slash = '\0';

	vfd = open(*volume ? volume : "/", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (vfd < 0)
		return err_set_errno(err, -errno, "Failed to open the volume of \"%s\"", rootfs);
	fd = openat(vfd, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == ENOTDIR || errno == ELOOP)) {
		bool link =
		    fstatat(vfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);

		return err_set(err, link ? -ELOOP : -ENOTDIR,
			       "Refusing to open the root file system \"%s\": it is %s", rootfs,
			       link ? "a symbolic link" : "not a directory");
	}
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open the root file system \"%s\"",
				     rootfs);
	if (fstat(vfd, &vst) < 0 || fstat(fd, &st) < 0)
		return err_set_errno(err, -errno, "Failed to open the root file system \"%s\"",
				     rootfs);
	if (!S_ISDIR(st.st_mode))
		return err_set(
		    err, -ENOTDIR,
		    "Refusing to open the root file system \"%s\": it is not a directory", rootfs);
	if (st.st_dev != vst.st_dev)
		return err_set(err, -EXDEV,
			       "Refusing to open the root file system \"%s\": it is not on its "
			       "volume (something is mounted on it)",
			       rootfs);
	*ret = (struct instance_fsroot){
	    .fd = steal_fd(&fd),
	    .uid_base = size ? uid_base : 0,
	    .gid_base = size ? gid_base : 0,
	    .size = size ? size : UINT32_MAX,
	};
	return 0;
}

int instance_fsroot_open_instance(const struct instance_env *env, const char *name,
				  struct instance_fsroot *ret, struct err **err)
{
	_cleanup_(db_instance_done) struct db_instance row = {0};
	_cleanup_free_ char *vol = NULL, *rootfs = NULL;
	struct storage_pool *pool;
	const char *base;
	uint32_t uid_base;
	int r;

	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	pool = instance_env_pool(env, row.pool);
	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row.pool);
	vol = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, row.name);
	rootfs = vol ? str_printf("%s/rootfs", vol) : NULL;
	if (!rootfs)
		return err_set(err, -ENOMEM, "Out of memory");
	/* The rootfs is owned as recorded in volatile.idmap.base (0 when privileged); the gid
	 * base moves with it, as when it was shifted. */
	base = kvlist_get(&row.config, "volatile.idmap.base");
	uid_base = base ? (uint32_t)strtoul(base, NULL, 10) : env->idmap.uid_base;
	if (uid_base == 0)
		return instance_fsroot_open(rootfs, 0, 0, 0, ret, err);
	return instance_fsroot_open(rootfs, uid_base, env->idmap.gid_base, env->idmap.size, ret,
				    err);
}

void instance_fsroot_done(struct instance_fsroot *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -EBADF;
}

void instance_file_done(struct instance_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -EBADF;
	free(f->target);
	f->target = NULL;
	strv_free(f->entries);
	f->entries = NULL;
}

/*
 * Opens `rel` below the root. On a rootfs seen from the host nothing may be mounted inside
 * (RESOLVE_NO_XDEV); in a running container's own mount namespace its mounts (/tmp, /run,
 * /proc) are what the container sees, and are crossed.
 */
static int openat2_in_root(const struct instance_fsroot *root, const char *rel, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .resolve =
		RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | (root->mounts ? 0 : RESOLVE_NO_XDEV),
	};
	long fd;

	do
		fd = syscall(SYS_openat2, root->fd, rel, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return fd < 0 ? -errno : (int)fd;
}

/*
 * Splits `path` (checked) into its parent, opened as an O_PATH directory below the root, and
 * its last component, copied into `base`. "/" has no last component: -EINVAL.
 */
static int open_parent(const struct instance_fsroot *root, const char *path, int *ret_fd,
		       char base[static NAME_MAX + 1], struct err **err)
{
	_cleanup_free_ char *copy = strdup(path);
	char *end, *slash;
	int fd;

	if (!copy)
		return err_set(err, -ENOMEM, "Out of memory");
	/* Trailing slashes do not make another component. */
	end = copy + strlen(copy);
	while (end > copy + 1 && end[-1] == '/')
		*--end = '\0';
	slash = strrchr(copy, '/');
	if (!slash || !slash[1])
		return err_set(err, -EINVAL, "Invalid path \"%s\": it names the root", path);
	if (strlen(slash + 1) > NAME_MAX)
		return err_set(err, -ENAMETOOLONG, "Invalid path \"%s\": a name is too long", path);
	if (strcmp(slash + 1, ".") == 0)
		return err_set(err, -EINVAL, "Invalid path \"%s\"", path);
	strcpy(base, slash + 1);
	*slash = '\0';
	fd = openat2_in_root(root, *copy ? copy + 1 : ".", O_PATH | O_DIRECTORY);
	/* The directory is named: a push of "/srv/site" where there is no /srv says so. */
	if (fd == -ENOENT || fd == -ENOTDIR)
		return err_set(err, -ENOENT,
			       "Path \"%s\" not found in the instance: no directory \"%s\"", path,
			       *copy ? copy : "/");
	if (fd < 0)
		return err_set_errno(err, fd, "Failed to open \"%s\" in the instance", path);
	*ret_fd = fd;
	return 0;
}

static uint32_t unshift(uint32_t host, uint32_t base, uint32_t size)
{
	if (host < base || host - base >= size)
		return OVERFLOW_ID;
	return host - base;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dir(int parent, const char *base, const char *path, char ***ret, struct err **err)
{
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_strv_ char **names = NULL;
	struct dirent *de;
	int fd;

	fd = openat(parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to list \"%s\" in the instance", path);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_set_errno(err, -errno, "Failed to list \"%s\" in the instance", path);
	}
	/* An empty directory still gives a (NULL-terminated) list. */
	names = calloc(1, sizeof(char *));
	if (!names)
		return err_set(err, -ENOMEM, "Out of memory");
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strv_push(&names, de->d_name) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	qsort(names, strv_length(names), sizeof(char *), cmp_str);
	*ret = steal_pointer(&names);
	return 0;
}

int instance_file_get(const struct instance_fsroot *root, const char *path,
		      struct instance_file *ret, struct err **err)
{
	_cleanup_close_ int parent = -EBADF, fd = -EBADF;
	struct instance_file f = {.fd = -EBADF};
	char base[NAME_MAX + 1];
	struct stat st;
	int r;

	r = instance_file_path_check(path, err);
	if (r < 0)
		return r;
	if (strspn(path, "/") == strlen(path)) {
		/* The root itself: only a listing makes sense. */
		parent = openat2_in_root(root, ".", O_PATH | O_DIRECTORY);
		if (parent < 0)
			return err_set_errno(err, parent,
					     "Failed to open the root of the instance");
		strcpy(base, ".");
	} else {
		r = open_parent(root, path, &parent, base, err);
		if (r < 0)
			return r;
	}
	fd = openat(parent, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return err_set(err, -ENOENT, "Path \"%s\" not found in the instance", path);
	if (fd < 0 || fstat(fd, &st) < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\" in the instance", path);
	f.uid = unshift(st.st_uid, root->uid_base, root->size);
	f.gid = unshift(st.st_gid, root->gid_base, root->size);
	f.mode = st.st_mode & 07777;

	if (S_ISLNK(st.st_mode)) {
		char buf[PATH_MAX];
		ssize_t n = readlinkat(fd, "", buf, sizeof(buf) - 1);

		if (n < 0)
			return err_set_errno(err, -errno, "Failed to read the link \"%s\"", path);
		buf[n] = '\0';
		f.type = INSTANCE_FILE_SYMLINK;
		f.target = strdup(buf);
		if (!f.target)
			return err_set(err, -ENOMEM, "Out of memory");
	} else if (S_ISDIR(st.st_mode)) {
		f.type = INSTANCE_FILE_DIRECTORY;
		r = list_dir(parent, base, path, &f.entries, err);
		if (r < 0)
			return r;
	} else if (S_ISREG(st.st_mode)) {
		struct stat again;

		/*
		 * Open the name again and check it is the very inode looked at. Not through
		 * /proc/self/fd: in a container's mount namespace /proc is the container's. A fifo
		 * swapped in meanwhile does not block the open (O_NONBLOCK) and is refused.
		 */
		f.type = INSTANCE_FILE_REGULAR;
		f.size = (uint64_t)st.st_size;
		f.fd =
		    openat(parent, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (f.fd < 0)
			return err_set_errno(err, -errno, "Failed to open \"%s\" in the instance",
					     path);
		if (fstat(f.fd, &again) < 0 || fcntl(f.fd, F_SETFL, 0) < 0) {
			r = -errno;
			close(f.fd);
			return err_set_errno(err, r, "Failed to open \"%s\" in the instance", path);
		}
		if (again.st_dev != st.st_dev || again.st_ino != st.st_ino) {
			close(f.fd);
			return err_set(err, -EAGAIN,
				       "\"%s\" changed while it was opened, try again", path);
		}
	} else {
		return err_set(err, -EINVAL, "\"%s\" is not a file, directory or symbolic link",
			       path);
	}
	*ret = f;
	return 0;
}

static int shift_ids(const struct instance_fsroot *root, const struct instance_file_spec *spec,
		     uid_t *ret_uid, gid_t *ret_gid, struct err **err)
{
	if (spec->uid >= root->size || spec->gid >= root->size || spec->uid == UINT32_MAX ||
	    spec->gid == UINT32_MAX)
		return err_set(err, -EINVAL, "The instance does not map uid %u or gid %u",
			       spec->uid, spec->gid);
	*ret_uid = (uid_t)(root->uid_base + spec->uid);
	*ret_gid = (gid_t)(root->gid_base + spec->gid);
	return 0;
}

/* Copies `src` from its offset to its end into `dst`. */
static int copy_fd(int src, int dst)
{
	char buf[65536];

	for (;;) {
		ssize_t n = copy_file_range(src, NULL, dst, NULL, 1 << 30, 0);

		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		/* EBADF: an O_APPEND target, which copy_file_range() does not take. */
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP &&
		    errno != EBADF)
			return -errno;
		break;
	}
	/* Different file systems on older kernels, or appending: plain copy. */
	for (;;) {
		ssize_t n = read(src, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(dst, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
			off += w;
		}
	}
}

/* A temporary name in the target's directory: ".cairn-<random>". */
static void temp_name(char out[static 32])
{
	char uuid[37];

	uuid_random(uuid);
	snprintf(out, 32, ".cairn-%.12s", uuid + 24);
}

static int put_regular(int parent, const char *base, const char *path, uid_t uid, gid_t gid,
		       const struct instance_file_spec *spec, struct err **err)
{
	_cleanup_close_ int fd = -EBADF;
	char tmp[32];
	int r;

	if (spec->append) {
		fd = openat(parent, base, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT)
			return err_set_errno(err, -errno, "Failed to open \"%s\" in the instance",
					     path);
		if (fd >= 0) {
			r = copy_fd(spec->src_fd, fd);
			if (r < 0)
				return err_set_errno(err, r, "Failed to write \"%s\"", path);
			return 0;
		}
	}
	temp_name(tmp);
	fd = openat(parent, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to create \"%s\" in the instance", path);
	r = copy_fd(spec->src_fd, fd);
	/* chown() clears setuid and setgid: the mode goes on after the owner. */
	if (r >= 0 && fchown(fd, uid, gid) < 0)
		r = -errno;
	if (r >= 0 && fchmod(fd, spec->mode & 07777) < 0)
		r = -errno;
	if (r >= 0 && renameat(parent, tmp, parent, base) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(parent, tmp, 0);
		return err_set_errno(err, r, "Failed to write \"%s\" in the instance", path);
	}
	return 0;
}

static int put_directory(int parent, const char *base, const char *path, uid_t uid, gid_t gid,
			 mode_t mode, struct err **err)
{
	_cleanup_close_ int fd = -EBADF;

	if (mkdirat(parent, base, 0700) < 0) {
		if (errno == EEXIST)
			return 0;
		return err_set_errno(err, -errno, "Failed to create the directory \"%s\"", path);
	}
	fd = openat(parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchown(fd, uid, gid) < 0 || fchmod(fd, mode & 07777) < 0)
		return err_set_errno(err, -errno, "Failed to set the owner of \"%s\"", path);
	return 0;
}

static int put_symlink(int parent, const char *base, const char *path, uid_t uid, gid_t gid,
		       const char *target, struct err **err)
{
	char tmp[32];

	if (!target || !*target)
		return err_set(err, -EINVAL, "The symbolic link \"%s\" needs a target", path);
	temp_name(tmp);
	if (symlinkat(target, parent, tmp) < 0)
		return err_set_errno(err, -errno, "Failed to create the link \"%s\"", path);
	if (fchownat(parent, tmp, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    renameat(parent, tmp, parent, base) < 0) {
		int r = -errno;

		unlinkat(parent, tmp, 0);
		return err_set_errno(err, r, "Failed to create the link \"%s\"", path);
	}
	return 0;
}

int instance_file_put(const struct instance_fsroot *root, const char *path,
		      const struct instance_file_spec *spec, struct err **err)
{
	_cleanup_close_ int parent = -EBADF;
	char base[NAME_MAX + 1];
	struct stat st;
	uid_t uid = 0;
	gid_t gid = 0;
	bool exists;
	int r;

	r = instance_file_path_check(path, err);
	if (r < 0)
		return r;
	r = shift_ids(root, spec, &uid, &gid, err);
	if (r < 0)
		return r;
	r = open_parent(root, path, &parent, base, err);
	if (r < 0)
		return r;
	exists = fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	/* Writing through a link would follow it with the host's view of "/": refuse. A new link
	 * replaces an old one, which is harmless. */
	if (exists && S_ISLNK(st.st_mode) && spec->type != INSTANCE_FILE_SYMLINK)
		return err_set(err, -ELOOP, "Refusing to write \"%s\": it is a symbolic link",
			       path);
	if (exists && S_ISDIR(st.st_mode) && spec->type != INSTANCE_FILE_DIRECTORY)
		return err_set(err, -EISDIR, "\"%s\" is a directory in the instance", path);
	if (exists && !S_ISDIR(st.st_mode) && spec->type == INSTANCE_FILE_DIRECTORY)
		return err_set(err, -EEXIST, "\"%s\" exists and is not a directory", path);

	switch (spec->type) {
	case INSTANCE_FILE_REGULAR:
		return put_regular(parent, base, path, uid, gid, spec, err);
	case INSTANCE_FILE_DIRECTORY:
		return put_directory(parent, base, path, uid, gid, spec->mode, err);
	case INSTANCE_FILE_SYMLINK:
		return put_symlink(parent, base, path, uid, gid, spec->target, err);
	case INSTANCE_FILE_TYPE_MAX:
		break;
	}
	return err_set(err, -EINVAL, "Unknown file type");
}

int instance_file_delete(const struct instance_fsroot *root, const char *path, struct err **err)
{
	_cleanup_close_ int parent = -EBADF;
	char base[NAME_MAX + 1];
	struct stat st;
	int r;

	r = instance_file_path_check(path, err);
	if (r < 0)
		return r;
	r = open_parent(root, path, &parent, base, err);
	if (r < 0)
		return r;
	if (fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return err_set(err, -ENOENT, "Path \"%s\" not found in the instance", path);
		return err_set_errno(err, -errno, "Failed to delete \"%s\"", path);
	}
	if (unlinkat(parent, base, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
		return err_set_errno(err, -errno, "Failed to delete \"%s\"", path);
	return 0;
}
