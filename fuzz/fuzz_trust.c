/*
 * What a remote hands over before it is trusted, on arbitrary input: the input (up to its first
 * NUL) is read as a trust token, as `cairnd` reads the one an untrusted client sends with
 * POST /1.0/certificates and as `cairn remote add` reads the one a user pastes; the whole input,
 * NULs included, is base64-encoded and read as a token too, so that its JSON is fuzzed directly;
 * each line is read as a network address (`core.https_address` through the server key table and
 * the listener's parser, and a remote's address as `cairn remote add` reads it); and the input
 * is read as a PEM certificate (cairnd's check with GnuTLS, the fingerprint and the pin the
 * client keeps) and as DER. Beyond memory errors and leaks, it checks that a refusal is -EINVAL
 * with the message of its parser, that what a token decoder accepts encodes and decodes back to
 * the same token, that every string it gives is whole (no NUL cuts it) and every address in it
 * is one the client takes, that an accepted address formats back to itself, that the server key
 * table and the listener agree and the listener's host is an IP literal, that a remote address
 * reads back to itself and holds nothing a URL would read as more than a host and a port, that
 * base64 decodes what it encodes, and that a certificate GnuTLS accepts has the fingerprint of
 * the certificate GnuTLS read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <json-c/json.h>

#include "api/tls.h"
#include "api/trust.h"
#include "cmd/cairn/remotes.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/keys.h"
#include "config/server_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A refusal is -EINVAL (or -ENOMEM) with a message that starts with `prefix`; a success sets no
 * error. */
static void check_refusal(int r, struct err *e, const char *prefix)
{
	if (r >= 0) {
		if (e)
			abort();
		return;
	}
	if ((r != -EINVAL && r != -ENOMEM) || !e || !e->msg || !e->msg[0])
		abort();
	if (r == -EINVAL && prefix && strncmp(e->msg, prefix, strlen(prefix)) != 0)
		abort();
}

static bool same_str(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* A host as a URL may carry it: letters, digits, '-', '.', and ':' for IPv6 in brackets. */
static bool host_url_safe(const char *host)
{
	return *host && strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "0123456789-.:") == strlen(host);
}

/* A DNS label neither starts nor ends with '-' (RFC 1123). */
static bool host_labels_valid(const char *host)
{
	size_t n = strlen(host);

	if (strchr(host, ':'))
		return true;
	if (host[0] == '-' || host[n - 1] == '-' || strstr(host, ".-") || strstr(host, "-."))
		return false;
	return true;
}

/* The remote address `cairn remote add` makes of `s`: reads back to itself, and an HTTPS one is
 * "https://HOST:PORT" with a host that api_address_parse() takes. */
static void fuzz_remote_addr(const char *s)
{
	_cleanup_free_ char *addr = NULL, *again = NULL, *host = NULL;
	_cleanup_err_ struct err *e = NULL;
	unsigned port;
	int r = cli_remote_addr_parse(s, &addr, &e);

	check_refusal(r, e, "Invalid address");
	if (r < 0)
		return;
	if (cli_remote_addr_parse(addr, &again, NULL) < 0 || strcmp(addr, again) != 0)
		abort();
	if (str_startswith(addr, "unix://")) {
		if (strcmp(addr, s) != 0)
			abort();
		return;
	}
	if (!str_startswith(addr, "https://"))
		abort();
	if (api_address_parse(addr + 8, true, &host, &port, NULL) < 0)
		abort();
	if (!host_url_safe(host) || port < 1 || port > 65535)
		abort();
}

/* One line as an address: to listen on (no host names) and to connect to. */
static void fuzz_address(const char *line)
{
	_cleanup_free_ char *host = NULL, *named = NULL, *text = NULL, *back = NULL;
	_cleanup_err_ struct err *e = NULL, *e2 = NULL, *ek = NULL;
	unsigned port = 0, named_port = 0, back_port = 0;
	unsigned char buf[sizeof(struct in6_addr)];
	int r, rn, rk;

	r = api_address_parse(line, false, &host, &port, &e);
	check_refusal(r, e, "Invalid address");
	rn = api_address_parse(line, true, &named, &named_port, &e2);
	check_refusal(rn, e2, "Invalid address");
	/* Allowing names takes away nothing. */
	if (r == 0 && (rn < 0 || strcmp(host, named) != 0 || port != named_port))
		abort();
	if (rn == 0) {
		if ((r == 0 && (port < 1 || port > 65535)) || named_port < 1 || named_port > 65535)
			abort();
		if (!host_url_safe(named) || !host_labels_valid(named))
			abort();
		text = api_address_format(named, named_port);
		if (!text || api_address_parse(text, true, &back, &back_port, NULL) < 0 ||
		    strcmp(back, named) != 0 || back_port != named_port)
			abort();
	}
	/* The listener (https.c) fills its sockaddr with inet_pton() of the host it parsed. */
	if (r == 0 && inet_pton(strchr(host, ':') ? AF_INET6 : AF_INET, host, buf) != 1)
		abort();
	/* `cairn config set core.https_address` accepts exactly what the listener can read. */
	rk = config_server_key_validate("core.https_address", line, &ek);
	if (rk < 0 && (!ek || !ek->msg || rk != -EINVAL))
		abort();
	if (*line && rk == 0 && r < 0)
		abort();
	if (r == 0 && rk < 0 && config_text_valid("value", line, NULL) == 0)
		abort();
	fuzz_remote_addr(line);
}

/* Every string of `t` is whole and as the decoder promises; encoded, it decodes back to itself. */
static void check_token(const struct api_token *t)
{
	_cleanup_(api_token_done) struct api_token again = {0};
	_cleanup_free_ char *text = NULL;
	size_t n = 0;

	if (!t->client_name || !api_fingerprint_valid(t->fingerprint) || !t->secret ||
	    !*t->secret || strlen(t->secret) > 128 ||
	    strspn(t->secret, "0123456789abcdef") != strlen(t->secret))
		abort();
	for (char *const *a = t->addresses; a && *a; a++) {
		_cleanup_free_ char *host = NULL;
		unsigned port;

		n++;
		if (api_address_parse(*a, true, &host, &port, NULL) < 0)
			abort();
		/* The client connects to each address as a remote address. */
		fuzz_remote_addr(*a);
	}
	if (n == 0)
		abort();
	if (api_token_encode(t, &text, NULL) < 0)
		abort();
	if (api_token_decode(text, &again, NULL) < 0)
		abort();
	if (!same_str(t->client_name, again.client_name) ||
	    !same_str(t->fingerprint, again.fingerprint) || !same_str(t->secret, again.secret) ||
	    t->expires_at != again.expires_at)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!same_str(t->addresses[i], again.addresses[i]))
			abort();
	if (again.addresses[n])
		abort();
}

/* The length of string `key` of `o` as JSON has it, or -1 when it is no string. */
static long json_len(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return -1;
	return json_object_get_string_len(v);
}

/* No string of the accepted token `t` is shorter than its JSON says (a \u0000 cut it). */
static void check_whole(const char *text, const struct api_token *t)
{
	_cleanup_free_ uint8_t *raw = NULL;
	_cleanup_json_ json_object *o = NULL;
	json_object *addrs = NULL;
	size_t len = 0;

	if (api_base64_decode(text, strlen(text), &raw, &len) < 0)
		abort();
	o = json_tokener_parse((const char *)raw);
	if (!o)
		abort();
	if ((json_len(o, "client_name") >= 0 &&
	     (size_t)json_len(o, "client_name") != strlen(t->client_name)) ||
	    (size_t)json_len(o, "fingerprint") != strlen(t->fingerprint) ||
	    (size_t)json_len(o, "secret") != strlen(t->secret))
		abort();
	if (!json_object_object_get_ex(o, "addresses", &addrs))
		abort();
	for (size_t i = 0; t->addresses[i]; i++) {
		json_object *a = json_object_array_get_idx(addrs, i);

		if (!a || (size_t)json_object_get_string_len(a) != strlen(t->addresses[i]))
			abort();
	}
}

static void fuzz_token(const char *text)
{
	_cleanup_(api_token_done) struct api_token t = {0};
	_cleanup_err_ struct err *e = NULL;
	int r = api_token_decode(text, &t, &e);

	check_refusal(r, e, "Invalid trust token: ");
	if (r < 0) {
		if (t.client_name || t.fingerprint || t.secret || t.addresses)
			abort();
		return;
	}
	check_token(&t);
	check_whole(text, &t);
}

static void fuzz_base64(const uint8_t *data, size_t size, const char *text)
{
	_cleanup_free_ char *enc = api_base64_encode(data, size);
	_cleanup_free_ uint8_t *dec = NULL, *dec2 = NULL;
	_cleanup_free_ char *enc2 = NULL;
	size_t len = 0, len2 = 0;

	if (!enc)
		abort();
	if (api_base64_decode(enc, strlen(enc), &dec, &len) < 0 || len != size ||
	    (size && memcmp(dec, data, size) != 0))
		abort();
	/* The whole input as the token's base64 reaches its JSON reader. */
	fuzz_token(enc);
	/* Whatever decodes encodes to what decodes the same. */
	free(dec);
	dec = NULL;
	if (api_base64_decode(text, strlen(text), &dec, &len) < 0)
		return;
	enc2 = api_base64_encode(dec, len);
	if (!enc2 || api_base64_decode(enc2, strlen(enc2), &dec2, &len2) < 0 || len2 != len ||
	    (len && memcmp(dec, dec2, len) != 0))
		abort();
}

/* The fingerprint of the certificate GnuTLS reads from `pem`, or false: of the DER it exports,
 * the bytes it read. (gnutls_x509_crt_get_fingerprint() hashes what it parsed encoded again,
 * which differs for the non-canonical encodings GnuTLS accepts; a TLS peer's fingerprint is of
 * the bytes it sent.) */
static bool tls_fingerprint(const char *pem, char out[static API_FINGERPRINT_SIZE])
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = {.data = (unsigned char *)pem, .size = (unsigned)strlen(pem)};
	gnutls_datum_t der = {0};
	bool ok = false;

	if (gnutls_x509_crt_init(&crt) < 0)
		abort();
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) >= 0 &&
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der) >= 0) {
		api_fingerprint_der(der.data, der.size, out);
		gnutls_free(der.data);
		ok = true;
	}
	gnutls_x509_crt_deinit(crt);
	return ok;
}

static void fuzz_certificate(const uint8_t *data, size_t size, const char *pem)
{
	_cleanup_free_ uint8_t *der = NULL, *der2 = NULL;
	_cleanup_free_ char *pin = NULL, *back = NULL, *raw_pin = NULL;
	_cleanup_err_ struct err *e = NULL, *ec = NULL, *ef = NULL, *ep = NULL;
	char fp[API_FINGERPRINT_SIZE] = "", theirs[API_FINGERPRINT_SIZE] = "";
	size_t len = 0, len2 = 0;
	int r, rc, rf;

	r = api_pem_to_der(pem, &der, &len, &e);
	check_refusal(r, e, "Invalid certificate: ");
	if (r == 0) {
		rc = api_certificate_pin(der, len, &pin, &ep);
		check_refusal(rc, ep, "Invalid certificate: ");
		if (rc == 0 && (!str_startswith(pin, "sha256//") || strlen(pin) != 8 + 44))
			abort();
		back = api_der_to_pem(der, len);
		if (!back || api_pem_to_der(back, &der2, &len2, NULL) < 0 || len2 != len ||
		    memcmp(der, der2, len) != 0)
			abort();
	}
	/* cairnd checks a certificate handed in with GnuTLS, then stores the fingerprint it
	 * computes itself: both must be of the same certificate. */
	rc = api_tls_certificate_check(pem, &ec);
	check_refusal(rc, ec, "Invalid certificate: ");
	if (rc == 0) {
		rf = api_fingerprint_pem(pem, fp, &ef);
		if (rf < 0)
			abort();
		if (!tls_fingerprint(pem, theirs) || strcmp(fp, theirs) != 0)
			abort();
	}
	/* The input as DER, as the pin reads the certificate a server shows. */
	r = api_certificate_pin(data, size, &raw_pin, NULL);
	(void)r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = strndup((const char *)data, size);
	_cleanup_free_ char *lines = NULL;
	char *line;
	int n = 0;

	if (!text || size > 65536)
		return 0;
	fuzz_token(text);
	fuzz_base64(data, size, text);
	fuzz_certificate(data, size, text);
	lines = strdup(text);
	if (!lines)
		return 0;
	/* strtok_r would skip empty lines, which are addresses to refuse too. */
	for (line = lines; line && n < 16; n++) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		fuzz_address(line);
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}
