#!/usr/bin/env bats
# bench.bats: a smoke test of the benchmark suite (bench/run): it starts,
# measures one scenario against its baseline in the same run, and writes
# the table and the raw numbers.  Not a benchmark: no figure is judged,
# only that each is there.

load helpers

setup() {
	common_setup
}

teardown() {
	common_teardown
}

@test "bench/run --quick --only 5 prints its table, with the ratio, and writes its results" {
	local out=$TEST_DIR/bench

	[[ -x $top_srcdir/bench/run ]] || skip "bench/ is not in this tree"
	run timeout 300 "$top_srcdir/bench/run" --quick --only 5 --build "$top_builddir" --out "$out"
	assert_success
	assert_line --regexp '^5 ordering +share oldest, gcs-flushd \(25000 of 100000\) +1 +allkeys-lru'
	[[ -s $out/table.txt && -s $out/results.csv ]] || fail "no table.txt or results.csv in $out"
	# The row as data: gcs-flushd removed exactly the oldest, and the ratio
	# against the baseline of the same run is there.
	$PY - "$out/results.json" <<-'PYEOF'
		import json, sys
		d = json.load(open(sys.argv[1]))
		row = [r for r in d["table"] if r["scenario"] == "5 ordering"][0]
		assert row["value"] == 1.0, row
		assert 0 < row["baseline_value"] < 1 and row["ratio"] > 1, row
		assert row["holds"] is True, row
		assert d["machine"]["cores"] >= 1, d["machine"]
	PYEOF
}
