#include "cmd/cairn/cli.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

#define DEFAULT_GROUP "cairn-admin"

struct cli_client {
	CURL *curl;
	char *socket_path; /* owned */
	char *group;	   /* the admin group named in permission errors, owned */
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
	curl_slist_free_all(*l);
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
	c->curl = curl_easy_init();
	if (!c->socket_path || !c->group || !c->curl) {
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
		curl_easy_cleanup(c->curl);
	free(c->socket_path);
	free(c->group);
	free(c);
}

char *cli_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *copy;

	if (!e)
		return NULL;
	copy = strdup(e);
	curl_free(e);
	return copy;
}

char *cli_url_basename(const char *url)
{
	const char *end, *start;
	char *d, *copy;
	int len = 0;

	if (!url)
		return NULL;
	end = strchr(url, '?');
	if (!end)
		end = url + strlen(url);
	start = end;
	while (start > url && start[-1] != '/')
		start--;
	d = curl_easy_unescape(NULL, start, (int)(end - start), &len);
	if (!d)
		return NULL;
	copy = strndup(d, (size_t)len);
	curl_free(d);
	return copy;
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
};

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

	url = str_printf("http://cairn%s", path);
	if (!url)
		return err_set(err, -ENOMEM, "Out of memory");

	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &buf);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "cairn/" CLI_VERSION);
	/* Without this libcurl waits a second for "100 Continue" before sending a large body. */
	headers = curl_slist_append(headers, "Expect:");

	if (up) {
		curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(c->curl, CURLOPT_READDATA, up);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)up->size);
		headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
		for (char *const *h = up->headers; h && *h; h++)
			headers = curl_slist_append(headers, *h);
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
		cr = curl_easy_perform(c->curl);
	} else {
		if (body) {
			payload = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
			curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, payload);
			curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)strlen(payload));
			headers = curl_slist_append(headers, "Content-Type: application/json");
		}
		if (strcmp(method, "GET") == 0)
			curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
		else
			curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
		cr = curl_easy_perform(c->curl);
	}
	if (cr != CURLE_OK) {
		buffer_done(&buf);
		if (cr == CURLE_COULDNT_CONNECT)
			return err_set(err, -ECONNREFUSED,
				       "cairnd is not running (no socket at %s)", c->socket_path);
		return err_set(err, -EIO, "Failed to talk to cairnd: %s", curl_easy_strerror(cr));
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);

	env = buf.data ? json_tokener_parse(buf.data) : NULL;
	buffer_done(&buf);
	if (!env || !json_object_is_type(env, json_type_object)) {
		if (status == 403)
			return permission_error(c, err);
		return err_set(err, status >= 400 ? api_errno_from_http((int)status) : -EPROTO,
			       "Invalid answer from cairnd (HTTP %ld)", status);
	}
	r = api_parse_envelope(env, &md, &e);
	if (r < 0) {
		const char *msg = api_get_string(env, "error");

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

static int query(struct cli_client *c, const char *method, const char *path, json_object *body,
		 const struct upload *up, json_object **ret_metadata, struct err **err)
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
		r = wait_operation(c, url, &md, err);
		if (r < 0)
			return r;
	}
	if (ret_metadata)
		*ret_metadata = steal_pointer(&md);
	return 0;
}

int cli_client_query(struct cli_client *c, const char *method, const char *path, json_object *body,
		     json_object **ret_metadata, struct err **err)
{
	return query(c, method, path, body, NULL, ret_metadata, err);
}

int cli_client_upload(struct cli_client *c, const char *path, int fd, long long size,
		      char *const *headers, json_object **ret_metadata, struct err **err)
{
	struct upload up = {.fd = fd, .size = size, .headers = headers};

	return query(c, "POST", path, NULL, &up, ret_metadata, err);
}
