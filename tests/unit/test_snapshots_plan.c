/*
 * The snapshot planner (snapshots/plan.h): prune and due on hand-made cases with their exact
 * reasons; simulated years minute by minute in which the test plays the scheduler (prune, ask
 * whether a snapshot is due, take it, prune again) and checks every decision, with a 3-day
 * outage, clocks that jump back and forward, a stopped instance, an idle volume and manual
 * snapshots at the limit; and property tests on random policies and snapshot lists.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/kvlist.h"
#include "config/schedule.h"
#include "config/snaprules.h"
#include "snapshots/plan.h"

static int64_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {
	    .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};

	return (int64_t)timegm(&tm);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Sets key=value pairs (NULL-terminated) in a fresh config. */
static void config_of(struct kvlist *l, ...)
{
	va_list ap;
	const char *k;

	kvlist_done(l);
	va_start(ap, l);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);

		assert_int_equal(kvlist_set(l, k, v), 0);
	}
	va_end(ap);
}

static void prune_ok(const struct kvlist *config, const struct plan_snapshot *snaps, size_t n,
		     int64_t now, struct plan_decision *dec)
{
	struct err *e = NULL;
	int r = snapshot_plan_prune(config, snaps, n, now, PLAN_REASONS_ALL, dec, &e);

	if (r != 0)
		fail_msg("prune: %s", err_msg(e, r));
	assert_null(e);
}

static void expect(const struct plan_decision *d, enum plan_verdict v, const char *reason)
{
	if (d->verdict != v || strcmp(d->reason, reason) != 0)
		fail_msg("got %s \"%s\", expected %s \"%s\"",
			 d->verdict == PLAN_KEEP ? "keep" : "delete", d->reason,
			 v == PLAN_KEEP ? "keep" : "delete", reason);
}

/* ---- prune on hand-made cases -------------------------------------------------------------- */

/* The timer's pass asks for the reasons of deletions only: the same verdicts, and no text for
 * what is kept. */
static void test_prune_reasons_deleted(void **state)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	const int64_t now = 1800000000;
	const struct plan_snapshot snaps[] = {
	    {.name = "m", .created_at = now - 7200, .scheduled = false},
	    {.name = "old", .created_at = now - 3600, .expires_at = now - 10, .scheduled = true},
	    {.name = "s1", .created_at = now - 600, .scheduled = true},
	    {.name = "s2", .created_at = now - 300, .scheduled = true},
	};
	struct plan_decision all[4], deleted[4];
	struct err *e = NULL;

	(void)state;
	config_of(&config, "snapshots.retention", "1H", NULL);
	prune_ok(&config, snaps, 4, now, all);
	assert_int_equal(
	    snapshot_plan_prune(&config, snaps, 4, now, PLAN_REASONS_DELETED, deleted, &e), 0);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(deleted[i].verdict, all[i].verdict);
		if (all[i].verdict == PLAN_DELETE)
			assert_string_equal(deleted[i].reason, all[i].reason);
		else
			assert_string_equal(deleted[i].reason, "");
	}
	expect(&deleted[1], PLAN_DELETE, "expired at 2027/01/15 07:59 UTC");
	assert_int_equal(deleted[3].verdict, PLAN_DELETE);
	assert_string_equal(all[0].reason, "manual");
}

static void test_prune_basic(void **state)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	int64_t now = utc(2026, 11, 27, 15, 0);
	struct plan_snapshot snaps[] = {
	    {"m0", utc(2026, 10, 1, 9, 0), 0, false},
	    {"m1", utc(2026, 10, 2, 9, 0), utc(2026, 11, 27, 14, 0), false},
	    {"s0", utc(2026, 11, 1, 2, 0), utc(2026, 11, 27, 15, 0), true},
	    {"s1", utc(2026, 11, 2, 2, 0), utc(2026, 12, 2, 2, 0), true},
	    {"m2", utc(2026, 11, 3, 9, 0), utc(2026, 12, 27, 14, 0), false},
	    {"s2", utc(2026, 11, 4, 2, 0), 0, true},
	};
	struct plan_decision d[6];
	struct err *e = NULL;

	(void)state;
	/* Expiry only: at the deadline, manual or scheduled. */
	prune_ok(&config, snaps, 6, now, d);
	expect(&d[0], PLAN_KEEP, "manual");
	expect(&d[1], PLAN_DELETE, "expired at 2026/11/27 14:00 UTC");
	expect(&d[2], PLAN_DELETE, "expired at 2026/11/27 15:00 UTC");
	expect(&d[3], PLAN_KEEP, "scheduled, expires at 2026/12/02 02:00 UTC");
	expect(&d[4], PLAN_KEEP, "manual, expires at 2026/12/27 14:00 UTC");
	expect(&d[5], PLAN_KEEP, "scheduled, no expiry");
	prune_ok(&config, snaps, 6, now - 1, d);
	expect(&d[2], PLAN_KEEP, "scheduled, expires at 2026/11/27 15:00 UTC");

	/* The limit evicts the oldest scheduled ones, never a manual one. */
	config_of(&config, "snapshots.limit", "3", NULL);
	prune_ok(&config, snaps, 6, now, d);
	expect(&d[0], PLAN_KEEP, "manual");
	expect(&d[2], PLAN_DELETE, "expired at 2026/11/27 15:00 UTC");
	expect(&d[3], PLAN_DELETE, "limit 3");
	expect(&d[4], PLAN_KEEP, "manual, expires at 2026/12/27 14:00 UTC");
	expect(&d[5], PLAN_KEEP, "scheduled, no expiry");
	config_of(&config, "snapshots.limit", "1", NULL);
	prune_ok(&config, snaps, 6, now, d);
	expect(&d[0], PLAN_KEEP, "manual");
	expect(&d[4], PLAN_KEEP, "manual, expires at 2026/12/27 14:00 UTC");
	expect(&d[5], PLAN_DELETE, "limit 1");
	config_of(&config, "snapshots.limit", "0", NULL);
	prune_ok(&config, snaps, 6, now, d);
	expect(&d[3], PLAN_DELETE, "limit 0");
	expect(&d[5], PLAN_DELETE, "limit 0");

	/* The floor keeps the newest scheduled ones a rule would delete. */
	config_of(&config, "snapshots.limit", "0", "snapshots.retention.min", "2", NULL);
	prune_ok(&config, snaps, 6, now, d);
	expect(&d[1], PLAN_DELETE, "expired at 2026/11/27 14:00 UTC");
	expect(&d[2], PLAN_DELETE, "expired at 2026/11/27 15:00 UTC");
	expect(&d[3], PLAN_KEEP, "floor (snapshots.retention.min=2) over: limit 0");
	expect(&d[5], PLAN_KEEP, "floor (snapshots.retention.min=2) over: limit 0");
	config_of(&config, "snapshots.retention.min", "3", NULL);
	prune_ok(&config, snaps, 6, now + 400 * 86400, d);
	expect(&d[1], PLAN_DELETE, "expired at 2026/11/27 14:00 UTC");
	expect(&d[2], PLAN_KEEP,
	       "floor (snapshots.retention.min=3) over: expired at 2026/11/27 15:00 UTC");
	expect(&d[3], PLAN_KEEP,
	       "floor (snapshots.retention.min=3) over: expired at 2026/12/02 02:00 UTC");
	expect(&d[4], PLAN_DELETE, "expired at 2026/12/27 14:00 UTC");
	expect(&d[5], PLAN_KEEP, "scheduled, no expiry");

	/* The largest limit a key takes. */
	config_of(&config, "snapshots.limit", "9223372036854775807", NULL);
	prune_ok(&config, snaps, 6, now, d);
	expect(&d[5], PLAN_KEEP, "scheduled, no expiry");
	config_of(&config, "snapshots.limit", "9223372036854775808", NULL);
	assert_int_equal(snapshot_plan_prune(&config, snaps, 6, now, PLAN_REASONS_ALL, d, &e),
			 -EINVAL);
	err_free(e);
	e = NULL;

	/* Invalid values are refused with the key's message. */
	config_of(&config, "snapshots.limit", "many", NULL);
	assert_int_equal(snapshot_plan_prune(&config, snaps, 6, now, PLAN_REASONS_ALL, d, &e),
			 -EINVAL);
	assert_non_null(strstr(e->msg, "\"snapshots.limit\""));
	err_free(e);
	e = NULL;
	config_of(&config, "snapshots.retention", "7 days", NULL);
	assert_int_equal(snapshot_plan_prune(&config, snaps, 6, now, PLAN_REASONS_ALL, d, &e),
			 -EINVAL);
	assert_string_equal(e->msg, "Invalid value \"7 days\" for \"snapshots.retention\": term 1 "
				    "\"7\": the unit must be one of H d w m y (hours, days, weeks, "
				    "months, years)");
	err_free(e);
	e = NULL;
	config_of(&config, "snapshots.retention.min", "-2", NULL);
	assert_int_equal(snapshot_plan_prune(&config, snaps, 6, now, PLAN_REASONS_ALL, d, &e),
			 -EINVAL);
	err_free(e);
	e = NULL;
	/* Nothing to decide is fine, and NULL config is all defaults. */
	assert_int_equal(snapshot_plan_prune(NULL, snaps, 0, now, PLAN_REASONS_ALL, NULL, &e), 0);
	prune_ok(NULL, snaps, 6, now, d);
	expect(&d[5], PLAN_KEEP, "scheduled, no expiry");
}

static void test_prune_retention(void **state)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	/* Friday 27 November 2026, 15:30. */
	int64_t now = utc(2026, 11, 27, 15, 30);
	struct plan_snapshot snaps[] = {
	    {"y0", utc(2024, 6, 1, 0, 0), 0, true},	/* 0: before every range */
	    {"y1", utc(2025, 3, 1, 0, 0), 0, true},	/* 1: oldest of year 2025 */
	    {"y2", utc(2025, 4, 1, 0, 0), 0, true},	/* 2: not the oldest of 2025 */
	    {"m0", utc(2026, 10, 5, 0, 0), 0, false},	/* 3: manual, never a bucket's */
	    {"w0", utc(2026, 10, 6, 0, 0), 0, true},	/* 4: oldest of 2026-10 and 2026 */
	    {"w1", utc(2026, 11, 16, 8, 0), 0, true},	/* 5: oldest of week of 11-16 */
	    {"w2", utc(2026, 11, 17, 8, 0), 0, true},	/* 6: same week, not kept */
	    {"d0", utc(2026, 11, 26, 23, 0), 0, true},	/* 7: oldest of its day and week */
	    {"d1", utc(2026, 11, 26, 23, 30), 0, true}, /* 8: not the oldest of its day */
	    {"h0", utc(2026, 11, 27, 14, 0), 0, true},	/* 9: oldest of day 11-27 */
	    {"h1", utc(2026, 11, 27, 14, 30), 0, true}, /* 10: not the oldest of 14:00 */
	    {"h2", utc(2026, 11, 27, 15, 0), 0, true},	/* 11: oldest of hour 15:00 */
	    {"f0", utc(2026, 11, 27, 18, 0), 0, true},	/* 12: after now */
	};
	struct plan_decision d[13];

	(void)state;
	config_of(&config, "snapshots.retention", "2H 2d 2w 2m 2y", NULL);
	prune_ok(&config, snaps, 13, now, d);
	expect(&d[0], PLAN_DELETE, "retention: older than the last 2 years");
	expect(&d[1], PLAN_KEEP, "retention: oldest of year 2025");
	expect(&d[2], PLAN_DELETE, "retention: not the oldest of its year 2025");
	expect(&d[3], PLAN_KEEP, "manual");
	/* w0 is the first of 2026 too: the longest bucket that keeps it names it. */
	expect(&d[4], PLAN_KEEP, "retention: oldest of year 2026");
	expect(&d[5], PLAN_KEEP, "retention: oldest of month 2026-11");
	expect(&d[6], PLAN_DELETE, "retention: not the oldest of its year 2026");
	expect(&d[7], PLAN_KEEP, "retention: oldest of week of 2026-11-23");
	expect(&d[8], PLAN_DELETE, "retention: not the oldest of its year 2026");
	expect(&d[9], PLAN_KEEP, "retention: oldest of day 2026-11-27");
	expect(&d[10], PLAN_DELETE, "retention: not the oldest of its year 2026");
	expect(&d[11], PLAN_KEEP, "retention: oldest of hour 2026-11-27 15:00");
	expect(&d[12], PLAN_KEEP, "retention: created after now");

	/* Only hours and days: the reasons name the finest buckets in play. */
	config_of(&config, "snapshots.retention", "24H 3d", NULL);
	prune_ok(&config, snaps, 13, now, d);
	expect(&d[1], PLAN_DELETE, "retention: older than the last 3 days");
	expect(&d[7], PLAN_KEEP, "retention: oldest of day 2026-11-26");
	expect(&d[8], PLAN_DELETE, "retention: not the oldest of its day 2026-11-26");
	expect(&d[9], PLAN_KEEP, "retention: oldest of day 2026-11-27");
	expect(&d[10], PLAN_DELETE, "retention: not the oldest of its day 2026-11-27");
	expect(&d[11], PLAN_KEEP, "retention: oldest of hour 2026-11-27 15:00");

	/* An expired snapshot stands for no bucket: the next one in its bucket does. */
	snaps[9].expires_at = now;
	prune_ok(&config, snaps, 13, now, d);
	expect(&d[9], PLAN_DELETE, "expired at 2026/11/27 15:30 UTC");
	expect(&d[10], PLAN_KEEP, "retention: oldest of day 2026-11-27");
	snaps[9].expires_at = 0;

	/* An order other than oldest first is sorted. */
	{
		struct plan_snapshot rev[13];
		struct plan_decision dr[13];

		for (int i = 0; i < 13; i++)
			rev[i] = snaps[12 - i];
		prune_ok(&config, rev, 13, now, dr);
		prune_ok(&config, snaps, 13, now, d);
		for (int i = 0; i < 13; i++)
			expect(&dr[12 - i], d[i].verdict, d[i].reason);
	}
}

static void test_next_expiry(void **state)
{
	struct plan_snapshot snaps[] = {
	    {"a", 100, 0, true},
	    {"b", 100, 500, false},
	    {"c", 100, 300, true},
	    {"d", 100, 200, true},
	};

	(void)state;
	assert_int_equal(snapshot_plan_next_expiry(snaps, 4, 0), 200);
	assert_int_equal(snapshot_plan_next_expiry(snaps, 4, 199), 200);
	/* A deadline that has passed (a floor holds it) is not a deadline to wait for. */
	assert_int_equal(snapshot_plan_next_expiry(snaps, 4, 200), 300);
	assert_int_equal(snapshot_plan_next_expiry(snaps, 4, 400), 500);
	assert_int_equal(snapshot_plan_next_expiry(snaps, 4, 500), 0);
	assert_int_equal(snapshot_plan_next_expiry(snaps, 0, 0), 0);
}

/* ---- due on hand-made cases ------------------------------------------------------------------ */

static struct plan_due due_ok(const struct kvlist *config, const struct plan_state *st,
			      const struct plan_snapshot *snaps, size_t n)
{
	struct plan_due due;
	struct err *e = NULL;
	int r = snapshot_plan_due(config, st, snaps, n, &due, &e);

	if (r != 0)
		fail_msg("due: %s", err_msg(e, r));
	assert_null(e);
	return due;
}

static void expect_due(const struct plan_due *d, bool take, bool skip, int64_t slot,
		       const char *reason)
{
	if (d->take != take || d->skip != skip || d->slot != slot || strcmp(d->reason, reason) != 0)
		fail_msg("got take=%d skip=%d slot=%" PRId64 " \"%s\", expected take=%d skip=%d "
			 "slot=%" PRId64 " \"%s\"",
			 d->take, d->skip, d->slot, d->reason, take, skip, slot, reason);
}

static void test_due_basic(void **state)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	int64_t t14 = utc(2026, 11, 27, 14, 0);
	struct plan_state st = {.instance = "c1", .running = true, .changed = true};
	struct plan_snapshot snaps[] = {
	    {"snap0", utc(2026, 11, 27, 2, 0) + 3, 0, true},
	    {"m0", utc(2026, 11, 27, 9, 0), 0, false},
	};
	struct plan_due d;
	struct err *e = NULL;

	(void)state;
	/* No schedule: nothing, ever. */
	st.now = t14;
	d = due_ok(&config, &st, NULL, 0);
	expect_due(&d, false, false, 0, "no schedule");
	assert_int_equal(d.next_slot, 0);

	config_of(&config, "snapshots.schedule", "0 2,14 * * 1-5", NULL);
	/* No history: only a slot of the last two minutes. */
	st.now = t14 + 1;
	d = due_ok(&config, &st, NULL, 0);
	expect_due(&d, true, false, t14, "slot 2026/11/27 14:00 UTC");
	assert_false(d.catchup);
	assert_int_equal(d.missed, 0);
	assert_int_equal(d.next_slot, utc(2026, 11, 30, 2, 0));
	st.now = t14 + PLAN_ON_TIME - 1;
	d = due_ok(&config, &st, NULL, 0);
	expect_due(&d, true, false, t14, "slot 2026/11/27 14:00 UTC");
	st.now = t14 + PLAN_ON_TIME;
	d = due_ok(&config, &st, NULL, 0);
	expect_due(&d, false, false, 0, "next slot 2026/11/30 02:00 UTC");

	/* The slot after the newest scheduled snapshot. */
	st.now = t14 + 5;
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, true, false, t14, "slot 2026/11/27 14:00 UTC");
	/* Recorded: not again, even across a restart in the same minute. */
	st.last_slot = t14;
	st.daemon_start = true;
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, false, false, 0, "next slot 2026/11/30 02:00 UTC");
	/* Taken but not recorded: its created_at stands for it. */
	st.last_slot = utc(2026, 11, 27, 2, 0);
	snaps[1] = (struct plan_snapshot){"snap1", t14 + 2, 0, true};
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, false, false, 0, "next slot 2026/11/30 02:00 UTC");
	snaps[1] = (struct plan_snapshot){"m0", utc(2026, 11, 27, 9, 0), 0, false};
	st.daemon_start = false;

	/* Down from Thursday 03:00 to Monday 09:00: one catch-up for the four missed slots. */
	st.last_slot = utc(2026, 11, 26, 2, 0);
	st.now = utc(2026, 11, 30, 9, 0);
	snaps[0].created_at = st.last_slot + 4;
	st.daemon_start = true;
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, true, false, utc(2026, 11, 30, 2, 0),
		   "catch-up at daemon start for 4 missed slots, last 2026/11/30 02:00 UTC");
	assert_true(d.catchup);
	assert_int_equal(d.missed, 4);
	assert_int_equal(d.next_slot, utc(2026, 11, 30, 14, 0));
	/* Without catch-up they are skipped and recorded. */
	kvlist_set(&config, "snapshots.schedule.catchup", "false");
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, false, true, utc(2026, 11, 30, 2, 0),
		   "4 missed slots skipped (snapshots.schedule.catchup=false)");
	/* ... but an on-time slot is still taken. */
	st.now = utc(2026, 11, 30, 14, 0) + 30;
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, true, false, utc(2026, 11, 30, 14, 0),
		   "slot 2026/11/30 14:00 UTC (4 missed slots skipped: "
		   "snapshots.schedule.catchup=false)");
	assert_false(d.catchup);
	assert_int_equal(d.missed, 4);
	kvlist_set(&config, "snapshots.schedule.catchup", "true");
	/* With catch-up, the on-time slot stands for the missed ones too. */
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, true, false, utc(2026, 11, 30, 14, 0),
		   "catch-up at daemon start for 4 missed slots, last 2026/11/30 14:00 UTC");
	assert_true(d.catchup);
	st.daemon_start = false;

	/* Skips: a stopped instance, a limit full of manual snapshots, an idle volume. */
	st.last_slot = utc(2026, 11, 27, 2, 0);
	snaps[0].created_at = st.last_slot + 3;
	st.now = t14 + 1;
	st.running = false;
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, false, true, t14, "instance is stopped");
	kvlist_set(&config, "snapshots.schedule.stopped", "true");
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, true, false, t14, "slot 2026/11/27 14:00 UTC");
	st.running = true;
	kvlist_set(&config, "snapshots.limit", "1");
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, false, true, t14, "limit 1 reached by manual snapshots");
	/* An expired manual snapshot does not count (prune deletes it first). */
	snaps[1].expires_at = t14;
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, true, false, t14, "slot 2026/11/27 14:00 UTC");
	snaps[1].expires_at = 0;
	/* With a floor, a scheduled snapshot replaces the floor's oldest: taken. */
	kvlist_set(&config, "snapshots.retention.min", "1");
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, true, false, t14, "slot 2026/11/27 14:00 UTC");
	kvlist_set(&config, "snapshots.retention.min", "0");
	kvlist_set(&config, "snapshots.limit", "0");
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, false, true, t14, "limit 0 (snapshots.limit=0 allows none)");
	kvlist_unset(&config, "snapshots.limit");
	kvlist_set(&config, "snapshots.schedule.onchange", "true");
	st.changed = false;
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, false, true, t14, "unchanged since m0");
	d = due_ok(&config, &st, NULL, 0);
	expect_due(&d, true, false, t14, "slot 2026/11/27 14:00 UTC");
	st.changed = true;
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, true, false, t14, "slot 2026/11/27 14:00 UTC");

	/* @startup: when the instance starts, slot = now. */
	config_of(&config, "snapshots.schedule", "@startup", NULL);
	st.now = t14 + 1234;
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, false, false, 0, "no timed slot");
	st.starting = true;
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, true, false, t14 + 1234, "@startup");
	/* Once recorded, not twice in the same second. */
	st.last_slot = t14 + 1234;
	d = due_ok(&config, &st, snaps, 2);
	expect_due(&d, false, false, 0, "no timed slot");
	st.starting = false;

	/* The clock went back behind the last slot: nothing until it is passed. */
	config_of(&config, "snapshots.schedule", "@hourly", NULL);
	st.last_slot = t14 + 3600 * 3;
	st.now = t14;
	d = due_ok(&config, &st, snaps, 2);
	assert_false(d.take || d.skip);

	/* Invalid schedule. */
	config_of(&config, "snapshots.schedule", "61 * * * *", NULL);
	assert_int_equal(snapshot_plan_due(&config, &st, snaps, 2, &d, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "field 1 (minute): 61 is out of 0-59"));
	err_free(e);
}

/* ---- the scheduler, simulated ------------------------------------------------------------------
 */

#define SIM_MAX 512

struct sim_snap {
	char name[24];
	int64_t created_at, expires_at;
	bool scheduled;
};

/* The test's scheduler: what it keeps between passes, and what it saw. */
struct sim {
	struct kvlist config;
	const char *instance;
	struct config_schedule *schedule; /* to check that slots are slots */
	struct sim_snap snaps[SIM_MAX];
	size_t n;
	int64_t last_slot;
	int number;
	int64_t *slots; /* every slot taken, in the order taken */
	size_t n_slots, cap_slots;
	unsigned taken, catchups, skipped, expired, evicted, thinned, passes;
	struct plan_snapshot view[SIM_MAX]; /* scratch for the planner's calls */
	struct plan_decision dec[SIM_MAX];
};

static void sim_init(struct sim *s, const char *instance)
{
	memset(s, 0, sizeof(*s));
	s->instance = instance;
}

static void sim_done(struct sim *s)
{
	kvlist_done(&s->config);
	config_schedule_free(s->schedule);
	free(s->slots);
}

static void sim_set(struct sim *s, const char *key, const char *value)
{
	assert_int_equal(kvlist_set(&s->config, key, value), 0);
	if (strcmp(key, "snapshots.schedule") == 0) {
		struct err *e = NULL;

		config_schedule_free(s->schedule);
		s->schedule = NULL;
		assert_int_equal(config_schedule_parse(value, s->instance, &s->schedule, &e), 0);
	}
}

static size_t sim_view(const struct sim *s, struct plan_snapshot *v)
{
	for (size_t i = 0; i < s->n; i++)
		v[i] = (struct plan_snapshot){s->snaps[i].name, s->snaps[i].created_at,
					      s->snaps[i].expires_at, s->snaps[i].scheduled};
	return s->n;
}

/* Checks one prune decision against the rules, whatever the policy. */
static void check_decision(const struct plan_snapshot *p, const struct plan_decision *d,
			   int64_t now)
{
	bool expired = p->expires_at != 0 && p->expires_at <= now;

	if (d->verdict == PLAN_DELETE) {
		if (!p->scheduled && !(expired && starts_with(d->reason, "expired at ")))
			fail_msg("manual %s deleted: %s", p->name, d->reason);
		if (starts_with(d->reason, "expired at ") && !expired)
			fail_msg("%s deleted as expired before its time", p->name);
		if (!starts_with(d->reason, "expired at ") &&
		    !starts_with(d->reason, "retention: ") && !starts_with(d->reason, "limit "))
			fail_msg("%s deleted for \"%s\"", p->name, d->reason);
	} else if (expired && !starts_with(d->reason, "floor (")) {
		fail_msg("%s kept past its expiry: %s", p->name, d->reason);
	}
}

/* Prunes as the scheduler does: applies the decisions. Returns how many went. */
static unsigned sim_prune(struct sim *s, int64_t now)
{
	struct plan_snapshot *v = s->view;
	struct plan_decision *d = s->dec;
	size_t n = sim_view(s, v), kept = 0;
	unsigned gone = 0;

	prune_ok(&s->config, v, n, now, d);
	for (size_t i = 0; i < n; i++) {
		check_decision(&v[i], &d[i], now);
		if (d[i].verdict == PLAN_KEEP) {
			s->snaps[kept++] = s->snaps[i];
			continue;
		}
		gone++;
		if (starts_with(d[i].reason, "expired"))
			s->expired++;
		else if (starts_with(d[i].reason, "limit"))
			s->evicted++;
		else
			s->thinned++;
	}
	s->n = kept;
	return gone;
}

static void sim_add(struct sim *s, int64_t created, bool scheduled, const char *expiry)
{
	struct sim_snap *p;

	assert_true(s->n < SIM_MAX);
	p = &s->snaps[s->n++];
	snprintf(p->name, sizeof(p->name), "%s%d", scheduled ? "snap" : "manual", s->number++);
	p->created_at = created;
	p->scheduled = scheduled;
	p->expires_at = 0;
	if (expiry)
		assert_int_equal(config_expiry_add(expiry, created, &p->expires_at, NULL), 0);
}

/* What the world looks like at one pass. */
struct world {
	bool running, changed, starting, daemon_start;
};

/*
 * One pass of the scheduler at `now`: prune, ask, take (and prune again) or record a skip.
 * Checks every decision; returns the answer.
 */
static struct plan_due sim_pass(struct sim *s, int64_t now, const struct world *w)
{
	struct plan_snapshot *v = s->view;
	struct plan_state st = {
	    .instance = s->instance,
	    .running = w->running,
	    .starting = w->starting,
	    .daemon_start = w->daemon_start,
	    .changed = w->changed,
	    .last_slot = s->last_slot,
	    .now = now,
	};
	struct plan_due due;
	size_t n;

	s->passes++;
	sim_prune(s, now);
	n = sim_view(s, v);
	due = due_ok(&s->config, &st, v, n);
	assert_false(due.take && due.skip);
	assert_true(due.next_slot == 0 || due.next_slot > now);
	if (due.next_slot)
		assert_int_equal(config_schedule_prev(s->schedule, due.next_slot, 0),
				 due.next_slot);
	if (!due.take && !due.skip) {
		assert_int_equal(due.slot, 0);
		return due;
	}
	/* Never a slot twice, never one from the future, never one already handled. */
	if (due.slot <= s->last_slot || due.slot > now)
		fail_msg("slot %" PRId64 " at %" PRId64 " after %" PRId64, due.slot, now,
			 s->last_slot);
	for (size_t i = 0; i < n; i++)
		if (v[i].scheduled && v[i].created_at >= due.slot)
			fail_msg("slot %" PRId64 " due again after %s", due.slot, v[i].name);
	if (!(w->starting && strcmp(due.reason, "@startup") == 0))
		assert_int_equal(config_schedule_prev(s->schedule, due.slot, due.slot), due.slot);
	s->last_slot = due.slot;
	if (due.skip) {
		s->skipped++;
		return due;
	}
	if (s->n_slots == s->cap_slots) {
		s->cap_slots = s->cap_slots ? s->cap_slots * 2 : 1024;
		s->slots = realloc(s->slots, s->cap_slots * sizeof(*s->slots));
		assert_non_null(s->slots);
	}
	for (size_t i = s->n_slots; i > 0 && s->slots[i - 1] >= due.slot - 86400 * 7; i--)
		assert_true(s->slots[i - 1] != due.slot);
	s->slots[s->n_slots++] = due.slot;
	s->taken++;
	s->catchups += due.catchup;
	sim_add(s, now, true, kvlist_get(&s->config, "snapshots.expiry"));
	sim_prune(s, now);
	return due;
}

/* The Alibaba-style policy over a year: every slot taken, on time, once; 30 days kept. */
static void test_sim_year_weekdays(void **state)
{
	struct sim *s = malloc(sizeof(*s));
	struct world w = {.running = true, .changed = true};
	int64_t start = utc(2027, 6, 1, 0, 0), end = utc(2028, 6, 1, 0, 0);
	size_t expected = 0;
	unsigned most = 0;

	(void)state;
	assert_non_null(s);
	sim_init(s, "c1");
	sim_set(s, "snapshots.schedule", "0 2,14 * * 1-5");
	sim_set(s, "snapshots.expiry", "30d");
	sim_set(s, "snapshots.limit", "64");
	for (int64_t t = start; t < end; t += 60) {
		struct plan_due d = sim_pass(s, t + 1, &w);

		if (d.take) {
			assert_false(d.catchup);
			assert_int_equal(d.slot, t);
		}
		/* Nothing older than 30 days survives a pass. */
		for (size_t i = 0; i < s->n; i++)
			assert_true(s->snaps[i].created_at > t + 1 - 30 * 86400);
		if (s->n > most)
			most = (unsigned)s->n;
	}
	for (int64_t t = config_schedule_next(s->schedule, start - 1); t && t < end;
	     t = config_schedule_next(s->schedule, t)) {
		assert_true(expected < s->n_slots);
		assert_int_equal(s->slots[expected], t);
		expected++;
	}
	assert_int_equal(expected, s->n_slots);
	assert_int_equal(s->skipped, 0);
	assert_int_equal(s->evicted, 0);
	assert_true(most <= 64);
	print_message(
	    "weekdays 02:00 and 14:00: %u passes, %u taken, %u expired, at most %u kept\n",
	    s->passes, s->taken, s->expired, most);
	sim_done(s);
	free(s);
}

/*
 * @hourly with btrbk-style retention over a year, with a 3-day outage, a clock that goes back
 * 2 hours, one that jumps 5 hours forward, a stopped week-end, an idle day with onchange, and
 * manual snapshots at the limit.
 */
static void test_sim_year_hourly(void **state)
{
	struct sim *s = malloc(sizeof(*s));
	int64_t start = utc(2027, 6, 1, 0, 0), end = utc(2028, 6, 1, 0, 0);
	int64_t outage = utc(2027, 8, 10, 5, 17), outage_end = outage + 3 * 86400;
	int64_t back = utc(2027, 9, 1, 12, 30), forward;
	int64_t stop_from = utc(2027, 11, 6, 0, 0), stop_to = utc(2027, 11, 8, 0, 0);
	int64_t idle_from = utc(2027, 12, 1, 0, 0), idle_to = utc(2027, 12, 2, 0, 0);
	int64_t manual_from = utc(2028, 3, 1, 0, 0), manual_to = utc(2028, 3, 3, 0, 0);
	int64_t t = start, minute, first_after_outage;
	bool jumped_back = false, jumped_forward = false;
	unsigned taken_at_restart = 0, taken_while_back = 0, stopped_skips = 0, idle_skips = 0,
		 limit_skips = 0;
	uint32_t h = 2166136261u;

	(void)state;
	for (const char *p = "c1"; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	minute = h % 60;
	/* Half-way between two slots, so that 5 hours forward cross exactly 5 slots. */
	forward = utc(2027, 10, 1, 8, 0) + (minute + 30) % 60 * 60;
	assert_non_null(s);
	sim_init(s, "c1");
	sim_set(s, "snapshots.schedule", "@hourly");
	sim_set(s, "snapshots.retention", "24H 7d 4w 12m");
	sim_set(s, "snapshots.limit", "60");
	first_after_outage = config_schedule_next(s->schedule, outage_end + 2);
	while (t < end) {
		struct world w = {.running = true, .changed = true};
		struct plan_due d;
		int64_t now = t + 2;

		if (t >= outage && t < outage_end) {
			/* The daemon is down: no pass at all. */
			t = outage_end;
			continue;
		}
		w.daemon_start = t == outage_end;
		w.running = !(t >= stop_from && t < stop_to);
		if (t >= idle_from && t < idle_to) {
			w.changed = false;
			if (t == idle_from)
				sim_set(s, "snapshots.schedule.onchange", "true");
		} else if (t == idle_to) {
			kvlist_unset(&s->config, "snapshots.schedule.onchange");
		}
		/* 60 manual snapshots fill the limit for two days (and evict every scheduled
		 * one). */
		if (t == manual_from)
			for (int i = 0; i < 60; i++) {
				sim_add(s, t - 60 + i, false, NULL);
				s->snaps[s->n - 1].expires_at = manual_to;
			}
		d = sim_pass(s, now, &w);
		if (w.daemon_start) {
			/* One catch-up for the 72 missed slots, not one per slot. */
			assert_true(d.take && d.catchup);
			assert_true(d.missed >= 71);
			assert_int_equal(d.slot, config_schedule_prev(s->schedule, now, 0));
		}
		if (t >= outage_end && t < first_after_outage && d.take)
			taken_at_restart++;
		if (jumped_back && now <= back && d.take)
			taken_while_back++;
		if (!w.running && d.skip) {
			assert_string_equal(d.reason, "instance is stopped");
			stopped_skips++;
		}
		if (t >= idle_from && t < idle_to && d.skip) {
			assert_true(starts_with(d.reason, "unchanged since "));
			idle_skips++;
		}
		if (t >= manual_from && t < manual_to && d.skip) {
			assert_string_equal(d.reason, "limit 60 reached by manual snapshots");
			limit_skips++;
		}
		/* On a running day with nothing odd, every slot is taken on time. */
		if (w.running && !w.daemon_start && !jumped_back && t % 3600 == minute * 60 &&
		    !(t >= idle_from && t < idle_to) && !(t >= manual_from && t < manual_to))
			assert_true(d.take && d.slot == t && !d.catchup);

		/* The clocks: back 2 hours once, then 5 hours forward once. */
		if (!jumped_back && t == back) {
			jumped_back = true;
			t -= 2 * 3600;
			continue;
		}
		if (jumped_back && t == back)
			jumped_back = false;
		if (!jumped_forward && t == forward) {
			jumped_forward = true;
			t += 5 * 3600;
			d = sim_pass(s, t + 2, &w);
			/* Five slots went by: one snapshot for them. */
			assert_true(d.take && d.catchup);
			assert_int_equal(d.missed, 5);
			t += 60;
			continue;
		}
		t += 60;
	}
	assert_int_equal(taken_at_restart, 1);
	assert_int_equal(taken_while_back, 0);
	assert_int_equal(stopped_skips, 48);
	assert_int_equal(idle_skips, 24);
	assert_int_equal(limit_skips, 48);
	/* The year ends thinned: at most one per bucket of 24H 7d 4w 12m, plus the last hours. */
	assert_true(s->n <= 24 + 7 + 4 + 12);
	print_message("hourly, 24H 7d 4w 12m: %u passes, %u taken (%u catch-ups), %u skipped, "
		      "%u thinned, %u evicted, %u expired, %zu left\n",
		      s->passes, s->taken, s->catchups, s->skipped, s->thinned, s->evicted,
		      s->expired, s->n);
	sim_done(s);
	free(s);
}

/* ---- properties -------------------------------------------------------------------------------
 */

static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * UINT64_C(2685821657736338717)) >> 32);
}

static unsigned rnd_below(unsigned n)
{
	return rnd() % n;
}

/* The bucket of unit u (0 hour .. 4 year) that t is in, and how many buckets back from now's
 * it is, computed here from struct tm, independently of plan.c. */
static int64_t buckets_back(int64_t t, int64_t now, int u)
{
	time_t a = (time_t)t, b = (time_t)now;
	struct tm ta, tb;

	gmtime_r(&a, &ta);
	gmtime_r(&b, &tb);
	switch (u) {
	case 0:
		return now / 3600 - t / 3600;
	case 1:
		return now / 86400 - t / 86400;
	case 2: {
		/* The Monday of each week, as a day number. */
		int64_t ma = t / 86400 - (ta.tm_wday + 6) % 7,
			mb = now / 86400 - (tb.tm_wday + 6) % 7;

		return (mb - ma) / 7;
	}
	case 3:
		return (int64_t)(tb.tm_year - ta.tm_year) * 12 + tb.tm_mon - ta.tm_mon;
	default:
		return tb.tm_year - ta.tm_year;
	}
}

static void test_prune_properties(void **state)
{
	static const char *const expiries[] = {NULL, "1H", "1d", "3d", "2w", "1m"};
	unsigned floors = 0, limits = 0, thinned = 0, cases = 0;

	(void)state;
	rng_state = 0xc0ffee;
	for (int round = 0; round < 3000; round++) {
		_cleanup_kvlist_ struct kvlist config = {0};
		struct plan_snapshot snaps[80];
		struct plan_decision d[80];
		char names[80][16], retention[64] = "", num[16];
		unsigned counts[5] = {0};
		int64_t now = utc(2027, 1, 1, 0, 0) + (int64_t)rnd_below(3 * 365 * 86400);
		int64_t limit = -1, floor_min = 0, t;
		size_t n = rnd_below(80), kept = 0, kept_sched = 0, total_sched = 0, kept_manual;
		bool any_floor = false, any_limit = false;
		int64_t newest_limit = INT64_MIN, oldest_nonfloor = INT64_MAX;

		if (rnd_below(3)) {
			static const char units[] = "Hdwmy";

			for (int u = 0; u < 5; u++)
				if (rnd_below(2)) {
					counts[u] = 1 + rnd_below(u == 0 ? 30 : 8);
					snprintf(retention + strlen(retention),
						 sizeof(retention) - strlen(retention), "%s%u%c",
						 retention[0] ? " " : "", counts[u], units[u]);
				}
			if (retention[0])
				assert_int_equal(
				    kvlist_set(&config, "snapshots.retention", retention), 0);
		}
		if (rnd_below(2)) {
			limit = rnd_below(40);
			snprintf(num, sizeof(num), "%" PRId64, limit);
			assert_int_equal(kvlist_set(&config, "snapshots.limit", num), 0);
		}
		if (rnd_below(2)) {
			floor_min = rnd_below(6);
			snprintf(num, sizeof(num), "%" PRId64, floor_min);
			assert_int_equal(kvlist_set(&config, "snapshots.retention.min", num), 0);
		}
		/* Oldest first over the last few months, a few after now (the clock went back). */
		t = now - (int64_t)rnd_below(200 * 86400);
		for (size_t i = 0; i < n; i++) {
			const char *expiry = expiries[rnd_below(6)];

			snprintf(names[i], sizeof(names[i]), "s%zu", i);
			snaps[i].name = names[i];
			snaps[i].created_at = t;
			snaps[i].scheduled = rnd_below(4) != 0;
			snaps[i].expires_at = 0;
			if (expiry)
				assert_int_equal(
				    config_expiry_add(expiry, t, &snaps[i].expires_at, NULL), 0);
			t += rnd_below(8) == 0
				 ? 0
				 : (int64_t)rnd_below(rnd_below(2) ? 7200 : 5 * 86400);
		}
		prune_ok(&config, snaps, n, now, d);
		cases++;

		for (size_t i = 0; i < n; i++) {
			check_decision(&snaps[i], &d[i], now);
			total_sched += snaps[i].scheduled;
			if (d[i].verdict == PLAN_KEEP) {
				kept++;
				kept_sched += snaps[i].scheduled;
			}
			if (starts_with(d[i].reason, "floor ("))
				any_floor = true;
			if (starts_with(d[i].reason, "limit ")) {
				any_limit = true;
				if (snaps[i].created_at > newest_limit)
					newest_limit = snaps[i].created_at;
			}
			if (starts_with(d[i].reason, "retention: not") ||
			    starts_with(d[i].reason, "retention: older"))
				thinned++;
			if (snaps[i].scheduled && d[i].verdict == PLAN_KEEP &&
			    !starts_with(d[i].reason, "floor (") &&
			    snaps[i].created_at < oldest_nonfloor)
				oldest_nonfloor = snaps[i].created_at;
			/* Retention decides only when it is set, and never on manual ones. */
			if (starts_with(d[i].reason, "retention: "))
				assert_true(retention[0] && snaps[i].scheduled);
		}
		kept_manual = kept - kept_sched;
		/* The floor: never fewer than it, and it holds no more than it must. */
		assert_true((int64_t)kept_sched >=
			    (floor_min < (int64_t)total_sched ? floor_min : (int64_t)total_sched));
		if (any_floor)
			assert_int_equal((int64_t)kept_sched, floor_min < (int64_t)total_sched
								  ? floor_min
								  : (int64_t)total_sched);
		floors += any_floor;
		/* The limit: only the manual ones or the floor may keep more. */
		if (limit >= 0 && (int64_t)kept > limit)
			assert_true((int64_t)kept_sched <= floor_min);
		/* ... it evicts no more than it must, and the oldest first. */
		if (any_limit) {
			limits++;
			if (!any_floor)
				assert_int_equal((int64_t)kept, (int64_t)kept_manual > limit
								    ? (int64_t)kept_manual
								    : limit);
			assert_true(newest_limit <= oldest_nonfloor);
		}
		/* Retention: in each bucket in range, the oldest scheduled snapshot that did not
		 * expire is kept, unless the limit took it. */
		for (int u = 0; u < 5; u++) {
			int64_t seen = -1;

			if (!counts[u])
				continue;
			for (size_t i = 0; i < n; i++) {
				int64_t back;

				if (!snaps[i].scheduled || snaps[i].created_at > now ||
				    (snaps[i].expires_at && snaps[i].expires_at <= now))
					continue;
				back = buckets_back(snaps[i].created_at, now, u);
				if (back >= (int64_t)counts[u] || back == seen)
					continue;
				seen = back;
				if (d[i].verdict != PLAN_KEEP &&
				    !starts_with(d[i].reason, "limit "))
					fail_msg("round %d: %s, oldest of its bucket %d/%" PRId64
						 " (%s), went: %s",
						 round, snaps[i].name, u, back, retention,
						 d[i].reason);
			}
		}
		/* And what retention keeps is the oldest of some bucket. */
		for (size_t i = 0; retention[0] && i < n; i++) {
			bool oldest = false;

			if (d[i].verdict != PLAN_KEEP ||
			    !starts_with(d[i].reason, "retention: oldest"))
				continue;
			for (int u = 0; u < 5 && !oldest; u++) {
				int64_t back = buckets_back(snaps[i].created_at, now, u);
				bool first = true;

				if (!counts[u] || back >= (int64_t)counts[u])
					continue;
				for (size_t j = 0; j < i; j++)
					if (snaps[j].scheduled &&
					    !(snaps[j].expires_at && snaps[j].expires_at <= now) &&
					    buckets_back(snaps[j].created_at, now, u) == back)
						first = false;
				oldest = first;
			}
			if (!oldest)
				fail_msg("round %d: %s kept as %s", round, snaps[i].name,
					 d[i].reason);
		}
	}
	print_message("%u policies: %u held by the floor, %u hit the limit, %u thinned\n", cases,
		      floors, limits, thinned);
	assert_true(floors > 50 && limits > 50 && thinned > 50);
}

/* Random schedules and a clock that mostly ticks, sometimes stalls, jumps or goes back. */
static void test_due_properties(void **state)
{
	static const char *const schedules[] = {
	    "* * * * *",      "*/15 * * * *",	  "0 2,14 * * 1-5", "30 4 1,15 * 5",
	    "@hourly",	      "@daily",		  "@weekly",	    "0 */3 * * *",
	    "5/20 1-5 * * *", "@daily, @startup", "0 0 * * sun",    "45 23 28-31 * *",
	};
	unsigned jumps = 0, takes = 0, catchups = 0;

	(void)state;
	rng_state = 7;
	for (int round = 0; round < 120; round++) {
		struct sim *s = malloc(sizeof(*s));
		char instance[16];
		int64_t now = utc(2027, 1, 1, 0, 0) + (int64_t)rnd_below(365) * 86400;
		bool catchup = rnd_below(2);

		assert_non_null(s);
		snprintf(instance, sizeof(instance), "i%d", round);
		sim_init(s, instance);
		sim_set(s, "snapshots.schedule", schedules[rnd_below(12)]);
		sim_set(s, "snapshots.schedule.catchup", catchup ? "true" : "false");
		if (rnd_below(2))
			sim_set(s, "snapshots.expiry", "1d");
		if (rnd_below(2))
			sim_set(s, "snapshots.retention", "6H 3d");
		/* Keeps the list short; manual snapshots never reach it here. */
		sim_set(s, "snapshots.limit", rnd_below(2) ? "20" : "100");
		for (int step = 0; step < 3000; step++) {
			struct world w = {
			    .running = true, .changed = true, .starting = rnd_below(500) == 0};
			int64_t before = s->last_slot, slot_in_window;
			struct plan_due d;
			unsigned r = rnd_below(1000);
			int64_t prev_now = now;

			if (r < 5) {
				now -= (int64_t)rnd_below(4 * 3600);
				jumps++;
			} else if (r < 15) {
				now += (int64_t)rnd_below(5 * 86400);
				jumps++;
			} else {
				now += 60;
			}
			/* What the planner counts as handled: the last slot or a newer snapshot. */
			for (size_t i = 0; i < s->n; i++)
				if (s->snaps[i].scheduled && s->snaps[i].created_at > before)
					before = s->snaps[i].created_at;
			d = sim_pass(s, now, &w);
			takes += d.take;
			catchups += d.catchup;
			/* After a plain tick, a slot in the last minute is taken or skipped. */
			slot_in_window = config_schedule_prev(s->schedule, now, prev_now + 1);
			if (r >= 15 && slot_in_window > before && !(d.take || d.skip))
				fail_msg("\"%s\": slot %" PRId64 " not handled at %" PRId64,
					 kvlist_get(&s->config, "snapshots.schedule"),
					 slot_in_window, now);
			/* Without catch-up, a late slot is never taken. */
			if (!catchup && d.take && strcmp(d.reason, "@startup") != 0)
				assert_true(now - d.slot < PLAN_ON_TIME);
		}
		sim_done(s);
		free(s);
	}
	print_message("%u clock jumps, %u snapshots taken, %u catch-ups\n", jumps, takes, catchups);
	assert_true(catchups > 0 && takes > 1000);
}

/*
 * One scheduler pass over 1,000 instances of 1,000 snapshots each (hourly, 90-day expiry, one in
 * ten manual): prune and due for each, with every reason formatted. The target for the
 * whole decision is 50 ms; the bound here is loose for slow and shared machines.
 */
static void test_scale(void **state)
{
	static struct plan_snapshot snaps[1000];
	static struct plan_decision d[1000];
	static char names[1000][16];
	_cleanup_kvlist_ struct kvlist config = {0};
	int64_t now = utc(2026, 11, 27, 15, 0);
	const char *const policies[][2] = {
	    {"snapshots.limit", "1000"},
	    {"snapshots.retention", "24H 7d 4w 12m"},
	};

	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(names[i], sizeof(names[i]), "snap%d", i);
		snaps[i] =
		    (struct plan_snapshot){names[i], now - (1000 - i) * 3600,
					   now - (1000 - i) * 3600 + 90 * 86400, i % 10 != 0};
	}
	config_of(&config, "snapshots.schedule", "@hourly", NULL);
	for (size_t k = 0; k < 2; k++) {
		struct timespec a, b;
		size_t deleted = 0;
		double ms;

		assert_int_equal(kvlist_set(&config, policies[k][0], policies[k][1]), 0);
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (int instance = 0; instance < 1000; instance++) {
			struct plan_state st = {.instance = "c1",
						.running = true,
						.changed = true,
						.last_slot = now - 3600,
						.now = now};
			struct plan_due due;

			prune_ok(&config, snaps, 1000, now, d);
			assert_int_equal(snapshot_plan_due(&config, &st, snaps, 1000, &due, NULL),
					 0);
			for (int i = 0; i < 1000; i++)
				deleted += d[i].verdict == PLAN_DELETE;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		print_message("1,000 x 1,000 snapshots, %s=%s: %.1f ms (%zu deletions)\n",
			      policies[k][0], policies[k][1], ms, deleted);
		assert_true(ms < 2000);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prune_basic),	    cmocka_unit_test(test_prune_reasons_deleted),
	    cmocka_unit_test(test_prune_retention), cmocka_unit_test(test_next_expiry),
	    cmocka_unit_test(test_due_basic),	    cmocka_unit_test(test_sim_year_weekdays),
	    cmocka_unit_test(test_sim_year_hourly), cmocka_unit_test(test_prune_properties),
	    cmocka_unit_test(test_due_properties),  cmocka_unit_test(test_scale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
