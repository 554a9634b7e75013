/* /1.0/instances/<name>/snapshots: parse, call one snapshot function, render. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cmd/cairnd/body.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/events.h"
#include "cmd/cairnd/handlers.h"
#include "cmd/cairnd/operations.h"
#include "cmd/cairnd/scheduler.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/util.h"
#include "config/db.h"
#include "config/keys.h"
#include "config/snaprules.h"
#include "config/devices.h"
#include "instance/instance.h"
#include "instance/settings.h"
#include "migration/migration.h"
#include "snapshots/snapshots.h"

/* Incus writes "never" as the zero time of Go. */
#define NEVER "0001-01-01T00:00:00Z"

json_object *api_snapshot_to_json(const struct snapshot_info *s, const char *architecture)
{
	json_object *o = json_object_new_object(), *config = json_object_new_object();
	_cleanup_free_ char *created = time_format_rfc3339(s->row.created_at);
	_cleanup_free_ char *expires =
	    s->row.expires_at > 0 ? time_format_rfc3339(s->row.expires_at) : NULL;

	for (size_t i = 0; i < s->row.config.n; i++)
		json_object_object_add(config, s->row.config.items[i].key,
				       json_object_new_string(s->row.config.items[i].value));
	json_object_object_add(o, "name", json_object_new_string(s->row.name));
	json_object_object_add(o, "created_at", json_object_new_string(created ? created : ""));
	json_object_object_add(o, "expires_at", json_object_new_string(expires ? expires : NEVER));
	json_object_object_add(o, "stateful", json_object_new_boolean(s->row.stateful));
	json_object_object_add(o, "size", json_object_new_int64(s->size));
	json_object_object_add(o, "scheduled", json_object_new_boolean(s->row.scheduled));
	json_object_object_add(o, "config", config);
	json_object_object_add(o, "devices", devices_to_json(&s->row.devices));
	{
		json_object *profiles = json_object_new_array();

		for (size_t i = 0; s->row.profiles && s->row.profiles[i]; i++)
			json_object_array_add(profiles, json_object_new_string(s->row.profiles[i]));
		json_object_object_add(o, "profiles", profiles);
	}
	json_object_object_add(
	    o, "description", json_object_new_string(s->row.description ? s->row.description : ""));
	json_object_object_add(o, "architecture",
			       json_object_new_string(architecture ? architecture : ""));
	/* Fields of LXD's and Incus's snapshot object that hold nothing here: a snapshot is never
	 * ephemeral and is not used on its own. */
	json_object_object_add(o, "ephemeral", json_object_new_boolean(0));
	json_object_object_add(o, "last_used_at", json_object_new_string(NEVER));
	return o;
}

static json_object *resources_for(const char *instance, const char *snapshot)
{
	json_object *res = json_object_new_object(), *list = json_object_new_array();
	_cleanup_free_ char *url = str_printf("/1.0/instances/%s", instance);

	json_object_array_add(list, json_object_new_string(url ? url : ""));
	json_object_object_add(res, "instances", list);
	if (snapshot) {
		_cleanup_free_ char *surl =
		    str_printf("/1.0/instances/%s/snapshots/%s", instance, snapshot);

		list = json_object_new_array();
		json_object_array_add(list, json_object_new_string(surl ? surl : ""));
		json_object_object_add(res, "instances_snapshots", list);
	}
	return res;
}

HANDLER(handle_snapshots_list)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	struct snapshot_info *v = NULL;
	size_t n = 0;
	json_object *list;
	int recursion = request_recursion(req);
	int r;

	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	r = snapshot_list(&d->env, row.name, recursion >= 1, &v, &n, err);
	if (r < 0)
		return r;
	list = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		if (recursion >= 1) {
			json_object_array_add(list, api_snapshot_to_json(&v[i], row.architecture));
		} else {
			_cleanup_free_ char *url =
			    str_printf("/1.0/instances/%s/snapshots/%s", row.name, v[i].row.name);

			json_object_array_add(list, json_object_new_string(url ? url : ""));
		}
	}
	snapshot_infos_free(v, n);
	*ret_envelope = api_sync(list);
	return 200;
}

/* A lifecycle event under Incus's action names for a snapshot change made through the API (the
 * scheduler emits its own, with the trigger and reason in the context). `key` and `value` (may
 * be NULL) go into the context. */
static void notify(const char *action, const char *instance, const char *snapshot, const char *key,
		   const char *value)
{
	_cleanup_free_ char *source =
	    snapshot ? str_printf("/1.0/instances/%s/snapshots/%s", instance, snapshot)
		     : str_printf("/1.0/instances/%s", instance);
	json_object *md = json_object_new_object(), *ctx = json_object_new_object();

	if (!source || !md || !ctx) {
		json_object_put(md);
		json_object_put(ctx);
		return;
	}
	if (key)
		json_object_object_add(ctx, key, json_object_new_string(value));
	json_object_object_add(md, "action", json_object_new_string(action));
	json_object_object_add(md, "source", json_object_new_string(source));
	json_object_object_add(md, "context", ctx);
	events_emit("lifecycle", md);
}

/* What a snapshot operation needs once the request is gone. */
struct snapshot_job {
	char *instance;
	char *name;	/* snapshot (NULL: from the pattern) */
	char *new_name; /* rename */
	char *expiry;
	bool no_expiry;
	bool stateful;
	bool reuse;
	bool disk_only;
	bool instance_only;
	char *copy_source; /* copy: source instance, name = its snapshot or NULL */
	char *copy_pool;   /* copy: the target pool, NULL for the source's */
	bool refresh;	   /* copy: a refresh through the migration stream (refresh_opts) */
	struct migration_opts refresh_opts;
	bool restricted;
};

static void snapshot_job_free(void *p)
{
	struct snapshot_job *job = p;

	if (!job)
		return;
	free(job->instance);
	free(job->name);
	free(job->new_name);
	free(job->expiry);
	free(job->copy_source);
	free(job->copy_pool);
	free(job);
}

static struct snapshot_job *job_new(const char *instance, const char *name, struct err **err)
{
	struct snapshot_job *job = calloc(1, sizeof(*job));

	if (!job || !(job->instance = strdup(instance)) || (name && !(job->name = strdup(name)))) {
		snapshot_job_free(job);
		err_set(err, -ENOMEM, "Out of memory");
		return NULL;
	}
	return job;
}

/* Claims the instance and starts `fn` on `job` (whose ownership moves in, even on failure). */
static int start_job(struct daemon *d, const char *description, const char *instance,
		     const char *snapshot, operation_fn fn, struct snapshot_job *job,
		     json_object **ret_envelope, struct err **err)
{
	int r = daemon_claim(d, instance, err);

	if (r < 0) {
		snapshot_job_free(job);
		return r;
	}
	r = operation_start(d, description, resources_for(instance, snapshot), fn, job,
			    snapshot_job_free, instance, ret_envelope, err);
	return r < 0 ? r : 202;
}

static int run_create(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct snapshot_job *job = data;
	struct snapshot_create_opts opts = {
	    .name = job->name,
	    .expiry = job->expiry,
	    .no_expiry = job->no_expiry,
	    .stateful = job->stateful,
	    .reuse = job->reuse,
	};
	_cleanup_free_ char *name = NULL;
	int r;

	r = snapshot_create(&d->env, job->instance, &opts, &name, err);
	if (r < 0)
		return r;
	notify("instance-snapshot-created", job->instance, name, NULL, NULL);
	scheduler_wake(); /* it may expire before anything else does */
	*ret_md = json_object_new_object();
	json_object_object_add(*ret_md, "name", json_object_new_string(name));
	return 0;
}

HANDLER(handle_snapshots_create)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	const char *name = NULL, *expires_at = NULL, *expiry = NULL;
	bool stateful = false, no_expiry = false, reuse = false;
	struct snapshot_job *job;
	int64_t t = 0;
	int r;

	if (req->body && ((r = body_string(req->body, "name", false, &name, err)) < 0 ||
			  (r = body_bool(req->body, "stateful", &stateful, err)) < 0 ||
			  (r = body_string(req->body, "expires_at", false, &expires_at, err)) < 0 ||
			  (r = body_string(req->body, "expiry", false, &expiry, err)) < 0 ||
			  (r = body_bool(req->body, "no_expiry", &no_expiry, err)) < 0 ||
			  (r = body_bool(req->body, "reuse", &reuse, err)) < 0))
		return r;
	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	/* Refuse at once what the operation would refuse, so the client sees it directly. */
	if (name && *name) {
		r = config_snapshot_name_valid(name, err);
		if (r < 0)
			return r;
	} else {
		name = NULL;
	}
	if (expiry && *expiry) {
		r = config_expiry_resolve(expiry, time_now(), &t, err);
		if (r < 0)
			return r;
	}
	if (expires_at && *expires_at && strcmp(expires_at, NEVER) != 0) {
		r = time_parse_rfc3339(expires_at, &t, err);
		if (r < 0)
			return r;
		if (!expiry || !*expiry)
			expiry = expires_at;
	} else if (expires_at && strcmp(expires_at, NEVER) == 0 && (!expiry || !*expiry)) {
		no_expiry = true;
	}
	if (stateful) {
		r = instance_stateful_allowed(&d->env, &row, "Stateful snapshots", err);
		if (r < 0)
			return r;
	}
	job = job_new(row.name, name, err);
	if (!job)
		return -ENOMEM;
	job->stateful = stateful;
	job->no_expiry = no_expiry;
	job->reuse = reuse;
	if (expiry && *expiry && !(job->expiry = strdup(expiry))) {
		snapshot_job_free(job);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	return start_job(d, "Snapshotting instance", row.name, name, run_create, job, ret_envelope,
			 err);
}

HANDLER(handle_snapshot_get)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	struct snapshot_info info = {0};
	int r;

	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	r = snapshot_get(&d->env, row.name, req->params[1], &info, err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(api_snapshot_to_json(&info, row.architecture));
	db_snapshot_done(&info.row);
	return 200;
}

/* PUT and PATCH: only expires_at can change. */
static int update_snapshot(struct daemon *d, struct request *req, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	struct snapshot_info info = {0};
	const char *expires_at = NULL;
	int64_t t = 0;
	int r;

	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	r = body_string(req->body, "expires_at", false, &expires_at, err);
	if (r < 0)
		return r;
	/* Even a body that changes nothing is answered for a snapshot that exists only. */
	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	r = snapshot_get(&d->env, row.name, req->params[1], &info, err);
	if (r < 0)
		return r;
	db_snapshot_done(&info.row);
	if (!expires_at)
		return 0;
	if (*expires_at && strcmp(expires_at, NEVER) != 0) {
		r = config_expiry_parse_date(expires_at, &t, err);
		if (r < 0)
			return r;
		if (t <= 0)
			t = 0;
	}
	r = daemon_claim(d, req->params[0], err);
	if (r < 0)
		return r;
	r = snapshot_set_expiry(&d->env, req->params[0], req->params[1], t, err);
	if (r >= 0)
		scheduler_wake(); /* the nearest expiry may have moved */
	daemon_release(d, req->params[0]);
	return r;
}

HANDLER(handle_snapshot_put)
{
	int r = update_snapshot(d, req, err);

	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}

static int run_rename(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct snapshot_job *job = data;
	int r;

	(void)ret_md;
	r = snapshot_rename(&d->env, job->instance, job->name, job->new_name, err);

	if (r >= 0)
		notify("instance-snapshot-renamed", job->instance, job->new_name, "old_name",
		       job->name);
	return r;
}

HANDLER(handle_snapshot_post)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	struct snapshot_info info = {0};
	const char *new_name = NULL;
	struct snapshot_job *job;
	bool migration = false;
	int r;

	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	r = body_bool(req->body, "migration", &migration, err);
	if (r < 0)
		return r;
	if (migration)
		return api_snapshot_migrate(d, req, ret_envelope, err);
	r = body_string(req->body, "name", true, &new_name, err);
	if (r < 0)
		return r;
	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	r = config_snapshot_name_valid(new_name, err);
	if (r < 0)
		return r;
	r = snapshot_get(&d->env, row.name, req->params[1], &info, err);
	if (r < 0)
		return r;
	db_snapshot_done(&info.row);
	job = job_new(row.name, req->params[1], err);
	if (!job)
		return -ENOMEM;
	job->new_name = strdup(new_name);
	if (!job->new_name) {
		snapshot_job_free(job);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	return start_job(d, "Renaming snapshot", row.name, req->params[1], run_rename, job,
			 ret_envelope, err);
}

static int run_delete(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct snapshot_job *job = data;
	int r;

	(void)ret_md;
	r = snapshot_delete(&d->env, job->instance, job->name, err);

	if (r >= 0)
		notify("instance-snapshot-deleted", job->instance, job->name, NULL, NULL);
	return r;
}

HANDLER(handle_snapshot_delete)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	struct snapshot_info info = {0};
	struct snapshot_job *job;
	int r;

	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	r = snapshot_get(&d->env, row.name, req->params[1], &info, err);
	if (r < 0)
		return r;
	db_snapshot_done(&info.row);
	job = job_new(row.name, req->params[1], err);
	if (!job)
		return -ENOMEM;
	return start_job(d, "Deleting snapshot", row.name, req->params[1], run_delete, job,
			 ret_envelope, err);
}

static int run_restore(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct snapshot_job *job = data;
	int r;

	(void)ret_md;
	r = snapshot_restore(&d->env, job->instance, job->name, job->disk_only, job->stateful, err);
	if (r >= 0)
		notify("instance-restored", job->instance, NULL, "snapshot", job->name);
	return r;
}

int api_snapshot_restore(struct daemon *d, struct request *req, const char *snapshot,
			 bool disk_only, bool stateful, json_object **ret_envelope,
			 struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0};
	struct snapshot_info info = {0};
	struct snapshot_job *job;
	int r;

	r = instance_get(&d->env, req->params[0], &row, err);
	if (r < 0)
		return r;
	r = snapshot_get(&d->env, row.name, snapshot, &info, err);
	if (r < 0)
		return r;
	/* Refuse at once what the operation would refuse, so the client sees it directly. */
	r = snapshot_restore_allowed(&info.row, stateful, err);
	db_snapshot_done(&info.row);
	if (r < 0)
		return r;
	job = job_new(row.name, snapshot, err);
	if (!job)
		return -ENOMEM;
	job->disk_only = disk_only;
	job->stateful = stateful;
	return start_job(d, "Restoring snapshot", row.name, snapshot, run_restore, job,
			 ret_envelope, err);
}

static int run_copy(struct daemon *d, void *data, json_object **ret_md, struct err **err)
{
	struct snapshot_job *job = data;
	int r;

	(void)ret_md;
	/* The source is claimed too, so that it cannot be deleted or restored under the copy. */
	r = daemon_claim(d, job->copy_source, err);
	if (r < 0)
		return r;
	if (job->refresh)
		r = migration_local(&d->env, job->copy_source, job->instance, job->copy_pool,
				    &job->refresh_opts, job->restricted, err);
	else
		r = instance_copy(&d->env, job->copy_source, job->name, job->instance,
				  job->copy_pool, job->instance_only, err);
	daemon_release(d, job->copy_source);
	return r;
}

/* What --restricted refuses a copy: the source's settings, as the copy would get them (the
 * snapshot's, for a copy of a snapshot), giving the new instance a privileged container or a
 * host-path disk. */
static int copy_restricted(struct daemon *d, const char *name, const struct db_instance *row,
			   const struct db_snapshot *snap, struct err **err)
{
	_cleanup_kvlist_ struct kvlist expanded = {0};
	_cleanup_devices_ struct devices expanded_devices = {0};
	_cleanup_free_ char *owner = str_printf("instance \"%s\"", name);
	int r;

	if (!owner)
		return err_set(err, -ENOMEM, "Out of memory");
	if (!snap)
		return instance_settings_restricted(owner, NULL, NULL, &row->expanded_config,
						    &row->expanded_devices, err);
	r = instance_settings_expand(&d->env, snap->profiles, &snap->config, &snap->devices,
				     &expanded, &expanded_devices, err);
	if (r < 0)
		return r;
	return instance_settings_restricted(owner, NULL, NULL, &expanded, &expanded_devices, err);
}

int api_instance_copy(struct daemon *d, const char *name, const char *source, const char *pool,
		      bool instance_only, const struct migration_opts *refresh, bool restricted,
		      json_object **ret_envelope, struct err **err)
{
	_cleanup_db_instance_ struct db_instance row = {0}, existing = {0};
	bool exists;
	_cleanup_free_ char *src = NULL;
	const char *slash = strchr(source, '/');
	struct snapshot_info info = {0};
	struct snapshot_job *job;
	int r;

	src = slash ? strndup(source, (size_t)(slash - source)) : strdup(source);
	if (!src)
		return err_set(err, -ENOMEM, "Out of memory");
	r = instance_get(&d->env, src, &row, err);
	if (r < 0)
		return r;
	if (slash) {
		r = snapshot_get(&d->env, row.name, slash + 1, &info, err);
		if (r >= 0 && restricted)
			r = copy_restricted(d, name, &row, &info.row, err);
		db_snapshot_done(&info.row);
		if (r < 0)
			return r;
	} else if (restricted) {
		r = copy_restricted(d, name, &row, NULL, err);
		if (r < 0)
			return r;
	}
	exists = db_instance_get(d->env.db, name, &existing, NULL) >= 0;
	if (refresh && slash)
		return err_set(err, -EINVAL,
			       "--refresh takes an instance, not a snapshot: a snapshot is copied "
			       "into a new instance");
	if (refresh && strcmp(row.name, name) == 0)
		return err_set(err, -EINVAL, "Instance \"%s\" cannot be refreshed from itself",
			       name);
	if (exists && !refresh)
		return err_set(err, -EEXIST, "Instance \"%s\" already exists", name);
	if (exists) {
		r = migration_refresh_allowed(&d->env, name, err);
		if (r < 0)
			return r;
	}
	if (pool && !instance_env_pool(&d->env, pool))
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", pool);
	job = job_new(name, slash ? slash + 1 : NULL, err);
	if (!job)
		return -ENOMEM;
	job->instance_only = instance_only;
	job->restricted = restricted;
	job->copy_source = strdup(row.name);
	/* A refresh that makes the instance puts it on the source's pool, as a copy does. */
	job->copy_pool = pool ? strdup(pool) : refresh ? strdup(row.pool) : NULL;
	if (refresh) {
		job->refresh = true;
		job->refresh_opts = *refresh;
	}
	if (!job->copy_source || ((pool || refresh) && !job->copy_pool)) {
		snapshot_job_free(job);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	return start_job(d, exists ? "Refreshing instance" : "Copying instance", name, NULL,
			 run_copy, job, ret_envelope, err);
}

/* POST /1.0/snapshots/auto and /1.0/snapshots/prune (cairn's own): {"instances": ["c1", ...]}
 * (absent or empty: every instance), and for prune {"dry_run": true}. Answers the report of
 * scheduler_run(). */
static int policy_run(struct daemon *d, struct request *req, bool prune, json_object **ret_envelope,
		      struct err **err)
{
	_cleanup_strv_ char **names = NULL;
	_cleanup_kvlist_ struct kvlist overrides = {0};
	json_object *list = NULL, *report = NULL;
	bool dry_run = false;
	int r;

	if (req->body) {
		if (json_object_object_get_ex(req->body, "instances", &list) && list &&
		    !json_object_is_type(list, json_type_array))
			return err_set(err, -EINVAL, "Field \"instances\" must be a list of names");
		for (size_t i = 0; list && i < json_object_array_length(list); i++) {
			json_object *v = json_object_array_get_idx(list, i);

			if (!json_object_is_type(v, json_type_string))
				return err_set(err, -EINVAL,
					       "Field \"instances\" must be a list of names");
			if (strv_push(&names, json_object_get_string(v)) < 0)
				return err_set(err, -ENOMEM, "Out of memory");
		}
		r = body_bool(req->body, "dry_run", &dry_run, err);
		if (r < 0)
			return r;
		if (dry_run && !prune)
			return err_set(err, -EINVAL, "\"dry_run\" is for prune only");
		r = body_config(req->body, "config", &overrides, err);
		if (r < 0)
			return r;
		if (overrides.n > 0 && !dry_run)
			return err_set(
			    err, -EINVAL,
			    "\"config\" is for a dry run only: set the keys to keep them");
		for (size_t i = 0; i < overrides.n; i++) {
			if (!str_startswith(overrides.items[i].key, "snapshots."))
				return err_set(err, -EINVAL,
					       "A dry run reads snapshots.* keys only, not \"%s\"",
					       overrides.items[i].key);
			r = config_key_validate(overrides.items[i].key, overrides.items[i].value,
						err);
			if (r < 0)
				return r;
		}
	}
	r = scheduler_run(d,
			  !prune    ? SCHEDULER_AUTO
			  : dry_run ? SCHEDULER_PRUNE_DRY_RUN
				    : SCHEDULER_PRUNE,
			  names, &overrides, &report, err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(report);
	return 200;
}

HANDLER(handle_snapshots_auto)
{
	return policy_run(d, req, false, ret_envelope, err);
}

HANDLER(handle_snapshots_prune)
{
	return policy_run(d, req, true, ret_envelope, err);
}
