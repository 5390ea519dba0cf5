/* metrics: Prometheus text format (see metrics.h).
 *
 * Every family gets its HELP and TYPE lines even when no series knows a
 * value (a shard never connected has no used_memory): a scrape always
 * shows the whole catalogue, and an unknown value is a missing sample,
 * never a made-up 0.  Numbers are written so that they read back exactly:
 * integers in full, reals in the fewest digits that round-trip. */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "metrics.h"

/* HELP text escapes backslash and newline; label values also the quote. */
static void put_escaped(struct buf *out, const char *s, bool quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_puts(out, "\\\\");
		else if (*s == '\n')
			buf_puts(out, "\\n");
		else if (*s == '"' && quote)
			buf_puts(out, "\\\"");
		else
			buf_putc(out, *s);
	}
}

static void put_double(struct buf *out, double v)
{
	char text[40];

	if (isnan(v)) {
		buf_puts(out, "NaN");
		return;
	}
	if (isinf(v)) {
		buf_puts(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	snprintf(text, sizeof(text), "%.15g", v);
	if (strtod(text, NULL) != v)
		snprintf(text, sizeof(text), "%.17g", v);
	buf_puts(out, text);
}

/* A shard metric's help ends with the status field it shows, so that a
 * reader (and the tests) can find one from the other. */
static void family(struct buf *out, const char *name, const char *type, const char *help, const char *field)
{
	buf_printf(out, "# HELP %s ", name);
	put_escaped(out, help, false);
	if (field != NULL)
		buf_printf(out, " (status: %s)", field);
	buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* NAME{a="x",b="y",le="0.1"}: the series' labels, then one extra (or none). */
static void sample_name(struct buf *out, const char *name, const char *suffix, const struct metrics_series *s,
			const char *extra_name, const char *extra_value)
{
	size_t n = s != NULL ? s->nlabels : 0;

	buf_puts(out, name);
	buf_puts(out, suffix);
	if (n == 0 && extra_name == NULL)
		return;
	buf_putc(out, '{');
	for (size_t i = 0; i < n; i++) {
		buf_printf(out, "%s%s=\"", i ? "," : "", s->labels[i].name);
		put_escaped(out, s->labels[i].value, true);
		buf_putc(out, '"');
	}
	if (extra_name != NULL) {
		buf_printf(out, "%s%s=\"", n ? "," : "", extra_name);
		put_escaped(out, extra_value, true);
		buf_putc(out, '"');
	}
	buf_putc(out, '}');
}

static void hist_samples(struct buf *out, const char *name, const struct metrics_series *s, const struct hist *h)
{
	for (size_t i = 0; i <= HIST_NBOUNDS; i++) {
		sample_name(out, name, "_bucket", s, "le", hist_le(i));
		buf_printf(out, " %" PRIu64 "\n", hist_cumulative(h, i));
	}
	sample_name(out, name, "_sum", s, NULL, NULL);
	buf_putc(out, ' ');
	put_double(out, h->sum);
	buf_putc(out, '\n');
	sample_name(out, name, "_count", s, NULL, NULL);
	buf_printf(out, " %" PRIu64 "\n", h->count);
}

/* One series' sample of field f, unless its value is unknown. */
static void shard_sample(struct buf *out, const struct stats_field *f, const struct metrics_series *s)
{
	const void *v = (const char *)s->st + f->offset;

	switch (f->kind) {
	case STATS_COUNTER:
	case STATS_UINT:
	case STATS_UINT_OPT:
		if (f->kind == STATS_UINT_OPT && *(const uint64_t *)v == STATS_UNKNOWN)
			return;
		sample_name(out, f->metric, "", s, NULL, NULL);
		buf_printf(out, " %" PRIu64 "\n", *(const uint64_t *)v);
		return;
	case STATS_REAL:
		if (isnan(*(const double *)v))
			return;
		sample_name(out, f->metric, "", s, NULL, NULL);
		buf_putc(out, ' ');
		put_double(out, *(const double *)v);
		buf_putc(out, '\n');
		return;
	case STATS_BOOL:
		sample_name(out, f->metric, "", s, NULL, NULL);
		buf_puts(out, *(const bool *)v ? " 1\n" : " 0\n");
		return;
	case STATS_HIST:
		hist_samples(out, f->metric, s, v);
		return;
	case STATS_TEXT:
		return;
	}
}

static void daemon_samples(struct buf *out, const struct daemon_stats *d)
{
	for (size_t i = 0; i < daemon_nmetrics; i++) {
		const struct daemon_metric *m = &daemon_metrics[i];
		double v = *(const double *)((const char *)d + m->offset);

		family(out, m->metric, "gauge", m->doc, NULL);
		if (m->offset == offsetof(struct daemon_stats, build_info)) {
			sample_name(out, m->metric, "", NULL, "version", d->version);
			buf_puts(out, " 1\n");
			continue;
		}
		if (isnan(v))
			continue;
		buf_puts(out, m->metric);
		buf_putc(out, ' ');
		put_double(out, v);
		buf_putc(out, '\n');
	}
}

void metrics_render(struct buf *out, const struct daemon_stats *d, const struct metrics_series *series, size_t n)
{
	daemon_samples(out, d);
	for (size_t i = 0; i < stats_nfields; i++) {
		const struct stats_field *f = &stats_fields[i];
		const char *type = stats_metric_type(f);

		if (type == NULL)
			continue;
		family(out, f->metric, type, f->doc, f->name);
		for (size_t k = 0; k < n; k++)
			if (series[k].scopes & f->scope)
				shard_sample(out, f, &series[k]);
	}
}
