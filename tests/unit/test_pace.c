/* Unit tests for pace: the budget of server time, the cap on entries per
 * second, chunk sizes from measured costs, and the cycle's figures. */
#include "config.h"

#include <math.h>

#include "pace.h"
#include "tap.h"

static bool near(double a, double b, double tol)
{
	return fabs(a - b) <= tol;
}

/* A budgeted flush whose commands each take cost seconds of round trip,
 * sent as soon as pace allows, for secs: the share of the time they take. */
static double simulate(double budget, double cost, double secs, size_t *chunk)
{
	struct pace p;
	double now = 100;
	unsigned mask = 1u << PACE_UNLINK;

	pace_init(&p);
	pace_start(&p, budget, 0, now);
	while (now < 100 + secs) {
		double due = pace_chunk_due(&p, now);
		size_t n;

		if (due > now)
			now = due;
		n = pace_chunk_size(&p, mask, 1000);
		pace_chunk_started(&p, n, now);
		/* The command's round trip: cost per key times its keys. */
		pace_command_done(&p, PACE_UNLINK, n, now, now + cost * (double)n);
		now += cost * (double)n;
		*chunk = n;
	}
	pace_stop(&p, now);
	return pace_server_share(&p, now);
}

int main(void)
{
	struct pace p;
	size_t chunk = 0;
	double share;

	pace_init(&p);
	pace_start(&p, 0, 0, 10);
	ok(!pace_limited(&p) && !pace_budgeted(&p), "no budget and no cap: unpaced");
	ok(pace_chunk_size(&p, 1u << PACE_UNLINK, 1000) == 1000, "unpaced chunks are the largest");
	ok(pace_chunk_due(&p, 10) == 10, "and go at once");

	share = simulate(0.1, 2e-6, 2.0, &chunk);
	ok(near(share, 0.1, 0.01), "a 10%% budget: the commands take %.3f of the time", share);
	ok(near((double)chunk, PACE_CMD_SECS / 2e-6, 1), "chunks settle at PACE_CMD_SECS of cost (%zu keys)", chunk);
	share = simulate(0.25, 5e-6, 2.0, &chunk);
	ok(near(share, 0.25, 0.02), "a 25%% budget: %.3f", share);
	ok(near((double)chunk, PACE_CMD_SECS / 5e-6, 1), "costlier keys, smaller chunks (%zu keys)", chunk);
	share = simulate(0.05, 1e-3, 2.0, &chunk);
	ok(chunk == PACE_CHUNK_MIN && near(share, 0.05, 0.01), "very costly keys: the smallest chunks, still 5%% (%.3f)",
	   share);

	/* A long wait saves up at most PACE_BURST_SECS. */
	pace_start(&p, 0.1, 0, 0);
	pace_command_done(&p, PACE_UNLINK, 100, 0, 0.01);	/* 10 ms: 0.1 s of debt */
	/* It earned at most PACE_BURST_SECS while it ran. */
	ok(near(pace_command_due(&p, 0.01), 0.01 + (0.01 - PACE_BURST_SECS) / 0.1, 1e-9),
	   "a 10 ms command at 10%%: the next waits about 0.1 s");
	ok(pace_command_due(&p, 50) == 50, "after a long pause it goes at once");
	pace_command_done(&p, PACE_UNLINK, 100, 50, 50 + PACE_BURST_SECS + 0.001);
	ok(pace_command_due(&p, 50 + PACE_BURST_SECS + 0.001) > 50 + PACE_BURST_SECS + 0.001,
	   "but what it saved covers no more than PACE_BURST_SECS");

	/* Pipelined commands are charged from the reply before them. */
	pace_start(&p, 0, 0, 0);
	pace_command_done(&p, PACE_DUMP, 10, 0, 0.002);
	pace_command_done(&p, PACE_DUMP, 10, 0, 0.003);
	ok(near(p.spent, 0.003, 1e-12), "two pipelined commands: 3 ms, not 5");
	p.entries = 300;
	pace_stop(&p, 1.5);
	ok(near(pace_entries_per_sec(&p, 99), 200, 1e-9), "entries per second up to the cycle's end");
	ok(near(pace_server_share(&p, 99), 0.002, 1e-9), "its share of the server's time");

	/* The cap: chunks spread over the second, made up when a little late. */
	pace_start(&p, 0, 1000, 0);
	ok(pace_chunk_size(&p, 1u << PACE_UNLINK, 1000) == 25, "a 1000/s cap: 25-key chunks");
	ok(pace_chunk_size(&p, 1u << PACE_DUMP | 1u << PACE_CAD, 200) == 25, "archive chunks too (a hundredth, 25 at least)");
	pace_chunk_started(&p, 25, 0);
	ok(near(pace_chunk_due(&p, 0.001), 0.025, 1e-9), "the next 25 after 25 ms");
	pace_chunk_started(&p, 25, 0.03);
	ok(near(pace_chunk_due(&p, 0.03), 0.05, 1e-9), "5 ms late: made up");
	pace_chunk_started(&p, 25, 1.0);
	ok(pace_chunk_due(&p, 1.0) == 1.0 && near(p.rate_due, 0.975, 1e-9), "a long stall: forgiven beyond the slack");

	/* Both: the smaller chunk and the later start (with fresh estimates:
	 * they outlive a cycle). */
	pace_init(&p);
	pace_start(&p, 0.5, 100000, 0);
	ok(pace_chunk_size(&p, 1u << PACE_UNLINK, 1000) == 25, "budget and cap: the cap's smaller chunks");
	pace_command_done(&p, PACE_UNLINK, 25, 0, 0.001);
	ok(pace_chunk_due(&p, 0.001) >= 0.002 - 1e-12, "and the budget's later start");

	/* The connection's own delay is not charged: a 0.4 s network with
	 * 0.1 ms commands. */
	pace_init(&p);
	pace_start(&p, 0.1, 0, 0);
	ok(pace_probe_due(&p, 0), "a budgeted cycle measures its connection first");
	pace_probe_sent(&p, 0);
	pace_latency(&p, 0.4);
	ok(!pace_probe_due(&p, 0.5) && pace_probe_due(&p, 1.0), "and again every PACE_PROBE_SECS");
	pace_command_done(&p, PACE_DUMP, 10, 0.4, 0.8001);
	ok(near(p.spent, 0.0001, 1e-9) && pace_command_due(&p, 0.8001) <= 0.8001 + 0.002,
	   "a command's round trip less the PING's: 0.1 ms charged, not 400");
	pace_latency(&p, 0.8);
	ok(near(p.latency, 0.4, 1e-9), "one longer PING does not raise the delay");
	pace_latency(&p, 0.1);
	ok(near(p.latency, 0.1, 1e-9), "a shorter one lowers it at once");

	/* The network gets slower: the first slow command is charged in full,
	 * the wait lasts no longer than the next PING, which takes the charge
	 * back. */
	pace_init(&p);
	pace_start(&p, 0.1, 0, 0);
	pace_probe_sent(&p, 0);
	pace_latency(&p, 0.0001);
	pace_command_done(&p, PACE_DUMP, 10, 0.001, 0.4011);	/* 0.4 s: the network's */
	ok(pace_command_due(&p, 0.4011) > 0.4011 && pace_command_due(&p, 0.4011) <= PACE_PROBE_SECS,
	   "a slow command: the next waits, but only until the next PING");
	ok(pace_probe_due(&p, PACE_PROBE_SECS), "which is due then");
	pace_probe_sent(&p, PACE_PROBE_SECS);
	pace_latency(&p, 0.4);
	pace_latency(&p, 0.4);
	ok(pace_command_due(&p, PACE_PROBE_SECS + 0.8) == PACE_PROBE_SECS + 0.8,
	   "two slow PINGs: the delay was the network's, the charge is taken back");

	/* A PING that waited behind the daemon's own work (2 ms where the
	 * connection takes 20 us) must not make 50 us commands free: the first
	 * is charged whole and the delay measured again, the next less the
	 * new PING's. */
	pace_init(&p);
	pace_start(&p, 0.1, 0, 0);
	pace_probe_sent(&p, 0);
	pace_latency(&p, 0.002);
	pace_command_done(&p, PACE_UNLINK, 50, 0.002, 0.00205);
	ok(near(p.spent, 0.00005, 1e-12), "a command faster than the PING: charged whole");
	ok(pace_probe_due(&p, 0.00205) && p.latency < 0, "and the delay is measured again");
	pace_probe_sent(&p, 0.00205);
	pace_latency(&p, 0.00002);
	ok(near(p.latency, 0.00002, 1e-12), "the new PING alone is the delay");
	ok(near(p.spent, 0.00003, 1e-12), "and the command's charge is taken down to what it cost beyond it");
	pace_command_done(&p, PACE_UNLINK, 50, 0.003, 0.00305);
	ok(near(p.spent, 0.00006, 1e-12), "the next: its round trip less 20 us");
	return tap_done();
}
