#pragma once

/*
 * The local side of `cairn file pull`: what the container sends is written below a directory
 * descriptor, one name at a time, and a symbolic link found at the destination is never
 * followed. Files and links are made under a temporary name beside the final one and renamed
 * over it, so whatever sat there (a file, a link an earlier pull left) is replaced, never
 * written through. The container decides the contents, never where they land on the host.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct err;

/*
 * The permission bits a pulled file or directory gets from the container's `mode`: 0777 of it,
 * as Incus gives; setuid, setgid and sticky too only when `keep_mode` (--keep-mode).
 */
mode_t cli_pull_mode(unsigned long mode, bool keep_mode);

/*
 * Where a pull of `n_src` sources into the local `target` goes.
 *
 * When `target` is a directory, the sources go into it under their own names: *ret_into_dir is
 * true, *ret_dfd is that directory and *ret_name is NULL. A link to a directory counts only when
 * named with a trailing "/": an earlier pull may have left that link, so a bare name never
 * follows it. Otherwise `target` names the one destination: *ret_dfd is its parent directory and
 * *ret_name its last component (the caller's to free); whatever is there is replaced.
 *
 * Errors: -ENOTDIR when several sources or a trailing "/" need a directory that is not there,
 * -ELOOP for a link to a directory named without the trailing "/", -EINVAL for an empty target,
 * or the errno of reading the target or opening its directory.
 */
int cli_pull_target(const char *target, size_t n_src, int *ret_dfd, char **ret_name,
		    bool *ret_into_dir, struct err **err);

/* Reads up to `len` bytes of what is pulled into `buf`: the count, 0 at the end, or -errno. */
typedef ssize_t (*cli_pull_read_t)(void *userdata, void *buf, size_t len);

/* Copies everything `read_fn` gives into `fd` (a pulled file, or stdout); a short write is
 * retried, never accepted. `display` names the destination in messages. */
int cli_pull_copy(int fd, cli_pull_read_t read_fn, void *userdata, const char *display,
		  struct err **err);

/*
 * Makes `name` in the directory `dfd` a regular file with the bytes `read_fn` gives and exactly
 * the permission bits `mode` (whatever the umask). The file is written under a new temporary
 * name in `dfd` and renamed over `name`: a file or a link at `name` is replaced, never followed;
 * a directory there stays (-EISDIR). On failure `name` is unchanged and the temporary file gone.
 * `display` names the destination in messages. Errors: the errno of `read_fn` or of the calls.
 */
int cli_pull_write_file(int dfd, const char *name, mode_t mode, cli_pull_read_t read_fn,
			void *userdata, const char *display, struct err **err);

/*
 * Makes `name` in the directory `dfd` a symbolic link with the text `target`, as data: the link
 * is created under a temporary name and renamed over `name`, and nothing follows it. A file or
 * a link at `name` is replaced; a directory there stays (-EISDIR).
 */
int cli_pull_write_link(int dfd, const char *name, const char *target, const char *display,
			struct err **err);

/*
 * Opens the directory `name` in `dfd` to pull a tree into (O_NOFOLLOW), creating it with mode
 * 0700 when missing; the caller gives a new one its final mode once it is filled. A symbolic link
 * at `name` is removed and a directory made in its place, so a tree never lands where a link
 * points. *ret_fd is the caller's to close; *ret_created says whether the directory is new.
 * Errors: -ENOTDIR when `name` is another kind of file, or the errno of the calls.
 */
int cli_pull_open_dir(int dfd, const char *name, const char *display, int *ret_fd,
		      bool *ret_created, struct err **err);
