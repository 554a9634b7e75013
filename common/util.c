#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"

char *str_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

bool str_startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

size_t strv_length(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

bool strv_contains(char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

int strv_push(char ***v, const char *s)
{
	size_t n = strv_length(*v);
	char *copy = strdup(s);
	char **nv;

	if (!copy)
		return -ENOMEM;
	nv = realloc(*v, (n + 2) * sizeof(char *));
	if (!nv) {
		free(copy);
		return -ENOMEM;
	}
	nv[n] = copy;
	nv[n + 1] = NULL;
	*v = nv;
	return 0;
}

int strv_copy(char *const *v, char ***ret)
{
	char **copy = NULL;

	*ret = NULL;
	if (!v)
		return 0;
	copy = calloc(1, sizeof(char *));
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; v[i]; i++)
		if (strv_push(&copy, v[i]) < 0) {
			strv_free(copy);
			return -ENOMEM;
		}
	*ret = copy;
	return 0;
}

char *strv_join(char *const *v, const char *sep)
{
	size_t len = 1, seplen = strlen(sep);
	char *s, *p;

	for (size_t i = 0; v && v[i]; i++)
		len += strlen(v[i]) + (i ? seplen : 0);
	s = malloc(len);
	if (!s)
		return NULL;
	p = s;
	for (size_t i = 0; v && v[i]; i++) {
		if (i) {
			memcpy(p, sep, seplen);
			p += seplen;
		}
		memcpy(p, v[i], strlen(v[i]));
		p += strlen(v[i]);
	}
	*p = '\0';
	return s;
}

static int fsync_parent(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	_cleanup_close_ int fd = -EBADF;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

int file_write_prepare(const char *path, const void *data, size_t len, mode_t mode, char **ret_tmp,
		       struct err **err)
{
	_cleanup_free_ char *tmp = str_printf("%s" FILE_WRITE_TMP_SUFFIX "XXXXXX", path);
	_cleanup_close_ int fd = -EBADF;
	const char *p = data;
	int r;

	if (!tmp)
		return err_set(err, -ENOMEM, "Out of memory");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to create a temporary file for \"%s\"",
				     path);
	r = fd_write_all(fd, p, len);
	if (r < 0) {
		unlink(tmp);
		return err_set_errno(err, r, "Failed to write \"%s\"", path);
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		r = -errno;
		unlink(tmp);
		return err_set_errno(err, r, "Failed to write \"%s\"", path);
	}
	*ret_tmp = steal_pointer(&tmp);
	return 0;
}

int file_write_commit(const char *tmp, const char *path, struct err **err)
{
	int r;

	if (rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		return err_set_errno(err, r, "Failed to rename into \"%s\"", path);
	}
	r = fsync_parent(path);
	if (r < 0)
		return err_set_errno(err, r, "Failed to sync the directory of \"%s\"", path);
	return 0;
}

int fd_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err **err)
{
	_cleanup_free_ char *tmp = NULL;
	int r;

	r = file_write_prepare(path, data, len, mode, &tmp, err);
	if (r < 0)
		return r;
	return file_write_commit(tmp, path, err);
}

int file_write(const char *path, const void *data, size_t len, mode_t mode, struct err **err)
{
	_cleanup_close_ int fd = -EBADF;
	int r;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", path);
	r = fd_write_all(fd, data, len);
	if (r < 0)
		return err_set_errno(err, r, "Failed to write \"%s\"", path);
	return 0;
}

int file_read_all(const char *path, char **ret_data, size_t *ret_len, struct err **err)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to open \"%s\"", path);
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 8192);

			if (!nb)
				return err_set(err, -ENOMEM, "Out of memory");
			buf = nb;
			cap = cap ? cap * 2 : 8192;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_set_errno(err, -errno, "Failed to read \"%s\"", path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	*ret_data = steal_pointer(&buf);
	return 0;
}

int mkdir_p(const char *path, mode_t mode, struct err **err)
{
	_cleanup_free_ char *copy = strdup(path);

	if (!copy)
		return err_set(err, -ENOMEM, "Out of memory");
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return err_set_errno(err, -errno, "Failed to create \"%s\"", copy);
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return err_set_errno(err, -errno, "Failed to create \"%s\"", copy);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 ? -errno : 0;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

int rm_rf(const char *path, struct err **err)
{
	struct stat st;
	int r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set_errno(err, -errno, "Failed to stat \"%s\"", path);
	}
	r = nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	if (r != 0)
		return err_set_errno(err, r < 0 ? r : -EIO, "Failed to remove \"%s\"", path);
	return 0;
}

int parse_size(const char *s, uint64_t *ret, struct err **err)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
	    {"", 1},
	    {"B", 1},
	    {"kB", 1000ULL},
	    {"KB", 1000ULL},
	    {"MB", 1000ULL * 1000},
	    {"GB", 1000ULL * 1000 * 1000},
	    {"TB", 1000ULL * 1000 * 1000 * 1000},
	    {"PB", 1000ULL * 1000 * 1000 * 1000 * 1000},
	    {"EB", 1000ULL * 1000 * 1000 * 1000 * 1000 * 1000},
	    {"KiB", 1ULL << 10},
	    {"MiB", 1ULL << 20},
	    {"GiB", 1ULL << 30},
	    {"TiB", 1ULL << 40},
	    {"PiB", 1ULL << 50},
	    {"EiB", 1ULL << 60},
	};
	const char *p = s;
	uint64_t n = 0;

	if (!s || !isdigit((unsigned char)*s))
		return err_set(err, -EINVAL,
			       "Invalid size \"%s\": expected a number and a unit such as 10GiB",
			       s ? s : "");
	for (; isdigit((unsigned char)*p); p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return err_set(err, -ERANGE, "Invalid size \"%s\": too large", s);
		n = n * 10 + (uint64_t)(*p - '0');
	}
	while (*p == ' ')
		p++;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (n > UINT64_MAX / units[i].mult)
			return err_set(err, -ERANGE, "Invalid size \"%s\": too large", s);
		*ret = n * units[i].mult;
		return 0;
	}
	return err_set(
	    err, -EINVAL,
	    "Invalid size \"%s\": unknown unit \"%s\" (use B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)",
	    s, p);
}

char *format_size(uint64_t bytes)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024)
		return str_printf("%" PRIu64 "B", bytes);
	while (v >= 1024.0 && u < 5) {
		v /= 1024.0;
		u++;
	}
	return str_printf("%.2f%s", v, units[u]);
}

void uuid_random(char out[static 37])
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n > 0)
			got += (size_t)n;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

int secret_random_hex(char out[static SECRET_HEX_LEN + 1])
{
	uint8_t b[SECRET_HEX_LEN / 2];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -EIO;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

bool secret_equal_mem(const char *want, const char *got, size_t len)
{
	unsigned char diff = 0;

	if (!got || len != SECRET_HEX_LEN)
		return false;
	for (size_t i = 0; i < SECRET_HEX_LEN; i++)
		diff |= (unsigned char)(want[i] ^ got[i]);
	return diff == 0;
}

bool secret_equal(const char *want, const char *got)
{
	return got && secret_equal_mem(want, got, strlen(got));
}

char *time_format_rfc3339(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[64];

	if (!gmtime_r(&tt, &tm))
		return NULL;
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return strdup(buf);
}

int time_parse_rfc3339(const char *s, int64_t *ret, struct err **err)
{
	struct tm tm = {0};
	const char *p;
	long off = 0;

	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return err_set(err, -EINVAL, "Invalid time \"%s\": expected RFC 3339", s);
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
		   isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
		   isdigit((unsigned char)p[5])) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		      ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '-')
			off = -off;
		p += 6;
	} else {
		return err_set(err, -EINVAL, "Invalid time \"%s\": expected RFC 3339", s);
	}
	if (*p)
		return err_set(err, -EINVAL, "Invalid time \"%s\": expected RFC 3339", s);
	*ret = (int64_t)timegm(&tm) - off;
	return 0;
}

int64_t time_now(void)
{
	struct timespec ts;

	/* Not time(): it reads the coarse clock, which trails by up to a tick, so a timer that
	 * fires on a whole minute would read the second before it. */
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}
