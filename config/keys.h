#pragma once

/*
 * The instance config key table: each key's type, default, validator and whether a change
 * applies to a running instance. Unknown keys are refused unless they start with "user.".
 * Keys under "volatile." and "image." belong to the daemon; users cannot set them.
 */

#include <stdbool.h>

struct err;
struct kvlist;

enum config_key_type {
	CONFIG_KEY_STRING,
	CONFIG_KEY_BOOL,
	CONFIG_KEY_INT,
	CONFIG_KEY_TYPE_MAX,
};

struct config_key {
	const char *name;
	enum config_key_type type;
	const char *default_value; /* NULL: unset by default */
	/* Checks a value; 0 or -EINVAL with a message naming key and value. NULL: type check only.
	 */
	int (*validate)(const char *key, const char *value, struct err **err);
	bool live;	  /* applies to a running instance without a restart */
	const char *help; /* one line for `cairn config` help */
};

/* The entry for `name`, or NULL when it is not a known key (user.* keys have no entry). */
const struct config_key *config_key_lookup(const char *name);

/* The known key nearest to the mistyped `key` (suggest_close(): within two edits, or starting
 * with `key`), for a "did you mean" hint; NULL when none is. Points into the table. */
const char *config_key_suggest(const char *key);

/* All known keys, terminated by an entry with name == NULL. */
const struct config_key *config_keys(void);

/*
 * Checks that a user may set `key` to `value`: a known key with a valid value, or any user.* key.
 * "volatile.*" and "image.*" are refused. An empty value is accepted for every known key: it
 * means "unset" (as `cairn config set NAME KEY ""` does in Incus). Key and value must pass
 * config_text_valid() first. -EINVAL with a message such as
 * `Invalid value "abc" for "limits.memory": ...`, `Unknown configuration key "foo"` or
 * `Invalid value for "user.x": it is not valid UTF-8`.
 */
int config_key_validate(const char *key, const char *value, struct err **err);

/*
 * Checks free text that the daemon stores, returns and writes to YAML (a config value, a
 * description): valid UTF-8 (common/utf8.h) without control characters other than tab, newline
 * and carriage return. NULL passes. -EINVAL with "Invalid <what>: it is not valid UTF-8" or
 * "...: it holds a control character ..."; the text itself is never quoted.
 */
int config_text_valid(const char *what, const char *s, struct err **err);

/*
 * Like config_key_validate() for values the daemon itself writes: also accepts any
 * "volatile.*" and "image.*" key (with any value). Never use it on user input.
 */
int config_key_validate_internal(const char *key, const char *value, struct err **err);

/* Validates every entry of `config` with config_key_validate(); the first error wins. */
int config_validate_all(const struct kvlist *config, struct err **err);

/* The effective value of `key` in `config`: the set value, else the key's default, else NULL. */
const char *config_get(const struct kvlist *config, const char *key);

/* Reads a boolean key ("true"/"false", "1"/"0", "yes"/"no", "on"/"off"): the effective value
 * or `fallback` when unset. */
bool config_get_bool(const struct kvlist *config, const char *key, bool fallback);

/* Parses a boolean value as config_get_bool() reads it. 0 or -EINVAL. */
int config_parse_bool(const char *value, bool *ret);
