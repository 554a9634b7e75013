/* backup/index.yaml: what cairn writes reads back the same, what Incus writes is read, and what
 * lies or is malformed is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup/index.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

static void parse_ok(const char *text, struct backup_index *ret)
{
	_cleanup_err_ struct err *e = NULL;
	int r = backup_index_parse(text, strlen(text), ret, &e);

	if (r < 0)
		fail_msg("parse failed: %s", err_msg(e, r));
}

static void assert_refused(const char *text, const char *needle)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_backup_index_ struct backup_index idx = {0};

	assert_int_equal(backup_index_parse(text, strlen(text), &idx, &e), -EINVAL);
	assert_non_null(e);
	if (!strstr(e->msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, needle);
	assert_true(str_startswith(e->msg, "Invalid backup index"));
}

static void test_round_trip(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_backup_index_ struct backup_index idx = {0};
	_cleanup_free_ char *text = NULL;
	struct db_instance row = {0};
	struct db_snapshot snaps[2] = {0};
	char *profiles[] = {"default", "web", NULL};
	int r;

	(void)state;
	row.name = "c1";
	row.pool = "default";
	row.architecture = "x86_64";
	row.description = "a: tricky \"one\"";
	row.created_at = 1764300000;
	row.profiles = profiles;
	kvlist_set(&row.config, "limits.memory", "1GiB");
	kvlist_set(&row.config, "user.flag", "true");
	kvlist_set(&row.config, "user.n", "12");
	kvlist_set(&row.config, "volatile.idmap.base", "1000000");
	snaps[0].name = "snap0";
	snaps[0].created_at = 1764300100;
	snaps[0].expires_at = 1764900100;
	snaps[0].stateful = true;
	snaps[1].name = "daily-1";
	snaps[1].created_at = 1764300200;
	snaps[1].scheduled = true;
	kvlist_set(&snaps[1].config, "limits.cpu", "2");
	r = backup_index_render(&row, snaps, 2, "btrfs", false, true, &text, &e);
	assert_int_equal(r, 0);
	assert_non_null(strstr(text, "name: c1\n"));
	assert_non_null(strstr(text, "expires_at: 0001-01-01T00:00:00Z"));

	parse_ok(text, &idx);
	assert_string_equal(idx.name, "c1");
	assert_string_equal(idx.backend, "btrfs");
	assert_string_equal(idx.pool, "default");
	assert_false(idx.optimized);
	assert_true(idx.stateful);
	assert_string_equal(idx.instance.description, row.description);
	assert_int_equal(idx.instance.created_at, row.created_at);
	assert_string_equal(kvlist_get(&idx.instance.config, "user.flag"), "true");
	assert_string_equal(kvlist_get(&idx.instance.config, "user.n"), "12");
	assert_string_equal(kvlist_get(&idx.instance.config, "limits.memory"), "1GiB");
	assert_string_equal(idx.instance.profiles[1], "web");
	assert_null(idx.instance.profiles[2]);
	assert_int_equal(idx.n_snapshots, 2);
	assert_string_equal(idx.snapshots[0].name, "snap0");
	assert_int_equal(idx.snapshots[0].created_at, 1764300100);
	assert_int_equal(idx.snapshots[0].expires_at, 1764900100);
	assert_true(idx.snapshots[0].stateful);
	assert_false(idx.snapshots[0].scheduled);
	assert_string_equal(idx.snapshots[1].name, "daily-1");
	assert_int_equal(idx.snapshots[1].expires_at, 0);
	assert_true(idx.snapshots[1].scheduled);
	assert_string_equal(kvlist_get(&idx.snapshots[1].config, "limits.cpu"), "2");
	kvlist_done(&row.config);
	kvlist_done(&snaps[1].config);
}

/* As Incus 6 writes it (trimmed): nanosecond times, a UTC offset, quoted config values, a
 * snapshot named with its instance. */
static void test_incus_index(void **state)
{
	_cleanup_backup_index_ struct backup_index idx = {0};
	const char *text = "name: u1\n"
			   "backend: btrfs\n"
			   "pool: default\n"
			   "snapshots:\n"
			   "- snap0\n"
			   "optimized: false\n"
			   "optimized_header: false\n"
			   "type: container\n"
			   "config:\n"
			   "  container:\n"
			   "    architecture: x86_64\n"
			   "    config:\n"
			   "      image.os: Debian\n"
			   "      security.nesting: \"true\"\n"
			   "      volatile.idmap.base: \"0\"\n"
			   "    devices: {}\n"
			   "    ephemeral: false\n"
			   "    profiles:\n"
			   "    - default\n"
			   "    stateful: false\n"
			   "    description: \"\"\n"
			   "    created_at: 2026-11-20T10:11:12.123456789Z\n"
			   "    name: u1\n"
			   "    status: Stopped\n"
			   "    type: container\n"
			   "  snapshots:\n"
			   "  - architecture: x86_64\n"
			   "    config: {}\n"
			   "    created_at: 2026-11-21T10:00:00.5+01:00\n"
			   "    expires_at: 0001-01-01T00:00:00Z\n"
			   "    name: u1/snap0\n"
			   "    stateful: false\n"
			   "    size: -1\n"
			   "  pool:\n"
			   "    name: default\n"
			   "    driver: btrfs\n";

	(void)state;
	parse_ok(text, &idx);
	assert_string_equal(idx.name, "u1");
	assert_int_equal(idx.instance.created_at, 1795169472);
	assert_string_equal(kvlist_get(&idx.instance.config, "security.nesting"), "true");
	assert_int_equal(idx.n_snapshots, 1);
	assert_int_equal(idx.snapshots[0].created_at, 1795251600);
	assert_int_equal(idx.snapshots[0].expires_at, 0);
}

/* Older Incus kept the config in backup/container/backup.yaml: the index alone is enough. */
static void test_minimal(void **state)
{
	_cleanup_backup_index_ struct backup_index idx = {0};

	(void)state;
	parse_ok("name: old\nbackend: dir\npool: p\n", &idx);
	assert_string_equal(idx.name, "old");
	assert_int_equal(idx.n_snapshots, 0);
	assert_null(idx.instance.profiles);
}

static void test_refused(void **state)
{
	(void)state;
	assert_refused("backend: btrfs\n", "no \"name\"");
	assert_refused("name: ../x\n", "Invalid backup index");
	assert_refused("name: c\nsnapshots: [a, a]\n", "snapshot \"a\" is listed twice");
	assert_refused("name: c\nsnapshots: [../a]\n", "Invalid backup index");
	assert_refused("name: c\nsnapshots: [.hidden]\n", "Invalid backup index");
	assert_refused("name: c\nsnapshots: x\n", "\"snapshots\" is not a list");
	assert_refused("name: c\ntype: virtual-machine\n", "only containers");
	assert_refused("name: c\noptimized: maybe\n", "\"optimized\" is not a boolean");
	assert_refused("name: c\nconfig:\n  container:\n    config:\n      a: [1]\n",
		       "is not text");
	assert_refused("name: c\nconfig:\n  container:\n    created_at: yesterday\n", "created_at");
	assert_refused("- a\n- b\n", "not a map");
	assert_refused("name: c\nconfig: [1]\n", "\"config\" is not a map");
}

static void test_too_many_snapshots(void **state)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0, cap = (BACKUP_INDEX_MAX_SNAPSHOTS + 2) * 16 + 64;

	(void)state;
	text = malloc(cap);
	assert_non_null(text);
	len += (size_t)snprintf(text, cap, "name: c\nsnapshots:\n");
	for (int i = 0; i <= BACKUP_INDEX_MAX_SNAPSHOTS; i++)
		len += (size_t)snprintf(text + len, cap - len, "- s%d\n", i);
	assert_refused(text, "more than");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_incus_index),
	    cmocka_unit_test(test_minimal),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_too_many_snapshots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
