#pragma once

/*
 * The checker of btrfs send streams on their way from a backup tarball to `btrfs receive`
 * (backup/send.c): pure, so that it is unit-tested and fuzzed on its own.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

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
