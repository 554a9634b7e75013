#include "config/db.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

/*
 * One connection shared by every thread. SQLITE_OPEN_FULLMUTEX makes each API call safe, but
 * a transaction spans several calls and SQLite keeps one transaction per connection: without
 * our own lock, a statement of thread B would land inside thread A's BEGIN ... COMMIT. So every
 * public function holds `lock` from its first statement to its last.
 */
struct db {
	sqlite3 *conn;
	pthread_mutex_t lock;
};

/* ---- schema ---- */

/*
 * migrations[i] brings the schema from version i to i + 1 (PRAGMA user_version). Append new
 * steps; never edit a released one, databases in the field have already run it.
 */
static const char *const migrations[] = {
    "CREATE TABLE pools ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  driver TEXT NOT NULL,"
    "  source TEXT NOT NULL DEFAULT '',"
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  description TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE images ("
    "  id INTEGER PRIMARY KEY,"
    "  fingerprint TEXT NOT NULL UNIQUE,"
    "  pool_id INTEGER REFERENCES pools(id),"
    "  architecture TEXT NOT NULL DEFAULT '',"
    "  description TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL DEFAULT 0,"
    "  uploaded_at INTEGER NOT NULL DEFAULT 0,"
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  state INTEGER NOT NULL DEFAULT 1 CHECK (state BETWEEN 0 AND 2));"
    "CREATE INDEX images_pool ON images(pool_id);"
    "CREATE TABLE image_properties ("
    "  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (image_id, key));"
    "CREATE TABLE image_aliases ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    "  description TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX image_aliases_image ON image_aliases(image_id);"
    /* `image` is a fingerprint, not a reference: Incus lets an image be deleted while
     * instances made from it live on. */
    "CREATE TABLE instances ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  pool_id INTEGER REFERENCES pools(id),"
    "  image TEXT,"
    "  architecture TEXT NOT NULL DEFAULT '',"
    "  description TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL DEFAULT 0,"
    "  last_used_at INTEGER NOT NULL DEFAULT 0,"
    "  state INTEGER NOT NULL DEFAULT 1 CHECK (state BETWEEN 0 AND 2));"
    "CREATE INDEX instances_pool ON instances(pool_id);"
    "CREATE INDEX instances_image ON instances(image);"
    "CREATE TABLE instance_config ("
    "  instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (instance_id, key));"
    "CREATE TABLE snapshots ("
    "  id INTEGER PRIMARY KEY,"
    "  instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL DEFAULT 0,"
    "  expires_at INTEGER NOT NULL DEFAULT 0,"
    "  stateful INTEGER NOT NULL DEFAULT 0,"
    "  scheduled INTEGER NOT NULL DEFAULT 0,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  state INTEGER NOT NULL DEFAULT 1 CHECK (state BETWEEN 0 AND 2),"
    "  UNIQUE (instance_id, name));"
    /* The pruner looks for expired snapshots across all instances. */
    "CREATE INDEX snapshots_expiry ON snapshots(expires_at) WHERE expires_at != 0;"
    "CREATE TABLE snapshot_config ("
    "  snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (snapshot_id, key));",
    /* The journal of multi-step operations (snapshot rename and restore): a row is written
     * before the first step and removed after the last; the recovery pass rolls every row it
     * finds forward. */
    "CREATE TABLE pending ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  instance TEXT NOT NULL,"
    "  a TEXT NOT NULL DEFAULT '',"
    "  b TEXT NOT NULL DEFAULT '',"
    "  flags INTEGER NOT NULL DEFAULT 0);",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* How long a statement waits for a lock held by another connection (a second process such as
 * `sqlite3` opened by an admin) before giving up with -EBUSY. */
#define BUSY_TIMEOUT_MS 5000

/* ---- helpers ---- */

static void finalizep(sqlite3_stmt **st)
{
	if (*st)
		sqlite3_finalize(*st);
	*st = NULL;
}
#define _cleanup_stmt_ _cleanup_(finalizep)

static void db_unlockp(struct db **db)
{
	if (*db)
		pthread_mutex_unlock(&(*db)->lock);
	*db = NULL;
}
#define _cleanup_unlock_ _cleanup_(db_unlockp)

static struct db *db_lock(struct db *db)
{
	pthread_mutex_lock(&db->lock);
	return db;
}

static int sqlite_errno(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return -EEXIST;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		break;
	}
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	default:
		return -EIO;
	}
}

/* Fills *err from a failed SQLite call: "<context>: <sqlite3_errmsg>". */
static int db_fail(struct db *db, int rc, struct err **err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int db_fail(struct db *db, int rc, struct err **err, const char *fmt, ...)
{
	_cleanup_free_ char *ctx = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&ctx, fmt, ap) < 0)
		ctx = NULL;
	va_end(ap);
	return err_set(err, sqlite_errno(rc), "%s: %s", ctx ? ctx : "Database error",
		       sqlite3_errmsg(db->conn));
}

static int prepare(struct db *db, const char *sql, sqlite3_stmt **ret, struct err **err)
{
	int rc = sqlite3_prepare_v2(db->conn, sql, -1, ret, NULL);

	if (rc != SQLITE_OK)
		return db_fail(db, rc, err, "Cannot prepare database query");
	return 0;
}

/*
 * Binds parameters 1.. from `types`: 't' a string (NULL binds SQL NULL), 'i' an int64_t,
 * 'p' an int64_t row id where 0 binds SQL NULL, 'b' a bool (passed as int). The strings must
 * outlive the statement.
 */
static int vbind(struct db *db, sqlite3_stmt *st, struct err **err, const char *types, va_list ap)
{
	int rc = SQLITE_OK;

	for (int i = 0; types[i] && rc == SQLITE_OK; i++) {
		const char *s;
		int64_t n;

		switch (types[i]) {
		case 't':
			s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(st, i + 1, s, -1, SQLITE_STATIC)
			       : sqlite3_bind_null(st, i + 1);
			break;
		case 'i':
			rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
			break;
		case 'p':
			n = va_arg(ap, int64_t);
			rc = n ? sqlite3_bind_int64(st, i + 1, n) : sqlite3_bind_null(st, i + 1);
			break;
		case 'b':
			rc = sqlite3_bind_int(st, i + 1, va_arg(ap, int) ? 1 : 0);
			break;
		default:
			rc = SQLITE_MISUSE;
			break;
		}
	}
	if (rc != SQLITE_OK)
		return db_fail(db, rc, err, "Cannot bind database query parameters");
	return 0;
}

static int bind(struct db *db, sqlite3_stmt *st, struct err **err, const char *types, ...)
{
	va_list ap;
	int r;

	va_start(ap, types);
	r = vbind(db, st, err, types, ap);
	va_end(ap);
	return r;
}

/* Runs a statement that returns no rows. Returns the SQLite code so callers can turn a
 * constraint into a precise message; 0 on success. */
static int step_rc(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	return rc == SQLITE_DONE ? 0 : rc;
}

static int exec(struct db *db, const char *sql, struct err **err)
{
	int rc = sqlite3_exec(db->conn, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return db_fail(db, rc, err, "Database statement failed");
	return 0;
}

/* A transaction that rolls back when it leaves scope uncommitted. Declare it after the lock
 * guard so that it is rolled back before the lock is released. */
struct txn {
	struct db *db; /* NULL when no transaction is open */
};

static void txn_rollbackp(struct txn *t)
{
	if (t->db)
		sqlite3_exec(t->db->conn, "ROLLBACK", NULL, NULL, NULL);
	t->db = NULL;
}
#define _cleanup_txn_ _cleanup_(txn_rollbackp)

/* Writers take the write lock at BEGIN: a deferred transaction that upgrades later can fail
 * with SQLITE_BUSY without waiting for the busy timeout. */
static int txn_begin(struct db *db, struct txn *t, bool write, struct err **err)
{
	int r = exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN", err);

	if (r < 0)
		return r;
	t->db = db;
	return 0;
}

static int txn_commit(struct txn *t, struct err **err)
{
	int r = exec(t->db, "COMMIT", err);

	if (r < 0)
		return r;
	t->db = NULL;
	return 0;
}

/* Copies a text column; a SQL NULL gives NULL. -ENOMEM on failure. */
static int col_str(sqlite3_stmt *st, int col, char **ret)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	if (!s) {
		*ret = NULL;
		return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : -ENOMEM;
	}
	*ret = strdup((const char *)s);
	return *ret ? 0 : -ENOMEM;
}

static enum db_row_state col_state(sqlite3_stmt *st, int col)
{
	int v = sqlite3_column_int(st, col);

	/* The CHECK constraint keeps other values out of the table. */
	return v >= 0 && v < DB_ROW_STATE_MAX ? (enum db_row_state)v : DB_ROW_CREATING;
}

static int oom(struct err **err)
{
	return err_set(err, -ENOMEM, "Out of memory reading the database");
}

/* Looks up the id of a row by name with a one-column query; -ENOENT (without a message) when
 * no row matches. */
static int lookup_id(struct db *db, const char *sql, const char *name, int64_t *ret,
		     struct err **err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "t", name);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return db_fail(db, rc, err, "Cannot read the database");
	*ret = sqlite3_column_int64(st, 0);
	return 0;
}

static int pool_id(struct db *db, const char *name, int64_t *ret, struct err **err)
{
	int r = lookup_id(db, "SELECT id FROM pools WHERE name = ?", name, ret, err);

	if (r == -ENOENT)
		return err_set(err, r, "Storage pool \"%s\" not found", name);
	return r;
}

static int instance_id(struct db *db, const char *name, int64_t *ret, struct err **err)
{
	int r = lookup_id(db, "SELECT id FROM instances WHERE name = ?", name, ret, err);

	if (r == -ENOENT)
		return err_set(err, r, "Instance \"%s\" not found", name);
	return r;
}

static int image_id(struct db *db, const char *fingerprint, int64_t *ret, struct err **err)
{
	int r = lookup_id(db, "SELECT id FROM images WHERE fingerprint = ?", fingerprint, ret, err);

	if (r == -ENOENT)
		return err_set(err, r, "Image \"%s\" not found", fingerprint);
	return r;
}

/* Inserts (owner, key, value) rows for every entry of `kv` with `sql`. */
static int insert_kv(struct db *db, const char *sql, int64_t owner, const struct kvlist *kv,
		     struct err **err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	if (!kv || kv->n == 0)
		return 0;
	r = prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < kv->n; i++) {
		sqlite3_reset(st);
		r = bind(db, st, err, "itt", owner, kv->items[i].key, kv->items[i].value);
		if (r < 0)
			return r;
		rc = step_rc(st);
		if (rc)
			return db_fail(db, rc, err, "Cannot store key \"%s\"", kv->items[i].key);
	}
	return 0;
}

/*
 * Reads (owner_id, key, value) rows, ordered by owner_id, from `st` into the kvlists of `n`
 * rows laid out `stride` bytes apart from `kv0`, whose ids ids[] are ascending: one query for
 * all the rows instead of one per row.
 */
static int load_kv(struct db *db, sqlite3_stmt *st, const int64_t *ids, size_t n,
		   struct kvlist *kv0, size_t stride, struct err **err)
{
	size_t j = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t owner = sqlite3_column_int64(st, 0);
		const char *key = (const char *)sqlite3_column_text(st, 1);
		const char *value = (const char *)sqlite3_column_text(st, 2);
		struct kvlist *kv;

		while (j < n && ids[j] < owner)
			j++;
		if (j == n)
			break;
		if (ids[j] != owner)
			continue;
		if (!key || !value)
			return oom(err);
		kv = (struct kvlist *)((char *)kv0 + j * stride);
		if (kvlist_set(kv, key, value) < 0)
			return oom(err);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, rc, err, "Cannot read the database");
	return 0;
}

/* Runs a one-column query of names into a NULL-terminated array (empty, not NULL, when no row
 * matches). */
static int query_names(struct db *db, const char *sql, const char *arg, char ***ret,
		       struct err **err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_strv_ char **names = NULL;
	int r, rc;

	names = calloc(1, sizeof(char *));
	if (!names)
		return oom(err);
	r = prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "t", arg);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);

		if (!s || strv_push(&names, s) < 0)
			return oom(err);
	}
	if (rc != SQLITE_DONE)
		return db_fail(db, rc, err, "Cannot read the database");
	*ret = steal_pointer(&names);
	return 0;
}

/* ---- open and close ---- */

static int migrate(struct db *db, struct err **err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int version, r, rc;

	r = prepare(db, "PRAGMA user_version", &st, err);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return db_fail(db, rc, err, "Cannot read the database schema version");
	version = sqlite3_column_int(st, 0);
	if (version > SCHEMA_VERSION)
		return err_set(
		    err, -EPROTO,
		    "Database schema version %d is newer than this version of cairn supports (%d)",
		    version, SCHEMA_VERSION);
	for (; version < SCHEMA_VERSION; version++) {
		_cleanup_txn_ struct txn t = {0};
		_cleanup_free_ char *bump = str_printf("PRAGMA user_version = %d", version + 1);

		if (!bump)
			return oom(err);
		r = txn_begin(db, &t, true, err);
		if (r < 0)
			return r;
		r = exec(db, migrations[version], err);
		if (r < 0)
			return err_wrap(err, r, "Cannot update the database schema to version %d",
					version + 1);
		r = exec(db, bump, err);
		if (r < 0)
			return r;
		r = txn_commit(&t, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static void db_freep(struct db **db)
{
	db_close(*db);
	*db = NULL;
}

int db_open(const char *path, struct db **ret, struct err **err)
{
	_cleanup_(db_freep) struct db *db = NULL;
	_cleanup_close_ int fd = -EBADF;
	int rc, r;

	/* Create the file ourselves so that it is private from the start: it names every
	 * instance and holds their config. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set_errno(err, -errno, "Cannot open database \"%s\"", path);
	db = calloc(1, sizeof(*db));
	if (!db)
		return err_set(err, -ENOMEM, "Out of memory opening database \"%s\"", path);
	pthread_mutex_init(&db->lock, NULL);
	rc = sqlite3_open_v2(path, &db->conn,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX |
				 SQLITE_OPEN_NOFOLLOW,
			     NULL);
	if (rc != SQLITE_OK) {
		if (!db->conn)
			return err_set(err, -ENOMEM, "Out of memory opening database \"%s\"", path);
		return db_fail(db, rc, err, "Cannot open database \"%s\"", path);
	}
	sqlite3_extended_result_codes(db->conn, 1);
	sqlite3_busy_timeout(db->conn, BUSY_TIMEOUT_MS);
	/* WAL keeps readers off the writer's back; synchronous=FULL fsyncs the WAL at every
	 * commit so that a committed row survives power loss, which crash recovery relies on. */
	r = exec(db,
		 "PRAGMA journal_mode = WAL;"
		 "PRAGMA synchronous = FULL;"
		 "PRAGMA foreign_keys = ON;",
		 err);
	if (r < 0)
		return err_wrap(err, r, "Cannot set up database \"%s\"", path);
	r = migrate(db, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot set up database \"%s\"", path);
	*ret = steal_pointer(&db);
	return 0;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	sqlite3_close_v2(db->conn);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

/* ---- row destructors ---- */

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
	*i = (struct db_instance){0};
}

void db_snapshot_done(struct db_snapshot *s)
{
	if (!s)
		return;
	free(s->instance);
	free(s->name);
	free(s->description);
	kvlist_done(&s->config);
	*s = (struct db_snapshot){0};
}

void db_pools_free(struct db_pool *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_pool_done(&v[i]);
	free(v);
}

void db_images_free(struct db_image *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_image_done(&v[i]);
	free(v);
}

void db_instances_free(struct db_instance *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_instance_done(&v[i]);
	free(v);
}

void db_snapshots_free(struct db_snapshot *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_snapshot_done(&v[i]);
	free(v);
}

/* A growable array of rows for the list functions; freed with its rows on scope exit. */
struct rows {
	void *v;
	size_t n, cap, size;
	void (*done)(void *row);
};

static void rows_done(struct rows *r)
{
	for (size_t i = 0; r->v && i < r->n; i++)
		r->done((char *)r->v + i * r->size);
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}

/* A zeroed new row at the end, or NULL when out of memory. */
static void *rows_add(struct rows *r)
{
	void *row;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		void *v = realloc(r->v, cap * r->size);

		if (!v)
			return NULL;
		r->v = v;
		r->cap = cap;
	}
	row = (char *)r->v + r->n * r->size;
	memset(row, 0, r->size);
	r->n++;
	return row;
}

static void pool_done_cb(void *p)
{
	db_pool_done(p);
}
static void image_done_cb(void *p)
{
	db_image_done(p);
}
static void instance_done_cb(void *p)
{
	db_instance_done(p);
}
static void snapshot_done_cb(void *p)
{
	db_snapshot_done(p);
}

/* ---- pools ---- */

#define POOL_COLUMNS "name, driver, source, size, description"

static int read_pool(sqlite3_stmt *st, struct db_pool *p)
{
	if (col_str(st, 0, &p->name) < 0 || col_str(st, 1, &p->driver) < 0 ||
	    col_str(st, 2, &p->source) < 0 || col_str(st, 4, &p->description) < 0)
		return -ENOMEM;
	p->size = (uint64_t)sqlite3_column_int64(st, 3);
	return 0;
}

int db_pool_insert(struct db *db, const struct db_pool *p, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = prepare(db, "INSERT INTO pools (" POOL_COLUMNS ") VALUES (?, ?, ?, ?, ?)", &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "tttit", p->name, p->driver ? p->driver : "",
		 p->source ? p->source : "", (int64_t)p->size,
		 p->description ? p->description : "");
	if (r < 0)
		return r;
	rc = step_rc(st);
	if (sqlite_errno(rc) == -EEXIST)
		return err_set(err, -EEXIST, "Storage pool \"%s\" already exists", p->name);
	if (rc)
		return db_fail(db, rc, err, "Cannot add storage pool \"%s\"", p->name);
	return 0;
}

int db_pool_get(struct db *db, const char *name, struct db_pool *ret, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(db_pool_done) struct db_pool p = {0};
	int r, rc;

	r = prepare(db, "SELECT " POOL_COLUMNS " FROM pools WHERE name = ?", &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "t", name);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", name);
	if (rc != SQLITE_ROW)
		return db_fail(db, rc, err, "Cannot read storage pool \"%s\"", name);
	if (read_pool(st, &p) < 0)
		return oom(err);
	*ret = p;
	p = (struct db_pool){0};
	return 0;
}

int db_pool_list(struct db *db, struct db_pool **ret, size_t *ret_n, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(rows_done) struct rows rows = {.size = sizeof(struct db_pool),
						 .done = pool_done_cb};
	int r, rc;

	r = prepare(db, "SELECT " POOL_COLUMNS " FROM pools ORDER BY name", &st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_pool *p = rows_add(&rows);

		if (!p || read_pool(st, p) < 0)
			return oom(err);
	}
	if (rc != SQLITE_DONE)
		return db_fail(db, rc, err, "Cannot list storage pools");
	*ret = steal_pointer(&rows.v);
	*ret_n = rows.n;
	rows.n = 0;
	return 0;
}

int db_pool_delete(struct db *db, const char *name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_txn_ struct txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t id;
	int r, rc;

	r = txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = pool_id(db, name, &id, err);
	if (r < 0)
		return r;
	r = prepare(db,
		    "SELECT (SELECT count(*) FROM instances WHERE pool_id = ?1) +"
		    " (SELECT count(*) FROM images WHERE pool_id = ?1)",
		    &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "i", id);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return db_fail(db, rc, err, "Cannot read storage pool \"%s\"", name);
	if (sqlite3_column_int64(st, 0) > 0)
		return err_set(err, -EBUSY, "Storage pool \"%s\" is in use", name);
	finalizep(&st);
	r = prepare(db, "DELETE FROM pools WHERE id = ?", &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "i", id);
	if (r < 0)
		return r;
	rc = step_rc(st);
	if (rc)
		return db_fail(db, rc, err, "Cannot delete storage pool \"%s\"", name);
	return txn_commit(&t, err);
}

int db_pool_users(struct db *db, const char *pool, char ***ret_names, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);

	return query_names(db,
			   "SELECT i.name FROM instances i JOIN pools p ON p.id = i.pool_id"
			   " WHERE p.name = ? ORDER BY i.name",
			   pool, ret_names, err);
}

/* ---- images and aliases ---- */

#define IMAGE_COLUMNS                                                                              \
	"i.id, i.fingerprint, p.name, i.architecture, i.description, i.created_at,"                \
	" i.uploaded_at, i.size, i.state"
#define IMAGE_FROM " FROM images i LEFT JOIN pools p ON p.id = i.pool_id"

static int read_image(sqlite3_stmt *st, struct db_image *img, int64_t *ret_id)
{
	*ret_id = sqlite3_column_int64(st, 0);
	if (col_str(st, 1, &img->fingerprint) < 0 || col_str(st, 2, &img->pool) < 0 ||
	    col_str(st, 3, &img->architecture) < 0 || col_str(st, 4, &img->description) < 0)
		return -ENOMEM;
	img->created_at = sqlite3_column_int64(st, 5);
	img->uploaded_at = sqlite3_column_int64(st, 6);
	img->size = (uint64_t)sqlite3_column_int64(st, 7);
	img->state = col_state(st, 8);
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
	r = prepare(db,
		    single ? "SELECT image_id, key, value FROM image_properties WHERE image_id = ?"
			     " ORDER BY key"
			   : "SELECT image_id, key, value FROM image_properties"
			     " ORDER BY image_id, key",
		    &props, err);
	if (r < 0)
		return r;
	if (single && (r = bind(db, props, err, "i", ids[0])) < 0)
		return r;
	r = load_kv(db, props, ids, n, &imgs[0].properties, sizeof(*imgs), err);
	if (r < 0)
		return r;

	r = prepare(
	    db,
	    single ? "SELECT image_id, name FROM image_aliases WHERE image_id = ? ORDER BY name"
		   : "SELECT image_id, name FROM image_aliases ORDER BY image_id, name",
	    &aliases, err);
	if (r < 0)
		return r;
	if (single && (r = bind(db, aliases, err, "i", ids[0])) < 0)
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
			return oom(err);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, rc, err, "Cannot read image aliases");
	return 0;
}

int db_image_insert(struct db *db, const struct db_image *img, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_txn_ struct txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t pid = 0, id;
	int r, rc;

	r = txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	if (img->pool && (r = pool_id(db, img->pool, &pid, err)) < 0)
		return r;
	r = prepare(
	    db,
	    "INSERT INTO images (fingerprint, pool_id, architecture, description, created_at,"
	    " uploaded_at, size, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	    &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "tpttiiii", img->fingerprint, pid,
		 img->architecture ? img->architecture : "",
		 img->description ? img->description : "", img->created_at, img->uploaded_at,
		 (int64_t)img->size, (int64_t)img->state);
	if (r < 0)
		return r;
	rc = step_rc(st);
	if (sqlite_errno(rc) == -EEXIST)
		return err_set(err, -EEXIST, "Image \"%s\" already exists", img->fingerprint);
	if (rc)
		return db_fail(db, rc, err, "Cannot add image \"%s\"", img->fingerprint);
	id = sqlite3_last_insert_rowid(db->conn);
	r = insert_kv(db, "INSERT INTO image_properties (image_id, key, value) VALUES (?, ?, ?)",
		      id, &img->properties, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot add image \"%s\"", img->fingerprint);
	finalizep(&st);
	for (char **a = img->aliases; a && *a; a++) {
		if (!st) {
			r = prepare(db, "INSERT INTO image_aliases (name, image_id) VALUES (?, ?)",
				    &st, err);
			if (r < 0)
				return r;
		}
		sqlite3_reset(st);
		r = bind(db, st, err, "ti", *a, id);
		if (r < 0)
			return r;
		rc = step_rc(st);
		if (sqlite_errno(rc) == -EEXIST)
			return err_set(err, -EEXIST, "Image alias \"%s\" already exists", *a);
		if (rc)
			return db_fail(db, rc, err, "Cannot add image alias \"%s\"", *a);
	}
	return txn_commit(&t, err);
}

int db_image_get(struct db *db, const char *fingerprint, struct db_image *ret, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_txn_ struct txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(db_image_done) struct db_image img = {0};
	int64_t id;
	int r, rc;

	if (!fingerprint || !*fingerprint)
		return err_set(err, -ENOENT, "Image \"%s\" not found",
			       fingerprint ? fingerprint : "");
	r = txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	/* An exact match first, then up to two prefix matches: a second one means the prefix is
	 * ambiguous. */
	r = prepare(db,
		    "SELECT " IMAGE_COLUMNS IMAGE_FROM
		    " WHERE substr(i.fingerprint, 1, length(?1)) = ?1"
		    " ORDER BY i.fingerprint = ?1 DESC LIMIT 2",
		    &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "t", fingerprint);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(err, -ENOENT, "Image \"%s\" not found", fingerprint);
	if (rc != SQLITE_ROW)
		return db_fail(db, rc, err, "Cannot read image \"%s\"", fingerprint);
	if (read_image(st, &img, &id) < 0)
		return oom(err);
	if (strcmp(img.fingerprint, fingerprint) != 0) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			return err_set(err, -EINVAL, "Image prefix \"%s\" is ambiguous",
				       fingerprint);
		if (rc != SQLITE_DONE)
			return db_fail(db, rc, err, "Cannot read image \"%s\"", fingerprint);
	}
	r = load_image_details(db, &img, &id, 1, true, err);
	if (r < 0)
		return r;
	r = txn_commit(&t, err);
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
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_txn_ struct txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(rows_done) struct rows rows = {.size = sizeof(struct db_image),
						 .done = image_done_cb};
	_cleanup_free_ int64_t *ids = NULL;
	size_t cap = 0;
	int r, rc;

	r = txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	r = prepare(db, "SELECT " IMAGE_COLUMNS IMAGE_FROM " ORDER BY i.id", &st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_image *img = rows_add(&rows);

		if (!img)
			return oom(err);
		if (rows.n > cap) {
			int64_t *v = realloc(ids, rows.cap * sizeof(*ids));

			if (!v)
				return oom(err);
			ids = v;
			cap = rows.cap;
		}
		if (read_image(st, img, &ids[rows.n - 1]) < 0)
			return oom(err);
	}
	if (rc != SQLITE_DONE)
		return db_fail(db, rc, err, "Cannot list images");
	r = load_image_details(db, rows.v, ids, rows.n, false, err);
	if (r < 0)
		return r;
	r = txn_commit(&t, err);
	if (r < 0)
		return r;
	if (rows.n)
		qsort(rows.v, rows.n, rows.size, cmp_image);
	*ret = steal_pointer(&rows.v);
	*ret_n = rows.n;
	rows.n = 0;
	return 0;
}

/*
 * Runs an UPDATE or DELETE bound with `types` (see vbind()). -ENOENT when no row changed and
 * -EEXIST on a uniqueness conflict, both without a message so that the caller names the
 * object; any other failure fills *err.
 */
static int change_rows(struct db *db, const char *sql, struct err **err, const char *types, ...)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	va_list ap;
	int r, rc;

	r = prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	va_start(ap, types);
	r = vbind(db, st, err, types, ap);
	va_end(ap);
	if (r < 0)
		return r;
	rc = step_rc(st);
	if (rc && sqlite_errno(rc) == -EEXIST)
		return -EEXIST;
	if (rc)
		return db_fail(db, rc, err, "Cannot update the database");
	return sqlite3_changes(db->conn) > 0 ? 0 : -ENOENT;
}

int db_image_set_state(struct db *db, const char *fingerprint, enum db_row_state state,
		       struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	int r = change_rows(db, "UPDATE images SET state = ? WHERE fingerprint = ?", err, "it",
			    (int64_t)state, fingerprint);

	if (r == -ENOENT)
		return err_set(err, r, "Image \"%s\" not found", fingerprint);
	return r < 0 ? err_wrap(err, r, "Cannot update image \"%s\"", fingerprint) : 0;
}

int db_image_delete(struct db *db, const char *fingerprint, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	int r = change_rows(db, "DELETE FROM images WHERE fingerprint = ?", err, "t", fingerprint);

	if (r == -ENOENT)
		return err_set(err, r, "Image \"%s\" not found", fingerprint);
	return r < 0 ? err_wrap(err, r, "Cannot delete image \"%s\"", fingerprint) : 0;
}

int db_image_users(struct db *db, const char *fingerprint, char ***ret_names, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);

	return query_names(db, "SELECT name FROM instances WHERE image = ? ORDER BY name",
			   fingerprint, ret_names, err);
}

int db_alias_add(struct db *db, const char *name, const char *fingerprint, const char *description,
		 struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_txn_ struct txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t id;
	int r, rc;

	r = txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = image_id(db, fingerprint, &id, err);
	if (r < 0)
		return r;
	r = prepare(db, "INSERT INTO image_aliases (name, image_id, description) VALUES (?, ?, ?)",
		    &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "tit", name, id, description ? description : "");
	if (r < 0)
		return r;
	rc = step_rc(st);
	if (sqlite_errno(rc) == -EEXIST)
		return err_set(err, -EEXIST, "Image alias \"%s\" already exists", name);
	if (rc)
		return db_fail(db, rc, err, "Cannot add image alias \"%s\"", name);
	return txn_commit(&t, err);
}

int db_alias_delete(struct db *db, const char *name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	int r = change_rows(db, "DELETE FROM image_aliases WHERE name = ?", err, "t", name);

	if (r == -ENOENT)
		return err_set(err, r, "Image alias \"%s\" not found", name);
	return r < 0 ? err_wrap(err, r, "Cannot delete image alias \"%s\"", name) : 0;
}

int db_alias_get(struct db *db, const char *name, char **ret_fingerprint, char **ret_description,
		 struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ char *fp = NULL, *desc = NULL;
	int r, rc;

	r = prepare(db,
		    "SELECT i.fingerprint, a.description FROM image_aliases a"
		    " JOIN images i ON i.id = a.image_id WHERE a.name = ?",
		    &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "t", name);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(err, -ENOENT, "Image alias \"%s\" not found", name);
	if (rc != SQLITE_ROW)
		return db_fail(db, rc, err, "Cannot read image alias \"%s\"", name);
	if (col_str(st, 0, &fp) < 0 || !fp || col_str(st, 1, &desc) < 0)
		return oom(err);
	if (ret_description) {
		*ret_description = desc ? steal_pointer(&desc) : strdup("");
		if (!*ret_description)
			return oom(err);
	}
	*ret_fingerprint = steal_pointer(&fp);
	return 0;
}

int db_alias_resolve(struct db *db, const char *name, char **ret_fingerprint, struct err **err)
{
	return db_alias_get(db, name, ret_fingerprint, NULL, err);
}

/* ---- instances ---- */

#define INSTANCE_COLUMNS                                                                           \
	"i.id, i.name, p.name, i.image, i.architecture, i.description, i.created_at,"              \
	" i.last_used_at, i.state"
#define INSTANCE_FROM " FROM instances i LEFT JOIN pools p ON p.id = i.pool_id"

static int read_instance(sqlite3_stmt *st, struct db_instance *inst)
{
	inst->id = sqlite3_column_int64(st, 0);
	if (col_str(st, 1, &inst->name) < 0 || col_str(st, 2, &inst->pool) < 0 ||
	    col_str(st, 3, &inst->image) < 0 || col_str(st, 4, &inst->architecture) < 0 ||
	    col_str(st, 5, &inst->description) < 0)
		return -ENOMEM;
	inst->created_at = sqlite3_column_int64(st, 6);
	inst->last_used_at = sqlite3_column_int64(st, 7);
	inst->state = col_state(st, 8);
	return 0;
}

int db_instance_insert(struct db *db, const struct db_instance *inst, int64_t *ret_id,
		       struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_txn_ struct txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t pid = 0, id;
	int r, rc;

	r = txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	if (inst->pool && (r = pool_id(db, inst->pool, &pid, err)) < 0)
		return r;
	r = prepare(db,
		    "INSERT INTO instances (name, pool_id, image, architecture, description,"
		    " created_at, last_used_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		    &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "tptttiii", inst->name, pid, inst->image,
		 inst->architecture ? inst->architecture : "",
		 inst->description ? inst->description : "", inst->created_at, inst->last_used_at,
		 (int64_t)inst->state);
	if (r < 0)
		return r;
	rc = step_rc(st);
	if (sqlite_errno(rc) == -EEXIST)
		return err_set(err, -EEXIST, "Instance \"%s\" already exists", inst->name);
	if (rc)
		return db_fail(db, rc, err, "Cannot add instance \"%s\"", inst->name);
	id = sqlite3_last_insert_rowid(db->conn);
	r = insert_kv(db, "INSERT INTO instance_config (instance_id, key, value) VALUES (?, ?, ?)",
		      id, &inst->config, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot add instance \"%s\"", inst->name);
	r = txn_commit(&t, err);
	if (r < 0)
		return r;
	if (ret_id)
		*ret_id = id;
	return 0;
}

int db_instance_get(struct db *db, const char *name, struct db_instance *ret, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_txn_ struct txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(db_instance_done) struct db_instance inst = {0};
	int r, rc;

	r = txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	r = prepare(db, "SELECT " INSTANCE_COLUMNS INSTANCE_FROM " WHERE i.name = ?", &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "t", name);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return err_set(err, -ENOENT, "Instance \"%s\" not found", name);
	if (rc != SQLITE_ROW)
		return db_fail(db, rc, err, "Cannot read instance \"%s\"", name);
	if (read_instance(st, &inst) < 0)
		return oom(err);
	finalizep(&st);
	r = prepare(db,
		    "SELECT instance_id, key, value FROM instance_config WHERE instance_id = ?"
		    " ORDER BY key",
		    &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "i", inst.id);
	if (r < 0)
		return r;
	r = load_kv(db, st, &inst.id, 1, &inst.config, sizeof(inst), err);
	if (r < 0)
		return r;
	r = txn_commit(&t, err);
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
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_txn_ struct txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(rows_done) struct rows rows = {.size = sizeof(struct db_instance),
						 .done = instance_done_cb};
	_cleanup_free_ int64_t *ids = NULL;
	struct db_instance *v;
	int r, rc;

	r = txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	/* One query for the instances and one for all their config, merged by id: a query per
	 * instance would make `cairn list` slow with thousands of them. */
	r = prepare(db, "SELECT " INSTANCE_COLUMNS INSTANCE_FROM " ORDER BY i.id", &st, err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_instance *inst = rows_add(&rows);

		if (!inst || read_instance(st, inst) < 0)
			return oom(err);
	}
	if (rc != SQLITE_DONE)
		return db_fail(db, rc, err, "Cannot list instances");
	finalizep(&st);
	v = rows.v;
	if (rows.n) {
		ids = malloc(rows.n * sizeof(*ids));
		if (!ids)
			return oom(err);
		for (size_t i = 0; i < rows.n; i++)
			ids[i] = v[i].id;
		r = prepare(db,
			    "SELECT instance_id, key, value FROM instance_config"
			    " ORDER BY instance_id, key",
			    &st, err);
		if (r < 0)
			return r;
		r = load_kv(db, st, ids, rows.n, &v[0].config, sizeof(*v), err);
		if (r < 0)
			return r;
		qsort(v, rows.n, sizeof(*v), cmp_instance);
	}
	r = txn_commit(&t, err);
	if (r < 0)
		return r;
	*ret = steal_pointer(&rows.v);
	*ret_n = rows.n;
	rows.n = 0;
	return 0;
}

/* Names the instance in the result of change_rows(). */
static int instance_change(struct db *db, int r, const char *name, struct err **err)
{
	if (r == -ENOENT)
		return err_set(err, r, "Instance \"%s\" not found", name);
	return r < 0 ? err_wrap(err, r, "Cannot update instance \"%s\"", name) : 0;
}

int db_instance_set_state(struct db *db, const char *name, enum db_row_state state,
			  struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);

	return instance_change(db,
			       change_rows(db, "UPDATE instances SET state = ? WHERE name = ?", err,
					   "it", (int64_t)state, name),
			       name, err);
}

int db_instance_set_last_used(struct db *db, const char *name, int64_t when, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);

	return instance_change(db,
			       change_rows(db,
					   "UPDATE instances SET last_used_at = ? WHERE name = ?",
					   err, "it", when, name),
			       name, err);
}

int db_instance_config_set(struct db *db, const char *name, const char *key, const char *value,
			   int64_t last_used, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_txn_ struct txn t = {0};
	int64_t id;
	int r;

	r = txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = instance_id(db, name, &id, err);
	if (r < 0)
		return r;
	if (value)
		r = change_rows(
		    db,
		    "INSERT INTO instance_config (instance_id, key, value) VALUES (?, ?, ?)"
		    " ON CONFLICT (instance_id, key) DO UPDATE SET value = excluded.value",
		    err, "itt", id, key, value);
	else
		r = change_rows(db, "DELETE FROM instance_config WHERE instance_id = ? AND key = ?",
				err, "it", id, key);
	if (r < 0 && !(r == -ENOENT && !value))
		return err_wrap(err, r, "Cannot update the config of instance \"%s\"", name);
	if (last_used) {
		r = change_rows(db, "UPDATE instances SET last_used_at = ? WHERE id = ?", err, "ii",
				last_used, id);
		if (r < 0)
			return instance_change(db, r, name, err);
	}
	return txn_commit(&t, err);
}

int db_instance_set_description(struct db *db, const char *name, const char *description,
				struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);

	return instance_change(db,
			       change_rows(db,
					   "UPDATE instances SET description = ? WHERE name = ?",
					   err, "tt", description ? description : "", name),
			       name, err);
}

int db_instance_config_replace(struct db *db, const char *name, const struct kvlist *config,
			       struct err **err)
{
	return db_instance_update(db, name, config, NULL, err);
}

int db_instance_update(struct db *db, const char *name, const struct kvlist *config,
		       const char *description, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_txn_ struct txn t = {0};
	int64_t id;
	int r;

	r = txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = instance_id(db, name, &id, err);
	if (r < 0)
		return r;
	if (description) {
		r = change_rows(db, "UPDATE instances SET description = ? WHERE id = ?", err, "ti",
				description, id);
		if (r < 0)
			return instance_change(db, r, name, err);
	}
	/* -ENOENT only says that the instance had no config yet. */
	r = change_rows(db, "DELETE FROM instance_config WHERE instance_id = ?", err, "i", id);
	if (r < 0 && r != -ENOENT)
		return err_wrap(err, r, "Cannot update the config of instance \"%s\"", name);
	r = insert_kv(db, "INSERT INTO instance_config (instance_id, key, value) VALUES (?, ?, ?)",
		      id, config, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot update the config of instance \"%s\"", name);
	return txn_commit(&t, err);
}

int db_instance_delete(struct db *db, const char *name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);

	/* Config, snapshots and their config go with it (ON DELETE CASCADE). */
	return instance_change(
	    db, change_rows(db, "DELETE FROM instances WHERE name = ?", err, "t", name), name, err);
}

/* ---- snapshots ---- */

#define SNAPSHOT_COLUMNS                                                                           \
	"s.id, i.name, s.name, s.created_at, s.expires_at, s.stateful, s.scheduled,"               \
	" s.description, s.state"
#define SNAPSHOT_FROM " FROM snapshots s JOIN instances i ON i.id = s.instance_id"

static int read_snapshot(sqlite3_stmt *st, struct db_snapshot *s)
{
	s->id = sqlite3_column_int64(st, 0);
	if (col_str(st, 1, &s->instance) < 0 || col_str(st, 2, &s->name) < 0 ||
	    col_str(st, 7, &s->description) < 0)
		return -ENOMEM;
	s->created_at = sqlite3_column_int64(st, 3);
	s->expires_at = sqlite3_column_int64(st, 4);
	s->stateful = sqlite3_column_int(st, 5) != 0;
	s->scheduled = sqlite3_column_int(st, 6) != 0;
	s->state = col_state(st, 8);
	return 0;
}

static int snapshot_missing(int r, const char *instance, const char *name, struct err **err)
{
	return err_set(err, r, "Snapshot \"%s\" of instance \"%s\" not found", name, instance);
}

int db_snapshot_insert(struct db *db, const struct db_snapshot *s, int64_t *ret_id,
		       struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_txn_ struct txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t iid, id;
	int r, rc;

	r = txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = instance_id(db, s->instance, &iid, err);
	if (r < 0)
		return r;
	r = prepare(db,
		    "INSERT INTO snapshots (instance_id, name, created_at, expires_at, stateful,"
		    " scheduled, description, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		    &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "itiibbti", iid, s->name, s->created_at, s->expires_at,
		 (int)s->stateful, (int)s->scheduled, s->description ? s->description : "",
		 (int64_t)s->state);
	if (r < 0)
		return r;
	rc = step_rc(st);
	if (sqlite_errno(rc) == -EEXIST)
		return err_set(err, -EEXIST, "Snapshot \"%s\" of instance \"%s\" already exists",
			       s->name, s->instance);
	if (rc)
		return db_fail(db, rc, err, "Cannot add snapshot \"%s\" of instance \"%s\"",
			       s->name, s->instance);
	id = sqlite3_last_insert_rowid(db->conn);
	r = insert_kv(db, "INSERT INTO snapshot_config (snapshot_id, key, value) VALUES (?, ?, ?)",
		      id, &s->config, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot add snapshot \"%s\" of instance \"%s\"", s->name,
				s->instance);
	r = txn_commit(&t, err);
	if (r < 0)
		return r;
	if (ret_id)
		*ret_id = id;
	return 0;
}

int db_snapshot_get(struct db *db, const char *instance, const char *name, struct db_snapshot *ret,
		    struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_txn_ struct txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(db_snapshot_done) struct db_snapshot snap = {0};
	int64_t iid;
	int r, rc;

	r = txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	r = instance_id(db, instance, &iid, err);
	if (r < 0)
		return r;
	r = prepare(
	    db, "SELECT " SNAPSHOT_COLUMNS SNAPSHOT_FROM " WHERE s.instance_id = ? AND s.name = ?",
	    &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "it", iid, name);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return snapshot_missing(-ENOENT, instance, name, err);
	if (rc != SQLITE_ROW)
		return db_fail(db, rc, err, "Cannot read snapshot \"%s\" of instance \"%s\"", name,
			       instance);
	if (read_snapshot(st, &snap) < 0)
		return oom(err);
	finalizep(&st);
	r = prepare(db,
		    "SELECT snapshot_id, key, value FROM snapshot_config WHERE snapshot_id = ?"
		    " ORDER BY key",
		    &st, err);
	if (r < 0)
		return r;
	r = bind(db, st, err, "i", snap.id);
	if (r < 0)
		return r;
	r = load_kv(db, st, &snap.id, 1, &snap.config, sizeof(snap), err);
	if (r < 0)
		return r;
	r = txn_commit(&t, err);
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
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_txn_ struct txn t = {0};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(rows_done) struct rows rows = {.size = sizeof(struct db_snapshot),
						 .done = snapshot_done_cb};
	_cleanup_free_ int64_t *ids = NULL;
	struct db_snapshot *v;
	int64_t iid;
	int r, rc;

	r = txn_begin(db, &t, false, err);
	if (r < 0)
		return r;
	/* All instances' snapshots at once when `instance` is NULL: one query for a whole list. */
	if (instance) {
		r = instance_id(db, instance, &iid, err);
		if (r < 0)
			return r;
	}
	r = prepare(db,
		    instance ? "SELECT " SNAPSHOT_COLUMNS SNAPSHOT_FROM
			       " WHERE s.instance_id = ? ORDER BY s.id"
			     : "SELECT " SNAPSHOT_COLUMNS SNAPSHOT_FROM " ORDER BY s.id",
		    &st, err);
	if (r < 0)
		return r;
	if (instance) {
		r = bind(db, st, err, "i", iid);
		if (r < 0)
			return r;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_snapshot *s = rows_add(&rows);

		if (!s || read_snapshot(st, s) < 0)
			return oom(err);
	}
	if (rc != SQLITE_DONE)
		return db_fail(db, rc, err, "Cannot list the snapshots of instance \"%s\"",
			       instance ? instance : "*");
	finalizep(&st);
	v = rows.v;
	if (rows.n) {
		ids = malloc(rows.n * sizeof(*ids));
		if (!ids)
			return oom(err);
		for (size_t i = 0; i < rows.n; i++)
			ids[i] = v[i].id;
		r = prepare(
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
			r = bind(db, st, err, "i", iid);
			if (r < 0)
				return r;
		}
		r = load_kv(db, st, ids, rows.n, &v[0].config, sizeof(*v), err);
		if (r < 0)
			return r;
		qsort(v, rows.n, sizeof(*v), cmp_snapshot);
	}
	r = txn_commit(&t, err);
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
	_cleanup_txn_ struct txn t = {0};
	int64_t iid;
	int r;

	r = txn_begin(db, &t, true, err);
	if (r < 0)
		return r;
	r = instance_id(db, instance, &iid, err);
	if (r < 0)
		return r;
	switch (arg) {
	case SNAP_ARG_INT:
		r = change_rows(db, sql, err, "iti", iid, name, value);
		break;
	case SNAP_ARG_TEXT:
		r = change_rows(db, sql, err, "itt", iid, name, text);
		break;
	case SNAP_ARG_NONE:
	case SNAP_ARG_MAX:
		r = change_rows(db, sql, err, "it", iid, name);
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
	return txn_commit(&t, err);
}

int db_snapshot_set_state(struct db *db, const char *instance, const char *name,
			  enum db_row_state state, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);

	return snapshot_change(
	    db, instance, name,
	    "UPDATE snapshots SET state = ?3 WHERE instance_id = ?1 AND name = ?2", SNAP_ARG_INT,
	    (int64_t)state, NULL, err);
}

int db_snapshot_set_expiry(struct db *db, const char *instance, const char *name,
			   int64_t expires_at, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);

	return snapshot_change(
	    db, instance, name,
	    "UPDATE snapshots SET expires_at = ?3 WHERE instance_id = ?1 AND name = ?2",
	    SNAP_ARG_INT, expires_at, NULL, err);
}

int db_snapshot_rename(struct db *db, const char *instance, const char *name, const char *new_name,
		       struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);

	return snapshot_change(
	    db, instance, name,
	    "UPDATE snapshots SET name = ?3 WHERE instance_id = ?1 AND name = ?2", SNAP_ARG_TEXT, 0,
	    new_name ? new_name : "", err);
}

int db_snapshot_delete(struct db *db, const char *instance, const char *name, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);

	/* Its config goes with it (ON DELETE CASCADE). */
	return snapshot_change(db, instance, name,
			       "DELETE FROM snapshots WHERE instance_id = ?1 AND name = ?2",
			       SNAP_ARG_NONE, 0, NULL, err);
}

/* ---- journal ---- */

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
	_cleanup_unlock_ struct db *locked = db_lock(db);
	int r;

	r = change_rows(
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
	_cleanup_unlock_ struct db *locked = db_lock(db);
	_cleanup_(rows_done) struct rows rows = {.size = sizeof(struct db_pending),
						 .done = pending_done_cb};
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = prepare(db, "SELECT id, kind, instance, a, b, flags FROM pending ORDER BY id", &st,
		    err);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_pending *p = rows_add(&rows);

		if (!p)
			return oom(err);
		p->id = sqlite3_column_int64(st, 0);
		if (col_str(st, 1, &p->kind) < 0 || col_str(st, 2, &p->instance) < 0 ||
		    col_str(st, 3, &p->a) < 0 || col_str(st, 4, &p->b) < 0)
			return oom(err);
		p->flags = sqlite3_column_int(st, 5) != 0;
	}
	if (rc != SQLITE_DONE)
		return db_fail(db, rc, err, "Cannot read the journal");
	*ret = rows.v;
	*ret_n = rows.n;
	rows.v = NULL;
	rows.n = 0;
	return 0;
}

int db_pending_delete(struct db *db, int64_t id, struct err **err)
{
	_cleanup_unlock_ struct db *locked = db_lock(db);
	int r = change_rows(db, "DELETE FROM pending WHERE id = ?", err, "i", id);

	return r == -ENOENT ? 0 : r;
}
