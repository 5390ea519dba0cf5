#!/usr/bin/env bats
# tracking.bats: the ledger end to end: creation order across a daemon
# restart, a subscriber gap, a Redis restart, keys that exist before the
# daemon starts (reconciliation by OBJECT IDLETIME, or SCAN order under LFU),
# expiry and eviction, and two shards flushing side by side.

# helpers.bash sets top_srcdir and reads EXPECT_LOG_ERRORS*; bats sets stderr.
# shellcheck disable=SC2154,SC2034
load helpers
load flushing

# sub_client_id SHARD: the CLIENT ID of the daemon's subscriber connection.
sub_client_id() {
	local line

	line=$(redis_cli "$1" CLIENT LIST | grep -E ' cmd=subscribe ' | head -n 1)
	[[ $line =~ ^id=([0-9]+)\  ]] || {
		echo "no subscriber connection"
		return 1
	}
	echo "${BASH_REMATCH[1]}"
}

# tracked_is_live SHARD: tracked_entries equals the keys in redis.
tracked_is_live() {
	local t n

	t=$(status_field "$1" tracked_entries) || return 1
	n=$(live_count "$1")
	((t == n)) || {
		echo "tracked_entries is $t, redis has $n keys"
		return 1
	}
}

# ---- a daemon restart ------------------------------------------------------------------

@test "a daemon restart keeps the exact creation order" {
	local r
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB'
	put_keys a 1 300
	# Reading the oldest half makes OBJECT IDLETIME disagree with creation
	# order: only the ledger knows that k:0001 is older than k:0300.
	sleep 2.1
	seq -f 'GET k:%04g' 1 150 | rcmds a
	wait_for shard_is a tracked_entries 300
	run status_field a events_total
	[[ $output -ge 300 ]] || fail "events_total is $output after 300 new keys"
	run status_field a ledger_bytes
	[[ $output -gt 300 ]] || fail "ledger_bytes is $output for 300 keys"
	run status_field a oldest_entry_age_s
	$PY -c 'import sys; sys.exit(0 if 1.5 <= float(sys.argv[1]) < 60 else 1)' "$output" ||
		fail "oldest_entry_age_s is $output, about 2 s expected"
	daemon_stop
	[[ -s $TEST_DIR/state/a.ledger ]] || fail "no ledger in $TEST_DIR/state"

	daemon_start
	shard_ready a
	run status_field a tracked_entries
	assert_output 300
	run status_field a reconcile_added_total
	assert_output 0
	put_keys a 301 400
	wait_for shard_is a tracked_entries 400
	seq_keys 1 400 >"$TEST_DIR/all"
	r=$(flush_req a 150)
	assert_flush_reply "$r" true 150 150 0
	seq_keys 1 150 >"$TEST_DIR/expected"
	gone_since "$TEST_DIR/all" a >"$TEST_DIR/gone"
	assert_keys "flush a 150 after a restart" "$TEST_DIR/expected" "$TEST_DIR/gone"
	r=$(flush_req a 150)
	assert_flush_reply "$r" true 150 150 0
	seq_keys 1 300 >"$TEST_DIR/expected"
	gone_since "$TEST_DIR/all" a >"$TEST_DIR/gone"
	assert_keys "flush a 150 again" "$TEST_DIR/expected" "$TEST_DIR/gone"
	daemon_stop
}

# ---- a subscriber gap ----------------------------------------------------------------------

@test "a subscriber gap (CLIENT KILL): oldest first among known keys, then the gap's keys" {
	local r id runs0 added0
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB'
	put_keys a 1 200
	wait_for shard_is a tracked_entries 200
	runs0=$(status_field a reconcile_runs_total)
	added0=$(status_field a reconcile_added_total)
	id=$(sub_client_id a) || fail "$id: $(redis_cli a CLIENT LIST)"
	# One redis-cli, one command after the other: the SETs run right after
	# the kill, while the daemon is still reconnecting.
	{
		echo "CLIENT KILL ID $id"
		seq -f 'SET k:%04g gap' 201 300
	} | rcmds a
	wait_for -t 30 field_at_least a reconcile_runs_total $((runs0 + 1))
	shard_ready a
	wait_for shard_is a tracked_entries 300
	run status_field a reconcile_added_total
	assert_output $((added0 + 100))
	put_keys a 301 400
	wait_for shard_is a tracked_entries 400
	seq_keys 1 400 >"$TEST_DIR/all"

	r=$(flush_req a 200)
	assert_flush_reply "$r" true 200 200 0
	seq_keys 1 200 >"$TEST_DIR/expected"
	gone_since "$TEST_DIR/all" a >"$TEST_DIR/gone"
	assert_keys "the keys before the gap" "$TEST_DIR/expected" "$TEST_DIR/gone"
	r=$(flush_req a 100)
	assert_flush_reply "$r" true 100 100 0
	seq_keys 1 300 >"$TEST_DIR/expected"
	gone_since "$TEST_DIR/all" a >"$TEST_DIR/gone"
	assert_keys "then the gap's keys" "$TEST_DIR/expected" "$TEST_DIR/gone"
	run status_field a tracked_entries
	assert_output 100
	daemon_stop
}

# ---- a Redis restart ----------------------------------------------------------------------

@test "a Redis restart is reconciled; older keys are still flushed first" {
	local r runs0
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB'
	put_keys a 1 200
	wait_for shard_is a tracked_entries 200
	runs0=$(status_field a reconcile_runs_total)
	# Same data after the restart: the RDB is loaded (and fires no events).
	run redis_cli a SAVE
	assert_output OK
	redis_stop a
	wait_for shard_state_in a down connecting
	redis_start a
	run redis_cli a DBSIZE
	assert_output 200
	wait_for -t 30 field_at_least a reconcile_runs_total $((runs0 + 1))
	shard_ready a
	run status_field a tracked_entries
	assert_output 200
	put_keys a 201 300
	wait_for shard_is a tracked_entries 300
	seq_keys 1 300 >"$TEST_DIR/all"
	r=$(flush_req a 100)
	assert_flush_reply "$r" true 100 100 0
	seq_keys 1 100 >"$TEST_DIR/expected"
	gone_since "$TEST_DIR/all" a >"$TEST_DIR/gone"
	assert_keys "flush a 100 after a redis restart" "$TEST_DIR/expected" "$TEST_DIR/gone"
	daemon_stop
}

# ---- two shards ------------------------------------------------------------------------------

@test "two shards flush independently and in parallel; a down shard does not stop the other" {
	local r s t0 t1 c0 both=0 i sum
	redis_start a
	redis_start b
	conf_base "" 'flush_when_at_least_bytes = 1' 'flush_num_entries_each_time = 10'
	conf_shard a "unix:$(redis_sock a)" 'flush_max_entries_per_sec = 500'
	conf_shard b "unix:$(redis_sock b)" 'flush_max_entries_per_sec = 500'
	daemon_start
	shard_ready a
	shard_ready b
	run ctl pause
	assert_success
	put_keys a 1 1500 a:%04g
	put_keys b 1 1500 b:%04g
	wait_for shard_is a tracked_entries 1500
	wait_for shard_is b tracked_entries 1500
	seq_keys 1 1500 a:%04g >"$TEST_DIR/all-a"
	seq_keys 1 1500 b:%04g >"$TEST_DIR/all-b"

	# Two forced flushes of 1000 at 500 a second: about 2 s each, at once.
	t0=$(now_us)
	flush_req a 1000 >"$TEST_DIR/reply-a" &
	record_pid flush-a $!
	flush_req b 1000 >"$TEST_DIR/reply-b" &
	record_pid flush-b $!
	for ((i = 0; i < 30; i++)); do
		if shard_is a flushing true >/dev/null && shard_is b flushing true >/dev/null; then
			both=1
			break
		fi
		sleep 0.1
	done
	wait_gone "$(pid_of flush-a)" 20
	wait_gone "$(pid_of flush-b)" 20
	t1=$(now_us)
	((both)) || fail "the two shards never flushed at the same time"
	# Run one after the other, they would take at least the sum of their
	# own durations; at once, less (however loaded the machine is).
	sum=$($PY -c 'import json, sys; print(int(1e6 * sum(json.load(open(f))["seconds"] for f in sys.argv[1:])))' \
		"$TEST_DIR/reply-a" "$TEST_DIR/reply-b")
	((t1 - t0 < sum)) || fail "two flushes of $((sum / 1000)) ms together took $(((t1 - t0) / 1000)) ms in all"
	assert_flush_reply "$(<"$TEST_DIR/reply-a")" true 1000 1000 0
	assert_flush_reply "$(<"$TEST_DIR/reply-b")" true 1000 1000 0
	for s in a b; do
		seq_keys 1 1000 "$s:%04g" >"$TEST_DIR/expected"
		gone_since "$TEST_DIR/all-$s" "$s" >"$TEST_DIR/gone"
		assert_keys "forced flush of $s" "$TEST_DIR/expected" "$TEST_DIR/gone"
	done

	# Automatic flushing on both, each of its own oldest keys.
	run ctl resume
	assert_success
	wait_for -t 15 field_at_least a flushed_entries_total 1030
	wait_for -t 15 field_at_least b flushed_entries_total 1030
	run ctl pause
	assert_success
	wait_for not_flushing a
	wait_for not_flushing b
	for s in a b; do
		n=$((1500 - $(live_count "$s")))
		run status_field "$s" flushed_entries_total
		assert_output "$n"
		seq_keys 1 "$n" "$s:%04g" >"$TEST_DIR/expected"
		gone_since "$TEST_DIR/all-$s" "$s" >"$TEST_DIR/gone"
		assert_keys "automatic flushes of $s" "$TEST_DIR/expected" "$TEST_DIR/gone"
	done

	# b goes down: a keeps flushing.
	run ctl resume
	assert_success
	redis_stop b
	wait_for shard_state_in b down connecting
	c0=$(status_field a flush_cycles_total)
	wait_for -t 10 field_at_least a flush_cycles_total $((c0 + 3))
	# A forced flush is refused while an automatic one runs: pause first
	# (a forced flush works while paused).
	run ctl pause a
	assert_success
	wait_for not_flushing a
	r=$(flush_req a 5)
	[[ $(jget "$r" "j['ok']") == true ]] || fail "flush a while b is down: $r"
	run status_field a state
	assert_output connected
	daemon_stop
}

# ---- keys from before the daemon ----------------------------------------------------------------

@test "keys written before the first start are found and ordered by OBJECT IDLETIME" {
	local r
	redis_start a
	put_keys a 1 100 old:%04g
	sleep 2.1
	put_keys a 1 100 new:%04g
	conf_base "" 'flush_when_at_least_bytes = 1TiB'
	conf_shard a "unix:$(redis_sock a)"
	daemon_start
	shard_ready a
	run status_field a reconcile_added_total
	assert_output 200
	run status_field a tracked_entries
	assert_output 200
	run status_field a reconcile_runs_total
	assert_output 1
	live_keys a >"$TEST_DIR/before"
	r=$(flush_req a 100)
	assert_flush_reply "$r" true 100 100 0
	seq_keys 1 100 old:%04g >"$TEST_DIR/expected"
	gone_since "$TEST_DIR/before" a >"$TEST_DIR/gone"
	assert_keys "flush a 100 after reconciliation" "$TEST_DIR/expected" "$TEST_DIR/gone"
	run grep -E ' info: .*reconcil.*IDLETIME' "$DAEMON_LOG"
	assert_success
	daemon_stop
}

@test "under allkeys-lfu, reconciliation completes in SCAN order and says why" {
	local r
	redis_start a --maxmemory-policy allkeys-lfu
	put_keys a 1 300
	conf_base "" 'flush_when_at_least_bytes = 1TiB'
	conf_shard a "unix:$(redis_sock a)"
	daemon_start
	shard_ready a
	run status_field a reconcile_added_total
	assert_output 300
	run status_field a tracked_entries
	assert_output 300
	run grep -cE '^[0-9-]+ [0-9:.]+ info: .*OBJECT IDLETIME.*refused' "$DAEMON_LOG"
	assert_output 1
	r=$(flush_req a 100)
	assert_flush_reply "$r" true 100 100 0
	run live_count a
	assert_output 200
	# New keys are still tracked in creation order after the old ones.
	put_keys a 301 350
	wait_for shard_is a tracked_entries 250
	live_keys a >"$TEST_DIR/before"
	r=$(flush_req a 200)
	assert_flush_reply "$r" true 200 200 0
	run live_keys a
	assert_output "$(seq_keys 301 350)"
	daemon_stop
}

# ---- expiry and eviction ---------------------------------------------------------------------------

# ledger_per SHARD: ledger_bytes per tracked entry.
ledger_per() {
	status_json | json_eval "(lambda s: s['ledger_bytes'] // max(s['tracked_entries'], 1))([s for s in j['shards'] if s['name'] == '$1'][0])"
}

# ledger_per_at_most SHARD BYTES: for wait_for.
ledger_per_at_most() {
	local v

	v=$(ledger_per "$1") || return 1
	((v <= $2)) || {
		echo "$1: $v ledger bytes per entry, not <= $2"
		return 1
	}
}

@test "a random 90% of the keys deleted: the ledger gives its memory back; a refill takes what a fresh one did" {
	local fresh churned refilled left
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB'
	redis_cli a EVAL "for i = 1, 100000 do redis.call('SET', 'k:' .. i, 'v') end" 0 >/dev/null
	wait_for -t 30 shard_is a tracked_entries 100000
	sleep 1.5	# the ledger log's buffer is written out
	fresh=$(ledger_per a)
	# Every page keeps some live entries: without the sweep, none goes back.
	redis_cli a EVAL "math.randomseed(7) for i = 1, 100000 do if math.random() < 0.9 then redis.call('UNLINK', 'k:' .. i) end end" 0 >/dev/null
	wait_for -t 30 tracked_is_live a
	wait_for -t 30 ledger_per_at_most a $((fresh * 3 / 2))
	churned=$(ledger_per a)
	left=$(status_field a tracked_entries)
	redis_cli a EVAL "for i = 1, 90000 do redis.call('SET', 'n:' .. i, 'v') end" 0 >/dev/null
	wait_for -t 30 tracked_is_live a
	sleep 1.5
	refilled=$(ledger_per a)
	echo "# ledger bytes per entry: $fresh fresh (100000), $churned for the $left left after the deletions, then $refilled refilled" >&3
	((refilled <= fresh * 5 / 4)) || fail "refilled: $refilled bytes per entry, fresh $fresh"
	daemon_stop
}

@test "expired keys leave the ledger" {
	local r
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB'
	put_keys a 1 50 e:%04g PX 2500
	put_keys a 1 50
	wait_for shard_is a tracked_entries 100
	wait_for -t 20 shard_is a tracked_entries 50
	run live_count a 'e:*'
	assert_output 0
	r=$(flush_req a 100)
	assert_flush_reply "$r" true 100 50 0
	run live_count a
	assert_output 0
	run status_field a already_gone_total
	assert_output 0
	daemon_stop
}

@test "evicted keys leave the ledger" {
	local r v n
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB' --maxmemory 4mb --maxmemory-policy allkeys-lru
	v=$(head -c 2000 /dev/zero | tr '\0' x)
	seq -f "SET k:%04g $v" 1 4000 | rcmds a
	run redis_cli a INFO stats
	assert_output --regexp 'evicted_keys:[1-9]'
	# No more evictions from here on (the flush's own commands could cause
	# some, and those keys would rightly be already gone).
	run redis_cli a CONFIG SET maxmemory 0
	assert_output OK
	wait_for tracked_is_live a
	n=$(live_count a)
	((n > 100 && n < 4000)) || fail "$n keys left after evictions"
	r=$(flush_req a 10000)
	assert_flush_reply "$r" true 10000 "$n" 0
	run live_count a
	assert_output 0
	daemon_stop
}
