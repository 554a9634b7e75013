/* btrfs send streams in a backup (backup/send.h). */
#include "backup/send.h"

#include <errno.h>

#include "common/err.h"

int backup_receive_trees(const struct instance_env *env, struct storage_pool *pool,
			 const char *name, const struct backup_index *idx,
			 struct instance_unpack *u, bool privileged, struct err **err)
{
	return err_set(err, -EOPNOTSUPP, "Optimized backups cannot be imported yet");
}

int backup_send_tree(struct archive *a, const char *path, const char *parent,
		     const char *entry_name, const char *spool_dir, struct err **err)
{
	return err_set(err, -EOPNOTSUPP, "Optimized backups cannot be made yet");
}
