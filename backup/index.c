#include "backup/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/devices.h"
#include "config/names.h"
#include "config/snaprules.h"
#include "config/yaml.h"

/* How Incus writes a time that is not set (Go's zero time.Time). */
#define ZERO_TIME "0001-01-01T00:00:00Z"

void backup_index_done(struct backup_index *idx)
{
	if (!idx)
		return;
	free(idx->name);
	free(idx->backend);
	free(idx->pool);
	db_instance_done(&idx->instance);
	db_snapshots_free(idx->snapshots, idx->n_snapshots);
	*idx = (struct backup_index){0};
}

static json_object *time_json(int64_t t)
{
	_cleanup_free_ char *s = t > 0 ? time_format_rfc3339(t) : strdup(ZERO_TIME);

	return json_object_new_string(s ? s : ZERO_TIME);
}

static json_object *config_json(const struct kvlist *l)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; o && i < l->n; i++)
		json_object_object_add(o, l->items[i].key,
				       json_object_new_string(l->items[i].value));
	return o;
}

static json_object *strv_json(char *const *v)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; a && v && v[i]; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static json_object *str_json(const char *s)
{
	return json_object_new_string(s ? s : "");
}

int backup_index_render(const struct db_instance *row, const struct db_snapshot *snaps, size_t n,
			const char *backend, bool optimized, bool stateful, char **ret_text,
			struct err **err)
{
	_cleanup_json_ json_object *doc = json_object_new_object();
	json_object *names = json_object_new_array(), *config = json_object_new_object(),
		    *inst = json_object_new_object(), *list = json_object_new_array(),
		    *pool = json_object_new_object();

	if (!doc || !names || !config || !inst || !list || !pool) {
		json_object_put(names);
		json_object_put(config);
		json_object_put(inst);
		json_object_put(list);
		json_object_put(pool);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	json_object_object_add(doc, "name", str_json(row->name));
	json_object_object_add(doc, "backend", str_json(backend));
	json_object_object_add(doc, "pool", str_json(row->pool));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(names, str_json(snaps[i].name));
	json_object_object_add(doc, "snapshots", names);
	json_object_object_add(doc, "optimized", json_object_new_boolean(optimized));
	json_object_object_add(doc, "optimized_header", json_object_new_boolean(false));
	json_object_object_add(doc, "type", str_json("container"));

	json_object_object_add(inst, "name", str_json(row->name));
	json_object_object_add(inst, "description", str_json(row->description));
	json_object_object_add(inst, "architecture", str_json(row->architecture));
	json_object_object_add(inst, "created_at", time_json(row->created_at));
	json_object_object_add(inst, "last_used_at", time_json(row->last_used_at));
	json_object_object_add(inst, "config", config_json(&row->config));
	json_object_object_add(inst, "devices", devices_to_json(&row->devices));
	json_object_object_add(inst, "profiles", strv_json(row->profiles));
	json_object_object_add(inst, "expanded_config", config_json(&row->expanded_config));
	json_object_object_add(inst, "expanded_devices", devices_to_json(&row->expanded_devices));
	json_object_object_add(inst, "ephemeral", json_object_new_boolean(false));
	json_object_object_add(inst, "stateful", json_object_new_boolean(stateful));
	json_object_object_add(inst, "type", str_json("container"));
	json_object_object_add(config, "container", inst);

	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_new_object();

		if (!s)
			return err_set(err, -ENOMEM, "Out of memory");
		json_object_object_add(s, "name", str_json(snaps[i].name));
		json_object_object_add(s, "description", str_json(snaps[i].description));
		json_object_object_add(s, "architecture", str_json(row->architecture));
		json_object_object_add(s, "created_at", time_json(snaps[i].created_at));
		json_object_object_add(s, "expires_at", time_json(snaps[i].expires_at));
		json_object_object_add(s, "stateful", json_object_new_boolean(snaps[i].stateful));
		json_object_object_add(s, "ephemeral", json_object_new_boolean(false));
		json_object_object_add(s, "config", config_json(&snaps[i].config));
		json_object_object_add(s, "devices", devices_to_json(&snaps[i].devices));
		json_object_object_add(s, "profiles", strv_json(snaps[i].profiles));
		/* cairn's own: Incus does not tell scheduled snapshots from manual ones. */
		json_object_object_add(s, "scheduled", json_object_new_boolean(snaps[i].scheduled));
		json_object_array_add(list, s);
	}
	json_object_object_add(config, "snapshots", list);
	json_object_object_add(pool, "name", str_json(row->pool));
	json_object_object_add(pool, "driver", str_json(backend));
	json_object_object_add(config, "pool", pool);
	json_object_object_add(doc, "config", config);
	return config_yaml_emit(doc, ret_text, err);
}

static int bad(struct err **err, const char *what)
{
	return err_set(err, -EINVAL, "Invalid backup index: %s", what);
}

/* An optional string member; NULL when absent or null. -EINVAL for another type. */
static int get_string(json_object *o, const char *key, const char **ret, struct err **err)
{
	json_object *v = NULL;

	*ret = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return err_set(err, -EINVAL, "Invalid backup index: \"%s\" is not a string", key);
	*ret = json_object_get_string(v);
	return 0;
}

static int get_bool(json_object *o, const char *key, bool *ret, struct err **err)
{
	json_object *v = NULL;

	*ret = false;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (json_object_is_type(v, json_type_boolean)) {
		*ret = json_object_get_boolean(v);
		return 0;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);

		if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
			*ret = strcmp(s, "true") == 0;
			return 0;
		}
	}
	return err_set(err, -EINVAL, "Invalid backup index: \"%s\" is not a boolean", key);
}

static int get_time(json_object *o, const char *key, int64_t *ret, struct err **err)
{
	const char *s = NULL;
	int64_t t = 0;
	int r;

	*ret = 0;
	r = get_string(o, key, &s, err);
	if (r < 0 || !s || !*s)
		return r;
	r = time_parse_rfc3339(s, &t, err);
	if (r < 0)
		return err_wrap(err, r, "Invalid backup index: \"%s\"", key);
	/* Go's zero time (year 1) and anything before 1970 mean "not set". */
	*ret = t > 0 ? t : 0;
	return 0;
}

/* A map of strings (YAML may read "true" or 12 unquoted: taken as their text). */
static int get_config(json_object *o, const char *key, struct kvlist *ret, struct err **err)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return err_set(err, -EINVAL, "Invalid backup index: \"%s\" is not a map", key);
	json_object_object_foreach(v, k, val)
	{
		const char *text;

		if (json_object_is_type(val, json_type_object) ||
		    json_object_is_type(val, json_type_array))
			return err_set(err, -EINVAL,
				       "Invalid backup index: the value of \"%s\" is not text", k);
		text = val ? json_object_get_string(val) : "";
		if (kvlist_set(ret, k, text) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	return 0;
}

static int get_profiles(json_object *o, char ***ret, struct err **err)
{
	json_object *v = NULL;
	_cleanup_strv_ char **names = NULL;

	if (!json_object_object_get_ex(o, "profiles", &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return bad(err, "\"profiles\" is not a list");
	names = calloc(1, sizeof(char *));
	if (!names)
		return err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *p = json_object_array_get_idx(v, i);

		if (!json_object_is_type(p, json_type_string))
			return bad(err, "a profile name is not a string");
		if (strv_push(&names, json_object_get_string(p)) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	*ret = steal_pointer(&names);
	return 0;
}

static int get_devices(json_object *o, struct devices *ret, struct err **err)
{
	json_object *v = NULL;
	int r;

	if (!json_object_object_get_ex(o, "devices", &v) || !v)
		return 0;
	r = devices_from_json(v, ret, err);
	if (r < 0)
		return err_wrap(err, r, "Invalid backup index");
	return 0;
}

static int text_dup(const char *s, char **ret, struct err **err)
{
	*ret = strdup(s ? s : "");
	return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
}

static int parse_instance(json_object *c, struct db_instance *inst, bool *ret_stateful,
			  struct err **err)
{
	const char *s;
	int r;

	if (!json_object_is_type(c, json_type_object))
		return bad(err, "\"config.container\" is not a map");
	if ((r = get_string(c, "description", &s, err)) < 0 ||
	    (r = text_dup(s, &inst->description, err)) < 0 ||
	    (r = get_string(c, "architecture", &s, err)) < 0 ||
	    (r = text_dup(s, &inst->architecture, err)) < 0 ||
	    (r = get_time(c, "created_at", &inst->created_at, err)) < 0 ||
	    (r = get_time(c, "last_used_at", &inst->last_used_at, err)) < 0 ||
	    (r = get_config(c, "config", &inst->config, err)) < 0 ||
	    (r = get_devices(c, &inst->devices, err)) < 0 ||
	    (r = get_profiles(c, &inst->profiles, err)) < 0 ||
	    (r = get_bool(c, "stateful", ret_stateful, err)) < 0)
		return r;
	if ((r = get_string(c, "type", &s, err)) < 0)
		return r;
	if (s && *s && strcmp(s, "container") != 0)
		return err_set(err, -EINVAL,
			       "Invalid backup index: an instance of type \"%s\" (only containers "
			       "can be imported)",
			       s);
	return 0;
}

static int parse_snapshot(json_object *o, struct db_snapshot *snap, struct err **err)
{
	const char *s;
	int r;

	if (!json_object_is_type(o, json_type_object))
		return bad(err, "a snapshot of \"config.snapshots\" is not a map");
	if ((r = get_string(o, "description", &s, err)) < 0 ||
	    (r = text_dup(s, &snap->description, err)) < 0 ||
	    (r = get_time(o, "created_at", &snap->created_at, err)) < 0 ||
	    (r = get_time(o, "expires_at", &snap->expires_at, err)) < 0 ||
	    (r = get_bool(o, "stateful", &snap->stateful, err)) < 0 ||
	    (r = get_bool(o, "scheduled", &snap->scheduled, err)) < 0 ||
	    (r = get_config(o, "config", &snap->config, err)) < 0 ||
	    (r = get_devices(o, &snap->devices, err)) < 0 ||
	    (r = get_profiles(o, &snap->profiles, err)) < 0)
		return r;
	return 0;
}

/* The entry of `name` in config.snapshots, or NULL. Incus names them "snap0" (older versions
 * "c1/snap0"). */
static json_object *find_snapshot(json_object *list, const char *instance, const char *name)
{
	for (size_t i = 0; list && i < json_object_array_length(list); i++) {
		json_object *o = json_object_array_get_idx(list, i);
		const char *n = NULL;
		size_t len = strlen(instance);

		if (get_string(o, "name", &n, NULL) < 0 || !n)
			continue;
		if (strcmp(n, name) == 0)
			return o;
		if (strncmp(n, instance, len) == 0 && n[len] == '/' &&
		    strcmp(n + len + 1, name) == 0)
			return o;
	}
	return NULL;
}

int backup_index_parse(const char *text, size_t len, struct backup_index *ret, struct err **err)
{
	_cleanup_backup_index_ struct backup_index idx = {0};
	_cleanup_json_ json_object *doc = NULL;
	json_object *names = NULL, *config = NULL, *container = NULL, *list = NULL;
	const char *s;
	size_t n;
	int r;

	r = config_yaml_parse(text, len, &doc, err);
	if (r < 0)
		return err_wrap(err, r, "Invalid backup index");
	if (!json_object_is_type(doc, json_type_object))
		return bad(err, "not a map");
	if ((r = get_string(doc, "name", &s, err)) < 0)
		return r;
	if (!s)
		return bad(err, "no \"name\"");
	r = config_instance_name_valid(s, err);
	if (r < 0)
		return err_wrap(err, r, "Invalid backup index");
	if ((r = text_dup(s, &idx.name, err)) < 0)
		return r;
	if ((r = get_string(doc, "backend", &s, err)) < 0 ||
	    (r = text_dup(s, &idx.backend, err)) < 0)
		return r;
	if ((r = get_string(doc, "pool", &s, err)) < 0 || (r = text_dup(s, &idx.pool, err)) < 0)
		return r;
	if ((r = get_bool(doc, "optimized", &idx.optimized, err)) < 0)
		return r;
	if ((r = get_string(doc, "type", &s, err)) < 0)
		return r;
	if (s && *s && strcmp(s, "container") != 0)
		return err_set(err, -EINVAL,
			       "Invalid backup index: a backup of type \"%s\" (only containers can "
			       "be imported)",
			       s);

	if (json_object_object_get_ex(doc, "snapshots", &names) && names &&
	    !json_object_is_type(names, json_type_array))
		return bad(err, "\"snapshots\" is not a list");
	n = names ? json_object_array_length(names) : 0;
	if (n > BACKUP_INDEX_MAX_SNAPSHOTS)
		return err_set(err, -EINVAL, "Invalid backup index: more than %d snapshots",
			       BACKUP_INDEX_MAX_SNAPSHOTS);
	if (json_object_object_get_ex(doc, "config", &config) && config) {
		if (!json_object_is_type(config, json_type_object))
			return bad(err, "\"config\" is not a map");
		json_object_object_get_ex(config, "container", &container);
		json_object_object_get_ex(config, "snapshots", &list);
		if (list && !json_object_is_type(list, json_type_array))
			return bad(err, "\"config.snapshots\" is not a list");
	}
	if (container) {
		r = parse_instance(container, &idx.instance, &idx.stateful, err);
		if (r < 0)
			return r;
	}
	if ((r = text_dup(idx.name, &idx.instance.name, err)) < 0)
		return r;

	idx.snapshots = calloc(n + 1, sizeof(*idx.snapshots));
	if (!idx.snapshots)
		return err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(names, i), *o;
		struct db_snapshot *snap = &idx.snapshots[i];

		if (!json_object_is_type(v, json_type_string))
			return bad(err, "a snapshot name is not a string");
		s = json_object_get_string(v);
		r = config_snapshot_name_valid(s, err);
		if (r < 0)
			return err_wrap(err, r, "Invalid backup index");
		for (size_t j = 0; j < i; j++)
			if (strcmp(idx.snapshots[j].name, s) == 0)
				return err_set(
				    err, -EINVAL,
				    "Invalid backup index: snapshot \"%s\" is listed twice", s);
		idx.n_snapshots = i + 1;
		if ((r = text_dup(s, &snap->name, err)) < 0 ||
		    (r = text_dup(idx.name, &snap->instance, err)) < 0)
			return r;
		snap->state = DB_ROW_READY;
		o = find_snapshot(list, idx.name, s);
		if (o) {
			r = parse_snapshot(o, snap, err);
			if (r < 0)
				return r;
		}
	}
	*ret = idx;
	idx = (struct backup_index){0};
	return 0;
}
