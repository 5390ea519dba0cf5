#!/usr/bin/env bats
# shards.bats: connections to the shards: down at start, restarts, a stalled
# (SIGSTOPped) shard, TCP, AUTH with a password or an ACL user, db selection.
# One shard's trouble must never delay another.

# helpers.bash sets top_srcdir and reads EXPECT_LOG_ERRORS*; bats sets stderr.
# shellcheck disable=SC2154,SC2034
load helpers

setup() {
	common_setup
}

teardown() {
	common_teardown
}

# number_at_least VALUE MIN
number_at_least() {
	$PY -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$1" "$2"
}

used_memory_known() {
	local v

	v=$(status_field "$1" used_memory) || return 1
	[[ $v =~ ^[0-9]+$ && $v -gt 0 ]] || {
		echo "used_memory of $1 is $v"
		return 1
	}
}

# ticks_rise SHARD N SECS: ticks_total grows by at least N within SECS.
ticks_rise() {
	local t0 t1

	t0=$(status_field "$1" ticks_total)
	sleep "$3"
	t1=$(status_field "$1" ticks_total)
	((t1 - t0 >= $2)) || {
		echo "ticks_total of $1 went from $t0 to $t1 in $3 s"
		return 1
	}
}

@test "a shard that is down at start shows why, and connects once its redis is up" {
	redis_start a
	conf_base
	conf_shard a "unix:$(redis_sock a)"
	conf_shard b "unix:$(redis_sock b)"
	daemon_start
	wait_for shard_is a state connected
	wait_for used_memory_known a
	wait_for shard_state_in b down connecting
	run status_field b last_error
	assert_success
	refute_output null
	run status_field b last_error_unix
	refute_output null
	run status_field b used_memory
	assert_output null
	run status_field b used_memory_age_s
	assert_output null
	run status_field b over_threshold
	assert_output false
	run status_field b connect_failures_total
	assert_success
	[[ $output -ge 1 ]]
	# The healthy shard is not held up meanwhile.
	run ticks_rise a 3 1.5
	assert_success

	redis_start b
	wait_for shard_is b state connected
	wait_for used_memory_known b
	run status_field b connects_total
	assert_output 1
	daemon_stop
}

@test "a redis restart: the shard goes down and recovers by itself" {
	redis_start a
	conf_base
	conf_shard a "unix:$(redis_sock a)"
	daemon_start
	wait_for shard_is a state connected
	wait_for used_memory_known a
	redis_stop a
	wait_for shard_state_in a down connecting
	run status_field a last_error
	refute_output null
	redis_start a
	wait_for shard_is a state connected
	run status_field a connects_total
	[[ $output -ge 2 ]] || fail "connects_total is $output"
	# It reads memory again after the restart.
	run ticks_rise a 3 1.5
	assert_success
	wait_for used_memory_known a
	daemon_stop
}

@test "a stalled (SIGSTOPped) shard does not delay the other" {
	redis_start a
	redis_start s
	conf_base
	conf_shard a "unix:$(redis_sock a)"
	conf_shard s "unix:$(redis_sock s)"
	daemon_start
	wait_for shard_is a state connected
	wait_for shard_is s state connected
	wait_for used_memory_known s
	redis_pause s
	# command_timeout_secs = 1: the stalled shard is given up soon ...
	wait_for -t 15 shard_state_in s down connecting error
	run status_field s last_error
	refute_output null
	assert_output --regexp '[Tt]ime'
	# ... while the healthy one ticks on at its 0.2 s period, and stays fresh
	# across several of the stalled shard's connect attempts.
	local _ age
	for _ in 1 2 3; do
		run ticks_rise a 3 1.2
		assert_success
		age=$(status_field a used_memory_age_s)
		number_at_least 1.0 "$age" || fail "used_memory of a is ${age}s old"
		run status_field a state
		assert_output connected
	done
	# The control socket stays quick too.
	run sock_send "$CTL_SOCK" "$(printf 'status\n' | od -An -tx1 | tr -d ' \n')"
	assert_line --regexp '^REPLY \{"ok": ?true'
	local took=${lines[-1]#AFTER }
	number_at_least 0.5 "$took" || fail "status took ${took}s"
	redis_resume s
	wait_for shard_is s state connected
	daemon_stop
}

@test "a TCP shard on 127.0.0.1" {
	redis_start_tcp t
	conf_base
	conf_shard t "127.0.0.1:$(redis_port t)"
	daemon_start
	wait_for shard_is t state connected
	wait_for used_memory_known t
	run status_field t address
	assert_output "127.0.0.1:$(redis_port t)"
	# It recovers from a restart on the same port, too.
	redis_stop t
	wait_for shard_state_in t down connecting
	run status_field t last_error
	refute_output null
	redis_start_tcp t
	wait_for shard_is t state connected
	daemon_stop
}

@test "a TCP shard by host name (localhost)" {
	redis_start_tcp t
	conf_base
	conf_shard t "localhost:$(redis_port t)"
	daemon_start
	wait_for shard_is t state connected
	wait_for used_memory_known t
	daemon_stop
}

@test "an IPv6 shard at [::1]:port" {
	$PY -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null ||
		skip "no IPv6 loopback here"
	redis_start_tcp -6 t
	conf_base
	conf_shard t "[::1]:$(redis_port t)"
	daemon_start
	wait_for shard_is t state connected
	wait_for used_memory_known t
	run status_field t address
	assert_output "[::1]:$(redis_port t)"
	daemon_stop
}

@test "a TCP shard where nothing listens" {
	local port
	port=$(free_port)
	conf_base
	conf_shard t "127.0.0.1:$port"
	daemon_start
	wait_for shard_state_in t down connecting
	wait_for status_matches '"last_error": ?"[^"]*refused'

	daemon_stop
}

@test "AUTH with the right password_file connects" {
	redis_start a --requirepass 'open sesame'
	printf 'open sesame\n' >"$TEST_DIR/pw"
	chmod 600 "$TEST_DIR/pw"
	conf_base
	conf_shard a "unix:$(redis_sock a)" "password_file = $TEST_DIR/pw"
	daemon_start
	wait_for shard_is a state connected
	wait_for used_memory_known a
	run status_field a last_error
	assert_output null
	run status_json
	refute_output --partial 'open sesame'
	run grep -c 'open sesame' "$DAEMON_LOG"
	assert_output 0
	daemon_stop
}

@test "AUTH with a password in a private config file connects" {
	redis_start a --requirepass 'p4ss'
	conf_base
	conf_shard a "unix:$(redis_sock a)" 'password = p4ss'
	chmod 600 "$CONF"
	daemon_start
	wait_for shard_is a state connected
	run status_json
	refute_output --partial p4ss
	daemon_stop
}

@test "reloads keep an unchanged password and reconnect with a changed one" {
	# The old config's secrets are freed and the new ones kept across each
	# reload: under ASan (make check in the sanitizer build) a use after
	# free of either would fail here.
	redis_start a --requirepass one
	redis_start b --requirepass 'bee pass'
	printf 'bee pass\n' >"$TEST_DIR/pw"
	chmod 600 "$TEST_DIR/pw"
	conf_base
	conf_shard a "unix:$(redis_sock a)" 'password = one'
	conf_shard b "unix:$(redis_sock b)" "password_file = $TEST_DIR/pw"
	chmod 600 "$CONF"
	daemon_start
	wait_for shard_is a state connected
	wait_for shard_is b state connected
	run ctl --json reload
	run json_eval "(j['changed'], sorted(j['unchanged']))" <<<"$output"
	assert_output '[[], ["a", "b"]]'

	REDISCLI_AUTH=one redis_cli a CONFIG SET requirepass two
	conf_base
	conf_shard a "unix:$(redis_sock a)" 'password = two'
	conf_shard b "unix:$(redis_sock b)" "password_file = $TEST_DIR/pw"
	chmod 600 "$CONF"
	run ctl --json reload
	run json_eval "(j['changed'], j['unchanged'])" <<<"$output"
	assert_output '[["a"], ["b"]]'
	# Drop a's connections so that only the new password can bring it back.
	REDISCLI_AUTH=two redis_cli a CLIENT KILL TYPE normal >/dev/null
	wait_for shard_is a state connected
	wait_for shard_is b state connected
	run ctl reload
	assert_success
	run status_json
	refute_output --partial two
	refute_output --partial 'bee pass'
	daemon_stop
}

@test "AUTH with a wrong password shows state error and an auth error" {
	redis_start a --requirepass right
	redis_start b
	echo wrong >"$TEST_DIR/pw"
	conf_base
	conf_shard a "unix:$(redis_sock a)" "password_file = $TEST_DIR/pw"
	conf_shard b "unix:$(redis_sock b)"
	daemon_start
	wait_for shard_is a state error
	run status_field a last_error
	refute_output null
	assert_output --regexp '[Aa][Uu][Tt][Hh]'
	refute_output --partial wrong
	# The other shard does not care.
	wait_for shard_is b state connected
	run ticks_rise b 3 1.2
	assert_success
	daemon_stop
}

@test "a shard rejecting AUTH recovers by itself once the password matches" {
	redis_start a --requirepass right
	echo later >"$TEST_DIR/pw"
	conf_base
	conf_shard a "unix:$(redis_sock a)" "password_file = $TEST_DIR/pw"
	daemon_start
	wait_for shard_is a state error
	redis_cli a --no-auth-warning -a right CONFIG SET requirepass later >/dev/null
	wait_for shard_is a state connected
	wait_for used_memory_known a
	daemon_stop
}

@test "no password for a redis that wants one shows an error" {
	redis_start a --requirepass right
	conf_base
	conf_shard a "unix:$(redis_sock a)"
	daemon_start
	wait_for shard_state_in a error down connecting
	wait_for status_matches '"last_error": ?"[^"]*(NOAUTH|[Aa]uth)'

	run status_field a state
	refute_output connected
	daemon_stop
}

@test "an ACL user with username and password_file" {
	redis_start a
	redis_cli a ACL SETUSER alice on '>alice-pw' '~*' '&*' '+@all' >/dev/null
	echo alice-pw >"$TEST_DIR/pw"
	conf_base
	conf_shard a "unix:$(redis_sock a)" 'username = alice' "password_file = $TEST_DIR/pw"
	daemon_start
	wait_for shard_is a state connected
	wait_for used_memory_known a
	run redis_cli a CLIENT LIST
	assert_output --partial 'user=alice'
	daemon_stop
}

@test "an ACL user with the wrong password is an auth error" {
	redis_start a
	redis_cli a ACL SETUSER alice on '>alice-pw' '~*' '&*' '+@all' >/dev/null
	echo not-alice-pw >"$TEST_DIR/pw"
	conf_base
	conf_shard a "unix:$(redis_sock a)" 'username = alice' "password_file = $TEST_DIR/pw"
	daemon_start
	wait_for shard_is a state error
	run status_field a last_error
	assert_output --regexp '[Aa][Uu][Tt][Hh]'
	daemon_stop
}

@test "db = 3 selects database 3" {
	redis_start a
	conf_base
	conf_shard a "unix:$(redis_sock a)" 'db = 3'
	daemon_start
	wait_for shard_is a state connected
	run status_field a db
	assert_output 3
	run redis_cli a CLIENT LIST
	assert_output --partial 'db=3'
	daemon_stop
}

@test "a db that redis does not have is an error" {
	redis_start a --databases 4
	conf_base
	conf_shard a "unix:$(redis_sock a)" 'db = 9'
	daemon_start
	wait_for shard_state_in a error down connecting
	wait_for status_matches '"last_error": ?"'

	run status_field a last_error
	refute_output null
	daemon_stop
}

@test "SIGTERM exits 0 promptly while a shard is stalled" {
	redis_start s
	conf_base
	conf_shard s "unix:$(redis_sock s)"
	daemon_start
	wait_for shard_is s state connected
	redis_pause s
	sleep 0.5
	local t0=$SECONDS
	daemon_stop
	((SECONDS - t0 <= 5)) || fail "stop took $((SECONDS - t0)) s"
}
