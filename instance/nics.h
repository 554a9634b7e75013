#pragma once

/*
 * The nics of an instance at start: each `type=nic` device of its expanded devices resolved to
 * what the LXC config needs (instance/lxcconf.h), its MAC made stable, and its name and fixed
 * address told to the managed network's dnsmasq.
 */

#include <stddef.h>

struct db_instance;
struct err;
struct instance_env;
struct instance_nic;

/* The nics of `row` and the strings they point to; free with instance_nics_done(). */
struct instance_nics {
	struct instance_nic *v;
	size_t n;
	char **owned; /* NULL-terminated strings the nics borrow */
};

void instance_nics_done(struct instance_nics *n);

/*
 * Resolves the nics of instance `row` (its expanded devices, in name order): a nic on a managed
 * network goes on that network's bridge, which must be up (-ENOENT for a missing network,
 * -ENETDOWN for one whose bridge is gone); a bridged nic on its `parent`, which must exist on
 * the host (-ENOENT). The MAC is the device's `hwaddr`, else `volatile.<device>.hwaddr`, which is
 * generated (00:16:3e:xx:xx:xx, as Incus does) and stored the first time, so it stays the same
 * across starts, restores and stateful snapshots. A nic on a managed network is then recorded
 * in its dnsmasq hosts file (name, MAC, fixed `ipv4.address`).
 */
int instance_nics_prepare(const struct instance_env *env, const struct db_instance *row,
			  struct instance_nics *ret, struct err **err);
