#include "cmd/cairn/remotes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api/api.h"
#include "api/tls.h"
#include "api/trust.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/yaml.h"

void cli_remotes_done(struct cli_remotes *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].name);
		free(r->v[i].addr);
	}
	free(r->v);
	free(r->default_remote);
	*r = (struct cli_remotes){0};
}

int cli_remote_name_valid(const char *name, struct err **err)
{
	if (!name || !*name)
		return err_set(err, -EINVAL, "Invalid remote name \"\": it is empty");
	if (strlen(name) > 64)
		return err_set(err, -EINVAL,
			       "Invalid remote name \"%.64s...\": at most 64 characters", name);
	if (name[0] == '-' || name[0] == '.')
		return err_set(err, -EINVAL,
			       "Invalid remote name \"%s\": it may not start with '-' or '.'",
			       name);
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return err_set(err, -EINVAL,
				       "Invalid remote name \"%s\": only letters, digits, '-', '_' "
				       "and '.' are allowed",
				       name);
	return 0;
}

int cli_remote_addr_parse(const char *s, char **ret, struct err **err)
{
	_cleanup_free_ char *host = NULL;
	_cleanup_free_ char *hp = NULL;
	unsigned port;
	int r;

	if (str_startswith(s, "unix://")) {
		const char *path = s + 7;

		if (*path && *path != '/')
			return err_set(
			    err, -EINVAL,
			    "Invalid address \"%s\": a unix socket needs an absolute path "
			    "(unix:///path/to/unix.socket)",
			    s);
		if (strlen(path) >= 108)
			return err_set(err, -EINVAL, "Invalid address \"%s\": the path is too long",
				       s);
		*ret = strdup(s);
		return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
	}
	if (strstr(s, "://") && !str_startswith(s, "https://"))
		return err_set(err, -EINVAL,
			       "Invalid address \"%s\": only https:// and unix:// are supported",
			       s);
	if (str_startswith(s, "https://"))
		s += 8;
	if (strchr(s, '/'))
		return err_set(err, -EINVAL, "Invalid address \"%s\": no path may follow the port",
			       s);
	r = api_address_parse(s, true, &host, &port, err);
	if (r < 0)
		return r;
	hp = api_address_format(host, port);
	if (!hp)
		return err_set(err, -ENOMEM, "Out of memory");
	*ret = str_printf("https://%s", hp);
	return *ret ? 0 : err_set(err, -ENOMEM, "Out of memory");
}

const struct cli_remote *cli_remotes_find(const struct cli_remotes *r, const char *name)
{
	for (size_t i = 0; name && i < r->n; i++)
		if (strcmp(r->v[i].name, name) == 0)
			return &r->v[i];
	return NULL;
}

int cli_remotes_add(struct cli_remotes *r, const char *name, const char *addr, struct err **err)
{
	struct cli_remote *nv;
	size_t at = 0;

	if (cli_remotes_find(r, name))
		return err_set(err, -EEXIST, "Remote \"%s\" exists already", name);
	nv = realloc(r->v, (r->n + 1) * sizeof(*nv));
	if (!nv)
		return err_set(err, -ENOMEM, "Out of memory");
	r->v = nv;
	while (at < r->n && strcmp(r->v[at].name, name) < 0)
		at++;
	memmove(&r->v[at + 1], &r->v[at], (r->n - at) * sizeof(*nv));
	r->v[at] = (struct cli_remote){.name = strdup(name), .addr = strdup(addr)};
	r->n++;
	if (!r->v[at].name || !r->v[at].addr)
		return err_set(err, -ENOMEM, "Out of memory");
	return 0;
}

int cli_remotes_remove(struct cli_remotes *r, const char *name, struct err **err)
{
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->v[i].name, name) != 0)
			continue;
		if (strcmp(name, CLI_REMOTE_LOCAL) == 0)
			return err_set(err, -EINVAL,
				       "Remote \"local\" is built in and cannot be "
				       "removed");
		free(r->v[i].name);
		free(r->v[i].addr);
		memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(r->v[0]));
		r->n--;
		if (r->default_remote && strcmp(r->default_remote, name) == 0) {
			free(r->default_remote);
			r->default_remote = NULL;
		}
		return 0;
	}
	return err_set(err, -ENOENT, "Remote \"%s\" doesn't exist", name);
}

int cli_remotes_parse(const char *text, size_t len, struct cli_remotes *ret, struct err **err)
{
	_cleanup_(cli_remotes_done) struct cli_remotes r = {0};
	_cleanup_json_ json_object *tree = NULL;
	_cleanup_err_ struct err *e = NULL;
	json_object *remotes = NULL, *def = NULL;
	int rc;

	rc = config_yaml_parse(text, len, &tree, &e);
	if (rc < 0)
		return err_set(err, -EINVAL, "Invalid remote config: %s", err_msg(e, rc));
	if (!json_object_is_type(tree, json_type_object))
		return err_set(err, -EINVAL, "Invalid remote config: it is not a mapping");
	rc = cli_remotes_add(&r, CLI_REMOTE_LOCAL, "unix://", err);
	if (rc < 0)
		return rc;
	if (json_object_object_get_ex(tree, "remotes", &remotes) &&
	    !json_object_is_type(remotes, json_type_null)) {
		if (!json_object_is_type(remotes, json_type_object))
			return err_set(err, -EINVAL,
				       "Invalid remote config: \"remotes\" is not a mapping");
		json_object_object_foreach(remotes, name, val)
		{
			_cleanup_free_ char *addr = NULL;
			const char *a = api_get_string(val, "addr");
			json_object *a_obj = NULL;

			if (strcmp(name, CLI_REMOTE_LOCAL) == 0)
				continue;
			rc = cli_remote_name_valid(name, &e);
			if (rc < 0)
				return err_set(err, -EINVAL, "Invalid remote config: %s",
					       err_msg(e, rc));
			if (!a)
				return err_set(err, -EINVAL,
					       "Invalid remote config: remote \"%s\" has no addr",
					       name);
			/* YAML's "\0" puts a NUL in a string, and the C string would end there:
			 * "unix:///a\0b" would reach another socket than the file names. */
			json_object_object_get_ex(val, "addr", &a_obj);
			if (strlen(a) != (size_t)json_object_get_string_len(a_obj))
				return err_set(
				    err, -EINVAL,
				    "Invalid remote config: remote \"%s\": the addr holds "
				    "a NUL character",
				    name);
			rc = cli_remote_addr_parse(a, &addr, &e);
			if (rc < 0)
				return err_set(err, -EINVAL,
					       "Invalid remote config: remote \"%s\": %s", name,
					       err_msg(e, rc));
			rc = cli_remotes_add(&r, name, addr, err);
			if (rc < 0)
				return rc;
		}
	}
	if (json_object_object_get_ex(tree, "default-remote", &def) &&
	    json_object_is_type(def, json_type_string) && *json_object_get_string(def)) {
		if (strlen(json_object_get_string(def)) != (size_t)json_object_get_string_len(def))
			return err_set(err, -EINVAL,
				       "Invalid remote config: the default remote holds a NUL "
				       "character");
		if (!cli_remotes_find(&r, json_object_get_string(def)))
			return err_set(err, -EINVAL,
				       "Invalid remote config: the default remote \"%s\" doesn't "
				       "exist",
				       json_object_get_string(def));
		r.default_remote = strdup(json_object_get_string(def));
		if (!r.default_remote)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	*ret = r;
	r = (struct cli_remotes){0};
	return 0;
}

int cli_remotes_emit(const struct cli_remotes *r, char **ret, struct err **err)
{
	_cleanup_json_ json_object *tree = json_object_new_object();
	json_object *remotes = json_object_new_object();

	if (!tree || !remotes) {
		json_object_put(remotes);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	json_object_object_add(
	    tree, "default-remote",
	    json_object_new_string(r->default_remote ? r->default_remote : CLI_REMOTE_LOCAL));
	json_object_object_add(tree, "remotes", remotes);
	for (size_t i = 0; i < r->n; i++) {
		json_object *o;

		if (strcmp(r->v[i].name, CLI_REMOTE_LOCAL) == 0)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "addr", json_object_new_string(r->v[i].addr));
		if (str_startswith(r->v[i].addr, "https://"))
			json_object_object_add(o, "auth_type", json_object_new_string("tls"));
		json_object_object_add(o, "protocol", json_object_new_string("cairn"));
		json_object_object_add(o, "public", json_object_new_boolean(0));
		json_object_object_add(remotes, r->v[i].name, o);
	}
	return config_yaml_emit(tree, ret, err);
}

char *cli_config_dir(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

	if (xdg && *xdg == '/')
		return str_printf("%s/cairn", xdg);
	if (home && *home)
		return str_printf("%s/.config/cairn", home);
	return NULL;
}

int cli_remotes_load(struct cli_remotes *ret, struct err **err)
{
	_cleanup_free_ char *dir = cli_config_dir();
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r;

	if (dir)
		path = str_printf("%s/config.yml", dir);
	if (path) {
		r = file_read_all(path, &text, &len, NULL);
		/* A HOME the user cannot read (another user's, left by `su` or `setpriv` without a
		 * login) holds no remotes of theirs: the built-in `local` alone, as with no file.
		 */
		if (r < 0 && r != -ENOENT && r != -EACCES && r != -ENOTDIR)
			return err_set_errno(err, r, "Failed to read \"%s\"", path);
	}
	return cli_remotes_parse(text ? text : "", text ? len : 0, ret, err);
}

/* The config directory, made 0700 when missing. */
static char *config_dir_made(struct err **err)
{
	_cleanup_free_ char *dir = cli_config_dir();
	int r;

	if (!dir) {
		err_set(err, -ENOENT, "No config directory: set HOME or XDG_CONFIG_HOME");
		return NULL;
	}
	r = mkdir_p(dir, 0700, err);
	if (r < 0)
		return NULL;
	return steal_pointer(&dir);
}

int cli_remotes_save(const struct cli_remotes *r, struct err **err)
{
	_cleanup_free_ char *dir = config_dir_made(err);
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *text = NULL;
	int rc;

	if (!dir)
		return -ENOENT;
	path = str_printf("%s/config.yml", dir);
	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	rc = cli_remotes_emit(r, &text, err);
	if (rc < 0)
		return rc;
	return file_write_atomic(path, text, strlen(text), 0600, err);
}

int cli_client_certificate(char **ret_cert, char **ret_key, struct err **err)
{
	_cleanup_free_ char *dir = config_dir_made(err);
	_cleanup_free_ char *cert = NULL, *key = NULL;
	int r;

	if (!dir)
		return -ENOENT;
	cert = str_printf("%s/client.crt", dir);
	key = str_printf("%s/client.key", dir);
	if (!cert || !key)
		return err_set(err, -ENOMEM, "Out of memory");
	if (access(cert, F_OK) < 0 || access(key, F_OK) < 0) {
		_cleanup_free_ char *cn = NULL;
		char host[256] = "cairn";

		gethostname(host, sizeof(host) - 1);
		cn = str_printf("cairn client %s", host);
		r = api_tls_generate(cert, key, cn ? cn : "cairn client", err);
		if (r < 0)
			return err_wrap(err, r, "Cannot make the client certificate");
	}
	*ret_cert = steal_pointer(&cert);
	*ret_key = steal_pointer(&key);
	return 0;
}
