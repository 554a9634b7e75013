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
 * The 1-based line of a key in a YAML document, following `path` (n keys) through nested
 * mappings: {"config", "limits.memory"} finds `limits.memory` inside the top-level `config`
 * mapping. Lets `cairn config edit` point at the line of a key that fails validation.
 * Returns the line, -ENOENT (no message) when the path is not there, or -EINVAL with the same
 * message as config_yaml_parse() when the text is not valid YAML.
 */
int config_yaml_key_line(const char *text, size_t len, const char *const *path, size_t n,
			 struct err **err);

/*
 * Writes a json-c tree as a YAML document (block style, keys in the object's order). Strings
 * that would read back as something else ("true", "12", "", "a: b") are quoted. *ret is the
 * caller's to free.
 */
int config_yaml_emit(json_object *tree, char **ret, struct err **err);
