/*
 * Instance backups, in Incus's shape: POST /1.0/instances/<name>/backups makes one (an
 * operation that writes the tarball to $CAIRN_DIR/backups/instances/<name>/<backup>), GET
 * .../backups/<backup>/export streams it, DELETE removes it; POST /1.0/instances with an
 * application/octet-stream body imports one (handle_instances_import()).
 */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/api.h"
#include "backup/backup.h"
#include "cmd/cairnd/body.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/handlers.h"
#include "cmd/cairnd/operations.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "config/db.h"
#include "config/names.h"
#include "instance/instance.h"
#include "storage/storage.h"

/* An X-Incus-<name> header of an import, or LXD's X-LXD-<name> when the client sent that one. */
static const char *import_header(struct request *req, const char *name)
{
	char buf[64];
	const char *v;

	snprintf(buf, sizeof(buf), "X-Incus-%s", name);
	v = request_header(req, buf);
	if (v)
		return v;
	snprintf(buf, sizeof(buf), "X-LXD-%s", name);
	return request_header(req, buf);
}

static char *backups_dir(struct daemon *d, const char *instance)
{
	return backup_dir(&d->env, instance);
}

/* A backup's name: as an instance's (it is a file name and a path segment). */
static int backup_name_valid(const char *name, struct err **err)
{
	int r = config_instance_name_valid(name, NULL);

	if (r < 0)
		return err_set(err, -EINVAL, "Invalid backup name \"%s\"", name ? name : "");
	return 0;
}

static json_object *backup_json(const char *instance, const char *name, const struct stat *st)
{
	json_object *o = json_object_new_object();
	_cleanup_free_ char *created = time_format_rfc3339(st->st_mtime);

	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "created_at", json_object_new_string(created ? created : ""));
	json_object_object_add(o, "expires_at", json_object_new_string("0001-01-01T00:00:00Z"));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)st->st_size));
	json_object_object_add(o, "instance", json_object_new_string(instance));
	return o;
}

static int check_instance(struct daemon *d, const char *name, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};

	return instance_get(&d->env, name, &row, err);
}

HANDLER(handle_backups_list)
{
	_cleanup_free_ char *dir = backups_dir(d, req->params[0]);
	_cleanup_closedir_ DIR *dp = NULL;
	json_object *list;
	struct dirent *de;
	int r;

	r = check_instance(d, req->params[0], err);
	if (r < 0)
		return r;
	if (!dir)
		return err_set(err, -ENOMEM, "Out of memory");
	list = json_object_new_array();
	dp = opendir(dir);
	while (dp && (de = readdir(dp))) {
		struct stat st;

		if (de->d_name[0] == '.' || fstatat(dirfd(dp), de->d_name, &st, 0) < 0)
			continue;
		if (request_recursion(req) >= 1) {
			json_object_array_add(list, backup_json(req->params[0], de->d_name, &st));
		} else {
			_cleanup_free_ char *url =
			    str_printf("/1.0/instances/%s/backups/%s", req->params[0], de->d_name);

			json_object_array_add(list, json_object_new_string(url ? url : ""));
		}
	}
	*ret_envelope = api_sync(list);
	return 200;
}

static int open_backup(struct daemon *d, struct request *req, struct stat *st, struct err **err)
{
	_cleanup_free_ char *dir = backups_dir(d, req->params[0]), *path = NULL;
	int r, fd;

	r = check_instance(d, req->params[0], err);
	if (r < 0)
		return r;
	r = backup_name_valid(req->params[1], err);
	if (r < 0)
		return r;
	path = dir ? str_printf("%s/%s", dir, req->params[1]) : NULL;
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return err_set(err, -ENOENT, "Backup \"%s\" of instance \"%s\" not found",
			       req->params[1], req->params[0]);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open backup \"%s\"", req->params[1]);
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return err_set(err, -ENOENT, "Backup \"%s\" of instance \"%s\" not found",
			       req->params[1], req->params[0]);
	}
	return fd;
}

HANDLER(handle_backup_get)
{
	struct stat st;
	int fd = open_backup(d, req, &st, err);

	if (fd < 0)
		return fd;
	close(fd);
	*ret_envelope = api_sync(backup_json(req->params[0], req->params[1], &st));
	return 200;
}

HANDLER(handle_backup_export)
{
	struct MHD_Response *resp;
	struct stat st;
	int fd = open_backup(d, req, &st, err);

	(void)ret_envelope;
	if (fd < 0)
		return fd;
	/* libmicrohttpd streams from the descriptor and closes it. */
	resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
	if (!resp) {
		close(fd);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
	req->response = resp;
	return 200;
}

struct delete_job {
	char *path;
};

static void delete_job_free(void *p)
{
	struct delete_job *job = p;

	if (job)
		free(job->path);
	free(job);
}

static int run_backup_delete(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct delete_job *job = data;

	(void)d;
	(void)ret_md;
	if (unlink(job->path) < 0 && errno != ENOENT)
		return err_set_errno(err, -errno, "Failed to delete \"%s\"", job->path);
	return 0;
}

/* An operation, as in Incus (its client waits on the one it gets back). */
HANDLER(handle_backup_delete)
{
	_cleanup_free_ char *dir = backups_dir(d, req->params[0]);
	struct delete_job *job;
	struct stat st;
	int fd = open_backup(d, req, &st, err), r;

	if (fd < 0)
		return fd;
	close(fd);
	job = calloc(1, sizeof(*job));
	if (!job || !dir || !(job->path = str_printf("%s/%s", dir, req->params[1]))) {
		delete_job_free(job);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	r = operation_start(d, "Deleting instance backup", json_object_new_object(),
			    run_backup_delete, job, delete_job_free, NULL, ret_envelope, err);
	return r < 0 ? r : 202;
}

/*
 * A direct export (Incus's `direct_backup`: the POST asks for application/octet-stream): the
 * operation writes the tarball into a pipe whose other end is the response, so that nothing is
 * stored on the daemon's side. Shared by the operation and the response, freed by whichever
 * lets go last. The operation sets `status` before it closes its end, so that the response,
 * at the end of the pipe, knows whether it is the end of a whole tarball.
 */
struct direct {
	atomic_int refs;
	atomic_int status; /* 0 running, 1 done, -1 failed */
	int rfd;	   /* the pipe's reading end, the response's */
};

static void direct_unref(struct direct *x)
{
	if (x && atomic_fetch_sub(&x->refs, 1) == 1) {
		if (x->rfd >= 0)
			close(x->rfd);
		free(x);
	}
}

static ssize_t direct_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct direct *x = cls;
	ssize_t n;

	(void)pos;
	do
		n = read(x->rfd, buf, max);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		return n;
	/* A failed export ends the response without its last chunk: the client sees a broken
	 * transfer, never a short tarball taken for a whole one. */
	if (n == 0 && atomic_load(&x->status) == 1)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void direct_free(void *cls)
{
	direct_unref(cls);
}

struct export_job {
	struct daemon *d;
	char *instance;
	char *backup;
	char *dir;
	struct backup_export_opts opts;
	bool released;
	struct direct *direct; /* a direct export: the pipe's writing end is wfd */
	int wfd;
};

static void export_job_free(void *p)
{
	struct export_job *job = p;

	if (!job)
		return;
	if (!job->released)
		daemon_release(job->d, job->instance);
	if (job->wfd >= 0)
		close(job->wfd);
	direct_unref(job->direct);
	free(job->instance);
	free(job->backup);
	free(job->dir);
	free(job);
}

/* The instance is free again once its temporary snapshot is taken. */
static void export_release(void *ctx)
{
	struct export_job *job = ctx;

	if (!job->released)
		daemon_release(job->d, job->instance);
	job->released = true;
}

static int run_export(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct export_job *job = data;
	_cleanup_close_ int dfd = -EBADF, fd = -EBADF;
	int r;

	(void)ret_md;
	if (job->direct) {
		r = backup_export(&d->env, job->instance, &job->opts, job->wfd, err);
		atomic_store(&job->direct->status, r < 0 ? -1 : 1);
		close(job->wfd);
		job->wfd = -EBADF;
		return r;
	}
	r = mkdir_p(job->dir, 0700, err);
	if (r < 0)
		return r;
	dfd = open(job->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", job->dir);
	/* Unnamed until whole: a failed or killed export leaves no file behind. */
	fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to create the backup in \"%s\"",
				     job->dir);
	r = backup_export(&d->env, job->instance, &job->opts, fd, err);
	if (r < 0)
		return r;
	if (fsync(fd) < 0)
		return err_set_errno(err, -errno, "Failed to write backup \"%s\"", job->backup);
	if (linkat(fd, "", dfd, job->backup, AT_EMPTY_PATH) < 0) {
		if (errno == EEXIST)
			return err_set(err, -EEXIST,
				       "Backup \"%s\" of instance \"%s\" already exists",
				       job->backup, job->instance);
		return err_set_errno(err, -errno, "Failed to store backup \"%s\"", job->backup);
	}
	return 0;
}

/* backupN: the first free number, as Incus names them. */
static char *next_backup_name(const char *dir)
{
	for (unsigned i = 0; i < 100000; i++) {
		_cleanup_free_ char *name = str_printf("backup%u", i);
		_cleanup_free_ char *path = name ? str_printf("%s/%s", dir, name) : NULL;

		if (!path)
			return NULL;
		if (access(path, F_OK) < 0 && errno == ENOENT)
			return steal_pointer(&name);
	}
	return NULL;
}

HANDLER(handle_backups_create)
{
	const char *name = NULL, *compression = NULL;
	const char *accept = request_header(req, "Accept");
	bool instance_only = false, optimized = false, stateful = false, direct;
	struct MHD_Response *resp = NULL;
	struct export_job *job;
	int r;

	r = check_instance(d, req->params[0], err);
	if (r < 0)
		return r;
	if (req->body &&
	    ((r = body_string(req->body, "name", false, &name, err)) < 0 ||
	     (r = body_bool(req->body, "instance_only", &instance_only, err)) < 0 ||
	     (r = body_bool(req->body, "container_only", &instance_only, err)) < 0 ||
	     (r = body_bool(req->body, "optimized_storage", &optimized, err)) < 0 ||
	     (r = body_bool(req->body, "stateful", &stateful, err)) < 0 ||
	     (r = body_string(req->body, "compression_algorithm", false, &compression, err)) < 0))
		return r;
	if (name && *name && (r = backup_name_valid(name, err)) < 0)
		return r;
	job = calloc(1, sizeof(*job));
	if (!job)
		return err_set(err, -ENOMEM, "Out of memory");
	job->d = d;
	job->released = true;
	job->wfd = -EBADF;
	job->instance = strdup(req->params[0]);
	job->dir = backups_dir(d, req->params[0]);
	job->opts.instance_only = instance_only;
	job->opts.optimized = optimized;
	job->opts.stateful = stateful;
	job->opts.release = export_release;
	job->opts.release_ctx = job;
	if (!job->instance || !job->dir) {
		export_job_free(job);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	r = backup_compression_parse(compression, &job->opts.compression, err);
	if (r < 0) {
		export_job_free(job);
		return r;
	}
	direct = accept && strcmp(accept, "application/octet-stream") == 0;
	if (direct && name && *name) {
		export_job_free(job);
		return err_set(err, -EINVAL,
			       "A direct export (Accept: application/octet-stream) has no name");
	}
	job->backup = direct	      ? strdup("")
		      : name && *name ? strdup(name)
				      : next_backup_name(job->dir);
	if (!job->backup) {
		export_job_free(job);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	r = backup_export_allowed(&d->env, req->params[0], &job->opts, err);
	if (r < 0) {
		export_job_free(job);
		return r;
	}
	if (direct) {
		int fds[2];

		job->direct = calloc(1, sizeof(*job->direct));
		if (!job->direct || pipe2(fds, O_CLOEXEC) < 0) {
			export_job_free(job);
			return err_set(err, -ENOMEM, "Out of memory");
		}
		atomic_init(&job->direct->refs, 2);
		job->direct->rfd = fds[0];
		job->wfd = fds[1];
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 65536, direct_read,
							 job->direct, direct_free);
		if (!resp) {
			direct_unref(job->direct); /* the response's reference */
			export_job_free(job);
			return err_set(err, -ENOMEM, "Out of memory");
		}
		MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
	}
	/* Held only until the export's snapshot is taken (export_release()). */
	r = daemon_claim(d, req->params[0], err);
	if (r < 0) {
		if (resp)
			MHD_destroy_response(resp);
		export_job_free(job);
		return r;
	}
	job->released = false;
	{
		json_object *res = json_object_new_object(), *list = json_object_new_array();
		/* "/1.0/backups/<backup>", as LXD names it: its client (5.0) takes the backup's
		 * name by cutting that prefix off, Incus's and cairn's take the last segment. */
		_cleanup_free_ char *url = str_printf("/1.0/backups/%s", job->backup);

		if (!direct)
			json_object_array_add(list, json_object_new_string(url ? url : ""));
		json_object_object_add(res, "backups", list);
		r = operation_start(d, "Backing up instance", res, run_export, job, export_job_free,
				    NULL, ret_envelope, err);
	}
	if (r < 0) {
		if (resp)
			MHD_destroy_response(resp);
		return r;
	}
	if (resp) {
		const char *op = api_get_string(*ret_envelope, "operation");

		/* Where the client reads why, should the transfer break. */
		if (op)
			MHD_add_response_header(resp, "X-Cairn-Operation", op);
		req->response = resp;
		return 200;
	}
	return 202;
}

struct import_job {
	int fd;
	char *name;
	char *pool;
	bool restricted;
};

static void import_job_free(void *p)
{
	struct import_job *job = p;

	if (!job)
		return;
	if (job->fd >= 0)
		close(job->fd);
	free(job->name);
	free(job->pool);
	free(job);
}

static int run_import(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct import_job *job = data;
	struct backup_import_opts opts = {
	    .name = job->name, .pool = job->pool, .restricted = job->restricted};
	_cleanup_free_ char *name = NULL;
	json_object *md;
	int r;

	r = backup_import(&d->env, job->fd, &opts, &name, err);
	if (r < 0)
		return r;
	md = json_object_new_object();
	json_object_object_add(md, "name", json_object_new_string(name));
	*ret_md = md;
	return 0;
}

/* The import's target: the name (when given) must be free and the pool there, before a byte of
 * the upload is stored; the upload is spooled on that pool. */
int spool_instance_import(struct daemon *d, struct request *req, char **ret_dir, struct err **err)
{
	const char *name = import_header(req, "name");
	const char *pool_name = import_header(req, "pool");
	_cleanup_db_instance_ struct db_instance row = {0};
	struct storage_pool *pool;
	char *dir;
	int r;

	if (name && *name) {
		r = config_instance_name_valid(name, err);
		if (r < 0)
			return r;
		if (db_instance_get(d->env.db, name, &row, NULL) >= 0)
			return err_set(err, -EEXIST, "Instance \"%s\" already exists", name);
	}
	pool = instance_env_pool(&d->env, pool_name && *pool_name ? pool_name : "default");
	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found",
			       pool_name && *pool_name ? pool_name : "default");
	dir = strdup(pool->mount_path);
	if (!dir)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret_dir = dir;
	return 0;
}

int handle_instances_import(struct daemon *d, struct request *req, json_object **ret_envelope,
			    struct err **err)
{
	const char *name = import_header(req, "name");
	const char *pool = import_header(req, "pool");
	struct import_job *job;
	int r;

	if (lseek(req->body_fd, 0, SEEK_END) <= 0)
		return err_set(err, -EINVAL, "The backup file is empty");
	lseek(req->body_fd, 0, SEEK_SET);
	job = calloc(1, sizeof(*job));
	if (!job)
		return err_set(err, -ENOMEM, "Out of memory");
	job->fd = fcntl(req->body_fd, F_DUPFD_CLOEXEC, 3);
	job->name = name && *name ? strdup(name) : NULL;
	job->pool = pool && *pool ? strdup(pool) : NULL;
	job->restricted = request_restricted(d, req);
	if (job->fd < 0 || (name && *name && !job->name) || (pool && *pool && !job->pool)) {
		import_job_free(job);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	/* Cancellable: the unpacking stops between entries and removes what it made. */
	r = operation_start_cancellable(d, "Importing instance", json_object_new_object(),
					run_import, job, import_job_free, NULL, ret_envelope, err);
	return r < 0 ? r : 202;
}
