/* The daemon's HTTPS client towards another cairnd (migration/http.h). */
#include "migration/http.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api/api.h"
#include "api/trust.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

/* The most of an envelope read into memory. */
#define MAX_ENVELOPE (4 * 1024 * 1024)

struct migration_http {
	char *base;
	char *pin; /* "sha256//..." of the peer's key */
	char fingerprint[API_FINGERPRINT_SIZE];
	char *cert_path, *key_path;
	/* One handle for every request to the peer: libcurl keeps its connection (and its TLS
	 * session) between them, so a transfer's requests share one handshake. Its options are
	 * reset after each request; only the connection cache carries over. */
	CURL *curl;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int migration_http_new(const char *base, const char *peer_pem, const char *cert_path,
		       const char *key_path, struct migration_http **ret, struct err **err)
{
	_cleanup_free_ uint8_t *der = NULL;
	struct migration_http *h;
	size_t len = 0;
	int r;

	if (!base || !str_startswith(base, "https://") || strlen(base) <= 8)
		return err_set(err, -EINVAL, "Invalid remote address \"%s\": it must be https://",
			       base ? base : "");
	if (!peer_pem || !*peer_pem)
		return err_set(err, -EINVAL, "No certificate given for \"%s\"", base);
	r = api_pem_to_der(peer_pem, &der, &len, err);
	if (r < 0)
		return err_wrap(err, r, "Invalid certificate for \"%s\"", base);
	h = calloc(1, sizeof(*h));
	if (!h)
		return err_set(err, -ENOMEM, "Out of memory");
	api_fingerprint_der(der, len, h->fingerprint);
	h->base = strdup(base);
	if (h->base && h->base[strlen(h->base) - 1] == '/')
		h->base[strlen(h->base) - 1] = '\0';
	h->cert_path = cert_path ? strdup(cert_path) : NULL;
	h->key_path = key_path ? strdup(key_path) : NULL;
	r = api_certificate_pin(der, len, &h->pin, err);
	if (r < 0) {
		migration_http_free(h);
		return r;
	}
	if (!h->base || (cert_path && !h->cert_path) || (key_path && !h->key_path)) {
		migration_http_free(h);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	pthread_once(&curl_once, curl_init_once);
	h->curl = curl_easy_init();
	if (!h->curl) {
		migration_http_free(h);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	*ret = h;
	return 0;
}

void migration_http_free(struct migration_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->base);
	free(h->pin);
	free(h->cert_path);
	free(h->key_path);
	free(h);
}

/* The URL of `path`: a path on the peer, or a full URL that must be the peer's (a URL handed
 * over by someone else may not send the daemon's certificate to a third host). */
static char *url_of(struct migration_http *h, const char *path, struct err **err)
{
	size_t n = strlen(h->base);
	char *url;

	if (path[0] == '/')
		url = str_printf("%s%s", h->base, path);
	else if (strncmp(path, h->base, n) == 0 && path[n] == '/')
		url = strdup(path);
	else {
		err_set(err, -EINVAL, "The URL \"%s\" is not on \"%s\"", path, h->base);
		return NULL;
	}
	if (!url)
		err_set(err, -ENOMEM, "Out of memory");
	return url;
}

struct xfer {
	int in_fd, out_fd;
	const char *body;
	size_t body_len, body_off;
	uint64_t sent, received;
	char *buf; /* the response, when it is an envelope */
	size_t len;
	bool too_big;
	int write_error;
	long status; /* HTTP status once the headers are in */
	CURL *curl;
};

static size_t on_read(char *dst, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	size_t max = size * nmemb;
	ssize_t n;

	if (x->in_fd < 0) {
		size_t k = x->body_len - x->body_off;

		if (k > max)
			k = max;
		memcpy(dst, x->body + x->body_off, k);
		x->body_off += k;
		x->sent += k;
		return k;
	}
	do
		n = read(x->in_fd, dst, max);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return CURL_READFUNC_ABORT;
	x->sent += (uint64_t)n;
	return (size_t)n;
}

/* libcurl rewinds the body to send it again on a new connection when the one it reused turns
 * out closed by the peer; a body in memory can start over, a stream cannot. */
static int on_seek(void *ctx, curl_off_t offset, int origin)
{
	struct xfer *x = ctx;

	if (x->in_fd >= 0 || origin != SEEK_SET || offset < 0 || (size_t)offset > x->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->body_off = (size_t)offset;
	x->sent = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *src, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	size_t n = size * nmemb;

	if (x->status == 0)
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
	x->received += n;
	/* Only a successful answer goes to the stream; an error is an envelope to read. */
	if (x->out_fd >= 0 && x->status >= 200 && x->status < 300) {
		for (size_t off = 0; off < n;) {
			ssize_t w = write(x->out_fd, src + off, n - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				x->write_error = -errno;
				return 0;
			}
			off += (size_t)w;
		}
		return n;
	}
	if (x->len + n > MAX_ENVELOPE) {
		x->too_big = true;
		return 0;
	}
	{
		char *nb = realloc(x->buf, x->len + n + 1);

		if (!nb)
			return 0;
		x->buf = nb;
		memcpy(x->buf + x->len, src, n);
		x->len += n;
		x->buf[x->len] = '\0';
	}
	return n;
}

/* Clears every option of the object's handle (the headers list, the callbacks and their data
 * on the caller's stack, the method) and keeps its connections and TLS sessions. */
static void curl_resetp(CURL **c)
{
	if (*c)
		curl_easy_reset(*c);
}

static void slist_freep(struct curl_slist **l)
{
	if (*l)
		curl_slist_free_all(*l);
	*l = NULL;
}

/* The error envelope's message and errno, or -EPROTO when the answer is not an envelope. */
static int envelope_error(struct migration_http *h, struct xfer *x, json_object **ret,
			  struct err **err)
{
	_cleanup_json_ json_object *env = NULL;
	const char *type, *msg;

	if (x->buf)
		env = json_tokener_parse(x->buf);
	type = env ? api_get_string(env, "type") : NULL;
	if (!type)
		return err_set(err, -EPROTO,
			       "\"%s\" answered HTTP %ld with something that is not the cairn API "
			       "(is it a cairnd?)",
			       h->base, x->status);
	if (strcmp(type, "error") == 0 || x->status >= 400) {
		msg = api_get_string(env, "error");
		return err_set(err, api_errno_from_http((int)x->status), "%s",
			       msg && *msg ? msg : "Request refused");
	}
	if (ret)
		*ret = steal_pointer(&env);
	return 0;
}

int migration_http_stream(struct migration_http *h, const char *method, const char *path,
			  const char *body_json, int in_fd, int out_fd, json_object **ret_envelope,
			  uint64_t *ret_sent, uint64_t *ret_received, struct err **err)
{
	_cleanup_(slist_freep) struct curl_slist *headers = NULL;
	/* Declared after the list, so reset before it is freed: the handle never points at it. */
	_cleanup_(curl_resetp) CURL *c = h->curl;
	_cleanup_free_ char *url = NULL;
	struct xfer x = {.in_fd = in_fd, .out_fd = out_fd, .body = body_json};
	bool has_body = in_fd >= 0 || body_json;
	CURLcode cr;
	int r;

	url = url_of(h, path, err);
	if (!url)
		return -EINVAL;
	x.curl = c;
	x.body_len = body_json ? strlen(body_json) : 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	/* The peer's self-signed certificate is checked by its pinned key, in the handshake,
	 * before anything is sent; chain and host name mean nothing here (as in the client). */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, h->pin);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (h->cert_path && h->key_path) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, h->cert_path);
		curl_easy_setopt(c, CURLOPT_SSLKEY, h->key_path);
	}
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	/* A connection idle this long is not reused: the peer closes it after 30 s without a
	 * request (cmd/cairnd/server.c), and a request sent as it does would be lost. */
	curl_easy_setopt(c, CURLOPT_MAXAGE_CONN, 20L);
	/* A peer that moves nothing for ten minutes is gone (a target may take a while between
	 * two reads: shifting a big tree's owners, committing a snapshot). */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 600L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (has_body) {
		headers =
		    curl_slist_append(headers, in_fd >= 0 ? "Content-Type: application/octet-stream"
							  : "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &x);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, &x);
		if (in_fd < 0)
			curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x.body_len);
		/* CURLOPT_UPLOAD means PUT; the method is set again after it. */
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	headers = curl_slist_append(headers, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	cr = curl_easy_perform(c);
	if (x.status == 0)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x.status);
	if (ret_sent)
		*ret_sent = x.sent;
	if (ret_received)
		*ret_received = x.received;
	if (cr == CURLE_SSL_PINNEDPUBKEYNOTMATCH) {
		r = err_set(err, -EPERM,
			    "The certificate of \"%s\" does not match the one given (fingerprint "
			    "%s): nothing was sent",
			    h->base, h->fingerprint);
	} else if (cr == CURLE_COULDNT_CONNECT || cr == CURLE_COULDNT_RESOLVE_HOST ||
		   (cr == CURLE_OPERATION_TIMEDOUT && x.status == 0)) {
		r = err_set(err, -EHOSTUNREACH, "Cannot reach \"%s\": %s", h->base,
			    curl_easy_strerror(cr));
	} else if (x.write_error) {
		r = err_set_errno(err, x.write_error, "Failed to pass on the answer of \"%s\"",
				  h->base);
	} else if (x.too_big) {
		r = err_set(err, -EPROTO, "\"%s\" answered more than an API envelope can hold",
			    h->base);
	} else if (cr != CURLE_OK && !(x.status >= 400 && x.buf)) {
		r = err_set(err, -EIO, "The transfer with \"%s\" broke: %s", h->base,
			    curl_easy_strerror(cr));
	} else if (out_fd >= 0 && x.status >= 200 && x.status < 300) {
		r = 0;
	} else {
		r = envelope_error(h, &x, ret_envelope, err);
	}
	free(x.buf);
	return r;
}

int migration_http_json(struct migration_http *h, const char *method, const char *path,
			json_object *body, json_object **ret_envelope, struct err **err)
{
	const char *text =
	    body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : NULL;

	return migration_http_stream(h, method, path, text, -1, -1, ret_envelope, NULL, NULL, err);
}

int migration_http_wait(struct migration_http *h, const char *op, json_object **ret_operation,
			struct err **err)
{
	_cleanup_free_ char *path = str_printf("%s/wait?timeout=30", op);
	_cleanup_json_ json_object *env = NULL;
	json_object *md = NULL;
	const char *status = NULL, *msg;
	int r;

	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	/* In short waits, so that a silent connection never looks like a dead peer. */
	do {
		json_object_put(steal_pointer(&env));
		r = migration_http_json(h, "GET", path, NULL, &env, err);
		if (r < 0)
			return r;
		if (!json_object_object_get_ex(env, "metadata", &md) ||
		    !json_object_is_type(md, json_type_object))
			return err_set(err, -EPROTO,
				       "\"%s\" answered an operation without its object", h->base);
		status = api_get_string(md, "status");
	} while (status && strcmp(status, "Running") == 0);
	msg = api_get_string(md, "err");
	if (ret_operation)
		*ret_operation = json_object_get(md);
	if (status && strcmp(status, "Success") == 0)
		return 0;
	return err_set(err, -EIO, "%s", msg && *msg ? msg : "The remote operation failed");
}
