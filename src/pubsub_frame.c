/* pubsub_frame: the length of one RESP2 reply, and a message's slices, read
 * in place.
 *
 * RESP2 says how long everything is before it comes: a line (+ - :) ends
 * at CRLF, a bulk ($n) is n bytes and a CRLF, an array (*n) is n values
 * more.  Counting the values still owed is enough to find where a reply
 * ends, nested or not, with no stack.  The one shape that matters for
 * speed, a SUBSCRIBE's "message", is matched first, byte for byte.
 *
 * Judged more strictly than hiredis judges: anything this does not
 * recognise is UNKNOWN, and the caller gives the bytes to hiredis, which
 * then accepts or refuses them as it always did.  So strictness can only
 * cost speed, never change what a reply means.
 *
 * Owns no memory; knows nothing of connections. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <hiredis/read.h>

#include "pubsub_frame.h"

/* A length of more digits than this is not one a server sends. */
#define MAX_DIGITS 18

/* The number of a line at buf[*pos] (after its type byte): 1 read (then
 * *pos is past its CRLF), 0 more bytes needed, -1 malformed.  Only what
 * hiredis accepts: "0", or a first digit from 1 to 9, maybe after "-". */
static int number_at(const char *buf, size_t avail, size_t *pos, long long *n)
{
	size_t i = *pos, first;
	bool neg = i < avail && buf[i] == '-';
	long long v = 0;

	for (i += neg, first = i; i < avail && buf[i] >= '0' && buf[i] <= '9'; i++) {
		if (i - first == MAX_DIGITS || (i > first && buf[first] == '0'))
			return -1;
		v = v * 10 + (buf[i] - '0');
	}
	if (i == avail)
		return 0;
	if (i == first || buf[i] != '\r' || (neg && v == 0))
		return -1;
	if (i + 1 == avail)
		return 0;
	if (buf[i + 1] != '\n')
		return -1;
	*pos = i + 2;
	*n = neg ? -v : v;
	return 1;
}

/* A line's end: 1 found (*pos past its CRLF), 0 more bytes needed.  A
 * lone CR is part of the line, as hiredis reads it. */
static int line_at(const char *buf, size_t avail, size_t *pos)
{
	const char *p = buf + *pos, *end = buf + avail;

	while ((p = memchr(p, '\r', (size_t)(end - p))) != NULL) {
		if (p + 1 == end)
			return 0;
		if (p[1] == '\n') {
			*pos = (size_t)(p + 2 - buf);
			return 1;
		}
		p++;
	}
	return 0;
}

/* A whole bulk string at buf[*pos], its bytes in place. */
static bool bulk_at(const char *buf, size_t avail, size_t *pos, const char **s, size_t *len)
{
	size_t i = *pos + 1;
	long long n;

	if (*pos >= avail || buf[*pos] != '$' || number_at(buf, avail, &i, &n) != 1 || n < 0 ||
	    (size_t)n + 2 > avail - i || buf[i + (size_t)n] != '\r' || buf[i + (size_t)n + 1] != '\n')
		return false;
	*s = buf + i;
	*len = (size_t)n;
	*pos = i + (size_t)n + 2;
	return true;
}

/* Exactly a whole "message": nearly every reply a subscriber reads. */
static bool message_at(const char *buf, size_t avail, struct pubsub_frame *f)
{
	static const char head[] = "*3\r\n$7\r\nmessage\r\n";
	size_t pos = sizeof(head) - 1;

	if (avail < pos || memcmp(buf, head, pos) != 0 ||
	    !bulk_at(buf, avail, &pos, &f->channel, &f->channel_len) ||
	    !bulk_at(buf, avail, &pos, &f->payload, &f->payload_len))
		return false;
	f->len = pos;
	f->message = true;
	return true;
}

static enum pubsub_frame_rc more(struct pubsub_frame *f, size_t need, size_t max)
{
	if (need > max)
		return PUBSUB_FRAME_UNKNOWN;
	f->len = need;
	return PUBSUB_FRAME_PARTIAL;
}

/* One value's header at buf[*pos] (its type byte read here), and a bulk's
 * bytes; adds an array's elements to *left.  As number_at, and 2 when a
 * bulk's bytes are not all in (then *need says how many are). */
static int value_at(const char *buf, size_t avail, size_t max, size_t *pos, uint64_t *left, size_t *need)
{
	long long n = 0;
	int rc;

	switch (buf[(*pos)++]) {
	case '+':
	case '-':
		return line_at(buf, avail, pos);
	case ':':
		return number_at(buf, avail, pos, &n);
	case '$':
		if ((rc = number_at(buf, avail, pos, &n)) != 1 || n < 0)
			return n < -1 ? -1 : rc;
		if ((size_t)n + 2 > avail - *pos) {
			*need = *pos + (size_t)n + 2;
			return 2;
		}
		if (buf[*pos + (size_t)n] != '\r' || buf[*pos + (size_t)n + 1] != '\n')
			return -1;
		*pos += (size_t)n + 2;
		return 1;
	case '*':
		if ((rc = number_at(buf, avail, pos, &n)) == 1 && n < -1)
			return -1;
		if (rc == 1 && n > 0) {
			/* Each element takes 3 bytes at least: more than max
			 * of them cannot fit. */
			if ((unsigned long long)n > max)
				return -1;
			*left += (uint64_t)n;
		}
		return rc;
	default:
		return -1;
	}
}

enum pubsub_frame_rc pubsub_frame_scan(const char *buf, size_t avail, size_t max, struct pubsub_frame *f)
{
	size_t pos = 0, need = 0;
	uint64_t left = 1;	/* values still owed */

	f->message = false;
	if (message_at(buf, avail, f))
		return PUBSUB_FRAME_WHOLE;
	while (left > 0) {
		int rc;

		if (pos == avail)
			return more(f, avail + 1, max);
		rc = value_at(buf, avail, max, &pos, &left, &need);
		if (rc < 0)
			return PUBSUB_FRAME_UNKNOWN;
		if (rc == 0)
			return more(f, avail + 1, max);
		if (rc == 2)
			return more(f, need, max);
		left--;
	}
	f->len = pos;
	return PUBSUB_FRAME_WHOLE;
}

bool pubsub_frame_reader_idle(const struct redisReader *r)
{
	/* hiredis 0.14 keeps unread bytes between pos and len.  A reply is
	 * begun once its root task has a type: the task stack is empty (ridx
	 * -1) after a whole reply, and holds a root task of type -1 after a
	 * call that found no byte to begin one.  tests/unit/test_pubsub_frame
	 * checks this against the library. */
	return r->err == 0 && r->pos == r->len && (r->ridx == -1 || (r->ridx == 0 && r->rstack[0].type == -1));
}
