/* cairn snapshot ..., cairn restore, cairn copy: snapshots of instances. */
#include "cmd/cairn/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/keys.h"
#include "config/names.h"
#include "config/snaprules.h"

/* "/1.0/instances/<instance>[/snapshots/<snapshot>]<suffix>" with both names escaped. */
static int snap_path(const char *instance, const char *snapshot, const char *suffix, char **ret,
		     struct err **err)
{
	_cleanup_free_ char *ei = cli_escape(instance);
	_cleanup_free_ char *es = snapshot ? cli_escape(snapshot) : NULL;

	if (!ei || (snapshot && !es))
		return err_set(err, -ENOMEM, "Out of memory");
	*ret = snapshot
		   ? str_printf("/1.0/instances/%s/snapshots/%s%s", ei, es, suffix ? suffix : "")
		   : str_printf("/1.0/instances/%s%s", ei, suffix ? suffix : "");
	return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
}

/* Checks a snapshot name before anything is sent, so a typo fails at once. */
static int check_snapshot_name(const char *name, struct err **err)
{
	return config_snapshot_name_valid(name, err);
}

/* create and the legacy `cairn snapshot NAME [SNAP]`. */
static int create_snapshot(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	const char *instance = args->argv[0];
	const char *name = args->argc > 1 ? args->argv[1] : NULL;
	const char *expiry = cli_flag_string(args, "expiry");
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_json_ json_object *op = NULL;
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	json_object *md = NULL;
	int64_t ignored = 0;
	int r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	if (name) {
		r = check_snapshot_name(name, err);
		if (r < 0)
			return r;
		json_object_object_add(body, "name", json_object_new_string(name));
	}
	if (expiry && cli_flag_bool(args, "no-expiry"))
		return err_set(err, -EINVAL, "--expiry and --no-expiry cannot be used together");
	if (expiry) {
		r = config_expiry_resolve(expiry, time_now(), &ignored, err);
		if (r < 0)
			return r;
		json_object_object_add(body, "expiry", json_object_new_string(expiry));
	}
	json_object_object_add(body, "no_expiry",
			       json_object_new_boolean(cli_flag_bool(args, "no-expiry")));
	json_object_object_add(body, "reuse",
			       json_object_new_boolean(cli_flag_bool(args, "reuse")));
	json_object_object_add(body, "stateful",
			       json_object_new_boolean(cli_flag_bool(args, "stateful")));
	r = snap_path(instance, NULL, "/snapshots", &path, err);
	if (r < 0)
		return r;
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "POST", path, body, &op, err);
	if (r < 0)
		return r;
	/* Incus prints nothing; a name the user did not choose is worth telling. */
	if (!name && json_object_object_get_ex(op, "metadata", &md)) {
		const char *final = api_get_string(md, "name");

		if (final)
			fprintf(ctx->out, "Created snapshot \"%s\"\n", final);
	}
	return 0;
}

int cli_cmd_snapshot(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	return create_snapshot(ctx, args, err);
}

int cli_cmd_snapshot_create(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	return create_snapshot(ctx, args, err);
}

static int get_snapshots(struct cli_ctx *ctx, const char *instance, json_object **ret,
			 struct err **err)
{
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	int r;

	r = snap_path(instance, NULL, "/snapshots?recursion=1", &path, err);
	if (r < 0)
		return r;
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "GET", path, NULL, ret, err);
	if (r < 0)
		return r;
	if (!json_object_is_type(*ret, json_type_array))
		return err_set(err, -EPROTO,
			       "Invalid answer from cairnd: the snapshot list is not a list");
	return 0;
}

int cli_cmd_snapshot_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	static const char *const headers[] = {"NAME", "TAKEN AT", "EXPIRES AT",
					      "TYPE", "STATEFUL", "SIZE"};
	_cleanup_json_ json_object *list = NULL;
	struct cli_table t = {.ncols = 6, .headers = headers};
	enum cli_format fmt;
	int r;

	r = cli_format_parse(cli_flag_string(args, "format"), &fmt, err);
	if (r < 0)
		return r;
	r = get_snapshots(ctx, args->argv[0], &list, err);
	if (r < 0)
		return r;
	if (fmt == CLI_FORMAT_JSON) {
		cli_render_json(ctx->out, list);
		return 0;
	}
	if (fmt == CLI_FORMAT_YAML)
		return cli_render_yaml(ctx->out, list, err);
	for (size_t i = 0; i < json_object_array_length(list) && r == 0; i++) {
		json_object *s = json_object_array_get_idx(list, i);
		const char *name = api_get_string(s, "name");
		_cleanup_free_ char *taken = cli_format_time(api_get_string(s, "created_at"));
		_cleanup_free_ char *expires = cli_format_time(api_get_string(s, "expires_at"));
		long long size = api_get_int(s, "size", -1);
		_cleanup_free_ char *size_s = size >= 0 ? format_size((uint64_t)size) : strdup("-");
		const char *cells[6];

		if (!size_s) {
			r = -ENOMEM;
			break;
		}
		cells[0] = name ? name : "";
		cells[1] = taken ? taken : "";
		cells[2] = expires ? expires : "";
		cells[3] = api_get_bool(s, "scheduled", false) ? "scheduled" : "manual";
		cells[4] = api_get_bool(s, "stateful", false) ? "YES" : "NO";
		cells[5] = size_s;
		r = cli_table_add(&t, cells);
	}
	if (r < 0) {
		cli_table_done(&t);
		return err_set(err, r, "Out of memory");
	}
	/* Oldest first, as the daemon sends them: the order they were taken in. */
	cli_table_render(ctx->out, &t, fmt);
	cli_table_done(&t);
	return 0;
}

static int restore(struct cli_ctx *ctx, const char *instance, const char *snapshot, bool disk_only,
		   bool stateful, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	int r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	r = check_snapshot_name(snapshot, err);
	if (r < 0)
		return r;
	r = snap_path(instance, NULL, NULL, &path, err);
	if (r < 0)
		return r;
	json_object_object_add(body, "restore", json_object_new_string(snapshot));
	json_object_object_add(body, "restore_disk_only", json_object_new_boolean(disk_only));
	json_object_object_add(body, "stateful", json_object_new_boolean(stateful));
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	return cli_client_query(c, "PUT", path, body, NULL, err);
}

int cli_cmd_snapshot_restore(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	return restore(ctx, args->argv[0], args->argv[1], cli_flag_bool(args, "diskonly"),
		       cli_flag_bool(args, "stateful"), err);
}

int cli_cmd_restore(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	return restore(ctx, args->argv[0], args->argv[1], cli_flag_bool(args, "diskonly"),
		       cli_flag_bool(args, "stateful"), err);
}

int cli_cmd_snapshot_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	struct cli_client *c = NULL;
	int r;

	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	/* Every name is checked first, so that one bad argument deletes nothing. */
	for (size_t i = 1; i < args->argc; i++) {
		_cleanup_free_ char *path = NULL;

		r = check_snapshot_name(args->argv[i], err);
		if (r < 0)
			return r;
		r = snap_path(args->argv[0], args->argv[i], NULL, &path, err);
		if (r < 0)
			return r;
		r = cli_client_query(c, "GET", path, NULL, NULL, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 1; i < args->argc; i++) {
		_cleanup_free_ char *path = NULL;

		r = snap_path(args->argv[0], args->argv[i], NULL, &path, err);
		if (r < 0)
			return r;
		r = cli_client_query(c, "DELETE", path, NULL, NULL, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int cli_cmd_snapshot_rename(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	int r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	r = check_snapshot_name(args->argv[2], err);
	if (r < 0)
		return r;
	r = snap_path(args->argv[0], args->argv[1], NULL, &path, err);
	if (r < 0)
		return r;
	json_object_object_add(body, "name", json_object_new_string(args->argv[2]));
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	return cli_client_query(c, "POST", path, body, NULL, err);
}

int cli_cmd_snapshot_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	int r;

	r = snap_path(args->argv[0], args->argv[1], NULL, &path, err);
	if (r < 0)
		return r;
	return cli_show_yaml(ctx, path, err);
}

int cli_cmd_snapshot_expiry(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	const char *arg = args->argv[2];
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_free_ char *path = NULL, *when = NULL;
	struct cli_client *c = NULL;
	int64_t t = 0;
	int r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	if (strcmp(arg, "never") == 0) {
		when = strdup("");
	} else {
		r = config_expiry_resolve(arg, time_now(), &t, err);
		if (r < 0)
			return r;
		when = time_format_rfc3339(t);
	}
	if (!when)
		return err_set(err, -ENOMEM, "Out of memory");
	r = snap_path(args->argv[0], args->argv[1], NULL, &path, err);
	if (r < 0)
		return r;
	json_object_object_add(body, "expires_at", json_object_new_string(when));
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	return cli_client_query(c, "PATCH", path, body, NULL, err);
}

int cli_cmd_copy(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	struct cli_progress progress = {0};
	const char *src = args->argv[0], *dst = args->argv[1];
	const char *slash = strchr(src, '/'), *pool = cli_flag_string(args, "storage");
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_free_ char *instance = NULL;
	json_object *source;
	struct cli_client *c = NULL;
	bool refresh = cli_flag_bool(args, "refresh") || cli_flag_bool(args, "refresh-prune") ||
		       cli_flag_bool(args, "refresh-exclude-older");
	int r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	/* Another daemon on either side: a migration. */
	r = cli_migrate(ctx, args, false, err);
	if (r != 0)
		return r < 0 ? r : 0;
	r = config_instance_name_valid(dst, err);
	if (r < 0)
		return r;
	if (pool) {
		r = config_pool_name_valid(pool, err);
		if (r < 0)
			return r;
	}
	instance = slash ? strndup(src, (size_t)(slash - src)) : strdup(src);
	if (!instance)
		return err_set(err, -ENOMEM, "Out of memory");
	if (slash) {
		r = check_snapshot_name(slash + 1, err);
		if (r < 0)
			return r;
	}
	if (slash && refresh)
		return err_set(err, -EINVAL,
			       "--refresh takes an instance, not a snapshot: a snapshot is copied "
			       "into a new instance");
	source = json_object_new_object();
	if (!source)
		return err_set(err, -ENOMEM, "Out of memory");
	json_object_object_add(source, "type", json_object_new_string("copy"));
	json_object_object_add(source, "source", json_object_new_string(src));
	json_object_object_add(source, "instance_only",
			       json_object_new_boolean(cli_flag_bool(args, "instance-only")));
	if (refresh) {
		json_object_object_add(source, "refresh", json_object_new_boolean(true));
		json_object_object_add(
		    source, "refresh_exclude_older",
		    json_object_new_boolean(cli_flag_bool(args, "refresh-exclude-older")));
		json_object_object_add(
		    source, "refresh_prune",
		    json_object_new_boolean(cli_flag_bool(args, "refresh-prune")));
	}
	json_object_object_add(body, "name", json_object_new_string(dst));
	json_object_object_add(body, "source", source);
	/* As Incus sends it: the copy's root disk on the pool. */
	if (pool) {
		json_object *devices = json_object_new_object(), *root = json_object_new_object();

		if (!devices || !root) {
			json_object_put(devices);
			json_object_put(root);
			return err_set(err, -ENOMEM, "Out of memory");
		}
		json_object_object_add(root, "type", json_object_new_string("disk"));
		json_object_object_add(root, "path", json_object_new_string("/"));
		json_object_object_add(root, "pool", json_object_new_string(pool));
		json_object_object_add(devices, "root", root);
		json_object_object_add(body, "devices", devices);
	}
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	cli_progress_start(&progress, ctx->out, ctx->quiet, "Transferring instance", 0);
	r = cli_client_query_progress(c, "POST", "/1.0/instances", body, &progress, NULL, err);
	cli_progress_done(&progress);
	return r;
}

/*
 * The body of POST /1.0/snapshots/{auto,prune}: the instances named, or none for --all (one
 * or the other is required, so a bare `cairn snapshot prune` never touches every instance).
 */
static int policy_body(const struct cli_args *args, json_object **ret, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	json_object *names = json_object_new_array();
	bool all = cli_flag_bool(args, "all");

	if (!body || !names) {
		json_object_put(names);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	json_object_object_add(body, "instances", names);
	if (all && args->argc > 0)
		return err_set(err, -EINVAL, "Name instances or pass --all, not both");
	if (!all && args->argc == 0)
		return err_set(err, -EINVAL, "Name at least one instance, or pass --all");
	for (size_t i = 0; i < args->argc; i++)
		json_object_array_add(names, json_object_new_string(args->argv[i]));
	*ret = steal_pointer(&body);
	return 0;
}

/* Prints the errors of a policy report to stderr; -EIO when there was one. */
static int report_errors(json_object *report, struct err **err)
{
	int r = 0;

	for (size_t i = 0; i < json_object_array_length(report); i++) {
		json_object *o = json_object_array_get_idx(report, i);
		const char *e = api_get_string(o, "error");

		if (!e || !*e)
			continue;
		fprintf(stderr, "Error: %s: %s\n", api_get_string(o, "instance"), e);
		r = -EIO;
	}
	return r < 0 ? err_set(err, r, "Some instances failed") : 0;
}

static int policy_query(struct cli_ctx *ctx, const struct cli_args *args, const char *path,
			json_object **ret_report, struct err **err)
{
	_cleanup_json_ json_object *body = NULL;
	struct cli_client *c = NULL;
	int r;

	r = policy_body(args, &body, err);
	if (r < 0)
		return r;
	if (str_startswith(path, "/1.0/snapshots/prune")) {
		char *const *pairs = cli_flag_list(args, "config");
		json_object *config = json_object_new_object();

		json_object_object_add(body, "dry_run",
				       json_object_new_boolean(cli_flag_bool(args, "dry-run")));
		json_object_object_add(body, "config", config);
		if (pairs && *pairs && !cli_flag_bool(args, "dry-run"))
			return err_set(
			    err, -EINVAL,
			    "-c tries a rule in a dry run only: add --dry-run, or set the "
			    "key with cairn config set");
		for (char *const *p = pairs; p && *p; p++) {
			const char *eq = strchr(*p, '=');
			_cleanup_free_ char *key = eq ? strndup(*p, (size_t)(eq - *p)) : NULL;

			if (!eq || eq == *p)
				return err_set(err, -EINVAL, "Bad key=value pair: \"%s\"", *p);
			if (!key)
				return err_set(err, -ENOMEM, "Out of memory");
			r = config_key_validate(key, eq + 1, err);
			if (r < 0)
				return r;
			json_object_object_add(config, key, json_object_new_string(eq + 1));
		}
	}
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "POST", path, body, ret_report, err);
	if (r < 0)
		return r;
	if (!json_object_is_type(*ret_report, json_type_array))
		return err_set(err, -EPROTO,
			       "Invalid answer from cairnd: the report is not a list");
	return 0;
}

int cli_cmd_snapshot_auto(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *report = NULL;
	int r;

	r = policy_query(ctx, args, "/1.0/snapshots/auto", &report, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(report); i++) {
		json_object *o = json_object_array_get_idx(report, i);
		const char *inst = api_get_string(o, "instance");
		const char *created = api_get_string(o, "created");
		const char *skipped = api_get_string(o, "skipped");
		json_object *snaps = NULL;

		if (created)
			fprintf(ctx->out, "Created snapshot \"%s\" of \"%s\"\n", created, inst);
		else if (skipped)
			fprintf(ctx->out, "Skipped \"%s\": %s\n", inst, skipped);
		if (!json_object_object_get_ex(o, "snapshots", &snaps))
			continue;
		for (size_t k = 0; k < json_object_array_length(snaps); k++) {
			json_object *sn = json_object_array_get_idx(snaps, k);

			if (api_get_bool(sn, "deleted", false))
				fprintf(ctx->out, "Deleted snapshot \"%s\" of \"%s\": %s\n",
					api_get_string(sn, "name"), inst,
					api_get_string(sn, "reason"));
		}
	}
	return report_errors(report, err);
}

int cli_cmd_snapshot_prune(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	static const char *const headers[] = {"INSTANCE", "SNAPSHOT", "TYPE", "ACTION", "REASON"};
	_cleanup_json_ json_object *report = NULL;
	struct cli_table t = {.ncols = 5, .headers = headers};
	bool dry_run = cli_flag_bool(args, "dry-run");
	enum cli_format fmt;
	int r;

	r = cli_format_parse(cli_flag_string(args, "format"), &fmt, err);
	if (r < 0)
		return r;
	r = policy_query(ctx, args, "/1.0/snapshots/prune", &report, err);
	if (r < 0)
		return r;
	if (fmt == CLI_FORMAT_JSON) {
		cli_render_json(ctx->out, report);
		return report_errors(report, err);
	}
	if (fmt == CLI_FORMAT_YAML) {
		r = cli_render_yaml(ctx->out, report, err);
		return r < 0 ? r : report_errors(report, err);
	}
	for (size_t i = 0; i < json_object_array_length(report) && r >= 0; i++) {
		json_object *o = json_object_array_get_idx(report, i);
		json_object *snaps = NULL;

		if (!json_object_object_get_ex(o, "snapshots", &snaps))
			continue;
		for (size_t k = 0; k < json_object_array_length(snaps) && r >= 0; k++) {
			json_object *sn = json_object_array_get_idx(snaps, k);
			bool del = strcmp(api_get_string(sn, "verdict") ?: "", "delete") == 0;
			const char *cells[5] = {
			    api_get_string(o, "instance") ?: "",
			    api_get_string(sn, "name") ?: "",
			    api_get_bool(sn, "scheduled", false) ? "scheduled" : "manual",
			    dry_run ? (del ? "delete" : "keep")
				    : (api_get_bool(sn, "deleted", false) ? "deleted" : "kept"),
			    api_get_string(sn, "reason") ?: "",
			};

			r = cli_table_add(&t, cells);
		}
	}
	if (r < 0) {
		cli_table_done(&t);
		return err_set(err, r, "Out of memory");
	}
	/* In the order the daemon sends them: by instance, oldest snapshot first. */
	cli_table_render(ctx->out, &t, fmt);
	cli_table_done(&t);
	return report_errors(report, err);
}
