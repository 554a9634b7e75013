/* What the client writes from its command table: the bash completion script (every command,
 * alias and flag, and that bash reads it and completes with it), the manual pages (escaping,
 * one per command, rendered by groff without a warning, never through a link), the completion
 * that the REPL and the script share, and the progress line (on a terminal only). */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd/cairn/cli.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

/* The whole output of `fn(f, ...)` as a string. Caller frees. */
static char *capture_bash(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	cli_gen_bash(f, cli_root());
	fclose(f);
	return buf;
}

static char *capture_page(const struct cli_command *cmd, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	cli_gen_manpage(f, cmd, path);
	fclose(f);
	return buf;
}

/* Checks that `script` names every command under `cmd` (reached by `path`) and its aliases and
 * flags; returns how many commands it saw. */
static size_t check_commands(const char *script, const struct cli_command *cmd, const char *path)
{
	size_t n = 1;

	for (const struct cli_flag *f = cmd->flags; f && f->name; f++) {
		_cleanup_free_ char *line = str_printf("_cairn_flags['%s']='", path);
		_cleanup_free_ char *flag = str_printf("--%s ", f->name);
		const char *at = strstr(script, line);

		assert_non_null(at);
		at = strstr(at, flag);
		assert_non_null(at);
		assert_true(strchr(at, '\n') > at);
	}
	for (const struct cli_command *s = cmd->subcommands; s && s->name; s++) {
		_cleanup_free_ char *sub = str_printf("%s %s", path, s->name);
		_cleanup_free_ char *entry = str_printf("_cairn_names['%s']='%s'\n", sub, s->name);

		assert_non_null(strstr(script, entry));
		for (const char *const *a = s->aliases; a && *a; a++) {
			_cleanup_free_ char *alias =
			    str_printf("_cairn_names['%s %s']='%s'\n", path, *a, s->name);

			assert_non_null(strstr(script, alias));
		}
		n += check_commands(script, s, sub);
	}
	return n;
}

static void test_bash_script_covers_the_table(void **state)
{
	_cleanup_free_ char *script = capture_bash();

	(void)state;
	assert_true(check_commands(script, cli_root(), "cairn") > 50);
	assert_non_null(
	    strstr(script, "_cairn_valued['cairn list']=' --format -f --columns -c '\n"));
	assert_non_null(strstr(script, "_cairn_live['cairn start']=1\n"));
	assert_non_null(strstr(script, "_cairn_files['cairn image import']=1\n"));
	assert_null(strstr(script, "_cairn_live['cairn list']"));
	assert_non_null(strstr(script, "complete -F _cairn cairn\n"));
	/* Hidden entry point: not a command anyone is offered. */
	assert_null(strstr(script, "_cairn_names['cairn __complete']"));
	assert_null(strstr(script, " __complete manpage"));
}

/* Runs the script in bash with COMP_WORDS = `words` and gives COMPREPLY, sorted, one line. */
static char *bash_complete(const char *script_path, const char *words)
{
	_cleanup_free_ char *cmd = str_printf(
	    "CAIRN_DIR=/nonexistent bash --norc --noprofile -c 'source %s; COMP_WORDS=(%s); "
	    "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _cairn; for w in \"${COMPREPLY[@]}\"; do echo "
	    "\"$w\"; done "
	    "| sort | tr \"\\n\" \" \"'",
	    script_path, words);
	char buf[4096] = "";
	FILE *p = popen(cmd, "r");
	size_t n;

	assert_non_null(p);
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	assert_int_equal(pclose(p), 0);
	return strdup(buf);
}

static void test_bash_script_completes(void **state)
{
	_cleanup_free_ char *script = capture_bash();
	char path[] = "/tmp/cairn-bash-XXXXXX";
	int fd = mkstemp(path);
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL, *f = NULL;
	_cleanup_free_ char *g = NULL;

	(void)state;
	if (access("/bin/bash", X_OK) != 0)
		skip();
	assert_true(fd >= 0);
	assert_int_equal(write(fd, script, strlen(script)), (ssize_t)strlen(script));
	close(fd);
	a = bash_complete(path, "cairn sta");
	b = bash_complete(path, "cairn image \"\"");
	c = bash_complete(path, "cairn list --f");
	d = bash_complete(path, "cairn -h con");
	e = bash_complete(path, "cairn images ls --");
	f = bash_complete(path, "cairn list --format \"\"");
	g = bash_complete(path, "cairn operation \"\"");
	unlink(path);
	assert_string_equal(a, "start ");
	assert_string_equal(b, "alias delete import list show ");
	assert_string_equal(c, "--format ");
	/* A flag before the command is skipped. */
	assert_string_equal(d, "config console ");
	assert_string_equal(e, "--format --help ");
	assert_string_equal(f, "");
	assert_string_equal(g, "delete list show ");
}

static void test_manpage_escapes(void **state)
{
	static const struct cli_flag flags[] = {
	    {"dry-run", 'n', CLI_FLAG_BOOL, NULL, ".starts with a dot \\ and a back-slash"},
	    {"config", 'c', CLI_FLAG_LIST, "KEY=VALUE", "'quoted"},
	    {NULL, 0, 0, NULL, NULL},
	};
	static const char *const aliases[] = {"rm", NULL};
	static const struct cli_command cmd = {
	    "do-it", aliases, NULL,  "NAME [-x]",     ".leading dot",
	    0,	     1,	      flags, cli_cmd_version, CLI_COMPLETE_NONE,
	};
	_cleanup_free_ char *page = capture_page(&cmd, "cairn do-it");

	(void)state;
	assert_non_null(strstr(page, ".TH CAIRN\\-DO\\-IT 1 \"\" \"cairn " CLI_VERSION "\""));
	assert_non_null(strstr(page, ".SH NAME\ncairn\\-do\\-it \\- .leading dot\n"));
	assert_non_null(strstr(page, ".SH SYNOPSIS\n.B cairn do\\-it\n.I NAME [\\-x]\n[flags]\n"));
	assert_non_null(strstr(page, ".SH DESCRIPTION\n\\&.leading dot\n"));
	assert_non_null(strstr(page, ".SH ALIASES\n\\fBrm\\fR\n"));
	assert_non_null(strstr(page, "\\fB\\-n\\fR, \\fB\\-\\-dry\\-run\\fR\n\\&.starts with a "
				     "dot \\e and a back\\-slash\n"));
	assert_non_null(
	    strstr(page, "\\fB\\-c\\fR, \\fB\\-\\-config\\fR \\fIKEY=VALUE\\fR\n\\&'quoted (may be "
			 "repeated)\n"));
	assert_non_null(strstr(page, ".SH SEE ALSO\n\\fBcairn\\fR(1)\n"));
	/* No line of the page starts with a stray control character. */
	for (const char *l = page; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (*l == '.')
			assert_true(strncmp(l, ".TH ", 4) == 0 || strncmp(l, ".SH ", 4) == 0 ||
				    strncmp(l, ".TP\n", 4) == 0 || strncmp(l, ".B ", 3) == 0 ||
				    strncmp(l, ".I ", 3) == 0 || strncmp(l, ".br\n", 4) == 0);
		assert_true(*l != '\'');
	}
}

static size_t count_commands(const struct cli_command *cmd)
{
	size_t n = 1;

	for (const struct cli_command *s = cmd->subcommands; s && s->name; s++)
		n += count_commands(s);
	return n;
}

static void test_manpages_written(void **state)
{
	char dir[] = "/tmp/cairn-man-XXXXXX";
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *cmd = NULL, *link = NULL, *target = NULL;
	char out[256] = "";
	size_t n = 0;
	FILE *p;
	int r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(cli_gen_manpages(cli_root(), dir, &e), 0);
	cmd = str_printf("ls %s | wc -l", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, sizeof(out), p));
	pclose(p);
	assert_int_equal(strtoul(out, NULL, 10), count_commands(cli_root()));
	free(cmd);
	if (access("/usr/bin/groff", X_OK) == 0) {
		/* Every page renders, and groff has nothing to say about any of them. */
		cmd = str_printf("for f in %s/*.1; do groff -man -Tutf8 -ww -z \"$f\"; done 2>&1",
				 dir);
		p = popen(cmd, "r");
		assert_non_null(p);
		n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = '\0';
		assert_int_equal(pclose(p), 0);
		assert_string_equal(out, "");
		free(cmd);
	}

	/* A link planted where a page goes is replaced, not followed. */
	link = str_printf("%s/cairn.1", dir);
	target = str_printf("%s/target", dir);
	unlink(link);
	assert_int_equal(symlink(target, link), 0);
	r = cli_gen_manpages(cli_root(), dir, &e);
	assert_int_equal(r, 0);
	assert_int_equal(access(target, F_OK), -1);
	{
		struct stat st;

		assert_int_equal(lstat(link, &st), 0);
		assert_true(S_ISREG(st.st_mode));
	}
	cmd = str_printf("rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static char *complete(const char *line, const char *text, bool *files)
{
	_cleanup_strv_ char **words = NULL;
	_cleanup_strv_ char **v = NULL;
	size_t n = 0;
	char *joined = strdup("");

	assert_int_equal(cli_split_line(line, &words, &n, NULL), 0);
	assert_int_equal(cli_complete_words(NULL, words, n, text, &v, files), 0);
	for (char **p = v; p && *p; p++) {
		char *j = str_printf("%s%s ", joined, *p);

		free(joined);
		joined = j;
	}
	return joined;
}

static void test_shared_completion(void **state)
{
	bool files = false;
	_cleanup_free_ char *a = complete("", "sta", &files);
	_cleanup_free_ char *b = complete("snapshot", "", &files);
	_cleanup_free_ char *c = complete("list", "--f", &files);
	_cleanup_free_ char *d = complete("list --format", "", &files);
	_cleanup_free_ char *e = complete("images", "l", &files);
	_cleanup_free_ char *f = complete("", "--v", &files);
	_cleanup_free_ char *g = NULL;

	(void)state;
	assert_string_equal(a, "start ");
	/* Without a daemon (no context) the instance names are simply missing. */
	assert_string_equal(b, "create list restore delete rename show expiry auto prune ");
	assert_string_equal(c, "--format ");
	assert_string_equal(d, "");
	assert_string_equal(e, "list ");
	assert_string_equal(f, "--version ");
	assert_false(files);
	g = complete("image import", "", &files);
	assert_true(files);
}

static void test_progress(void **state)
{
	_cleanup_free_ char *buf = NULL;
	struct cli_progress p;
	char text[32];
	char out[512];
	size_t len = 0;
	FILE *mem;
	FILE *tty;
	ssize_t n;
	int master;

	(void)state;
	cli_progress_format_bytes(text, sizeof(text), 999);
	assert_string_equal(text, "999B");
	cli_progress_format_bytes(text, sizeof(text), 1500000);
	assert_string_equal(text, "1.50MB");
	cli_progress_format_bytes(text, sizeof(text), 2e9);
	assert_string_equal(text, "2.00GB");

	/* Not a terminal: nothing at all. */
	mem = open_memstream(&buf, &len);
	cli_progress_start(&p, mem, false, "Transferring image", 100);
	cli_progress_update(&p, 50);
	cli_progress_text(&p, "x");
	cli_progress_done(&p);
	cli_progress_done(&p);
	fclose(mem);
	assert_int_equal(len, 0);

	/* A terminal: one line redrawn with '\r', blanked at the end. */
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		skip();
	tty = fopen(ptsname(master), "w");
	assert_non_null(tty);
	cli_progress_start(&p, tty, true, "Transferring image", 100);
	assert_null(p.out); /* --quiet */
	cli_progress_start(&p, tty, false, "Transferring image", 2000000);
	cli_progress_update(&p, 1000000);
	cli_progress_done(&p);
	fclose(tty);
	n = read(master, out, sizeof(out) - 1);
	assert_true(n > 0);
	out[n] = '\0';
	assert_non_null(strstr(out, "\rTransferring image: 1.00MB ("));
	assert_non_null(strstr(out, "B/s) 50%"));
	close(master);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bash_script_covers_the_table),
	    cmocka_unit_test(test_bash_script_completes),
	    cmocka_unit_test(test_manpage_escapes),
	    cmocka_unit_test(test_manpages_written),
	    cmocka_unit_test(test_shared_completion),
	    cmocka_unit_test(test_progress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
