/*
 * snapshots.schedule and snapshots.retention: what the parsers accept and refuse (with the
 * position of the fault), the spread of the aliases, and next/prev against reference
 * implementations written independently here: fixed schedules over a year minute by minute
 * (across 29 February 2028), and random cron lines whose sets the generator knows.
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
#include "config/schedule.h"

/* 2027-06-01 00:00 UTC and 2028-06-01 00:00 UTC: a year that holds 29 February 2028. */
#define YEAR_START INT64_C(1811721600)
#define YEAR_END INT64_C(1843344000)

static int64_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {
	    .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};

	return (int64_t)timegm(&tm);
}

static struct config_schedule *parse_ok(const char *text, const char *instance)
{
	struct config_schedule *s = NULL;
	struct err *e = NULL;
	int r = config_schedule_parse(text, instance, &s, &e);

	if (r != 0)
		fail_msg("\"%s\" refused: %s", text, err_msg(e, r));
	assert_null(e);
	assert_non_null(s);
	return s;
}

/* Refused with -EINVAL and a message that is `msg` exactly, or contains it when !exact. */
static void refused(const char *text, const char *msg, bool exact)
{
	struct config_schedule *s = NULL;
	struct err *e = NULL;
	int r = config_schedule_parse(text, "c1", &s, &e);

	if (r != -EINVAL)
		fail_msg("\"%s\" gave %d, expected -EINVAL", text, r);
	assert_null(s);
	assert_non_null(e);
	assert_int_equal(e->code, -EINVAL);
	if (exact ? strcmp(e->msg, msg) != 0 : !strstr(e->msg, msg))
		fail_msg("\"%s\": message \"%s\", expected %s\"%s\"", text, e->msg,
			 exact ? "" : "it to contain ", msg);
	err_free(e);
	e = NULL;
	assert_int_equal(config_schedule_valid(text, &e), -EINVAL);
	err_free(e);
}

static void test_accept(void **state)
{
	static const char *const ok[] = {
	    "* * * * *",       "*/15 * * * *",	   "0 2,14 * * 1-5",
	    "30 4 1,15 * 5",   "0 0 29 2 *",	   "0 0 * JAN-Mar Sun",
	    "0 0 * * 7",       "0 0 * * 0-7",	   "1-30/5 * * * *",
	    "5/10 * * * *",    "0 0 1 */3 *",	   "59 23 31 12 *",
	    "0 0 30 1,2 *",    "00 05 01 01 0",	   "0 0 * * mon-fri/2",
	    "0 0 1,15,31 * *", "@hourly",	   "@DAILY",
	    "@midnight",       "@weekly",	   "@monthly",
	    "@annually",       "@yearly",	   "@startup",
	    "@never",	       "@daily, @startup", "0 2 * * *,  0 14 * * *",
	    "  @daily  ",      "0\t2\t*\t*\t*",	   "0 2,14 * * 1-5, 30 3 * * sat,sun, @startup",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct err *e = NULL;

		config_schedule_free(parse_ok(ok[i], "c1"));
		assert_int_equal(config_schedule_valid(ok[i], &e), 0);
		assert_null(e);
	}
	config_schedule_free(NULL);
}

static void test_refuse(void **state)
{
	(void)state;
	/* The position of the fault, exactly. */
	refused("61 * * * *",
		"Invalid schedule \"61 * * * *\": field 1 (minute): 61 is out of 0-59", true);
	refused("0 25 * * *", "Invalid schedule \"0 25 * * *\": field 2 (hour): 25 is out of 0-23",
		true);
	refused("@daily, 0 25 * * *",
		"Invalid schedule \"@daily, 0 25 * * *\": entry 2 \"0 25 * * *\": field 2 (hour): "
		"25 is out of 0-23",
		true);
	refused(
	    "* * * *",
	    "Invalid schedule \"* * * *\": expected 5 fields (minute, hour, day of month, month, "
	    "day of week) or an @alias, found 4",
	    true);
	refused("0 0 * foo *",
		"Invalid schedule \"0 0 * foo *\": field 4 (month): \"foo\" is not a number or a "
		"month name (jan..dec)",
		true);
	refused(
	    "0 0 * * mun",
	    "Invalid schedule \"0 0 * * mun\": field 5 (day of week): \"mun\" is not a number or "
	    "a day name (sun..sat)",
	    true);
	refused("*/0 * * * *",
		"Invalid schedule \"*/0 * * * *\": field 1 (minute): step 0 is out of 1-59", true);
	refused("0 0 5-1 * *",
		"Invalid schedule \"0 0 5-1 * *\": field 3 (day of month): range 5-1 is reversed",
		true);
	refused("0 0 31 2 *",
		"Invalid schedule \"0 0 31 2 *\": fields 3 to 5 (day of month, month, day of week) "
		"never meet on a real date, so it would never fire",
		true);
	refused("", "Invalid schedule \"\": it is empty", true);
	refused("@never, @daily",
		"Invalid schedule \"@never, @daily\": @never cannot be combined with other entries",
		true);
	refused("@daily,@hourly",
		"Invalid schedule \"@daily,@hourly\": \"@daily,@hourly\" is not an alias: entries "
		"are separated by \", \" (a comma and a blank)",
		true);
	refused("0 0 * * 1, 0 12 * * fri-mon",
		"Invalid schedule \"0 0 * * 1, 0 12 * * fri-mon\": entry 2 \"0 12 * * fri-mon\": "
		"field 5 (day of week): range fri-mon is reversed",
		true);

	/* The rest: the right place and words. */
	refused("@dayly", "\"@dayly\" is not an alias (use @hourly @daily", false);
	refused("@reboot", "is not an alias", false);
	refused("@daily now", "unexpected text after \"@daily\"", false);
	refused("@daily, ", "entry 2 \"\": the entry is empty", false);
	refused("1,,2 * * * *", "field 1 (minute): empty item in the list \"1,,2\"", false);
	refused("1, * * * *", "entry 1 \"1\": expected 5 fields", false);
	refused("1- * * * *", "field 1 (minute): a value is missing", false);
	refused("0 0 * * 8", "field 5 (day of week): 8 is out of 0-7", false);
	refused("0 0 0 * *", "field 3 (day of month): 0 is out of 1-31", false);
	refused("0 0 * 13 *", "field 4 (month): 13 is out of 1-12", false);
	refused("0 0 * 0 *", "field 4 (month): 0 is out of 1-12", false);
	refused("0 0 * * * *", "found 6", false);
	refused("5/ * * * *", "field 1 (minute): a step is missing after \"5/\"", false);
	refused("*5 * * * *", "field 1 (minute): unexpected \"5\" after \"*\"", false);
	refused("1-5-7 * * * *", "unexpected \"-7\" after \"1-5\"", false);
	refused("99999999999 * * * *", "field 1 (minute): 99999999999 is out of 0-59", false);
	refused("*/99999999999 * * * *", "step 99999999999 is out of 1-59", false);
	refused("0 0 * * */8", "field 5 (day of week): step 8 is out of 1-7", false);
	refused("jan * * * *", "field 1 (minute): \"jan\" is not a number", false);
	refused("0 0 * january *", "\"january\" is not a number or a month name", false);
	refused("0 0 * * monday", "\"monday\" is not a number or a day name", false);
	refused("0 0 -1 * *", "field 3 (day of month): \"-1\" is not a number", false);
	refused("0 0 ? * *", "\"?\" is not a number", false);
	refused("0 0 L * *", "\"L\" is not a number", false);
	refused("0 0 1 * 1#2", "unexpected \"#2\" after \"1\"", false);
	refused("0 0 30,31 2 *", "never meet", false);
	refused("0 0 31 4,6,9,11 *", "never meet", false);
	refused("0 0 31 2-6/2 *", "never meet", false);
	refused(" , ", "entry 1 \"\": the entry is empty", false);
	refused("0\n0 * * * *", "field 1 (minute): unexpected", false);
	refused(NULL, "it is empty", false);
}

/* FNV-1a over the name, as the header documents the spread. */
static uint32_t spread_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

/* Two schedules have the same slots from t on, over `count` slots. */
static void same_slots(const char *a, const char *ia, const char *b, const char *ib, int64_t t,
		       int count)
{
	struct config_schedule *sa = parse_ok(a, ia), *sb = parse_ok(b, ib);

	for (int i = 0; i < count; i++) {
		int64_t na = config_schedule_next(sa, t), nb = config_schedule_next(sb, t);

		if (na != nb)
			fail_msg("\"%s\" (%s) and \"%s\" (%s) differ after %" PRId64 ": %" PRId64
				 " and %" PRId64,
				 a, ia, b, ib, t, na, nb);
		assert_true(na > t);
		t = na;
	}
	config_schedule_free(sa);
	config_schedule_free(sb);
}

static void test_aliases(void **state)
{
	static const char *const names[] = {"c1", "web-042", "", "a-much-longer-instance-name-9"};
	int64_t t = utc(2026, 11, 21, 15, 57);
	unsigned minutes_seen = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint32_t h = spread_hash(names[i]);
		char line[64];

		snprintf(line, sizeof(line), "%u * * * *", h % 60);
		same_slots("@hourly", names[i], line, NULL, t, 50);
		snprintf(line, sizeof(line), "%u %u * * *", h % 60, h / 60 % 24);
		same_slots("@daily", names[i], line, NULL, t, 50);
		same_slots("@Daily", names[i], line, NULL, t, 5);
		snprintf(line, sizeof(line), "%u 0 * * *", h % 60);
		same_slots("@midnight", names[i], line, NULL, t, 50);
		snprintf(line, sizeof(line), "%u %u * * 0", h % 60, h / 60 % 24);
		same_slots("@weekly", names[i], line, NULL, t, 50);
		snprintf(line, sizeof(line), "%u %u 1 * *", h % 60, h / 60 % 24);
		same_slots("@monthly", names[i], line, NULL, t, 30);
		snprintf(line, sizeof(line), "%u %u 1 1 *", h % 60, h / 60 % 24);
		same_slots("@yearly", names[i], line, NULL, t, 10);
		same_slots("@annually", names[i], line, NULL, t, 10);
	}
	/* NULL reads as "". */
	same_slots("@daily", NULL, "@daily", "", t, 10);

	/* The spread spreads: 200 instances land on many minutes. */
	for (int i = 0; i < 200; i++) {
		char name[16];
		struct config_schedule *s;
		int64_t next;

		snprintf(name, sizeof(name), "c%d", i);
		s = parse_ok("@hourly", name);
		next = config_schedule_next(s, t);
		minutes_seen |= 1u << (next / 60 % 60 % 32);
		config_schedule_free(s);
	}
	assert_true(__builtin_popcount(minutes_seen) > 20);

	/* Day names, numbers, 0 and 7. */
	same_slots("0 0 * * 7", NULL, "0 0 * * 0", NULL, t, 20);
	same_slots("0 0 * * SUN", NULL, "0 0 * * 0", NULL, t, 20);
	same_slots("0 0 * * 0-7", NULL, "0 0 * * *", NULL, t, 20);
	same_slots("0 0 * * 5-7", NULL, "0 0 * * fri,sat,sun", NULL, t, 20);
	same_slots("0 0 1 Jan-MAR *", NULL, "0 0 1 1,2,3 *", NULL, t, 20);
	same_slots("5/10 * * * *", NULL, "5-59/10 * * * *", NULL, t, 50);
	same_slots("1-30/5 * * * *", NULL, "1,6,11,16,21,26 * * * *", NULL, t, 50);
	same_slots("0 2 * * *,  0 14 * * *", NULL, "0 2,14 * * *", NULL, t, 50);
	same_slots("@daily, @startup", "c1", "@daily", "c1", t, 10);
}

static void test_startup_never(void **state)
{
	struct config_schedule *s;

	(void)state;
	s = parse_ok("@startup", "c1");
	assert_true(config_schedule_at_startup(s));
	assert_int_equal(config_schedule_next(s, YEAR_START), 0);
	assert_int_equal(config_schedule_prev(s, YEAR_START, 0), 0);
	config_schedule_free(s);
	s = parse_ok("@never", "c1");
	assert_false(config_schedule_at_startup(s));
	assert_int_equal(config_schedule_next(s, YEAR_START), 0);
	assert_int_equal(config_schedule_prev(s, YEAR_START, 0), 0);
	config_schedule_free(s);
	s = parse_ok("@hourly, @startup", "c1");
	assert_true(config_schedule_at_startup(s));
	assert_true(config_schedule_next(s, YEAR_START) > YEAR_START);
	config_schedule_free(s);
	assert_false(config_schedule_at_startup(NULL));
	assert_int_equal(config_schedule_next(NULL, 0), 0);
}

/* ---- next and prev against a minute-by-minute reference ---------------------------------- */

/* A fixed schedule and what it means, written here independently of the parser. */
struct fixed {
	const char *text;
	const char *instance;
	bool (*day)(const struct tm *tm);
	bool (*time)(int hour, int minute);
};

static uint32_t spread_c1, spread_web;

static bool any_day(const struct tm *tm)
{
	(void)tm;
	return true;
}
static bool every_15(int h, int m)
{
	(void)h;
	return m % 15 == 0;
}
static bool weekdays(const struct tm *tm)
{
	return tm->tm_wday >= 1 && tm->tm_wday <= 5;
}
static bool at_2_and_14(int h, int m)
{
	return m == 0 && (h == 2 || h == 14);
}
static bool first_15th_or_friday(const struct tm *tm)
{
	return tm->tm_mday == 1 || tm->tm_mday == 15 || tm->tm_wday == 5;
}
static bool at_4_30(int h, int m)
{
	return h == 4 && m == 30;
}
static bool leap_day(const struct tm *tm)
{
	return tm->tm_mon == 1 && tm->tm_mday == 29;
}
static bool at_midnight(int h, int m)
{
	return h == 0 && m == 0;
}
static bool daily_c1(int h, int m)
{
	return h == (int)(spread_c1 / 60 % 24) && m == (int)(spread_c1 % 60);
}
static bool daily_web(int h, int m)
{
	return h == (int)(spread_web / 60 % 24) && m == (int)(spread_web % 60);
}
static bool hourly_c1(int h, int m)
{
	(void)h;
	return m == (int)(spread_c1 % 60);
}
/* "15 3 * jan-mar sun, 45 *\/6 * * *": a union whose parts have different days. */
static bool union_day(const struct tm *tm)
{
	(void)tm;
	return true;
}
static const struct tm *union_tm;
static bool union_time(int h, int m)
{
	return (h == 3 && m == 15 && union_tm->tm_mon <= 2 && union_tm->tm_wday == 0) ||
	       (m == 45 && h % 6 == 0);
}

/* Every slot of `f` in [from, to), in order; *ret_n of them. */
static int64_t *reference_slots(const struct fixed *f, int64_t from, int64_t to, size_t *ret_n)
{
	size_t n = 0, cap = 1024;
	int64_t *v = malloc(cap * sizeof(*v));

	assert_non_null(v);
	for (int64_t day = from; day < to; day += 86400) {
		time_t tt = (time_t)day;
		struct tm tm;

		gmtime_r(&tt, &tm);
		union_tm = &tm;
		if (!f->day(&tm))
			continue;
		for (int minute = 0; minute < 1440; minute++) {
			if (!f->time(minute / 60, minute % 60))
				continue;
			if (n == cap) {
				cap *= 2;
				v = realloc(v, cap * sizeof(*v));
				assert_non_null(v);
			}
			v[n++] = day + minute * 60;
		}
	}
	*ret_n = n;
	return v;
}

/*
 * Walks [YEAR_START, YEAR_END) minute by minute; at each minute (and at a second within it)
 * next() must be the first reference slot after it and prev() the last at or before it.
 */
static void walk_year(const struct fixed *f)
{
	/* Four years either side, for a schedule as sparse as 29 February. */
	int64_t from = utc(2023, 1, 1, 0, 0), to = utc(2033, 1, 1, 0, 0);
	struct config_schedule *s = parse_ok(f->text, f->instance);
	size_t n = 0, idx = 0;
	int64_t *ref = reference_slots(f, from, to, &n);
	size_t slots_in_year = 0;

	assert_true(n > 0);
	for (int64_t t = YEAR_START; t < YEAR_END; t += 60) {
		int64_t sec = t + (t / 60) % 60, expect_next, expect_prev, got;

		while (idx < n && ref[idx] <= t)
			idx++;
		assert_true(idx < n && idx > 0);
		expect_next = ref[idx];
		expect_prev = ref[idx - 1];
		slots_in_year += expect_prev == t;
		got = config_schedule_next(s, t);
		if (got != expect_next)
			fail_msg("\"%s\": next(%" PRId64 ") = %" PRId64 ", expected %" PRId64,
				 f->text, t, got, expect_next);
		/* A time within the minute: no slot lies strictly between whole minutes. */
		got = config_schedule_next(s, sec);
		if (got != expect_next)
			fail_msg("\"%s\": next(%" PRId64 ") = %" PRId64, f->text, sec, got);
		got = config_schedule_prev(s, sec, from);
		if (got != expect_prev)
			fail_msg("\"%s\": prev(%" PRId64 ") = %" PRId64 ", expected %" PRId64,
				 f->text, sec, got, expect_prev);
		/* not_before cuts the search short, inclusively. */
		got = config_schedule_prev(s, t, t - 3600);
		if (got != (expect_prev >= t - 3600 ? expect_prev : 0))
			fail_msg("\"%s\": prev(%" PRId64 ", -1h) = %" PRId64, f->text, t, got);
		got = config_schedule_prev(s, t, expect_prev);
		assert_int_equal(got, expect_prev);
		if (expect_prev < t) {
			got = config_schedule_prev(s, t, expect_prev + 1);
			assert_int_equal(got, 0);
		}
	}
	assert_true(slots_in_year > 0);
	print_message("%-45s %zu slots in the year\n", f->text, slots_in_year);
	free(ref);
	config_schedule_free(s);
}

static void test_year_walk(void **state)
{
	const struct fixed fixed[] = {
	    {"*/15 * * * *", "c1", any_day, every_15},
	    {"0 2,14 * * 1-5", "c1", weekdays, at_2_and_14},
	    {"30 4 1,15 * 5", "c1", first_15th_or_friday, at_4_30},
	    {"0 0 29 2 *", "c1", leap_day, at_midnight},
	    {"@daily", "c1", any_day, daily_c1},
	    {"@daily", "web-042", any_day, daily_web},
	    {"@hourly", "c1", any_day, hourly_c1},
	    {"15 3 * jan-mar sun, 45 */6 * * *", "c1", union_day, union_time},
	};

	(void)state;
	spread_c1 = spread_hash("c1");
	spread_web = spread_hash("web-042");
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		walk_year(&fixed[i]);
}

static void test_calendar_edges(void **state)
{
	struct config_schedule *s;

	(void)state;
	/* Eight years without 29 February over 2100, which is not a leap year. */
	s = parse_ok("0 0 29 2 *", "c1");
	assert_int_equal(config_schedule_next(s, utc(2097, 3, 1, 0, 0)), utc(2104, 2, 29, 0, 0));
	assert_int_equal(config_schedule_prev(s, utc(2103, 12, 31, 0, 0), 0),
			 utc(2096, 2, 29, 0, 0));
	assert_int_equal(config_schedule_prev(s, utc(2103, 12, 31, 0, 0), utc(2096, 3, 1, 0, 0)),
			 0);
	config_schedule_free(s);
	/* Vixie's '*' rule: "*\/2" counts as unrestricted, so the days are odd days AND Mondays. */
	s = parse_ok("0 0 */2 * 1", "c1");
	assert_int_equal(config_schedule_next(s, utc(2026, 11, 1, 0, 0)),
			 utc(2026, 11, 9, 0, 0)); /* Monday 2 is even; Monday 9 */
	config_schedule_free(s);
	/* Both restricted: either. */
	s = parse_ok("0 0 2 * 1", "c1");
	assert_int_equal(config_schedule_next(s, utc(2026, 10, 31, 12, 0)),
			 utc(2026, 11, 2, 0, 0)); /* the 2nd, a Monday anyway */
	assert_int_equal(config_schedule_next(s, utc(2026, 11, 2, 0, 0)), utc(2026, 11, 9, 0, 0));
	config_schedule_free(s);
	/* The end of time and the start. */
	s = parse_ok("* * * * *", "c1");
	assert_int_equal(config_schedule_next(s, utc(9999, 12, 31, 23, 58)),
			 utc(9999, 12, 31, 23, 59));
	assert_int_equal(config_schedule_next(s, utc(9999, 12, 31, 23, 59)), 0);
	assert_int_equal(config_schedule_next(s, INT64_MAX), 0);
	assert_int_equal(config_schedule_next(s, 59), 60);
	assert_int_equal(config_schedule_next(s, -100000), 60); /* the epoch reads as none */
	assert_int_equal(config_schedule_prev(s, 59, 0), 0);
	assert_int_equal(config_schedule_prev(s, -1, INT64_MIN), 0);
	assert_int_equal(config_schedule_prev(s, INT64_MAX, 0), utc(9999, 12, 31, 23, 59));
	assert_int_equal(config_schedule_prev(s, 100, 200), 0);
	config_schedule_free(s);
	s = parse_ok("59 23 31 12 *", "c1");
	assert_int_equal(config_schedule_next(s, utc(2026, 12, 31, 23, 59)),
			 utc(2027, 12, 31, 23, 59));
	assert_int_equal(config_schedule_prev(s, utc(2027, 12, 31, 23, 58), 0),
			 utc(2026, 12, 31, 23, 59));
	config_schedule_free(s);
}

/* ---- random cron lines -------------------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64*: seeded, so a failure replays. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * UINT64_C(2685821657736338717)) >> 32);
}

static unsigned rnd_below(unsigned n)
{
	return rnd() % n;
}

/* Writes value v of a field, as a name now and then for month and day of week. */
static void put_value(char *buf, size_t size, int field, int v)
{
	static const char *const months[] = {"jan", "FEB", "Mar", "apr", "may", "jun",
					     "jul", "aug", "sep", "oct", "nov", "DEC"};
	static const char *const days[] = {"sun", "Mon", "tue", "WED", "thu", "fri", "sat"};

	if (field == 3 && rnd_below(3) == 0)
		snprintf(buf, size, "%s", months[v - 1]);
	else if (field == 4 && v < 7 && rnd_below(3) == 0)
		snprintf(buf, size, "%s", days[v]);
	else
		snprintf(buf, size, "%d", v);
}

/* A random field: its text in `buf`, its values as bits; *star when it starts with '*'. */
static uint64_t random_field(int field, char *buf, size_t size, bool *star)
{
	static const int low[] = {0, 0, 1, 1, 0}, high[] = {59, 23, 31, 12, 7};
	int lo = low[field], hi = high[field];
	unsigned items = 1 + rnd_below(3);
	uint64_t bits = 0;
	size_t len = 0;

	buf[0] = '\0';
	*star = false;
	for (unsigned k = 0; k < items; k++) {
		char a[8], b[8], item[32];
		int first, last, step = 1;
		unsigned form = rnd_below(k == 0 ? 7 : 5);

		first = lo + (int)rnd_below((unsigned)(hi - lo + 1));
		last = first + (int)rnd_below((unsigned)(hi - first + 1));
		step = 1 + (int)rnd_below(rnd_below(2) ? 4 : (unsigned)hi);
		put_value(a, sizeof(a), field, first);
		put_value(b, sizeof(b), field, last);
		switch (form) {
		case 0:
		case 1:
			snprintf(item, sizeof(item), "%s", a);
			last = first;
			step = 1;
			break;
		case 2:
			snprintf(item, sizeof(item), "%s-%s", a, b);
			step = 1;
			break;
		case 3:
			snprintf(item, sizeof(item), "%s-%s/%d", a, b, step);
			break;
		case 4:
			snprintf(item, sizeof(item), "%s/%d", a, step);
			last = hi;
			break;
		case 5:
			snprintf(item, sizeof(item), "*");
			first = lo;
			last = hi;
			step = 1;
			break;
		default:
			snprintf(item, sizeof(item), "*/%d", step);
			first = lo;
			last = hi;
			break;
		}
		if (k == 0 && item[0] == '*')
			*star = true;
		for (int v = first; v <= last; v += step)
			bits |= UINT64_C(1) << v;
		len += (size_t)snprintf(buf + len, size - len, "%s%s", k ? "," : "", item);
	}
	if (field == 4)
		bits = (bits | (bits >> 7)) & 0x7f;
	return bits;
}

struct random_cron {
	char text[512];
	uint64_t bits[5];
	bool day_or;
};

static bool random_day(const struct random_cron *c, const struct tm *tm)
{
	bool dom = c->bits[2] & (UINT64_C(1) << tm->tm_mday);
	bool dow = c->bits[4] & (UINT64_C(1) << tm->tm_wday);

	if (!(c->bits[3] & (UINT64_C(1) << (tm->tm_mon + 1))))
		return false;
	return c->day_or ? dom || dow : dom && dow;
}

/* The first slot of `c` after t, by days then minutes, up to 401 years; 0 when none. */
static int64_t random_next(const struct random_cron *c, int64_t t)
{
	int64_t start = (t / 60 + 1) * 60, day = start - start % 86400;

	for (int i = 0; i < 146463; i++, day += 86400) {
		time_t tt = (time_t)day;
		struct tm tm;

		gmtime_r(&tt, &tm);
		if (tm.tm_year + 1900 > 9999)
			return 0;
		if (!random_day(c, &tm))
			continue;
		for (int m = 0; m < 1440; m++)
			if (day + m * 60 >= start && (c->bits[1] & (UINT64_C(1) << (m / 60))) &&
			    (c->bits[0] & (UINT64_C(1) << (m % 60))))
				return day + m * 60;
	}
	return 0;
}

static int64_t random_prev(const struct random_cron *c, int64_t t, int64_t not_before)
{
	int64_t end = t / 60 * 60, day = end - end % 86400;

	for (; day + 86400 > not_before && day >= 0; day -= 86400) {
		time_t tt = (time_t)day;
		struct tm tm;

		gmtime_r(&tt, &tm);
		if (!random_day(c, &tm))
			continue;
		for (int m = 1439; m >= 0; m--)
			if (day + m * 60 <= end && day + m * 60 >= not_before &&
			    (c->bits[1] & (UINT64_C(1) << (m / 60))) &&
			    (c->bits[0] & (UINT64_C(1) << (m % 60))))
				return day + m * 60;
	}
	return 0;
}

static void test_random_schedules(void **state)
{
	unsigned never = 0, tested = 0;

	(void)state;
	rng_state = 0x5eed5c4edu;
	for (int round = 0; round < 600; round++) {
		struct random_cron c = {0};
		struct config_schedule *s = NULL;
		struct err *e = NULL;
		bool star[5];
		char fields[5][96];
		int r;

		for (int f = 0; f < 5; f++)
			c.bits[f] = random_field(f, fields[f], sizeof(fields[f]), &star[f]);
		/* Most rounds keep a day field '*', as real schedules do. */
		if (rnd_below(2)) {
			snprintf(fields[rnd_below(2) ? 2 : 4], sizeof(fields[0]), "*");
			for (int f = 2; f <= 4; f += 2)
				if (strcmp(fields[f], "*") == 0) {
					star[f] = true;
					c.bits[f] = f == 2 ? 0xfffffffeu : 0x7f;
				}
		}
		c.day_or = !star[2] && !star[4];
		snprintf(c.text, sizeof(c.text), "%s %s %s %s %s", fields[0], fields[1], fields[2],
			 fields[3], fields[4]);
		r = config_schedule_parse(c.text, "c1", &s, &e);
		if (r < 0) {
			/* Refused only when it never fires. */
			if (!strstr(e->msg, "never meet") ||
			    random_next(&c, utc(2000, 1, 1, 0, 0)) != 0)
				fail_msg("\"%s\" refused: %s", c.text, e->msg);
			err_free(e);
			never++;
			continue;
		}
		for (int k = 0; k < 40; k++) {
			int64_t t = utc(1990, 1, 1, 0, 0) + (int64_t)rnd() * 3 + rnd_below(60);
			int64_t want = random_next(&c, t), got = config_schedule_next(s, t);

			if (got != want)
				fail_msg("\"%s\": next(%" PRId64 ") = %" PRId64
					 ", expected %" PRId64,
					 c.text, t, got, want);
			assert_int_equal(config_schedule_prev(s, got, 0), got);
			assert_int_equal(config_schedule_next(s, got - 1), got);
			want = random_prev(&c, t, t - 2 * 366 * 86400);
			got = config_schedule_prev(s, t, t - 2 * 366 * 86400);
			if (got != want)
				fail_msg("\"%s\": prev(%" PRId64 ") = %" PRId64
					 ", expected %" PRId64,
					 c.text, t, got, want);
			tested++;
		}
		config_schedule_free(s);
	}
	print_message("%u random times checked, %u schedules refused as never firing\n", tested,
		      never);
	assert_true(tested > 10000);
}

/* A search over years is still microseconds. */
static void test_speed(void **state)
{
	static const char *const sparse[] = {"0 0 29 2 *", "59 23 31 12 *", "0 0 13 * 5",
					     "0 0 */2 * 1", "* * * * *"};
	struct timespec a, b;
	double worst = 0;

	(void)state;
	rng_state = 42;
	for (size_t i = 0; i < sizeof(sparse) / sizeof(sparse[0]); i++) {
		struct config_schedule *s = parse_ok(sparse[i], "c1");
		int64_t sum = 0;
		double us;

		clock_gettime(CLOCK_MONOTONIC, &a);
		for (int k = 0; k < 20000; k++) {
			int64_t t = utc(2000, 1, 1, 0, 0) + (int64_t)(rnd() % 3155760000u);

			sum += config_schedule_next(s, t);
			sum += config_schedule_prev(s, t, 0);
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		us = ((double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3) /
		     40000;
		print_message("%-16s %.3f us per next/prev\n", sparse[i], us);
		if (us > worst)
			worst = us;
		assert_true(sum != 0);
		config_schedule_free(s);
	}
	/* Generous, for slow and sanitized builds: a brute-force search would take milliseconds. */
	assert_true(worst < 100);
}

/* ---- retention ---------------------------------------------------------------------------- */

static void retention_refused(const char *text, const char *msg, bool exact)
{
	struct config_retention r = {0};
	struct err *e = NULL;

	assert_int_equal(config_retention_parse(text, &r, &e), -EINVAL);
	assert_non_null(e);
	assert_int_equal(e->code, -EINVAL);
	if (exact ? strcmp(e->msg, msg) != 0 : !strstr(e->msg, msg))
		fail_msg("\"%s\": message \"%s\", expected \"%s\"", text, e->msg, msg);
	err_free(e);
	e = NULL;
	assert_int_equal(config_retention_valid(text, &e), -EINVAL);
	err_free(e);
}

static void test_retention(void **state)
{
	struct config_retention r = {0};
	struct err *e = NULL;

	(void)state;
	assert_int_equal(config_retention_parse("24H 7d 4w 12m 2y", &r, &e), 0);
	assert_null(e);
	assert_int_equal(r.hours, 24);
	assert_int_equal(r.days, 7);
	assert_int_equal(r.weeks, 4);
	assert_int_equal(r.months, 12);
	assert_int_equal(r.years, 2);
	assert_int_equal(config_retention_parse(" 7d\t 48H ", &r, &e), 0);
	assert_int_equal(r.hours, 48);
	assert_int_equal(r.days, 7);
	assert_int_equal(r.weeks + r.months + r.years, 0);
	assert_int_equal(config_retention_parse("1y", &r, &e), 0);
	assert_int_equal(r.years, 1);
	assert_int_equal(r.hours, 0);
	assert_int_equal(config_retention_parse("100000H", &r, &e), 0);
	assert_int_equal(config_retention_valid("12m 4w", &e), 0);
	assert_null(e);

	retention_refused(
	    "24H 0d", "Invalid retention \"24H 0d\": term 2 \"0d\": the count must be at least 1",
	    true);
	retention_refused(
	    "24h",
	    "Invalid retention \"24h\": term 1 \"24h\": the unit must be one of H d w "
	    "m y (hours, days, weeks, months, years)",
	    true);
	retention_refused("24H 7d 3H",
			  "Invalid retention \"24H 7d 3H\": term 3 \"3H\": unit 'H' is given more "
			  "than once",
			  true);
	retention_refused("", "Invalid retention \"\": it is empty", true);
	retention_refused(NULL, "it is empty", false);
	retention_refused("   ", "it has no terms", false);
	retention_refused("24H7d", "term 1 \"24H7d\": terms are separated by blanks", false);
	retention_refused("d", "term 1 \"d\" does not start with a count", false);
	retention_refused("7d, 4w", "term 1 \"7d,\": terms are separated by blanks", false);
	retention_refused("100001H", "the count is more than 100000", false);
	retention_refused("99999999999999999999d", "the count is more than 100000", false);
	retention_refused("30S", "the unit must be one of", false);
	retention_refused("30M", "the unit must be one of", false);
	retention_refused("7", "term 1 \"7\": the unit must be one of", false);
	retention_refused("-7d", "does not start with a count", false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accept),	     cmocka_unit_test(test_refuse),
	    cmocka_unit_test(test_aliases),	     cmocka_unit_test(test_startup_never),
	    cmocka_unit_test(test_year_walk),	     cmocka_unit_test(test_calendar_edges),
	    cmocka_unit_test(test_random_schedules), cmocka_unit_test(test_speed),
	    cmocka_unit_test(test_retention),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
