#include "config/keys.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"
#include "common/suggest.h"
#include "common/utf8.h"
#include "common/util.h"
#include "config/names.h"
#include "config/schedule.h"
#include "config/snaprules.h"

/* Highest CPU number or count accepted in limits.cpu; far above any real host, low enough
 * that arithmetic on it cannot overflow. */
#define CPU_MAX 65535

/* Parses a whole decimal number (optional leading '-', no spaces, no '+'). */
static int parse_int64(const char *s, int64_t *ret)
{
	char *end = NULL;
	long long v;

	if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end || end == s || (s[0] == '-' && s[1] == '\0'))
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Parses an unsigned decimal of at most CPU_MAX from *p, advancing *p. */
static int parse_cpu_number(const char **p, unsigned *ret)
{
	unsigned v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > CPU_MAX)
			return -ERANGE;
	}
	*p = s;
	*ret = v;
	return 0;
}

int config_parse_bool(const char *value, bool *ret)
{
	static const char *const truthy[] = {"true", "1", "yes", "on"};
	static const char *const falsy[] = {"false", "0", "no", "off"};

	if (!value)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(truthy) / sizeof(truthy[0]); i++) {
		if (strcasecmp(value, truthy[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(value, falsy[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int validate_int_min(const char *key, const char *value, int64_t min, struct err **err)
{
	int64_t v;
	int r = parse_int64(value, &v);

	if (r < 0)
		return err_set(err, -EINVAL,
			       "Invalid value \"%s\" for \"%s\": expected a whole number", value,
			       key);
	if (v < min)
		return err_set(err, -EINVAL,
			       "Invalid value \"%s\" for \"%s\": must be at least %" PRId64, value,
			       key, min);
	return 0;
}

static int validate_positive(const char *key, const char *value, struct err **err)
{
	return validate_int_min(key, value, 1, err);
}

static int validate_non_negative(const char *key, const char *value, struct err **err)
{
	return validate_int_min(key, value, 0, err);
}

/* A size understood by parse_size() ("256MiB", "1GB"), or a percentage of the host's memory
 * from 1% to 100%. */
static int validate_memory(const char *key, const char *value, struct err **err)
{
	size_t len = strlen(value);
	uint64_t bytes;

	if (len > 1 && value[len - 1] == '%') {
		_cleanup_free_ char *num = strndup(value, len - 1);
		int64_t pct;

		if (!num)
			return -ENOMEM;
		if (parse_int64(num, &pct) < 0 || num[0] == '-')
			return err_set(err, -EINVAL,
				       "Invalid value \"%s\" for \"%s\": expected a whole "
				       "percentage such as 50%%",
				       value, key);
		if (pct < 1 || pct > 100)
			return err_set(err, -EINVAL,
				       "Invalid value \"%s\" for \"%s\": a percentage must be "
				       "between 1%% and 100%%",
				       value, key);
		return 0;
	}
	if (parse_size(value, &bytes, NULL) < 0)
		return err_set(err, -EINVAL,
			       "Invalid value \"%s\" for \"%s\": expected a size such as 256MiB or "
			       "a percentage such as 50%%",
			       value, key);
	if (bytes == 0)
		return err_set(err, -EINVAL,
			       "Invalid value \"%s\" for \"%s\": must be more than zero", value,
			       key);
	return 0;
}

/* Either a CPU count ("2", at least 1) or a cpuset of CPU numbers and ranges ("0-1,3"); as in
 * Incus, a value with a ',' or '-' is a set, a bare number a count. */
static int validate_cpu(const char *key, const char *value, struct err **err)
{
	const char *p = value;
	unsigned n;

	if (!strpbrk(value, ",-")) {
		if (parse_cpu_number(&p, &n) < 0 || *p)
			return err_set(err, -EINVAL,
				       "Invalid value \"%s\" for \"%s\": expected a CPU count such "
				       "as 2 or a CPU set such as 0-1,3",
				       value, key);
		if (n < 1)
			return err_set(
			    err, -EINVAL,
			    "Invalid value \"%s\" for \"%s\": the CPU count must be at least 1",
			    value, key);
		return 0;
	}
	for (;;) {
		unsigned last;

		if (parse_cpu_number(&p, &n) < 0)
			break;
		if (*p == '-') {
			p++;
			if (parse_cpu_number(&p, &last) < 0)
				break;
			if (last < n)
				return err_set(
				    err, -EINVAL,
				    "Invalid value \"%s\" for \"%s\": range %u-%u is reversed",
				    value, key, n, last);
		}
		if (*p == '\0')
			return 0;
		if (*p != ',')
			break;
		p++;
	}
	return err_set(err, -EINVAL,
		       "Invalid value \"%s\" for \"%s\": expected a CPU count such as 2 or a CPU "
		       "set such as 0-1,3",
		       value, key);
}

static int validate_pattern(const char *key, const char *value, struct err **err)
{
	_cleanup_err_ struct err *e = NULL;
	int r = config_snapshot_pattern_valid(value, &e);

	if (r < 0)
		return err_set(err, r, "Invalid value \"%s\" for \"%s\": %s", value, key,
			       err_msg(e, r));
	return 0;
}

static int validate_expiry(const char *key, const char *value, struct err **err)
{
	_cleanup_err_ struct err *e = NULL;
	int r = config_expiry_valid(value, &e);

	if (r < 0)
		return err_set(err, -EINVAL, "Invalid value \"%s\" for \"%s\": %s", value, key,
			       err_msg(e, r));
	return 0;
}

/*
 * The message of a refusal from a parser that starts by quoting the value ("Invalid schedule
 * \"X\": field 1 ..."), without that start: the key's message quotes the value already.
 */
static const char *without_quote(const char *msg, const char *value)
{
	const char *p = strchr(msg, '"');
	size_t len = strlen(value);

	if (p && strncmp(p + 1, value, len) == 0 && strncmp(p + 1 + len, "\": ", 3) == 0)
		return p + 1 + len + 3;
	return msg;
}

static int validate_schedule(const char *key, const char *value, struct err **err)
{
	_cleanup_err_ struct err *e = NULL;
	int r = config_schedule_valid(value, &e);

	if (r < 0)
		return err_set(err, r, "Invalid value \"%s\" for \"%s\": %s", value, key,
			       without_quote(err_msg(e, r), value));
	return 0;
}

static int validate_retention(const char *key, const char *value, struct err **err)
{
	_cleanup_err_ struct err *e = NULL;
	int r = config_retention_valid(value, &e);

	if (r < 0)
		return err_set(err, r, "Invalid value \"%s\" for \"%s\": %s", value, key,
			       without_quote(err_msg(e, r), value));
	return 0;
}

/*
 * snapshots.copy.target: "REMOTE" or "REMOTE:NAME". REMOTE is the name of one of the daemon's
 * own remotes (`cairn config remote`: 1 to 63 letters, digits, '-', '_' and '.', not starting
 * with '-' or '.', as Incus remote names go in practice); NAME the instance name on that remote
 * (an instance name). Only the syntax is checked here, in client and daemon alike; that the
 * remote exists is checked by the daemon when the key is set (instance_copy_target_check()).
 */
static int validate_copy_target(const char *key, const char *value, struct err **err)
{
	_cleanup_err_ struct err *e = NULL;
	const char *colon = strchr(value, ':');
	size_t len = colon ? (size_t)(colon - value) : strlen(value);

	if (len == 0 || len > 63)
		return err_set(err, -EINVAL,
			       "Invalid value \"%s\" for \"%s\": expected REMOTE or REMOTE:NAME "
			       "with a remote name of 1 to 63 characters",
			       value, key);
	if (value[0] == '-' || value[0] == '.')
		return err_set(err, -EINVAL,
			       "Invalid value \"%s\" for \"%s\": a remote name cannot start with "
			       "'%c'",
			       value, key, value[0]);
	for (size_t i = 0; i < len; i++) {
		char c = value[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return err_set(err, -EINVAL,
				       "Invalid value \"%s\" for \"%s\": a remote name has only "
				       "letters, digits, '-', '_' and '.'",
				       value, key);
	}
	if (colon && config_instance_name_valid(colon + 1, &e) < 0)
		return err_set(err, -EINVAL, "Invalid value \"%s\" for \"%s\": %s", value, key,
			       err_msg(e, -EINVAL));
	return 0;
}

static const struct config_key keys[] = {
    {"boot.autostart", CONFIG_KEY_BOOL, NULL, NULL, true,
     "Start the instance when the daemon starts (unset: if it was running before)"},
    {"boot.autostart.delay", CONFIG_KEY_INT, "0", validate_non_negative, true,
     "Seconds to wait after starting the instance before starting the next one"},
    {"boot.autostart.priority", CONFIG_KEY_INT, "0", validate_non_negative, true,
     "Order of autostart: higher starts first"},
    {"boot.host_shutdown_timeout", CONFIG_KEY_INT, "30", validate_non_negative, true,
     "Seconds to wait for a clean shutdown when the daemon stops"},
    {"boot.stop.priority", CONFIG_KEY_INT, "0", validate_non_negative, true,
     "Order of shutdown: higher stops first"},
    {"limits.cpu", CONFIG_KEY_STRING, NULL, validate_cpu, true,
     "Number of CPUs (2) or set of CPUs to pin to (0-1,3)"},
    {"limits.memory", CONFIG_KEY_STRING, NULL, validate_memory, true,
     "Memory limit as a size (256MiB) or a percentage of the host's memory (50%)"},
    {"limits.processes", CONFIG_KEY_INT, NULL, validate_positive, true,
     "Most processes the instance may run"},
    {"migration.stateful", CONFIG_KEY_BOOL, "false", NULL, true,
     "Allow stateful snapshots and stateful stop (CRIU)"},
    {"security.privileged", CONFIG_KEY_BOOL, "false", NULL, false,
     "Run the instance without a user namespace (root inside is root outside)"},
    {"security.protection.delete", CONFIG_KEY_BOOL, "false", NULL, true,
     "Refuse to delete the instance, even with --force"},
    {"snapshots.expiry", CONFIG_KEY_STRING, NULL, validate_expiry, true,
     "Lifetime of scheduled snapshots, e.g. 1d 3H (terms S M H d w m y)"},
    {"snapshots.expiry.manual", CONFIG_KEY_STRING, NULL, validate_expiry, true,
     "Lifetime of manual snapshots (unset: they never expire)"},
    {"snapshots.limit", CONFIG_KEY_INT, NULL, validate_non_negative, true,
     "Most snapshots the instance keeps"},
    {"snapshots.pattern", CONFIG_KEY_STRING, "snap%d", validate_pattern, true,
     "Name of scheduled snapshots: %d is the next number, {date:FORMAT} the time"},
    {"snapshots.copy.target", CONFIG_KEY_STRING, NULL, validate_copy_target, true,
     "Daemon remote (REMOTE or REMOTE:NAME, see cairn config remote) refreshed after every "
     "scheduled snapshot"},
    {"snapshots.retention", CONFIG_KEY_STRING, NULL, validate_retention, true,
     "Thinning of scheduled snapshots, e.g. 24H 7d 4w 12m (terms H d w m y)"},
    {"snapshots.retention.min", CONFIG_KEY_INT, "0", validate_non_negative, true,
     "Fewest scheduled snapshots that expiry, retention and the limit may leave"},
    {"snapshots.schedule", CONFIG_KEY_STRING, NULL, validate_schedule, true,
     "Cron line or @alias for scheduled snapshots, several separated by \", \""},
    {"snapshots.schedule.catchup", CONFIG_KEY_BOOL, "true", NULL, true,
     "Take one snapshot for the slots missed while the daemon was down or the host slept"},
    {"snapshots.schedule.onchange", CONFIG_KEY_BOOL, "false", NULL, true,
     "Skip a slot when the volume has not changed since the last snapshot"},
    {"snapshots.schedule.stateful", CONFIG_KEY_BOOL, "false", NULL, true,
     "Try a stateful snapshot on schedule, fall back to stateless and record why"},
    {"snapshots.schedule.stopped", CONFIG_KEY_BOOL, "false", NULL, true,
     "Also snapshot stopped instances"},
    {NULL, CONFIG_KEY_TYPE_MAX, NULL, NULL, false, NULL},
};

const struct config_key *config_keys(void)
{
	return keys;
}

const struct config_key *config_key_lookup(const char *name)
{
	if (!name)
		return NULL;
	for (const struct config_key *k = keys; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* A key name for user.*: printable ASCII without white space, so it survives YAML, the
 * command line and the database unchanged. */
static int validate_free_key(const char *key, const char *prefix, struct err **err)
{
	const char *rest = key + strlen(prefix);

	if (!*rest)
		return err_set(err, -EINVAL,
			       "Invalid configuration key \"%s\": nothing after \"%s\"", key,
			       prefix);
	for (const char *p = rest; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return err_set(err, -EINVAL,
				       "Invalid configuration key \"%s\": only printable ASCII "
				       "without white space is allowed",
				       key);
	return 0;
}

static int validate_known(const struct config_key *k, const char *value, struct err **err)
{
	int64_t n;
	bool b;

	/* An empty value unsets the key. */
	if (*value == '\0')
		return 0;
	switch (k->type) {
	case CONFIG_KEY_BOOL:
		if (config_parse_bool(value, &b) < 0)
			return err_set(err, -EINVAL,
				       "Invalid value \"%s\" for \"%s\": expected true or false",
				       value, k->name);
		break;
	case CONFIG_KEY_INT:
		if (parse_int64(value, &n) < 0)
			return err_set(err, -EINVAL,
				       "Invalid value \"%s\" for \"%s\": expected a whole number",
				       value, k->name);
		break;
	case CONFIG_KEY_STRING:
	case CONFIG_KEY_TYPE_MAX:
		break;
	}
	return k->validate ? k->validate(k->name, value, err) : 0;
}

/* Whether the character at `p` (valid UTF-8) is a control character: C0 (tab, newline and
 * carriage return aside), DEL, or C1 (U+0080 to U+009F, which terminals take as escapes). */
static bool is_control(const unsigned char *p)
{
	if (*p < 0x20)
		return *p != '\t' && *p != '\n' && *p != '\r';
	if (*p == 0x7f)
		return true;
	return p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
}

/* What is wrong with text that the daemon stores and writes to YAML, or NULL. */
static const char *text_problem(const char *s)
{
	if (!utf8_valid(s, strlen(s)))
		return "it is not valid UTF-8";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (is_control(p))
			return "it holds a control character (only tab, newline and carriage "
			       "return are allowed)";
	return NULL;
}

int config_text_valid(const char *what, const char *s, struct err **err)
{
	const char *problem = s ? text_problem(s) : NULL;

	/* The text is not quoted: its bytes are what is wrong with it. */
	if (problem)
		return err_set(err, -EINVAL, "Invalid %s: %s", what, problem);
	return 0;
}

static int validate(const char *key, const char *value, bool internal, struct err **err)
{
	const struct config_key *k;
	const char *problem;

	if (!key || !*key)
		return err_set(err, -EINVAL, "Invalid configuration key \"\": it cannot be empty");
	if (!value)
		value = "";
	/* Before any message quotes the key or the value. */
	problem = text_problem(key);
	if (problem)
		return err_set(err, -EINVAL, "Invalid configuration key: %s", problem);
	problem = text_problem(value);
	if (problem)
		return err_set(err, -EINVAL, "Invalid value for \"%s\": %s", key, problem);
	if (str_startswith(key, "user."))
		return validate_free_key(key, "user.", err);
	if (str_startswith(key, "volatile.") || str_startswith(key, "image.")) {
		if (!internal)
			return err_set(err, -EINVAL,
				       "Configuration key \"%s\" is reserved for the daemon", key);
		return validate_free_key(
		    key, str_startswith(key, "image.") ? "image." : "volatile.", err);
	}
	k = config_key_lookup(key);
	if (!k) {
		const char *hint = config_key_suggest(key);

		if (hint)
			return err_set(err, -EINVAL,
				       "Unknown configuration key \"%s\" (did you mean \"%s\"?)",
				       key, hint);
		return err_set(err, -EINVAL, "Unknown configuration key \"%s\"", key);
	}
	return validate_known(k, value, err);
}

const char *config_key_suggest(const char *key)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;

	for (const struct config_key *k = keys; k->name; k++) {
		size_t d;

		if (!suggest_close(key, k->name))
			continue;
		d = suggest_distance(key, k->name);
		if (d < best_d) {
			best = k->name;
			best_d = d;
		}
	}
	return best;
}

int config_key_validate(const char *key, const char *value, struct err **err)
{
	return validate(key, value, false, err);
}

int config_key_validate_internal(const char *key, const char *value, struct err **err)
{
	return validate(key, value, true, err);
}

int config_validate_all(const struct kvlist *config, struct err **err)
{
	for (size_t i = 0; config && i < config->n; i++) {
		int r = config_key_validate(config->items[i].key, config->items[i].value, err);

		if (r < 0)
			return r;
	}
	return 0;
}

const char *config_get(const struct kvlist *config, const char *key)
{
	const struct config_key *k;
	const char *v = config ? kvlist_get(config, key) : NULL;

	/* A stored empty value means unset, as when it was set to "" to clear it. */
	if (v && *v)
		return v;
	k = config_key_lookup(key);
	return k ? k->default_value : NULL;
}

bool config_get_bool(const struct kvlist *config, const char *key, bool fallback)
{
	const char *v = config_get(config, key);
	bool b;

	if (!v || config_parse_bool(v, &b) < 0)
		return fallback;
	return b;
}
