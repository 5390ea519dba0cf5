/* conf_keys.h: the value codec of the configuration table, shared by
 * conf.c (reading a file) and conf_keys.c (the table); private to them. */
#ifndef GCS_CONF_KEYS_H
#define GCS_CONF_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

/* Where key k's value lives in base (a struct conf or a struct shard_conf). */
void *conf_field(const void *base, const struct conf_key *k);
/* Parses text into the key's slot; on error leaves the slot alone and sets
 * *err to a static message ("value out of range" for a bound). */
int conf_set_value(const struct conf_key *k, void *base, const char *text, const char **err);
/* Copies key k's value from src to dst, of the same kind. */
void conf_copy_value(const struct conf_key *k, void *dst, const void *src);
bool conf_value_equal(const struct conf_key *k, const void *a, const void *b);
/* Fills every key of scopes a and b with its default. */
void conf_set_defaults(void *base, enum conf_scope a, enum conf_scope b);
/* Frees what a shard_conf holds, not the struct. */
void conf_shard_conf_free(struct shard_conf *s);

#endif
