#pragma once

/* Passing descriptors over unix sockets (SCM_RIGHTS), and keeping inherited ones from leaking
 * into helpers. Used by both programs: exec and console hand descriptors across the upgraded
 * API connection. */

#include <stddef.h>

#define FDPASS_MAX 8

/* Sends `n` (at most FDPASS_MAX) descriptors in one SCM_RIGHTS message with one byte of data.
 * 0 or -errno (-EINVAL for too many). */
int fd_send(int sock, const int *fds, size_t n);

/*
 * Receives exactly `n` descriptors in one SCM_RIGHTS message, waiting at most `timeout_ms`
 * (-1: for ever). They arrive close-on-exec and are the caller's. -ETIMEDOUT, -ECONNRESET at end
 * of file, -EPROTO when the message holds another number of descriptors (those are closed).
 */
int fd_recv(int sock, int *fds, size_t n, int timeout_ms);

/* Marks every descriptor from `lowest` up close-on-exec (helpers call it first thing, so
 * neither liblxc nor a container keeps a descriptor the daemon happened to leak). */
int fd_cloexec_from(int lowest);
