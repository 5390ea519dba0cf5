#!/usr/bin/env bats
# lifecycle.bats: signals, reload, a second daemon, and the sd_notify
# protocol seen on a test NOTIFY_SOCKET.

# helpers.bash sets top_srcdir and reads EXPECT_LOG_ERRORS*; bats sets stderr.
# shellcheck disable=SC2154,SC2034
load helpers

setup() {
	common_setup
}

teardown() {
	common_teardown
}

# have_systemd: gcs-flushd -V says it was built with sd_notify.
have_systemd() {
	"$GCS_FLUSHD" -V 2>&1 | grep -q 'systemd: yes'
}

# notify_start: a stand-in notify socket; datagrams land in $NOTIFY_OUT.
notify_start() {
	NOTIFY_SOCK=$TEST_DIR/notify.sock
	NOTIFY_OUT=$TEST_DIR/notify.out
	: >"$NOTIFY_OUT"
	$PY "$top_srcdir/tests/notify-listen.py" "$NOTIFY_SOCK" "$NOTIFY_OUT" \
		>>"$TEST_DIR/notify-listen.log" 2>&1 3>&- </dev/null &
	record_pid notify-listen $!
	wait_for -t 10 test -S "$NOTIFY_SOCK"
}

# notify_line REGEX [AFTER_LINE]: the number of the first datagram (line)
# after AFTER_LINE with an assignment that matches REGEX as a whole.
notify_line() {
	awk -F '\t' -v re="^($1)\$" -v after="${2:-0}" '
		NR > after { for (i = 1; i <= NF; i++) if ($i ~ re) { print NR; exit } }
	' "$NOTIFY_OUT"
}

# notify_has REGEX [AFTER_LINE]: for wait_for.
notify_has() {
	[[ -n $(notify_line "$@") ]] || {
		echo "no datagram with /$1/ after line ${2:-0}:"
		cat "$NOTIFY_OUT"
		return 1
	}
}

# Two redis servers and a config with shards a and b on them.
two_shards() {
	redis_start r1
	redis_start r2
	conf_base
	conf_shard a "unix:$(redis_sock r1)" "${@}"
	conf_shard b "unix:$(redis_sock r2)"
}

# ---- signals -----------------------------------------------------------------

@test "SIGTERM exits 0 and removes the control socket" {
	two_shards
	daemon_start
	wait_for shard_is a state connected
	[[ -S $CTL_SOCK ]]
	daemon_stop
	[[ ! -e $CTL_SOCK ]] || fail "control socket left behind"
	grep -q 'AddressSanitizer' "$DAEMON_LOG" && fail "sanitizer report" || true
}

@test "SIGINT exits 0 too" {
	two_shards
	daemon_start
	stop_pid "$DAEMON_PID" INT 10
	rm -f "$PID_DIR/daemon.pid"
	[[ $STOP_STATUS == 0 ]] || fail "exit status $STOP_STATUS: $(cat "$DAEMON_LOG")"
	[[ ! -e $CTL_SOCK ]]
}

@test "SIGTERM right after start exits 0" {
	conf_base
	conf_shard a "unix:$TEST_DIR/nothing-here.sock"
	daemon_start
	daemon_stop
}

# a_flush_runs_on_b: two shards; b (the later one) has 2000 keys and a
# forced flush of them paced at 100 a second in flight, whose client waits.
a_flush_runs_on_b() {
	two_shards
	sed -i 's/^\[shard:b\]$/[shard:b]\nflush_max_entries_per_sec = 100/' "$CONF"
	daemon_start
	wait_for shard_is b state connected
	seq -f 'SET k:%g v' 1 2000 | redis_cli r2 >/dev/null
	wait_for shard_is b tracked_entries 2000
	ctl flush b 2000 >"$TEST_DIR/flush.out" 2>&1 3>&- &
	record_pid flusher $!
	wait_for shard_is b flushing true
}

@test "SIGTERM while a later shard's flush runs: the daemon exits 0, and its client is let go" {
	# The ended flush makes the daemon recount its shards while it frees
	# them: it must not meet one it freed already (AddressSanitizer says
	# heap-use-after-free if it does; a plain build may crash).
	a_flush_runs_on_b
	daemon_stop
	wait_gone "$(pid_of flusher)" 5
	run cat "$TEST_DIR/flush.out"
	assert_output --regexp 'gcs-flushctl: (node removed|gcs-flushd closed .* without replying)'
}

@test "a reload that removes a shard while its flush runs: the flush ends, its client hears, the rest goes on" {
	a_flush_runs_on_b
	conf_base
	conf_shard a "unix:$(redis_sock r1)"
	run ctl reload
	assert_success
	assert_output 'reloaded: removed b; 1 unchanged'
	wait_gone "$(pid_of flusher)" 5
	run cat "$TEST_DIR/flush.out"
	assert_output --regexp 'gcs-flushctl: (node removed|shard removed)'
	run ctl status
	assert_success
	daemon_stop
}

@test "a stale control socket left by a killed daemon is replaced" {
	two_shards
	daemon_start
	stop_pid "$DAEMON_PID" KILL 5
	rm -f "$PID_DIR/daemon.pid"
	[[ -S $CTL_SOCK ]]
	daemon_start
	wait_for shard_is a state connected
	daemon_stop
}

@test "a second daemon on the same control socket refuses to start" {
	two_shards
	daemon_start
	local other=$TEST_DIR/other.conf
	conf_base "$other"
	run timeout 20 "$GCS_FLUSHD" -c "$other"
	assert_failure 1
	assert_output --partial "$CTL_SOCK"
	# The first one is untouched and still answers.
	[[ -S $CTL_SOCK ]]
	run ctl --json status
	assert_success
	run json_eval "j['pid']" <<<"$output"
	assert_output "$DAEMON_PID"
	daemon_stop
}

# ---- reload ------------------------------------------------------------------

@test "SIGHUP adds a shard" {
	two_shards
	daemon_start
	redis_start r3
	conf_shard c "unix:$(redis_sock r3)"
	kill -HUP "$DAEMON_PID"
	wait_for names_are 'a b c'
	wait_for shard_is c state connected
	run shard_names
	assert_output 'a b c'
	daemon_stop
}

@test "SIGHUP removes a shard and leaves the others alone" {
	two_shards
	daemon_start
	wait_for shard_is a state connected
	wait_for shard_is b state connected
	conf_base
	conf_shard a "unix:$(redis_sock r1)"
	kill -HUP "$DAEMON_PID"
	wait_for names_are 'a'
	run status_field a connects_total
	assert_output 1
	run status_field a state
	assert_output connected
	# b's connection is closed.
	wait_for client_count r2 1
	daemon_stop
}

names_are() {
	local n

	n=$(shard_names) || return 1
	[[ $n == "$1" ]] || {
		echo "shards are '$n', not '$1'"
		return 1
	}
}

# client_count REDIS N: N clients connected (counting the asking redis-cli).
client_count() {
	local n

	n=$(redis_cli "$1" INFO clients | tr -d '\r' | sed -n 's/^connected_clients://p')
	[[ $n == "$2" ]] || {
		echo "$1 has $n clients, not $2"
		return 1
	}
}

@test "SIGHUP changing a threshold flips over_threshold without reconnecting" {
	two_shards 'flush_when_at_least_bytes = 1TiB'
	daemon_start
	wait_for shard_is a state connected
	wait_for shard_is a over_threshold false
	run status_field a flush_when_at_least_bytes
	assert_output 1099511627776
	conf_base
	conf_shard a "unix:$(redis_sock r1)" 'flush_when_at_least_bytes = 1'
	conf_shard b "unix:$(redis_sock r2)"
	kill -HUP "$DAEMON_PID"
	wait_for shard_is a flush_when_at_least_bytes 1
	wait_for shard_is a over_threshold true
	run status_field a connects_total
	assert_output 1
	run status_field b over_threshold
	assert_output false
	daemon_stop
}

@test "gcs-flushctl reload reports added, removed, changed and unchanged shards" {
	redis_start r1
	redis_start r2
	conf_base
	conf_shard a "unix:$(redis_sock r1)"
	conf_shard b "unix:$(redis_sock r1)" 'db = 1'
	conf_shard d "unix:$(redis_sock r2)"
	daemon_start
	wait_for shard_is a state connected
	conf_base
	conf_shard a "unix:$(redis_sock r1)" 'flush_period_secs = 0.5'
	conf_shard c "unix:$(redis_sock r2)" 'db = 2'
	conf_shard d "unix:$(redis_sock r2)"
	run ctl --json reload
	assert_success
	run json_eval "(j['ok'], j['added'], j['removed'], j['changed'], j['unchanged'])" <<<"$output"
	assert_output '[true, ["c"], ["b"], ["a"], ["d"]]'
	run shard_names
	assert_output 'a c d'
	run status_field a flush_period_secs
	assert_output 0.5
	wait_for shard_is c state connected
	# A plain reload of the same file changes nothing and exits 0.
	run ctl reload
	assert_success
	run ctl --json reload
	run json_eval "(j['added'], j['removed'], j['changed'], sorted(j['unchanged']))" <<<"$output"
	assert_output '[[], [], [], ["a", "c", "d"]]'
	daemon_stop
}

@test "reload with a changed address reconnects that shard" {
	two_shards
	daemon_start
	wait_for shard_is a state connected
	conf_base
	conf_shard a "unix:$(redis_sock r2)" 'db = 5'
	conf_shard b "unix:$(redis_sock r2)"
	run ctl --json reload
	assert_success
	run json_eval "(j['changed'], j['unchanged'])" <<<"$output"
	assert_output '[["a"], ["b"]]'
	wait_for shard_is a state connected
	run status_field a address
	assert_output "unix:$(redis_sock r2)"
	run status_field a db
	assert_output 5
	run redis_cli r2 CLIENT LIST
	assert_output --partial 'db=5'
	daemon_stop
}

@test "a failed reload keeps the old config and names FILE:LINE" {
	EXPECT_LOG_ERRORS_RE='reload failed'
	two_shards
	daemon_start
	wait_for shard_is a state connected
	cp "$CONF" "$TEST_DIR/good.conf"
	conf_base
	conf_shard a "unix:$(redis_sock r1)"
	conf_shard c "unix:$(redis_sock r2)" 'flush_period_secs = soon'
	local line
	line=$(grep -n 'flush_period_secs = soon' "$CONF" | cut -d: -f1)
	run --separate-stderr ctl --json reload
	assert_failure 1
	run json_eval "(j['ok'], '$CONF:$line: flush_period_secs' in j['error'])" <<<"$output"
	assert_output '[false, true]'
	run --separate-stderr ctl reload
	assert_failure 1
	[[ $stderr == *"$CONF:$line: "* ]] || fail "stderr: $stderr"
	run shard_names
	assert_output 'a b'
	# The same through SIGHUP: the daemon goes on and logs why.
	kill -HUP "$DAEMON_PID"
	wait_for grep -q "$CONF:$line: flush_period_secs" "$DAEMON_LOG"
	daemon_alive
	run shard_names
	assert_output 'a b'
	run status_field b state
	assert_output connected
	# Fixed, it loads.
	cp "$TEST_DIR/good.conf" "$CONF"
	conf_shard -f "$CONF" c "unix:$(redis_sock r2)" 'flush_period_secs = 1'
	run ctl --json reload
	assert_success
	run shard_names
	assert_output 'a b c'
	daemon_stop
}

@test "a reload whose file vanished keeps the old config" {
	EXPECT_LOG_ERRORS_RE='reload failed'
	two_shards
	daemon_start
	mv "$CONF" "$CONF.away"
	run --separate-stderr ctl --json reload
	assert_failure 1
	run json_eval "j['ok']" <<<"$output"
	assert_output false
	run shard_names
	assert_output 'a b'
	mv "$CONF.away" "$CONF"
	daemon_stop
}

@test "reload removes a stalled shard with a command in flight" {
	two_shards
	daemon_start
	wait_for shard_is b state connected
	redis_pause r2
	sleep 0.5
	conf_base
	conf_shard a "unix:$(redis_sock r1)"
	run ctl --json reload
	assert_success
	run json_eval "j['removed']" <<<"$output"
	assert_output '["b"]'
	run shard_names
	assert_output a
	# Past the command timeout nothing of b is left to fire.
	sleep 1.5
	run ctl --json status
	assert_success
	redis_resume r2
	daemon_stop
}

@test "reload removes a shard that is down or connecting" {
	redis_start r1
	conf_base
	conf_shard a "unix:$(redis_sock r1)"
	conf_shard gone "unix:$TEST_DIR/nothing-here.sock"
	daemon_start
	wait_for shard_state_in gone down connecting
	conf_base
	conf_shard a "unix:$(redis_sock r1)"
	kill -HUP "$DAEMON_PID"
	wait_for names_are a
	sleep 1.5
	daemon_alive
	daemon_stop
}

@test "reload re-adding a removed shard connects it afresh" {
	two_shards
	daemon_start
	wait_for shard_is b state connected
	cp "$CONF" "$TEST_DIR/both.conf"
	conf_base
	conf_shard a "unix:$(redis_sock r1)"
	ctl reload >/dev/null
	cp "$TEST_DIR/both.conf" "$CONF"
	ctl reload >/dev/null
	wait_for shard_is b state connected
	run status_field b paused
	assert_output false
	daemon_stop
}

@test "a reload cannot move the control socket: it stays and says so" {
	two_shards
	daemon_start
	sed -i "s|^control_socket = .*|control_socket = $TEST_DIR/moved.sock|" "$CONF"
	run ctl --json reload
	assert_success
	[[ -S $CTL_SOCK && ! -e $TEST_DIR/moved.sock ]]
	run grep -c 'control_socket' "$DAEMON_LOG"
	refute_output 0
	daemon_stop
}

@test "control_socket_mode is applied" {
	conf_base
	sed -i 's/^\[daemon\]$/[daemon]\ncontrol_socket_mode = 0600/' "$CONF"
	daemon_start
	run stat -c %a "$CTL_SOCK"
	assert_output 600
	daemon_stop
}

@test "pause survives a reload of an unchanged shard" {
	two_shards
	daemon_start
	ctl pause a >/dev/null
	kill -HUP "$DAEMON_PID"
	run ctl --json reload
	assert_success
	run status_field a paused
	assert_output true
	daemon_stop
}

# ---- sd_notify ---------------------------------------------------------------

@test "gcs-flushd -V prints the version and whether systemd is built in" {
	run "$GCS_FLUSHD" -V
	assert_success
	assert_output --regexp '^gcs-flushd [0-9]+\.[0-9]+\.[0-9]+ \(systemd: (yes|no)\)$'
}

@test "READY=1 and STATUS= on NOTIFY_SOCKET, not waiting for shards" {
	have_systemd || skip "gcs-flushd built without systemd"
	redis_start r1
	conf_base
	conf_shard a "unix:$(redis_sock r1)"
	conf_shard down "unix:$TEST_DIR/nothing-here.sock"
	notify_start
	NOTIFY_SOCKET=$NOTIFY_SOCK daemon_start
	wait_for notify_has READY=1
	wait_for notify_has 'STATUS=.+'
	# STATUS comes no later than READY's datagram or after it.
	local ready
	ready=$(notify_line READY=1)
	daemon_stop
	wait_for notify_has STOPPING=1 "$ready"
}

@test "reload sends RELOADING=1 with MONOTONIC_USEC, then READY=1; stop sends STOPPING=1" {
	have_systemd || skip "gcs-flushd built without systemd"
	two_shards
	notify_start
	NOTIFY_SOCKET=$NOTIFY_SOCK daemon_start
	wait_for notify_has READY=1
	local before
	before=$(wc -l <"$NOTIFY_OUT")
	kill -HUP "$DAEMON_PID"
	wait_for notify_has RELOADING=1 "$before"
	local rl
	rl=$(notify_line RELOADING=1 "$before")
	[[ $(notify_line 'MONOTONIC_USEC=[0-9]+' "$((rl - 1))") == "$rl" ]] ||
		fail "no MONOTONIC_USEC with RELOADING=1: $(cat "$NOTIFY_OUT")"
	# MONOTONIC_USEC is CLOCK_MONOTONIC now, in microseconds.
	local usec
	usec=$(sed -n "${rl}p" "$NOTIFY_OUT" | tr '\t' '\n' | sed -n 's/^MONOTONIC_USEC=//p')
	run $PY -c "import time, sys; sys.exit(0 if abs(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6 - $usec) < 30e6 else 1)"
	assert_success
	wait_for notify_has READY=1 "$rl"
	# The same through the control socket.
	before=$(wc -l <"$NOTIFY_OUT")
	ctl reload >/dev/null
	wait_for notify_has RELOADING=1 "$before"
	wait_for notify_has READY=1 "$before"
	before=$(wc -l <"$NOTIFY_OUT")
	daemon_stop
	wait_for notify_has STOPPING=1 "$before"
}

@test "WATCHDOG=1 is sent from the loop when WATCHDOG_USEC is set" {
	have_systemd || skip "gcs-flushd built without systemd"
	two_shards
	notify_start
	WATCHDOG_USEC=400000 NOTIFY_SOCKET=$NOTIFY_SOCK daemon_start
	sleep 2
	local n
	n=$(tr '\t' '\n' <"$NOTIFY_OUT" | grep -cx 'WATCHDOG=1' || true)
	((n >= 5)) || fail "only $n WATCHDOG=1 in 2 s with WATCHDOG_USEC=400000: $(cat "$NOTIFY_OUT")"
	daemon_stop
}

@test "under journald (JOURNAL_STREAM set) log lines carry priority prefixes" {
	redis_start r1
	conf_base
	conf_shard a "unix:$(redis_sock r1)"
	conf_shard down "unix:$TEST_DIR/nothing-here.sock"
	JOURNAL_STREAM=8:12345 daemon_start
	wait_for shard_is a state connected
	wait_for grep -q '^<4>.*down' "$DAEMON_LOG"
	run grep -c '^<6>.*shard a' "$DAEMON_LOG"
	refute_output 0
	# journald stamps the time itself.
	run grep -cE '^[0-9]{4}-' "$DAEMON_LOG"
	assert_output 0
	daemon_stop
}

@test "log_level = warning hides info lines" {
	redis_start r1
	conf_base
	sed -i 's/^log_level = .*/log_level = warning/' "$CONF"
	conf_shard a "unix:$(redis_sock r1)"
	conf_shard down "unix:$TEST_DIR/nothing-here.sock"
	daemon_start
	wait_for shard_is a state connected
	wait_for grep -q ' warning: .*down' "$DAEMON_LOG"
	run grep -cE ' (info|debug): ' "$DAEMON_LOG"
	assert_output 0
	daemon_stop
}

@test "without NOTIFY_SOCKET the daemon runs as usual" {
	two_shards
	daemon_start
	wait_for shard_is a state connected
	daemon_stop
}
