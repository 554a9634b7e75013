#include "instance/instance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include "common/cleanup.h"
#include "common/crashpoint.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "config/db.h"
#include "config/keys.h"
#include "config/names.h"
#include "config/yaml.h"
#include "instance/criu.h"
#include "instance/disks.h"
#include "instance/lxc-internal.h"
#include "instance/nics.h"
#include "instance/settings.h"
#include "network/network.h"
#include "storage/storage.h"

#define RUNNING_MESSAGE "The instance is currently running, stop it first or pass --force"

struct storage_pool *instance_env_pool(const struct instance_env *env, const char *name)
{
	size_t n = __atomic_load_n(&env->n_pools, __ATOMIC_ACQUIRE);

	for (size_t i = 0; i < n; i++)
		if (!__atomic_load_n(&env->pools[i].removed, __ATOMIC_ACQUIRE) &&
		    strcmp(env->pools[i].name, name) == 0)
			return &env->pools[i];
	return NULL;
}

void instance_notify(const struct instance_env *env, const char *action, const char *kind,
		     const char *name)
{
	_cleanup_free_ char *source = NULL;

	if (!env->lifecycle)
		return;
	source = str_printf("/1.0/%s/%s", kind, name);
	if (source)
		env->lifecycle(action, source);
}

char *instance_lxcpath(const struct instance_env *env)
{
	return str_printf("%s/containers", env->cairn_dir);
}

char *instance_log_dir(const struct instance_env *env, const char *name)
{
	return str_printf("%s/logs/%s", env->cairn_dir, name);
}

static char *link_path(const struct instance_env *env, const char *name)
{
	return str_printf("%s/containers/%s", env->cairn_dir, name);
}

static char *lxc_config_path(const struct instance_env *env, const char *name)
{
	return str_printf("%s/logs/%s/lxc.conf", env->cairn_dir, name);
}

int instance_get(const struct instance_env *env, const char *name, struct db_instance *ret,
		 struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	int r;

	r = db_instance_get(env->db, name, &row, err);
	if (r < 0)
		return r;
	if (row.state != DB_ROW_READY)
		return err_set(err, -ENOENT, "Instance \"%s\" not found", name);
	*ret = row;
	memset(&row, 0, sizeof(row));
	return 0;
}

int instance_state(const struct instance_env *env, const char *name, bool with_usage,
		   struct instance_state *ret, struct err **err)
{
	_cleanup_free_ char *lxcpath = instance_lxcpath(env);

	if (!lxcpath)
		return err_set(err, -ENOMEM, "Out of memory");
	return instance_lxc_state(name, lxcpath, with_usage, ret, err);
}

/* Records a volatile key in the stored config (the user never sets those). */
static int set_volatile(const struct instance_env *env, const char *name, const char *key,
			const char *value, struct err **err)
{
	return db_instance_config_set(env->db, name, key, value, 0, err);
}

int instance_backup_render(const struct db_instance *row, char **ret_text, struct err **err)
{
	_cleanup_json_ json_object *doc = NULL;
	_cleanup_free_ char *created = NULL;
	json_object *config;

	doc = json_object_new_object();
	config = json_object_new_object();
	created = time_format_rfc3339(row->created_at);
	if (!doc || !config || !created) {
		json_object_put(config);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	for (size_t i = 0; i < row->config.n; i++)
		json_object_object_add(config, row->config.items[i].key,
				       json_object_new_string(row->config.items[i].value));
	json_object_object_add(doc, "name", json_object_new_string(row->name));
	json_object_object_add(doc, "description",
			       json_object_new_string(row->description ? row->description : ""));
	json_object_object_add(doc, "architecture",
			       json_object_new_string(row->architecture ? row->architecture : ""));
	json_object_object_add(doc, "created_at", json_object_new_string(created));
	json_object_object_add(doc, "pool", json_object_new_string(row->pool));
	json_object_object_add(doc, "image", json_object_new_string(row->image ? row->image : ""));
	json_object_object_add(doc, "config", config);
	{
		json_object *profiles = json_object_new_array();
		json_object *devices = devices_to_json(&row->devices);

		if (!profiles || !devices) {
			json_object_put(profiles);
			json_object_put(devices);
			return err_set(err, -ENOMEM, "Out of memory");
		}
		for (size_t i = 0; row->profiles && row->profiles[i]; i++)
			json_object_array_add(profiles, json_object_new_string(row->profiles[i]));
		json_object_object_add(doc, "profiles", profiles);
		json_object_object_add(doc, "devices", devices);
	}
	return config_yaml_emit(doc, ret_text, err);
}

/* <volume>/backup.yaml of instance `name` on the pool of its row. Caller frees. */
static int backup_path(const struct instance_env *env, const struct db_instance *row,
		       char **ret_path, struct err **err)
{
	struct storage_pool *pool = instance_env_pool(env, row->pool);
	_cleanup_free_ char *dir = NULL;

	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row->pool);
	dir = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, row->name);
	*ret_path = dir ? str_printf("%s/" INSTANCE_BACKUP_FILE, dir) : NULL;
	if (!*ret_path)
		return err_set(err, -ENOMEM, "Out of memory");
	return 0;
}

int instance_write_backup(const struct instance_env *env, const char *name, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_free_ char *text = NULL, *path = NULL;
	int r;

	r = db_instance_get(env->db, name, &row, err);
	if (r < 0)
		return r;
	r = instance_backup_render(&row, &text, err);
	if (r < 0)
		return r;
	r = backup_path(env, &row, &path, err);
	if (r < 0)
		return r;
	return file_write_atomic(path, text, strlen(text), 0600, err);
}

int instance_disk_snapshots(const struct storage_pool *pool, const char *name, char ***ret_names,
			    struct err **err)
{
	/* storage_snapshot_path() with an empty snapshot name is the instance's snapshot
	 * directory (with a trailing slash, which opendir() takes as well). */
	_cleanup_free_ char *dir = storage_snapshot_path(pool, name, "");
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_strv_ char **names = NULL;
	struct dirent *de;

	if (!dir)
		return err_set(err, -ENOMEM, "Out of memory");
	d = opendir(dir);
	if (!d && errno != ENOENT)
		return err_set_errno(err, -errno, "Failed to list the snapshots of \"%s\"", name);
	while (d && (errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strv_push(&names, de->d_name) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	if (d && errno)
		return err_set_errno(err, -errno, "Failed to list the snapshots of \"%s\"", name);
	if (!names && !(names = calloc(1, sizeof(char *))))
		return err_set(err, -ENOMEM, "Out of memory");
	*ret_names = steal_pointer(&names);
	return 0;
}

int instance_remove_disk_snapshots(const struct storage_pool *pool, const char *name,
				   struct err **err)
{
	_cleanup_strv_ char **names = NULL;
	_cleanup_free_ char *dir = storage_snapshot_path(pool, name, "");
	int r;

	if (!dir)
		return err_set(err, -ENOMEM, "Out of memory");
	r = instance_disk_snapshots(pool, name, &names, err);
	if (r < 0)
		return r;
	for (size_t i = 0; names[i]; i++) {
		r = storage_snapshot_delete(pool, name, names[i], err);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	if (rmdir(dir) < 0 && errno != ENOENT)
		return err_set_errno(err, -errno, "Failed to remove \"%s\"", dir);
	return 0;
}

/* Everything that can be removed of an instance without its row: link, logs, volume. Missing
 * pieces are fine, so this both undoes a half-made create and finishes a half-done delete. */
static int remove_instance_files(const struct instance_env *env, const char *name,
				 const char *pool_name, struct err **err)
{
	_cleanup_free_ char *link = link_path(env, name), *logs = instance_log_dir(env, name);
	struct storage_pool *pool = pool_name ? instance_env_pool(env, pool_name) : NULL;
	int r;

	if (!link || !logs)
		return err_set(err, -ENOMEM, "Out of memory");
	if (unlink(link) < 0 && errno != ENOENT)
		return err_set_errno(err, -errno, "Failed to remove \"%s\"", link);
	r = rm_rf(logs, err);
	if (r < 0)
		return r;
	if (!pool)
		return 0;
	r = instance_remove_disk_snapshots(pool, name, err);
	if (r < 0)
		return r;
	r = storage_volume_delete(pool, STORAGE_VOLUME_CONTAINER, name, NULL);
	if (r < 0 && r != -ENOENT)
		return storage_volume_delete(pool, STORAGE_VOLUME_CONTAINER, name, err);
	return 0;
}

/* rm_rf() for an undo step: a failure is logged, the caller's own error is what counts. */
static void remove_tree_ignoring(const char *path)
{
	_cleanup_err_ struct err *e = NULL;
	int r = rm_rf(path, &e);

	if (r < 0)
		err_log_ignored(e, r, "Failed to remove \"%s\"", path);
}

/* Undoes a create or copy that failed: its files, then its CREATING row. What cannot be undone
 * now is logged; the row stays CREATING, so instance_recover() finishes at the next start. */
static void undo_create(const struct instance_env *env, const char *name, const char *pool_name)
{
	_cleanup_err_ struct err *e = NULL;
	int r;

	r = remove_instance_files(env, name, pool_name, &e);
	if (r >= 0)
		r = db_instance_delete(env->db, name, &e);
	if (r < 0)
		log_error("Failed to undo the creation of instance \"%s\", left to the next start: "
			  "%s",
			  name, err_msg(e, r));
}

static int make_instance_files(const struct instance_env *env, const char *name,
			       struct storage_pool *pool, const char *fingerprint, bool privileged,
			       struct err **err)
{
	_cleanup_free_ char *vol = NULL, *rootfs = NULL, *link = NULL, *logs = NULL;
	int r;

	r = storage_volume_copy(pool, STORAGE_VOLUME_IMAGE, fingerprint, STORAGE_VOLUME_CONTAINER,
				name, err);
	if (r < 0)
		return r;
	vol = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, name);
	rootfs = vol ? str_printf("%s/rootfs", vol) : NULL;
	link = link_path(env, name);
	logs = instance_log_dir(env, name);
	if (!rootfs || !link || !logs)
		return err_set(err, -ENOMEM, "Out of memory");
	/* The volume comes closed (root's, 0700) and opens to the container's root only once
	 * the files are shifted. */
	if (!privileged) {
		r = instance_shift_tree(rootfs, 0, 0, env->idmap.uid_base, env->idmap.gid_base,
					env->idmap.size, err);
		if (r < 0)
			return err_wrap(err, r, "Failed to shift the rootfs of \"%s\"", name);
	}
	r = instance_idmap_gate_volume(vol, privileged ? 0 : env->idmap.uid_base, err);
	if (r < 0)
		return r;
	r = mkdir_p(logs, 0700, err);
	if (r < 0)
		return r;
	if (symlink(vol, link) < 0 && errno != EEXIST)
		return err_set_errno(err, -errno, "Failed to link \"%s\"", link);
	return 0;
}

/*
 * An instance is a snapshot of its image, so the image must be on the instance's pool. The first
 * instance on another pool brings a copy of the image volume there (as Incus does); the row keeps
 * naming the image's home pool, and instance_image_delete() removes the copies too.
 */
static int image_on_pool(const struct instance_env *env, const struct db_image *img,
			 const struct storage_pool *pool, struct err **err)
{
	struct storage_pool *home = instance_env_pool(env, img->pool);
	_cleanup_free_ char *src = NULL, *there = NULL;
	int r;

	if (strcmp(img->pool, pool->name) == 0)
		return 0;
	there = storage_volume_path(pool, STORAGE_VOLUME_IMAGE, img->fingerprint);
	if (!there)
		return err_set(err, -ENOMEM, "Out of memory");
	if (access(there, F_OK) == 0)
		return 0;
	if (!home)
		return err_set(err, -ENOENT, "Storage pool \"%s\" of image \"%.12s\" not found",
			       img->pool, img->fingerprint);
	src = storage_volume_path(home, STORAGE_VOLUME_IMAGE, img->fingerprint);
	if (!src)
		return err_set(err, -ENOMEM, "Out of memory");
	r = storage_volume_import(pool, STORAGE_VOLUME_IMAGE, img->fingerprint, src, err);
	/* Another launch on the same pool may have brought it at the same time. */
	return r == -EEXIST ? 0 : r;
}

bool instance_is_ephemeral(const struct db_instance *row)
{
	return config_get_bool(&row->config, INSTANCE_EPHEMERAL_KEY, false);
}

int instance_create(const struct instance_env *env, const char *name, const char *fingerprint,
		    const struct kvlist *config, const struct devices *devices,
		    char *const *profiles, const char *description, bool ephemeral,
		    struct err **err)
{
	_cleanup_kvlist_ struct kvlist full = {0}, expanded = {0};
	_cleanup_devices_ struct devices expanded_devices = {0};
	_cleanup_(db_image_done) struct db_image img = {0};
	_cleanup_free_ char *owner = NULL;
	struct db_instance row = {0};
	struct storage_pool *pool;
	const char *pool_name;
	char base[32];
	bool privileged;
	int r;

	r = config_instance_name_valid(name, err);
	if (r < 0)
		return r;
	r = config_validate_all(config, err);
	if (r < 0)
		return r;
	r = config_text_valid("description", description, err);
	if (r < 0)
		return r;
	owner = str_printf("instance \"%s\"", name);
	if (!owner)
		return err_set(err, -ENOMEM, "Out of memory");
	r = devices_validate(owner, devices, err);
	if (r < 0)
		return r;
	r = instance_settings_expand(env, profiles, config, devices, &expanded, &expanded_devices,
				     err);
	if (r < 0)
		return r;
	r = instance_settings_check(env, owner, &expanded, &expanded_devices, NULL, err);
	if (r < 0)
		return r;
	r = instance_copy_target_check(env, owner, NULL, &expanded, err);
	if (r < 0)
		return r;
	pool_name = instance_settings_root_pool(&expanded_devices);
	pool = instance_env_pool(env, pool_name);
	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", pool_name);
	r = db_image_get(env->db, fingerprint, &img, err);
	if (r < 0)
		return r;
	if (img.state != DB_ROW_READY)
		return err_set(err, -ENOENT, "Image \"%s\" not found", fingerprint);
	r = image_on_pool(env, &img, pool, err);
	if (r < 0)
		return r;

	privileged = config_get_bool(&expanded, "security.privileged", false);
	r = kvlist_copy(&full, config);
	for (size_t i = 0; r >= 0 && i < img.properties.n; i++) {
		_cleanup_free_ char *key = str_printf("image.%s", img.properties.items[i].key);

		r = key ? kvlist_set(&full, key, img.properties.items[i].value) : -ENOMEM;
	}
	snprintf(base, sizeof(base), "%u", privileged ? 0 : env->idmap.uid_base);
	if (r >= 0)
		r = kvlist_set(&full, "volatile.base_image", img.fingerprint);
	if (r >= 0)
		r = kvlist_set(&full, "volatile.idmap.base", base);
	if (r >= 0)
		r = kvlist_set(&full, "volatile.last_state.power", "STOPPED");
	/* In the row from the start: a launch killed half way leaves no instance that outlives
	 * its stop. */
	if (r >= 0 && ephemeral)
		r = kvlist_set(&full, INSTANCE_EPHEMERAL_KEY, "true");
	if (r < 0)
		return err_set(err, -ENOMEM, "Out of memory");

	row.name = (char *)name;
	row.pool = (char *)pool_name;
	row.image = img.fingerprint;
	row.architecture = img.architecture;
	row.description = (char *)(description ? description : "");
	row.created_at = time_now();
	row.config = full;
	row.devices = *devices;
	row.profiles = (char **)profiles;
	row.state = DB_ROW_CREATING;
	r = db_instance_insert(env->db, &row, NULL, err);
	if (r < 0)
		return r;
	crashpoint("create-after-row");

	r = make_instance_files(env, name, pool, img.fingerprint, privileged, err);
	if (r >= 0) {
		row.expanded_config = expanded;
		row.expanded_devices = expanded_devices;
		r = instance_apply_root_size(env, &row, err);
	}
	crashpoint("create-after-volume");
	if (r >= 0)
		r = instance_write_backup(env, name, err);
	crashpoint("create-before-ready");
	if (r >= 0)
		r = db_instance_set_state(env->db, name, DB_ROW_READY, err);
	if (r < 0) {
		undo_create(env, name, pool_name);
		return r;
	}
	instance_notify(env, "instance-created", "instances", name);
	return 0;
}

int instance_delete_allowed(const struct instance_env *env, const struct db_instance *row,
			    struct err **err)
{
	struct instance_state st = {0};
	int r;

	if (config_get_bool(&row->expanded_config, "security.protection.delete", false))
		return err_set(err, -EPERM,
			       "The instance \"%s\" is protected against deletion "
			       "(security.protection.delete=true)",
			       row->name);
	r = instance_state(env, row->name, false, &st, err);
	if (r < 0)
		return r;
	if (st.status != INSTANCE_STOPPED)
		return err_set(err, -EBUSY, RUNNING_MESSAGE);
	return 0;
}

int instance_delete(const struct instance_env *env, const char *name, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	int r;

	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	r = instance_delete_allowed(env, &row, err);
	if (r < 0)
		return r;

	/* From here on the instance is gone for everybody: recovery finishes the job. */
	r = db_instance_set_state(env->db, name, DB_ROW_DELETING, err);
	if (r < 0)
		return r;
	crashpoint("delete-after-mark");
	r = remove_instance_files(env, name, row.pool, err);
	if (r < 0)
		return r;
	crashpoint("delete-after-volume");
	r = db_instance_delete(env->db, name, err);
	if (r >= 0) {
		/* Its name no more resolves to whoever gets its address next. */
		if (env->networks)
			network_host_forget(env->networks, name);
		instance_notify(env, "instance-deleted", "instances", name);
	}
	return r;
}

/*
 * Writes the seccomp profile that lxc.conf names. liblxc reads it at every start and at every
 * attach (exec), so it is replaced with a rename: no reader ever sees half a deny list, which
 * would be a weaker filter. The text is the same at every start, so it is only written (with
 * file_write_atomic()'s fsyncs, which start cannot afford each time) when what is there differs.
 */
static int write_seccomp_profile(const char *path, struct err **err)
{
	const char *text = instance_seccomp_profile();
	size_t len = strlen(text), have_len = 0;
	_cleanup_free_ char *have = NULL;
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
	    (st.st_mode & 07777) == 0600 && file_read_all(path, &have, &have_len, NULL) >= 0 &&
	    have_len == len && memcmp(have, text, len) == 0)
		return 0;
	return file_write_atomic(path, text, len, 0600, err);
}

/* Renders and writes the LXC config of `row`; `device_is_file` is what
 * instance_disks_prepare() found (instance_lxc_spec.device_is_file). */
static int write_lxc_config(const struct instance_env *env, const struct db_instance *row,
			    const bool *device_is_file, char **ret_path, struct err **err)
{
	_cleanup_free_ char *vol = NULL, *rootfs = NULL, *logs = NULL, *log = NULL, *console = NULL,
			    *seccomp = NULL, *text = NULL, *path = NULL;
	struct storage_pool *pool = instance_env_pool(env, row->pool);
	_cleanup_(instance_nics_done) struct instance_nics nics = {0};
	struct instance_lxc_spec spec = {0};
	int r;

	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row->pool);
	vol = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, row->name);
	rootfs = vol ? str_printf("%s/rootfs", vol) : NULL;
	logs = instance_log_dir(env, row->name);
	log = logs ? str_printf("%s/lxc.log", logs) : NULL;
	console = logs ? str_printf("%s/console.log", logs) : NULL;
	seccomp = logs ? str_printf("%s/seccomp.profile", logs) : NULL;
	path = logs ? str_printf("%s/lxc.conf", logs) : NULL;
	if (!rootfs || !log || !console || !seccomp || !path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = mkdir_p(logs, 0700, err);
	if (r < 0)
		return r;
	spec.name = row->name;
	spec.rootfs_path = rootfs;
	spec.log_path = log;
	spec.console_log = console;
	spec.seccomp_profile = seccomp;
	spec.config = &row->expanded_config;
	spec.idmap = env->idmap;
	spec.cgroup = env->cgroup;
	spec.host_cpus = env->host_cpus;
	spec.host_memory = env->host_memory;
	r = instance_nics_prepare(env, row, &nics, err);
	if (r < 0)
		return r;
	spec.nics = nics.v;
	spec.n_nics = nics.n;
	spec.devices = &row->expanded_devices;
	spec.device_is_file = device_is_file;
	r = instance_lxc_config_render(&spec, &text, err);
	if (r < 0)
		return r;
	/* The profile first: the config that names it is never there without it. */
	r = write_seccomp_profile(seccomp, err);
	if (r < 0)
		return r;
	/* Derived from the database at every start, so it needs no fsync: after a crash the next
	 * start writes it again. */
	r = file_write(path, text, strlen(text), 0600, err);
	if (r < 0)
		return r;
	*ret_path = steal_pointer(&path);
	return 0;
}

/* The id base the files of an instance are shifted to: 0 for a privileged one. */
static uint32_t files_base(const struct instance_env *env, const struct kvlist *config)
{
	const char *cur = kvlist_get(config, "volatile.idmap.base");

	return cur ? (uint32_t)strtoul(cur, NULL, 10) : env->idmap.uid_base;
}

/* The path of the volume of `row` (caller frees). -ENOENT when its pool is not loaded. */
static int volume_of(const struct instance_env *env, const struct db_instance *row, char **ret_path,
		     struct err **err)
{
	struct storage_pool *pool = instance_env_pool(env, row->pool);
	char *vol;

	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row->pool);
	vol = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, row->name);
	if (!vol)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret_path = vol;
	return 0;
}

int instance_volume_protect(const struct instance_env *env, const struct db_instance *row,
			    struct err **err)
{
	_cleanup_free_ char *vol = NULL;
	int r;

	r = volume_of(env, row, &vol, err);
	if (r < 0)
		return r;
	return instance_idmap_gate_volume(vol, files_base(env, &row->config), err);
}

/* An instance whose rootfs ownership does not match what it runs as (security.privileged was
 * changed) is shifted before it starts, and its volume follows its files: root's while they
 * move, then open to the new owner. */
static int align_idmap(const struct instance_env *env, const struct db_instance *row,
		       struct err **err)
{
	bool privileged = config_get_bool(&row->expanded_config, "security.privileged", false);
	uint32_t have = files_base(env, &row->config);
	uint32_t want = privileged ? 0 : env->idmap.uid_base;
	_cleanup_free_ char *vol = NULL, *rootfs = NULL;
	char buf[32];
	int r;

	r = volume_of(env, row, &vol, err);
	if (r < 0)
		return r;
	if (have != want) {
		rootfs = str_printf("%s/rootfs", vol);
		if (!rootfs)
			return err_set(err, -ENOMEM, "Out of memory");
		r = instance_idmap_gate_volume(vol, 0, err);
		if (r < 0)
			return r;
		/* The gid base moves with the uid base: both come from the same idmap. */
		r = instance_shift_tree(rootfs, have, have ? env->idmap.gid_base : 0, want,
					want ? env->idmap.gid_base : 0, env->idmap.size, err);
		if (r < 0)
			return r;
		snprintf(buf, sizeof(buf), "%u", want);
		r = set_volatile(env, row->name, "volatile.idmap.base", buf, err);
		if (r < 0)
			return r;
	}
	/* Every start applies the gate again, as LXD does: it is one chown and one chmod. */
	return instance_idmap_gate_volume(vol, want, err);
}

/* <volume>/`dir_name` of instance `row` (caller frees). */
static int state_dir_of(const struct instance_env *env, const struct db_instance *row,
			const char *dir_name, char **ret_path, struct err **err)
{
	_cleanup_free_ char *vol = NULL;
	int r;

	r = volume_of(env, row, &vol, err);
	if (r < 0)
		return r;
	*ret_path = str_printf("%s/%s", vol, dir_name);
	if (!*ret_path)
		return err_set(err, -ENOMEM, "Out of memory");
	return 0;
}

/* True when `dir` holds a whole CRIU dump (CRIU writes inventory.img last but one, and the
 * checkpoint directory only gets its name once the dump is done). */
static bool has_dump(const char *dir)
{
	_cleanup_free_ char *inv = str_printf("%s/inventory.img", dir);

	return inv && access(inv, F_OK) == 0;
}

bool instance_has_checkpoint(const struct instance_env *env, const struct db_instance *row)
{
	_cleanup_free_ char *dir = NULL;

	return state_dir_of(env, row, INSTANCE_CHECKPOINT_DIR, &dir, NULL) >= 0 && has_dump(dir);
}

/*
 * CRIU restores the processes of an unprivileged container inside its user namespace, where
 * they open their images before their ids are mapped: the images must be readable by anyone who
 * can reach them. They sit in the instance's volume (0100, its root uid) or in a snapshot (below
 * a root-only directory), so no one else can.
 */
static int open_dump(const char *dir, struct err **err)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", dir);
	if (fchmod(dirfd(d), 0755) < 0)
		return err_set_errno(err, -errno, "Failed to open up \"%s\"", dir);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (fchmodat(dirfd(d), de->d_name, 0644, 0) < 0)
			return err_set_errno(err, -errno, "Failed to open up \"%s/%s\"", dir,
					     de->d_name);
	}
	return 0;
}

bool instance_started_without_console(const struct instance_env *env, const char *name)
{
	_cleanup_free_ char *conf = lxc_config_path(env, name), *text = NULL;
	size_t len = 0;

	return conf && file_read_all(conf, &text, &len, NULL) >= 0 &&
	       strstr(text, "\nlxc.console.path = none\n");
}

int instance_stateful_allowed(const struct instance_env *env, const struct db_instance *row,
			      const char *what, struct err **err)
{
	struct instance_state st = {0};
	int r;

	if (!config_get_bool(&row->expanded_config, "migration.stateful", false))
		return err_set(err, -EINVAL, "%s require migration.stateful=true", what);
	/* CRIU dumps such an instance but cannot restore it: it makes the veth from inside the
	 * instance's user namespace, where the kernel refuses it ("net: Can't restore link").
	 * Refused before anything is dumped, rather than a checkpoint that never resumes. */
	if (!config_get_bool(&row->expanded_config, "security.privileged", false)) {
		for (size_t i = 0; i < row->expanded_devices.n; i++) {
			const char *type = kvlist_get(&row->expanded_devices.items[i].keys, "type");

			if (type && strcmp(type, "nic") == 0)
				return err_set(
				    err, -EINVAL,
				    "%s of an unprivileged instance with a nic (device "
				    "\"%s\" of \"%s\") cannot be restored: CRIU cannot "
				    "make its veth pair inside the instance's user namespace",
				    what, row->expanded_devices.items[i].name, row->name);
		}
	}
	r = instance_state(env, row->name, false, &st, err);
	if (r < 0)
		return r;
	if (st.status == INSTANCE_STOPPED)
		return err_set(err, -EINVAL,
			       "%s need a running instance: instance \"%s\" is stopped", what,
			       row->name);
	if (st.status != INSTANCE_RUNNING)
		return err_set(err, -EBUSY, "%s need a running instance: instance \"%s\" is %s",
			       what, row->name, instance_status_name(st.status));
	if (!instance_started_without_console(env, row->name))
		return err_set(err, -EINVAL,
			       "Instance \"%s\" was started before migration.stateful was set: "
			       "restart it (without a console, which CRIU cannot dump) first",
			       row->name);
	return instance_criu_require(NULL, err);
}

int instance_checkpoint(const struct instance_env *env, const char *name, const char *dir_name,
			bool stop, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_(instance_criu_done) struct instance_criu criu = {0};
	_cleanup_free_ char *dir = NULL, *conf = lxc_config_path(env, name),
			    *lxcpath = instance_lxcpath(env), *logs = instance_log_dir(env, name);
	_cleanup_strv_ char **envp = NULL;
	int r;

	if (!conf || !lxcpath || !logs)
		return err_set(err, -ENOMEM, "Out of memory");
	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	r = instance_criu_require(&criu, err);
	if (r < 0)
		return r;
	r = state_dir_of(env, &row, dir_name, &dir, err);
	if (r < 0)
		return r;
	/* A leftover of an interrupted dump: CRIU wants a fresh directory. */
	r = rm_rf(dir, err);
	if (r < 0)
		return r;
	r = instance_criu_helper_env(&criu, logs, &envp, err);
	if (r < 0)
		return r;
	r = instance_lxc_checkpoint(env->helper, name, lxcpath, conf, dir, logs, stop, envp, err);
	if (r >= 0)
		r = open_dump(dir, err);
	if (r < 0) {
		remove_tree_ignoring(dir);
		return r;
	}
	return 0;
}

int instance_remove_state(const struct instance_env *env, const char *name, const char *dir_name,
			  struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_free_ char *dir = NULL;
	int r;

	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	r = state_dir_of(env, &row, dir_name, &dir, err);
	if (r < 0)
		return r;
	return rm_rf(dir, err);
}

/* Waits until the container is STOPPED (killing what is left of it). */
static int wait_stopped(const struct instance_env *env, const char *name, struct err **err)
{
	_cleanup_free_ char *lxcpath = instance_lxcpath(env);

	if (!lxcpath)
		return err_set(err, -ENOMEM, "Out of memory");
	return instance_lxc_stop(name, lxcpath, NULL, 0, true, err);
}

int instance_stop_stateful_allowed(const struct instance_env *env, const struct db_instance *row,
				   struct err **err)
{
	if (instance_is_ephemeral(row))
		return err_set(err, -EINVAL,
			       "Instance \"%s\" is ephemeral: a stateful stop would delete it with "
			       "its checkpoint",
			       row->name);
	return instance_stateful_allowed(env, row, "Stateful stops", err);
}

int instance_stop_stateful(const struct instance_env *env, const char *name, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_free_ char *tmp = NULL, *dir = NULL;
	int r;

	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	r = instance_stop_stateful_allowed(env, &row, err);
	if (r < 0)
		return r;
	r = state_dir_of(env, &row, INSTANCE_CHECKPOINT_DIR ".tmp", &tmp, err);
	if (r >= 0)
		r = state_dir_of(env, &row, INSTANCE_CHECKPOINT_DIR, &dir, err);
	if (r < 0)
		return r;
	/* Dumped under a temporary name, renamed once whole: a checkpoint is there entirely or
	 * not at all. With `stop`, CRIU kills the container once it is dumped. */
	r = instance_checkpoint(env, name, INSTANCE_CHECKPOINT_DIR ".tmp", true, err);
	if (r < 0)
		return r;
	crashpoint("stop-stateful-after-dump");
	/* CRIU has killed the container; its monitor may still be cleaning up. */
	r = wait_stopped(env, name, err);
	if (r < 0) {
		remove_tree_ignoring(tmp);
		return r;
	}
	r = rm_rf(dir, err);
	if (r >= 0 && rename(tmp, dir) < 0)
		r = err_set_errno(err, -errno, "Failed to keep the checkpoint of \"%s\"", name);
	if (r < 0) {
		remove_tree_ignoring(tmp);
		return r;
	}
	instance_notify(env, "instance-stopped", "instances", name);
	return set_volatile(env, name, "volatile.last_state.power", "STOPPED", err);
}

int instance_discard_checkpoint(const struct instance_env *env, const char *name, struct err **err)
{
	return instance_remove_state(env, name, INSTANCE_CHECKPOINT_DIR, err);
}

/*
 * Brings a stopped instance back from the CRIU images in <volume>/`dir_name` (its config already
 * written to `conf`). The images stay; the caller removes them.
 */
static int resume(const struct instance_env *env, const struct db_instance *row, const char *conf,
		  const char *dir_name, struct err **err)
{
	_cleanup_(instance_criu_done) struct instance_criu criu = {0};
	_cleanup_free_ char *dir = NULL, *lxcpath = instance_lxcpath(env),
			    *logs = instance_log_dir(env, row->name);
	_cleanup_strv_ char **envp = NULL;
	int r;

	if (!lxcpath || !logs)
		return err_set(err, -ENOMEM, "Out of memory");
	r = instance_criu_require(&criu, err);
	if (r < 0)
		return r;
	r = state_dir_of(env, row, dir_name, &dir, err);
	if (r < 0)
		return r;
	r = instance_criu_helper_env(&criu, logs, &envp, err);
	if (r < 0)
		return r;
	return instance_lxc_restore(env->helper, row->name, lxcpath, conf, dir, logs, envp, err);
}

/* Starts a stopped instance: from the CRIU images in <volume>/`dir_name` when not NULL, else
 * by booting it (or from its checkpoint, when it holds one). */
/*
 * Boots a stopped instance afresh. The power state and last-used time are recorded while the
 * helper runs rather than after it: the transaction's fdatasync costs a millisecond or more,
 * which the helper's own start-up covers. A failed start puts both back as they were.
 */
static int start_fresh(const struct instance_env *env, const struct db_instance *row,
		       const char *lxcpath, const char *conf, const char *logs, struct err **err)
{
	const char *power = kvlist_get(&row->config, "volatile.last_state.power");
	_cleanup_err_ struct err *db_err = NULL, *undo_err = NULL;
	struct instance_lxc_starting s = {0};
	int r, r_db;

	r = instance_lxc_start_begin(env->helper, row->name, lxcpath, conf, logs, &s, err);
	if (r < 0)
		return r;
	r_db = db_instance_config_set(env->db, row->name, "volatile.last_state.power", "RUNNING",
				      time_now(), &db_err);
	r = instance_lxc_start_finish(&s, row->name, logs, err);
	if (r < 0) {
		if (r_db >= 0 &&
		    (db_instance_config_set(env->db, row->name, "volatile.last_state.power", power,
					    0, &undo_err) < 0 ||
		     db_instance_set_last_used(env->db, row->name, row->last_used_at, &undo_err) <
			 0))
			log_warn("Failed to record that instance \"%s\" did not start: %s",
				 row->name, err_msg(undo_err, -EIO));
		return r;
	}
	instance_notify(env, "instance-started", "instances", row->name);
	if (r_db < 0)
		return err_set(err, r_db, "%s", err_msg(db_err, r_db));
	return 0;
}

static int start(const struct instance_env *env, const char *name, const char *dir_name,
		 struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_free_ char *conf = NULL, *lxcpath = instance_lxcpath(env),
			    *logs = instance_log_dir(env, name);
	_cleanup_free_ bool *device_is_file = NULL;
	struct instance_state st = {0};
	int r;

	if (!lxcpath || !logs)
		return err_set(err, -ENOMEM, "Out of memory");
	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	r = instance_state(env, name, false, &st, err);
	if (r < 0)
		return r;
	if (st.status != INSTANCE_STOPPED)
		return err_set(err, -EBUSY, "Instance \"%s\" is already running", name);
	/* Before anything is written: without its helper the start could only fail later. */
	r = instance_helper_check(env->helper, err);
	if (r < 0)
		return err_wrap(err, r, "Failed to start instance \"%s\"", name);
	r = align_idmap(env, &row, err);
	if (r < 0)
		return r;
	/* Again at every start: a restored or copied volume is a new subvolume without the limit.
	 */
	r = instance_apply_root_size(env, &row, err);
	if (r < 0)
		return r;
	r = instance_disks_prepare(env, &row, &device_is_file, err);
	if (r < 0)
		return r;
	r = write_lxc_config(env, &row, device_is_file, &conf, err);
	if (r < 0)
		return r;
	if (!dir_name && instance_has_checkpoint(env, &row)) {
		r = resume(env, &row, conf, INSTANCE_CHECKPOINT_DIR, err);
		if (r < 0)
			return err_wrap(err, r,
					"Failed to resume instance \"%s\" from its checkpoint (it "
					"is kept: `cairn start --stateless %s` boots the instance "
					"afresh and discards it)",
					name, name);
		/* Resumed: the checkpoint is spent. */
		r = instance_discard_checkpoint(env, name, err);
	} else if (dir_name) {
		r = resume(env, &row, conf, dir_name, err);
	} else {
		return start_fresh(env, &row, lxcpath, conf, logs, err);
	}
	if (r < 0)
		return r;
	instance_notify(env, "instance-started", "instances", name);
	return db_instance_config_set(env->db, name, "volatile.last_state.power", "RUNNING",
				      time_now(), err);
}

int instance_start_from(const struct instance_env *env, const char *name, const char *dir_name,
			struct err **err)
{
	return start(env, name, dir_name, err);
}

int instance_start(const struct instance_env *env, const char *name, struct err **err)
{
	return start(env, name, NULL, err);
}

int instance_stop(const struct instance_env *env, const char *name, int timeout_sec, bool force,
		  bool keep_power_state, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_free_ char *lxcpath = instance_lxcpath(env), *conf = lxc_config_path(env, name);
	struct instance_state st = {0};
	int r;

	if (!lxcpath || !conf)
		return err_set(err, -ENOMEM, "Out of memory");
	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	r = instance_state(env, name, false, &st, err);
	if (r < 0)
		return r;
	if (st.status == INSTANCE_STOPPED)
		return err_set(err, -EBUSY, "Instance \"%s\" is already stopped", name);
	r = instance_lxc_stop(name, lxcpath, conf, timeout_sec, force, err);
	if (r < 0)
		return r;
	instance_notify(env, "instance-stopped", "instances", name);
	if (keep_power_state)
		return 0;
	if (instance_is_ephemeral(&row)) {
		/* The power state stays RUNNING until the instance is gone: a daemon killed here
		 * leaves a stopped instance that was meant to run, which instance_ephemeral_reap()
		 * deletes at the next start. */
		crashpoint("ephemeral-after-stop");
		r = instance_delete(env, name, err);
		if (r >= 0)
			return 0;
		/* Kept (protected against deletion, say): stopped like any other instance. The stop
		 * the user asked for is done, so it is not answered as an error; the log says why
		 * the instance is still there. */
		log_warn("Ephemeral instance \"%s\" stopped but was kept: %s", name,
			 err_msg(err ? *err : NULL, r));
		if (err)
			err_freep(err);
		return set_volatile(env, name, "volatile.last_state.power", "STOPPED", err);
	}
	return set_volatile(env, name, "volatile.last_state.power", "STOPPED", err);
}

bool instance_ephemeral_due(const struct instance_env *env, const char *name)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	struct instance_state st = {0};
	const char *power;

	if (instance_get(env, name, &row, NULL) < 0 || !instance_is_ephemeral(&row))
		return false;
	/* STOPPED: it was stopped through cairn and kept (or was never started). */
	power = kvlist_get(&row.config, "volatile.last_state.power");
	if (!power || strcmp(power, "RUNNING") != 0)
		return false;
	if (config_get_bool(&row.expanded_config, "security.protection.delete", false))
		return false;
	return instance_state(env, name, false, &st, NULL) >= 0 && st.status == INSTANCE_STOPPED;
}

int instance_ephemeral_reap(const struct instance_env *env, const char *name, struct err **err)
{
	int r;

	if (!instance_ephemeral_due(env, name))
		return 0;
	r = instance_delete(env, name, err);
	return r < 0 ? r : 1;
}

/* The value a cgroup limit returns to when its key is unset. */
static const char *cgroup_default(const struct instance_env *env, const char *controller_key,
				  char *buf, size_t len)
{
	if (strstr(controller_key, "cpuset.cpus")) {
		snprintf(buf, len, "0-%u", env->host_cpus ? env->host_cpus - 1 : 0);
		return buf;
	}
	if (strstr(controller_key, "memory.limit_in_bytes"))
		return "-1";
	return "max";
}

/* Pushes the cgroup lines of the rendered config to a running container. Keys present in the
 * old config but not in the new one go back to their unlimited value. */
int instance_live_limits_apply(const struct instance_env *env, const struct db_instance *old_row,
			       const struct db_instance *new_row, struct err **err)
{
	static const char *const limit_keys[] = {"limits.memory", "limits.cpu", "limits.processes"};
	_cleanup_free_ char *lxcpath = instance_lxcpath(env);
	_cleanup_lxc_container_ struct lxc_container *c = NULL;
	_cleanup_free_ char *text = NULL;
	struct instance_lxc_spec spec = {0};
	char *line, *save = NULL;
	int r;

	(void)limit_keys;
	spec.name = new_row->name;
	spec.rootfs_path = "/";
	spec.log_path = "/dev/null";
	spec.console_log = "/dev/null";
	spec.seccomp_profile = "/dev/null";
	spec.config = &new_row->expanded_config;
	spec.idmap = env->idmap;
	spec.cgroup = env->cgroup;
	spec.host_cpus = env->host_cpus;
	spec.host_memory = env->host_memory;
	r = instance_lxc_config_render(&spec, &text, err);
	if (r < 0)
		return r;
	c = lxc_container_new(new_row->name, lxcpath);
	if (!c)
		return err_set(err, -EIO, "Failed to load instance \"%s\"", new_row->name);

	/* Reset the limits whose keys went away, then set the rendered ones. */
	for (size_t i = 0; i < sizeof(limit_keys) / sizeof(limit_keys[0]); i++) {
		static const char *const v1[] = {"memory.limit_in_bytes", "cpuset.cpus",
						 "pids.max"};
		static const char *const v2[] = {"memory.max", "cpuset.cpus", "pids.max"};
		const char *ck = env->cgroup == INSTANCE_CGROUP_V1 ? v1[i] : v2[i];
		char buf[32];

		if (!kvlist_get(&old_row->expanded_config, limit_keys[i]) ||
		    kvlist_get(&new_row->expanded_config, limit_keys[i]))
			continue;
		if (!c->set_cgroup_item(c, ck, cgroup_default(env, ck, buf, sizeof(buf))))
			return err_set(err, -EIO, "Failed to reset \"%s\" of instance \"%s\"",
				       limit_keys[i], new_row->name);
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *prefix =
		    env->cgroup == INSTANCE_CGROUP_V1 ? "lxc.cgroup." : "lxc.cgroup2.";
		char *eq, *key, *value;

		if (!str_startswith(line, prefix))
			continue;
		eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		key = line + strlen(prefix);
		/* The device list is set once at start; liblxc cannot swap it in place. */
		if (str_startswith(key, "devices."))
			continue;
		value = eq + 1;
		while (*value == ' ')
			value++;
		for (char *end = key + strlen(key); end > key && end[-1] == ' '; end--)
			end[-1] = '\0';
		if (!c->set_cgroup_item(c, key, value))
			return err_set(err, -EIO, "Failed to apply \"%s = %s\" to instance \"%s\"",
				       key, value, new_row->name);
	}
	return 0;
}

/* The `size` of the root disk in expanded devices `d`, or "" when it has none. */
static const char *root_size(const struct devices *d)
{
	const struct kvlist *root = devices_root_disk(d, NULL);
	const char *size = root ? kvlist_get(root, "size") : NULL;

	return size ? size : "";
}

/* Puts the root disk size of `row` back after a failed update, logging what cannot be undone. */
static void restore_root_size(const struct instance_env *env, const struct db_instance *row)
{
	_cleanup_err_ struct err *e = NULL;
	int r = instance_apply_root_size(env, row, &e);

	if (r < 0)
		log_warn("Failed to put the root disk size of \"%s\" back, ignoring: %s", row->name,
			 err_msg(e, r));
}

/* Undoes what instance_update() did to a running instance's cgroup when a later step fails. */
void instance_live_limits_restore(const struct instance_env *env, const struct db_instance *old_row,
				  const struct db_instance *new_row)
{
	_cleanup_err_ struct err *e = NULL;
	int r = instance_live_limits_apply(env, new_row, old_row, &e);

	if (r < 0)
		log_debug("Failed to put the limits of \"%s\" back, ignoring: %s", old_row->name,
			  err_msg(e, r));
}

int instance_update(const struct instance_env *env, const char *name, const struct kvlist *config,
		    const struct devices *devices, char *const *profiles, const char *description,
		    int ephemeral, bool restricted, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_kvlist_ struct kvlist full = {0}, expanded = {0};
	_cleanup_devices_ struct devices expanded_devices = {0};
	_cleanup_free_ char *text = NULL, *path = NULL, *tmp = NULL, *owner = NULL;
	struct instance_state st = {0};
	struct db_instance new_row;
	bool live = false, sized = false;
	int r;

	/* Everything that can be refused is refused before the first change. */
	r = instance_get(env, name, &row, err);
	if (r < 0)
		return r;
	r = config_validate_all(config, err);
	if (r < 0)
		return r;
	r = config_text_valid("description", description, err);
	if (r < 0)
		return r;
	r = kvlist_copy(&full, config);
	for (size_t i = 0; r >= 0 && i < row.config.n; i++)
		if (str_startswith(row.config.items[i].key, "volatile.") ||
		    str_startswith(row.config.items[i].key, "image."))
			r = kvlist_set(&full, row.config.items[i].key, row.config.items[i].value);
	if (r >= 0 && ephemeral > 0)
		r = kvlist_set(&full, INSTANCE_EPHEMERAL_KEY, "true");
	else if (r >= 0 && ephemeral == 0)
		kvlist_unset(&full, INSTANCE_EPHEMERAL_KEY);
	if (r < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	new_row = row;
	new_row.config = full;
	if (devices)
		new_row.devices = *devices;
	if (profiles)
		new_row.profiles = (char **)profiles;
	if (description)
		new_row.description = (char *)description;
	owner = str_printf("instance \"%s\"", name);
	if (!owner)
		return err_set(err, -ENOMEM, "Out of memory");
	r = devices_validate(owner, &new_row.devices, err);
	if (r < 0)
		return r;
	r = instance_settings_expand(env, new_row.profiles, &new_row.config, &new_row.devices,
				     &expanded, &expanded_devices, err);
	if (r < 0)
		return r;
	r = instance_settings_check(env, owner, &expanded, &expanded_devices, row.pool, err);
	if (r < 0)
		return r;
	r = instance_copy_target_check(env, owner, &row.expanded_config, &expanded, err);
	if (r < 0)
		return r;
	if (restricted) {
		r = instance_settings_restricted(owner, &row.expanded_config, &row.expanded_devices,
						 &expanded, &expanded_devices, err);
		if (r < 0)
			return r;
	}
	new_row.expanded_config = expanded;
	new_row.expanded_devices = expanded_devices;
	r = instance_backup_render(&new_row, &text, err);
	if (r < 0)
		return r;
	r = backup_path(env, &row, &path, err);
	if (r < 0)
		return r;
	r = instance_state(env, name, false, &st, err);
	if (r < 0)
		return r;

	/*
	 * The row and backup.yaml change together: the new file is written beside the old one
	 * (where a full pool or a read-only volume fails, before anything changed), the row is
	 * committed, then the file is renamed into place. A failure after the commit puts the row
	 * back. A crash leaves the temporary file, and instance_recover() rewrites backup.yaml from
	 * whichever row was committed.
	 */
	r = file_write_prepare(path, text, strlen(text), 0600, &tmp, err);
	if (r < 0)
		return err_wrap(err, r, "Failed to update instance \"%s\"", name);
	crashpoint("update-after-prepare");
	if (st.status == INSTANCE_RUNNING) {
		r = instance_live_limits_apply(env, &row, &new_row, err);
		if (r < 0) {
			instance_live_limits_restore(env, &row, &new_row);
			unlink(tmp);
			return r;
		}
		live = true;
	}
	/* The size applies at once, running or not, and goes back if the update fails. */
	sized = strcmp(root_size(&row.expanded_devices), root_size(&expanded_devices)) != 0;
	if (sized) {
		r = instance_apply_root_size(env, &new_row, err);
		if (r < 0) {
			restore_root_size(env, &row);
			if (live)
				instance_live_limits_restore(env, &row, &new_row);
			unlink(tmp);
			return r;
		}
		crashpoint("update-after-size");
	}
	r = db_instance_update_settings(env->db, name, &full, devices, profiles, description, err);
	if (r < 0) {
		if (sized)
			restore_root_size(env, &row);
		if (live)
			instance_live_limits_restore(env, &row, &new_row);
		unlink(tmp);
		return r;
	}
	crashpoint("update-after-commit");
	r = file_write_commit(tmp, path, err);
	if (r < 0) {
		_cleanup_err_ struct err *e = NULL;
		_cleanup_free_ char *old_text = NULL;

		if (db_instance_update_settings(env->db, name, &row.config, &row.devices,
						row.profiles ? row.profiles : (char *[]){NULL},
						row.description, &e) < 0)
			return err_wrap(err, r,
					"Failed to update instance \"%s\" (and to undo it: %s)",
					name, err_msg(e, -EIO));
		/* When only the directory sync failed, the new text is in place already. */
		if (instance_backup_render(&row, &old_text, NULL) >= 0) {
			_cleanup_err_ struct err *we = NULL;
			int q = file_write_atomic(path, old_text, strlen(old_text), 0600, &we);

			if (q < 0)
				err_log_ignored(we, q, "Failed to put back \"%s\"", path);
		}
		if (sized)
			restore_root_size(env, &row);
		if (live)
			instance_live_limits_restore(env, &row, &new_row);
		return err_wrap(err, r, "Failed to update instance \"%s\"", name);
	}
	instance_notify(env, "instance-updated", "instances", name);
	return 0;
}

/*
 * A temporary backup.yaml beside an instance's own is what a crash in instance_update() leaves:
 * the row may be old or new, the file old. The temporary file goes and backup.yaml is written
 * again from the row.
 */
static int recover_backup(const struct instance_env *env, const struct db_instance *row,
			  struct err **err)
{
	static const char prefix[] = INSTANCE_BACKUP_FILE FILE_WRITE_TMP_SUFFIX;
	_cleanup_free_ char *path = NULL, *dir = NULL;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	bool found = false;
	int r;

	r = backup_path(env, row, &path, err);
	if (r < 0)
		return r;
	dir = strndup(path, strlen(path) - strlen(INSTANCE_BACKUP_FILE) - 1);
	if (!dir)
		return err_set(err, -ENOMEM, "Out of memory");
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0
				       : err_set_errno(err, -errno, "Failed to list \"%s\"", dir);
	while ((de = readdir(d))) {
		if (!str_startswith(de->d_name, prefix))
			continue;
		found = true;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
			return err_set_errno(err, -errno, "Failed to remove \"%s/%s\"", dir,
					     de->d_name);
	}
	if (!found)
		return 0;
	log_info("Rewriting the backup.yaml of instance \"%s\" after an interrupted update",
		 row->name);
	return instance_write_backup(env, row->name, err);
}

/*
 * What an interrupted stateful operation leaves of a READY instance: images in its volume that
 * no operation owns any more (a stateful snapshot's dump not yet in its snapshot, a restored
 * snapshot's state not yet resumed, a checkpoint dumped but not yet named), a checkpoint of an
 * instance that runs anyway, and a frozen container. Nothing in cairn leaves an instance frozen
 * between operations, so a frozen one is thawed.
 */
static void recover_stateful(const struct instance_env *env, const struct db_instance *row)
{
	static const char *const transient[] = {INSTANCE_STATE_DIR, INSTANCE_CHECKPOINT_DIR ".tmp"};
	struct instance_state st = {0};

	for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++) {
		_cleanup_free_ char *dir = NULL;
		_cleanup_err_ struct err *e = NULL;
		int r;

		if (state_dir_of(env, row, transient[i], &dir, NULL) < 0 || access(dir, F_OK) < 0)
			continue;
		log_info("Removing the CRIU images \"%s\" of instance \"%s\" left by an "
			 "interrupted operation",
			 transient[i], row->name);
		r = rm_rf(dir, &e);
		if (r < 0)
			log_error("Failed to remove \"%s\", ignoring: %s", dir, err_msg(e, r));
	}
	if (instance_state(env, row->name, false, &st, NULL) < 0)
		return;
	if (st.status == INSTANCE_FROZEN) {
		_cleanup_err_ struct err *e = NULL;
		int r;

		log_info("Thawing instance \"%s\", left frozen by an interrupted operation",
			 row->name);
		r = instance_freeze(env, row->name, false, &e);
		if (r < 0)
			log_error("Failed to thaw instance \"%s\": %s", row->name, err_msg(e, r));
	}
	if (st.status != INSTANCE_STOPPED && instance_has_checkpoint(env, row)) {
		_cleanup_err_ struct err *e = NULL;
		int r;

		log_info("Discarding the checkpoint of instance \"%s\": it runs", row->name);
		r = instance_discard_checkpoint(env, row->name, &e);
		if (r < 0)
			err_log_ignored(e, r, "Failed to discard the checkpoint of \"%s\"",
					row->name);
	}
}

int instance_recover(const struct instance_env *env, struct err **err)
{
	_cleanup_strv_ char **held = NULL;
	_cleanup_err_ struct err *e_held = NULL;
	struct db_instance *rows = NULL;
	size_t n = 0, n_sweep = env->n_pools;
	int r, first = 0;

	r = db_instance_list(env->db, &rows, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct err *e = NULL;

		if (rows[i].state == DB_ROW_READY) {
			if (instance_env_pool(env, rows[i].pool))
				recover_stateful(env, &rows[i]);
			r = recover_backup(env, &rows[i], &e);
			if (r < 0) {
				log_error("Failed to rewrite the backup.yaml of \"%s\": %s",
					  rows[i].name, err_msg(e, r));
				if (!first)
					first = r;
			}
			continue;
		}
		log_info("Recovering instance \"%s\" left %s: removing it", rows[i].name,
			 rows[i].state == DB_ROW_CREATING ? "half created" : "half deleted");
		r = remove_instance_files(env, rows[i].name, rows[i].pool, &e);
		if (r >= 0)
			r = db_instance_delete(env->db, rows[i].name, &e);
		if (r < 0) {
			log_error("Failed to recover instance \"%s\": %s", rows[i].name,
				  err_msg(e, r));
			if (!first)
				first = r;
		}
	}

	/* Volumes nobody owns: a create killed before its row was written cannot happen (the row
	 * comes first), but temporary volumes of an interrupted restore or copy can. A rename or
	 * move that could not be finished keeps its volumes until it is. */
	if (instance_journal_held(env, &held, &e_held) < 0) {
		log_error("Failed to read the journal, keeping every volume: %s",
			  err_msg(e_held, -EIO));
		n_sweep = 0;
	}
	for (size_t p = 0; p < n_sweep; p++) {
		_cleanup_strv_ char **names = NULL;

		if (storage_volume_list(&env->pools[p], STORAGE_VOLUME_CONTAINER, &names, NULL) < 0)
			continue;
		for (size_t v = 0; names && names[v]; v++) {
			bool owned = false;

			for (size_t i = 0; i < n; i++)
				if (rows[i].state == DB_ROW_READY &&
				    strcmp(rows[i].name, names[v]) == 0 &&
				    strcmp(rows[i].pool, env->pools[p].name) == 0)
					owned = true;
			if (owned || strv_contains(held, names[v]))
				continue;
			log_info("Removing volume \"%s\" of pool \"%s\" that no instance owns",
				 names[v], env->pools[p].name);
			storage_volume_delete(&env->pools[p], STORAGE_VOLUME_CONTAINER, names[v],
					      NULL);
		}
	}

	/* An install made before the volumes were closed is closed by its first start. A volume
	 * that cannot be closed does not keep the daemon from serving the others. */
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct err *e = NULL;

		if (rows[i].state != DB_ROW_READY || !instance_env_pool(env, rows[i].pool))
			continue;
		r = instance_volume_protect(env, &rows[i], &e);
		if (r < 0)
			log_error("Failed to protect the volume of instance \"%s\", ignoring: %s",
				  rows[i].name, err_msg(e, r));
		/* instance_update() sets the size before it commits: a crash between leaves the
		 * limit of the settings that were not committed on a running instance. One ioctl.
		 */
		err_free(e);
		e = NULL;
		r = instance_apply_root_size(env, &rows[i], &e);
		if (r < 0)
			log_error(
			    "Failed to apply the root disk size of instance \"%s\", ignoring: "
			    "%s",
			    rows[i].name, err_msg(e, r));
	}
	db_instances_free(rows, n);
	if (first < 0)
		return err_set(err, first, "Recovery of some instances failed");
	return 0;
}

/* As in Incus: an explicit boot.autostart wins; unset, an instance comes back the way it was
 * when the daemon last saw it. */
static bool wants_autostart(const struct kvlist *config)
{
	const char *autostart = kvlist_get(config, "boot.autostart");
	const char *power = kvlist_get(config, "volatile.last_state.power");

	if (autostart && *autostart)
		return config_get_bool(config, "boot.autostart", false);
	return power && strcmp(power, "RUNNING") == 0;
}

void instance_autostart(const struct instance_env *env)
{
	struct db_instance *rows = NULL;
	size_t n = 0;
	_cleanup_err_ struct err *e = NULL;

	if (db_instance_list(env->db, &rows, &n, &e) < 0) {
		log_error("Failed to list instances for autostart: %s", err_msg(e, -EIO));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct err *se = NULL;
		struct instance_state st = {0};
		int r;

		if (rows[i].state != DB_ROW_READY)
			continue;
		if (!wants_autostart(&rows[i].expanded_config))
			continue;
		if (instance_state(env, rows[i].name, false, &st, NULL) < 0 ||
		    st.status != INSTANCE_STOPPED)
			continue;
		log_info("Starting instance \"%s\" (autostart)", rows[i].name);
		r = instance_start(env, rows[i].name, &se);
		if (r < 0)
			log_error("Failed to start instance \"%s\": %s", rows[i].name,
				  err_msg(se, r));
	}
	db_instances_free(rows, n);
}

int instance_freeze(const struct instance_env *env, const char *name, bool freeze, struct err **err)
{
	_cleanup_free_ char *lxcpath = instance_lxcpath(env), *conf = lxc_config_path(env, name);
	_cleanup_lxc_container_ struct lxc_container *c = NULL;

	if (!lxcpath || !conf)
		return err_set(err, -ENOMEM, "Out of memory");
	/* freeze/unfreeze only talk to the container's command socket and its cgroup: no fork
	 * here. liblxc wants the config loaded to find the cgroup layout. */
	c = lxc_container_new(name, lxcpath);
	if (!c || !c->load_config(c, conf))
		return err_set(err, -EIO, "Failed to load instance \"%s\"", name);
	if (freeze ? !c->freeze(c) : !c->unfreeze(c))
		return err_set(err, -EIO, "Failed to %s instance \"%s\"",
			       freeze ? "freeze" : "unfreeze", name);
	return 0;
}

/* The config of a copy: the source's, stopped, with what describes the files kept (the idmap
 * base the rootfs is shifted to, the image it came from) and without its MACs. */
static int copy_config(const struct kvlist *src, struct kvlist *ret)
{
	int r = kvlist_copy(ret, src);

	if (r >= 0)
		r = kvlist_set(ret, "volatile.last_state.power", "STOPPED");
	/* As in Incus, a copy of an ephemeral instance is an ordinary one. */
	kvlist_unset(ret, INSTANCE_EPHEMERAL_KEY);
	/* Nor does a copy share its source's MACs: each nic of the copy gets its own at its
	 * first start (volatile.<device>.hwaddr), as in Incus. */
	for (size_t i = 0; r >= 0 && i < ret->n;) {
		const char *key = ret->items[i].key;
		size_t len = strlen(key);

		if (str_startswith(key, "volatile.") && len > 7 &&
		    strcmp(key + len - 7, ".hwaddr") == 0) {
			/* The list owns `key`: remove it by a copy of its name. */
			_cleanup_free_ char *name = strdup(key);

			if (!name)
				return -ENOMEM;
			kvlist_unset(ret, name);
		} else {
			i++;
		}
	}
	return r < 0 ? -ENOMEM : 0;
}

/*
 * Makes container volume `dst` of `to` (absent) a copy of snapshot `snapshot` of `src` on `from`:
 * a writable snapshot of it within a pool, a copy of its tree into another.
 */
static int volume_from_snapshot(struct storage_pool *from, const char *src, const char *snapshot,
				struct storage_pool *to, const char *dst, struct err **err)
{
	_cleanup_free_ char *path = NULL;

	if (from == to)
		return storage_volume_from_snapshot(from, src, snapshot, dst, err);
	path = storage_snapshot_path(from, src, snapshot);
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	return storage_volume_import(to, STORAGE_VOLUME_CONTAINER, dst, path, err);
}

/*
 * Copies the READY snapshots of `src` (on `from`) to `dst` on `to`, whose volume does not exist
 * yet: each one is made the volume `dst` for a moment, snapshotted read-only under its own name
 * and the volume dropped again. Within a btrfs pool each step is a snapshot; otherwise a copy.
 */
static int copy_snapshots(const struct instance_env *env, struct storage_pool *from,
			  const char *src, struct storage_pool *to, const char *dst,
			  struct err **err)
{
	struct db_snapshot *snaps = NULL;
	size_t n = 0;
	int r;

	r = db_snapshot_list(env->db, src, &snaps, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct db_snapshot copy;

		if (snaps[i].state != DB_ROW_READY)
			continue;
		r = volume_from_snapshot(from, src, snaps[i].name, to, dst, err);
		if (r < 0)
			break;
		r = storage_snapshot_create(to, dst, snaps[i].name, err);
		if (r >= 0) {
			r = storage_volume_delete(to, STORAGE_VOLUME_CONTAINER, dst, err);
		} else {
			_cleanup_err_ struct err *e = NULL;
			int q = storage_volume_delete(to, STORAGE_VOLUME_CONTAINER, dst, &e);

			/* The CREATING row has recovery remove it later. */
			if (q < 0)
				log_debug("Failed to remove the volume of \"%s\" after a failed "
					  "snapshot copy, ignoring: %s",
					  dst, err_msg(e, q));
		}
		if (r < 0)
			break;
		copy = snaps[i];
		copy.instance = (char *)dst;
		r = db_snapshot_insert(env->db, &copy, NULL, err);
	}
	db_snapshots_free(snaps, n);
	return r;
}

void instance_create_undo(const struct instance_env *env, const char *name, const char *pool_name)
{
	undo_create(env, name, pool_name);
}

int instance_create_finish(const struct instance_env *env, const char *name, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_free_ char *vol = NULL, *link = NULL, *logs = NULL;
	struct storage_pool *pool;
	int r;

	r = db_instance_get(env->db, name, &row, err);
	if (r < 0)
		return r;
	pool = instance_env_pool(env, row.pool);
	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row.pool);
	r = instance_volume_protect(env, &row, err);
	if (r < 0)
		return r;
	vol = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, name);
	link = link_path(env, name);
	logs = instance_log_dir(env, name);
	if (!vol || !link || !logs)
		return err_set(err, -ENOMEM, "Out of memory");
	r = instance_apply_root_size(env, &row, err);
	if (r >= 0)
		r = mkdir_p(logs, 0700, err);
	if (r >= 0 && symlink(vol, link) < 0 && errno != EEXIST)
		r = err_set_errno(err, -errno, "Failed to link \"%s\"", link);
	if (r >= 0)
		r = instance_write_backup(env, name, err);
	if (r >= 0)
		r = db_instance_set_state(env->db, name, DB_ROW_READY, err);
	return r;
}

int instance_copy(const struct instance_env *env, const char *src, const char *snapshot,
		  const char *dst, const char *pool_name, bool instance_only, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_(db_snapshot_done) struct db_snapshot snap = {0};
	_cleanup_kvlist_ struct kvlist config = {0};
	_cleanup_devices_ struct devices devices = {0};
	_cleanup_free_ char *vol = NULL, *link = NULL, *logs = NULL;
	struct db_instance new_row = {0};
	struct instance_state st = {0};
	struct storage_pool *pool, *to;
	bool frozen = false;
	int r;

	r = config_instance_name_valid(dst, err);
	if (r < 0)
		return r;
	r = instance_get(env, src, &row, err);
	if (r < 0)
		return r;
	pool = instance_env_pool(env, row.pool);
	if (!pool)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", row.pool);
	to = instance_env_pool(env, pool_name ? pool_name : row.pool);
	if (!to)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", pool_name);
	if (snapshot) {
		r = db_snapshot_get(env->db, src, snapshot, &snap, err);
		if (r < 0)
			return r;
		if (snap.state != DB_ROW_READY)
			return err_set(err, -ENOENT, "Snapshot \"%s\" of instance \"%s\" not found",
				       snapshot, src);
	}
	if (copy_config(snapshot ? &snap.config : &row.config, &config) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	/* The copy keeps the idmap base of the files it gets; a snapshot taken before
	 * security.privileged changed carries its own. */
	if (snapshot && kvlist_get(&row.config, "volatile.idmap.base") &&
	    !kvlist_get(&config, "volatile.idmap.base") &&
	    kvlist_set(&config, "volatile.idmap.base",
		       kvlist_get(&row.config, "volatile.idmap.base")) < 0)
		return err_set(err, -ENOMEM, "Out of memory");

	new_row.name = (char *)dst;
	new_row.pool = to->name;
	new_row.image = row.image;
	new_row.architecture = row.architecture;
	new_row.description = row.description ? row.description : (char *)"";
	new_row.created_at = time_now();
	new_row.config = config;
	/* Profiles and devices travel with the copy; a copy into another pool gets a root disk of
	 * its own naming that pool, as `launch -s` does. */
	new_row.profiles = snapshot ? snap.profiles : row.profiles;
	r = devices_copy(&devices, snapshot ? &snap.devices : &row.devices);
	if (r >= 0 && strcmp(to->name, row.pool) != 0) {
		_cleanup_kvlist_ struct kvlist root = {0};
		const char *root_name = "root";
		const struct kvlist *have = devices_root_disk(&row.expanded_devices, &root_name);

		if (have) {
			r = kvlist_copy(&root, have);
		} else {
			r = kvlist_set(&root, "type", "disk");
			if (r >= 0)
				r = kvlist_set(&root, "path", "/");
		}
		if (r >= 0)
			r = kvlist_set(&root, "pool", to->name);
		if (r >= 0)
			r = devices_set(&devices, root_name, &root);
	}
	if (r < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	new_row.devices = devices;
	new_row.state = DB_ROW_CREATING;
	r = db_instance_insert(env->db, &new_row, NULL, err);
	if (r < 0)
		return r;

	/* From here on the CREATING row makes a half copy recoverable: instance_recover()
	 * removes its volume and snapshots. */
	if (!snapshot && !instance_only)
		r = copy_snapshots(env, pool, src, to, dst, err);
	crashpoint("copy-after-snapshots");
	if (r >= 0 && snapshot) {
		r = volume_from_snapshot(pool, src, snapshot, to, dst, err);
	} else if (r >= 0) {
		/* A copy of files (a copy-based pool, or into another pool) of a running source
		 * needs it still; a btrfs snapshot within its pool does not. */
		if ((storage_snapshot_needs_freeze(pool) || to != pool) &&
		    instance_state(env, src, false, &st, NULL) >= 0 &&
		    st.status == INSTANCE_RUNNING) {
			r = instance_freeze(env, src, true, err);
			frozen = r >= 0;
		}
		if (r >= 0 && to == pool) {
			r = storage_volume_copy(pool, STORAGE_VOLUME_CONTAINER, src,
						STORAGE_VOLUME_CONTAINER, dst, err);
		} else if (r >= 0) {
			_cleanup_free_ char *src_vol = NULL;

			r = volume_of(env, &row, &src_vol, err);
			if (r >= 0)
				r = storage_volume_import(to, STORAGE_VOLUME_CONTAINER, dst,
							  src_vol, err);
		}
		if (frozen) {
			_cleanup_err_ struct err *e = NULL;
			int q = instance_freeze(env, src, false, &e);

			if (q < 0)
				log_error("Failed to thaw instance \"%s\" after copying it: %s",
					  src, err_msg(e, q));
		}
	}
	crashpoint("copy-after-volume");
	/* A stateful snapshot's running state stays with the snapshot: a copy boots afresh. */
	if (r >= 0 && snapshot) {
		_cleanup_free_ char *state = NULL;

		r = state_dir_of(env, &new_row, INSTANCE_STATE_DIR, &state, err);
		if (r >= 0)
			r = rm_rf(state, err);
	}
	/* The copy comes closed; it opens to the root uid of the files it got. */
	if (r >= 0)
		r = instance_volume_protect(env, &new_row, err);
	if (r >= 0) {
		vol = storage_volume_path(to, STORAGE_VOLUME_CONTAINER, dst);
		link = link_path(env, dst);
		logs = instance_log_dir(env, dst);
		if (!vol || !link || !logs)
			r = err_set(err, -ENOMEM, "Out of memory");
	}
	if (r >= 0)
		r = mkdir_p(logs, 0700, err);
	if (r >= 0 && symlink(vol, link) < 0 && errno != EEXIST)
		r = err_set_errno(err, -errno, "Failed to link \"%s\"", link);
	if (r >= 0)
		r = instance_write_backup(env, dst, err);
	if (r >= 0)
		r = db_instance_set_state(env->db, dst, DB_ROW_READY, err);
	if (r < 0) {
		undo_create(env, dst, to->name);
		return r;
	}
	return 0;
}
