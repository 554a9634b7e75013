#pragma once

/*
 * The optimized layout of a backup on btrfs: each snapshot and the instance as a btrfs send
 * stream (backup/snapshots/<snapshot>.bin, backup/container.bin), the oldest snapshot whole and
 * each later one, and the instance, as a difference from the one before, as Incus writes them.
 * Streams are made by the kernel (BTRFS_IOC_SEND) and replayed by `btrfs receive`; on the way in,
 * every command of a stream is checked before the receiver sees it (backup_stream_check()).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct archive;
struct backup_index;
struct err;
struct instance_env;
struct instance_unpack;
struct storage_pool;

/*
 * The checker of one send stream, fed its bytes in pieces of any size. It passes on (through
 * `out`) only whole commands it has checked, so the receiver never sees a byte it refused:
 *   - the stream header (version 1);
 *   - a first command that makes the subvolume: `subvol` (a whole stream) named `name` (NULL:
 *     any single path component but the names in `taken`), or `snapshot` (a difference) from
 *     the stream received just before, by UUID and transaction; the first stream of a backup
 *     must be whole;
 *   - clone sources only in this stream's subvolume or one received before it for this backup;
 *   - paths relative, without "..", and no device nodes;
 *   - owners within [id_base, id_base + id_size) (the exporting host's range), or anything
 *     when id_size is 0 (a privileged container);
 *   - nothing after the end command.
 */
struct backup_stream_known {
	uint8_t uuid[16];
	uint64_t ctransid;
};

struct backup_stream {
	const char *name;   /* the subvolume's name, NULL: see `taken` */
	char *const *taken; /* names it may not have (NULL-terminated; may be NULL) */
	const struct backup_stream_known *known; /* the streams received before, oldest first */
	size_t n_known;
	uint64_t id_base;
	uint64_t id_size;
	int (*out)(const void *buf, size_t len, void *ctx, struct err **err);
	void *out_ctx;
	/* state */
	uint8_t *buf; /* the command being gathered */
	size_t len, cap;
	bool header_seen, started, ended;
	struct backup_stream_known self; /* this stream's subvolume */
	char *subvol;			 /* and its name */
};

/* Checks and passes on `len` more bytes. -EINVAL "Invalid backup tarball: ..." for a refusal. */
int backup_stream_feed(struct backup_stream *s, const void *data, size_t len, struct err **err);

/* The stream's end: -EINVAL when it stopped inside a command or before its end command. */
int backup_stream_finish(struct backup_stream *s, struct err **err);

void backup_stream_done(struct backup_stream *s);

/*
 * Receives the streams that follow the index in `u` into the new instance `name` on btrfs pool
 * `pool` (its CREATING row written): each snapshot in the index's order, then the instance.
 * Owners are moved from the exporting host's range (`from_base`, the index's
 * volatile.idmap.base) into `to_base` when they differ (not for a privileged container, whose
 * owners are the host's). On failure what was received stays for the caller's undo.
 */
int backup_receive_trees(const struct instance_env *env, struct storage_pool *pool,
			 const char *name, const struct backup_index *idx,
			 struct instance_unpack *u, bool privileged, uint32_t from_base,
			 uint32_t to_base, struct err **err);

/*
 * Writes snapshot `snapshot` of `volume` on `pool` to archive `a` as the entry `entry_name`, a
 * send stream, as a difference from snapshot `parent` (NULL: whole). The stream is spooled into
 * an unnamed file on the pool first, since a tar entry states its size before its data.
 */
int backup_send_tree(struct archive *a, const struct storage_pool *pool, const char *volume,
		     const char *snapshot, const char *parent, const char *entry_name,
		     struct err **err);
