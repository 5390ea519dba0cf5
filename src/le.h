/* le: little-endian u16, u32 and u64 in byte buffers, the one codec of the
 * files gcs-flushd writes (the ledger log, archive segments), of the
 * ledger's packed links and of the CRC's word loads.
 *
 * Owns no state and touches only the bytes it is given; p need not be
 * aligned.  Each function is one unaligned load or store (plus a byte swap
 * on a big-endian host): the ledger's links are read on every probe, and
 * the byte-by-byte form did not always compile to one. */
#ifndef GCS_LE_H
#define GCS_LE_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

static inline void le_put16(unsigned char *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void le_put32(unsigned char *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void le_put64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint16_t le_get16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static inline uint32_t le_get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline uint64_t le_get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

#endif
