/*
 * What a migration's source decides from what the other daemon sends (migration/plan.c), on
 * arbitrary input. The first byte sets the flags (the target has the instance, instance only,
 * exclude older); the first line after it is the target's haves as JSON
 * (`{"driver":..., "exists":..., "snapshots":[{"name","uuid","created_at"}...]}`), read field by
 * field as the source reads it (parse_haves() in migration/migration.c is static, so the target
 * reads it the same way itself); the second line is the source's own snapshots, an array of the
 * same objects, kept as a source has them (non-empty names and UUIDs, each once; a UUID that
 * does not read is replaced, as the source makes one for a snapshot without). Both go to
 * migration_plan_make(). Each line (to its first NUL) is also read by migration_uuid_parse(),
 * as a target's recorded UUID is. Not reached: the JSON readers inside migration.c
 * (parse_haves(), read_preamble() and the preamble's "parent", "parent_uuid" and "prune" in
 * refresh_optimized() and prune()), which are static and need a daemon's instances.
 *
 * Beyond memory errors and leaks, it checks that the plan is the one plan.h describes: a
 * target without the instance gets every snapshot (none with instance only) and nothing is
 * pruned; otherwise a source snapshot is sent exactly when no target snapshot has its UUID
 * (and, with exclude older, it is not older than the target's newest), in the source's order
 * with its UUID; the parent is the newest source snapshot the target has by UUID, with the
 * target's name for it; prune lists, in order, the target's snapshots whose UUID and name the
 * source has not; -EEXIST (with a message) exactly when a source snapshot to send has the name
 * of a target snapshot. An accepted UUID is 32 hex digits and dashes and formats back to the
 * same bytes; a formatted UUID reads back.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "migration/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* At most as many snapshots as a backup index holds (BACKUP_INDEX_MAX_SNAPSHOTS); fewer keep
 * the quadratic checks fast. */
#define MAX_SNAPS 256

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void fuzz_uuid(const char *s)
{
	uint8_t out[16], back[16];
	char text[37];
	size_t k = 0;
	bool plain = true;
	int r = migration_uuid_parse(s, out);

	if (r != 0 && r != -EINVAL)
		abort();
	/* 32 hex digits without dashes always read. */
	for (const char *p = s; *p; p++)
		if (hexval(*p) < 0)
			plain = false;
	if (plain && strlen(s) == 32 && r != 0)
		abort();
	if (r < 0)
		return;
	for (const char *p = s; *p; p++) {
		if (*p == '-')
			continue;
		if (k >= 32 || hexval(*p) < 0)
			abort();
		if (((out[k / 2] >> (k % 2 ? 0 : 4)) & 0xf) != hexval(*p))
			abort();
		k++;
	}
	if (k != 32)
		abort();
	migration_uuid_format(out, text);
	if (strlen(text) != 36 || migration_uuid_parse(text, back) != 0 || memcmp(out, back, 16))
		abort();
}

/* The snapshots of a JSON array as the source reads the haves' (NULL-named when an entry is
 * not an object with string name and uuid: the source refuses the whole list then). */
static bool read_snaps(json_object *list, struct migration_snap *v, size_t *n)
{
	size_t len;

	*n = 0;
	if (!json_object_is_type(list, json_type_array))
		return false;
	len = json_object_array_length(list);
	if (len > MAX_SNAPS)
		return false;
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(list, i), *name, *uuid, *t;

		if (!json_object_is_type(e, json_type_object) ||
		    !json_object_object_get_ex(e, "name", &name) ||
		    !json_object_is_type(name, json_type_string) ||
		    !json_object_object_get_ex(e, "uuid", &uuid) ||
		    !json_object_is_type(uuid, json_type_string))
			return false;
		v[i].name = json_object_get_string(name);
		v[i].uuid = json_object_get_string(uuid);
		v[i].created_at =
		    json_object_object_get_ex(e, "created_at", &t) ? json_object_get_int64(t) : 0;
	}
	*n = len;
	return true;
}

static const struct migration_snap *find(const struct migration_snap *v, size_t n, const char *name,
					 const char *uuid)
{
	for (size_t i = 0; i < n; i++)
		if ((name && strcmp(v[i].name, name) == 0) ||
		    (uuid && *uuid && strcmp(v[i].uuid, uuid) == 0))
			return &v[i];
	return NULL;
}

static void check_plan(const struct migration_snap *src, size_t n_src,
		       const struct migration_snap *have, size_t n_have, bool exists,
		       bool instance_only, bool exclude_older)
{
	_cleanup_migration_plan_ struct migration_plan p = {0};
	_cleanup_err_ struct err *e = NULL;
	const struct migration_snap *parent = NULL, *target_parent = NULL;
	int64_t newest = INT64_MIN;
	size_t k = 0, j = 0;
	bool clash = false;
	int r = migration_plan_make(src, n_src, have, n_have, exists, instance_only, exclude_older,
				    &p, &e);

	if (!exists)
		n_have = 0;
	for (size_t i = 0; i < n_have; i++)
		if (have[i].created_at > newest)
			newest = have[i].created_at;
	for (size_t i = 0; i < n_src && !instance_only; i++) {
		const struct migration_snap *h = find(have, n_have, NULL, src[i].uuid);

		if (h) {
			parent = &src[i];
			target_parent = h;
		} else if (find(have, n_have, src[i].name, NULL)) {
			clash = true;
			break;
		}
	}
	if (r < 0) {
		if (r != -EEXIST || !clash || !e || !e->msg || !e->msg[0] || p.send)
			abort();
		return;
	}
	if (r != 0 || e || clash || !p.send || !p.send_uuids)
		abort();
	if (strv_length(p.send) != strv_length(p.send_uuids))
		abort();
	for (size_t i = 0; i < n_src && !instance_only; i++) {
		if (find(have, n_have, NULL, src[i].uuid))
			continue;
		if (exclude_older && n_have > 0 && src[i].created_at < newest)
			continue;
		if (!p.send[k] || strcmp(p.send[k], src[i].name) != 0 ||
		    strcmp(p.send_uuids[k], src[i].uuid) != 0)
			abort();
		k++;
	}
	if (p.send[k])
		abort();
	if (!parent != !p.parent || !p.parent != !p.parent_uuid || !p.parent != !p.target_parent)
		abort();
	if (parent &&
	    (strcmp(p.parent, parent->name) != 0 || strcmp(p.parent_uuid, parent->uuid) != 0 ||
	     strcmp(p.target_parent, target_parent->name) != 0))
		abort();
	for (size_t i = 0; i < n_have; i++) {
		if (find(src, n_src, have[i].name, have[i].uuid))
			continue;
		if (!p.prune || !p.prune[j] || strcmp(p.prune[j], have[i].name) != 0)
			abort();
		j++;
	}
	if (p.prune && p.prune[j])
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ json_object *haves = NULL, *srcs = NULL;
	struct migration_snap have[MAX_SNAPS], src[MAX_SNAPS];
	char uuids[MAX_SNAPS][37];
	size_t n_have = 0, n_src = 0, n_raw = 0;
	json_object *v, *list;
	char *line, *nl;
	bool exists;
	uint8_t flags;

	if (size < 1)
		return 0;
	flags = data[0];
	text = malloc(size);
	if (!text)
		abort();
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	for (line = text; line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		fuzz_uuid(line);
	}
	/* The lines again, now that each ends with a NUL. */
	haves = json_tokener_parse(text);
	nl = text + strlen(text) + 1;
	if (nl <= text + size - 1)
		srcs = json_tokener_parse(nl);
	if (!haves || !json_object_is_type(haves, json_type_object) ||
	    !json_object_object_get_ex(haves, "driver", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    !json_object_object_get_ex(haves, "snapshots", &list) ||
	    !read_snaps(list, have, &n_have))
		return 0;
	exists = json_object_object_get_ex(haves, "exists", &v) && json_object_get_boolean(v);
	if (flags & 1)
		exists = !exists;
	if (srcs && json_object_is_type(srcs, json_type_array) && read_snaps(srcs, src, &n_raw)) {
		/* As a source has them: names non-empty and unique, each a UUID of its own. */
		for (size_t i = 0; i < n_raw; i++) {
			uint8_t u[16] = {0};

			if (!*src[i].name || find(src, n_src, src[i].name, NULL))
				continue;
			if (migration_uuid_parse(src[i].uuid, u) < 0)
				memcpy(u, &i, sizeof(i));
			migration_uuid_format(u, uuids[n_src]);
			if (find(src, n_src, NULL, uuids[n_src]))
				continue;
			src[n_src] = (struct migration_snap){.name = src[i].name,
							     .uuid = uuids[n_src],
							     .created_at = src[i].created_at};
			n_src++;
		}
	}
	check_plan(src, n_src, have, n_have, exists, flags & 2, flags & 4);
	return 0;
}
