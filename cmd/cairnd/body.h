#pragma once

/*
 * Typed reads of request bodies. Each returns 0 when the member is absent (leaving *ret alone),
 * 1 when it was read, and -EINVAL with a message naming the field when it has the wrong type
 * (or is absent while required).
 */

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

struct err;
struct kvlist;

int body_string(json_object *o, const char *key, bool required, const char **ret, struct err **err);
int body_bool(json_object *o, const char *key, bool *ret, struct err **err);
int body_int(json_object *o, const char *key, int64_t *ret, struct err **err);
int body_object(json_object *o, const char *key, bool required, json_object **ret,
		struct err **err);

/* Reads a {"key": "value"} object into `ret` (every value must be a string). */
int body_config(json_object *o, const char *key, struct kvlist *ret, struct err **err);
