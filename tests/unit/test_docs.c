/* Checks that the man page and the sample config document every key of the
 * config table, and that gcs-flushd(8) documents every status field and
 * metric of the stats table (each metric with its type and its field), the
 * histogram buckets and every alert of the shipped rules: the tables are
 * the source of truth, the docs must follow. */
#include "config.h"

#include <stdlib.h>

#include "conf.h"
#include "hist.h"
#include "stats.h"
#include "tap.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return b.data;
}

static void check_file(const char *dir, const char *rel)
{
	char *path = xasprintf("%s/%s", dir, rel);
	char *text = slurp(path);
	size_t n;
	const struct conf_key *keys = conf_keys(&n);

	ok(text != NULL, "%s is readable", rel);
	for (size_t i = 0; text != NULL && i < n; i++) {
		/* roff escapes underscores nowhere, but may escape hyphens; keys have none. */
		ok(strstr(text, keys[i].name) != NULL, "%s documents %s", rel, keys[i].name);
	}
	free(text);
	free(path);
}

/* The man page's entry for metric m: ".TP", ".B m" alone on its line,
 * then its text up to the next macro. */
static char *metric_entry(const char *man, const char *m)
{
	char *head = xasprintf("\n.TP\n.B %s\n", m);
	const char *p = strstr(man, head), *end;
	char *entry = NULL;

	if (p != NULL) {
		p += strlen(head);
		end = strstr(p, "\n.");
		entry = xstrndup(p, end ? (size_t)(end - p) : strlen(p));
	}
	free(head);
	return entry;
}

static void check_stats(const char *dir)
{
	char *path = xasprintf("%s/man/gcs-flushd.8", dir), *man = slurp(path);
	char *rules_path = xasprintf("%s/etc/gcs-flushd.rules.yml", dir), *rules = slurp(rules_path);

	ok(man != NULL && rules != NULL, "gcs-flushd.8 and gcs-flushd.rules.yml are readable");
	if (man == NULL || rules == NULL)
		return;
	for (size_t i = 0; i < stats_nfields; i++) {
		const struct stats_field *f = &stats_fields[i];
		char *entry, *want;

		ok(strstr(man, f->name) != NULL, "gcs-flushd.8 documents status field %s", f->name);
		if (f->metric == NULL)
			continue;
		entry = metric_entry(man, f->metric);
		want = xasprintf("%s, per %s; status \\fB%s\\fP:", stats_metric_type(f),
				 f->scope == STATS_NODE ? "node" : "shard", f->name);
		ok(entry != NULL && strncmp(entry, want, strlen(want)) == 0, "gcs-flushd.8: %s is \"%s\"", f->metric,
		   want);
		free(want);
		free(entry);
	}
	for (size_t i = 0; i < daemon_nmetrics; i++) {
		char *entry = metric_entry(man, daemon_metrics[i].metric);

		ok(entry != NULL && strncmp(entry, "gauge", 5) == 0, "gcs-flushd.8 documents %s, a gauge",
		   daemon_metrics[i].metric);
		free(entry);
	}
	for (size_t i = 0; i + 1 < HIST_NBOUNDS; i++) {
		char *needle = xasprintf("%s,", hist_le(i));

		ok(strstr(man, needle) != NULL, "gcs-flushd.8 lists the bucket %s", hist_le(i));
		free(needle);
	}
	ok(strstr(man, " 10 and +Inf") != NULL, "gcs-flushd.8 lists the buckets up to 10 and +Inf");
	for (const char *p = rules; (p = strstr(p, "- alert: ")) != NULL;) {
		const char *end = strchr(p, '\n');
		char *name = xstrndup(p + 9, end ? (size_t)(end - p - 9) : strlen(p + 9));
		char *needle = xasprintf("\n.B %s\n", name);

		ok(strstr(man, needle) != NULL, "gcs-flushd.8 documents alert %s", name);
		free(needle);
		free(name);
		p += 9;
	}
	free(rules);
	free(rules_path);
	free(man);
	free(path);
}

int main(void)
{
	const char *dir = getenv("top_srcdir");

	if (dir == NULL)
		dir = ".";
	check_file(dir, "man/gcs-flushd.conf.5");
	check_file(dir, "etc/gcs-flushd.conf");
	check_stats(dir);
	return tap_done();
}
