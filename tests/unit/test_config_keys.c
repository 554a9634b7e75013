/* The config key table and its validators. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/kvlist.h"
#include "config/keys.h"

static void assert_ok(const char *key, const char *value)
{
	_cleanup_err_ struct err *e = NULL;
	int r = config_key_validate(key, value, &e);

	if (r != 0)
		fail_msg("%s=%s refused: %s", key, value, err_msg(e, r));
	assert_null(e);
}

/* Checks that key=value is refused with -EINVAL and a message containing `needle`. */
static void assert_refused(const char *key, const char *value, const char *needle)
{
	_cleanup_err_ struct err *e = NULL;
	int r = config_key_validate(key, value, &e);

	if (r != -EINVAL)
		fail_msg("%s=%s gave %d, expected -EINVAL", key, value, r);
	assert_non_null(e);
	assert_int_equal(e->code, -EINVAL);
	if (!strstr(e->msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, needle);
}

static void test_table(void **state)
{
	static const char *const required[] = {"limits.memory",
					       "limits.cpu",
					       "limits.processes",
					       "security.privileged",
					       "security.protection.delete",
					       "boot.autostart",
					       "boot.autostart.delay",
					       "boot.host_shutdown_timeout",
					       "migration.stateful",
					       "snapshots.schedule",
					       "snapshots.schedule.stopped",
					       "snapshots.schedule.catchup",
					       "snapshots.pattern",
					       "snapshots.expiry",
					       "snapshots.expiry.manual",
					       "snapshots.retention",
					       "snapshots.retention.min",
					       "snapshots.schedule.onchange",
					       "snapshots.schedule.stateful",
					       "snapshots.copy.target",
					       "snapshots.limit"};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		const struct config_key *k = config_key_lookup(required[i]);

		if (!k)
			fail_msg("key %s missing from the table", required[i]);
		assert_string_equal(k->name, required[i]);
		assert_non_null(k->help);
	}
	for (const struct config_key *k = config_keys(); k->name; k++) {
		n++;
		/* Every default must pass its own validation. */
		if (k->default_value)
			assert_ok(k->name, k->default_value);
	}
	assert_true(n >= sizeof(required) / sizeof(required[0]));
	assert_null(config_key_lookup("user.foo"));
	assert_null(config_key_lookup("nope"));
	assert_null(config_key_lookup(NULL));

	assert_true(config_key_lookup("limits.memory")->live);
	assert_true(config_key_lookup("limits.cpu")->live);
	assert_true(config_key_lookup("limits.processes")->live);
	assert_false(config_key_lookup("security.privileged")->live);
	assert_true(config_key_lookup("security.protection.delete")->live);
	assert_int_equal(config_key_lookup("security.privileged")->type, CONFIG_KEY_BOOL);
	assert_int_equal(config_key_lookup("snapshots.limit")->type, CONFIG_KEY_INT);
	assert_string_equal(config_key_lookup("boot.host_shutdown_timeout")->default_value, "30");
	assert_string_equal(config_key_lookup("snapshots.pattern")->default_value, "snap%d");
	assert_string_equal(config_key_lookup("snapshots.schedule.catchup")->default_value, "true");
	assert_string_equal(config_key_lookup("migration.stateful")->default_value, "false");
}

static void test_memory(void **state)
{
	assert_ok("limits.memory", "256MiB");
	assert_ok("limits.memory", "1GB");
	assert_ok("limits.memory", "4096");
	assert_ok("limits.memory", "50%");
	assert_ok("limits.memory", "100%");
	assert_ok("limits.memory", "1%");
	assert_refused("limits.memory", "abc", "Invalid value \"abc\" for \"limits.memory\": ");
	assert_refused("limits.memory", "10G", "for \"limits.memory\"");
	assert_refused("limits.memory", "0", "more than zero");
	assert_refused("limits.memory", "0%", "between 1% and 100%");
	assert_refused("limits.memory", "101%", "between 1% and 100%");
	assert_refused("limits.memory", "-5%", "percentage");
	assert_refused("limits.memory", "5.5%", "percentage");
	assert_refused("limits.memory", "%", "limits.memory");
	assert_refused("limits.memory", "-1MiB", "limits.memory");
}

static void test_cpu(void **state)
{
	assert_ok("limits.cpu", "1");
	assert_ok("limits.cpu", "2");
	assert_ok("limits.cpu", "0-1,3");
	assert_ok("limits.cpu", "0,2,4");
	assert_ok("limits.cpu", "0-0");
	assert_ok("limits.cpu", "7-8");
	assert_refused("limits.cpu", "0", "at least 1");
	assert_refused("limits.cpu", "abc", "Invalid value \"abc\" for \"limits.cpu\"");
	assert_refused("limits.cpu", "3-1", "reversed");
	assert_refused("limits.cpu", "1,", "limits.cpu");
	assert_refused("limits.cpu", ",1", "limits.cpu");
	assert_refused("limits.cpu", "1--2", "limits.cpu");
	assert_refused("limits.cpu", "-1", "limits.cpu");
	assert_refused("limits.cpu", "1.5", "limits.cpu");
	assert_refused("limits.cpu", "99999999999", "limits.cpu");
	assert_refused("limits.cpu", "0-99999999999", "limits.cpu");
}

static void test_ints_and_bools(void **state)
{
	static const char *const bools[] = {"true", "false", "1",   "0",    "yes",
					    "no",   "on",    "off", "TRUE", "Off"};

	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
		assert_ok("security.privileged", bools[i]);
	assert_refused("security.privileged", "maybe",
		       "Invalid value \"maybe\" for \"security.privileged\"");
	assert_refused("boot.autostart", "2", "boot.autostart");

	assert_ok("limits.processes", "1");
	assert_ok("limits.processes", "1000");
	assert_refused("limits.processes", "0", "at least 1");
	assert_refused("limits.processes", "-3", "at least 1");
	assert_refused("limits.processes", "ten", "whole number");
	assert_refused("limits.processes", "10 ", "whole number");
	assert_refused("limits.processes", "99999999999999999999", "whole number");
	assert_ok("boot.autostart.delay", "0");
	assert_refused("boot.autostart.delay", "-1", "at least 0");
	assert_ok("boot.host_shutdown_timeout", "120");
	assert_ok("snapshots.limit", "0");
	assert_refused("snapshots.limit", "-1", "at least 0");
	assert_ok("snapshots.schedule", "@daily");
	assert_ok("snapshots.pattern", "snap%d");
	/* An empty value unsets a key, whatever its type. */
	assert_ok("limits.memory", "");
	assert_ok("security.privileged", "");
}

static void test_snapshot_keys(void **state)
{
	(void)state;
	assert_ok("snapshots.schedule", "*/15 * * * *");
	assert_ok("snapshots.schedule", "0 2,14 * * mon-fri");
	assert_ok("snapshots.schedule", "@daily, @startup");
	assert_ok("snapshots.schedule", "@never");
	assert_ok("snapshots.schedule", "");
	/* The key's message quotes the value once, then says where the fault is. */
	assert_refused("snapshots.schedule", "61 * * * *",
		       "Invalid value \"61 * * * *\" for \"snapshots.schedule\": field 1 (minute): "
		       "61 is out of 0-59");
	assert_refused("snapshots.schedule", "@daily, 0 2 * * funday",
		       "for \"snapshots.schedule\": entry 2 \"0 2 * * funday\": field 5 (day of "
		       "week): \"funday\" is not a number or a day name (sun..sat)");
	assert_refused("snapshots.schedule", "daily", "expected 5 fields");
	assert_refused("snapshots.schedule", "@weekly,@daily", "separated by \", \"");

	assert_ok("snapshots.retention", "24H 7d 4w 12m");
	assert_ok("snapshots.retention", "2y");
	assert_refused("snapshots.retention", "24H 0d",
		       "Invalid value \"24H 0d\" for \"snapshots.retention\": term 2 \"0d\": the "
		       "count must be at least 1");
	assert_refused("snapshots.retention", "7 days", "snapshots.retention");

	assert_ok("snapshots.retention.min", "0");
	assert_ok("snapshots.retention.min", "3");
	assert_refused("snapshots.retention.min", "-1", "at least 0");
	assert_refused("snapshots.retention.min", "three", "whole number");
	assert_string_equal(config_key_lookup("snapshots.retention.min")->default_value, "0");
	assert_int_equal(config_key_lookup("snapshots.retention.min")->type, CONFIG_KEY_INT);

	assert_ok("snapshots.schedule.onchange", "true");
	assert_ok("snapshots.schedule.stateful", "off");
	assert_refused("snapshots.schedule.onchange", "sometimes", "expected true or false");
	assert_refused("snapshots.schedule.stateful", "2", "expected true or false");
	assert_string_equal(config_key_lookup("snapshots.schedule.onchange")->default_value,
			    "false");
	assert_string_equal(config_key_lookup("snapshots.schedule.stateful")->default_value,
			    "false");

	assert_ok("snapshots.copy.target", "backup");
	assert_ok("snapshots.copy.target", "backup:web1");
	assert_ok("snapshots.copy.target", "my.remote_2-b:c1-copy");
	assert_null(config_key_lookup("snapshots.copy.target")->default_value);
	assert_non_null(strstr(config_key_lookup("snapshots.copy.target")->help, "config remote"));
	assert_refused("snapshots.copy.target", ":web1", "expected REMOTE or REMOTE:NAME");
	assert_refused("snapshots.copy.target", "backup:", "Invalid value \"backup:\"");
	assert_refused("snapshots.copy.target", "backup:a:b", "Invalid value \"backup:a:b\"");
	assert_refused("snapshots.copy.target", "backup:-x", "snapshots.copy.target");
	assert_refused("snapshots.copy.target", "back up", "only letters, digits");
	assert_refused("snapshots.copy.target", "a/b:c", "only letters, digits");
	assert_refused("snapshots.copy.target", ".hidden", "cannot start with '.'");
	assert_refused("snapshots.copy.target", "-x", "cannot start with '-'");
	assert_refused("snapshots.copy.target",
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		       "1 to 63 characters");
}

static void test_namespaces(void **state)
{
	_cleanup_err_ struct err *e = NULL;

	assert_refused("foo", "1", "Unknown configuration key \"foo\"");
	assert_refused("limits.memoryx", "1", "Unknown configuration key");
	/* A mistyped key names the nearest known one. */
	assert_refused("limits.memroy", "1G",
		       "Unknown configuration key \"limits.memroy\" (did you mean "
		       "\"limits.memory\"?)");
	assert_refused("snapshots.schedul", "@daily", "(did you mean \"snapshots.schedule\"?)");
	assert_refused("boot.autostrat", "true", "(did you mean \"boot.autostart\"?)");
	assert_null(config_key_suggest("foo"));
	assert_null(config_key_suggest("completely.different"));
	assert_string_equal(config_key_suggest("security.protection.delet"),
			    "security.protection.delete");
	assert_refused("", "1", "cannot be empty");
	assert_ok("user.anything", "any value at all: \"yes\"");
	assert_ok("user.a.b.c", "");
	assert_refused("user.", "x", "nothing after");
	assert_refused("user.a b", "x", "printable");
	assert_refused("volatile.x", "1", "Configuration key \"volatile.x\" is reserved");
	assert_refused("volatile.last_state.power", "RUNNING", "reserved");
	assert_refused("image.os", "busybox", "reserved");

	assert_int_equal(config_key_validate_internal("volatile.x", "1", &e), 0);
	assert_int_equal(config_key_validate_internal("image.description", "busybox 1.36", &e), 0);
	assert_int_equal(config_key_validate_internal("limits.memory", "1GiB", &e), 0);
	assert_int_equal(config_key_validate_internal("user.x", "y", &e), 0);
	assert_null(e);
	assert_int_equal(config_key_validate_internal("limits.memory", "abc", &e), -EINVAL);
	assert_non_null(strstr(e->msg, "Invalid value \"abc\" for \"limits.memory\""));
	err_freep(&e);
	assert_int_equal(config_key_validate_internal("foo", "1", &e), -EINVAL);
	assert_non_null(strstr(e->msg, "Unknown configuration key \"foo\""));
	err_freep(&e);
	assert_int_equal(config_key_validate_internal("volatile.", "1", &e), -EINVAL);
}

static void test_validate_all_and_get(void **state)
{
	_cleanup_kvlist_ struct kvlist l = {0};
	_cleanup_err_ struct err *e = NULL;
	bool b = true;

	assert_int_equal(kvlist_set(&l, "limits.memory", "512MiB"), 0);
	assert_int_equal(kvlist_set(&l, "security.privileged", "yes"), 0);
	assert_int_equal(kvlist_set(&l, "user.note", "hello"), 0);
	assert_int_equal(config_validate_all(&l, &e), 0);
	assert_null(e);

	assert_string_equal(config_get(&l, "limits.memory"), "512MiB");
	assert_string_equal(config_get(&l, "boot.host_shutdown_timeout"), "30");
	assert_string_equal(config_get(&l, "snapshots.pattern"), "snap%d");
	assert_null(config_get(&l, "limits.cpu"));
	assert_null(config_get(&l, "user.other"));
	assert_string_equal(config_get(&l, "user.note"), "hello");

	assert_true(config_get_bool(&l, "security.privileged", false));
	assert_false(config_get_bool(&l, "migration.stateful", true));
	assert_true(config_get_bool(&l, "snapshots.schedule.catchup", false));
	assert_true(config_get_bool(&l, "boot.autostart", true));
	assert_false(config_get_bool(&l, "boot.autostart", false));
	assert_int_equal(kvlist_set(&l, "boot.autostart", "off"), 0);
	assert_false(config_get_bool(&l, "boot.autostart", true));
	/* A stored empty value reads as unset. */
	assert_int_equal(kvlist_set(&l, "snapshots.pattern", ""), 0);
	assert_string_equal(config_get(&l, "snapshots.pattern"), "snap%d");

	assert_int_equal(config_parse_bool("On", &b), 0);
	assert_true(b);
	assert_int_equal(config_parse_bool("0", &b), 0);
	assert_false(b);
	assert_int_equal(config_parse_bool("nope", &b), -EINVAL);
	assert_int_equal(config_parse_bool("", &b), -EINVAL);

	assert_int_equal(kvlist_set(&l, "limits.cpu", "abc"), 0);
	assert_int_equal(kvlist_set(&l, "zzz", "1"), 0);
	assert_int_equal(config_validate_all(&l, &e), -EINVAL);
	/* Sorted order: limits.cpu comes first and wins. */
	assert_non_null(strstr(e->msg, "\"limits.cpu\""));
	err_freep(&e);
	assert_int_equal(kvlist_unset(&l, "limits.cpu"), 1);
	assert_int_equal(config_validate_all(&l, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "Unknown configuration key \"zzz\""));
	err_freep(&e);
	assert_int_equal(kvlist_unset(&l, "zzz"), 1);
	assert_int_equal(kvlist_set(&l, "volatile.uuid", "x"), 0);
	assert_int_equal(config_validate_all(&l, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "reserved"));
}

static void test_text(void **state)
{
	_cleanup_kvlist_ struct kvlist l = {0};
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	/* Values are text: UTF-8 passes, with tabs, newlines and carriage returns (cloud-init
	 * user data spans lines). */
	assert_ok("user.x", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_ok("user.x", "line one\r\nline two\n\tindented");
	assert_refused("user.x", "\xff", "Invalid value for \"user.x\": it is not valid UTF-8");
	assert_refused("user.x", "ok \xc3", "not valid UTF-8");
	assert_refused("user.x", "\xc0\xaf", "not valid UTF-8");     /* overlong '/' */
	assert_refused("user.x", "\xed\xa0\x80", "not valid UTF-8"); /* a surrogate */
	assert_refused("user.x", "a\x1b[2Jb", "control character");
	assert_refused("user.x", "a\x7f", "control character");
	assert_refused("user.x", "a\xc2\x9b", "control character"); /* C1 CSI */
	assert_refused("snapshots.pattern", "snap\xff%d", "not valid UTF-8");
	/* Checked before anything else, for every kind of key. */
	assert_refused("limits.memory", "\xff", "not valid UTF-8");
	assert_refused("\xff", "1", "Invalid configuration key: it is not valid UTF-8");
	assert_refused("user.\xc3\xa9", "1", "printable");
	assert_int_equal(config_key_validate_internal("volatile.x", "\xff", &e), -EINVAL);
	assert_non_null(strstr(e->msg, "not valid UTF-8"));
	err_freep(&e);

	/* A stored value that is not text fails the whole config. */
	assert_int_equal(kvlist_set(&l, "user.a", "fine"), 0);
	assert_int_equal(kvlist_set(&l, "user.b", "\xfe"), 0);
	assert_int_equal(config_validate_all(&l, &e), -EINVAL);
	assert_non_null(strstr(e->msg, "\"user.b\""));
	err_freep(&e);

	assert_int_equal(config_text_valid("description", NULL, &e), 0);
	assert_int_equal(config_text_valid("description", "My box\n", &e), 0);
	assert_null(e);
	assert_int_equal(config_text_valid("description", "\x80", &e), -EINVAL);
	assert_string_equal(e->msg, "Invalid description: it is not valid UTF-8");
	err_freep(&e);
	assert_int_equal(config_text_valid("description", "a\x01", &e), -EINVAL);
	assert_non_null(strstr(e->msg, "Invalid description: it holds a control character"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),      cmocka_unit_test(test_memory),
	    cmocka_unit_test(test_cpu),	       cmocka_unit_test(test_ints_and_bools),
	    cmocka_unit_test(test_namespaces), cmocka_unit_test(test_validate_all_and_get),
	    cmocka_unit_test(test_text),       cmocka_unit_test(test_snapshot_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
