#include "common/kvlist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Index of `key`, or -(insertion point) - 1 when absent. */
static long find(const struct kvlist *l, const char *key)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->items[mid].key, key);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

const char *kvlist_get(const struct kvlist *l, const char *key)
{
	long i = find(l, key);

	return i >= 0 ? l->items[i].value : NULL;
}

int kvlist_set(struct kvlist *l, const char *key, const char *value)
{
	long i = find(l, key);
	char *v = strdup(value), *k;
	struct kv *items;
	size_t at;

	if (!v)
		return -ENOMEM;
	if (i >= 0) {
		free(l->items[i].value);
		l->items[i].value = v;
		return 0;
	}
	k = strdup(key);
	items = realloc(l->items, (l->n + 1) * sizeof(*items));
	if (!k || !items) {
		free(k);
		free(v);
		if (items)
			l->items = items;
		return -ENOMEM;
	}
	l->items = items;
	at = (size_t)(-i - 1);
	memmove(&items[at + 1], &items[at], (l->n - at) * sizeof(*items));
	items[at] = (struct kv){.key = k, .value = v};
	l->n++;
	return 0;
}

int kvlist_unset(struct kvlist *l, const char *key)
{
	long i = find(l, key);

	if (i < 0)
		return 0;
	free(l->items[i].key);
	free(l->items[i].value);
	memmove(&l->items[i], &l->items[i + 1], (l->n - (size_t)i - 1) * sizeof(*l->items));
	l->n--;
	return 1;
}

int kvlist_copy(struct kvlist *dst, const struct kvlist *src)
{
	for (size_t i = 0; i < src->n; i++) {
		int r = kvlist_set(dst, src->items[i].key, src->items[i].value);

		if (r < 0)
			return r;
	}
	return 0;
}

void kvlist_done(struct kvlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
