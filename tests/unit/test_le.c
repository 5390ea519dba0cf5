/* Unit tests for le.h: the byte order on disk whatever the host's, every
 * width at unaligned offsets, the extremes, and that a store touches only
 * its own bytes. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "le.h"
#include "tap.h"

static void test_byte_order(void)
{
	unsigned char b[8];

	le_put16(b, 0x0102);
	ok(b[0] == 0x02 && b[1] == 0x01, "u16: low byte first");
	le_put32(b, 0x01020304u);
	ok(b[0] == 0x04 && b[1] == 0x03 && b[2] == 0x02 && b[3] == 0x01, "u32: low byte first");
	le_put64(b, UINT64_C(0x0102030405060708));
	ok(b[0] == 0x08 && b[3] == 0x05 && b[4] == 0x04 && b[7] == 0x01, "u64: low byte first");
	ok(le_get16((const unsigned char *)"\x34\x12") == 0x1234, "get u16 from known bytes");
	ok(le_get32((const unsigned char *)"GCSA") == 0x41534347u, "get u32: the archive's record magic");
	ok(le_get64((const unsigned char *)"\x01\x00\x00\x00\x00\x00\x00\x80") == UINT64_C(0x8000000000000001),
	   "get u64: the top bit is the last byte's");
}

static void test_unaligned_round_trip(void)
{
	static const uint64_t v64[] = {0, 1, 0xff, 0x8000000000000000u, UINT64_MAX, 0x0123456789abcdefu};
	unsigned char buf[32];
	bool all = true;

	for (size_t off = 0; off < 8; off++) {
		for (size_t i = 0; i < sizeof(v64) / sizeof(v64[0]); i++) {
			le_put16(buf + off, (uint16_t)v64[i]);
			all &= le_get16(buf + off) == (uint16_t)v64[i];
			le_put32(buf + off + 2, (uint32_t)v64[i]);
			all &= le_get32(buf + off + 2) == (uint32_t)v64[i];
			le_put64(buf + off + 7, v64[i]);
			all &= le_get64(buf + off + 7) == v64[i];
		}
	}
	ok(all, "every width round-trips at every alignment, extremes included");
	ok((int64_t)le_get64((le_put64(buf + 3, (uint64_t)INT64_C(-1)), buf + 3)) == -1,
	   "an i64 of -1 (no expiry) round-trips through its two's complement");
}

static void test_neighbours(void)
{
	unsigned char b[12];
	bool untouched = true;

	memset(b, 0xaa, sizeof(b));
	le_put64(b + 2, 0);
	for (size_t i = 0; i < sizeof(b); i++)
		untouched &= (i >= 2 && i < 10) ? b[i] == 0 : b[i] == 0xaa;
	ok(untouched, "a u64 store writes its 8 bytes and no others");
	memset(b, 0xaa, sizeof(b));
	le_put16(b + 5, 0);
	le_put32(b + 7, 0);
	ok(b[4] == 0xaa && b[5] == 0 && b[6] == 0 && b[7] == 0 && b[10] == 0 && b[11] == 0xaa,
	   "u16 and u32 stores stay in their bytes");
}

int main(void)
{
	test_byte_order();
	test_unaligned_round_trip();
	test_neighbours();
	return tap_done();
}
