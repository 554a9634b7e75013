#include "config/db.h"

#include <errno.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db-internal.h"

/*
 * The `remotes` table: the daemons this one sends to on its own, each with the server
 * certificate it pins. Only the API's admin routes write it (cmd/cairnd/api_remotes.c).
 */

#define REMOTE_COLUMNS "name, address, certificate, fingerprint, created_at"

void db_remote_done(struct db_remote *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->address);
	free(r->certificate);
	free(r->fingerprint);
	*r = (struct db_remote){0};
}

void db_remotes_free(struct db_remote *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_remote_done(&v[i]);
	free(v);
}

static int read_remote(sqlite3_stmt *st, struct db_remote *r)
{
	r->created_at = sqlite3_column_int64(st, 4);
	if (dbq_col_str(st, 0, &r->name) < 0 || dbq_col_str(st, 1, &r->address) < 0 ||
	    dbq_col_str(st, 2, &r->certificate) < 0 || dbq_col_str(st, 3, &r->fingerprint) < 0)
		return -ENOMEM;
	return 0;
}

static void remote_done_cb(void *p)
{
	db_remote_done(p);
}

int db_remote_list(struct db *db, struct db_remote **ret, size_t *ret_n, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(dbq_rows_done) struct dbq_rows rows = {.size = sizeof(struct db_remote),
							 .done = remote_done_cb};
	int r, rc;

	r = dbq_prepare(db, "SELECT " REMOTE_COLUMNS " FROM remotes ORDER BY name", &st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_remote *row = dbq_rows_add(&rows);

		if (!row || read_remote(st, row) < 0)
			return dbq_oom(err);
	}
	if (rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot list the remotes");
	*ret = rows.v;
	*ret_n = rows.n;
	rows = (struct dbq_rows){0};
	return 0;
}

int db_remote_get(struct db *db, const char *name, struct db_remote *ret, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct db_remote row = {0};
	int r, rc;

	r = dbq_prepare(db, "SELECT " REMOTE_COLUMNS " FROM remotes WHERE name = ?", &st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "t", name);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(err, -ENOENT, "Remote \"%s\" not found", name);
	if (rc != SQLITE_ROW)
		return dbq_fail(db, rc, err, "Cannot read remote \"%s\"", name);
	if (read_remote(st, &row) < 0) {
		db_remote_done(&row);
		return dbq_oom(err);
	}
	*ret = row;
	return 0;
}

int db_remote_add(struct db *db, const struct db_remote *rem, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r = dbq_change_rows(db,
				"INSERT INTO remotes (name, address, certificate, fingerprint,"
				" created_at) VALUES (?, ?, ?, ?, ?)",
				err, "tttti", rem->name, rem->address, rem->certificate,
				rem->fingerprint, rem->created_at ? rem->created_at : time_now());

	if (r == -EEXIST)
		return err_set(err, r, "Remote \"%s\" exists already", rem->name);
	return r < 0 ? err_wrap(err, r, "Cannot add remote \"%s\"", rem->name) : 0;
}

int db_remote_delete(struct db *db, const char *name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r = dbq_change_rows(db, "DELETE FROM remotes WHERE name = ?", err, "t", name);

	if (r == -ENOENT)
		return err_set(err, r, "Remote \"%s\" not found", name);
	return r < 0 ? err_wrap(err, r, "Cannot remove remote \"%s\"", name) : 0;
}
