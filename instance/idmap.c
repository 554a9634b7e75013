#include "instance/idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

#define IDMAP_SIZE 65536U
#define IDMAP_DEFAULT_LINE "root:1000000:1000000000\n"

/*
 * Finds root's first range of at least IDMAP_SIZE ids in the text of a subuid/subgid file.
 * Root is named "root" or, as shadow-utils also accepts, "0". Returns 1 and the base when
 * found, 0 when not.
 */
static int find_root_range(const char *text, uint32_t *ret_base)
{
	const char *line = text;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char buf[256];
		char *name, *start, *count, *end, *save = NULL;
		unsigned long long s, c;

		if (len > 0 && len < sizeof(buf)) {
			memcpy(buf, line, len);
			buf[len] = '\0';
			name = strtok_r(buf, ":", &save);
			start = strtok_r(NULL, ":", &save);
			count = strtok_r(NULL, ":", &save);
			if (name && start && count && !strtok_r(NULL, ":", &save) &&
			    (strcmp(name, "root") == 0 || strcmp(name, "0") == 0)) {
				errno = 0;
				s = strtoull(start, &end, 10);
				if (errno == 0 && *end == '\0' && end != start) {
					c = strtoull(count, &end, 10);
					if (errno == 0 && *end == '\0' && end != count &&
					    c >= IDMAP_SIZE && s + IDMAP_SIZE - 1 <= UINT32_MAX) {
						*ret_base = (uint32_t)s;
						return 1;
					}
				}
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return 0;
}

/* Loads root's base from one file, appending the default range when allowed. */
static int load_one(const char *path, bool add_missing, uint32_t *ret_base, struct err **err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *updated = NULL;
	size_t len = 0;
	uint32_t base;
	int r;

	r = file_read_all(path, &text, &len, NULL);
	if (r == -ENOENT) {
		text = strdup("");
		if (!text)
			return err_set(err, -ENOMEM, "Out of memory");
		len = 0;
	} else if (r < 0) {
		return err_set_errno(err, r, "Failed to read \"%s\"", path);
	}

	if (find_root_range(text, &base)) {
		*ret_base = base;
		return 0;
	}
	if (!add_missing)
		return err_set(err, -ENOENT,
			       "No range of at least %u ids for root in \"%s\" (add \"%s\" to it)",
			       IDMAP_SIZE, path, "root:1000000:1000000000");

	/* Keep the existing lines and add ours, on a line of its own. */
	updated = str_printf("%s%s%s", text, len > 0 && text[len - 1] != '\n' ? "\n" : "",
			     IDMAP_DEFAULT_LINE);
	if (!updated)
		return err_set(err, -ENOMEM, "Out of memory");
	r = file_write_atomic(path, updated, strlen(updated), 0644, err);
	if (r < 0)
		return r;
	*ret_base = 1000000;
	return 0;
}

int instance_idmap_load(const char *subuid_path, const char *subgid_path, bool add_missing,
			struct idmap *ret, struct err **err)
{
	uint32_t uid_base, gid_base;
	int r;

	r = load_one(subuid_path, add_missing, &uid_base, err);
	if (r < 0)
		return r;
	r = load_one(subgid_path, add_missing, &gid_base, err);
	if (r < 0)
		return r;
	ret->uid_base = uid_base;
	ret->gid_base = gid_base;
	ret->size = IDMAP_SIZE;
	return 0;
}

/* nftw() passes no user pointer, so the walk's parameters live in a per-thread slot. */
struct shift_ctx {
	uint32_t from_uid, from_gid, to_uid, to_gid, size;
	void *seen;	  /* tsearch tree of struct inode_key: multiply-linked inodes done */
	int error;	  /* negative errno of the first failure */
	char *error_path; /* owned */
	const char *error_op;
};

struct inode_key {
	dev_t dev;
	ino_t ino;
};

static _Thread_local struct shift_ctx *shift_current;

static int inode_cmp(const void *a, const void *b)
{
	const struct inode_key *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

static int shift_fail(struct shift_ctx *ctx, int code, const char *op, const char *path)
{
	ctx->error = code;
	ctx->error_op = op;
	ctx->error_path = strdup(path);
	return 1;
}

static uint32_t shift_id(uint32_t id, uint32_t from, uint32_t to, uint32_t size)
{
	return id >= from && id - from < size ? id - from + to : id;
}

/* The ids in a POSIX ACL (system.posix_acl_access or _default: a version, then entries of a tag,
 * permissions and an id, little-endian) move with the owners; the kernel shows them to the
 * container through its map, as it does the owners. */
static int shift_acl(struct shift_ctx *ctx, const char *path, const char *name)
{
	uint8_t buf[4 + 8 * 1024];
	ssize_t n = lgetxattr(path, name, buf, sizeof(buf));
	bool changed = false;

	if (n < 0)
		return errno == ENODATA || errno == EOPNOTSUPP ? 0 : -errno;
	if (n < 4 || buf[0] != 2 || (n - 4) % 8)
		return 0;
	for (ssize_t off = 4; off < n; off += 8) {
		uint16_t tag = (uint16_t)(buf[off] | buf[off + 1] << 8);
		uint32_t id = (uint32_t)buf[off + 4] | (uint32_t)buf[off + 5] << 8 |
			      (uint32_t)buf[off + 6] << 16 | (uint32_t)buf[off + 7] << 24;
		uint32_t to = id;

		if (tag == 0x02) /* ACL_USER */
			to = shift_id(id, ctx->from_uid, ctx->to_uid, ctx->size);
		else if (tag == 0x08) /* ACL_GROUP */
			to = shift_id(id, ctx->from_gid, ctx->to_gid, ctx->size);
		if (to == id)
			continue;
		for (int i = 0; i < 4; i++)
			buf[off + 4 + i] = (uint8_t)(to >> (8 * i));
		changed = true;
	}
	if (changed && lsetxattr(path, name, buf, (size_t)n, 0) < 0)
		return -errno;
	return 0;
}

/*
 * A file capability names the root it is for: version 3 carries that root's uid, version 2 means
 * the host's root. Moving a tree into a range makes both the range's root (a version 3 with the
 * new base), moving it back to 0 makes a version 2 of a root at 0, so that the container's root,
 * not the host's, gets the capabilities. Rewrites `caps` (of `*len` bytes) in place.
 */
static void shift_caps(struct shift_ctx *ctx, uint8_t *caps, ssize_t *len)
{
	uint32_t magic, rootid = 0;

	if (*len < 4)
		return;
	magic = (uint32_t)caps[0] | (uint32_t)caps[1] << 8 | (uint32_t)caps[2] << 16 |
		(uint32_t)caps[3] << 24;
	if ((magic & 0xFF000000U) == 0x03000000U && *len >= 24)
		rootid = (uint32_t)caps[20] | (uint32_t)caps[21] << 8 | (uint32_t)caps[22] << 16 |
			 (uint32_t)caps[23] << 24;
	else if ((magic & 0xFF000000U) != 0x02000000U || *len < 20)
		return;
	rootid = shift_id(rootid, ctx->from_uid, ctx->to_uid, ctx->size);
	if (rootid == 0) {
		magic = (magic & ~0xFF000000U) | 0x02000000U;
		*len = 20;
	} else {
		magic = (magic & ~0xFF000000U) | 0x03000000U;
		*len = 24;
		for (int i = 0; i < 4; i++)
			caps[20 + i] = (uint8_t)(rootid >> (8 * i));
	}
	for (int i = 0; i < 4; i++)
		caps[i] = (uint8_t)(magic >> (8 * i));
}

static int shift_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	struct shift_ctx *ctx = shift_current;
	uid_t uid = st->st_uid;
	gid_t gid = st->st_gid;
	bool is_link = S_ISLNK(st->st_mode);
	char caps[512];
	ssize_t caps_len = -1;

	(void)ftw;
	if (flag == FTW_NS || flag == FTW_DNR)
		return shift_fail(ctx, -EACCES, "read", path);

	/* A file with several names must move once, or overlapping ranges would move it twice. */
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
		struct inode_key *key = malloc(sizeof(*key));
		void *found;

		if (!key)
			return shift_fail(ctx, -ENOMEM, "track", path);
		key->dev = st->st_dev;
		key->ino = st->st_ino;
		found = tsearch(key, &ctx->seen, inode_cmp);
		if (!found) {
			free(key);
			return shift_fail(ctx, -ENOMEM, "track", path);
		}
		if (*(struct inode_key **)found != key) {
			free(key);
			return 0;
		}
	}

	if (uid >= ctx->from_uid && uid - ctx->from_uid < ctx->size)
		uid = uid - ctx->from_uid + ctx->to_uid;
	if (gid >= ctx->from_gid && gid - ctx->from_gid < ctx->size)
		gid = gid - ctx->from_gid + ctx->to_gid;

	/* One look at the names of the extended attributes: most files have none. */
	if (!is_link) {
		char names[1024];
		ssize_t n = llistxattr(path, names, sizeof(names));
		int r = 0;

		if (n < 0 && errno == ERANGE)
			n = (ssize_t)sizeof(names); /* many: look for each one */
		for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t)strlen(names + off) + 1) {
			if (n == (ssize_t)sizeof(names) && off == 0) {
				r = shift_acl(ctx, path, "system.posix_acl_access");
				if (r >= 0 && S_ISDIR(st->st_mode))
					r = shift_acl(ctx, path, "system.posix_acl_default");
				break;
			}
			if (strcmp(names + off, "system.posix_acl_access") == 0 ||
			    strcmp(names + off, "system.posix_acl_default") == 0)
				r = shift_acl(ctx, path, names + off);
			if (r < 0)
				break;
		}
		if (r < 0)
			return shift_fail(ctx, r, "shift the ACL of", path);
	}

	/* chown() drops file capabilities along with setuid/setgid: save them to put them back,
	 * for the root of the new range. */
	if (S_ISREG(st->st_mode)) {
		caps_len = lgetxattr(path, "security.capability", caps, sizeof(caps));
		if (caps_len > 0) {
			ssize_t before = caps_len;
			uint8_t old[sizeof(caps)];

			memcpy(old, caps, (size_t)caps_len);
			shift_caps(ctx, (uint8_t *)caps, &caps_len);
			if (uid == st->st_uid && gid == st->st_gid) {
				if ((before != caps_len || memcmp(old, caps, (size_t)caps_len)) &&
				    lsetxattr(path, "security.capability", caps, (size_t)caps_len,
					      0) < 0)
					return shift_fail(ctx, -errno, "shift the capabilities of",
							  path);
				return 0;
			}
		}
	}
	if (uid == st->st_uid && gid == st->st_gid)
		return 0;

	if (lchown(path, uid, gid) < 0)
		return shift_fail(ctx, -errno, "change the owner of", path);
	if (!is_link && (st->st_mode & (S_ISUID | S_ISGID)) && chmod(path, st->st_mode & 07777) < 0)
		return shift_fail(ctx, -errno, "restore the mode of", path);
	if (caps_len > 0 && lsetxattr(path, "security.capability", caps, (size_t)caps_len, 0) < 0)
		return shift_fail(ctx, -errno, "restore the capabilities of", path);
	return 0;
}

int instance_shift_tree(const char *path, uint32_t from_uid, uint32_t from_gid, uint32_t to_uid,
			uint32_t to_gid, uint32_t size, struct err **err)
{
	struct shift_ctx ctx = {
	    .from_uid = from_uid,
	    .from_gid = from_gid,
	    .to_uid = to_uid,
	    .to_gid = to_gid,
	    .size = size,
	};
	_cleanup_free_ char *error_path = NULL;
	int r;

	if ((uint64_t)to_uid + size - 1 > UINT32_MAX || (uint64_t)to_gid + size - 1 > UINT32_MAX)
		return err_set(err, -EINVAL, "Invalid id range %" PRIu32 "/%" PRIu32 "+%" PRIu32,
			       to_uid, to_gid, size);

	shift_current = &ctx;
	r = nftw(path, shift_one, 64, FTW_PHYS | FTW_MOUNT);
	shift_current = NULL;
	tdestroy(ctx.seen, free);
	error_path = ctx.error_path;

	if (r < 0)
		return err_set_errno(err, -errno, "Failed to walk \"%s\"", path);
	if (ctx.error < 0)
		return err_set_errno(err, ctx.error, "Failed to %s \"%s\"", ctx.error_op,
				     error_path ? error_path : path);
	return 0;
}

void instance_idmap_volume_access(uint32_t uid_base, uid_t *ret_uid, gid_t *ret_gid,
				  mode_t *ret_mode)
{
	/* The group is root's either way: with no group bits it decides nothing. */
	*ret_uid = (uid_t)uid_base;
	*ret_gid = 0;
	*ret_mode = uid_base ? 0100 : 0700;
}

int instance_idmap_gate_volume(const char *path, uint32_t uid_base, struct err **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	uid_t uid;
	gid_t gid;
	mode_t mode;

	instance_idmap_volume_access(uid_base, &uid, &gid, &mode);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", path);
	/* Already right: touch nothing. A chown or chmod to the same values still writes the inode,
	 * and on btrfs that moves the volume's generation, so an onchange schedule would see a
	 * change at every start and every daemon restart. */
	if (fstat(fd, &st) < 0)
		return err_set_errno(err, -errno, "Failed to read \"%s\"", path);
	if (st.st_uid == uid && st.st_gid == gid && (st.st_mode & 07777) == mode)
		return 0;
	/* Closing to root: owner first; opening to the container's root: mode first. Either way
	 * the directory is never open to more than before or after. */
	if (uid != 0 && fchmod(fd, mode) < 0)
		return err_set_errno(err, -errno, "Failed to set the mode of \"%s\"", path);
	if (fchown(fd, uid, gid) < 0)
		return err_set_errno(err, -errno, "Failed to set the owner of \"%s\"", path);
	if (uid == 0 && fchmod(fd, mode) < 0)
		return err_set_errno(err, -errno, "Failed to set the mode of \"%s\"", path);
	return 0;
}
