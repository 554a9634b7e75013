#pragma once

/*
 * Managed networks: a Linux bridge per network with its addresses, its NAT rules in cairn's own
 * nftables table (inet cairn) and one dnsmasq for DHCP and DNS, which the daemon supervises and
 * restarts. The database row is the truth: the daemon makes the kernel match it at every start
 * (a host reboot loses bridges and rules), and the row's state makes a create or delete that the
 * daemon did not finish whole or absent at the next start (network_recover()).
 *
 * Every change runs under one lock of the manager: networks change rarely, and one at a time
 * keeps subnet choices and overlap checks free of races.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct db;
struct err;
struct kvlist;
struct network_lease;

struct network_manager;

/*
 * A manager for the networks of `db`, keeping their files under `cairn_dir`/networks. Nothing
 * runs until network_recover(), network_start_all() and network_supervisor_start(). Free with
 * network_manager_free().
 */
int network_manager_new(struct db *db, const char *cairn_dir, struct network_manager **ret,
			struct err **err);

/* Stops the supervisor thread and frees the manager; NULL accepted. The dnsmasq processes keep
 * running (instances keep their leases while the daemon restarts); the next start replaces them. */
void network_manager_free(struct network_manager *m);

/*
 * At daemon start, before anything uses a network: a row left CREATING is undone (its dnsmasq,
 * rules, bridge and directory removed, then the row), one left DELETING is finished; a bridge
 * of cairn's (NETWORK_LINK_ALIAS) or a directory under networks/ without a row is removed.
 */
int network_recover(struct network_manager *m, struct err **err);

/* Makes the kernel match every READY network (bridge, addresses, nftables rules, forwarding)
 * and starts its dnsmasq. A network that cannot be brought up is logged and skipped. */
void network_start_all(struct network_manager *m);

/* Starts the thread that restarts a dnsmasq that exits (and logs it). */
int network_supervisor_start(struct network_manager *m, struct err **err);

/*
 * Creates network `name` of `type` (NULL or "bridge"): checks the name, the keys and the
 * description, refuses a name that is taken (-EEXIST) by a network or a host interface,
 * resolves `auto` addresses (ipv4.address and ipv6.address default to auto, and then their
 * nat key to true) and refuses a subnet that overlaps another network or a route of the host
 * (-EINVAL). Then: row CREATING, directory, bridge, addresses, rules, dnsmasq, row READY. A
 * failure undoes every step, so an error leaves nothing.
 */
int network_create(struct network_manager *m, const char *name, const char *type,
		   const char *description, const struct kvlist *config, struct err **err);

/*
 * Replaces the config (and the description, unless NULL) of network `name` with the same checks
 * as a create; an address set to `auto` gets a new subnet. The kernel is changed first, then the
 * row; a failure puts the old settings back. -ENOENT for an unknown network.
 */
int network_update(struct network_manager *m, const char *name, const struct kvlist *config,
		   const char *description, struct err **err);

/* Renames network `name` (and its bridge) to `new_name`; refused (-EBUSY) while in use,
 * -EEXIST when the new name is taken by a network or a host interface. */
int network_rename(struct network_manager *m, const char *name, const char *new_name,
		   struct err **err);

/* Deletes network `name`: refused (-EBUSY, naming the users) while in use; then row DELETING,
 * dnsmasq, rules, bridge and directory removed, row gone. */
int network_delete(struct network_manager *m, const char *name, struct err **err);

/*
 * What uses network `name`, as API URLs ("/1.0/instances/c1"), NULL-terminated, never NULL on
 * success (free with strv_free). Nothing can be attached to a network yet, so the list is empty;
 * the nic devices fill it in.
 */
int network_used_by(struct network_manager *m, const char *name, char ***ret, struct err **err);

/* What the kernel says of a network's bridge (GET /1.0/networks/<name>/state). */
struct network_link_state {
	bool exists;
	bool up;
	unsigned mtu;
	char hwaddr[18];
	uint64_t rx_bytes, rx_packets, tx_bytes, tx_packets;
	char **addresses; /* "ADDR/PREFIX", NULL-terminated, owned */
};

void network_link_state_done(struct network_link_state *s);

/* Fills *ret for network `name`'s bridge. -ENOENT when there is no such network. */
int network_state(struct network_manager *m, const char *name, struct network_link_state *ret,
		  struct err **err);

/* True when the dnsmasq of network `name` runs under the supervisor. */
bool network_dnsmasq_running(struct network_manager *m, const char *name);

/* The DHCP leases of network `name` (network_leases_free()). -ENOENT for an unknown network. */
int network_leases(struct network_manager *m, const char *name, struct network_lease **ret,
		   size_t *ret_n, struct err **err);

/*
 * Checks a nic on managed network `network` before it is stored (the instance layer's
 * settings check): the network exists (-ENOENT, `Network "x" not found`), and a fixed `ipv4`
 * (may be NULL) is a host of its subnet other than the bridge's own address, on a network that
 * has IPv4 (-EINVAL). Only reads the database.
 */
int network_nic_check(struct db *db, const char *network, const char *ipv4, struct err **err);

/*
 * Records in dnsmasq's hosts file of `network` that instance `instance` has the nic `hwaddr`
 * (with the fixed address `ipv4`, may be NULL), replacing the instance's earlier line and any
 * line of that MAC, and tells dnsmasq (SIGHUP) when the file changed: the instance's DHCP
 * lease then carries its name, so NAME.<dns.domain> resolves, and `ipv4` is reserved for it.
 * -EEXIST when another instance holds `ipv4`; -ENOENT for an unknown network.
 */
int network_host_set(struct network_manager *m, const char *network, const char *instance,
		     const char *hwaddr, const char *ipv4, struct err **err);

/* Removes the lines of instance `instance` from the hosts file of every network (a deleted or
 * renamed instance), telling each dnsmasq whose file changed. Failures are logged. */
void network_host_forget(struct network_manager *m, const char *instance);

/* The bridge a nic on managed network `network` goes on (its name) when the network is up:
 * -ENOENT when there is no such network, -ENETDOWN when its bridge is missing. */
int network_bridge_ready(struct network_manager *m, const char *network, struct err **err);

/* One interface of an instance as its own network namespace shows it. */
struct network_iface {
	char name[16];
	bool loopback;
	struct network_link_state st;
};

/* Frees `n` interfaces and the array. */
void network_ifaces_free(struct network_iface *v, size_t n);

/*
 * The interfaces of the network namespace of process `pid` (an instance's init) with their
 * addresses, MTU, MAC and counters, for the API's state.network. Read by a short-lived thread
 * that joins the namespace (setns() of a network namespace is per thread), so the daemon's own
 * threads never leave theirs. -ESRCH when the process is gone.
 */
int network_instance_ifaces(pid_t pid, struct network_iface **ret, size_t *ret_n, struct err **err);
