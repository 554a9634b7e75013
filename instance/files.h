#pragma once

/*
 * Files of an instance: of a stopped one in its rootfs, read and written from the host; of a
 * running one in the container's own namespaces, by the `cairnd forkfile` helper (forkfile.c),
 * so that a running container's mounts (/tmp, /run, /proc) are the ones it sees and nothing is
 * opened there with the host's credentials. Both run the functions below.
 *
 * Every path is resolved with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
 * below the rootfs: symbolic links resolve as the container sees them ("/" is the rootfs) and
 * can never lead out of it. A request path must be absolute and have no ".." component, and a
 * write never goes through a symbolic link in the last component. Owners are what the container
 * sees; on disk they are shifted by the instance's id base.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct err;
struct instance_env;

/* An instance's rootfs, opened. */
struct instance_fsroot {
	int fd;		   /* O_PATH descriptor of the rootfs directory (checked: a directory on
			      its volume's device, reached without following a link), owned */
	uint32_t uid_base; /* host uid of the container's uid 0 */
	uint32_t gid_base;
	uint32_t size; /* how many ids are mapped (UINT32_MAX for a privileged instance) */
	bool mounts;   /* the root of a running container's own mount namespace: lookups cross
			  its mounts; false for a rootfs seen from the host (RESOLVE_NO_XDEV) */
};

enum instance_file_type {
	INSTANCE_FILE_REGULAR,
	INSTANCE_FILE_DIRECTORY,
	INSTANCE_FILE_SYMLINK,
	INSTANCE_FILE_TYPE_MAX,
};

/* What instance_file_get() found. */
struct instance_file {
	enum instance_file_type type;
	uint32_t uid; /* as the container sees them (65534 for a host id outside the map) */
	uint32_t gid;
	mode_t mode;	/* permission bits only (07777) */
	int fd;		/* REGULAR: open for reading, owned; -EBADF otherwise */
	uint64_t size;	/* REGULAR: bytes */
	char *target;	/* SYMLINK: the link's text, owned */
	char **entries; /* DIRECTORY: names, sorted, NULL-terminated, owned */
};

/* What instance_file_put() writes. */
struct instance_file_spec {
	enum instance_file_type type;
	uint32_t uid; /* as the container sees them */
	uint32_t gid;
	mode_t mode;	    /* permission bits */
	int src_fd;	    /* REGULAR: the contents, read from its current offset to the end */
	const char *target; /* SYMLINK: the link's text */
	bool append;	    /* REGULAR: append to an existing file rather than replace it */
};

/* "file", "directory", "symlink" (Incus' X-Incus-type values); NULL for the sentinel. */
const char *instance_file_type_name(enum instance_file_type t);

/* The type named `s`; -EINVAL for anything else. */
int instance_file_type_from_name(const char *s, enum instance_file_type *ret);

/*
 * Checks a path given by a user: absolute, no ".." component, no NUL, shorter than PATH_MAX.
 * -EINVAL with `Invalid path "x": it leaves the instance` (for "..") or `... must be absolute`.
 */
int instance_file_path_check(const char *path, struct err **err);

/*
 * Opens `rootfs` with the given id map. `size` 0 means privileged (ids are not shifted).
 * Its parent, the volume, is opened by path; `rootfs` itself from there without following a
 * link: -ELOOP `Refusing to open the root file system "x": it is a symbolic link`, -ENOTDIR
 * when it is not a directory, -EXDEV when it is on another device than its volume (something
 * is mounted on it). Free with instance_fsroot_done().
 */
int instance_fsroot_open(const char *rootfs, uint32_t uid_base, uint32_t gid_base, uint32_t size,
			 struct instance_fsroot *ret, struct err **err);

/* Opens the rootfs of instance `name` (any state) with its id base (volatile.idmap.base).
 * -ENOENT for an unknown instance. */
int instance_fsroot_open_instance(const struct instance_env *env, const char *name,
				  struct instance_fsroot *ret, struct err **err);

/* Closes the rootfs; may be called twice. */
void instance_fsroot_done(struct instance_fsroot *r);

/*
 * Looks at `path`: a regular file is opened for reading, a directory listed, a symbolic link
 * read (not followed). -ENOENT `Path "x" not found in the instance`; -EINVAL for other file
 * types (devices, sockets, fifos). Free *ret with instance_file_done().
 */
int instance_file_get(const struct instance_fsroot *root, const char *path,
		      struct instance_file *ret, struct err **err);

/* Frees the contents of `f`; may be called twice. */
void instance_file_done(struct instance_file *f);

/*
 * Creates or replaces `path`. A regular file is written to a temporary name in the same
 * directory, owned and moded through its descriptor, then renamed over the target, so a reader
 * sees the old or the new file. A directory that exists already is left as it is; a new one
 * gets the owner and mode. A symbolic link is created as given (its target is the container's
 * business). The parent must exist (-ENOENT). -ELOOP `... is a symbolic link` when the last
 * component is an existing symbolic link and a file or directory is written; -EISDIR when a
 * file would replace a directory; -EINVAL for ids the instance does not map.
 */
int instance_file_put(const struct instance_fsroot *root, const char *path,
		      const struct instance_file_spec *spec, struct err **err);

/* Removes a file, a symbolic link (not what it points to) or an empty directory. -ENOENT when
 * missing, -ENOTEMPTY for a directory with entries, -EINVAL for "/". */
int instance_file_delete(const struct instance_fsroot *root, const char *path, struct err **err);

/*
 * The request functions of the API: the same as instance_file_get(), instance_file_put() and
 * instance_file_delete() on the files of instance `name` as it is now. Stopped, they work on its
 * rootfs. Running (or frozen), in a `cairnd forkfile` helper that joins the user and mount
 * namespaces of the container's init through a pidfd (so no reused pid), becomes the
 * container's root (uid and gid 0 there, no capability init lacks) and resolves the path from
 * that namespace's "/"; a write is done by the helper, a read hands back the opened descriptor
 * (a file of a kernel or FUSE file system is read by the helper first, at most 64 MiB).
 * Errors: those of the functions above, -ENOENT for an unknown instance, -EBUSY `Instance "x"
 * stopped while its files were being reached`, -ETIMEDOUT when the helper does not answer in
 * ten minutes (it is killed), -EIO when it fails without an answer.
 */
int instance_files_get(const struct instance_env *env, const char *name, const char *path,
		       struct instance_file *ret, struct err **err);
int instance_files_put(const struct instance_env *env, const char *name, const char *path,
		       const struct instance_file_spec *spec, struct err **err);
int instance_files_delete(const struct instance_env *env, const char *name, const char *path,
			  struct err **err);

/*
 * The `forkfile` helper's body, called from cairnd's main() when argv[1] is "forkfile":
 * `cairnd forkfile NAME OP PATH MAPSIZE TYPE UID GID MODE APPEND TARGET` with the socket to the
 * daemon as descriptor 3, init's pidfd as 4 and, for OP "put", the contents as 5. Answers on 3
 * and returns the exit status.
 */
int instance_forkfile_main(int argc, char **argv);
