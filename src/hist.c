/* hist: fixed-bucket histograms (see hist.h). */
#include "config.h"

#include "hist.h"

const double hist_bounds[HIST_NBOUNDS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* The bounds as text, written once here so that the status JSON and the
 * metrics show the same labels as the man page. */
static const char *const le_text[HIST_NBOUNDS + 1] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
	"0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
};

void hist_observe(struct hist *h, double secs)
{
	size_t i = 0;

	if (!(secs >= 0))
		secs = 0;	/* a clock that stepped back, or NaN: the smallest bucket */
	while (i < HIST_NBOUNDS && secs > hist_bounds[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum += secs;
}

void hist_add(struct hist *to, const struct hist *from)
{
	for (size_t i = 0; i <= HIST_NBOUNDS; i++)
		to->bucket[i] += from->bucket[i];
	to->count += from->count;
	to->sum += from->sum;
}

uint64_t hist_cumulative(const struct hist *h, size_t i)
{
	uint64_t n = 0;

	for (size_t k = 0; k <= i && k <= HIST_NBOUNDS; k++)
		n += h->bucket[k];
	return n;
}

const char *hist_le(size_t i)
{
	return i <= HIST_NBOUNDS ? le_text[i] : "+Inf";
}
