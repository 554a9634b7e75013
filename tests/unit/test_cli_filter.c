/* `cairn list` filters and column specifications: parsing, Incus' matching rules, and every
 * mistake being an error rather than an empty table. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cairn/cli.h"
#include "cmd/cairn/filter.h"
#include "common/cleanup.h"
#include "common/err.h"

/* Five instances as GET /1.0/instances?recursion=2 gives them. */
static const char instances_json[] =
    "["
    "{\"name\": \"web1\", \"type\": \"container\", \"status\": \"Running\","
    " \"architecture\": \"x86_64\", \"location\": \"none\","
    " \"config\": {\"user.tier\": \"front\"},"
    " \"expanded_config\": {\"user.tier\": \"front\", \"limits.memory\": \"256MiB\","
    "   \"security.privileged\": \"false\"},"
    " \"state\": {\"network\": {\"eth0\": {\"addresses\": ["
    "   {\"family\": \"inet\", \"address\": \"10.0.3.15\"},"
    "   {\"family\": \"inet6\", \"address\": \"fd42::15\"}]}}}},"
    "{\"name\": \"web2\", \"type\": \"container\", \"status\": \"Stopped\","
    " \"architecture\": \"x86_64\", \"config\": {\"user.tier\": \"front-b\"}},"
    "{\"name\": \"webby\", \"type\": \"\", \"status\": \"Frozen\", \"architecture\": \"aarch64\","
    " \"expanded_config\": {\"user.tier\": \"back\", \"security.privileged\": \"true\","
    "   \"user.note\": \"a(b\"}},"
    "{\"name\": \"db\", \"type\": \"container\", \"status\": \"Running\","
    " \"architecture\": \"x86_64\", \"expanded_config\": {\"user.tier\": \"back\"}},"
    "{\"name\": \"adb01\", \"type\": \"container\", \"status\": \"Stopped\","
    " \"architecture\": \"x86_64\", \"expanded_config\": {}}"
    "]";

static json_object *list;

static int setup(void **state)
{
	(void)state;
	list = json_tokener_parse(instances_json);
	return list ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	json_object_put(list);
	return 0;
}

/* The names of the instances that the space-separated filters keep, space-separated. */
static char *matching(const char *line)
{
	_cleanup_strv_ char **argv = NULL;
	_cleanup_err_ struct err *e = NULL;
	struct cli_filters *f = NULL;
	size_t argc = 0;
	char buf[256] = "";

	assert_int_equal(cli_split_line(line, &argv, &argc, NULL), 0);
	if (cli_filters_parse(argv, argc, &f, &e) < 0)
		fail_msg("\"%s\" refused: %s", line, e->msg);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *inst = json_object_array_get_idx(list, i);

		if (cli_filters_match(f, inst)) {
			if (*buf)
				strcat(buf, " ");
			strcat(buf, json_object_get_string(json_object_object_get(inst, "name")));
		}
	}
	cli_filters_free(f);
	return strdup(buf);
}

#define assert_matches(line, want)                                                                 \
	do {                                                                                       \
		_cleanup_free_ char *got_ = matching(line);                                        \
		if (strcmp(got_, want) != 0)                                                       \
			fail_msg("%s: got \"%s\", wanted \"%s\"", line, got_, want);               \
	} while (0)

static void assert_refused(const char *line, const char *needle)
{
	_cleanup_strv_ char **argv = NULL;
	_cleanup_err_ struct err *e = NULL;
	struct cli_filters *f = NULL;
	size_t argc = 0;

	assert_int_equal(cli_split_line(line, &argv, &argc, NULL), 0);
	if (cli_filters_parse(argv, argc, &f, &e) != -EINVAL)
		fail_msg("\"%s\" was accepted", line);
	assert_null(f);
	if (!strstr(e->msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, needle);
}

static void test_names(void **state)
{
	(void)state;
	assert_matches("", "web1 web2 webby db adb01");
	assert_matches("web", "web1 web2 webby"); /* a literal prefix */
	assert_matches("web1", "web1");
	assert_matches("db", "db"); /* anchored: adb01 holds "db" but does not start with it */
	assert_matches("web.", "web1 web2");	 /* ^web.$ */
	assert_matches("web[0-9]", "web1 web2"); /* ^web[0-9]$ */
	assert_matches(".*b", "db");		 /* ^.*b$ */
	assert_matches(".*by", "webby");
	assert_matches("'.*db.*01$'", "adb01");	   /* "$" given: not anchored at the start */
	assert_matches("'b0'", "");		   /* neither a match nor a prefix */
	assert_matches("'^w'", "web1 web2 webby"); /* "^" given: a search */
	assert_matches("'1$'", "web1 adb01");	   /* likewise */
	assert_matches("'web1|db'", "web1 db");	   /* ^web1|db$ as Incus builds it */
	assert_matches("nothing", "");
	assert_matches("WEB", ""); /* names are matched with their case */
}

static void test_shorthands(void **state)
{
	(void)state;
	assert_matches("status=running", "web1 db");
	assert_matches("status=RUNNING", "web1 db");
	assert_matches("state=Stopped", "web2 adb01");
	assert_matches("STATUS=frozen", "webby");
	assert_matches("status=running,frozen", "web1 webby db");
	assert_matches("type=container", "web1 web2 webby db adb01"); /* "" counts as container */
	assert_matches("type=virtual-machine", "");
	assert_matches("architecture=aarch64", "webby");
	assert_matches("location=NONE", "web1");
	assert_matches("ipv4=10.0.3.15", "web1");
	assert_matches("ipv4=10.0.0.0/16", "web1");
	assert_matches("ipv4=10.1.0.0/16", "");
	assert_matches("ipv4=10.0.3.16/30", "");
	assert_matches("ipv4=10.0.3.14/31", "web1");
	assert_matches("ipv4=10.0.3.14/30", "web1");
	assert_matches("ipv6=fd42::/64", "web1");
	assert_matches("ipv6=fd42::16", "");
}

static void test_config(void **state)
{
	(void)state;
	assert_matches("user.tier=front", "web1");   /* anchored: not "front-b" */
	assert_matches("user.tier=front-b", "web2"); /* config, when there is no expanded_config */
	assert_matches("user.tier=back", "webby db");
	assert_matches("u.tier=back", "webby db"); /* abbreviated namespace */
	assert_matches("u.t=back", "webby db");	   /* every part may be abbreviated */
	assert_matches("user.tier=fr.*", "web1 web2");
	assert_matches("user.tier=front.+", "web2");
	assert_matches("user.tier=fro", ""); /* anchored: no substring match */
	assert_matches("'user.tier=^fr'", "web1 web2");
	assert_matches("s.privileged=true", "webby");
	assert_matches("security.privileged=false", "web1");
	assert_matches("limits.memory=256MiB", "web1");
	assert_matches("user.note=a(b", "webby"); /* not an expression: compared literally */
	assert_matches("user.missing=", "web1 web2 webby db adb01"); /* unset counts as "" */
	assert_matches("user.missing=x", "");
}

static void test_and(void **state)
{
	(void)state;
	assert_matches("type=container status=running", "web1 db");
	assert_matches("web status=running", "web1");
	assert_matches("status=running user.tier=back", "db");
	assert_matches("web user.tier=back status=frozen", "webby");
	assert_matches("web db", "");
}

static void test_refused(void **state)
{
	(void)state;
	assert_refused("c[", "Invalid filter \"c[\": not a valid regular expression");
	assert_refused("'web('", "not a valid regular expression");
	assert_refused("web '*x'", "Invalid filter \"*x\"");
	assert_refused("foo=bar", "unknown key \"foo\"");
	assert_refused("stauts=running", "unknown key \"stauts\" (did you mean \"status\"?)");
	assert_refused("limits.memroy=1", "(did you mean \"limits.memory\"?)");
	assert_refused("x.y=1", "unknown key \"x.y\"");
	assert_refused("user=1", "unknown key \"user\"");
	assert_refused("user.=1", "unknown key \"user.\"");
	assert_refused("=running", "no key before \"=\"");
	assert_refused("status=runing", "\"runing\" is no instance status");
	assert_refused("status=running,", "\"\" is no instance status");
	assert_refused("type=vm", "\"vm\" is no instance type");
	assert_refused("ipv4=10.0.0.300", "no IPv4 address or network");
	assert_refused("ipv4=10.0.0.0/33", "no IPv4 address or network");
	assert_refused("ipv4=fd42::1", "no IPv4 address or network");
	assert_refused("ipv6=10.0.0.1", "no IPv6 address or network");
	assert_refused("ipv4=10.0.0.0/-1", "no IPv4 address or network");
	assert_refused("status=running foo=bar", "unknown key \"foo\"");
}

/* glibc's regcomp() copies the atom of each "+" and "{m,n}", so nested repetitions multiply:
 * the first of these took 2 GB before it was refused (found by fuzz_cli), and optional copies
 * cost the square of their number. A config value that
 * large is compared literally, as any other that is no expression. */
static void test_regex_too_large(void **state)
{
	(void)state;
	assert_refused("'h+++++++++++++++++++++++++++++++++'",
		       "not a valid regular expression (too complex");
	assert_refused(
	    "'((((((((((((((((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)"
	    "+)+)+)+)+)+)+)+'",
	    "too complex");
	assert_refused("'(a{1000}){1000}'", "too complex");
	assert_refused("'a{100}{100}'", "too complex");
	assert_refused("'(a?){1001}'", "too complex"); /* 2 s and 1.5 GB at 10000 */
	assert_refused("'([ab]{2,}){5000}'", "too complex");
	assert_refused("'(((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))'",
		       "levels of parentheses");
	/* A loop over what can match nothing doubles glibc's time to compile each time: 18 of
	 * these took a second, 22 nine; with more nodes, fewer. */
	assert_refused("'(a?)*(a?)*(a?)*(a?)*(a?)*(a?)*(a?)*(a?)*(a?)*(a?)*(a?)*(a?)*(a?)*'",
		       "too many loops over what can match nothing");
	assert_refused("'a**a**a**a**a**a**a**a**a**a**a**a**a**a**a**a**'", "too complex");
	assert_matches("'a**a**a**a**a**a**a**a**a**a**db'", "db");
	assert_refused("'((a?)*){12}'", "too complex");
	assert_refused("'((a?){60}(a?)*){8}'", "too complex"); /* 1.5 s */
	assert_refused("'((a?){160}(a?)*){3}'", "too complex");
	assert_refused("'((a|b?)+x){16}'", "too complex");
	assert_refused("'((^)*b){16}'", "too complex");
	assert_refused("'(\\<*b){16}'", "too complex");
	/* What a filter reasonably holds still compiles, large bounds included. */
	assert_matches("'.*e.*'", "web1 web2 webby");
	assert_matches("'(web|db)?[0-9]*(b*y)?'", "web1 web2 webby db");
	assert_matches("'((a?)*b){10}'", "");
	assert_matches("'((a?){240}(a?)*){2}'", ""); /* 0.3 s */
	assert_matches("'web[0-9]{1,3}'", "web1 web2");
	assert_matches("'(w|d)[a-z]{1,9}[0-9]*'", "web1 web2 webby db");
	assert_matches("'[[:alpha:]]+[]0-9[:digit:]]+'", "web1 web2 adb01");
	assert_matches("'a{900}|db'", "db");
	assert_matches("'user.note=a+++++++++++++++++++++++++++++++++'", "");
	assert_matches("'user.tier=(((b+)+)+)+ack'", "webby db");
}

/* A back-reference makes glibc's matching exponential: eight "(a*)" and "\8".."\1" took 20 s
 * against a name of 63 "a". Incus' expressions have none; in brackets "\1" is two characters. */
static void test_regex_backref(void **state)
{
	(void)state;
	assert_refused("'^(a*)(a*)(a*)(a*)(a*)(a*)(a*)(a*)\\8\\7\\6\\5\\4\\3\\2\\1c$'",
		       "not a valid regular expression (back-references such as \\8 are not "
		       "supported)");
	assert_refused("'(web)\\1'", "back-references");
	assert_matches("'web[\\1]'", "web1");
	assert_matches("'web\\.*'", "");
	assert_matches("'user.tier=(b)\\1'", ""); /* a value: compared literally */
}

static void test_need_state(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	char *a[] = {"web", "status=running", NULL};
	char *b[] = {"ipv6=fd42::/64", NULL};
	struct cli_filters *f = NULL;

	(void)state;
	assert_int_equal(cli_filters_parse(a, 2, &f, &e), 0);
	assert_false(cli_filters_need_state(f));
	cli_filters_free(f);
	assert_int_equal(cli_filters_parse(b, 1, &f, &e), 0);
	assert_true(cli_filters_need_state(f));
	cli_filters_free(f);
	assert_false(cli_filters_need_state(NULL));
	assert_true(cli_filters_match(NULL, json_object_array_get_idx(list, 0)));
}

/* The letters of the parsed columns, "." for a custom one. */
static char *letters(const char *spec, struct err **err)
{
	struct cli_column *c = NULL;
	size_t n = 0;
	char *out;

	if (cli_columns_parse(spec, &c, &n, err) < 0)
		return NULL;
	out = calloc(n + 1, 1);
	for (size_t i = 0; out && i < n; i++)
		out[i] = c[i].letter ? c[i].letter : '.';
	cli_columns_free(c, n);
	return out;
}

static void test_columns(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	struct cli_column *c = NULL;
	size_t n = 0;

	(void)state;
#define LETTERS(spec, want)                                                                        \
	do {                                                                                       \
		_cleanup_free_ char *got_ = letters(spec, &e);                                     \
		assert_non_null(got_);                                                             \
		assert_string_equal(got_, want);                                                   \
	} while (0)
	LETTERS("ns", "ns");
	LETTERS("n,s", "ns");
	LETTERS("ns,46", "ns46");
	LETTERS(CLI_DEFAULT_COLUMNS, "ns46tS");
	LETTERS("46abcdefFlmMnNpPsStu", "46abcdefFlmMnNpPsStu");
	LETTERS("n,user.tier,s", "n.s");

	assert_int_equal(
	    cli_columns_parse("ns,user.comment:COMMENT:4,devices:root.pool", &c, &n, &e), 0);
	assert_int_equal(n, 4);
	assert_string_equal(c[2].key, "user.comment");
	assert_string_equal(c[2].header, "COMMENT");
	assert_int_equal(c[2].max_width, 4);
	assert_false(c[2].device);
	assert_true(c[3].device);
	assert_string_equal(c[3].key, "root.pool");
	assert_string_equal(c[3].header, "root.pool");
	assert_int_equal(c[3].max_width, -1);
	assert_false(c[0].state);
	cli_columns_free(c, n);

	assert_int_equal(cli_columns_parse("user.x::0", &c, &n, &e), 0);
	assert_int_equal(c[0].max_width, (int)strlen("user.x"));
	cli_columns_free(c, n);
	assert_int_equal(cli_columns_parse("4S", &c, &n, &e), 0);
	assert_true(c[0].state);
	assert_true(c[1].snapshots);
	cli_columns_free(c, n);

#define COL_REFUSED(spec, needle)                                                                  \
	do {                                                                                       \
		_cleanup_err_ struct err *e_ = NULL;                                               \
		assert_null(letters(spec, &e_));                                                   \
		assert_non_null(e_);                                                               \
		if (!strstr(e_->msg, needle))                                                      \
			fail_msg("%s: message \"%s\" lacks \"%s\"", spec, e_->msg, needle);        \
	} while (0)
	COL_REFUSED("nX", "Unknown column shorthand char \"X\" in \"nX\"");
	COL_REFUSED("n,,s", "Empty column entry");
	COL_REFUSED("ns,", "Empty column entry");
	COL_REFUSED("", "Empty column entry");
	COL_REFUSED("nsL", "Can't specify column L when not clustered");
	COL_REFUSED("nD", "\"D\" (disk usage) is not available");
	COL_REFUSED("nU", "\"U\" (started at) is not available");
	COL_REFUSED("n,bogus.key", "Invalid config key \"bogus.key\"");
	COL_REFUSED("user.a:b:c:d", "too many fields");
	COL_REFUSED("user.a:b:x", "Invalid max width");
	COL_REFUSED("user.a:b:-2", "Invalid max width");
	COL_REFUSED("user.a:", "Invalid name");
	COL_REFUSED("devices:root", "Unknown column shorthand char");
	COL_REFUSED("devices:.pool", "Invalid device key");
	COL_REFUSED("devices:root.", "Invalid device key");
}

/* The new columns render from what the API gives. */
static void test_render_columns(void **state)
{
	static const char one[] =
	    "[{\"name\": \"c1\", \"status\": \"Running\", \"project\": \"default\","
	    " \"profiles\": [\"default\", \"extra\"],"
	    " \"config\": {\"user.comment\": \"hello world\","
	    "   \"volatile.base_image\": \"0123456789abcdef0123\"},"
	    " \"expanded_config\": {\"limits.memory\": \"100MiB\", \"user.comment\": \"x\"},"
	    " \"devices\": {\"root\": {\"pool\": \"p1\"}},"
	    " \"state\": {\"memory\": {\"usage\": 26214400}, \"cpu\": {\"usage\": 4200000000}}}]";
	_cleanup_json_ json_object *l = json_tokener_parse(one);
	_cleanup_err_ struct err *e = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int r;

	(void)state;
	r = cli_render_instance_list(out, l, CLI_FORMAT_CSV,
				     "nefFMu,user.comment:C:5,devices:root.pool,P", &e);
	fclose(out);
	assert_int_equal(r, 0);
	assert_string_equal(text, "c1,default,0123456789ab,0123456789abcdef0123,25.0%,4s,hello,p1,"
				  "\"default\nextra\"\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),	  cmocka_unit_test(test_shorthands),
	    cmocka_unit_test(test_config),	  cmocka_unit_test(test_and),
	    cmocka_unit_test(test_refused),	  cmocka_unit_test(test_regex_too_large),
	    cmocka_unit_test(test_regex_backref), cmocka_unit_test(test_need_state),
	    cmocka_unit_test(test_columns),	  cmocka_unit_test(test_render_columns),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
