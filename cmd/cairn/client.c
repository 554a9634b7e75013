#include "cmd/cairn/cli.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <dlfcn.h>

#include "api/api.h"
#include "api/trust.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

#define DEFAULT_GROUP "cairn-admin"

/*
 * libcurl is loaded on first use rather than linked: with its TLS, LDAP and SSH dependencies it
 * takes longer to load (about 4 ms) than `cairn exec c1 -- true` spends on anything else, and
 * exec, shell, console (which speak on their own upgraded connection) and --help never need it.
 */
static struct {
	bool loaded;
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLcode (*global_init)(long);
	CURLcode (*easy_getinfo_certinfo)(CURL *, CURLINFO, struct curl_certinfo **);
} lib;

static int curl_load(struct err **err)
{
	static const char *const sonames[] = {"libcurl.so.4", "libcurl-gnutls.so.4"};
	void *h = NULL;

	if (lib.loaded)
		return 0;
	for (size_t i = 0; !h && i < sizeof(sonames) / sizeof(sonames[0]); i++)
		h = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return err_set(err, -ENOENT, "Cannot load libcurl: %s", dlerror());
		/* The handle stays open for the life of the process. */
#define LOAD(field, symbol)                                                                        \
	do {                                                                                       \
		*(void **)&lib.field = dlsym(h, symbol);                                           \
		if (!lib.field)                                                                    \
			return err_set(err, -ENOENT, "libcurl lacks %s", symbol);                  \
	} while (0)
	LOAD(easy_init, "curl_easy_init");
	LOAD(easy_setopt, "curl_easy_setopt");
	LOAD(easy_perform, "curl_easy_perform");
	LOAD(easy_getinfo, "curl_easy_getinfo");
	LOAD(easy_cleanup, "curl_easy_cleanup");
	LOAD(easy_reset, "curl_easy_reset");
	LOAD(easy_strerror, "curl_easy_strerror");
	LOAD(slist_append, "curl_slist_append");
	LOAD(slist_free_all, "curl_slist_free_all");
	LOAD(global_init, "curl_global_init");
	LOAD(easy_getinfo_certinfo, "curl_easy_getinfo");
#undef LOAD
	lib.global_init(CURL_GLOBAL_DEFAULT);
	lib.loaded = true;
	return 0;
}

struct cli_client {
	CURL *curl;
	char *socket_path; /* owned; NULL for an HTTPS remote */
	char *group;	   /* the admin group named in permission errors, owned */
	/* An HTTPS remote: "https://HOST:PORT", the remote's name (for messages), the client's
	 * certificate and key files, and the pin of the server's stored certificate. */
	char *base;
	char *remote;
	char *cert_path;
	char *key_path;
	char *pin;
	char *server_fingerprint;
};

struct buffer {
	char *data; /* owned, NUL-terminated */
	size_t len;
	size_t cap;
};

static void buffer_done(struct buffer *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buffer *b = userdata;
	size_t n = size * nmemb;

	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static void curl_slist_freep(struct curl_slist **l)
{
	if (*l)
		lib.slist_free_all(*l);
	*l = NULL;
}

static int permission_error(struct cli_client *c, struct err **err)
{
	return err_set(err, -EACCES,
		       "You don't have the needed permissions to talk to cairnd (not in group %s)",
		       c->group);
}

/* The admin group is the socket's group (cairnd chowns it to root:<group>); fall back to the
 * default name when the socket is root's own or the group has no name. */
static char *socket_group(const char *path)
{
	struct stat st;
	struct group *g;

	if (stat(path, &st) == 0 && st.st_gid != 0) {
		g = getgrgid(st.st_gid);
		if (g && g->gr_name)
			return strdup(g->gr_name);
	}
	return strdup(DEFAULT_GROUP);
}

/* Connects once ourselves: libcurl would report every failure as "Couldn't connect". */
static int check_socket(struct cli_client *c, struct err **err)
{
	_cleanup_close_ int fd = -EBADF;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (strlen(c->socket_path) >= sizeof(sa.sun_path))
		return err_set(err, -ENAMETOOLONG, "Socket path \"%s\" is too long",
			       c->socket_path);
	strcpy(sa.sun_path, c->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to create a socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		if (r == -EACCES || r == -EPERM)
			return permission_error(c, err);
		if (r == -ENOENT || r == -ECONNREFUSED || r == -ENOTDIR)
			return err_set(err, r, "cairnd is not running (no socket at %s)",
				       c->socket_path);
		return err_set_errno(err, r, "Failed to connect to cairnd at %s", c->socket_path);
	}
	return 0;
}

int cli_client_open(const char *socket_path, struct cli_client **ret, struct err **err)
{
	struct cli_client *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return err_set(err, -ENOMEM, "Out of memory");
	c->socket_path = strdup(socket_path);
	c->group = socket_group(socket_path);
	if (!c->socket_path || !c->group) {
		cli_client_free(c);
		return err_set(err, -ENOMEM, "Failed to set up the HTTP client");
	}
	r = check_socket(c, err);
	if (r < 0) {
		cli_client_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void cli_client_free(struct cli_client *c)
{
	if (!c)
		return;
	if (c->curl)
		lib.easy_cleanup(c->curl);
	free(c->socket_path);
	free(c->group);
	free(c->base);
	free(c->remote);
	free(c->cert_path);
	free(c->key_path);
	free(c->pin);
	free(c->server_fingerprint);
	free(c);
}

/* The transport of every request: the unix socket, or TLS with the client's certificate and
 * the server's pinned key. libcurl checks the pin during the handshake, before a byte of the
 * request is sent. The certificate chain and host name are not verified: the server's
 * certificate is self-signed and was accepted by its fingerprint, as Incus does. */
static void set_transport_on(struct cli_client *c, CURL *h)
{
	if (c->socket_path) {
		lib.easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
		return;
	}
	lib.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
	lib.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	if (c->pin)
		lib.easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, c->pin);
	if (c->cert_path && c->key_path) {
		lib.easy_setopt(h, CURLOPT_SSLCERT, c->cert_path);
		lib.easy_setopt(h, CURLOPT_SSLKEY, c->key_path);
	}
	lib.easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	lib.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	lib.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
}

static void set_transport(struct cli_client *c)
{
	set_transport_on(c, c->curl);
}

/* Makes the client's handle ready for a request to `url`: libcurl loaded, the handle made on
 * first use and reset otherwise (a command's requests share its connection), the transport set. */
static int request_begin(struct cli_client *c, const char *url, struct err **err)
{
	int r = curl_load(err);

	if (r < 0)
		return r;
	if (!c->curl) {
		c->curl = lib.easy_init();
		if (!c->curl)
			return err_set(err, -ENOMEM, "Failed to set up the HTTP client");
	}
	lib.easy_reset(c->curl);
	set_transport(c);
	lib.easy_setopt(c->curl, CURLOPT_URL, url);
	return 0;
}

/* The URL of `path` on the client's daemon. Caller frees. */
static char *url_of(struct cli_client *c, const char *path)
{
	return str_printf("%s%s", c->base ? c->base : "http://cairn", path);
}

/* Turns a failed transfer into the error a user can act on. */
static int transfer_error(struct cli_client *c, CURLcode cr, struct err **err)
{
	if (c->socket_path) {
		if (cr == CURLE_COULDNT_CONNECT)
			return err_set(err, -ECONNREFUSED,
				       "cairnd is not running (no socket at %s)", c->socket_path);
		return err_set(err, -EIO, "Failed to talk to cairnd: %s", lib.easy_strerror(cr));
	}
	if (cr == CURLE_SSL_PINNEDPUBKEYNOTMATCH) {
		_cleanup_free_ char *pem = NULL;
		_cleanup_err_ struct err *e = NULL;
		char fp[API_FINGERPRINT_SIZE] = "";

		/* What the server shows now, to compare with what the administrator expects. */
		if (cli_client_probe(c->base, &pem, NULL, &e) == 0)
			api_fingerprint_pem(pem, fp, NULL);
		return err_set(
		    err, -EPERM,
		    "The certificate of remote \"%s\" (%s) has changed: its fingerprint is "
		    "%s, not %s as stored. If this change is expected, remove the "
		    "remote and add it again",
		    c->remote, c->base, *fp ? fp : "unknown",
		    c->server_fingerprint ? c->server_fingerprint : "unknown");
	}
	if (cr == CURLE_COULDNT_CONNECT || cr == CURLE_OPERATION_TIMEDOUT ||
	    cr == CURLE_COULDNT_RESOLVE_HOST)
		return err_set(err, -EHOSTUNREACH, "Cannot reach remote \"%s\" at %s: %s",
			       c->remote, c->base, lib.easy_strerror(cr));
	return err_set(err, -EIO, "Failed to talk to remote \"%s\" at %s: %s", c->remote, c->base,
		       lib.easy_strerror(cr));
}

char *cli_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	/* RFC 3986 unreserved characters stay, everything else is percent-encoded. */
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			*o++ = (char)*p;
			continue;
		}
		*o++ = '%';
		*o++ = hex[*p >> 4];
		*o++ = hex[*p & 15];
	}
	*o = '\0';
	return out;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *cli_url_basename(const char *url)
{
	const char *end, *start;
	char *out, *o;

	if (!url)
		return NULL;
	end = strchr(url, '?');
	if (!end)
		end = url + strlen(url);
	start = end;
	while (start > url && start[-1] != '/')
		start--;
	out = malloc((size_t)(end - start) + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *p = start; p < end; p++) {
		if (*p == '%' && end - p > 2 && hex_value(p[1]) >= 0 && hex_value(p[2]) >= 0) {
			*o++ = (char)(hex_value(p[1]) * 16 + hex_value(p[2]));
			p += 2;
			continue;
		}
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

/* Is a 403 the daemon refusing us as a peer (rather than refusing one action, such as deleting
 * a protected instance)? The peer check's message talks about permission or the group. */
static bool is_peer_refusal(const char *msg)
{
	return !msg || !*msg || strcasestr(msg, "permission") || strcasestr(msg, "group") ||
	       strcasestr(msg, "forbidden") || strcasestr(msg, "trusted");
}

struct upload {
	int fd;
	long long size;
	char *const *headers;
	struct cli_progress *progress; /* may be NULL */
};

/* libcurl's transfer callback: the bytes sent so far, for the progress line. */
static int upload_progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
			      curl_off_t ultotal, curl_off_t ulnow)
{
	const struct upload *up = userdata;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	if (ulnow > 0)
		cli_progress_update(up->progress, (long long)ulnow);
	return 0;
}

/* Feeds the upload to libcurl straight from the file, a buffer at a time. */
static size_t read_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	const struct upload *up = userdata;
	ssize_t n;

	do
		n = read(up->fd, ptr, size * nmemb);
	while (n < 0 && errno == EINTR);
	return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

/* One request and its envelope. A sync or async envelope gives its metadata and, for async,
 * the operation's URL; an error envelope becomes *err. */
static int request(struct cli_client *c, const char *method, const char *path, json_object *body,
		   const struct upload *up, json_object **ret_metadata, char **ret_operation,
		   struct err **err)
{
	_cleanup_(curl_slist_freep) struct curl_slist *headers = NULL;
	_cleanup_free_ char *url = NULL;
	_cleanup_json_ json_object *env = NULL;
	_cleanup_json_ json_object *md = NULL;
	_cleanup_err_ struct err *e = NULL;
	struct buffer buf = {0};
	const char *payload = NULL;
	const char *type, *op;
	long status = 0;
	CURLcode cr;
	int r;

	url = url_of(c, path);
	if (!url)
		return err_set(err, -ENOMEM, "Out of memory");
	r = request_begin(c, url, err);
	if (r < 0)
		return r;
	lib.easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
	lib.easy_setopt(c->curl, CURLOPT_WRITEDATA, &buf);
	lib.easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	lib.easy_setopt(c->curl, CURLOPT_USERAGENT, "cairn/" CLI_VERSION);
	if (up) {
		/* cairnd checks an upload's target and size before it reads the body and may refuse
		 * it at once (404, 413); waiting for "100 Continue" lets that answer arrive before
		 * the body rather than as a broken pipe halfway through it. cairnd sends the 100
		 * as soon as it has read the headers, so this costs one round trip on the socket.
		 */
		headers = lib.slist_append(headers, "Expect: 100-continue");
		lib.easy_setopt(c->curl, CURLOPT_POST, 1L);
		lib.easy_setopt(c->curl, CURLOPT_READFUNCTION, read_cb);
		lib.easy_setopt(c->curl, CURLOPT_READDATA, up);
		/* A size of -1 (standard input) is sent chunked. */
		if (up->size >= 0)
			lib.easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)up->size);
		else
			headers = lib.slist_append(headers, "Transfer-Encoding: chunked");
		headers = lib.slist_append(headers, "Content-Type: application/octet-stream");
		for (char *const *h = up->headers; h && *h; h++)
			headers = lib.slist_append(headers, *h);
		lib.easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
		if (up->progress && up->progress->out) {
			lib.easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, upload_progress_cb);
			lib.easy_setopt(c->curl, CURLOPT_XFERINFODATA, up);
			lib.easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
		}
		cr = lib.easy_perform(c->curl);
	} else {
		/* Without this libcurl waits a second for "100 Continue" before sending a large
		 * JSON body. */
		headers = lib.slist_append(headers, "Expect:");
		if (body) {
			payload = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
			lib.easy_setopt(c->curl, CURLOPT_POSTFIELDS, payload);
			lib.easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
					(curl_off_t)strlen(payload));
			headers = lib.slist_append(headers, "Content-Type: application/json");
		}
		if (strcmp(method, "GET") == 0)
			lib.easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
		else
			lib.easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
		lib.easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
		cr = lib.easy_perform(c->curl);
	}
	if (cr != CURLE_OK) {
		buffer_done(&buf);
		return transfer_error(c, cr, err);
	}
	lib.easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);

	env = buf.data ? json_tokener_parse(buf.data) : NULL;
	buffer_done(&buf);
	if (!env || !json_object_is_type(env, json_type_object)) {
		if (c->base)
			return err_set(err, -EPROTO,
				       "Remote \"%s\" at %s is not cairnd: it answered HTTP %ld "
				       "without an API envelope",
				       c->remote, c->base, status);
		if (status == 403)
			return permission_error(c, err);
		return err_set(err, status >= 400 ? api_errno_from_http((int)status) : -EPROTO,
			       "Invalid answer from cairnd (HTTP %ld)", status);
	}
	r = api_parse_envelope(env, &md, &e);
	if (r < 0) {
		const char *msg = api_get_string(env, "error");

		/* Over HTTPS the refusal is about the certificate, not a group: the daemon's
		 * words, with the remote named. */
		if (c->base && api_get_int(env, "error_code", 0) == 403)
			return err_set(err, -EACCES, "Remote \"%s\": %s", c->remote,
				       msg ? msg : "Forbidden");

		/* cairnd's own refusal names the group it really uses: keep its words. */
		if (api_get_int(env, "error_code", 0) == 403 && msg &&
		    str_startswith(msg, "You don't have the needed permissions"))
			return err_set(err, -EACCES, "%s", msg);
		if (api_get_int(env, "error_code", 0) == 403 && is_peer_refusal(msg))
			return permission_error(c, err);
		return err_set(err, r, "%s", err_msg(e, r));
	}
	type = api_get_string(env, "type");
	op = api_get_string(env, "operation");
	if (ret_operation) {
		*ret_operation = NULL;
		if (type && strcmp(type, "async") == 0 && op && *op) {
			*ret_operation = strdup(op);
			if (!*ret_operation)
				return err_set(err, -ENOMEM, "Out of memory");
		}
	}
	if (ret_metadata)
		*ret_metadata = steal_pointer(&md);
	return 0;
}

/* Waits for an operation and turns its failure into an error. */
static int wait_operation(struct cli_client *c, const char *op_url, json_object **ret_op,
			  struct err **err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_object *op = NULL;
	const char *status, *msg;
	int r;

	path = str_printf("%s/wait", op_url);
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = request(c, "GET", path, NULL, NULL, &op, NULL, err);
	if (r < 0)
		return r;
	status = api_get_string(op, "status");
	msg = api_get_string(op, "err");
	if (status && strcmp(status, "Success") != 0) {
		if (msg && *msg)
			return err_set(err, -EIO, "%s", msg);
		return err_set(err, -EIO, "Operation %s", status);
	}
	if (ret_op)
		*ret_op = steal_pointer(&op);
	return 0;
}

/* The progress text of a running operation: Incus's metadata "progress" object, else any
 * "*_progress" string it carries; NULL when it has none. */
static char *operation_progress_text(json_object *op)
{
	json_object *md = NULL, *prog = NULL;
	const char *stage, *percent, *processed, *speed, *eta;

	if (!json_object_object_get_ex(op, "metadata", &md) ||
	    !json_object_is_type(md, json_type_object))
		return NULL;
	if (json_object_object_get_ex(md, "progress", &prog) &&
	    json_object_is_type(prog, json_type_object)) {
		_cleanup_free_ char *pct = NULL, *left = NULL;
		char *text = NULL;

		stage = api_get_string(prog, "stage");
		percent = api_get_string(prog, "percent");
		processed = api_get_string(prog, "processed");
		speed = api_get_string(prog, "speed");
		eta = api_get_string(prog, "eta");
		pct = percent ? str_printf("%s%%", percent) : NULL;
		left = eta ? str_printf("%s left", eta) : NULL;
		/* "copy 40% 1.20GiB 300.00MiB/s 12s left", each part only when the daemon gave
		 * it. */
		for (const char *part[] = {stage, pct, processed, speed, left}, **p = part;
		     p < part + 5; p++) {
			char *next;

			if (!*p || !**p)
				continue;
			next = str_printf("%s%s%s", text ? text : "", text ? " " : "", *p);
			free(text);
			if (!next)
				return NULL;
			text = next;
		}
		return text;
	}
	json_object_object_foreach(md, key, val)
	{
		size_t klen = strlen(key);

		if (klen > 9 && strcmp(key + klen - 9, "_progress") == 0 &&
		    json_object_is_type(val, json_type_string))
			return strdup(json_object_get_string(val));
	}
	return NULL;
}

/* Polls a running operation once a second, showing its progress (or the time it has taken),
 * until it ends. */
static int watch_operation(struct cli_client *c, const char *op_url, struct cli_progress *p,
			   struct err **err)
{
	_cleanup_free_ char *path = str_printf("%s/wait?timeout=1", op_url);
	int r;

	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	for (;;) {
		_cleanup_json_ json_object *op = NULL;
		_cleanup_free_ char *text = NULL;
		const char *status;

		r = request(c, "GET", path, NULL, NULL, &op, NULL, err);
		if (r < 0)
			return r;
		status = api_get_string(op, "status");
		if (!status || strcmp(status, "Running") != 0)
			return 0;
		text = operation_progress_text(op);
		if (!text) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			text = str_printf("%.0fs", (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 -
						       p->started);
		}
		if (text)
			cli_progress_text(p, text);
	}
}

static int query(struct cli_client *c, const char *method, const char *path, json_object *body,
		 const struct upload *up, struct cli_progress *progress, json_object **ret_metadata,
		 struct err **err)
{
	_cleanup_json_ json_object *md = NULL;
	_cleanup_free_ char *op_url = NULL;
	int r;

	r = request(c, method, path, body, up, &md, &op_url, err);
	if (r < 0)
		return r;
	if (op_url) {
		/* Prefer the operation's id: the envelope's URL is the same thing, but the id is
		 * what doc/api.md documents for /wait. */
		const char *id = api_get_string(md, "id");
		_cleanup_free_ char *url =
		    id && *id ? str_printf("/1.0/operations/%s", id) : strdup(op_url);

		if (!url)
			return err_set(err, -ENOMEM, "Out of memory");
		json_object_put(steal_pointer(&md));
		if (progress && progress->out) {
			r = watch_operation(c, url, progress, err);
			if (r < 0)
				return r;
		}
		r = wait_operation(c, url, &md, err);
		if (r < 0)
			return r;
	}
	if (ret_metadata)
		*ret_metadata = steal_pointer(&md);
	return 0;
}

int cli_client_start(struct cli_client *c, const char *method, const char *path, json_object *body,
		     json_object **ret_operation, struct err **err)
{
	_cleanup_json_ json_object *md = NULL;
	_cleanup_free_ char *op_url = NULL;
	int r;

	r = request(c, method, path, body, NULL, &md, &op_url, err);
	if (r < 0)
		return r;
	if (!op_url || !api_get_string(md, "id"))
		return err_set(err, -EPROTO, "The daemon answered without an operation");
	*ret_operation = steal_pointer(&md);
	return 0;
}

int cli_client_wait(struct cli_client *c, const char *id, struct cli_progress *progress,
		    json_object **ret_operation, struct err **err)
{
	_cleanup_free_ char *url = str_printf("/1.0/operations/%s", id);
	int r;

	if (!url)
		return err_set(err, -ENOMEM, "Out of memory");
	if (progress && progress->out) {
		r = watch_operation(c, url, progress, err);
		if (r < 0)
			return r;
	}
	return wait_operation(c, url, ret_operation, err);
}

int cli_client_query(struct cli_client *c, const char *method, const char *path, json_object *body,
		     json_object **ret_metadata, struct err **err)
{
	return query(c, method, path, body, NULL, NULL, ret_metadata, err);
}

int cli_client_query_progress(struct cli_client *c, const char *method, const char *path,
			      json_object *body, struct cli_progress *progress,
			      json_object **ret_metadata, struct err **err)
{
	return query(c, method, path, body, NULL, progress, ret_metadata, err);
}

int cli_client_upload(struct cli_client *c, const char *path, int fd, long long size,
		      char *const *headers, json_object **ret_metadata, struct err **err)
{
	struct upload up = {.fd = fd, .size = size, .headers = headers};

	return query(c, "POST", path, NULL, &up, NULL, ret_metadata, err);
}

int cli_client_upload_progress(struct cli_client *c, const char *path, int fd, long long size,
			       char *const *headers, struct cli_progress *progress,
			       json_object **ret_metadata, struct err **err)
{
	struct upload up = {.fd = fd, .size = size, .headers = headers, .progress = progress};

	return query(c, "POST", path, NULL, &up, progress, ret_metadata, err);
}

struct line_stream {
	struct buffer buf;
	int (*fn)(const char *line, void *data);
	void *data;
	volatile const bool *stop;
	CURL *curl;
	long http_status; /* of the response, read at its first bytes */
	int status;	  /* what fn returned last */
};

/* Hands every complete line to the caller and keeps the rest for the next chunk. */
static size_t lines_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct line_stream *ls = userdata;
	size_t n = size * nmemb;
	char *start, *nl;

	if (!ls->http_status)
		lib.easy_getinfo(ls->curl, CURLINFO_RESPONSE_CODE, &ls->http_status);
	if (write_cb(ptr, size, nmemb, &ls->buf) != n)
		return 0;
	/* An error answer is an envelope, not events: kept whole for the caller. */
	if (ls->http_status >= 400)
		return n;
	start = ls->buf.data;
	while ((nl = memchr(start, '\n', ls->buf.len - (size_t)(start - ls->buf.data)))) {
		*nl = '\0';
		if (*start && ls->status == 0)
			ls->status = ls->fn(start, ls->data);
		start = nl + 1;
	}
	ls->buf.len -= (size_t)(start - ls->buf.data);
	memmove(ls->buf.data, start, ls->buf.len + 1);
	return ls->status == 0 ? n : 0;
}

/* Called by libcurl at least once a second even when nothing arrives: a set *stop ends it. */
static int stop_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		   curl_off_t ulnow)
{
	const struct line_stream *ls = userdata;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return ls->stop && *ls->stop ? 1 : 0;
}

int cli_client_stream_lines(struct cli_client *c, const char *path,
			    int (*fn)(const char *line, void *data), void *data,
			    volatile const bool *stop, struct err **err)
{
	_cleanup_free_ char *url = url_of(c, path);
	struct line_stream ls = {.fn = fn, .data = data, .stop = stop};
	long status = 0;
	CURLcode cr;
	int r;

	if (!url)
		return err_set(err, -ENOMEM, "Out of memory");
	r = request_begin(c, url, err);
	if (r < 0)
		return r;
	ls.curl = c->curl;
	lib.easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, lines_cb);
	lib.easy_setopt(c->curl, CURLOPT_WRITEDATA, &ls);
	lib.easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, stop_cb);
	lib.easy_setopt(c->curl, CURLOPT_XFERINFODATA, &ls);
	lib.easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
	lib.easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	lib.easy_setopt(c->curl, CURLOPT_USERAGENT, "cairn/" CLI_VERSION);
	lib.easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	cr = lib.easy_perform(c->curl);
	if (ls.status != 0) {
		buffer_done(&ls.buf);
		return ls.status < 0 ? err_set(err, ls.status, "Failed to handle an event") : 0;
	}
	if (cr == CURLE_ABORTED_BY_CALLBACK || cr == CURLE_OK) {
		_cleanup_json_ json_object *env = NULL;
		const char *msg;

		lib.easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		env = status >= 400 && ls.buf.data ? json_tokener_parse(ls.buf.data) : NULL;
		buffer_done(&ls.buf);
		msg = api_get_string(env, "error");
		if (status == 403 && c->base)
			return err_set(err, -EACCES, "Remote \"%s\": %s", c->remote,
				       msg ? msg : "Forbidden");
		if (status == 403)
			return msg && str_startswith(msg, "You don't have the needed permissions")
				   ? err_set(err, -EACCES, "%s", msg)
				   : permission_error(c, err);
		if (status >= 400)
			return err_set(err, api_errno_from_http((int)status), "%s",
				       msg ? msg : "Failed to listen to events");
		return 0;
	}
	buffer_done(&ls.buf);
	return transfer_error(c, cr, err);
}

int cli_client_open_https(const struct cli_https *h, struct cli_client **ret, struct err **err)
{
	_cleanup_free_ uint8_t *der = NULL;
	char fp[API_FINGERPRINT_SIZE];
	struct cli_client *c;
	size_t len = 0;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return err_set(err, -ENOMEM, "Out of memory");
	c->base = strdup(h->base);
	c->remote = strdup(h->remote);
	c->group = strdup(DEFAULT_GROUP);
	c->cert_path = h->cert_path ? strdup(h->cert_path) : NULL;
	c->key_path = h->key_path ? strdup(h->key_path) : NULL;
	if (!c->base || !c->remote || !c->group || (h->cert_path && !c->cert_path) ||
	    (h->key_path && !c->key_path)) {
		cli_client_free(c);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	if (h->server_cert) {
		r = api_pem_to_der(h->server_cert, &der, &len, err);
		if (r >= 0)
			r = api_certificate_pin(der, len, &c->pin, err);
		if (r < 0) {
			cli_client_free(c);
			return err_wrap(err, r, "Bad stored certificate of remote \"%s\"",
					h->remote);
		}
		api_fingerprint_der(der, len, fp);
		c->server_fingerprint = strdup(fp);
	}
	*ret = c;
	return 0;
}

bool cli_client_is_local(const struct cli_client *c)
{
	return c->socket_path != NULL;
}

int cli_client_probe(const char *base, char **ret_cert, json_object **ret_server, struct err **err)
{
	_cleanup_free_ char *url = str_printf("%s/1.0", base);
	_cleanup_json_ json_object *env = NULL;
	_cleanup_json_ json_object *md = NULL;
	struct curl_certinfo *ci = NULL;
	struct buffer buf = {0};
	char *pem = NULL;
	CURL *curl;
	CURLcode cr;
	long status = 0;
	int r;

	if (!url)
		return err_set(err, -ENOMEM, "Out of memory");
	r = curl_load(err);
	if (r < 0)
		return r;
	curl = lib.easy_init();
	if (!curl)
		return err_set(err, -ENOMEM, "Failed to set up the HTTP client");
	/* Nothing is trusted yet: the certificate is what this asks for, to be shown to the user
	 * (or checked against a token) before anything else is sent. */
	lib.easy_setopt(curl, CURLOPT_URL, url);
	lib.easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
	lib.easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	lib.easy_setopt(curl, CURLOPT_CERTINFO, 1L);
	lib.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	lib.easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
	lib.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	lib.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
	lib.easy_setopt(curl, CURLOPT_USERAGENT, "cairn/" CLI_VERSION);
	lib.easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	lib.easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
	cr = lib.easy_perform(curl);
	if (cr == CURLE_OK) {
		lib.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		if (lib.easy_getinfo_certinfo(curl, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci &&
		    ci->num_of_certs > 0)
			for (struct curl_slist *l = ci->certinfo[0]; l && !pem; l = l->next)
				if (str_startswith(l->data, "Cert:"))
					pem = strdup(l->data + 5);
	}
	lib.easy_cleanup(curl);
	if (cr != CURLE_OK) {
		buffer_done(&buf);
		if (cr == CURLE_COULDNT_CONNECT || cr == CURLE_OPERATION_TIMEDOUT ||
		    cr == CURLE_COULDNT_RESOLVE_HOST)
			return err_set(err, -EHOSTUNREACH, "Cannot reach %s: %s", base,
				       lib.easy_strerror(cr));
		return err_set(err, -EPROTO, "Failed to talk to %s over HTTPS: %s", base,
			       lib.easy_strerror(cr));
	}
	if (!pem) {
		buffer_done(&buf);
		return err_set(err, -EPROTO, "%s sent no certificate", base);
	}
	env = buf.data ? json_tokener_parse(buf.data) : NULL;
	buffer_done(&buf);
	if (!env || !json_object_is_type(env, json_type_object) ||
	    api_parse_envelope(env, &md, NULL) < 0 || !api_get_string(md, "auth") ||
	    !api_get_string(md, "api_version")) {
		free(pem);
		return err_set(err, -EPROTO,
			       "%s is not cairnd: GET /1.0 answered HTTP %ld without the server "
			       "object of the API",
			       base, status);
	}
	*ret_cert = pem;
	if (ret_server)
		*ret_server = steal_pointer(&md);
	return 0;
}

struct download {
	char *operation; /* X-Cairn-Operation of a direct export, where its failure is told */
	struct cli_client *client;
	CURL *poll;	  /* a second handle, for the operation's progress during the transfer */
	double last_poll; /* CLOCK_MONOTONIC seconds */
	int fd;
	CURL *curl;
	long http_status;	       /* of the response, read at its first bytes */
	struct buffer error;	       /* an error answer's envelope */
	struct cli_progress *progress; /* may be NULL */
	long long done;
	bool showing_op; /* the line shows the operation's progress, not the bytes */
	int write_error; /* negative errno of a failed write to fd */
};

/* Writes the body to the file as it comes (an error answer is kept for its message). */
static size_t download_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct download *dl = userdata;
	size_t n = size * nmemb;

	if (!dl->http_status)
		lib.easy_getinfo(dl->curl, CURLINFO_RESPONSE_CODE, &dl->http_status);
	if (dl->http_status >= 400)
		return write_cb(ptr, size, nmemb, &dl->error);
	if (fd_write_all(dl->fd, ptr, n) < 0) {
		dl->write_error = -errno ? -errno : -EIO;
		return 0;
	}
	dl->done += (long long)n;
	/* The size the daemon announced gives the percentage and the time left. */
	if (dl->progress && !dl->progress->total) {
		curl_off_t length = -1;

		lib.easy_getinfo(dl->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
		if (length > 0)
			dl->progress->total = (long long)length;
	}
	if (!dl->showing_op)
		cli_progress_update(dl->progress, dl->done);
	return n;
}

/* Keeps the operation a direct export names in its headers. */
static size_t download_header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct download *dl = userdata;
	size_t n = size * nmemb;
	static const char name[] = "X-Cairn-Operation:";

	if (n > sizeof(name) && strncasecmp(ptr, name, sizeof(name) - 1) == 0 && !dl->operation) {
		const char *v = ptr + sizeof(name) - 1;
		size_t len = n - (sizeof(name) - 1);

		while (len > 0 && (*v == ' ' || *v == '\t'))
			v++, len--;
		while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
			len--;
		dl->operation = strndup(v, len);
	}
	return n;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * While a direct export streams, the daemon's operation knows how far it is through the trees
 * (a percentage and the time left), which the bytes of a compressed stream cannot say: once a
 * second its progress is read on a second connection and drawn in place of the byte count.
 */
static int download_xfer_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
			    curl_off_t ultotal, curl_off_t ulnow)
{
	struct download *dl = userdata;
	_cleanup_free_ char *url = NULL, *text = NULL;
	_cleanup_json_ json_object *env = NULL;
	struct buffer buf = {0};
	json_object *md = NULL;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (!dl->operation || !dl->progress || !dl->progress->out || mono_now() - dl->last_poll < 1)
		return 0;
	dl->last_poll = mono_now();
	if (!dl->poll && !(dl->poll = lib.easy_init()))
		return 0;
	url = url_of(dl->client, dl->operation);
	if (!url)
		return 0;
	lib.easy_reset(dl->poll);
	set_transport_on(dl->client, dl->poll);
	lib.easy_setopt(dl->poll, CURLOPT_URL, url);
	lib.easy_setopt(dl->poll, CURLOPT_WRITEFUNCTION, write_cb);
	lib.easy_setopt(dl->poll, CURLOPT_WRITEDATA, &buf);
	lib.easy_setopt(dl->poll, CURLOPT_NOSIGNAL, 1L);
	lib.easy_setopt(dl->poll, CURLOPT_TIMEOUT_MS, 500L);
	if (lib.easy_perform(dl->poll) == CURLE_OK && buf.data)
		env = json_tokener_parse(buf.data);
	buffer_done(&buf);
	if (env && json_object_object_get_ex(env, "metadata", &md))
		text = operation_progress_text(md);
	if (text) {
		dl->progress->last_shown = 0;
		cli_progress_text(dl->progress, text);
		dl->showing_op = true;
	}
	return 0;
}

/* Why a direct export's transfer broke: its operation's error, once it has ended. */
static int broken_export(struct cli_client *c, const char *op_url, CURLcode cr, struct err **err)
{
	_cleanup_free_ char *path = str_printf("%s/wait?timeout=30", op_url);
	_cleanup_json_ json_object *op = NULL;
	const char *msg;

	if (path && request(c, "GET", path, NULL, NULL, &op, NULL, NULL) >= 0 &&
	    (msg = api_get_string(op, "err")) && *msg)
		return err_set(err, -EIO, "%s", msg);
	return err_set(err, -EIO, "The export broke off: %s", lib.easy_strerror(cr));
}

static int download(struct cli_client *c, const char *path, json_object *body, int fd,
		    struct cli_progress *progress, struct err **err)
{
	_cleanup_free_ char *url = url_of(c, path);
	_cleanup_(curl_slist_freep) struct curl_slist *headers = NULL;
	struct download dl = {.fd = fd, .progress = progress, .client = c};
	CURLcode cr;
	int r;

	if (!url)
		return err_set(err, -ENOMEM, "Out of memory");
	r = request_begin(c, url, err);
	if (r < 0)
		return r;
	dl.curl = c->curl;
	lib.easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, download_cb);
	lib.easy_setopt(c->curl, CURLOPT_WRITEDATA, &dl);
	lib.easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	lib.easy_setopt(c->curl, CURLOPT_USERAGENT, "cairn/" CLI_VERSION);
	lib.easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, download_header_cb);
	lib.easy_setopt(c->curl, CURLOPT_HEADERDATA, &dl);
	lib.easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, download_xfer_cb);
	lib.easy_setopt(c->curl, CURLOPT_XFERINFODATA, &dl);
	lib.easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
	if (body) {
		const char *payload = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);

		headers = lib.slist_append(headers, "Expect:");
		headers = lib.slist_append(headers, "Content-Type: application/json");
		headers = lib.slist_append(headers, "Accept: application/octet-stream");
		lib.easy_setopt(c->curl, CURLOPT_POSTFIELDS, payload);
		lib.easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
		lib.easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	} else {
		lib.easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	}
	cr = lib.easy_perform(c->curl);
	if (dl.poll)
		lib.easy_cleanup(dl.poll);
	if (dl.write_error < 0) {
		buffer_done(&dl.error);
		free(dl.operation);
		return err_set_errno(err, dl.write_error, "Failed to write the download");
	}
	if (cr != CURLE_OK && dl.operation && dl.http_status < 400) {
		_cleanup_free_ char *op = dl.operation;

		buffer_done(&dl.error);
		return broken_export(c, op, cr, err);
	}
	free(dl.operation);
	if (cr != CURLE_OK) {
		buffer_done(&dl.error);
		return transfer_error(c, cr, err);
	}
	lib.easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &dl.http_status);
	if (dl.http_status >= 400) {
		_cleanup_json_ json_object *env =
		    dl.error.data ? json_tokener_parse(dl.error.data) : NULL;
		const char *msg = api_get_string(env, "error");

		if (dl.http_status == 403 && !c->base &&
		    !(msg && str_startswith(msg, "You don't have the needed permissions"))) {
			buffer_done(&dl.error);
			return permission_error(c, err);
		}
		r = err_set(err, api_errno_from_http((int)dl.http_status), "%s",
			    msg ? msg : "Failed to download");
		buffer_done(&dl.error);
		return r;
	}
	buffer_done(&dl.error);
	return 0;
}

int cli_client_download(struct cli_client *c, const char *path, int fd,
			struct cli_progress *progress, struct err **err)
{
	return download(c, path, NULL, fd, progress, err);
}

int cli_client_post_download(struct cli_client *c, const char *path, json_object *body, int fd,
			     struct cli_progress *progress, struct err **err)
{
	return download(c, path, body, fd, progress, err);
}

const char *cli_client_socket_path(const struct cli_client *c)
{
	return c->socket_path;
}

int cli_client_forward(struct cli_client *c, const char *method, const char *target,
		       const char *body, size_t body_len, struct cli_forward *ret, struct err **err)
{
	_cleanup_(curl_slist_freep) struct curl_slist *headers = NULL;
	_cleanup_free_ char *url = url_of(c, target);
	struct buffer buf = {0};
	char *type = NULL;
	long status = 0;
	CURLcode cr;
	int r;

	if (!url)
		return err_set(err, -ENOMEM, "Out of memory");
	r = request_begin(c, url, err);
	if (r < 0)
		return r;
	/* The target was checked by the caller and goes to the daemon as the browser wrote it. */
	lib.easy_setopt(c->curl, CURLOPT_PATH_AS_IS, 1L);
	lib.easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
	lib.easy_setopt(c->curl, CURLOPT_WRITEDATA, &buf);
	lib.easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	lib.easy_setopt(c->curl, CURLOPT_USERAGENT, "cairn/" CLI_VERSION);
	headers = lib.slist_append(headers, "Expect:");
	if (body) {
		lib.easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
		lib.easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		headers = lib.slist_append(headers, "Content-Type: application/json");
	}
	if (strcmp(method, "GET") == 0)
		lib.easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	else
		lib.easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	lib.easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	cr = lib.easy_perform(c->curl);
	if (cr != CURLE_OK) {
		buffer_done(&buf);
		return transfer_error(c, cr, err);
	}
	lib.easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	lib.easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &type);
	ret->status = status;
	ret->json = type && str_startswith(type, "application/json");
	ret->body = buf.data ? buf.data : strdup("");
	ret->len = buf.len;
	if (!ret->body)
		return err_set(err, -ENOMEM, "Out of memory");
	return 0;
}
