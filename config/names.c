#include "config/names.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/err.h"

#define INSTANCE_NAME_MAX 63
#define POOL_NAME_MAX 63
#define ALIAS_NAME_MAX 255

static bool is_ascii_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int config_instance_name_valid(const char *name, struct err **err)
{
	size_t len;
	bool all_digits = true;

	if (!name || !*name)
		return err_set(err, -EINVAL, "Invalid instance name \"\": it cannot be empty");
	len = strlen(name);
	for (size_t i = 0; i < len; i++) {
		if (!is_ascii_alnum(name[i]) && name[i] != '-')
			return err_set(err, -EINVAL,
				       "Invalid instance name \"%s\": only ASCII letters, digits "
				       "and \"-\" are allowed",
				       name);
		if (name[i] < '0' || name[i] > '9')
			all_digits = false;
	}
	/* The name becomes the container's hostname, so it must be a valid DNS label. */
	if (len > INSTANCE_NAME_MAX)
		return err_set(
		    err, -EINVAL,
		    "Invalid instance name \"%s\": it must be at most %d characters long", name,
		    INSTANCE_NAME_MAX);
	if (name[0] == '-' || name[len - 1] == '-')
		return err_set(err, -EINVAL,
			       "Invalid instance name \"%s\": it cannot start or end with \"-\"",
			       name);
	if (all_digits)
		return err_set(err, -EINVAL,
			       "Invalid instance name \"%s\": it cannot be only digits", name);
	return 0;
}

int config_pool_name_valid(const char *name, struct err **err)
{
	size_t len;

	if (!name || !*name)
		return err_set(err, -EINVAL, "Invalid storage pool name \"\": it cannot be empty");
	len = strlen(name);
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!is_ascii_alnum(c) && c != '-' && c != '_' && c != '.')
			return err_set(err, -EINVAL,
				       "Invalid storage pool name \"%s\": only ASCII letters, "
				       "digits, \"-\", \"_\" and \".\" are allowed",
				       name);
	}
	/* The name is a path component under storage-pools/ and disks/: no hidden files, nothing
	 * that reads as an option. */
	if (len > POOL_NAME_MAX)
		return err_set(
		    err, -EINVAL,
		    "Invalid storage pool name \"%s\": it must be at most %d characters long", name,
		    POOL_NAME_MAX);
	if (name[0] == '.' || name[0] == '-')
		return err_set(
		    err, -EINVAL,
		    "Invalid storage pool name \"%s\": it cannot start with \".\" or \"-\"", name);
	return 0;
}

int config_alias_name_valid(const char *name, struct err **err)
{
	size_t len;

	if (!name || !*name)
		return err_set(err, -EINVAL, "Invalid image alias \"\": it cannot be empty");
	len = strlen(name);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* '/' would split the API path and ':' reads as a remote prefix on the command
		 * line. */
		if (c <= ' ' || c >= 0x7f || c == '/' || c == ':')
			return err_set(err, -EINVAL,
				       "Invalid image alias \"%s\": only printable ASCII "
				       "characters without white space, \"/\" or \":\" are allowed",
				       name);
	}
	if (len > ALIAS_NAME_MAX)
		return err_set(err, -EINVAL,
			       "Invalid image alias \"%s\": it must be at most %d characters long",
			       name, ALIAS_NAME_MAX);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return err_set(err, -EINVAL,
			       "Invalid image alias \"%s\": it cannot be \".\" or \"..\"", name);
	return 0;
}

int config_pool_source_valid(const char *source, struct err **err)
{
	const char *p;

	if (!source || !*source)
		return err_set(err, -EINVAL,
			       "Invalid storage pool source \"\": it cannot be empty");
	/* A relative source would be resolved against wherever the daemon happens to run. */
	if (source[0] != '/')
		return err_set(err, -EINVAL,
			       "Invalid storage pool source \"%s\": it must be an absolute path",
			       source);
	for (p = source; *p; p++) {
		size_t len;

		if (*p == '/')
			continue;
		len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return err_set(err, -EINVAL,
				       "Invalid storage pool source \"%s\": it cannot hold \"..\"",
				       source);
		p += len - 1;
	}
	return 0;
}
