/* hist: a latency histogram with fixed buckets, as Prometheus keeps them:
 * a count per bucket, the number of observations and their sum.  Pure (no
 * clock, no I/O): the owner observes durations it measured itself. */
#ifndef GCS_HIST_H
#define GCS_HIST_H

#include <stddef.h>
#include <stdint.h>

/* Upper bounds in seconds, 100 us to 10 s in 1-2.5-5 steps: a chunk's
 * round trip is about 1 ms (its server time is kept near that), a cycle
 * of 10000 entries takes 0.1 s unpaced and seconds when paced, so both
 * land well inside the range; +Inf takes the rest.  gcs-flushd(8) lists
 * them. */
#define HIST_NBOUNDS 16
extern const double hist_bounds[HIST_NBOUNDS];

struct hist {
	uint64_t bucket[HIST_NBOUNDS + 1];	/* per bucket, not cumulative; the last is +Inf */
	uint64_t count;
	double sum;
};

void hist_observe(struct hist *h, double secs);
/* Adds from's observations to to's: one histogram of several nodes'. */
void hist_add(struct hist *to, const struct hist *from);
/* Observations of at most hist_bounds[i] seconds (i == HIST_NBOUNDS: all
 * of them), as Prometheus's cumulative "le" buckets count them. */
uint64_t hist_cumulative(const struct hist *h, size_t i);
/* "0.0001", ..., "10", and "+Inf" for i == HIST_NBOUNDS: the le label. */
const char *hist_le(size_t i);

#endif
