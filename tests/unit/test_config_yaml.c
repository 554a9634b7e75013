/* YAML in and out: types, errors with line numbers, round trips. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "config/yaml.h"

static json_object *parse_ok(const char *text)
{
	_cleanup_err_ struct err *e = NULL;
	json_object *tree = NULL;
	int r = config_yaml_parse(text, strlen(text), &tree, &e);

	if (r < 0)
		fail_msg("parse of \"%s\" failed: %s", text, err_msg(e, r));
	return tree;
}

/* Checks that `text` is refused with -EINVAL and a message that starts with the line. */
static void assert_parse_error(const char *text, int line, const char *needle)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *prefix = NULL;
	json_object *tree = NULL;

	assert_int_equal(config_yaml_parse(text, strlen(text), &tree, &e), -EINVAL);
	assert_null(tree);
	assert_non_null(e);
	assert_true(asprintf(&prefix, "Invalid YAML at line %d: ", line) > 0);
	if (strncmp(e->msg, prefix, strlen(prefix)) != 0)
		fail_msg("message \"%s\" does not start with \"%s\"", e->msg, prefix);
	if (needle && !strstr(e->msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, needle);
}

/* Emits `tree`, parses the result and checks it equals `tree`; returns the YAML text. */
static char *round_trip(json_object *tree)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_json_ json_object *back = NULL;
	char *text = NULL;
	int r = config_yaml_emit(tree, &text, &e);

	if (r < 0)
		fail_msg("emit failed: %s", err_msg(e, r));
	r = config_yaml_parse(text, strlen(text), &back, &e);
	if (r < 0)
		fail_msg("re-parse of\n%s\nfailed: %s", text, err_msg(e, r));
	if (!json_object_equal(tree, back))
		fail_msg("round trip changed the tree:\n%s\nwas %s\nnow %s", text,
			 json_object_to_json_string(tree), json_object_to_json_string(back));
	return text;
}

static void test_types(void **state)
{
	_cleanup_json_ json_object *t = parse_ok("name: c1\n"
						 "count: 12\n"
						 "neg: -7\n"
						 "big: 99999999999999999999\n"
						 "float: 1.5\n"
						 "on: true\n"
						 "off: false\n"
						 "yes_word: yes\n"
						 "nothing: null\n"
						 "tilde: ~\n"
						 "empty:\n"
						 "quoted: \"12\"\n"
						 "single: 'true'\n"
						 "config:\n"
						 "  limits.memory: 256MiB\n"
						 "  limits.cpu: 2\n"
						 "list:\n"
						 "  - a\n"
						 "  - 1\n"
						 "  - [x, {k: v}]\n");
	json_object *v = NULL;

	assert_true(json_object_is_type(t, json_type_object));
	assert_string_equal(json_object_get_string(json_object_object_get(t, "name")), "c1");
	v = json_object_object_get(t, "count");
	assert_true(json_object_is_type(v, json_type_int));
	assert_int_equal(json_object_get_int64(v), 12);
	assert_int_equal(json_object_get_int64(json_object_object_get(t, "neg")), -7);
	assert_true(json_object_is_type(json_object_object_get(t, "big"), json_type_string));
	assert_true(json_object_is_type(json_object_object_get(t, "float"), json_type_string));
	v = json_object_object_get(t, "on");
	assert_true(json_object_is_type(v, json_type_boolean));
	assert_true(json_object_get_boolean(v));
	assert_false(json_object_get_boolean(json_object_object_get(t, "off")));
	assert_true(json_object_is_type(json_object_object_get(t, "yes_word"), json_type_string));
	assert_true(json_object_object_get_ex(t, "nothing", &v));
	assert_null(v);
	assert_true(json_object_object_get_ex(t, "tilde", &v));
	assert_null(v);
	assert_true(json_object_object_get_ex(t, "empty", &v));
	assert_null(v);
	assert_true(json_object_is_type(json_object_object_get(t, "quoted"), json_type_string));
	assert_string_equal(json_object_get_string(json_object_object_get(t, "single")), "true");
	v = json_object_object_get(t, "config");
	assert_string_equal(json_object_get_string(json_object_object_get(v, "limits.memory")),
			    "256MiB");
	v = json_object_object_get(t, "list");
	assert_int_equal(json_object_array_length(v), 3);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)), "a");
	v = json_object_array_get_idx(json_object_array_get_idx(v, 2), 1);
	assert_string_equal(json_object_get_string(json_object_object_get(v, "k")), "v");
}

static void test_empty_documents(void **state)
{
	static const char *const empties[] = {"", "\n\n", "# just a comment\n", "---\n"};

	for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		_cleanup_json_ json_object *t = parse_ok(empties[i]);

		assert_true(json_object_is_type(t, json_type_object));
		assert_int_equal(json_object_object_length(t), 0);
	}
}

static void test_errors(void **state)
{
	assert_parse_error("a: 1\nb: 2\nc: d: e\n", 3,
			   "mapping values are not allowed in this context");
	assert_parse_error("a: 1\nb:\n  - x\n  y: 2\n", 4, NULL);
	assert_parse_error("a: [1, 2\n", 2, NULL);
	assert_parse_error("a: \"unterminated\n\n", 3, NULL);
	assert_parse_error("a: 1\n\tb: 2\n", 2, NULL);
	assert_parse_error("a: 1\nb: &x 2\n", 2, "anchors are not supported");
	assert_parse_error("a: 1\n\nb: *x\n", 3, "aliases are not supported");
	assert_parse_error("a: !!str 1\n", 1, "tags are not supported");
	assert_parse_error("a: 1\n---\nb: 2\n", 2, "only one document");
	assert_parse_error("a: 1\nb: 2\na: 3\n", 3, "duplicate key \"a\"");
	assert_parse_error("? [a, b]\n: 1\n", 1, "mapping keys");
	assert_parse_error("a: 1\nb: \"\xff\"\n", 2, NULL);
}

static void test_depth_limit(void **state)
{
	char deep[300];
	_cleanup_json_ json_object *ok = NULL;

	memset(deep, '[', 200);
	deep[200] = '\0';
	assert_parse_error(deep, 1, "nested deeper");
	memset(deep, '[', 10);
	memset(deep + 10, ']', 10);
	deep[20] = '\0';
	ok = parse_ok(deep);
	assert_true(json_object_is_type(ok, json_type_array));
}

static void test_emit_quoting(void **state)
{
	static const char *const tricky[] = {"true",
					     "false",
					     "yes",
					     "No",
					     "on",
					     "OFF",
					     "null",
					     "Null",
					     "~",
					     "12",
					     "-3",
					     "1.5",
					     "0x1f",
					     "1e3",
					     "",
					     " lead",
					     "trail ",
					     "a: b",
					     "a #b",
					     "- item",
					     "[x]",
					     "{y}",
					     "#c",
					     "&a",
					     "*a",
					     "!t",
					     "|",
					     ">",
					     "'q'",
					     "\"dq\"",
					     "%p",
					     "@at",
					     "`bt",
					     "?",
					     ":",
					     "a:",
					     "---",
					     "...",
					     "line1\nline2",
					     "line1\nline2\n",
					     "trail\n\n",
					     " indented\nx",
					     "tab\tinside",
					     "ctl\x01",
					     "caf\xc3\xa9",
					     "snap%d",
					     "{date:%Y}",
					     ".inf",
					     "<<",
					     "="};
	_cleanup_json_ json_object *obj = json_object_new_object();
	_cleanup_json_ json_object *arr = json_object_new_array();
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *text2 = NULL;

	for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
		json_object_array_add(arr, json_object_new_string(tricky[i]));
		/* The same strings as keys. */
		json_object_object_add(obj, tricky[i], json_object_new_string(tricky[i]));
	}
	json_object_array_add(arr, json_object_new_string_len("nul\0inside", 10));
	text = round_trip(arr);
	text2 = round_trip(obj);
	/* Values that would read as other types are double-quoted. */
	assert_non_null(strstr(text, "- \"true\"\n"));
	assert_non_null(strstr(text, "- \"12\"\n"));
	assert_non_null(strstr(text, "- \"\"\n"));
	assert_non_null(strstr(text, "- \"yes\"\n"));
	assert_non_null(strstr(text, "- \"a: b\"\n"));
	assert_non_null(strstr(text, "- snap%d\n"));
	assert_non_null(strstr(text2, "\"12\": \"12\"\n"));
}

static void test_emit_shapes(void **state)
{
	_cleanup_json_ json_object *t = json_tokener_parse(
	    "{\"name\":\"c1\",\"count\":42,\"neg\":-1,\"max\":9223372036854775807,"
	    "\"min\":-9223372036854775808,\"b\":true,\"f\":false,\"z\":null,"
	    "\"config\":{\"limits.memory\":\"256MiB\",\"user.x\":\"\"},"
	    "\"empty_obj\":{},\"empty_arr\":[],"
	    "\"list\":[1,\"two\",[3,[4]],{\"k\":null},[]],"
	    "\"description\":\"first line\\nsecond line\\n\"}");
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ json_object *root_null = NULL;
	_cleanup_json_ json_object *root_str = json_object_new_string("plain");
	_cleanup_free_ char *t2 = NULL;
	_cleanup_free_ char *t3 = NULL;

	assert_non_null(t);
	text = round_trip(t);
	/* Block style, keys in order. */
	assert_non_null(strstr(text, "name: c1\ncount: 42\n"));
	assert_non_null(strstr(text, "config:\n  limits.memory: 256MiB\n"));
	assert_non_null(strstr(text, "description: |\n  first line\n  second line\n"));
	assert_true(strstr(text, "name:") < strstr(text, "description:"));
	t2 = round_trip(root_null);
	t3 = round_trip(root_str);
	assert_string_equal(t3, "plain\n");
}

static void test_emit_invalid_utf8(void **state)
{
	_cleanup_json_ json_object *s = json_object_new_string("bad\xff");
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *text = NULL;

	assert_int_equal(config_yaml_emit(s, &text, &e), -EINVAL);
	assert_null(text);
	assert_non_null(strstr(e->msg, "UTF-8"));
}

static void test_incus_style_document(void **state)
{
	static const char doc[] = "architecture: x86_64\n"
				  "config:\n"
				  "  limits.memory: 256MiB\n"
				  "  security.privileged: \"false\"\n"
				  "description: \"\"\n"
				  "devices:\n"
				  "  root:\n"
				  "    path: /\n"
				  "    pool: default\n"
				  "    type: disk\n"
				  "profiles: []\n";
	_cleanup_json_ json_object *t = parse_ok(doc);
	_cleanup_free_ char *text = round_trip(t);

	/* Our own output of an Incus-style document is the document itself. */
	assert_string_equal(text, doc);
}

static void test_key_line(void **state)
{
	static const char doc[] = "name: c1\n"
				  "config:\n"
				  "  limits.memory: 64MiB\n"
				  "  nosuch.key: 1\n"
				  "devices:\n"
				  "  root:\n"
				  "    config: {nosuch.key: 2}\n"
				  "    pool: default\n"
				  "list:\n"
				  "  - nosuch.key: 3\n"
				  "nosuch.key: 4\n";
	const char *cfg_key[] = {"config", "nosuch.key"};
	const char *cfg_mem[] = {"config", "limits.memory"};
	const char *pool[] = {"devices", "root", "pool"};
	const char *top[] = {"nosuch.key"};
	const char *devices[] = {"devices"};
	const char *missing[] = {"config", "limits.cpu"};
	const char *too_deep[] = {"name", "x"};
	const char *bad_cfg[] = {"config", "nosuch.key"};
	const char *bad = "config:\n  a: 1\n   b: [\n";
	_cleanup_err_ struct err *e = NULL;

	assert_int_equal(config_yaml_key_line(doc, strlen(doc), cfg_key, 2, &e), 4);
	assert_int_equal(config_yaml_key_line(doc, strlen(doc), cfg_mem, 2, &e), 3);
	assert_int_equal(config_yaml_key_line(doc, strlen(doc), pool, 3, &e), 8);
	assert_int_equal(config_yaml_key_line(doc, strlen(doc), top, 1, &e), 11);
	assert_int_equal(config_yaml_key_line(doc, strlen(doc), devices, 1, &e), 5);
	assert_int_equal(config_yaml_key_line(doc, strlen(doc), missing, 2, &e), -ENOENT);
	assert_int_equal(config_yaml_key_line(doc, strlen(doc), too_deep, 2, &e), -ENOENT);
	assert_int_equal(config_yaml_key_line(doc, strlen(doc), cfg_key, 0, &e), -ENOENT);
	assert_null(e);
	assert_int_equal(config_yaml_key_line(bad, strlen(bad), bad_cfg, 2, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "Invalid YAML at line "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_types),
	    cmocka_unit_test(test_empty_documents),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_emit_quoting),
	    cmocka_unit_test(test_emit_shapes),
	    cmocka_unit_test(test_emit_invalid_utf8),
	    cmocka_unit_test(test_incus_style_document),
	    cmocka_unit_test(test_key_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
