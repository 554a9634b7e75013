#include "instance/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "common/cancel.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/util.h"
#include "config/yaml.h"

/* metadata.yaml is a few hundred bytes; anything near this is not an image. */
#define METADATA_MAX (1024 * 1024)

/* An import leaves this much of the target free: 1% of its size, at most RESERVE_MAX. Running
 * instances on the pool keep room to write, and the file system its room for metadata. */
#define RESERVE_MAX (64ULL * 1024 * 1024)

/* How often the target's real free space is looked at again while unpacking: after this many
 * bytes counted, or this many entries (a tarball of countless empty files costs no data bytes
 * but still uses the file system's space). */
#define RECHECK_BYTES (64ULL * 1024 * 1024)
#define RECHECK_ENTRIES 4096

static void archive_read_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
	*a = NULL;
}

static void archive_write_freep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
	*a = NULL;
}

#define _cleanup_archive_read_ _cleanup_(archive_read_freep)
#define _cleanup_archive_write_ _cleanup_(archive_write_freep)

/*
 * Turns an entry name into its canonical relative form: "./" prefixes, empty and "." components
 * dropped. Refuses absolute names and ".." components (-EINVAL). *ret may be "" for the "./"
 * entry itself. Caller frees.
 */
static int normalize_name(const char *name, char **ret)
{
	_cleanup_free_ char *out = NULL;
	const char *p = name;
	size_t len = 0;

	if (!name || name[0] == '/')
		return -EINVAL;
	out = malloc(strlen(name) + 1);
	if (!out)
		return -ENOMEM;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (len > 0)
				out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	out[len] = '\0';
	*ret = steal_pointer(&out);
	return 0;
}

static bool under(const char *rel, const char *top)
{
	size_t n = strlen(top);

	return strncmp(rel, top, n) == 0 && (rel[n] == '\0' || rel[n] == '/');
}

/*
 * Refuses a path whose directories (every component but the last) include a symlink already
 * extracted: writing through it could land anywhere on the host. libarchive's
 * ARCHIVE_EXTRACT_SECURE_SYMLINKS together with ARCHIVE_EXTRACT_UNLINK would silently replace
 * the link instead; an image that tries this is refused outright.
 */
static int check_parents(int dfd, const char *rel)
{
	_cleanup_free_ char *copy = strdup(rel);

	if (!copy)
		return -ENOMEM;
	for (char *slash = strchr(copy, '/'); slash; slash = strchr(slash + 1, '/')) {
		struct stat st;

		*slash = '\0';
		if (fstatat(dfd, copy, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				return 0;
			return -errno;
		}
		if (S_ISLNK(st.st_mode))
			return -ELOOP;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		*slash = '/';
	}
	return 0;
}

/* Validates a name or hardlink target and returns its canonical form under rootfs/ or templates/
 * (or metadata.yaml when `allow_metadata`). */
static int check_name(int dfd, const char *name, bool allow_metadata, char **ret, struct err **err)
{
	_cleanup_free_ char *rel = NULL;
	int r;

	r = normalize_name(name, &rel);
	if (r == -ENOMEM)
		return err_set(err, r, "Out of memory");
	if (r < 0)
		return err_set(err, -EINVAL,
			       "Invalid image tarball: entry \"%s\" points outside the image",
			       name ? name : "");
	if (!(allow_metadata && strcmp(rel, "metadata.yaml") == 0) && !under(rel, "rootfs") &&
	    !under(rel, "templates") && *rel)
		return err_set(err, -EINVAL,
			       "Invalid image tarball: unexpected entry \"%s\" (only "
			       "metadata.yaml, rootfs/ and templates/)",
			       name);
	r = check_parents(dfd, rel);
	if (r == -ENOMEM)
		return err_set(err, r, "Out of memory");
	if (r == -ELOOP || r == -ENOTDIR)
		return err_set(
		    err, -EINVAL,
		    "Invalid image tarball: entry \"%s\" goes through a symlink or a file", name);
	if (r < 0)
		return err_set_errno(err, r, "Failed to check entry \"%s\"", name);
	*ret = steal_pointer(&rel);
	return 0;
}

/*
 * What an unpack may still write. A tarball says how big each file is before its data, so a
 * decompression bomb (a few hundred KiB of zstd that inflate to gigabytes of zeros) is refused
 * at the header of the entry that would not fit, before the disk sees a byte of it; the target's
 * own free space is looked at again as the unpack goes, since other writers share the pool.
 */
struct budget {
	int dfd;	     /* the target directory, for fstatvfs() */
	uint64_t free;	     /* bytes free on the target when the unpack started */
	uint64_t reserve;    /* bytes the unpack leaves free */
	uint64_t limit;	     /* bytes the unpack may write: free - reserve, or max_bytes if lower */
	uint64_t max_bytes;  /* the caller's cap (0: none) */
	uint64_t block;	     /* the file system's block size: a file costs whole blocks */
	uint64_t used;	     /* bytes counted so far */
	uint64_t next_check; /* `used` at which the free space is looked at again */
	unsigned entries;    /* entries since the last look */
};

static int budget_statvfs(int dfd, uint64_t *ret_free, uint64_t *ret_size, uint64_t *ret_block,
			  struct err **err)
{
	struct statvfs sv;

	if (fstatvfs(dfd, &sv) < 0)
		return err_set_errno(err, -errno, "Failed to look at the free space of the image");
	*ret_free = (uint64_t)sv.f_bavail * sv.f_frsize;
	*ret_size = (uint64_t)sv.f_blocks * sv.f_frsize;
	*ret_block = sv.f_bsize ? sv.f_bsize : 4096;
	return 0;
}

static int budget_init(struct budget *b, int dfd, uint64_t max_bytes, struct err **err)
{
	uint64_t size = 0;
	int r;

	*b = (struct budget){.dfd = dfd, .max_bytes = max_bytes};
	r = budget_statvfs(dfd, &b->free, &size, &b->block, err);
	if (r < 0)
		return r;
	b->reserve = size / 100 < RESERVE_MAX ? size / 100 : RESERVE_MAX;
	b->limit = b->free > b->reserve ? b->free - b->reserve : 0;
	if (max_bytes && max_bytes < b->limit)
		b->limit = max_bytes;
	b->next_check = RECHECK_BYTES;
	return 0;
}

/* The refusal, worded for the bound that was hit. */
static int budget_refuse(const struct budget *b, uint64_t needed, struct err **err)
{
	_cleanup_free_ char *need = format_size(needed);
	_cleanup_free_ char *free_text = format_size(b->free);
	_cleanup_free_ char *reserve = format_size(b->reserve);
	_cleanup_free_ char *max = format_size(b->max_bytes);

	if (!need || !free_text || !reserve || !max)
		return err_set(err, -ENOMEM, "Out of memory");
	if (b->max_bytes && b->limit == b->max_bytes)
		return err_set(err, -EFBIG,
			       "The image is too large: it unpacks to more than %s, the most an "
			       "image may take",
			       max);
	return err_set(err, -ENOSPC,
		       "Not enough space to unpack the image: it needs more than %s and the pool "
		       "has %s free (%s of it kept in reserve)",
		       need, free_text, reserve);
}

/* Looks at the target's free space again; refuses once it is down to the reserve. */
static int budget_recheck(struct budget *b, struct err **err)
{
	_cleanup_free_ char *left = NULL, *reserve = NULL;
	uint64_t now = 0, size = 0, block = 0;
	int r;

	b->entries = 0;
	b->next_check = b->used + RECHECK_BYTES;
	r = budget_statvfs(b->dfd, &now, &size, &block, err);
	if (r < 0)
		return r;
	if (now >= b->reserve)
		return 0;
	left = format_size(now);
	reserve = format_size(b->reserve);
	if (!left || !reserve)
		return err_set(err, -ENOMEM, "Out of memory");
	return err_set(err, -ENOSPC,
		       "Not enough space to unpack the image: the pool is down to %s free (%s is "
		       "kept in reserve)",
		       left, reserve);
}

/* Counts `bytes` more (rounded up to whole blocks when `whole_blocks`); refuses past the limit
 * before anything of them is written. */
static int budget_take(struct budget *b, uint64_t bytes, bool whole_blocks, struct err **err)
{
	uint64_t cost = bytes;

	if (whole_blocks && bytes % b->block)
		cost += b->block - bytes % b->block;
	if (cost > b->limit || b->used > b->limit - cost)
		return budget_refuse(b, b->used + cost, err);
	b->used += cost;
	if (b->used >= b->next_check)
		return budget_recheck(b, err);
	return 0;
}

/* Called once per entry: a flood of entries without data is looked at too. */
static int budget_entry(struct budget *b, struct err **err)
{
	if (++b->entries < RECHECK_ENTRIES)
		return 0;
	return budget_recheck(b, err);
}

/*
 * The errno of a failed libarchive write: the host's own trouble (full disk, I/O error, read-only
 * file system) keeps its code, anything else is the archive's fault (-EINVAL).
 */
static int archive_code(struct archive *a)
{
	int e = archive_errno(a);

	switch (e) {
	case ENOSPC:
	case EDQUOT:
	case EIO:
	case ENOMEM:
	case EROFS:
	case EFBIG:
		return -e;
	default:
		return -EINVAL;
	}
}

/*
 * libarchive's disk writer answers ARCHIVE_WARN, not a failure, for what it could not restore,
 * and among those for a full disk or an I/O error while it sets xattrs, ACLs, times or the
 * directory modes it applies at close. Those lose data silently: they are failures. The other
 * warnings (a file system that has no fflags, say) are not.
 */
static bool host_trouble(struct archive *w)
{
	return archive_code(w) != -EINVAL;
}

/* The message of a failed write to the target (entry `name`, or NULL for the image as a
 * whole), with the host's own error when there is one. */
static int write_failed(struct archive *w, const char *name, struct err **err)
{
	_cleanup_free_ char *what = name ? str_printf("\"%s\"", name) : strdup("the image");
	const char *why = archive_error_string(w) ? archive_error_string(w) : "write error";
	int r = archive_code(w);

	if (!what)
		return err_set(err, -ENOMEM, "Out of memory");
	if (r != -EINVAL)
		return err_set_errno(err, r, "Failed to extract %s: %s", what, why);
	return err_set(err, r, "Failed to extract %s: %s", what, why);
}

static int read_metadata(struct archive *a, struct archive_entry *entry, char **ret,
			 size_t *ret_len, struct err **err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	if (archive_entry_filetype(entry) != AE_IFREG)
		return err_set(err, -EINVAL,
			       "Invalid image tarball: metadata.yaml is not a regular file");
	if (archive_entry_size_is_set(entry) && archive_entry_size(entry) > METADATA_MAX)
		return err_set(err, -EINVAL, "Invalid image tarball: metadata.yaml is too large");
	buf = malloc(METADATA_MAX + 1);
	if (!buf)
		return err_set(err, -ENOMEM, "Out of memory");
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf + len, METADATA_MAX + 1 - len);

		if (n < 0)
			return err_set(err, -EINVAL, "Invalid image tarball: %s",
				       archive_error_string(a) ? archive_error_string(a)
							       : "read error");
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > METADATA_MAX)
			return err_set(err, -EINVAL,
				       "Invalid image tarball: metadata.yaml is too large");
	}
	buf[len] = '\0';
	*ret = steal_pointer(&buf);
	*ret_len = len;
	return 0;
}

static int write_metadata(int dfd, const char *data, size_t len, struct err **err)
{
	_cleanup_close_ int fd = -EBADF;

	/* O_EXCL: a second metadata.yaml, or anything already in its place, is refused. */
	fd = openat(dfd, "metadata.yaml", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0644);
	if (fd < 0) {
		if (errno == EEXIST)
			return err_set(err, -EINVAL,
				       "Invalid image tarball: metadata.yaml appears twice");
		return err_set_errno(err, -errno, "Failed to write metadata.yaml");
	}
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set_errno(err, -errno, "Failed to write metadata.yaml");
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Copies an entry's data. A sparse entry's data is counted against the budget as it comes (its
 * header's size counts the holes); any other entry was counted whole at its header. Whatever
 * libarchive's disk writer answers short of ARCHIVE_OK is a failure: on a failed write(2) (a full
 * pool) it says ARCHIVE_WARN and leaves the rest of the file unwritten, zeros on disk.
 */
static int copy_data(struct archive *a, struct archive *w, struct budget *b, bool sparse,
		     const char *name, struct err **err)
{
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t offset;
		int r = archive_read_data_block(a, &buf, &size, &offset);

		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return err_set(
			    err, -EINVAL, "Invalid image tarball: entry \"%s\": %s", name,
			    archive_error_string(a) ? archive_error_string(a) : "read error");
		if (sparse) {
			r = budget_take(b, size, false, err);
			if (r < 0)
				return r;
		}
		/* ARCHIVE_OK in libarchive 3, the byte count from 4 on: anything negative,
		 * ARCHIVE_WARN included, is a failure. */
		if (archive_write_data_block(w, buf, size, offset) < ARCHIVE_OK)
			return write_failed(w, name, err);
	}
}

/* Extracts one entry to `root`/`rel`; a hard link's target is `link_rel`, checked by the
 * caller to be canonical and inside the same tree. */
static int extract_entry(struct archive *a, struct archive *w, struct budget *b, int dfd,
			 const char *root, struct archive_entry *entry, const char *name,
			 const char *rel, const char *link_rel, struct err **err)
{
	_cleanup_free_ char *full = str_printf("%s/%s", root, rel);
	_cleanup_free_ char *link_full = NULL;
	const char *hardlink = archive_entry_hardlink(entry);
	bool has_data = archive_entry_size_is_set(entry) && archive_entry_size(entry) > 0;
	bool sparse = archive_entry_sparse_count(entry) > 0;
	int r;

	if (!full)
		return err_set(err, -ENOMEM, "Out of memory");

	/* Counted before the entry is created: a file that would not fit is never started. */
	if (has_data && !sparse) {
		r = budget_take(b, (uint64_t)archive_entry_size(entry), true, err);
		if (r < 0)
			return r;
	}

	if (hardlink) {
		struct stat st;

		if (!link_rel || !*link_rel)
			return err_set(err, -EINVAL,
				       "Invalid image tarball: hard link \"%s\" has no target",
				       name);
		/* A second name for a symlink or a directory would let data be written through it.
		 */
		if (fstatat(dfd, link_rel, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISLNK(st.st_mode) ||
		    S_ISDIR(st.st_mode))
			return err_set(err, -EINVAL,
				       "Invalid image tarball: hard link \"%s\" to \"%s\" which is "
				       "not a file already extracted",
				       name, hardlink);
		link_full = str_printf("%s/%s", root, link_rel);
		if (!link_full)
			return err_set(err, -ENOMEM, "Out of memory");
		archive_entry_set_hardlink(entry, link_full);
	} else if (archive_entry_filetype(entry) == AE_IFDIR) {
		struct stat st;

		/* Setting a directory's owner and mode must not go through a symlink either. */
		if (fstatat(dfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			return err_set(err, -EINVAL,
				       "Invalid image tarball: directory \"%s\" replaces a symlink",
				       name);
	}
	archive_entry_set_pathname(entry, full);

	r = archive_write_header(w, entry);
	if (r < ARCHIVE_WARN || (r == ARCHIVE_WARN && host_trouble(w)))
		return write_failed(w, name, err);
	if (r == ARCHIVE_WARN)
		log_debug("Extracting \"%s\": %s", name, archive_error_string(w));
	if (has_data) {
		r = copy_data(a, w, b, sparse, name, err);
		if (r < 0)
			return r;
	}
	r = archive_write_finish_entry(w);
	if (r < ARCHIVE_WARN || (r == ARCHIVE_WARN && host_trouble(w)))
		return write_failed(w, name, err);
	if (r == ARCHIVE_WARN)
		log_debug("Extracting \"%s\": %s", name, archive_error_string(w));
	return 0;
}

/* The file type of an archive entry, in words. */
static const char *entry_type_name(struct archive_entry *entry)
{
	if (archive_entry_hardlink(entry))
		return "a hard link";
	switch (archive_entry_filetype(entry)) {
	case AE_IFREG:
		return "a regular file";
	case AE_IFLNK:
		return "a symbolic link";
	case AE_IFDIR:
		return "a directory";
	default:
		return "a special file";
	}
}

/*
 * rootfs and templates are what the daemon opens as the image's trees: each must be a real
 * directory. A symlink there ("rootfs -> /") would make every later reader of the image, and
 * of the instances made from it, work on whatever host directory it names.
 */
static int check_top_level(struct archive_entry *entry, const char *rel, struct err **err)
{
	if (strcmp(rel, "rootfs") != 0 && strcmp(rel, "templates") != 0)
		return 0;
	if (archive_entry_filetype(entry) == AE_IFDIR && !archive_entry_hardlink(entry))
		return 0;
	return err_set(err, -EINVAL, "Invalid image tarball: \"%s\" is %s, not a directory", rel,
		       entry_type_name(entry));
}

/* After the unpack, the same as seen on disk: metadata.yaml a regular file, rootfs and
 * templates (when there) directories, none of them a symlink. */
static int check_tree(int dfd, struct err **err)
{
	static const struct {
		const char *name;
		mode_t type;
		bool optional;
	} want[] = {
	    {"metadata.yaml", S_IFREG, false},
	    {"rootfs", S_IFDIR, false},
	    {"templates", S_IFDIR, true},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct stat st;

		if (fstatat(dfd, want[i].name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT && want[i].optional)
				continue;
			return err_set_errno(err, -errno, "Failed to look at \"%s\" in the image",
					     want[i].name);
		}
		if ((st.st_mode & S_IFMT) != want[i].type)
			return err_set(err, -EINVAL, "Invalid image tarball: \"%s\" is not a %s",
				       want[i].name,
				       want[i].type == S_IFDIR ? "directory" : "regular file");
	}
	return 0;
}

int instance_image_unpack(int tarball_fd, const char *dir, json_object **ret_metadata,
			  struct err **err)
{
	return instance_image_unpack_bounded(tarball_fd, dir, 0, ret_metadata, err);
}

int instance_image_unpack_bounded(int tarball_fd, const char *dir, uint64_t max_bytes,
				  json_object **ret_metadata, struct err **err)
{
	/*
	 * No SECURE_NOABSOLUTEPATHS: every entry is given an absolute path under `dir` here, after
	 * its own name was checked to be relative and free of "..".
	 */
	const int flags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
			  ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_FFLAGS |
			  ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
			  ARCHIVE_EXTRACT_UNLINK;
	_cleanup_archive_read_ struct archive *a = NULL;
	_cleanup_archive_write_ struct archive *w = NULL;
	_cleanup_free_ char *root = NULL;
	_cleanup_free_ char *metadata = NULL;
	_cleanup_json_ json_object *tree = NULL;
	_cleanup_close_ int dfd = -EBADF;
	struct budget budget;
	size_t metadata_len = 0;
	bool saw_rootfs = false;
	size_t entries = 0;
	json_object *arch;
	int r;

	/* libarchive's symlink check walks the whole path: `dir` itself must have none. */
	root = realpath(dir, NULL);
	if (!root)
		return err_set_errno(err, -errno, "Failed to resolve \"%s\"", dir);
	dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", root);
	r = budget_init(&budget, dfd, max_bytes, err);
	if (r < 0)
		return r;

	a = archive_read_new();
	w = archive_write_disk_new();
	if (!a || !w)
		return err_set(err, -ENOMEM, "Out of memory");
	/* Unified images are tar, compressed as Incus and its tools write them. Naming the formats
	 * (rather than *_all) also keeps libxml2 and ICU, which only xar needs, out of cairnd. */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_format_tar(a);
	/* Numeric ids as stored: no archive_write_disk_set_standard_lookup(), names mean nothing in
	 * the container's id range. */
	archive_write_disk_set_options(w, flags);
	if (archive_read_open_fd(a, tarball_fd, 65536) != ARCHIVE_OK)
		return err_set(err, -EINVAL, "Invalid image tarball: %s",
			       archive_error_string(a) ? archive_error_string(a)
						       : "cannot read it");

	for (;;) {
		_cleanup_free_ char *rel = NULL, *link_rel = NULL;
		_cleanup_free_ char *name = NULL;
		struct archive_entry *entry;

		/* A cancelled import stops between entries: the half-filled volume is then removed
		 * by the same failure path as that of a corrupt tarball. */
		r = entries++ == 1	 ? stallpoint("image-unpack")
		    : cancel_requested() ? -ECANCELED
					 : 0;
		if (r < 0)
			return err_set(err, r, "Operation cancelled");
		r = archive_read_next_header(a, &entry);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return err_set(err, -EINVAL, "Invalid image tarball: %s",
				       archive_error_string(a) ? archive_error_string(a)
							       : "corrupt");
		if (!archive_entry_pathname(entry))
			return err_set(err, -EINVAL, "Invalid image tarball: an entry has no name");
		name = strdup(archive_entry_pathname(entry));
		if (!name)
			return err_set(err, -ENOMEM, "Out of memory");
		r = check_name(dfd, name, true, &rel, err);
		if (r < 0)
			return r;
		if (!*rel)
			continue;
		r = check_top_level(entry, rel, err);
		if (r < 0)
			return r;
		r = budget_entry(&budget, err);
		if (r < 0)
			return r;
		if (strcmp(rel, "metadata.yaml") == 0) {
			if (metadata)
				return err_set(
				    err, -EINVAL,
				    "Invalid image tarball: metadata.yaml appears twice");
			r = read_metadata(a, entry, &metadata, &metadata_len, err);
			if (r < 0)
				return r;
			r = budget_take(&budget, metadata_len, true, err);
			if (r < 0)
				return r;
			r = write_metadata(dfd, metadata, metadata_len, err);
			if (r < 0)
				return r;
			continue;
		}
		if (under(rel, "rootfs"))
			saw_rootfs = true;
		if (archive_entry_hardlink(entry)) {
			r = check_name(dfd, archive_entry_hardlink(entry), false, &link_rel, err);
			if (r < 0)
				return r;
		}
		r = extract_entry(a, w, &budget, dfd, root, entry, name, rel, link_rel, err);
		if (r < 0)
			return r;
	}
	/* Directory modes and times are applied at close. */
	r = archive_write_close(w);
	if (r < ARCHIVE_WARN || (r == ARCHIVE_WARN && host_trouble(w)))
		return write_failed(w, NULL, err);

	if (!metadata)
		return err_set(err, -EINVAL, "Invalid image tarball: metadata.yaml is missing");
	if (!saw_rootfs)
		return err_set(err, -EINVAL, "Invalid image tarball: rootfs/ is missing");
	r = check_tree(dfd, err);
	if (r < 0)
		return r;
	r = config_yaml_parse(metadata, metadata_len, &tree, err);
	if (r < 0)
		return err_wrap(err, r, "Invalid metadata.yaml in image tarball");
	if (!json_object_is_type(tree, json_type_object) ||
	    !json_object_object_get_ex(tree, "architecture", &arch) ||
	    !json_object_is_type(arch, json_type_string))
		return err_set(err, -EINVAL,
			       "Invalid metadata.yaml in image tarball: no \"architecture\" key");
	*ret_metadata = steal_pointer(&tree);
	return 0;
}

int instance_image_sha256_fd(int fd, char out[static 65], struct err **err)
{
	struct sha256_ctx ctx;
	char buf[65536];

	sha256_init(&ctx);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set_errno(err, -errno, "Failed to read the image file");
		if (n == 0)
			break;
		sha256_update(&ctx, buf, (size_t)n);
	}
	sha256_final_hex(&ctx, out);
	return 0;
}

struct instance_unpack {
	struct archive *a;
	struct archive *w; /* the writer of the current tree, NULL between trees */
	char *root;	   /* the current tree, resolved */
	int dfd;	   /* and its descriptor */
	struct budget budget;
	bool bounded; /* budget set by instance_unpack_bound() */
	size_t entries;
};

void instance_unpack_free(struct instance_unpack *u)
{
	if (!u)
		return;
	if (u->w)
		archive_write_free(u->w);
	if (u->a)
		archive_read_free(u->a);
	if (u->dfd >= 0)
		close(u->dfd);
	free(u->root);
	free(u);
}

int instance_unpack_normalize(const char *name, char **ret)
{
	return normalize_name(name, ret);
}

int instance_unpack_open(int fd, struct instance_unpack **ret, struct err **err)
{
	struct instance_unpack *u = calloc(1, sizeof(*u));

	if (!u)
		return err_set(err, -ENOMEM, "Out of memory");
	u->dfd = -EBADF;
	u->a = archive_read_new();
	if (!u->a) {
		instance_unpack_free(u);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	archive_read_support_filter_gzip(u->a);
	archive_read_support_filter_xz(u->a);
	archive_read_support_filter_zstd(u->a);
	archive_read_support_filter_bzip2(u->a);
	archive_read_support_format_tar(u->a);
	if (archive_read_open_fd(u->a, fd, 65536) != ARCHIVE_OK) {
		int r = err_set(err, -EINVAL, "Invalid backup tarball: %s",
				archive_error_string(u->a) ? archive_error_string(u->a)
							   : "cannot read it");

		instance_unpack_free(u);
		return r;
	}
	*ret = u;
	return 0;
}

int instance_unpack_next(struct instance_unpack *u, struct archive_entry **ret_entry,
			 char **ret_rel, struct err **err)
{
	_cleanup_free_ char *rel = NULL;
	struct archive_entry *entry;
	int r;

	r = u->entries++ == 1 ? stallpoint("backup-unpack") : cancel_requested() ? -ECANCELED : 0;
	if (r < 0)
		return err_set(err, r, "Operation cancelled");
	r = archive_read_next_header(u->a, &entry);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN)
		return err_set(err, -EINVAL, "Invalid backup tarball: %s",
			       archive_error_string(u->a) ? archive_error_string(u->a) : "corrupt");
	if (!archive_entry_pathname(entry))
		return err_set(err, -EINVAL, "Invalid backup tarball: an entry has no name");
	r = normalize_name(archive_entry_pathname(entry), &rel);
	if (r == -ENOMEM)
		return err_set(err, r, "Out of memory");
	if (r < 0)
		return err_set(err, -EINVAL,
			       "Invalid backup tarball: entry \"%s\" points outside the backup",
			       archive_entry_pathname(entry));
	if (u->w) {
		r = budget_entry(&u->budget, err);
		if (r < 0)
			return r;
	}
	*ret_entry = entry;
	*ret_rel = steal_pointer(&rel);
	return 1;
}

int instance_unpack_read_small(struct instance_unpack *u, struct archive_entry *entry, size_t max,
			       char **ret, size_t *ret_len, struct err **err)
{
	_cleanup_free_ char *buf = NULL;
	const char *name = archive_entry_pathname(entry);
	size_t len = 0;

	if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry))
		return err_set(err, -EINVAL, "Invalid backup tarball: \"%s\" is not a regular file",
			       name);
	if (archive_entry_size_is_set(entry) && archive_entry_size(entry) > (la_int64_t)max)
		return err_set(err, -EINVAL, "Invalid backup tarball: \"%s\" is too large", name);
	buf = malloc(max + 1);
	if (!buf)
		return err_set(err, -ENOMEM, "Out of memory");
	for (;;) {
		la_ssize_t n = archive_read_data(u->a, buf + len, max + 1 - len);

		if (n < 0)
			return err_set(err, -EINVAL, "Invalid backup tarball: %s",
				       archive_error_string(u->a) ? archive_error_string(u->a)
								  : "read error");
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return err_set(err, -EINVAL, "Invalid backup tarball: \"%s\" is too large",
				       name);
	}
	buf[len] = '\0';
	*ret = steal_pointer(&buf);
	*ret_len = len;
	return 0;
}

int instance_unpack_data_to_fd(struct instance_unpack *u, struct archive_entry *entry, int fd,
			       struct err **err)
{
	const char *name = archive_entry_pathname(entry);
	struct budget own;
	struct budget *b = u->w ? &u->budget : &own;
	int r;

	if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry))
		return err_set(err, -EINVAL, "Invalid backup tarball: \"%s\" is not a regular file",
			       name);
	if (!u->w) {
		r = budget_init(&own, fd, 0, err);
		if (r < 0)
			return r;
	}
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t offset;

		r = archive_read_data_block(u->a, &buf, &size, &offset);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return err_set(
			    err, -EINVAL, "Invalid backup tarball: entry \"%s\": %s", name,
			    archive_error_string(u->a) ? archive_error_string(u->a) : "read error");
		r = budget_take(b, size, false, err);
		if (r < 0)
			return r;
		if (pwrite(fd, buf, size, offset) != (ssize_t)size)
			return err_set_errno(err, errno ? -errno : -EIO, "Failed to write \"%s\"",
					     name);
		if (cancel_requested())
			return err_set(err, -ECANCELED, "Operation cancelled");
	}
}

int instance_unpack_target(struct instance_unpack *u, const char *dir, struct err **err)
{
	const int flags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
			  ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_FFLAGS |
			  ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
			  ARCHIVE_EXTRACT_UNLINK;
	struct stat st;
	int r;

	if (u->w) {
		r = archive_write_close(u->w);
		if (r < ARCHIVE_WARN || (r == ARCHIVE_WARN && host_trouble(u->w)))
			return write_failed(u->w, NULL, err);
		archive_write_free(u->w);
		u->w = NULL;
	}
	if (u->dfd >= 0)
		close(u->dfd);
	u->dfd = -EBADF;
	free(u->root);
	u->root = NULL;
	if (!dir)
		return 0;

	u->root = realpath(dir, NULL);
	if (!u->root)
		return err_set_errno(err, -errno, "Failed to resolve \"%s\"", dir);
	u->dfd = open(u->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (u->dfd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", u->root);
	if (fstat(u->dfd, &st) < 0)
		return err_set_errno(err, -errno, "Failed to look at \"%s\"", u->root);
	r = budget_init(&u->budget, u->dfd, 0, err);
	if (r < 0)
		return r;
	u->w = archive_write_disk_new();
	if (!u->w)
		return err_set(err, -ENOMEM, "Out of memory");
	archive_write_disk_set_options(u->w, flags);
	return 0;
}

int instance_unpack_extract(struct instance_unpack *u, struct archive_entry *entry, const char *rel,
			    const char *link_rel, struct err **err)
{
	_cleanup_free_ char *name = strdup(archive_entry_pathname(entry));
	unsigned type = archive_entry_filetype(entry);
	int r;

	if (!name)
		return err_set(err, -ENOMEM, "Out of memory");
	if (!u->w || !*rel)
		return err_set(err, -EINVAL, "Invalid backup tarball: unexpected entry \"%s\"",
			       name);
	/* A node would give the container a device of the host; no backup of a container needs
	 * one (its /dev is made at start). */
	if (!archive_entry_hardlink(entry) && (type == AE_IFCHR || type == AE_IFBLK))
		return err_set(err, -EINVAL, "Invalid backup tarball: \"%s\" is a device node",
			       name);
	r = check_parents(u->dfd, rel);
	if (r == -ENOMEM)
		return err_set(err, r, "Out of memory");
	if (r == -ELOOP || r == -ENOTDIR)
		return err_set(
		    err, -EINVAL,
		    "Invalid backup tarball: entry \"%s\" goes through a symlink or a file", name);
	if (r < 0)
		return err_set_errno(err, r, "Failed to check entry \"%s\"", name);
	if (archive_entry_hardlink(entry) && link_rel) {
		r = check_parents(u->dfd, link_rel);
		if (r < 0)
			return err_set(err, -EINVAL,
				       "Invalid backup tarball: hard link \"%s\" goes through a "
				       "symlink",
				       name);
	}
	return extract_entry(u->a, u->w, &u->budget, u->dfd, u->root, entry, name, rel, link_rel,
			     err);
}

int instance_unpack_bound(struct instance_unpack *u, const char *dir, struct err **err)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", dir);
	r = budget_init(&u->budget, fd, 0, err);
	if (r < 0)
		return r;
	/* budget_recheck() looks at the free space again through this descriptor. */
	if (u->dfd >= 0)
		close(u->dfd);
	u->dfd = steal_fd(&fd);
	u->budget.dfd = u->dfd;
	u->bounded = true;
	return 0;
}

ssize_t instance_unpack_read(struct instance_unpack *u, void *buf, size_t len, struct err **err)
{
	la_ssize_t n = archive_read_data(u->a, buf, len);
	int r;

	if (n < 0)
		return err_set(err, -EINVAL, "Invalid backup tarball: %s",
			       archive_error_string(u->a) ? archive_error_string(u->a)
							  : "read error");
	if (u->bounded && n > 0) {
		r = budget_take(&u->budget, (uint64_t)n, false, err);
		if (r < 0)
			return r;
	}
	if (cancel_requested())
		return err_set(err, -ECANCELED, "Operation cancelled");
	return n;
}
