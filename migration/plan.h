#pragma once

/*
 * What a transfer sends (migration/migration.h), decided by the source from the target's haves:
 * pure, so that it is unit-tested on its own.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

/* One snapshot as a side knows it: its name, its creation time and the UUID that ties it to
 * the same snapshot on the other side ("" when it has none). */
struct migration_snap {
	const char *name;
	const char *uuid;
	int64_t created_at;
};

struct migration_plan {
	char **send;	   /* the source's snapshots to send, oldest first (NULL-terminated) */
	char **send_uuids; /* their UUIDs, in the same order */
	char *parent;	   /* the newest snapshot both have (the source's name), NULL: none */
	char *parent_uuid;
	char *target_parent; /* and the target's name for it */
	char **prune;	     /* the target's snapshots the source does not have */
};

void migration_plan_done(struct migration_plan *p);
#define _cleanup_migration_plan_ __attribute__((cleanup(migration_plan_done)))

/*
 * Plans a transfer from the source's snapshots `src` (oldest first) to a target that has the
 * instance (`exists`) with snapshots `have`. A target without the instance gets every snapshot
 * (none with `instance_only`). Otherwise a source snapshot is common when a target snapshot has
 * its UUID (whatever its name); the others are sent, except with `exclude_older` those created
 * before the target's newest snapshot; the parent is the newest common snapshot. A source
 * snapshot whose name a target snapshot has without its UUID is -EEXIST (the target has
 * another snapshot of that name). prune lists the target's snapshots whose UUID and name the
 * source has not. -ENOMEM.
 */
int migration_plan_make(const struct migration_snap *src, size_t n_src,
			const struct migration_snap *have, size_t n_have, bool exists,
			bool instance_only, bool exclude_older, struct migration_plan *ret,
			struct err **err);

/* A UUID as text (36 characters and the NUL). */
void migration_uuid_format(const uint8_t uuid[16], char out[static 37]);

/* Reads a UUID written as 32 hex digits, with dashes only between two bytes' digits (as
 * migration_uuid_format() writes them), or none. -EINVAL otherwise. */
int migration_uuid_parse(const char *s, uint8_t out[16]);
