/* `cairn network ...`: managed networks (/1.0/networks). */
#include "cmd/cairn/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/yaml.h"

/* "/1.0/networks/NAME" (escaped) plus `suffix`; the caller frees. */
static char *network_path(const char *name, const char *suffix)
{
	_cleanup_free_ char *e = cli_escape(name);

	return e ? str_printf("/1.0/networks/%s%s", e, suffix) : NULL;
}

static char *upper_copy(const char *s)
{
	char *u = strdup(s ? s : "");

	for (char *p = u; p && *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	return u;
}

/* Renders a table or, for json and yaml, the list as it is. */
static int render_list(struct cli_ctx *ctx, json_object *list, enum cli_format fmt,
		       struct cli_table *t, struct err **err)
{
	if (fmt == CLI_FORMAT_JSON) {
		cli_render_json(ctx->out, list);
		return 0;
	}
	if (fmt == CLI_FORMAT_YAML)
		return cli_render_yaml(ctx->out, list, err);
	cli_table_sort(t);
	cli_table_render(ctx->out, t, fmt);
	return 0;
}

int cli_cmd_network_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	static const char *const headers[] = {"NAME", "TYPE",	     "MANAGED", "IPV4",
					      "IPV6", "DESCRIPTION", "USED BY", "STATE"};
	_cleanup_json_ json_object *list = NULL;
	struct cli_table t = {.ncols = 8, .headers = headers};
	struct cli_client *c = NULL;
	enum cli_format fmt;
	int r;

	r = cli_format_parse(cli_flag_string(args, "format"), &fmt, err);
	if (r < 0)
		return r;
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "GET", "/1.0/networks?recursion=1", NULL, &list, err);
	if (r < 0)
		return r;
	if (!json_object_is_type(list, json_type_array))
		return err_set(err, -EPROTO,
			       "Invalid answer from cairnd: the network list is not a list");
	for (size_t i = 0; r == 0 && i < json_object_array_length(list); i++) {
		json_object *n = json_object_array_get_idx(list, i), *config = NULL, *used = NULL;
		_cleanup_free_ char *count = NULL, *state = upper_copy(api_get_string(n, "status"));
		const char *v4 = NULL, *v6 = NULL, *cells[8];

		json_object_object_get_ex(n, "config", &config);
		json_object_object_get_ex(n, "used_by", &used);
		v4 = api_get_string(config, "ipv4.address");
		v6 = api_get_string(config, "ipv6.address");
		count = str_printf("%zu", used && json_object_is_type(used, json_type_array)
					      ? json_object_array_length(used)
					      : (size_t)0);
		if (!count || !state) {
			r = -ENOMEM;
			break;
		}
		cells[0] = api_get_string(n, "name") ?: "";
		cells[1] = api_get_string(n, "type") ?: "";
		cells[2] = api_get_bool(n, "managed", false) ? "YES" : "NO";
		cells[3] = v4 && strcmp(v4, "none") ? v4 : "";
		cells[4] = v6 && strcmp(v6, "none") ? v6 : "";
		cells[5] = api_get_string(n, "description") ?: "";
		cells[6] = count;
		cells[7] = state;
		r = cli_table_add(&t, cells);
	}
	if (r == 0)
		r = render_list(ctx, list, fmt, &t, err);
	else
		r = err_set(err, r, "Out of memory");
	cli_table_done(&t);
	return r;
}

int cli_cmd_network_create(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_json_ json_object *settings = NULL;
	const char *type = cli_flag_string(args, "type");
	const char *description = cli_flag_string(args, "description");
	struct cli_client *c = NULL;
	int r;

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_parse_settings(args->argv + 1, args->argc - 1, &settings, err);
	if (r < 0)
		return r;
	json_object_object_add(body, "name", json_object_new_string(args->argv[0]));
	json_object_object_add(body, "type", json_object_new_string(type ? type : "bridge"));
	if (description)
		json_object_object_add(body, "description", json_object_new_string(description));
	json_object_object_add(body, "config", json_object_get(settings));
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "POST", "/1.0/networks", body, NULL, err);
	if (r < 0)
		return r;
	fprintf(ctx->out, "Network %s created\n", args->argv[0]);
	return 0;
}

int cli_cmd_network_delete(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_free_ char *path = network_path(args->argv[0], "");
	struct cli_client *c = NULL;
	int r;

	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "DELETE", path, NULL, NULL, err);
	if (r < 0)
		return r;
	fprintf(ctx->out, "Network %s deleted\n", args->argv[0]);
	return 0;
}

/* GET of network `name`; *ret_path its path, the caller's. */
static int fetch_network(struct cli_ctx *ctx, const char *name, struct cli_client **ret_client,
			 char **ret_path, json_object **ret, struct err **err)
{
	_cleanup_free_ char *path = network_path(name, "");
	int r;

	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_ctx_client(ctx, ret_client, err);
	if (r < 0)
		return r;
	r = cli_client_query(*ret_client, "GET", path, NULL, ret, err);
	if (r < 0)
		return r;
	if (ret_path)
		*ret_path = steal_pointer(&path);
	return 0;
}

/* What `network show` prints and `network edit` edits, in Incus's order. */
static json_object *network_view(json_object *n)
{
	static const char *const keys[] = {"name",   "description", "type",    "managed",
					   "status", "config",	    "used_by", "locations"};
	json_object *view = json_object_new_object();

	for (size_t i = 0; view && i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_object *v = NULL;

		if (json_object_object_get_ex(n, keys[i], &v))
			json_object_object_add(view, keys[i], json_object_get(v));
	}
	return view;
}

int cli_cmd_network_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *n = NULL;
	_cleanup_json_ json_object *view = NULL;
	struct cli_client *c = NULL;
	int r;

	r = fetch_network(ctx, args->argv[0], &c, NULL, &n, err);
	if (r < 0)
		return r;
	view = network_view(n);
	if (!view)
		return err_set(err, -ENOMEM, "Out of memory");
	return cli_render_yaml(ctx->out, view, err);
}

int cli_cmd_network_get(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *n = NULL;
	struct cli_client *c = NULL;
	json_object *config = NULL, *v = NULL;
	int r;

	r = fetch_network(ctx, args->argv[0], &c, NULL, &n, err);
	if (r < 0)
		return r;
	if (strcmp(args->argv[1], "description") == 0) {
		fprintf(ctx->out, "%s\n", api_get_string(n, "description") ?: "");
		return 0;
	}
	json_object_object_get_ex(n, "config", &config);
	if (config && json_object_object_get_ex(config, args->argv[1], &v))
		fprintf(ctx->out, "%s\n", json_object_get_string(v));
	else
		fprintf(ctx->out, "\n");
	return 0;
}

/* PUTs `config` and `description` to the network at `path`. */
static int put_network(struct cli_client *c, const char *path, json_object *config,
		       const char *description, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();

	if (!body)
		return err_set(err, -ENOMEM, "Out of memory");
	json_object_object_add(body, "config",
			       config ? json_object_get(config) : json_object_new_object());
	json_object_object_add(body, "description",
			       json_object_new_string(description ? description : ""));
	return cli_client_query(c, "PUT", path, body, NULL, err);
}

int cli_cmd_network_set(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *n = NULL;
	_cleanup_json_ json_object *settings = NULL;
	_cleanup_free_ char *path = NULL, *description = NULL;
	struct cli_client *c = NULL;
	json_object *config = NULL;
	int r;

	r = cli_parse_settings(args->argv + 1, args->argc - 1, &settings, err);
	if (r < 0)
		return r;
	r = fetch_network(ctx, args->argv[0], &c, &path, &n, err);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(n, "config", &config) ||
	    !json_object_is_type(config, json_type_object))
		return err_set(err, -EPROTO,
			       "Invalid answer from cairnd: the network has no config");
	description = strdup(api_get_string(n, "description") ?: "");
	if (!description)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_settings_apply(settings, config, &description, err);
	if (r < 0)
		return r;
	return put_network(c, path, config, description, err);
}

int cli_cmd_network_unset(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *n = NULL;
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	json_object *config = NULL;
	int r;

	r = fetch_network(ctx, args->argv[0], &c, &path, &n, err);
	if (r < 0)
		return r;
	json_object_object_get_ex(n, "config", &config);
	if (strcmp(args->argv[1], "description") == 0)
		return put_network(c, path, config, "", err);
	if (!config || !json_object_object_get_ex(config, args->argv[1], NULL))
		return err_set(err, -EINVAL, "Network key \"%s\" is not set", args->argv[1]);
	json_object_object_del(config, args->argv[1]);
	return put_network(c, path, config, api_get_string(n, "description"), err);
}

/* Applies the YAML `text` (description and config, as `network show` prints them). */
static int apply_network_yaml(struct cli_client *c, const char *path, const char *text,
			      struct err **err)
{
	_cleanup_json_ json_object *doc = NULL;
	json_object *config = NULL;
	const char *description = NULL;
	int r;

	r = cli_parse_object_yaml(text, "network", &doc, &config, &description, err);
	if (r < 0)
		return r;
	return put_network(c, path, config, description, err);
}

/* What apply_network_yaml() needs as a cli_edit() callback. */
struct network_edit {
	struct cli_client *c;
	const char *path;
};

static int apply_network_edit(void *data, const char *text, struct err **err)
{
	struct network_edit *e = data;

	return apply_network_yaml(e->c, e->path, text, err);
}

int cli_cmd_network_edit(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *n = NULL;
	_cleanup_json_ json_object *view = NULL;
	_cleanup_free_ char *path = NULL;
	struct network_edit e = {0};
	int r;

	r = fetch_network(ctx, args->argv[0], &e.c, &path, &n, err);
	if (r < 0)
		return r;
	e.path = path;
	view = network_view(n);
	if (!view)
		return err_set(err, -ENOMEM, "Out of memory");
	return cli_edit(ctx, view, NULL, apply_network_edit, &e, err);
}

int cli_cmd_network_rename(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_free_ char *path = network_path(args->argv[0], "");
	_cleanup_json_ json_object *body = json_object_new_object();
	struct cli_client *c = NULL;
	int r;

	if (!path || !body)
		return err_set(err, -ENOMEM, "Out of memory");
	json_object_object_add(body, "name", json_object_new_string(args->argv[1]));
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "POST", path, body, NULL, err);
	if (r < 0)
		return r;
	fprintf(ctx->out, "Network %s renamed to %s\n", args->argv[0], args->argv[1]);
	return 0;
}

/* "1.81kB" as Incus prints byte counters (decimal units). */
static void print_bytes(FILE *out, const char *label, long long v)
{
	char buf[32];

	cli_progress_format_bytes(buf, sizeof(buf), (double)v);
	fprintf(out, "  %s: %s\n", label, buf);
}

int cli_cmd_network_info(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_free_ char *path = network_path(args->argv[0], "/state");
	_cleanup_json_ json_object *st = NULL;
	struct cli_client *c = NULL;
	json_object *addrs = NULL, *counters = NULL;
	int r;

	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "GET", path, NULL, &st, err);
	if (r < 0)
		return r;
	fprintf(ctx->out, "Name: %s\n", args->argv[0]);
	fprintf(ctx->out, "MAC address: %s\n", api_get_string(st, "hwaddr") ?: "");
	fprintf(ctx->out, "MTU: %lld\n", api_get_int(st, "mtu", 0));
	fprintf(ctx->out, "State: %s\n", api_get_string(st, "state") ?: "");
	fprintf(ctx->out, "Type: %s\n", api_get_string(st, "type") ?: "");
	fprintf(ctx->out, "DHCP and DNS (dnsmasq): %s\n",
		api_get_bool(st, "dnsmasq", false) ? "running" : "not running");
	json_object_object_get_ex(st, "addresses", &addrs);
	if (addrs && json_object_is_type(addrs, json_type_array) &&
	    json_object_array_length(addrs) > 0) {
		fprintf(ctx->out, "\nIP addresses:\n");
		for (size_t i = 0; i < json_object_array_length(addrs); i++) {
			json_object *a = json_object_array_get_idx(addrs, i);

			fprintf(ctx->out, "  %s\t%s/%s (%s)\n", api_get_string(a, "family") ?: "",
				api_get_string(a, "address") ?: "",
				api_get_string(a, "netmask") ?: "",
				api_get_string(a, "scope") ?: "");
		}
	}
	json_object_object_get_ex(st, "counters", &counters);
	fprintf(ctx->out, "\nNetwork usage:\n");
	print_bytes(ctx->out, "Bytes received", api_get_int(counters, "bytes_received", 0));
	print_bytes(ctx->out, "Bytes sent", api_get_int(counters, "bytes_sent", 0));
	fprintf(ctx->out, "  Packets received: %lld\n",
		api_get_int(counters, "packets_received", 0));
	fprintf(ctx->out, "  Packets sent: %lld\n", api_get_int(counters, "packets_sent", 0));
	return 0;
}

int cli_cmd_network_list_leases(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	static const char *const headers[] = {"HOSTNAME", "MAC ADDRESS", "IP ADDRESS", "TYPE"};
	_cleanup_free_ char *path = network_path(args->argv[0], "/leases");
	_cleanup_json_ json_object *list = NULL;
	struct cli_table t = {.ncols = 4, .headers = headers};
	struct cli_client *c = NULL;
	enum cli_format fmt;
	int r;

	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_format_parse(cli_flag_string(args, "format"), &fmt, err);
	if (r < 0)
		return r;
	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "GET", path, NULL, &list, err);
	if (r < 0)
		return r;
	if (!json_object_is_type(list, json_type_array))
		return err_set(err, -EPROTO,
			       "Invalid answer from cairnd: the leases are not a list");
	for (size_t i = 0; r == 0 && i < json_object_array_length(list); i++) {
		json_object *l = json_object_array_get_idx(list, i);
		_cleanup_free_ char *type = upper_copy(api_get_string(l, "type"));
		const char *cells[4];

		if (!type) {
			r = -ENOMEM;
			break;
		}
		cells[0] = api_get_string(l, "hostname") ?: "";
		cells[1] = api_get_string(l, "hwaddr") ?: "";
		cells[2] = api_get_string(l, "address") ?: "";
		cells[3] = type;
		r = cli_table_add(&t, cells);
	}
	if (r == 0)
		r = render_list(ctx, list, fmt, &t, err);
	else
		r = err_set(err, r, "Out of memory");
	cli_table_done(&t);
	return r;
}
