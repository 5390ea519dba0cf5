/* keys: gcs-flushctl's printing of the replies that carry Redis key names
 * (oldest, flush --dry-run), with each key's exact bytes. */
#ifndef GCS_KEYS_H
#define GCS_KEYS_H

#include <jansson.h>

#include "util.h"

/* Sets key to the bytes of o's "key" (a string, NUL bytes included), or
 * of its "key_base64" decoded; -1 when o has neither, or bad base64. */
int keys_get(json_t *o, struct buf *key);

/* Print a successful reply for people; NULL, or what is wrong with it. */
const char *keys_print_oldest(json_t *reply);
const char *keys_print_dry_run(json_t *reply);

#endif
