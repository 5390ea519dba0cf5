/* Unit tests for the stats lists, hist and metrics: the names follow
 * Prometheus's conventions, and the text renders what a scraper expects
 * (families, labels, unknown values left out, cumulative buckets). */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "metrics.h"
#include "stats.h"
#include "tap.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool valid_name(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static void test_names(void)
{
	for (size_t i = 0; i < stats_nfields; i++) {
		const struct stats_field *f = &stats_fields[i];
		const char *type = stats_metric_type(f);

		if (f->kind == STATS_TEXT) {
			ok(f->metric == NULL, "text field %s is no metric", f->name);
			continue;
		}
		if (f->metric == NULL)
			continue;
		ok(type != NULL, "%s has a type", f->metric);
		ok(valid_name(f->metric) && strncmp(f->metric, "gcs_flushd_", 11) == 0, "%s: a valid gcs_flushd_ name",
		   f->metric);
		ok(ends_with(f->metric, "_total") == (f->kind == STATS_COUNTER), "%s: _total if and only if a counter",
		   f->metric);
		ok(!ends_with(f->metric, "_s") && !ends_with(f->metric, "_secs") && !ends_with(f->metric, "_unix"),
		   "%s: base units spelled out", f->metric);
		for (size_t k = 0; k < i; k++)
			if (stats_fields[k].metric != NULL && strcmp(stats_fields[k].metric, f->metric) == 0)
				ok(0, "%s is used twice", f->metric);
	}
	for (size_t i = 0; i < daemon_nmetrics; i++)
		ok(valid_name(daemon_metrics[i].metric), "%s: a valid name", daemon_metrics[i].metric);
}

static void test_hist(void)
{
	struct hist h;

	memset(&h, 0, sizeof(h));
	hist_observe(&h, 0.0001);	/* on a bound: in that bucket (le is "less or equal") */
	hist_observe(&h, 0.0002);
	hist_observe(&h, 3);
	hist_observe(&h, 100);		/* past 10 s: +Inf only */
	hist_observe(&h, -1);		/* a clock step: the smallest bucket */
	ok(hist_cumulative(&h, 0) == 2, "le=0.0001 holds 0.0001 and the negative one");
	ok(hist_cumulative(&h, 1) == 3, "le=0.00025 adds 0.0002");
	ok(hist_cumulative(&h, HIST_NBOUNDS - 1) == 4, "le=10 holds all but 100 s");
	ok(hist_cumulative(&h, HIST_NBOUNDS) == 5 && h.count == 5, "+Inf holds every observation");
	ok(fabs(h.sum - 103.0003) < 1e-9, "the sum adds the observations (a negative one as 0)");
	is_str(hist_le(0), "0.0001", "the first bound is 100 us");
	is_str(hist_le(HIST_NBOUNDS - 1), "10", "the last bound is 10 s");
	is_str(hist_le(HIST_NBOUNDS), "+Inf", "then +Inf");
	for (size_t i = 0; i < HIST_NBOUNDS; i++)
		ok(strtod(hist_le(i), NULL) == hist_bounds[i], "le text %s is the bound", hist_le(i));
}

static void test_render(void)
{
	struct shard_stats a, b, c;
	struct daemon_stats d = {.version = "1.2.3", .build_info = 1, .start_time = 1700000000.5,
				 .resident_memory = NAN, .open_fds = 12};
	/* a: a standalone shard; b: a node of cluster shard c. */
	struct metrics_series s[3] = {
		{{{"shard", "a"}}, 1, STATS_SHARD | STATS_NODE, &a},
		{{{"shard", "b\"q\\z"}, {"node", "10.0.0.1:6379"}}, 2, STATS_NODE, &b},
		{{{"shard", "b\"q\\z"}}, 1, STATS_SHARD, &c},
	};
	struct hist h;
	struct buf out;

	memset(&h, 0, sizeof(h));
	hist_observe(&h, 0.002);
	hist_observe(&h, 0.2);
	stats_init(&a);
	stats_init(&b);
	stats_init(&c);
	a.name = "a";
	a.up = true;
	a.used_memory = 1048576;
	a.flushed_entries_total = 42;
	a.oldest_entry_age_s = 0.25;
	a.chunk_roundtrip_s = h;
	b.name = "b";
	b.tracked_entries = 7;		/* a node's copy of a shard field: not shown */
	c.tracked_entries = 5;
	c.up = true;			/* a shard's copy of a node field: not shown */
	buf_init(&out);
	metrics_render(&out, &d, s, 3);

	ok(strstr(out.data, "# TYPE gcs_flushd_build_info gauge\ngcs_flushd_build_info{version=\"1.2.3\"} 1\n") != NULL,
	   "build_info carries the version");
	ok(strstr(out.data, "\nprocess_start_time_seconds 1700000000.5\n") != NULL, "the start time, exactly");
	ok(strstr(out.data, "\nprocess_open_fds 12\n") != NULL, "open fds");
	ok(strstr(out.data, "# TYPE process_resident_memory_bytes gauge\n# HELP") != NULL,
	   "an unknown daemon value: the family, no sample");
	ok(strstr(out.data, "gcs_flushd_shard_up{shard=\"a\"} 1\n") != NULL, "a bool is 1");
	ok(strstr(out.data, "gcs_flushd_shard_up{shard=\"b\\\"q\\\\z\",node=\"10.0.0.1:6379\"} 0\n") != NULL,
	   "labels in order, quote and backslash escaped");
	ok(strstr(out.data, "gcs_flushd_used_memory_bytes{shard=\"a\"} 1048576\n") != NULL, "a known gauge");
	ok(strstr(out.data, "gcs_flushd_used_memory_bytes{shard=\"b") == NULL, "an unknown gauge has no sample");
	ok(strstr(out.data, "# TYPE gcs_flushd_flushed_entries_total counter\n") != NULL, "a counter family");
	ok(strstr(out.data, "gcs_flushd_flushed_entries_total{shard=\"a\"} 42\n") != NULL, "its sample");
	ok(strstr(out.data, "gcs_flushd_oldest_entry_age_seconds{shard=\"a\"} 0.25\n") != NULL, "a real, shortest form");
	ok(strstr(out.data, "# TYPE gcs_flushd_chunk_roundtrip_seconds histogram\n") != NULL, "a histogram family");
	ok(strstr(out.data, "gcs_flushd_chunk_roundtrip_seconds_bucket{shard=\"a\",le=\"0.001\"} 0\n"
			    "gcs_flushd_chunk_roundtrip_seconds_bucket{shard=\"a\",le=\"0.0025\"} 1\n") != NULL,
	   "buckets cumulative, le last");
	ok(strstr(out.data, "gcs_flushd_chunk_roundtrip_seconds_bucket{shard=\"a\",le=\"+Inf\"} 2\n"
			    "gcs_flushd_chunk_roundtrip_seconds_sum{shard=\"a\"} 0.202\n"
			    "gcs_flushd_chunk_roundtrip_seconds_count{shard=\"a\"} 2\n") != NULL,
	   "+Inf, sum and count");
	ok(strstr(out.data, "gcs_flushd_chunk_roundtrip_seconds_count{shard=\"b\\\"q\\\\z\",node=\"10.0.0.1:6379\"} 0\n") != NULL,
	   "a node series has the node's histogram");
	ok(strstr(out.data, "gcs_flushd_chunk_roundtrip_seconds_count{shard=\"b\\\"q\\\\z\"} ") == NULL,
	   "a cluster shard's own series has no node field: nothing counts twice");
	ok(strstr(out.data, "gcs_flushd_tracked_entries{shard=\"b\\\"q\\\\z\"} 5\n") != NULL,
	   "a cluster shard's own series has its shard fields");
	ok(strstr(out.data, "gcs_flushd_tracked_entries{shard=\"b\\\"q\\\\z\",node") == NULL,
	   "a node series has no shard field");
	ok(strstr(out.data, "gcs_flushd_shard_up{shard=\"b\\\"q\\\\z\"} ") == NULL,
	   "nor the shard's series a node field");
	ok(strstr(out.data, "gcs_flushd_name") == NULL && strstr(out.data, "gcs_flushd_state") == NULL &&
	   strstr(out.data, "\nname") == NULL, "text fields are no samples");
	for (size_t i = 0; i < stats_nfields; i++) {
		char *type;

		if (stats_fields[i].metric == NULL)
			continue;
		type = xasprintf("# TYPE %s %s\n", stats_fields[i].metric, stats_metric_type(&stats_fields[i]));
		ok(strstr(out.data, type) != NULL, "%s has its TYPE line", stats_fields[i].metric);
		free(type);
	}
	buf_free(&out);
}

int main(void)
{
	test_names();
	test_hist();
	test_render();
	return tap_done();
}
