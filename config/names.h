#pragma once

/* Validation of the names users type: instances, pools, image aliases. */

struct err;

/*
 * Checks an instance name as Incus does: a valid hostname label, 1 to 63 characters of ASCII
 * letters, digits and '-', not starting or ending with '-', not all digits. 0 when valid,
 * -EINVAL with a message that quotes the name and says what is wrong otherwise.
 */
int config_instance_name_valid(const char *name, struct err **err);

/* Checks a storage pool name: 1 to 63 characters of letters, digits, '-', '_' and '.', not
 * starting with '.' or '-'. 0, or -EINVAL with a message. */
int config_pool_name_valid(const char *name, struct err **err);

/* Checks the `source` of a storage pool as written: an absolute path without a ".." component
 * (where it leads, e.g. into CAIRN_DIR, is the daemon's to check). 0, or -EINVAL with a message
 * that quotes it. */
int config_pool_source_valid(const char *source, struct err **err);

/* Checks an image alias: 1 to 255 printable ASCII characters without '/', ':' or white space,
 * not "." or "..". 0, or -EINVAL with a message. */
int config_alias_name_valid(const char *name, struct err **err);
