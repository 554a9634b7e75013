#include "config/db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db-internal.h"

/* The `profiles`, `profile_config` and `profile_devices` tables, and what instances and snapshots
 * share with them: devices and ordered profile lists. */

int dbq_load_devices(struct db *db, sqlite3_stmt *st, const int64_t *ids, size_t n,
		     struct devices *d0, size_t stride, struct err **err)
{
	_cleanup_kvlist_ struct kvlist keys = {0};
	_cleanup_free_ char *device = NULL;
	struct devices *target = NULL;
	size_t j = 0;
	int rc;

	/* Rows come grouped by owner and device: gather one device's keys, store them whole when
	 * the next device starts. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t owner = sqlite3_column_int64(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *key = (const char *)sqlite3_column_text(st, 2);
		const char *value = (const char *)sqlite3_column_text(st, 3);
		struct devices *d;

		while (j < n && ids[j] < owner)
			j++;
		if (j == n)
			break;
		if (ids[j] != owner)
			continue;
		if (!name || !key || !value)
			return dbq_oom(err);
		d = (struct devices *)((char *)d0 + j * stride);
		if (target && (target != d || strcmp(device, name) != 0)) {
			if (devices_set(target, device, &keys) < 0)
				return dbq_oom(err);
			kvlist_done(&keys);
			free(steal_pointer(&device));
		}
		if (!device) {
			device = strdup(name);
			if (!device)
				return dbq_oom(err);
		}
		target = d;
		if (kvlist_set(&keys, key, value) < 0)
			return dbq_oom(err);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot read the database");
	if (target && devices_set(target, device, &keys) < 0)
		return dbq_oom(err);
	return 0;
}

int dbq_load_profile_names(struct db *db, sqlite3_stmt *st, const int64_t *ids, size_t n,
			   char ***v0, size_t stride, struct err **err)
{
	size_t j = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t owner = sqlite3_column_int64(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);

		while (j < n && ids[j] < owner)
			j++;
		if (j == n)
			break;
		if (ids[j] != owner)
			continue;
		if (!name || strv_push((char ***)((char *)v0 + j * stride), name) < 0)
			return dbq_oom(err);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot read the database");
	return 0;
}

int dbq_insert_devices(struct db *db, const char *sql, int64_t owner, const struct devices *d,
		       struct err **err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	if (!d || d->n == 0)
		return 0;
	r = dbq_prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < d->n; i++)
		for (size_t k = 0; k < d->items[i].keys.n; k++) {
			sqlite3_reset(st);
			r = dbq_bind(db, st, err, "ittt", owner, d->items[i].name,
				     d->items[i].keys.items[k].key,
				     d->items[i].keys.items[k].value);
			if (r < 0)
				return r;
			rc = dbq_step(st);
			if (rc)
				return dbq_fail(db, rc, err, "Cannot store device \"%s\"",
						d->items[i].name);
		}
	return 0;
}

static int profile_id(struct db *db, const char *name, int64_t *ret, struct err **err)
{
	int r = dbq_lookup_id(db, "SELECT id FROM profiles WHERE name = ?", name, ret, err);

	if (r == -ENOENT)
		return err_set(err, r, "Profile \"%s\" not found", name);
	return r;
}

int dbq_insert_profile_refs(struct db *db, const char *sql, int64_t owner, char *const *names,
			    struct err **err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	if (!names || !names[0])
		return 0;
	r = dbq_prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	for (int64_t i = 0; names[i]; i++) {
		int64_t pid;

		r = profile_id(db, names[i], &pid, err);
		if (r < 0)
			return r;
		sqlite3_reset(st);
		r = dbq_bind(db, st, err, "iii", owner, pid, i);
		if (r < 0)
			return r;
		rc = dbq_step(st);
		if (dbq_errno(rc) == -EEXIST)
			return err_set(err, -EINVAL, "Profile \"%s\" is listed twice", names[i]);
		if (rc)
			return dbq_fail(db, rc, err, "Cannot store profile \"%s\"", names[i]);
	}
	return 0;
}

static int cmp_profile(const void *a, const void *b)
{
	return strcmp(((const struct profile *)a)->name, ((const struct profile *)b)->name);
}

static void profile_done_cb(void *p)
{
	profile_done(p);
}

/* Every profile, or the one named `only` (NULL: all), with config and devices, sorted by name.
 * The caller holds the lock and a transaction. */
static int load_profiles(struct db *db, const char *only, struct profile **ret, size_t *ret_n,
			 struct err **err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(dbq_rows_done) struct dbq_rows rows = {.size = sizeof(struct profile),
							 .done = profile_done_cb};
	_cleanup_free_ int64_t *ids = NULL;
	struct profile *v;
	int r, rc;

	r = dbq_prepare(
	    db,
	    only ? "SELECT id, name, description FROM profiles WHERE name = ? ORDER BY id"
		 : "SELECT id, name, description FROM profiles ORDER BY id",
	    &st, err);
	if (r < 0)
		return r;
	if (only && (r = dbq_bind(db, st, err, "t", only)) < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct profile *p = dbq_rows_add(&rows);
		int64_t *grown;

		if (!p || dbq_col_str(st, 1, &p->name) < 0 ||
		    dbq_col_str(st, 2, &p->description) < 0)
			return dbq_oom(err);
		grown = realloc(ids, rows.n * sizeof(*ids));
		if (!grown)
			return dbq_oom(err);
		ids = grown;
		ids[rows.n - 1] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot list profiles");
	dbq_finalizep(&st);
	v = rows.v;
	if (rows.n) {
		r = dbq_prepare(db,
				"SELECT profile_id, key, value FROM profile_config"
				" ORDER BY profile_id, key",
				&st, err);
		if (r < 0)
			return r;
		r = dbq_load_kv(db, st, ids, rows.n, &v[0].config, sizeof(*v), err);
		if (r < 0)
			return r;
		dbq_finalizep(&st);
		r = dbq_prepare(db,
				"SELECT profile_id, device, key, value FROM profile_devices"
				" ORDER BY profile_id, device, key",
				&st, err);
		if (r < 0)
			return r;
		r = dbq_load_devices(db, st, ids, rows.n, &v[0].devices, sizeof(*v), err);
		if (r < 0)
			return r;
		qsort(v, rows.n, sizeof(*v), cmp_profile);
	}
	*ret = steal_pointer(&rows.v);
	*ret_n = rows.n;
	rows.n = 0;
	return 0;
}

int db_profile_list(struct db *db, struct profile **ret, size_t *ret_n, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	int r;

	r = dbq_txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	r = load_profiles(db, NULL, ret, ret_n, err);
	if (r < 0)
		return r;
	return dbq_txn_commit(&t, err);
}

int db_profile_get(struct db *db, const char *name, struct profile *ret, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	struct profile *v = NULL;
	size_t n = 0;
	int r;

	r = dbq_txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	r = load_profiles(db, name, &v, &n, err);
	if (r < 0)
		return r;
	if (n == 0) {
		profiles_free(v, n);
		return err_set(err, -ENOENT, "Profile \"%s\" not found", name);
	}
	*ret = v[0];
	v[0] = (struct profile){0};
	profiles_free(v, n);
	return dbq_txn_commit(&t, err);
}

/* Replaces config and devices of the profile of id `id`. */
static int write_profile_settings(struct db *db, int64_t id, const struct profile *p,
				  struct err **err)
{
	int r;

	r = dbq_change_rows(db, "DELETE FROM profile_config WHERE profile_id = ?", err, "i", id);
	if (r < 0 && r != -ENOENT)
		return r;
	r = dbq_change_rows(db, "DELETE FROM profile_devices WHERE profile_id = ?", err, "i", id);
	if (r < 0 && r != -ENOENT)
		return r;
	r = dbq_insert_kv(db,
			  "INSERT INTO profile_config (profile_id, key, value) VALUES (?, ?, ?)",
			  id, &p->config, err);
	if (r < 0)
		return r;
	return dbq_insert_devices(
	    db, "INSERT INTO profile_devices (profile_id, device, key, value) VALUES (?, ?, ?, ?)",
	    id, &p->devices, err);
}

int db_profile_insert(struct db *db, const struct profile *p, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = dbq_prepare(db, "INSERT INTO profiles (name, description) VALUES (?, ?)", &st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "tt", p->name, p->description ? p->description : "");
	if (r < 0)
		return r;
	rc = dbq_step(st);
	if (dbq_errno(rc) == -EEXIST)
		return err_set(err, -EEXIST, "Profile \"%s\" already exists", p->name);
	if (rc)
		return dbq_fail(db, rc, err, "Cannot add profile \"%s\"", p->name);
	r = write_profile_settings(db, sqlite3_last_insert_rowid(db->conn), p, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot add profile \"%s\"", p->name);
	return dbq_txn_commit(&t, err);
}

int db_profile_update(struct db *db, const char *name, const struct profile *p, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	int64_t id;
	int r;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = profile_id(db, name, &id, err);
	if (r < 0)
		return r;
	r = dbq_change_rows(db, "UPDATE profiles SET description = ? WHERE id = ?", err, "ti",
			    p->description ? p->description : "", id);
	if (r < 0)
		return err_wrap(err, r, "Cannot update profile \"%s\"", name);
	r = write_profile_settings(db, id, p, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot update profile \"%s\"", name);
	return dbq_txn_commit(&t, err);
}

int db_profile_rename(struct db *db, const char *name, const char *new_name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r = dbq_change_rows(db, "UPDATE profiles SET name = ? WHERE name = ?", err, "tt",
				new_name, name);

	if (r == -ENOENT)
		return err_set(err, r, "Profile \"%s\" not found", name);
	if (r == -EEXIST)
		return err_set(err, r, "Profile \"%s\" already exists", new_name);
	return r < 0 ? err_wrap(err, r, "Cannot rename profile \"%s\"", name) : 0;
}

/* The instances first, then the snapshots, each sorted: one ORDER BY over the whole compound
 * query, on a rank and the names, since the order of rows out of a subquery is not defined. */
#define USED_BY_SQL                                                                                \
	"SELECT path FROM ("                                                                       \
	" SELECT '/1.0/instances/' || i.name AS path, 0 AS rank, i.name AS a, '' AS b"             \
	" FROM instance_profiles ip"                                                               \
	" JOIN instances i ON i.id = ip.instance_id JOIN profiles p ON p.id = ip.profile_id"       \
	" WHERE p.name = ?1"                                                                       \
	" UNION ALL SELECT '/1.0/instances/' || i.name || '/snapshots/' || s.name, 1, i.name,"     \
	" s.name FROM snapshot_profiles sp JOIN snapshots s ON s.id = sp.snapshot_id"              \
	" JOIN instances i ON i.id = s.instance_id JOIN profiles p ON p.id = sp.profile_id"        \
	" WHERE p.name = ?1) ORDER BY rank, a, b"

int db_profile_used_by(struct db *db, const char *name, char ***ret, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);

	return dbq_query_names(db, USED_BY_SQL, name, ret, err);
}

int db_profile_instances(struct db *db, const char *name, char ***ret, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);

	return dbq_query_names(db,
			       "SELECT i.name FROM instance_profiles ip"
			       " JOIN instances i ON i.id = ip.instance_id"
			       " JOIN profiles p ON p.id = ip.profile_id"
			       " WHERE p.name = ? ORDER BY i.name",
			       name, ret, err);
}

int db_profile_delete(struct db *db, const char *name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_strv_ char **users = NULL, **snaps = NULL;
	int r;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	/* The check and the delete in one transaction: no instance can take the profile in
	 * between. */
	r = dbq_query_names(
	    db,
	    "SELECT '\"' || i.name || '\"' FROM instance_profiles ip"
	    " JOIN instances i ON i.id = ip.instance_id"
	    " JOIN profiles p ON p.id = ip.profile_id WHERE p.name = ? ORDER BY i.name",
	    name, &users, err);
	if (r < 0)
		return r;
	r = dbq_query_names(
	    db,
	    "SELECT '\"' || i.name || '/' || s.name || '\"' FROM snapshot_profiles sp"
	    " JOIN snapshots s ON s.id = sp.snapshot_id"
	    " JOIN instances i ON i.id = s.instance_id"
	    " JOIN profiles p ON p.id = sp.profile_id WHERE p.name = ?"
	    " ORDER BY i.name, s.name",
	    name, &snaps, err);
	if (r < 0)
		return r;
	/* Worded as a refused pool delete is: `... in use by instances "c1", "c2" and snapshots
	 * "c2/s0"`. */
	if ((users && users[0]) || (snaps && snaps[0])) {
		_cleanup_free_ char *ilist = strv_join(users, ", "),
				    *slist = strv_join(snaps, ", ");

		if (!ilist || !slist)
			return dbq_oom(err);
		return err_set(err, -EBUSY, "Profile \"%s\" is in use by %s%s%s%s%s", name,
			       *ilist ? "instances " : "", ilist, *ilist && *slist ? " and " : "",
			       *slist ? "snapshots " : "", slist);
	}
	r = dbq_change_rows(db, "DELETE FROM profiles WHERE name = ?", err, "t", name);
	if (r == -ENOENT)
		return err_set(err, r, "Profile \"%s\" not found", name);
	if (r < 0)
		return err_wrap(err, r, "Cannot delete profile \"%s\"", name);
	return dbq_txn_commit(&t, err);
}

int dbq_instances_expand(struct db *db, struct db_instance *v, size_t n, struct err **err)
{
	struct profile *profiles = NULL;
	size_t np = 0;
	int r;

	r = load_profiles(db, NULL, &profiles, &np, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ const struct profile **applied =
		    calloc(strv_length(v[i].profiles) + 1, sizeof(*applied));
		size_t na = 0;

		if (!applied) {
			profiles_free(profiles, np);
			return dbq_oom(err);
		}
		for (size_t k = 0; v[i].profiles && v[i].profiles[k]; k++) {
			struct profile key = {.name = v[i].profiles[k]};
			const struct profile *p =
			    bsearch(&key, profiles, np, sizeof(*profiles), cmp_profile);

			if (p)
				applied[na++] = p;
		}
		kvlist_done(&v[i].expanded_config);
		devices_done(&v[i].expanded_devices);
		if (config_expand(applied, na, &v[i].config, &v[i].devices, &v[i].expanded_config,
				  &v[i].expanded_devices) < 0) {
			profiles_free(profiles, np);
			return dbq_oom(err);
		}
	}
	profiles_free(profiles, np);
	return 0;
}

int dbq_instances_load_settings(struct db *db, struct db_instance *v, size_t n, struct err **err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ int64_t *ids = NULL;
	int r;

	if (n == 0)
		return 0;
	ids = malloc(n * sizeof(*ids));
	if (!ids)
		return dbq_oom(err);
	for (size_t i = 0; i < n; i++)
		ids[i] = v[i].id;
	r = dbq_prepare(db,
			n == 1 ? "SELECT ip.instance_id, p.name FROM instance_profiles ip"
				 " JOIN profiles p ON p.id = ip.profile_id WHERE ip.instance_id = ?"
				 " ORDER BY ip.instance_id, ip.apply_order"
			       : "SELECT ip.instance_id, p.name FROM instance_profiles ip"
				 " JOIN profiles p ON p.id = ip.profile_id"
				 " ORDER BY ip.instance_id, ip.apply_order",
			&st, err);
	if (r < 0)
		return r;
	if (n == 1 && (r = dbq_bind(db, st, err, "i", ids[0])) < 0)
		return r;
	r = dbq_load_profile_names(db, st, ids, n, &v[0].profiles, sizeof(*v), err);
	if (r < 0)
		return r;
	dbq_finalizep(&st);
	r = dbq_prepare(db,
			n == 1 ? "SELECT instance_id, device, key, value FROM instance_devices"
				 " WHERE instance_id = ? ORDER BY instance_id, device, key"
			       : "SELECT instance_id, device, key, value FROM instance_devices"
				 " ORDER BY instance_id, device, key",
			&st, err);
	if (r < 0)
		return r;
	if (n == 1 && (r = dbq_bind(db, st, err, "i", ids[0])) < 0)
		return r;
	r = dbq_load_devices(db, st, ids, n, &v[0].devices, sizeof(*v), err);
	if (r < 0)
		return r;
	return dbq_instances_expand(db, v, n, err);
}
