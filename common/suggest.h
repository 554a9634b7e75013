#pragma once

/*
 * "Did you mean" suggestions for a mistyped word (a command, a config key), with the rule that
 * cobra applies to commands: a candidate is offered when it is at most two edits away from what
 * was typed, ignoring case, or when it starts with what was typed.
 */

#include <stdbool.h>
#include <stddef.h>

/* The most edits a candidate may be away from the typed word to be suggested. */
#define SUGGEST_MAX_DISTANCE 2

/* The Levenshtein distance between `a` and `b` (insertions, deletions and substitutions, each
 * costing 1), ignoring ASCII case. Words longer than 255 bytes count as SIZE_MAX away. */
size_t suggest_distance(const char *a, const char *b);

/* True when `candidate` is worth suggesting for `typed`: within SUGGEST_MAX_DISTANCE edits, or
 * starting with `typed` (a non-empty prefix). An exact match is not a suggestion. */
bool suggest_close(const char *typed, const char *candidate);

/* The candidate of `v` (`n` entries, NULL entries skipped) that is suggest_close() to `typed`
 * and nearest to it, the first one on a tie; NULL when none is. Borrowed from `v`. */
const char *suggest_best(const char *typed, const char *const *v, size_t n);
