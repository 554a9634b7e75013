#include "cmd/cairn/filter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/suggest.h"
#include "common/util.h"
#include "config/keys.h"

enum filter_kind {
	FILTER_NAME,
	FILTER_TYPE,
	FILTER_STATUS,
	FILTER_ARCHITECTURE,
	FILTER_LOCATION,
	FILTER_IPV4,
	FILTER_IPV6,
	FILTER_CONFIG,
	FILTER_KIND_MAX,
};

struct filter {
	enum filter_kind kind;
	char *text;   /* owned: the name text, the config key, or the shorthand's values */
	char *value;  /* owned: the config value (FILTER_CONFIG) */
	char **alts;  /* owned: a shorthand's comma-separated values */
	regex_t re;   /* the name or config value as an anchored expression */
	bool have_re; /* re was compiled */
};

struct cli_filters {
	struct filter *v;
	size_t n;
};

static const struct {
	const char *name;
	enum filter_kind kind;
} shorthands[] = {
    {"type", FILTER_TYPE},	   {"status", FILTER_STATUS},
    {"state", FILTER_STATUS},	   {"architecture", FILTER_ARCHITECTURE},
    {"location", FILTER_LOCATION}, {"ipv4", FILTER_IPV4},
    {"ipv6", FILTER_IPV6},
};

/* What Incus reports as an instance's status or type; anything else cannot match. */
static const char *const statuses[] = {"running",  "stopped",  "frozen",   "error",  "starting",
				       "stopping", "aborting", "freezing", "thawed", "ready"};
static const char *const types[] = {"container", "virtual-machine"};

/* The namespaces whose keys are free-form after the prefix. */
static const char *const free_namespaces[] = {"user", "volatile", "image"};

void cli_filters_free(struct cli_filters *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].text);
		free(f->v[i].value);
		strv_free(f->v[i].alts);
		if (f->v[i].have_re)
			regfree(&f->v[i].re);
	}
	free(f->v);
	free(f);
}

static void cli_filters_freep(struct cli_filters **f)
{
	cli_filters_free(*f);
}

/*
 * glibc's regcomp() is not safe on every expression a user may type, and the expressions of
 * Incus (Go's regexp) are smaller, so cairn refuses a filter that would be expensive:
 *  - it copies the atom of each repetition, "+" into two and "{m,n}" into n, so nested ones
 *    multiply ("a" and 33 "+" took 2 GB), and its epsilon closures grow with the square of the
 *    copies where they are optional: "(a?){1000}" compiles in 20 ms and 17 MB, "(a?){10000}" in
 *    2 s and 1.5 GB. Go refuses a repetition count over 1000 too.
 *  - a "*" or "+" over something that can match nothing ("(a?)*", "(^)*", "a**") doubles the
 *    time to compile each time it comes again: 18 of them take a second, 22 nine. With many
 *    nodes, a few are enough: "((a?){60}(a?)*){8}" takes 1.5 s. The budget below, the square
 *    of the nodes doubled for each such loop, keeps every expression measured under 0.3 s.
 *  - matching a back-reference takes exponential time (eight "(a*)" and their "\8".."\1" take
 *    20 s on a name of 63 "a"); Go has none.
 */
#define REGEX_MAX_NODES 1000	 /* nodes once repetitions are expanded */
#define REGEX_MAX_COST (1 << 22) /* nodes * nodes << loops over what can match nothing */
#define REGEX_MAX_LOOPS 21	 /* the most such loops, which leaves the shift defined */
#define REGEX_MAX_DEPTH 32	 /* levels of parentheses */

/* The cost of an atom, a group, or the expression so far at one level. */
struct re_cost {
	size_t nodes; /* glibc's nodes, more than REGEX_MAX_NODES meaning too many */
	size_t loops; /* repetitions that loop over something that can match nothing */
	bool empty;   /* can match nothing */
};

/* One level of parentheses while sizing an expression. */
struct re_level {
	size_t nodes, loops; /* of the whole level so far */
	bool alt_empty;	     /* an earlier alternative ("|") can match nothing */
	bool branch_empty;   /* the current alternative can match nothing so far */
	bool before_empty;   /* the same, before its last atom */
	bool has_last;	     /* `last` is the last atom, which a repetition applies to */
	struct re_cost last;
};

static size_t sat_mul(size_t a, size_t b)
{
	return b && a > (REGEX_MAX_NODES + 1) / b ? REGEX_MAX_NODES + 1 : a * b;
}

/* Reads "{m}", "{m,}", "{m,n}" or "{,n}" at `p`: its m, its n (SIZE_MAX for none) and its
 * length; false when it is no bound (glibc then refuses it or reads it literally). */
static bool parse_bound(const char *p, size_t *ret_m, size_t *ret_n, size_t *ret_len)
{
	const char *q = p + 1;
	size_t m = 0, n = 0;
	bool comma = false, digits = false, ndigits = false;

	for (; *q >= '0' && *q <= '9'; q++, digits = true)
		m = m > 100000 ? m : m * 10 + (size_t)(*q - '0');
	if (*q == ',') {
		comma = true;
		for (q++; *q >= '0' && *q <= '9'; q++, ndigits = true)
			n = n > 100000 ? n : n * 10 + (size_t)(*q - '0');
	}
	if (*q != '}' || !(digits || ndigits))
		return false;
	*ret_m = m;
	*ret_n = !comma ? m : ndigits ? n : SIZE_MAX;
	*ret_len = (size_t)(q - p) + 1;
	return true;
}

/* The end of the bracket expression that starts at `p`, or NULL when it has none. "]" first is
 * literal, and "[:alpha:]", "[=a=]" and "[.a.]" hold their own brackets. */
static const char *bracket_end(const char *p)
{
	const char *q = p + 1;

	if (*q == '^')
		q++;
	if (*q == ']')
		q++;
	while (*q && *q != ']') {
		if (*q == '[' && (q[1] == ':' || q[1] == '=' || q[1] == '.')) {
			const char *end = strchr(q + 2, q[1]);

			while (end && end[1] != ']')
				end = strchr(end + 1, q[1]);
			if (!end)
				return NULL;
			q = end + 2;
		} else {
			q++;
		}
	}
	return *q ? q : NULL;
}

static void level_add(struct re_level *l, struct re_cost atom)
{
	l->nodes += atom.nodes;
	l->loops += atom.loops;
	l->before_empty = l->branch_empty;
	l->branch_empty = l->branch_empty && atom.empty;
	l->has_last = true;
	l->last = atom;
}

/* The last atom of `l` repeated `copies` times; `loop` when the repetition is unbounded, and
 * `empty` whether it may match nothing. */
static void level_repeat(struct re_level *l, size_t copies, bool loop, bool empty)
{
	struct re_cost atom = l->last;

	l->nodes -= atom.nodes;
	l->loops -= atom.loops;
	l->branch_empty = l->before_empty;
	atom.nodes = sat_mul(atom.nodes, copies ? copies : 1);
	atom.loops = sat_mul(atom.loops, copies ? copies : 1) + (loop && atom.empty);
	atom.empty = empty || atom.empty;
	level_add(l, atom);
}

/* The group a level makes once closed. */
static struct re_cost level_close(const struct re_level *l)
{
	return (struct re_cost){
	    .nodes = l->nodes + 1, .loops = l->loops, .empty = l->alt_empty || l->branch_empty};
}

/*
 * Whether glibc may compile and run the extended expression `pattern` (see above): 0, or a
 * regcomp() error code with what is wrong in `errbuf`. Where glibc might read the text
 * otherwise (a repetition with nothing before it, a broken bound or bracket), the count takes
 * the reading that costs more.
 */
static int regex_affordable(const char *pattern, char *errbuf, size_t errlen)
{
	struct re_level stack[REGEX_MAX_DEPTH + 1];
	size_t depth = 0;

	stack[0] = (struct re_level){.branch_empty = true};
	for (const char *p = pattern; *p; p++) {
		struct re_level *l = &stack[depth];
		size_t m = 0, n = 0, len = 1;
		const char *end;

		if (l->has_last && (*p == '*' || *p == '?' || *p == '+')) {
			level_repeat(l, *p == '+' ? 2 : 1, *p != '?', *p != '+');
		} else if (l->has_last && *p == '{' && parse_bound(p, &m, &n, &len)) {
			/* X{m,} is m copies and a starred one; X{m,n} n copies, n-m optional. */
			level_repeat(l, n == SIZE_MAX ? m + 1 : n, n == SIZE_MAX, m == 0);
			p += len - 1;
		} else if (*p == '(') {
			if (depth == REGEX_MAX_DEPTH) {
				snprintf(errbuf, errlen,
					 "too complex: more than %d levels of parentheses",
					 REGEX_MAX_DEPTH);
				return REG_ESIZE;
			}
			stack[++depth] = (struct re_level){.branch_empty = true};
		} else if (*p == ')' && depth) {
			struct re_cost group = level_close(l);

			level_add(&stack[--depth], group);
		} else if (*p == '|') {
			l->nodes++;
			l->alt_empty = l->alt_empty || l->branch_empty;
			l->branch_empty = true;
			l->has_last = false;
		} else {
			/* Anchors match nothing, as do glibc's \< \> \b \B \` \'. */
			bool empty = *p == '^' || *p == '$';

			if (*p == '\\' && p[1] >= '1' && p[1] <= '9') {
				snprintf(errbuf, errlen,
					 "back-references such as \\%c are not supported", p[1]);
				return REG_ESUBREG;
			}
			if (*p == '\\' && p[1]) {
				empty = strchr("<>bB`'", *++p) != NULL;
			} else if (*p == '[' && (end = bracket_end(p))) {
				p = end;
			}
			level_add(l, (struct re_cost){.nodes = 1, .empty = empty});
		}
		if (stack[depth].nodes > REGEX_MAX_NODES || stack[depth].loops > REGEX_MAX_LOOPS)
			break;
	}
	/* Groups left open (regcomp() refuses them) count as closed. */
	while (depth) {
		struct re_cost group = level_close(&stack[depth]);

		level_add(&stack[--depth], group);
	}
	if (stack[0].nodes > REGEX_MAX_NODES || stack[0].loops > REGEX_MAX_LOOPS ||
	    stack[0].nodes * stack[0].nodes > (size_t)REGEX_MAX_COST >> stack[0].loops) {
		snprintf(errbuf, errlen,
			 "too complex: more than %d nodes once its repetitions are expanded, or "
			 "too many loops over what can match nothing",
			 REGEX_MAX_NODES);
		return REG_ESIZE;
	}
	return 0;
}

/* Compiles `text` as Incus reads it: wrapped in ^...$ unless it anchors itself. */
static int compile_anchored(const char *text, regex_t *re, char *errbuf, size_t errlen)
{
	_cleanup_free_ char *pattern = NULL;
	int r;

	if (strchr(text, '^') || strchr(text, '$'))
		pattern = strdup(text);
	else
		pattern = str_printf("^%s$", text);
	if (!pattern)
		return REG_ESPACE;
	r = regex_affordable(pattern, errbuf, errlen);
	if (r != 0)
		return r;
	r = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
	if (r != 0)
		regerror(r, re, errbuf, errlen);
	return r;
}

/*
 * Incus' abbreviation rule: "s.privileged" names "security.privileged" because both have the
 * same number of dotted parts and each part of the short form starts the long one's.
 */
static bool dot_prefix_match(const char *abbrev, const char *full)
{
	const char *a = abbrev, *f = full;

	for (;;) {
		size_t la = strcspn(a, "."), lf = strcspn(f, ".");

		if (la > lf || strncmp(a, f, la) != 0)
			return false;
		a += la;
		f += lf;
		if (!*a || !*f)
			return !*a && !*f;
		a++;
		f++;
	}
}

/* Whether `key` can name any config key: a known key or an abbreviation of one, or a key (or
 * abbreviation) in a free-form namespace such as user.*. */
static bool config_key_possible(const char *key)
{
	const char *dot = strchr(key, '.');

	if (!*key)
		return false;
	if (config_key_lookup(key))
		return true;
	if (dot && dot > key && dot[1])
		for (size_t i = 0; i < sizeof(free_namespaces) / sizeof(free_namespaces[0]); i++)
			if (strncmp(free_namespaces[i], key, (size_t)(dot - key)) == 0 &&
			    strlen(free_namespaces[i]) >= (size_t)(dot - key))
				return true;
	for (const struct config_key *k = config_keys(); k->name; k++)
		if (dot_prefix_match(key, k->name))
			return true;
	return false;
}

static bool one_of(const char *s, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(s, v[i]) == 0)
			return true;
	return false;
}

/* Parses an address or CIDR network of `family` (AF_INET, AF_INET6). */
static bool parse_net(const char *s, int family, unsigned char addr[16], unsigned *ret_bits)
{
	_cleanup_free_ char *copy = strdup(s);
	unsigned max = family == AF_INET ? 32 : 128;
	char *slash;

	if (!copy)
		return false;
	slash = strchr(copy, '/');
	*ret_bits = max;
	if (slash) {
		char *end = NULL;
		unsigned long bits;

		*slash = '\0';
		errno = 0;
		bits = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || bits > max || slash[1] == '-' || slash[1] == '+')
			return false;
		*ret_bits = (unsigned)bits;
	}
	return inet_pton(family, copy, addr) == 1;
}

static bool net_contains(const unsigned char *net, unsigned bits, const unsigned char *addr)
{
	size_t whole = bits / 8;
	unsigned rest = bits % 8;

	if (memcmp(net, addr, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((net[whole] ^ addr[whole]) & (unsigned char)(0xff << (8 - rest))) == 0;
}

static int parse_shorthand(struct filter *f, enum filter_kind kind, const char *arg,
			   const char *value, struct err **err)
{
	f->kind = kind;
	for (const char *p = value;;) {
		size_t len = strcspn(p, ",");
		_cleanup_free_ char *alt = strndup(p, len);

		if (!alt || strv_push(&f->alts, alt) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
		if (!p[len])
			break;
		p += len + 1;
	}
	for (char **a = f->alts; *a; a++) {
		unsigned char addr[16];
		unsigned bits;

		switch (kind) {
		case FILTER_STATUS:
			if (!one_of(*a, statuses, sizeof(statuses) / sizeof(statuses[0])))
				return err_set(
				    err, -EINVAL,
				    "Invalid filter \"%s\": \"%s\" is no instance status "
				    "(running, stopped, frozen, error, ...)",
				    arg, *a);
			break;
		case FILTER_TYPE:
			if (!one_of(*a, types, sizeof(types) / sizeof(types[0])))
				return err_set(err, -EINVAL,
					       "Invalid filter \"%s\": \"%s\" is no instance type "
					       "(container or virtual-machine)",
					       arg, *a);
			break;
		case FILTER_IPV4:
		case FILTER_IPV6:
			if (!parse_net(*a, kind == FILTER_IPV4 ? AF_INET : AF_INET6, addr, &bits))
				return err_set(err, -EINVAL,
					       "Invalid filter \"%s\": \"%s\" is no %s address or "
					       "network",
					       arg, *a, kind == FILTER_IPV4 ? "IPv4" : "IPv6");
			break;
		case FILTER_NAME:
		case FILTER_ARCHITECTURE:
		case FILTER_LOCATION:
		case FILTER_CONFIG:
		case FILTER_KIND_MAX:
			break;
		}
	}
	return 0;
}

static int unknown_key(const char *arg, const char *key, struct err **err)
{
	const char *names[sizeof(shorthands) / sizeof(shorthands[0])];
	const char *hint;

	for (size_t i = 0; i < sizeof(shorthands) / sizeof(shorthands[0]); i++)
		names[i] = shorthands[i].name;
	hint = suggest_best(key, names, sizeof(names) / sizeof(names[0]));
	if (!hint)
		hint = config_key_suggest(key);
	if (hint)
		return err_set(err, -EINVAL,
			       "Invalid filter \"%s\": unknown key \"%s\" (did you mean \"%s\"?)",
			       arg, key, hint);
	return err_set(err, -EINVAL,
		       "Invalid filter \"%s\": unknown key \"%s\" (filter on a config key or on "
		       "type, status, architecture, location, ipv4 or ipv6)",
		       arg, key);
}

static int parse_one(const char *arg, struct filter *f, struct err **err)
{
	const char *eq = strchr(arg, '=');
	char msg[256] = "";

	if (!eq) {
		f->kind = FILTER_NAME;
		f->text = strdup(arg);
		if (!f->text)
			return err_set(err, -ENOMEM, "Out of memory");
		if (compile_anchored(arg, &f->re, msg, sizeof(msg)) != 0)
			return err_set(err, -EINVAL,
				       "Invalid filter \"%s\": not a valid regular expression (%s)",
				       arg, msg);
		f->have_re = true;
		return 0;
	}
	f->text = strndup(arg, (size_t)(eq - arg));
	if (!f->text)
		return err_set(err, -ENOMEM, "Out of memory");
	if (!*f->text)
		return err_set(err, -EINVAL, "Invalid filter \"%s\": no key before \"=\"", arg);
	for (size_t i = 0; i < sizeof(shorthands) / sizeof(shorthands[0]); i++)
		if (strcasecmp(f->text, shorthands[i].name) == 0)
			return parse_shorthand(f, shorthands[i].kind, arg, eq + 1, err);
	if (!config_key_possible(f->text))
		return unknown_key(arg, f->text, err);
	f->kind = FILTER_CONFIG;
	f->value = strdup(eq + 1);
	if (!f->value)
		return err_set(err, -ENOMEM, "Out of memory");
	/* As in Incus, a value that is no valid expression is compared literally: config values
	 * are free text and may well hold "(" or "[". */
	f->have_re = compile_anchored(f->value, &f->re, msg, sizeof(msg)) == 0;
	return 0;
}

int cli_filters_parse(char *const *argv, size_t argc, struct cli_filters **ret, struct err **err)
{
	_cleanup_(cli_filters_freep) struct cli_filters *f = calloc(1, sizeof(*f));
	int r;

	if (!f || !(f->v = calloc(argc + 1, sizeof(*f->v))))
		return err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; i < argc; i++) {
		/* Counted before parsing so that a half-parsed entry is freed too. */
		f->n++;
		r = parse_one(argv[i], &f->v[i], err);
		if (r < 0)
			return r;
	}
	*ret = steal_pointer(&f);
	return 0;
}

bool cli_filters_need_state(const struct cli_filters *f)
{
	for (size_t i = 0; f && i < f->n; i++)
		if (f->v[i].kind == FILTER_IPV4 || f->v[i].kind == FILTER_IPV6)
			return true;
	return false;
}

static bool regex_match(const regex_t *re, const char *s)
{
	return regexec(re, s, 0, NULL, 0) == 0;
}

static bool address_match(json_object *inst, const char *query, int family)
{
	json_object *state = NULL, *net = NULL;
	unsigned char want[16], have[16];
	unsigned bits;

	if (!parse_net(query, family, want, &bits) ||
	    !json_object_object_get_ex(inst, "state", &state) ||
	    !json_object_object_get_ex(state, "network", &net) ||
	    !json_object_is_type(net, json_type_object))
		return false;
	json_object_object_foreach(net, iface, data)
	{
		json_object *addrs = NULL;

		(void)iface;
		if (!json_object_object_get_ex(data, "addresses", &addrs) ||
		    !json_object_is_type(addrs, json_type_array))
			continue;
		for (size_t i = 0; i < json_object_array_length(addrs); i++) {
			json_object *a = json_object_array_get_idx(addrs, i);
			const char *fam = api_get_string(a, "family");
			const char *addr = api_get_string(a, "address");

			if (!fam || !addr ||
			    strcmp(fam, family == AF_INET ? "inet" : "inet6") != 0 ||
			    inet_pton(family, addr, have) != 1)
				continue;
			if (net_contains(want, bits, have))
				return true;
		}
	}
	return false;
}

static bool shorthand_match(const struct filter *f, json_object *inst)
{
	const char *field = NULL;

	switch (f->kind) {
	case FILTER_TYPE:
		field = api_get_string(inst, "type");
		if (!field || !*field)
			field = "container";
		break;
	case FILTER_STATUS:
		field = api_get_string(inst, "status");
		break;
	case FILTER_ARCHITECTURE:
		field = api_get_string(inst, "architecture");
		break;
	case FILTER_LOCATION:
		field = api_get_string(inst, "location");
		break;
	case FILTER_IPV4:
	case FILTER_IPV6:
	case FILTER_NAME:
	case FILTER_CONFIG:
	case FILTER_KIND_MAX:
		break;
	}
	for (char **a = f->alts; *a; a++) {
		if (f->kind == FILTER_IPV4 || f->kind == FILTER_IPV6) {
			if (address_match(inst, *a, f->kind == FILTER_IPV4 ? AF_INET : AF_INET6))
				return true;
		} else if (field && strcasecmp(field, *a) == 0) {
			return true;
		}
	}
	return false;
}

static bool config_match(const struct filter *f, json_object *inst)
{
	json_object *config = NULL;
	const char *exact;

	if (!json_object_object_get_ex(inst, "expanded_config", &config) ||
	    !json_object_is_type(config, json_type_object))
		json_object_object_get_ex(inst, "config", &config);
	if (config && !json_object_is_type(config, json_type_object))
		config = NULL;
	/* Incus' order: a key the abbreviation names whose value matches; the literal value of a
	 * key the filter names exactly (an unset key being ""). */
	if (config) {
		json_object_object_foreach(config, key, val)
		{
			const char *v = json_object_is_type(val, json_type_string)
					    ? json_object_get_string(val)
					    : "";

			if (!dot_prefix_match(f->text, key))
				continue;
			if (f->have_re ? regex_match(&f->re, v) : strcmp(v, f->value) == 0)
				return true;
		}
	}
	exact = config ? api_get_string(config, f->text) : NULL;
	return strcmp(exact ? exact : "", f->value) == 0;
}

static bool filter_match(const struct filter *f, json_object *inst)
{
	const char *name;

	switch (f->kind) {
	case FILTER_NAME:
		name = api_get_string(inst, "name");
		if (!name)
			return false;
		return regex_match(&f->re, name) || str_startswith(name, f->text);
	case FILTER_CONFIG:
		return config_match(f, inst);
	case FILTER_TYPE:
	case FILTER_STATUS:
	case FILTER_ARCHITECTURE:
	case FILTER_LOCATION:
	case FILTER_IPV4:
	case FILTER_IPV6:
		return shorthand_match(f, inst);
	case FILTER_KIND_MAX:
		break;
	}
	return false;
}

bool cli_filters_match(const struct cli_filters *f, json_object *inst)
{
	for (size_t i = 0; f && i < f->n; i++)
		if (!filter_match(&f->v[i], inst))
			return false;
	return true;
}

/* ---- columns ---- */

static const struct {
	char letter;
	const char *header;
	bool state;
	bool snapshots;
} letters[] = {
    {'4', "IPV4", true, false},		 {'6', "IPV6", true, false},
    {'a', "ARCHITECTURE", false, false}, {'b', "STORAGE POOL", false, false},
    {'c', "CREATED AT", false, false},	 {'d', "DESCRIPTION", false, false},
    {'e', "PROJECT", false, false},	 {'f', "BASE IMAGE", false, false},
    {'F', "BASE IMAGE", false, false},	 {'l', "LAST USED AT", false, false},
    {'m', "MEMORY USAGE", true, false},	 {'M', "MEMORY USAGE%", true, false},
    {'n', "NAME", false, false},	 {'N', "PROCESSES", true, false},
    {'p', "PID", true, false},		 {'P', "PROFILES", false, false},
    {'s', "STATE", false, false},	 {'S', "SNAPSHOTS", false, true},
    {'t', "TYPE", false, false},	 {'u', "CPU USAGE", true, false},
};

void cli_columns_free(struct cli_column *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		free(c[i].key);
		free(c[i].header);
	}
	free(c);
}

struct columns {
	struct cli_column *v;
	size_t n;
};

static void columns_done(struct columns *c)
{
	cli_columns_free(c->v, c->n);
	c->v = NULL;
	c->n = 0;
}

static struct cli_column *columns_add(struct columns *c)
{
	struct cli_column *v = realloc(c->v, (c->n + 1) * sizeof(*v));

	if (!v)
		return NULL;
	c->v = v;
	memset(&v[c->n], 0, sizeof(v[c->n]));
	v[c->n].max_width = -1;
	return &v[c->n++];
}

static int add_letter(struct columns *c, char letter, const char *entry, struct err **err)
{
	struct cli_column *col;

	for (size_t i = 0; i < sizeof(letters) / sizeof(letters[0]); i++) {
		if (letters[i].letter != letter)
			continue;
		col = columns_add(c);
		if (!col || !(col->header = strdup(letters[i].header)))
			return err_set(err, -ENOMEM, "Out of memory");
		col->letter = letter;
		col->state = letters[i].state;
		col->snapshots = letters[i].snapshots;
		return 0;
	}
	switch (letter) {
	case 'L':
		return err_set(err, -EINVAL, "Can't specify column L when not clustered");
	case 'D':
	case 'U':
		return err_set(err, -EINVAL,
			       "Column \"%c\" (%s) is not available: cairnd does not report it",
			       letter, letter == 'D' ? "disk usage" : "started at");
	default:
		return err_set(err, -EINVAL, "Unknown column shorthand char \"%c\" in \"%s\"",
			       letter, entry);
	}
}

/* "[config:|devices:]KEY[:NAME[:MAXWIDTH]]" */
static int add_custom(struct columns *c, const char *entry, struct err **err)
{
	_cleanup_strv_ char **parts = NULL;
	struct cli_column *col;
	size_t n = 0, first = 0;
	bool device = false;

	for (const char *p = entry;;) {
		size_t len = strcspn(p, ":");
		_cleanup_free_ char *part = strndup(p, len);

		if (!part || strv_push(&parts, part) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
		n++;
		if (!p[len])
			break;
		p += len + 1;
	}
	if (n > 1 && (strcmp(parts[0], "config") == 0 || strcmp(parts[0], "devices") == 0)) {
		device = strcmp(parts[0], "devices") == 0;
		first = 1;
	}
	if (n - first > 3)
		return err_set(err, -EINVAL,
			       "Invalid config key column format (too many fields): \"%s\"", entry);
	if (!device && !config_key_possible(parts[first]))
		return err_set(err, -EINVAL, "Invalid config key \"%s\" in \"%s\"", parts[first],
			       entry);
	if (device &&
	    (parts[first][0] == '.' || !strchr(parts[first], '.') || !strchr(parts[first], '.')[1]))
		return err_set(err, -EINVAL, "Invalid device key \"%s\" in \"%s\" (DEVICE.KEY)",
			       parts[first], entry);
	col = columns_add(c);
	if (!col)
		return err_set(err, -ENOMEM, "Out of memory");
	col->device = device;
	col->key = strdup(parts[first]);
	if (n - first > 1 && !*parts[first + 1] && n - first != 3)
		return err_set(err, -EINVAL,
			       "Invalid name in \"%s\", empty string is only allowed when defining "
			       "maxWidth",
			       entry);
	col->header = strdup(n - first > 1 && *parts[first + 1] ? parts[first + 1] : parts[first]);
	if (!col->key || !col->header)
		return err_set(err, -ENOMEM, "Out of memory");
	if (n - first == 3) {
		char *end = NULL;
		long w;

		errno = 0;
		w = strtol(parts[first + 2], &end, 10);
		if (!*parts[first + 2] || *end || errno || w < -1 || w > INT_MAX)
			return err_set(err, -EINVAL,
				       "Invalid max width (must be -1, 0 or a positive integer) "
				       "\"%s\" in \"%s\"",
				       parts[first + 2], entry);
		col->max_width = w == 0 ? (int)strlen(col->header) : (int)w;
	}
	return 0;
}

int cli_columns_parse(const char *spec, struct cli_column **ret, size_t *ret_n, struct err **err)
{
	_cleanup_(columns_done) struct columns c = {0};
	int r;

	for (const char *p = spec;;) {
		size_t len = strcspn(p, ",");
		_cleanup_free_ char *entry = strndup(p, len);

		if (!entry)
			return err_set(err, -ENOMEM, "Out of memory");
		if (!*entry)
			return err_set(err, -EINVAL,
				       "Empty column entry (redundant, leading or trailing comma) "
				       "in \"%s\"",
				       spec);
		/* Config keys always hold a ".": anything else is a run of letters. */
		if (strchr(entry, '.')) {
			r = add_custom(&c, entry, err);
			if (r < 0)
				return r;
		} else {
			for (const char *l = entry; *l; l++) {
				r = add_letter(&c, *l, entry, err);
				if (r < 0)
					return r;
			}
		}
		if (!p[len])
			break;
		p += len + 1;
	}
	*ret = steal_pointer(&c.v);
	*ret_n = c.n;
	c.n = 0;
	return 0;
}
