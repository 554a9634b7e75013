/*
 * The client's pure parsers on arbitrary bytes: the REPL's word splitter, the settings of
 * `config set` and `storage set`, the filters and columns of `cairn list` with the matcher, and
 * the "did you mean" suggestions.
 *
 * The whole input (up to a NUL) is one REPL line and one -c spec; the input cut into words (at
 * each NUL when it holds one, else at each newline) is a list of settings, a list of filters,
 * and a typed word followed by the candidates to suggest from. See fuzz/README.md for the
 * invariants.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "cmd/cairn/cli.h"
#include "cmd/cairn/filter.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/suggest.h"
#include "config/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_WORDS 24

/* Instance objects as GET /1.0/instances?recursion=2 gives them, and some that no daemon
 * sends: members of the wrong type, a state whose network is an array, addresses that are no
 * objects or no addresses, a long name and value, an empty object. */
static const char *const instance_texts[] = {
    ("{\"name\": \"web1\", \"type\": \"container\", \"status\": \"Running\","
     " \"architecture\": \"x86_64\", \"location\": \"none\","
     " \"config\": {\"user.tier\": \"front\"},"
     " \"expanded_config\": {\"user.tier\": \"front\", \"limits.memory\": \"256MiB\","
     "   \"security.privileged\": \"false\", \"image.os\": \"busybox\"},"
     " \"state\": {\"network\": {\"eth0\": {\"addresses\": ["
     "   {\"family\": \"inet\", \"address\": \"10.0.3.15\"},"
     "   {\"family\": \"inet6\", \"address\": \"fd42::15\"}]},"
     "   \"lo\": {\"addresses\": [{\"family\": \"inet\", \"address\": \"127.0.0.1\"},"
     "   {\"family\": \"inet6\", \"address\": \"::1\"}]}}}}"),
    ("{\"name\": \"webby\", \"type\": \"\", \"status\": \"Frozen\", \"architecture\": \"aarch64\","
     " \"expanded_config\": {\"user.tier\": \"back\", \"security.privileged\": \"true\","
     "   \"user.note\": \"a(b\", \"user.empty\": \"\", \"volatile.eth0.hwaddr\": "
     "\"00:16:3e:aa\"}}"),
    ("{\"name\": 7, \"type\": {\"a\": 1}, \"status\": null, \"architecture\": [\"x86_64\"],"
     " \"expanded_config\": \"user.tier=front\","
     " \"config\": {\"user.tier\": 1, \"user.list\": [\"a\"], \"limits.cpu\": null,"
     "   \"user.obj\": {\"x\": \"y\"}},"
     " \"state\": {\"network\": [{\"addresses\": []}]}}"),
    ("{\"name\": \"db-01\", \"type\": \"virtual-machine\", \"status\": \"stopped\","
     " \"location\": \"\", \"expanded_config\": [], \"config\": \"nope\","
     " \"state\": {\"network\": {\"eth0\": 5, \"eth1\": {\"addresses\": {\"family\": \"inet\"}},"
     "   \"eth2\": {\"addresses\": [1, null, \"10.0.0.1\", {\"family\": \"inet\"},"
     "     {\"address\": \"10.0.0.2\"}, {\"family\": \"inet\", \"address\": \"10.0.0.300\"},"
     "     {\"family\": \"inet6\", \"address\": \"::ffff:10.0.0.3\"},"
     "     {\"family\": \"inet\", \"address\": 167772164},"
     "     {\"family\": \"inet\", \"address\": \"192.168.1.1\"}]}}}}"),
    ("{\"name\": \"\", \"expanded_config\": {\"\": \"empty key\", \"a.b.c.d\": \"x\","
     "   \"user.\": \"dot\", \".\": \".\", \"limits.memory\": \"1GiB\"}, \"state\": null}"),
    /* The longest name there is, and a long value: slow matching shows. */
    ("{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
     " \"status\": \"Running\", \"expanded_config\": {\"user.long\":"
     " \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\"}}"),
    "{}",
};

#define N_INSTANCES (sizeof(instance_texts) / sizeof(instance_texts[0]))

static json_object *instances[N_INSTANCES];
static char *instance_dumps[N_INSTANCES]; /* each object as printed before any match */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static void load_instances(void)
{
	for (size_t i = 0; i < N_INSTANCES; i++) {
		if (instances[i])
			continue;
		instances[i] = json_tokener_parse(instance_texts[i]);
		if (!instances[i])
			fail("instance %zu does not parse", i);
		instance_dumps[i] = strdup(json_object_to_json_string_ext(
		    instances[i], JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		if (!instance_dumps[i])
			abort();
	}
}

/* 0, or -EINVAL (-ENOMEM when libFuzzer's malloc limit bites) with a non-empty message of that
 * code. */
static void check_refusal(int r, struct err *e, const char *what)
{
	if (r == 0) {
		if (e)
			fail("%s: success with an error set", what);
		return;
	}
	if ((r != -EINVAL && r != -ENOMEM) || !e || !e->msg || !*e->msg || e->code != r)
		fail("%s: bad refusal %d (%s)", what, r, e && e->msg ? e->msg : "no message");
}

/* ---- cli_split_line() ---- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Appends `w` quoted in one of three shell styles: single quotes ('\'' for a quote), double
 * quotes (backslash before " \ $ `), or a backslash before every byte. */
static void quote_into(char *out, size_t *len, const char *w, size_t n, unsigned style)
{
	switch (style % 3) {
	case 0:
		out[(*len)++] = '\'';
		for (size_t i = 0; i < n; i++) {
			if (w[i] == '\'') {
				memcpy(out + *len, "'\\''", 4);
				*len += 4;
			} else {
				out[(*len)++] = w[i];
			}
		}
		out[(*len)++] = '\'';
		break;
	case 1:
		out[(*len)++] = '"';
		for (size_t i = 0; i < n; i++) {
			if (strchr("\"\\$`", w[i]))
				out[(*len)++] = '\\';
			out[(*len)++] = w[i];
		}
		out[(*len)++] = '"';
		break;
	default:
		if (n == 0) {
			memcpy(out + *len, "''", 2);
			*len += 2;
		}
		for (size_t i = 0; i < n; i++) {
			out[(*len)++] = '\\';
			out[(*len)++] = w[i];
		}
		break;
	}
}

/* The words joined into one line, each quoted in two halves of different styles, with a
 * different blank between each pair; splitting it must give back the same words. */
static void check_split_round_trip(char *const *words, size_t n, unsigned salt)
{
	static const char *const seps[] = {" ", "\t", "  ", "\r\n", " \t "};
	_cleanup_strv_ char **back = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *line = NULL;
	size_t cap = 1, len = 0, nback = 0;
	int r;

	for (size_t i = 0; i < n; i++)
		cap += 4 * strlen(words[i]) + 16;
	line = malloc(cap);
	if (!line)
		return;
	for (size_t i = 0; i < n; i++) {
		size_t wl = strlen(words[i]), half = wl / 2;
		const char *sep = seps[(i + salt) % (sizeof(seps) / sizeof(seps[0]))];

		if (i > 0) {
			memcpy(line + len, sep, strlen(sep));
			len += strlen(sep);
		}
		quote_into(line, &len, words[i], half, (unsigned)i + salt);
		quote_into(line, &len, words[i] + half, wl - half, (unsigned)i + salt + 1);
	}
	line[len] = '\0';
	r = cli_split_line(line, &back, &nback, &e);
	if (r == -ENOMEM)
		return;
	if (r < 0)
		fail("quoted line \"%s\" refused: %s", line, e && e->msg ? e->msg : "");
	if (nback != n || back[n])
		fail("quoted line \"%s\" splits into %zu words, not %zu", line, nback, n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(back[i], words[i]) != 0)
			fail("quoted line \"%s\": word %zu is \"%s\", not \"%s\"", line, i, back[i],
			     words[i]);
}

static void check_split_line(const char *line)
{
	_cleanup_strv_ char **argv = NULL;
	_cleanup_err_ struct err *e = NULL;
	size_t argc = 0;
	int r = cli_split_line(line, &argv, &argc, &e);

	check_refusal(r, e, "split_line");
	if (r < 0) {
		/* Only a quote or a backslash can be left open. */
		if (r == -EINVAL && !strpbrk(line, "'\"\\"))
			fail("line without quotes or backslashes refused: %s", e->msg);
		return;
	}
	if (!argv || argv[argc])
		fail("split_line: argv is not NULL-terminated after %zu words", argc);
	for (size_t i = 0; i < argc; i++)
		if (!argv[i])
			fail("split_line: word %zu of %zu is NULL", i, argc);
	/* Without quotes or backslashes, the words are the runs of non-blanks. */
	if (!strpbrk(line, "'\"\\")) {
		size_t i = 0;

		for (const char *p = line; *p;) {
			size_t run;

			while (*p && is_blank(*p))
				p++;
			if (!*p)
				break;
			for (run = 0; p[run] && !is_blank(p[run]); run++)
				;
			if (i >= argc || strlen(argv[i]) != run || memcmp(argv[i], p, run) != 0)
				fail("split_line: plain word %zu is not \"%.*s\"", i, (int)run, p);
			i++;
			p += run;
		}
		if (i != argc)
			fail("split_line: %zu plain words, %zu returned", i, argc);
	}
	check_split_round_trip(argv, argc, (unsigned)strlen(line));
}

/* ---- cli_parse_settings() ---- */

static void check_settings(char *const *words, size_t n)
{
	_cleanup_json_ json_object *o = NULL;
	_cleanup_err_ struct err *e = NULL;
	bool pair = n == 2 && !strchr(words[0], '=');
	int r = cli_parse_settings(words, n, &o, &e);

	check_refusal(r, e, "settings");
	if (r == -ENOMEM)
		return;
	if (r < 0) {
		const char *prefix = "Invalid key=value configuration: ";
		size_t bad = 0;

		if (o)
			fail("settings: refused with an object");
		/* The first word without a key is the one named. */
		while (bad < n && strchr(words[bad], '=') && words[bad][0] != '=')
			bad++;
		if (pair && !*words[0])
			bad = 0;
		if (bad == n)
			fail("settings: refused though every word has a key: %s", e->msg);
		if (strncmp(e->msg, prefix, strlen(prefix)) != 0 ||
		    (*words[bad] && strcmp(e->msg + strlen(prefix), words[bad]) != 0))
			fail("settings: refusal \"%s\" does not name \"%s\"", e->msg, words[bad]);
		return;
	}
	if (!o || !json_object_is_type(o, json_type_object))
		fail("settings: accepted without an object");
	if (pair) {
		json_object *v = NULL;

		if (!*words[0])
			fail("settings: empty key accepted in the KEY VALUE form");
		if (json_object_object_length(o) != 1 ||
		    !json_object_object_get_ex(o, words[0], &v) ||
		    !json_object_is_type(v, json_type_string) ||
		    strcmp(json_object_get_string(v), words[1]) != 0)
			fail("settings: KEY VALUE \"%s\" \"%s\" not kept as given", words[0],
			     words[1]);
		return;
	}
	/* KEY=VALUE...: each key maps to the text after the first '=' of its last word, and there
	 * is no other key. */
	{
		size_t distinct = 0;

		for (size_t i = 0; i < n; i++) {
			const char *eq = strchr(words[i], '=');
			_cleanup_free_ char *key = NULL;
			const char *want = NULL;
			json_object *v = NULL;
			bool first = true;

			if (!eq || eq == words[i])
				fail("settings: \"%s\" accepted without a key", words[i]);
			key = strndup(words[i], (size_t)(eq - words[i]));
			if (!key)
				return;
			for (size_t j = 0; j < n; j++) {
				const char *eq2 = strchr(words[j], '=');

				if ((size_t)(eq2 - words[j]) == strlen(key) &&
				    strncmp(words[j], key, strlen(key)) == 0) {
					first = first && j >= i;
					want = eq2 + 1;
				}
			}
			distinct += first;
			if (!json_object_object_get_ex(o, key, &v) ||
			    !json_object_is_type(v, json_type_string) ||
			    strcmp(json_object_get_string(v), want) != 0)
				fail("settings: key \"%s\" is not \"%s\"", key, want);
		}
		if ((size_t)json_object_object_length(o) != distinct)
			fail("settings: %d keys, %zu given", json_object_object_length(o),
			     distinct);
	}
}

/* ---- suggestions ---- */

/* Levenshtein distance ignoring ASCII case, on the whole matrix; SIZE_MAX past 255 bytes. */
static size_t model_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	static size_t m[256][256];

	if (la > 255 || lb > 255)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		m[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		m[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = m[i - 1][j - 1] + (strncasecmp(a + i - 1, b + j - 1, 1) != 0);
			size_t del = m[i - 1][j] + 1, ins = m[i][j - 1] + 1;

			m[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
	return m[la][lb];
}

static bool model_close(const char *typed, const char *cand)
{
	if (strcasecmp(typed, cand) == 0)
		return false;
	if (*typed && strncasecmp(cand, typed, strlen(typed)) == 0)
		return true;
	return model_distance(typed, cand) <= SUGGEST_MAX_DISTANCE;
}

static void check_suggest(char *const *words, size_t n)
{
	const char *typed = words[0];
	const char *const *cands = (const char *const *)words + 1;
	const char *best;
	const char *key;
	size_t dbest = SIZE_MAX;

	for (size_t i = 0; i < n; i++) {
		size_t d = suggest_distance(typed, words[i]);

		if (d != model_distance(typed, words[i]))
			fail("distance \"%s\" \"%s\": %zu, not %zu", typed, words[i], d,
			     model_distance(typed, words[i]));
		if (d != suggest_distance(words[i], typed))
			fail("distance \"%s\" \"%s\" is not symmetric", typed, words[i]);
		if (suggest_close(typed, words[i]) != model_close(typed, words[i]))
			fail("close \"%s\" \"%s\": %d", typed, words[i],
			     suggest_close(typed, words[i]));
		if (i + 1 < n && d != SIZE_MAX) {
			size_t d1 = suggest_distance(words[i], words[i + 1]);
			size_t d2 = suggest_distance(typed, words[i + 1]);

			if (d1 != SIZE_MAX && d2 != SIZE_MAX && d2 > d + d1)
				fail("distance breaks the triangle inequality");
		}
	}

	/* The nearest close candidate, the first one on a tie; none when none is close. */
	best = suggest_best(typed, cands, n - 1);
	if (best) {
		size_t at = 0;

		while (at < n - 1 && cands[at] != best)
			at++;
		if (at == n - 1)
			fail("suggest_best returned no candidate");
		if (!model_close(typed, best))
			fail("suggested \"%s\" for \"%s\", which is not close", best, typed);
		dbest = model_distance(typed, best);
		for (size_t i = 0; i < n - 1; i++)
			if (model_close(typed, cands[i]) &&
			    (model_distance(typed, cands[i]) < dbest ||
			     (i < at && model_distance(typed, cands[i]) == dbest)))
				fail("suggested \"%s\" for \"%s\" before \"%s\"", best, typed,
				     cands[i]);
	} else {
		for (size_t i = 0; i < n - 1; i++)
			if (model_close(typed, cands[i]))
				fail("nothing suggested for \"%s\", though \"%s\" is close", typed,
				     cands[i]);
	}

	/* The same rule over the config key table. */
	key = config_key_suggest(typed);
	if (key) {
		bool known = false;

		if (!model_close(typed, key))
			fail("config key \"%s\" suggested for \"%s\", which is not close", key,
			     typed);
		for (const struct config_key *k = config_keys(); k->name; k++) {
			known = known || k->name == key;
			if (model_close(typed, k->name) &&
			    model_distance(typed, k->name) < model_distance(typed, key))
				fail("config key \"%s\" suggested for \"%s\" before \"%s\"", key,
				     typed, k->name);
		}
		if (!known)
			fail("config key suggestion \"%s\" is no key", key);
	}
}

/* ---- cli_filters_parse() and cli_filters_match() ---- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* What a word alone makes of its filter: its key before '=' (NULL for a name filter). */
static bool word_is_key(const char *word, const char *key)
{
	const char *eq = strchr(word, '=');

	return eq && (size_t)(eq - word) == strlen(key) && strncasecmp(word, key, strlen(key)) == 0;
}

/* A comma-separated list holds `field` ignoring case. */
static bool alts_hold(const char *alts, const char *field)
{
	size_t fl = strlen(field);

	for (const char *p = alts;;) {
		size_t len = strcspn(p, ",");

		if (len == fl && strncasecmp(p, field, len) == 0)
			return true;
		if (!p[len])
			return false;
		p += len + 1;
	}
}

static const char *get_string(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* What a filter the matcher accepted must say of an instance, where that is plain: 1 must
 * match, 0 must not, -1 either. */
static int model_match(const char *word, json_object *inst)
{
	const char *eq = strchr(word, '=');
	const char *name = get_string(inst, "name");

	if (!eq) {
		if (!name)
			return 0;
		return strncmp(name, word, strlen(word)) == 0 ? 1 : -1;
	}
	if (word_is_key(word, "status") || word_is_key(word, "state") ||
	    word_is_key(word, "architecture") || word_is_key(word, "location") ||
	    word_is_key(word, "type")) {
		const char *field = NULL;

		if (word_is_key(word, "type")) {
			field = get_string(inst, "type");
			if (!field || !*field)
				field = "container";
		} else if (word_is_key(word, "architecture") || word_is_key(word, "location")) {
			field = get_string(inst,
					   (size_t)(eq - word) == 8 ? "location" : "architecture");
		} else {
			field = get_string(inst, "status");
		}
		return field && alts_hold(eq + 1, field);
	}
	if (word_is_key(word, "ipv4") || word_is_key(word, "ipv6"))
		return -1;
	/* A config filter: the value of the key named exactly, compared literally (an unset key
	 * being ""), always matches. */
	{
		_cleanup_free_ char *key = strndup(word, (size_t)(eq - word));
		json_object *config = NULL;
		const char *have;

		if (!key)
			return -1;
		if (!json_object_is_type(inst, json_type_object))
			return -1;
		if (!json_object_object_get_ex(inst, "expanded_config", &config) ||
		    !json_object_is_type(config, json_type_object))
			json_object_object_get_ex(inst, "config", &config);
		if (config && !json_object_is_type(config, json_type_object))
			config = NULL;
		have = config ? get_string(config, key) : NULL;
		return strcmp(have ? have : "", eq + 1) == 0 ? 1 : -1;
	}
}

static void check_filters(char *const *words, size_t n)
{
	_cleanup_err_ struct err *e = NULL;
	struct cli_filters *all = NULL;
	struct cli_filters *one[MAX_WORDS] = {NULL};
	bool need_state = false;
	size_t first_bad = n;
	int r;

	/* Each word alone: accepted, or refused with a message naming it. */
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct err *ei = NULL;
		const char *dym;
		int ri = cli_filters_parse(&words[i], 1, &one[i], &ei);

		check_refusal(ri, ei, "filter");
		if (ri == -ENOMEM)
			goto out;
		if (ri < 0) {
			_cleanup_free_ char *want = NULL;

			if (first_bad == n)
				first_bad = i;
			want = malloc(strlen(words[i]) + 20);
			if (!want)
				goto out;
			sprintf(want, "Invalid filter \"%s\"", words[i]);
			if (strncmp(ei->msg, want, strlen(want)) != 0)
				fail("filter \"%s\" refused with \"%s\"", words[i], ei->msg);
			/* A hint is close to the key, by the suggestion rule. It ends the message;
			 * the key in it may hold anything. */
			dym = NULL;
			if (ends_with(ei->msg, "\"?)"))
				for (const char *p = ei->msg + strlen(want);
				     (p = strstr(p, "(did you mean \"")); p++)
					dym = p;
			if (dym) {
				_cleanup_free_ char *hint =
				    strdup(dym + strlen("(did you mean \""));
				_cleanup_free_ char *key =
				    strndup(words[i], strcspn(words[i], "="));

				if (!hint || !key)
					goto out;
				if (strlen(hint) < 3)
					fail("filter \"%s\": cut hint in \"%s\"", words[i],
					     ei->msg);
				hint[strlen(hint) - 3] = '\0';
				if (!model_close(key, hint))
					fail("filter \"%s\": hint \"%s\" is not close", words[i],
					     hint);
			}
			continue;
		}
		if (!one[i])
			fail("filter \"%s\" accepted without filters", words[i]);
		if (cli_filters_need_state(one[i]) !=
		    (word_is_key(words[i], "ipv4") || word_is_key(words[i], "ipv6")))
			fail("filter \"%s\": need_state is wrong", words[i]);
		need_state = need_state || cli_filters_need_state(one[i]);
	}

	/* Together: accepted exactly when each is, else refused as the first bad one alone. */
	r = cli_filters_parse(words, n, &all, &e);
	check_refusal(r, e, "filters");
	if (r == -ENOMEM)
		goto out;
	if ((r == 0) != (first_bad == n))
		fail("filters: %d together, but word %zu alone refused", r, first_bad);
	if (r < 0)
		goto out;
	if (cli_filters_need_state(all) != need_state)
		fail("filters: need_state together differs");

	for (size_t k = 0; k < N_INSTANCES; k++) {
		bool m = cli_filters_match(all, instances[k]), and = true;

		if (cli_filters_match(all, instances[k]) != m)
			fail("filters: match of instance %zu is not deterministic", k);
		for (size_t i = 0; i < n; i++) {
			bool mi = cli_filters_match(one[i], instances[k]);
			int want = model_match(words[i], instances[k]);

			if (want >= 0 && mi != (want == 1))
				fail("filter \"%s\" %s instance %zu", words[i],
				     mi ? "matches" : "does not match", k);
			and = and&&mi;
		}
		if (m != and)
			fail("filters: together %d on instance %zu, each alone %d", m, k, and);
	}
	if (n == 0)
		for (size_t k = 0; k < N_INSTANCES; k++)
			if (!cli_filters_match(all, instances[k]))
				fail("no filters do not match instance %zu", k);
	/* Matching changes no object. */
	for (size_t k = 0; k < N_INSTANCES; k++)
		if (strcmp(json_object_to_json_string_ext(instances[k],
							  JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE),
			   instance_dumps[k]) != 0)
			fail("matching changed instance %zu", k);
out:
	cli_filters_free(all);
	for (size_t i = 0; i < n; i++)
		cli_filters_free(one[i]);
}

/* ---- cli_columns_parse() ---- */

static int parse_columns(const char *spec, struct cli_column **ret, size_t *ret_n)
{
	_cleanup_err_ struct err *e = NULL;
	int r = cli_columns_parse(spec, ret, ret_n, &e);

	check_refusal(r, e, "columns");
	return r;
}

/* `spec` with every entry that has no "." (a run of letters) cut into one entry per letter. */
static char *letters_with_commas(const char *spec)
{
	char *out = malloc(2 * strlen(spec) + 1);
	size_t len = 0;

	if (!out)
		return NULL;
	for (const char *p = spec;;) {
		size_t n = strcspn(p, ",");

		if (memchr(p, '.', n)) {
			memcpy(out + len, p, n);
			len += n;
		} else {
			for (size_t i = 0; i < n; i++) {
				if (i > 0)
					out[len++] = ',';
				out[len++] = p[i];
			}
		}
		if (!p[n])
			break;
		out[len++] = ',';
		p += n + 1;
	}
	out[len] = '\0';
	return out;
}

static void check_columns(const char *spec)
{
	_cleanup_free_ char *split = NULL;
	struct cli_column *c = NULL, *c2 = NULL;
	size_t n = 0, n2 = 0, want = 0;
	int r = parse_columns(spec, &c, &n), r2;

	if (r == -ENOMEM)
		return;
	if (r == 0) {
		/* One column per letter and one per custom entry. */
		for (const char *p = spec;;) {
			size_t len = strcspn(p, ",");

			want += memchr(p, '.', len) ? 1 : len;
			if (!p[len])
				break;
			p += len + 1;
		}
		if (n != want)
			fail("columns \"%s\": %zu columns, not %zu", spec, n, want);
		for (size_t i = 0; i < n; i++) {
			if (!c[i].header || !*c[i].header)
				fail("columns \"%s\": column %zu has no header", spec, i);
			if (c[i].max_width < -1)
				fail("columns \"%s\": column %zu has width %d", spec, i,
				     c[i].max_width);
			if (c[i].letter) {
				if (c[i].key || c[i].device || c[i].max_width != -1 ||
				    !strchr(spec, c[i].letter))
					fail("columns \"%s\": bad letter column %zu", spec, i);
			} else {
				if (!c[i].key || !*c[i].key)
					fail("columns \"%s\": custom column %zu has no key", spec,
					     i);
				if (c[i].device && (c[i].key[0] == '.' || !strchr(c[i].key, '.') ||
						    !strchr(c[i].key, '.')[1]))
					fail("columns \"%s\": device key \"%s\"", spec, c[i].key);
			}
		}
	}

	/* "ns4" is "n,s,4": the same answer and the same columns. */
	split = letters_with_commas(spec);
	if (!split)
		goto out;
	r2 = parse_columns(split, &c2, &n2);
	if (r2 == -ENOMEM)
		goto out;
	if ((r == 0) != (r2 == 0))
		fail("columns \"%s\": %d, but \"%s\": %d", spec, r, split, r2);
	if (r == 0) {
		if (n != n2)
			fail("columns \"%s\" and \"%s\" differ in number", spec, split);
		for (size_t i = 0; i < n; i++)
			if (c[i].letter != c2[i].letter || c[i].device != c2[i].device ||
			    c[i].max_width != c2[i].max_width || c[i].state != c2[i].state ||
			    c[i].snapshots != c2[i].snapshots ||
			    strcmp(c[i].header, c2[i].header) != 0 ||
			    (c[i].key && strcmp(c[i].key, c2[i].key) != 0))
				fail("columns \"%s\" and \"%s\" differ at %zu", spec, split, i);
	}
out:
	cli_columns_free(c, n);
	cli_columns_free(c2, n2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *whole = strndup((const char *)data, size);
	_cleanup_free_ char *copy = malloc(size + 1);
	char *words[MAX_WORDS + 1] = {NULL};
	size_t n = 0;
	char sep;

	if (!whole || !copy)
		return 0;
	load_instances();
	check_split_line(whole);
	check_columns(whole);

	/* Words: NUL-separated when the input holds a NUL, else newline-separated. */
	memcpy(copy, data, size);
	copy[size] = '\0';
	sep = memchr(data, '\0', size) ? '\0' : '\n';
	for (size_t i = 0, start = 0; i <= size && n < MAX_WORDS; i++) {
		if (i == size || copy[i] == sep) {
			copy[i] = '\0';
			words[n++] = copy + start;
			start = i + 1;
		}
	}
	check_split_round_trip(words, n, (unsigned)size);
	check_settings(words, n);
	check_filters(words, n);
	if (n > 0)
		check_suggest(words, n);
	return 0;
}
