/* stats: the stats lists of stats.h as data, walked by the status JSON
 * (status.c), the metrics (metrics.c) and the documentation checks, and
 * the two operations every snapshot needs: a fresh one, and a node's
 * counters added to a shard's.  In the shared library, so that the unit
 * tests see the same lists. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "stats.h"

const struct stats_field stats_fields[] = {
#define X(field, kind, scope, metric, doc) \
	{#field, STATS_##kind, STATS_##scope, offsetof(struct shard_stats, field), metric, doc},
	SHARD_STATS(X)
#undef X
};
const size_t stats_nfields = sizeof(stats_fields) / sizeof(stats_fields[0]);

const struct daemon_metric daemon_metrics[] = {
#define X(field, metric, doc) {metric, offsetof(struct daemon_stats, field), doc},
	DAEMON_METRICS(X)
#undef X
};
const size_t daemon_nmetrics = sizeof(daemon_metrics) / sizeof(daemon_metrics[0]);

const char *stats_metric_type(const struct stats_field *f)
{
	if (f->metric == NULL)
		return NULL;
	switch (f->kind) {
	case STATS_COUNTER:
		return "counter";
	case STATS_HIST:
		return "histogram";
	case STATS_UINT:
	case STATS_UINT_OPT:
	case STATS_REAL:
	case STATS_BOOL:
		return "gauge";
	case STATS_TEXT:
		break;
	}
	return NULL;	/* text is never a metric */
}

void stats_init(struct shard_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < stats_nfields; i++) {
		void *v = (char *)st + stats_fields[i].offset;

		if (stats_fields[i].kind == STATS_UINT_OPT)
			*(uint64_t *)v = STATS_UNKNOWN;
		else if (stats_fields[i].kind == STATS_REAL)
			*(double *)v = NAN;
	}
}

void stats_add_counters(struct shard_stats *to, const struct shard_stats *from)
{
	for (size_t i = 0; i < stats_nfields; i++) {
		const struct stats_field *f = &stats_fields[i];
		void *t = (char *)to + f->offset;
		const void *v = (const char *)from + f->offset;

		if (f->kind == STATS_COUNTER)
			*(uint64_t *)t += *(const uint64_t *)v;
		else if (f->kind == STATS_HIST)
			hist_add(t, v);
	}
}
