/* btrfs send streams in a backup (backup/send.h). */
#include "backup/send.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "backup/backup-internal.h"
#include "backup/backup.h"
#include "backup/index.h"
#include "common/cancel.h"
#include "common/cleanup.h"
#include "common/crashpoint.h"
#include "common/err.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/util.h"
#include "config/db.h"
#include "instance/idmap.h"
#include "instance/image.h"
#include "instance/instance.h"
#include "storage/storage.h"

/* ---- receiving ---- */

struct feed {
	struct instance_unpack *u;
	struct backup_stream *stream;
	int fd;
};

static int send_all(const void *buf, size_t len, void *ctx, struct err **err)
{
	struct feed *f = ctx;
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(f->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set_errno(err, -errno,
					     "Failed to pass the send stream to btrfs "
					     "receive");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int feed_stream(int fd, void *ctx, struct err **err)
{
	struct feed *f = ctx;
	_cleanup_free_ char *buf = malloc(1 << 20);
	int r;

	if (!buf)
		return err_set(err, -ENOMEM, "Out of memory");
	f->fd = fd;
	for (;;) {
		ssize_t n = instance_unpack_read(f->u, buf, 1 << 20, err);

		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		r = backup_stream_feed(f->stream, buf, (size_t)n, err);
		if (r < 0)
			return r;
	}
	return backup_stream_finish(f->stream, err);
}

/* Receives one stream (the current entry) into the instance's snapshot directory and records
 * it among the known ones; *ret_subvol is the subvolume's name (caller frees). */
int backup_receive_stream(struct storage_pool *pool, const char *name, struct instance_unpack *u,
			  const char *want, char *const *taken, struct backup_stream_known *known,
			  size_t *n_known, uint32_t id_base, bool privileged, char **ret_subvol,
			  struct err **err)
{
	struct backup_stream s = {
	    .name = want,
	    .taken = taken,
	    .known = known,
	    .n_known = *n_known,
	    .id_base = id_base,
	    .id_size = privileged ? 0 : 65536,
	    .out = send_all,
	};
	struct feed f = {.u = u, .stream = &s, .fd = -EBADF};
	int r;

	s.out_ctx = &f;
	r = storage_snapshot_receive(pool, name, feed_stream, &f, err);
	if (r >= 0) {
		known[(*n_known)++] = s.self;
		*ret_subvol = steal_pointer(&s.subvol);
	}
	backup_stream_done(&s);
	return r;
}

/* A received snapshot: no later stream may name it (its received UUID goes), and its owners
 * move into the target's range when the exporting host's was another. */
static int settle(struct storage_pool *pool, const char *name, const char *snap, uint32_t from,
		  uint32_t to, bool privileged, bool keep_received, struct err **err)
{
	_cleanup_free_ char *path = storage_snapshot_path(pool, name, snap);
	_cleanup_free_ char *rootfs = path ? str_printf("%s/rootfs", path) : NULL;
	int r;

	if (!rootfs)
		return err_set(err, -ENOMEM, "Out of memory");
	r = keep_received ? 0 : storage_snapshot_forget_received(pool, name, snap, err);
	if (r < 0 || privileged || from == to)
		return r;
	r = storage_snapshot_set_read_only(pool, name, snap, false, err);
	if (r >= 0)
		r = instance_shift_tree(rootfs, from, from, to, to, 65536, err);
	if (r >= 0)
		r = storage_snapshot_set_read_only(pool, name, snap, true, err);
	return r;
}

static int state_to_checkpoint(struct storage_pool *pool, const char *name, struct err **err)
{
	_cleanup_free_ char *vol = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, name);
	_cleanup_close_ int dfd = -EBADF;

	if (!vol)
		return err_set(err, -ENOMEM, "Out of memory");
	dfd = open(vol, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return err_set_errno(err, -errno, "Failed to open the volume of \"%s\"", name);
	if (renameat2(dfd, INSTANCE_STATE_DIR, dfd, INSTANCE_CHECKPOINT_DIR, RENAME_NOREPLACE) <
		0 &&
	    errno != ENOENT && errno != EEXIST)
		return err_set_errno(err, -errno, "Failed to keep the checkpoint of \"%s\"", name);
	return 0;
}

int backup_receive_trees(const struct instance_env *env, struct storage_pool *pool,
			 const char *name, const struct backup_index *idx,
			 struct instance_unpack *u, bool privileged, uint32_t from_base,
			 uint32_t to_base, bool keep_received, struct err **err)
{
	_cleanup_free_ struct backup_stream_known *known =
	    calloc(idx->n_snapshots + 1, sizeof(*known));
	_cleanup_strv_ char **taken = NULL;
	_cleanup_free_ char *container = NULL, *dir = NULL;
	size_t n_known = 0, next = 0;
	int r;

	if (!known)
		return err_set(err, -ENOMEM, "Out of memory");
	for (size_t i = 0; i < idx->n_snapshots; i++)
		if (strv_push(&taken, idx->snapshots[i].name) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	dir = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, "");
	if (!dir)
		return err_set(err, -ENOMEM, "Out of memory");
	r = instance_unpack_bound(u, dir, err);
	if (r < 0)
		return r;
	for (;;) {
		_cleanup_free_ char *rel = NULL, *subvol = NULL;
		struct archive_entry *entry;
		const char *snap = NULL;

		r = instance_unpack_next(u, &entry, &rel, err);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (strcmp(rel, "backup") == 0 || strcmp(rel, "backup/snapshots") == 0 ||
		    strcmp(rel, "backup/optimized_header.yaml") == 0)
			continue;
		if (container)
			return err_set(err, -EINVAL,
				       "Invalid backup tarball: entries after the instance's own "
				       "stream");
		if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry))
			return err_set(err, -EINVAL,
				       "Invalid backup tarball: \"%s\" is not a regular file", rel);
		if (strcmp(rel, "backup/container.bin") != 0) {
			size_t n = strlen(rel);

			if (!str_startswith(rel, "backup/snapshots/") || n < 5 ||
			    strcmp(rel + n - 4, ".bin") != 0 || strchr(rel + 17, '/'))
				return err_set(
				    err, -EINVAL,
				    "Invalid backup tarball: unexpected entry \"%s\" in an "
				    "optimized backup",
				    archive_entry_pathname(entry));
			if (next == idx->n_snapshots ||
			    strncmp(rel + 17, idx->snapshots[next].name, n - 21) != 0 ||
			    idx->snapshots[next].name[n - 21] != '\0')
				return err_set(
				    err, -EINVAL,
				    "Invalid backup tarball: \"%s\" is not the stream of "
				    "the next snapshot its index lists",
				    rel);
			snap = idx->snapshots[next].name;
		} else if (next < idx->n_snapshots) {
			return err_set(
			    err, -EINVAL,
			    "Invalid backup tarball: snapshot \"%s\" is in its index but "
			    "not in the tarball",
			    idx->snapshots[next].name);
		}
		r = backup_receive_stream(pool, name, u, snap, taken, known, &n_known, from_base,
					  privileged, &subvol, err);
		if (r < 0)
			return r;
		if (snap) {
			_cleanup_free_ char *path = storage_snapshot_path(pool, name, snap);

			r = path ? backup_check_volume(path, rel, err)
				 : err_set(err, -ENOMEM, "Out of memory");
			if (r < 0)
				return r;
			next++;
			crashpoint("import-after-snapshot");
		} else {
			container = steal_pointer(&subvol);
		}
	}
	if (!container)
		return err_set(err, -EINVAL,
			       "Invalid backup tarball: it holds no backup/container.bin");
	/* The instance: a writable snapshot of what was received, which then goes. */
	{
		_cleanup_free_ char *path = storage_snapshot_path(pool, name, container);

		r = path ? backup_check_volume(path, "backup/container.bin", err)
			 : err_set(err, -ENOMEM, "Out of memory");
		if (r < 0)
			return r;
	}
	r = storage_volume_from_snapshot(pool, name, container, name, err);
	if (r >= 0)
		r = storage_snapshot_delete(pool, name, container, err);
	/* The running state of a stateful export is, in the imported instance, the checkpoint its
	 * first start resumes (a tree export renames it on the way; a stream carries it as it
	 * was). */
	if (r >= 0 && idx->stateful)
		r = state_to_checkpoint(pool, name, err);
	if (r >= 0 && !privileged && from_base != to_base) {
		_cleanup_free_ char *vol =
		    storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, name);
		_cleanup_free_ char *rootfs = vol ? str_printf("%s/rootfs", vol) : NULL;

		r = rootfs ? instance_shift_tree(rootfs, from_base, from_base, to_base, to_base,
						 65536, err)
			   : err_set(err, -ENOMEM, "Out of memory");
	}
	for (size_t i = 0; r >= 0 && i < idx->n_snapshots; i++)
		r = settle(pool, name, idx->snapshots[i].name, from_base, to_base, privileged,
			   keep_received, err);
	(void)env;
	return r;
}

/* ---- sending ---- */

int backup_send_tree(struct archive *a, const struct storage_pool *pool, const char *volume,
		     const char *snapshot, const char *parent, const char *entry_name,
		     struct err **err)
{
	_cleanup_free_ char *dir = storage_volume_path(pool, STORAGE_VOLUME_CONTAINER, "");
	_cleanup_free_ char *buf = malloc(1 << 20);
	_cleanup_close_ int fd = -EBADF;
	struct archive_entry *entry = NULL;
	struct stat st;
	int r;

	if (!dir || !buf)
		return err_set(err, -ENOMEM, "Out of memory");
	/* Unnamed, on the pool: nothing is left behind, and the pool's space bounds it. */
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to make a spool file in \"%s\"", dir);
	r = storage_snapshot_send(pool, volume, snapshot, parent, fd, err);
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return err_set_errno(err, -errno, "Failed to read the send stream back");
	entry = archive_entry_new();
	if (!entry)
		return err_set(err, -ENOMEM, "Out of memory");
	archive_entry_set_pathname(entry, entry_name);
	archive_entry_set_filetype(entry, AE_IFREG);
	archive_entry_set_perm(entry, 0600);
	archive_entry_set_size(entry, st.st_size);
	archive_entry_set_mtime(entry, time_now(), 0);
	r = archive_write_header(a, entry);
	archive_entry_free(entry);
	if (r < ARCHIVE_WARN)
		return err_set(err, -EIO, "Failed to write the backup: %s",
			       archive_error_string(a) ? archive_error_string(a) : "error");
	for (uint64_t done = 0;;) {
		ssize_t n = read(fd, buf, 1 << 20);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set_errno(err, -errno, "Failed to read the send stream back");
		if (n == 0)
			break;
		if (archive_write_data(a, buf, (size_t)n) != n)
			return err_set(err, -EIO, "Failed to write the backup: %s",
				       archive_error_string(a) ? archive_error_string(a) : "error");
		done += (uint64_t)n;
		progress_report("export", done, (uint64_t)st.st_size);
		if (cancel_requested())
			return err_set(err, -ECANCELED, "Operation cancelled");
	}
	return 0;
}
