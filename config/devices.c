#include "config/devices.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/suggest.h"
#include "common/util.h"
#include "config/keys.h"
#include "config/names.h"

/* Index of `name`, or -(insertion point) - 1 when absent. */
static long find(const struct devices *d, const char *name)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(d->items[mid].name, name);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

const struct kvlist *devices_get(const struct devices *d, const char *name)
{
	long i = find(d, name);

	return i >= 0 ? &d->items[i].keys : NULL;
}

int devices_set(struct devices *d, const char *name, const struct kvlist *keys)
{
	_cleanup_kvlist_ struct kvlist copy = {0};
	long i = find(d, name);
	struct device *items;
	size_t at;

	if (kvlist_copy(&copy, keys) < 0)
		return -ENOMEM;
	if (i >= 0) {
		kvlist_done(&d->items[i].keys);
		d->items[i].keys = copy;
		copy = (struct kvlist){0};
		return 0;
	}
	at = (size_t)(-i - 1);
	items = realloc(d->items, (d->n + 1) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	d->items = items;
	memmove(&items[at + 1], &items[at], (d->n - at) * sizeof(*items));
	items[at].name = strdup(name);
	if (!items[at].name) {
		memmove(&items[at], &items[at + 1], (d->n - at) * sizeof(*items));
		return -ENOMEM;
	}
	items[at].keys = copy;
	copy = (struct kvlist){0};
	d->n++;
	return 0;
}

int devices_remove(struct devices *d, const char *name)
{
	long i = find(d, name);

	if (i < 0)
		return 0;
	free(d->items[i].name);
	kvlist_done(&d->items[i].keys);
	memmove(&d->items[i], &d->items[i + 1], (d->n - (size_t)i - 1) * sizeof(*d->items));
	d->n--;
	return 1;
}

int devices_copy(struct devices *dst, const struct devices *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (devices_set(dst, src->items[i].name, &src->items[i].keys) < 0) {
			devices_done(dst);
			return -ENOMEM;
		}
	return 0;
}

void devices_done(struct devices *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->items[i].name);
		kvlist_done(&d->items[i].keys);
	}
	free(d->items);
	*d = (struct devices){0};
}

bool devices_equal(const struct devices *a, const struct devices *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct kvlist *x = &a->items[i].keys, *y = &b->items[i].keys;

		if (strcmp(a->items[i].name, b->items[i].name) != 0 || x->n != y->n)
			return false;
		for (size_t k = 0; k < x->n; k++)
			if (strcmp(x->items[k].key, y->items[k].key) != 0 ||
			    strcmp(x->items[k].value, y->items[k].value) != 0)
				return false;
	}
	return true;
}

int devices_from_json(json_object *o, struct devices *ret, struct err **err)
{
	_cleanup_devices_ struct devices d = {0};
	int r;

	if (!o)
		return 0;
	if (!json_object_is_type(o, json_type_object))
		return err_set(err, -EINVAL, "Field \"devices\" must be an object");
	json_object_object_foreach(o, name, dev)
	{
		_cleanup_kvlist_ struct kvlist keys = {0};

		/* The name is quoted in every message below: it must be text first. */
		r = config_text_valid("device name", name, err);
		if (r < 0)
			return r;
		if (!dev || !json_object_is_type(dev, json_type_object))
			return err_set(err, -EINVAL, "Device \"%s\" must be an object", name);
		json_object_object_foreach(dev, key, value)
		{
			json_type t = value ? json_object_get_type(value) : json_type_null;
			const char *text;

			r = config_text_valid("device key", key, err);
			if (r < 0)
				return r;
			if (t != json_type_string && t != json_type_boolean && t != json_type_int &&
			    t != json_type_double)
				return err_set(err, -EINVAL,
					       "The \"%s\" of device \"%s\" must be a string", key,
					       name);
			text = json_object_get_string(value);
			/* A C string would silently end at a NUL ("/srv\u0000/x" is "/srv"). */
			if (t == json_type_string &&
			    strlen(text) != (size_t)json_object_get_string_len(value))
				return err_set(err, -EINVAL,
					       "The \"%s\" of device \"%s\" holds a NUL character",
					       key, name);
			r = config_text_valid("device value", text, err);
			if (r < 0)
				return r;
			if (kvlist_set(&keys, key, text) < 0)
				return -ENOMEM;
		}
		if (devices_set(&d, name, &keys) < 0)
			return -ENOMEM;
	}
	*ret = d;
	d = (struct devices){0};
	return 0;
}

json_object *devices_to_json(const struct devices *d)
{
	_cleanup_json_ json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	for (size_t i = 0; i < d->n; i++) {
		json_object *dev = json_object_new_object();

		if (!dev)
			return NULL;
		json_object_object_add(o, d->items[i].name, dev);
		for (size_t k = 0; k < d->items[i].keys.n; k++)
			json_object_object_add(
			    dev, d->items[i].keys.items[k].key,
			    json_object_new_string(d->items[i].keys.items[k].value));
	}
	return json_object_get(o);
}

int device_name_valid(const char *name, struct err **err)
{
	size_t len = strlen(name);

	if (len == 0)
		return err_set(err, -EINVAL, "A device name cannot be empty");
	if (len > 64)
		return err_set(err, -EINVAL, "Device name \"%s\" is longer than 64 characters",
			       name);
	if (name[0] == '.' || name[0] == '-')
		return err_set(err, -EINVAL, "Device name \"%s\" cannot start with \"%c\"", name,
			       name[0]);
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return err_set(err, -EINVAL,
				       "Device name \"%s\" may only hold letters, digits, \"-\", "
				       "\"_\" and \".\"",
				       name);
	}
	return 0;
}

int device_path_normalize(const char *path, char *buf, size_t size)
{
	size_t out = 0;
	const char *p = path;

	if (path[0] != '/' || size < 2)
		return -EINVAL;
	while (*p) {
		const char *start, *end;
		size_t len;

		while (*p == '/')
			p++;
		start = p;
		end = strchrnul(start, '/');
		len = (size_t)(end - start);
		p = end;
		if (len == 0 || (len == 1 && start[0] == '.'))
			continue;
		if (len == 2 && start[0] == '.' && start[1] == '.')
			return -EINVAL;
		if (out + 1 + len + 1 > size)
			return -ENAMETOOLONG;
		buf[out++] = '/';
		memcpy(buf + out, start, len);
		out += len;
	}
	if (out == 0)
		buf[out++] = '/';
	buf[out] = '\0';
	return 0;
}

bool device_is_root_disk(const struct kvlist *keys)
{
	const char *type = kvlist_get(keys, "type"), *path = kvlist_get(keys, "path");
	char norm[PATH_MAX];

	return type && strcmp(type, "disk") == 0 && path && !kvlist_get(keys, "source") &&
	       device_path_normalize(path, norm, sizeof(norm)) == 0 && strcmp(norm, "/") == 0;
}

bool device_is_host_disk(const struct kvlist *keys)
{
	const char *type = kvlist_get(keys, "type");

	return type && strcmp(type, "disk") == 0 && kvlist_get(keys, "source");
}

const struct kvlist *devices_root_disk(const struct devices *d, const char **ret_name)
{
	for (size_t i = 0; i < d->n; i++)
		if (device_is_root_disk(&d->items[i].keys)) {
			if (ret_name)
				*ret_name = d->items[i].name;
			return &d->items[i].keys;
		}
	return NULL;
}

/* Formats the "Invalid device" prefix of a message. */
#define DEVICE_ERR(err, owner, name, fmt, ...)                                                     \
	err_set(err, -EINVAL, "Invalid device \"%s\"%s%s: " fmt, name, (owner) ? " of " : "",      \
		(owner) ? (owner) : "", ##__VA_ARGS__)

/* A path key: absolute, without "..", not longer than PATH_MAX. */
static int check_path(const char *owner, const char *name, const char *key, const char *value,
		      struct err **err)
{
	char norm[PATH_MAX];
	int r = device_path_normalize(value, norm, sizeof(norm));

	if (r == -ENAMETOOLONG)
		return DEVICE_ERR(err, owner, name, "\"%s\" is too long", key);
	if (r < 0)
		return DEVICE_ERR(err, owner, name,
				  "\"%s\" must be an absolute path without \"..\" (got \"%s\")",
				  key, value);
	return 0;
}

static const char *const disk_keys[] = {"type", "path", "source", "pool", "size", "readonly"};

static int validate_disk(const char *owner, const char *name, const struct kvlist *keys,
			 struct err **err)
{
	const char *path = kvlist_get(keys, "path"), *source = kvlist_get(keys, "source");
	const char *pool = kvlist_get(keys, "pool"), *size = kvlist_get(keys, "size");
	const char *readonly = kvlist_get(keys, "readonly");
	bool root, ro;
	int r;

	for (size_t i = 0; i < keys->n; i++) {
		const char *key = keys->items[i].key, *best;
		bool known = false;

		for (size_t k = 0; k < sizeof(disk_keys) / sizeof(disk_keys[0]); k++)
			known = known || strcmp(key, disk_keys[k]) == 0;
		if (known)
			continue;
		best = suggest_best(key, disk_keys, sizeof(disk_keys) / sizeof(disk_keys[0]));
		if (best)
			return DEVICE_ERR(err, owner, name,
					  "unknown key \"%s\" for a disk (did you mean \"%s\"?)",
					  key, best);
		return DEVICE_ERR(err, owner, name,
				  "unknown key \"%s\" for a disk (keys: path, source, pool, size, "
				  "readonly)",
				  key);
	}
	if (!path || !*path)
		return DEVICE_ERR(err, owner, name, "a disk needs a \"path\"");
	r = check_path(owner, name, "path", path, err);
	if (r < 0)
		return r;
	root = device_is_root_disk(keys);
	if (source) {
		if (!*source)
			return DEVICE_ERR(err, owner, name, "\"source\" cannot be empty");
		r = check_path(owner, name, "source", source, err);
		if (r < 0)
			return r;
		{
			char norm[PATH_MAX];

			if (device_path_normalize(path, norm, sizeof(norm)) == 0 &&
			    strcmp(norm, "/") == 0)
				return DEVICE_ERR(err, owner, name,
						  "a host path cannot be mounted on \"/\"; the "
						  "root disk has a \"pool\" and no \"source\"");
		}
		if (pool)
			return DEVICE_ERR(err, owner, name,
					  "a disk with a \"source\" takes no \"pool\" (only the "
					  "root disk names a pool)");
		if (size)
			return DEVICE_ERR(err, owner, name,
					  "a disk with a \"source\" takes no \"size\" (only the "
					  "root disk has one)");
	} else if (!root) {
		return DEVICE_ERR(err, owner, name,
				  "a disk on \"%s\" needs a \"source\" (a host path); only the "
				  "root disk (path \"/\") lives on a pool",
				  path);
	} else {
		if (!pool || !*pool)
			return DEVICE_ERR(err, owner, name, "the root disk needs a \"pool\"");
		r = config_pool_name_valid(pool, err);
		if (r < 0)
			return err_wrap(err, r, "Invalid device \"%s\"%s%s", name,
					owner ? " of " : "", owner ? owner : "");
		if (readonly && config_parse_bool(readonly, &ro) == 0 && ro)
			return DEVICE_ERR(err, owner, name, "the root disk cannot be read-only");
	}
	if (size) {
		uint64_t bytes = 0;

		if (parse_size(size, &bytes, NULL) < 0 || bytes == 0)
			return DEVICE_ERR(err, owner, name,
					  "invalid \"size\" \"%s\": expected a size such as 10GiB",
					  size);
	}
	if (readonly && config_parse_bool(readonly, &ro) < 0)
		return DEVICE_ERR(err, owner, name,
				  "invalid \"readonly\" \"%s\": expected true or false", readonly);
	return 0;
}

static const char *const nic_keys[] = {"type", "network", "nictype",	  "parent",
				       "name", "hwaddr",  "ipv4.address", "mtu"};

/* An interface name as Linux takes it: 1 to 15 bytes, no '/', ':', white space or control
 * character, not "." or "..". */
static bool ifname_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (const char *p = s; *p; p++)
		if (*p == '/' || *p == ':' || (unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

bool device_hwaddr_valid(const char *s)
{
	unsigned v[6];
	char end;

	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
				      &v[4], &v[5], &end) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		if (!isxdigit((unsigned char)s[i * 3]) || !isxdigit((unsigned char)s[i * 3 + 1]) ||
		    (i < 5 && s[i * 3 + 2] != ':'))
			return false;
	/* A multicast address (low bit of the first octet) cannot be an interface's own. */
	return !(v[0] & 1) && (v[0] | v[1] | v[2] | v[3] | v[4] | v[5]) != 0;
}

const char *device_nic_ifname(const char *name, const struct kvlist *keys)
{
	const char *n = kvlist_get(keys, "name");

	return n && *n ? n : name;
}

static int validate_nic(const char *owner, const char *name, const struct kvlist *keys,
			struct err **err)
{
	const char *network = kvlist_get(keys, "network"), *nictype = kvlist_get(keys, "nictype");
	const char *parent = kvlist_get(keys, "parent"), *hwaddr = kvlist_get(keys, "hwaddr");
	const char *ipv4 = kvlist_get(keys, "ipv4.address"), *mtu = kvlist_get(keys, "mtu");

	for (size_t i = 0; i < keys->n; i++) {
		const char *key = keys->items[i].key, *best;
		bool known = false;

		for (size_t k = 0; k < sizeof(nic_keys) / sizeof(nic_keys[0]); k++)
			known = known || strcmp(key, nic_keys[k]) == 0;
		if (known)
			continue;
		best = suggest_best(key, nic_keys, sizeof(nic_keys) / sizeof(nic_keys[0]));
		if (best)
			return DEVICE_ERR(err, owner, name,
					  "unknown key \"%s\" for a nic (did you mean \"%s\"?)",
					  key, best);
		return DEVICE_ERR(err, owner, name,
				  "unknown key \"%s\" for a nic (keys: network, nictype, parent, "
				  "name, hwaddr, ipv4.address, mtu)",
				  key);
	}
	if (network && (nictype || parent))
		return DEVICE_ERR(err, owner, name,
				  "a nic takes either \"network\" (a managed network) or "
				  "\"nictype=bridged\" with \"parent\", not both");
	if (!network && !nictype)
		return DEVICE_ERR(err, owner, name,
				  "a nic needs \"network\" (a managed network) or "
				  "\"nictype=bridged\" with \"parent\" (a host bridge)");
	if (network && !ifname_ok(network))
		return DEVICE_ERR(err, owner, name, "invalid \"network\" \"%s\"", network);
	if (nictype && strcmp(nictype, "bridged") != 0)
		return DEVICE_ERR(err, owner, name,
				  "unknown \"nictype\" \"%s\" (only bridged is supported)",
				  nictype);
	if (nictype && (!parent || !*parent))
		return DEVICE_ERR(err, owner, name, "a bridged nic needs a \"parent\" (a bridge)");
	if (parent && !ifname_ok(parent))
		return DEVICE_ERR(err, owner, name,
				  "invalid \"parent\" \"%s\": not an interface name", parent);
	if (!ifname_ok(device_nic_ifname(name, keys)))
		return DEVICE_ERR(err, owner, name,
				  "invalid interface name \"%s\": 1 to 15 characters without "
				  "\"/\", \":\" or spaces (set \"name\")",
				  device_nic_ifname(name, keys));
	if (hwaddr && !device_hwaddr_valid(hwaddr))
		return DEVICE_ERR(err, owner, name,
				  "invalid \"hwaddr\" \"%s\": expected a unicast MAC such as "
				  "00:16:3e:12:34:56",
				  hwaddr);
	if (ipv4) {
		struct in_addr a;

		if (!network)
			return DEVICE_ERR(err, owner, name,
					  "\"ipv4.address\" needs a managed \"network\" (its "
					  "dnsmasq makes the reservation)");
		/* inet_pton takes only dotted quads: no "10.1", no octal, no spaces. */
		if (inet_pton(AF_INET, ipv4, &a) != 1)
			return DEVICE_ERR(err, owner, name,
					  "invalid \"ipv4.address\" \"%s\": expected an IPv4 "
					  "address",
					  ipv4);
	}
	if (mtu) {
		char *end = NULL;
		unsigned long v = strtoul(mtu, &end, 10);

		if (!*mtu || *end || !isdigit((unsigned char)mtu[0]) || v < 1280 || v > 9000)
			return DEVICE_ERR(err, owner, name,
					  "invalid \"mtu\" \"%s\": a number from 1280 to 9000",
					  mtu);
	}
	return 0;
}

int device_validate(const char *owner, const char *name, const struct kvlist *keys,
		    struct err **err)
{
	const char *type = kvlist_get(keys, "type");
	int r;

	r = config_text_valid("device name", name, err);
	if (r < 0)
		return r;
	r = device_name_valid(name, err);
	if (r < 0)
		return err_wrap(err, r, "Invalid device%s%s", owner ? " of " : "",
				owner ? owner : "");
	for (size_t i = 0; i < keys->n; i++) {
		r = config_text_valid("device key", keys->items[i].key, err);
		if (r >= 0)
			r = config_text_valid("device value", keys->items[i].value, err);
		if (r < 0)
			return r;
	}
	if (!type || !*type)
		return DEVICE_ERR(err, owner, name, "it has no \"type\"");
	if (strcmp(type, "none") == 0) {
		if (keys->n > 1)
			return DEVICE_ERR(err, owner, name,
					  "a device of type \"none\" takes no other key");
		return 0;
	}
	if (strcmp(type, "disk") == 0)
		return validate_disk(owner, name, keys, err);
	if (strcmp(type, "nic") == 0)
		return validate_nic(owner, name, keys, err);
	return DEVICE_ERR(err, owner, name, "unknown type \"%s\" (valid types: disk, nic, none)",
			  type);
}

int devices_validate(const char *owner, const struct devices *d, struct err **err)
{
	const char *root = NULL;
	int r;

	for (size_t i = 0; i < d->n; i++) {
		const struct device *dev = &d->items[i];
		const char *type = kvlist_get(&dev->keys, "type");
		char norm[PATH_MAX];

		r = device_validate(owner, dev->name, &dev->keys, err);
		if (r < 0)
			return r;
		if (type && strcmp(type, "nic") == 0) {
			const char *ifname = device_nic_ifname(dev->name, &dev->keys);

			for (size_t j = 0; j < i; j++) {
				const char *ot = kvlist_get(&d->items[j].keys, "type");

				if (ot && strcmp(ot, "nic") == 0 &&
				    strcmp(device_nic_ifname(d->items[j].name, &d->items[j].keys),
					   ifname) == 0)
					return err_set(err, -EINVAL,
						       "Devices \"%s\" and \"%s\"%s%s are both the "
						       "interface \"%s\"",
						       d->items[j].name, dev->name,
						       owner ? " of " : "", owner ? owner : "",
						       ifname);
			}
			continue;
		}
		if (!type || strcmp(type, "disk") != 0)
			continue;
		if (device_is_root_disk(&dev->keys)) {
			if (root)
				return err_set(err, -EINVAL,
					       "Devices \"%s\" and \"%s\"%s%s are both a root disk "
					       "(path \"/\")",
					       root, dev->name, owner ? " of " : "",
					       owner ? owner : "");
			root = dev->name;
		}
		if (device_path_normalize(kvlist_get(&dev->keys, "path"), norm, sizeof(norm)) < 0)
			return -EINVAL; /* device_validate() said it is fine */
		for (size_t j = 0; j < i; j++) {
			const struct device *other = &d->items[j];
			const char *ot = kvlist_get(&other->keys, "type");
			char onorm[PATH_MAX];

			if (!ot || strcmp(ot, "disk") != 0 ||
			    device_path_normalize(kvlist_get(&other->keys, "path"), onorm,
						  sizeof(onorm)) < 0)
				continue;
			if (strcmp(norm, onorm) == 0)
				return err_set(err, -EINVAL,
					       "Devices \"%s\" and \"%s\"%s%s are both mounted on "
					       "\"%s\"",
					       other->name, dev->name, owner ? " of " : "",
					       owner ? owner : "", norm);
		}
	}
	return 0;
}
