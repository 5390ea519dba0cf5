/* sha1: SHA-1 (FIPS 180-1).  Used to compare a key's current DUMP with the
 * archived one; sha1_hex() gives the same text as Redis Lua's
 * redis.sha1hex(). */
#ifndef GCS_SHA1_H
#define GCS_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_LEN 20
#define SHA1_HEX_LEN 40

struct sha1_ctx {
	uint32_t h[5];
	uint64_t bytes;			/* message length so far */
	unsigned char block[64];	/* a partial block */
	size_t used;			/* bytes in block */
};

void sha1_init(struct sha1_ctx *c);
void sha1_update(struct sha1_ctx *c, const void *data, size_t len);
void sha1_final(struct sha1_ctx *c, unsigned char digest[SHA1_DIGEST_LEN]);

/* The digest of data as 40 lowercase hex digits and a NUL. */
void sha1_hex(const void *data, size_t len, char out[SHA1_HEX_LEN + 1]);

#endif
