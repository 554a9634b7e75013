/* What the command table gives besides parsing and help: the bash completion script and one
 * manual page per command. Both are written from the table alone, so they never drift from
 * what the parser accepts. */
#include "cmd/cairn/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

/* ---- bash ---- */

/* Writes `s` as a bash single-quoted word. */
static void bash_quote(FILE *out, const char *s)
{
	fputc('\'', out);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", out);
		else
			fputc(*s, out);
	}
	fputc('\'', out);
}

static bool complete_live(enum cli_complete c)
{
	switch (c) {
	case CLI_COMPLETE_INSTANCE:
	case CLI_COMPLETE_INSTANCE_THEN_KEY:
	case CLI_COMPLETE_INSTANCE_THEN_SNAPSHOT:
	case CLI_COMPLETE_IMAGE:
	case CLI_COMPLETE_IMAGE_THEN_NONE:
	case CLI_COMPLETE_POOL:
	case CLI_COMPLETE_OPERATION:
	case CLI_COMPLETE_PROFILE:
	case CLI_COMPLETE_PROFILE_THEN_KEY:
	case CLI_COMPLETE_INSTANCE_THEN_PROFILE:
	case CLI_COMPLETE_NETWORK:
		return true;
	case CLI_COMPLETE_NONE:
	case CLI_COMPLETE_FILE:
	case CLI_COMPLETE_MAX:
	default:
		return false;
	}
}

/* One command's entries in the script's tables, then its subcommands'. */
static void bash_command(FILE *out, const struct cli_command *cmd, const char *path)
{
	fputs("_cairn_flags[", out);
	bash_quote(out, path);
	fputs("]='", out);
	for (const struct cli_flag *f = cmd->flags; f && f->name; f++) {
		fprintf(out, "--%s ", f->name);
		if (f->short_name)
			fprintf(out, "-%c ", f->short_name);
	}
	fprintf(out, "--help -h%s'\n", strchr(path, ' ') ? "" : " --version");
	fputs("_cairn_valued[", out);
	bash_quote(out, path);
	fputs("]=' ", out);
	for (const struct cli_flag *f = cmd->flags; f && f->name; f++) {
		if (f->type == CLI_FLAG_BOOL)
			continue;
		fprintf(out, "--%s ", f->name);
		if (f->short_name)
			fprintf(out, "-%c ", f->short_name);
	}
	fputs("'\n", out);
	if (cmd->handler && complete_live(cmd->complete)) {
		fputs("_cairn_live[", out);
		bash_quote(out, path);
		fputs("]=1\n", out);
	}
	if (cmd->handler && cmd->complete == CLI_COMPLETE_FILE) {
		fputs("_cairn_files[", out);
		bash_quote(out, path);
		fputs("]=1\n", out);
	}
	if (!cmd->subcommands)
		return;
	fputs("_cairn_subs[", out);
	bash_quote(out, path);
	fputs("]='", out);
	for (const struct cli_command *s = cmd->subcommands; s->name; s++)
		fprintf(out, "%s%s", s == cmd->subcommands ? "" : " ", s->name);
	fputs("'\n", out);
	for (const struct cli_command *s = cmd->subcommands; s->name; s++) {
		_cleanup_free_ char *sub = str_printf("%s %s", path, s->name);

		if (!sub)
			continue;
		for (size_t i = 0; i == 0 || (s->aliases && s->aliases[i - 1]); i++) {
			_cleanup_free_ char *key =
			    str_printf("%s %s", path, i == 0 ? s->name : s->aliases[i - 1]);

			if (!key)
				continue;
			fputs("_cairn_names[", out);
			bash_quote(out, key);
			fputs("]=", out);
			bash_quote(out, s->name);
			fputc('\n', out);
		}
		bash_command(out, s, sub);
	}
}

void cli_gen_bash(FILE *out, const struct cli_command *root)
{
	fputs("# bash completion for cairn, written by `cairn completion bash` from its command\n"
	      "# table. Names of instances, snapshots, images, pools and operations come from the\n"
	      "# daemon through `cairn __complete`, the code the REPL completes with.\n"
	      "declare -gA _cairn_subs=() _cairn_names=() _cairn_flags=() _cairn_valued=()\n"
	      "declare -gA _cairn_live=() _cairn_files=()\n",
	      out);
	bash_command(out, root, "cairn");
	fputs("\n"
	      "_cairn() {\n"
	      "\tlocal cur=${COMP_WORDS[COMP_CWORD]} path=cairn npos=0 skip=0 i w\n"
	      "\tCOMPREPLY=()\n"
	      "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
	      "\t\tw=${COMP_WORDS[i]}\n"
	      "\t\tif ((skip)); then\n"
	      "\t\t\tskip=0\n"
	      "\t\t\tcontinue\n"
	      "\t\tfi\n"
	      "\t\tif [[ $w == -?* ]]; then\n"
	      "\t\t\t[[ $w != *=* && ${_cairn_valued[$path]-} == *\" $w \"* ]] && skip=1\n"
	      "\t\t\tcontinue\n"
	      "\t\tfi\n"
	      "\t\tif ((npos == 0)) && [[ -n ${_cairn_names[\"$path $w\"]-} ]]; then\n"
	      "\t\t\tpath=\"$path ${_cairn_names[\"$path $w\"]}\"\n"
	      "\t\t\tcontinue\n"
	      "\t\tfi\n"
	      "\t\tnpos=$((npos + 1))\n"
	      "\tdone\n"
	      "\t((skip)) && return 0\n"
	      "\tif [[ $cur == -* ]]; then\n"
	      "\t\tmapfile -t COMPREPLY < <(compgen -W \"${_cairn_flags[$path]-}\" -- \"$cur\")\n"
	      "\t\treturn 0\n"
	      "\tfi\n"
	      "\tif [[ -n ${_cairn_live[$path]-} ]]; then\n"
	      "\t\t# __complete gives the subcommands too, for a family that also runs by\n"
	      "\t\t# itself (snapshot NAME).\n"
	      "\t\t# \"c1/\" completes to snapshots: no space after a name that goes on.\n"
	      "\t\t[[ $cur == */* ]] && compopt -o nospace 2>/dev/null\n"
	      "\t\tmapfile -t COMPREPLY < <(\"${COMP_WORDS[0]}\" __complete \\\n"
	      "\t\t\t\"${COMP_WORDS[@]:1:COMP_CWORD-1}\" \"$cur\" 2>/dev/null)\n"
	      "\t\treturn 0\n"
	      "\tfi\n"
	      "\tif ((npos == 0)) && [[ -n ${_cairn_subs[$path]-} ]]; then\n"
	      "\t\tmapfile -t COMPREPLY < <(compgen -W \"${_cairn_subs[$path]}\" -- \"$cur\")\n"
	      "\tfi\n"
	      "\tif [[ -n ${_cairn_files[$path]-} ]]; then\n"
	      "\t\tcompopt -o filenames 2>/dev/null\n"
	      "\t\tmapfile -t -O \"${#COMPREPLY[@]}\" COMPREPLY < <(compgen -f -- \"$cur\")\n"
	      "\tfi\n"
	      "\treturn 0\n"
	      "}\n"
	      "complete -F _cairn cairn\n",
	      out);
}

/* ---- man ---- */

/* Writes text for roff: backslashes and hyphens escaped, and a line never starting with a
 * control character. */
static void roff(FILE *out, const char *s, bool line_start)
{
	for (; s && *s; s++) {
		if (line_start && (*s == '.' || *s == '\''))
			fputs("\\&", out);
		line_start = *s == '\n';
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

/* "cairn config set" → "cairn-config-set". Caller frees. */
static char *page_name(const char *path)
{
	char *n = strdup(path);

	for (char *p = n; p && *p; p++)
		if (*p == ' ')
			*p = '-';
	return n;
}

static void upper_roff(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s, out);
	}
}

void cli_gen_manpage(FILE *out, const struct cli_command *cmd, const char *path)
{
	_cleanup_free_ char *name = page_name(path);
	const char *parent_end = strrchr(path, ' ');

	if (!name)
		return;
	fputs(".TH ", out);
	upper_roff(out, name);
	fputs(" 1 \"\" \"cairn " CLI_VERSION "\" \"cairn manual\"\n", out);
	fputs(".SH NAME\n", out);
	roff(out, name, false);
	fputs(" \\- ", out);
	roff(out, cmd->help, false);
	fputs("\n.SH SYNOPSIS\n", out);
	if (cmd->handler) {
		fputs(".B ", out);
		roff(out, path, false);
		fputc('\n', out);
		if (cmd->usage && *cmd->usage) {
			fputs(".I ", out);
			roff(out, cmd->usage, false);
			fputc('\n', out);
		}
		fputs("[flags]\n", out);
	}
	if (cmd->subcommands) {
		if (cmd->handler)
			fputs(".br\n", out);
		fputs(".B ", out);
		roff(out, path, false);
		fputs("\n.I COMMAND\n[flags]\n", out);
	}
	fputs(".SH DESCRIPTION\n", out);
	roff(out, cmd->help, true);
	fputc('\n', out);
	if (cmd->aliases && cmd->aliases[0]) {
		fputs(".SH ALIASES\n", out);
		for (const char *const *a = cmd->aliases; *a; a++) {
			fprintf(out, "%s\\fB", a == cmd->aliases ? "" : ", ");
			roff(out, *a, false);
			fputs("\\fR", out);
		}
		fputc('\n', out);
	}
	if (cmd->subcommands) {
		fputs(".SH COMMANDS\n", out);
		for (const struct cli_command *s = cmd->subcommands; s->name; s++) {
			_cleanup_free_ char *sub = str_printf("%s-%s", name, s->name);

			fputs(".TP\n\\fB", out);
			roff(out, s->name, false);
			fputs("\\fR\n", out);
			roff(out, s->help, true);
			fputs(" (see \\fB", out);
			roff(out, sub ? sub : s->name, false);
			fputs("\\fR(1))\n", out);
		}
	}
	fputs(".SH OPTIONS\n", out);
	for (const struct cli_flag *f = cmd->flags; f && f->name; f++) {
		fputs(".TP\n", out);
		if (f->short_name)
			fprintf(out, "\\fB\\-%c\\fR, ", f->short_name);
		fputs("\\fB\\-\\-", out);
		roff(out, f->name, false);
		fputs("\\fR", out);
		if (f->arg_name) {
			fputs(" \\fI", out);
			roff(out, f->arg_name, false);
			fputs("\\fR", out);
		}
		fputc('\n', out);
		roff(out, f->help, true);
		if (f->type == CLI_FLAG_LIST)
			fputs(" (may be repeated)", out);
		fputc('\n', out);
	}
	fputs(".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\nPrint help\n", out);
	if (!parent_end)
		fputs(".TP\n\\fB\\-\\-version\\fR\nPrint version number\n", out);
	if (parent_end) {
		_cleanup_free_ char *parent = strndup(path, (size_t)(parent_end - path));
		_cleanup_free_ char *pname = parent ? page_name(parent) : NULL;

		fputs(".SH SEE ALSO\n\\fB", out);
		roff(out, pname ? pname : "cairn", false);
		fputs("\\fR(1)\n", out);
	}
}

/*
 * Each page is written beside its name and renamed over it (file_write_atomic): whatever was at
 * the name before, a symbolic link or a hard link to another file, is replaced, never written
 * through, even when this runs as root in a directory others can write to.
 */
static int write_pages(const struct cli_command *cmd, const char *path, const char *dir,
		       struct err **err)
{
	_cleanup_free_ char *name = page_name(path);
	_cleanup_free_ char *file = name ? str_printf("%s/%s.1", dir, name) : NULL;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if (!file)
		return err_set(err, -ENOMEM, "Out of memory");
	f = open_memstream(&text, &len);
	if (!f)
		return err_set(err, -ENOMEM, "Out of memory");
	cli_gen_manpage(f, cmd, path);
	if (fclose(f) != 0)
		return err_set(err, -ENOMEM, "Out of memory");
	r = file_write_atomic(file, text, len, 0644, err);
	if (r < 0)
		return r;
	for (const struct cli_command *s = cmd->subcommands; s && s->name; s++) {
		_cleanup_free_ char *sub = str_printf("%s %s", path, s->name);

		if (!sub)
			return err_set(err, -ENOMEM, "Out of memory");
		r = write_pages(s, sub, dir, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int cli_gen_manpages(const struct cli_command *root, const char *dir, struct err **err)
{
	struct stat st;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return err_set_errno(err, -errno, "Failed to create \"%s\"", dir);
	if (lstat(dir, &st) < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", dir);
	if (!S_ISDIR(st.st_mode))
		return err_set(err, -ENOTDIR, "Failed to open \"%s\": Not a directory", dir);
	return write_pages(root, root->name, dir, err);
}

int cli_cmd_completion(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	if (strcmp(args->argv[0], "bash") != 0)
		return err_set(err, -EINVAL, "Unsupported shell \"%s\" (bash)", args->argv[0]);
	cli_gen_bash(ctx->out, cli_root());
	return 0;
}

int cli_cmd_manpage(struct cli_ctx *ctx, const struct cli_args *args, struct err **err)
{
	(void)ctx;
	return cli_gen_manpages(cli_root(), args->argv[0], err);
}
