/* The client's pure parts for profiles and devices: KEY=VALUE words into a device, the device
 * that `config device override` makes, the YAML that `profile edit` reads, the views that `show`
 * prints, the profile list, and the table's profile commands. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cairn/cli.h"
#include "common/cleanup.h"
#include "common/err.h"

#define CAPTURE(text, call)                                                                        \
	do {                                                                                       \
		size_t _len = 0;                                                                   \
		FILE *out = open_memstream(&(text), &_len);                                        \
		assert_non_null(out);                                                              \
		call;                                                                              \
		fclose(out);                                                                       \
	} while (0)

static const char *json(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
}

static void test_device_parse(void **state)
{
	char *words[] = {"source=/srv/data", "path=/mnt/data", "readonly=true", "x=a=b", "empty="};
	_cleanup_json_ json_object *dev = NULL;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	assert_int_equal(cli_device_parse("disk", words, 5, &dev, &e), 0);
	assert_string_equal(json(dev),
			    "{\"type\":\"disk\",\"source\":\"/srv/data\",\"path\":\"/mnt/"
			    "data\",\"readonly\":\"true\",\"x\":\"a=b\",\"empty\":\"\"}");
}

static void test_device_parse_errors(void **state)
{
	char *no_value[] = {"path=/mnt", "source"};
	char *no_key[] = {"=x"};
	_cleanup_json_ json_object *dev = NULL;

	(void)state;
	{
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(cli_device_parse("disk", no_value, 2, &dev, &e), -EINVAL);
		assert_string_equal(err_msg(e, -EINVAL), "No value found in \"source\"");
	}
	{
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(cli_device_parse("disk", no_key, 1, &dev, &e), -EINVAL);
		assert_string_equal(err_msg(e, -EINVAL), "Invalid device key in \"=x\"");
	}
	assert_null(dev);
}

static void test_device_override(void **state)
{
	_cleanup_json_ json_object *own = json_tokener_parse("{\"data\": {\"type\": \"none\"}}");
	_cleanup_json_ json_object *expanded = json_tokener_parse(
	    "{\"root\": {\"type\": \"disk\", \"path\": \"/\", \"pool\": \"default\"},"
	    " \"data\": {\"type\": \"none\"}}");
	char *words[] = {"size=1GiB"};
	char *bad[] = {"size"};
	_cleanup_json_ json_object *dev = NULL;
	_cleanup_json_ json_object *dev2 = NULL;

	(void)state;
	{
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(cli_device_override(own, expanded, "root", words, 1, &dev, &e), 0);
		assert_string_equal(
		    json(dev),
		    "{\"type\":\"disk\",\"path\":\"/\",\"pool\":\"default\",\"size\":\"1GiB\"}");
	}
	{
		_cleanup_err_ struct err *e = NULL;

		/* No words: a plain copy, to change later with `config device set`. */
		assert_int_equal(cli_device_override(own, expanded, "root", NULL, 0, &dev2, &e), 0);
		assert_string_equal(json(dev2),
				    "{\"type\":\"disk\",\"path\":\"/\",\"pool\":\"default\"}");
	}
	{
		_cleanup_err_ struct err *e = NULL;
		json_object *none = NULL;

		assert_int_equal(cli_device_override(own, expanded, "data", NULL, 0, &none, &e),
				 -EEXIST);
		assert_string_equal(err_msg(e, -EEXIST), "The device already exists");
	}
	{
		_cleanup_err_ struct err *e = NULL;
		json_object *none = NULL;

		assert_int_equal(cli_device_override(own, expanded, "eth0", NULL, 0, &none, &e),
				 -ENOENT);
		assert_string_equal(err_msg(e, -ENOENT), "The profile device doesn't exist");
	}
	{
		_cleanup_err_ struct err *e = NULL;
		json_object *none = NULL;

		assert_int_equal(cli_device_override(own, expanded, "root", bad, 1, &none, &e),
				 -EINVAL);
		assert_null(none);
	}
	{
		_cleanup_err_ struct err *e = NULL;
		json_object *none = NULL;

		/* An instance from an older daemon has no expanded devices: nothing to copy. */
		assert_int_equal(cli_device_override(NULL, NULL, "root", NULL, 0, &none, &e),
				 -ENOENT);
	}
}

static const char profile_json[] =
    "{\"name\": \"web\", \"description\": \"Web servers\","
    " \"config\": {\"snapshots.schedule\": \"@daily\", \"limits.memory\": \"256MiB\"},"
    " \"devices\": {\"root\": {\"type\": \"disk\", \"pool\": \"default\", \"path\": \"/\"}},"
    " \"used_by\": [\"/1.0/instances/c1\"]}";

static void test_profile_view(void **state)
{
	_cleanup_json_ json_object *p = json_tokener_parse(profile_json);
	_cleanup_json_ json_object *view = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	view = cli_profile_view(p);
	assert_non_null(view);
	CAPTURE(text, assert_int_equal(cli_render_yaml(out, view, &e), 0));
	assert_string_equal(text, "config:\n"
				  "  limits.memory: 256MiB\n"
				  "  snapshots.schedule: \"@daily\"\n"
				  "description: Web servers\n"
				  "devices:\n"
				  "  root:\n"
				  "    path: /\n"
				  "    pool: default\n"
				  "    type: disk\n"
				  "name: web\n"
				  "used_by:\n"
				  "- /1.0/instances/c1\n");
}

static void test_instance_view_expanded(void **state)
{
	_cleanup_json_ json_object *inst = json_tokener_parse(
	    "{\"name\": \"c1\", \"architecture\": \"x86_64\", \"profiles\": [\"default\", \"web\"],"
	    " \"config\": {\"user.own\": \"1\"}, \"devices\": {\"data\": {\"type\": \"none\"}},"
	    " \"expanded_config\": {\"user.own\": \"1\", \"snapshots.schedule\": \"@daily\"},"
	    " \"expanded_devices\": {\"root\": {\"type\": \"disk\", \"path\": \"/\","
	    "   \"pool\": \"default\"}, \"data\": {\"type\": \"none\"}},"
	    " \"ephemeral\": false, \"stateful\": false, \"description\": \"\"}");
	_cleanup_json_ json_object *own = cli_instance_view(inst, false);
	_cleanup_json_ json_object *exp = cli_instance_view(inst, true);
	_cleanup_free_ char *t1 = NULL, *t2 = NULL;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	CAPTURE(t1, assert_int_equal(cli_render_yaml(out, own, &e), 0));
	assert_string_equal(t1, "architecture: x86_64\n"
				"config:\n"
				"  user.own: \"1\"\n"
				"devices:\n"
				"  data:\n"
				"    type: none\n"
				"ephemeral: false\n"
				"profiles:\n"
				"- default\n"
				"- web\n"
				"stateful: false\n"
				"description: \"\"\n");
	CAPTURE(t2, assert_int_equal(cli_render_yaml(out, exp, &e), 0));
	assert_string_equal(t2, "architecture: x86_64\n"
				"config:\n"
				"  snapshots.schedule: \"@daily\"\n"
				"  user.own: \"1\"\n"
				"devices:\n"
				"  data:\n"
				"    type: none\n"
				"  root:\n"
				"    path: /\n"
				"    pool: default\n"
				"    type: disk\n"
				"ephemeral: false\n"
				"profiles:\n"
				"- default\n"
				"- web\n"
				"stateful: false\n"
				"description: \"\"\n");
}

static void test_profile_from_yaml(void **state)
{
	_cleanup_json_ json_object *cur = json_tokener_parse(profile_json);
	_cleanup_json_ json_object *body = NULL;
	_cleanup_json_ json_object *body2 = NULL;
	_cleanup_json_ json_object *body3 = NULL;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	/* What `profile show` printed, edited: every field is taken, name and used_by ignored. */
	assert_int_equal(cli_profile_from_yaml("config:\n"
					       "  limits.memory: 512MiB\n"
					       "  limits.cpu: 2\n"
					       "description: Web\n"
					       "devices:\n"
					       "  data:\n"
					       "    type: disk\n"
					       "    source: /srv\n"
					       "    path: /srv\n"
					       "    readonly: true\n"
					       "name: other\n"
					       "used_by: []\n",
					       cur, &body, &e),
			 0);
	assert_string_equal(json(body),
			    "{\"description\":\"Web\",\"config\":{\"limits.memory\":\"512MiB\","
			    "\"limits.cpu\":\"2\"},\"devices\":{\"data\":{\"type\":\"disk\","
			    "\"source\":\"/srv\",\"path\":\"/srv\",\"readonly\":\"true\"}}}");
	/* A field left out keeps its value. */
	assert_int_equal(cli_profile_from_yaml("config:\n  user.a: b\n", cur, &body2, &e), 0);
	assert_string_equal(json(body2),
			    "{\"description\":\"Web servers\",\"config\":{\"user.a\":\"b\"},"
			    "\"devices\":{\"root\":{\"path\":\"/\",\"pool\":\"default\","
			    "\"type\":\"disk\"}}}");
	/* An empty field empties it; an empty text changes nothing. */
	assert_int_equal(cli_profile_from_yaml("devices:\nconfig: {}\n", cur, &body3, &e), 0);
	assert_string_equal(json(body3),
			    "{\"description\":\"Web servers\",\"config\":{},\"devices\":{}}");
}

static void expect_yaml_error(const char *text, const char *msg)
{
	_cleanup_json_ json_object *cur = json_tokener_parse(profile_json);
	_cleanup_err_ struct err *e = NULL;
	json_object *body = NULL;

	assert_int_equal(cli_profile_from_yaml(text, cur, &body, &e), -EINVAL);
	assert_null(body);
	assert_string_equal(err_msg(e, -EINVAL), msg);
}

static void test_profile_from_yaml_errors(void **state)
{
	(void)state;
	expect_yaml_error("- a\n- b\n", "Invalid profile at line 1: expected a mapping");
	expect_yaml_error("description: x\nconfig: [a]\n",
			  "Invalid profile at line 2: \"config\" must map keys to values");
	expect_yaml_error("config:\n  user.a:\n    nested: x\n",
			  "Invalid profile at line 2: The value of \"user.a\" must be a string");
	expect_yaml_error(
	    "devices: nope\n",
	    "Invalid profile at line 1: \"devices\" must map device names to devices");
	expect_yaml_error("devices:\n  root: disk\n",
			  "Invalid profile at line 2: Device \"root\" must map keys to values");
	expect_yaml_error("description: [1]\n",
			  "Invalid profile at line 1: \"description\" must be a string");
}

static void test_profile_list(void **state)
{
	_cleanup_json_ json_object *list = json_tokener_parse(
	    "[{\"name\": \"web\", \"description\": \"Web servers\", \"used_by\": "
	    "   [\"/1.0/instances/c1\", \"/1.0/instances/c2\"]},"
	    " {\"name\": \"default\", \"description\": \"Default cairn profile\", \"used_by\": "
	    "[]}]");
	_cleanup_free_ char *csv = NULL, *table = NULL;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	CAPTURE(csv, assert_int_equal(cli_render_profile_list(out, list, CLI_FORMAT_CSV, &e), 0));
	assert_string_equal(csv, "default,Default cairn profile,0\n"
				 "web,Web servers,2\n");
	CAPTURE(table,
		assert_int_equal(cli_render_profile_list(out, list, CLI_FORMAT_TABLE, &e), 0));
	assert_string_equal(table, "+---------+-----------------------+---------+\n"
				   "|  NAME   |      DESCRIPTION      | USED BY |\n"
				   "+---------+-----------------------+---------+\n"
				   "| default | Default cairn profile | 0       |\n"
				   "+---------+-----------------------+---------+\n"
				   "| web     | Web servers           | 2       |\n"
				   "+---------+-----------------------+---------+\n");
}

/* The table's new commands parse as a user types them. */
static void test_parse_profile_commands(void **state)
{
	char *launch[] = {"launch", "busybox", "c1", "-p", "default", "--profile", "web", "-p=x"};
	char *dev[] = {"config", "device", "override", "c1", "root", "size=1GiB"};
	char *padd[] = {"profile", "device", "add", "web", "data", "disk", "path=/mnt"};
	char *show[] = {"config", "show", "c1", "--expanded"};
	(void)state;
	{
		_cleanup_(cli_args_done) struct cli_args a = {0};
		_cleanup_err_ struct err *e = NULL;
		char *const *p;

		assert_int_equal(cli_parse(cli_root(), launch, 8, &a, &e), 0);
		p = cli_flag_list(&a, "profile");
		assert_string_equal(p[0], "default");
		assert_string_equal(p[1], "web");
		assert_string_equal(p[2], "x");
		assert_null(p[3]);
	}
	{
		_cleanup_(cli_args_done) struct cli_args a = {0};
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(cli_parse(cli_root(), dev, 6, &a, &e), 0);
		assert_string_equal(a.path, "cairn config device override");
		assert_int_equal(a.argc, 3);
	}
	{
		_cleanup_(cli_args_done) struct cli_args a = {0};
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(cli_parse(cli_root(), padd, 7, &a, &e), 0);
		assert_string_equal(a.path, "cairn profile device add");
		assert_int_equal(a.argc, 4);
	}
	{
		_cleanup_(cli_args_done) struct cli_args a = {0};
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(cli_parse(cli_root(), show, 4, &a, &e), 0);
		assert_true(cli_flag_bool(&a, "expanded"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_device_parse),
	    cmocka_unit_test(test_device_parse_errors),
	    cmocka_unit_test(test_device_override),
	    cmocka_unit_test(test_profile_view),
	    cmocka_unit_test(test_instance_view_expanded),
	    cmocka_unit_test(test_profile_from_yaml),
	    cmocka_unit_test(test_profile_from_yaml_errors),
	    cmocka_unit_test(test_profile_list),
	    cmocka_unit_test(test_parse_profile_commands),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
