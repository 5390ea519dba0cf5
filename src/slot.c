/* slot: CRC16-XMODEM (polynomial 0x1021, no reflection, initial 0), the
 * checksum Redis Cluster hashes keys with, computed a byte at a time from
 * a table built at start; and slot sets. */
#include "config.h"

#include <string.h>

#include "slot.h"
#include "util.h"

static uint16_t crc_table[256];

__attribute__((constructor)) static void crc_init(void)
{
	for (unsigned b = 0; b < 256; b++) {
		uint16_t c = (uint16_t)(b << 8);

		for (int i = 0; i < 8; i++)
			c = (uint16_t)(c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1);
		crc_table[b] = c;
	}
}

static uint16_t crc16(const char *p, size_t n)
{
	uint16_t c = 0;

	for (size_t i = 0; i < n; i++)
		c = (uint16_t)((c << 8) ^ crc_table[((c >> 8) ^ (unsigned char)p[i]) & 0xff]);
	return c;
}

/* Redis's rule: hash only the tag between the first '{' and the first '}'
 * after it, when that tag is not empty. */
uint16_t slot_of(const char *key, size_t klen)
{
	const char *open = memchr(key, '{', klen), *close;

	if (open != NULL) {
		close = memchr(open + 1, '}', klen - (size_t)(open + 1 - key));
		if (close != NULL && close > open + 1)
			return crc16(open + 1, (size_t)(close - open - 1)) & (SLOT_COUNT - 1);
	}
	return crc16(key, klen) & (SLOT_COUNT - 1);
}

void slot_set_clear(struct slot_set *s)
{
	memset(s, 0, sizeof(*s));
}

void slot_set_add_range(struct slot_set *s, long first, long last)
{
	if (first < 0)
		first = 0;
	if (last >= SLOT_COUNT)
		last = SLOT_COUNT - 1;
	for (long i = first; i <= last; i++)
		s->bits[i >> 6] |= UINT64_C(1) << (i & 63);
}

bool slot_set_equal(const struct slot_set *a, const struct slot_set *b)
{
	return memcmp(a->bits, b->bits, sizeof(a->bits)) == 0;
}

size_t slot_set_count(const struct slot_set *s)
{
	size_t n = 0;

	for (size_t i = 0; i < SLOT_COUNT / 64; i++)
		n += (size_t)__builtin_popcountll(s->bits[i]);
	return n;
}

char *slot_set_format(const struct slot_set *s)
{
	struct buf b;

	buf_init(&b);
	for (long i = 0; i < SLOT_COUNT;) {
		long j;

		if (!slot_set_has(s, (uint16_t)i)) {
			i++;
			continue;
		}
		for (j = i; j + 1 < SLOT_COUNT && slot_set_has(s, (uint16_t)(j + 1)); j++)
			;
		if (j == i)
			buf_printf(&b, "%s%ld", b.len ? " " : "", i);
		else
			buf_printf(&b, "%s%ld-%ld", b.len ? " " : "", i, j);
		i = j + 1;
	}
	if (b.data == NULL)
		buf_puts(&b, "");
	return b.data;
}
