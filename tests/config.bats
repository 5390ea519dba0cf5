#!/usr/bin/env bats
# config.bats: gcs-flushd -t on good and bad configuration files.
# Every error must be "FILE:LINE: key: message" and make -t exit 1.

# helpers.bash sets top_srcdir and reads EXPECT_LOG_ERRORS*; bats sets stderr.
# shellcheck disable=SC2154,SC2034
load helpers

setup() {
	common_setup
	F=$TEST_DIR/t.conf
}

teardown() {
	common_teardown
}

# check FILE: runs gcs-flushd -t -c FILE.
check() {
	run "$GCS_FLUSHD" -t -c "${1:-$F}"
}

# ---- good files --------------------------------------------------------------

@test "a file with no shards is ok" {
	conf_base "$F"
	check
	assert_success
	assert_line --regexp "^$F: ok, 0 shards?\$"
}

@test "an empty file is ok" {
	: >"$F"
	check
	assert_success
	assert_line --regexp "ok, 0 shards?"
}

@test "several shards, every size suffix, fractional periods, overrides, all address forms" {
	cat >"$F" <<-EOF
		[daemon]
		control_socket = $CTL_SOCK
		state_dir = $TEST_DIR/state
		control_socket_mode = 0600
		[policy]
		flush_when_at_least_bytes = 1GiB
		flush_period_secs = 2.5
		flush_num_entries_each_time = 500
		flush_max_entries_per_sec = 0
		flush_server_budget = 25%
		match = session:* cache:*
		archive = no
		policy_key = gcs:policy
		connect_timeout_secs = 0.25
		command_timeout_secs = 2
		reconnect_max_secs = 10.5
	EOF
	conf_shard -f "$F" plain 127.0.0.1:6380 'flush_when_at_least_bytes = 1048576'
	conf_shard -f "$F" b 127.0.0.1:6381 'flush_when_at_least_bytes = 100B'
	conf_shard -f "$F" k localhost:6382 'flush_when_at_least_bytes = 10K'
	conf_shard -f "$F" kb localhost:6382 'flush_when_at_least_bytes = 10KB'
	conf_shard -f "$F" m redis.example:6383 'flush_when_at_least_bytes = 500M'
	conf_shard -f "$F" g 10.1.2.3:6384 'flush_when_at_least_bytes = 2G'
	conf_shard -f "$F" t 10.1.2.3:6385 'flush_when_at_least_bytes = 1T'
	conf_shard -f "$F" kib '[::1]:6386' 'flush_when_at_least_bytes = 64KiB'
	conf_shard -f "$F" mib '[2001:db8::1]:6387' 'flush_when_at_least_bytes = 512MiB'
	conf_shard -f "$F" gib unix:/run/redis/redis.sock 'flush_when_at_least_bytes = 1.5GiB'
	conf_shard -f "$F" tib unix:/tmp/r.sock 'flush_when_at_least_bytes = 2TiB' \
		'flush_period_secs = 0.05' 'flush_num_entries_each_time = 1' \
		'flush_max_entries_per_sec = 1000' 'flush_server_budget = off' 'match = *' 'archive = yes' \
		'connect_timeout_secs = 0.5' 'command_timeout_secs = 1.25' \
		'reconnect_max_secs = 60' 'db = 15' 'policy_key ='
	check
	assert_success
	assert_output --regexp "^$F: ok, 11 shards\$"
}

@test "comments, blank lines, indentation and spaces around = are accepted" {
	cat >"$F" <<-EOF
		# a comment
		; another comment

		  [daemon]
		control_socket=$TEST_DIR/c.sock
		  state_dir   =   $TEST_DIR/state
		log_level = debug
		[policy]
		flush_period_secs = 1s
		archive = off

		[shard:a-b_c.1]
		address = 127.0.0.1:1
	EOF
	check
	assert_success
	assert_output --regexp "ok, 1 shards?\$"
}

@test "a password in a file that others cannot read is accepted" {
	conf_base "$F"
	conf_shard -f "$F" a 127.0.0.1:6380 'password = s3cret'
	chmod 600 "$F"
	check
	assert_success
	assert_output --regexp "ok, 1 shards?\$"
	refute_output --partial s3cret
}

@test "password_file and username are accepted" {
	echo 's3cret' >"$TEST_DIR/pw"
	chmod 600 "$TEST_DIR/pw"
	conf_base "$F"
	conf_shard -f "$F" a 127.0.0.1:6380 "password_file = $TEST_DIR/pw" 'username = alice'
	check
	assert_success
	refute_output --partial s3cret
}

@test "the shipped etc/gcs-flushd.conf passes -t" {
	check "$top_srcdir/etc/gcs-flushd.conf"
	assert_success
	assert_output --partial ": ok, "
}

@test "status shows the effective values of suffixes, fractions and overrides with their sources" {
	redis_start r
	conf_base "$CONF" 'flush_when_at_least_bytes = 1.5K' 'flush_num_entries_each_time = 7'
	conf_shard a "unix:$(redis_sock r)"
	conf_shard b "unix:$(redis_sock r)" 'flush_when_at_least_bytes = 2KiB' 'flush_period_secs = 0.25'
	conf_shard c "unix:$(redis_sock r)" 'flush_when_at_least_bytes = 1T'
	daemon_start
	run status_field a flush_when_at_least_bytes
	assert_output 1500
	run status_field b flush_when_at_least_bytes
	assert_output 2048
	run status_field c flush_when_at_least_bytes
	assert_output 1000000000000
	run status_field b flush_period_secs
	assert_output 0.25
	run status_field a flush_period_secs
	assert_output 0.2
	run status_field b flush_num_entries_each_time
	assert_output 7
	run status_json
	assert_success
	run json_eval "[(s['settings']['flush_when_at_least_bytes']['source'], s['settings']['flush_period_secs']['source'], s['settings']['match']['source'], s['settings']['match']['value']) for s in j['shards']]" <<<"$output"
	assert_output '[["config", "config", "default", "*"], ["shard", "shard", "default", "*"], ["shard", "config", "default", "*"]]'
	run status_json
	refute_output --partial '"password"'
	daemon_stop
}

# ---- bad files ---------------------------------------------------------------

@test "a missing file is an error naming it" {
	check "$TEST_DIR/nope.conf"
	assert_failure 1
	assert_output --partial "$TEST_DIR/nope.conf"
}

@test "unknown key" {
	cat >"$F" <<-'EOF'
		[policy]
		flush_period_secs = 1
		frobnicate = 3
	EOF
	check
	assert_failure 1
	assert_line_prefix "$F:3: frobnicate: "
}

@test "unknown key in a shard section" {
	cat >"$F" <<-'EOF'
		[shard:a]
		address = 127.0.0.1:6380
		adress = 127.0.0.1:6381
	EOF
	check
	assert_failure 1
	assert_line_prefix "$F:3: adress: "
}

@test "a shard-only key in [policy] and a daemon key in a shard" {
	cat >"$F" <<-'EOF'
		[policy]
		address = 127.0.0.1:6380
		[shard:a]
		address = 127.0.0.1:6380
		log_level = debug
	EOF
	check
	assert_failure 1
	assert_line_prefix "$F:2: address: "
	assert_line_prefix "$F:5: log_level: "
}

@test "unknown section" {
	cat >"$F" <<-'EOF'
		[daemon]
		log_level = info

		[polcy]
		flush_period_secs = 1
	EOF
	check
	assert_failure 1
	assert_line_prefix "$F:4: "
	assert_output --partial 'polcy'
}

@test "a bad shard name" {
	cat >"$F" <<-'EOF'
		[shard:a b]
		address = 127.0.0.1:6380
	EOF
	check
	assert_failure 1
	assert_line_prefix "$F:1: "
}

@test "duplicate key" {
	cat >"$F" <<-'EOF'
		[policy]
		flush_period_secs = 1
		archive = yes
		flush_period_secs = 2
	EOF
	check
	assert_failure 1
	assert_line_prefix "$F:4: flush_period_secs: "
	assert_output --partial 'line 2'
}

@test "duplicate section" {
	cat >"$F" <<-'EOF'
		[shard:a]
		address = 127.0.0.1:6380

		[shard:a]
		address = 127.0.0.1:6381
	EOF
	check
	assert_failure 1
	assert_line_prefix "$F:4: "
	assert_output --partial 'duplicate'
	assert_output --partial 'line 1'
}

@test "bad sizes" {
	cat >"$F" <<-'EOF'
		[policy]
		flush_when_at_least_bytes = 10XB
		[shard:a]
		address = 127.0.0.1:6380
		flush_when_at_least_bytes = lots
		[shard:b]
		address = 127.0.0.1:6380
		flush_when_at_least_bytes = -1G
	EOF
	check
	assert_failure 1
	assert_line_prefix "$F:2: flush_when_at_least_bytes: "
	assert_line_prefix "$F:5: flush_when_at_least_bytes: "
	assert_line_prefix "$F:8: flush_when_at_least_bytes: "
}

@test "bad periods, numbers and booleans" {
	cat >"$F" <<-'EOF'
		[policy]
		flush_period_secs = ten
		flush_num_entries_each_time = 1.5
		archive = maybe
		[daemon]
		log_level = loud
		control_socket_mode = 0999
		[shard:a]
		address = 127.0.0.1:6380
		db = -1
	EOF
	check
	assert_failure 1
	assert_line_prefix "$F:2: flush_period_secs: "
	assert_line_prefix "$F:3: flush_num_entries_each_time: "
	assert_line_prefix "$F:4: archive: "
	assert_line_prefix "$F:6: log_level: "
	assert_line_prefix "$F:7: control_socket_mode: "
	assert_line_prefix "$F:10: db: "
}

@test "bad ports and addresses" {
	cat >"$F" <<-'EOF'
		[shard:a]
		address = 127.0.0.1:70000
		[shard:b]
		address = 127.0.0.1:0
		[shard:c]
		address = localhost:redis
		[shard:d]
		address = 127.0.0.1
		[shard:e]
		address = ::1:6379
		[shard:f]
		address = unix:relative.sock
		[shard:g]
		address = [::1]6379
	EOF
	check
	assert_failure 1
	local l
	for l in 2 4 6 8 10 12 14; do
		assert_line_prefix "$F:$l: address: "
	done
}

@test "missing address names the line of the [shard:x] header" {
	cat >"$F" <<-'EOF'
		[policy]
		archive = no

		[shard:x]
		db = 1
	EOF
	check
	assert_failure 1
	assert_line_prefix "$F:4: address: "
	assert_output --partial 'shard:x'
}

@test "values out of range" {
	cat >"$F" <<-'EOF'
		[policy]
		flush_period_secs = 0
		flush_num_entries_each_time = 0
		connect_timeout_secs = 100000
		[shard:a]
		address = 127.0.0.1:6380
		db = 9999999999
	EOF
	check
	assert_failure 1
	assert_line_prefix "$F:2: flush_period_secs: "
	assert_line_prefix "$F:3: flush_num_entries_each_time: "
	assert_line_prefix "$F:4: connect_timeout_secs: "
	assert_line_prefix "$F:7: db: "
}

@test "a line over 1024 bytes is an error, not silently cut" {
	{
		echo '[policy]'
		echo 'archive = no'
		printf 'match = %s\n' "$(printf 'x%.0s' {1..1100})"
	} >"$F"
	check
	assert_failure 1
	assert_line_prefix "$F:3: "
	assert_output --partial 'too long'
}

@test "a line of exactly 1024 bytes is fine" {
	{
		echo '[policy]'
		# "match = " is 8 bytes
		printf 'match = %s\n' "$(printf 'x%.0s' {1..1016})"
	} >"$F"
	check
	assert_success
}

@test "key outside any section" {
	cat >"$F" <<-'EOF'
		log_level = info
		[daemon]
		state_dir = /tmp
	EOF
	check
	assert_failure 1
	assert_line_prefix "$F:1: log_level: "
}

@test "a line that is neither key, section nor comment" {
	cat >"$F" <<-'EOF'
		[policy]
		just some words
	EOF
	check
	assert_failure 1
	assert_line_prefix "$F:2: "
}

@test "password in a world-readable file is refused" {
	conf_base "$F"
	conf_shard -f "$F" a 127.0.0.1:6380 'password = s3cret'
	chmod 644 "$F"
	local line
	line=$(grep -n '^password' "$F" | cut -d: -f1)
	check
	assert_failure 1
	assert_line_prefix "$F:$line: password: "
	assert_output --partial 'readable'
	refute_output --partial s3cret
}

@test "password_file that does not exist" {
	conf_base "$F"
	conf_shard -f "$F" a 127.0.0.1:6380 "password_file = $TEST_DIR/missing-pw"
	local line
	line=$(grep -n '^password_file' "$F" | cut -d: -f1)
	check
	assert_failure 1
	assert_line_prefix "$F:$line: password_file: "
	assert_output --partial "$TEST_DIR/missing-pw"
}

@test "password and password_file together, and username without a password" {
	echo pw >"$TEST_DIR/pw"
	cat >"$F" <<-EOF
		[shard:a]
		address = 127.0.0.1:6380
		password = x
		password_file = $TEST_DIR/pw
		[shard:b]
		address = 127.0.0.1:6380
		username = alice
	EOF
	chmod 600 "$F"
	check
	assert_failure 1
	assert_line_prefix "$F:4: password_file: "
	assert_line_prefix "$F:7: username: "
}

@test "every error of a file is reported, not only the first" {
	cat >"$F" <<-'EOF'
		[policy]
		bogus1 = 1
		archive = yes
		bogus2 = 2
		[shard:a]
		address = 127.0.0.1:6380
		bogus3 = 3
	EOF
	check
	assert_failure 1
	assert_line_prefix "$F:2: bogus1: "
	assert_line_prefix "$F:4: bogus2: "
	assert_line_prefix "$F:7: bogus3: "
}

@test "the daemon refuses to start on a bad file" {
	cat >"$F" <<-EOF
		[daemon]
		control_socket = $CTL_SOCK
		state_dir = $TEST_DIR/state
		[policy]
		frobnicate = 3
	EOF
	run timeout 20 "$GCS_FLUSHD" -c "$F"
	assert_failure 1
	assert_line_prefix "$F:5: frobnicate: "
	[[ ! -e $CTL_SOCK ]]
}
