/* Unit tests for policy: Ray's SimpleGcsFlushPolicy semantics (batch
 * mode), the runtime fields, and hold mode's decision, alone and in a
 * closed loop against a model of a Redis server under load. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "tap.h"

static struct policy make(uint64_t threshold, double period, uint64_t entries)
{
	struct policy p = {0};

	p.flush_when_at_least_bytes = threshold;
	p.flush_period_secs = period;
	p.flush_num_entries_each_time = entries;
	return p;
}

/* The runtime policy hash overrides, reverts, and ignores bad values. */
static void test_runtime(const struct shard_conf *sc)
{
	const char *f1[] = {"flush_when_at_least_bytes", "flush_num_entries_each_time", "unrelated"};
	const char *v1[] = {"1MiB", "5", "whatever"};
	const char *f2[] = {"flush_period_secs", "flush_num_entries_each_time", "flush_when_at_least_bytes"};
	const char *v2[] = {"0.5", "0", "lots"};
	struct policy p, base;
	struct buf bad;

	buf_init(&bad);
	policy_from_conf(&base, sc);
	policy_from_conf(&p, sc);
	policy_record_flush(&p, 42.0);
	policy_apply_runtime(&p, &base, f1, v1, 3, &bad);
	ok(p.flush_when_at_least_bytes == 1048576 && p.src_threshold == SRC_RUNTIME, "runtime threshold with a suffix");
	ok(p.flush_num_entries_each_time == 5 && p.src_entries == SRC_RUNTIME, "runtime batch");
	ok(p.flush_period_secs == 2.5 && p.src_period == SRC_CONFIG, "an absent field keeps the config");
	ok(bad.len == 0, "unrelated fields are not complaints");
	ok(p.last_flush == 42.0, "applying the runtime policy keeps the period's start");

	policy_apply_runtime(&p, &base, f2, v2, 3, &bad);
	ok(p.flush_period_secs == 0.5 && p.src_period == SRC_RUNTIME, "runtime period");
	ok(p.flush_num_entries_each_time == 7 && p.src_entries == SRC_SHARD, "an out-of-range batch reverts to config");
	ok(p.flush_when_at_least_bytes == 2147483648ULL && p.src_threshold == SRC_DEFAULT,
	   "a removed or invalid threshold reverts to the default");
	ok(strstr(bad.data, "flush_num_entries_each_time: '0': value out of range") != NULL &&
	   strstr(bad.data, "flush_when_at_least_bytes: 'lots':") != NULL, "invalid values are reported");

	policy_apply_runtime(&p, &base, NULL, NULL, 0, &bad);
	ok(p.flush_period_secs == 2.5 && p.src_period == SRC_CONFIG, "an empty hash restores the config");

	/* flush_mode: the fourth runtime field, a word rather than a number. */
	{
		const char *f4[] = {"flush_mode"};
		const char *hold[] = {"hold"}, *odd[] = {"fast"};
		int fm = policy_field_find("flush_mode");

		buf_reset(&bad);
		policy_apply_runtime(&p, &base, f4, hold, 1, &bad);
		ok(p.flush_mode == FLUSH_MODE_HOLD && p.src_mode == SRC_RUNTIME, "runtime hold mode");
		ok(fm >= 0 && strcmp(policy_field_word(&p, fm), "hold") == 0 && policy_field_value(&p, fm) == 1 &&
		   policy_field_source(&p, fm) == SRC_RUNTIME, "the mode as a field: its word, index and source");
		ok(policy_field_word(&p, policy_field_find("flush_period_secs")) == NULL, "a number has no word");
		ok(p.hold_interval_secs == 0.1, "the hold interval is the config's (not a runtime field)");
		policy_apply_runtime(&p, &base, f4, odd, 1, &bad);
		ok(p.flush_mode == FLUSH_MODE_BATCH && p.src_mode == SRC_DEFAULT, "an unknown mode reverts to the config");
		is_str(bad.data, "flush_mode: 'fast': expected batch or hold\n", "an unknown mode is reported");
		is_str(policy_mode_name(FLUSH_MODE_HOLD), "hold", "mode names");
	}

	/* flush_server_budget: a share, or off. */
	{
		const char *f4[] = {"flush_server_budget"};
		const char *v4[] = {"25%"}, *v5[] = {"off"}, *v6[] = {"200%"};
		int fb = policy_field_find("flush_server_budget");

		ok(base.flush_server_budget == 0.1 && base.src_budget == SRC_DEFAULT, "the budget's default is 10%%");
		policy_apply_runtime(&p, &base, f4, v4, 1, &bad);
		ok(p.flush_server_budget == 0.25 && p.src_budget == SRC_RUNTIME && fb >= 0 &&
		   policy_field_value(&p, fb) == 0.25 && policy_field_source(&p, fb) == SRC_RUNTIME,
		   "the runtime hash sets the budget");
		policy_apply_runtime(&p, &base, f4, v5, 1, &bad);
		ok(p.flush_server_budget == 0 && p.src_budget == SRC_RUNTIME, "and can turn it off");
		buf_reset(&bad);
		policy_apply_runtime(&p, &base, f4, v6, 1, &bad);
		ok(p.flush_server_budget == 0.1 && p.src_budget == SRC_DEFAULT &&
		   strstr(bad.data, "flush_server_budget: '200%'") != NULL, "an invalid budget is reported and ignored");
	}

	/* The application's bytes cannot split the list into more lines. */
	{
		const char *f3[] = {"flush_period_secs", "flush_when_at_least_bytes"};
		const char *v3[] = {"1\nsecond line\r\x1b[31m",
				    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"};
		size_t lines = 0;

		buf_reset(&bad);
		policy_apply_runtime(&p, &base, f3, v3, 2, &bad);
		for (size_t i = 0; i < bad.len; i++)
			lines += bad.data[i] == '\n';
		ok(lines == 2, "one line per invalid value, whatever bytes it holds");
		ok(strstr(bad.data, "flush_period_secs: '1\\x0asecond line\\x0d\\x1b[31m': ") != NULL,
		   "control bytes of a value are shown as \\xNN");
		ok(strstr(bad.data, "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...': ") != NULL,
		   "a long value is cut short");
	}
	buf_free(&bad);
}


/* ---- hold mode: one decision at a time -------------------------------------------- */

#define MIB 1048576.0

static struct policy hold_policy(uint64_t threshold, uint64_t cap, double period)
{
	struct policy p = make(threshold, period, cap);

	p.flush_mode = FLUSH_MODE_HOLD;
	p.hold_interval_secs = 0.1;
	return p;
}

/* A reading with a MEMORY USAGE sample of entries that all hold 100
 * bytes, a key every 1000 entries. */
static struct hold_reading reading(double at, uint64_t used, uint64_t tracked)
{
	static uint64_t flat[HOLD_SAMPLES];
	struct hold_reading r = {0};

	for (size_t i = 0; i < HOLD_SAMPLES; i++)
		flat[i] = 100;
	r.at = at;
	r.now = at;	/* a reply with no delay: no growth to add for it */
	r.used_memory = used;
	r.tracked = tracked;
	r.sample = flat;
	r.nsample = HOLD_SAMPLES;
	r.step = 1000;
	return r;
}

static void test_hold_steps(void)
{
	struct policy p = hold_policy(100000, 1000000, 1);
	struct policy_hold h = {0};
	struct hold_reading r;

	r = reading(10, 90000, 500);
	r.nsample = 0;
	ok(policy_hold_decide(&p, &h, &r) == 0, "hold: under the line with no growth, nothing");
	ok(h.estimate == 180, "hold: without a sample, bytes per entry is used_memory per tracked entry");

	memset(&h, 0, sizeof(h));
	r = reading(10, 101000, 500);
	ok(policy_hold_decide(&p, &h, &r) == 10, "hold: 1000 bytes over at 100 bytes an entry: 10 entries");
	ok(h.last_entries == 10 && h.last_bytes == 1000 && h.last_at == 10 && h.estimate == 100,
	   "hold: the correction and the estimate are recorded");

	/* The head changes size: 2 sampled keys of 100 bytes, each standing
	 * for 5 entries, then 1000-byte ones.  3000 bytes over are the ten
	 * small entries and two large ones, not 3000 / the mean. */
	{
		uint64_t v[HOLD_SAMPLES] = {100, 100};

		for (size_t i = 2; i < HOLD_SAMPLES; i++)
			v[i] = 1000;
		memset(&h, 0, sizeof(h));
		r = reading(10, 103000, 500);
		r.sample = v;
		r.step = 5;
		ok(policy_hold_decide(&p, &h, &r) == 12, "hold: entries are counted along the sampled head");
		r.pending = 10;		/* the small ones are on their way already */
		h.have_prev = false;
		ok(policy_hold_decide(&p, &h, &r) == 2, "hold: ... from after the entries already on their way");
		h.last_more = 100;
		ok(policy_hold_step(&p, &h, 60) == 27, "hold: the next sample spans what is on its way and 8 times more");
	}

	memset(&h, 0, sizeof(h));
	r = reading(10, 100950, 500);
	ok(policy_hold_decide(&p, &h, &r) == 10, "hold: a part of an entry over takes a whole entry");
	policy_hold_restart(&h);	/* no growth learnt from the first reading */
	r = reading(10.1, 101000, 500);
	r.pending = 4;		/* on their way out when INFO ran: not yet gone */
	r.pending_now = 1;	/* 3 of them were sent since */
	ok(policy_hold_decide(&p, &h, &r) == 7, "hold: entries already on their way count: 1 left + 6 more");

	/* Lazy freeing: 10 large values UNLINKed but not yet freed. */
	memset(&h, 0, sizeof(h));
	r = reading(10, 101000, 500);
	r.lazyfree_pending_objects = 10;
	ok(policy_hold_decide(&p, &h, &r) == 0, "hold: memory that Redis is still freeing is not removed twice");
	ok(h.lazy_bytes == 1000, "hold: the lazy-free correction is recorded");
	policy_hold_restart(&h);
	r = reading(10.1, 101000, 500);
	r.lazyfree_pending_objects = 4;
	ok(policy_hold_decide(&p, &h, &r) == 6, "hold: as Redis frees them, only the rest is corrected");

	/* Under the line with a cycle still running: trim it, not beyond it. */
	memset(&h, 0, sizeof(h));
	r = reading(10, 99450, 500);
	r.pending_now = 8;
	ok(policy_hold_decide(&p, &h, &r) == 3, "hold: 550 bytes under: 5 whole entries of the cycle are cancelled");
	r = reading(10.1, 50000, 500);
	r.pending_now = 3;
	ok(policy_hold_decide(&p, &h, &r) == 0, "hold: never fewer than nothing");
}

static void test_hold_growth_and_caps(void)
{
	struct policy p = hold_policy(100000, 100, 1);
	struct policy_hold h = {0};
	struct hold_reading r;
	uint64_t n;

	/* Memory grows 10000 bytes/s and nothing is deleted: the growth is
	 * learnt, and a decision aims half an interval (500 bytes) ahead. */
	for (int i = 0; i <= 40; i++) {
		r = reading(10 + 0.1 * i, 90000 + 1000 * (uint64_t)i, 500);
		policy_hold_decide(&p, &h, &r);
	}
	ok(fabs(h.growth - 10000) < 100, "hold: growth learnt from the readings (%.0f bytes/s)", h.growth);

	memset(&h, 0, sizeof(h));
	r = reading(20, 99000, 500);
	h.growth = 40000;	/* 2000 bytes in half an interval */
	h.have_prev = false;
	ok(policy_hold_decide(&p, &h, &r) == 10, "hold: 1000 under but 2000 coming: 10 entries now");
	h.growth = -5000;
	h.have_prev = false;
	r = reading(20.1, 100000, 500);
	ok(policy_hold_decide(&p, &h, &r) == 0, "hold: shrinking memory brings nothing back");

	/* The caps: 100 entries per 1 s period, as a token bucket. */
	memset(&h, 0, sizeof(h));
	r = reading(30, 200000, 5000);
	n = policy_hold_decide(&p, &h, &r);
	ok(n == 100 && h.capped && h.capped_total == 1, "hold: 1000 entries wanted, the caps allow a batch (100)");
	r = reading(30.5, 190000, 5000);
	r.pending_now = 0;
	ok(policy_hold_decide(&p, &h, &r) == 50, "hold: half a period later, half a batch");
	policy_hold_refund(&p, &h, 20);
	r = reading(30.5, 190000, 5000);
	ok(policy_hold_decide(&p, &h, &r) == 20, "hold: what could not start is given back");
	r = reading(40, 100050, 5000);
	ok(policy_hold_decide(&p, &h, &r) == 1 && !h.capped, "hold: within the caps again");
	ok(h.tokens == 99, "hold: the bucket holds at most one batch");
}

/* ---- hold mode in a closed loop: a model of the server ------------------------------- */

/* The model: entries in creation order with their sizes, memory besides
 * them, and values Redis frees in the background one reading late.  Each
 * interval: a reading (with a MEMORY USAGE sample, 3% under the truth, as
 * measured), the decision, the deletions (all before the next reading),
 * then the load in four quarters, each a sample for the band. */
#define SIM_CAP (1u << 20)

struct sim {
	double *size;			/* a ring of SIM_CAP entries */
	size_t head, count;
	double entries_bytes, base, lazy_bytes;
	uint64_t lazy_objects, deletes, created, removed;
	double lazy_share;		/* of a deleted entry's bytes freed in the background */
	bool report_lazy;		/* INFO shows lazyfree_pending_objects */
	double pace;			/* entries/s the flush deletes; 0: all at once */
	uint64_t pending;		/* decided, not yet deleted: still at the head */
	double t;
	/* the band, from when memory first reaches the line */
	bool reached;
	double sum, min, max, after_peak_back;
	uint64_t samples, outside5;
};

static double sim_memory(const struct sim *m)
{
	return m->base + m->entries_bytes + m->lazy_bytes;
}

static void sim_note(struct sim *m, double threshold)
{
	double rel = sim_memory(m) / threshold - 1;

	if (!m->reached && rel < 0)
		return;
	m->reached = true;
	m->sum += rel;
	m->min = m->samples == 0 || rel < m->min ? rel : m->min;
	m->max = m->samples == 0 || rel > m->max ? rel : m->max;
	m->samples++;
	m->outside5 += fabs(rel) > 0.05;
}

static void sim_delete(struct sim *m, uint64_t n)
{
	for (uint64_t i = 0; i < n && m->count > 0; i++) {
		double s = m->size[m->head];

		m->head = (m->head + 1) % SIM_CAP;
		m->count--;
		m->entries_bytes -= s;
		m->lazy_bytes += s * m->lazy_share;	/* freed later: still counted */
		m->lazy_objects += m->lazy_share > 0;
		m->deletes++;
		m->removed++;
		m->pending--;
	}
}

static void sim_step(struct sim *m, const struct policy *p, struct policy_hold *h, double rate, double size)
{
	struct hold_reading r = reading(m->t, (uint64_t)sim_memory(m), m->count);
	uint64_t v[HOLD_SAMPLES], step = policy_hold_step(p, h, m->pending);
	size_t keys = 0;

	/* What a reading sees of lazy frees; they are done by the next. */
	r.lazyfree_pending_objects = m->report_lazy ? m->lazy_objects : 0;
	r.deletes_sent = m->deletes;
	r.pending = r.pending_now = m->pending;
	for (; keys < HOLD_SAMPLES && keys * step < m->count; keys++)
		v[keys] = (uint64_t)(m->size[(m->head + keys * step) % SIM_CAP] * 0.97);
	r.sample = v;
	r.nsample = keys;
	r.step = step;
	r.now = m->t + 0.002;
	m->pending = policy_hold_decide(p, h, &r);
	m->lazy_bytes = 0;	/* the background frees seen by the reading are done */
	m->lazy_objects = 0;
	for (int q = 0; q < 4; q++) {
		double k = rate * p->hold_interval_secs / 4;

		sim_delete(m, m->pace == 0 ? m->pending
					   : (uint64_t)fmin((double)m->pending, m->pace * p->hold_interval_secs / 4));
		for (int i = 0; i < (int)k && m->count < SIM_CAP; i++) {
			m->size[(m->head + m->count++) % SIM_CAP] = size;
			m->entries_bytes += size;
			m->created++;
		}
		sim_note(m, (double)p->flush_when_at_least_bytes);
	}
	m->t += p->hold_interval_secs;
}

static struct sim *sim_new(double lazy_share, bool report_lazy)
{
	struct sim *m = calloc(1, sizeof(*m));

	m->size = calloc(SIM_CAP, sizeof(*m->size));
	m->base = 1 * MIB;
	m->lazy_share = lazy_share;
	m->report_lazy = report_lazy;
	m->t = 100;
	return m;
}

static void sim_free(struct sim *m)
{
	free(m->size);
	free(m);
}

/* The targets of issue 16, on the model: the demo's load and settings. */
static void test_hold_loop_steady(void)
{
	struct policy p = hold_policy(32 * 1048576, 40000, 1);
	struct policy_hold h = {0};
	struct sim *m = sim_new(0, true);
	uint64_t removed_before = 0;

	for (int i = 0; i < 600; i++) {
		if (i == 200)
			removed_before = m->removed;
		sim_step(m, &p, &h, 25000, 480);
	}
	ok(m->reached, "loop: memory reached the line");
	ok(fabs(m->sum / (double)m->samples) < 0.02, "loop, steady: mean %+.2f%% of the line (within 2%%)",
	   100 * m->sum / (double)m->samples);
	ok(m->outside5 == 0, "loop, steady: every sample within 5%% (%+.2f%% to %+.2f%%)", 100 * m->min, 100 * m->max);
	ok(fabs((double)(m->removed - removed_before) / 40.0 / 25000 - 1) < 0.02,
	   "loop, steady: removes what the load adds (%.0f/s)", (double)(m->removed - removed_before) / 40.0);
	sim_free(m);
}

/* Values grow tenfold (100 to 1000 bytes), or shrink as much: once the
 * new ones reach the head, each entry removed frees ten times more (or
 * less), and a stale estimate would remove ten times too many (or too
 * few).  Uncapped, so that only the estimate is tested: the caps' share
 * (40000 entries/s of 100 bytes cannot offset 25000/s of 1000) is the
 * bench's to measure. */
static void test_hold_loop_shift(void)
{
	struct policy p = hold_policy(32 * 1048576, 1000000000, 1);
	double sizes[2][2] = {{100, 1000}, {1000, 100}};

	for (int d = 0; d < 4; d++) {
		struct policy_hold h = {0};
		struct sim *m = sim_new(0, true);

		/* Then again with a flush that lags: 400000 entries/s, where the
		 * small values need 250000/s, so that entries already decided are
		 * still at the head at the next reading. */
		m->pace = d < 2 ? 0 : 400000;
		for (int i = 0; i < 1500; i++)
			sim_step(m, &p, &h, 25000, sizes[d % 2][i >= 300]);
		ok(m->min > -0.10 && m->max < 0.10 && fabs(m->sum / (double)m->samples) < 0.02,
		   "loop, values of %.0f then %.0f bytes%s: within 10%% (%+.2f%% to %+.2f%%), mean %+.2f%%",
		   sizes[d % 2][0], sizes[d % 2][1], m->pace ? ", flush paced" : "", 100 * m->min, 100 * m->max,
		   100 * m->sum / (double)m->samples);
		sim_free(m);
	}
}

/* Large values that Redis frees in the background, a reading late (the
 * model's lag is a whole interval: far longer than Redis's, so that every
 * reading sees it).  The memory still being freed is real memory, so the
 * line is held with that backlog on top (0.9 of 3000 entries of 4000
 * bytes a second, for 0.1 s: 3.2% of the line); but with
 * lazyfree_pending_objects it is never removed twice, and without it,
 * memory sinks below the line. */
static void test_hold_loop_lazy(void)
{
	struct policy p = hold_policy(32 * 1048576, 40000, 1);
	struct policy_hold h = {0}, h2 = {0};
	struct sim *m = sim_new(0.9, true), *blind = sim_new(0.9, false);
	double backlog = 0.9 * 3000 * 0.1 * 4000 / (32 * MIB), mean;

	for (int i = 0; i < 400; i++) {
		sim_step(m, &p, &h, 3000, 4000);
		sim_step(blind, &p, &h2, 3000, 4000);
	}
	mean = m->sum / (double)m->samples;
	ok(fabs(mean - backlog) < 0.02 && m->min > -0.02,
	   "loop, lazy freeing corrected: mean %+.2f%% (the backlog %.2f%% of it), never below %+.2f%%", 100 * mean,
	   100 * backlog, 100 * m->min);
	ok(blind->min < m->min - 0.03, "loop, lazy freeing ignored: sinks further (%+.2f%%, against %+.2f%%)",
	   100 * blind->min, 100 * m->min);
	sim_free(m);
	sim_free(blind);
}

/* A burst of four times the load for a second: the caps (40000 per 1 s)
 * let memory rise, and the loop brings it back within the band. */
static void test_hold_loop_burst(void)
{
	struct policy p = hold_policy(32 * 1048576, 40000, 1);
	struct policy_hold h = {0};
	struct sim *m = sim_new(0, true);
	double back = -1, peak = 0;

	for (int i = 0; i < 300; i++)
		sim_step(m, &p, &h, 25000, 480);
	for (int i = 0; i < 10; i++)
		sim_step(m, &p, &h, 100000, 480);
	for (int i = 0; i < 100; i++) {
		double rel = sim_memory(m) / (double)p.flush_when_at_least_bytes - 1;

		peak = fmax(peak, rel);
		if (back < 0 && fabs(rel) < 0.05)
			back = i * p.hold_interval_secs;
		sim_step(m, &p, &h, 25000, 480);
	}
	ok(h.capped_total > 0, "loop, burst: the caps held hold mode back");
	ok(back >= 0 && back <= 3, "loop, burst: back within 5%% %.1f s after the burst (peak %+.1f%%)", back,
	   100 * fmax(peak, m->max));
	sim_free(m);
}

int main(void)
{
	struct policy p = make(1000, 10, 50);

	ok(!policy_over_threshold(&p, 999), "below the threshold is not over");
	ok(policy_over_threshold(&p, 1000), "at the threshold is over (>=, as Ray)");
	ok(policy_over_threshold(&p, 5000), "above the threshold is over");

	ok(policy_should_flush(&p, 1000, 1.0), "first flush allowed at once when over");
	ok(!policy_should_flush(&p, 999, 1.0), "no flush below the threshold");
	policy_record_flush(&p, 100.0);
	ok(!policy_should_flush(&p, 5000, 105.0), "no second flush within the period");
	ok(!policy_should_flush(&p, 5000, 109.999), "still within the period just before it ends");
	ok(policy_should_flush(&p, 5000, 110.0), "flush allowed once the period has passed");
	ok(!policy_should_flush(&p, 10, 200.0), "period passed but below the threshold");
	policy_record_flush(&p, 110.0);
	ok(!policy_should_flush(&p, 5000, 115.0), "a flush restarts the period");
	ok(policy_entries_to_flush(&p) == 50, "entries per flush comes from the policy");

	p = make(0, 0.5, 1);
	ok(policy_should_flush(&p, 0, 1.0), "a zero threshold is always over");

	{
		struct buf errs;
		struct conf *c;
		const char *path = "policy-test.conf";
		FILE *f = fopen(path, "w");

		buf_init(&errs);
		fputs("[daemon]\nstate_dir = /tmp\n[policy]\nflush_period_secs = 2.5\n"
		      "[shard:a]\naddress = unix:/x\nflush_num_entries_each_time = 7\n", f);
		fclose(f);
		c = conf_load(path, &errs);
		ok(c != NULL, "config for policy_from_conf loads");
		if (c != NULL) {
			policy_from_conf(&p, c->shards[0]);
			ok(p.flush_period_secs == 2.5 && p.src_period == SRC_CONFIG, "period from [policy]");
			ok(p.flush_num_entries_each_time == 7 && p.src_entries == SRC_SHARD, "entries from the shard");
			ok(p.flush_when_at_least_bytes == 2147483648ULL && p.src_threshold == SRC_DEFAULT,
			   "threshold default is 2 GiB, from default");
			test_runtime(c->shards[0]);
		}
		conf_free(c);
		buf_free(&errs);
		remove(path);
	}
	test_hold_steps();
	test_hold_growth_and_caps();
	test_hold_loop_steady();
	test_hold_loop_shift();
	test_hold_loop_lazy();
	test_hold_loop_burst();
	return tap_done();
}
