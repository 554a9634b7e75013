#pragma once

/*
 * `cairn list`: Incus' filters and column specifications, parsed once (every mistake is an
 * error before anything is fetched) and matched against instance objects as the API returns
 * them. Pure: no I/O, unit-tested in tests/unit/test_cli_filter.c.
 *
 * Filters, all of which an instance must satisfy:
 *  - NAME (no "="): a POSIX extended regular expression on the name, anchored at both ends
 *    unless it holds "^" or "$"; a name that starts with the text literally matches too, so
 *    "web" lists web, web1 and webby. A text that is no valid expression is an error.
 *  - a shorthand KEY=V1[,V2...] (the key in any case): type, status (or state),
 *    architecture, location (each value compared ignoring case), ipv4 and ipv6 (an address or
 *    a CIDR network of the state's addresses); a status or type no instance can have, or an
 *    address that is none, is an error.
 *  - CONFIG.KEY=VALUE on the expanded config: each dotted part of the key may be abbreviated
 *    ("u.tier" for "user.tier", "s.privileged" for "security.privileged"); VALUE is a regular
 *    expression anchored as above (compared literally when it is no valid expression), and an
 *    unset key counts as "". A key that is no shorthand and can name no config key is an error.
 */

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

struct err;
struct cli_filters;

/* Parses the filter words. *ret is the caller's (cli_filters_free()). -EINVAL with a message
 * naming the bad filter; -ENOMEM. */
int cli_filters_parse(char *const *argv, size_t argc, struct cli_filters **ret, struct err **err);

/* Frees filters; NULL is accepted. */
void cli_filters_free(struct cli_filters *f);

/* True when instance object `inst` satisfies every filter (NULL filters: always). */
bool cli_filters_match(const struct cli_filters *f, json_object *inst);

/* True when a filter reads the instance's state (ipv4, ipv6), which only recursion=2 gives. */
bool cli_filters_need_state(const struct cli_filters *f);

/* One column of the instance list. */
struct cli_column {
	char letter;	/* Incus' shorthand letter; 0 for a config or device key column */
	char *key;	/* owned; the config key, or DEVICE.KEY; NULL for a letter */
	bool device;	/* key is "DEVICE.KEY" of the expanded devices */
	char *header;	/* owned */
	int max_width;	/* longer cells are cut to this many bytes; -1: no limit */
	bool state;	/* needs the state (recursion=2) */
	bool snapshots; /* needs the snapshot list (recursion=2) */
};

/* The columns when -c is not given (Incus' ns46tSL without L, as on a server that is not
 * clustered). */
#define CLI_DEFAULT_COLUMNS "ns46tS"

/*
 * Parses a -c value as Incus does: entries separated by ",", an entry without "." is a run of
 * shorthand letters (so "ns" and "n,s" are the same), an entry with "." is a custom column
 * "[config:|devices:]KEY[:NAME[:MAXWIDTH]]". *ret (of *ret_n entries) is the caller's
 * (cli_columns_free()). -EINVAL for an empty entry, an unknown letter, a letter cairn cannot
 * fill (D, U, L), or a bad custom column.
 */
int cli_columns_parse(const char *spec, struct cli_column **ret, size_t *ret_n, struct err **err);

/* Frees columns; NULL is accepted. */
void cli_columns_free(struct cli_column *c, size_t n);
