#pragma once

/*
 * A managed network's configuration as the kernel and dnsmasq need it, and what is rendered from
 * it, pure: the name and key checks, dnsmasq's command line and hosts file, and the nftables
 * rules. network.c applies what these functions produce.
 */

#include <stdbool.h>
#include <stddef.h>

#include "network/cidr.h"

struct err;
struct kvlist;

/* The longest network name: the bridge carries it, and Linux interface names hold 15 bytes. */
#define NETWORK_NAME_MAX 15

/* The DNS domain of a network that sets no dns.domain. */
#define NETWORK_DEFAULT_DOMAIN "cairn"

/* A network's configuration, checked. Strings point into the kvlist it was read from. */
struct network_spec {
	const char *name;
	bool has_v4;
	struct net_cidr v4; /* the bridge's IPv4 address and prefix */
	bool v4_nat;
	struct net_range *ranges; /* owned; ipv4.dhcp.ranges, NULL for the default range */
	size_t n_ranges;
	bool has_v6;
	struct net_cidr v6; /* the bridge's IPv6 address, /64 */
	bool v6_nat;
	const char *domain; /* dns.domain or NETWORK_DEFAULT_DOMAIN */
	unsigned mtu;	    /* bridge.mtu, 0 when unset */
};

/* Frees what a spec owns; may be called twice. */
void network_spec_done(struct network_spec *s);

/*
 * Checks a network name: 1 to 15 bytes of letters, digits, '-' and '_', starting with a letter
 * (it is the bridge's interface name). -EINVAL with a message quoting it otherwise.
 */
int network_name_valid(const char *name, struct err **err);

/*
 * Checks one key and value of a bridge network's config. `auto` is accepted for the address
 * keys (the daemon replaces it with the subnet it picks). Unknown keys, but user.*, are refused.
 * -EINVAL with a message naming the key.
 */
int network_key_valid(const char *key, const char *value, struct err **err);

/*
 * Reads and checks the whole config of network `name` (addresses already resolved: "auto" is
 * refused here) into *ret, which borrows the strings of `config`. -EINVAL with a message.
 */
int network_spec_read(const char *name, const struct kvlist *config, struct network_spec *ret,
		      struct err **err);

/*
 * dnsmasq's argument vector for the network (NULL-terminated, argv[0] = `dnsmasq`, the caller's
 * to free with strv_free): DHCP and router advertisements on the bridge only, DNS for the
 * network's domain answered locally, leases, pid file and hosts file in `dir`. NULL when out of
 * memory. dnsmasq drops root for `user` once its sockets are open.
 */
char **network_dnsmasq_argv(const char *dnsmasq, const char *user, const struct network_spec *s,
			    const char *dir);

/* True when the network needs dnsmasq at all (it has an IPv4 or IPv6 address). */
bool network_spec_wants_dnsmasq(const struct network_spec *s);

/* One entry of dnsmasq's hosts file: a nic's MAC, its fixed IPv4 address (may be NULL) and the
 * instance's name. */
struct network_host {
	const char *hwaddr;
	const char *ipv4;
	const char *name;
};

/* dnsmasq's --dhcp-hostsfile text for `n` hosts, one "MAC[,IP],NAME" line each. The caller
 * frees; NULL when out of memory. */
char *network_dnsmasq_hosts(const struct network_host *hosts, size_t n);

/* The nftables table that holds every cairn rule: `inet cairn`. */
#define NETWORK_NFT_TABLE "cairn"

/*
 * The nft script that sets the network's rules (`remove` false) or removes them (true): one
 * postrouting chain `pstrt.<name>` in table inet cairn with a masquerade rule for each family
 * whose nat key is true. Applying it twice is harmless. The caller frees; NULL when out of
 * memory.
 */
char *network_nft_script(const struct network_spec *s, bool remove);

/* One DHCP lease as `network list-leases` shows it. */
struct network_lease {
	char *hostname; /* "" when the client gave none */
	char *hwaddr;
	char *address;
	bool is_static; /* its MAC has a fixed address in the hosts file */
};

/* Frees `n` leases and the array. */
void network_leases_free(struct network_lease *v, size_t n);

/*
 * Reads dnsmasq's lease file text ("EXPIRY MAC IP HOSTNAME CLIENTID" lines; DHCPv6 lines after a
 * "duid" line are "EXPIRY IAID IP HOSTNAME CLIENTID") into leases, marking as static those whose
 * MAC has an address in `hosts` (the hosts file text, may be NULL: "MAC,IP,NAME" lines). Lines it
 * cannot read are skipped. *ret is the caller's (network_leases_free); NULL when out of memory.
 */
int network_leases_parse(const char *text, const char *hosts, struct network_lease **ret,
			 size_t *ret_n);
