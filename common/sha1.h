#pragma once

/*
 * SHA-1 of one buffer, for the RFC 6455 handshake only (Sec-WebSocket-Accept is defined on
 * it); never for anything that needs collision resistance.
 */

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_SIZE 20

/* Writes the SHA-1 of `len` bytes of `data` to `out`. */
void sha1(const void *data, size_t len, uint8_t out[static SHA1_DIGEST_SIZE]);
