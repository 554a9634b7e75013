#include "api/filter.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"

/* One word of the expression: [start, start+len), quotes removed. */
struct word {
	const char *start;
	size_t len;
};

/* Reads the next word at *p; false at the end. A quoted word runs to its closing quote. */
static bool next_word(const char **p, struct word *w, bool *bad)
{
	const char *s = *p;

	while (*s == ' ')
		s++;
	if (!*s)
		return false;
	if (*s == '"' || *s == '\'') {
		const char *end = strchr(s + 1, *s);

		if (!end) {
			*bad = true;
			return false;
		}
		w->start = s + 1;
		w->len = (size_t)(end - s - 1);
		*p = end + 1;
		return true;
	}
	w->start = s;
	while (*s && *s != ' ')
		s++;
	w->len = (size_t)(s - w->start);
	*p = s;
	return true;
}

static bool word_is(const struct word *w, const char *text)
{
	return w->len == strlen(text) && strncasecmp(w->start, text, w->len) == 0;
}

/* The field's value as text into buf; false when the object has no such field. */
static bool field_text(json_object *obj, const struct word *field, char *buf, size_t size)
{
	char name[256];
	const char *dot;
	json_object *v = NULL;

	if (field->len >= sizeof(name))
		return false;
	memcpy(name, field->start, field->len);
	name[field->len] = '\0';
	dot = strchr(name, '.');
	if (dot &&
	    (strncmp(name, "config.", 7) == 0 || strncmp(name, "expanded_config.", 16) == 0)) {
		json_object *cfg = NULL;
		char top[32];

		snprintf(top, sizeof(top), "%.*s", (int)(dot - name), name);
		if (!json_object_object_get_ex(obj, top, &cfg) ||
		    !json_object_object_get_ex(cfg, dot + 1, &v))
			return false;
	} else if (!json_object_object_get_ex(obj, name, &v)) {
		return false;
	}
	if (json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array))
		return false;
	snprintf(buf, size, "%s", v ? json_object_get_string(v) : "");
	return true;
}

int api_filter_match(const char *expr, json_object *obj, struct err **err)
{
	const char *p = expr;
	bool any = false, all = true, bad = false;
	struct word w;

	if (!expr || !*expr)
		return 1;
	/* An "or" of "and" groups: `all` holds the current group, `any` the groups so far. */
	for (;;) {
		struct word field, op, value;
		bool negate = false, eq, hit;
		char text[4096];

		if (!next_word(&p, &field, &bad))
			break;
		if (word_is(&field, "not")) {
			negate = true;
			if (!next_word(&p, &field, &bad))
				break;
		}
		if (!next_word(&p, &op, &bad) || !next_word(&p, &value, &bad)) {
			bad = true;
			break;
		}
		if (word_is(&op, "eq"))
			eq = true;
		else if (word_is(&op, "ne"))
			eq = false;
		else
			return err_set(
			    err, -EINVAL,
			    "Invalid filter \"%s\": only \"eq\" and \"ne\" are supported", expr);
		hit = field_text(obj, &field, text, sizeof(text)) && strlen(text) == value.len &&
		      strncasecmp(text, value.start, value.len) == 0;
		if (!eq)
			hit = !hit;
		if (negate)
			hit = !hit;
		all = all && hit;
		if (!next_word(&p, &w, &bad)) {
			if (bad)
				break;
			return any || all ? 1 : 0;
		}
		if (word_is(&w, "or")) {
			any = any || all;
			all = true;
		} else if (!word_is(&w, "and")) {
			bad = true;
			break;
		}
	}
	return err_set(err, -EINVAL, "Invalid filter \"%s\"", expr);
}
