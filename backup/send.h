#pragma once

/*
 * The optimized layout of a backup on btrfs: each snapshot and the instance as a btrfs send
 * stream (backup/snapshots/<snapshot>.bin, backup/container.bin), the oldest snapshot whole and
 * each later one, and the instance, as a difference from the one before, as Incus writes them.
 * Streams are made by the kernel (BTRFS_IOC_SEND) and replayed by `btrfs receive`; on the way in,
 * every command of a stream is checked before the receiver sees it (backup_stream_check()).
 */

#include <stdbool.h>
#include <stdint.h>

#include "backup/stream.h"

struct archive;
struct backup_index;
struct err;
struct instance_env;
struct instance_unpack;
struct storage_pool;

/*
 * Receives the streams that follow the index in `u` into the new instance `name` on btrfs pool
 * `pool` (its CREATING row written): each snapshot in the index's order, then the instance.
 * The snapshots forget their received UUID unless `keep_received` (a migration's).
 * Owners are moved from the exporting host's range (`from_base`, the index's
 * volatile.idmap.base) into `to_base` when they differ (not for a privileged container, whose
 * owners are the host's). On failure what was received stays for the caller's undo.
 */
int backup_receive_trees(const struct instance_env *env, struct storage_pool *pool,
			 const char *name, const struct backup_index *idx,
			 struct instance_unpack *u, bool privileged, uint32_t from_base,
			 uint32_t to_base, bool keep_received, struct err **err);

/*
 * Receives the current entry of `u`, a send stream, into containers-snapshots/<name>/ of btrfs
 * pool `pool` through the checker (backup/stream.h): named `want` (NULL: any name but those in
 * `taken`), whole when *n_known is 0, else a difference from known[*n_known - 1], clone
 * sources among `known`; owners in [id_base, id_base + 65536) unless `privileged`. On success
 * the stream's subvolume is appended to `known` (which must have room) and *ret_subvol is its
 * name (caller frees). A failed receive may leave a partial, writable subvolume behind.
 */
int backup_receive_stream(struct storage_pool *pool, const char *name, struct instance_unpack *u,
			  const char *want, char *const *taken, struct backup_stream_known *known,
			  size_t *n_known, uint32_t id_base, bool privileged, char **ret_subvol,
			  struct err **err);

/*
 * Writes snapshot `snapshot` of `volume` on `pool` to archive `a` as the entry `entry_name`, a
 * send stream, as a difference from snapshot `parent` (NULL: whole). The stream is spooled into
 * an unnamed file on the pool first, since a tar entry states its size before its data.
 */
int backup_send_tree(struct archive *a, const struct storage_pool *pool, const char *volume,
		     const char *snapshot, const char *parent, const char *entry_name,
		     struct err **err);
