/* Profiles: the expanded config, the profile validator and profile names. */
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
#include "common/kvlist.h"
#include "config/devices.h"
#include "config/profiles.h"

/* Adds device `name` with the NULL-terminated key, value pairs to `d`. */
static void add_dev(struct devices *d, const char *name, ...)
{
	_cleanup_kvlist_ struct kvlist keys = {0};
	va_list ap;
	const char *k;

	va_start(ap, name);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);

		assert_int_equal(kvlist_set(&keys, k, v), 0);
	}
	va_end(ap);
	assert_int_equal(devices_set(d, name, &keys), 0);
}

static void set(struct kvlist *l, const char *key, const char *value)
{
	assert_int_equal(kvlist_set(l, key, value), 0);
}

static void expect_err(struct err **e, int r, const char *needle)
{
	if (r != -EINVAL)
		fail_msg("got %d (%s), expected -EINVAL with \"%s\"", r, err_msg(*e, r), needle);
	assert_non_null(*e);
	assert_int_equal((*e)->code, -EINVAL);
	if (!strstr((*e)->msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", (*e)->msg, needle);
	err_freep(e);
}

static void profile_init(struct profile *p, const char *name)
{
	p->name = strdup(name);
	assert_non_null(p->name);
}

/* Later profiles win per key, the instance over all of them; a device comes whole from the last
 * source that has it. */
static void test_expand_order(void **state)
{
	_cleanup_profile_ struct profile base = {0}, web = {0}, extra = {0};
	_cleanup_kvlist_ struct kvlist config = {0}, out = {0};
	_cleanup_devices_ struct devices devices = {0}, outd = {0};
	const struct profile *applied[3] = {&base, &web, &extra};
	const struct kvlist *root, *data;

	(void)state;
	profile_init(&base, "default");
	profile_init(&web, "web");
	profile_init(&extra, "extra");
	set(&base.config, "limits.memory", "1GiB");
	set(&base.config, "snapshots.schedule", "@daily");
	set(&base.config, "user.base", "1");
	add_dev(&base.devices, "root", "type", "disk", "path", "/", "pool", "default", NULL);
	add_dev(&base.devices, "data", "type", "disk", "source", "/srv/a", "path", "/mnt/a",
		"readonly", "true", NULL);
	set(&web.config, "limits.memory", "2GiB");
	set(&web.config, "limits.cpu", "2");
	/* The root disk of a later profile replaces the earlier one whole: its size is not
	 * merged into "default"'s and its pool wins. */
	add_dev(&web.devices, "root", "type", "disk", "path", "/", "pool", "fast", "size", "5GiB",
		NULL);
	set(&extra.config, "limits.cpu", "4");

	set(&config, "limits.cpu", "1");
	set(&config, "user.own", "x");
	/* The instance's own device replaces the profile's whole: no "readonly" left. */
	add_dev(&devices, "data", "type", "disk", "source", "/srv/b", "path", "/mnt/b", NULL);

	assert_int_equal(config_expand(applied, 3, &config, &devices, &out, &outd), 0);
	assert_int_equal(out.n, 5);
	assert_string_equal(kvlist_get(&out, "limits.memory"), "2GiB");
	assert_string_equal(kvlist_get(&out, "limits.cpu"), "1");
	assert_string_equal(kvlist_get(&out, "snapshots.schedule"), "@daily");
	assert_string_equal(kvlist_get(&out, "user.base"), "1");
	assert_string_equal(kvlist_get(&out, "user.own"), "x");
	assert_int_equal(outd.n, 2);
	root = devices_get(&outd, "root");
	assert_non_null(root);
	assert_int_equal(root->n, 4);
	assert_string_equal(kvlist_get(root, "pool"), "fast");
	assert_string_equal(kvlist_get(root, "size"), "5GiB");
	data = devices_get(&outd, "data");
	assert_int_equal(data->n, 3);
	assert_string_equal(kvlist_get(data, "source"), "/srv/b");
	assert_null(kvlist_get(data, "readonly"));
	kvlist_done(&out);
	devices_done(&outd);

	/* Order matters: "extra" before "web" lets web's limits.cpu win over extra's, and the
	 * other way round. */
	applied[0] = &extra;
	applied[1] = &web;
	applied[2] = &base;
	assert_int_equal(config_expand(applied, 3, NULL, NULL, &out, &outd), 0);
	assert_string_equal(kvlist_get(&out, "limits.cpu"), "2");
	assert_string_equal(kvlist_get(&out, "limits.memory"), "1GiB");
	assert_string_equal(kvlist_get(devices_get(&outd, "root"), "pool"), "default");
	assert_null(kvlist_get(devices_get(&outd, "root"), "size"));
	kvlist_done(&out);
	devices_done(&outd);
	applied[0] = &base;
	applied[1] = &extra;
	applied[2] = &web;
	assert_int_equal(config_expand(applied, 3, NULL, NULL, &out, &outd), 0);
	assert_string_equal(kvlist_get(&out, "limits.cpu"), "2");
	kvlist_done(&out);
	devices_done(&outd);
	applied[1] = &web;
	applied[2] = &extra;
	assert_int_equal(config_expand(applied, 3, NULL, NULL, &out, &outd), 0);
	assert_string_equal(kvlist_get(&out, "limits.cpu"), "4");
	kvlist_done(&out);
	devices_done(&outd);

	/* No profiles: the instance's own settings; nothing at all: empty lists. The sources are
	 * untouched. */
	assert_int_equal(config_expand(NULL, 0, &config, &devices, &out, &outd), 0);
	assert_int_equal(out.n, 2);
	assert_true(devices_equal(&outd, &devices));
	kvlist_done(&out);
	devices_done(&outd);
	assert_int_equal(config_expand(NULL, 0, NULL, NULL, &out, &outd), 0);
	assert_int_equal(out.n, 0);
	assert_int_equal(outd.n, 0);
	assert_int_equal(base.config.n, 3);
	assert_int_equal(kvlist_get(devices_get(&base.devices, "data"), "readonly") != NULL, 1);
}

/* A `none` device of the instance hides the profile's device of that name and stays in the
 * expanded list, where it validates and takes no path. */
static void test_expand_none(void **state)
{
	_cleanup_profile_ struct profile p = {0};
	_cleanup_kvlist_ struct kvlist out = {0};
	_cleanup_devices_ struct devices devices = {0}, outd = {0};
	_cleanup_err_ struct err *e = NULL;
	const struct profile *applied[1] = {&p};

	(void)state;
	profile_init(&p, "default");
	add_dev(&p.devices, "root", "type", "disk", "path", "/", "pool", "default", NULL);
	add_dev(&p.devices, "data", "type", "disk", "source", "/srv", "path", "/mnt", NULL);
	add_dev(&devices, "data", "type", "none", NULL);
	/* The instance mounts another source on the path that the hidden device used. */
	add_dev(&devices, "data2", "type", "disk", "source", "/srv2", "path", "/mnt", NULL);
	assert_int_equal(config_expand(applied, 1, NULL, &devices, &out, &outd), 0);
	assert_int_equal(outd.n, 3);
	assert_int_equal(devices_get(&outd, "data")->n, 1);
	assert_string_equal(kvlist_get(devices_get(&outd, "data"), "type"), "none");
	assert_int_equal(devices_validate("instance \"c1\"", &outd, &e), 0);
	/* Without the mask, the two collide in the expanded list. */
	devices_done(&outd);
	kvlist_done(&out);
	assert_int_equal(devices_remove(&devices, "data"), 1);
	assert_int_equal(config_expand(applied, 1, NULL, &devices, &out, &outd), 0);
	expect_err(
	    &e, devices_validate("instance \"c1\"", &outd, &e),
	    "Devices \"data\" and \"data2\" of instance \"c1\" are both mounted on \"/mnt\"");
	/* A profile's root disk and an own root disk of another name: two root disks. */
	devices_done(&outd);
	kvlist_done(&out);
	add_dev(&devices, "myroot", "type", "disk", "path", "/", "pool", "fast", NULL);
	assert_int_equal(devices_remove(&devices, "data2"), 1);
	assert_int_equal(config_expand(applied, 1, NULL, &devices, &out, &outd), 0);
	expect_err(&e, devices_validate("instance \"c1\"", &outd, &e),
		   "Devices \"myroot\" and \"root\" of instance \"c1\" are both a root disk");
}

static void test_profile_validate(void **state)
{
	_cleanup_profile_ struct profile p = {0};
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	profile_init(&p, "web");
	p.description = strdup("Web servers");
	set(&p.config, "limits.memory", "2GiB");
	set(&p.config, "snapshots.schedule", "@hourly");
	set(&p.config, "user.anything", "goes");
	add_dev(&p.devices, "root", "type", "disk", "path", "/", "pool", "default", NULL);
	add_dev(&p.devices, "data", "type", "disk", "source", "/srv", "path", "/srv", NULL);
	assert_int_equal(profile_validate(&p, &e), 0);
	assert_null(e);

	/* A bad key or value, naming the profile. */
	set(&p.config, "limits.memroy", "1GiB");
	expect_err(&e, profile_validate(&p, &e), "Invalid config of profile \"web\": ");
	assert_int_equal(kvlist_unset(&p.config, "limits.memroy"), 1);
	set(&p.config, "limits.memory", "lots");
	expect_err(&e, profile_validate(&p, &e), "Invalid config of profile \"web\"");
	set(&p.config, "limits.memory", "2GiB");
	set(&p.config, "user.x", "a\001b");
	expect_err(&e, profile_validate(&p, &e), "Invalid config of profile \"web\"");
	assert_int_equal(kvlist_unset(&p.config, "user.x"), 1);

	/* volatile.* and image.* belong to instances. */
	set(&p.config, "volatile.idmap.base", "100000");
	expect_err(&e, profile_validate(&p, &e),
		   "Invalid config of profile \"web\": Key \"volatile.idmap.base\" belongs to an "
		   "instance and cannot be set in a profile");
	assert_int_equal(kvlist_unset(&p.config, "volatile.idmap.base"), 1);
	set(&p.config, "image.os", "debian");
	expect_err(&e, profile_validate(&p, &e), "Key \"image.os\" belongs to an instance");
	assert_int_equal(kvlist_unset(&p.config, "image.os"), 1);

	/* A bad device, naming the profile; two root disks; one path twice. */
	add_dev(&p.devices, "bad", "type", "disk", "sorce", "/srv", "path", "/x", NULL);
	expect_err(&e, profile_validate(&p, &e),
		   "Invalid device \"bad\" of profile \"web\": unknown key \"sorce\" for a disk "
		   "(did you mean \"source\"?)");
	assert_int_equal(devices_remove(&p.devices, "bad"), 1);
	add_dev(&p.devices, "root2", "type", "disk", "path", "/", "pool", "other", NULL);
	expect_err(&e, profile_validate(&p, &e),
		   "Devices \"root\" and \"root2\" of profile \"web\" are both a root disk");
	assert_int_equal(devices_remove(&p.devices, "root2"), 1);
	add_dev(&p.devices, "eth0", "type", "nic", NULL);
	expect_err(&e, profile_validate(&p, &e),
		   "Invalid device \"eth0\" of profile \"web\": a nic needs \"network\" (a managed "
		   "network) or \"nictype=bridged\" with \"parent\" (a host bridge)");
	assert_int_equal(devices_remove(&p.devices, "eth0"), 1);

	/* A description that is not text. */
	free(p.description);
	p.description = strdup("bad \xff");
	expect_err(&e, profile_validate(&p, &e), "Invalid description: it is not valid UTF-8");
	free(p.description);
	p.description = NULL;
	assert_int_equal(profile_validate(&p, &e), 0);
}

static void test_names(void **state)
{
	static const char *const good[] = {"default", "web",	     "a", "my-profile_1.2",
					   "Caps",    "caf\xc3\xa9", "x-"};
	static const char *const bad[] = {"",	 ".",	 "..",	 "-web",   "a/b",     "a:b",
					  "a b", "a\tb", "a\nb", "a\001b", "bad\xff", "a\x7f"};
	_cleanup_err_ struct err *e = NULL;
	char longest[64], longer[65];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (config_profile_name_valid(good[i], &e) != 0)
			fail_msg("\"%s\" refused: %s", good[i], err_msg(e, -EINVAL));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = config_profile_name_valid(bad[i], &e);

		if (r != -EINVAL || !e)
			fail_msg("\"%s\" not refused", bad[i]);
		err_freep(&e);
	}
	memset(longest, 'p', 63);
	longest[63] = '\0';
	memset(longer, 'p', 64);
	longer[64] = '\0';
	assert_int_equal(config_profile_name_valid(longest, &e), 0);
	expect_err(&e, config_profile_name_valid(longer, &e), "is longer than 63 characters");
	expect_err(&e, config_profile_name_valid("", &e), "A profile name cannot be empty");
	expect_err(&e, config_profile_name_valid("..", &e), "Profile name \"..\" is not allowed");
	expect_err(&e, config_profile_name_valid("-p", &e), "cannot start with \"-\"");
	expect_err(&e, config_profile_name_valid("a/b", &e),
		   "Profile name \"a/b\" cannot hold \"/\", \":\" or white space");
	/* Bad bytes are never quoted back. */
	expect_err(&e, config_profile_name_valid("bad\xff", &e),
		   "Invalid profile name: it is not valid UTF-8");
}

static void test_name_list(void **state)
{
	char *ok[] = {"default", "web", "db"};
	char *twice[] = {"default", "web", "default"};
	char *bad[] = {"default", "a/b"};
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	assert_int_equal(config_profile_list_valid(ok, 3, &e), 0);
	assert_int_equal(config_profile_list_valid(ok, 0, &e), 0);
	assert_int_equal(config_profile_list_valid(NULL, 0, &e), 0);
	assert_null(e);
	expect_err(&e, config_profile_list_valid(twice, 3, &e),
		   "Profile \"default\" is listed twice");
	expect_err(&e, config_profile_list_valid(bad, 2, &e), "Profile name \"a/b\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_expand_order),     cmocka_unit_test(test_expand_none),
	    cmocka_unit_test(test_profile_validate), cmocka_unit_test(test_names),
	    cmocka_unit_test(test_name_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
