#!/usr/bin/env bats
# control.bats: the control socket and gcs-flushctl: status (table and
# JSON), pause/resume, bad requests, exit codes and socket selection.

# helpers.bash sets top_srcdir and reads EXPECT_LOG_ERRORS*; bats sets stderr.
# shellcheck disable=SC2154,SC2034
load helpers

setup() {
	common_setup
	redis_start r1
	redis_start r2
	conf_base
	conf_shard lo "unix:$(redis_sock r1)" 'flush_when_at_least_bytes = 1'
	conf_shard hi "unix:$(redis_sock r2)" 'flush_when_at_least_bytes = 1TiB'
	daemon_start
	wait_for shard_is lo state connected
	wait_for shard_is hi state connected
}

teardown() {
	common_teardown
}

# table_cell ROW COLUMN: reads the status table on stdin and prints the
# cell of the shard named ROW under the left-aligned header COLUMN.
table_cell() {
	$PY -c '
import sys
rows = sys.stdin.read().splitlines()
hdr = [i for i, l in enumerate(rows) if sys.argv[2] in l.split()][0]
start = rows[hdr].index(sys.argv[2])
for l in rows[hdr + 1:]:
    if l.split() and l.split()[0] == sys.argv[1]:
        print(l[start:].split()[0])
        break
else:
    sys.exit("no row " + sys.argv[1])
' "$1" "$2"
}

# The daemon still answers status: the thing every bad-request test ends with.
assert_daemon_answers() {
	daemon_alive || fail "gcs-flushd died: $(cat "$DAEMON_LOG")"
	run ctl --json status
	assert_success
	assert_output --partial '"ok":'
}

# ---- status ------------------------------------------------------------------

@test "status table lists every shard with its state" {
	wait_for shard_used_memory_known lo
	run ctl status
	assert_success
	assert_line --regexp '^ *lo +.*connected'
	assert_line --regexp '^ *hi +.*connected'
	refute_output --partial '{'
	local table=$output
	run table_cell lo STATE <<<"$table"
	assert_output connected
	run table_cell lo OVER <<<"$table"
	assert_output yes
	run table_cell hi OVER <<<"$table"
	assert_output no
	run table_cell lo PAUSED <<<"$table"
	assert_output no
}

@test "status --json has every documented field" {
	wait_for shard_used_memory_known lo
	run ctl --json status
	assert_success
	local js=$output
	run json_eval "j['ok']" <<<"$js"
	assert_output true
	local version
	version=$("$GCS_FLUSHD" -V | awk '{ print $2 }')
	run json_eval "(j['version'], j['pid'] == $DAEMON_PID, isinstance(j['uptime_s'], (int, float)), j['uptime_s'] >= 0)" <<<"$js"
	assert_output "[\"$version\", true, true, true]"
	run json_eval "sorted(s['name'] for s in j['shards'])" <<<"$js"
	assert_output '["hi", "lo"]'
	run json_eval "sorted(k for k in ('name', 'address', 'db', 'state', 'paused', 'used_memory', 'flush_when_at_least_bytes', 'flush_period_secs', 'flush_num_entries_each_time', 'over_threshold', 'last_error') if k not in [s for s in j['shards'] if s['name'] == 'lo'][0])" <<<"$js"
	assert_output '[]'
	run json_eval "[(s['address'], s['db'], s['state'], s['paused'], s['flush_period_secs'], s['flush_num_entries_each_time'], s['last_error']) for s in j['shards'] if s['name'] == 'lo'][0]" <<<"$js"
	assert_output "[\"unix:$(redis_sock r1)\", 0, \"connected\", false, 0.2, 10000, null]"
}

shard_used_memory_known() {
	local v

	v=$(status_field "$1" used_memory) || return 1
	[[ $v =~ ^[0-9]+$ && $v -gt 0 ]]
}

# used_memory_above SHARD BYTES
used_memory_above() {
	local v

	v=$(status_field "$1" used_memory) || return 1
	[[ $v =~ ^[0-9]+$ && $v -gt $2 ]] || {
		echo "used_memory of $1 is $v, not above $2"
		return 1
	}
}

@test "used_memory is live and matches INFO memory" {
	# hi: its threshold of 1TiB keeps the daemon from flushing what we add.
	wait_for shard_used_memory_known hi
	local ours theirs
	ours=$(status_field hi used_memory)
	theirs=$(redis_cli r2 INFO memory | tr -d '\r' | sed -n 's/^used_memory://p')
	[[ $theirs =~ ^[0-9]+$ ]] || fail "no used_memory in INFO: $theirs"
	# Within 25% or 1 MiB: the daemon's own connection moves it a little.
	run $PY -c "import sys; a, b = $ours, $theirs; sys.exit(0 if abs(a - b) <= max(b // 4, 1 << 20) else 1)"
	assert_success
	# Fill redis with about 8 MiB; the daemon notices within a few periods.
	redis_cli r2 EVAL "for i = 1, 8 do redis.call('SET', 'big:' .. i, string.rep('x', 1048576)) end return 1" 0 >/dev/null
	wait_for used_memory_above hi $((ours + 6 * 1048576))
	run status_field hi used_memory_age_s
	assert_success
	run $PY -c "import sys; sys.exit(0 if 0 <= float('$output') < 5 else 1)"
	assert_success
}

@test "over_threshold is true at 1 byte and false at 1TiB" {
	wait_for shard_is lo over_threshold true
	run status_field hi over_threshold
	assert_output false
	run status_field lo flush_when_at_least_bytes
	assert_output 1
	run status_field hi flush_when_at_least_bytes
	assert_output 1099511627776
}

# ---- pause and resume -----------------------------------------------------------

@test "pause and resume one shard" {
	run ctl --json pause lo
	assert_success
	run json_eval "(j['ok'], j['shards'])" <<<"$output"
	assert_output '[true, ["lo"]]'
	run status_field lo paused
	assert_output true
	run status_field hi paused
	assert_output false
	run ctl status
	assert_success
	run table_cell lo PAUSED <<<"$output"
	assert_output yes
	run ctl status
	run table_cell hi PAUSED <<<"$output"
	assert_output no
	run ctl --json resume lo
	assert_success
	run json_eval "(j['ok'], j['shards'])" <<<"$output"
	assert_output '[true, ["lo"]]'
	run status_field lo paused
	assert_output false
}

@test "pause and resume all shards" {
	run ctl --json pause
	assert_success
	run json_eval "(j['ok'], sorted(j['shards']))" <<<"$output"
	assert_output '[true, ["hi", "lo"]]'
	run status_field lo paused
	assert_output true
	run status_field hi paused
	assert_output true
	# The plain output, too, exits 0.
	run ctl resume
	assert_success
	run status_field lo paused
	assert_output false
	run status_field hi paused
	assert_output false
}

@test "pause of an unknown shard fails with exit 1" {
	run --separate-stderr ctl pause nosuch
	assert_failure 1
	[[ $stderr == *"gcs-flushctl: "*nosuch* ]] || fail "stderr: $stderr"
	run --separate-stderr ctl --json pause nosuch
	assert_failure 1
	run json_eval "j['ok']" <<<"$output"
	assert_output false
	run status_field lo paused
	assert_output false
}

# ---- bad requests straight to the socket -------------------------------------------

@test "unknown command gets ok:false" {
	run sock_send "$CTL_SOCK" "$(printf 'frobnicate\n' | od -An -tx1 | tr -d ' \n')"
	assert_success
	assert_line --partial 'REPLY {'
	local reply=${lines[0]#REPLY }
	run json_eval "(j['ok'], 'frobnicate' in j['error'])" <<<"$reply"
	assert_output '[false, true]'
	assert_daemon_answers
}

@test "a status request straight to the socket works" {
	run sock_send "$CTL_SOCK" "$(printf 'status\n' | od -An -tx1 | tr -d ' \n')"
	assert_success
	local reply=${lines[0]#REPLY }
	run json_eval "(j['ok'], len(j['shards']))" <<<"$reply"
	assert_output '[true, 2]'
}

@test "an empty line gets ok:false" {
	run sock_send "$CTL_SOCK" 0a
	assert_success
	if [[ ${lines[0]} == REPLY* ]]; then
		run json_eval "j['ok']" <<<"${lines[0]#REPLY }"
		assert_output false
	fi
	assert_daemon_answers
}

@test "a 5000-byte line gets ok:false or is dropped" {
	local hex
	hex=$($PY -c 'print(("61" * 5000) + "0a")')
	run sock_send "$CTL_SOCK" "$hex"
	assert_success
	if [[ ${lines[0]} == REPLY* ]]; then
		run json_eval "j['ok']" <<<"${lines[0]#REPLY }"
		assert_output false
	fi
	# Without a newline at all, too.
	hex=$($PY -c 'print("62" * 5000)')
	run sock_send "$CTL_SOCK" "$hex"
	assert_success
	if [[ ${lines[0]} == REPLY* ]]; then
		run json_eval "j['ok']" <<<"${lines[0]#REPLY }"
		assert_output false
	fi
	assert_daemon_answers
}

@test "binary garbage with NUL bytes gets ok:false or is dropped" {
	run sock_send "$CTL_SOCK" 00ff01737461747573000a
	assert_success
	if [[ ${lines[0]} == REPLY* ]]; then
		run json_eval "j['ok']" <<<"${lines[0]#REPLY }"
		assert_output false
	fi
	run sock_send "$CTL_SOCK" "$($PY -c 'import os; print(os.urandom(3000).hex() + "0a")')"
	assert_success
	if [[ ${lines[0]} == REPLY* ]]; then
		run json_eval "j['ok']" <<<"${lines[0]#REPLY }"
		assert_output false
	fi
	assert_daemon_answers
}

@test "a command with trailing garbage args is an error, not a crash" {
	run sock_send "$CTL_SOCK" "$(printf 'status please now\n' | od -An -tx1 | tr -d ' \n')"
	assert_success
	assert_daemon_answers
}

@test "a request that arrives in pieces is served" {
	run $PY - "$CTL_SOCK" <<-'EOF'
		import socket, sys, time
		s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
		s.settimeout(15)
		s.connect(sys.argv[1])
		for part in (b"sta", b"tu", b"s\n"):
		    s.sendall(part)
		    time.sleep(0.3)
		data = b""
		while True:
		    b = s.recv(65536)
		    if not b:
		        break
		    data += b
		print(data.decode())
	EOF
	assert_success
	run json_eval "(j['ok'], len(j['shards']))" <<<"$output"
	assert_output '[true, 2]'
}

@test "a line of 4096 bytes is read whole; longer lines are refused" {
	local hex
	# "pause " and a 4090-byte shard name: 4096 bytes before the newline.
	hex=$($PY -c 'print((b"pause " + b"x" * 4090 + b"\n").hex())')
	run sock_send "$CTL_SOCK" "$hex"
	assert_success
	run json_eval "(j['ok'], 'x' * 4090 in j['error'])" <<<"${lines[0]#REPLY }"
	assert_output '[false, true]'
	hex=$($PY -c 'print((b"pause " + b"x" * 4091 + b"\n").hex())')
	run sock_send "$CTL_SOCK" "$hex"
	assert_success
	if [[ ${lines[0]} == REPLY* ]]; then
		run json_eval "(j['ok'], 'x' * 4091 in j['error'])" <<<"${lines[0]#REPLY }"
		assert_output '[false, false]'
	fi
	assert_daemon_answers
}

@test "a client that says nothing is closed within 10 s and blocks no one" {
	local out=$TEST_DIR/idle.out
	sock_send "$CTL_SOCK" '' 20 >"$out" 2>&1 3>&- &
	local idle=$!
	record_pid idle-client "$idle"
	sleep 0.3
	# Others are served while the idle client hangs on.
	run ctl --json status
	assert_success
	local i
	for ((i = 0; i < 150; i++)); do
		kill -0 "$idle" 2>/dev/null || break
		sleep 0.1
	done
	run cat "$out"
	assert_line --regexp '^(CLOSED|RESET|REPLY .*)$'
	local after
	after=$(sed -n 's/^AFTER //p' "$out")
	run $PY -c "import sys; sys.exit(0 if $after < 10 else 1)"
	assert_success
	assert_daemon_answers
}

@test "many clients at once are all served" {
	run $PY - "$CTL_SOCK" <<-'EOF'
		import socket, sys
		socks = []
		for i in range(50):
		    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
		    s.settimeout(15)
		    s.connect(sys.argv[1])
		    socks.append(s)
		for s in socks:
		    s.sendall(b"status\n")
		ok = 0
		for s in socks:
		    data = b""
		    while True:
		        b = s.recv(65536)
		        if not b:
		            break
		        data += b
		    if data.startswith(b'{"ok":true') or b'"ok": true' in data or b'"ok":true' in data:
		        ok += 1
		print(ok)
	EOF
	assert_success
	assert_output 50
}

# ---- the CLI ----------------------------------------------------------------------

@test "usage errors exit 2" {
	run "$GCS_FLUSHCTL" -s "$CTL_SOCK"
	assert_failure 2
	run "$GCS_FLUSHCTL" -s "$CTL_SOCK" --no-such-option status
	assert_failure 2
	run "$GCS_FLUSHCTL" -s
	assert_failure 2
}

@test "--help and --version exit 0" {
	run "$GCS_FLUSHCTL" --help
	assert_success
	assert_output --partial 'status'
	run "$GCS_FLUSHCTL" -V
	assert_success
	assert_output --partial "$("$GCS_FLUSHD" -V | awk '{ print $2 }')"
}

@test "no daemon on the socket: exit 3 naming the socket" {
	run --separate-stderr "$GCS_FLUSHCTL" -s "$TEST_DIR/none.sock" status
	assert_failure 3
	[[ $stderr == *"not running"*"$TEST_DIR/none.sock"* ]] || fail "stderr: $stderr"
}

@test "a stale socket file (connection refused): exit 3" {
	$PY -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])' "$TEST_DIR/stale.sock"
	[[ -S $TEST_DIR/stale.sock ]]
	run --separate-stderr "$GCS_FLUSHCTL" -s "$TEST_DIR/stale.sock" status
	assert_failure 3
	[[ $stderr == *"$TEST_DIR/stale.sock"* ]] || fail "stderr: $stderr"
}

@test "the socket comes from GCS_FLUSHD_SOCKET" {
	GCS_FLUSHD_SOCKET=$CTL_SOCK run "$GCS_FLUSHCTL" -c "$TEST_DIR/missing.conf" --json status
	assert_success
	GCS_FLUSHD_SOCKET=$TEST_DIR/none.sock run --separate-stderr "$GCS_FLUSHCTL" -c "$CONF" status
	assert_failure 3
	[[ $stderr == *"$TEST_DIR/none.sock"* ]] || fail "stderr: $stderr"
}

@test "no -s, no GCS_FLUSHD_SOCKET and no default config: the default socket" {
	[[ ! -e /etc/gcs-flushd.conf ]] || skip "/etc/gcs-flushd.conf exists here"
	[[ ! -e /run/gcs-flushd/control.sock ]] || skip "a gcs-flushd runs on this machine"
	run --separate-stderr "$GCS_FLUSHCTL" status
	assert_failure 3
	[[ $stderr == *"/run/gcs-flushd/control.sock"* ]] || fail "stderr: $stderr"
}

@test "a config named with -c that does not exist is an error naming it" {
	run --separate-stderr "$GCS_FLUSHCTL" -c "$TEST_DIR/missing.conf" status
	assert_failure
	[[ $stderr == *"$TEST_DIR/missing.conf"* ]] || fail "stderr: $stderr"
}

@test "the socket comes from the config given with -c" {
	run "$GCS_FLUSHCTL" -c "$CONF" --json status
	assert_success
	run json_eval "j['ok']" <<<"$output"
	assert_output true
}

@test "-s wins over GCS_FLUSHD_SOCKET" {
	GCS_FLUSHD_SOCKET=$TEST_DIR/none.sock run "$GCS_FLUSHCTL" -s "$CTL_SOCK" --json status
	assert_success
}

@test "the control socket has mode 0660 by default" {
	run stat -c %a "$CTL_SOCK"
	assert_output 660
}
