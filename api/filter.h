#pragma once

/*
 * The `filter` query argument of a list (LXD's and Incus's "api_filtering"), the subset that
 * cairnd implements: terms `FIELD eq VALUE` or `FIELD ne VALUE`, each optionally preceded by
 * `not`, joined by `and` and `or` (`and` binds tighter; no parentheses). FIELD is a top-level
 * field of the object (name, status, type, architecture, description, location, project,
 * ephemeral, stateful, ...) or `config.KEY` / `expanded_config.KEY`. VALUE may be quoted with
 * "" or ''. Values are compared as text, without regard to case ("status eq running" matches
 * "Running", as LXD's client expects).
 */

#include <json-c/json.h>

struct err;

/* 1 when `obj` passes filter `expr`, 0 when not; an empty or NULL filter passes everything.
 * -EINVAL with `Invalid filter ...` when `expr` is not in the subset above. */
int api_filter_match(const char *expr, json_object *obj, struct err **err);
