#pragma once

/*
 * The pure rules of snapshots: names, the snapshots.pattern language and expiry expressions.
 * They sit in config/ rather than snapshots/ because the key table validates snapshots.pattern
 * and snapshots.expiry with them, and the client (which links config/ only) validates keys
 * before it sends them. Nothing here touches the disk or the clock: times come in as arguments.
 */

#include <stdint.h>

struct err;

/*
 * Checks a snapshot name: 1 to 255 bytes, no '/', no white space or control characters, not "."
 * or "..", not starting with '.' (hidden names are the storage layer's temporaries). 0 when
 * valid, -EINVAL with a message quoting the name and saying what is wrong otherwise.
 */
int config_snapshot_name_valid(const char *name, struct err **err);

/*
 * Checks a snapshots.pattern value: at most one "%d", "{date:FORMAT}" blocks closed and not
 * empty, and a result (for any time, with "%d" as a number) that is a valid snapshot name.
 * -EINVAL with a message naming the pattern otherwise.
 */
int config_snapshot_pattern_valid(const char *pattern, struct err **err);

/*
 * Expands `pattern` for a snapshot created at `when` (seconds since the epoch, UTC) next to the
 * snapshots `existing` (NULL-terminated names, may be NULL). "{date:FORMAT}" is strftime of
 * `when`; "%d" becomes the highest number that an existing name has in its place, plus one, or 0
 * when none has. A pattern without "%d" whose result is taken gets "-%d" appended, as Incus
 * does. *ret is the caller's to free. -EINVAL for an invalid pattern or result.
 */
int config_snapshot_pattern_expand(const char *pattern, int64_t when, char *const *existing,
				   char **ret, struct err **err);

/*
 * Adds an expiry expression ("1d 3H": terms of a whole number and one of S M H d w m y, each
 * unit at most once, separated by blanks) to `from` (seconds since the epoch). Months and years
 * follow the calendar in UTC. -EINVAL with a message naming the expression when it is malformed,
 * -ERANGE when the result does not fit.
 */
int config_expiry_add(const char *expr, int64_t from, int64_t *ret, struct err **err);

/* Checks a snapshots.expiry / snapshots.expiry.manual value (an expression as above). */
int config_expiry_valid(const char *expr, struct err **err);

/*
 * Parses an absolute expiry date: RFC 3339 ("2026-11-21T15:57:03Z", offsets accepted) or
 * "YYYY-MM-DD[ HH:MM[:SS]]" in UTC. -EINVAL with a message otherwise.
 */
int config_expiry_parse_date(const char *s, int64_t *ret, struct err **err);

/*
 * What `--expiry` takes: an expression (added to `now`) or a date. -EINVAL with a message that
 * names both forms when it is neither.
 */
int config_expiry_resolve(const char *arg, int64_t now, int64_t *ret, struct err **err);
