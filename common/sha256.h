#pragma once

/*
 * A small, self-contained SHA-256 (FIPS 180-4) with a streaming interface, for image
 * fingerprints. Not constant-time; it hashes public data only.
 */

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_HEX_SIZE 65 /* 64 hex characters and the NUL */

struct sha256_ctx {
	uint32_t state[8];
	uint64_t length;   /* bytes hashed so far */
	uint8_t block[64]; /* pending input */
	size_t block_len;  /* bytes used in `block` */
};

/* Starts a new hash in `ctx`. */
void sha256_init(struct sha256_ctx *ctx);

/* Feeds `len` bytes of `data` into the hash; may be called any number of times. */
void sha256_update(struct sha256_ctx *ctx, const void *data, size_t len);

/* Finishes the hash and writes the 32-byte digest to `out`. `ctx` must be re-initialised
 * before it is used again. */
void sha256_final(struct sha256_ctx *ctx, uint8_t out[static SHA256_DIGEST_SIZE]);

/* Writes `digest` as 64 lowercase hex characters and a NUL to `out`. */
void sha256_hex(const uint8_t digest[static SHA256_DIGEST_SIZE], char out[static SHA256_HEX_SIZE]);

/* sha256_final() followed by sha256_hex(): the digest as 64 hex characters and a NUL. */
void sha256_final_hex(struct sha256_ctx *ctx, char out[static SHA256_HEX_SIZE]);
