/* metrics: the stats lists (stats.h) in Prometheus's text exposition
 * format, version 0.0.4: what GET /metrics answers.  Pure: it renders
 * snapshots it is given into a buffer, and knows nothing of sockets,
 * shards or the daemon. */
#ifndef GCS_METRICS_H
#define GCS_METRICS_H

#include <stddef.h>

#include "stats.h"
#include "util.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_MAX_LABELS 4

/* A series: a snapshot, the labels that tell it from the others, and the
 * scopes (stats.h) of the fields it gives.  A standalone shard is one
 * series labelled shard="NAME" with both scopes.  A Redis Cluster or
 * Sentinel shard is one series with shard="NAME" for its SHARD fields
 * (ledger, archive) and one per node with shard="NAME",node="ADDRESS" for
 * its NODE fields, so that sum() counts every node once and nothing
 * twice.  The renderer writes whatever labels it is given, in order. */
struct metrics_label {
	const char *name;
	const char *value;
};

struct metrics_series {
	struct metrics_label labels[METRICS_MAX_LABELS];
	size_t nlabels;
	unsigned scopes;		/* STATS_SHARD, STATS_NODE or both */
	const struct shard_stats *st;
};

/* Appends the daemon's metrics, then each shard metric family (HELP and
 * TYPE, then one sample per series that knows its value) to out. */
void metrics_render(struct buf *out, const struct daemon_stats *d, const struct metrics_series *series, size_t n);

#endif
