#pragma once

/*
 * The index of a backup tarball, `backup/index.yaml`, in Incus's layout: the top-level keys
 * name, backend, pool, optimized, optimized_header, type and snapshots (the names, oldest
 * first), and `config` with the instance (`container`: name, description, architecture,
 * created_at, last_used_at, config, devices, profiles, expanded_config, expanded_devices,
 * ephemeral, stateful, type) and its snapshots (`snapshots`: name, description, created_at,
 * expires_at, stateful, config, devices, profiles, and cairn's own `scheduled`), as Incus writes
 * them. Times are RFC 3339; an expiry of never is written as Incus writes it,
 * `0001-01-01T00:00:00Z`. Pure: no file, no database.
 */

#include <stdbool.h>
#include <stddef.h>

#include "config/db.h"

struct err;

/* The index as read. */
struct backup_index {
	char *name;		       /* the instance's name in the backup */
	char *backend;		       /* "btrfs", "dir", or what the exporting host said */
	char *pool;		       /* the pool it was exported from */
	bool optimized;		       /* the volumes are btrfs send streams */
	struct db_instance instance;   /* name, architecture, description, created_at, last_used_at,
					  config, devices, profiles (no id, pool or state) */
	struct db_snapshot *snapshots; /* in the order of the index's list, oldest first */
	size_t n_snapshots;
	bool stateful; /* the instance carries a checkpoint (`stop --stateful`) */
};

void backup_index_done(struct backup_index *idx);
#define _cleanup_backup_index_ __attribute__((cleanup(backup_index_done)))

/* At most this many snapshots in one index: a bound on what a hostile index makes the importer
 * allocate and loop over. */
#define BACKUP_INDEX_MAX_SNAPSHOTS 10000

/* The largest index read. */
#define BACKUP_INDEX_MAX_BYTES (16 * 1024 * 1024)

/*
 * Renders the index of instance `row` (with expanded_config and expanded_devices) and its
 * snapshots `snaps` (n of them, oldest first; none when exporting the instance only), exported
 * from a pool of driver `backend`, as send streams when `optimized`, with a checkpoint when
 * `stateful`. *ret_text is the caller's. -EINVAL when a value cannot be written as YAML.
 */
int backup_index_render(const struct db_instance *row, const struct db_snapshot *snaps, size_t n,
			const char *backend, bool optimized, bool stateful, char **ret_text,
			struct err **err);

/*
 * Parses an index. Requires a valid instance name and a list of unique, valid snapshot names
 * (at most BACKUP_INDEX_MAX_SNAPSHOTS); `config` is optional (older Incus backups keep it in
 * backup/container/backup.yaml), and so is the entry of each snapshot in it (a snapshot without
 * one gets the time 0 and no config). Config values that YAML reads as booleans or numbers are
 * taken as their text. A `type` other than "container" is refused. -EINVAL with a message that
 * starts with "Invalid backup index: ". Free with backup_index_done().
 */
int backup_index_parse(const char *text, size_t len, struct backup_index *ret, struct err **err);
