#!/usr/bin/env bats
# flush.bats: the flush cycle end to end against a real redis-server: exact
# oldest-first deletion, `match`, the threshold and the period, forced
# flushes, pause/resume, bad flush requests, the runtime policy key and
# keys that are already gone.

# helpers.bash sets top_srcdir and reads EXPECT_LOG_ERRORS*; bats sets stderr.
# shellcheck disable=SC2154,SC2034
load helpers
load flushing

# ---- exact order -------------------------------------------------------------------

@test "flush N removes exactly the N oldest live keys by creation, no other key" {
	local i k r
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB'

	put_keys a 1 1000
	# Overwritten (not created again: they keep their place), read, deleted
	# and created again (now the newest, in the order of re-creation), and
	# deleted for good.
	local -a recreated=() dropped=()
	{
		for ((i = 2; i <= 1000; i += 7)); do printf 'SET k:%04d overwritten\n' "$i"; done
		for ((i = 3; i <= 1000; i += 5)); do printf 'GET k:%04d\n' "$i"; done
		printf 'APPEND k:0001 more\n'
		printf 'EXPIRE k:0004 100000\n'
		printf 'INCR counter-like-key-k\n' # does not start with k:, but match is *
	} | rcmds a
	for i in 9 6 12 40 33 150 60 999 500; do
		recreated+=("$(printf 'k:%04d' "$i")")
	done
	for k in "${recreated[@]}"; do
		printf 'DEL %s\nSET %s again\n' "$k" "$k"
	done | rcmds a
	for i in 1 3 5 8 50 51 52 101 700; do
		dropped+=("$(printf 'k:%04d' "$i")")
	done
	printf 'DEL %s\n' "${dropped[@]}" | rcmds a

	# The expected creation order: k:0001..k:1000 without the dropped and
	# the re-created keys, then counter-like-key-k, then the re-created keys.
	{
		seq_keys 1 1000 | grep -vxF -f <(printf '%s\n' "${dropped[@]}" "${recreated[@]}")
		echo counter-like-key-k
		printf '%s\n' "${recreated[@]}"
	} >"$TEST_DIR/order"
	local live=$((1000 - ${#dropped[@]} + 1))
	[[ $(wc -l <"$TEST_DIR/order") == "$live" ]] || fail "test bug: order has $(wc -l <"$TEST_DIR/order") keys"
	run live_count a
	assert_output "$live"
	wait_for shard_is a tracked_entries "$live"

	live_keys a >"$TEST_DIR/before"
	r=$(flush_req a 100)
	assert_flush_reply "$r" true 100 100 0
	head -n 100 "$TEST_DIR/order" >"$TEST_DIR/expected"
	gone_since "$TEST_DIR/before" a >"$TEST_DIR/gone"
	assert_keys "flush a 100" "$TEST_DIR/expected" "$TEST_DIR/gone"
	run status_field a tracked_entries
	assert_output $((live - 100))
	run status_field a flushed_entries_total
	assert_output 100
	run status_field a flush_cycles_total
	assert_output 1
	run status_field a last_flush_entries
	assert_output 100
	run status_field a last_flush_unix
	refute_output null

	# Up to 3 of the re-created keys: they go in the order they were made
	# again, after every older key (and the overwritten keys kept their place).
	local rest=$((live - 100 - ${#recreated[@]}))
	live_keys a >"$TEST_DIR/before"
	r=$(flush_req a $((rest + 3)))
	assert_flush_reply "$r" true $((rest + 3)) $((rest + 3)) 0
	sed -n "101,$((100 + rest + 3))p" "$TEST_DIR/order" >"$TEST_DIR/expected"
	gone_since "$TEST_DIR/before" a >"$TEST_DIR/gone"
	assert_keys "second flush" "$TEST_DIR/expected" "$TEST_DIR/gone"
	live_keys a >"$TEST_DIR/left"
	printf '%s\n' "${recreated[@]:3}" >"$TEST_DIR/expected"
	assert_keys "what is left" "$TEST_DIR/expected" "$TEST_DIR/left"
	run status_field a tracked_entries
	assert_output $((${#recreated[@]} - 3))
	daemon_stop
}

@test "keys not matching 'match' are never touched, even by a large flush" {
	local r
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB' -s 'match = task:* object:*'
	{
		for ((i = 1; i <= 300; i++)); do
			printf 'SET other:%04d x\nSET task:%04d x\nHSET object:%04d f v\nSET tasks%04d x\nRPUSH xtask:%04d x\n' \
				"$i" "$i" "$i" "$i" "$i"
		done
		printf 'SET task x\nSET object x\n'
	} | rcmds a
	wait_for shard_is a tracked_entries 600
	# Nothing else trickles in later.
	sleep 0.5
	run status_field a tracked_entries
	assert_output 600

	live_keys a >"$TEST_DIR/before"
	r=$(flush_req a 100000)
	assert_flush_reply "$r" true 100000 600 0
	gone_since "$TEST_DIR/before" a >"$TEST_DIR/gone"
	{ seq_keys 1 300 task:%04g; seq_keys 1 300 object:%04g; } >"$TEST_DIR/expected"
	assert_keys "flush a 100000" "$TEST_DIR/expected" "$TEST_DIR/gone"
	run live_count a
	assert_output 902
	run status_field a tracked_entries
	assert_output 0
	# A second large flush finds nothing to do.
	r=$(flush_req a 100000)
	assert_flush_reply "$r" true 100000 0 0
	run live_count a
	assert_output 902
	daemon_stop
}

# ---- threshold and period ------------------------------------------------------------

@test "no flush below the threshold, over several periods" {
	local t0 t1
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB' -p 'flush_num_entries_each_time = 10'
	put_keys a 1 200
	wait_for shard_is a tracked_entries 200
	t0=$(status_field a ticks_total)
	sleep 2 # ten periods of 0.2 s
	t1=$(status_field a ticks_total)
	((t1 - t0 >= 5)) || fail "only $((t1 - t0)) ticks in 2 s"
	run status_field a over_threshold
	assert_output false
	run live_count a
	assert_output 200
	run status_field a flush_cycles_total
	assert_output 0
	run status_field a flushed_entries_total
	assert_output 0
	run status_field a last_flush_unix
	assert_output null
	run status_field a tracked_entries
	assert_output 200
	daemon_stop
}

@test "above the threshold: at most N entries per period, oldest first" {
	local t0 t1 i v cycles deleted elapsed
	redis_start a
	conf_base "" 'flush_when_at_least_bytes = 1' 'flush_num_entries_each_time = 10'
	conf_shard a "unix:$(redis_sock a)" 'flush_period_secs = 1'
	daemon_start
	shard_ready a
	run setting_is a flush_period_secs 1 shard
	assert_success
	run ctl pause a
	assert_success
	put_keys a 1 300
	wait_for shard_is a tracked_entries 300
	run status_field a flush_cycles_total
	assert_output 0

	t0=$(now_us)
	run ctl resume a
	assert_success
	for ((i = 0; i < 18; i++)); do
		sleep 0.25
		v=$(status_field a last_flush_entries)
		((v <= 10)) || fail "a cycle flushed $v entries (flush_num_entries_each_time = 10)"
	done
	run ctl pause a
	assert_success
	t1=$(now_us)
	wait_for not_flushing a
	elapsed=$(((t1 - t0) / 1000)) # ms
	cycles=$(status_field a flush_cycles_total)
	deleted=$((300 - $(live_count a)))
	run status_field a flushed_entries_total
	assert_output "$deleted"
	run status_field a tracked_entries
	assert_output $((300 - deleted))
	# The flush rate is entries / period: a cycle every period, not every
	# other one (allowing for the phase of the first tick and some jitter).
	((cycles * 1000 >= elapsed - 2000)) ||
		fail "only $cycles flush cycles in ${elapsed} ms with a 1 s period: $(grep -E 'flushed [0-9]+ entries' "$DAEMON_LOG" | cut -c12-23 | tr '\n' ' ')"
	((cycles * 1000 <= elapsed + 1000)) ||
		fail "$cycles flush cycles in ${elapsed} ms with a 1 s period"
	((deleted <= 10 * cycles)) || fail "$deleted entries flushed in $cycles cycles of at most 10"
	((deleted >= 10)) || fail "only $deleted entries flushed"
	echo "# $cycles cycles flushed $deleted entries in $elapsed ms" >&3
	# Oldest first.
	seq_keys 1 "$deleted" >"$TEST_DIR/expected"
	seq_keys 1 300 >"$TEST_DIR/all"
	gone_since "$TEST_DIR/all" a >"$TEST_DIR/gone"
	assert_keys "flushed over $cycles cycles" "$TEST_DIR/expected" "$TEST_DIR/gone"
	daemon_stop
}

# ---- forced flushes, pause and resume ---------------------------------------------------

@test "a forced flush ignores the threshold and the period, and works while paused" {
	local r
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB' -p 'flush_num_entries_each_time = 7' \
		-s 'flush_period_secs = 3600'
	put_keys a 1 100
	wait_for shard_is a tracked_entries 100
	seq_keys 1 100 >"$TEST_DIR/all"

	r=$(flush_req a 20)
	assert_flush_reply "$r" true 20 20 0
	# Again at once: the period (an hour) does not hold a forced flush back.
	r=$(flush_req a 10)
	assert_flush_reply "$r" true 10 10 0
	seq_keys 1 30 >"$TEST_DIR/expected"
	gone_since "$TEST_DIR/all" a >"$TEST_DIR/gone"
	assert_keys "two forced flushes" "$TEST_DIR/expected" "$TEST_DIR/gone"
	# Without N: the policy's batch.
	r=$(flush_req a)
	assert_flush_reply "$r" true 7 7 0

	run ctl pause a
	assert_success
	run status_field a paused
	assert_output true
	r=$(flush_req a 5)
	assert_flush_reply "$r" true 5 5 0
	seq_keys 1 42 >"$TEST_DIR/expected"
	gone_since "$TEST_DIR/all" a >"$TEST_DIR/gone"
	assert_keys "a forced flush while paused" "$TEST_DIR/expected" "$TEST_DIR/gone"
	run status_field a paused
	assert_output true
	run status_field a flush_cycles_total
	assert_output 4
	run status_field a flushed_entries_total
	assert_output 42
	run status_field a tracked_entries
	assert_output 58
	daemon_stop
}

@test "pause stops automatic flushing (tracking goes on), resume restarts it" {
	local t0 t1
	one_shard_start -p 'flush_when_at_least_bytes = 1' -p 'flush_num_entries_each_time = 5'
	run ctl pause a
	assert_success
	put_keys a 1 100
	wait_for shard_is a tracked_entries 100
	t0=$(status_field a ticks_total)
	sleep 1.5
	t1=$(status_field a ticks_total)
	((t1 - t0 >= 4)) || fail "only $((t1 - t0)) ticks in 1.5 s"
	run status_field a over_threshold
	assert_output true
	run live_count a
	assert_output 100
	run status_field a flush_cycles_total
	assert_output 0
	run status_field a tracked_entries
	assert_output 100

	run ctl resume a
	assert_success
	run status_field a paused
	assert_output false
	wait_for -t 10 live_count_below a 90
	run ctl pause a
	assert_success
	wait_for not_flushing a
	local deleted=$((100 - $(live_count a)))
	seq_keys 1 "$deleted" >"$TEST_DIR/expected"
	seq_keys 1 100 >"$TEST_DIR/all"
	gone_since "$TEST_DIR/all" a >"$TEST_DIR/gone"
	assert_keys "flushed after resume" "$TEST_DIR/expected" "$TEST_DIR/gone"
	# Paused again: it stays put.
	sleep 1
	run live_count a
	assert_output $((100 - deleted))
	daemon_stop
}

@test "a second flush while one runs is refused; the flush is paced" {
	local r
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB' -p 'flush_max_entries_per_sec = 200'
	put_keys a 1 500
	wait_for shard_is a tracked_entries 500
	flush_req a 400 >"$TEST_DIR/first" &
	record_pid flush-client $!
	wait_for shard_is a flushing true
	r=$(flush_req a 10)
	[[ $(jget "$r" "j['ok']") == false ]] || fail "a second flush was accepted: $r"
	[[ $(jget "$r" "j['error']") == *already* ]] || fail "unclear error: $r"
	wait_for -t 20 not_flushing a
	wait_gone "$(pid_of flush-client)" 10
	r=$(<"$TEST_DIR/first")
	assert_flush_reply "$r" true 400 400 0
	# 400 entries at 200 a second: about 2 s.
	$PY -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 1.4 else 1)' "$(jget "$r" "j['seconds']")" ||
		fail "400 entries at 200/s took $(jget "$r" "j['seconds']") s"
	run live_count a
	assert_output 100
	daemon_stop
}

# ---- bad requests ------------------------------------------------------------------------

# setting SHARD KEY: the effective value and source of a setting, "V SRC".
setting() {
	status_json | json_eval "'%s %s' % (lambda v: (v['value'], v['source']))([s for s in j['shards'] if s['name'] == '$1'][0]['settings']['$2'])"
}

# in_range V LO HI: LO <= V <= HI (real numbers).
in_range() {
	$PY -c 'import sys; v, lo, hi = map(float, sys.argv[1:]); sys.exit(0 if lo <= v <= hi else 1)' "$@"
}

@test "flush_server_budget paces a flush by the server's time, shown in status; the runtime hash sets it" {
	local r share secs share2 secs2
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB' -p 'policy_key = pol' -p 'archive = no'
	run setting a flush_server_budget
	assert_output '0.1 default'
	put_keys a 1 20000
	wait_for shard_is a tracked_entries 20000
	r=$(flush_req a 10000)
	assert_flush_reply "$r" true 10000 10000 0
	secs=$(jget "$r" "j['seconds']")
	share=$(status_field a flush_server_share)
	echo "# 10% budget: 10000 entries in $secs s ($(status_field a flush_entries_per_sec)/s), server share $share" >&3
	# Its commands kept the server busy about a tenth of the time.
	in_range "$share" 0.03 0.2 || fail "server share $share under a 10% budget"
	in_range "$(status_field a flush_entries_per_sec)" 1 1e9 || fail "no pace in status"

	# The application turns the budget off: the next flush is unpaced.
	redis_cli a HSET pol flush_server_budget off >/dev/null
	wait_for shard_is_setting a flush_server_budget '0 runtime'
	r=$(flush_req a 10000)
	assert_flush_reply "$r" true 10000 10000 0
	secs2=$(jget "$r" "j['seconds']")
	share2=$(status_field a flush_server_share)
	echo "# budget off: 10000 entries in $secs2 s, server share $share2" >&3
	$PY -c 'import sys; s, s2, t, t2 = map(float, sys.argv[1:]); sys.exit(0 if s2 > 2 * s and t2 < t else 1)' \
		"$share" "$share2" "$secs" "$secs2" || fail "unpaced: share $share2 against $share, $secs2 s against $secs s"

	redis_cli a HSET pol flush_server_budget 150% >/dev/null
	wait_for log_has "policy key pol: ignoring flush_server_budget: '150%'"
	run setting a flush_server_budget
	assert_output '0.1 default'
	daemon_stop
}

# shard_is_setting SHARD KEY "V SRC": for wait_for.
shard_is_setting() {
	local v

	v=$(setting "$1" "$2") || return 1
	[[ $v == "$3" ]] || {
		echo "$1's $2 is $v, not $3"
		return 1
	}
}

@test "flush: unknown shard, bad N, a shard that is down: ok:false with a clear error" {
	local r n
	redis_start a
	conf_base "" 'flush_when_at_least_bytes = 1TiB'
	conf_shard a "unix:$(redis_sock a)"
	conf_shard b "unix:$TEST_DIR/nothing-here.sock"
	daemon_start
	shard_ready a
	wait_for shard_state_in b down connecting
	put_keys a 1 20
	wait_for shard_is a tracked_entries 20

	r=$(flush_req nosuch 5)
	[[ $(jget "$r" "j['ok']") == false ]] || fail "flush nosuch: $r"
	[[ $(jget "$r" "j['error']") == *nosuch* ]] || fail "flush nosuch: unclear error: $r"
	for n in 0 -1 abc 1.5 '' 99999999999999999999; do
		[[ -n $n ]] || continue
		r=$(flush_req a "$n")
		[[ $(jget "$r" "j['ok']") == false ]] || fail "flush a $n: $r"
		[[ $(jget "$r" "j['error']") == *N* ]] || fail "flush a $n: unclear error: $r"
	done
	r=$(ctl_req "flush")
	[[ $(jget "$r" "j['ok']") == false ]] || fail "flush without a shard: $r"
	[[ $(jget "$r" "j['error']") == *usage* ]] || fail "flush without a shard: unclear error: $r"
	r=$(ctl_req "flush a 1 2")
	[[ $(jget "$r" "j['ok']") == false ]] || fail "flush a 1 2: $r"
	r=$(flush_req b 5)
	[[ $(jget "$r" "j['ok']") == false ]] || fail "flush of a down shard: $r"
	[[ $(jget "$r" "j['error']") == *connected* ]] || fail "flush of a down shard: unclear error: $r"
	[[ $(jget "$r" "j['error']") == *b* ]] || fail "flush of a down shard: which shard? $r"

	# Nothing was flushed, and the daemon goes on answering.
	run live_count a
	assert_output 20
	daemon_alive || fail "gcs-flushd died: $(cat "$DAEMON_LOG")"
	run ctl --json status
	assert_success
	r=$(flush_req a 5)
	assert_flush_reply "$r" true 5 5 0
	daemon_stop
}

@test "gcs-flushctl flush SHARD [N]" {
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB' -p 'flush_num_entries_each_time = 3'
	put_keys a 1 20
	wait_for shard_is a tracked_entries 20
	run ctl --json flush a 5
	assert_success
	assert_flush_reply "$output" true 5 5 0
	run ctl flush a
	assert_success
	assert_output --regexp '^flushed 3 of 3 entries \(0 already gone'
	run live_count a
	assert_output 12
	run --separate-stderr ctl flush nosuch 1
	assert_failure 1
	[[ $stderr == *nosuch* ]] || fail "gcs-flushctl flush nosuch: unclear error: $stderr"
	run ctl flush a abc
	assert_failure
	run live_count a
	assert_output 12
	daemon_stop
}

# ---- the runtime policy key ----------------------------------------------------------------

@test "the runtime policy key changes threshold, period and batch, and reverts when removed" {
	local c0 c1 f0 f1 n0 i v js t0 ms
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB' \
		-p 'flush_num_entries_each_time = 1000' -p 'policy_key = gcs_flushing_policy' \
		-s 'match = k:*'
	run setting_is a flush_when_at_least_bytes 1099511627776 config
	assert_success
	put_keys a 1 2000
	wait_for shard_is a tracked_entries 2000
	sleep 0.5
	run status_field a flush_cycles_total
	assert_output 0

	redis_cli a HSET gcs_flushing_policy flush_when_at_least_bytes 1 flush_num_entries_each_time 5 \
		flush_period_secs 0.5 >/dev/null
	t0=$EPOCHREALTIME
	# Within a tick or two (0.2 s): the new values, and flushing.
	wait_for -t 5 setting_is a flush_when_at_least_bytes 1 runtime
	run setting_is a flush_num_entries_each_time 5 runtime
	assert_success
	run setting_is a flush_period_secs 0.5 runtime
	assert_success
	run status_field a flush_when_at_least_bytes
	assert_output 1
	run status_field a flush_num_entries_each_time
	assert_output 5
	run status_field a flush_period_secs
	assert_output 0.5
	run setting_is a match k:* shard
	assert_success
	wait_for -t 5 field_at_least a flushed_entries_total 1
	for ((i = 0; i < 10; i++)); do
		v=$(status_field a last_flush_entries)
		((v <= 5)) || fail "a cycle flushed $v entries (runtime batch 5)"
		sleep 0.2
	done
	# Both from one reply: a cycle may end between two.
	js=$(status_json)
	c1=$(json_eval "j['shards'][0]['flush_cycles_total']" <<<"$js")
	f1=$(json_eval "j['shards'][0]['flushed_entries_total']" <<<"$js")
	((f1 <= 5 * c1)) || fail "$f1 entries in $c1 cycles of at most 5"
	# One cycle per 0.5 s since the policy was set (plus the first tick's).
	ms=$(((${EPOCHREALTIME/./} - ${t0/./}) / 1000))
	((c1 <= ms / 500 + 2)) || fail "$c1 cycles in $ms ms with a runtime period of 0.5 s"

	redis_cli a HDEL gcs_flushing_policy flush_when_at_least_bytes flush_num_entries_each_time \
		flush_period_secs >/dev/null
	wait_for -t 5 setting_is a flush_when_at_least_bytes 1099511627776 config
	run setting_is a flush_num_entries_each_time 1000 config
	assert_success
	run setting_is a flush_period_secs 0.2 config
	assert_success
	run status_field a flush_when_at_least_bytes
	assert_output 1099511627776
	wait_for not_flushing a
	c0=$(status_field a flush_cycles_total)
	n0=$(live_count a)
	f0=$(status_field a flushed_entries_total)
	((2000 - n0 == f0)) || fail "flushed_entries_total $f0, but $((2000 - n0)) keys are gone"
	seq_keys 1 $((2000 - n0)) >"$TEST_DIR/expected"
	seq_keys 1 2000 >"$TEST_DIR/all"
	gone_since "$TEST_DIR/all" a 'k:*' >"$TEST_DIR/gone"
	assert_keys "flushed under the runtime policy" "$TEST_DIR/expected" "$TEST_DIR/gone"
	sleep 1.5
	run status_field a flush_cycles_total
	assert_output "$c0"
	run live_count a
	assert_output "$n0"
	daemon_stop
}

@test "an invalid runtime policy value is ignored and logged once as a warning" {
	local t0
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB' \
		-p 'flush_num_entries_each_time = 1000' -p 'policy_key = gcs_flushing_policy' \
		-s 'match = k:*'
	put_keys a 1 100
	wait_for shard_is a tracked_entries 100
	redis_cli a HSET gcs_flushing_policy flush_num_entries_each_time lots flush_period_secs 0.3 >/dev/null
	# The valid field applies; the invalid one keeps the config.
	wait_for -t 5 setting_is a flush_period_secs 0.3 runtime
	t0=$(status_field a ticks_total)
	wait_for -t 20 field_at_least a ticks_total $((t0 + 5))
	run setting_is a flush_num_entries_each_time 1000 config
	assert_success
	run status_field a flush_num_entries_each_time
	assert_output 1000
	run grep -cE '^[0-9-]+ [0-9:.]+ warning: .*lots' "$DAEMON_LOG"
	assert_output 1
	run live_count a 'k:*'
	assert_output 100
	run status_field a flush_cycles_total
	assert_output 0
	daemon_stop
}

@test "several invalid runtime policy values: warnings of one line each" {
	local t0
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB' -p 'policy_key = gcs_flushing_policy' \
		-s 'match = k:*'
	redis_cli a HSET gcs_flushing_policy flush_num_entries_each_time lots \
		flush_when_at_least_bytes 'a lot' flush_period_secs never >/dev/null
	t0=$(status_field a ticks_total)
	wait_for -t 20 field_at_least a ticks_total $((t0 + 5))
	run setting_is a flush_when_at_least_bytes 1099511627776 config
	assert_success
	run setting_is a flush_period_secs 0.2 config
	assert_success
	# check_daemon_log (teardown) fails on continuation lines; each value
	# is named on a warning line.
	run grep -cE '^[0-9-]+ [0-9:.]+ warning: .*lots' "$DAEMON_LOG"
	assert_output 1
	run grep -cE '^[0-9-]+ [0-9:.]+ warning: .*a lot' "$DAEMON_LOG"
	assert_output 1
	run grep -cE '^[0-9-]+ [0-9:.]+ warning: .*never' "$DAEMON_LOG"
	assert_output 1
	daemon_stop
}

@test "the runtime policy key itself is never flushed" {
	local r
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB' -p 'policy_key = gcs_flushing_policy'
	# The oldest key of all, and it matches match = *.
	redis_cli a HSET gcs_flushing_policy flush_num_entries_each_time 7 >/dev/null
	put_keys a 1 50
	wait_for -t 5 setting_is a flush_num_entries_each_time 7 runtime
	r=$(flush_req a 1000)
	[[ $(jget "$r" "j['ok']") == true ]] || fail "flush: $r"
	run live_keys a
	assert_output gcs_flushing_policy
	run redis_cli a HGET gcs_flushing_policy flush_num_entries_each_time
	assert_output 7
	run setting_is a flush_num_entries_each_time 7 runtime
	assert_success
	daemon_stop
}

# ---- already gone --------------------------------------------------------------------------

@test "keys deleted behind the daemon's back are counted as already gone" {
	local r
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB'
	put_keys a 1 100
	wait_for shard_is a tracked_entries 100
	daemon_stop
	# No daemon, no del events: its ledger still lists these.
	redis_cli a DEL k:0003 k:0005 k:0010 >/dev/null
	daemon_start
	shard_ready a
	run status_field a tracked_entries
	assert_output 100

	r=$(flush_req a 10)
	assert_flush_reply "$r" true 10 7 3
	run status_field a already_gone_total
	assert_output 3
	run status_field a flushed_entries_total
	assert_output 7
	run status_field a tracked_entries
	assert_output 90
	seq_keys 11 100 >"$TEST_DIR/expected"
	live_keys a >"$TEST_DIR/left"
	assert_keys "after the flush" "$TEST_DIR/expected" "$TEST_DIR/left"
	daemon_stop
}
