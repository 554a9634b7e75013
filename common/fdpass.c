#include "common/fdpass.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"

int fd_send(int sock, const int *fds, size_t n)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX)];
	} u;
	char byte = 'F';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = u.buf,
	    .msg_controllen = CMSG_SPACE(sizeof(int) * n),
	};
	struct cmsghdr *cm;
	ssize_t r;

	if (n == 0 || n > FDPASS_MAX)
		return -EINVAL;
	memset(u.buf, 0, sizeof(u.buf));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
	do
		r = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

int fd_recv(int sock, int *fds, size_t n, int timeout_ms)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX)];
	} u;
	struct pollfd p = {.fd = sock, .events = POLLIN};
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = u.buf,
	    .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *cm;
	ssize_t r;
	size_t got;

	if (n == 0 || n > FDPASS_MAX)
		return -EINVAL;
	for (;;) {
		int pr = poll(&p, 1, timeout_ms);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -errno;
		if (pr == 0)
			return -ETIMEDOUT;
		break;
	}
	do
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ECONNRESET;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
		return -EPROTO;
	got = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	if (got != n || (msg.msg_flags & MSG_CTRUNC)) {
		int tmp[FDPASS_MAX];

		memcpy(tmp, CMSG_DATA(cm), sizeof(int) * (got < FDPASS_MAX ? got : FDPASS_MAX));
		for (size_t i = 0; i < got && i < FDPASS_MAX; i++)
			close(tmp[i]);
		return -EPROTO;
	}
	memcpy(fds, CMSG_DATA(cm), sizeof(int) * n);
	return 0;
}

int fd_cloexec_from(int lowest)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	if (close_range((unsigned)lowest, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return 0;
	/* Kernels before 5.11 have no CLOSE_RANGE_CLOEXEC. */
	d = opendir("/proc/self/fd");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end != '\0' || end == de->d_name || fd < lowest || fd == dirfd(d))
			continue;
		if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0 && errno != EBADF)
			return -errno;
	}
	return 0;
}
