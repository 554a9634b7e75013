/* /1.0/instances: parse, call one lifecycle function, render. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/filter.h"
#include "cmd/cairnd/body.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/handlers.h"
#include "cmd/cairnd/operations.h"
#include "cmd/cairnd/copier.h"
#include "cmd/cairnd/scheduler.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db.h"
#include "config/devices.h"
#include "config/profiles.h"
#include "instance/settings.h"
#include "config/keys.h"
#include "config/names.h"
#include "instance/images.h"
#include "instance/instance.h"
#include "migration/migration.h"
#include "snapshots/snapshots.h"

static int api_status_of(enum instance_status s)
{
	switch (s) {
	case INSTANCE_RUNNING:
		return API_STATUS_RUNNING;
	case INSTANCE_FROZEN:
		return API_STATUS_FROZEN;
	case INSTANCE_STOPPED:
		return API_STATUS_STOPPED;
	case INSTANCE_ERROR:
	case INSTANCE_STATUS_MAX:
		break;
	}
	return API_STATUS_ERROR;
}

static json_object *state_to_json(const struct instance_state *st)
{
	json_object *o = json_object_new_object(), *mem = json_object_new_object(),
		    *cpu = json_object_new_object();
	int code = api_status_of(st->status);

	json_object_object_add(o, "status", json_object_new_string(api_status_name(code)));
	json_object_object_add(o, "status_code", json_object_new_int(code));
	json_object_object_add(o, "pid", json_object_new_int64(st->pid));
	json_object_object_add(o, "processes", json_object_new_int64(st->processes));
	json_object_object_add(mem, "usage", json_object_new_int64((int64_t)st->memory_usage));
	json_object_object_add(mem, "usage_peak", json_object_new_int64((int64_t)st->memory_peak));
	json_object_object_add(o, "memory", mem);
	json_object_object_add(cpu, "usage", json_object_new_int64((int64_t)st->cpu_usage));
	json_object_object_add(o, "cpu", cpu);
	json_object_object_add(o, "disk", json_object_new_object());
	json_object_object_add(o, "network", api_instance_network_json(st->pid));
	return o;
}

static json_object *config_to_json(const struct kvlist *config)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; i < config->n; i++)
		/* Shown as the instance's "ephemeral" field, as Incus has it. */
		if (strcmp(config->items[i].key, INSTANCE_EPHEMERAL_KEY) != 0)
			json_object_object_add(o, config->items[i].key,
					       json_object_new_string(config->items[i].value));
	return o;
}

/* A profile list as JSON; NULL names none. */
static json_object *profiles_to_json(char *const *profiles)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; a && profiles && profiles[i]; i++)
		json_object_array_add(a, json_object_new_string(profiles[i]));
	return a;
}

static json_object *instance_to_json(const struct db_instance *row, const struct instance_state *st,
				     bool with_state, bool stateful)
{
	json_object *o = json_object_new_object();
	_cleanup_free_ char *created = time_format_rfc3339(row->created_at);
	_cleanup_free_ char *used = time_format_rfc3339(row->last_used_at);
	int code = api_status_of(st->status);

	json_object_object_add(o, "name", json_object_new_string(row->name));
	json_object_object_add(o, "type", json_object_new_string("container"));
	json_object_object_add(o, "status", json_object_new_string(api_status_name(code)));
	json_object_object_add(o, "status_code", json_object_new_int(code));
	json_object_object_add(o, "architecture",
			       json_object_new_string(row->architecture ? row->architecture : ""));
	json_object_object_add(o, "created_at", json_object_new_string(created ? created : ""));
	json_object_object_add(
	    o, "last_used_at",
	    json_object_new_string(row->last_used_at && used ? used : "1970-01-01T00:00:00Z"));
	json_object_object_add(o, "description",
			       json_object_new_string(row->description ? row->description : ""));
	json_object_object_add(o, "ephemeral", json_object_new_boolean(instance_is_ephemeral(row)));
	/* As in Incus: whether the instance holds saved running state (a checkpoint). */
	json_object_object_add(o, "stateful", json_object_new_boolean(stateful));
	json_object_object_add(o, "location", json_object_new_string("none"));
	json_object_object_add(o, "project", json_object_new_string("default"));
	json_object_object_add(o, "profiles", profiles_to_json(row->profiles));
	json_object_object_add(o, "config", config_to_json(&row->config));
	json_object_object_add(o, "devices", devices_to_json(&row->devices));
	json_object_object_add(o, "expanded_config", config_to_json(&row->expanded_config));
	json_object_object_add(o, "expanded_devices", devices_to_json(&row->expanded_devices));
	json_object_object_add(o, "state", with_state ? state_to_json(st) : NULL);
	return o;
}

HANDLER(handle_instances_list)
{
	struct db_instance *rows = NULL;
	struct db_snapshot *snaps = NULL;
	size_t n = 0, n_snaps = 0, s = 0;
	int recursion = request_recursion(req);
	const char *filter = request_query(req, "filter");
	json_object *list;
	int r;

	/* Checked once up front, so that a bad filter is an error rather than an empty list. */
	if (filter && *filter && (r = api_filter_match(filter, NULL, err)) < 0)
		return r;
	r = db_instance_list(d->env.db, &rows, &n, err);
	if (r < 0)
		return r;
	if (recursion >= 2) {
		r = db_snapshot_list(d->env.db, NULL, &snaps, &n_snaps, err);
		if (r < 0) {
			db_instances_free(rows, n);
			return r;
		}
	}
	list = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct instance_state st = {.status = INSTANCE_STOPPED};
		json_object *o;

		if (rows[i].state != DB_ROW_READY)
			continue;
		if (filter && *filter) {
			struct instance_state fst = {.status = INSTANCE_STOPPED};
			json_object *fo;
			int keep;

			instance_state(&d->env, rows[i].name, false, &fst, NULL);
			fo = instance_to_json(&rows[i], &fst, false, false);
			keep = api_filter_match(filter, fo, NULL);
			json_object_put(fo);
			if (keep <= 0)
				continue;
		}
		if (recursion == 0) {
			_cleanup_free_ char *url = str_printf("/1.0/instances/%s", rows[i].name);

			json_object_array_add(list, json_object_new_string(url ? url : ""));
			continue;
		}
		/* Usage figures cost a few cgroup reads per running instance: only for the
		 * recursion that returns the state. */
		instance_state(&d->env, rows[i].name, recursion >= 2, &st, NULL);
		o = instance_to_json(&rows[i], &st, recursion >= 2,
				     st.status == INSTANCE_STOPPED &&
					 instance_has_checkpoint(&d->env, &rows[i]));
		if (recursion >= 2) {
			json_object *snap_list = json_object_new_array();

			/* Both lists are sorted by instance name: walk them together. Sizes would
			 * cost a qgroup read per snapshot, so lists leave them out (-1). */
			while (s < n_snaps && strcmp(snaps[s].instance, rows[i].name) < 0)
				s++;
			for (; s < n_snaps && strcmp(snaps[s].instance, rows[i].name) == 0; s++) {
				struct snapshot_info info = {.row = snaps[s], .size = -1};

				if (snaps[s].state == DB_ROW_READY)
					json_object_array_add(
					    snap_list,
					    api_snapshot_to_json(&info, rows[i].architecture));
			}
			json_object_object_add(o, "snapshots", snap_list);
		}
		json_object_array_add(list, o);
	}
	db_instances_free(rows, n);
	db_snapshots_free(snaps, n_snaps);
	*ret_envelope = api_sync(list);
	return 200;
}

HANDLER(handle_instance_get)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	struct instance_state st = {.status = INSTANCE_STOPPED};
	json_object *o;
	int r;

	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	/* The usage figures only where the state is returned (recursion). */
	instance_state(&d->env, row.name, request_recursion(req) >= 1, &st, NULL);
	o = instance_to_json(&row, &st, request_recursion(req) >= 1,
			     st.status == INSTANCE_STOPPED &&
				 instance_has_checkpoint(&d->env, &row));
	/* LXD's "instance_get_full": recursion=1 adds the snapshots, as recursion=2 does in a
	 * list, and "backups" (none: there is no backup route). */
	if (request_recursion(req) >= 1) {
		struct db_snapshot *snaps = NULL;
		size_t n_snaps = 0;
		json_object *list = json_object_new_array();

		if (db_snapshot_list(d->env.db, row.name, &snaps, &n_snaps, NULL) >= 0)
			for (size_t i = 0; i < n_snaps; i++) {
				struct snapshot_info info = {.row = snaps[i], .size = -1};

				if (snaps[i].state == DB_ROW_READY)
					json_object_array_add(
					    list, api_snapshot_to_json(&info, row.architecture));
			}
		db_snapshots_free(snaps, n_snaps);
		json_object_object_add(o, "snapshots", list);
		json_object_object_add(o, "backups", NULL);
	}
	*ret_envelope = api_sync(o);
	return 200;
}

HANDLER(handle_instance_state_get)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	struct instance_state st = {0};
	json_object *md;
	int r;

	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	r = instance_state(&d->env, row.name, true, &st, err);
	if (r < 0)
		return r;
	md = state_to_json(&st);
	/* cairn's own: what the snapshot scheduler did and will do (cairn info shows it). */
	json_object_object_add(md, "snapshot_schedule", scheduler_instance_json(d, row.name));
	/* And what the refresh of its snapshot server (snapshots.copy.target) did. */
	json_object_object_add(md, "snapshot_server", copier_instance_json(d, row.name));
	*ret_envelope = api_sync(md);
	return 200;
}

/* What an instance operation needs once the request is gone. */
struct instance_job {
	char *name;
	char *fingerprint;
	char *pool;
	char *description;
	struct kvlist config;
	struct devices devices;
	char **profiles;
	char action[16];
	int64_t timeout;
	bool force;
	bool start;
	bool ephemeral; /* create: deleted when it stops */
	bool stateful;	/* stop: checkpoint first; start: resume from the checkpoint */
	bool stateless; /* start: discard the checkpoint and boot afresh */
};

static void instance_job_free(void *p)
{
	struct instance_job *job = p;

	if (!job)
		return;
	free(job->name);
	free(job->fingerprint);
	free(job->pool);
	free(job->description);
	kvlist_done(&job->config);
	devices_done(&job->devices);
	strv_free(job->profiles);
	free(job);
}

static json_object *resources_for(const char *name)
{
	json_object *res = json_object_new_object(), *list = json_object_new_array();
	_cleanup_free_ char *url = str_printf("/1.0/instances/%s", name);

	json_object_array_add(list, json_object_new_string(url ? url : ""));
	json_object_object_add(res, "instances", list);
	return res;
}

static int run_create(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct instance_job *job = data;
	int r;

	(void)ret_md;
	r = instance_create(&d->env, job->name, job->fingerprint, &job->config, &job->devices,
			    job->profiles, job->description, job->ephemeral, err);
	if (r < 0 || !job->start)
		return r;
	return instance_start(&d->env, job->name, err);
}

HANDLER(handle_instances_create)
{
	struct instance_job *job = NULL;
	_cleanup_db_instance_ struct db_instance existing = {0};
	_cleanup_devices_ struct devices devices = {0};
	_cleanup_strv_ char **profiles = NULL;
	_cleanup_kvlist_ struct kvlist expanded = {0};
	_cleanup_devices_ struct devices expanded_devices = {0};
	_cleanup_free_ char *owner = NULL;
	json_object *source = NULL, *devices_json = NULL;
	const char *name = NULL, *type = "image", *alias = NULL, *fingerprint = NULL,
		   *description = "";
	_cleanup_kvlist_ struct kvlist config = {0};
	bool start = false, ephemeral = false;
	int r;

	if (req->body_fd >= 0)
		return handle_instances_import(d, req, ret_envelope, err);
	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	if ((r = body_string(req->body, "name", true, &name, err)) < 0 ||
	    (r = body_object(req->body, "source", true, &source, err)) < 0 ||
	    (r = body_string(source, "type", false, &type, err)) < 0 ||
	    (r = body_string(source, "alias", false, &alias, err)) < 0 ||
	    (r = body_string(source, "fingerprint", false, &fingerprint, err)) < 0 ||
	    (r = body_config(req->body, "config", &config, err)) < 0 ||
	    (r = body_string(req->body, "description", false, &description, err)) < 0 ||
	    (r = body_bool(req->body, "start", &start, err)) < 0 ||
	    (r = body_bool(req->body, "ephemeral", &ephemeral, err)) < 0 ||
	    (r = body_object(req->body, "devices", false, &devices_json, err)) < 0 ||
	    (r = devices_from_json(devices_json, &devices, err)) < 0 ||
	    (r = body_string_list(req->body, "profiles", &profiles, err)) < 0)
		return r;
	r = config_instance_name_valid(name, err);
	if (r < 0)
		return r;
	owner = str_printf("instance \"%s\"", name);
	if (!owner)
		return err_set(err, -ENOMEM, "Out of memory");
	r = devices_validate(owner, &devices, err);
	if (r < 0)
		return r;
	if (profiles && (r = config_profile_list_valid(profiles, strv_length(profiles), err)) < 0)
		return r;
	if (strcmp(type, "copy") == 0) {
		const char *from = NULL;
		bool instance_only = false;
		struct migration_opts refresh = {0};

		if ((r = body_string(source, "source", true, &from, err)) < 0 ||
		    (r = body_bool(source, "instance_only", &instance_only, err)) < 0 ||
		    (r = body_bool(source, "refresh", &refresh.refresh, err)) < 0 ||
		    (r = body_bool(source, "refresh_exclude_older", &refresh.refresh_exclude_older,
				   err)) < 0 ||
		    (r = body_bool(source, "refresh_prune", &refresh.refresh_prune, err)) < 0)
			return r;
		if (ephemeral)
			return err_set(err, -EINVAL, "A copy cannot be made ephemeral");
		refresh.instance_only = instance_only;
		/* `cairn copy -s POOL` sends a root disk naming the target pool. */
		return api_instance_copy(d, name, from, instance_settings_root_pool(&devices),
					 instance_only, refresh.refresh ? &refresh : NULL,
					 request_restricted(d, req), ret_envelope, err);
	}
	if (strcmp(type, "migration") == 0)
		return api_instances_migration(
		    d, req, name, source, instance_settings_root_pool(&devices), ret_envelope, err);
	if (strcmp(type, "image") != 0)
		return err_set(err, -EINVAL,
			       "Unsupported source type \"%s\" (use \"image\", \"copy\" or "
			       "\"migration\")",
			       type);
	if (!alias && !fingerprint)
		return err_set(err, -EINVAL, "The source needs an \"alias\" or a \"fingerprint\"");
	r = config_validate_all(&config, err);
	if (r < 0)
		return r;
	r = config_text_valid("description", description, err);
	if (r < 0)
		return r;
	/* No "profiles" field: the default profile, as in Incus; an empty list: none. */
	if (!profiles && strv_push(&profiles, PROFILE_DEFAULT) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	r = instance_settings_expand(&d->env, profiles, &config, &devices, &expanded,
				     &expanded_devices, err);
	if (r < 0)
		return r;
	r = instance_settings_check(&d->env, owner, &expanded, &expanded_devices, NULL, err);
	if (r < 0)
		return r;
	if (request_restricted(d, req) &&
	    (r = instance_settings_restricted(owner, NULL, NULL, &expanded, &expanded_devices,
					      err)) < 0)
		return r;
	if (db_instance_get(d->env.db, name, &existing, NULL) >= 0)
		return err_set(err, -EEXIST, "Instance \"%s\" already exists", name);

	job = calloc(1, sizeof(*job));
	if (!job)
		return err_set(err, -ENOMEM, "Out of memory");
	r = instance_image_resolve(&d->env, alias ? alias : fingerprint, &job->fingerprint, err);
	if (r < 0) {
		instance_job_free(job);
		return r;
	}
	job->name = strdup(name);
	job->description = strdup(description);
	job->start = start;
	job->ephemeral = ephemeral;
	job->profiles = steal_pointer(&profiles);
	job->devices = devices;
	devices = (struct devices){0};
	if (!job->name || !job->description || kvlist_copy(&job->config, &config) < 0) {
		instance_job_free(job);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	r = daemon_claim(d, name, err);
	if (r < 0) {
		instance_job_free(job);
		return r;
	}
	r = operation_start(d, "Creating instance", resources_for(name), run_create, job,
			    instance_job_free, name, ret_envelope, err);
	return r < 0 ? r : 202;
}

/* Reads the config, devices and profiles of a PUT/PATCH body; `merge` (PATCH) starts from the
 * stored user keys and devices. Absent devices or profiles stay as they are. */
static int update_config(struct daemon *d, struct request *req, bool merge, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	_cleanup_kvlist_ struct kvlist given = {0}, next = {0};
	_cleanup_devices_ struct devices given_devices = {0}, next_devices = {0};
	_cleanup_strv_ char **profiles = NULL;
	const char *description = NULL;
	json_object *devices = NULL;
	bool ephemeral = false;
	int r, have_ephemeral, have_devices;

	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	if ((r = body_config(req->body, "config", &given, err)) < 0 ||
	    (r = body_string(req->body, "description", false, &description, err)) < 0 ||
	    (r = body_object(req->body, "devices", false, &devices, err)) < 0 ||
	    (r = devices_from_json(devices, &given_devices, err)) < 0 ||
	    (r = body_string_list(req->body, "profiles", &profiles, err)) < 0)
		return r;
	have_devices = devices != NULL;
	if (profiles && (r = config_profile_list_valid(profiles, strv_length(profiles), err)) < 0)
		return r;
	/* Absent (as from a PATCH of config only): unchanged. */
	have_ephemeral = body_bool(req->body, "ephemeral", &ephemeral, err);
	if (have_ephemeral < 0)
		return have_ephemeral;
	if (have_devices) {
		if (merge && devices_copy(&next_devices, &row.devices) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
		for (size_t i = 0; i < given_devices.n; i++)
			if (devices_set(&next_devices, given_devices.items[i].name,
					&given_devices.items[i].keys) < 0)
				return err_set(err, -ENOMEM, "Out of memory");
	}
	if (merge) {
		for (size_t i = 0; i < row.config.n; i++) {
			const char *k = row.config.items[i].key;

			if (!str_startswith(k, "volatile.") && !str_startswith(k, "image.") &&
			    kvlist_set(&next, k, row.config.items[i].value) < 0)
				return err_set(err, -ENOMEM, "Out of memory");
		}
	}
	for (size_t i = 0; i < given.n; i++) {
		const struct kv *kv = &given.items[i];

		/* Incus clients send back what they read: daemon-owned keys that did not change
		 * are fine, changed ones are refused by validation below. */
		if ((str_startswith(kv->key, "volatile.") || str_startswith(kv->key, "image.")) &&
		    kvlist_get(&row.config, kv->key) &&
		    strcmp(kvlist_get(&row.config, kv->key), kv->value) == 0)
			continue;
		if (merge && !*kv->value) {
			/* Unsetting a key that cannot exist is a typo, not a no-op. */
			r = config_key_validate(kv->key, "", err);
			if (r < 0)
				return r;
			kvlist_unset(&next, kv->key);
			continue;
		}
		r = config_key_validate(kv->key, kv->value, err);
		if (r < 0)
			return r;
		if (kvlist_set(&next, kv->key, kv->value) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	r = daemon_claim(d, row.name, err);
	if (r < 0)
		return r;
	r = instance_update(&d->env, row.name, &next, have_devices ? &next_devices : NULL, profiles,
			    description, have_ephemeral ? ephemeral : -1,
			    request_restricted(d, req), err);
	daemon_release(d, row.name);
	return r;
}

HANDLER(handle_instance_put)
{
	const char *restore = NULL;
	bool disk_only = false, stateful = false;
	int r;

	/* Incus restores through PUT: a body with "restore" is a restore, not a config update. */
	if (req->body && ((r = body_string(req->body, "restore", false, &restore, err)) < 0 ||
			  (r = body_bool(req->body, "restore_disk_only", &disk_only, err)) < 0 ||
			  (r = body_bool(req->body, "stateful", &stateful, err)) < 0))
		return r;
	/* LXD's client names the snapshot as "instance/snapshot": the instance part must be this
	 * one, and the snapshot name is what follows. */
	if (restore) {
		size_t n = strlen(req->params[0]);

		if (strncmp(restore, req->params[0], n) == 0 && restore[n] == '/')
			restore += n + 1;
	}
	if (restore)
		return api_snapshot_restore(d, req, restore, disk_only, stateful, ret_envelope,
					    err);
	r = update_config(d, req, false, err);
	if (r < 0)
		return r;
	/* As in Incus, PUT answers with an operation (LXD's client waits on one); the update is
	 * done by then. */
	r = operation_completed("Updating instance", resources_for(req->params[0]), ret_envelope,
				err);
	return r < 0 ? r : 202;
}

HANDLER(handle_instance_patch)
{
	int r = update_config(d, req, true, err);

	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}

static int run_delete(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct instance_job *job = data;

	(void)ret_md;
	return instance_delete(&d->env, job->name, err);
}

HANDLER(handle_instance_delete)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	struct instance_job *job;
	int r;

	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	/* Refuse at once what the operation would refuse, so the client sees it directly. */
	r = instance_delete_allowed(&d->env, &row, err);
	if (r < 0)
		return r;
	job = calloc(1, sizeof(*job));
	if (!job || !(job->name = strdup(row.name))) {
		instance_job_free(job);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	r = daemon_claim(d, row.name, err);
	if (r < 0) {
		instance_job_free(job);
		return r;
	}
	r = operation_start(d, "Deleting instance", resources_for(row.name), run_delete, job,
			    instance_job_free, row.name, ret_envelope, err);
	return r < 0 ? r : 202;
}

/* POST /1.0/instances/<name>: a rename ("name") or a move to another pool ("pool"). */
struct move_job {
	char *name;
	char *new_name; /* a rename: claimed too, released when the work ends */
	char *pool;	/* a move between pools */
};

static void move_job_free(void *p)
{
	struct move_job *job = p;

	if (!job)
		return;
	free(job->name);
	free(job->new_name);
	free(job->pool);
	free(job);
}

static int run_move(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct move_job *job = data;
	int r;

	(void)ret_md;
	if (!job->new_name)
		return instance_move_pool(&d->env, job->name, job->pool, err);
	r = instance_rename(&d->env, job->name, job->new_name, err);
	daemon_release(d, job->new_name);
	return r;
}

HANDLER(handle_instance_post)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	const char *new_name = NULL, *pool = NULL;
	struct move_job *job = NULL;
	bool migration = false;
	int r;

	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	if ((r = body_string(req->body, "name", false, &new_name, err)) < 0 ||
	    (r = body_string(req->body, "pool", false, &pool, err)) < 0 ||
	    (r = body_bool(req->body, "migration", &migration, err)) < 0)
		return r;
	/* LXD's client sends every field of its request, an empty "pool" meaning none. */
	if (pool && !*pool)
		pool = NULL;
	if (migration)
		return api_instance_migrate(d, req, ret_envelope, err);
	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	/* Incus clients send the current name along with a pool. */
	if (new_name && pool && strcmp(new_name, row.name) == 0)
		new_name = NULL;
	if (new_name && pool)
		return err_set(err, -EINVAL,
			       "Renaming and moving to another pool are separate requests");
	if (!new_name && !pool)
		return err_set(err, -EINVAL, "The request needs a new \"name\" or a \"pool\"");
	/* Refuse at once what the operation would refuse, so the client sees it directly. */
	r = new_name ? instance_rename_allowed(&d->env, &row, new_name, err)
		     : instance_move_allowed(&d->env, &row, pool, err);
	if (r < 0)
		return r;
	job = calloc(1, sizeof(*job));
	if (!job || !(job->name = strdup(row.name)) ||
	    (new_name && !(job->new_name = strdup(new_name))) ||
	    (pool && !(job->pool = strdup(pool)))) {
		move_job_free(job);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	r = daemon_claim(d, row.name, err);
	if (r < 0) {
		move_job_free(job);
		return r;
	}
	/* The new name is claimed as well: no create or copy may take it meanwhile. */
	if (new_name && (r = daemon_claim(d, new_name, err)) < 0) {
		daemon_release(d, row.name);
		move_job_free(job);
		return r;
	}
	/* new_name stays the body's string: the job is freed when the start fails. */
	r = operation_start(d, new_name ? "Renaming instance" : "Moving instance",
			    resources_for(row.name), run_move, job, move_job_free, row.name,
			    ret_envelope, err);
	if (r < 0 && new_name)
		daemon_release(d, new_name);
	return r < 0 ? r : 202;
}

static int run_state(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct instance_job *job = data;
	/* -1 is "no timeout" to LXD's client (`lxc stop`): a clean shutdown gets the same 30 s
	 * as cairn's default rather than a wait that could never end. */
	int timeout = job->timeout < 0 ? 30 : (int)job->timeout;
	int r;

	(void)ret_md;
	if (strcmp(job->action, "start") == 0) {
		if (job->stateless) {
			r = instance_discard_checkpoint(&d->env, job->name, err);
			if (r < 0)
				return r;
		}
		return instance_start(&d->env, job->name, err);
	}
	if (strcmp(job->action, "stop") == 0 && job->stateful)
		return instance_stop_stateful(&d->env, job->name, err);
	if (strcmp(job->action, "stop") == 0)
		return instance_stop(&d->env, job->name, timeout, job->force, false, err);
	/* restart */
	r = instance_stop(&d->env, job->name, timeout, job->force, true, err);
	if (r < 0)
		return r;
	return instance_start(&d->env, job->name, err);
}

HANDLER(handle_instance_state_put)
{
	static const char *const descriptions[][2] = {
	    {"start", "Starting instance"},
	    {"stop", "Stopping instance"},
	    {"restart", "Restarting instance"},
	};
	_cleanup_db_instance_ struct db_instance row = {0};
	struct instance_state st = {0};
	const char *action = NULL, *description = NULL;
	struct instance_job *job;
	int64_t timeout = 30;
	bool force = false, stateful = false, stateless = false;
	int r;

	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	if ((r = body_string(req->body, "action", true, &action, err)) < 0 ||
	    (r = body_int(req->body, "timeout", &timeout, err)) < 0 ||
	    (r = body_bool(req->body, "force", &force, err)) < 0 ||
	    (r = body_bool(req->body, "stateful", &stateful, err)) < 0 ||
	    (r = body_bool(req->body, "stateless", &stateless, err)) < 0)
		return r;
	for (size_t i = 0; i < sizeof(descriptions) / sizeof(descriptions[0]); i++)
		if (strcmp(action, descriptions[i][0]) == 0)
			description = descriptions[i][1];
	if (!description)
		return err_set(err, -EINVAL, "Unknown action \"%s\" (use start, stop or restart)",
			       action);
	if (timeout < -1 || timeout > 86400)
		return err_set(err, -EINVAL, "Invalid timeout %lld", (long long)timeout);
	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	if (stateful && stateless)
		return err_set(err, -EINVAL, "\"stateful\" and \"stateless\" exclude each other");
	if (stateless && strcmp(action, "start") != 0)
		return err_set(err, -EINVAL, "\"stateless\" is for start only");
	if (stateful && strcmp(action, "restart") == 0)
		return err_set(err, -EINVAL,
			       "A restart cannot be stateful: stop --stateful, then start");
	r = instance_state(&d->env, row.name, false, &st, err);
	if (r < 0)
		return r;
	if (strcmp(action, "start") == 0 && st.status != INSTANCE_STOPPED)
		return err_set(err, -EBUSY, "Instance \"%s\" is already running", row.name);
	if (strcmp(action, "start") != 0 && st.status == INSTANCE_STOPPED)
		return err_set(err, -EBUSY, "Instance \"%s\" is already stopped", row.name);
	/* Refuse at once what the operation would refuse, so the client sees it directly. */
	if (stateful && strcmp(action, "stop") == 0) {
		r = instance_stop_stateful_allowed(&d->env, &row, err);
		if (r < 0)
			return r;
	}
	if (stateful && strcmp(action, "start") == 0 && !instance_has_checkpoint(&d->env, &row))
		return err_set(err, -EINVAL,
			       "Instance \"%s\" holds no checkpoint to start from (stop it with "
			       "--stateful to keep one)",
			       row.name);

	job = calloc(1, sizeof(*job));
	if (!job || !(job->name = strdup(row.name))) {
		instance_job_free(job);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	snprintf(job->action, sizeof(job->action), "%s", action);
	job->timeout = timeout;
	job->force = force;
	job->stateful = stateful;
	job->stateless = stateless;
	r = daemon_claim(d, row.name, err);
	if (r < 0) {
		instance_job_free(job);
		return r;
	}
	r = operation_start(d, description, resources_for(row.name), run_state, job,
			    instance_job_free, row.name, ret_envelope, err);
	return r < 0 ? r : 202;
}
