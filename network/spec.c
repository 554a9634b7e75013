#include "network/spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/suggest.h"
#include "common/utf8.h"
#include "common/util.h"

void network_spec_done(struct network_spec *s)
{
	if (!s)
		return;
	free(s->ranges);
	s->ranges = NULL;
	s->n_ranges = 0;
}

int network_name_valid(const char *name, struct err **err)
{
	size_t len = strlen(name);

	if (len == 0)
		return err_set(err, -EINVAL, "Network name must not be empty");
	if (len > NETWORK_NAME_MAX)
		return err_set(err, -EINVAL,
			       "Invalid network name \"%s\": at most %d characters (it is the name "
			       "of the bridge interface)",
			       name, NETWORK_NAME_MAX);
	if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
		return err_set(err, -EINVAL,
			       "Invalid network name \"%s\": it must start with a letter", name);
	for (const char *p = name; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return err_set(err, -EINVAL,
				       "Invalid network name \"%s\": only letters, digits, '-' and "
				       "'_' are allowed",
				       name);
	}
	return 0;
}

static const char *const known_keys[] = {
    "bridge.mtu", "dns.domain",	  "ipv4.address", "ipv4.dhcp.ranges",
    "ipv4.nat",	  "ipv6.address", "ipv6.nat",
};

static int bool_value(const char *key, const char *value, bool *ret, struct err **err)
{
	if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
		*ret = true;
	else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 || !*value)
		*ret = false;
	else
		return err_set(err, -EINVAL,
			       "Invalid value \"%s\" for network key \"%s\" (use true or "
			       "false)",
			       value, key);
	return 0;
}

static int domain_valid(const char *value, struct err **err)
{
	size_t label = 0, len = strlen(value);

	if (len == 0 || len > 200)
		return err_set(err, -EINVAL,
			       "Invalid dns.domain \"%s\": 1 to 200 characters of DNS labels",
			       value);
	for (const char *p = value;; p++) {
		char c = *p;

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || p[-1] == '-')
				return err_set(err, -EINVAL,
					       "Invalid dns.domain \"%s\": empty, long or badly "
					       "ended label",
					       value);
			if (c == '\0')
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c == '-' && label > 0)))
			return err_set(err, -EINVAL,
				       "Invalid dns.domain \"%s\": only letters, digits and '-' in "
				       "dot-separated labels",
				       value);
		label++;
	}
}

int network_key_valid(const char *key, const char *value, struct err **err)
{
	struct net_cidr c;
	bool b;

	if (str_startswith(key, "user.") && key[5])
		return 0;
	if (strcmp(key, "ipv4.address") == 0 || strcmp(key, "ipv6.address") == 0) {
		int family = key[3] == '4' ? AF_INET : AF_INET6;

		if (strcmp(value, "auto") == 0 || strcmp(value, "none") == 0)
			return 0;
		return net_cidr_parse_host(value, family, &c, err);
	}
	if (strcmp(key, "ipv4.nat") == 0 || strcmp(key, "ipv6.nat") == 0)
		return bool_value(key, value, &b, err);
	if (strcmp(key, "ipv4.dhcp.ranges") == 0)
		/* Checked against the subnet by network_spec_read(). */
		return 0;
	if (strcmp(key, "dns.domain") == 0)
		return domain_valid(value, err);
	if (strcmp(key, "bridge.mtu") == 0) {
		char *end = NULL;
		unsigned long v = strtoul(value, &end, 10);

		if (!*value || *end || value[0] < '0' || value[0] > '9' || v < 1280 || v > 9000)
			return err_set(err, -EINVAL,
				       "Invalid bridge.mtu \"%s\": a number from 1280 to 9000",
				       value);
		return 0;
	}
	{
		const char *best =
		    suggest_best(key, known_keys, sizeof(known_keys) / sizeof(known_keys[0]));

		if (best)
			return err_set(err, -EINVAL,
				       "Unknown network key \"%s\" (did you mean \"%s\"?)", key,
				       best);
	}
	return err_set(err, -EINVAL, "Unknown network key \"%s\"", key);
}

int network_spec_read(const char *name, const struct kvlist *config, struct network_spec *ret,
		      struct err **err)
{
	_cleanup_(network_spec_done) struct network_spec s = {.name = name};
	const char *v;
	int r;

	r = network_name_valid(name, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < config->n; i++) {
		r = network_key_valid(config->items[i].key, config->items[i].value, err);
		if (r < 0)
			return r;
	}
	v = kvlist_get(config, "ipv4.address");
	if (v && strcmp(v, "auto") == 0)
		return err_set(err, -EINVAL, "ipv4.address=auto must be resolved before use");
	if (v && strcmp(v, "none") != 0) {
		r = net_cidr_parse_host(v, AF_INET, &s.v4, err);
		if (r < 0)
			return r;
		s.has_v4 = true;
	}
	v = kvlist_get(config, "ipv6.address");
	if (v && strcmp(v, "auto") == 0)
		return err_set(err, -EINVAL, "ipv6.address=auto must be resolved before use");
	if (v && strcmp(v, "none") != 0) {
		r = net_cidr_parse_host(v, AF_INET6, &s.v6, err);
		if (r < 0)
			return r;
		s.has_v6 = true;
	}
	if ((v = kvlist_get(config, "ipv4.nat")))
		bool_value("ipv4.nat", v, &s.v4_nat, NULL);
	if ((v = kvlist_get(config, "ipv6.nat")))
		bool_value("ipv6.nat", v, &s.v6_nat, NULL);
	if ((v = kvlist_get(config, "ipv4.dhcp.ranges")) && *v) {
		if (!s.has_v4)
			return err_set(err, -EINVAL,
				       "ipv4.dhcp.ranges needs an IPv4 address (ipv4.address)");
		r = net_ranges_parse(v, &s.v4, &s.ranges, &s.n_ranges, err);
		if (r < 0)
			return r;
	}
	s.domain = kvlist_get(config, "dns.domain");
	if (!s.domain || !*s.domain)
		s.domain = NETWORK_DEFAULT_DOMAIN;
	if ((v = kvlist_get(config, "bridge.mtu")))
		s.mtu = (unsigned)strtoul(v, NULL, 10);
	*ret = s;
	s.ranges = NULL;
	return 0;
}

bool network_spec_wants_dnsmasq(const struct network_spec *s)
{
	return s->has_v4 || s->has_v6;
}

char **network_dnsmasq_argv(const char *dnsmasq, const char *user, const struct network_spec *s,
			    const char *dir)
{
	_cleanup_strv_ char **v = NULL;
	char addr[NET_CIDR_MAX];
	int r = 0;

#define ADD(...)                                                                                   \
	do {                                                                                       \
		_cleanup_free_ char *a_ = str_printf(__VA_ARGS__);                                 \
		if (!a_ || strv_push(&v, a_) < 0)                                                  \
			return NULL;                                                               \
	} while (0)

	ADD("%s", dnsmasq);
	/* Nothing from the host's own configuration: not /etc/dnsmasq.conf, not /etc/hosts. */
	ADD("--conf-file=/dev/null");
	ADD("--no-hosts");
	ADD("--keep-in-foreground");
	ADD("--user=%s", user);
	ADD("--log-facility=-");
	ADD("--strict-order");
	/* Only the bridge: never the host's other interfaces, whatever addresses they gain. */
	ADD("--bind-interfaces");
	ADD("--except-interface=lo");
	ADD("--interface=%s", s->name);
	ADD("--pid-file=%s/dnsmasq.pid", dir);
	ADD("--no-ping");
	ADD("--quiet-dhcp");
	ADD("--quiet-dhcp6");
	ADD("--quiet-ra");
	ADD("--dhcp-no-override");
	ADD("--dhcp-authoritative");
	ADD("--dhcp-leasefile=%s/dnsmasq.leases", dir);
	ADD("--dhcp-hostsfile=%s/dnsmasq.hosts", dir);
	/* Names of the network's domain are answered here and never sent upstream. */
	ADD("--domain=%s", s->domain);
	ADD("--local=/%s/", s->domain);
	ADD("--domain-needed");
	if (s->has_v4) {
		net_addr_format(AF_INET, s->v4.addr, addr, sizeof(addr));
		ADD("--listen-address=%s", addr);
		if (s->n_ranges) {
			for (size_t i = 0; i < s->n_ranges; i++) {
				char a[16], b[16];

				net_ipv4_format(s->ranges[i].start, a, sizeof(a));
				net_ipv4_format(s->ranges[i].end, b, sizeof(b));
				ADD("--dhcp-range=%s,%s,1h", a, b);
			}
		} else {
			struct net_range d = net_range_default(&s->v4);
			char a[16], b[16];

			net_ipv4_format(d.start, a, sizeof(a));
			net_ipv4_format(d.end, b, sizeof(b));
			ADD("--dhcp-range=%s,%s,1h", a, b);
		}
		if (s->mtu)
			ADD("--dhcp-option-force=26,%u", s->mtu);
	}
	if (s->has_v6) {
		net_addr_format(AF_INET6, s->v6.addr, addr, sizeof(addr));
		ADD("--listen-address=%s", addr);
		/* SLAAC addresses announced by router advertisements, DNS by stateless DHCPv6, and
		 * AAAA names guessed from the MACs of the IPv4 leases (ra-names). */
		ADD("--enable-ra");
		ADD("--dhcp-range=::,constructor:%s,ra-stateless,ra-names", s->name);
	}
#undef ADD
	(void)r;
	return steal_pointer(&v);
}

char *network_dnsmasq_hosts(const struct network_host *hosts, size_t n)
{
	size_t len = 0, cap = 1;
	char *out;

	for (size_t i = 0; i < n; i++)
		cap += strlen(hosts[i].hwaddr) + (hosts[i].ipv4 ? strlen(hosts[i].ipv4) + 1 : 0) +
		       strlen(hosts[i].name) + 3;
	out = malloc(cap);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int w = hosts[i].ipv4 ? snprintf(out + len, cap - len, "%s,%s,%s\n",
						 hosts[i].hwaddr, hosts[i].ipv4, hosts[i].name)
				      : snprintf(out + len, cap - len, "%s,%s\n", hosts[i].hwaddr,
						 hosts[i].name);

		len += (size_t)w;
	}
	out[len] = '\0';
	return out;
}

/* The head of every script: the table and the network's chain, created when missing. */
#define NFT_HEAD                                                                                   \
	"add table inet " NETWORK_NFT_TABLE "\n"                                                   \
	"add chain inet " NETWORK_NFT_TABLE " pstrt.%s { type nat hook postrouting priority "      \
	"srcnat; }\n"

char *network_nft_script(const struct network_spec *s, bool remove)
{
	char v4[NET_CIDR_MAX] = "", v6[NET_CIDR_MAX] = "";
	_cleanup_free_ char *r4 = NULL, *r6 = NULL;

	/* Adding the chain first makes the delete (and the flush) valid whether or not it was
	 * there: nft 1.0.6 has no "destroy". The whole script is one atomic transaction. */
	if (remove || (!(s->has_v4 && s->v4_nat) && !(s->has_v6 && s->v6_nat)))
		return str_printf(NFT_HEAD "delete chain inet " NETWORK_NFT_TABLE " pstrt.%s\n",
				  s->name, s->name);
	if (s->has_v4 && s->v4_nat) {
		struct net_cidr n = net_cidr_subnet(&s->v4);

		net_cidr_format(&n, v4, sizeof(v4));
		r4 = str_printf("add rule inet " NETWORK_NFT_TABLE
				" pstrt.%s ip saddr %s ip daddr != %s masquerade\n",
				s->name, v4, v4);
	} else {
		r4 = strdup("");
	}
	if (s->has_v6 && s->v6_nat) {
		struct net_cidr n = net_cidr_subnet(&s->v6);

		net_cidr_format(&n, v6, sizeof(v6));
		r6 = str_printf("add rule inet " NETWORK_NFT_TABLE
				" pstrt.%s ip6 saddr %s ip6 daddr != %s masquerade\n",
				s->name, v6, v6);
	} else {
		r6 = strdup("");
	}
	if (!r4 || !r6)
		return NULL;
	return str_printf(NFT_HEAD "flush chain inet " NETWORK_NFT_TABLE " pstrt.%s\n%s%s", s->name,
			  s->name, r4, r6);
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

void network_leases_free(struct network_lease *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].hostname);
		free(v[i].hwaddr);
		free(v[i].address);
	}
	free(v);
}

int network_leases_parse(const char *text, const char *hosts, struct network_lease **ret,
			 size_t *ret_n)
{
	_cleanup_free_ char *copy = strdup(text ? text : "");
	struct network_lease *v = NULL;
	size_t n = 0;
	bool v6 = false;
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[5] = {0}, *fsave = NULL;
		size_t nf = 0;
		struct network_lease *nv;

		for (char *t = strtok_r(line, " ", &fsave); t && nf < 5;
		     t = strtok_r(NULL, " ", &fsave))
			f[nf++] = t;
		if (nf >= 2 && strcmp(f[0], "duid") == 0) {
			v6 = true;
			continue;
		}
		if (nf < 4)
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			network_leases_free(v, n);
			return -ENOMEM;
		}
		v = nv;
		/* The name is the DHCP client's, written by dnsmasq: only a printable UTF-8 one
		 * goes on to the API. */
		if (strcmp(f[3], "*") == 0 || !utf8_valid(f[3], strlen(f[3])) || has_control(f[3]))
			f[3] = "";
		v[n] = (struct network_lease){
		    .hostname = strdup(f[3]),
		    /* A DHCPv6 lease names the client by its IAID, not its MAC. */
		    .hwaddr = strdup(v6 ? "" : f[1]),
		    .address = strdup(f[2]),
		};
		if (!v[n].hostname || !v[n].hwaddr || !v[n].address) {
			network_leases_free(v, n + 1);
			return -ENOMEM;
		}
		if (!v6 && hosts && *f[1]) {
			const char *p = hosts;
			size_t l = strlen(f[1]);

			/* Only a line with an address is a reservation; "MAC,NAME" only names. */
			for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
				const char *end = strchrnul(p, '\n'), *comma;

				if (strncasecmp(p, f[1], l) != 0 || p[l] != ',')
					continue;
				comma = memchr(p + l + 1, ',', (size_t)(end - (p + l + 1)));
				if (comma)
					v[n].is_static = true;
			}
		}
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}
