/*
 * cairn file push / pull / delete over /1.0/instances/{name}/files. Uploads stream from the
 * local file (the request client); downloads stream into the local file (raw client, which sees the
 * X-Incus-* headers) through pull.c, which never follows a link at the destination. Recursion is
 * done here: push walks the local tree, pull lists directories.
 */
#include "cmd/cairn/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cairn/pull.h"
#include "cmd/cairn/stream.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

/* Owner and mode options of a push. */
struct push_opts {
	long long uid; /* -1: 0, as Incus does */
	long long gid;
	long mode; /* -1: the local file's */
	bool parents;
	bool recursive;
};

static void stream_freep(struct cli_stream **s)
{
	cli_stream_free(*s);
	*s = NULL;
}

/* Splits "NAME/PATH" into a new name and an absolute path. */
static int split_target(const char *arg, char **ret_name, char **ret_path, struct err **err)
{
	const char *slash = strchr(arg, '/');
	_cleanup_free_ char *name = NULL, *path = NULL;

	if (!slash || slash == arg)
		return err_set(err, -EINVAL, "Invalid target \"%s\" (use NAME/PATH)", arg);
	name = strndup(arg, (size_t)(slash - arg));
	path = str_printf("/%s", slash + 1 + strspn(slash + 1, "/"));
	if (!name || !path)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret_name = steal_pointer(&name);
	*ret_path = steal_pointer(&path);
	return 0;
}

static char *files_url(const char *name, const char *path)
{
	_cleanup_free_ char *n = cli_escape(name), *p = cli_escape(path);

	if (!n || !p)
		return NULL;
	return str_printf("/1.0/instances/%s/files?path=%s", n, p);
}

/* The last component of `path` (trailing slashes ignored). Caller frees. */
static char *base_name(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	char *b;

	if (!copy)
		return NULL;
	b = basename(copy);
	return strdup(b);
}

static char *join(const char *dir, const char *name)
{
	size_t l = strlen(dir);

	return str_printf("%s%s%s", dir, l > 0 && dir[l - 1] == '/' ? "" : "/", name);
}

/* One POST: `type` is file, directory or symlink; `fd` the contents (may be /dev/null). */
static int upload(struct cli_ctx *ctx, const char *name, const char *path, const char *type, int fd,
		  long long size, long long uid, long long gid, long mode, struct err **err)
{
	_cleanup_free_ char *url = files_url(name, path), *h_uid = NULL, *h_gid = NULL,
			    *h_mode = NULL, *h_type = NULL;
	struct cli_client *c = NULL;
	int r;

	h_uid = str_printf("X-Incus-uid: %lld", uid < 0 ? 0 : uid);
	h_gid = str_printf("X-Incus-gid: %lld", gid < 0 ? 0 : gid);
	h_mode = str_printf("X-Incus-mode: %04lo", (unsigned long)mode);
	h_type = str_printf("X-Incus-type: %s", type);
	if (!url || !h_uid || !h_gid || !h_mode || !h_type)
		return err_set(err, -ENOMEM, "Out of memory");
	{
		char *const headers[] = {h_uid, h_gid, h_mode, h_type, "X-Incus-write: overwrite",
					 NULL};

		r = cli_ctx_client(ctx, &c, err);
		if (r < 0)
			return r;
		return cli_client_upload(c, url, fd, size, headers, NULL, err);
	}
}

static int push_directory(struct cli_ctx *ctx, const char *name, const char *path, long mode,
			  const struct push_opts *o, struct err **err)
{
	_cleanup_close_ int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null_fd < 0)
		return err_set_errno(err, -errno, "Failed to open /dev/null");
	return upload(ctx, name, path, "directory", null_fd, 0, o->uid, o->gid, mode, err);
}

/* -p: every parent of `path` as a directory (existing ones are left alone). */
static int push_parents(struct cli_ctx *ctx, const char *name, const char *path,
			const struct push_opts *o, struct err **err)
{
	_cleanup_free_ char *copy = strdup(path);
	char *p;
	int r;

	if (!copy)
		return err_set(err, -ENOMEM, "Out of memory");
	for (p = strchr(copy + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (*copy) {
			r = push_directory(ctx, name, copy, 0755, o, err);
			if (r < 0)
				return r;
		}
		*p = '/';
	}
	return 0;
}

static int push_one(struct cli_ctx *ctx, const char *local, const char *name, const char *path,
		    const struct push_opts *o, struct err **err);

static int push_tree(struct cli_ctx *ctx, const char *local, const char *name, const char *path,
		     const struct stat *st, const struct push_opts *o, struct err **err)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int r;

	r = push_directory(ctx, name, path, o->mode >= 0 ? o->mode : (long)(st->st_mode & 07777), o,
			   err);
	if (r < 0)
		return r;
	d = opendir(local);
	if (!d)
		return err_set_errno(err, -errno, "Failed to read \"%s\"", local);
	while ((de = readdir(d))) {
		_cleanup_free_ char *l = NULL, *p = NULL;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		l = join(local, de->d_name);
		p = join(path, de->d_name);
		if (!l || !p)
			return err_set(err, -ENOMEM, "Out of memory");
		r = push_one(ctx, l, name, p, o, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int push_one(struct cli_ctx *ctx, const char *local, const char *name, const char *path,
		    const struct push_opts *o, struct err **err)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	long mode;

	/* Inside a recursive push a link stays a link; a named file is followed. */
	if ((o->recursive ? lstat(local, &st) : stat(local, &st)) < 0)
		return err_set_errno(err, -errno, "Failed to read \"%s\"", local);
	if (S_ISDIR(st.st_mode)) {
		if (!o->recursive)
			return err_set(err, -EISDIR, "\"%s\" is a directory (use -r)", local);
		return push_tree(ctx, local, name, path, &st, o, err);
	}
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(local, target, sizeof(target) - 1);

		if (n < 0)
			return err_set_errno(err, -errno, "Failed to read the link \"%s\"", local);
		fd = memfd_create("cairn-link", MFD_CLOEXEC);
		if (fd < 0 || write(fd, target, (size_t)n) != n || lseek(fd, 0, SEEK_SET) < 0)
			return err_set_errno(err, -errno, "Failed to prepare the link \"%s\"",
					     local);
		return upload(ctx, name, path, "symlink", fd, n, o->uid, o->gid, 0777, err);
	}
	if (!S_ISREG(st.st_mode))
		return err_set(err, -EINVAL, "\"%s\" is not a regular file", local);
	fd = open(local, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", local);
	mode = o->mode >= 0 ? o->mode : (long)(st.st_mode & 07777);
	return upload(ctx, name, path, "file", fd, st.st_size, o->uid, o->gid, mode, err);
}

int cli_cmd_file_push(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_free_ char *name = NULL, *path = NULL;
	const char *mode = cli_flag_string(args, "mode");
	struct push_opts o = {
	    .uid = cli_flag_int(args, "uid", -1),
	    .gid = cli_flag_int(args, "gid", -1),
	    .mode = -1,
	    .parents = cli_flag_bool(args, "create-dirs"),
	    .recursive = cli_flag_bool(args, "recursive"),
	};
	size_t n_src = args->argc - 1;
	bool into_dir;
	int r;

	if (mode) {
		char *end;

		errno = 0;
		o.mode = strtol(mode, &end, 8);
		if (errno || *end || end == mode || o.mode < 0 || o.mode > 07777)
			return err_set(err, -EINVAL, "Invalid mode \"%s\" (use octal, e.g. 0644)",
				       mode);
	}
	r = split_target(args->argv[args->argc - 1], &name, &path, err);
	if (r < 0)
		return r;
	/* Several sources, a directory tree or a target ending in "/" go into that directory. */
	into_dir = n_src > 1 || o.recursive ||
		   args->argv[args->argc - 1][strlen(args->argv[args->argc - 1]) - 1] == '/';
	for (size_t i = 0; i < n_src; i++) {
		_cleanup_free_ char *base = NULL, *dest = NULL;
		const char *local = args->argv[i];

		if (into_dir) {
			base = base_name(local);
			dest = base ? join(path, base) : NULL;
		} else {
			dest = strdup(path);
		}
		if (!dest)
			return err_set(err, -ENOMEM, "Out of memory");
		if (o.parents) {
			r = push_parents(ctx, name, dest, &o, err);
			if (r < 0)
				return r;
		}
		r = push_one(ctx, local, name, dest, &o, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Options of a pull. */
struct pull_opts {
	bool recursive;
	bool keep_mode; /* --keep-mode: setuid, setgid and sticky come along */
};

/* cli_pull_read_t over a response stream. */
static ssize_t stream_read(void *userdata, void *buf, size_t len)
{
	return cli_stream_read(userdata, buf, len);
}

/*
 * The target of a link being pulled: the whole body, shorter than PATH_MAX, with no NUL. On the
 * heap rather than the stack, as a pull recurses once per level of the tree. Caller frees.
 */
static int read_link_target(struct cli_stream *s, const char *path, char **ret, struct err **err)
{
	_cleanup_free_ char *target = malloc(PATH_MAX);
	size_t len = 0;

	if (!target)
		return err_set(err, -ENOMEM, "Out of memory");
	for (;;) {
		ssize_t n = cli_stream_read(s, target + len, PATH_MAX - len);

		if (n < 0)
			return err_set_errno(err, (int)n, "Failed to receive \"%s\"", path);
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == PATH_MAX)
			return err_set(err, -ENAMETOOLONG, "The link \"%s\" is too long", path);
	}
	if (len == 0 || memchr(target, '\0', len))
		return err_set(err, -EPROTO, "Invalid link target for \"%s\" from cairnd", path);
	target[len] = '\0';
	*ret = steal_pointer(&target);
	return 0;
}

static int pull_one(struct cli_ctx *ctx, const char *name, const char *path, int dfd,
		    const char *lname, const char *display, const struct pull_opts *o,
		    struct err **err);

/*
 * Pulls the directory `path`, whose listing is `env`, into `lname` in `dfd`. Each level is
 * entered through the descriptor of the one above, never through a link (cli_pull_open_dir).
 */
static int pull_tree(struct cli_ctx *ctx, const char *name, const char *path, int dfd,
		     const char *lname, const char *display, json_object *env, unsigned long mode,
		     const struct pull_opts *o, struct err **err)
{
	_cleanup_close_ int sub = -EBADF;
	json_object *list = NULL;
	bool created = false;
	int r;

	if (!json_object_object_get_ex(env, "metadata", &list) ||
	    !json_object_is_type(list, json_type_array))
		return err_set(err, -EPROTO, "Invalid directory listing from cairnd");
	r = cli_pull_open_dir(dfd, lname, display, &sub, &created, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		const char *entry = json_object_get_string(json_object_array_get_idx(list, i));
		_cleanup_free_ char *p = NULL, *l = NULL;

		if (!entry || !*entry || strchr(entry, '/') || strcmp(entry, "..") == 0 ||
		    strcmp(entry, ".") == 0)
			continue;
		p = join(path, entry);
		l = join(display, entry);
		if (!p || !l)
			return err_set(err, -ENOMEM, "Out of memory");
		r = pull_one(ctx, name, p, sub, entry, l, o, err);
		if (r < 0)
			return r;
	}
	/* A new directory gets its mode once filled (the mode may not let its owner write); an
	 * existing one keeps its own. */
	if (created && fchmod(sub, cli_pull_mode(mode ? mode : 0755, o->keep_mode)) < 0)
		return err_set_errno(err, -errno, "Failed to set the mode of \"%s\"", display);
	return 0;
}

/*
 * Pulls `path` of the instance `name` to `lname` in the directory `dfd`, or to stdout when `dfd`
 * is negative. `display` is the local path, for messages.
 */
static int pull_one(struct cli_ctx *ctx, const char *name, const char *path, int dfd,
		    const char *lname, const char *display, const struct pull_opts *o,
		    struct err **err)
{
	_cleanup_(stream_freep) struct cli_stream *s = NULL;
	_cleanup_free_ char *url = files_url(name, path);
	const char *type, *mode_s;
	unsigned long mode;
	int r;

	if (!url)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_stream_open(ctx, &s, err);
	if (r < 0)
		return r;
	{
		char *const headers[] = {"Connection: close", NULL};

		r = cli_stream_request(s, "GET", url, headers, NULL, 0, err);
		if (r < 0)
			return r;
	}
	type = cli_stream_header(s, "X-Incus-type");
	mode_s = cli_stream_header(s, "X-Incus-mode");
	mode = mode_s ? strtoul(mode_s, NULL, 8) & 07777 : 0644;
	if (!type)
		return err_set(err, -EPROTO, "Invalid answer from cairnd (no file type)");

	if (strcmp(type, "directory") == 0) {
		_cleanup_json_ json_object *env = NULL;

		if (!o->recursive)
			return err_set(err, -EISDIR, "\"%s\" is a directory (use -r)", path);
		if (dfd < 0)
			return err_set(err, -EISDIR, "Cannot write the directory \"%s\" to stdout",
				       path);
		r = cli_stream_read_json(s, &env, err);
		if (r < 0)
			return r;
		/* One connection at a time, however deep the tree. */
		stream_freep(&s);
		return pull_tree(ctx, name, path, dfd, lname, display, env, mode, o, err);
	}
	if (strcmp(type, "symlink") == 0) {
		_cleanup_free_ char *target = NULL;

		r = read_link_target(s, path, &target, err);
		if (r < 0)
			return r;
		if (dfd < 0) {
			fputs(target, ctx->out);
			return 0;
		}
		/* The link is data: made with the container's text, never followed here. */
		return cli_pull_write_link(dfd, lname, target, display, err);
	}
	if (strcmp(type, "file") != 0)
		return err_set(err, -EPROTO, "Invalid answer from cairnd (file type \"%s\")", type);
	if (dfd < 0) {
		fflush(ctx->out);
		return cli_pull_copy(STDOUT_FILENO, stream_read, s, path, err);
	}
	return cli_pull_write_file(dfd, lname, cli_pull_mode(mode, o->keep_mode), stream_read, s,
				   display, err);
}

int cli_cmd_file_pull(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_close_ int dfd = -EBADF;
	_cleanup_free_ char *target_name = NULL;
	const char *target = args->argv[args->argc - 1];
	struct pull_opts o = {
	    .recursive = cli_flag_bool(args, "recursive"),
	    .keep_mode = cli_flag_bool(args, "keep-mode"),
	};
	bool to_stdout = strcmp(target, "-") == 0;
	size_t n_src = args->argc - 1;
	bool into_dir = false;
	int r;

	if (!to_stdout) {
		if (cli_flag_bool(args, "create-dirs")) {
			r = mkdir_p(target, 0755, err);
			if (r < 0)
				return r;
		}
		/* The target is the user's own path; below it nothing follows a link. */
		r = cli_pull_target(target, n_src, &dfd, &target_name, &into_dir, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n_src; i++) {
		_cleanup_free_ char *name = NULL, *path = NULL, *base = NULL, *display = NULL;
		const char *lname = target_name;

		r = split_target(args->argv[i], &name, &path, err);
		if (r < 0)
			return r;
		if (into_dir) {
			base = base_name(path);
			if (!base)
				return err_set(err, -ENOMEM, "Out of memory");
			if (strcmp(base, "/") == 0 || strcmp(base, ".") == 0 ||
			    strcmp(base, "..") == 0)
				return err_set(err, -EINVAL,
					       "\"%s\" has no name to pull it under (name the "
					       "target instead)",
					       args->argv[i]);
			lname = base;
			display = join(target, base);
		} else {
			display = strdup(target);
		}
		if (!display)
			return err_set(err, -ENOMEM, "Out of memory");
		r = pull_one(ctx, name, path, to_stdout ? -EBADF : dfd, lname, display, &o, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int cli_cmd_file_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	struct cli_client *c = NULL;
	int r;

	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < args->argc; i++) {
		_cleanup_free_ char *name = NULL, *path = NULL, *url = NULL;

		r = split_target(args->argv[i], &name, &path, err);
		if (r < 0)
			return r;
		url = files_url(name, path);
		if (!url)
			return err_set(err, -ENOMEM, "Out of memory");
		r = cli_client_query(c, "DELETE", url, NULL, NULL, err);
		if (r < 0)
			return r;
	}
	return 0;
}
