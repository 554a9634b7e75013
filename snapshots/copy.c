#include "snapshots/copy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "config/db.h"

int snapshot_copy_target_parse(const char *value, const char *instance, char **ret_remote,
			       char **ret_name, struct err **err)
{
	const char *colon = strchr(value, ':');
	size_t len = colon ? (size_t)(colon - value) : strlen(value);
	char *remote, *name;

	if (len == 0 || (colon && !colon[1]))
		return err_set(
		    err, -EINVAL,
		    "Invalid snapshots.copy.target \"%s\": expected REMOTE or REMOTE:NAME", value);
	remote = strndup(value, len);
	name = strdup(colon ? colon + 1 : instance);
	if (!remote || !name) {
		free(remote);
		free(name);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	*ret_remote = remote;
	*ret_name = name;
	return 0;
}

int64_t snapshot_copy_backoff(int64_t failures, int64_t first, int64_t max)
{
	int64_t wait = first;

	if (failures <= 0)
		return 0;
	if (first <= 0)
		return 0;
	if (first >= max)
		return max;
	/* Doubles until it passes the cap, so no shift ever overflows, whatever the count. */
	for (int64_t i = 1; i < failures && wait < max; i++)
		wait *= 2;
	return wait < max ? wait : max;
}

bool snapshot_copy_due(const struct db_copy_state *s, int64_t now)
{
	return s->owed && (s->next_retry == 0 || s->next_retry <= now);
}

int snapshot_copy_record(struct db_copy_state *s, const char *target, int64_t started, int64_t now,
			 uint64_t bytes, const char *error, int64_t first, int64_t max)
{
	char *t = strdup(target ? target : ""), *e = error ? strdup(error) : NULL;

	if (!t || (error && !e)) {
		free(t);
		free(e);
		return -ENOMEM;
	}
	free(s->target);
	s->target = t;
	free(s->last_error);
	s->last_error = e;
	s->last_attempt = started;
	if (!error) {
		s->owed = false;
		s->last_success = now;
		s->last_bytes = bytes;
		s->failures = 0;
		s->next_retry = 0;
		return 0;
	}
	s->owed = true;
	s->failures++;
	s->next_retry = now + snapshot_copy_backoff(s->failures, first, max);
	return 0;
}
