/*
 * The HTTP edge: the unix socket, libmicrohttpd, access control by peer credentials, request
 * bodies, and the translation of handler results into envelopes.
 *
 * Threading: libmicrohttpd runs one thread per connection, so a handler may block (waiting for
 * an operation) without stalling other clients; long work runs in operation threads.
 */
#include "cmd/cairnd/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/api.h"
#include "cmd/cairnd/routes.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

#define MAX_JSON_BODY (1024 * 1024)

/* Per-request state kept by libmicrohttpd between calls of the access handler. */
struct request_ctx {
	struct request req;
	const struct route *route;
	enum route_match match;
	bool denied;
	char *json; /* accumulated JSON body */
	size_t json_len;
	bool too_large;
	int file_fd;	/* ROUTE_BODY_FILE target */
	int file_error; /* negative errno of a failed write */
};

const char *request_query(struct request *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *request_header(struct request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int request_recursion(struct request *req)
{
	const char *v = request_query(req, "recursion");

	if (!v || !*v)
		return 0;
	return atoi(v);
}

static enum MHD_Result send_json(struct MHD_Connection *conn, int status, json_object *body)
{
	const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len = strlen(text);
	char *copy = malloc(len + 1);

	if (!copy)
		return MHD_NO;
	memcpy(copy, text, len);
	copy[len] = '\n';
	resp = MHD_create_response_from_buffer(len + 1, copy, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(copy);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, int status, const char *msg)
{
	_cleanup_json_ json_object *env = api_error(status, msg);

	if (!env)
		return MHD_NO;
	return send_json(conn, status, env);
}

/* Root and members of the admin group are trusted; nobody else. */
static bool peer_trusted(struct daemon *d, struct request *req)
{
	struct passwd pw, *pwp = NULL;
	char buf[4096];
	gid_t groups[256];
	int n = 256;

	if (req->uid == 0)
		return true;
	if (d->group_gid == (gid_t)-1)
		return false;
	if (req->gid == d->group_gid)
		return true;
	if (getpwuid_r(req->uid, &pw, buf, sizeof(buf), &pwp) != 0 || !pwp)
		return false;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == d->group_gid)
			return true;
	return false;
}

static int read_peer(struct MHD_Connection *conn, struct request *req)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (!info)
		return -EIO;
	if (getsockopt(info->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	req->uid = cred.uid;
	req->gid = cred.gid;
	req->pid = cred.pid;
	return 0;
}

static int open_body_file(struct daemon *d)
{
	_cleanup_free_ char *dir = str_printf("%s/images-tmp", d->dir);
	int fd;

	if (!dir)
		return -ENOMEM;
	/* Unnamed, so an interrupted upload leaves nothing behind. */
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	return fd;
}

static enum MHD_Result dispatch(struct daemon *d, struct request_ctx *ctx)
{
	_cleanup_json_ json_object *env = NULL;
	_cleanup_err_ struct err *e = NULL;
	int status;

	if (ctx->json_len > 0) {
		enum json_tokener_error jerr;

		ctx->req.body = json_tokener_parse_verbose(ctx->json, &jerr);
		if (!ctx->req.body)
			return send_error(ctx->req.conn, 400, "Invalid JSON in the request body");
	}
	if (ctx->route->body == ROUTE_BODY_JSON && ctx->req.body &&
	    !json_object_is_type(ctx->req.body, json_type_object))
		return send_error(ctx->req.conn, 400, "The request body must be a JSON object");
	if (ctx->file_error < 0)
		return send_error(ctx->req.conn, 500, "Failed to store the uploaded body");
	if (ctx->route->body == ROUTE_BODY_FILE) {
		ctx->req.body_fd = ctx->file_fd;
		if (ctx->req.body_fd >= 0)
			lseek(ctx->req.body_fd, 0, SEEK_SET);
	}

	status = ctx->route->handler(d, &ctx->req, &env, &e);
	if (status >= 0 && ctx->req.response) {
		enum MHD_Result ret =
		    MHD_queue_response(ctx->req.conn, (unsigned)status, ctx->req.response);

		MHD_destroy_response(ctx->req.response);
		ctx->req.response = NULL;
		return ret;
	}
	if (status < 0) {
		int http = api_http_status(status);

		if (http >= 500)
			log_error("%s %s: %s", ctx->req.method, ctx->req.path, err_msg(e, status));
		else
			log_debug("%s %s: %s", ctx->req.method, ctx->req.path, err_msg(e, status));
		return send_error(ctx->req.conn, http, err_msg(e, status));
	}
	return send_json(ctx->req.conn, status, env);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct daemon *d = cls;
	struct request_ctx *ctx = *con_cls;

	(void)version;
	if (!ctx) {
		ctx = calloc(1, sizeof(*ctx));
		if (!ctx)
			return MHD_NO;
		ctx->req.conn = conn;
		ctx->req.method = method;
		ctx->req.path = url;
		ctx->req.body_fd = -EBADF;
		ctx->file_fd = -EBADF;
		*con_cls = ctx;
		if (read_peer(conn, &ctx->req) < 0 || !peer_trusted(d, &ctx->req)) {
			_cleanup_free_ char *msg = str_printf(
			    "You don't have the needed permissions to talk to cairnd (not in "
			    "group %s)",
			    d->group_name);

			ctx->denied = true;
			log_debug("Refused a request from uid %u", (unsigned)ctx->req.uid);
			return send_error(conn, 403, msg ? msg : "Forbidden");
		}
		ctx->match = routes_match(routes_table(), method, url, &ctx->route, ctx->req.params,
					  &ctx->req.n_params);
		if (ctx->match == ROUTE_FOUND && ctx->route->body == ROUTE_BODY_FILE) {
			ctx->file_fd = open_body_file(d);
			if (ctx->file_fd < 0)
				ctx->file_error = ctx->file_fd;
		}
		return MHD_YES;
	}
	if (ctx->denied)
		return MHD_YES;

	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (ctx->match != ROUTE_FOUND)
			return MHD_YES;
		if (ctx->route->body == ROUTE_BODY_FILE) {
			for (size_t off = 0; ctx->file_fd >= 0 && off < n && !ctx->file_error;) {
				ssize_t w = write(ctx->file_fd, upload_data + off, n - off);

				if (w < 0 && errno != EINTR)
					ctx->file_error = -errno;
				else if (w > 0)
					off += (size_t)w;
			}
			return MHD_YES;
		}
		if (ctx->too_large || ctx->json_len + n > MAX_JSON_BODY) {
			ctx->too_large = true;
			return MHD_YES;
		}
		{
			char *nb = realloc(ctx->json, ctx->json_len + n + 1);

			if (!nb)
				return MHD_NO;
			ctx->json = nb;
			memcpy(ctx->json + ctx->json_len, upload_data, n);
			ctx->json_len += n;
			ctx->json[ctx->json_len] = '\0';
		}
		return MHD_YES;
	}

	switch (ctx->match) {
	case ROUTE_NOT_FOUND:
		return send_error(conn, 404, "not found");
	case ROUTE_METHOD_NOT_ALLOWED:
		return send_error(conn, 405, "method not allowed");
	case ROUTE_FOUND:
	case ROUTE_MATCH_MAX:
		break;
	}
	if (ctx->too_large)
		return send_error(conn, 400, "The request body is too large");
	return dispatch(d, ctx);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request_ctx *ctx = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!ctx)
		return;
	json_object_put(ctx->req.body);
	free(ctx->json);
	if (ctx->file_fd >= 0)
		close(ctx->file_fd);
	free(ctx);
	*con_cls = NULL;
}

static int open_socket(struct daemon *d, struct err **err)
{
	_cleanup_free_ char *path = str_printf("%s/unix.socket", d->dir);
	_cleanup_close_ int fd = -EBADF;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, -ENAMETOOLONG, "Socket path \"%s\" is too long", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to create a socket");
	/* A previous daemon's socket (we hold the directory lock, so nobody serves on it). */
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set_errno(err, -errno, "Failed to remove the stale socket \"%s\"", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return err_set_errno(err, -errno, "Failed to bind \"%s\"", path);
	if (chown(path, 0, d->group_gid == (gid_t)-1 ? 0 : d->group_gid) < 0 ||
	    chmod(path, 0660) < 0)
		return err_set_errno(err, -errno, "Failed to set the owner of \"%s\"", path);
	if (listen(fd, 128) < 0)
		return err_set_errno(err, -errno, "Failed to listen on \"%s\"", path);
	d->listen_fd = steal_fd(&fd);
	return 0;
}

int daemon_server_start(struct daemon *d, struct err **err)
{
	int r;

	r = open_socket(d, err);
	if (r < 0)
		return r;
	d->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
				      MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE,
				  0, NULL, NULL, on_request, d, MHD_OPTION_LISTEN_SOCKET,
				  d->listen_fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, d,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0, MHD_OPTION_END);
	if (!d->mhd)
		return err_set(err, -EIO, "Failed to start the HTTP server");
	return 0;
}

void daemon_server_stop(struct daemon *d)
{
	if (d->mhd)
		MHD_stop_daemon(d->mhd);
	d->mhd = NULL;
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	d->listen_fd = -EBADF;
}
