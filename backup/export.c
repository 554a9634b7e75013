/* Export of an instance as a backup tarball: backup_export() (backup/backup.h). */
#include "backup/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "backup/index.h"
#include "backup/send.h"
#include "common/cancel.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/util.h"
#include "config/db.h"
#include "instance/instance.h"
#include "storage/storage.h"

/* The id the container sees for a file it cannot map (the kernel's overflow id). */
#define OVERFLOW_ID 65534

/* Bytes read from the files at a time. */
#define CHUNK (1024 * 1024)

struct writer {
	struct archive *a;
	uint64_t processed; /* bytes of file data written, for the progress */
	uint64_t total;	    /* bytes of file data there are to write, 0 when not counted */
	char *buf;	    /* CHUNK zero bytes, for the holes of sparse files */
};

static void archive_write_freep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
	*a = NULL;
}

static void archive_read_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
	*a = NULL;
}

static void linkresolver_freep(struct archive_entry_linkresolver **r)
{
	if (*r)
		archive_entry_linkresolver_free(*r);
	*r = NULL;
}

static int write_failed(struct archive *a, const char *what, struct err **err)
{
	int e = archive_errno(a);

	return err_set_errno(err, e > 0 ? -e : -EIO, "Failed to write the backup (%s): %s", what,
			     archive_error_string(a) ? archive_error_string(a) : "write error");
}

/* The id as the container sees it: shifted back by `base`; outside its range, the overflow id.
 */
static la_int64_t unshift(la_int64_t id, uint32_t base, uint32_t size)
{
	if (base == 0)
		return id;
	if (id >= (la_int64_t)base && id - (la_int64_t)base < (la_int64_t)size)
		return id - (la_int64_t)base;
	return OVERFLOW_ID;
}

/* The ids of the entry's POSIX ACLs as the container sees them, as its owners. */
static int unshift_acls(struct archive_entry *entry, uint32_t base, uint32_t size)
{
	struct acl {
		int type, permset, tag, qual;
	} v[256];
	int n = 0, type, permset, tag, qual;
	const char *name;

	if (base == 0 || archive_entry_acl_reset(entry, ARCHIVE_ENTRY_ACL_TYPE_POSIX1E) == 0)
		return 0;
	while (n < 256 && archive_entry_acl_next(entry, ARCHIVE_ENTRY_ACL_TYPE_POSIX1E, &type,
						 &permset, &tag, &qual, &name) == ARCHIVE_OK)
		v[n++] = (struct acl){type, permset, tag, qual};
	if (n == 256)
		return -E2BIG;
	archive_entry_acl_clear(entry);
	for (int i = 0; i < n; i++) {
		int q = v[i].qual;

		if (v[i].tag == ARCHIVE_ENTRY_ACL_USER || v[i].tag == ARCHIVE_ENTRY_ACL_GROUP)
			q = (int)unshift(q, base, size);
		if (archive_entry_acl_add_entry(entry, v[i].type, v[i].permset, v[i].tag, q,
						NULL) != ARCHIVE_OK)
			return -ENOMEM;
	}
	return 0;
}

/* A file capability for the container's root (version 3, the host uid of that root) is stored
 * as the container sees it: version 2, for root, as Incus stores it. */
static int unshift_caps(struct archive_entry *entry, uint32_t base, uint32_t size)
{
	struct xattr {
		char *name;
		void *value;
		size_t size;
	} v[64];
	int n = 0, r = 0;
	const char *name;
	const void *value;
	size_t len;
	bool found = false;

	if (base == 0 || archive_entry_xattr_reset(entry) == 0)
		return 0;
	while (n < 64 && archive_entry_xattr_next(entry, &name, &value, &len) == ARCHIVE_OK) {
		v[n].name = strdup(name);
		v[n].value = malloc(len ? len : 1);
		v[n].size = len;
		if (!v[n].name || !v[n].value) {
			free(v[n].name);
			free(v[n].value);
			r = -ENOMEM;
			break;
		}
		memcpy(v[n].value, value, len);
		if (strcmp(name, "security.capability") == 0)
			found = true;
		n++;
	}
	if (r >= 0 && found) {
		archive_entry_xattr_clear(entry);
		for (int i = 0; i < n; i++) {
			uint8_t *c = v[i].value;

			if (strcmp(v[i].name, "security.capability") == 0 && v[i].size >= 24 &&
			    c[3] == 0x03) {
				uint32_t rootid = (uint32_t)c[20] | (uint32_t)c[21] << 8 |
						  (uint32_t)c[22] << 16 | (uint32_t)c[23] << 24;
				uint32_t to = (uint32_t)unshift(rootid, base, size);

				if (to == 0) {
					c[3] = 0x02;
					v[i].size = 20;
				} else {
					for (int k = 0; k < 4; k++)
						c[20 + k] = (uint8_t)(to >> (8 * k));
				}
			}
			archive_entry_xattr_add_entry(entry, v[i].name, v[i].value, v[i].size);
		}
	}
	for (int i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	return r;
}

static int write_data(struct writer *w, struct archive *disk, struct archive_entry *entry,
		      struct err **err)
{
	la_int64_t progress = 0;

	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t offset;
		int r = archive_read_data_block(disk, &buf, &size, &offset);

		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return err_set(
			    err, -EIO, "Failed to read \"%s\": %s", archive_entry_sourcepath(entry),
			    archive_error_string(disk) ? archive_error_string(disk) : "read error");
		/* A hole: zeros, which the tar writer leaves out of a sparse entry (as bsdtar
		 * does it). */
		while (offset > progress) {
			size_t n = offset - progress > CHUNK ? CHUNK : (size_t)(offset - progress);
			la_ssize_t k = archive_write_data(w->a, w->buf, n);

			if (k <= 0)
				return write_failed(w->a, archive_entry_pathname(entry), err);
			progress += k;
		}
		while (size > 0) {
			la_ssize_t k = archive_write_data(w->a, buf, size);

			if (k <= 0)
				return write_failed(w->a, archive_entry_pathname(entry), err);
			buf = (const char *)buf + k;
			size -= (size_t)k;
			progress += k;
			w->processed += (uint64_t)k;
		}
		progress_report("export", w->processed, w->total);
		if (cancel_requested())
			return err_set(err, -ECANCELED, "Operation cancelled");
	}
}

/*
 * Writes the tree at `root` (a read-only snapshot) under `prefix` with its owners as the
 * container sees them (shifted back by `base`), modes, times, xattrs, ACLs, hard links (within
 * the tree) and sparse files. Symbolic links are stored, never followed, and nothing mounted is
 * crossed.
 */
static int write_tree(struct writer *w, const char *root, const char *prefix, uint32_t base,
		      uint32_t size, bool state_as_checkpoint, struct err **err)
{
	_cleanup_(archive_read_freep) struct archive *disk = archive_read_disk_new();
	_cleanup_(linkresolver_freep) struct archive_entry_linkresolver *links =
	    archive_entry_linkresolver_new();
	size_t root_len = strlen(root);
	int r;

	if (!disk || !links)
		return err_set(err, -ENOMEM, "Out of memory");
	archive_entry_linkresolver_set_strategy(links, archive_format(w->a));
	archive_read_disk_set_symlink_physical(disk);
	archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);
	if (archive_read_disk_open(disk, root) != ARCHIVE_OK)
		return err_set(err, -EIO, "Failed to read \"%s\": %s", root,
			       archive_error_string(disk) ? archive_error_string(disk) : "error");
	for (;;) {
		_cleanup_free_ char *name = NULL;
		struct archive_entry *entry = archive_entry_new(), *spare = NULL;
		const char *path;

		if (!entry)
			return err_set(err, -ENOMEM, "Out of memory");
		r = archive_read_next_header2(disk, entry);
		if (r == ARCHIVE_EOF) {
			archive_entry_free(entry);
			break;
		}
		if (r < ARCHIVE_WARN) {
			r = err_set(err, -EIO, "Failed to read \"%s\": %s", root,
				    archive_error_string(disk) ? archive_error_string(disk)
							       : "error");
			archive_entry_free(entry);
			return r;
		}
		archive_read_disk_descend(disk);
		path = archive_entry_pathname(entry);
		if (strncmp(path, root, root_len) != 0 ||
		    (path[root_len] != '\0' && path[root_len] != '/')) {
			archive_entry_free(entry);
			return err_set(err, -EIO, "Unexpected path \"%s\" under \"%s\"", path,
				       root);
		}
		/* The running state dumped for a stateful export is, in the backup, the checkpoint
		 * that the imported instance's first start resumes. */
		if (state_as_checkpoint &&
		    (strcmp(path + root_len, "/" INSTANCE_STATE_DIR) == 0 ||
		     str_startswith(path + root_len, "/" INSTANCE_STATE_DIR "/")))
			name = str_printf("%s/" INSTANCE_CHECKPOINT_DIR "%s", prefix,
					  path + root_len + strlen("/" INSTANCE_STATE_DIR));
		else
			name = path[root_len] ? str_printf("%s%s", prefix, path + root_len)
					      : str_printf("%s/", prefix);
		if (!name) {
			archive_entry_free(entry);
			return err_set(err, -ENOMEM, "Out of memory");
		}
		archive_entry_copy_pathname(entry, name);
		archive_entry_set_uid(entry, unshift(archive_entry_uid(entry), base, size));
		archive_entry_set_gid(entry, unshift(archive_entry_gid(entry), base, size));
		r = unshift_acls(entry, base, size);
		if (r >= 0)
			r = unshift_caps(entry, base, size);
		if (r < 0) {
			archive_entry_free(entry);
			return err_set(err, r, "Failed to read the ACLs or xattrs of \"%s\"", name);
		}
		/* Names mean nothing in the container's id range: numeric ids only. */
		archive_entry_copy_uname(entry, NULL);
		archive_entry_copy_gname(entry, NULL);
		/* A second name of a file becomes a hard link to the first (size 0, no data). */
		archive_entry_linkify(links, &entry, &spare);
		if (entry) {
			r = archive_write_header(w->a, entry);
			if (r < ARCHIVE_WARN) {
				r = write_failed(w->a, name, err);
				archive_entry_free(entry);
				return r;
			}
			if (archive_entry_size(entry) > 0 && !archive_entry_hardlink(entry)) {
				r = write_data(w, disk, entry, err);
				if (r < 0) {
					archive_entry_free(entry);
					return r;
				}
			}
			archive_entry_free(entry);
		}
		archive_entry_free(spare);
	}
	return 0;
}

static void entry_freep(struct archive_entry **e)
{
	if (*e)
		archive_entry_free(*e);
	*e = NULL;
}

static _Thread_local uint64_t counted;

static int count_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	/* What a file's data costs to read: its size, or its blocks when it is sparse. */
	if (flag == FTW_F && S_ISREG(st->st_mode))
		counted += (uint64_t)st->st_size < (uint64_t)st->st_blocks * 512
			       ? (uint64_t)st->st_size
			       : (uint64_t)st->st_blocks * 512;
	return 0;
}

/* The bytes of file data under `root`, for the progress's percentage and time left. */
static uint64_t tree_bytes(const char *root)
{
	counted = 0;
	nftw(root, count_one, 32, FTW_PHYS | FTW_MOUNT);
	return counted;
}

static int write_index(struct archive *a, const char *text, struct err **err)
{
	_cleanup_(entry_freep) struct archive_entry *entry = archive_entry_new();
	size_t len = strlen(text);

	if (!entry)
		return err_set(err, -ENOMEM, "Out of memory");
	archive_entry_set_pathname(entry, "backup/index.yaml");
	archive_entry_set_filetype(entry, AE_IFREG);
	archive_entry_set_perm(entry, 0644);
	archive_entry_set_size(entry, (la_int64_t)len);
	archive_entry_set_mtime(entry, time_now(), 0);
	if (archive_write_header(a, entry) < ARCHIVE_WARN ||
	    archive_write_data(a, text, len) != (la_ssize_t)len)
		return write_failed(a, "backup/index.yaml", err);
	return 0;
}

/* The archive writer: pax (xattrs, ACLs, sparse files, long names), compressed as asked; zstd on
 * every core. */
static int open_writer(enum backup_compression c, int fd, struct archive **ret, struct err **err)
{
	_cleanup_(archive_write_freep) struct archive *a = archive_write_new();
	int r = ARCHIVE_OK;

	if (!a)
		return err_set(err, -ENOMEM, "Out of memory");
	archive_write_set_format_pax_restricted(a);
	switch (c) {
	case BACKUP_COMPRESSION_GZIP:
		r = archive_write_add_filter_gzip(a);
		break;
	case BACKUP_COMPRESSION_XZ:
		r = archive_write_add_filter_xz(a);
		if (r == ARCHIVE_OK)
			archive_write_set_filter_option(a, "xz", "threads", "0");
		break;
	case BACKUP_COMPRESSION_ZSTD:
		r = archive_write_add_filter_zstd(a);
		if (r == ARCHIVE_OK &&
		    archive_write_set_filter_option(a, "zstd", "threads", "0") != ARCHIVE_OK)
			log_debug("zstd: no threads option in this libarchive, ignoring");
		break;
	case BACKUP_COMPRESSION_NONE:
	case BACKUP_COMPRESSION_MAX:
		break;
	}
	if (r != ARCHIVE_OK)
		return err_set(err, -EOPNOTSUPP, "Compression is not available: %s",
			       archive_error_string(a) ? archive_error_string(a) : "unknown");
	/* Whole 64 KiB writes, and no padding of the last block beyond the tar format's own. */
	archive_write_set_bytes_per_block(a, 65536);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
		return write_failed(a, "open", err);
	*ret = steal_pointer(&a);
	return 0;
}

static uint32_t base_of(const struct kvlist *config, const struct kvlist *fallback)
{
	const char *v = kvlist_get(config, "volatile.idmap.base");

	if (!v && fallback)
		v = kvlist_get(fallback, "volatile.idmap.base");
	return v ? (uint32_t)strtoul(v, NULL, 10) : 0;
}

/* Takes the temporary snapshot the instance is read from: a hidden name in its snapshot
 * directory, which no row owns, so that recovery removes it after a crash. */
static int take_snapshot(const struct instance_env *env, struct storage_pool *pool,
			 const char *name, bool stateful, char **ret_name, struct err **err)
{
	_cleanup_free_ char *tmp = NULL;
	struct instance_state st = {0};
	char uuid[37];
	bool frozen = false;
	int r;

	uuid_random(uuid);
	tmp = str_printf(".backup-%.8s", uuid);
	if (!tmp)
		return err_set(err, -ENOMEM, "Out of memory");
	if (storage_snapshot_needs_freeze(pool) &&
	    instance_state(env, name, false, &st, NULL) >= 0 && st.status == INSTANCE_RUNNING) {
		r = instance_freeze(env, name, true, err);
		if (r < 0)
			return r;
		frozen = true;
	}
	/* A stateful export: the processes are dumped into the volume (they run on), the snapshot
	 * carries the dump, and the dump leaves the volume again, as for a stateful snapshot
	 * (recovery removes a dump left by a crash). */
	if (stateful) {
		r = instance_checkpoint(env, name, INSTANCE_STATE_DIR, false, err);
		if (r < 0)
			return r;
	}
	r = storage_snapshot_create(pool, name, tmp, err);
	if (stateful) {
		_cleanup_err_ struct err *e = NULL;
		int q = instance_remove_state(env, name, INSTANCE_STATE_DIR, &e);

		if (q < 0)
			err_log_ignored(e, q, "Failed to remove the dump of \"%s\"", name);
	}
	if (frozen) {
		_cleanup_err_ struct err *e = NULL;
		int q = instance_freeze(env, name, false, &e);

		if (q < 0)
			log_error("Failed to thaw instance \"%s\" after its export snapshot: %s",
				  name, err_msg(e, q));
	}
	if (r < 0)
		return r;
	*ret_name = steal_pointer(&tmp);
	return 0;
}

static int write_all(const struct instance_env *env, struct storage_pool *pool,
		     const struct db_instance *row, const struct db_snapshot *snaps, size_t n,
		     const char *tmp, const struct backup_export_opts *opts, int fd,
		     struct err **err)
{
	_cleanup_(archive_write_freep) struct archive *a = NULL;
	_cleanup_free_ char *text = NULL, *tmp_path = NULL, *last = NULL;
	_cleanup_free_ char *zeros = calloc(1, CHUNK);
	struct writer w = {.buf = zeros};
	int r;

	if (!zeros)
		return err_set(err, -ENOMEM, "Out of memory");
	r = backup_index_render(
	    row, snaps, n, pool->driver, opts->optimized,
	    opts->stateful || (!opts->snapshot && instance_has_checkpoint(env, row)), &text, err);
	if (r < 0)
		return r;
	r = open_writer(opts->compression, fd, &a, err);
	if (r < 0)
		return r;
	w.a = a;
	r = write_index(a, text, err);
	if (r < 0)
		return r;
	/* For the tests: an export held after its index, its instance free again. */
	r = stallpoint("backup-export");
	if (r < 0)
		return err_set(err, r, "Operation cancelled");
	tmp_path = storage_snapshot_path(pool, row->name, tmp);
	if (!tmp_path)
		return err_set(err, -ENOMEM, "Out of memory");
	/* A walk of the metadata, only when someone shows the progress. */
	if (!opts->optimized && progress_bound()) {
		for (size_t i = 0; i < n; i++) {
			_cleanup_free_ char *path =
			    storage_snapshot_path(pool, row->name, snaps[i].name);

			w.total += path ? tree_bytes(path) : 0;
		}
		w.total += tree_bytes(tmp_path);
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = storage_snapshot_path(pool, row->name, snaps[i].name);
		_cleanup_free_ char *prefix = NULL;

		if (!path)
			return err_set(err, -ENOMEM, "Out of memory");
		if (opts->optimized) {
			/* Each one a difference from the one before: what they share is sent
			 * once. */
			prefix = str_printf("backup/snapshots/%s.bin", snaps[i].name);
			r = prefix ? backup_send_tree(a, pool, row->name, snaps[i].name,
						      i > 0 ? snaps[i - 1].name : opts->parent,
						      prefix, err)
				   : err_set(err, -ENOMEM, "Out of memory");
		} else {
			prefix = str_printf("backup/snapshots/%s", snaps[i].name);
			r = prefix ? write_tree(&w, path, prefix,
						base_of(&snaps[i].config, &row->config),
						env->idmap.size, false, err)
				   : err_set(err, -ENOMEM, "Out of memory");
		}
		if (r < 0)
			return r;
		free(last);
		last = steal_pointer(&path);
	}
	if (opts->optimized)
		r = backup_send_tree(a, pool, row->name, tmp,
				     n > 0 ? snaps[n - 1].name : opts->parent,
				     "backup/container.bin", err);
	else
		r = write_tree(&w, tmp_path, "backup/container", base_of(&row->config, NULL),
			       env->idmap.size, opts->stateful, err);
	if (r < 0)
		return r;
	if (archive_write_close(a) != ARCHIVE_OK)
		return write_failed(a, "close", err);
	return 0;
}

int backup_export_allowed(const struct instance_env *env, const char *name,
			  const struct backup_export_opts *opts, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	struct storage_pool *pool;
	int r;

	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	pool = instance_env_pool(env, row.pool);
	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row.pool);
	if (opts->optimized && strcmp(pool->driver, "btrfs") != 0)
		return err_set(err, -EINVAL,
			       "Optimized storage needs a btrfs pool: instance \"%s\" is on pool "
			       "\"%s\" (%s)",
			       name, pool->name, pool->driver);
	if (opts->stateful)
		return instance_stateful_allowed(env, &row, "Stateful exports", err);
	return 0;
}

/* One snapshot as the instance (opts->snapshot): read from the snapshot itself, which is
 * read-only already, so no temporary snapshot is taken. */
static int export_snapshot(const struct instance_env *env, struct storage_pool *pool,
			   struct db_instance *row, const struct backup_export_opts *opts, int fd,
			   struct err **err)
{
	_cleanup_(db_snapshot_done) struct db_snapshot snap = {0};
	_cleanup_free_ char *path = NULL;
	struct backup_export_opts o = *opts;
	struct kvlist config;
	struct devices devices;
	char **profiles;
	int r;

	r = db_snapshot_get(env->db, row->name, opts->snapshot, &snap, err);
	if (r >= 0 && snap.state != DB_ROW_READY)
		r = err_set(err, -ENOENT, "Snapshot \"%s/%s\" not found", row->name,
			    opts->snapshot);
	if (opts->release)
		opts->release(opts->release_ctx);
	if (r < 0)
		return r;
	path = storage_snapshot_path(pool, row->name, snap.name);
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	o.stateful = false;
	o.parent = NULL;
	/* The copy is made of what the instance was when the snapshot was taken. */
	config = row->config;
	devices = row->devices;
	profiles = row->profiles;
	row->config = snap.config;
	row->devices = snap.devices;
	if (snap.profiles)
		row->profiles = snap.profiles;
	r = write_all(env, pool, row, NULL, 0, snap.name, &o, fd, err);
	row->config = config;
	row->devices = devices;
	row->profiles = profiles;
	return r;
}

int backup_export(const struct instance_env *env, const char *name,
		  const struct backup_export_opts *opts, int fd, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_free_ char *tmp = NULL;
	struct db_snapshot *snaps = NULL;
	struct storage_pool *pool;
	size_t n = 0, k = 0;
	int r;

	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	r = backup_export_allowed(env, name, opts, err);
	if (r < 0)
		return r;
	pool = instance_env_pool(env, row.pool);
	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row.pool);
	if (opts->snapshot)
		return export_snapshot(env, pool, &row, opts, fd, err);
	if (!opts->instance_only) {
		r = db_snapshot_list(env->db, name, &snaps, &n, err);
		if (r < 0)
			return r;
		/* READY ones only, oldest first (the list's order), and of a migration only
		 * those it sends. */
		for (size_t i = 0; i < n; i++) {
			if (snaps[i].state != DB_ROW_READY ||
			    (opts->only && !strv_contains(opts->only, snaps[i].name))) {
				db_snapshot_done(&snaps[i]);
				continue;
			}
			if (k != i)
				snaps[k] = snaps[i];
			k++;
		}
	}
	for (size_t i = 0; opts->only && opts->only_uuids && i < k; i++) {
		for (size_t j = 0; opts->only[j]; j++)
			if (strcmp(opts->only[j], snaps[i].name) == 0 && opts->only_uuids[j] &&
			    kvlist_set(&snaps[i].config, "volatile.migration.uuid",
				       opts->only_uuids[j]) < 0) {
				db_snapshots_free(snaps, k);
				return err_set(err, -ENOMEM, "Out of memory");
			}
	}
	r = take_snapshot(env, pool, name, opts->stateful, &tmp, err);
	if (opts->release)
		opts->release(opts->release_ctx);
	if (r >= 0) {
		_cleanup_err_ struct err *e = NULL;
		int q;

		r = write_all(env, pool, &row, snaps, k, tmp, opts, fd, err);
		q = storage_snapshot_delete(pool, name, tmp, &e);
		if (q < 0)
			err_log_ignored(e, q, "Failed to remove the export snapshot of \"%s\"",
					name);
	}
	db_snapshots_free(snaps, k);
	return r;
}

char *backup_dir(const struct instance_env *env, const char *name)
{
	return str_printf("%s/backups/instances/%s", env->cairn_dir, name);
}

int backup_recover(const struct instance_env *env, struct err **err)
{
	_cleanup_free_ char *top = str_printf("%s/backups/instances", env->cairn_dir);
	_cleanup_closedir_ DIR *dp = NULL;
	struct dirent *de;

	if (!top)
		return err_set(err, -ENOMEM, "Out of memory");
	dp = opendir(top);
	while (dp && (de = readdir(dp))) {
		_cleanup_db_instance_ struct db_instance row = {0};
		_cleanup_free_ char *path = NULL;
		_cleanup_err_ struct err *e = NULL;
		int r;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (db_instance_get(env->db, de->d_name, &row, NULL) >= 0)
			continue;
		path = str_printf("%s/%s", top, de->d_name);
		if (!path)
			return err_set(err, -ENOMEM, "Out of memory");
		log_info("Removing the backups of instance \"%s\", which no longer exists",
			 de->d_name);
		r = rm_rf(path, &e);
		if (r < 0)
			err_log_ignored(e, r, "Failed to remove \"%s\"", path);
	}
	return 0;
}
