/* The client's rendering: Incus box tables, csv, json and yaml of a fixed instance list, the
 * image and pool lists, and `cairn info` with its snapshot section. */

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

static const char instances_json[] =
    "["
    "{\"name\": \"web\", \"type\": \"container\", \"status\": \"Running\", \"status_code\": 103,"
    " \"architecture\": \"x86_64\", \"created_at\": \"2026-11-21T15:57:03Z\","
    " \"description\": \"front, \\\"main\\\"\", \"ephemeral\": false,"
    " \"devices\": {\"root\": {\"type\": \"disk\", \"path\": \"/\", \"pool\": \"fast\"}},"
    " \"snapshots\": [{\"name\": \"snap0\"}, {\"name\": \"snap1\"}],"
    " \"state\": {\"status\": \"Running\", \"pid\": 4321, \"processes\": 5,"
    "   \"network\": {\"lo\": {\"addresses\": [{\"family\": \"inet\", \"address\": \"127.0.0.1\","
    "        \"scope\": \"local\"}]},"
    "     \"eth1\": {\"addresses\": [{\"family\": \"inet\", \"address\": \"10.0.1.5\","
    "        \"scope\": \"global\"}]},"
    "     \"eth0\": {\"addresses\": [{\"family\": \"inet\", \"address\": \"10.0.0.2\","
    "        \"scope\": \"global\"}, {\"family\": \"inet6\", \"address\": \"fd42::2\","
    "        \"scope\": \"global\"}, {\"family\": \"inet6\", \"address\": \"fe80::1\","
    "        \"scope\": \"link\"}]}}}},"
    "{\"name\": \"db\", \"type\": \"container\", \"status\": \"Stopped\", \"status_code\": 102,"
    " \"architecture\": \"x86_64\", \"ephemeral\": true, \"state\": {\"status\": \"Stopped\","
    " \"pid\": 0, \"processes\": -1}}"
    "]";

/* Runs `call` with `out` open on a memory stream whose text ends up in `text`. */
#define CAPTURE(text, call)                                                                        \
	do {                                                                                       \
		size_t _len = 0;                                                                   \
		FILE *out = open_memstream(&(text), &_len);                                        \
		assert_non_null(out);                                                              \
		call;                                                                              \
		fclose(out);                                                                       \
	} while (0)

static void test_table_box(void **state)
{
	static const char *const headers[] = {"NAME", "STATE", "TYPE"};
	struct cli_table t = {.ncols = 3, .headers = headers};
	_cleanup_free_ char *text = NULL;

	assert_int_equal(cli_table_add(&t, (const char *const[]){"zeta", "STOPPED", "CONTAINER"}),
			 0);
	assert_int_equal(cli_table_add(&t, (const char *const[]){"a", "RUNNING", "x\nlonger"}), 0);
	cli_table_sort(&t);
	CAPTURE(text, cli_table_render(out, &t, CLI_FORMAT_TABLE));
	cli_table_done(&t);
	assert_string_equal(text, "+------+---------+-----------+\n"
				  "| NAME |  STATE  |   TYPE    |\n"
				  "+------+---------+-----------+\n"
				  "| a    | RUNNING | x         |\n"
				  "|      |         | longer    |\n"
				  "+------+---------+-----------+\n"
				  "| zeta | STOPPED | CONTAINER |\n"
				  "+------+---------+-----------+\n");
	assert_null(t.rows);
}

static void test_empty_table(void **state)
{
	static const char *const headers[] = {"NAME", "STATE"};
	struct cli_table t = {.ncols = 2, .headers = headers};
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *csv = NULL;

	CAPTURE(text, cli_table_render(out, &t, CLI_FORMAT_TABLE));
	assert_string_equal(text, "+------+-------+\n"
				  "| NAME | STATE |\n"
				  "+------+-------+\n");
	CAPTURE(csv, cli_table_render(out, &t, CLI_FORMAT_CSV));
	assert_string_equal(csv, "");
}

static void test_instance_list_table(void **state)
{
	_cleanup_json_ json_object *list = json_tokener_parse(instances_json);
	_cleanup_free_ char *text = NULL;
	_cleanup_err_ struct err *e = NULL;
	int r = 0;

	assert_non_null(list);
	CAPTURE(text, r = cli_render_instance_list(out, list, CLI_FORMAT_TABLE, NULL, &e));
	assert_int_equal(r, 0);
	assert_string_equal(text, "+------+---------+-----------------+----------------+-----------"
				  "------------+-----------+\n"
				  "| NAME |  STATE  |      IPV4       |      IPV6      |         "
				  "TYPE          | SNAPSHOTS |\n"
				  "+------+---------+-----------------+----------------+-----------"
				  "------------+-----------+\n"
				  "| db   | STOPPED |                 |                | CONTAINER "
				  "(EPHEMERAL) | 0         |\n"
				  "+------+---------+-----------------+----------------+-----------"
				  "------------+-----------+\n"
				  "| web  | RUNNING | 10.0.0.2 (eth0) | fd42::2 (eth0) | CONTAINER "
				  "            | 2         |\n"
				  "|      |         | 10.0.1.5 (eth1) |                |           "
				  "            |           |\n"
				  "+------+---------+-----------------+----------------+-----------"
				  "------------+-----------+\n");
}

static void test_instance_list_csv_and_columns(void **state)
{
	_cleanup_json_ json_object *list = json_tokener_parse(instances_json);
	_cleanup_free_ char *csv = NULL;
	_cleanup_free_ char *cols = NULL;
	_cleanup_free_ char *bad = NULL;
	_cleanup_err_ struct err *e = NULL;
	int r = 0;

	CAPTURE(csv, r = cli_render_instance_list(out, list, CLI_FORMAT_CSV, NULL, &e));
	assert_int_equal(r, 0);
	assert_string_equal(csv, "db,STOPPED,,,CONTAINER (EPHEMERAL),0\n"
				 "web,RUNNING,\"10.0.0.2 (eth0)\n10.0.1.5 (eth1)\",fd42::2 (eth0),"
				 "CONTAINER,2\n");

	CAPTURE(cols, r = cli_render_instance_list(out, list, CLI_FORMAT_CSV, "nbdpN", &e));
	assert_int_equal(r, 0);
	assert_string_equal(cols, "db,,,,\n"
				  "web,fast,\"front, \"\"main\"\"\",4321,5\n");

	CAPTURE(bad, r = cli_render_instance_list(out, list, CLI_FORMAT_CSV, "nX", &e));
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(e->msg, "\"X\""));
}

static void test_instance_list_json_yaml(void **state)
{
	_cleanup_json_ json_object *list = json_tokener_parse(instances_json);
	_cleanup_json_ json_object *back = NULL;
	_cleanup_free_ char *json = NULL;
	_cleanup_free_ char *yaml = NULL;
	_cleanup_err_ struct err *e = NULL;
	int r = 0;

	CAPTURE(json, r = cli_render_instance_list(out, list, CLI_FORMAT_JSON, NULL, &e));
	assert_int_equal(r, 0);
	/* One line, and the same objects the API returned (field names included). */
	assert_non_null(strchr(json, '\n'));
	assert_int_equal(strchr(json, '\n')[1], '\0');
	back = json_tokener_parse(json);
	assert_non_null(back);
	assert_true(json_object_equal(back, list));

	CAPTURE(yaml, r = cli_render_instance_list(out, list, CLI_FORMAT_YAML, NULL, &e));
	assert_int_equal(r, 0);
	assert_true(strncmp(yaml, "- name: web\n", 12) == 0);
	assert_non_null(strstr(yaml, "\n  status: Running\n"));
	assert_non_null(strstr(yaml, "\n- name: db\n"));
}

static void test_format_parse(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	enum cli_format f = CLI_FORMAT_MAX;

	assert_int_equal(cli_format_parse(NULL, &f, &e), 0);
	assert_int_equal(f, CLI_FORMAT_TABLE);
	assert_int_equal(cli_format_parse("yaml", &f, &e), 0);
	assert_int_equal(f, CLI_FORMAT_YAML);
	assert_int_equal(cli_format_parse("xml", &f, &e), -EINVAL);
	assert_string_equal(e->msg, "Invalid format \"xml\"");
}

static void test_times(void **state)
{
	_cleanup_free_ char *a = cli_format_time("2026-11-21T15:57:03Z");
	_cleanup_free_ char *b = cli_format_time("2026-11-21T16:57:03+01:00");
	_cleanup_free_ char *c = cli_format_date_long("2026-11-21T15:07:03Z");
	_cleanup_free_ char *d = cli_format_date_long("2026-01-02T00:05:00Z");

	assert_string_equal(a, "2026/11/21 15:57 UTC");
	assert_string_equal(b, "2026/11/21 15:57 UTC");
	assert_string_equal(c, "Nov 21, 2026 at 3:07pm (UTC)");
	assert_string_equal(d, "Jan 2, 2026 at 12:05am (UTC)");
	assert_null(cli_format_time(NULL));
	assert_null(cli_format_time(""));
	assert_null(cli_format_time("0001-01-01T00:00:00Z"));
}

static void test_info_running_with_snapshots(void **state)
{
	_cleanup_json_ json_object *inst = json_tokener_parse(
	    "{\"name\": \"c1\", \"type\": \"container\", \"status\": \"Running\","
	    " \"architecture\": \"x86_64\", \"created_at\": \"2026-11-21T15:57:03Z\","
	    " \"last_used_at\": \"2026-11-21T15:58:10Z\", \"description\": \"\","
	    " \"profiles\": [\"default\", \"web\"]}");
	_cleanup_json_ json_object *st = json_tokener_parse(
	    "{\"status\": \"Running\", \"status_code\": 103, \"pid\": 1234, \"processes\": 3,"
	    " \"memory\": {\"usage\": 1289748, \"usage_peak\": 2097152, \"total\": 268435456},"
	    " \"cpu\": {\"usage\": 2500000000}}");
	/* Out of order on purpose: the section lists them by creation time. */
	_cleanup_json_ json_object *snaps =
	    json_tokener_parse("[{\"name\": \"snap1\", \"created_at\": \"2026-11-21T16:02:00Z\","
			       "  \"expires_at\": \"2026-11-28T16:02:00Z\", \"stateful\": true},"
			       " {\"name\": \"snap0\", \"created_at\": \"2026-11-21T15:57:00Z\","
			       "  \"expires_at\": \"0001-01-01T00:00:00Z\", \"stateful\": false},"
			       " {\"name\": \"snap2\", \"created_at\": \"2026-11-21T16:10:00Z\","
			       "  \"expires_at\": \"\"}]");
	_cleanup_free_ char *text = NULL;

	CAPTURE(text, cli_render_info(out, inst, st, snaps));
	assert_string_equal(
	    text, "Name: c1\n"
		  "Status: RUNNING\n"
		  "Type: container\n"
		  "Architecture: x86_64\n"
		  "Profiles: default, web\n"
		  "PID: 1234\n"
		  "Created: 2026/11/21 15:57 UTC\n"
		  "Last Used: 2026/11/21 15:58 UTC\n"
		  "\n"
		  "Resources:\n"
		  "  Processes: 3\n"
		  "  Memory usage:\n"
		  "    Memory (current): 1.23MiB\n"
		  "    Memory (peak): 2.00MiB\n"
		  "  CPU usage:\n"
		  "    CPU usage (in seconds): 2\n"
		  "\n"
		  "Snapshots:\n"
		  "  snap0 (taken at 2026/11/21 15:57 UTC) (stateless)\n"
		  "  snap1 (taken at 2026/11/21 16:02 UTC) (expires at 2026/11/28 16:02 UTC) "
		  "(stateful)\n"
		  "  snap2 (taken at 2026/11/21 16:10 UTC) (stateless)\n");
}

static void test_info_stopped_without_snapshots(void **state)
{
	_cleanup_json_ json_object *inst = json_tokener_parse(
	    "{\"name\": \"c2\", \"type\": \"container\", \"status\": \"Stopped\","
	    " \"architecture\": \"aarch64\", \"created_at\": \"2026-11-21T15:57:03Z\","
	    " \"last_used_at\": \"0001-01-01T00:00:00Z\", \"description\": \"db box\"}");
	_cleanup_json_ json_object *st =
	    json_tokener_parse("{\"status\": \"Stopped\", \"pid\": 0, \"processes\": -1}");
	_cleanup_json_ json_object *empty = json_object_new_array();
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *text2 = NULL;
	const char *expected = "Name: c2\n"
			       "Description: db box\n"
			       "Status: STOPPED\n"
			       "Type: container\n"
			       "Architecture: aarch64\n"
			       "Profiles:\n"
			       "Created: 2026/11/21 15:57 UTC\n";

	CAPTURE(text, cli_render_info(out, inst, st, empty));
	assert_string_equal(text, expected);
	/* No snapshot endpoint at all prints the same. */
	CAPTURE(text2, cli_render_info(out, inst, st, NULL));
	assert_string_equal(text2, expected);
}

static void test_image_and_pool_lists(void **state)
{
	_cleanup_json_ json_object *images = json_tokener_parse(
	    "[{\"fingerprint\": \"ab12cd34ef56ab12cd34ef56\", \"aliases\": [{\"name\": "
	    "\"busybox\"},"
	    "  {\"name\": \"bb\"}], \"architecture\": \"x86_64\", \"type\": \"container\","
	    "  \"public\": false, \"size\": 1981234, \"uploaded_at\": \"2026-11-21T15:57:03Z\","
	    "  \"properties\": {\"description\": \"busybox 1.35.0\"}}]");
	_cleanup_json_ json_object *pools = json_tokener_parse(
	    "[{\"name\": \"default\", \"driver\": \"btrfs\", \"description\": \"\","
	    "  \"status\": \"Created\", \"config\": {\"source\": \"/x/default.img\"},"
	    "  \"used_by\": [\"/1.0/instances/c1\", \"/1.0/images/ab12\"]}]");
	_cleanup_free_ char *img = NULL;
	_cleanup_free_ char *pool = NULL;
	_cleanup_err_ struct err *e = NULL;
	int r = 0;

	CAPTURE(img, r = cli_render_image_list(out, images, CLI_FORMAT_CSV, &e));
	assert_int_equal(r, 0);
	assert_string_equal(img, "busybox (1 more),ab12cd34ef56,no,busybox 1.35.0,x86_64,CONTAINER,"
				 "1.89MiB,\"Nov 21, 2026 at 3:57pm (UTC)\"\n");
	CAPTURE(pool, r = cli_render_pool_list(out, pools, CLI_FORMAT_TABLE, &e));
	assert_int_equal(r, 0);
	assert_string_equal(
	    pool, "+---------+--------+----------------+-------------+---------+---------+\n"
		  "|  NAME   | DRIVER |     SOURCE     | DESCRIPTION | USED BY |  STATE  |\n"
		  "+---------+--------+----------------+-------------+---------+---------+\n"
		  "| default | btrfs  | /x/default.img |             | 2       | CREATED |\n"
		  "+---------+--------+----------------+-------------+---------+---------+\n");
}

static void test_url_basename(void **state)
{
	_cleanup_free_ char *a = cli_url_basename("/1.0/instances/c1");
	_cleanup_free_ char *b = cli_url_basename("/1.0/images/aliases/my%20alias?x=1");
	_cleanup_free_ char *c = cli_escape("a b/c");

	assert_string_equal(a, "c1");
	assert_string_equal(b, "my alias");
	assert_string_equal(c, "a%20b%2Fc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_box),
	    cmocka_unit_test(test_empty_table),
	    cmocka_unit_test(test_instance_list_table),
	    cmocka_unit_test(test_instance_list_csv_and_columns),
	    cmocka_unit_test(test_instance_list_json_yaml),
	    cmocka_unit_test(test_format_parse),
	    cmocka_unit_test(test_times),
	    cmocka_unit_test(test_info_running_with_snapshots),
	    cmocka_unit_test(test_info_stopped_without_snapshots),
	    cmocka_unit_test(test_image_and_pool_lists),
	    cmocka_unit_test(test_url_basename),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
