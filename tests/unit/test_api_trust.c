/* The pure parts of HTTPS trust: addresses, base64, fingerprints, key pins and trust tokens. */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/tls.h"
#include "api/trust.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

/* A self-signed P-256 certificate made with openssl; its fingerprint and key pin as openssl
 * computes them. */
static const char cert_pem[] = "-----BEGIN CERTIFICATE-----\n"
			       "MIIBbjCCAROgAwIBAgIUet6BOEl0CrV9j+0UprusJc23ekIwCgYIKoZIzj0EAwIw\n"
			       "DDEKMAgGA1UEAwwBdDAeFw0yNjExMjgyMDM0MDBaFw0yNjExMjkyMDM0MDBaMAwx\n"
			       "CjAIBgNVBAMMAXQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARZIq0SUIcjetIE\n"
			       "o3Ds0KC8mBCzj86ZcHLVGp+tkLVM02cL/1bWeoKZp/jtsazlLDC0XVu9TTyorArY\n"
			       "O0o2pOu+o1MwUTAdBgNVHQ4EFgQU85ze0TEUVdefpPL6hGcbdjwp8k8wHwYDVR0j\n"
			       "BBgwFoAU85ze0TEUVdefpPL6hGcbdjwp8k8wDwYDVR0TAQH/BAUwAwEB/zAKBggq\n"
			       "hkjOPQQDAgNJADBGAiEAmPvG7FNC/Ic0wM3fqngFtcCg/wELYN0MuM9boM0Qh2MC\n"
			       "IQCYf0eS46U64/i2NmMlEcqSowMvqU99f5E+u5OJp2yDsA==\n"
			       "-----END CERTIFICATE-----\n";
static const char cert_fp[] = "37703fff5971d7e3e9b27246d718633fd8755719e3075afb484fa1f796157dd5";
static const char cert_pin[] = "sha256//3x4mFSzjmOhmk/dpN/N9o3+0SiCak4faTU1nsF99aPU=";

static void check_address(const char *s, bool names, const char *host, unsigned port)
{
	_cleanup_free_ char *h = NULL;
	unsigned p = 0;

	assert_int_equal(api_address_parse(s, names, &h, &p, NULL), 0);
	assert_string_equal(h, host);
	assert_int_equal(p, port);
}

static void bad_address(const char *s, bool names)
{
	_cleanup_err_ struct err *e = NULL;
	char *h = NULL;
	unsigned p = 0;

	assert_int_equal(api_address_parse(s, names, &h, &p, &e), -EINVAL);
	assert_non_null(e);
	assert_null(h);
}

static void test_address(void **state)
{
	(void)state;
	check_address("127.0.0.1:8443", false, "127.0.0.1", 8443);
	check_address("127.0.0.1", false, "127.0.0.1", 8443);
	check_address("[::1]:443", false, "::1", 443);
	check_address("[::1]", false, "::1", 8443);
	check_address("host.example:1", true, "host.example", 1);
	bad_address("", false);
	bad_address("::1:8443", false);
	bad_address("[::1", false);
	bad_address("[::1]x", false);
	bad_address("[1.2.3.4]:1", false);
	bad_address("127.0.0.1:0", false);
	bad_address("127.0.0.1:65536", false);
	bad_address("127.0.0.1:", false);
	bad_address("127.0.0.1:-1", false);
	bad_address("127.0.0.1:1x", false);
	bad_address("localhost:1", false);
	bad_address("1.2.3:1", true);
	bad_address("a..b:1", true);
	bad_address("a_b:1", true);
	bad_address("-x/y:1", true);
	/* Found by fuzz_trust: a label that starts or ends with '-' is no host name. */
	check_address("a-b.example-1:1", true, "a-b.example-1", 1);
	bad_address("-host.example:1", true);
	bad_address("host-.example:1", true);
	bad_address("host.-example:1", true);
	bad_address("host.example-", true);
}

static void test_address_format(void **state)
{
	_cleanup_free_ char *a = api_address_format("::1", 8443);
	_cleanup_free_ char *b = api_address_format("10.0.0.1", 1);

	(void)state;
	assert_string_equal(a, "[::1]:8443");
	assert_string_equal(b, "10.0.0.1:1");
}

static void test_base64(void **state)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const coded[] = {"",		"Zg==",	    "Zm8=",    "Zm9v",
					    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

	(void)state;
	for (size_t i = 0; i < 7; i++) {
		_cleanup_free_ char *e = api_base64_encode(plain[i], strlen(plain[i]));
		_cleanup_free_ uint8_t *d = NULL;
		size_t len = 0;

		assert_string_equal(e, coded[i]);
		assert_int_equal(api_base64_decode(coded[i], strlen(coded[i]), &d, &len), 0);
		assert_int_equal(len, strlen(plain[i]));
		assert_memory_equal(d, plain[i], len);
	}
	{
		uint8_t *d = NULL;
		size_t len = 0;

		assert_int_equal(api_base64_decode("Zm9v!", 5, &d, &len), -EINVAL);
		assert_int_equal(api_base64_decode("Zg==Zg", 6, &d, &len), -EINVAL);
		assert_int_equal(api_base64_decode("Z", 1, &d, &len), -EINVAL);
	}
}

static void test_fingerprint_and_pin(void **state)
{
	_cleanup_free_ uint8_t *der = NULL;
	_cleanup_free_ char *pin = NULL;
	_cleanup_free_ char *pem = NULL;
	char fp[API_FINGERPRINT_SIZE];
	size_t len = 0;

	(void)state;
	assert_int_equal(api_fingerprint_pem(cert_pem, fp, NULL), 0);
	assert_string_equal(fp, cert_fp);
	assert_true(api_fingerprint_valid(fp));
	assert_false(api_fingerprint_valid("abc"));
	assert_int_equal(api_pem_to_der(cert_pem, &der, &len, NULL), 0);
	assert_int_equal(api_certificate_pin(der, len, &pin, NULL), 0);
	assert_string_equal(pin, cert_pin);
	/* Back to PEM and the same fingerprint. */
	pem = api_der_to_pem(der, len);
	assert_int_equal(api_fingerprint_pem(pem, fp, NULL), 0);
	assert_string_equal(fp, cert_fp);
	/* Garbage is refused, never read past its end. */
	assert_int_equal(api_fingerprint_pem("nothing", fp, NULL), -EINVAL);
	assert_int_equal(api_fingerprint_pem("-----BEGIN CERTIFICATE-----\nZm9v\n-----END "
					     "CERTIFICATE-----\n",
					     fp, NULL),
			 -EINVAL);
	for (size_t cut = 0; cut < len; cut += 7) {
		char *p = NULL;

		if (api_certificate_pin(der, cut, &p, NULL) == 0)
			free(p);
	}
}

/* cert_pem with "X509 CERTIFICATE" as its label. */
static char *x509_labelled(void)
{
	const char *body = cert_pem + strlen("-----BEGIN CERTIFICATE-----\n");
	size_t n = strstr(body, "-----END") - body;

	return str_printf("-----BEGIN X509 CERTIFICATE-----\n%.*s-----END X509 CERTIFICATE-----\n",
			  (int)n, body);
}

static void test_certificate_check(void **state)
{
	_cleanup_free_ char *x509 = x509_labelled();
	_cleanup_free_ char *both = NULL;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	assert_int_equal(api_tls_certificate_check(cert_pem, NULL), 0);
	assert_int_equal(api_tls_certificate_check("-----BEGIN CERTIFICATE-----\nZm9v\n-----END "
						   "CERTIFICATE-----\n",
						   NULL),
			 -EINVAL);
	/* Found by fuzz_trust: with a CERTIFICATE block that has no end, GnuTLS checked the
	 * "X509 CERTIFICATE" block before it, while the fingerprint is read from the other: the
	 * certificate checked must be the one trusted. */
	both = str_printf("%s%.*s", x509, (int)(strlen(cert_pem) - 10), cert_pem);
	assert_int_equal(api_tls_certificate_check(both, &e), -EINVAL);
	assert_non_null(e);
}

static void test_token(void **state)
{
	char *addrs[] = {"127.0.0.1:8443", "[::1]:8443", NULL};
	struct api_token t = {.client_name = "laptop",
			      .fingerprint = (char *)cert_fp,
			      .addresses = addrs,
			      .secret = "00ff",
			      .expires_at = 1800000000};
	_cleanup_(api_token_done) struct api_token back = {0};
	_cleanup_free_ char *text = NULL;

	(void)state;
	assert_int_equal(api_token_encode(&t, &text, NULL), 0);
	assert_int_equal(api_token_decode(text, &back, NULL), 0);
	assert_string_equal(back.client_name, "laptop");
	assert_string_equal(back.fingerprint, cert_fp);
	assert_string_equal(back.addresses[0], "127.0.0.1:8443");
	assert_string_equal(back.addresses[1], "[::1]:8443");
	assert_null(back.addresses[2]);
	assert_string_equal(back.secret, "00ff");
	assert_int_equal(back.expires_at, 1800000000);
}

static void bad_token(const char *json)
{
	_cleanup_free_ char *text = api_base64_encode(json, strlen(json));
	_cleanup_err_ struct err *e = NULL;
	struct api_token t = {0};

	assert_int_equal(api_token_decode(text, &t, &e), -EINVAL);
	assert_non_null(e);
	assert_null(t.secret);
}

static void test_token_bad(void **state)
{
	struct api_token t = {0};

	(void)state;
	assert_int_equal(api_token_decode("not base64!", &t, NULL), -EINVAL);
	assert_int_equal(api_token_decode("", &t, NULL), -EINVAL);
	bad_token("[]");
	bad_token("{}");
	bad_token(
	    "{\"fingerprint\":\"37703fff5971d7e3e9b27246d718633fd8755719e3075afb484fa1f796157dd5\","
	    "\"secret\":\"00\","
	    "\"expires_at\":\"2027-01-01T00:00:00Z\",\"addresses\":[]}");
	bad_token(
	    "{\"fingerprint\":\"37703fff5971d7e3e9b27246d718633fd8755719e3075afb484fa1f796157dd5\","
	    "\"secret\":\"zz\","
	    "\"expires_at\":\"2027-01-01T00:00:00Z\",\"addresses\":[\"127.0.0.1:1\"]}");
	bad_token(
	    "{\"fingerprint\":\"37703fff5971d7e3e9b27246d718633fd8755719e3075afb484fa1f796157dd5\","
	    "\"secret\":\"00\","
	    "\"expires_at\":\"tomorrow\",\"addresses\":[\"127.0.0.1:1\"]}");
	bad_token(
	    "{\"fingerprint\":\"37703fff5971d7e3e9b27246d718633fd8755719e3075afb484fa1f796157dd5\","
	    "\"secret\":\"00\","
	    "\"expires_at\":\"2027-01-01T00:00:00Z\",\"addresses\":[\"::1:1\"]}");
	bad_token("{\"fingerprint\":\"abc\",\"secret\":\"00\","
		  "\"expires_at\":\"2027-01-01T00:00:00Z\",\"addresses\":[\"127.0.0.1:1\"]}");
	/* Found by fuzz_trust: a \u0000 cut a string short, after which it passed. */
	bad_token(
	    "{\"fingerprint\":\"37703fff5971d7e3e9b27246d718633fd8755719e3075afb484fa1f796157dd5\","
	    "\"secret\":\"00\\u0000zz\","
	    "\"expires_at\":\"2027-01-01T00:00:00Z\",\"addresses\":[\"127.0.0.1:1\"]}");
	bad_token("{\"fingerprint\":"
		  "\"37703fff5971d7e3e9b27246d718633fd8755719e3075afb484fa1f796157dd5\\u0000\","
		  "\"secret\":\"00\","
		  "\"expires_at\":\"2027-01-01T00:00:00Z\",\"addresses\":[\"127.0.0.1:1\"]}");
	bad_token(
	    "{\"fingerprint\":\"37703fff5971d7e3e9b27246d718633fd8755719e3075afb484fa1f796157dd5\","
	    "\"secret\":\"00\",\"expires_at\":\"2027-01-01T00:00:00Z\","
	    "\"addresses\":[\"127.0.0.1:1\\u0000.example\"]}");
	bad_token(
	    "{\"client_name\":\"a\\u0000b\","
	    "\"fingerprint\":\"37703fff5971d7e3e9b27246d718633fd8755719e3075afb484fa1f796157dd5\","
	    "\"secret\":\"00\","
	    "\"expires_at\":\"2027-01-01T00:00:00Z\",\"addresses\":[\"127.0.0.1:1\"]}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_address),
	    cmocka_unit_test(test_address_format),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_fingerprint_and_pin),
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_token_bad),
	    cmocka_unit_test(test_certificate_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
