#include "cmd/cairnd/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cairnd/events.h"
#include "cmd/cairnd/scheduler.h"
#include "common/cleanup.h"
#include "common/crashpoint.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "config/db.h"
#include "config/names.h"
#include "config/profiles.h"
#include "instance/images.h"
#include "network/network.h"
#include "snapshots/snapshots.h"
#include "storage/storage.h"

/* The pools array never moves (request threads read it while a pool is added). */
#define MAX_POOLS 64
#define DEFAULT_POOL_SIZE (10ULL << 30)

/* Every lifecycle change becomes an event; a start may make an @startup snapshot due, and a
 * config change may move the scheduler's next deadline. */
static void daemon_lifecycle(const char *action, const char *source)
{
	events_lifecycle(action, source);
	if (strcmp(action, "instance-started") == 0 && str_startswith(source, "/1.0/instances/"))
		scheduler_instance_started(source + strlen("/1.0/instances/"));
	else if (strcmp(action, "instance-updated") == 0)
		scheduler_wake();
}

int daemon_claim(struct daemon *d, const char *name, struct err **err)
{
	int r = 0;

	pthread_mutex_lock(&d->busy_lock);
	if (strv_contains(d->busy, name))
		r = err_set(err, -EBUSY,
			    "Instance \"%s\" is busy: another operation on it is running", name);
	else if (strv_push(&d->busy, name) < 0)
		r = err_set(err, -ENOMEM, "Out of memory");
	pthread_mutex_unlock(&d->busy_lock);
	return r;
}

void daemon_release(struct daemon *d, const char *name)
{
	pthread_mutex_lock(&d->busy_lock);
	for (size_t i = 0; d->busy && d->busy[i]; i++) {
		if (strcmp(d->busy[i], name) != 0)
			continue;
		free(d->busy[i]);
		memmove(&d->busy[i], &d->busy[i + 1], (strv_length(d->busy) - i) * sizeof(char *));
		break;
	}
	pthread_mutex_unlock(&d->busy_lock);
}

static int make_dirs(struct daemon *d, struct err **err)
{
	static const struct {
		const char *name;
		mode_t mode;
	} dirs[] = {
	    {"", 0711},		  {"database", 0700}, {"disks", 0700}, {"storage-pools", 0711},
	    {"containers", 0711}, {"logs", 0700},
	};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		_cleanup_free_ char *p = str_printf("%s/%s", d->dir, dirs[i].name);
		int r;

		if (!p)
			return err_set(err, -ENOMEM, "Out of memory");
		r = mkdir_p(p, dirs[i].mode, err);
		if (r < 0)
			return r;
		/* Unprivileged container roots must traverse CAIRN_DIR to reach their rootfs. */
		if (chmod(p, dirs[i].mode) < 0)
			return err_set_errno(err, -errno, "Failed to set the mode of \"%s\"", p);
	}
	return 0;
}

static int take_lock(struct daemon *d, struct err **err)
{
	_cleanup_free_ char *p = str_printf("%s/.lock", d->dir);
	_cleanup_close_ int fd = -EBADF;

	if (!p)
		return err_set(err, -ENOMEM, "Out of memory");
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", p);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return err_set(err, -EBUSY, "Another cairnd is already running on \"%s\"",
				       d->dir);
		return err_set_errno(err, -errno, "Failed to lock \"%s\"", p);
	}
	d->lock_fd = steal_fd(&fd);
	return 0;
}

/* True when `path` is `dir` or below it (both canonical). */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/' || n == 1);
}

/*
 * A source the user gives: absolute, without "..", and not leading into CAIRN_DIR (through a
 * symlink either): a pool there would format, mount over or delete the daemon's own files.
 * A path that does not exist yet (a loop file to make) is checked by its nearest existing parent.
 */
static int source_allowed(struct daemon *d, const char *source, struct err **err)
{
	_cleanup_free_ char *dir = realpath(d->dir, NULL), *probe = strdup(source);
	_cleanup_free_ char *real = NULL;
	bool whole = true;
	int r;

	r = config_pool_source_valid(source, err);
	if (r < 0)
		return r;
	if (!dir || !probe)
		return err_set(err, -ENOMEM, "Out of memory");
	while (!(real = realpath(probe, NULL))) {
		char *slash = strrchr(probe, '/');

		if (errno != ENOENT || !slash)
			return err_set_errno(err, -errno,
					     "Cannot resolve storage pool source \"%s\"", source);
		whole = false;
		if (slash == probe)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	/* A pool on an existing directory above CAIRN_DIR would hold it (and a dir pool's delete
	 * would empty its own directories there). */
	if (path_within(real, dir) || (whole && path_within(dir, real)))
		return err_set(err, -EINVAL,
			       "Invalid storage pool source \"%s\": it leads into cairn's own "
			       "directory \"%s\"",
			       source, d->dir);
	return 0;
}

static int add_pool(struct daemon *d, const struct db_pool *row, bool create, struct err **err)
{
	struct storage_pool pool = {0};
	int r;

	if (d->env.n_pools >= MAX_POOLS)
		return err_set(err, -ENOSPC, "Too many storage pools");
	r = storage_pool_init(&pool, d->dir, row->name, row->driver, row->source, row->size, err);
	if (r < 0)
		return r;
	r = create ? storage_pool_create(&pool, err) : storage_pool_mount(&pool, err);
	if (r < 0) {
		storage_pool_done(&pool);
		return err_wrap(err, r, "Storage pool \"%s\"", row->name);
	}
	d->env.pools[d->env.n_pools] = pool;
	__atomic_store_n(&d->env.n_pools, d->env.n_pools + 1, __ATOMIC_RELEASE);
	return 0;
}

int daemon_pool_create(struct daemon *d, const char *name, const char *driver, const char *source,
		       uint64_t size, struct err **err)
{
	_cleanup_free_ char *default_source = NULL;
	_cleanup_(db_pool_done) struct db_pool existing = {0};
	struct db_pool row = {0};
	int r;

	r = config_pool_name_valid(name, err);
	if (r < 0)
		return r;
	if (!storage_driver(driver))
		return err_set(err, -EINVAL, "Unknown storage driver \"%s\" (use btrfs or dir)",
			       driver);
	if (db_pool_get(d->env.db, name, &existing, NULL) >= 0)
		return err_set(err, -EEXIST, "Storage pool \"%s\" already exists", name);
	if (source && *source) {
		r = source_allowed(d, source, err);
		if (r < 0)
			return r;
	} else {
		if (strcmp(driver, "btrfs") == 0)
			default_source = str_printf("%s/disks/%s.img", d->dir, name);
		else
			default_source = str_printf("%s/storage-pools/%s", d->dir, name);
		if (!default_source)
			return err_set(err, -ENOMEM, "Out of memory");
		source = default_source;
	}
	row.name = (char *)name;
	row.driver = (char *)driver;
	row.source = (char *)source;
	row.size = size;
	/* A loop-file pool (the default source, or a file that does not exist yet) gets the
	 * default size; block devices and directories have their own. */
	if (strcmp(driver, "btrfs") == 0 && !size) {
		struct stat st;

		if (default_source || stat(source, &st) < 0 || S_ISREG(st.st_mode))
			row.size = DEFAULT_POOL_SIZE;
	}
	row.description = (char *)"";
	r = add_pool(d, &row, true, err);
	if (r < 0)
		return r;
	r = db_pool_insert(d->env.db, &row, err);
	if (r < 0) {
		struct storage_pool *p = &d->env.pools[d->env.n_pools - 1];
		_cleanup_err_ struct err *e = NULL;
		int q;

		/* Request threads may already hold the published slot: it stays, hidden first and
		 * marked removed, as a deleted pool's does. */
		__atomic_store_n(&p->removed, true, __ATOMIC_RELEASE);
		q = storage_pool_delete(p, &e);
		if (q < 0)
			err_log_ignored(e, q, "Failed to remove the storage of pool \"%s\"",
					p->name);
		return r;
	}
	return 0;
}

/* "instances "c1", "c2" and images "0123456789ab"": who uses pool `name`. NULL when nobody
 * does (or on OOM). */
static char *pool_users_text(struct daemon *d, const char *name)
{
	_cleanup_strv_ char **instances = NULL, **images = NULL;
	_cleanup_free_ char *a = NULL, *b = NULL;
	struct db_image *rows = NULL;
	size_t n = 0;

	db_pool_users(d->env.db, name, &instances, NULL);
	if (db_image_list(d->env.db, &rows, &n, NULL) >= 0) {
		for (size_t i = 0; i < n; i++) {
			char short_fp[13];

			if (strcmp(rows[i].pool, name) != 0)
				continue;
			snprintf(short_fp, sizeof(short_fp), "%s", rows[i].fingerprint);
			strv_push(&images, short_fp);
		}
		db_images_free(rows, n);
	}
	for (size_t k = 0; k < 2; k++) {
		char **v = k ? images : instances;
		char **out = k ? &b : &a;

		for (size_t i = 0; v && v[i]; i++) {
			char *next =
			    str_printf("%s%s\"%s\"", *out ? *out : "", *out ? ", " : "", v[i]);

			free(*out);
			*out = next;
			if (!next)
				return NULL;
		}
	}
	if (a && b)
		return str_printf("instances %s and images %s", a, b);
	if (a)
		return str_printf("instances %s", a);
	if (b)
		return str_printf("images %s", b);
	return NULL;
}

int daemon_pool_delete(struct daemon *d, const char *name, struct err **err)
{
	struct storage_pool *pool = instance_env_pool(&d->env, name);
	_cleanup_free_ char *users = NULL;
	int r;

	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", name);
	/* Hidden first, so that nothing new lands on it; the row goes only if nobody uses it
	 * (checked in the same transaction as the delete). */
	__atomic_store_n(&pool->removed, true, __ATOMIC_RELEASE);
	r = db_pool_delete(d->env.db, name, err);
	if (r < 0) {
		__atomic_store_n(&pool->removed, false, __ATOMIC_RELEASE);
		if (r != -EBUSY)
			return r;
		users = pool_users_text(d, name);
		err_free(*err);
		*err = NULL;
		return err_set(err, -EBUSY, "Storage pool \"%s\" is in use by %s", name,
			       users ? users : "an instance or image being made or moved there");
	}
	crashpoint("pool-delete-after-row");
	/* The row is gone: whatever is left on disk is removed at the next start. */
	r = storage_pool_delete(pool, err);
	if (r < 0)
		return err_wrap(err, r,
				"Storage pool \"%s\" is deleted, but its files are left to be "
				"removed at the next start",
				name);
	return 0;
}

int daemon_pool_update(struct daemon *d, const char *name, uint64_t size, const char *description,
		       struct err **err)
{
	_cleanup_(db_pool_done) struct db_pool row = {0};
	struct storage_pool *pool = instance_env_pool(&d->env, name);
	int r;

	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", name);
	r = db_pool_get(d->env.db, name, &row, err);
	if (r < 0)
		return r;
	if (size && size != pool->size) {
		if (size < pool->size) {
			_cleanup_free_ char *was = format_size(pool->size);

			return err_set(err, -EINVAL,
				       "Storage pool \"%s\" cannot shrink (its size is %s)", name,
				       was ? was : "?");
		}
		/* The row first: if it cannot be stored, nothing has grown. If the growing then
		 * fails, the row is put back, so that an error leaves the pool as it was. */
		r = db_pool_update(d->env.db, name, size,
				   description ? description : row.description, err);
		if (r < 0)
			return r;
		r = storage_pool_grow(pool, size, err);
		if (r < 0) {
			_cleanup_err_ struct err *e = NULL;
			int q = db_pool_update(d->env.db, name, row.size, row.description, &e);

			if (q < 0)
				err_log_ignored(e, q, "Failed to put back the size of pool \"%s\"",
						name);
			return r;
		}
		__atomic_store_n(&pool->size, size, __ATOMIC_RELEASE);
		return 0;
	}
	return db_pool_update(d->env.db, name, row.size,
			      description ? description : row.description, err);
}

/*
 * Whether `path` is the root of a mount: 1, 0, or -1 with errno. The kernel says so itself
 * (STATX_ATTR_MOUNT_ROOT): a bind mount of a directory on the same filesystem has the same
 * st_dev as its parent, so comparing devices would take a dir pool's `source`, bound there, for
 * plain files of cairn's and delete the user's directory through it.
 */
static int is_mount_root(const char *path)
{
	struct statx stx;

	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
		return -1;
	if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) ? 1 : 0;
}

/* Unmounts everything stacked on `path`; 0 once it is no mount point, -1 with errno otherwise. */
static int unmount_all(const char *path)
{
	for (int i = 0; i < 16; i++) {
		int m = is_mount_root(path);

		if (m <= 0)
			return m;
		if (umount2(path, UMOUNT_NOFOLLOW) < 0)
			return -1;
	}
	errno = EBUSY;
	return -1;
}

/*
 * After a pool delete killed between its row and its files: a mount point under storage-pools/
 * or a loop file under disks/ that no pool row names is unmounted and removed. A mount point that
 * cannot be unmounted is kept (its content is not ours to remove through it).
 */
static void sweep_pools(struct daemon *d)
{
	static const char *const dirs[] = {"storage-pools", "disks"};

	for (size_t k = 0; k < 2; k++) {
		_cleanup_free_ char *top = str_printf("%s/%s", d->dir, dirs[k]);
		_cleanup_closedir_ DIR *dir = top ? opendir(top) : NULL;
		_cleanup_strv_ char **names = NULL;
		struct dirent *de;

		while (dir && (de = readdir(dir)))
			if (de->d_name[0] != '.')
				strv_push(&names, de->d_name);
		for (size_t i = 0; names && names[i]; i++) {
			_cleanup_(db_pool_done) struct db_pool row = {0};
			_cleanup_free_ char *name = strdup(names[i]), *path = NULL;
			char *dot;

			if (!name)
				continue;
			if (k == 1 && (dot = strrchr(name, '.')) && strcmp(dot, ".img") == 0)
				*dot = '\0';
			else if (k == 1)
				continue;
			if (db_pool_get(d->env.db, name, &row, NULL) != -ENOENT)
				continue;
			path = str_printf("%s/%s", top, names[i]);
			if (!path)
				continue;
			log_info("Removing \"%s\": no storage pool \"%s\" any more", path, name);
			if (k == 0 && unmount_all(path) < 0) {
				log_error("Failed to unmount \"%s\", keeping it: %s", path,
					  strerror(errno));
				continue;
			}
			if (k == 0)
				rm_rf(path, NULL);
			else
				unlink(path);
		}
	}
}

static int load_pools(struct daemon *d, struct err **err)
{
	struct db_pool *rows = NULL;
	size_t n = 0;
	int r;

	r = db_pool_list(d->env.db, &rows, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct err *e = NULL;

		r = add_pool(d, &rows[i], false, &e);
		if (r < 0)
			log_error("Failed to mount storage pool \"%s\", ignoring: %s", rows[i].name,
				  err_msg(e, r));
	}
	db_pools_free(rows, n);
	return 0;
}

int daemon_setup(struct daemon *d, const char *backend, uint64_t size, struct err **err)
{
	_cleanup_free_ char *dbpath = str_printf("%s/database/cairn.db", d->dir);
	struct group *gr;
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	int r;

	if (!dbpath)
		return err_set(err, -ENOMEM, "Out of memory");
	gr = getgrnam(d->group_name);
	d->group_gid = gr ? gr->gr_gid : (gid_t)-1;
	if (!gr)
		log_warn("Group \"%s\" does not exist: only root can use cairnd", d->group_name);

	r = make_dirs(d, err);
	if (r < 0)
		return r;
	r = take_lock(d, err);
	if (r < 0)
		return r;
	r = db_open(dbpath, &d->env.db, err);
	if (r < 0)
		return r;
	r = instance_idmap_load("/etc/subuid", "/etc/subgid", true, &d->env.idmap, err);
	if (r < 0)
		return err_wrap(err, r,
				"Failed to set up the id range for unprivileged containers");
	d->env.cairn_dir = d->dir;
	d->env.lifecycle = daemon_lifecycle;
	d->env.helper = d->helper;
	d->env.self_exe = d->self_exe;
	d->env.cgroup = instance_cgroup_detect();
	d->env.host_cpus = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	d->env.host_memory = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
	d->env.pools = calloc(MAX_POOLS, sizeof(struct storage_pool));
	if (!d->env.pools)
		return err_set(err, -ENOMEM, "Out of memory");

	r = load_pools(d, err);
	if (r < 0)
		return r;
	sweep_pools(d);
	if (d->env.n_pools == 0) {
		_cleanup_(db_pool_done) struct db_pool any = {0};

		/* First start: the default pool and the built-in image. */
		if (db_pool_get(d->env.db, "default", &any, NULL) == -ENOENT) {
			const char *driver = backend ? backend : "btrfs";

			if (!backend &&
			    storage_pool_check(
				&(struct storage_pool){.ops = storage_driver("btrfs")}, NULL) < 0) {
				log_warn("btrfs is not available here: using the dir driver");
				driver = "dir";
			}
			log_info("Creating storage pool \"default\" (%s)", driver);
			r = daemon_pool_create(d, "default", driver, NULL, size, err);
			if (r < 0)
				return r;
		}
	}
	if (d->env.n_pools > 0 && instance_env_pool(&d->env, "default")) {
		r = instance_image_ensure_busybox(&d->env, "default", err);
		if (r < 0)
			return err_wrap(err, r, "Failed to create the busybox image");
	}
	r = instance_image_recover(&d->env, err);
	if (r < 0)
		return r;
	/* Renames and moves first: until they are finished, their volumes have no row of the
	 * name and pool they are found under, and the sweeps below would take them for leftovers.
	 */
	r = instance_journal_recover(&d->env, err);
	if (r < 0)
		return r;
	r = instance_recover(&d->env, err);
	if (r < 0)
		return r;
	return snapshot_recover(&d->env, err);
}

int daemon_networks_start(struct daemon *d, struct err **err)
{
	int r;

	r = network_manager_new(d->env.db, d->dir, &d->networks, err);
	if (r < 0)
		return r;
	d->env.networks = d->networks;
	r = network_recover(d->networks, err);
	if (r < 0)
		return r;
	network_start_all(d->networks);
	return network_supervisor_start(d->networks, err);
}

int daemon_init_network(struct daemon *d, const char *name, FILE *out, struct err **err)
{
	_cleanup_(db_network_done) struct db_network row = {0};
	_cleanup_profile_ struct profile def = {0};
	_cleanup_kvlist_ struct kvlist none = {0}, nic = {0};
	bool has_nic = false;
	int r;

	if (!d->networks) {
		r = network_manager_new(d->env.db, d->dir, &d->networks, err);
		if (r < 0)
			return r;
		d->env.networks = d->networks;
		r = network_recover(d->networks, err);
		if (r < 0)
			return r;
	}
	r = db_network_get(d->env.db, name, &row, NULL);
	if (r < 0) {
		r = network_create(d->networks, name, "bridge", "", &none, err);
		if (r < 0)
			return err_wrap(
			    err, r,
			    "Cannot create network \"%s\" (`cairnd init --network none` "
			    "skips it)",
			    name);
		r = db_network_get(d->env.db, name, &row, err);
		if (r < 0)
			return r;
	}
	fprintf(out, "Network \"%s\": bridge with %s and %s\n", name,
		kvlist_get(&row.config, "ipv4.address") ?: "no IPv4",
		kvlist_get(&row.config, "ipv6.address") ?: "no IPv6");
	r = db_profile_get(d->env.db, PROFILE_DEFAULT, &def, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < def.devices.n; i++) {
		const char *type = kvlist_get(&def.devices.items[i].keys, "type");

		has_nic = has_nic || (type && strcmp(type, "nic") == 0);
	}
	if (has_nic || devices_get(&def.devices, "eth0")) {
		fprintf(out, "Profile \"%s\" keeps its own nic\n", PROFILE_DEFAULT);
		return 0;
	}
	if (kvlist_set(&nic, "type", "nic") < 0 || kvlist_set(&nic, "network", name) < 0 ||
	    kvlist_set(&nic, "name", "eth0") < 0 || devices_set(&def.devices, "eth0", &nic) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	r = db_profile_update(d->env.db, PROFILE_DEFAULT, &def, err);
	if (r < 0)
		return r;
	fprintf(out, "Profile \"%s\": eth0 on network \"%s\"\n", PROFILE_DEFAULT, name);
	return 0;
}

void daemon_done(struct daemon *d)
{
	network_manager_free(d->networks);
	d->networks = NULL;
	d->env.networks = NULL;
	for (size_t i = 0; i < d->env.n_pools; i++)
		storage_pool_done(&d->env.pools[i]);
	free(d->env.pools);
	d->env.pools = NULL;
	d->env.n_pools = 0;
	db_close(d->env.db);
	d->env.db = NULL;
	strv_free(d->busy);
	d->busy = NULL;
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	d->lock_fd = -EBADF;
}
