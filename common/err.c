#include "common/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

static int set_message(struct err **err, int code, char *msg)
{
	struct err *e;

	if (!err || *err) {
		free(msg);
		return code;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		free(msg);
		return code;
	}
	e->code = code;
	e->msg = msg ? msg : strdup(strerror(-code));
	*err = e;
	return code;
}

int err_set(struct err **err, int code, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (!err || *err)
		return code;
	va_start(ap, fmt);
	msg = vformat(fmt, ap);
	va_end(ap);
	return set_message(err, code, msg);
}

int err_set_errno(struct err **err, int code, const char *fmt, ...)
{
	va_list ap;
	char *head, *msg = NULL;

	if (!err || *err)
		return code;
	va_start(ap, fmt);
	head = vformat(fmt, ap);
	va_end(ap);
	if (head && asprintf(&msg, "%s: %s", head, strerror(-code)) < 0)
		msg = NULL;
	free(head);
	return set_message(err, code, msg);
}

int err_wrap(struct err **err, int code, const char *fmt, ...)
{
	va_list ap;
	char *head, *msg = NULL;

	if (!err)
		return code;
	va_start(ap, fmt);
	head = vformat(fmt, ap);
	va_end(ap);
	if (!*err)
		return set_message(err, code, head);
	if (head && asprintf(&msg, "%s: %s", head, (*err)->msg) >= 0) {
		free((*err)->msg);
		(*err)->msg = msg;
	}
	free(head);
	return (*err)->code;
}

void err_free(struct err *e)
{
	if (!e)
		return;
	free(e->msg);
	free(e);
}

void err_freep(struct err **e)
{
	if (!e)
		return;
	err_free(*e);
	*e = NULL;
}

const char *err_msg(const struct err *e, int code)
{
	if (e && e->msg)
		return e->msg;
	return strerror(code < 0 ? -code : code);
}

void err_log_ignored(const struct err *e, int code, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	log_warn("%s, ignoring: %s", what, err_msg(e, code));
}
