#include "config/db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db-internal.h"

/* The `snapshots` and `snapshot_config` tables. */

void db_snapshot_done(struct db_snapshot *s)
{
	if (!s)
		return;
	free(s->instance);
	free(s->name);
	free(s->description);
	kvlist_done(&s->config);
	devices_done(&s->devices);
	strv_free(s->profiles);
	*s = (struct db_snapshot){0};
}

void db_snapshots_free(struct db_snapshot *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_snapshot_done(&v[i]);
	free(v);
}

static void snapshot_done_cb(void *p)
{
	db_snapshot_done(p);
}

#define SNAPSHOT_COLUMNS                                                                           \
	"s.id, i.name, s.name, s.created_at, s.expires_at, s.stateful, s.scheduled,"               \
	" s.description, s.state"
#define SNAPSHOT_FROM " FROM snapshots s JOIN instances i ON i.id = s.instance_id"

static int read_snapshot(sqlite3_stmt *st, struct db_snapshot *s)
{
	s->id = sqlite3_column_int64(st, 0);
	if (dbq_col_str(st, 1, &s->instance) < 0 || dbq_col_str(st, 2, &s->name) < 0 ||
	    dbq_col_str(st, 7, &s->description) < 0)
		return -ENOMEM;
	s->created_at = sqlite3_column_int64(st, 3);
	s->expires_at = sqlite3_column_int64(st, 4);
	s->stateful = sqlite3_column_int(st, 5) != 0;
	s->scheduled = sqlite3_column_int(st, 6) != 0;
	s->state = dbq_col_state(st, 8);
	return 0;
}

/* Loads the profile names and devices of `n` snapshots whose ids `ids` ascend; `iid` not 0
 * limits the queries to the snapshots of that instance. */
static int load_settings(struct db *db, struct db_snapshot *v, const int64_t *ids, size_t n,
			 int64_t iid, struct err **err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = dbq_prepare(db,
			iid ? "SELECT sp.snapshot_id, p.name FROM snapshot_profiles sp"
			      " JOIN profiles p ON p.id = sp.profile_id"
			      " JOIN snapshots s ON s.id = sp.snapshot_id WHERE s.instance_id = ?"
			      " ORDER BY sp.snapshot_id, sp.apply_order"
			    : "SELECT sp.snapshot_id, p.name FROM snapshot_profiles sp"
			      " JOIN profiles p ON p.id = sp.profile_id"
			      " ORDER BY sp.snapshot_id, sp.apply_order",
			&st, err);
	if (r < 0)
		return r;
	if (iid && (r = dbq_bind(db, st, err, "i", iid)) < 0)
		return r;
	r = dbq_load_profile_names(db, st, ids, n, &v[0].profiles, sizeof(*v), err);
	if (r < 0)
		return r;
	dbq_finalizep(&st);
	r = dbq_prepare(
	    db,
	    iid ? "SELECT d.snapshot_id, d.device, d.key, d.value FROM snapshot_devices d"
		  " JOIN snapshots s ON s.id = d.snapshot_id WHERE s.instance_id = ?"
		  " ORDER BY d.snapshot_id, d.device, d.key"
		: "SELECT snapshot_id, device, key, value FROM snapshot_devices"
		  " ORDER BY snapshot_id, device, key",
	    &st, err);
	if (r < 0)
		return r;
	if (iid && (r = dbq_bind(db, st, err, "i", iid)) < 0)
		return r;
	return dbq_load_devices(db, st, ids, n, &v[0].devices, sizeof(*v), err);
}

static int snapshot_missing(int r, const char *instance, const char *name, struct err **err)
{
	return err_set(err, r, "Snapshot \"%s\" of instance \"%s\" not found", name, instance);
}

int db_snapshot_insert(struct db *db, const struct db_snapshot *s, int64_t *ret_id,
		       struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t iid, id;
	int r, rc;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = dbq_instance_id(db, s->instance, &iid, err);
	if (r < 0)
		return r;
	r = dbq_prepare(
	    db,
	    "INSERT INTO snapshots (instance_id, name, created_at, expires_at, stateful,"
	    " scheduled, description, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	    &st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "itiibbti", iid, s->name, s->created_at, s->expires_at,
		     (int)s->stateful, (int)s->scheduled, s->description ? s->description : "",
		     (int64_t)s->state);
	if (r < 0)
		return r;
	rc = dbq_step(st);
	if (dbq_errno(rc) == -EEXIST)
		return err_set(err, -EEXIST, "Snapshot \"%s\" of instance \"%s\" already exists",
			       s->name, s->instance);
	if (rc)
		return dbq_fail(db, rc, err, "Cannot add snapshot \"%s\" of instance \"%s\"",
				s->name, s->instance);
	id = sqlite3_last_insert_rowid(db->conn);
	r = dbq_insert_kv(db,
			  "INSERT INTO snapshot_config (snapshot_id, key, value) VALUES (?, ?, ?)",
			  id, &s->config, err);
	if (r >= 0)
		r = dbq_insert_devices(
		    db,
		    "INSERT INTO snapshot_devices (snapshot_id, device, key, value)"
		    " VALUES (?, ?, ?, ?)",
		    id, &s->devices, err);
	if (r >= 0)
		r = dbq_insert_profile_refs(
		    db,
		    "INSERT INTO snapshot_profiles (snapshot_id, profile_id,"
		    " apply_order) VALUES (?, ?, ?)",
		    id, s->profiles, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot add snapshot \"%s\" of instance \"%s\"", s->name,
				s->instance);
	r = dbq_txn_commit(&t, err);
	if (r < 0)
		return r;
	if (ret_id)
		*ret_id = id;
	return 0;
}

int db_snapshot_get(struct db *db, const char *instance, const char *name, struct db_snapshot *ret,
		    struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(db_snapshot_done) struct db_snapshot snap = {0};
	int64_t iid;
	int r, rc;

	r = dbq_txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	r = dbq_instance_id(db, instance, &iid, err);
	if (r < 0)
		return r;
	r = dbq_prepare(
	    db, "SELECT " SNAPSHOT_COLUMNS SNAPSHOT_FROM " WHERE s.instance_id = ? AND s.name = ?",
	    &st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "it", iid, name);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return snapshot_missing(-ENOENT, instance, name, err);
	if (rc != SQLITE_ROW)
		return dbq_fail(db, rc, err, "Cannot read snapshot \"%s\" of instance \"%s\"", name,
				instance);
	if (read_snapshot(st, &snap) < 0)
		return dbq_oom(err);
	dbq_finalizep(&st);
	r = dbq_prepare(db,
			"SELECT snapshot_id, key, value FROM snapshot_config WHERE snapshot_id = ?"
			" ORDER BY key",
			&st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "i", snap.id);
	if (r < 0)
		return r;
	r = dbq_load_kv(db, st, &snap.id, 1, &snap.config, sizeof(snap), err);
	if (r < 0)
		return r;
	r = load_settings(db, &snap, &snap.id, 1, iid, err);
	if (r < 0)
		return r;
	r = dbq_txn_commit(&t, err);
	if (r < 0)
		return r;
	*ret = snap;
	snap = (struct db_snapshot){0};
	return 0;
}

static int cmp_snapshot(const void *a, const void *b)
{
	const struct db_snapshot *x = a, *y = b;
	int c = strcmp(x->instance ? x->instance : "", y->instance ? y->instance : "");

	if (c)
		return c;
	if (x->created_at != y->created_at)
		return x->created_at < y->created_at ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int db_snapshot_list(struct db *db, const char *instance, struct db_snapshot **ret, size_t *ret_n,
		     struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(dbq_rows_done) struct dbq_rows rows = {.size = sizeof(struct db_snapshot),
							 .done = snapshot_done_cb};
	_cleanup_free_ int64_t *ids = NULL;
	struct db_snapshot *v;
	int64_t iid;
	int r, rc;

	r = dbq_txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	/* All instances' snapshots at once when `instance` is NULL: one query for a whole list. */
	if (instance) {
		r = dbq_instance_id(db, instance, &iid, err);
		if (r < 0)
			return r;
	}
	r = dbq_prepare(db,
			instance ? "SELECT " SNAPSHOT_COLUMNS SNAPSHOT_FROM
				   " WHERE s.instance_id = ? ORDER BY s.id"
				 : "SELECT " SNAPSHOT_COLUMNS SNAPSHOT_FROM " ORDER BY s.id",
			&st, err);
	if (r < 0)
		return r;
	if (instance) {
		r = dbq_bind(db, st, err, "i", iid);
		if (r < 0)
			return r;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_snapshot *s = dbq_rows_add(&rows);

		if (!s || read_snapshot(st, s) < 0)
			return dbq_oom(err);
	}
	if (rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot list the snapshots of instance \"%s\"",
				instance ? instance : "*");
	dbq_finalizep(&st);
	v = rows.v;
	if (rows.n) {
		ids = malloc(rows.n * sizeof(*ids));
		if (!ids)
			return dbq_oom(err);
		for (size_t i = 0; i < rows.n; i++)
			ids[i] = v[i].id;
		r = dbq_prepare(
		    db,
		    instance ? "SELECT c.snapshot_id, c.key, c.value FROM snapshot_config c"
			       " JOIN snapshots s ON s.id = c.snapshot_id WHERE s.instance_id = ?"
			       " ORDER BY c.snapshot_id, c.key"
			     : "SELECT c.snapshot_id, c.key, c.value FROM snapshot_config c"
			       " ORDER BY c.snapshot_id, c.key",
		    &st, err);
		if (r < 0)
			return r;
		if (instance) {
			r = dbq_bind(db, st, err, "i", iid);
			if (r < 0)
				return r;
		}
		r = dbq_load_kv(db, st, ids, rows.n, &v[0].config, sizeof(*v), err);
		if (r < 0)
			return r;
		dbq_finalizep(&st);
		r = load_settings(db, v, ids, rows.n, instance ? iid : 0, err);
		if (r < 0)
			return r;
		qsort(v, rows.n, sizeof(*v), cmp_snapshot);
	}
	r = dbq_txn_commit(&t, err);
	if (r < 0)
		return r;
	*ret = steal_pointer(&rows.v);
	*ret_n = rows.n;
	rows.n = 0;
	return 0;
}

/* What the third parameter of a snapshot_change() statement is. */
enum snap_arg {
	SNAP_ARG_NONE,
	SNAP_ARG_INT,
	SNAP_ARG_TEXT,
	SNAP_ARG_MAX,
};

/*
 * Runs an UPDATE or DELETE on one snapshot: `sql` takes the instance id as ?1, the snapshot
 * name as ?2 and, depending on `arg`, `value` or `text` as ?3.
 */
static int snapshot_change(struct db *db, const char *instance, const char *name, const char *sql,
			   enum snap_arg arg, int64_t value, const char *text, struct err **err)
{
	_cleanup_txn_ struct dbq_txn t = {0};
	int64_t iid;
	int r;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = dbq_instance_id(db, instance, &iid, err);
	if (r < 0)
		return r;
	switch (arg) {
	case SNAP_ARG_INT:
		r = dbq_change_rows(db, sql, err, "iti", iid, name, value);
		break;
	case SNAP_ARG_TEXT:
		r = dbq_change_rows(db, sql, err, "itt", iid, name, text);
		break;
	case SNAP_ARG_NONE:
	case SNAP_ARG_MAX:
		r = dbq_change_rows(db, sql, err, "it", iid, name);
		break;
	}
	if (r == -ENOENT)
		return snapshot_missing(r, instance, name, err);
	/* Only a rename can collide. */
	if (r == -EEXIST)
		return err_set(err, r, "Snapshot \"%s\" of instance \"%s\" already exists", text,
			       instance);
	if (r < 0)
		return err_wrap(err, r, "Cannot update snapshot \"%s\" of instance \"%s\"", name,
				instance);
	return dbq_txn_commit(&t, err);
}

int db_snapshot_set_state(struct db *db, const char *instance, const char *name,
			  enum db_row_state state, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);

	return snapshot_change(
	    db, instance, name,
	    "UPDATE snapshots SET state = ?3 WHERE instance_id = ?1 AND name = ?2", SNAP_ARG_INT,
	    (int64_t)state, NULL, err);
}

int db_snapshot_set_expiry(struct db *db, const char *instance, const char *name,
			   int64_t expires_at, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);

	return snapshot_change(
	    db, instance, name,
	    "UPDATE snapshots SET expires_at = ?3 WHERE instance_id = ?1 AND name = ?2",
	    SNAP_ARG_INT, expires_at, NULL, err);
}

int db_snapshot_rename(struct db *db, const char *instance, const char *name, const char *new_name,
		       struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);

	return snapshot_change(
	    db, instance, name,
	    "UPDATE snapshots SET name = ?3 WHERE instance_id = ?1 AND name = ?2", SNAP_ARG_TEXT, 0,
	    new_name ? new_name : "", err);
}

int db_snapshot_delete(struct db *db, const char *instance, const char *name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);

	/* Its config goes with it (ON DELETE CASCADE). */
	return snapshot_change(db, instance, name,
			       "DELETE FROM snapshots WHERE instance_id = ?1 AND name = ?2",
			       SNAP_ARG_NONE, 0, NULL, err);
}

void db_snapshot_briefs_free(struct db_snapshot_brief *v)
{
	free(v);
}

/* Where db_snapshot_list_all() keeps the names it reads until it knows their total size. */
struct strpool {
	char *buf;
	size_t used, cap; /* bytes */
};

static void strpool_done(struct strpool *p)
{
	free(p->buf);
	*p = (struct strpool){0};
}

/* Appends `s` and its NUL; *ret_off is where it starts. */
static int strpool_add(struct strpool *p, const char *s, size_t *ret_off)
{
	size_t len = strlen(s) + 1;

	if (p->used + len > p->cap) {
		size_t cap = p->cap ? p->cap : 4096;
		char *buf;

		while (p->used + len > cap)
			cap *= 2;
		buf = realloc(p->buf, cap);
		if (!buf)
			return -ENOMEM;
		p->buf = buf;
		p->cap = cap;
	}
	memcpy(p->buf + p->used, s, len);
	*ret_off = p->used;
	p->used += len;
	return 0;
}

/* A READY instance while db_snapshot_list_all() reads: its id and its rank by name. */
struct inst_rank {
	int64_t id;
	size_t rank;
	size_t name_off; /* in the string pool */
};

/* A snapshot row while db_snapshot_list_all() reads, before it is sorted into place. */
struct brief_row {
	int64_t id, created_at, expires_at;
	size_t rank;	 /* of its instance (struct inst_rank) */
	size_t name_off; /* in the string pool */
	bool stateful, scheduled;
};

static int cmp_inst_id(const void *a, const void *b)
{
	const struct inst_rank *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_brief(const void *a, const void *b)
{
	const struct db_snapshot_brief *x = a, *y = b;

	if (x->created_at != y->created_at)
		return x->created_at < y->created_at ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Grows `*v` (of `*cap` elements of `size` bytes) to hold one more than `n`. */
static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	nv = realloc(*v, ncap * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

int db_snapshot_list_all(struct db *db, struct db_snapshot_brief **ret, size_t *ret_n,
			 struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ struct inst_rank *insts = NULL;
	_cleanup_free_ struct brief_row *rows = NULL;
	_cleanup_free_ size_t *next = NULL; /* per instance rank: the next free slot in `out` */
	_cleanup_free_ struct db_snapshot_brief *out = NULL;
	_cleanup_(strpool_done) struct strpool pool = {0};
	size_t n_insts = 0, insts_cap = 0, n = 0, rows_cap = 0;
	char *base;
	int r, rc;

	r = dbq_txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	/* The READY instances in name order: their rank orders the groups. */
	r = dbq_prepare(db, "SELECT id, name FROM instances WHERE state = ? ORDER BY name", &st,
			err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "i", (int64_t)DB_ROW_READY);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);

		if (!name || grow((void **)&insts, &insts_cap, n_insts, sizeof(*insts)) < 0)
			return dbq_oom(err);
		insts[n_insts] =
		    (struct inst_rank){.id = sqlite3_column_int64(st, 0), .rank = n_insts};
		if (strpool_add(&pool, name, &insts[n_insts].name_off) < 0)
			return dbq_oom(err);
		n_insts++;
	}
	if (rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot list instances");
	dbq_finalizep(&st);
	if (n_insts)
		qsort(insts, n_insts, sizeof(*insts), cmp_inst_id);

	/*
	 * The snapshots in table order: a sequential scan, where walking an index instance by
	 * instance costs a random lookup per row (ten times slower with a million rows, and the
	 * connection is held all along). They are grouped and sorted below instead.
	 */
	r = dbq_prepare(db,
			"SELECT id, instance_id, name, created_at, expires_at, stateful, scheduled"
			" FROM snapshots WHERE state = ?",
			&st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "i", (int64_t)DB_ROW_READY);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct inst_rank key = {.id = sqlite3_column_int64(st, 1)};
		const char *name = (const char *)sqlite3_column_text(st, 2);
		const struct inst_rank *inst =
		    n_insts ? bsearch(&key, insts, n_insts, sizeof(*insts), cmp_inst_id) : NULL;
		struct brief_row *row;

		/* A snapshot of an instance that is not READY (being created or deleted). */
		if (!inst)
			continue;
		if (!name || grow((void **)&rows, &rows_cap, n, sizeof(*rows)) < 0)
			return dbq_oom(err);
		row = &rows[n];
		*row = (struct brief_row){
		    .id = sqlite3_column_int64(st, 0),
		    .created_at = sqlite3_column_int64(st, 3),
		    .expires_at = sqlite3_column_int64(st, 4),
		    .rank = inst->rank,
		    .stateful = sqlite3_column_int(st, 5) != 0,
		    .scheduled = sqlite3_column_int(st, 6) != 0,
		};
		if (strpool_add(&pool, name, &row->name_off) < 0)
			return dbq_oom(err);
		n++;
	}
	if (rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot list the snapshots of all instances");
	dbq_finalizep(&st);
	r = dbq_txn_commit(&t, err);
	if (r < 0)
		return r;

	/* One block for the caller: the rows, then the strings they point to. */
	out = malloc(n * sizeof(*out) + pool.used + 1);
	next = calloc(n_insts + 1, sizeof(*next));
	if (!out || !next)
		return dbq_oom(err);
	base = (char *)(out + n);
	if (pool.used)
		memcpy(base, pool.buf, pool.used);
	strpool_done(&pool);
	/* Grouped by instance rank (a counting sort), then each group by created_at and id. */
	for (size_t i = 0; i < n; i++)
		next[rows[i].rank + 1]++;
	for (size_t k = 1; k <= n_insts; k++)
		next[k] += next[k - 1];
	for (size_t i = 0; i < n; i++) {
		const struct brief_row *row = &rows[i];

		out[next[row->rank]++] = (struct db_snapshot_brief){
		    .id = row->id,
		    .name = base + row->name_off,
		    .created_at = row->created_at,
		    .expires_at = row->expires_at,
		    .stateful = row->stateful,
		    .scheduled = row->scheduled,
		};
	}
	free(steal_pointer(&rows));
	/* Now next[rank] is where the group of `rank` ends (and the next one starts). */
	for (size_t k = 0; k < n_insts; k++) {
		const struct inst_rank *inst = &insts[k];
		size_t end = next[inst->rank], start = inst->rank ? next[inst->rank - 1] : 0;
		bool sorted = true;

		for (size_t i = start; i < end; i++)
			out[i].instance = base + inst->name_off;
		for (size_t i = start + 1; sorted && i < end; i++)
			sorted = cmp_brief(&out[i - 1], &out[i]) <= 0;
		if (!sorted)
			qsort(out + start, end - start, sizeof(*out), cmp_brief);
	}
	*ret = steal_pointer(&out);
	*ret_n = n;
	return 0;
}
