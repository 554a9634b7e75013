#pragma once

/*
 * Instance and profile devices: Incus' "devices" map from a device name to its keys, one of which
 * is "type". The types:
 *
 *   disk  path=/ pool=POOL [size=SIZE]       the root disk: which pool the instance lives on
 *   disk  source=HOSTPATH path=PATH [readonly=true]
 *                                             a host directory or file mounted into the instance
 *   nic   network=NETWORK | nictype=bridged parent=BRIDGE
 *         [name=IFNAME] [hwaddr=MAC] [ipv4.address=IP (with network only)] [mtu=N]
 *                                             a veth pair, one end in the instance (IFNAME,
 *                                             default the device's name), the other on the
 *                                             managed network's bridge or on a host bridge
 *   none                                      hides a profile's device of the same name
 *
 * This file is the pure part: the list type, JSON in and out, and the checks that need nothing
 * but the text (names, types, keys, values, and across devices: one root disk, one device per
 * path). What needs the host (a source that exists, a pool that exists, a driver that can
 * enforce a size) is checked by instance/devices.c.
 */

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "common/kvlist.h"

struct err;

struct device {
	char *name;	    /* owned */
	struct kvlist keys; /* "type" and the type's keys, owned */
};

/* Devices sorted by name. Small (a handful), so a sorted array. */
struct devices {
	struct device *items;
	size_t n;
};

/* The keys of device `name`, or NULL. */
const struct kvlist *devices_get(const struct devices *d, const char *name);

/* Sets device `name` to a copy of `keys`, replacing it whole when it was there. -ENOMEM. */
int devices_set(struct devices *d, const char *name, const struct kvlist *keys);

/* Removes device `name`; 1 when it was there, 0 when not. */
int devices_remove(struct devices *d, const char *name);

/* Deep copy of `src` into `dst` (which must be empty). -ENOMEM. */
int devices_copy(struct devices *dst, const struct devices *src);

/* Frees the contents and leaves an empty list; may be called twice. */
void devices_done(struct devices *d);
#define _cleanup_devices_ __attribute__((cleanup(devices_done)))

/* True when both lists hold the same devices with the same keys and values. */
bool devices_equal(const struct devices *a, const struct devices *b);

/*
 * Reads Incus' "devices" object (NULL: no devices) into *ret (which must be empty): an object of
 * objects whose members are strings (booleans and numbers are taken as their text, as Incus'
 * clients send them). Only the shape and the text are checked here (config_text_valid(), and no
 * NUL inside a string); call devices_validate() for the rest. -EINVAL with a message naming the
 * device.
 */
int devices_from_json(json_object *o, struct devices *ret, struct err **err);

/* The devices as Incus' "devices" object; NULL only when out of memory. */
json_object *devices_to_json(const struct devices *d);

/* Checks a device name: 1 to 64 characters of letters, digits, '-', '_' and '.', not starting
 * with '.' or '-'. 0, or -EINVAL with a message that quotes it. */
int device_name_valid(const char *name, struct err **err);

/*
 * Checks one device: its type is known, each key belongs to the type and has a valid value, and
 * what the type needs is there (a disk needs `path`; a root disk needs `pool` and no `source`; a
 * host-path disk needs `source` and takes no `size` or `pool`; `none` takes no other key).
 * `owner` names where it comes from in the message ("instance \"c1\"", "profile \"web\""):
 * `Invalid device "data" of profile "web": unknown key "sorce" for a disk (did you mean
 * "source"?)`. -EINVAL.
 */
int device_validate(const char *owner, const char *name, const struct kvlist *keys,
		    struct err **err);

/*
 * Checks every device with device_validate(), then the list as a whole: at most one root disk,
 * and no two devices (other than `none`) mounted on the same path. Run it on a profile's or an
 * instance's own devices, and on an instance's expanded devices.
 */
int devices_validate(const char *owner, const struct devices *d, struct err **err);

/* True for a MAC address an interface may have: six hex pairs with ':', not multicast, not
 * zero. */
bool device_hwaddr_valid(const char *s);

/* The interface name of nic `name` inside the instance: its `name` key, else the device's
 * name. */
const char *device_nic_ifname(const char *name, const struct kvlist *keys);

/* True for a disk with path "/" (the root disk). */
bool device_is_root_disk(const struct kvlist *keys);
/* True for a disk with a `source` (a host path mounted into the instance). */
bool device_is_host_disk(const struct kvlist *keys);

/* The root disk of `d` (its name in *ret_name when not NULL), or NULL when there is none. */
const struct kvlist *devices_root_disk(const struct devices *d, const char **ret_name);

/*
 * Writes the normal form of an absolute path into `buf` (of `size` bytes): repeated and trailing
 * slashes and "." components removed ("/mnt//data/." is "/mnt/data"). -EINVAL when the path is
 * not absolute or has a ".." component, -ENAMETOOLONG when it does not fit.
 */
int device_path_normalize(const char *path, char *buf, size_t size);
