/* The client's remote config: config.yml in and out, names and addresses. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cairn/remotes.h"
#include "common/cleanup.h"
#include "common/err.h"

static void test_parse_emit(void **state)
{
	static const char text[] = "default-remote: b\n"
				   "remotes:\n"
				   "  b:\n"
				   "    addr: https://127.0.0.1:8443\n"
				   "    protocol: incus\n"
				   "    auth_type: tls\n"
				   "  a:\n"
				   "    addr: unix:///run/x.socket\n"
				   "  local:\n"
				   "    addr: unix://\n";
	_cleanup_(cli_remotes_done) struct cli_remotes r = {0};
	_cleanup_(cli_remotes_done) struct cli_remotes again = {0};
	_cleanup_free_ char *out = NULL;

	(void)state;
	assert_int_equal(cli_remotes_parse(text, strlen(text), &r, NULL), 0);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.v[0].name, "a");
	assert_string_equal(r.v[1].name, "b");
	assert_string_equal(r.v[2].name, "local");
	assert_string_equal(cli_remotes_find(&r, "b")->addr, "https://127.0.0.1:8443");
	assert_string_equal(r.default_remote, "b");
	assert_int_equal(cli_remotes_emit(&r, &out, NULL), 0);
	assert_null(strstr(out, "local:"));
	assert_int_equal(cli_remotes_parse(out, strlen(out), &again, NULL), 0);
	assert_int_equal(again.n, 3);
	assert_string_equal(again.default_remote, "b");
	assert_int_equal(cli_remotes_remove(&again, "b", NULL), 0);
	assert_null(again.default_remote);
	assert_int_equal(cli_remotes_remove(&again, "local", NULL), -EINVAL);
	assert_int_equal(cli_remotes_add(&again, "a", "unix://", NULL), -EEXIST);
}

static void test_parse_empty(void **state)
{
	_cleanup_(cli_remotes_done) struct cli_remotes r = {0};

	(void)state;
	assert_int_equal(cli_remotes_parse("", 0, &r, NULL), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].name, "local");
	assert_null(r.default_remote);
}

static void bad_config(const char *text)
{
	_cleanup_err_ struct err *e = NULL;
	struct cli_remotes r = {0};

	assert_int_equal(cli_remotes_parse(text, strlen(text), &r, &e), -EINVAL);
	assert_non_null(e);
	assert_int_equal(r.n, 0);
}

static void test_parse_bad(void **state)
{
	(void)state;
	bad_config("default-remote: nosuch\n");
	bad_config("remotes: [1, 2]\n");
	bad_config("remotes:\n  b: {}\n");
	bad_config("remotes:\n  b:\n    addr: ftp://x\n");
	bad_config("remotes:\n  x/y:\n    addr: https://127.0.0.1\n");
	bad_config("remotes:\n  b:\n    addr: unix://relative\n");
	bad_config("- a\n");
	bad_config("a: [\n");
	/* Found by fuzz_remotes: YAML's \0 cut the address short, to another socket. */
	bad_config("remotes:\n  b:\n    addr: \"unix:///x\\0y\"\n");
	bad_config("default-remote: \"b\\0c\"\nremotes:\n  b:\n    addr: unix://\n");
}

static void test_names_and_addresses(void **state)
{
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	char *x = NULL;

	(void)state;
	assert_int_equal(cli_remote_name_valid("r2", NULL), 0);
	assert_int_equal(cli_remote_name_valid("my.host_1-b", NULL), 0);
	assert_int_equal(cli_remote_name_valid("", NULL), -EINVAL);
	assert_int_equal(cli_remote_name_valid("-x", NULL), -EINVAL);
	assert_int_equal(cli_remote_name_valid(".x", NULL), -EINVAL);
	assert_int_equal(cli_remote_name_valid("a:b", NULL), -EINVAL);
	assert_int_equal(cli_remote_name_valid("a/b", NULL), -EINVAL);
	assert_int_equal(cli_remote_addr_parse("127.0.0.1:8443", &a, NULL), 0);
	assert_string_equal(a, "https://127.0.0.1:8443");
	assert_int_equal(cli_remote_addr_parse("https://[::1]", &b, NULL), 0);
	assert_string_equal(b, "https://[::1]:8443");
	assert_int_equal(cli_remote_addr_parse("unix:///run/cairn.socket", &c, NULL), 0);
	assert_string_equal(c, "unix:///run/cairn.socket");
	assert_int_equal(cli_remote_addr_parse("example.org", &d, NULL), 0);
	assert_string_equal(d, "https://example.org:8443");
	assert_int_equal(cli_remote_addr_parse("http://127.0.0.1:1", &x, NULL), -EINVAL);
	assert_int_equal(cli_remote_addr_parse("https://127.0.0.1:1/x", &x, NULL), -EINVAL);
	assert_int_equal(cli_remote_addr_parse("unix://run", &x, NULL), -EINVAL);
	assert_int_equal(cli_remote_addr_parse("::1", &x, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_emit),
	    cmocka_unit_test(test_parse_empty),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_names_and_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
