/* pace: a flush's pacing arithmetic (see pace.h).
 *
 * The budget is a token bucket of server seconds: it fills at `budget`
 * seconds per second, holds at most PACE_BURST_SECS, and each command's
 * cost is taken out when its reply comes.  A command may go while the
 * bucket is not in debt.  With one command at a time, a command's round
 * trip is the time the server spent on it (and the time it waited behind
 * other clients' commands, which is charged too: a busy server slows the
 * flush) plus the connection's own delay, which a PING measures and which
 * is not charged: the network's time is not the server's.
 *
 * A command's cost per key, estimated per kind of command, sizes the
 * chunks: PACE_CMD_SECS' worth of keys.  The estimate includes the fixed
 * cost of a round trip, so it settles on chunks a little smaller than the
 * target, never larger. */
#include "config.h"

#include "pace.h"

/* Before the first reply: conservative costs per key, measured on the
 * project's machine (UNLINK 1-2 us, the DUMP script 3-5 us, the
 * compare-and-delete script 4-6 us with a round trip's share). */
static const double prior[PACE_KINDS] = {3e-6, 8e-6, 8e-6};
/* A command's round trip below this share of the PING's marks the PING
 * as one that waited (pace_command_done). */
#define PACE_PROBE_TRUST 0.5
/* Weight of the newest sample in an estimate. */
#define PACE_EWMA 0.25
/* How late a capped chunk may be and still be made up by the next ones:
 * timers fire late on a busy machine, and without catching up a cap of
 * 100k/s came out at 85k/s.  A longer stall is not made up in a burst. */
#define PACE_RATE_SLACK 0.05
/* Under a cap without a budget, a chunk is this long a share of a second
 * (at least PACE_CAPPED_MIN keys), so that deletions are spread out rather
 * than bunched: other clients' GET p99 at 100k/s (2 cores, idle p99
 * 0.3 ms) was 3.8 ms with 1000-key chunks, 2.2-2.4 ms with 100 keys and
 * 0.9-1.9 ms with 25.  Archive chunks stay larger (a hundredth of the
 * cap): each costs two script calls, whose fixed cost made 25-key chunks
 * reach 48-52k/s beside other clients where 200-key chunks reached 74k/s. */
#define PACE_CAPPED_SECS 0.00025
#define PACE_CAPPED_MIN 25

void pace_init(struct pace *p)
{
	for (int k = 0; k < PACE_KINDS; k++)
		p->per_key[k] = 0;
	p->latency = p->last_probe = -1;
	p->started = p->ended = p->spent = 0;
	p->entries = 0;
}

void pace_start(struct pace *p, double budget, uint64_t max_per_sec, double now)
{
	p->budget = budget;
	p->max_per_sec = max_per_sec;
	p->tokens = 0;
	p->refilled = now;
	p->rate_due = now;
	p->started = now;
	p->ended = 0;
	p->last_reply = now;
	p->spent = 0;
	p->entries = 0;
	p->probed = -1;
	p->last_raw = p->last_charge = 0;
	p->last_keys = 0;
}

void pace_stop(struct pace *p, double now)
{
	p->ended = now;
}

bool pace_limited(const struct pace *p)
{
	return p->budget > 0 || p->max_per_sec > 0;
}

bool pace_budgeted(const struct pace *p)
{
	return p->budget > 0;
}

static double estimate(const struct pace *p, enum pace_kind k)
{
	return p->per_key[k] > 0 ? p->per_key[k] : prior[k];
}

size_t pace_chunk_size(const struct pace *p, unsigned mask, size_t max)
{
	size_t n = max;

	if (p->budget > 0) {
		double per = 0;
		double fit;

		for (int k = 0; k < PACE_KINDS; k++)
			if ((mask & (1u << k)) && estimate(p, (enum pace_kind)k) > per)
				per = estimate(p, (enum pace_kind)k);
		fit = PACE_CMD_SECS / per;
		if (fit < PACE_CHUNK_MIN)
			fit = PACE_CHUNK_MIN;
		if (fit < (double)n)
			n = (size_t)fit;
	}
	if (p->max_per_sec > 0) {
		uint64_t capped = (mask & (1u << PACE_DUMP)) ? p->max_per_sec / 100
							      : (uint64_t)((double)p->max_per_sec * PACE_CAPPED_SECS);

		if (capped < PACE_CAPPED_MIN)
			capped = PACE_CAPPED_MIN;
		if (capped < n)
			n = (size_t)capped;
	}
	return n;
}

static void refill(struct pace *p, double now)
{
	if (now > p->refilled) {
		p->tokens += p->budget * (now - p->refilled);
		if (p->tokens > PACE_BURST_SECS)
			p->tokens = PACE_BURST_SECS;
	}
	p->refilled = now;
}

double pace_command_due(struct pace *p, double now)
{
	double due;

	if (p->budget <= 0)
		return now;
	refill(p, now);
	due = p->tokens >= 0 ? now : now - p->tokens / p->budget;
	if (p->probed >= 0 && due > p->probed + PACE_PROBE_SECS)
		due = p->probed + PACE_PROBE_SECS > now ? p->probed + PACE_PROBE_SECS : now;
	return due;
}

double pace_chunk_due(struct pace *p, double now)
{
	double due = pace_command_due(p, now);

	if (p->max_per_sec > 0 && p->rate_due > due)
		due = p->rate_due;
	return due;
}

void pace_chunk_started(struct pace *p, size_t n, double now)
{
	p->entries += n;
	if (p->max_per_sec == 0)
		return;
	/* Lateness up to PACE_RATE_SLACK is made up; more is forgiven. */
	if (p->rate_due < now - PACE_RATE_SLACK)
		p->rate_due = now - PACE_RATE_SLACK;
	p->rate_due += (double)n / (double)p->max_per_sec;
}

/* An estimate (0: none yet) updated with a sample. */
static double estimate_with(double est, double sample)
{
	return est > 0 ? (1 - PACE_EWMA) * est + PACE_EWMA * sample : sample;
}

bool pace_probe_due(const struct pace *p, double now)
{
	return p->budget > 0 && (p->probed < 0 || now - p->probed >= PACE_PROBE_SECS);
}

void pace_probe_sent(struct pace *p, double now)
{
	p->probed = now;
}

void pace_latency(struct pace *p, double rtt)
{
	double fair;

	if (rtt < 0)
		rtt = 0;
	p->latency = p->last_probe >= 0 && p->last_probe < rtt ? p->last_probe : rtt;
	p->last_probe = rtt;
	fair = p->last_raw > p->latency ? p->last_raw - p->latency : 0;
	if (p->budget > 0 && fair < p->last_charge) {
		p->tokens += p->last_charge - fair;
		p->spent -= p->last_charge - fair;
		p->last_charge = fair;
		/* The estimate it fed, fed again with what it cost. */
		if (p->last_keys > 0)
			p->per_key[p->last_kind] = estimate_with(p->last_estimate, fair / (double)p->last_keys);
	}
}

void pace_command_done(struct pace *p, enum pace_kind kind, size_t keys, double sent, double now)
{
	/* Commands on one connection run one after the other: a pipelined
	 * one's service began when the one before it was answered. */
	double from = sent > p->last_reply ? sent : p->last_reply;
	double raw = now > from ? now - from : 0, cost = raw;

	/* The connection's own delay is the network's time, not the server's.
	 * A round trip under half of it means the PING that measured it
	 * waited behind other work (the daemon's own, at a cycle's start):
	 * subtracting it would make every command look free and the flush
	 * unpaced.  That command is charged whole, and the delay measured
	 * again. */
	if (p->budget > 0 && p->latency > 0 && raw < p->latency * PACE_PROBE_TRUST) {
		p->latency = p->last_probe = -1;
		p->probed = -1;
	} else if (p->budget > 0 && p->latency > 0) {
		cost = raw > p->latency ? raw - p->latency : 0;
	}

	p->last_reply = now;
	p->last_raw = raw;
	p->last_charge = cost;
	p->spent += cost;
	if (p->budget > 0) {
		refill(p, now);
		p->tokens -= cost;
	}
	p->last_kind = kind;
	p->last_keys = keys;
	p->last_estimate = p->per_key[kind];
	if (keys > 0)
		p->per_key[kind] = estimate_with(p->per_key[kind], cost / (double)keys);
}

static double elapsed(const struct pace *p, double now)
{
	return (p->ended > 0 ? p->ended : now) - p->started;
}

double pace_entries_per_sec(const struct pace *p, double now)
{
	double t = elapsed(p, now);

	return t > 0 ? (double)p->entries / t : 0;
}

double pace_server_share(const struct pace *p, double now)
{
	double t = elapsed(p, now);

	return t > 0 ? p->spent / t : 0;
}
