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
#include "config/db-internal.h"

/*
 * The plumbing of the state database: the schema and its migrations, opening and closing, and
 * the query layer that the per-table files (db_<table>.c) share through config/db-internal.h.
 */

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
    /* What the snapshot scheduler remembers of each instance between passes and restarts
     * (db_schedule.c). */
    "CREATE TABLE schedule_state ("
    "  instance_id INTEGER PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,"
    "  last_slot INTEGER NOT NULL DEFAULT 0,"
    "  last_run INTEGER NOT NULL DEFAULT 0,"
    "  last_snapshot TEXT,"
    "  failed_slot INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  last_skip TEXT);",
    /* Profiles and devices (db_profiles.c). An instance names its profiles in order; the
     * profiles an instance or a snapshot names cannot be deleted (ON DELETE RESTRICT). Every
     * instance made before profiles existed gets the default profile, and an instance on
     * another pool than "default" a root disk of its own naming its pool, so that its
     * expanded config says where it lives. */
    "CREATE TABLE profiles ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  description TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE profile_config ("
    "  profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (profile_id, key));"
    "CREATE TABLE profile_devices ("
    "  profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,"
    "  device TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (profile_id, device, key));"
    "CREATE TABLE instance_profiles ("
    "  instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
    "  profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE RESTRICT,"
    "  apply_order INTEGER NOT NULL,"
    "  PRIMARY KEY (instance_id, profile_id));"
    "CREATE INDEX instance_profiles_profile ON instance_profiles(profile_id);"
    "CREATE TABLE instance_devices ("
    "  instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
    "  device TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (instance_id, device, key));"
    "CREATE TABLE snapshot_profiles ("
    "  snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,"
    "  profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE RESTRICT,"
    "  apply_order INTEGER NOT NULL,"
    "  PRIMARY KEY (snapshot_id, profile_id));"
    "CREATE INDEX snapshot_profiles_profile ON snapshot_profiles(profile_id);"
    "CREATE TABLE snapshot_devices ("
    "  snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,"
    "  device TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (snapshot_id, device, key));"
    "INSERT INTO profiles (name, description) VALUES ('default', 'Default cairn profile');"
    "INSERT INTO profile_devices (profile_id, device, key, value)"
    "  SELECT p.id, 'root', k.key, k.value FROM profiles p,"
    "  (SELECT 'type' AS key, 'disk' AS value UNION ALL SELECT 'path', '/'"
    "   UNION ALL SELECT 'pool', 'default') k WHERE p.name = 'default';"
    "INSERT INTO instance_profiles (instance_id, profile_id, apply_order)"
    "  SELECT i.id, p.id, 0 FROM instances i, profiles p WHERE p.name = 'default';"
    "INSERT INTO snapshot_profiles (snapshot_id, profile_id, apply_order)"
    "  SELECT s.id, p.id, 0 FROM snapshots s, profiles p WHERE p.name = 'default';"
    "INSERT INTO instance_devices (instance_id, device, key, value)"
    "  SELECT i.id, 'root', k.key, CASE k.key WHEN 'pool' THEN pl.name ELSE k.value END"
    "  FROM instances i JOIN pools pl ON pl.id = i.pool_id,"
    "  (SELECT 'type' AS key, 'disk' AS value UNION ALL SELECT 'path', '/'"
    "   UNION ALL SELECT 'pool', '') k WHERE pl.name != 'default';",
    /* The server config, the trust store and the trust tokens (db_trust.c). */
    "CREATE TABLE server_config ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL);"
    "CREATE TABLE certificates ("
    "  id INTEGER PRIMARY KEY,"
    "  fingerprint TEXT NOT NULL UNIQUE,"
    "  type TEXT NOT NULL DEFAULT 'client',"
    "  name TEXT NOT NULL,"
    "  certificate TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE trust_tokens ("
    "  secret TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL);",
    /* Managed networks (db_networks.c): a row is CREATING until its bridge, rules and dnsmasq
     * are up, DELETING while they are taken down, so that recovery finishes or undoes it. */
    "CREATE TABLE networks ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  type TEXT NOT NULL DEFAULT 'bridge',"
    "  description TEXT NOT NULL DEFAULT '',"
    "  state INTEGER NOT NULL DEFAULT 1 CHECK (state BETWEEN 0 AND 2));"
    "CREATE TABLE network_config ("
    "  network_id INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (network_id, key));",
    /* The daemon's own remotes, the daemons it sends to (db_remotes.c), and what the refresh of
     * each instance's snapshot server (snapshots.copy.target) last did (db_copy_state.c): kept
     * across restarts so that a refresh owed or a back-off in progress carries on. */
    "CREATE TABLE remotes ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  address TEXT NOT NULL,"
    "  certificate TEXT NOT NULL,"
    "  fingerprint TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE copy_state ("
    "  instance_id INTEGER PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,"
    "  target TEXT NOT NULL DEFAULT '',"
    "  owed INTEGER NOT NULL DEFAULT 0,"
    "  last_attempt INTEGER NOT NULL DEFAULT 0,"
    "  last_success INTEGER NOT NULL DEFAULT 0,"
    "  last_bytes INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  failures INTEGER NOT NULL DEFAULT 0,"
    "  next_retry INTEGER NOT NULL DEFAULT 0);",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

int db_schema_version(void)
{
	return SCHEMA_VERSION;
}

/* How long a statement waits for a lock held by another connection (a second process such as
 * `sqlite3` opened by an admin) before giving up with -EBUSY. */
#define BUSY_TIMEOUT_MS 5000

/* ---- the query layer (config/db-internal.h) ---- */

void dbq_finalizep(sqlite3_stmt **st)
{
	if (*st)
		sqlite3_finalize(*st);
	*st = NULL;
}

void dbq_unlockp(struct db **db)
{
	if (*db)
		pthread_mutex_unlock(&(*db)->lock);
	*db = NULL;
}

struct db *dbq_lock(struct db *db)
{
	pthread_mutex_lock(&db->lock);
	return db;
}

int dbq_errno(int rc)
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
int dbq_fail(struct db *db, int rc, struct err **err, const char *fmt, ...)
{
	_cleanup_free_ char *ctx = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&ctx, fmt, ap) < 0)
		ctx = NULL;
	va_end(ap);
	return err_set(err, dbq_errno(rc), "%s: %s", ctx ? ctx : "Database error",
		       sqlite3_errmsg(db->conn));
}

int dbq_prepare(struct db *db, const char *sql, sqlite3_stmt **ret, struct err **err)
{
	int rc = sqlite3_prepare_v2(db->conn, sql, -1, ret, NULL);

	if (rc != SQLITE_OK)
		return dbq_fail(db, rc, err, "Cannot prepare database query");
	return 0;
}

/*
 * Binds parameters 1.. from `types`: 't' a string (NULL binds SQL NULL), 'i' an int64_t,
 * 'p' an int64_t row id where 0 binds SQL NULL, 'b' a bool (passed as int). The strings must
 * outlive the statement.
 */
int dbq_vbind(struct db *db, sqlite3_stmt *st, struct err **err, const char *types, va_list ap)
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
		return dbq_fail(db, rc, err, "Cannot bind database query parameters");
	return 0;
}

int dbq_bind(struct db *db, sqlite3_stmt *st, struct err **err, const char *types, ...)
{
	va_list ap;
	int r;

	va_start(ap, types);
	r = dbq_vbind(db, st, err, types, ap);
	va_end(ap);
	return r;
}

/* Runs a statement that returns no rows. Returns the SQLite code so callers can turn a
 * constraint into a precise message; 0 on success. */
int dbq_step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	return rc == SQLITE_DONE ? 0 : rc;
}

int dbq_exec(struct db *db, const char *sql, struct err **err)
{
	int rc = sqlite3_exec(db->conn, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return dbq_fail(db, rc, err, "Database statement failed");
	return 0;
}

void dbq_txn_rollbackp(struct dbq_txn *t)
{
	if (t->db)
		sqlite3_exec(t->db->conn, "ROLLBACK", NULL, NULL, NULL);
	t->db = NULL;
}

/* Writers take the write lock at BEGIN: a deferred transaction that upgrades later can fail
 * with SQLITE_BUSY without waiting for the busy timeout. */
int dbq_txn_begin(struct db *db, struct dbq_txn *t, bool write, struct err **err)
{
	int r = dbq_exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN", err);

	if (r < 0)
		return r;
	t->db = db;
	return 0;
}

int dbq_txn_commit(struct dbq_txn *t, struct err **err)
{
	int r = dbq_exec(t->db, "COMMIT", err);

	if (r < 0)
		return r;
	t->db = NULL;
	return 0;
}

/* Copies a text column; a SQL NULL gives NULL. -ENOMEM on failure. */
int dbq_col_str(sqlite3_stmt *st, int col, char **ret)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	if (!s) {
		*ret = NULL;
		return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : -ENOMEM;
	}
	*ret = strdup((const char *)s);
	return *ret ? 0 : -ENOMEM;
}

enum db_row_state dbq_col_state(sqlite3_stmt *st, int col)
{
	int v = sqlite3_column_int(st, col);

	/* The CHECK constraint keeps other values out of the table. */
	return v >= 0 && v < DB_ROW_STATE_MAX ? (enum db_row_state)v : DB_ROW_CREATING;
}

int dbq_oom(struct err **err)
{
	return err_set(err, -ENOMEM, "Out of memory reading the database");
}

/* Looks up the id of a row by name with a one-column query; -ENOENT (without a message) when
 * no row matches. */
int dbq_lookup_id(struct db *db, const char *sql, const char *name, int64_t *ret, struct err **err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = dbq_prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "t", name);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return dbq_fail(db, rc, err, "Cannot read the database");
	*ret = sqlite3_column_int64(st, 0);
	return 0;
}

int dbq_pool_id(struct db *db, const char *name, int64_t *ret, struct err **err)
{
	int r = dbq_lookup_id(db, "SELECT id FROM pools WHERE name = ?", name, ret, err);

	if (r == -ENOENT)
		return err_set(err, r, "Storage pool \"%s\" not found", name);
	return r;
}

int dbq_instance_id(struct db *db, const char *name, int64_t *ret, struct err **err)
{
	int r = dbq_lookup_id(db, "SELECT id FROM instances WHERE name = ?", name, ret, err);

	if (r == -ENOENT)
		return err_set(err, r, "Instance \"%s\" not found", name);
	return r;
}

int dbq_image_id(struct db *db, const char *fingerprint, int64_t *ret, struct err **err)
{
	int r =
	    dbq_lookup_id(db, "SELECT id FROM images WHERE fingerprint = ?", fingerprint, ret, err);

	if (r == -ENOENT)
		return err_set(err, r, "Image \"%s\" not found", fingerprint);
	return r;
}

/* Inserts (owner, key, value) rows for every entry of `kv` with `sql`. */
int dbq_insert_kv(struct db *db, const char *sql, int64_t owner, const struct kvlist *kv,
		  struct err **err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	if (!kv || kv->n == 0)
		return 0;
	r = dbq_prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < kv->n; i++) {
		sqlite3_reset(st);
		r = dbq_bind(db, st, err, "itt", owner, kv->items[i].key, kv->items[i].value);
		if (r < 0)
			return r;
		rc = dbq_step(st);
		if (rc)
			return dbq_fail(db, rc, err, "Cannot store key \"%s\"", kv->items[i].key);
	}
	return 0;
}

/*
 * Reads (owner_id, key, value) rows, ordered by owner_id, from `st` into the kvlists of `n`
 * rows laid out `stride` bytes apart from `kv0`, whose ids ids[] are ascending: one query for
 * all the rows instead of one per row.
 */
int dbq_load_kv(struct db *db, sqlite3_stmt *st, const int64_t *ids, size_t n, struct kvlist *kv0,
		size_t stride, struct err **err)
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
			return dbq_oom(err);
		kv = (struct kvlist *)((char *)kv0 + j * stride);
		if (kvlist_set(kv, key, value) < 0)
			return dbq_oom(err);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot read the database");
	return 0;
}

/* Runs a one-column query of names into a NULL-terminated array (empty, not NULL, when no row
 * matches). */
int dbq_query_names(struct db *db, const char *sql, const char *arg, char ***ret, struct err **err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_strv_ char **names = NULL;
	int r, rc;

	names = calloc(1, sizeof(char *));
	if (!names)
		return dbq_oom(err);
	r = dbq_prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	r = dbq_bind(db, st, err, "t", arg);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);

		if (!s || strv_push(&names, s) < 0)
			return dbq_oom(err);
	}
	if (rc != SQLITE_DONE)
		return dbq_fail(db, rc, err, "Cannot read the database");
	*ret = steal_pointer(&names);
	return 0;
}

void dbq_rows_done(struct dbq_rows *r)
{
	for (size_t i = 0; r->v && i < r->n; i++)
		r->done((char *)r->v + i * r->size);
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}

/* A zeroed new row at the end, or NULL when out of memory. */
void *dbq_rows_add(struct dbq_rows *r)
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

/*
 * Runs an UPDATE or DELETE bound with `types` (see dbq_vbind()). -ENOENT when no row changed and
 * -EEXIST on a uniqueness conflict, both without a message so that the caller names the
 * object; any other failure fills *err.
 */
int dbq_change_rows(struct db *db, const char *sql, struct err **err, const char *types, ...)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	va_list ap;
	int r, rc;

	r = dbq_prepare(db, sql, &st, err);
	if (r < 0)
		return r;
	va_start(ap, types);
	r = dbq_vbind(db, st, err, types, ap);
	va_end(ap);
	if (r < 0)
		return r;
	rc = dbq_step(st);
	if (rc && dbq_errno(rc) == -EEXIST)
		return -EEXIST;
	if (rc)
		return dbq_fail(db, rc, err, "Cannot update the database");
	return sqlite3_changes(db->conn) > 0 ? 0 : -ENOENT;
}

/* ---- open and close ---- */

static int migrate(struct db *db, struct err **err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int version, r, rc;

	r = dbq_prepare(db, "PRAGMA user_version", &st, err);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return dbq_fail(db, rc, err, "Cannot read the database schema version");
	version = sqlite3_column_int(st, 0);
	if (version > SCHEMA_VERSION)
		return err_set(
		    err, -EPROTO,
		    "Database schema version %d is newer than this version of cairn supports (%d)",
		    version, SCHEMA_VERSION);
	for (; version < SCHEMA_VERSION; version++) {
		_cleanup_txn_ struct dbq_txn t = {0};
		_cleanup_free_ char *bump = str_printf("PRAGMA user_version = %d", version + 1);

		if (!bump)
			return dbq_oom(err);
		r = dbq_txn_begin(db, &t, true, err);
		if (r < 0)
			return r;
		r = dbq_exec(db, migrations[version], err);
		if (r < 0)
			return err_wrap(err, r, "Cannot update the database schema to version %d",
					version + 1);
		r = dbq_exec(db, bump, err);
		if (r < 0)
			return r;
		r = dbq_txn_commit(&t, err);
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
	int fd, rc, r;

	/*
	 * Create the file ourselves so that it is private from the start: it names every
	 * instance and holds their config. The descriptor is closed before SQLite opens the file:
	 * closing any descriptor of a file drops all the POSIX locks of the process on it,
	 * SQLite's included, and another process that opens the database (an admin's sqlite3)
	 * would then take this connection for gone, remove the WAL under it when it closes, and
	 * leave it blind to its changes.
	 */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set_errno(err, -errno, "Cannot open database \"%s\"", path);
	close(fd);
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
		return dbq_fail(db, rc, err, "Cannot open database \"%s\"", path);
	}
	sqlite3_extended_result_codes(db->conn, 1);
	sqlite3_busy_timeout(db->conn, BUSY_TIMEOUT_MS);
	/* WAL keeps readers off the writer's back; synchronous=FULL fsyncs the WAL at every
	 * commit so that a committed row survives power loss, which crash recovery relies on. */
	r = dbq_exec(db,
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
