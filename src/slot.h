/* slot: Redis Cluster's hash slot of a key: CRC16 (XMODEM) of the key, or
 * of its hash tag (the bytes between the first '{' and the next '}', when
 * there are any), modulo 16384; and a set of slots as a bitmap. */
#ifndef GCS_SLOT_H
#define GCS_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLOT_COUNT 16384

uint16_t slot_of(const char *key, size_t klen);

/* A set of slots, 2 KiB. */
struct slot_set {
	uint64_t bits[SLOT_COUNT / 64];
};

void slot_set_clear(struct slot_set *s);
/* Adds slots first..last (inclusive); out-of-range parts are ignored. */
void slot_set_add_range(struct slot_set *s, long first, long last);
static inline bool slot_set_has(const struct slot_set *s, uint16_t slot)
{
	return (s->bits[slot >> 6] >> (slot & 63)) & 1;
}
bool slot_set_equal(const struct slot_set *a, const struct slot_set *b);
size_t slot_set_count(const struct slot_set *s);
/* "0-5460 10923-16383": the ranges, for status; the caller frees it. */
char *slot_set_format(const struct slot_set *s);

#endif
