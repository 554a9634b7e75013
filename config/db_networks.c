#include "config/db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "config/db-internal.h"

/* The `networks` table and its config: managed networks (network/network.c). */

void db_network_done(struct db_network *n)
{
	if (!n)
		return;
	free(n->name);
	free(n->type);
	free(n->description);
	kvlist_done(&n->config);
	*n = (struct db_network){0};
}

void db_networks_free(struct db_network *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_network_done(&v[i]);
	free(v);
}

static void network_done_cb(void *p)
{
	db_network_done(p);
}

#define NETWORK_COLUMNS "id, name, type, description, state"

static int read_network(sqlite3_stmt *st, struct db_network *n)
{
	n->id = sqlite3_column_int64(st, 0);
	if (dbq_col_str(st, 1, &n->name) < 0 || dbq_col_str(st, 2, &n->type) < 0 ||
	    dbq_col_str(st, 3, &n->description) < 0)
		return -ENOMEM;
	n->state = dbq_col_state(st, 4);
	return 0;
}

#define CONFIG_INSERT "INSERT INTO network_config (network_id, key, value) VALUES (?, ?, ?)"

int db_network_insert(struct db *db, const struct db_network *n, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = dbq_prepare(db,
			"INSERT INTO networks (name, type, description, state) VALUES (?, ?, ?, ?)",
			&st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "ttti", n->name, n->type ? n->type : "bridge",
		     n->description ? n->description : "", (int64_t)n->state);
	if (r < 0)
		return r;
	rc = dbq_step(st);
	if (dbq_errno(rc) == -EEXIST)
		return err_set(err, -EEXIST, "Network \"%s\" already exists", n->name);
	if (rc)
		return dbq_fail(db, rc, err, "Cannot add network \"%s\"", n->name);
	r = dbq_insert_kv(db, CONFIG_INSERT, sqlite3_last_insert_rowid(db->conn), &n->config, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot add network \"%s\"", n->name);
	return dbq_txn_commit(&t, err);
}

int db_network_get(struct db *db, const char *name, struct db_network *ret, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(db_network_done) struct db_network n = {0};
	int r, rc;

	r = dbq_txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	r = dbq_prepare(db, "SELECT " NETWORK_COLUMNS " FROM networks WHERE name = ?", &st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "t", name);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(err, -ENOENT, "Network \"%s\" not found", name);
	if (rc != SQLITE_ROW)
		return dbq_fail(db, rc, err, "Cannot read network \"%s\"", name);
	if (read_network(st, &n) < 0)
		return dbq_oom(err);
	dbq_finalizep(&st);
	r = dbq_prepare(db,
			"SELECT network_id, key, value FROM network_config WHERE network_id = ?"
			" ORDER BY key",
			&st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "i", n.id);
	if (r < 0)
		return r;
	r = dbq_load_kv(db, st, &n.id, 1, &n.config, sizeof(n), err);
	if (r < 0)
		return r;
	r = dbq_txn_commit(&t, err);
	if (r < 0)
		return r;
	*ret = n;
	n = (struct db_network){0};
	return 0;
}

static int cmp_network(const void *a, const void *b)
{
	return strcmp(((const struct db_network *)a)->name, ((const struct db_network *)b)->name);
}

int db_network_list(struct db *db, struct db_network **ret, size_t *ret_n, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(dbq_rows_done) struct dbq_rows rows = {.size = sizeof(struct db_network),
							 .done = network_done_cb};
	_cleanup_free_ int64_t *ids = NULL;
	struct db_network *v;
	int r, rc;

	r = dbq_txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	r = dbq_prepare(db, "SELECT " NETWORK_COLUMNS " FROM networks ORDER BY id", &st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_network *n = dbq_rows_add(&rows);

		if (!n || read_network(st, n) < 0)
			return dbq_oom(err);
	}
	if (rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot list networks");
	dbq_finalizep(&st);
	v = rows.v;
	if (rows.n) {
		ids = malloc(rows.n * sizeof(*ids));
		if (!ids)
			return dbq_oom(err);
		for (size_t i = 0; i < rows.n; i++)
			ids[i] = v[i].id;
		r = dbq_prepare(db,
				"SELECT network_id, key, value FROM network_config"
				" ORDER BY network_id, key",
				&st, err);
		if (r < 0)
			return r;
		r = dbq_load_kv(db, st, ids, rows.n, &v[0].config, sizeof(*v), err);
		if (r < 0)
			return r;
		qsort(v, rows.n, sizeof(*v), cmp_network);
	}
	r = dbq_txn_commit(&t, err);
	if (r < 0)
		return r;
	*ret = steal_pointer(&rows.v);
	*ret_n = rows.n;
	rows.n = 0;
	return 0;
}

int db_network_set_state(struct db *db, const char *name, enum db_row_state state, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r = dbq_change_rows(db, "UPDATE networks SET state = ? WHERE name = ?", err, "it",
				(int64_t)state, name);

	if (r == -ENOENT)
		return err_set(err, r, "Network \"%s\" not found", name);
	return r < 0 ? err_wrap(err, r, "Cannot update network \"%s\"", name) : 0;
}

int db_network_update(struct db *db, const char *name, const struct kvlist *config,
		      const char *description, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	int64_t id;
	int r;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = dbq_lookup_id(db, "SELECT id FROM networks WHERE name = ?", name, &id, err);
	if (r == -ENOENT)
		return err_set(err, r, "Network \"%s\" not found", name);
	if (r < 0)
		return r;
	if (description) {
		r = dbq_change_rows(db, "UPDATE networks SET description = ? WHERE id = ?", err,
				    "ti", description, id);
		if (r < 0)
			return err_wrap(err, r, "Cannot update network \"%s\"", name);
	}
	r = dbq_change_rows(db, "DELETE FROM network_config WHERE network_id = ?", err, "i", id);
	if (r < 0 && r != -ENOENT)
		return err_wrap(err, r, "Cannot update network \"%s\"", name);
	r = dbq_insert_kv(db, CONFIG_INSERT, id, config, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot update the config of network \"%s\"", name);
	return dbq_txn_commit(&t, err);
}

int db_network_rename(struct db *db, const char *name, const char *new_name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r = dbq_change_rows(db, "UPDATE networks SET name = ? WHERE name = ?", err, "tt",
				new_name, name);

	if (r == -ENOENT)
		return err_set(err, r, "Network \"%s\" not found", name);
	if (r == -EEXIST)
		return err_set(err, r, "Network \"%s\" already exists", new_name);
	return r < 0 ? err_wrap(err, r, "Cannot rename network \"%s\"", name) : 0;
}

int db_network_delete(struct db *db, const char *name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r = dbq_change_rows(db, "DELETE FROM networks WHERE name = ?", err, "t", name);

	if (r == -ENOENT)
		return err_set(err, r, "Network \"%s\" not found", name);
	return r < 0 ? err_wrap(err, r, "Cannot delete network \"%s\"", name) : 0;
}
