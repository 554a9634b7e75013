#pragma once

/*
 * The server config key table (`cairn config set core.https_address ...`, Incus's GET/PUT/PATCH
 * /1.0 "config"), in the same shape as the instance keys (config/keys.h). Unknown keys are
 * refused; an empty value unsets a key.
 */

#include <stdbool.h>

struct err;
struct config_key;

/* The entry for `name`, or NULL when it is not a server key. */
const struct config_key *config_server_key_lookup(const char *name);

/* All server keys, terminated by an entry with name == NULL. */
const struct config_key *config_server_keys(void);

/* True when `name` looks like a server key (a known one, or "core.*"): how `cairn config set
 * KEY VALUE` tells a server key from an instance name. */
bool config_server_key_like(const char *name);

/*
 * Checks that `value` is valid for server key `key`; "" (unset) always is. -EINVAL with
 * `Unknown server configuration key "x"` (and the nearest key) or `Invalid value "v" for "k": ...`.
 */
int config_server_key_validate(const char *key, const char *value, struct err **err);

/* The effective value of `key` given its stored value `set` (NULL or "" when unset). */
const char *config_server_get(const char *key, const char *set);
