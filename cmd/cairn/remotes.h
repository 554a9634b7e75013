#pragma once

/*
 * The client's remotes, as Incus keeps them: `config.yml` under the user's config directory
 * ($XDG_CONFIG_HOME/cairn, else ~/.config/cairn, mode 0700) names each remote's address and the
 * default one; the client's own certificate and key (client.crt, client.key 0600) are made on
 * first need; `servercerts/<remote>.crt` holds each HTTPS remote's accepted certificate.
 * `local` is built in: $CAIRN_DIR/unix.socket, never written to the file.
 */

#include <stdbool.h>
#include <stddef.h>

struct err;

#define CLI_REMOTE_LOCAL "local"

struct cli_remote {
	char *name;
	char *addr; /* "https://HOST:PORT", "unix://" (local) or "unix:///path/to/unix.socket" */
};

struct cli_remotes {
	char *default_remote; /* NULL: local */
	struct cli_remote *v; /* sorted by name, `local` included */
	size_t n;
};

/* Frees the contents; may be called twice. */
void cli_remotes_done(struct cli_remotes *r);

/*
 * Reads config.yml's text (`len` bytes; empty means only `local`): `default-remote` and a
 * `remotes` mapping of NAME to {addr: ...} (other keys, such as Incus's protocol and auth_type,
 * are ignored). -EINVAL with `Invalid remote config: ...` for a bad name or address, a missing
 * addr, or a default that names no remote.
 */
int cli_remotes_parse(const char *text, size_t len, struct cli_remotes *ret, struct err **err);

/* Writes `r` as config.yml (without `local`). *ret is the caller's. */
int cli_remotes_emit(const struct cli_remotes *r, char **ret, struct err **err);

/* The remote called `name`, or NULL. Borrowed. */
const struct cli_remote *cli_remotes_find(const struct cli_remotes *r, const char *name);

/* Adds (or, when `replace`, replaces) remote `name` at `addr`. -EEXIST with `Remote "x"
 * exists already`, -ENOMEM. */
int cli_remotes_add(struct cli_remotes *r, const char *name, const char *addr, struct err **err);

/* Removes remote `name` (the default moves back to local). -ENOENT, or -EINVAL for `local`. */
int cli_remotes_remove(struct cli_remotes *r, const char *name, struct err **err);

/*
 * A remote name: 1 to 64 letters, digits, '-', '_' and '.', not starting with '-' or '.' (so it
 * never reads as a flag or a path). -EINVAL with `Invalid remote name "x": ...`.
 */
int cli_remote_name_valid(const char *name, struct err **err);

/*
 * Reads the address given to `remote add`: "unix://" or "unix:///PATH" as is, else an HTTPS
 * address ("https://" optional) with api_address_parse() (host names allowed), made
 * "https://HOST:PORT". *ret is the caller's. -EINVAL otherwise.
 */
int cli_remote_addr_parse(const char *s, char **ret, struct err **err);

/* The config directory (not created). Caller frees; NULL when neither XDG_CONFIG_HOME nor HOME
 * is set (or out of memory). */
char *cli_config_dir(void);

/* Loads the remotes from the config directory (a missing file: only `local`). */
int cli_remotes_load(struct cli_remotes *ret, struct err **err);

/* Writes them back atomically, making the directory (0700) when needed. */
int cli_remotes_save(const struct cli_remotes *r, struct err **err);

/* The client's certificate and key paths, both made (once) when missing. Caller frees both. */
int cli_client_certificate(char **ret_cert, char **ret_key, struct err **err);
