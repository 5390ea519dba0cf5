/* Unit tests for SHA-1 and CRC-32C: the standard test vectors, the padding
 * boundaries, binary input, and hashing in pieces. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>

#include "crc32c.h"
#include "sha1.h"
#include "util.h"
#include "tap.h"

static void check_hex(const void *data, size_t len, const char *want, const char *what)
{
	char hex[SHA1_HEX_LEN + 1];

	sha1_hex(data, len, hex);
	is_str(hex, want, "sha1 %s", what);
}

static void test_vectors(void)
{
	char *million = xmalloc(1000000);

	check_hex("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d", "abc (FIPS 180-1 A.1)");
	check_hex("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709", "of the empty string");
	check_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
		  "84983e441c3bd26ebaae4aa1f95129e5e54670f1", "448-bit message (FIPS 180-1 A.2)");
	memset(million, 'a', 1000000);
	check_hex(million, 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f", "one million 'a' (FIPS 180-1 A.3)");
	free(million);
	check_hex("\0\0\0", 3, "29e2dcfbb16f63bb0254df7585a15bb6fb5e927d", "binary input with NUL bytes");
}

static void test_padding(void)
{
	static const struct {
		size_t n;
		const char *hex;
	} v[] = {
		{55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"},
		{56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
		{57, "f08f24908d682555111be7ff6f004e78283d989a"},
		{63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"},
		{64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
		{65, "11655326c708d70319be2610e8a57d9a5b959d3b"},
		{119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"},
		{120, "f34c1488385346a55709ba056ddd08280dd4c6d6"},
	};
	char a[120];

	memset(a, 'a', sizeof(a));
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		char what[32];

		snprintf(what, sizeof(what), "of %zu 'a' (padding boundary)", v[i].n);
		check_hex(a, v[i].n, v[i].hex, what);
	}
}

static void test_pieces(void)
{
	unsigned char b[1000], d1[SHA1_DIGEST_LEN], d2[SHA1_DIGEST_LEN];
	char hex[SHA1_HEX_LEN + 1];
	bool same = true, crc_same = true;
	struct sha1_ctx c;

	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (unsigned char)(i * 37 + 11);
	sha1_hex(b, sizeof(b), hex);
	is_str(hex, "2c4169b2993df842a68ce33d5a1120339ab1057f", "sha1 of 1000 bytes of binary data");
	sha1_init(&c);
	sha1_update(&c, b, sizeof(b));
	sha1_final(&c, d1);
	for (size_t split = 0; split <= 200; split++) {
		size_t step = split % 7 + 1;

		sha1_init(&c);
		sha1_update(&c, b, split);
		for (size_t off = split; off < sizeof(b); off += step)
			sha1_update(&c, b + off, off + step <= sizeof(b) ? step : sizeof(b) - off);
		sha1_final(&c, d2);
		same &= memcmp(d1, d2, sizeof(d1)) == 0;
		crc_same &= crc32c_update(crc32c(b, split), b + split, sizeof(b) - split) == crc32c(b, sizeof(b));
	}
	ok(same, "sha1 in pieces of every size equals sha1 at once");
	ok(crc_same, "crc32c in two pieces equals crc32c at once");
}

static void test_crc32c(void)
{
	/* RFC 3720 (iSCSI) B.4 test patterns and the common check value. */
	unsigned char zeros[32], ones[32], inc[32];

	for (int i = 0; i < 32; i++) {
		zeros[i] = 0;
		ones[i] = 0xff;
		inc[i] = (unsigned char)i;
	}
	ok(crc32c("123456789", 9) == 0xE3069283u, "crc32c check value 0xE3069283");
	ok(crc32c("", 0) == 0, "crc32c of nothing is 0");
	ok(crc32c(zeros, 32) == 0x8A9136AAu, "crc32c of 32 zero bytes (RFC 3720)");
	ok(crc32c(ones, 32) == 0x62A8AB43u, "crc32c of 32 0xff bytes (RFC 3720)");
	ok(crc32c(inc, 32) == 0x46DD794Eu, "crc32c of 0..31 (RFC 3720)");
}

int main(void)
{
	test_vectors();
	test_padding();
	test_pieces();
	test_crc32c();
	return tap_done();
}
