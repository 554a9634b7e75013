/*
 * Devices and profiles on arbitrary JSON: each line of the input is one source of settings,
 * `{"config": {...}, "devices": {...}}`: of the first five, the last one read is the instance's
 * own and those before it its profiles, in order. Each "devices" member goes through
 * devices_from_json(), devices_validate() and devices_to_json() and back; each profile through
 * profile_validate(); and the lot through config_expand(). Beyond memory errors and leaks, it
 * checks that a refusal is -EINVAL with a message (naming the profile for profile_validate()), that
 * what devices_from_json() accepts is sorted, valid UTF-8 and holds every string whole, that the
 * JSON round trip gives the same devices, that a validated list has at most one root disk and no
 * two disks on one path, that device_path_normalize() gives a normal form, and that the expanded
 * config and devices take each key and each device whole from the last source that has it.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/utf8.h"
#include "config/devices.h"
#include "config/profiles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SOURCES 5

static void check_refusal(int r, struct err **e, const char *what, const char *needle)
{
	if (r == 0) {
		if (*e)
			abort();
		return;
	}
	if ((r != -EINVAL && r != -ENOMEM) || !*e || !(*e)->msg || !(*e)->msg[0] ||
	    (*e)->code != r) {
		fprintf(stderr, "%s: bad refusal %d\n", what, r);
		abort();
	}
	if (r == -EINVAL && needle && !strstr((*e)->msg, needle)) {
		fprintf(stderr, "%s: \"%s\" does not name %s\n", what, (*e)->msg, needle);
		abort();
	}
	err_freep(e);
}

static bool text_ok(const char *s)
{
	return utf8_valid(s, strlen(s));
}

/* The normal form: absolute, no empty, "." or ".." component, no trailing slash but for "/",
 * and normalizing it again gives itself. */
static void check_path(const char *path)
{
	char buf[PATH_MAX], again[PATH_MAX];
	int r = device_path_normalize(path, buf, sizeof(buf));

	if (r == -EINVAL || r == -ENAMETOOLONG)
		return;
	if (r != 0 || buf[0] != '/' || strstr(buf, "//") || strstr(buf, "/./") ||
	    strstr(buf, "/../") || (strlen(buf) > 1 && buf[strlen(buf) - 1] == '/'))
		abort();
	{
		size_t len = strlen(buf);

		if ((len >= 2 && strcmp(buf + len - 2, "/.") == 0) ||
		    (len >= 3 && strcmp(buf + len - 3, "/..") == 0))
			abort();
	}
	if (device_path_normalize(buf, again, sizeof(again)) != 0 || strcmp(buf, again) != 0)
		abort();
	if (strlen(buf) > strlen(path))
		abort();
}

/* What devices_validate() promises of a list it accepts. */
static void check_valid_list(const struct devices *d)
{
	size_t roots = 0;

	for (size_t i = 0; i < d->n; i++) {
		const struct kvlist *k = &d->items[i].keys;
		const char *type = kvlist_get(k, "type");
		char a[PATH_MAX];

		if (device_name_valid(d->items[i].name, NULL) != 0 ||
		    device_validate(NULL, d->items[i].name, k, NULL) != 0)
			abort();
		if (!type || (strcmp(type, "disk") != 0 && strcmp(type, "none") != 0))
			abort();
		if (strcmp(type, "none") == 0) {
			if (k->n != 1)
				abort();
			continue;
		}
		if (device_is_root_disk(k)) {
			roots++;
			if (!kvlist_get(k, "pool") || kvlist_get(k, "source"))
				abort();
		} else if (!device_is_host_disk(k) || kvlist_get(k, "pool") ||
			   kvlist_get(k, "size")) {
			abort();
		}
		if (device_path_normalize(kvlist_get(k, "path"), a, sizeof(a)) != 0)
			abort();
		for (size_t j = 0; j < i; j++) {
			const struct kvlist *o = &d->items[j].keys;
			char b[PATH_MAX];

			if (strcmp(kvlist_get(o, "type"), "disk") == 0 &&
			    device_path_normalize(kvlist_get(o, "path"), b, sizeof(b)) == 0 &&
			    strcmp(a, b) == 0)
				abort();
		}
	}
	if (roots > 1)
		abort();
	if (devices_root_disk(d, NULL) ? roots != 1 : roots != 0)
		abort();
}

/* Reads one source's devices and checks everything that needs no other source. */
static void check_devices(json_object *o, const char *owner, struct devices *ret)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_devices_ struct devices back = {0}, copy = {0};
	_cleanup_json_ json_object *out = NULL, *reparsed = NULL;
	int r = devices_from_json(o, ret, &e);

	check_refusal(r, &e, "devices_from_json", NULL);
	if (r < 0) {
		if (ret->n || ret->items)
			abort();
		return;
	}
	for (size_t i = 0; i < ret->n; i++) {
		const struct kvlist *k = &ret->items[i].keys;
		json_object *dev = NULL;

		if (i && strcmp(ret->items[i - 1].name, ret->items[i].name) >= 0)
			abort();
		if (!text_ok(ret->items[i].name))
			abort();
		if (!json_object_object_get_ex(o, ret->items[i].name, &dev))
			abort();
		for (size_t j = 0; j < k->n; j++) {
			json_object *v = NULL;

			if (!text_ok(k->items[j].key) || !text_ok(k->items[j].value))
				abort();
			/* A string value is taken whole: none cut at a NUL. */
			if (!json_object_object_get_ex(dev, k->items[j].key, &v))
				abort();
			if (json_object_is_type(v, json_type_string) &&
			    strlen(k->items[j].value) != (size_t)json_object_get_string_len(v))
				abort();
			if (strcmp(k->items[j].key, "path") == 0 ||
			    strcmp(k->items[j].key, "source") == 0)
				check_path(k->items[j].value);
		}
	}

	/* Out and back in, as an object and as printed text. */
	out = devices_to_json(ret);
	if (!out)
		abort();
	r = devices_from_json(out, &back, &e);
	if (r != 0 || !devices_equal(ret, &back))
		abort();
	devices_done(&back);
	reparsed = json_tokener_parse(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	if (!reparsed || devices_from_json(reparsed, &back, &e) != 0 || !devices_equal(ret, &back))
		abort();

	/* Copy, equality and removal agree. */
	if (devices_copy(&copy, ret) != 0 || !devices_equal(&copy, ret))
		abort();
	for (size_t i = 0; i < ret->n; i++) {
		if (!devices_get(&copy, ret->items[i].name))
			abort();
		if (devices_remove(&copy, ret->items[i].name) != 1 ||
		    devices_get(&copy, ret->items[i].name) || devices_equal(&copy, ret))
			abort();
		if (devices_remove(&copy, ret->items[i].name) != 0)
			abort();
	}
	if (copy.n != 0)
		abort();

	r = devices_validate(owner, ret, &e);
	check_refusal(r, &e, "devices_validate", owner);
	if (r == 0)
		check_valid_list(ret);
}

/* The string members of "config", as a profile or an instance holds them. */
static void read_config(json_object *o, struct kvlist *ret)
{
	if (!o || !json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, key, value)
	{
		if (!json_object_is_type(value, json_type_string))
			continue;
		if (kvlist_set(ret, key, json_object_get_string(value)) < 0)
			abort();
	}
}

/* Each expanded key and device is that of the last of the `n` sources that has it. */
static void check_expanded(const struct profile *src, size_t n, const struct kvlist *cfg,
			   const struct devices *devs)
{
	for (size_t i = 0; i < cfg->n; i++) {
		const char *want = NULL;

		for (size_t s = 0; s < n; s++)
			if (kvlist_get(&src[s].config, cfg->items[i].key))
				want = kvlist_get(&src[s].config, cfg->items[i].key);
		if (!want || strcmp(want, cfg->items[i].value) != 0)
			abort();
	}
	for (size_t i = 0; i < devs->n; i++) {
		const struct kvlist *want = NULL;
		struct devices one = {0}, other = {0};

		for (size_t s = 0; s < n; s++)
			if (devices_get(&src[s].devices, devs->items[i].name))
				want = devices_get(&src[s].devices, devs->items[i].name);
		if (!want)
			abort();
		/* Whole: the same keys and values, none merged in from an earlier source. */
		if (devices_set(&one, "x", want) < 0 ||
		    devices_set(&other, "x", &devs->items[i].keys) < 0)
			abort();
		if (!devices_equal(&one, &other))
			abort();
		devices_done(&one);
		devices_done(&other);
	}
	/* And nothing is lost. */
	for (size_t s = 0; s < n; s++) {
		for (size_t k = 0; k < src[s].config.n; k++)
			if (!kvlist_get(cfg, src[s].config.items[k].key))
				abort();
		for (size_t k = 0; k < src[s].devices.n; k++)
			if (!devices_get(devs, src[s].devices.items[k].name))
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* src[0..np-1] are the profiles in order, src[np] the instance. */
	struct profile src[MAX_SOURCES] = {0};
	const struct profile *applied[MAX_SOURCES];
	_cleanup_kvlist_ struct kvlist cfg = {0};
	_cleanup_devices_ struct devices devs = {0};
	_cleanup_free_ char *text = malloc(size + 1);
	size_t nsrc = 0, np;
	char *line, *save = NULL;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (line = strtok_r(text, "\n", &save); line && nsrc < MAX_SOURCES;
	     line = strtok_r(NULL, "\n", &save)) {
		_cleanup_json_ json_object *o = NULL;
		struct json_tokener *tok = json_tokener_new();
		json_object *devices = NULL, *config = NULL;
		char owner[32];

		if (!tok)
			abort();
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
		o = json_tokener_parse_ex(tok, line, (int)strlen(line) + 1);
		json_tokener_free(tok);
		if (!o || !json_object_is_type(o, json_type_object))
			continue;
		snprintf(owner, sizeof(owner), "p%zu", nsrc);
		src[nsrc].name = strdup(owner);
		if (!src[nsrc].name)
			abort();
		json_object_object_get_ex(o, "devices", &devices);
		json_object_object_get_ex(o, "config", &config);
		read_config(config, &src[nsrc].config);
		snprintf(owner, sizeof(owner), "profile \"p%zu\"", nsrc);
		check_devices(devices, owner, &src[nsrc].devices);
		{
			_cleanup_err_ struct err *e = NULL;
			int r = profile_validate(&src[nsrc], &e);

			check_refusal(r, &e, "profile_validate", owner);
		}
		nsrc++;
	}
	if (nsrc == 0)
		return 0;

	/* The last line read is the instance's own settings, the others its profiles. */
	np = nsrc - 1;
	for (size_t i = 0; i < np; i++)
		applied[i] = &src[i];
	if (config_expand(applied, np, &src[np].config, &src[np].devices, &cfg, &devs) != 0)
		abort();
	check_expanded(src, nsrc, &cfg, &devs);
	{
		_cleanup_err_ struct err *e = NULL;
		int r = devices_validate("instance \"c1\"", &devs, &e);

		check_refusal(r, &e, "devices_validate (expanded)", "instance \"c1\"");
		if (r == 0)
			check_valid_list(&devs);
	}
	for (size_t i = 0; i < nsrc; i++)
		profile_done(&src[i]);
	return 0;
}
