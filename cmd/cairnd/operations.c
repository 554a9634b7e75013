#include "cmd/cairnd/operations.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/events.h"
#include "common/cancel.h"
#include "common/progress.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

/*
 * How long a finished operation stays after it finished or after its last waiter left,
 * whichever is later. A client learns the id from the POST and only then asks for the result,
 * so under load the result must outlive the work by more than a scheduling hiccup; Incus keeps
 * operations 5 s past the last waiter. Never trimmed while someone waits on it.
 */
#define KEEP_FINISHED_SEC 60

/* How long DELETE /1.0/operations/<id> waits for cancelled work to stop before it answers. */
#define CANCEL_WAIT_SEC 30

struct operation {
	char id[37];
	char *description;
	int64_t created_at;
	int64_t updated_at;
	int status_code; /* API_STATUS_RUNNING, _SUCCESS or _FAILURE */
	char *error;	 /* message of a failure */
	json_object *resources;
	json_object *metadata;
	bool may_cancel; /* the work stops cleanly when `cancel` is set */
	struct timespec
	    started;	    /* CLOCK_MONOTONIC, when the work began: the rate of its progress */
	atomic_bool cancel; /* set by operation_cancel(), read by the worker */
	unsigned waiters;   /* handlers blocked in operation_get() on this one */
	int64_t keep_until; /* CLOCK_MONOTONIC seconds; meaningful once finished */

	/* The work, until it has run. */
	struct daemon *daemon;
	operation_fn fn;
	void *data;
	void (*free_data)(void *);
	char *claimed;

	struct operation *next;
};

static pthread_mutex_t ops_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ops_changed = PTHREAD_COND_INITIALIZER;
static struct operation *ops; /* newest first */
static unsigned running;

static void operation_free(struct operation *op)
{
	free(op->description);
	free(op->error);
	free(op->claimed);
	json_object_put(op->resources);
	json_object_put(op->metadata);
	free(op);
}

static int64_t monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Drops finished operations that nobody waits on and whose keeping time is over. Called with
 * ops_lock held. */
static void trim_locked(void)
{
	int64_t now = monotonic_now();

	for (struct operation **pp = &ops; *pp;) {
		struct operation *op = *pp;

		if (op->status_code != API_STATUS_RUNNING && op->waiters == 0 &&
		    op->keep_until <= now) {
			*pp = op->next;
			operation_free(op);
			continue;
		}
		pp = &op->next;
	}
}

static json_object *to_json_locked(const struct operation *op)
{
	json_object *o = json_object_new_object();
	_cleanup_free_ char *created = time_format_rfc3339(op->created_at);
	_cleanup_free_ char *updated = time_format_rfc3339(op->updated_at);

	if (!o)
		return NULL;
	json_object_object_add(o, "id", json_object_new_string(op->id));
	json_object_object_add(o, "class", json_object_new_string("task"));
	json_object_object_add(o, "description", json_object_new_string(op->description));
	json_object_object_add(o, "created_at", json_object_new_string(created ? created : ""));
	json_object_object_add(o, "updated_at", json_object_new_string(updated ? updated : ""));
	json_object_object_add(o, "status",
			       json_object_new_string(api_status_name(op->status_code)));
	json_object_object_add(o, "status_code", json_object_new_int(op->status_code));
	json_object_object_add(o, "resources", json_object_get(op->resources));
	json_object_object_add(o, "metadata", json_object_get(op->metadata));
	json_object_object_add(
	    o, "may_cancel",
	    json_object_new_boolean(op->may_cancel && op->status_code == API_STATUS_RUNNING));
	json_object_object_add(o, "err", json_object_new_string(op->error ? op->error : ""));
	json_object_object_add(o, "location", json_object_new_string("none"));
	return o;
}

static double seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/*
 * The worker's progress reporter (common/progress.h): the running operation's metadata becomes
 * {"progress": {"stage", "processed", "speed"[, "percent"]}}, the shape Incus gives, which
 * `cairn` draws on a terminal. The work's own metadata replaces it when it ends.
 */
static void report_progress(void *ctx, const char *stage, uint64_t processed, uint64_t total)
{
	struct operation *op = ctx;
	_cleanup_json_ json_object *md = json_object_new_object();
	json_object *prog = json_object_new_object();
	_cleanup_free_ char *bytes = format_size(processed);
	_cleanup_free_ char *rate = NULL, *percent = NULL, *eta = NULL;
	double elapsed;

	if (!md || !prog || !bytes) {
		json_object_put(prog);
		return;
	}
	elapsed = seconds_since(&op->started);
	if (elapsed > 0.001) {
		_cleanup_free_ char *per_sec = format_size((uint64_t)((double)processed / elapsed));

		rate = per_sec ? str_printf("%s/s", per_sec) : NULL;
	}
	if (total)
		percent = str_printf(
		    "%u", (unsigned)(processed >= total ? 100 : processed * 100 / total));
	/* Ours, beside Incus's fields: the time left at the rate so far. */
	if (total && processed > 0 && processed < total && elapsed > 0.5) {
		double left = elapsed * (double)(total - processed) / (double)processed;

		eta = left >= 60 ? str_printf("%um%02us", (unsigned)left / 60, (unsigned)left % 60)
				 : str_printf("%us", (unsigned)left);
	}
	json_object_object_add(prog, "stage", json_object_new_string(stage));
	json_object_object_add(prog, "processed", json_object_new_string(bytes));
	if (rate)
		json_object_object_add(prog, "speed", json_object_new_string(rate));
	if (percent)
		json_object_object_add(prog, "percent", json_object_new_string(percent));
	if (eta)
		json_object_object_add(prog, "eta", json_object_new_string(eta));
	json_object_object_add(md, "progress", prog);

	pthread_mutex_lock(&ops_lock);
	json_object_put(op->metadata);
	op->metadata = steal_pointer(&md);
	op->updated_at = time_now();
	pthread_mutex_unlock(&ops_lock);
}

static void *run(void *arg)
{
	struct operation *op = arg;
	_cleanup_err_ struct err *e = NULL;
	json_object *md = NULL;
	int r;

	cancel_bind(op->may_cancel ? &op->cancel : NULL);
	clock_gettime(CLOCK_MONOTONIC, &op->started);
	progress_bind(report_progress, op);
	/* Every operation can be held at its start by the tests, named by its description. */
	r = stallpoint(op->description);
	if (r < 0)
		err_set(&e, r, "Operation cancelled");
	else
		r = op->fn(op->daemon, op->data, &md, &e);
	cancel_bind(NULL);
	progress_bind(NULL, NULL);
	if (r < 0)
		log_info("Operation \"%s\" failed: %s", op->description, err_msg(e, r));
	if (op->free_data)
		op->free_data(op->data);
	if (op->claimed)
		daemon_release(op->daemon, op->claimed);

	pthread_mutex_lock(&ops_lock);
	op->status_code = r >= 0			  ? API_STATUS_SUCCESS
			  : r == -ECANCELED && op->cancel ? API_STATUS_CANCELLED
							  : API_STATUS_FAILURE;
	op->error = r < 0 ? strdup(err_msg(e, r)) : NULL;
	/* The work's own metadata replaces what progress reports left. */
	json_object_put(op->metadata);
	op->metadata = md;
	op->updated_at = time_now();
	op->keep_until = monotonic_now() + KEEP_FINISHED_SEC;
	op->fn = NULL;
	op->data = NULL;
	running--;
	events_emit("operation", to_json_locked(op));
	trim_locked();
	pthread_cond_broadcast(&ops_changed);
	pthread_mutex_unlock(&ops_lock);
	return NULL;
}

static int start(struct daemon *d, const char *description, json_object *resources,
		 json_object *metadata, operation_fn fn, void *data, void (*free_data)(void *),
		 const char *claimed, bool may_cancel, json_object **ret_envelope, struct err **err)
{
	struct operation *op = calloc(1, sizeof(*op));
	pthread_attr_t attr;
	pthread_t thread;
	json_object *env;
	int r;

	if (!op) {
		json_object_put(resources);
		json_object_put(metadata);
		if (free_data)
			free_data(data);
		if (claimed)
			daemon_release(d, claimed);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	uuid_random(op->id);
	op->description = strdup(description);
	op->created_at = op->updated_at = time_now();
	op->status_code = API_STATUS_RUNNING;
	op->resources = resources ? resources : json_object_new_object();
	op->metadata = metadata;
	op->daemon = d;
	op->fn = fn;
	op->data = data;
	op->free_data = free_data;
	op->claimed = claimed ? strdup(claimed) : NULL;
	op->may_cancel = may_cancel;

	pthread_mutex_lock(&ops_lock);
	trim_locked();
	op->next = ops;
	ops = op;
	running++;
	env = api_async(op->id, to_json_locked(op));

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(&thread, &attr, run, op);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		op->status_code = API_STATUS_FAILURE;
		op->error = strdup("Failed to start a worker thread");
		running--;
		pthread_mutex_unlock(&ops_lock);
		json_object_put(env);
		if (free_data)
			free_data(data);
		if (claimed)
			daemon_release(d, claimed);
		return err_set(err, r, "Failed to start a worker thread");
	}
	events_emit("operation", to_json_locked(op));
	pthread_mutex_unlock(&ops_lock);
	*ret_envelope = env;
	return 0;
}

int operation_start(struct daemon *d, const char *description, json_object *resources,
		    operation_fn fn, void *data, void (*free_data)(void *), const char *claimed,
		    json_object **ret_envelope, struct err **err)
{
	return start(d, description, resources, NULL, fn, data, free_data, claimed, false,
		     ret_envelope, err);
}

int operation_start_cancellable(struct daemon *d, const char *description, json_object *resources,
				operation_fn fn, void *data, void (*free_data)(void *),
				const char *claimed, json_object **ret_envelope, struct err **err)
{
	return start(d, description, resources, NULL, fn, data, free_data, claimed, true,
		     ret_envelope, err);
}

int operation_start_with_metadata(struct daemon *d, const char *description, json_object *resources,
				  json_object *metadata, operation_fn fn, void *data,
				  void (*free_data)(void *), json_object **ret_envelope,
				  struct err **err)
{
	return start(d, description, resources, metadata, fn, data, free_data, NULL, false,
		     ret_envelope, err);
}

int operation_completed(const char *description, json_object *resources, json_object **ret_envelope,
			struct err **err)
{
	struct operation *op = calloc(1, sizeof(*op));

	if (!op || !(op->description = strdup(description))) {
		free(op);
		json_object_put(resources);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	uuid_random(op->id);
	op->created_at = op->updated_at = time_now();
	op->status_code = API_STATUS_SUCCESS;
	op->resources = resources ? resources : json_object_new_object();
	op->keep_until = monotonic_now() + KEEP_FINISHED_SEC;
	pthread_mutex_lock(&ops_lock);
	trim_locked();
	op->next = ops;
	ops = op;
	*ret_envelope = api_async(op->id, to_json_locked(op));
	events_emit("operation", to_json_locked(op));
	pthread_mutex_unlock(&ops_lock);
	return 0;
}

static struct operation *find_locked(const char *id)
{
	for (struct operation *op = ops; op; op = op->next)
		if (strcmp(op->id, id) == 0)
			return op;
	return NULL;
}

int operation_get(const char *id, int wait_sec, bool wait, json_object **ret, struct err **err)
{
	struct timespec deadline;
	struct operation *op;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += wait_sec;
	pthread_mutex_lock(&ops_lock);
	op = find_locked(id);
	if (!op) {
		pthread_mutex_unlock(&ops_lock);
		return err_set(err, -ENOENT, "Operation \"%s\" not found", id);
	}
	/* A waiter pins the operation: trim_locked() leaves it alone until the last one left. */
	op->waiters++;
	while (wait && op->status_code == API_STATUS_RUNNING) {
		int r = wait_sec < 0 ? pthread_cond_wait(&ops_changed, &ops_lock)
				     : pthread_cond_timedwait(&ops_changed, &ops_lock, &deadline);

		if (r == ETIMEDOUT)
			break;
	}
	op->waiters--;
	if (op->status_code != API_STATUS_RUNNING) {
		int64_t keep = monotonic_now() + KEEP_FINISHED_SEC;

		if (op->keep_until < keep)
			op->keep_until = keep;
	}
	*ret = to_json_locked(op);
	pthread_mutex_unlock(&ops_lock);
	return 0;
}

int operation_cancel(const char *id, struct err **err)
{
	struct timespec deadline;
	struct operation *op;
	int r = 0;

	pthread_mutex_lock(&ops_lock);
	op = find_locked(id);
	if (!op)
		r = err_set(err, -ENOENT, "Operation \"%s\" not found", id);
	else if (op->status_code != API_STATUS_RUNNING)
		r = err_set(err, -EINVAL, "Only running operations can be cancelled");
	else if (!op->may_cancel)
		r = err_set(err, -EINVAL, "This operation can't be cancelled");
	if (r < 0) {
		pthread_mutex_unlock(&ops_lock);
		return r;
	}
	atomic_store(&op->cancel, true);
	/* Answer once the work has stopped and undone itself, so that what the client sees next
	 * is the state without it. The work checks the flag between steps; a step is short. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += CANCEL_WAIT_SEC;
	op->waiters++;
	while (op->status_code == API_STATUS_RUNNING &&
	       pthread_cond_timedwait(&ops_changed, &ops_lock, &deadline) != ETIMEDOUT)
		;
	op->waiters--;
	if (op->status_code == API_STATUS_RUNNING)
		r = err_set(err, -ETIMEDOUT,
			    "Operation \"%s\" was asked to cancel but is still running after %d s",
			    id, CANCEL_WAIT_SEC);
	pthread_mutex_unlock(&ops_lock);
	return r;
}

json_object *operation_list(int recursion)
{
	json_object *o = json_object_new_object();
	json_object *run_l = json_object_new_array(), *ok_l = json_object_new_array(),
		    *fail_l = json_object_new_array();

	pthread_mutex_lock(&ops_lock);
	for (struct operation *op = ops; op; op = op->next) {
		char path[64];

		snprintf(path, sizeof(path), "/1.0/operations/%s", op->id);
		/* A cancelled operation is listed with the failed ones: the three lists are the
		 * documented shape, and its status says why. */
		json_object_array_add(op->status_code == API_STATUS_RUNNING   ? run_l
				      : op->status_code == API_STATUS_SUCCESS ? ok_l
									      : fail_l,
				      recursion >= 1 ? to_json_locked(op)
						     : json_object_new_string(path));
	}
	pthread_mutex_unlock(&ops_lock);
	json_object_object_add(o, "running", run_l);
	json_object_object_add(o, "success", ok_l);
	json_object_object_add(o, "failure", fail_l);
	return o;
}

void operation_drain(void)
{
	pthread_mutex_lock(&ops_lock);
	while (running > 0)
		pthread_cond_wait(&ops_changed, &ops_lock);
	pthread_mutex_unlock(&ops_lock);
}
