/*
 * Migration between daemons, in Incus's shape with cairn's wire format (migration/migration.h):
 *
 *   source: POST /1.0/instances/<name> {"migration": true, "instance_only", "live": false,
 *           "target": null (pull) | {"operation", "certificate", "secrets": {"fs"}} (push)}
 *   target: POST /1.0/instances {"name", "source": {"type": "migration", "mode": "pull"|"push",
 *           "operation", "certificate", "secrets": {"fs"} (pull), "instance_only", "refresh",
 *           "refresh_exclude_older", "refresh_prune"}}
 *
 * Each answers with an operation whose metadata holds a random secret ("fs"). The data then
 * moves in one HTTP exchange on /1.0/operations/<id>/migration?secret=S, which the secret alone
 * authorises (also to an untrusted HTTPS client), once: a target in pull mode POSTs its haves to
 * the source operation and reads the stream as the answer; a source in push mode GETs the
 * target operation's haves and POSTs the stream to it, whose answer comes once the target has
 * committed it. An operation that nobody comes to within 30 s fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/api.h"
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
#include "migration/http.h"
#include "migration/migration.h"

/* How long an operation waits for the other side's data request. */
#define ATTACH_TIMEOUT_SEC 30

/* That wait: ATTACH_TIMEOUT_SEC, or for the tests CAIRN_MIGRATION_ATTACH_TIMEOUT seconds
 * (1 to 3600; anything else is ignored), as the other test hooks take the environment. */
static int attach_timeout(void)
{
	const char *v = getenv("CAIRN_MIGRATION_ATTACH_TIMEOUT");
	char *end = NULL;
	long sec;

	if (!v || !*v)
		return ATTACH_TIMEOUT_SEC;
	sec = strtol(v, &end, 10);
	if (*end || sec < 1 || sec > 3600)
		return ATTACH_TIMEOUT_SEC;
	return (int)sec;
}

enum mig_role {
	MIG_SOURCE,
	MIG_TARGET,
	MIG_ROLE_MAX,
};

/* One side of a transfer, from its request until its worker ends. Fields below `lock` are
 * read and written under mig_lock. */
struct mig {
	struct mig *next;
	atomic_int refs;
	struct daemon *d;
	enum mig_role role;
	char *name;	/* the instance: the source's, or the target's name */
	char *pool;	/* the target's pool, NULL: its own or "default" */
	char *snapshot; /* the source's snapshot sent as the instance, NULL: the instance */
	struct migration_opts opts;
	bool restricted;
	bool released;		  /* the source's claim on its instance is given back */
	struct migration_http *h; /* the other side, when this one connects to it */
	char *peer_op, *peer_secret;
	char secret[65];
	/* lock */
	char op_id[64];
	bool haves_given; /* a target's haves were asked for (once) */
	bool attached;	  /* the data request came (once) */
	bool finished;	  /* the worker ended: nothing may attach */
	json_object *haves;
	int fd;		     /* the stream: its writing end (source) or reading end (target) */
	int status;	     /* source: 0 sending, 1 sent whole, -1 failed (the answer's end) */
	uint64_t bytes;	     /* source: counted by the answer as it goes */
	bool response_done;  /* source: the answer ended */
	int rfd;	     /* source: the answer's end of the pipe */
	bool post_done;	     /* target: the stream's request is over */
	uint64_t post_bytes; /* and carried this much */
	bool result_ready;   /* target: the receive ended */
	int result;
	char *result_msg;
};

static pthread_mutex_t mig_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mig_changed = PTHREAD_COND_INITIALIZER;
static struct mig *migs;

static void mig_unref(struct mig *m)
{
	if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
		return;
	/* The source's instance, or the target's name, held for the transfer. */
	if (!m->released)
		daemon_release(m->d, m->name);
	json_object_put(m->haves);
	if (m->fd >= 0)
		close(m->fd);
	if (m->rfd >= 0)
		close(m->rfd);
	migration_http_free(m->h);
	free(m->name);
	free(m->pool);
	free(m->snapshot);
	free(m->peer_op);
	free(m->peer_secret);
	free(m->result_msg);
	free(m);
}

static void mig_free(void *p)
{
	struct mig *m = p;

	/* The worker is done: out of the registry, so no request finds it any more. */
	pthread_mutex_lock(&mig_lock);
	for (struct mig **pp = &migs; *pp; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	m->finished = true;
	pthread_cond_broadcast(&mig_changed);
	pthread_mutex_unlock(&mig_lock);
	mig_unref(m);
}

/* The live transfer of operation `op` with `secret` in `role`, with a reference; NULL when none
 * matches (unknown operation, wrong secret, wrong kind, already finished). Under mig_lock. */
static struct mig *find_locked(const char *op, const char *secret, enum mig_role role)
{
	for (struct mig *m = migs; m; m = m->next)
		if (!m->finished && m->role == role && strcmp(m->op_id, op) == 0 &&
		    secret_equal(m->secret, secret)) {
			atomic_fetch_add(&m->refs, 1);
			return m;
		}
	return NULL;
}

static int refused(struct err **err)
{
	return err_set(err, -EPERM, "Unknown migration operation, wrong secret, or already used");
}

/* Waits under mig_lock until *flag or `sec` seconds; false on timeout. */
static bool wait_flag_locked(const bool *flag, int sec)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += sec;
	while (!*flag)
		if (pthread_cond_timedwait(&mig_changed, &mig_lock, &deadline) != 0)
			return *flag;
	return true;
}

static void source_release(void *ctx)
{
	struct mig *m = ctx;

	if (!m->released)
		daemon_release(m->d, m->name);
	m->released = true;
}

static void add_bytes(json_object **ret_md, uint64_t bytes)
{
	*ret_md = json_object_new_object();
	json_object_object_add(*ret_md, "bytes", json_object_new_int64((int64_t)bytes));
}

static int run_source(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct mig *m = data;
	_cleanup_json_ json_object *haves = NULL;
	uint64_t bytes = 0;
	int r, fd, timeout = attach_timeout();

	if (m->h) {
		r = migration_push(&d->env, m->name, m->h, m->peer_op, m->peer_secret, &m->opts,
				   &bytes, err);
		add_bytes(ret_md, bytes);
		return r;
	}
	pthread_mutex_lock(&mig_lock);
	if (!wait_flag_locked(&m->attached, timeout)) {
		m->finished = true;
		pthread_mutex_unlock(&mig_lock);
		return err_set(err, -ETIMEDOUT,
			       "Nobody came for the migration of \"%s\" within %d s", m->name,
			       timeout);
	}
	haves = steal_pointer(&m->haves);
	fd = m->fd;
	m->fd = -EBADF;
	pthread_mutex_unlock(&mig_lock);
	r = migration_source_send(&d->env, m->name, haves, &m->opts, fd, err);
	pthread_mutex_lock(&mig_lock);
	m->status = r < 0 ? -1 : 1;
	pthread_mutex_unlock(&mig_lock);
	close(fd);
	/* The answer drains the pipe: its count is what went on the wire. */
	pthread_mutex_lock(&mig_lock);
	wait_flag_locked(&m->response_done, 60);
	bytes = m->bytes;
	pthread_mutex_unlock(&mig_lock);
	add_bytes(ret_md, bytes);
	return r;
}

static int run_target(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct mig *m = data;
	uint64_t bytes = 0;
	int r, fd, timeout = attach_timeout();

	if (m->h) {
		r = migration_pull(&d->env, m->name, m->pool, m->h, m->peer_op, m->peer_secret,
				   &m->opts, m->restricted, &bytes, err);
		add_bytes(ret_md, bytes);
		return r;
	}
	pthread_mutex_lock(&mig_lock);
	if (!wait_flag_locked(&m->attached, timeout)) {
		m->finished = true;
		pthread_mutex_unlock(&mig_lock);
		return err_set(err, -ETIMEDOUT,
			       "Nobody came with the migration of \"%s\" within %d s", m->name,
			       timeout);
	}
	fd = m->fd;
	m->fd = -EBADF;
	pthread_mutex_unlock(&mig_lock);
	r = migration_target_receive(&d->env, m->name, m->pool, &m->opts, m->restricted, fd, err);
	close(fd);
	pthread_mutex_lock(&mig_lock);
	m->result_ready = true;
	m->result = r;
	m->result_msg = r < 0 ? strdup(err_msg(*err, r)) : NULL;
	pthread_cond_broadcast(&mig_changed);
	/* The request that brought the stream says how much it carried. */
	wait_flag_locked(&m->post_done, 10);
	bytes = m->post_bytes;
	pthread_mutex_unlock(&mig_lock);
	add_bytes(ret_md, bytes);
	return r;
}

static struct mig *mig_new(struct daemon *d, enum mig_role role, const char *name)
{
	struct mig *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	atomic_init(&m->refs, 1);
	m->d = d;
	m->role = role;
	m->fd = -EBADF;
	m->rfd = -EBADF;
	m->released = true;
	m->name = strdup(name);
	if (!m->name || secret_random_hex(m->secret) < 0) {
		mig_unref(m);
		return NULL;
	}
	return m;
}

/* The other side's operation, certificate and secret, for a side that connects to it: the
 * client is made here, so that a bad address or certificate is refused before anything runs. */
static int peer_of(struct mig *m, json_object *o, struct err **err)
{
	_cleanup_free_ char *cert = str_printf("%s/server.crt", m->d->dir);
	_cleanup_free_ char *key = str_printf("%s/server.key", m->d->dir);
	_cleanup_free_ char *base = NULL;
	const char *op = NULL, *pem = NULL, *secret = NULL;
	json_object *secrets = NULL;
	int r;

	if ((r = body_string(o, "operation", true, &op, err)) < 0 ||
	    (r = body_string(o, "certificate", true, &pem, err)) < 0 ||
	    (r = body_object(o, "secrets", true, &secrets, err)) < 0 ||
	    (r = body_string(secrets, "fs", true, &secret, err)) < 0)
		return r;
	base = migration_url_base(op);
	if (!base || !strstr(op, "/1.0/operations/"))
		return err_set(err, -EINVAL,
			       "Invalid migration operation \"%s\": it must be "
			       "https://ADDRESS/1.0/operations/ID",
			       op);
	if (strlen(secret) != 64 || strspn(secret, "0123456789abcdef") != 64)
		return err_set(err, -EINVAL, "Invalid migration secret");
	if (!cert || !key)
		return err_set(err, -ENOMEM, "Out of memory");
	r = migration_http_new(base, pem, cert, key, &m->h, err);
	if (r < 0)
		return r;
	m->peer_op = strdup(op);
	m->peer_secret = strdup(secret);
	if (!m->peer_op || !m->peer_secret)
		return err_set(err, -ENOMEM, "Out of memory");
	return 0;
}

/* Starts the operation of `m` (taken over) and registers it under its id. */
static int mig_start(struct daemon *d, struct mig *m, const char *description,
		     json_object **ret_envelope, struct err **err)
{
	json_object *md = json_object_new_object(), *resources = json_object_new_object();
	json_object *list = json_object_new_array(), *op = NULL, *id = NULL;
	_cleanup_free_ char *url = str_printf("/1.0/instances/%s", m->name);
	int r;

	json_object_object_add(md, "fs", json_object_new_string(m->secret));
	json_object_array_add(list, json_object_new_string(url ? url : ""));
	json_object_object_add(resources, "instances", list);
	/* In the registry before the work starts, so that the worker's end always finds it
	 * there; no request matches it before its id is known. */
	pthread_mutex_lock(&mig_lock);
	m->next = migs;
	migs = m;
	pthread_mutex_unlock(&mig_lock);
	r = operation_start_with_metadata(d, description, resources, md,
					  m->role == MIG_SOURCE ? run_source : run_target, m,
					  mig_free, ret_envelope, err);
	if (r < 0)
		return r;
	if (json_object_object_get_ex(*ret_envelope, "metadata", &op) &&
	    json_object_object_get_ex(op, "id", &id)) {
		pthread_mutex_lock(&mig_lock);
		snprintf(m->op_id, sizeof(m->op_id), "%s", json_object_get_string(id));
		pthread_mutex_unlock(&mig_lock);
	}
	return 202;
}

/* The source's side of instance req->params[0], or of its snapshot `snapshot` (NULL: none). */
static int source_migrate(struct daemon *d, struct request *req, const char *snapshot,
			  json_object **ret_envelope, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	json_object *target = NULL;
	bool live = false, instance_only = false;
	struct mig *m;
	int r;

	if ((r = body_bool(req->body, "live", &live, err)) < 0 ||
	    (r = body_bool(req->body, "instance_only", &instance_only, err)) < 0 ||
	    (r = body_bool(req->body, "container_only", &instance_only, err)) < 0)
		return r;
	if (json_object_object_get_ex(req->body, "target", &target) &&
	    json_object_is_type(target, json_type_null))
		target = NULL;
	if (target && !json_object_is_type(target, json_type_object))
		return err_set(err, -EINVAL, "Invalid \"target\": it must be an object or null");
	if (live)
		return err_set(err, -EOPNOTSUPP,
			       "Live migration is not supported: copy or move the instance "
			       "stateless (--stateless)");
	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	if (snapshot) {
		_cleanup_(db_snapshot_done) struct db_snapshot srow = {0};

		r = db_snapshot_get(d->env.db, row.name, snapshot, &srow, err);
		if (r >= 0 && srow.state != DB_ROW_READY)
			r = err_set(err, -ENOENT, "Snapshot \"%s/%s\" not found", row.name,
				    snapshot);
		if (r < 0)
			return r;
	}
	m = mig_new(d, MIG_SOURCE, row.name);
	if (!m)
		return err_set(err, -ENOMEM, "Out of memory");
	if (snapshot && !(m->snapshot = strdup(snapshot))) {
		mig_unref(m);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	m->opts.snapshot = m->snapshot;
	m->opts.instance_only = instance_only;
	/* The target decides what a refresh is; the source sends what it lacks either way. */
	m->opts.refresh = true;
	m->opts.release = source_release;
	m->opts.release_ctx = m;
	if (target && (r = peer_of(m, target, err)) < 0) {
		mig_unref(m);
		return r;
	}
	/* Held until the stream's temporary snapshot is taken (source_release()). */
	r = daemon_claim(d, row.name, err);
	if (r < 0) {
		mig_unref(m);
		return r;
	}
	m->released = false;
	return mig_start(d, m, snapshot ? "Migrating snapshot" : "Migrating instance", ret_envelope,
			 err);
}

int api_instance_migrate(struct daemon *d, struct request *req, json_object **ret_envelope,
			 struct err **err)
{
	return source_migrate(d, req, NULL, ret_envelope, err);
}

int api_snapshot_migrate(struct daemon *d, struct request *req, json_object **ret_envelope,
			 struct err **err)
{
	return source_migrate(d, req, req->params[1], ret_envelope, err);
}

int api_instances_migration(struct daemon *d, struct request *req, const char *name,
			    json_object *source, const char *pool, json_object **ret_envelope,
			    struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	const char *mode = "pull";
	bool exists;
	struct mig *m;
	int r;

	m = mig_new(d, MIG_TARGET, name);
	if (!m)
		return err_set(err, -ENOMEM, "Out of memory");
	if ((r = body_string(source, "mode", false, &mode, err)) < 0 ||
	    (r = body_bool(source, "instance_only", &m->opts.instance_only, err)) < 0 ||
	    (r = body_bool(source, "container_only", &m->opts.instance_only, err)) < 0 ||
	    (r = body_bool(source, "refresh", &m->opts.refresh, err)) < 0 ||
	    (r = body_bool(source, "refresh_exclude_older", &m->opts.refresh_exclude_older, err)) <
		0 ||
	    (r = body_bool(source, "refresh_prune", &m->opts.refresh_prune, err)) < 0) {
		mig_unref(m);
		return r;
	}
	m->restricted = request_restricted(d, req);
	if (pool && !(m->pool = strdup(pool))) {
		mig_unref(m);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	if (pool && !instance_env_pool(&d->env, pool)) {
		mig_unref(m);
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", pool);
	}
	exists = instance_get(&d->env, name, &row, NULL) >= 0;
	r = 0;
	if (exists && !m->opts.refresh)
		r = err_set(err, -EEXIST, "Instance \"%s\" already exists", name);
	else if (exists)
		r = migration_refresh_allowed(&d->env, name, err);
	if (r >= 0 && strcmp(mode, "pull") == 0)
		r = peer_of(m, source, err);
	else if (r >= 0 && strcmp(mode, "push") != 0)
		r = err_set(err, -EINVAL, "Invalid migration mode \"%s\" (use pull or push)", mode);
	if (r < 0) {
		mig_unref(m);
		return r;
	}
	/* The name is held for the whole transfer: no create, copy or delete meanwhile. */
	r = daemon_claim(d, name, err);
	if (r < 0) {
		mig_unref(m);
		return r;
	}
	m->released = false;
	return mig_start(d, m, exists ? "Refreshing instance" : "Creating instance", ret_envelope,
			 err);
}

/* GET: a target's haves, asked for by the source in push mode. */
HANDLER(handle_operation_migration_get)
{
	_cleanup_json_ json_object *haves = NULL;
	struct mig *m;
	int r;

	pthread_mutex_lock(&mig_lock);
	m = find_locked(req->params[0], request_query(req, "secret"), MIG_TARGET);
	if (m && (m->haves_given || m->attached)) {
		mig_unref(m);
		m = NULL;
	}
	if (m)
		m->haves_given = true;
	pthread_mutex_unlock(&mig_lock);
	if (!m)
		return refused(err);
	r = migration_target_haves(&d->env, m->name, m->pool, &m->opts, &haves, err);
	mig_unref(m);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(steal_pointer(&haves));
	return 200;
}

/* The answer of a source in pull mode: the stream, from the pipe the worker writes. */
static ssize_t source_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct mig *m = cls;
	ssize_t n;
	int status;

	(void)pos;
	do
		n = read(m->rfd, buf, max);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		pthread_mutex_lock(&mig_lock);
		m->bytes += (uint64_t)n;
		pthread_mutex_unlock(&mig_lock);
		return n;
	}
	pthread_mutex_lock(&mig_lock);
	status = m->status;
	pthread_mutex_unlock(&mig_lock);
	/* A failed source ends the answer without its last chunk: the target sees a broken
	 * transfer, never a short stream taken for a whole one. */
	if (n == 0 && status == 1)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void source_read_free(void *cls)
{
	struct mig *m = cls;

	pthread_mutex_lock(&mig_lock);
	m->response_done = true;
	/* A target that went away makes the worker's next write fail rather than wait. */
	if (m->rfd >= 0)
		close(m->rfd);
	m->rfd = -EBADF;
	pthread_cond_broadcast(&mig_changed);
	pthread_mutex_unlock(&mig_lock);
	mig_unref(m);
}

/* The streamed body of a POST to a target in push mode: checked and handed to its worker
 * before a byte of it is read. */
int stream_operation_migration(struct daemon *d, struct request *req, int *ret_fd, struct err **err)
{
	struct mig *m;
	int fds[2];

	(void)d;
	pthread_mutex_lock(&mig_lock);
	m = find_locked(req->params[0], request_query(req, "secret"), MIG_TARGET);
	if (m && m->attached) {
		mig_unref(m);
		m = NULL;
	}
	if (m && pipe2(fds, O_CLOEXEC) < 0) {
		pthread_mutex_unlock(&mig_lock);
		mig_unref(m);
		return err_set_errno(err, -errno, "Failed to make a pipe");
	}
	if (m) {
		m->attached = true;
		m->fd = fds[0];
		*ret_fd = fds[1];
		pthread_cond_broadcast(&mig_changed);
	}
	pthread_mutex_unlock(&mig_lock);
	if (!m)
		return refused(err);
	mig_unref(m);
	return 0;
}

/* POST: with a JSON body (the target's haves) to a source in pull mode, answered with the
 * stream; with the stream as its body (stream_operation_migration()) to a target in push
 * mode, answered once the target committed it. */
HANDLER(handle_operation_migration_post)
{
	const char *secret = request_query(req, "secret");
	struct MHD_Response *resp;
	struct mig *m;
	int fds[2], r;

	if (req->body_streamed || req->body_stream_error ||
	    (request_header(req, "Content-Type") &&
	     str_startswith(request_header(req, "Content-Type"), "application/octet-stream"))) {
		pthread_mutex_lock(&mig_lock);
		for (m = migs; m; m = m->next)
			if (m->role == MIG_TARGET && strcmp(m->op_id, req->params[0]) == 0 &&
			    secret_equal(m->secret, secret))
				break;
		if (!m) {
			pthread_mutex_unlock(&mig_lock);
			return refused(err);
		}
		atomic_fetch_add(&m->refs, 1);
		m->post_done = true;
		m->post_bytes = req->body_streamed;
		pthread_cond_broadcast(&mig_changed);
		while (!m->result_ready && !m->finished)
			pthread_cond_wait(&mig_changed, &mig_lock);
		r = m->result_ready ? m->result : -EIO;
		if (r < 0)
			r = err_set(err, r, "%s",
				    m->result_msg ? m->result_msg : "The migration failed");
		pthread_mutex_unlock(&mig_lock);
		mig_unref(m);
		if (r < 0)
			return r;
		*ret_envelope = api_sync(NULL);
		return 200;
	}
	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	pthread_mutex_lock(&mig_lock);
	m = find_locked(req->params[0], secret, MIG_SOURCE);
	if (m && m->attached) {
		mig_unref(m);
		m = NULL;
	}
	if (!m) {
		pthread_mutex_unlock(&mig_lock);
		return refused(err);
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		pthread_mutex_unlock(&mig_lock);
		mig_unref(m);
		return err_set_errno(err, -errno, "Failed to make a pipe");
	}
	/* The answer holds the reference taken by find_locked(). */
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 65536, source_read, m,
						 source_read_free);
	if (!resp) {
		close(fds[0]);
		close(fds[1]);
		pthread_mutex_unlock(&mig_lock);
		mig_unref(m);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	m->rfd = fds[0];
	m->fd = fds[1];
	m->haves = json_object_get(req->body);
	m->attached = true;
	pthread_cond_broadcast(&mig_changed);
	pthread_mutex_unlock(&mig_lock);
	MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
	req->response = resp;
	return 200;
}
