#include "instance/settings.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/crashpoint.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "config/db.h"
#include "config/keys.h"
#include "config/profiles.h"
#include "instance/disks.h"
#include "instance/instance.h"
#include "network/network.h"
#include "storage/storage.h"

/* instance_settings_expand() where the profile named like `override` (NULL: none) is taken as
 * `override` says rather than as the database has it: how a profile change is tried out. */
static int expand_with(const struct instance_env *env, char *const *profiles,
		       const struct profile *override, const struct kvlist *config,
		       const struct devices *devices, struct kvlist *ret_config,
		       struct devices *ret_devices, struct err **err)
{
	size_t n = strv_length(profiles);
	_cleanup_free_ struct profile *loaded = calloc(n ? n : 1, sizeof(*loaded));
	_cleanup_free_ const struct profile **applied = calloc(n ? n : 1, sizeof(*applied));
	int r = 0;

	if (!loaded || !applied)
		return err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (override && strcmp(profiles[i], override->name) == 0) {
			applied[i] = override;
			continue;
		}
		r = db_profile_get(env->db, profiles[i], &loaded[i], err);
		applied[i] = &loaded[i];
	}
	if (r >= 0 && config_expand(applied, n, config, devices, ret_config, ret_devices) < 0)
		r = err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; i < n; i++)
		profile_done(&loaded[i]);
	return r;
}

int instance_settings_expand(const struct instance_env *env, char *const *profiles,
			     const struct kvlist *config, const struct devices *devices,
			     struct kvlist *ret_config, struct devices *ret_devices,
			     struct err **err)
{
	return expand_with(env, profiles, NULL, config, devices, ret_config, ret_devices, err);
}

const char *instance_settings_root_pool(const struct devices *d)
{
	const struct kvlist *root = devices_root_disk(d, NULL);

	return root ? kvlist_get(root, "pool") : NULL;
}

/* A host path to mount: it must exist and be a directory or a regular file. Symbolic links in
 * it are the host's own (only root and the admin group write device sources), so stat()
 * follows them; what is mounted is what the path names when the instance starts. */
static int check_source(const char *owner, const char *device, const char *source, struct err **err)
{
	struct stat st;

	if (stat(source, &st) < 0)
		return err_set_errno(err, errno == ENOENT ? -ENOENT : -EINVAL,
				     "Invalid device \"%s\" of %s: source \"%s\"", device, owner,
				     source);
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return err_set(err, -EINVAL,
			       "Invalid device \"%s\" of %s: source \"%s\" is neither a "
			       "directory nor a file",
			       device, owner, source);
	return 0;
}

int instance_settings_check(const struct instance_env *env, const char *owner,
			    const struct kvlist *expanded_config,
			    const struct devices *expanded_devices, const char *pool,
			    struct err **err)
{
	const char *root_name = NULL, *root_pool, *size;
	const struct kvlist *root;
	struct storage_pool *p;
	int r;

	(void)expanded_config;
	r = devices_validate(owner, expanded_devices, err);
	if (r < 0)
		return r;
	root = devices_root_disk(expanded_devices, &root_name);
	if (!root)
		return err_set(err, -EINVAL,
			       "No root disk for %s: name a pool with -s POOL or use a profile "
			       "with one (the \"default\" profile has it)",
			       owner);
	root_pool = kvlist_get(root, "pool");
	p = instance_env_pool(env, root_pool);
	if (!p)
		return err_set(
		    err, -ENOENT,
		    "Storage pool \"%s\" not found (named by the root disk \"%s\" of %s)",
		    root_pool, root_name, owner);
	if (pool && strcmp(pool, root_pool) != 0)
		return err_set(err, -EINVAL,
			       "Invalid device \"%s\" of %s: the root disk is on pool \"%s\"; "
			       "moving it to \"%s\" is `cairn move NAME --storage %s`",
			       root_name, owner, pool, root_pool, root_pool);
	size = kvlist_get(root, "size");
	if (size && *size && !p->ops->volume_set_quota)
		return err_set(err, -EOPNOTSUPP,
			       "Invalid device \"%s\" of %s: the \"%s\" driver of pool \"%s\" "
			       "cannot enforce a root disk size",
			       root_name, owner, p->driver, root_pool);
	for (size_t i = 0; i < expanded_devices->n; i++) {
		const struct device *dev = &expanded_devices->items[i];
		const char *type = kvlist_get(&dev->keys, "type");
		const char *net = kvlist_get(&dev->keys, "network");

		if (type && strcmp(type, "nic") == 0 && net) {
			r = network_nic_check(env->db, net, kvlist_get(&dev->keys, "ipv4.address"),
					      err);
			if (r < 0)
				return err_wrap(err, r, "Invalid device \"%s\" of %s", dev->name,
						owner);
			continue;
		}
		if (!device_is_host_disk(&dev->keys))
			continue;
		r = check_source(owner, dev->name, kvlist_get(&dev->keys, "source"), err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Whether device `name` of `devices` is a host-path disk with the same source and target as
 * `dev`. */
static bool had_host_disk(const struct devices *devices, const char *name, const struct kvlist *dev)
{
	const struct kvlist *old = devices ? devices_get(devices, name) : NULL;
	const char *a, *b;

	if (!old || !device_is_host_disk(old))
		return false;
	a = kvlist_get(old, "source");
	b = kvlist_get(dev, "source");
	if (strcmp(a, b) != 0)
		return false;
	a = kvlist_get(old, "path");
	b = kvlist_get(dev, "path");
	return a && b && strcmp(a, b) == 0;
}

int instance_settings_restricted(const char *owner, const struct kvlist *old_config,
				 const struct devices *old_devices, const struct kvlist *new_config,
				 const struct devices *new_devices, struct err **err)
{
	bool was = old_config && config_get_bool(old_config, "security.privileged", false);

	if (!was && config_get_bool(new_config, "security.privileged", false))
		return err_set(err, -EPERM,
			       "Refused for %s: cairnd runs --restricted, so only root may make "
			       "a privileged container (security.privileged=true)",
			       owner);
	for (size_t i = 0; i < new_devices->n; i++) {
		const struct device *dev = &new_devices->items[i];

		if (device_is_host_disk(&dev->keys) &&
		    !had_host_disk(old_devices, dev->name, &dev->keys))
			return err_set(err, -EPERM,
				       "Refused for %s: cairnd runs --restricted, so only root "
				       "may mount a host path into a container (device \"%s\")",
				       owner, dev->name);
	}
	return 0;
}

/* One instance that a profile change reaches: its row before, and the expanded view after. */
struct profile_user {
	struct db_instance row;
	struct db_instance next; /* row with the new expanded settings (shares row's strings) */
	struct kvlist expanded;
	struct devices expanded_devices;
	bool live;  /* its live limits were changed */
	bool sized; /* its root disk size was changed */
};

/* The `size` of the root disk in expanded devices `d`, or "" when it has none. */
static const char *root_size(const struct devices *d)
{
	const struct kvlist *root = devices_root_disk(d, NULL);
	const char *size = root ? kvlist_get(root, "size") : NULL;

	return size ? size : "";
}

static void profile_users_free(struct profile_user *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		db_instance_done(&v[i].row);
		kvlist_done(&v[i].expanded);
		devices_done(&v[i].expanded_devices);
	}
	free(v);
}

int instance_copy_target_check(const struct instance_env *env, const char *owner,
			       const struct kvlist *old_config, const struct kvlist *new_config,
			       struct err **err)
{
	const char *t = kvlist_get(new_config, "snapshots.copy.target");
	const char *before = old_config ? kvlist_get(old_config, "snapshots.copy.target") : NULL;
	_cleanup_free_ char *remote = NULL;
	struct db_remote rem = {0};
	int r;

	if (!t || !*t || (before && strcmp(before, t) == 0))
		return 0;
	remote = strndup(t, strchrnul(t, ':') - t);
	if (!remote)
		return err_set(err, -ENOMEM, "Out of memory");
	r = db_remote_get(env->db, remote, &rem, NULL);
	db_remote_done(&rem);
	if (r == -ENOENT)
		return err_set(err, -ENOENT,
			       "Remote \"%s\" not found (named by snapshots.copy.target of %s): "
			       "add it first with \"cairn config remote add %s TOKEN\"",
			       remote, owner, remote);
	return 0;
}

int instance_profile_update(const struct instance_env *env, const char *name,
			    const struct profile *next, bool restricted, struct err **err)
{
	_cleanup_strv_ char **users = NULL;
	struct profile_user *v = NULL;
	size_t n;
	int r;

	r = profile_validate(next, err);
	if (r < 0)
		return r;
	{
		/* The profile's own key, used by an instance or not yet. */
		_cleanup_profile_ struct profile old = {0};
		_cleanup_free_ char *owner = str_printf("profile \"%s\"", name);

		if (!owner)
			return err_set(err, -ENOMEM, "Out of memory");
		r = db_profile_get(env->db, name, &old, err);
		if (r < 0)
			return r;
		r = instance_copy_target_check(env, owner, &old.config, &next->config, err);
		if (r < 0)
			return r;
	}
	r = db_profile_instances(env->db, name, &users, err);
	if (r < 0)
		return r;
	n = strv_length(users);
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return err_set(err, -ENOMEM, "Out of memory");

	/* Every instance that uses the profile is checked with the change before anything
	 * changes: one that would be left invalid refuses the whole change. */
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct profile_user *u = &v[i];
		_cleanup_free_ char *owner = NULL;

		r = db_instance_get(env->db, users[i], &u->row, err);
		if (r < 0)
			break;
		owner = str_printf("profile \"%s\" (used by instance \"%s\")", name, users[i]);
		if (!owner) {
			r = err_set(err, -ENOMEM, "Out of memory");
			break;
		}
		r = expand_with(env, u->row.profiles, next, &u->row.config, &u->row.devices,
				&u->expanded, &u->expanded_devices, err);
		if (r >= 0)
			r = instance_settings_check(env, owner, &u->expanded, &u->expanded_devices,
						    u->row.pool, err);
		if (r >= 0)
			r = instance_copy_target_check(env, owner, &u->row.expanded_config,
						       &u->expanded, err);
		if (r >= 0 && restricted)
			r = instance_settings_restricted(owner, &u->row.expanded_config,
							 &u->row.expanded_devices, &u->expanded,
							 &u->expanded_devices, err);
		u->next = u->row;
		u->next.expanded_config = u->expanded;
		u->next.expanded_devices = u->expanded_devices;
	}
	/* Live keys reach running instances at once, as `config set` does; the rest at their
	 * next start. A failure puts back what was changed. */
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct instance_state st = {0};

		if (instance_state(env, v[i].row.name, false, &st, NULL) < 0 ||
		    st.status != INSTANCE_RUNNING)
			continue;
		v[i].live = true;
		r = instance_live_limits_apply(env, &v[i].row, &v[i].next, err);
	}
	/* A root disk size applies at once, running or not (a crash before the commit is undone
	 * by instance_recover(), which applies every stored size again). */
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (strcmp(root_size(&v[i].row.expanded_devices),
			   root_size(&v[i].expanded_devices)) == 0)
			continue;
		v[i].sized = true;
		r = instance_apply_root_size(env, &v[i].next, err);
	}
	crashpoint("profile-update-before-commit");
	if (r >= 0)
		r = db_profile_update(env->db, name, next, err);
	if (r < 0) {
		for (size_t i = 0; i < n; i++) {
			_cleanup_err_ struct err *e = NULL;
			int q;

			if (v[i].live)
				instance_live_limits_restore(env, &v[i].row, &v[i].next);
			if (v[i].sized && (q = instance_apply_root_size(env, &v[i].row, &e)) < 0)
				log_warn("Failed to put the root disk size of \"%s\" back, "
					 "ignoring: %s",
					 v[i].row.name, err_msg(e, q));
		}
		profile_users_free(v, n);
		return r;
	}
	for (size_t i = 0; i < n; i++)
		instance_notify(env, "instance-updated", "instances", v[i].row.name);
	profile_users_free(v, n);
	return 0;
}
