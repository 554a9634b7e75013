#pragma once

/*
 * The image store: image volumes, their rows and aliases. An image volume holds the image's
 * rootfs/ (owned as in the tarball, i.e. unshifted) and metadata.yaml; instances are writable
 * snapshots of it.
 */

struct err;
struct instance_env;

/*
 * Creates the built-in busybox image (alias "busybox") on `pool_name` unless an image with that
 * alias exists. The fingerprint is the SHA-256 of the busybox binary and the image layout
 * version, so the same host gives the same fingerprint.
 */
int instance_image_ensure_busybox(const struct instance_env *env, const char *pool_name,
				  struct err **err);

/*
 * Imports a unified tarball read from `fd` (a regular file, read from its start) onto
 * `pool_name`, with the comma-separated `aliases` (may be NULL). The fingerprint is the
 * SHA-256 of the file, returned in *ret_fingerprint (caller frees). -EEXIST when the image or
 * an alias exists, -EINVAL for a bad tarball, -ENOSPC when it does not fit the pool's free space
 * (see instance_image_unpack(): the unpack stops there, a bomb at its first header), another
 * errno for a failed write. Nothing is left behind on failure: no volume, no row.
 */
int instance_image_import(const struct instance_env *env, int fd, const char *pool_name,
			  const char *aliases, char **ret_fingerprint, struct err **err);

/* Deletes an image by fingerprint (or unique prefix) with its aliases. Instances made from it
 * keep working (their volumes are independent snapshots). */
int instance_image_delete(const struct instance_env *env, const char *fingerprint,
			  struct err **err);

/* Resolves an alias or a fingerprint prefix to a full fingerprint (caller frees). -ENOENT with
 * `Image "x" not found`. */
int instance_image_resolve(const struct instance_env *env, const char *ref, char **ret_fingerprint,
			   struct err **err);

/* Undoes image rows left CREATING and removes image volumes without a row. */
int instance_image_recover(const struct instance_env *env, struct err **err);
