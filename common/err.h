#pragma once

/*
 * The error carrier: one convention for the whole project.
 *
 * A function that can fail returns a negative errno and takes `struct err **err` as its last
 * argument. The function where the failure starts fills *err once, with the errno and a message
 * that names the object; callers propagate the return value unchanged, or add context with
 * err_wrap(). An existing error is never replaced. `err` may be NULL when the caller only wants
 * the code.
 */

#include <stdarg.h>

struct err {
	int code;  /* negative errno */
	char *msg; /* owned, never NULL once set */
};

/* Sets *err to `code` (a negative errno) with a printf-style message, unless *err is already
 * set. Returns `code`, so it can be used as `return err_set(err, -EINVAL, "...")`. */
int err_set(struct err **err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like err_set(), and appends ": <strerror(-code)>" to the message. */
int err_set_errno(struct err **err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message of an existing *err with "<context>: ". Returns the carried code, or
 * `code` when *err is not set (then it sets *err from `code` and the context alone). */
int err_wrap(struct err **err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Frees an error; NULL is accepted. */
void err_free(struct err *e);

/* Frees *e and sets it to NULL, so it may be called twice. */
void err_freep(struct err **e);

/* The message of `e`, or a fallback built from `code` when there is none. Never NULL; the
 * string is owned by `e` or static. */
const char *err_msg(const struct err *e, int code);

#define _cleanup_err_ __attribute__((cleanup(err_freep)))

/*
 * For an undo step that a failed operation carries on past (the operation's own error is what
 * the caller sees): logs "<what>, ignoring: <message of e, or of code>" at warning level, so that
 * what was left behind is on record.
 */
void err_log_ignored(const struct err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
