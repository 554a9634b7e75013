#pragma once

/*
 * Profiles and the expanded config. An instance names profiles in order; its effective config is
 * each profile's keys and devices applied in that order, then its own on top (Incus'
 * expanded_config and expanded_devices). A later key replaces an earlier one; a later device
 * replaces an earlier device of the same name whole (keys are not merged), and a device of type
 * `none` stays in the expanded list, where every reader skips it: that is how an instance hides
 * a profile's device.
 */

#include <stddef.h>

#include "common/kvlist.h"
#include "config/devices.h"

struct err;

#define PROFILE_DEFAULT "default"

struct profile {
	char *name;
	char *description;
	struct kvlist config;
	struct devices devices;
};

void profile_done(struct profile *p);
#define _cleanup_profile_ __attribute__((cleanup(profile_done)))
/* Frees `n` profiles and the array. */
void profiles_free(struct profile *v, size_t n);

/* Checks a profile name as Incus does: 1 to 63 characters, no '/', no white space or control
 * character, not "." or "..", not starting with '-'. 0, or -EINVAL with a message. */
int config_profile_name_valid(const char *name, struct err **err);

/*
 * Checks what a user may put in a profile: every key with config_key_validate() and every device
 * with devices_validate(), the message naming the profile: `Invalid config of profile "web":
 * ...`. Keys under "volatile." belong to instances and are refused. -EINVAL.
 */
int profile_validate(const struct profile *p, struct err **err);

/*
 * The expanded config and devices of an instance: `profiles` (n of them, in the instance's order)
 * then `config` and `devices`. *ret_config and *ret_devices must be empty. -ENOMEM.
 */
int config_expand(const struct profile *const *profiles, size_t n, const struct kvlist *config,
		  const struct devices *devices, struct kvlist *ret_config,
		  struct devices *ret_devices);

/* Checks a list of profile names as an instance gives it: each a valid name, none twice.
 * -EINVAL with a message quoting the name. */
int config_profile_list_valid(char *const *names, size_t n, struct err **err);
