#pragma once

/* What snapshots hold on their own, summed over an instance or a pool. */

#include <stddef.h>
#include <stdint.h>

struct err;
struct instance_env;

/*
 * The bytes that only the READY snapshots on pool `pool` hold (their exclusive sizes, which is
 * what deleting them all would free) and how many there are. *ret_bytes counts the snapshots
 * whose size the driver can tell (btrfs qgroups); *ret_sized says how many those were.
 * -ENOENT for an unknown pool.
 */
int snapshot_pool_usage(const struct instance_env *env, const char *pool, uint64_t *ret_bytes,
			size_t *ret_count, size_t *ret_sized, struct err **err);
