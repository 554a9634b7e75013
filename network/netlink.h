#pragma once

/*
 * The kernel side of a managed bridge, through rtnetlink (libnl-route-3), in the daemon's own
 * network namespace: the bridge link, its addresses, and the routes that `auto` subnets must
 * avoid. Every function opens its own netlink socket, so any thread may call them.
 */

#include <stdbool.h>
#include <stddef.h>

struct err;
struct net_cidr;

/* The interface alias cairn gives the bridges it makes: a link of a network's name without it
 * is someone else's and is never touched. */
#define NETWORK_LINK_ALIAS "cairn managed bridge"

/* What a link of a given name is. */
enum netlink_link_kind {
	NETLINK_LINK_ABSENT,
	NETLINK_LINK_OURS,  /* a bridge carrying NETWORK_LINK_ALIAS */
	NETLINK_LINK_OTHER, /* any other interface */
	NETLINK_LINK_KIND_MAX,
};

/* Looks up link `name`. -EIO (with the netlink error) when the kernel cannot be asked. */
int netlink_link_kind(const char *name, enum netlink_link_kind *ret, struct err **err);

/* Creates bridge `name` carrying NETWORK_LINK_ALIAS, with `mtu` (0: the kernel's) and sets it
 * up. -EEXIST when a link of that name exists. */
int netlink_bridge_create(const char *name, unsigned mtu, struct err **err);

/* Sets the MTU (0: leaves it) of link `name` and sets it up. */
int netlink_link_setup(const char *name, unsigned mtu, struct err **err);

/* Deletes link `name` when it is ours; nothing when it is absent or not ours. `or_unmarked`: also
 * a bridge without any alias (one that a create of ours made but was stopped before it could
 * mark it; only for a name whose create the caller knows was under way). */
int netlink_bridge_delete(const char *name, bool or_unmarked, struct err **err);

/* Renames our bridge `name` to `new_name` (taking it down for the rename, up again after). */
int netlink_bridge_rename(const char *name, const char *new_name, struct err **err);

/*
 * Makes the addresses of `family` on link `name` be exactly `want` (NULL: none), leaving IPv6
 * link-local addresses alone. An IPv6 address is added without duplicate address detection: a
 * bridge without ports has no carrier, and a tentative address could not be bound by dnsmasq.
 */
int netlink_addr_sync(const char *name, int family, const struct net_cidr *want, struct err **err);

/*
 * The destinations of the routes of `family` in every table of the namespace, but the default
 * routes, link-local and multicast ones and those through link `skip` (may be NULL): the
 * subnets an `auto` choice must not overlap. *ret is the caller's to free.
 */
int netlink_routes(int family, const char *skip, struct net_cidr **ret, size_t *ret_n,
		   struct err **err);

/* Names of the bridges of cairn's (NETWORK_LINK_ALIAS) in the namespace, NULL-terminated
 * (strv_free), never NULL on success. */
int netlink_our_bridges(char ***ret, struct err **err);

struct network_link_state;

/* Fills the link fields and addresses of *ret for link `name`; ret->exists false when absent. */
int netlink_link_state(const char *name, struct network_link_state *ret, struct err **err);

struct network_iface;

/* Every link of the current thread's network namespace with its state and addresses (*ret the
 * caller's, network_ifaces_free()). */
int netlink_ifaces(struct network_iface **ret, size_t *ret_n, struct err **err);
