#include "snapshots/snapshots.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/crashpoint.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "config/db.h"
#include "config/keys.h"
#include "config/snaprules.h"
#include "instance/criu.h"
#include "instance/instance.h"
#include "instance/settings.h"
#include "storage/storage.h"

#define PENDING_RENAME "snapshot-rename"
#define PENDING_RESTORE "snapshot-restore"

/* How long a restore waits for a running instance to shut down cleanly before killing it. */
#define RESTORE_STOP_TIMEOUT 30

#define _cleanup_db_snapshot_ _cleanup_(db_snapshot_done)

static int finish_pending(const struct instance_env *env, const char *instance, struct err **err);

void snapshot_infos_free(struct snapshot_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_snapshot_done(&v[i].row);
	free(v);
}

static int not_found(const char *instance, const char *name, struct err **err)
{
	return err_set(err, -ENOENT, "Snapshot \"%s\" of instance \"%s\" not found", name,
		       instance);
}

/* The instance row (READY) and its pool. */
static int load_instance(const struct instance_env *env, const char *instance,
			 struct db_instance *ret, struct storage_pool **ret_pool, struct err **err)
{
	int r = instance_get(env, instance, ret, err);

	if (r < 0)
		return r;
	*ret_pool = instance_env_pool(env, ret->pool);
	if (!*ret_pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", ret->pool);
	return 0;
}

/* A READY snapshot row; anything else is "not found" to users. */
static int load_snapshot(const struct instance_env *env, const char *instance, const char *name,
			 struct db_snapshot *ret, struct err **err)
{
	_cleanup_err_ struct err *e = NULL;
	int r = db_snapshot_get(env->db, instance, name, ret, &e);

	if (r == -ENOENT || (r >= 0 && ret->state != DB_ROW_READY)) {
		if (r >= 0)
			db_snapshot_done(ret);
		return not_found(instance, name, err);
	}
	if (r < 0)
		return err_set(err, r, "%s", err_msg(e, r));
	return 0;
}

static bool is_running(const struct instance_env *env, const char *instance)
{
	struct instance_state st = {0};

	return instance_state(env, instance, false, &st, NULL) >= 0 &&
	       st.status != INSTANCE_STOPPED;
}

/* When a new snapshot expires: --no-expiry, --expiry, else the instance's key for its kind. */
static int resolve_expiry(const struct db_instance *row, const struct snapshot_create_opts *opts,
			  int64_t now, int64_t *ret, struct err **err)
{
	const char *key = opts->scheduled ? "snapshots.expiry" : "snapshots.expiry.manual";
	const char *expr;
	int r;

	*ret = 0;
	if (opts->no_expiry)
		return 0;
	if (opts->expiry && *opts->expiry) {
		r = config_expiry_resolve(opts->expiry, now, ret, err);
		if (r < 0)
			return r;
		if (*ret <= now)
			return err_set(err, -EINVAL, "Expiry \"%s\" is not in the future",
				       opts->expiry);
		return 0;
	}
	expr = config_get(&row->expanded_config, key);
	if (!expr || !*expr)
		return 0;
	return config_expiry_add(expr, now, ret, err);
}

/* Undo steps whose failure the operation carries on past: logged, not returned. */
static void remove_state_ignoring(const struct instance_env *env, const char *instance)
{
	_cleanup_err_ struct err *e = NULL;
	int r = instance_remove_state(env, instance, INSTANCE_STATE_DIR, &e);

	if (r < 0)
		err_log_ignored(e, r, "Failed to remove the CRIU images of \"%s\"", instance);
}

/* Removes a snapshot whose row is already DELETING (or CREATING): disk first, then the row.
 * A subvolume that is not there is fine, so this both finishes a delete and undoes a create. */
static int remove_snapshot(const struct instance_env *env, struct storage_pool *pool,
			   const char *instance, const char *name, struct err **err)
{
	int r = storage_snapshot_delete(pool, instance, name, NULL);

	if (r < 0 && r != -ENOENT)
		return storage_snapshot_delete(pool, instance, name, err);
	return db_snapshot_delete(env->db, instance, name, err);
}

static int delete_locked(const struct instance_env *env, struct storage_pool *pool,
			 const char *instance, const char *name, struct err **err)
{
	int r = db_snapshot_set_state(env->db, instance, name, DB_ROW_DELETING, err);

	if (r < 0)
		return r;
	crashpoint("snapshot-delete-after-mark");
	return remove_snapshot(env, pool, instance, name, err);
}

int snapshot_create(const struct instance_env *env, const char *instance,
		    const struct snapshot_create_opts *opts, char **ret_name, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_strv_ char **names = NULL;
	_cleanup_free_ char *name = NULL;
	struct db_snapshot *snaps = NULL;
	struct db_snapshot snap = {0};
	struct storage_pool *pool = NULL;
	size_t n = 0, count = 0;
	int64_t now = time_now(), expires_at = 0, limit = -1;
	bool exists = false, frozen = false;
	const char *limit_s;
	int r;

	r = load_instance(env, instance, &row, &pool, err);
	if (r < 0)
		return r;
	r = finish_pending(env, instance, err);
	if (r < 0)
		return r;
	if (opts->stateful) {
		r = instance_stateful_allowed(env, &row, "Stateful snapshots", err);
		if (r < 0)
			return r;
	}
	if (opts->name) {
		r = config_snapshot_name_valid(opts->name, err);
		if (r < 0)
			return r;
	}

	r = db_snapshot_list(env->db, instance, &snaps, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = strv_push(&names, snaps[i].name) < 0 ? -ENOMEM : 0;
		if (opts->name && strcmp(snaps[i].name, opts->name) == 0)
			exists = true;
		else
			count++;
	}
	db_snapshots_free(snaps, n);
	if (r < 0)
		return err_set(err, -ENOMEM, "Out of memory");

	if (opts->name) {
		name = strdup(opts->name);
		if (!name)
			return err_set(err, -ENOMEM, "Out of memory");
	} else {
		r = config_snapshot_pattern_expand(
		    config_get(&row.expanded_config, "snapshots.pattern"), now, names, &name, err);
		if (r < 0)
			return err_wrap(err, r, "Failed to name a snapshot of instance \"%s\"",
					instance);
	}
	if (exists && !opts->reuse)
		return err_set(err, -EEXIST, "Snapshot \"%s\" of instance \"%s\" already exists",
			       name, instance);

	limit_s = config_get(&row.expanded_config, "snapshots.limit");
	if (limit_s && *limit_s)
		limit = strtoll(limit_s, NULL, 10);
	if (limit >= 0 && !opts->scheduled && (int64_t)count >= limit)
		return err_set(
		    err, -EINVAL,
		    "Instance \"%s\" has reached its snapshot limit (snapshots.limit=%s)", instance,
		    limit_s);

	r = resolve_expiry(&row, opts, now, &expires_at, err);
	if (r < 0)
		return r;

	if (exists) {
		r = delete_locked(env, pool, instance, name, err);
		if (r < 0)
			return r;
	}

	snap.instance = (char *)instance;
	snap.name = name;
	snap.created_at = now;
	snap.expires_at = expires_at;
	snap.stateful = opts->stateful;
	snap.scheduled = opts->scheduled;
	snap.description = (char *)"";
	snap.config = row.config;
	snap.devices = row.devices;
	snap.profiles = row.profiles;
	snap.state = DB_ROW_CREATING;
	r = db_snapshot_insert(env->db, &snap, NULL, err);
	if (r < 0)
		return r;
	crashpoint("snapshot-create-after-row");

	/*
	 * A stateful snapshot: CRIU dumps the processes into the volume (they run on), and the
	 * snapshot of the volume taken right after carries the dump in its INSTANCE_STATE_DIR. The
	 * row is CREATING until both are there, and the dump leaves the volume again either way.
	 */
	if (opts->stateful) {
		r = instance_checkpoint(env, instance, INSTANCE_STATE_DIR, false, err);
		crashpoint("snapshot-stateful-after-dump");
	}
	/* A copy-based driver reads the files one by one: a running container would change them
	 * under it. btrfs snapshots atomically, so there a running instance is never paused. */
	if (r >= 0 && storage_snapshot_needs_freeze(pool) && is_running(env, instance)) {
		r = instance_freeze(env, instance, true, err);
		frozen = r >= 0;
	}
	if (r >= 0)
		r = storage_snapshot_create(pool, instance, name, err);
	if (frozen) {
		_cleanup_err_ struct err *e = NULL;
		int q = instance_freeze(env, instance, false, &e);

		if (q < 0)
			err_log_ignored(e, q, "Failed to thaw instance \"%s\"", instance);
	}
	if (opts->stateful)
		remove_state_ignoring(env, instance);
	crashpoint("snapshot-create-after-storage");
	if (r >= 0)
		r = db_snapshot_set_state(env->db, instance, name, DB_ROW_READY, err);
	if (r < 0) {
		_cleanup_err_ struct err *e = NULL;
		int q = remove_snapshot(env, pool, instance, name, &e);

		/* The CREATING row stays for recovery to finish. */
		if (q < 0)
			err_log_ignored(e, q,
					"Failed to remove the half-made snapshot \"%s\" of \"%s\"",
					name, instance);
		return r;
	}
	if (ret_name)
		*ret_name = steal_pointer(&name);
	return 0;
}

int snapshot_delete(const struct instance_env *env, const char *instance, const char *name,
		    struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_db_snapshot_ struct db_snapshot snap = {0};
	struct storage_pool *pool = NULL;
	int r;

	r = load_instance(env, instance, &row, &pool, err);
	if (r < 0)
		return r;
	r = finish_pending(env, instance, err);
	if (r < 0)
		return r;
	r = load_snapshot(env, instance, name, &snap, err);
	if (r < 0)
		return r;
	return delete_locked(env, pool, instance, name, err);
}

/* True when the snapshot directory of `instance` holds an entry `name`. */
static bool on_disk(struct storage_pool *pool, const char *instance, const char *name)
{
	_cleanup_strv_ char **names = NULL;

	return instance_disk_snapshots(pool, instance, &names, NULL) >= 0 &&
	       strv_contains(names, name);
}

/*
 * The steps of a rename after its journal entry `id`; each one is skipped when already done, so
 * recovery can run them again. The last one, the row, is one transaction with the removal of
 * the entry (db_pending_finish_rename), so the entry is gone exactly when the rename is done.
 */
static int rename_steps(const struct instance_env *env, struct storage_pool *pool,
			const char *instance, const char *old_name, const char *new_name,
			int64_t id, struct err **err)
{
	int r;

	if (on_disk(pool, instance, old_name) && !on_disk(pool, instance, new_name)) {
		r = storage_snapshot_rename(pool, instance, old_name, new_name, err);
		if (r < 0)
			return r;
	}
	crashpoint("snapshot-rename-after-disk");
	return db_pending_finish_rename(env->db, id, instance, old_name, new_name, err);
}

/*
 * Puts back a rename whose steps failed, then removes its entry `id`. The row was not renamed
 * (that step and the entry's removal are one transaction); the subvolume may have been. When
 * it cannot be put back, or when the disk cannot even be read, the entry stays (false): the
 * subvolume then has the new name and the row the old one, and only the entry keeps recovery from
 * taking the subvolume for an orphan. Recovery (or the next snapshot operation on the instance)
 * then finishes the rename instead.
 */
static bool rename_undo(const struct instance_env *env, struct storage_pool *pool,
			const char *instance, const char *old_name, const char *new_name,
			int64_t id)
{
	_cleanup_strv_ char **names = NULL;

	if (instance_disk_snapshots(pool, instance, &names, NULL) < 0)
		return false;
	if (strv_contains(names, new_name) && !strv_contains(names, old_name) &&
	    storage_snapshot_rename(pool, instance, new_name, old_name, NULL) < 0)
		return false;
	db_pending_delete_ignoring(env->db, id);
	return true;
}

int snapshot_rename(const struct instance_env *env, const char *instance, const char *old_name,
		    const char *new_name, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_db_snapshot_ struct db_snapshot snap = {0}, other = {0};
	struct storage_pool *pool = NULL;
	struct db_pending p = {0};
	int64_t id = 0;
	int r;

	r = load_instance(env, instance, &row, &pool, err);
	if (r < 0)
		return r;
	r = config_snapshot_name_valid(new_name, err);
	if (r < 0)
		return r;
	r = finish_pending(env, instance, err);
	if (r < 0)
		return r;
	r = load_snapshot(env, instance, old_name, &snap, err);
	if (r < 0)
		return r;
	if (strcmp(old_name, new_name) == 0)
		return 0;
	if (db_snapshot_get(env->db, instance, new_name, &other, NULL) >= 0)
		return err_set(err, -EEXIST, "Snapshot \"%s\" of instance \"%s\" already exists",
			       new_name, instance);

	p.kind = (char *)PENDING_RENAME;
	p.instance = (char *)instance;
	p.a = (char *)old_name;
	p.b = (char *)new_name;
	r = db_pending_add(env->db, &p, &id, err);
	if (r < 0)
		return r;
	crashpoint("snapshot-rename-after-journal");
	r = rename_steps(env, pool, instance, old_name, new_name, id, err);
	if (r < 0 && !rename_undo(env, pool, instance, old_name, new_name, id))
		return err_wrap(err, r,
				"The rename of snapshot \"%s\" of instance \"%s\" is left to be "
				"finished later",
				old_name, instance);
	return r;
}

/*
 * The config an instance gets back from a snapshot: the snapshot's keys, except that the
 * instance's volatile.* keys stay (power state, ...) — but volatile.idmap.base describes the
 * files, so the snapshot's wins when it has one.
 */
static int restored_config(const struct kvlist *current, const struct kvlist *snap,
			   struct kvlist *ret)
{
	const char *base = kvlist_get(snap, "volatile.idmap.base");

	for (size_t i = 0; i < snap->n; i++)
		if (!str_startswith(snap->items[i].key, "volatile.") &&
		    kvlist_set(ret, snap->items[i].key, snap->items[i].value) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < current->n; i++)
		if (str_startswith(current->items[i].key, "volatile.") &&
		    kvlist_set(ret, current->items[i].key, current->items[i].value) < 0)
			return -ENOMEM;
	if (base && kvlist_set(ret, "volatile.idmap.base", base) < 0)
		return -ENOMEM;
	return 0;
}

/*
 * The devices a restore brings back: the snapshot's, with the root disk on the pool the instance
 * lives on now. A snapshot taken before `cairn move --storage` expands to the old pool (through
 * its own root disk or its profiles'); the disk is restored where the instance is, so the
 * restored instance gets a root disk of its own naming that pool.
 */
static int restored_devices(const struct instance_env *env, const struct db_snapshot *snap,
			    const struct kvlist *config, const char *pool, struct devices *ret,
			    struct err **err)
{
	_cleanup_kvlist_ struct kvlist expanded = {0}, keys = {0};
	_cleanup_devices_ struct devices expanded_devices = {0};
	const char *root_name = "root";
	const struct kvlist *root;
	int r;

	if (devices_copy(ret, &snap->devices) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	r = instance_settings_expand(env, snap->profiles, config, &snap->devices, &expanded,
				     &expanded_devices, err);
	if (r < 0)
		return r;
	root = devices_root_disk(&expanded_devices, &root_name);
	if (root && strcmp(kvlist_get(root, "pool"), pool) == 0)
		return 0;
	if (root)
		r = kvlist_copy(&keys, root);
	if (r >= 0 && !root && (r = kvlist_set(&keys, "type", "disk")) >= 0)
		r = kvlist_set(&keys, "path", "/");
	if (r >= 0)
		r = kvlist_set(&keys, "pool", pool);
	if (r >= 0)
		r = devices_set(ret, root_name, &keys);
	return r < 0 ? err_set(err, -ENOMEM, "Out of memory") : 0;
}

/* What the hooks of a restore need (struct storage_restore_hooks). */
struct restore_change {
	const struct instance_env *env;
	const char *instance;
	const struct kvlist *config;   /* the restored config; NULL keeps the row's (disk only) */
	const struct devices *devices; /* and devices and profiles, NULL likewise */
	char *const *profiles;
	const char *backup; /* text of the restored volume's backup.yaml */
	int64_t pending_id; /* the restore's journal entry */
	bool keep_state;    /* keep the snapshot's CRIU images, to resume from them */
	bool swapped;	    /* the restored tree was swapped in (commit ran) */
};

/* Before the swap: the restored tree gets the backup.yaml of the restored instance, so that the
 * file arrives with the tree (a full pool fails here, before anything changed). */
static int restore_prepare(const char *path, void *data, struct err **err)
{
	const struct restore_change *c = data;
	_cleanup_free_ char *file = str_printf("%s/" INSTANCE_BACKUP_FILE, path);
	_cleanup_free_ char *state = str_printf("%s/" INSTANCE_STATE_DIR, path);
	_cleanup_free_ char *checkpoint = str_printf("%s/" INSTANCE_CHECKPOINT_DIR, path);
	int r;

	if (!file || !state || !checkpoint)
		return err_set(err, -ENOMEM, "Out of memory");
	/* The restored disk boots afresh unless its running state is resumed; a checkpoint the
	 * snapshot was taken with belongs to another moment of the disk. */
	if (!c->keep_state && (r = rm_rf(state, err)) < 0)
		return r;
	r = rm_rf(checkpoint, err);
	if (r < 0)
		return r;
	return file_write_atomic(file, c->backup, strlen(c->backup), 0600, err);
}

/* After the swap, the last step: the config, and the removal of the journal entry in the same
 * transaction. A failure here swaps the old volume back. */
static int restore_commit(void *data, struct err **err)
{
	struct restore_change *c = data;

	c->swapped = true;
	crashpoint("snapshot-restore-after-swap");
	return db_pending_finish_restore_settings(c->env->db, c->pending_id, c->instance, c->config,
						  c->devices, c->profiles, err);
}

/* The identity of a volume's root, to tell after a failed restore which tree is in place. */
struct vol_id {
	dev_t dev;
	ino_t ino;
	bool valid;
};

static struct vol_id volume_id(struct storage_pool *pool, const char *instance)
{
	_cleanup_free_ char *path = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, instance);
	struct stat st;

	if (!path || stat(path, &st) < 0)
		return (struct vol_id){0};
	return (struct vol_id){.dev = st.st_dev, .ino = st.st_ino, .valid = true};
}

/*
 * The steps of a restore after its journal entry `id`. Everything is computed first; then the
 * snapshot is cloned beside the volume, given its backup.yaml, swapped in, and the config
 * committed with the removal of the entry, so that the entry is gone exactly when the restore
 * is done. Running them twice gives the same result (the snapshot is read-only), which is what
 * recovery relies on.
 *
 * On failure, *ret_kept_old says whether the old volume is still (or again) in place, so that
 * nothing changed: the storage layer swaps it back when the commit fails, but that swap can
 * fail too, and then the restored tree stays in place with the old config. The identity of the
 * volume's root (a btrfs subvolume's device, a directory's inode) tells which tree is there.
 */
static int restore_steps(const struct instance_env *env, struct storage_pool *pool,
			 const char *instance, const char *name, bool disk_only, bool keep_state,
			 int64_t id, bool *ret_kept_old, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_db_snapshot_ struct db_snapshot snap = {0};
	_cleanup_kvlist_ struct kvlist config = {0};
	_cleanup_devices_ struct devices devices = {0};
	_cleanup_free_ char *backup = NULL;
	char *no_profiles[] = {NULL};
	struct restore_change change = {
	    .env = env, .instance = instance, .pending_id = id, .keep_state = keep_state};
	struct storage_restore_hooks hooks = {
	    .prepare = restore_prepare,
	    .commit = restore_commit,
	    .data = &change,
	};
	struct db_instance restored;
	struct vol_id before, after;
	int r;

	*ret_kept_old = true;
	r = db_instance_get(env->db, instance, &row, err);
	if (r < 0)
		return r;
	r = load_snapshot(env, instance, name, &snap, err);
	if (r < 0)
		return r;
	restored = row;
	if (!disk_only) {
		if (restored_config(&row.config, &snap.config, &config) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
		restored.config = config;
		change.config = &config;
		r = restored_devices(env, &snap, &config, row.pool, &devices, err);
		if (r < 0)
			return r;
		restored.devices = devices;
		change.devices = &devices;
		restored.profiles = snap.profiles ? snap.profiles : no_profiles;
		change.profiles = restored.profiles;
	}
	r = instance_backup_render(&restored, &backup, err);
	if (r < 0)
		return r;
	change.backup = backup;
	before = volume_id(pool, instance);
	r = storage_snapshot_restore_with(pool, instance, name, &hooks, err);
	if (r < 0 && change.swapped) {
		after = volume_id(pool, instance);
		*ret_kept_old = before.valid && after.valid && before.dev == after.dev &&
				before.ino == after.ino;
	}
	return r;
}

int snapshot_restore_allowed(const struct db_snapshot *snap, bool stateful, struct err **err)
{
	if (!stateful)
		return 0;
	if (!snap->stateful)
		return err_set(
		    err, -EINVAL,
		    "Snapshot \"%s\" of instance \"%s\" is stateless: it holds no running "
		    "state to restore (restore it without --stateful)",
		    snap->name, snap->instance);
	return instance_criu_require(NULL, err);
}

/* The last step of a stateful restore: the processes resume from the images the restored volume
 * holds, which then go. On failure the instance stays stopped, and is recorded so. */
static int resume_restored(const struct instance_env *env, const char *instance, const char *name,
			   struct err **err)
{
	int r;

	crashpoint("snapshot-restore-before-resume");
	r = instance_start_from(env, instance, INSTANCE_STATE_DIR, err);
	remove_state_ignoring(env, instance);
	if (r >= 0)
		return 0;
	{
		_cleanup_err_ struct err *e = NULL;
		int q = db_instance_config_set(env->db, instance, "volatile.last_state.power",
					       "STOPPED", 0, &e);

		if (q < 0)
			err_log_ignored(e, q, "Failed to record that \"%s\" is stopped", instance);
	}
	return err_wrap(err, r,
			"Restored the disk of instance \"%s\" from snapshot \"%s\", but its "
			"processes could not be resumed: the instance is stopped",
			instance, name);
}

int snapshot_restore(const struct instance_env *env, const char *instance, const char *name,
		     bool disk_only, bool stateful, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_db_snapshot_ struct db_snapshot snap = {0};
	struct storage_pool *pool = NULL;
	struct db_pending p = {0};
	bool was_running, kept_old = true;
	int64_t id = 0;
	int r;

	r = load_instance(env, instance, &row, &pool, err);
	if (r < 0)
		return r;
	r = load_snapshot(env, instance, name, &snap, err);
	if (r < 0)
		return r;
	r = snapshot_restore_allowed(&snap, stateful, err);
	if (r < 0)
		return r;

	was_running = is_running(env, instance);
	if (was_running && stateful) {
		/* Its processes are replaced by the snapshot's: no need to wait for a clean halt.
		 */
		r = instance_stop(env, instance, 0, true, true, err);
		if (r < 0)
			return err_wrap(err, r, "Failed to stop instance \"%s\" to restore it",
					instance);
	} else if (was_running) {
		_cleanup_err_ struct err *e = NULL;

		/* The power state stays RUNNING: should the daemon die before the restart below,
		 * autostart brings the restored instance back up. */
		r = instance_stop(env, instance, RESTORE_STOP_TIMEOUT, false, true, &e);
		if (r < 0 && is_running(env, instance)) {
			log_debug("Clean stop of \"%s\" failed (%s), forcing it", instance,
				  err_msg(e, r));
			r = instance_stop(env, instance, 0, true, true, err);
			if (r < 0)
				return err_wrap(err, r,
						"Failed to stop instance \"%s\" to restore it",
						instance);
		}
	}

	p.kind = (char *)PENDING_RESTORE;
	p.instance = (char *)instance;
	p.a = (char *)name;
	p.b = (char *)"";
	p.flags = disk_only;
	/* Stopped now: an unfinished restore of this instance can be finished first. */
	r = finish_pending(env, instance, err);
	if (r >= 0)
		r = db_pending_add(env->db, &p, &id, err);
	if (r >= 0) {
		crashpoint("snapshot-restore-after-journal");
		r = restore_steps(env, pool, instance, name, disk_only, stateful, id, &kept_old,
				  err);
		/* A failure that left the old volume in place changed nothing: the entry goes.
		 * Otherwise the restored tree is in place without its config, and the entry stays
		 * for recovery to finish the restore (the instance is not started half restored).
		 */
		if (r < 0 && kept_old)
			db_pending_delete_ignoring(env->db, id);
		else if (r < 0)
			r = err_wrap(err, r,
				     "The restore of instance \"%s\" is left to be finished later",
				     instance);
	}
	if (r >= 0 && stateful)
		return resume_restored(env, instance, name, err);
	if (was_running && kept_old) {
		_cleanup_err_ struct err *e = NULL;
		int s = instance_start(env, instance, r < 0 ? &e : err);

		if (r >= 0 && s < 0)
			return err_wrap(err, s, "Restored instance \"%s\" but failed to start it",
					instance);
	}
	return r;
}

static int fill_size(struct storage_pool *pool, const char *instance, struct snapshot_info *info)
{
	uint64_t bytes = 0;

	info->size = -1;
	if (storage_snapshot_usage(pool, instance, info->row.name, &bytes, NULL) >= 0)
		info->size = (int64_t)bytes;
	return 0;
}

int snapshot_list(const struct instance_env *env, const char *instance, bool with_size,
		  struct snapshot_info **ret, size_t *ret_n, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	struct storage_pool *pool = NULL;
	struct db_snapshot *snaps = NULL;
	struct snapshot_info *v;
	size_t n = 0, k = 0;
	int r;

	r = load_instance(env, instance, &row, &pool, err);
	if (r < 0)
		return r;
	r = db_snapshot_list(env->db, instance, &snaps, &n, err);
	if (r < 0)
		return r;
	v = calloc(n + 1, sizeof(*v));
	if (!v) {
		db_snapshots_free(snaps, n);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		if (snaps[i].state != DB_ROW_READY) {
			db_snapshot_done(&snaps[i]);
			continue;
		}
		v[k].row = snaps[i];
		v[k].size = -1;
		if (with_size)
			fill_size(pool, instance, &v[k]);
		k++;
	}
	/* The rows moved into v; only the array is left to free. */
	free(snaps);
	*ret = v;
	*ret_n = k;
	return 0;
}

int snapshot_get(const struct instance_env *env, const char *instance, const char *name,
		 struct snapshot_info *ret, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	struct storage_pool *pool = NULL;
	int r;

	r = load_instance(env, instance, &row, &pool, err);
	if (r < 0)
		return r;
	r = load_snapshot(env, instance, name, &ret->row, err);
	if (r < 0)
		return r;
	return fill_size(pool, instance, ret);
}

int snapshot_set_expiry(const struct instance_env *env, const char *instance, const char *name,
			int64_t expires_at, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_db_snapshot_ struct db_snapshot snap = {0};
	struct storage_pool *pool = NULL;
	int r;

	r = load_instance(env, instance, &row, &pool, err);
	if (r < 0)
		return r;
	r = load_snapshot(env, instance, name, &snap, err);
	if (r < 0)
		return r;
	if (expires_at < 0)
		return err_set(err, -EINVAL, "Invalid expiry time %lld", (long long)expires_at);
	return db_snapshot_set_expiry(env->db, instance, name, expires_at, err);
}

/* ---- the journal's leftovers, and recovery ---- */

/*
 * Rolls journal entry `p` forward; the entry goes with its last step (see rename_steps() and
 * restore_steps()). An entry that can never be finished, because its instance or its snapshot
 * is gone, is dropped. A restore is finished only on a stopped instance: swapping the volume
 * of a running container would pull its files away under it. On failure the entry stays.
 */
static int finish_entry(const struct instance_env *env, const struct db_pending *p,
			struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_db_snapshot_ struct db_snapshot snap = {0};
	_cleanup_err_ struct err *e = NULL;
	struct storage_pool *pool = NULL;
	bool kept_old;
	int r;

	if (instance_journal_kind(p->kind))
		return instance_journal_finish(env, p, err);
	if (strcmp(p->kind, PENDING_RENAME) != 0 && strcmp(p->kind, PENDING_RESTORE) != 0) {
		log_warn("Unknown journal entry \"%s\" for instance \"%s\", dropping it", p->kind,
			 p->instance);
		return db_pending_delete(env->db, p->id, err);
	}
	r = instance_get(env, p->instance, &row, &e);
	if (r == -ENOENT) {
		log_info("Dropping the unfinished %s of instance \"%s\": the instance is gone",
			 p->kind, p->instance);
		return db_pending_delete(env->db, p->id, err);
	}
	if (r < 0)
		return err_set(err, r, "%s", err_msg(e, r));
	pool = instance_env_pool(env, row.pool);
	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row.pool);
	if (strcmp(p->kind, PENDING_RENAME) == 0) {
		log_info("Finishing the rename of snapshot \"%s\" of instance \"%s\" to \"%s\"",
			 p->a, p->instance, p->b);
		return rename_steps(env, pool, p->instance, p->a, p->b, p->id, err);
	}
	r = db_snapshot_get(env->db, p->instance, p->a, &snap, NULL);
	if (r == -ENOENT || (r >= 0 && snap.state != DB_ROW_READY)) {
		log_info("Dropping the unfinished restore of instance \"%s\": snapshot \"%s\" is "
			 "gone",
			 p->instance, p->a);
		return db_pending_delete(env->db, p->id, err);
	}
	if (is_running(env, p->instance))
		return err_set(err, -EBUSY,
			       "Instance \"%s\" is running: stop it to finish its restore from "
			       "snapshot \"%s\"",
			       p->instance, p->a);
	log_info("Finishing the restore of instance \"%s\" from snapshot \"%s\"", p->instance,
		 p->a);
	/* The processes of a stateful restore are not resumed here: the instance boots afresh
	 * (autostart) if it was running. */
	return restore_steps(env, pool, p->instance, p->a, p->flags, false, p->id, &kept_old, err);
}

/*
 * Before a snapshot operation on `instance` (claimed by the caller): finishes what an earlier
 * operation on it left in the journal, so that no operation runs on a half renamed or half
 * restored instance, or takes a name or a subvolume that an entry still owns. The error of the
 * entry that cannot be finished otherwise.
 */
static int finish_pending(const struct instance_env *env, const char *instance, struct err **err)
{
	struct db_pending *v = NULL;
	size_t n = 0;
	int r;

	r = db_pending_list(env->db, &v, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		if (strcmp(v[i].instance, instance) != 0)
			continue;
		r = finish_entry(env, &v[i], err);
		if (r < 0 && strcmp(v[i].kind, PENDING_RENAME) == 0)
			r = err_wrap(err, r,
				     "Cannot finish the earlier rename of snapshot \"%s\" of "
				     "instance \"%s\" to \"%s\"",
				     v[i].a, instance, v[i].b);
		else if (r < 0 && strcmp(v[i].kind, PENDING_RESTORE) == 0)
			r = err_wrap(err, r,
				     "Cannot finish the earlier restore of instance \"%s\" from "
				     "snapshot \"%s\"",
				     instance, v[i].a);
	}
	db_pendings_free(v, n);
	return r < 0 ? r : 0;
}

/* Snapshot rows that are not READY go with their subvolume; subvolumes without a READY row go. */
static int recover_instance(const struct instance_env *env, const struct db_instance *inst,
			    struct err **err)
{
	struct storage_pool *pool = instance_env_pool(env, inst->pool);
	_cleanup_strv_ char **ready = NULL, **disk = NULL;
	struct db_snapshot *snaps = NULL;
	size_t n = 0;
	int r, first = 0;

	if (!pool)
		return 0;
	r = db_snapshot_list(env->db, inst->name, &snaps, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct err *e = NULL;

		if (snaps[i].state == DB_ROW_READY) {
			if (strv_push(&ready, snaps[i].name) < 0)
				first = first ?: -ENOMEM;
			continue;
		}
		log_info("Removing snapshot \"%s\" of instance \"%s\" left half %s", snaps[i].name,
			 inst->name, snaps[i].state == DB_ROW_CREATING ? "created" : "deleted");
		r = remove_snapshot(env, pool, inst->name, snaps[i].name, &e);
		if (r < 0) {
			log_error("Failed to remove snapshot \"%s\" of instance \"%s\": %s",
				  snaps[i].name, inst->name, err_msg(e, r));
			first = first ?: r;
		}
	}
	db_snapshots_free(snaps, n);

	r = instance_disk_snapshots(pool, inst->name, &disk, err);
	if (r < 0)
		return r;
	for (size_t i = 0; disk[i]; i++) {
		_cleanup_err_ struct err *e = NULL;

		if (strv_contains(ready, disk[i]))
			continue;
		log_info("Removing snapshot \"%s\" of instance \"%s\" that has no record", disk[i],
			 inst->name);
		r = storage_snapshot_delete(pool, inst->name, disk[i], &e);
		if (r < 0 && r != -ENOENT) {
			log_error("Failed to remove \"%s/%s\": %s", inst->name, disk[i],
				  err_msg(e, r));
			first = first ?: r;
		}
	}
	if (first < 0)
		return err_set(err, first, "Recovery of the snapshots of \"%s\" failed",
			       inst->name);
	return 0;
}

/* containers-snapshots/<name>/ of instances that no longer exist on that pool, except those
 * named by an unfinished journal entry (`held`). */
static void recover_orphans(const struct instance_env *env, const struct db_instance *rows,
			    size_t n, char *const *held)
{
	for (size_t p = 0; p < env->n_pools; p++) {
		struct storage_pool *pool = &env->pools[p];
		_cleanup_free_ char *dir = storage_snapshot_path(pool, "", "");
		_cleanup_closedir_ DIR *d = NULL;
		_cleanup_strv_ char **names = NULL;
		struct dirent *de;

		if (!dir || !(d = opendir(dir)))
			continue;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				strv_push(&names, de->d_name);
		for (size_t v = 0; names && names[v]; v++) {
			_cleanup_err_ struct err *e = NULL;
			bool owned = false;

			for (size_t i = 0; i < n; i++)
				if (rows[i].state == DB_ROW_READY &&
				    strcmp(rows[i].name, names[v]) == 0 &&
				    strcmp(rows[i].pool, pool->name) == 0)
					owned = true;
			if (owned || strv_contains(held, names[v]))
				continue;
			log_info(
			    "Removing the snapshots of \"%s\" in pool \"%s\": no such instance",
			    names[v], pool->name);
			if (instance_remove_disk_snapshots(pool, names[v], &e) < 0)
				log_error("Failed to remove the snapshots of \"%s\": %s", names[v],
					  err_msg(e, -EIO));
		}
	}
}

int snapshot_recover(const struct instance_env *env, struct err **err)
{
	_cleanup_strv_ char **held = NULL;
	struct db_pending *pending = NULL;
	struct db_instance *rows = NULL;
	size_t n_pending = 0, n = 0;
	int r, first = 0;

	/* The journal first: an entry goes only with its last step. One that cannot be finished
	 * now stays, and so does everything of its instance: its subvolumes and rows are not what
	 * they will be once the entry is finished (a renamed subvolume still has its old row), so
	 * the sweeps below would take them for leftovers. */
	r = db_pending_list(env->db, &pending, &n_pending, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_pending; i++) {
		_cleanup_err_ struct err *e = NULL;

		r = finish_entry(env, &pending[i], &e);
		if (r >= 0)
			continue;
		log_error(
		    "Failed to finish the %s of instance \"%s\", keeping its snapshots as they "
		    "are until it is: %s",
		    pending[i].kind, pending[i].instance, err_msg(e, r));
		if (!strv_contains(held, pending[i].instance) &&
		    strv_push(&held, pending[i].instance) < 0) {
			db_pendings_free(pending, n_pending);
			return err_set(err, -ENOMEM, "Out of memory");
		}
	}
	db_pendings_free(pending, n_pending);

	r = db_instance_list(env->db, &rows, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct err *e = NULL;

		if (rows[i].state != DB_ROW_READY || strv_contains(held, rows[i].name))
			continue;
		r = recover_instance(env, &rows[i], &e);
		if (r < 0) {
			log_error("%s", err_msg(e, r));
			first = first ?: r;
		}
	}
	recover_orphans(env, rows, n, held);
	db_instances_free(rows, n);
	if (first < 0)
		return err_set(err, first, "Recovery of some snapshots failed");
	return 0;
}
