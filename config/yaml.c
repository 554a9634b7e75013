#include "config/yaml.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "common/cleanup.h"
#include "common/err.h"

/* Deepest nesting of mappings and sequences accepted either way. Config files are a few
 * levels deep; the limit keeps hostile input from exhausting the stack in json-c's recursive
 * free and compare. */
#define YAML_MAX_DEPTH 64

/* What a plain (unquoted) scalar reads as. */
enum plain_kind {
	PLAIN_STRING,
	PLAIN_NULL,
	PLAIN_TRUE,
	PLAIN_FALSE,
	PLAIN_INT,
	PLAIN_KIND_MAX,
};

static bool mem_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* The YAML 1.2 core schema for the scalars we care about: null, booleans and whole numbers
 * that fit an int64. Floats and everything else stay strings. */
static enum plain_kind plain_classify(const char *s, size_t len, int64_t *ret_int)
{
	size_t i = 0;
	bool neg = false;
	uint64_t v = 0;

	if (len == 0 || mem_is(s, len, "~") || mem_is(s, len, "null") || mem_is(s, len, "Null") ||
	    mem_is(s, len, "NULL"))
		return PLAIN_NULL;
	if (mem_is(s, len, "true") || mem_is(s, len, "True") || mem_is(s, len, "TRUE"))
		return PLAIN_TRUE;
	if (mem_is(s, len, "false") || mem_is(s, len, "False") || mem_is(s, len, "FALSE"))
		return PLAIN_FALSE;
	if (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == len)
		return PLAIN_STRING;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return PLAIN_STRING;
		if (v > (UINT64_MAX - 9) / 10)
			return PLAIN_STRING;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
		return PLAIN_STRING;
	if (ret_int)
		*ret_int = neg ? (int64_t)(0 - v) : (int64_t)v;
	return PLAIN_INT;
}

/* ---- parsing ---- */

struct frame {
	json_object *node; /* borrowed: owned by its parent or by the builder's root */
	bool is_map;
	char *key; /* owned; the key waiting for its value in a mapping, or NULL */
};

struct builder {
	struct frame stack[YAML_MAX_DEPTH];
	size_t depth;
	json_object *root; /* owned */
	bool have_root;	   /* json null is a NULL pointer, so a flag says the root is set */
	int documents;
};

static void builder_done(struct builder *b)
{
	for (size_t i = 0; i < b->depth; i++) {
		free(b->stack[i].key);
		b->stack[i].key = NULL;
	}
	b->depth = 0;
	json_object_put(b->root);
	b->root = NULL;
}

static void parser_deletep(yaml_parser_t **p)
{
	if (*p)
		yaml_parser_delete(*p);
	*p = NULL;
}

static void event_deletep(yaml_event_t *e)
{
	yaml_event_delete(e);
}

static int at_line(struct err **err, const yaml_mark_t *mark, const char *what)
{
	return err_set(err, -EINVAL, "Invalid YAML at line %zu: %s", mark->line + 1, what);
}

/* Attaches `v` (ownership moves in, even on failure) at the current position. */
static int builder_add(struct builder *b, json_object *v)
{
	struct frame *top;

	if (b->depth == 0) {
		b->root = v;
		b->have_root = true;
		return 0;
	}
	top = &b->stack[b->depth - 1];
	if (!top->is_map)
		return json_object_array_add(top->node, v) < 0 ? (json_object_put(v), -ENOMEM) : 0;
	if (json_object_object_add(top->node, top->key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	free(top->key);
	top->key = NULL;
	return 0;
}

/* A scalar in key position of the innermost mapping: keys are always strings. */
static bool expecting_key(const struct builder *b)
{
	return b->depth > 0 && b->stack[b->depth - 1].is_map && !b->stack[b->depth - 1].key;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev, struct err **err)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	json_object *v = NULL;
	int64_t n = 0;

	if (expecting_key(b)) {
		struct frame *top = &b->stack[b->depth - 1];

		/* json-c keys are C strings: a NUL would silently cut the key short. */
		if (memchr(s, '\0', len))
			return at_line(err, &ev->start_mark,
				       "mapping keys cannot contain NUL characters");
		if (json_object_object_get_ex(top->node, s, NULL))
			return err_set(err, -EINVAL,
				       "Invalid YAML at line %zu: duplicate key \"%s\"",
				       ev->start_mark.line + 1, s);
		top->key = strndup(s, len);
		return top->key ? 0 : -ENOMEM;
	}
	/* An empty document reads as an empty object, so that an emptied `config edit` buffer
	 * means "no config" rather than a type error. */
	if (b->depth == 0 && plain && len == 0) {
		v = json_object_new_object();
		if (!v)
			return -ENOMEM;
		return builder_add(b, v);
	}
	switch (plain ? plain_classify(s, len, &n) : PLAIN_STRING) {
	case PLAIN_NULL:
		return builder_add(b, NULL);
	case PLAIN_TRUE:
		v = json_object_new_boolean(1);
		break;
	case PLAIN_FALSE:
		v = json_object_new_boolean(0);
		break;
	case PLAIN_INT:
		v = json_object_new_int64(n);
		break;
	case PLAIN_STRING:
	case PLAIN_KIND_MAX:
		v = json_object_new_string_len(s, (int)len);
		break;
	}
	if (!v)
		return -ENOMEM;
	return builder_add(b, v);
}

static int on_collection_start(struct builder *b, const yaml_event_t *ev, bool is_map,
			       struct err **err)
{
	json_object *v;
	int r;

	if (expecting_key(b))
		return at_line(err, &ev->start_mark, "mapping keys must be plain values");
	if (b->depth >= YAML_MAX_DEPTH)
		return err_set(err, -EINVAL,
			       "Invalid YAML at line %zu: nested deeper than %d levels",
			       ev->start_mark.line + 1, YAML_MAX_DEPTH);
	v = is_map ? json_object_new_object() : json_object_new_array();
	if (!v)
		return -ENOMEM;
	r = builder_add(b, v);
	if (r < 0)
		return r;
	b->stack[b->depth++] = (struct frame){.node = v, .is_map = is_map};
	return 0;
}

static int on_event(struct builder *b, const yaml_event_t *ev, struct err **err)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	case YAML_ALIAS_EVENT:
		return at_line(err, &ev->start_mark, "aliases are not supported");
	case YAML_DOCUMENT_START_EVENT:
		if (++b->documents > 1)
			return at_line(err, &ev->start_mark, "only one document is allowed");
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		b->depth--;
		return 0;
	case YAML_NO_EVENT:
	case YAML_STREAM_START_EVENT:
	case YAML_STREAM_END_EVENT:
	case YAML_DOCUMENT_END_EVENT:
		return 0;
	}
	if (anchor)
		return at_line(err, &ev->start_mark, "anchors are not supported");
	if (tag)
		return at_line(err, &ev->start_mark, "tags are not supported");
	if (ev->type == YAML_SCALAR_EVENT)
		return on_scalar(b, ev, err);
	return on_collection_start(b, ev, ev->type == YAML_MAPPING_START_EVENT, err);
}

/* libyaml reports reader errors (bad encoding) by byte offset rather than by mark. */
static size_t line_of_offset(const char *text, size_t len, size_t offset)
{
	size_t line = 1;

	for (size_t i = 0; i < offset && i < len; i++)
		if (text[i] == '\n')
			line++;
	return line;
}

static int parser_error(const yaml_parser_t *p, const char *text, size_t len, struct err **err)
{
	size_t line = p->error == YAML_READER_ERROR ? line_of_offset(text, len, p->problem_offset)
						    : p->problem_mark.line + 1;

	if (p->error == YAML_MEMORY_ERROR)
		return err_set(err, -ENOMEM, "Out of memory while parsing YAML");
	if (p->context)
		return err_set(err, -EINVAL, "Invalid YAML at line %zu: %s %s", line,
			       p->problem ? p->problem : "syntax error", p->context);
	return err_set(err, -EINVAL, "Invalid YAML at line %zu: %s", line,
		       p->problem ? p->problem : "syntax error");
}

int config_yaml_parse(const char *text, size_t len, json_object **ret, struct err **err)
{
	_cleanup_(builder_done) struct builder b = {0};
	_cleanup_(parser_deletep) yaml_parser_t *parser = NULL;
	yaml_parser_t storage;
	bool done = false;

	if (!yaml_parser_initialize(&storage))
		return err_set(err, -ENOMEM, "Out of memory while parsing YAML");
	parser = &storage;
	yaml_parser_set_input_string(parser, (const unsigned char *)(text ? text : ""),
				     text ? len : 0);
	while (!done) {
		_cleanup_(event_deletep) yaml_event_t ev = {0};
		int r;

		if (!yaml_parser_parse(parser, &ev))
			return parser_error(parser, text, len, err);
		done = ev.type == YAML_STREAM_END_EVENT;
		r = on_event(&b, &ev, err);
		if (r < 0)
			return r == -ENOMEM ? err_set(err, r, "Out of memory while parsing YAML")
					    : r;
	}
	if (!b.have_root) {
		b.root = json_object_new_object();
		if (!b.root)
			return err_set(err, -ENOMEM, "Out of memory while parsing YAML");
	}
	*ret = steal_pointer(&b.root);
	return 0;
}

/* ---- key lines ---- */

struct key_frame {
	bool is_map;
	bool expect_key;   /* in a mapping: the next node is a key */
	bool on_path;	   /* reached through path[0 .. depth - 1] */
	bool next_on_path; /* the value after the current key continues the path */
};

/* Marks the start of a value node in the innermost frame; returns whether it is on the path. */
static bool key_frame_value(struct key_frame *stack, size_t depth)
{
	struct key_frame *top;
	bool on;

	if (depth == 0)
		return true;
	top = &stack[depth - 1];
	on = top->is_map && top->on_path && top->next_on_path;
	if (top->is_map) {
		top->expect_key = true;
		top->next_on_path = false;
	}
	return on;
}

int config_yaml_key_line(const char *text, size_t len, const char *const *path, size_t n,
			 struct err **err)
{
	_cleanup_(parser_deletep) yaml_parser_t *parser = NULL;
	struct key_frame stack[YAML_MAX_DEPTH];
	yaml_parser_t storage;
	size_t depth = 0;
	bool done = false;

	if (n == 0)
		return -ENOENT;
	if (!yaml_parser_initialize(&storage))
		return err_set(err, -ENOMEM, "Out of memory while parsing YAML");
	parser = &storage;
	yaml_parser_set_input_string(parser, (const unsigned char *)(text ? text : ""),
				     text ? len : 0);
	while (!done) {
		_cleanup_(event_deletep) yaml_event_t ev = {0};
		struct key_frame *top;
		bool on;

		if (!yaml_parser_parse(parser, &ev))
			return parser_error(parser, text, len, err);
		top = depth > 0 ? &stack[depth - 1] : NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_SCALAR_EVENT:
			if (top && top->is_map && top->expect_key) {
				top->expect_key = false;
				top->next_on_path = top->on_path && depth <= n &&
						    strcmp((const char *)ev.data.scalar.value,
							   path[depth - 1]) == 0;
				if (top->next_on_path && depth == n)
					return (int)ev.start_mark.line + 1;
			} else {
				key_frame_value(stack, depth);
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (depth >= YAML_MAX_DEPTH)
				return err_set(
				    err, -EINVAL,
				    "Invalid YAML at line %zu: nested deeper than %d levels",
				    ev.start_mark.line + 1, YAML_MAX_DEPTH);
			on = key_frame_value(stack, depth);
			stack[depth++] = (struct key_frame){
			    .is_map = ev.type == YAML_MAPPING_START_EVENT,
			    .expect_key = true,
			    .on_path = on,
			};
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_ALIAS_EVENT:
			key_frame_value(stack, depth);
			break;
		case YAML_NO_EVENT:
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		}
	}
	return -ENOENT;
}

/* ---- emission ---- */

struct buf {
	char *data; /* owned, NUL-terminated */
	size_t len, cap;
};

static int buf_write(void *data, unsigned char *bytes, size_t size)
{
	struct buf *b = data;

	if (b->len + size + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + size + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, bytes, size);
	b->len += size;
	b->data[b->len] = '\0';
	return 1;
}

static void buf_done(struct buf *b)
{
	free(b->data);
	*b = (struct buf){0};
}

static void emitter_deletep(yaml_emitter_t **e)
{
	if (*e)
		yaml_emitter_delete(*e);
	*e = NULL;
}

static bool str_ieq(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/* Something another reader may take for a number or a date: floats, 0x1f, 0o17, 1_000,
 * 12:30 and 2026-11-21 (YAML 1.1). Errs on the side of quoting, which is always safe. */
static bool looks_numeric(const char *s, size_t len)
{
	static const char chars[] = "0123456789abcdefABCDEFxXoO_.:+-";
	size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;

	if (i == len || !((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
		return false;
	for (; i < len; i++)
		if (!memchr(chars, s[i], sizeof(chars) - 1))
			return false;
	return true;
}

/* True when a plain `s` would be read back (by us, or by a YAML 1.1 reader such as the ones
 * Incus users pipe our output into) as something other than this string. */
static bool needs_quotes(const char *s, size_t len)
{
	static const char *const yaml11[] = {"y",    "n",     "yes",   "no",   "on", "off",
					     ".inf", "-.inf", "+.inf", ".nan", "<<", "="};
	static const char specials[] = "-?:,[]{}#&*!|>'\"%@`";

	if (len == 0 || plain_classify(s, len, NULL) != PLAIN_STRING)
		return true;
	for (size_t i = 0; i < sizeof(yaml11) / sizeof(yaml11[0]); i++)
		if (str_ieq(s, len, yaml11[i]))
			return true;
	if (looks_numeric(s, len))
		return true;
	if (memchr(specials, s[0], sizeof(specials) - 1))
		return true;
	if (s[0] == ' ' || s[len - 1] == ' ' || s[0] == '\t' || s[len - 1] == '\t')
		return true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < ' ' || c == 0x7f)
			return true;
		if (i + 1 < len && ((c == ':' && (s[i + 1] == ' ' || s[i + 1] == '\t')) ||
				    ((c == ' ' || c == '\t') && s[i + 1] == '#')))
			return true;
	}
	return s[len - 1] == ':';
}

/* Whether a multi-line string can be written as a literal block: only printable text and
 * newlines, so the block reads back byte for byte. */
static bool literal_ok(const char *s, size_t len)
{
	if (!memchr(s, '\n', len))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < ' ' && c != '\n') || c == 0x7f)
			return false;
	}
	/* A leading space or break needs an indentation indicator, which some readers get
	 * wrong; libyaml itself falls back to double quotes for the other hard cases. */
	return s[0] != ' ' && s[0] != '\n';
}

struct emit {
	yaml_emitter_t *emitter;
	struct err **err;
};

static int emit_event(struct emit *e, yaml_event_t *ev, int ok)
{
	if (!ok)
		return err_set(e->err, -EINVAL, "Cannot write YAML: a string is not valid UTF-8");
	if (!yaml_emitter_emit(e->emitter, ev))
		return err_set(e->err, e->emitter->error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL,
			       "Cannot write YAML: %s",
			       e->emitter->problem ? e->emitter->problem : "emitter error");
	return 0;
}

static int emit_scalar(struct emit *e, const char *s, size_t len, yaml_scalar_style_t style)
{
	yaml_event_t ev;
	int ok =
	    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)len, 1, 1, style);

	return emit_event(e, &ev, ok);
}

static int emit_string(struct emit *e, const char *s, size_t len, bool is_key)
{
	yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;

	if (!is_key && literal_ok(s, len))
		style = YAML_LITERAL_SCALAR_STYLE;
	else if (needs_quotes(s, len))
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	return emit_scalar(e, s, len, style);
}

static int emit_node(struct emit *e, json_object *o, int depth)
{
	yaml_event_t ev;
	const char *s;
	int r;

	if (depth > YAML_MAX_DEPTH)
		return err_set(e->err, -EINVAL, "Cannot write YAML: nested deeper than %d levels",
			       YAML_MAX_DEPTH);
	switch (json_object_get_type(o)) {
	case json_type_null:
		return emit_scalar(e, "null", 4, YAML_PLAIN_SCALAR_STYLE);
	case json_type_boolean:
		s = json_object_get_boolean(o) ? "true" : "false";
		return emit_scalar(e, s, strlen(s), YAML_PLAIN_SCALAR_STYLE);
	case json_type_int:
	case json_type_double:
		s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		return emit_scalar(e, s, strlen(s), YAML_PLAIN_SCALAR_STYLE);
	case json_type_string:
		return emit_string(e, json_object_get_string(o),
				   (size_t)json_object_get_string_len(o), false);
	case json_type_array:
		r = emit_event(e, &ev,
			       yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
								    YAML_BLOCK_SEQUENCE_STYLE));
		if (r < 0)
			return r;
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			r = emit_node(e, json_object_array_get_idx(o, i), depth + 1);
			if (r < 0)
				return r;
		}
		return emit_event(e, &ev, yaml_sequence_end_event_initialize(&ev));
	case json_type_object:
		r = emit_event(e, &ev,
			       yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
								   YAML_BLOCK_MAPPING_STYLE));
		if (r < 0)
			return r;
		json_object_object_foreach(o, key, val)
		{
			r = emit_string(e, key, strlen(key), true);
			if (r < 0)
				return r;
			r = emit_node(e, val, depth + 1);
			if (r < 0)
				return r;
		}
		return emit_event(e, &ev, yaml_mapping_end_event_initialize(&ev));
	}
	return err_set(e->err, -EINVAL, "Cannot write YAML: unknown JSON type");
}

int config_yaml_emit(json_object *tree, char **ret, struct err **err)
{
	_cleanup_(emitter_deletep) yaml_emitter_t *emitter = NULL;
	_cleanup_(buf_done) struct buf b = {0};
	yaml_emitter_t storage;
	struct emit e = {.err = err};
	yaml_event_t ev;
	int r;

	if (!yaml_emitter_initialize(&storage))
		return err_set(err, -ENOMEM, "Out of memory while writing YAML");
	emitter = &storage;
	e.emitter = emitter;
	yaml_emitter_set_output(emitter, buf_write, &b);
	yaml_emitter_set_unicode(emitter, 1);
	yaml_emitter_set_indent(emitter, 2);
	/* No line folding: long values stay on one line, which diff and grep like better. */
	yaml_emitter_set_width(emitter, -1);

	r = emit_event(&e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	if (r >= 0)
		r = emit_event(&e, &ev,
			       yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
	if (r >= 0)
		r = emit_node(&e, tree, 0);
	if (r >= 0)
		r = emit_event(&e, &ev, yaml_document_end_event_initialize(&ev, 1));
	if (r >= 0)
		r = emit_event(&e, &ev, yaml_stream_end_event_initialize(&ev));
	if (r < 0)
		return r;
	if (!yaml_emitter_flush(emitter))
		return err_set(err, -ENOMEM, "Out of memory while writing YAML");
	if (!b.data && !buf_write(&b, (unsigned char *)"", 0))
		return err_set(err, -ENOMEM, "Out of memory while writing YAML");
	*ret = steal_pointer(&b.data);
	return 0;
}
