#pragma once

/*
 * The snapshot scheduler: the timer that takes and expires snapshots on its own, and the passes
 * that `cairn snapshot auto` and `cairn snapshot prune` ask for. What to do is decided by the
 * pure planner (snapshots/plan.h); this file loads what it needs, claims each instance as any
 * operation does, carries the decisions out, records what happened (config/db.h, the schedule
 * state) and reports it as lifecycle events and log lines.
 *
 * The timer is a thread that sleeps on a timerfd armed on the wall clock for the next minute or
 * the nearest snapshot expiry, whichever comes first. CLOCK_REALTIME timers fire at once after
 * the machine wakes from sleep, and TFD_TIMER_CANCEL_ON_SET wakes the thread when the clock is
 * set, so a pass follows every jump; the planner never takes a slot twice whichever way the
 * clock moved.
 */

#include <stdbool.h>

#include <json-c/json.h>

struct daemon;
struct err;
struct kvlist;

/* Starts the timer thread; its first pass catches up on slots missed while the daemon was
 * down. */
int scheduler_start(struct daemon *d, struct err **err);

/* Stops the thread and waits for a pass in progress to end. */
void scheduler_stop(void);

/* Makes the thread recompute its deadline now: a snapshot with an expiry was made or changed,
 * or an instance's snapshots.* keys changed. */
void scheduler_wake(void);

/* Instance `name` has started: its @startup entry is due (on the thread, once the start has
 * released the instance). */
void scheduler_instance_started(const char *name);

enum scheduler_mode {
	SCHEDULER_AUTO,		 /* take a scheduled snapshot now, then prune */
	SCHEDULER_PRUNE,	 /* delete what has expired and what retention and the limit drop */
	SCHEDULER_PRUNE_DRY_RUN, /* say what SCHEDULER_PRUNE would delete, and change nothing */
	SCHEDULER_MODE_MAX,
};

/*
 * One pass in `mode` over the instances `names` (NULL-terminated; NULL for every instance),
 * for the API. *ret_report (the caller's) is an array with one object per instance:
 * {"instance", "created" (a name or null), "skipped" (a reason or null), "error" (or null),
 * "snapshots": [{"name", "scheduled", "verdict": "keep"|"delete", "reason", "deleted"}]}.
 * A busy instance is reported with an error and the others go on. -ENOENT for an unknown name
 * (before anything is done). `overrides` (may be NULL; SCHEDULER_PRUNE_DRY_RUN only) are
 * snapshots.* keys the dry run reads in place of each instance's own: what a rule would do
 * before it is set.
 */
int scheduler_run(struct daemon *d, enum scheduler_mode mode, char *const *names,
		  const struct kvlist *overrides, json_object **ret_report, struct err **err);

/*
 * What `cairn info` shows of an instance's schedule: {"schedule", "next_slot", "next_slots",
 * "last_slot", "last_snapshot", "failed_slot", "last_error", "last_skip", "count",
 * "scheduled_count", "next_expiry"} (times RFC 3339, "" when none; next_slots the next 24 slots
 * at most, for a timeline). NULL on an unknown instance.
 */
json_object *scheduler_instance_json(struct daemon *d, const char *name);
