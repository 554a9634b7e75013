#include "config/devices.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/err.h"
#include "config/keys.h"

/* A string member of a device, NULL when absent; -EINVAL when it is not a string. */
static int device_string(json_object *dev, const char *name, const char *key, const char **ret,
			 struct err **err)
{
	json_object *v = NULL;

	*ret = NULL;
	if (!json_object_object_get_ex(dev, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return err_set(err, -EINVAL, "The \"%s\" of device \"%s\" must be a string", key,
			       name);
	*ret = json_object_get_string(v);
	return config_text_valid("device field", *ret, err);
}

/* Checks one device; *ret_root says whether it is the root disk. */
static int check_device(const char *name, json_object *dev, bool *ret_root, struct err **err)
{
	const char *type = NULL, *path = NULL;
	int r;

	*ret_root = false;
	/* Names and types are quoted below: they must be text first. */
	r = config_text_valid("device name", name, err);
	if (r < 0)
		return r;
	if (!*name)
		return err_set(err, -EINVAL, "A device name cannot be empty");
	if (!dev || !json_object_is_type(dev, json_type_object))
		return err_set(err, -EINVAL, "Device \"%s\" must be an object", name);
	r = device_string(dev, name, "type", &type, err);
	if (r < 0)
		return r;
	if (!type || !*type)
		return err_set(err, -EINVAL, "Device \"%s\" has no type", name);
	if (strcmp(type, "none") == 0)
		return 0;
	if (strcmp(type, "disk") == 0) {
		r = device_string(dev, name, "path", &path, err);
		if (r < 0)
			return r;
		if (!path || strcmp(path, "/") != 0)
			return err_set(err, -EINVAL,
				       "Device \"%s\" of type \"disk\" is not supported yet: only "
				       "the root disk (path \"/\") is",
				       name);
		*ret_root = true;
		return 0;
	}
	if (strcmp(type, "nic") == 0)
		return err_set(err, -EINVAL, "Device \"%s\" of type \"nic\" is not supported yet",
			       name);
	return err_set(
	    err, -EINVAL,
	    "Unknown device type \"%s\" for device \"%s\" (valid types: disk, nic, none)", type,
	    name);
}

int config_devices_check(json_object *devices, const char **ret_root_pool, struct err **err)
{
	const char *root_name = NULL, *pool = NULL;
	int r;

	if (!devices)
		return 0;
	if (!json_object_is_type(devices, json_type_object))
		return err_set(err, -EINVAL, "Field \"devices\" must be an object");
	json_object_object_foreach(devices, name, dev)
	{
		bool root = false;

		r = check_device(name, dev, &root, err);
		if (r < 0)
			return r;
		if (!root)
			continue;
		if (root_name)
			return err_set(
			    err, -EINVAL,
			    "Devices \"%s\" and \"%s\" are both a root disk (path \"/\")",
			    root_name, name);
		root_name = name;
		r = device_string(dev, name, "pool", &pool, err);
		if (r < 0)
			return r;
	}
	if (pool && *pool && ret_root_pool)
		*ret_root_pool = pool;
	return 0;
}
