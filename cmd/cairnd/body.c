#include "cmd/cairnd/body.h"

#include <errno.h>

#include "common/err.h"
#include "common/kvlist.h"

static int member(json_object *o, const char *key, bool required, json_type type,
		  const char *type_name, json_object **ret, struct err **err)
{
	json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v) {
		if (required)
			return err_set(err, -EINVAL, "Missing field \"%s\" in the request", key);
		return 0;
	}
	if (!json_object_is_type(v, type))
		return err_set(err, -EINVAL, "Field \"%s\" must be %s", key, type_name);
	*ret = v;
	return 1;
}

int body_string(json_object *o, const char *key, bool required, const char **ret, struct err **err)
{
	json_object *v = NULL;
	int r = member(o, key, required, json_type_string, "a string", &v, err);

	if (r > 0)
		*ret = json_object_get_string(v);
	return r;
}

int body_bool(json_object *o, const char *key, bool *ret, struct err **err)
{
	json_object *v = NULL;
	int r = member(o, key, false, json_type_boolean, "true or false", &v, err);

	if (r > 0)
		*ret = json_object_get_boolean(v);
	return r;
}

int body_int(json_object *o, const char *key, int64_t *ret, struct err **err)
{
	json_object *v = NULL;
	int r = member(o, key, false, json_type_int, "a whole number", &v, err);

	if (r > 0)
		*ret = json_object_get_int64(v);
	return r;
}

int body_object(json_object *o, const char *key, bool required, json_object **ret, struct err **err)
{
	return member(o, key, required, json_type_object, "an object", ret, err);
}

int body_config(json_object *o, const char *key, struct kvlist *ret, struct err **err)
{
	json_object *cfg = NULL;
	int r = body_object(o, key, false, &cfg, err);

	if (r <= 0)
		return r;
	json_object_object_foreach(cfg, k, v)
	{
		if (!v || !json_object_is_type(v, json_type_string))
			return err_set(err, -EINVAL, "Value of config key \"%s\" must be a string",
				       k);
		if (kvlist_set(ret, k, json_object_get_string(v)) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	return 1;
}
