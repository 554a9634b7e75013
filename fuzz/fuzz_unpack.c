/*
 * libFuzzer target for instance_image_unpack(): the input is the tarball. Each run unpacks into
 * a fresh directory `dest` inside a fresh parent that also holds a sentinel file; afterwards the
 * parent must hold exactly dest's tree and the unchanged sentinel, whatever the input was and
 * whether or not the unpack succeeded. Anything else aborts, which libFuzzer reports.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "instance/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *walk_dest;
static size_t walk_foreign;

static int count_foreign(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	size_t n = strlen(walk_dest);

	(void)st;
	(void)flag;
	if (ftw->level == 0)
		return 0;
	if (strncmp(path, walk_dest, n) == 0 && (path[n] == '\0' || path[n] == '/'))
		return 0;
	walk_foreign++;
	return 0;
}

static void write_all(int fd, const uint8_t *data, size_t size)
{
	while (size > 0) {
		ssize_t n = write(fd, data, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort();
		data += n;
		size -= (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char parent[] = "/tmp/cairn-fuzz-XXXXXX";
	_cleanup_free_ char *dest = NULL;
	_cleanup_free_ char *sentinel = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -EBADF;
	json_object *md = NULL;
	struct err *e = NULL;

	if (!mkdtemp(parent))
		abort();
	dest = str_printf("%s/dest", parent);
	sentinel = str_printf("%s/sentinel", parent);
	if (!dest || !sentinel || mkdir(dest, 0755) < 0 ||
	    file_write_atomic(sentinel, "sentinel\n", 9, 0644, NULL) < 0)
		abort();

	fd = memfd_create("fuzz-tarball", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	write_all(fd, data, size);
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();

	if (instance_image_unpack(fd, dest, &md, &e) >= 0) {
		if (!md)
			abort();
		json_object_put(md);
	} else if (!e || !e->msg) {
		/* A failure always names what went wrong. */
		abort();
	}
	err_free(e);

	/* Nothing beside dest and the sentinel, and the sentinel untouched. */
	walk_dest = dest;
	walk_foreign = 0;
	if (nftw(parent, count_foreign, 16, FTW_PHYS) != 0)
		abort();
	if (walk_foreign != 1)
		abort();
	if (file_read_all(sentinel, &text, NULL, NULL) < 0 || strcmp(text, "sentinel\n") != 0)
		abort();

	if (rm_rf(parent, NULL) < 0)
		abort();
	return 0;
}
