/* Unit tests for slot: Redis Cluster's key slots (the values from
 * CLUSTER KEYSLOT on Redis 7.0) and slot sets. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "slot.h"
#include "tap.h"

static void is_slot(const char *key, unsigned want)
{
	ok(slot_of(key, strlen(key)) == want, "slot of '%s' is %u", key, want);
}

int main(void)
{
	struct slot_set a, b;
	char *text;

	is_slot("foo", 12182);
	is_slot("123456789", 12739);
	is_slot("{user1000}.following", 3443);
	is_slot("a{}b", 13694);	/* an empty tag: the whole key */
	is_slot("{}{x}", 3257);
	ok(slot_of("x{user1000}y", 12) == slot_of("user1000", 8), "only the tag is hashed");
	ok(slot_of("\0\xff", 2) == slot_of("\0\xff", 2) && slot_of("", 0) == 0, "binary and empty keys");

	slot_set_clear(&a);
	slot_set_add_range(&a, 0, 5460);
	slot_set_add_range(&a, 10923, 10923);
	slot_set_add_range(&a, -5, -1);
	slot_set_add_range(&a, 16380, 99999);
	ok(slot_set_count(&a) == 5461 + 1 + 4, "ranges are clipped to 0..16383");
	ok(slot_set_has(&a, 0) && slot_set_has(&a, 5460) && !slot_set_has(&a, 5461), "membership");
	text = slot_set_format(&a);
	is_str(text, "0-5460 10923 16380-16383", "formatted as ranges");
	free(text);
	b = a;
	ok(slot_set_equal(&a, &b), "equal sets");
	slot_set_add_range(&b, 7, 7);
	ok(slot_set_equal(&a, &b), "adding a member changes nothing");
	slot_set_add_range(&b, 6000, 6000);
	ok(!slot_set_equal(&a, &b), "a new member makes them differ");
	slot_set_clear(&b);
	text = slot_set_format(&b);
	is_str(text, "", "an empty set formats as empty");
	free(text);
	return tap_done();
}
