#!/usr/bin/env bats
# match.bats: the match patterns are Redis's glob byte for byte.  Keyspace
# events are filtered by src/match.c while reconciliation asks the server
# with SCAN MATCH, so both must select the same keys: tests/match_live.py
# compares them on a live redis-server, for hand-picked tricky patterns and
# random ones from a fixed, printed seed (MATCH_SEED=N to try another); and
# the daemon, given such a pattern, tracks the same keys both ways.

# shellcheck disable=SC2154
load helpers
load flushing

MATCH_SELECT=$top_builddir/tests/match-select

setup() {
	common_setup
	[[ -x $MATCH_SELECT ]] || fail "match-select not built in $top_builddir/tests"
}

teardown() {
	common_teardown
}

@test "match_glob selects exactly the keys SCAN MATCH selects" {
	local seed=${MATCH_SEED:-20261203}
	redis_start a
	run -0 timeout 60 "$PY" "$top_srcdir/tests/match_live.py" "$(redis_sock a)" "$MATCH_SELECT" "$seed" 2000
	echo "${lines[-1]}" >&3
}

@test "with match = k[a-]*, reconciliation and keyspace events track the keys SCAN MATCH selects" {
	redis_start a
	# Before the daemon: found by reconciliation, which sends SCAN MATCH.
	printf 'SET %s v\n' 'k]' 'k^' 'ka' 'k*' 'kab' 'k-' 'kb' 'k' 'x' | rcmds a
	conf_base "" 'flush_when_at_least_bytes = 1TiB'
	conf_shard a "unix:$(redis_sock a)" 'match = k[a-]*'
	daemon_start
	shard_ready a
	run status_field a reconcile_added_total
	assert_output 4
	# After: keyspace events, filtered by match_glob.  Events come in order,
	# so the keys that must not match go first: once the last key that
	# matches is counted, the others have been seen.
	printf 'SET %s v\n' 'k-x' 'kc' 'kaa' 'k[' 'k]]' 'k_' 'k`' | rcmds a
	wait_for shard_is a tracked_entries 6
	run redis_cli a --scan --pattern 'k[a-]*'
	assert_equal "${#lines[@]}" 6
	daemon_stop
}
