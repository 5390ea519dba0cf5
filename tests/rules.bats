#!/usr/bin/env bats
# rules.bats: the shipped alert rules (etc/gcs-flushd.rules.yml) are valid
# for Prometheus, and each alert fires on the condition it names and stays
# quiet on its neighbours (tests/rules_test.yml, run by promtool).

load helpers

RULES=$top_srcdir/etc/gcs-flushd.rules.yml
RULES_TEST=$top_srcdir/tests/rules_test.yml

@test "promtool check rules accepts etc/gcs-flushd.rules.yml" {
	run promtool check rules "$RULES"
	assert_success
	assert_output --partial 'SUCCESS: 4 rules found'
}

@test "promtool test rules: every alert fires on its condition, after its 'for', and not otherwise" {
	local alert
	# Every alert of the file has a test case.
	for alert in $(sed -n 's/^ *- alert: *//p' "$RULES"); do
		grep -q "alertname: $alert\$" "$RULES_TEST" || fail "no test case for $alert"
	done
	run promtool test rules "$RULES_TEST"
	assert_success
	assert_output --partial SUCCESS
}

@test "a rules file that no longer fires as it should fails the test" {
	# The test can fail: a copy of the rules with the paused exception and
	# the archive condition broken must not pass.
	mkdir -p "$BATS_TEST_TMPDIR/etc" "$BATS_TEST_TMPDIR/tests"
	cp "$RULES_TEST" "$BATS_TEST_TMPDIR/tests/"
	sed -e 's/ and gcs_flushd_paused == 0//' -e 's/archive_blocked == 1/archive_blocked == 0/' \
		"$RULES" >"$BATS_TEST_TMPDIR/etc/gcs-flushd.rules.yml"
	run promtool test rules "$BATS_TEST_TMPDIR/tests/rules_test.yml"
	assert_failure
	assert_output --partial 'GcsFlushdNoProgress'
	assert_output --partial 'GcsFlushdArchiveBlocked'
}
