#include "snapshots/plan.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "config/keys.h"
#include "config/schedule.h"

/* The snapshots.* values the planner reads, parsed. */
struct policy {
	struct config_retention retention;
	bool has_retention;
	int64_t limit; /* -1: no limit */
	int64_t floor; /* snapshots.retention.min */
};

/* A whole number that fits int64_t, digits only. */
static bool parse_count(const char *s, int64_t *ret)
{
	int64_t v = 0;
	size_t i = 0;

	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (i == 0 || s[i])
		return false;
	*ret = v;
	return true;
}

/* Reads a non-negative integer key; `fallback` when unset. The scheduler asks for every
 * instance at every pass, so a valid value is read directly and only a bad one goes through
 * config_key_validate() for its message. */
static int read_count(const struct kvlist *config, const char *key, int64_t fallback, int64_t *ret,
		      struct err **err)
{
	const char *v = config_get(config, key);
	int r;

	if (!v || !*v) {
		*ret = fallback;
		return 0;
	}
	if (parse_count(v, ret))
		return 0;
	r = config_key_validate(key, v, err);
	return err_set(err, r < 0 ? r : -EINVAL, "Invalid value \"%s\" for \"%s\"", v, key);
}

static int policy_load(const struct kvlist *config, struct policy *ret, struct err **err)
{
	struct policy p = {.limit = -1};
	const char *retention = config_get(config, "snapshots.retention");
	int r;

	if (retention && *retention) {
		/* A bad value gets the message `config set` would have given. */
		if (config_retention_parse(retention, &p.retention, NULL) < 0) {
			r = config_key_validate("snapshots.retention", retention, err);
			return err_set(err, r < 0 ? r : -EINVAL,
				       "Invalid value \"%s\" for \"snapshots.retention\"",
				       retention);
		}
		p.has_retention = true;
	}
	r = read_count(config, "snapshots.limit", -1, &p.limit, err);
	if (r < 0)
		return r;
	r = read_count(config, "snapshots.retention.min", 0, &p.floor, err);
	if (r < 0)
		return r;
	*ret = p;
	return 0;
}

/* ---- calendar and text, without libc's locale and time zone machinery ------------------------ */

/* A prune over 1,000 instances of 1,000 snapshots formats a million reasons; strftime() and
 * gmtime_r() (which takes the time zone lock) would be most of the pass. */

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* A time split in UTC. */
struct civil {
	int64_t year;
	int month, day, hour, minute; /* 1-12, 1-31, 0-23, 0-59 */
	int64_t days;		      /* since 1970-01-01 */
};

/* The last day civil_of() converted: snapshots come oldest first, so in one prune most dates
 * fall on the day converted just before. */
struct calendar {
	int64_t days; /* INT64_MIN: none yet */
	int64_t year;
	int month, day;
};

/* H. Hinnant's civil_from_days. Times from 1970 on (all real ones) take unsigned arithmetic,
 * where divisions by constants are a multiplication each. */
static void civil_of(struct calendar *cal, int64_t t, struct civil *c)
{
	uint64_t z, era, doe, yoe, doy, mp, secs;
	int64_t days;

	if (t >= 0) {
		days = (int64_t)((uint64_t)t / 86400);
		secs = (uint64_t)t % 86400;
	} else {
		days = floor_div(t, 86400);
		secs = (uint64_t)(t - days * 86400);
	}
	c->days = days;
	c->hour = (int)(secs / 3600);
	c->minute = (int)(secs / 60 % 60);
	if (cal && cal->days == days) {
		c->year = cal->year;
		c->month = cal->month;
		c->day = cal->day;
		return;
	}
	if (days >= 0) {
		z = (uint64_t)days + 719468;
		era = z / 146097;
		doe = z - era * 146097;
		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
		mp = (5 * doy + 2) / 153;
		c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
		c->month = (int)(mp < 10 ? mp + 3 : mp - 9);
		c->year = (int64_t)(yoe + era * 400) + (c->month <= 2);
	} else {
		int64_t zs = days + 719468, eras = floor_div(zs, 146097);
		int64_t does = zs - eras * 146097;
		int64_t yoes = (does - does / 1460 + does / 36524 - does / 146096) / 365;
		int64_t doys = does - (365 * yoes + yoes / 4 - yoes / 100);
		int64_t mps = (5 * doys + 2) / 153;

		c->day = (int)(doys - (153 * mps + 2) / 5 + 1);
		c->month = (int)(mps < 10 ? mps + 3 : mps - 9);
		c->year = yoes + eras * 400 + (c->month <= 2);
	}
	if (cal)
		*cal = (struct calendar){
		    .days = days, .year = c->year, .month = c->month, .day = c->day};
}

/* Text appended to a fixed buffer, cut (never overrun) at its end. */
struct text {
	char *p;
	size_t left; /* room left, the NUL included */
};

static void put_mem(struct text *t, const char *s, size_t len)
{
	if (len >= t->left)
		len = t->left - 1;
	memcpy(t->p, s, len);
	t->p += len;
	t->left -= len;
	*t->p = '\0';
}

static void put_str(struct text *t, const char *s)
{
	put_mem(t, s, strlen(s));
}

/* A number, zero-padded to `width` digits. */
static void put_num(struct text *t, int64_t v, int width)
{
	char digits[24];
	int n = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		digits[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n < width)
		digits[n++] = '0';
	if (v < 0)
		digits[n++] = '-';
	for (int i = 0; i < n / 2; i++) {
		char x = digits[i];

		digits[i] = digits[n - 1 - i];
		digits[n - 1 - i] = x;
	}
	put_mem(t, digits, (size_t)n);
}

/* Two digits of 0-99 at p. */
static void two(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* "2026/11/27 14:00 UTC", as `cairn info` shows times. */
static void put_time(struct text *t, struct calendar *cal, int64_t when)
{
	struct civil c;
	char buf[24];

	civil_of(cal, when, &c);
	if (c.year < 0 || c.year > 9999) {
		put_num(t, c.year, 4);
		put_mem(t, "/", 1);
		put_num(t, c.month, 2);
		put_mem(t, "/", 1);
		put_num(t, c.day, 2);
		put_mem(t, " ", 1);
		put_num(t, c.hour, 2);
		put_mem(t, ":", 1);
		put_num(t, c.minute, 2);
		put_mem(t, " UTC", 4);
		return;
	}
	memcpy(buf, "0000/00/00 00:00 UTC", 20);
	two(buf, (int)(c.year / 100));
	two(buf + 2, (int)(c.year % 100));
	two(buf + 5, c.month);
	two(buf + 8, c.day);
	two(buf + 11, c.hour);
	two(buf + 14, c.minute);
	put_mem(t, buf, 20);
}

/* The same into a buffer of its own. */
static void format_time(int64_t when, char buf[static 32])
{
	struct text out = {buf, 32};

	buf[0] = '\0';
	put_time(&out, NULL, when);
}

/* "2026-11-27" */
/* A year in 4 digits (more when it takes more). */
static void put_year(struct text *t, int64_t year)
{
	char buf[4];

	if (year < 0 || year > 9999) {
		put_num(t, year, 4);
		return;
	}
	two(buf, (int)(year / 100));
	two(buf + 2, (int)(year % 100));
	put_mem(t, buf, 4);
}

/* "-07": a dash and two digits. */
static void put_dash2(struct text *t, const char *dash, int v)
{
	char buf[3] = {dash[0]};

	two(buf + 1, v);
	put_mem(t, buf, 3);
}

static void put_date(struct text *t, const struct civil *c)
{
	put_year(t, c->year);
	put_dash2(t, "-", c->month);
	put_dash2(t, "-", c->day);
}

/* ---- prune ----------------------------------------------------------------------------------- */

enum unit {
	UNIT_HOUR,
	UNIT_DAY,
	UNIT_WEEK,
	UNIT_MONTH,
	UNIT_YEAR,
	UNIT_MAX,
};

static const char *const unit_names[UNIT_MAX] = {"hours", "days", "weeks", "months", "years"};

/* The number of the bucket of unit `u` that `c` falls in; consecutive buckets differ by 1. */
static int64_t bucket_of(int64_t t, const struct civil *c, enum unit u)
{
	switch (u) {
	case UNIT_HOUR:
		return floor_div(t, 3600);
	case UNIT_DAY:
		return c->days;
	case UNIT_WEEK:
		/* 1970-01-01 was a Thursday: shift by three days so weeks start on Monday. */
		return floor_div(c->days + 3, 7);
	case UNIT_MONTH:
		return c->year * 12 + c->month - 1;
	case UNIT_YEAR:
		return c->year;
	case UNIT_MAX:
		break;
	}
	return 0;
}

/* "day 2026-11-27": the bucket of unit `u` that `t` falls in, for reasons. */
static void put_bucket(struct text *out, struct calendar *cal, int64_t t, enum unit u)
{
	struct civil c;

	civil_of(cal, t, &c);
	switch (u) {
	case UNIT_HOUR:
		put_str(out, "hour ");
		put_date(out, &c);
		put_dash2(out, " ", c.hour);
		put_str(out, ":00");
		break;
	case UNIT_DAY:
		put_str(out, "day ");
		put_date(out, &c);
		break;
	case UNIT_WEEK:
		/* Named by its Monday. */
		civil_of(NULL, (floor_div(c.days + 3, 7) * 7 - 3) * 86400, &c);
		put_str(out, "week of ");
		put_date(out, &c);
		break;
	case UNIT_MONTH:
		put_str(out, "month ");
		put_year(out, c.year);
		put_dash2(out, "-", c.month);
		break;
	case UNIT_YEAR:
		put_str(out, "year ");
		put_year(out, c.year);
		break;
	case UNIT_MAX:
		break;
	}
}

static unsigned unit_count(const struct config_retention *r, enum unit u)
{
	switch (u) {
	case UNIT_HOUR:
		return r->hours;
	case UNIT_DAY:
		return r->days;
	case UNIT_WEEK:
		return r->weeks;
	case UNIT_MONTH:
		return r->months;
	case UNIT_YEAR:
		return r->years;
	case UNIT_MAX:
		break;
	}
	return 0;
}

/* Why a snapshot goes, before the floor has its say. */
enum cause {
	CAUSE_NONE,
	CAUSE_EXPIRED,
	CAUSE_RETENTION,
	CAUSE_LIMIT,
	CAUSE_MAX,
};

/* What prune works out about one snapshot. */
struct verdict {
	enum cause cause;
	int kept_by;	 /* the longest enum unit that keeps it, -1 none, UNIT_MAX: after now */
	int in_range_of; /* the longest enum unit whose range it is in, -1 none */
	bool floor;	 /* kept by the floor over `cause` */
};

/* Appends the reason a rule deletes `s` for. */
static void put_cause(struct text *out, struct calendar *cal, const struct plan_snapshot *s,
		      const struct verdict *v, const struct policy *p, int far_unit)
{
	switch (v->cause) {
	case CAUSE_EXPIRED:
		put_str(out, "expired at ");
		put_time(out, cal, s->expires_at);
		return;
	case CAUSE_RETENTION:
		if (v->in_range_of >= 0) {
			put_str(out, "retention: not the oldest of its ");
			put_bucket(out, cal, s->created_at, (enum unit)v->in_range_of);
		} else {
			put_str(out, "retention: older than the last ");
			put_num(out, unit_count(&p->retention, (enum unit)far_unit), 1);
			put_str(out, " ");
			put_str(out, unit_names[far_unit]);
		}
		return;
	case CAUSE_LIMIT:
		put_str(out, "limit ");
		put_num(out, p->limit, 1);
		return;
	case CAUSE_NONE:
	case CAUSE_MAX:
		break;
	}
}

/* Appends why `s` stays when no rule deletes it. */
static void put_keep(struct text *out, struct calendar *cal, const struct plan_snapshot *s,
		     const struct verdict *v)
{
	if (s->scheduled && v->kept_by == UNIT_MAX) {
		put_str(out, "retention: created after now");
	} else if (s->scheduled && v->kept_by >= 0) {
		put_str(out, "retention: oldest of ");
		put_bucket(out, cal, s->created_at, (enum unit)v->kept_by);
	} else if (s->expires_at) {
		put_str(out, s->scheduled ? "scheduled, expires at " : "manual, expires at ");
		put_time(out, cal, s->expires_at);
	} else {
		put_str(out, s->scheduled ? "scheduled, no expiry" : "manual");
	}
}

static int compare_created(const void *a, const void *b, void *data)
{
	const struct plan_snapshot *snaps = data;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;

	if (snaps[i].created_at != snaps[j].created_at)
		return snaps[i].created_at < snaps[j].created_at ? -1 : 1;
	/* Stable: equal times keep the caller's order. */
	return i < j ? -1 : i > j;
}

/*
 * Retention over the scheduled snapshots that did not expire, oldest first: in each bucket of
 * each unit's range, the first one met is the oldest and is kept.
 */
static void apply_retention(const struct plan_snapshot *snaps, const size_t *order, size_t n,
			    int64_t now, const struct policy *p, struct verdict *v,
			    struct calendar *cal)
{
	int64_t now_bucket[UNIT_MAX], last_bucket[UNIT_MAX];
	struct civil c;

	civil_of(NULL, now, &c);
	for (int u = 0; u < UNIT_MAX; u++) {
		now_bucket[u] = bucket_of(now, &c, (enum unit)u);
		last_bucket[u] = INT64_MIN;
	}
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k];
		const struct plan_snapshot *s = &snaps[i];

		if (!s->scheduled || v[i].cause != CAUSE_NONE)
			continue;
		if (s->created_at > now) {
			v[i].kept_by = UNIT_MAX;
			continue;
		}
		civil_of(cal, s->created_at, &c);
		for (int u = 0; u < UNIT_MAX; u++) {
			unsigned count = unit_count(&p->retention, (enum unit)u);
			int64_t b;

			if (count == 0)
				continue;
			b = bucket_of(s->created_at, &c, (enum unit)u);
			if (b <= now_bucket[u] - (int64_t)count)
				continue;
			v[i].in_range_of = u;
			if (b != last_bucket[u]) {
				last_bucket[u] = b;
				v[i].kept_by = u;
			}
		}
		if (v[i].kept_by < 0)
			v[i].cause = CAUSE_RETENTION;
	}
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_of(int64_t y, int m, int d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* The unit whose range reaches furthest back (for "older than the last 12 months"). */
static int furthest_unit(const struct config_retention *r, int64_t now)
{
	struct civil c;
	int best = -1;
	int64_t best_start = INT64_MAX;

	civil_of(NULL, now, &c);
	for (int u = 0; u < UNIT_MAX; u++) {
		int64_t count = unit_count(r, (enum unit)u), start = 0, month;

		if (count == 0)
			continue;
		switch ((enum unit)u) {
		case UNIT_HOUR:
			start = (floor_div(now, 3600) - count + 1) * 3600;
			break;
		case UNIT_DAY:
			start = (c.days - count + 1) * 86400;
			break;
		case UNIT_WEEK:
			start = ((floor_div(c.days + 3, 7) - count + 1) * 7 - 3) * 86400;
			break;
		case UNIT_MONTH:
			month = c.year * 12 + c.month - 1 - (count - 1);
			start = days_of(floor_div(month, 12),
					(int)(month - floor_div(month, 12) * 12) + 1, 1) *
				86400;
			break;
		case UNIT_YEAR:
			start = days_of(c.year - count + 1, 1, 1) * 86400;
			break;
		case UNIT_MAX:
			break;
		}
		if (start < best_start) {
			best_start = start;
			best = u;
		}
	}
	return best;
}

int snapshot_plan_prune(const struct kvlist *config, const struct plan_snapshot *snaps, size_t n,
			int64_t now, enum plan_reasons reasons, struct plan_decision *ret,
			struct err **err)
{
	_cleanup_free_ struct verdict *v = NULL;
	_cleanup_free_ size_t *order = NULL;
	struct calendar cal = {.days = INT64_MIN};
	struct policy p;
	int64_t remaining = 0, kept_scheduled = 0;
	bool sorted = true;
	int far_unit = -1;
	int r;

	r = policy_load(config, &p, err);
	if (r < 0)
		return r;
	if (n == 0)
		return 0;
	v = calloc(n, sizeof(*v));
	order = calloc(n, sizeof(*order));
	if (!v || !order)
		return err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; i < n; i++) {
		order[i] = i;
		v[i] = (struct verdict){.cause = CAUSE_NONE, .kept_by = -1, .in_range_of = -1};
		if (i > 0 && snaps[i].created_at < snaps[i - 1].created_at)
			sorted = false;
	}
	/* The caller lists them oldest first; a pass over 1,000 instances should not pay for a
	 * sort it does not need. */
	if (!sorted)
		qsort_r(order, n, sizeof(*order), compare_created, (void *)snaps);

	for (size_t i = 0; i < n; i++)
		if (snaps[i].expires_at != 0 && snaps[i].expires_at <= now)
			v[i].cause = CAUSE_EXPIRED;
	if (p.has_retention) {
		apply_retention(snaps, order, n, now, &p, v, &cal);
		far_unit = furthest_unit(&p.retention, now);
	}
	for (size_t i = 0; i < n; i++)
		remaining += v[i].cause == CAUSE_NONE;
	for (size_t k = 0; p.limit >= 0 && k < n && remaining > p.limit; k++) {
		size_t i = order[k];

		if (snaps[i].scheduled && v[i].cause == CAUSE_NONE) {
			v[i].cause = CAUSE_LIMIT;
			remaining--;
		}
	}
	for (size_t i = 0; i < n; i++)
		kept_scheduled += snaps[i].scheduled && v[i].cause == CAUSE_NONE;
	for (size_t k = n; k > 0 && kept_scheduled < p.floor; k--) {
		size_t i = order[k - 1];

		if (snaps[i].scheduled && v[i].cause != CAUSE_NONE) {
			v[i].floor = true;
			kept_scheduled++;
		}
	}

	for (size_t i = 0; i < n; i++) {
		struct text out = {ret[i].reason, sizeof(ret[i].reason)};

		ret[i].reason[0] = '\0';
		ret[i].verdict = v[i].cause == CAUSE_NONE || v[i].floor ? PLAN_KEEP : PLAN_DELETE;
		if (v[i].cause == CAUSE_NONE) {
			if (reasons == PLAN_REASONS_ALL)
				put_keep(&out, &cal, &snaps[i], &v[i]);
			continue;
		}
		if (v[i].floor) {
			put_str(&out, "floor (snapshots.retention.min=");
			put_num(&out, p.floor, 1);
			put_str(&out, ") over: ");
		}
		put_cause(&out, &cal, &snaps[i], &v[i], &p, far_unit);
	}
	return 0;
}

/* ---- due --------------------------------------------------------------------------------- */

/* Whether a due slot is skipped, and why; `reason` untouched when not. */
static bool skip_reason(const struct kvlist *config, const struct plan_state *state,
			const struct policy *p, const struct plan_snapshot *snaps, size_t n,
			char *reason, size_t size)
{
	const struct plan_snapshot *newest = NULL;
	int64_t manual = 0;

	if (!state->running && !state->starting &&
	    !config_get_bool(config, "snapshots.schedule.stopped", false)) {
		snprintf(reason, size, "instance is stopped");
		return true;
	}
	for (size_t i = 0; i < n; i++) {
		if (!snaps[i].scheduled &&
		    !(snaps[i].expires_at != 0 && snaps[i].expires_at <= state->now))
			manual++;
		if (!newest || snaps[i].created_at >= newest->created_at)
			newest = &snaps[i];
	}
	/* Taking one would only have the limit evict it again; with a floor it rotates the
	 * floor's snapshots, which is worth doing. */
	if (p->limit >= 0 && manual >= p->limit && p->floor == 0) {
		if (p->limit == 0)
			snprintf(reason, size, "limit 0 (snapshots.limit=0 allows none)");
		else
			snprintf(reason, size, "limit %" PRId64 " reached by manual snapshots",
				 p->limit);
		return true;
	}
	if (newest && !state->changed &&
	    config_get_bool(config, "snapshots.schedule.onchange", false)) {
		snprintf(reason, size, "unchanged since %s", newest->name ? newest->name : "");
		return true;
	}
	return false;
}

int snapshot_plan_due(const struct kvlist *config, const struct plan_state *state,
		      const struct plan_snapshot *snaps, size_t n, struct plan_due *ret,
		      struct err **err)
{
	_cleanup_schedule_ struct config_schedule *s = NULL;
	const char *text = config_get(config, "snapshots.schedule");
	struct plan_due due = {0};
	struct policy p;
	int64_t now = state->now, last = state->last_slot, latest, late = 0;
	char when[32];
	unsigned missed = 0;
	bool catchup;
	int r;

	r = policy_load(config, &p, err);
	if (r < 0)
		return r;
	if (!text || !*text) {
		snprintf(due.reason, sizeof(due.reason), "no schedule");
		*ret = due;
		return 0;
	}
	r = config_schedule_parse(text, state->instance, &s, err);
	if (r < 0)
		return r;
	catchup = config_get_bool(config, "snapshots.schedule.catchup", true);
	for (size_t i = 0; i < n; i++)
		if (snaps[i].scheduled && snaps[i].created_at > last)
			last = snaps[i].created_at;
	due.next_slot = config_schedule_next(s, now);

	if (last == 0)
		latest = config_schedule_prev(s, now, now - PLAN_ON_TIME + 1);
	else
		latest = last < now ? config_schedule_prev(s, now, last + 1) : 0;
	if (latest != 0) {
		/* Slots in (last, latest) were missed; a late latest one too. */
		for (int64_t t = last ? config_schedule_next(s, last) : latest;
		     t != 0 && t < latest && missed < PLAN_MISSED_MAX;
		     t = config_schedule_next(s, t))
			missed++;
		if (now - latest >= PLAN_ON_TIME) {
			late = latest;
			if (missed < PLAN_MISSED_MAX)
				missed++;
		}
	}
	due.missed = missed;

	if (state->starting && config_schedule_at_startup(s) && now > last) {
		due.take = true;
		due.slot = now;
		snprintf(due.reason, sizeof(due.reason), "@startup");
	} else if (latest == 0) {
		if (due.next_slot) {
			format_time(due.next_slot, when);
			snprintf(due.reason, sizeof(due.reason), "next slot %s", when);
		} else {
			snprintf(due.reason, sizeof(due.reason), "no timed slot");
		}
		*ret = due;
		return 0;
	} else if (missed == 0) {
		due.take = true;
		due.slot = latest;
		format_time(latest, when);
		snprintf(due.reason, sizeof(due.reason), "slot %s", when);
	} else if (catchup) {
		due.take = true;
		due.catchup = true;
		due.slot = latest;
		format_time(latest, when);
		snprintf(due.reason, sizeof(due.reason),
			 "catch-up%s for %s%u missed slot%s, last %s",
			 state->daemon_start ? " at daemon start" : "",
			 missed >= PLAN_MISSED_MAX ? "at least " : "", missed,
			 missed == 1 ? "" : "s", when);
	} else if (!late) {
		/* Only the on-time slot counts; the ones before it are gone. */
		due.take = true;
		due.slot = latest;
		format_time(latest, when);
		snprintf(due.reason, sizeof(due.reason),
			 "slot %s (%s%u missed slot%s skipped: snapshots.schedule.catchup=false)",
			 when, missed >= PLAN_MISSED_MAX ? "at least " : "", missed,
			 missed == 1 ? "" : "s");
	} else {
		due.skip = true;
		due.slot = latest;
		snprintf(due.reason, sizeof(due.reason),
			 "%s%u missed slot%s skipped (snapshots.schedule.catchup=false)",
			 missed >= PLAN_MISSED_MAX ? "at least " : "", missed,
			 missed == 1 ? "" : "s");
		*ret = due;
		return 0;
	}
	if (skip_reason(config, state, &p, snaps, n, due.reason, sizeof(due.reason))) {
		due.take = false;
		due.catchup = false;
		due.skip = true;
	}
	*ret = due;
	return 0;
}

int64_t snapshot_plan_next_expiry(const struct plan_snapshot *snaps, size_t n, int64_t now)
{
	int64_t best = 0;

	for (size_t i = 0; i < n; i++)
		if (snaps[i].expires_at > now && (best == 0 || snaps[i].expires_at < best))
			best = snaps[i].expires_at;
	return best;
}
