/*
 * Renaming an instance and moving it to another pool on the same host: multi-step operations
 * that keep a journal entry (config/db.h, struct db_pending) from before their first step, so that
 * a daemon killed at any instant leaves the instance whole under one name, on one pool.
 */
#include "instance/instance.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/crashpoint.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "config/db.h"
#include "config/names.h"
#include "network/network.h"
#include "storage/storage.h"

#define PENDING_INSTANCE_RENAME "instance-rename"
#define PENDING_INSTANCE_MOVE "instance-move"

bool instance_journal_kind(const char *kind)
{
	return strcmp(kind, PENDING_INSTANCE_RENAME) == 0 ||
	       strcmp(kind, PENDING_INSTANCE_MOVE) == 0;
}

/* Journal entries name their instance: one left by an earlier snapshot rename or restore would
 * be dropped as "instance gone" after a rename, and a move would copy a half renamed snapshot. */
static int no_pending(const struct instance_env *env, const char *name, struct err **err)
{
	struct db_pending *v = NULL;
	size_t n = 0;
	bool found = false;
	int r;

	r = db_pending_list(env->db, &v, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		found = found || strcmp(v[i].instance, name) == 0;
	db_pendings_free(v, n);
	if (found)
		return err_set(err, -EBUSY,
			       "Instance \"%s\" has an unfinished operation (it is finished by its "
			       "next snapshot operation or the next start of cairnd)",
			       name);
	return 0;
}

/* What renaming or moving `row` needs in common: stopped, and no checkpoint, whose CRIU images
 * name the paths of the old volume. */
static int stopped_allowed(const struct instance_env *env, const struct db_instance *row,
			   const char *running_message, struct err **err)
{
	struct instance_state st = {0};
	int r;

	r = instance_state(env, row->name, false, &st, err);
	if (r < 0)
		return r;
	/* 400, as Incus answers it. */
	if (st.status != INSTANCE_STOPPED)
		return err_set(err, -EINVAL, "%s", running_message);
	if (instance_has_checkpoint(env, row))
		return err_set(err, -EBUSY,
			       "Instance \"%s\" holds a checkpoint of its running state (stop "
			       "--stateful): start it, or discard it with start --stateless, first",
			       row->name);
	return no_pending(env, row->name, err);
}

int instance_rename_allowed(const struct instance_env *env, const struct db_instance *row,
			    const char *new_name, struct err **err)
{
	_cleanup_db_instance_ struct db_instance other = {0};
	int r;

	r = config_instance_name_valid(new_name, err);
	if (r < 0)
		return r;
	/* A row in any state holds its name: a half-made instance is still being made. */
	if (strcmp(row->name, new_name) == 0 ||
	    db_instance_get(env->db, new_name, &other, NULL) >= 0)
		return err_set(err, -EEXIST, "Instance \"%s\" already exists", new_name);
	return stopped_allowed(env, row, "Renaming of running instance not allowed", err);
}

int instance_move_allowed(const struct instance_env *env, const struct db_instance *row,
			  const char *pool, struct err **err)
{
	if (!instance_env_pool(env, pool))
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", pool);
	if (strcmp(row->pool, pool) == 0)
		return err_set(err, -EINVAL, "Instance \"%s\" is already on storage pool \"%s\"",
			       row->name, pool);
	return stopped_allowed(env, row, "Moving of running instance not allowed", err);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Points containers/<name> at `vol`, replacing what is there in one rename. */
static int relink(const struct instance_env *env, const char *name, const char *vol,
		  struct err **err)
{
	_cleanup_free_ char *link = str_printf("%s/containers/%s", env->cairn_dir, name);
	_cleanup_free_ char *tmp = str_printf("%s/containers/.link-%s", env->cairn_dir, name);

	if (!link || !tmp)
		return err_set(err, -ENOMEM, "Out of memory");
	unlink(tmp);
	if (symlink(vol, tmp) < 0)
		return err_set_errno(err, -errno, "Failed to link \"%s\"", link);
	if (rename(tmp, link) < 0) {
		int e = -errno;

		unlink(tmp);
		return err_set_errno(err, e, "Failed to link \"%s\"", link);
	}
	return 0;
}

/*
 * The steps of a rename after its journal entry `id`, each done only when it is not done yet, so
 * that recovery runs them again from wherever a crash stopped them: the volume and its snapshot
 * directory, the log directory, the link, backup.yaml in the volume, and last the row with the
 * removal of the entry (one transaction). The row keeps the old name until then, so the entry is
 * gone exactly when the rename is done.
 */
static int rename_steps(const struct instance_env *env, const char *old_name, const char *new_name,
			int64_t id, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_free_ char *vol_old = NULL, *vol_new = NULL, *snaps_old = NULL, *snaps_new = NULL,
			    *logs_old = NULL, *logs_new = NULL, *link_old = NULL, *backup = NULL,
			    *backup_path = NULL;
	struct storage_pool *pool;
	int r;

	r = db_instance_get(env->db, old_name, &row, err);
	if (r < 0)
		return r;
	pool = instance_env_pool(env, row.pool);
	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row.pool);
	vol_old = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, old_name);
	vol_new = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, new_name);
	snaps_old = storage_snapshot_path(pool, old_name, "");
	snaps_new = storage_snapshot_path(pool, new_name, "");
	logs_old = instance_log_dir(env, old_name);
	logs_new = instance_log_dir(env, new_name);
	link_old = str_printf("%s/containers/%s", env->cairn_dir, old_name);
	if (!vol_old || !vol_new || !snaps_old || !snaps_new || !logs_old || !logs_new || !link_old)
		return err_set(err, -ENOMEM, "Out of memory");

	if (exists(vol_old)) {
		r = storage_volume_rename(pool, STORAGE_VOLUME_CONTAINER, old_name, new_name, err);
		if (r < 0)
			return r;
	} else if (!exists(vol_new)) {
		return err_set(err, -ENOENT, "The volume of instance \"%s\" is missing", old_name);
	}
	/* storage_volume_rename() moves the snapshots second: a crash between leaves them. */
	if (exists(snaps_old) &&
	    renameat2(AT_FDCWD, snaps_old, AT_FDCWD, snaps_new, RENAME_NOREPLACE) < 0)
		return err_set_errno(err, -errno, "Failed to move the snapshots of \"%s\"",
				     old_name);
	crashpoint("rename-after-volume");

	if (exists(logs_old)) {
		/* A log directory of the new name belongs to no instance (the name was free). */
		if (exists(logs_new) && (r = rm_rf(logs_new, err)) < 0)
			return r;
		if (rename(logs_old, logs_new) < 0)
			return err_set_errno(err, -errno, "Failed to move \"%s\"", logs_old);
	}
	/* The LXC config names the old paths; every start renders it again. */
	backup_path = str_printf("%s/lxc.conf", logs_new);
	if (backup_path)
		unlink(backup_path);
	if (unlink(link_old) < 0 && errno != ENOENT)
		return err_set_errno(err, -errno, "Failed to remove \"%s\"", link_old);
	r = relink(env, new_name, vol_new, err);
	if (r < 0)
		return r;

	free(row.name);
	row.name = strdup(new_name);
	if (!row.name)
		return err_set(err, -ENOMEM, "Out of memory");
	r = instance_backup_render(&row, &backup, err);
	if (r < 0)
		return r;
	free(backup_path);
	backup_path = str_printf("%s/" INSTANCE_BACKUP_FILE, vol_new);
	if (!backup_path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = file_write_atomic(backup_path, backup, strlen(backup), 0600, err);
	if (r < 0)
		return r;
	crashpoint("rename-before-commit");
	return db_pending_finish_instance_rename(env->db, id, old_name, new_name, err);
}

int instance_rename(const struct instance_env *env, const char *name, const char *new_name,
		    struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_free_ char *vol_new = NULL;
	struct db_pending p = {0};
	struct storage_pool *pool;
	int64_t id = 0;
	int r;

	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	r = instance_rename_allowed(env, &row, new_name, err);
	if (r < 0)
		return r;
	pool = instance_env_pool(env, row.pool);
	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row.pool);
	p.kind = (char *)PENDING_INSTANCE_RENAME;
	p.instance = (char *)name;
	p.a = (char *)name;
	p.b = (char *)new_name;
	r = db_pending_add(env->db, &p, &id, err);
	if (r < 0)
		return r;
	crashpoint("rename-after-journal");
	r = rename_steps(env, name, new_name, id, err);
	if (r < 0) {
		_cleanup_err_ struct err *again = NULL;

		/* Nothing moved yet (the volume rename undoes itself): the entry goes. */
		vol_new = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, new_name);
		if (vol_new && !exists(vol_new)) {
			db_pending_delete_ignoring(env->db, id);
			return r;
		}
		/* Past that, an answered error must not leave the instance half renamed: the
		 * steps are redone once at once (each skips what is done), and only if that fails
		 * too is the rename left to the next start, which rolls it forward. */
		if (rename_steps(env, name, new_name, id, &again) < 0)
			return err_wrap(err, r,
					"The rename of instance \"%s\" to \"%s\" is left to be "
					"finished by the next start of cairnd",
					name, new_name);
		log_warn("The rename of instance \"%s\" to \"%s\" went through on a second try "
			 "after: %s",
			 name, new_name, err_msg(err ? *err : NULL, r));
		if (err)
			err_freep(err);
	}
	/* The next start records the new name in the networks' hosts files. */
	if (env->networks)
		network_host_forget(env->networks, name);
	instance_notify(env, "instance-renamed", "instances", new_name);
	return 0;
}

/* Removes what a move put on `pool` for instance `name` (the volume and its snapshots there);
 * missing pieces are fine. */
static int remove_copy(struct storage_pool *pool, const char *name, struct err **err)
{
	int r;

	r = instance_remove_disk_snapshots(pool, name, err);
	if (r < 0)
		return r;
	r = storage_volume_delete(pool, STORAGE_VOLUME_CONTAINER, name, NULL);
	if (r < 0 && r != -ENOENT)
		return storage_volume_delete(pool, STORAGE_VOLUME_CONTAINER, name, err);
	return 0;
}

/* The copy of a move: every READY snapshot, oldest first (each made the volume for a moment,
 * snapshotted read-only under its own name, the volume dropped again), then the volume. The
 * snapshot rows stay as they are (times, expiry, scheduled or not): they hang on the instance. */
static int copy_to(const struct instance_env *env, const struct db_instance *row,
		   struct storage_pool *from, struct storage_pool *to, struct err **err)
{
	struct db_snapshot *snaps = NULL;
	_cleanup_free_ char *src = NULL;
	size_t n = 0;
	int r;

	r = db_snapshot_list(env->db, row->name, &snaps, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		_cleanup_free_ char *snap = NULL;

		if (snaps[i].state != DB_ROW_READY)
			continue;
		snap = storage_snapshot_path(from, row->name, snaps[i].name);
		if (!snap) {
			r = err_set(err, -ENOMEM, "Out of memory");
			break;
		}
		r = storage_volume_import(to, STORAGE_VOLUME_CONTAINER, row->name, snap, err);
		if (r >= 0)
			r = storage_snapshot_create(to, row->name, snaps[i].name, err);
		if (r >= 0)
			r = storage_volume_delete(to, STORAGE_VOLUME_CONTAINER, row->name, err);
	}
	db_snapshots_free(snaps, n);
	if (r < 0)
		return r;
	crashpoint("move-after-snapshots");
	src = storage_volume_path(from, STORAGE_VOLUME_CONTAINER, row->name);
	if (!src)
		return err_set(err, -ENOMEM, "Out of memory");
	return storage_volume_import(to, STORAGE_VOLUME_CONTAINER, row->name, src, err);
}

/* After the switch of a move: the link to the new volume, the old copy removed, the entry gone.
 * Each step may run again. */
static int move_finish(const struct instance_env *env, const struct db_instance *row,
		       struct storage_pool *from, int64_t id, struct err **err)
{
	struct storage_pool *to = instance_env_pool(env, row->pool);
	_cleanup_free_ char *vol = NULL;
	int r;

	if (!to)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row->pool);
	vol = storage_volume_path(to, STORAGE_VOLUME_CONTAINER, row->name);
	if (!vol)
		return err_set(err, -ENOMEM, "Out of memory");
	r = relink(env, row->name, vol, err);
	if (r < 0)
		return r;
	if (from) {
		r = remove_copy(from, row->name, err);
		if (r < 0)
			return err_wrap(err, r,
					"Failed to remove the old copy of instance \"%s\" from "
					"storage pool \"%s\"",
					row->name, from->name);
	}
	return db_pending_delete(env->db, id, err);
}

/* The own devices of `row` once it lives on `pool`: a root disk of its own naming the pool (the
 * expanded one with the pool changed), as Incus records a move between pools. */
static int moved_devices(const struct db_instance *row, const char *pool, struct devices *ret,
			 struct err **err)
{
	_cleanup_kvlist_ struct kvlist root = {0};
	const char *root_name = "root";
	const struct kvlist *have = devices_root_disk(&row->expanded_devices, &root_name);
	int r;

	r = devices_copy(ret, &row->devices);
	if (r >= 0 && have) {
		r = kvlist_copy(&root, have);
	} else if (r >= 0) {
		r = kvlist_set(&root, "type", "disk");
		if (r >= 0)
			r = kvlist_set(&root, "path", "/");
	}
	if (r >= 0)
		r = kvlist_set(&root, "pool", pool);
	if (r >= 0)
		r = devices_set(ret, root_name, &root);
	return r < 0 ? err_set(err, -ENOMEM, "Out of memory") : 0;
}

int instance_move_pool(const struct instance_env *env, const char *name, const char *pool_name,
		       struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_devices_ struct devices devices = {0};
	struct storage_pool *from, *to;
	struct db_pending p = {0};
	int64_t id = 0;
	int r;

	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	r = instance_move_allowed(env, &row, pool_name, err);
	if (r < 0)
		return r;
	from = instance_env_pool(env, row.pool);
	to = instance_env_pool(env, pool_name);
	if (!from)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row.pool);
	p.kind = (char *)PENDING_INSTANCE_MOVE;
	p.instance = (char *)name;
	p.a = row.pool;
	p.b = (char *)pool_name;
	r = db_pending_add(env->db, &p, &id, err);
	if (r < 0)
		return r;
	crashpoint("move-after-journal");
	/* Until the switch the source is the truth: a failure removes the copy and the entry. */
	r = remove_copy(to, name, err);
	if (r >= 0)
		r = copy_to(env, &row, from, to, err);
	crashpoint("move-after-copy");
	if (r >= 0) {
		free(row.pool);
		row.pool = strdup(pool_name);
		r = row.pool ? instance_volume_protect(env, &row, err)
			     : err_set(err, -ENOMEM, "Out of memory");
	}
	if (r >= 0)
		r = moved_devices(&row, pool_name, &devices, err);
	if (r >= 0)
		r = db_instance_set_pool(env->db, name, pool_name, &devices, err);
	if (r < 0) {
		_cleanup_err_ struct err *e = NULL;
		int q = remove_copy(to, name, &e);

		/* A copy that stays keeps its entry, so that the next start removes it. */
		if (q < 0)
			err_log_ignored(e, q, "Failed to remove the copy of \"%s\" on pool \"%s\"",
					name, pool_name);
		else
			db_pending_delete_ignoring(env->db, id);
		return r;
	}
	crashpoint("move-after-switch");
	r = move_finish(env, &row, from, id, err);
	if (r < 0)
		return err_wrap(err, r,
				"Instance \"%s\" is on storage pool \"%s\" now, but the move is "
				"left to be finished later",
				name, pool_name);
	instance_notify(env, "instance-updated", "instances", name);
	return 0;
}

int instance_journal_finish(const struct instance_env *env, const struct db_pending *p,
			    struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_err_ struct err *e = NULL;
	int r;

	r = db_instance_get(env->db, p->instance, &row, &e);
	/* The row step of a rename and the removal of its entry are one transaction, so an
	 * entry without its row is one whose instance is gone. */
	if (r == -ENOENT) {
		log_info("Dropping the unfinished %s of instance \"%s\": the instance is gone",
			 p->kind, p->instance);
		return db_pending_delete(env->db, p->id, err);
	}
	if (r < 0)
		return err_set(err, r, "%s", err_msg(e, r));

	if (strcmp(p->kind, PENDING_INSTANCE_RENAME) == 0) {
		log_info("Finishing the rename of instance \"%s\" to \"%s\"", p->a, p->b);
		return rename_steps(env, p->a, p->b, p->id, err);
	}
	if (strcmp(row.pool, p->b) == 0) {
		log_info("Finishing the move of instance \"%s\" to storage pool \"%s\"",
			 p->instance, p->b);
		return move_finish(env, &row, instance_env_pool(env, p->a), p->id, err);
	}
	log_info("Undoing the unfinished move of instance \"%s\" to storage pool \"%s\"",
		 p->instance, p->b);
	if (instance_env_pool(env, p->b)) {
		r = remove_copy(instance_env_pool(env, p->b), p->instance, err);
		if (r < 0)
			return r;
	}
	return db_pending_delete(env->db, p->id, err);
}

int instance_journal_recover(const struct instance_env *env, struct err **err)
{
	struct db_pending *v = NULL;
	size_t n = 0;
	int r;

	r = db_pending_list(env->db, &v, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct err *e = NULL;

		if (!instance_journal_kind(v[i].kind))
			continue;
		r = instance_journal_finish(env, &v[i], &e);
		if (r < 0)
			log_error("Failed to finish the %s of instance \"%s\", keeping it as it is "
				  "until it is: %s",
				  v[i].kind, v[i].instance, err_msg(e, r));
	}
	db_pendings_free(v, n);
	return 0;
}

int instance_journal_held(const struct instance_env *env, char ***ret_names, struct err **err)
{
	_cleanup_strv_ char **names = NULL;
	struct db_pending *v = NULL;
	size_t n = 0;
	int r;

	r = db_pending_list(env->db, &v, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		if (strv_push(&names, v[i].instance) < 0 ||
		    (strcmp(v[i].kind, PENDING_INSTANCE_RENAME) == 0 &&
		     strv_push(&names, v[i].b) < 0))
			r = err_set(err, -ENOMEM, "Out of memory");
	}
	db_pendings_free(v, n);
	if (r < 0)
		return r;
	if (!names && !(names = calloc(1, sizeof(char *))))
		return err_set(err, -ENOMEM, "Out of memory");
	*ret_names = steal_pointer(&names);
	return 0;
}
