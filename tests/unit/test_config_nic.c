/* nic devices as config/devices.c checks them: the keys, the two ways to attach (a managed
 * network, or a host bridge), interface names, MACs, fixed addresses, MTU, and one interface
 * name per instance. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "config/devices.h"

/* Builds a device from "key=value" strings (NULL-terminated) and validates it. */
static int check_nic(struct err **e, const char *name, ...)
{
	_cleanup_kvlist_ struct kvlist keys = {0};
	va_list ap;
	const char *kv;

	va_start(ap, name);
	while ((kv = va_arg(ap, const char *))) {
		const char *eq = strchr(kv, '=');
		char key[64];

		assert_non_null(eq);
		memcpy(key, kv, (size_t)(eq - kv));
		key[eq - kv] = '\0';
		assert_int_equal(kvlist_set(&keys, key, eq + 1), 0);
	}
	va_end(ap);
	return device_validate("instance \"c1\"", name, &keys, e);
}

static void assert_msg(struct err *e, const char *needle)
{
	assert_non_null(e);
	if (!strstr(e->msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, needle);
}

static void test_good(void **state)
{
	(void)state;
	assert_int_equal(check_nic(NULL, "eth0", "type=nic", "network=cairnbr0", NULL), 0);
	assert_int_equal(check_nic(NULL, "eth0", "type=nic", "nictype=bridged", "parent=br0", NULL),
			 0);
	assert_int_equal(check_nic(NULL, "net", "type=nic", "network=n1", "name=eth1",
				   "hwaddr=00:16:3e:aa:BB:cc", "ipv4.address=10.0.3.50", "mtu=1400",
				   NULL),
			 0);
	assert_int_equal(
	    check_nic(NULL, "eth0", "type=nic", "nictype=bridged", "parent=eth0.10", NULL), 0);
}

static void test_bad(void **state)
{
	(void)state;
	{
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(check_nic(&e, "eth0", "type=nic", NULL), -EINVAL);
		assert_msg(e, "needs \"network\"");
	}
	{
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(
		    check_nic(&e, "eth0", "type=nic", "network=n1", "parent=br0", NULL), -EINVAL);
		assert_msg(e, "not both");
	}
	{
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(check_nic(&e, "eth0", "type=nic", "netwrk=n1", NULL), -EINVAL);
		assert_string_equal(e->msg,
				    "Invalid device \"eth0\" of instance \"c1\": unknown key "
				    "\"netwrk\" for a nic (did you mean \"network\"?)");
	}
	{
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(
		    check_nic(&e, "eth0", "type=nic", "nictype=macvlan", "parent=br0", NULL),
		    -EINVAL);
		assert_msg(e, "only bridged");
	}
	{
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(check_nic(&e, "eth0", "type=nic", "nictype=bridged", NULL),
				 -EINVAL);
		assert_msg(e, "needs a \"parent\"");
	}
	{
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(check_nic(&e, "eth0", "type=nic", "nictype=bridged", "parent=br0",
					   "ipv4.address=10.0.3.5", NULL),
				 -EINVAL);
		assert_msg(e, "needs a managed");
	}
	/* Interface names: 15 bytes, no '/', ':' or white space. */
	assert_int_equal(check_nic(NULL, "a-very-long-device", "type=nic", "network=n1", NULL),
			 -EINVAL);
	assert_int_equal(check_nic(NULL, "eth0", "type=nic", "network=n1", "name=a b", NULL),
			 -EINVAL);
	assert_int_equal(check_nic(NULL, "eth0", "type=nic", "network=n1", "name=eth0\nx", NULL),
			 -EINVAL);
	assert_int_equal(check_nic(NULL, "eth0", "type=nic", "network=n1", "name=..", NULL),
			 -EINVAL);
	assert_int_equal(check_nic(NULL, "eth0", "type=nic", "network=../x", NULL), -EINVAL);
	assert_int_equal(check_nic(NULL, "eth0", "type=nic", "nictype=bridged", "parent=a:b", NULL),
			 -EINVAL);
	/* MACs: unicast, six pairs. */
	assert_int_equal(
	    check_nic(NULL, "eth0", "type=nic", "network=n1", "hwaddr=01:16:3e:00:00:01", NULL),
	    -EINVAL);
	assert_int_equal(
	    check_nic(NULL, "eth0", "type=nic", "network=n1", "hwaddr=00:00:00:00:00:00", NULL),
	    -EINVAL);
	assert_int_equal(
	    check_nic(NULL, "eth0", "type=nic", "network=n1", "hwaddr=00:16:3e:00:00", NULL),
	    -EINVAL);
	assert_int_equal(
	    check_nic(NULL, "eth0", "type=nic", "network=n1", "hwaddr=00:16:3e:00:00:0g", NULL),
	    -EINVAL);
	assert_int_equal(
	    check_nic(NULL, "eth0", "type=nic", "network=n1", "hwaddr=00-16-3e-00-00-01", NULL),
	    -EINVAL);
	assert_int_equal(
	    check_nic(NULL, "eth0", "type=nic", "network=n1", "hwaddr=00:16:3e:00:00:01x", NULL),
	    -EINVAL);
	/* Addresses and MTU. */
	assert_int_equal(
	    check_nic(NULL, "eth0", "type=nic", "network=n1", "ipv4.address=10.0.3", NULL),
	    -EINVAL);
	assert_int_equal(
	    check_nic(NULL, "eth0", "type=nic", "network=n1", "ipv4.address=10.0.3.256", NULL),
	    -EINVAL);
	assert_int_equal(
	    check_nic(NULL, "eth0", "type=nic", "network=n1", "ipv4.address=10.0.3.5 ", NULL),
	    -EINVAL);
	assert_int_equal(
	    check_nic(NULL, "eth0", "type=nic", "network=n1", "ipv4.address=010.0.3.5", NULL),
	    -EINVAL);
	assert_int_equal(check_nic(NULL, "eth0", "type=nic", "network=n1", "mtu=1000", NULL),
			 -EINVAL);
	assert_int_equal(check_nic(NULL, "eth0", "type=nic", "network=n1", "mtu=15OO", NULL),
			 -EINVAL);
	assert_int_equal(check_nic(NULL, "eth0", "type=nic", "network=n1", "mtu=", NULL), -EINVAL);
}

static void test_one_interface_name(void **state)
{
	_cleanup_devices_ struct devices d = {0};
	_cleanup_kvlist_ struct kvlist a = {0}, b = {0};
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	assert_int_equal(kvlist_set(&a, "type", "nic"), 0);
	assert_int_equal(kvlist_set(&a, "network", "n1"), 0);
	assert_int_equal(kvlist_set(&b, "type", "nic"), 0);
	assert_int_equal(kvlist_set(&b, "network", "n2"), 0);
	assert_int_equal(kvlist_set(&b, "name", "eth0"), 0);
	assert_int_equal(devices_set(&d, "eth0", &a), 0);
	assert_int_equal(devices_set(&d, "other", &b), 0);
	assert_int_equal(devices_validate(NULL, &d, &e), -EINVAL);
	assert_msg(e, "are both the interface \"eth0\"");
	assert_string_equal(device_nic_ifname("other", &b), "eth0");
	assert_string_equal(device_nic_ifname("eth0", &a), "eth0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_one_interface_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
