#include "config/db.h"

#include <errno.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "config/db-internal.h"

/* The `pending` table: the journal of multi-step operations (see struct db_pending). */

void db_pending_done(struct db_pending *p)
{
	if (!p)
		return;
	free(p->kind);
	free(p->instance);
	free(p->a);
	free(p->b);
	*p = (struct db_pending){0};
}

void db_pendings_free(struct db_pending *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_pending_done(&v[i]);
	free(v);
}

static void pending_done_cb(void *p)
{
	db_pending_done(p);
}

int db_pending_add(struct db *db, const struct db_pending *p, int64_t *ret_id, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r;

	r = dbq_change_rows(
	    db, "INSERT INTO pending (kind, instance, a, b, flags) VALUES (?, ?, ?, ?, ?)", err,
	    "ttttb", p->kind, p->instance, p->a ? p->a : "", p->b ? p->b : "", (int)p->flags);
	if (r < 0)
		return err_wrap(err, r, "Cannot record the %s of instance \"%s\"", p->kind,
				p->instance);
	if (ret_id)
		*ret_id = sqlite3_last_insert_rowid(db->conn);
	return 0;
}

int db_pending_list(struct db *db, struct db_pending **ret, size_t *ret_n, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_(dbq_rows_done) struct dbq_rows rows = {.size = sizeof(struct db_pending),
							 .done = pending_done_cb};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = dbq_prepare(db, "SELECT id, kind, instance, a, b, flags FROM pending ORDER BY id", &st,
			err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_pending *p = dbq_rows_add(&rows);

		if (!p)
			return dbq_oom(err);
		p->id = sqlite3_column_int64(st, 0);
		if (dbq_col_str(st, 1, &p->kind) < 0 || dbq_col_str(st, 2, &p->instance) < 0 ||
		    dbq_col_str(st, 3, &p->a) < 0 || dbq_col_str(st, 4, &p->b) < 0)
			return dbq_oom(err);
		p->flags = sqlite3_column_int(st, 5) != 0;
	}
	if (rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot read the journal");
	*ret = rows.v;
	*ret_n = rows.n;
	rows.v = NULL;
	rows.n = 0;
	return 0;
}

int db_pending_delete(struct db *db, int64_t id, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r = dbq_change_rows(db, "DELETE FROM pending WHERE id = ?", err, "i", id);

	return r == -ENOENT ? 0 : r;
}

void db_pending_delete_ignoring(struct db *db, int64_t id)
{
	_cleanup_err_ struct err *e = NULL;
	int r = db_pending_delete(db, id, &e);

	if (r < 0)
		err_log_ignored(e, r, "Failed to remove journal entry %lld", (long long)id);
}

int db_pending_finish_rename(struct db *db, int64_t id, const char *instance, const char *name,
			     const char *new_name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	int64_t iid;
	int r;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = dbq_instance_id(db, instance, &iid, err);
	if (r < 0)
		return r;
	/* -ENOENT: no row `name` any more, the row step was done before. */
	r = dbq_change_rows(db, "UPDATE snapshots SET name = ? WHERE instance_id = ? AND name = ?",
			    err, "tit", new_name, iid, name);
	if (r == -EEXIST)
		return err_set(err, r, "Snapshot \"%s\" of instance \"%s\" already exists",
			       new_name, instance);
	if (r < 0 && r != -ENOENT)
		return err_wrap(err, r, "Cannot rename snapshot \"%s\" of instance \"%s\"", name,
				instance);
	r = dbq_change_rows(db, "DELETE FROM pending WHERE id = ?", err, "i", id);
	if (r < 0 && r != -ENOENT)
		return err_wrap(err, r, "Cannot finish the rename of snapshot \"%s\"", name);
	return dbq_txn_commit(&t, err);
}

int db_pending_finish_restore(struct db *db, int64_t id, const char *instance,
			      const struct kvlist *config, struct err **err)
{
	return db_pending_finish_restore_settings(db, id, instance, config, NULL, NULL, err);
}

int db_pending_finish_restore_settings(struct db *db, int64_t id, const char *instance,
				       const struct kvlist *config, const struct devices *devices,
				       char *const *profiles, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	int64_t iid;
	int r;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = dbq_instance_id(db, instance, &iid, err);
	if (r < 0)
		return r;
	if (config) {
		r = dbq_instance_config_write(db, iid, config, err);
		if (r < 0)
			return err_wrap(err, r, "Cannot update the config of instance \"%s\"",
					instance);
	}
	r = dbq_instance_settings_write(db, iid, devices, profiles, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot update the devices of instance \"%s\"", instance);
	r = dbq_change_rows(db, "DELETE FROM pending WHERE id = ?", err, "i", id);
	if (r < 0 && r != -ENOENT)
		return err_wrap(err, r, "Cannot finish the restore of instance \"%s\"", instance);
	return dbq_txn_commit(&t, err);
}

int db_pending_finish_instance_rename(struct db *db, int64_t id, const char *name,
				      const char *new_name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	int r;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	/* -ENOENT: no row `name` any more, the row step was done before. */
	r = dbq_change_rows(db, "UPDATE instances SET name = ? WHERE name = ?", err, "tt", new_name,
			    name);
	if (r == -EEXIST)
		return err_set(err, r, "Instance \"%s\" already exists", new_name);
	if (r < 0 && r != -ENOENT)
		return err_wrap(err, r, "Cannot rename instance \"%s\"", name);
	r = dbq_change_rows(db, "DELETE FROM pending WHERE id = ?", err, "i", id);
	if (r < 0 && r != -ENOENT)
		return err_wrap(err, r, "Cannot finish the rename of instance \"%s\"", name);
	return dbq_txn_commit(&t, err);
}
