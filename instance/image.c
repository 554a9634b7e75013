#include "instance/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/util.h"
#include "config/yaml.h"

/* metadata.yaml is a few hundred bytes; anything near this is not an image. */
#define METADATA_MAX (1024 * 1024)

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
		return -e;
	default:
		return -EINVAL;
	}
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

static int copy_data(struct archive *a, struct archive *w, const char *name, struct err **err)
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
		if (archive_write_data_block(w, buf, size, offset) < ARCHIVE_WARN)
			return err_set(err, archive_code(w), "Failed to extract \"%s\": %s", name,
				       archive_error_string(w) ? archive_error_string(w)
							       : "write error");
	}
}

/* Extracts one rootfs/ or templates/ entry to `root`/`rel`. */
static int extract_entry(struct archive *a, struct archive *w, int dfd, const char *root,
			 struct archive_entry *entry, const char *name, const char *rel,
			 struct err **err)
{
	_cleanup_free_ char *full = str_printf("%s/%s", root, rel);
	_cleanup_free_ char *link_full = NULL;
	const char *hardlink = archive_entry_hardlink(entry);
	int r;

	if (!full)
		return err_set(err, -ENOMEM, "Out of memory");

	if (hardlink) {
		_cleanup_free_ char *link_rel = NULL;
		struct stat st;

		r = check_name(dfd, hardlink, false, &link_rel, err);
		if (r < 0)
			return r;
		if (!*link_rel)
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
	if (r < ARCHIVE_WARN)
		return err_set(err, archive_code(w), "Failed to extract \"%s\": %s", name,
			       archive_error_string(w) ? archive_error_string(w) : "write error");
	if (r == ARCHIVE_WARN)
		log_debug("Extracting \"%s\": %s", name, archive_error_string(w));
	if (archive_entry_size_is_set(entry) && archive_entry_size(entry) > 0) {
		r = copy_data(a, w, name, err);
		if (r < 0)
			return r;
	}
	r = archive_write_finish_entry(w);
	if (r < ARCHIVE_WARN)
		return err_set(err, archive_code(w), "Failed to extract \"%s\": %s", name,
			       archive_error_string(w) ? archive_error_string(w) : "write error");
	return 0;
}

int instance_image_unpack(int tarball_fd, const char *dir, json_object **ret_metadata,
			  struct err **err)
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
	size_t metadata_len = 0;
	bool saw_rootfs = false;
	json_object *arch;
	int r;

	/* libarchive's symlink check walks the whole path: `dir` itself must have none. */
	root = realpath(dir, NULL);
	if (!root)
		return err_set_errno(err, -errno, "Failed to resolve \"%s\"", dir);
	dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", root);

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
		_cleanup_free_ char *rel = NULL;
		_cleanup_free_ char *name = NULL;
		struct archive_entry *entry;

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
		if (strcmp(rel, "metadata.yaml") == 0) {
			if (metadata)
				return err_set(
				    err, -EINVAL,
				    "Invalid image tarball: metadata.yaml appears twice");
			r = read_metadata(a, entry, &metadata, &metadata_len, err);
			if (r < 0)
				return r;
			r = write_metadata(dfd, metadata, metadata_len, err);
			if (r < 0)
				return r;
			continue;
		}
		if (under(rel, "rootfs"))
			saw_rootfs = true;
		r = extract_entry(a, w, dfd, root, entry, name, rel, err);
		if (r < 0)
			return r;
	}
	/* Directory modes and times are applied at close. */
	if (archive_write_close(w) < ARCHIVE_WARN)
		return err_set(err, archive_code(w), "Failed to extract the image: %s",
			       archive_error_string(w) ? archive_error_string(w) : "write error");

	if (!metadata)
		return err_set(err, -EINVAL, "Invalid image tarball: metadata.yaml is missing");
	if (!saw_rootfs)
		return err_set(err, -EINVAL, "Invalid image tarball: rootfs/ is missing");
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
