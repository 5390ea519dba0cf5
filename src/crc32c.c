/* crc32c: CRC-32C, table-driven, slice-by-8.
 *
 * Slice-by-8 (Kounavis and Berry, Intel 2005) folds eight input bytes per
 * step through eight 256-entry tables: table[0] is the classic byte-at-a-time
 * table, and table[k][b] is the CRC of byte b followed by k zero bytes.  The
 * tables are built once before main() runs, so there is no lazy
 * initialisation to race on. */
#include "config.h"

#include <string.h>

#include "crc32c.h"
#include "le.h"

#define CRC32C_POLY 0x82F63B78u	/* 0x1EDC6F41 bit-reversed */

static uint32_t table[8][256];

__attribute__((constructor))
static void crc32c_init(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;

		for (int i = 0; i < 8; i++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		table[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++)
			table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xff];
}

uint32_t crc32c_update(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t c = ~crc;

	while (len >= 8) {
		uint64_t w = le_get64(p) ^ c;

		c = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
		    table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
		    table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
	return ~c;
}

uint32_t crc32c(const void *data, size_t len)
{
	return crc32c_update(0, data, len);
}
