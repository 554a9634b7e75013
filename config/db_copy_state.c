#include "config/db.h"

#include <errno.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db-internal.h"

/*
 * The `copy_state` table: what the refresh of each instance's snapshot server last did. A row is
 * keyed by the instance's id and goes with the instance (ON DELETE CASCADE); an instance without
 * a row reads as a zeroed state. `owed` is set in its own statement right after each scheduled
 * snapshot, before the refresh starts, so that a daemon stopped in between still refreshes at
 * its next start.
 */

#define COPY_COLUMNS                                                                               \
	"c.target, c.owed, c.last_attempt, c.last_success, c.last_bytes, c.last_error,"            \
	" c.failures, c.next_retry"
#define COPY_FROM " FROM instances i LEFT JOIN copy_state c ON c.instance_id = i.id"

void db_copy_state_done(struct db_copy_state *s)
{
	if (!s)
		return;
	free(s->target);
	free(s->last_error);
	*s = (struct db_copy_state){0};
}

void db_copy_states_free(struct db_copy_state *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_copy_state_done(&v[i]);
	free(v);
}

/* Reads COPY_COLUMNS from column `col` on; the NULLs of an instance without a row read as zero. */
static int read_copy(sqlite3_stmt *st, int col, struct db_copy_state *s)
{
	s->owed = sqlite3_column_int64(st, col + 1) != 0;
	s->last_attempt = sqlite3_column_int64(st, col + 2);
	s->last_success = sqlite3_column_int64(st, col + 3);
	s->last_bytes = (uint64_t)sqlite3_column_int64(st, col + 4);
	s->failures = sqlite3_column_int64(st, col + 6);
	s->next_retry = sqlite3_column_int64(st, col + 7);
	if (dbq_col_str(st, col, &s->target) < 0 || dbq_col_str(st, col + 5, &s->last_error) < 0)
		return -ENOMEM;
	return 0;
}

int db_copy_state_get(struct db *db, const char *instance, struct db_copy_state *ret,
		      struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(db_copy_state_done) struct db_copy_state s = {0};
	int r, rc;

	r = dbq_prepare(db, "SELECT " COPY_COLUMNS COPY_FROM " WHERE i.name = ?", &st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "t", instance);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(err, -ENOENT, "Instance \"%s\" not found", instance);
	if (rc != SQLITE_ROW)
		return dbq_fail(db, rc, err, "Cannot read the refresh state of instance \"%s\"",
				instance);
	if (read_copy(st, 0, &s) < 0)
		return dbq_oom(err);
	*ret = s;
	s = (struct db_copy_state){0};
	return 0;
}

int db_copy_state_put(struct db *db, const char *instance, const struct db_copy_state *s,
		      struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r;

	/* One statement, as db_schedule_put(): no row for an unknown instance. */
	r = dbq_change_rows(db,
			    "INSERT INTO copy_state (instance_id, target, owed, last_attempt,"
			    " last_success, last_bytes, last_error, failures, next_retry)"
			    " SELECT id, ?, ?, ?, ?, ?, ?, ?, ? FROM instances WHERE name = ?"
			    " ON CONFLICT (instance_id) DO UPDATE SET"
			    " target = excluded.target, owed = excluded.owed,"
			    " last_attempt = excluded.last_attempt,"
			    " last_success = excluded.last_success,"
			    " last_bytes = excluded.last_bytes, last_error = excluded.last_error,"
			    " failures = excluded.failures, next_retry = excluded.next_retry",
			    err, "tbiiitiit", s->target ? s->target : "", (int)s->owed,
			    s->last_attempt, s->last_success, (int64_t)s->last_bytes, s->last_error,
			    s->failures, s->next_retry, instance);
	if (r == -ENOENT)
		return err_set(err, r, "Instance \"%s\" not found", instance);
	if (r < 0)
		return err_wrap(err, r, "Cannot record the refresh state of instance \"%s\"",
				instance);
	return 0;
}

int db_copy_state_owe(struct db *db, const char *instance, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r;

	r = dbq_change_rows(db,
			    "INSERT INTO copy_state (instance_id, owed)"
			    " SELECT id, 1 FROM instances WHERE name = ?"
			    " ON CONFLICT (instance_id) DO UPDATE SET owed = 1",
			    err, "t", instance);
	if (r == -ENOENT)
		return err_set(err, r, "Instance \"%s\" not found", instance);
	if (r < 0)
		return err_wrap(err, r, "Cannot record the refresh state of instance \"%s\"",
				instance);
	return 0;
}

/* One row of db_copy_state_owed() while it is read. */
struct named_copy {
	char *name;
	struct db_copy_state s;
};

static void named_copy_done_cb(void *p)
{
	struct named_copy *nc = p;

	free(nc->name);
	db_copy_state_done(&nc->s);
}

int db_copy_state_owed(struct db *db, char ***ret_names, struct db_copy_state **ret_states,
		       size_t *ret_n, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(dbq_rows_done) struct dbq_rows rows = {.size = sizeof(struct named_copy),
							 .done = named_copy_done_cb};
	_cleanup_free_ char **names = NULL;
	_cleanup_free_ struct db_copy_state *states = NULL;
	struct named_copy *v;
	int r, rc;

	r = dbq_prepare(db,
			"SELECT i.name, " COPY_COLUMNS COPY_FROM
			" WHERE c.owed = 1 AND i.state = ? ORDER BY i.name",
			&st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "i", (int64_t)DB_ROW_READY);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct named_copy *nc = dbq_rows_add(&rows);

		if (!nc || dbq_col_str(st, 0, &nc->name) < 0 || !nc->name ||
		    read_copy(st, 1, &nc->s) < 0)
			return dbq_oom(err);
	}
	if (rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot list the refreshes owed");
	names = calloc(rows.n + 1, sizeof(*names));
	states = calloc(rows.n ? rows.n : 1, sizeof(*states));
	if (!names || !states)
		return dbq_oom(err);
	v = rows.v;
	for (size_t i = 0; i < rows.n; i++) {
		names[i] = v[i].name;
		states[i] = v[i].s;
	}
	*ret_n = rows.n;
	rows.n = 0;
	*ret_names = steal_pointer(&names);
	*ret_states = steal_pointer(&states);
	return 0;
}
