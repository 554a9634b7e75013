/* Completion, once for both the REPL (readline) and the shell (`cairn __complete`, which the
 * script of `cairn completion bash` calls for the names it cannot know in advance). */
#include "cmd/cairn/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/keys.h"

/* Adds `name` when it starts with `prefix`. */
static void push_match(char ***v, const char *name, const char *prefix)
{
	if (name && strncmp(name, prefix, strlen(prefix)) == 0 && !strv_contains(*v, name))
		strv_push(v, name);
}

/* The last segments of the URLs that GET `path` lists, those starting with `prefix`, each after
 * `lead` ("c1/" for snapshots). A daemon that cannot be reached completes nothing. */
static void push_url_names(struct cli_ctx *ctx, const char *path, const char *lead,
			   const char *prefix, char ***v)
{
	_cleanup_json_ json_object *list = NULL;
	struct cli_client *c = NULL;

	if (!ctx || cli_ctx_client(ctx, &c, NULL) < 0 ||
	    cli_client_query(c, "GET", path, NULL, &list, NULL) < 0 ||
	    !json_object_is_type(list, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		const char *url = json_object_get_string(json_object_array_get_idx(list, i));
		_cleanup_free_ char *name = cli_url_basename(url);
		_cleanup_free_ char *full = name ? str_printf("%s%s", lead, name) : NULL;

		push_match(v, full, prefix);
	}
}

/* The ids of the operations the daemon keeps, running ones first. */
static void push_operations(struct cli_ctx *ctx, const char *prefix, char ***v)
{
	static const char *const lists[] = {"running", "success", "failure"};
	_cleanup_json_ json_object *all = NULL;
	struct cli_client *c = NULL;

	if (!ctx || cli_ctx_client(ctx, &c, NULL) < 0 ||
	    cli_client_query(c, "GET", "/1.0/operations", NULL, &all, NULL) < 0)
		return;
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		json_object *list = NULL;

		if (!json_object_object_get_ex(all, lists[l], &list) ||
		    !json_object_is_type(list, json_type_array))
			continue;
		for (size_t i = 0; i < json_object_array_length(list); i++) {
			const char *url =
			    json_object_get_string(json_object_array_get_idx(list, i));
			_cleanup_free_ char *id = cli_url_basename(url);

			push_match(v, id, prefix);
		}
	}
}

/* Snapshots of instance `instance`, as bare names, or as "INSTANCE/NAME" when `qualified`. */
static void push_snapshots(struct cli_ctx *ctx, const char *instance, bool qualified,
			   const char *prefix, char ***v)
{
	_cleanup_free_ char *e = cli_escape(instance);
	_cleanup_free_ char *path = e ? str_printf("/1.0/instances/%s/snapshots", e) : NULL;
	_cleanup_free_ char *lead = qualified ? str_printf("%s/", instance) : strdup("");

	if (path && lead)
		push_url_names(ctx, path, lead, prefix, v);
}

/* Instance names; once the word has a '/', the snapshots of the instance before it. */
static void push_instances(struct cli_ctx *ctx, const char *text, char ***v)
{
	const char *slash = strchr(text, '/');

	if (slash) {
		_cleanup_free_ char *inst = strndup(text, (size_t)(slash - text));

		if (inst && *inst)
			push_snapshots(ctx, inst, true, text, v);
		return;
	}
	push_url_names(ctx, "/1.0/instances", "", text, v);
}

static const struct cli_command *find_sub(const struct cli_command *cmd, const char *w)
{
	for (const struct cli_command *s = cmd->subcommands; s && s->name; s++) {
		if (strcmp(s->name, w) == 0)
			return s;
		for (const char *const *a = s->aliases; a && *a; a++)
			if (strcmp(*a, w) == 0)
				return s;
	}
	return NULL;
}

static const struct cli_flag *find_flag_word(const struct cli_command *cmd, const char *word)
{
	for (const struct cli_flag *f = cmd->flags; f && f->name; f++) {
		if (word[1] == '-' && strcmp(word + 2, f->name) == 0)
			return f;
		if (word[1] != '-' && word[1] == f->short_name && !word[2])
			return f;
	}
	return NULL;
}

int cli_complete_words(struct cli_ctx *ctx, char *const *words, size_t nwords, const char *text,
		       char ***ret, bool *ret_files)
{
	_cleanup_strv_ char **v = NULL;
	const struct cli_command *cmd = cli_root();
	const char *first = NULL; /* the first positional argument */
	size_t npos = 0;
	bool skip_value = false;

	*ret_files = false;
	for (size_t i = 0; i < nwords; i++) {
		const char *w = words[i];
		const struct cli_command *sub = NULL;

		if (skip_value) {
			skip_value = false;
			continue;
		}
		if (w[0] == '-' && w[1]) {
			const struct cli_flag *f = find_flag_word(cmd, w);

			skip_value = f && f->type != CLI_FLAG_BOOL && !strchr(w, '=');
			continue;
		}
		if (npos == 0)
			sub = find_sub(cmd, w);
		if (sub) {
			cmd = sub;
			continue;
		}
		if (npos == 0)
			first = w;
		npos++;
	}
	if (skip_value) {
		*ret = NULL;
		return 0;
	}

	if (text[0] == '-') {
		for (const struct cli_flag *f = cmd->flags; f && f->name; f++) {
			_cleanup_free_ char *s = str_printf("--%s", f->name);

			push_match(&v, s, text);
		}
		push_match(&v, "--help", text);
		if (cmd == cli_root())
			push_match(&v, "--version", text);
		*ret = steal_pointer(&v);
		return 0;
	}
	/* A family offers its subcommands; one that also runs by itself ("snapshot NAME") offers
	 * its arguments beside them. */
	if (cmd->subcommands && npos == 0)
		for (const struct cli_command *s = cmd->subcommands; s->name; s++)
			push_match(&v, s->name, text);
	if (cmd->handler) {
		switch (cmd->complete) {
		case CLI_COMPLETE_INSTANCE:
			push_instances(ctx, text, &v);
			break;
		case CLI_COMPLETE_INSTANCE_THEN_SNAPSHOT:
			if (npos == 0)
				push_instances(ctx, text, &v);
			else if (first)
				push_snapshots(ctx, first, false, text, &v);
			break;
		case CLI_COMPLETE_INSTANCE_THEN_KEY:
		case CLI_COMPLETE_PROFILE_THEN_KEY:
			if (npos == 0) {
				if (cmd->complete == CLI_COMPLETE_INSTANCE_THEN_KEY)
					push_instances(ctx, text, &v);
				else
					push_url_names(ctx, "/1.0/profiles", "", text, &v);
				break;
			}
			for (const struct config_key *k = config_keys(); k && k->name; k++)
				push_match(&v, k->name, text);
			push_match(&v, "user.", text);
			break;
		case CLI_COMPLETE_PROFILE:
			if (npos == 0)
				push_url_names(ctx, "/1.0/profiles", "", text, &v);
			break;
		case CLI_COMPLETE_INSTANCE_THEN_PROFILE:
			if (npos == 0)
				push_instances(ctx, text, &v);
			else if (npos == 1)
				push_url_names(ctx, "/1.0/profiles", "", text, &v);
			break;
		case CLI_COMPLETE_IMAGE_THEN_NONE:
		case CLI_COMPLETE_IMAGE:
			/* launch and init take the image first and a new name after it. */
			if (cmd->complete == CLI_COMPLETE_IMAGE_THEN_NONE && npos > 0)
				break;
			push_url_names(ctx, "/1.0/images/aliases", "", text, &v);
			push_url_names(ctx, "/1.0/images", "", text, &v);
			break;
		case CLI_COMPLETE_POOL:
			push_url_names(ctx, "/1.0/storage-pools", "", text, &v);
			break;
		case CLI_COMPLETE_OPERATION:
			push_operations(ctx, text, &v);
			break;
		case CLI_COMPLETE_NETWORK:
			if (npos == 0)
				push_url_names(ctx, "/1.0/networks", "", text, &v);
			break;
		case CLI_COMPLETE_FILE:
			*ret_files = true;
			break;
		case CLI_COMPLETE_NONE:
		case CLI_COMPLETE_MAX:
		default:
			break;
		}
	}
	*ret = steal_pointer(&v);
	return 0;
}

int cli_complete_main(struct cli_ctx *ctx, char *const *argv, size_t argc)
{
	_cleanup_strv_ char **v = NULL;
	bool files = false;

	/* The last word is the one being completed (possibly empty). */
	if (argc == 0)
		return 0;
	cli_complete_words(ctx, argv, argc - 1, argv[argc - 1], &v, &files);
	for (char **p = v; p && *p; p++)
		fprintf(ctx->out, "%s\n", *p);
	return 0;
}
