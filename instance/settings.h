#pragma once

/*
 * An instance's settings as a whole: the profiles it names, its own keys and devices, and what
 * they expand to. config/profiles.c merges and config/devices.c checks the text; this file loads
 * the profiles from the database and checks the expanded view against the host: the root disk
 * names a pool that exists (the one the instance lives on), a size the pool's driver can enforce,
 * host paths that exist; and, under `cairnd --restricted`, that a member of the admin group
 * gains neither a privileged container nor a host path.
 */

#include <stdbool.h>

#include "common/kvlist.h"
#include "config/devices.h"

struct err;
struct instance_env;

/*
 * The expanded config and devices of an instance that names `profiles` (NULL-terminated, loaded
 * from the database; NULL: none) and has `config` and `devices` of its own. *ret_config and
 * *ret_devices must be empty. -ENOENT with a message for a profile that does not exist.
 */
int instance_settings_expand(const struct instance_env *env, char *const *profiles,
			     const struct kvlist *config, const struct devices *devices,
			     struct kvlist *ret_config, struct devices *ret_devices,
			     struct err **err);

/*
 * Checks the expanded settings of instance `name` (`owner` names where a fault comes from in the
 * message, e.g. `instance "c1"` or `profile "web" (used by instance "c1")`): devices_validate(),
 * one root disk whose pool exists and, when `pool` is not NULL (the instance exists and lives
 * there), is that pool (a move is `cairn move --storage`), a `size` only where the pool's driver
 * enforces one, and host-path sources that exist and are a directory or a file. -EINVAL, -ENOENT.
 */
int instance_settings_check(const struct instance_env *env, const char *owner,
			    const struct kvlist *expanded_config,
			    const struct devices *expanded_devices, const char *pool,
			    struct err **err);

/*
 * What `cairnd --restricted` refuses to a non-root member of the admin group: settings that give
 * an instance `security.privileged=true` or a host-path disk it did not have before (`old_*`:
 * the expanded settings before the change; NULL for a new instance). -EPERM with a message that
 * says what and why.
 */
int instance_settings_restricted(const char *owner, const struct kvlist *old_config,
				 const struct devices *old_devices, const struct kvlist *new_config,
				 const struct devices *new_devices, struct err **err);

/*
 * The snapshot server named by `new_config` (snapshots.copy.target, expanded or a profile's
 * own) must be one of the daemon's remotes when it is set or changed (`old_config`: before the
 * change, NULL for something new): -ENOENT "Remote ... not found (named by snapshots.copy.target
 * of OWNER) ...". A value that does not change is not checked again, so an imported instance
 * whose remote this daemon lacks can still be changed otherwise (its refresh says why it fails).
 */
int instance_copy_target_check(const struct instance_env *env, const char *owner,
			       const struct kvlist *old_config, const struct kvlist *new_config,
			       struct err **err);

/* The pool of the root disk of expanded devices `d`, or NULL when there is none. */
const char *instance_settings_root_pool(const struct devices *d);

struct profile;

/*
 * Replaces the description, config and devices of profile `name` with `next` (whose name must be
 * `name`): validated as a profile (profile_validate()), then every instance that uses it is
 * checked with the change (instance_settings_check(), and instance_settings_restricted() when
 * `restricted`), naming the profile and the instance in a refusal. Live keys (limits.*) are
 * applied to the running ones at once; the rest takes effect at their next start. One database
 * transaction; on a failure the live limits are put back and nothing has changed.
 */
int instance_profile_update(const struct instance_env *env, const char *name,
			    const struct profile *next, bool restricted, struct err **err);
