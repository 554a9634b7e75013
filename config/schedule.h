#pragma once

/*
 * The snapshots.schedule and snapshots.retention languages, parsed into plain structs. Pure:
 * times come in as arguments (seconds since the epoch), and every calendar computation is in
 * UTC, as every time cairn shows is.
 *
 * A schedule is one or more entries separated by a comma and a blank (", "; more blanks are
 * fine). A comma without a blank after it belongs to a cron list ("0 2,14 * * *"), so
 * "@daily,@hourly" is refused rather than guessed. Each entry is either:
 *   - a 5-field cron line: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or
 *     jan..dec), day of week (0-7, 0 and 7 Sunday, or sun..sat); names case-insensitive. A
 *     field is a comma-separated list of "*", values, ranges "A-B" and steps "*\/S", "A-B/S" and
 *     "A/S" (A to the end of the range, as robfig/cron, which Incus uses, reads it). Day of month
 *     and day of week combine as in Vixie cron (crontab(5)): when both are restricted (neither
 *     starts with '*') a day matches either; otherwise it must match both, so with one of them
 *     "*" only the other counts. A line that can never fire ("0 0 31 2 *") is refused;
 *   - an alias, case-insensitive, as Incus defines them: @hourly "M * * * *", @daily
 *     "M H * * *", @midnight "M 0 * * *", @weekly "M H * * 0", @monthly "M H 1 * *",
 *     @annually and @yearly "M H 1 1 *". M and H are spread so that a thousand instances do not
 *     all fire at :00: with h the FNV-1a (32-bit) hash of the instance name, M = h % 60 and
 *     H = (h / 60) % 24; the same name always gets the same times;
 *   - @startup (a snapshot when the instance starts), or @never (alone only: no snapshots).
 *
 * Slots are whole minutes from 1970 to the end of 9999 (the epoch itself reads as "none").
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

struct config_schedule; /* opaque */

/*
 * Parses `text` for instance `instance` (NULL reads as ""; the spread of the aliases depends on
 * it). *ret is the caller's (config_schedule_free). -EINVAL with a message that quotes the value
 * and says where the fault is: which entry when there are several, which field (number and
 * name), what value, e.g. `Invalid schedule "61 * * * *": field 1 (minute): 61 is out of 0-59`
 * or `Invalid schedule "@daily, 0 25 * * *": entry 2 "0 25 * * *": field 2 (hour): 25 is out
 * of 0-23`. -ENOMEM.
 */
int config_schedule_parse(const char *text, const char *instance, struct config_schedule **ret,
			  struct err **err);

/* Frees a schedule; NULL is accepted. */
void config_schedule_free(struct config_schedule *s);

/* For _cleanup_schedule_: frees *s and sets it to NULL. */
static inline void config_schedule_freep(struct config_schedule **s)
{
	config_schedule_free(*s);
	*s = NULL;
}

#define _cleanup_schedule_ __attribute__((cleanup(config_schedule_freep)))

/* Validates a snapshots.schedule value (the spread is irrelevant to validity). As above. */
int config_schedule_valid(const char *text, struct err **err);

/* True when the schedule has an @startup entry. */
bool config_schedule_at_startup(const struct config_schedule *s);

/*
 * The first slot (a whole minute, seconds since the epoch) strictly after `after`, or 0 when the
 * schedule has no timed entry (only @startup or @never) or the slot would be after 9999. Every
 * accepted entry fires somewhere in any 400 years (the calendar's period), but a sparse one may
 * be years away ("0 0 29 2 *" waits eight years over 2100). Computed field by field (months, days,
 * hours, minutes as bit sets): a few hundred operations at most, whatever the gap.
 */
int64_t config_schedule_next(const struct config_schedule *s, int64_t after);

/*
 * The latest slot at or before `at`, but not before `not_before`; 0 when there is none in
 * [not_before, at] (or `at` < `not_before`). Same cost as config_schedule_next().
 */
int64_t config_schedule_prev(const struct config_schedule *s, int64_t at, int64_t not_before);

/* The highest count a retention term takes (100000 hours is over eleven years). */
#define CONFIG_RETENTION_COUNT_MAX 100000

/*
 * snapshots.retention: "24H 7d 4w 12m 2y", terms of a count (1 to CONFIG_RETENTION_COUNT_MAX)
 * and a unit (H hours, d days, w weeks, m months, y years), each unit at most once, separated by
 * blanks, in any order. It keeps the oldest scheduled snapshot of each of the last 24 hours, 7
 * days, ...: buckets are calendar hours, days, weeks (Monday to Sunday), months and years in
 * UTC, counted back from the one `now` is in (which is the first), so "7d" is today and the six
 * days before. snapshot_plan_prune() (snapshots/plan.h) says the rest. A zero count is refused.
 */
struct config_retention {
	unsigned hours, days, weeks, months, years; /* 0: that unit keeps nothing */
};

/*
 * Parses a retention expression. -EINVAL with a message naming the expression and the faulty
 * term by number and text (`Invalid retention "24H 0d": term 2 "0d": the count must be at
 * least 1`).
 */
int config_retention_parse(const char *text, struct config_retention *ret, struct err **err);

/* Validates a snapshots.retention value, as config_retention_parse(). */
int config_retention_valid(const char *text, struct err **err);
