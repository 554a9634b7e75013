#include "config/db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db-internal.h"

/* The `instances` and `instance_config` tables. */

void db_instance_done(struct db_instance *i)
{
	if (!i)
		return;
	free(i->name);
	free(i->pool);
	free(i->image);
	free(i->architecture);
	free(i->description);
	kvlist_done(&i->config);
	devices_done(&i->devices);
	strv_free(i->profiles);
	kvlist_done(&i->expanded_config);
	devices_done(&i->expanded_devices);
	*i = (struct db_instance){0};
}

void db_instances_free(struct db_instance *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_instance_done(&v[i]);
	free(v);
}

static void instance_done_cb(void *p)
{
	db_instance_done(p);
}

#define INSTANCE_COLUMNS                                                                           \
	"i.id, i.name, p.name, i.image, i.architecture, i.description, i.created_at,"              \
	" i.last_used_at, i.state"
#define INSTANCE_FROM " FROM instances i LEFT JOIN pools p ON p.id = i.pool_id"

static int read_instance(sqlite3_stmt *st, struct db_instance *inst)
{
	inst->id = sqlite3_column_int64(st, 0);
	if (dbq_col_str(st, 1, &inst->name) < 0 || dbq_col_str(st, 2, &inst->pool) < 0 ||
	    dbq_col_str(st, 3, &inst->image) < 0 || dbq_col_str(st, 4, &inst->architecture) < 0 ||
	    dbq_col_str(st, 5, &inst->description) < 0)
		return -ENOMEM;
	inst->created_at = sqlite3_column_int64(st, 6);
	inst->last_used_at = sqlite3_column_int64(st, 7);
	inst->state = dbq_col_state(st, 8);
	return 0;
}

int db_instance_insert(struct db *db, const struct db_instance *inst, int64_t *ret_id,
		       struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t pid = 0, id;
	int r, rc;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	if (inst->pool && (r = dbq_pool_id(db, inst->pool, &pid, err)) < 0)
		return r;
	r = dbq_prepare(db,
			"INSERT INTO instances (name, pool_id, image, architecture, description,"
			" created_at, last_used_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			&st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "tptttiii", inst->name, pid, inst->image,
		     inst->architecture ? inst->architecture : "",
		     inst->description ? inst->description : "", inst->created_at,
		     inst->last_used_at, (int64_t)inst->state);
	if (r < 0)
		return r;
	rc = dbq_step(st);
	if (dbq_errno(rc) == -EEXIST)
		return err_set(err, -EEXIST, "Instance \"%s\" already exists", inst->name);
	if (rc)
		return dbq_fail(db, rc, err, "Cannot add instance \"%s\"", inst->name);
	id = sqlite3_last_insert_rowid(db->conn);
	r = dbq_insert_kv(db,
			  "INSERT INTO instance_config (instance_id, key, value) VALUES (?, ?, ?)",
			  id, &inst->config, err);
	if (r >= 0)
		r = dbq_instance_settings_write(db, id, &inst->devices, inst->profiles, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot add instance \"%s\"", inst->name);
	r = dbq_txn_commit(&t, err);
	if (r < 0)
		return r;
	if (ret_id)
		*ret_id = id;
	return 0;
}

int db_instance_get(struct db *db, const char *name, struct db_instance *ret, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(db_instance_done) struct db_instance inst = {0};
	int r, rc;

	r = dbq_txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	r = dbq_prepare(db, "SELECT " INSTANCE_COLUMNS INSTANCE_FROM " WHERE i.name = ?", &st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "t", name);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(err, -ENOENT, "Instance \"%s\" not found", name);
	if (rc != SQLITE_ROW)
		return dbq_fail(db, rc, err, "Cannot read instance \"%s\"", name);
	if (read_instance(st, &inst) < 0)
		return dbq_oom(err);
	dbq_finalizep(&st);
	r = dbq_prepare(db,
			"SELECT instance_id, key, value FROM instance_config WHERE instance_id = ?"
			" ORDER BY key",
			&st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "i", inst.id);
	if (r < 0)
		return r;
	r = dbq_load_kv(db, st, &inst.id, 1, &inst.config, sizeof(inst), err);
	if (r < 0)
		return r;
	r = dbq_instances_load_settings(db, &inst, 1, err);
	if (r < 0)
		return r;
	r = dbq_txn_commit(&t, err);
	if (r < 0)
		return r;
	*ret = inst;
	inst = (struct db_instance){0};
	return 0;
}

static int cmp_instance(const void *a, const void *b)
{
	return strcmp(((const struct db_instance *)a)->name, ((const struct db_instance *)b)->name);
}

int db_instance_list(struct db *db, struct db_instance **ret, size_t *ret_n, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(dbq_rows_done) struct dbq_rows rows = {.size = sizeof(struct db_instance),
							 .done = instance_done_cb};
	_cleanup_free_ int64_t *ids = NULL;
	struct db_instance *v;
	int r, rc;

	r = dbq_txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	/* One query for the instances and one for all their config, merged by id: a query per
	 * instance would make `cairn list` slow with thousands of them. */
	r = dbq_prepare(db, "SELECT " INSTANCE_COLUMNS INSTANCE_FROM " ORDER BY i.id", &st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_instance *inst = dbq_rows_add(&rows);

		if (!inst || read_instance(st, inst) < 0)
			return dbq_oom(err);
	}
	if (rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot list instances");
	dbq_finalizep(&st);
	v = rows.v;
	if (rows.n) {
		ids = malloc(rows.n * sizeof(*ids));
		if (!ids)
			return dbq_oom(err);
		for (size_t i = 0; i < rows.n; i++)
			ids[i] = v[i].id;
		r = dbq_prepare(db,
				"SELECT instance_id, key, value FROM instance_config"
				" ORDER BY instance_id, key",
				&st, err);
		if (r < 0)
			return r;
		r = dbq_load_kv(db, st, ids, rows.n, &v[0].config, sizeof(*v), err);
		if (r < 0)
			return r;
		r = dbq_instances_load_settings(db, v, rows.n, err);
		if (r < 0)
			return r;
		qsort(v, rows.n, sizeof(*v), cmp_instance);
	}
	r = dbq_txn_commit(&t, err);
	if (r < 0)
		return r;
	*ret = steal_pointer(&rows.v);
	*ret_n = rows.n;
	rows.n = 0;
	return 0;
}

/* Names the instance in the result of dbq_change_rows(). */
static int instance_change(struct db *db, int r, const char *name, struct err **err)
{
	if (r == -ENOENT)
		return err_set(err, r, "Instance \"%s\" not found", name);
	return r < 0 ? err_wrap(err, r, "Cannot update instance \"%s\"", name) : 0;
}

int db_instance_set_state(struct db *db, const char *name, enum db_row_state state,
			  struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);

	return instance_change(db,
			       dbq_change_rows(db, "UPDATE instances SET state = ? WHERE name = ?",
					       err, "it", (int64_t)state, name),
			       name, err);
}

int db_instance_set_last_used(struct db *db, const char *name, int64_t when, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);

	return instance_change(
	    db,
	    dbq_change_rows(db, "UPDATE instances SET last_used_at = ? WHERE name = ?", err, "it",
			    when, name),
	    name, err);
}

int db_instance_config_set(struct db *db, const char *name, const char *key, const char *value,
			   int64_t last_used, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	int64_t id;
	int r;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = dbq_instance_id(db, name, &id, err);
	if (r < 0)
		return r;
	if (value)
		r = dbq_change_rows(
		    db,
		    "INSERT INTO instance_config (instance_id, key, value) VALUES (?, ?, ?)"
		    " ON CONFLICT (instance_id, key) DO UPDATE SET value = excluded.value",
		    err, "itt", id, key, value);
	else
		r = dbq_change_rows(db,
				    "DELETE FROM instance_config WHERE instance_id = ? AND key = ?",
				    err, "it", id, key);
	if (r < 0 && !(r == -ENOENT && !value))
		return err_wrap(err, r, "Cannot update the config of instance \"%s\"", name);
	if (last_used) {
		r = dbq_change_rows(db, "UPDATE instances SET last_used_at = ? WHERE id = ?", err,
				    "ii", last_used, id);
		if (r < 0)
			return instance_change(db, r, name, err);
	}
	return dbq_txn_commit(&t, err);
}

int db_instance_set_description(struct db *db, const char *name, const char *description,
				struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);

	return instance_change(
	    db,
	    dbq_change_rows(db, "UPDATE instances SET description = ? WHERE name = ?", err, "tt",
			    description ? description : "", name),
	    name, err);
}

int db_instance_set_pool(struct db *db, const char *name, const char *pool,
			 const struct devices *devices, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	int64_t pool_id, id;
	int r;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = dbq_pool_id(db, pool, &pool_id, err);
	if (r < 0)
		return r;
	r = dbq_instance_id(db, name, &id, err);
	if (r < 0)
		return r;
	r = instance_change(db,
			    dbq_change_rows(db, "UPDATE instances SET pool_id = ? WHERE id = ?",
					    err, "ii", pool_id, id),
			    name, err);
	if (r < 0)
		return r;
	r = dbq_instance_settings_write(db, id, devices, NULL, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot update the devices of instance \"%s\"", name);
	return dbq_txn_commit(&t, err);
}

int db_instance_config_replace(struct db *db, const char *name, const struct kvlist *config,
			       struct err **err)
{
	return db_instance_update(db, name, config, NULL, err);
}

int dbq_instance_config_write(struct db *db, int64_t id, const struct kvlist *config,
			      struct err **err)
{
	/* -ENOENT only says that the instance had no config yet. */
	int r =
	    dbq_change_rows(db, "DELETE FROM instance_config WHERE instance_id = ?", err, "i", id);

	if (r < 0 && r != -ENOENT)
		return r;
	return dbq_insert_kv(
	    db, "INSERT INTO instance_config (instance_id, key, value) VALUES (?, ?, ?)", id,
	    config, err);
}

int dbq_instance_settings_write(struct db *db, int64_t id, const struct devices *devices,
				char *const *profiles, struct err **err)
{
	int r;

	if (devices) {
		r = dbq_change_rows(db, "DELETE FROM instance_devices WHERE instance_id = ?", err,
				    "i", id);
		if (r < 0 && r != -ENOENT)
			return r;
		r = dbq_insert_devices(
		    db,
		    "INSERT INTO instance_devices (instance_id, device, key, value)"
		    " VALUES (?, ?, ?, ?)",
		    id, devices, err);
		if (r < 0)
			return r;
	}
	if (profiles) {
		r = dbq_change_rows(db, "DELETE FROM instance_profiles WHERE instance_id = ?", err,
				    "i", id);
		if (r < 0 && r != -ENOENT)
			return r;
		r = dbq_insert_profile_refs(
		    db,
		    "INSERT INTO instance_profiles (instance_id, profile_id,"
		    " apply_order) VALUES (?, ?, ?)",
		    id, profiles, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int db_instance_update(struct db *db, const char *name, const struct kvlist *config,
		       const char *description, struct err **err)
{
	return db_instance_update_settings(db, name, config, NULL, NULL, description, err);
}

int db_instance_update_settings(struct db *db, const char *name, const struct kvlist *config,
				const struct devices *devices, char *const *profiles,
				const char *description, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	int64_t id;
	int r;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = dbq_instance_id(db, name, &id, err);
	if (r < 0)
		return r;
	if (description) {
		r = dbq_change_rows(db, "UPDATE instances SET description = ? WHERE id = ?", err,
				    "ti", description, id);
		if (r < 0)
			return instance_change(db, r, name, err);
	}
	r = dbq_instance_config_write(db, id, config, err);
	if (r >= 0)
		r = dbq_instance_settings_write(db, id, devices, profiles, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot update the config of instance \"%s\"", name);
	return dbq_txn_commit(&t, err);
}

int db_instance_delete(struct db *db, const char *name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	int r;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	/* Config, snapshots, their config and the scheduler's state go with it (ON DELETE
	 * CASCADE). */
	r = instance_change(
	    db, dbq_change_rows(db, "DELETE FROM instances WHERE name = ?", err, "t", name), name,
	    err);
	if (r < 0)
		return r;
	/* So do its journal entries, which name it rather than refer to it: what they would
	 * finish is gone, and a later instance of that name must not inherit them. */
	r = dbq_change_rows(db, "DELETE FROM pending WHERE instance = ?", err, "t", name);
	if (r < 0 && r != -ENOENT)
		return err_wrap(err, r, "Cannot delete instance \"%s\"", name);
	return dbq_txn_commit(&t, err);
}

int db_instance_names_flagged(struct db *db, const char *key, char ***ret, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);

	return dbq_query_names(db,
			       "SELECT i.name FROM instances i"
			       " JOIN instance_config c ON c.instance_id = i.id"
			       " WHERE c.key = ? AND c.value = 'true' ORDER BY i.name",
			       key, ret, err);
}
