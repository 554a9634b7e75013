#pragma once

/*
 * YAML in and out, through libyaml, as json-c trees so that the rest of the code handles one
 * representation. Only what Incus files use: mappings, sequences and scalars in one document.
 */

#include <json-c/json.h>

struct err;

/*
 * Parses one YAML document into a json-c tree. Plain scalars `true`/`false` become booleans,
 * `null`/`~`/empty become JSON null, whole numbers become integers, everything else (and every
 * quoted scalar) a string. Anchors, aliases, tags and multiple documents are refused. An empty
 * document gives an empty object.
 *
 * On error returns -EINVAL and a message that names the line, e.g.
 * `Invalid YAML at line 3: mapping values are not allowed in this context`.
 * The tree is the caller's (json_object_put).
 */
int config_yaml_parse(const char *text, size_t len, json_object **ret, struct err **err);

/*
 * Writes a json-c tree as a YAML document (block style, keys in the object's order). Strings
 * that would read back as something else ("true", "12", "", "a: b") are quoted. *ret is the
 * caller's to free.
 */
int config_yaml_emit(json_object *tree, char **ret, struct err **err);
