#pragma once

/*
 * Storage pools and their drivers behind one operations table. Drivers see pool and volume names
 * and paths, never instances. A pool is mounted (or, for `dir`, simply present) at
 * `pool->mount_path`; a volume of type T named N lives at `<mount_path>/<T dir>/<N>`:
 *
 *   images/<fingerprint>                 image volumes (the image's rootfs/ and metadata.yaml)
 *   containers/<name>                    instance volumes (rootfs/, backup.yaml)
 *   containers-snapshots/<name>/<snap>   read-only snapshots of instance volumes
 *
 * Modes (as LXD lays them out): the mount path, containers/ and containers-snapshots/ are 0711
 * (passable, not listable), images/ and every containers-snapshots/<name>/ are 0700 root. Every
 * volume the operations below make (create, copy, import, restore, from a snapshot) is handed
 * out owned by root with mode 0700; the instance layer then opens a container volume to the one
 * host uid that is root in its container (mode 0100). A snapshot keeps the mode its volume had.
 * Nothing in a pool is mounted nosuid: a setuid file is kept from users outside the container by
 * these directories, not by the mount (see storage/btrfs.c, mount_device()).
 *
 * Only the wrappers below call through the table; they turn a NULL operation into -EOPNOTSUPP.
 * Every operation returns 0 or a negative errno and fills `err`. A multi-step operation undoes
 * its completed steps when a later one fails.
 */

#include <stdbool.h>
#include <stdint.h>

struct err;

enum storage_volume_type {
	STORAGE_VOLUME_IMAGE,
	STORAGE_VOLUME_CONTAINER,
	STORAGE_VOLUME_TYPE_MAX,
};

struct storage_ops;

/*
 * What a caller adds to a snapshot restore (storage_snapshot_restore_with()) so that its own
 * change and the restore happen together or not at all. Either function may be NULL; `data` is
 * passed to both.
 */
struct storage_restore_hooks {
	/* Runs on the restored tree at `path` (a writable copy of the snapshot beside the volume)
	 * before it is swapped in: what it writes there arrives with the swap. On failure the copy
	 * is removed and the volume was never touched. */
	int (*prepare)(const char *path, void *data, struct err **err);
	/* Runs right after the swap; on failure the old tree is swapped back. */
	int (*commit)(void *data, struct err **err);
	void *data;
};

struct storage_pool {
	char *name;
	char *driver;	  /* "btrfs" or "dir" */
	char *source;	  /* loop file (btrfs default), block device, or directory */
	char *mount_path; /* $CAIRN_DIR/storage-pools/<name> */
	uint64_t size;	  /* bytes of the loop file; 0 when the pool has no loop file */
	const struct storage_ops *ops;
	/* Deleted while the daemon runs: its slot stays (readers hold no lock), unused.
	 * Read and written atomically. */
	bool removed;
};

/* Filled by storage_snapshot_ids(). */
struct storage_snapshot_ids {
	uint8_t uuid[16];
	uint64_t ctransid;
	uint8_t received_uuid[16]; /* all zero: not received */
	uint64_t stransid;
};

struct storage_ops {
	const char *name;
	/* Capabilities */
	bool
	    snapshot_needs_freeze; /* snapshots of a running instance need it frozen (copy-based) */
	bool instant_snapshots;	   /* snapshot cost does not grow with the data */

	/* Pool. create makes the backing store (loop file + filesystem, or the directory) and
	 * leaves it mounted; mount is idempotent (a mounted pool is fine) and re-attaches a loop
	 * file whose loop device vanished after a reboot. */
	int (*pool_check)(const struct storage_pool *pool, struct err **err);
	int (*pool_create)(const struct storage_pool *pool, struct err **err);
	int (*pool_delete)(const struct storage_pool *pool, struct err **err);
	int (*pool_mount)(const struct storage_pool *pool, struct err **err);
	int (*pool_unmount)(const struct storage_pool *pool, struct err **err);
	int (*pool_usage)(const struct storage_pool *pool, uint64_t *ret_used, uint64_t *ret_total,
			  struct err **err);
	/* Grows the loop file of a mounted pool to `size` bytes and the filesystem with it (never
	 * shrinks). NULL where the pool has no loop file to grow. */
	int (*pool_grow)(const struct storage_pool *pool, uint64_t size, struct err **err);

	/* Volumes. create makes an empty volume (a subvolume on btrfs). copy makes `dst` a
	 * writable copy of `src` (a writable snapshot on btrfs, a full copy on dir) preserving
	 * ownership, modes, xattrs and special files inside it; the volume directory itself is
	 * root's, mode 0700, like every volume these operations make. delete removes the volume
	 * with everything inside it (nested subvolumes included); a missing volume is -ENOENT. */
	int (*volume_create)(const struct storage_pool *pool, enum storage_volume_type type,
			     const char *name, struct err **err);
	int (*volume_delete)(const struct storage_pool *pool, enum storage_volume_type type,
			     const char *name, struct err **err);
	int (*volume_rename)(const struct storage_pool *pool, enum storage_volume_type type,
			     const char *old_name, const char *new_name, struct err **err);
	int (*volume_usage)(const struct storage_pool *pool, enum storage_volume_type type,
			    const char *name, uint64_t *ret_bytes, struct err **err);
	int (*volume_copy)(const struct storage_pool *pool, enum storage_volume_type src_type,
			   const char *src, enum storage_volume_type dst_type, const char *dst,
			   struct err **err);
	/* Makes volume `name` a copy of the directory tree `src_path`, which may be on another
	 * filesystem (a volume of another pool): whole or absent, through a hidden name. */
	int (*volume_import)(const struct storage_pool *pool, enum storage_volume_type type,
			     const char *name, const char *src_path, struct err **err);

	/* Snapshots of container volumes: read-only, at containers-snapshots/<vol>/<snap>. */
	int (*snapshot_create)(const struct storage_pool *pool, const char *volume,
			       const char *snapshot, struct err **err);
	int (*snapshot_delete)(const struct storage_pool *pool, const char *volume,
			       const char *snapshot, struct err **err);
	int (*snapshot_rename)(const struct storage_pool *pool, const char *volume,
			       const char *old_name, const char *new_name, struct err **err);
	/* Replaces the volume's content with the snapshot's: on btrfs a writable snapshot of the
	 * snapshot is made beside the volume, then swapped in with rename, so until the swap the
	 * old volume is intact. `hooks` (may be NULL) run before and after the swap. */
	int (*snapshot_restore)(const struct storage_pool *pool, const char *volume,
				const char *snapshot, const struct storage_restore_hooks *hooks,
				struct err **err);
	/* Makes a new writable container volume `dst` from a snapshot. */
	int (*volume_from_snapshot)(const struct storage_pool *pool, const char *volume,
				    const char *snapshot, const char *dst, struct err **err);
	/* Exclusive bytes of a snapshot (btrfs qgroups). -EOPNOTSUPP when unknown. */
	int (*snapshot_usage)(const struct storage_pool *pool, const char *volume,
			      const char *snapshot, uint64_t *ret_bytes, struct err **err);
	/* 1 when the volume was written since `snapshot` was taken from it, 0 when it was not
	 * (btrfs: the volume's generation is past the snapshot's creation transaction; taking a
	 * snapshot moves the volume's generation to that transaction). NULL on drivers that cannot
	 * tell, whose volumes always count as changed. */
	int (*snapshot_changed_since)(const struct storage_pool *pool, const char *volume,
				      const char *snapshot, struct err **err);

	/* Send streams (btrfs only; NULL elsewhere). snapshot_send writes a send stream of the
	 * read-only snapshot to `fd`: whole, or as a difference from snapshot `parent` of the same
	 * volume. snapshot_receive runs a receiver into containers-snapshots/<volume>/ (made if
	 * missing) and calls `feed` with the descriptor to write the stream into; the subvolume it
	 * makes has the stream's own name and is read-only. snapshot_set_read_only sets or clears
	 * a snapshot's read-only flag, and snapshot_forget_received clears what it remembers of the
	 * stream it came from (its received UUID), so that no later stream can name it as a parent
	 * or a clone source. */
	int (*snapshot_send)(const struct storage_pool *pool, const char *volume,
			     const char *snapshot, const char *parent, int fd, struct err **err);
	int (*snapshot_receive)(const struct storage_pool *pool, const char *volume,
				int (*feed)(int fd, void *ctx, struct err **err), void *ctx,
				struct err **err);
	int (*snapshot_set_read_only)(const struct storage_pool *pool, const char *volume,
				      const char *snapshot, bool read_only, struct err **err);
	int (*snapshot_forget_received)(const struct storage_pool *pool, const char *volume,
					const char *snapshot, struct err **err);
	/* What ties a snapshot to the send streams made of it and received into it: its own UUID
	 * and creation transaction, and the received UUID and the sender's transaction of the
	 * stream it came from (zero when it was not received). btrfs only. */
	int (*snapshot_ids)(const struct storage_pool *pool, const char *volume,
			    const char *snapshot, struct storage_snapshot_ids *ret,
			    struct err **err);

	/* Limits what container volume `name` may reference to `bytes` (0: no limit), the `size`
	 * of its root disk: a btrfs qgroup limit. NULL where the driver cannot enforce one. */
	int (*volume_set_quota)(const struct storage_pool *pool, const char *name, uint64_t bytes,
				struct err **err);

	/* The two primitives the shared copy, snapshot and restore operations (storage/tree.c)
	 * are built on, so that both drivers keep one set of those multi-step operations.
	 * tree_clone makes `dst` (absent) a copy of `src` that appears whole or not at all:
	 * a snapshot on btrfs (read-only when asked), a copy through a hidden name on dir.
	 * tree_remove removes the subvolume or tree at `path` with everything in it. */
	int (*tree_clone)(const char *src, const char *dst, bool read_only, struct err **err);
	int (*tree_remove)(const char *path, struct err **err);
};

/* The operations table of driver `name`, or NULL when there is no such driver. */
const struct storage_ops *storage_driver(const char *name);

/* Fills a pool struct (copies of the strings) and binds its driver. `cairn_dir` gives the mount
 * path. A NULL or empty `source` picks the default: `<cairn_dir>/disks/<name>.img` for btrfs, the
 * mount path itself for dir. -EINVAL for an unknown driver. Free with storage_pool_done(). */
int storage_pool_init(struct storage_pool *pool, const char *cairn_dir, const char *name,
		      const char *driver, const char *source, uint64_t size, struct err **err);
void storage_pool_done(struct storage_pool *pool);

/* "images" or "containers". */
const char *storage_volume_dir(enum storage_volume_type type);

/* <mount_path>/<type dir>/<name>; caller frees. NULL on OOM. */
char *storage_volume_path(const struct storage_pool *pool, enum storage_volume_type type,
			  const char *name);

/* <mount_path>/containers-snapshots/<volume>/<snapshot>; caller frees. */
char *storage_snapshot_path(const struct storage_pool *pool, const char *volume,
			    const char *snapshot);

/* Wrappers: one per operation, NULL operation -> -EOPNOTSUPP. */
int storage_pool_check(const struct storage_pool *pool, struct err **err);
int storage_pool_create(const struct storage_pool *pool, struct err **err);
int storage_pool_delete(const struct storage_pool *pool, struct err **err);
int storage_pool_mount(const struct storage_pool *pool, struct err **err);
int storage_pool_unmount(const struct storage_pool *pool, struct err **err);
int storage_pool_usage(const struct storage_pool *pool, uint64_t *ret_used, uint64_t *ret_total,
		       struct err **err);
/* -EOPNOTSUPP when the pool has no loop file (pool->size 0) or its driver cannot grow one,
 * -EINVAL when `size` is below the current size. */
int storage_pool_grow(const struct storage_pool *pool, uint64_t size, struct err **err);
int storage_volume_create(const struct storage_pool *pool, enum storage_volume_type type,
			  const char *name, struct err **err);
int storage_volume_delete(const struct storage_pool *pool, enum storage_volume_type type,
			  const char *name, struct err **err);
int storage_volume_rename(const struct storage_pool *pool, enum storage_volume_type type,
			  const char *old_name, const char *new_name, struct err **err);
int storage_volume_usage(const struct storage_pool *pool, enum storage_volume_type type,
			 const char *name, uint64_t *ret_bytes, struct err **err);
/* Limits what container volume `name` may reference to `bytes`; 0 lifts the limit. -EOPNOTSUPP
 * where the driver cannot enforce one (dir), -ENOENT for a missing volume, -ENOTCONN when quotas
 * are off on the pool's file system. */
int storage_volume_set_quota(const struct storage_pool *pool, const char *name, uint64_t bytes,
			     struct err **err);
int storage_volume_copy(const struct storage_pool *pool, enum storage_volume_type src_type,
			const char *src, enum storage_volume_type dst_type, const char *dst,
			struct err **err);
int storage_volume_import(const struct storage_pool *pool, enum storage_volume_type type,
			  const char *name, const char *src_path, struct err **err);
int storage_snapshot_create(const struct storage_pool *pool, const char *volume,
			    const char *snapshot, struct err **err);
int storage_snapshot_delete(const struct storage_pool *pool, const char *volume,
			    const char *snapshot, struct err **err);
int storage_snapshot_rename(const struct storage_pool *pool, const char *volume,
			    const char *old_name, const char *new_name, struct err **err);
int storage_snapshot_restore(const struct storage_pool *pool, const char *volume,
			     const char *snapshot, struct err **err);
/* storage_snapshot_restore() with the caller's `hooks` (struct storage_restore_hooks): a failure
 * of either leaves the volume as it was. */
int storage_snapshot_restore_with(const struct storage_pool *pool, const char *volume,
				  const char *snapshot, const struct storage_restore_hooks *hooks,
				  struct err **err);
int storage_volume_from_snapshot(const struct storage_pool *pool, const char *volume,
				 const char *snapshot, const char *dst, struct err **err);
int storage_snapshot_usage(const struct storage_pool *pool, const char *volume,
			   const char *snapshot, uint64_t *ret_bytes, struct err **err);

/* Whether `volume` changed since its snapshot `snapshot` (the snapshot_changed_since operation):
 * 1 or 0, and 1 on a driver that cannot tell. Errors: -ENOENT, or the errno of reading either. */
int storage_snapshot_changed_since(const struct storage_pool *pool, const char *volume,
				   const char *snapshot, struct err **err);

/* The send stream operations (struct storage_ops); -EOPNOTSUPP on drivers without them. */
int storage_snapshot_send(const struct storage_pool *pool, const char *volume, const char *snapshot,
			  const char *parent, int fd, struct err **err);
int storage_snapshot_receive(const struct storage_pool *pool, const char *volume,
			     int (*feed)(int fd, void *ctx, struct err **err), void *ctx,
			     struct err **err);
int storage_snapshot_set_read_only(const struct storage_pool *pool, const char *volume,
				   const char *snapshot, bool read_only, struct err **err);
int storage_snapshot_forget_received(const struct storage_pool *pool, const char *volume,
				     const char *snapshot, struct err **err);
int storage_snapshot_ids(const struct storage_pool *pool, const char *volume, const char *snapshot,
			 struct storage_snapshot_ids *ret, struct err **err);

/* The capability flags, read through the pool like every operation: whether a snapshot of a
 * running instance's volume needs the instance frozen (the pool copies rather than snapshots). */
bool storage_snapshot_needs_freeze(const struct storage_pool *pool);

/*
 * Names of the entries in <mount_path>/<type dir>/ (volumes that exist on disk), for the
 * daemon's recovery pass; hidden entries (".tmp-*") included. NULL-terminated, caller frees
 * with strv_free(). An absent directory gives an empty list.
 */
int storage_volume_list(const struct storage_pool *pool, enum storage_volume_type type,
			char ***ret_names, struct err **err);
