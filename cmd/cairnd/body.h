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

/*
 * Parses a request body of `len` bytes, NUL-terminated at text[len], into a new object (*ret, the
 * caller's). A body must mean one thing once it is in C strings, so it refuses, with -EINVAL and a
 * message: a NUL byte, a
 * "\u0000" escape (json-c keeps it inside values, which C then cuts, and cuts keys at it), a
 * string or key that is not valid UTF-8, and anything but exactly one JSON document.
 */
int body_parse(const char *text, size_t len, json_object **ret, struct err **err);

int body_string(json_object *o, const char *key, bool required, const char **ret, struct err **err);
int body_bool(json_object *o, const char *key, bool *ret, struct err **err);
int body_int(json_object *o, const char *key, int64_t *ret, struct err **err);
int body_object(json_object *o, const char *key, bool required, json_object **ret,
		struct err **err);

/* Reads a {"key": "value"} object into `ret` (every value must be a string). */
int body_config(json_object *o, const char *key, struct kvlist *ret, struct err **err);

/* Reads a ["a", "b"] array of strings into a NULL-terminated *ret (an empty array gives an empty,
 * non-NULL one). 1 when present, 0 when absent (*ret left NULL). */
int body_string_list(json_object *o, const char *key, char ***ret, struct err **err);
