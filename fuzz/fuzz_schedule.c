/*
 * The schedule and retention languages on arbitrary bytes: the whole input is tried as a
 * snapshots.schedule value and as a snapshots.retention value, directly and through the key
 * table, and then handed to the planner as the instance's policy. Beyond memory errors and
 * undefined behaviour, it checks that a refusal is -EINVAL with a message (and the same verdict
 * from the key table), and that for an accepted schedule next() is a slot strictly after its
 * argument with none in between, prev() is the latest slot, and both are monotonic; the
 * planner never takes a slot already handled or one from the future, and never deletes a
 * manual snapshot that has not expired.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "config/keys.h"
#include "config/schedule.h"
#include "snapshots/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Times around which next and prev are checked: the epoch, a minute boundary and a second
 * before one, 29 February 2028, the last of 2099 (before the 2100 non-leap year), the end of
 * 9999 and beyond, and before 1970. */
static const int64_t times[] = {0,	    59,		1795276620,   1795276619,   1835395199,
				1835395260, 4102444799, 253402300740, 253402300799, INT64_MAX,
				-1,	    INT64_MIN};

static void check_refusal(int r, struct err **e, const char *what)
{
	if (r == 0) {
		if (*e)
			abort();
		return;
	}
	if (r != -EINVAL || !*e || !(*e)->msg || (*e)->code != r || !*(*e)->msg) {
		fprintf(stderr, "%s: bad refusal %d\n", what, r);
		abort();
	}
}

static bool is_slot(const struct config_schedule *s, int64_t t)
{
	return t > 0 && t % 60 == 0 && config_schedule_prev(s, t, t) == t &&
	       config_schedule_next(s, t - 1) == t;
}

static void check_times(const struct config_schedule *s, int64_t t)
{
	int64_t next = config_schedule_next(s, t), prev = config_schedule_prev(s, t, 0);

	if (next) {
		int64_t after = config_schedule_next(s, next);

		/* A slot, strictly after t, the first one (none in (t, next)), and the one after
		 * it later still. */
		if (next <= t || !is_slot(s, next))
			abort();
		if (next - 1 > t && config_schedule_prev(s, next - 1, t + 1) != 0)
			abort();
		if (after && after <= next)
			abort();
	}
	if (prev) {
		int64_t following = config_schedule_next(s, prev);

		/* A slot at or before t, the latest one. */
		if (prev > t || !is_slot(s, prev))
			abort();
		if (following && following <= t)
			abort();
		if (config_schedule_prev(s, t, prev) != prev ||
		    config_schedule_prev(s, t, prev + 1))
			abort();
	}
}

static void fuzz_schedule(const char *text)
{
	_cleanup_schedule_ struct config_schedule *s = NULL;
	_cleanup_err_ struct err *e = NULL, *ev = NULL, *ek = NULL;
	int r = config_schedule_parse(text, "fuzz", &s, &e);
	int rv = config_schedule_valid(text, &ev);
	uint64_t h = 1469598103934665603u;
	int64_t t;

	check_refusal(r, &e, "schedule");
	check_refusal(rv, &ev, "schedule validation");
	if ((r == 0) != (rv == 0) || (r == 0) != (s != NULL))
		abort();
	/* The key table says the same (an empty value means unset there). */
	if (*text && config_text_valid("value", text, NULL) == 0) {
		int rk = config_key_validate("snapshots.schedule", text, &ek);

		check_refusal(rk, &ek, "snapshots.schedule");
		if ((rk == 0) != (r == 0))
			abort();
	}
	if (r < 0)
		return;
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		check_times(s, times[i]);
	/* Walk a few slots on from a time between 2000 and 2100 that the input picks. */
	for (const char *p = text; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	t = 946684800 + (int64_t)(h % 3155760000u);
	for (int i = 0; i < 8 && t; i++) {
		check_times(s, t);
		t = config_schedule_next(s, t);
	}
}

static void fuzz_retention(const char *text)
{
	_cleanup_err_ struct err *e = NULL, *ek = NULL;
	struct config_retention ret = {0};
	int r = config_retention_parse(text, &ret, &e);

	check_refusal(r, &e, "retention");
	if (r == 0) {
		unsigned counts[] = {ret.hours, ret.days, ret.weeks, ret.months, ret.years};
		bool any = false;

		for (size_t i = 0; i < 5; i++) {
			if (counts[i] > CONFIG_RETENTION_COUNT_MAX)
				abort();
			any |= counts[i] > 0;
		}
		if (!any)
			abort();
	}
	if (*text && config_text_valid("value", text, NULL) == 0) {
		int rk = config_key_validate("snapshots.retention", text, &ek);

		check_refusal(rk, &ek, "snapshots.retention");
		if ((rk == 0) != (r == 0))
			abort();
	}
}

/* The input as the instance's schedule and retention, on a small list of snapshots. */
static void fuzz_plan(const char *text)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	const int64_t now = 1795276623;
	const struct plan_snapshot snaps[] = {
	    {"s0", now - 40 * 86400, 0, true},	 {"m0", now - 30 * 86400, now - 3600, false},
	    {"s1", now - 7200, 0, true},	 {"m1", now - 3600, 0, false},
	    {"s2", now - 60, now + 86400, true}, {"s3", now + 3600, 0, true},
	};
	struct plan_decision d[6];
	const struct plan_state st = {.instance = "fuzz",
				      .running = true,
				      .changed = true,
				      .last_slot = now - 86400,
				      .now = now};
	struct plan_due due;
	struct err *e = NULL;
	int r;

	if (kvlist_set(&config, "snapshots.schedule", text) < 0 ||
	    kvlist_set(&config, "snapshots.retention", text) < 0 ||
	    kvlist_set(&config, "snapshots.retention.min", "1") < 0)
		return;
	r = snapshot_plan_prune(&config, snaps, 6, now, PLAN_REASONS_ALL, d, &e);
	check_refusal(r, &e, "prune");
	err_freep(&e);
	for (size_t i = 0; r == 0 && i < 6; i++) {
		/* A reason always; a manual snapshot goes only when it expired. */
		if (!d[i].reason[0] || !memchr(d[i].reason, '\0', sizeof(d[i].reason)))
			abort();
		if (d[i].verdict == PLAN_DELETE && !snaps[i].scheduled &&
		    !(snaps[i].expires_at && snaps[i].expires_at <= now))
			abort();
	}
	kvlist_unset(&config, "snapshots.retention");
	/* Without s3: a due slot lies after s2 (taken a minute ago) and not after now. */
	r = snapshot_plan_due(&config, &st, snaps, 5, &due, &e);
	check_refusal(r, &e, "due");
	err_freep(&e);
	if (r == 0 && (due.take || due.skip) &&
	    (due.take == due.skip || due.slot <= now - 60 || due.slot > now))
		abort();
	if (r == 0 && due.next_slot && due.next_slot <= now)
		abort();
	/* With s3, taken "after now" (the clock went back): nothing is due. */
	r = snapshot_plan_due(&config, &st, snaps, 6, &due, &e);
	check_refusal(r, &e, "due");
	err_freep(&e);
	if (r == 0 && (due.take || due.skip))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Bytes after a NUL are not part of the value, as for any C string. */
	_cleanup_free_ char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_schedule(text);
	fuzz_retention(text);
	fuzz_plan(text);
	return 0;
}
