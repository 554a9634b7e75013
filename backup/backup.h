#pragma once

/*
 * Export and import of an instance with its snapshots as one tarball in the layout of an Incus
 * backup (see doc/architecture.md, "Export and import"):
 *
 *   backup/index.yaml                       the index (backup/index.h)
 *   backup/snapshots/<snapshot>/...         each snapshot's volume (rootfs/, backup.yaml, state/)
 *   backup/container/...                    the instance's volume (rootfs/, backup.yaml,
 * checkpoint/)
 *
 * oldest snapshot first and the instance last, as Incus writes them. File owners are stored as
 * the container sees them (0..65535), as Incus stores them; the importer shifts them into the
 * target's range. With `optimized` (btrfs only) the trees are btrfs send streams instead:
 * backup/snapshots/<snapshot>.bin, the oldest whole and each later one as a difference from the
 * one before, and backup/container.bin last.
 */

#include <stdbool.h>

struct err;
struct instance_env;

enum backup_compression {
	BACKUP_COMPRESSION_NONE,
	BACKUP_COMPRESSION_GZIP,
	BACKUP_COMPRESSION_XZ,
	BACKUP_COMPRESSION_ZSTD,
	BACKUP_COMPRESSION_MAX,
};

/* "none", "gzip", "xz" or "zstd" (Incus's names; "" is gzip). -EINVAL otherwise. */
int backup_compression_parse(const char *s, enum backup_compression *ret, struct err **err);

/* The file name ending Incus gives each: ".tar", ".tar.gz", ".tar.xz", ".tar.zst". */
const char *backup_compression_suffix(enum backup_compression c);

struct backup_export_opts {
	bool instance_only; /* no snapshots */
	bool optimized;	    /* btrfs send streams (btrfs pools only) */
	/* A running instance's processes go into the backup (CRIU, they run on) as the checkpoint
	 * that a start of the imported instance resumes. */
	bool stateful;
	enum backup_compression compression;
	/* Called once the instance itself is no longer needed (its temporary snapshot is taken),
	 * so that the caller can let other operations at it; may be NULL. */
	void (*release)(void *ctx);
	void *release_ctx;
	/* A migration's stream (migration/migration.h): only the snapshots named in `only`
	 * (NULL-terminated, oldest first; NULL: every one), each with the key
	 * volatile.migration.uuid set to the matching entry of `only_uuids` in the index, and,
	 * optimized, the first stream a difference from snapshot `parent` (NULL: whole). */
	char *const *only;
	char *const *only_uuids;
	const char *parent;
	/* A migration of one snapshot (`cairn copy c1/snap0 REMOTE:NAME`): that snapshot's tree
	 * is the instance's (read as it is, no temporary snapshot) and its config, devices and
	 * profiles the instance's; no snapshot goes with it. */
	const char *snapshot;
};

/*
 * Writes the backup of instance `name` to `fd`. The instance, running or not, is read through a
 * temporary read-only snapshot (on a copy-based pool a running one is frozen for the copy, as for
 * any snapshot), which goes when the export ends; opts->release is called right after it is
 * taken. -ENOENT for an unknown instance, -EINVAL for `optimized` on a pool that is not btrfs,
 * else the errno of the read or the write that failed.
 */
/* The refusals of an export with `opts` (a stateful one of an instance that cannot be dumped,
 * an optimized one off btrfs), so that the API can answer them before it starts an operation. */
int backup_export_allowed(const struct instance_env *env, const char *name,
			  const struct backup_export_opts *opts, struct err **err);

int backup_export(const struct instance_env *env, const char *name,
		  const struct backup_export_opts *opts, int fd, struct err **err);

struct backup_import_opts {
	const char *name; /* the new instance's name; NULL: the one in the index */
	const char *pool; /* the pool to import into; NULL: the index's pool if it exists here,
			     else "default" */
	bool restricted;  /* refuse what `cairnd --restricted` refuses to the admin group */
	/* A migration: the received snapshots keep their received UUID (optimized), so that a
	 * later refresh can send differences from them (migration/migration.h), and the
	 * instance does not take the sender's snapshots.copy.target. */
	bool keep_received;
};

/*
 * Recreates an instance with its snapshots (their times, expiry, kind and read-only state) from
 * the backup tarball on `fd`, read once from its current position. The index must come first, and
 * the trees in its order; an index that lies about them, an entry outside its tree (absolute,
 * "..", through a symlink, a hard link to another tree), a device node, a truncated or corrupt
 * archive and a tree that would not fit in the pool are refused (-EINVAL, -ENOSPC) with nothing
 * left behind. -EEXIST when the name is taken, -ENOENT for a missing pool or profile, -EINVAL for
 * an optimized backup into a pool that is not btrfs. The new instance is stopped; *ret_name (may
 * be NULL) is its name, the caller's to free. Crash safe as instance creation is: its row is
 * CREATING until everything is there.
 */
int backup_import(const struct instance_env *env, int fd, const struct backup_import_opts *opts,
		  char **ret_name, struct err **err);

struct backup_index;

/*
 * A migration's refresh of existing instance `name` from a file-level stream (the tarball of a
 * backup that is not optimized, holding only the snapshots the instance lacks, then the
 * instance's tree), read from `fd`: each tree unpacked into a temporary hidden volume with every
 * check of an import and its owners shifted into the instance's range; each snapshot made from
 * it and given its row before the next tree (so a cut keeps the snapshots committed); the
 * instance's tree swapped with its volume in one step (RENAME_EXCHANGE) at the end, and the old
 * one removed. *ret_idx is the stream's index (backup_index_done()). -EEXIST when the stream
 * holds a snapshot the instance has; else as backup_import(). The caller checks that the
 * instance is stopped and holds it.
 */
int backup_import_refresh(const struct instance_env *env, const char *name, int fd,
			  struct backup_index *ret_idx, struct err **err);

/* See backup-internal.h: the check of what an import put at the top of a volume. */
int backup_check_volume(const char *path, const char *what, struct err **err);

/* Where the backups of instance `name` are kept until they are fetched and deleted (Incus's
 * place): $CAIRN_DIR/backups/instances/<name>. Caller frees; NULL on OOM. */
char *backup_dir(const struct instance_env *env, const char *name);

/* At start: removes the kept backups of instances that no longer exist (deleted with backups
 * not yet fetched). Logs what it removes; carries on past failures. */
int backup_recover(const struct instance_env *env, struct err **err);
