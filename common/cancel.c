#include "common/cancel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Thread_local const atomic_bool *bound;

void cancel_bind(const atomic_bool *flag)
{
	bound = flag;
}

bool cancel_requested(void)
{
	return bound && atomic_load(bound);
}

/* `name` is one of the comma-separated names in `list`. */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

int stallpoint(const char *name)
{
	const char *want = getenv("CAIRN_STALLPOINT");
	const char *dir = getenv("CAIRN_DIR");
	struct timespec tick = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
	char path[4096];
	int fd;

	if (want && listed(want, name)) {
		snprintf(path, sizeof(path), "%s/stallpoint", dir && *dir ? dir : "/var/lib/cairn");
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			ssize_t n = write(fd, name, strlen(name));

			(void)n;
			close(fd);
		}
		for (int i = 0; i < 60 * 20 && !cancel_requested() && access(path, F_OK) == 0; i++)
			nanosleep(&tick, NULL);
	}
	return cancel_requested() ? -ECANCELED : 0;
}
