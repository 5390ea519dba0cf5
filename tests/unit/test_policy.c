/* Unit tests for policy: Ray's SimpleGcsFlushPolicy semantics. */
#include "config.h"

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
	return tap_done();
}
