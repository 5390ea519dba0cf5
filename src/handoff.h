/* handoff: in a cluster, a key migrating between masters (resharding)
 * keeps its place in the creation order.  MIGRATE shows as "del" on the
 * source and "new" on the target, over two connections, in either order.
 * A "del" is held back for HANDOFF_SECS; a "new" of a tracked key is too;
 * when the other half comes from another node, the key is simply still
 * tracked where it was.  Otherwise the held event applies when its time is
 * up (a delete, or a re-creation that moves the key to the tail).  Part of
 * tracking: it writes the ledger only as track.c would. */
#ifndef GCS_HANDOFF_H
#define GCS_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HANDOFF_SECS 2.0

struct event_base;
struct ledger;
struct handoff;

struct handoff *handoff_new(struct event_base *base, struct ledger *ledger);
/* Applies whatever is held, then frees. */
void handoff_free(struct handoff *h);

/* A "del" of key from node who (any pointer that tells nodes apart). */
void handoff_del(struct handoff *h, const void *who, const char *key, size_t klen);
/* A "new" of key on node who, at created. */
void handoff_new_key(struct handoff *h, const void *who, const char *key, size_t klen, uint32_t created);
/* Held events, for status and tests. */
size_t handoff_held(const struct handoff *h);

#endif
