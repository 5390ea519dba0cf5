/* pubsub_frame: where one RESP2 reply ends in a subscriber connection's
 * input, and a pub/sub message's channel and payload as slices of that
 * input: no allocation, no copy.
 *
 * A subscriber reads one message per keyspace event; hiredis's reader
 * builds a reply tree for each (four objects, five allocations).  With
 * the length of every reply known before it is parsed, a connection can
 * hand a message's slices straight to its user and feed hiredis exactly
 * the other replies, whole, so that hiredis never holds half of one and
 * the order of replies never changes.
 *
 * Pure: no I/O, and nothing of hiredis but the one question of whether its
 * reader sits between replies. */
#ifndef GCS_PUBSUB_FRAME_H
#define GCS_PUBSUB_FRAME_H

#include <stdbool.h>
#include <stddef.h>

struct redisReader;

enum pubsub_frame_rc {
	PUBSUB_FRAME_WHOLE,	/* one whole reply of f->len bytes */
	PUBSUB_FRAME_PARTIAL,	/* a reply that needs at least f->len bytes (<= max) */
	PUBSUB_FRAME_UNKNOWN,	/* malformed, or longer than max: hiredis's reader decides */
};

struct pubsub_frame {
	size_t len;
	/* WHOLE, and exactly a "message" (*3, three bulk strings): the
	 * channel and the payload, pointing into the buffer scanned. */
	bool message;
	const char *channel;
	size_t channel_len;
	const char *payload;
	size_t payload_len;
};

/* Scans the reply at the start of buf[0..avail).  A reply is judged
 * strictly, more so than hiredis: whatever this does not accept (a bulk
 * without its CRLF, a sign before a length, a negative length but -1) is
 * UNKNOWN, left to hiredis, which then does what it always did. */
enum pubsub_frame_rc pubsub_frame_scan(const char *buf, size_t avail, size_t max, struct pubsub_frame *f);

/* Is hiredis's reader between replies: no bytes unread, no reply begun?
 * Only then may replies bypass it without changing their order. */
bool pubsub_frame_reader_idle(const struct redisReader *r);

#endif
