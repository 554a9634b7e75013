/* copy and move between daemons (cli_migrate(), cmd/cairn/cli.h). */
#include "cmd/cairn/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cmd/cairn/remotes.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/names.h"
#include "config/snaprules.h"

/* One side of a transfer: its remote's name, address and (HTTPS) stored certificate. */
struct side {
	char *remote;
	char *addr; /* "https://...", or NULL for a unix socket */
	char *cert; /* PEM, HTTPS only */
	struct cli_client *c;
};

static void side_done(struct side *s)
{
	free(s->remote);
	free(s->addr);
	free(s->cert);
	cli_client_free(s->c);
}

static int side_open(struct cli_ctx *ctx, const struct cli_remotes *all, const char *name,
		     struct side *s, struct err **err)
{
	const struct cli_remote *rem = cli_remotes_find(all, name);
	int r;

	s->remote = strdup(name);
	if (!s->remote)
		return err_set(err, -ENOMEM, "Out of memory");
	if (rem && str_startswith(rem->addr, "https://")) {
		_cleanup_free_ char *dir = cli_config_dir();
		_cleanup_free_ char *path =
		    dir ? str_printf("%s/servercerts/%s.crt", dir, name) : NULL;

		if (!path || !(s->addr = strdup(rem->addr)))
			return err_set(err, -ENOMEM, "Out of memory");
		r = file_read_all(path, &s->cert, NULL, err);
		if (r < 0)
			return err_wrap(err, r, "No stored certificate for remote \"%s\"", name);
	}
	return cli_open_remote(ctx, name, &s->c, err);
}

static json_object *migration_source(const struct cli_args *args, const char *mode)
{
	json_object *source = json_object_new_object();

	json_object_object_add(source, "type", json_object_new_string("migration"));
	json_object_object_add(source, "mode", json_object_new_string(mode));
	json_object_object_add(source, "instance_only",
			       json_object_new_boolean(cli_flag_bool(args, "instance-only")));
	json_object_object_add(
	    source, "refresh",
	    json_object_new_boolean(cli_flag_bool(args, "refresh") ||
				    cli_flag_bool(args, "refresh-exclude-older") ||
				    cli_flag_bool(args, "refresh-prune")));
	json_object_object_add(
	    source, "refresh_exclude_older",
	    json_object_new_boolean(cli_flag_bool(args, "refresh-exclude-older")));
	json_object_object_add(source, "refresh_prune",
			       json_object_new_boolean(cli_flag_bool(args, "refresh-prune")));
	return source;
}

static json_object *target_body(const struct cli_args *args, const char *name, json_object *source)
{
	json_object *body = json_object_new_object();
	const char *pool = cli_flag_string(args, "storage");

	json_object_object_add(body, "name", json_object_new_string(name));
	json_object_object_add(body, "source", source);
	if (pool) {
		json_object *devices = json_object_new_object(), *root = json_object_new_object();

		json_object_object_add(root, "type", json_object_new_string("disk"));
		json_object_object_add(root, "path", json_object_new_string("/"));
		json_object_object_add(root, "pool", json_object_new_string(pool));
		json_object_object_add(devices, "root", root);
		json_object_object_add(body, "devices", devices);
	}
	return body;
}

/* The operation's "fs" secret and id. */
static int op_secret(json_object *op, const char **ret_id, const char **ret_secret,
		     struct err **err)
{
	json_object *md = NULL, *fs = NULL;

	*ret_id = api_get_string(op, "id");
	if (!*ret_id || !json_object_object_get_ex(op, "metadata", &md) ||
	    !json_object_object_get_ex(md, "fs", &fs) || !json_object_get_string(fs))
		return err_set(err, -EPROTO, "The daemon answered without a migration secret");
	*ret_secret = json_object_get_string(fs);
	return 0;
}

static long long op_bytes(json_object *op)
{
	json_object *md = NULL;

	if (!op || !json_object_object_get_ex(op, "metadata", &md))
		return -1;
	return api_get_int(md, "bytes", -1);
}

/* Runs the transfer; *ret_bytes is what went on the wire, as the side that made the request
 * counted it. */
static int transfer(struct side *src, struct side *dst, const char *path, const char *new_name,
		    const struct cli_args *args, struct cli_progress *progress,
		    long long *ret_bytes, struct err **err)
{
	_cleanup_json_ json_object *sop = NULL, *top = NULL, *sdone = NULL, *tdone = NULL;
	_cleanup_free_ char *url = NULL;
	_cleanup_err_ struct err *terr = NULL;
	json_object *body;
	const char *sid, *tid, *secret;
	int r, q;

	if (dst->addr) {
		/* Push: the source daemon connects to the target's operation. */
		_cleanup_json_ json_object *sbody = json_object_new_object();
		json_object *target = json_object_new_object(), *secrets = json_object_new_object();

		body = target_body(args, new_name, migration_source(args, "push"));
		r = cli_client_start(dst->c, "POST", "/1.0/instances", body, &top, err);
		json_object_put(body);
		if (r < 0)
			return r;
		r = op_secret(top, &tid, &secret, err);
		if (r < 0) {
			json_object_put(target);
			json_object_put(secrets);
			return r;
		}
		url = str_printf("%s/1.0/operations/%s", dst->addr, tid);
		if (!url) {
			json_object_put(target);
			json_object_put(secrets);
			return err_set(err, -ENOMEM, "Out of memory");
		}
		json_object_object_add(secrets, "fs", json_object_new_string(secret));
		json_object_object_add(target, "operation", json_object_new_string(url));
		json_object_object_add(target, "certificate", json_object_new_string(dst->cert));
		json_object_object_add(target, "secrets", secrets);
		json_object_object_add(sbody, "migration", json_object_new_boolean(true));
		json_object_object_add(sbody, "live", json_object_new_boolean(false));
		json_object_object_add(
		    sbody, "instance_only",
		    json_object_new_boolean(cli_flag_bool(args, "instance-only")));
		json_object_object_add(sbody, "target", target);
		r = cli_client_start(src->c, "POST", path, sbody, &sop, err);
		if (r < 0)
			return r;
		sid = api_get_string(sop, "id");
		r = cli_client_wait(src->c, sid, progress, &sdone, err);
		q = cli_client_wait(dst->c, tid, NULL, &tdone, r < 0 ? &terr : err);
		*ret_bytes = op_bytes(sdone);
		/* A target that refused early closed the connection, which can cut its answer
		 * off before the source read it: its own operation says why. */
		if (r < 0 && q < 0 && strstr(err_msg(*err, r), "broke")) {
			err_free(*err);
			*err = steal_pointer(&terr);
			return q;
		}
		return r < 0 ? r : q;
	}
	/* Pull: the target daemon connects to the source's operation. */
	{
		_cleanup_json_ json_object *sbody = json_object_new_object();
		json_object *source, *secrets = json_object_new_object();

		json_object_object_add(sbody, "migration", json_object_new_boolean(true));
		json_object_object_add(sbody, "live", json_object_new_boolean(false));
		json_object_object_add(
		    sbody, "instance_only",
		    json_object_new_boolean(cli_flag_bool(args, "instance-only")));
		r = cli_client_start(src->c, "POST", path, sbody, &sop, err);
		if (r < 0) {
			json_object_put(secrets);
			return r;
		}
		r = op_secret(sop, &sid, &secret, err);
		url = r >= 0 ? str_printf("%s/1.0/operations/%s", src->addr, sid) : NULL;
		if (r >= 0 && !url)
			r = err_set(err, -ENOMEM, "Out of memory");
		if (r < 0) {
			json_object_put(secrets);
			return r;
		}
		source = migration_source(args, "pull");
		json_object_object_add(secrets, "fs", json_object_new_string(secret));
		json_object_object_add(source, "operation", json_object_new_string(url));
		json_object_object_add(source, "certificate", json_object_new_string(src->cert));
		json_object_object_add(source, "secrets", secrets);
		body = target_body(args, new_name, source);
		r = cli_client_start(dst->c, "POST", "/1.0/instances", body, &top, err);
		json_object_put(body);
		if (r < 0)
			return r;
		tid = api_get_string(top, "id");
		/* The source's operation tells how far the stream is. */
		q = cli_client_wait(src->c, sid, progress, &sdone, &terr);
		r = cli_client_wait(dst->c, tid, NULL, &tdone, err);
		*ret_bytes = op_bytes(tdone);
		/* A source that failed cut the target's download short: its own error says why. */
		if (r < 0 && q < 0 && strstr(err_msg(*err, r), "broke")) {
			err_free(*err);
			*err = steal_pointer(&terr);
			return q;
		}
		if (r >= 0 && q < 0) {
			*err = steal_pointer(&terr);
			return q;
		}
		return r;
	}
}

static int remote_of(struct cli_ctx *ctx, const struct cli_remotes *all, size_t i, char **ret,
		     struct err **err)
{
	const char *name = ctx->arg_remotes[i];

	if (!name)
		name = all->default_remote ? all->default_remote : CLI_REMOTE_LOCAL;
	*ret = strdup(name);
	return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
}

/* The source's state: true when it runs. */
static int source_running(struct side *src, const char *path, bool *ret, struct err **err)
{
	_cleanup_json_ json_object *st = NULL;
	_cleanup_free_ char *state = str_printf("%s/state", path);
	const char *status;
	int r;

	if (!state)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_client_query(src->c, "GET", state, NULL, &st, err);
	if (r < 0)
		return r;
	status = api_get_string(st, "status");
	*ret = status && strcmp(status, "Stopped") != 0;
	return 0;
}

static int set_state(struct cli_client *c, const char *path, const char *action, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_free_ char *state = str_printf("%s/state", path);

	if (!state)
		return err_set(err, -ENOMEM, "Out of memory");
	json_object_object_add(body, "action", json_object_new_string(action));
	json_object_object_add(body, "timeout", json_object_new_int(30));
	return cli_client_query(c, "PUT", state, body, NULL, err);
}

int cli_migrate(struct cli_ctx *ctx, const struct cli_args *args, bool move, struct err **err)
{
	_cleanup_(cli_remotes_done) struct cli_remotes all = {0};
	_cleanup_free_ char *a = NULL, *b = NULL, *name = NULL, *path = NULL, *esc = NULL;
	_cleanup_free_ char *spath = NULL;
	_cleanup_(side_done) struct side src = {0}, dst = {0};
	const char *new_name, *slash;
	bool refresh = cli_flag_bool(args, "refresh") || cli_flag_bool(args, "refresh-prune") ||
		       cli_flag_bool(args, "refresh-exclude-older");
	struct cli_progress progress = {0};
	bool running = false;
	long long bytes = -1;
	int r;

	r = cli_remotes_load(&all, err);
	if (r < 0)
		return r;
	/* One argument (move NAME --storage POOL) names one daemon. */
	r = remote_of(ctx, &all, 0, &a, err);
	if (r >= 0)
		r = args->argc < 2 ? ((b = strdup(a)) ? 0 : err_set(err, -ENOMEM, "Out of memory"))
				   : remote_of(ctx, &all, 1, &b, err);
	if (r < 0)
		return r;
	if (strcmp(a, b) == 0) {
		/* One daemon: its own copy (a refresh there runs the same stream locally). */
		free(ctx->remote);
		ctx->remote = steal_pointer(&a);
		return 0;
	}
	if (args->argc < 2)
		return err_set(err, -EINVAL, "Missing the target: REMOTE:NAME");
	/* NAME/SNAP: a new instance on the target made from that snapshot, as Incus does. */
	slash = strchr(args->argv[0], '/');
	if (slash && move)
		return err_set(err, -EINVAL,
			       "A snapshot cannot be moved: copy it (cairn copy %s ...) and delete "
			       "it",
			       args->argv[0]);
	if (slash && refresh)
		return err_set(err, -EINVAL,
			       "--refresh takes an instance, not a snapshot: a snapshot is copied "
			       "into a new instance");
	name =
	    slash ? strndup(args->argv[0], (size_t)(slash - args->argv[0])) : strdup(args->argv[0]);
	if (!name)
		return err_set(err, -ENOMEM, "Out of memory");
	new_name = *args->argv[1] ? args->argv[1] : name;
	r = config_instance_name_valid(name, err);
	if (r >= 0 && slash)
		r = config_snapshot_name_valid(slash + 1, err);
	if (r >= 0)
		r = config_instance_name_valid(new_name, err);
	if (r < 0)
		return r;
	r = side_open(ctx, &all, a, &src, err);
	if (r >= 0)
		r = side_open(ctx, &all, b, &dst, err);
	if (r < 0)
		return r;
	if (!src.addr && !dst.addr)
		return err_set(err, -EOPNOTSUPP,
			       "Copying between \"%s\" and \"%s\" needs one of them to serve the "
			       "API over HTTPS (core.https_address) and be added as an HTTPS "
			       "remote",
			       a, b);
	esc = cli_escape(name);
	path = esc ? str_printf("/1.0/instances/%s", esc) : NULL;
	if (slash) {
		_cleanup_free_ char *sesc = cli_escape(slash + 1);

		spath = path && sesc ? str_printf("%s/snapshots/%s", path, sesc) : NULL;
	}
	if (!path || (slash && !spath))
		return err_set(err, -ENOMEM, "Out of memory");
	if (move) {
		r = source_running(&src, path, &running, err);
		if (r < 0)
			return r;
		if (running && !cli_flag_bool(args, "stateless"))
			return err_set(
			    err, -EBUSY,
			    "Instance \"%s\" is running: live migration is not supported; "
			    "stop it first or pass --stateless (it is stopped, moved and "
			    "started again on \"%s\")",
			    name, b);
		if (running) {
			r = set_state(src.c, path, "stop", err);
			if (r < 0)
				return r;
		}
	}
	cli_progress_start(&progress, ctx->out, ctx->quiet, "Transferring instance", 0);
	r = transfer(&src, &dst, spath ? spath : path, new_name, args, &progress, &bytes, err);
	cli_progress_done(&progress);
	if (r < 0) {
		/* A failed move leaves the source as it was. */
		if (running) {
			_cleanup_err_ struct err *e = NULL;

			set_state(src.c, path, "start", &e);
		}
		return r;
	}
	if (!ctx->quiet && bytes >= 0)
		fprintf(ctx->out, "Transferred %lld bytes\n", bytes);
	if (move) {
		_cleanup_free_ char *nesc = cli_escape(new_name);
		_cleanup_free_ char *npath = nesc ? str_printf("/1.0/instances/%s", nesc) : NULL;

		r = cli_client_query(src.c, "DELETE", path, NULL, NULL, err);
		if (r < 0)
			return err_wrap(err, r,
					"The instance was copied to \"%s\", but the source could "
					"not be deleted",
					b);
		if (running && npath) {
			r = set_state(dst.c, npath, "start", err);
			if (r < 0)
				return r;
		}
	}
	return 1;
}
