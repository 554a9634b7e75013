#include "api/trust.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/sha256.h"
#include "common/util.h"

/* A DNS name as a remote may give it: labels of letters, digits and '-', dot-separated, none
 * starting or ending with '-' (RFC 1123: "-x" is no host, and a resolver may refuse it). */
static bool hostname_valid(const char *s)
{
	size_t label = 0;

	if (!*s || strlen(s) > 253)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return false;
		if (label == 0 && *p == '-')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[strlen(s) - 1] != '-';
}

int api_address_parse(const char *s, bool hostnames, char **ret_host, unsigned *ret_port,
		      struct err **err)
{
	_cleanup_free_ char *host = NULL;
	const char *port_text = NULL;
	unsigned long port = API_DEFAULT_PORT;
	unsigned char buf[sizeof(struct in6_addr)];

	if (!s || !*s)
		return err_set(err, -EINVAL, "Invalid address \"\": it is empty");
	if (strlen(s) > 300)
		return err_set(err, -EINVAL, "Invalid address: it is too long");
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close)
			return err_set(err, -EINVAL, "Invalid address \"%s\": no closing bracket",
				       s);
		host = strndup(s + 1, (size_t)(close - s - 1));
		if (!host)
			return err_set(err, -ENOMEM, "Out of memory");
		if (inet_pton(AF_INET6, host, buf) != 1)
			return err_set(err, -EINVAL,
				       "Invalid address \"%s\": \"%s\" is not an IPv6 address", s,
				       host);
		if (close[1] == ':')
			port_text = close + 2;
		else if (close[1])
			return err_set(err, -EINVAL,
				       "Invalid address \"%s\": expected \":PORT\" after \"]\"", s);
	} else {
		const char *colon = strchr(s, ':');

		if (colon && strchr(colon + 1, ':'))
			return err_set(err, -EINVAL,
				       "Invalid address \"%s\": an IPv6 address goes in brackets "
				       "([ADDRESS]:PORT)",
				       s);
		host = colon ? strndup(s, (size_t)(colon - s)) : strdup(s);
		if (!host)
			return err_set(err, -ENOMEM, "Out of memory");
		if (colon)
			port_text = colon + 1;
		if (inet_pton(AF_INET, host, buf) != 1 && !(hostnames && hostname_valid(host)))
			return err_set(err, -EINVAL,
				       "Invalid address \"%s\": \"%s\" is not an IP address%s", s,
				       host, hostnames ? " or a host name" : "");
		/* "1.2.3" is a valid host name to the rules above but never what was meant. */
		if (hostnames && strspn(host, "0123456789.") == strlen(host) &&
		    inet_pton(AF_INET, host, buf) != 1)
			return err_set(err, -EINVAL,
				       "Invalid address \"%s\": \"%s\" is not an IP address", s,
				       host);
	}
	if (port_text) {
		char *end = NULL;

		if (!*port_text || !isdigit((unsigned char)*port_text))
			return err_set(err, -EINVAL, "Invalid address \"%s\": bad port", s);
		errno = 0;
		port = strtoul(port_text, &end, 10);
		if (errno || *end || port < 1 || port > 65535)
			return err_set(err, -EINVAL,
				       "Invalid address \"%s\": the port must be 1 to 65535", s);
	}
	*ret_host = steal_pointer(&host);
	*ret_port = (unsigned)port;
	return 0;
}

char *api_address_format(const char *host, unsigned port)
{
	return strchr(host, ':') ? str_printf("[%s]:%u", host, port)
				 : str_printf("%s:%u", host, port);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *api_base64_encode(const void *data, size_t len)
{
	const uint8_t *in = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

int api_base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
	_cleanup_free_ uint8_t *out = malloc(len / 4 * 3 + 4);
	uint32_t acc = 0;
	size_t n = 0, bits = 0, pad = 0;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		const char *p;

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		/* Nothing but padding after padding. */
		if (pad || c == '\0' || !(p = strchr(b64, c)))
			return -EINVAL;
		acc = acc << 6 | (uint32_t)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	if (pad > 2 || bits >= 6)
		return -EINVAL;
	out[n] = 0;
	*ret = steal_pointer(&out);
	*ret_len = n;
	return 0;
}

/* Reads one DER tag and length at *p (below end): the content's start and length. */
static bool der_next(const uint8_t **p, const uint8_t *end, uint8_t *tag, const uint8_t **content,
		     size_t *len)
{
	const uint8_t *q = *p;
	size_t l;

	if (end - q < 2)
		return false;
	*tag = *q++;
	l = *q++;
	if (l & 0x80) {
		size_t n = l & 0x7f;

		if (n == 0 || n > 4 || (size_t)(end - q) < n)
			return false;
		l = 0;
		while (n--)
			l = l << 8 | *q++;
	}
	if ((size_t)(end - q) < l)
		return false;
	*content = q;
	*len = l;
	*p = q + l;
	return true;
}

int api_pem_to_der(const char *pem, uint8_t **ret, size_t *ret_len, struct err **err)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	static const char end_mark[] = "-----END CERTIFICATE-----";
	_cleanup_free_ uint8_t *der = NULL;
	const char *b, *e;
	const uint8_t *p, *content;
	size_t len = 0, clen;
	uint8_t tag;

	b = pem ? strstr(pem, begin) : NULL;
	if (!b)
		return err_set(err, -EINVAL, "Invalid certificate: no PEM certificate block");
	b += sizeof(begin) - 1;
	e = strstr(b, end_mark);
	if (!e)
		return err_set(err, -EINVAL, "Invalid certificate: the PEM block has no end");
	if (api_base64_decode(b, (size_t)(e - b), &der, &len) < 0)
		return err_set(err, -EINVAL, "Invalid certificate: the PEM block is not base64");
	p = der;
	if (!der_next(&p, der + len, &tag, &content, &clen) || tag != 0x30 || p != der + len)
		return err_set(err, -EINVAL, "Invalid certificate: not a DER certificate");
	*ret = steal_pointer(&der);
	*ret_len = len;
	return 0;
}

void api_fingerprint_der(const uint8_t *der, size_t len, char out[static API_FINGERPRINT_SIZE])
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, der, len);
	sha256_final_hex(&ctx, out);
}

int api_fingerprint_pem(const char *pem, char out[static API_FINGERPRINT_SIZE], struct err **err)
{
	_cleanup_free_ uint8_t *der = NULL;
	size_t len = 0;
	int r;

	r = api_pem_to_der(pem, &der, &len, err);
	if (r < 0)
		return r;
	api_fingerprint_der(der, len, out);
	return 0;
}

int api_certificate_pin(const uint8_t *der, size_t len, char **ret, struct err **err)
{
	const uint8_t *p = der, *end = der + len, *cert, *tbs, *field = NULL, *content;
	size_t cert_len, tbs_len, clen;
	uint8_t tag, digest[SHA256_DIGEST_SIZE];
	_cleanup_free_ char *b = NULL;
	struct sha256_ctx ctx;

	/* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
	 * serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ... } } */
	if (!der_next(&p, end, &tag, &cert, &cert_len) || tag != 0x30)
		goto bad;
	p = cert;
	if (!der_next(&p, cert + cert_len, &tag, &tbs, &tbs_len) || tag != 0x30)
		goto bad;
	p = tbs;
	for (int i = 0;; i++) {
		field = p;
		if (!der_next(&p, tbs + tbs_len, &tag, &content, &clen))
			goto bad;
		if (i == 0 && tag == 0xa0) { /* the explicit version */
			i = -1;
			continue;
		}
		if (i == 5)
			break;
	}
	if (tag != 0x30)
		goto bad;
	sha256_init(&ctx);
	sha256_update(&ctx, field, (size_t)(p - field));
	sha256_final(&ctx, digest);
	b = api_base64_encode(digest, sizeof(digest));
	if (!b)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret = str_printf("sha256//%s", b);
	return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
bad:
	return err_set(err, -EINVAL, "Invalid certificate: not an X.509 certificate");
}

bool api_fingerprint_valid(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f'))
			return false;
	return true;
}

void api_token_done(struct api_token *t)
{
	if (!t)
		return;
	free(t->client_name);
	free(t->fingerprint);
	strv_free(t->addresses);
	free(t->secret);
	*t = (struct api_token){0};
}

int api_token_encode(const struct api_token *t, char **ret, struct err **err)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	_cleanup_free_ char *expires = time_format_rfc3339(t->expires_at);
	json_object *addrs = json_object_new_array();
	const char *text;

	if (!o || !addrs || !expires) {
		json_object_put(addrs);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	for (char *const *a = t->addresses; a && *a; a++)
		json_object_array_add(addrs, json_object_new_string(*a));
	json_object_object_add(o, "client_name", json_object_new_string(t->client_name ?: ""));
	json_object_object_add(o, "fingerprint", json_object_new_string(t->fingerprint ?: ""));
	json_object_object_add(o, "addresses", addrs);
	json_object_object_add(o, "secret", json_object_new_string(t->secret ?: ""));
	json_object_object_add(o, "expires_at", json_object_new_string(expires));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	*ret = api_base64_encode(text, strlen(text));
	return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
}

/* True when string `v` holds a NUL: json-c reads "\u0000", and the C string ends there. */
static bool json_string_cut(json_object *v)
{
	return json_object_is_type(v, json_type_string) &&
	       strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v);
}

int api_token_decode(const char *text, struct api_token *ret, struct err **err)
{
	_cleanup_(api_token_done) struct api_token t = {0};
	_cleanup_free_ uint8_t *raw = NULL;
	_cleanup_json_ json_object *o = NULL;
	_cleanup_err_ struct err *e = NULL;
	json_object *addrs = NULL;
	const char *name, *fp, *secret, *expires;
	size_t len = 0;
	int r;

	if (!text || strlen(text) > 16384 ||
	    api_base64_decode(text, strlen(text), &raw, &len) < 0 || len == 0)
		return err_set(err, -EINVAL, "Invalid trust token: it is not base64");
	if (memchr(raw, '\0', len))
		return err_set(err, -EINVAL, "Invalid trust token: it is not JSON");
	o = json_tokener_parse((const char *)raw);
	if (!o || !json_object_is_type(o, json_type_object))
		return err_set(err, -EINVAL, "Invalid trust token: it is not a JSON object");
	/* cairnd reads this token from clients it does not trust yet: each string must be the
	 * whole of what was sent, not a prefix that passes the checks below. */
	json_object_object_foreach(o, key, val)
	{
		if (json_string_cut(val))
			return err_set(err, -EINVAL,
				       "Invalid trust token: a string holds a NUL character");
		(void)key;
	}
	name = api_get_string(o, "client_name");
	fp = api_get_string(o, "fingerprint");
	secret = api_get_string(o, "secret");
	expires = api_get_string(o, "expires_at");
	if (!api_fingerprint_valid(fp))
		return err_set(err, -EINVAL, "Invalid trust token: bad server fingerprint");
	if (!secret || !*secret || strlen(secret) > 128 ||
	    strspn(secret, "0123456789abcdef") != strlen(secret))
		return err_set(err, -EINVAL, "Invalid trust token: bad secret");
	if (!expires || time_parse_rfc3339(expires, &t.expires_at, &e) < 0)
		return err_set(err, -EINVAL, "Invalid trust token: bad expiry time");
	if (!json_object_object_get_ex(o, "addresses", &addrs) ||
	    !json_object_is_type(addrs, json_type_array) || json_object_array_length(addrs) == 0)
		return err_set(err, -EINVAL, "Invalid trust token: it names no address");
	for (size_t i = 0; i < json_object_array_length(addrs); i++) {
		json_object *a = json_object_array_get_idx(addrs, i);
		_cleanup_free_ char *host = NULL;
		unsigned port;

		if (!json_object_is_type(a, json_type_string) || json_string_cut(a) ||
		    api_address_parse(json_object_get_string(a), true, &host, &port, NULL) < 0)
			return err_set(err, -EINVAL, "Invalid trust token: bad address");
		r = strv_push(&t.addresses, json_object_get_string(a));
		if (r < 0)
			return err_set(err, r, "Out of memory");
	}
	t.client_name = strdup(name ? name : "");
	t.fingerprint = strdup(fp);
	t.secret = strdup(secret);
	if (!t.client_name || !t.fingerprint || !t.secret)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret = t;
	t = (struct api_token){0};
	return 0;
}

char *api_der_to_pem(const uint8_t *der, size_t len)
{
	_cleanup_free_ char *b = api_base64_encode(der, len);
	size_t blen, o = 0;
	char *out;

	if (!b)
		return NULL;
	blen = strlen(b);
	out = malloc(blen + blen / 64 + 64);
	if (!out)
		return NULL;
	o += (size_t)sprintf(out, "-----BEGIN CERTIFICATE-----\n");
	for (size_t i = 0; i < blen; i += 64) {
		size_t n = blen - i < 64 ? blen - i : 64;

		memcpy(out + o, b + i, n);
		o += n;
		out[o++] = '\n';
	}
	sprintf(out + o, "-----END CERTIFICATE-----\n");
	return out;
}
