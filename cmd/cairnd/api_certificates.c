/* /1.0/certificates: the trust store of the HTTPS API and its one-time tokens (Incus's shape). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/tls.h"
#include "api/trust.h"
#include "cmd/cairnd/body.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/handlers.h"
#include "cmd/cairnd/https.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/log.h"
#include "common/util.h"
#include "config/db.h"
#include "config/keys.h"
#include "config/names.h"
#include "config/server_keys.h"
#include "config/snaprules.h"

static void db_certificate_donep(struct db_certificate *c)
{
	db_certificate_done(c);
}

static json_object *certificate_json(const struct db_certificate *c)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(c->name ? c->name : ""));
	json_object_object_add(o, "type", json_object_new_string(c->type ? c->type : "client"));
	json_object_object_add(o, "fingerprint", json_object_new_string(c->fingerprint));
	json_object_object_add(o, "certificate", json_object_new_string(c->certificate));
	json_object_object_add(o, "restricted", json_object_new_boolean(0));
	json_object_object_add(o, "projects", json_object_new_array());
	json_object_object_add(o, "description", json_object_new_string(""));
	return o;
}

HANDLER(handle_certificates_list)
{
	struct db_certificate *v = NULL;
	json_object *list;
	size_t n = 0;
	int r;

	r = db_certificate_list(d->env.db, &v, &n, err);
	if (r < 0)
		return r;
	list = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		if (request_recursion(req) > 0) {
			json_object_array_add(list, certificate_json(&v[i]));
		} else {
			char *url = str_printf("/1.0/certificates/%s", v[i].fingerprint);

			json_object_array_add(list, json_object_new_string(url ? url : ""));
			free(url);
		}
	}
	db_certificates_free(v, n);
	*ret_envelope = api_sync(list);
	return 200;
}

HANDLER(handle_certificate_get)
{
	_cleanup_(db_certificate_donep) struct db_certificate c = {0};
	int r;

	r = db_certificate_get(d->env.db, req->params[0], &c, err);
	if (r < 0)
		return r;
	*ret_envelope = api_sync(certificate_json(&c));
	return 200;
}

HANDLER(handle_certificate_delete)
{
	_cleanup_(db_certificate_donep) struct db_certificate c = {0};
	int r;

	r = db_certificate_get(d->env.db, req->params[0], &c, err);
	if (r < 0)
		return r;
	r = db_certificate_delete(d->env.db, c.fingerprint, err);
	if (r < 0)
		return r;
	log_info("Removed certificate \"%s\" (%s) from the trust store", c.name, c.fingerprint);
	*ret_envelope = api_sync(NULL);
	return 200;
}

/* A name for the trust store: the instance name rules are too strict for "laptop of Ann", so
 * any short text without control characters. */
static int check_name(const char *name, struct err **err)
{
	int r = config_text_valid("certificate name", name, err);

	if (r < 0)
		return r;
	if (strlen(name) > 255 || strchr(name, '\n') || strchr(name, '\r') || strchr(name, '\t'))
		return err_set(err, -EINVAL,
			       "Invalid certificate name: at most 255 characters on "
			       "one line");
	return 0;
}

/* The token of row `t` as a client receives it. */
static int token_text(const struct db_token *t, char **ret, struct err **err)
{
	char address[300];
	char *addresses[2] = {address, NULL};
	struct api_token tok = {
	    .client_name = t->name,
	    .fingerprint = (char *)https_fingerprint(),
	    .addresses = addresses,
	    .secret = t->secret,
	    .expires_at = t->expires_at,
	};

	https_address(address, sizeof(address));
	if (!*address)
		tok.addresses = NULL;
	return api_token_encode(&tok, ret, err);
}

static json_object *token_json(const struct db_token *t, const char *text)
{
	json_object *o = json_object_new_object();
	char *created = time_format_rfc3339(t->created_at);
	char *expires = time_format_rfc3339(t->expires_at);

	json_object_object_add(o, "client_name", json_object_new_string(t->name));
	json_object_object_add(o, "token", json_object_new_string(text ? text : ""));
	json_object_object_add(o, "created_at", json_object_new_string(created ? created : ""));
	json_object_object_add(o, "expires_at", json_object_new_string(expires ? expires : ""));
	free(created);
	free(expires);
	return o;
}

/* POST {"token": true, "name": NAME}: a one-time token for the client called NAME. */
static int create_token(struct daemon *d, const char *name, json_object **ret_envelope,
			struct err **err)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	_cleanup_free_ char *text = NULL;
	char address[300], secret[SECRET_HEX_LEN + 1];
	struct db_token t = {.name = (char *)name, .secret = secret};
	int r;

	https_address(address, sizeof(address));
	if (!*address)
		return err_set(err, -EINVAL,
			       "cairnd does not listen on the network: set core.https_address "
			       "first");
	if (secret_random_hex(secret) < 0)
		return err_set(err, -EIO, "Failed to make a secret");
	r = db_server_config_get(d->env.db, &config, err);
	if (r < 0)
		return r;
	t.created_at = time_now();
	r = config_expiry_add(config_server_get("core.trust_token_expiry",
						kvlist_get(&config, "core.trust_token_expiry")),
			      t.created_at, &t.expires_at, err);
	if (r < 0)
		return r;
	r = db_token_add(d->env.db, &t, err);
	if (r < 0)
		return r;
	r = token_text(&t, &text, err);
	if (r < 0)
		return r;
	log_info("Made a trust token for \"%s\"", name);
	*ret_envelope = api_sync(token_json(&t, text));
	return 200;
}

HANDLER(handle_certificates_create)
{
	_cleanup_free_ char *pem = NULL;
	_cleanup_(api_token_done) struct api_token tok = {0};
	const char *name = NULL, *certificate = NULL, *trust_token = NULL, *type = NULL;
	struct db_certificate c = {0};
	char fp[API_FINGERPRINT_SIZE];
	bool token = false;
	int r;

	if (!req->body)
		return err_set(err, -EINVAL, "The request needs a JSON body");
	if ((r = body_string(req->body, "name", false, &name, err)) < 0 ||
	    (r = body_string(req->body, "certificate", false, &certificate, err)) < 0 ||
	    (r = body_string(req->body, "trust_token", false, &trust_token, err)) < 0 ||
	    (r = body_string(req->body, "type", false, &type, err)) < 0 ||
	    (r = body_bool(req->body, "token", &token, err)) < 0)
		return r;
	if (name && *name && (r = check_name(name, err)) < 0)
		return r;
	if (type && *type && strcmp(type, "client") != 0)
		return err_set(err, -EINVAL,
			       "Unsupported certificate type \"%s\" (only \"client\")", type);
	/* An untrusted client may only redeem a token. */
	if (!req->trusted && (token || !trust_token || !*trust_token))
		return err_set(err, -EPERM,
			       "Forbidden: this client's certificate is not trusted by cairnd");
	if (token) {
		if (!name || !*name)
			return err_set(err, -EINVAL, "A trust token needs a client name");
		return create_token(d, name, ret_envelope, err);
	}

	if (certificate && *certificate) {
		r = api_tls_certificate_check(certificate, err);
		if (r < 0)
			return r;
		r = api_fingerprint_pem(certificate, fp, err);
		if (r < 0)
			return r;
		pem = strdup(certificate);
	} else if (req->network && req->fingerprint[0]) {
		/* The certificate the client presented: what it will be trusted by. */
		const uint8_t *der = NULL;
		size_t len = 0;

		r = request_client_certificate(req, &der, &len);
		if (r < 0)
			return err_set(err, -EINVAL, "The client presented no certificate");
		api_fingerprint_der(der, len, fp);
		pem = api_der_to_pem(der, len);
	} else {
		return err_set(err, -EINVAL,
			       "No certificate: give \"certificate\" (PEM) or connect with one");
	}
	if (!pem)
		return err_set(err, -ENOMEM, "Out of memory");
	c.fingerprint = fp;
	c.certificate = pem;
	c.type = (char *)"client";
	c.name = (char *)(name && *name ? name : NULL);

	if (trust_token && *trust_token) {
		const char *secret = trust_token;

		/* The whole token, as `cairn remote add` sends it, or only its secret. */
		if (api_token_decode(trust_token, &tok, NULL) == 0)
			secret = tok.secret;
		r = db_token_redeem(d->env.db, secret, time_now(), &c, err);
		if (r < 0) {
			log_info("Refused a trust token for certificate %s: %s", fp,
				 err_msg(*err, r));
			return r;
		}
	} else {
		if (!c.name)
			c.name = (char *)"";
		r = db_certificate_add(d->env.db, &c, err);
		if (r < 0)
			return r;
	}
	log_info("Added certificate %s to the trust store", fp);
	*ret_envelope = api_sync(NULL);
	return 200;
}

HANDLER(handle_tokens_list)
{
	struct db_token *v = NULL;
	json_object *list;
	size_t n = 0;
	int r;

	r = db_token_list(d->env.db, &v, &n, err);
	if (r < 0)
		return r;
	list = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *text = NULL;

		token_text(&v[i], &text, NULL);
		json_object_array_add(list, token_json(&v[i], text));
	}
	db_tokens_free(v, n);
	(void)req;
	*ret_envelope = api_sync(list);
	return 200;
}

HANDLER(handle_token_delete)
{
	int r = db_token_delete(d->env.db, req->params[0], err);

	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}
