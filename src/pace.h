/* pace: how fast a flush goes, and in what chunks.
 *
 * Two limits, either or both:
 *   - a budget of the server's time (flush_server_budget): the share of
 *     each second that the flush's commands may keep the server busy, as
 *     Redis's own active expiry spends at most a share of each tick.  The
 *     time a command costs is measured from its own round trip, less the
 *     connection's (a PING's, measured now and then); chunks are
 *     sized so that one command takes about PACE_CMD_SECS, so that other
 *     clients never wait long behind one, and the flush sends one command
 *     at a time, so that none waits behind several.
 *   - a cap on entries per second (flush_max_entries_per_sec).
 * With neither, a flush is unpaced.
 *
 * Pure arithmetic on times the caller gives (monotonic seconds): no I/O,
 * no timers.  flush.c asks it when the next command may go and how many
 * keys a chunk takes, and tells it what each command cost. */
#ifndef GCS_PACE_H
#define GCS_PACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The time one command of a budgeted flush aims to keep the server busy.
 * Other clients' GET p99 on the project's machine is 0.16-0.21 ms idle; a
 * GET that arrives during one of our commands waits for the rest of it.
 * At a 10% budget (bench scenario 2, quick, quiet machine), 0.25 ms
 * commands put other clients' p99 at 2.7-4.2x idle, 0.1 ms ones at
 * 1.6-2.8x, the GET rate staying within 0.80-0.90x either way. */
#define PACE_CMD_SECS 0.0001
/* Chunk sizes under a budget stay within these: the fixed cost of a
 * command (a script call, a round trip) makes smaller ones wasteful. */
#define PACE_CHUNK_MIN 8
/* The server time a budget may save up while the flush waits (for the
 * archive's sync, say), and spend at once afterwards: about one command.
 * More would let the flush burst after a pause. */
#define PACE_BURST_SECS 0.0005

/* How often a budgeted flush measures the round trip of a PING, the
 * connection's own delay, which is not the server's time: over a network
 * with a 1 ms round trip, charging it to the budget would cut a 10%
 * budget's flush to a hundred commands a second whatever they cost. */
#define PACE_PROBE_SECS 1.0

/* The commands a flush sends, whose costs per key differ by a factor of
 * five: each has its own estimate. */
enum pace_kind { PACE_UNLINK, PACE_DUMP, PACE_CAD, PACE_KINDS };

struct pace {
	double budget;			/* a share of the server's time; 0: none */
	uint64_t max_per_sec;		/* entries; 0: no cap */
	double tokens;			/* server seconds the flush may spend now */
	double refilled;		/* when tokens were last refilled */
	double per_key[PACE_KINDS];	/* estimated server seconds per key */
	double rate_due;		/* when the cap lets the next chunk start */
	double last_reply;		/* when the last reply came */
	double latency;			/* the connection's round trip (PING); < 0: unknown */
	double last_probe;		/* the last PING's round trip; < 0: none */
	double probed;			/* when the last PING went */
	double last_raw, last_charge;	/* the last command's round trip, and what it cost */
	int last_kind;			/* its kind, */
	size_t last_keys;		/* its keys */
	double last_estimate;		/* and its kind's estimate before it */
	/* What the cycle did, for status. */
	double started, ended;		/* ended: 0 while it runs */
	double spent;			/* the server time it used */
	uint64_t entries;		/* entries it took into chunks */
};

/* Once, before the first cycle: no estimates yet. */
void pace_init(struct pace *p);
/* A cycle starts at now with these limits. */
void pace_start(struct pace *p, double budget, uint64_t max_per_sec, double now);
/* The cycle ended at now: its figures stop there. */
void pace_stop(struct pace *p, double now);
/* Whether either limit holds (else the flush runs unpaced). */
bool pace_limited(const struct pace *p);
/* Whether the budget holds: one command at a time. */
bool pace_budgeted(const struct pace *p);
/* How many keys the next chunk takes, at most max, for a flush whose
 * chunks send commands of the kinds in mask (1 << PACE_*). */
size_t pace_chunk_size(const struct pace *p, unsigned mask, size_t max);
/* When a command may go: now or later (the budget's time is spent), but
 * no later than the next PING is due, which may show that the time was
 * the network's. */
double pace_command_due(struct pace *p, double now);
/* When the next chunk may start (the budget and the cap); at or before
 * now means now. */
double pace_chunk_due(struct pace *p, double now);
/* A chunk of n keys started at now. */
void pace_chunk_started(struct pace *p, size_t n, double now);
/* Under a budget: whether the connection's round trip should be measured
 * (a PING) before the next command; it is sent at now. */
bool pace_probe_due(const struct pace *p, double now);
void pace_probe_sent(struct pace *p, double now);
/* A PING's round trip: the connection's own delay is the shorter of the
 * last two, so that one PING that waited behind other clients' commands
 * does not make ours look free.  When the delay grew (the network got
 * slower), the last command's charge is taken back down to what it cost
 * beyond it. */
void pace_latency(struct pace *p, double rtt);
/* A command of kind for keys keys, sent at sent, was answered at now: its
 * round trip, less the connection's own delay, is charged to the budget
 * and feeds the estimate. */
void pace_command_done(struct pace *p, enum pace_kind kind, size_t keys, double sent, double now);
/* The cycle's figures: entries per second and its share of the server's
 * time, from its start to now or its end.  Commands pipelined on one
 * connection are charged from the reply before them, so that the share of
 * an unpaced flush is not counted twice. */
double pace_entries_per_sec(const struct pace *p, double now);
double pace_server_share(const struct pace *p, double now);

#endif
