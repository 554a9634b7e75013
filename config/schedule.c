#include "config/schedule.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/err.h"

/* Times outside [SCHEDULE_TIME_MIN, SCHEDULE_TIME_MAX] have no slot: 1970 to the end of 9999,
 * so that every year fits tm_year and four digits in messages. */
#define SCHEDULE_TIME_MAX INT64_C(253402300799)

/* The Gregorian calendar repeats every 400 years (146097 days, a whole number of weeks), so an
 * entry that has no slot in 400 consecutive years has none at all. Accepted entries are checked
 * to have one; next and prev search no further. */
#define CYCLE_MONTHS (400 * 12)

/* Bounds on numbers in a field, beyond every field's range, so the parser cannot overflow. */
#define NUMBER_DIGITS_MAX 6

enum field {
	FIELD_MINUTE,
	FIELD_HOUR,
	FIELD_DOM,
	FIELD_MONTH,
	FIELD_DOW,
	FIELD_MAX,
};

static const char *const field_names[FIELD_MAX] = {"minute", "hour", "day of month", "month",
						   "day of week"};
static const int field_low[FIELD_MAX] = {0, 0, 1, 1, 0};
/* Day of week goes to 7, which is Sunday again, as in Vixie cron. */
static const int field_high[FIELD_MAX] = {59, 23, 31, 12, 7};

static const char *const month_names[12] = {"jan", "feb", "mar", "apr", "may", "jun",
					    "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* One timed entry: the set of values of each field as bits. */
struct cron_entry {
	uint64_t minutes; /* bit m: minute m (0-59) */
	uint32_t hours;	  /* bit h: hour h (0-23) */
	uint32_t doms;	  /* bit d: day d of the month (1-31) */
	uint16_t months;  /* bit m: month m (1-12) */
	uint8_t dows;	  /* bit d: weekday d (0-6, 0 Sunday) */
	bool day_or;	  /* both day fields restricted: a day matches either (Vixie cron) */
	/* dow_days[w]: the days of a month (bit d) whose weekday is in dows, when the month's
	 * first day is weekday w; precomputed so a month's days are two masks and an AND. */
	uint32_t dow_days[7];
};

struct config_schedule {
	bool startup;		     /* an @startup entry */
	size_t n;		     /* timed entries */
	struct cron_entry entries[]; /* n of them */
};

/* Where the parser is, for messages that say where the fault is. */
struct parse_ctx {
	const char *text;  /* the whole value */
	const char *entry; /* the entry being parsed (NUL-terminated copy) */
	size_t index;	   /* 1-based number of the entry */
	size_t count;	   /* how many entries the value has */
	int field;	   /* enum field being parsed, or -1 */
	struct err **err;
};

/* Sets *err to "Invalid schedule "TEXT": [entry N "E": ][field F (NAME): ]WHY". */
__attribute__((format(printf, 2, 3))) static int parse_fail(const struct parse_ctx *c,
							    const char *fmt, ...)
{
	_cleanup_free_ char *why = NULL, *entry = NULL, *field = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&why, fmt, ap);
	va_end(ap);
	if (r < 0) {
		why = NULL;
		return err_set(c->err, -ENOMEM, "Out of memory");
	}
	if (c->count > 1 && asprintf(&entry, "entry %zu \"%s\": ", c->index, c->entry) < 0) {
		entry = NULL;
		return err_set(c->err, -ENOMEM, "Out of memory");
	}
	if (c->field >= 0 &&
	    asprintf(&field, "field %d (%s): ", c->field + 1, field_names[c->field]) < 0) {
		field = NULL;
		return err_set(c->err, -ENOMEM, "Out of memory");
	}
	return err_set(c->err, -EINVAL, "Invalid schedule \"%s\": %s%s%s", c->text,
		       entry ? entry : "", field ? field : "", why);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* FNV-1a (32 bits): small, stable across versions and machines, and spreads short names well. */
static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* The days (bit d, 1-31) of month m of year y on which entry e fires. */
static uint32_t month_days(const struct cron_entry *e, int64_t y, int m)
{
	int64_t first = days_from_civil(y, m, 1);
	/* 1970-01-01 was a Thursday (4). */
	int w = (int)(((first % 7) + 7 + 4) % 7);
	uint32_t in_month = (uint32_t)(((UINT64_C(1) << days_in_month(y, m)) - 1) << 1);
	uint32_t dom = e->doms & in_month, dow = e->dow_days[w] & in_month;

	return e->day_or ? dom | dow : dom & dow;
}

/* Lowest set bit of `mask` at or above `from`, or -1. */
static int bit_at_or_above(uint64_t mask, int from)
{
	mask &= ~UINT64_C(0) << from;
	return mask ? __builtin_ctzll(mask) : -1;
}

/* Highest set bit of `mask` at or below `to` (0-63), or -1. */
static int bit_at_or_below(uint64_t mask, int to)
{
	if (to < 63)
		mask &= (UINT64_C(1) << (to + 1)) - 1;
	return mask ? 63 - __builtin_clzll(mask) : -1;
}

/* Parses a number or (for month and day of week) a name at *p, advancing *p. */
static int parse_value(const struct parse_ctx *c, const char **p, int *ret)
{
	const char *s = *p;
	size_t len = 0;
	int v = 0;

	if (*s >= '0' && *s <= '9') {
		while (s[len] >= '0' && s[len] <= '9')
			len++;
		if (len > NUMBER_DIGITS_MAX)
			return parse_fail(c, "%.*s is out of %d-%d", (int)len, s,
					  field_low[c->field], field_high[c->field]);
		for (size_t i = 0; i < len; i++)
			v = v * 10 + (s[i] - '0');
		if (v < field_low[c->field] || v > field_high[c->field])
			return parse_fail(c, "%.*s is out of %d-%d", (int)len, s,
					  field_low[c->field], field_high[c->field]);
		*p = s + len;
		*ret = v;
		return 0;
	}
	while ((s[len] >= 'a' && s[len] <= 'z') || (s[len] >= 'A' && s[len] <= 'Z'))
		len++;
	if (len == 3 && c->field == FIELD_MONTH) {
		for (int i = 0; i < 12; i++)
			if (strncasecmp(s, month_names[i], 3) == 0) {
				*p = s + 3;
				*ret = i + 1;
				return 0;
			}
	}
	if (len == 3 && c->field == FIELD_DOW) {
		for (int i = 0; i < 7; i++)
			if (strncasecmp(s, dow_names[i], 3) == 0) {
				*p = s + 3;
				*ret = i;
				return 0;
			}
	}
	if (len == 0) {
		/* Show the whole item: the fault is what stands where a value should. */
		len = strcspn(s, ",");
		if (len == 0)
			return parse_fail(c, "a value is missing");
	}
	if (c->field == FIELD_MONTH)
		return parse_fail(c, "\"%.*s\" is not a number or a month name (jan..dec)",
				  (int)len, s);
	if (c->field == FIELD_DOW)
		return parse_fail(c, "\"%.*s\" is not a number or a day name (sun..sat)", (int)len,
				  s);
	return parse_fail(c, "\"%.*s\" is not a number", (int)len, s);
}

/*
 * Parses one field (`*`, values, ranges, steps, comma-separated) into *ret_bits (bit v for
 * each value v). *ret_star: it starts with '*', which is what makes a day field unrestricted in
 * Vixie cron (so "*\/2" counts as unrestricted, as crontab(5) says).
 */
static int parse_field(const struct parse_ctx *c, const char *text, uint64_t *ret_bits,
		       bool *ret_star)
{
	int low = field_low[c->field], high = field_high[c->field];
	const char *p = text;
	uint64_t bits = 0;
	int r;

	for (;;) {
		const char *item = p;
		int first, last, step = 1;
		bool range = false;

		if (*p == '*') {
			first = low;
			last = high;
			range = true;
			p++;
		} else {
			r = parse_value(c, &p, &first);
			if (r < 0)
				return r;
			last = first;
			if (*p == '-') {
				p++;
				r = parse_value(c, &p, &last);
				if (r < 0)
					return r;
				if (last < first)
					return parse_fail(c, "range %.*s is reversed",
							  (int)(p - item), item);
				range = true;
			}
		}
		if (*p == '/') {
			const char *s = ++p;
			size_t len = 0;

			while (s[len] >= '0' && s[len] <= '9')
				len++;
			if (len == 0)
				return parse_fail(c, "a step is missing after \"%.*s\"",
						  (int)(p - item), item);
			step = 0;
			for (size_t i = 0; i < len && i <= NUMBER_DIGITS_MAX; i++)
				step = step * 10 + (s[i] - '0');
			if (len > NUMBER_DIGITS_MAX || step < 1 || step > high)
				return parse_fail(c, "step %.*s is out of 1-%d", (int)len, s, high);
			/* "N/S" means N to the end of the range, every S, as robfig/cron (which
			 * Incus uses) reads it; Vixie cron refuses it. */
			if (!range)
				last = high;
			p = s + len;
		}
		for (int v = first; v <= last; v += step)
			bits |= UINT64_C(1) << v;
		if (*p == '\0')
			break;
		if (*p != ',')
			return parse_fail(c, "unexpected \"%s\" after \"%.*s\"", p, (int)(p - item),
					  item);
		p++;
		if (*p == '\0' || *p == ',')
			return parse_fail(c, "empty item in the list \"%s\"", text);
	}
	*ret_bits = bits;
	*ret_star = text[0] == '*';
	return 0;
}

/* Fills the precomputed weekday masks of `e` from e->dows. */
static void entry_finish(struct cron_entry *e)
{
	/* Day d falls on weekday (w + d - 1) % 7: each weekday of the set marks every 7th day. */
	for (int w = 0; w < 7; w++) {
		uint32_t days = 0;

		for (int k = 0; k < 7; k++)
			if (e->dows & (1u << ((w + k) % 7)))
				days |= (UINT32_C(1) << (k + 1)) * 0x10204081u; /* k+1, k+8, ... */
		e->dow_days[w] = days & 0xfffffffeu;
	}
}

/* Whether `e` has a slot at all: some day in one 400-year cycle. */
static bool entry_fires(const struct cron_entry *e)
{
	for (int i = 0; i < CYCLE_MONTHS; i++) {
		int64_t y = 2000 + i / 12;
		int m = i % 12 + 1;

		if ((e->months & (1u << m)) && month_days(e, y, m))
			return true;
	}
	return false;
}

static int parse_cron(struct parse_ctx *c, char *line, struct cron_entry *ret)
{
	char *fields[FIELD_MAX + 1] = {NULL};
	struct cron_entry e = {0};
	bool dom_star = false, dow_star = false;
	size_t n = 0;
	int r;

	for (char *p = line; *p;) {
		while (is_blank(*p))
			*p++ = '\0';
		if (!*p)
			break;
		if (n <= FIELD_MAX)
			fields[n] = p;
		n++;
		while (*p && !is_blank(*p))
			p++;
	}
	if (n != FIELD_MAX)
		return parse_fail(c,
				  "expected 5 fields (minute, hour, day of month, month, day of "
				  "week) or an @alias, found %zu",
				  n);
	for (int f = 0; f < FIELD_MAX; f++) {
		uint64_t bits = 0;
		bool star = false;

		c->field = f;
		r = parse_field(c, fields[f], &bits, &star);
		if (r < 0)
			return r;
		switch ((enum field)f) {
		case FIELD_MINUTE:
			e.minutes = bits;
			break;
		case FIELD_HOUR:
			e.hours = (uint32_t)bits;
			break;
		case FIELD_DOM:
			e.doms = (uint32_t)bits;
			dom_star = star;
			break;
		case FIELD_MONTH:
			e.months = (uint16_t)bits;
			break;
		case FIELD_DOW:
			/* 7 is Sunday too. */
			e.dows = (uint8_t)((bits | (bits >> 7)) & 0x7f);
			dow_star = star;
			break;
		case FIELD_MAX:
			break;
		}
	}
	c->field = -1;
	e.day_or = !dom_star && !dow_star;
	entry_finish(&e);
	if (!entry_fires(&e))
		return parse_fail(c, "fields 3 to 5 (day of month, month, day of week) never "
				     "meet on a real date, so it would never fire");
	*ret = e;
	return 0;
}

/* The timed entry an alias stands for; its minute and hour are spread by `hash`. */
static void alias_entry(const char *minute_hour_dom_month_dow, uint32_t hash,
			struct cron_entry *ret)
{
	struct cron_entry e = {0};
	int minute = (int)(hash % 60), hour = (int)(hash / 60 % 24);
	const char *spec = minute_hour_dom_month_dow;

	e.minutes = UINT64_C(1) << minute;
	e.hours = spec[0] == 'h' ? (uint32_t)1 << hour : spec[0] == '0' ? 1u : 0xffffffu;
	e.doms = spec[1] == '1' ? 1u << 1 : 0xfffffffeu;
	e.months = spec[2] == '1' ? 1u << 1 : 0x1ffeu;
	e.dows = spec[3] == '0' ? 1u : 0x7fu;
	/* Aliases are "M H 1 * *" or "M H * * 0": one day field at most is restricted, so the
	 * days are the AND of both, as for any cron line with a '*' day field. */
	e.day_or = false;
	entry_finish(&e);
	*ret = e;
}

/* What each alias stands for: hour ('h' spread, '0' midnight, '*' every), day of month ('1' or
 * '*'), month ('1' or '*'), day of week ('0' Sunday or '*'). As Incus does, @weekly is Sunday,
 * @monthly the 1st and @yearly 1 January, at the spread minute and hour. */
static const struct {
	const char *name;
	const char *spec;
} aliases[] = {
    {"@hourly", "****"},  {"@daily", "h***"},	 {"@midnight", "0***"}, {"@weekly", "h**0"},
    {"@monthly", "h1**"}, {"@annually", "h11*"}, {"@yearly", "h11*"},
};

static int parse_entry(struct parse_ctx *c, char *entry, uint32_t hash, struct config_schedule *s,
		       bool *ret_never)
{
	if (entry[0] != '@')
		return parse_cron(c, entry, &s->entries[s->n++]);
	if (strpbrk(entry, " \t"))
		return parse_fail(c, "unexpected text after \"%.*s\"", (int)strcspn(entry, " \t"),
				  entry);
	if (strchr(entry, ','))
		return parse_fail(c,
				  "\"%s\" is not an alias: entries are separated by \", \" (a "
				  "comma and a blank)",
				  entry);
	if (strcasecmp(entry, "@startup") == 0) {
		s->startup = true;
		return 0;
	}
	if (strcasecmp(entry, "@never") == 0) {
		*ret_never = true;
		return 0;
	}
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcasecmp(entry, aliases[i].name) == 0) {
			alias_entry(aliases[i].spec, hash, &s->entries[s->n++]);
			return 0;
		}
	return parse_fail(c,
			  "\"%s\" is not an alias (use @hourly @daily @midnight @weekly @monthly "
			  "@annually @yearly @startup @never)",
			  entry);
}

/*
 * Splits `text` at each ',' followed by a blank: a ',' with no blank after it belongs to a cron
 * list ("0 2,14 * * *"), so the two cannot be confused. Returns the entries, trimmed, as a
 * NULL-terminated array pointing into *ret_buf; both the caller's.
 */
static char **split_entries(const char *text, char **ret_buf, size_t *ret_count)
{
	_cleanup_free_ char *buf = strdup(text);
	_cleanup_free_ char **v = NULL;
	size_t n = 0, cap = 0;
	char *p;

	if (!buf)
		return NULL;
	p = buf;
	for (;;) {
		char *start, *end, *sep;

		while (is_blank(*p))
			p++;
		start = p;
		for (sep = p; *sep && !(sep[0] == ',' && is_blank(sep[1])); sep++)
			;
		end = sep;
		while (end > start && is_blank(end[-1]))
			end--;
		if (n + 2 > cap) {
			char **grown;

			cap = cap ? cap * 2 : 4;
			grown = realloc(v, cap * sizeof(*v));
			if (!grown)
				return NULL;
			v = grown;
		}
		v[n++] = start;
		v[n] = NULL;
		if (!*sep) {
			*end = '\0';
			break;
		}
		*end = '\0';
		p = sep + 1;
	}
	*ret_buf = steal_pointer(&buf);
	*ret_count = n;
	return steal_pointer(&v);
}

int config_schedule_parse(const char *text, const char *instance, struct config_schedule **ret,
			  struct err **err)
{
	_cleanup_free_ struct config_schedule *s = NULL;
	_cleanup_free_ char *buf = NULL;
	_cleanup_free_ char **entries = NULL;
	struct parse_ctx c = {.text = text, .field = -1, .err = err};
	uint32_t hash = fnv1a(instance ? instance : "");
	bool never = false;
	size_t count = 0;
	int r;

	if (!text)
		text = c.text = "";
	entries = split_entries(text, &buf, &count);
	if (!entries)
		return err_set(err, -ENOMEM, "Out of memory");
	if (count == 1 && !entries[0][0])
		return parse_fail(&c, "it is empty");
	s = calloc(1, sizeof(*s) + count * sizeof(s->entries[0]));
	if (!s)
		return err_set(err, -ENOMEM, "Out of memory");
	c.count = count;
	for (size_t i = 0; i < count; i++) {
		/* A copy for messages: parse_cron() cuts the entry into fields in place. */
		_cleanup_free_ char *copy = strdup(entries[i]);

		if (!copy)
			return err_set(err, -ENOMEM, "Out of memory");
		c.index = i + 1;
		c.entry = copy;
		c.field = -1;
		if (!entries[i][0])
			return parse_fail(&c,
					  "the entry is empty (entries are separated by \", \")");
		r = parse_entry(&c, entries[i], hash, s, &never);
		if (r < 0)
			return r;
	}
	if (never && count > 1) {
		c.count = 1;
		return parse_fail(&c, "@never cannot be combined with other entries");
	}
	*ret = steal_pointer(&s);
	return 0;
}

void config_schedule_free(struct config_schedule *s)
{
	free(s);
}

int config_schedule_valid(const char *text, struct err **err)
{
	struct config_schedule *s = NULL;
	int r = config_schedule_parse(text, NULL, &s, err);

	config_schedule_free(s);
	return r;
}

bool config_schedule_at_startup(const struct config_schedule *s)
{
	return s && s->startup;
}

/* A time split into the fields a cron line names. */
struct civil {
	int64_t year;
	int month, day, hour, minute; /* 1-12, 1-31, 0-23, 0-59 */
};

static void civil_from(int64_t t, struct civil *ret)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	ret->year = (int64_t)tm.tm_year + 1900;
	ret->month = tm.tm_mon + 1;
	ret->day = tm.tm_mday;
	ret->hour = tm.tm_hour;
	ret->minute = tm.tm_min;
}

static int64_t civil_to(int64_t y, int m, int d, int h, int mi)
{
	return days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60;
}

/* The first slot of `e` at or after the whole minute `t`, or 0 when past SCHEDULE_TIME_MAX. */
static int64_t entry_next(const struct cron_entry *e, int64_t t)
{
	struct civil c;
	int64_t y;
	int m, d, h, mi;

	civil_from(t, &c);
	y = c.year;
	m = c.month;
	d = c.day;
	h = c.hour;
	mi = c.minute;
	/* Months, then days of the month, then hours, then minutes: each step jumps to the next
	 * set bit, so a search is a few hundred operations at most whatever the gap. */
	for (int i = 0; i <= CYCLE_MONTHS && y <= 9999; i++) {
		if (e->months & (1u << m)) {
			uint32_t days = month_days(e, y, m);

			for (int dd = bit_at_or_above(days, d); dd >= 0;
			     dd = bit_at_or_above(days, dd + 1)) {
				int hs = dd == d ? h : 0;

				for (int hh = bit_at_or_above(e->hours, hs); hh >= 0;
				     hh = bit_at_or_above(e->hours, hh + 1)) {
					int mm = bit_at_or_above(e->minutes,
								 dd == d && hh == h ? mi : 0);

					if (mm >= 0)
						return civil_to(y, m, dd, hh, mm);
				}
			}
		}
		d = 1;
		h = 0;
		mi = 0;
		if (++m > 12) {
			m = 1;
			y++;
		}
	}
	return 0;
}

/* The last slot of `e` at or before the whole minute `t` and not before `not_before`, or 0. */
static int64_t entry_prev(const struct cron_entry *e, int64_t t, int64_t not_before)
{
	struct civil c;
	int64_t y;
	int m, d, h, mi;

	civil_from(t, &c);
	y = c.year;
	m = c.month;
	d = c.day;
	h = c.hour;
	mi = c.minute;
	for (int i = 0; i <= CYCLE_MONTHS && y >= 1970; i++) {
		if (civil_to(y, m, days_in_month(y, m), 23, 59) < not_before)
			return 0;
		if (e->months & (1u << m)) {
			uint32_t days = month_days(e, y, m);

			for (int dd = bit_at_or_below(days, d); dd >= 1;
			     dd = bit_at_or_below(days, dd - 1)) {
				int hs = dd == d ? h : 23;

				for (int hh = bit_at_or_below(e->hours, hs); hh >= 0;
				     hh = hh ? bit_at_or_below(e->hours, hh - 1) : -1) {
					int mm = bit_at_or_below(e->minutes,
								 dd == d && hh == h ? mi : 59);

					if (mm >= 0) {
						int64_t slot = civil_to(y, m, dd, hh, mm);

						return slot >= not_before ? slot : 0;
					}
				}
			}
		}
		if (--m < 1) {
			m = 12;
			y--;
		}
		d = 31;
		h = 23;
		mi = 59;
	}
	return 0;
}

int64_t config_schedule_next(const struct config_schedule *s, int64_t after)
{
	int64_t from, best = 0;

	if (!s || after >= SCHEDULE_TIME_MAX)
		return 0;
	/* The first whole minute strictly after `after`, past the epoch (which reads as none). */
	from = after < 0 ? 60 : (after / 60 + 1) * 60;
	for (size_t i = 0; i < s->n; i++) {
		int64_t t = entry_next(&s->entries[i], from);

		if (t > 0 && (best == 0 || t < best))
			best = t;
	}
	return best;
}

int64_t config_schedule_prev(const struct config_schedule *s, int64_t at, int64_t not_before)
{
	int64_t from, best = 0;

	if (!s || at < 0 || at < not_before)
		return 0;
	if (at > SCHEDULE_TIME_MAX)
		at = SCHEDULE_TIME_MAX;
	from = at / 60 * 60;
	for (size_t i = 0; i < s->n; i++) {
		int64_t t = entry_prev(&s->entries[i], from, not_before);

		if (t > best)
			best = t;
	}
	return best;
}

int config_retention_parse(const char *text, struct config_retention *ret, struct err **err)
{
	static const char units[] = "Hdwmy";
	unsigned counts[sizeof(units) - 1] = {0};
	bool any = false;
	size_t term = 0;
	const char *p = text;

	if (!text || !*text)
		return err_set(err, -EINVAL, "Invalid retention \"\": it is empty");
	while (*p) {
		const char *start, *u;
		size_t digits = 0, len;
		unsigned v = 0;

		if (is_blank(*p)) {
			p++;
			continue;
		}
		start = p;
		term++;
		len = strcspn(start, " \t");
		while (p[digits] >= '0' && p[digits] <= '9')
			digits++;
		if (digits == 0)
			return err_set(err, -EINVAL,
				       "Invalid retention \"%s\": term %zu \"%.*s\" does not start "
				       "with a count (terms such as \"24H 7d 4w 12m 2y\")",
				       text, term, (int)len, start);
		for (size_t i = 0; i < digits && i < 7; i++)
			v = v * 10 + (unsigned)(p[i] - '0');
		if (digits > 6 || v > CONFIG_RETENTION_COUNT_MAX)
			return err_set(err, -EINVAL,
				       "Invalid retention \"%s\": term %zu \"%.*s\": the count is "
				       "more than %d",
				       text, term, (int)len, start, CONFIG_RETENTION_COUNT_MAX);
		if (v == 0)
			return err_set(
			    err, -EINVAL,
			    "Invalid retention \"%s\": term %zu \"%.*s\": the count must "
			    "be at least 1",
			    text, term, (int)len, start);
		p += digits;
		u = *p ? strchr(units, *p) : NULL;
		if (u && len > digits + 1)
			return err_set(err, -EINVAL,
				       "Invalid retention \"%s\": term %zu \"%.*s\": terms are "
				       "separated by blanks",
				       text, term, (int)len, start);
		if (!u || len != digits + 1)
			return err_set(err, -EINVAL,
				       "Invalid retention \"%s\": term %zu \"%.*s\": the unit must "
				       "be one of H d w m y (hours, days, weeks, months, years)",
				       text, term, (int)len, start);
		if (counts[u - units])
			return err_set(err, -EINVAL,
				       "Invalid retention \"%s\": term %zu \"%.*s\": unit '%c' is "
				       "given more than once",
				       text, term, (int)len, start, *u);
		counts[u - units] = v;
		any = true;
		p++;
	}
	if (!any)
		return err_set(err, -EINVAL, "Invalid retention \"%s\": it has no terms", text);
	*ret = (struct config_retention){
	    .hours = counts[0],
	    .days = counts[1],
	    .weeks = counts[2],
	    .months = counts[3],
	    .years = counts[4],
	};
	return 0;
}

int config_retention_valid(const char *text, struct err **err)
{
	struct config_retention ignored;

	return config_retention_parse(text, &ignored, err);
}
