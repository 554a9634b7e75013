#include "config/profiles.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/keys.h"

void profile_done(struct profile *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->description);
	kvlist_done(&p->config);
	devices_done(&p->devices);
	*p = (struct profile){0};
}

void profiles_free(struct profile *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		profile_done(&v[i]);
	free(v);
}

int config_profile_name_valid(const char *name, struct err **err)
{
	size_t len = strlen(name);
	int r;

	r = config_text_valid("profile name", name, err);
	if (r < 0)
		return r;
	if (len == 0)
		return err_set(err, -EINVAL, "A profile name cannot be empty");
	if (len > 63)
		return err_set(err, -EINVAL, "Profile name \"%s\" is longer than 63 characters",
			       name);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return err_set(err, -EINVAL, "Profile name \"%s\" is not allowed", name);
	if (name[0] == '-')
		return err_set(err, -EINVAL, "Profile name \"%s\" cannot start with \"-\"", name);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* '/' would split the API path, ':' the REMOTE:NAME form, white space the CLI. */
		if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		    c < 0x20 || c == 0x7f)
			return err_set(
			    err, -EINVAL,
			    "Profile name \"%s\" cannot hold \"/\", \":\" or white space", name);
	}
	return 0;
}

int profile_validate(const struct profile *p, struct err **err)
{
	_cleanup_free_ char *owner = str_printf("profile \"%s\"", p->name);
	int r;

	if (!owner)
		return -ENOMEM;
	r = config_text_valid("description", p->description, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->config.n; i++) {
		const char *key = p->config.items[i].key;

		r = config_text_valid("config key", key, err);
		if (r >= 0)
			r = config_text_valid("config value", p->config.items[i].value, err);
		if (r >= 0 && (str_startswith(key, "volatile.") || str_startswith(key, "image.")))
			r = err_set(err, -EINVAL,
				    "Key \"%s\" belongs to an instance and cannot be set in a "
				    "profile",
				    key);
		if (r >= 0)
			r = config_key_validate(key, p->config.items[i].value, err);
		if (r < 0)
			return err_wrap(err, r, "Invalid config of %s", owner);
	}
	return devices_validate(owner, &p->devices, err);
}

int config_expand(const struct profile *const *profiles, size_t n, const struct kvlist *config,
		  const struct devices *devices, struct kvlist *ret_config,
		  struct devices *ret_devices)
{
	_cleanup_kvlist_ struct kvlist c = {0};
	_cleanup_devices_ struct devices d = {0};

	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < profiles[i]->config.n; k++)
			if (kvlist_set(&c, profiles[i]->config.items[k].key,
				       profiles[i]->config.items[k].value) < 0)
				return -ENOMEM;
		for (size_t k = 0; k < profiles[i]->devices.n; k++)
			if (devices_set(&d, profiles[i]->devices.items[k].name,
					&profiles[i]->devices.items[k].keys) < 0)
				return -ENOMEM;
	}
	for (size_t k = 0; config && k < config->n; k++)
		if (kvlist_set(&c, config->items[k].key, config->items[k].value) < 0)
			return -ENOMEM;
	for (size_t k = 0; devices && k < devices->n; k++)
		if (devices_set(&d, devices->items[k].name, &devices->items[k].keys) < 0)
			return -ENOMEM;
	*ret_config = c;
	*ret_devices = d;
	c = (struct kvlist){0};
	d = (struct devices){0};
	return 0;
}

int config_profile_list_valid(char *const *names, size_t n, struct err **err)
{
	int r;

	for (size_t i = 0; i < n; i++) {
		r = config_profile_name_valid(names[i], err);
		if (r < 0)
			return r;
		for (size_t j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0)
				return err_set(err, -EINVAL, "Profile \"%s\" is listed twice",
					       names[i]);
	}
	return 0;
}
