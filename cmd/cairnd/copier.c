#include "cmd/cairnd/copier.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "api/api.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/events.h"
#include "common/cancel.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/log.h"
#include "common/util.h"
#include "config/db.h"
#include "config/profiles.h"
#include "instance/instance.h"
#include "migration/migration.h"
#include "snapshots/copy.h"

/* A busy instance (another operation holds it) is tried again this soon, without counting it
 * as a failure. */
#define BUSY_RETRY_SEC 5

/* One transfer in flight. */
struct job {
	char *name;	    /* the instance */
	bool again;	    /* a scheduled snapshot came while it ran: owe another refresh */
	bool done;	    /* the worker has finished; the thread joins it */
	atomic_bool cancel; /* set at stop */
	int64_t busy_until; /* the instance was busy: not before this */
	pthread_t thread;
	struct daemon *d;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct job *jobs[COPIER_MAX_RUNNING];
/* Instances found busy, with when to look again (names and times, in step). */
static char **busy_names;
static int64_t *busy_times;
static size_t n_busy;
static pthread_t thread;
static bool started;
static int wake_fd = -EBADF, stop_fd = -EBADF;
static struct daemon *daemon_ref;
static int64_t retry_first = SNAPSHOT_COPY_RETRY_FIRST;

static void signal_fd(int fd)
{
	uint64_t one = 1;

	if (fd >= 0)
		(void)!write(fd, &one, sizeof(one));
}

void copier_wake(void)
{
	signal_fd(wake_fd);
}

static const char *copy_target(const struct db_instance *row)
{
	const char *t = kvlist_get(&row->expanded_config, "snapshots.copy.target");

	return t && *t ? t : NULL;
}

void copier_owe(struct daemon *d, const char *name)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_err_ struct err *e = NULL;
	int r;

	if (instance_get(&d->env, name, &row, NULL) < 0 || !copy_target(&row))
		return;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < COPIER_MAX_RUNNING; i++)
		if (jobs[i] && strcmp(jobs[i]->name, name) == 0)
			jobs[i]->again = true;
	r = db_copy_state_owe(d->env.db, name, &e);
	pthread_mutex_unlock(&lock);
	if (r < 0)
		log_error("Failed to record the refresh owed by \"%s\": %s", name, err_msg(e, r));
	copier_wake();
}

/* ---- one transfer ---------------------------------------------------------------------- */

static void emit(const char *action, const char *instance, json_object *ctx)
{
	_cleanup_free_ char *source = str_printf("/1.0/instances/%s", instance);
	json_object *md = json_object_new_object();

	if (!source || !md) {
		json_object_put(md);
		json_object_put(ctx);
		return;
	}
	json_object_object_add(md, "action", json_object_new_string(action));
	json_object_object_add(md, "source", json_object_new_string(source));
	json_object_object_add(md, "context", ctx);
	events_emit("lifecycle", md);
}

/* The claim on the instance, given back as soon as the transfer no longer needs it. */
struct claim {
	struct daemon *d;
	const char *name;
	bool held;
};

static void release_claim(void *ctx)
{
	struct claim *c = ctx;

	if (c->held)
		daemon_release(c->d, c->name);
	c->held = false;
}

/*
 * Refreshes the target of instance `name`. Returns 0 with *ret_bytes, a negative errno with
 * err, or -EBUSY without err when another operation holds the instance (not a failure of the
 * refresh: it is simply tried again shortly). *ret_target is the target it was for.
 */
static int refresh(struct daemon *d, const char *name, char **ret_target, uint64_t *ret_bytes,
		   struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_free_ char *remote = NULL, *target_name = NULL;
	_cleanup_(db_remote_done) struct db_remote rem = {0};
	struct claim claim = {.d = d, .name = name};
	struct migration_opts opts = {
	    .refresh = true, .release = release_claim, .release_ctx = &claim};
	const char *target;
	int r;

	r = instance_get(&d->env, name, &row, err);
	if (r < 0)
		return r;
	target = copy_target(&row);
	if (!target)
		return 0;
	*ret_target = strdup(target);
	if (!*ret_target)
		return err_set(err, -ENOMEM, "Out of memory");
	r = snapshot_copy_target_parse(target, name, &remote, &target_name, err);
	if (r < 0)
		return r;
	r = db_remote_get(d->env.db, remote, &rem, NULL);
	if (r < 0)
		return err_set(err, -ENOENT,
			       "Remote \"%s\" (snapshots.copy.target) is not one of the daemon's "
			       "remotes: add it with \"cairn config remote add %s TOKEN\"",
			       remote, remote);
	if (daemon_claim(d, name, NULL) < 0)
		return -EBUSY;
	claim.held = true;
	r = migration_refresh_remote(
	    &d->env, name,
	    &(struct migration_remote){.address = rem.address, .certificate = rem.certificate},
	    target_name, &opts, ret_bytes, err);
	release_claim(&claim);
	if (r < 0)
		return err_wrap(err, r, "Refresh of \"%s\" on remote \"%s\" failed", target_name,
				remote);
	return 0;
}

/* Records the outcome of a transfer of `job` and says so (log, event). */
static void record(struct daemon *d, struct job *job, const char *target, int64_t started_at,
		   uint64_t bytes, int r, struct err *e)
{
	_cleanup_(db_copy_state_done) struct db_copy_state s = {0};
	_cleanup_err_ struct err *we = NULL;
	int64_t now = time_now();
	const char *msg = r < 0 ? err_msg(e, r) : NULL;
	json_object *ctx;
	int q;

	pthread_mutex_lock(&lock);
	q = db_copy_state_get(d->env.db, job->name, &s, &we);
	if (q >= 0) {
		if (snapshot_copy_record(&s, target, started_at, now, bytes, msg, retry_first,
					 SNAPSHOT_COPY_RETRY_MAX) < 0)
			q = err_set(&we, -ENOMEM, "Out of memory");
		/* A snapshot taken while the transfer ran may not be in it. */
		if (job->again)
			s.owed = true;
		if (q >= 0)
			q = db_copy_state_put(d->env.db, job->name, &s, &we);
	}
	pthread_mutex_unlock(&lock);
	if (q < 0 && q != -ENOENT)
		log_error("Failed to record the refresh of \"%s\": %s", job->name, err_msg(we, q));
	if (q == -ENOENT)
		return; /* the instance is gone */

	ctx = json_object_new_object();
	json_object_object_add(ctx, "target", json_object_new_string(target ? target : ""));
	if (r >= 0) {
		log_info("Refreshed the snapshot server \"%s\" of \"%s\" (%" PRIu64 " bytes sent)",
			 target, job->name, bytes);
		json_object_object_add(ctx, "bytes", json_object_new_int64((int64_t)bytes));
		emit("instance-snapshot-server-refreshed", job->name, ctx);
	} else {
		_cleanup_free_ char *next = time_format_rfc3339(s.next_retry);

		log_error("Failed to refresh the snapshot server \"%s\" of \"%s\" (attempt %" PRId64
			  ", next at %s): %s",
			  target ? target : "", job->name, s.failures, next ? next : "?", msg);
		json_object_object_add(ctx, "error", json_object_new_string(msg));
		json_object_object_add(ctx, "failures", json_object_new_int64(s.failures));
		json_object_object_add(ctx, "next_retry", json_object_new_string(next ? next : ""));
		emit("instance-snapshot-server-refresh-failed", job->name, ctx);
	}
}

static void *work(void *arg)
{
	struct job *job = arg;
	struct daemon *d = job->d;
	_cleanup_free_ char *target = NULL;
	_cleanup_err_ struct err *e = NULL;
	int64_t started_at = time_now();
	uint64_t bytes = 0;
	int r;

	cancel_bind(&job->cancel);
	r = refresh(d, job->name, &target, &bytes, &e);
	cancel_bind(NULL);
	if (r == -EBUSY && !e) {
		pthread_mutex_lock(&lock);
		job->busy_until = time_now() + BUSY_RETRY_SEC;
		pthread_mutex_unlock(&lock);
	} else if (!target) {
		/* The key is gone: nothing is owed any more. */
		_cleanup_(db_copy_state_done) struct db_copy_state s = {0};

		pthread_mutex_lock(&lock);
		if (db_copy_state_get(d->env.db, job->name, &s, NULL) >= 0 && s.owed) {
			s.owed = false;
			s.next_retry = 0;
			db_copy_state_put(d->env.db, job->name, &s, NULL);
		}
		pthread_mutex_unlock(&lock);
	} else {
		record(d, job, target, started_at, bytes, r, e);
	}
	pthread_mutex_lock(&lock);
	job->done = true;
	pthread_mutex_unlock(&lock);
	copier_wake();
	return NULL;
}

/* ---- the deciding thread ----------------------------------------------------------------- */

static void job_free(struct job *job)
{
	if (!job)
		return;
	free(job->name);
	free(job);
}

static int64_t busy_until(const char *name)
{
	for (size_t i = 0; i < n_busy; i++)
		if (strcmp(busy_names[i], name) == 0)
			return busy_times[i];
	return 0;
}

static void set_busy(const char *name, int64_t until)
{
	for (size_t i = 0; i < n_busy; i++)
		if (strcmp(busy_names[i], name) == 0) {
			busy_times[i] = until;
			return;
		}
	{
		char **nn = realloc(busy_names, (n_busy + 1) * sizeof(*nn));
		int64_t *nt;

		if (!nn)
			return;
		busy_names = nn;
		nt = realloc(busy_times, (n_busy + 1) * sizeof(*nt));
		if (!nt)
			return;
		busy_times = nt;
		busy_names[n_busy] = strdup(name);
		if (!busy_names[n_busy])
			return;
		busy_times[n_busy++] = until;
	}
}

/* Joins the finished workers (under the lock). */
static void reap(void)
{
	for (size_t i = 0; i < COPIER_MAX_RUNNING; i++) {
		if (!jobs[i] || !jobs[i]->done)
			continue;
		pthread_join(jobs[i]->thread, NULL);
		if (jobs[i]->busy_until)
			set_busy(jobs[i]->name, jobs[i]->busy_until);
		job_free(jobs[i]);
		jobs[i] = NULL;
	}
}

static bool running(const char *name)
{
	for (size_t i = 0; i < COPIER_MAX_RUNNING; i++)
		if (jobs[i] && strcmp(jobs[i]->name, name) == 0)
			return true;
	return false;
}

/* Starts what is due and free to go; returns the earliest time something waits for (0: none). */
static int64_t pass(struct daemon *d)
{
	_cleanup_strv_ char **names = NULL;
	struct db_copy_state *states = NULL;
	_cleanup_err_ struct err *e = NULL;
	int64_t now = time_now(), next = 0;
	size_t n = 0;
	int r;

	r = db_copy_state_owed(d->env.db, &names, &states, &n, &e);
	if (r < 0) {
		log_error("Snapshot server: %s", err_msg(e, r));
		return now + BUSY_RETRY_SEC;
	}
	pthread_mutex_lock(&lock);
	reap();
	for (size_t i = 0; i < n; i++) {
		int64_t at = states[i].next_retry, b = busy_until(names[i]);
		struct job *job;
		size_t slot;

		if (b > at)
			at = b;
		if (at > now) {
			if (!next || at < next)
				next = at;
			continue;
		}
		if (!snapshot_copy_due(&states[i], now) || running(names[i]))
			continue;
		for (slot = 0; slot < COPIER_MAX_RUNNING && jobs[slot]; slot++)
			;
		if (slot == COPIER_MAX_RUNNING)
			break; /* the cap: a worker's end wakes the thread */
		job = calloc(1, sizeof(*job));
		if (!job || !(job->name = strdup(names[i]))) {
			job_free(job);
			break;
		}
		job->d = d;
		if (pthread_create(&job->thread, NULL, work, job) != 0) {
			log_error("Snapshot server: failed to start a transfer of \"%s\"",
				  names[i]);
			job_free(job);
			next = now + BUSY_RETRY_SEC;
			break;
		}
		jobs[slot] = job;
	}
	pthread_mutex_unlock(&lock);
	db_copy_states_free(states, n);
	return next;
}

static void drain(int fd)
{
	uint64_t v;

	(void)!read(fd, &v, sizeof(v));
}

static void *run(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd fds[2] = {{.fd = wake_fd, .events = POLLIN},
					{.fd = stop_fd, .events = POLLIN}};
		int64_t next = pass(daemon_ref), now = time_now();
		int timeout = -1;

		if (next > 0)
			timeout = next > now ? (int)((next - now) * 1000) : 0;
		/* Wakes at least every minute: the wall clock may have been set. */
		if (timeout < 0 || timeout > 60000)
			timeout = 60000;
		while (poll(fds, 2, timeout) < 0 && errno == EINTR)
			;
		if (fds[1].revents)
			return NULL;
		if (fds[0].revents)
			drain(wake_fd);
	}
}

int copier_start(struct daemon *d, struct err **err)
{
	const char *first = getenv("CAIRN_COPY_RETRY_FIRST");
	int r;

	if (first && *first && atoll(first) > 0)
		retry_first = atoll(first);
	daemon_ref = d;
	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake_fd < 0 || stop_fd < 0)
		return err_set_errno(err, -errno,
				     "Failed to create the snapshot server's descriptors");
	r = -pthread_create(&thread, NULL, run, NULL);
	if (r < 0)
		return err_set(err, r, "Failed to start the snapshot server's thread");
	started = true;
	return 0;
}

void copier_stop(void)
{
	if (!started)
		return;
	signal_fd(stop_fd);
	pthread_join(thread, NULL);
	started = false;
	/* The transfers are told to stop and waited for: they use the daemon's state, which goes
	 * next. What a cut transfer leaves, the remote undoes (migration/migration.h). */
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < COPIER_MAX_RUNNING; i++)
		if (jobs[i])
			atomic_store(&jobs[i]->cancel, true);
	pthread_mutex_unlock(&lock);
	for (size_t i = 0; i < COPIER_MAX_RUNNING; i++) {
		if (!jobs[i])
			continue;
		pthread_join(jobs[i]->thread, NULL);
		job_free(jobs[i]);
		jobs[i] = NULL;
	}
	for (size_t i = 0; i < n_busy; i++)
		free(busy_names[i]);
	free(busy_names);
	free(busy_times);
	busy_names = NULL;
	busy_times = NULL;
	n_busy = 0;
	close(wake_fd);
	close(stop_fd);
	wake_fd = stop_fd = -EBADF;
}

/* ---- what the API shows ------------------------------------------------------------------ */

static json_object *time_or_empty(int64_t t)
{
	_cleanup_free_ char *text = t > 0 ? time_format_rfc3339(t) : NULL;

	return json_object_new_string(text ? text : "");
}

json_object *copier_instance_json(struct daemon *d, const char *name)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_(db_copy_state_done) struct db_copy_state s = {0};
	_cleanup_free_ char *remote = NULL, *target_name = NULL;
	const char *target;
	json_object *o;
	bool busy;

	if (instance_get(&d->env, name, &row, NULL) < 0 ||
	    db_copy_state_get(d->env.db, name, &s, NULL) < 0)
		return NULL;
	target = copy_target(&row);
	if (!target && !s.last_attempt)
		return NULL;
	if (target && snapshot_copy_target_parse(target, name, &remote, &target_name, NULL) < 0)
		return NULL;
	pthread_mutex_lock(&lock);
	busy = running(name);
	pthread_mutex_unlock(&lock);
	o = json_object_new_object();
	json_object_object_add(o, "target", json_object_new_string(target ? target : ""));
	json_object_object_add(o, "remote", json_object_new_string(remote ? remote : ""));
	json_object_object_add(o, "instance",
			       json_object_new_string(target_name ? target_name : ""));
	json_object_object_add(o, "running", json_object_new_boolean(busy));
	json_object_object_add(o, "owed", json_object_new_boolean(s.owed));
	json_object_object_add(o, "last_attempt", time_or_empty(s.last_attempt));
	json_object_object_add(o, "last_success", time_or_empty(s.last_success));
	json_object_object_add(o, "last_bytes", json_object_new_int64((int64_t)s.last_bytes));
	json_object_object_add(o, "last_error",
			       s.last_error ? json_object_new_string(s.last_error) : NULL);
	json_object_object_add(o, "failures", json_object_new_int64(s.failures));
	json_object_object_add(o, "next_retry", time_or_empty(s.owed ? s.next_retry : 0));
	return o;
}

int copier_remote_users(struct daemon *d, const char *remote, char ***ret, struct err **err)
{
	_cleanup_strv_ char **users = NULL;
	struct db_instance *rows = NULL;
	struct profile *profiles = NULL;
	size_t n = 0, np = 0;
	int r;

	r = db_instance_list(d->env.db, &rows, &n, err);
	if (r < 0)
		return r;
	r = db_profile_list(d->env.db, &profiles, &np, err);
	if (r < 0) {
		db_instances_free(rows, n);
		return r;
	}
	for (size_t i = 0; i < n + np && r >= 0; i++) {
		const struct kvlist *config =
		    i < n ? &rows[i].expanded_config : &profiles[i - n].config;
		const char *t = kvlist_get(config, "snapshots.copy.target");
		size_t len = strlen(remote);
		_cleanup_free_ char *path = NULL;

		if (!t || strncmp(t, remote, len) != 0 || (t[len] != '\0' && t[len] != ':'))
			continue;
		path = i < n ? str_printf("/1.0/instances/%s", rows[i].name)
			     : str_printf("/1.0/profiles/%s", profiles[i - n].name);
		if (!path || strv_push(&users, path) < 0)
			r = err_set(err, -ENOMEM, "Out of memory");
	}
	db_instances_free(rows, n);
	profiles_free(profiles, np);
	if (r < 0)
		return r;
	if (!users && !(users = calloc(1, sizeof(*users))))
		return err_set(err, -ENOMEM, "Out of memory");
	*ret = steal_pointer(&users);
	return 0;
}
