/* The pure pieces of `cairn webui`'s server: request parsing and the checks on Host, Origin, the
 * cookie and the token (cmd/cairn/webui_http.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cairn/webui.h"

static int parse(const char *text, struct webui_request *r)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s", text);
	return webui_request_parse(buf, r);
}

static void test_parse_good(void **state)
{
	struct webui_request r;

	(void)state;
	assert_int_equal(parse("POST /1.0/instances?recursion=1 HTTP/1.1\r\n"
			       "host:  127.0.0.1:8443 \r\n"
			       "Cookie: a=b; cairn_session=xyz\r\n"
			       "Origin: http://127.0.0.1:8443\r\n"
			       "Sec-Fetch-Site: same-origin\r\n"
			       "Content-Length: 12\r\n"
			       "X-Other: 1\r\n\r\n",
			       &r),
			 0);
	assert_string_equal(r.method, "POST");
	assert_string_equal(r.target, "/1.0/instances?recursion=1");
	assert_string_equal(r.host, "127.0.0.1:8443");
	assert_string_equal(r.origin, "http://127.0.0.1:8443");
	assert_string_equal(r.fetch_site, "same-origin");
	assert_int_equal(r.content_length, 12);
	assert_false(r.has_transfer_encoding);
	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &r), 0);
	assert_null(r.host);
	assert_int_equal(r.content_length, -1);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
	    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	    "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    "GET / HTTP/1.1\r\nCookie: a\r\nCookie: b\r\n\r\n",
	    "GET / HTTP/1.1\r\nOrigin: a\r\nOrigin: b\r\n\r\n",
	    "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
	    "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
	    "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
	    "GET / HTTP/1.1\r\n folded: x\r\n\r\n",
	    "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
	    "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
	    "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
	    "GET / HTTP/2\r\n\r\n",
	    "GET  / HTTP/1.1\r\n\r\n",
	    "GET http://evil/ HTTP/1.1\r\n\r\n",
	    "GET /a\x7f HTTP/1.1\r\n\r\n",
	    "G(T / HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.1\n\n",
	    "",
	};
	struct webui_request r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], &r), -EINVAL);
}

static void test_host_origin(void **state)
{
	(void)state;
	assert_true(webui_host_ok("127.0.0.1:8443", 8443));
	assert_true(webui_host_ok("localhost:8443", 8443));
	assert_false(webui_host_ok("127.0.0.1:8444", 8443));
	assert_false(webui_host_ok("127.0.0.1", 8443));
	assert_false(webui_host_ok("evil.example:8443", 8443));
	assert_false(webui_host_ok("127.0.0.1:8443.evil.example", 8443));
	assert_false(webui_host_ok("127.0.0.1:84430", 8443));
	assert_false(webui_host_ok(NULL, 8443));
	assert_true(webui_origin_ok("http://127.0.0.1:8443", 8443));
	assert_true(webui_origin_ok("http://localhost:8443", 8443));
	assert_false(webui_origin_ok("https://127.0.0.1:8443", 8443));
	assert_false(webui_origin_ok("http://127.0.0.1:8443/", 8443));
	assert_false(webui_origin_ok("null", 8443));
	assert_false(webui_origin_ok(NULL, 8443));
}

static void test_cookie_query(void **state)
{
	size_t len = 0;
	const char *v;

	(void)state;
	v = webui_cookie_get("a=1; cairn_session=abc; b=2", "cairn_session", &len);
	assert_non_null(v);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "abc", 3);
	assert_null(webui_cookie_get("xcairn_session=abc", "cairn_session", &len));
	assert_null(webui_cookie_get(NULL, "cairn_session", &len));
	v = webui_query_get("/?x=1&token=ff&y", "token", &len);
	assert_non_null(v);
	assert_int_equal(len, 2);
	assert_null(webui_query_get("/token=ff", "token", &len));
	assert_null(webui_query_get("/?mytoken=ff", "token", &len));
}

static void test_secret(void **state)
{
	char secret[WEBUI_SECRET_LEN + 1];
	char other[WEBUI_SECRET_LEN + 1];

	(void)state;
	memset(secret, 'a', WEBUI_SECRET_LEN);
	secret[WEBUI_SECRET_LEN] = '\0';
	memcpy(other, secret, sizeof(other));
	assert_true(webui_secret_equal(other, WEBUI_SECRET_LEN, secret));
	other[WEBUI_SECRET_LEN - 1] = 'b';
	assert_false(webui_secret_equal(other, WEBUI_SECRET_LEN, secret));
	assert_false(webui_secret_equal(secret, WEBUI_SECRET_LEN - 1, secret));
	assert_false(webui_secret_equal(NULL, 0, secret));
}

static void test_api_and_assets(void **state)
{
	(void)state;
	assert_true(webui_is_api("/1.0"));
	assert_true(webui_is_api("/1.0/instances"));
	assert_true(webui_is_api("/1.0?x"));
	assert_false(webui_is_api("/1.00"));
	assert_false(webui_is_api("/"));
	assert_non_null(webui_asset_find("/"));
	assert_non_null(webui_asset_find("/app.js"));
	assert_non_null(webui_asset_find("/style.css"));
	assert_null(webui_asset_find("/index.html/.."));
	assert_true(webui_asset_find("/")->len > 100);
}

static void test_tcp_owner(void **state)
{
	/* As /proc/net/tcp prints them on a little-endian machine: the listener on 127.0.0.1:35000
	 * (0x88B8), the browser's end (port 0xC350) owned by uid 1001, our accepted end. */
	static const char table[] =
	    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
	    "timeout inode\n"
	    "   0: 0100007F:88B8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000  "
	    "      0 1 1 0000 100 0 0 10 0\n"
	    "   1: 0100007F:C350 0100007F:88B8 01 00000000:00000000 00:00000000 00000000  1001  "
	    "      0 2 1 0000 20 4 30 10 -1\n"
	    "   2: 0100007F:88B8 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000  "
	    "      0 3 1 0000 20 4 30 10 -1\n"
	    "   3: 0A000001:C351 0100007F:88B8 01 00000000:00000000 00:00000000 00000000  1002  "
	    "      0 4 1 0000 20 4 30 10 -1\n";
	uid_t uid = 0;

	(void)state;
	if (htonl(INADDR_LOOPBACK) != 0x0100007FU)
		skip(); /* the sample is in little-endian order */
	assert_int_equal(webui_tcp_owner(table, 0xC350, 0x88B8, &uid), 0);
	assert_int_equal(uid, 1001);
	assert_int_equal(webui_tcp_owner(table, 0x88B8, 0xC350, &uid), 0);
	assert_int_equal(uid, 1000);
	/* Not from 127.0.0.1: not ours. */
	assert_int_equal(webui_tcp_owner(table, 0xC351, 0x88B8, &uid), -ENOENT);
	assert_int_equal(webui_tcp_owner(table, 0xC352, 0x88B8, &uid), -ENOENT);
	assert_int_equal(webui_tcp_owner("header\n   0: garbage\n", 1, 2, &uid), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),	cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_host_origin), cmocka_unit_test(test_cookie_query),
	    cmocka_unit_test(test_secret),	cmocka_unit_test(test_api_and_assets),
	    cmocka_unit_test(test_tcp_owner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
