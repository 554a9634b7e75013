#pragma once

/*
 * The snapshot server's policy, pure: which remote and instance `snapshots.copy.target` names,
 * when a refresh is due, and how long a failed one waits before it is tried again (exponential
 * back-off). The daemon's copier (cmd/cairnd/copier.c) asks it; nothing here touches the
 * network, the database or the clock.
 */

#include <stdbool.h>
#include <stdint.h>

struct err;
struct db_copy_state;

/* The first wait after a failure and the longest one, in seconds. */
#define SNAPSHOT_COPY_RETRY_FIRST 60
#define SNAPSHOT_COPY_RETRY_MAX 3600

/*
 * Splits a snapshots.copy.target value ("REMOTE" or "REMOTE:NAME") of instance `instance` into
 * the remote's name and the instance name on it (`instance` when left out). Both are the
 * caller's. -EINVAL for an empty part (the key's validator refuses those first), -ENOMEM.
 */
int snapshot_copy_target_parse(const char *value, const char *instance, char **ret_remote,
			       char **ret_name, struct err **err);

/*
 * The wait before the next try after `failures` failed attempts in a row: `first` seconds
 * after the first, doubling with each further one, never more than `max`. 0 for no failure.
 */
int64_t snapshot_copy_backoff(int64_t failures, int64_t first, int64_t max);

/* Whether a refresh of state `s` should start at `now`: one is owed and no back-off holds it. */
bool snapshot_copy_due(const struct db_copy_state *s, int64_t now);

/*
 * Records an attempt that started at `started` and ended at `now` in `s`: a success (`error`
 * NULL) with `bytes` sent clears the debt, the error and the back-off; a failure keeps the debt,
 * counts it and sets the next try (snapshot_copy_backoff() from `now`). -ENOMEM.
 */
int snapshot_copy_record(struct db_copy_state *s, const char *target, int64_t started, int64_t now,
			 uint64_t bytes, const char *error, int64_t first, int64_t max);
