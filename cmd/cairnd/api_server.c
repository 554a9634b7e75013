/* /, /1.0 and /1.0/operations. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <lxc/version.h>
#include <microhttpd.h>

#include "api/api.h"
#include "cmd/cairnd/body.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/events.h"
#include "cmd/cairnd/handlers.h"
#include "cmd/cairnd/https.h"
#include "cmd/cairnd/operations.h"
#include "cmd/cairnd/upgrade.h"
#include "cmd/cairnd/websocket.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/log.h"
#include "config/db.h"
#include "config/server_keys.h"
#include "storage/storage.h"

HANDLER(handle_root)
{
	json_object *list = json_object_new_array();

	(void)d;
	(void)req;
	(void)err;
	json_object_array_add(list, json_object_new_string("/1.0"));
	*ret_envelope = api_sync(list);
	return 200;
}

/* One change of the server config at a time: the listener and the stored config move
 * together. */
static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The API extensions cairnd declares: only those whose routes and fields it serves, so that a
 * client that checks one (the upstream `lxc` refuses a command when its extension is missing)
 * either works or says what is missing. doc/api.md says what each covers.
 */
static const char *const extensions[] = {
    "instances",	 /* /1.0/instances (not only /1.0/containers) */
    "api_filtering",	 /* ?filter= on /1.0/instances: a subset, see doc/api.md */
    "container_full",	 /* recursion=2 gives state and snapshots with each instance */
    "instance_get_full", /* recursion=1 on one instance gives its state and snapshots */
    "image_aliases",	 /* /1.0/images/aliases */
    "storage",		 /* /1.0/storage-pools */
    "profiles",		 /* /1.0/profiles */
    "resources",	 /* /1.0/storage-pools/<pool>/resources (not /1.0/resources) */
    "console",		 /* the console over websockets, and its log */
    "container_backup",	 /* /1.0/instances/<name>/backups and import by POST of a tarball */
    "backup_compression_algorithm",   /* compression_algorithm of a backup */
    "container_backup_override_pool", /* the pool an import goes to (X-Incus-pool, X-LXD-pool) */
    "backup_override_name",	      /* the name it takes (X-Incus-name, X-LXD-name) */
    "direct_backup",   /* POST .../backups with Accept: application/octet-stream streams it */
    "cairn_migration", /* copy, move and refresh between daemons (migration/migration.h) */
    NULL};

static json_object *extensions_json(void)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; a && extensions[i]; i++)
		json_object_array_add(a, json_object_new_string(extensions[i]));
	return a;
}

/* What Incus tells a client before it is trusted: enough to know what it talks to. */
static json_object *untrusted_view(void)
{
	json_object *o = json_object_new_object(), *methods = json_object_new_array();

	json_object_array_add(methods, json_object_new_string("tls"));
	json_object_object_add(o, "api_extensions", extensions_json());
	json_object_object_add(o, "api_status", json_object_new_string("stable"));
	json_object_object_add(o, "api_version", json_object_new_string("1.0"));
	json_object_object_add(o, "auth", json_object_new_string("untrusted"));
	json_object_object_add(o, "auth_methods", methods);
	json_object_object_add(o, "public", json_object_new_boolean(0));
	return o;
}

HANDLER(handle_server)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	json_object *o, *env, *cfg, *addrs;
	char address[300];
	struct utsname u;
	int r;

	if (!req->trusted) {
		*ret_envelope = api_sync(untrusted_view());
		return 200;
	}
	r = db_server_config_get(d->env.db, &config, err);
	if (r < 0)
		return r;
	o = json_object_new_object();
	env = json_object_new_object();
	cfg = json_object_new_object();
	addrs = json_object_new_array();
	for (size_t i = 0; i < config.n; i++)
		json_object_object_add(cfg, config.items[i].key,
				       json_object_new_string(config.items[i].value));
	https_address(address, sizeof(address));
	if (*address)
		json_object_array_add(addrs, json_object_new_string(address));
	json_object_object_add(env, "addresses", addrs);
	json_object_object_add(env, "certificate", json_object_new_string(https_certificate()));
	json_object_object_add(env, "certificate_fingerprint",
			       json_object_new_string(https_fingerprint()));
	uname(&u);
	json_object_object_add(env, "server", json_object_new_string("cairn"));
	json_object_object_add(env, "server_version", json_object_new_string("0.1.0"));
	json_object_object_add(env, "kernel_version", json_object_new_string(u.release));
	/* The names LXD's client reads besides Incus's. */
	json_object_object_add(env, "kernel", json_object_new_string(u.sysname));
	json_object_object_add(env, "kernel_architecture", json_object_new_string(u.machine));
	json_object_object_add(env, "server_name", json_object_new_string(u.nodename));
	json_object_object_add(env, "server_pid", json_object_new_int64((int64_t)getpid()));
	json_object_object_add(env, "server_clustered", json_object_new_boolean(0));
	json_object_object_add(env, "project", json_object_new_string("default"));
	json_object_object_add(env, "architectures", json_object_new_array());
	json_object_array_add(json_object_object_get(env, "architectures"),
			      json_object_new_string(u.machine));
	json_object_object_add(env, "driver", json_object_new_string("lxc"));
	json_object_object_add(env, "driver_version", json_object_new_string(LXC_VERSION));
	json_object_object_add(
	    env, "storage", json_object_new_string(d->env.n_pools ? d->env.pools[0].driver : ""));
	json_object_object_add(env, "admin_group", json_object_new_string(d->group_name));
	json_object_object_add(o, "api_extensions", extensions_json());
	json_object_object_add(o, "api_status", json_object_new_string("stable"));
	json_object_object_add(o, "api_version", json_object_new_string("1.0"));
	json_object_object_add(o, "auth", json_object_new_string("trusted"));
	json_object_object_add(o, "auth_methods", json_object_new_array());
	json_object_array_add(json_object_object_get(o, "auth_methods"),
			      json_object_new_string("tls"));
	json_object_object_add(o, "auth_user_method",
			       json_object_new_string(req->network ? "tls" : "unix"));
	json_object_object_add(o, "public", json_object_new_boolean(0));
	json_object_object_add(o, "config", cfg);
	json_object_object_add(o, "environment", env);
	*ret_envelope = api_sync(o);
	return 200;
}

/*
 * Makes the server config `next`: every key is checked first, then the listener follows
 * core.https_address, then the config is stored. A listener that cannot start leaves config
 * and listener as they were; a failed write puts the old listener back.
 */
static int server_config_apply(struct daemon *d, struct kvlist *next, struct err **err)
{
	_cleanup_kvlist_ struct kvlist old = {0};
	const char *addr, *old_addr;
	int r;

	for (size_t i = 0; i < next->n; i++) {
		r = config_server_key_validate(next->items[i].key, next->items[i].value, err);
		if (r < 0)
			return r;
	}
	r = db_server_config_get(d->env.db, &old, err);
	if (r < 0)
		return r;
	addr = kvlist_get(next, "core.https_address");
	old_addr = kvlist_get(&old, "core.https_address");
	r = https_apply(d, addr, err);
	if (r < 0)
		return r;
	r = db_server_config_replace(d->env.db, next, err);
	if (r < 0) {
		_cleanup_err_ struct err *e = NULL;

		if (https_apply(d, old_addr, &e) < 0)
			log_error("Failed to go back to the old HTTPS address: %s",
				  err_msg(e, -EIO));
		return r;
	}
	return 0;
}

/* PUT replaces the whole config (a key left out is unset), PATCH changes the keys given (""
 * unsets), as in Incus. */
static int server_update(struct daemon *d, struct request *req, bool replace,
			 json_object **ret_envelope, struct err **err)
{
	_cleanup_kvlist_ struct kvlist given = {0};
	_cleanup_kvlist_ struct kvlist next = {0};
	int r;

	if (!req->body)
		return err_set(err, -EINVAL, "The request needs a JSON body with \"config\"");
	r = body_config(req->body, "config", &given, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&config_lock);
	if (!replace)
		r = db_server_config_get(d->env.db, &next, err);
	for (size_t i = 0; r >= 0 && i < given.n; i++)
		if (kvlist_set(&next, given.items[i].key, given.items[i].value) < 0)
			r = err_set(err, -ENOMEM, "Out of memory");
	if (r >= 0)
		r = server_config_apply(d, &next, err);
	pthread_mutex_unlock(&config_lock);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}

HANDLER(handle_server_put)
{
	return server_update(d, req, true, ret_envelope, err);
}

HANDLER(handle_server_patch)
{
	return server_update(d, req, false, ret_envelope, err);
}

/* The WebSocket of /1.0/events: the same events, one JSON text message each. */
struct events_ws {
	struct upgrade_conn conn; /* first: the upgrade code sees the session as this */
	char *types;
};

static void events_ws_free(void *session)
{
	struct events_ws *s = session;

	free(s->conn.extra);
	free(s->types);
	free(s);
}

/* True once the client closed (a close frame, the end of the stream or a bad frame); answers
 * its close frame. Reads only what is there. */
static bool events_ws_closed(struct ws_reader *rd)
{
	struct pollfd pfd = {.fd = rd->sock, .events = POLLIN};

	while (rd->pending_off < rd->pending_len || poll(&pfd, 1, 0) > 0) {
		_cleanup_free_ uint8_t *data = NULL;
		size_t len = 0;
		int op = ws_recv(rd, &data, &len);

		if (op < 0)
			return true;
		if (op == WS_CLOSE) {
			ws_send(rd->sock, WS_CLOSE, data, len >= 2 ? 2 : 0);
			return true;
		}
		pfd.revents = 0;
	}
	return false;
}

static void *events_ws_run(void *session)
{
	struct events_ws *s = session;
	struct events_cursor *c = events_cursor_new(s->types);
	struct ws_reader rd;

	ws_reader_init(&rd, s->conn.sock, s->conn.extra, s->conn.extra_len);
	s->conn.extra = NULL;
	while (c && !events_ws_closed(&rd)) {
		_cleanup_free_ char *line = NULL;
		int r = events_next(c, 500, &line);

		if (r < 0)
			break;
		if (r > 0 && ws_send(rd.sock, WS_TEXT, line, strlen(line)) < 0)
			break;
	}
	events_cursor_free(c);
	ws_reader_done(&rd);
	MHD_upgrade_action(s->conn.urh, MHD_UPGRADE_ACTION_CLOSE);
	events_ws_free(s);
	return NULL;
}

HANDLER(handle_events)
{
	const char *type = request_query(req, "type");

	(void)d;
	if (ws_requested(req)) {
		struct events_ws *s = calloc(1, sizeof(*s));

		if (!s)
			return err_set(err, -ENOMEM, "Out of memory");
		s->conn.run = events_ws_run;
		s->conn.free = events_ws_free;
		s->conn.keep_extra = true;
		s->types = type && *type ? strdup(type) : NULL;
		*ret_envelope = NULL;
		return upgrade_respond_websocket(req, &s->conn, err);
	}
	req->response = events_stream(type);
	if (!req->response)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret_envelope = NULL;
	return 200;
}

HANDLER(handle_operations_list)
{
	(void)d;
	(void)err;
	*ret_envelope = api_sync(operation_list(request_recursion(req)));
	return 200;
}

HANDLER(handle_operation_delete)
{
	int r;

	(void)d;
	r = operation_cancel(req->params[0], err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}

HANDLER(handle_operation_get)
{
	json_object *op = NULL;
	int r;

	(void)d;
	r = operation_get(req->params[0], 0, false, &op, err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(op);
	return 200;
}

HANDLER(handle_operation_wait)
{
	const char *t = request_query(req, "timeout");
	json_object *op = NULL;
	char *end = NULL;
	long timeout = -1;
	int r;

	(void)d;
	if (t && *t) {
		timeout = strtol(t, &end, 10);
		if (*end || timeout < -1)
			return err_set(err, -EINVAL, "Invalid timeout \"%s\"", t);
	}
	r = operation_get(req->params[0], (int)timeout, true, &op, err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(op);
	return 200;
}
