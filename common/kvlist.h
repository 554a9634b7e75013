#pragma once

/*
 * An ordered string map, kept sorted by key: instance config, image properties. Small (tens of
 * entries), so a sorted array is the simplest structure that stays cheap.
 */

#include <stddef.h>

struct kv {
	char *key;   /* owned */
	char *value; /* owned */
};

struct kvlist {
	struct kv *items; /* sorted by key, owned */
	size_t n;
};

/* The value for `key`, or NULL. The string is owned by the list. */
const char *kvlist_get(const struct kvlist *l, const char *key);

/* Sets `key` to a copy of `value`, replacing any old value. -ENOMEM on failure. */
int kvlist_set(struct kvlist *l, const char *key, const char *value);

/* Removes `key`; returns 1 when it was there, 0 when not. */
int kvlist_unset(struct kvlist *l, const char *key);

/* Deep copy of `src` into `dst` (which must be empty). -ENOMEM on failure. */
int kvlist_copy(struct kvlist *dst, const struct kvlist *src);

/* Frees the contents and leaves an empty list; may be called twice. */
void kvlist_done(struct kvlist *l);

#define _cleanup_kvlist_ __attribute__((cleanup(kvlist_done)))
