#pragma once

/*
 * The optimized layout of a backup on btrfs: each snapshot and the instance as a btrfs send
 * stream (backup/snapshots/<snapshot>.bin, backup/container.bin), written by `btrfs send` and
 * read back by `btrfs receive`, the oldest snapshot whole and each later one as a difference from
 * the one before.
 */

#include <stdbool.h>

struct archive;
struct backup_index;
struct err;
struct instance_env;
struct instance_unpack;
struct storage_pool;

/*
 * Receives the streams that follow the index in `u` into the new instance `name` on btrfs pool
 * `pool` (its CREATING row written): each snapshot in the index's order, then the instance.
 * A stream that is not for the subvolume its entry names, or whose clone source or parent is not
 * the snapshot before it in this instance, is refused. Owners are moved into the target's range
 * unless `privileged`. On failure what was received stays for the caller's undo.
 */
int backup_receive_trees(const struct instance_env *env, struct storage_pool *pool,
			 const char *name, const struct backup_index *idx,
			 struct instance_unpack *u, bool privileged, struct err **err);

/*
 * Writes `path` (a read-only subvolume) to archive `a` as the entry `entry_name`, a send stream
 * made by `btrfs send`, as a difference from `parent` (a read-only subvolume, NULL: whole).
 * The stream is spooled into an unnamed file in `spool_dir` first, since a tar entry states its
 * size before its data.
 */
int backup_send_tree(struct archive *a, const char *path, const char *parent,
		     const char *entry_name, const char *spool_dir, struct err **err);
