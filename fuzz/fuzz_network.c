/*
 * The pure parts of managed networks on arbitrary input: the first line is tried as an IPv4
 * and an IPv6 bridge address, as ipv4.dhcp.ranges of a fixed /24, and as the value of each
 * network key and as a network name; the whole input is read as a dnsmasq lease file (with
 * itself as the hosts file). Beyond memory errors and leaks, it checks that a refusal is
 * -EINVAL with a message, that an accepted address prints back to what parses to the same
 * address, that an accepted range lies inside the subnet and leaves the bridge's address out,
 * that an accepted name is an interface name, that rendering a spec read from accepted keys
 * gives argument vectors without line breaks, and that each lease's strings are valid UTF-8
 * without control characters.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/utf8.h"
#include "common/util.h"
#include "network/cidr.h"
#include "network/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(int r, struct err *e)
{
	if (r == 0) {
		if (e)
			abort();
		return;
	}
	if ((r != -EINVAL && r != -ENOMEM) || !e || !e->msg || !e->msg[0])
		abort();
}

static void fuzz_cidr(const char *line, int family)
{
	_cleanup_err_ struct err *e = NULL;
	struct net_cidr c, again;
	char buf[NET_CIDR_MAX];
	int r = net_cidr_parse_host(line, family, &c, &e);

	check_refusal(r, e);
	if (r < 0)
		return;
	net_cidr_format(&c, buf, sizeof(buf));
	if (net_cidr_parse_host(buf, family, &again, NULL) < 0 || memcmp(&c, &again, sizeof(c)))
		abort();
	if (!net_cidr_overlap(&c, &again))
		abort();
}

static void fuzz_ranges(const char *line)
{
	static const struct net_cidr subnet = {
	    .family = AF_INET, .addr = {10, 1, 2, 1}, .prefix = 24};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ struct net_range *v = NULL;
	size_t n = 0;
	int r = net_ranges_parse(line, &subnet, &v, &n, &e);

	check_refusal(r, e);
	for (size_t i = 0; r == 0 && i < n; i++)
		if (v[i].start > v[i].end || v[i].start < 0x0a010201 || v[i].end > 0x0a0102fe ||
		    (v[i].start <= 0x0a010201 && v[i].end >= 0x0a010201))
			abort();
}

static void fuzz_keys(const char *line)
{
	static const char *const keys[] = {"ipv4.address", "ipv6.address", "ipv4.nat", "ipv6.nat",
					   "dns.domain",   "bridge.mtu",   "user.x",   "bogus"};
	_cleanup_kvlist_ struct kvlist config = {0};
	_cleanup_err_ struct err *ne = NULL;
	int r = network_name_valid(line, &ne);

	check_refusal(r, ne);
	if (r == 0 && (strlen(line) > 15 || strpbrk(line, "/ \t\n:.")))
		abort();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		_cleanup_err_ struct err *e = NULL;

		r = network_key_valid(keys[i], line, &e);
		check_refusal(r, e);
		if (r == 0 && strcmp(line, "auto") != 0 && kvlist_set(&config, keys[i], line) < 0)
			return;
	}
	{
		_cleanup_(network_spec_done) struct network_spec s = {0};
		_cleanup_err_ struct err *e = NULL;
		_cleanup_strv_ char **argv = NULL;

		r = network_spec_read("br0", &config, &s, &e);
		check_refusal(r, e);
		if (r < 0)
			return;
		argv = network_dnsmasq_argv("dnsmasq", "nobody", &s, "/d");
		for (size_t i = 0; argv && argv[i]; i++)
			if (strpbrk(argv[i], "\n\r"))
				abort();
		{
			_cleanup_free_ char *script = network_nft_script(&s, false);

			if (script && strstr(script, ";\n;"))
				abort();
		}
	}
}

static void fuzz_leases(const char *text)
{
	struct network_lease *v = NULL;
	size_t n = 0;

	if (network_leases_parse(text, text, &v, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const char *h = v[i].hostname;

		if (!utf8_valid(h, strlen(h)))
			abort();
		for (const char *p = h; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				abort();
	}
	network_leases_free(v, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = malloc(size + 1);
	_cleanup_free_ char *line = NULL;

	if (!text || size > 4096)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	line = strndup(text, strcspn(text, "\n"));
	if (!line)
		return 0;
	fuzz_cidr(line, AF_INET);
	fuzz_cidr(line, AF_INET6);
	fuzz_ranges(line);
	fuzz_keys(line);
	fuzz_leases(text);
	return 0;
}
