#pragma once

/*
 * The instance lifecycle on top of the state database, the storage pools and liblxc:
 * create from an image, start, stop, reconfigure, delete. Every step that changes disk state is
 * ordered so that a daemon killed at any instant leaves the instance whole or absent: the row is
 * written as CREATING before the volume exists and flipped to READY after, and flipped to
 * DELETING before anything is removed; instance_recover() finishes or undoes what it finds.
 *
 * Layout under $CAIRN_DIR:
 *   containers/<name>                  -> storage-pools/<pool>/containers/<name> (the LXC path)
 *   storage-pools/<pool>/containers/<name>/rootfs, backup.yaml
 *   logs/<name>/lxc.conf, lxc.log, console.log, forkstart.log
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/kvlist.h"
#include "config/devices.h"
#include "instance/idmap.h"
#include "instance/lxc.h"
#include "instance/lxcconf.h"

struct db;
struct db_instance;
struct db_pending;
struct err;
struct storage_pool;

/* What the lifecycle needs from the daemon. Owned by the daemon; read-only here. */
struct network_manager;

struct instance_env {
	const char *cairn_dir;
	const char *helper;   /* the cairn-fork program (instance/fork.h) */
	const char *self_exe; /* cairnd itself, for the forkfile helper (instance/files.h) */
	struct db *db;
	struct storage_pool *pools; /* array of n_pools, mounted */
	size_t n_pools;
	struct idmap idmap;
	enum instance_cgroup_layout cgroup;
	unsigned host_cpus;
	uint64_t host_memory; /* bytes */
	/* Told of every lifecycle change ("instance-started", "/1.0/instances/c1"); may be NULL. */
	void (*lifecycle)(const char *action, const char *source);
	/* Managed networks, for nics; NULL where there are none (`cairnd init`, tests): an
	 * instance with a nic on a managed network then does not start. */
	struct network_manager *networks;
};

/* Reports a lifecycle change of instance or image `name` to env->lifecycle, if any. `kind` is
 * "instances" or "images". */
void instance_notify(const struct instance_env *env, const char *action, const char *kind,
		     const char *name);

/* The pool called `name`, or NULL. */
struct storage_pool *instance_env_pool(const struct instance_env *env, const char *name);

/* $CAIRN_DIR/containers: the LXC path. Caller frees. */
char *instance_lxcpath(const struct instance_env *env);

/* $CAIRN_DIR/logs/<name>. Caller frees. */
char *instance_log_dir(const struct instance_env *env, const char *name);

/*
 * An ephemeral instance is deleted when it stops, as in Incus (`ephemeral: true` in the API). The
 * flag is a daemon-owned key of the stored config, so that it is written with the row in one
 * transaction, kept in backup.yaml and dropped by copies; the API shows it as the instance's
 * "ephemeral" field, not among its config keys.
 */
#define INSTANCE_EPHEMERAL_KEY "volatile.ephemeral"

/* True when instance `row` is ephemeral. */
bool instance_is_ephemeral(const struct db_instance *row);

/*
 * Creates instance `name` from image `fingerprint` with the profiles `profiles` (in order;
 * NULL-terminated, NULL: none) and its own `config` and `devices` (validated here, and expanded:
 * the root disk says which pool it lives on), shifting the rootfs into the idmap unless the
 * expanded security.privileged is true;
 * `ephemeral` makes it ephemeral from its first row on. -EEXIST when the name is taken, -ENOENT
 * for an unknown image or pool, -EINVAL for bad names, keys or values. Nothing is left behind on
 * failure.
 */
int instance_create(const struct instance_env *env, const char *name, const char *fingerprint,
		    const struct kvlist *config, const struct devices *devices,
		    char *const *profiles, const char *description, bool ephemeral,
		    struct err **err);

/*
 * Deletes a stopped instance with its volume, snapshots, logs and row. -EBUSY with the exact
 * message "The instance is currently running, stop it first or pass --force" when it runs,
 * -EPERM when security.protection.delete is true, -ENOENT when unknown.
 */
int instance_delete(const struct instance_env *env, const char *name, struct err **err);

/* The refusals of instance_delete() alone (protected: -EPERM, running: -EBUSY), so that the API
 * can answer them before it starts an operation. */
int instance_delete_allowed(const struct instance_env *env, const struct db_instance *row,
			    struct err **err);

/* Starts an instance (renders lxc.conf, runs the forkstart helper) and records
 * volatile.last_state.power=RUNNING. Starting a running instance is -EBUSY. An instance that
 * holds a checkpoint is resumed from it instead (forkrestore), and the checkpoint discarded; when
 * that fails the checkpoint is kept and the message says how to start afresh. */
int instance_start(const struct instance_env *env, const char *name, struct err **err);

/*
 * Stateful work (CRIU). An instance's volume may hold two directories of CRIU images beside its
 * rootfs: INSTANCE_CHECKPOINT_DIR, kept by `stop --stateful` for the next start, and
 * INSTANCE_STATE_DIR, the running state a stateful snapshot carries (in the instance's volume only
 * while such a snapshot is taken or restored). Both go with the disk they belong to: a restore
 * swaps the volume, and with it any checkpoint, away.
 */
#define INSTANCE_CHECKPOINT_DIR "checkpoint"
#define INSTANCE_STATE_DIR "state"

/* True when the LXC config instance `name` was last started with has no console
 * (migration.stateful was true then): such an instance can be dumped, and has no console to
 * attach to. */
bool instance_started_without_console(const struct instance_env *env, const char *name);

/* True when the volume of `row` holds a whole checkpoint (INSTANCE_CHECKPOINT_DIR). */
bool instance_has_checkpoint(const struct instance_env *env, const struct db_instance *row);

/*
 * The refusals of stateful work on instance `row`, so that the API can answer them before it
 * starts an operation; `what` names the work ("Stateful snapshots"). -EINVAL "Stateful snapshots
 * require migration.stateful=true", -EINVAL for a stopped instance or one started before
 * migration.stateful was set (it has a console, which CRIU cannot dump), -EBUSY for a frozen one,
 * -EOPNOTSUPP when CRIU cannot run here (instance_criu_require()).
 */
int instance_stateful_allowed(const struct instance_env *env, const struct db_instance *row,
			      const char *what, struct err **err);

/*
 * Dumps running instance `name` with CRIU into <volume>/`dir_name` (replacing what is there), and
 * leaves it running unless `stop`. The caller has checked instance_stateful_allowed(). On
 * failure nothing is left in the volume, the instance runs on, and the message holds CRIU's
 * errors and the path of its log (logs/<name>/criu-dump.log).
 */
int instance_checkpoint(const struct instance_env *env, const char *name, const char *dir_name,
			bool stop, struct err **err);

/* Removes <volume>/`dir_name` of instance `name`; an absent one is fine. */
int instance_remove_state(const struct instance_env *env, const char *name, const char *dir_name,
			  struct err **err);

/* `stop --stateful`: dumps the running instance into its checkpoint (under a temporary name,
 * renamed once whole) and stops it (power state STOPPED). Refusals as
 * instance_stateful_allowed(); on failure the instance runs on and no checkpoint is left. */
int instance_stop_stateful(const struct instance_env *env, const char *name, struct err **err);

/* The refusals of instance_stop_stateful(): those of instance_stateful_allowed(), and -EINVAL
 * for an ephemeral instance (the stop would delete it). */
int instance_stop_stateful_allowed(const struct instance_env *env, const struct db_instance *row,
				   struct err **err);

/* Discards the checkpoint of instance `name`, if any (`start --stateless`). */
int instance_discard_checkpoint(const struct instance_env *env, const char *name, struct err **err);

/*
 * Starts stopped instance `name` from the CRIU images in <volume>/`dir_name` (left in place for
 * the caller to remove) and records volatile.last_state.power=RUNNING. On failure the instance
 * stays stopped and the message holds CRIU's errors and the path of its log
 * (logs/<name>/criu-restore.log).
 */
int instance_start_from(const struct instance_env *env, const char *name, const char *dir_name,
			struct err **err);

/* Stops an instance (clean shutdown up to `timeout_sec`, then kill; `force` kills at once) and
 * records volatile.last_state.power=STOPPED unless `keep_power_state` (a restart). An ephemeral
 * instance is deleted then, unless `keep_power_state`. Stopping a stopped
 * instance is -EBUSY ("Instance \"x\" is already stopped"). */
int instance_stop(const struct instance_env *env, const char *name, int timeout_sec, bool force,
		  bool keep_power_state, struct err **err);

/*
 * Ephemeral instances that stopped on their own (a poweroff inside, or while the daemon was down,
 * or a daemon killed between a stop and the delete that follows it) are deleted by the daemon:
 * instance_ephemeral_due() is true for a READY ephemeral instance whose power state says RUNNING
 * (it was meant to run) and whose container is STOPPED, and not protected against deletion.
 * instance_ephemeral_reap() checks that again and deletes it: 1 when deleted, 0 when not due, or
 * the errno of instance_delete(). The caller holds the instance (no operation runs on it).
 */
bool instance_ephemeral_due(const struct instance_env *env, const char *name);
int instance_ephemeral_reap(const struct instance_env *env, const char *name, struct err **err);

/*
 * Applies the live limits (limits.*) of `new_row`'s expanded config to the running instance,
 * resetting those that `old_row` had and `new_row` has not; instance_live_limits_restore() puts
 * `old_row`'s back (a failure is logged).
 */
int instance_live_limits_apply(const struct instance_env *env, const struct db_instance *old_row,
			       const struct db_instance *new_row, struct err **err);
void instance_live_limits_restore(const struct instance_env *env, const struct db_instance *old_row,
				  const struct db_instance *new_row);

/*
 * Replaces the user config, and the devices, the profiles (NULL-terminated, in order) and the
 * description unless NULL, of an instance, and makes it ephemeral
 * (`ephemeral` 1) or not (0), or leaves that as it is (-1). `config` holds the user
 * keys only: volatile.* and image.* of the stored config are kept, and given ones refused. Live
 * keys (limits.*) are applied to a running instance at once through its cgroup; others take
 * effect at the next start. All or nothing: the row, backup.yaml and the live limits all change,
 * or, on any error, none of them. The expanded result is checked as instance_settings_check()
 * does, and with `restricted` as instance_settings_restricted() does. -ENOENT unknown instance
 * or profile, -EINVAL bad key, value, device or description, -EPERM refused by `restricted`,
 * else the errno of the step that failed (-ENOSPC for a full pool).
 */
int instance_update(const struct instance_env *env, const char *name, const struct kvlist *config,
		    const struct devices *devices, char *const *profiles, const char *description,
		    int ephemeral, bool restricted, struct err **err);

/* Reads the row of a READY instance: -ENOENT "Instance "x" not found" for absent or half-made
 * ones. Free with db_instance_done(). */
int instance_get(const struct instance_env *env, const char *name, struct db_instance *ret,
		 struct err **err);

/* Status and pid (cheap), or the full usage with `with_usage`. */
int instance_state(const struct instance_env *env, const char *name, bool with_usage,
		   struct instance_state *ret, struct err **err);

/* The file in an instance's volume that describes it (enough to rebuild its row). */
#define INSTANCE_BACKUP_FILE "backup.yaml"

/* Writes backup.yaml of an instance into its volume, from the database row. */
int instance_write_backup(const struct instance_env *env, const char *name, struct err **err);

/* The text of backup.yaml for `row` (*ret_text is the caller's to free). Writes nothing, so a
 * caller can render the file of a change before making it. -EINVAL when a value cannot be
 * written as YAML (not valid UTF-8). */
int instance_backup_render(const struct db_instance *row, char **ret_text, struct err **err);

/*
 * Gives the volume of instance `row` the owner and mode of instance_idmap_volume_access() for
 * the id base its files are shifted to (volatile.idmap.base). Storage hands every volume out
 * closed (root's, 0700); create and copy open it at once, a restored one stays closed until
 * the instance starts (every start applies it), and the daemon applies it to every instance at
 * start. -ENOENT when the pool is not loaded, else the -errno of open, chown or chmod.
 */
int instance_volume_protect(const struct instance_env *env, const struct db_instance *row,
			    struct err **err);

/*
 * Brings disk and database into agreement after an unclean stop: CREATING rows are undone,
 * DELETING rows finished, volumes without a row (and leftover temporary volumes) removed, and the
 * backup.yaml of an instance whose update was interrupted written again from its row.
 * Also gives every instance volume its owner and mode again (instance_volume_protect()), which
 * closes the volumes of an install made before that layout (a failure there is logged only).
 * Logs what it repairs. Returns the first error but carries on past each one.
 */
int instance_recover(const struct instance_env *env, struct err **err);

/*
 * Names of the entries under containers-snapshots/<name>/ of `pool` (snapshots on disk, hidden
 * temporaries included). NULL-terminated, never NULL on success; free with strv_free(). An absent
 * directory gives an empty list.
 */
int instance_disk_snapshots(const struct storage_pool *pool, const char *name, char ***ret_names,
			    struct err **err);

/* Deletes every snapshot of `name` on `pool` from the disk, then its snapshot directory. Missing
 * pieces are fine. */
int instance_remove_disk_snapshots(const struct storage_pool *pool, const char *name,
				   struct err **err);

/* Freezes (`freeze`) or thaws a running container through its command socket: copy-based
 * drivers need a still rootfs while they snapshot it. -EIO when liblxc refuses. */
int instance_freeze(const struct instance_env *env, const char *name, bool freeze,
		    struct err **err);

/*
 * Makes instance `dst` (stopped, not ephemeral) a copy of instance `src`, or of its snapshot
 * `snapshot` when not NULL, on pool `pool_name` (NULL: the source's), with the source's config
 * (volatile.last_state.power=STOPPED). A copy of an instance takes its READY snapshots along
 * unless `instance_only`. Within a pool, volumes and snapshots are cloned by the driver; into
 * another pool their trees are copied (storage_volume_import()). The row is CREATING until
 * everything is in place, so recovery removes a half copy. A running source is frozen while its
 * files are copied (a copy-based driver, or another pool). -EEXIST when `dst` is taken, -ENOENT
 * for an unknown source or pool, -EINVAL for a bad name.
 */
int instance_copy(const struct instance_env *env, const char *src, const char *snapshot,
		  const char *dst, const char *pool_name, bool instance_only, struct err **err);

/*
 * Renames stopped instance `name` to `new_name`: its volume and snapshots, its log directory, its
 * containers/<name> link, backup.yaml and its row (config, snapshots and scheduler state follow
 * the row). A journal entry ("instance-rename") lives from before the first step to the last, so
 * a crash anywhere is rolled forward at the next start (instance_journal_recover()). Refusals are
 * instance_rename_allowed()'s. On failure nothing changed, unless the message says the rename "is
 * left to be finished later".
 */
int instance_rename(const struct instance_env *env, const char *name, const char *new_name,
		    struct err **err);

/* The refusals of a rename of `row` to `new_name`, for the API to answer before it starts an
 * operation: -EINVAL bad name, -EEXIST "Instance "x" already exists" (whatever the row's state,
 * or the same name), -EBUSY "Renaming of running instance not allowed", or for an instance that
 * holds a stop --stateful checkpoint (its CRIU images name the old paths). */
int instance_rename_allowed(const struct instance_env *env, const struct db_instance *row,
			    const char *new_name, struct err **err);

/*
 * Moves stopped instance `name` with its snapshots to pool `pool` (copies: any driver to any
 * other). The source stays the truth until the copy is whole: a journal entry ("instance-move")
 * is written first, the snapshots (oldest first) and the volume are copied, the row switched to
 * the new pool, then the link follows, the old copy is removed and the entry goes. A crash
 * before the switch is undone at the next start (the copy removed), one after it finished. The
 * snapshots keep their rows (times, expiry, scheduled or manual). Refusals are
 * instance_move_allowed()'s; on failure nothing changed (the copy is removed), unless the
 * message says the move "is left to be finished later".
 */
int instance_move_pool(const struct instance_env *env, const char *name, const char *pool,
		       struct err **err);

/* The refusals of a move of `row` to `pool`: -ENOENT unknown pool, -EINVAL the pool it is on,
 * -EBUSY "Moving of running instance not allowed" or a stop --stateful checkpoint. */
int instance_move_allowed(const struct instance_env *env, const struct db_instance *row,
			  const char *pool, struct err **err);

/* True when a journal entry of `kind` belongs to this module ("instance-rename",
 * "instance-move"). */
bool instance_journal_kind(const char *kind);

/* Rolls journal entry `p` of one of those kinds forward (a rename, a move past its switch) or
 * back (a move before it); the entry goes with its last step, and stays on failure. */
int instance_journal_finish(const struct instance_env *env, const struct db_pending *p,
			    struct err **err);

/* At start, before instance_recover(): finishes every rename and move entry of the journal.
 * One that cannot be finished stays (logged); instance_recover() then keeps what it names. */
int instance_journal_recover(const struct instance_env *env, struct err **err);

/* The instance names that journal entries hold (an entry's instance, and a rename's new name),
 * whose volumes recovery must not take for leftovers. NULL-terminated, free with strv_free(). */
int instance_journal_held(const struct instance_env *env, char ***ret_names, struct err **err);

/* Starts the instances that have boot.autostart=true or were running when the daemon last
 * stopped (volatile.last_state.power=RUNNING) and are not running now. Logs failures. */
void instance_autostart(const struct instance_env *env);
