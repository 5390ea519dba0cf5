/* status: a shard's status object, rendered from a stats snapshot. */
#ifndef GCS_STATUS_H
#define GCS_STATUS_H

#include "conf.h"
#include "json.h"
#include "policy.h"
#include "stats.h"

/* {"name": ..., every field of SHARD_STATS, "settings": {...}}: the
 * settings are sc's, with the effective policy p and its sources. */
void status_shard_json(const struct shard_stats *st, const struct shard_conf *sc, const struct policy *p,
		       struct json *j);

#endif
