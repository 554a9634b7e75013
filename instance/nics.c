#include "instance/nics.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/db.h"
#include "config/devices.h"
#include "instance/instance.h"
#include "instance/lxcconf.h"
#include "network/network.h"

void instance_nics_done(struct instance_nics *n)
{
	if (!n)
		return;
	free(n->v);
	strv_free(n->owned);
	*n = (struct instance_nics){0};
}

/* A copy of `s` that lives as long as `n`; NULL when out of memory. */
static const char *keep(struct instance_nics *n, const char *s)
{
	if (strv_push(&n->owned, s) < 0)
		return NULL;
	return n->owned[strv_length(n->owned) - 1];
}

/* The stable MAC of nic `dev`: its hwaddr, else volatile.<dev>.hwaddr, made and stored when
 * missing. */
static int nic_hwaddr(const struct instance_env *env, const struct db_instance *row,
		      const char *dev, const struct kvlist *keys, char out[18], struct err **err)
{
	_cleanup_free_ char *key = str_printf("volatile.%s.hwaddr", dev);
	const char *have = kvlist_get(keys, "hwaddr");
	uint8_t b[3];
	int r;

	if (!key)
		return err_set(err, -ENOMEM, "Out of memory");
	if (!have || !*have)
		have = kvlist_get(&row->config, key);
	if (have && device_hwaddr_valid(have)) {
		snprintf(out, 18, "%s", have);
		return 0;
	}
	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		return err_set_errno(err, -errno, "Cannot make a MAC address");
	/* Xensource's prefix, as Incus and LXD use for theirs. */
	snprintf(out, 18, "00:16:3e:%02x:%02x:%02x", b[0], b[1], b[2]);
	r = db_instance_config_set(env->db, row->name, key, out, 0, err);
	if (r < 0)
		return err_wrap(err, r, "Cannot store the MAC of device \"%s\"", dev);
	return 0;
}

int instance_nics_prepare(const struct instance_env *env, const struct db_instance *row,
			  struct instance_nics *ret, struct err **err)
{
	_cleanup_(instance_nics_done) struct instance_nics n = {0};
	const struct devices *d = &row->expanded_devices;
	int r;

	for (size_t i = 0; i < d->n; i++) {
		const struct kvlist *keys = &d->items[i].keys;
		const char *type = kvlist_get(keys, "type"), *net = kvlist_get(keys, "network");
		const char *parent = kvlist_get(keys, "parent"), *mtu = kvlist_get(keys, "mtu");
		struct instance_nic nic = {0}, *grown;
		char mac[18];

		if (!type || strcmp(type, "nic") != 0)
			continue;
		if (net) {
			if (!env->networks)
				return err_set(err, -ENOENT,
					       "Device \"%s\" of instance \"%s\": managed networks "
					       "are not available",
					       d->items[i].name, row->name);
			r = network_bridge_ready(env->networks, net, err);
			if (r < 0)
				return err_wrap(err, r, "Device \"%s\" of instance \"%s\"",
						d->items[i].name, row->name);
			nic.link = keep(&n, net);
		} else {
			if (!parent || if_nametoindex(parent) == 0)
				return err_set(err, -ENOENT,
					       "Device \"%s\" of instance \"%s\": parent \"%s\" "
					       "not found on the host",
					       d->items[i].name, row->name, parent ? parent : "");
			nic.link = keep(&n, parent);
		}
		r = nic_hwaddr(env, row, d->items[i].name, keys, mac, err);
		if (r < 0)
			return r;
		if (net) {
			r = network_host_set(env->networks, net, row->name, mac,
					     kvlist_get(keys, "ipv4.address"), err);
			if (r < 0)
				return err_wrap(err, r, "Device \"%s\" of instance \"%s\"",
						d->items[i].name, row->name);
		}
		nic.hwaddr = keep(&n, mac);
		nic.name = keep(&n, device_nic_ifname(d->items[i].name, keys));
		nic.mtu = mtu ? (unsigned)strtoul(mtu, NULL, 10) : 0;
		if (!nic.link || !nic.hwaddr || !nic.name)
			return err_set(err, -ENOMEM, "Out of memory");
		grown = realloc(n.v, (n.n + 1) * sizeof(*grown));
		if (!grown)
			return err_set(err, -ENOMEM, "Out of memory");
		n.v = grown;
		n.v[n.n++] = nic;
	}
	*ret = n;
	n = (struct instance_nics){0};
	return 0;
}
