/* The transfers over HTTPS: push, pull and the daemon's own refresh (migration/migration.h). */
#include "migration/migration.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "instance/instance.h"
#include "migration/http.h"

char *migration_url_base(const char *url)
{
	const char *host, *slash;

	if (!url || !str_startswith(url, "https://"))
		return NULL;
	host = url + 8;
	slash = strchr(host, '/');
	if (slash == host)
		return NULL;
	return slash ? strndup(url, (size_t)(slash - url)) : strdup(url);
}

/* <op>/migration?secret=S */
static char *data_path(const char *op, const char *secret)
{
	for (const char *p = secret; p && *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return NULL;
	return secret ? str_printf("%s/migration?secret=%s", op, secret) : NULL;
}

/*
 * A reader of the source's stream in a thread of its own: the request that uploads it (push), or
 * the receive of a local refresh. It closes its end of the pipe as soon as it ends, so that the
 * source stops with EPIPE rather than waiting for ever.
 */
struct stream_reader {
	void *(*run)(void *self); /* gets the stream_reader, the first member of its owner */
	int fd;			  /* the pipe's reading end */
	int r;
	struct err *err;
	atomic_bool done; /* the reader ended (before the pipe was closed) */
};

static void stream_reader_ended(struct stream_reader *reader)
{
	atomic_store(&reader->done, true);
	if (reader->fd >= 0)
		close(reader->fd);
	reader->fd = -EBADF;
}

/*
 * Sends the stream of `name` for the target's `haves` into `reader`, and waits for both. A
 * reader that ended before the source failed refused, which broke the pipe: its error says why,
 * and is left in reader->r and reader->err for the caller. Otherwise the source's error is
 * returned (reader->err freed).
 */
static int send_to_reader(const struct instance_env *env, const char *name, json_object *haves,
			  const struct migration_opts *opts, struct stream_reader *reader,
			  struct err **err)
{
	_cleanup_err_ struct err *local = NULL;
	bool reader_first;
	pthread_t t;
	int fds[2], r;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return err_set_errno(err, -errno, "Failed to make a pipe");
	reader->fd = fds[0];
	r = -pthread_create(&t, NULL, reader->run, reader);
	if (r < 0) {
		close(fds[0]);
		close(fds[1]);
		reader->fd = -EBADF;
		return err_set_errno(err, r, "Failed to start the transfer");
	}
	r = migration_source_send(env, name, haves, opts, fds[1], &local);
	reader_first = atomic_load(&reader->done);
	close(fds[1]);
	pthread_join(t, NULL);
	if (r < 0 && (!(r == -EPIPE || reader_first) || reader->r >= 0)) {
		err_free(reader->err);
		reader->err = NULL;
		*err = steal_pointer(&local);
		return r;
	}
	return 0;
}

struct sender {
	struct stream_reader reader; /* first: run_request() gets its address */
	struct migration_http *h;
	const char *path;
	const char *body_json;
	int out_fd;
	uint64_t sent, received;
};

static void *run_request(void *p)
{
	struct sender *s = p;

	s->reader.r =
	    migration_http_stream(s->h, "POST", s->path, s->body_json, s->reader.fd, s->out_fd,
				  NULL, &s->sent, &s->received, &s->reader.err);
	stream_reader_ended(&s->reader);
	if (s->out_fd >= 0)
		close(s->out_fd);
	s->out_fd = -EBADF;
	return NULL;
}

int migration_push(const struct instance_env *env, const char *name, struct migration_http *h,
		   const char *op, const char *secret, const struct migration_opts *opts,
		   uint64_t *ret_bytes, struct err **err)
{
	_cleanup_free_ char *path = data_path(op, secret);
	_cleanup_json_ json_object *env_haves = NULL;
	struct sender s = {.reader = {.run = run_request, .fd = -EBADF}, .h = h, .out_fd = -EBADF};
	json_object *haves = NULL;
	int r;

	if (!path)
		return err_set(err, -EINVAL, "Invalid migration secret");
	r = migration_http_json(h, "GET", path, NULL, &env_haves, err);
	if (r < 0)
		return err_wrap(err, r, "The target refused the migration");
	if (!json_object_object_get_ex(env_haves, "metadata", &haves))
		return err_set(err, -EPROTO, "The target sent no snapshots list");
	s.path = path;
	r = send_to_reader(env, name, haves, opts, &s.reader, err);
	if (ret_bytes)
		*ret_bytes = s.sent;
	if (r < 0)
		return r;
	if (s.reader.r == -EIO) {
		_cleanup_err_ struct err *e = NULL;

		/* The target answered its refusal before the end of the stream and closed the
		 * connection; when that close cut its answer off here, its operation still says
		 * why it refused (to a daemon the target trusts: -EIO is its failure, anything
		 * else the wait's own, which says nothing of it). */
		if (migration_http_wait(h, op, NULL, &e) == -EIO && e) {
			err_free(s.reader.err);
			*err = steal_pointer(&e);
			return s.reader.r;
		}
	}
	if (s.reader.r < 0) {
		*err = s.reader.err;
		return s.reader.r;
	}
	err_free(s.reader.err);
	return 0;
}

struct receiver {
	struct stream_reader reader; /* first: run_receive() gets its address */
	const struct instance_env *env;
	const char *name, *pool;
	const struct migration_opts *opts;
	bool restricted;
};

static void *run_receive(void *p)
{
	struct receiver *x = p;

	x->reader.r = migration_target_receive(x->env, x->name, x->pool, x->opts, x->restricted,
					       x->reader.fd, &x->reader.err);
	stream_reader_ended(&x->reader);
	return NULL;
}

int migration_pull(const struct instance_env *env, const char *name, const char *pool,
		   struct migration_http *h, const char *op, const char *secret,
		   const struct migration_opts *opts, bool restricted, uint64_t *ret_bytes,
		   struct err **err)
{
	_cleanup_free_ char *path = data_path(op, secret);
	_cleanup_json_ json_object *haves = NULL;
	_cleanup_err_ struct err *remote = NULL;
	struct receiver x = {.reader = {.run = run_receive, .fd = -EBADF},
			     .env = env,
			     .name = name,
			     .pool = pool,
			     .opts = opts,
			     .restricted = restricted};
	uint64_t received = 0;
	pthread_t t;
	int fds[2], r;

	if (!path)
		return err_set(err, -EINVAL, "Invalid migration secret");
	r = migration_target_haves(env, name, pool, opts, &haves, err);
	if (r < 0)
		return r;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return err_set_errno(err, -errno, "Failed to make a pipe");
	x.reader.fd = fds[0];
	r = -pthread_create(&t, NULL, run_receive, &x);
	if (r < 0) {
		close(fds[0]);
		close(fds[1]);
		return err_set_errno(err, r, "Failed to start the transfer");
	}
	r = migration_http_stream(h, "POST", path,
				  json_object_to_json_string_ext(haves, JSON_C_TO_STRING_PLAIN), -1,
				  fds[1], NULL, NULL, &received, &remote);
	close(fds[1]);
	pthread_join(t, NULL);
	if (ret_bytes)
		*ret_bytes = received;
	/* The source's refusal says more than the receiver's "stream ended early"; but EPIPE is
	 * the receiver's own refusal, which says why. */
	if (r < 0 && (r != -EPIPE || x.reader.r >= 0)) {
		err_free(x.reader.err);
		*err = steal_pointer(&remote);
		return r;
	}
	if (x.reader.r < 0) {
		*err = x.reader.err;
		return x.reader.r;
	}
	err_free(x.reader.err);
	return 0;
}

int migration_local(const struct instance_env *env, const char *source, const char *target,
		    const char *pool, const struct migration_opts *opts, bool restricted,
		    struct err **err)
{
	_cleanup_json_ json_object *haves = NULL;
	struct receiver x = {.reader = {.run = run_receive, .fd = -EBADF},
			     .env = env,
			     .name = target,
			     .pool = pool,
			     .opts = opts,
			     .restricted = restricted};
	int r;

	r = migration_target_haves(env, target, pool, opts, &haves, err);
	if (r < 0)
		return r;
	/* The same stream as between daemons, through a pipe: the receiver's checks and its
	 * order of commits are the ones a remote refresh has. */
	r = send_to_reader(env, source, haves, opts, &x.reader, err);
	if (r < 0)
		return r;
	if (x.reader.r < 0) {
		*err = x.reader.err;
		return x.reader.r;
	}
	err_free(x.reader.err);
	return 0;
}

int migration_refresh_remote(const struct instance_env *env, const char *name,
			     const struct migration_remote *remote, const char *target_name,
			     const struct migration_opts *opts, uint64_t *ret_bytes,
			     struct err **err)
{
	_cleanup_free_ char *cert = str_printf("%s/server.crt", env->cairn_dir);
	_cleanup_free_ char *key = str_printf("%s/server.key", env->cairn_dir);
	_cleanup_free_ char *op = NULL;
	_cleanup_(migration_http_freep) struct migration_http *h = NULL;
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_json_ json_object *resp = NULL;
	json_object *source = json_object_new_object(), *md = NULL, *inner = NULL, *v = NULL;
	struct migration_opts o = *opts;
	const char *id, *secret = NULL;
	int r;

	if (!cert || !key)
		return err_set(err, -ENOMEM, "Out of memory");
	o.refresh = true;
	r = migration_http_new(remote->address, remote->certificate, cert, key, &h, err);
	if (r < 0)
		return r;
	json_object_object_add(body, "name",
			       json_object_new_string(target_name ? target_name : name));
	json_object_object_add(source, "type", json_object_new_string("migration"));
	json_object_object_add(source, "mode", json_object_new_string("push"));
	json_object_object_add(source, "refresh", json_object_new_boolean(true));
	json_object_object_add(source, "instance_only", json_object_new_boolean(o.instance_only));
	json_object_object_add(source, "refresh_exclude_older",
			       json_object_new_boolean(o.refresh_exclude_older));
	json_object_object_add(source, "refresh_prune", json_object_new_boolean(o.refresh_prune));
	json_object_object_add(body, "source", source);
	r = migration_http_json(h, "POST", "/1.0/instances", body, &resp, err);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(resp, "metadata", &md) || !(id = api_get_string(md, "id")) ||
	    !json_object_object_get_ex(md, "metadata", &inner) ||
	    !json_object_object_get_ex(inner, "fs", &v) || !(secret = json_object_get_string(v)))
		return err_set(err, -EPROTO, "\"%s\" answered without a migration operation",
			       remote->address);
	if (strspn(id, "0123456789abcdef-") != strlen(id))
		return err_set(err, -EPROTO, "\"%s\" answered an invalid operation id",
			       remote->address);
	op = str_printf("/1.0/operations/%s", id);
	if (!op)
		return err_set(err, -ENOMEM, "Out of memory");
	r = migration_push(env, name, h, op, secret, &o, ret_bytes, err);
	if (r < 0)
		return r;
	return migration_http_wait(h, op, NULL, err);
}
