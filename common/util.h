#pragma once

/* Small string, file and time helpers that every folder uses. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct err;

/* asprintf() that returns the string, or NULL when out of memory. Caller frees. */
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when `s` starts with `prefix`. */
bool str_startswith(const char *s, const char *prefix);

/* Number of entries of a NULL-terminated string array (NULL counts as empty). */
size_t strv_length(char *const *v);

/* True when the NULL-terminated array `v` holds `s`. */
bool strv_contains(char *const *v, const char *s);

/* Appends a copy of `s` to *v, which stays NULL-terminated. -ENOMEM on failure. */
int strv_push(char ***v, const char *s);

/* Copy of the NULL-terminated array `v` into *ret (NULL stays NULL). -ENOMEM on failure. */
int strv_copy(char *const *v, char ***ret);

/* The entries of `v` joined by `sep` in a new string (empty for an empty array); NULL when out
 * of memory. Caller frees. */
char *strv_join(char *const *v, const char *sep);

/* Writes all `len` bytes of `buf` to `fd`, going on after short writes and EINTR. 0 or -errno. */
int fd_write_all(int fd, const void *buf, size_t len);

/*
 * Writes `len` bytes to `path` atomically: a temporary file in the same directory, fsync,
 * rename over `path`, fsync of the directory. After a crash the file is either old or new (and
 * a temporary `<path>.tmp.XXXXXX` may be left). Errors: any -errno of open/write/rename.
 */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      struct err **err);

/* How the temporary files of file_write_prepare() are named: `<path>` FILE_WRITE_TMP_SUFFIX
 * and six random characters. */
#define FILE_WRITE_TMP_SUFFIX ".tmp."

/*
 * file_write_atomic() in two halves, so that a caller can put a step of its own (a database
 * commit) between writing the data and replacing the file. file_write_prepare() writes `len`
 * bytes to a new temporary file beside `path` with `mode`, fsynced, and returns its name in
 * *ret_tmp (the caller's to free); `path` is not touched, and on failure nothing is left
 * behind. Most failures to write a file (ENOSPC, EDQUOT, EROFS, an immutable directory) happen
 * here. Errors: -errno of mkostemp, write, fchmod or fsync.
 */
int file_write_prepare(const char *path, const void *data, size_t len, mode_t mode, char **ret_tmp,
		       struct err **err);

/* The second half: renames `tmp` over `path` and fsyncs the directory. When the rename fails,
 * `tmp` is removed and `path` is as it was. Errors: -errno of rename or of the fsync (then the
 * new content is in place). */
int file_write_commit(const char *tmp, const char *path, struct err **err);

/* Writes `len` bytes to `path`, replacing its content, without the fsyncs of
 * file_write_atomic(): for files derived from other state and rewritten before each use. */
int file_write(const char *path, const void *data, size_t len, mode_t mode, struct err **err);

/* Reads a whole file into a NUL-terminated buffer. *ret_data is the caller's to free;
 * ret_len may be NULL. -ENOENT when missing. */
int file_read_all(const char *path, char **ret_data, size_t *ret_len, struct err **err);

/* mkdir -p; existing directories are fine; each created one gets `mode`. */
int mkdir_p(const char *path, mode_t mode, struct err **err);

/* Removes a tree of plain files and directories (not subvolumes); a missing path is fine. */
int rm_rf(const char *path, struct err **err);

/*
 * Parses a byte size as Incus does: a whole number with an optional unit, decimal (B kB KB MB GB
 * TB PB EB) or binary (KiB MiB GiB TiB PiB EiB): "10GiB", "512MB", "4096". A bare "10G" is
 * refused rather than guessed. -EINVAL with a message on anything else, -ERANGE on overflow.
 */
int parse_size(const char *s, uint64_t *ret, struct err **err);

/* Formats bytes the way Incus does ("1.50GiB", "512.00MiB", "12B"). Caller frees. */
char *format_size(uint64_t bytes);

/* A random RFC 4122 version-4 UUID in `out` (37 bytes with the NUL). */
void uuid_random(char out[static 37]);

/* The secrets that open something once (operation websockets, migrations, trust tokens, the web
 * page): 32 random bytes as 64 lowercase hex characters. */
#define SECRET_HEX_LEN 64

/* Writes a new secret and its NUL to `out`. -EIO when the kernel gives no random bytes. */
int secret_random_hex(char out[static SECRET_HEX_LEN + 1]);

/* Whether `got` (`len` bytes from a request, not NUL-terminated; may be NULL) is the secret
 * `want`, compared in constant time: how much of a guess is right never shows. */
bool secret_equal_mem(const char *want, const char *got, size_t len);

/* secret_equal_mem() of a string (NULL: false). */
bool secret_equal(const char *want, const char *got);

/* Seconds since the epoch, as RFC 3339 UTC ("2026-11-21T15:57:03Z"). Caller frees. */
char *time_format_rfc3339(int64_t t);

/* Parses RFC 3339 ("2026-11-21T15:57:03Z", fractional seconds and offsets accepted). */
int time_parse_rfc3339(const char *s, int64_t *ret, struct err **err);

/* The current time in seconds since the epoch. */
int64_t time_now(void);
