/* stubs: a stand-in daemon for fuzz_request, so that cmd_handle() runs its
 * whole path (parse, find the command, run it, reply) with no event loop,
 * no Redis and no socket.  Three shards: "primary" flushes at once,
 * "replica-1" fails its flush, "down" is not connected. */
#ifndef GCS_FUZZ_STUBS_H
#define GCS_FUZZ_STUBS_H

#include "daemon.h"
#include "util.h"

/* The reply ctl_reply() received, and how many times it was called. */
struct ctl_client {
	int replies;
	struct buf reply;
};

struct daemon *stubs_daemon(void);

#endif
