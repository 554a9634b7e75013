#include "config/db.h"

#include <errno.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "config/db-internal.h"

/*
 * The `schedule_state` table: what the snapshot scheduler remembers of each instance. A row is
 * keyed by the instance's id and goes with the instance (ON DELETE CASCADE); an instance that
 * has no row reads as a zeroed state.
 */

#define SCHEDULE_COLUMNS                                                                           \
	"s.last_slot, s.last_run, s.last_snapshot, s.failed_slot, s.last_error, s.last_skip"
#define SCHEDULE_FROM " FROM instances i LEFT JOIN schedule_state s ON s.instance_id = i.id"

void db_schedule_state_done(struct db_schedule_state *s)
{
	if (!s)
		return;
	free(s->last_snapshot);
	free(s->last_error);
	free(s->last_skip);
	*s = (struct db_schedule_state){0};
}

void db_schedule_states_free(struct db_schedule_state *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_schedule_state_done(&v[i]);
	free(v);
}

/* Reads SCHEDULE_COLUMNS from column `col` on; the NULLs of an instance without a row read as
 * zero and NULL. */
static int read_schedule(sqlite3_stmt *st, int col, struct db_schedule_state *s)
{
	s->last_slot = sqlite3_column_int64(st, col);
	s->last_run = sqlite3_column_int64(st, col + 1);
	s->failed_slot = sqlite3_column_int64(st, col + 3);
	if (dbq_col_str(st, col + 2, &s->last_snapshot) < 0 ||
	    dbq_col_str(st, col + 4, &s->last_error) < 0 ||
	    dbq_col_str(st, col + 5, &s->last_skip) < 0)
		return -ENOMEM;
	return 0;
}

int db_schedule_get(struct db *db, const char *instance, struct db_schedule_state *ret,
		    struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(db_schedule_state_done) struct db_schedule_state s = {0};
	int r, rc;

	r = dbq_prepare(db, "SELECT " SCHEDULE_COLUMNS SCHEDULE_FROM " WHERE i.name = ?", &st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "t", instance);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(err, -ENOENT, "Instance \"%s\" not found", instance);
	if (rc != SQLITE_ROW)
		return dbq_fail(db, rc, err, "Cannot read the schedule state of instance \"%s\"",
				instance);
	if (read_schedule(st, 0, &s) < 0)
		return dbq_oom(err);
	*ret = s;
	s = (struct db_schedule_state){0};
	return 0;
}

int db_schedule_put(struct db *db, const char *instance, const struct db_schedule_state *s,
		    struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r;

	/* One statement, so no transaction: the instance's id is looked up by the INSERT itself,
	 * and no row is written for an unknown instance. (The WHERE also keeps SQLite from
	 * reading ON CONFLICT as a join constraint.) */
	r = dbq_change_rows(db,
			    "INSERT INTO schedule_state (instance_id, last_slot, last_run,"
			    " last_snapshot, failed_slot, last_error, last_skip)"
			    " SELECT id, ?, ?, ?, ?, ?, ? FROM instances WHERE name = ?"
			    " ON CONFLICT (instance_id) DO UPDATE SET"
			    " last_slot = excluded.last_slot, last_run = excluded.last_run,"
			    " last_snapshot = excluded.last_snapshot,"
			    " failed_slot = excluded.failed_slot, last_error = excluded.last_error,"
			    " last_skip = excluded.last_skip",
			    err, "iitittt", s->last_slot, s->last_run, s->last_snapshot,
			    s->failed_slot, s->last_error, s->last_skip, instance);
	if (r == -ENOENT)
		return err_set(err, r, "Instance \"%s\" not found", instance);
	if (r < 0)
		return err_wrap(err, r, "Cannot record the schedule state of instance \"%s\"",
				instance);
	return 0;
}

/* One row of db_schedule_list() while it is read. */
struct named_state {
	char *name;
	struct db_schedule_state s;
};

static void named_state_done_cb(void *p)
{
	struct named_state *ns = p;

	free(ns->name);
	db_schedule_state_done(&ns->s);
}

int db_schedule_list(struct db *db, char ***ret_names, struct db_schedule_state **ret_states,
		     size_t *ret_n, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(dbq_rows_done) struct dbq_rows rows = {.size = sizeof(struct named_state),
							 .done = named_state_done_cb};
	_cleanup_free_ char **names = NULL;
	_cleanup_free_ struct db_schedule_state *states = NULL;
	struct named_state *v;
	int r, rc;

	r = dbq_prepare(db, "SELECT i.name, " SCHEDULE_COLUMNS SCHEDULE_FROM " ORDER BY i.name",
			&st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct named_state *ns = dbq_rows_add(&rows);

		if (!ns || dbq_col_str(st, 0, &ns->name) < 0 || !ns->name ||
		    read_schedule(st, 1, &ns->s) < 0)
			return dbq_oom(err);
	}
	if (rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot list the schedule states");
	names = calloc(rows.n + 1, sizeof(*names));
	states = calloc(rows.n ? rows.n : 1, sizeof(*states));
	if (!names || !states)
		return dbq_oom(err);
	/* Move the rows into the two arrays; nothing is left for rows_done() to free. */
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
