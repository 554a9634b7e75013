#pragma once

/*
 * Snapshots of instances: create, delete, rename, restore, list, expiry, and the recovery pass
 * that makes every snapshot whole or absent after an unclean stop.
 *
 * Crash safety. A snapshot row is written CREATING before its subvolume exists and flipped to
 * READY after; a delete flips it to DELETING before anything is removed. Rename and restore take
 * several steps, so they write a journal entry (config/db.h, struct db_pending) before the first
 * and remove it with the last (one transaction), or after a failure once its steps are undone;
 * an entry that stays is rolled forward by snapshot_recover(), or by the next create, delete,
 * rename or restore of that instance, which are refused while it cannot be finished. Until a
 * restore's swap the old volume is intact (storage_snapshot_restore_with() swaps a writable
 * snapshot of the snapshot, already holding its backup.yaml, in with one rename), and the swap is
 * undone when the config cannot follow.
 *
 * The caller (the daemon) serialises operations per instance: every function here expects the
 * instance to be claimed, so no two of them run on one instance at once.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/db.h"

struct err;
struct instance_env;

/* How snapshot_create() names and dates a snapshot. */
struct snapshot_create_opts {
	const char *name;   /* NULL: from snapshots.pattern */
	const char *expiry; /* expression ("1d 3H") or date; NULL: from the instance's keys */
	bool no_expiry;	    /* never expires, whatever the keys say */
	bool stateful;	    /* with the running state (CRIU) */
	bool reuse;	    /* replace a snapshot of the same name */
	bool scheduled;	    /* taken by the scheduler: snapshots.expiry, no limit refusal */
};

/* A snapshot row with its size. */
struct snapshot_info {
	struct db_snapshot row;
	int64_t size; /* exclusive bytes, -1 when the driver cannot tell */
};

/* Frees an array of `n` snapshot_info and the array. */
void snapshot_infos_free(struct snapshot_info *v, size_t n);

/*
 * Takes a read-only snapshot of instance `instance` (running or not: a running instance on a
 * copy-based driver is frozen during the copy). The name comes from `opts->name` or the
 * instance's snapshots.pattern; *ret_name (may be NULL) is the final name, the caller's to free.
 * Errors: -ENOENT unknown instance, -EINVAL bad name or expiry, -EEXIST name taken (without
 * reuse), -EINVAL "Instance "c1" has reached its snapshot limit (snapshots.limit=3)" for a manual
 * snapshot past the limit, and for a stateful one the refusals of instance_stateful_allowed()
 * (-EOPNOTSUPP when CRIU cannot run here) or the failure of CRIU's dump.
 *
 * A stateful snapshot dumps the processes with CRIU into the instance's volume while they keep
 * running, then snapshots the volume, so the read-only snapshot carries the dump
 * (INSTANCE_STATE_DIR); the dump then leaves the volume. The row is CREATING until both are
 * there: recovery removes a half-made one whole.
 */
int snapshot_create(const struct instance_env *env, const char *instance,
		    const struct snapshot_create_opts *opts, char **ret_name, struct err **err);

/* Deletes snapshot `name` of `instance`. -ENOENT when either is unknown. */
int snapshot_delete(const struct instance_env *env, const char *instance, const char *name,
		    struct err **err);

/* Renames a snapshot. -ENOENT unknown, -EEXIST `new_name` taken, -EINVAL bad new name. On
 * failure nothing changed, unless the message says that the rename "is left to be finished
 * later" (the subvolume could not be renamed back): then it is finished by the next snapshot
 * operation on the instance or the next start. */
int snapshot_rename(const struct instance_env *env, const char *instance, const char *old_name,
		    const char *new_name, struct err **err);

/*
 * Puts the instance's disk (and, unless `disk_only`, its config; volatile.* keys of the instance
 * stay) back to snapshot `name`. A running instance is stopped (cleanly, forced after 30 s),
 * restored and started again. Newer snapshots are kept. On failure nothing changed: disk,
 * config and backup.yaml are as they were (and a running instance is started again), unless
 * the message says that the restore "is left to be finished later" (the old volume could not be
 * swapped back): then the instance stays stopped and the restore is finished by the next
 * snapshot operation on it or the next start. -ENOENT for an unknown instance or snapshot, else
 * the errno of the step that failed (-ENOSPC for a full pool).
 *
 * With `stateful` (a stateful snapshot only, see snapshot_restore_allowed()) the instance, running
 * or not, ends up running the snapshot's processes, resumed with CRIU from the images the
 * snapshot carries. Should the resume fail, the disk (and config) stay restored and the instance
 * stays stopped, and the message says so. Without it, the images of a stateful snapshot are
 * dropped and a running instance boots afresh, as in Incus.
 */
int snapshot_restore(const struct instance_env *env, const char *instance, const char *name,
		     bool disk_only, bool stateful, struct err **err);

/*
 * The refusals of a stateful restore of `snap` (none when not `stateful`), so that the API can
 * answer them before it starts an operation: -EINVAL for a stateless snapshot, -EOPNOTSUPP when
 * CRIU cannot run here.
 */
int snapshot_restore_allowed(const struct db_snapshot *snap, bool stateful, struct err **err);

/* The READY snapshots of an instance, oldest first, with their sizes when `with_size`
 * (otherwise size is -1). Free with snapshot_infos_free(). -ENOENT for an unknown instance. */
int snapshot_list(const struct instance_env *env, const char *instance, bool with_size,
		  struct snapshot_info **ret, size_t *ret_n, struct err **err);

/* One READY snapshot with its size. Free ret->row with db_snapshot_done(). */
int snapshot_get(const struct instance_env *env, const char *instance, const char *name,
		 struct snapshot_info *ret, struct err **err);

/* Sets when a snapshot expires (seconds since the epoch, 0 = never). */
int snapshot_set_expiry(const struct instance_env *env, const char *instance, const char *name,
			int64_t expires_at, struct err **err);

/*
 * After an unclean stop, and after instance_recover(): rolls the journal forward, removes
 * snapshot rows that are not READY with their subvolumes, subvolumes without a READY row, and
 * the snapshot directories of instances that no longer exist. An entry of the journal that
 * cannot be finished now stays (logged, not a failure), and nothing of its instance is removed.
 * Logs what it repairs; carries on past each failure and returns the first.
 */
int snapshot_recover(const struct instance_env *env, struct err **err);
