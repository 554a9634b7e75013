/*
 * The HTTP edge: the unix socket, libmicrohttpd, access control by peer credentials, request
 * bodies, and the translation of handler results into envelopes.
 *
 * Threading: libmicrohttpd runs one thread per connection, so a handler may block (waiting for
 * an operation) without stalling other clients; long work runs in operation threads. The
 * connections come from listener.c, which bounds how many each uid may hold.
 *
 * A connection that sends nothing for HEADER_TIMEOUT_SEC while its request is read, or between
 * requests, is closed; while a handler works, and on event streams and upgraded connections,
 * there is no timeout.
 */
#include "cmd/cairnd/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/api.h"
#include "api/tls.h"
#include "api/trust.h"
#include "cmd/cairnd/body.h"
#include "cmd/cairnd/https.h"
#include "cmd/cairnd/listener.h"
#include "cmd/cairnd/routes.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "config/db.h"

#define MAX_JSON_BODY (1024 * 1024)
#define HEADER_TIMEOUT_SEC 30
/* Free space a spooled body must leave on its pool, for the unpacked copy's metadata. */
#define SPOOL_RESERVE (16 * 1024 * 1024)

/* Per-request state, made when the request line arrives (on_uri) and kept by libmicrohttpd
 * between calls of the access handler. */
struct request_ctx {
	struct request req;
	char *target; /* the request target as sent: path and query, not unescaped */
	bool started;
	const struct route *route;
	enum route_match match;
	bool answered; /* a refusal was queued before the body */
	char *json;    /* accumulated JSON body */
	size_t json_len;
	bool too_large;
	int file_fd;	      /* ROUTE_BODY_FILE spool, an unnamed file on the target's pool */
	uint64_t file_len;    /* bytes spooled */
	uint64_t file_limit;  /* most bytes the pool can take */
	int file_error;	      /* negative errno of a failed or refused write */
	enum route_body body; /* how this request's body is taken (route_body_of()) */
	int stream_fd;	      /* ROUTE_BODY_STREAM: where the body goes, -EBADF when closed */
};

/* A route that takes JSON and has a spool takes a file as well, when the client says it sends
 * one: `POST /1.0/instances` with application/octet-stream is an import, as in Incus. */
static enum route_body route_body_of(const struct route *route, struct request *req)
{
	const char *type = request_header(req, "Content-Type");

	if (route->body == ROUTE_BODY_JSON && route->spool && type &&
	    strncmp(type, "application/octet-stream", 24) == 0)
		return ROUTE_BODY_FILE;
	if (route->body == ROUTE_BODY_JSON && route->stream && type &&
	    strncmp(type, "application/octet-stream", 24) == 0)
		return ROUTE_BODY_STREAM;
	return route->body;
}

bool request_restricted(const struct daemon *d, const struct request *req)
{
	return d->restricted && req->uid != 0;
}

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

/* Whether `conn` came through the HTTPS listener rather than the unix socket. */
static bool is_network(struct daemon *d, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);

	/* Unknown means not the socket's daemon: refused as untrusted rather than let in. */
	return !info || info->daemon != d->mhd;
}

int request_client_certificate(struct request *req, const uint8_t **ret, size_t *ret_len)
{
	const union MHD_ConnectionInfo *info =
	    req->network ? MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION)
			 : NULL;

	if (!info)
		return -ENOENT;
	return api_tls_peer_certificate(info->tls_session, ret, ret_len);
}

/* A network client: no peer credentials, trusted when the certificate it presented during the
 * TLS handshake has a fingerprint in the trust store. */
static void read_client_certificate(struct daemon *d, struct MHD_Connection *conn,
				    struct request *req)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	const uint8_t *der = NULL;
	size_t len = 0;

	req->network = true;
	req->uid = (uid_t)-1;
	req->gid = (gid_t)-1;
	req->trusted = false;
	req->fingerprint[0] = '\0';
	if (!info || api_tls_peer_certificate(info->tls_session, &der, &len) < 0)
		return;
	api_fingerprint_der(der, len, req->fingerprint);
	req->trusted = db_certificate_trusted(d->env.db, req->fingerprint);
}

/*
 * Opens the spool for a ROUTE_BODY_FILE request: the route checks its target first (a push to
 * a missing instance is refused before a byte is stored) and names the pool directory to spool
 * in, so that an upload is bounded by the space it will land on, not by the host's root
 * filesystem. A declared Content-Length that does not fit is refused at once.
 */
static int open_spool(struct daemon *d, struct request_ctx *ctx, struct err **err)
{
	_cleanup_free_ char *dir = NULL;
	const char *declared = request_header(&ctx->req, "Content-Length");
	struct statvfs sv;
	uint64_t avail;
	int r, fd;

	r = ctx->route->spool(d, &ctx->req, &dir, err);
	if (r < 0)
		return r;
	if (statvfs(dir, &sv) < 0)
		return err_set_errno(err, -errno, "Failed to read the free space of \"%s\"", dir);
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	ctx->file_limit = avail > SPOOL_RESERVE ? avail - SPOOL_RESERVE : 0;
	if (declared && strtoull(declared, NULL, 10) > ctx->file_limit)
		return err_set(err, -EFBIG,
			       "The request body (%s bytes) is larger than the free space of its "
			       "storage pool (%llu bytes)",
			       declared, (unsigned long long)ctx->file_limit);
	/* Unnamed, so an interrupted upload leaves nothing behind. */
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to store the request body in \"%s\"",
				     dir);
	ctx->file_fd = fd;
	return 0;
}

static enum MHD_Result send_err(struct MHD_Connection *conn, int r, struct err *e)
{
	return send_error(conn, r == -EFBIG ? MHD_HTTP_CONTENT_TOO_LARGE : api_http_status(r),
			  err_msg(e, r));
}

static enum MHD_Result dispatch(struct daemon *d, struct request_ctx *ctx)
{
	_cleanup_json_ json_object *env = NULL;
	_cleanup_err_ struct err *e = NULL;
	int status;

	if (ctx->json_len > 0) {
		int r = body_parse(ctx->json, ctx->json_len, &ctx->req.body, &e);

		if (r < 0)
			return send_err(ctx->req.conn, r, e);
	}
	if (ctx->body == ROUTE_BODY_JSON && ctx->req.body &&
	    !json_object_is_type(ctx->req.body, json_type_object))
		return send_error(ctx->req.conn, 400, "The request body must be a JSON object");
	if (ctx->file_error == -EFBIG)
		return send_error(ctx->req.conn, MHD_HTTP_CONTENT_TOO_LARGE,
				  "The request body is larger than the free space of its storage "
				  "pool");
	if (ctx->file_error < 0)
		return send_error(ctx->req.conn, 500, "Failed to store the uploaded body");
	/* The reader of a streamed body sees its end before the handler waits on it. */
	if (ctx->stream_fd >= 0) {
		close(ctx->stream_fd);
		ctx->stream_fd = -EBADF;
	}
	if (ctx->body == ROUTE_BODY_FILE) {
		ctx->req.body_fd = ctx->file_fd;
		if (ctx->req.body_fd >= 0)
			lseek(ctx->req.body_fd, 0, SEEK_SET);
	}

	/* A handler may wait on an operation or hand the connection to a stream: the header
	 * timeout is for idle peers, not for work in progress (on_completed sets it back). */
	MHD_set_connection_option(ctx->req.conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)0);
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
	(void)url; /* unescaped already: names are decoded from ctx->target instead */
	if (!ctx || !ctx->target)
		return MHD_NO;
	if (!ctx->started) {
		ctx->started = true;
		ctx->req.conn = conn;
		ctx->req.method = method;
		ctx->req.path = url;
		ctx->match = routes_resolve(routes_table(), method, ctx->target, &ctx->route,
					    ctx->req.params, &ctx->req.n_params);
		if (is_network(d, conn)) {
			read_client_certificate(d, conn, &ctx->req);
			/* Nothing but the routes marked for it before the certificate is
			 * trusted, not even a 404 that would tell which paths exist. */
			if (!ctx->req.trusted &&
			    (ctx->match != ROUTE_FOUND || !ctx->route->untrusted)) {
				ctx->answered = true;
				log_debug("Refused %s %s from an untrusted client%s%s", method, url,
					  ctx->req.fingerprint[0] ? " with certificate " : "",
					  ctx->req.fingerprint);
				return send_error(
				    conn, 403,
				    "Forbidden: this client's certificate is not trusted "
				    "by cairnd");
			}
		} else if (read_peer(conn, &ctx->req) < 0 || !peer_trusted(d, &ctx->req)) {
			_cleanup_free_ char *msg = str_printf(
			    "You don't have the needed permissions to talk to cairnd (not in "
			    "group %s)",
			    d->group_name);

			ctx->answered = true;
			log_debug("Refused a request from uid %u", (unsigned)ctx->req.uid);
			return send_error(conn, 403, msg ? msg : "Forbidden");
		} else {
			ctx->req.trusted = true;
		}
		if (ctx->match == ROUTE_BAD_TARGET) {
			ctx->answered = true;
			return send_error(conn, 400,
					  "Invalid request path: it holds a NUL or is not valid "
					  "UTF-8");
		}
		if (ctx->match == ROUTE_FOUND)
			ctx->body = route_body_of(ctx->route, &ctx->req);
		if (ctx->match == ROUTE_FOUND && ctx->body == ROUTE_BODY_FILE) {
			_cleanup_err_ struct err *e = NULL;
			int r = open_spool(d, ctx, &e);

			if (r < 0) {
				ctx->answered = true;
				return send_err(conn, r, e);
			}
		}
		if (ctx->match == ROUTE_FOUND && ctx->body == ROUTE_BODY_STREAM) {
			_cleanup_err_ struct err *e = NULL;
			int r = ctx->route->stream(d, &ctx->req, &ctx->stream_fd, &e);

			if (r < 0) {
				ctx->answered = true;
				return send_err(conn, r, e);
			}
		}
		return MHD_YES;
	}
	if (ctx->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}

	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (ctx->match != ROUTE_FOUND)
			return MHD_YES;
		if (ctx->body == ROUTE_BODY_STREAM) {
			/* Thread per connection: a slow reader holds only this one. A reader that
			 * quit makes the rest of the body go nowhere. */
			if (ctx->stream_fd >= 0 && !ctx->req.body_stream_error) {
				int w = fd_write_all(ctx->stream_fd, upload_data, n);

				if (w >= 0) {
					ctx->req.body_streamed += n;
					return MHD_YES;
				}
				/* The reader quit: it refused what it read, and the handler answers
				 * that now rather than after the whole body. libmicrohttpd then
				 * reads no more of it and closes the connection after the answer,
				 * so the sender stops at once. */
				ctx->req.body_stream_error = w;
				ctx->answered = true;
				return dispatch(d, ctx);
			}
			return MHD_YES;
		}
		if (ctx->body == ROUTE_BODY_FILE) {
			if (!ctx->file_error && ctx->file_len + n > ctx->file_limit)
				ctx->file_error = -EFBIG;
			if (!ctx->file_error)
				ctx->file_len += n;
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
	case ROUTE_BAD_TARGET:
	case ROUTE_FOUND:
	case ROUTE_MATCH_MAX:
		break;
	}
	if (ctx->too_large)
		return send_error(conn, 400, "The request body is too large");
	return dispatch(d, ctx);
}

/* The request line has arrived: the per-request state starts here, with the target as the client
 * sent it, before libmicrohttpd unescapes it. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct request_ctx *ctx = calloc(1, sizeof(*ctx));

	(void)cls;
	(void)conn;
	if (!ctx)
		return NULL;
	ctx->target = strdup(uri);
	ctx->req.body_fd = -EBADF;
	ctx->file_fd = -EBADF;
	ctx->stream_fd = -EBADF;
	return ctx;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request_ctx *ctx = *con_cls;

	(void)cls;
	(void)toe;
	/* The next request on this connection must arrive in time again. */
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
				  (unsigned)HEADER_TIMEOUT_SEC);
	if (!ctx)
		return;
	json_object_put(ctx->req.body);
	free(ctx->target);
	free(ctx->json);
	if (ctx->file_fd >= 0)
		close(ctx->file_fd);
	if (ctx->stream_fd >= 0)
		close(ctx->stream_fd);
	free(ctx);
	*con_cls = NULL;
}

/*
 * libmicrohttpd's own messages, into the daemon's log. Connections handed over with
 * MHD_add_connection() are taken for TCP, so every one of them would log that TCP_NODELAY,
 * TCP_CORK and the push after a response failed on a unix socket: those go to debug.
 */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	bool noise;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	noise = str_startswith(msg, "Setting TCP_") ||
		str_startswith(msg, "Failed to push the data from buffers");
	if (noise)
		log_debug("libmicrohttpd: %s", msg);
	else
		log_warn("libmicrohttpd: %s", msg);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo *info;

	(void)cls;
	(void)socket_context;
	if (toe != MHD_CONNECTION_NOTIFY_CLOSED)
		return;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (info)
		listener_connection_closed(info->connect_fd);
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
	if (listen(fd, 4096) < 0)
		return err_set_errno(err, -errno, "Failed to listen on \"%s\"", path);
	d->listen_fd = steal_fd(&fd);
	return 0;
}

static int start_https(struct daemon *d, struct err **err);

int daemon_server_start(struct daemon *d, struct err **err)
{
	int r;

	r = open_socket(d, err);
	if (r < 0)
		return r;
	d->mhd = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
		MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE | MHD_USE_ITC | MHD_USE_NO_LISTEN_SOCKET,
	    0, NULL, NULL, on_request, d, MHD_OPTION_URI_LOG_CALLBACK, on_uri, d,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, d, MHD_OPTION_NOTIFY_CONNECTION,
	    on_connection, d, MHD_OPTION_CONNECTION_LIMIT, (unsigned)LISTENER_MAX,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HEADER_TIMEOUT_SEC, MHD_OPTION_EXTERNAL_LOGGER,
	    on_mhd_log, d, MHD_OPTION_END);
	if (!d->mhd)
		return err_set(err, -EIO, "Failed to start the HTTP server");
	r = listener_start(d, err);
	if (r < 0)
		return r;
	return start_https(d, err);
}

/* The HTTPS listener as the stored config says. A certificate that cannot be made stops the
 * start; an address that cannot be used now only the listener (the socket still serves, so the
 * address can be changed). */
static int start_https(struct daemon *d, struct err **err)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	_cleanup_err_ struct err *e = NULL;
	const char *address;
	int r;

	r = https_setup(d, err);
	if (r < 0)
		return r;
	r = db_server_config_get(d->env.db, &config, err);
	if (r < 0)
		return r;
	address = kvlist_get(&config, "core.https_address");
	if (!address || !*address)
		return 0;
	r = https_apply(d, address, &e);
	if (r < 0)
		log_error("Not serving over HTTPS: %s", err_msg(e, r));
	return 0;
}

int server_tls_start(struct daemon *d, int fd, const char *key, const char *cert,
		     struct MHD_Daemon **ret, struct err **err)
{
	struct MHD_Daemon *mhd;

	/* HTTPS_MEM_TRUST makes libmicrohttpd ask each client for a certificate (GnuTLS's
	 * "request", not "require": an untrusted client may still read GET /1.0 and redeem a
	 * token). GnuTLS does not verify it against the trust list here; server.c trusts a
	 * client by its fingerprint alone, as Incus does. No MHD_ALLOW_UPGRADE: exec and console
	 * pass descriptors, which only a unix socket can. */
	mhd = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
		MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_USE_TLS,
	    0, NULL, NULL, on_request, d, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, d,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_HTTPS_MEM_KEY, key,
	    MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_TRUST, cert,
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, d, MHD_OPTION_NOTIFY_COMPLETED, on_completed, d,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)LISTENER_NON_ROOT,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)LISTENER_PER_UID,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HEADER_TIMEOUT_SEC, MHD_OPTION_END);
	if (!mhd)
		return err_set(err, -EIO, "Failed to start the HTTPS server");
	*ret = mhd;
	return 0;
}

void daemon_server_stop(struct daemon *d)
{
	https_stop();
	listener_stop();
	if (d->mhd)
		MHD_stop_daemon(d->mhd);
	d->mhd = NULL;
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	d->listen_fd = -EBADF;
}
