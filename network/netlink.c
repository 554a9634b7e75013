#include "network/netlink.h"

#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/if_addr.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/route.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "network/cidr.h"
#include "network/network.h"

static void sockp(struct nl_sock **s)
{
	if (*s)
		nl_socket_free(*s);
	*s = NULL;
}

static void linkp(struct rtnl_link **l)
{
	if (*l)
		rtnl_link_put(*l);
	*l = NULL;
}

static void cachep(struct nl_cache **c)
{
	if (*c)
		nl_cache_free(*c);
	*c = NULL;
}

static void addrp(struct rtnl_addr **a)
{
	if (*a)
		rtnl_addr_put(*a);
	*a = NULL;
}

static void nladdrp(struct nl_addr **a)
{
	if (*a)
		nl_addr_put(*a);
	*a = NULL;
}

/* libnl's errors are its own small positive codes; keep the text, give an errno. */
static int nl_fail(struct err **err, int nlerr, const char *what, const char *name)
{
	int code = -EIO;

	switch (-nlerr) {
	case NLE_EXIST:
		code = -EEXIST;
		break;
	case NLE_OBJ_NOTFOUND:
	case NLE_NODEV:
		code = -ENOENT;
		break;
	case NLE_PERM:
		code = -EPERM;
		break;
	case NLE_NOMEM:
		code = -ENOMEM;
		break;
	case NLE_BUSY:
		code = -EBUSY;
		break;
	case NLE_INVAL:
	case NLE_RANGE:
		code = -EINVAL;
		break;
	default:
		break;
	}
	return err_set(err, code, "%s \"%s\": %s", what, name, nl_geterror(nlerr));
}

static int open_sock(struct nl_sock **ret, struct err **err)
{
	struct nl_sock *s = nl_socket_alloc();
	int r;

	if (!s)
		return err_set(err, -ENOMEM, "Out of memory");
	r = nl_connect(s, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(s);
		return err_set(err, -EIO, "Cannot open a netlink socket: %s", nl_geterror(r));
	}
	*ret = s;
	return 0;
}

/* The link `name` (NULL when absent). */
static int get_link(struct nl_sock *s, const char *name, struct rtnl_link **ret, struct err **err)
{
	int r = rtnl_link_get_kernel(s, 0, name, ret);

	if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV) {
		*ret = NULL;
		return 0;
	}
	if (r < 0)
		return nl_fail(err, r, "Cannot look up interface", name);
	return 0;
}

static enum netlink_link_kind kind_of(struct rtnl_link *l)
{
	const char *type, *alias;

	if (!l)
		return NETLINK_LINK_ABSENT;
	type = rtnl_link_get_type(l);
	alias = rtnl_link_get_ifalias(l);
	if (type && strcmp(type, "bridge") == 0 && alias && strcmp(alias, NETWORK_LINK_ALIAS) == 0)
		return NETLINK_LINK_OURS;
	return NETLINK_LINK_OTHER;
}

int netlink_link_kind(const char *name, enum netlink_link_kind *ret, struct err **err)
{
	_cleanup_(sockp) struct nl_sock *s = NULL;
	_cleanup_(linkp) struct rtnl_link *l = NULL;
	int r;

	r = open_sock(&s, err);
	if (r < 0)
		return r;
	r = get_link(s, name, &l, err);
	if (r < 0)
		return r;
	*ret = kind_of(l);
	return 0;
}

/* Sets the MTU (0: left alone) and the alias (NULL: left alone) of link `name`, and sets it
 * up. */
static int link_change(const char *name, unsigned mtu, const char *alias, struct err **err)
{
	_cleanup_(sockp) struct nl_sock *s = NULL;
	_cleanup_(linkp) struct rtnl_link *l = NULL, *change = NULL;
	int r;

	r = open_sock(&s, err);
	if (r < 0)
		return r;
	r = get_link(s, name, &l, err);
	if (r < 0)
		return r;
	if (!l)
		return err_set(err, -ENOENT, "Interface \"%s\" not found", name);
	change = rtnl_link_alloc();
	if (!change)
		return err_set(err, -ENOMEM, "Out of memory");
	if (mtu)
		rtnl_link_set_mtu(change, mtu);
	if (alias)
		rtnl_link_set_ifalias(change, alias);
	rtnl_link_set_flags(change, IFF_UP);
	r = rtnl_link_change(s, l, change, 0);
	if (r < 0)
		return nl_fail(err, r, "Cannot set up interface", name);
	return 0;
}

int netlink_link_setup(const char *name, unsigned mtu, struct err **err)
{
	return link_change(name, mtu, NULL, err);
}

int netlink_bridge_create(const char *name, unsigned mtu, struct err **err)
{
	_cleanup_(sockp) struct nl_sock *s = NULL;
	_cleanup_(linkp) struct rtnl_link *l = NULL;
	int r;

	r = open_sock(&s, err);
	if (r < 0)
		return r;
	l = rtnl_link_bridge_alloc();
	if (!l)
		return err_set(err, -ENOMEM, "Out of memory");
	rtnl_link_set_name(l, name);
	if (mtu)
		rtnl_link_set_mtu(l, mtu);
	/* NLM_F_EXCL: never take over a link that appeared since the caller looked. */
	r = rtnl_link_add(s, l, NLM_F_CREATE | NLM_F_EXCL);
	if (r == -NLE_EXIST)
		return err_set(err, -EEXIST, "Interface \"%s\" already exists on the host", name);
	if (r < 0)
		return nl_fail(err, r, "Cannot create bridge", name);
	/* The kernel takes no alias in a new link's message, only in a change. */
	return link_change(name, 0, NETWORK_LINK_ALIAS, err);
}

int netlink_bridge_delete(const char *name, bool or_unmarked, struct err **err)
{
	_cleanup_(sockp) struct nl_sock *s = NULL;
	_cleanup_(linkp) struct rtnl_link *l = NULL;
	int r;

	r = open_sock(&s, err);
	if (r < 0)
		return r;
	r = get_link(s, name, &l, err);
	if (r < 0)
		return r;
	if (kind_of(l) != NETLINK_LINK_OURS &&
	    !(or_unmarked && l && rtnl_link_get_type(l) &&
	      strcmp(rtnl_link_get_type(l), "bridge") == 0 && !rtnl_link_get_ifalias(l)))
		return 0;
	r = rtnl_link_delete(s, l);
	if (r < 0 && r != -NLE_OBJ_NOTFOUND && r != -NLE_NODEV)
		return nl_fail(err, r, "Cannot delete bridge", name);
	return 0;
}

int netlink_bridge_rename(const char *name, const char *new_name, struct err **err)
{
	_cleanup_(sockp) struct nl_sock *s = NULL;
	_cleanup_(linkp) struct rtnl_link *l = NULL, *change = NULL;
	int r;

	r = open_sock(&s, err);
	if (r < 0)
		return r;
	r = get_link(s, name, &l, err);
	if (r < 0)
		return r;
	if (kind_of(l) != NETLINK_LINK_OURS)
		return err_set(err, -ENOENT, "Bridge \"%s\" not found", name);
	change = rtnl_link_alloc();
	if (!change)
		return err_set(err, -ENOMEM, "Out of memory");
	/* The kernel renames only links that are down. */
	rtnl_link_unset_flags(change, IFF_UP);
	r = rtnl_link_change(s, l, change, 0);
	if (r < 0)
		return nl_fail(err, r, "Cannot take down bridge", name);
	rtnl_link_put(change);
	change = rtnl_link_alloc();
	if (!change)
		return err_set(err, -ENOMEM, "Out of memory");
	rtnl_link_set_name(change, new_name);
	r = rtnl_link_change(s, l, change, 0);
	if (r == -NLE_EXIST)
		return err_set(err, -EEXIST, "Interface \"%s\" already exists on the host",
			       new_name);
	if (r < 0)
		return nl_fail(err, r, "Cannot rename bridge", name);
	return 0;
}

static int to_nladdr(const struct net_cidr *c, struct nl_addr **ret)
{
	struct nl_addr *a = nl_addr_build(c->family, c->addr, c->family == AF_INET ? 4 : 16);

	if (!a)
		return -ENOMEM;
	nl_addr_set_prefixlen(a, (int)c->prefix);
	*ret = a;
	return 0;
}

int netlink_addr_sync(const char *name, int family, const struct net_cidr *want, struct err **err)
{
	_cleanup_(sockp) struct nl_sock *s = NULL;
	_cleanup_(cachep) struct nl_cache *cache = NULL;
	_cleanup_(nladdrp) struct nl_addr *wanted = NULL;
	bool have = false;
	int ifindex, r;

	r = open_sock(&s, err);
	if (r < 0)
		return r;
	ifindex = (int)if_nametoindex(name);
	if (ifindex == 0)
		return err_set_errno(err, -errno, "Interface \"%s\" not found", name);
	if (want && to_nladdr(want, &wanted) < 0)
		return err_set(err, -ENOMEM, "Out of memory");
	r = rtnl_addr_alloc_cache(s, &cache);
	if (r < 0)
		return nl_fail(err, r, "Cannot list the addresses of", name);
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(a);

		if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != family ||
		    !local)
			continue;
		if (family == AF_INET6 && rtnl_addr_get_scope(a) == RT_SCOPE_LINK)
			continue;
		if (wanted && nl_addr_cmp(local, wanted) == 0 &&
		    rtnl_addr_get_prefixlen(a) == (int)want->prefix) {
			have = true;
			continue;
		}
		r = rtnl_addr_delete(s, a, 0);
		if (r < 0 && r != -NLE_NOADDR)
			return nl_fail(err, r, "Cannot remove an old address of", name);
	}
	if (want && !have) {
		_cleanup_(addrp) struct rtnl_addr *a = rtnl_addr_alloc();

		if (!a)
			return err_set(err, -ENOMEM, "Out of memory");
		rtnl_addr_set_ifindex(a, ifindex);
		rtnl_addr_set_family(a, family);
		r = rtnl_addr_set_local(a, wanted);
		if (r < 0)
			return nl_fail(err, r, "Cannot set the address of", name);
		if (family == AF_INET6)
			rtnl_addr_set_flags(a, IFA_F_NODAD);
		r = rtnl_addr_add(s, a, 0);
		if (r < 0 && r != -NLE_EXIST)
			return nl_fail(err, r, "Cannot add an address to", name);
	}
	return 0;
}

int netlink_routes(int family, const char *skip, struct net_cidr **ret, size_t *ret_n,
		   struct err **err)
{
	_cleanup_(sockp) struct nl_sock *s = NULL;
	_cleanup_(cachep) struct nl_cache *cache = NULL;
	_cleanup_free_ struct net_cidr *v = NULL;
	int skip_index = skip ? (int)if_nametoindex(skip) : 0;
	size_t n = 0;
	int r;

	r = open_sock(&s, err);
	if (r < 0)
		return r;
	r = rtnl_route_alloc_cache(s, family, 0, &cache);
	if (r < 0)
		return err_set(err, -EIO, "Cannot list the routes: %s", nl_geterror(r));
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;
		struct nl_addr *dst = rtnl_route_get_dst(rt);
		struct net_cidr c = {.family = family};
		struct rtnl_nexthop *nh;
		struct net_cidr *nv;
		unsigned len;

		if (!dst || rtnl_route_get_family(rt) != family)
			continue;
		c.prefix = (unsigned)nl_addr_get_prefixlen(dst);
		len = nl_addr_get_len(dst);
		if (c.prefix == 0 || len > 16)
			continue;
		memcpy(c.addr, nl_addr_get_binary_addr(dst), len);
		if (rtnl_route_get_type(rt) == RTN_MULTICAST)
			continue;
		if (family == AF_INET6 &&
		    (c.addr[0] == 0xff || (c.addr[0] == 0xfe && c.addr[1] >= 0x80)))
			continue;
		nh = rtnl_route_nexthop_n(rt, 0);
		if (skip_index && nh && rtnl_route_nh_get_ifindex(nh) == skip_index)
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			return err_set(err, -ENOMEM, "Out of memory");
		v = nv;
		v[n++] = c;
	}
	*ret = steal_pointer(&v);
	*ret_n = n;
	return 0;
}

int netlink_our_bridges(char ***ret, struct err **err)
{
	_cleanup_(sockp) struct nl_sock *s = NULL;
	_cleanup_(cachep) struct nl_cache *cache = NULL;
	_cleanup_strv_ char **v = NULL;
	int r;

	r = open_sock(&s, err);
	if (r < 0)
		return r;
	r = rtnl_link_alloc_cache(s, AF_UNSPEC, &cache);
	if (r < 0)
		return err_set(err, -EIO, "Cannot list the interfaces: %s", nl_geterror(r));
	v = calloc(1, sizeof(char *));
	if (!v)
		return err_set(err, -ENOMEM, "Out of memory");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;

		if (kind_of(l) == NETLINK_LINK_OURS && strv_push(&v, rtnl_link_get_name(l)) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	*ret = steal_pointer(&v);
	return 0;
}

int netlink_link_state(const char *name, struct network_link_state *ret, struct err **err)
{
	_cleanup_(sockp) struct nl_sock *s = NULL;
	_cleanup_(linkp) struct rtnl_link *l = NULL;
	_cleanup_(cachep) struct nl_cache *cache = NULL;
	struct nl_addr *mac;
	int ifindex, r;

	r = open_sock(&s, err);
	if (r < 0)
		return r;
	r = get_link(s, name, &l, err);
	if (r < 0)
		return r;
	if (!l) {
		ret->exists = false;
		return 0;
	}
	ret->exists = true;
	ret->up = rtnl_link_get_flags(l) & IFF_UP;
	ret->mtu = rtnl_link_get_mtu(l);
	mac = rtnl_link_get_addr(l);
	if (mac)
		nl_addr2str(mac, ret->hwaddr, sizeof(ret->hwaddr));
	ret->rx_bytes = rtnl_link_get_stat(l, RTNL_LINK_RX_BYTES);
	ret->rx_packets = rtnl_link_get_stat(l, RTNL_LINK_RX_PACKETS);
	ret->tx_bytes = rtnl_link_get_stat(l, RTNL_LINK_TX_BYTES);
	ret->tx_packets = rtnl_link_get_stat(l, RTNL_LINK_TX_PACKETS);
	ifindex = rtnl_link_get_ifindex(l);
	r = rtnl_addr_alloc_cache(s, &cache);
	if (r < 0)
		return nl_fail(err, r, "Cannot list the addresses of", name);
	if (!ret->addresses && !(ret->addresses = calloc(1, sizeof(char *))))
		return err_set(err, -ENOMEM, "Out of memory");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(a);
		struct net_cidr c = {.family = rtnl_addr_get_family(a)};
		char buf[NET_CIDR_MAX];

		if (rtnl_addr_get_ifindex(a) != ifindex || !local ||
		    nl_addr_get_len(local) > sizeof(c.addr))
			continue;
		memcpy(c.addr, nl_addr_get_binary_addr(local), nl_addr_get_len(local));
		c.prefix = (unsigned)rtnl_addr_get_prefixlen(a);
		net_cidr_format(&c, buf, sizeof(buf));
		if (strv_push(&ret->addresses, buf) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	return 0;
}

int netlink_ifaces(struct network_iface **ret, size_t *ret_n, struct err **err)
{
	_cleanup_(sockp) struct nl_sock *s = NULL;
	_cleanup_(cachep) struct nl_cache *cache = NULL;
	struct network_iface *v = NULL;
	size_t n = 0;
	int r;

	r = open_sock(&s, err);
	if (r < 0)
		return r;
	r = rtnl_link_alloc_cache(s, AF_UNSPEC, &cache);
	if (r < 0)
		return err_set(err, -EIO, "Cannot list the interfaces: %s", nl_geterror(r));
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		const char *name = rtnl_link_get_name(l);
		struct network_iface *grown;

		if (!name)
			continue;
		grown = realloc(v, (n + 1) * sizeof(*v));
		if (!grown) {
			network_ifaces_free(v, n);
			return err_set(err, -ENOMEM, "Out of memory");
		}
		v = grown;
		v[n] = (struct network_iface){0};
		snprintf(v[n].name, sizeof(v[n].name), "%s", name);
		v[n].loopback = rtnl_link_get_flags(l) & IFF_LOOPBACK;
		n++;
		r = netlink_link_state(name, &v[n - 1].st, err);
		if (r < 0) {
			network_ifaces_free(v, n);
			return r;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}
