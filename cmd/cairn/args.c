#include "cmd/cairn/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/suggest.h"
#include "common/util.h"

static const struct cli_command *find_subcommand(const struct cli_command *parent, const char *word)
{
	if (!parent->subcommands)
		return NULL;
	for (const struct cli_command *c = parent->subcommands; c->name; c++) {
		if (strcmp(c->name, word) == 0)
			return c;
		for (const char *const *a = c->aliases; a && *a; a++)
			if (strcmp(*a, word) == 0)
				return c;
	}
	return NULL;
}

/*
 * The error for a word that names no subcommand of `parent`, with cobra's "Did you mean this?"
 * list of the subcommands close to it (common/suggest.h), each on a line of its own.
 */
static int unknown_command(const struct cli_command *parent, const char *word, const char *path,
			   struct err **err)
{
	_cleanup_free_ char *hints = strdup("");

	for (const struct cli_command *c = parent->subcommands; hints && c && c->name; c++) {
		char *p;

		if (!suggest_close(word, c->name))
			continue;
		p = str_printf("%s%s\t%s\n", hints, *hints ? "" : "\n\nDid you mean this?\n",
			       c->name);
		free(hints);
		hints = p;
	}
	if (!hints)
		return err_set(err, -ENOMEM, "Out of memory");
	return err_set(err, -EINVAL, "unknown command \"%s\" for \"%s\"%s", word, path, hints);
}

static int find_flag(const struct cli_command *cmd, const char *long_name, size_t long_len,
		     char short_name)
{
	if (!cmd->flags)
		return -1;
	for (int i = 0; cmd->flags[i].name; i++) {
		const struct cli_flag *f = &cmd->flags[i];

		if (long_name && strlen(f->name) == long_len &&
		    strncmp(f->name, long_name, long_len) == 0)
			return i;
		if (!long_name && short_name && f->short_name == short_name)
			return i;
	}
	return -1;
}

static int set_flag(struct cli_args *a, int idx, const char *shown, const char *value,
		    struct err **err)
{
	const struct cli_flag *f = &a->cmd->flags[idx];
	struct cli_flag_value *v = &a->values[idx];
	char *copy = NULL;

	switch (f->type) {
	case CLI_FLAG_BOOL: {
		const char *b = value ? value : "true";

		if (strcmp(b, "true") != 0 && strcmp(b, "false") != 0 && strcmp(b, "1") != 0 &&
		    strcmp(b, "0") != 0)
			return err_set(err, -EINVAL, "invalid argument \"%s\" for \"%s\" flag", b,
				       shown);
		b = (strcmp(b, "true") == 0 || strcmp(b, "1") == 0) ? "true" : "false";
		copy = strdup(b);
		break;
	}
	case CLI_FLAG_INT: {
		char *end = NULL;

		errno = 0;
		(void)strtoll(value, &end, 10);
		if (!*value || *end || errno)
			return err_set(err, -EINVAL, "invalid argument \"%s\" for \"%s\" flag",
				       value, shown);
		copy = strdup(value);
		break;
	}
	case CLI_FLAG_STRING:
		copy = strdup(value);
		break;
	case CLI_FLAG_LIST:
		if (strv_push(&v->list, value) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
		v->set = true;
		return 0;
	case CLI_FLAG_TYPE_MAX:
	default:
		return err_set(err, -EINVAL, "Bad flag type for \"%s\"", shown);
	}
	if (!copy)
		return err_set(err, -ENOMEM, "Out of memory");
	free(v->value);
	v->value = copy;
	v->set = true;
	return 0;
}

/* Handles argv[*i], which starts with '-' and is not "-" or "--". */
static int parse_flag(struct cli_args *a, char *const *argv, size_t argc, size_t *i,
		      struct err **err)
{
	const char *arg = argv[*i];
	const char *value = NULL;
	_cleanup_free_ char *shown = NULL;
	int idx;

	if (arg[1] == '-') {
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);

		shown = str_printf("--%.*s", (int)len, name);
		if (!shown)
			return err_set(err, -ENOMEM, "Out of memory");
		if (len == 4 && strncmp(name, "help", 4) == 0) {
			a->help = true;
			return 0;
		}
		if (len == 7 && strncmp(name, "version", 7) == 0 && strcmp(a->path, "cairn") == 0) {
			a->version = true;
			return 0;
		}
		idx = find_flag(a->cmd, name, len, 0);
		if (idx < 0)
			return err_set(err, -EINVAL, "unknown flag \"%s\"", shown);
		if (eq)
			value = eq + 1;
	} else {
		shown = str_printf("-%c", arg[1]);
		if (!shown)
			return err_set(err, -ENOMEM, "Out of memory");
		if (arg[1] == 'h' && !arg[2]) {
			a->help = true;
			return 0;
		}
		idx = find_flag(a->cmd, NULL, 0, arg[1]);
		if (idx < 0)
			return err_set(err, -EINVAL, "unknown flag \"%s\"", shown);
		/* Like pflag: "-cKEY=VALUE" and "-c=KEY=VALUE" both give the value attached. */
		if (arg[2])
			value = arg[2] == '=' ? arg + 3 : arg + 2;
	}
	if (a->cmd->flags[idx].type == CLI_FLAG_BOOL)
		return set_flag(a, idx, shown, value, err);
	if (!value) {
		if (*i + 1 >= argc)
			return err_set(err, -EINVAL, "flag needs an argument: \"%s\"", shown);
		*i += 1;
		value = argv[*i];
	}
	return set_flag(a, idx, shown, value, err);
}

int cli_parse(const struct cli_command *root, char *const *argv, size_t argc, struct cli_args *ret,
	      struct err **err)
{
	const struct cli_command *cmd = root;
	size_t i = 0;
	bool dashdash = false;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->path = strdup("cairn");
	if (!ret->path)
		return err_set(err, -ENOMEM, "Out of memory");
	ret->cmd = root;

	/* The command words come first; flags given before them (cairn --help) still count. */
	while (i < argc) {
		const struct cli_command *sub;
		char *p;

		if (argv[i][0] == '-' && strcmp(argv[i], "--") != 0 && argv[i][1]) {
			if (cmd->subcommands && !cmd->handler) {
				r = parse_flag(ret, argv, argc, &i, err);
				if (r < 0)
					return r;
				i++;
				continue;
			}
			break;
		}
		if (!cmd->subcommands)
			break;
		sub = find_subcommand(cmd, argv[i]);
		if (!sub) {
			if (cmd->handler)
				break;
			if (ret->help)
				return 0;
			return unknown_command(cmd, argv[i], ret->path, err);
		}
		p = str_printf("%s %s", ret->path, sub->name);
		if (!p)
			return err_set(err, -ENOMEM, "Out of memory");
		free(ret->path);
		ret->path = p;
		cmd = sub;
		ret->cmd = cmd;
		i++;
	}

	for (; i < argc; i++) {
		if (!dashdash && strcmp(argv[i], "--") == 0) {
			dashdash = true;
			continue;
		}
		if (!dashdash && argv[i][0] == '-' && argv[i][1]) {
			r = parse_flag(ret, argv, argc, &i, err);
			if (r < 0)
				return r;
			continue;
		}
		if (strv_push(&ret->argv, argv[i]) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
		ret->argc++;
	}
	if (ret->help || ret->version)
		return 0;
	if (!cmd->handler) {
		if (ret->argc > 0)
			return unknown_command(cmd, ret->argv[0], ret->path, err);
		ret->help = true;
		return 0;
	}
	if ((int)ret->argc < cmd->min_args ||
	    (cmd->max_args >= 0 && (int)ret->argc > cmd->max_args))
		return err_set(err, -EINVAL, "Invalid number of arguments");
	return 0;
}

int cli_parse_settings(char *const *words, size_t n, json_object **ret, struct err **err)
{
	_cleanup_json_ json_object *settings = json_object_new_object();

	if (!settings)
		return err_set(err, -ENOMEM, "Out of memory");
	if (n == 2 && !strchr(words[0], '=')) {
		/* An empty KEY is as much a word without a key as "=VALUE" is. */
		if (!*words[0])
			return err_set(err, -EINVAL,
				       "Invalid key=value configuration: the key cannot be empty");
		json_object_object_add(settings, words[0], json_object_new_string(words[1]));
		*ret = steal_pointer(&settings);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(words[i], '=');
		_cleanup_free_ char *key = NULL;

		if (!eq || eq == words[i])
			return err_set(err, -EINVAL, "Invalid key=value configuration: %s",
				       words[i]);
		key = strndup(words[i], (size_t)(eq - words[i]));
		if (!key)
			return err_set(err, -ENOMEM, "Out of memory");
		json_object_object_add(settings, key, json_object_new_string(eq + 1));
	}
	*ret = steal_pointer(&settings);
	return 0;
}

void cli_args_done(struct cli_args *a)
{
	for (size_t i = 0; i < CLI_MAX_FLAGS; i++) {
		free(a->values[i].value);
		strv_free(a->values[i].list);
	}
	free(a->path);
	strv_free(a->argv);
	memset(a, 0, sizeof(*a));
}

static const struct cli_flag_value *flag_value(const struct cli_args *a, const char *name)
{
	if (!a->cmd || !a->cmd->flags)
		return NULL;
	for (size_t i = 0; a->cmd->flags[i].name && i < CLI_MAX_FLAGS; i++)
		if (strcmp(a->cmd->flags[i].name, name) == 0)
			return a->values[i].set ? &a->values[i] : NULL;
	return NULL;
}

const char *cli_flag_string(const struct cli_args *a, const char *name)
{
	const struct cli_flag_value *v = flag_value(a, name);

	return v ? v->value : NULL;
}

bool cli_flag_bool(const struct cli_args *a, const char *name)
{
	const struct cli_flag_value *v = flag_value(a, name);

	return v && v->value && strcmp(v->value, "true") == 0;
}

char *const *cli_flag_list(const struct cli_args *a, const char *name)
{
	static char *const empty[] = {NULL};
	const struct cli_flag_value *v = flag_value(a, name);

	return v && v->list ? v->list : empty;
}

long long cli_flag_int(const struct cli_args *a, const char *name, long long fallback)
{
	const struct cli_flag_value *v = flag_value(a, name);

	return v && v->value ? strtoll(v->value, NULL, 10) : fallback;
}

void cli_print_help(FILE *out, const struct cli_command *cmd, const char *path)
{
	size_t width = 0;

	fprintf(out, "Description:\n  %s\n\n", cmd->help);
	fprintf(out, "Usage:\n");
	if (cmd->handler)
		fprintf(out, "  %s%s%s [flags]\n", path, cmd->usage && *cmd->usage ? " " : "",
			cmd->usage ? cmd->usage : "");
	if (cmd->subcommands)
		fprintf(out, "  %s [command]\n", path);
	if (cmd->aliases && cmd->aliases[0]) {
		fprintf(out, "\nAliases:\n  %s", cmd->name);
		for (const char *const *a = cmd->aliases; *a; a++)
			fprintf(out, ", %s", *a);
		fputc('\n', out);
	}
	if (cmd->subcommands) {
		for (const struct cli_command *c = cmd->subcommands; c->name; c++)
			if (strlen(c->name) > width)
				width = strlen(c->name);
		fprintf(out, "\nAvailable Commands:\n");
		for (const struct cli_command *c = cmd->subcommands; c->name; c++)
			fprintf(out, "  %-*s  %s\n", (int)width, c->name, c->help);
	}

	fprintf(out, "\nFlags:\n");
	width = strlen("--help");
	for (const struct cli_flag *f = cmd->flags; f && f->name; f++) {
		size_t w = 2 + strlen(f->name) + (f->arg_name ? 1 + strlen(f->arg_name) : 0);

		if (w > width)
			width = w;
	}
	if (strcmp(path, "cairn") == 0 && strlen("--version") > width)
		width = strlen("--version");
	for (const struct cli_flag *f = cmd->flags; f && f->name; f++) {
		_cleanup_free_ char *spec = str_printf("--%s%s%s", f->name, f->arg_name ? " " : "",
						       f->arg_name ? f->arg_name : "");

		if (f->short_name)
			fprintf(out, "  -%c, %-*s   %s\n", f->short_name, (int)width,
				spec ? spec : f->name, f->help);
		else
			fprintf(out, "      %-*s   %s\n", (int)width, spec ? spec : f->name,
				f->help);
	}
	fprintf(out, "  -h, %-*s   %s\n", (int)width, "--help", "Print help");
	if (strcmp(path, "cairn") == 0)
		fprintf(out, "      %-*s   %s\n", (int)width, "--version", "Print version number");
	if (cmd->subcommands)
		fprintf(out,
			"\nUse \"%s [command] --help\" for more information about a command.\n",
			path);
}

int cli_split_line(const char *line, char ***ret_argv, size_t *ret_argc, struct err **err)
{
	_cleanup_strv_ char **v = NULL;
	_cleanup_free_ char *word = NULL;
	size_t n = 0, len = 0;
	bool in_word = false;
	const char *p = line;

	word = malloc(strlen(line) + 1);
	if (!word)
		return err_set(err, -ENOMEM, "Out of memory");

	for (;;) {
		char c = *p;

		if (c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (in_word) {
				word[len] = '\0';
				if (strv_push(&v, word) < 0)
					return err_set(err, -ENOMEM, "Out of memory");
				n++;
				len = 0;
				in_word = false;
			}
			if (c == '\0')
				break;
			p++;
			continue;
		}
		in_word = true;
		if (c == '\'') {
			const char *end = strchr(p + 1, '\'');

			if (!end)
				return err_set(err, -EINVAL, "Unterminated quote");
			memcpy(word + len, p + 1, (size_t)(end - p - 1));
			len += (size_t)(end - p - 1);
			p = end + 1;
		} else if (c == '"') {
			p++;
			while (*p && *p != '"') {
				/* Inside double quotes a backslash only escapes what the shell
				 * would let it escape; elsewhere it stays literal. */
				if (*p == '\\' &&
				    (p[1] == '"' || p[1] == '\\' || p[1] == '$' || p[1] == '`')) {
					p++;
				}
				word[len++] = *p++;
			}
			if (*p != '"')
				return err_set(err, -EINVAL, "Unterminated quote");
			p++;
		} else if (c == '\\') {
			if (!p[1])
				return err_set(err, -EINVAL, "Trailing backslash");
			word[len++] = p[1];
			p += 2;
		} else {
			word[len++] = c;
			p++;
		}
	}
	if (!v) {
		v = calloc(1, sizeof(char *));
		if (!v)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	*ret_argv = steal_pointer(&v);
	*ret_argc = n;
	return 0;
}
