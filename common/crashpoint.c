#include "common/crashpoint.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool note(const char *name)
{
	const char *want = getenv("CAIRN_CRASHPOINT");
	const char *dir = getenv("CAIRN_DIR");
	char path[4096];
	int fd;

	if (!want || strcmp(want, name) != 0)
		return false;
	snprintf(path, sizeof(path), "%s/crashpoint", dir && *dir ? dir : "/var/lib/cairn");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		ssize_t n = write(fd, name, strlen(name));

		(void)n;
		fsync(fd);
		close(fd);
	}
	return true;
}

void crashpoint(const char *name)
{
	if (!note(name))
		return;
	for (;;)
		pause();
}

bool crashpoint_reached(const char *name)
{
	return note(name);
}
