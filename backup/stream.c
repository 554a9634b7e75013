/* The checker of btrfs send streams (backup/stream.h). */
#include "backup/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

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

/* An owner the stream may give: one of the container's ids, or the host's root (what a file
 * the host's root put into the rootfs, or the volume itself, backup.yaml and CRIU images
 * beside it, have on the exporting host's disk; the container sees it as nobody, as it did
 * there). Any other host id is refused: a tarball may not give a file to a host user of its
 * choice. */
static bool id_ok(const struct backup_stream *s, bool has, uint64_t id)
{
	if (!has || !s->id_size || id == 0)
		return true;
	return id >= s->id_base && id - s->id_base < s->id_size;
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
		if (!id_ok(s, a.has_uid, a.uid) || !id_ok(s, a.has_gid, a.gid))
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
