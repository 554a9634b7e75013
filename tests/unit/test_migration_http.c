/*
 * The daemon's HTTPS client (migration/http.h) without a peer: what it refuses before it
 * connects (not https, no certificate, a URL that is not the pinned peer's), a peer that is not
 * there, and the base of an operation's URL.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/tls.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "migration/http.h"
#include "migration/migration.h"

static char *pem;

static int setup(void **state)
{
	char dir[] = "/tmp/test-migration-http.XXXXXX";
	_cleanup_free_ char *cert = NULL, *key = NULL;

	(void)state;
	if (!mkdtemp(dir))
		return -1;
	cert = str_printf("%s/c.crt", dir);
	key = str_printf("%s/c.key", dir);
	if (api_tls_generate(cert, key, "peer", NULL) < 0 ||
	    file_read_all(cert, &pem, NULL, NULL) < 0)
		pem = NULL;
	unlink(cert);
	unlink(key);
	rmdir(dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(pem);
	return 0;
}

static void test_refused_before_connecting(void **state)
{
	struct migration_http *h = NULL;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	assert_int_equal(migration_http_new("http://127.0.0.1:1", "x", NULL, NULL, &h, &e),
			 -EINVAL);
	err_free(e);
	e = NULL;
	assert_int_equal(migration_http_new("https://", "x", NULL, NULL, &h, &e), -EINVAL);
	err_free(e);
	e = NULL;
	assert_int_equal(migration_http_new("https://127.0.0.1:1", NULL, NULL, NULL, &h, &e),
			 -EINVAL);
	err_free(e);
	e = NULL;
	assert_int_equal(
	    migration_http_new("https://127.0.0.1:1", "not a certificate", NULL, NULL, &h, &e),
	    -EINVAL);
	assert_null(h);
}

static void test_only_the_pinned_peer(void **state)
{
	_cleanup_(migration_http_freep) struct migration_http *h = NULL;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	if (!pem)
		skip();
	assert_int_equal(migration_http_new("https://127.0.0.1:1", pem, NULL, NULL, &h, NULL), 0);
	/* A URL handed over by someone else must be on the peer the key was pinned for. */
	assert_int_equal(
	    migration_http_json(h, "GET", "https://127.0.0.2:1/1.0/operations/x", NULL, NULL, &e),
	    -EINVAL);
	err_free(e);
	e = NULL;
	assert_int_equal(migration_http_json(h, "GET", "https://127.0.0.1:10/1.0", NULL, NULL, &e),
			 -EINVAL);
	err_free(e);
	e = NULL;
	/* Nothing listens on port 1 of the loopback. */
	assert_int_equal(migration_http_json(h, "GET", "/1.0", NULL, NULL, &e), -EHOSTUNREACH);
	assert_non_null(strstr(err_msg(e, -EHOSTUNREACH), "https://127.0.0.1:1"));
}

static void test_url_base(void **state)
{
	_cleanup_free_ char *a = migration_url_base("https://127.0.0.1:8443/1.0/operations/x");
	_cleanup_free_ char *b = migration_url_base("https://[::1]:8443");

	(void)state;
	assert_string_equal(a, "https://127.0.0.1:8443");
	assert_string_equal(b, "https://[::1]:8443");
	assert_null(migration_url_base("http://127.0.0.1/1.0"));
	assert_null(migration_url_base("https:///1.0"));
	assert_null(migration_url_base(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refused_before_connecting),
	    cmocka_unit_test(test_only_the_pinned_peer),
	    cmocka_unit_test(test_url_base),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
