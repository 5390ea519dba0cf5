/* fmt: sizes, durations and tables for people, as gcs-flushctl prints them. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "util.h"

char *fmt_size(uint64_t bytes, char *out, size_t n)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	size_t u;

	if (bytes < 1024) {
		snprintf(out, n, "%u B", (unsigned)bytes);
		return out;
	}
	/* Move up a unit while the value would round to 1024.0 or more, so that
	 * 1048575 bytes reads "1.0 MiB" and never "1024.0 KiB". */
	for (u = 0; u < ARRAY_SIZE(units); u++) {
		v /= 1024.0;
		if (v < 1023.95 || u == ARRAY_SIZE(units) - 1)
			break;
	}
	snprintf(out, n, "%.1f %s", v, units[u]);
	return out;
}

char *fmt_duration(double secs, char *out, size_t n)
{
	unsigned long long s;

	/* Truncate rather than round: "59.9 s ago" has not yet been a minute. The
	 * upper bound keeps the conversion defined; ~3e11 years is plenty. */
	if (!(secs > 0))
		s = 0;
	else if (secs >= 1e19)
		s = 10000000000000000000ULL;
	else
		s = (unsigned long long)secs;

	if (s < 60)
		snprintf(out, n, "%llus", s);
	else if (s < 3600)
		snprintf(out, n, "%llum %02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, n, "%lluh %02llum", s / 3600, s % 3600 / 60);
	else
		snprintf(out, n, "%llud %02lluh", s / 86400, s % 86400 / 3600);
	return out;
}

void fmt_table(struct buf *out, char *const *cells, size_t nrows, size_t ncols, const bool *right)
{
	size_t *width = xcalloc(ncols, sizeof(*width));

	for (size_t r = 0; r < nrows; r++)
		for (size_t c = 0; c < ncols; c++)
			if (strlen(cells[r * ncols + c]) > width[c])
				width[c] = strlen(cells[r * ncols + c]);
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c + 1 < ncols; c++)
			buf_printf(out, "%*s  ", right[c] ? (int)width[c] : -(int)width[c], cells[r * ncols + c]);
		if (ncols > 0)
			buf_puts(out, cells[r * ncols + ncols - 1]);
		buf_putc(out, '\n');
	}
	free(width);
}
