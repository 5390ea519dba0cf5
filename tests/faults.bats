#!/usr/bin/env bats
# faults.bats: a shard whose redis misbehaves: slow replies (below and above
# the command timeout), a busy script, out of memory, AUTH refused after a
# password change, a name that does not resolve, a connect that never
# completes, and a partition in the middle of a flush chunk.  In every case
# a second, healthy shard keeps flushing on schedule, the control socket
# answers, the faulty shard's state and last_error say what happened, it
# recovers by itself, and no entry is deleted without being archived.
# (Restarts, kills and SIGSTOP are in shards.bats and crash.bats.)

# shellcheck disable=SC2154,SC2034
BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-120}
load helpers
load flushing
load archive

FAULTNET=$top_srcdir/tests/faultnet.py

# ---- helpers -----------------------------------------------------------------

# faultnet_start NAME ARGS...: tests/faultnet.py in the background (its port
# in $TEST_DIR/NAME.fport), stopping by itself after at most 100 s.
faultnet_start() {
	local name=$1 kind=$2

	shift 2
	rm -f "$TEST_DIR/$name.fport"
	$PY "$FAULTNET" "$kind" "$TEST_DIR/$name.fport" "$@" 100 \
		>>"$TEST_DIR/$name.out" 2>&1 3>&- </dev/null &
	record_pid "faultnet-$name" "$!"
	wait_for -t 10 test -s "$TEST_DIR/$name.fport" ||
		fail "faultnet $kind did not start: $(cat "$TEST_DIR/$name.out")"
}

fport() {
	cat "$TEST_DIR/$1.fport"
}

# writer_start NAME [SECS]: an application that creates a key w:N in the
# named redis every 20 ms, for SECS (default 60) seconds at most.
writer_start() {
	$PY - "$(redis_sock "$1")" "${2:-60}" >>"$TEST_DIR/writer-$1.out" 2>&1 3>&- </dev/null <<-'EOF' &
		import redis, sys, time
		r = redis.Redis(unix_socket_path=sys.argv[1], socket_timeout=5)
		end, i = time.monotonic() + float(sys.argv[2]), 0
		while time.monotonic() < end:
		    try:
		        r.set("w:%d" % i, "v")
		        i += 1
		    except redis.RedisError:
		        pass
		    time.sleep(0.02)
	EOF
	record_pid "writer-$1" "$!"
}

# on_schedule SHARD SECS MIN: the shard completes at least MIN flush cycles
# within SECS, and the control socket answers within 0.5 s meanwhile.
on_schedule() {
	local c0 c1 took

	c0=$(status_field "$1" flush_cycles_total) || return 1
	sleep "$2"
	run sock_send "$CTL_SOCK" "$(printf 'status\n' | od -An -tx1 | tr -d ' \n')"
	[[ ${lines[0]} == 'REPLY {"ok": true'* || ${lines[0]} == 'REPLY {"ok":true'* ]] ||
		fail "status did not answer: $output"
	took=${lines[-1]#AFTER }
	$PY -c 'import sys; sys.exit(float(sys.argv[1]) > 0.5)' "$took" ||
		fail "status took ${took}s"
	c1=$(status_field "$1" flush_cycles_total) || return 1
	((c1 - c0 >= $3)) || fail "$1 ran $((c1 - c0)) flush cycles in $2 s, not >= $3"
	echo "# $1: $((c1 - c0)) flush cycles in $2 s; status in ${took}s" >&3
}

# healthy_b: the second shard, with an application writing to it, flushing
# every period (flush_when_at_least_bytes = 0).
healthy_b() {
	redis_start b
	conf_shard b "unix:$(redis_sock b)" 'flush_when_at_least_bytes = 0' 'archive = no'
}

# every_gone_key_archived SHARD BEFORE_FILE: each key of BEFORE that is no
# longer in redis is in the archive.
every_gone_key_archived() {
	local gone missing

	gone=$TEST_DIR/gone.keys
	gone_since "$2" "$1" >"$gone"
	missing=$(comm -23 "$gone" <(ls_keys "$1"))
	[[ -z $missing ]] || fail "gone from redis, not in the archive: $(head -n 10 <<<"$missing")"
	echo "# $(wc -l <"$gone") keys gone from $1, every one archived" >&3
}

used_memory_of() {
	redis_cli "$1" INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'
}

set_ok() {
	[[ $(redis_cli "$1" SET probe:key v 2>&1) == OK ]]
}

# ---- slow redis ----------------------------------------------------------------

# slow_setup: shard a behind the proxy, archive on, flushing every period.
slow_setup() {
	redis_start a
	mkdir -p "$TEST_DIR/ctl"
	faultnet_start p proxy "$(redis_sock a)" "$TEST_DIR/ctl"
	conf_base
	conf_shard a "127.0.0.1:$(fport p)" 'flush_when_at_least_bytes = 0'
	healthy_b
	daemon_start
	shard_ready a
	shard_ready b
	writer_start a
	writer_start b
	wait_for field_at_least a flush_cycles_total 2
	wait_for field_at_least b flush_cycles_total 2
}

@test "slow replies below the command timeout: the shard keeps flushing, with no error" {
	slow_setup
	local c0 c1 i st
	echo 0.4 >"$TEST_DIR/ctl/delay"
	c0=$(status_field a flush_cycles_total)
	# Each cycle is now at least three round trips of 0.4 s (INFO, DUMP,
	# compare-and-delete); the 0.2 s period is not kept, but nothing fails.
	for ((i = 0; i < 4; i++)); do
		on_schedule b 1 2
		st=$(status_field a state)
		[[ $st == connected ]] || fail "a went $st: $(status_field a last_error)"
	done
	c1=$(status_field a flush_cycles_total)
	((c1 > c0)) || fail "a ran no flush cycle while slow"
	((c1 - c0 <= 4 * 5 / 3 + 1)) || fail "a ran $((c1 - c0)) cycles in 4 s: were its replies slow?"
	run status_field a last_error
	assert_output null
	run status_field a connect_failures_total
	assert_output 0
	echo "# a: $((c1 - c0)) flush cycles in 4 s at 0.4 s a reply" >&3
	echo 0 >"$TEST_DIR/ctl/delay"
	daemon_stop
}

@test "slow replies above the command timeout: down with a timeout, back by itself, nothing lost" {
	slow_setup
	local before=$TEST_DIR/before.keys
	put_keys a 1 500
	live_keys a >"$before"
	echo 2.5 >"$TEST_DIR/ctl/delay"
	wait_for -t 15 shard_state_in a down connecting
	wait_for error_has a 'no reply within 1s \(command_timeout_secs\)|connect: timed out after 1s'
	# The handshake is as slow: it keeps failing, with a backoff.
	on_schedule b 2 4
	run status_field a state
	refute_output connected
	on_schedule b 2 4
	echo 0 >"$TEST_DIR/ctl/delay"
	wait_for -t 20 shard_is a state connected
	wait_for -t 20 live_count_is a 0 'k:*'
	every_gone_key_archived a "$before"
	run status_field a connect_failures_total
	[[ $output -ge 1 ]] || fail "connect_failures_total is $output"
	daemon_stop
}

@test "CLIENT PAUSE WRITE longer than the command timeout: the scripts time out, then the flush resumes" {
	redis_start a
	conf_base
	conf_shard a "unix:$(redis_sock a)" 'flush_when_at_least_bytes = 0'
	healthy_b
	daemon_start
	shard_ready a
	shard_ready b
	writer_start b
	local before=$TEST_DIR/before.keys t0
	ctl pause a >/dev/null
	put_keys a 1 300
	live_keys a >"$before"
	# EVAL and EVALSHA may replicate, so a WRITE pause holds them; INFO,
	# PING and SUBSCRIBE still answer, so the shard reconnects, tries
	# again, and times out again, until the pause ends.
	# Long enough for the checks below to run inside it on a loaded machine.
	redis_cli a CLIENT PAUSE 8000 WRITE >/dev/null
	t0=$(now_us)
	ctl resume a >/dev/null
	wait_for -t 10 error_has a '^no reply within 1s \(command_timeout_secs\)$'
	echo "# a: $(status_field a last_error)" >&3
	on_schedule b 1.5 3
	run live_count a
	assert_output 300
	wait_for -t 20 live_count_is a 0
	echo "# a flushed its 300 keys $((($(now_us) - t0) / 1000)) ms after the 8 s pause began" >&3
	(($(now_us) - t0 >= 7500000)) || fail "flushed before the pause ended: was it paused?"
	every_gone_key_archived a "$before"
	wait_for shard_is a state connected
	run status_field a connect_failures_total
	[[ $output -ge 1 ]] || fail "connect_failures_total is $output"
	daemon_stop
}

@test "a busy script: BUSY replies are reported while the shard stays up, and it carries on after" {
	redis_start a --busy-reply-threshold 300
	conf_base
	conf_shard a "unix:$(redis_sock a)" 'flush_when_at_least_bytes = 0' 'command_timeout_secs = 2'
	healthy_b
	daemon_start
	shard_ready a
	shard_ready b
	writer_start a
	writer_start b
	wait_for field_at_least a flush_cycles_total 2
	# A script that spins for 3 s: after 0.3 s, redis answers -BUSY.
	redis_cli a EVAL "local t = redis.call('TIME') local e = t[1] * 1e6 + t[2] + 3e6
		while true do t = redis.call('TIME') if t[1] * 1e6 + t[2] >= e then break end end
		return 1" 0 >"$TEST_DIR/busy.out" 2>&1 3>&- &
	record_pid busy "$!"
	wait_for -t 5 error_has a '^(DUMP: |PTTL: |UNLINK: |compare-and-delete: |INFO memory: )?BUSY'
	echo "# a: $(status_field a last_error)" >&3
	run status_field a state
	assert_output connected
	on_schedule b 1.5 3
	wait_for -t 10 test -s "$TEST_DIR/busy.out"
	# Flushing resumes: every key the writer made is flushed again.
	local c0
	c0=$(status_field a flush_cycles_total)
	wait_for field_at_least a flush_cycles_total $((c0 + 3))
	run status_field a state
	assert_output connected
	daemon_stop
}

# ---- redis killed -------------------------------------------------------------------

@test "redis SIGKILLed mid-flush and restarted from its AOF: the flush finishes, every entry archived" {
	local ref=$TEST_DIR/ref.dump aof=(--appendonly yes --appendfsync always) pid
	redis_start a "${SAME_DUMP_ARGS[@]}" "${aof[@]}"
	conf_base
	conf_shard a "unix:$(redis_sock a)" 'flush_when_at_least_bytes = 0' 'flush_max_entries_per_sec = 2000'
	healthy_b
	daemon_start
	shard_ready a
	shard_ready b
	writer_start b
	ctl pause a >/dev/null
	put_keys a 1 3000
	dump_all a "$ref"
	ctl resume a >/dev/null
	wait_for field_at_least a flushed_entries_total 400
	pid=$(pid_of redis-a)
	kill -KILL "$pid"
	wait_gone "$pid" 10 || fail "redis survived SIGKILL"
	rm -f "$PID_DIR/redis-a.pid"
	wait_for shard_state_in a down connecting
	wait_for error_has a '^(connection lost|connect): '
	echo "# a: $(status_field a last_error)" >&3
	on_schedule b 2 4
	redis_start a "${SAME_DUMP_ARGS[@]}" "${aof[@]}"
	(($(live_count a) < 3000)) || fail "nothing was flushed before the kill"
	wait_for -t 20 shard_is a state connected
	wait_for -t 30 live_count_is a 0 'k:*'
	# Every key was flushed, before or after the kill: the archive has all.
	redis_start scratch "${SAME_DUMP_ARGS[@]}"
	export_into a scratch
	dump_all scratch "$TEST_DIR/restored.dump"
	compare_dumps "$ref" "$TEST_DIR/restored.dump"
	daemon_stop
}

# ---- out of memory ---------------------------------------------------------------

# oom_case ARCHIVE: a redis over its maxmemory (noeviction: writes fail with
# OOM) is brought back below it by the flush, with the scripts uncached, so
# that EVAL with the body (not only EVALSHA) runs under OOM too.
oom_case() {
	local base thr max val t0 before=$TEST_DIR/before.keys

	redis_start a
	base=$(used_memory_of a)
	thr=$((base + 1000000))
	max=$((base + 2000000))
	conf_base "" "archive = $1" 'flush_num_entries_each_time = 300'
	conf_shard a "unix:$(redis_sock a)" "flush_when_at_least_bytes = $thr"
	healthy_b
	daemon_start
	shard_ready a
	shard_ready b
	writer_start b
	ctl pause a >/dev/null
	val=$(printf 'x%.0s' {1..1000})
	awk -v v="$val" 'BEGIN { for (i = 1; i <= 4000; i++) printf "SET k:%04d %s\n", i, v }' |
		redis_cli a >/dev/null
	live_keys a 'k:*' >"$before"
	redis_cli a CONFIG SET maxmemory-policy noeviction >/dev/null
	redis_cli a CONFIG SET maxmemory "$max" >/dev/null
	redis_cli a SCRIPT FLUSH >/dev/null
	run redis_cli a SET probe:key v
	assert_output --partial OOM
	wait_for field_at_least a used_memory "$max"

	t0=$(now_us)
	ctl resume a >/dev/null
	wait_for -t 20 set_ok a
	echo "# writes accepted again $((($(now_us) - t0) / 1000)) ms after resume" >&3
	on_schedule b 1 2
	wait_for -t 20 live_count_below a 3000 'k:*'
	run status_field a state
	assert_output connected
	run status_field a last_error
	assert_output null
	# The oldest went first.
	run redis_cli a EXISTS k:0001 k:0002 k:1000
	assert_output 0
	run redis_cli a EXISTS k:4000
	assert_output 1
	if [[ $1 == yes ]]; then
		every_gone_key_archived a "$before"
	fi
	daemon_stop
}

@test "out of memory (noeviction), archive on: the flush frees memory, every entry archived" {
	oom_case yes
}

@test "out of memory (noeviction), archive off: the flush frees memory" {
	oom_case no
}

# ---- AUTH refused after a password change -----------------------------------------

@test "AUTH refused after a password change: error, then recovery by redis or by reload" {
	local old=pw-before-7f3a new=pw-after-9c2e
	redis_start a --requirepass "$old"
	printf '%s\n' "$old" >"$TEST_DIR/pw"
	chmod 600 "$TEST_DIR/pw"
	conf_base
	conf_shard a "unix:$(redis_sock a)" "password_file = $TEST_DIR/pw" 'flush_when_at_least_bytes = 0'
	healthy_b
	daemon_start
	shard_ready a
	shard_ready b
	writer_start b

	# The password changes; connections already made stay authenticated
	# until they are killed.
	redis_cli a --no-auth-warning -a "$old" CONFIG SET requirepass "$new" >/dev/null
	redis_cli a --no-auth-warning -a "$new" CLIENT KILL TYPE normal >/dev/null
	redis_cli a --no-auth-warning -a "$new" CLIENT KILL TYPE pubsub >/dev/null
	wait_for shard_is a state error
	wait_for error_has a '^AUTH: WRONGPASS'
	echo "# a: $(status_field a last_error)" >&3
	on_schedule b 1.5 3
	local f0 f1
	f0=$(status_field a connect_failures_total)
	sleep 2
	f1=$(status_field a connect_failures_total)
	# It retries, with a backoff (capped at reconnect_max_secs = 1 here).
	((f1 > f0)) || fail "no retry in 2 s"
	((f1 - f0 <= 10)) || fail "$((f1 - f0)) retries in 2 s: no backoff?"

	# Recovery 1: redis takes the old password back.
	redis_cli a --no-auth-warning -a "$new" CONFIG SET requirepass "$old" >/dev/null
	wait_for shard_is a state connected

	# Recovery 2: the password changes again, and the operator updates the
	# password file and reloads.
	redis_cli a --no-auth-warning -a "$old" CONFIG SET requirepass "$new" >/dev/null
	redis_cli a --no-auth-warning -a "$new" CLIENT KILL TYPE normal >/dev/null
	redis_cli a --no-auth-warning -a "$new" CLIENT KILL TYPE pubsub >/dev/null
	wait_for shard_is a state error
	printf '%s\n' "$new" >"$TEST_DIR/pw"
	run ctl reload
	assert_success
	wait_for shard_is a state connected
	on_schedule b 1 2

	run status_json
	refute_output --partial "$old"
	refute_output --partial "$new"
	run grep -c -e "$old" -e "$new" "$DAEMON_LOG"
	assert_output 0
	daemon_stop
}

# ---- names that do not resolve, connects that never complete ------------------------

# dns_setup MODE: the daemon resolves through our DNS server (in a mount
# namespace of its own, with its own /etc/resolv.conf).
dns_setup() {
	unshare -m true 2>/dev/null || skip "no mount namespaces here (unshare -m)"
	echo "$1" >"$TEST_DIR/dns.mode"
	faultnet_start dns dns "$TEST_DIR/dns.mode"
	printf 'nameserver 127.0.0.1:%s\noptions timeout:5 attempts:1\n' "$(fport dns)" >"$TEST_DIR/resolv.conf"
	# shellcheck disable=SC2016
	DAEMON_WRAP=(unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$TEST_DIR/resolv.conf")
}

# retries_bounded SHARD SECS: it retries within SECS, but not in a tight loop.
retries_bounded() {
	local f0 f1

	f0=$(status_field "$1" connect_failures_total)
	on_schedule b "$2" 3
	f1=$(status_field "$1" connect_failures_total)
	((f1 > f0)) || fail "$1: no retry in $2 s"
	((f1 - f0 <= $2 * 5)) || fail "$1: $((f1 - f0)) retries in $2 s: no backoff?"
	echo "# $1: $((f1 - f0)) retries in $2 s" >&3
}

@test "a name that does not resolve: a clear error, retries with backoff, and a connect once it does" {
	dns_setup nxdomain
	redis_start_tcp r
	conf_base
	conf_shard a "redis-a.invalid:$(redis_port r)"
	healthy_b
	daemon_start
	shard_ready b
	writer_start b
	wait_for shard_state_in a down connecting
	wait_for error_has a '^resolve redis-a\.invalid: name not found$'
	retries_bounded a 2
	echo resolve >"$TEST_DIR/dns.mode"
	wait_for -t 20 shard_is a state connected
	daemon_stop
}

@test "a DNS server that never answers: the connect timeout names the resolution" {
	dns_setup silent
	conf_base
	conf_shard a "redis-a.invalid:6390"
	healthy_b
	daemon_start
	shard_ready b
	writer_start b
	wait_for shard_state_in a down connecting
	wait_for error_has a '^resolve redis-a\.invalid: no answer within 1s'
	retries_bounded a 3
	daemon_stop
}

@test "a connect that never completes (blackhole): a timeout, retries, and a connect once redis is there" {
	faultnet_start bh blackhole
	$PY -c 'import socket, sys
s = socket.socket(); s.settimeout(0.5)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except socket.timeout:
    sys.exit(0)
sys.exit("the connect completed: no blackhole")' "$(fport bh)"
	conf_base
	conf_shard a "127.0.0.1:$(fport bh)"
	healthy_b
	daemon_start
	shard_ready b
	writer_start b
	wait_for shard_state_in a down connecting
	wait_for error_has a '^connect: timed out after 1s$'
	retries_bounded a 3
	# The listener goes, and redis comes up on its port.
	fport bh >"$TEST_DIR/r.port"
	stop_pid "$(pid_of faultnet-bh)" TERM 5
	redis_start_tcp r
	wait_for -t 20 shard_is a state connected
	daemon_stop
}

# ---- a partition in the middle of a flush chunk -----------------------------------

# partition_case WHEN: the connection that carries a compare-and-delete is
# cut right after it is forwarded (WHEN = after: the delete runs, its reply
# is lost) or right before (the delete never reaches redis), on every second
# one, three times; after each cut the application writes the chunk's first
# key anew.  Every entry must end up in redis or in the archive (the newest
# value of a rewritten key included), and the flush must finish.
partition_case() {
	local ref=$TEST_DIR/ref.dump i js cuts

	redis_start a "${SAME_DUMP_ARGS[@]}"
	mkdir -p "$TEST_DIR/ctl"
	faultnet_start p proxy "$(redis_sock a)" "$TEST_DIR/ctl"
	conf_base "" 'archive = yes'
	conf_shard a "127.0.0.1:$(fport p)"
	healthy_b
	daemon_start
	shard_ready a
	shard_ready b
	writer_start b
	put_keys a 1 3000
	dump_all a "$ref"
	echo "$1 2" >"$TEST_DIR/ctl/cut"
	echo 3 >"$TEST_DIR/ctl/cuts_max"
	touch "$TEST_DIR/ctl/rewrite"
	for ((i = 0; i < 15; i++)); do
		wait_for -t 20 shard_ready a
		js=$(flush_req a 3000)
		echo "# flush: $js" >&3
		(($(live_count a) == 0)) && break
		on_schedule b 0.5 1
	done
	run live_count a
	assert_output 0
	cuts=$(grep -c '^cut ' "$TEST_DIR/ctl/log")
	((cuts == 3)) || fail "$cuts cuts, not 3: $(cat "$TEST_DIR/ctl/log")"
	grep -q 'connection lost' "$DAEMON_LOG" || fail "the daemon saw no lost connection"

	# The reference: what was written, with each rewritten key's new value.
	$PY - "$ref" "$TEST_DIR/ctl/log" <<-'EOF'
		import sys
		ref = {}
		for l in open(sys.argv[1]):
		    k, d, t = l.rstrip("\n").split("\t")
		    ref[k] = (d, t)
		for l in open(sys.argv[2]):
		    w = l.split()
		    if w[0] == "rewrite":
		        ref[w[1]] = (w[2], "-1")
		with open(sys.argv[1], "w") as f:
		    for k in sorted(ref):
		        f.write("%s\t%s\t%s\n" % (k, ref[k][0], ref[k][1]))
	EOF
	redis_start scratch "${SAME_DUMP_ARGS[@]}"
	export_into a scratch
	dump_all scratch "$TEST_DIR/restored.dump"
	compare_dumps "$ref" "$TEST_DIR/restored.dump"
	echo "# flushed_entries_total $(status_field a flushed_entries_total)," \
		"already_gone_total $(status_field a already_gone_total)" >&3
	daemon_stop
}

@test "a partition right after the compare-and-delete is sent: nothing lost, the flush finishes" {
	partition_case after
}

@test "a partition right before the compare-and-delete: nothing deleted unarchived, the flush finishes" {
	partition_case before
}
