#include "config/db.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db-internal.h"

/* The `images`, `image_properties` and `image_aliases` tables. */

void db_image_done(struct db_image *i)
{
	if (!i)
		return;
	free(i->fingerprint);
	free(i->pool);
	free(i->architecture);
	free(i->description);
	kvlist_done(&i->properties);
	strv_free(i->aliases);
	*i = (struct db_image){0};
}

void db_images_free(struct db_image *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_image_done(&v[i]);
	free(v);
}

static void image_done_cb(void *p)
{
	db_image_done(p);
}

#define IMAGE_COLUMNS                                                                              \
	"i.id, i.fingerprint, p.name, i.architecture, i.description, i.created_at,"                \
	" i.uploaded_at, i.size, i.state"
#define IMAGE_FROM " FROM images i LEFT JOIN pools p ON p.id = i.pool_id"

static int read_image(sqlite3_stmt *st, struct db_image *img, int64_t *ret_id)
{
	*ret_id = sqlite3_column_int64(st, 0);
	if (dbq_col_str(st, 1, &img->fingerprint) < 0 || dbq_col_str(st, 2, &img->pool) < 0 ||
	    dbq_col_str(st, 3, &img->architecture) < 0 || dbq_col_str(st, 4, &img->description) < 0)
		return -ENOMEM;
	img->created_at = sqlite3_column_int64(st, 5);
	img->uploaded_at = sqlite3_column_int64(st, 6);
	img->size = (uint64_t)sqlite3_column_int64(st, 7);
	img->state = dbq_col_state(st, 8);
	return 0;
}

/* Fills properties and aliases of `n` images with ascending ids[]: of the one image ids[0]
 * when `single`, else of all images in one query each. */
static int load_image_details(struct db *db, struct db_image *imgs, const int64_t *ids, size_t n,
			      bool single, struct err **err)
{
	_cleanup_stmt_ sqlite3_stmt *props = NULL;
	_cleanup_stmt_ sqlite3_stmt *aliases = NULL;
	size_t j = 0;
	int r, rc;

	if (n == 0)
		return 0;
	r = dbq_prepare(db,
			single
			    ? "SELECT image_id, key, value FROM image_properties WHERE image_id = ?"
			      " ORDER BY key"
			    : "SELECT image_id, key, value FROM image_properties"
			      " ORDER BY image_id, key",
			&props, err);
	if (r < 0)
		return r;
	if (single && (r = dbq_bind(db, props, err, "i", ids[0])) < 0)
		return r;
	r = dbq_load_kv(db, props, ids, n, &imgs[0].properties, sizeof(*imgs), err);
	if (r < 0)
		return r;

	r = dbq_prepare(
	    db,
	    single ? "SELECT image_id, name FROM image_aliases WHERE image_id = ? ORDER BY name"
		   : "SELECT image_id, name FROM image_aliases ORDER BY image_id, name",
	    &aliases, err);
	if (r < 0)
		return r;
	if (single && (r = dbq_bind(db, aliases, err, "i", ids[0])) < 0)
		return r;
	while ((rc = sqlite3_step(aliases)) == SQLITE_ROW) {
		int64_t owner = sqlite3_column_int64(aliases, 0);
		const char *name = (const char *)sqlite3_column_text(aliases, 1);

		while (j < n && ids[j] < owner)
			j++;
		if (j == n)
			break;
		if (ids[j] != owner)
			continue;
		if (!name || strv_push(&imgs[j].aliases, name) < 0)
			return dbq_oom(err);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot read image aliases");
	return 0;
}

int db_image_insert(struct db *db, const struct db_image *img, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t pid = 0, id;
	int r, rc;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	if (img->pool && (r = dbq_pool_id(db, img->pool, &pid, err)) < 0)
		return r;
	r = dbq_prepare(
	    db,
	    "INSERT INTO images (fingerprint, pool_id, architecture, description, created_at,"
	    " uploaded_at, size, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	    &st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "tpttiiii", img->fingerprint, pid,
		     img->architecture ? img->architecture : "",
		     img->description ? img->description : "", img->created_at, img->uploaded_at,
		     (int64_t)img->size, (int64_t)img->state);
	if (r < 0)
		return r;
	rc = dbq_step(st);
	if (dbq_errno(rc) == -EEXIST)
		return err_set(err, -EEXIST, "Image \"%s\" already exists", img->fingerprint);
	if (rc)
		return dbq_fail(db, rc, err, "Cannot add image \"%s\"", img->fingerprint);
	id = sqlite3_last_insert_rowid(db->conn);
	r = dbq_insert_kv(db,
			  "INSERT INTO image_properties (image_id, key, value) VALUES (?, ?, ?)",
			  id, &img->properties, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot add image \"%s\"", img->fingerprint);
	dbq_finalizep(&st);
	for (char **a = img->aliases; a && *a; a++) {
		if (!st) {
			r = dbq_prepare(db,
					"INSERT INTO image_aliases (name, image_id) VALUES (?, ?)",
					&st, err);
			if (r < 0)
				return r;
		}
		sqlite3_reset(st);
		r = dbq_bind(db, st, err, "ti", *a, id);
		if (r < 0)
			return r;
		rc = dbq_step(st);
		if (dbq_errno(rc) == -EEXIST)
			return err_set(err, -EEXIST, "Image alias \"%s\" already exists", *a);
		if (rc)
			return dbq_fail(db, rc, err, "Cannot add image alias \"%s\"", *a);
	}
	return dbq_txn_commit(&t, err);
}

int db_image_get(struct db *db, const char *fingerprint, struct db_image *ret, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(db_image_done) struct db_image img = {0};
	int64_t id;
	int r, rc;

	if (!fingerprint || !*fingerprint)
		return err_set(err, -ENOENT, "Image \"%s\" not found",
			       fingerprint ? fingerprint : "");
	r = dbq_txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	/* An exact match first, then up to two prefix matches: a second one means the prefix is
	 * ambiguous. */
	r = dbq_prepare(db,
			"SELECT " IMAGE_COLUMNS IMAGE_FROM
			" WHERE substr(i.fingerprint, 1, length(?1)) = ?1"
			" ORDER BY i.fingerprint = ?1 DESC LIMIT 2",
			&st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "t", fingerprint);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(err, -ENOENT, "Image \"%s\" not found", fingerprint);
	if (rc != SQLITE_ROW)
		return dbq_fail(db, rc, err, "Cannot read image \"%s\"", fingerprint);
	if (read_image(st, &img, &id) < 0)
		return dbq_oom(err);
	if (strcmp(img.fingerprint, fingerprint) != 0) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			return err_set(err, -EINVAL, "Image prefix \"%s\" is ambiguous",
				       fingerprint);
		if (rc != SQLITE_DONE)
			return dbq_fail(db, rc, err, "Cannot read image \"%s\"", fingerprint);
	}
	r = load_image_details(db, &img, &id, 1, true, err);
	if (r < 0)
		return r;
	r = dbq_txn_commit(&t, err);
	if (r < 0)
		return r;
	*ret = img;
	img = (struct db_image){0};
	return 0;
}

static int cmp_image(const void *a, const void *b)
{
	return strcmp(((const struct db_image *)a)->fingerprint,
		      ((const struct db_image *)b)->fingerprint);
}

int db_image_list(struct db *db, struct db_image **ret, size_t *ret_n, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(dbq_rows_done) struct dbq_rows rows = {.size = sizeof(struct db_image),
							 .done = image_done_cb};
	_cleanup_free_ int64_t *ids = NULL;
	size_t cap = 0;
	int r, rc;

	r = dbq_txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	r = dbq_prepare(db, "SELECT " IMAGE_COLUMNS IMAGE_FROM " ORDER BY i.id", &st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_image *img = dbq_rows_add(&rows);

		if (!img)
			return dbq_oom(err);
		if (rows.n > cap) {
			int64_t *v = realloc(ids, rows.cap * sizeof(*ids));

			if (!v)
				return dbq_oom(err);
			ids = v;
			cap = rows.cap;
		}
		if (read_image(st, img, &ids[rows.n - 1]) < 0)
			return dbq_oom(err);
	}
	if (rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot list images");
	r = load_image_details(db, rows.v, ids, rows.n, false, err);
	if (r < 0)
		return r;
	r = dbq_txn_commit(&t, err);
	if (r < 0)
		return r;
	if (rows.n)
		qsort(rows.v, rows.n, rows.size, cmp_image);
	*ret = steal_pointer(&rows.v);
	*ret_n = rows.n;
	rows.n = 0;
	return 0;
}

int db_image_set_state(struct db *db, const char *fingerprint, enum db_row_state state,
		       struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r = dbq_change_rows(db, "UPDATE images SET state = ? WHERE fingerprint = ?", err, "it",
				(int64_t)state, fingerprint);

	if (r == -ENOENT)
		return err_set(err, r, "Image \"%s\" not found", fingerprint);
	return r < 0 ? err_wrap(err, r, "Cannot update image \"%s\"", fingerprint) : 0;
}

int db_image_delete(struct db *db, const char *fingerprint, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r =
	    dbq_change_rows(db, "DELETE FROM images WHERE fingerprint = ?", err, "t", fingerprint);

	if (r == -ENOENT)
		return err_set(err, r, "Image \"%s\" not found", fingerprint);
	return r < 0 ? err_wrap(err, r, "Cannot delete image \"%s\"", fingerprint) : 0;
}

int db_image_users(struct db *db, const char *fingerprint, char ***ret_names, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);

	return dbq_query_names(db, "SELECT name FROM instances WHERE image = ? ORDER BY name",
			       fingerprint, ret_names, err);
}

int db_alias_add(struct db *db, const char *name, const char *fingerprint, const char *description,
		 struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_txn_ struct dbq_txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t id;
	int r, rc;

	r = dbq_txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = dbq_image_id(db, fingerprint, &id, err);
	if (r < 0)
		return r;
	r = dbq_prepare(db,
			"INSERT INTO image_aliases (name, image_id, description) VALUES (?, ?, ?)",
			&st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "tit", name, id, description ? description : "");
	if (r < 0)
		return r;
	rc = dbq_step(st);
	if (dbq_errno(rc) == -EEXIST)
		return err_set(err, -EEXIST, "Image alias \"%s\" already exists", name);
	if (rc)
		return dbq_fail(db, rc, err, "Cannot add image alias \"%s\"", name);
	return dbq_txn_commit(&t, err);
}

int db_alias_delete(struct db *db, const char *name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	int r = dbq_change_rows(db, "DELETE FROM image_aliases WHERE name = ?", err, "t", name);

	if (r == -ENOENT)
		return err_set(err, r, "Image alias \"%s\" not found", name);
	return r < 0 ? err_wrap(err, r, "Cannot delete image alias \"%s\"", name) : 0;
}

int db_alias_get(struct db *db, const char *name, char **ret_fingerprint, char **ret_description,
		 struct err **err)
{
	_cleanup_unlock_ struct db *locked = dbq_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ char *fp = NULL, *desc = NULL;
	int r, rc;

	r = dbq_prepare(db,
			"SELECT i.fingerprint, a.description FROM image_aliases a"
			" JOIN images i ON i.id = a.image_id WHERE a.name = ?",
			&st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "t", name);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(err, -ENOENT, "Image alias \"%s\" not found", name);
	if (rc != SQLITE_ROW)
		return dbq_fail(db, rc, err, "Cannot read image alias \"%s\"", name);
	if (dbq_col_str(st, 0, &fp) < 0 || !fp || dbq_col_str(st, 1, &desc) < 0)
		return dbq_oom(err);
	if (ret_description) {
		*ret_description = desc ? steal_pointer(&desc) : strdup("");
		if (!*ret_description)
			return dbq_oom(err);
	}
	*ret_fingerprint = steal_pointer(&fp);
	return 0;
}

int db_alias_resolve(struct db *db, const char *name, char **ret_fingerprint, struct err **err)
{
	return db_alias_get(db, name, ret_fingerprint, NULL, err);
}
