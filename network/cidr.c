#include "network/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cleanup.h"
#include "common/err.h"

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

int net_addr_parse(const char *s, int family, uint8_t ret[16])
{
	uint8_t buf[16] = {0};

	/* inet_pton takes exactly dotted quads for AF_INET: no "10.1", no octal. */
	if (inet_pton(family, s, buf) != 1)
		return -EINVAL;
	memcpy(ret, buf, 16);
	return 0;
}

void net_addr_format(int family, const uint8_t addr[16], char *buf, size_t len)
{
	if (!inet_ntop(family, addr, buf, (socklen_t)len) && len)
		buf[0] = '\0';
}

void net_cidr_format(const struct net_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	net_addr_format(c->family, c->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefix);
}

struct net_cidr net_cidr_subnet(const struct net_cidr *c)
{
	struct net_cidr s = *c;

	for (unsigned bit = c->prefix; bit < addr_len(c->family) * 8; bit++)
		s.addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	return s;
}

bool net_cidr_contains(const struct net_cidr *c, const uint8_t addr[16])
{
	struct net_cidr a = {.family = c->family, .prefix = c->prefix};
	struct net_cidr sa, sc;

	memcpy(a.addr, addr, addr_len(c->family));
	sa = net_cidr_subnet(&a);
	sc = net_cidr_subnet(c);
	return memcmp(sa.addr, sc.addr, addr_len(c->family)) == 0;
}

bool net_cidr_overlap(const struct net_cidr *a, const struct net_cidr *b)
{
	const struct net_cidr *wide, *narrow;

	if (a->family != b->family)
		return false;
	/* Two prefixes overlap exactly when the wider one holds the start of the other. */
	wide = a->prefix <= b->prefix ? a : b;
	narrow = wide == a ? b : a;
	return net_cidr_contains(wide, net_cidr_subnet(narrow).addr);
}

static bool all_bits(const struct net_cidr *c, bool ones)
{
	for (unsigned bit = c->prefix; bit < addr_len(c->family) * 8; bit++) {
		bool set = c->addr[bit / 8] & (0x80u >> (bit % 8));

		if (set != ones)
			return false;
	}
	return true;
}

int net_cidr_parse_host(const char *s, int family, struct net_cidr *ret, struct err **err)
{
	const char *v = family == AF_INET ? "IPv4" : "IPv6";
	_cleanup_free_ char *addr = NULL;
	struct net_cidr c = {.family = family};
	const char *slash = strchr(s, '/');
	char *end = NULL;
	unsigned long prefix;

	if (!slash || slash == s || !slash[1])
		return err_set(err, -EINVAL,
			       "Invalid %s address \"%s\": expected ADDRESS/PREFIX (e.g. %s)", v, s,
			       family == AF_INET ? "10.0.3.1/24" : "fd42:1:2:3::1/64");
	addr = strndup(s, (size_t)(slash - s));
	if (!addr)
		return err_set(err, -ENOMEM, "Out of memory");
	if (net_addr_parse(addr, family, c.addr) < 0)
		return err_set(err, -EINVAL,
			       "Invalid %s address \"%s\": \"%s\" is not an %s address", v, s, addr,
			       v);
	errno = 0;
	prefix = strtoul(slash + 1, &end, 10);
	if (errno || *end || slash[1] < '0' || slash[1] > '9' || prefix > addr_len(family) * 8)
		return err_set(err, -EINVAL, "Invalid %s address \"%s\": bad prefix length", v, s);
	c.prefix = (unsigned)prefix;
	if (family == AF_INET && (c.prefix < 8 || c.prefix > 30))
		return err_set(err, -EINVAL,
			       "Invalid IPv4 address \"%s\": the prefix must be from /8 to /30", s);
	if (family == AF_INET6 && c.prefix != 64)
		return err_set(
		    err, -EINVAL,
		    "Invalid IPv6 address \"%s\": the prefix must be /64 (what SLAAC needs)", s);
	if (family == AF_INET && (c.addr[0] == 0 || c.addr[0] == 127 || c.addr[0] >= 224))
		return err_set(err, -EINVAL,
			       "Invalid IPv4 address \"%s\": not a unicast address for a bridge",
			       s);
	if (family == AF_INET6 &&
	    (c.addr[0] == 0xff || (c.addr[0] == 0xfe && c.addr[1] >= 0x80) || c.addr[0] == 0))
		return err_set(err, -EINVAL,
			       "Invalid IPv6 address \"%s\": not a unicast address for a bridge",
			       s);
	if (all_bits(&c, false))
		return err_set(err, -EINVAL,
			       "Invalid %s address \"%s\": the bridge needs a host address of the "
			       "subnet, not the subnet itself (e.g. .1)",
			       v, s);
	if (family == AF_INET && all_bits(&c, true))
		return err_set(
		    err, -EINVAL,
		    "Invalid IPv4 address \"%s\": that is the subnet's broadcast address", s);
	*ret = c;
	return 0;
}

static bool free_of(const struct net_cidr *c, const struct net_cidr *used, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (net_cidr_overlap(c, &used[i]))
			return false;
	return true;
}

static struct net_cidr v4_slash24(uint32_t idx)
{
	struct net_cidr c = {.family = AF_INET, .prefix = 24};

	c.addr[0] = 10;
	c.addr[1] = (uint8_t)(idx >> 8);
	c.addr[2] = (uint8_t)idx;
	c.addr[3] = 1;
	return c;
}

int net_auto_ipv4(const struct net_cidr *used, size_t n, uint32_t (*rnd)(void *data), void *data,
		  struct net_cidr *ret, struct err **err)
{
	/* 10.0.0.0/24 and 10.255.255.0/24 are the ones other tools take first; start past them. */
	for (int i = 0; i < 64; i++) {
		uint32_t idx = rnd(data) % 0xfffe + 1;
		struct net_cidr c = v4_slash24(idx);

		if (free_of(&c, used, n)) {
			*ret = c;
			return 0;
		}
	}
	for (uint32_t idx = 1; idx < 0xffff; idx++) {
		struct net_cidr c = v4_slash24(idx);

		if (free_of(&c, used, n)) {
			*ret = c;
			return 0;
		}
	}
	return err_set(err, -ENOSPC,
		       "No free /24 left in 10.0.0.0/8 for ipv4.address=auto; give one with "
		       "ipv4.address=CIDR");
}

int net_auto_ipv6(const struct net_cidr *used, size_t n, uint32_t (*rnd)(void *data), void *data,
		  struct net_cidr *ret, struct err **err)
{
	for (int i = 0; i < 64; i++) {
		struct net_cidr c = {.family = AF_INET6, .prefix = 64};
		uint32_t a = rnd(data), b = rnd(data);

		c.addr[0] = 0xfd;
		c.addr[1] = (uint8_t)(a >> 24);
		c.addr[2] = (uint8_t)(a >> 16);
		c.addr[3] = (uint8_t)(a >> 8);
		c.addr[4] = (uint8_t)a;
		c.addr[5] = (uint8_t)(b >> 24);
		c.addr[6] = (uint8_t)(b >> 16);
		c.addr[7] = (uint8_t)(b >> 8);
		c.addr[15] = 1;
		if (free_of(&c, used, n)) {
			*ret = c;
			return 0;
		}
	}
	return err_set(err, -ENOSPC,
		       "No free IPv6 subnet found for ipv6.address=auto; give one with "
		       "ipv6.address=CIDR");
}

static uint32_t v4_host(const uint8_t a[16])
{
	return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

void net_ipv4_format(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

struct net_range net_range_default(const struct net_cidr *c)
{
	uint32_t host_mask = c->prefix >= 32 ? 0 : (uint32_t)(0xffffffffu >> c->prefix);
	uint32_t self = v4_host(c->addr);
	uint32_t first = (self & ~host_mask) + 1, last = (self | host_mask) - 1;

	if (self < last)
		return (struct net_range){self + 1, last};
	return (struct net_range){first, self - 1};
}

int net_ranges_parse(const char *s, const struct net_cidr *subnet, struct net_range **ret,
		     size_t *ret_n, struct err **err)
{
	_cleanup_free_ struct net_range *v = NULL;
	_cleanup_free_ char *copy = strdup(s);
	uint32_t host_mask = (uint32_t)(0xffffffffu >> subnet->prefix);
	uint32_t self = v4_host(subnet->addr);
	uint32_t first = (self & ~host_mask) + 1, last = (self | host_mask) - 1;
	size_t n = 0;
	char *save = NULL;

	if (!copy)
		return err_set(err, -ENOMEM, "Out of memory");
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(tok, '-');
		uint8_t a[16], b[16];
		struct net_range r, *nv;

		while (*tok == ' ')
			tok++;
		if (!dash || net_addr_parse((*dash = '\0', tok), AF_INET, a) < 0 ||
		    net_addr_parse(dash + 1, AF_INET, b) < 0)
			return err_set(err, -EINVAL,
				       "Invalid ipv4.dhcp.ranges \"%s\": expected "
				       "FIRST-LAST[,FIRST-LAST...] of IPv4 addresses",
				       s);
		r = (struct net_range){v4_host(a), v4_host(b)};
		if (r.start > r.end || r.start < first || r.end > last)
			return err_set(err, -EINVAL,
				       "Invalid ipv4.dhcp.ranges \"%s\": %s-%s is not a range of "
				       "hosts of the network's subnet",
				       s, tok, dash + 1);
		if (self >= r.start && self <= r.end)
			return err_set(
			    err, -EINVAL,
			    "Invalid ipv4.dhcp.ranges \"%s\": %s-%s holds the bridge's own "
			    "address",
			    s, tok, dash + 1);
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			return err_set(err, -ENOMEM, "Out of memory");
		v = nv;
		v[n++] = r;
	}
	if (n == 0)
		return err_set(err, -EINVAL, "Invalid ipv4.dhcp.ranges \"%s\": no range", s);
	*ret = steal_pointer(&v);
	*ret_n = n;
	return 0;
}
