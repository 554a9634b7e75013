/* Both ends of a transfer between daemons (migration/migration.h). */
#include "migration/migration.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive_entry.h>

#include "backup/backup.h"
#include "backup/index.h"
#include "backup/send.h"
#include "common/cleanup.h"
#include "common/crashpoint.h"
#include "common/err.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/util.h"
#include "config/db.h"
#include "config/keys.h"
#include "instance/idmap.h"
#include "instance/image.h"
#include "instance/instance.h"
#include "instance/lxc.h"
#include "migration/plan.h"
#include "snapshots/snapshots.h"
#include "storage/storage.h"

/* The config key of a snapshot that records the UUID of the source's snapshot it is a copy of
 * (what a send stream records on btrfs as the received UUID). */
#define UUID_KEY "volatile.migration.uuid"
#define COPY_TARGET_KEY "snapshots.copy.target"

/* The largest preamble (the plan) read before the tarball. */
#define MAX_PREAMBLE (8 * 1024 * 1024)

static const uint8_t zero_uuid[16];

static int hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void migration_uuid_format(const uint8_t uuid[16], char out[static 37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 uuid[0], uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8],
		 uuid[9], uuid[10], uuid[11], uuid[12], uuid[13], uuid[14], uuid[15]);
}

int migration_uuid_parse(const char *s, uint8_t out[16])
{
	size_t k = 0;

	if (!s)
		return -EINVAL;
	for (size_t i = 0; s[i]; i++) {
		int hi, lo;

		if (s[i] == '-')
			continue;
		if (k == 16 || !s[i + 1])
			return -EINVAL;
		hi = hexdigit(s[i]);
		lo = hexdigit(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[k++] = (uint8_t)(hi * 16 + lo);
		i++;
	}
	return k == 16 ? 0 : -EINVAL;
}

/* The READY snapshots of `name`, oldest first. */
static int ready_snapshots(const struct instance_env *env, const char *name,
			   struct db_snapshot **ret, size_t *ret_n, struct err **err)
{
	struct db_snapshot *v = NULL;
	size_t n = 0, k = 0;
	int r = db_snapshot_list(env->db, name, &v, &n, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (v[i].state != DB_ROW_READY) {
			db_snapshot_done(&v[i]);
			continue;
		}
		if (k != i)
			v[k] = v[i];
		k++;
	}
	*ret = v;
	*ret_n = k;
	return 0;
}

/*
 * The UUID the source gives its snapshot: on btrfs what its send stream names it by (the
 * received UUID of a snapshot that was itself received, else its own), elsewhere the one
 * recorded when it was received, else one made of what identifies it here (the instance's and
 * the snapshot's creation, the snapshot's row and name), stable for as long as it exists.
 */
static int source_uuid(const struct storage_pool *pool, const struct db_instance *row,
		       const struct db_snapshot *s, char out[static 37], struct err **err)
{
	const char *rec = kvlist_get(&s->config, UUID_KEY);
	struct storage_snapshot_ids ids;
	struct sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	char buf[128];
	int r;

	if (strcmp(pool->driver, "btrfs") == 0) {
		r = storage_snapshot_ids(pool, row->name, s->name, &ids, err);
		if (r < 0)
			return r;
		migration_uuid_format(
		    memcmp(ids.received_uuid, zero_uuid, 16) != 0 ? ids.received_uuid : ids.uuid,
		    out);
		return 0;
	}
	if (rec && migration_uuid_parse(rec, digest) == 0) {
		migration_uuid_format(digest, out);
		return 0;
	}
	snprintf(buf, sizeof(buf), "cairn snapshot %lld %lld %lld ", (long long)row->created_at,
		 (long long)s->created_at, (long long)s->id);
	sha256_init(&ctx);
	sha256_update(&ctx, buf, strlen(buf));
	sha256_update(&ctx, s->name, strlen(s->name));
	sha256_final(&ctx, digest);
	migration_uuid_format(digest, out);
	return 0;
}

/* The UUID that ties the target's snapshot to the source's: the received UUID on btrfs (with
 * the sender's transaction in *ret_stransid), else the one recorded; "" when none. */
static int target_uuid(const struct storage_pool *pool, const char *name,
		       const struct db_snapshot *s, char out[static 37], uint64_t *ret_stransid,
		       struct err **err)
{
	const char *rec = kvlist_get(&s->config, UUID_KEY);
	struct storage_snapshot_ids ids;
	uint8_t raw[16];
	int r;

	out[0] = '\0';
	*ret_stransid = 0;
	if (strcmp(pool->driver, "btrfs") == 0) {
		r = storage_snapshot_ids(pool, name, s->name, &ids, err);
		if (r < 0)
			return r;
		if (memcmp(ids.received_uuid, zero_uuid, 16) != 0) {
			migration_uuid_format(ids.received_uuid, out);
			*ret_stransid = ids.stransid;
			return 0;
		}
	}
	if (rec && migration_uuid_parse(rec, raw) == 0)
		migration_uuid_format(raw, out);
	return 0;
}

static struct storage_pool *target_pool(const struct instance_env *env,
					const struct db_instance *row, const char *pool)
{
	if (row)
		return instance_env_pool(env, row->pool);
	return instance_env_pool(env, pool ? pool : "default");
}

int migration_target_haves(const struct instance_env *env, const char *name, const char *pool,
			   const struct migration_opts *opts, json_object **ret, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_json_ json_object *o = json_object_new_object();
	json_object *list = json_object_new_array();
	struct db_snapshot *snaps = NULL;
	struct storage_pool *p;
	size_t n = 0;
	bool exists;
	int r = 0;

	(void)opts;
	json_object_object_add(o, "snapshots", list);
	exists = instance_get(env, name, &row, NULL) >= 0;
	p = target_pool(env, exists ? &row : NULL, pool);
	if (!p)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found",
			       exists ? row.pool
			       : pool ? pool
				      : "default");
	json_object_object_add(o, "driver", json_object_new_string(p->driver));
	json_object_object_add(o, "exists", json_object_new_boolean(exists));
	if (exists) {
		r = ready_snapshots(env, name, &snaps, &n, err);
		for (size_t i = 0; r >= 0 && i < n; i++) {
			json_object *s = json_object_new_object();
			char uuid[37];
			uint64_t stransid;

			r = target_uuid(p, name, &snaps[i], uuid, &stransid, err);
			json_object_object_add(s, "name", json_object_new_string(snaps[i].name));
			json_object_object_add(s, "uuid", json_object_new_string(uuid));
			json_object_object_add(s, "created_at",
					       json_object_new_int64(snaps[i].created_at));
			json_object_array_add(list, s);
		}
		db_snapshots_free(snaps, n);
		if (r < 0)
			return r;
	}
	*ret = steal_pointer(&o);
	return 0;
}

/* Reads the target's haves: every field checked, strings borrowed from `haves`. */
static int parse_haves(json_object *haves, const char **ret_driver, bool *ret_exists,
		       struct migration_snap **ret, size_t *ret_n, struct err **err)
{
	json_object *list = NULL, *v;
	struct migration_snap *s;
	size_t n;

	if (!haves || !json_object_is_type(haves, json_type_object) ||
	    !json_object_object_get_ex(haves, "driver", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    !json_object_object_get_ex(haves, "snapshots", &list) ||
	    !json_object_is_type(list, json_type_array))
		return err_set(err, -EINVAL,
			       "Invalid migration request: the target's snapshots are missing");
	*ret_driver = json_object_get_string(v);
	*ret_exists = json_object_object_get_ex(haves, "exists", &v) && json_object_get_boolean(v);
	n = json_object_array_length(list);
	if (n > BACKUP_INDEX_MAX_SNAPSHOTS)
		return err_set(err, -EINVAL, "Invalid migration request: too many snapshots");
	s = calloc(n + 1, sizeof(*s));
	if (!s)
		return err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(list, i), *name, *uuid, *t;

		if (!json_object_is_type(e, json_type_object) ||
		    !json_object_object_get_ex(e, "name", &name) ||
		    !json_object_is_type(name, json_type_string) ||
		    !json_object_object_get_ex(e, "uuid", &uuid) ||
		    !json_object_is_type(uuid, json_type_string)) {
			free(s);
			return err_set(err, -EINVAL,
				       "Invalid migration request: a snapshot without its name or "
				       "UUID");
		}
		s[i].name = json_object_get_string(name);
		s[i].uuid = json_object_get_string(uuid);
		s[i].created_at =
		    json_object_object_get_ex(e, "created_at", &t) ? json_object_get_int64(t) : 0;
	}
	*ret = s;
	*ret_n = n;
	return 0;
}

int migration_source_send(const struct instance_env *env, const char *name, json_object *haves,
			  const struct migration_opts *opts, int fd, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_migration_plan_ struct migration_plan plan = {0};
	_cleanup_free_ struct migration_snap *have = NULL;
	_cleanup_free_ struct migration_snap *src = NULL;
	_cleanup_free_ char *uuids = NULL;
	_cleanup_json_ json_object *pre = NULL;
	struct backup_export_opts eo = {.compression = BACKUP_COMPRESSION_NONE};
	struct db_snapshot *snaps = NULL;
	struct storage_pool *pool;
	const char *driver = NULL, *text;
	size_t n = 0, n_have = 0;
	bool exists = false;
	int r;

	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	pool = instance_env_pool(env, row.pool);
	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row.pool);
	r = parse_haves(haves, &driver, &exists, &have, &n_have, err);
	if (r < 0)
		return r;
	if (exists && opts->snapshot)
		return err_set(err, -EEXIST,
			       "The target instance already exists: a snapshot is copied into a "
			       "new instance only (a refresh takes the instance, not a snapshot)");
	if (exists && !opts->refresh)
		return err_set(err, -EEXIST, "The target instance already exists");
	r = ready_snapshots(env, name, &snaps, &n, err);
	if (r < 0)
		return r;
	src = calloc(n + 1, sizeof(*src));
	uuids = calloc(n + 1, 37);
	if (!src || !uuids)
		r = err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = source_uuid(pool, &row, &snaps[i], uuids + 37 * i, err);
		src[i] = (struct migration_snap){.name = snaps[i].name,
						 .uuid = uuids + 37 * i,
						 .created_at = snaps[i].created_at};
	}
	if (r >= 0)
		r = migration_plan_make(src, n, have, n_have, exists,
					opts->instance_only || opts->snapshot,
					opts->refresh_exclude_older, &plan, err);
	db_snapshots_free(snaps, n);
	if (r < 0)
		return r;
	/* btrfs on both sides: send streams, each snapshot a difference from the one before, the
	 * first from the newest snapshot both have. */
	eo.optimized = strcmp(pool->driver, "btrfs") == 0 && strcmp(driver, "btrfs") == 0;
	eo.only = plan.send;
	eo.only_uuids = plan.send_uuids;
	eo.parent = eo.optimized ? plan.parent : NULL;
	eo.release = opts->release;
	eo.release_ctx = opts->release_ctx;
	eo.snapshot = opts->snapshot;

	/* The preamble: one line of JSON that says how the tarball after it is made. */
	pre = json_object_new_object();
	json_object_object_add(pre, "optimized", json_object_new_boolean(eo.optimized));
	if (eo.parent) {
		json_object_object_add(pre, "parent", json_object_new_string(plan.target_parent));
		json_object_object_add(pre, "parent_uuid",
				       json_object_new_string(plan.parent_uuid));
	}
	{
		json_object *prune = json_object_new_array();

		for (size_t i = 0; plan.prune && plan.prune[i]; i++)
			json_object_array_add(prune, json_object_new_string(plan.prune[i]));
		json_object_object_add(pre, "prune", prune);
	}
	text = json_object_to_json_string_ext(pre, JSON_C_TO_STRING_PLAIN);
	r = fd_write_all(fd, text, strlen(text));
	if (r >= 0)
		r = fd_write_all(fd, "\n", 1);
	if (r < 0) {
		if (opts->release)
			opts->release(opts->release_ctx);
		return err_set_errno(err, r, "Failed to send the migration stream");
	}
	log_debug("Migration of \"%s\": %zu snapshots to send, parent %s", name,
		  strv_length(plan.send), plan.parent ? plan.parent : "none");
	return backup_export(env, name, &eo, fd, err);
}

/* ---- the target ---- */

/* Reads the preamble line byte by byte, so that nothing of the tarball after it is taken. */
static int read_preamble(int fd, json_object **ret, struct err **err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		char c;
		ssize_t k = read(fd, &c, 1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return err_set_errno(err, -errno, "Failed to read the migration stream");
		if (k == 0)
			return err_set(err, -EIO, "The migration stream ended before it began");
		if (c == '\n')
			break;
		if (len + 2 > cap) {
			char *nb;

			if (cap >= MAX_PREAMBLE)
				return err_set(
				    err, -EINVAL,
				    "Invalid migration stream: its preamble is too long");
			cap = cap ? cap * 2 : 4096;
			nb = realloc(buf, cap);
			if (!nb)
				return err_set(err, -ENOMEM, "Out of memory");
			buf = nb;
		}
		buf[len++] = c;
	}
	if (!buf)
		return err_set(err, -EINVAL, "Invalid migration stream: empty preamble");
	buf[len] = '\0';
	*ret = json_tokener_parse(buf);
	if (!*ret || !json_object_is_type(*ret, json_type_object)) {
		json_object_put(*ret);
		*ret = NULL;
		return err_set(err, -EINVAL, "Invalid migration stream: its preamble is not JSON");
	}
	return 0;
}

static void unpack_freep(struct instance_unpack **u)
{
	instance_unpack_free(*u);
	*u = NULL;
}

static int read_index(struct instance_unpack *u, struct backup_index *ret, struct err **err)
{
	_cleanup_free_ char *text = NULL, *rel = NULL;
	struct archive_entry *entry;
	size_t len = 0;
	int r;

	r = instance_unpack_next(u, &entry, &rel, err);
	if (r < 0)
		return r;
	if (r == 0 || strcmp(rel, "backup/index.yaml") != 0)
		return err_set(err, -EINVAL,
			       "Invalid migration stream: it does not start with its index");
	r = instance_unpack_read_small(u, entry, BACKUP_INDEX_MAX_BYTES, &text, &len, err);
	if (r < 0)
		return r;
	return backup_index_parse(text, len, ret, err);
}

static uint32_t base_of(const struct kvlist *config)
{
	const char *v = kvlist_get(config, "volatile.idmap.base");

	return v ? (uint32_t)strtoul(v, NULL, 10) : 0;
}

/* Owners of a received tree move from the sender's range into ours (not for a privileged
 * container, whose owners are the host's). */
static int shift_snapshot(struct storage_pool *pool, const char *name, const char *snap,
			  uint32_t from, uint32_t to, uint32_t size, struct err **err)
{
	_cleanup_free_ char *path = storage_snapshot_path(pool, name, snap);
	_cleanup_free_ char *rootfs = path ? str_printf("%s/rootfs", path) : NULL;
	int r;

	if (!rootfs)
		return err_set(err, -ENOMEM, "Out of memory");
	r = storage_snapshot_set_read_only(pool, name, snap, false, err);
	if (r >= 0)
		r = instance_shift_tree(rootfs, from, from, to, to, size, err);
	if (r >= 0)
		r = storage_snapshot_set_read_only(pool, name, snap, true, err);
	return r;
}

/* The restore hook's data: the received tree's owners, shifted before the swap. */
struct swap_ctx {
	uint32_t from, to, size;
	bool shift;
};

static int swap_prepare(const char *path, void *data, struct err **err)
{
	struct swap_ctx *c = data;
	_cleanup_free_ char *rootfs = str_printf("%s/rootfs", path);

	if (!rootfs)
		return err_set(err, -ENOMEM, "Out of memory");
	if (!c->shift)
		return 0;
	return instance_shift_tree(rootfs, c->from, c->from, c->to, c->to, c->size, err);
}

/* A refresh of an existing instance from send streams: each new snapshot received and
 * committed (subvolume, then row) before the next, the instance's stream received under a
 * hidden name and swapped in with the volume last. */
static int refresh_optimized(const struct instance_env *env, const struct db_instance *row,
			     struct storage_pool *pool, json_object *pre, int fd,
			     struct backup_index *idx, struct instance_unpack *u, struct err **err)
{
	_cleanup_free_ struct backup_stream_known *known = NULL;
	_cleanup_strv_ char **taken = NULL;
	_cleanup_free_ char *container = NULL, *dir = NULL;
	struct db_snapshot *have = NULL;
	const char *parent = NULL, *parent_uuid = NULL;
	bool privileged = config_get_bool(&row->expanded_config, "security.privileged", false);
	uint32_t from = base_of(&idx->instance.config), to = base_of(&row->config);
	size_t n_have = 0, n_known = 0, next = 0;
	json_object *v;
	int r;

	(void)fd;
	known = calloc(idx->n_snapshots + 2, sizeof(*known));
	dir = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, "");
	if (!known || !dir)
		return err_set(err, -ENOMEM, "Out of memory");
	if (json_object_object_get_ex(pre, "parent", &v))
		parent = json_object_get_string(v);
	if (json_object_object_get_ex(pre, "parent_uuid", &v))
		parent_uuid = json_object_get_string(v);
	r = ready_snapshots(env, row->name, &have, &n_have, err);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n_have; i++) {
		char uuid[37];
		uint64_t stransid;

		if (strv_push(&taken, have[i].name) < 0)
			r = err_set(err, -ENOMEM, "Out of memory");
		/* The parent of the first stream must be one of this instance's own snapshots,
		 * received from the source: the checker then refuses a difference from anything
		 * else on the file system. */
		if (r >= 0 && parent && strcmp(have[i].name, parent) == 0) {
			r = target_uuid(pool, row->name, &have[i], uuid, &stransid, err);
			if (r >= 0 && (!parent_uuid || strcmp(uuid, parent_uuid) != 0 || !stransid))
				r = err_set(err, -EINVAL,
					    "Invalid migration stream: its parent \"%s\" is not a "
					    "snapshot this instance received from the source",
					    parent);
			if (r >= 0) {
				migration_uuid_parse(uuid, known[0].uuid);
				known[0].ctransid = stransid;
				n_known = 1;
			}
		}
	}
	db_snapshots_free(have, n_have);
	if (r < 0)
		return r;
	if (parent && n_known == 0)
		return err_set(err, -EINVAL,
			       "Invalid migration stream: its parent \"%s\" is not a snapshot of "
			       "instance \"%s\"",
			       parent, row->name);
	for (size_t i = 0; i < idx->n_snapshots; i++) {
		if (strv_contains(taken, idx->snapshots[i].name))
			return err_set(err, -EEXIST,
				       "Invalid migration stream: snapshot \"%s\" exists already",
				       idx->snapshots[i].name);
		if (strv_push(&taken, idx->snapshots[i].name) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	r = instance_unpack_bound(u, dir, err);
	if (r < 0)
		return r;
	for (;;) {
		_cleanup_free_ char *rel = NULL, *subvol = NULL;
		struct archive_entry *entry;
		const char *snap = NULL;
		size_t len;

		r = instance_unpack_next(u, &entry, &rel, err);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (strcmp(rel, "backup") == 0 || strcmp(rel, "backup/snapshots") == 0)
			continue;
		if (container)
			return err_set(err, -EINVAL,
				       "Invalid migration stream: entries after the instance's own "
				       "stream");
		if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry))
			return err_set(err, -EINVAL,
				       "Invalid migration stream: \"%s\" is not a regular file",
				       rel);
		len = strlen(rel);
		if (strcmp(rel, "backup/container.bin") != 0) {
			if (next == idx->n_snapshots || !str_startswith(rel, "backup/snapshots/") ||
			    len != 17 + strlen(idx->snapshots[next].name) + 4 ||
			    strncmp(rel + 17, idx->snapshots[next].name, len - 21) != 0 ||
			    strcmp(rel + len - 4, ".bin") != 0)
				return err_set(err, -EINVAL,
					       "Invalid migration stream: \"%s\" is not the stream "
					       "of the next snapshot its index lists",
					       rel);
			snap = idx->snapshots[next].name;
		} else if (next < idx->n_snapshots) {
			return err_set(err, -EINVAL,
				       "Invalid migration stream: snapshot \"%s\" is in its index "
				       "but not in the stream",
				       idx->snapshots[next].name);
		}
		r = backup_receive_stream(pool, row->name, u, snap, taken, known, &n_known, from,
					  privileged, &subvol, err);
		if (r < 0) {
			_cleanup_err_ struct err *e = NULL;

			/* A half-received subvolume goes at once (recovery would remove it too:
			 * no row owns it). */
			if (subvol || snap)
				storage_snapshot_delete(pool, row->name, subvol ? subvol : snap,
							&e);
			return r;
		}
		if (!snap) {
			container = steal_pointer(&subvol);
			break;
		}
		{
			_cleanup_free_ char *path = storage_snapshot_path(pool, row->name, snap);
			_cleanup_kvlist_ struct kvlist config = {0};
			struct db_snapshot srow = idx->snapshots[next];
			char base[32];

			r = path ? backup_check_volume(path, rel, err)
				 : err_set(err, -ENOMEM, "Out of memory");
			if (r >= 0 && !privileged && from != to)
				r = shift_snapshot(pool, row->name, snap, from, to, env->idmap.size,
						   err);
			snprintf(base, sizeof(base), "%u", to);
			if (r >= 0 && (kvlist_copy(&config, &srow.config) < 0 ||
				       kvlist_set(&config, "volatile.idmap.base", base) < 0))
				r = err_set(err, -ENOMEM, "Out of memory");
			if (r >= 0) {
				srow.instance = row->name;
				srow.config = config;
				srow.state = DB_ROW_READY;
				if (srow.created_at <= 0)
					srow.created_at = time_now();
				/* The snapshot is whole: its row makes it one of the instance's.
				 * A crash before this leaves a subvolume without a row, which
				 * recovery removes. */
				r = db_snapshot_insert(env->db, &srow, NULL, err);
			}
			if (r < 0) {
				_cleanup_err_ struct err *e = NULL;

				storage_snapshot_delete(pool, row->name, snap, &e);
				return r;
			}
			next++;
			crashpoint("migration-after-snapshot");
		}
	}
	if (!container)
		return err_set(err, -EINVAL,
			       "Invalid migration stream: it holds no backup/container.bin");
	{
		_cleanup_free_ char *path = storage_snapshot_path(pool, row->name, container);
		struct swap_ctx sc = {.from = from,
				      .to = to,
				      .size = env->idmap.size,
				      .shift = !privileged && from != to};
		struct storage_restore_hooks hooks = {.prepare = swap_prepare, .data = &sc};
		_cleanup_err_ struct err *e = NULL;
		int q;

		r = path ? backup_check_volume(path, "backup/container.bin", err)
			 : err_set(err, -ENOMEM, "Out of memory");
		crashpoint("migration-before-swap");
		/* The new volume is swapped in whole (RENAME_EXCHANGE): until then the old one is
		 * intact, after it the old one goes. */
		if (r >= 0)
			r = storage_snapshot_restore_with(pool, row->name, container, &hooks, err);
		q = storage_snapshot_delete(pool, row->name, container, &e);
		if (q < 0)
			err_log_ignored(e, q, "Failed to remove the received volume of \"%s\"",
					row->name);
	}
	return r;
}

/* The instance's own config from the source, as import takes it: its user keys (volatile.*
 * of the target kept) and description; devices and profiles stay the target's, which name
 * what exists here. */
static int refresh_config(const struct instance_env *env, const struct db_instance *row,
			  const struct backup_index *idx, bool restricted, struct err **err)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	const struct kvlist *src = &idx->instance.config;
	const char *own_target;

	for (size_t i = 0; i < src->n; i++) {
		const char *k = src->items[i].key;

		if (str_startswith(k, "volatile.") || str_startswith(k, "image.") ||
		    strcmp(k, COPY_TARGET_KEY) == 0)
			continue;
		if (kvlist_set(&config, k, src->items[i].value) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	/* The sender's snapshots.copy.target names one of its own remotes: the target keeps
	 * its own value (usually none), so that a snapshot server never refreshes onwards. */
	own_target = kvlist_get(&row->config, COPY_TARGET_KEY);
	if (own_target && kvlist_set(&config, COPY_TARGET_KEY, own_target) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	return instance_update(env, row->name, &config, NULL, NULL, idx->instance.description, -1,
			       restricted, err);
}

static int prune(const struct instance_env *env, const char *name, json_object *pre,
		 struct err **err)
{
	json_object *list;

	if (!json_object_object_get_ex(pre, "prune", &list) ||
	    !json_object_is_type(list, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		const char *snap = json_object_get_string(json_object_array_get_idx(list, i));
		int r;

		if (!snap)
			continue;
		r = snapshot_delete(env, name, snap, err);
		if (r == -ENOENT) {
			err_free(*err);
			*err = NULL;
			continue;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int migration_target_receive(const struct instance_env *env, const char *name, const char *pool,
			     const struct migration_opts *opts, bool restricted, int fd,
			     struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_json_ json_object *pre = NULL;
	_cleanup_backup_index_ struct backup_index idx = {0};
	_cleanup_(unpack_freep) struct instance_unpack *u = NULL;
	struct instance_state st = {0};
	struct storage_pool *p;
	json_object *v;
	bool optimized;
	int r;

	r = read_preamble(fd, &pre, err);
	if (r < 0)
		return r;
	optimized = json_object_object_get_ex(pre, "optimized", &v) && json_object_get_boolean(v);
	if (instance_get(env, name, &row, NULL) < 0) {
		/* The pool the haves were about: the one asked for, else "default" (not the
		 * source's pool name, which may be another driver here). */
		struct backup_import_opts io = {.name = name,
						.pool = pool ? pool : "default",
						.restricted = restricted,
						.keep_received = true};

		/* A new instance: an import, whose CREATING row makes a cut transfer go whole. */
		return backup_import(env, fd, &io, NULL, err);
	}
	if (!opts->refresh)
		return err_set(err, -EEXIST, "Instance \"%s\" already exists", name);
	r = migration_refresh_allowed(env, name, err);
	if (r < 0)
		return r;
	(void)st;
	p = instance_env_pool(env, row.pool);
	if (!p)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row.pool);
	if (optimized && strcmp(p->driver, "btrfs") != 0)
		return err_set(
		    err, -EINVAL,
		    "Invalid migration stream: send streams for a pool that is not btrfs");
	if (optimized) {
		r = instance_unpack_open(fd, &u, err);
		if (r < 0)
			return r;
		r = read_index(u, &idx, err);
		if (r < 0)
			return r;
		if (!idx.optimized)
			return err_set(
			    err, -EINVAL,
			    "Invalid migration stream: its preamble and its index disagree");
		r = refresh_optimized(env, &row, p, pre, fd, &idx, u, err);
	} else {
		/* A dir pool on either side: the files of what the target lacks. */
		r = backup_import_refresh(env, name, fd, &idx, err);
	}
	if (r < 0)
		return r;
	r = refresh_config(env, &row, &idx, restricted, err);
	if (r < 0)
		return r;
	if (opts->refresh_prune) {
		r = prune(env, name, pre, err);
		if (r < 0)
			return r;
	}
	/* The received volume carries the source's description of itself. */
	r = instance_write_backup(env, name, err);
	if (r < 0)
		return r;
	instance_notify(env, "instance-updated", "instances", name);
	return 0;
}

int migration_refresh_allowed(const struct instance_env *env, const char *name, struct err **err)
{
	struct instance_state st = {0};

	if (instance_state(env, name, false, &st, NULL) >= 0 && st.status != INSTANCE_STOPPED)
		return err_set(err, -EBUSY,
			       "Instance \"%s\" is running on the target: stop it before a "
			       "refresh",
			       name);
	return 0;
}
