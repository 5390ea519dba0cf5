#!/usr/bin/env bats
# match.bats: the match patterns are Redis's glob byte for byte.  Keyspace
# events are filtered by src/match.c while reconciliation asks the server
# with SCAN MATCH, so both must select the same keys: tests/match_live.py
# compares them on a live redis-server, for hand-picked tricky patterns and
# random ones from a fixed, printed seed (MATCH_SEED=N to try another).

# shellcheck disable=SC2154
load helpers

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
