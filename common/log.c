#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level max_level = LOG_LEVEL_INFO;
static int log_fd = STDERR_FILENO;

void log_set_level(enum log_level level)
{
	max_level = level;
}

enum log_level log_get_level(void)
{
	return max_level;
}

void log_set_fd(int fd)
{
	log_fd = fd;
}

void log_emit(enum log_level level, const char *file, int line, const char *func, const char *fmt,
	      ...)
{
	static const char *const names[LOG_LEVEL_MAX] = {
	    [LOG_LEVEL_ERROR] = "ERROR",
	    [LOG_LEVEL_WARN] = "WARN",
	    [LOG_LEVEL_INFO] = "INFO",
	    [LOG_LEVEL_DEBUG] = "DEBUG",
	};
	char msg[2048], stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (level > max_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (max_level >= LOG_LEVEL_DEBUG)
		n = dprintf(log_fd, "%s.%03ldZ %-5s %s (%s:%d %s)\n", stamp, ts.tv_nsec / 1000000,
			    names[level], msg, file, line, func);
	else
		n = dprintf(log_fd, "%s.%03ldZ %-5s %s\n", stamp, ts.tv_nsec / 1000000,
			    names[level], msg);
	(void)n;
}
