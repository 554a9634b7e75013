#pragma once

/*
 * The snapshot server: after every scheduled snapshot of an instance whose expanded config sets
 * snapshots.copy.target, the daemon refreshes that target (an instance on one of its own
 * remotes) in the background. A refresh owed is recorded in the database (copy_state) before it
 * starts, so a restart carries it on; a failed one is tried again with exponential back-off
 * (snapshots/copy.h). One thread decides, worker threads transfer: one transfer per instance at
 * a time, at most COPIER_MAX_RUNNING at once, never on the scheduler's thread.
 */

#include <json-c/json.h>

struct daemon;
struct err;

#define COPIER_MAX_RUNNING 2

/*
 * Starts the thread; a refresh owed from before the start goes at once. The first wait after a
 * failure is SNAPSHOT_COPY_RETRY_FIRST seconds, or CAIRN_COPY_RETRY_FIRST when set (tests).
 */
int copier_start(struct daemon *d, struct err **err);

/* Stops the thread and the transfers (each cancelled where the transfer allows it, and waited
 * for); safe to call when not started. */
void copier_stop(void);

/* Makes the thread look again (a remote was added, a transfer ended). */
void copier_wake(void);

/*
 * Records that instance `name` owes its target a refresh (a scheduled snapshot was just taken)
 * and wakes the thread. Does nothing for an instance whose expanded config has no
 * snapshots.copy.target. Errors are logged.
 */
void copier_owe(struct daemon *d, const char *name);

/*
 * What the refresh of instance `name` did and will do, for its state (cairn info): NULL when
 * its config names no target and it has no history.
 */
json_object *copier_instance_json(struct daemon *d, const char *name);

/*
 * The API paths of the instances ("/1.0/instances/c1", by their expanded config) and profiles
 * ("/1.0/profiles/p") whose snapshots.copy.target names remote `remote`; NULL-terminated, never
 * NULL on success (strv_free).
 */
int copier_remote_users(struct daemon *d, const char *remote, char ***ret, struct err **err);
