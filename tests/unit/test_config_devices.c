/* config_devices_check(): what a client may put in "devices", and what it is told otherwise. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "config/devices.h"

/* Checks the devices in the JSON text `json`; returns the result, the root pool in *pool. */
static int check(const char *json, const char **pool, struct err **err)
{
	_cleanup_json_ json_object *o = json_tokener_parse(json);
	static char kept[64];
	const char *p = NULL;
	int r;

	assert_non_null(o);
	r = config_devices_check(o, &p, err);
	/* The pool points into the tree, which goes away here. */
	if (p)
		snprintf(kept, sizeof(kept), "%s", p);
	*pool = p ? kept : NULL;
	return r;
}

static void assert_refused(const char *json, const char *message)
{
	_cleanup_err_ struct err *e = NULL;
	const char *pool = NULL;

	assert_int_equal(check(json, &pool, &e), -EINVAL);
	assert_non_null(e);
	if (strcmp(e->msg, message) != 0)
		fail_msg("%s gave \"%s\", expected \"%s\"", json, e->msg, message);
}

static void test_accepted(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	const char *pool = "unchanged";

	(void)state;
	assert_int_equal(config_devices_check(NULL, &pool, &e), 0);
	assert_string_equal(pool, "unchanged");
	assert_int_equal(check("{}", &pool, &e), 0);
	assert_null(pool);
	/* What `cairn launch -s` and `cairn config edit` send. */
	assert_int_equal(
	    check("{\"root\": {\"type\": \"disk\", \"path\": \"/\", \"pool\": \"p2\"}}", &pool, &e),
	    0);
	assert_string_equal(pool, "p2");
	/* The root disk may have any name; none masks a device and is fine. */
	assert_int_equal(
	    check("{\"rootfs\": {\"type\": \"disk\", \"path\": \"/\", \"pool\": \"x\"},"
		  " \"gone\": {\"type\": \"none\"}}",
		  &pool, &e),
	    0);
	assert_string_equal(pool, "x");
	assert_int_equal(check("{\"root\": {\"type\": \"disk\", \"path\": \"/\"}}", &pool, &e), 0);
	assert_null(pool);
	assert_null(e);
}

static void test_refused(void **state)
{
	(void)state;
	assert_refused(
	    "{\"x\": {\"type\": \"bogus\"}}",
	    "Unknown device type \"bogus\" for device \"x\" (valid types: disk, nic, none)");
	/* A bad device is refused even beside a good root disk. */
	assert_refused(
	    "{\"root\": {\"type\": \"disk\", \"path\": \"/\"},"
	    " \"gpu0\": {\"type\": \"gpu\"}}",
	    "Unknown device type \"gpu\" for device \"gpu0\" (valid types: disk, nic, none)");
	assert_refused("{\"eth0\": {\"type\": \"nic\", \"network\": \"cairnbr0\"}}",
		       "Device \"eth0\" of type \"nic\" is not supported yet");
	assert_refused("{\"data\": {\"type\": \"disk\", \"source\": \"/srv\", \"path\": \"/srv\"}}",
		       "Device \"data\" of type \"disk\" is not supported yet: only the root disk "
		       "(path \"/\") is");
	assert_refused("{\"x\": {\"path\": \"/\"}}", "Device \"x\" has no type");
	assert_refused("{\"x\": {\"type\": \"\"}}", "Device \"x\" has no type");
	assert_refused("{\"x\": {\"type\": 7}}", "The \"type\" of device \"x\" must be a string");
	assert_refused("{\"x\": \"disk\"}", "Device \"x\" must be an object");
	assert_refused("{\"a\": {\"type\": \"disk\", \"path\": \"/\"},"
		       " \"b\": {\"type\": \"disk\", \"path\": \"/\"}}",
		       "Devices \"a\" and \"b\" are both a root disk (path \"/\")");
	assert_refused("{\"root\": {\"type\": \"disk\", \"path\": \"/\", \"pool\": 1}}",
		       "The \"pool\" of device \"root\" must be a string");
	assert_refused("[]", "Field \"devices\" must be an object");
	/* Nothing that is not text is quoted back. */
	assert_refused("{\"x\": {\"type\": \"a\\u001bb\"}}",
		       "Invalid device field: it holds a control character (only tab, newline "
		       "and carriage return are allowed)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepted),
	    cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
