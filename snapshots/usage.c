#include "snapshots/usage.h"

#include <errno.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "config/db.h"
#include "instance/instance.h"
#include "storage/storage.h"

int snapshot_pool_usage(const struct instance_env *env, const char *pool, uint64_t *ret_bytes,
			size_t *ret_count, size_t *ret_sized, struct err **err)
{
	struct storage_pool *p = instance_env_pool(env, pool);
	struct db_instance *insts = NULL;
	struct db_snapshot_brief *snaps = NULL;
	size_t n_insts = 0, n_snaps = 0, count = 0, sized = 0, k = 0;
	uint64_t bytes = 0;
	int r;

	if (!p)
		return err_set(err, -ENOENT, "Storage pool \"%s\" not found", pool);
	r = db_instance_list(env->db, &insts, &n_insts, err);
	if (r < 0)
		return r;
	/* The brief rows (no config): only names are needed, and both lists are ordered by
	 * instance name, so one walk pairs each snapshot with its instance's pool. */
	r = db_snapshot_list_all(env->db, &snaps, &n_snaps, err);
	if (r < 0) {
		db_instances_free(insts, n_insts);
		return r;
	}
	for (size_t i = 0; i < n_snaps; i++) {
		uint64_t one = 0;

		while (k < n_insts && strcmp(insts[k].name, snaps[i].instance) < 0)
			k++;
		if (k == n_insts || strcmp(insts[k].name, snaps[i].instance) != 0 ||
		    strcmp(insts[k].pool, pool) != 0)
			continue;
		count++;
		if (storage_snapshot_usage(p, snaps[i].instance, snaps[i].name, &one, NULL) >= 0) {
			bytes += one;
			sized++;
		}
	}
	db_snapshot_briefs_free(snaps);
	db_instances_free(insts, n_insts);
	*ret_bytes = bytes;
	*ret_count = count;
	*ret_sized = sized;
	return 0;
}
