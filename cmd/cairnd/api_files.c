/*
 * /1.0/instances/{name}/files?path=/abs: Incus' file API. GET answers a file's bytes (streamed
 * from the file), a symbolic link's target or a directory's entries (a sync envelope), with the
 * X-Incus-uid/gid/mode/type headers; POST writes the uploaded body (already streamed into a
 * temporary file by the server); DELETE removes. A running instance's files are reached in its
 * own namespaces (see instance/files.h), a stopped one's in its rootfs.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/api.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/handlers.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db.h"
#include "instance/files.h"
#include "storage/storage.h"

static void file_donep(struct instance_file *f)
{
	instance_file_done(f);
}

/* An X-Incus-<name> header, or LXD's X-LXD-<name> when the client sent that one instead. */
static const char *file_header(struct request *req, const char *incus_name)
{
	const char *v = request_header(req, incus_name);
	char lxd_name[64];

	if (v)
		return v;
	snprintf(lxd_name, sizeof(lxd_name), "X-LXD-%s", incus_name + strlen("X-Incus-"));
	return request_header(req, lxd_name);
}

/* The ?path= argument, checked. LXD's client sends a pulled file's path without its leading
 * "/" ("c1/etc/hostname" names etc/hostname): such a path is taken from the root, in
 * `buf`. */
static int path_arg(struct request *req, char buf[static PATH_MAX + 1], const char **ret,
		    struct err **err)
{
	const char *path = NULL;
	size_t len = 0;
	int r;

	if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, "path", strlen("path"),
					  &path, &len) != MHD_YES ||
	    !path || !*path)
		return err_set(err, -EINVAL, "Missing \"path\" argument");
	/* libmicrohttpd has decoded %00: C would see the path cut short at it. */
	if (strlen(path) != len)
		return err_set(err, -EINVAL, "Invalid path: it holds a NUL");
	if (path[0] != '/') {
		if (len >= PATH_MAX)
			return err_set(err, -EINVAL, "Invalid path: it is too long");
		buf[0] = '/';
		memcpy(buf + 1, path, len + 1);
		path = buf;
	}
	r = instance_file_path_check(path, err);
	if (r < 0)
		return r;
	*ret = path;
	return 0;
}

static void add_file_headers(struct MHD_Response *resp, const struct instance_file *f)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%u", f->uid);
	MHD_add_response_header(resp, "X-Incus-uid", buf);
	snprintf(buf, sizeof(buf), "%u", f->gid);
	MHD_add_response_header(resp, "X-Incus-gid", buf);
	snprintf(buf, sizeof(buf), "%04o", (unsigned)f->mode);
	MHD_add_response_header(resp, "X-Incus-mode", buf);
	MHD_add_response_header(resp, "X-Incus-type", instance_file_type_name(f->type));
	/* The same under the names LXD's client reads. */
	snprintf(buf, sizeof(buf), "%u", f->uid);
	MHD_add_response_header(resp, "X-LXD-uid", buf);
	snprintf(buf, sizeof(buf), "%u", f->gid);
	MHD_add_response_header(resp, "X-LXD-gid", buf);
	snprintf(buf, sizeof(buf), "%04o", (unsigned)f->mode);
	MHD_add_response_header(resp, "X-LXD-mode", buf);
	MHD_add_response_header(resp, "X-LXD-type", instance_file_type_name(f->type));
}

static struct MHD_Response *directory_response(const struct instance_file *f)
{
	_cleanup_json_ json_object *env = NULL;
	json_object *list = json_object_new_array();
	const char *text;

	for (char **e = f->entries; e && *e; e++)
		json_object_array_add(list, json_object_new_string(*e));
	env = api_sync(list);
	if (!env)
		return NULL;
	text = json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN);
	return MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
}

HANDLER(handle_instance_files_get)
{
	_cleanup_(file_donep) struct instance_file f = {.fd = -EBADF};
	struct MHD_Response *resp = NULL;
	char path_buf[PATH_MAX + 1];
	const char *path = NULL;
	int r;

	(void)ret_envelope;
	r = path_arg(req, path_buf, &path, err);
	if (r < 0)
		return r;
	r = instance_files_get(&d->env, req->params[0], path, &f, err);
	if (r < 0)
		return r;
	switch (f.type) {
	case INSTANCE_FILE_REGULAR:
		/* libmicrohttpd streams from the descriptor and closes it. */
		resp = MHD_create_response_from_fd64(f.size, f.fd);
		if (resp)
			f.fd = -EBADF;
		break;
	case INSTANCE_FILE_SYMLINK:
		resp = MHD_create_response_from_buffer(strlen(f.target), f.target,
						       MHD_RESPMEM_MUST_COPY);
		break;
	case INSTANCE_FILE_DIRECTORY:
		resp = directory_response(&f);
		break;
	case INSTANCE_FILE_TYPE_MAX:
		break;
	}
	if (!resp)
		return err_set(err, -ENOMEM, "Out of memory");
	add_file_headers(resp, &f);
	MHD_add_response_header(resp, "Content-Type",
				f.type == INSTANCE_FILE_DIRECTORY ? "application/json"
								  : "application/octet-stream");
	req->response = resp;
	return 200;
}

/* A numeric header: absent, empty or -1 (Incus' "unset") leaves *ret alone. */
static int header_number(struct request *req, const char *name, int base, unsigned long max,
			 unsigned long *ret, struct err **err)
{
	const char *v = file_header(req, name);
	unsigned long n;
	char *end;

	if (!v || !*v || strcmp(v, "-1") == 0)
		return 0;
	errno = 0;
	n = strtoul(v, &end, base);
	if (errno != 0 || *end || end == v || v[0] == '-' || n > max)
		return err_set(err, -EINVAL, "Invalid %s header \"%s\"", name, v);
	*ret = n;
	return 1;
}

/* The target of a symbolic link upload: the whole (small) body. */
static int read_target(int fd, char **ret, struct err **err)
{
	char buf[PATH_MAX];
	size_t len = 0;

	if (fd < 0)
		return err_set(err, -EINVAL, "Missing the target of the symbolic link");
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set_errno(err, -errno, "Failed to read the request body");
		if (n == 0)
			break;
		len += (size_t)n;
		if (len >= sizeof(buf) - 1)
			return err_set(err, -EINVAL, "The target of the symbolic link is too long");
	}
	buf[len] = '\0';
	*ret = strdup(buf);
	return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
}

int spool_instance_file(struct daemon *d, struct request *req, char **ret_dir, struct err **err)
{
	_cleanup_(db_instance_done) struct db_instance row = {0};
	struct storage_pool *pool;
	char *dir;
	int r;

	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	pool = instance_env_pool(&d->env, row.pool);
	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row.pool);
	dir = strdup(pool->mount_path);
	if (!dir)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret_dir = dir;
	return 0;
}

HANDLER(handle_instance_files_post)
{
	_cleanup_free_ char *target = NULL;
	struct instance_file_spec spec = {.type = INSTANCE_FILE_REGULAR, .src_fd = -EBADF};
	const char *path = NULL, *type = file_header(req, "X-Incus-type"),
		   *write_mode = file_header(req, "X-Incus-write");
	unsigned long uid = 0, gid = 0, mode = 0;
	char path_buf[PATH_MAX + 1];
	int r;

	r = path_arg(req, path_buf, &path, err);
	if (r < 0)
		return r;
	if (type && *type && instance_file_type_from_name(type, &spec.type) < 0)
		return err_set(err, -EINVAL,
			       "Invalid X-Incus-type \"%s\" (use file, directory or symlink)",
			       type);
	if (write_mode && *write_mode && strcmp(write_mode, "overwrite") != 0 &&
	    strcmp(write_mode, "append") != 0)
		return err_set(err, -EINVAL,
			       "Invalid X-Incus-write \"%s\" (use overwrite or append)",
			       write_mode);
	mode = spec.type == INSTANCE_FILE_DIRECTORY ? 0755 : 0644;
	if ((r = header_number(req, "X-Incus-uid", 10, UINT32_MAX - 1, &uid, err)) < 0 ||
	    (r = header_number(req, "X-Incus-gid", 10, UINT32_MAX - 1, &gid, err)) < 0 ||
	    (r = header_number(req, "X-Incus-mode", 8, 07777, &mode, err)) < 0)
		return r;
	spec.uid = (uint32_t)uid;
	spec.gid = (uint32_t)gid;
	spec.mode = (mode_t)mode;
	spec.append = write_mode && strcmp(write_mode, "append") == 0;
	if (spec.type == INSTANCE_FILE_SYMLINK) {
		r = read_target(req->body_fd, &target, err);
		if (r < 0)
			return r;
		spec.target = target;
	}
	spec.src_fd = req->body_fd;
	if (spec.type == INSTANCE_FILE_REGULAR && spec.src_fd < 0)
		return err_set(err, -EINVAL, "Missing request body");

	r = instance_files_put(&d->env, req->params[0], path, &spec, err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}

HANDLER(handle_instance_files_delete)
{
	char path_buf[PATH_MAX + 1];
	const char *path = NULL;
	int r;

	r = path_arg(req, path_buf, &path, err);
	if (r < 0)
		return r;
	r = instance_files_delete(&d->env, req->params[0], path, err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}
