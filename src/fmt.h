/* fmt: sizes, durations and tables for people, as gcs-flushctl prints them.
 * Pure functions (no I/O, no clock), so the unit tests can pin every case. */
#ifndef GCS_FMT_H
#define GCS_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define FMT_SIZE_LEN 32		/* enough for any uint64_t: "16777216.0 TiB" */
#define FMT_DURATION_LEN 32	/* enough for any double we accept */

/* "512 B", "1.0 KiB", "1.5 MiB", "2.0 GiB", "3.2 TiB" (TiB is the largest unit).
 * Writes at most n bytes including the NUL; returns out. */
char *fmt_size(uint64_t bytes, char *out, size_t n);

/* "12s", "5m 03s", "2h 03m", "3d 04h": the two largest units, truncated.
 * Negative or NaN durations print as "0s". Returns out. */
char *fmt_duration(double secs, char *out, size_t n);

/* Appends a Redis key name for a terminal: as it is when it is printable
 * (printable ASCII and UTF-8 characters, no space, quote or backslash, not
 * empty), else in double quotes with C escapes (\\, \", \n, \r, \t, \a,
 * \b and \xNN for any other control or non-UTF-8 byte), as redis-cli
 * quotes it, so that it can be pasted back into redis-cli. */
void fmt_key(struct buf *out, const char *key, size_t n);

/* Appends an aligned table to out: cells holds nrows rows of ncols strings,
 * the first row usually the headings.  Each column is as wide as its widest
 * cell (in bytes), right-aligned where right[col], two spaces apart; the
 * last column is never padded, so lines carry no trailing blanks. */
void fmt_table(struct buf *out, char *const *cells, size_t nrows, size_t ncols, const bool *right);

#endif
