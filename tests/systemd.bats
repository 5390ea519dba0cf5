#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2154
# (SC2016: $MAINPID is meant literally; SC2154: helpers.bash sets top_srcdir.)
# systemd.bats: the unit keeps what the daemon needs, and its hardening does
# not slip: systemd-analyze's exposure score stays at or below the value
# reached when the unit was last tightened (README, "What the systemd unit
# restricts").  Skipped where systemd-analyze is missing.

load helpers

# Raise only with a reason written in systemd/gcs-flushd.service.in.
MAX_EXPOSURE=1.6

setup() {
	UNIT=$BATS_TEST_TMPDIR/gcs-flushd.service
	# The same substitution as the Makefile's, so the test needs no build.
	sed -e 's|@sbindir@|/usr/sbin|g' -e 's|@sysconfdir@|/etc|g' \
		"$top_srcdir/systemd/gcs-flushd.service.in" >"$UNIT"
}

@test "the unit keeps what the daemon needs" {
	local want
	for want in 'Type=notify' 'ExecStart=/usr/sbin/gcs-flushd -c /etc/gcs-flushd.conf' \
		'ExecReload=/bin/kill -HUP $MAINPID' 'RuntimeDirectory=gcs-flushd' \
		'StateDirectory=gcs-flushd' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
		'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes'; do
		grep -qxF -- "$want" "$UNIT" || fail "the unit lacks: $want"
	done
	# Nothing may take away the network or the paths the daemon uses.
	run grep -E '^(PrivateNetwork=yes|IPAddressDeny=|PrivateUsers=yes|DynamicUser=yes|ReadOnlyPaths=.*/(run|var/lib)/gcs-flushd)' "$UNIT"
	assert_failure
}

@test "systemd-analyze security: exposure at most $MAX_EXPOSURE" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	run systemd-analyze security --offline=yes "$UNIT"
	# Exit status 1 only means "above the default threshold"; judge the score.
	local score
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$output")
	[[ -n $score ]] || fail "no exposure level in: $output"
	echo "# exposure $score (at most $MAX_EXPOSURE)" >&3
	awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' ||
		fail "exposure $score is above $MAX_EXPOSURE; what changed:
$(grep '✗' <<<"$output")"
}
