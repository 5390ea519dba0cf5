/* fmt: sizes, durations and tables for people, as gcs-flushctl prints them. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "json.h"
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

/* The length of a printable character at s: 1 for printable ASCII other
 * than space, quote and backslash, the sequence's for a UTF-8 character
 * outside the C1 controls (U+0080 to U+009F, which terminals obey), 0
 * for anything else. */
static size_t plain_len(const unsigned char *s, size_t n)
{
	size_t len;

	if (s[0] < 0x80)
		return s[0] > ' ' && s[0] < 0x7f && s[0] != '"' && s[0] != '\\' && s[0] != '\'' ? 1 : 0;
	len = json_utf8_len(s, n);
	if (len == 2 && s[0] == 0xc2 && s[1] < 0xa0)
		return 0;
	return len;
}

void fmt_key(struct buf *out, const char *key, size_t n)
{
	const unsigned char *s = (const unsigned char *)key;
	size_t i, len;

	for (i = 0; i < n && (len = plain_len(s + i, n - i)) > 0; i += len)
		;
	if (n > 0 && i == n) {
		buf_append(out, key, n);
		return;
	}
	buf_putc(out, '"');
	for (i = 0; i < n; i += len) {
		static const char from[] = "\\\"\n\r\t\a\b", to[] = "\\\"nrtab";
		const char *e = s[i] != '\0' ? strchr(from, s[i]) : NULL;

		len = plain_len(s + i, n - i);
		if (e != NULL) {
			buf_printf(out, "\\%c", to[e - from]);
			len = 1;
		} else if (len > 0) {
			buf_append(out, s + i, len);
		} else if (s[i] == ' ' || s[i] == '\'') {
			buf_putc(out, (char)s[i]);	/* plain inside the quotes */
			len = 1;
		} else {
			buf_printf(out, "\\x%02x", s[i]);
			len = 1;
		}
	}
	buf_putc(out, '"');
}
