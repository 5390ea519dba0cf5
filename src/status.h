/* status: a shard's status object, rendered from a stats snapshot. */
#ifndef GCS_STATUS_H
#define GCS_STATUS_H

#include "conf.h"
#include "json.h"
#include "policy.h"
#include "stats.h"

/* Every field of SHARD_STATS, as members of the object being written. */
void status_fields_json(const struct shard_stats *st, struct json *j);
/* "settings": {...}: sc's, with the effective policy p and its sources. */
void status_settings_json(const struct shard_conf *sc, const struct policy *p, struct json *j);

#endif
