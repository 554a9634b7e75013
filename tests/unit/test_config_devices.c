/* Devices: the list type, JSON in and out, names, the validators and path normalization. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "config/devices.h"

/* Fills `l` from NULL-terminated key, value pairs. */
static void keys_of(struct kvlist *l, ...)
{
	va_list ap;
	const char *k;

	va_start(ap, l);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);

		assert_int_equal(kvlist_set(l, k, v), 0);
	}
	va_end(ap);
}

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

/* device_validate() of `owner` "instance \"c1\"" on the pairs refuses with `needle`. */
#define REFUSED(needle, ...)                                                                       \
	do {                                                                                       \
		_cleanup_kvlist_ struct kvlist k_ = {0};                                           \
		_cleanup_err_ struct err *e_ = NULL;                                               \
		keys_of(&k_, __VA_ARGS__, NULL);                                                   \
		expect_err(&e_, device_validate("instance \"c1\"", "dev", &k_, &e_), needle);      \
	} while (0)

#define ACCEPTED(...)                                                                              \
	do {                                                                                       \
		_cleanup_kvlist_ struct kvlist k_ = {0};                                           \
		_cleanup_err_ struct err *e_ = NULL;                                               \
		int r_;                                                                            \
		keys_of(&k_, __VA_ARGS__, NULL);                                                   \
		r_ = device_validate("instance \"c1\"", "dev", &k_, &e_);                          \
		if (r_ != 0)                                                                       \
			fail_msg("refused: %s", err_msg(e_, r_));                                  \
	} while (0)

/* Parses `text` as JSON and reads it with devices_from_json(). */
static int from_text(const char *text, struct devices *ret, struct err **err)
{
	_cleanup_json_ json_object *o = json_tokener_parse(text);

	assert_non_null(o);
	return devices_from_json(o, ret, err);
}

static void test_json_round_trip(void **state)
{
	_cleanup_devices_ struct devices d = {0}, back = {0};
	_cleanup_json_ json_object *o = NULL, *again = NULL;
	_cleanup_err_ struct err *e = NULL;
	json_object *dev = NULL, *v = NULL;

	(void)state;
	/* Booleans and numbers are taken as their text, as Incus' clients send them. */
	assert_int_equal(from_text("{\"root\": {\"type\": \"disk\", \"path\": \"/\", \"pool\": "
				   "\"default\", \"size\": 1073741824},"
				   " \"data\": {\"type\": \"disk\", \"source\": \"/srv\","
				   " \"path\": \"/mnt/data\", \"readonly\": true},"
				   " \"gone\": {\"type\": \"none\"}, \"f\": {\"x\": 1.5}}",
				   &d, &e),
			 0);
	assert_null(e);
	assert_int_equal(d.n, 4);
	/* Sorted by name. */
	assert_string_equal(d.items[0].name, "data");
	assert_string_equal(d.items[1].name, "f");
	assert_string_equal(d.items[2].name, "gone");
	assert_string_equal(d.items[3].name, "root");
	assert_string_equal(kvlist_get(devices_get(&d, "root"), "size"), "1073741824");
	assert_string_equal(kvlist_get(devices_get(&d, "data"), "readonly"), "true");
	assert_string_equal(kvlist_get(devices_get(&d, "f"), "x"), "1.5");
	assert_string_equal(kvlist_get(devices_get(&d, "gone"), "type"), "none");
	assert_null(devices_get(&d, "nope"));

	/* Out as strings only, and back to the same list. */
	o = devices_to_json(&d);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "data", &dev));
	assert_true(json_object_object_get_ex(dev, "readonly", &v));
	assert_true(json_object_is_type(v, json_type_string));
	assert_string_equal(json_object_get_string(v), "true");
	assert_int_equal(devices_from_json(o, &back, &e), 0);
	assert_true(devices_equal(&d, &back));
	devices_done(&back);
	again = json_tokener_parse(json_object_to_json_string(o));
	assert_int_equal(devices_from_json(again, &back, &e), 0);
	assert_true(devices_equal(&d, &back));
	devices_done(&back);

	/* NULL is no devices, {} too; both come out as {}. */
	assert_int_equal(devices_from_json(NULL, &back, &e), 0);
	assert_int_equal(back.n, 0);
	assert_int_equal(from_text("{}", &back, &e), 0);
	assert_int_equal(back.n, 0);
	json_object_put(o);
	o = devices_to_json(&back);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "{}");
}

static void test_json_refusals(void **state)
{
	_cleanup_devices_ struct devices d = {0};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_json_ json_object *o = NULL;
	json_object *dev;

	(void)state;
	expect_err(&e, from_text("[]", &d, &e), "Field \"devices\" must be an object");
	expect_err(&e, from_text("\"root\"", &d, &e), "Field \"devices\" must be an object");
	expect_err(&e, from_text("{\"root\": \"disk\"}", &d, &e),
		   "Device \"root\" must be an object");
	expect_err(&e, from_text("{\"root\": null}", &d, &e), "Device \"root\" must be an object");
	expect_err(&e, from_text("{\"root\": [1]}", &d, &e), "Device \"root\" must be an object");
	expect_err(&e, from_text("{\"root\": {\"path\": [\"/\"]}}", &d, &e),
		   "The \"path\" of device \"root\" must be a string");
	expect_err(&e, from_text("{\"root\": {\"path\": {}}}", &d, &e),
		   "The \"path\" of device \"root\" must be a string");
	expect_err(&e, from_text("{\"root\": {\"path\": null}}", &d, &e),
		   "The \"path\" of device \"root\" must be a string");
	/* Invalid UTF-8 and control characters, in a name, a key and a value, never quoted. */
	expect_err(&e, from_text("{\"d\xc3\": {}}", &d, &e),
		   "Invalid device name: it is not valid");
	expect_err(&e, from_text("{\"d\": {\"k\xff\": \"v\"}}", &d, &e),
		   "Invalid device key: it is not valid UTF-8");
	expect_err(&e, from_text("{\"d\": {\"source\": \"/srv/\xc0\xaf\"}}", &d, &e),
		   "Invalid device value: it is not valid UTF-8");
	expect_err(&e, from_text("{\"d\": {\"source\": \"/srv\\u0001\"}}", &d, &e),
		   "Invalid device value: it holds a control character");
	/* A NUL inside a value would cut it short as a C string: refused, not truncated. */
	expect_err(&e, from_text("{\"d\": {\"source\": \"/srv\\u0000/x\"}}", &d, &e),
		   "The \"source\" of device \"d\" holds a NUL character");
	o = json_object_new_object();
	dev = json_object_new_object();
	json_object_object_add(o, "d", dev);
	json_object_object_add(dev, "path", json_object_new_string_len("/a\0b", 4));
	expect_err(&e, devices_from_json(o, &d, &e), "holds a NUL character");
	/* A refusal leaves *ret empty. */
	assert_int_equal(d.n, 0);
	assert_null(d.items);
}

static void test_names(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	char max[65];

	(void)state;
	memset(max, 'a', 64);
	max[64] = '\0';
	assert_int_equal(device_name_valid("root", &e), 0);
	assert_int_equal(device_name_valid("eth0", &e), 0);
	assert_int_equal(device_name_valid("data_1.backup-2", &e), 0);
	assert_int_equal(device_name_valid("A", &e), 0);
	assert_int_equal(device_name_valid(max, &e), 0);
	assert_null(e);
	expect_err(&e, device_name_valid("", &e), "A device name cannot be empty");
	{
		char longer[66];

		memset(longer, 'a', 65);
		longer[65] = '\0';
		expect_err(&e, device_name_valid(longer, &e), "is longer than 64 characters");
	}
	expect_err(&e, device_name_valid(".hidden", &e), "cannot start with \".\"");
	expect_err(&e, device_name_valid("-x", &e), "cannot start with \"-\"");
	expect_err(&e, device_name_valid("a b", &e), "may only hold letters, digits");
	expect_err(&e, device_name_valid("a/b", &e), "\"a/b\" may only hold");
	expect_err(&e, device_name_valid("a:b", &e), "may only hold");
	expect_err(&e, device_name_valid("caf\xc3\xa9", &e), "may only hold");
	/* device_validate() checks the name too, naming where the device comes from. */
	{
		_cleanup_kvlist_ struct kvlist k = {0};

		keys_of(&k, "type", "none", NULL);
		expect_err(&e, device_validate("profile \"web\"", "../x", &k, &e),
			   "Invalid device of profile \"web\": Device name \"../x\"");
		expect_err(&e, device_validate(NULL, "bad\xff", &k, &e),
			   "Invalid device name: it is not valid UTF-8");
	}
}

static void test_validate_types(void **state)
{
	(void)state;
	ACCEPTED("type", "disk", "path", "/", "pool", "default");
	ACCEPTED("type", "disk", "path", "/", "pool", "fast", "size", "10GiB");
	ACCEPTED("type", "disk", "path", "/", "pool", "default", "readonly", "false");
	ACCEPTED("type", "disk", "source", "/srv/data", "path", "/mnt/data");
	ACCEPTED("type", "disk", "source", "/srv/data", "path", "/mnt/data", "readonly", "true");
	ACCEPTED("type", "disk", "source", "/etc/hosts", "path", "/etc/hosts.host", "readonly",
		 "1");
	ACCEPTED("type", "none");

	REFUSED("Invalid device \"dev\" of instance \"c1\": it has no \"type\"", "path", "/");
	REFUSED("it has no \"type\"", "type", "", "path", "/");
	REFUSED("Invalid device \"dev\" of instance \"c1\": unknown type \"usb\" (valid types: "
		"disk, nic, none)",
		"type", "usb");
	REFUSED("unknown type \"Disk\" (valid types: disk, nic, none)", "type", "Disk");
	REFUSED("Invalid device \"dev\" of instance \"c1\": a bridged nic needs a \"parent\" (a "
		"bridge)",
		"type", "nic", "nictype", "bridged");
	REFUSED("Invalid device \"dev\" of instance \"c1\": a device of type \"none\" takes no "
		"other key",
		"type", "none", "path", "/x");
}

static void test_validate_disk(void **state)
{
	_cleanup_kvlist_ struct kvlist k = {0};
	_cleanup_err_ struct err *e = NULL;
	char long_path[PATH_MAX + 16];

	(void)state;
	/* Unknown keys, with the nearest known one when there is one. */
	REFUSED("Invalid device \"dev\" of instance \"c1\": unknown key \"sorce\" for a disk (did "
		"you mean \"source\"?)",
		"type", "disk", "sorce", "/srv", "path", "/mnt");
	REFUSED("unknown key \"readonyl\" for a disk (did you mean \"readonly\"?)", "type", "disk",
		"source", "/srv", "path", "/mnt", "readonyl", "true");
	REFUSED("unknown key \"zzzzzzzz\" for a disk (keys: path, source, pool, size, readonly)",
		"type", "disk", "source", "/srv", "path", "/mnt", "zzzzzzzz", "1");
	/* A path, and what each kind of disk needs and takes. */
	REFUSED("a disk needs a \"path\"", "type", "disk", "source", "/srv");
	REFUSED("a disk needs a \"path\"", "type", "disk", "path", "", "source", "/srv");
	REFUSED("the root disk needs a \"pool\"", "type", "disk", "path", "/");
	REFUSED("the root disk needs a \"pool\"", "type", "disk", "path", "/", "pool", "");
	REFUSED("Invalid device \"dev\" of instance \"c1\"", "type", "disk", "path", "/", "pool",
		"bad/pool");
	REFUSED("a host path cannot be mounted on \"/\"", "type", "disk", "path", "/", "source",
		"/srv");
	REFUSED("a host path cannot be mounted on \"/\"", "type", "disk", "path", "//./", "source",
		"/srv", "pool", "default");
	REFUSED("a disk on \"/mnt\" needs a \"source\" (a host path); only the root disk (path "
		"\"/\") lives on a pool",
		"type", "disk", "path", "/mnt", "pool", "default");
	REFUSED("a disk with a \"source\" takes no \"pool\"", "type", "disk", "source", "/srv",
		"path", "/mnt", "pool", "default");
	REFUSED("a disk with a \"source\" takes no \"size\"", "type", "disk", "source", "/srv",
		"path", "/mnt", "size", "1GiB");
	REFUSED("\"source\" cannot be empty", "type", "disk", "source", "", "path", "/mnt");
	/* Paths: absolute, without "..". */
	REFUSED("\"path\" must be an absolute path without \"..\" (got \"mnt/data\")", "type",
		"disk", "source", "/srv", "path", "mnt/data");
	REFUSED("\"source\" must be an absolute path without \"..\" (got \"srv\")", "type", "disk",
		"source", "srv", "path", "/mnt");
	REFUSED("\"source\" must be an absolute path without \"..\" (got \"/srv/../etc\")", "type",
		"disk", "source", "/srv/../etc", "path", "/mnt");
	REFUSED("\"path\" must be an absolute path without \"..\" (got \"/mnt/..\")", "type",
		"disk", "source", "/srv", "path", "/mnt/..");
	REFUSED("\"path\" must be an absolute path without \"..\"", "type", "disk", "path", "/..",
		"pool", "default");
	/* "..data" and "..." are names, not "..". */
	ACCEPTED("type", "disk", "source", "/srv/..data", "path", "/mnt/...");
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	keys_of(&k, "type", "disk", "source", "/srv", "path", long_path, NULL);
	expect_err(&e, device_validate(NULL, "dev", &k, &e),
		   "Invalid device \"dev\": \"path\" is too long");
	/* readonly is a boolean; size a size that is not zero. */
	REFUSED("invalid \"readonly\" \"maybe\": expected true or false", "type", "disk", "source",
		"/srv", "path", "/mnt", "readonly", "maybe");
	REFUSED("invalid \"readonly\" \"\": expected true or false", "type", "disk", "source",
		"/srv", "path", "/mnt", "readonly", "");
	REFUSED("the root disk cannot be read-only", "type", "disk", "path", "/", "pool", "default",
		"readonly", "true");
	REFUSED("invalid \"size\" \"lots\": expected a size such as 10GiB", "type", "disk", "path",
		"/", "pool", "default", "size", "lots");
	REFUSED("invalid \"size\" \"0\": expected a size such as 10GiB", "type", "disk", "path",
		"/", "pool", "default", "size", "0");
	REFUSED("invalid \"size\" \"0GiB\"", "type", "disk", "path", "/", "pool", "default", "size",
		"0GiB");
	REFUSED("invalid \"size\" \"-1\"", "type", "disk", "path", "/", "pool", "default", "size",
		"-1");
	/* Without an owner, the message says only the device. */
	kvlist_done(&k);
	keys_of(&k, "type", "disk", "path", "/", NULL);
	expect_err(&e, device_validate(NULL, "root", &k, &e),
		   "Invalid device \"root\": the root disk needs a \"pool\"");
}

static void test_kinds(void **state)
{
	_cleanup_kvlist_ struct kvlist root = {0}, host = {0}, none = {0}, odd = {0};

	(void)state;
	keys_of(&root, "type", "disk", "path", "/./", "pool", "default", NULL);
	keys_of(&host, "type", "disk", "path", "/mnt", "source", "/srv", NULL);
	keys_of(&none, "type", "none", NULL);
	keys_of(&odd, "type", "disk", "path", "/", "source", "/srv", NULL);
	assert_true(device_is_root_disk(&root));
	assert_false(device_is_host_disk(&root));
	assert_false(device_is_root_disk(&host));
	assert_true(device_is_host_disk(&host));
	assert_false(device_is_root_disk(&none));
	assert_false(device_is_host_disk(&none));
	/* A disk on "/" with a source is no root disk (and device_validate() refuses it). */
	assert_false(device_is_root_disk(&odd));
}

static void test_validate_list(void **state)
{
	_cleanup_devices_ struct devices d = {0};
	_cleanup_err_ struct err *e = NULL;
	const char *name = NULL;

	(void)state;
	assert_int_equal(devices_validate("instance \"c1\"", &d, &e), 0);
	assert_null(devices_root_disk(&d, &name));
	add_dev(&d, "root", "type", "disk", "path", "/", "pool", "default", NULL);
	add_dev(&d, "data", "type", "disk", "source", "/srv/data", "path", "/mnt/data", NULL);
	add_dev(&d, "hosts", "type", "disk", "source", "/etc/hosts", "path", "/etc/hosts.h", NULL);
	assert_int_equal(devices_validate("instance \"c1\"", &d, &e), 0);
	assert_null(e);
	assert_non_null(devices_root_disk(&d, &name));
	assert_string_equal(name, "root");

	/* A second root disk, under another spelling of "/". */
	add_dev(&d, "root2", "type", "disk", "path", "//.", "pool", "other", NULL);
	expect_err(&e, devices_validate("profile \"web\"", &d, &e),
		   "Devices \"root\" and \"root2\" of profile \"web\" are both a root disk "
		   "(path \"/\")");
	assert_int_equal(devices_remove(&d, "root2"), 1);

	/* Two devices on one path once normalized. */
	add_dev(&d, "more", "type", "disk", "source", "/srv/more", "path", "/mnt//data/", NULL);
	expect_err(&e, devices_validate("instance \"c1\"", &d, &e),
		   "Devices \"data\" and \"more\" of instance \"c1\" are both mounted on "
		   "\"/mnt/data\"");
	assert_int_equal(devices_remove(&d, "more"), 1);
	add_dev(&d, "more", "type", "disk", "source", "/srv/more", "path", "/mnt/./data", NULL);
	expect_err(&e, devices_validate(NULL, &d, &e),
		   "Devices \"data\" and \"more\" are both mounted on \"/mnt/data\"");
	assert_int_equal(devices_remove(&d, "more"), 1);
	/* A different path that only starts the same is fine. */
	add_dev(&d, "more", "type", "disk", "source", "/srv/more", "path", "/mnt/data2", NULL);
	assert_int_equal(devices_validate(NULL, &d, &e), 0);

	/* `none` devices are no disks: they take no path and collide with nothing. */
	add_dev(&d, "gone", "type", "none", NULL);
	add_dev(&d, "gone2", "type", "none", NULL);
	assert_int_equal(devices_validate(NULL, &d, &e), 0);
	/* One bad device fails the list, naming it. */
	add_dev(&d, "zz", "type", "disk", "path", "/x", NULL);
	expect_err(&e, devices_validate("instance \"c1\"", &d, &e),
		   "Invalid device \"zz\" of instance \"c1\": a disk on \"/x\" needs a \"source\"");
}

static void check_norm(const char *in, int want_r, const char *want)
{
	char buf[PATH_MAX];
	int r = device_path_normalize(in, buf, sizeof(buf));

	if (r != want_r)
		fail_msg("%s: got %d, expected %d", in, r, want_r);
	if (r == 0 && strcmp(buf, want) != 0)
		fail_msg("%s: got \"%s\", expected \"%s\"", in, buf, want);
}

static void test_path_normalize(void **state)
{
	char small[6];

	(void)state;
	check_norm("/", 0, "/");
	check_norm("//", 0, "/");
	check_norm("/.", 0, "/");
	check_norm("/././/", 0, "/");
	check_norm("/mnt/data", 0, "/mnt/data");
	check_norm("/mnt//data/", 0, "/mnt/data");
	check_norm("/mnt//data/.", 0, "/mnt/data");
	check_norm("///mnt/./data///", 0, "/mnt/data");
	check_norm("/..data/...", 0, "/..data/...");
	check_norm("/.hidden/x.", 0, "/.hidden/x.");
	check_norm("/a b/\xc3\xa9", 0, "/a b/\xc3\xa9");
	check_norm("", -EINVAL, NULL);
	check_norm("mnt", -EINVAL, NULL);
	check_norm("./mnt", -EINVAL, NULL);
	check_norm("/..", -EINVAL, NULL);
	check_norm("/mnt/..", -EINVAL, NULL);
	check_norm("/mnt/../etc", -EINVAL, NULL);
	check_norm("/mnt/../", -EINVAL, NULL);
	/* The buffer: "/abcd" and its NUL fit in 6 bytes, "/abcde" does not. */
	assert_int_equal(device_path_normalize("/abcd//", small, sizeof(small)), 0);
	assert_string_equal(small, "/abcd");
	assert_int_equal(device_path_normalize("/abcde", small, sizeof(small)), -ENAMETOOLONG);
	assert_int_equal(device_path_normalize("/a/./b/c", small, sizeof(small)), -ENAMETOOLONG);
	assert_int_equal(device_path_normalize("/a/./b//", small, sizeof(small)), 0);
	assert_string_equal(small, "/a/b");
	assert_int_equal(device_path_normalize("/", small, 1), -EINVAL);
}

static void test_list_ops(void **state)
{
	_cleanup_devices_ struct devices d = {0}, c = {0}, other = {0};
	_cleanup_kvlist_ struct kvlist k = {0};

	(void)state;
	/* Kept sorted whatever the order of insertion. */
	add_dev(&d, "m", "type", "none", NULL);
	add_dev(&d, "b", "type", "none", NULL);
	add_dev(&d, "z", "type", "none", NULL);
	add_dev(&d, "a", "type", "none", NULL);
	add_dev(&d, "c", "type", "none", NULL);
	assert_int_equal(d.n, 5);
	assert_string_equal(d.items[0].name, "a");
	assert_string_equal(d.items[1].name, "b");
	assert_string_equal(d.items[2].name, "c");
	assert_string_equal(d.items[3].name, "m");
	assert_string_equal(d.items[4].name, "z");

	/* Set replaces a device whole: no key of the old one is left. */
	add_dev(&d, "m", "type", "disk", "source", "/srv", "path", "/mnt", NULL);
	assert_int_equal(d.n, 5);
	add_dev(&d, "m", "type", "disk", "path", "/", "pool", "p", NULL);
	assert_null(kvlist_get(devices_get(&d, "m"), "source"));
	assert_string_equal(kvlist_get(devices_get(&d, "m"), "pool"), "p");
	/* What was set is a copy. */
	keys_of(&k, "type", "none", NULL);
	assert_int_equal(devices_set(&d, "k", &k), 0);
	assert_int_equal(kvlist_set(&k, "type", "disk"), 0);
	assert_string_equal(kvlist_get(devices_get(&d, "k"), "type"), "none");

	/* Copy and equality. */
	assert_int_equal(devices_copy(&c, &d), 0);
	assert_true(devices_equal(&c, &d));
	assert_true(devices_equal(&other, &other));
	assert_false(devices_equal(&c, &other));
	add_dev(&c, "m", "type", "disk", "path", "/", "pool", "q", NULL);
	assert_false(devices_equal(&c, &d)); /* a value */
	add_dev(&c, "m", "type", "disk", "path", "/", "pool", "p", "size", "1GiB", NULL);
	assert_false(devices_equal(&c, &d)); /* a key more */
	add_dev(&c, "m", "type", "disk", "path", "/", "pool", "p", NULL);
	assert_true(devices_equal(&c, &d));
	assert_int_equal(devices_remove(&c, "k"), 1);
	add_dev(&c, "kk", "type", "none", NULL);
	assert_false(devices_equal(&c, &d)); /* a name */

	/* Remove keeps the order; a second remove finds nothing. */
	assert_int_equal(devices_remove(&d, "b"), 1);
	assert_int_equal(devices_remove(&d, "b"), 0);
	assert_int_equal(devices_remove(&d, "nope"), 0);
	assert_int_equal(devices_remove(&d, "a"), 1);
	assert_int_equal(devices_remove(&d, "z"), 1);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.items[0].name, "c");
	assert_string_equal(d.items[1].name, "k");
	assert_string_equal(d.items[2].name, "m");
	devices_done(&d);
	devices_done(&d);
	assert_int_equal(d.n, 0);
	assert_int_equal(devices_remove(&d, "c"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_round_trip), cmocka_unit_test(test_json_refusals),
	    cmocka_unit_test(test_names),	    cmocka_unit_test(test_validate_types),
	    cmocka_unit_test(test_validate_disk),   cmocka_unit_test(test_kinds),
	    cmocka_unit_test(test_validate_list),   cmocka_unit_test(test_path_normalize),
	    cmocka_unit_test(test_list_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
