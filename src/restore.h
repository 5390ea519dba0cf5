/* restore: the client side of the archive: restore keys into Redis, list
 * the archive, export it.  Needs no running daemon: it reads the config
 * and the archive files itself.  Each returns an exit status (0 ok,
 * 1 error). */
#ifndef GCS_RESTORE_H
#define GCS_RESTORE_H

#include <stdbool.h>

#include "conf.h"

/* Restores the newest archived version of each key, with its original
 * absolute expiry.  An existing key is left alone unless replace. */
int restore_keys(const struct conf *c, const char *shard, char **keys, int nkeys, bool replace);
/* Prints every archived record whose key matches pattern (NULL: all). */
int restore_list(const struct conf *c, const char *shard, const char *pattern);
/* Writes RESTORE ... ABSTTL REPLACE commands in RESP to stdout, oldest
 * record first, for `redis-cli --pipe`: the newest version wins. */
int restore_export(const struct conf *c, const char *shard, const char *pattern);

#endif
