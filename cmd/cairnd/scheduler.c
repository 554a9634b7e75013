#include "cmd/cairnd/scheduler.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "cmd/cairnd/copier.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/events.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/log.h"
#include "common/util.h"
#include "config/db.h"
#include "config/keys.h"
#include "config/schedule.h"
#include "instance/instance.h"
#include "snapshots/plan.h"
#include "snapshots/snapshots.h"
#include "storage/storage.h"

/* A busy instance (another operation holds it) is tried again this soon. */
#define RETRY_SEC 5
/* How long snapshot auto and prune wait for a busy instance before they report it. */
#define CLAIM_WAIT_MS 10000
/* How many slots ahead the instance's schedule lists (`next_slots`, for the web page's timeline).
 */
#define SCHEDULE_NEXT_SLOTS 24

static pthread_t thread;
static bool thread_started;
static int wake_fd = -EBADF;
static int stop_fd = -EBADF;
static struct daemon *daemon_ref;

/* Instances whose start the thread has not handled yet (@startup). */
static pthread_mutex_t started_lock = PTHREAD_MUTEX_INITIALIZER;
static char **started;

static double monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- what a pass knows ------------------------------------------------------------------- */

/* The snapshot rows of one instance (db_snapshot_list), for the reloads after a change. */
struct snapshot_rows {
	struct db_snapshot *rows;
	size_t n;
};

static void snapshot_rows_done(struct snapshot_rows *s)
{
	db_snapshots_free(s->rows, s->n);
	s->rows = NULL;
	s->n = 0;
}

/* The planner's view of an instance's READY rows (names point into `rows`). *ret is the
 * caller's. */
static int plan_from_rows(const struct snapshot_rows *rows, struct plan_snapshot **ret,
			  size_t *ret_n)
{
	struct plan_snapshot *v = calloc(rows->n ? rows->n : 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < rows->n; i++) {
		const struct db_snapshot *s = &rows->rows[i];

		if (s->state != DB_ROW_READY)
			continue;
		v[n++] = (struct plan_snapshot){.name = s->name,
						.created_at = s->created_at,
						.expires_at = s->expires_at,
						.scheduled = s->scheduled};
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* The planner's view of briefs [from, to) (all of one instance). */
static int plan_from_briefs(const struct db_snapshot_brief *b, size_t from, size_t to,
			    struct plan_snapshot **ret, size_t *ret_n)
{
	struct plan_snapshot *v = calloc(to > from ? to - from : 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = from; i < to; i++)
		v[i - from] = (struct plan_snapshot){.name = b[i].name,
						     .created_at = b[i].created_at,
						     .expires_at = b[i].expires_at,
						     .scheduled = b[i].scheduled};
	*ret = v;
	*ret_n = to - from;
	return 0;
}

/* Reloads the snapshots of one instance after a change; *ret_rows keeps the names alive. */
static int reload(struct daemon *d, const char *instance, struct snapshot_rows *ret_rows,
		  struct plan_snapshot **ret, size_t *ret_n, struct err **err)
{
	int r;

	snapshot_rows_done(ret_rows);
	free(*ret);
	*ret = NULL;
	r = db_snapshot_list(d->env.db, instance, &ret_rows->rows, &ret_rows->n, err);
	if (r < 0)
		return r;
	if (plan_from_rows(ret_rows, ret, ret_n) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	return 0;
}

/*
 * Every READY snapshot of every instance, and a cursor that hands out the rows of each instance
 * in turn: the rows and the instances come ordered by name alike, so one walk pairs them.
 */
struct snapshot_index {
	struct db_snapshot_brief *all;
	size_t n, pos;
};

static void snapshot_index_done(struct snapshot_index *x)
{
	db_snapshot_briefs_free(x->all);
	*x = (struct snapshot_index){0};
}

/* The range [*ret_from, *ret_to) of `instance`'s rows; instances must be asked in name order. */
static void snapshot_index_range(struct snapshot_index *x, const char *instance, size_t *ret_from,
				 size_t *ret_to)
{
	while (x->pos < x->n && strcmp(x->all[x->pos].instance, instance) < 0)
		x->pos++;
	*ret_from = x->pos;
	while (x->pos < x->n && strcmp(x->all[x->pos].instance, instance) == 0)
		x->pos++;
	*ret_to = x->pos;
}

/* ---- reporting ------------------------------------------------------------------------------ */

static void emit(const char *action, const char *instance, const char *snapshot,
		 const char *trigger, const char *reason)
{
	_cleanup_free_ char *source =
	    str_printf("/1.0/instances/%s/snapshots/%s", instance, snapshot);
	json_object *md = json_object_new_object(), *ctx = json_object_new_object();

	if (!source || !md || !ctx) {
		json_object_put(md);
		json_object_put(ctx);
		return;
	}
	json_object_object_add(ctx, "trigger", json_object_new_string(trigger));
	json_object_object_add(ctx, "reason", json_object_new_string(reason));
	json_object_object_add(md, "action", json_object_new_string(action));
	json_object_object_add(md, "source", json_object_new_string(source));
	json_object_object_add(md, "context", ctx);
	events_emit("lifecycle", md);
}

/* "expired at ..." → expiry, "retention: ..." → retention, "limit ..." → limit. */
static const char *trigger_of(const char *reason)
{
	if (str_startswith(reason, "expired"))
		return "expiry";
	if (str_startswith(reason, "retention"))
		return "retention";
	if (str_startswith(reason, "limit"))
		return "limit";
	return "policy";
}

static json_object *json_string_or_null(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

static json_object *json_time_or_empty(int64_t t)
{
	_cleanup_free_ char *text = t > 0 ? time_format_rfc3339(t) : NULL;

	return json_object_new_string(text ? text : "");
}

/* ---- one instance -------------------------------------------------------------------- */

/* How one instance is handled in a pass. */
struct step {
	enum scheduler_mode mode;
	bool timer;    /* the timer's pass (slots), not an API request */
	bool starting; /* its start is being handled (@startup) */
	bool first;    /* the first pass since the daemon started */
	int64_t now;
	json_object *report;		 /* this instance's report object, or NULL */
	struct db_schedule_state *state; /* its state, read by the pass (moved out), or NULL */
	int64_t next_expiry;		 /* out: the earliest expiry left, 0 when none */
};

/*
 * Deletes what the planner drops from `snaps`. With `dry_run` only reports. Returns the number
 * deleted, or a negative errno when the planner refused the config.
 */
static int prune(struct daemon *d, const struct db_instance *row, const struct plan_snapshot *snaps,
		 size_t n, struct step *st, bool dry_run, struct err **err)
{
	/* Every element is written by the planner: no need to zero a million of them. */
	_cleanup_free_ struct plan_decision *dec = malloc((n ? n : 1) * sizeof(*dec));
	json_object *list = NULL;
	int r, deleted = 0;

	if (!dec)
		return err_set(err, -ENOMEM, "Out of memory");
	r = snapshot_plan_prune(&row->expanded_config, snaps, n, st->now,
				st->report ? PLAN_REASONS_ALL : PLAN_REASONS_DELETED, dec, err);
	if (r < 0)
		return r;
	if (st->report) {
		list = json_object_new_array();
		json_object_object_add(st->report, "snapshots", list);
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct err *e = NULL;
		bool gone = false;

		if (dec[i].verdict == PLAN_DELETE && !dry_run) {
			r = snapshot_delete(&d->env, row->name, snaps[i].name, &e);
			if (r < 0) {
				log_error("Failed to delete snapshot \"%s\" of \"%s\" (%s): %s",
					  snaps[i].name, row->name, dec[i].reason, err_msg(e, r));
			} else {
				gone = true;
				deleted++;
				log_info("Deleted snapshot \"%s\" of \"%s\": %s", snaps[i].name,
					 row->name, dec[i].reason);
				emit("instance-snapshot-deleted", row->name, snaps[i].name,
				     trigger_of(dec[i].reason), dec[i].reason);
			}
		}
		if (list) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "name", json_object_new_string(snaps[i].name));
			json_object_object_add(o, "scheduled",
					       json_object_new_boolean(snaps[i].scheduled));
			json_object_object_add(o, "verdict",
					       json_object_new_string(dec[i].verdict == PLAN_DELETE
									  ? "delete"
									  : "keep"));
			json_object_object_add(o, "reason", json_object_new_string(dec[i].reason));
			json_object_object_add(o, "deleted", json_object_new_boolean(gone));
			json_object_array_add(list, o);
		}
		if (!gone && snaps[i].expires_at > st->now &&
		    (!st->next_expiry || snaps[i].expires_at < st->next_expiry))
			st->next_expiry = snaps[i].expires_at;
	}
	return deleted;
}

/* Takes a scheduled snapshot; with snapshots.schedule.stateful tries a stateful one first and
 * falls back to a stateless one, saying why in *ret_note. */
static int take(struct daemon *d, const struct db_instance *row, bool running, char **ret_name,
		char **ret_note, struct err **err)
{
	struct snapshot_create_opts opts = {.scheduled = true};
	if (running &&
	    config_get_bool(&row->expanded_config, "snapshots.schedule.stateful", false)) {
		_cleanup_err_ struct err *e = NULL;
		int r;

		opts.stateful = true;
		r = snapshot_create(&d->env, row->name, &opts, ret_name, &e);
		if (r >= 0)
			return r;
		*ret_note =
		    str_printf("stateless: the stateful snapshot failed: %s", err_msg(e, r));
		opts.stateful = false;
	}
	return snapshot_create(&d->env, row->name, &opts, ret_name, err);
}

static bool instance_running(struct daemon *d, const char *name)
{
	struct instance_state is = {0};

	return instance_state(&d->env, name, false, &is, NULL) >= 0 && is.pid > 0;
}

/* Whether the volume changed since the newest snapshot (onchange); true when unsure. */
static bool volume_changed(struct daemon *d, const struct db_instance *row,
			   const struct plan_snapshot *snaps, size_t n)
{
	struct storage_pool *pool;
	_cleanup_err_ struct err *e = NULL;
	int r;

	if (!config_get_bool(&row->expanded_config, "snapshots.schedule.onchange", false) || n == 0)
		return true;
	pool = instance_env_pool(&d->env, row->pool);
	if (!pool)
		return true;
	r = storage_snapshot_changed_since(pool, row->name, snaps[n - 1].name, &e);
	if (r < 0) {
		log_warn("Failed to tell whether \"%s\" changed, taking the snapshot: %s",
			 row->name, err_msg(e, r));
		return true;
	}
	return r > 0;
}

static void save_state(struct daemon *d, const char *instance,
		       const struct db_schedule_state *state)
{
	_cleanup_err_ struct err *e = NULL;
	int r = db_schedule_put(d->env.db, instance, state, &e);

	if (r < 0)
		log_error("Failed to record the schedule state of \"%s\": %s", instance,
			  err_msg(e, r));
}

/* Replaces *field with a copy of `value` (NULL clears it). */
static void set_text(char **field, const char *value)
{
	free(*field);
	*field = value ? strdup(value) : NULL;
}

/*
 * Takes the scheduled snapshot `due` stands for and applies retention and the limit right after
 * it, recording the outcome in `state`. A failure is recorded and logged, and the next slot
 * tries again.
 */
static int take_and_trim(struct daemon *d, const struct db_instance *row, bool running,
			 const struct plan_due *due, struct step *st,
			 struct db_schedule_state *state, struct err **err)
{
	_cleanup_free_ char *name = NULL, *note = NULL;
	_cleanup_free_ struct plan_snapshot *snaps = NULL;
	_cleanup_(snapshot_rows_done) struct snapshot_rows mine = {0};
	_cleanup_err_ struct err *e = NULL;
	size_t n = 0;
	int r;

	state->last_run = st->now;
	r = take(d, row, running, &name, &note, &e);
	if (r < 0) {
		log_error("Failed to take the scheduled snapshot of \"%s\" (%s), retrying at the "
			  "next slot: %s",
			  row->name, due->reason, err_msg(e, r));
		state->failed_slot = due->slot ? due->slot : st->now;
		set_text(&state->last_error, err_msg(e, r));
		if (st->report)
			json_object_object_add(st->report, "error",
					       json_object_new_string(err_msg(e, r)));
		return 0;
	}
	log_info("Took scheduled snapshot \"%s\" of \"%s\": %s%s%s", name, row->name, due->reason,
		 note ? "; " : "", note ? note : "");
	{
		/* The event says why a stateful schedule gave a stateless snapshot, as info does.
		 */
		_cleanup_free_ char *reason =
		    note ? str_printf("%s; %s", due->reason, note) : strdup(due->reason);

		emit("instance-snapshot-created", row->name, name,
		     due->catchup ? "catch-up" : "schedule", reason ? reason : due->reason);
	}
	if (st->report)
		json_object_object_add(st->report, "created", json_object_new_string(name));
	/* The snapshot server gets it in the background, never on this thread. */
	copier_owe(d, row->name);
	set_text(&state->last_snapshot, name);
	state->failed_slot = 0;
	set_text(&state->last_error, note);
	set_text(&state->last_skip, NULL);

	r = reload(d, row->name, &mine, &snaps, &n, err);
	if (r < 0)
		return r;
	/* The report lists the snapshots as this second prune leaves them. */
	r = prune(d, row, snaps, n, st, false, err);
	return r < 0 ? r : 0;
}

/* snapshot auto refuses what a manual snapshot would be refused for: a limit that manual
 * snapshots (never evicted) fill on their own. */
static bool manual_fill_limit(const struct db_instance *row, const struct plan_snapshot *snaps,
			      size_t n)
{
	const char *limit = kvlist_get(&row->expanded_config, "snapshots.limit");
	size_t manual = 0;

	if (!limit || !*limit)
		return false;
	for (size_t i = 0; i < n; i++)
		manual += !snaps[i].scheduled;
	/* 0 allows no snapshot at all, as for manual ones. */
	return manual >= strtoull(limit, NULL, 10);
}

/*
 * Handles one claimed instance: prune, then (timer: when a slot is due; auto: now) take a
 * scheduled snapshot and prune again, recording what happened in the schedule state.
 */
static int step_instance(struct daemon *d, const struct db_instance *row,
			 const struct db_snapshot_brief *briefs, size_t from, size_t to,
			 struct step *st, struct err **err)
{
	_cleanup_free_ struct plan_snapshot *snaps = NULL;
	_cleanup_(snapshot_rows_done) struct snapshot_rows mine = {0};
	_cleanup_(db_schedule_state_done) struct db_schedule_state state = {0};
	struct plan_due due = {0};
	bool running;
	size_t n = 0;
	int r;

	if (plan_from_briefs(briefs, from, to, &snaps, &n) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	r = prune(d, row, snaps, n, st, st->mode == SCHEDULER_PRUNE_DRY_RUN, err);
	if (r < 0 || st->mode == SCHEDULER_PRUNE || st->mode == SCHEDULER_PRUNE_DRY_RUN)
		return r < 0 ? r : 0;
	/* Some were deleted: the planner decides on what is left. */
	if (r > 0 && (r = reload(d, row->name, &mine, &snaps, &n, err)) < 0)
		return r;

	if (st->state) {
		/* The pass read every instance's state at once; take this one over. */
		state = *st->state;
		*st->state = (struct db_schedule_state){0};
	} else {
		r = db_schedule_get(d->env.db, row->name, &state, err);
		if (r < 0)
			return r;
	}
	if (st->timer) {
		/* First as if running and changed: most passes find nothing due, and only a due
		 * slot is worth asking the LXC monitor and the volume. */
		struct plan_state ps = {
		    .instance = row->name,
		    .running = true,
		    .starting = st->starting,
		    .daemon_start = st->first,
		    .changed = true,
		    .last_slot = state.last_slot,
		    .now = st->now,
		};

		r = snapshot_plan_due(&row->expanded_config, &ps, snaps, n, &due, err);
		if (r < 0)
			return r;
		if (!due.take && !due.skip)
			return 0;
		running = instance_running(d, row->name);
		ps.running = running;
		ps.changed = volume_changed(d, row, snaps, n);
		r = snapshot_plan_due(&row->expanded_config, &ps, snaps, n, &due, err);
		if (r < 0)
			return r;
		if (!due.take && !due.skip)
			return 0;
		if (due.slot > state.last_slot)
			state.last_slot = due.slot;
		if (due.skip) {
			set_text(&state.last_skip, due.reason);
			log_info("Skipped the scheduled snapshot of \"%s\": %s", row->name,
				 due.reason);
			save_state(d, row->name, &state);
			return 0;
		}
	} else {
		if (manual_fill_limit(row, snaps, n)) {
			if (st->report)
				json_object_object_add(
				    st->report, "skipped",
				    json_object_new_string(
					"the limit is reached by manual snapshots"));
			return 0;
		}
		running = instance_running(d, row->name);
		snprintf(due.reason, sizeof(due.reason), "snapshot auto");
	}
	r = take_and_trim(d, row, running, &due, st, &state, err);
	save_state(d, row->name, &state);
	return r;
}

/* ---- passes -------------------------------------------------------------------------- */

/* True when the instance has anything for the timer to do: a schedule, a policy that deletes, or
 * a snapshot that expires. Saves the planner's work on the instances nobody configured. */
static bool has_policy(const struct db_instance *row)
{
	static const char *const keys[] = {"snapshots.schedule", "snapshots.retention",
					   "snapshots.limit"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = kvlist_get(&row->expanded_config, keys[i]);

		if (v && *v)
			return true;
	}
	return false;
}

static bool any_expires(const struct db_snapshot_brief *b, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (b[i].expires_at > 0)
			return true;
	return false;
}

static void queue_started(const char *name)
{
	pthread_mutex_lock(&started_lock);
	if (!strv_contains(started, name) && strv_push(&started, name) < 0)
		log_error("Out of memory");
	pthread_mutex_unlock(&started_lock);
}

/* Takes the names of the instances whose start is waiting for the thread. */
static char **take_started(void)
{
	char **v;

	pthread_mutex_lock(&started_lock);
	v = started;
	started = NULL;
	pthread_mutex_unlock(&started_lock);
	return v;
}

/*
 * The timer's pass over every instance. *ret_next_expiry is the earliest expiry left (0 when
 * none); *ret_retry says a busy instance should be tried again soon.
 */
static void timer_pass(struct daemon *d, int64_t now, bool first, int64_t *ret_next_expiry,
		       bool *ret_retry)
{
	_cleanup_strv_ char **starting = take_started();
	_cleanup_strv_ char **state_names = NULL;
	_cleanup_(snapshot_index_done) struct snapshot_index idx = {0};
	struct db_schedule_state *states = NULL;
	size_t n_states = 0;
	_cleanup_err_ struct err *e = NULL;
	struct db_instance *rows = NULL;
	size_t n = 0;
	int r;

	double t0 = monotonic_ms(), t1;
	unsigned handled = 0;

	*ret_next_expiry = 0;
	*ret_retry = false;
	r = db_instance_list(d->env.db, &rows, &n, &e);
	if (r >= 0)
		r = db_snapshot_list_all(d->env.db, &idx.all, &idx.n, &e);
	if (r >= 0)
		r = db_schedule_list(d->env.db, &state_names, &states, &n_states, &e);
	if (r < 0) {
		log_error("Snapshot scheduler: %s", err_msg(e, r));
		db_instances_free(rows, n);
		*ret_retry = true;
		return;
	}
	t1 = monotonic_ms();
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct err *ie = NULL;
		struct step st = {
		    .mode = SCHEDULER_AUTO, .timer = true, .first = first, .now = now};
		size_t from, to;

		snapshot_index_range(&idx, rows[i].name, &from, &to);
		if (rows[i].state != DB_ROW_READY)
			continue;
		if (!has_policy(&rows[i]) && !any_expires(idx.all, from, to))
			continue;
		st.starting = strv_contains(starting, rows[i].name);
		r = daemon_claim(d, rows[i].name, &ie);
		if (r < 0) {
			/* Busy (its start may still hold it): again in a few seconds. */
			*ret_retry = true;
			if (st.starting)
				queue_started(rows[i].name);
			continue;
		}
		handled++;
		/* Both lists come ordered by name; an instance made between the two reads is looked
		 * up on its own. */
		if (i < n_states && strcmp(state_names[i], rows[i].name) == 0)
			st.state = &states[i];
		r = step_instance(d, &rows[i], idx.all, from, to, &st, &ie);
		daemon_release(d, rows[i].name);
		if (r < 0)
			log_error("Snapshot scheduler, instance \"%s\": %s", rows[i].name,
				  err_msg(ie, r));
		if (st.next_expiry && (!*ret_next_expiry || st.next_expiry < *ret_next_expiry))
			*ret_next_expiry = st.next_expiry;
	}
	/* bench/scheduler.sh reads this line. */
	log_debug("Snapshot scheduler pass: %zu instances (%u with a policy), %zu snapshots; "
		  "loaded in %.1f ms, decided and acted in %.1f ms",
		  n, handled, idx.n, t1 - t0, monotonic_ms() - t1);
	db_schedule_states_free(states, n_states);
	db_instances_free(rows, n);
}

/* A request waits a little for the instance (the timer's pass holds it briefly) where the
 * timer itself would try again at its next pass. */
static int claim_waiting(struct daemon *d, const char *name, struct err **err)
{
	for (int i = 0;; i++) {
		_cleanup_err_ struct err *e = NULL;
		int r = daemon_claim(d, name, &e);

		if (r != -EBUSY || i >= CLAIM_WAIT_MS / 50)
			return r < 0 ? err_set(err, r, "%s", err_msg(e, r)) : r;
		poll(NULL, 0, 50);
	}
}

int scheduler_run(struct daemon *d, enum scheduler_mode mode, char *const *names,
		  const struct kvlist *overrides, json_object **ret_report, struct err **err)
{
	_cleanup_(snapshot_index_done) struct snapshot_index idx = {0};
	_cleanup_json_ json_object *report = json_object_new_array();
	struct db_instance *rows = NULL;
	size_t n = 0;
	int64_t now = time_now();
	int r;

	if (!report)
		return err_set(err, -ENOMEM, "Out of memory");
	r = db_instance_list(d->env.db, &rows, &n, err);
	if (r < 0)
		return r;
	for (char *const *p = names; p && *p; p++) {
		bool found = false;

		for (size_t i = 0; i < n && !found; i++)
			found = rows[i].state == DB_ROW_READY && strcmp(rows[i].name, *p) == 0;
		if (!found) {
			db_instances_free(rows, n);
			return err_set(err, -ENOENT, "Instance \"%s\" not found", *p);
		}
	}
	r = db_snapshot_list_all(d->env.db, &idx.all, &idx.n, err);
	if (r < 0) {
		db_instances_free(rows, n);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct err *ie = NULL;
		struct step st = {.mode = mode, .now = now};
		json_object *o;
		size_t from, to;

		snapshot_index_range(&idx, rows[i].name, &from, &to);
		if (rows[i].state != DB_ROW_READY || (names && !strv_contains(names, rows[i].name)))
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "instance", json_object_new_string(rows[i].name));
		json_object_array_add(report, o);
		st.report = o;
		if (mode != SCHEDULER_PRUNE_DRY_RUN) {
			r = claim_waiting(d, rows[i].name, &ie);
			if (r < 0) {
				json_object_object_add(o, "error",
						       json_object_new_string(err_msg(ie, r)));
				continue;
			}
		}
		if (overrides && overrides->n > 0) {
			/* The dry run of a rule not set yet: the instance's keys, then these. */
			_cleanup_kvlist_ struct kvlist merged = {0};
			struct db_instance view = rows[i];

			r = kvlist_copy(&merged, &rows[i].expanded_config);
			for (size_t k = 0; r >= 0 && k < overrides->n; k++)
				r = kvlist_set(&merged, overrides->items[k].key,
					       overrides->items[k].value);
			if (r < 0)
				r = err_set(&ie, -ENOMEM, "Out of memory");
			view.expanded_config = merged;
			if (r >= 0)
				r = step_instance(d, &view, idx.all, from, to, &st, &ie);
		} else {
			r = step_instance(d, &rows[i], idx.all, from, to, &st, &ie);
		}
		if (mode != SCHEDULER_PRUNE_DRY_RUN)
			daemon_release(d, rows[i].name);
		if (r < 0 && !json_object_object_get_ex(o, "error", NULL))
			json_object_object_add(o, "error", json_object_new_string(err_msg(ie, r)));
	}
	db_instances_free(rows, n);
	if (mode != SCHEDULER_PRUNE_DRY_RUN)
		scheduler_wake();
	*ret_report = steal_pointer(&report);
	return 0;
}

json_object *scheduler_instance_json(struct daemon *d, const char *name)
{
	_cleanup_(db_instance_done) struct db_instance row = {0};
	_cleanup_(db_schedule_state_done) struct db_schedule_state state = {0};
	_cleanup_(snapshot_rows_done) struct snapshot_rows mine = {0};
	_cleanup_free_ struct plan_snapshot *snaps = NULL;
	struct config_schedule *sched = NULL;
	const char *text;
	json_object *o, *slots;
	int64_t now = time_now(), next = 0;
	size_t n = 0, scheduled = 0;

	if (instance_get(&d->env, name, &row, NULL) < 0 ||
	    db_schedule_get(d->env.db, name, &state, NULL) < 0 ||
	    reload(d, name, &mine, &snaps, &n, NULL) < 0)
		return NULL;
	text = kvlist_get(&row.expanded_config, "snapshots.schedule");
	slots = json_object_new_array();
	if (text && *text && config_schedule_parse(text, name, &sched, NULL) >= 0) {
		next = config_schedule_next(sched, now);
		/* The slots ahead, for a timeline: a few hundred operations each, whatever the
		 * gap between them. */
		for (int64_t t = next; t && json_object_array_length(slots) < SCHEDULE_NEXT_SLOTS;
		     t = config_schedule_next(sched, t))
			json_object_array_add(slots, json_time_or_empty(t));
		config_schedule_free(sched);
	}
	for (size_t i = 0; i < n; i++)
		scheduled += snaps[i].scheduled;
	o = json_object_new_object();
	json_object_object_add(o, "schedule", json_object_new_string(text ? text : ""));
	json_object_object_add(o, "next_slot", json_time_or_empty(next));
	json_object_object_add(o, "next_slots", slots);
	json_object_object_add(o, "last_slot", json_time_or_empty(state.last_slot));
	json_object_object_add(o, "last_snapshot", json_string_or_null(state.last_snapshot));
	json_object_object_add(o, "failed_slot", json_time_or_empty(state.failed_slot));
	json_object_object_add(o, "last_error", json_string_or_null(state.last_error));
	json_object_object_add(o, "last_skip", json_string_or_null(state.last_skip));
	json_object_object_add(o, "count", json_object_new_int64((int64_t)n));
	json_object_object_add(o, "scheduled_count", json_object_new_int64((int64_t)scheduled));
	json_object_object_add(o, "next_expiry",
			       json_time_or_empty(snapshot_plan_next_expiry(snaps, n, now)));
	return o;
}

/* ---- the timer thread ---------------------------------------------------------------- */

static void drain(int fd)
{
	uint64_t v;

	(void)!read(fd, &v, sizeof(v));
}

static void *run(void *arg)
{
	_cleanup_close_ int tfd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	bool first = true;

	(void)arg;
	if (tfd < 0) {
		log_error("Snapshot scheduler: failed to create a timer: %s", strerror(errno));
		return NULL;
	}
	for (;;) {
		struct pollfd fds[3] = {
		    {.fd = tfd, .events = POLLIN},
		    {.fd = wake_fd, .events = POLLIN},
		    {.fd = stop_fd, .events = POLLIN},
		};
		struct itimerspec its = {0};
		int64_t now = time_now(), next_expiry = 0, deadline;
		bool retry = false;

		timer_pass(daemon_ref, now, first, &next_expiry, &retry);
		first = false;
		/* The next whole minute, or the nearest expiry, or a retry, whichever is first. */
		now = time_now();
		deadline = (now / 60 + 1) * 60;
		if (next_expiry > 0 && next_expiry < deadline)
			deadline = next_expiry > now ? next_expiry : now + 1;
		if (retry && now + RETRY_SEC < deadline)
			deadline = now + RETRY_SEC;
		its.it_value.tv_sec = deadline;
		if (timerfd_settime(tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) <
		    0)
			log_error("Snapshot scheduler: failed to arm the timer: %s",
				  strerror(errno));
		while (poll(fds, 3, -1) < 0 && errno == EINTR)
			;
		if (fds[2].revents)
			return NULL;
		/* A read of a cancelled timer (the clock was set) fails with ECANCELED: either way
		 * the next pass looks at the clock afresh. */
		if (fds[0].revents)
			drain(tfd);
		if (fds[1].revents)
			drain(wake_fd);
	}
}

int scheduler_start(struct daemon *d, struct err **err)
{
	int r;

	daemon_ref = d;
	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake_fd < 0 || stop_fd < 0)
		return err_set_errno(err, -errno,
				     "Failed to create the scheduler's event descriptors");
	r = -pthread_create(&thread, NULL, run, NULL);
	if (r < 0)
		return err_set(err, r, "Failed to start the snapshot scheduler");
	thread_started = true;
	return 0;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	if (fd >= 0)
		(void)!write(fd, &one, sizeof(one));
}

void scheduler_stop(void)
{
	if (!thread_started)
		return;
	signal_fd(stop_fd);
	pthread_join(thread, NULL);
	thread_started = false;
	close(wake_fd);
	close(stop_fd);
	wake_fd = stop_fd = -EBADF;
	pthread_mutex_lock(&started_lock);
	strv_free(started);
	started = NULL;
	pthread_mutex_unlock(&started_lock);
}

void scheduler_wake(void)
{
	signal_fd(wake_fd);
}

void scheduler_instance_started(const char *name)
{
	queue_started(name);
	scheduler_wake();
}
