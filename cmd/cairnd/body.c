#include "cmd/cairnd/body.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/utf8.h"
#include "common/util.h"

/* True when the JSON text holds the escape \u0000. Escapes are read in pairs, so "\\u0000" (an
 * escaped backslash, then text) is not one. Quotes are not tracked: json-c also reads comments
 * and single-quoted strings, where a '"' would put a tracker out of step, and a backslash can
 * stand nowhere but in a string or a comment anyway. */
static bool has_escaped_nul(const char *text, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (text[i] != '\\')
			continue;
		if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0)
			return true;
		i++;
	}
	return false;
}

/* Every string and key in `o` is valid UTF-8 without NUL. */
static bool all_text(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string:
		return utf8_valid(json_object_get_string(o), (size_t)json_object_get_string_len(o));
	case json_type_object: {
		json_object_object_foreach(o, key, value)
		{
			if (!utf8_valid(key, strlen(key)) || !all_text(value))
				return false;
		}
		return true;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (!all_text(json_object_array_get_idx(o, i)))
				return false;
		return true;
	case json_type_null:
	case json_type_boolean:
	case json_type_double:
	case json_type_int:
		return true;
	}
	return false;
}

int body_parse(const char *text, size_t len, json_object **ret, struct err **err)
{
	_cleanup_json_ json_object *o = NULL;
	struct json_tokener *tok;
	size_t end;

	if (len > INT_MAX - 1)
		return err_set(err, -EINVAL, "Invalid request body: it is too large");
	if (memchr(text, '\0', len))
		return err_set(err, -EINVAL, "Invalid request body: it holds a NUL byte");
	if (has_escaped_nul(text, len))
		return err_set(err, -EINVAL, "Invalid request body: a string holds \\u0000");
	tok = json_tokener_new();
	if (!tok)
		return err_set(err, -ENOMEM, "Out of memory");
	/* JSON as RFC 8259 has it: json-c would also read comments, single quotes and trailing
	 * commas, which no client sends and which only widen what must be checked. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	/* Up to and with the terminating NUL, so that a bare number at the end is complete. */
	o = json_tokener_parse_ex(tok, text, (int)len + 1);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o)
		return err_set(err, -EINVAL, "Invalid JSON in the request body");
	/* Only white space may follow the document. */
	for (; end < len; end++)
		if (!strchr(" \t\r\n", text[end]))
			return err_set(err, -EINVAL, "Invalid JSON in the request body");
	if (!all_text(o))
		return err_set(err, -EINVAL, "Invalid request body: a string is not valid UTF-8");
	*ret = steal_pointer(&o);
	return 0;
}

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

int body_string_list(json_object *o, const char *key, char ***ret, struct err **err)
{
	_cleanup_strv_ char **v = NULL;
	json_object *a = NULL;
	size_t n;

	*ret = NULL;
	if (!o || !json_object_object_get_ex(o, key, &a) || !a)
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return err_set(err, -EINVAL, "Field \"%s\" must be an array of strings", key);
	n = json_object_array_length(a);
	v = calloc(1, sizeof(char *));
	if (!v)
		return err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);

		if (!e || !json_object_is_type(e, json_type_string))
			return err_set(err, -EINVAL, "Field \"%s\" must be an array of strings",
				       key);
		if (strv_push(&v, json_object_get_string(e)) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	*ret = steal_pointer(&v);
	return 1;
}
