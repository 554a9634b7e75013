#pragma once

/*
 * The query layer shared by the files of the state database (config/db.c and one
 * config/db_<table>.c per table family). Private to config/: callers include config/db.h only.
 *
 * A public function takes the connection lock with `_cleanup_unlock_ struct db *locked =
 * dbq_lock(db)`, opens a transaction when it runs more than one statement, and leaves
 * through the cleanup attributes: statements are finalized, an uncommitted transaction is rolled
 * back, then the lock is released. The helpers below never lock; they expect the caller to hold
 * the lock.
 */

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "config/db.h"

struct err;
struct kvlist;
struct devices;
struct db_instance;

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

/* Takes the connection lock and returns `db`, for a `_cleanup_unlock_` variable. */
struct db *dbq_lock(struct db *db);
/* Releases the lock taken by dbq_lock(); NULL accepted. */
void dbq_unlockp(struct db **db);
#define _cleanup_unlock_ _cleanup_(dbq_unlockp)

/* Finalizes a statement; NULL accepted. */
void dbq_finalizep(sqlite3_stmt **st);
#define _cleanup_stmt_ _cleanup_(dbq_finalizep)

/* A transaction that rolls back when it leaves scope uncommitted. Declare it after the lock
 * guard so that it is rolled back before the lock is released. */
struct dbq_txn {
	struct db *db; /* NULL when no transaction is open */
};

void dbq_txn_rollbackp(struct dbq_txn *t);
#define _cleanup_txn_ _cleanup_(dbq_txn_rollbackp)

/* Opens a transaction; `write` takes the write lock at once (BEGIN IMMEDIATE). */
int dbq_txn_begin(struct db *db, struct dbq_txn *t, bool write, struct err **err);
/* Commits the transaction opened by dbq_txn_begin(). */
int dbq_txn_commit(struct dbq_txn *t, struct err **err);

/* The errno of a SQLite result code: -EEXIST for a uniqueness conflict, -ENOMEM, -EBUSY for a
 * lock held elsewhere, else -EIO. */
int dbq_errno(int rc);

/* Fills *err from a failed SQLite call: "<context>: <sqlite3_errmsg>"; returns its errno. */
int dbq_fail(struct db *db, int rc, struct err **err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fills *err with -ENOMEM ("Out of memory reading the database") and returns it. */
int dbq_oom(struct err **err);

/* Compiles one statement. */
int dbq_prepare(struct db *db, const char *sql, sqlite3_stmt **ret, struct err **err);

/*
 * Binds parameters 1.. from `types`: 't' a string (NULL binds SQL NULL), 'i' an int64_t,
 * 'p' an int64_t row id where 0 binds SQL NULL, 'b' a bool (passed as int). The strings must
 * outlive the statement.
 */
int dbq_vbind(struct db *db, sqlite3_stmt *st, struct err **err, const char *types, va_list ap);
int dbq_bind(struct db *db, sqlite3_stmt *st, struct err **err, const char *types, ...);

/* Runs a statement that returns no rows. Returns the SQLite code so callers can turn a
 * constraint into a precise message; 0 on success. */
int dbq_step(sqlite3_stmt *st);

/* Runs one or more statements that return no rows. */
int dbq_exec(struct db *db, const char *sql, struct err **err);

/*
 * Runs an UPDATE or DELETE bound with `types` (see dbq_vbind()). -ENOENT when no row changed
 * and -EEXIST on a uniqueness conflict, both without a message so that the caller names the
 * object; any other failure fills *err.
 */
int dbq_change_rows(struct db *db, const char *sql, struct err **err, const char *types, ...);

/* Copies a text column (*ret the caller's to free); a SQL NULL gives NULL. -ENOMEM on
 * failure. */
int dbq_col_str(sqlite3_stmt *st, int col, char **ret);
/* Reads a row state column. */
enum db_row_state dbq_col_state(sqlite3_stmt *st, int col);

/* Looks up the id of a row by name with a one-column query; -ENOENT (without a message) when
 * no row matches. */
int dbq_lookup_id(struct db *db, const char *sql, const char *name, int64_t *ret, struct err **err);
/* The id of a pool, an instance or an image; -ENOENT with a message naming it when missing. */
int dbq_pool_id(struct db *db, const char *name, int64_t *ret, struct err **err);
int dbq_instance_id(struct db *db, const char *name, int64_t *ret, struct err **err);
int dbq_image_id(struct db *db, const char *fingerprint, int64_t *ret, struct err **err);

/* Replaces the config rows of the instance of id `id` (db_instances.c). */
int dbq_instance_config_write(struct db *db, int64_t id, const struct kvlist *config,
			      struct err **err);

/* Replaces the devices and the profile list of the instance of id `id`, each unless NULL
 * (db_instances.c). */
int dbq_instance_settings_write(struct db *db, int64_t id, const struct devices *devices,
				char *const *profiles, struct err **err);

/* Inserts (owner, key, value) rows for every entry of `kv` with `sql`. */
int dbq_insert_kv(struct db *db, const char *sql, int64_t owner, const struct kvlist *kv,
		  struct err **err);

/*
 * Reads (owner_id, key, value) rows, ordered by owner_id, from `st` into the kvlists of `n`
 * rows laid out `stride` bytes apart from `kv0`, whose ids ids[] are ascending: one query for
 * all the rows instead of one per row.
 */
int dbq_load_kv(struct db *db, sqlite3_stmt *st, const int64_t *ids, size_t n, struct kvlist *kv0,
		size_t stride, struct err **err);

/*
 * Devices and profile lists, the same way (db_profiles.c). dbq_load_devices reads (owner_id,
 * device, key, value) rows ordered by owner_id and device; dbq_load_profile_names reads
 * (owner_id, name) rows ordered by owner_id and apply order into NULL-terminated arrays.
 */
int dbq_load_devices(struct db *db, sqlite3_stmt *st, const int64_t *ids, size_t n,
		     struct devices *d0, size_t stride, struct err **err);
int dbq_load_profile_names(struct db *db, sqlite3_stmt *st, const int64_t *ids, size_t n,
			   char ***v0, size_t stride, struct err **err);
/* Inserts (owner, device, key, value) rows for every device of `d` with `sql`. */
int dbq_insert_devices(struct db *db, const char *sql, int64_t owner, const struct devices *d,
		       struct err **err);
/* Inserts (owner, profile_id, apply_order) rows with `sql` for the profiles `names` (NULL:
 * none), in order; -ENOENT with a message naming a profile that does not exist. */
int dbq_insert_profile_refs(struct db *db, const char *sql, int64_t owner, char *const *names,
			    struct err **err);
/* Fills the expanded config and devices of `n` instances from their own and their profiles'. */
int dbq_instances_expand(struct db *db, struct db_instance *v, size_t n, struct err **err);
/* Loads the profile names and devices of `n` instances (ids ascending, as v[] is when read). */
int dbq_instances_load_settings(struct db *db, struct db_instance *v, size_t n, struct err **err);

/* Runs a one-column query of names, bound to `arg`, into a NULL-terminated array (empty, not
 * NULL, when no row matches; the caller frees it with strv_free). */
int dbq_query_names(struct db *db, const char *sql, const char *arg, char ***ret, struct err **err);

/* A growable array of rows for the list functions; freed with its rows on scope exit. */
struct dbq_rows {
	void *v;
	size_t n, cap, size;	 /* rows used, rows allocated, bytes per row */
	void (*done)(void *row); /* clears one row */
};

void dbq_rows_done(struct dbq_rows *r);
/* A zeroed new row at the end, or NULL when out of memory. */
void *dbq_rows_add(struct dbq_rows *r);
