/*
 * The client's remotes on arbitrary input: the whole input is read as the `config.yml` of
 * remotes (Incus's layout: `default-remote` and a `remotes` mapping of NAME to {addr: ...}),
 * and each line as a remote name, added to what was read and removed again. Beyond memory errors
 * and leaks, it checks that a refusal is -EINVAL with `Invalid remote config: ...`; that what is
 * accepted has the built-in `local` at `unix://`, names sorted and unique and valid, addresses
 * that read back to themselves, a default that exists, and strings no NUL cut; that it emits
 * text which reads back to the same remotes; and that adding and removing a name does what it
 * says and nothing else.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cmd/cairn/remotes.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const struct cli_remotes *a, const struct cli_remotes *b)
{
	const char *da = a->default_remote ? a->default_remote : CLI_REMOTE_LOCAL;
	const char *db = b->default_remote ? b->default_remote : CLI_REMOTE_LOCAL;

	if (a->n != b->n || strcmp(da, db) != 0)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].name, b->v[i].name) != 0 || strcmp(a->v[i].addr, b->v[i].addr))
			return false;
	return true;
}

/* What cli_remotes_parse() promises of what it accepts. */
static void check_remotes(const struct cli_remotes *r)
{
	const struct cli_remote *local = cli_remotes_find(r, CLI_REMOTE_LOCAL);

	if (!local || strcmp(local->addr, "unix://") != 0)
		abort();
	for (size_t i = 0; i < r->n; i++) {
		_cleanup_free_ char *addr = NULL;

		if (i > 0 && strcmp(r->v[i - 1].name, r->v[i].name) >= 0)
			abort();
		if (cli_remote_name_valid(r->v[i].name, NULL) < 0)
			abort();
		if (cli_remote_addr_parse(r->v[i].addr, &addr, NULL) < 0 ||
		    strcmp(addr, r->v[i].addr) != 0)
			abort();
	}
	if (r->default_remote && !cli_remotes_find(r, r->default_remote))
		abort();
}

/* The tree the text parses to: no name or address the client keeps is shorter than its YAML
 * scalar (a NUL would cut it). */
static void check_whole(const char *text, size_t len, const struct cli_remotes *r)
{
	_cleanup_json_ json_object *tree = NULL;
	json_object *remotes = NULL, *def = NULL;

	if (config_yaml_parse(text, len, &tree, NULL) < 0)
		abort();
	if (json_object_object_get_ex(tree, "default-remote", &def) && r->default_remote &&
	    (size_t)json_object_get_string_len(def) != strlen(r->default_remote))
		abort();
	if (!json_object_object_get_ex(tree, "remotes", &remotes) ||
	    !json_object_is_type(remotes, json_type_object))
		return;
	json_object_object_foreach(remotes, name, val)
	{
		json_object *addr = NULL;
		const struct cli_remote *found = cli_remotes_find(r, name);

		if (strcmp(name, CLI_REMOTE_LOCAL) == 0)
			continue;
		if (!found || !json_object_object_get_ex(val, "addr", &addr))
			abort();
		/* cli_remote_addr_parse() rewrites an HTTPS address, but never shortens a
		 * unix one. */
		if (str_startswith(found->addr, "unix://") &&
		    (size_t)json_object_get_string_len(addr) != strlen(found->addr))
			abort();
	}
}

static void fuzz_names(struct cli_remotes *r, const char *text)
{
	_cleanup_free_ char *lines = strdup(text);
	char *line = lines;

	for (int n = 0; line && n < 16; n++) {
		_cleanup_err_ struct err *e = NULL;
		char *nl = strchr(line, '\n');
		size_t before = r->n;
		int rc;

		if (nl)
			*nl = '\0';
		rc = cli_remote_name_valid(line, &e);
		if (rc < 0 &&
		    (rc != -EINVAL || !e || !str_startswith(e->msg, "Invalid remote name")))
			abort();
		if (rc == 0 && (strlen(line) > 64 || line[0] == '-' || line[0] == '.' ||
				strchr(line, '/') || strchr(line, ':')))
			abort();
		if (rc == 0 && !cli_remotes_find(r, line)) {
			if (cli_remotes_add(r, line, "unix://", NULL) < 0 || r->n != before + 1 ||
			    !cli_remotes_find(r, line))
				abort();
			check_remotes(r);
			if (cli_remotes_remove(r, line, NULL) < 0 || r->n != before ||
			    cli_remotes_find(r, line))
				abort();
			check_remotes(r);
		}
		line = nl ? nl + 1 : NULL;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(cli_remotes_done) struct cli_remotes r = {0}, again = {0};
	_cleanup_free_ char *text = NULL, *emitted = NULL;
	_cleanup_err_ struct err *e = NULL;
	int rc;

	if (size > 16384)
		return 0;
	/* The client reads config.yml whole, NULs included (file_read_all()). */
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	rc = cli_remotes_parse(text, size, &r, &e);
	if (rc < 0) {
		if ((rc != -EINVAL && rc != -ENOMEM) || !e || !e->msg ||
		    (rc == -EINVAL && !str_startswith(e->msg, "Invalid remote config: ")))
			abort();
		if (r.v || r.n || r.default_remote)
			abort();
		return 0;
	}
	if (e)
		abort();
	check_remotes(&r);
	check_whole(text, size, &r);
	if (cli_remotes_emit(&r, &emitted, NULL) < 0)
		abort();
	if (cli_remotes_parse(emitted, strlen(emitted), &again, NULL) < 0 || !same(&r, &again))
		abort();
	fuzz_names(&r, text);
	return 0;
}
