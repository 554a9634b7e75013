#include "common/suggest.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* Longer words are never typos worth a suggestion, and the rows stay on the stack. */
#define SUGGEST_MAX_LEN 255

size_t suggest_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[SUGGEST_MAX_LEN + 1];

	if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost =
			    tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1])
				? 0
				: 1;
			size_t best = diag + cost;

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

bool suggest_close(const char *typed, const char *candidate)
{
	if (strcasecmp(typed, candidate) == 0)
		return false;
	if (*typed && strncasecmp(candidate, typed, strlen(typed)) == 0)
		return true;
	return suggest_distance(typed, candidate) <= SUGGEST_MAX_DISTANCE;
}

const char *suggest_best(const char *typed, const char *const *v, size_t n)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;

	for (size_t i = 0; i < n; i++) {
		size_t d;

		if (!v[i] || !suggest_close(typed, v[i]))
			continue;
		d = suggest_distance(typed, v[i]);
		if (!best || d < best_d) {
			best = v[i];
			best_d = d;
		}
	}
	return best;
}
