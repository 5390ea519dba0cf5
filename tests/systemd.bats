#!/usr/bin/env bats
# shellcheck disable=SC2154
# (SC2154: bats sets output and status.)
# systemd.bats: the Debian package, installed in a container that boots a
# real systemd as PID 1 (tests/container.bash), with the unit and the config
# exactly as the package ships them, driven with systemctl as an operator
# would: install, start, reload (good and bad), flush and archive under the
# sandbox, restore, kill -9, the watchdog, control_socket_group with its
# drop-in, stop, a reboot, the unit's exposure score, and purge.  The tests run in order on one container.
#
# The package is $GCS_TEST_DEB (script/test builds it once per run);
# without it the suite builds one with script/package.  Where no container
# can boot (not root, no CAP_SYS_ADMIN) the suite skips and says why, but
# fails when $CI is set: CI machines can, and must.

# Each test waits for systemd and the daemon several times.
BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-150}
load helpers
load container

REDIS_PORT=6390	# inside the container's own network namespace
CONF_PATH=/etc/gcs-flushd.conf
NKEYS=400

setup_file() {
	local why

	why=$(ct_unavailable)
	if [[ -n $why ]]; then
		[[ -z ${CI:-} ]] || fail "CI is set, but no container can boot here: $why"
		skip "no container with a real systemd can boot here: $why"
	fi
	DEB=${GCS_TEST_DEB:-}
	if [[ -z $DEB ]]; then
		DEB=$("$top_srcdir/script/package" "$BATS_FILE_TMPDIR/deb" | tail -n 1) ||
			fail "script/package failed"
	fi
	[[ -f $DEB ]] || fail "no package at '$DEB'"
	export DEB
	ct_init "$BATS_FILE_TMPDIR/ct"
	export CT_DIR
	cp "$DEB" "$CT_DIR/root/root/gcs-flushd.deb"
	ct_boot || fail "the container did not boot"
}

teardown_file() {
	ct_fini
}

setup() {
	ct_pids
}

teardown() {
	# Show what the service said when a test fails.
	if [[ -z ${BATS_TEST_COMPLETED:-} && -n ${CT_INIT:-} ]]; then
		echo "# journal of gcs-flushd:" >&3
		ct journalctl -b -u gcs-flushd --no-pager -n 30 2>&1 | sed 's/^/#   /' >&3 || true
	fi
}

# ---- helpers -------------------------------------------------------------------

main_pid() {
	ct systemctl show -P MainPID gcs-flushd
}

# running_pid: the main PID, never 0: "kill 0" would signal our own
# process group, bats included.
running_pid() {
	local pid

	pid=$(main_pid)
	[[ $pid =~ ^[1-9][0-9]*$ ]] || fail "gcs-flushd has no main process (MainPID '$pid')"
	echo "$pid"
}

status_text() {
	ct systemctl show -P StatusText gcs-flushd
}

# status_text_is PREFIX: systemd's StatusText= starts with PREFIX.
status_text_is() {
	[[ $(status_text) == "$1"* ]]
}

ct_status_json() {
	ct gcs-flushctl --json status
}

# shards_are JSON-LIST: the names of the shards in status.
shards_are() {
	[[ $(ct_status_json | json_eval '[s["name"] for s in j["shards"]]') == "$1" ]]
}

# shard_field FIELD: one field of shard primary, from the running daemon.
shard_field() {
	local js

	js=$(ct_status_json) || return 1
	json_eval "[s for s in j['shards'] if s['name'] == 'primary'][0]['$1']" <<<"$js"
}

field_is() {
	[[ $(shard_field "$1") == "$2" ]]
}

field_at_least() {
	local v

	v=$(shard_field "$1") || return 1
	((v >= $2))
}

ct_redis() {
	ct redis-cli -p "$REDIS_PORT" "$@"
}

# Appends the one change an operator makes: a [shard:NAME] section.
add_shard() {
	ct sh -c "cat >>$CONF_PATH" <<EOF

[shard:primary]
address = 127.0.0.1:$REDIS_PORT
$(printf '%s\n' "$@")
EOF
}

# set_shard_key KEY VALUE: changes (or adds) a key of [shard:primary].
set_shard_key() {
	ct sed -i "/^\[shard:primary\]/,\$ { /^$1 = /d }" "$CONF_PATH"
	ct sed -i "/^\[shard:primary\]/a $1 = $2" "$CONF_PATH"
}

pid_changed_from() {
	local now

	now=$(main_pid) || return 1
	[[ $now != 0 && $now != "$1" ]] && [[ $(ct systemctl is-active gcs-flushd) == active ]]
}

# The keys k:0001.. still in Redis must be a suffix of the creation order:
# whatever was flushed was the oldest.  Prints how many are gone.
assert_oldest_gone() {
	local left first expect

	left=$(ct_redis --scan --pattern 'k:*' | sort)
	first=$(head -n 1 <<<"$left")
	[[ -n $first ]] || fail "every key is gone"
	first=${first#k:}
	expect=$(seq -f 'k:%04g' "$((10#$first))" "$NKEYS")
	[[ $left == "$expect" ]] || fail "the keys left are not the newest ones: $(diff <(echo "$expect") <(echo "$left") | head -n 5)"
	GONE=$((10#$first - 1))
}

# oldest_gone_at_least N: at least N keys are gone, and they are the oldest.
oldest_gone_at_least() {
	assert_oldest_gone && ((GONE >= $1))
}

# ---- the suite ---------------------------------------------------------------------

@test "the package installs, and its service starts and waits for a shard" {
	run ct dpkg -i /root/gcs-flushd.deb
	assert_success
	wait_for -t 20 ct systemctl is-active gcs-flushd
	# Not root: the system user made by the package's sysusers.d file.
	run ct ps -o user= -p "$(running_pid)"
	assert_output "_gcs-flushd"
	run ct gcs-flushctl status
	assert_success
	assert_output --partial "no shards configured"
	run status_text
	assert_output --partial "no shards configured"
	run ct stat -c '%U %a' /run/gcs-flushd/control.sock
	assert_output "_gcs-flushd 660"
}

@test "lintian reports no errors in the package" {
	command -v lintian >/dev/null || fail "lintian is not installed (script/bootstrap installs it)"
	run lintian --fail-on error "$DEB"
	assert_success
}

@test "a shard added by systemctl reload connects, and StatusText follows" {
	ct systemd-run --quiet --unit=test-redis /usr/bin/redis-server --port "$REDIS_PORT" \
		--bind 127.0.0.1 --save '' --appendonly no --dir /tmp
	wait_for -t 20 ct_redis ping
	add_shard 'flush_when_at_least_bytes = 1TiB'
	run ct systemctl reload gcs-flushd
	assert_success
	wait_for -t 20 field_is state connected
	wait_for -t 20 field_is reconcile_state 'done'
	wait_for -t 10 status_text_is "1 shard: 1 connected"
}

@test "systemctl reload of an invalid config fails, says why, and keeps the old one" {
	local pid line

	pid=$(main_pid)
	ct cp "$CONF_PATH" /root/good.conf
	set_shard_key bogus_key 1
	line=$(ct grep -n '^bogus_key' "$CONF_PATH" | cut -d: -f1)
	run ct systemctl reload gcs-flushd
	assert_failure
	run ct systemctl status gcs-flushd --no-pager -n 20
	assert_output --partial "$CONF_PATH:$line: bogus_key"
	run ct journalctl -b -u gcs-flushd --no-pager
	assert_output --partial "reload failed, keeping the running config: $CONF_PATH:$line: bogus_key"
	[[ $(main_pid) == "$pid" ]] || fail "the daemon was restarted"
	[[ $(ct systemctl is-active gcs-flushd) == active ]] || fail "the service is not active"
	field_is state connected || fail "the shard is gone"
	ct cp /root/good.conf "$CONF_PATH"
	run ct systemctl reload gcs-flushd
	assert_success
}

@test "over the threshold, the oldest keys go first, archived under /var/lib/gcs-flushd, and restore brings them back" {
	awk -v n="$NKEYS" 'BEGIN { for (i = 1; i <= n; i++) printf "SET k:%04d v%04d\n", i, i }' |
		ct redis-cli -p "$REDIS_PORT" >/dev/null
	wait_for -t 20 field_is tracked_entries "$NKEYS"
	set_shard_key flush_when_at_least_bytes 1
	set_shard_key flush_period_secs 1
	set_shard_key flush_num_entries_each_time 5
	run ct systemctl reload gcs-flushd
	assert_success
	wait_for -t 30 field_at_least flushed_entries_total 10
	run ct gcs-flushctl pause primary
	assert_success
	assert_oldest_gone
	((GONE >= 10)) || fail "only $GONE keys are gone"
	# Archived by the daemon's own user, in its StateDirectory.
	run ct sh -c 'stat -c "%U" /var/lib/gcs-flushd/archive/primary/seg-*.gca | sort -u'
	assert_output "_gcs-flushd"
	run ct gcs-flushctl archive ls primary 'k:0001'
	assert_success
	assert_output --partial "k:0001"
	# restore runs outside the unit, as root, from the same config.
	run ct gcs-flushctl restore primary k:0001
	assert_success
	run ct_redis get k:0001
	assert_output "v0001"
	ct_redis del k:0001 >/dev/null
}

@test "kill -9 of the main process: systemd restarts it" {
	local pid

	pid=$(running_pid) || return 1
	ct kill -KILL "$pid"
	wait_for -t 30 pid_changed_from "$pid"
	wait_for -t 20 field_is state connected
}

@test "a stopped daemon is aborted by the watchdog and restarted, and the ledger keeps its order" {
	local pid before

	ct mkdir -p /etc/systemd/system/gcs-flushd.service.d
	ct sh -c 'printf "[Service]\nWatchdogSec=2\n" >/etc/systemd/system/gcs-flushd.service.d/watchdog.conf'
	ct systemctl daemon-reload
	ct systemctl restart gcs-flushd
	wait_for -t 20 field_is state connected
	assert_oldest_gone
	before=$GONE
	pid=$(running_pid) || return 1
	ct kill -STOP "$pid"
	wait_for -t 40 pid_changed_from "$pid"
	run ct journalctl -b -u gcs-flushd --no-pager
	assert_output --partial "Watchdog timeout"
	# The restarted daemon flushes on from its persisted ledger: still the oldest.
	wait_for -t 30 oldest_gone_at_least $((before + 10))
	assert_oldest_gone
	ct rm /etc/systemd/system/gcs-flushd.service.d/watchdog.conf
	ct systemctl daemon-reload
}

@test "control_socket_group needs the documented drop-in, and says what is missing without it" {
	local dropin=/etc/systemd/system/gcs-flushd.service.d/group.conf

	ct groupadd --system gcsops
	ct sed -i '/^\[daemon\]/a control_socket_group = gcsops' "$CONF_PATH"
	ct mkdir -p "${dropin%/*}"
	# The group alone is not enough: the unit filters chown() out.
	ct sh -c "printf '[Service]\nSupplementaryGroups=gcsops\n' >$dropin"
	ct systemctl daemon-reload
	run ct systemctl restart gcs-flushd
	assert_failure
	run ct journalctl -b -u gcs-flushd --no-pager -n 50
	assert_output --partial "chown /run/gcs-flushd/control.sock to group gcsops: Operation not permitted"
	ct sh -c "printf '[Service]\nSupplementaryGroups=gcsops\nSystemCallFilter=@chown\n' >$dropin"
	ct systemctl daemon-reload
	ct systemctl reset-failed gcs-flushd
	run ct systemctl restart gcs-flushd
	assert_success
	run ct stat -c '%G %a' /run/gcs-flushd/control.sock
	assert_output "gcsops 660"
	ct sed -i '/^control_socket_group = /d' "$CONF_PATH"
	ct rm "$dropin"
	ct systemctl daemon-reload
	ct systemctl restart gcs-flushd
}

@test "systemctl stop: the daemon exits 0 and removes its socket" {
	run ct systemctl stop gcs-flushd
	assert_success
	run ct systemctl show -P ExecMainStatus gcs-flushd
	assert_output 0
	run ct systemctl show -P Result gcs-flushd
	assert_output success
	run ct journalctl -b -u gcs-flushd --no-pager -n 5
	assert_output --partial "gcs-flushd[$(ct systemctl show -P ExecMainPID gcs-flushd)]: stopped"
	run ct test -e /run/gcs-flushd/control.sock
	assert_failure
}

@test "enabled, the service comes back after the machine reboots" {
	ct systemctl enable --quiet gcs-flushd
	ct_poweroff
	ct_boot
	wait_for -t 30 ct systemctl is-active gcs-flushd
	# The shard is still configured (its Redis was a transient unit, gone).
	wait_for -t 10 shards_are '["primary"]'
}

@test "systemd-analyze security scores the running unit as the unit file states" {
	local stated score

	stated=$(ct sed -n 's/.*(exposure \([0-9.]*\);.*/\1/p' /lib/systemd/system/gcs-flushd.service)
	[[ -n $stated ]] || fail "the unit file states no exposure figure"
	run ct systemd-analyze security --no-pager gcs-flushd
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$output")
	[[ -n $score ]] || fail "no exposure level in: $output"
	echo "# exposure $score (the unit states $stated)" >&3
	[[ $score == "$stated" ]] || fail "exposure $score, but the unit states $stated; what counts:
$(grep '✗' <<<"$output")"
}

@test "purge removes the config and keeps the archive of flushed entries" {
	run ct dpkg --purge gcs-flushd
	assert_success
	assert_output --partial "keeping /var/lib/gcs-flushd"
	run ct test -e "$CONF_PATH"
	assert_failure
	run ct sh -c 'ls /var/lib/gcs-flushd/archive/primary/seg-*.gca'
	assert_success
	run ct systemctl is-active gcs-flushd
	assert_failure
}
