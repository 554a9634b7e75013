#pragma once

/*
 * The state database: SQLite in WAL mode at $CAIRN_DIR/database/cairn.db. One connection,
 * serialized by SQLite's own mutex (SQLITE_OPEN_FULLMUTEX), so every function here may be called
 * from any thread. Each function is one transaction unless it says otherwise.
 *
 * Crash safety: rows carry a lifecycle `state`. A row is inserted as CREATING before its volume
 * is made and flipped to READY after; a delete flips it to DELETING before anything is removed.
 * On start the daemon finishes or undoes every row that is not READY (instance_recover(),
 * instance_image_recover() and snapshot_recover(), run by daemon_setup()).
 *
 * The implementation is one file per table family over a shared query layer (config/db.c and
 * config/db-internal.h): db_pools.c, db_images.c, db_instances.c, db_snapshots.c, db_journal.c,
 * db_schedule.c, db_networks.c, db_trust.c, db_remotes.c and db_copy_state.c.
 */

#include <stdbool.h>
#include <stdint.h>

#include "common/kvlist.h"
#include "config/devices.h"
#include "config/profiles.h"

struct err;
struct db;

enum db_row_state {
	DB_ROW_CREATING,
	DB_ROW_READY,
	DB_ROW_DELETING,
	DB_ROW_STATE_MAX,
};

struct db_pool {
	char *name;
	char *driver;  /* "btrfs" or "dir" */
	char *source;  /* loop file, block device or directory */
	uint64_t size; /* bytes of the loop file, 0 when not a loop pool */
	char *description;
};

struct db_image {
	char *fingerprint; /* sha256 hex */
	char *pool;
	char *architecture;
	char *description;
	int64_t created_at;  /* seconds since the epoch */
	int64_t uploaded_at; /* seconds since the epoch */
	uint64_t size;	     /* bytes of the tarball (or of the rootfs for the built-in image) */
	struct kvlist properties;
	char **aliases; /* NULL-terminated, may be NULL */
	enum db_row_state state;
};

struct db_instance {
	int64_t id;
	char *name;
	char *pool;
	char *image; /* fingerprint it was created from, may be NULL */
	char *architecture;
	char *description;
	int64_t created_at;
	int64_t last_used_at;	/* 0 when never started */
	struct kvlist config;	/* its own keys */
	struct devices devices; /* its own devices */
	char **profiles;	/* the profiles it names, in order; NULL-terminated, may be NULL */
	/* Its profiles applied in order, then its own keys and devices (config_expand()): what
	 * every reader of its settings uses. Filled by db_instance_get() and db_instance_list(),
	 * ignored by the writers. */
	struct kvlist expanded_config;
	struct devices expanded_devices;
	enum db_row_state state;
};

struct db_snapshot {
	int64_t id;
	char *instance; /* name of the instance it belongs to */
	char *name;
	int64_t created_at; /* seconds since the epoch */
	int64_t expires_at; /* seconds since the epoch, 0 = never */
	bool stateful;	    /* carries a CRIU dump of the running instance */
	bool scheduled;	    /* taken by the scheduler rather than by a user */
	char *description;
	struct kvlist config;	/* the instance's own config when the snapshot was taken */
	struct devices devices; /* and its own devices */
	char **profiles;	/* and its profiles, in order; NULL-terminated, may be NULL */
	enum db_row_state state;
};

/*
 * One READY snapshot as db_snapshot_list_all() gives it: the columns that the scheduler and the
 * pruner read, without description and config. `instance` and `name` point into the list's own
 * storage and go with it; the rows of one instance share one copy of its name.
 */
struct db_snapshot_brief {
	int64_t id;
	const char *instance;
	const char *name;
	int64_t created_at; /* seconds since the epoch */
	int64_t expires_at; /* seconds since the epoch, 0 = never */
	bool stateful;
	bool scheduled; /* taken by the scheduler rather than by a user */
};

/* What the snapshot scheduler remembers of one instance between passes and restarts. */
struct db_schedule_state {
	int64_t last_slot;   /* the last slot handled (taken or skipped), seconds since the epoch,
				0 = none */
	int64_t last_run;    /* when a scheduled snapshot was last attempted */
	char *last_snapshot; /* name of the last scheduled snapshot taken, NULL when none */
	int64_t failed_slot; /* the slot whose snapshot failed, 0 when the last attempt worked */
	char *last_error;    /* that failure's message, NULL when none */
	char *last_skip;     /* why the last slot was skipped, NULL when it was not */
};

/*
 * One entry of the journal of multi-step operations. `kind` says which ("snapshot-rename": a =
 * old name, b = new name; "snapshot-restore": a = snapshot, flags = disk only;
 * "instance-rename": a = old name, b = new name; "instance-move": a = the pool it leaves, b = the
 * pool it goes to). An entry lives
 * from before the operation's first step until its last step is done (or, after a failure,
 * until its steps are undone); the recovery pass rolls each entry it finds forward.
 */
struct db_pending {
	int64_t id;
	char *kind;
	char *instance;
	char *a;
	char *b;
	bool flags;
};

/* Opens (creating if needed) the database at `path` and brings its schema up to date. */
int db_open(const char *path, struct db **ret, struct err **err);

/* The schema version db_open() brings a database to (its PRAGMA user_version). */
int db_schema_version(void);

/* Closes the database; NULL accepted. */
void db_close(struct db *db);

/* Frees the contents of a row struct; may be called twice. */
void db_pool_done(struct db_pool *p);
void db_image_done(struct db_image *i);
void db_instance_done(struct db_instance *i);
/* A struct db_instance variable cleared with db_instance_done() when it goes out of scope. */
#define _cleanup_db_instance_ __attribute__((cleanup(db_instance_done)))
void db_snapshot_done(struct db_snapshot *s);

/* Frees an array of `n` rows and the array. */
void db_pools_free(struct db_pool *v, size_t n);
void db_images_free(struct db_image *v, size_t n);
void db_instances_free(struct db_instance *v, size_t n);
void db_snapshots_free(struct db_snapshot *v, size_t n);

/* Pools. -EEXIST when the name is taken, -ENOENT when missing. */
int db_pool_insert(struct db *db, const struct db_pool *p, struct err **err);
int db_pool_get(struct db *db, const char *name, struct db_pool *ret, struct err **err);
int db_pool_list(struct db *db, struct db_pool **ret, size_t *ret_n, struct err **err);
int db_pool_delete(struct db *db, const char *name, struct err **err);
/* Sets the size (bytes of the loop file) and description of a pool. -ENOENT when missing. */
int db_pool_update(struct db *db, const char *name, uint64_t size, const char *description,
		   struct err **err);

/* Images. `aliases` are stored in their own table; an alias names one image. db_image_get
 * accepts a full fingerprint or a unique prefix (-ENOENT when none, -EINVAL when ambiguous). */
int db_image_insert(struct db *db, const struct db_image *img, struct err **err);
int db_image_get(struct db *db, const char *fingerprint, struct db_image *ret, struct err **err);
int db_image_list(struct db *db, struct db_image **ret, size_t *ret_n, struct err **err);
int db_image_set_state(struct db *db, const char *fingerprint, enum db_row_state state,
		       struct err **err);
int db_image_delete(struct db *db, const char *fingerprint, struct err **err);

/* Aliases. -EEXIST when `name` already names an image. db_alias_resolve gives the fingerprint
 * (caller frees), -ENOENT when unknown. */
int db_alias_add(struct db *db, const char *name, const char *fingerprint, const char *description,
		 struct err **err);
int db_alias_delete(struct db *db, const char *name, struct err **err);
int db_alias_resolve(struct db *db, const char *name, char **ret_fingerprint, struct err **err);
/* The same with the alias' description (caller frees; "" when it has none). */
int db_alias_get(struct db *db, const char *name, char **ret_fingerprint, char **ret_description,
		 struct err **err);

/* Instances. Names are unique whatever the row state (-EEXIST). db_instance_get and
 * db_instance_list return rows in every state; callers filter. */
int db_instance_insert(struct db *db, const struct db_instance *inst, int64_t *ret_id,
		       struct err **err);
int db_instance_get(struct db *db, const char *name, struct db_instance *ret, struct err **err);
int db_instance_list(struct db *db, struct db_instance **ret, size_t *ret_n, struct err **err);
int db_instance_set_state(struct db *db, const char *name, enum db_row_state state,
			  struct err **err);
int db_instance_set_last_used(struct db *db, const char *name, int64_t when, struct err **err);
int db_instance_set_description(struct db *db, const char *name, const char *description,
				struct err **err);
/* Sets one config key (or removes it when `value` is NULL) and, when `last_used` is not 0, the
 * last-used time, in one transaction: the cheap path for the daemon's own volatile keys. */
int db_instance_config_set(struct db *db, const char *name, const char *key, const char *value,
			   int64_t last_used, struct err **err);
/* Replaces the whole config of an instance in one transaction. */
int db_instance_config_replace(struct db *db, const char *name, const struct kvlist *config,
			       struct err **err);
/* Replaces the whole config and, unless `description` is NULL, the description of an instance
 * in one transaction: both change or neither. -ENOENT for an unknown instance. */
int db_instance_update(struct db *db, const char *name, const struct kvlist *config,
		       const char *description, struct err **err);
/* db_instance_update() that also replaces the devices and the profiles of the instance, unless
 * NULL (`profiles` is NULL-terminated; an empty array names none), in the same transaction.
 * -ENOENT with a message for a profile that does not exist. */
int db_instance_update_settings(struct db *db, const char *name, const struct kvlist *config,
				const struct devices *devices, char *const *profiles,
				const char *description, struct err **err);
int db_instance_delete(struct db *db, const char *name, struct err **err);
/* Moves the row of instance `name` to pool `pool` (the switch of a move between pools) and, unless
 * NULL, replaces its own devices with `devices` (whose root disk names the pool), in one
 * transaction. -ENOENT for an unknown instance or pool. */
int db_instance_set_pool(struct db *db, const char *name, const char *pool,
			 const struct devices *devices, struct err **err);
/* Names of the instances (in any row state) whose config sets `key` to "true", sorted; one query
 * on the config table, for passes that only care about a few flagged instances. NULL-terminated,
 * never NULL on success; free with strv_free(). */
int db_instance_names_flagged(struct db *db, const char *key, char ***ret, struct err **err);
/* Names of the instances created from image `fingerprint` (used_by), NULL-terminated. */
int db_image_users(struct db *db, const char *fingerprint, char ***ret_names, struct err **err);
/* Names of the instances on pool `pool`, NULL-terminated. */
int db_pool_users(struct db *db, const char *pool, char ***ret_names, struct err **err);

/*
 * Profiles (db_profiles.c). db_profile_list gives every profile sorted by name, with config and
 * devices; db_profile_get one (-ENOENT). db_profile_insert stores a new one (-EEXIST when the
 * name is taken). db_profile_update replaces the description, config and devices of profile
 * `name` in one transaction. db_profile_rename renames it (-EEXIST). db_profile_delete deletes it
 * unless an instance or a snapshot names it: -EBUSY with a message listing them.
 * db_profile_used_by gives the API paths of the instances ("/1.0/instances/c1") and snapshots
 * ("/1.0/instances/c1/snapshots/s0") that name it, instances first, each sorted;
 * db_profile_instances the names of the instances that name it (any row state), sorted.
 */
int db_profile_list(struct db *db, struct profile **ret, size_t *ret_n, struct err **err);
int db_profile_get(struct db *db, const char *name, struct profile *ret, struct err **err);
int db_profile_insert(struct db *db, const struct profile *p, struct err **err);
int db_profile_update(struct db *db, const char *name, const struct profile *p, struct err **err);
int db_profile_rename(struct db *db, const char *name, const char *new_name, struct err **err);
int db_profile_delete(struct db *db, const char *name, struct err **err);
int db_profile_used_by(struct db *db, const char *name, char ***ret, struct err **err);
int db_profile_instances(struct db *db, const char *name, char ***ret, struct err **err);

/* Snapshots of an instance. Names are unique per instance whatever the row state (-EEXIST);
 * every function gives -ENOENT when the instance or the snapshot is missing. Deleting an
 * instance deletes its snapshot rows. db_snapshot_insert reads s->instance to find the
 * instance, ignores s->id and stores the new id in *ret_id (which may be NULL).
 * db_snapshot_list returns the rows of one instance in every state, oldest first (by
 * created_at, then id), with their config; with `instance` NULL, those of every instance,
 * grouped by instance name. */
int db_snapshot_insert(struct db *db, const struct db_snapshot *s, int64_t *ret_id,
		       struct err **err);
int db_snapshot_get(struct db *db, const char *instance, const char *name, struct db_snapshot *ret,
		    struct err **err);
int db_snapshot_list(struct db *db, const char *instance, struct db_snapshot **ret, size_t *ret_n,
		     struct err **err);
int db_snapshot_set_state(struct db *db, const char *instance, const char *name,
			  enum db_row_state state, struct err **err);
/* Sets the expiry (seconds since the epoch, 0 = never). */
int db_snapshot_set_expiry(struct db *db, const char *instance, const char *name,
			   int64_t expires_at, struct err **err);
/* Renames a snapshot; -EEXIST when `new_name` is taken for that instance. */
int db_snapshot_rename(struct db *db, const char *instance, const char *name, const char *new_name,
		       struct err **err);
int db_snapshot_delete(struct db *db, const char *instance, const char *name, struct err **err);

/*
 * Every READY snapshot of every READY instance, for passes over all instances (the scheduler,
 * the expiry timer): one scan of the snapshots table (and one query of the instances' names) in
 * one read transaction, without description or config. Ordered by instance name (as
 * db_instance_list()), then created_at, then id, so the rows of one instance are consecutive and
 * oldest first. *ret is one block holding rows and strings, the caller's to free with
 * db_snapshot_briefs_free(); with no snapshot at all, *ret_n is 0. A million rows take about
 * 60 MB and half a second.
 */
int db_snapshot_list_all(struct db *db, struct db_snapshot_brief **ret, size_t *ret_n,
			 struct err **err);
/* Frees what db_snapshot_list_all() returned; NULL accepted. */
void db_snapshot_briefs_free(struct db_snapshot_brief *v);

/*
 * The journal. db_pending_add stores a new entry (p->id ignored) and its id in *ret_id (may be
 * NULL); db_pending_list returns every entry, oldest first (free with db_pendings_free);
 * db_pending_delete removes one (a missing one is fine): for an operation that failed and put
 * back what it had done. An operation that succeeds removes its entry with its last step, in
 * one transaction, through db_pending_finish_*, so that no entry is gone before its steps are
 * done. Deleting an instance deletes its entries.
 */
void db_pending_done(struct db_pending *p);
void db_pendings_free(struct db_pending *v, size_t n);
int db_pending_add(struct db *db, const struct db_pending *p, int64_t *ret_id, struct err **err);
int db_pending_list(struct db *db, struct db_pending **ret, size_t *ret_n, struct err **err);
int db_pending_delete(struct db *db, int64_t id, struct err **err);
/* db_pending_delete() for an undo step that the failed operation carries on past: a failure is
 * logged (the entry is then dealt with at the next start), the operation's own error is what
 * its caller sees. */
void db_pending_delete_ignoring(struct db *db, int64_t id);
/* The last step of a snapshot rename and the removal of its entry `id`, in one transaction:
 * renames the row of snapshot `name` of `instance` to `new_name` (nothing when there is no row
 * `name` any more: the step was done) and deletes the entry. -ENOENT for an unknown instance,
 * -EEXIST when `new_name` is taken. */
int db_pending_finish_rename(struct db *db, int64_t id, const char *instance, const char *name,
			     const char *new_name, struct err **err);
/* The last step of a restore and the removal of its entry `id`, in one transaction: replaces
 * the config of `instance` with `config` (unless NULL, for a disk-only restore) and deletes the
 * entry. -ENOENT for an unknown instance. */
int db_pending_finish_restore(struct db *db, int64_t id, const char *instance,
			      const struct kvlist *config, struct err **err);
/* The same, which also puts back the devices and profiles (when not NULL) the snapshot kept. */
int db_pending_finish_restore_settings(struct db *db, int64_t id, const char *instance,
				       const struct kvlist *config, const struct devices *devices,
				       char *const *profiles, struct err **err);
/* The last step of an instance rename and the removal of its entry `id`, in one transaction:
 * renames the row of instance `name` to `new_name` (its config, snapshots and scheduler state
 * follow: they hang on the row's id; nothing when there is no row `name` any more) and deletes
 * the entry. -EEXIST when `new_name` is taken. */
int db_pending_finish_instance_rename(struct db *db, int64_t id, const char *name,
				      const char *new_name, struct err **err);

/*
 * The snapshot scheduler's state of each instance (table schedule_state), keyed by the instance's
 * id: it follows the instance and goes when the instance is deleted.
 *
 * db_schedule_get gives the state of `instance`, a zeroed state (and 0) when the scheduler never
 * ran on it; -ENOENT for an unknown instance. Free with db_schedule_state_done().
 * db_schedule_put replaces the state of `instance` in one statement; -ENOENT for an unknown
 * instance.
 * db_schedule_list gives the state of every instance (in every row state, zeroed for those the
 * scheduler never ran on) in one query, ordered by name as db_instance_list(): *ret_names is a
 * NULL-terminated array (free with strv_free) and *ret_states the parallel array of *ret_n
 * states (free with db_schedule_states_free).
 */
int db_schedule_get(struct db *db, const char *instance, struct db_schedule_state *ret,
		    struct err **err);
int db_schedule_put(struct db *db, const char *instance, const struct db_schedule_state *s,
		    struct err **err);
void db_schedule_state_done(struct db_schedule_state *s);
int db_schedule_list(struct db *db, char ***ret_names, struct db_schedule_state **ret_states,
		     size_t *ret_n, struct err **err);
void db_schedule_states_free(struct db_schedule_state *v, size_t n);

/*
 * The server's own config (table server_config: Incus's GET/PUT /1.0 "config"), the trust store
 * (certificates: the client certificates allowed over HTTPS) and the one-time trust tokens
 * (trust_tokens), in config/db_trust.c.
 *
 * db_server_config_get fills *ret (empty and 0 when nothing is set; kvlist_done).
 * db_server_config_replace makes the stored config exactly `config` (empty values dropped).
 */
int db_server_config_get(struct db *db, struct kvlist *ret, struct err **err);
int db_server_config_replace(struct db *db, const struct kvlist *config, struct err **err);

struct db_certificate {
	char *fingerprint; /* SHA-256 of the DER, lowercase hex */
	char *name;
	char *type;	   /* "client" */
	char *certificate; /* PEM */
	int64_t created_at;
};

struct db_token {
	char *name;   /* the client name given to `trust add` */
	char *secret; /* hex */
	int64_t created_at;
	int64_t expires_at;
};

void db_certificate_done(struct db_certificate *c);
void db_certificates_free(struct db_certificate *v, size_t n);
void db_token_done(struct db_token *t);
void db_tokens_free(struct db_token *v, size_t n);

/* Every trusted certificate, by name then fingerprint (free with db_certificates_free). */
int db_certificate_list(struct db *db, struct db_certificate **ret, size_t *ret_n,
			struct err **err);

/* The certificate whose fingerprint is `fp` or, when `fp` is shorter, the only one it starts
 * (at least 12 characters, as Incus takes them). -ENOENT with `Certificate "x" not found`,
 * -EINVAL when a prefix names several. */
int db_certificate_get(struct db *db, const char *fp, struct db_certificate *ret, struct err **err);

/* True when a certificate with exactly fingerprint `fp` is trusted (false on any error). */
bool db_certificate_trusted(struct db *db, const char *fp);

/* Adds `c` (created_at is set here). -EEXIST with `Certificate "fp" is already trusted`. */
int db_certificate_add(struct db *db, const struct db_certificate *c, struct err **err);

/* Removes the certificate of full fingerprint `fp`. -ENOENT when there is none. */
int db_certificate_delete(struct db *db, const char *fp, struct err **err);

/* Records token `t`. */
int db_token_add(struct db *db, const struct db_token *t, struct err **err);

/* Every token not yet used, expired ones included (free with db_tokens_free). */
int db_token_list(struct db *db, struct db_token **ret, size_t *ret_n, struct err **err);

/* Removes the tokens named `name` or of secret `name`. -ENOENT when there is none. */
int db_token_delete(struct db *db, const char *name, struct err **err);

/*
 * Uses token `secret` at time `now` to trust certificate `c`, in one transaction: the token is
 * gone and the certificate trusted, or neither. `c->name` NULL takes the token's name.
 * -EACCES with `The trust token has expired` (the token is removed), or `The trust token is not
 * valid (unknown, revoked or already used)`; -EEXIST when the certificate is already trusted
 * (the token is kept).
 */
int db_token_redeem(struct db *db, const char *secret, int64_t now, const struct db_certificate *c,
		    struct err **err);

/* A managed network (table networks, db_networks.c). */
struct db_network {
	int64_t id;
	char *name;
	char *type; /* "bridge" */
	char *description;
	struct kvlist config;
	enum db_row_state state;
};

/* Frees the contents of a network row; may be called twice. */
void db_network_done(struct db_network *n);
/* Frees an array of `n` network rows and the array. */
void db_networks_free(struct db_network *v, size_t n);

/*
 * Networks. Names are unique whatever the row state (-EEXIST); -ENOENT for a missing network.
 * db_network_insert stores the row with its config and state in one transaction (n->id
 * ignored). db_network_get and db_network_list give rows in every state, with their config;
 * the list is ordered by name. db_network_update replaces config and description (NULL:
 * unchanged) in one transaction. db_network_rename fails with -EEXIST when `new_name` is taken.
 */
int db_network_insert(struct db *db, const struct db_network *n, struct err **err);
int db_network_get(struct db *db, const char *name, struct db_network *ret, struct err **err);
int db_network_list(struct db *db, struct db_network **ret, size_t *ret_n, struct err **err);
int db_network_set_state(struct db *db, const char *name, enum db_row_state state,
			 struct err **err);
int db_network_update(struct db *db, const char *name, const struct kvlist *config,
		      const char *description, struct err **err);
int db_network_rename(struct db *db, const char *name, const char *new_name, struct err **err);
int db_network_delete(struct db *db, const char *name, struct err **err);

/*
 * The daemon's remotes (db_remotes.c): the daemons it sends to on its own (the snapshot server,
 * snapshots.copy.target), each trusted by its server certificate. Names are unique (-EEXIST);
 * -ENOENT with a message naming the remote when it is missing.
 */
struct db_remote {
	char *name;
	char *address;	   /* "HOST:PORT" */
	char *certificate; /* PEM of the remote's server certificate, pinned */
	char *fingerprint; /* its SHA-256, 64 hex digits */
	int64_t created_at;
};

/* Frees the contents of a remote row; may be called twice. */
void db_remote_done(struct db_remote *r);
/* Frees an array of `n` remote rows and the array. */
void db_remotes_free(struct db_remote *v, size_t n);

/* Every remote, by name. */
int db_remote_list(struct db *db, struct db_remote **ret, size_t *ret_n, struct err **err);
int db_remote_get(struct db *db, const char *name, struct db_remote *ret, struct err **err);
int db_remote_add(struct db *db, const struct db_remote *r, struct err **err);
int db_remote_delete(struct db *db, const char *name, struct err **err);

/*
 * What the refresh of an instance's snapshot server last did (table copy_state), keyed by the
 * instance's id and gone with the instance. An instance without a row reads as zeroed.
 */
struct db_copy_state {
	char *target; /* the snapshots.copy.target it was for ("r2" or "r2:c1"), may be NULL */
	bool owed;    /* a scheduled snapshot was taken that the target has not got yet */
	int64_t last_attempt; /* seconds since the epoch, 0 = never */
	int64_t last_success; /* seconds since the epoch, 0 = never */
	uint64_t last_bytes;  /* bytes sent by the last successful refresh */
	char *last_error;     /* the last attempt's failure, NULL when it worked */
	int64_t failures;     /* failed attempts in a row */
	int64_t next_retry;   /* when a failed refresh is tried again, 0 = not scheduled */
};

void db_copy_state_done(struct db_copy_state *s);
void db_copy_states_free(struct db_copy_state *v, size_t n);

/* The state of `instance` (zeroed when it has none); -ENOENT for an unknown instance. */
int db_copy_state_get(struct db *db, const char *instance, struct db_copy_state *ret,
		      struct err **err);
/* Replaces the state of `instance` in one statement; -ENOENT for an unknown instance. */
int db_copy_state_put(struct db *db, const char *instance, const struct db_copy_state *s,
		      struct err **err);
/* Marks a refresh of `instance` as owed (a scheduled snapshot was just taken), keeping the rest
 * of its state; -ENOENT for an unknown instance. */
int db_copy_state_owe(struct db *db, const char *instance, struct err **err);
/* The names of the READY instances with a refresh owed, sorted, NULL-terminated (never NULL on
 * success), with their states in the same order (db_copy_states_free). */
int db_copy_state_owed(struct db *db, char ***ret_names, struct db_copy_state **ret_states,
		       size_t *ret_n, struct err **err);
