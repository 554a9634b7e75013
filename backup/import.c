/* Import of a backup tarball: backup_import() (backup/backup.h). */
#include "backup/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "backup/backup-internal.h"
#include "backup/index.h"
#include "backup/send.h"
#include "common/cleanup.h"
#include "common/crashpoint.h"
#include "common/err.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/util.h"
#include "config/db.h"
#include "config/keys.h"
#include "config/names.h"
#include "instance/idmap.h"
#include "instance/image.h"
#include "instance/instance.h"
#include "instance/settings.h"
#include "storage/storage.h"

#define INDEX_PATH "backup/index.yaml"
#define CONTAINER_PREFIX "backup/container"
#define SNAPSHOTS_PREFIX "backup/snapshots"

/* The id the container sees for what it cannot map (the kernel's overflow id). */
#define OVERFLOW_ID 65534

enum section {
	SECTION_NONE,
	SECTION_SNAPSHOT,
	SECTION_CONTAINER,
	SECTION_MAX,
};

struct import {
	const struct instance_env *env;
	struct storage_pool *pool;
	const char *name;
	const char *volume; /* where each tree is unpacked: the instance's volume, or a temporary
			       one for a refresh of an existing instance */
	bool refresh;	    /* a migration's refresh: the instance exists */
	bool migration;	    /* a copy from another daemon (backup_import_opts.keep_received) */
	struct backup_index *idx;
	struct instance_unpack *u;
	bool privileged;
	uint32_t uid_base, gid_base;
	enum section section;
	size_t snapshot;      /* the snapshot being unpacked (SECTION_SNAPSHOT) */
	size_t next_snapshot; /* the index of the next snapshot the tarball must hold */
	bool container_done;
	bool saw_rootfs;
	char *prefix;	    /* the current tree's prefix in the tarball */
	uint64_t processed; /* bytes of file data so far */
	int fd;		    /* the tarball, whose read position is the progress */
	uint64_t size;	    /* and its size (0: not a file) */
};

int backup_compression_parse(const char *s, enum backup_compression *ret, struct err **err)
{
	static const char *const names[BACKUP_COMPRESSION_MAX] = {
	    [BACKUP_COMPRESSION_NONE] = "none",
	    [BACKUP_COMPRESSION_GZIP] = "gzip",
	    [BACKUP_COMPRESSION_XZ] = "xz",
	    [BACKUP_COMPRESSION_ZSTD] = "zstd",
	};

	if (!s || !*s) {
		*ret = BACKUP_COMPRESSION_GZIP;
		return 0;
	}
	for (int i = 0; i < BACKUP_COMPRESSION_MAX; i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = (enum backup_compression)i;
			return 0;
		}
	return err_set(err, -EINVAL, "Invalid compression \"%s\" (use none, gzip, xz or zstd)", s);
}

const char *backup_compression_suffix(enum backup_compression c)
{
	switch (c) {
	case BACKUP_COMPRESSION_NONE:
		return ".tar";
	case BACKUP_COMPRESSION_XZ:
		return ".tar.xz";
	case BACKUP_COMPRESSION_ZSTD:
		return ".tar.zst";
	case BACKUP_COMPRESSION_GZIP:
	case BACKUP_COMPRESSION_MAX:
		break;
	}
	return ".tar.gz";
}

static bool under(const char *rel, const char *top, const char **ret_rest)
{
	size_t n = strlen(top);

	if (strncmp(rel, top, n) != 0 || (rel[n] != '\0' && rel[n] != '/'))
		return false;
	*ret_rest = rel[n] ? rel + n + 1 : rel + n;
	return true;
}

/* The settings of the new instance: the index's own config without what belonged to the host
 * it came from, its devices with a root disk on the target pool, its profiles (which must exist
 * here). Fills row (config, devices, profiles) and checks the expanded result. */
static int import_settings(struct import *im, struct db_instance *row, struct kvlist *config,
			   struct devices *devices, bool restricted, struct err **err)
{
	_cleanup_kvlist_ struct kvlist expanded = {0};
	_cleanup_devices_ struct devices expanded_devices = {0};
	_cleanup_free_ char *owner = str_printf("instance \"%s\"", im->name);
	const struct db_instance *src = &im->idx->instance;
	const char *root_pool;
	char base[32];
	int r;

	if (!owner)
		return err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; i < src->config.n; i++) {
		const char *k = src->config.items[i].key, *v = src->config.items[i].value;

		/* volatile.* describes the host it came from (its id base, its power state), except
		 * the image it was made from and its nics' MACs, which a restored or moved instance
		 * keeps, as in Incus (a copy gets new ones). */
		if (str_startswith(k, "volatile.") && strcmp(k, "volatile.base_image") != 0 &&
		    !(strlen(k) > 16 && strcmp(k + strlen(k) - 7, ".hwaddr") == 0))
			continue;
		/* snapshots.copy.target names a remote of the sending daemon: a copy on another
		 * daemon must not start refreshing onwards (or back) under that name. */
		if (im->migration && strcmp(k, "snapshots.copy.target") == 0)
			continue;
		r = config_text_valid("config value", v, err);
		if (r < 0)
			return r;
		if (!str_startswith(k, "image.") && !str_startswith(k, "volatile.")) {
			r = config_key_validate(k, v, err);
			if (r < 0)
				return err_wrap(err, r, "Invalid config in the backup");
		}
		if (kvlist_set(config, k, v) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	r = devices_copy(devices, &src->devices);
	if (r < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	r = devices_validate(owner, devices, err);
	if (r < 0)
		return err_wrap(err, r, "Invalid devices in the backup");
	row->profiles = src->profiles;
	r = instance_settings_expand(im->env, row->profiles, config, devices, &expanded,
				     &expanded_devices, err);
	if (r < 0)
		return r;
	/* The instance lives on the pool it is imported into: a root disk of its own says so when
	 * what it has (its own, or its profiles') names another one. */
	root_pool = instance_settings_root_pool(&expanded_devices);
	if (!root_pool || strcmp(root_pool, im->pool->name) != 0) {
		_cleanup_kvlist_ struct kvlist root = {0};
		const char *root_name = "root";
		const struct kvlist *have = devices_root_disk(&expanded_devices, &root_name);

		r = have ? kvlist_copy(&root, have) : kvlist_set(&root, "type", "disk");
		if (r >= 0 && !have)
			r = kvlist_set(&root, "path", "/");
		if (r >= 0)
			r = kvlist_set(&root, "pool", im->pool->name);
		if (r >= 0)
			r = devices_set(devices, root_name, &root);
		if (r < 0)
			return err_set(err, -ENOMEM, "Out of memory");
		kvlist_done(&expanded);
		devices_done(&expanded_devices);
		r = instance_settings_expand(im->env, row->profiles, config, devices, &expanded,
					     &expanded_devices, err);
		if (r < 0)
			return r;
	}
	r = instance_settings_check(im->env, owner, &expanded, &expanded_devices, NULL, err);
	if (r < 0)
		return r;
	if (restricted) {
		r = instance_settings_restricted(owner, NULL, NULL, &expanded, &expanded_devices,
						 err);
		if (r < 0)
			return r;
	}
	im->privileged = config_get_bool(&expanded, "security.privileged", false);
	im->uid_base = im->privileged ? 0 : im->env->idmap.uid_base;
	im->gid_base = im->privileged ? 0 : im->env->idmap.gid_base;
	snprintf(base, sizeof(base), "%u", im->uid_base);
	if (kvlist_set(config, "volatile.idmap.base", base) < 0 ||
	    kvlist_set(config, "volatile.last_state.power", "STOPPED") < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	kvlist_unset(config, INSTANCE_EPHEMERAL_KEY);
	row->config = *config;
	row->devices = *devices;
	return 0;
}

static char *volume_path(const struct import *im)
{
	return storage_volume_path(im->pool, STORAGE_VOLUME_CONTAINER, im->volume);
}

static int begin_tree(struct import *im, enum section section, size_t snapshot, struct err **err)
{
	_cleanup_free_ char *vol = NULL;
	int r;

	r = storage_volume_create(im->pool, STORAGE_VOLUME_CONTAINER, im->volume, err);
	if (r < 0)
		return r;
	vol = volume_path(im);
	if (!vol)
		return err_set(err, -ENOMEM, "Out of memory");
	free(im->prefix);
	im->prefix = section == SECTION_CONTAINER
			 ? strdup(CONTAINER_PREFIX)
			 : str_printf(SNAPSHOTS_PREFIX "/%s", im->idx->snapshots[snapshot].name);
	if (!im->prefix)
		return err_set(err, -ENOMEM, "Out of memory");
	im->section = section;
	im->snapshot = snapshot;
	im->saw_rootfs = false;
	return instance_unpack_target(im->u, vol, err);
}

/* The snapshot's own config, with the id base its files now have. */
static int snapshot_row(struct import *im, const struct db_snapshot *src, struct db_snapshot *ret,
			struct kvlist *config)
{
	char base[32];

	if (kvlist_copy(config, &src->config) < 0)
		return -ENOMEM;
	snprintf(base, sizeof(base), "%u", im->uid_base);
	if (kvlist_set(config, "volatile.idmap.base", base) < 0)
		return -ENOMEM;
	*ret = *src;
	ret->instance = (char *)im->name;
	ret->config = *config;
	ret->state = DB_ROW_READY;
	if (ret->created_at <= 0)
		ret->created_at = time_now();
	return 0;
}

int backup_check_volume(const char *path, const char *what, struct err **err)
{
	static const struct {
		const char *name;
		mode_t type;
	} allowed[] = {
	    {"rootfs", S_IFDIR}, {"templates", S_IFDIR},   {"checkpoint", S_IFDIR},
	    {"state", S_IFDIR},	 {"backup.yaml", S_IFREG}, {"metadata.yaml", S_IFREG},
	};
	_cleanup_closedir_ DIR *dp = opendir(path);
	bool rootfs = false;
	struct dirent *de;

	if (!dp)
		return err_set_errno(err, -errno, "Failed to read \"%s\"", path);
	while ((de = readdir(dp))) {
		struct stat st;
		size_t i = 0;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		while (i < sizeof(allowed) / sizeof(allowed[0]) &&
		       strcmp(allowed[i].name, de->d_name) != 0)
			i++;
		if (i == sizeof(allowed) / sizeof(allowed[0]))
			return err_set(
			    err, -EINVAL,
			    "Invalid backup tarball: %s holds \"%s\", which an instance's "
			    "volume does not",
			    what, de->d_name);
		if (fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return err_set_errno(err, -errno, "Failed to look at \"%s\" in %s",
					     de->d_name, what);
		if ((st.st_mode & S_IFMT) != allowed[i].type)
			return err_set(err, -EINVAL,
				       "Invalid backup tarball: \"%s\" of %s is not a %s",
				       de->d_name, what,
				       allowed[i].type == S_IFDIR ? "directory" : "regular file");
		if (strcmp(de->d_name, "rootfs") == 0)
			rootfs = true;
	}
	if (!rootfs)
		return err_set(err, -EINVAL, "Invalid backup tarball: %s has no rootfs/", what);
	return 0;
}

/* Ends the current tree: its files get their owners in the target's range; a snapshot's tree
 * becomes the read-only snapshot and the volume goes again. */
static int end_tree(struct import *im, struct err **err)
{
	_cleanup_free_ char *vol = NULL, *rootfs = NULL;
	struct stat st;
	int r;

	if (im->section == SECTION_NONE)
		return 0;
	r = instance_unpack_target(im->u, NULL, err);
	if (r < 0)
		return r;
	vol = volume_path(im);
	rootfs = vol ? str_printf("%s/rootfs", vol) : NULL;
	if (!rootfs)
		return err_set(err, -ENOMEM, "Out of memory");
	if (!im->saw_rootfs || lstat(rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(err, -EINVAL, "Invalid backup tarball: %s/rootfs/ is missing",
			       im->prefix);
	r = backup_check_volume(vol, im->prefix, err);
	if (r < 0)
		return r;
	if (!im->privileged) {
		r = instance_shift_tree(rootfs, 0, 0, im->uid_base, im->gid_base,
					im->env->idmap.size, err);
		if (r < 0)
			return err_wrap(err, r, "Failed to shift the rootfs of \"%s\"", im->name);
	}
	if (im->section == SECTION_SNAPSHOT) {
		const struct db_snapshot *src = &im->idx->snapshots[im->snapshot];
		_cleanup_kvlist_ struct kvlist config = {0};
		struct db_snapshot row;

		r = storage_snapshot_create_from(im->pool, im->volume, im->name, src->name, err);
		if (r < 0)
			return r;
		r = storage_volume_delete(im->pool, STORAGE_VOLUME_CONTAINER, im->volume, err);
		if (r < 0)
			return r;
		if (snapshot_row(im, src, &row, &config) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
		r = db_snapshot_insert(im->env->db, &row, NULL, err);
		if (r < 0) {
			_cleanup_err_ struct err *e = NULL;

			/* A refresh keeps what it committed: this one was not. */
			if (im->refresh)
				storage_snapshot_delete(im->pool, im->name, src->name, &e);
			return r;
		}
		crashpoint(im->refresh ? "migration-after-snapshot" : "import-after-snapshot");
	} else {
		im->container_done = true;
	}
	im->section = SECTION_NONE;
	return 0;
}

static int missing_snapshot(struct import *im, struct err **err)
{
	return err_set(err, -EINVAL,
		       "Invalid backup tarball: snapshot \"%s\" is in its index but not in the "
		       "tarball",
		       im->idx->snapshots[im->next_snapshot].name);
}

/* Starts the tree `rel` belongs to, when it is not the current one; the trees must come as the
 * index lists them, each once, the instance last. */
static int enter_tree(struct import *im, enum section section, const char *snapshot,
		      struct err **err)
{
	size_t i = 0;
	int r;

	if (section == im->section &&
	    (section != SECTION_SNAPSHOT ||
	     strcmp(im->idx->snapshots[im->snapshot].name, snapshot) == 0))
		return 0;
	r = end_tree(im, err);
	if (r < 0)
		return r;
	if (im->container_done)
		return err_set(err, -EINVAL,
			       "Invalid backup tarball: entries after the instance's own tree");
	if (section == SECTION_CONTAINER) {
		if (im->next_snapshot < im->idx->n_snapshots)
			return missing_snapshot(im, err);
		return begin_tree(im, SECTION_CONTAINER, 0, err);
	}
	while (i < im->idx->n_snapshots && strcmp(im->idx->snapshots[i].name, snapshot) != 0)
		i++;
	if (i == im->idx->n_snapshots)
		return err_set(err, -EINVAL,
			       "Invalid backup tarball: it holds snapshot \"%s\", which its index "
			       "does not list",
			       snapshot);
	if (i < im->next_snapshot)
		return err_set(err, -EINVAL,
			       "Invalid backup tarball: snapshot \"%s\" appears twice", snapshot);
	if (i > im->next_snapshot)
		return missing_snapshot(im, err);
	im->next_snapshot++;
	return begin_tree(im, SECTION_SNAPSHOT, i, err);
}

/* Ids the container cannot have (past its 65536) become its overflow id: a tarball may not give
 * a file to a host user of the target's choice. */
static void clamp_ids(struct import *im, struct archive_entry *entry)
{
	if (im->privileged)
		return;
	if (archive_entry_uid(entry) < 0 || archive_entry_uid(entry) >= im->env->idmap.size)
		archive_entry_set_uid(entry, OVERFLOW_ID);
	if (archive_entry_gid(entry) < 0 || archive_entry_gid(entry) >= im->env->idmap.size)
		archive_entry_set_gid(entry, OVERFLOW_ID);
}

/* One entry of a tree: its name inside the volume is `sub`. */
static int import_entry(struct import *im, struct archive_entry *entry, const char *sub,
			struct err **err)
{
	_cleanup_free_ char *link_rel = NULL;
	const char *hardlink = archive_entry_hardlink(entry), *link_sub = NULL;
	const char *name = archive_entry_pathname(entry);
	int r;

	if (!*sub) {
		if (archive_entry_filetype(entry) != AE_IFDIR || hardlink)
			return err_set(err, -EINVAL,
				       "Invalid backup tarball: \"%s\" is not a directory", name);
		return 0;
	}
	if (strcmp(sub, "rootfs") == 0) {
		if (archive_entry_filetype(entry) != AE_IFDIR || hardlink)
			return err_set(err, -EINVAL,
				       "Invalid backup tarball: \"%s\" is not a directory", name);
		im->saw_rootfs = true;
	}
	if (hardlink) {
		r = instance_unpack_normalize(hardlink, &link_rel);
		if (r == -ENOMEM)
			return err_set(err, r, "Out of memory");
		if (r < 0 || !under(link_rel, im->prefix, &link_sub) || !*link_sub)
			return err_set(
			    err, -EINVAL,
			    "Invalid backup tarball: hard link \"%s\" points outside its "
			    "tree",
			    name);
	}
	clamp_ids(im, entry);
	if (archive_entry_size_is_set(entry) && archive_entry_size(entry) > 0)
		im->processed += (uint64_t)archive_entry_size(entry);
	r = instance_unpack_extract(im->u, entry, sub, link_sub, err);
	if (r < 0)
		return r;
	/* How far into the (compressed) tarball the reader is: that has a known end. */
	if (im->size) {
		off_t pos = lseek(im->fd, 0, SEEK_CUR);

		progress_report("import", pos > 0 ? (uint64_t)pos : 0, im->size);
	} else {
		progress_report("import", im->processed, 0);
	}
	return 0;
}

/* The entries of the optimized layout: backup/container.bin, backup/snapshots/<name>.bin and
 * backup/optimized_header.yaml (a file called x.bin inside a tree is just a file). */
static bool optimized_entry(const char *rel)
{
	const char *rest = NULL;
	size_t n;

	if (strcmp(rel, "backup/container.bin") == 0 ||
	    strcmp(rel, "backup/optimized_header.yaml") == 0)
		return true;
	if (!under(rel, SNAPSHOTS_PREFIX, &rest) || strchr(rest, '/'))
		return false;
	n = strlen(rest);
	return n > 4 && strcmp(rest + n - 4, ".bin") == 0;
}

/* Routes every entry after the index to its tree. */
static int import_trees(struct import *im, struct err **err)
{
	for (;;) {
		_cleanup_free_ char *rel = NULL, *snap = NULL;
		struct archive_entry *entry;
		const char *rest = NULL;
		int r;

		r = instance_unpack_next(im->u, &entry, &rel, err);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (strcmp(rel, "backup") == 0 || strcmp(rel, SNAPSHOTS_PREFIX) == 0) {
			if (archive_entry_filetype(entry) != AE_IFDIR)
				return err_set(err, -EINVAL,
					       "Invalid backup tarball: \"%s\" is not a directory",
					       rel);
			continue;
		}
		if (strcmp(rel, INDEX_PATH) == 0)
			return err_set(err, -EINVAL,
				       "Invalid backup tarball: " INDEX_PATH " appears twice");
		if (optimized_entry(rel))
			return err_set(
			    err, -EINVAL,
			    "Invalid backup tarball: \"%s\" is a btrfs send stream, in a "
			    "backup whose index says it is not optimized",
			    rel);
		if (under(rel, CONTAINER_PREFIX, &rest)) {
			r = enter_tree(im, SECTION_CONTAINER, NULL, err);
		} else if (under(rel, SNAPSHOTS_PREFIX, &rest)) {
			const char *slash = strchr(rest, '/');

			snap = slash ? strndup(rest, (size_t)(slash - rest)) : strdup(rest);
			if (!snap)
				return err_set(err, -ENOMEM, "Out of memory");
			rest = slash ? slash + 1 : "";
			r = enter_tree(im, SECTION_SNAPSHOT, snap, err);
		} else {
			return err_set(err, -EINVAL,
				       "Invalid backup tarball: unexpected entry \"%s\"",
				       archive_entry_pathname(entry));
		}
		if (r < 0)
			return r;
		r = import_entry(im, entry, rest, err);
		if (r < 0)
			return r;
	}
	if (im->section == SECTION_SNAPSHOT || im->next_snapshot < im->idx->n_snapshots) {
		int r = end_tree(im, err);

		if (r < 0)
			return r;
		if (im->next_snapshot < im->idx->n_snapshots)
			return missing_snapshot(im, err);
	}
	if (im->section == SECTION_CONTAINER) {
		int r = end_tree(im, err);

		if (r < 0)
			return r;
	}
	if (!im->container_done)
		return err_set(err, -EINVAL,
			       "Invalid backup tarball: it holds no " CONTAINER_PREFIX "/ tree");
	return 0;
}

/* The pool to import into: the one asked for, else the one the backup came from when it exists
 * here, else "default". */
static struct storage_pool *pick_pool(const struct instance_env *env, const char *asked,
				      const char *from)
{
	struct storage_pool *pool;

	if (asked)
		return instance_env_pool(env, asked);
	if (from && *from && (pool = instance_env_pool(env, from)))
		return pool;
	return instance_env_pool(env, "default");
}

/* The id base the exporting host gave the files (a send stream carries them as they were on its
 * disk). */
static uint32_t source_base(const struct backup_index *idx)
{
	const char *v = kvlist_get(&idx->instance.config, "volatile.idmap.base");

	return v ? (uint32_t)strtoul(v, NULL, 10) : 0;
}

static void unpack_freep(struct instance_unpack **u)
{
	instance_unpack_free(*u);
	*u = NULL;
}

/* Reads the index, which Incus writes first, so that an importer knows what to expect before
 * the trees; cairn needs it there too, as it reads the tarball once. */
static int read_index(struct instance_unpack *u, struct backup_index *ret, struct err **err)
{
	_cleanup_free_ char *text = NULL, *rel = NULL;
	struct archive_entry *entry;
	size_t len = 0;
	int r;

	r = instance_unpack_next(u, &entry, &rel, err);
	if (r < 0)
		return r;
	if (r == 0)
		return err_set(err, -EINVAL, "Invalid backup tarball: it is empty");
	if (strcmp(rel, INDEX_PATH) != 0)
		return err_set(err, -EINVAL,
			       "Invalid backup tarball: its first entry is \"%s\", not " INDEX_PATH,
			       archive_entry_pathname(entry));
	r = instance_unpack_read_small(u, entry, BACKUP_INDEX_MAX_BYTES, &text, &len, err);
	if (r < 0)
		return r;
	return backup_index_parse(text, len, ret, err);
}

int backup_import(const struct instance_env *env, int fd, const struct backup_import_opts *opts,
		  char **ret_name, struct err **err)
{
	_cleanup_backup_index_ struct backup_index idx = {0};
	_cleanup_kvlist_ struct kvlist config = {0};
	_cleanup_devices_ struct devices devices = {0};
	_cleanup_(unpack_freep) struct instance_unpack *u = NULL;
	_cleanup_free_ char *prefix = NULL, *name_copy = NULL;
	struct db_instance row = {0};
	struct import im = {.env = env, .fd = fd, .migration = opts->keep_received};
	struct stat st;
	int r;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		im.size = (uint64_t)st.st_size;
	r = instance_unpack_open(fd, &u, err);
	if (r < 0)
		return r;
	r = read_index(u, &idx, err);
	if (r < 0)
		return r;
	im.u = u;
	im.idx = &idx;
	im.name = opts->name ? opts->name : idx.name;
	im.volume = im.name;
	r = config_instance_name_valid(im.name, err);
	if (r < 0)
		return r;
	im.pool = pick_pool(env, opts->pool, idx.pool);
	if (!im.pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found",
			       opts->pool ? opts->pool : "default");
	if (idx.optimized && strcmp(im.pool->driver, "btrfs") != 0)
		return err_set(err, -EINVAL,
			       "An optimized backup holds btrfs send streams: it can only be "
			       "imported into a btrfs pool, and \"%s\" is %s",
			       im.pool->name, im.pool->driver);
	r = import_settings(&im, &row, &config, &devices, opts->restricted, err);
	if (r < 0)
		return r;
	row.name = (char *)im.name;
	row.pool = im.pool->name;
	row.architecture = idx.instance.architecture;
	row.description = idx.instance.description ? idx.instance.description : (char *)"";
	row.created_at = idx.instance.created_at > 0 ? idx.instance.created_at : time_now();
	row.last_used_at = idx.instance.last_used_at;
	row.state = DB_ROW_CREATING;
	r = db_instance_insert(env->db, &row, NULL, err);
	if (r < 0)
		return r;
	crashpoint("import-after-row");

	/* From here on the CREATING row makes a half import recoverable. */
	r = idx.optimized
		? backup_receive_trees(env, im.pool, im.name, &idx, u, im.privileged,
				       source_base(&idx), im.uid_base, opts->keep_received, err)
		: import_trees(&im, err);
	prefix = im.prefix;
	/* The streams made the snapshots; their rows follow (the tree import writes each one as
	 * its snapshot is made). */
	for (size_t i = 0; r >= 0 && idx.optimized && i < idx.n_snapshots; i++) {
		_cleanup_kvlist_ struct kvlist snap_config = {0};
		struct db_snapshot srow;

		r = snapshot_row(&im, &idx.snapshots[i], &srow, &snap_config) < 0
			? err_set(err, -ENOMEM, "Out of memory")
			: db_snapshot_insert(env->db, &srow, NULL, err);
	}
	crashpoint("import-before-ready");
	if (r >= 0)
		r = instance_create_finish(env, im.name, err);
	if (r >= 0 && ret_name && !(name_copy = strdup(im.name)))
		r = err_set(err, -ENOMEM, "Out of memory");
	if (r < 0) {
		/* The writer holds the volume's directories open: it goes first. */
		unpack_freep(&u);
		instance_create_undo(env, im.name, im.pool->name);
		return r;
	}
	instance_notify(env, "instance-created", "instances", im.name);
	if (ret_name)
		*ret_name = steal_pointer(&name_copy);
	return 0;
}

int backup_import_refresh(const struct instance_env *env, const char *name, int fd,
			  struct backup_index *ret_idx, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_(unpack_freep) struct instance_unpack *u = NULL;
	_cleanup_free_ char *tmp = NULL, *prefix = NULL;
	struct import im = {.env = env, .fd = -EBADF, .name = name, .refresh = true};
	struct db_snapshot *have = NULL;
	size_t n_have = 0;
	char suffix[37];
	int r;

	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	im.pool = instance_env_pool(env, row.pool);
	if (!im.pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row.pool);
	uuid_random(suffix);
	/* A hidden volume no row owns: recovery removes it after a crash. */
	tmp = str_printf(".migrate-%.8s", suffix);
	if (!tmp)
		return err_set(err, -ENOMEM, "Out of memory");
	im.volume = tmp;
	im.privileged = config_get_bool(&row.expanded_config, "security.privileged", false);
	im.uid_base = im.privileged ? 0 : env->idmap.uid_base;
	im.gid_base = im.privileged ? 0 : env->idmap.gid_base;
	r = instance_unpack_open(fd, &u, err);
	if (r < 0)
		return r;
	r = read_index(u, ret_idx, err);
	if (r < 0)
		return r;
	if (ret_idx->optimized)
		return err_set(err, -EINVAL,
			       "Invalid migration stream: send streams where files were expected");
	r = db_snapshot_list(env->db, name, &have, &n_have, err);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < ret_idx->n_snapshots; i++)
		for (size_t j = 0; r >= 0 && j < n_have; j++)
			if (strcmp(have[j].name, ret_idx->snapshots[i].name) == 0)
				r = err_set(err, -EEXIST,
					    "Invalid migration stream: snapshot \"%s\" exists "
					    "already",
					    have[j].name);
	db_snapshots_free(have, n_have);
	if (r < 0)
		return r;
	im.u = u;
	im.idx = ret_idx;
	r = import_trees(&im, err);
	prefix = im.prefix;
	/* The instance's tree is whole: it takes the volume's place in one step, and the old one
	 * goes (from its hidden name, which recovery would also remove). */
	if (r >= 0) {
		crashpoint("migration-before-swap");
		r = storage_volume_swap(im.pool, name, tmp, err);
	}
	/* The writer holds the volume's directories open: it goes first. */
	unpack_freep(&u);
	{
		_cleanup_err_ struct err *e = NULL;
		_cleanup_free_ char *path =
		    storage_volume_path(im.pool, STORAGE_VOLUME_CONTAINER, tmp);

		if (path && access(path, F_OK) == 0 &&
		    storage_volume_delete(im.pool, STORAGE_VOLUME_CONTAINER, tmp, &e) < 0)
			err_log_ignored(e, -EIO, "Failed to remove volume \"%s\"", tmp);
	}
	return r;
}
