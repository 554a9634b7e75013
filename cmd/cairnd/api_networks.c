/* /1.0/networks: managed networks (network/network.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cmd/cairnd/body.h"
#include "cmd/cairnd/daemon.h"
#include "cmd/cairnd/events.h"
#include "cmd/cairnd/handlers.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/util.h"
#include "config/db.h"
#include "network/network.h"
#include "network/spec.h"

/* -EIO when the network manager did not start (the daemon's log says why). */
static int networks_ready(struct daemon *d, struct err **err)
{
	if (!d->networks)
		return err_set(err, -EIO,
			       "Managed networks are not available (the daemon's log says why)");
	return 0;
}

static json_object *kvlist_json(const struct kvlist *kv)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; o && i < kv->n; i++)
		json_object_object_add(o, kv->items[i].key,
				       json_object_new_string(kv->items[i].value));
	return o;
}

static const char *status_of(struct daemon *d, const struct db_network *row)
{
	switch (row->state) {
	case DB_ROW_CREATING:
		return "Pending";
	case DB_ROW_DELETING:
		return "Deleting";
	case DB_ROW_READY:
	case DB_ROW_STATE_MAX:
	default:
		break;
	}
	(void)d;
	return "Created";
}

/* The network object of the API, in Incus's shape. */
static json_object *network_to_json(struct daemon *d, const struct db_network *row)
{
	json_object *o = json_object_new_object(), *used_by = json_object_new_array(),
		    *locations = json_object_new_array();
	_cleanup_strv_ char **users = NULL;

	if (network_used_by(d->networks, row->name, &users, NULL) >= 0)
		for (size_t i = 0; users[i]; i++)
			json_object_array_add(used_by, json_object_new_string(users[i]));
	json_object_array_add(locations, json_object_new_string("none"));
	json_object_object_add(o, "name", json_object_new_string(row->name));
	json_object_object_add(o, "description",
			       json_object_new_string(row->description ? row->description : ""));
	json_object_object_add(o, "type", json_object_new_string(row->type ? row->type : "bridge"));
	json_object_object_add(o, "managed", json_object_new_boolean(1));
	json_object_object_add(o, "status", json_object_new_string(status_of(d, row)));
	json_object_object_add(o, "config", kvlist_json(&row->config));
	json_object_object_add(o, "used_by", used_by);
	json_object_object_add(o, "locations", locations);
	return o;
}

static json_object *network_url(const char *name)
{
	_cleanup_free_ char *url = str_printf("/1.0/networks/%s", name);

	return json_object_new_string(url ? url : "");
}

HANDLER(handle_networks_list)
{
	struct db_network *rows = NULL;
	json_object *list;
	size_t n = 0;
	int r;

	r = networks_ready(d, err);
	if (r < 0)
		return r;
	r = db_network_list(d->env.db, &rows, &n, err);
	if (r < 0)
		return r;
	list = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		/* A row being created or deleted is not a network yet, or no more. */
		if (rows[i].state != DB_ROW_READY)
			continue;
		json_object_array_add(list, request_recursion(req) >= 1
						? network_to_json(d, &rows[i])
						: network_url(rows[i].name));
	}
	db_networks_free(rows, n);
	*ret_envelope = api_sync(list);
	return 200;
}

/* The READY row of the network named by the path. */
static int get_row(struct daemon *d, struct request *req, struct db_network *ret, struct err **err)
{
	int r = networks_ready(d, err);

	if (r < 0)
		return r;
	r = network_name_valid(req->params[0], NULL) < 0
		? err_set(err, -ENOENT, "Network \"%s\" not found", req->params[0])
		: db_network_get(d->env.db, req->params[0], ret, err);

	if (r >= 0 && ret->state != DB_ROW_READY) {
		db_network_done(ret);
		return err_set(err, -ENOENT, "Network \"%s\" not found", req->params[0]);
	}
	return r;
}

HANDLER(handle_network_get)
{
	_cleanup_(db_network_done) struct db_network row = {0};
	int r = get_row(d, req, &row, err);

	if (r < 0)
		return r;
	*ret_envelope = api_sync(network_to_json(d, &row));
	return 200;
}

HANDLER(handle_networks_create)
{
	_cleanup_kvlist_ struct kvlist config = {0};
	const char *name = NULL, *type = NULL, *description = NULL;
	int r;

	if ((r = networks_ready(d, err)) < 0)
		return r;
	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	if ((r = body_string(req->body, "name", true, &name, err)) < 0 ||
	    (r = body_string(req->body, "type", false, &type, err)) < 0 ||
	    (r = body_string(req->body, "description", false, &description, err)) < 0 ||
	    (r = body_config(req->body, "config", &config, err)) < 0)
		return r;
	r = network_create(d->networks, name, type, description, &config, err);
	if (r < 0)
		return r;
	{
		_cleanup_free_ char *src = str_printf("/1.0/networks/%s", name);

		events_lifecycle("network-created", src ? src : "");
	}
	*ret_envelope = api_sync(NULL);
	return 200;
}

/* PUT (`merge` false: the config given is the whole config) and PATCH (the keys given are set,
 * the others kept). */
static int update_network(struct daemon *d, struct request *req, bool merge, struct err **err)
{
	_cleanup_(db_network_done) struct db_network row = {0};
	_cleanup_kvlist_ struct kvlist config = {0};
	const char *description = NULL;
	json_object *cfg = NULL;
	int r;

	r = get_row(d, req, &row, err);
	if (r < 0)
		return r;
	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	if ((r = body_string(req->body, "description", false, &description, err)) < 0 ||
	    (r = body_object(req->body, "config", false, &cfg, err)) < 0)
		return r;
	if (merge && kvlist_copy(&config, &row.config) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	if ((r = body_config(req->body, "config", &config, err)) < 0)
		return r;
	/* A PUT without a config keeps the config, as a PATCH without one does. */
	if (!merge && !cfg && kvlist_copy(&config, &row.config) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	r = network_update(d->networks, row.name, &config, description, err);
	if (r < 0)
		return r;
	{
		_cleanup_free_ char *src = str_printf("/1.0/networks/%s", row.name);

		events_lifecycle("network-updated", src ? src : "");
	}
	return 0;
}

HANDLER(handle_network_put)
{
	int r = update_network(d, req, false, err);

	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}

HANDLER(handle_network_patch)
{
	int r = update_network(d, req, true, err);

	if (r < 0)
		return r;
	*ret_envelope = api_sync(NULL);
	return 200;
}

HANDLER(handle_network_delete)
{
	_cleanup_(db_network_done) struct db_network row = {0};
	int r = get_row(d, req, &row, err);

	if (r < 0)
		return r;
	r = network_delete(d->networks, row.name, err);
	if (r < 0)
		return r;
	{
		_cleanup_free_ char *src = str_printf("/1.0/networks/%s", row.name);

		events_lifecycle("network-deleted", src ? src : "");
	}
	*ret_envelope = api_sync(NULL);
	return 200;
}

/* POST /1.0/networks/<name> {"name": NEW}: rename. */
HANDLER(handle_network_post)
{
	_cleanup_(db_network_done) struct db_network row = {0};
	const char *new_name = NULL;
	int r = get_row(d, req, &row, err);

	if (r < 0)
		return r;
	if (!req->body)
		return err_set(err, -EINVAL, "Missing request body");
	r = body_string(req->body, "name", true, &new_name, err);
	if (r < 0)
		return r;
	r = network_rename(d->networks, row.name, new_name, err);
	if (r < 0)
		return r;
	{
		_cleanup_free_ char *src = str_printf("/1.0/networks/%s", new_name);

		events_lifecycle("network-renamed", src ? src : "");
	}
	*ret_envelope = api_sync(NULL);
	return 200;
}

HANDLER(handle_network_state)
{
	_cleanup_(db_network_done) struct db_network row = {0};
	_cleanup_(network_link_state_done) struct network_link_state st = {0};
	json_object *o, *addrs, *counters;
	int r = get_row(d, req, &row, err);

	if (r < 0)
		return r;
	r = network_state(d->networks, row.name, &st, err);
	if (r < 0)
		return r;
	o = json_object_new_object();
	addrs = json_object_new_array();
	counters = json_object_new_object();
	for (size_t i = 0; st.addresses && st.addresses[i]; i++) {
		json_object *a = json_object_new_object();
		_cleanup_free_ char *addr = strdup(st.addresses[i]);
		char *slash = addr ? strchr(addr, '/') : NULL;

		if (!addr || !slash)
			continue;
		*slash = '\0';
		json_object_object_add(
		    a, "family", json_object_new_string(strchr(addr, ':') ? "inet6" : "inet"));
		json_object_object_add(a, "address", json_object_new_string(addr));
		json_object_object_add(a, "netmask", json_object_new_string(slash + 1));
		json_object_object_add(
		    a, "scope",
		    json_object_new_string(str_startswith(addr, "fe80:") ? "link" : "global"));
		json_object_array_add(addrs, a);
	}
	json_object_object_add(counters, "bytes_received",
			       json_object_new_int64((int64_t)st.rx_bytes));
	json_object_object_add(counters, "bytes_sent", json_object_new_int64((int64_t)st.tx_bytes));
	json_object_object_add(counters, "packets_received",
			       json_object_new_int64((int64_t)st.rx_packets));
	json_object_object_add(counters, "packets_sent",
			       json_object_new_int64((int64_t)st.tx_packets));
	json_object_object_add(o, "addresses", addrs);
	json_object_object_add(o, "counters", counters);
	json_object_object_add(o, "hwaddr", json_object_new_string(st.hwaddr));
	json_object_object_add(o, "mtu", json_object_new_int64(st.mtu));
	json_object_object_add(o, "state",
			       json_object_new_string(st.exists && st.up ? "up" : "down"));
	json_object_object_add(o, "type", json_object_new_string("broadcast"));
	/* cairn's own: whether the supervised dnsmasq runs now. */
	json_object_object_add(
	    o, "dnsmasq", json_object_new_boolean(network_dnsmasq_running(d->networks, row.name)));
	*ret_envelope = api_sync(o);
	return 200;
}

HANDLER(handle_network_leases)
{
	_cleanup_(db_network_done) struct db_network row = {0};
	struct network_lease *leases = NULL;
	json_object *list;
	size_t n = 0;
	int r = get_row(d, req, &row, err);

	if (r < 0)
		return r;
	r = network_leases(d->networks, row.name, &leases, &n, err);
	if (r < 0)
		return r;
	list = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "hostname", json_object_new_string(leases[i].hostname));
		json_object_object_add(o, "hwaddr", json_object_new_string(leases[i].hwaddr));
		json_object_object_add(o, "address", json_object_new_string(leases[i].address));
		json_object_object_add(
		    o, "type", json_object_new_string(leases[i].is_static ? "static" : "dynamic"));
		json_object_object_add(o, "location", json_object_new_string("none"));
		json_object_array_add(list, o);
	}
	network_leases_free(leases, n);
	*ret_envelope = api_sync(list);
	return 200;
}

/* The addresses of a link as the API's address objects. */
static json_object *addresses_json(char **addresses)
{
	json_object *addrs = json_object_new_array();

	for (size_t i = 0; addresses && addresses[i]; i++) {
		json_object *a = json_object_new_object();
		_cleanup_free_ char *addr = strdup(addresses[i]);
		char *slash = addr ? strchr(addr, '/') : NULL;
		bool v6;

		if (!a || !slash) {
			json_object_put(a);
			continue;
		}
		*slash = '\0';
		v6 = strchr(addr, ':') != NULL;
		json_object_object_add(a, "family", json_object_new_string(v6 ? "inet6" : "inet"));
		json_object_object_add(a, "address", json_object_new_string(addr));
		json_object_object_add(a, "netmask", json_object_new_string(slash + 1));
		json_object_object_add(a, "scope",
				       json_object_new_string(str_startswith(addr, "fe80:") ? "link"
							      : strcmp(addr, "::1") == 0 ||
								      str_startswith(addr, "127.")
								  ? "local"
								  : "global"));
		json_object_array_add(addrs, a);
	}
	return addrs;
}

json_object *api_instance_network_json(pid_t pid)
{
	json_object *o = json_object_new_object();
	struct network_iface *v = NULL;
	size_t n = 0;

	/* A stopped instance, or one whose namespace cannot be read, has no interfaces to show. */
	if (!o || pid <= 0 || network_instance_ifaces(pid, &v, &n, NULL) < 0)
		return o;
	for (size_t i = 0; i < n; i++) {
		const struct network_link_state *st = &v[i].st;
		json_object *iface = json_object_new_object(), *counters = json_object_new_object();

		json_object_object_add(iface, "addresses", addresses_json(st->addresses));
		json_object_object_add(counters, "bytes_received",
				       json_object_new_int64((int64_t)st->rx_bytes));
		json_object_object_add(counters, "bytes_sent",
				       json_object_new_int64((int64_t)st->tx_bytes));
		json_object_object_add(counters, "packets_received",
				       json_object_new_int64((int64_t)st->rx_packets));
		json_object_object_add(counters, "packets_sent",
				       json_object_new_int64((int64_t)st->tx_packets));
		json_object_object_add(iface, "counters", counters);
		json_object_object_add(iface, "hwaddr", json_object_new_string(st->hwaddr));
		json_object_object_add(iface, "mtu", json_object_new_int64(st->mtu));
		json_object_object_add(iface, "state",
				       json_object_new_string(st->up ? "up" : "down"));
		json_object_object_add(
		    iface, "type",
		    json_object_new_string(v[i].loopback ? "loopback" : "broadcast"));
		json_object_object_add(o, v[i].name, iface);
	}
	network_ifaces_free(v, n);
	return o;
}
