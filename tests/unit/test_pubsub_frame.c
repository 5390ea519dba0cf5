/* Unit tests for pubsub_frame: where a RESP2 reply ends, a message's slices
 * read in place, every split of a reply, binary keys, huge lengths and
 * malformed input; and hiredis's reader idle or not, against the library. */
#include "config.h"

#include <stdlib.h>

#include <hiredis/hiredis.h>

#include "pubsub_frame.h"
#include "tap.h"
#include "util.h"

#define MAX 65536

static enum pubsub_frame_rc scan(const char *s, size_t len, struct pubsub_frame *f)
{
	return pubsub_frame_scan(s, len, MAX, f);
}

/* Every proper prefix of a whole reply asks for more, never more than the
 * reply's length: the caller may pull up what it asks for. */
static bool prefixes_partial(const char *s, size_t len)
{
	struct pubsub_frame f;

	for (size_t i = 0; i < len; i++) {
		char *copy = malloc(i + 1);	/* exactly i bytes readable: ASan sees overreads */
		bool good;

		memcpy(copy, s, i);
		good = scan(copy, i, &f) == PUBSUB_FRAME_PARTIAL && f.len > i && f.len <= len;
		free(copy);
		if (!good) {
			printf("# prefix of %zu bytes: len %zu\n", i, f.len);
			return false;
		}
	}
	return true;
}

#define W(lit) (lit), sizeof(lit) - 1

static bool whole(const char *s, size_t len, bool message)
{
	struct pubsub_frame f;

	return scan(s, len, &f) == PUBSUB_FRAME_WHOLE && f.len == len && f.message == message &&
	       prefixes_partial(s, len);
}

static void test_message(void)
{
	static const char m[] = "*3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:new\r\n$5\r\nkey:1\r\n";
	static const char bin[] = "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$6\r\na\r\n\0\r\r\r\n";
	char two[2 * sizeof(m)];
	struct pubsub_frame f;

	ok(scan(m, sizeof(m) - 1, &f) == PUBSUB_FRAME_WHOLE && f.message && f.len == sizeof(m) - 1,
	   "a message is whole");
	ok(f.channel_len == 18 && memcmp(f.channel, "__keyevent@0__:new", 18) == 0 && f.channel == m + 22,
	   "its channel is a slice of the input");
	ok(f.payload_len == 5 && memcmp(f.payload, "key:1", 5) == 0, "its payload too");
	ok(prefixes_partial(m, sizeof(m) - 1), "every split of a message waits for the rest");
	ok(scan(bin, sizeof(bin) - 1, &f) == PUBSUB_FRAME_WHOLE && f.message && f.payload_len == 6 &&
	   memcmp(f.payload, "a\r\n\0\r\r", 6) == 0, "a binary key with CRLF, NUL and CR inside");
	ok(prefixes_partial(bin, sizeof(bin) - 1), "every split of it waits");
	memcpy(two, m, sizeof(m) - 1);
	memcpy(two + sizeof(m) - 1, m, sizeof(m) - 1);
	ok(scan(two, 2 * (sizeof(m) - 1), &f) == PUBSUB_FRAME_WHOLE && f.len == sizeof(m) - 1,
	   "two messages: the first's length");
	ok(whole(W("*3\r\n$7\r\nmessage\r\n$0\r\n\r\n$0\r\n\r\n"), true), "empty channel and payload");
}

static void test_other_replies(void)
{
	static const char sub[] = "*3\r\n$9\r\nsubscribe\r\n$18\r\n__keyevent@0__:new\r\n:1\r\n";
	static const char pmsg[] = "*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$2\r\nch\r\n$1\r\nk\r\n";
	static const char nested[] = "*2\r\n*2\r\n:1\r\n*1\r\n+x\r\n$3\r\na\rb\r\n";

	ok(whole(sub, sizeof(sub) - 1, false), "a subscribe confirmation: whole, not a message");
	ok(whole(pmsg, sizeof(pmsg) - 1, false), "a pmessage is not a message");
	ok(whole(nested, sizeof(nested) - 1, false), "nested arrays");
	ok(whole("-ERR no\r\n", 9, false), "an error");
	ok(whole("-ERR a\rb\r\n", 10, false), "a lone CR inside a line");
	ok(whole("+OK\r\n", 5, false) && whole(":42\r\n", 5, false), "a status, an integer");
	ok(whole("$-1\r\n", 5, false) && whole("*-1\r\n", 5, false) && whole("*0\r\n", 4, false),
	   "nil bulk, nil array, empty array");
	ok(whole(W("*3\r\n$7\r\nmessagE\r\n$1\r\nc\r\n$1\r\nk\r\n"), false), "messagE is not a message");
	ok(whole(W("*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n:1\r\n"), false), "a message with an integer payload is not one");
	ok(whole(W("*2\r\n$7\r\nmessage\r\n$1\r\nc\r\n"), false), "nor one of two parts");
}

static void test_unknown(void)
{
	struct pubsub_frame f;

	ok(scan("$99999999999\r\n", 14, &f) == PUBSUB_FRAME_UNKNOWN, "a bulk longer than max is hiredis's");
	ok(scan("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$70000\r\nab", 35, &f) == PUBSUB_FRAME_UNKNOWN,
	   "a message with a 70000-byte key is hiredis's");
	ok(scan("$1234567890123456789012\r\n", 25, &f) == PUBSUB_FRAME_UNKNOWN, "a length of 22 digits");
	ok(scan("*99999999\r\n", 11, &f) == PUBSUB_FRAME_UNKNOWN, "an array of more elements than fit in max");
	ok(scan("?x\r\n", 4, &f) == PUBSUB_FRAME_UNKNOWN, "an unknown type byte");
	ok(scan("$3\r\nfooXY", 9, &f) == PUBSUB_FRAME_UNKNOWN, "a bulk without its CRLF");
	ok(scan("$-2\r\n", 5, &f) == PUBSUB_FRAME_UNKNOWN && scan("*-5\r\n", 5, &f) == PUBSUB_FRAME_UNKNOWN,
	   "negative lengths but -1");
	ok(scan("$+3\r\nabc\r\n", 10, &f) == PUBSUB_FRAME_UNKNOWN && scan("$3x\r\n", 5, &f) == PUBSUB_FRAME_UNKNOWN,
	   "a sign or a letter in a length");
	ok(scan("$\r\n", 3, &f) == PUBSUB_FRAME_UNKNOWN && scan("$3\n", 3, &f) == PUBSUB_FRAME_UNKNOWN,
	   "no digits; LF without CR");
	ok(scan("*1\r\n*1\r\n?", 9, &f) == PUBSUB_FRAME_UNKNOWN, "garbage inside an array");
}

/* The first cut bytes of a stream of replies of lengths lens[0..n), scanned
 * as the connection does: every whole reply in turn, then a wait for the
 * rest of the next that asks for no more than it is. */
static bool stream_cut(const char *buf, size_t cut, const size_t *lens, size_t n)
{
	size_t pos = 0, i = 0;
	struct pubsub_frame f;
	enum pubsub_frame_rc rc;

	while ((rc = scan(buf + pos, cut - pos, &f)) == PUBSUB_FRAME_WHOLE) {
		if (i == n || f.len != lens[i])
			return false;
		pos += lens[i++];
	}
	return rc == PUBSUB_FRAME_PARTIAL && f.len > cut - pos && (i == n || f.len <= lens[i]);
}

static void test_random_stream(void)
{
	static const char *const parts[] = {
		"*3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:del\r\n$3\r\na:b\r\n",
		"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:3\r\n", "-ERR x\r\n", ":7\r\n", "$-1\r\n",
		"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$4\r\n\r\n\r\n\r\n", "*1\r\n*0\r\n",
	};
	char buf[4096];
	size_t lens[60], len = 0, good = 0;

	srandom(13);
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		const char *p = parts[(size_t)random() % ARRAY_SIZE(parts)];

		lens[i] = strlen(p);
		memcpy(buf + len, p, lens[i]);
		len += lens[i];
	}
	for (size_t cut = 0; cut <= len; cut++)
		good += stream_cut(buf, cut, lens, ARRAY_SIZE(lens));
	ok(good == len + 1, "a stream of %zu replies split at each of %zu points", ARRAY_SIZE(lens), len + 1);
}

/* hiredis reads buf[0..len) as the scanner said it would: a WHOLE reply
 * of f.len bytes is exactly one reply (a message the same slices), a
 * PARTIAL one no reply and no error yet. */
static bool agrees(const char *buf, size_t len)
{
	redisReader *r = redisReaderCreate();
	struct pubsub_frame f;
	enum pubsub_frame_rc rc = scan(buf, len, &f);
	redisReply *reply = NULL;
	bool good = true;

	if (rc == PUBSUB_FRAME_WHOLE) {
		redisReaderFeed(r, buf, f.len);
		good = redisReaderGetReply(r, (void **)&reply) == REDIS_OK && reply != NULL &&
		       pubsub_frame_reader_idle(r);
		if (good && f.message)
			good = reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
			       reply->element[1]->len == f.channel_len && reply->element[2]->len == f.payload_len &&
			       memcmp(reply->element[1]->str, f.channel, f.channel_len) == 0 &&
			       memcmp(reply->element[2]->str, f.payload, f.payload_len) == 0;
	} else if (rc == PUBSUB_FRAME_PARTIAL) {
		redisReaderFeed(r, buf, len);
		good = redisReaderGetReply(r, (void **)&reply) == REDIS_OK && reply == NULL;
	}
	if (reply != NULL)
		freeReplyObject(reply);
	redisReaderFree(r);
	return good;
}

/* Replies with a byte or two changed, cut short, or glued together:
 * wherever the scanner judges, hiredis agrees. */
static void test_against_hiredis(void)
{
	static const char *const seeds[] = {
		"*3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:new\r\n$5\r\nk\r\n:1\r\n",
		"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:3\r\n", "*2\r\n*1\r\n:1\r\n$-1\r\n", "-ERR x\r\n+OK\r\n",
	};
	static const char alphabet[] = "*$:+-\r\n0123456789-?m";
	char buf[256];
	size_t runs = 0, good = 0;

	srandom(7);
	for (size_t i = 0; i < 200000; i++) {
		const char *seed = seeds[i % ARRAY_SIZE(seeds)];
		size_t len = strlen(seed), edits = 1 + (size_t)random() % 3;

		memcpy(buf, seed, len);
		for (size_t e = 0; e < edits; e++)
			buf[(size_t)random() % len] = alphabet[(size_t)random() % (sizeof(alphabet) - 1)];
		len -= (size_t)random() % 4 == 0 ? (size_t)random() % len : 0;
		runs++;
		good += agrees(buf, len);
	}
	ok(good == runs, "%zu of %zu mutated replies read as hiredis reads them", good, runs);
}

static void test_reader_idle(void)
{
	redisReader *r = redisReaderCreate();
	void *reply = NULL;

	ok(pubsub_frame_reader_idle(r), "a new reader is idle");
	redisReaderFeed(r, "*2\r\n", 4);
	redisReaderGetReply(r, &reply);
	ok(reply == NULL && !pubsub_frame_reader_idle(r), "an array begun: not idle");
	redisReaderFeed(r, ":1\r\n:2\r\n", 8);
	redisReaderGetReply(r, &reply);
	ok(reply != NULL && pubsub_frame_reader_idle(r), "the array whole: idle");
	freeReplyObject(reply);
	redisReaderGetReply(r, &reply);
	ok(reply == NULL && pubsub_frame_reader_idle(r), "asked again with nothing: idle");
	redisReaderFeed(r, "+", 1);
	redisReaderGetReply(r, &reply);
	ok(reply == NULL && !pubsub_frame_reader_idle(r), "a type byte read: not idle");
	redisReaderFeed(r, "OK\r\n+", 5);
	ok(!pubsub_frame_reader_idle(r), "bytes fed, unread: not idle");
	redisReaderGetReply(r, &reply);
	ok(reply != NULL && !pubsub_frame_reader_idle(r), "a reply out, another begun: not idle");
	freeReplyObject(reply);
	redisReaderFeed(r, "X\r\n", 3);
	redisReaderGetReply(r, &reply);
	ok(reply != NULL && pubsub_frame_reader_idle(r), "both out: idle");
	freeReplyObject(reply);
	redisReaderFree(r);
}

int main(void)
{
	test_message();
	test_other_replies();
	test_unknown();
	test_random_stream();
	test_reader_idle();
	test_against_hiredis();
	return tap_done();
}
