#pragma once

/*
 * The snapshot policy of one instance as a pure function of its config, its snapshots, the last
 * slot the scheduler handled and the time: what to delete and why, and whether a scheduled
 * snapshot is due. The scheduler (cmd/cairnd), `cairn snapshot prune [--dry-run]` and
 * `cairn snapshot auto` all ask it; nothing here touches the disk, the database or the clock.
 * Times in reasons read as `cairn info` shows them: "2026/11/27 14:00 UTC".
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct kvlist;

/* One existing snapshot, as the planner sees it. */
struct plan_snapshot {
	const char *name;
	int64_t created_at; /* seconds since the epoch */
	int64_t expires_at; /* 0: never */
	bool scheduled;	    /* taken by the scheduler (or snapshot auto), not by a user */
};

enum plan_verdict {
	PLAN_KEEP,
	PLAN_DELETE,
	PLAN_VERDICT_MAX,
};

/*
 * The verdict on one snapshot and its reason, for prune --dry-run and the event log. Kept:
 * "manual", "manual, expires at 2026/12/27 14:00 UTC", "scheduled, no expiry", "scheduled,
 * expires at ...", "retention: oldest of day 2026-11-27" (or "hour 2026-11-27 14:00", "week of
 * 2026-11-23" (its Monday), "month 2026-11", "year 2026": the longest bucket that keeps it),
 * "retention: created after now" (the clock went back), "floor (snapshots.retention.min=3) over:
 * <the reason it would have been deleted>". Deleted: "expired at 2026/11/27 14:00 UTC",
 * "retention: not the oldest of its day 2026-11-27", "retention: older than the last 12 months",
 * "limit 64".
 */
struct plan_decision {
	enum plan_verdict verdict;
	char reason[128];
};

/*
 * What to delete now. `snaps` (n of them, oldest first; another order is sorted internally)
 * get one decision each in `ret` (an array of n, the caller's). Rules, in order:
 *   - expiry: a snapshot whose expires_at has passed (<= now) is deleted, manual or scheduled;
 *   - retention (snapshots.retention, config/schedule.h), on the scheduled snapshots that did
 *     not expire: for each unit with a count N, the buckets are the calendar hours, days, weeks
 *     (Monday to Sunday), months or years in UTC from the one `now` is in back to the N-th; in
 *     each such bucket the oldest scheduled snapshot is kept (as btrbk's and snapper's "first
 *     of each period"). A snapshot kept by any unit is kept; a scheduled snapshot older than
 *     every unit's range, or in range but not the oldest of any of its buckets, is deleted.
 *     One created after `now` (the clock went back) is kept. Manual snapshots are never
 *     deleted by retention and never stand for a bucket. Unset: retention deletes nothing;
 *   - limit: while more than snapshots.limit snapshots would remain (manual ones count), the
 *     oldest remaining scheduled ones are deleted (manual ones never, so manual snapshots
 *     alone may stay over the limit). Unset: no limit; 0: no scheduled snapshot stays;
 *   - floor: no rule may leave fewer than snapshots.retention.min scheduled snapshots: the
 *     newest scheduled ones a rule would delete are kept instead, with the reason "floor", so a
 *     host that was off longer than the expiry keeps its last ones (even past the limit).
 * -EINVAL when snapshots.retention, snapshots.retention.min or snapshots.limit in `config` is
 * invalid (the message of config_key_validate()); -ENOMEM.
 */
/* Which decisions snapshot_plan_prune() writes a reason for: formatting a reason for each of a
 * million kept snapshots is most of a timer pass's work, and only a report shows them. */
enum plan_reasons {
	PLAN_REASONS_ALL,     /* every decision (prune --dry-run, the API's report) */
	PLAN_REASONS_DELETED, /* deletions only; a kept one's reason is "" */
	PLAN_REASONS_MAX,
};

int snapshot_plan_prune(const struct kvlist *config, const struct plan_snapshot *snaps, size_t n,
			int64_t now, enum plan_reasons reasons, struct plan_decision *ret,
			struct err **err);

/* What the scheduler should do about taking a snapshot. */
struct plan_due {
	bool take;	   /* take a scheduled snapshot now */
	int64_t slot;	   /* the slot it is for: record it as the last slot handled (0: none) */
	bool catchup;	   /* it stands for one or more slots missed while the daemon was down */
	bool skip;	   /* a slot is due but is skipped: record `slot` as handled anyway */
	unsigned missed;   /* slots since the last one handled that were not taken on time
			      (counted up to PLAN_MISSED_MAX), whether caught up or skipped */
	char reason[128];  /* why it is taken or skipped ("slot 2026/11/27 14:00 UTC",
			      "catch-up for 3 missed slots, last 2026/11/27 14:00 UTC",
			      "instance is stopped", "unchanged since snap4", "limit 5 reached by
			      manual snapshots"), or why nothing is due ("next slot ...") */
	int64_t next_slot; /* the next slot after now, 0 when none */
};

/* plan_due.missed stops counting here. */
#define PLAN_MISSED_MAX 100

/* How long after its minute a slot is still on time (seconds): its own minute and the next, so
 * that a tick a few seconds late does not turn it into a missed slot. */
#define PLAN_ON_TIME 120

/* What the scheduler knows about the instance at this pass. */
struct plan_state {
	const char *instance; /* for the spread of aliases */
	bool running;
	bool starting;	   /* this pass is the instance's start (for @startup) */
	bool daemon_start; /* first pass since the daemon started (only changes the reason) */
	bool changed;	   /* the volume changed since the newest snapshot (onchange) */
	int64_t last_slot; /* the last slot handled, 0 when none */
	int64_t now;
};

/*
 * Whether a scheduled snapshot is due. Let last be the later of state->last_slot and the newest
 * scheduled snapshot's created_at (so a snapshot whose slot the daemon had no time to record
 * after taking it is never taken twice). The latest slot in (last, now] is due, once: a slot is
 * due only when it is > last, so a clock that goes back takes nothing twice.
 *   - With no history (last is 0) only a slot in (now - PLAN_ON_TIME, now] is due: setting a
 *     schedule at 14:37 does not catch up 14:00.
 *   - The latest slot is on time when now - slot < PLAN_ON_TIME; the slots in (last, slot) and
 *     a late latest slot are missed (the daemon was down, the machine slept or the clock jumped
 *     forward: all the same). With snapshots.schedule.catchup (default true) one snapshot
 *     stands for all of them (catchup set; slot is the latest); without it they are skipped
 *     (skip set when the latest is late too) and only an on-time slot is taken.
 *   - @startup: when state->starting and now > last, a snapshot is due with slot = now (which
 *     also covers any timed slot before it).
 * A due slot is skipped (skip set, slot to record): a stopped instance unless
 * snapshots.schedule.stopped; a count of manual snapshots (not expired) at or over
 * snapshots.limit while snapshots.retention.min is 0 (a scheduled one would be evicted at once;
 * with a floor it replaces the oldest of the floor instead); an unchanged volume
 * (!state->changed) with snapshots.schedule.onchange when a snapshot exists. next_slot is set in
 * every case. Unset snapshots.schedule: nothing is due. `snaps` as for snapshot_plan_prune().
 * -EINVAL for an invalid snapshots.schedule, snapshots.retention, snapshots.limit or
 * snapshots.retention.min.
 */
int snapshot_plan_due(const struct kvlist *config, const struct plan_state *state,
		      const struct plan_snapshot *snaps, size_t n, struct plan_due *ret,
		      struct err **err);

/* The earliest expires_at in `snaps` after `now`, 0 when none: when the expiry timer fires. A
 * snapshot the floor holds past its expiry is not counted (its deadline has passed). */
int64_t snapshot_plan_next_expiry(const struct plan_snapshot *snaps, size_t n, int64_t now);
