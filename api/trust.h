#pragma once

/*
 * What client and daemon agree on to trust each other over HTTPS, all pure: network addresses
 * ("127.0.0.1:8443", "[::1]:8443"), certificate fingerprints (SHA-256 of the DER, lowercase
 * hex, as Incus shows them), the public key a client pins, and the one-time trust tokens of
 * `cairn config trust add` in Incus's format: base64 of the JSON
 * {"client_name", "fingerprint", "addresses", "secret", "expires_at"}.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

#define API_DEFAULT_PORT 8443
#define API_FINGERPRINT_SIZE 65 /* 64 hex digits and the NUL */

/*
 * Splits "HOST:PORT" into its parts: HOST is an IPv4 address, an IPv6 address in brackets, or
 * (with `hostnames`) a DNS name; PORT is 1..65535 and API_DEFAULT_PORT when left out. An IPv6
 * address comes back without its brackets. *ret_host is the caller's. -EINVAL with
 * `Invalid address "x": ...` saying what is wrong.
 */
int api_address_parse(const char *s, bool hostnames, char **ret_host, unsigned *ret_port,
		      struct err **err);

/* "HOST:PORT" again, with brackets around an IPv6 host. Caller frees; NULL when out of memory. */
char *api_address_format(const char *host, unsigned port);

/* Base64 (RFC 4648, padded). Caller frees; NULL when out of memory. */
char *api_base64_encode(const void *data, size_t len);

/* Decodes base64, skipping blanks and line breaks; -EINVAL for anything else that is not
 * base64. *ret (NUL-terminated for convenience) is the caller's. */
int api_base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len);

/*
 * The DER bytes of the first "CERTIFICATE" block of `pem`. *ret is the caller's. -EINVAL with
 * `Invalid certificate: ...` when there is none or it is not base64 or not a DER sequence.
 */
int api_pem_to_der(const char *pem, uint8_t **ret, size_t *ret_len, struct err **err);

/* The fingerprint of a DER certificate: SHA-256, 64 lowercase hex digits. */
void api_fingerprint_der(const uint8_t *der, size_t len, char out[static API_FINGERPRINT_SIZE]);

/* The fingerprint of the first certificate of `pem`; errors as api_pem_to_der(). */
int api_fingerprint_pem(const char *pem, char out[static API_FINGERPRINT_SIZE], struct err **err);

/*
 * The public key pin of a DER certificate in libcurl's form: "sha256//" and the base64 of the
 * SHA-256 of its SubjectPublicKeyInfo. Caller frees. -EINVAL when the DER is not an X.509
 * certificate.
 */
int api_certificate_pin(const uint8_t *der, size_t len, char **ret, struct err **err);

/* A trust token, decoded. */
struct api_token {
	char *client_name; /* the name the certificate gets in the trust store */
	char *fingerprint; /* the server's certificate fingerprint */
	char **addresses;  /* NULL-terminated "HOST:PORT" the server listens on */
	char *secret;	   /* 64 hex digits */
	int64_t expires_at;
};

/* Frees the contents of `t` and zeroes it; may be called twice. */
void api_token_done(struct api_token *t);

/* The token as text (base64 of its JSON). Caller frees. -ENOMEM. */
int api_token_encode(const struct api_token *t, char **ret, struct err **err);

/*
 * Reads a token: base64 of a JSON object whose fingerprint is 64 hex digits, secret is hex,
 * addresses a list of valid addresses (at least one) and expires_at RFC 3339. -EINVAL with
 * `Invalid trust token: ...` otherwise. *ret is the caller's (api_token_done()).
 */
int api_token_decode(const char *text, struct api_token *ret, struct err **err);

/* True when `s` is 64 lowercase hex digits (a full fingerprint). */
bool api_fingerprint_valid(const char *s);

/* PEM ("-----BEGIN CERTIFICATE-----", 64-column base64) of a DER certificate. Caller frees;
 * NULL when out of memory. */
char *api_der_to_pem(const uint8_t *der, size_t len);
