/*
 * /1.0/remotes (cairn's own): the daemons this daemon sends to by itself, for the snapshot
 * server (snapshots.copy.target). Managed on the unix socket only, that is by root and the admin
 * group: a remote is where the daemon pushes every instance that names it, so a client over
 * HTTPS, trusted as it may be, cannot point it elsewhere.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "api/api.h"
#include "api/trust.h"
#include "cmd/cairnd/body.h"
#include "cmd/cairnd/copier.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/handlers.h"
#include "cmd/cairnd/https.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "config/db.h"
#include "config/keys.h"
#include "migration/http.h"

static void db_remote_donep(struct db_remote *r)
{
	db_remote_done(r);
}

static int local_only(struct request *req, struct err **err)
{
	if (req->network)
		return err_set(
		    err, -EPERM,
		    "The daemon's remotes are managed on its own host (the unix socket), "
		    "not over HTTPS");
	return 0;
}

static json_object *remote_json(const struct db_remote *r, char **used_by)
{
	_cleanup_free_ char *created = time_format_rfc3339(r->created_at);
	json_object *o = json_object_new_object(), *users = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(r->name));
	json_object_object_add(o, "addr", json_object_new_string(r->address));
	json_object_object_add(o, "protocol", json_object_new_string("cairn"));
	json_object_object_add(o, "auth_type", json_object_new_string("tls"));
	json_object_object_add(o, "fingerprint", json_object_new_string(r->fingerprint));
	json_object_object_add(o, "certificate", json_object_new_string(r->certificate));
	json_object_object_add(o, "created_at", json_object_new_string(created ? created : ""));
	for (char **p = used_by; p && *p; p++)
		json_object_array_add(users, json_object_new_string(*p));
	json_object_object_add(o, "used_by", users);
	return o;
}

HANDLER(handle_remotes_list)
{
	struct db_remote *v = NULL;
	json_object *list;
	size_t n = 0;
	int r;

	r = local_only(req, err);
	if (r < 0)
		return r;
	r = db_remote_list(d->env.db, &v, &n, err);
	if (r < 0)
		return r;
	list = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		if (request_recursion(req) > 0) {
			_cleanup_strv_ char **users = NULL;

			copier_remote_users(d, v[i].name, &users, NULL);
			json_object_array_add(list, remote_json(&v[i], users));
		} else {
			_cleanup_free_ char *url = str_printf("/1.0/remotes/%s", v[i].name);

			json_object_array_add(list, json_object_new_string(url ? url : ""));
		}
	}
	db_remotes_free(v, n);
	*ret_envelope = api_sync(list);
	return 200;
}

HANDLER(handle_remote_get)
{
	_cleanup_(db_remote_donep) struct db_remote rem = {0};
	_cleanup_strv_ char **users = NULL;
	int r;

	r = local_only(req, err);
	if (r < 0)
		return r;
	r = db_remote_get(d->env.db, req->params[0], &rem, err);
	if (r < 0)
		return r;
	r = copier_remote_users(d, rem.name, &users, err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(remote_json(&rem, users));
	return 200;
}

HANDLER(handle_remote_delete)
{
	_cleanup_strv_ char **users = NULL;
	_cleanup_free_ char *list = NULL;
	int r;

	r = local_only(req, err);
	if (r < 0)
		return r;
	r = copier_remote_users(d, req->params[0], &users, err);
	if (r < 0)
		return r;
	/* A remote an instance still sends to would turn every refresh into an error: say who
	 * names it instead, as a network or a profile in use is refused. */
	if (users && users[0]) {
		list = strv_join(users, ", ");
		return err_set(err, -EBUSY,
			       "Remote \"%s\" is in use by snapshots.copy.target of: %s",
			       req->params[0], list ? list : users[0]);
	}
	r = db_remote_delete(d->env.db, req->params[0], err);
	if (r < 0)
		return r;
	log_info("Removed remote \"%s\"", req->params[0]);
	*ret_envelope = api_sync(NULL);
	return 200;
}

/* ---- adding one -------------------------------------------------------------------------- */

struct probe_buffer {
	char *data;
	size_t len;
};

static size_t probe_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct probe_buffer *b = userdata;
	size_t n = size * nmemb;
	char *p;

	/* GET /1.0 of a cairnd is a few KiB: anything past 1 MiB is not one. */
	if (b->len + n > 1024 * 1024)
		return 0;
	p = realloc(b->data, b->len + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, ptr, n);
	b->data = p;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/*
 * The server certificate of `base` ("https://HOST:PORT"), taken before anything is trusted, so
 * that it can be checked against a token's fingerprint or the one the user accepted; also checks
 * that `GET /1.0` answers as cairnd does. -EHOSTUNREACH, -EPROTO ("is not cairnd"), -ENOMEM.
 */
static int probe(const char *base, char **ret_pem, struct err **err)
{
	_cleanup_free_ char *url = str_printf("%s/1.0", base);
	_cleanup_json_ json_object *env = NULL;
	json_object *md = NULL;
	struct curl_certinfo *ci = NULL;
	struct probe_buffer buf = {0};
	char *pem = NULL;
	long status = 0;
	CURLcode cr;
	CURL *curl;

	if (!url)
		return err_set(err, -ENOMEM, "Out of memory");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();
	if (!curl)
		return err_set(err, -ENOMEM, "Failed to set up the HTTP client");
	/* Nothing is trusted yet and nothing but this GET is sent: the certificate is what it asks
	 * for, to be checked before this daemon presents its own. */
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "cairnd");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, probe_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
	cr = curl_easy_perform(curl);
	if (cr == CURLE_OK) {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		if (curl_easy_getinfo(curl, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci &&
		    ci->num_of_certs > 0)
			for (struct curl_slist *l = ci->certinfo[0]; l && !pem; l = l->next)
				if (str_startswith(l->data, "Cert:"))
					pem = strdup(l->data + 5);
	}
	curl_easy_cleanup(curl);
	if (cr != CURLE_OK) {
		free(buf.data);
		if (cr == CURLE_COULDNT_CONNECT || cr == CURLE_OPERATION_TIMEDOUT ||
		    cr == CURLE_COULDNT_RESOLVE_HOST)
			return err_set(err, -EHOSTUNREACH, "Cannot reach %s: %s", base,
				       curl_easy_strerror(cr));
		return err_set(err, -EPROTO, "Failed to talk to %s over HTTPS: %s", base,
			       curl_easy_strerror(cr));
	}
	env = buf.data ? json_tokener_parse(buf.data) : NULL;
	free(buf.data);
	if (!env || !json_object_is_type(env, json_type_object) ||
	    api_parse_envelope(env, &md, NULL) < 0 || !api_get_string(md, "auth") ||
	    !api_get_string(md, "api_version")) {
		json_object_put(md);
		free(pem);
		return err_set(err, -EPROTO,
			       "%s is not cairnd: GET /1.0 answered HTTP %ld without the server "
			       "object of the API",
			       base, status);
	}
	json_object_put(md);
	if (!pem)
		return err_set(err, -EPROTO, "%s sent no certificate", base);
	*ret_pem = pem;
	return 0;
}

/* "https://HOST:PORT" of an address as a user or a token gives it ("HOST[:PORT]", with or
 * without https://). -EINVAL with the reason. */
static int base_of(const char *address, char **ret, struct err **err)
{
	_cleanup_free_ char *host = NULL, *hp = NULL;
	const char *a = str_startswith(address, "https://") ? address + 8 : address;
	unsigned port;
	int r;

	if (strstr(address, "://") && !str_startswith(address, "https://"))
		return err_set(err, -EINVAL, "Invalid address \"%s\": only https:// is supported",
			       address);
	r = api_address_parse(a, true, &host, &port, err);
	if (r < 0)
		return r;
	hp = api_address_format(host, port);
	*ret = hp ? str_printf("https://%s", hp) : NULL;
	if (!*ret)
		return err_set(err, -ENOMEM, "Out of memory");
	return 0;
}

/* A client of `base` pinned to `pem`, presenting this daemon's own server certificate. */
static int open_peer(struct daemon *d, const char *base, const char *pem,
		     struct migration_http **ret, struct err **err)
{
	_cleanup_free_ char *cert = str_printf("%s/server.crt", d->dir);
	_cleanup_free_ char *key = str_printf("%s/server.key", d->dir);

	if (!cert || !key)
		return err_set(err, -ENOMEM, "Out of memory");
	return migration_http_new(base, pem, cert, key, ret, err);
}

/* Asks `h` whether it trusts this daemon now: GET /1.0 says "auth": "trusted". */
static int check_trusted(struct migration_http *h, const char *base, struct err **err)
{
	_cleanup_json_ json_object *env = NULL;
	json_object *md = NULL;
	const char *auth;
	int r;

	r = migration_http_json(h, "GET", "/1.0", NULL, &env, err);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(env, "metadata", &md))
		md = NULL;
	auth = api_get_string(md, "auth");
	if (!auth || strcmp(auth, "trusted") != 0)
		return err_set(err, -EACCES,
			       "%s does not trust this daemon (certificate %s): on that host run "
			       "\"cairn config trust add NAME\" and add the remote with the token "
			       "it prints",
			       base, https_fingerprint());
	return 0;
}

static int store(struct daemon *d, const char *name, const char *base, const char *pem,
		 const char *fp, json_object **ret_envelope, struct err **err)
{
	struct db_remote rem = {.name = (char *)name,
				.address = (char *)base,
				.certificate = (char *)pem,
				.fingerprint = (char *)fp,
				.created_at = time_now()};
	int r = db_remote_add(d->env.db, &rem, err);

	if (r < 0)
		return r;
	log_info("Added remote \"%s\" at %s (certificate %s)", name, base, fp);
	*ret_envelope = api_sync(remote_json(&rem, NULL));
	/* Refreshes owed to this remote (an instance imported with the key) may go now. */
	copier_wake();
	return 200;
}

/* With a token (made on the target by `cairn config trust add NAME`): the target's certificate
 * is the one the token names, and redeeming it makes the target trust this daemon. */
static int add_with_token(struct daemon *d, const char *name, const char *text,
			  json_object **ret_envelope, struct err **err)
{
	_cleanup_(api_token_done) struct api_token tok = {0};
	_cleanup_err_ struct err *last = NULL;
	int r;

	r = api_token_decode(text, &tok, err);
	if (r < 0)
		return r;
	if (tok.expires_at <= time_now())
		return err_set(err, -EACCES, "The trust token has expired");
	r = -EHOSTUNREACH;
	for (char *const *a = tok.addresses; a && *a; a++) {
		_cleanup_free_ char *base = NULL, *pem = NULL;
		_cleanup_migration_http_ struct migration_http *h = NULL;
		_cleanup_json_ json_object *body = json_object_new_object();
		char fp[API_FINGERPRINT_SIZE];

		err_free(last);
		last = NULL;
		r = base_of(*a, &base, &last);
		if (r < 0)
			continue;
		r = probe(base, &pem, &last);
		if (r < 0)
			continue;
		r = api_fingerprint_pem(pem, fp, &last);
		if (r < 0)
			continue;
		if (strcmp(fp, tok.fingerprint) != 0) {
			r = err_set(
			    &last, -EPERM,
			    "The certificate of %s (fingerprint %s) is not the one the token "
			    "names (%s)",
			    base, fp, tok.fingerprint);
			continue;
		}
		r = open_peer(d, base, pem, &h, &last);
		if (r < 0)
			continue;
		json_object_object_add(body, "type", json_object_new_string("client"));
		json_object_object_add(body, "trust_token", json_object_new_string(text));
		r = migration_http_json(h, "POST", "/1.0/certificates", body, NULL, &last);
		/* The target said no (a used or expired token): another of its addresses would
		 * say the same. */
		if (r == -EACCES || r == -EPERM)
			break;
		if (r < 0)
			continue;
		r = check_trusted(h, base, &last);
		if (r < 0)
			break;
		return store(d, name, base, pem, fp, ret_envelope, err);
	}
	return err_set(err, r < 0 ? r : -EIO, "%s", err_msg(last, r));
}

/* With an address: the certificate is the one the caller accepted (its fingerprint, or any with
 * accept_certificate), and the target must trust this daemon already. */
static int add_with_address(struct daemon *d, const char *name, const char *address,
			    const char *want_fp, bool accept, bool probe_only,
			    json_object **ret_envelope, struct err **err)
{
	_cleanup_free_ char *base = NULL, *pem = NULL;
	_cleanup_migration_http_ struct migration_http *h = NULL;
	char fp[API_FINGERPRINT_SIZE];
	int r;

	r = base_of(address, &base, err);
	if (r < 0)
		return r;
	r = probe(base, &pem, err);
	if (r < 0)
		return r;
	r = api_fingerprint_pem(pem, fp, err);
	if (r < 0)
		return r;
	if (probe_only) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "addr", json_object_new_string(base));
		json_object_object_add(o, "fingerprint", json_object_new_string(fp));
		json_object_object_add(o, "certificate", json_object_new_string(pem));
		*ret_envelope = api_sync(o);
		return 200;
	}
	if (want_fp && *want_fp && strcmp(want_fp, fp) != 0)
		return err_set(err, -EPERM,
			       "The certificate of %s has fingerprint %s, not %s as accepted", base,
			       fp, want_fp);
	if ((!want_fp || !*want_fp) && !accept)
		return err_set(err, -EPERM,
			       "The certificate of %s has fingerprint %s: accept it first (pass "
			       "--accept-certificate after checking it)",
			       base, fp);
	r = open_peer(d, base, pem, &h, err);
	if (r < 0)
		return r;
	r = check_trusted(h, base, err);
	if (r < 0)
		return r;
	return store(d, name, base, pem, fp, ret_envelope, err);
}

HANDLER(handle_remotes_create)
{
	_cleanup_(db_remote_donep) struct db_remote existing = {0};
	const char *name = NULL, *token = NULL, *address = NULL, *fp = NULL;
	bool accept = false, probe_only = false;
	int r;

	r = local_only(req, err);
	if (r < 0)
		return r;
	if (!req->body)
		return err_set(err, -EINVAL, "The request needs a JSON body");
	if ((r = body_string(req->body, "name", false, &name, err)) < 0 ||
	    (r = body_string(req->body, "token", false, &token, err)) < 0 ||
	    (r = body_string(req->body, "addr", false, &address, err)) < 0 ||
	    (r = body_string(req->body, "fingerprint", false, &fp, err)) < 0 ||
	    (r = body_bool(req->body, "accept_certificate", &accept, err)) < 0 ||
	    (r = body_bool(req->body, "probe", &probe_only, err)) < 0)
		return r;
	if (probe_only) {
		if (!address || !*address)
			return err_set(err, -EINVAL, "A probe needs \"addr\"");
		return add_with_address(d, NULL, address, NULL, false, true, ret_envelope, err);
	}
	if (!name || !*name)
		return err_set(err, -EINVAL, "A remote needs a name");
	/* The name is what snapshots.copy.target names, so it follows the key's rules. */
	{
		_cleanup_err_ struct err *e = NULL;

		r = config_key_validate("snapshots.copy.target", name, &e);
		if (r < 0 || strchr(name, ':'))
			return err_set(err, -EINVAL,
				       "Invalid remote name \"%s\": 1 to 63 letters, digits, '-', "
				       "'_' and '.', not starting with '-' or '.'",
				       name);
	}
	if (db_remote_get(d->env.db, name, &existing, NULL) == 0)
		return err_set(err, -EEXIST, "Remote \"%s\" exists already", name);
	if ((token && *token) == (address && *address))
		return err_set(err, -EINVAL, "Give either \"token\" or \"addr\"");
	if (token && *token)
		return add_with_token(d, name, token, ret_envelope, err);
	return add_with_address(d, name, address, fp, accept, false, ret_envelope, err);
}
