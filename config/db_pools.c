#include "config/db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "config/db-internal.h"

/* The `pools` table: storage pools and which instances use them. */

void db_pool_done(struct db_pool *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->driver);
	free(p->source);
	free(p->description);
	*p = (struct db_pool){0};
}

void db_pools_free(struct db_pool *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_pool_done(&v[i]);
	free(v);
}

static void pool_done_cb(void *p)
{
	db_pool_done(p);
}

#define POOL_COLUMNS "name, driver, source, size, description"

static int read_pool(sqlite3_stmt *st, struct db_pool *p)
{
	if (dbq_col_str(st, 0, &p->name) < 0 || dbq_col_str(st, 1, &p->driver) < 0 ||
	    dbq_col_str(st, 2, &p->source) < 0 || dbq_col_str(st, 4, &p->description) < 0)
		return -ENOMEM;
	p->size = (uint64_t)sqlite3_column_int64(st, 3);
	return 0;
}

int db_pool_insert(struct db *db, const struct db_pool *p, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = dbq_prepare(db, "INSERT INTO pools (" POOL_COLUMNS ") VALUES (?, ?, ?, ?, ?)", &st,
			err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "tttit", p->name, p->driver ? p->driver : "",
		     p->source ? p->source : "", (int64_t)p->size,
		     p->description ? p->description : "");
	if (r < 0)
		return r;
	rc = dbq_step(st);
	if (dbq_errno(rc) == -EEXIST)
		return err_set(err, -EEXIST, "Storage pool \"%s\" already exists", p->name);
	if (rc)
		return dbq_fail(db, rc, err, "Cannot add storage pool \"%s\"", p->name);
	return 0;
}

int db_pool_get(struct db *db, const char *name, struct db_pool *ret, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(db_pool_done) struct db_pool p = {0};
	int r, rc;

	r = dbq_prepare(db, "SELECT " POOL_COLUMNS " FROM pools WHERE name = ?", &st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "t", name);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", name);
	if (rc != SQLITE_ROW)
		return dbq_fail(db, rc, err, "Cannot read storage pool \"%s\"", name);
	if (read_pool(st, &p) < 0)
		return dbq_oom(err);
	*ret = p;
	p = (struct db_pool){0};
	return 0;
}

int db_pool_list(struct db *db, struct db_pool **ret, size_t *ret_n, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(dbq_rows_done) struct dbq_rows rows = {.size = sizeof(struct db_pool),
							 .done = pool_done_cb};
	int r, rc;

	r = dbq_prepare(db, "SELECT " POOL_COLUMNS " FROM pools ORDER BY name", &st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_pool *p = dbq_rows_add(&rows);

		if (!p || read_pool(st, p) < 0)
			return dbq_oom(err);
	}
	if (rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot list storage pools");
	*ret = steal_pointer(&rows.v);
	*ret_n = rows.n;
	rows.n = 0;
	return 0;
}

int db_pool_delete(struct db *db, const char *name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t id;
	int r, rc;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = dbq_pool_id(db, name, &id, err);
	if (r < 0)
		return r;
	r = dbq_prepare(db,
			"SELECT (SELECT count(*) FROM instances WHERE pool_id = ?1) +"
			" (SELECT count(*) FROM images WHERE pool_id = ?1) +"
			/* A move into the pool has no row there before its switch. */
			" (SELECT count(*) FROM pending WHERE kind = 'instance-move' AND b = ?2)",
			&st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "it", id, name);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return dbq_fail(db, rc, err, "Cannot read storage pool \"%s\"", name);
	if (sqlite3_column_int64(st, 0) > 0)
		return err_set(err, -EBUSY, "Storage pool \"%s\" is in use", name);
	dbq_finalizep(&st);
	r = dbq_prepare(db, "DELETE FROM pools WHERE id = ?", &st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "i", id);
	if (r < 0)
		return r;
	rc = dbq_step(st);
	if (rc)
		return dbq_fail(db, rc, err, "Cannot delete storage pool \"%s\"", name);
	return dbq_txn_commit(&t, err);
}

int db_pool_update(struct db *db, const char *name, uint64_t size, const char *description,
		   struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r;

	r = dbq_change_rows(db, "UPDATE pools SET size = ?, description = ? WHERE name = ?", err,
			    "itt", (int64_t)size, description ? description : "", name);
	if (r == -ENOENT)
		return err_set(err, r, "Storage pool \"%s\" not found", name);
	return r < 0 ? err_wrap(err, r, "Cannot update storage pool \"%s\"", name) : 0;
}

int db_pool_users(struct db *db, const char *pool, char ***ret_names, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);

	return dbq_query_names(db,
			       "SELECT i.name FROM instances i JOIN pools p ON p.id = i.pool_id"
			       " WHERE p.name = ? ORDER BY i.name",
			       pool, ret_names, err);
}
