#include "config/server_keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/trust.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/suggest.h"
#include "config/keys.h"
#include "config/snaprules.h"

static int valid_https_address(const char *key, const char *value, struct err **err)
{
	_cleanup_free_ char *host = NULL;
	_cleanup_err_ struct err *e = NULL;
	unsigned port;

	/* An address to listen on: an IP literal (a name could resolve to anything). */
	if (api_address_parse(value, false, &host, &port, &e) < 0)
		return err_set(err, -EINVAL, "Invalid value \"%s\" for \"%s\": %s", value, key,
			       err_msg(e, -EINVAL));
	return 0;
}

static int valid_expiry(const char *key, const char *value, struct err **err)
{
	_cleanup_err_ struct err *e = NULL;

	if (config_expiry_valid(value, &e) < 0)
		return err_set(err, -EINVAL, "Invalid value \"%s\" for \"%s\": %s", value, key,
			       err_msg(e, -EINVAL));
	return 0;
}

static const struct config_key server_keys[] = {
    {.name = "core.https_address",
     .type = CONFIG_KEY_STRING,
     .validate = valid_https_address,
     .live = true,
     .help = "Address and port to serve the API on over HTTPS (ADDRESS:PORT, [IPv6]:PORT)"},
    {.name = "core.trust_token_expiry",
     .type = CONFIG_KEY_STRING,
     .default_value = "1H",
     .validate = valid_expiry,
     .live = true,
     .help = "How long a trust token is valid (as snapshots.expiry: \"1H\", \"30M\", \"1d\")"},
    {.name = NULL},
};

const struct config_key *config_server_keys(void)
{
	return server_keys;
}

const struct config_key *config_server_key_lookup(const char *name)
{
	for (const struct config_key *k = server_keys; name && k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

bool config_server_key_like(const char *name)
{
	return config_server_key_lookup(name) || strncmp(name, "core.", 5) == 0;
}

int config_server_key_validate(const char *key, const char *value, struct err **err)
{
	const struct config_key *k = config_server_key_lookup(key);
	int r;

	if (!k) {
		const char *names[sizeof(server_keys) / sizeof(server_keys[0])];
		const char *near;
		size_t n = 0;

		for (const struct config_key *s = server_keys; s->name; s++)
			names[n++] = s->name;
		names[n] = NULL;
		near = suggest_best(key, names, n);
		if (near)
			return err_set(
			    err, -EINVAL,
			    "Unknown server configuration key \"%s\" (did you mean \"%s\"?)", key,
			    near);
		return err_set(err, -EINVAL, "Unknown server configuration key \"%s\"", key);
	}
	r = config_text_valid("value", value, err);
	if (r < 0)
		return r;
	if (!value || !*value || !k->validate)
		return 0;
	return k->validate(key, value, err);
}

const char *config_server_get(const char *key, const char *set)
{
	const struct config_key *k = config_server_key_lookup(key);

	if (set && *set)
		return set;
	return k ? k->default_value : NULL;
}
