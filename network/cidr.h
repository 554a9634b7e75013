#pragma once

/*
 * Addresses and subnets of managed networks, pure: parsing and printing CIDRs ("10.12.34.1/24",
 * "fd42:1:2:3::1/64"), overlap tests, and the choice of a free subnet for `ipv4.address=auto`
 * and `ipv6.address=auto`. No system calls: the caller passes the routes in use and the
 * randomness, so the unit tests drive every case.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

/* An address with its prefix length; `addr` holds 4 (AF_INET) or 16 (AF_INET6) bytes. */
struct net_cidr {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order */
	unsigned prefix;  /* 0..32 or 0..128 */
};

/* Longest text net_cidr_format() writes, with its NUL. */
#define NET_CIDR_MAX 50

/*
 * Parses `s` as an address of `family` (AF_INET or AF_INET6) with a prefix ("10.0.3.1/24"). The
 * address is the bridge's own, so it must be a host of its subnet: not the subnet's first
 * address (nor, for IPv4, its broadcast). IPv4 prefixes go from 8 to 30; IPv6 must be 64 (the
 * width SLAAC needs). -EINVAL with a message quoting `s` otherwise.
 */
int net_cidr_parse_host(const char *s, int family, struct net_cidr *ret, struct err **err);

/* Parses a plain address of `family` without a prefix. -EINVAL when it is not one. */
int net_addr_parse(const char *s, int family, uint8_t ret[16]);

/* Writes "ADDR/PREFIX" into buf (at least NET_CIDR_MAX bytes). */
void net_cidr_format(const struct net_cidr *c, char *buf, size_t len);

/* Writes only the address into buf (at least NET_CIDR_MAX bytes). */
void net_addr_format(int family, const uint8_t addr[16], char *buf, size_t len);

/* The subnet of `c`: its host bits cleared. */
struct net_cidr net_cidr_subnet(const struct net_cidr *c);

/* True when `a` and `b` share an address (same family, one subnet holds the other's start). */
bool net_cidr_overlap(const struct net_cidr *a, const struct net_cidr *b);

/* True when `addr` (of c's family) lies in the subnet of `c`. */
bool net_cidr_contains(const struct net_cidr *c, const uint8_t addr[16]);

/*
 * Chooses a free /24 in 10.0.0.0/8 for `ipv4.address=auto`: one that overlaps none of the `n`
 * subnets in `used` (the routes of the daemon's network namespace and the other networks). It
 * tries random candidates from `rnd` (called with `data`; any 32-bit values) first, so that two
 * hosts rarely pick the same one, then scans in order. *ret is the bridge's address, x.y.z.1/24.
 * -ENOSPC when every /24 is taken.
 */
int net_auto_ipv4(const struct net_cidr *used, size_t n, uint32_t (*rnd)(void *data), void *data,
		  struct net_cidr *ret, struct err **err);

/*
 * A random unique local /64 for `ipv6.address=auto` (RFC 4193: fd00::/8, a 40-bit global id and
 * a 16-bit subnet from `random` bytes), avoiding the `n` subnets in `used`. *ret is the bridge's
 * address, PREFIX::1/64. -ENOSPC when 64 tries all overlap.
 */
int net_auto_ipv6(const struct net_cidr *used, size_t n, uint32_t (*rnd)(void *data), void *data,
		  struct net_cidr *ret, struct err **err);

/* One IPv4 DHCP range, both ends included, host byte order. */
struct net_range {
	uint32_t start, end;
};

/*
 * Parses `ipv4.dhcp.ranges` ("10.0.3.10-10.0.3.99,10.0.3.200-10.0.3.250"), every range inside
 * the subnet of `subnet` and not holding the bridge's own address. *ret (the caller's to free)
 * holds *ret_n ranges. -EINVAL with a message quoting the bad range.
 */
int net_ranges_parse(const char *s, const struct net_cidr *subnet, struct net_range **ret,
		     size_t *ret_n, struct err **err);

/* The default DHCP range of an IPv4 subnet: from the bridge address + 1 to the last host. */
struct net_range net_range_default(const struct net_cidr *c);

/* Writes an IPv4 address given in host byte order. */
void net_ipv4_format(uint32_t a, char *buf, size_t len);
