#pragma once

/*
 * Instance devices as clients send them: Incus' "devices" map from a device name to an object
 * with a "type" and the type's own keys, e.g. {"root": {"type": "disk", "path": "/", "pool":
 * "default"}}. DESIGN.md names three types: disk, nic and none. This version implements the
 * root disk (a disk with path "/"; its pool picks where a new instance lives) and none (which
 * only masks a profile's device). A device that is asked for is never dropped: anything else is
 * refused, so a user does not find out later that a device is missing.
 */

#include <json-c/json.h>

struct err;

/*
 * Checks `devices` (NULL: no devices). Every member must be an object with a string "type". On
 * success *ret_root_pool (may be NULL) points at the root disk's pool inside `devices`, or is
 * left alone when no root disk names one. -EINVAL with a message that names the device:
 * `Unknown device type "bogus" for device "x" (valid types: disk, nic, none)` for a type that
 * does not exist, `Device "eth0" of type "nic" is not supported yet` for a nic, and likewise for
 * a disk with another path than "/" or a second root disk.
 */
int config_devices_check(json_object *devices, const char **ret_root_pool, struct err **err);
