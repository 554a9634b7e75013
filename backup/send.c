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

/* The stream format (the kernel's fs/btrfs/send.h), version 1: a header, then commands, each a
 * header and attributes as type-length-value, all little-endian. */
#define STREAM_MAGIC "btrfs-stream"
#define STREAM_HEADER_LEN 17 /* the magic with its NUL, a 32-bit version */
#define CMD_HEADER_LEN 10    /* 32-bit length of what follows, 16-bit command, 32-bit crc */
#define TLV_HEADER_LEN 4
/* A version 1 command holds at most 64 KiB of data; anything much larger is not one. */
#define CMD_MAX (1024 * 1024)

enum {
	CMD_SUBVOL = 1,
	CMD_SNAPSHOT = 2,
	CMD_MKNOD = 5,
	CMD_LINK = 10,
	CMD_CLONE = 16,
	CMD_CHOWN = 19,
	CMD_END = 21,
	CMD_LAST_V1 = 22,
};

enum {
	ATTR_UUID = 1,
	ATTR_CTRANSID = 2,
	ATTR_MODE = 5,
	ATTR_UID = 6,
	ATTR_GID = 7,
	ATTR_PATH = 15,
	ATTR_PATH_TO = 16,
	ATTR_PATH_LINK = 17,
	ATTR_CLONE_UUID = 20,
	ATTR_CLONE_CTRANSID = 21,
	ATTR_CLONE_PATH = 22,
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int refuse(struct err **err, const char *why)
{
	return err_set(err, -EINVAL, "Invalid backup tarball: a send stream %s", why);
}

/* The attributes of one command that matter here. */
struct attrs {
	const uint8_t *uuid, *clone_uuid;
	uint64_t ctransid, clone_ctransid, mode, uid, gid;
	bool has_ctransid, has_clone_ctransid, has_mode, has_uid, has_gid;
	const uint8_t *path;
	size_t path_len;
	bool has_path;
};

/* A path of the stream: relative, no ".." component, no NUL. */
static bool path_ok(const uint8_t *p, size_t n)
{
	size_t i = 0;

	if (n > 0 && p[0] == '/')
		return false;
	if (memchr(p, '\0', n))
		return false;
	while (i < n) {
		size_t j = i;

		while (j < n && p[j] != '/')
			j++;
		if (j - i == 2 && p[i] == '.' && p[i + 1] == '.')
			return false;
		i = j + 1;
	}
	return true;
}

static int parse_attrs(uint16_t cmd, const uint8_t *p, size_t n, struct attrs *a, struct err **err)
{
	*a = (struct attrs){0};
	while (n > 0) {
		uint16_t type, len;

		if (n < TLV_HEADER_LEN)
			return refuse(err, "has a cut attribute");
		type = le16(p);
		len = le16(p + 2);
		p += TLV_HEADER_LEN;
		n -= TLV_HEADER_LEN;
		if (len > n)
			return refuse(err, "has an attribute longer than its command");
		switch (type) {
		case ATTR_UUID:
		case ATTR_CLONE_UUID:
			if (len != 16)
				return refuse(err, "has a malformed UUID");
			if (type == ATTR_UUID)
				a->uuid = p;
			else
				a->clone_uuid = p;
			break;
		case ATTR_CTRANSID:
		case ATTR_CLONE_CTRANSID:
		case ATTR_MODE:
		case ATTR_UID:
		case ATTR_GID:
			if (len != 8)
				return refuse(err, "has a malformed number");
			if (type == ATTR_CTRANSID)
				a->ctransid = le64(p), a->has_ctransid = true;
			else if (type == ATTR_CLONE_CTRANSID)
				a->clone_ctransid = le64(p), a->has_clone_ctransid = true;
			else if (type == ATTR_MODE)
				a->mode = le64(p), a->has_mode = true;
			else if (type == ATTR_UID)
				a->uid = le64(p), a->has_uid = true;
			else
				a->gid = le64(p), a->has_gid = true;
			break;
		case ATTR_PATH:
		case ATTR_PATH_TO:
		case ATTR_CLONE_PATH:
			if (!path_ok(p, len))
				return refuse(err, "names a path outside its subvolume");
			if (type == ATTR_PATH) {
				a->path = p;
				a->path_len = len;
				a->has_path = true;
			}
			break;
		case ATTR_PATH_LINK:
			/* A symbolic link's target is its content; a hard link's is a path. */
			if (cmd == CMD_LINK && !path_ok(p, len))
				return refuse(err, "links to a path outside its subvolume");
			break;
		default:
			break;
		}
		p += len;
		n -= len;
	}
	return 0;
}

static bool is_known(const struct backup_stream *s, const uint8_t *uuid, uint64_t ctransid,
		     bool self_too)
{
	if (self_too && memcmp(s->self.uuid, uuid, 16) == 0 && s->self.ctransid == ctransid)
		return true;
	for (size_t i = 0; i < s->n_known; i++)
		if (memcmp(s->known[i].uuid, uuid, 16) == 0 && s->known[i].ctransid == ctransid)
			return true;
	return false;
}

/* The first command: the subvolume the stream makes. */
static int check_start(struct backup_stream *s, uint16_t cmd, const struct attrs *a,
		       struct err **err)
{
	if (cmd != CMD_SUBVOL && cmd != CMD_SNAPSHOT)
		return refuse(err, "does not start by making its subvolume");
	if (!a->has_path || !a->uuid || !a->has_ctransid || a->path_len == 0 ||
	    memchr(a->path, '/', a->path_len) || (a->path_len == 1 && a->path[0] == '.') ||
	    (a->path_len == 2 && a->path[0] == '.' && a->path[1] == '.'))
		return refuse(err, "makes a subvolume without a plain name");
	s->subvol = strndup((const char *)a->path, a->path_len);
	if (!s->subvol)
		return err_set(err, -ENOMEM, "Out of memory");
	if (s->name && strcmp(s->subvol, s->name) != 0)
		return err_set(err, -EINVAL,
			       "Invalid backup tarball: the send stream of \"%s\" is for another "
			       "subvolume, \"%s\"",
			       s->name, s->subvol);
	if (!s->name && strv_contains(s->taken, s->subvol))
		return err_set(err, -EINVAL,
			       "Invalid backup tarball: the instance's send stream is for "
			       "subvolume \"%s\", a snapshot's name",
			       s->subvol);
	memcpy(s->self.uuid, a->uuid, 16);
	s->self.ctransid = a->ctransid;
	if (cmd == CMD_SUBVOL)
		return 0;
	/* A difference: from the stream just before, and nothing else on the pool. */
	if (s->n_known == 0)
		return refuse(err, "of the oldest tree is a difference, not whole");
	if (!a->clone_uuid || !a->has_clone_ctransid ||
	    memcmp(a->clone_uuid, s->known[s->n_known - 1].uuid, 16) != 0 ||
	    a->clone_ctransid != s->known[s->n_known - 1].ctransid)
		return refuse(err,
			      "is a difference from a subvolume that is not the one before it");
	return 0;
}

/* An owner the stream may give: in the rootfs, one of the container's ids; beside it (the
 * volume itself, backup.yaml, CRIU images), those or host root, as cairn and Incus keep them. */
static bool id_ok(const struct backup_stream *s, const struct attrs *a, bool has, uint64_t id)
{
	bool in_rootfs;

	if (!has || !s->id_size)
		return true;
	if (id >= s->id_base && id - s->id_base < s->id_size)
		return true;
	in_rootfs = a->has_path && a->path_len >= 6 && memcmp(a->path, "rootfs", 6) == 0 &&
		    (a->path_len == 6 || a->path[6] == '/');
	return !in_rootfs && id == 0;
}

static int check_command(struct backup_stream *s, const uint8_t *cmdbuf, size_t len,
			 struct err **err)
{
	uint16_t cmd = le16(cmdbuf + 4);
	struct attrs a;
	int r;

	if (s->ended)
		return refuse(err, "goes on after its end");
	if (cmd == 0 || cmd > CMD_LAST_V1)
		return refuse(err, "holds an unknown command");
	r = parse_attrs(cmd, cmdbuf + CMD_HEADER_LEN, len - CMD_HEADER_LEN, &a, err);
	if (r < 0)
		return r;
	if (!s->started) {
		s->started = true;
		return check_start(s, cmd, &a, err);
	}
	switch (cmd) {
	case CMD_SUBVOL:
	case CMD_SNAPSHOT:
		return refuse(err, "makes a second subvolume");
	case CMD_CLONE:
		if (!a.clone_uuid || !a.has_clone_ctransid ||
		    !is_known(s, a.clone_uuid, a.clone_ctransid, true))
			return refuse(err, "clones from a subvolume outside the new instance");
		return 0;
	case CMD_MKNOD:
		if (a.has_mode && (S_ISCHR(a.mode) || S_ISBLK(a.mode)))
			return refuse(err, "makes a device node");
		return 0;
	case CMD_CHOWN:
		if (!id_ok(s, &a, a.has_uid, a.uid) || !id_ok(s, &a, a.has_gid, a.gid))
			return refuse(err, "gives a file an owner outside the container's range");
		return 0;
	case CMD_END:
		s->ended = true;
		return 0;
	default:
		return 0;
	}
}

static int gather(struct backup_stream *s, size_t want, const uint8_t **data, size_t *len,
		  struct err **err)
{
	size_t take = want - s->len < *len ? want - s->len : *len;

	if (want > s->cap) {
		uint8_t *nb = realloc(s->buf, want);

		if (!nb)
			return err_set(err, -ENOMEM, "Out of memory");
		s->buf = nb;
		s->cap = want;
	}
	memcpy(s->buf + s->len, *data, take);
	s->len += take;
	*data += take;
	*len -= take;
	return s->len == want;
}

int backup_stream_feed(struct backup_stream *s, const void *data, size_t len, struct err **err)
{
	const uint8_t *p = data;
	int r;

	while (len > 0) {
		size_t want;

		if (!s->header_seen) {
			r = gather(s, STREAM_HEADER_LEN, &p, &len, err);
			if (r <= 0)
				return r;
			if (memcmp(s->buf, STREAM_MAGIC, sizeof(STREAM_MAGIC)) != 0)
				return refuse(err, "does not start as one");
			if (le32(s->buf + 13) != 1)
				return refuse(err, "is not of version 1");
			s->header_seen = true;
		} else {
			if (s->len < CMD_HEADER_LEN) {
				r = gather(s, CMD_HEADER_LEN, &p, &len, err);
				if (r <= 0)
					return r;
			}
			want = CMD_HEADER_LEN + (size_t)le32(s->buf);
			if (want > CMD_MAX)
				return refuse(err, "holds a command too large");
			if (s->len < want) {
				r = gather(s, want, &p, &len, err);
				if (r <= 0)
					return r;
			}
			r = check_command(s, s->buf, want, err);
			if (r < 0)
				return r;
		}
		/* Checked whole: the receiver may have it. */
		r = s->out(s->buf, s->len, s->out_ctx, err);
		if (r < 0)
			return r;
		s->len = 0;
	}
	return 0;
}

int backup_stream_finish(struct backup_stream *s, struct err **err)
{
	if (s->len > 0 || !s->ended)
		return refuse(err, "is cut short");
	return 0;
}

void backup_stream_done(struct backup_stream *s)
{
	free(s->buf);
	free(s->subvol);
	s->buf = NULL;
	s->subvol = NULL;
	s->len = s->cap = 0;
}

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
static int receive_one(struct storage_pool *pool, const char *name, struct instance_unpack *u,
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
		  uint32_t to, bool privileged, struct err **err)
{
	_cleanup_free_ char *path = storage_snapshot_path(pool, name, snap);
	_cleanup_free_ char *rootfs = path ? str_printf("%s/rootfs", path) : NULL;
	int r;

	if (!rootfs)
		return err_set(err, -ENOMEM, "Out of memory");
	r = storage_snapshot_forget_received(pool, name, snap, err);
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
			 uint32_t to_base, struct err **err)
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
		r = receive_one(pool, name, u, snap, taken, known, &n_known, from_base, privileged,
				&subvol, err);
		if (r < 0)
			return r;
		if (snap) {
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
		r = settle(pool, name, idx->snapshots[i].name, from_base, to_base, privileged, err);
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
