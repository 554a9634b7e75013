/* The pure parts of managed networks: CIDRs, overlaps, the choice of `auto` subnets, DHCP
 * ranges, key checks, and what is rendered for dnsmasq and nftables. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/util.h"
#include "network/cidr.h"
#include "network/spec.h"

static struct net_cidr cidr4(const char *s)
{
	struct net_cidr c;

	assert_int_equal(net_cidr_parse_host(s, AF_INET, &c, NULL), 0);
	return c;
}

/* A route destination (any address of its subnet, as the kernel gives them). */
static struct net_cidr route4(const char *addr, unsigned prefix)
{
	struct net_cidr c = {.family = AF_INET, .prefix = prefix};

	assert_int_equal(net_addr_parse(addr, AF_INET, c.addr), 0);
	return c;
}

static void assert_refused(const char *s, int family, const char *needle)
{
	_cleanup_err_ struct err *e = NULL;
	struct net_cidr c;

	assert_int_equal(net_cidr_parse_host(s, family, &c, &e), -EINVAL);
	assert_non_null(e);
	if (!strstr(e->msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, needle);
}

static void test_cidr_parse(void **state)
{
	struct net_cidr c;
	char buf[NET_CIDR_MAX];

	(void)state;
	c = cidr4("10.1.2.1/24");
	net_cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.2.1/24");
	c = net_cidr_subnet(&c);
	net_cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.2.0/24");
	assert_int_equal(net_cidr_parse_host("fd42:1:2:3::1/64", AF_INET6, &c, NULL), 0);
	net_cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "fd42:1:2:3::1/64");

	assert_refused("10.1.2.1", AF_INET, "ADDRESS/PREFIX");
	assert_refused("10.1.2.1/", AF_INET, "ADDRESS/PREFIX");
	assert_refused("/24", AF_INET, "ADDRESS/PREFIX");
	assert_refused("10.1.2/24", AF_INET, "not an IPv4 address");
	assert_refused("010.1.2.1/24", AF_INET, "not an IPv4 address");
	assert_refused("300.1.2.1/24", AF_INET, "not an IPv4 address");
	assert_refused("10.1.2.1/33", AF_INET, "bad prefix");
	assert_refused("10.1.2.1/-1", AF_INET, "bad prefix");
	assert_refused("10.1.2.1/24x", AF_INET, "bad prefix");
	assert_refused("10.1.2.1/ 24", AF_INET, "bad prefix");
	assert_refused("10.1.2.1/31", AF_INET, "/8 to /30");
	assert_refused("10.1.2.1/7", AF_INET, "/8 to /30");
	assert_refused("10.1.2.0/24", AF_INET, "not the subnet itself");
	assert_refused("10.1.2.255/24", AF_INET, "broadcast");
	assert_refused("127.0.0.1/8", AF_INET, "unicast");
	assert_refused("224.0.0.1/8", AF_INET, "unicast");
	assert_refused("0.1.2.3/8", AF_INET, "unicast");
	assert_refused("fd42::1/48", AF_INET6, "/64");
	assert_refused("fe80::1/64", AF_INET6, "unicast");
	assert_refused("ff02::1/64", AF_INET6, "unicast");
	assert_refused("fd42:1:2:3::/64", AF_INET6, "not the subnet itself");
	assert_refused("10.1.2.1/24", AF_INET6, "not an IPv6 address");
	assert_refused("fd42::1/64", AF_INET, "not an IPv4 address");
}

static void test_overlap(void **state)
{
	struct net_cidr a = cidr4("10.1.2.1/24"), b = cidr4("10.1.3.1/24"),
			wide = route4("10.1.0.0", 16), far = route4("192.168.0.0", 16), v6;

	(void)state;
	assert_true(net_cidr_overlap(&a, &a));
	assert_false(net_cidr_overlap(&a, &b));
	assert_true(net_cidr_overlap(&a, &wide));
	assert_true(net_cidr_overlap(&wide, &b));
	assert_false(net_cidr_overlap(&a, &far));
	assert_int_equal(net_cidr_parse_host("fd42:1:2:3::1/64", AF_INET6, &v6, NULL), 0);
	assert_false(net_cidr_overlap(&a, &v6));
	/* A host route inside the subnet overlaps it. */
	{
		struct net_cidr host = route4("10.1.2.77", 32);

		assert_true(net_cidr_overlap(&a, &host));
	}
}

/* A "random" source that gives the values of an array in turn. */
struct seq {
	const uint32_t *v;
	size_t n, i;
};

static uint32_t next(void *data)
{
	struct seq *s = data;

	return s->v[s->i++ % s->n];
}

static void test_auto_ipv4(void **state)
{
	/* idx = value % 0xfffe + 1: 0x0101 gives 10.1.2.0/24, 0x0202 gives 10.2.3.0/24. */
	static const uint32_t values[] = {0x0101, 0x0202};
	struct seq s = {values, 2, 0};
	struct net_cidr used[] = {route4("10.1.0.0", 16)};
	struct net_cidr got;
	char buf[NET_CIDR_MAX];

	(void)state;
	assert_int_equal(net_auto_ipv4(NULL, 0, next, &s, &got, NULL), 0);
	net_cidr_format(&got, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.2.1/24");
	/* The first candidate overlaps a route: the next one is taken. */
	s.i = 0;
	assert_int_equal(net_auto_ipv4(used, 1, next, &s, &got, NULL), 0);
	net_cidr_format(&got, buf, sizeof(buf));
	assert_string_equal(buf, "10.2.3.1/24");
	/* Every random candidate taken: the scan finds the first free one. */
	{
		struct net_cidr busy[] = {route4("10.1.0.0", 16), route4("10.2.0.0", 16),
					  route4("10.0.0.0", 16)};

		s.i = 0;
		assert_int_equal(net_auto_ipv4(busy, 3, next, &s, &got, NULL), 0);
		net_cidr_format(&got, buf, sizeof(buf));
		assert_string_equal(buf, "10.3.0.1/24");
	}
	/* 10.0.0.0/8 all routed: nothing left. */
	{
		struct net_cidr all[] = {route4("10.0.0.0", 8)};
		_cleanup_err_ struct err *e = NULL;

		s.i = 0;
		assert_int_equal(net_auto_ipv4(all, 1, next, &s, &got, &e), -ENOSPC);
		assert_non_null(strstr(e->msg, "ipv4.address=CIDR"));
	}
}

static void test_auto_ipv6(void **state)
{
	static const uint32_t values[] = {0x11223344, 0x55667788};
	struct seq s = {values, 2, 0};
	struct net_cidr got, taken;
	char buf[NET_CIDR_MAX];

	(void)state;
	assert_int_equal(net_auto_ipv6(NULL, 0, next, &s, &got, NULL), 0);
	net_cidr_format(&got, buf, sizeof(buf));
	assert_string_equal(buf, "fd11:2233:4455:6677::1/64");
	/* A ULA (fd00::/8) /64 that parses back as a valid bridge address. */
	assert_int_equal(net_cidr_parse_host(buf, AF_INET6, &taken, NULL), 0);
	s.i = 0;
	assert_int_equal(net_auto_ipv6(&taken, 1, next, &s, &got, NULL), -ENOSPC);
}

static void test_ranges(void **state)
{
	struct net_cidr c = cidr4("10.1.2.1/24");
	struct net_range *v = NULL;
	struct net_range d;
	size_t n = 0;
	char a[16];

	(void)state;
	d = net_range_default(&c);
	net_ipv4_format(d.start, a, sizeof(a));
	assert_string_equal(a, "10.1.2.2");
	net_ipv4_format(d.end, a, sizeof(a));
	assert_string_equal(a, "10.1.2.254");
	/* A bridge at the top of its subnet: the range lies below it. */
	c = cidr4("10.1.2.254/24");
	d = net_range_default(&c);
	net_ipv4_format(d.start, a, sizeof(a));
	assert_string_equal(a, "10.1.2.1");
	net_ipv4_format(d.end, a, sizeof(a));
	assert_string_equal(a, "10.1.2.253");

	c = cidr4("10.1.2.1/24");
	assert_int_equal(
	    net_ranges_parse("10.1.2.10-10.1.2.20,10.1.2.100-10.1.2.100", &c, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	net_ipv4_format(v[1].start, a, sizeof(a));
	assert_string_equal(a, "10.1.2.100");
	free(v);
	assert_int_equal(net_ranges_parse("10.1.2.20-10.1.2.10", &c, &v, &n, NULL), -EINVAL);
	assert_int_equal(net_ranges_parse("10.1.3.10-10.1.3.20", &c, &v, &n, NULL), -EINVAL);
	assert_int_equal(net_ranges_parse("10.1.2.0-10.1.2.20", &c, &v, &n, NULL), -EINVAL);
	assert_int_equal(net_ranges_parse("10.1.2.1-10.1.2.20", &c, &v, &n, NULL), -EINVAL);
	assert_int_equal(net_ranges_parse("10.1.2.10", &c, &v, &n, NULL), -EINVAL);
	assert_int_equal(net_ranges_parse(",", &c, &v, &n, NULL), -EINVAL);
	assert_int_equal(net_ranges_parse("a-b", &c, &v, &n, NULL), -EINVAL);
}

static void test_names_and_keys(void **state)
{
	(void)state;
	assert_int_equal(network_name_valid("cairnbr0", NULL), 0);
	assert_int_equal(network_name_valid("a-b_c", NULL), 0);
	assert_int_equal(network_name_valid("abcdefghijklmno", NULL), 0);
	assert_int_equal(network_name_valid("abcdefghijklmnop", NULL), -EINVAL);
	assert_int_equal(network_name_valid("", NULL), -EINVAL);
	assert_int_equal(network_name_valid("0br", NULL), -EINVAL);
	assert_int_equal(network_name_valid("br.0", NULL), -EINVAL);
	assert_int_equal(network_name_valid("br/0", NULL), -EINVAL);
	assert_int_equal(network_name_valid("br 0", NULL), -EINVAL);
	assert_int_equal(network_name_valid("br0\n", NULL), -EINVAL);
	assert_int_equal(network_name_valid("-br", NULL), -EINVAL);

	assert_int_equal(network_key_valid("ipv4.address", "auto", NULL), 0);
	assert_int_equal(network_key_valid("ipv4.address", "none", NULL), 0);
	assert_int_equal(network_key_valid("ipv4.address", "10.0.3.1/24", NULL), 0);
	assert_int_equal(network_key_valid("ipv4.address", "fd42::1/64", NULL), -EINVAL);
	assert_int_equal(network_key_valid("ipv6.address", "fd42::1/64", NULL), 0);
	assert_int_equal(network_key_valid("ipv4.nat", "true", NULL), 0);
	assert_int_equal(network_key_valid("ipv4.nat", "yes please", NULL), -EINVAL);
	assert_int_equal(network_key_valid("dns.domain", "lab.example", NULL), 0);
	assert_int_equal(network_key_valid("dns.domain", "a..b", NULL), -EINVAL);
	assert_int_equal(network_key_valid("dns.domain", "a/b", NULL), -EINVAL);
	assert_int_equal(network_key_valid("dns.domain", "-a", NULL), -EINVAL);
	assert_int_equal(network_key_valid("dns.domain", "a,--conf-file=/x", NULL), -EINVAL);
	assert_int_equal(network_key_valid("bridge.mtu", "1500", NULL), 0);
	assert_int_equal(network_key_valid("bridge.mtu", "100", NULL), -EINVAL);
	assert_int_equal(network_key_valid("bridge.mtu", "1500x", NULL), -EINVAL);
	assert_int_equal(network_key_valid("user.anything", "x", NULL), 0);
	assert_int_equal(network_key_valid("user.", "x", NULL), -EINVAL);
	{
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(network_key_valid("ipv4.adress", "auto", &e), -EINVAL);
		assert_string_equal(
		    e->msg, "Unknown network key \"ipv4.adress\" (did you mean \"ipv4.address\"?)");
	}
}

static bool has(char **v, const char *s)
{
	for (; v && *v; v++)
		if (strcmp(*v, s) == 0)
			return true;
	return false;
}

static void test_dnsmasq_argv(void **state)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	_cleanup_(network_spec_done) struct network_spec s = {0};
	_cleanup_strv_ char **argv = NULL;

	(void)state;
	assert_int_equal(kvlist_set(&config, "ipv4.address", "10.1.2.1/24"), 0);
	assert_int_equal(kvlist_set(&config, "ipv6.address", "fd42:1:2:3::1/64"), 0);
	assert_int_equal(kvlist_set(&config, "dns.domain", "lab"), 0);
	assert_int_equal(kvlist_set(&config, "bridge.mtu", "1400"), 0);
	assert_int_equal(network_spec_read("br0", &config, &s, NULL), 0);
	argv = network_dnsmasq_argv("/usr/sbin/dnsmasq", "nobody", &s, "/d/networks/br0");
	assert_non_null(argv);
	assert_string_equal(argv[0], "/usr/sbin/dnsmasq");
	assert_true(has(argv, "--conf-file=/dev/null"));
	assert_true(has(argv, "--bind-interfaces"));
	assert_true(has(argv, "--interface=br0"));
	assert_true(has(argv, "--user=nobody"));
	assert_true(has(argv, "--listen-address=10.1.2.1"));
	assert_true(has(argv, "--dhcp-range=10.1.2.2,10.1.2.254,1h"));
	assert_true(has(argv, "--listen-address=fd42:1:2:3::1"));
	assert_true(has(argv, "--enable-ra"));
	assert_true(has(argv, "--dhcp-range=::,constructor:br0,ra-stateless,ra-names"));
	assert_true(has(argv, "--domain=lab"));
	assert_true(has(argv, "--local=/lab/"));
	assert_true(has(argv, "--dhcp-option-force=26,1400"));
	assert_true(has(argv, "--dhcp-leasefile=/d/networks/br0/dnsmasq.leases"));
	assert_true(has(argv, "--dhcp-hostsfile=/d/networks/br0/dnsmasq.hosts"));
	assert_true(has(argv, "--pid-file=/d/networks/br0/dnsmasq.pid"));
	strv_free(argv);
	network_spec_done(&s);

	/* IPv4 only, with ranges, default domain. */
	kvlist_done(&config);
	assert_int_equal(kvlist_set(&config, "ipv4.address", "10.1.2.1/24"), 0);
	assert_int_equal(kvlist_set(&config, "ipv6.address", "none"), 0);
	assert_int_equal(
	    kvlist_set(&config, "ipv4.dhcp.ranges", "10.1.2.10-10.1.2.20,10.1.2.30-10.1.2.40"), 0);
	assert_int_equal(network_spec_read("br0", &config, &s, NULL), 0);
	argv = network_dnsmasq_argv("dnsmasq", "dnsmasq", &s, "/d");
	assert_true(has(argv, "--dhcp-range=10.1.2.10,10.1.2.20,1h"));
	assert_true(has(argv, "--dhcp-range=10.1.2.30,10.1.2.40,1h"));
	assert_true(has(argv, "--domain=cairn"));
	assert_false(has(argv, "--enable-ra"));
	assert_true(network_spec_wants_dnsmasq(&s));
	network_spec_done(&s);

	/* "auto" must have been resolved; ranges need IPv4. */
	kvlist_done(&config);
	assert_int_equal(kvlist_set(&config, "ipv4.address", "auto"), 0);
	assert_int_equal(network_spec_read("br0", &config, &s, NULL), -EINVAL);
	kvlist_done(&config);
	assert_int_equal(kvlist_set(&config, "ipv4.address", "none"), 0);
	assert_int_equal(kvlist_set(&config, "ipv4.dhcp.ranges", "10.1.2.10-10.1.2.20"), 0);
	assert_int_equal(network_spec_read("br0", &config, &s, NULL), -EINVAL);
	kvlist_done(&config);
	assert_int_equal(network_spec_read("br0", &config, &s, NULL), 0);
	assert_false(network_spec_wants_dnsmasq(&s));
}

static void test_hosts_and_leases(void **state)
{
	const struct network_host hosts[] = {
	    {"00:16:3e:00:00:01", "10.1.2.50", "web"},
	    {"00:16:3e:00:00:02", NULL, "db"},
	};
	_cleanup_free_ char *text = network_dnsmasq_hosts(hosts, 2);
	_cleanup_free_ char *empty = network_dnsmasq_hosts(NULL, 0);
	struct network_lease *v = NULL;
	size_t n = 0;

	(void)state;
	assert_string_equal(text, "00:16:3e:00:00:01,10.1.2.50,web\n00:16:3e:00:00:02,db\n");
	assert_string_equal(empty, "");
	assert_int_equal(network_leases_parse("1795899213 00:16:3e:00:00:01 10.1.2.50 web 01:00\n"
					      "1795899214 46:9d:ad:12:79:8d 10.1.2.77 * *\n"
					      "broken line\n"
					      "duid 00:01:00:01:32:9d\n"
					      "1795899215 1234 fd42::77 web6 00:01\n",
					      text, &v, &n),
			 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].hostname, "web");
	assert_true(v[0].is_static);
	assert_string_equal(v[1].hostname, "");
	assert_false(v[1].is_static);
	network_leases_free(v, n);
	/* A MAC that the hosts file only names is not a reservation. */
	assert_int_equal(
	    network_leases_parse("1795899213 00:16:3e:00:00:02 10.1.2.51 db *\n", text, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_false(v[0].is_static);
	network_leases_free(v, n);
	assert_int_equal(network_leases_parse("1795899213 00:16:3e:00:00:01 10.1.2.50 web 01:00\n"
					      "1795899214 46:9d:ad:12:79:8d 10.1.2.77 * *\n"
					      "broken line\n"
					      "duid 00:01:00:01:32:9d\n"
					      "1795899215 1234 fd42::77 web6 00:01\n",
					      text, &v, &n),
			 0);
	assert_string_equal(v[1].address, "10.1.2.77");
	assert_string_equal(v[2].address, "fd42::77");
	assert_string_equal(v[2].hwaddr, "");
	network_leases_free(v, n);
	/* A host name that is not printable UTF-8 (the DHCP client's choice) is not passed on. */
	assert_int_equal(network_leases_parse("1795899213 00:16:3e:00:00:09 10.1.2.9 w\xff"
					      "b\x01 *\n",
					      NULL, &v, &n),
			 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].hostname, "");
	assert_string_equal(v[0].address, "10.1.2.9");
	network_leases_free(v, n);
	assert_int_equal(network_leases_parse(NULL, NULL, &v, &n), 0);
	assert_int_equal(n, 0);
	network_leases_free(v, n);
}

static void test_nft_script(void **state)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	_cleanup_(network_spec_done) struct network_spec s = {0};
	_cleanup_free_ char *up = NULL, *down = NULL, *nonat = NULL;

	(void)state;
	assert_int_equal(kvlist_set(&config, "ipv4.address", "10.1.2.1/24"), 0);
	assert_int_equal(kvlist_set(&config, "ipv4.nat", "true"), 0);
	assert_int_equal(kvlist_set(&config, "ipv6.address", "fd42:1:2:3::1/64"), 0);
	assert_int_equal(kvlist_set(&config, "ipv6.nat", "false"), 0);
	assert_int_equal(network_spec_read("br0", &config, &s, NULL), 0);
	up = network_nft_script(&s, false);
	assert_non_null(strstr(up, "flush chain inet cairn pstrt.br0\n"));
	assert_non_null(strstr(up, "ip saddr 10.1.2.0/24 ip daddr != 10.1.2.0/24 masquerade"));
	assert_null(strstr(up, "ip6 saddr"));
	down = network_nft_script(&s, true);
	assert_non_null(strstr(down, "add chain inet cairn pstrt.br0"));
	assert_non_null(strstr(down, "delete chain inet cairn pstrt.br0\n"));
	s.v4_nat = false;
	nonat = network_nft_script(&s, false);
	assert_non_null(strstr(nonat, "delete chain"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cidr_parse),	 cmocka_unit_test(test_overlap),
	    cmocka_unit_test(test_auto_ipv4),	 cmocka_unit_test(test_auto_ipv6),
	    cmocka_unit_test(test_ranges),	 cmocka_unit_test(test_names_and_keys),
	    cmocka_unit_test(test_dnsmasq_argv), cmocka_unit_test(test_hosts_and_leases),
	    cmocka_unit_test(test_nft_script),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
