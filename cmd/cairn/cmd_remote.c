/* `cairn remote ...` and `cairn config trust ...`: reaching other daemons and letting them in. */
#include "cmd/cairn/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/trust.h"
#include "cmd/cairn/remotes.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

/* Stores `pem` as the accepted certificate of remote `name`. */
static int save_server_cert(const char *name, const char *pem, struct err **err)
{
	_cleanup_free_ char *dir = cli_config_dir();
	_cleanup_free_ char *sub = NULL, *path = NULL;
	int r;

	if (!dir)
		return err_set(err, -ENOENT, "No config directory: set HOME or XDG_CONFIG_HOME");
	sub = str_printf("%s/servercerts", dir);
	path = str_printf("%s/servercerts/%s.crt", dir, name);
	if (!sub || !path)
		return err_set(err, -ENOMEM, "Out of memory");
	r = mkdir_p(sub, 0700, err);
	if (r < 0)
		return r;
	return file_write_atomic(path, pem, strlen(pem), 0644, err);
}

static void remove_server_cert(const char *name)
{
	_cleanup_free_ char *dir = cli_config_dir();
	_cleanup_free_ char *path = dir ? str_printf("%s/servercerts/%s.crt", dir, name) : NULL;

	if (path)
		unlink(path);
}

/* Asks on the terminal whether to trust fingerprint `fp` of `addr`. */
static int confirm_fingerprint(struct cli_ctx *ctx, const char *addr, const char *fp,
			       struct err **err)
{
	char line[256];

	if (!ctx->stdin_tty)
		return err_set(err, -EPERM,
			       "The certificate of %s has fingerprint %s: refusing to trust it "
			       "without a terminal to ask on (pass --accept-certificate after "
			       "checking it)",
			       addr, fp);
	fprintf(stderr, "Certificate fingerprint: %s\nok (y/n)? ", fp);
	if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y'))
		return err_set(err, -EPERM, "Server certificate NACKed by user");
	return 0;
}

/* `remote add NAME TOKEN`: the token names the server's fingerprint and addresses, so nothing
 * is asked; the client's certificate is trusted by redeeming the token. */
static int add_with_token(struct cli_ctx *ctx, const char *name, const struct api_token *tok,
			  const char *token_text, struct cli_remotes *remotes, struct err **err)
{
	_cleanup_err_ struct err *last = NULL;
	int r = -EHOSTUNREACH;

	if (tok->expires_at <= time_now())
		return err_set(err, -EACCES, "The trust token has expired");
	for (char *const *a = tok->addresses; a && *a; a++) {
		_cleanup_free_ char *addr = NULL, *pem = NULL, *cert = NULL, *key = NULL;
		_cleanup_json_ json_object *body = json_object_new_object();
		_cleanup_json_ json_object *server = NULL;
		struct cli_client *c = NULL;
		char fp[API_FINGERPRINT_SIZE];

		err_free(last);
		last = NULL;
		r = cli_remote_addr_parse(*a, &addr, &last);
		if (r < 0)
			continue;
		r = cli_client_probe(addr, &pem, NULL, &last);
		if (r < 0)
			continue;
		r = api_fingerprint_pem(pem, fp, &last);
		if (r < 0)
			continue;
		if (strcmp(fp, tok->fingerprint) != 0) {
			r = err_set(
			    &last, -EPERM,
			    "The certificate of %s (fingerprint %s) is not the one the token "
			    "names (%s)",
			    addr, fp, tok->fingerprint);
			continue;
		}
		r = cli_client_certificate(&cert, &key, err);
		if (r < 0)
			return r;
		r = cli_client_open_https(&(struct cli_https){.base = addr,
							      .remote = name,
							      .cert_path = cert,
							      .key_path = key,
							      .server_cert = pem},
					  &c, &last);
		if (r < 0)
			continue;
		json_object_object_add(body, "type", json_object_new_string("client"));
		json_object_object_add(body, "trust_token", json_object_new_string(token_text));
		r = cli_client_query(c, "POST", "/1.0/certificates", body, NULL, &last);
		if (r == 0)
			r = cli_client_query(c, "GET", "/1.0", NULL, &server, &last);
		cli_client_free(c);
		if (r < 0) {
			/* The server said no (a used or expired token): another address of the
			 * same server would say the same. */
			if (r == -EACCES || r == -EPERM)
				break;
			continue;
		}
		if (!api_get_string(server, "auth") ||
		    strcmp(api_get_string(server, "auth"), "trusted") != 0) {
			r = err_set(&last, -EACCES,
				    "%s took the token but does not trust this "
				    "client",
				    addr);
			break;
		}
		r = save_server_cert(name, pem, err);
		if (r < 0)
			return r;
		r = cli_remotes_add(remotes, name, addr, err);
		if (r >= 0)
			r = cli_remotes_save(remotes, err);
		if (r < 0) {
			remove_server_cert(name);
			return r;
		}
		(void)ctx;
		return 0;
	}
	return err_set(err, r < 0 ? r : -EIO, "%s", err_msg(last, r));
}

int cli_cmd_remote_add(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_(cli_remotes_done) struct cli_remotes remotes = {0};
	_cleanup_(api_token_done) struct api_token tok = {0};
	_cleanup_free_ char *addr = NULL, *pem = NULL, *cert = NULL, *key = NULL;
	_cleanup_json_ json_object *server = NULL;
	_cleanup_json_ json_object *trusted = NULL;
	const char *name = args->argv[0], *target = args->argv[1];
	struct cli_client *c = NULL;
	char fp[API_FINGERPRINT_SIZE];
	int r;

	r = cli_remote_name_valid(name, err);
	if (r < 0)
		return r;
	r = cli_remotes_load(&remotes, err);
	if (r < 0)
		return r;
	if (cli_remotes_find(&remotes, name))
		return err_set(err, -EEXIST, "Remote \"%s\" exists already", name);
	/* A token is base64 of JSON, so never holds ':' or '.' as an address does. */
	if (!strchr(target, ':') && !strchr(target, '.') && strlen(target) > 64) {
		r = api_token_decode(target, &tok, err);
		if (r < 0)
			return r;
		return add_with_token(ctx, name, &tok, target, &remotes, err);
	}
	r = cli_remote_addr_parse(target, &addr, err);
	if (r < 0)
		return r;
	if (str_startswith(addr, "unix://")) {
		r = cli_remotes_add(&remotes, name, addr, err);
		return r < 0 ? r : cli_remotes_save(&remotes, err);
	}
	r = cli_client_probe(addr, &pem, &server, err);
	if (r < 0)
		return r;
	r = api_fingerprint_pem(pem, fp, err);
	if (r < 0)
		return r;
	if (!cli_flag_bool(args, "accept-certificate")) {
		r = confirm_fingerprint(ctx, addr, fp, err);
		if (r < 0)
			return r;
	}
	/* Only a server that already trusts this client is of use without a token. */
	r = cli_client_certificate(&cert, &key, err);
	if (r < 0)
		return r;
	r = cli_client_open_https(&(struct cli_https){.base = addr,
						      .remote = name,
						      .cert_path = cert,
						      .key_path = key,
						      .server_cert = pem},
				  &c, err);
	if (r < 0)
		return r;
	r = cli_client_query(c, "GET", "/1.0", NULL, &trusted, err);
	cli_client_free(c);
	if (r < 0)
		return r;
	if (!api_get_string(trusted, "auth") ||
	    strcmp(api_get_string(trusted, "auth"), "trusted") != 0) {
		char mine[API_FINGERPRINT_SIZE] = "";
		_cleanup_free_ char *mine_pem = NULL;

		if (file_read_all(cert, &mine_pem, NULL, NULL) == 0)
			api_fingerprint_pem(mine_pem, mine, NULL);
		return err_set(err, -EACCES,
			       "%s does not trust this client (certificate %s): on that host run "
			       "\"cairn config trust add NAME\" and add the remote with the token "
			       "it prints",
			       addr, mine);
	}
	r = save_server_cert(name, pem, err);
	if (r < 0)
		return r;
	r = cli_remotes_add(&remotes, name, addr, err);
	if (r >= 0)
		r = cli_remotes_save(&remotes, err);
	if (r < 0)
		remove_server_cert(name);
	return r;
}

int cli_cmd_remote_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	static const char *const headers[] = {"NAME",	"URL",	  "PROTOCOL", "AUTH TYPE",
					      "PUBLIC", "STATIC", "GLOBAL"};
	_cleanup_(cli_remotes_done) struct cli_remotes remotes = {0};
	_cleanup_json_ json_object *list = json_object_new_array();
	struct cli_table t = {.ncols = 7, .headers = headers};
	enum cli_format fmt;
	int r;

	r = cli_format_parse(cli_flag_string(args, "format"), &fmt, err);
	if (r < 0)
		return r;
	r = cli_remotes_load(&remotes, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < remotes.n && r >= 0; i++) {
		const struct cli_remote *rem = &remotes.v[i];
		bool is_default = strcmp(rem->name, remotes.default_remote ? remotes.default_remote
									   : CLI_REMOTE_LOCAL) == 0;
		bool https = str_startswith(rem->addr, "https://");
		_cleanup_free_ char *label =
		    str_printf("%s%s", rem->name, is_default ? " (current)" : "");
		const char *cells[7] = {label ? label : rem->name,
					rem->addr,
					"cairn",
					https ? "tls" : "file access",
					"NO",
					strcmp(rem->name, CLI_REMOTE_LOCAL) == 0 ? "YES" : "NO",
					"NO"};
		json_object *o = json_object_new_object();

		json_object_object_add(o, "addr", json_object_new_string(rem->addr));
		json_object_object_add(o, "protocol", json_object_new_string("cairn"));
		json_object_object_add(o, "auth_type",
				       json_object_new_string(https ? "tls" : "file access"));
		json_object_object_add(o, "public", json_object_new_boolean(0));
		json_object_object_add(o, "name", json_object_new_string(rem->name));
		json_object_array_add(list, o);
		r = cli_table_add(&t, cells);
	}
	if (r >= 0 && fmt == CLI_FORMAT_JSON)
		cli_render_json(ctx->out, list);
	else if (r >= 0 && fmt == CLI_FORMAT_YAML)
		r = cli_render_yaml(ctx->out, list, err);
	else if (r >= 0)
		cli_table_render(ctx->out, &t, fmt);
	cli_table_done(&t);
	return r < 0 ? err_set(err, r, "Out of memory") : 0;
}

int cli_cmd_remote_remove(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_(cli_remotes_done) struct cli_remotes remotes = {0};
	const char *name = args->argv[0];
	int r;

	(void)ctx;
	r = cli_remotes_load(&remotes, err);
	if (r < 0)
		return r;
	r = cli_remotes_remove(&remotes, name, err);
	if (r < 0)
		return r;
	r = cli_remotes_save(&remotes, err);
	if (r < 0)
		return r;
	remove_server_cert(name);
	return 0;
}

int cli_cmd_remote_rename(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_(cli_remotes_done) struct cli_remotes remotes = {0};
	_cleanup_free_ char *addr = NULL, *dir = cli_config_dir();
	_cleanup_free_ char *from = NULL, *to = NULL;
	const char *old = args->argv[0], *new = args->argv[1];
	const struct cli_remote *rem;
	bool was_default;
	int r;

	(void)ctx;
	r = cli_remote_name_valid(new, err);
	if (r < 0)
		return r;
	r = cli_remotes_load(&remotes, err);
	if (r < 0)
		return r;
	rem = cli_remotes_find(&remotes, old);
	if (!rem)
		return err_set(err, -ENOENT, "Remote \"%s\" doesn't exist", old);
	if (strcmp(old, CLI_REMOTE_LOCAL) == 0)
		return err_set(err, -EINVAL, "Remote \"local\" is built in and cannot be renamed");
	if (cli_remotes_find(&remotes, new))
		return err_set(err, -EEXIST, "Remote \"%s\" exists already", new);
	addr = strdup(rem->addr);
	was_default = remotes.default_remote && strcmp(remotes.default_remote, old) == 0;
	if (!addr || !dir)
		return err_set(err, -ENOMEM, "Out of memory");
	r = cli_remotes_remove(&remotes, old, err);
	if (r >= 0)
		r = cli_remotes_add(&remotes, new, addr, err);
	if (r < 0)
		return r;
	if (was_default && !(remotes.default_remote = strdup(new)))
		return err_set(err, -ENOMEM, "Out of memory");
	from = str_printf("%s/servercerts/%s.crt", dir, old);
	to = str_printf("%s/servercerts/%s.crt", dir, new);
	if (!from || !to)
		return err_set(err, -ENOMEM, "Out of memory");
	if (rename(from, to) < 0 && errno != ENOENT)
		return err_set_errno(err, -errno, "Failed to rename \"%s\"", from);
	r = cli_remotes_save(&remotes, err);
	if (r < 0)
		rename(to, from);
	return r;
}

int cli_cmd_remote_switch(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_(cli_remotes_done) struct cli_remotes remotes = {0};
	int r;

	(void)ctx;
	r = cli_remotes_load(&remotes, err);
	if (r < 0)
		return r;
	if (!cli_remotes_find(&remotes, args->argv[0]))
		return err_set(err, -ENOENT, "Remote \"%s\" doesn't exist", args->argv[0]);
	free(remotes.default_remote);
	remotes.default_remote = strdup(args->argv[0]);
	if (!remotes.default_remote)
		return err_set(err, -ENOMEM, "Out of memory");
	return cli_remotes_save(&remotes, err);
}

int cli_cmd_remote_get_default(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_(cli_remotes_done) struct cli_remotes remotes = {0};
	int r;

	(void)args;
	r = cli_remotes_load(&remotes, err);
	if (r < 0)
		return r;
	fprintf(ctx->out, "%s\n", remotes.default_remote ? remotes.default_remote : "local");
	return 0;
}

/* ---- config trust ---- */

/* The remote a `config trust` command is for: "r2:" as its first argument, or the default. */
/* A leading `REMOTE:` argument names the server whose trust store is meant (else the default
 * remote); *first is the index of the next argument. */
static int trust_remote(struct cli_ctx *ctx, const struct cli_args *args, size_t *first,
			struct err **err)
{
	size_t len;

	*first = 0;
	if (args->argc > 0 && (len = strlen(args->argv[0])) > 1 && args->argv[0][len - 1] == ':') {
		_cleanup_free_ char *name = strndup(args->argv[0], len - 1);

		if (!name)
			return err_set(err, -ENOMEM, "Out of memory");
		free(ctx->remote);
		ctx->remote = steal_pointer(&name);
		*first = 1;
	}
	return 0;
}

static int trust_client(struct cli_ctx *ctx, const struct cli_args *args, size_t *first,
			struct cli_client **ret, struct err **err)
{
	int r = trust_remote(ctx, args, first, err);

	return r < 0 ? r : cli_ctx_client(ctx, ret, err);
}

int cli_cmd_trust_add(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_json_ json_object *md = NULL;
	struct cli_client *c = NULL;
	const char *name = NULL;
	size_t first;
	int r;

	r = trust_client(ctx, args, &first, &c, err);
	if (r < 0)
		return r;
	name = args->argc > first ? args->argv[first] : cli_flag_string(args, "name");
	if (!name || !*name)
		return err_set(err, -EINVAL,
			       "A trust token needs a client name: cairn config "
			       "trust add NAME");
	json_object_object_add(body, "token", json_object_new_boolean(1));
	json_object_object_add(body, "name", json_object_new_string(name));
	json_object_object_add(body, "type", json_object_new_string("client"));
	r = cli_client_query(c, "POST", "/1.0/certificates", body, &md, err);
	if (r < 0)
		return r;
	fprintf(ctx->out, "Client %s certificate add token:\n%s\n", name,
		api_get_string(md, "token") ? api_get_string(md, "token") : "");
	return 0;
}

int cli_cmd_trust_add_certificate(struct cli_ctx *ctx, const struct cli_args *args,
				  struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_free_ char *pem = NULL;
	struct cli_client *c = NULL;
	const char *name = cli_flag_string(args, "name");
	size_t first;
	int r;

	r = trust_client(ctx, args, &first, &c, err);
	if (r < 0)
		return r;
	if (args->argc <= first)
		return err_set(err, -EINVAL, "Invalid number of arguments");
	r = file_read_all(args->argv[first], &pem, NULL, err);
	if (r < 0)
		return r;
	json_object_object_add(body, "certificate", json_object_new_string(pem));
	json_object_object_add(body, "type", json_object_new_string("client"));
	if (name)
		json_object_object_add(body, "name", json_object_new_string(name));
	return cli_client_query(c, "POST", "/1.0/certificates", body, NULL, err);
}

/* The list a `trust list` command shows: --format into *ret_fmt, then GET `path` on the remote the
 * arguments name, which must answer a JSON array (a remote is not trusted to). */
static int trust_list_fetch(struct cli_ctx *ctx, const struct cli_args *args, const char *path,
			    const char *what, enum cli_format *ret_fmt, json_object **ret,
			    struct err **err)
{
	size_t first;
	int r = trust_remote(ctx, args, &first, err);

	return r < 0 ? r : cli_list_fetch(ctx, args, path, what, ret_fmt, ret, err);
}

int cli_cmd_trust_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	static const char *const headers[] = {"NAME", "TYPE", "FINGERPRINT"};
	_cleanup_json_ json_object *list = NULL;
	struct cli_table t = {.ncols = 3, .headers = headers};
	enum cli_format fmt;
	int r;

	r = trust_list_fetch(ctx, args, "/1.0/certificates?recursion=1", "trust list", &fmt, &list,
			     err);
	if (r < 0)
		return r;
	if (fmt == CLI_FORMAT_JSON) {
		cli_render_json(ctx->out, list);
		return 0;
	}
	if (fmt == CLI_FORMAT_YAML)
		return cli_render_yaml(ctx->out, list, err);
	for (size_t i = 0; i < json_object_array_length(list) && r >= 0; i++) {
		json_object *o = json_object_array_get_idx(list, i);
		const char *fp = api_get_string(o, "fingerprint");
		char short_fp[13] = "";
		const char *cells[3];

		snprintf(short_fp, sizeof(short_fp), "%s", fp ? fp : "");
		cells[0] = api_get_string(o, "name") ? api_get_string(o, "name") : "";
		cells[1] = api_get_string(o, "type") ? api_get_string(o, "type") : "";
		cells[2] = short_fp;
		r = cli_table_add(&t, cells);
	}
	if (r >= 0)
		cli_table_render(ctx->out, &t, fmt);
	cli_table_done(&t);
	return r < 0 ? err_set(err, r, "Out of memory") : 0;
}

int cli_cmd_trust_remove(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_free_ char *path = NULL, *efp = NULL;
	struct cli_client *c = NULL;
	size_t first;
	int r;

	r = trust_client(ctx, args, &first, &c, err);
	if (r < 0)
		return r;
	if (args->argc <= first)
		return err_set(err, -EINVAL, "Invalid number of arguments");
	efp = cli_escape(args->argv[first]);
	path = efp ? str_printf("/1.0/certificates/%s", efp) : NULL;
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	return cli_client_query(c, "DELETE", path, NULL, NULL, err);
}

int cli_cmd_trust_list_tokens(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	static const char *const headers[] = {"NAME", "TOKEN", "EXPIRES AT"};
	_cleanup_json_ json_object *list = NULL;
	struct cli_table t = {.ncols = 3, .headers = headers};
	enum cli_format fmt;
	int r;

	r = trust_list_fetch(ctx, args, "/1.0/certificates/tokens", "token list", &fmt, &list, err);
	if (r < 0)
		return r;
	if (fmt == CLI_FORMAT_JSON) {
		cli_render_json(ctx->out, list);
		return 0;
	}
	if (fmt == CLI_FORMAT_YAML)
		return cli_render_yaml(ctx->out, list, err);
	for (size_t i = 0; i < json_object_array_length(list) && r >= 0; i++) {
		json_object *o = json_object_array_get_idx(list, i);
		_cleanup_free_ char *expires = cli_format_time(api_get_string(o, "expires_at"));
		const char *cells[3] = {
		    api_get_string(o, "client_name") ? api_get_string(o, "client_name") : "",
		    api_get_string(o, "token") ? api_get_string(o, "token") : "",
		    expires ? expires : ""};

		r = cli_table_add(&t, cells);
	}
	if (r >= 0)
		cli_table_render(ctx->out, &t, fmt);
	cli_table_done(&t);
	return r < 0 ? err_set(err, r, "Out of memory") : 0;
}

int cli_cmd_trust_revoke_token(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_free_ char *path = NULL, *ename = NULL;
	struct cli_client *c = NULL;
	size_t first;
	int r;

	r = trust_client(ctx, args, &first, &c, err);
	if (r < 0)
		return r;
	if (args->argc <= first)
		return err_set(err, -EINVAL, "Invalid number of arguments");
	ename = cli_escape(args->argv[first]);
	path = ename ? str_printf("/1.0/certificates/tokens/%s", ename) : NULL;
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	return cli_client_query(c, "DELETE", path, NULL, NULL, err);
}

/* ---- `cairn config remote ...`: the daemon's own remotes (the snapshot server) ---- */

static int daemon_remote_path(const char *name, char **ret, struct err **err)
{
	_cleanup_free_ char *ename = cli_escape(name);

	*ret = ename ? str_printf("/1.0/remotes/%s", ename) : NULL;
	return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
}

int cli_cmd_daemon_remote_add(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_json_ json_object *body = json_object_new_object();
	_cleanup_json_ json_object *probed = NULL;
	const char *name = args->argv[0], *target = args->argv[1];
	struct cli_client *c = NULL;
	int r;

	r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	json_object_object_add(body, "name", json_object_new_string(name));
	/* A token is base64 of JSON, so never holds ':' or '.' as an address does. */
	if (!strchr(target, ':') && !strchr(target, '.') && strlen(target) > 64) {
		json_object_object_add(body, "token", json_object_new_string(target));
		return cli_client_query(c, "POST", "/1.0/remotes", body, NULL, err);
	}
	json_object_object_add(body, "addr", json_object_new_string(target));
	if (cli_flag_bool(args, "accept-certificate")) {
		json_object_object_add(body, "accept_certificate", json_object_new_boolean(1));
		return cli_client_query(c, "POST", "/1.0/remotes", body, NULL, err);
	}
	if (!ctx->stdin_tty)
		return err_set(err, -EPERM,
			       "Refusing to trust the certificate of %s without a terminal to ask "
			       "on (pass --accept-certificate after checking its fingerprint, or "
			       "add the remote with a trust token)",
			       target);
	{
		/* The daemon connects, so the daemon is asked for the certificate it sees; the
		 * fingerprint accepted goes back with the request and is checked again there. */
		_cleanup_json_ json_object *ask = json_object_new_object();
		const char *fp;

		json_object_object_add(ask, "addr", json_object_new_string(target));
		json_object_object_add(ask, "probe", json_object_new_boolean(1));
		r = cli_client_query(c, "POST", "/1.0/remotes", ask, &probed, err);
		if (r < 0)
			return r;
		fp = api_get_string(probed, "fingerprint");
		if (!fp)
			return err_set(err, -EPROTO,
				       "Invalid answer from the server: no fingerprint");
		r = confirm_fingerprint(ctx, target, fp, err);
		if (r < 0)
			return r;
		json_object_object_add(body, "fingerprint", json_object_new_string(fp));
	}
	return cli_client_query(c, "POST", "/1.0/remotes", body, NULL, err);
}

int cli_cmd_daemon_remote_list(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	static const char *const headers[] = {"NAME", "URL", "FINGERPRINT", "USED BY"};
	_cleanup_json_ json_object *list = NULL;
	struct cli_table t = {.ncols = 4, .headers = headers};
	enum cli_format fmt;
	int r;

	r = cli_list_fetch(ctx, args, "/1.0/remotes?recursion=1", "remote list", &fmt, &list, err);
	if (r < 0)
		return r;
	if (fmt == CLI_FORMAT_JSON) {
		cli_render_json(ctx->out, list);
		return 0;
	}
	if (fmt == CLI_FORMAT_YAML)
		return cli_render_yaml(ctx->out, list, err);
	for (size_t i = 0; i < json_object_array_length(list) && r >= 0; i++) {
		json_object *o = json_object_array_get_idx(list, i), *users = NULL;
		const char *fp = api_get_string(o, "fingerprint");
		char short_fp[13] = "", used[32];
		const char *cells[4];

		snprintf(short_fp, sizeof(short_fp), "%s", fp ? fp : "");
		json_object_object_get_ex(o, "used_by", &users);
		snprintf(used, sizeof(used), "%zu",
			 json_object_is_type(users, json_type_array)
			     ? json_object_array_length(users)
			     : (size_t)0);
		cells[0] = api_get_string(o, "name") ? api_get_string(o, "name") : "";
		cells[1] = api_get_string(o, "addr") ? api_get_string(o, "addr") : "";
		cells[2] = short_fp;
		cells[3] = used;
		r = cli_table_add(&t, cells);
	}
	if (r >= 0)
		cli_table_render(ctx->out, &t, fmt);
	cli_table_done(&t);
	return r < 0 ? err_set(err, r, "Out of memory") : 0;
}

int cli_cmd_daemon_remote_show(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	int r;

	r = daemon_remote_path(args->argv[0], &path, err);
	return r < 0 ? r : cli_show_yaml(ctx, path, err);
}

int cli_cmd_daemon_remote_remove(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	struct cli_client *c = NULL;
	int r;

	r = daemon_remote_path(args->argv[0], &path, err);
	if (r >= 0)
		r = cli_ctx_client(ctx, &c, err);
	if (r < 0)
		return r;
	return cli_client_query(c, "DELETE", path, NULL, NULL, err);
}
